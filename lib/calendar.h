/*
 * calendar: calendar expressions (cron and systemd OnCalendar= syntax)
 * and their next occurrence in an IANA time zone.
 *
 * Pure: no I/O but reading the zone database (tz.h), no logging, no
 * dependency on evclient or the daemon; part of lib/ (evdtime), which
 * both evctl and evd link. Instants are int64 nanoseconds since the Unix
 * epoch (CLOCK_REALTIME).
 *
 * Time zones are read by tz.h, never through TZ, tzset, localtime* or
 * mktime: nothing here changes process-wide state, and every function
 * may be called from any thread at once. A zone is re-read when its file
 * changes (a tzdata upgrade, a new /etc/localtime).
 *
 * DST: a matching local time is resolved to instants with the zone's
 * offsets at that date (assumption: at most one offset change within
 * a day on either side of it, true of every zone in tzdata). A local
 * time that does not exist (the clock jumps over it, spring forward)
 * follows the gap policy, one that exists twice (fall back) the overlap
 * policy; see enum calendar_gap and enum calendar_overlap.
 *
 * Invariants: a parsed struct calendar is immutable; every function
 * stores into its ret_* arguments only on success.
 */
#ifndef EVD_CALENDAR_H
#define EVD_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A local time that does not exist (spring forward). */
enum calendar_gap {
	/* The first valid instant after the gap: 02:30 in a 02:00-03:00
	 * gap fires at 03:00 (the instant of the change). The default. */
	CALENDAR_GAP_SHIFT,
	/* Not at all on that day (what systemd and most crons do). */
	CALENDAR_GAP_SKIP,
	/* With the UTC offset in force before the gap, i.e. as far from the
	 * previous midnight in elapsed time as the wall time says: 02:30 in
	 * a one-hour gap fires at 03:30 new time (mktime with tm_isdst=0 in
	 * the northern hemisphere). */
	CALENDAR_GAP_UTC,
};

/* A local time that exists twice (fall back). */
enum calendar_overlap {
	CALENDAR_OVERLAP_FIRST,	 /* the earlier instant only; the default */
	CALENDAR_OVERLAP_SECOND, /* the later instant only */
	CALENDAR_OVERLAP_BOTH,	 /* both instants */
};

/* One parsed expression. Owned by whoever got it from calendar_parse. */
struct calendar;

/* Enough for any normalised form of an expression (or a timestamp
 * line) written by the formatters below, with the NUL. */
#define CALENDAR_FORMAT_MAX 4096
#define CALENDAR_LOCAL_MAX 64
#define CALENDAR_ERROR_MAX 160

/*
 * Parses an expression. Five whitespace-separated fields, or a leading
 * '@', select cron syntax (crontab(5): minute hour day-of-month month
 * day-of-week; '*', lists, ranges, steps, month and weekday names,
 * @yearly @annually @monthly @weekly @daily @midnight @hourly; when
 * day-of-month and day-of-week both do not start with '*', a day matches
 * either). Anything else is systemd.time(7) OnCalendar= syntax:
 * "[WEEKDAYS] [[YEAR-]MONTH-DAY] [HOUR:MINUTE[:SECOND]] [ZONE]", '*',
 * lists, "a..b" ranges, "/step" repetitions, "~" days counted from the
 * end of the month, fractional seconds (microseconds), two-digit years,
 * @UNIX-SECONDS, the words minutely hourly daily weekly monthly yearly
 * annually quarterly semiannually, and a trailing "UTC" or IANA zone
 * name, which then overrides the zone passed to calendar_next.
 * Returns 0, -ENOMEM, or -EINVAL with a message naming the problem in
 * err (if errsize > 0; always NUL-terminated, CALENDAR_ERROR_MAX is
 * enough).
 */
int calendar_parse(const char *text, struct calendar **ret_cal, char *err,
		   size_t errsize);

/* Frees a calendar; NULL is fine. */
void calendar_free(struct calendar *cal);

