/*
 * test_ended: what is left of a timer once it ended, through the real evd
 * with the store given on the command line (none: the default sqlite
 * store; --memory: --store memory), raw frames only, as a client written
 * from proto/evd.proto alone sees it.
 *
 * Issue 12: a fired timer of every kind (caller, channel, exec) is kept
 * as FIRED with its history: Get returns it, Wait answers its last run at
 * once, and the number kept in memory per uid is bounded (--finished-max).
 * Issue 13: a cancelled timer is kept as CANCELLED with a CANCELLED run:
 * Get returns it, Wait answers at once with that run (and a Wait pending
 * at the cancel is answered), List leaves it out, its key stays bound to
 * it (a retry of the original schedule gets it back, existing) and it
 * cannot be brought back by an ack's reschedule or Retry.
 * Issue 17: List.finished adds the ended timers to a listing, in id order
 * with the pending ones and from both places they are kept (the loop's
 * keeper, the store), paged exactly whatever the page size; List.runs
 * gives each its newest runs.
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

#include "harness.h"

#define MS 1000000LL
#define SEC 1000000000LL

static struct evd_proc evd;
static bool memory_store;
static uint64_t rid = 1;

static int
start(struct evd_proc *p, const char *finished_max)
{
	const char *args[5];
	int n = 0;

	if (memory_store) {
		args[n++] = "--store";
		args[n++] = "memory";
	}
	if (finished_max != NULL) {
		args[n++] = "--finished-max";
		args[n++] = finished_max;
	}
	args[n] = NULL;
	return evd_start(p, args);
}

static int
setup(void **state)
{
	return start(&evd, NULL) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	return evd_stop(&evd) == 0 ? 0 : -1;
}

static int
greet_at(struct evd_proc *p)
{
	int fd = raw_connect(p->sock);

	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, rid++), 0);
	return fd;
}

static int
greet(void)
{
	return greet_at(&evd);
}

static Evd__Reply *
call(int fd, Evd__Request *rq)
{
	Evd__Reply *r;

	rq->has_request_id = 1;
	rq->request_id = rid++;
	r = raw_call(fd, rq, 10000);
	assert_non_null(r);
	return r;
}

static int
code_of(Evd__Reply *r)
{
	int c = r->body_case == EVD__REPLY__BODY_ERROR ? (int)r->error->code
	                                               : 0;

	evd__reply__free_unpacked(r, NULL);
	return c;
}

/* What a schedule asks for. */
struct sched {
	int64_t delay_ns;
	const char *channel;      /* else a caller timer, or: */
	const char *const *argv;  /* an exec timer */
	size_t argc;
	const char *payload;
	const char *key;
	int64_t every_ns;         /* > 0: repeating */
};

/* CallLater; the timer id, *existing set from the reply. */
static uint64_t
schedule(int fd, const struct sched *sc, bool *existing)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Exec x = EVD__EXEC__INIT;
	Evd__TimerOptions o = EVD__TIMER_OPTIONS__INIT;
	Evd__Repeat rep = EVD__REPEAT__INIT;
	Evd__Reply *r;
	uint64_t id;

	cl.has_delay_ns = 1;
	cl.delay_ns = sc->delay_ns;
	if (sc->channel != NULL) {
		cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb.channel = (char *)sc->channel;
	} else if (sc->argv != NULL) {
		x.n_argv = sc->argc;
		x.argv = (char **)sc->argv;
		cb.target_case = EVD__CALLBACK__TARGET_EXEC;
		cb.exec = &x;
	}
	if (sc->payload != NULL) {
		cb.has_payload = 1;
		cb.payload.data = (uint8_t *)sc->payload;
		cb.payload.len = strlen(sc->payload);
	}
	if (sc->every_ns > 0) {
		rep.has_every_ns = 1;
		rep.every_ns = sc->every_ns;
		o.repeat = &rep;
		cl.options = &o;
	}
	cl.callback = &cb;
	cl.key = (char *)sc->key;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	id = r->scheduled->timer_id;
	if (existing != NULL)
		*existing = r->scheduled->existing;
	evd__reply__free_unpacked(r, NULL);
	return id;
}

