/*
 * test_sync: durability off the loop thread, against the real evd with
 * its default store (SQLite, --sync full). The commit of a batch only
 * writes the WAL; a thread fsyncs it while the loop goes on, and what a
 * client sees waits for that (batch.h). A shim (syncfault.c, preloaded
 * into evd) slows or fails the fsync of evd.db-wal to show it:
 *
 *   - a reply never arrives before the flush of its batch ended: with
 *     each flush slowed to FLUSH_MS, no Scheduled comes sooner, and every
 *     one of a pipelined burst keeps its order;
 *   - a hook does not start before the fire that started it is durable
 *     (a machine crash must not undo a fire whose hook ran);
 *   - a flush that fails stops evd with status 1 before the reply of
 *     what it covered: the client sees no Scheduled, only the end of the
 *     connection; a restart starts and has every timer acknowledged
 *     before.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#ifndef SYNCFAULT_SO
#error "SYNCFAULT_SO must name the shim"
#endif

#define SEC 1000000000LL
#define FLUSH_MS 300

static uint64_t next_req = 1;
static char ctl[PATH_MAX];

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the shim does from now on ("delay MS", "fail"; NULL: nothing). */
static void
fault(const char *what)
{
	FILE *f;

	if (what == NULL) {
		(void)unlink(ctl);
		return;
	}
	assert_non_null(f = fopen(ctl, "w"));
	fprintf(f, "%s\n", what);
	assert_int_equal(fclose(f), 0);
}

/* Starts evd with the shim preloaded (and only evd). */
static void
start(struct evd_proc *p, bool again)
{
	const char *asan = getenv("ASAN_OPTIONS");
	char *saved = asan != NULL ? strdup(asan) : NULL;
	char opts[1024];

	snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0",
	         asan != NULL ? asan : "", asan != NULL ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
	setenv("LD_PRELOAD", SYNCFAULT_SO, 1);
	setenv("EVD_SYNCFAULT", ctl, 1);
	assert_int_equal(again ? evd_start_in(p, NULL) : evd_start(p, NULL),
	                 0);
	unsetenv("LD_PRELOAD");
	unsetenv("EVD_SYNCFAULT");
	if (saved != NULL) {
		setenv("ASAN_OPTIONS", saved, 1);
		free(saved);
	} else
		unsetenv("ASAN_OPTIONS");
}

static int
greet(struct evd_proc *p)
{
	int fd = raw_connect(p->sock);

	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, next_req++), 0);
	return fd;
}

/* Appends n durable channel CallLaters to one write; their request ids
 * are first..first+n-1. */
static uint64_t
send_many(int fd, size_t n)
{
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, i;
	uint64_t first = next_req;

	cl.has_delay_ns = 1;
	cl.delay_ns = 3600 * SEC;
	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = "sync";
	cl.callback = &cb;
	for (i = 0; i < n; i++) {
		Evd__Request rq = EVD__REQUEST__INIT;

		rq.has_request_id = 1;
		rq.request_id = next_req++;
		rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
		rq.call_later = &cl;
		assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	}
	assert_int_equal(raw_write(fd, buf, len), 0);
	free(buf);
	return first;
}

/* How many pending timers the daemon lists (page by page). */
static size_t
count_timers(struct evd_proc *p)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__List l = EVD__LIST__INIT;
	uint64_t after = 0;
	size_t n = 0;
	int fd = greet(p);

	rq.body_case = EVD__REQUEST__BODY_LIST;
	rq.list = &l;
	for (;;) {
		Evd__Reply *r;
		bool more;

		l.has_after_id = after != 0;
		l.after_id = after;
		rq.has_request_id = 1;
		rq.request_id = next_req++;
		assert_non_null(r = raw_call(fd, &rq, 10000));
		assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER_LIST);
		n += r->timer_list->n_timers;
		more = r->timer_list->has_next_after_id &&
		       r->timer_list->next_after_id != 0;
		after = r->timer_list->next_after_id;
		evd__reply__free_unpacked(r, NULL);
		if (!more)
			break;
	}
	close(fd);
	return n;
}

