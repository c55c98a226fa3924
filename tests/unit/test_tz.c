/*
 * test_tz: the zone database reader (lib/tz.c) on its own.
 *
 * POSIX TZ rules (parse edge cases, Jn / n / Mm.w.d dates, signed and
 * large /time offsets) and real zones are checked against glibc's
 * localtime_r: this test, and only this single-threaded test, sets TZ
 * so that glibc is the reference, then compares offset, DST flag and
 * abbreviation at every transition (found by bisection, checked one
 * second either side) and at pseudo-random instants from 1900 to 2100,
 * past the end of the files' transitions where the footer rule rules.
 * Malformed TZif data (every truncation, bad magic and version, huge or
 * inconsistent counts, bad indices, leap records, bad footers) must give
 * a clean -EINVAL; files are checked for type and size; names from peers
 * for escapes. Without /usr/share/zoneinfo the test exits 77.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "calendar.h"
#include "tz.h"

#define ZONEINFO "/usr/share/zoneinfo"
#define DAY INT64_C(86400)
#define Y1900 INT64_C(-2208988800)
#define Y1970 (INT64_C(86400) * 2)
#define Y2100 INT64_C(4102444800)

/* ---- helpers ---- */

static uint64_t lcg_state = 0x9e3779b97f4a7c15u;

static uint64_t
lcg(void)
{
	lcg_state = lcg_state * 6364136223846793005u + 1442695040888963407u;
	return lcg_state >> 11;
}

/* glibc as the reference: TZ is set for this process (single-threaded). */
static void
ref_set(const char *tzval)
{
	unsetenv("TZDIR");
	setenv("TZ", tzval, 1);
	tzset();
}

static bool
info_equal(const struct tz_info *a, const struct tz_info *b)
{
	return a->utoff_s == b->utoff_s && a->isdst == b->isdst &&
	       strcmp(a->abbr, b->abbr) == 0;
}

static void
check_ref(const char *what, const struct tz *z, int64_t t)
{
	time_t tt = (time_t)t;
	struct tz_info i;
	struct tm tm;

	assert_int_equal(tz_lookup(z, t, &i), 0);
	assert_non_null(localtime_r(&tt, &tm));
	if (i.utoff_s != tm.tm_gmtoff || i.isdst != (tm.tm_isdst > 0) ||
	    strcmp(i.abbr, tm.tm_zone) != 0)
		fail_msg("%s at %lld: ours %d %d %s, glibc %ld %d %s", what,
			 (long long)t, (int)i.utoff_s, (int)i.isdst, i.abbr,
			 (long)tm.tm_gmtoff, tm.tm_isdst, tm.tm_zone);
}

/* Walks [from, to) a week at a time; every change of local time type is
 * bisected to its instant and compared there and a second before; a few
 * pseudo-random instants per week too. Returns the changes found. */
static int
compare_range(const char *what, const struct tz *z, int64_t from, int64_t to)
{
	struct tz_info a, b, m;
	int64_t t, lo, hi, mid;
	int changes = 0;

	assert_int_equal(tz_lookup(z, from, &a), 0);
	check_ref(what, z, from);
	for (t = from; t < to; t += 7 * DAY) {
		assert_int_equal(tz_lookup(z, t + 7 * DAY, &b), 0);
		check_ref(what, z, t + (int64_t)(lcg() % (7 * DAY)));
		if (!info_equal(&a, &b)) {
			lo = t;
			hi = t + 7 * DAY;
			while (hi - lo > 1) {
				mid = lo + (hi - lo) / 2;
				assert_int_equal(tz_lookup(z, mid, &m), 0);
				if (info_equal(&m, &a))
					lo = mid;
				else
					hi = mid;
			}
			check_ref(what, z, hi - 1);
			check_ref(what, z, hi);
			check_ref(what, z, hi + 1);
			changes++;
		}
		a = b;
	}
	return changes;
}

static int
compare_zone(const char *name)
{
	char tzval[300];
	struct tz *z;
	int n;

	if (tz_get(name, &z) != 0)
		fail_msg("zone %s does not load", name);
	snprintf(tzval, sizeof(tzval), ":%s", name);
	ref_set(tzval);
	n = compare_range(name, z, Y1900, Y2100);
	tz_unref(z);
	return n;
}

static void
compare_rule(const char *rule, int64_t from, int64_t to, int min_changes)
{
	struct tz *z;
	int n;

	if (tz_from_rule(rule, &z) != 0)
		fail_msg("rule %s does not parse", rule);
	ref_set(rule);
	n = compare_range(rule, z, from, to);
	if (n < min_changes)
		fail_msg("rule %s: %d changes, expected at least %d", rule, n,
			 min_changes);
	tz_unref(z);
}

static struct tz_info
at(const struct tz *z, int64_t t)
{
	struct tz_info i;

	assert_int_equal(tz_lookup(z, t, &i), 0);
	return i;
}

