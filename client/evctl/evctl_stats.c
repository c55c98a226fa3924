/*
 * evctl_stats: the stats verb, the daemon's counters as key: value lines
 * or one JSON object.
 */
#include <inttypes.h>
#include <string.h>

#include "evctl.h"

int
verb_stats(struct ctl *x)
{
	char d[TIMEFMT_DURATION_MAX];
	struct evc_stats st;
	int64_t off;
	struct jw w;
	int r;

	r = evc_stats(x->c, x->request_ms, &st);
	if (r < 0)
		return lib_failure(x, r, "stats");
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
	}
	evc_stats_free(&st);
	return check_stdout();
}