static Evd__Reply *
get(int fd, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Get g = EVD__GET__INIT;

	g.has_timer_id = 1;
	g.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_GET;
	rq.get = &g;
	return call(fd, &rq);
}

/* Get, which must find the timer in state. */
static Evd__Reply *
get_in(int fd, uint64_t id, int state)
{
	Evd__Reply *r = get(fd, id);

	if (r->body_case == EVD__REPLY__BODY_ERROR)
		fail_msg("get %llu: error %d: %s", (unsigned long long)id,
		         r->error->code, r->error->message);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->timer_id, id);
	assert_int_equal(r->timer->state, state);
	return r;
}

/* Polls Get (bounded) until the timer is no longer pending. */
static Evd__Reply *
get_ended(int fd, uint64_t id)
{
	Evd__Reply *r;
	int i;

	for (i = 0; i < 500; i++) {
		r = get(fd, id);
		if (r->body_case != EVD__REPLY__BODY_TIMER ||
		    r->timer->state != EVD__TIMER_STATE__PENDING)
			return r;
		evd__reply__free_unpacked(r, NULL);
		usleep(10000);
	}
	fail_msg("timer %llu did not end", (unsigned long long)id);
	return NULL;
}

static int
cancel_code(int fd, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Cancel c = EVD__CANCEL__INIT;

	c.has_timer_id = 1;
	c.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_CANCEL;
	rq.cancel = &c;
	return code_of(call(fd, &rq));
}

/* Wait: the ExecFinished event that follows the Waiting reply. */
static Evd__Reply *
wait_run(int fd, uint64_t id, int timeout_ms)
{
	Evd__Reply *r = raw_wait_exec(fd, rid++, id, timeout_ms);

	assert_non_null(r);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_EXEC_FINISHED);
	assert_int_equal(r->exec_finished->timer_id, id);
	assert_non_null(r->exec_finished->run);
	return r;
}

/* Wait on a timer that ended: its run comes at once (well within the
 * 1 s a pending timer here would take at the least). */
static Evd__Reply *
wait_now(int fd, uint64_t id)
{
	return wait_run(fd, id, 1000);
}

/* A Wait that is NOT_FOUND. */
static int
wait_code(int fd, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Wait w = EVD__WAIT__INIT;

	w.has_timer_id = 1;
	w.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_WAIT;
	rq.wait = &w;
	return code_of(call(fd, &rq));
}

/* Whether List (no filter) shows id. */
static bool
listed(int fd, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__List l = EVD__LIST__INIT;
	Evd__Reply *r;
	bool found = false;
	size_t i;

	rq.body_case = EVD__REQUEST__BODY_LIST;
	rq.list = &l;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER_LIST);
	for (i = 0; i < r->timer_list->n_timers; i++)
		if (r->timer_list->timers[i]->timer_id == id)
			found = true;
	evd__reply__free_unpacked(r, NULL);
	return found;
}

static uint64_t
pending_count(int fd)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Stats st = EVD__STATS__INIT;
	Evd__Reply *r;
	uint64_t n;

	rq.body_case = EVD__REQUEST__BODY_STATS;
	rq.stats = &st;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_STATS);
	n = r->stats->pending_timers;
	evd__reply__free_unpacked(r, NULL);
	return n;
}

/* Issue 12: a caller timer that fired is kept, FIRED, with its delivery
 * as its last run, after its connection closed too; its key is free
 * again (the timer died with its connection's purpose). */
