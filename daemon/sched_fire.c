/*
 * sched_fire: the firing policy. For each due timer it decides what
 * happens (plan: lateness, due time, the next occurrence; misfire and
 * catch-up; the overlap policy of a repeating exec timer; the right to
 * publish and the channel's room at fire time; the per-uid fire rate),
 * writes the timer's own transition and run record, and hands the fire
 * to deliver.h as one struct fire (deliver_ready, deliver_stage,
 * deliver_fire, in that order). A hook's end comes back through
 * sched_fire_done.
 *
 * Owns no timer: sched.c does (timers, indexes, the API), and this file
 * moves timers only through what sched_int.h gives it. Must not send,
 * publish or start anything itself: that is deliver's. Fires run on the
 * loop that owns the timer, from sched_run_clock (the timerfd callback
 * in sched_clock.c) or from an API call (trigger, resume, retry).
 */
#include "sched.h"
#include "sched_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "batch.h"
#include "channel.h"
#include "clock.h"
#include "deliver.h"
#include "hook.h"
#include "idmap.h"
#include "idtab.h"
#include "log.h"
#include "metrics.h"
#include "quota.h"
#include "repeat.h"
#include "store.h"
#include "timerq.h"

/* Bounds the time one wakeup spends firing, so a burst of due timers
 * does not starve I/O; the remainder fires on the next loop turn. */
#define SCHED_FIRE_BATCH 4096

/* Misfire "all" replays at most this many missed occurrences in a row;
 * beyond, the timer fires once and rejoins its grid (as "fire"), so a
 * timer far behind (a deadline years ago, a long pause or downtime)
 * cannot flood its channel or the loop. */
#define SCHED_CATCHUP_MAX 1000

/* The attempt number of the exec fire being made (a retry of a
 * repeating timer: an extra fire); 0: hook.c takes it from the Exec. */
_Thread_local uint32_t sched_attempt;

/*
 * The fire rate of one user's durable timers (max_fires_per_uid): a
 * token bucket per uid and loop, a second's worth deep. A timer due
 * without a token waits in the held list (its deadline, and so its
 * lateness, unchanged) until SCHED_RATE_TICK_MS later. Caller timers
 * are bounded by their own connection's back-pressure instead. The
 * buckets live in sched.rate (freed by sched_shutdown).
 */
struct sched_bucket {
	double tokens;
	int64_t last_ns;
};
#define SCHED_RATE_TICK_MS 10
static uint32_t sched_fire_rate; /* per second; 0: none (atomic) */

/* Holds a due durable timer back while the store refuses writes; it
 * fires, late, once the store writes again. */
static void
sched_hold(struct timer *t)
{
	timerq_remove(sched.clocks[t->clock].q, &t->qn);
	TAILQ_INSERT_TAIL(&sched.held, t, by_conn);
	t->held = true;
}

void
sched_release_held(void)
{
	struct timer *t;
	int i;

	if (TAILQ_EMPTY(&sched.held))
		return;
	while ((t = TAILQ_FIRST(&sched.held)) != NULL) {
		TAILQ_REMOVE(&sched.held, t, by_conn);
		t->held = false;
		if (timerq_push(sched.clocks[t->clock].q, &t->qn) < 0) {
			/* Out of memory: it is in the store and fires after
			 * a restart; say so rather than lose it silently. */
			log_about(LOG_LEVEL_WARNING, LOG_TIMER_NOUID(t->id),
				  "timer %" PRIu64 " held back: out of memory",
				  t->id);
			TAILQ_INSERT_HEAD(&sched.held, t, by_conn);
			t->held = true;
			break;
		}
	}
	for (i = 0; i < EVD_CLOCK_COUNT; i++) {
		sched.clocks[i].armed_ns = 0;
		sched_arm(&sched.clocks[i], true);
	}
}

/* Where t goes after a fire at now (on its clock). */
void
sched_plan(struct timer *t, int64_t now, bool trigger,
           struct sched_firing *f)
{
	const struct repeat *rep = timer_repeat(t);
	int misfire = t->misfire;
	int r;

