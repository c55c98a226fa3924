/*
 * evctl_print: how evctl prints: the names of enum values, times and
 * durations, the JSON writer (jw_*: one object per line), the key: value
 * printers (kv*), and the forms of fires, timers, list rows and channels
 * that several verbs share. Every byte from the daemon goes out escaped
 * (put_escaped). Writes to stdout only; checking that it worked is the
 * verb's (check_stdout). Output formats are a contract: scripts and the
 * integration tests parse them.
 */
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "evctl.h"

const char *
clock_name(enum evc_clock clock)
{
	switch (clock) {
	case EVC_CLOCK_MONOTONIC:
		return "monotonic";
	case EVC_CLOCK_REALTIME:
		return "realtime";
	case EVC_CLOCK_BOOTTIME:
		return "boottime";
	}
	return "unknown";
}

const char *
state_name(enum evc_timer_state state)
{
	switch (state) {
	case EVC_TIMER_PENDING:
		return "pending";
	case EVC_TIMER_FIRED:
		return "fired";
	case EVC_TIMER_CANCELLED:
		return "cancelled";
	case EVC_TIMER_PAUSED:
		return "paused";
	}
	return "unknown";
}

const char *const misfire_names[] = {"fire", "skip", "all"};
const char *const delivery_names[] = {"at-least-once", "at-most-once"};
const char *const downtime_names[] = {"counts", "paused"};
const char *const run_overlap_names[] = {
    "skip", "queue-one", "allow", "terminate-previous"};

#define NAME_OF(names, v)                                                      \
	((v) >= 0 && (size_t)(v) < sizeof(names) / sizeof((names)[0])          \
	     ? (names)[(v)]                                                    \
	     : "unknown")

