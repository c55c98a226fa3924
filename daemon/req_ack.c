/*
 * req_ack: a subscriber confirms a channel message; it will not be
 * delivered again.
 */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>

#include "channel.h"
#include "dispatch.h"

int
req_ack(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__Ack *m = rq->ack;
	Evd__Acked *a;
	int r;

	if (!m->has_fire_id)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "ack needs fire_id");
	if ((a = req_alloc(ctx, sizeof *a)) == NULL)
		return -ENOMEM;
	r = channel_ack(ctx->conn_id, m->fire_id);
	if (r == -EAGAIN || r == -EIO)
		return req_unavailable(ctx);
	if (r < 0)
		return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
		                "fire %" PRIu64 " is not a message awaiting "
		                "this connection's ack",
		                m->fire_id);
	ctx->durable = true;
	evd__acked__init(a);
	a->has_fire_id = true;
	a->fire_id = m->fire_id;
	ctx->reply->body_case = EVD__REPLY__BODY_ACKED;
	ctx->reply->acked = a;
	return 0;
}