	memset(f, 0, sizeof *f);
	f->counted = true;
	f->fired_rt = clock_now_ns(EVD_CLOCK_REALTIME);
	f->lateness = trigger || now < t->qn.deadline_ns
	                      ? 0
	                      : now - t->qn.deadline_ns;
	/* A wall-clock deadline is its own due time, exactly; others are
	 * converted at the time of the fire. */
	f->due_rt = t->clock == EVD_CLOCK_REALTIME && !trigger
	                    ? t->qn.deadline_ns
	                    : f->fired_rt - f->lateness;
	if (!repeat_repeats(rep))
		return;
	if (trigger) {
		f->keep = f->has_next = true;
		return;
	}
	if (misfire == EVD_MISFIRE_ALL &&
	    t->cold->catchup >= SCHED_CATCHUP_MAX)
		misfire = EVD_MISFIRE_FIRE;
	r = repeat_next(rep, misfire, t->cold->fire_count + 1,
	                timer_nominal(t), now, &f->next_ns);
	if (r == 0 && f->next_ns - now <= CLOCK_MAX_AHEAD_NS) {
		f->has_next = true;
		if (f->next_ns <= now) {
			if (t->cold->catchup++ == SCHED_CATCHUP_MAX)
				log_about(
				    LOG_LEVEL_WARNING, LOG_TIMER(t->id, t->uid),
				    "timer %" PRIu64 " (uid %u): %d missed "
				    "occurrences replayed (misfire all); "
				    "the rest are skipped",
				    t->id, (unsigned)t->uid, SCHED_CATCHUP_MAX);
		} else
			t->cold->catchup = 0;
	}
	else if (r != -ENOENT)
		log_about(LOG_LEVEL_WARNING, LOG_TIMER(t->id, t->uid),
			  "timer %" PRIu64 " (uid %u): no next occurrence "
			  "(%s); it ends with this fire",
			  t->id, (unsigned)t->uid,
			  r < 0 ? strerror(-r) : "more than a century ahead");
}

/* The store's part of a fire: the timer retired or moved to its next
 * occurrence (a trigger of a repeating timer writes nothing), and a
 * store that keeps no pending timers told of it before the fire's run
 * is appended. */
static int
sched_store_advance(struct store *s, const struct timer *t,
                    const struct sched_firing *f)
{
	const struct store_backend *be = batch_backend();
	struct store_timer st;
	int r = 0;

	if (f->keep)
		;
	else if (!f->has_next)
		r = be->retire(s, t->id, TC(t)->fence, NULL);
	else {
		sched_to_store(t, &st);
		st.deadline_ns = f->next_ns;
		st.due_rt_ns = clock_to_realtime_ns(t->clock, f->next_ns);
		if (f->counted) {
			st.fire_count = TC(t)->fire_count + 1;
			st.last_fired_rt_ns = f->fired_rt;
		}
		r = be->retire(s, t->id, TC(t)->fence, &st);
	}
	if (r == 0)
		sched_remember(be, s, t,
		               f->keep || f->has_next ? SCHED_GOES_ON
		                                      : SCHED_FIRED,
		               f->counted, f->fired_rt);
	return r;
}

/* Memory follows the store: t moves to its next occurrence, or goes. */
static void
sched_advance(struct timer *t, const struct sched_firing *f)
{
	if (f->keep)
		return;
	if (!f->has_next) {
		sched_unlink(t);
		timer_free(t);
		return;
	}
	if (f->counted) {
		t->cold->fire_count++; /* it repeats: it has a cold part */
		t->cold->last_fired_rt_ns = f->fired_rt;
	}
	sched_move(t, t->clock, f->next_ns);
}

/* Records a run that did not fire (overlap or misfire skip) and moves
 * the schedule on. Returns false if the store refuses writes. */
bool
sched_skip(struct timer *t, const struct sched_firing *plan, const char *why)
{
	struct sched_firing fs = *plan, *f = &fs;
	struct store_run run;
	struct store *s;
	int r;

	/* A skip is not a fire: it does not use up repeat.count. */
	f->counted = false;
	if (!f->keep)
		f->has_next = repeat_next(timer_repeat(t),
		                          EVD_MISFIRE_SKIP, TC(t)->fire_count,
		                          timer_nominal(t), clock_now_ns(t->clock),
		                          &f->next_ns) == 0;

	memset(&run, 0, sizeof run);
	run.timer_id = t->id;
	run.due_rt_ns = f->due_rt;
	run.lateness_ns = f->lateness;
	run.outcome = EVD_RUN_SKIPPED;
	run.detail = why;
	if (TIMER_DURABLE(t)) {
		if ((s = batch_store()) == NULL)
			return false;
		r = sched_store_advance(s, t, f);
		if (r == -ESTALE && sched.cluster != NULL) {
			/* Another node's now: it skips it, not this one. */
			sched.cluster->claim_lost(t->id);
			sched_advance(t, f);
			return true;
		}
		if (r < 0 || (r = batch_backend()->run_append(s, &run)) < 0) {
			batch_fail(r);
			return false;
		}
	} else
		sched_keep(t, f->keep || f->has_next ? SCHED_GOES_ON
		                                     : SCHED_FIRED,
		           false, f->fired_rt, &run);
	log_about(LOG_LEVEL_INFO, LOG_TIMER(t->id, t->uid),
		  "timer %" PRIu64 " (uid %u): skipped: %s", t->id,
		  (unsigned)t->uid, why);
	sched_advance(t, f);
	return true;
}

