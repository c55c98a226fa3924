/*
 * test_calendar: calendar expressions (lib/calendar.c): cron cases
 * checked by hand (the crontab(5) examples among them), OnCalendar=
 * cases, the DST gap and overlap in Europe/Berlin and America/New_York
 * under every policy, normalised forms, and invalid expressions.
 *
 * Zones are passed explicitly, so results do not depend on the
 * machine's; without /usr/share/zoneinfo the whole test is skipped
 * (exit 77). Instants are compared as ISO 8601 UTC strings.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "calendar.h"
#include "timefmt.h"

#define SHIFT CALENDAR_GAP_SHIFT
#define SKIP CALENDAR_GAP_SKIP
#define GUTC CALENDAR_GAP_UTC
#define FIRST CALENDAR_OVERLAP_FIRST
#define SECOND CALENDAR_OVERLAP_SECOND
#define BOTH CALENDAR_OVERLAP_BOTH

/* Occurrences of expr after `after` (UTC ISO) must be want[] in order,
 * and, if want ends with "never", none beyond them. */
static void
check_policy(const char *expr, const char *zone, enum calendar_gap gap,
	     enum calendar_overlap overlap, const char *after,
	     const char *const *want)
{
	char err[CALENDAR_ERROR_MAX], got[TIMEFMT_TIME_MAX];
	struct calendar *cal = NULL;
	int64_t t, next;
	int r;

	r = calendar_parse(expr, &cal, err, sizeof(err));
	if (r != 0)
		fail_msg("'%s' did not parse: %s", expr, err);
	assert_int_equal(timefmt_parse_time(after, &t), 0);
	for (; *want != NULL; want++) {
		r = calendar_next(cal, zone, gap, overlap, t, &next);
		if (strcmp(*want, "never") == 0) {
			if (r != -ENOENT)
				fail_msg("'%s': expected no more, got %d", expr,
					 r);
			break;
		}
		if (r != 0)
			fail_msg("'%s' in %s: error %d, wanted %s", expr,
				 zone ? zone : "-", r, *want);
		assert_true(timefmt_format_time(next, true, got, sizeof(got)) >
			    0);
		if (strcmp(got, *want) != 0)
			fail_msg(
			    "'%s' in %s (gap %s, overlap %s) after %s: "
			    "got %s, wanted %s",
			    expr, zone ? zone : "-", calendar_gap_name(gap),
			    calendar_overlap_name(overlap), after, got, *want);
		assert_true(next > t);
		t = next;
	}
	calendar_free(cal);
}

#define CHECK(expr, zone, after, ...)                                          \
	check_policy(expr, zone, SHIFT, FIRST, after,                          \
		     (const char *const[]){__VA_ARGS__, NULL})
#define CHECK_P(expr, zone, gap, ov, after, ...)                               \
	check_policy(expr, zone, gap, ov, after,                               \
		     (const char *const[]){__VA_ARGS__, NULL})

/* crontab(5)'s examples (Debian cron), and the classics. 2026-01-01 is
 * a Thursday. */
static void
test_cron_man_examples(void **state)
{
	(void)state;
	/* "run five minutes after midnight, every day" */
	CHECK("5 0 * * *", "UTC", "2026-01-01T00:00:00Z",
	      "2026-01-01T00:05:00Z", "2026-01-02T00:05:00Z");
	/* "run at 2:15pm on the first of every month" */
	CHECK("15 14 1 * *", "UTC", "2026-01-01T00:00:00Z",
	      "2026-01-01T14:15:00Z", "2026-02-01T14:15:00Z");
	/* "run at 10 pm on weekdays" */
	CHECK("0 22 * * 1-5", "UTC", "2026-01-01T00:00:00Z",
	      "2026-01-01T22:00:00Z", "2026-01-02T22:00:00Z",
	      "2026-01-05T22:00:00Z");
	/* "23 minutes after midn, 2am, 4am ..., everyday" */
	CHECK("23 0-23/2 * * *", "UTC", "2026-01-01T00:00:00Z",
	      "2026-01-01T00:23:00Z", "2026-01-01T02:23:00Z",
	      "2026-01-01T04:23:00Z");
	/* "run at 5 after 4 every sunday" */
	CHECK("5 4 * * sun", "UTC", "2026-01-01T00:00:00Z",
	      "2026-01-04T04:05:00Z", "2026-01-11T04:05:00Z");
	/* "every 4th hour on the 1st and on every Monday": both fields
	 * restricted, so either matches */
	CHECK("0 */4 1 * mon", "UTC", "2026-01-01T00:00:00Z",
	      "2026-01-01T04:00:00Z", "2026-01-01T08:00:00Z",
	      "2026-01-01T12:00:00Z", "2026-01-01T16:00:00Z",
	      "2026-01-01T20:00:00Z", "2026-01-05T00:00:00Z");
	/* "at midn on every Sunday that's an uneven date": day-of-month
	 * starts with '*', so both must match */
	CHECK("0 0 */2 * sun", "UTC", "2026-01-01T00:00:00Z",
	      "2026-01-11T00:00:00Z", "2026-01-25T00:00:00Z",
	      "2026-02-01T00:00:00Z");
	/* 04:30 on the 1st and 15th and on every Friday */
	CHECK("30 4 1,15 * 5", "UTC", "2026-01-01T00:00:00Z",
	      "2026-01-01T04:30:00Z", "2026-01-02T04:30:00Z",
	      "2026-01-09T04:30:00Z", "2026-01-15T04:30:00Z",
	      "2026-01-16T04:30:00Z");
}

