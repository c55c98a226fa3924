/*
 * req_requeue_dead: dead letters go back to their channel's queue with
 * their attempt count reset (one message, or all of the caller's).
 */
#include <errno.h>
#include <stdbool.h>

#include "channel.h"
#include "dispatch.h"

int
req_requeue_dead(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__RequeueDead *m = rq->requeue_dead;
	Evd__Requeued *rp;
	uint64_t n;
	int r;

	if ((rp = req_alloc(ctx, sizeof *rp)) == NULL)
		return -ENOMEM;
	r = req_dead_apply(ctx, m->channel, m->has_fire_id ? m->fire_id : 0,
	                   false, &n);
	if (r < 0)
		return r;
	evd__requeued__init(rp);
	rp->has_count = true;
	rp->count = n;
	ctx->reply->body_case = EVD__REPLY__BODY_REQUEUED;
	ctx->reply->requeued = rp;
	return 0;
}
