/*
 * metrics: counters, histograms and their Prometheus text (see metrics.h).
 *
 * Pure: no I/O and no logging. A histogram keeps one count per bucket
 * (not cumulative) plus the observations above its last bound, and its sum
 * as whole seconds plus nanoseconds so that it is exact and cannot wrap in
 * any realistic lifetime; the cumulative counts Prometheus wants are
 * computed when rendering.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"

#define METRICS_BUCKETS_MAX 16
#define NS_PER_S INT64_C(1000000000)

/* One bucket's upper bound: in nanoseconds, and as its le="" label. */
struct bucket {
	int64_t le_ns;
	const char *le;
};

/* Owner: this module (the two instances below). */
struct histogram {
	const char *name; /* without _bucket/_sum/_count */
	const char *help;
	const struct bucket *buckets; /* ascending; +Inf is implied */
	size_t nbuckets;
	uint64_t counts[METRICS_BUCKETS_MAX + 1]; /* [nbuckets]: above all */
	uint64_t count;
	uint64_t sum_s;
	int64_t sum_rem_ns; /* 0..NS_PER_S-1 */
};

/* From a timer that fired on the dot (the timerfd is precise to tens of
 * microseconds) to one held back by a slow store or a full loop. */
static const struct bucket lateness_buckets[] = {
	{ 50000, "0.00005" },     { 100000, "0.0001" },
	{ 250000, "0.00025" },    { 500000, "0.0005" },
	{ 1000000, "0.001" },     { 2500000, "0.0025" },
	{ 5000000, "0.005" },     { 10000000, "0.01" },
	{ 50000000, "0.05" },     { 100000000, "0.1" },
	{ NS_PER_S, "1" },        { 10 * NS_PER_S, "10" },
};

/* From a commit without fsync to an fsync on a busy disk. */
static const struct bucket commit_buckets[] = {
	{ 100000, "0.0001" },    { 250000, "0.00025" },
	{ 500000, "0.0005" },    { 1000000, "0.001" },
	{ 2500000, "0.0025" },   { 5000000, "0.005" },
	{ 10000000, "0.01" },    { 25000000, "0.025" },
	{ 50000000, "0.05" },    { 100000000, "0.1" },
	{ 250000000, "0.25" },   { NS_PER_S, "1" },
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

_Static_assert(NELEM(lateness_buckets) <= METRICS_BUCKETS_MAX,
               "too many lateness buckets");
_Static_assert(NELEM(commit_buckets) <= METRICS_BUCKETS_MAX,
               "too many commit buckets");

static struct histogram lateness = {
	.name = "evd_fire_lateness_seconds",
	.help = "How long after its deadline a timer fired.",
	.buckets = lateness_buckets,
	.nbuckets = NELEM(lateness_buckets),
};

static struct histogram commit = {
	.name = "evd_store_commit_seconds",
	.help = "How long a store commit (one per loop iteration that "
	        "wrote) took.",
	.buckets = commit_buckets,
	.nbuckets = NELEM(commit_buckets),
};

/* The durable half of a commit, off the loop thread: a durable reply
 * waits for one of these (its own) to end, so its tail is the tail of
 * durable request latency. */
static struct histogram flush = {
	.name = "evd_store_flush_seconds",
	.help = "How long a store flush (fsync of the commits before it, "
	        "off the loop thread) took.",
	.buckets = commit_buckets,
	.nbuckets = NELEM(commit_buckets),
};

/* How a hook ended, as evd_exec_total's outcome label: success is exit
 * status 0 alone, so that an alert on rate(failure) needs no exit code. */
enum metrics_exec {
	METRICS_EXEC_SUCCESS,
	METRICS_EXEC_FAILURE,      /* non-zero exit, or killed by a signal */
	METRICS_EXEC_TIMEOUT,
	METRICS_EXEC_FAILED_START, /* could not be started */
};
static const char *const exec_outcome_names[] = {
	[METRICS_EXEC_SUCCESS] = "success",
	[METRICS_EXEC_FAILURE] = "failure",
	[METRICS_EXEC_TIMEOUT] = "timeout",
	[METRICS_EXEC_FAILED_START] = "failed_start",
};
static uint64_t exec_counts[NELEM(exec_outcome_names)];

static void
histogram_observe(struct histogram *h, int64_t ns)
{
	size_t i;

	if (ns < 0)
		ns = 0;
	for (i = 0; i < h->nbuckets && ns > h->buckets[i].le_ns; i++)
		;
	h->counts[i]++;
	h->count++;
	h->sum_s += (uint64_t)(ns / NS_PER_S);
	h->sum_rem_ns += ns % NS_PER_S;
	if (h->sum_rem_ns >= NS_PER_S) {
		h->sum_rem_ns -= NS_PER_S;
		h->sum_s++;
	}
}

static void
histogram_reset(struct histogram *h)
{
	memset(h->counts, 0, sizeof h->counts);
	h->count = 0;
	h->sum_s = 0;
	h->sum_rem_ns = 0;
}

/* The last-success table (metrics.h): unordered, at most
 * METRICS_TIMER_SERIES_MAX rows, rendered sorted by id (a scrape is rare;
 * a success is one linear scan of a thousand ids at most). Hooks end on
 * every loop, so it has a lock of its own. */
struct timer_success {
	uint64_t timer_id;
	uint32_t uid;
	int64_t realtime_ns;
};
static struct timer_success successes[METRICS_TIMER_SERIES_MAX];
static size_t nsuccesses;
static uint64_t successes_dropped;
static pthread_mutex_t successes_lock = PTHREAD_MUTEX_INITIALIZER;

void
metrics_timer_success(uint64_t timer_id, uint32_t uid, int64_t realtime_ns)
{
	size_t i;

	pthread_mutex_lock(&successes_lock);
	for (i = 0; i < nsuccesses; i++)
		if (successes[i].timer_id == timer_id)
			break;
	if (i == nsuccesses) {
		if (nsuccesses == METRICS_TIMER_SERIES_MAX) {
			successes_dropped++;
			goto out;
		}
		nsuccesses++;
	}
	successes[i].timer_id = timer_id;
	successes[i].uid = uid;
	successes[i].realtime_ns = realtime_ns;
out:
	pthread_mutex_unlock(&successes_lock);
}

void
metrics_timer_forget(uint64_t timer_id)
{
	size_t i;

	pthread_mutex_lock(&successes_lock);
	for (i = 0; i < nsuccesses; i++)
		if (successes[i].timer_id == timer_id) {
			successes[i] = successes[--nsuccesses];
			break;
		}
	pthread_mutex_unlock(&successes_lock);
}

static int
success_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct timer_success *)a)->timer_id;
	uint64_t y = ((const struct timer_success *)b)->timer_id;

	return x < y ? -1 : x > y;
}

