/*
 * batch: one store transaction per loop iteration, and recovery when a
 * commit fails (see batch.h).
 *
 * Owns the store handle. Logs store failures (a boundary module): the
 * operator must learn that the disk is full even if no client asks.
 */
#include "batch.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/eventfd.h>

#include <event2/event.h>

#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "quota.h"
#include "store.h"
#include "storeq.h"

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
	void (*synced)(uint64_t gen);
	struct batch_syncer *syncer; /* a store with flush(): its thread */
	bool inline_flush; /* ...which could not start: flush in batch_end */
	/* A threaded store's operation log (storeq.h; be and s are then
	 * its wrapper): the sync thread runs each batch's writes and
	 * commit before its flush. */
	struct store *q;
	const struct store_backend *inner_be;
	struct store *inner_s;
	uint64_t seq;      /* batches ended, this one's number */
	uint64_t lost;     /* batches the last batch_end lost */
	bool log_failed;   /* the log's failure was handled; until resumed */
	uint64_t release;  /* a flush ended with a failure not handled yet */
} batch;

/* The store's flush(), timed for evd_store_flush_seconds. */
static int
timed_flush(const struct store_backend *be, struct store *s)
{
	int64_t start_ns = clock_now_ns(EVD_CLOCK_MONOTONIC);
	int r = be->flush(s);

	metrics_observe_flush(clock_now_ns(EVD_CLOCK_MONOTONIC) - start_ns);
	return r;
}

/*
 * The sync thread: runs the store's flush() for generation req while the
 * loop goes on, then says so through efd. Generations number flushes;
 * each covers every commit made before it started. lock guards req, done,
 * err and quit; the loop fields below them are the loop's alone.
 */
struct batch_syncer {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;   /* the thread: work, or quit */
	pthread_cond_t done_cv;/* the loop: a flush ended (batch_sync_wait) */
	uint64_t req, done;
	int err;
	bool quit;
	int efd;
	struct event *ev;
	/* The loop's: the generation started last and the last one it
	 * saw end; whether something was committed since the last start. */
	uint64_t started, synced;
	bool dirty;
	const struct store_backend *be;
	struct store *s;
	struct store *q; /* an operation log to run first, or NULL */
};

static void batch_probe_cb(evutil_socket_t, short, void *);
static void batch_sync_cb(evutil_socket_t, short, void *);

/*
 * A flush that failed: what was committed may not be on disk, and the
 * kernel may have dropped the pages it could not write, so a retry that
 * succeeds proves nothing (PostgreSQL's fsync lesson, 2018). No reply
 * said any of it was durable: stopping lets the next start recover what
 * the disk holds.
 */
static void __attribute__((noreturn))
batch_flush_failed(int err)
{
	log_errx("the store cannot make its commits durable: %s; evd stops, "
	         "and its next start recovers what is on disk (no client "
	         "was told that what is missing was stored)",
	         strerror(-err));
	_exit(EXIT_FAILURE);
}

static void *
batch_sync_main(void *arg)
{
	struct batch_syncer *y = arg;
	uint64_t one = 1, g;
	int r;

	pthread_mutex_lock(&y->lock);
	for (;;) {
		while (y->req == y->done && !y->quit)
			pthread_cond_wait(&y->wake, &y->lock);
		if (y->req == y->done)
			break;
		g = y->req;
		pthread_mutex_unlock(&y->lock);
		if (y->q != NULL)
			storeq_wait(y->q);
		r = timed_flush(y->be, y->s);
		pthread_mutex_lock(&y->lock);
		y->done = g;
		y->err = r;
		pthread_cond_broadcast(&y->done_cv);
		/* A full counter (never, at one write per flush) only
		 * means the loop is woken already. */
		(void)!write(y->efd, &one, sizeof one);
	}
	pthread_mutex_unlock(&y->lock);
	return NULL;
}

/* Starts the next flush, covering everything committed so far. */
static void
batch_sync_start(struct batch_syncer *y)
{
	y->started++;
	y->dirty = false;
	pthread_mutex_lock(&y->lock);
	y->req = y->started;
	pthread_cond_signal(&y->wake);
	pthread_mutex_unlock(&y->lock);
}

/* Takes in what the sync thread finished, starts what waits, and tells
 * the loop what is durable now. */
static void
batch_sync_take(struct batch_syncer *y)
{
	uint64_t done, fseq;
	const char *step;
	int err;

	pthread_mutex_lock(&y->lock);
	done = y->done;
	err = y->err;
	pthread_mutex_unlock(&y->lock);
	if (done == y->synced)
		return;
	if (err < 0)
		batch_flush_failed(err);
	y->synced = done;
	if (y->dirty)
		batch_sync_start(y);
	if (batch.q != NULL && !batch.log_failed &&
	    storeq_failed(batch.q, &fseq, &err, &step)) {
		/* Output of the lost batches waits for this flush: it goes
		 * once batch_end lost them and the loop rewrote it. */
		batch.release = done;
		return;
	}
	if (batch.synced != NULL)
		batch.synced(done);
}

