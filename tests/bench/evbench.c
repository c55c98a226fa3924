/*
 * evbench: evd against its baselines, side by side, in one run.
 *
 *   evbench [--quick | --full] [--runs N] [--only GROUP[,GROUP...]]
 *           [--json FILE] [--plot DIR]
 *
 * Starts evd itself (a temporary socket and state directory per group,
 * through the integration harness) and the baselines (an echo server,
 * libevent and timerfd in this process, redis-server, at), measures each
 * figure --runs times and prints one markdown table:
 *
 *   metric | evd | baseline | ratio | target | met?
 *
 * with the median and [min..max] of the runs, then detail tables
 * (precision at every rate, load and pending count; memory per timer
 * against the number of timers). The targets are DESIGN.md's
 * "Performance targets". --json writes every figure and the table;
 * --plot writes gnuplot PNGs (lateness CDF, memory per timer).
 *
 * --quick is the ctest smoke run (label bench): small counts, one run,
 * a few seconds; redis-server, at and gnuplot are used only when
 * installed. --full adds the 10M-timer memory point (1-2 GB, minutes).
 *
 * Groups (--only): ipc heap schedule scale cancel precision memory
 * restart exec rtt delivery redis at cli.
 *
 * Nothing is asserted: the exit status is 0 when every group ran,
 * whether or not targets were met, and 1 when a measurement failed.
 */
#include "evb.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static struct evb_opts opts;
static char only_buf[256];
static long prec_pending; /* the pending count of the headline rows */

static bool
want(const char *group)
{
	const char *p = opts.only;
	size_t n = strlen(group);

	if (p == NULL)
		return true;
	while (*p != '\0') {
		size_t k = strcspn(p, ",");

		if (k == n && strncmp(p, group, n) == 0)
			return true;
		p += k;
		if (*p == ',')
			p++;
	}
	return false;
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: evbench [--quick | --full] [--runs N] "
		"[--only GROUP[,GROUP...]]\n"
		"               [--json FILE] [--plot DIR] "
		"[--exec-n N]\n"
		"               [--systemd-socket PATH [--as USER]]\n"
		"groups: ipc heap schedule scale cancel precision memory "
		"restart exec\n"
		"        rtt delivery redis at cli\n"
		"        sdexec (with --systemd-socket: the evd there, hooks "
		"systemd,\n"
		"                against systemd-run --no-block; --as: both\n"
		"                run the hook as USER, evbench being root)\n");
	exit(2);
}

/* ---- derived figures ---- */

/* The best median of keys[] under key (the rows compare the best
 * connection count with the target). */
static void
derive_best(const char *key, const char *const *keys, size_t n)
{
	const struct evb_result *best = NULL, *r;

	for (size_t i = 0; i < n; i++)
		if ((r = evb_get(keys[i])) != NULL &&
		    (best == NULL || r->med > best->med))
			best = r;
	if (best != NULL) {
		double v[3] = {best->min, best->med, best->max};

		evb_put(key, best->unit, v, 3);
	}
}

/* ns per operation from a rate: 1e9 / rate (min and max swap). */
static void
derive_cost(const char *key, const char *rate_key)
{
	const struct evb_result *r = evb_get(rate_key);

	if (r != NULL && r->min > 0) {
		double v[3] = {1e9 / r->max, 1e9 / r->med, 1e9 / r->min};

		evb_put(key, EVB_NS, v, 3);
	}
}

static void
derive(void)
{
	static const char *const mem[] = {"evd.schedule.memory.c1",
					  "evd.schedule.memory.c4",
					  "evd.schedule.memory.c16"};
	static const char *const dur[] = {"evd.schedule.sqlite.c1",
					  "evd.schedule.sqlite.c4",
					  "evd.schedule.sqlite.c16"};
	static const char *const can[] = {"evd.cancel.memory.c1",
					  "evd.cancel.memory.c4"};
	static const char *const sc1[] = {"evd.scale.memory.t1.c4",
					  "evd.scale.memory.t1.c16"};
	static const char *const sc2[] = {"evd.scale.memory.t2.c4",
					  "evd.scale.memory.t2.c16"};
	double early = 0;
	bool any = false;

	derive_best("evd.schedule.memory.best", mem, 3);
	derive_best("evd.schedule.sqlite.best", dur, 3);
	derive_best("evd.cancel.memory.best", can, 2);
	derive_best("evd.scale.memory.t1.best", sc1, 2);
	derive_best("evd.scale.memory.t2.best", sc2, 2);
	derive_cost("evd.schedule.cost", "evd.schedule.memory.best");
	derive_cost("evd.cancel.cost", "evd.cancel.memory.best");
	derive_cost("evd.fire.cost", "evd.deliver.caller");
	for (size_t i = 0; i < evb_count(); i++) {
		const struct evb_result *r = evb_at(i);
		size_t n = strlen(r->key);

		if (strncmp(r->key, "evd.prec.", 9) == 0 && n > 6 &&
		    strcmp(r->key + n - 6, ".early") == 0) {
			early += r->med;
			any = true;
		}
	}
	if (any)
		evb_put1("evd.prec.early", EVB_COUNT, early);
}

