/*
 * req_list_channels: the channels the caller may see (its own, those
 * granted to it; root: all), a page at a time in name order, each with
 * its counts as GetChannel gives them, without the grants (GetChannel
 * has those: a page of them could be 64 times larger).
 */
#include <errno.h>
#include <stdbool.h>

#include "channel.h"
#include "dispatch.h"

#define LIST_CHANNELS_DEFAULT 100
#define LIST_CHANNELS_MAX 1000

int
req_list_channels(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__ListChannels *m = rq->list_channels;
	struct channel_who who = { ctx->uid, ctx->gid, ctx->groups,
		                   ctx->ngroups };
	size_t limit = LIST_CHANNELS_DEFAULT, i, k = 0;
	Evd__ChannelGrantEntry *grants, **gptrs;
	Evd__ChannelInfo *infos, **ptrs;
	Evd__ChannelList *cl;
	const char **names, **listed;
	bool more;
	long n;

	if (m->has_limit && m->limit > 0)
		limit = m->limit > LIST_CHANNELS_MAX ? LIST_CHANNELS_MAX
		                                     : m->limit;
	if ((cl = req_alloc(ctx, sizeof *cl)) == NULL ||
	    (names = req_alloc(ctx, limit * sizeof *names)) == NULL ||
	    (listed = req_alloc(ctx, limit * sizeof *listed)) == NULL ||
	    (infos = req_alloc(ctx, limit * sizeof *infos)) == NULL ||
	    (ptrs = req_alloc(ctx, limit * sizeof *ptrs)) == NULL ||
	    (grants = req_alloc(ctx, CHANNEL_MAX_GRANTS * sizeof *grants)) ==
	            NULL ||
	    (gptrs = req_alloc(ctx, CHANNEL_MAX_GRANTS * sizeof *gptrs)) ==
	            NULL)
		return -ENOMEM;
	n = channel_list(&who, m->after != NULL && m->after[0] != '\0'
	                               ? m->after : NULL,
	                 names, limit, &more);
	if (n < 0)
		return -ENOMEM;
	for (i = 0; i < (size_t)n; i++) {
		/* The grants scratch is shared: none go in the reply. */
		if (channel_info(names[i], &who, &infos[k], grants, gptrs) < 0)
			continue;
		infos[k].n_grants = 0;
		infos[k].grants = NULL;
		ptrs[k] = &infos[k];
		listed[k] = names[i];
		k++;
	}
	/* Cluster mode: every node's messages, in one read. */
	req_channel_counts(listed, ptrs, k);
	evd__channel_list__init(cl);
	cl->n_channels = k;
	cl->channels = ptrs;
	if (more && n > 0)
		cl->next_after = (char *)names[n - 1];
	ctx->reply->body_case = EVD__REPLY__BODY_CHANNEL_LIST;
	ctx->reply->channel_list = cl;
	return 0;
}
