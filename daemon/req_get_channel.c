/*
 * req_get_channel: a channel's owner, grants and counts, for its owner,
 * root and its grantees; NOT_FOUND for anyone else.
 *
 * Cluster mode: the queued and dead counts are the database's, of every
 * node (req_channel_counts), not only of what this node claimed.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "channel.h"
#include "cluster.h"
#include "dispatch.h"
#include "store.h"

void
req_channel_counts(const char *const *names, Evd__ChannelInfo *const *infos,
                   size_t n)
{
	const struct store_backend *be[REQ_STORES_MAX];
	struct store *s[REQ_STORES_MAX];
	uint64_t *live, *dead;
	size_t i, k, nstores;

	if (n == 0 || !cluster_enabled())
		return;
	nstores = req_stores(be, s);
	for (k = 0; k < nstores; k++) {
		if (be[k]->msg_channel_counts == NULL)
			continue;
		if ((live = calloc(2 * n, sizeof *live)) == NULL)
			return;
		dead = live + n;
		/* Unreadable: this node's own counts stand, as reads of
		 * what the node holds are served while the database is out
		 * of reach. */
		if (be[k]->msg_channel_counts(s[k], names, n, live, dead) == 0) {
			for (i = 0; i < n; i++) {
				uint64_t here = infos[i]->inflight_messages;

				infos[i]->queued_messages =
				        live[i] > here ? live[i] - here : 0;
				infos[i]->dead_messages = dead[i];
			}
		}
		free(live);
		return;
	}
}

int
req_reply_channel_info(struct req_ctx *ctx, const char *channel)
{
	struct channel_who who = { ctx->uid, ctx->gid, ctx->groups,
		                   ctx->ngroups };
	Evd__ChannelGrantEntry *grants, **ptrs;
	Evd__ChannelInfo *info;

	if ((info = req_alloc(ctx, sizeof *info)) == NULL ||
	    (grants = req_alloc(ctx, CHANNEL_MAX_GRANTS * sizeof *grants)) ==
	            NULL ||
	    (ptrs = req_alloc(ctx, CHANNEL_MAX_GRANTS * sizeof *ptrs)) == NULL)
		return -ENOMEM;
	if (channel_info(channel, &who, info, grants, ptrs) < 0)
		return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
		                "no channel %s that you may see", channel);
	req_channel_counts(&channel, &info, 1);
	ctx->reply->body_case = EVD__REPLY__BODY_CHANNEL_INFO;
	ctx->reply->channel_info = info;
	return 0;
}

int
req_get_channel(struct req_ctx *ctx, const Evd__Request *rq)
{
	const char *channel;
	int r;

	if ((r = req_channel_name(ctx, rq->get_channel->channel, &channel)) <
	    0)
		return r;
	return req_reply_channel_info(ctx, channel);
}