/* The fire of t that plan f describes, as delivery sees it: every
 * pointer borrowed from t; fire_id is reserved by the caller. */
static void
sched_fire_fill(struct fire *ret, const struct timer *t,
                const struct sched_firing *f)
{
	memset(ret, 0, sizeof *ret);
	ret->timer_id = t->id;
	ret->uid = t->uid;
	ret->gid = t->gid;
	if (TC(t)->exec != NULL) {
		ret->target = FIRE_EXEC;
		ret->exec = TC(t)->exec;
		ret->exec_len = TC(t)->exec_len;
		ret->attempt = sched_attempt;
		ret->repeating = TC(t)->rep != NULL &&
		                 repeat_repeats(TC(t)->rep);
	} else if (TC(t)->channel != NULL) {
		ret->target = FIRE_CHANNEL;
		ret->channel = TC(t)->channel;
		ret->delivery = TC(t)->delivery;
		ret->max_attempts = TC(t)->max_attempts;
	} else {
		ret->target = FIRE_CALLER;
		ret->conn_id = t->conn_id;
	}
	ret->payload = timer_payload(t);
	ret->payload_len = timer_payload_len(t);
	ret->due_rt_ns = f->due_rt;
	ret->fired_rt_ns = f->fired_rt;
	ret->lateness_ns = f->lateness;
}

/*
 * Fires a durable (exec or channel) timer: in one batch, the target's
 * rows (a channel's message), the timer retired (or moved to its next
 * occurrence) and the run recorded ("queued", or "started": the hook
 * starts on a later loop turn, after that commit; hook.c records its
 * end). Then delivery publishes the message or queues the hook. Returns
 * false if t must be held back (the target cannot take it now, the
 * store refuses writes).
 *
 * Cluster mode pipelines those writes (store_backend.pipeline): they
 * are sent and not waited for, and the batch's commit reads every
 * answer in one round trip, where each fire used to wait for three.
 * The fenced retire's answer then comes too late to leave the fire out
 * alone, so a retire that finds its claim gone fails the whole batch
 * (commit() says -ESTALE; store.h, fence_losses): nothing of it is
 * kept, its replies say UNAVAILABLE, nothing it fired is published or
 * started (events and hooks wait for the commit), and the scheduler
 * and channels are rebuilt from the store (loop.c). That is rare: while
 * this node's lease is live no other node may take its claims (a reap
 * needs the lease lapsed, a cancel of a claim held here is refused),
 * so only a fire later than its claim's lease (T, 3 D) can find it
 * gone. The alternative, one statement per fire that inserts the
 * message only if its retire matched, keeps the rest of the batch, but
 * the node would then have to take back a fire it already handed to
 * delivery and its channel; losing the batch reuses the recovery every
 * store failure already has. A one-shot exec timer's renewal is
 * pipelined the same way: its hook starts only after the commit, and
 * the lease it is given (T from before the statement was sent) is one
 * the database's statement can only exceed.
 */
