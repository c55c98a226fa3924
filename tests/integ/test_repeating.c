/*
 * test_repeating: repeating and calendar timers against the real evd:
 * intervals keep their grid and their count, cancel stops them, calendar
 * timers (CallOn) fire on their occurrences, a durable repeating timer
 * resumes after a restart under each misfire policy, pause / resume /
 * trigger, the atomic ack-with-reschedule trampoline (also across
 * SIGKILL), exec overlap policies, and a wall-clock step seen through
 * the realtime timerfd where this machine lets us set the clock.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define MS 1000000LL
#define SEC 1000000000LL

static uint64_t next_req = 1;

static int
greet(struct evd_proc *p)
{
	int fd = raw_connect(p->sock);

	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, next_req++), 0);
	return fd;
}

/* Fired events that arrived while a reply was awaited: kept, in order,
 * for next_fired (a fire may be sent before the reply to the request
 * that caused it). */
static Evd__Reply *stash[256];
static size_t nstash;

static Evd__Reply *
call(int fd, Evd__Request *rq)
{
	Evd__Reply *r;

	rq->has_request_id = 1;
	rq->request_id = next_req++;
	assert_int_equal(raw_send_request(fd, rq), 0);
	for (;;) {
		r = raw_recv_reply(fd, 10000);
		assert_non_null(r);
		if (r->has_request_id && r->request_id == rq->request_id)
			return r;
		if (r->body_case == EVD__REPLY__BODY_FIRED &&
		    nstash < sizeof stash / sizeof stash[0])
			stash[nstash++] = r;
		else
			evd__reply__free_unpacked(r, NULL);
	}
}

static Evd__Reply *
next_fired(int fd, int timeout_ms)
{
	Evd__Reply *r;

	if (nstash > 0) {
		r = stash[0];
		memmove(stash, stash + 1, --nstash * sizeof stash[0]);
		return r;
	}
	return raw_next_fired(fd, timeout_ms);
}

/* Drops what a test left stashed. */
static void
stash_clear(void)
{
	while (nstash > 0)
		evd__reply__free_unpacked(stash[--nstash], NULL);
}

static int64_t
now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * SEC + ts.tv_nsec;
}

static void
sleep_ns(int64_t ns)
{
	struct timespec ts = { ns / SEC, ns % SEC };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Options for a repeating timer. */
struct ropt {
	int64_t every;
	uint64_t count;
	int misfire;
	int overlap;
};

static void
fill_opts(Evd__TimerOptions *o, Evd__Repeat *rp, const struct ropt *ro)
{
	evd__timer_options__init(o);
	evd__repeat__init(rp);
	if (ro == NULL)
		return;
	if (ro->every > 0 || ro->count > 0) {
		rp->has_every_ns = ro->every > 0;
		rp->every_ns = ro->every;
		rp->has_count = ro->count > 0;
		rp->count = ro->count;
		o->repeat = rp;
	}
	o->has_misfire = true;
	o->misfire = ro->misfire;
	o->has_overlap = ro->overlap != 0;
	o->overlap = ro->overlap;
}

/* CallLater (channel NULL: to this connection; argv: an exec hook);
 * returns the timer id. */
static uint64_t
later(int fd, int64_t delay, const char *channel, const char *const *argv,
      const struct ropt *ro)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Exec x = EVD__EXEC__INIT;
	Evd__TimerOptions o;
	Evd__Repeat rp;
	Evd__Reply *r;
	uint64_t id;

	fill_opts(&o, &rp, ro);
	cl.has_delay_ns = true;
	cl.delay_ns = delay;
	if (channel != NULL) {
		cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb.channel = (char *)channel;
	} else if (argv != NULL) {
		while (argv[x.n_argv] != NULL)
			x.n_argv++;
		x.argv = (char **)argv;
		cb.target_case = EVD__CALLBACK__TARGET_EXEC;
		cb.exec = &x;
	}
	cl.callback = &cb;
	cl.options = &o;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	r = call(fd, &rq);
	if (r->body_case != EVD__REPLY__BODY_SCHEDULED)
		fail_msg("call_later: %s", r->error ? r->error->message : "?");
	id = r->scheduled->timer_id;
	evd__reply__free_unpacked(r, NULL);
	return id;
}

