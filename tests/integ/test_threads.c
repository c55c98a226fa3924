/*
 * test_threads: evd --threads N against what one loop guarantees.
 *
 * Connections are spread over the loops, so every request that names
 * something another loop owns crosses between them: Get, Cancel and Wait
 * of a timer scheduled on another loop, List merged over all loops and
 * paged across their id ranges, Stats summed over them, channels (loop 0's)
 * published to and subscribed from the other loops, acks, exec hooks,
 * replies to a pipelined mix of local and forwarded requests in request
 * order, calendar timers evaluated on every loop at once, a closing
 * connection's timers, replies owed to a client that shut its sending
 * side, and durable timers kept across a restart with another loop
 * count.
 *
 * The whole integration suite also runs against two loops (EVD_TEST_THREADS
 * in ./dev test); this file covers what only a multi-loop daemon can get
 * wrong, and it asks for its loop count itself.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "evclient.h"
#include "harness.h"

#define MS 1000000LL
#define HOUR (3600 * 1000 * MS)
#define LOOPS 3
#define ID_BITS 48 /* daemon/shard.h: loop k's ids are above k << 48 */

static struct evd_proc evd;
static const char *const evd_args[] = {"--store", "sqlite", "--threads", "3",
				       NULL};

static int
setup(void **state)
{
	(void)state;
	return evd_start(&evd, evd_args) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	return evd_stop(&evd) == 0 ? 0 : -1;
}

static struct evc *
client(void)
{
	char err[256];
	struct evc *c = NULL;

	if (evc_connect(evd.sock, "test_threads", 5000, &c, err, sizeof err) <
	    0)
		fail_msg("evc_connect: %s", err);
	return c;
}

/* An ephemeral timer an hour out: it lives on the connection's loop. */
static uint64_t
later(struct evc *c, int64_t delay_ns)
{
	struct evc_scheduled s;

	if (evc_call_later(c, delay_ns, EVC_CLOCK_MONOTONIC, NULL, 5000, &s) <
	    0)
		fail_msg("evc_call_later: %s", evc_errmsg(c));
	return s.timer_id;
}

static unsigned
loop_of(uint64_t id)
{
	return (unsigned)(id >> ID_BITS);
}

/* Connects until it holds a connection on each loop; ret[k] is loop k's.
 * Extra connections are closed again. */
static void
clients_per_loop(struct evc *ret[LOOPS])
{
	int tries;

	memset(ret, 0, LOOPS * sizeof ret[0]);
	for (tries = 0; tries < 4 * LOOPS; tries++) {
		struct evc *c = client();
		uint64_t id = later(c, HOUR);
		unsigned k = loop_of(id);

		assert_true(k < LOOPS);
		assert_int_equal(evc_cancel(c, id, 5000), 0);
		if (ret[k] == NULL)
			ret[k] = c;
		else
			evc_close(c);
		if (ret[0] != NULL && ret[1] != NULL && ret[2] != NULL)
			return;
	}
	fail_msg("no connection landed on some loop after %d tries", tries);
}

static void
clients_close(struct evc *c[LOOPS])
{
	for (int k = 0; k < LOOPS; k++)
		evc_close(c[k]);
}

static uint64_t
pending(struct evc *c)
{
	struct evc_stats st;
	uint64_t n;

	if (evc_stats(c, 5000, &st) < 0)
		fail_msg("evc_stats: %s", evc_errmsg(c));
	n = st.pending_timers;
	evc_stats_free(&st);
	return n;
}

