/*
 * req_cancel: asyncio handle.cancel(). The timer ends CANCELLED and is
 * kept so for a while, with its key (sched_cancel). Idempotent in
 * effect: an unknown, fired, cancelled or foreign id is NOT_FOUND and
 * changes nothing.
 */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>

#include "batch.h"
#include "dispatch.h"
#include "sched.h"

int
req_cancel(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__Cancel *m = rq->cancel;
	Evd__Cancelled *c;
	struct timer *t;
	int r;

	if (!m->has_timer_id)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "cancel needs timer_id");
	/* Its owner, root, or the owner of the channel it publishes into
	 * (who may stop what another user sends there). */
	if ((t = sched_lookup(m->timer_id, ctx->uid)) == NULL &&
	    (t = sched_lookup_in_channel(m->timer_id, ctx->uid)) == NULL)
		return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
		                "no pending timer %" PRIu64, m->timer_id);
	if ((c = req_alloc(ctx, sizeof *c)) == NULL)
		return -ENOMEM;
	ctx->durable = sched_timer_durable(t);
	r = sched_cancel(t);
	/* Cluster mode: another node took its claim and may fire it. */
	if (r == -ESTALE)
		return req_fail(ctx, EVD__ERROR_CODE__FAILED_PRECONDITION,
		                "not cancelled: %s; cancel it again later",
		                batch_row_errmsg());
	if (r < 0) /* -EAGAIN, -EIO: the store */
		return req_errno(ctx, r, NULL);
	evd__cancelled__init(c);
	c->has_timer_id = true;
	c->timer_id = m->timer_id;
	ctx->reply->body_case = EVD__REPLY__BODY_CANCELLED;
	ctx->reply->cancelled = c;
	return 0;
}
