/*
 * Unit tests of the id map (daemon/idmap.c).
 *
 * Deletion is where open addressing goes wrong, so besides a long
 * random run against a plain array, many small maps (a 16-slot table
 * at up to 3/4 load, where long runs and wrap-around are the rule) are
 * emptied in random orders, checking every key after each deletion.
 * Deterministic (fixed seeds).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"

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

static size_t
rng_below(size_t n)
{
	return (size_t)(rng_next() % n);
}

/* Distinct non-NULL values without allocating: addresses in one array. */
static char vals[200000];
#define VAL(i) ((void *)&vals[(i)])

static int
setup(void **state)
{
	struct idmap *m;

	rng_state = 0x1d5eed;
	if ((m = idmap_new()) == NULL)
		return -1;
	*state = m;
	return 0;
}

static int
teardown(void **state)
{
	idmap_free(*state);
	return 0;
}

static void
test_put_get_del(void **state)
{
	struct idmap *m = *state;

	assert_int_equal(idmap_size(m), 0);
	assert_null(idmap_get(m, 1));
	assert_null(idmap_del(m, 1));

	assert_int_equal(idmap_put(m, 1, VAL(1)), 0);
	assert_int_equal(idmap_put(m, UINT64_MAX, VAL(2)), 0);
	assert_int_equal(idmap_put(m, 1ull << 63, VAL(3)), 0);
	assert_int_equal(idmap_size(m), 3);
	assert_ptr_equal(idmap_get(m, 1), VAL(1));
	assert_ptr_equal(idmap_get(m, UINT64_MAX), VAL(2));
	assert_ptr_equal(idmap_get(m, 1ull << 63), VAL(3));
	assert_null(idmap_get(m, 2));

	assert_ptr_equal(idmap_del(m, UINT64_MAX), VAL(2));
	assert_null(idmap_get(m, UINT64_MAX));
	assert_null(idmap_del(m, UINT64_MAX));
	assert_int_equal(idmap_size(m), 2);
	assert_ptr_equal(idmap_get(m, 1), VAL(1));
	assert_ptr_equal(idmap_get(m, 1ull << 63), VAL(3));

	/* A deleted key can come back with another value. */
	assert_int_equal(idmap_put(m, UINT64_MAX, VAL(4)), 0);
	assert_ptr_equal(idmap_get(m, UINT64_MAX), VAL(4));
	idmap_free(NULL);
}

static void
test_errors(void **state)
{
	struct idmap *m = *state;
	uint64_t k;

	assert_int_equal(idmap_put(m, 0, VAL(1)), -EINVAL);
	assert_int_equal(idmap_put(m, 5, NULL), -EINVAL);
	assert_int_equal(idmap_size(m), 0);
	assert_null(idmap_get(m, 5));
	assert_null(idmap_get(m, 0));
	assert_null(idmap_del(m, 0));

	assert_int_equal(idmap_put(m, 5, VAL(1)), 0);
	assert_int_equal(idmap_put(m, 5, VAL(2)), -EEXIST);
	/* The first value stays. */
	assert_ptr_equal(idmap_get(m, 5), VAL(1));
	assert_int_equal(idmap_size(m), 1);
	/* -EEXIST even when the put would have grown the table. */
	for (k = 100; k < 111; k++)
		assert_int_equal(idmap_put(m, k, VAL(k)), 0);
	assert_int_equal(idmap_size(m), 12);
	assert_int_equal(idmap_put(m, 5, VAL(2)), -EEXIST);
	assert_int_equal(idmap_size(m), 12);
	assert_ptr_equal(idmap_get(m, 5), VAL(1));
}

/* Iterates m, checking that it yields exactly want[1..n-1] where set. */
static void
check_iteration(const struct idmap *m, void *const *want, size_t n,
		const uint64_t *keys)
{
	bool *seen = calloc(n, sizeof(*seen));
	size_t iter = 0, count = 0, i;
	uint64_t key;
	void *v;

	assert_non_null(seen);
	while ((v = idmap_next(m, &iter, &key)) != NULL) {
		i = (size_t)((char *)v - vals);
		assert_true(i < n);
		assert_ptr_equal(want[i], v);
		assert_int_equal(keys[i], key);
		assert_false(seen[i]);
		seen[i] = true;
		count++;
	}
	assert_int_equal(count, idmap_size(m));
	for (i = 0; i < n; i++)
		assert_int_equal(seen[i], want[i] != NULL);
	/* Past the end it stays at the end. */
	assert_null(idmap_next(m, &iter, &key));
	free(seen);
}

