/*
 * Unit tests of the scheduler (daemon/sched.c) with delivery faked and
 * the clock simulated.
 *
 * The fake delivery (deliver_ready, deliver_stage, deliver_fire,
 * deliver_failure, deliver_cancelled, deliver_run_ended, deliver_waited,
 * defined here, so deliver.o is
 * never linked) and the fake hooks (hook_running, hook_terminate: which
 * timers have a run going, for the overlap policy; hook.o is not linked
 * either) records every call and a copy of
 * its struct fire; the fake clock (clock_set_source) stands still until
 * a test moves it. Fires are driven by sched_run_clock (sched_int.h),
 * what the timerfd callback runs, so no timerfd has to expire. Durable
 * (exec) timers go to a memory store opened through batch_init.
 *
 * The checks are on what delivery receives: which timers, in which
 * order, with which ids, payload, lateness and wall times; a wrong order
 * or a wrong field fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "batch.h"
#include "clock.h"
#include "channel.h"
#include "deliver.h"
#include "hook.h"
#include "quota.h"
#include "repeat.h"
#include "sched.h"
#include "sched_int.h"
#include "store.h"

#define S INT64_C(1000000000)
#define MS INT64_C(1000000)
#define UID 1000
#define GID 100
#define CONN 7

/* ---- the fake clock ---- */

static int64_t fake_ns[EVD_CLOCK_COUNT];

static int64_t
fake_now(int evd_clock)
{
	return fake_ns[evd_clock];
}

/* Moves every clock by d (no step: realtime - monotonic stays). */
static void
advance(int64_t d)
{
	int i;

	for (i = 0; i < EVD_CLOCK_COUNT; i++)
		fake_ns[i] += d;
}

/* ---- the fake delivery ---- */

struct call {
	char what; /* 'r' ready, 's' stage, 'f' fire, 'F' failure message */
	struct fire f;
	char payload[32]; /* a copy: f.payload is only borrowed */
	char exec[32];
};

static struct {
	struct call calls[64];
	size_t n;
	int ready_exec; /* what deliver_ready answers for an exec fire */
	uint64_t running; /* the timer whose hook runs (0: none) */
	size_t nterminated; /* hook_terminate calls */
	size_t ncancelled; /* deliver_cancelled calls (not in calls[]) */
	uint64_t cancelled_id;
	int64_t cancelled_due_rt_ns;
	bool hook_fails;  /* deliver_fire: the hook does not start */
} fake;

static void
record(char what, const struct fire *f)
{
	struct call *c;

	assert_true(fake.n < sizeof fake.calls / sizeof fake.calls[0]);
	c = &fake.calls[fake.n++];
	memset(c, 0, sizeof *c);
	c->what = what;
	c->f = *f;
	assert_true(f->payload_len < sizeof c->payload);
	if (f->payload_len > 0)
		memcpy(c->payload, f->payload, f->payload_len);
	assert_true(f->exec_len < sizeof c->exec);
	if (f->exec_len > 0)
		memcpy(c->exec, f->exec, f->exec_len);
	c->f.payload = NULL;
	c->f.exec = NULL;
}

int
deliver_ready(const struct fire *f)
{
	record('r', f);
	return f->target == FIRE_EXEC ? fake.ready_exec : 0;
}

int
deliver_stage(const struct fire *f, struct store *s)
{
	assert_non_null(s);
	record('s', f);
	return 0;
}

bool
deliver_fire(const struct fire *f, struct store *s)
{
	/* A caller fire writes nothing; a durable one is in the batch. */
	if (f->target == FIRE_CALLER)
		assert_null(s);
	else
		assert_non_null(s);
	record('f', f);
	return !(f->target == FIRE_EXEC && fake.hook_fails);
}

int
deliver_failure(const struct fire *f, struct store *s)
{
	assert_non_null(s);
	record('F', f);
	return 0;
}

bool
hook_running(uint64_t timer_id, uid_t *ret_uid)
{
	*ret_uid = UID;
	return fake.running != 0 && fake.running == timer_id;
}

void
hook_terminate(uint64_t timer_id)
{
	assert_int_equal(timer_id, fake.running);
	fake.nterminated++;
}

/* The turn-ending hook is the loop's (loop.c): nothing here sets it. */
unsigned long
deliver_caller_take(void)
{
	return 0;
}

void
deliver_cancelled(uint64_t timer_id, int64_t due_rt_ns)
{
	fake.ncancelled++;
	fake.cancelled_id = timer_id;
	fake.cancelled_due_rt_ns = due_rt_ns;
}

/* Waits on other cluster nodes' timers: no cluster here. */
void
deliver_run_ended(const struct store_run *sr)
{
	(void)sr;
	fail_msg("no cluster wait in these tests");
}