/* Get, Cancel and Wait on a timer that another loop holds. */
static void
test_cross_loop_get_cancel_wait(void **state)
{
	struct evc *c[LOOPS];
	struct evc_timer_info ti;
	struct evc_fired ev;
	struct evc_run run;
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Wait w = EVD__WAIT__INIT;
	Evd__Reply *r;
	uint64_t id, soon;
	int fd;

	(void)state;
	clients_per_loop(c);
	id = later(c[1], HOUR);
	assert_int_equal(loop_of(id), 1);

	/* Every loop finds it, and the owner on loop 1 still holds it. */
	for (int k = 0; k < LOOPS; k++) {
		assert_int_equal(evc_get(c[k], id, 5000, &ti), 0);
		assert_int_equal(ti.timer_id, id);
		assert_int_equal(ti.state, EVC_TIMER_PENDING);
		evc_timer_info_free(&ti);
	}
	/* Cancelled from loop 2: gone for everyone, once. */
	assert_int_equal(evc_cancel(c[2], id, 5000), 0);
	assert_int_equal(evc_cancel(c[0], id, 5000), -EVC_E_NOT_FOUND);
	assert_int_equal(evc_cancel(c[1], id, 5000), -EVC_E_NOT_FOUND);
	/* Ids in a loop's range that it never gave out, and ids above every
	 * loop's range, are simply unknown. */
	assert_int_equal(
	    evc_get(c[0], ((uint64_t)1 << ID_BITS) + 999999, 5000, &ti),
	    -EVC_E_NOT_FOUND);
	assert_int_equal(evc_cancel(c[1], (uint64_t)9 << ID_BITS, 5000),
			 -EVC_E_NOT_FOUND);
	assert_int_equal(evc_get(c[2], UINT64_MAX, 5000, &ti),
			 -EVC_E_NOT_FOUND);

	/* Waited on from two other connections at once (a raw one, told
	 * Waiting first, and loop 0's): both hear of the fire the owner on
	 * loop 1 receives. */
	soon = later(c[1], 100 * MS);
	fd = raw_connect(evd.sock);
	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, 1), 0);
	w.has_timer_id = true;
	w.timer_id = soon;
	rq.has_request_id = true;
	rq.request_id = 2;
	rq.body_case = EVD__REQUEST__BODY_WAIT;
	rq.wait = &w;
	r = raw_call(fd, &rq, 5000);
	assert_non_null(r);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_WAITING);
	evd__reply__free_unpacked(r, NULL);
	assert_int_equal(evc_wait(c[0], soon, 5000, &run), 0);
	assert_int_equal(run.outcome, EVC_RUN_DELIVERED);
	assert_true(run.fired_realtime_ns >= run.due_realtime_ns);
	evc_run_free(&run);
	r = raw_recv_reply(fd, 5000);
	assert_non_null(r);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_EXEC_FINISHED);
	assert_int_equal(r->exec_finished->timer_id, soon);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
	assert_int_equal(evc_next_event(c[1], 5000, &ev), 0);
	assert_int_equal(ev.timer_id, soon);
	evc_fired_free(&ev);
	/* The cancelled one never fired. */
	assert_int_equal(evc_next_event(c[1], 100, &ev), -EVC_E_TIMEOUT);
	clients_close(c);
}

/* A calendar timer that messages its caller lives on the caller's loop
 * (zones are read without TZ, lib/tz.h), and every loop evaluates its
 * own at the same time: each fires on the second, twice, in a zone with
 * half-hour DST. */
static void
test_calendar_on_every_loop(void **state)
{
	struct evc_repeat rep = {0};
	struct evc_scheduled s[LOOPS];
	struct evc *c[LOOPS];
	struct evc_fired ev;
	int k, n;

	(void)state;
	clients_per_loop(c);
	rep.count = 2;
	for (k = 0; k < LOOPS; k++) {
		if (evc_call_on(c[k], "*:*:*", "Australia/Lord_Howe", NULL,
				&rep, 5000, &s[k]) < 0)
			fail_msg("evc_call_on: %s", evc_errmsg(c[k]));
		assert_int_equal(loop_of(s[k].timer_id), k);
	}
	for (k = 0; k < LOOPS; k++)
		for (n = 0; n < 2; n++) {
			assert_int_equal(evc_next_event(c[k], 5000, &ev), 0);
			assert_int_equal(ev.timer_id, s[k].timer_id);
			/* On a whole second of the wall clock. */
			assert_int_equal(ev.due_realtime_ns % 1000000000, 0);
			evc_fired_free(&ev);
		}
	clients_close(c);
}

/* List walks every loop's timers in id order, page by page across the
 * loops' ranges; Stats counts them all from any loop. */