static bool
sched_fire_durable(struct timer *t, const struct sched_firing *fg)
{
	const struct store_backend *be = batch_backend();
	struct store_run run;
	struct store_renewal rn = { .id = t->id, .fence = TC(t)->fence };
	int64_t sent_ns = 0;
	struct fire f;
	struct store *s;
	bool defer, started, pipe;
	int r;

	/* Cluster mode: a node that cannot prove its lease fires nothing
	 * (held back; dropped if the lease lapses). */
	if (sched.cluster != NULL && !sched.cluster->may_fire())
		return false;
	sched_fire_fill(&f, t, fg);
	if (deliver_ready(&f) < 0 || (s = batch_store()) == NULL)
		return false;
	/* Cluster mode: a one-shot exec timer stays claimed until its hook
	 * ended (at-least-once); the rest retire with the fire. Its fire
	 * id is its timer id, the same on whichever node fires it again
	 * (EVD_FIRE_ID, for the hook to deduplicate): timer and fire ids
	 * come from the same blocks, so no other fire has it. */
	defer = sched.cluster != NULL && f.target == FIRE_EXEC && !fg->keep &&
	        !fg->has_next;
	if (defer)
		f.fire_id = t->id;
	else if ((r = sched_next(&sched.next_fire_id, &sched.fire_id_limit,
	                         "next_fire_id", &f.fire_id)) < 0)
		return false;
	/* The retire first: one that finds its claim gone (another node
	 * has it) leaves nothing of the fire in the batch, so a channel
	 * fire is exactly-once at the store. A deferred one is not retired
	 * now: its claim is renewed instead, fenced, so that a claim
	 * another node took (its lease lapsed while the fire was late) is
	 * not fired here too, and the hook's lease runs T from now (the
	 * cluster renews it while the hook waits or runs). */
	pipe = sched.cluster != NULL && be->pipeline != NULL;
	if (defer) {
		/* Pipelined, its renewal is gathered with the turn's others
		 * and judged at the commit (store.h): kept, T left from now;
		 * a claim found gone there loses the batch, as a retire's
		 * does, before the hook could start (hooks start after the
		 * commit, exec_batch_end). */
		sent_ns = clock_now_ns(EVD_CLOCK_MONOTONIC);
		if (pipe)
			be->pipeline(s, true);
		r = be->renew(s, &rn, 1);
		r = r < 0 ? r : rn.kept ? 0 : -ESTALE;
	} else {
		if (pipe)
			be->pipeline(s, true);
		r = sched_store_advance(s, t, fg);
	}
	if (r == -ESTALE && sched.cluster != NULL) {
		if (pipe)
			be->pipeline(s, false);
		sched.cluster->claim_lost(t->id);
		sched_advance(t, fg);
		return true;
	}
	if (r < 0) {
		if (pipe)
			be->pipeline(s, false);
		batch_fail(r);
		return false;
	}
	memset(&run, 0, sizeof run);
	run.timer_id = t->id;
	run.fire_id = f.fire_id;
	run.due_rt_ns = fg->due_rt;
	run.fired_rt_ns = fg->fired_rt;
	run.lateness_ns = fg->lateness;
	run.outcome = f.target == FIRE_EXEC
	                      ? EVD_RUN_EXEC_STARTED
	                      : EVD_RUN_QUEUED;
	r = deliver_stage(&f, s);
	if (r == 0)
		r = be->run_append(s, &run);
	if (pipe)
		be->pipeline(s, false);
	if (r < 0) {
		/* The batch is lost; recovery reloads t from the store. */
		batch_fail(r);
		return false;
	}
	metrics_observe_lateness(fg->lateness);
	started = deliver_fire(&f, s);
	if (defer) {
		sched.cluster->exec_fired(t->id, TC(t)->fence, sent_ns,
		                          rn.lease_left_ns);
		/* Its failed run is recorded and nothing will end it: the
		 * claim is retired now, or it would be renewed for ever. */
		if (!started)
			sched.cluster->exec_ended(t->id);
	}
	sched_advance(t, fg);
	return true;
}

/*
 * A repeating exec timer is due while its previous run still runs: its
 * overlap policy decides. Returns true if the fire may go ahead (start a
 * run now), false if it was dealt with (skipped or deferred; *ret_held
 * set if it must be held back instead).
 */
static bool
sched_overlap(struct timer *t, const struct sched_firing *f, bool *ret_held)
{
	const struct repeat *rep = timer_repeat(t);
	uid_t owner;

	*ret_held = false;
	if (!repeat_repeats(rep) || !hook_running(t->id, &owner))
		return true;
	switch (rep->overlap) {
	case EVD_OVERLAP_ALLOW:
		return true;
	case EVD_OVERLAP_TERMINATE_PREVIOUS:
		hook_terminate(t->id);
		return true;
	case EVD_OVERLAP_QUEUE_ONE:
		if (!f->has_next)
			return true; /* its last run: nothing to wait in */
		if (!t->cold->queued_one) {
			if (!sched_skip(t, f, "deferred until the previous run "
			                      "ends (overlap queue-one)")) {
				*ret_held = true;
				return false;
			}
			t->cold->queued_one = true;
			return false;
		}
		break;
	default:
		break;
	}
	if (!sched_skip(t, f, "the previous run still runs (overlap skip)"))
		*ret_held = true;
	return false;
}