static void
test_iteration(void **state)
{
	enum { N = 1000 };
	struct idmap *m = *state;
	void *want[N] = {NULL};
	uint64_t keys[N];
	size_t iter, i, count;

	iter = 0;
	assert_null(idmap_next(m, &iter, NULL));
	for (i = 0; i < N; i++) {
		keys[i] = rng_next() | 1;
		assert_int_equal(idmap_put(m, keys[i], VAL(i)), 0);
		want[i] = VAL(i);
	}
	check_iteration(m, want, N, keys);
	for (i = 0; i < N; i += 3) {
		assert_ptr_equal(idmap_del(m, keys[i]), VAL(i));
		want[i] = NULL;
	}
	check_iteration(m, want, N, keys);

	/* ret_key may be NULL. */
	iter = 0;
	count = 0;
	while (idmap_next(m, &iter, NULL) != NULL)
		count++;
	assert_int_equal(count, idmap_size(m));
}

/* Sequential ids, as the daemon hands them out: many grows, then
 * enough deletions for many shrinks, then growth again. */
static void
test_grow_and_shrink(void **state)
{
	enum { N = 100000 };
	struct idmap *m = *state;
	uint64_t k;

	for (k = 1; k <= N; k++)
		assert_int_equal(idmap_put(m, k, VAL(k)), 0);
	assert_int_equal(idmap_size(m), N);
	for (k = 1; k <= N; k++)
		assert_ptr_equal(idmap_get(m, k), VAL(k));
	assert_null(idmap_get(m, N + 1));

	/* Keep one key in 1000. */
	for (k = 1; k <= N; k++) {
		if (k % 1000 != 0)
			assert_ptr_equal(idmap_del(m, k), VAL(k));
	}
	assert_int_equal(idmap_size(m), N / 1000);
	for (k = 1; k <= N; k++) {
		if (k % 1000 == 0)
			assert_ptr_equal(idmap_get(m, k), VAL(k));
		else
			assert_null(idmap_get(m, k));
	}
	for (k = 1000; k <= N; k += 1000)
		assert_ptr_equal(idmap_del(m, k), VAL(k));
	assert_int_equal(idmap_size(m), 0);

	/* Shrunk to the minimum, it must still grow and hold. */
	for (k = 1; k <= 1000; k++)
		assert_int_equal(idmap_put(m, k << 40, VAL(k)), 0);
	for (k = 1; k <= 1000; k++)
		assert_ptr_equal(idmap_get(m, k << 40), VAL(k));
}

/*
 * Small maps stay at the minimum table size, where collisions, long
 * runs and runs that wrap past the last slot are common. Deleting in
 * every kind of order exercises the backward shift: a wrong shift
 * leaves a key behind an empty slot, where lookups cannot reach it.
 */
