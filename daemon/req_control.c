/*
 * req_control: pause, resume and trigger, each answered with the timer's
 * TimerInfo as it is afterwards (a timer that ended with the request,
 * a triggered or skipped one-shot, shows as FIRED with only its id).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>

#include "dispatch.h"
#include "sched.h"

enum control { CONTROL_PAUSE, CONTROL_RESUME, CONTROL_TRIGGER };

static const char *const control_name[] = { "pause", "resume", "trigger" };

static int
req_control(struct req_ctx *ctx, enum control what, bool has_id, uint64_t id)
{
	Evd__TimerOptions *opts;
	Evd__TimerInfo *info;
	Evd__Callback *cb;
	Evd__Repeat *rep;
	struct timer *t;
	bool ended = false, durable;
	int r;

	if (!has_id)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "%s needs timer_id", control_name[what]);
	if ((t = sched_lookup(id, ctx->uid)) == NULL)
		return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
		                "no pending timer %" PRIu64, id);
	if ((info = req_alloc(ctx, sizeof *info)) == NULL ||
	    (cb = req_alloc(ctx, sizeof *cb)) == NULL ||
	    (opts = req_alloc(ctx, sizeof *opts)) == NULL ||
	    (rep = req_alloc(ctx, sizeof *rep)) == NULL)
		return -ENOMEM;
	durable = sched_timer_durable(t);
	switch (what) {
	case CONTROL_PAUSE:
		r = sched_pause(t);
		break;
	case CONTROL_RESUME:
		r = sched_resume(t, &ended);
		break;
	default:
		r = sched_trigger(t, &ended);
		break;
	}
	if (r == -EALREADY)
		return req_errno(ctx, r, "timer %" PRIu64 " is %s paused", id,
		                what == CONTROL_PAUSE ? "already" : "not");
	if (r == -ENOBUFS)
		return req_errno(ctx, r,
		                "timer %" PRIu64 " cannot fire now: its channel "
		                "is full or its owner is at the message quota",
		                id);
	if (r == -EAGAIN && what == CONTROL_TRIGGER)
		return req_errno(ctx, r,
		                "timer %" PRIu64 " cannot fire now: the store "
		                "refuses writes or the hook queue is full",
		                id);
	if (r < 0) /* -EAGAIN, -EIO: the store */
		return req_errno(ctx, r, NULL);
	ctx->durable = durable;
	/* Looked up again: the request may have ended t, and a fire's send
	 * may have closed the connection that owned it. */
	if (ended || (t = sched_lookup(id, ctx->uid)) == NULL) {
		evd__timer_info__init(info);
		info->has_timer_id = info->has_state = true;
		info->timer_id = id;
		info->state = EVD__TIMER_STATE__FIRED;
	} else
		req_fill_timer_info(ctx, t, info, cb, opts, rep);
	ctx->reply->body_case = EVD__REPLY__BODY_TIMER;
	ctx->reply->timer = info;
	return 0;
}

int
req_pause(struct req_ctx *ctx, const Evd__Request *rq)
{
	return req_control(ctx, CONTROL_PAUSE, rq->pause->has_timer_id,
	                   rq->pause->timer_id);
}

int
req_resume(struct req_ctx *ctx, const Evd__Request *rq)
{
	return req_control(ctx, CONTROL_RESUME, rq->resume->has_timer_id,
	                   rq->resume->timer_id);
}

int
req_trigger(struct req_ctx *ctx, const Evd__Request *rq)
{
	return req_control(ctx, CONTROL_TRIGGER, rq->trigger->has_timer_id,
	                   rq->trigger->timer_id);
}