/* ---- the table ---- */

struct row {
	const char *metric;
	const char *evd;      /* key */
	const char *base;     /* key, or NULL */
	const char *baseline; /* what the baseline is */
	const char *target;   /* in words, or NULL */
	double abs_min, abs_max, ratio_min, ratio_max; /* NAN: none */
};

#define NO NAN

static char json_rows[1 << 16];
static size_t json_len;

static void
json_row_add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
json_row_add(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (json_len >= sizeof(json_rows))
		return;
	va_start(ap, fmt);
	n = vsnprintf(json_rows + json_len, sizeof(json_rows) - json_len, fmt,
		      ap);
	va_end(ap);
	if (n > 0)
		json_len += (size_t)n;
}

static void
cell(char *buf, size_t size, const struct evb_result *r)
{
	char a[32], b[32], c[32];

	if (r == NULL) {
		snprintf(buf, size, "skipped");
		return;
	}
	evb_fmt(a, sizeof(a), r->unit, r->med);
	if (r->n > 1 && r->min != r->max)
		snprintf(buf, size, "%s [%s..%s]", a,
			 evb_fmt(b, sizeof(b), r->unit, r->min),
			 evb_fmt(c, sizeof(c), r->unit, r->max));
	else
		snprintf(buf, size, "%s", a);
}

static void
print_row(const struct row *w)
{
	const struct evb_result *e = evb_get(w->evd);
	const struct evb_result *b = w->base != NULL ? evb_get(w->base) : NULL;
	char ev[96], bv[128], ratio[32] = "—", met[16] = "—";
	double q = NAN;

	cell(ev, sizeof(ev), e);
	if (w->base == NULL)
		snprintf(bv, sizeof(bv), "—");
	else if (b == NULL)
		snprintf(bv, sizeof(bv), "%s: skipped", w->baseline);
	else {
		char x[96];

		cell(x, sizeof(x), b);
		snprintf(bv, sizeof(bv), "%s: %s", w->baseline, x);
	}
	if (e != NULL && b != NULL && b->med != 0) {
		q = e->med / b->med;
		snprintf(ratio, sizeof(ratio), "%.2f×", q);
	}
	if (w->target != NULL && e != NULL) {
		bool ok = true, known = true;

		if (!isnan(w->abs_min) && e->med < w->abs_min)
			ok = false;
		if (!isnan(w->abs_max) && e->med > w->abs_max)
			ok = false;
		if (!isnan(w->ratio_min) || !isnan(w->ratio_max)) {
			if (isnan(q))
				known = false;
			else if ((!isnan(w->ratio_min) && q < w->ratio_min) ||
				 (!isnan(w->ratio_max) && q > w->ratio_max))
				ok = false;
		}
		snprintf(met, sizeof(met), "%s",
			 !ok ? "**no**" : known ? "yes" : "? (no baseline)");
	}
	printf("| %s | %s | %s | %s | %s | %s |\n", w->metric, ev, bv, ratio,
	       w->target != NULL ? w->target : "—", met);
	json_row_add("%s{\"metric\":\"%s\",\"evd_key\":\"%s\",\"evd\":%.6g,"
		     "\"baseline\":\"%s\",\"baseline_value\":%.6g,"
		     "\"ratio\":%.6g,\"target\":\"%s\",\"met\":\"%s\"}",
		     json_len > 0 ? "," : "", w->metric, w->evd,
		     e != NULL ? e->med : 0.0,
		     w->base != NULL ? w->baseline : "",
		     b != NULL ? b->med : 0.0, isnan(q) ? 0.0 : q,
		     w->target != NULL ? w->target : "", met);
}

