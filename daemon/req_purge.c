/*
 * req_purge: deletes the messages waiting in a channel's queue; its
 * owner (or root) everyone's or one publisher's, anyone else its own.
 */
#include <errno.h>
#include <stdbool.h>

#include "channel.h"
#include "dispatch.h"

int
req_purge(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__Purge *m = rq->purge;
	struct channel_who who = { ctx->uid, ctx->gid, ctx->groups,
		                   ctx->ngroups };
	const char *channel;
	Evd__Purged *rp;
	uint64_t n;
	int r;

	if ((r = req_channel_name(ctx, m->channel, &channel)) < 0)
		return r;
	if ((rp = req_alloc(ctx, sizeof *rp)) == NULL)
		return -ENOMEM;
	r = channel_purge(&who, channel, m->has_from_uid, m->from_uid, &n);
	if (r == -ENOENT)
		return req_errno(ctx, r, "no channel %s", m->channel);
	if (r == -EACCES)
		return req_errno(ctx, r,
		                 "only the owner of %s (uid %u) or root may "
		                 "purge what others sent into it",
		                 m->channel, (unsigned)channel_name_owner(channel));
	if (r < 0) /* -EAGAIN, -EIO: the store */
		return req_errno(ctx, r, NULL);
	if (n > 0)
		ctx->durable = true;
	evd__purged__init(rp);
	rp->has_count = true;
	rp->count = n;
	ctx->reply->body_case = EVD__REPLY__BODY_PURGED;
	ctx->reply->purged = rp;
	return 0;
}