static int64_t
utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = s};

	return (int64_t)timegm(&tm);
}

/* ---- POSIX TZ rules ---- */

static void
test_rule_parse(void **state)
{
	static const char *const good[] = {
	    "UTC0",
	    "EST5",
	    "<+13>-13",
	    "<-0330>3:30",
	    "<+0545>-5:45",
	    "EST5EDT",
	    "EST5EDT4",
	    "EST+5EDT,M3.2.0/2,M11.1.0/2",
	    "CET-1CEST,M3.5.0,M10.5.0/3",
	    "IST-2IDT,M3.4.4/26,M10.5.0",
	    "<-02>2<-01>,M3.5.0/-1,M10.5.0/0",
	    "<-04>4<-03>,M9.1.6/24,M4.1.6/24",
	    "AAA3BBB,J60/1,J300",
	    "AAA3BBB,0,365/23:59:59",
	    "AAA3BBB,M3.5.0/-167,M10.5.0/167",
	    "EST5EDT,0/0,J365/25",
	    "ABC-10:30:15DEF-11,M10.1.0,M4.1.0",
	};
	static const char *const bad[] = {
	    "",
	    "E5",
	    "EST",
	    "EST-",
	    "EST25",
	    "EST5:60",
	    "EST5:00:60",
	    "<AB>5",
	    "<ABC5",
	    "<A_C>5",
	    "EST5EDT,",
	    "EST5EDT,M3.2.0",
	    "EST5EDT,M13.1.0,M11.1.0",
	    "EST5EDT,M0.1.0,M11.1.0",
	    "EST5EDT,M3.6.0,M11.1.0",
	    "EST5EDT,M3.0.0,M11.1.0",
	    "EST5EDT,M3.2.7,M11.1.0",
	    "EST5EDT,J0,J365",
	    "EST5EDT,J366,J1",
	    "EST5EDT,366,1",
	    "EST5EDT,M3.2.0/168,M11.1.0",
	    "EST5EDT,M3.2.0,M11.1.0x",
	    "EST5EDT!",
	    "EST5EDT4x",
	    "ESTXXXXXXXXXXXXXXXXX5",
	    "EST5EDT,M3.2.0,M11.1.0/2:",
	    "EST5EDT,M3.2.0,M11.1.0,",
	    "EST 5",
	    "EST5EDT,M3..2.0,M11.1.0",
	    "EST00005",
	};
	struct tz *z;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (tz_from_rule(good[i], &z) != 0)
			fail_msg("'%s' should parse", good[i]);
		tz_unref(z);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tz_from_rule(bad[i], &z) != -EINVAL)
			fail_msg("'%s' should not parse", bad[i]);
}

static void
test_rule_values(void **state)
{
	struct tz_info i;
	struct tz *z;

	(void)state;
	assert_int_equal(tz_from_rule("EST5EDT,M3.2.0,M11.1.0", &z), 0);
	/* 2024: DST from Sun 10 Mar 07:00 UTC to Sun 3 Nov 06:00 UTC. */
	i = at(z, utc(2024, 3, 10, 6, 59, 59));
	assert_int_equal(i.utoff_s, -5 * 3600);
	assert_false(i.isdst);
	assert_string_equal(i.abbr, "EST");
	i = at(z, utc(2024, 3, 10, 7, 0, 0));
	assert_int_equal(i.utoff_s, -4 * 3600);
	assert_true(i.isdst);
	assert_string_equal(i.abbr, "EDT");
	assert_true(at(z, utc(2024, 11, 3, 5, 59, 59)).isdst);
	assert_false(at(z, utc(2024, 11, 3, 6, 0, 0)).isdst);
	tz_unref(z);

	/* A DST name without a rule: the US rule, one hour ahead. */
	assert_int_equal(tz_from_rule("EST5EDT", &z), 0);
	assert_int_equal(at(z, utc(2024, 7, 1, 0, 0, 0)).utoff_s, -4 * 3600);
	tz_unref(z);

	/* Jn never counts Feb 29, n does: J60 is 1 March, 59 is 29 Feb in
	 * a leap year and 1 March otherwise. */
	assert_int_equal(tz_from_rule("AAA0BBB,J60/0,J300/0", &z), 0);
	assert_false(at(z, utc(2024, 2, 29, 23, 59, 59)).isdst);
	assert_true(at(z, utc(2024, 3, 1, 0, 0, 0)).isdst);
	tz_unref(z);
	assert_int_equal(tz_from_rule("AAA0BBB,59/0,300/0", &z), 0);
	assert_false(at(z, utc(2024, 2, 28, 23, 59, 59)).isdst);
	assert_true(at(z, utc(2024, 2, 29, 0, 0, 0)).isdst);
	assert_false(at(z, utc(2023, 2, 28, 23, 59, 59)).isdst);
	assert_true(at(z, utc(2023, 3, 1, 0, 0, 0)).isdst);
	tz_unref(z);

	/* A negative /time: the day before, at 23:00 local. */
	assert_int_equal(tz_from_rule("<-02>2<-01>,M3.5.0/-1,M10.5.0/0", &z),
			 0);
	/* Last Sunday of March 2024 is the 31st: 30th 23:00 -02 = 01:00Z. */
	assert_false(at(z, utc(2024, 3, 31, 0, 59, 59)).isdst);
	assert_true(at(z, utc(2024, 3, 31, 1, 0, 0)).isdst);
	assert_string_equal(at(z, utc(2024, 3, 31, 1, 0, 0)).abbr, "-01");
	tz_unref(z);

	/* DST all year (the tzcode convention): across New Year too. */
	assert_int_equal(tz_from_rule("EST5EDT,0/0,J365/25", &z), 0);
	assert_true(at(z, utc(2024, 1, 1, 0, 0, 0)).isdst);
	assert_true(at(z, utc(2024, 1, 1, 4, 30, 0)).isdst);
	assert_true(at(z, utc(2024, 12, 31, 23, 0, 0)).isdst);
	assert_true(at(z, utc(2025, 7, 1, 0, 0, 0)).isdst);
	tz_unref(z);

	/* Out of range is an error, not a wrong answer. */
	assert_int_equal(tz_from_rule("UTC0", &z), 0);
	assert_int_equal(tz_lookup(z, TZ_T_MAX + 1, &i), -EOVERFLOW);
	assert_int_equal(tz_lookup(z, -TZ_T_MAX - 1, &i), -EOVERFLOW);
	assert_int_equal(tz_lookup(z, TZ_T_MAX, &i), 0);
	tz_unref(z);
}

