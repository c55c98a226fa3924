/*
 * test_client_durable: the durable-channel API of libevclient
 * (EVCLIENT_1.2) against the real evd on its SQLite store: timer options
 * round trip through evc_get, in the blocking and asynchronous paths;
 * run history after an ack; dead letters end to end (a subscriber with a
 * short visibility timeout that never acks, list, requeue, purge);
 * at-most-once delivery; the visibility timeout kept across a
 * reconnection. Waits are polls with a bound, never bare sleeps.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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
#define HOUR (3600000LL * MS)
/* The visibility timeout of the subscribers that do not ack. */
#define VISIBILITY_NS (200 * MS)

static struct evd_proc evd;
static const char *const evd_args[] = {"--store", "sqlite", NULL};

static int
setup(void **state)
{
	return evd_start(&evd, evd_args) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	return evd_stop(&evd) == 0 ? 0 : -1;
}

static struct evc *
client(const char *name)
{
	char err[256];
	struct evc *c = NULL;

	if (evc_connect(evd.sock, name, 5000, &c, err, sizeof err) < 0)
		fail_msg("evc_connect: %s", err);
	return c;
}

/* Polls channel's dead-letter list until it holds want messages (5 s
 * bound); returns the list, the caller's to free. */
static void
await_dead(struct evc *c, const char *channel, size_t want,
           struct evc_dead_list *ret)
{
	int i;

	for (i = 0; i < 250; i++) {
		assert_int_equal(evc_list_dead(c, channel, 0, 0, 5000, ret), 0);
		if (ret->count == want)
			return;
		evc_dead_list_free(ret);
		usleep(20000);
	}
	fail_msg("%s: not %zu dead message(s) after 5 s", channel, want);
}

/* Receives the next fire and checks it comes from timer_id. */
static void
receive(struct evc *c, uint64_t timer_id, struct evc_fired *ev)
{
	assert_int_equal(evc_next_event(c, 5000, ev), 0);
	assert_int_equal(ev->timer_id, timer_id);
}

static void
check_options(const struct evc_timer_info *ti,
              const struct evc_timer_options *o)
{
	assert_true(ti->has_options);
	assert_int_equal(ti->options.misfire, o->misfire);
	assert_int_equal(ti->options.delivery, o->delivery);
	assert_int_equal(ti->options.max_attempts, o->max_attempts);
	assert_int_equal(ti->options.downtime, o->downtime);
}

/* Options given on scheduling come back from evc_get, for a timer that
 * is pending and for one that fired. */
static void
test_options_round_trip(void **state)
{
	struct evc_timer_options o = {.misfire = EVC_MISFIRE_SKIP,
	                              .delivery = EVC_DELIVERY_AT_LEAST_ONCE,
	                              .max_attempts = 7,
	                              .downtime = EVC_DOWNTIME_PAUSED};
	struct evc_callback cb = {.channel = "dur-opts", .options = &o};
	struct evc *c = client("opts"), *sub = client("opts-sub");
	struct evc_scheduled later, soon;
	struct evc_timer_info ti;
	struct evc_fired ev;

	assert_int_equal(evc_call_later(c, HOUR, EVC_CLOCK_MONOTONIC, &cb,
	                                5000, &later), 0);
	assert_int_equal(evc_get(c, later.timer_id, 5000, &ti), 0);
	assert_int_equal(ti.state, EVC_TIMER_PENDING);
	/* A pending timer's options come from the daemon's memory, which
	 * may not report them (yet): check them when it does. */
	if (ti.has_options)
		check_options(&ti, &o);
	assert_int_equal(ti.history_count, 0);
	evc_timer_info_free(&ti);

	assert_int_equal(evc_subscribe(sub, "dur-opts", 5000), 0);
	assert_int_equal(evc_call_soon(c, &cb, 5000, &soon), 0);
	receive(sub, soon.timer_id, &ev);
	assert_int_equal(evc_ack(sub, ev.fire_id, 5000), 0);
	evc_fired_free(&ev);
	assert_int_equal(evc_get(c, soon.timer_id, 5000, &ti), 0);
	assert_int_equal(ti.state, EVC_TIMER_FIRED);
	check_options(&ti, &o);
	evc_timer_info_free(&ti);

	/* Out-of-range values are the daemon's to refuse. */
	o.misfire = 9;
	assert_int_equal(evc_call_soon(c, &cb, 5000, &soon),
	                 -EVC_E_INVALID_ARGUMENT);
	assert_non_null(strstr(evc_errmsg(c), "misfire"));
	assert_int_equal(evc_cancel(c, later.timer_id, 5000), 0);
	evc_close(sub);
	evc_close(c);
}