static void
batch_sync_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	(void)!read(fd, &n, sizeof n);
	batch_sync_take(arg);
}

/* Hands flushes of s to a thread of their own; NULL if it cannot be
 * started (then batch_end flushes inline: slower, as safe). */
static struct batch_syncer *
batch_syncer_new(struct event_base *base, const struct store_backend *be,
                 struct store *s)
{
	struct batch_syncer *y = calloc(1, sizeof *y);
	sigset_t all, old;
	int r;

	if (y == NULL)
		return NULL;
	y->be = be;
	y->s = s;
	y->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (y->efd < 0)
		goto fail;
	y->ev = event_new(base, y->efd, EV_READ | EV_PERSIST, batch_sync_cb,
	                  y);
	if (y->ev == NULL || event_add(y->ev, NULL) < 0)
		goto fail;
	pthread_mutex_init(&y->lock, NULL);
	pthread_cond_init(&y->wake, NULL);
	pthread_cond_init(&y->done_cv, NULL);
	/* Signals are the loop's (libevent's signal events). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&y->thread, NULL, batch_sync_main, y);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0)
		return y;
	pthread_cond_destroy(&y->done_cv);
	pthread_cond_destroy(&y->wake);
	pthread_mutex_destroy(&y->lock);
fail:
	log_warnx("cannot start the store's sync thread: %s; commits sync "
	          "on the loop instead", strerror(errno));
	if (y->ev != NULL)
		event_free(y->ev);
	if (y->efd >= 0)
		close(y->efd);
	free(y);
	return NULL;
}

static void
batch_syncer_free(struct batch_syncer *y)
{
	if (y == NULL)
		return;
	pthread_mutex_lock(&y->lock);
	y->quit = true;
	pthread_cond_signal(&y->wake);
	pthread_mutex_unlock(&y->lock);
	pthread_join(y->thread, NULL);
	pthread_cond_destroy(&y->done_cv);
	pthread_cond_destroy(&y->wake);
	pthread_mutex_destroy(&y->lock);
	event_free(y->ev);
	close(y->efd);
	free(y);
}

uint64_t
batch_sync_gen(void)
{
	struct batch_syncer *y = batch.syncer;

	if (y == NULL)
		return 0;
	if (batch.release != 0 && batch.log_failed) {
		uint64_t g = batch.release;

		batch.release = 0;
		if (batch.synced != NULL)
			batch.synced(g);
	}
	if (y->dirty && y->started == y->synced)
		batch_sync_start(y);
	if (y->dirty)
		return y->started + 1; /* starts when the running one ends */
	return y->started != y->synced ? y->started : 0;
}

void
batch_sync_wait(void)
{
	struct batch_syncer *y = batch.syncer;

	if (y == NULL)
		return;
	while (y->dirty || y->started != y->synced) {
		if (y->started == y->synced)
			batch_sync_start(y);
		pthread_mutex_lock(&y->lock);
		while (y->done != y->started)
			pthread_cond_wait(&y->done_cv, &y->lock);
		pthread_mutex_unlock(&y->lock);
		batch_sync_take(y);
	}
}

void
batch_on_synced(void (*fn)(uint64_t gen))
{
	batch.synced = fn;
}

/* A commit went in: it is durable once a flush started after it ends. */
static void
batch_committed(void)
{
	int r;

	if (batch.syncer != NULL)
		batch.syncer->dirty = true;
	else if (batch.inline_flush &&
	         (r = timed_flush(batch.inner_be, batch.inner_s)) < 0)
		batch_flush_failed(r);
}

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
	void (*synced)(uint64_t) = batch.synced;

	memset(&batch, 0, sizeof batch);
	batch.base = base;
	batch.be = be;
	batch.s = s;
	batch.resumed = resumed;
	batch.synced = synced;
	batch.inner_be = be;
	batch.inner_s = s;
	if (s != NULL && be->flush != NULL && be->flushes(s)) {
		batch.syncer = batch_syncer_new(base, be, s);
		batch.inline_flush = batch.syncer == NULL;
		/* Only with the thread: a commit on the loop must be seen
		 * to fail before its output goes (batch_end). The thread
		 * reads y->q only after a request, made under y->lock. */
		if (batch.syncer != NULL && be->threaded != NULL &&
		    be->threaded(s) &&
		    storeq_wrap(be, s, &batch.be, &batch.s) == 0) {
			batch.q = batch.s;
			batch.syncer->q = batch.q;
		}
	}
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
	batch_sync_wait();
	if (batch.release != 0)
		/* Lost on the store's thread at the last moment: nobody was
		 * told they were stored, and nobody will be answered. */
		log_warnx("%s; evd stops without answering the requests of "
		          "the batches lost", batch_errmsg()[0] != '\0'
		                                  ? batch_errmsg()
		                                  : "the store failed");
	batch_syncer_free(batch.syncer);
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

