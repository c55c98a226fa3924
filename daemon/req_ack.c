/*
 * req_ack: a subscriber confirms a channel message; it will not be
 * delivered again. With a reschedule, the timer that fired it is
 * scheduled again in the same batch (one commit) as the ack: the
 * trampoline of a self-rescheduling callback is never lost (a crash
 * before the commit keeps the message unacked, so it is redelivered)
 * nor doubled (an ack of a message no longer held is NOT_FOUND and
 * reschedules nothing).
 */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <string.h>

#include "batch.h"
#include "channel.h"
#include "clock.h"
#include "conn.h"
#include "dispatch.h"
#include "quota.h"
#include "sched.h"

/* Schedules the fire's timer again at clk/deadline; fills *s. */
static int
req_ack_reschedule(struct req_ctx *ctx, const struct channel_fire *f,
                   int clk, int64_t deadline, Evd__Scheduled *s)
{
	struct sched_revival rv;
	struct timer *t;
	int r;

	if (ctx->uid != 0 && ctx->uid != f->owner)
		return req_fail(ctx, EVD__ERROR_CODE__PERMISSION_DENIED,
		                "only timer %" PRIu64 "'s owner (uid %u) may "
		                "reschedule it",
		                f->timer_id, (unsigned)f->owner);
	if ((t = sched_lookup(f->timer_id, 0)) != NULL) {
		/* A pending (repeating) timer keeps its clock: its schedule
		 * (a calendar on the wall clock, an interval on its own
		 * clock) goes on from the new deadline. */
		int tc = sched_timer_clock(t);

		if (tc != clk)
			deadline = clock_now_ns(tc) + (deadline - clock_now_ns(clk));
		if (deadline < 0)
			deadline = 0; /* before its clock began: due now */
		r = sched_reschedule(t, tc, deadline);
	} else {
		char why[160];

		/* Coming back is scheduling anew: the same bounds as a new
		 * timer (quota, channel room, the right to publish). */
		if (quota_check(f->owner, QUOTA_TIMER, f->payload_len, why,
		                sizeof why) < 0)
			return req_fail(ctx, EVD__ERROR_CODE__RESOURCE_EXHAUSTED,
			                "%s", why);
		if (channel_queued(f->channel) >= CHANNEL_MAX_QUEUED)
			return req_fail(ctx, EVD__ERROR_CODE__RESOURCE_EXHAUSTED,
			                "channel %s is full",
			                channel_display(f->channel, ctx->uid));
		if ((r = req_channel_access(ctx, f->channel,
		                            CHANNEL_RIGHT_PUBLISH)) < 0)
			return r;
		memset(&rv, 0, sizeof rv);
		rv.timer_id = f->timer_id;
		rv.uid = f->owner;
		rv.gid = ctx->uid == f->owner ? ctx->gid : 0;
		rv.channel = f->channel;
		rv.payload = f->payload;
		rv.payload_len = f->payload_len;
		rv.delivery = f->delivery;
		rv.max_attempts = f->max_attempts;
		rv.clock = clk;
		rv.deadline_ns = deadline;
		r = sched_revive(&rv, &t);
	}
	if (r == -EEXIST)
		return req_errno(ctx, r,
		                "timer %" PRIu64 " cannot come back: another "
		                "pending timer of its owner has its key",
		                f->timer_id);
	if (r == -ECANCELED)
		return req_errno(ctx, r,
		                "timer %" PRIu64 " was cancelled: it does not "
		                "come back (ack without a reschedule)",
		                f->timer_id);
	/* The store refused the row alone; the batch goes on. */
	if (r == -E2BIG)
		return req_errno(ctx, r,
		                "the store refused timer %" PRIu64 ": %s",
		                f->timer_id, batch_row_errmsg());
	/* Not the caller's argument: a row evd made. */
	if (r == -EINVAL)
		return req_fail(ctx, EVD__ERROR_CODE__INTERNAL,
		                "the store refused timer %" PRIu64 ": %s",
		                f->timer_id, batch_row_errmsg());
	if (r == -ENOMEM)
		return req_errno(ctx, r,
		                "out of memory rescheduling timer %" PRIu64,
		                f->timer_id);
	if (r < 0) /* -EAGAIN, -EIO: the store */
		return req_errno(ctx, r, NULL);
	req_fill_scheduled(s, t);
	return 0;
}