static Evd__Reply *
call_on(int fd, const char *expr, const char *tz, const char *channel,
        uint64_t count)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallOn on = EVD__CALL_ON__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__TimerOptions o;
	Evd__Repeat rp;
	struct ropt ro = { .count = count };

	fill_opts(&o, &rp, &ro);
	on.calendar = (char *)expr;
	on.tz = (char *)tz;
	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = (char *)channel;
	on.callback = &cb;
	on.options = &o;
	rq.body_case = EVD__REQUEST__BODY_CALL_ON;
	rq.call_on = &on;
	return call(fd, &rq);
}

static void
subscribe(int fd, const char *channel)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Subscribe s = EVD__SUBSCRIBE__INIT;
	Evd__Reply *r;

	s.channel = (char *)channel;
	rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &s;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SUBSCRIBED);
	evd__reply__free_unpacked(r, NULL);
}

/* Acks a fire, with a reschedule delay if delay >= 0; returns the reply. */
static Evd__Reply *
ack(int fd, uint64_t fire_id, int64_t delay)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Ack a = EVD__ACK__INIT;

	a.has_fire_id = true;
	a.fire_id = fire_id;
	if (delay >= 0) {
		a.reschedule_case = EVD__ACK__RESCHEDULE_RESCHEDULE_DELAY_NS;
		a.reschedule_delay_ns = delay;
	}
	rq.body_case = EVD__REQUEST__BODY_ACK;
	rq.ack = &a;
	return call(fd, &rq);
}

static Evd__Reply *
get(int fd, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Get g = EVD__GET__INIT;

	g.has_timer_id = true;
	g.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_GET;
	rq.get = &g;
	return call(fd, &rq);
}

/* Pause (1), resume (2) or trigger (3). */
static Evd__Reply *
control(int fd, int what, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Pause p = EVD__PAUSE__INIT;
	Evd__Resume re = EVD__RESUME__INIT;
	Evd__Trigger t = EVD__TRIGGER__INIT;

	p.has_timer_id = re.has_timer_id = t.has_timer_id = true;
	p.timer_id = re.timer_id = t.timer_id = id;
	if (what == 1) {
		rq.body_case = EVD__REQUEST__BODY_PAUSE;
		rq.pause = &p;
	} else if (what == 2) {
		rq.body_case = EVD__REQUEST__BODY_RESUME;
		rq.resume = &re;
	} else {
		rq.body_case = EVD__REQUEST__BODY_TRIGGER;
		rq.trigger = &t;
	}
	return call(fd, &rq);
}

static int
error_code(Evd__Reply *r)
{
	int c = r->body_case == EVD__REPLY__BODY_ERROR ? (int)r->error->code
	                                               : -1;

	evd__reply__free_unpacked(r, NULL);
	return c;
}

/* An interval keeps its grid (each due time is the previous plus the
 * period, however late the fire) and stops at its count. */
