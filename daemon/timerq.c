/*
 * timerq: an indexed binary min-heap of timer nodes (see timerq.h).
 *
 * Owns only the array of node pointers; the nodes belong to the caller.
 * Pure: no I/O, no clock, no logging, never aborts.
 *
 * Invariants, for every slot i < len:
 *	heap[i]->idx == i;
 *	heap[(i - 1) / 2] is not later than heap[i] (deadline_ns, then seq).
 * A node not in any queue has idx == TIMERQ_NONE. The array holds at
 * least TIMERQ_MIN_CAP slots so that a queue that hovers around a few
 * timers does not reallocate on every push and pop.
 */
#include "timerq.h"

#include <errno.h>
#include <stdlib.h>

#define TIMERQ_MIN_CAP 64
/* The largest count: every slot index must differ from TIMERQ_NONE. */
#define TIMERQ_MAX_LEN ((size_t)UINT32_MAX - 1)

struct timerq {
	struct timerq_node **heap;
	size_t len;
	size_t cap;
};

static bool
timerq_before(const struct timerq_node *a, const struct timerq_node *b)
{
	if (a->deadline_ns != b->deadline_ns)
		return a->deadline_ns < b->deadline_ns;
	return a->seq < b->seq;
}

static int
timerq_resize(struct timerq *q, size_t cap)
{
	struct timerq_node **heap;

	if (cap > SIZE_MAX / sizeof(*heap))
		return -ENOMEM;
	heap = realloc(q->heap, cap * sizeof(*heap));
	if (heap == NULL)
		return -ENOMEM;
	q->heap = heap;
	q->cap = cap;
	return 0;
}

/* Moves n up from slot i, writing each displaced parent once. */
static void
timerq_sift_up(struct timerq *q, size_t i, struct timerq_node *n)
{
	struct timerq_node *parent;

	while (i > 0) {
		parent = q->heap[(i - 1) / 2];
		if (!timerq_before(n, parent))
			break;
		q->heap[i] = parent;
		parent->idx = (uint32_t)i;
		i = (i - 1) / 2;
	}
	q->heap[i] = n;
	n->idx = (uint32_t)i;
}

/* Moves n down from slot i over the first q->len slots. */
static void
timerq_sift_down(struct timerq *q, size_t i, struct timerq_node *n)
{
	struct timerq_node *child;
	size_t c;

	/* i < len <= UINT32_MAX, so 2 * i + 1 cannot wrap a 64-bit size_t;
	 * on 32-bit hosts the allocation limit keeps len far lower. */
	while ((c = 2 * i + 1) < q->len) {
		if (c + 1 < q->len && timerq_before(q->heap[c + 1], q->heap[c]))
			c++;
		child = q->heap[c];
		if (!timerq_before(child, n))
			break;
		q->heap[i] = child;
		child->idx = (uint32_t)i;
		i = c;
	}
	q->heap[i] = n;
	n->idx = (uint32_t)i;
}

struct timerq *
timerq_new(void)
{
	struct timerq *q;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		return NULL;
	if (timerq_resize(q, TIMERQ_MIN_CAP) < 0) {
		free(q);
		return NULL;
	}
	return q;
}

void
timerq_free(struct timerq *q)
{
	if (q == NULL)
		return;
	free(q->heap);
	free(q);
}

void
timerq_node_init(struct timerq_node *n)
{
	n->idx = TIMERQ_NONE;
}

int
timerq_push(struct timerq *q, struct timerq_node *n)
{
	size_t cap;
	int r;

	/* Pushing a queued node would leave a second slot pointing at it
	 * and corrupt both queues' indices; refuse rather than trust it. */
	if (timerq_node_queued(n))
		return -EALREADY;
	if (q->len >= TIMERQ_MAX_LEN)
		return -EOVERFLOW;
	if (q->len == q->cap) {
		cap = q->cap * 2;
		if (cap > TIMERQ_MAX_LEN)
			cap = TIMERQ_MAX_LEN;
		if ((r = timerq_resize(q, cap)) < 0)
			return r;
	}
	q->len++;
	timerq_sift_up(q, q->len - 1, n);
	return 0;
}

void
timerq_remove(struct timerq *q, struct timerq_node *n)
{
	struct timerq_node *last;
	size_t i = n->idx;

	/* Not queued, or queued in another queue: nothing of ours to do. */
	if (i >= q->len || q->heap[i] != n)
		return;
	n->idx = TIMERQ_NONE;
	last = q->heap[--q->len];
	if (i != q->len) {
		/* The last leaf fills the hole; it may belong above or below
		 * it, never both. */
		if (i > 0 && timerq_before(last, q->heap[(i - 1) / 2]))
			timerq_sift_up(q, i, last);
		else
			timerq_sift_down(q, i, last);
	}
	/* Halve at a quarter full, so that a push after a shrink never
	 * grows again at once. Failing to shrink is harmless. */
	if (q->cap > TIMERQ_MIN_CAP && q->len <= q->cap / 4)
		(void)timerq_resize(q, q->cap / 2);
}

struct timerq_node *
timerq_peek(const struct timerq *q)
{
	return q->len > 0 ? q->heap[0] : NULL;
}

struct timerq_node *
timerq_pop(struct timerq *q)
{
	struct timerq_node *n;

	if (q->len == 0)
		return NULL;
	n = q->heap[0];
	timerq_remove(q, n);
	return n;
}

size_t
timerq_size(const struct timerq *q)
{
	return q->len;
}

int
timerq_update(struct timerq *q, struct timerq_node *n, int64_t deadline_ns)
{
	size_t i = n->idx;

	if (i >= q->len || q->heap[i] != n)
		return -ENOENT;
	n->deadline_ns = deadline_ns;
	/* In place: no allocation, so moving a queued timer cannot fail. */
	if (i > 0 && timerq_before(n, q->heap[(i - 1) / 2]))
		timerq_sift_up(q, i, n);
	else
		timerq_sift_down(q, i, n);
	return 0;
}

size_t
timerq_filter(struct timerq *q, bool (*keep)(const struct timerq_node *, void *),
              void *arg)
{
	size_t i, n = 0, removed;

	for (i = 0; i < q->len; i++) {
		struct timerq_node *x = q->heap[i];

		if (keep(x, arg))
			q->heap[n++] = x;
		else
			x->idx = TIMERQ_NONE;
	}
	removed = q->len - n;
	q->len = n;
	for (i = 0; i < n; i++)
		q->heap[i]->idx = (uint32_t)i;
	/* Floyd's bottom-up heapify: O(n), against O(k log n) for k single
	 * removals with a cache miss at each level. */
	for (i = n / 2; i-- > 0;)
		timerq_sift_down(q, i, q->heap[i]);
	while (q->cap > TIMERQ_MIN_CAP && q->len <= q->cap / 4)
		if (timerq_resize(q, q->cap / 2) < 0)
			break;
	return removed;
}