/* Every loop fires timers (shard.h); the rest is loop 0's alone. */
static pthread_mutex_t lateness_lock = PTHREAD_MUTEX_INITIALIZER;

void
metrics_observe_lateness(int64_t lateness_ns)
{
	bool mt = shard_count() > 1;

	if (mt)
		pthread_mutex_lock(&lateness_lock);
	histogram_observe(&lateness, lateness_ns);
	if (mt)
		pthread_mutex_unlock(&lateness_lock);
}

/* The store's thread observes commits and flushes, a loop renders. */
static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER;

void
metrics_observe_commit(int64_t duration_ns)
{
	pthread_mutex_lock(&flush_lock);
	histogram_observe(&commit, duration_ns);
	pthread_mutex_unlock(&flush_lock);
}

void
metrics_observe_flush(int64_t duration_ns)
{
	pthread_mutex_lock(&flush_lock);
	histogram_observe(&flush, duration_ns);
	pthread_mutex_unlock(&flush_lock);
}

void
metrics_count_exec(enum exec_outcome outcome, int code)
{
	switch (outcome) {
	case EXEC_EXITED:
		exec_counts[code == 0 ? METRICS_EXEC_SUCCESS
		                      : METRICS_EXEC_FAILURE]++;
		break;
	case EXEC_SIGNALED:
		exec_counts[METRICS_EXEC_FAILURE]++;
		break;
	case EXEC_TIMED_OUT:
		exec_counts[METRICS_EXEC_TIMEOUT]++;
		break;
	default:
		/* hook.c counts anything unknown as a failed start; so do
		 * we. */
		exec_counts[METRICS_EXEC_FAILED_START]++;
		break;
	}
}

void
metrics_reset(void)
{
	histogram_reset(&lateness);
	pthread_mutex_lock(&flush_lock);
	histogram_reset(&commit);
	histogram_reset(&flush);
	pthread_mutex_unlock(&flush_lock);
	memset(exec_counts, 0, sizeof exec_counts);
	pthread_mutex_lock(&successes_lock);
	nsuccesses = 0;
	successes_dropped = 0;
	pthread_mutex_unlock(&successes_lock);
}