struct done {
	int calls;
	int status;
	struct evc_scheduled sc;
	size_t dead_count;
	bool has_dead_list;
	uint64_t count;
};

static void
done_cb(struct evc *c, const struct evc_result *res, void *arg)
{
	struct done *d = arg;

	d->calls++;
	d->status = res->status;
	if (res->scheduled != NULL)
		d->sc = *res->scheduled;
	d->has_dead_list = res->dead_list != NULL;
	if (res->dead_list != NULL)
		d->dead_count = res->dead_list->count;
	d->count = res->count;
}

/* The asynchronous forms: options on call_*_async, subscribe with a
 * visibility timeout, the dead-letter requests with their results. */
static void
test_async(void **state)
{
	struct evc_timer_options o = {.misfire = EVC_MISFIRE_ALL,
	                              .delivery = EVC_DELIVERY_AT_MOST_ONCE,
	                              .max_attempts = 3};
	struct evc_callback cb = {.channel = "dur-async", .options = &o};
	struct evc *c = client("async");
	struct done d = {0}, bad = {0}, list = {0}, purge = {0};
	struct evc_timer_info ti;
	struct evc_fired ev;

	assert_int_equal(evc_subscribe_opts_async(c, "dur-async",
	                                          VISIBILITY_NS, done_cb, &d),
	                 0);
	assert_int_equal(evc_subscribe_opts_async(c, "dur-async", -1, done_cb,
	                                          &bad),
	                 0);
	assert_int_equal(evc_drain(c, 5000), 0);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.status, 0);
	assert_int_equal(bad.calls, 1);
	assert_int_equal(bad.status, -EVC_E_INVALID_ARGUMENT);

	d = (struct done){0};
	assert_int_equal(evc_call_soon_async(c, &cb, done_cb, &d), 0);
	assert_int_equal(evc_drain(c, 5000), 0);
	assert_int_equal(d.status, 0);
	/* At most once: nothing to ack, it left the queue when sent. */
	receive(c, d.sc.timer_id, &ev);
	evc_fired_free(&ev);
	assert_int_equal(evc_get(c, d.sc.timer_id, 5000, &ti), 0);
	check_options(&ti, &o);
	evc_timer_info_free(&ti);

	assert_int_equal(evc_list_dead_async(c, "dur-async", 0, 0, done_cb,
	                                     &list),
	                 0);
	assert_int_equal(evc_purge_dead_async(c, "dur-async", 0, done_cb,
	                                      &purge),
	                 0);
	assert_int_equal(evc_drain(c, 5000), 0);
	assert_int_equal(list.status, 0);
	assert_true(list.has_dead_list);
	assert_int_equal(list.dead_count, 0);
	assert_int_equal(purge.status, -EVC_E_NOT_FOUND);
	assert_false(purge.has_dead_list);
	assert_int_equal(purge.count, 0);
	assert_int_equal(evc_list_dead_async(c, NULL, 0, 0, done_cb, &list),
	                 -EVC_E_USAGE);
	evc_close(c);
}

