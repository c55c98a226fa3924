/*
 * deliver: one fire of a timer to its target (see deliver.h for the
 * three calls and their order).
 *
 * Owns nothing that outlives a call: a fire is borrowed, the Fired event
 * is built on the stack and packed by conn_send, the channel's message
 * is the channel's. Connections are reached by id (conn_lookup) at the
 * moment of the send, so a connection that closed is a failed lookup.
 * Must not call into sched: what it decides goes back as a return value
 * (deliver_ready, deliver_stage); a failed send is logged and recorded
 * here, never returned as well.
 */
#include "deliver.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "batch.h"
#include "channel.h"
#include "conn.h"
#include "evd_types_pb.h"
#include "exec.h"
#include "hook.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "wait.h"

void
deliver_fill_fired(Evd__Fired *ret, const struct fire *f, const char *channel,
		   uint32_t attempt)
{
	evd__fired__init(ret);
	ret->has_timer_id = ret->has_fire_id = true;
	ret->timer_id = f->timer_id;
	ret->fire_id = f->fire_id;
	ret->channel = (char *)channel;
	if (f->payload_len > 0) {
		ret->has_payload = true;
		ret->payload.data = (uint8_t *)f->payload;
		ret->payload.len = f->payload_len;
	}
	ret->has_due_realtime_ns = ret->has_fired_realtime_ns = true;
	ret->due_realtime_ns = f->due_rt_ns;
	ret->fired_realtime_ns = f->fired_rt_ns;
	ret->has_lateness_ns = ret->has_attempt = true;
	ret->lateness_ns = f->lateness_ns;
	ret->attempt = attempt;
}

int
deliver_ready(const struct fire *f)
{
	switch (f->target) {
	case FIRE_EXEC:
		/* No room in its owner's hook queue: held (late, not lost)
		 * until a hook ends and makes room. */
		return exec_full_uid(f->uid) ? -EAGAIN : 0;
	case FIRE_CALLER:
		return conn_lookup(f->conn_id) == NULL ? -ENOTCONN : 0;
	case FIRE_CHANNEL:
		break;
	}
	return 0;
}

int
deliver_stage(const struct fire *f, struct store *s)
{
	struct store_msg sm;
	int r;

	if (f->target != FIRE_CHANNEL)
		return 0;
	memset(&sm, 0, sizeof sm);
	sm.fire_id = f->fire_id;
	sm.timer_id = f->timer_id;
	sm.owner = f->uid;
	sm.channel = f->channel;
	sm.payload = f->payload;
	sm.payload_len = f->payload_len;
	sm.due_rt_ns = f->due_rt_ns;
	sm.fired_rt_ns = f->fired_rt_ns;
	sm.lateness_ns = f->lateness_ns;
	sm.max_attempts = f->max_attempts;
	sm.delivery = f->delivery;
	/* Cluster mode: claimed at insert when a subscriber is here
	 * (channel_publish then holds it under fence 1), saving a claim's
	 * round trip; else any node's subscriber may claim it. */
	sm.claim = channel_claims_new(f->channel, f->fire_id);
	if ((r = batch_backend()->enqueue(s, &sm)) == 0)
		channel_cluster_inserted(f->channel, f->uid);
	return r;
}

/* The message of a channel fire, already in the store (deliver_stage),
 * joins the channel's queue in memory. Returns what channel_publish
 * does (-ENOMEM: it is in the store only, and a restart delivers it). */
static int
deliver_publish(const struct fire *f)
{
	struct channel_fire cf;

	memset(&cf, 0, sizeof cf);
	cf.channel = f->channel;
	cf.owner = f->uid;
	cf.timer_id = f->timer_id;
	cf.fire_id = f->fire_id;
	cf.payload = f->payload;
	cf.payload_len = f->payload_len;
	cf.due_realtime_ns = f->due_rt_ns;
	cf.fired_realtime_ns = f->fired_rt_ns;
	cf.lateness_ns = f->lateness_ns;
	cf.delivery = f->delivery;
	cf.max_attempts = f->max_attempts;
	return channel_publish(&cf);
}

/* A channel fire: published, logged, and its waiters told it was
 * queued. */
