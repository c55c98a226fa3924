/*
 * req_stats: the daemon's counters. Daemon-wide figures, visible to every
 * user: they reveal counts, never anyone's timers.
 */
#include <errno.h>
#include <stdbool.h>

#include "channel.h"
#include "clock.h"
#include "conn.h"
#include "dispatch.h"
#include "sched.h"
#include "shard.h"

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
	st->server_version = EVD_VERSION;
	st->store = (char *)dispatch_store_name();
	ctx->reply->body_case = EVD__REPLY__BODY_STATS;
	ctx->reply->stats = st;
	return 0;
}