/* Delivers one fire of an ephemeral timer to its connection. t is moved
 * on (or unlinked) before anything is sent: a send, to this connection
 * or to a waiter's, may close a connection, which cancels its timers. So
 * the fire borrows from t while t is still whole, and t itself is freed
 * only after delivery, if it ended here (when no connection holds it any
 * more). */
static void
sched_fire_caller(struct timer *t, const struct sched_firing *fg)
{
	struct store_run sr;
	bool ends = !fg->has_next;
	struct fire f;

	metrics_observe_lateness(fg->lateness);
	sched_fire_fill(&f, t, fg);
	if (deliver_ready(&f) < 0) {
		/* Ephemeral timers are cancelled when their conn closes, so
		 * this is a bookkeeping bug; say so. */
		log_about(LOG_LEVEL_WARNING, LOG_TIMER_NOUID(t->id),
			  "timer %" PRIu64 " fired for vanished connection "
			  "%" PRIu64,
			  t->id, t->conn_id);
		memset(&sr, 0, sizeof sr);
		sr.timer_id = t->id;
		sr.due_rt_ns = fg->due_rt;
		sr.outcome = EVD_RUN_LOST;
		sr.detail = "its connection was gone";
		sched_keep(t, ends ? SCHED_FIRED : SCHED_GOES_ON, false,
		           fg->fired_rt, &sr);
		sched_advance(t, fg);
		return;
	}
	/* Caller fire ids need no durable reservation: they identify a
	 * fire only for the life of the connection, so one past the
	 * reserved range is fine (the next durable fire reserves past it). */
	f.fire_id = sched.next_fire_id++;
	memset(&sr, 0, sizeof sr);
	sr.timer_id = f.timer_id;
	sr.fire_id = f.fire_id;
	sr.due_rt_ns = fg->due_rt;
	sr.fired_rt_ns = fg->fired_rt;
	sr.lateness_ns = fg->lateness;
	sr.outcome = EVD_RUN_DELIVERED;
	sched_keep(t, ends ? SCHED_FIRED : SCHED_GOES_ON, fg->counted,
	           fg->fired_rt, &sr);
	if (ends)
		sched_unlink(t); /* freed after delivery, which packs from it */
	else
		sched_advance(t, fg);
	deliver_fire(&f, NULL);
	if (ends)
		timer_free(t);
}

/* Why a message of t cannot be queued now (its channel is full, its
 * owner at the message quota), or NULL. */
static const char *
sched_channel_full(const struct timer *t)
{
	static char why[CHANNEL_CANON_MAX + 64];
	char q[160];

	if (channel_queued(TC(t)->channel) >= CHANNEL_MAX_QUEUED) {
		snprintf(why, sizeof why, "channel %s is full (%d messages "
		         "waiting)", channel_display(TC(t)->channel, t->uid),
		         CHANNEL_MAX_QUEUED);
		return why;
	}
	if (quota_check(t->uid, QUOTA_MESSAGE, 0, q, sizeof q) < 0) {
		snprintf(why, sizeof why, "%s", q);
		return why;
	}
	return NULL;
}

/*
 * Fires t once, at now on its clock; trigger: an extra fire that leaves
 * a repeating timer's schedule as it is. Returns 0, or -EAGAIN if the
 * fire could not happen now (the store refuses writes, the hook queue is
 * full): t is then untouched.
 */
int
sched_fire(struct timer *t, int64_t now, bool trigger)
{
	struct sched_firing f;
	const char *why;
	bool held;

	sched_plan(t, now, trigger, &f);
	if (TC(t)->exec != NULL) {
		if (!trigger && !sched_overlap(t, &f, &held))
			return held ? -EAGAIN : 0;
		if (!sched_fire_durable(t, &f))
			return -EAGAIN;
	} else if (TC(t)->channel != NULL) {
		/* The right to publish is the owner's now, not when it was
		 * scheduled: a revoke stops timers already scheduled. */
		if (!channel_may_publish(TC(t)->channel, t->uid, t->gid)) {
			static char denied[320];

			/* The record is the owner's to read. */
			snprintf(denied, sizeof denied,
			         "uid %u may no longer publish to channel %s",
			         (unsigned)t->uid,
			         channel_display(TC(t)->channel, t->uid));
			return sched_skip(t, &f, denied) ? 0 : -EAGAIN;
		}
		/* A repeating timer was admitted once, for many messages:
		 * each fire must find room, or it is skipped (recorded) —
		 * the channel's bound and the owner's quota hold. */
		if (repeat_repeats(timer_repeat(t)) &&
		    (why = sched_channel_full(t)) != NULL) {
			if (trigger)
				return -ENOBUFS;
			return sched_skip(t, &f, why) ? 0 : -EAGAIN;
		}
		if (!sched_fire_durable(t, &f))
			return -EAGAIN;
	} else
		sched_fire_caller(t, &f);
	sched.stats.fired_total++;
	return 0;
}

