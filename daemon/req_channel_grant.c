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
	const char *channel;
	int rights = 0, r;
	bool wrote;

	if ((r = req_channel_name(ctx, m->channel, &channel)) < 0)
		return r;
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
	r = channel_grant(channel, &who,
	                  m->who_case == EVD__CHANNEL_GRANT__WHO_GID,
	                  m->who_case == EVD__CHANNEL_GRANT__WHO_GID ? m->gid
	                                                            : m->uid,
	                  rights, m->has_revoke && m->revoke, &wrote);
	if (wrote)
		ctx->durable = true;
	switch (r) {
	case 0:
		ctx->durable = true;
		return req_reply_channel_info(ctx, channel);
	case -EACCES:
		return req_errno(ctx, r,
		                 "only the owner of %s (uid %u) or root may "
		                 "grant on it",
		                 m->channel, (unsigned)channel_name_owner(channel));
	case -EDQUOT:
		return req_errno(ctx, r, "uid %u owns %d channels, the limit",
		                 (unsigned)channel_name_owner(channel),
		                 CHANNEL_MAX_PER_UID);
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
