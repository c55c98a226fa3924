/*
 * timerq: an indexed binary min-heap of timer nodes.
 *
 * Pure: no I/O, no clock, no libevent. The caller embeds a struct
 * timerq_node in its own object, fills deadline_ns and seq, and pushes it;
 * the heap records the node's slot in node->idx so that removal of an
 * arbitrary node is O(log n) without a search.
 *
 * Order: by deadline_ns, then by seq (the caller gives each push an
 * increasing seq, so equal deadlines pop in scheduling order).
 * Complexity: push, remove, pop O(log n); peek O(1). The heap array
 * grows by doubling and shrinks when a quarter full.
 * A node is in at most one queue at a time; idx == TIMERQ_NONE when it is
 * in none. Removing a node that is not queued is a no-op, so a timer
 * cancelled while it is firing (already popped) is harmless.
 */
#ifndef EVD_TIMERQ_H
#define EVD_TIMERQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIMERQ_NONE ((uint32_t)UINT32_MAX)

struct timerq_node {
	int64_t deadline_ns;
	uint64_t seq;
	uint32_t idx; /* slot in the heap, TIMERQ_NONE when not queued */
	uint32_t aux; /* the owner's, never touched here: it fills what
		       * would be padding */
};

struct timerq;

/* Returns a new empty queue, or NULL when out of memory. */
struct timerq *timerq_new(void);
/* Frees the queue (not the nodes). NULL-safe. */
void timerq_free(struct timerq *q);

/* Initialises a node as not queued. */
void timerq_node_init(struct timerq_node *n);

/* Inserts n. Returns 0, -EALREADY if n is already queued, -ENOMEM, or
 * -EOVERFLOW past UINT32_MAX - 1 nodes. */
int timerq_push(struct timerq *q, struct timerq_node *n);

/* Removes n if it is queued in q. */
void timerq_remove(struct timerq *q, struct timerq_node *n);

/* Moves a queued node to a new deadline, in place (never allocates).
 * Returns 0, or -ENOENT if n is not queued in q. */
int timerq_update(struct timerq *q, struct timerq_node *n, int64_t deadline_ns);
/* Removes every node for which keep(node, arg) is false (marking it not
 * queued) and restores the heap in O(n): for dropping many nodes at once
 * (a connection with many timers closing). keep must not touch q.
 * Returns how many were removed. */
size_t timerq_filter(struct timerq *q,
                     bool (*keep)(const struct timerq_node *, void *),
                     void *arg);
/* The earliest node, or NULL when empty. */
struct timerq_node *timerq_peek(const struct timerq *q);

/* Removes and returns the earliest node, or NULL when empty. */
struct timerq_node *timerq_pop(struct timerq *q);

size_t timerq_size(const struct timerq *q);

static inline bool
timerq_node_queued(const struct timerq_node *n)
{
	return n->idx != TIMERQ_NONE;
}

#endif
