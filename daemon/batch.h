/*
 * batch: the store transaction of one loop iteration (group commit).
 *
 * Everything durable that happens in one iteration of the loop (requests
 * from every connection, fires, acks) is written inside one store batch;
 * the loop (loop.h) ends the batch (one commit) and its replies go out
 * once that commit is durable (one fsync, on the sync thread, see
 * batch_sync_gen). If the commit fails, the store rolled the whole
 * batch back and batch refuses durable writes (reads keep working) until
 * a probe commit succeeds again, so a full or broken disk costs one
 * rebuild, not one per iteration; the loop, told so by batch_end, turns
 * the batch's durable replies into UNAVAILABLE errors and rebuilds its
 * durable state from the store. batch calls nothing above it. A write
 * the store refuses for its row alone (a key taken in a damaged store, a
 * value too big) fails only the request that made it.
 */
#ifndef EVD_BATCH_H
#define EVD_BATCH_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct store;
struct store_backend;

/* Adopts an open store (ownership passes to batch; both NULL: a loop
 * without a store); base runs the probe timer. */
void batch_init(struct event_base *base, const struct store_backend *be,
                struct store *s);
/* fn runs when a probe commit succeeded and durable writes are taken
 * again (the loop releases what waited for that). */
void batch_on_resume(void (*fn)(void));
/* Ends any batch and closes the store. */
void batch_shutdown(void);

/* The backend in use. */
const struct store_backend *batch_backend(void);

/*
 * The store with this iteration's batch open, or NULL when the store is
 * refusing writes (the caller answers UNAVAILABLE with batch_errmsg()).
 */
struct store *batch_store(void);

/* The store for reads (works while writes are refused), or NULL before
 * batch_init. */
struct store *batch_store_ro(void);

/* A store call inside the batch failed with err (< 0): the batch is lost;
 * later writes in this iteration are refused. */
void batch_fail(int err);

/*
 * A store write inside the batch failed with err (< 0). A row error
 * (store.h: the write changed nothing) belongs to the one request that
 * made it: it is logged and returned as it is, its reason in
 * batch_row_errmsg(), and the batch goes on for everything else. Any
 * other error loses the batch (batch_fail) and comes back as -EIO.
 */
int batch_write_failed(int err);

/* Why the last row error happened; valid until the next store call. */
const char *batch_row_errmsg(void);

/*
 * The store writes, but what sits above it cannot go on with it yet (the
 * loop could not rebuild its state from the store after a lost batch):
 * durable writes are refused, with err's reason, and probed again as
 * after a failed commit; the resume callback runs again once a probe
 * commits. An open batch is lost.
 */
void batch_refuse(int err);

/* Why durable writes are refused now ("" when they are not). */
const char *batch_errmsg(void);

/* What batch_end did. */
enum batch_outcome {
	BATCH_COMMITTED, /* committed, or there was nothing to commit */
	BATCH_REFUSED,   /* nothing was written: memory has nothing to undo */
	BATCH_LOST,      /* rolled back after memory changed: rebuild it */
};

/* Commits the iteration's batch, or rolls it back and starts refusing
 * writes (batch_errmsg says why). With an operation log (storeq.h) the
 * commit happens on the sync thread; a batch lost there is reported by
 * a later batch_end, as BATCH_LOST for every batch from it on. */
enum batch_outcome batch_end(void);

/* How many batches the last batch_end lost, the current one included
 * (0 when it committed): the loop fails the durable replies of that many
 * iterations. */
uint64_t batch_lost(void);

/*
 * Durability off the loop: a store with flush() (store.h) commits into
 * the page cache and a thread of batch's own makes the commits durable,
 * one flush (generation) at a time, each covering every commit before it
 * started, while the loop runs the next batches. Nothing a client sees
 * may leave before the flush that covers the state it reflects: after
 * batch_end, the loop asks batch_sync_gen() which generation this
 * iteration's output waits for, holds it (conn_hold), and the callback
 * of batch_on_synced releases it. Without such a store every generation
 * is 0: nothing waits. A failed flush stops evd (nothing it covered was
 * acknowledged).
 */

/* The generation this iteration's output must wait for, starting a
 * flush if none runs and something was committed; 0: none, it may go. */
uint64_t batch_sync_gen(void);

/* fn runs on the loop (from its event, or inside batch_sync_wait) once
 * every commit of generations up to gen is durable. */
void batch_on_synced(void (*fn)(uint64_t gen));

/* Blocks until everything committed so far is durable (and fn above
 * ran): at shutdown, and where output cannot wait for the event. */
void batch_sync_wait(void);

#endif