static void
test_cron_fields(void **state)
{
	(void)state;
	CHECK("*/15 9-17 * * Mon-Fri", "UTC", "2026-01-02T17:50:00Z",
	      "2026-01-05T09:00:00Z", "2026-01-05T09:15:00Z");
	CHECK("0 0 * * 7", "UTC", "2026-01-01T00:00:00Z",
	      "2026-01-04T00:00:00Z"); /* 7 is Sunday too */
	CHECK("0 12 * jan,JUL *", "UTC", "2026-01-31T12:00:00Z",
	      "2026-07-01T12:00:00Z");
	CHECK("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z",
	      "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z");
	CHECK("0 0 31 * *", "UTC", "2026-01-31T00:00:00Z",
	      "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z");
	CHECK("5/20 * * * *", "UTC", "2026-01-01T00:00:00Z",
	      "2026-01-01T00:05:00Z", "2026-01-01T00:25:00Z",
	      "2026-01-01T00:45:00Z", "2026-01-01T01:05:00Z");
	CHECK("0 0 30 2 *", "UTC", "2026-01-01T00:00:00Z", "never");
	CHECK("@yearly", "UTC", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z");
	CHECK("@annually", "UTC", "2026-06-01T00:00:00Z",
	      "2027-01-01T00:00:00Z");
	CHECK("@monthly", "UTC", "2026-01-01T00:00:00Z",
	      "2026-02-01T00:00:00Z");
	CHECK("@weekly", "UTC", "2026-01-01T00:00:00Z", "2026-01-04T00:00:00Z");
	CHECK("@daily", "UTC", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
	CHECK("@midnight", "Europe/Berlin", "2026-01-01T00:00:00Z",
	      "2026-01-01T23:00:00Z");
	CHECK("@hourly", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z");
	/* Strictly after: an instant on an occurrence is not one. */
	CHECK("0 * * * *", "UTC", "2026-01-01T01:00:00Z",
	      "2026-01-01T02:00:00Z");
	CHECK("0 * * * *", "UTC", "2026-01-01T00:59:59.999999999Z",
	      "2026-01-01T01:00:00Z");
}

static void
test_oncalendar(void **state)
{
	(void)state;
	CHECK("Mon..Fri *-*-* 09:00:00", "UTC", "2026-01-02T10:00:00Z",
	      "2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z");
	CHECK("daily", "UTC", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z");
	CHECK("weekly", "UTC", "2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z");
	CHECK("hourly", "UTC", "2026-01-01T00:30:00Z", "2026-01-01T01:00:00Z");
	CHECK("minutely", "UTC", "2026-01-01T00:30:10Z",
	      "2026-01-01T00:31:00Z");
	CHECK("quarterly", "UTC", "2026-01-01T00:00:00Z",
	      "2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z");
	CHECK("*:0/15", "UTC", "2026-01-01T00:07:00Z", "2026-01-01T00:15:00Z",
	      "2026-01-01T00:30:00Z");
	CHECK("2026-*-01 00:00:00", "UTC", "2026-11-15T00:00:00Z",
	      "2026-12-01T00:00:00Z", "never");
	CHECK("Sat,Sun 10:00", "UTC", "2026-01-01T00:00:00Z",
	      "2026-01-03T10:00:00Z", "2026-01-04T10:00:00Z",
	      "2026-01-10T10:00:00Z");
	CHECK("*-*-1/2 3:00", "UTC", "2026-01-01T00:00:00Z",
	      "2026-01-01T03:00:00Z", "2026-01-03T03:00:00Z");
	CHECK("*:*:0/5", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T00:00:05Z",
	      "2026-01-01T00:00:10Z");
	CHECK("*:*:0/0.25", "UTC", "2026-01-01T00:00:00Z",
	      "2026-01-01T00:00:00.250Z", "2026-01-01T00:00:00.500Z");
	/* '~': from the end of the month */
	CHECK("*-02~01", "UTC", "2026-01-01T00:00:00Z", "2026-02-28T00:00:00Z",
	      "2027-02-28T00:00:00Z", "2028-02-29T00:00:00Z");
	CHECK("*-*~03 12:00", "UTC", "2026-01-01T00:00:00Z",
	      "2026-01-29T12:00:00Z", "2026-02-26T12:00:00Z");
	CHECK("Mon *-05~01..07", "UTC", "2026-01-01T00:00:00Z",
	      "2026-05-25T00:00:00Z", "2027-05-31T00:00:00Z");
	CHECK("26-06-15 12:00", "UTC", "2026-01-01T00:00:00Z",
	      "2026-06-15T12:00:00Z", "never");
	CHECK("@1790000000", NULL, "2026-01-01T00:00:00Z",
	      "2026-09-21T14:13:20Z", "never");
	/* The expression's zone overrides the one passed. */
	CHECK("*-*-* 09:00 Asia/Tokyo", "Europe/Berlin", "2026-01-01T01:00:00Z",
	      "2026-01-02T00:00:00Z");
	CHECK("*-*-* 09:00 UTC", "Europe/Berlin", "2026-01-01T01:00:00Z",
	      "2026-01-01T09:00:00Z");
	CHECK("Mon..Fri 09:00", "Europe/Berlin", "2026-07-01T00:00:00Z",
	      "2026-07-01T07:00:00Z");
}

/* Europe/Berlin 2026: 02:00 CET -> 03:00 CEST on Mar 29 (01:00Z), 03:00
 * CEST -> 02:00 CET on Oct 25 (01:00Z). */
static void
test_dst_berlin(void **state)
{
	const char *b = "Europe/Berlin";

	(void)state;
	CHECK_P("*-*-* 02:30", b, SHIFT, FIRST, "2026-03-28T12:00:00Z",
		"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z");
	CHECK_P("*-*-* 02:30", b, SKIP, FIRST, "2026-03-28T12:00:00Z",
		"2026-03-30T00:30:00Z");
	CHECK_P("*-*-* 02:30", b, GUTC, FIRST, "2026-03-28T12:00:00Z",
		"2026-03-29T01:30:00Z", "2026-03-30T00:30:00Z");
	/* Several times in the gap shift onto one instant, fired once. */
	CHECK_P("*:0/15", b, SHIFT, FIRST, "2026-03-29T00:40:00Z",
		"2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z",
		"2026-03-29T01:15:00Z");
	CHECK_P("*-*-* 02:30", b, SHIFT, FIRST, "2026-10-24T12:00:00Z",
		"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z");
	CHECK_P("*-*-* 02:30", b, SHIFT, SECOND, "2026-10-24T12:00:00Z",
		"2026-10-25T01:30:00Z", "2026-10-26T01:30:00Z");
	CHECK_P("*-*-* 02:30", b, SHIFT, BOTH, "2026-10-24T12:00:00Z",
		"2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z",
		"2026-10-26T01:30:00Z");
	/* From inside the second pass: 'first' has had them all. */
	CHECK_P("*:0/15", b, SHIFT, FIRST, "2026-10-25T01:10:00Z",
		"2026-10-25T02:00:00Z");
	CHECK_P("*:0/15", b, SHIFT, BOTH, "2026-10-25T00:40:00Z",
		"2026-10-25T00:45:00Z", "2026-10-25T01:00:00Z",
		"2026-10-25T01:15:00Z");
	CHECK_P("*:0/15", b, SHIFT, SECOND, "2026-10-24T23:40:00Z",
		"2026-10-24T23:45:00Z", "2026-10-25T01:00:00Z");
}

/* America/New_York 2026: 02:00 EST -> 03:00 EDT on Mar 8 (07:00Z), 02:00
 * EDT -> 01:00 EST on Nov 1 (06:00Z). */
static void
test_dst_new_york(void **state)
{
	const char *ny = "America/New_York";

	(void)state;
	CHECK_P("30 2 * * *", ny, SHIFT, FIRST, "2026-03-07T12:00:00Z",
		"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z");
	CHECK_P("30 2 * * *", ny, SKIP, FIRST, "2026-03-07T12:00:00Z",
		"2026-03-09T06:30:00Z");
	CHECK_P("30 2 * * *", ny, GUTC, FIRST, "2026-03-07T12:00:00Z",
		"2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z");
	CHECK_P("*-*-* 01:30", ny, SHIFT, FIRST, "2026-10-31T12:00:00Z",
		"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z");
	CHECK_P("*-*-* 01:30", ny, SHIFT, SECOND, "2026-10-31T12:00:00Z",
		"2026-11-01T06:30:00Z", "2026-11-02T06:30:00Z");
	CHECK_P("*-*-* 01:30", ny, SHIFT, BOTH, "2026-10-31T12:00:00Z",
		"2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z",
		"2026-11-02T06:30:00Z");
	/* A time not touched by the change keeps its wall time. */
	CHECK_P("0 9 * * *", ny, SHIFT, FIRST, "2026-03-07T15:00:00Z",
		"2026-03-08T13:00:00Z");
}

static void
check_format(const char *expr, const char *want)
{
	char err[CALENDAR_ERROR_MAX], got[CALENDAR_FORMAT_MAX];
	struct calendar *cal = NULL;

	if (calendar_parse(expr, &cal, err, sizeof(err)) != 0)
		fail_msg("'%s' did not parse: %s", expr, err);
	assert_true(calendar_format(cal, got, sizeof(got)) > 0);
	if (strcmp(got, want) != 0)
		fail_msg("'%s' normalised to '%s', wanted '%s'", expr, got,
			 want);
	assert_int_equal(calendar_format(cal, got, 4), -ENOSPC);
	calendar_free(cal);
}

/* The "Normalized form" systemd-analyze calendar prints (systemd 252). */
static void
test_format(void **state)
{
	(void)state;
	check_format("Mon..Fri *-*-* 09:00", "Mon..Fri *-*-* 09:00:00");
	check_format("*:0/15", "*-*-* *:00/15:00");
	check_format("daily", "*-*-* 00:00:00");
	check_format("weekly", "Mon *-*-* 00:00:00");
	check_format("Sat,Sun 10:00", "Sat,Sun *-*-* 10:00:00");
	check_format("*-*-1/2 3:00", "*-*-01/2 03:00:00");
	check_format("*-02~01", "*-02~01 00:00:00");
	check_format("Mon,Tue,Wed", "Mon..Wed *-*-* 00:00:00");
	check_format("Mon-Sun 1:2", "*-*-* 01:02:00");
	check_format("*-*-* 02:30 Europe/Berlin",
		     "*-*-* 02:30:00 Europe/Berlin");
	check_format("26-06-15", "2026-06-15 00:00:00");
	check_format("*:*:0/0.5", "*-*-* *:*:00/0.500000");
	check_format("3,1,2,1:00", "*-*-* 01,02,03:00:00");
	check_format("*-*-* 9..17/2:00", "*-*-* 09..17/2:00:00");
	check_format("*/15 9-17 * * Mon-Fri", "*/15 9-17 * * 1-5");
	check_format("@daily", "0 0 * * *");
	check_format("0 0 1 jan,jul *", "0 0 1 1,7 *");
}

static void
check_invalid(const char *expr, const char *needle)
{
	char err[CALENDAR_ERROR_MAX];
	struct calendar *cal = (struct calendar *)0x1;

	if (calendar_parse(expr, &cal, err, sizeof(err)) != -EINVAL)
		fail_msg("'%s' was accepted", expr);
	assert_ptr_equal(cal, (struct calendar *)0x1);
	if (strstr(err, needle) == NULL)
		fail_msg("'%s': message '%s' does not mention '%s'", expr, err,
			 needle);
}

static void
test_invalid(void **state)
{
	(void)state;
	check_invalid("", "empty");
	check_invalid("   ", "empty");
	check_invalid("25:00", "hour 25");
	check_invalid("*-13-01", "month 13");
	check_invalid("*-*-32", "day 32");
	check_invalid("Fri..Mon", "backwards");
	check_invalid("Mo 10:00", "unknown weekday");
	check_invalid("Mon *:0/61", "too large");
	check_invalid("*-*-* *:*/5", "cron syntax");
	check_invalid("*-*-* 10:00 Mars/Olympus_Mons", "time zone");
	check_invalid("*-*-* 10", "time");
	check_invalid("*/5 * * *", "");
	check_invalid("60 * * * *", "minute 60");
	check_invalid("* 24 * * *", "hour 24");
	check_invalid("* * 0 * *", "day-of-month 0");
	check_invalid("* * * 13 *", "month 13");
	check_invalid("* * * * 8", "day-of-week 8");
	check_invalid("* * * foo *", "month");
	check_invalid("5-1 * * * *", "backwards");
	check_invalid("*/0 * * * *", "step");
	check_invalid("1,,2 * * * *", "minute");
	check_invalid("* * * * * *", "5 fields");
	check_invalid("@reboot", "not a time");
	check_invalid("@fortnightly", "macro");
}

static void
test_policy_names(void **state)
{
	enum calendar_gap g;
	enum calendar_overlap o;

	(void)state;
	assert_int_equal(calendar_gap_from_name("skip", &g), 0);
	assert_int_equal(g, CALENDAR_GAP_SKIP);
	assert_int_equal(calendar_gap_from_name("both", &g), -EINVAL);
	assert_int_equal(calendar_overlap_from_name("both", &o), 0);
	assert_int_equal(o, CALENDAR_OVERLAP_BOTH);
	assert_string_equal(calendar_gap_name(CALENDAR_GAP_UTC), "utc");
	assert_string_equal(calendar_overlap_name(CALENDAR_OVERLAP_SECOND),
			    "second");
	assert_false(calendar_zone_valid("../etc/passwd"));
	assert_false(calendar_zone_valid("/etc/localtime"));
	assert_false(calendar_zone_valid("Nowhere/Atlantis"));
	assert_true(calendar_zone_valid("Europe/Berlin"));
}

/* A computation in another zone leaves TZ as it was, set or unset (it
 * never touches TZ: lib/tz.h reads zones itself). */
static void
test_tz_restored(void **state)
{
	char err[CALENDAR_ERROR_MAX], loc[CALENDAR_LOCAL_MAX];
	struct calendar *cal;
	int64_t next;

	(void)state;
	assert_int_equal(calendar_parse("daily", &cal, err, sizeof(err)), 0);
	setenv("TZ", "America/New_York", 1);
	assert_int_equal(
	    calendar_next(cal, "Asia/Tokyo", SHIFT, FIRST, 0, &next), 0);
	assert_string_equal(getenv("TZ"), "America/New_York");
	unsetenv("TZ");
	assert_int_equal(
	    calendar_next(cal, "Asia/Tokyo", SHIFT, FIRST, 0, &next), 0);
	assert_null(getenv("TZ"));
	assert_int_equal(
	    calendar_next(cal, "Not/AZone", SHIFT, FIRST, 0, &next), -EINVAL);
	assert_true(
	    calendar_format_local(next, "Asia/Tokyo", loc, sizeof(loc)) > 0);
	assert_string_equal(loc, "1970-01-02 00:00:00 JST");
	assert_int_equal(
	    calendar_format_local(1500000000, "UTC", loc, sizeof(loc)), 30);
	assert_string_equal(loc, "1970-01-01 00:00:01.500000 UTC");
	calendar_free(cal);
	calendar_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cron_man_examples),
	    cmocka_unit_test(test_cron_fields),
	    cmocka_unit_test(test_oncalendar),
	    cmocka_unit_test(test_dst_berlin),
	    cmocka_unit_test(test_dst_new_york),
	    cmocka_unit_test(test_format),
	    cmocka_unit_test(test_invalid),
	    cmocka_unit_test(test_policy_names),
	    cmocka_unit_test(test_tz_restored),
	};

	if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) != 0 ||
	    access("/usr/share/zoneinfo/America/New_York", R_OK) != 0) {
		printf("SKIP: no zone database in /usr/share/zoneinfo "
		       "(Debian package tzdata)\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
