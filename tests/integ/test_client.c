/*
 * test_client: libevclient against the real evd: every blocking call,
 * fires received through evc_next_event and through the handler, cancel,
 * channels with acks, errors with codes and messages, and connection
 * failures reported as local errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "evclient.h"
#include "harness.h"

#define MS 1000000LL

static struct evd_proc evd;

static int
setup(void **state)
{
	return evd_start(&evd, NULL) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	return evd_stop(&evd) == 0 ? 0 : -1;
}

static struct evc *
client(void)
{
	char err[256];
	struct evc *c = NULL;
	int r = evc_connect(evd.sock, "test_client", 5000, &c, err, sizeof err);

	if (r < 0)
		fail_msg("evc_connect: %s", err);
	return c;
}

static void
test_connect_info(void **state)
{
	struct evc *c = client();
	const struct evc_server_info *si = evc_server_info(c);

	assert_int_equal(si->protocol_version, EVC_PROTOCOL_VERSION);
	assert_non_null(si->server_version);
	assert_true(si->realtime_now_ns > 0);
	assert_true(evc_fd(c) >= 0);
	evc_close(c);
}

static void
test_connect_failure(void **state)
{
	char err[256] = "";
	struct evc *c = NULL;
	int r = evc_connect("/nonexistent/evd.sock", NULL, 1000, &c, err,
	                    sizeof err);

	assert_int_equal(r, -EVC_E_CONNECT);
	assert_null(c);
	assert_non_null(strstr(err, "/nonexistent/evd.sock"));
}

static void
test_later_fires(void **state)
{
	struct evc *c = client();
	struct evc_callback cb = { .payload = "ping", .payload_len = 4 };
	struct evc_scheduled s;
	struct evc_fired ev;

	assert_int_equal(evc_call_later(c, 50 * MS, EVC_CLOCK_MONOTONIC, &cb,
	                                5000, &s), 0);
	assert_true(s.timer_id > 0);
	assert_int_equal(s.clock, EVC_CLOCK_MONOTONIC);
	assert_false(s.existing);
	assert_int_equal(evc_next_event(c, 5000, &ev), 0);
	assert_int_equal(ev.timer_id, s.timer_id);
	assert_null(ev.channel);
	assert_int_equal(ev.payload_len, 4);
	assert_memory_equal(ev.payload, "ping", 4);
	assert_true(ev.lateness_ns >= 0);
	/* Never early: it fired no sooner than its deadline. */
	assert_true(ev.fired_realtime_ns >= ev.due_realtime_ns);
	evc_fired_free(&ev);
	assert_int_equal(evc_next_event(c, 100, &ev), -EVC_E_TIMEOUT);
	evc_close(c);
}

static void
test_soon_and_at(void **state)
{
	struct evc *c = client();
	struct evc_scheduled a, b, m;
	struct evc_time t;
	struct evc_fired ev;

	assert_int_equal(evc_time(c, 5000, &t), 0);
	assert_true(t.monotonic_ns > 0 && t.realtime_ns > 0);
	/* call_at on the daemon's loop time, asyncio style; far enough out
	 * that a and b are scheduled first even under valgrind. */
	assert_int_equal(evc_call_at(c, t.monotonic_ns + 300 * MS,
	                             EVC_CLOCK_MONOTONIC, NULL, 5000, &m), 0);
	/* A wall-clock instant in the past fires at once. */
	assert_int_equal(evc_call_at(c, t.realtime_ns - 1000 * MS,
	                             EVC_CLOCK_REALTIME, NULL, 5000, &a), 0);
	assert_int_equal(evc_call_soon(c, NULL, 5000, &b), 0);
	/* a and b are both due at once but on different clocks, whose
	 * order is not defined; m comes after both. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(evc_next_event(c, 5000, &ev), 0);
		assert_true(ev.timer_id == a.timer_id ||
		            ev.timer_id == b.timer_id);
		if (ev.timer_id == a.timer_id)
			assert_true(ev.lateness_ns >= 1000 * MS);
		evc_fired_free(&ev);
	}
	assert_int_equal(evc_next_event(c, 5000, &ev), 0);
	assert_int_equal(ev.timer_id, m.timer_id);
	evc_fired_free(&ev);
	evc_close(c);
}

static void
test_cancel_get_list(void **state)
{
	struct evc *c = client();
	struct evc_callback cb = { .channel = "client-list", .payload = "p",
	                           .payload_len = 1, .key = "k1" };
	struct evc_scheduled s, s2;
	struct evc_timer_info ti;
	struct evc_timer_list tl;
	struct evc_fired ev;
	size_t i;
	int found = 0;

	assert_int_equal(evc_call_later(c, 3600000 * MS, EVC_CLOCK_MONOTONIC,
	                                &cb, 5000, &s), 0);
	/* The same key again: the same timer, flagged existing. */
	assert_int_equal(evc_call_later(c, 3600000 * MS, EVC_CLOCK_MONOTONIC,
	                                &cb, 5000, &s2), 0);
	assert_int_equal(s2.timer_id, s.timer_id);
	assert_true(s2.existing);

	assert_int_equal(evc_get(c, s.timer_id, 5000, &ti), 0);
	assert_int_equal(ti.timer_id, s.timer_id);
	assert_int_equal(ti.state, EVC_TIMER_PENDING);
	assert_string_equal(ti.channel, "client-list");
	assert_string_equal(ti.key, "k1");
	assert_int_equal(ti.payload_len, 1);
	assert_int_equal(ti.owner_uid, getuid());
	evc_timer_info_free(&ti);

	assert_int_equal(evc_list(c, "client-list", 0, 0, 5000, &tl), 0);
	for (i = 0; i < tl.count; i++)
		if (tl.timers[i].timer_id == s.timer_id)
			found = 1;
	assert_true(found);
	evc_timer_list_free(&tl);

	assert_int_equal(evc_cancel(c, s.timer_id, 5000), 0);
	assert_int_equal(evc_cancel(c, s.timer_id, 5000), -EVC_E_NOT_FOUND);
	assert_true(strlen(evc_errmsg(c)) > 0);
	/* Kept, cancelled, with its key (issue 13); no longer listed. */
	assert_int_equal(evc_get(c, s.timer_id, 5000, &ti), 0);
	assert_int_equal(ti.state, EVC_TIMER_CANCELLED);
	assert_string_equal(ti.key, "k1");
	evc_timer_info_free(&ti);
	assert_int_equal(evc_list(c, "client-list", 0, 0, 5000, &tl), 0);
	for (i = 0; i < tl.count; i++)
		assert_int_not_equal(tl.timers[i].timer_id, s.timer_id);
	evc_timer_list_free(&tl);
	assert_int_equal(evc_next_event(c, 100, &ev), -EVC_E_TIMEOUT);
	evc_close(c);
}

