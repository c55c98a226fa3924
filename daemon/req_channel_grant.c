/*
 * req_channel_grant: a channel's owner (or root) grants or revokes the
 * rights to subscribe and to publish (schedule timers into it) to a uid
 * or a gid. The reply is the channel's resulting owner and grants.
 */
#include <errno.h>
#include <stdbool.h>

#include "channel.h"
#include "dispatch.h"

int
req_channel_grant(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__ChannelGrant *m = rq->channel_grant;
	struct channel_who who = { ctx->uid, ctx->gid, ctx->groups,
		                   ctx->ngroups };
	int rights = 0, r;

	if (!channel_name_valid(m->channel))
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "invalid channel name");
	if (m->who_case == EVD__CHANNEL_GRANT__WHO__NOT_SET)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "a grant names a uid or a gid");
	if (m->has_subscribe && m->subscribe)
		rights |= CHANNEL_RIGHT_SUBSCRIBE;
	if (m->has_publish && m->publish)
		rights |= CHANNEL_RIGHT_PUBLISH;
	if (rights == 0)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "name at least one right: subscribe, publish");
	r = channel_grant(m->channel, &who,
	                  m->who_case == EVD__CHANNEL_GRANT__WHO_GID,
	                  m->who_case == EVD__CHANNEL_GRANT__WHO_GID ? m->gid
	                                                            : m->uid,
	                  rights, m->has_revoke && m->revoke);
	switch (r) {
	case 0:
		ctx->durable = true;
		return req_reply_channel_info(ctx, m->channel);
	case -ENOENT:
		return req_errno(ctx, r, "no channel %s that you may see",
		                 m->channel);
	case -EACCES:
		return req_errno(ctx, r,
		                 "only the owner of %s or root may grant on it",
		                 m->channel);
	case -E2BIG:
		return req_errno(ctx, r, "channel %s has %d grants, the limit",
		                 m->channel, CHANNEL_MAX_GRANTS);
	case -EAGAIN:
	case -EIO:
		return req_errno(ctx, r, NULL);
	default:
		return r;
	}
}
