/*
 * Unit tests of the id table (daemon/idtab.c).
 *
 * A long random run over ids of every shape (dense small ids, scattered
 * ones, and ids near 2^64 that need the full height) compares the tree
 * after every operation with a reference array, walks it in id order
 * now and then, and checks that emptying it frees every node.
 * Deterministic (fixed seed).
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

#include "idtab.h"

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

#define NKEYS 6000
static uint64_t keys[NKEYS]; /* sorted, distinct, non-zero */
static bool present[NKEYS];
static char vals[NKEYS];
#define VAL(i) ((void *)&vals[(i)])

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
make_keys(void)
{
	size_t n = 0, i, j;

	for (i = 1; i <= 3000; i++)
		keys[n++] = i;
	while (n < 5000)
		keys[n++] = 3001 + rng_below(1u << 20);
	keys[n++] = UINT64_MAX;
	keys[n++] = UINT64_C(1) << 63;
	keys[n++] = (UINT64_C(1) << 60) - 1;
	keys[n++] = UINT64_C(1) << 60;
	while (n < NKEYS)
		keys[n++] = rng_next() | 1;
	qsort(keys, NKEYS, sizeof(keys[0]), cmp_u64);
	for (i = j = 0; i < NKEYS; i++)
		if (j == 0 || keys[i] != keys[j - 1])
			keys[j++] = keys[i];
	/* Duplicates (vanishingly rare) become more dense ids. */
	for (i = 0; j < NKEYS; j++, i++)
		keys[j] = 4000000 + i;
	qsort(keys, NKEYS, sizeof(keys[0]), cmp_u64);
}

static void
check_walk(const struct idtab *t)
{
	uint64_t id = 0, got;
	size_t i, n = 0;
	void *v;

	for (i = 0; i < NKEYS; i++) {
		if (!present[i])
			continue;
		v = idtab_next(t, id, &got);
		assert_ptr_equal(v, VAL(i));
		assert_true(got == keys[i]);
		id = got;
		n++;
	}
	assert_null(idtab_next(t, id, &got));
	assert_int_equal(n, idtab_size(t));
}

static void
test_basic(void **state)
{
	struct idtab *t = idtab_new();
	uint64_t id;

	(void)state;
	assert_non_null(t);
	assert_int_equal(idtab_put(t, 0, VAL(0)), -EINVAL);
	assert_int_equal(idtab_put(t, 1, NULL), -EINVAL);
	assert_null(idtab_get(t, 1));
	assert_null(idtab_next(t, 0, &id));
	assert_int_equal(idtab_put(t, 5, VAL(5)), 0);
	assert_int_equal(idtab_put(t, 5, VAL(6)), -EEXIST);
	assert_ptr_equal(idtab_get(t, 5), VAL(5));
	/* A far id grows the tree; the near one stays reachable. */
	assert_int_equal(idtab_put(t, UINT64_MAX, VAL(7)), 0);
	assert_ptr_equal(idtab_get(t, 5), VAL(5));
	assert_ptr_equal(idtab_get(t, UINT64_MAX), VAL(7));
	assert_null(idtab_get(t, UINT64_MAX - 1));
	assert_ptr_equal(idtab_next(t, 5, &id), VAL(7));
	assert_true(id == UINT64_MAX);
	assert_null(idtab_next(t, UINT64_MAX, &id));
	assert_ptr_equal(idtab_del(t, UINT64_MAX), VAL(7));
	assert_null(idtab_del(t, UINT64_MAX));
	/* The tree shrinks back to one leaf. */
	assert_int_equal(idtab_nodes(t), 1);
	assert_ptr_equal(idtab_del(t, 5), VAL(5));
	assert_int_equal(idtab_nodes(t), 0);
	assert_int_equal(idtab_size(t), 0);
	idtab_free(t);
	idtab_free(NULL);
}

/* A dense run costs about one leaf per 64 ids, and a leaf is freed when
 * its last id goes. */
