/*
 * loop: one event loop, the modules it runs, and the order of one
 * iteration.
 *
 * Each loop thread (shard.h) owns an event base and the thread-local
 * state of conn, sched, channel, wait and hook. One iteration is:
 * run the callbacks that are ready (read, dispatch, fire, deliver: their
 * store writes go into one batch) → commit the batch → answer (a failed
 * commit turns the batch's durable replies into errors and rebuilds
 * durable state from the store; the rest wait for the store's flush of
 * the batch, which runs on its own thread while the next iterations go
 * on) → publish this loop's counts → flush the replies and events that
 * may go. This module is the one place that fans out to the
 * modules: conn reaches the request layer and reports closed
 * connections only through the conn_ops it is given here, and batch
 * only returns what its commit did.
 */
#ifndef EVD_LOOP_H
#define EVD_LOOP_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

struct event_base;

/* What every loop is set up with; the same for all of them. */
struct loop_config {
	size_t max_frame;
	unsigned frame_timeout_ms;
	unsigned drain_ms;      /* how long a stopping loop writes what it owes */
	struct store_config keep; /* what the keeper of caller timers keeps */
};

/* Records cfg (copied) for the loops to come. Before any loop exists. */
void loop_configure(const struct loop_config *cfg);

/* A new event base as the loops use them; NULL when out of memory. */
struct event_base *loop_base_new(void);

/* Sets up this thread's modules on base. Returns 0 or -errno. */
int loop_init(struct event_base *base);
/* Tears down what loop_init set up (and the store, if this loop has it). */
void loop_shutdown(void);

/*
 * Ends this iteration's store batch and answers for it: committed, the
 * durable replies stand; failed, they become UNAVAILABLE errors and, if
 * memory had changed, durable state is rebuilt from the store. Returns
 * true if it committed.
 */
bool loop_commit(void);

/* Waits until everything committed is durable and the output that
 * waited for it is free to go (at shutdown, before the last flush of
 * output). */
void loop_settle(void);

/* One iteration (see above). Returns false if the event loop failed. */
bool loop_iterate(struct event_base *base);

/* The body of loop k's thread (k > 0: shard_start), until shard_stopping. */
void loop_thread(unsigned k);

#endif
