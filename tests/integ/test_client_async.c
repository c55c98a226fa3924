/*
 * test_client_async: libevclient's asynchronous API and loop integration
 * against the real evd: pipelined requests complete once each, in order,
 * never from inside the call that made them, and go out batched; every
 * kind of request has an async form with its result; errors carry codes
 * and messages; a hand-written poll() loop and the libevent adapter both
 * drive a handle; blocking calls mix with async ones; evc_close() from a
 * callback; a daemon that dies fails what is in flight.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "evclient-event.h"
#include "evclient.h"
#include "harness.h"

#define MS 1000000LL
#define HOUR (3600000LL * MS)

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

	if (evc_connect(evd.sock, "test_client_async", 5000, &c, err,
			sizeof err) < 0)
		fail_msg("evc_connect: %s", err);
	return c;
}

/* Drives c with poll() until *flag or 5 s; the loop any program has. */
static void
drive(struct evc *c, const int *flag)
{
	int i;

	for (i = 0; i < 5000 && !*flag; i++) {
		struct pollfd pfd = {.fd = evc_fd(c),
				     .events = (short)evc_events_wanted(c)};
		int t = evc_next_timeout_ms(c);

		if (pfd.fd < 0 || pfd.events == 0)
			pfd.fd = -1;
		poll(&pfd, 1, t < 0 || t > 1 ? 1 : t);
		assert_true(evc_process(c) >= 0);
	}
	assert_true(*flag);
}

/* ---- pipelining ---- */

struct seq {
	int n, want, in_call, bad_order, failed, done;
	uint64_t last_id;
};

static void
on_seq(struct evc *c, const struct evc_result *res, void *arg)
{
	struct seq *s = arg;

	if (s->in_call)
		s->bad_order++; /* never from inside the *_async call */
	if (res->status < 0) {
		s->failed++;
		return;
	}
	assert_non_null(res->scheduled);
	/* Replies in request order: ids grow. */
	if (res->scheduled->timer_id <= s->last_id)
		s->bad_order++;
	s->last_id = res->scheduled->timer_id;
	if (++s->n == s->want)
		s->done = 1;
}

static void
test_pipelined_in_order(void **state)
{
	struct evc *c = client();
	struct seq s = {.want = 20000};
	int i;

	for (i = 0; i < s.want; i++) {
		s.in_call = 1;
		assert_int_equal(evc_call_later_async(c, HOUR,
						      EVC_CLOCK_MONOTONIC,
						      NULL, on_seq, &s),
				 0);
		s.in_call = 0;
	}
	/* Nothing was written yet: all of it waits for the loop. */
	assert_int_equal(evc_pending(c), (size_t)s.want);
	assert_true(evc_events_wanted(c) & POLLOUT);
	assert_int_equal(s.n, 0);
	drive(c, &s.done);
	assert_int_equal(s.bad_order, 0);
	assert_int_equal(s.failed, 0);
	assert_int_equal(evc_pending(c), 0);
	assert_false(evc_events_wanted(c) & POLLOUT);
	evc_close(c);
}

/* ---- every kind, with its result ---- */

struct kinds {
	int done, count;
	uint64_t timer_id;
	int cancel_status, get_status, list_found, time_ok, stats_ok,
	    sub_status, ack_status, bad_status;
	char bad_msg[256];
};

static void
on_sched(struct evc *c, const struct evc_result *res, void *arg)
{
	struct kinds *k = arg;

	assert_int_equal(res->status, 0);
	assert_string_equal(res->errmsg, "");
	k->timer_id = res->scheduled->timer_id;
	k->count++;
}

static void
on_get(struct evc *c, const struct evc_result *res, void *arg)
{
	struct kinds *k = arg;

	k->get_status = res->status;
	if (res->status == 0) {
		assert_int_equal(res->timer->timer_id, k->timer_id);
		assert_string_equal(res->timer->channel, "async-kinds");
		assert_string_equal(res->timer->key, "async-k1");
	}
	k->count++;
}

static void
on_list(struct evc *c, const struct evc_result *res, void *arg)
{
	struct kinds *k = arg;
	size_t i;

	assert_int_equal(res->status, 0);
	for (i = 0; i < res->list->count; i++)
		if (res->list->timers[i].timer_id == k->timer_id)
			k->list_found = 1;
	k->count++;
}

