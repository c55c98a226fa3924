/*
 * Unit tests of the timer heap (daemon/timerq.c).
 *
 * Besides the fixed cases, a long random run compares the heap after
 * every operation with a reference kept as a sorted array, so that any
 * broken sift or index shows up as a wrong size, a wrong earliest node
 * or a wrong idx. The run is deterministic (fixed seed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "timerq.h"

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

static void
shuffle(size_t *a, size_t n)
{
	size_t i, j, t;

	for (i = n; i > 1; i--) {
		j = rng_below(i);
		t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

static int
setup(void **state)
{
	struct timerq *q;

	rng_state = 0x5eed;
	if ((q = timerq_new()) == NULL)
		return -1;
	*state = q;
	return 0;
}

static int
teardown(void **state)
{
	timerq_free(*state);
	return 0;
}

static void
node_set(struct timerq_node *n, int64_t deadline_ns, uint64_t seq)
{
	timerq_node_init(n);
	n->deadline_ns = deadline_ns;
	n->seq = seq;
}

static void
test_empty(void **state)
{
	struct timerq *q = *state;
	struct timerq_node n;

	assert_int_equal(timerq_size(q), 0);
	assert_null(timerq_peek(q));
	assert_null(timerq_pop(q));
	node_set(&n, 1, 1);
	assert_false(timerq_node_queued(&n));
	timerq_remove(q, &n);
	assert_int_equal(timerq_size(q), 0);
	assert_int_equal(n.idx, TIMERQ_NONE);
	timerq_free(NULL);
}

static void
test_order(void **state)
{
	enum { N = 1000 };
	struct timerq *q = *state;
	struct timerq_node nodes[N], *n;
	size_t order[N], i;
	int64_t prev;

	/* Deadlines N apart, negative ones included (an instant before
	 * the clock's epoch is still an instant), pushed shuffled. */
	for (i = 0; i < N; i++)
		order[i] = i;
	shuffle(order, N);
	for (i = 0; i < N; i++) {
		node_set(&nodes[order[i]], ((int64_t)order[i] - N / 2) * 1000,
			 i);
		assert_int_equal(timerq_push(q, &nodes[order[i]]), 0);
		assert_true(timerq_node_queued(&nodes[order[i]]));
		assert_int_equal(timerq_size(q), i + 1);
	}
	prev = INT64_MIN;
	for (i = 0; i < N; i++) {
		assert_ptr_equal(timerq_peek(q), &nodes[i]);
		n = timerq_pop(q);
		assert_ptr_equal(n, &nodes[i]);
		assert_false(timerq_node_queued(n));
		assert_true(n->deadline_ns > prev);
		prev = n->deadline_ns;
		assert_int_equal(timerq_size(q), N - i - 1);
	}
	assert_null(timerq_pop(q));
}

static void
test_extreme_deadlines(void **state)
{
	struct timerq *q = *state;
	struct timerq_node a, b, c, d;

	/* A comparison by subtraction would overflow on these. */
	node_set(&a, INT64_MAX, 1);
	node_set(&b, INT64_MIN, 2);
	node_set(&c, 0, 3);
	node_set(&d, -1, 4);
	assert_int_equal(timerq_push(q, &a), 0);
	assert_int_equal(timerq_push(q, &b), 0);
	assert_int_equal(timerq_push(q, &c), 0);
	assert_int_equal(timerq_push(q, &d), 0);
	assert_ptr_equal(timerq_pop(q), &b);
	assert_ptr_equal(timerq_pop(q), &d);
	assert_ptr_equal(timerq_pop(q), &c);
	assert_ptr_equal(timerq_pop(q), &a);
}