/* The rules against glibc's own POSIX TZ parser, from 1970 on: glibc
 * computes a rule's changes of an earlier year as if it were 1970
 * (compute_change in tzset.c), where tz.c is right. */
static void
test_rule_vs_glibc(void **state)
{
	(void)state;
	compare_rule("EST5EDT,M3.2.0,M11.1.0", Y1970, Y2100, 200);
	compare_rule("CET-1CEST,M3.5.0,M10.5.0/3", Y1970, Y2100, 200);
	compare_rule("AEST-10AEDT,M10.1.0,M4.1.0/3", Y1970, Y2100, 200);
	compare_rule("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", Y1970, Y2100, 200);
	compare_rule("IST-2IDT,M3.4.4/26,M10.5.0", Y1970, Y2100, 200);
	compare_rule("<-02>2<-01>,M3.5.0/-1,M10.5.0/0", Y1970, Y2100, 200);
	compare_rule("<-04>4<-03>,M9.1.6/24,M4.1.6/24", Y1970, Y2100, 200);
	compare_rule("IST-1GMT0,M10.5.0,M3.5.0/1", Y1970, Y2100, 200);
	compare_rule("<+1245>-12:45<+1345>,M9.5.0/2:45,M4.1.0/3:45", Y1970,
		     Y2100, 200);
	compare_rule("AAA3BBB,J60/1,J300/4", Y1970, Y2100, 200);
	compare_rule("AAA3BBB,59,300/4", Y1970, Y2100, 200);
	compare_rule("AAA-3BBB-4:30,M2.5.3/-20,M11.5.6/30", Y1970, Y2100, 200);
	compare_rule("JST-9", Y1970, Y2100, 0);
}

/* ---- zones against glibc ---- */

static void
test_zones_vs_glibc(void **state)
{
	static const char *const zones[] = {
	    "Europe/Berlin",	   "America/New_York",
	    "Australia/Lord_Howe", "Australia/Sydney",
	    "America/Santiago",	   "Pacific/Auckland",
	    "America/Sao_Paulo",   "Europe/Dublin",
	    "Antarctica/Troll",	   "America/Nuuk",
	    "Asia/Jerusalem",	   "Africa/Casablanca",
	    "Pacific/Chatham",	   "Asia/Kolkata",
	    "America/St_Johns",	   "Asia/Tehran",
	    "Pacific/Kiritimati",  "Europe/London",
	    "America/Los_Angeles", "UTC",
	    "Etc/GMT+5",	   "Etc/GMT-14",
	    "Europe/Moscow",	   "Africa/Cairo",
	    "Pacific/Apia",
	};
	char path[300];
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		snprintf(path, sizeof(path), ZONEINFO "/%s", zones[i]);
		if (access(path, R_OK) != 0) {
			print_message("(no %s here, not compared)\n", zones[i]);
			continue;
		}
		n = compare_zone(zones[i]);
		/* The walk does see the changes: Berlin has had two a year
		 * since 1980, and keeps them past the file's end (2037). */
		if (strcmp(zones[i], "Europe/Berlin") == 0 && n < 2 * 120)
			fail_msg("Europe/Berlin: only %d changes seen", n);
	}
}