static void
test_caller_fired(void **state)
{
	struct sched sc = { .delay_ns = 10 * MS, .payload = "p",
		            .key = "caller-key" };
	int fd = greet(), other = greet();
	uint64_t id, fire_id, again;
	int64_t fired_rt;
	bool existing;
	Evd__Reply *r;

	id = schedule(fd, &sc, NULL);
	r = raw_next_fired(fd, 5000);
	assert_non_null(r);
	assert_int_equal(r->fired->timer_id, id);
	fire_id = r->fired->fire_id;
	fired_rt = r->fired->fired_realtime_ns;
	evd__reply__free_unpacked(r, NULL);

	r = get_in(fd, id, EVD__TIMER_STATE__FIRED);
	assert_int_equal(r->timer->fire_count, 1);
	assert_int_equal(r->timer->last_fired_realtime_ns, fired_rt);
	assert_non_null(r->timer->callback);
	assert_int_equal(r->timer->callback->payload.len, 1);
	assert_null(r->timer->key); /* released: see below */
	assert_int_equal(r->timer->n_history, 1);
	assert_int_equal(r->timer->history[0]->outcome,
	                 EVD__RUN_OUTCOME__RUN_DELIVERED);
	assert_int_equal(r->timer->history[0]->fire_id, fire_id);
	evd__reply__free_unpacked(r, NULL);

	r = wait_now(fd, id);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_DELIVERED);
	assert_int_equal(r->exec_finished->run->fire_id, fire_id);
	evd__reply__free_unpacked(r, NULL);
	/* The same key again: a new timer. */
	sc.delay_ns = 3600 * SEC;
	again = schedule(fd, &sc, &existing);
	assert_false(existing);
	assert_true(again != id);
	assert_int_equal(cancel_code(fd, again), 0);
	assert_int_equal(cancel_code(fd, id), EVD__ERROR_CODE__NOT_FOUND);

	close(fd);
	r = get_in(other, id, EVD__TIMER_STATE__FIRED);
	evd__reply__free_unpacked(r, NULL);
	r = wait_now(other, id);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_DELIVERED);
	evd__reply__free_unpacked(r, NULL);
	close(other);
}

/* Issue 12: a channel timer that fired is kept with its runs (queued,
 * then acked); Wait answers the last one at once; its key stays bound. */
static void
test_channel_fired(void **state)
{
	struct sched sc = { .delay_ns = 10 * MS, .channel = "ended-ch",
		            .payload = "m", .key = "channel-key" };
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Subscribe sub = EVD__SUBSCRIBE__INIT;
	Evd__Ack ack = EVD__ACK__INIT;
	int fd = greet();
	uint64_t id, again, fire_id;
	bool existing;
	Evd__Reply *r;

	id = schedule(fd, &sc, NULL);
	r = get_ended(fd, id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__FIRED);
	assert_int_equal(r->timer->fire_count, 1);
	assert_string_equal(r->timer->callback->channel, "ended-ch");
	assert_string_equal(r->timer->key, "channel-key");
	assert_int_equal(r->timer->n_history, 1);
	assert_int_equal(r->timer->history[0]->outcome,
	                 EVD__RUN_OUTCOME__RUN_QUEUED);
	fire_id = r->timer->history[0]->fire_id;
	evd__reply__free_unpacked(r, NULL);
	r = wait_now(fd, id);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_QUEUED);
	assert_int_equal(r->exec_finished->run->fire_id, fire_id);
	evd__reply__free_unpacked(r, NULL);

	/* A retry after the fire gets the fired timer back. */
	again = schedule(fd, &sc, &existing);
	assert_true(existing);
	assert_int_equal(again, id);

	/* Delivered and acked: the ack is its last run now. */
	sub.channel = "ended-ch";
	rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &sub;
	assert_int_equal(code_of(call(fd, &rq)), 0);
	r = raw_next_fired(fd, 5000);
	assert_non_null(r);
	assert_int_equal(r->fired->fire_id, fire_id);
	evd__reply__free_unpacked(r, NULL);
	ack.has_fire_id = 1;
	ack.fire_id = fire_id;
	rq.body_case = EVD__REQUEST__BODY_ACK;
	rq.ack = &ack;
	assert_int_equal(code_of(call(fd, &rq)), 0);
	r = get_in(fd, id, EVD__TIMER_STATE__FIRED);
	assert_int_equal(r->timer->n_history, 2);
	assert_int_equal(r->timer->history[0]->outcome,
	                 EVD__RUN_OUTCOME__RUN_ACKED);
	assert_int_equal(r->timer->history[1]->outcome,
	                 EVD__RUN_OUTCOME__RUN_QUEUED);
	evd__reply__free_unpacked(r, NULL);
	r = wait_now(fd, id);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_ACKED);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