static void
on_time(struct evc *c, const struct evc_result *res, void *arg)
{
	struct kinds *k = arg;

	k->time_ok = res->status == 0 && res->time->monotonic_ns > 0 &&
		     res->time->realtime_ns > 0;
	k->count++;
}

static void
on_stats(struct evc *c, const struct evc_result *res, void *arg)
{
	struct kinds *k = arg;

	k->stats_ok = res->status == 0 && res->stats->pending_timers >= 1 &&
		      res->stats->server_version != NULL;
	k->count++;
}

static void
on_status(struct evc *c, const struct evc_result *res, void *arg)
{
	int *st = arg;

	*st = res->status;
	/* On failure the message is there and no result pointer is. */
	if (res->status < 0) {
		assert_true(strlen(res->errmsg) > 0);
		assert_null(res->scheduled);
		assert_null(res->timer);
	}
}

static void
on_bad(struct evc *c, const struct evc_result *res, void *arg)
{
	struct kinds *k = arg;

	k->bad_status = res->status;
	snprintf(k->bad_msg, sizeof k->bad_msg, "%s", res->errmsg);
	k->done = 1;
}

static void
test_every_kind(void **state)
{
	struct evc *c = client();
	struct evc_callback cb = {.channel = "async-kinds", .key = "async-k1"};
	struct kinds k = {.cancel_status = 1, .get_status = 1,
			  .sub_status = 1, .ack_status = 1};
	int done = 0;

	assert_int_equal(evc_call_later_async(c, HOUR, EVC_CLOCK_MONOTONIC,
					      &cb, on_sched, &k),
			 0);
	/* Pipelined behind it: they see the timer (replies in order, and
	 * the daemon handles requests in order). */
	assert_int_equal(evc_get_async(c, 0, NULL, NULL), 0); /* dropped */
	assert_int_equal(evc_time_async(c, on_time, &k), 0);
	assert_int_equal(evc_stats_async(c, on_stats, &k), 0);
	assert_int_equal(evc_list_async(c, "async-kinds", 0, 0, on_list, &k),
			 0);
	assert_int_equal(evc_subscribe_async(c, "async-kinds-sub",
					     on_status, &k.sub_status),
			 0);
	assert_int_equal(evc_ack_async(c, 987654321, on_status,
				       &k.ack_status),
			 0);
	assert_int_equal(evc_call_later_async(c, -1, EVC_CLOCK_MONOTONIC,
					      NULL, on_bad, &k),
			 0);
	drive(c, &k.done);
	assert_int_equal(k.count, 4);
	assert_true(k.time_ok);
	assert_true(k.stats_ok);
	assert_true(k.list_found);
	assert_int_equal(k.sub_status, 0);
	assert_int_equal(k.ack_status, -EVC_E_NOT_FOUND);
	assert_int_equal(k.bad_status, -EVC_E_INVALID_ARGUMENT);
	assert_true(strlen(k.bad_msg) > 0);

	/* get needs the id, so it goes after the first round. */
	assert_int_equal(evc_get_async(c, k.timer_id, on_get, &k), 0);
	assert_int_equal(evc_cancel_async(c, k.timer_id, on_status,
					  &k.cancel_status),
			 0);
	assert_int_equal(evc_cancel_async(c, k.timer_id, on_status, &done),
			 0);
	assert_int_equal(evc_drain(c, 5000), 0);
	assert_int_equal(k.get_status, 0);
	assert_int_equal(k.cancel_status, 0);
	assert_int_equal(done, -EVC_E_NOT_FOUND);

	/* Local argument errors: refused at once, no callback. */
	assert_int_equal(evc_call_later_async(c, MS, (enum evc_clock)42, NULL,
					      on_bad, &k),
			 -EVC_E_USAGE);
	assert_int_equal(evc_subscribe_async(c, NULL, NULL, NULL),
			 -EVC_E_USAGE);
	assert_int_equal(evc_call_soon_async(NULL, NULL, NULL, NULL),
			 -EVC_E_USAGE);
	assert_int_equal(evc_pending(c), 0);
	evc_close(c);
}

