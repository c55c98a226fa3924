/*
 * migrate: `evd migrate --from SPEC --to SPEC`, a copy of one store's
 * durable state into another (sqlite to sqlite in another directory,
 * sqlite to pg), written only against the store interface (store.h) so
 * that it works for any pair of durable backends.
 *
 * What it copies: every pending timer with its id, key, owner, schedule,
 * exec command, paused flag and fire count, and its run records (unless
 * the destination has some for it already); every queued, in-flight and
 * dead channel message with its fire id, attempts and reason; every
 * channel's owner and grants; the id counters (the larger of source and
 * destination) and the last-seen clock. Finished and cancelled timers
 * are counted, not copied: the interface has no write that makes a
 * stored timer finished without a claim of the destination's own.
 *
 * Safe to re-run: a timer already in the destination (its id, or its
 * owner's pending key) and a message already there (its fire id) are
 * skipped and counted, never written twice; channels are written whole.
 * Writes are committed every batch_rows rows and made durable as the
 * destination does (flush()), so an interrupted run loses at most the
 * batch in progress and the next run finishes it.
 *
 * The source is only read through the interface, in one transaction
 * that is rolled back at the end (its backend may still write its own
 * bookkeeping at open and close, as sqlite's does), and
 * must not be in use: sqlite's open takes the state directory's lock
 * and a running evd holds it.
 *
 * A boundary module: migrate_run prints its summary and each failed row
 * to the streams it is given; nothing else in evd calls it. Not
 * thread-safe; run before the daemon starts anything.
 */
#ifndef EVD_MIGRATE_H
#define EVD_MIGRATE_H

#include <stddef.h>
#include <stdio.h>

#include "store.h"

/* Longest ARG of a SPEC (a state directory or a libpq conninfo). */
#define MIGRATE_ARG_MAX 4096
/* Rows per destination commit when migrate_options.batch_rows is 0. */
#define MIGRATE_DEFAULT_BATCH 1000

/* One side of a migration, as parsed from NAME[:ARG]. Plain data owned
 * by whoever declared it. */
struct migrate_spec {
	const struct store_backend *be;
	/* sqlite: the state directory; any other backend: the string for
	 * store_config.conninfo ("" when NAME came without ":ARG"). */
	char arg[MIGRATE_ARG_MAX];
};

/*
 * Parses text, NAME[:ARG], into ret. NAME is a store_backend_find()
 * name of a durable backend; for sqlite a missing ARG means default_dir
 * (the configured state directory; NULL or "": an error). ":" with
 * nothing after it is an error, whatever the backend. Returns 0, or
 * -EINVAL (unknown or non-durable backend, empty NAME or ARG, no default
 * directory) or -ENAMETOOLONG with a one-line reason in err; ret is
 * untouched on failure. Pure: no I/O.
 */
int migrate_spec_parse(const char *text, const char *default_dir,
		       struct migrate_spec *ret, char *err, size_t errsize);

struct migrate_options {
	struct migrate_spec from, to;
	/* sync_full, history_per_timer, finished_keep_ns, finished_max as
	 * evd would open the stores; state_dir, conninfo and log are set
	 * per side by migrate_run. */
	struct store_config cfg;
	size_t batch_rows; /* 0: MIGRATE_DEFAULT_BATCH */
};

/*
 * Copies from o->from into o->to (see above). Prints one summary line
 * per kind to out ("timers: 1200 copied, 3 already present") and each
 * failure to err, naming the row and the reason. Returns 0 when every
 * row is in the destination; -EINVAL when some rows were refused (the
 * others were copied); another -errno when a store could not be opened
 * or a batch was lost (what earlier batches wrote stays: run it again).
 */
int migrate_run(const struct migrate_options *o, FILE *out, FILE *err);

#endif
