/*
 * req_peek: the messages waiting in a channel's queue, in delivery
 * order, left where they are; those the caller may see, as with dead
 * letters (its own; the owner's and root's: everyone's).
 *
 * Cluster mode: the database's live messages of the channel, of every
 * node, in fire id order (those in flight at a subscriber included: the
 * database does not tell them apart from waiting ones).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "cluster.h"
#include "dispatch.h"
#include "store.h"

#define PEEK_DEFAULT 100
#define PEEK_MAX 1000

/* Cluster mode: the rows read (their bytes copied: the store's are
 * borrowed during its callback), at most max, and whether more came. */
struct peek_rows {
	struct peek_row {
		struct store_msg m;
		uint8_t *payload;
		char *reason;
	} *v;
	size_t n, max;
	bool more;
};

static int
req_peek_row_cb(const struct store_msg *m, void *arg)
{
	struct peek_rows *pr = arg;
	struct peek_row *row;

	if (pr->n == pr->max) {
		pr->more = true;
		return 0;
	}
	row = &pr->v[pr->n];
	row->m = *m;
	row->payload = NULL;
	row->reason = NULL;
	if (m->payload_len > 0 &&
	    (row->payload = malloc(m->payload_len)) == NULL)
		return -ENOMEM;
	if (m->payload_len > 0)
		memcpy(row->payload, m->payload, m->payload_len);
	if (m->reason != NULL && (row->reason = strdup(m->reason)) == NULL) {
		free(row->payload);
		return -ENOMEM;
	}
	pr->n++;
	return 0;
}

/*
 * Cluster mode: channel's live messages in the database, of every node
 * (those claimed by none, by this one or by another, in flight or not),
 * in fire id order, those uid may see (its own; the channel owner's and
 * root's: everyone's), into msgs. Returns how many, or < 0 when the
 * database cannot say (not cluster mode, unreadable, out of memory):
 * the node's own queue then answers.
 */
static long
req_peek_stored(struct req_ctx *ctx, const char *channel, Evd__Fired *msgs,
                size_t limit, bool *ret_more)
{
	const struct store_backend *be[REQ_STORES_MAX];
	struct store *s[REQ_STORES_MAX];
	struct peek_rows pr = { .n = 0, .max = limit };
	size_t nstores, k, i, bytes = 0;
	bool all;
	uint8_t *buf;
	long r = -ENOENT;

	if (!cluster_enabled())
		return -ENOENT;
	nstores = req_stores(be, s);
	for (k = 0; k < nstores && be[k]->msg_list == NULL; k++)
		;
	if (k == nstores)
		return -ENOENT;
	if ((pr.v = calloc(limit, sizeof *pr.v)) == NULL)
		return -ENOMEM;
	all = ctx->uid == 0 || channel_owned_by(channel, ctx->uid);
	r = be[k]->msg_list(s[k], channel, false, ctx->uid, all, 0,
	                    (uint32_t)limit + 1, req_peek_row_cb, &pr);
	if (r < 0)
		goto out;
	for (i = 0; i < pr.n; i++)
		bytes += pr.v[i].m.payload_len +
		         (pr.v[i].reason != NULL ? strlen(pr.v[i].reason) + 1
		                                 : 0);
	/* One block for every payload and reason: a request has few
	 * allocations. */
	if ((buf = req_alloc(ctx, bytes + 1)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < pr.n; i++) {
		const struct store_msg *m = &pr.v[i].m;
		Evd__Fired *f = &msgs[i];

		evd__fired__init(f);
		f->has_timer_id = f->has_fire_id = true;
		f->timer_id = m->timer_id;
		f->fire_id = m->fire_id;
		f->channel = (char *)channel_display(channel, ctx->uid);
		if (m->payload_len > 0) {
			memcpy(buf, pr.v[i].payload, m->payload_len);
			f->has_payload = true;
			f->payload.data = buf;
			f->payload.len = m->payload_len;
			buf += m->payload_len;
		}
		f->has_due_realtime_ns = f->has_fired_realtime_ns = true;
		f->due_realtime_ns = m->due_rt_ns;
		f->fired_realtime_ns = m->fired_rt_ns;
		f->has_lateness_ns = f->has_attempt = true;
		f->lateness_ns = m->lateness_ns;
		f->attempt = m->attempts;
		if (pr.v[i].reason != NULL) {
			size_t len = strlen(pr.v[i].reason) + 1;

			memcpy(buf, pr.v[i].reason, len);
			f->reason = (char *)buf;
			buf += len;
		}
	}
	*ret_more = pr.more;
	r = (long)pr.n;
out:
	for (i = 0; i < pr.n; i++) {
		free(pr.v[i].payload);
		free(pr.v[i].reason);
	}
	free(pr.v);
	return r;
}

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
	if ((n = channel_peek(ctx->uid, channel, msgs, limit, &more)) < 0 &&
	    !cluster_enabled())
		return req_errno(ctx, (int)n, "no channel %s", m->channel);
	/* Cluster mode: every node's messages; the node's own queue when
	 * the database cannot say (a channel this node never saw is then
	 * NOT_FOUND, as on one machine). */
	if (cluster_enabled()) {
		long k = req_peek_stored(ctx, channel, msgs, limit, &more);

		if (k > 0 || (k == 0 && n >= 0))
			n = k;
		else if (n < 0)
			return req_errno(ctx, (int)n, "no channel %s",
			                 m->channel);
	}
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
