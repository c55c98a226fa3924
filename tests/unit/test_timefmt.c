/*
 * test_timefmt: duration and time parsing and formatting of evctl
 * (client/evctl/timefmt.c), valid and invalid inputs and the int64
 * boundaries, and the human forms ("in 5 minutes", "tomorrow 10:00",
 * "2026-12-01 09:00 Europe/Paris") against a fixed "now", checked by hand.
 *
 * Local-time cases set TZ themselves (UTC, and Europe/Berlin when the
 * zone database is installed; otherwise those cases are skipped and say
 * so), so the results do not depend on the machine's zone.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "timefmt.h"

#define S 1000000000LL
#define SENTINEL 0x5a5a5a5a5a5a5a5aLL

static void
set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

/* Europe/Berlin, or false (and a note) if this system has no zoneinfo. */
static bool
set_berlin(void)
{
	if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) != 0) {
		print_message("no /usr/share/zoneinfo/Europe/Berlin: "
			      "skipping the non-UTC zone case\n");
		return false;
	}
	set_tz("Europe/Berlin");
	return true;
}

static int64_t
dur_ok(const char *s)
{
	int64_t v = SENTINEL;
	int r = timefmt_parse_duration(s, &v);

	if (r != 0)
		fail_msg("parse_duration(\"%s\") = %d, expected 0", s, r);
	return v;
}

static void
dur_bad(const char *s, int err)
{
	int64_t v = SENTINEL;
	int r = timefmt_parse_duration(s, &v);

	if (r != -err)
		fail_msg("parse_duration(\"%s\") = %d, expected %d", s, r,
			 -err);
	/* Output parameters are untouched on failure. */
	assert_int_equal(v, SENTINEL);
}

static int64_t
time_ok(const char *s)
{
	int64_t v = SENTINEL;
	int r = timefmt_parse_time(s, &v);

	if (r != 0)
		fail_msg("parse_time(\"%s\") = %d, expected 0", s, r);
	return v;
}

static void
time_bad(const char *s, int err)
{
	int64_t v = SENTINEL;
	int r = timefmt_parse_time(s, &v);

	if (r != -err)
		fail_msg("parse_time(\"%s\") = %d, expected %d", s, r, -err);
	assert_int_equal(v, SENTINEL);
}

static void
test_duration_units(void **state)
{
	(void)state;
	assert_int_equal(dur_ok("1ns"), 1);
	assert_int_equal(dur_ok("1us"), 1000);
	assert_int_equal(dur_ok("250ms"), 250000000);
	assert_int_equal(dur_ok("5s"), 5 * S);
	assert_int_equal(dur_ok("90s"), 90 * S);
	assert_int_equal(dur_ok("1m"), 60 * S);
	assert_int_equal(dur_ok("1min"), 60 * S);
	assert_int_equal(dur_ok("2h"), 7200 * S);
	assert_int_equal(dur_ok("2d"), 172800 * S);
	assert_int_equal(dur_ok("1w"), 604800 * S);
	assert_int_equal(dur_ok("0"), 0);
	assert_int_equal(dur_ok("0s"), 0);
	assert_int_equal(dur_ok("007s"), 7 * S);
}

static void
test_duration_compound_and_bare(void **state)
{
	(void)state;
	assert_int_equal(dur_ok("1h30m"), 5400 * S);
	assert_int_equal(dur_ok("1d2h3m4s5ms6us7ns"),
			 ((86400 + 7200 + 180 + 4) * S) + 5006007);
	assert_int_equal(dur_ok("1h1h"), 7200 * S);
	/* A bare number is seconds. */
	assert_int_equal(dur_ok("90"), 90 * S);
	assert_int_equal(dur_ok("0.25"), S / 4);
}

static void
test_duration_decimals(void **state)
{
	(void)state;
	assert_int_equal(dur_ok("1.5s"), 1500000000);
	assert_int_equal(dur_ok("0.1s"), 100000000);
	assert_int_equal(dur_ok(".5s"), 500000000);
	assert_int_equal(dur_ok("1.5h"), 5400 * S);
	assert_int_equal(dur_ok("0.5m"), 30 * S);
	assert_int_equal(dur_ok("1.5w"), 907200 * S);
	assert_int_equal(dur_ok("0.000001ms"), 1);
	/* Finer than a nanosecond: truncated, never rounded up. */
	assert_int_equal(dur_ok("1.0000000019s"), 1000000001);
	assert_int_equal(dur_ok("0.5ns"), 0);
	assert_int_equal(dur_ok("0.00000000000000000000001w"), 0);
	/* Exact, where a double would not be. */
	assert_int_equal(dur_ok("0.3s"), 300000000);
	assert_int_equal(dur_ok("2.675ms"), 2675000);
}