void
sched_set_fire_rate(uint32_t per_second)
{
	__atomic_store_n(&sched_fire_rate, per_second, __ATOMIC_RELAXED);
}

/* May t fire now, as far as its owner's fire rate goes? Takes a token. */
static bool
sched_rate_ok(const struct timer *t)
{
	uint32_t rate = __atomic_load_n(&sched_fire_rate, __ATOMIC_RELAXED);
	struct sched_bucket *b;
	int64_t now;

	if (rate == 0 || t->uid == 0 ||
	    (TC(t)->exec == NULL && TC(t)->channel == NULL))
		return true;
	now = clock_now_ns(EVD_CLOCK_MONOTONIC);
	if ((b = idmap_get(sched.rate, (uint64_t)t->uid + 1)) == NULL) {
		/* Out of memory: not limiting beats not firing. */
		if ((b = calloc(1, sizeof *b)) == NULL ||
		    idmap_put(sched.rate, (uint64_t)t->uid + 1, b) < 0) {
			free(b);
			return true;
		}
		b->tokens = rate;
		b->last_ns = now;
	}
	b->tokens += (double)(now - b->last_ns) * rate / 1e9;
	if (b->tokens > rate)
		b->tokens = rate;
	b->last_ns = now;
	if (b->tokens < 1)
		return false;
	b->tokens -= 1;
	return true;
}

void
sched_rate_cb(evutil_socket_t fd, short what, void *arg)
{
	sched_release_held();
}

/* Fires what is due on one clock; returns true if the batch bound left
 * due timers behind. */
bool
sched_run_clock(struct sched_clock *sc)
{
	int clk = (int)(sc - sched.clocks);
	int64_t now = clock_now_ns(clk);
	struct timerq_node *n;
	int fired = 0;

	while ((n = timerq_peek(sc->q)) != NULL && n->deadline_ns <= now) {
		struct timer *t = (struct timer *)n;

		if (fired == SCHED_FIRE_BATCH)
			return true;
		fired++;
		if (!sched_rate_ok(t)) {
			static const struct timeval tick = {
				0, SCHED_RATE_TICK_MS * 1000};

			sched_hold(t);
			if (!evtimer_pending(sched.rate_ev, NULL))
				evtimer_add(sched.rate_ev, &tick);
			continue;
		}
		if (sched_fire(t, now, false) < 0)
			sched_hold(t);
	}
	return false;
}

/* A hook of timer_id ended: a run its overlap policy deferred starts. */
static void
sched_hook_ended(uint64_t timer_id)
{
	struct timer *t = idtab_get(sched.by_id, timer_id);
	uid_t owner;

	if (t == NULL || timer_repeat(t) == NULL || !t->cold->queued_one ||
	    hook_running(timer_id, &owner))
		return;
	t->cold->queued_one = false;
	/* The deferred run: an extra fire, the schedule already moved on. */
	if (sched_fire(t, clock_now_ns(t->clock), true) < 0) {
		t->cold->queued_one = true; /* tried again at the next end */
		log_about(LOG_LEVEL_WARNING, LOG_TIMER_NOUID(timer_id),
			  "timer %" PRIu64 ": deferred run not started yet "
			  "(store or hook queue unavailable)",
			  timer_id);
	}
}

void
sched_fire_unrun(uint64_t timer_id)
{
	if (sched.cluster != NULL)
		sched.cluster->exec_unrun(timer_id);
	sched_hook_ended(timer_id);
	sched_release_held();
}

void
sched_fire_done(uint64_t timer_id)
{
	if (sched.cluster != NULL)
		sched.cluster->exec_ended(timer_id);
	sched_hook_ended(timer_id);
	sched_release_held();
}
