/*
 * test_repeat: next occurrences and effective deadlines (daemon/repeat.c)
 * on simulated time: no drift, counts, misfire catch-up, calendar
 * occurrences across DST and across clock jumps, randomized delay and
 * accuracy never early, the stored form.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "evd.pb-c.h"
#include "repeat.h"

#define S INT64_C(1000000000)

static struct repeat *
build(int64_t every, uint64_t count, const char *cal, const char *tz,
      int clock)
{
	Evd__TimerOptions o = EVD__TIMER_OPTIONS__INIT;
	Evd__Repeat r = EVD__REPEAT__INIT;
	struct repeat *rep = NULL;
	char err[160];

	r.has_every_ns = every > 0;
	r.every_ns = every;
	r.has_count = count > 0;
	r.count = count;
	o.repeat = &r;
	if (repeat_from_options(&o, cal, tz, clock, &rep, err, sizeof err) < 0)
		fail_msg("repeat_from_options: %s", err);
	assert_non_null(rep);
	return rep;
}

/* Every deadline is base + k * every, whatever the lateness of each fire
 * (up to most of a period) and over 1,000 periods. */
static void
test_interval_no_drift(void **state)
{
	struct repeat *r = build(600 * S, 0, NULL, NULL, EVD__CLOCK__MONOTONIC);
	int64_t base = 12345 * S + 678, d = base, next;
	uint64_t k;

	srand(7);
	for (k = 1; k <= 1000; k++) {
		/* fired up to 0.9 s late */
		int64_t now = d + (int64_t)(rand() % 900) * 1000000;

		assert_int_equal(repeat_next(r, EVD__MISFIRE__MISFIRE_FIRE, k, d,
		                             now, &next), 0);
		assert_int_equal(next, base + (int64_t)k * 600 * S);
		d = next;
	}
	repeat_free(r);
}

static void
test_interval_count(void **state)
{
	struct repeat *r = build(S, 3, NULL, NULL, EVD__CLOCK__MONOTONIC);
	int64_t next;

	assert_int_equal(repeat_next(r, 0, 1, 0, 0, &next), 0);
	assert_int_equal(next, S);
	assert_int_equal(repeat_next(r, 0, 2, S, S, &next), 0);
	assert_int_equal(repeat_next(r, 0, 3, 2 * S, 2 * S, &next), -ENOENT);
	repeat_free(r);
}

/* Behind by 3.5 periods: fire/skip go on at the first occurrence after
 * now, on the old grid; all takes every missed one in turn. */
static void
test_interval_misfire(void **state)
{
	struct repeat *r = build(10 * S, 0, NULL, NULL, EVD__CLOCK__BOOTTIME);
	int64_t next;

	assert_int_equal(repeat_next(r, EVD__MISFIRE__MISFIRE_FIRE, 1, 100 * S,
	                             135 * S, &next), 0);
	assert_int_equal(next, 140 * S);
	assert_int_equal(repeat_next(r, EVD__MISFIRE__MISFIRE_SKIP, 1, 100 * S,
	                             140 * S, &next), 0);
	assert_int_equal(next, 150 * S); /* strictly after now */
	assert_int_equal(repeat_next(r, EVD__MISFIRE__MISFIRE_ALL, 1, 100 * S,
	                             135 * S, &next), 0);
	assert_int_equal(next, 110 * S);
	repeat_free(r);
}

static int64_t
utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
		         .tm_hour = h, .tm_min = mi, .tm_sec = s };

	return (int64_t)timegm(&tm) * S;
}

/* Weekdays at 09:00 Berlin: across the spring-forward weekend the UTC
 * instant moves from 08:00 to 07:00. */