static void
print_table(void)
{
	static char k[16][96], hk[2][96];
	const char *P = prec_pending >= 1000000	 ? "1M"
			: prec_pending >= 100000 ? "100k"
						 : "0";
	char lbl[16][128], hl[2][160];
	long memtop = 10000;

	for (long m = 10000000; m >= 10000; m /= 10) {
		char key[64];

		snprintf(key, sizeof(key), "evd.mem.%ld", m);
		if (evb_get(key) != NULL) {
			memtop = m;
			break;
		}
	}
	for (int busy = 0; busy < 2; busy++) {
		const char *L = busy ? "busy" : "idle";
		int b = busy * 8;

		snprintf(k[b + 0], 96, "evd.prec.100000.%ld.%s.client.p50",
			 prec_pending, L);
		snprintf(k[b + 1], 96, "timerfd.100000.%s.p50", L);
		snprintf(k[b + 2], 96, "evd.prec.100000.%ld.%s.client.p99",
			 prec_pending, L);
		snprintf(k[b + 3], 96, "timerfd.100000.%s.p99", L);
		snprintf(k[b + 4], 96, "evd.prec.100000.%ld.%s.client.p999",
			 prec_pending, L);
		snprintf(k[b + 5], 96, "timerfd.100000.%s.p999", L);
		snprintf(k[b + 6], 96, "evd.prec.100000.%ld.%s.daemon.p99",
			 prec_pending, L);
		snprintf(k[b + 7], 96, "evd.prec.100000.%ld.%s.client.max",
			 prec_pending, L);
		snprintf(lbl[b + 0], 128, "lateness p50, 100k fires/s, %s pending, %s (client)", P, L);
		snprintf(lbl[b + 1], 128, "lateness p99, 100k fires/s, %s pending, %s (client)", P, L);
		snprintf(lbl[b + 2], 128, "lateness p99.9, 100k fires/s, %s pending, %s (client)", P, L);
		snprintf(lbl[b + 3], 128, "lateness p99 as evd reports it (lateness_ns), %s", L);
		snprintf(lbl[b + 4], 128, "lateness max, 100k fires/s, %s pending, %s (client)", P, L);
		snprintf(hk[busy], 96, "timerfd_hop.100000.%s.p99", L);
		snprintf(hl[busy], 160, "lateness p99, 100k fires/s, %s pending, %s (client), against the fair baseline", P, L);
	}
	char memkey[64], memlbl[96];

	snprintf(memkey, sizeof(memkey), "evd.mem.%ld", memtop);
	snprintf(memlbl, sizeof(memlbl),
		 "memory per pending timer at %ld timers (RSS growth / N)",
		 memtop);
	char rkey[64], rlbl[96];

	snprintf(rkey, sizeof(rkey), "evd.restart.%ld", opts.restart_n);
	snprintf(rlbl, sizeof(rlbl), "restart to READY=1 with %ld durable "
				     "timers", opts.restart_n);

	const struct row rows[] = {
	    {"schedule: call_later/s, memory store, 1 conn, pipelined",
	     "evd.schedule.memory.c1", "raw.echo.c1",
	     "raw echo of the same frames, 1 conn", NULL, NO, NO, NO, NO},
	    {"schedule: memory, 4 conns, pipelined", "evd.schedule.memory.c4",
	     NULL, NULL, NULL, NO, NO, NO, NO},
	    {"schedule: memory, 16 conns, pipelined", "evd.schedule.memory.c16",
	     "raw.echo.c16", "raw echo, 16 conns", NULL, NO, NO, NO, NO},
	    {"schedule: memory, best of 1/4/16 conns",
	     "evd.schedule.memory.best", "redis.zadd.memory.c16.p64",
	     "Redis ZADD, 16 conns × 64 pipelined", "≥ 1M/s and ≥ 4× Redis",
	     1e6, NO, 4, NO},
	    {"schedule: memory, 16 conns, no pipelining",
	     "evd.schedule.memory.c16.w1", "redis.zadd.memory.c16.w1",
	     "Redis ZADD, 16 conns, no pipelining", NULL, NO, NO, NO, NO},
	    {"schedule: durable (SQLite, sync full), 1 conn",
	     "evd.schedule.sqlite.c1", NULL, NULL, NULL, NO, NO, NO, NO},
	    {"schedule: durable, 4 conns", "evd.schedule.sqlite.c4", NULL,
	     NULL, NULL, NO, NO, NO, NO},
	    {"schedule: durable, 16 conns", "evd.schedule.sqlite.c16", NULL,
	     NULL, NULL, NO, NO, NO, NO},
	    {"schedule: durable, best of 1/4/16 conns",
	     "evd.schedule.sqlite.best", "redis.zadd.durable.c16.p64",
	     "Redis ZADD appendfsync always, 16×64",
	     "≥ 300k/s and ≥ 1.5× Redis", 3e5, NO, 1.5, NO},
	    {"schedule: durable, 16 conns, no pipelining",
	     "evd.schedule.sqlite.c16.w1", "redis.zadd.durable.c16.w1",
	     "Redis ZADD always, 16 conns, no pipelining", NULL, NO, NO, NO,
	     NO},
	    {"scale-up: memory schedule, --threads 2, best of 4/16 conns",
	     "evd.scale.memory.t2.best", "evd.scale.memory.t1.best",
	     "--threads 1, same conns", "≥ 1.7× one loop", NO, NO, 1.7, NO},
	    {"scale-up: durable schedule, --threads 2, 16 conns",
	     "evd.scale.sqlite.t2.c16", "evd.scale.sqlite.t1.c16",
	     "--threads 1, 16 conns", NULL, NO, NO, NO, NO},
	    {"schedule cost per timer (1 / best memory rate)",
	     "evd.schedule.cost", "heap.schedule",
	     "libevent event_new+event_add in-process", NULL, NO, NO, NO, NO},
	    {"cancel/s, memory, 1 conn, pipelined", "evd.cancel.memory.c1",
	     "raw.echo.c1", "raw echo, 1 conn", NULL, NO, NO, NO, NO},
	    {"cancel/s, memory, 4 conns", "evd.cancel.memory.c4", NULL, NULL,
	     NULL, NO, NO, NO, NO},
	    {"cancel/s, durable, 4 conns", "evd.cancel.sqlite.c4", NULL, NULL,
	     NULL, NO, NO, NO, NO},
	    {"cancel cost per timer (1 / best memory rate)", "evd.cancel.cost",
	     "heap.cancel", "libevent event_del in-process", NULL, NO, NO, NO,
	     NO},
	    {lbl[0], k[0], k[1], "timerfd, same rate", NULL, NO, NO, NO, NO},
	    {lbl[1], k[2], k[3], "timerfd, same rate", "≤ 2× timerfd p99", NO,
	     NO, NO, 2},
	    {lbl[2], k[4], k[5], "timerfd, same rate", "≤ 2 ms", NO, 2e6, NO,
	     NO},
	    {lbl[3], k[6], k[3], "timerfd, same rate", NULL, NO, NO, NO, NO},
	    {lbl[4], k[7], NULL, NULL, NULL, NO, NO, NO, NO},
	    {hl[0], k[2], hk[0],
	     "timerfd + one Unix-socket hop to a second process",
	     "≤ 2× timerfd + hop p99", NO, NO, NO, 2},
	    {lbl[8], k[8], k[9], "timerfd, same rate", NULL, NO, NO, NO, NO},
	    {lbl[9], k[10], k[11], "timerfd, same rate", "≤ 2× timerfd p99",
	     NO, NO, NO, 2},
	    {lbl[10], k[12], k[13], "timerfd, same rate", "≤ 2 ms", NO, 2e6,
	     NO, NO},
	    {lbl[11], k[14], k[11], "timerfd, same rate", NULL, NO, NO, NO,
	     NO},
	    {lbl[12], k[15], NULL, NULL, NULL, NO, NO, NO, NO},
	    {hl[1], k[10], hk[1],
	     "timerfd + one Unix-socket hop to a second process",
	     "≤ 2× timerfd + hop p99", NO, NO, NO, 2},
	    {"arming a timer 50 µs ahead (timerfd_settime; this machine)",
	     "machine.timer_arm.near", "machine.timer_arm.far",
	     "the same call 1 h ahead (no timer programmed)", NULL, NO, NO,
	     NO, NO},
	    {"fires received before their due time (all precision runs)",
	     "evd.prec.early", NULL, NULL, "0 (never early)", NO, 0, NO, NO},
	    {"fire delivery to a channel subscriber (at-most-once)",
	     "evd.deliver.channel", "raw.stream",
	     "raw one-way stream, same framing", "≥ 1M events/s", 1e6, NO, NO,
	     NO},
	    {"fire delivery to the scheduling connection",
	     "evd.deliver.caller", "raw.stream", "raw one-way stream", NULL,
	     NO, NO, NO, NO},
	    {"fire cost per timer (1 / caller delivery rate)", "evd.fire.cost",
	     "heap.fire", "libevent fire in-process", NULL, NO, NO, NO, NO},
	    {memlbl, memkey, "heap.bytes", "libevent malloc per event", NULL,
	     NO, NO, NO, NO},
	    {"memory per pending timer (same point)", memkey, "redis.mem",
	     "Redis RSS per ZSET member", "≤ 100 B (at 10M)", NO, 100, NO, NO},
	    {rlbl, rkey, NULL, NULL, "< 1 s (at 1M)", NO, 1, NO, NO},
	    {"exec hooks (/bin/true) per second", "evd.exec", "base.spawn2",
	     "posix_spawn, 2 in flight", "≥ 2,000/s", 2000, NO, NO, NO},
	    {"exec hooks as transient units per second", "evd.exec.systemd",
	     "base.systemd_run", "systemd-run --no-block, one at a time",
	     "≥ 0.9× systemd-run", NO, NO, 0.9, NO},
	    {"round trip, blocking call_later, p50, same core",
	     "evd.rtt.same.p50", "raw.rtt.same.p50", "raw ping-pong",
	     "≤ 1.5× raw", NO, NO, NO, 1.5},
	    {"round trip p99, same core", "evd.rtt.same.p99",
	     "raw.rtt.same.p99", "raw ping-pong", NULL, NO, NO, NO, NO},
	    {"round trip p50, unpinned", "evd.rtt.unpinned.p50",
	     "raw.rtt.unpinned.p50", "raw ping-pong", "≤ 1.5× raw", NO, NO,
	     NO, 1.5},
	    {"round trip p99, unpinned", "evd.rtt.unpinned.p99",
	     "raw.rtt.unpinned.p99", "raw ping-pong", NULL, NO, NO, NO, NO},
	    {"CLI: one process per durable timer (evctl later)", "evd.cli",
	     "at.submit", "at -M now + 1 hour", NULL, NO, NO, NO, NO},
	};

	printf("\n| metric | evd | baseline | ratio | target | met? |\n");
	printf("|---|---|---|---|---|---|\n");
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		/* The 1M-only targets say so; do not judge a smaller run. */
		struct row w = rows[r];

		if (w.evd == rkey && opts.restart_n < 1000000)
			w.target = NULL;
		if (w.evd == memkey && memtop < 10000000 && w.target != NULL)
			w.target = "≤ 100 B at 10M (judged here)";
		print_row(&w);
	}
}

