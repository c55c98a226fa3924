/*
 * req_reject: a subscriber gives back a channel message it could not
 * handle, with a reason (a nack). The message leaves the connection in
 * this batch and backs off before its next delivery, or goes to the
 * dead-letter list when its attempts are used up or the subscriber asks;
 * the reason is stored with it. Only the connection that holds the
 * message may reject it, as only it may ack it: anyone else, another
 * user included, learns nothing (NOT_FOUND, the Ack's words).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "channel.h"
#include "dispatch.h"

int
req_reject(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__Reject *m = rq->reject;
	const char *channel = NULL;
	struct channel_fire f;
	Evd__Rejected *rp;
	int64_t backoff_ns = 0;
	bool dead = false;
	int r;

	if (!m->has_fire_id)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "reject needs fire_id");
	if (m->reason != NULL && strlen(m->reason) > CHANNEL_REASON_MAX)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "reject: reason is %zu bytes, at most %d",
		                strlen(m->reason), CHANNEL_REASON_MAX);
	if (m->channel != NULL &&
	    (r = req_channel_name(ctx, m->channel, &channel)) < 0)
		return r;
	if ((rp = req_alloc(ctx, sizeof *rp)) == NULL)
		return -ENOMEM;
	if (channel_inflight(ctx->conn_id, m->fire_id, &f) < 0 ||
	    (channel != NULL && strcmp(channel, f.channel) != 0))
		goto notfound;
	r = channel_reject(ctx->conn_id, m->fire_id, m->reason,
	                   m->has_dead_letter && m->dead_letter, &dead,
	                   &backoff_ns);
	if (r == -ENOENT)
		goto notfound;
	if (r == -ENOMEM)
		return req_errno(ctx, r, "out of memory rejecting fire %" PRIu64,
		                 m->fire_id);
	if (r < 0) /* -EAGAIN, -EIO: the store */
		return req_errno(ctx, r, NULL);
	ctx->durable = true;
	evd__rejected__init(rp);
	rp->has_fire_id = rp->has_dead = true;
	rp->fire_id = m->fire_id;
	rp->dead = dead;
	if (!dead) {
		rp->has_redeliver_in_ns = true;
		rp->redeliver_in_ns = backoff_ns;
	}
	ctx->reply->body_case = EVD__REPLY__BODY_REJECTED;
	ctx->reply->rejected = rp;
	return 0;
notfound:
	if (channel != NULL)
		return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
		                "fire %" PRIu64 " is not a message of %s "
		                "awaiting this connection's ack",
		                m->fire_id, m->channel);
	return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
	                "fire %" PRIu64 " is not a message awaiting this "
	                "connection's ack",
	                m->fire_id);
}