/* Issue 12: an exec timer that ran is kept with its start and its end;
 * Wait answers the end at once; Retry runs it again from its record, with
 * either store. */
static void
test_exec_fired(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "echo out; exit 4" };
	struct sched sc = { .delay_ns = 10 * MS, .argv = argv, .argc = 3 };
	int fd = greet();
	Evd__Reply *r;
	uint64_t id;

	id = schedule(fd, &sc, NULL);
	r = wait_run(fd, id, 10000);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_EXITED);
	assert_int_equal(r->exec_finished->run->exit_code, 4);
	evd__reply__free_unpacked(r, NULL);

	r = wait_now(fd, id);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_EXITED);
	assert_int_equal(r->exec_finished->run->exit_code, 4);
	evd__reply__free_unpacked(r, NULL);
	r = get_in(fd, id, EVD__TIMER_STATE__FIRED);
	assert_int_equal(r->timer->callback->target_case,
	                 EVD__CALLBACK__TARGET_EXEC);
	assert_int_equal(r->timer->callback->exec->n_argv, 3);
	assert_int_equal(r->timer->n_history, 2);
	assert_int_equal(r->timer->history[0]->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_EXITED);
	assert_int_equal(r->timer->history[0]->stdout_tail.len, 4);
	assert_memory_equal(r->timer->history[0]->stdout_tail.data, "out\n",
	                    4);
	assert_int_equal(r->timer->history[1]->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_STARTED);
	evd__reply__free_unpacked(r, NULL);

	{
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__Retry rt = EVD__RETRY__INIT;

		rt.has_timer_id = 1;
		rt.timer_id = id;
		rq.body_case = EVD__REQUEST__BODY_RETRY;
		rq.retry = &rt;
		assert_int_equal(code_of(call(fd, &rq)), 0);
	}
	r = wait_run(fd, id, 10000);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_EXITED);
	evd__reply__free_unpacked(r, NULL);
	r = get_ended(fd, id);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__FIRED);
	assert_int_equal(r->timer->n_history, 4);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

/* Issue 13: cancelled timers of every kind are kept as CANCELLED with a
 * CANCELLED run; a pending Wait is answered, a later one at once; List
 * and Stats count them no more; Cancel again is NOT_FOUND. */
static void
test_cancelled(void **state)
{
	const char *argv[] = { "/bin/true" };
	struct sched caller = { .delay_ns = 3600 * SEC, .payload = "c" };
	struct sched chan = { .delay_ns = 3600 * SEC, .channel = "ended-cx" };
	struct sched ex = { .delay_ns = 3600 * SEC, .argv = argv, .argc = 1 };
	int fd = greet(), waiter = greet();
	uint64_t ids[3], before;
	Evd__Reply *r;
	int i;

	before = pending_count(fd);
	ids[0] = schedule(fd, &caller, NULL);
	ids[1] = schedule(fd, &chan, NULL);
	ids[2] = schedule(fd, &ex, NULL);
	assert_int_equal(pending_count(fd), before + 3);
	/* A Wait pending when the cancel comes. */
	{
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__Wait w = EVD__WAIT__INIT;

		w.has_timer_id = 1;
		w.timer_id = ids[1];
		rq.body_case = EVD__REQUEST__BODY_WAIT;
		rq.wait = &w;
		r = call(waiter, &rq);
		assert_int_equal(r->body_case, EVD__REPLY__BODY_WAITING);
		evd__reply__free_unpacked(r, NULL);
	}
	for (i = 0; i < 3; i++)
		assert_int_equal(cancel_code(fd, ids[i]), 0);
	r = raw_recv_reply(waiter, 5000);
	assert_non_null(r);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_EXEC_FINISHED);
	assert_int_equal(r->exec_finished->timer_id, ids[1]);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_CANCELLED);
	evd__reply__free_unpacked(r, NULL);
	assert_int_equal(pending_count(fd), before);

	for (i = 0; i < 3; i++) {
		r = get_in(fd, ids[i], EVD__TIMER_STATE__CANCELLED);
		assert_int_equal(r->timer->fire_count, 0);
		assert_int_equal(r->timer->n_history, 1);
		assert_int_equal(r->timer->history[0]->outcome,
		                 EVD__RUN_OUTCOME__RUN_CANCELLED);
		assert_false(r->timer->history[0]->has_fire_id &&
		             r->timer->history[0]->fire_id != 0);
		evd__reply__free_unpacked(r, NULL);
		r = wait_now(fd, ids[i]);
		assert_int_equal(r->exec_finished->run->outcome,
		                 EVD__RUN_OUTCOME__RUN_CANCELLED);
		evd__reply__free_unpacked(r, NULL);
		assert_false(listed(fd, ids[i]));
		assert_int_equal(cancel_code(fd, ids[i]),
		                 EVD__ERROR_CODE__NOT_FOUND);
	}
	/* Another connection (of the same uid) sees them too. */
	r = get_in(waiter, ids[0], EVD__TIMER_STATE__CANCELLED);
	evd__reply__free_unpacked(r, NULL);
	close(waiter);
	close(fd);
}

