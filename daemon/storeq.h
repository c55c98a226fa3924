/*
 * storeq: the store's operation log, so that store statements leave the
 * loop thread.
 *
 * A backend that allows it (store_backend.threaded) is wrapped: the
 * daemon calls the wrapper exactly as it called the store, and the
 * wrapper copies each write into the batch's log and returns at once.
 * batch (batch.h) publishes the log at batch_end; the wrapper's executor
 * thread runs it at once (check, begin, the writes in order, commit),
 * and batch's sync thread waits for it (storeq_wait) before the flush
 * that makes it durable: the loop reads, runs and logs batch N+2 while
 * N+1's statements run and N's fsync does. Replies already wait for that flush (batch.h), so
 * nothing a client sees shows a write before it is committed and
 * durable.
 *
 * What the loop must know at once is not logged:
 *  - reads (get_timer, find_key, runs, list_ended, load_*, claim,
 *    max_ids, meta_get) first run every write logged before them, on the
 *    calling thread, then read: they see what the batches before them
 *    and their own batch so far wrote, as before;
 *  - writes whose result decides what the daemon does next run the same
 *    way, synchronously: schedule with a key (the store may hold the key
 *    where memory does not, a row error the daemon reports to that one
 *    request), revive (-ENOENT sends it to schedule) and remember.
 * A logged write the store refuses anyway (-ENOENT from cancel and ack
 * is the expected "already gone" and counts as done) fails its batch
 * and every batch after it: the queue fails (storeq_failed), drops
 * writes until storeq_resume, and the daemon treats every batch from the
 * failed one on as lost (their durable replies become UNAVAILABLE and
 * memory is rebuilt from the store), exactly as it did for a commit that
 * failed on the loop. Nothing of a lost batch was ever shown to a
 * client: its output waited for a flush that never covered it.
 *
 * The log is bounded: a batch published while more than STOREQ_MAX_BYTES
 * wait runs on the publishing thread instead (the loop slows down to the
 * store's pace rather than queueing without end).
 *
 * Threads: every wrapper call and storeq_publish, storeq_failed,
 * storeq_resume, storeq_direct* are the loop's (one thread);
 * storeq_execute runs on the wrapper's executor thread (and may on any),
 * storeq_wait on batch's sync thread. One mutex keeps the wrapped store
 * to one thread at a time; flush() stays the only call that runs beside
 * another, as store.h allows.
 */
#ifndef EVD_STOREQ_H
#define EVD_STOREQ_H

#include <stdbool.h>
#include <stdint.h>

struct store;
struct store_backend;

#define STOREQ_MAX_BYTES ((size_t)64 << 20)

/*
 * Wraps the open store s of backend be (be->threaded). On success the
 * wrapper owns s (its close() closes s) and *ret_be, *ret_s are what the
 * daemon calls instead. Returns 0 or -ENOMEM (then nothing changed).
 */
int storeq_wrap(const struct store_backend *be, struct store *s,
                const struct store_backend **ret_be, struct store **ret_s);

/* q (a wrapper from storeq_wrap) ends batch seq: its writes and its
 * commit go to the executor. A batch with no write publishes nothing. */
void storeq_publish(struct store *q, uint64_t seq);

/* Runs every published batch in order. Returns whether one committed.
 * Any thread; the wrapper's own executor thread calls it as soon as
 * something is published. */
bool storeq_execute(struct store *q);

/* Returns once every batch published before the call has run (committed,
 * or failed): a flush started then covers them. Any thread but the
 * loop's (batch's sync thread). */
void storeq_wait(struct store *q);

/* Whether a batch failed since the last storeq_resume: *ret_seq is the
 * first batch lost (0: the loop's current one), *ret_err why, *ret_step
 * the store call that failed ("check", "begin", "write", "commit"); the
 * wrapper's errmsg() says more. */
bool storeq_failed(struct store *q, uint64_t *ret_seq, int *ret_err,
                   const char **ret_step);

/* The failure was handled and a commit went through again: logged writes
 * are taken again. */
void storeq_resume(struct store *q);

/* The wrapped store, for a call of the loop's own (the probe commit):
 * everything logged ran, and no other thread touches it until
 * storeq_direct_end. */
struct store *storeq_direct(struct store *q, const struct store_backend **be);
void storeq_direct_end(struct store *q);

#endif