int
req_ack(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__Ack *m = rq->ack;
	struct channel_fire f;
	Evd__Scheduled *s = NULL;
	Evd__Acked *a;
	int64_t deadline = 0;
	int clk = EVD_CLOCK_MONOTONIC;
	int r;

	if (!m->has_fire_id)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "ack needs fire_id");
	if ((a = req_alloc(ctx, sizeof *a)) == NULL)
		return -ENOMEM;
	if (channel_inflight(ctx->conn_id, m->fire_id, &f) < 0)
		goto notfound;
	switch (m->reschedule_case) {
	case EVD__ACK__RESCHEDULE_RESCHEDULE_DELAY_NS:
		if (m->reschedule_delay_ns < 0 ||
		    m->reschedule_delay_ns > CLOCK_MAX_AHEAD_NS)
			return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
			                "reschedule_delay_ns must be 0 up to a "
			                "century");
		deadline = clock_now_ns(clk) + m->reschedule_delay_ns;
		break;
	case EVD__ACK__RESCHEDULE_RESCHEDULE_AT_NS:
		clk = EVD_CLOCK_REALTIME;
		if (m->reschedule_at_ns < 0 ||
		    m->reschedule_at_ns - clock_now_ns(clk) > CLOCK_MAX_AHEAD_NS)
			return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
			                "reschedule_at_ns must be an instant "
			                "from 1970 up to a century ahead");
		deadline = m->reschedule_at_ns;
		break;
	default:
		break;
	}
	if (m->reschedule_case != EVD__ACK__RESCHEDULE__NOT_SET) {
		if ((s = req_alloc(ctx, sizeof *s)) == NULL)
			return -ENOMEM;
		/* First, so a refused reschedule leaves the message unacked. */
		if ((r = req_ack_reschedule(ctx, &f, clk, deadline, s)) < 0)
			return r;
		ctx->durable = true;
	}
	/* Cluster mode: a plain ack's delete is gathered with the turn's
	 * others and judged at the commit; a lost claim then rewrites this
	 * reply into the NOT_FOUND below (channel_cluster_batch_end). With
	 * a reschedule it is judged at once: the two go together. */
	r = -ENOTSUP;
	if (s == NULL)
		r = channel_ack_gathered(ctx->conn_id, m->fire_id,
		                         conn_id(ctx->conn), rq->has_request_id,
		                         rq->request_id);
	if (r == -ENOTSUP)
		r = channel_ack(ctx->conn_id, m->fire_id);
	if (r == -ENOENT)
		goto notfound;
	if (r == -ESTALE) {
		/* Cluster mode: this node lost its claim on the message;
		 * another node delivers it again. NOT_FOUND, as for any
		 * message no longer awaiting this connection's ack (clients
		 * take it as "redelivered"), with its own reason. A
		 * reschedule made above must not land without the ack: the
		 * batch is given up. */
		if (s != NULL)
			batch_fail(-ESTALE);
		return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
		                "fire %" PRIu64 " was not acked: this node "
		                "lost its claim on it (another node delivers "
		                "it again)",
		                m->fire_id);
	}
	if (r < 0) /* -EAGAIN, -EIO: the store */
		return req_errno(ctx, r, NULL);
	ctx->durable = true;
	evd__acked__init(a);
	a->has_fire_id = true;
	a->fire_id = m->fire_id;
	a->rescheduled = s;
	ctx->reply->body_case = EVD__REPLY__BODY_ACKED;
	ctx->reply->acked = a;
	return 0;
notfound:
	return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
	                "fire %" PRIu64 " is not a message awaiting this "
	                "connection's ack",
	                m->fire_id);
}