static void
deliver_channel(const struct fire *f)
{
	Evd__Run run = EVD__RUN__INIT;

	if (deliver_publish(f) < 0)
		/* In the store, not in memory: a restart delivers it. */
		log_about(LOG_LEVEL_WARNING,
			  LOG_FIRE_NOUID(f->timer_id, f->fire_id),
			  "timer %" PRIu64 " fire %" PRIu64 ": out of memory "
			  "queueing on %s; it is stored and will be delivered "
			  "after a restart",
			  f->timer_id, f->fire_id, f->channel);
	log_about(LOG_LEVEL_INFO, LOG_FIRE(f->timer_id, f->uid, f->fire_id),
		  "timer %" PRIu64 " (uid %u) fire %" PRIu64 ": queued in "
		  "channel %s, %" PRId64 " us late",
		  f->timer_id, (unsigned)f->uid, f->fire_id, f->channel,
		  f->lateness_ns / 1000);
	if (!wait_watched(f->timer_id))
		return;
	/* The waiters' due time is the fire's wall time less its lateness
	 * (not due_rt_ns, which a wall-clock timer takes from its
	 * deadline): as it has always been reported. */
	run.has_fire_id = true;
	run.fire_id = f->fire_id;
	run.has_due_realtime_ns = run.has_fired_realtime_ns = true;
	run.due_realtime_ns = f->fired_rt_ns - f->lateness_ns;
	run.fired_realtime_ns = f->fired_rt_ns;
	run.has_lateness_ns = run.has_outcome = true;
	run.lateness_ns = f->lateness_ns;
	run.outcome = evd_run_outcome_to_pb(EVD_RUN_QUEUED);
	wait_notify(f->timer_id, &run);
}

/* Queues the hook of an exec fire whose "started" run sched recorded;
 * if it cannot be queued, the run is recorded as failed in s. */
static bool
deliver_exec(const struct fire *f, struct store *s)
{
	Evd__Run er = EVD__RUN__INIT;
	struct hook_fire hf;
	struct store_run run;
	char why[160];
	int r;

	memset(&hf, 0, sizeof hf);
	hf.timer_id = f->timer_id;
	hf.fire_id = f->fire_id;
	hf.uid = f->uid;
	hf.gid = f->gid;
	hf.exec = f->exec;
	hf.exec_len = f->exec_len;
	hf.payload = f->payload;
	hf.payload_len = f->payload_len;
	hf.due_rt_ns = f->due_rt_ns;
	hf.fired_rt_ns = f->fired_rt_ns;
	hf.lateness_ns = f->lateness_ns;
	hf.attempt = f->attempt;
	hf.repeating = f->repeating;
	log_about(LOG_LEVEL_INFO, LOG_FIRE(f->timer_id, f->uid, f->fire_id),
		  "timer %" PRIu64 " (uid %u) fire %" PRIu64 ": exec started, "
		  "%" PRId64 " us late",
		  f->timer_id, (unsigned)f->uid, f->fire_id,
		  f->lateness_ns / 1000);
	if (hook_fire(&hf, why, sizeof why) >= 0)
		return true;
	memset(&run, 0, sizeof run);
	run.timer_id = f->timer_id;
	run.fire_id = f->fire_id;
	run.due_rt_ns = f->due_rt_ns;
	run.fired_rt_ns = f->fired_rt_ns;
	run.lateness_ns = f->lateness_ns;
	run.outcome = EVD_RUN_EXEC_FAILED;
	run.detail = why;
	metrics_count_exec(EXEC_FAILED, -EINVAL);
	if ((r = batch_backend()->run_append(s, &run)) < 0)
		batch_fail(r);
	log_about(LOG_LEVEL_WARNING, LOG_FIRE(f->timer_id, f->uid, f->fire_id),
		  "timer %" PRIu64 " (uid %u) fire %" PRIu64
		  ": exec not started: %s",
		  f->timer_id, (unsigned)f->uid, f->fire_id, why);
	er.has_fire_id = er.has_outcome = true;
	er.fire_id = f->fire_id;
	er.outcome = evd_run_outcome_to_pb(EVD_RUN_EXEC_FAILED);
	er.detail = why;
	wait_notify(f->timer_id, &er);
	return false;
}

/* Fired events queued on callers' connections, for deliver_caller_take. */
static _Thread_local unsigned long deliver_callers;

unsigned long
deliver_caller_take(void)
{
	unsigned long n = deliver_callers;

	deliver_callers = 0;
	return n;
}

/* Sends a caller fire's event on its connection, then tells its waiters.
 * A send may close connections (this one, on error); after it only f's
 * saved values are used. */
