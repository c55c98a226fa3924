/*
 * req_subscribe: this connection starts receiving a channel's messages.
 */
#include <errno.h>
#include <stdbool.h>

#include "channel.h"
#include "dispatch.h"

int
req_subscribe(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__Subscribe *m = rq->subscribe;
	Evd__Subscribed *s;
	const char *channel;
	int r;

	if ((r = req_channel_name(ctx, m->channel, &channel)) < 0)
		return r;
	if ((s = req_alloc(ctx, sizeof *s)) == NULL)
		return -ENOMEM;
	if (m->has_visibility_timeout_ns &&
	    (m->visibility_timeout_ns < 0 ||
	     m->visibility_timeout_ns > CHANNEL_MAX_VISIBILITY_NS))
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "visibility_timeout_ns must be 0..%lld",
		                (long long)CHANNEL_MAX_VISIBILITY_NS);
	if ((r = req_channel_access(ctx, channel, CHANNEL_RIGHT_SUBSCRIBE)) <
	    0)
		return r;
	if ((r = channel_subscribe(ctx->conn_id, ctx->uid, channel,
	                           m->has_visibility_timeout_ns
	                                   ? m->visibility_timeout_ns
	                                   : 0,
	                           m->has_max_inflight ? m->max_inflight
	                                               : 0)) < 0)
		return r;
	evd__subscribed__init(s);
	s->channel = (char *)channel_display(channel, ctx->uid);
	ctx->reply->body_case = EVD__REPLY__BODY_SUBSCRIBED;
	ctx->reply->subscribed = s;
	return 0;
}
