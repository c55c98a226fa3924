/*
 * req_stats: the daemon's counters. Daemon-wide figures, visible to every
 * user: they reveal counts, never anyone's timers.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "conn.h"
#include "dispatch.h"
#include "sched.h"
#include "shard.h"

/* This node of a cluster (cluster.h); the reply's, freed with it. */
static Evd__ClusterStats *
req_cluster_stats(struct req_ctx *ctx)
{
	struct cluster_stats cs;
	Evd__ClusterStats *c;

	if ((c = req_alloc(ctx, sizeof *c)) == NULL)
		return NULL;
	evd__cluster_stats__init(c);
	if ((c->node = req_alloc(ctx, sizeof cs.node)) == NULL)
		return NULL;
	cluster_stats(&cs);
	memcpy(c->node, cs.node, sizeof cs.node);
	c->has_lease_live = c->has_claims_held = c->has_claimed_total = true;
	c->lease_live = cs.live;
	c->claims_held = cs.claims_held;
	c->claimed_total = cs.claimed;
	c->has_fence_losses = c->has_reaped_nodes = true;
	c->fence_losses = cs.fence_losses;
	c->reaped_nodes = cs.reaped_nodes;
	c->has_reaped_timers = c->has_lease_lapses = c->has_lease_gaps = true;
	c->reaped_timers = cs.reaped_timers;
	c->lease_lapses = cs.lapses;
	c->lease_gaps = cs.gaps;
	c->has_db_rtt_last_ns = c->has_db_rtt_p99_ns = true;
	c->db_rtt_last_ns = cs.rtt_last_ns;
	c->db_rtt_p99_ns = cs.rtt_p99_ns;
	c->has_db_rtt_max_ns = c->has_db_rtt_samples = true;
	c->db_rtt_max_ns = cs.rtt_max_ns;
	c->db_rtt_samples = cs.rtt_samples;
	c->has_db_rtt_pending_ns = true;
	c->db_rtt_pending_ns = cs.rtt_pending_ns;
	return c;
}

int
req_stats(struct req_ctx *ctx, const Evd__Request *rq)
{
	struct sched_stats ss;
	struct channel_stats cs;
	struct shard_counters others;
	Evd__StatsReply *st;

	if ((st = req_alloc(ctx, sizeof *st)) == NULL)
		return -ENOMEM;
	sched_get_stats(&ss);
	channel_get_stats(&cs);
	/* Stats run on loop 0 (channels); the other loops' timers and
	 * connections as they published them after their last turn. */
	shard_sum_others(&others);
	evd__stats_reply__init(st);
	st->has_pending_timers = st->has_connections = true;
	st->pending_timers = ss.pending + others.pending;
	st->connections = conn_count() + others.connections;
	st->has_scheduled_total = st->has_fired_total = true;
	st->scheduled_total = ss.scheduled_total + others.scheduled_total;
	st->fired_total = ss.fired_total + others.fired_total;
	st->has_cancelled_total = true;
	st->cancelled_total = ss.cancelled_total + others.cancelled_total;
	st->has_channels = st->has_queued_messages = true;
	st->channels = cs.channels;
	st->queued_messages = cs.queued;
	st->has_inflight_messages = st->has_redelivered_total = true;
	st->inflight_messages = cs.inflight;
	st->redelivered_total = cs.redelivered_total;
	st->has_dead_messages = true;
	st->dead_messages = cs.dead;
	st->has_clock_steps = st->has_tz_changes = st->has_utc_offset_s = true;
	st->clock_steps = ss.clock_steps;
	st->tz_changes = ss.tz_changes;
	st->utc_offset_s = ss.utc_offset_s;
	st->has_dropped_total = true;
	st->dropped_total = cs.dropped_total;
	st->has_uptime_ns = true;
	st->uptime_ns = clock_now_ns(EVD_CLOCK_MONOTONIC) -
	                dispatch_started_mono_ns();
	if (cluster_enabled() && (st->cluster = req_cluster_stats(ctx)) == NULL)
		return -ENOMEM;
	st->server_version = EVD_VERSION;
	st->store = (char *)dispatch_store_name();
	ctx->reply->body_case = EVD__REPLY__BODY_STATS;
	ctx->reply->stats = st;
	return 0;
}