static void
deliver_caller(const struct fire *f)
{
	struct conn *c = conn_lookup(f->conn_id);
	Evd__Reply reply = EVD__REPLY__INIT;
	Evd__Fired fired;
	Evd__Run run = EVD__RUN__INIT;
	int sent;

	if (c == NULL)
		return; /* not after deliver_ready said it is there */
	deliver_fill_fired(&fired, f, NULL, 1);
	reply.body_case = EVD__REPLY__BODY_FIRED;
	reply.fired = &fired;
	sent = conn_send(c, &reply);
	if (sent >= 0)
		deliver_callers++;
	if (sent < 0)
		log_about(LOG_LEVEL_WARNING, LOG_TIMER(f->timer_id, f->uid),
			  "timer %" PRIu64 " (uid %u): fire lost with its "
			  "connection %" PRIu64,
			  f->timer_id, (unsigned)f->uid, f->conn_id);
	else
		log_about(
		    LOG_LEVEL_INFO, LOG_FIRE(f->timer_id, f->uid, f->fire_id),
		    "timer %" PRIu64 " (uid %u) fire %" PRIu64 ": "
		    "delivered to connection %" PRIu64 ", %" PRId64 " us late",
		    f->timer_id, (unsigned)f->uid, f->fire_id, f->conn_id,
		    f->lateness_ns / 1000);
	/* Waiters last: their sends may close anything. */
	run.has_fire_id = run.has_outcome = true;
	run.fire_id = f->fire_id;
	run.outcome = evd_run_outcome_to_pb(EVD_RUN_DELIVERED);
	run.has_due_realtime_ns = run.has_fired_realtime_ns = true;
	run.due_realtime_ns = f->due_rt_ns;
	run.fired_realtime_ns = f->fired_rt_ns;
	run.has_lateness_ns = true;
	run.lateness_ns = f->lateness_ns;
	wait_notify(f->timer_id, &run);
}

bool
deliver_fire(const struct fire *f, struct store *s)
{
	switch (f->target) {
	case FIRE_CHANNEL:
		deliver_channel(f);
		break;
	case FIRE_EXEC:
		return deliver_exec(f, s);
	case FIRE_CALLER:
		deliver_caller(f);
		break;
	}
	return true;
}

void
deliver_cancelled(uint64_t timer_id, int64_t due_rt_ns)
{
	Evd__Run run = EVD__RUN__INIT;

	if (!wait_watched(timer_id))
		return;
	/* No fire: no fire id; fired and lateness 0, as always reported. */
	run.has_due_realtime_ns = run.has_fired_realtime_ns = true;
	run.due_realtime_ns = due_rt_ns;
	run.has_lateness_ns = run.has_outcome = true;
	run.outcome = evd_run_outcome_to_pb(EVD_RUN_CANCELLED);
	wait_notify(timer_id, &run);
}

bool
deliver_waited(uint64_t timer_id)
{
	return wait_watched(timer_id);
}

int
deliver_failure(const struct fire *f, struct store *s)
{
	int r;

	if ((r = deliver_stage(f, s)) < 0)
		return r;
	if (deliver_publish(f) < 0)
		log_about(LOG_LEVEL_WARNING,
			  LOG_FIRE_NOUID(f->timer_id, f->fire_id),
			  "timer %" PRIu64 " fire %" PRIu64 ": out of memory "
			  "queueing its failure message on %s; it is stored "
			  "and will be delivered after a restart",
			  f->timer_id, f->fire_id, f->channel);
	return 0;
}

void
deliver_run_ended(const struct store_run *sr)
{
	Evd__Run run = EVD__RUN__INIT;

	run.has_fire_id = true;
	run.fire_id = sr->fire_id;
	run.has_due_realtime_ns = run.has_fired_realtime_ns = true;
	run.due_realtime_ns = sr->due_rt_ns;
	run.fired_realtime_ns = sr->fired_rt_ns;
	run.has_lateness_ns = run.has_outcome = true;
	run.lateness_ns = sr->lateness_ns;
	run.outcome = evd_run_outcome_to_pb(sr->outcome);
	run.detail = (char *)sr->detail;
	run.has_exit_code = run.has_signal = run.has_duration_ns = true;
	run.exit_code = sr->exit_code;
	run.signal = sr->signal;
	run.duration_ns = sr->duration_ns;
	run.has_stdout_tail = run.has_stderr_tail = true;
	run.stdout_tail.data = (uint8_t *)sr->out;
	run.stdout_tail.len = sr->out_len;
	run.stderr_tail.data = (uint8_t *)sr->err;
	run.stderr_tail.len = sr->err_len;
	wait_notify(sr->timer_id, &run);
}