static void
test_ties_pop_in_seq_order(void **state)
{
	enum { N = 500 };
	struct timerq *q = *state;
	struct timerq_node nodes[N];
	size_t order[N], i;

	/* Three deadlines, many equal ones, seq given out of order. */
	for (i = 0; i < N; i++)
		order[i] = i;
	shuffle(order, N);
	for (i = 0; i < N; i++) {
		node_set(&nodes[order[i]], (int64_t)(order[i] % 3) * 10,
			 order[i]);
		assert_int_equal(timerq_push(q, &nodes[order[i]]), 0);
	}
	/* Deadline 0: seq 0, 3, 6, ...; then deadline 10: 1, 4, ... */
	for (i = 0; i < N; i += 3)
		assert_ptr_equal(timerq_pop(q), &nodes[i]);
	for (i = 1; i < N; i += 3)
		assert_ptr_equal(timerq_pop(q), &nodes[i]);
	for (i = 2; i < N; i += 3)
		assert_ptr_equal(timerq_pop(q), &nodes[i]);
	assert_int_equal(timerq_size(q), 0);
}

/* Pushes nodes with deadlines 0..n-1 (seq = deadline) in a fixed
 * scrambled order. */
static void
push_range(struct timerq *q, struct timerq_node *nodes, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		k = (i * 7) % n; /* n not a multiple of 7 */
		node_set(&nodes[k], (int64_t)k, k);
		assert_int_equal(timerq_push(q, &nodes[k]), 0);
	}
}

/* Pops everything, expecting nodes[0..n-1] in order minus skip[]. */
static void
expect_drain(struct timerq *q, struct timerq_node *nodes, size_t n,
	     const bool *skip)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!skip[i])
			assert_ptr_equal(timerq_pop(q), &nodes[i]);
	}
	assert_null(timerq_pop(q));
}

static void
test_remove(void **state)
{
	enum { N = 20 };
	struct timerq *q = *state;
	struct timerq_node nodes[N], *last, stray;
	bool skip[N] = {false};
	size_t i;

	push_range(q, nodes, N);

	/* The head. */
	timerq_remove(q, &nodes[0]);
	skip[0] = true;
	assert_false(timerq_node_queued(&nodes[0]));
	assert_int_equal(timerq_size(q), N - 1);
	assert_ptr_equal(timerq_peek(q), &nodes[1]);

	/* A middle node (slot 1: an inner node with children). */
	for (i = 0; i < N; i++) {
		if (nodes[i].idx == 1)
			break;
	}
	assert_true(i < N);
	timerq_remove(q, &nodes[i]);
	skip[i] = true;
	assert_false(timerq_node_queued(&nodes[i]));
	assert_int_equal(timerq_size(q), N - 2);

	/* The node in the last slot: nothing moves into the hole. */
	last = NULL;
	for (i = 0; i < N; i++) {
		if (nodes[i].idx == timerq_size(q) - 1)
			last = &nodes[i];
	}
	assert_non_null(last);
	timerq_remove(q, last);
	skip[last - nodes] = true;
	assert_false(timerq_node_queued(last));
	assert_int_equal(timerq_size(q), N - 3);

	/* Not queued at all, and removed twice: no-ops. */
	node_set(&stray, -5, 0);
	timerq_remove(q, &stray);
	timerq_remove(q, &nodes[0]);
	assert_int_equal(timerq_size(q), N - 3);
	assert_false(timerq_node_queued(&stray));

	/* Every queued node still knows its slot. */
	for (i = 0; i < N; i++) {
		if (skip[i])
			assert_int_equal(nodes[i].idx, TIMERQ_NONE);
		else
			assert_true(nodes[i].idx < timerq_size(q));
	}
	expect_drain(q, nodes, N, skip);
}

/* The hole left by a removal may need the last node to move up, not
 * down: remove a deep node of one subtree while the last leaf, in
 * another subtree, is earlier than the hole's parent. */
