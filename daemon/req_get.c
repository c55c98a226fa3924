/*
 * req_get: one pending timer, as its owner (or root) sees it.
 */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>

#include "dispatch.h"
#include "sched.h"

int
req_get(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__Get *m = rq->get;
	Evd__TimerInfo *info;
	Evd__Callback *cb;
	struct timer *t;

	if (!m->has_timer_id)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "get needs timer_id");
	if ((t = sched_lookup(m->timer_id, ctx->uid)) == NULL)
		return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
		                "no pending timer %" PRIu64, m->timer_id);
	if ((info = req_alloc(ctx, sizeof *info)) == NULL ||
	    (cb = req_alloc(ctx, sizeof *cb)) == NULL)
		return -ENOMEM;
	sched_fill_info(t, info, cb);
	ctx->reply->body_case = EVD__REPLY__BODY_TIMER;
	ctx->reply->timer = info;
	return 0;
}
