/*
 * evctl: the command line of evd.
 *
 * Built only on the public libevclient API (evclient.h) and the pure
 * helpers of evctl_core (timefmt, escape, calendar). One row of `verbs` and one
 * small verb_* function per verb; options are parsed once, anywhere on
 * the line, and each row says which of the verb-specific ones apply.
 *
 * Output contract (scripts and the integration tests parse it): results
 * go to stdout, one record per line; with --json each line is one JSON
 * object with stable snake_case keys, absent values as null. Diagnostics
 * go to stderr prefixed "evctl: ". Exit status: 0 success, 1 the daemon
 * said no (or a wait timed out), 2 usage, 3 the daemon cannot be reached
 * or the connection or local output failed — except `wait`, whose status
 * is the hook's (see verb_wait).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calendar.h"
#include "escape.h"
#include "evclient.h"
#include "timefmt.h"

#ifndef EVD_VERSION
#define EVD_VERSION "unknown"
#endif

enum {
	EXIT_REFUSED = 1, /* the daemon said no; a wait timed out */
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3, /* no daemon, or the connection/output broke */
};

/* Bound on connecting and on each request unless --timeout says
 * otherwise: a hung daemon must not hang a script forever. */
#define DEFAULT_REQUEST_TIMEOUT_MS 30000

/* Verb-specific options; a verb row lists those it accepts. */
enum {
	OPT_CHANNEL = 1u << 0,
	OPT_PAYLOAD = 1u << 1,
	OPT_KEY = 1u << 2,
	OPT_CLOCK = 1u << 3,
	OPT_COUNT = 1u << 4,
	OPT_MISFIRE = 1u << 5,
	OPT_DELIVERY = 1u << 6,
	OPT_MAX_ATTEMPTS = 1u << 7,
	OPT_DOWNTIME = 1u << 8,
	OPT_VISIBILITY = 1u << 9,
	OPT_REQUEUE = 1u << 10,
	OPT_PURGE = 1u << 11,
	OPT_EXEC = 1u << 12,
	OPT_SHELL = 1u << 13,
	OPT_CWD = 1u << 14,
	OPT_ENV = 1u << 15,
	OPT_EXEC_TIMEOUT = 1u << 16,
	OPT_UID = 1u << 17,
	OPT_GID = 1u << 18,
	OPT_SUBSCRIBE = 1u << 19,
	OPT_PUBLISH = 1u << 20,
	OPT_TZ = 1u << 21,
	OPT_ITERATIONS = 1u << 22,
	OPT_AFTER = 1u << 23,
	OPT_DST_GAP = 1u << 24,
	OPT_DST_OVERLAP = 1u << 25,
	OPT_EVERY = 1u << 26,
	OPT_OVERLAP = 1u << 27,
	OPT_RANDOMIZED_DELAY = 1u << 28,
	OPT_ACCURACY = 1u << 29,
	OPT_RESCHEDULE = 1u << 30, /* --reschedule-in or --reschedule-at */
};
/* Beyond what an enum constant (an int) can hold: the option sets are
 * uint64_t. Exec hook options of issue 14. */
#define OPT_PROPERTY (UINT64_C(1) << 31)
#define OPT_RETRY (UINT64_C(1) << 32)
#define OPT_RETRY_DELAY (UINT64_C(1) << 33)
#define OPT_ON_FAILURE (UINT64_C(1) << 34)
#define OPT_PASS_ENV (UINT64_C(1) << 35)
#define OPTS_TIMER                                                             \
	(OPT_MISFIRE | OPT_DELIVERY | OPT_MAX_ATTEMPTS | OPT_DOWNTIME)
#define OPTS_EXEC                                                              \
	(OPT_EXEC | OPT_SHELL | OPT_CWD | OPT_ENV | OPT_EXEC_TIMEOUT |         \
	 OPTS_EXEC_MORE)
/* Only with --exec or --shell. */
#define OPTS_EXEC_MORE                                                         \
	(OPT_CWD | OPT_ENV | OPT_EXEC_TIMEOUT | OPT_PROPERTY | OPT_RETRY |     \
	 OPT_RETRY_DELAY | OPT_ON_FAILURE | OPT_PASS_ENV)
#define OPTS_SCHEDULE                                                          \
	(OPT_CHANNEL | OPT_PAYLOAD | OPT_KEY | OPT_CLOCK | OPTS_TIMER |        \
	 OPTS_EXEC)
#define OPTS_GRANT (OPT_UID | OPT_GID | OPT_SUBSCRIBE | OPT_PUBLISH)
#define OPTS_CALENDAR (OPT_TZ | OPT_DST_GAP | OPT_DST_OVERLAP)
/* How a timer repeats and fires (struct evc_repeat). */
#define OPTS_REPEAT                                                            \
	(OPT_EVERY | OPT_COUNT | OPT_OVERLAP | OPT_RANDOMIZED_DELAY |          \
	 OPT_ACCURACY)

/* The state of one run. Owns the connection. */
struct ctl {
	const struct verb *verb;
	char **args; /* the verb's operands */
	int nargs;

	const char *socket;
	bool json;
	bool has_timeout;
	int64_t timeout_ns;
	const char *channel;
	const char *payload;
	const char *key;
	const char *clock_name;
	uint64_t count; /* 0: unbounded */
	struct evc_timer_options topts; /* valid when opts_seen & OPTS_TIMER */
	int64_t visibility_ns;
	uint64_t opts_seen;
	/* --exec: the operands from exec_at on are the hook's argv (those
	 * after "--"); --shell: its command. env: the --env values. */
	int exec_at; /* -1: no "--" */
	const char *shell;
	const char *cwd;
	const char **env;
	size_t nenv;
	int64_t exec_timeout_ns;
	/* --property values; --retry, --retry-delay, --on-failure; the
	 * "NAME=value" entries --pass-env made (owned, also in env). */
	const char **props;
	size_t nprops;
	uint32_t retry;
	int64_t retry_delay_ns;
	const char *on_failure;
	char **passed;
	size_t npassed;
	bool has_uid, has_gid;
	uint32_t grant_id;
	const char *tz; /* --tz: NULL for the process's zone */
	uint64_t iterations; /* -n */
	const char *after_text; /* --after */
	int64_t after_ns;
	enum calendar_gap gap;
	enum calendar_overlap overlap;
	/* --every, --overlap, --randomized-delay, --accuracy (and --count
	 * and the DST policies, copied in by repeat_of). */
	struct evc_repeat rep;
	/* watch --reschedule-in (reschedule_in) or --reschedule-at (the
	 * TIME, read again at each ack since it may be relative). */
	bool reschedule_in;
	int64_t reschedule_ns;
	const char *reschedule_at;

	char path[256];
	int request_ms;
	struct evc *c;
};

struct verb {
	const char *name;
	int (*run)(struct ctl *x);
	uint64_t opts;
	int min_args;
	int max_args; /* -1: any number */
	const char *synopsis;
};

static int verb_soon(struct ctl *x);
static int verb_later(struct ctl *x);
static int verb_at(struct ctl *x);
static int verb_cancel(struct ctl *x);
static int verb_get(struct ctl *x);
static int verb_list(struct ctl *x);
static int verb_time(struct ctl *x);
static int verb_stats(struct ctl *x);
static int verb_watch(struct ctl *x);
static int verb_dead(struct ctl *x);
static int verb_wait(struct ctl *x);
static int verb_channel(struct ctl *x);
static int verb_next(struct ctl *x);
static int verb_on(struct ctl *x);
static int verb_pause(struct ctl *x);
static int verb_resume(struct ctl *x);
static int verb_trigger(struct ctl *x);
static int verb_retry(struct ctl *x);
static int verb_parse(struct ctl *x);
static int verb_help(struct ctl *x);
static void help(void);

static const struct verb verbs[] = {
    {"soon", verb_soon, (OPTS_SCHEDULE & ~OPT_CLOCK) | OPTS_REPEAT, 0, 0,
     "soon [--channel NAME] [--payload TEXT] [--key KEY] [REPEAT]\n"
     "          [TIMER OPTIONS] [HOOK]"},
    {"later", verb_later, OPTS_SCHEDULE | OPTS_REPEAT, 1, 1,
     "later DURATION [--channel NAME] [--payload TEXT] [--key KEY]\n"
     "          [--clock monotonic|boottime] [REPEAT] [TIMER OPTIONS] "
     "[HOOK]"},
    {"at", verb_at, OPTS_SCHEDULE | OPTS_REPEAT | OPT_TZ, 1, 1,
     "at TIME [--tz ZONE] [--channel NAME] [--payload TEXT] [--key KEY]\n"
     "          [--clock realtime|monotonic|boottime] [REPEAT] "
     "[TIMER OPTIONS] [HOOK]"},
    {"on", verb_on,
     (OPTS_SCHEDULE & ~OPT_CLOCK) | OPTS_CALENDAR |
	 (OPTS_REPEAT & ~OPT_EVERY),
     1, 1,
     "on 'EXPR' [--tz ZONE] [--dst-gap shift|skip|utc]\n"
     "          [--dst-overlap first|second|both] [--count N] "
     "[--channel NAME]\n"
     "          [--payload TEXT] [--key KEY] [REPEAT] [TIMER OPTIONS] "
     "[HOOK]"},
    {"cancel", verb_cancel, 0, 1, -1, "cancel ID..."},
    {"pause", verb_pause, 0, 1, -1, "pause ID..."},
    {"resume", verb_resume, 0, 1, -1, "resume ID..."},
    {"trigger", verb_trigger, 0, 1, -1, "trigger ID..."},
    {"retry", verb_retry, 0, 1, -1, "retry ID..."},
    {"get", verb_get, 0, 1, 1, "get ID"},
    {"wait", verb_wait, 0, 1, 1, "wait ID [--timeout DURATION]"},
    {"channel", verb_channel, OPTS_GRANT, 2, 2,
     "channel show CHANNEL\n"
     "  channel grant|revoke CHANNEL (--uid UID | --gid GID) "
     "[--subscribe] [--publish]"},
    {"list", verb_list, OPT_CHANNEL, 0, 0, "list [--channel NAME]"},
    {"time", verb_time, 0, 0, 0, "time"},
    {"stats", verb_stats, 0, 0, 0, "stats"},
    {"watch", verb_watch, OPT_COUNT | OPT_VISIBILITY | OPT_RESCHEDULE, 1, 1,
     "watch CHANNEL [--count N] [--timeout DURATION] "
     "[--visibility DURATION]\n"
     "          [--reschedule-in DURATION | --reschedule-at TIME]"},
    {"dead", verb_dead, OPT_REQUEUE | OPT_PURGE, 1, 2,
     "dead CHANNEL [--requeue [FIRE_ID] | --purge [FIRE_ID]]"},
    {"next", verb_next, OPTS_CALENDAR | OPT_ITERATIONS | OPT_AFTER, 1, 1,
     "next 'EXPR' [--tz ZONE] [-n N] [--after TIME]\n"
     "          [--dst-gap shift|skip|utc] [--dst-overlap first|second|both]"},
    {"parse", verb_parse, OPTS_CALENDAR | OPT_ITERATIONS | OPT_AFTER, 1, 1,
     "parse 'TEXT' [--tz ZONE] [-n N] [--after TIME]"},
    {"help", verb_help, 0, 0, 1, "help [on|time|TOPIC]"},
};

#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

/* ---- diagnostics ---- */

static void ctl_warnx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
ctl_warnx(const char *fmt, ...)
{
	va_list ap;

	fputs("evctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/*
 * A channel as the daemon takes it. NAME (your own) and UID:NAME pass as
 * they are; USER:NAME becomes UID:NAME here, because the daemon looks no
 * names up (NSS on its loop could stall every client). slot picks one of
 * a few buffers, one per option that names a channel. NULL, after saying
 * why, for a user that does not exist.
 */
static const char *
channel_arg(const char *arg, unsigned slot)
{
	static char buf[3][LOGIN_NAME_MAX + 2 + 256];
	const char *colon = strchr(arg, ':');
	char user[LOGIN_NAME_MAX + 1];
	struct passwd *pw;
	size_t n;

	if (colon == NULL || colon == arg ||
	    strspn(arg, "0123456789") == (size_t)(colon - arg))
		return arg;
	if ((n = (size_t)(colon - arg)) >= sizeof(user)) {
		usage_error("channel '%s': no user by that name", arg);
		return NULL;
	}
	memcpy(user, arg, n);
	user[n] = '\0';
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		usage_error("channel '%s': no user '%s'%s%s", arg, user,
			    errno != 0 ? ": " : "",
			    errno != 0 ? strerror(errno) : "");
		return NULL;
	}
	snprintf(buf[slot], sizeof(buf[slot]), "%u:%s", (unsigned)pw->pw_uid,
		 colon + 1);
	return buf[slot];
}

static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("evctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'evctl --help' for more information.\n", stderr);
	return EXIT_USAGE;
}

