/*
 * Unit tests of the object pool (daemon/pool.c).
 *
 * A random run of gets and puts checks that every object handed out is
 * zeroed, aligned, distinct from every other live one and fully
 * writable (each live object is filled with a pattern that is checked
 * before it is given back), and that an emptied pool gives its chunks
 * back. Deterministic (fixed seed). A big pool (past 16 MiB, where
 * chunks become huge-page mappings whose fresh objects are not cleared
 * again) still hands out zeroed objects after being emptied and used
 * again.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

static uint64_t rng_state;

/* splitmix64: small, fast and good enough to drive a test. */
static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

#define SIZE 76 /* rounded up to 80 */
#define MAXLIVE 5000

static void
check_zero(const unsigned char *o)
{
	for (size_t i = 0; i < SIZE; i++)
		assert_int_equal(o[i], 0);
}

static void
check_fill(const unsigned char *o, size_t k)
{
	for (size_t i = 0; i < SIZE; i++)
		assert_int_equal(o[i], (unsigned char)(k + i));
}

static void
test_basic(void **state)
{
	struct pool *p;
	void *a, *b;

	(void)state;
	assert_null(pool_new(0, 8));
	assert_null(pool_new(8, 0));
	assert_null(pool_new(SIZE, SIZE_MAX));
	assert_non_null(p = pool_new(SIZE, 4));
	assert_non_null(a = pool_get(p));
	assert_non_null(b = pool_get(p));
	assert_ptr_not_equal(a, b);
	assert_int_equal((uintptr_t)a % 8, 0);
	assert_int_equal(pool_live(p), 2);
	memset(a, 0xff, SIZE);
	pool_put(p, a);
	/* Reused, and zeroed again. */
	assert_non_null(a = pool_get(p));
	check_zero(a);
	pool_put(p, a);
	pool_put(p, b);
	pool_put(p, NULL);
	assert_int_equal(pool_live(p), 0);
	pool_free(p);
	pool_free(NULL);
}

static void
test_random(void **state)
{
	static unsigned char *live[MAXLIVE];
	static size_t tag[MAXLIVE];
	struct pool *p;
	size_t n = 0, op, i, k;

	(void)state;
	rng_state = 0x9001;
	assert_non_null(p = pool_new(SIZE, 64));
	for (op = 0; op < 300000; op++) {
		/* Waves: fill towards MAXLIVE, then drain to empty. */
		bool fill = (op / 30000) % 2 == 0;
		bool get = n == 0 ||
			   (n < MAXLIVE && rng_next() % 4 < (fill ? 3u : 1u));

		if (get) {
			assert_non_null(live[n] = pool_get(p));
			assert_int_equal((uintptr_t)live[n] % 8, 0);
			check_zero(live[n]);
			tag[n] = (size_t)rng_next();
			for (i = 0; i < SIZE; i++)
				live[n][i] = (unsigned char)(tag[n] + i);
			n++;
		} else {
			k = (size_t)(rng_next() % n);
			/* Overlapping objects would have broken a pattern. */
			check_fill(live[k], tag[k]);
			pool_put(p, live[k]);
			live[k] = live[--n];
			tag[k] = tag[n];
		}
		assert_int_equal(pool_live(p), n);
		if (!POOL_USES_MALLOC)
			assert_true(pool_chunks(p) <= (MAXLIVE + 63) / 64);
		if (n == 0 && !POOL_USES_MALLOC)
			/* Emptied: all but one chunk given back. */
			assert_true(pool_chunks(p) <= 1);
	}
	while (n > 0) {
		check_fill(live[n - 1], tag[n - 1]);
		pool_put(p, live[--n]);
	}
	if (!POOL_USES_MALLOC)
		assert_true(pool_chunks(p) <= 1);
	pool_free(p);
}

#define BIG_N 300000 /* 80-byte objects: 24 MB, past the huge threshold */

static void
test_big(void **state)
{
	unsigned char **live;
	struct pool *p;
	int round;
	size_t i;

	(void)state;
	assert_non_null(live = calloc(BIG_N, sizeof(*live)));
	assert_non_null(p = pool_new(SIZE, 4096));
	/* The second round carves the chunk kept from the first, whose
	 * objects were written. */
	for (round = 0; round < 2; round++) {
		for (i = 0; i < BIG_N; i++) {
			assert_non_null(live[i] = pool_get(p));
			check_zero(live[i]);
			memset(live[i], 0xa5, SIZE);
		}
		for (i = 0; i < BIG_N; i++)
			pool_put(p, live[i]);
		assert_int_equal(pool_live(p), 0);
	}
	pool_free(p);
	free(live);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_random),
	    cmocka_unit_test(test_big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