static void
test_list_and_stats_span_loops(void **state)
{
	struct evc *c[LOOPS];
	uint64_t ids[2 * LOOPS], base, after = 0;
	struct evc_timer_list tl;
	size_t seen = 0;

	(void)state;
	clients_per_loop(c);
	base = pending(c[0]);
	/* Scheduled from the last loop first: List's order is the ids'. */
	for (int k = LOOPS - 1; k >= 0; k--) {
		ids[2 * k] = later(c[k], HOUR);
		ids[2 * k + 1] = later(c[k], HOUR);
	}
	/* Counted at once, whichever loop answers. */
	for (int k = 0; k < LOOPS; k++)
		assert_int_equal(pending(c[k]), base + 2 * LOOPS);

	/* One page holds them all, in id order. */
	assert_int_equal(evc_list(c[1], NULL, 0, 0, 5000, &tl), 0);
	assert_int_equal(tl.count, base + 2 * LOOPS);
	for (size_t i = 1; i < tl.count; i++)
		assert_true(tl.timers[i - 1].timer_id < tl.timers[i].timer_id);
	assert_int_equal(tl.next_after_id, 0);
	evc_timer_list_free(&tl);

	/* Pages of 1 from loop 2: each next_after_id leads on, across the
	 * ranges, to the end. */
	for (;;) {
		assert_int_equal(evc_list(c[2], NULL, after, 1, 5000, &tl), 0);
		if (tl.count == 0) {
			assert_int_equal(tl.next_after_id, 0);
			evc_timer_list_free(&tl);
			break;
		}
		assert_int_equal(tl.count, 1);
		assert_true(tl.timers[0].timer_id > after);
		for (int i = 0; i < 2 * LOOPS; i++)
			if (tl.timers[0].timer_id == ids[i])
				seen++;
		after = tl.timers[0].timer_id;
		if (tl.next_after_id == 0) {
			evc_timer_list_free(&tl);
			break;
		}
		assert_int_equal(tl.next_after_id, after);
		evc_timer_list_free(&tl);
	}
	assert_int_equal(seen, 2 * LOOPS);
	for (int i = 0; i < 2 * LOOPS; i++)
		assert_int_equal(evc_cancel(c[(i + 1) % LOOPS], ids[i], 5000),
				 0);
	assert_int_equal(pending(c[2]), base);
	clients_close(c);
}

/* A closing connection's timers die with it, on its own loop. */
static void
test_close_ends_its_timers(void **state)
{
	struct evc *c[LOOPS];
	uint64_t base;
	int i;

	(void)state;
	clients_per_loop(c);
	base = pending(c[0]);
	for (i = 0; i < 100; i++)
		later(c[2], HOUR);
	assert_int_equal(pending(c[0]), base + 100);
	evc_close(c[2]);
	c[2] = NULL;
	/* The close happens on loop 2 while we ask loop 0: bounded poll. */
	for (i = 0; i < 500 && pending(c[1]) != base; i++)
		usleep(10000);
	assert_int_equal(pending(c[1]), base);
	evc_close(c[0]);
	evc_close(c[1]);
}

/* Channels are loop 0's: published to and subscribed from the others,
 * acked through them, redelivered after a subscriber on another loop
 * goes away. */
static void
test_channels_across_loops(void **state)
{
	struct evc *c[LOOPS];
	struct evc_callback cb = {
	    .channel = "threads-ch", .payload = "p1", .payload_len = 2};
	struct evc_scheduled s;
	struct evc_fired ev;
	uint64_t first;

	(void)state;
	clients_per_loop(c);
	assert_int_equal(evc_subscribe(c[1], "threads-ch", 5000), 0);
	assert_int_equal(
	    evc_call_later(c[2], 10 * MS, EVC_CLOCK_MONOTONIC, &cb, 5000, &s),
	    0);
	/* Channel timers live on loop 0, whoever scheduled them. */
	assert_int_equal(loop_of(s.timer_id), 0);
	assert_int_equal(evc_next_event(c[1], 5000, &ev), 0);
	assert_int_equal(ev.timer_id, s.timer_id);
	assert_string_equal(ev.channel, "threads-ch");
	assert_string_equal((const char *)ev.payload, "p1");
	assert_int_equal(evc_ack(c[1], ev.fire_id, 5000), 0);
	assert_int_equal(evc_ack(c[1], ev.fire_id, 5000), -EVC_E_NOT_FOUND);
	evc_fired_free(&ev);

	/* Held unacked by loop 1's subscriber, which then leaves: the
	 * message goes to the subscriber on loop 2, attempt 2. */
	cb.payload = "p2";
	assert_int_equal(evc_call_soon(c[0], &cb, 5000, &s), 0);
	assert_int_equal(evc_next_event(c[1], 5000, &ev), 0);
	first = ev.fire_id;
	assert_int_equal(ev.attempt, 1);
	evc_fired_free(&ev);
	assert_int_equal(evc_subscribe(c[2], "threads-ch", 5000), 0);
	evc_close(c[1]);
	c[1] = NULL;
	assert_int_equal(evc_next_event(c[2], 5000, &ev), 0);
	assert_int_equal(ev.fire_id, first);
	assert_int_equal(ev.attempt, 2);
	assert_string_equal((const char *)ev.payload, "p2");
	assert_int_equal(evc_ack(c[2], ev.fire_id, 5000), 0);
	evc_fired_free(&ev);
	evc_close(c[0]);
	evc_close(c[2]);
}

