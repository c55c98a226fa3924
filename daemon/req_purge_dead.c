/*
 * req_purge_dead: dead letters are deleted for good (one message, or all
 * of the caller's).
 */
#include <errno.h>
#include <stdbool.h>

#include "channel.h"
#include "dispatch.h"

int
req_purge_dead(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__PurgeDead *m = rq->purge_dead;
	Evd__Purged *rp;
	uint64_t n;
	int r;

	if ((rp = req_alloc(ctx, sizeof *rp)) == NULL)
		return -ENOMEM;
	r = req_dead_apply(ctx, m->channel, m->has_fire_id ? m->fire_id : 0,
	                   true, &n);
	if (r < 0)
		return r;
	evd__purged__init(rp);
	rp->has_count = true;
	rp->count = n;
	ctx->reply->body_case = EVD__REPLY__BODY_PURGED;
	ctx->reply->purged = rp;
	return 0;
}