static void
test_reply_waits_for_flush(void **state)
{
	struct evd_proc p;
	char what[32];
	uint64_t first;
	int64_t t0;
	int fd, i;

	(void)state;
	start(&p, false);
	fd = greet(&p);
	snprintf(what, sizeof what, "delay %d", FLUSH_MS);
	fault(what);
	for (i = 0; i < 3; i++) {
		Evd__Reply *r;

		t0 = now_ms();
		first = send_many(fd, 1);
		assert_non_null(r = raw_recv_reply(fd, 10000));
		/* Its batch's flush took FLUSH_MS at least. */
		assert_true(now_ms() - t0 >= FLUSH_MS - 10);
		assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
		assert_int_equal(r->request_id, first);
		evd__reply__free_unpacked(r, NULL);
	}
	/* A burst over several batches and flushes: all answered, in
	 * order. */
	first = send_many(fd, 2000);
	for (i = 0; i < 2000; i++) {
		Evd__Reply *r = raw_recv_reply(fd, 20000);

		assert_non_null(r);
		assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
		assert_int_equal(r->request_id, first + (uint64_t)i);
		evd__reply__free_unpacked(r, NULL);
	}
	fault(NULL);
	close(fd);
	assert_int_equal(count_timers(&p), 2003);
	assert_int_equal(evd_stop(&p), 0);
}

static int64_t
realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void
test_hook_waits_for_flush(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Exec x = EVD__EXEC__INIT;
	char out[PATH_MAX + 16], cmd[3 * PATH_MAX + 128], *argv[3];
	char buf[64] = "";
	struct evd_proc p;
	int64_t t0, started = 0;
	Evd__Reply *r;
	FILE *f;
	int fd, i;

	(void)state;
	start(&p, false);
	snprintf(out, sizeof out, "%s/started", p.dir);
	snprintf(cmd, sizeof cmd, "date +%%s%%N > %s.tmp && mv %s.tmp %s",
	         out, out, out);
	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = cmd;
	x.n_argv = 3;
	x.argv = argv;
	cb.target_case = EVD__CALLBACK__TARGET_EXEC;
	cb.exec = &x;
	cl.has_delay_ns = 1;
	cl.delay_ns = 0;
	cl.callback = &cb;
	rq.has_request_id = 1;
	rq.request_id = next_req++;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	fd = greet(&p);
	{
		char what[32];

		snprintf(what, sizeof what, "delay %d", 2 * FLUSH_MS);
		fault(what);
	}
	t0 = realtime_ns();
	assert_non_null(r = raw_call(fd, &rq, 10000));
	if (r->body_case == EVD__REPLY__BODY_ERROR) {
		printf("SKIP: hooks cannot run here: %s\n", r->error->message);
		evd__reply__free_unpacked(r, NULL);
		fault(NULL);
		close(fd);
		evd_stop(&p);
		skip();
	}
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	evd__reply__free_unpacked(r, NULL);
	for (i = 0; i < 200 && (f = fopen(out, "r")) == NULL; i++)
		usleep(50000);
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof buf, f));
	fclose(f);
	started = strtoll(buf, NULL, 10);
	/* The fire's batch was flushed (2 * FLUSH_MS at least) before the
	 * hook ran. */
	assert_true(started - t0 >= (int64_t)(2 * FLUSH_MS - 20) * 1000000);
	fault(NULL);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

static void
test_failed_flush_stops_before_reply(void **state)
{
	struct evd_proc p;
	Evd__Reply *r;
	int fd;

	(void)state;
	start(&p, false);
	fd = greet(&p);
	send_many(fd, 5);
	for (int i = 0; i < 5; i++) {
		assert_non_null(r = raw_recv_reply(fd, 10000));
		assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
		evd__reply__free_unpacked(r, NULL);
	}
	fault("fail");
	send_many(fd, 1);
	/* No Scheduled: the connection ends with evd. */
	while ((r = raw_recv_reply(fd, 10000)) != NULL) {
		assert_int_not_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
		evd__reply__free_unpacked(r, NULL);
	}
	close(fd);
	assert_int_equal(evd_wait_exit(&p), 1);
	fault(NULL);
	/* The five acknowledged are there; the sixth may be too (it was
	 * committed, only its flush failed), but nobody was told so. */
	start(&p, true);
	assert_true(count_timers(&p) >= 5);
	assert_int_equal(evd_stop(&p), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_waits_for_flush),
		cmocka_unit_test(test_hook_waits_for_flush),
		cmocka_unit_test(test_failed_flush_stops_before_reply),
	};
	const char *tmp = getenv("TMPDIR");

	snprintf(ctl, sizeof ctl, "%s/evd-syncfault-%ld",
	         tmp != NULL ? tmp : "/tmp", (long)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