static void
test_calendar_dst(void **state)
{
	struct repeat *r = build(0, 0, "Mon..Fri *-*-* 09:00:00",
	                         "Europe/Berlin", EVD__CLOCK__REALTIME);
	int64_t t;

	/* Friday 2026-03-27 09:00 CET = 08:00 UTC */
	assert_int_equal(repeat_first(r, utc(2026, 3, 27, 0, 0, 0), &t), 0);
	assert_int_equal(t, utc(2026, 3, 27, 8, 0, 0));
	/* then Monday 2026-03-30 09:00 CEST = 07:00 UTC */
	assert_int_equal(repeat_next(r, 0, 1, t, t, &t), 0);
	assert_int_equal(t, utc(2026, 3, 30, 7, 0, 0));
	repeat_free(r);

	/* 02:30 daily does not exist on 2026-03-29 in Berlin: shifted to
	 * 03:00 CEST (01:00 UTC). */
	r = build(0, 0, "*-*-* 02:30:00", "Europe/Berlin",
	          EVD__CLOCK__REALTIME);
	assert_int_equal(repeat_first(r, utc(2026, 3, 28, 12, 0, 0), &t), 0);
	assert_int_equal(t, utc(2026, 3, 29, 1, 0, 0));
	repeat_free(r);
}

/* Cron syntax, and the clock jumping back a day: the next occurrence
 * computed from the new "now" is the nearest one, not the old one. */
static void
test_calendar_clock_jump(void **state)
{
	struct repeat *r = build(0, 0, "0 9 * * *", "UTC",
	                         EVD__CLOCK__REALTIME);
	int64_t t, now = utc(2026, 11, 25, 10, 0, 0);

	assert_int_equal(repeat_first(r, now, &t), 0);
	assert_int_equal(t, utc(2026, 11, 26, 9, 0, 0));
	/* The wall clock is set back by a day: from the new now, today's
	 * 09:00 (of the new date) comes first. */
	now -= 86400 * S;
	assert_int_equal(repeat_first(r, now, &t), 0);
	assert_int_equal(t, utc(2026, 11, 25, 9, 0, 0));
	/* Forward by two days: the pending occurrence is past, it fires
	 * (late) and the next one is after the new now. */
	now += 3 * 86400 * S;
	assert_int_equal(repeat_next(r, EVD__MISFIRE__MISFIRE_FIRE, 1,
	                             utc(2026, 11, 26, 9, 0, 0), now, &t), 0);
	assert_int_equal(t, utc(2026, 11, 28, 9, 0, 0));
	repeat_free(r);
}

/* Randomized delay stays in [0, delay); accuracy moves a deadline to a
 * shared boundary within its window; neither is ever early. */
static void
test_effective(void **state)
{
	Evd__TimerOptions o = EVD__TIMER_OPTIONS__INIT;
	struct repeat *r = NULL;
	char err[160];
	int64_t d, e, base = 1000 * S + 123456789;
	uint64_t rnd;
	int i;

	o.has_randomized_delay_ns = true;
	o.randomized_delay_ns = 5 * S;
	assert_int_equal(repeat_from_options(&o, NULL, NULL,
	                                     EVD__CLOCK__MONOTONIC, &r, err,
	                                     sizeof err), 0);
	for (i = 0, rnd = 88172645463325252ULL; i < 1000; i++) {
		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		e = repeat_effective(r, base, rnd);
		assert_true(e >= base && e < base + 5 * S);
	}
	repeat_free(r);

	o.has_randomized_delay_ns = false;
	o.has_accuracy_ns = true;
	o.accuracy_ns = S; /* grain: 1 s */
	assert_int_equal(repeat_from_options(&o, NULL, NULL,
	                                     EVD__CLOCK__MONOTONIC, &r, err,
	                                     sizeof err), 0);
	for (d = base; d < base + 3 * S; d += 10000000) {
		e = repeat_effective(r, d, 0);
		assert_true(e >= d && e <= d + S);
		assert_int_equal(e % S, 0); /* shared boundaries */
	}
	repeat_free(r);
}

