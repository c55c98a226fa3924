/*
 * req_control: pause, resume and trigger, each answered with the timer's
 * TimerInfo as it is afterwards (a timer that ended with the request,
 * a triggered or skipped one-shot, shows as FIRED with only its id).
 *
 * Cluster mode: a timer another node holds, or none does, is taken over
 * first (req_control_take), then acted on here: the node a request
 * reaches holds the timer afterwards.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>

#include "dispatch.h"
#include "sched.h"

enum control { CONTROL_PAUSE, CONTROL_RESUME, CONTROL_TRIGGER };

static const char *const control_name[] = { "pause", "resume", "trigger" };

/*
 * Cluster mode: a durable timer another node holds, or none does,
 * becomes this node's claim first (sched_take_stored: the owner's or
 * root's only; its holder, told, drops it), then the request acts on it
 * here as on any timer it holds. Returns 0 with *ret, or the answer
 * given (a request error).
 */
static int
req_control_take(struct req_ctx *ctx, uint64_t id, struct timer **ret)
{
	char holder[32];
	int r;

	/* Outside cluster mode, -ENOENT at once. */
	r = sched_take_stored(id, ctx->uid, holder, sizeof holder);
	if (r == -ENOENT)
		return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
		                "no pending timer %" PRIu64, id);
	if (r == -EALREADY)
		return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
		                "no pending timer %" PRIu64 ": it fired and its "
		                "hook was started%s%s",
		                id, holder[0] != '\0' ? " on node " : "",
		                holder);
	if (r == -EINPROGRESS)
		return req_fail(ctx, EVD__ERROR_CODE__UNAVAILABLE,
		                "timer %" PRIu64 ": its hook is running%s%s, which "
		                "keeps the timer until it ended; try again then",
		                id, holder[0] != '\0' ? " on node " : "", holder);
	if (r == -EBUSY)
		return req_fail(ctx, EVD__ERROR_CODE__UNAVAILABLE,
		                "timer %" PRIu64 " changed, or was being written "
		                "by another node, while it was being taken over; "
		                "try again",
		                id);
	if (r < 0)
		return req_errno(ctx, r, NULL);
	ctx->durable = true; /* the take is answered once it committed */
	/* Taken, but ended at once (a one-shot whose deadline passed,
	 * misfire skip) or its hook still runs here: not pending. */
	if ((*ret = sched_lookup(id, ctx->uid)) == NULL)
		return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
		                "no pending timer %" PRIu64, id);
	return 0;
}

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
	if ((t = sched_lookup(id, ctx->uid)) == NULL &&
	    (r = req_control_take(ctx, id, &t)) != 0)
		return r;
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
	ctx->durable = ctx->durable || durable;
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