static void
test_remove_sifts_up(void **state)
{
	struct timerq *q = *state;
	struct timerq_node n[7];
	const int64_t dl[7] = {0, 100, 1, 101, 102, 2, 3};
	size_t i;

	/* Pushed in order, this is already a heap laid out as dl[]:
	 *            0
	 *      100       1
	 *   101  102   2   3
	 * Removing 101 moves 3 into its slot, under 100: it must rise. */
	for (i = 0; i < 7; i++) {
		node_set(&n[i], dl[i], i);
		assert_int_equal(timerq_push(q, &n[i]), 0);
		assert_int_equal(n[i].idx, i);
	}
	timerq_remove(q, &n[3]);
	assert_int_equal(n[6].idx, 1);
	assert_int_equal(n[1].idx, 3);
	assert_ptr_equal(timerq_pop(q), &n[0]);
	assert_ptr_equal(timerq_pop(q), &n[2]);
	assert_ptr_equal(timerq_pop(q), &n[5]);
	assert_ptr_equal(timerq_pop(q), &n[6]);
	assert_ptr_equal(timerq_pop(q), &n[1]);
	assert_ptr_equal(timerq_pop(q), &n[4]);
	assert_null(timerq_pop(q));
}

static void
test_remove_while_firing(void **state)
{
	enum { N = 10 };
	struct timerq *q = *state;
	struct timerq_node nodes[N], *fired;
	bool skip[N] = {false};

	push_range(q, nodes, N);
	/* The loop pops the due timer, and its callback cancels it. */
	fired = timerq_pop(q);
	assert_ptr_equal(fired, &nodes[0]);
	skip[0] = true;
	timerq_remove(q, fired);
	assert_int_equal(timerq_size(q), N - 1);
	assert_ptr_equal(timerq_peek(q), &nodes[1]);

	/* Its node was re-armed while firing and then cancelled. */
	fired->deadline_ns = 1000;
	assert_int_equal(timerq_push(q, fired), 0);
	timerq_remove(q, fired);
	timerq_remove(q, fired);
	assert_int_equal(timerq_size(q), N - 1);
	expect_drain(q, nodes, N, skip);
}

/* A node queued elsewhere: its idx is a slot of the other queue. */
/* Drops the nodes whose seq is odd. */
static bool
keep_even(const struct timerq_node *n, void *arg)
{
	size_t *calls = arg;

	(*calls)++;
	return n->seq % 2 == 0;
}

/* timerq_filter removes a subset at once and leaves a valid heap (pops
 * come out in order, every kept node still removable and movable);
 * timerq_update moves a node both ways. */
static void
test_filter_and_update(void **state)
{
	struct timerq *q = *state;
	enum { N = 5000 };
	struct timerq_node *nodes = calloc(N, sizeof(*nodes));
	struct timerq_node *n, *prev = NULL;
	size_t i, calls = 0, popped = 0;

	assert_non_null(nodes);
	for (i = 0; i < N; i++) {
		node_set(&nodes[i], (int64_t)rng_below(1000), i);
		assert_int_equal(timerq_push(q, &nodes[i]), 0);
	}
	assert_int_equal(timerq_filter(q, keep_even, &calls), N / 2);
	assert_int_equal(calls, N);
	assert_int_equal(timerq_size(q), N / 2);
	for (i = 1; i < N; i += 2)
		assert_false(timerq_node_queued(&nodes[i]));
	/* Indices are right: removing and moving kept nodes works. */
	timerq_remove(q, &nodes[2]);
	assert_false(timerq_node_queued(&nodes[2]));
	assert_int_equal(timerq_update(q, &nodes[4], -1), 0);
	assert_int_equal(timerq_update(q, &nodes[6], 5000), 0);
	assert_int_equal(timerq_update(q, &nodes[1], 0), -ENOENT);
	assert_ptr_equal(timerq_peek(q), &nodes[4]);
	while ((n = timerq_pop(q)) != NULL) {
		assert_int_equal(n->seq % 2, 0);
		if (prev != NULL)
			assert_true(prev->deadline_ns < n->deadline_ns ||
			            (prev->deadline_ns == n->deadline_ns &&
			             prev->seq < n->seq));
		prev = n;
		popped++;
	}
	assert_int_equal(popped, N / 2 - 1);
	assert_ptr_equal(prev, &nodes[6]);
	free(nodes);
}