static void
test_zones_known(void **state)
{
	struct tz_info i;
	struct tz *z;

	(void)state;
	/* Europe/Berlin: gap 2024-03-31 01:00Z, overlap 2024-10-27 01:00Z,
	 * and in 2100, past the file's last transition, the footer rule. */
	assert_int_equal(tz_get("Europe/Berlin", &z), 0);
	i = at(z, utc(2024, 3, 31, 0, 59, 59));
	assert_int_equal(i.utoff_s, 3600);
	assert_string_equal(i.abbr, "CET");
	i = at(z, utc(2024, 3, 31, 1, 0, 0));
	assert_int_equal(i.utoff_s, 7200);
	assert_true(i.isdst);
	assert_string_equal(i.abbr, "CEST");
	assert_int_equal(at(z, utc(2024, 10, 27, 0, 59, 59)).utoff_s, 7200);
	assert_int_equal(at(z, utc(2024, 10, 27, 1, 0, 0)).utoff_s, 3600);
	assert_string_equal(at(z, utc(2100, 7, 1, 0, 0, 0)).abbr, "CEST");
	assert_string_equal(at(z, utc(2100, 12, 1, 0, 0, 0)).abbr, "CET");
	assert_int_equal(at(z, utc(2100, 3, 28, 1, 0, 0)).utoff_s, 7200);
	assert_int_equal(at(z, utc(2100, 3, 28, 0, 59, 59)).utoff_s, 3600);
	/* Before the first transition: type 0, local mean time. */
	i = at(z, utc(1800, 1, 1, 0, 0, 0));
	assert_int_equal(i.utoff_s, 3208);
	assert_string_equal(i.abbr, "LMT");
	tz_unref(z);

	/* Australia/Lord_Howe: half an hour of DST, southern summer. */
	assert_int_equal(tz_get("Australia/Lord_Howe", &z), 0);
	i = at(z, utc(2024, 1, 15, 0, 0, 0));
	assert_int_equal(i.utoff_s, 11 * 3600);
	assert_true(i.isdst);
	assert_string_equal(i.abbr, "+11");
	i = at(z, utc(2024, 7, 15, 0, 0, 0));
	assert_int_equal(i.utoff_s, 10 * 3600 + 1800);
	assert_false(i.isdst);
	assert_string_equal(i.abbr, "+1030");
	/* 2024-10-06 02:00 +1030 = 2024-10-05 15:30Z. */
	assert_int_equal(at(z, utc(2024, 10, 5, 15, 29, 59)).utoff_s, 37800);
	assert_int_equal(at(z, utc(2024, 10, 5, 15, 30, 0)).utoff_s, 39600);
	assert_int_equal(at(z, utc(2090, 1, 1, 0, 0, 0)).utoff_s, 39600);
	tz_unref(z);

	/* Etc/GMT+5 is five hours west (POSIX sign), and UTC is UTC. */
	assert_int_equal(tz_get("Etc/GMT+5", &z), 0);
	i = at(z, 0);
	assert_int_equal(i.utoff_s, -5 * 3600);
	assert_string_equal(i.abbr, "-05");
	tz_unref(z);
	assert_int_equal(tz_get("UTC", &z), 0);
	i = at(z, utc(2300, 6, 1, 0, 0, 0));
	assert_int_equal(i.utoff_s, 0);
	assert_false(i.isdst);
	assert_string_equal(i.abbr, "UTC");
	tz_unref(z);

	/* America/Sao_Paulo: DST ended in 2019; the footer has none. */
	assert_int_equal(tz_get("America/Sao_Paulo", &z), 0);
	assert_true(at(z, utc(2018, 12, 1, 0, 0, 0)).isdst);
	assert_false(at(z, utc(2050, 12, 1, 0, 0, 0)).isdst);
	tz_unref(z);
}

/* Local times through calendar.h in the half-hour and southern zones:
 * the gap and overlap policies see the zone's real offsets. */
static void
test_calendar_lord_howe(void **state)
{
	int64_t ns, local = (utc(2024, 10, 6, 2, 15, 0));
	int64_t change = utc(2024, 10, 5, 15, 30, 0);

	(void)state;
	/* 02:15 does not exist on 2024-10-06 (02:00 -> 02:30). */
	assert_int_equal(calendar_from_local(local, 0, "Australia/Lord_Howe",
					     CALENDAR_GAP_SHIFT,
					     CALENDAR_OVERLAP_FIRST, &ns),
			 0);
	assert_int_equal(ns / 1000000000, change);
	assert_int_equal(calendar_from_local(local, 0, "Australia/Lord_Howe",
					     CALENDAR_GAP_SKIP,
					     CALENDAR_OVERLAP_FIRST, &ns),
			 -ENOENT);
	assert_int_equal(calendar_from_local(local, 0, "Australia/Lord_Howe",
					     CALENDAR_GAP_UTC,
					     CALENDAR_OVERLAP_FIRST, &ns),
			 0);
	assert_int_equal(ns / 1000000000, local - 37800);
	/* 01:45 on 2024-04-07 exists twice (02:00 +11 -> 01:30 +1030). */
	local = utc(2024, 4, 7, 1, 45, 0);
	assert_int_equal(calendar_from_local(local, 0, "Australia/Lord_Howe",
					     CALENDAR_GAP_SHIFT,
					     CALENDAR_OVERLAP_FIRST, &ns),
			 0);
	assert_int_equal(ns / 1000000000, local - 39600);
	assert_int_equal(calendar_from_local(local, 0, "Australia/Lord_Howe",
					     CALENDAR_GAP_SHIFT,
					     CALENDAR_OVERLAP_SECOND, &ns),
			 0);
	assert_int_equal(ns / 1000000000, local - 37800);
}