void
batch_refuse(int err)
{
	if (batch.s == NULL)
		return;
	batch_set_error("rebuilding from the store", err);
	if (batch.open && !batch.failed) {
		batch.failed = true; /* batch_end rolls it back */
		batch.fail_err = err;
	}
	batch_start_refusing(err);
}

/*
 * A batch of the log failed on the sync thread (or in a read that ran
 * the log on the loop): it and every batch after it, this one included,
 * are lost. Their output still waits for a flush, so the loop can turn
 * their durable replies into errors before anyone saw them.
 */
static bool
batch_log_failed(uint64_t seq)
{
	const char *step;
	uint64_t fseq;
	int err;

	if (batch.q == NULL || batch.log_failed ||
	    !storeq_failed(batch.q, &fseq, &err, &step))
		return false;
	batch.log_failed = true;
	if (batch.open || batch.failed)
		batch.be->rollback(batch.s);
	batch.open = false;
	batch.failed = false;
	batch_set_error(step, err);
	batch_start_refusing(err);
	/* 0: the current batch, whose writes a read had run. */
	batch.lost = fseq == 0 || fseq > seq ? 1 : seq - fseq + 1;
	return true;
}

enum batch_outcome
batch_end(void)
{
	uint64_t seq = ++batch.seq;
	bool wrote;
	int r;

	batch.lost = 0;
	if (batch_log_failed(seq))
		return BATCH_LOST;
	if (!batch.open && !batch.failed)
		return BATCH_COMMITTED;
	if (batch.failed) {
		if (batch.open)
			batch.be->rollback(batch.s);
		r = batch.fail_err;
	} else if (batch.q != NULL) {
		/* Committed on the sync thread, before the flush that this
		 * batch's output waits for. */
		storeq_publish(batch.q, seq);
		r = 0;
	} else {
		int64_t start_ns = clock_now_ns(EVD_CLOCK_MONOTONIC);

		r = batch.be->commit(batch.s);
		metrics_observe_commit(clock_now_ns(EVD_CLOCK_MONOTONIC) -
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
		if (wrote)
			batch_committed();
		batch_output_sync();
		/* A batch lost to a claim (below) left its reason for its
		 * own replies only. */
		if (!batch.refusing)
			batch.errmsg[0] = '\0';
		return BATCH_COMMITTED;
	}
	if (r == -ESTALE && wrote && !batch.refusing) {
		/* A cluster node's pipelined fire found its claim gone at
		 * the commit (store.h, fence_losses): the store is fine,
		 * only this batch is lost. Rebuilt from the store (loop.c),
		 * without refusing writes meanwhile. */
		snprintf(batch.errmsg, sizeof batch.errmsg,
		         "a timer this node fired was claimed by another "
		         "node; the requests of that moment were rolled "
		         "back: try again");
		log_info("store: %s", batch.be->errmsg(batch.s));
		batch.lost = 1;
		return BATCH_LOST;
	}
	batch_start_refusing(r);
	/* Memory changes only after a write into an open batch: if none
	 * was begun, there is nothing to undo. */
	batch.lost = 1;
	return wrote ? BATCH_LOST : BATCH_REFUSED;
}

uint64_t
batch_lost(void)
{
	return batch.lost;
}

static void
batch_probe_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = clock_now_ns(EVD_CLOCK_REALTIME);
	const struct store_backend *be = batch.be;
	struct store *s = batch.s;
	int r;

	/* With a log, straight to the store: the log is failed and empty,
	 * and this commit's result is needed now. */
	if (batch.q != NULL) {
		const char *step;
		uint64_t fseq;

		s = storeq_direct(batch.q, &be);
		if (!batch.log_failed &&
		    storeq_failed(batch.q, &fseq, &r, &step)) {
			/* A batch of the log failed just now: batch_end
			 * hands it to the loop first. */
			storeq_direct_end(batch.q);
			batch_start_refusing(r);
			return;
		}
	}
	if ((r = be->check(s)) == 0 && (r = be->begin(s)) == 0 &&
	    (r = be->meta_put(s, "probe_rt_ns", now)) == 0 &&
	    (r = be->commit(s)) == 0) {
		if (batch.q != NULL) {
			storeq_resume(batch.q);
			storeq_direct_end(batch.q);
			batch.log_failed = false;
		}
		batch_committed();
		batch.refusing = false;
		batch.errmsg[0] = '\0';
		batch_output_sync();
		log_notice("the store writes again; durable requests resume");
		if (batch.resumed != NULL)
			batch.resumed();
		return;
	}
	if (r < 0 && batch.q != NULL) {
		/* The wrapper's errmsg() says why from now on. */
		be->rollback(s);
		storeq_direct_end(batch.q);
		batch_start_refusing(r);
		return;
	}
	batch.be->rollback(batch.s);
	batch_start_refusing(r);
}