static void
test_invalid(void **state)
{
	Evd__TimerOptions o = EVD__TIMER_OPTIONS__INIT;
	Evd__Repeat rp = EVD__REPEAT__INIT;
	struct repeat *r = NULL;
	char err[160];

	o.repeat = &rp;
	rp.has_every_ns = true;
	rp.every_ns = 10; /* below 1 ms */
	assert_int_equal(repeat_from_options(&o, NULL, NULL, 0, &r, err,
	                                     sizeof err), -EINVAL);
	rp.every_ns = S;
	assert_int_equal(repeat_from_options(&o, "daily", NULL,
	                                     EVD__CLOCK__REALTIME, &r, err,
	                                     sizeof err), -EINVAL);
	rp.has_every_ns = false;
	assert_int_equal(repeat_from_options(&o, "daily", NULL,
	                                     EVD__CLOCK__MONOTONIC, &r, err,
	                                     sizeof err), -EINVAL);
	assert_int_equal(repeat_from_options(&o, "no such thing", NULL,
	                                     EVD__CLOCK__REALTIME, &r, err,
	                                     sizeof err), -EINVAL);
	assert_non_null(strstr(err, "calendar"));
	/* Fractions of a second: one fire per second at most. */
	assert_int_equal(repeat_from_options(&o, "*:*:0/0.000001", NULL,
	                                     EVD__CLOCK__REALTIME, &r, err,
	                                     sizeof err), -EINVAL);
	assert_non_null(strstr(err, "whole seconds"));
	assert_int_equal(repeat_from_options(&o, "daily", "Mars/Olympus",
	                                     EVD__CLOCK__REALTIME, &r, err,
	                                     sizeof err), -EINVAL);
	rp.has_count = true;
	rp.count = 2; /* count without a repeat */
	assert_int_equal(repeat_from_options(&o, NULL, NULL, 0, &r, err,
	                                     sizeof err), -EINVAL);
	rp.calendar = "daily"; /* only through CallOn */
	assert_int_equal(repeat_from_options(&o, NULL, NULL,
	                                     EVD__CLOCK__REALTIME, &r, err,
	                                     sizeof err), -EINVAL);
	rp.calendar = NULL;
	rp.has_count = false;
	rp.has_dst_gap = true;
	rp.dst_gap = 7;
	assert_int_equal(repeat_from_options(&o, "daily", NULL,
	                                     EVD__CLOCK__REALTIME, &r, err,
	                                     sizeof err), -EINVAL);
	assert_null(r);
	/* Nothing beyond a deadline: no schedule at all. */
	assert_int_equal(repeat_from_options(NULL, NULL, NULL, 0, &r, err,
	                                     sizeof err), 0);
	assert_null(r);
}

static void
test_pack_round_trip(void **state)
{
	struct repeat *r = build(0, 5, "*-*-01 00:00:00", "Asia/Tokyo",
	                         EVD__CLOCK__REALTIME), *u = NULL;
	char err[160];
	uint8_t *buf;
	size_t len;
	int64_t a, b;

	buf = repeat_pack(r, &len);
	assert_non_null(buf);
	assert_int_equal(repeat_unpack(buf, len, EVD__CLOCK__REALTIME, &u, err,
	                               sizeof err), 0);
	assert_non_null(u);
	assert_int_equal(u->count, 5);
	assert_string_equal(u->tz, "Asia/Tokyo");
	assert_string_equal(u->cal_text, "*-*-01 00:00:00");
	assert_int_equal(repeat_first(r, utc(2026, 11, 25, 0, 0, 0), &a), 0);
	assert_int_equal(repeat_first(u, utc(2026, 11, 25, 0, 0, 0), &b), 0);
	assert_int_equal(a, b);
	assert_int_equal(a, utc(2026, 11, 30, 15, 0, 0)); /* Dec 1 JST */
	free(buf);
	repeat_free(r);
	repeat_free(u);
	assert_int_equal(repeat_unpack((const uint8_t *)"\xff\xff", 2,
	                               EVD__CLOCK__REALTIME, &u, err,
	                               sizeof err), -EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interval_no_drift),
		cmocka_unit_test(test_interval_count),
		cmocka_unit_test(test_interval_misfire),
		cmocka_unit_test(test_calendar_dst),
		cmocka_unit_test(test_calendar_clock_jump),
		cmocka_unit_test(test_effective),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_pack_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
