/*
 * test_batch: the group commit of one loop iteration, alone (batch.h):
 * what batch_end says it did for each way a batch can go, that a failed
 * commit makes the store refuse writes until a probe commits, that the
 * probe tells the loop through the resume callback, and that a row error
 * fails one request but not the batch; and, with a store whose commits
 * become durable in a separate flush, that flushes run off the loop one
 * generation at a time, that output is told which generation it waits
 * for, that the loop hears of each only once it ended, and that a failed
 * flush stops the process. The store is the memory backend behind a
 * wrapper that fails its calls on demand (and, as a flushing store,
 * holds each flush until the test lets it end), so nothing here depends
 * on a disk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "batch.h"
#include "store.h"

/* The wrapper: the memory backend, with failures injected. */
static struct {
	const struct store_backend *mem;
	int fail_check, fail_begin, fail_commit, fail_meta;
	int begins, commits, rollbacks;
} fk;

static int
fk_check(struct store *s)
{
	return fk.fail_check != 0 ? fk.fail_check : fk.mem->check(s);
}

static int
fk_begin(struct store *s)
{
	fk.begins++;
	return fk.fail_begin != 0 ? fk.fail_begin : fk.mem->begin(s);
}

static int
fk_commit(struct store *s)
{
	fk.commits++;
	return fk.fail_commit != 0 ? fk.fail_commit : fk.mem->commit(s);
}

static void
fk_rollback(struct store *s)
{
	fk.rollbacks++;
	fk.mem->rollback(s);
}

static int
fk_meta_put(struct store *s, const char *key, int64_t v)
{
	return fk.fail_meta != 0 ? fk.fail_meta : fk.mem->meta_put(s, key, v);
}

/* The flushing store's flush(): runs on batch's sync thread, and ends
 * when the test lets it (gate) or at once (open_gate). */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int started, finished, let; /* flushes begun, ended, allowed */
	bool open_gate;
	int fail;
} fl = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0,
	 false, 0 };

static int
fk_flush(struct store *s)
{
	int r;

	(void)s;
	pthread_mutex_lock(&fl.lock);
	fl.started++;
	pthread_cond_broadcast(&fl.cv);
	while (!fl.open_gate && fl.let < fl.started)
		pthread_cond_wait(&fl.cv, &fl.lock);
	fl.finished++;
	r = fl.fail;
	pthread_mutex_unlock(&fl.lock);
	return r;
}

static bool
fk_flushes(const struct store *s)
{
	(void)s;
	return true;
}

/* Waits (bounded) until n flushes have begun on the sync thread. */
static void
flush_wait_started(int n)
{
	int i;

	for (i = 0; i < 5000; i++) {
		int k;

		pthread_mutex_lock(&fl.lock);
		k = fl.started;
		pthread_mutex_unlock(&fl.lock);
		if (k >= n)
			return;
		usleep(1000);
	}
	fail_msg("flush %d never started", n);
}

/* One of fl's counters, read under its lock (the sync thread writes
 * them). */
static int
fl_get(const int *counter)
{
	int v;

	pthread_mutex_lock(&fl.lock);
	v = *counter;
	pthread_mutex_unlock(&fl.lock);
	return v;
}

/* Lets the running flush end. */
static void
flush_let(void)
{
	pthread_mutex_lock(&fl.lock);
	fl.let++;
	pthread_cond_broadcast(&fl.cv);
	pthread_mutex_unlock(&fl.lock);
}

static struct store_backend fk_backend;
static struct event_base *base;
static struct store *st;
static int resumed;
/* The loop's rebuild at a resume fails this many more times (it then
 * calls batch_refuse, as loop.c does). */
static int rebuild_fails;

static void
on_resume(void)
{
	resumed++;
	if (rebuild_fails > 0) {
		rebuild_fails--;
		batch_refuse(-ENOTCONN);
	}
}

