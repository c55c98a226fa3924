/*
 * req_get_channel: a channel's owner, grants and counts, for its owner,
 * root and its grantees; NOT_FOUND for anyone else.
 */
#include <errno.h>
#include <stdbool.h>

#include "channel.h"
#include "dispatch.h"

int
req_reply_channel_info(struct req_ctx *ctx, const char *channel)
{
	struct channel_who who = { ctx->uid, ctx->gid, ctx->groups,
		                   ctx->ngroups };
	Evd__ChannelGrantEntry *grants, **ptrs;
	Evd__ChannelInfo *info;

	if ((info = req_alloc(ctx, sizeof *info)) == NULL ||
	    (grants = req_alloc(ctx, CHANNEL_MAX_GRANTS * sizeof *grants)) ==
	            NULL ||
	    (ptrs = req_alloc(ctx, CHANNEL_MAX_GRANTS * sizeof *ptrs)) == NULL)
		return -ENOMEM;
	if (channel_info(channel, &who, info, grants, ptrs) < 0)
		return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
		                "no channel %s that you may see", channel);
	ctx->reply->body_case = EVD__REPLY__BODY_CHANNEL_INFO;
	ctx->reply->channel_info = info;
	return 0;
}

int
req_get_channel(struct req_ctx *ctx, const Evd__Request *rq)
{
	const char *channel;
	int r;

	if ((r = req_channel_name(ctx, rq->get_channel->channel, &channel)) <
	    0)
		return r;
	return req_reply_channel_info(ctx, channel);
}