/* ---- fires through the loop ---- */

struct fires {
	int n, want, done;
	uint64_t ids[64];
};

static int
on_fire(struct evc *c, const struct evc_fired *ev, void *arg)
{
	struct fires *f = arg;

	assert_true(f->n < 64);
	f->ids[f->n++] = ev->timer_id;
	assert_int_equal(ev->payload_len, 3);
	if (f->n == f->want)
		f->done = 1;
	return 0;
}

static void
on_sched_id(struct evc *c, const struct evc_result *res, void *arg)
{
	uint64_t *id = arg;

	assert_int_equal(res->status, 0);
	*id = res->scheduled->timer_id;
}

static void
test_fires_in_poll_loop(void **state)
{
	struct evc *c = client();
	struct evc_callback cb = {.payload = "abc", .payload_len = 3};
	struct fires f = {.want = 10};
	uint64_t ids[10];
	int i;

	evc_set_fired_cb(c, on_fire, &f);
	for (i = 0; i < 10; i++)
		assert_int_equal(evc_call_soon_async(c, &cb, on_sched_id,
						     &ids[i]),
				 0);
	drive(c, &f.done);
	/* call_soon is FIFO. */
	for (i = 0; i < 10; i++)
		assert_int_equal(f.ids[i], ids[i]);
	evc_close(c);
}

/* ---- libevent ---- */

struct lev {
	struct event_base *base;
	int fires, scheduled;
	uint64_t timer_id, expect;
};

static int
on_lev_fire(struct evc *c, const struct evc_fired *ev, void *arg)
{
	struct lev *l = arg;

	assert_int_equal(ev->timer_id, l->expect ? l->expect : l->timer_id);
	l->fires++;
	event_base_loopexit(l->base, NULL);
	return 0;
}

static void
on_lev_sched(struct evc *c, const struct evc_result *res, void *arg)
{
	struct lev *l = arg;

	assert_int_equal(res->status, 0);
	l->timer_id = res->scheduled->timer_id;
	l->scheduled++;
}

static void
on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	fail_msg("libevent loop: nothing happened within 5 s");
}

static void
test_libevent_attach(void **state)
{
	struct lev l = {.base = event_base_new()};
	struct evc *c = client();
	struct event *wd = evtimer_new(l.base, on_watchdog, NULL);
	struct timeval tv = {5, 0};
	struct evc_scheduled s;

	evtimer_add(wd, &tv);
	assert_int_equal(evc_attach(NULL, l.base), -EVC_E_USAGE);
	assert_int_equal(evc_attach(c, l.base), 0);
	evc_set_fired_cb(c, on_lev_fire, &l);
	assert_int_equal(evc_call_later_async(c, 20 * MS, EVC_CLOCK_MONOTONIC,
					      NULL, on_lev_sched, &l),
			 0);
	event_base_dispatch(l.base);
	assert_int_equal(l.scheduled, 1);
	assert_int_equal(l.fires, 1);

	/* A blocking call still works on an attached handle; the async
	 * completion it collected runs from the loop afterwards. */
	assert_int_equal(evc_call_later_async(c, HOUR, EVC_CLOCK_MONOTONIC,
					      NULL, on_lev_sched, &l),
			 0);
	assert_int_equal(evc_call_soon(c, NULL, 5000, &s), 0);
	l.expect = s.timer_id;
	assert_int_equal(l.scheduled, 1);
	assert_int_equal(evc_next_timeout_ms(c), 0);
	event_base_loop(l.base, EVLOOP_ONCE);
	assert_int_equal(l.scheduled, 2);
	/* The call_soon fire, unless that turn already ran it (it may have
	 * arrived with the reply). */
	if (l.fires < 2)
		event_base_dispatch(l.base);
	assert_int_equal(l.fires, 2);

	/* detach, attach again, then close while attached: the adapter's
	 * events are freed with the handle (ASan watches). */
	evc_detach(c);
	evc_detach(c);
	assert_int_equal(evc_attach(c, l.base), 0);
	assert_int_equal(evc_start_thread(c), -EVC_E_USAGE);
	evc_close(c);
	event_free(wd);
	event_base_free(l.base);
}