static void
test_delete_chains(void **state)
{
	enum { TRIALS = 3000, MAXN = 12 };
	struct idmap *m = *state;
	uint64_t keys[MAXN];
	bool gone[MAXN];
	size_t trial, n, i, j, order[MAXN], t;

	for (trial = 0; trial < TRIALS; trial++) {
		n = 2 + rng_below(MAXN - 1);
		for (i = 0; i < n; i++) {
			/* Small keys in some trials, full-width in others. */
			keys[i] =
			    trial % 2 ? rng_next() | 1 : trial * 64 + i + 1;
			gone[i] = false;
			order[i] = i;
			assert_int_equal(idmap_put(m, keys[i], VAL(i)), 0);
		}
		for (i = n; i > 1; i--) {
			j = rng_below(i);
			t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
		for (i = 0; i < n; i++) {
			assert_ptr_equal(idmap_del(m, keys[order[i]]),
					 VAL(order[i]));
			gone[order[i]] = true;
			for (j = 0; j < n; j++) {
				if (gone[j])
					assert_null(idmap_get(m, keys[j]));
				else
					assert_ptr_equal(idmap_get(m, keys[j]),
							 VAL(j));
			}
			assert_int_equal(idmap_size(m), n - i - 1);
		}
	}
}

/*
 * The same, with the chains built on purpose: this mirrors idmap.c's
 * hash (the splitmix64 finalizer) and its 16-slot minimum table to find
 * keys with chosen home slots. If the hash changes, update this copy;
 * the test then still passes but no longer forces these layouts.
 */
static uint64_t
mirror_hash(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/* The next key after *k whose home slot in a 16-slot table is home. */
static uint64_t
key_with_home(uint64_t *k, unsigned home)
{
	do
		++*k;
	while ((mirror_hash(*k) & 15) != home);
	return *k;
}

static void
test_delete_wrapping_chain(void **state)
{
	/* Homes of the run: it starts at slot 13 and wraps to slot 3:
	 * 13:a(13) 14:b(13) 15:c(14) 0:d(15) 1:e(13) 2:f(0) 3:g(2).
	 * Deleting any one must pull back exactly those it can. */
	static const unsigned homes[] = {13, 13, 14, 15, 13, 0, 2};
	enum { N = sizeof(homes) / sizeof(homes[0]) };
	struct idmap *m = *state;
	uint64_t keys[N], k;
	size_t victim, i;

	for (victim = 0; victim < N; victim++) {
		k = victim * 1000000;
		for (i = 0; i < N; i++) {
			keys[i] = key_with_home(&k, homes[i]);
			assert_int_equal(idmap_put(m, keys[i], VAL(i)), 0);
		}
		assert_ptr_equal(idmap_del(m, keys[victim]), VAL(victim));
		for (i = 0; i < N; i++) {
			if (i == victim)
				assert_null(idmap_get(m, keys[i]));
			else
				assert_ptr_equal(idmap_get(m, keys[i]), VAL(i));
		}
		/* Delete the rest from the far end of the run. */
		for (i = N; i-- > 0;) {
			if (i != victim)
				assert_ptr_equal(idmap_del(m, keys[i]), VAL(i));
		}
		assert_int_equal(idmap_size(m), 0);
	}
}

static void
test_random_against_reference(void **state)
{
	enum { U = 5000, OPS = 100000, PHASE = 10000 };
	struct idmap *m = *state;
	uint64_t *keys;
	void **ref;
	size_t op, i, len = 0, pct;
	int r, kind;

	keys = calloc(U, sizeof(*keys));
	ref = calloc(U, sizeof(*ref));
	assert_non_null(keys);
	assert_non_null(ref);
	/* A universe of distinct keys: half dense ids, half random. */
	for (i = 0; i < U; i++)
		keys[i] = i % 2 ? (uint64_t)i + 1 : (rng_next() << 1) | 1;

	for (op = 0; op < OPS; op++) {
		/* Phases of mostly puts and mostly deletions: the table
		 * grows and shrinks many times. */
		pct = (op / PHASE) % 2 ? 30 : 70;
		kind = (int)rng_below(100);
		i = rng_below(U);
		if ((size_t)kind < pct) {
			r = idmap_put(m, keys[i], VAL(op));
			if (ref[i] != NULL) {
				assert_int_equal(r, -EEXIST);
			} else {
				assert_int_equal(r, 0);
				ref[i] = VAL(op);
				len++;
			}
		} else if (kind < 95) {
			assert_ptr_equal(idmap_del(m, keys[i]), ref[i]);
			if (ref[i] != NULL) {
				ref[i] = NULL;
				len--;
			}
		} else {
			assert_ptr_equal(idmap_get(m, keys[i]), ref[i]);
		}
		assert_int_equal(idmap_size(m), len);
		assert_ptr_equal(idmap_get(m, keys[i]), ref[i]);

		if (op % 5000 == 0) {
			for (i = 0; i < U; i++)
				assert_ptr_equal(idmap_get(m, keys[i]), ref[i]);
		}
	}
	for (i = 0; i < U; i++)
		assert_ptr_equal(idmap_get(m, keys[i]), ref[i]);
	free(ref);
	free(keys);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_put_get_del, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_iteration, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_grow_and_shrink, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_delete_chains, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_delete_wrapping_chain, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_random_against_reference,
					    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
