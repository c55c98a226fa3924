/*
 * req_purge: deletes the messages waiting in a channel's queue; its
 * owner (or root) everyone's or one publisher's, anyone else its own.
 *
 * Cluster mode: those this node holds, and those no node holds in the
 * database (never claimed, given back, or a lapsed claim's); another
 * node's live claims are left to it (it may be delivering them).
 */
#include <errno.h>
#include <stdbool.h>

#include "batch.h"
#include "channel.h"
#include "cluster.h"
#include "dispatch.h"
#include "store.h"

/* Cluster mode: the channel's messages no node holds (unclaimed, or a
 * lapsed claim's), in the database, of from (every publisher's when
 * all). Returns how many, or -errno (the batch is then lost). */
static int
req_purge_unheld(const char *channel, uid_t from, bool all)
{
	const struct store_backend *be = batch_backend();
	struct store *s;
	int r;

	if (!cluster_enabled() || be == NULL || be->msg_purge_unheld == NULL)
		return 0;
	if ((s = batch_store()) == NULL)
		return -EAGAIN;
	if ((r = be->msg_purge_unheld(s, channel, from, all)) < 0) {
		batch_fail(r);
		return -EIO;
	}
	return r;
}

int
req_purge(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__Purge *m = rq->purge;
	struct channel_who who = { ctx->uid, ctx->gid, ctx->groups,
		                   ctx->ngroups };
	const char *channel;
	Evd__Purged *rp;
	uint64_t n;
	int r;

	if ((r = req_channel_name(ctx, m->channel, &channel)) < 0)
		return r;
	if ((rp = req_alloc(ctx, sizeof *rp)) == NULL)
		return -ENOMEM;
	r = channel_purge(&who, channel, m->has_from_uid, m->from_uid, &n);
	if (r == -ENOENT && !cluster_enabled())
		return req_errno(ctx, r, "no channel %s", m->channel);
	if (r == -EACCES)
		return req_errno(ctx, r,
		                 "only the owner of %s (uid %u) or root may "
		                 "purge what others sent into it",
		                 m->channel, (unsigned)channel_name_owner(channel));
	if (r < 0 && r != -ENOENT) /* -EAGAIN, -EIO: the store */
		return req_errno(ctx, r, NULL);
	/* Cluster mode: also what no node holds (a channel nobody
	 * subscribes to fills up with those); another node's live claims
	 * stay with it. The rights are channel_purge's, checked above. */
	if (cluster_enabled()) {
		bool all = !m->has_from_uid &&
		           (ctx->uid == 0 ||
		            ctx->uid == channel_name_owner(channel));
		uid_t from = m->has_from_uid ? (uid_t)m->from_uid : ctx->uid;
		int k = req_purge_unheld(channel, from, all);

		if (k < 0)
			return req_errno(ctx, k, NULL);
		if (r == -ENOENT && k == 0)
			return req_errno(ctx, r, "no channel %s", m->channel);
		n += (uint64_t)k;
	}
	if (n > 0)
		ctx->durable = true;
	evd__purged__init(rp);
	rp->has_count = true;
	rp->count = n;
	ctx->reply->body_case = EVD__REPLY__BODY_PURGED;
	ctx->reply->purged = rp;
	return 0;
}