/* ---- TZif data ---- */

struct tzif_opts {
	char version;	    /* 0, '2', '3' */
	const char *footer; /* version 2+ */
	uint32_t leapcnt;   /* records written, zeros */
};

static unsigned char *
put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return p + 4;
}

/* Types: 0 LMT +1000 s, 1 AAA +1 h, 2 BBB +2 h DST; transitions at 0
 * (to AAA) and 1e9 (to BBB); isstd and isut indicators all 0. */
static unsigned char *
tzif_block(unsigned char *p, char version, unsigned tsize, uint32_t leapcnt)
{
	static const int32_t off[3] = {1000, 3600, 7200};
	static const char chars[] = "LMT\0AAA\0BBB";
	static const int64_t trans[2] = {0, 1000000000};
	unsigned i;

	memcpy(p, "TZif", 4);
	p[4] = (unsigned char)version;
	memset(p + 5, 0, 15);
	p += 20;
	p = put32(p, 3); /* isutcnt */
	p = put32(p, 3); /* isstdcnt */
	p = put32(p, leapcnt);
	p = put32(p, 2);  /* timecnt */
	p = put32(p, 3);  /* typecnt */
	p = put32(p, 12); /* charcnt */
	for (i = 0; i < 2; i++) {
		if (tsize == 8)
			p = put32(p, (uint32_t)((uint64_t)trans[i] >> 32));
		p = put32(p, (uint32_t)trans[i]);
	}
	*p++ = 1;
	*p++ = 2;
	for (i = 0; i < 3; i++) {
		p = put32(p, (uint32_t)off[i]);
		*p++ = i == 2;
		*p++ = (unsigned char)(4 * i);
	}
	memcpy(p, chars, 12);
	p += 12;
	memset(p, 0, leapcnt * (tsize + 4));
	p += leapcnt * (tsize + 4);
	memset(p, 0, 6);
	return p + 6;
}

/* Byte offsets of the version-2 header and data in tzif_build's output
 * (no leap records). */
#define V1_LEN (44 + 2 * 4 + 2 + 3 * 6 + 12 + 6)
#define V2_HDR V1_LEN
#define V2_DATA (V2_HDR + 44)
#define V2_IDX (V2_DATA + 16)
#define V2_TYPES (V2_IDX + 2)
#define V2_CHARS (V2_TYPES + 18)
#define V2_IND (V2_CHARS + 12)

static size_t
tzif_build(unsigned char *buf, const struct tzif_opts *o)
{
	unsigned char *p = tzif_block(buf, o->version, 4, o->leapcnt);

	if (o->version == 0)
		return (size_t)(p - buf);
	p = tzif_block(p, o->version, 8, o->leapcnt);
	*p++ = '\n';
	memcpy(p, o->footer, strlen(o->footer));
	p += strlen(o->footer);
	*p++ = '\n';
	return (size_t)(p - buf);
}

/* tz_from_tzif on an exact-size copy, so ASan sees any over-read. */
static int
parse_copy(const unsigned char *buf, size_t len, struct tz **ret)
{
	unsigned char *copy = malloc(len ? len : 1);
	int r;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	r = tz_from_tzif(copy, len, ret);
	free(copy);
	return r;
}

static void
expect_bad(const unsigned char *buf, size_t len, const char *what)
{
	struct tz *z = NULL;
	int r = parse_copy(buf, len, &z);

	if (r != -EINVAL)
		fail_msg("%s: got %d, not -EINVAL", what, r);
}