/* ---- blocking and async together ---- */

static void
test_blocking_between_async(void **state)
{
	struct evc *c = client();
	struct seq s = {.want = 100};
	struct evc_time t;
	int i;

	for (i = 0; i < 100; i++)
		assert_int_equal(evc_call_later_async(c, HOUR,
						      EVC_CLOCK_MONOTONIC,
						      NULL, on_seq, &s),
				 0);
	/* Its reply comes after the 100 ahead of it; their callbacks wait
	 * for the loop: a blocking call runs none. */
	assert_int_equal(evc_time(c, 5000, &t), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(evc_pending(c), 0);
	assert_int_equal(evc_next_timeout_ms(c), 0);
	assert_int_equal(evc_process(c), 0);
	assert_int_equal(s.n, 100);
	assert_int_equal(s.bad_order, 0);
	evc_close(c);
}

/* A blocking call made from inside a completion. */
static void
on_nested(struct evc *c, const struct evc_result *res, void *arg)
{
	struct evc_time t;
	int *done = arg;

	assert_int_equal(evc_time(c, 5000, &t), 0);
	/* No re-entry into the loop from a callback. */
	assert_int_equal(evc_process(c), -EVC_E_USAGE);
	assert_int_equal(evc_drain(c, 0), -EVC_E_USAGE);
	assert_int_equal(evc_dispatch(c, 0), -EVC_E_USAGE);
	*done = 1;
}

static void
on_close(struct evc *c, const struct evc_result *res, void *arg)
{
	int *n = arg;

	(*n)++;
	evc_close(c); /* freed after this callback returns */
}

static void
test_callbacks_call_back(void **state)
{
	struct evc *c = client();
	int done = 0, n = 0;

	assert_int_equal(evc_time_async(c, on_nested, &done), 0);
	drive(c, &done);

	/* Closing from a callback: the rest of the queue is dropped, the
	 * handle is freed once the callback returns. */
	assert_int_equal(evc_time_async(c, on_close, &n), 0);
	assert_int_equal(evc_time_async(c, on_close, &n), 0);
	assert_int_equal(evc_drain(c, 5000), 0);
	assert_int_equal(n, 1);
}

/* ---- the daemon dies ---- */

struct lost {
	int fails, events, code;
};

static void
on_fail(struct evc *c, const struct evc_result *res, void *arg)
{
	struct lost *l = arg;

	assert_int_equal(res->status, -EVC_E_IO);
	l->fails++;
}

static void
on_conn(struct evc *c, enum evc_conn_event ev, int code, const char *why,
	void *arg)
{
	struct lost *l = arg;

	assert_int_equal(ev, EVC_CONN_LOST);
	assert_true(strlen(why) > 0);
	l->events++;
	l->code = code;
}

static void
test_daemon_gone_async(void **state)
{
	struct evd_proc p;
	struct lost l = {0};
	struct evc *c;
	char err[256];
	int i;

	assert_int_equal(evd_start(&p, NULL), 0);
	assert_int_equal(evc_connect(p.sock, NULL, 5000, &c, err, sizeof err),
			 0);
	evc_set_conn_cb(c, on_conn, &l);
	assert_int_equal(evd_stop(&p), 0);
	for (i = 0; i < 10; i++)
		assert_int_equal(evc_time_async(c, on_fail, &l), 0);
	/* No reconnection: the end. Every request fails, once. */
	assert_int_equal(evc_drain(c, 5000), -EVC_E_IO);
	assert_int_equal(l.fails, 10);
	assert_int_equal(l.events, 1);
	assert_int_equal(l.code, EVC_E_IO);
	assert_int_equal(evc_events_wanted(c), 0);
	assert_int_equal(evc_process(c), -EVC_E_IO);
	assert_int_equal(evc_time_async(c, on_fail, &l), -EVC_E_IO);
	evc_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_in_order),
		cmocka_unit_test(test_every_kind),
		cmocka_unit_test(test_fires_in_poll_loop),
		cmocka_unit_test(test_libevent_attach),
		cmocka_unit_test(test_blocking_between_async),
		cmocka_unit_test(test_callbacks_call_back),
		cmocka_unit_test(test_daemon_gone_async),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