const char *
outcome_name(int outcome)
{
	switch (outcome) {
	case EVC_RUN_DELIVERED:
		return "delivered";
	case EVC_RUN_QUEUED:
		return "queued";
	case EVC_RUN_ACKED:
		return "acked";
	case EVC_RUN_REDELIVERED:
		return "redelivered";
	case EVC_RUN_DEAD_LETTERED:
		return "dead-lettered";
	case EVC_RUN_SKIPPED:
		return "skipped";
	case EVC_RUN_LOST:
		return "lost";
	case EVC_RUN_EXEC_STARTED:
		return "started";
	case EVC_RUN_EXEC_EXITED:
		return "exited";
	case EVC_RUN_EXEC_SIGNALED:
		return "signaled";
	case EVC_RUN_EXEC_TIMED_OUT:
		return "timed-out";
	case EVC_RUN_EXEC_FAILED:
		return "failed";
	case EVC_RUN_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

/* ISO 8601 of a wall-clock instant: UTC for JSON, local for people. */
const char *
iso(int64_t ns, bool utc, char *buf, size_t size)
{
	if (timefmt_format_time(ns, utc, buf, size) < 0)
		snprintf(buf, size, "@%lld", (long long)(ns / 1000000000));
	return buf;
}

const char *
dur(int64_t ns, char *buf, size_t size)
{
	if (timefmt_format_duration(ns, buf, size) < 0)
		snprintf(buf, size, "%lldns", (long long)ns);
	return buf;
}

const char *
secs(int64_t ns, char *buf, size_t size)
{
	timefmt_format_seconds(ns, buf, size);
	return buf;
}

/* The weekday of instant ns in zone (NULL: TZ's), "Mon".."Sun", or
 * NULL when the zone cannot say. */
const char *
weekday(int64_t ns, const char *zone)
{
	static const char *const wday[] = {"Thu", "Fri", "Sat", "Sun",
					   "Mon", "Tue", "Wed"};
	int64_t local_s, days;

	if (calendar_to_local(ns, zone, &local_s, NULL) < 0)
		return NULL;
	/* 1970-01-01, day 0 of the local calendar, was a Thursday. */
	days = local_s / 86400 - (local_s % 86400 < 0);
	return wday[((days % 7) + 7) % 7];
}

/*
 * An instant for people, as systemd-analyze writes it: the weekday, the
 * local date and time to the second, and the zone's abbreviation:
 * "Sun 2026-12-06 02:30:00 CET" (zone NULL: the process's, TZ).
 */
const char *
when_human(int64_t ns, const char *zone, char *buf, size_t size)
{
	int64_t s = ns / 1000000000 - (ns % 1000000000 < 0);
	const char *wd = weekday(s * 1000000000, zone);
	int n;

	if (wd == NULL)
		return iso(ns, false, buf, size);
	n = snprintf(buf, size, "%s ", wd);
	if (n < 0 || (size_t)n >= size ||
	    calendar_format_local(s * 1000000000, zone, buf + n,
				  size - (size_t)n) < 0)
		return iso(ns, false, buf, size);
	return buf;
}

/*
 * A span for people, to its two largest non-zero units, truncated:
 * "5h 52m", "1d 3h", "1d 10m", "4m 10s", "12s", "250ms", "0s" (a
 * negative span is printed as its absolute value).
 */
const char *
left_human(int64_t ns, char *buf, size_t size)
{
	static const struct {
		int64_t ns;
		const char *name;
	} u[] = {{INT64_C(86400000000000), "d"},
		 {INT64_C(3600000000000), "h"},
		 {INT64_C(60000000000), "m"},
		 {INT64_C(1000000000), "s"}};
	size_t i, j;

	if (ns < 0)
		ns = ns == INT64_MIN ? INT64_MAX : -ns;
	if (ns < 1000000000) {
		snprintf(buf, size, "%" PRId64 "ms", ns / 1000000);
		if (ns < 1000000)
			snprintf(buf, size, "0s");
		return buf;
	}
	for (i = 0; i < 3 && ns < u[i].ns; i++)
		;
	for (j = i + 1; j < 4 && ns % u[i].ns / u[j].ns == 0; j++)
		;
	if (j == 4)
		snprintf(buf, size, "%" PRId64 "%s", ns / u[i].ns, u[i].name);
	else
		snprintf(buf, size, "%" PRId64 "%s %" PRId64 "%s", ns / u[i].ns,
			 u[i].name,
			 ns % u[i].ns / u[j].ns % (u[j - 1].ns / u[j].ns),
			 u[j].name);
	return buf;
}

/* A duration to about three digits, for a glance: "346us", "35.8ms",
 * "2.05s", then left_human's "4m 10s". */
const char *
dur_short(int64_t ns, char *buf, size_t size)
{
	double v = (double)ns;

	if (ns < 0)
		return dur(ns, buf, size);
	if (ns < 1000)
		snprintf(buf, size, "%" PRId64 "ns", ns);
	else if (ns < 1000000)
		snprintf(buf, size, "%.0fus", v / 1e3);
	else if (ns < 10000000)
		snprintf(buf, size, "%.2fms", v / 1e6);
	else if (ns < 1000000000)
		snprintf(buf, size, "%.1fms", v / 1e6);
	else if (ns < 60000000000)
		snprintf(buf, size, "%.2fs", v / 1e9);
	else
		left_human(ns, buf, size);
	return buf;
}

/* "in 5h 52m", "in 250ms", "3m ago", or "now" (from a second ago to a
 * millisecond ahead). */
const char *
in_or_ago(int64_t delta_ns, char *buf, size_t size)
{
	char l[LEFT_HUMAN_MAX];

	if (delta_ns >= 1000000)
		snprintf(buf, size, "in %s",
			 left_human(delta_ns, l, sizeof(l)));
	else if (delta_ns <= -1000000000)
		snprintf(buf, size, "%s ago",
			 left_human(delta_ns, l, sizeof(l)));
	else
		snprintf(buf, size, "now");
	return buf;
}

/* Input bytes escaped per round of put_escaped: a bounded stack buffer
 * instead of an allocation proportional to the payload. */
#define ESCAPE_CHUNK 1024

/* Writes bytes escaped for a JSON string or for a terminal line. */
static void
put_escaped(const void *data, size_t len, bool json)
{
	char buf[ESCAPE_CHUNK * ESCAPE_MAX_EXPANSION + 1];
	const uint8_t *p = data;
	size_t n, j;

	while (len > 0) {
		n = len;
		if (n > ESCAPE_CHUNK) {
			n = ESCAPE_CHUNK;
			/* A UTF-8 sequence crossing the cut would be escaped
			 * as invalid bytes: cut before its lead byte. Only
			 * when p[n] is a continuation byte can one cross. */
			for (j = n; j > n - 4 && (p[j] & 0xc0) == 0x80; j--)
				;
			if ((p[j] & 0xc0) != 0x80)
				n = j;
		}
		if (json)
			escape_json(buf, sizeof(buf), p, n);
		else
			escape_text(buf, sizeof(buf), p, n);
		fputs(buf, stdout);
		p += n;
		len -= n;
	}
}

/* Text from the daemon on a terminal line, escaped. */
void
put_text(const char *s, size_t len)
{
	put_escaped(s, len, false);
}

void
jw_begin(struct jw *w)
{
	w->first = true;
	putchar('{');
}

void
jw_key(struct jw *w, const char *key)
{
	printf("%s\"%s\":", w->first ? "" : ",", key);
	w->first = false;
}

/*
 * Integers beyond 2^53 lose precision in JavaScript and in jq 1.6, which
 * read every number as a double: every wall-clock instant in ns, and a
 * monotonic one after 104 days of uptime. Such a value is followed by
 * the same number as a string, under the key with "_str" appended
 * ("due_realtime_ns_str":"1796502262119657409"); smaller ones are exact
 * as numbers and have none.
 */
#define JW_EXACT_MAX (UINT64_C(1) << 53)

void
jw_u64(struct jw *w, const char *key, uint64_t v)
{
	jw_key(w, key);
	printf("%" PRIu64, v);
	if (v > JW_EXACT_MAX)
		printf(",\"%s_str\":\"%" PRIu64 "\"", key, v);
}

void
jw_i64(struct jw *w, const char *key, int64_t v)
{
	jw_key(w, key);
	printf("%" PRId64, v);
	if (v > (int64_t)JW_EXACT_MAX || v < -(int64_t)JW_EXACT_MAX)
		printf(",\"%s_str\":\"%" PRId64 "\"", key, v);
}

void
jw_bool(struct jw *w, const char *key, bool v)
{
	jw_key(w, key);
	fputs(v ? "true" : "false", stdout);
}

/* data NULL: null */
static void
jw_bytes(struct jw *w, const char *key, const void *data, size_t len)
{
	jw_key(w, key);
	if (data == NULL) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	put_escaped(data, len, true);
	putchar('"');
}

void
jw_str(struct jw *w, const char *key, const char *s)
{
	jw_bytes(w, key, s, s ? strlen(s) : 0);
}

/* An instant as UTC ISO 8601; 0 (never) as null. */
void
jw_time(struct jw *w, const char *key, int64_t ns, bool zero_is_null)
{
	char buf[TIMEFMT_TIME_MAX];

	if (zero_is_null && ns == 0)
		jw_str(w, key, NULL);
	else
		jw_str(w, key, iso(ns, true, buf, sizeof(buf)));
}

void
jw_end(struct jw *w)
{
	(void)w;
	fputs("}\n", stdout);
}

/* Closes an object nested as the value of a key (no newline). */
void
jw_close(struct jw *w)
{
	(void)w;
	putchar('}');
}

/* Values of the "key: value" verbs start in this column. */
#define KV_WIDTH 19

/* "key:" padded so that values line up, for the key: value verbs. */

void
kv(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("%s:%*s", key, (int)(KV_WIDTH - 1 - strlen(key)), "");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* The same for bytes from the daemon: escaped, "-" when absent. */
void
kv_bytes(const char *key, const void *data, size_t len)
{
	printf("%s:%*s", key, (int)(KV_WIDTH - 1 - strlen(key)), "");
	if (data != NULL)
		put_escaped(data, len, false);
	else
		putchar('-');
	putchar('\n');
}

/*
 * One fire, as `watch` and the waiting schedule verbs print it:
 *   timer=12 fire=3 due=2026-12-01T10:00:00.5+01:00 lateness=137us
 *   attempt=1 payload=hi
 * (one line; the payload last, escaped, so it may contain spaces).
 */
/* A fire, or with with_reason a dead letter and why its last delivery
 * failed (reason NULL: not known). */
static void
print_fired_reason(const struct ctl *x, const struct evc_fired *ev,
		   bool with_reason, const char *reason)
{
	char t[TIMEFMT_TIME_MAX], d[TIMEFMT_DURATION_MAX];
	struct jw w;

	if (x->json) {
		jw_begin(&w);
		jw_u64(&w, "timer_id", ev->timer_id);
		jw_u64(&w, "fire_id", ev->fire_id);
		jw_str(&w, "channel", ev->channel);
		jw_bytes(&w, "payload", ev->payload, ev->payload_len);
		jw_time(&w, "due", ev->due_realtime_ns, false);
		jw_i64(&w, "due_realtime_ns", ev->due_realtime_ns);
		jw_time(&w, "fired", ev->fired_realtime_ns, false);
		jw_i64(&w, "fired_realtime_ns", ev->fired_realtime_ns);
		jw_i64(&w, "lateness_ns", ev->lateness_ns);
		jw_u64(&w, "attempt", ev->attempt);
		if (with_reason)
			jw_str(&w, "reason", reason);
		jw_end(&w);
		return;
	}
	printf("timer=%" PRIu64 " fire=%" PRIu64 " due=%s lateness=%s "
	       "attempt=%" PRIu32 " ",
	       ev->timer_id, ev->fire_id,
	       iso(ev->due_realtime_ns, false, t, sizeof(t)),
	       dur(ev->lateness_ns, d, sizeof(d)), ev->attempt);
	/* Before the payload, which stays last: it is anything. */
	if (with_reason) {
		fputs("reason=", stdout);
		put_escaped(reason != NULL ? reason : "-",
			    reason != NULL ? strlen(reason) : 1, false);
		putchar(' ');
	}
	fputs("payload=", stdout);
	if (ev->payload != NULL)
		put_escaped(ev->payload, ev->payload_len, false);
	putchar('\n');
}

void
print_fired(const struct ctl *x, const struct evc_fired *ev)
{
	print_fired_reason(x, ev, false, NULL);
}

void
print_dead_letter(const struct ctl *x, const struct evc_dead_letter *dl)
{
	print_fired_reason(x, &dl->msg, true, dl->reason);
}

static void
jw_options(struct jw *w, const struct evc_timer_info *ti)
{
	const struct evc_timer_options *o = &ti->options;
	struct jw in;

	jw_key(w, "options");
	if (!ti->has_options) {
		fputs("null", stdout);
		return;
	}
	jw_begin(&in);
	jw_str(&in, "misfire", NAME_OF(misfire_names, o->misfire));
	jw_str(&in, "delivery", NAME_OF(delivery_names, o->delivery));
	jw_u64(&in, "max_attempts", o->max_attempts);
	jw_str(&in, "downtime", NAME_OF(downtime_names, o->downtime));
	jw_str(&in, "overlap", NAME_OF(run_overlap_names, ti->repeat.overlap));
	jw_i64(&in, "randomized_delay_ns", ti->repeat.randomized_delay_ns);
	jw_i64(&in, "accuracy_ns", ti->repeat.accuracy_ns);
	jw_close(&in);
}

/* How the timer repeats, or null for a one-shot timer:
 *   {"every_ns":600000000000,"every":"10m","count":3,"calendar":null,
 *    "tz":null,"dst_gap":"shift","dst_overlap":"first"}
 * (count null: until cancelled; dst_* null for interval timers). */
static void
jw_repeat(struct jw *w, const struct evc_timer_info *ti)
{
	const struct evc_repeat *r = &ti->repeat;
	char d[TIMEFMT_DURATION_MAX];
	struct jw in;

	jw_key(w, "repeat");
	if (!ti->repeating) {
		fputs("null", stdout);
		return;
	}
	jw_begin(&in);
	if (r->every_ns > 0) {
		jw_i64(&in, "every_ns", r->every_ns);
		jw_str(&in, "every", dur(r->every_ns, d, sizeof(d)));
	} else {
		jw_str(&in, "every_ns", NULL);
		jw_str(&in, "every", NULL);
	}
	if (r->count > 0)
		jw_u64(&in, "count", r->count);
	else
		jw_str(&in, "count", NULL);
	jw_str(&in, "calendar", ti->calendar);
	jw_str(&in, "tz", ti->tz);
	jw_str(&in, "dst_gap",
	       ti->calendar ? calendar_gap_name((enum calendar_gap)r->dst_gap)
			    : NULL);
	jw_str(&in, "dst_overlap",
	       ti->calendar ? calendar_overlap_name(
				  (enum calendar_overlap)r->dst_overlap)
			    : NULL);
	jw_close(&in);
}

/* An exec run's figures (null for other runs): exit_code, signal,
 * duration_ns and the output tails. */
bool
is_exec_run(const struct evc_run *run)
{
	return run->outcome >= EVC_RUN_EXEC_STARTED &&
	       run->outcome <= EVC_RUN_EXEC_FAILED;
}

void
jw_exec_run(struct jw *w, const struct evc_run *run)
{
	if (!is_exec_run(run)) {
		jw_str(w, "exit_code", NULL);
		jw_str(w, "signal", NULL);
		jw_str(w, "duration_ns", NULL);
	} else {
		if (run->outcome == EVC_RUN_EXEC_EXITED)
			jw_i64(w, "exit_code", run->exit_code);
		else
			jw_str(w, "exit_code", NULL);
		if (run->signal != 0)
			jw_i64(w, "signal", run->signal);
		else
			jw_str(w, "signal", NULL);
		jw_i64(w, "duration_ns", run->duration_ns);
	}
	jw_bytes(w, "stdout", run->stdout_tail, run->stdout_len);
	jw_bytes(w, "stderr", run->stderr_tail, run->stderr_len);
}

/* The exec hook of a timer, or null. */
static void
jw_exec(struct jw *w, const struct evc_timer_info *ti)
{
	struct jw in;
	size_t i;

	jw_key(w, "exec");
	if (ti->exec_argv == NULL) {
		fputs("null", stdout);
		return;
	}
	jw_begin(&in);
	jw_key(&in, "argv");
	putchar('[');
	for (i = 0; i < ti->exec_argc; i++) {
		printf("%s\"", i > 0 ? "," : "");
		put_escaped(ti->exec_argv[i], strlen(ti->exec_argv[i]), true);
		putchar('"');
	}
	putchar(']');
	jw_bool(&in, "shell", ti->exec_shell);
	jw_str(&in, "cwd", ti->exec_cwd);
	jw_i64(&in, "timeout_ns", ti->exec_timeout_ns);
	jw_str(&in, "user", ti->exec_user);
	jw_key(&in, "properties");
	putchar('[');
	for (i = 0; i < ti->exec_nproperties; i++) {
		printf("%s\"", i > 0 ? "," : "");
		put_escaped(ti->exec_properties[i],
			    strlen(ti->exec_properties[i]), true);
		putchar('"');
	}
	putchar(']');
	jw_i64(&in, "retry", ti->exec_retry);
	jw_i64(&in, "retry_delay_ns", ti->exec_retry_delay_ns);
	jw_str(&in, "on_failure", ti->exec_on_failure);
	jw_i64(&in, "attempt", ti->exec_attempt);
	jw_close(&in);
}

static void
jw_history(struct jw *w, const struct evc_timer_info *ti)
{
	const struct evc_run *run;
	struct jw in;
	size_t i;

	jw_key(w, "history");
	putchar('[');
	for (i = 0; i < ti->history_count; i++) {
		run = &ti->history[i];
		if (i > 0)
			putchar(',');
		jw_begin(&in);
		jw_run_fields(&in, run);
		jw_close(&in);
	}
	putchar(']');
}

/* One run's keys, as get's history and list's last_run have them. */
void
jw_run_fields(struct jw *w, const struct evc_run *run)
{
	if (run->fire_id != 0)
		jw_u64(w, "fire_id", run->fire_id);
	else
		jw_str(w, "fire_id", NULL);
	jw_time(w, "due", run->due_realtime_ns, false);
	jw_i64(w, "due_realtime_ns", run->due_realtime_ns);
	jw_time(w, "fired", run->fired_realtime_ns, true);
	jw_i64(w, "fired_realtime_ns", run->fired_realtime_ns);
	jw_i64(w, "lateness_ns", run->lateness_ns);
	jw_str(w, "outcome", outcome_name(run->outcome));
	jw_str(w, "detail", run->detail);
	jw_exec_run(w, run);
}

/*
 * One run of a timer's history, newest first, as `get` prints it:
 *   run: fire=7 due=2026-12-01T10:00:00+01:00 fired=2026-12-01T10:00:00.1+01:00
 *   lateness=137us outcome=acked detail=...
 * (one line; "-" for no fire; the detail last, escaped, may be empty).
 * Exec runs add "exit=N signal=N duration=D" ("-" when not applicable)
 * before the detail.
 */
static void
print_run(const struct evc_run *run)
{
	char t[TIMEFMT_TIME_MAX], f[TIMEFMT_TIME_MAX], d[TIMEFMT_DURATION_MAX];
	char id[24] = "-";

	if (run->fire_id != 0)
		snprintf(id, sizeof(id), "%" PRIu64, run->fire_id);
	printf("run: fire=%s due=%s fired=%s lateness=%s outcome=%s ",
	       id, iso(run->due_realtime_ns, false, t, sizeof(t)),
	       run->fired_realtime_ns == 0
		   ? "-"
		   : iso(run->fired_realtime_ns, false, f, sizeof(f)),
	       dur(run->lateness_ns, d, sizeof(d)), outcome_name(run->outcome));
	if (is_exec_run(run)) {
		if (run->outcome == EVC_RUN_EXEC_EXITED)
			printf("exit=%d ", run->exit_code);
		else
			printf("exit=- ");
		if (run->signal != 0)
			printf("signal=%d ", run->signal);
		else
			printf("signal=- ");
		printf("duration=%s ", dur(run->duration_ns, d, sizeof(d)));
	}
	printf("detail=");
	if (run->detail != NULL)
		put_escaped(run->detail, strlen(run->detail), false);
	putchar('\n');
}

/*
 * An exec timer's hook, as `get` prints it (only for exec timers):
 *   exec:              /bin/sh -c 'exit 7'
 *   exec_shell:        no
 *   exec_cwd:          -
 *   exec_timeout:      -
 *   exec_user:         alice
 *   exec_properties:   MemoryMax=50M CPUQuota=20%
 *   exec_retry:        3          ("-": none)
 *   exec_retry_delay:  10s        (the first; "-": the daemon's, 1s)
 *   exec_on_failure:   alerts
 *   exec_next_attempt: 2          (a one-shot waiting for a retry; "-")
 * argv quoted as a shell would need it (single quotes when an element
 * holds anything but [A-Za-z0-9_@%+=:,./-]; a quote inside is '"'"'),
 * then escaped like every string from the daemon.
 */
static bool
shell_safe(const char *a)
{
	if (*a == '\0')
		return false;
	for (; *a != '\0'; a++)
		if (!((*a >= 'a' && *a <= 'z') || (*a >= 'A' && *a <= 'Z') ||
		      (*a >= '0' && *a <= '9') || strchr("_@%+=:,./-", *a)))
			return false;
	return true;
}

/* argv as one line, quoted as a shell would need it (see above), not
 * yet escaped; malloc'ed, NULL on ENOMEM. */
char *
shell_words(const char *const *argv, size_t argc)
{
	size_t i, n = 1;
	const char *a;
	char *q, *o;

	for (i = 0; i < argc; i++)
		n += strlen(argv[i]) * 5 + 3;
	if ((q = malloc(n)) == NULL)
		return NULL;
	o = q;
	for (i = 0; i < argc; i++) {
		a = argv[i];
		if (i > 0)
			*o++ = ' ';
		if (shell_safe(a)) {
			o = stpcpy(o, a);
			continue;
		}
		/* ' becomes '"'"' (no backslash, which the escaping would
		 * double). */
		*o++ = '\'';
		for (; *a != '\0'; a++) {
			if (*a == '\'') {
				memcpy(o, "'\"'\"'", 5);
				o += 5;
			} else {
				*o++ = *a;
			}
		}
		*o++ = '\'';
	}
	*o = '\0';
	return q;
}

static void
print_exec(const struct evc_timer_info *ti)
{
	char d[TIMEFMT_DURATION_MAX], *words;
	size_t i;

	printf("exec:%*s", (int)(KV_WIDTH - 1 - strlen("exec")), "");
	words = shell_words((const char *const *)ti->exec_argv, ti->exec_argc);
	if (words != NULL)
		put_escaped(words, strlen(words), false);
	else
		fputs("?", stdout);
	free(words);
	putchar('\n');
	kv("exec_shell", "%s", ti->exec_shell ? "yes" : "no");
	kv_bytes("exec_cwd", ti->exec_cwd,
		 ti->exec_cwd ? strlen(ti->exec_cwd) : 0);
	kv("exec_timeout", "%s",
	   ti->exec_timeout_ns == 0 ? "-"
				    : dur(ti->exec_timeout_ns, d, sizeof(d)));
	kv_bytes("exec_user", ti->exec_user,
		 ti->exec_user ? strlen(ti->exec_user) : 0);
	printf("exec_properties:%*s",
	       (int)(KV_WIDTH - 1 - strlen("exec_properties")), "");
	if (ti->exec_nproperties == 0)
		putchar('-');
	for (i = 0; i < ti->exec_nproperties; i++) {
		if (i > 0)
			putchar(' ');
		put_escaped(ti->exec_properties[i],
			    strlen(ti->exec_properties[i]), false);
	}
	putchar('\n');
	if (ti->exec_retry == 0)
		kv("exec_retry", "-");
	else
		kv("exec_retry", "%" PRIu32, ti->exec_retry);
	kv("exec_retry_delay", "%s",
	   ti->exec_retry_delay_ns == 0
		   ? "-"
		   : dur(ti->exec_retry_delay_ns, d, sizeof(d)));
	kv_bytes("exec_on_failure", ti->exec_on_failure,
		 ti->exec_on_failure ? strlen(ti->exec_on_failure) : 0);
	if (ti->exec_attempt == 0)
		kv("exec_next_attempt", "-");
	else
		kv("exec_next_attempt", "%" PRIu32, ti->exec_attempt);
}

/*
 * How a timer repeats, as `get` prints it (every line, "-" when not
 * applicable):
 *   every:             10m
 *   calendar:          Mon..Fri *-*-* 09:00:00
 *   tz:                Europe/Berlin
 *   repeat_count:      3          (fires before it ends; "-": no limit)
 *   dst_gap:           shift      (calendar timers)
 *   dst_overlap:       first
 * "due" above is then the next occurrence.
 */
static void
print_repeat(const struct evc_timer_info *ti)
{
	const struct evc_repeat *r = &ti->repeat;
	char d[TIMEFMT_DURATION_MAX];
	bool cal = ti->calendar != NULL;

	kv("every", "%s", r->every_ns > 0 ? dur(r->every_ns, d, sizeof(d))
					  : "-");
	kv_bytes("calendar", ti->calendar, cal ? strlen(ti->calendar) : 0);
	if (cal && ti->tz == NULL)
		kv("tz", "(evd's zone)");
	else
		kv_bytes("tz", ti->tz, ti->tz ? strlen(ti->tz) : 0);
	if (ti->repeating && r->count > 0)
		kv("repeat_count", "%" PRIu64, r->count);
	else
		kv("repeat_count", "-");
	kv("dst_gap", "%s",
	   cal ? calendar_gap_name((enum calendar_gap)r->dst_gap) : "-");
	kv("dst_overlap", "%s",
	   cal ? calendar_overlap_name((enum calendar_overlap)r->dst_overlap)
	       : "-");
}

static void print_timer_text(const struct evc_timer_info *ti, bool full);

/* Lines of a tail as "key: line" (escaped; a last line without its
 * newline is a line too). */
static void
kv_lines(const char *key, const uint8_t *p, size_t len)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++)
		if (p[i] == '\n') {
			kv_bytes(key, p + start, i - start);
			start = i + 1;
		}
	if (start < len)
		kv_bytes(key, p + start, len - start);
}

/*
 * After get's runs: the output of the newest hook run that ended, as
 * its last KiB is kept for Get, one line per line:
 *   stdout:            backup done
 *   stderr:            tar: /home/x: Permission denied
 * (none when it wrote nothing; `evctl runs ID` has every run's).
 */
static void
print_last_output(const struct evc_timer_info *ti)
{
	const struct evc_run *r;
	size_t i;

	for (i = 0; i < ti->history_count; i++) {
		r = &ti->history[i];
		if (!is_exec_run(r) || r->outcome == EVC_RUN_EXEC_STARTED)
			continue;
		kv_lines("stdout", r->stdout_tail, r->stdout_len);
		kv_lines("stderr", r->stderr_tail, r->stderr_len);
		return;
	}
}

/* full: `get`, with options and history; else the key: value lines
 * without them (pause, resume, trigger, retry with --json). */
void
print_timer(const struct ctl *x, const struct evc_timer_info *ti, bool full)
{
	struct jw w;

	if (x->json) {
		jw_begin(&w);
		jw_timer_fields(&w, ti, full);
		jw_end(&w);
		return;
	}
	print_timer_text(ti, full);
}

/* A timer's keys, as get (full) and list have them. */
void
jw_timer_fields(struct jw *w, const struct evc_timer_info *ti, bool full)
{
	jw_u64(w, "timer_id", ti->timer_id);
	jw_str(w, "state", state_name(ti->state));
	jw_str(w, "clock", clock_name(ti->clock));
	jw_i64(w, "deadline_ns", ti->deadline_ns);
	jw_time(w, "due", ti->due_realtime_ns, false);
	jw_i64(w, "due_realtime_ns", ti->due_realtime_ns);
	jw_str(w, "channel", ti->channel);
	jw_str(w, "key", ti->key);
	jw_bytes(w, "payload", ti->payload, ti->payload_len);
	jw_u64(w, "fire_count", ti->fire_count);
	jw_time(w, "last_fired", ti->last_fired_realtime_ns, true);
	jw_i64(w, "last_fired_realtime_ns", ti->last_fired_realtime_ns);
	jw_time(w, "created", ti->created_realtime_ns, false);
	jw_i64(w, "created_realtime_ns", ti->created_realtime_ns);
	jw_u64(w, "owner_uid", ti->owner_uid);
	jw_u64(w, "owner_gid", ti->owner_gid);
	jw_repeat(w, ti);
	jw_exec(w, ti);
	if (full) {
		jw_options(w, ti);
		jw_history(w, ti);
	}
}

static void
print_timer_text(const struct evc_timer_info *ti, bool full)
{
	char t[TIMEFMT_TIME_MAX], s[TIMEFMT_SECONDS_MAX];
	char d[TIMEFMT_DURATION_MAX];
	const struct evc_timer_options *o = &ti->options;
	size_t i;

	kv("timer_id", "%" PRIu64, ti->timer_id);
	kv("state", "%s", state_name(ti->state));
	kv("clock", "%s", clock_name(ti->clock));
	kv("deadline", "%s", secs(ti->deadline_ns, s, sizeof(s)));
	kv("due", "%s", iso(ti->due_realtime_ns, false, t, sizeof(t)));
	kv_bytes("channel", ti->channel, ti->channel ? strlen(ti->channel) : 0);
	kv_bytes("key", ti->key, ti->key ? strlen(ti->key) : 0);
	kv_bytes("payload", ti->payload, ti->payload_len);
	kv("fire_count", "%" PRIu64, ti->fire_count);
	kv("last_fired", "%s",
	   ti->last_fired_realtime_ns == 0
	       ? "-"
	       : iso(ti->last_fired_realtime_ns, false, t, sizeof(t)));
	kv("created", "%s", iso(ti->created_realtime_ns, false, t, sizeof(t)));
	kv("owner", "%" PRIu32 ":%" PRIu32, ti->owner_uid, ti->owner_gid);
	if (!full)
		return;
	print_repeat(ti);
	if (ti->exec_argv != NULL)
		print_exec(ti);
	if (ti->has_options) {
		kv("misfire", "%s", NAME_OF(misfire_names, o->misfire));
		kv("delivery", "%s", NAME_OF(delivery_names, o->delivery));
		if (o->max_attempts == 0)
			kv("max_attempts", "default");
		else
			kv("max_attempts", "%" PRIu32, o->max_attempts);
		kv("downtime", "%s", NAME_OF(downtime_names, o->downtime));
		kv("overlap", "%s",
		   NAME_OF(run_overlap_names, ti->repeat.overlap));
		kv("randomized_delay", "%s",
		   ti->repeat.randomized_delay_ns == 0
		       ? "-"
		       : dur(ti->repeat.randomized_delay_ns, d, sizeof(d)));
		kv("accuracy", "%s",
		   ti->repeat.accuracy_ns == 0
		       ? "-"
		       : dur(ti->repeat.accuracy_ns, d, sizeof(d)));
	} else {
		kv("misfire", "-");
		kv("delivery", "-");
		kv("max_attempts", "-");
		kv("downtime", "-");
		kv("overlap", "-");
		kv("randomized_delay", "-");
		kv("accuracy", "-");
	}
	for (i = 0; i < ti->history_count; i++)
		print_run(&ti->history[i]);
	print_last_output(ti);
}

/*
 * A channel's owner, counters and grants, as `channel` prints it:
 *   channel:           jobs
 *   owner_uid:         1000
 *   queued_messages:   0
 *   inflight_messages: 0
 *   dead_messages:     0
 *   subscribers:       1
 *   grant:             uid 61002 subscribe
 *   grant:             gid 100 subscribe,publish
 * (one "grant:" line per grant, none without).
 */
void
print_channel(const struct ctl *x, const struct evc_channel_info *ci)
{
	const struct evc_channel_grant *g;
	struct jw w, in;
	size_t i;

	if (x->json) {
		jw_begin(&w);
		jw_str(&w, "channel", ci->channel);
		jw_u64(&w, "owner_uid", ci->owner_uid);
		jw_u64(&w, "queued_messages", ci->queued_messages);
		jw_u64(&w, "inflight_messages", ci->inflight_messages);
		jw_u64(&w, "dead_messages", ci->dead_messages);
		jw_u64(&w, "subscribers", ci->subscribers);
		jw_key(&w, "grants");
		putchar('[');
		for (i = 0; i < ci->grant_count; i++) {
			g = &ci->grants[i];
			if (i > 0)
				putchar(',');
			jw_begin(&in);
			if (g->is_gid) {
				jw_str(&in, "uid", NULL);
				jw_u64(&in, "gid", g->id);
			} else {
				jw_u64(&in, "uid", g->id);
				jw_str(&in, "gid", NULL);
			}
			jw_bool(&in, "subscribe", g->subscribe);
			jw_bool(&in, "publish", g->publish);
			jw_close(&in);
		}
		putchar(']');
		jw_end(&w);
		return;
	}
	kv_bytes("channel", ci->channel, ci->channel ? strlen(ci->channel) : 0);
	kv("owner_uid", "%" PRIu32, ci->owner_uid);
	{
		struct passwd *pw = getpwuid(ci->owner_uid);

		if (pw != NULL)
			kv_bytes("owner", pw->pw_name, strlen(pw->pw_name));
	}
	kv("queued_messages", "%" PRIu64, ci->queued_messages);
	kv("inflight_messages", "%" PRIu64, ci->inflight_messages);
	kv("dead_messages", "%" PRIu64, ci->dead_messages);
	kv("subscribers", "%" PRIu32, ci->subscribers);
	for (i = 0; i < ci->grant_count; i++) {
		g = &ci->grants[i];
		kv("grant", "%s %" PRIu32 " %s", g->is_gid ? "gid" : "uid",
		   g->id,
		   g->subscribe && g->publish ? "subscribe,publish"
		   : g->subscribe	      ? "subscribe"
		   : g->publish		      ? "publish"
					      : "-");
	}
}