/* An exec hook scheduled and waited on from a loop without hooks of its
 * own. Skips where the daemon cannot run hooks as the test's user (not
 * root) or runs under valgrind (which lacks pidfd_open). */
static void
test_exec_from_other_loop(void **state)
{
	static const char *const argv[] = {"/bin/sh", "-c", "exit 7"};
	struct evc_exec ex = {.argv = argv, .argc = 3};
	struct evc_callback cb = {.exec = &ex};
	struct evc *c[LOOPS];
	struct evc_scheduled s;
	struct evc_run run;

	(void)state;
	if (geteuid() != 0 || getenv("EVD_VALGRIND") != NULL)
		skip();
	clients_per_loop(c);
	assert_int_equal(evc_call_soon(c[2], &cb, 5000, &s), 0);
	assert_int_equal(loop_of(s.timer_id), 0);
	assert_int_equal(evc_wait(c[1], s.timer_id, 10000, &run), 0);
	assert_int_equal(run.outcome, EVC_RUN_EXEC_EXITED);
	assert_int_equal(run.exit_code, 7);
	evc_run_free(&run);
	clients_close(c);
}

/* A pipelined mix of requests served on the client's own loop (Time,
 * ephemeral timers) and forwarded ones (channel timers, Stats, Get of
 * another loop's timer): every reply comes back in request order. */
static void
test_pipelined_order(void **state)
{
	enum { N = 3000 };
	struct evc *c[LOOPS];
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	uint64_t other;
	int fd, i;

	(void)state;
	clients_per_loop(c);
	other = later(c[2], HOUR);
	/* A raw connection: its loop is wherever it lands. */
	fd = raw_connect(evd.sock);
	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, 1), 0);
	for (i = 0; i < N; i++) {
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__CallLater cl = EVD__CALL_LATER__INIT;
		Evd__Callback cb = EVD__CALLBACK__INIT;
		Evd__Time t = EVD__TIME__INIT;
		Evd__Stats st = EVD__STATS__INIT;
		Evd__Get g = EVD__GET__INIT;

		rq.has_request_id = true;
		rq.request_id = (uint64_t)i + 2;
		switch (i % 5) {
		case 0:
			cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
			cb.channel = "threads-order";
			cl.callback = &cb;
			/* fall through */
		case 1:
			cl.has_delay_ns = true;
			cl.delay_ns = HOUR;
			rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
			rq.call_later = &cl;
			break;
		case 2:
			rq.body_case = EVD__REQUEST__BODY_TIME;
			rq.time = &t;
			break;
		case 3:
			rq.body_case = EVD__REQUEST__BODY_STATS;
			rq.stats = &st;
			break;
		default:
			g.has_timer_id = true;
			g.timer_id = other;
			rq.body_case = EVD__REQUEST__BODY_GET;
			rq.get = &g;
			break;
		}
		assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	}
	assert_int_equal(raw_write(fd, buf, len), 0);
	free(buf);
	for (i = 0; i < N; i++) {
		Evd__Reply *r = raw_recv_reply(fd, 10000);

		assert_non_null(r);
		assert_int_equal(r->request_id, (uint64_t)i + 2);
		switch (i % 5) {
		case 0:
		case 1:
			assert_int_equal(r->body_case,
					 EVD__REPLY__BODY_SCHEDULED);
			/* Channel timers are loop 0's. */
			if (i % 5 == 0)
				assert_int_equal(
				    loop_of(r->scheduled->timer_id), 0);
			break;
		case 2:
			assert_int_equal(r->body_case, EVD__REPLY__BODY_TIME);
			break;
		case 3:
			assert_int_equal(r->body_case, EVD__REPLY__BODY_STATS);
			break;
		default:
			assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
			assert_int_equal(r->timer->timer_id, other);
			break;
		}
		evd__reply__free_unpacked(r, NULL);
	}
	close(fd);
	clients_close(c);
}

/* A raw connection on a loop other than 0 (found by the id of a timer
 * it schedules for itself), or -1. */