static void
test_remove_from_other_queue(void **state)
{
	struct timerq *q = *state, *other;
	struct timerq_node a, b, c;

	other = timerq_new();
	assert_non_null(other);
	node_set(&a, 1, 1);
	node_set(&b, 2, 2);
	node_set(&c, 3, 3);
	assert_int_equal(timerq_push(q, &a), 0);
	assert_int_equal(timerq_push(other, &b), 0);
	assert_int_equal(timerq_push(other, &c), 0);
	timerq_remove(q, &b); /* idx 0 in other, but q's slot 0 is a */
	timerq_remove(q, &c); /* idx 1, past q's size */
	assert_int_equal(timerq_size(q), 1);
	assert_int_equal(timerq_size(other), 2);
	assert_true(timerq_node_queued(&b));
	assert_ptr_equal(timerq_pop(q), &a);
	assert_ptr_equal(timerq_pop(other), &b);
	assert_ptr_equal(timerq_pop(other), &c);
	timerq_free(other);
}

/* Beyond the header's contract: timerq.c refuses to queue a node twice
 * rather than corrupt the heap. */
static void
test_push_queued_refused(void **state)
{
	struct timerq *q = *state;
	struct timerq_node a;

	node_set(&a, 1, 1);
	assert_int_equal(timerq_push(q, &a), 0);
	assert_int_equal(timerq_push(q, &a), -EALREADY);
	assert_int_equal(timerq_size(q), 1);
	assert_ptr_equal(timerq_pop(q), &a);
	assert_null(timerq_pop(q));
}

/* Grows well past the initial array, then drains it in ways that make
 * it shrink, checking order throughout, twice over. */
static void
test_grow_and_shrink(void **state)
{
	enum { N = 20000 };
	struct timerq *q = *state;
	struct timerq_node *nodes;
	size_t order[N], i, round;

	nodes = calloc(N, sizeof(*nodes));
	assert_non_null(nodes);
	for (round = 0; round < 2; round++) {
		for (i = 0; i < N; i++)
			order[i] = i;
		shuffle(order, N);
		for (i = 0; i < N; i++) {
			node_set(&nodes[order[i]], (int64_t)order[i], 0);
			assert_int_equal(timerq_push(q, &nodes[order[i]]), 0);
		}
		/* Remove the odd ones in random order; the heap shrinks
		 * only later, below a quarter. */
		for (i = 0; i < N; i++) {
			if (order[i] % 2 == 1)
				timerq_remove(q, &nodes[order[i]]);
		}
		assert_int_equal(timerq_size(q), N / 2);
		/* Pop most of the rest: many shrinks on the way. */
		for (i = 0; i < N - 10; i += 2)
			assert_ptr_equal(timerq_pop(q), &nodes[i]);
		assert_int_equal(timerq_size(q), 5);
		/* Push again into the shrunk array, and remove the rest. */
		for (i = 1; i < 200; i += 2) {
			node_set(&nodes[i], (int64_t)i, 0);
			assert_int_equal(timerq_push(q, &nodes[i]), 0);
		}
		for (i = 1; i < 200; i += 2)
			assert_ptr_equal(timerq_pop(q), &nodes[i]);
		for (i = N - 10; i < N; i += 2)
			assert_ptr_equal(timerq_pop(q), &nodes[i]);
		assert_null(timerq_pop(q));
	}
	free(nodes);
}

/*
 * The reference: queued nodes sorted latest first, so the earliest is
 * at the end and popping it is O(1). (deadline_ns, seq) is unique,
 * because seq is.
 */
struct ref {
	struct timerq_node **a;
	size_t len;
};

