/*
 * req_retry: runs an exec timer's command once more, now (evctl retry).
 * A finished timer (a one-shot that ran, failed or not) comes back with
 * its id from the store for this one run (sched_rerun); a pending one
 * fires as with Trigger. Answered with the TimerInfo as Trigger is: a
 * timer that ended with the run shows as FIRED with only its id.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>

#include "batch.h"
#include "dispatch.h"
#include "sched.h"

int
req_retry(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__Retry *rt = rq->retry;
	Evd__TimerOptions *opts;
	Evd__TimerInfo *info;
	Evd__Callback *cb;
	Evd__Repeat *rep;
	struct timer *t;
	size_t len;
	bool ended = false;
	uint64_t id = rt->timer_id;
	int r;

	if (!rt->has_timer_id)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "retry needs timer_id");
	if ((info = req_alloc(ctx, sizeof *info)) == NULL ||
	    (cb = req_alloc(ctx, sizeof *cb)) == NULL ||
	    (opts = req_alloc(ctx, sizeof *opts)) == NULL ||
	    (rep = req_alloc(ctx, sizeof *rep)) == NULL)
		return -ENOMEM;
	if ((t = sched_lookup(id, ctx->uid)) != NULL) {
		if (sched_timer_exec(t, &len) == NULL)
			return req_fail(ctx, EVD__ERROR_CODE__FAILED_PRECONDITION,
			                "timer %" PRIu64 " is not an exec timer: "
			                "use trigger",
			                id);
		r = sched_trigger(t, &ended);
	} else
		r = sched_rerun(id, ctx->uid, &ended);
	switch (r) {
	case 0:
		break;
	case -ENOENT:
		return req_errno(ctx, r,
		                "no timer %" PRIu64 " (finished timers are kept "
		                "for a while, not for ever)",
		                id);
	case -ECANCELED:
		return req_errno(ctx, r,
		                "timer %" PRIu64 " was cancelled; schedule it "
		                "anew",
		                id);
	case -ENOTSUP:
		return req_errno(ctx, r,
		                "timer %" PRIu64 " is not an exec timer", id);
	case -EEXIST:
		return req_errno(ctx, r,
		                "timer %" PRIu64 " cannot come back: another "
		                "pending timer of its owner has its key",
		                id);
	case -EINVAL: /* not the caller's argument: what evd stored */
		return req_fail(ctx, EVD__ERROR_CODE__INTERNAL,
		                "timer %" PRIu64 "'s stored command is "
		                "unreadable",
		                id);
	case -ENOMEM:
		return req_errno(ctx, r,
		                "out of memory reviving timer %" PRIu64, id);
	case -E2BIG:
		return req_errno(ctx, r,
		                "the store refused timer %" PRIu64 ": %s", id,
		                batch_row_errmsg());
	case -EAGAIN:
		return req_errno(ctx, r,
		                "timer %" PRIu64 " cannot run now: the store "
		                "refuses writes or the hook queue is full",
		                id);
	default: /* -EIO: the store */
		return req_errno(ctx, r, NULL);
	}
	ctx->durable = true;
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