/* Paging: 250 timers come back over several pages, each exactly once. */
static void
test_list_pages(void **state)
{
	struct evc *c = client();
	struct evc_callback cb = { .channel = "client-pages" };
	uint64_t ids[250], after = 0;
	size_t seen = 0, i;
	struct evc_scheduled s;

	for (i = 0; i < 250; i++) {
		assert_int_equal(evc_call_later(c, 3600000 * MS,
		                                EVC_CLOCK_MONOTONIC, &cb, 5000,
		                                &s), 0);
		ids[i] = s.timer_id;
	}
	do {
		struct evc_timer_list tl;

		assert_int_equal(evc_list(c, "client-pages", after, 100, 5000,
		                          &tl), 0);
		assert_true(tl.count <= 100);
		for (i = 0; i < tl.count; i++)
			assert_int_equal(tl.timers[i].timer_id, ids[seen + i]);
		seen += tl.count;
		after = tl.next_after_id;
		evc_timer_list_free(&tl);
	} while (after != 0);
	assert_int_equal(seen, 250);
	for (i = 0; i < 250; i++)
		assert_int_equal(evc_cancel(c, ids[i], 5000), 0);
	evc_close(c);
}

static void
test_errors(void **state)
{
	struct evc *c = client();
	struct evc_callback bad = { .channel = "bad channel" };
	struct evc_scheduled s;

	assert_int_equal(evc_call_later(c, -1, EVC_CLOCK_MONOTONIC, NULL, 5000,
	                                &s), -EVC_E_INVALID_ARGUMENT);
	assert_true(strlen(evc_errmsg(c)) > 0);
	assert_int_equal(evc_call_later(c, MS, EVC_CLOCK_MONOTONIC, &bad, 5000,
	                                &s), -EVC_E_INVALID_ARGUMENT);
	assert_int_equal(evc_ack(c, 123456789, 5000), -EVC_E_NOT_FOUND);
	/* Still usable after errors. */
	assert_int_equal(evc_call_soon(c, NULL, 5000, &s), 0);
	assert_non_null(evc_strerror(EVC_E_TIMEOUT));
	evc_close(c);
}

struct seen {
	int n;
	uint64_t fire_ids[16];
};

static int
on_fired(struct evc *c, const struct evc_fired *ev, void *arg)
{
	struct seen *s = arg;

	assert_string_equal(ev->channel, "client-ch");
	assert_int_equal(evc_ack(c, ev->fire_id, 5000), 0);
	s->fire_ids[s->n++] = ev->fire_id;
	return s->n == 3 ? 1 : 0;
}

