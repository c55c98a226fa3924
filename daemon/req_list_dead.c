/*
 * req_list_dead: a page of a channel's dead-letter list (messages that
 * reached max_attempts deliveries without an ack), the caller's own
 * (root: all).
 */
#include <errno.h>
#include <stdbool.h>

#include "channel.h"
#include "dispatch.h"

#define LIST_DEAD_DEFAULT 100
#define LIST_DEAD_MAX 1000

int
req_list_dead(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__ListDead *m = rq->list_dead;
	size_t limit = LIST_DEAD_DEFAULT, n, i;
	Evd__Fired *msgs, **ptrs;
	Evd__DeadList *dl;
	const char *channel;
	bool more;
	int r;

	if ((r = req_channel_name(ctx, m->channel, &channel)) < 0)
		return r;
	if (m->has_limit && m->limit > 0)
		limit = m->limit > LIST_DEAD_MAX ? LIST_DEAD_MAX : m->limit;
	if ((dl = req_alloc(ctx, sizeof *dl)) == NULL ||
	    (msgs = req_alloc(ctx, limit * sizeof *msgs)) == NULL ||
	    (ptrs = req_alloc(ctx, limit * sizeof *ptrs)) == NULL)
		return -ENOMEM;
	n = channel_dead_list(ctx->uid, channel,
	                      m->has_after_fire_id ? m->after_fire_id : 0, msgs,
	                      limit, &more);
	for (i = 0; i < n; i++)
		ptrs[i] = &msgs[i];
	evd__dead_list__init(dl);
	dl->n_messages = n;
	dl->messages = ptrs;
	if (more && n > 0) {
		dl->has_next_after_fire_id = true;
		dl->next_after_fire_id = msgs[n - 1].fire_id;
	}
	ctx->reply->body_case = EVD__REPLY__BODY_DEAD_LIST;
	ctx->reply->dead_list = dl;
	return 0;
}
