/*
 * req_cancel_all: Cancel for every timer a selector matches (a channel,
 * an owner, or the caller's own), in one request: the durable ones go in
 * this loop's one batch, so one commit, and a failed commit rolls them
 * all back (the batch's reload). Who may match what is Cancel's rule:
 * one's own timers, everyone's publishing into a channel one owns, and
 * root anyone's.
 *
 * Cluster mode: then every other node's too, in the database (the
 * store's cancel_matching: fenced, each holder told, rows another node
 * is writing never waited for); the count is of what this request
 * cancelled. Rows still being written after a few looks make the
 * answer UNAVAILABLE, naming how many were cancelled (those stay so).
 *
 * Under --threads the durable timers (channel, exec, keyed, calendar)
 * all live on loop 0, where a request naming a channel goes alone; a
 * request without one visits every loop for the caller timers of the
 * owner's other connections, and req_cancel_all_merge sums the counts.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>

#include "channel.h"
#include "dispatch.h"
#include "sched.h"

/* Timers taken from the id index per pass: cancelling frees them, so
 * each pass lists anew after the last id it saw. */
#define CANCEL_ALL_PAGE 512

int
req_cancel_all(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__CancelAll *m = rq->cancel_all;
	struct timer *page[CANCEL_ALL_PAGE];
	const char *channel = NULL;
	Evd__CancelledAll *ca;
	uid_t owner = m->has_uid ? (uid_t)m->uid : ctx->uid;
	uint64_t after = 0, n = 0, stored, skipped;
	bool more, stored_more, by_owner, all;
	size_t k, i;
	int r;

	if (m->channel != NULL && m->channel[0] != '\0' &&
	    (r = req_channel_name(ctx, m->channel, &channel)) < 0)
		return r;
	if (owner != ctx->uid && ctx->uid != 0 &&
	    (channel == NULL || !channel_owned_by(channel, ctx->uid)))
		return req_fail(ctx, EVD__ERROR_CODE__PERMISSION_DENIED,
		                channel == NULL
		                        ? "only root may cancel uid %u's timers"
		                        : "only root or the channel's owner may "
		                          "cancel uid %u's timers in it",
		                (unsigned)owner);
	if ((ca = req_alloc(ctx, sizeof *ca)) == NULL)
		return -ENOMEM;
	/* In a channel, sched_list already shows the caller what it may
	 * cancel (its own; a channel owner's or root's: everyone's), and a
	 * uid narrows that; elsewhere only one owner's timers are meant. */
	by_owner = m->has_uid || channel == NULL;
	do {
		k = sched_list(ctx->uid, channel, after, page, CANCEL_ALL_PAGE,
		               &more);
		if (k == 0)
			break;
		after = sched_timer_id(page[k - 1]);
		for (i = 0; i < k; i++) {
			struct timer *t = page[i];

			if (by_owner && sched_timer_uid(t) != owner)
				continue;
			if (sched_timer_durable(t))
				ctx->durable = true;
			/* -EAGAIN, -EIO: the store; the batch fails, and
			 * its reload brings the durable ones back. */
			r = sched_cancel(t);
			/* Cluster mode: another node took it; not counted. */
			if (r == -ESTALE)
				continue;
			if (r < 0)
				return req_errno(ctx, r, NULL);
			n++;
		}
	} while (more);
	/* Cluster mode: every node's, in the database (loop 0 only: the
	 * durable timers live there); the same selection, with the rights
	 * judged above and by sched_list's rule. */
	if (channel == NULL || by_owner)
		all = false;
	else
		all = ctx->uid == 0 || channel_owned_by(channel, ctx->uid);
	r = sched_cancel_matching_stored(by_owner ? owner : ctx->uid, all,
	                                 channel, &stored, &skipped,
	                                 &stored_more);
	if (r < 0)
		return req_errno(ctx, r, NULL);
	if (stored > 0)
		ctx->durable = true;
	n += stored;
	if (stored_more)
		return req_fail(ctx, EVD__ERROR_CODE__UNAVAILABLE,
		                "cancelled %" PRIu64 " timers; more wait in the "
		                "database (at most %d are cancelled at a time): "
		                "run it again",
		                n, SCHED_CANCEL_MAX_PAGES * SCHED_CANCEL_PAGE);
	if (skipped > 0)
		return req_fail(ctx, EVD__ERROR_CODE__UNAVAILABLE,
		                "cancelled %" PRIu64 " timers; %" PRIu64
		                " more were being written by another node "
		                "meanwhile: try again",
		                n, skipped);
	evd__cancelled_all__init(ca);
	ca->has_count = true;
	ca->count = n;
	ctx->reply->body_case = EVD__REPLY__BODY_CANCELLED_ALL;
	ctx->reply->cancelled_all = ca;
	return 0;
}

/* Every loop ran the same checks: an error anywhere is the answer;
 * otherwise the counts add up. */
int
req_cancel_all_merge(struct req_ctx *ctx, const Evd__Request *rq,
                     Evd__Reply *const *parts, unsigned n)
{
	Evd__CancelledAll *ca;
	uint64_t sum = 0;
	unsigned i;

	(void)rq;
	for (i = 0; i < n; i++) {
		if (parts[i]->body_case != EVD__REPLY__BODY_CANCELLED_ALL) {
			*ctx->reply = *parts[i];
			return 0;
		}
		sum += parts[i]->cancelled_all->count;
	}
	if ((ca = req_alloc(ctx, sizeof *ca)) == NULL)
		return req_errno(ctx, -ENOMEM,
		                 "out of memory merging the counts");
	evd__cancelled_all__init(ca);
	ca->has_count = true;
	ca->count = sum;
	ctx->reply->body_case = EVD__REPLY__BODY_CANCELLED_ALL;
	ctx->reply->cancelled_all = ca;
	return 0;
}
