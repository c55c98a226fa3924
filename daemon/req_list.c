/*
 * req_list: pending timers in id order, one page at a time, only the
 * caller's (root: all). The page size is capped (LIST_MAX) so one reply
 * stays bounded; clients follow next_after_id to the next page.
 */
#include <errno.h>

#include "channel.h"
#include "dispatch.h"
#include "sched.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000

size_t
req_list_limit(const Evd__List *m)
{
	if (m->has_limit && m->limit > 0)
		return m->limit > LIST_MAX ? LIST_MAX : m->limit;
	return LIST_DEFAULT;
}

int
req_list(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__List *m = rq->list;
	Evd__TimerList *tl;
	Evd__TimerInfo **ptrs, *infos;
	Evd__Callback *cbs;
	Evd__TimerOptions *opts;
	Evd__Repeat *reps;
	struct timer **ts;
	size_t limit = req_list_limit(m), n, i, bytes = 0;
	const char *channel = NULL;
	bool more;
	int r;

	if (m->channel != NULL &&
	    (r = req_channel_name(ctx, m->channel, &channel)) < 0)
		return r;
	if ((tl = req_alloc(ctx, sizeof *tl)) == NULL ||
	    (ts = req_alloc(ctx, limit * sizeof *ts)) == NULL)
		return -ENOMEM;
	n = sched_list(ctx->uid, channel, m->has_after_id ? m->after_id : 0,
	               ts, limit, &more);
	if ((ptrs = req_alloc(ctx, n * sizeof *ptrs)) == NULL ||
	    (infos = req_alloc(ctx, n * sizeof *infos)) == NULL ||
	    (cbs = req_alloc(ctx, n * sizeof *cbs)) == NULL ||
	    (opts = req_alloc(ctx, n * sizeof *opts)) == NULL ||
	    (reps = req_alloc(ctx, n * sizeof *reps)) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		/* With options: a listing says how each timer repeats. */
		sched_fill_info(ts[i], ctx->uid, &infos[i], &cbs[i], &opts[i], &reps[i]);
		ptrs[i] = &infos[i];
		bytes += evd__timer_info__get_packed_size(&infos[i]) + 8;
		if (bytes > REQ_LIST_MAX_BYTES && i > 0) {
			/* The rest goes on the next page. */
			n = i;
			more = true;
			break;
		}
	}
	evd__timer_list__init(tl);
	tl->n_timers = n;
	tl->timers = ptrs;
	if (more && n > 0) {
		tl->has_next_after_id = true;
		tl->next_after_id = sched_timer_id(ts[n - 1]);
	}
	ctx->reply->body_case = EVD__REPLY__BODY_TIMER_LIST;
	ctx->reply->timer_list = tl;
	return 0;
}
