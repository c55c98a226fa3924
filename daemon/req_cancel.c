/*
 * req_cancel: asyncio handle.cancel(). The timer ends CANCELLED and is
 * kept so for a while, with its key (sched_cancel). Idempotent in
 * effect: an unknown, fired, cancelled or foreign id is NOT_FOUND and
 * changes nothing.
 *
 * Cluster mode: a durable timer this node does not hold (another node's
 * claim, or pending for any node) is cancelled in the database
 * (sched_cancel_stored), whoever holds it; so is one whose claim
 * another node took from this one. The cancel and the holder's fire
 * are ordered by the fence: whichever commits first wins, and the
 * other finds the timer gone (the holder drops it, the cancel answers
 * NOT_FOUND), so a timer is never both cancelled and fired. A one-shot
 * exec timer whose hook was started is not stopped, as here: NOT_FOUND.
 */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>

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
	if ((c = req_alloc(ctx, sizeof *c)) == NULL)
		return -ENOMEM;
	if ((t = sched_lookup(m->timer_id, ctx->uid)) != NULL ||
	    (t = sched_lookup_in_channel(m->timer_id, ctx->uid)) != NULL) {
		ctx->durable = sched_timer_durable(t);
		r = sched_cancel(t);
		/* Cluster mode: another node took its claim (this node drops
		 * it): cancelled where it is now, below. */
		if (r != -ESTALE && r < 0) /* -EAGAIN, -EIO: the store */
			return req_errno(ctx, r, NULL);
	} else
		r = -ENOENT;
	if (r < 0) {
		char holder[32];

		/* Outside cluster mode, -ENOENT at once. */
		r = sched_cancel_stored(m->timer_id, ctx->uid, holder,
		                        sizeof holder);
		if (r == -ENOENT)
			return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
			                "no pending timer %" PRIu64,
			                m->timer_id);
		if (r == -EALREADY)
			return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
			                "no pending timer %" PRIu64 ": it fired "
			                "and its hook was started%s%s (a cancel "
			                "does not stop it)",
			                m->timer_id,
			                holder[0] != '\0' ? " on node " : "",
			                holder);
		if (r == -EBUSY)
			return req_fail(ctx, EVD__ERROR_CODE__UNAVAILABLE,
			                "timer %" PRIu64 " changed, or was being "
			                "written by another node, while it was "
			                "being cancelled; try again",
			                m->timer_id);
		if (r < 0)
			return req_errno(ctx, r, NULL);
		ctx->durable = true; /* answered once its batch committed */
	}
	evd__cancelled__init(c);
	c->has_timer_id = true;
	c->timer_id = m->timer_id;
	ctx->reply->body_case = EVD__REPLY__BODY_CANCELLED;
	ctx->reply->cancelled = c;
	return 0;
}
