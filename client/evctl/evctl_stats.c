/*
 * evctl_stats: the stats verb, the daemon's counters as key: value lines
 * or one JSON object.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "evctl.h"

/* A duration in ns as milliseconds with three decimals. */
static const char *
ms(int64_t ns, char *buf, size_t size)
{
	snprintf(buf, size, "%" PRId64 ".%03" PRId64 " ms", ns / 1000000,
		 ns % 1000000 / 1000);
	return buf;
}

/* Cluster mode: the node's lines (nothing outside it), for a reader;
 * --json has each figure on its own. */
static void
print_cluster(const struct evc_cluster_stats *cs)
{
	char a[32], b[32], c[32];

	kv_bytes("node", cs->node, strlen(cs->node));
	kv("node_lease", "%s (lapses %" PRIu64 ", gaps %" PRIu64 ")",
	   cs->lease_live ? "live" : "lapsed", cs->lease_lapses,
	   cs->lease_gaps);
	kv("node_claims", "%" PRIu64 " held, %" PRIu64 " claimed",
	   cs->claims_held, cs->claimed_total);
	kv("node_fence_losses", "%" PRIu64, cs->fence_losses);
	kv("node_reaped", "%" PRIu64 " nodes, %" PRIu64 " timers",
	   cs->reaped_nodes, cs->reaped_timers);
	kv("node_db_rtt", "%s (p99 %s, max %s; last %" PRIu32 ")",
	   ms(cs->db_rtt_last_ns, a, sizeof(a)),
	   ms(cs->db_rtt_p99_ns, b, sizeof(b)),
	   ms(cs->db_rtt_max_ns, c, sizeof(c)), cs->db_rtt_samples);
	kv("node_db_silent", "%s", ms(cs->db_unanswered_ns, a, sizeof(a)));
}

/* "node": null outside cluster mode, else an object. */
static void
jw_cluster(struct jw *w, const struct evc_cluster_stats *cs)
{
	struct jw n;

	jw_key(w, "node");
	if (cs->node == NULL) {
		fputs("null", stdout);
		return;
	}
	jw_begin(&n);
	jw_str(&n, "id", cs->node);
	jw_bool(&n, "lease_live", cs->lease_live);
	jw_u64(&n, "claims_held", cs->claims_held);
	jw_u64(&n, "claimed_total", cs->claimed_total);
	jw_u64(&n, "fence_losses", cs->fence_losses);
	jw_u64(&n, "reaped_nodes", cs->reaped_nodes);
	jw_u64(&n, "reaped_timers", cs->reaped_timers);
	jw_u64(&n, "lease_lapses", cs->lease_lapses);
	jw_u64(&n, "lease_gaps", cs->lease_gaps);
	jw_i64(&n, "db_rtt_last_ns", cs->db_rtt_last_ns);
	jw_i64(&n, "db_rtt_p99_ns", cs->db_rtt_p99_ns);
	jw_i64(&n, "db_rtt_max_ns", cs->db_rtt_max_ns);
	jw_u64(&n, "db_rtt_samples", cs->db_rtt_samples);
	jw_i64(&n, "db_unanswered_ns", cs->db_unanswered_ns);
	jw_close(&n);
}

int
verb_stats(struct ctl *x)
{
	char d[TIMEFMT_DURATION_MAX];
	struct evc_cluster_stats cs;
	struct evc_stats st;
	int64_t off;
	struct jw w;
	int r;

	r = evc_stats(x->c, x->request_ms, &st);
	if (r < 0)
		return lib_failure(x, r, "stats");
	/* A second request: struct evc_stats cannot grow (evclient.h). */
	r = evc_cluster_stats(x->c, x->request_ms, &cs);
	if (r < 0) {
		evc_stats_free(&st);
		return lib_failure(x, r, "stats");
	}
	if (x->json) {
		jw_begin(&w);
		jw_u64(&w, "pending_timers", st.pending_timers);
		jw_u64(&w, "connections", st.connections);
		jw_u64(&w, "scheduled_total", st.scheduled_total);
		jw_u64(&w, "fired_total", st.fired_total);
		jw_u64(&w, "cancelled_total", st.cancelled_total);
		jw_u64(&w, "channels", st.channels);
		jw_u64(&w, "queued_messages", st.queued_messages);
		jw_u64(&w, "inflight_messages", st.inflight_messages);
		jw_u64(&w, "redelivered_total", st.redelivered_total);
		jw_u64(&w, "dropped_total", st.dropped_total);
		jw_u64(&w, "dead_messages", st.dead_messages);
		jw_u64(&w, "clock_steps", st.clock_steps);
		jw_u64(&w, "tz_changes", st.tz_changes);
		jw_i64(&w, "utc_offset_s", st.utc_offset_s);
		jw_i64(&w, "uptime_ns", st.uptime_ns);
		jw_str(&w, "server_version", st.server_version);
		jw_str(&w, "store", st.store);
		jw_cluster(&w, &cs);
		jw_end(&w);
	} else {
		kv("pending_timers", "%" PRIu64, st.pending_timers);
		kv("connections", "%" PRIu64, st.connections);
		kv("scheduled_total", "%" PRIu64, st.scheduled_total);
		kv("fired_total", "%" PRIu64, st.fired_total);
		kv("cancelled_total", "%" PRIu64, st.cancelled_total);
		kv("channels", "%" PRIu64, st.channels);
		kv("queued_messages", "%" PRIu64, st.queued_messages);
		kv("inflight_messages", "%" PRIu64, st.inflight_messages);
		kv("redelivered_total", "%" PRIu64, st.redelivered_total);
		kv("dropped_total", "%" PRIu64, st.dropped_total);
		kv("dead_messages", "%" PRIu64, st.dead_messages);
		kv("clock_steps", "%" PRIu64, st.clock_steps);
		kv("tz_changes", "%" PRIu64, st.tz_changes);
		off = st.utc_offset_s < 0 ? -st.utc_offset_s : st.utc_offset_s;
		kv("utc_offset", "%c%02" PRId64 ":%02" PRId64,
		   st.utc_offset_s < 0 ? '-' : '+', off / 3600,
		   off % 3600 / 60);
		kv("uptime", "%s", dur(st.uptime_ns, d, sizeof(d)));
		kv_bytes("server_version", st.server_version,
			 st.server_version ? strlen(st.server_version) : 0);
		kv_bytes("store", st.store, st.store ? strlen(st.store) : 0);
		if (cs.node != NULL)
			print_cluster(&cs);
	}
	evc_stats_free(&st);
	evc_cluster_stats_free(&cs);
	return check_stdout();
}