static void
print_details(void)
{
	static const long rates[] = {10000, 100000};
	static const long pend[] = {0, 100000, 1000000};
	static const char *const q[] = {"p50", "p99", "p999", "max"};
	char buf[64];

	printf("\n### Fire precision (lateness; client = Fired received − "
	       "due, daemon = its lateness_ns, delivery = the difference)\n\n");
	printf("| fires/s | pending | load | client p50 | p99 | p99.9 | max "
	       "| daemon p50 | p99 | p99.9 | max | delivery p50 | p99 | p99.9 "
	       "| max | early |\n");
	printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	       "---|\n");
	for (int ri = 0; ri < 2; ri++)
		for (int pi = 0; pi < 3; pi++)
			for (int busy = 0; busy < 2; busy++) {
				char key[128];
				const struct evb_result *r;

				snprintf(key, sizeof(key),
					 "evd.prec.%ld.%ld.%s.early", rates[ri],
					 pend[pi], busy ? "busy" : "idle");
				if ((r = evb_get(key)) == NULL)
					continue;
				printf("| %ld | %ld | %s ", rates[ri], pend[pi],
				       busy ? "other core busy" : "idle");
				for (int w = 0; w < 3; w++)
					for (int j = 0; j < 4; j++) {
						const struct evb_result *x;

						snprintf(key, sizeof(key),
							 "evd.prec.%ld.%ld.%s.%s.%s",
							 rates[ri], pend[pi],
							 busy ? "busy" : "idle",
							 w == 2   ? "delivery"
							 : w == 1 ? "daemon"
								  : "client",
							 q[j]);
						x = evb_get(key);
						printf("| %s ",
						       x != NULL
							   ? evb_fmt(buf, sizeof(buf),
								     EVB_NS, x->med)
							   : "—");
					}
				printf("| %.0f |\n", r->med);
			}
	for (int ri = 0; ri < 2; ri++)
		for (int busy = 0; busy < 2; busy++) {
			char key[128];
			const struct evb_result *x;

			snprintf(key, sizeof(key), "timerfd.%ld.%s.p50",
				 rates[ri], busy ? "busy" : "idle");
			if (evb_get(key) == NULL)
				continue;
			printf("| %ld | timerfd baseline | %s ", rates[ri],
			       busy ? "other core busy" : "idle");
			for (int j = 0; j < 4; j++) {
				snprintf(key, sizeof(key), "timerfd.%ld.%s.%s",
					 rates[ri], busy ? "busy" : "idle",
					 q[j]);
				x = evb_get(key);
				printf("| %s ",
				       x != NULL ? evb_fmt(buf, sizeof(buf),
							   EVB_NS, x->med)
						 : "—");
			}
			printf("| | | | | | | | | |\n");
		}

	if (evb_get("evd.scale.memory.t1.c4") != NULL) {
		printf("\n### Scale-up (pipelined call_later; CPU per request: "
		       "evd's threads, and evbench's one client thread)\n\n");
		printf("| store | loops | conns | rate | evd CPU/request | "
		       "client CPU/request |\n|---|---|---|---|---|---|\n");
		for (int st = 0; st < 2; st++)
			for (int t = 1; t <= 2; t++)
				for (int c = 4; c <= 16; c *= 4) {
					static const char *const sn[] = {
					    "memory", "sqlite"};
					char key[96], a[96], b[96], d[96];
					const struct evb_result *r;

					snprintf(key, sizeof(key),
						 "evd.scale.%s.t%d.c%d", sn[st],
						 t, c);
					if ((r = evb_get(key)) == NULL)
						continue;
					cell(a, sizeof(a), r);
					snprintf(key, sizeof(key),
						 "evd.scale.%s.t%d.c%d.evd_cpu",
						 sn[st], t, c);
					cell(b, sizeof(b), evb_get(key));
					snprintf(key, sizeof(key),
						 "evd.scale.%s.t%d.c%d."
						 "client_cpu",
						 sn[st], t, c);
					cell(d, sizeof(d), evb_get(key));
					printf("| %s | %d | %d | %s | %s | %s |\n",
					       sn[st], t, c, a, b, d);
				}
	}

	printf("\n### Memory per pending timer (daemon VmRSS growth / N)\n\n");
	printf("| pending timers | bytes per timer |\n|---|---|\n");
	for (long m = 10000; m <= 10000000; m *= 10) {
		char key[64], c[96];
		const struct evb_result *r;

		snprintf(key, sizeof(key), "evd.mem.%ld", m);
		if ((r = evb_get(key)) == NULL)
			continue;
		cell(c, sizeof(c), r);
		printf("| %ld | %s |\n", m, c);
	}
}

