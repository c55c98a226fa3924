/*
 * req_requeue_dead: dead letters go back to their channel's queue with
 * their attempt count reset (one message, or all of the caller's).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>

#include "channel.h"
#include "dispatch.h"

int
req_requeue_dead(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__RequeueDead *m = rq->requeue_dead;
	uint64_t fire_id = m->has_fire_id ? m->fire_id : 0;
	Evd__Requeued *rp;
	uint64_t n;
	int r;

	if (!channel_name_valid(m->channel))
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "invalid channel name");
	if ((rp = req_alloc(ctx, sizeof *rp)) == NULL)
		return -ENOMEM;
	r = channel_dead_requeue(ctx->uid, m->channel, fire_id, &n);
	if (r == -EAGAIN || r == -EIO)
		return req_unavailable(ctx);
	if (r == -ENOENT)
		return fire_id != 0
		               ? req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
		                          "no dead message %" PRIu64 " on %s",
		                          fire_id, m->channel)
		               : req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
		                          "no dead messages on %s", m->channel);
	ctx->durable = true;
	evd__requeued__init(rp);
	rp->has_count = true;
	rp->count = n;
	ctx->reply->body_case = EVD__REPLY__BODY_REQUEUED;
	ctx->reply->requeued = rp;
	return 0;
}