/* Issue 13: the key of a cancelled timer stays bound to it: a retry of
 * the original schedule (its reply lost) gets the cancelled timer back,
 * existing, and nothing is scheduled; a new key schedules anew. */
static void
test_cancelled_key(void **state)
{
	struct sched sc = { .delay_ns = 50 * MS, .channel = "ended-key",
		            .key = "report-2026-11-25" };
	int fd = greet();
	uint64_t id, again, before;
	bool existing;
	Evd__Reply *r;

	id = schedule(fd, &sc, &existing);
	assert_false(existing);
	assert_int_equal(cancel_code(fd, id), 0);
	before = pending_count(fd);
	again = schedule(fd, &sc, &existing);
	assert_int_equal(again, id);
	assert_true(existing);
	assert_int_equal(pending_count(fd), before);
	usleep(100000); /* past the deadline it would have had */
	r = get_in(fd, id, EVD__TIMER_STATE__CANCELLED);
	assert_int_equal(r->timer->fire_count, 0);
	evd__reply__free_unpacked(r, NULL);
	sc.key = "report-2026-11-26";
	again = schedule(fd, &sc, &existing);
	assert_false(existing);
	assert_true(again != id);
	close(fd);
}

/* Issue 13: a cancelled repeating channel timer is not brought back by
 * an ack that asks to reschedule it; the message can still be acked. */
static void
test_cancelled_not_revived(void **state)
{
	struct sched sc = { .delay_ns = 10 * MS, .channel = "ended-rv",
		            .every_ns = 3600 * SEC };
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Subscribe sub = EVD__SUBSCRIBE__INIT;
	Evd__Ack ack = EVD__ACK__INIT;
	Evd__Retry rt = EVD__RETRY__INIT;
	int fd = greet();
	uint64_t id, fire_id;
	Evd__Reply *r;

	id = schedule(fd, &sc, NULL);
	sub.channel = "ended-rv";
	rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &sub;
	assert_int_equal(code_of(call(fd, &rq)), 0);
	r = raw_next_fired(fd, 5000);
	assert_non_null(r);
	assert_int_equal(r->fired->timer_id, id);
	fire_id = r->fired->fire_id;
	evd__reply__free_unpacked(r, NULL);
	assert_int_equal(cancel_code(fd, id), 0);

	ack.has_fire_id = 1;
	ack.fire_id = fire_id;
	ack.reschedule_case = EVD__ACK__RESCHEDULE_RESCHEDULE_DELAY_NS;
	ack.reschedule_delay_ns = 10 * MS;
	rq.body_case = EVD__REQUEST__BODY_ACK;
	rq.ack = &ack;
	assert_int_equal(code_of(call(fd, &rq)),
	                 EVD__ERROR_CODE__FAILED_PRECONDITION);
	ack.reschedule_case = EVD__ACK__RESCHEDULE__NOT_SET;
	assert_int_equal(code_of(call(fd, &rq)), 0);
	assert_false(listed(fd, id));
	r = get_in(fd, id, EVD__TIMER_STATE__CANCELLED);
	assert_int_equal(r->timer->fire_count, 1);
	assert_int_equal(r->timer->history[0]->outcome,
	                 EVD__RUN_OUTCOME__RUN_ACKED);
	evd__reply__free_unpacked(r, NULL);
	/* Wait says cancelled, though the ack came after. */
	r = wait_now(fd, id);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_CANCELLED);
	evd__reply__free_unpacked(r, NULL);
	/* Retry does not bring it back either. */
	rt.has_timer_id = 1;
	rt.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_RETRY;
	rq.retry = &rt;
	assert_int_equal(code_of(call(fd, &rq)),
	                 EVD__ERROR_CODE__FAILED_PRECONDITION);
	close(fd);
}