static int
node_cmp(const struct timerq_node *x, const struct timerq_node *y)
{
	if (x->deadline_ns != y->deadline_ns)
		return x->deadline_ns < y->deadline_ns ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

/* The index of n in the reference, or where it would go. */
static size_t
ref_search(const struct ref *r, const struct timerq_node *n)
{
	size_t lo = 0, hi = r->len, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (node_cmp(r->a[mid], n) > 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
ref_insert(struct ref *r, struct timerq_node *n)
{
	size_t i = ref_search(r, n);

	memmove(&r->a[i + 1], &r->a[i], (r->len - i) * sizeof(r->a[0]));
	r->a[i] = n;
	r->len++;
}

static void
ref_remove(struct ref *r, const struct timerq_node *n)
{
	size_t i = ref_search(r, n);

	assert_true(i < r->len);
	assert_ptr_equal(r->a[i], n);
	memmove(&r->a[i], &r->a[i + 1], (r->len - i - 1) * sizeof(r->a[0]));
	r->len--;
}

static void
test_random_against_reference(void **state)
{
	enum { POOL = 4096, OPS = 100000, PHASE = 10000 };
	struct timerq *q = *state;
	struct timerq_node *pool, *n, *want;
	struct ref ref = {0};
	uint64_t seq = 0;
	size_t op, i, push_pct, queued;
	int kind;

	pool = calloc(POOL, sizeof(*pool));
	ref.a = calloc(POOL, sizeof(*ref.a));
	assert_non_null(pool);
	assert_non_null(ref.a);
	for (i = 0; i < POOL; i++)
		timerq_node_init(&pool[i]);

	for (op = 0; op < OPS; op++) {
		/* Alternate filling and draining phases, so the heap both
		 * grows and shrinks many times; the last phase empties it. */
		if (op >= OPS - PHASE)
			push_pct = 0;
		else
			push_pct = (op / PHASE) % 2 == 0 ? 75 : 25;
		kind = (int)rng_below(100);
		n = &pool[rng_below(POOL)];

		if ((size_t)kind < push_pct) {
			if (timerq_node_queued(n)) {
				/* Cancel instead: a removal anywhere. */
				ref_remove(&ref, n);
				timerq_remove(q, n);
			} else {
				/* Few distinct deadlines: ties are common. */
				n->deadline_ns = (int64_t)rng_below(256) - 128;
				n->seq = seq++;
				assert_int_equal(timerq_push(q, n), 0);
				ref_insert(&ref, n);
			}
		} else if (kind < 90) {
			/* Cancel, queued or not. */
			if (timerq_node_queued(n))
				ref_remove(&ref, n);
			timerq_remove(q, n);
		} else {
			want = ref.len > 0 ? ref.a[--ref.len] : NULL;
			assert_ptr_equal(timerq_pop(q), want);
		}

		assert_int_equal(timerq_size(q), ref.len);
		assert_ptr_equal(timerq_peek(q),
				 ref.len > 0 ? ref.a[ref.len - 1] : NULL);
		/* The node just touched is queued iff the reference has it. */
		i = ref_search(&ref, n);
		assert_int_equal(timerq_node_queued(n),
				 i < ref.len && ref.a[i] == n);

		if (op % 1000 == 0) {
			/* Every queued node has a distinct slot < size. */
			queued = 0;
			for (i = 0; i < POOL; i++) {
				if (!timerq_node_queued(&pool[i]))
					continue;
				assert_true(pool[i].idx < timerq_size(q));
				queued++;
			}
			assert_int_equal(queued, ref.len);
		}
	}
	assert_int_equal(ref.len, 0);
	assert_null(timerq_pop(q));
	for (i = 0; i < POOL; i++)
		assert_false(timerq_node_queued(&pool[i]));
	free(ref.a);
	free(pool);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_extreme_deadlines, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_ties_pop_in_seq_order, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove_sifts_up, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_remove_while_firing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_filter_and_update, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_remove_from_other_queue, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_push_queued_refused, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_grow_and_shrink, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_random_against_reference,
					    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
