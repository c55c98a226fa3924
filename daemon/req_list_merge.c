/*
 * req_list_merge: List's cross-loop part (REQ_ROUTE_ALL, requests.h):
 * one page from every loop's page. Kept out of req_list.c only for now,
 * while channel-name work is under way there; it belongs beside it.
 */
#include <errno.h>
#include <stdbool.h>

#include "dispatch.h"

/*
 * The List page across loops: loop k's ids are all above loop k-1's, so
 * the pages concatenated in loop order are in id order; the merged page
 * keeps the single-loop caps (count and bytes) and ends where a loop said
 * it had more, since its next timers come before any later loop's.
 */
int
req_list_merge(struct req_ctx *ctx, const Evd__Request *rq,
               Evd__Reply *const *parts, unsigned n)
{
	size_t total = 0, limit = req_list_limit(rq->list), bytes = 0, k = 0;
	Evd__TimerInfo **all;
	Evd__TimerList *tl;
	bool more = false;
	unsigned i;

	for (i = 0; i < n; i++) {
		if (parts[i]->body_case != EVD__REPLY__BODY_TIMER_LIST) {
			/* The same checks ran everywhere: any error is the
			 * answer. */
			*ctx->reply = *parts[i];
			return 0;
		}
		total += parts[i]->timer_list->n_timers;
	}
	if ((all = req_alloc(ctx, (total + 1) * sizeof *all)) == NULL ||
	    (tl = req_alloc(ctx, sizeof *tl)) == NULL)
		return req_errno(ctx, -ENOMEM,
		                 "out of memory merging the list");
	for (i = 0; i < n && !more; i++) {
		Evd__TimerList *l = parts[i]->timer_list;
		size_t j;

		for (j = 0; j < l->n_timers; j++) {
			bytes += evd__timer_info__get_packed_size(
			                 l->timers[j]) + 8;
			if (k == limit ||
			    (bytes > REQ_LIST_MAX_BYTES && k > 0)) {
				more = true;
				break;
			}
			all[k++] = l->timers[j];
		}
		if (l->next_after_id != 0)
			more = true;
	}
	evd__timer_list__init(tl);
	tl->timers = all;
	tl->n_timers = k;
	if (more && k > 0) {
		tl->has_next_after_id = true;
		tl->next_after_id = all[k - 1]->timer_id;
	}
	ctx->reply->body_case = EVD__REPLY__BODY_TIMER_LIST;
	ctx->reply->timer_list = tl;
	return 0;
}