/* The exit status for a library failure, after saying why. */
static int
lib_failure(struct ctl *x, int r, const char *what)
{
	int code = -r;

	if (code < EVC_E_LOCAL) {
		ctl_warnx("%s%s%s", what ? what : "", what ? ": " : "",
			  evc_errmsg(x->c));
		return EXIT_REFUSED;
	}
	if (code == EVC_E_USAGE) {
		ctl_warnx("%s%s%s", what ? what : "", what ? ": " : "",
			  evc_errmsg(x->c));
		return EXIT_USAGE;
	}
	ctl_warnx("%s: %s", x->path, evc_errmsg(x->c));
	return EXIT_UNREACHABLE;
}

/* While waiting for fires any failure means the connection is gone, even
 * when the daemon said why before closing it. */
static int
lost_connection(struct ctl *x)
{
	ctl_warnx("%s: %s", x->path, evc_errmsg(x->c));
	return EXIT_UNREACHABLE;
}

static int
check_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_warnx("cannot write to standard output: %s",
			  strerror(errno));
		return EXIT_UNREACHABLE;
	}
	return 0;
}

/* ---- time helpers ---- */

static int64_t
mono_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
realtime_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A TIME as evctl takes it (timefmt_parse_when: ISO 8601, @epoch,
 * "tomorrow 10:00", "+5m", "2026-12-01 09:00 Europe/Paris"), local
 * times in --tz if given. */
static int
parse_when(const struct ctl *x, const char *text, struct timefmt_when *ret)
{
	return timefmt_parse_when(text, realtime_now_ns(), x->tz, ret);
}

/* ns to the library's timeout_ms, rounded up so that a short wait is not
 * turned into "do not wait". */
static int
ns_to_ms(int64_t ns)
{
	if (ns <= 0)
		return 0;
	if (ns / 1000000 >= INT_MAX)
		return INT_MAX;
	return (int)((ns + 999999) / 1000000);
}

/* timeout_ms left until a deadline on CLOCK_MONOTONIC (-1: none). */
static int
ms_until(bool bounded, int64_t deadline_ns)
{
	return bounded ? ns_to_ms(deadline_ns - mono_now_ns()) : -1;
}

static const char *
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

static const char *
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

/* Names of the timer options, as --misfire etc. take them; the index is
 * the enum's value. */
static const char *const misfire_names[] = {"fire", "skip", "all"};
static const char *const delivery_names[] = {"at-least-once", "at-most-once"};
static const char *const downtime_names[] = {"counts", "paused"};
static const char *const run_overlap_names[] = {
    "skip", "queue-one", "allow", "terminate-previous"};

#define NAME_OF(names, v)                                                      \
	((v) >= 0 && (size_t)(v) < sizeof(names) / sizeof((names)[0])          \
	     ? (names)[(v)]                                                    \
	     : "unknown")

/* The index of v in names, or -1. */
static int
name_index(const char *const *names, size_t n, const char *v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], v) == 0)
			return (int)i;
	return -1;
}

static const char *
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
static const char *
iso(int64_t ns, bool utc, char *buf, size_t size)
{
	if (timefmt_format_time(ns, utc, buf, size) < 0)
		snprintf(buf, size, "@%lld", (long long)(ns / 1000000000));
	return buf;
}

static const char *
dur(int64_t ns, char *buf, size_t size)
{
	if (timefmt_format_duration(ns, buf, size) < 0)
		snprintf(buf, size, "%lldns", (long long)ns);
	return buf;
}

static const char *
secs(int64_t ns, char *buf, size_t size)
{
	timefmt_format_seconds(ns, buf, size);
	return buf;
}

/* ---- output ---- */

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

/* One JSON object on one line, built key by key. */
struct jw {
	bool first;
};

static void
jw_begin(struct jw *w)
{
	w->first = true;
	putchar('{');
}

static void
jw_key(struct jw *w, const char *key)
{
	printf("%s\"%s\":", w->first ? "" : ",", key);
	w->first = false;
}

static void
jw_u64(struct jw *w, const char *key, uint64_t v)
{
	jw_key(w, key);
	printf("%" PRIu64, v);
}

static void
jw_i64(struct jw *w, const char *key, int64_t v)
{
	jw_key(w, key);
	printf("%" PRId64, v);
}

static void
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

static void
jw_str(struct jw *w, const char *key, const char *s)
{
	jw_bytes(w, key, s, s ? strlen(s) : 0);
}

/* An instant as UTC ISO 8601; 0 (never) as null. */
static void
jw_time(struct jw *w, const char *key, int64_t ns, bool zero_is_null)
{
	char buf[TIMEFMT_TIME_MAX];

	if (zero_is_null && ns == 0)
		jw_str(w, key, NULL);
	else
		jw_str(w, key, iso(ns, true, buf, sizeof(buf)));
}

static void
jw_end(struct jw *w)
{
	(void)w;
	fputs("}\n", stdout);
}

/* Closes an object nested as the value of a key (no newline). */
static void
jw_close(struct jw *w)
{
	(void)w;
	putchar('}');
}

/* Values of the "key: value" verbs start in this column. */
#define KV_WIDTH 19

/* "key:" padded so that values line up, for the key: value verbs. */
static void kv(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
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
static void
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
static void
print_fired(const struct ctl *x, const struct evc_fired *ev)
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
		jw_end(&w);
		return;
	}
	printf("timer=%" PRIu64 " fire=%" PRIu64 " due=%s lateness=%s "
	       "attempt=%" PRIu32 " payload=",
	       ev->timer_id, ev->fire_id,
	       iso(ev->due_realtime_ns, false, t, sizeof(t)),
	       dur(ev->lateness_ns, d, sizeof(d)), ev->attempt);
	if (ev->payload != NULL)
		put_escaped(ev->payload, ev->payload_len, false);
	putchar('\n');
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
static bool
is_exec_run(const struct evc_run *run)
{
	return run->outcome >= EVC_RUN_EXEC_STARTED &&
	       run->outcome <= EVC_RUN_EXEC_FAILED;
}

static void
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
		if (run->fire_id != 0)
			jw_u64(&in, "fire_id", run->fire_id);
		else
			jw_str(&in, "fire_id", NULL);
		jw_time(&in, "due", run->due_realtime_ns, false);
		jw_i64(&in, "due_realtime_ns", run->due_realtime_ns);
		jw_time(&in, "fired", run->fired_realtime_ns, true);
		jw_i64(&in, "fired_realtime_ns", run->fired_realtime_ns);
		jw_i64(&in, "lateness_ns", run->lateness_ns);
		jw_str(&in, "outcome", outcome_name(run->outcome));
		jw_str(&in, "detail", run->detail);
		jw_exec_run(&in, run);
		jw_close(&in);
	}
	putchar(']');
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