static void
test_channel_dispatch(void **state)
{
	struct evc *prod = client(), *cons = client();
	struct evc_callback cb = { .channel = "client-ch", .payload = "x",
	                           .payload_len = 1 };
	struct evc_stats st;
	struct seen seen = { 0 };
	struct evc_scheduled s;
	int i, total = 0;

	assert_int_equal(evc_dispatch(cons, 0), -EVC_E_USAGE);
	evc_set_fired_cb(cons, on_fired, &seen);
	assert_int_equal(evc_subscribe(cons, "client-ch", 5000), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(evc_call_later(prod, 20 * MS,
		                                EVC_CLOCK_MONOTONIC, &cb, 5000,
		                                &s), 0);
	while (seen.n < 3) {
		int r = evc_dispatch(cons, 5000);

		assert_true(r > 0);
		total += r;
	}
	assert_int_equal(total, 3);
	assert_int_equal(evc_stats(prod, 5000, &st), 0);
	assert_int_equal(st.inflight_messages, 0);
	assert_non_null(st.server_version);
	evc_stats_free(&st);
	evc_close(prod);
	evc_close(cons);
}

/* EVCLIENT_1.4: an interval with a count, a calendar timer, pause /
 * resume / trigger, and the atomic trampoline, through the library. */
static void
test_repeat_calls(void **state)
{
	struct evc *c = client();
	struct evc_callback cb = { .channel = "client-rep" };
	struct evc_repeat every = { .every_ns = 30 * MS, .count = 3 };
	struct evc_repeat none = { 0 };
	struct evc_scheduled s, s2;
	struct evc_timer_info ti;
	struct evc_fired ev;
	int i;

	assert_int_equal(evc_subscribe(c, "client-rep", 5000), 0);
	assert_int_equal(evc_call_later_opts(c, 10 * MS, EVC_CLOCK_MONOTONIC,
	                                     &cb, &every, 5000, &s), 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(evc_next_event(c, 5000, &ev), 0);
		assert_int_equal(ev.timer_id, s.timer_id);
		assert_int_equal(evc_ack(c, ev.fire_id, 5000), 0);
		evc_fired_free(&ev);
	}
	assert_int_equal(evc_get(c, s.timer_id, 5000, &ti), 0);
	assert_int_equal(ti.state, EVC_TIMER_FIRED);
	assert_int_equal(ti.fire_count, 3);
	evc_timer_info_free(&ti);

	/* A calendar timer far in the future: pause, trigger, resume. */
	assert_int_equal(evc_call_on(c, "2099-01-01 00:00:00", "UTC", &cb,
	                             &none, 5000, &s), 0);
	assert_int_equal(evc_pause(c, s.timer_id, 5000, &ti), 0);
	assert_int_equal(ti.state, EVC_TIMER_PAUSED);
	assert_true(ti.repeating);
	assert_string_equal(ti.calendar, "2099-01-01 00:00:00");
	evc_timer_info_free(&ti);
	assert_int_equal(evc_pause(c, s.timer_id, 5000, &ti), -EVC_E_FAILED_PRECONDITION);
	assert_int_equal(evc_trigger(c, s.timer_id, 5000, &ti), 0);
	evc_timer_info_free(&ti);
	assert_int_equal(evc_next_event(c, 5000, &ev), 0);
	assert_int_equal(ev.timer_id, s.timer_id);
	/* The trampoline: ack this fire and move the timer in one commit. */
	assert_int_equal(evc_ack_reschedule(c, ev.fire_id, false, 20 * MS,
	                                    5000, &s2), 0);
	assert_int_equal(s2.timer_id, s.timer_id);
	evc_fired_free(&ev);
	assert_int_equal(evc_resume(c, s.timer_id, 5000, &ti), 0);
	assert_int_equal(ti.state, EVC_TIMER_PENDING);
	evc_timer_info_free(&ti);
	assert_int_equal(evc_next_event(c, 5000, &ev), 0);
	assert_int_equal(ev.timer_id, s.timer_id);
	evc_fired_free(&ev);
	assert_int_equal(evc_cancel(c, s.timer_id, 5000), 0);
	evc_close(c);
}

/* Many fires queue up while the client is busy in other calls; none is
 * lost and they come out in order. */
static void
test_events_queue_during_calls(void **state)
{
	struct evc *c = client();
	struct evc_scheduled s;
	struct evc_fired ev;
	struct evc_time t;
	uint64_t ids[500];
	int i;

	for (i = 0; i < 500; i++) {
		assert_int_equal(evc_call_soon(c, NULL, 5000, &s), 0);
		ids[i] = s.timer_id;
	}
	for (i = 0; i < 50; i++)
		assert_int_equal(evc_time(c, 5000, &t), 0);
	for (i = 0; i < 500; i++) {
		assert_int_equal(evc_next_event(c, 5000, &ev), 0);
		assert_int_equal(ev.timer_id, ids[i]);
		evc_fired_free(&ev);
	}
	evc_close(c);
}

/* The daemon going away is a local I/O error, not a crash or a hang. */
static void
test_daemon_gone(void **state)
{
	struct evd_proc p;
	struct evc_time t;
	struct evc *c;
	char err[256];

	assert_int_equal(evd_start(&p, NULL), 0);
	assert_int_equal(evc_connect(p.sock, NULL, 5000, &c, err, sizeof err),
	                 0);
	assert_int_equal(evd_stop(&p), 0);
	assert_int_equal(evc_time(c, 5000, &t), -EVC_E_IO);
	evc_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_info),
		cmocka_unit_test(test_connect_failure),
		cmocka_unit_test(test_later_fires),
		cmocka_unit_test(test_soon_and_at),
		cmocka_unit_test(test_cancel_get_list),
		cmocka_unit_test(test_list_pages),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_channel_dispatch),
		cmocka_unit_test(test_repeat_calls),
		cmocka_unit_test(test_events_queue_during_calls),
		cmocka_unit_test(test_daemon_gone),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
