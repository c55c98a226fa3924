/*
 * Unit tests of the store's operation log (daemon/storeq.c) over a real
 * SQLite store in a fresh directory: logged writes run on another thread
 * and commit there, reads see every write logged before them, a write
 * the store refuses fails its batch and every later one (and nothing
 * before), the writes whose answer the daemon needs answer at once, and
 * the log stays bounded. ThreadSanitizer runs it (label threads).
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "store.h"
#include "storeq.h"

struct fx {
	char dir[64];
	struct store_config cfg;
	const struct store_backend *be; /* the wrapper */
	struct store *q;
};

static const struct store_backend *const sqlite_be = &store_sqlite_backend;

static void
fx_open(struct fx *f)
{
	struct store *s;

	assert_int_equal(sqlite_be->open(&f->cfg, &s), 0);
	assert_int_equal(storeq_wrap(sqlite_be, s, &f->be, &f->q), 0);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_storeq.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->cfg.state_dir = f->dir;
	f->cfg.sync_full = true;
	f->cfg.history_per_timer = 3;
	fx_open(f);
	*state = f;
	return 0;
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	if (f->q != NULL)
		f->be->close(f->q);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
timer_of(struct store_timer *t, uint64_t id, const char *key,
         const void *payload, size_t len)
{
	memset(t, 0, sizeof *t);
	t->id = id;
	t->uid = 1000;
	t->gid = 1000;
	t->clock = EVD_CLOCK_REALTIME;
	t->deadline_ns = clock_now_ns(EVD_CLOCK_REALTIME) + INT64_C(3600) *
	                                                     1000000000;
	t->due_rt_ns = t->deadline_ns;
	t->created_rt_ns = clock_now_ns(EVD_CLOCK_REALTIME);
	t->channel = "jobs";
	t->key = key;
	t->payload = payload;
	t->payload_len = len;
}

/* Logs a schedule of id; the row's strings are the caller's stack. */
static void
log_schedule(struct fx *f, uint64_t id)
{
	char payload[32];
	struct store_timer t;

	snprintf(payload, sizeof payload, "payload %llu",
	         (unsigned long long)id);
	timer_of(&t, id, NULL, payload, strlen(payload));
	assert_int_equal(f->be->schedule(f->q, &t), 0);
	/* The log keeps its own copy. */
	memset(payload, 'X', sizeof payload);
}

static int
found_cb(const struct store_timer *t, void *arg)
{
	char *out = arg;

	snprintf(out, 64, "%.*s", (int)t->payload_len,
	         (const char *)t->payload);
	return 0;
}

/* 0 with the payload in out, or -ENOENT. */
static int
get(struct fx *f, uint64_t id, char *out)
{
	out[0] = '\0';
	return f->be->get_timer(f->q, id, found_cb, out);
}

/* What was published has run, on the wrapper's executor thread. */
static void
wait_run(struct fx *f)
{
	storeq_wait(f->q);
}

static void
test_log_commits_on_another_thread(void **state)
{
	struct fx *f = *state;
	char out[64];
	uint64_t seq;
	const char *step;
	int err;

	log_schedule(f, 1);
	log_schedule(f, 2);
	storeq_publish(f->q, 1);
	log_schedule(f, 3);
	storeq_publish(f->q, 2);
	wait_run(f);
	assert_false(storeq_failed(f->q, &seq, &err, &step));
	/* Nothing left: a run on this thread commits nothing. */
	assert_false(storeq_execute(f->q));

	/* Committed: another open of the store has all three, with the
	 * payloads as they were when logged. */
	f->be->close(f->q);
	fx_open(f);
	assert_int_equal(get(f, 1, out), 0);
	assert_string_equal(out, "payload 1");
	assert_int_equal(get(f, 2, out), 0);
	assert_int_equal(get(f, 3, out), 0);
	assert_string_equal(out, "payload 3");
}

static void
test_reads_see_what_was_logged(void **state)
{
	struct fx *f = *state;
	char out[64];

	log_schedule(f, 1);
	storeq_publish(f->q, 1);
	/* Published, not run by the executor yet; and the current batch's
	 * own write, not published at all. */
	log_schedule(f, 2);
	assert_int_equal(get(f, 1, out), 0);
	assert_int_equal(get(f, 2, out), 0);
	assert_string_equal(out, "payload 2");

	/* Its batch rolled back: gone; the one before stays. */
	f->be->rollback(f->q);
	assert_int_equal(get(f, 2, out), -ENOENT);
	assert_int_equal(get(f, 1, out), 0);

	/* A batch begun by a read is finished by the executor. */
	log_schedule(f, 3);
	assert_int_equal(get(f, 3, out), 0);
	log_schedule(f, 4);
	storeq_publish(f->q, 2);
	wait_run(f);
	f->be->close(f->q);
	fx_open(f);
	assert_int_equal(get(f, 3, out), 0);
	assert_int_equal(get(f, 4, out), 0);
	assert_int_equal(get(f, 2, out), -ENOENT);
}

static void
test_failed_write_loses_its_batch_and_later_ones(void **state)
{
	struct fx *f = *state;
	char out[64];
	const char *step;
	uint64_t seq;
	int err;

	log_schedule(f, 10);
	storeq_publish(f->q, 1);
	wait_run(f); /* committed alone: see the test below for together */
	/* A taken id: the store refuses the row, on the executor. */
	log_schedule(f, 11);
	log_schedule(f, 10);
	storeq_publish(f->q, 2);
	log_schedule(f, 12);
	storeq_publish(f->q, 3);
	wait_run(f);
	assert_true(storeq_failed(f->q, &seq, &err, &step));
	assert_int_equal(seq, 2);
	assert_int_equal(err, -EEXIST);
	assert_string_equal(step, "write");
	assert_non_null(strstr(f->be->errmsg(f->q), "10"));
	/* The wrapper reports the failure where a batch begins. */
	assert_int_equal(f->be->check(f->q), -EEXIST);

	assert_int_equal(get(f, 10, out), 0);
	assert_int_equal(get(f, 11, out), -ENOENT);
	assert_int_equal(get(f, 12, out), -ENOENT);

	/* Failed: writes are dropped until it resumes. */
	log_schedule(f, 13);
	storeq_publish(f->q, 4);
	wait_run(f);
	assert_int_equal(get(f, 13, out), -ENOENT);
	storeq_resume(f->q);
	assert_false(storeq_failed(f->q, &seq, &err, &step));
	assert_int_equal(f->be->check(f->q), 0);
	log_schedule(f, 14);
	storeq_publish(f->q, 5);
	wait_run(f);
	assert_int_equal(get(f, 14, out), 0);
}

/*
 * Batches queued behind a running commit are committed together; when
 * that transaction fails, the failure names its first batch, so the
 * daemon counts lost exactly what the store does not hold.
 */
static void
test_queued_batches_commit_together(void **state)
{
	struct fx *f = *state;
	const struct store_backend *be;
	char out[64];
	const char *step;
	uint64_t seq;
	int err;

	log_schedule(f, 60);
	storeq_publish(f->q, 1);
	wait_run(f);
	/* The loop holds the store (as a commit would): what is published
	 * meanwhile queues, and the executor takes it as one list. */
	(void)storeq_direct(f->q, &be);
	log_schedule(f, 61);
	storeq_publish(f->q, 2);
	log_schedule(f, 62);
	log_schedule(f, 60); /* taken: refused */
	storeq_publish(f->q, 3);
	storeq_direct_end(f->q);
	wait_run(f);
	assert_true(storeq_failed(f->q, &seq, &err, &step));
	assert_int_equal(seq, 2);
	assert_int_equal(err, -EEXIST);
	assert_int_equal(get(f, 60, out), 0);
	assert_int_equal(get(f, 61, out), -ENOENT);
	assert_int_equal(get(f, 62, out), -ENOENT);
	storeq_resume(f->q);

	/* Without a failure, both batches of a list are in the store. */
	(void)storeq_direct(f->q, &be);
	log_schedule(f, 63);
	storeq_publish(f->q, 4);
	log_schedule(f, 64);
	storeq_publish(f->q, 5);
	storeq_direct_end(f->q);
	wait_run(f);
	assert_false(storeq_failed(f->q, &seq, &err, &step));
	f->be->close(f->q);
	fx_open(f);
	assert_int_equal(get(f, 63, out), 0);
	assert_int_equal(get(f, 64, out), 0);
}

static void
test_failure_in_a_read_names_the_current_batch(void **state)
{
	struct fx *f = *state;
	char out[64];
	const char *step;
	uint64_t seq;
	int err;

	log_schedule(f, 20);
	storeq_publish(f->q, 7);
	log_schedule(f, 20); /* taken by the batch before */
	assert_int_equal(get(f, 20, out), 0);
	assert_true(storeq_failed(f->q, &seq, &err, &step));
	assert_int_equal(seq, 0); /* the current one */
	f->be->rollback(f->q);
	storeq_resume(f->q);
	/* Batch 7 committed (on the reading thread). */
	f->be->close(f->q);
	fx_open(f);
	assert_int_equal(get(f, 20, out), 0);
}

static void
test_answers_needed_now(void **state)
{
	struct fx *f = *state;
	struct store_timer t;
	char out[64];
	const char *step;
	uint64_t seq;
	int err;

	/* A key: its row error belongs to its one request, at once. */
	timer_of(&t, 30, "job-42", "a", 1);
	assert_int_equal(f->be->schedule(f->q, &t), 0);
	timer_of(&t, 31, "job-42", "b", 1);
	assert_int_equal(f->be->schedule(f->q, &t), -EEXIST);
	assert_non_null(strstr(f->be->errmsg(f->q), "key"));
	/* revive answers -ENOENT for a timer that is not finished. */
	timer_of(&t, 32, NULL, "c", 1);
	assert_int_equal(f->be->revive(f->q, &t), -ENOENT);
	/* The batch goes on: nothing failed. */
	log_schedule(f, 33);
	storeq_publish(f->q, 1);
	wait_run(f);
	assert_false(storeq_failed(f->q, &seq, &err, &step));
	assert_int_equal(get(f, 30, out), 0);
	assert_int_equal(get(f, 31, out), -ENOENT);
	assert_int_equal(get(f, 33, out), 0);
}

static void
test_already_gone_is_done(void **state)
{
	struct fx *f = *state;
	const char *step;
	uint64_t seq;
	int err;

	/* Cancel and ack of what is not there: the daemon counts them
	 * done (a message acked twice, a timer that fired meanwhile). */
	assert_int_equal(f->be->cancel(f->q, 999), 0);
	assert_int_equal(f->be->ack(f->q, 999), 0);
	log_schedule(f, 40);
	assert_int_equal(f->be->cancel(f->q, 40), 0);
	storeq_publish(f->q, 1);
	wait_run(f);
	assert_false(storeq_failed(f->q, &seq, &err, &step));
}

static void
test_log_is_bounded(void **state)
{
	struct fx *f = *state;
	size_t len = (size_t)1 << 20, n = 0, i;
	struct store_timer t;
	char *payload = malloc(len), out[64];
	const char *step;
	uint64_t seq;
	int err;

	assert_non_null(payload);
	memset(payload, 'p', len);
	/* Past the bound, publishing runs the log where it is. */
	for (i = 0; n <= STOREQ_MAX_BYTES / len + 1; i++, n++) {
		timer_of(&t, 100 + i, NULL, payload, len);
		assert_int_equal(f->be->schedule(f->q, &t), 0);
	}
	free(payload);
	storeq_publish(f->q, 1);
	/* Run inline or by the executor: nothing is left. */
	assert_false(storeq_execute(f->q));
	assert_false(storeq_failed(f->q, &seq, &err, &step));
	assert_int_equal(get(f, 100, out), 0);
	assert_int_equal(get(f, 100 + n - 1, out), 0);
}

static atomic_bool waited;

static void *
wait_main(void *arg)
{
	storeq_wait(arg);
	atomic_store(&waited, true);
	return NULL;
}

/*
 * The sync thread's wait is for the batches published before it, run
 * and committed by whoever ran them: one the loop ran itself (a read ran
 * the log; here storeq_direct) counts once committed, and a batch
 * published and not run yet holds the wait back, or the flush after it
 * could miss commits its replies wait for. Batches published after the
 * wait began do not hold it (under steady load they never stop coming).
 */
static void
test_wait_covers_the_loops_run(void **state)
{
	struct fx *f = *state;
	const struct store_backend *be;
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	pthread_t th;

	log_schedule(f, 50);
	storeq_publish(f->q, 1);
	/* Run and committed here, on the loop, if the executor had not. */
	(void)storeq_direct(f->q, &be);
	atomic_store(&waited, false);
	assert_int_equal(pthread_create(&th, NULL, wait_main, f->q), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(atomic_load(&waited));

	/* Published while the loop holds the store: not run, waited for. */
	log_schedule(f, 51);
	storeq_publish(f->q, 2);
	atomic_store(&waited, false);
	assert_int_equal(pthread_create(&th, NULL, wait_main, f->q), 0);
	nanosleep(&ts, NULL);
	assert_false(atomic_load(&waited));
	/* A later batch does not extend the wait. */
	log_schedule(f, 52);
	storeq_publish(f->q, 3);
	storeq_direct_end(f->q);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(atomic_load(&waited));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_log_commits_on_another_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_see_what_was_logged,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_failed_write_loses_its_batch_and_later_ones, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_queued_batches_commit_together, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_failure_in_a_read_names_the_current_batch, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_answers_needed_now, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_already_gone_is_done,
		                                setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_is_bounded, setup,
		                                teardown),
		cmocka_unit_test_setup_teardown(test_wait_covers_the_loops_run,
		                                setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
