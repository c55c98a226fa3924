/*
 * req_peek: the messages waiting in a channel's queue, in delivery
 * order, left where they are; those the caller may see, as with dead
 * letters (its own; the owner's and root's: everyone's).
 */
#include <errno.h>
#include <stdbool.h>

#include "channel.h"
#include "dispatch.h"

#define PEEK_DEFAULT 100
#define PEEK_MAX 1000

int
req_peek(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__Peek *m = rq->peek;
	size_t limit = PEEK_DEFAULT, i;
	Evd__Fired *msgs, **ptrs;
	Evd__DeadList *dl;
	const char *channel;
	bool more;
	long n;
	int r;

	if ((r = req_channel_name(ctx, m->channel, &channel)) < 0)
		return r;
	if (m->has_limit && m->limit > 0)
		limit = m->limit > PEEK_MAX ? PEEK_MAX : m->limit;
	if ((dl = req_alloc(ctx, sizeof *dl)) == NULL ||
	    (msgs = req_alloc(ctx, limit * sizeof *msgs)) == NULL ||
	    (ptrs = req_alloc(ctx, limit * sizeof *ptrs)) == NULL)
		return -ENOMEM;
	if ((n = channel_peek(ctx->uid, channel, msgs, limit, &more)) < 0)
		return req_errno(ctx, (int)n, "no channel %s", m->channel);
	for (i = 0; i < (size_t)n; i++)
		ptrs[i] = &msgs[i];
	evd__dead_list__init(dl);
	dl->n_messages = (size_t)n;
	dl->messages = ptrs;
	if (more && n > 0) {
		dl->has_next_after_fire_id = true;
		dl->next_after_fire_id = msgs[n - 1].fire_id;
	}
	ctx->reply->body_case = EVD__REPLY__BODY_DEAD_LIST;
	ctx->reply->dead_list = dl;
	return 0;
}