static void
test_tzif_valid(void **state)
{
	struct tzif_opts o = {'2', "AAA-1BBB-2,M3.5.0,M10.5.0/3", 0};
	unsigned char buf[1024];
	struct tz_info i;
	struct tz *z;
	size_t len;

	(void)state;
	len = tzif_build(buf, &o);
	assert_int_equal(parse_copy(buf, len, &z), 0);
	i = at(z, -1);
	assert_int_equal(i.utoff_s, 1000);
	assert_string_equal(i.abbr, "LMT");
	i = at(z, 0);
	assert_int_equal(i.utoff_s, 3600);
	assert_string_equal(i.abbr, "AAA");
	assert_int_equal(at(z, 999999999).utoff_s, 3600);
	/* From the last transition on, the footer decides: 1e9 is in
	 * September 2001 (DST), December is not. */
	i = at(z, 1000000000);
	assert_true(i.isdst);
	assert_string_equal(i.abbr, "BBB");
	assert_false(at(z, utc(2001, 12, 1, 0, 0, 0)).isdst);
	assert_true(at(z, utc(2040, 7, 1, 0, 0, 0)).isdst);
	tz_unref(z);

	/* An empty footer: the last type stays. */
	o.footer = "";
	len = tzif_build(buf, &o);
	assert_int_equal(parse_copy(buf, len, &z), 0);
	assert_true(at(z, utc(2040, 12, 1, 0, 0, 0)).isdst);
	tz_unref(z);

	/* Version 1: 32-bit data, no footer. */
	o.version = 0;
	len = tzif_build(buf, &o);
	assert_int_equal(len, V1_LEN);
	assert_int_equal(parse_copy(buf, len, &z), 0);
	assert_string_equal(at(z, 5).abbr, "AAA");
	assert_string_equal(at(z, utc(2040, 12, 1, 0, 0, 0)).abbr, "BBB");
	tz_unref(z);

	/* Version 3, a version-3 footer (hour 25 and a negative one). */
	o.version = '3';
	o.footer = "AAA-1BBB-2,M3.5.0/-1,M10.5.0/25";
	len = tzif_build(buf, &o);
	assert_int_equal(parse_copy(buf, len, &z), 0);
	tz_unref(z);
}

/* A real file read as version 1 (its 32-bit block only) agrees with the
 * version-2 reading wherever 32 bits reach. */
static void
test_tzif_v1_of_real_file(void **state)
{
	unsigned char *buf;
	struct tz *z1, *z2;
	struct tz_info a, b;
	int64_t t;
	ssize_t n;
	int fd;

	(void)state;
	buf = malloc(TZ_FILE_MAX);
	assert_non_null(buf);
	fd = open(ZONEINFO "/America/New_York", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, TZ_FILE_MAX);
	close(fd);
	assert_true(n > 44);
	assert_int_equal(tz_from_tzif(buf, (size_t)n, &z2), 0);
	buf[4] = 0;
	assert_int_equal(tz_from_tzif(buf, (size_t)n, &z1), 0);
	for (t = -(INT64_C(1) << 31) + 1; t < utc(2037, 1, 1, 0, 0, 0);
	     t += 3 * 3600 + 7) {
		a = at(z1, t);
		b = at(z2, t);
		if (!info_equal(&a, &b))
			fail_msg("v1 and v2 differ at %lld", (long long)t);
	}
	tz_unref(z1);
	tz_unref(z2);
	free(buf);
}

static void
test_tzif_malformed(void **state)
{
	struct tzif_opts o = {'2', "AAA-1BBB-2,M3.5.0,M10.5.0/3", 0};
	unsigned char good[1024], b[1024];
	size_t len, cut;

	(void)state;
	len = tzif_build(good, &o);
#define MUTATE(what, stmt)                                                     \
	do {                                                                   \
		memcpy(b, good, len);                                          \
		stmt;                                                          \
		expect_bad(b, len, what);                                      \
	} while (0)

	/* Every truncation, the footer's last newline included. */
	for (cut = 0; cut < len; cut++)
		expect_bad(good, cut, "truncated");
	MUTATE("bad magic", b[0] = 'X');
	MUTATE("bad magic, v2 header", b[V2_HDR + 3] = 'X');
	MUTATE("version 1", b[4] = '1');
	MUTATE("huge timecnt v1", put32(b + 32, 0xffffffffu));
	MUTATE("huge timecnt v2", put32(b + V2_HDR + 32, 0xffffffffu));
	MUTATE("huge charcnt", put32(b + V2_HDR + 40, 0xffffffffu));
	MUTATE("huge leapcnt", put32(b + V2_HDR + 28, 0x40000000u));
	MUTATE("huge typecnt", put32(b + V2_HDR + 36, 0xffffffffu));
	MUTATE("typecnt 0", put32(b + V2_HDR + 36, 0));
	MUTATE("charcnt 0", put32(b + V2_HDR + 40, 0));
	MUTATE("isutcnt != typecnt", put32(b + V2_HDR + 20, 2));
	MUTATE("isstdcnt != typecnt", put32(b + V2_HDR + 24, 1));
	MUTATE("type index", b[V2_IDX + 1] = 3);
	MUTATE("unsorted", memset(b + V2_DATA + 8, 0xff, 8));
	MUTATE("equal transitions", put32(b + V2_DATA + 12, 0));
	MUTATE("utoff -2^31", put32(b + V2_TYPES, 0x80000000u));
	MUTATE("utoff > 26 h", put32(b + V2_TYPES, 100000));
	MUTATE("isdst 2", b[V2_TYPES + 4] = 2);
	MUTATE("abbr index", b[V2_TYPES + 5] = 12);
	MUTATE("abbr unterminated", b[V2_CHARS + 11] = 'X');
	MUTATE("indicator 2", b[V2_IND] = 2);
	MUTATE("ut without std", b[V2_IND + 3] = 1);
	MUTATE("footer start", b[V2_IND + 6] = 'X');
	MUTATE("footer NUL", b[V2_IND + 8] = '\0');
#undef MUTATE
	o.footer = "AAA-1BBB-2,M3.5.0";
	len = tzif_build(b, &o);
	expect_bad(b, len, "bad footer rule");
	o.footer = "AAA-1BBB-2,M3.5.0,M10.5.0\nx";
	len = tzif_build(b, &o);
	expect_bad(b, len, "footer with a newline");
	o.footer = "AAA-1BBB-2,M3.5.0,M10.5.0/3";
	o.leapcnt = 2;
	len = tzif_build(b, &o);
	expect_bad(b, len, "leap seconds");
	o.version = 0;
	len = tzif_build(b, &o);
	expect_bad(b, len, "leap seconds, v1");
}