static int
setup(void **state)
{
	struct store_config cfg = { .history_per_timer = 5 };

	(void)state;
	memset(&fk, 0, sizeof fk);
	fk.mem = store_backend_find("memory");
	assert_non_null(fk.mem);
	{
		int (*flush)(struct store *) = fk_backend.flush;
		bool (*flushes)(const struct store *) = fk_backend.flushes;

		fk_backend = *fk.mem;
		fk_backend.flush = flush;
		fk_backend.flushes = flushes;
	}
	fk_backend.check = fk_check;
	fk_backend.begin = fk_begin;
	fk_backend.commit = fk_commit;
	fk_backend.rollback = fk_rollback;
	fk_backend.meta_put = fk_meta_put;
	assert_non_null(base = event_base_new());
	assert_int_equal(fk.mem->open(&cfg, &st), 0);
	resumed = 0;
	rebuild_fails = 0;
	batch_on_resume(on_resume);
	batch_init(base, &fk_backend, st);
	return 0;
}

static int teardown(void **state);

static uint64_t synced_gens[8];
static int nsynced;

static void
on_synced(uint64_t gen)
{
	if (nsynced < 8)
		synced_gens[nsynced] = gen;
	nsynced++;
}

/* As setup, with a store that flushes (store.h: flush()). */
static int
setup_flush(void **state)
{
	pthread_mutex_lock(&fl.lock);
	fl.started = fl.finished = fl.let = 0;
	fl.open_gate = false;
	fl.fail = 0;
	pthread_mutex_unlock(&fl.lock);
	nsynced = 0;
	memset(synced_gens, 0, sizeof synced_gens);
	fk_backend.flush = fk_flush;
	fk_backend.flushes = fk_flushes;
	batch_on_synced(on_synced);
	setup(state);
	return 0;
}

static int
teardown_flush(void **state)
{
	pthread_mutex_lock(&fl.lock);
	fl.open_gate = true; /* batch_shutdown waits for what runs */
	pthread_cond_broadcast(&fl.cv);
	pthread_mutex_unlock(&fl.lock);
	teardown(state);
	fk_backend.flush = NULL;
	fk_backend.flushes = NULL;
	batch_on_synced(NULL);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	batch_shutdown(); /* closes the store */
	event_base_free(base);
	return 0;
}

/* A write in the batch: a meta row, the cheapest the backend has. */
static int
write_one(int64_t v)
{
	struct store *s = batch_store();

	if (s == NULL)
		return -EAGAIN;
	return fk_backend.meta_put(s, "test", v);
}

static void
test_nothing_to_commit(void **state)
{
	(void)state;
	assert_int_equal(batch_end(), BATCH_COMMITTED);
	assert_int_equal(fk.begins, 0);
	assert_int_equal(fk.commits, 0);
}

static void
test_commits_once(void **state)
{
	int64_t v = 0;

	(void)state;
	assert_int_equal(write_one(1), 0);
	assert_int_equal(write_one(2), 0);
	assert_int_equal(batch_end(), BATCH_COMMITTED);
	assert_int_equal(fk.begins, 1);
	assert_int_equal(fk.commits, 1);
	assert_int_equal(fk.mem->meta_get(st, "test", &v), 0);
	assert_int_equal(v, 2);
	assert_string_equal(batch_errmsg(), "");
}

/* A commit that fails loses what memory did (LOST), and writes are
 * refused, with a reason, until a probe commits. */
static void
test_failed_commit_is_lost_then_probed(void **state)
{
	(void)state;
	fk.fail_commit = -ENOSPC;
	assert_int_equal(write_one(1), 0);
	assert_int_equal(batch_end(), BATCH_LOST);
	assert_int_equal(fk.rollbacks >= 1, 1);
	assert_non_null(strstr(batch_errmsg(), "cannot write"));
	assert_null(batch_store());
	assert_non_null(batch_store_ro()); /* reads go on */
	/* Nothing begun while refusing: nothing to undo. */
	assert_int_equal(batch_end(), BATCH_COMMITTED);

	/* The probe (every second) fails while the disk is full... */
	fk.fail_meta = -ENOSPC;
	event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(resumed, 0);
	assert_null(batch_store());
	/* ...and once it commits, writes resume and the loop hears it. */
	fk.fail_meta = 0;
	fk.fail_commit = 0;
	event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(resumed, 1);
	assert_string_equal(batch_errmsg(), "");
	assert_int_equal(write_one(3), 0);
	assert_int_equal(batch_end(), BATCH_COMMITTED);
}