bool
deliver_waited(uint64_t timer_id)
{
	(void)timer_id;
	return false;
}

void
deliver_fill_fired(struct Evd__Fired *ret, const struct fire *f, const char *channel,
		   uint32_t attempt)
{
	(void)ret;
	(void)f;
	(void)channel;
	(void)attempt;
	fail_msg("sched never builds a Fired itself");
}

/* The i-th deliver_fire call (not counting ready and stage). */
static const struct call *
fired(size_t i)
{
	size_t k, n = 0;

	for (k = 0; k < fake.n; k++)
		if (fake.calls[k].what == 'f' && n++ == i)
			return &fake.calls[k];
	fail_msg("no fire #%zu", i);
	return NULL;
}

static size_t
nfired(void)
{
	size_t k, n = 0;

	for (k = 0; k < fake.n; k++)
		n += fake.calls[k].what == 'f';
	return n;
}

/* ---- set-up ---- */

static struct event_base *base;

static int
setup(void **state)
{
	struct store_config cfg = {
	    .history_per_timer = 16,
	    .finished_max = 100,
	};
	const struct store_backend *be;
	struct store *s = NULL;

	(void)state;
	fake_ns[EVD_CLOCK_MONOTONIC] = 1000 * S;
	fake_ns[EVD_CLOCK_BOOTTIME] = 1200 * S;
	fake_ns[EVD_CLOCK_REALTIME] = INT64_C(1700000000) * S;
	clock_set_source(fake_now);
	memset(&fake, 0, sizeof fake);
	assert_non_null(base = event_base_new());
	assert_int_equal(quota_init(), 0);
	assert_non_null(be = store_backend_find("memory"));
	assert_int_equal(be->open(&cfg, &s), 0);
	batch_init(base, be, s);
	assert_int_equal(sched_init(base, NULL), 0);
	assert_int_equal(channel_init(base), 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	channel_shutdown();
	sched_shutdown();
	batch_shutdown();
	quota_shutdown();
	event_base_free(base);
	clock_set_source(NULL);
	return 0;
}

/* Schedules a caller timer due at in_ns from now (monotonic). */
static struct timer *
add_caller(int64_t in_ns, const char *payload, int misfire, struct repeat *rep)
{
	struct sched_spec spec;
	struct timer *t = NULL;
	bool existing = true;

	memset(&spec, 0, sizeof spec);
	spec.uid = UID;
	spec.gid = GID;
	spec.clock = EVD_CLOCK_MONOTONIC;
	spec.deadline_ns = fake_ns[EVD_CLOCK_MONOTONIC] + in_ns;
	spec.conn_id = CONN;
	spec.payload = (const uint8_t *)payload;
	spec.payload_len = strlen(payload);
	spec.misfire = misfire;
	spec.rep = rep;
	assert_int_equal(sched_add(&spec, &t, &existing), 0);
	assert_false(existing);
	return t;
}

/* What the timerfd callback does when the monotonic clock is due. */
static void
run_due(void)
{
	while (sched_run_clock(&sched.clocks[EVD_CLOCK_MONOTONIC]))
		;
}

static struct repeat *
every(int64_t ns)
{
	struct repeat *r = calloc(1, sizeof *r);

	assert_non_null(r);
	r->every_ns = ns;
	return r;
}

/* The fields every caller fire of this file carries. */
static void
check_caller_fire(const struct call *c, uint64_t timer_id, const char *payload,
		  int64_t lateness_ns)
{
	assert_int_equal(c->what, 'f');
	assert_int_equal(c->f.target, FIRE_CALLER);
	assert_int_equal(c->f.timer_id, timer_id);
	assert_int_equal(c->f.uid, UID);
	assert_int_equal(c->f.gid, GID);
	assert_int_equal(c->f.conn_id, CONN);
	assert_null(c->f.channel);
	assert_int_equal(c->f.exec_len, 0);
	assert_int_equal(c->f.payload_len, strlen(payload));
	assert_string_equal(c->payload, payload);
	assert_true(c->f.fire_id != 0);
	assert_int_equal(c->f.lateness_ns, lateness_ns);
	assert_int_equal(c->f.fired_rt_ns, fake_ns[EVD_CLOCK_REALTIME]);
	/* A monotonic deadline's wall time: the fire's, less lateness. */
	assert_int_equal(c->f.due_rt_ns, c->f.fired_rt_ns - lateness_ns);
}

/* ---- tests ---- */

/* Deadline order; equal deadlines in scheduling order; nothing early. */
static void
test_fire_order(void **state)
{
	struct timer *a, *b, *c, *d;
	uint64_t ia, ib, ic, id;
	struct sched_stats st;

	(void)state;
	a = add_caller(300 * MS, "a", 0, NULL);
	b = add_caller(100 * MS, "b", 0, NULL);
	c = add_caller(200 * MS, "c", 0, NULL);
	d = add_caller(100 * MS, "d", 0, NULL); /* ties with b, later */
	ia = sched_timer_id(a);
	ib = sched_timer_id(b);
	ic = sched_timer_id(c);
	id = sched_timer_id(d);
	assert_true(ia < ib && ib < ic && ic < id);

	advance(99 * MS);
	run_due();
	assert_int_equal(fake.n, 0);

	advance(101 * MS); /* now +200 ms: b, d, c are due */
	run_due();
	assert_int_equal(nfired(), 3);
	check_caller_fire(fired(0), ib, "b", 100 * MS);
	check_caller_fire(fired(1), id, "d", 100 * MS);
	check_caller_fire(fired(2), ic, "c", 0);
	/* Each fire asked the target first, and got a fire id of its own. */
	assert_int_equal(fake.calls[0].what, 'r');
	assert_int_equal(fake.calls[0].f.timer_id, ib);
	assert_int_equal(fake.calls[1].what, 'f');
	assert_true(fired(0)->f.fire_id < fired(1)->f.fire_id);
	assert_true(fired(1)->f.fire_id < fired(2)->f.fire_id);
	/* A fired one-shot is gone. */
	assert_null(sched_lookup(ib, UID));
	assert_non_null(sched_lookup(ia, UID));

	advance(100 * MS);
	run_due();
	assert_int_equal(nfired(), 4);
	check_caller_fire(fired(3), ia, "a", 0);
	sched_get_stats(&st);
	assert_int_equal(st.fired_total, 4);
	assert_int_equal(st.pending, 0);
}

static void
test_cancel_before_fire(void **state)
{
	struct timer *a, *b;
	uint64_t ia, ib;
	struct sched_stats st;

	(void)state;
	a = add_caller(100 * MS, "a", 0, NULL);
	b = add_caller(200 * MS, "b", 0, NULL);
	ia = sched_timer_id(a);
	ib = sched_timer_id(b);
	assert_int_equal(sched_cancel(a), 0);
	assert_null(sched_lookup(ia, UID));
	/* Its waiters are told, with its deadline as wall time. */
	assert_int_equal(fake.ncancelled, 1);
	assert_int_equal(fake.cancelled_id, ia);
	assert_int_equal(fake.cancelled_due_rt_ns,
			 fake_ns[EVD_CLOCK_REALTIME] + 100 * MS);

	advance(1 * S);
	run_due();
	assert_int_equal(fake.n, 2); /* ready and fire of b only */
	check_caller_fire(fired(0), ib, "b", 800 * MS);
	sched_get_stats(&st);
	assert_int_equal(st.cancelled_total, 1);
	assert_int_equal(st.fired_total, 1);
}

/* A repeating timer moves to its next nominal occurrence after a fire. */
static void
test_repeat_next_deadline(void **state)
{
	int64_t t0 = fake_ns[EVD_CLOCK_MONOTONIC];
	struct timer *t;
	uint64_t id;

	(void)state;
	t = add_caller(10 * S, "r", EVD_MISFIRE_FIRE, every(10 * S));
	id = sched_timer_id(t);
	assert_int_equal(sched_timer_deadline(t), t0 + 10 * S);

	advance(10 * S);
	run_due();
	assert_int_equal(nfired(), 1);
	check_caller_fire(fired(0), id, "r", 0);
	assert_ptr_equal(sched_lookup(id, UID), t);
	assert_int_equal(sched_timer_deadline(t), t0 + 20 * S);

	/* Late by 3 s: fires once, and keeps its grid. */
	advance(13 * S);
	run_due();
	assert_int_equal(nfired(), 2);
	check_caller_fire(fired(1), id, "r", 3 * S);
	assert_int_equal(sched_timer_deadline(t), t0 + 30 * S);
}

/* Behind by several occurrences: misfire fire (and skip) fire once and
 * rejoin the grid; misfire all replays every missed occurrence. */
static void
test_misfire_catchup(void **state)
{
	int64_t t0 = fake_ns[EVD_CLOCK_MONOTONIC];
	struct timer *once, *skip, *all;
	uint64_t io, is, ia;
	size_t i, n_once = 0, n_skip = 0, n_all = 0;
	int64_t late_all[4];

	(void)state;
	once =
	    add_caller(10 * S, "f", EVD_MISFIRE_FIRE, every(10 * S));
	skip =
	    add_caller(10 * S, "s", EVD_MISFIRE_SKIP, every(10 * S));
	all = add_caller(10 * S, "a", EVD_MISFIRE_ALL, every(10 * S));
	io = sched_timer_id(once);
	is = sched_timer_id(skip);
	ia = sched_timer_id(all);

	advance(45 * S); /* occurrences at 10, 20, 30, 40 s have passed */
	run_due();
	for (i = 0; i < nfired(); i++) {
		const struct call *c = fired(i);

		if (c->f.timer_id == io) {
			check_caller_fire(c, io, "f", 35 * S);
			n_once++;
		} else if (c->f.timer_id == is) {
			check_caller_fire(c, is, "s", 35 * S);
			n_skip++;
		} else {
			assert_int_equal(c->f.timer_id, ia);
			assert_true(n_all < 4);
			late_all[n_all++] = c->f.lateness_ns;
		}
	}
	assert_int_equal(n_once, 1);
	assert_int_equal(n_skip, 1);
	assert_int_equal(n_all, 4);
	/* In occurrence order, each one's own lateness. */
	assert_int_equal(late_all[0], 35 * S);
	assert_int_equal(late_all[1], 25 * S);
	assert_int_equal(late_all[2], 15 * S);
	assert_int_equal(late_all[3], 5 * S);
	assert_int_equal(sched_timer_deadline(once), t0 + 50 * S);
	assert_int_equal(sched_timer_deadline(skip), t0 + 50 * S);
	assert_int_equal(sched_timer_deadline(all), t0 + 50 * S);
}

static void
test_pause_resume(void **state)
{
	struct timer *a, *b, *c;
	uint64_t ia, ib, ic;
	bool ended = true;

	(void)state;
	a = add_caller(100 * MS, "a", EVD_MISFIRE_FIRE, NULL);
	b = add_caller(200 * MS, "b", EVD_MISFIRE_FIRE, NULL);
	c = add_caller(100 * MS, "c", EVD_MISFIRE_SKIP, NULL);
	ia = sched_timer_id(a);
	ib = sched_timer_id(b);
	ic = sched_timer_id(c);
	assert_int_equal(sched_pause(a), 0);
	assert_int_equal(sched_pause(a), -EALREADY);
	assert_int_equal(sched_pause(c), 0);

	advance(300 * MS);
	run_due();
	assert_int_equal(nfired(), 1);
	check_caller_fire(fired(0), ib, "b", 100 * MS);
	assert_non_null(sched_lookup(ia, UID));

	/* Misfire fire: due while paused, it fires late once resumed. */
	assert_int_equal(sched_resume(a, &ended), 0);
	assert_false(ended);
	assert_int_equal(sched_resume(a, &ended), -EALREADY);
	run_due();
	assert_int_equal(nfired(), 2);
	check_caller_fire(fired(1), ia, "a", 200 * MS);

	/* Misfire skip: the missed one-shot ends without a fire. */
	assert_int_equal(sched_resume(c, &ended), 0);
	assert_true(ended);
	assert_null(sched_lookup(ic, UID));
	run_due();
	assert_int_equal(nfired(), 2);
}

/* A durable (exec) fire: the target is asked first; refused, the timer
 * is held untouched and fires once released; the target's rows come
 * before delivery. */
static void
test_exec_held_then_fired(void **state)
{
	static const uint8_t exec[] = {0x0a, 0x04, 't', 'r', 'u', 'e'};
	struct sched_spec spec;
	struct timer *t = NULL;
	bool existing;
	uint64_t id;
	size_t k;

	(void)state;
	memset(&spec, 0, sizeof spec);
	spec.uid = UID;
	spec.gid = GID;
	spec.clock = EVD_CLOCK_MONOTONIC;
	spec.deadline_ns = fake_ns[EVD_CLOCK_MONOTONIC] + 1 * S;
	spec.exec = exec;
	spec.exec_len = sizeof exec;
	spec.payload = (const uint8_t *)"x";
	spec.payload_len = 1;
	assert_int_equal(sched_add(&spec, &t, &existing), 0);
	id = sched_timer_id(t);
	assert_true(sched_timer_durable(t));

	fake.ready_exec = -EAGAIN; /* the owner's hook queue is full */
	advance(2 * S);
	run_due();
	assert_int_equal(fake.n, 1);
	assert_int_equal(fake.calls[0].what, 'r');
	assert_int_equal(fake.calls[0].f.target, FIRE_EXEC);
	assert_ptr_equal(sched_lookup(id, UID), t);

	fake.ready_exec = 0;
	fake.n = 0;
	sched_release_held();
	advance(1 * S);
	run_due();
	assert_int_equal(fake.n, 3);
	assert_int_equal(fake.calls[0].what, 'r');
	assert_int_equal(fake.calls[1].what, 's');
	assert_int_equal(fake.calls[2].what, 'f');
	for (k = 0; k < 3; k++) {
		const struct fire *f = &fake.calls[k].f;

		assert_int_equal(f->target, FIRE_EXEC);
		assert_int_equal(f->timer_id, id);
		assert_int_equal(f->uid, UID);
		assert_int_equal(f->gid, GID);
		assert_int_equal(f->exec_len, sizeof exec);
		assert_memory_equal(fake.calls[k].exec, exec, sizeof exec);
		assert_string_equal(fake.calls[k].payload, "x");
	}
	/* The fire id is reserved before the target's rows. */
	assert_int_equal(fake.calls[0].f.fire_id, 0);
	assert_true(fake.calls[1].f.fire_id != 0);
	assert_int_equal(fake.calls[2].f.fire_id, fake.calls[1].f.fire_id);
	/* Held, its lateness is from its deadline, 2 s ago. */
	assert_int_equal(fake.calls[2].f.lateness_ns, 2 * S);
	assert_int_equal(fake.calls[2].f.fired_rt_ns,
			 fake_ns[EVD_CLOCK_REALTIME]);
	assert_int_equal(fake.calls[2].f.due_rt_ns,
			 fake_ns[EVD_CLOCK_REALTIME] - 2 * S);
	assert_null(sched_lookup(id, UID));
}

/* Schedules an exec timer repeating every second from 1 s from now,
 * with overlap policy overlap. */
static struct timer *
add_exec_every(int overlap)
{
	static const uint8_t exec[] = {0x0a, 0x04, 't', 'r', 'u', 'e'};
	struct sched_spec spec;
	struct timer *t = NULL;
	bool existing;

	memset(&spec, 0, sizeof spec);
	spec.uid = UID;
	spec.gid = GID;
	spec.clock = EVD_CLOCK_MONOTONIC;
	spec.deadline_ns = fake_ns[EVD_CLOCK_MONOTONIC] + 1 * S;
	spec.exec = exec;
	spec.exec_len = sizeof exec;
	spec.rep = every(1 * S);
	spec.rep->overlap = overlap;
	assert_int_equal(sched_add(&spec, &t, &existing), 0);
	return t;
}

/* The overlap policy of a repeating exec timer whose previous run still
 * runs (sched_fire.c): skip moves the schedule on without a fire; allow
 * fires; terminate-previous ends the run, then fires; queue-one defers
 * the fire to the run's end (sched_fire_done), once. With no run going,
 * every policy fires. */
static void
test_overlap(void **state)
{
	struct timer *t;
	uint64_t id;
	int64_t next;

	(void)state;
	/* skip */
	t = add_exec_every(EVD_OVERLAP_SKIP);
	id = sched_timer_id(t);
	fake.running = id;
	next = sched_timer_deadline(t) + 1 * S;
	advance(1 * S);
	run_due();
	assert_int_equal(fake.n, 0);
	assert_ptr_equal(sched_lookup(id, UID), t);
	assert_int_equal(sched_timer_deadline(t), next);
	fake.running = 0; /* the run ended: the next one fires */
	advance(1 * S);
	run_due();
	assert_int_equal(nfired(), 1);
	assert_int_equal(fired(0)->f.timer_id, id);
	assert_int_equal(sched_cancel(t), 0);

	/* allow */
	fake.n = 0;
	t = add_exec_every(EVD_OVERLAP_ALLOW);
	id = sched_timer_id(t);
	fake.running = id;
	advance(1 * S);
	run_due();
	assert_int_equal(nfired(), 1);
	assert_int_equal(fired(0)->f.timer_id, id);
	assert_int_equal(fake.nterminated, 0);
	assert_int_equal(sched_cancel(t), 0);

	/* terminate-previous */
	fake.n = 0;
	t = add_exec_every(EVD_OVERLAP_TERMINATE_PREVIOUS);
	id = sched_timer_id(t);
	fake.running = id;
	advance(1 * S);
	run_due();
	assert_int_equal(fake.nterminated, 1);
	assert_int_equal(nfired(), 1);
	assert_int_equal(fired(0)->f.timer_id, id);
	assert_int_equal(sched_cancel(t), 0);

	/* queue-one */
	fake.n = 0;
	t = add_exec_every(EVD_OVERLAP_QUEUE_ONE);
	id = sched_timer_id(t);
	fake.running = id;
	advance(1 * S);
	run_due();
	assert_int_equal(fake.n, 0); /* deferred, not fired */
	advance(1 * S);
	run_due();
	assert_int_equal(fake.n, 0); /* one waits already: skipped */
	sched_fire_done(id); /* still running: nothing yet */
	assert_int_equal(fake.n, 0);
	fake.running = 0;
	sched_fire_done(id); /* the run ended: the deferred one starts */
	assert_int_equal(nfired(), 1);
	assert_int_equal(fired(0)->f.timer_id, id);
	assert_int_equal(fired(0)->f.lateness_ns, 0); /* an extra fire */
	sched_fire_done(id); /* nothing more was deferred */
	assert_int_equal(nfired(), 1);
	assert_int_equal(sched_cancel(t), 0);
}

/* An exec timer's failure message (sched_publish_failure): the right to
 * publish is judged now, then deliver gets one channel fire with a fresh
 * fire id, the payload and the wall time of now; without the right,
 * nothing reaches deliver. */
static void
test_failure_message(void **state)
{
	struct sched_failure_msg m;
	char why[128];

	(void)state;
	memset(&m, 0, sizeof m);
	m.timer_id = 42;
	m.uid = UID;
	m.gid = GID;
	m.channel = "1000:alerts";
	m.payload = (const uint8_t *)"boom";
	m.payload_len = 4;
	assert_int_equal(sched_publish_failure(&m, why, sizeof why), 0);
	assert_int_equal(fake.n, 1);
	assert_int_equal(fake.calls[0].what, 'F');
	assert_int_equal(fake.calls[0].f.target, FIRE_CHANNEL);
	assert_int_equal(fake.calls[0].f.timer_id, 42);
	assert_true(fake.calls[0].f.fire_id != 0);
	assert_int_equal(fake.calls[0].f.uid, UID);
	assert_string_equal(fake.calls[0].payload, "boom");
	assert_int_equal(fake.calls[0].f.delivery, EVD_DELIVERY_AT_LEAST_ONCE);
	assert_int_equal(fake.calls[0].f.lateness_ns, 0);
	assert_int_equal(fake.calls[0].f.due_rt_ns, fake_ns[EVD_CLOCK_REALTIME]);
	assert_int_equal(fake.calls[0].f.fired_rt_ns,
			 fake_ns[EVD_CLOCK_REALTIME]);

	/* Another uid's channel, which this owner may not publish to. */
	m.channel = "1001:theirs";
	assert_int_equal(sched_publish_failure(&m, why, sizeof why), -EACCES);
	assert_string_equal(why, "its owner may no longer publish to it");
	assert_int_equal(fake.n, 1);
}

/* ---- cluster mode (sched_cluster_ops) ---- */

/* The memory store as a cluster node's: ids from fake blocks, and a
 * retire that can say its claim was lost. */
static struct {
	bool live;          /* may_fire's answer */
	bool stale;         /* retire and renew: the claim is lost */
	size_t nretire, nrenew;
	uint64_t running;   /* adopted: this timer's hook runs */
	uint64_t nunrun;
	uint64_t reload_id; /* claim hands over this exec timer */
	uint64_t lost[8], fired[8], fired_fence[8], ended[8];
	size_t nlost, nfired, nended;
	uint64_t next_block;
} cfake;
static struct store_backend cluster_be;

static int
cluster_reserve(struct store *s, uint64_t *ret_first, uint64_t *ret_count)
{
	(void)s;
	*ret_first = cfake.next_block;
	*ret_count = 16;
	cfake.next_block += 16;
	return 0;
}

static int
cluster_retire(struct store *s, uint64_t id, uint64_t fence,
               const struct store_timer *next)
{
	cfake.nretire++;
	if (cfake.stale)
		return -ESTALE;
	return store_memory_backend.retire(s, id, fence, next);
}

static int
cluster_renew(struct store *s, struct store_renewal *r, size_t n)
{
	(void)s;
	cfake.nrenew += n;
	for (size_t i = 0; i < n; i++) {
		r[i].kept = !cfake.stale;
		r[i].lease_left_ns = 6 * S;
	}
	return cfake.stale ? 0 : (int)n;
}

static int
cluster_claim(struct store *s, int64_t horizon, store_timer_cb cb, void *arg)
{
	static const uint8_t exec[] = {0x0a, 0x04, 't', 'r', 'u', 'e'};
	struct store_timer st;

	(void)s;
	(void)horizon;
	if (cfake.reload_id == 0)
		return 0;
	memset(&st, 0, sizeof st);
	st.id = cfake.reload_id;
	st.fence = 7;
	st.uid = UID;
	st.gid = GID;
	st.clock = EVD_CLOCK_MONOTONIC;
	st.deadline_ns = fake_ns[EVD_CLOCK_MONOTONIC] - 1 * S;
	st.due_rt_ns = fake_ns[EVD_CLOCK_REALTIME] - 1 * S;
	st.exec = exec;
	st.exec_len = sizeof exec;
	st.max_attempts = 1;
	st.misfire = EVD_MISFIRE_FIRE;
	st.lease_left_ns = 6 * S;
	return cb(&st, arg);
}

static bool
cluster_may_fire(void)
{
	return cfake.live;
}

static void
cluster_claim_lost(uint64_t id)
{
	cfake.lost[cfake.nlost++] = id;
}

static void
cluster_exec_fired(uint64_t id, uint64_t fence, int64_t sent_ns,
                   int64_t lease_left_ns)
{
	(void)sent_ns;
	(void)lease_left_ns;
	cfake.fired_fence[cfake.nfired] = fence;
	cfake.fired[cfake.nfired++] = id;
}

static void
cluster_exec_ended(uint64_t id)
{
	cfake.ended[cfake.nended++] = id;
}

static void
cluster_exec_unrun(uint64_t id)
{
	(void)id;
	cfake.nunrun++;
}

static bool
cluster_adopted(uint64_t id, uint64_t fence, int64_t sent_ns,
                int64_t lease_left_ns)
{
	(void)fence;
	(void)sent_ns;
	(void)lease_left_ns;
	return id == cfake.running;
}

static const struct sched_cluster_ops cluster_ops = {
	.may_fire = cluster_may_fire,
	.claim_lost = cluster_claim_lost,
	.exec_fired = cluster_exec_fired,
	.exec_ended = cluster_exec_ended,
	.exec_unrun = cluster_exec_unrun,
	.adopted = cluster_adopted,
};

static int
setup_cluster(void **state)
{
	struct store_config cfg = { .history_per_timer = 16 };
	struct store *s = NULL;

	(void)state;
	fake_ns[EVD_CLOCK_MONOTONIC] = 1000 * S;
	fake_ns[EVD_CLOCK_BOOTTIME] = 1200 * S;
	fake_ns[EVD_CLOCK_REALTIME] = INT64_C(1700000000) * S;
	clock_set_source(fake_now);
	memset(&fake, 0, sizeof fake);
	memset(&cfake, 0, sizeof cfake);
	cfake.next_block = 5000;
	cluster_be = store_memory_backend;
	cluster_be.reserve_ids = cluster_reserve;
	cluster_be.retire = cluster_retire;
	cluster_be.renew = cluster_renew;
	cluster_be.claim = cluster_claim;
	assert_non_null(base = event_base_new());
	assert_int_equal(quota_init(), 0);
	assert_int_equal(cluster_be.open(&cfg, &s), 0);
	batch_init(base, &cluster_be, s);
	assert_int_equal(sched_init(base, NULL), 0);
	assert_int_equal(channel_init(base), 0);
	sched_set_cluster(&cluster_ops);
	return 0;
}

static struct timer *
add_durable(const char *channel, const uint8_t *exec, size_t exec_len)
{
	struct sched_spec spec;
	struct timer *t = NULL;
	bool existing;

	memset(&spec, 0, sizeof spec);
	spec.uid = UID;
	spec.gid = GID;
	spec.clock = EVD_CLOCK_MONOTONIC;
	spec.deadline_ns = fake_ns[EVD_CLOCK_MONOTONIC] + 1 * S;
	spec.channel = channel;
	spec.exec = exec;
	spec.exec_len = exec_len;
	spec.payload = (const uint8_t *)"x";
	spec.payload_len = 1;
	assert_int_equal(sched_add(&spec, &t, &existing), 0);
	return t;
}

/* A node that cannot prove its lease fires nothing (held back); a
 * one-shot exec timer is retired only when its hook ended, with the
 * fence it was claimed with, and its fire id is its timer id. Ids come
 * from the store's blocks. */
static void
test_cluster_exec_at_least_once(void **state)
{
	static const uint8_t exec[] = {0x0a, 0x04, 't', 'r', 'u', 'e'};
	struct timer *t;
	uint64_t id;

	(void)state;
	t = add_durable(NULL, exec, sizeof exec);
	id = sched_timer_id(t);
	assert_true(id >= 5000 && id < 5016);
	advance(2 * S);
	run_due();
	assert_int_equal(fake.n, 0); /* not even asked: no lease */
	assert_ptr_equal(sched_lookup(id, UID), t);

	cfake.live = true;
	sched_release_held();
	run_due();
	assert_int_equal(nfired(), 1);
	assert_int_equal(fired(0)->f.fire_id, id);
	assert_null(sched_lookup(id, UID));
	assert_int_equal(cfake.nretire, 0);
	assert_int_equal(cfake.nfired, 1);
	assert_int_equal(cfake.fired[0], id);
	assert_int_equal(cfake.fired_fence[0], 0);
	assert_int_equal(cfake.nrenew, 1); /* its claim, fenced, at the fire */

	sched_fire_done(id);
	assert_int_equal(cfake.nended, 1);
	assert_int_equal(cfake.ended[0], id);
	assert_int_equal(cfake.nlost, 0);
}

/* Another node took a timer over (NOTIFY "t<id>:<fence>"): it goes
 * from memory, unless this node holds it with that fence or a newer one
 * (a late notice: this node took it back meanwhile, after a rebuild). */
static void
test_cluster_taken_late_notice(void **state)
{
	struct timer *t;
	uint64_t id;

	(void)state;
	t = add_durable("ch", NULL, 0);
	id = sched_timer_id(t);
	assert_false(sched_taken_elsewhere(id, 0, 0));
	assert_ptr_equal(sched_lookup(id, UID), t);
	assert_true(sched_taken_elsewhere(id, 1, 0));
	assert_null(sched_lookup(id, UID));
	assert_false(sched_taken_elsewhere(id, 2, 0)); /* no longer held */
}

/* A one-shot exec timer whose hook does not start (its failed run is
 * recorded) is retired at once: nothing will end it, and a claim kept
 * for a hook that never runs would be renewed for ever. */
static void
test_cluster_exec_not_started(void **state)
{
	static const uint8_t exec[] = {0x0a, 0x04, 't', 'r', 'u', 'e'};
	struct timer *t;
	uint64_t id;

	(void)state;
	cfake.live = true;
	fake.hook_fails = true;
	t = add_durable(NULL, exec, sizeof exec);
	id = sched_timer_id(t);
	advance(2 * S);
	run_due();
	assert_int_equal(nfired(), 1);
	assert_int_equal(cfake.nfired, 1);
	assert_int_equal(cfake.nended, 1);
	assert_int_equal(cfake.ended[0], id);
}

/* A retire that finds its claim gone (another node has the timer) is
 * a fence loss: reported, nothing of the fire delivered or staged, and
 * the batch goes on. */
static void
test_cluster_claim_lost(void **state)
{
	struct timer *t;
	uint64_t id;

	(void)state;
	cfake.live = true;
	t = add_durable("jobs", NULL, 0);
	id = sched_timer_id(t);
	cfake.stale = true;
	advance(2 * S);
	run_due();
	assert_int_equal(cfake.nretire, 1);
	assert_int_equal(cfake.nlost, 1);
	assert_int_equal(cfake.lost[0], id);
	for (size_t k = 0; k < fake.n; k++)
		assert_true(fake.calls[k].what != 's' &&
		            fake.calls[k].what != 'f');
	assert_true(batch_store() != NULL);
	/* The node drops it (cluster.c does, on its next turn). */
	sched_drop_durable(id);
	assert_null(sched_lookup(id, UID));
}

/* H6: a one-shot exec timer whose claim another node took while its
 * fire was late (the fenced renewal at the fire finds it gone) is not
 * fired: a fence loss, as for a channel timer's retire. */
static void
test_cluster_exec_claim_taken(void **state)
{
	static const uint8_t exec[] = {0x0a, 0x04, 't', 'r', 'u', 'e'};
	struct timer *t;
	uint64_t id;

	(void)state;
	cfake.live = true;
	t = add_durable(NULL, exec, sizeof exec);
	id = sched_timer_id(t);
	cfake.stale = true;
	advance(2 * S);
	run_due();
	assert_int_equal(cfake.nrenew, 1);
	assert_int_equal(nfired(), 0);
	assert_int_equal(cfake.nfired, 0);
	assert_int_equal(cfake.nlost, 1);
	assert_int_equal(cfake.lost[0], id);
}

/* H7: a rebuild (a lost batch, an adoption) does not fire again a
 * one-shot exec timer whose hook still runs here; one whose hook does
 * not run is loaded (and fires). A hook that never ran retires
 * nothing. */
static void
test_cluster_reload_skips_running(void **state)
{
	(void)state;
	cfake.live = true;
	cfake.reload_id = 4242;
	cfake.running = 4242;
	assert_int_equal(sched_reload_durable(&cluster_be, batch_store()), 0);
	assert_null(sched_lookup(4242, UID));
	cfake.running = 0;
	assert_int_equal(sched_reload_durable(&cluster_be, batch_store()), 0);
	assert_non_null(sched_lookup(4242, UID));
	run_due();
	assert_int_equal(cfake.nfired, 1);
	sched_fire_unrun(4242);
	assert_int_equal(cfake.nunrun, 1);
	assert_int_equal(cfake.nended, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fire_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_before_fire, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_repeat_next_deadline, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_misfire_catchup, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pause_resume, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_held_then_fired, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_overlap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failure_message, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_exec_at_least_once,
					    setup_cluster, teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_exec_not_started,
					    setup_cluster, teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_claim_lost,
					    setup_cluster, teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_exec_claim_taken,
					    setup_cluster, teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_reload_skips_running,
					    setup_cluster, teardown),
	    cmocka_unit_test_setup_teardown(test_cluster_taken_late_notice,
					    setup_cluster, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
