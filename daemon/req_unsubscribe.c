/*
 * req_unsubscribe: this connection stops receiving a channel's messages
 * and stays open; what it held unacked goes back to the queue at once.
 *
 * Idempotent, and needs no right on the channel: leaving is always
 * allowed, and a client may send it again after a lost connection.
 */
#include <errno.h>
#include <stdbool.h>

#include "channel.h"
#include "dispatch.h"

int
req_unsubscribe(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__Unsubscribe *m = rq->unsubscribe;
	Evd__Unsubscribed *u;
	const char *channel;
	int r;

	if ((r = req_channel_name(ctx, m->channel, &channel)) < 0)
		return r;
	if ((u = req_alloc(ctx, sizeof *u)) == NULL)
		return -ENOMEM;
	evd__unsubscribed__init(u);
	u->has_was_subscribed = true;
	u->was_subscribed = channel_unsubscribe(ctx->conn_id, channel) > 0;
	u->channel = (char *)channel_display(channel, ctx->uid);
	ctx->reply->body_case = EVD__REPLY__BODY_UNSUBSCRIBED;
	ctx->reply->unsubscribed = u;
	return 0;
}