/* A growing text buffer; failed is sticky so callers check once. */
struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void text_printf(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	size_t cap;
	char *nbuf;
	int n;

	if (t->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->failed = true;
		return;
	}
	if ((size_t)n < t->cap - t->len) {
		t->len += (size_t)n;
		return;
	}
	for (cap = t->cap * 2; cap - t->len <= (size_t)n; cap *= 2)
		;
	if ((nbuf = realloc(t->buf, cap)) == NULL) {
		t->failed = true;
		return;
	}
	t->buf = nbuf;
	t->cap = cap;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

static void
render_one(struct text *t, const char *name, const char *type,
           const char *help, uint64_t v)
{
	text_printf(t, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name,
	            help, name, type, name, v);
}

static void
render_histogram(struct text *t, const struct histogram *h)
{
	uint64_t cum = 0;
	size_t i;

	text_printf(t, "# HELP %s %s\n# TYPE %s histogram\n", h->name,
	            h->help, h->name);
	for (i = 0; i < h->nbuckets; i++) {
		cum += h->counts[i];
		text_printf(t, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", h->name,
		            h->buckets[i].le, cum);
	}
	text_printf(t, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", h->name,
	            h->count);
	text_printf(t, "%s_sum %" PRIu64 ".%09" PRId64 "\n", h->name,
	            h->sum_s, h->sum_rem_ns);
	text_printf(t, "%s_count %" PRIu64 "\n", h->name, h->count);
}

/* A duration in ns as seconds, exactly. */
static void
render_seconds(struct text *t, const char *name, const char *help,
               int64_t ns)
{
	if (ns < 0)
		ns = 0;
	text_printf(t, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRId64
	            ".%09" PRId64 "\n",
	            name, help, name, name, ns / NS_PER_S, ns % NS_PER_S);
}

/* Cluster mode: this node (cluster.h). The node id is a label of an info
 * gauge only, so that the counters' series survive nothing but a restart,
 * which makes a new node anyway. */
static void
render_cluster(struct text *t, const struct cluster_stats *c)
{
	const char *p;

	text_printf(t, "# HELP evd_cluster_node_info This node of the cluster "
	            "(its id, as in evd.nodes).\n"
	            "# TYPE evd_cluster_node_info gauge\n"
	            "evd_cluster_node_info{node=\"");
	/* Label value escapes: backslash, double quote, newline. */
	for (p = c->node; *p != '\0'; p++)
		if (*p == '\\' || *p == '"' || *p == '\n')
			text_printf(t, "\\%c", *p == '\n' ? 'n' : *p);
		else
			text_printf(t, "%c", *p);
	text_printf(t, "\"} 1\n");
	render_one(t, "evd_cluster_lease_live", "gauge",
	           "1 while this node's lease is live (it may fire).",
	           c->live ? 1 : 0);
	render_one(t, "evd_cluster_claims_held", "gauge",
	           "Timers this node has claimed and not yet retired.",
	           c->claims_held);
	render_one(t, "evd_cluster_claimed_total", "counter",
	           "Timers this node claimed from the database.", c->claimed);
	render_one(t, "evd_cluster_fence_losses_total", "counter",
	           "Retires that found their claim gone (another node had "
	           "it).", c->fence_losses);
	render_one(t, "evd_cluster_reaped_nodes_total", "counter",
	           "Dead nodes this node reaped.", c->reaped_nodes);
	render_one(t, "evd_cluster_reaped_timers_total", "counter",
	           "Claims of dead nodes this node made pending again.",
	           c->reaped_timers);
	render_one(t, "evd_cluster_lease_lapses_total", "counter",
	           "Times this node's lease ran out (claims dropped).",
	           c->lapses);
	render_one(t, "evd_cluster_lease_gaps_total", "counter",
	           "Heartbeat gaps (claims adopted anew).", c->gaps);
	render_seconds(t, "evd_cluster_db_rtt_last_seconds",
	               "Round trip of the last answered heartbeat.",
	               c->rtt_last_ns);
	render_seconds(t, "evd_cluster_db_rtt_p99_seconds",
	               "99th percentile heartbeat round trip over the last "
	               "128 heartbeats.", c->rtt_p99_ns);
	render_seconds(t, "evd_cluster_db_rtt_max_seconds",
	               "Slowest heartbeat round trip over the last 128 "
	               "heartbeats.", c->rtt_max_ns);
	render_seconds(t, "evd_cluster_db_unanswered_seconds",
	               "How long heartbeats have gone unanswered (0: the "
	               "last was answered).", c->rtt_pending_ns);
}

int
metrics_render(const struct metrics_snapshot *s, char **ret_text,
               size_t *ret_len)
{
	struct text t = { .cap = 4096 };
	size_t i;

	if ((t.buf = malloc(t.cap)) == NULL)
		return -ENOMEM;
	t.buf[0] = '\0';
	render_one(&t, "evd_pending_timers", "gauge",
	           "Timers scheduled and not yet fired or cancelled.",
	           s->pending_timers);
	render_one(&t, "evd_scheduled_total", "counter",
	           "Timers scheduled since evd started.", s->scheduled_total);
	render_one(&t, "evd_fired_total", "counter",
	           "Timers fired since evd started.", s->fired_total);
	render_one(&t, "evd_cancelled_total", "counter",
	           "Timers cancelled since evd started.", s->cancelled_total);
	render_one(&t, "evd_connections", "gauge",
	           "Client connections open.", s->connections);
	render_one(&t, "evd_channels", "gauge", "Durable channels.",
	           s->channels);
	render_one(&t, "evd_channel_messages_queued", "gauge",
	           "Channel messages waiting for a subscriber.",
	           s->channel_queued);
	render_one(&t, "evd_channel_messages_inflight", "gauge",
	           "Channel messages delivered and not acknowledged yet.",
	           s->channel_inflight);
	render_one(&t, "evd_channel_messages_dead", "gauge",
	           "Channel messages in dead-letter lists.", s->channel_dead);
	render_one(&t, "evd_channel_redelivered_total", "counter",
	           "Channel messages delivered again since evd started.",
	           s->channel_redelivered_total);
	render_one(&t, "evd_exec_running", "gauge",
	           "Exec hooks running (or ended and not yet recorded).",
	           s->exec_running);
	text_printf(&t, "# HELP evd_exec_total Exec hooks ended since evd "
	            "started, by outcome.\n# TYPE evd_exec_total counter\n");
	for (i = 0; i < NELEM(exec_counts); i++)
		text_printf(&t, "evd_exec_total{outcome=\"%s\"} %" PRIu64 "\n",
		            exec_outcome_names[i], exec_counts[i]);
	if (s->cluster)
		render_cluster(&t, &s->node);
	if (shard_count() > 1)
		pthread_mutex_lock(&lateness_lock);
	render_histogram(&t, &lateness);
	if (shard_count() > 1)
		pthread_mutex_unlock(&lateness_lock);
	pthread_mutex_lock(&flush_lock);
	render_histogram(&t, &commit);
	render_histogram(&t, &flush);
	pthread_mutex_unlock(&flush_lock);
	pthread_mutex_lock(&successes_lock);
	qsort(successes, nsuccesses, sizeof successes[0], success_cmp);
	text_printf(&t, "# HELP evd_timer_last_success_timestamp_seconds "
	            "When the exec hook of a repeating or calendar timer last "
	            "exited 0 (since evd started; at most %d timers).\n"
	            "# TYPE evd_timer_last_success_timestamp_seconds gauge\n",
	            METRICS_TIMER_SERIES_MAX);
	for (i = 0; i < nsuccesses; i++)
		text_printf(&t,
		            "evd_timer_last_success_timestamp_seconds{id=\"%"
		            PRIu64 "\",owner=\"%" PRIu32 "\"} %" PRId64
		            ".%03" PRId64 "\n",
		            successes[i].timer_id, successes[i].uid,
		            successes[i].realtime_ns / NS_PER_S,
		            successes[i].realtime_ns % NS_PER_S / 1000000);
	render_one(&t, "evd_timer_last_success_dropped_total", "counter",
	           "Successes not recorded: the last-success series were "
	           "full.", successes_dropped);
	pthread_mutex_unlock(&successes_lock);
	if (t.failed) {
		free(t.buf);
		return -ENOMEM;
	}
	*ret_text = t.buf;
	*ret_len = t.len;
	return 0;
}

int
metrics_parse_addr(const char *s, struct sockaddr_storage *ret,
                   socklen_t *ret_len)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	char host[METRICS_ADDR_MAX];
	const char *colon, *p;
	unsigned long port = 0;
	size_t hlen;
	socklen_t len;

	if (strlen(s) >= METRICS_ADDR_MAX ||
	    (colon = strrchr(s, ':')) == NULL)
		return -EINVAL;
	/* Decimal only, no sign or blanks, 1..65535. */
	if (colon[1] == '\0')
		return -EINVAL;
	for (p = colon + 1; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || port > 65535)
			return -EINVAL;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port == 0 || port > 65535)
		return -EINVAL;
	hlen = (size_t)(colon - s);
	memset(&ss, 0, sizeof ss);
	if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
		memcpy(host, s + 1, hlen - 2);
		host[hlen - 2] = '\0';
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		len = sizeof *sin6;
	} else {
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (strcmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1");
		/* inet_pton takes dotted quads only: no "1", no hex. */
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		len = sizeof *sin;
	}
	*ret = ss;
	*ret_len = len;
	return 0;
}