/*
 * The probe commits but the loop cannot rebuild its state from the store
 * (batch_refuse from the resume callback): writes stay refused, with the
 * reason, and the probe runs again and resumes the loop again; once its
 * rebuild succeeds, writes are taken. A batch open when batch_refuse is
 * called is lost.
 */
static void
test_refuse_after_resume_probes_again(void **state)
{
	(void)state;
	fk.fail_commit = -EIO;
	assert_int_equal(write_one(1), 0);
	assert_int_equal(batch_end(), BATCH_LOST);
	fk.fail_commit = 0;
	rebuild_fails = 1;
	event_base_loop(base, EVLOOP_ONCE); /* probe: resumes, refused */
	assert_int_equal(resumed, 1);
	assert_null(batch_store());
	assert_non_null(strstr(batch_errmsg(), "rebuilding"));
	assert_int_equal(batch_end(), BATCH_COMMITTED); /* nothing begun */
	event_base_loop(base, EVLOOP_ONCE); /* probed again: resumes */
	assert_int_equal(resumed, 2);
	assert_string_equal(batch_errmsg(), "");
	assert_int_equal(write_one(2), 0);
	/* Refused with a batch open: it is rolled back. */
	batch_refuse(-ENOTCONN);
	assert_null(batch_store());
	assert_int_equal(batch_end(), BATCH_LOST);
	event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(resumed, 3);
	assert_int_equal(write_one(3), 0);
	assert_int_equal(batch_end(), BATCH_COMMITTED);
}

/* The store refusing before anything was written: REFUSED, memory has
 * nothing to undo. */
static void
test_refused_before_writing(void **state)
{
	(void)state;
	fk.fail_check = -ENOENT; /* the file was deleted under evd */
	assert_int_equal(write_one(1), -EAGAIN);
	assert_int_equal(batch_end(), BATCH_REFUSED);
	assert_int_equal(fk.begins, 0);
	assert_null(batch_store());
}

/* A write failing inside the batch loses the batch: later writes of the
 * iteration are refused, and the end is LOST. */
static void
test_failed_write_loses_batch(void **state)
{
	(void)state;
	assert_int_equal(write_one(1), 0);
	assert_int_equal(batch_write_failed(-EIO), -EIO);
	assert_null(batch_store());
	assert_int_equal(batch_end(), BATCH_LOST);
	assert_int_equal(fk.commits, 0);
}

/* A row error belongs to the request that wrote the row: the batch goes
 * on and commits. */
static void
test_row_error_keeps_batch(void **state)
{
	(void)state;
	assert_int_equal(write_one(1), 0);
	assert_int_equal(batch_write_failed(-EEXIST), -EEXIST);
	assert_non_null(batch_store());
	assert_int_equal(write_one(2), 0);
	assert_int_equal(batch_end(), BATCH_COMMITTED);
	assert_int_equal(fk.commits, 1);
}

/* Without a flushing store nothing ever waits. */
static void
test_no_flush_no_wait(void **state)
{
	(void)state;
	assert_int_equal(write_one(1), 0);
	assert_int_equal(batch_end(), BATCH_COMMITTED);
	assert_int_equal(batch_sync_gen(), 0);
	batch_sync_wait(); /* returns at once */
}

