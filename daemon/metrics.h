/*
 * metrics: the counters and histograms behind the optional metrics
 * endpoint (--metrics, evd(8)), and their Prometheus text rendering.
 *
 * Pure: no I/O, no libevent, no logging. Other modules observe events
 * with one call each (a fire's lateness in sched, a hook's outcome in
 * hook, a commit's duration in batch); the values gathered from other
 * modules at scrape time (gauges and their totals) come in a struct
 * metrics_snapshot that metrics_http fills. Observations are cheap (a
 * bounded scan of a dozen bucket bounds) and never fail. Everything is
 * process-wide and only grows; metrics_reset is for tests.
 */
#ifndef EVD_METRICS_H
#define EVD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cluster.h"
#include "exec.h"

/* The largest HOST:PORT accepted ("[" IPv6 "]:" port, NUL included). */
#define METRICS_ADDR_MAX 64
/* The Content-Type of metrics_render's text. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* What other modules know, read when a scrape arrives. Owned by the
 * caller of metrics_render. */
struct metrics_snapshot {
	uint64_t pending_timers;
	uint64_t scheduled_total;
	uint64_t fired_total;
	uint64_t cancelled_total;
	uint64_t connections;
	uint64_t channels;
	uint64_t channel_queued;
	uint64_t channel_inflight;
	uint64_t channel_dead;
	uint64_t channel_redelivered_total;
	uint64_t channel_dropped_total;
	uint64_t exec_running;
	/* Cluster mode (cluster.h): this node; nothing of it is rendered
	 * when cluster is false. */
	bool cluster;
	struct cluster_stats node;
};

/* A timer fired lateness_ns after its deadline (negative counts as 0). */
void metrics_observe_lateness(int64_t lateness_ns);
/* A store commit (successful or not) took duration_ns. */
void metrics_observe_commit(int64_t duration_ns);
/* A store flush (making earlier commits durable: fsync, or a database's
 * synchronous commit) took duration_ns. Unlike the others, called from
 * the store's sync thread (batch.c), concurrently with the loops. */
void metrics_observe_flush(int64_t duration_ns);
/* An exec hook ended (or failed to start) with outcome and code (as in
 * struct exec_result): counted as success (exit 0), failure (non-zero
 * exit or a signal), timeout or failed_start. */
void metrics_count_exec(enum exec_outcome outcome, int code);
/*
 * The last success of a repeating or calendar timer's exec hook (exit 0),
 * for evd_timer_last_success_timestamp_seconds{id,owner}: cron monitoring
 * alerts on time() minus it. One series per timer, at most
 * METRICS_TIMER_SERIES_MAX of them, so that label cardinality is bounded
 * whatever users schedule: a timer's series goes when the timer does
 * (metrics_timer_forget, from sched when it frees a repeating timer), and
 * a success of a new timer while the table is full is counted in
 * evd_timer_last_success_dropped_total instead of evicting another
 * timer's series (an evicted series would look like a silent job). Kept
 * in memory since evd started. Thread-safe (any loop).
 */
#define METRICS_TIMER_SERIES_MAX 1000
void metrics_timer_success(uint64_t timer_id, uint32_t uid,
                           int64_t realtime_ns);
void metrics_timer_forget(uint64_t timer_id);
/* Forgets every observation (tests). */
void metrics_reset(void);

/*
 * Renders every metric in the Prometheus text exposition format 0.0.4
 * into a new NUL-terminated buffer: *ret_text (free() it) of *ret_len
 * bytes. Returns 0 or -ENOMEM; the outputs are untouched on failure.
 */
int metrics_render(const struct metrics_snapshot *s, char **ret_text,
                   size_t *ret_len);

/*
 * Parses "HOST:PORT": HOST is an IPv4 address, a bracketed IPv6 address
 * ("[::1]") or "localhost" (127.0.0.1); no name is resolved. PORT is
 * 1..65535. Returns 0 with the address in *ret and its length in
 * *ret_len, or -EINVAL (outputs untouched).
 */
int metrics_parse_addr(const char *s, struct sockaddr_storage *ret,
                       socklen_t *ret_len);

#endif