/* ---- JSON ---- */

static void
write_json(const char *path, const char *when, const char *machine)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "evbench: %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(f, "{\"date\":\"%s\",\"machine\":\"%s\",\"runs\":%d,"
		   "\"mode\":\"%s\",\n\"results\":[\n",
		when, machine, opts.runs,
		opts.quick ? "quick" : opts.full ? "full" : "default");
	for (size_t i = 0; i < evb_count(); i++) {
		const struct evb_result *r = evb_at(i);
		static const char *const units[] = {"per_s", "ns", "bytes",
						    "s", "count", "ratio"};

		fprintf(f, "%s{\"key\":\"%s\",\"unit\":\"%s\",\"median\":%.6g,"
			   "\"min\":%.6g,\"max\":%.6g,\"runs\":%d}\n",
			i > 0 ? "," : "", r->key, units[r->unit], r->med,
			r->min, r->max, r->n);
	}
	fprintf(f, "],\n\"table\":[%.*s],\n\"notes\":[", (int)json_len,
		json_rows);
	for (size_t i = 0; i < evb_nnotes(); i++) {
		const char *s = evb_note_at(i);

		fputs(i > 0 ? ",\"" : "\"", f);
		for (; *s != '\0'; s++)
			if (*s == '"' || *s == '\\')
				fprintf(f, "\\%c", *s);
			else if ((unsigned char)*s >= 0x20)
				fputc(*s, f);
		fputc('"', f);
	}
	fprintf(f, "]}\n");
	if (fclose(f) != 0)
		fprintf(stderr, "evbench: %s: %s\n", path, strerror(errno));
}