/* ---- files, names, the process's zone, the cache ---- */

static char tmpdir[64];

static void
write_file(const char *name, const void *buf, size_t len)
{
	char path[256], tmp[300];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static void
test_names(void **state)
{
	char longname[TZ_NAME_MAX + 1];

	(void)state;
	assert_true(tz_name_valid("Europe/Berlin"));
	assert_true(tz_name_valid("Etc/GMT+5"));
	assert_true(tz_name_valid("America/Port-au-Prince"));
	assert_false(tz_name_valid(NULL));
	assert_false(tz_name_valid(""));
	assert_false(tz_name_valid("/etc/localtime"));
	assert_false(tz_name_valid("../../etc/passwd"));
	assert_false(tz_name_valid("Europe/../../../etc/passwd"));
	assert_false(tz_name_valid(".."));
	assert_false(tz_name_valid("Europe/Berlin\n"));
	assert_false(tz_name_valid("Europe/Berlin "));
	assert_false(tz_name_valid("Europe\\Berlin"));
	assert_false(tz_name_valid("./UTC"));
	memset(longname, 'a', TZ_NAME_MAX);
	longname[TZ_NAME_MAX] = '\0';
	assert_false(tz_name_valid(longname));
	longname[TZ_NAME_MAX - 1] = '\0';
	assert_true(tz_name_valid(longname));
}

static void
test_files(void **state)
{
	struct tzif_opts o = {'2', "AAA-1BBB-2,M3.5.0,M10.5.0/3", 0};
	unsigned char buf[1024];
	char path[256];
	struct tz *z;
	size_t len;
	int fd;

	(void)state;
	setenv("TZDIR", tmpdir, 1);
	len = tzif_build(buf, &o);
	write_file("Test", buf, len);
	assert_int_equal(tz_get("Test", &z), 0);
	assert_int_equal(at(z, 5).utoff_s, 3600);
	tz_unref(z);
	assert_int_equal(tz_get("Missing", &z), -ENOENT);
	assert_int_equal(tz_get("../Test", &z), -EINVAL);
	assert_int_equal(tz_get("/etc/localtime", &z), -EINVAL);
	/* A replaced file is read again. */
	put32(buf + V2_TYPES + 6, 5400);
	write_file("Test", buf, len);
	assert_int_equal(tz_get("Test", &z), 0);
	assert_int_equal(at(z, 5).utoff_s, 5400);
	tz_unref(z);
	/* Not a TZif file, a directory, a FIFO (must not block), too big. */
	write_file("Text", "hello world\n", 12);
	assert_int_equal(tz_get("Text", &z), -EINVAL);
	snprintf(path, sizeof(path), "%s/Dir", tmpdir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(tz_get("Dir", &z), -EINVAL);
	assert_int_equal(tz_get("Dir/", &z), -EINVAL);
	snprintf(path, sizeof(path), "%s/Fifo", tmpdir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(tz_get("Fifo", &z), -EINVAL);
	snprintf(path, sizeof(path), "%s/Big", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	assert_int_equal(ftruncate(fd, TZ_FILE_MAX + 1), 0);
	close(fd);
	assert_int_equal(tz_get("Big", &z), -EFBIG);
	assert_false(calendar_zone_valid("Big"));
	assert_false(calendar_zone_valid("Text"));
	assert_true(calendar_zone_valid("Test"));
	unsetenv("TZDIR");
	assert_false(calendar_zone_valid("Test"));
}

/* More zones than the cache holds, all held at once: evicted zones live
 * on while referenced; all are right afterwards. */
static void
test_cache(void **state)
{
	static const char *const names[] = {
	    "Europe/Berlin",	   "Europe/Paris",
	    "Europe/London",	   "Europe/Madrid",
	    "Europe/Rome",	   "Europe/Vienna",
	    "Europe/Oslo",	   "Europe/Helsinki",
	    "Europe/Athens",	   "Europe/Kyiv",
	    "Europe/Lisbon",	   "Europe/Dublin",
	    "America/New_York",	   "America/Chicago",
	    "America/Denver",	   "America/Los_Angeles",
	    "America/Anchorage",   "America/Halifax",
	    "America/St_Johns",	   "America/Sao_Paulo",
	    "America/Santiago",	   "America/Mexico_City",
	    "Asia/Tokyo",	   "Asia/Seoul",
	    "Asia/Shanghai",	   "Asia/Kolkata",
	    "Asia/Kathmandu",	   "Asia/Tehran",
	    "Asia/Dubai",	   "Asia/Jerusalem",
	    "Australia/Sydney",	   "Australia/Perth",
	    "Australia/Lord_Howe", "Australia/Adelaide",
	    "Pacific/Auckland",	   "Pacific/Chatham",
	    "Pacific/Honolulu",	   "Africa/Cairo",
	    "Africa/Johannesburg", "UTC",
	};
	enum { N = sizeof(names) / sizeof(names[0]) };
	struct tz *z[N], *again;
	struct tz_info ref[N];
	int i;

	(void)state;
	assert_true(N > TZ_CACHE_MAX);
	for (i = 0; i < N; i++) {
		assert_int_equal(tz_get(names[i], &z[i]), 0);
		ref[i] = at(z[i], utc(2024, 7, 1, 0, 0, 0));
	}
	for (i = 0; i < N; i++) {
		struct tz_info now;

		assert_int_equal(tz_get(names[i], &again), 0);
		now = at(again, utc(2024, 7, 1, 0, 0, 0));
		assert_true(info_equal(&now, &ref[i]));
		now = at(z[i], utc(2024, 7, 1, 0, 0, 0));
		assert_true(info_equal(&now, &ref[i]));
		tz_unref(again);
	}
	tz_cache_flush();
	for (i = 0; i < N; i++)
		tz_unref(z[i]);
	tz_unref(NULL);
}

/* The process's zone without setenv in the library: TZ as a file name,
 * with or without ':', an absolute path, a rule, "" and nonsense; no TZ
 * at all is /etc/localtime. glibc, told the same, is the reference. */
static void
test_local(void **state)
{
	static const char *const vals[] = {
	    ":Europe/Berlin",
	    "America/New_York",
	    "Asia/Tokyo",
	    ":" ZONEINFO "/Australia/Lord_Howe",
	    "CET-1CEST,M3.5.0,M10.5.0/3",
	    "<+0330>-3:30",
	    "EST5EDT",
	    "",
	    ":",
	};
	struct tz_info i;
	struct tz *z;
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(vals) / sizeof(vals[0]); k++) {
		ref_set(vals[k]);
		assert_int_equal(tz_get(NULL, &z), 0);
		compare_range(vals[k], z, utc(1990, 1, 1, 0, 0, 0),
			      utc(2060, 1, 1, 0, 0, 0));
		tz_unref(z);
	}
	/* Unknown names are UTC here; glibc's abbreviation differs. */
	ref_set(":Nowhere/Atlantis");
	assert_int_equal(tz_get("", &z), 0);
	i = at(z, utc(2024, 7, 1, 0, 0, 0));
	assert_int_equal(i.utoff_s, 0);
	assert_string_equal(i.abbr, "UTC");
	tz_unref(z);
	unsetenv("TZ");
	tzset();
	if (access("/etc/localtime", R_OK) == 0) {
		assert_int_equal(tz_get(NULL, &z), 0);
		compare_range("/etc/localtime", z, utc(1990, 1, 1, 0, 0, 0),
			      utc(2060, 1, 1, 0, 0, 0));
		tz_unref(z);
	}
}

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_tz.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	static const char *const files[] = {"Test", "Text", "Fifo", "Big"};
	char path[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/Dir", tmpdir);
	rmdir(path);
	rmdir(tmpdir);
	tz_cache_flush();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rule_parse),
	    cmocka_unit_test(test_rule_values),
	    cmocka_unit_test(test_rule_vs_glibc),
	    cmocka_unit_test(test_zones_vs_glibc),
	    cmocka_unit_test(test_zones_known),
	    cmocka_unit_test(test_calendar_lord_howe),
	    cmocka_unit_test(test_tzif_valid),
	    cmocka_unit_test(test_tzif_v1_of_real_file),
	    cmocka_unit_test(test_tzif_malformed),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_files),
	    cmocka_unit_test(test_cache),
	    cmocka_unit_test(test_local),
	};

	if (access(ZONEINFO "/Europe/Berlin", R_OK) != 0 ||
	    access(ZONEINFO "/Australia/Lord_Howe", R_OK) != 0) {
		printf("SKIP: no zone database in " ZONEINFO
		       " (Debian package tzdata)\n");
		return 77;
	}
	unsetenv("TZDIR");
	return cmocka_run_group_tests(tests, setup, teardown);
}