/* Issue 12: at most --finished-max ended timers per uid are kept in
 * memory (caller timers with either store); the oldest goes first, and
 * a finished timer never counts as pending. */
static void
test_finished_max(void **state)
{
	struct sched sc = { .delay_ns = 1 * MS };
	struct evd_proc p;
	uint64_t ids[3];
	Evd__Reply *r;
	int fd, i;

	assert_int_equal(start(&p, "2"), 0);
	fd = greet_at(&p);
	for (i = 0; i < 3; i++) {
		ids[i] = schedule(fd, &sc, NULL);
		r = raw_next_fired(fd, 5000);
		assert_non_null(r);
		assert_int_equal(r->fired->timer_id, ids[i]);
		evd__reply__free_unpacked(r, NULL);
	}
	assert_int_equal(code_of(get(fd, ids[0])), EVD__ERROR_CODE__NOT_FOUND);
	assert_int_equal(wait_code(fd, ids[0]), EVD__ERROR_CODE__NOT_FOUND);
	for (i = 1; i < 3; i++) {
		r = get_in(fd, ids[i], EVD__TIMER_STATE__FIRED);
		evd__reply__free_unpacked(r, NULL);
	}
	assert_int_equal(pending_count(fd), 0);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);

	/* 0: none kept, as before finished timers were. */
	assert_int_equal(start(&p, "0"), 0);
	fd = greet_at(&p);
	ids[0] = schedule(fd, &sc, NULL);
	r = raw_next_fired(fd, 5000);
	assert_non_null(r);
	evd__reply__free_unpacked(r, NULL);
	assert_int_equal(code_of(get(fd, ids[0])), EVD__ERROR_CODE__NOT_FOUND);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* Every timer id List reports, page by page of limit (0: the daemon's
 * default), into ids (at most max); checks the pages' order and runs. */
static size_t
list_all(int fd, uint32_t limit, bool finished, uint32_t runs,
         const char *channel, uint64_t *ids, size_t max)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__List l = EVD__LIST__INIT;
	Evd__TimerInfo *ti;
	Evd__Reply *r;
	uint64_t after = 0;
	size_t n = 0, i;
	int pages = 0;

	for (;;) {
		assert_true(++pages < 100);
		l.channel = (char *)channel;
		l.has_after_id = after != 0;
		l.after_id = after;
		l.has_limit = limit != 0;
		l.limit = limit;
		l.has_finished = 1;
		l.finished = finished;
		l.has_runs = runs != 0;
		l.runs = runs;
		rq.body_case = EVD__REQUEST__BODY_LIST;
		rq.list = &l;
		r = call(fd, &rq);
		assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER_LIST);
		assert_true(limit == 0 || r->timer_list->n_timers <= limit);
		for (i = 0; i < r->timer_list->n_timers; i++) {
			ti = r->timer_list->timers[i];
			assert_true(ti->timer_id > after);
			assert_true(n < max);
			ids[n++] = ti->timer_id;
			after = ti->timer_id;
			if (runs == 0)
				assert_int_equal(ti->n_history, 0);
			assert_true(ti->n_history <= runs);
			if (ti->state == EVD__TIMER_STATE__CANCELLED) {
				assert_true(finished);
				if (runs > 0) {
					assert_int_equal(ti->n_history, 1);
					assert_int_equal(
					    ti->history[0]->outcome,
					    EVD__RUN_OUTCOME__RUN_CANCELLED);
				}
			}
			/* No output in a listing. */
			if (ti->n_history > 0)
				assert_false(ti->history[0]->has_stdout_tail);
		}
		if (r->timer_list->next_after_id == 0) {
			evd__reply__free_unpacked(r, NULL);
			return n;
		}
		assert_true(r->timer_list->next_after_id >= after);
		after = r->timer_list->next_after_id;
		evd__reply__free_unpacked(r, NULL);
	}
}