static int
raw_off_loop0(void)
{
	for (int tries = 0; tries < 4 * LOOPS; tries++) {
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__CallLater cl = EVD__CALL_LATER__INIT;
		Evd__Reply *r;
		int fd = raw_connect(evd.sock);
		unsigned k = 0;

		if (fd < 0 || raw_hello(fd, 1) < 0)
			return -1;
		cl.has_delay_ns = true;
		cl.delay_ns = HOUR;
		rq.has_request_id = true;
		rq.request_id = 2;
		rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
		rq.call_later = &cl;
		if ((r = raw_call(fd, &rq, 5000)) != NULL &&
		    r->body_case == EVD__REPLY__BODY_SCHEDULED)
			k = loop_of(r->scheduled->timer_id);
		if (r != NULL)
			evd__reply__free_unpacked(r, NULL);
		if (k != 0)
			return fd;
		close(fd);
	}
	return -1;
}

/* A client that sends requests another loop serves and then shuts its
 * sending side still gets every reply, in order, before the close (the
 * forwarded ones come back after loop 0's commit). */
static void
test_half_close_waits_for_forwarded(void **state)
{
	Evd__Reply *r;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, i;

	(void)state;
	fd = raw_off_loop0();
	assert_true(fd >= 0);
	for (i = 0; i < 3; i++) {
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__CallLater cl = EVD__CALL_LATER__INIT;
		Evd__Callback cb = EVD__CALLBACK__INIT;
		Evd__Time t = EVD__TIME__INIT;

		rq.has_request_id = true;
		rq.request_id = (uint64_t)i + 10;
		if (i == 1) {
			rq.body_case = EVD__REQUEST__BODY_TIME;
			rq.time = &t;
		} else {
			cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
			cb.channel = "threads-half";
			cl.has_delay_ns = true;
			cl.delay_ns = HOUR;
			cl.callback = &cb;
			rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
			rq.call_later = &cl;
		}
		assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	}
	assert_int_equal(raw_write(fd, buf, len), 0);
	free(buf);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	for (i = 0; i < 3; i++) {
		r = raw_recv_reply(fd, 5000);
		assert_non_null(r);
		assert_int_equal(r->request_id, (uint64_t)i + 10);
		assert_int_equal(r->body_case, i == 1
		                                       ? EVD__REPLY__BODY_TIME
		                                       : EVD__REPLY__BODY_SCHEDULED);
		evd__reply__free_unpacked(r, NULL);
	}
	assert_true(raw_wait_eof(fd, 5000));
	close(fd);
}

/* Durable timers scheduled through loops 1 and 2 are loop 0's ids, so
 * they survive a restart with one loop, or with another count. */
static void
test_durable_across_loop_counts(void **state)
{
	static const char *const one[] = {"--store", "sqlite", "--threads", "1",
					  NULL};
	static const char *const two[] = {"--store", "sqlite", "--threads", "2",
					  NULL};
	struct evc_callback cb = {
	    .channel = "threads-dur", .payload = "d", .payload_len = 1};
	struct evc *c[LOOPS];
	struct evc_scheduled s[LOOPS];
	struct evc_timer_info ti;
	struct evc *x;

	(void)state;
	clients_per_loop(c);
	for (int k = 0; k < LOOPS; k++) {
		assert_int_equal(evc_call_later(c[k], HOUR, EVC_CLOCK_MONOTONIC,
						&cb, 5000, &s[k]),
				 0);
		assert_int_equal(loop_of(s[k].timer_id), 0);
	}
	clients_close(c);
	for (int pass = 0; pass < 2; pass++) {
		assert_int_equal(evd_terminate(&evd), 0);
		assert_int_equal(evd_start_in(&evd, pass == 0 ? one : two), 0);
		for (int k = 0; k < LOOPS; k++) {
			x = client();
			assert_int_equal(evc_get(x, s[k].timer_id, 5000, &ti),
					 0);
			assert_int_equal(ti.state, EVC_TIMER_PENDING);
			assert_string_equal(ti.channel, "threads-dur");
			evc_timer_info_free(&ti);
			evc_close(x);
		}
	}
	/* Back to the fixture's three loops for whatever runs next. */
	assert_int_equal(evd_terminate(&evd), 0);
	assert_int_equal(evd_start_in(&evd, evd_args), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cross_loop_get_cancel_wait),
	    cmocka_unit_test(test_calendar_on_every_loop),
	    cmocka_unit_test(test_list_and_stats_span_loops),
	    cmocka_unit_test(test_close_ends_its_timers),
	    cmocka_unit_test(test_channels_across_loops),
	    cmocka_unit_test(test_exec_from_other_loop),
	    cmocka_unit_test(test_pipelined_order),
	    cmocka_unit_test(test_half_close_waits_for_forwarded),
	    cmocka_unit_test(test_durable_across_loop_counts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