static void
test_interval_grid_and_count(void **state)
{
	struct evd_proc p;
	struct ropt ro = { .every = 50 * MS, .count = 5 };
	int64_t due[5];
	uint64_t id;
	int fd, i;
	Evd__Reply *r;

	assert_int_equal(evd_start(&p, NULL), 0);
	fd = greet(&p);
	id = later(fd, 20 * MS, NULL, NULL, &ro);
	for (i = 0; i < 5; i++) {
		r = next_fired(fd, 5000);
		assert_non_null(r);
		assert_int_equal(r->fired->timer_id, id);
		assert_true(r->fired->lateness_ns >= 0);
		due[i] = r->fired->due_realtime_ns;
		evd__reply__free_unpacked(r, NULL);
	}
	/* Converted from the monotonic grid: equal to well under 1 ms. */
	for (i = 1; i < 5; i++)
		assert_true(llabs(due[i] - due[i - 1] - 50 * MS) < MS);
	assert_null(next_fired(fd, 200));
	/* Ended with its fifth fire, and kept so (issue 12). */
	r = get(fd, id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__FIRED);
	assert_int_equal(r->timer->fire_count, 5);
	assert_int_equal(r->timer->n_history, 5);
	assert_int_equal(r->timer->history[0]->outcome,
	                 EVD__RUN_OUTCOME__RUN_DELIVERED);
	assert_int_equal(r->timer->history[0]->due_realtime_ns, due[4]);
	evd__reply__free_unpacked(r, NULL);
	stash_clear();
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

static void
test_cancel_between_fires(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Cancel c = EVD__CANCEL__INIT;
	struct ropt ro = { .every = 100 * MS };
	struct evd_proc p;
	Evd__Reply *r;
	uint64_t id;
	int fd;

	assert_int_equal(evd_start(&p, NULL), 0);
	fd = greet(&p);
	id = later(fd, 10 * MS, NULL, NULL, &ro);
	r = next_fired(fd, 5000);
	assert_non_null(r);
	evd__reply__free_unpacked(r, NULL);
	c.has_timer_id = true;
	c.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_CANCEL;
	rq.cancel = &c;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_CANCELLED);
	evd__reply__free_unpacked(r, NULL);
	assert_null(next_fired(fd, 350));
	stash_clear();
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* CallOn: every second on the second, twice (count), in a zone; bad
 * expressions and zones are refused with the parser's reason. */
static void
test_call_on(void **state)
{
	struct evd_proc p;
	Evd__Reply *r;
	uint64_t id;
	int64_t sent_ns;
	int fd, i;

	assert_int_equal(evd_start(&p, NULL), 0);
	fd = greet(&p);
	subscribe(fd, "cal");
	/* The next whole second after the request was sent: on a loaded
	 * machine the reply may arrive after that second began. */
	sent_ns = now_ns(CLOCK_REALTIME);
	r = call_on(fd, "*:*:0/1", "Europe/Berlin", "cal", 2);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	id = r->scheduled->timer_id;
	assert_int_equal(r->scheduled->clock, EVD__CLOCK__REALTIME);
	assert_int_equal(r->scheduled->deadline_ns % SEC, 0);
	assert_true(r->scheduled->deadline_ns > sent_ns);
	evd__reply__free_unpacked(r, NULL);

	r = get(fd, id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_non_null(r->timer->options);
	assert_non_null(r->timer->options->repeat);
	assert_string_equal(r->timer->options->repeat->calendar, "*:*:0/1");
	assert_string_equal(r->timer->options->repeat->tz, "Europe/Berlin");
	assert_int_equal(r->timer->options->repeat->count, 2);
	evd__reply__free_unpacked(r, NULL);

	for (i = 0; i < 2; i++) {
		r = next_fired(fd, 5000);
		assert_non_null(r);
		assert_int_equal(r->fired->timer_id, id);
		/* On the second, never early. */
		assert_int_equal(r->fired->due_realtime_ns % SEC, 0);
		assert_true(r->fired->fired_realtime_ns >=
		            r->fired->due_realtime_ns);
		evd__reply__free_unpacked(ack(fd, r->fired->fire_id, -1), NULL);
		evd__reply__free_unpacked(r, NULL);
	}
	r = get(fd, id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__FIRED);
	assert_int_equal(r->timer->fire_count, 2);
	evd__reply__free_unpacked(r, NULL);

	r = call_on(fd, "Mon..Fry 09:00", NULL, "cal", 0);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_ERROR);
	assert_int_equal(r->error->code, EVD__ERROR_CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(r->error->message, "calendar"));
	evd__reply__free_unpacked(r, NULL);
	assert_int_equal(error_code(call_on(fd, "daily", "Nowhere/Atlantis",
	                                    "cal", 0)),
	                 EVD__ERROR_CODE__INVALID_ARGUMENT);
	assert_int_equal(error_code(call_on(fd, "2001-01-01", NULL, "cal", 0)),
	                 EVD__ERROR_CODE__INVALID_ARGUMENT);
	stash_clear();
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/*
 * A durable timer every second, first after 0.3 s; evd is down from 0.1
 * to about 2.6 s, so the occurrences at 0.3, 1.3 and 2.3 s pass. After
 * the restart: fire fires the first once, late; skip fires none and
 * records the skip; all fires each of the three. Then the grid goes on.
 */
static void
run_misfire(int misfire, int want_late)
{
	struct ropt ro = { .every = SEC, .misfire = misfire };
	int64_t t0, base, end;
	struct evd_proc p;
	Evd__Reply *r;
	int fd, late = 0, on_grid = 0;
	uint64_t id;
	size_t i;
	bool skip_run = false;

	assert_int_equal(evd_start(&p, NULL), 0);
	fd = greet(&p);
	t0 = now_ns(CLOCK_MONOTONIC);
	id = later(fd, 300 * MS, "mis", NULL, &ro);
	r = get(fd, id);
	base = r->timer->due_realtime_ns; /* the 0.3 s occurrence */
	evd__reply__free_unpacked(r, NULL);
	close(fd);
	assert_int_equal(evd_terminate(&p), 0);
	sleep_ns(t0 + 2600 * MS - now_ns(CLOCK_MONOTONIC));
	assert_int_equal(evd_start_in(&p, NULL), 0);
	fd = greet(&p);
	subscribe(fd, "mis");
	end = now_ns(CLOCK_MONOTONIC) + 1500 * MS;
	while ((r = next_fired(fd, 100)) != NULL ||
	       now_ns(CLOCK_MONOTONIC) < end) {
		int64_t k;

		if (r == NULL)
			continue;
		k = r->fired->due_realtime_ns - base;
		if (k < 2500 * MS)
			late++;
		else if (llabs(k - (k + SEC / 2) / SEC * SEC) < 5 * MS)
			on_grid++;
		evd__reply__free_unpacked(ack(fd, r->fired->fire_id, -1), NULL);
		evd__reply__free_unpacked(r, NULL);
		if (now_ns(CLOCK_MONOTONIC) >= end)
			break;
	}
	assert_int_equal(late, want_late);
	assert_true(on_grid >= 1);
	r = get(fd, id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__PENDING);
	for (i = 0; i < r->timer->n_history; i++)
		if (r->timer->history[i]->outcome ==
		    EVD__RUN_OUTCOME__RUN_SKIPPED)
			skip_run = true;
	assert_int_equal(skip_run, misfire == EVD__MISFIRE__MISFIRE_SKIP);
	evd__reply__free_unpacked(r, NULL);
	stash_clear();
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

static void
test_durable_misfire_fire(void **state)
{
	run_misfire(EVD__MISFIRE__MISFIRE_FIRE, 1);
}

static void
test_durable_misfire_skip(void **state)
{
	run_misfire(EVD__MISFIRE__MISFIRE_SKIP, 0);
}

static void
test_durable_misfire_all(void **state)
{
	run_misfire(EVD__MISFIRE__MISFIRE_ALL, 3);
}

/* Pause stops fires and shows PAUSED; trigger fires once, still paused;
 * resume fires the missed occurrence (misfire fire) and goes on. */
static void
test_pause_resume_trigger(void **state)
{
	struct ropt ro = { .every = 150 * MS };
	struct evd_proc p;
	Evd__Reply *r;
	uint64_t id;
	int fd;

	assert_int_equal(evd_start(&p, NULL), 0);
	fd = greet(&p);
	subscribe(fd, "pz");
	id = later(fd, 100 * MS, "pz", NULL, &ro);
	r = control(fd, 1, id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__PAUSED);
	evd__reply__free_unpacked(r, NULL);
	assert_int_equal(error_code(control(fd, 1, id)),
	                 EVD__ERROR_CODE__FAILED_PRECONDITION);
	assert_null(next_fired(fd, 400));

	r = control(fd, 3, id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__PAUSED);
	evd__reply__free_unpacked(r, NULL);
	r = next_fired(fd, 2000);
	assert_non_null(r);
	assert_int_equal(r->fired->timer_id, id);
	evd__reply__free_unpacked(ack(fd, r->fired->fire_id, -1), NULL);
	evd__reply__free_unpacked(r, NULL);
	assert_null(next_fired(fd, 300));

	r = control(fd, 2, id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__PENDING);
	evd__reply__free_unpacked(r, NULL);
	r = next_fired(fd, 2000);
	assert_non_null(r); /* the missed one, late */
	assert_true(r->fired->lateness_ns > 300 * MS);
	evd__reply__free_unpacked(ack(fd, r->fired->fire_id, -1), NULL);
	evd__reply__free_unpacked(r, NULL);
	r = next_fired(fd, 2000);
	assert_non_null(r); /* and the grid goes on */
	evd__reply__free_unpacked(r, NULL);
	assert_int_equal(error_code(control(fd, 2, id)),
	                 EVD__ERROR_CODE__FAILED_PRECONDITION);
	/* Trigger ends a one-shot: it fires now and is gone. */
	id = later(fd, 3600 * SEC, "pz", NULL, NULL);
	r = control(fd, 3, id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__FIRED);
	evd__reply__free_unpacked(r, NULL);
	r = next_fired(fd, 2000);
	assert_non_null(r);
	assert_int_equal(r->fired->timer_id, id);
	evd__reply__free_unpacked(r, NULL);
	assert_int_equal(error_code(control(fd, 3, 999999)),
	                 EVD__ERROR_CODE__NOT_FOUND);
	stash_clear();
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* The trampoline: a one-shot acked with a reschedule comes back under its
 * id; the reschedule survives SIGKILL right after its reply; an ack of a
 * fire no longer held reschedules nothing. */
static void
test_ack_reschedule(void **state)
{
	struct evd_proc p;
	Evd__Reply *r, *a;
	uint64_t id, fire;
	int fd;

	assert_int_equal(evd_start(&p, NULL), 0);
	fd = greet(&p);
	subscribe(fd, "tramp");
	id = later(fd, 50 * MS, "tramp", NULL, NULL);
	r = next_fired(fd, 5000);
	assert_non_null(r);
	fire = r->fired->fire_id;
	evd__reply__free_unpacked(r, NULL);
	a = ack(fd, fire, 100 * MS);
	assert_int_equal(a->body_case, EVD__REPLY__BODY_ACKED);
	assert_non_null(a->acked->rescheduled);
	assert_int_equal(a->acked->rescheduled->timer_id, id);
	evd__reply__free_unpacked(a, NULL);
	/* Acked already: not held any more, so no second reschedule. */
	assert_int_equal(error_code(ack(fd, fire, 10 * MS)),
	                 EVD__ERROR_CODE__NOT_FOUND);
	r = next_fired(fd, 5000);
	assert_non_null(r);
	assert_int_equal(r->fired->timer_id, id);
	fire = r->fired->fire_id;
	evd__reply__free_unpacked(r, NULL);
	assert_null(next_fired(fd, 300)); /* exactly one */

	/* Reschedule far ahead, then crash: the timer is pending after. */
	a = ack(fd, fire, 3600 * SEC);
	assert_int_equal(a->body_case, EVD__REPLY__BODY_ACKED);
	evd__reply__free_unpacked(a, NULL);
	close(fd);
	evd_kill9(&p);
	assert_int_equal(evd_start_in(&p, NULL), 0);
	fd = greet(&p);
	r = get(fd, id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__PENDING);
	assert_int_equal(r->timer->fire_count, 2);
	evd__reply__free_unpacked(r, NULL);
	stash_clear();
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* A timer 100 s behind at 10 ms with misfire all: at most 1,000 missed
 * occurrences are replayed, then it keeps its grid; nothing floods. */
static void
test_catchup_bounded(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallAt ca = EVD__CALL_AT__INIT;
	Evd__TimerOptions o;
	Evd__Repeat rp;
	struct ropt ro = { .every = 10 * MS,
		           .misfire = EVD__MISFIRE__MISFIRE_ALL };
	struct evd_proc p;
	Evd__Reply *r;
	int64_t end;
	int fd, n = 0;

	assert_int_equal(evd_start(&p, NULL), 0);
	fd = greet(&p);
	fill_opts(&o, &rp, &ro);
	ca.has_when_ns = true;
	ca.when_ns = now_ns(CLOCK_REALTIME) - 100 * SEC;
	ca.options = &o;
	rq.body_case = EVD__REQUEST__BODY_CALL_AT;
	rq.call_at = &ca;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	evd__reply__free_unpacked(r, NULL);
	end = now_ns(CLOCK_MONOTONIC) + 1000 * MS;
	while (now_ns(CLOCK_MONOTONIC) < end &&
	       (r = next_fired(fd, 200)) != NULL) {
		n++;
		evd__reply__free_unpacked(r, NULL);
	}
	/* 1,001 at once (the late one and the replayed), then about 100
	 * on the grid in the second: far from the 10,000 missed. */
	assert_true(n >= 1000);
	assert_true(n < 1500);
	stash_clear();
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* A connection closing with thousands of timers (the bulk removal from
 * the queues) leaves the other connections' timers firing on time and
 * nothing of its own behind. */
static void
test_conn_close_many(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Stats st = EVD__STATS__INIT;
	struct evd_proc p;
	Evd__Reply *r;
	uint64_t keep;
	int a, b, i;

	assert_int_equal(evd_start(&p, NULL), 0);
	a = greet(&p);
	b = greet(&p);
	for (i = 0; i < 3000; i++)
		later(a, (i % 3 == 0 ? 200 * MS : 3600 * SEC) + i, NULL, NULL,
		      NULL);
	keep = later(b, 400 * MS, NULL, NULL, NULL);
	for (i = 0; i < 50; i++)
		later(b, 3600 * SEC + i, NULL, NULL, NULL);
	stash_clear();
	close(a);
	r = next_fired(b, 5000);
	assert_non_null(r);
	assert_int_equal(r->fired->timer_id, keep);
	evd__reply__free_unpacked(r, NULL);
	rq.body_case = EVD__REQUEST__BODY_STATS;
	rq.stats = &st;
	r = call(b, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_STATS);
	assert_int_equal(r->stats->pending_timers, 50);
	evd__reply__free_unpacked(r, NULL);
	assert_null(next_fired(b, 300));
	stash_clear();
	close(b);
	assert_int_equal(evd_stop(&p), 0);
}

/* Counts a timer's runs with this outcome (and, if detail is not NULL,
 * that detail text). */
static int
count_runs(int fd, uint64_t id, int outcome, const char *detail)
{
	Evd__Reply *r = get(fd, id);
	size_t i;
	int n = 0;

	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	for (i = 0; i < r->timer->n_history; i++) {
		Evd__Run *x = r->timer->history[i];

		if ((int)x->outcome == outcome &&
		    (detail == NULL ||
		     (x->detail != NULL && strstr(x->detail, detail) != NULL)))
			n++;
	}
	evd__reply__free_unpacked(r, NULL);
	return n;
}

/* Overlap policies of a repeating hook that outlives its period. */
static void
test_exec_overlap(void **state)
{
	static const char *const slow[] = { "/bin/sleep", "0.45", NULL };
	static const char *const stuck[] = { "/bin/sleep", "30", NULL };
	struct ropt skip = { .every = 100 * MS,
		             .overlap = EVD__OVERLAP__OVERLAP_SKIP };
	struct ropt queue = { .every = 100 * MS,
		              .overlap = EVD__OVERLAP__OVERLAP_QUEUE_ONE };
	struct ropt term = { .every = 300 * MS,
		             .overlap =
		                     EVD__OVERLAP__OVERLAP_TERMINATE_PREVIOUS };
	struct evd_proc p;
	uint64_t a, b, c;
	int fd, n;

	assert_int_equal(evd_start(&p, NULL), 0);
	fd = greet(&p);
	a = later(fd, 10 * MS, NULL, slow, &skip);
	b = later(fd, 10 * MS, NULL, slow, &queue);
	c = later(fd, 10 * MS, NULL, stuck, &term);
	sleep_ns(1200 * MS);
	/* skip: fires while the run runs are recorded as skipped */
	assert_true(count_runs(fd, a, EVD__RUN_OUTCOME__RUN_SKIPPED,
	                       "overlap skip") >= 2);
	/* queue-one: one deferred run at a time, the rest skipped */
	assert_true(count_runs(fd, b, EVD__RUN_OUTCOME__RUN_SKIPPED,
	                       "queue-one") >= 1);
	n = count_runs(fd, b, EVD__RUN_OUTCOME__RUN_EXEC_STARTED, NULL);
	assert_true(n >= 2);
	/* terminate-previous: earlier runs end by SIGTERM */
	assert_true(count_runs(fd, c, EVD__RUN_OUTCOME__RUN_EXEC_SIGNALED,
	                       NULL) >= 1);
	stash_clear();
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* Setting the wall clock (to itself: a step of microseconds) reaches
 * evd through TFD_TIMER_CANCEL_ON_SET; it is counted, and a wall-clock
 * timer still fires at its instant, not early. */
static void
test_clock_step(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Stats st = EVD__STATS__INIT;
	Evd__CallAt ca = EVD__CALL_AT__INIT;
	struct evd_proc p;
	struct timespec ts;
	Evd__Reply *r;
	int64_t when;
	int fd;

	assert_int_equal(evd_start(&p, NULL), 0);
	fd = greet(&p);
	when = now_ns(CLOCK_REALTIME) + 400 * MS;
	ca.has_when_ns = true;
	ca.when_ns = when;
	rq.body_case = EVD__REQUEST__BODY_CALL_AT;
	rq.call_at = &ca;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	evd__reply__free_unpacked(r, NULL);
	clock_gettime(CLOCK_REALTIME, &ts);
	if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
		printf("test_clock_step: cannot set the clock here (%s): the "
		       "timerfd path is not exercised; clock jumps are "
		       "covered on simulated time by tests/unit/test_repeat\n",
		       strerror(errno));
		close(fd);
		assert_int_equal(evd_stop(&p), 0);
		skip();
	}
	printf("test_clock_step: stepped CLOCK_REALTIME through "
	       "clock_settime: the real timerfd path is exercised\n");
	sleep_ns(100 * MS);
	rq.body_case = EVD__REQUEST__BODY_STATS;
	rq.stats = &st;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_STATS);
	assert_true(r->stats->clock_steps >= 1);
	evd__reply__free_unpacked(r, NULL);
	r = next_fired(fd, 5000);
	assert_non_null(r);
	assert_true(r->fired->fired_realtime_ns >= when);
	evd__reply__free_unpacked(r, NULL);
	stash_clear();
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interval_grid_and_count),
		cmocka_unit_test(test_cancel_between_fires),
		cmocka_unit_test(test_call_on),
		cmocka_unit_test(test_durable_misfire_fire),
		cmocka_unit_test(test_durable_misfire_skip),
		cmocka_unit_test(test_durable_misfire_all),
		cmocka_unit_test(test_pause_resume_trigger),
		cmocka_unit_test(test_catchup_bounded),
		cmocka_unit_test(test_conn_close_many),
		cmocka_unit_test(test_ack_reschedule),
		cmocka_unit_test(test_exec_overlap),
		cmocka_unit_test(test_clock_step),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
