/*
 * batch: one store transaction per loop iteration, and recovery when a
 * commit fails (see batch.h).
 *
 * Owns the store handle. Logs store failures (a boundary module): the
 * operator must learn that the disk is full even if no client asks.
 */
#include "batch.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "evd.pb-c.h"
#include "log.h"
#include "metrics.h"
#include "quota.h"
#include "store.h"

/* How often a refusing store is probed with a tiny commit. */
#define BATCH_PROBE_MS 1000

static _Thread_local struct {
	const struct store_backend *be;
	struct store *s;
	bool open;        /* a batch is begun in this iteration */
	bool failed;      /* a call inside it failed */
	bool refusing;    /* durable writes refused until a probe commits */
	int fail_err;
	char errmsg[512];
	struct event_base *base;
	struct event *probe_ev;
	void (*resumed)(void);
} batch;

static void batch_probe_cb(evutil_socket_t, short, void *);

static int
batch_output_cb(uid_t uid, int64_t bytes, void *arg)
{
	(void)arg;
	if (bytes > 0)
		return quota_add(uid, QUOTA_BYTES, (size_t)bytes);
	quota_release(uid, QUOTA_BYTES, (size_t)-bytes);
	return 0;
}

/* Retained hook output counts against its owner's byte quota: the
 * store says how it changed once that is committed (and, the first time,
 * what it holds). */
static void
batch_output_sync(void)
{
	if (batch.s != NULL)
		(void)batch.be->output_changes(batch.s, batch_output_cb, NULL);
}

void
batch_init(struct event_base *base, const struct store_backend *be,
           struct store *s)
{
	void (*resumed)(void) = batch.resumed; /* the loop's, set before */

	memset(&batch, 0, sizeof batch);
	batch.base = base;
	batch.be = be;
	batch.s = s;
	batch.resumed = resumed;
	batch_output_sync();
}

void
batch_on_resume(void (*fn)(void))
{
	batch.resumed = fn;
}

void
batch_shutdown(void)
{
	if (batch.open)
		batch_end();
	if (batch.probe_ev != NULL)
		event_free(batch.probe_ev);
	if (batch.s != NULL)
		batch.be->close(batch.s);
	memset(&batch, 0, sizeof batch);
}

const struct store_backend *
batch_backend(void)
{
	return batch.be;
}

const char *
batch_errmsg(void)
{
	return batch.errmsg;
}

static void
batch_set_error(const char *what, int err)
{
	snprintf(batch.errmsg, sizeof batch.errmsg,
	         "the store cannot write (%s: %s); durable requests are "
	         "refused until it can",
	         what, batch.be->errmsg(batch.s)[0] != '\0'
	                   ? batch.be->errmsg(batch.s)
	                   : strerror(-err));
}

struct store *
batch_store_ro(void)
{
	return batch.s;
}

struct store *
batch_store(void)
{
	int r;

	if (batch.s == NULL || batch.refusing || batch.failed)
		return NULL;
	if (batch.open)
		return batch.s;
	if ((r = batch.be->check(batch.s)) < 0) {
		batch_set_error("check", r);
		batch.failed = true;
		batch.fail_err = r;
		return NULL;
	}
	if ((r = batch.be->begin(batch.s)) < 0) {
		batch_set_error("begin", r);
		batch.failed = true;
		batch.fail_err = r;
		return NULL;
	}
	batch.open = true;
	return batch.s;
}

void
batch_fail(int err)
{
	if (batch.failed)
		return;
	batch.failed = true;
	batch.fail_err = err;
	batch_set_error("write", err);
}

int
batch_write_failed(int err)
{
	if (!STORE_ROW_ERROR(err)) {
		batch_fail(err);
		return -EIO;
	}
	/* evd's own rows break no constraint and stay far below the
	 * engine's size limit: the store holds a row evd did not load
	 * (damage), which the operator must hear of. */
	log_warnx("store: %s; only the request that wrote it fails",
	          batch_row_errmsg());
	return err;
}

const char *
batch_row_errmsg(void)
{
	return batch.s != NULL ? batch.be->errmsg(batch.s) : "";
}

/*
 * Starts refusing writes and probing until the store commits again,
 * after a failure with err. A store file deleted or replaced under evd
 * (check() says -ENOENT) is an error: what was committed there may be
 * lost. A full or read-only disk is a warning: writes only wait.
 */
static void
batch_start_refusing(int err)
{
	struct timeval tv = { BATCH_PROBE_MS / 1000,
		              (BATCH_PROBE_MS % 1000) * 1000 };

	if (!batch.refusing && err == -ENOENT)
		log_errx("%s", batch.errmsg);
	else if (!batch.refusing)
		log_warnx("%s", batch.errmsg);
	batch.refusing = true;
	if (batch.probe_ev == NULL) {
		batch.probe_ev = evtimer_new(batch.base, batch_probe_cb, NULL);
		if (batch.probe_ev == NULL)
			return; /* retried at the next failure */
	}
	evtimer_add(batch.probe_ev, &tv);
}

enum batch_outcome
batch_end(void)
{
	bool wrote;
	int r;

	if (!batch.open && !batch.failed)
		return BATCH_COMMITTED;
	if (batch.failed) {
		if (batch.open)
			batch.be->rollback(batch.s);
		r = batch.fail_err;
	} else {
		int64_t start_ns = clock_now_ns(EVD__CLOCK__MONOTONIC);

		r = batch.be->commit(batch.s);
		metrics_observe_commit(clock_now_ns(EVD__CLOCK__MONOTONIC) -
		                       start_ns);
		if (r < 0) {
			batch_set_error("commit", r);
			batch.be->rollback(batch.s);
		}
	}
	wrote = batch.open;
	batch.open = false;
	batch.failed = false;
	if (r == 0) {
		batch_output_sync();
		return BATCH_COMMITTED;
	}
	batch_start_refusing(r);
	/* Memory changes only after a write into an open batch: if none
	 * was begun, there is nothing to undo. */
	return wrote ? BATCH_LOST : BATCH_REFUSED;
}

static void
batch_probe_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = clock_now_ns(EVD__CLOCK__REALTIME);
	int r;

	if ((r = batch.be->check(batch.s)) == 0 &&
	    (r = batch.be->begin(batch.s)) == 0 &&
	    (r = batch.be->meta_put(batch.s, "probe_rt_ns", now)) == 0 &&
	    (r = batch.be->commit(batch.s)) == 0) {
		batch.refusing = false;
		batch.errmsg[0] = '\0';
		batch_output_sync();
		log_notice("the store writes again; durable requests resume");
		if (batch.resumed != NULL)
			batch.resumed();
		return;
	}
	batch.be->rollback(batch.s);
	batch_start_refusing(r);
}