/* ---- plots ---- */

/* Writes a CDF of v (sorted here) with at most 2000 points, in µs. */
static int
write_cdf(const char *path, int64_t *v, size_t n)
{
	FILE *f;
	size_t step;

	if (n == 0)
		return -1;
	if ((f = fopen(path, "w")) == NULL)
		return -errno;
	qsort(v, n, sizeof(*v), evb_cmp_i64);
	step = n / 2000 + 1;
	for (size_t i = 0; i < n; i += step)
		fprintf(f, "%.3f %.6f\n", (double)v[i] / 1e3,
			(double)(i + 1) / (double)n);
	fprintf(f, "%.3f 1\n", (double)v[n - 1] / 1e3);
	return fclose(f) == 0 ? 0 : -errno;
}

static void
write_plots(const char *dir)
{
	char path[4096], script[8192], out[1024];
	const char *argv[] = {"gnuplot", path, NULL};
	int here = -1;
	FILE *f;
	bool cdf = false, mem = false;

	if (!evb_have("gnuplot")) {
		evb_note("skipped: plots (gnuplot not installed; Debian "
			 "package gnuplot-nox)");
		return;
	}
	snprintf(path, sizeof(path), "%s/lat_client.dat", dir);
	if (write_cdf(path, evb_cdf_client, evb_cdf_nclient) == 0) {
		snprintf(path, sizeof(path), "%s/lat_daemon.dat", dir);
		cdf = write_cdf(path, evb_cdf_daemon, evb_cdf_ndaemon) == 0;
		snprintf(path, sizeof(path), "%s/lat_timerfd.dat", dir);
		if (write_cdf(path, evb_cdf_timerfd, evb_cdf_ntimerfd) != 0)
			cdf = false;
	}
	snprintf(path, sizeof(path), "%s/mem.dat", dir);
	if ((f = fopen(path, "w")) != NULL) {
		for (long m = 10000; m <= 10000000; m *= 10) {
			char key[64];
			const struct evb_result *r;

			snprintf(key, sizeof(key), "evd.mem.%ld", m);
			if ((r = evb_get(key)) != NULL) {
				fprintf(f, "%ld %.1f\n", m, r->med);
				mem = true;
			}
		}
		if (fclose(f) != 0)
			mem = false;
	}
	snprintf(script, sizeof(script),
		 "set terminal pngcairo size 900,560 noenhanced\n"
		 "set grid\n"
		 "%s"
		 "%s",
		 cdf ? "set output 'lateness_cdf.png'\n"
		       "set title 'Fire lateness CDF: 100k fires/s'\n"
		       "set xlabel 'lateness (µs)'\nset ylabel 'fraction'\n"
		       "set logscale x\nset key bottom right\n"
		       "plot 'lat_client.dat' u 1:2 w l lw 2 t 'evd, seen by "
		       "client', 'lat_daemon.dat' u 1:2 w l lw 2 t 'evd "
		       "lateness_ns', 'lat_timerfd.dat' u 1:2 w l lw 2 t "
		       "'raw timerfd'\nunset logscale x\n"
		     : "",
		 mem ? "set output 'memory_per_timer.png'\n"
		       "set title 'evd memory per pending timer'\n"
		       "set xlabel 'pending timers'\n"
		       "set ylabel 'bytes per timer (RSS growth / N)'\n"
		       "set logscale x\nset yrange [0:*]\nset key top right\n"
		       "plot 'mem.dat' u 1:2 w lp lw 2 pt 7 t 'evd', 100 w l "
		       "dt 2 t 'target 100 B'\n"
		     : "");
	snprintf(path, sizeof(path), "%s/plots.gp", dir);
	if ((f = fopen(path, "w")) == NULL || fputs(script, f) < 0 ||
	    fclose(f) != 0) {
		evb_note("plots: cannot write %s", path);
		return;
	}
	/* gnuplot resolves the file names against its cwd, so the script
	 * too is named from there (dir may be relative). */
	snprintf(path, sizeof(path), "plots.gp");
	out[0] = '\0';
	/* Back to where we were afterwards: --json may name a relative
	 * path too. */
	if ((here = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    chdir(dir) < 0 || evb_run(argv, NULL, out, sizeof(out)) != 0)
		evb_note("plots: gnuplot failed: %s", out);
	else
		printf("\nplots: %s/lateness_cdf.png, %s/memory_per_timer.png\n",
		       dir, dir);
	if (here >= 0) {
		if (fchdir(here) < 0)
			evb_note("plots: cannot return to the working "
			         "directory: %s", strerror(errno));
		close(here);
	}
}

int
main(int argc, char **argv)
{
	const char *json = NULL;
	char when[64], machine[256];
	struct utsname un;
	time_t t = time(NULL);
	int runs = 0;
	long exec_n = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			opts.quick = true;
		else if (strcmp(argv[i], "--full") == 0)
			opts.full = true;
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
			opts.only = argv[++i];
		else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
			json = argv[++i];
		else if (strcmp(argv[i], "--plot") == 0 && i + 1 < argc)
			opts.plot_dir = argv[++i];
		else if (strcmp(argv[i], "--exec-n") == 0 && i + 1 < argc)
			exec_n = atol(argv[++i]);
		else if (strcmp(argv[i], "--as") == 0 && i + 1 < argc)
			opts.sd_user = argv[++i];
		else if (strcmp(argv[i], "--systemd-socket") == 0 &&
			 i + 1 < argc)
			opts.sd_socket = argv[++i];
		else
			usage();
	}
	if (opts.quick && opts.full)
		usage();
	if (opts.quick) {
		opts.runs = 1;
		opts.ops = 20000;
		opts.ops_durable = 4000;
		opts.pending_max = 0;
		opts.fire_secs = 0.3;
		opts.mem_max = 10000;
		opts.restart_n = 2000;
		opts.exec_n = 40;
		opts.deliver_n = 5000;
		opts.rtt_n = 2000;
		opts.heap_n = 10000;
		opts.ext_secs = 0.3;
	} else {
		opts.runs = 3;
		opts.ops = 1000000;
		opts.ops_durable = 300000;
		opts.pending_max = 1000000;
		opts.fire_secs = 2;
		opts.mem_max = opts.full ? 10000000 : 1000000;
		opts.restart_n = 1000000;
		opts.exec_n = 2000;
		opts.deliver_n = 1000000;
		opts.rtt_n = 20000;
		opts.heap_n = 1000000;
		opts.ext_secs = 2;
	}
	if (runs != 0)
		opts.runs = runs;
	if (exec_n != 0)
		opts.exec_n = exec_n;
	if (opts.exec_n < 1)
		usage();
	if (opts.runs < 1 || opts.runs > EVB_MAX_RUNS)
		usage();
	if (opts.only != NULL) {
		snprintf(only_buf, sizeof(only_buf), "%s", opts.only);
		opts.only = only_buf;
	}
	prec_pending = opts.pending_max;
	/* A client that goes away mid-write must not kill us. */
	signal(SIGPIPE, SIG_IGN);

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime(&t));
	if (uname(&un) == 0)
		snprintf(machine, sizeof(machine), "%s %s, %ld CPUs",
			 un.sysname, un.release,
			 sysconf(_SC_NPROCESSORS_ONLN));
	else
		snprintf(machine, sizeof(machine), "unknown");
	printf("# evbench: %s, %s; %s run, median of %d run(s) "
	       "[min..max]\n",
	       when, machine,
	       opts.quick ? "quick" : opts.full ? "full" : "default",
	       opts.runs);
	fflush(stdout);

	/* Baselines first, on a quiet machine, then evd. */
	if (want("ipc"))
		evb_base_ipc(&opts);
	if (want("heap"))
		evb_base_heap(&opts);
	if (want("redis"))
		evb_base_redis(&opts);
	if (want("at"))
		evb_base_at(&opts);
	if (want("exec"))
		evb_base_spawn(&opts);
	if (opts.sd_socket != NULL && want("sdexec"))
		evb_base_systemd_run(&opts);
	if (want("schedule"))
		evb_evd_schedule(&opts);
	if (want("scale"))
		evb_evd_scale(&opts);
	if (want("cancel"))
		evb_evd_cancel(&opts);
	if (want("rtt"))
		evb_evd_rtt(&opts);
	if (want("delivery"))
		evb_evd_delivery(&opts);
	if (want("exec"))
		evb_evd_exec(&opts);
	if (opts.sd_socket != NULL && want("sdexec"))
		evb_evd_exec_systemd(&opts);
	if (want("precision"))
		evb_evd_precision(&opts);
	if (want("memory"))
		evb_evd_memory(&opts);
	if (want("restart"))
		evb_evd_restart(&opts);
	if (want("cli"))
		evb_evd_cli(&opts);

	derive();
	print_table();
	print_details();
	/* Before the notes, so that a skipped plot is among them. */
	if (opts.plot_dir != NULL)
		write_plots(opts.plot_dir);
	if (evb_nnotes() > 0) {
		printf("\nNotes:\n");
		for (size_t i = 0; i < evb_nnotes(); i++)
			printf("- %s\n", evb_note_at(i));
	}
	if (json != NULL)
		write_json(json, when, machine);
	for (size_t i = 0; i < evb_nnotes(); i++)
		if (strstr(evb_note_at(i), "failed") != NULL)
			return 1;
	return 0;
}
