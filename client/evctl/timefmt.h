/*
 * timefmt: durations and instants as evctl reads and prints them.
 *
 * Pure: no I/O, no allocation, no global state of its own. The only
 * outside input is the time zone database: the process's zone (TZ, read
 * by mktime and localtime_r, never changed) for local times, and for the
 * human forms (timefmt_parse_when) the zones named, through calendar.h,
 * which reads the zone database itself (lib/tz.h). "Now" is always
 * an argument, so results are reproducible. Every value is in integer
 * nanoseconds; instants are nanoseconds since the Unix epoch
 * (CLOCK_REALTIME).
 *
 * Invariants: parsers store into *ret_ns only on success; formatters
 * produce text the parsers read back to the same value (durations with
 * sub-millisecond parts above one second excepted, see below).
 */
#ifndef EVD_TIMEFMT_H
#define EVD_TIMEFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Enough for any output of the formatters below, with the NUL. */
#define TIMEFMT_DURATION_MAX 48
#define TIMEFMT_TIME_MAX 48
#define TIMEFMT_SECONDS_MAX 32
/* Longest zone name, and longest input of the human forms (longer is
 * -EINVAL: no time is written that long). */
#define TIMEFMT_ZONE_MAX 256
#define TIMEFMT_INPUT_MAX 256

/*
 * Parses a duration: one or more <number><unit> parts, summed, with no
 * spaces ("1h30m", "250ms", "1.5s", "2d"), or a bare number meaning
 * seconds ("90", "0.25"). Units: ns, us, ms, s, m (or min), h, d, w.
 * A number has digits before or after an optional '.'; fractions finer
 * than a nanosecond are truncated.
 * Returns 0, -EINVAL (empty, negative, garbage, trailing junk, a number
 * without unit inside a compound), or -ERANGE (above INT64_MAX ns).
 */
int timefmt_parse_duration(const char *s, int64_t *ret_ns);

/*
 * Parses an instant:
 *   ISO 8601 "YYYY-MM-DD[(T| )HH:MM[:SS[.fraction]]][zone]" where zone is
 *   "Z", "+HH:MM", "+HHMM" or "+HH" (or '-'); without a zone the time is
 *   local, resolved by mktime() with tm_isdst = -1 (a time in a DST gap
 *   is normalised by mktime; an ambiguous one gets mktime's choice);
 *   a date alone means local midnight.
 *   "@SECONDS[.fraction]": seconds since the epoch.
 * Returns 0, -EINVAL (syntax, or a field out of range such as Feb 30 or
 * hour 25), or -ERANGE (not representable as int64 nanoseconds).
 */
int timefmt_parse_time(const char *s, int64_t *ret_ns);

/*
 * timefmt_parse_duration(), or failing that words: an optional leading
 * "in" or "+", then one or more parts, each a compact duration ("1h30m")
 * or a number and a unit word ("5 minutes", "1 hour and 30 minutes",
 * "an hour"; units ns us ms s sec second(s) m min minute(s) h hr hour(s)
 * d day(s) w week(s), any case, "a"/"an" for 1). Returns as
 * timefmt_parse_duration, and -EINVAL for input longer than
 * TIMEFMT_INPUT_MAX.
 */
int timefmt_parse_duration_words(const char *s, int64_t *ret_ns);

/* What timefmt_parse_when understood. */
struct timefmt_when {
	int64_t ns;	   /* the instant, ns since the epoch */
	bool relative;	   /* said as an offset from now (now, +5m, in 5
			    * minutes, now - 1h) */
	int64_t offset_ns; /* relative: ns - now_ns */
	char zone[TIMEFMT_ZONE_MAX]; /* the zone named at the end; "" none */
};

/*
 * Parses an instant as people write it, relative to now_ns, local times
 * in zone (NULL: the process's zone) unless the text ends with a zone
 * name ("2026-12-01 09:00 Europe/Paris", "tomorrow 10:00 UTC"):
 *   - everything timefmt_parse_time() reads (ISO 8601, @epoch);
 *   - now; now + D; now - D; +D; -D; in D (D as for
 *     timefmt_parse_duration_words: "+5m", "in 5 minutes",
 *     "now + 2 hours");
 *   - [DAY] [TIME], in either order, with an optional "at" between:
 *     DAY is today, tomorrow, yesterday, YYYY-MM-DD, or [next] WEEKDAY
 *     (monday..sunday, mon..sun); TIME is HH:MM[:SS[.frac]], H(am|pm),
 *     H:MM(am|pm), noon or midnight. A DAY without TIME is its 00:00.
 *     today/tomorrow/yesterday/a date: that day, even if already past.
 *     A WEEKDAY: the first such day whose time is after now (today if
 *     it is still ahead, else next week). A TIME alone: its next
 *     occurrence (today if still ahead, else tomorrow), so "midnight"
 *     is the coming one.
 * Words are matched in any case. A local time is resolved in the zone
 * at that date, as calendar timers are: one that does not exist (DST
 * gap) is the first instant after the gap, one that exists twice the
 * earlier. Returns 0, -EINVAL (syntax, unknown word, a zone after a
 * relative form, input longer than TIMEFMT_INPUT_MAX, an unknown zone
 * passed as zone) or -ERANGE. *ret is written only on success.
 */
int timefmt_parse_when(const char *s, int64_t now_ns, const char *zone,
		       struct timefmt_when *ret);

/*
 * Formats a duration for people: "0s", "999ns", "137.042us", "250ms",
 * "1h30m", "2d5.25s"... Below one second: the largest fitting unit with
 * as many decimals as keep it exact. From one second on: the non-zero
 * parts among days, hours, minutes and seconds, the seconds with at most
 * millisecond precision (truncated). Negative values get a leading '-'.
 * Returns the length written, or -ENOSPC if size is too small (buf then
 * holds a truncated string when size > 0).
 */
int timefmt_format_duration(int64_t ns, char *buf, size_t size);

/*
 * Formats an instant as ISO 8601: in UTC with a "Z" if utc, else in the
 * local zone with its offset ("+01:00"). A fraction of a second is
 * printed only when non-zero, with 3, 6 or 9 digits as needed.
 * Returns the length written, -ENOSPC if size is too small, or
 * -EOVERFLOW if the calendar conversion fails.
 */
int timefmt_format_time(int64_t ns, bool utc, char *buf, size_t size);

/*
 * Formats nanoseconds as decimal seconds with 9 decimals
 * ("12345.000000001", "-0.500000000"): the form evctl prints for clock
 * readings and reads back as a bare-number duration. Returns the length
 * or -ENOSPC.
 */
int timefmt_format_seconds(int64_t ns, char *buf, size_t size);

#endif