/* Issue 17: pending and ended timers listed together in id order, none
 * twice, none missed, whatever the page size; only pending without
 * finished; a channel filter leaves the others out, even where a page of
 * the store held only others' (the page then ends where the store's
 * did, not at the next pending timer). */
static void
test_list_finished(void **state)
{
	/* What each timer is, in id order: Pending or Cancelled, in
	 * channel ended-lf or Other; C: a caller timer that fired. */
	static const char plan[] = "POOCPOOCCPC";
	struct sched lf = { .delay_ns = 3600 * SEC, .channel = "ended-lf" };
	struct sched other = { .delay_ns = 3600 * SEC,
	                       .channel = "ended-lf-other" };
	struct sched caller = { .delay_ns = 1 * MS };
	uint64_t ids[16], all[16], pend[16], mine[16], got[32];
	size_t nall = 0, npend = 0, nmine = 0, n, i, k;
	uint32_t limits[] = {1, 2, 3, 0};
	struct evd_proc p;
	Evd__Reply *r;
	int fd;

	assert_int_equal(start(&p, NULL), 0);
	fd = greet_at(&p);
	for (i = 0; plan[i] != '\0'; i++) {
		bool last = plan[i + 1] == '\0';

		if (last) {
			/* Kept by the loop's keeper, not the store. */
			ids[i] = schedule(fd, &caller, NULL);
			r = raw_next_fired(fd, 5000);
			assert_non_null(r);
			assert_int_equal(r->fired->timer_id, ids[i]);
			evd__reply__free_unpacked(r, NULL);
		} else if (plan[i] == 'O') {
			ids[i] = schedule(fd, &other, NULL);
			assert_int_equal(cancel_code(fd, ids[i]), 0);
		} else {
			ids[i] = schedule(fd, &lf, NULL);
			if (plan[i] == 'C')
				assert_int_equal(cancel_code(fd, ids[i]), 0);
		}
		all[nall++] = ids[i];
		if (plan[i] == 'P')
			pend[npend++] = ids[i];
		if (!last && plan[i] != 'O')
			mine[nmine++] = ids[i];
	}
	for (k = 0; k < 4; k++) {
		n = list_all(fd, limits[k], true, 1, NULL, got, 32);
		assert_int_equal(n, nall);
		for (i = 0; i < n; i++)
			assert_int_equal(got[i], all[i]);
		n = list_all(fd, limits[k], false, 0, NULL, got, 32);
		assert_int_equal(n, npend);
		for (i = 0; i < n; i++)
			assert_int_equal(got[i], pend[i]);
		n = list_all(fd, limits[k], true, 0, "ended-lf", got, 32);
		assert_int_equal(n, nmine);
		for (i = 0; i < n; i++)
			assert_int_equal(got[i], mine[i]);
	}
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caller_fired),
		cmocka_unit_test(test_channel_fired),
		cmocka_unit_test(test_exec_fired),
		cmocka_unit_test(test_cancelled),
		cmocka_unit_test(test_cancelled_key),
		cmocka_unit_test(test_cancelled_not_revived),
		cmocka_unit_test(test_finished_max),
		cmocka_unit_test(test_list_finished),
	};

	memory_store = argc > 1 && strcmp(argv[1], "--memory") == 0;
	printf("store: %s\n", memory_store ? "memory" : "sqlite");
	return cmocka_run_group_tests(tests, setup, teardown);
}