static void
test_dense(void **state)
{
	struct idtab *t = idtab_new();
	uint64_t i;

	(void)state;
	for (i = 1; i <= 64 * 1000; i++)
		assert_int_equal(idtab_put(t, i, VAL(i % NKEYS)), 0);
	assert_true(idtab_nodes(t) <= 1000 + 1000 / 64 + 3);
	for (i = 1; i <= 64 * 1000; i++)
		if (i % 64 != 0)
			assert_non_null(idtab_del(t, i));
	assert_true(idtab_nodes(t) <= 1000 + 1000 / 64 + 3);
	for (i = 64; i <= 64 * 999; i += 64)
		assert_non_null(idtab_del(t, i));
	/* One id left: a chain from the root to its leaf. */
	assert_int_equal(idtab_size(t), 1);
	assert_true(idtab_nodes(t) <= 3);
	idtab_free(t);
}

static void
test_random(void **state)
{
	struct idtab *t = idtab_new();
	size_t op, i, live = 0;
	uint64_t got;

	(void)state;
	rng_state = 0x1d7ab;
	make_keys();
	memset(present, 0, sizeof(present));
	assert_non_null(t);
	for (op = 0; op < 200000; op++) {
		/* Phases that fill and drain, so the tree grows and shrinks. */
		bool fill = (op / 20000) % 2 == 0;
		size_t k = rng_below(NKEYS);

		switch (rng_below(8)) {
		case 0:
		case 1:
		case 2:
			if (!fill && rng_below(4) != 0)
				break;
			assert_int_equal(idtab_put(t, keys[k], VAL(k)),
					 present[k] ? -EEXIST : 0);
			if (!present[k])
				live++;
			present[k] = true;
			break;
		case 3:
		case 4:
		case 5:
			if (fill && rng_below(4) != 0)
				break;
			assert_ptr_equal(idtab_del(t, keys[k]),
					 present[k] ? VAL(k) : NULL);
			if (present[k])
				live--;
			present[k] = false;
			break;
		case 6:
			assert_ptr_equal(idtab_get(t, keys[k]),
					 present[k] ? VAL(k) : NULL);
			break;
		default:
			/* The next present key after keys[k]. */
			for (i = k + 1; i < NKEYS && !present[i]; i++)
				;
			if (i < NKEYS) {
				assert_ptr_equal(idtab_next(t, keys[k], &got),
						 VAL(i));
				assert_true(got == keys[i]);
			} else
				assert_null(idtab_next(t, keys[k], &got));
			break;
		}
		assert_int_equal(idtab_size(t), live);
		if (op % 5000 == 0)
			check_walk(t);
	}
	check_walk(t);
	for (i = 0; i < NKEYS; i++)
		if (present[i])
			assert_ptr_equal(idtab_del(t, keys[i]), VAL(i));
	assert_int_equal(idtab_size(t), 0);
	assert_int_equal(idtab_nodes(t), 0);
	idtab_free(t);
}

/* A table for a loop's id range (shard.h): the range's ids work as in
 * a table from 0, at the same small height; the ids at or below its base
 * are refused and never found. */
static void
test_based(void **state)
{
	const uint64_t base = UINT64_C(3) << 48;
	struct idtab *t = idtab_new_at(base);
	uint64_t id, got;
	int v[200];

	assert_non_null(t);
	assert_int_equal(idtab_put(t, base, &v[0]), -EINVAL);
	assert_int_equal(idtab_put(t, 5, &v[0]), -EINVAL);
	for (id = 1; id <= 200; id++)
		assert_int_equal(idtab_put(t, base + id, &v[id - 1]), 0);
	assert_int_equal(idtab_size(t), 200);
	/* 200 dense ids: two levels, as from 0, not eight. */
	assert_true(idtab_nodes(t) <= 5);
	assert_null(idtab_get(t, 1));
	assert_null(idtab_get(t, base));
	assert_ptr_equal(idtab_get(t, base + 7), &v[6]);
	assert_ptr_equal(idtab_next(t, 0, &got), &v[0]);
	assert_true(got == base + 1);
	assert_ptr_equal(idtab_next(t, base + 199, &got), &v[199]);
	assert_true(got == base + 200);
	assert_null(idtab_next(t, base + 200, &got));
	assert_null(idtab_del(t, base));
	assert_ptr_equal(idtab_del(t, base + 7), &v[6]);
	assert_null(idtab_get(t, base + 7));
	for (id = 1; id <= 200; id++)
		idtab_del(t, base + id);
	assert_int_equal(idtab_size(t), 0);
	assert_int_equal(idtab_nodes(t), 0);
	idtab_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_basic),
	    cmocka_unit_test(test_dense),
	    cmocka_unit_test(test_random),
	    cmocka_unit_test(test_based),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