/* After an ack, get shows the runs newest first: ACKED, then QUEUED. */
static void
test_history_after_ack(void **state)
{
	struct evc_callback cb = {.channel = "dur-hist", .payload = "h",
	                          .payload_len = 1};
	struct evc *c = client("hist");
	struct evc_scheduled s;
	struct evc_timer_info ti;
	struct evc_fired ev;

	assert_int_equal(evc_subscribe(c, "dur-hist", 5000), 0);
	assert_int_equal(evc_call_soon(c, &cb, 5000, &s), 0);
	receive(c, s.timer_id, &ev);
	assert_int_equal(evc_ack(c, ev.fire_id, 5000), 0);
	assert_int_equal(evc_get(c, s.timer_id, 5000, &ti), 0);
	assert_int_equal(ti.state, EVC_TIMER_FIRED);
	assert_int_equal(ti.fire_count, 1);
	assert_int_equal(ti.history_count, 2);
	assert_int_equal(ti.history[0].outcome, EVC_RUN_ACKED);
	assert_int_equal(ti.history[1].outcome, EVC_RUN_QUEUED);
	assert_int_equal(ti.history[0].fire_id, ev.fire_id);
	assert_int_equal(ti.history[1].fire_id, ev.fire_id);
	assert_int_equal(ti.history[1].due_realtime_ns, ev.due_realtime_ns);
	assert_true(ti.history[1].fired_realtime_ns >=
	            ti.history[1].due_realtime_ns);
	evc_fired_free(&ev);
	evc_timer_info_free(&ti);
	/* NULL-safe, and leaves the struct zeroed. */
	evc_timer_info_free(NULL);
	assert_null(ti.history);
	assert_int_equal(ti.history_count, 0);
	evc_close(c);
}

/* A message that is never acked goes to the dead-letter list after
 * max_attempts deliveries; requeued, it is delivered again and can be
 * acked; the history tells the whole story. */
static void
test_dead_letter_requeue(void **state)
{
	struct evc_timer_options o = {.max_attempts = 1};
	struct evc_callback cb = {.channel = "dur-dead", .payload = "dl",
	                          .payload_len = 2, .options = &o};
	struct evc *c = client("dead"), *sub = client("dead-sub");
	struct evc_scheduled s;
	struct evc_dead_list dl;
	struct evc_timer_info ti;
	struct evc_stats st;
	struct evc_fired ev, ev2;
	uint64_t n = 99;
	size_t i;
	bool dead_seen = false;

	assert_int_equal(evc_subscribe_opts(sub, "dur-dead", VISIBILITY_NS,
	                                    5000),
	                 0);
	assert_int_equal(evc_call_soon(c, &cb, 5000, &s), 0);
	receive(sub, s.timer_id, &ev);
	assert_int_equal(ev.attempt, 1);
	/* Not acked: after the visibility timeout it is dead. */
	await_dead(c, "dur-dead", 1, &dl);
	assert_int_equal(dl.messages[0].fire_id, ev.fire_id);
	assert_int_equal(dl.messages[0].timer_id, s.timer_id);
	assert_string_equal(dl.messages[0].channel, "dur-dead");
	assert_int_equal(dl.messages[0].payload_len, 2);
	assert_memory_equal(dl.messages[0].payload, "dl", 2);
	assert_int_equal(dl.messages[0].attempt, 1);
	assert_int_equal(dl.next_after_fire_id, 0);
	evc_dead_list_free(&dl);
	assert_null(dl.messages);
	/* Paging past it: nothing. */
	assert_int_equal(evc_list_dead(c, "dur-dead", ev.fire_id, 0, 5000,
	                               &dl),
	                 0);
	assert_int_equal(dl.count, 0);
	evc_dead_list_free(&dl);
	assert_int_equal(evc_stats(c, 5000, &st), 0);
	assert_true(st.dead_messages >= 1);
	evc_stats_free(&st);
	/* Never redelivered while dead. */
	assert_int_equal(evc_next_event(sub, 300, &ev2), -EVC_E_TIMEOUT);

	assert_int_equal(evc_requeue_dead(c, "dur-dead", ev.fire_id, 5000, &n),
	                 0);
	assert_int_equal(n, 1);
	assert_int_equal(evc_list_dead(c, "dur-dead", 0, 0, 5000, &dl), 0);
	assert_int_equal(dl.count, 0);
	evc_dead_list_free(&dl);
	n = 99;
	assert_int_equal(evc_requeue_dead(c, "dur-dead", ev.fire_id, 5000, &n),
	                 -EVC_E_NOT_FOUND);
	assert_int_equal(n, 99); /* untouched on failure */

	receive(sub, s.timer_id, &ev2);
	assert_int_equal(ev2.payload_len, 2);
	assert_int_equal(evc_ack(sub, ev2.fire_id, 5000), 0);

	assert_int_equal(evc_get(c, s.timer_id, 5000, &ti), 0);
	assert_true(ti.history_count >= 3);
	assert_int_equal(ti.history[0].outcome, EVC_RUN_ACKED);
	assert_int_equal(ti.history[ti.history_count - 1].outcome,
	                 EVC_RUN_QUEUED);
	for (i = 0; i < ti.history_count; i++)
		if (ti.history[i].outcome == EVC_RUN_DEAD_LETTERED)
			dead_seen = true;
	assert_true(dead_seen);
	evc_timer_info_free(&ti);
	evc_fired_free(&ev);
	evc_fired_free(&ev2);
	evc_close(sub);
	evc_close(c);
}