static void
print_exec(const struct evc_timer_info *ti)
{
	char d[TIMEFMT_DURATION_MAX], *q, *o;
	const char *a;
	size_t i;

	printf("exec:%*s", (int)(KV_WIDTH - 1 - strlen("exec")), "");
	for (i = 0; i < ti->exec_argc; i++) {
		a = ti->exec_argv[i];
		if (i > 0)
			putchar(' ');
		if (shell_safe(a)) {
			put_escaped(a, strlen(a), false);
			continue;
		}
		/* ' becomes '"'"' (no backslash, which the escaping would
		 * double): at most 5 bytes per byte, plus the quotes. */
		q = malloc(strlen(a) * 5 + 3);
		if (q == NULL) {
			fputs("?", stdout);
			continue;
		}
		o = q;
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
		put_escaped(q, (size_t)(o - q), false);
		free(q);
	}
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

/* full: `get`, with options and history; else a `list` row. */
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

static void
print_timer(const struct ctl *x, const struct evc_timer_info *ti, bool full)
{
	char t[TIMEFMT_TIME_MAX], s[TIMEFMT_SECONDS_MAX];
	char d[TIMEFMT_DURATION_MAX];
	const struct evc_timer_options *o = &ti->options;
	struct jw w;
	size_t i;

	if (x->json) {
		jw_begin(&w);
		jw_u64(&w, "timer_id", ti->timer_id);
		jw_str(&w, "state", state_name(ti->state));
		jw_str(&w, "clock", clock_name(ti->clock));
		jw_i64(&w, "deadline_ns", ti->deadline_ns);
		jw_time(&w, "due", ti->due_realtime_ns, false);
		jw_i64(&w, "due_realtime_ns", ti->due_realtime_ns);
		jw_str(&w, "channel", ti->channel);
		jw_str(&w, "key", ti->key);
		jw_bytes(&w, "payload", ti->payload, ti->payload_len);
		jw_u64(&w, "fire_count", ti->fire_count);
		jw_time(&w, "last_fired", ti->last_fired_realtime_ns, true);
		jw_i64(&w, "last_fired_realtime_ns",
		       ti->last_fired_realtime_ns);
		jw_time(&w, "created", ti->created_realtime_ns, false);
		jw_i64(&w, "created_realtime_ns", ti->created_realtime_ns);
		jw_u64(&w, "owner_uid", ti->owner_uid);
		jw_u64(&w, "owner_gid", ti->owner_gid);
		jw_repeat(&w, ti);
		jw_exec(&w, ti);
		if (full) {
			jw_options(&w, ti);
			jw_history(&w, ti);
		}
		jw_end(&w);
		return;
	}
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
}

/* ---- connecting ---- */

static int
ctl_connect(struct ctl *x)
{
	char err[512];
	int r, code;

	if (x->socket != NULL) {
		if (snprintf(x->path, sizeof(x->path), "%s", x->socket) >=
		    (int)sizeof(x->path))
			return usage_error("socket path too long: %s",
					   x->socket);
	} else if (evc_default_socket(x->path, sizeof(x->path)) < 0) {
		return usage_error("the default socket path is too long; "
				   "use --socket PATH");
	}
	r = evc_connect(x->path, "evctl", x->request_ms, &x->c, err,
			sizeof(err));
	if (r == 0)
		return 0;
	code = -r;
	if (code == EVC_E_CONNECT) {
		ctl_warnx("%s; is evd running? start it with: evd --socket %s",
			  err, x->path);
		return EXIT_UNREACHABLE;
	}
	if (code == EVC_E_USAGE)
		return usage_error("%s", err);
	if (code < EVC_E_LOCAL) {
		ctl_warnx("%s", err);
		return EXIT_REFUSED;
	}
	ctl_warnx("%s: %s", x->path, err);
	return EXIT_UNREACHABLE;
}

/* ---- verbs ---- */

/*
 * After scheduling a timer that fires to this connection: wait for its
 * fires (bounded by --timeout), print each, done after n of them (0:
 * never, for a repeating timer without --count). The connection must
 * stay open until then, since such timers die with it.
 */
static int
wait_own_fires(struct ctl *x, uint64_t timer_id, uint64_t n)
{
	int64_t deadline_ns = mono_now_ns() + x->timeout_ns;
	char d[TIMEFMT_DURATION_MAX];
	struct evc_fired ev;
	uint64_t seen = 0;
	int r;

	while (n == 0 || seen < n) {
		r = evc_next_event(x->c, ms_until(x->has_timeout, deadline_ns),
				   &ev);
		if (r == -EVC_E_TIMEOUT) {
			ctl_warnx(
			    "timed out after %s waiting for timer %" PRIu64
			    " to fire (%" PRIu64 " fires seen)",
			    dur(x->timeout_ns, d, sizeof(d)), timer_id, seen);
			return EXIT_REFUSED;
		}
		if (r < 0)
			return lost_connection(x);
		if (ev.timer_id == timer_id) {
			print_fired(x, &ev);
			seen++;
			r = check_stdout();
			if (r != 0) {
				evc_fired_free(&ev);
				return r;
			}
		}
		evc_fired_free(&ev);
	}
	return 0;
}

/* --exec or --shell: the timer runs a hook. */
static bool
has_hook(const struct ctl *x)
{
	return (x->opts_seen & (OPT_EXEC | OPT_SHELL)) != 0;
}

/* --every, or a calendar timer. */
static bool
repeating(const struct ctl *x)
{
	return (x->opts_seen & OPT_EVERY) || x->verb->run == verb_on;
}

/*
 * The repeat and firing options of soon/later/at/on, or NULL when none
 * was given (the request is then exactly what evctl always sent).
 * --count only counts fires of a repeating timer.
 */
static int
repeat_of(struct ctl *x, const struct evc_repeat **ret)
{
	*ret = NULL;
	if ((x->opts_seen & OPT_COUNT) && !repeating(x))
		return usage_error("--count goes with --every (or 'on'): a "
				   "one-shot timer fires once");
	x->rep.count = x->count;
	x->rep.dst_gap = (int)x->gap;
	x->rep.dst_overlap = (int)x->overlap;
	if (x->opts_seen & (OPTS_REPEAT | OPT_DST_GAP | OPT_DST_OVERLAP))
		*ret = &x->rep;
	return 0;
}

/* Common tail of soon/later/at/on: print the new timer, maybe wait. */
static int
scheduled(struct ctl *x, int r, const struct evc_scheduled *s)
{
	char t[TIMEFMT_TIME_MAX];
	struct jw w;

	if (r < 0)
		return lib_failure(x, r, x->verb->name);
	if (x->json) {
		jw_begin(&w);
		jw_u64(&w, "timer_id", s->timer_id);
		jw_str(&w, "clock", clock_name(s->clock));
		jw_i64(&w, "deadline_ns", s->deadline_ns);
		jw_str(&w, "due", iso(s->due_realtime_ns, true, t, sizeof(t)));
		jw_i64(&w, "due_realtime_ns", s->due_realtime_ns);
		jw_bool(&w, "existing", s->existing);
		jw_end(&w);
	} else {
		printf("%" PRIu64 "\n", s->timer_id);
	}
	r = check_stdout();
	/* Channel and exec timers are durable: nothing to wait for here
	 * (`evctl wait ID` waits for a hook). A repeating timer of this
	 * connection fires until --count, or until evctl is stopped. */
	if (r != 0 || x->channel != NULL || has_hook(x))
		return r;
	return wait_own_fires(x, s->timer_id, repeating(x) ? x->count : 1);
}

/* The callback, with its exec hook in *ex (which must outlive it). */
static struct evc_callback
callback_of(const struct ctl *x, struct evc_exec *ex)
{
	struct evc_callback cb = {
	    .channel = x->channel,
	    .payload = x->payload,
	    .payload_len = x->payload ? strlen(x->payload) : 0,
	    .key = x->key,
	    /* Options unset are zero, the daemon's defaults. */
	    .options = (x->opts_seen & OPTS_TIMER) ? &x->topts : NULL,
	};

	if (has_hook(x)) {
		memset(ex, 0, sizeof(*ex));
		if (x->shell != NULL) {
			ex->argv = &x->shell;
			ex->argc = 1;
			ex->shell = true;
		} else {
			ex->argv = (const char *const *)x->args + x->exec_at;
			ex->argc = (size_t)(x->nargs - x->exec_at);
		}
		ex->env = x->env;
		ex->nenv = x->nenv;
		ex->cwd = x->cwd;
		ex->timeout_ns = x->exec_timeout_ns;
		ex->properties = x->props;
		ex->nproperties = x->nprops;
		ex->retry = x->retry;
		ex->retry_delay_ns = x->retry_delay_ns;
		ex->on_failure = x->on_failure;
		cb.exec = ex;
	}
	return cb;
}

static int
verb_soon(struct ctl *x)
{
	struct evc_exec ex;
	struct evc_callback cb = callback_of(x, &ex);
	const struct evc_repeat *rep;
	struct evc_scheduled s;
	int r;

	r = repeat_of(x, &rep);
	if (r != 0)
		return r;
	return scheduled(
	    x, evc_call_soon_opts(x->c, &cb, rep, x->request_ms, &s), &s);
}

static int
verb_later(struct ctl *x)
{
	struct evc_exec ex;
	struct evc_callback cb = callback_of(x, &ex);
	enum evc_clock clock = EVC_CLOCK_MONOTONIC;
	const struct evc_repeat *rep;
	struct evc_scheduled s;
	int64_t delay_ns;
	int r;

	if (timefmt_parse_duration_words(x->args[0], &delay_ns) < 0)
		return usage_error("invalid duration '%s' (examples: 250ms, "
				   "5s, 1h30m, 2d, '5 minutes')",
				   x->args[0]);
	r = repeat_of(x, &rep);
	if (r != 0)
		return r;
	if (x->clock_name != NULL && strcmp(x->clock_name, "boottime") == 0)
		clock = EVC_CLOCK_BOOTTIME;
	else if (x->clock_name != NULL &&
		 strcmp(x->clock_name, "monotonic") != 0)
		return usage_error("later takes --clock monotonic or "
				   "boottime; for a wall-clock time use 'at'");
	return scheduled(x,
			 evc_call_later_opts(x->c, delay_ns, clock, &cb, rep,
					     x->request_ms, &s),
			 &s);
}

static int
verb_at(struct ctl *x)
{
	struct evc_exec ex;
	struct evc_callback cb = callback_of(x, &ex);
	enum evc_clock clock = EVC_CLOCK_REALTIME;
	const struct evc_repeat *rep;
	struct evc_scheduled s;
	struct timefmt_when w;
	int64_t when_ns;
	int r;

	r = repeat_of(x, &rep);
	if (r != 0)
		return r;
	if (x->clock_name != NULL && strcmp(x->clock_name, "monotonic") == 0)
		clock = EVC_CLOCK_MONOTONIC;
	else if (x->clock_name != NULL &&
		 strcmp(x->clock_name, "boottime") == 0)
		clock = EVC_CLOCK_BOOTTIME;
	if (clock == EVC_CLOCK_REALTIME) {
		if (parse_when(x, x->args[0], &w) < 0)
			return usage_error(
			    "invalid time '%s' (examples: "
			    "2026-12-01T09:00:00Z, '2026-12-01 09:00', "
			    "'tomorrow 10:00', '+5m', 'now + 2 hours', "
			    "@1796115600; see 'evctl help time')",
			    x->args[0]);
		when_ns = w.ns;
	} else if ((x->opts_seen & OPT_TZ)) {
		return usage_error("--tz applies to wall-clock times, not to "
				   "the %s clock",
				   clock_name(clock));
	} else if (timefmt_parse_duration(x->args[0], &when_ns) < 0) {
		/* On the daemon's own clocks an instant is its reading in
		 * seconds, as `evctl time` prints it. */
		return usage_error("invalid time '%s' on the %s clock: give "
				   "seconds as 'evctl time' prints them",
				   x->args[0], clock_name(clock));
	}
	return scheduled(x,
			 evc_call_at_opts(x->c, when_ns, clock, &cb, rep,
					  x->request_ms, &s),
			 &s);
}

/* on EXPR: a calendar timer. The expression is read here first, by the
 * parser the daemon uses, so that a typo is a usage error naming the
 * problem before anything is sent. */
static int
verb_on(struct ctl *x)
{
	struct evc_exec ex;
	struct evc_callback cb = callback_of(x, &ex);
	char err[CALENDAR_ERROR_MAX];
	const struct evc_repeat *rep;
	struct evc_scheduled s;
	struct calendar *cal;
	int r;

	if (calendar_parse(x->args[0], &cal, err, sizeof(err)) < 0)
		return usage_error("invalid calendar expression '%s': %s "
				   "(see 'evctl help on')",
				   x->args[0], err);
	calendar_free(cal);
	r = repeat_of(x, &rep);
	if (r != 0)
		return r;
	return scheduled(x,
			 evc_call_on(x->c, x->args[0], x->tz, &cb, rep,
				     x->request_ms, &s),
			 &s);
}

/* Decimal digits only, no sign, no overflow. */
static bool
parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - (*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return true;
}

static int
verb_cancel(struct ctl *x)
{
	uint64_t id;
	int i, r, status = 0;
	char what[64];
	struct jw w;

	/* All ids are checked before any is cancelled. */
	for (i = 0; i < x->nargs; i++)
		if (!parse_u64(x->args[i], &id))
			return usage_error("invalid timer id '%s'", x->args[i]);
	for (i = 0; i < x->nargs; i++) {
		parse_u64(x->args[i], &id);
		r = evc_cancel(x->c, id, x->request_ms);
		if (r < 0) {
			snprintf(what, sizeof(what), "cancel %" PRIu64, id);
			r = lib_failure(x, r, what);
			if (r != EXIT_REFUSED)
				return r;
			status = r;
			continue;
		}
		if (x->json) {
			jw_begin(&w);
			jw_u64(&w, "timer_id", id);
			jw_bool(&w, "cancelled", true);
			jw_end(&w);
		} else {
			printf("%" PRIu64 "\n", id);
		}
	}
	r = check_stdout();
	return r != 0 ? r : status;
}

/*
 * pause/resume/trigger ID...: all ids are checked first; each timer is
 * then printed as it became, one line each:
 *   12 paused 2026-12-01T09:00:00+01:00
 * (id, state, next due; --json: the object `list` prints). The exit
 * status is the worst: 1 if the daemon refused one, and evctl goes on.
 */
static int
timer_ops(struct ctl *x, const char *name,
	  int (*op)(struct evc *, uint64_t, int, struct evc_timer_info *))
{
	char what[64], t[TIMEFMT_TIME_MAX];
	struct evc_timer_info ti;
	int i, r, status = 0;
	uint64_t id;

	for (i = 0; i < x->nargs; i++)
		if (!parse_u64(x->args[i], &id))
			return usage_error("invalid timer id '%s'", x->args[i]);
	for (i = 0; i < x->nargs; i++) {
		parse_u64(x->args[i], &id);
		r = op(x->c, id, x->request_ms, &ti);
		if (r < 0) {
			snprintf(what, sizeof(what), "%s %" PRIu64, name, id);
			r = lib_failure(x, r, what);
			if (r != EXIT_REFUSED)
				return r;
			status = r;
			continue;
		}
		if (x->json)
			print_timer(x, &ti, false);
		else
			printf("%" PRIu64 " %s %s\n", ti.timer_id,
			       state_name(ti.state),
			       iso(ti.due_realtime_ns, false, t, sizeof(t)));
		evc_timer_info_free(&ti);
	}
	r = check_stdout();
	return r != 0 ? r : status;
}

/* retry ID...: an exec timer's command once more, now, even when it
 * finished (trigger needs a pending timer). */
static int
verb_retry(struct ctl *x)
{
	return timer_ops(x, "retry", evc_retry);
}

static int
verb_pause(struct ctl *x)
{
	return timer_ops(x, "pause", evc_pause);
}

static int
verb_resume(struct ctl *x)
{
	return timer_ops(x, "resume", evc_resume);
}

/* Fires once now; the schedule stays. */
static int
verb_trigger(struct ctl *x)
{
	return timer_ops(x, "trigger", evc_trigger);
}

static int
verb_get(struct ctl *x)
{
	struct evc_timer_info ti;
	uint64_t id;
	int r;

	if (!parse_u64(x->args[0], &id))
		return usage_error("invalid timer id '%s'", x->args[0]);
	r = evc_get(x->c, id, x->request_ms, &ti);
	if (r < 0)
		return lib_failure(x, r, "get");
	print_timer(x, &ti, true);
	evc_timer_info_free(&ti);
	return check_stdout();
}

/*
 * Human form: a header, then one row per timer:
 *   ID       CLOCK     DUE                                 STATE     REPEAT ...
 * columns separated by at least one space; "-" for none; payload last.
 * REPEAT is "-", "every:10m", "calendar", with "*N" for --count N (the
 * expression is in `get`; none of these has a space).
 */
static const char *
repeat_column(const struct evc_timer_info *ti, char *buf, size_t size)
{
	char d[TIMEFMT_DURATION_MAX], n[24] = "";

	if (!ti->repeating)
		return "-";
	if (ti->repeat.count > 0)
		snprintf(n, sizeof(n), "*%" PRIu64, ti->repeat.count);
	if (ti->repeat.every_ns > 0)
		snprintf(buf, size, "every:%s%s",
			 dur(ti->repeat.every_ns, d, sizeof(d)), n);
	else
		snprintf(buf, size, "calendar%s", n);
	return buf;
}

static void
print_list_row(const struct evc_timer_info *ti)
{
	char t[TIMEFMT_TIME_MAX], id[24], r[TIMEFMT_DURATION_MAX + 32];
	const char *ch = ti->channel ? ti->channel : "-";
	const char *key = ti->key ? ti->key : "-";

	snprintf(id, sizeof(id), "%" PRIu64, ti->timer_id);
	printf("%-8s %-9s %-35s %-9s %-16s ", id, clock_name(ti->clock),
	       iso(ti->due_realtime_ns, false, t, sizeof(t)),
	       state_name(ti->state), repeat_column(ti, r, sizeof(r)));
	put_escaped(ch, strlen(ch), false);
	printf("%*s ", strlen(ch) < 16 ? (int)(16 - strlen(ch)) : 0, "");
	put_escaped(key, strlen(key), false);
	printf("%*s ", strlen(key) < 16 ? (int)(16 - strlen(key)) : 0, "");
	if (ti->payload != NULL)
		put_escaped(ti->payload, ti->payload_len, false);
	else
		putchar('-');
	putchar('\n');
}

static int
verb_list(struct ctl *x)
{
	struct evc_timer_list tl;
	uint64_t after = 0;
	size_t i;
	int r;

	if (!x->json)
		printf("%-8s %-9s %-35s %-9s %-16s %-16s %-16s %s\n", "ID",
		       "CLOCK", "DUE", "STATE", "REPEAT", "CHANNEL", "KEY",
		       "PAYLOAD");
	for (;;) {
		r = evc_list(x->c, x->channel, after, 0, x->request_ms, &tl);
		if (r < 0)
			return lib_failure(x, r, "list");
		for (i = 0; i < tl.count; i++) {
			if (x->json)
				print_timer(x, &tl.timers[i], false);
			else
				print_list_row(&tl.timers[i]);
		}
		/* Ids only grow: a cursor that does not would loop. */
		if (tl.next_after_id <= after) {
			evc_timer_list_free(&tl);
			break;
		}
		after = tl.next_after_id;
		evc_timer_list_free(&tl);
		r = check_stdout();
		if (r != 0)
			return r;
	}
	return check_stdout();
}

static int
verb_time(struct ctl *x)
{
	char s[TIMEFMT_SECONDS_MAX], t[TIMEFMT_TIME_MAX];
	struct evc_time tm;
	struct jw w;
	int r;

	r = evc_time(x->c, x->request_ms, &tm);
	if (r < 0)
		return lib_failure(x, r, "time");
	if (x->json) {
		jw_begin(&w);
		jw_i64(&w, "monotonic_ns", tm.monotonic_ns);
		jw_i64(&w, "boottime_ns", tm.boottime_ns);
		jw_i64(&w, "realtime_ns", tm.realtime_ns);
		jw_time(&w, "realtime", tm.realtime_ns, false);
		jw_end(&w);
	} else {
		kv("monotonic", "%s", secs(tm.monotonic_ns, s, sizeof(s)));
		kv("boottime", "%s", secs(tm.boottime_ns, s, sizeof(s)));
		kv("realtime", "%s", secs(tm.realtime_ns, s, sizeof(s)));
		kv("wall", "%s", iso(tm.realtime_ns, false, t, sizeof(t)));
	}
	return check_stdout();
}

static int
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

/*
 * watch's ack of one fire; with --reschedule-in/--reschedule-at the
 * trampoline: the timer is scheduled again in the same commit as the
 * ack (a relative --reschedule-at is read again now, at each fire).
 * Returns 0, a negative code of the library, or an exit status when the
 * time cannot be read any more (then nothing is acked: the fire comes
 * again, rather than being acked without its reschedule).
 */
static int
watch_ack(struct ctl *x, const struct evc_fired *ev)
{
	struct timefmt_when w;

	if (x->reschedule_in)
		return evc_ack_reschedule(x->c, ev->fire_id, false,
					  x->reschedule_ns, x->request_ms,
					  NULL);
	if (x->reschedule_at != NULL) {
		/* Read once already (set_option); only the clock moved,
		 * so this fails only at the end of int64 time. */
		if (parse_when(x, x->reschedule_at, &w) < 0) {
			ctl_warnx("cannot read --reschedule-at '%s' now; fire "
				  "%" PRIu64 " is not acked",
				  x->reschedule_at, ev->fire_id);
			return EXIT_USAGE;
		}
		return evc_ack_reschedule(x->c, ev->fire_id, true, w.ns,
					  x->request_ms, NULL);
	}
	return evc_ack(x->c, ev->fire_id, x->request_ms);
}

static int
verb_watch(struct ctl *x)
{
	int64_t deadline_ns = mono_now_ns() + x->timeout_ns;
	const char *channel = channel_arg(x->args[0], 0);
	char d[TIMEFMT_DURATION_MAX], what[64];
	struct evc_fired ev;
	uint64_t seen = 0;
	int r;

	if (channel == NULL)
		return EXIT_USAGE;
	if (x->opts_seen & OPT_VISIBILITY)
		r = evc_subscribe_opts(x->c, channel, x->visibility_ns,
				       x->request_ms);
	else
		r = evc_subscribe(x->c, channel, x->request_ms);
	if (r < 0)
		return lib_failure(x, r, "watch");
	while (x->count == 0 || seen < x->count) {
		r = evc_next_event(x->c, ms_until(x->has_timeout, deadline_ns),
				   &ev);
		if (r == -EVC_E_TIMEOUT) {
			if (x->count > 0)
				ctl_warnx(
				    "timed out after %s waiting for fires on "
				    "%s (%" PRIu64 " of %" PRIu64 " received)",
				    dur(x->timeout_ns, d, sizeof(d)), channel,
				    seen, x->count);
			else
				ctl_warnx(
				    "timed out after %s waiting for fires on "
				    "%s (%" PRIu64 " received)",
				    dur(x->timeout_ns, d, sizeof(d)), channel,
				    seen);
			return EXIT_REFUSED;
		}
		if (r < 0)
			return lost_connection(x);
		print_fired(x, &ev);
		r = check_stdout();
		if (r != 0) {
			evc_fired_free(&ev);
			return r;
		}
		/* Acked only once printed: a crash in between means a
		 * redelivery, never a lost fire. */
		r = watch_ack(x, &ev);
		if (r > 0) {
			evc_fired_free(&ev);
			return r;
		}
		if (r < 0) {
			snprintf(what, sizeof(what), "ack of fire %" PRIu64,
				 ev.fire_id);
			r = lib_failure(x, r, what);
			if (r != EXIT_REFUSED) {
				evc_fired_free(&ev);
				return r;
			}
		}
		evc_fired_free(&ev);
		seen++;
	}
	return 0;
}

/* Lists the channel's dead letters, page by page, as `watch` prints
 * fires (attempt = deliveries made); with --requeue or --purge acts on
 * them instead and prints how many. */
static int
verb_dead(struct ctl *x)
{
	const char *channel = channel_arg(x->args[0], 0);
	bool purge = (x->opts_seen & OPT_PURGE) != 0;
	struct evc_dead_list dl;
	uint64_t fire_id = 0, after = 0, n;
	struct jw w;
	size_t i;
	int r;

	if (channel == NULL)
		return EXIT_USAGE;
	if ((x->opts_seen & OPT_REQUEUE) && purge)
		return usage_error("--requeue and --purge exclude each other");
	if (x->nargs > 1) {
		if (!(x->opts_seen & (OPT_REQUEUE | OPT_PURGE)))
			return usage_error("a FIRE_ID goes with --requeue or "
					   "--purge");
		if (!parse_u64(x->args[1], &fire_id) || fire_id == 0)
			return usage_error("invalid fire id '%s'", x->args[1]);
	}
	if (x->opts_seen & (OPT_REQUEUE | OPT_PURGE)) {
		r = purge ? evc_purge_dead(x->c, channel, fire_id,
					   x->request_ms, &n)
			  : evc_requeue_dead(x->c, channel, fire_id,
					     x->request_ms, &n);
		if (r < 0)
			return lib_failure(x, r, "dead");
		if (x->json) {
			jw_begin(&w);
			jw_str(&w, "channel", channel);
			if (fire_id != 0)
				jw_u64(&w, "fire_id", fire_id);
			else
				jw_str(&w, "fire_id", NULL);
			jw_u64(&w, purge ? "purged" : "requeued", n);
			jw_end(&w);
		} else {
			printf("%" PRIu64 "\n", n);
		}
		return check_stdout();
	}
	for (;;) {
		r = evc_list_dead(x->c, channel, after, 0, x->request_ms, &dl);
		if (r < 0)
			return lib_failure(x, r, "dead");
		for (i = 0; i < dl.count; i++)
			print_fired(x, &dl.messages[i]);
		/* Fire ids only grow: a cursor that does not would loop. */
		if (dl.next_after_fire_id <= after) {
			evc_dead_list_free(&dl);
			break;
		}
		after = dl.next_after_fire_id;
		evc_dead_list_free(&dl);
		r = check_stdout();
		if (r != 0)
			return r;
	}
	return check_stdout();
}

/* Exit statuses of `wait`, as timeout(1) and shells have them. */
#define EXIT_HOOK_TIMED_OUT 124
#define EXIT_SIGNAL_BASE 128

/*
 * evd reports an already finished timer's last run without its output
 * (evc_get's history has the last 1 KiB of it): fetch the tails there,
 * best effort.
 */
static void
wait_fill_tails(struct ctl *x, uint64_t id, struct evc_run *run)
{
	struct evc_timer_info ti;
	struct evc_run *h;
	size_t i;

	if (!is_exec_run(run) || run->outcome == EVC_RUN_EXEC_STARTED ||
	    run->stdout_tail != NULL || run->stderr_tail != NULL ||
	    evc_get(x->c, id, x->request_ms, &ti) < 0)
		return;
	for (i = 0; i < ti.history_count; i++) {
		h = &ti.history[i];
		if (h->fire_id != run->fire_id || h->outcome != run->outcome)
			continue;
		run->stdout_tail = h->stdout_tail;
		run->stdout_len = h->stdout_len;
		run->stderr_tail = h->stderr_tail;
		run->stderr_len = h->stderr_len;
		h->stdout_tail = h->stderr_tail = NULL;
		h->stdout_len = h->stderr_len = 0;
		break;
	}
	evc_timer_info_free(&ti);
}

/*
 * Waits for timer ID's fire to finish and reports the run:
 *   timer_id:          12
 *   outcome:           exited
 *   exit_code:         3          (signal: for "signaled")
 *   duration:          2.1ms
 *   detail:            -
 * then the hook's stdout tail, as it wrote it, on stdout and its stderr
 * tail on stderr (--json: one object, the tails as strings in it). Exit
 * status: the hook's exit status; 128 + the signal that killed it; 124
 * when it was killed at its timeout (as timeout(1)); 1 when it could not
 * be started, the timer was cancelled, or the daemon refused; 0 for a
 * timer without a hook whose fire was done. --timeout bounds the wait
 * (then "timed out", 1).
 */
static int
verb_wait(struct ctl *x)
{
	int64_t deadline_ns = mono_now_ns() + x->timeout_ns;
	char d[TIMEFMT_DURATION_MAX];
	struct evc_run run;
	struct jw w;
	uint64_t id;
	int r, status = 0;

	if (!parse_u64(x->args[0], &id))
		return usage_error("invalid timer id '%s'", x->args[0]);
	r = evc_wait(x->c, id, ms_until(x->has_timeout, deadline_ns), &run);
	if (r == -EVC_E_TIMEOUT) {
		ctl_warnx("timed out after %s waiting for timer %" PRIu64
			  " to finish",
			  dur(x->timeout_ns, d, sizeof(d)), id);
		return EXIT_REFUSED;
	}
	if (r < 0)
		return lib_failure(x, r, "wait");
	wait_fill_tails(x, id, &run);
	switch (run.outcome) {
	case EVC_RUN_EXEC_EXITED:
		status = run.exit_code & 0xff;
		break;
	case EVC_RUN_EXEC_SIGNALED:
		status = EXIT_SIGNAL_BASE + (run.signal & 0x7f);
		break;
	case EVC_RUN_EXEC_TIMED_OUT:
		status = EXIT_HOOK_TIMED_OUT;
		break;
	case EVC_RUN_EXEC_FAILED:
	case EVC_RUN_CANCELLED:
		status = EXIT_REFUSED;
		break;
	default:
		status = 0;
		break;
	}
	if (x->json) {
		jw_begin(&w);
		jw_u64(&w, "timer_id", id);
		if (run.fire_id != 0)
			jw_u64(&w, "fire_id", run.fire_id);
		else
			jw_str(&w, "fire_id", NULL);
		jw_str(&w, "outcome", outcome_name(run.outcome));
		jw_str(&w, "detail", run.detail);
		jw_exec_run(&w, &run);
		jw_end(&w);
	} else {
		kv("timer_id", "%" PRIu64, id);
		kv("outcome", "%s", outcome_name(run.outcome));
		if (run.outcome == EVC_RUN_EXEC_EXITED)
			kv("exit_code", "%d", run.exit_code);
		if (run.signal != 0)
			kv("signal", "%d", run.signal);
		if (is_exec_run(&run))
			kv("duration", "%s", dur(run.duration_ns, d, sizeof(d)));
		kv_bytes("detail", run.detail,
			 run.detail ? strlen(run.detail) : 0);
		/* The hook's own bytes, unescaped, as if it had run here. */
		if (run.stdout_len > 0)
			fwrite(run.stdout_tail, 1, run.stdout_len, stdout);
		if (run.stderr_len > 0) {
			fflush(stdout);
			fwrite(run.stderr_tail, 1, run.stderr_len, stderr);
		}
	}
	if (run.outcome == EVC_RUN_CANCELLED)
		ctl_warnx("timer %" PRIu64 " was cancelled", id);
	else if (run.outcome == EVC_RUN_EXEC_FAILED)
		ctl_warnx("timer %" PRIu64 ": the hook could not be started%s%s",
			  id, run.detail ? ": " : "",
			  run.detail ? run.detail : "");
	evc_run_free(&run);
	r = check_stdout();
	return r != 0 ? r : status;
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
static void
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

/* channel show|grant|revoke CHANNEL: grant and revoke print the channel
 * as it then is. */
static int
verb_channel(struct ctl *x)
{
	const char *sub = x->args[0], *channel = channel_arg(x->args[1], 0);
	bool sub_r = (x->opts_seen & OPT_SUBSCRIBE) != 0;
	bool pub_r = (x->opts_seen & OPT_PUBLISH) != 0;
	struct evc_channel_info ci;
	bool revoke;
	int r;

	if (channel == NULL)
		return EXIT_USAGE;
	if (strcmp(sub, "show") == 0) {
		if (x->opts_seen & OPTS_GRANT)
			return usage_error("channel show takes no --uid, "
					   "--gid, --subscribe or --publish");
		r = evc_get_channel(x->c, channel, x->request_ms, &ci);
		if (r < 0)
			return lib_failure(x, r, "channel show");
	} else if (strcmp(sub, "grant") == 0 || strcmp(sub, "revoke") == 0) {
		revoke = sub[0] == 'r';
		if (x->has_uid == x->has_gid)
			return usage_error("channel %s needs one of --uid UID "
					   "and --gid GID",
					   sub);
		if (!sub_r && !pub_r) {
			if (!revoke)
				return usage_error("channel grant needs "
						   "--subscribe and/or "
						   "--publish");
			/* Revoke without rights named: all of them. */
			sub_r = pub_r = true;
		}
		r = evc_channel_grant(x->c, channel, x->has_gid, x->grant_id,
				      sub_r, pub_r, revoke, x->request_ms,
				      &ci);
		if (r < 0)
			return lib_failure(x, r,
					   revoke ? "channel revoke"
						  : "channel grant");
	} else {
		return usage_error("unknown channel command '%s' (show, "
				   "grant, revoke)",
				   sub);
	}
	print_channel(x, &ci);
	evc_channel_info_free(&ci);
	return check_stdout();
}

/*
 * next EXPR: the next occurrences of a calendar expression, computed
 * here without the daemon, one line each:
 *   2026-03-30 09:00:00 CEST 2026-03-30 07:00:00 UTC
 * (local time in the expression's zone, else --tz, else TZ or the
 * system's; then the same instant in UTC; ".ffffff" after the seconds
 * when there are microseconds).
 */
static int
verb_next(struct ctl *x)
{
	const char *expr = x->args[0], *zone;
	char err[CALENDAR_ERROR_MAX], loc[CALENDAR_LOCAL_MAX];
	char utc[CALENDAR_LOCAL_MAX], t[TIMEFMT_TIME_MAX];
	int64_t after_ns = x->after_ns, ns;
	struct calendar *cal;
	struct jw w;
	uint64_t i;
	int r = 0;

	if (calendar_parse(expr, &cal, err, sizeof(err)) < 0)
		return usage_error("invalid calendar expression '%s': %s",
				   expr, err);
	/* A zone in the expression wins, as in systemd. */
	zone = calendar_zone(cal) != NULL ? calendar_zone(cal) : x->tz;
	for (i = 0; i < x->iterations; i++) {
		r = calendar_next(cal, zone, x->gap, x->overlap, after_ns, &ns);
		if (r == -ENOENT) {
			if (i == 0)
				ctl_warnx("'%s' never elapses after %s", expr,
					  iso(after_ns, true, t, sizeof(t)));
			r = 0;
			break;
		}
		if (r < 0 ||
		    calendar_format_local(ns, zone, loc, sizeof(loc)) < 0 ||
		    calendar_format_local(ns, "UTC", utc, sizeof(utc)) < 0) {
			ctl_warnx("cannot compute '%s': %s", expr,
				  strerror(r < 0 ? -r : EOVERFLOW));
			r = EXIT_USAGE;
			break;
		}
		if (x->json) {
			jw_begin(&w);
			jw_str(&w, "local", loc);
			jw_str(&w, "zone", zone);
			jw_time(&w, "utc", ns, false);
			jw_i64(&w, "realtime_ns", ns);
			jw_end(&w);
		} else {
			printf("%s %s\n", loc, utc);
		}
		after_ns = ns;
	}
	calendar_free(cal);
	if (r != 0)
		return r;
	return check_stdout();
}

/*
 * An instant as ISO 8601 local time in zone (NULL: the process's), with
 * that zone's offset: "2026-03-31T10:00:00+02:00". Reads back to ns.
 */
static const char *
iso_in_zone(int64_t ns, const char *zone, char *buf, size_t size)
{
	int64_t local_s, off, frac = ns % 1000000000;
	size_t len;

	if (frac < 0)
		frac += 1000000000;
	if (calendar_to_local(ns, zone, &local_s, &off) < 0 ||
	    timefmt_format_time(local_s * 1000000000 + frac, true, buf,
				size) < 0)
		return iso(ns, true, buf, size);
	len = strlen(buf);
	/* The UTC form of the local reading: its "Z" becomes the offset. */
	if (len > 0 && buf[len - 1] == 'Z' && size - len >= 6) {
		snprintf(buf + len - 1, size - len + 1, "%c%02lld:%02lld",
			 off < 0 ? '-' : '+', (long long)(off < 0 ? -off : off) / 3600,
			 (long long)(off < 0 ? -off : off) % 3600 / 60);
	}
	return buf;
}

/* The zone for display: "-" for the process's own. */
static const char *
zone_label(const char *zone)
{
	return zone != NULL && zone[0] != '\0' ? zone : "-";
}

/* parse, as a time (at, --reschedule-at, --after). */
static void
parse_print_time(const struct ctl *x, const char *text,
		 const struct timefmt_when *w)
{
	const char *zone = w->zone[0] != '\0' ? w->zone : x->tz;
	char norm[TIMEFMT_TIME_MAX + TIMEFMT_DURATION_MAX];
	char loc[CALENDAR_LOCAL_MAX], t[TIMEFMT_TIME_MAX];
	char d[TIMEFMT_DURATION_MAX];
	struct jw jwr;

	if (w->relative)
		snprintf(norm, sizeof(norm), "now %c %s",
			 w->offset_ns < 0 ? '-' : '+',
			 dur(w->offset_ns < 0 ? -w->offset_ns : w->offset_ns,
			     d, sizeof(d)));
	else
		iso_in_zone(w->ns, zone, norm, sizeof(norm));
	if (calendar_format_local(w->ns, zone, loc, sizeof(loc)) < 0)
		snprintf(loc, sizeof(loc), "-");
	if (x->json) {
		jw_begin(&jwr);
		jw_str(&jwr, "kind", "time");
		jw_str(&jwr, "input", text);
		jw_str(&jwr, "normalized", norm);
		jw_bool(&jwr, "relative", w->relative);
		jw_str(&jwr, "zone", zone);
		jw_str(&jwr, "local", loc);
		jw_time(&jwr, "utc", w->ns, false);
		jw_i64(&jwr, "realtime_ns", w->ns);
		jw_end(&jwr);
		return;
	}
	kv("kind", "time");
	kv_bytes("input", text, strlen(text));
	kv("normalized", "%s", norm);
	kv("local", "%s", loc);
	kv_bytes("zone", zone_label(zone), strlen(zone_label(zone)));
	kv("utc", "%s", iso(w->ns, true, t, sizeof(t)));
	kv("realtime_ns", "%" PRId64, w->ns);
}

/* parse, as a duration (later, --every). */
static void
parse_print_duration(const struct ctl *x, const char *text, int64_t ns)
{
	char d[TIMEFMT_DURATION_MAX];
	struct jw w;

	if (x->json) {
		jw_begin(&w);
		jw_str(&w, "kind", "duration");
		jw_str(&w, "input", text);
		jw_str(&w, "normalized", dur(ns, d, sizeof(d)));
		jw_i64(&w, "ns", ns);
		jw_end(&w);
		return;
	}
	kv("kind", "duration");
	kv_bytes("input", text, strlen(text));
	kv("normalized", "%s", dur(ns, d, sizeof(d)));
	kv("ns", "%" PRId64, ns);
}

/* parse, as a calendar expression (on, next): its next occurrences as
 * `next` prints them. Returns 0 or an exit status. */
static int
parse_print_calendar(const struct ctl *x, const char *text,
		     const struct calendar *cal)
{
	const char *zone = calendar_zone(cal) != NULL ? calendar_zone(cal)
						      : x->tz;
	char norm[CALENDAR_FORMAT_MAX], loc[CALENDAR_LOCAL_MAX];
	char utc[CALENDAR_LOCAL_MAX];
	int64_t after_ns = x->after_ns, ns;
	struct jw w, in;
	uint64_t i;
	int r = 0;

	if (calendar_format(cal, norm, sizeof(norm)) < 0)
		snprintf(norm, sizeof(norm), "?");
	if (x->json) {
		jw_begin(&w);
		jw_str(&w, "kind", "calendar");
		jw_str(&w, "input", text);
		jw_str(&w, "normalized", norm);
		jw_str(&w, "syntax", calendar_is_cron(cal) ? "cron" : "systemd");
		jw_str(&w, "zone", zone);
		jw_key(&w, "next");
		putchar('[');
	} else {
		kv("kind", "calendar");
		kv_bytes("input", text, strlen(text));
		kv_bytes("normalized", norm, strlen(norm));
		kv("syntax", "%s", calendar_is_cron(cal) ? "cron" : "systemd");
		kv_bytes("zone", zone_label(zone), strlen(zone_label(zone)));
	}
	for (i = 0; i < x->iterations; i++) {
		r = calendar_next(cal, zone, x->gap, x->overlap, after_ns, &ns);
		if (r == -ENOENT) {
			r = 0;
			if (i == 0 && !x->json)
				kv("next", "never");
			break;
		}
		if (r < 0 ||
		    calendar_format_local(ns, zone, loc, sizeof(loc)) < 0 ||
		    calendar_format_local(ns, "UTC", utc, sizeof(utc)) < 0)
			break;
		if (x->json) {
			if (i > 0)
				putchar(',');
			jw_begin(&in);
			jw_str(&in, "local", loc);
			jw_time(&in, "utc", ns, false);
			jw_i64(&in, "realtime_ns", ns);
			jw_close(&in);
		} else {
			kv("next", "%s %s", loc, utc);
		}
		after_ns = ns;
	}
	if (x->json) {
		putchar(']');
		jw_end(&w);
	}
	if (r < 0) {
		ctl_warnx("cannot compute '%s': %s", text, strerror(-r));
		return EXIT_USAGE;
	}
	return 0;
}

/*
 * parse TEXT: how evctl reads TEXT, without the daemon: as a time (what
 * `at` takes), as a duration (`later`, --every) and as a calendar
 * expression (`on`, `next`), each reading that succeeds as one block
 * (a blank line between blocks; --json: one object each). Exit 2 when
 * none does, with the calendar parser's reason.
 */
static int
verb_parse(struct ctl *x)
{
	const char *text = x->args[0];
	char err[CALENDAR_ERROR_MAX];
	struct timefmt_when w;
	struct calendar *cal;
	int64_t ns;
	int n = 0, r;

	if (parse_when(x, text, &w) == 0) {
		parse_print_time(x, text, &w);
		n++;
	}
	if (timefmt_parse_duration_words(text, &ns) == 0) {
		if (n++ > 0 && !x->json)
			putchar('\n');
		parse_print_duration(x, text, ns);
	}
	r = calendar_parse(text, &cal, err, sizeof(err));
	if (r == 0) {
		if (n++ > 0 && !x->json)
			putchar('\n');
		r = parse_print_calendar(x, text, cal);
		calendar_free(cal);
		if (r != 0)
			return r;
	}
	if (n == 0)
		return usage_error("'%s' is not a time, a duration or a "
				   "calendar expression (as a calendar "
				   "expression: %s; see 'evctl help time' and "
				   "'evctl help on')",
				   text, err);
	return check_stdout();
}

static const char help_on[] =
    "evctl on 'EXPR' schedules a calendar timer: it fires at every "
    "occurrence of\n"
    "EXPR on the wall clock, in a time zone, until it is cancelled (or "
    "after\n"
    "--count N fires). 'evctl next EXPR' lists the next occurrences and\n"
    "'evctl parse EXPR' shows how EXPR was read, without scheduling "
    "anything.\n"
    "\n"
    "cron syntax (crontab(5)): five fields, minute hour day-of-month "
    "month\n"
    "day-of-week.\n"
    "  '*/15 9-17 * * Mon-Fri'   every 15 minutes, 09:00 to 17:45, on "
    "weekdays\n"
    "  '0 9 * * 1-5'             09:00 on weekdays\n"
    "  '30 2 1 * *'              02:30 on the first of each month\n"
    "  '0 0 1,15 * *'            midnight on the 1st and the 15th\n"
    "  @hourly @daily @midnight @weekly @monthly @yearly @annually\n"
    "  Each field: '*', lists a,b, ranges a-b, steps */n or a-b/n; month "
    "and\n"
    "  weekday names (Jan, Mon; 0 and 7 are Sunday). When day-of-month and\n"
    "  day-of-week are both restricted, a day matching either matches.\n"
    "\n"
    "systemd OnCalendar= syntax (systemd.time(7)):\n"
    "  [WEEKDAYS] [[YEAR-]MONTH-DAY] [HH:MM[:SS]] [ZONE]\n"
    "  'Mon..Fri *-*-* 09:00:00'   09:00 on weekdays\n"
    "  'Sat,Sun 10:00'             10:00 at weekends\n"
    "  '*:0/15'                    every 15 minutes\n"
    "  '*:*:0/10'                  every 10 seconds\n"
    "  '2026-*-01 00:00:00'        midnight on the first of each month "
    "of 2026\n"
    "  '*-*~1 18:00'               18:00 on the last day of each month\n"
    "  'Mon *-*-* 09:00 Europe/Berlin'   a zone in EXPR wins over --tz\n"
    "  minutely hourly daily weekly monthly yearly annually quarterly\n"
    "  semiannually; ranges a..b, lists a,b, repetitions start/step, '~' "
    "for\n"
    "  days from the end of the month, fractions of a second.\n"
    "\n"
    "Time zone: --tz ZONE, an IANA name (Europe/Berlin, America/New_York, "
    "UTC);\n"
    "default: evd's zone. Each occurrence is computed in the zone when it "
    "is\n"
    "due, so changes of the zone's rules, of the system zone and of the "
    "wall\n"
    "clock (NTP steps, manual changes) are followed: 09:00 stays 09:00.\n"
    "\n"
    "Daylight saving time, per timer, stored with it:\n"
    "  --dst-gap shift|skip|utc\n"
    "      a local time the clock jumps over (spring forward: 02:30 on the "
    "last\n"
    "      Sunday of March in Europe). shift (default): at the first "
    "instant\n"
    "      after the gap (03:00); skip: not that day; utc: with the offset "
    "in\n"
    "      force before the gap (03:30).\n"
    "  --dst-overlap first|second|both\n"
    "      a local time that occurs twice (fall back): the first (default), "
    "the\n"
    "      second, or both.\n"
    "  Interval timers (--every) run on elapsed time: DST never moves "
    "them.\n"
    "\n"
    "Also for on (and soon/later/at with --every):\n"
    "  --count N                  end after N fires (default: until "
    "cancelled)\n"
    "  --randomized-delay DURATION  move each fire later by a random "
    "amount\n"
    "                             below DURATION (spreads load, as "
    "systemd's\n"
    "                             RandomizedDelaySec=)\n"
    "  --accuracy DURATION        evd may fire up to DURATION late, never "
    "early,\n"
    "                             to serve several timers in one wake-up\n"
    "  --overlap skip|queue-one|allow|terminate-previous\n"
    "                             a hook whose previous run still runs: "
    "do not\n"
    "                             start (default; the skip is recorded), "
    "start\n"
    "                             when it ends, start anyway, or stop it "
    "first\n"
    "\n"
    "pause ID stops a timer from firing until resume ID; trigger ID fires "
    "it\n"
    "once now without changing its schedule. get ID shows the next "
    "occurrence\n"
    "(due), the expression, zone, policies and the recent runs.\n"
    "\n"
    "Examples:\n"
    "  evctl on '0 9 * * Mon-Fri' --tz Europe/Berlin --shell "
    "'~/bin/report'\n"
    "  evctl on 'Mon..Fri *-*-* 09:00:00' --channel standup --payload "
    "standup\n"
    "  evctl on '*:0/15' --channel poll --randomized-delay 30s\n"
    "  evctl on daily --count 7 --exec -- /usr/bin/logger daily\n"
    "  evctl next '*-*~1 18:00' --tz America/New_York -n 3\n";

static const char help_time[] =
    "TIME (at, watch --reschedule-at, --after, parse):\n"
    "  2026-12-01T09:00:00Z, 2026-12-01T09:00:00+01:00\n"
    "                        ISO 8601 with an offset: exactly that "
    "instant\n"
    "  '2026-12-01 09:00', 2026-12-01T09:00, 2026-12-01\n"
    "                        local time (a date alone: its midnight)\n"
    "  '2026-12-01 09:00 Europe/Paris'\n"
    "                        local time in that zone (any form below may "
    "end\n"
    "                        with a zone: 'tomorrow 10:00 UTC')\n"
    "  @1796115600           Unix seconds\n"
    "  now, +5m, -1h, 'now + 2 hours', 'in 5 minutes', 'in 1 hour and 30 "
    "minutes'\n"
    "                        from now\n"
    "  today, tomorrow, yesterday, 'tomorrow 10:00', 'today 18:00', "
    "'tomorrow noon'\n"
    "                        that day (at 00:00 without a time), even if "
    "past\n"
    "  noon, midnight, 10:00, 6:30pm, 9am\n"
    "                        the next such time: today, or tomorrow if "
    "past\n"
    "  monday, 'mon 09:00', 'next friday 17:00'\n"
    "                        the next such day whose time is ahead (today "
    "if\n"
    "                        it still is)\n"
    "  Local times are in --tz ZONE if given, else $TZ or the system's "
    "zone.\n"
    "  One that does not exist (DST gap) is the first instant after the "
    "gap;\n"
    "  one that occurs twice (DST overlap) is the first.\n"
    "\n"
    "DURATION (later, --every, --timeout, ...):\n"
    "  250ms, 5s, 90 (seconds), 1.5h, 1h30m, 2d, 1w (units ns us ms s m "
    "h d w)\n"
    "  later, --every, --randomized-delay, --accuracy and --reschedule-in "
    "also\n"
    "  take words: '5 minutes', '1 hour 30 minutes', 'an hour', 'in 10 "
    "seconds'.\n"
    "\n"
    "CALENDAR (on, next): see 'evctl help on'.\n"
    "\n"
    "Check how evctl reads any of them, without scheduling: evctl parse "
    "'TEXT'\n";

/* help [TOPIC]: the general help, a topic, or a verb's synopsis. */
static int
verb_help(struct ctl *x)
{
	const char *topic = x->nargs > 0 ? x->args[0] : NULL;
	size_t i;

	if (topic == NULL) {
		help();
		printf("\nHelp topics: evctl help on (calendar syntax), evctl "
		       "help time (times\nand durations), evctl help VERB.\n");
	} else if (strcmp(topic, "on") == 0 || strcmp(topic, "calendar") == 0 ||
		   strcmp(topic, "next") == 0) {
		fputs(help_on, stdout);
	} else if (strcmp(topic, "time") == 0 ||
		   strcmp(topic, "duration") == 0 ||
		   strcmp(topic, "parse") == 0) {
		fputs(help_time, stdout);
	} else {
		for (i = 0; i < NVERBS; i++)
			if (strcmp(verbs[i].name, topic) == 0)
				break;
		if (i == NVERBS)
			return usage_error("no help on '%s' (topics: on, time, "
					   "or a verb)",
					   topic);
		printf("usage: evctl %s\n", verbs[i].synopsis);
	}
	return check_stdout();
}

/* ---- command line ---- */

static void
help(void)
{
	size_t i;

	printf("Usage: evctl [OPTIONS] VERB [ARGS...]\n"
	       "\n"
	       "Ask evd, the timer daemon, to call back later, and manage "
	       "its timers.\n"
	       "\n"
	       "Verbs:\n");
	for (i = 0; i < NVERBS; i++)
		printf("  %s\n", verbs[i].synopsis);
	printf(
	    "\n"
	    "Options (anywhere on the line):\n"
	    "  --socket PATH      the daemon's socket (default: $EVD_SOCKET, "
	    "else\n"
	    "                     $XDG_RUNTIME_DIR/evd.sock, or "
	    "/run/evd/evd.sock as root)\n"
	    "  --json             one JSON object per output line\n"
	    "  --timeout DURATION watch, wait, and soon/later/at without "
	    "--channel or a\n"
	    "                     hook: how long to wait (default: forever); "
	    "other verbs:\n"
	    "                     bound on each request (default: 30s). "
	    "Never the hook's\n"
	    "                     own time limit: that is --exec-timeout\n"
	    "  --channel NAME     fire into this channel (durable); without "
	    "it the fire\n"
	    "                     comes back to evctl, which waits for it and "
	    "prints it\n"
	    "  --payload TEXT     bytes delivered with the fire\n"
	    "  --key KEY          idempotency key: the same key returns the "
	    "same timer\n"
	    "  --clock CLOCK      monotonic (later's default), boottime, "
	    "realtime (at's\n"
	    "                     default); 'at' on monotonic/boottime takes "
	    "seconds as\n"
	    "                     'evctl time' prints them\n"
	    "  --count N          watch: exit after N fires; soon/later/at "
	    "--every and on:\n"
	    "                     the timer ends after N fires\n"
	    "  --visibility DURATION\n"
	    "                     watch: how long a fire may stay unacked "
	    "before it is\n"
	    "                     redelivered (default: the daemon's, 30s)\n"
	    "  --reschedule-in DURATION, --reschedule-at TIME\n"
	    "                     watch: ack each fire and, in the same "
	    "commit, schedule\n"
	    "                     its timer again (the trampoline: never lost "
	    "or doubled)\n"
	    "  --tz ZONE          at, parse: the zone of a local TIME; on, "
	    "next: the\n"
	    "                     calendar's zone (default: $TZ, else the "
	    "system's; for\n"
	    "                     on, evd's)\n"
	    "  --requeue          dead: put the dead message FIRE_ID (all "
	    "without it)\n"
	    "                     back in the channel's queue; prints how "
	    "many\n"
	    "  --purge            dead: delete the dead message FIRE_ID (all "
	    "without it)\n"
	    "                     for good; prints how many\n"
	    "  --uid UID, --gid GID\n"
	    "                     channel grant/revoke: whose rights\n"
	    "  --subscribe, --publish\n"
	    "                     channel grant/revoke: which rights "
	    "(revoke without\n"
	    "                     either: both)\n"
	    "  -h, --help         this help\n"
	    "  --version          the version\n"
	    "\n"
	    "TIMER OPTIONS (soon, later, at):\n"
	    "  --misfire fire|skip|all\n"
	    "                     a deadline missed while evd was down: fire "
	    "once, late\n"
	    "                     (default), do not fire, or fire every missed "
	    "occurrence\n"
	    "  --delivery at-least-once|at-most-once\n"
	    "                     channel fires: redelivered until acked "
	    "(default), or\n"
	    "                     removed when delivered\n"
	    "  --max-attempts N   channel fires: deliveries without an ack "
	    "before the\n"
	    "                     message goes to the dead-letter list "
	    "(default: evd's)\n"
	    "  --downtime counts|paused\n"
	    "                     a relative deadline across a reboot: keep "
	    "its wall-clock\n"
	    "                     instant (default), or do not count the "
	    "time down\n"
	    "\n"
	    "REPEAT (soon, later, at; on takes all but --every):\n"
	    "  --every DURATION   fire again every DURATION after the first "
	    "fire, each\n"
	    "                     deadline the previous one plus DURATION (no "
	    "drift)\n"
	    "  --count N          end after N fires (default: until "
	    "cancelled)\n"
	    "  --randomized-delay DURATION\n"
	    "                     move each deadline later by a random amount "
	    "below it\n"
	    "  --accuracy DURATION\n"
	    "                     evd may fire up to this late (never early) "
	    "to batch\n"
	    "                     wake-ups\n"
	    "  --overlap skip|queue-one|allow|terminate-previous\n"
	    "                     a repeating hook whose previous run still "
	    "runs\n"
	    "  Without --channel or a hook, evctl prints each fire until "
	    "--count.\n"
	    "\n"
	    "HOOK (soon, later, at, on): run a command as you when the timer "
	    "fires; such\n"
	    "timers are durable, so evctl prints the id and exits at once:\n"
	    "  --exec -- PROG [ARGS...]\n"
	    "                     everything after '--' is the command, run "
	    "without a\n"
	    "                     shell (PROG: a path, or looked up in "
	    "/usr/local/bin:\n"
	    "                     /usr/bin:/bin)\n"
	    "  --shell 'CMD'      run /bin/sh -c CMD instead\n"
	    "  --cwd DIR          its working directory (default: your "
	    "home)\n"
	    "  --env KEY=VALUE    add to its environment (repeatable); it "
	    "also gets\n"
	    "                     EVD_TIMER_ID, EVD_FIRE_ID, EVD_DUE_NS, "
	    "EVD_LATENESS_NS\n"
	    "  --exec-timeout DURATION\n"
	    "                     kill it (SIGTERM, then SIGKILL) after this "
	    "long\n"
	    "                     (default: no limit)\n"
	    "  --property KEY=VALUE, -p KEY=VALUE\n"
	    "                     a job setting as systemd-run -p takes it "
	    "(repeatable;\n"
	    "                     the daemon refuses keys outside its "
	    "whitelist)\n"
	    "  --retry N          run a failed hook again up to N more times\n"
	    "  --retry-delay DURATION\n"
	    "                     before the first retry (default 1s; "
	    "doubled for each\n"
	    "                     next one, at most 1h)\n"
	    "  --on-failure CHANNEL\n"
	    "                     when it fails for good, a message (JSON: "
	    "ids, outcome,\n"
	    "                     exit code, output tail) goes to CHANNEL\n"
	    "  --pass-env NAME    copy NAME=value from evctl's environment "
	    "(repeatable)\n"
	    "  The payload (--payload) is its standard input.\n"
	    "\n"
	    "wait ID waits until the timer's fire is done and prints how it "
	    "went\n"
	    "(outcome, exit_code or signal, duration), then the hook's last "
	    "output:\n"
	    "its stdout on stdout, its stderr on stderr. Its exit status is "
	    "the hook's;\n"
	    "128+N if signal N killed it; 124 if it was killed at its "
	    "timeout; 1 if it\n"
	    "could not start, the timer was cancelled, the daemon refused, or "
	    "--timeout\n"
	    "ran out; 0 for a timer without a hook once its fire is done.\n"
	    "\n"
	    "channel show CHANNEL prints a channel's owner, counters and "
	    "grants (its\n"
	    "owner, root and grantees may look); channel grant/revoke, for "
	    "its owner\n"
	    "or root, change a uid's or gid's rights and print the result.\n"
	    "\n"
	    "dead CHANNEL lists the channel's dead letters (messages that "
	    "reached\n"
	    "max-attempts), one line each as watch prints fires. get ID shows "
	    "the\n"
	    "timer's state, options, hook and history, one 'run:' line per "
	    "fire,\n"
	    "newest first (hooks: with exit=, signal=, duration=).\n"
	    "\n"
	    "on EXPR schedules a calendar timer (cron or OnCalendar= syntax; "
	    "'evctl help on').\n"
	    "pause ID stops a timer until resume ID; trigger ID fires it once "
	    "now, its\n"
	    "schedule unchanged; retry ID runs an exec timer's command once "
	    "more, now,\n"
	    "even when it finished; each prints 'ID STATE DUE'.\n"
	    "parse TEXT prints how a time, duration or calendar expression is "
	    "read\n"
	    "(normalised, in UTC and local time, next occurrences), without "
	    "the daemon.\n"
	    "\n"
	    "next prints when a calendar expression elapses, without the "
	    "daemon: cron\n"
	    "('*/15 9-17 * * Mon-Fri', '@daily') or systemd OnCalendar= "
	    "syntax\n"
	    "('Mon..Fri *-*-* 09:00:00', 'daily', '*:0/15', "
	    "'*-*~1 18:00 Europe/Berlin').\n"
	    "  --tz ZONE          the zone when the expression names none "
	    "(default: $TZ,\n"
	    "                     else the system's)\n"
	    "  -n N               how many occurrences (default: 5)\n"
	    "  --after TIME       from this instant on (default: now)\n"
	    "  --dst-gap shift|skip|utc\n"
	    "                     a local time the clock skips: at the end "
	    "of the gap\n"
	    "                     (default), not that day, or with the "
	    "offset before it\n"
	    "  --dst-overlap first|second|both\n"
	    "                     a local time that occurs twice: the first "
	    "(default),\n"
	    "                     the second, or both\n"
	    "\n"
	    "DURATION: 250ms, 5s, 90, 1.5h, 1h30m, 2d (units ns us ms s m h "
	    "d w);\n"
	    "      later and --every also '5 minutes', '1 hour 30 minutes'.\n"
	    "TIME: 2026-12-01T09:00:00Z, 2026-12-01T09:00:00+01:00, "
	    "'2026-12-01 09:00'\n"
	    "      (local time), '2026-12-01 09:00 Europe/Paris', @1796115600 "
	    "(Unix\n"
	    "      seconds), now, +5m, 'now + 2 hours', 'in 5 minutes', "
	    "'tomorrow 10:00',\n"
	    "      noon, midnight, 'monday 09:00' ('evctl help time').\n"
	    "\n"
	    "Exit status: 0 success, 1 the daemon refused or a wait timed "
	    "out,\n"
	    "2 usage error, 3 the daemon cannot be reached (wait: see "
	    "above).\n");
}

struct option_def {
	const char *name;
	bool has_arg;
	uint64_t bit; /* 0: global */
};

static const struct option_def options[] = {
    {"--socket", true, 0},
    {"--json", false, 0},
    {"--timeout", true, 0},
    {"--help", false, 0},
    {"-h", false, 0},
    {"--version", false, 0},
    {"--channel", true, OPT_CHANNEL},
    {"--payload", true, OPT_PAYLOAD},
    {"--key", true, OPT_KEY},
    {"--clock", true, OPT_CLOCK},
    {"--count", true, OPT_COUNT},
    {"--misfire", true, OPT_MISFIRE},
    {"--delivery", true, OPT_DELIVERY},
    {"--max-attempts", true, OPT_MAX_ATTEMPTS},
    {"--downtime", true, OPT_DOWNTIME},
    {"--visibility", true, OPT_VISIBILITY},
    {"--requeue", false, OPT_REQUEUE},
    {"--purge", false, OPT_PURGE},
    {"--exec", false, OPT_EXEC},
    {"--shell", true, OPT_SHELL},
    {"--cwd", true, OPT_CWD},
    {"--env", true, OPT_ENV},
    {"--exec-timeout", true, OPT_EXEC_TIMEOUT},
    {"--property", true, OPT_PROPERTY},
    {"-p", true, OPT_PROPERTY},
    {"--retry", true, OPT_RETRY},
    {"--retry-delay", true, OPT_RETRY_DELAY},
    {"--on-failure", true, OPT_ON_FAILURE},
    {"--pass-env", true, OPT_PASS_ENV},
    {"--uid", true, OPT_UID},
    {"--gid", true, OPT_GID},
    {"--subscribe", false, OPT_SUBSCRIBE},
    {"--publish", false, OPT_PUBLISH},
    {"--tz", true, OPT_TZ},
    {"-n", true, OPT_ITERATIONS},
    {"--after", true, OPT_AFTER},
    {"--dst-gap", true, OPT_DST_GAP},
    {"--dst-overlap", true, OPT_DST_OVERLAP},
    {"--every", true, OPT_EVERY},
    {"--overlap", true, OPT_OVERLAP},
    {"--randomized-delay", true, OPT_RANDOMIZED_DELAY},
    {"--accuracy", true, OPT_ACCURACY},
    {"--reschedule-in", true, OPT_RESCHEDULE},
    {"--reschedule-at", true, OPT_RESCHEDULE},
};

/* Applies one option; returns 0, an exit status, or -1 for "exit 0". */
static int
set_option(struct ctl *x, const struct option_def *o, const char *v)
{
	struct timefmt_when w;
	uint64_t n;
	int k;

	x->opts_seen |= o->bit;
	if (strcmp(o->name, "--socket") == 0) {
		x->socket = v;
	} else if (strcmp(o->name, "--json") == 0) {
		x->json = true;
	} else if (strcmp(o->name, "--timeout") == 0) {
		if (timefmt_parse_duration(v, &x->timeout_ns) < 0)
			return usage_error("invalid duration '%s' for "
					   "--timeout",
					   v);
		x->has_timeout = true;
	} else if (strcmp(o->name, "--help") == 0 ||
		   strcmp(o->name, "-h") == 0) {
		help();
		return -1;
	} else if (strcmp(o->name, "--version") == 0) {
		printf("evctl %s\n", EVD_VERSION);
		return -1;
	} else if (o->bit == OPT_CHANNEL) {
		if ((x->channel = channel_arg(v, 2)) == NULL)
			return EXIT_USAGE;
	} else if (o->bit == OPT_PAYLOAD) {
		x->payload = v;
	} else if (o->bit == OPT_KEY) {
		x->key = v;
	} else if (o->bit == OPT_CLOCK) {
		if (strcmp(v, "monotonic") != 0 && strcmp(v, "boottime") != 0 &&
		    strcmp(v, "realtime") != 0)
			return usage_error("unknown clock '%s' (monotonic, "
					   "boottime, realtime)",
					   v);
		x->clock_name = v;
	} else if (o->bit == OPT_COUNT) {
		if (!parse_u64(v, &x->count) || x->count == 0)
			return usage_error("--count takes a positive integer, "
					   "not '%s'",
					   v);
	} else if (o->bit == OPT_MISFIRE) {
		k = name_index(misfire_names, 3, v);
		if (k < 0)
			return usage_error("unknown misfire policy '%s' (fire, "
					   "skip, all)",
					   v);
		x->topts.misfire = k;
	} else if (o->bit == OPT_DELIVERY) {
		k = name_index(delivery_names, 2, v);
		if (k < 0)
			return usage_error("unknown delivery '%s' "
					   "(at-least-once, at-most-once)",
					   v);
		x->topts.delivery = k;
	} else if (o->bit == OPT_DOWNTIME) {
		k = name_index(downtime_names, 2, v);
		if (k < 0)
			return usage_error("unknown downtime policy '%s' "
					   "(counts, paused)",
					   v);
		x->topts.downtime = k;
	} else if (o->bit == OPT_MAX_ATTEMPTS) {
		if (!parse_u64(v, &n) || n == 0 || n > UINT32_MAX)
			return usage_error("--max-attempts takes a positive "
					   "integer, not '%s'",
					   v);
		x->topts.max_attempts = (uint32_t)n;
	} else if (o->bit == OPT_VISIBILITY) {
		if (timefmt_parse_duration(v, &x->visibility_ns) < 0)
			return usage_error("invalid duration '%s' for "
					   "--visibility",
					   v);
	} else if (o->bit == OPT_SHELL) {
		x->shell = v;
	} else if (o->bit == OPT_CWD) {
		x->cwd = v;
	} else if (o->bit == OPT_ENV) {
		if (strchr(v, '=') == NULL || v[0] == '=')
			return usage_error("--env takes KEY=VALUE, not '%s'",
					   v);
		/* x->env has room for every argument (main). */
		x->env[x->nenv++] = v;
	} else if (o->bit == OPT_PROPERTY) {
		/* Passed through: the daemon judges the key (its whitelist
		 * is its own business). */
		if (strchr(v, '=') == NULL || v[0] == '=')
			return usage_error("--property takes KEY=VALUE, not "
					   "'%s'",
					   v);
		x->props[x->nprops++] = v;
	} else if (o->bit == OPT_RETRY) {
		if (!parse_u64(v, &n) || n > UINT32_MAX)
			return usage_error("--retry takes a count, not '%s'",
					   v);
		x->retry = (uint32_t)n;
	} else if (o->bit == OPT_RETRY_DELAY) {
		if (timefmt_parse_duration_words(v, &x->retry_delay_ns) < 0 ||
		    x->retry_delay_ns <= 0)
			return usage_error("--retry-delay takes a positive "
					   "duration (10s, 5m), not '%s'",
					   v);
	} else if (o->bit == OPT_ON_FAILURE) {
		if ((x->on_failure = channel_arg(v, 1)) == NULL)
			return EXIT_USAGE;
	} else if (o->bit == OPT_PASS_ENV) {
		const char *val = getenv(v);
		char *e;

		if (v[0] == '\0' || strchr(v, '=') != NULL)
			return usage_error("--pass-env takes a variable name, "
					   "not '%s'",
					   v);
		if (val == NULL)
			return usage_error("--pass-env %s: no such variable "
					   "in the environment",
					   v);
		if ((e = malloc(strlen(v) + strlen(val) + 2)) == NULL)
			return usage_error("out of memory");
		sprintf(e, "%s=%s", v, val);
		x->passed[x->npassed++] = e;
		x->env[x->nenv++] = e;
	} else if (o->bit == OPT_EXEC_TIMEOUT) {
		if (timefmt_parse_duration(v, &x->exec_timeout_ns) < 0)
			return usage_error("invalid duration '%s' for "
					   "--exec-timeout",
					   v);
	} else if (o->bit == OPT_UID || o->bit == OPT_GID) {
		if (!parse_u64(v, &n) || n > UINT32_MAX)
			return usage_error("%s takes a numeric id, not '%s'",
					   o->name, v);
		x->grant_id = (uint32_t)n;
		if (o->bit == OPT_UID)
			x->has_uid = true;
		else
			x->has_gid = true;
	} else if (o->bit == OPT_TZ) {
		if (!calendar_zone_valid(v))
			return usage_error("unknown time zone '%s' for --tz "
					   "(see /usr/share/zoneinfo)",
					   v);
		x->tz = v;
	} else if (o->bit == OPT_ITERATIONS) {
		if (!parse_u64(v, &x->iterations) || x->iterations == 0 ||
		    x->iterations > 100000)
			return usage_error("-n takes an integer from 1 to "
					   "100000, not '%s'",
					   v);
	} else if (o->bit == OPT_AFTER) {
		/* Read in main, once --tz is known. */
		x->after_text = v;
	} else if (o->bit == OPT_EVERY) {
		if (timefmt_parse_duration_words(v, &x->rep.every_ns) < 0 ||
		    x->rep.every_ns <= 0)
			return usage_error("--every takes a positive duration "
					   "(10s, 5m, '2 hours'), not '%s'",
					   v);
	} else if (o->bit == OPT_OVERLAP) {
		k = name_index(run_overlap_names, 4, v);
		if (k < 0)
			return usage_error("unknown overlap policy '%s' (skip, "
					   "queue-one, allow, "
					   "terminate-previous)",
					   v);
		x->rep.overlap = k;
	} else if (o->bit == OPT_RANDOMIZED_DELAY || o->bit == OPT_ACCURACY) {
		if (timefmt_parse_duration_words(
			v, o->bit == OPT_ACCURACY
			       ? &x->rep.accuracy_ns
			       : &x->rep.randomized_delay_ns) < 0)
			return usage_error("invalid duration '%s' for %s", v,
					   o->name);
	} else if (o->bit == OPT_RESCHEDULE) {
		if ((x->reschedule_in || x->reschedule_at != NULL))
			return usage_error("--reschedule-in and "
					   "--reschedule-at exclude each "
					   "other");
		if (strcmp(o->name, "--reschedule-in") == 0) {
			if (timefmt_parse_duration_words(
				v, &x->reschedule_ns) < 0)
				return usage_error("invalid duration '%s' "
						   "for --reschedule-in",
						   v);
			x->reschedule_in = true;
		} else {
			/* Checked now, read again at each ack. */
			if (parse_when(x, v, &w) < 0)
				return usage_error("invalid time '%s' for "
						   "--reschedule-at",
						   v);
			x->reschedule_at = v;
		}
	} else if (o->bit == OPT_DST_GAP) {
		if (calendar_gap_from_name(v, &x->gap) < 0)
			return usage_error("unknown --dst-gap policy '%s' "
					   "(shift, skip, utc)",
					   v);
	} else if (o->bit == OPT_DST_OVERLAP) {
		if (calendar_overlap_from_name(v, &x->overlap) < 0)
			return usage_error("unknown --dst-overlap policy '%s' "
					   "(first, second, both)",
					   v);
	}
	return 0;
}

/* Fills x from argv. Returns 0, an exit status, or -1 for "exit 0". */
static int
parse_args(struct ctl *x, int argc, char **argv, char **operands)
{
	bool options_done = false;
	const struct option_def *o;
	const char *a, *eq, *v;
	const char *verb = NULL;
	size_t i, namelen;
	int k, r, nargs;

	for (k = 1; k < argc; k++) {
		a = argv[k];
		/* "-5s" is a (bad) operand, not an option: no option
		 * starts with a digit. */
		if (options_done || a[0] != '-' || a[1] == '\0' ||
		    (a[1] >= '0' && a[1] <= '9')) {
			if (verb == NULL)
				verb = a;
			else
				operands[x->nargs++] = argv[k];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			options_done = true;
			/* With --exec, what follows is the hook's argv. */
			x->exec_at = x->nargs;
			continue;
		}
		eq = strchr(a, '=');
		namelen = eq != NULL ? (size_t)(eq - a) : strlen(a);
		o = NULL;
		for (i = 0; i < sizeof(options) / sizeof(options[0]); i++)
			if (strlen(options[i].name) == namelen &&
			    strncmp(options[i].name, a, namelen) == 0)
				o = &options[i];
		if (o == NULL)
			return usage_error("unknown option '%s'", a);
		if (!o->has_arg && eq != NULL)
			return usage_error("option %s takes no value", o->name);
		v = NULL;
		if (o->has_arg) {
			if (eq != NULL)
				v = eq + 1;
			else if (k + 1 < argc)
				v = argv[++k];
			else
				return usage_error("option %s needs a value",
						   o->name);
		}
		r = set_option(x, o, v);
		if (r != 0)
			return r;
	}

	if (verb == NULL)
		return usage_error("no verb given");
	for (i = 0; i < NVERBS; i++)
		if (strcmp(verbs[i].name, verb) == 0)
			x->verb = &verbs[i];
	if (x->verb == NULL)
		return usage_error("unknown verb '%s'", verb);
	if (x->opts_seen & ~x->verb->opts) {
		for (i = 0; i < sizeof(options) / sizeof(options[0]); i++)
			if (options[i].bit & x->opts_seen & ~x->verb->opts)
				return usage_error("option %s does not apply "
						   "to '%s'",
						   options[i].name, verb);
	}
	nargs = x->nargs;
	if (x->opts_seen & OPT_EXEC) {
		if (x->exec_at < 0 || x->exec_at == x->nargs)
			return usage_error("--exec needs the command after "
					   "'--': --exec -- PROG [ARGS...]");
		nargs = x->exec_at;
	}
	if ((x->opts_seen & OPT_EXEC) && (x->opts_seen & OPT_SHELL))
		return usage_error("--exec and --shell exclude each other");
	if ((x->opts_seen & (OPT_EXEC | OPT_SHELL)) &&
	    (x->opts_seen & OPT_CHANNEL))
		return usage_error("a timer fires into a channel or runs a "
				   "hook, not both");
	if ((x->opts_seen & OPTS_EXEC_MORE) &&
	    !(x->opts_seen & (OPT_EXEC | OPT_SHELL)))
		return usage_error("--cwd, --env, --exec-timeout, --property, "
				   "--retry, --retry-delay, --on-failure and "
				   "--pass-env go with --exec or --shell");
	if ((x->opts_seen & OPT_RETRY_DELAY) && x->retry == 0)
		return usage_error("--retry-delay goes with --retry N (N > 0)");
	if (nargs < x->verb->min_args ||
	    (x->verb->max_args >= 0 && nargs > x->verb->max_args))
		return usage_error("usage: evctl %s", x->verb->synopsis);
	x->args = operands;
	return 0;
}

/* Verbs whose --timeout bounds a wait (for fires, or for a hook), not
 * each request. */
static bool
waits_for_fires(const struct ctl *x)
{
	if (x->verb->run == verb_watch || x->verb->run == verb_wait)
		return true;
	return (x->verb->opts & OPT_CHANNEL) && x->verb->run != verb_list &&
	       x->channel == NULL && !has_hook(x);
}

/*
 * Opens fds 0-2 if the caller closed them, so that the daemon's socket
 * cannot become "stdout" and receive our output. Read-only on purpose:
 * writing our results then fails, and check_stdout() reports it.
 */
static void
guard_std_fds(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", O_RDONLY) < 0)
			break;
}

/* Verbs that need no daemon. */
static bool
local_verb(const struct ctl *x)
{
	return x->verb->run == verb_next || x->verb->run == verb_parse ||
	       x->verb->run == verb_help;
}

static void
free_hook_args(struct ctl *x)
{
	size_t i;

	for (i = 0; i < x->npassed; i++)
		free(x->passed[i]);
	free(x->passed);
	free(x->props);
	free(x->env);
}

int
main(int argc, char **argv)
{
	struct timefmt_when when;
	struct ctl x = {0};
	char **operands;
	int r;

	guard_std_fds();
	x.exec_at = -1;
	operands = calloc((size_t)argc + 1, sizeof(*operands));
	x.env = calloc((size_t)argc + 1, sizeof(*x.env));
	x.props = calloc((size_t)argc + 1, sizeof(*x.props));
	x.passed = calloc((size_t)argc + 1, sizeof(*x.passed));
	if (operands == NULL || x.env == NULL || x.props == NULL ||
	    x.passed == NULL) {
		free(operands);
		free_hook_args(&x);
		ctl_warnx("out of memory");
		return EXIT_UNREACHABLE;
	}
	r = parse_args(&x, argc, argv, operands);
	if (r != 0) {
		free(operands);
		free_hook_args(&x);
		if (r < 0)
			return check_stdout();
		return r;
	}
	x.request_ms = DEFAULT_REQUEST_TIMEOUT_MS;
	if (x.has_timeout && !waits_for_fires(&x))
		x.request_ms = ns_to_ms(x.timeout_ns);

	if (x.after_text != NULL) {
		if (parse_when(&x, x.after_text, &when) < 0 || when.ns < 0) {
			r = usage_error("invalid time '%s' for --after",
					x.after_text);
			goto out;
		}
		x.after_ns = when.ns;
	} else {
		x.after_ns = realtime_now_ns();
	}
	if (x.iterations == 0)
		x.iterations = 5;
	/* next, parse and help compute locally: no daemon needed. */
	r = local_verb(&x) ? 0 : ctl_connect(&x);
	if (r == 0)
		r = x.verb->run(&x);
out:
	evc_close(x.c);
	free(operands);
	free_hook_args(&x);
	return r;
}
