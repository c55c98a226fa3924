/*
 * batch: the store transaction of one loop iteration (group commit).
 *
 * Everything durable that happens in one iteration of the loop (requests
 * from every connection, fires, acks) is written inside one store batch;
 * the main loop ends the batch (one commit, one fsync) and only then
 * flushes the replies. If the commit fails, the store rolled the whole
 * batch back: the daemon rebuilds its durable state from the store, turns
 * the batch's durable replies into UNAVAILABLE errors, and refuses durable
 * writes (reads keep working) until a probe commit succeeds again, so a
 * full or broken disk costs one rebuild, not one per iteration.
 */
#ifndef EVD_BATCH_H
#define EVD_BATCH_H

#include <stdbool.h>

struct store;
struct store_backend;

/* Adopts an open store (ownership passes to batch). */
void batch_init(const struct store_backend *be, struct store *s);
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

/* Why durable writes are refused now ("" when they are not). */
const char *batch_errmsg(void);

/* Commits the iteration's batch, or rolls back and recovers. Returns true
 * if it committed (or there was nothing to commit). */
bool batch_end(void);

#endif