static void
test_duration_invalid(void **state)
{
	static const char *const bad[] = {
	    "",	     "-5s",    "+5s", "5x",    "5 s", " 5s",   "5s ", "s",
	    "1.",    ".",      "1.s", "1h30",  "abc", "5sx",   "5S",  "1e3s",
	    "1..5s", "1.5.5s", "5ss", "1h-5m", "ms",  "0x10s", "5\n", "µs",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		dur_bad(bad[i], EINVAL);
	assert_int_equal(timefmt_parse_duration(NULL, &(int64_t){0}), -EINVAL);
}

static void
test_duration_range(void **state)
{
	(void)state;
	assert_int_equal(dur_ok("9223372036854775807ns"), INT64_MAX);
	assert_int_equal(dur_ok("9223372036.854775807s"), INT64_MAX);
	assert_int_equal(dur_ok("15250w"), 15250LL * 604800 * S);
	dur_bad("9223372036854775808ns", ERANGE);
	dur_bad("9223372036.854775808s", ERANGE);
	dur_bad("9223372037s", ERANGE);
	dur_bad("106752d", ERANGE);
	dur_bad("15251w", ERANGE);
	dur_bad("99999999999999999999999999s", ERANGE);
	/* Each part fits; the sum does not. */
	dur_bad("9223372036854775807ns1ns", ERANGE);
	dur_bad("15250w3d", ERANGE);
}

static void
test_time_utc_and_offsets(void **state)
{
	(void)state;
	set_tz("UTC");
	assert_int_equal(time_ok("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(time_ok("2026-12-01T09:00:00Z"), 1796115600 * S);
	assert_int_equal(time_ok("2026-12-01t09:00:00z"), 1796115600 * S);
	assert_int_equal(time_ok("2026-12-01T09:00Z"), 1796115600 * S);
	assert_int_equal(time_ok("2026-12-01 09:00:00Z"), 1796115600 * S);
	assert_int_equal(time_ok("2026-12-01T09:00:00+01:00"), 1796112000 * S);
	assert_int_equal(time_ok("2026-12-01T09:00:00+0100"), 1796112000 * S);
	assert_int_equal(time_ok("2026-12-01T09:00:00+01"), 1796112000 * S);
	assert_int_equal(time_ok("2026-12-01T09:00:00-05:30"), 1796135400 * S);
	assert_int_equal(time_ok("2026-12-01T09:00:00.5Z"),
			 1796115600 * S + S / 2);
	assert_int_equal(time_ok("2026-12-01T09:00:00,25Z"),
			 1796115600 * S + S / 4);
	assert_int_equal(time_ok("2026-12-01T09:00:00.123456789123Z"),
			 1796115600 * S + 123456789);
	assert_int_equal(time_ok("2024-02-29T00:00:00Z"), 1709164800 * S);
	assert_int_equal(time_ok("2000-02-29T00:00:00Z"), 951782400 * S);
	assert_int_equal(time_ok("1969-12-31T23:59:59Z"), -S);
	/* The last representable instant, and one past it. */
	assert_int_equal(time_ok("2262-04-11T23:47:16.854775807Z"), INT64_MAX);
	time_bad("2262-04-11T23:47:16.854775808Z", ERANGE);
	time_bad("9999-12-31T23:59:59Z", ERANGE);
}

static void
test_time_epoch(void **state)
{
	(void)state;
	assert_int_equal(time_ok("@0"), 0);
	assert_int_equal(time_ok("@1796115600"), 1796115600 * S);
	assert_int_equal(time_ok("@1.5"), S + S / 2);
	assert_int_equal(time_ok("@9223372036.854775807"), INT64_MAX);
	time_bad("@9223372037", ERANGE);
	time_bad("@", EINVAL);
	time_bad("@-1", EINVAL);
	time_bad("@1x", EINVAL);
	time_bad("@1.", EINVAL);
	time_bad("@1s", EINVAL);
}

static void
test_time_local_utc(void **state)
{
	(void)state;
	set_tz("UTC");
	assert_int_equal(time_ok("2026-12-01 09:00"), 1796115600 * S);
	assert_int_equal(time_ok("2026-12-01T09:00:00"), 1796115600 * S);
	assert_int_equal(time_ok("2026-12-01 09:00:00.5"),
			 1796115600 * S + S / 2);
	/* A date alone is local midnight. */
	assert_int_equal(time_ok("2026-12-01"), 1796083200 * S);
}

static void
test_time_local_berlin(void **state)
{
	int64_t v;

	(void)state;
	if (!set_berlin()) {
		skip();
		return;
	}
	/* CET (+01:00) in winter, CEST (+02:00) in summer. */
	assert_int_equal(time_ok("2026-12-01 09:00"), 1796112000 * S);
	assert_int_equal(time_ok("2026-07-01 09:00"), 1782889200 * S);
	/* An explicit zone wins over TZ. */
	assert_int_equal(time_ok("2026-12-01T09:00:00Z"), 1796115600 * S);
	/* 02:30 on 2026-10-25 happens twice: either is acceptable. */
	v = time_ok("2026-10-25 02:30");
	assert_true(v == 1792888200 * S || v == 1792891800 * S);
	/* 02:30 on 2026-03-29 does not exist: mktime moves it by the gap,
	 * to 01:30Z or 00:30Z depending on its guess of DST. */
	v = time_ok("2026-03-29 02:30");
	assert_true(v == 1774747800 * S || v == 1774744200 * S);
	set_tz("UTC");
}

static void
test_time_invalid(void **state)
{
	static const char *const bad[] = {
	    "",
	    "2026-02-30T00:00:00Z",
	    "2026-02-29T00:00:00Z", /* not a leap year */
	    "2100-02-29",	    /* nor is 2100 */
	    "2026-04-31",
	    "2026-13-01",
	    "2026-00-10",
	    "2026-12-00",
	    "2026-12-32",
	    "2026-12-01T25:00Z",
	    "2026-12-01T24:00:00Z",
	    "2026-12-01T09:60Z",
	    "2026-12-01T09:00:60Z",
	    "2026-12-01T09Z",
	    "2026-12-01T9:00Z",
	    "2026-12-01T09:00:0Z",
	    "26-12-01",
	    "2026-1-01",
	    "2026/12/01",
	    "2026-12-01X09:00",
	    "2026-12-01T",
	    "2026-12-01T09:00:00+25:00",
	    "2026-12-01T09:00:00+01:60",
	    "2026-12-01T09:00:00+1",
	    "2026-12-01T09:00:00+01:0",
	    "2026-12-01T09:00:00Zjunk",
	    "2026-12-01T09:00:00Z ",
	    " 2026-12-01T09:00:00Z",
	    "2026-12-01T09:00:00.Z",
	    "2026-12-01T09:00:00UTC",
	    "tomorrow",
	    "5s",
	};
	size_t i;

	(void)state;
	set_tz("UTC");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		time_bad(bad[i], EINVAL);
	assert_int_equal(timefmt_parse_time(NULL, &(int64_t){0}), -EINVAL);
}

static void
dur_fmt(int64_t ns, const char *want)
{
	char buf[TIMEFMT_DURATION_MAX];
	int r = timefmt_format_duration(ns, buf, sizeof(buf));

	assert_int_equal(r, (int)strlen(want));
	assert_string_equal(buf, want);
}

static void
test_format_duration(void **state)
{
	char small[4];

	(void)state;
	dur_fmt(0, "0s");
	dur_fmt(1, "1ns");
	dur_fmt(999, "999ns");
	dur_fmt(1000, "1us");
	dur_fmt(137042, "137.042us");
	dur_fmt(1500000, "1.5ms");
	dur_fmt(1234567, "1.234567ms");
	dur_fmt(250000000, "250ms");
	dur_fmt(999999999, "999.999999ms");
	dur_fmt(S, "1s");
	dur_fmt(S + S / 2, "1.5s");
	dur_fmt(S + 1, "1s"); /* sub-ms above a second: truncated */
	dur_fmt(90 * S, "1m30s");
	dur_fmt(5400 * S, "1h30m");
	dur_fmt(172800 * S, "2d");
	dur_fmt(172800 * S + 5250000000LL, "2d5.25s");
	dur_fmt(-5 * S, "-5s");
	dur_fmt(-1, "-1ns");
	dur_fmt(INT64_MAX, "106751d23h47m16.854s");
	dur_fmt(INT64_MIN, "-106751d23h47m16.854s");
	assert_int_equal(
	    timefmt_format_duration(5400 * S, small, sizeof(small)), -ENOSPC);
	assert_int_equal(small[sizeof(small) - 1], '\0');
}

static void
test_format_duration_round_trip(void **state)
{
	static const int64_t vals[] = {
	    1,
	    999,
	    1000,
	    1001,
	    123456789,
	    999999999,
	    S,
	    S + S / 1000,
	    61 * S,
	    3599 * S,
	    86399 * S,
	    86400 * S,
	    7 * 86400 * S,
	    1234567 * S + 890000000,
	};
	char buf[TIMEFMT_DURATION_MAX];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		assert_true(timefmt_format_duration(vals[i], buf, sizeof(buf)) >
			    0);
		assert_int_equal(dur_ok(buf), vals[i]);
	}
}

static void
time_fmt(int64_t ns, bool utc, const char *want)
{
	char buf[TIMEFMT_TIME_MAX];
	int r = timefmt_format_time(ns, utc, buf, sizeof(buf));

	assert_int_equal(r, (int)strlen(want));
	assert_string_equal(buf, want);
}

static void
test_format_time(void **state)
{
	char small[8];

	(void)state;
	set_tz("UTC");
	time_fmt(0, true, "1970-01-01T00:00:00Z");
	time_fmt(1796115600 * S, true, "2026-12-01T09:00:00Z");
	time_fmt(S + S / 2, true, "1970-01-01T00:00:01.500Z");
	time_fmt(1000, true, "1970-01-01T00:00:00.000001Z");
	time_fmt(1, true, "1970-01-01T00:00:00.000000001Z");
	time_fmt(-1, true, "1969-12-31T23:59:59.999999999Z");
	time_fmt(INT64_MAX, true, "2262-04-11T23:47:16.854775807Z");
	time_fmt(1796115600 * S, false, "2026-12-01T09:00:00+00:00");
	assert_int_equal(timefmt_format_time(0, true, small, sizeof(small)),
			 -ENOSPC);
}

static void
test_format_time_berlin(void **state)
{
	char buf[TIMEFMT_TIME_MAX];

	(void)state;
	if (!set_berlin()) {
		skip();
		return;
	}
	time_fmt(1796115600 * S, false, "2026-12-01T10:00:00+01:00");
	time_fmt(1782889200 * S + 250000000, false,
		 "2026-07-01T09:00:00.250+02:00");
	time_fmt(1782889200 * S, true, "2026-07-01T07:00:00Z");
	/* The offset printed is the one in force at that instant, so the
	 * text reads back to the same instant even across DST. */
	assert_true(
	    timefmt_format_time(1792888200 * S, false, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "2026-10-25T02:30:00+02:00");
	assert_int_equal(time_ok(buf), 1792888200 * S);
	assert_true(
	    timefmt_format_time(1792891800 * S, false, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "2026-10-25T02:30:00+01:00");
	assert_int_equal(time_ok(buf), 1792891800 * S);
	set_tz("UTC");
}

static void
test_format_time_round_trip(void **state)
{
	static const int64_t vals[] = {
	    0,	       1, -1, 1796115600 * S + 123456789, 951782400 * S + 1000,
	    INT64_MAX,
	};
	char buf[TIMEFMT_TIME_MAX];
	size_t i;

	(void)state;
	set_tz("UTC");
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		assert_true(
		    timefmt_format_time(vals[i], true, buf, sizeof(buf)) > 0);
		assert_int_equal(time_ok(buf), vals[i]);
		assert_true(
		    timefmt_format_time(vals[i], false, buf, sizeof(buf)) > 0);
		assert_int_equal(time_ok(buf), vals[i]);
	}
}

static void
test_format_seconds(void **state)
{
	char buf[TIMEFMT_SECONDS_MAX];

	(void)state;
	assert_int_equal(
	    timefmt_format_seconds(12345 * S + 1, buf, sizeof(buf)), 15);
	assert_string_equal(buf, "12345.000000001");
	timefmt_format_seconds(-S / 2, buf, sizeof(buf));
	assert_string_equal(buf, "-0.500000000");
	timefmt_format_seconds(INT64_MIN, buf, sizeof(buf));
	assert_string_equal(buf, "-9223372036.854775808");
	/* What `evctl time` prints, `evctl at --clock monotonic` reads. */
	timefmt_format_seconds(98765 * S + 4321, buf, sizeof(buf));
	assert_int_equal(dur_ok(buf), 98765 * S + 4321);
}

/* ---- human forms (timefmt_parse_when, timefmt_parse_duration_words) ----
 *
 * "Now" is fixed: 2026-03-30T08:00:00Z, a Monday, 10:00 CEST in Berlin
 * (the day after the spring-forward of 2026-03-29). Every expected
 * instant below was worked out by hand from that. */
#define NOW_NS (1774857600LL * S)
#define H (3600 * S)

static int64_t
when_ok(const char *s, const char *zone)
{
	struct timefmt_when w;
	int r = timefmt_parse_when(s, NOW_NS, zone, &w);

	if (r != 0)
		fail_msg("parse_when(\"%s\") = %d, expected 0", s, r);
	return w.ns;
}

static void
when_bad(const char *s, int err)
{
	struct timefmt_when w = {.ns = SENTINEL};
	int r = timefmt_parse_when(s, NOW_NS, NULL, &w);

	if (r != -err)
		fail_msg("parse_when(\"%s\") = %d, expected %d", s, r, -err);
	assert_int_equal(w.ns, SENTINEL);
}

static void
test_duration_words(void **state)
{
	int64_t v = SENTINEL;

	(void)state;
	assert_int_equal(timefmt_parse_duration_words("5 minutes", &v), 0);
	assert_int_equal(v, 300 * S);
	assert_int_equal(timefmt_parse_duration_words("in 5 minutes", &v), 0);
	assert_int_equal(v, 300 * S);
	assert_int_equal(
	    timefmt_parse_duration_words("1 hour and 30 minutes", &v), 0);
	assert_int_equal(v, 5400 * S);
	assert_int_equal(timefmt_parse_duration_words("an hour", &v), 0);
	assert_int_equal(v, H);
	assert_int_equal(timefmt_parse_duration_words("2 Days 1h", &v), 0);
	assert_int_equal(v, 49 * H);
	assert_int_equal(timefmt_parse_duration_words("1.5 secs", &v), 0);
	assert_int_equal(v, 1500000000LL);
	assert_int_equal(timefmt_parse_duration_words("250ms", &v), 0);
	assert_int_equal(v, 250000000LL);
	/* A unit word glued to its number, as "10min" is (issue 17). */
	assert_int_equal(timefmt_parse_duration_words("10mins", &v), 0);
	assert_int_equal(v, 600 * S);
	assert_int_equal(timefmt_parse_duration_words("2hours", &v), 0);
	assert_int_equal(v, 2 * H);
	assert_int_equal(timefmt_parse_duration_words("in 1hour 5mins", &v),
			 0);
	assert_int_equal(v, H + 300 * S);
	v = SENTINEL;
	assert_int_equal(timefmt_parse_duration_words("10fortnights", &v),
			 -EINVAL);
	assert_int_equal(timefmt_parse_duration_words("5 fortnights", &v),
			 -EINVAL);
	assert_int_equal(timefmt_parse_duration_words("minutes", &v), -EINVAL);
	assert_int_equal(timefmt_parse_duration_words("in", &v), -EINVAL);
	assert_int_equal(timefmt_parse_duration_words("", &v), -EINVAL);
	assert_int_equal(timefmt_parse_duration_words(NULL, &v), -EINVAL);
	assert_int_equal(
	    timefmt_parse_duration_words("9999999999999 weeks", &v), -ERANGE);
	assert_int_equal(v, SENTINEL);
}

static void
test_when_relative(void **state)
{
	struct timefmt_when w;

	(void)state;
	set_tz("UTC");
	assert_int_equal(when_ok("now", NULL), NOW_NS);
	assert_int_equal(when_ok("NOW", NULL), NOW_NS);
	assert_int_equal(when_ok("+5m", NULL), NOW_NS + 300 * S);
	assert_int_equal(when_ok("+ 5 minutes", NULL), NOW_NS + 300 * S);
	assert_int_equal(when_ok("-5m", NULL), NOW_NS - 300 * S);
	assert_int_equal(when_ok("now + 2 hours", NULL), NOW_NS + 2 * H);
	assert_int_equal(when_ok("now+2h", NULL), NOW_NS + 2 * H);
	assert_int_equal(when_ok("now - 1h", NULL), NOW_NS - H);
	assert_int_equal(when_ok("in 5 minutes", NULL), NOW_NS + 300 * S);
	assert_int_equal(when_ok("in 1 hour and 30 minutes", NULL),
			 NOW_NS + 5400 * S);
	assert_int_equal(when_ok("in 1h30m", NULL), NOW_NS + 5400 * S);
	assert_int_equal(timefmt_parse_when("in 2 days", NOW_NS, NULL, &w), 0);
	assert_true(w.relative);
	assert_int_equal(w.offset_ns, 48 * H);
	assert_string_equal(w.zone, "");
	when_bad("in", EINVAL);
	when_bad("now +", EINVAL);
	when_bad("+", EINVAL);
	when_bad("now 5m", EINVAL);
	when_bad("in 5 parsecs", EINVAL);
	when_bad("+5x", EINVAL);
}

static void
test_when_words_utc(void **state)
{
	/* Monday 2026-03-30, 08:00 in UTC. */
	const int64_t today = 1774828800LL * S; /* 2026-03-30T00:00Z */

	(void)state;
	set_tz("UTC");
	assert_int_equal(when_ok("today", NULL), today);
	assert_int_equal(when_ok("tomorrow", NULL), today + 24 * H);
	assert_int_equal(when_ok("yesterday 23:00", NULL), today - H);
	assert_int_equal(when_ok("tomorrow 10:00", NULL), today + 34 * H);
	assert_int_equal(when_ok("Tomorrow at 10:00", NULL), today + 34 * H);
	assert_int_equal(when_ok("10:00 tomorrow", NULL), today + 34 * H);
	assert_int_equal(when_ok("today 18:00", NULL), today + 18 * H);
	/* today, even when already past: fires at once. */
	assert_int_equal(when_ok("today 07:00", NULL), today + 7 * H);
	/* A time alone: its next occurrence. */
	assert_int_equal(when_ok("noon", NULL), today + 12 * H);
	assert_int_equal(when_ok("midnight", NULL), today + 24 * H);
	assert_int_equal(when_ok("09:30", NULL), today + 9 * H + 1800 * S);
	assert_int_equal(when_ok("07:00", NULL), today + 31 * H);
	assert_int_equal(when_ok("08:00", NULL), today + 32 * H); /* = now */
	assert_int_equal(when_ok("6:30pm", NULL), today + 18 * H + 1800 * S);
	assert_int_equal(when_ok("12am", NULL), today + 24 * H);
	assert_int_equal(when_ok("12pm", NULL), today + 12 * H);
	assert_int_equal(when_ok("23:59:59.5", NULL),
			 today + 24 * H - S / 2);
	/* Weekdays: the first such day with the time still ahead. */
	assert_int_equal(when_ok("monday 09:00", NULL), today + 9 * H);
	assert_int_equal(when_ok("mon 07:00", NULL), today + 7 * 24 * H + 7 * H);
	assert_int_equal(when_ok("monday", NULL), today + 7 * 24 * H);
	assert_int_equal(when_ok("next monday", NULL), today + 7 * 24 * H);
	assert_int_equal(when_ok("friday noon", NULL), today + 4 * 24 * H + 12 * H);
	assert_int_equal(when_ok("Sunday", NULL), today + 6 * 24 * H);
	/* Dates: with a time in words, or ISO with a blank. */
	assert_int_equal(when_ok("2026-12-01 9am", NULL), 1796115600LL * S);
	assert_int_equal(when_ok("2026-12-01 09:00", NULL), 1796115600LL * S);
	assert_int_equal(when_ok("2026-12-01T09:00:00Z", NULL),
			 1796115600LL * S);
	assert_int_equal(when_ok("@1796115600", NULL), 1796115600LL * S);
	when_bad("tomorrow tomorrow", EINVAL);
	when_bad("noon noon", EINVAL);
	when_bad("13pm", EINVAL);
	when_bad("0am", EINVAL);
	when_bad("25:00", EINVAL);
	when_bad("10", EINVAL);
	when_bad("someday", EINVAL);
	when_bad("", EINVAL);
	when_bad("2026-02-30 10:00", EINVAL);
}

static void
test_when_zones(void **state)
{
	struct timefmt_when w;
	char longer[TIMEFMT_INPUT_MAX + 2];

	(void)state;
	if (access("/usr/share/zoneinfo/Europe/Paris", R_OK) != 0 ||
	    access("/usr/share/zoneinfo/America/New_York", R_OK) != 0) {
		print_message("no zoneinfo: skipping the named-zone cases\n");
		return;
	}
	set_tz("UTC");
	/* The process's zone is UTC; the text names another. 09:00 CET is
	 * 08:00Z; 09:00 EST is 14:00Z. */
	assert_int_equal(timefmt_parse_when("2026-12-01 09:00 Europe/Paris",
					    NOW_NS, NULL, &w),
			 0);
	assert_int_equal(w.ns, 1796112000LL * S);
	assert_string_equal(w.zone, "Europe/Paris");
	assert_false(w.relative);
	assert_int_equal(when_ok("2026-12-01 9am America/New_York", NULL),
			 1796133600LL * S);
	/* The zone argument (evctl --tz) when the text names none. */
	assert_int_equal(when_ok("2026-12-01 09:00", "Europe/Paris"),
			 1796112000LL * S);
	/* A zone in the text wins over the argument. */
	assert_int_equal(when_ok("2026-12-01 09:00 UTC", "Europe/Paris"),
			 1796115600LL * S);
	/* "tomorrow" is tomorrow in that zone: at 08:00Z it is already
	 * 2026-03-30 16:00 in Tokyo (+09:00), so tomorrow 10:00 there is
	 * 2026-03-31T01:00Z. */
	if (access("/usr/share/zoneinfo/Asia/Tokyo", R_OK) == 0)
		assert_int_equal(when_ok("tomorrow 10:00 Asia/Tokyo", NULL),
				 1774918800LL * S);
	/* DST gap (Paris, 2026-03-29 02:00 -> 03:00): 02:30 does not exist
	 * and is the first instant after the gap, 01:00Z. */
	assert_int_equal(when_ok("2026-03-29 02:30 Europe/Paris", NULL),
			 1774746000LL * S);
	/* DST overlap (Paris, 2026-10-25 03:00 -> 02:00): 02:30 exists
	 * twice; the earlier, 00:30Z. */
	assert_int_equal(when_ok("2026-10-25 02:30 Europe/Paris", NULL),
			 1792888200LL * S);
	/* An offset in the text is exact: the zone argument does not
	 * apply. */
	assert_int_equal(when_ok("2026-12-01T09:00:00+01:00", "America/New_York"),
			 1796112000LL * S);
	when_bad("in 5 minutes Europe/Paris", EINVAL);
	assert_int_equal(timefmt_parse_when("noon", NOW_NS, "No/Such_Zone", &w),
			 -EINVAL);
	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	when_bad(longer, EINVAL);
}

static void
test_when_berlin_local(void **state)
{
	(void)state;
	if (!set_berlin())
		return;
	/* The process's zone: 10:00 CEST now. tomorrow 10:00 CEST is
	 * 2026-03-31T08:00Z; today is 2026-03-30 00:00 CEST = 03-29 22:00Z. */
	assert_int_equal(when_ok("tomorrow 10:00", NULL), 1774944000LL * S);
	assert_int_equal(when_ok("today", NULL), 1774828800LL * S - 2 * H);
	assert_int_equal(when_ok("noon", NULL), NOW_NS + 2 * H);
	/* Same instant as now: the next one is tomorrow. */
	assert_int_equal(when_ok("10:00", NULL), NOW_NS + 24 * H);
	set_tz("UTC");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration_units),
	    cmocka_unit_test(test_duration_compound_and_bare),
	    cmocka_unit_test(test_duration_decimals),
	    cmocka_unit_test(test_duration_invalid),
	    cmocka_unit_test(test_duration_range),
	    cmocka_unit_test(test_time_utc_and_offsets),
	    cmocka_unit_test(test_time_epoch),
	    cmocka_unit_test(test_time_local_utc),
	    cmocka_unit_test(test_time_local_berlin),
	    cmocka_unit_test(test_time_invalid),
	    cmocka_unit_test(test_format_duration),
	    cmocka_unit_test(test_format_duration_round_trip),
	    cmocka_unit_test(test_format_time),
	    cmocka_unit_test(test_format_time_berlin),
	    cmocka_unit_test(test_format_time_round_trip),
	    cmocka_unit_test(test_format_seconds),
	    cmocka_unit_test(test_duration_words),
	    cmocka_unit_test(test_when_relative),
	    cmocka_unit_test(test_when_words_utc),
	    cmocka_unit_test(test_when_zones),
	    cmocka_unit_test(test_when_berlin_local),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