/* Purged dead letters are gone for good; requeue-all and purge-all on
 * an empty list say NOT_FOUND. */
static void
test_dead_letter_purge(void **state)
{
	struct evc_timer_options o = {.max_attempts = 1};
	struct evc_callback cb = {.channel = "dur-purge", .options = &o};
	struct evc *c = client("purge"), *sub = client("purge-sub");
	struct evc_scheduled s1, s2;
	struct evc_dead_list dl;
	struct evc_fired ev;
	uint64_t n = 0;

	assert_int_equal(evc_subscribe_opts(sub, "dur-purge", VISIBILITY_NS,
	                                    5000),
	                 0);
	assert_int_equal(evc_call_soon(c, &cb, 5000, &s1), 0);
	assert_int_equal(evc_call_soon(c, &cb, 5000, &s2), 0);
	/* Two fires, in either order; neither acked. */
	assert_int_equal(evc_next_event(sub, 5000, &ev), 0);
	evc_fired_free(&ev);
	assert_int_equal(evc_next_event(sub, 5000, &ev), 0);
	evc_fired_free(&ev);
	await_dead(c, "dur-purge", 2, &dl);
	assert_true(dl.messages[0].fire_id < dl.messages[1].fire_id);
	/* A page of one, then the next. */
	evc_dead_list_free(&dl);
	assert_int_equal(evc_list_dead(c, "dur-purge", 0, 1, 5000, &dl), 0);
	assert_int_equal(dl.count, 1);
	assert_int_equal(dl.next_after_fire_id, dl.messages[0].fire_id);
	evc_dead_list_free(&dl);

	assert_int_equal(evc_purge_dead(c, "dur-purge", 0, 5000, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(evc_list_dead(c, "dur-purge", 0, 0, 5000, &dl), 0);
	assert_int_equal(dl.count, 0);
	evc_dead_list_free(&dl);
	assert_int_equal(evc_purge_dead(c, "dur-purge", 0, 5000, NULL),
	                 -EVC_E_NOT_FOUND);
	assert_int_equal(evc_requeue_dead(c, "dur-purge", 0, 5000, NULL),
	                 -EVC_E_NOT_FOUND);
	assert_int_equal(evc_next_event(sub, 300, &ev), -EVC_E_TIMEOUT);

	/* Argument checks of this side and of the daemon's. */
	assert_int_equal(evc_list_dead(c, NULL, 0, 0, 5000, &dl),
	                 -EVC_E_USAGE);
	assert_int_equal(evc_purge_dead(c, NULL, 0, 5000, NULL), -EVC_E_USAGE);
	assert_int_equal(evc_list_dead(c, "bad name", 0, 0, 5000, &dl),
	                 -EVC_E_INVALID_ARGUMENT);
	evc_dead_list_free(NULL);
	evc_close(sub);
	evc_close(c);
}

/* At most once: a subscriber that leaves without acking takes the
 * message with it; no one gets it again and nothing is dead. */
static void
test_at_most_once(void **state)
{
	struct evc_timer_options o = {.delivery = EVC_DELIVERY_AT_MOST_ONCE,
	                              .max_attempts = 1};
	struct evc_callback cb = {.channel = "dur-amo", .options = &o};
	struct evc *c = client("amo"), *sub = client("amo-sub1"), *sub2;
	struct evc_scheduled s;
	struct evc_dead_list dl;
	struct evc_fired ev;

	assert_int_equal(evc_subscribe_opts(sub, "dur-amo", VISIBILITY_NS,
	                                    5000),
	                 0);
	assert_int_equal(evc_call_soon(c, &cb, 5000, &s), 0);
	receive(sub, s.timer_id, &ev);
	evc_fired_free(&ev);
	/* Held past the visibility timeout: still not redelivered. */
	assert_int_equal(evc_next_event(sub, 2 * VISIBILITY_NS / MS + 200,
	                                &ev),
	                 -EVC_E_TIMEOUT);
	evc_close(sub);

	sub2 = client("amo-sub2");
	assert_int_equal(evc_subscribe_opts(sub2, "dur-amo", VISIBILITY_NS,
	                                    5000),
	                 0);
	assert_int_equal(evc_next_event(sub2, 500, &ev), -EVC_E_TIMEOUT);
	assert_int_equal(evc_list_dead(c, "dur-amo", 0, 0, 5000, &dl), 0);
	assert_int_equal(dl.count, 0);
	evc_dead_list_free(&dl);
	evc_close(sub2);
	evc_close(c);
}

/* The re-subscription after a reconnection keeps the visibility timeout:
 * an unacked message comes back within a second, not the default 30 s. */
static void
test_visibility_survives_reconnect(void **state)
{
	struct evc_callback cb = {.channel = "dur-vis"};
	struct evc *c = client("vis"), *prod;
	struct evc_scheduled s;
	struct evc_fired ev, ev2;
	int r, i;

	assert_int_equal(evc_set_reconnect(c, 10, 100), 0);
	assert_int_equal(evc_subscribe_opts(c, "dur-vis", VISIBILITY_NS, 5000),
	                 0);
	assert_int_equal(evd_terminate(&evd), 0);
	assert_int_equal(evd_start_in(&evd, evd_args), 0);
	/* Any request reconnects (and re-subscribes first); retried reads
	 * wait across it. */
	for (i = 0; i < 100; i++) {
		struct evc_time t;

		r = evc_time(c, 5000, &t);
		if (r == 0)
			break;
		usleep(20000);
	}
	assert_int_equal(r, 0);

	prod = client("vis-prod");
	assert_int_equal(evc_call_soon(prod, &cb, 5000, &s), 0);
	receive(c, s.timer_id, &ev);
	/* Not acked: redelivered after the visibility timeout. */
	assert_int_equal(evc_next_event(c, 3000, &ev2), 0);
	assert_int_equal(ev2.fire_id, ev.fire_id);
	assert_int_equal(ev2.attempt, 2);
	assert_int_equal(evc_ack(c, ev2.fire_id, 5000), 0);
	evc_fired_free(&ev);
	evc_fired_free(&ev2);
	evc_close(prod);
	evc_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_round_trip),
		cmocka_unit_test(test_async),
		cmocka_unit_test(test_history_after_ack),
		cmocka_unit_test(test_dead_letter_requeue),
		cmocka_unit_test(test_dead_letter_purge),
		cmocka_unit_test(test_at_most_once),
		cmocka_unit_test(test_visibility_survives_reconnect),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