/* True if some occurrence falls inside a second (a fractional second or
 * step, "*:*:0/0.5"): evd refuses those for timers, one fire per second
 * at most. */
bool calendar_subsecond(const struct calendar *cal);

/* True if the expression was read as cron syntax. */
bool calendar_is_cron(const struct calendar *cal);

/* The zone named in the expression ("UTC" included), or NULL. Borrowed
 * from cal. */
const char *calendar_zone(const struct calendar *cal);

/*
 * The normalised form: systemd syntax as `systemd-analyze calendar`
 * prints it ("Mon..Fri *-*-* 09:00:00 Europe/Berlin"), or for cron
 * syntax the five fields with numbers only ("*\/15 9-17 * * 1-5").
 * Returns the length, or -ENOSPC (buf holds a truncated string).
 */
int calendar_format(const struct calendar *cal, char *buf, size_t size);

/*
 * The first occurrence strictly after after_ns, in the expression's zone,
 * else zone (an IANA name such as "Europe/Berlin" or "UTC"), else with
 * zone NULL the process's zone (TZ, else /etc/localtime; see tz_get).
 * Returns 0, -EINVAL (unknown zone, or after_ns before 1970), -ENOENT
 * (no occurrence up to the end of year 2199, where the search stops as
 * systemd's does), -ENOMEM or -EOVERFLOW. Thread-safe.
 */
int calendar_next(const struct calendar *cal, const char *zone,
		  enum calendar_gap gap, enum calendar_overlap overlap,
		  int64_t after_ns, int64_t *ret_ns);

/* True if name is a zone in the zone database ("UTC" included): a
 * relative path without "..", naming a well-formed TZif file (tz.h).
 * Reads the file (or finds it in tz.h's cache). */
bool calendar_zone_valid(const char *name);

/*
 * Writes ns as local time in zone (NULL: the process's zone) as
 * "YYYY-MM-DD HH:MM:SS ABBR", with ".ffffff" after the seconds when
 * the instant has microseconds (".fffffffff" for nanoseconds).
 * Returns the length, -EINVAL (unknown zone), -ENOMEM, -ENOSPC or
 * -EOVERFLOW. Thread-safe.
 */
int calendar_format_local(int64_t ns, const char *zone, char *buf, size_t size);

/*
 * The local civil time of instant ns in zone (NULL: the process's zone)
 * as seconds since 1970-01-01 00:00:00 of the local calendar (as if the
 * zone were UTC: days_from_civil * 86400 + seconds of the day; the
 * fraction of a second is dropped), and with ret_offset_s (may be NULL)
 * the UTC offset in force, seconds east. Returns 0, -EINVAL (unknown
 * zone), -ENOMEM or -EOVERFLOW. Thread-safe.
 */
int calendar_to_local(int64_t ns, const char *zone, int64_t *ret_local_s,
		      int64_t *ret_offset_s);

/*
 * The inverse: the instant of local civil time local_s (as above) plus
 * frac_ns (0 <= frac_ns < 1 s) in zone, a time in a DST gap or overlap
 * resolved as calendar_next resolves an occurrence (the earlier instant
 * for CALENDAR_OVERLAP_BOTH). Returns 0, -ENOENT (in a gap with
 * CALENDAR_GAP_SKIP), -EINVAL (unknown zone, bad frac_ns) or
 * -ENOMEM or -EOVERFLOW. Thread-safe.
 */
int calendar_from_local(int64_t local_s, int64_t frac_ns, const char *zone,
			enum calendar_gap gap, enum calendar_overlap overlap,
			int64_t *ret_ns);

/* Policy names ("shift", "skip", "utc"; "first", "second", "both") to
 * values: 0 or -EINVAL; and back (never NULL). */
int calendar_gap_from_name(const char *name, enum calendar_gap *ret);
int calendar_overlap_from_name(const char *name, enum calendar_overlap *ret);
const char *calendar_gap_name(enum calendar_gap gap);
const char *calendar_overlap_name(enum calendar_overlap overlap);

#endif
