/*
 * evctl_time: the clocks evctl reads, TIME as evctl takes it
 * (parse_when), timeouts in the library's milliseconds, and the verbs
 * about time: time (the daemon's clocks), next and parse (computed here,
 * without the daemon, by the parsers the daemon uses).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evctl.h"

int64_t
mono_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
realtime_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A TIME as evctl takes it (timefmt_parse_when: ISO 8601, @epoch,
 * "tomorrow 10:00", "+5m", "2026-12-01 09:00 Europe/Paris"), local
 * times in --tz if given. */
int
parse_when(const struct ctl *x, const char *text, struct timefmt_when *ret)
{
	return timefmt_parse_when(text, realtime_now_ns(), x->tz, ret);
}

/*
 * The IANA name of the caller's zone, the one next, parse and at read
 * local times in: $TZ ("Europe/Berlin", ":Europe/Berlin" or a path under
 * a zoneinfo directory), else the target of /etc/localtime; NULL when it
 * has no name (a POSIX rule in TZ, no /etc/localtime: glibc's UTC is
 * named "UTC" then).
 */
const char *
caller_zone(char *buf, size_t size)
{
	const char *tz = getenv("TZ"), *z;
	char link[PATH_MAX];
	ssize_t n;

	if (tz != NULL) {
		if (tz[0] == ':')
			tz++;
		if (tz[0] == '\0')
			z = "UTC";
		else if ((z = strstr(tz, "zoneinfo/")) != NULL)
			z += strlen("zoneinfo/");
		else
			z = tz;
	} else {
		n = readlink("/etc/localtime", link, sizeof(link) - 1);
		if (n < 0)
			z = errno == ENOENT ? "UTC" : NULL;
		else {
			link[n] = '\0';
			z = strstr(link, "zoneinfo/");
			z = z != NULL ? z + strlen("zoneinfo/") : NULL;
		}
	}
	if (z == NULL || !calendar_zone_valid(z) ||
	    (size_t)snprintf(buf, size, "%s", z) >= size)
		return NULL;
	return buf;
}

/* ns to the library's timeout_ms, rounded up so that a short wait is not
 * turned into "do not wait". */
int
ns_to_ms(int64_t ns)
{
	if (ns <= 0)
		return 0;
	if (ns / 1000000 >= INT_MAX)
		return INT_MAX;
	return (int)((ns + 999999) / 1000000);
}

/* timeout_ms left until a deadline on CLOCK_MONOTONIC (-1: none). */
int
ms_until(bool bounded, int64_t deadline_ns)
{
	return bounded ? ns_to_ms(deadline_ns - mono_now_ns()) : -1;
}

int
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

/*
 * next EXPR: the next occurrences of a calendar expression, computed
 * here without the daemon, one line each:
 *   Mon 2026-03-30 09:00:00 CEST 2026-03-30 07:00:00 UTC (in 2h 5m)
 * (the weekday and local time in the expression's zone, else --tz, else
 * TZ or the system's; then the same instant in UTC; ".ffffff" after the
 * seconds when there are microseconds; then the time from --after, or
 * from now, as systemd-analyze calendar's "From now").
 */
int
verb_next(struct ctl *x)
{
	const char *expr = x->args[0], *zone;
	char err[CALENDAR_ERROR_MAX], loc[CALENDAR_LOCAL_MAX];
	char utc[CALENDAR_LOCAL_MAX], t[TIMEFMT_TIME_MAX];
	char l[LEFT_HUMAN_MAX + 8];
	const char *wd;
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
			jw_str(&w, "weekday", weekday(ns, zone));
			jw_i64(&w, "left_ns", ns - x->after_ns);
			jw_end(&w);
		} else {
			/* As systemd-analyze calendar: the weekday, and the
			 * time left from --after (now by default). */
			wd = weekday(ns, zone);
			printf("%s %s %s (%s)\n", wd != NULL ? wd : "-", loc,
			       utc, in_or_ago(ns - x->after_ns, l, sizeof(l)));
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
	static char buf[300];
	char name[256];

	if (zone != NULL && zone[0] != '\0')
		return zone;
	/* None given: the caller's, which every verb reads local times in
	 * (and on stores): say which. */
	if (caller_zone(name, sizeof(name)) == NULL)
		return "- (TZ names no zone)";
	snprintf(buf, sizeof(buf), "%s (yours)", name);
	return buf;
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
int
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