/*
 * The first commit starts flush 1 on the thread, and its output waits
 * for generation 1; a commit while it runs waits for generation 2, which
 * starts only once 1 ended and covers it; output of an iteration that
 * committed nothing waits for the flush running then. The loop hears of
 * each generation once its flush ended, never before.
 */
static void
test_flush_generations(void **state)
{
	(void)state;
	assert_int_equal(batch_sync_gen(), 0); /* nothing committed yet */
	assert_int_equal(write_one(1), 0);
	assert_int_equal(batch_end(), BATCH_COMMITTED);
	assert_int_equal(batch_sync_gen(), 1);
	flush_wait_started(1);

	assert_int_equal(write_one(2), 0);
	assert_int_equal(batch_end(), BATCH_COMMITTED);
	assert_int_equal(batch_sync_gen(), 2);
	assert_int_equal(batch_end(), BATCH_COMMITTED); /* nothing new */
	assert_int_equal(batch_sync_gen(), 2);
	usleep(20000);
	assert_int_equal(fl_get(&fl.started), 1); /* one at a time */
	assert_int_equal(nsynced, 0);

	flush_let();
	assert_int_equal(event_base_loop(base, EVLOOP_ONCE), 0);
	assert_int_equal(nsynced, 1);
	assert_int_equal(synced_gens[0], 1);
	/* Generation 2 started as 1 ended, for the commit that waited. */
	flush_wait_started(2);
	assert_int_equal(batch_sync_gen(), 2);
	assert_int_equal(nsynced, 1);

	flush_let();
	assert_int_equal(event_base_loop(base, EVLOOP_ONCE), 0);
	assert_int_equal(nsynced, 2);
	assert_int_equal(synced_gens[1], 2);
	assert_int_equal(batch_sync_gen(), 0); /* all durable */
	assert_int_equal(fl_get(&fl.started), 2);
}

/* batch_sync_wait blocks until what was committed is durable, starting
 * the flush if none ran, and tells the loop. */
static void
test_sync_wait(void **state)
{
	(void)state;
	pthread_mutex_lock(&fl.lock);
	fl.open_gate = true;
	pthread_mutex_unlock(&fl.lock);
	assert_int_equal(write_one(1), 0);
	assert_int_equal(batch_end(), BATCH_COMMITTED);
	batch_sync_wait();
	assert_int_equal(fl_get(&fl.finished), 1);
	assert_int_equal(nsynced, 1);
	assert_int_equal(synced_gens[0], 1);
	assert_int_equal(batch_sync_gen(), 0);
}

/* A flush that fails stops the process, with status 1, and the loop
 * never hears that the generation is durable. */
static void
test_flush_failure_exits(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	fflush(NULL);
	assert_true((pid = fork()) >= 0);
	if (pid == 0) {
		pthread_mutex_lock(&fl.lock);
		fl.open_gate = true;
		fl.fail = -EIO;
		pthread_mutex_unlock(&fl.lock);
		/* Forked with no thread running (a fork of a threaded
		 * process cannot start threads under ThreadSanitizer): the
		 * flushing store, and its sync thread, start here. */
		fk_backend.flush = fk_flush;
		fk_backend.flushes = fk_flushes;
		batch_on_synced(on_synced);
		batch_init(base, &fk_backend, st);
		if (write_one(1) != 0 || batch_end() != BATCH_COMMITTED)
			_exit(3);
		batch_sync_wait();
		_exit(nsynced == 0 ? 0 : 2); /* must not get here */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_nothing_to_commit),
	    T(test_commits_once),
	    T(test_failed_commit_is_lost_then_probed),
	    T(test_refuse_after_resume_probes_again),
	    T(test_refused_before_writing),
	    T(test_failed_write_loses_batch),
	    T(test_row_error_keeps_batch),
	    T(test_no_flush_no_wait),
#define TF(fn) cmocka_unit_test_setup_teardown(fn, setup_flush, teardown_flush)
	    TF(test_flush_generations),
	    TF(test_sync_wait),
#undef TF
	    T(test_flush_failure_exits),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
