/*
 * calendar: parsing, normalised printing and next-occurrence search for
 * cron and systemd OnCalendar= expressions (see calendar.h).
 *
 * Owns no global state; zones come from tz.c, which reads the zone
 * database itself and never touches TZ or the C library's zone, so any
 * thread may call any function here. Must not log, print, exit or
 * abort: errors are returned, with a message for parse errors.
 *
 * Structure. An expression becomes one chain per field (year, month,
 * day, hour, minute, microsecond-of-minute), each a sorted list of
 * (start, stop, repeat) elements as systemd keeps them (an empty chain
 * is '*'), plus a weekday bit set. The search for the next occurrence
 * after an instant A has two layers:
 *  - next_local(): the smallest matching local civil time at or after a
 *    given one, in pure integer arithmetic (no time zone at all);
 *  - resolve(): one local time to its zero, one or two instants, with
 *    the zone's offsets (tz_lookup) and the DST policies.
 * Local times are walked upwards from the earliest one that could map
 * past A; the walk stops once no later local time can map before the
 * best instant found (instant >= local - max offset around it). Cost:
 * a few tz_lookup calls per occurrence, plus the civil-date walk,
 * which skips whole years and months and is bounded by year 2199.
 */
#include "calendar.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "civil.h"
#include "tz.h"

#define USEC_PER_SEC 1000000LL
#define USEC_PER_MIN (60 * USEC_PER_SEC)
#define NS_PER_SEC 1000000000LL
#define NS_PER_USEC 1000LL
#define SEC_PER_DAY 86400LL
#define MIN_YEAR 1970
#define MAX_YEAR 2199 /* as systemd: the search ends with this year */
#define CHAIN_MAX 64  /* elements per field: a bound on parse work */
#define ZONE_MAX 256
#define WEEKDAYS_ALL 0x7f

enum field { F_YEAR, F_MONTH, F_DAY, F_HOUR, F_MINUTE, F_USEC, NFIELDS };

/* start, or start, start+repeat, ... up to stop (-1: the field's end). */
struct elem {
	int64_t start;
	int64_t stop;
	int64_t repeat;
};

struct chain {
	int n; /* 0: '*' */
	struct elem e[CHAIN_MAX];
};

/* Owned by the caller of calendar_parse; immutable after it. */
struct calendar {
	bool cron;
	bool end_of_month; /* systemd '~': day elements count from the end */
	bool cron_or;	   /* cron: day-of-month OR day-of-week */
	bool cron_star[5]; /* cron: the field started with '*' */
	unsigned weekdays; /* bit 0 Monday .. bit 6 Sunday */
	struct chain f[NFIELDS];
	struct chain cron_dow; /* cron: day-of-week as written, 0-7 */
	char zone[ZONE_MAX];   /* "" : none in the expression */
};

static const struct {
	int lo, hi;
} field_range[NFIELDS] = {
    {MIN_YEAR, MAX_YEAR},	{1, 12}, {1, 31}, {0, 23}, {0, 59},
    {0, 60 * USEC_PER_SEC - 1},
};

static const char *const field_name[NFIELDS] = {
    "year", "month", "day", "hour", "minute", "second",
};

static void perr(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
perr(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

/* ---- civil calendar (proleptic Gregorian, no zone) ---- */

/* 0 Monday .. 6 Sunday; 1970-01-01 was a Thursday. */
static int
weekday_of(int64_t days)
{
	int64_t w = (days + 3) % 7;

	return (int)(w < 0 ? w + 7 : w);
}

/* A local civil time; usec is the microsecond of the minute. */
struct civil {
	int64_t year;
	int month, day, hour, minute;
	int64_t usec;
};

static int64_t
civil_to_local_sec(const struct civil *t)
{
	return civil_days_from_civil(t->year, t->month, t->day) * SEC_PER_DAY +
	       t->hour * 3600LL + t->minute * 60LL + t->usec / USEC_PER_SEC;
}

static void
civil_from_local_sec(int64_t s, struct civil *t)
{
	int64_t days = s / SEC_PER_DAY, rem = s % SEC_PER_DAY;
	int64_t z, era, doe, yoe, doy, mp;

	if (rem < 0) {
		rem += SEC_PER_DAY;
		days--;
	}
	z = days + 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	t->day = (int)(doy - (153 * mp + 2) / 5 + 1);
	t->month = (int)(mp < 10 ? mp + 3 : mp - 9);
	t->year = yoe + era * 400 + (t->month <= 2);
	t->hour = (int)(rem / 3600);
	t->minute = (int)(rem / 60 % 60);
	t->usec = rem % 60 * USEC_PER_SEC;
}

/* ---- chains ---- */

/* The smallest value >= v the chain yields (systemd's semantics: an
 * element is its start, or start + k*repeat up to stop), else -1.
 * An empty chain yields every value. */
static int64_t
chain_next(const struct chain *c, int64_t v)
{
	int64_t best = -1, k;
	int i;

	if (c->n == 0)
		return v;
	for (i = 0; i < c->n; i++) {
		const struct elem *e = &c->e[i];

		if (e->start >= v)
			k = e->start;
		else if (e->repeat > 0)
			k = e->start +
			    e->repeat *
				((v - e->start + e->repeat - 1) / e->repeat);
		else
			continue;
		if (e->stop >= 0 && k > e->stop)
			continue;
		if (best < 0 || k < best)
			best = k;
	}
	return best;
}

/* Whether day d of a month of mlen days is in the day chain. */
static bool
day_in_chain(const struct calendar *cal, int d, int mlen)
{
	const struct chain *c = &cal->f[F_DAY];
	int64_t s, e;
	int i;

	if (c->n == 0)
		return true;
	for (i = 0; i < c->n; i++) {
		s = c->e[i].start;
		e = c->e[i].stop;
		if (cal->end_of_month) {
			/* ~1 is the last day; a range counts backwards. */
			s = mlen + 1 - c->e[i].start;
			if (c->e[i].stop >= 0) {
				e = s;
				s = mlen + 1 - c->e[i].stop;
			}
		}
		if (d == s)
			return true;
		if (c->e[i].repeat > 0 && d > s &&
		    (d - s) % c->e[i].repeat == 0 && (e < 0 || d <= e))
			return true;
	}
	return false;
}

static bool
day_matches(const struct calendar *cal, int64_t y, int m, int d, int mlen)
{
	bool dom = day_in_chain(cal, d, mlen);
	bool dow = (cal->weekdays >>
		    weekday_of(civil_days_from_civil(y, m, d))) & 1;

	return cal->cron_or ? dom || dow : dom && dow;
}

/*
 * Moves *t to the smallest matching local time >= *t. Returns 0 or
 * -ENOENT (none before the end of MAX_YEAR). Fields of *t may be one
 * past their range on entry (a carry not yet applied).
 */
static int
next_local(const struct calendar *cal, struct civil *t)
{
	int64_t v;
	int mlen;

	for (;;) {
		/* carries */
		if (t->usec >= USEC_PER_MIN) {
			t->usec = 0;
			t->minute++;
		}
		if (t->minute > 59) {
			t->minute = 0;
			t->hour++;
		}
		if (t->hour > 23) {
			t->hour = 0;
			t->day++;
		}
		if (t->day > civil_days_in_month(t->year, t->month)) {
			t->day = 1;
			t->month++;
		}
		if (t->month > 12) {
			t->month = 1;
			t->year++;
		}
		if (t->year > MAX_YEAR)
			return -ENOENT;

		v = chain_next(&cal->f[F_YEAR], t->year);
		if (v < 0 || v > MAX_YEAR)
			return -ENOENT;
		if (v != t->year) {
			*t = (struct civil){.year = v, .month = 1, .day = 1};
			continue;
		}
		v = chain_next(&cal->f[F_MONTH], t->month);
		if (v < 0 || v > 12) {
			*t = (struct civil){
			    .year = t->year + 1, .month = 1, .day = 1};
			continue;
		}
		if (v != t->month) {
			*t = (struct civil){
			    .year = t->year, .month = (int)v, .day = 1};
			continue;
		}
		mlen = civil_days_in_month(t->year, t->month);
		if (!day_matches(cal, t->year, t->month, t->day, mlen)) {
			t->day++;
			t->hour = t->minute = 0;
			t->usec = 0;
			continue;
		}
		v = chain_next(&cal->f[F_HOUR], t->hour);
		if (v < 0 || v > 23) {
			t->day++;
			t->hour = t->minute = 0;
			t->usec = 0;
			continue;
		}
		if (v != t->hour) {
			t->hour = (int)v;
			t->minute = 0;
			t->usec = 0;
		}
		v = chain_next(&cal->f[F_MINUTE], t->minute);
		if (v < 0 || v > 59) {
			t->hour++;
			t->minute = 0;
			t->usec = 0;
			continue;
		}
		if (v != t->minute) {
			t->minute = (int)v;
			t->usec = 0;
		}
		v = chain_next(&cal->f[F_USEC], t->usec);
		if (v < 0 || v >= USEC_PER_MIN) {
			t->minute++;
			t->usec = 0;
			continue;
		}
		t->usec = v;
		return 0;
	}
}

/* ---- zones ---- */

bool
calendar_zone_valid(const char *name)
{
	struct tz *z;

	if (!tz_name_valid(name) || tz_get(name, &z) < 0)
		return false;
	tz_unref(z);
	return true;
}

/* A reference to zone (NULL: the process's zone). Any failure but
 * -ENOMEM is an unknown zone. */
static int
zone_get(const char *zone, struct tz **ret_tz)
{
	int r;

	if (zone != NULL && !tz_name_valid(zone))
		return -EINVAL;
	r = tz_get(zone, ret_tz);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	return 0;
}

/* The UTC offset in force at instant t, in seconds (0 far outside the
 * range of int64 nanoseconds, where nothing is looked up anyway). */
static int64_t
gmtoff(const struct tz *z, int64_t t)
{
	struct tz_info info;

	if (tz_lookup(z, t, &info) < 0)
		return 0;
	return info.utoff_s;
}

/*
 * The instants (ns) that local time l (seconds, as if UTC) plus frac_ns
 * maps to under the policies: 0, 1 or 2 of them in ret[], ascending.
 * *ret_hi is the larger of the offsets around l, for the caller's stop
 * rule. A time shifted out of a gap lands on the change itself, without
 * its fraction.
 */
static int
resolve(const struct tz *z, int64_t l, int64_t frac_ns, enum calendar_gap gap,
	enum calendar_overlap overlap, int64_t ret[2], int64_t *ret_hi)
{
	int64_t oa = gmtoff(z, l - SEC_PER_DAY);
	int64_t ob = gmtoff(z, l + SEC_PER_DAY);
	int64_t t1 = l - oa, t2 = l - ob, lo, hi, mid;
	bool v1, v2;

	*ret_hi = oa > ob ? oa : ob;
	if (oa == ob) {
		ret[0] = t1 * NS_PER_SEC + frac_ns;
		return 1;
	}
	v1 = gmtoff(z, t1) == oa;
	v2 = gmtoff(z, t2) == ob;
	if (v1 && v2) {
		lo = t1 < t2 ? t1 : t2;
		hi = t1 < t2 ? t2 : t1;
		if (overlap == CALENDAR_OVERLAP_FIRST) {
			ret[0] = lo * NS_PER_SEC + frac_ns;
			return 1;
		}
		if (overlap == CALENDAR_OVERLAP_SECOND) {
			ret[0] = hi * NS_PER_SEC + frac_ns;
			return 1;
		}
		ret[0] = lo * NS_PER_SEC + frac_ns;
		ret[1] = hi * NS_PER_SEC + frac_ns;
		return 2;
	}
	if (v1 || v2) {
		ret[0] = (v1 ? t1 : t2) * NS_PER_SEC + frac_ns;
		return 1;
	}
	/* A gap: the offset changes from oa to ob inside (t2, t1]. */
	if (gap == CALENDAR_GAP_SKIP)
		return 0;
	if (gap == CALENDAR_GAP_UTC) {
		ret[0] = t1 * NS_PER_SEC + frac_ns;
		return 1;
	}
	lo = t1 < t2 ? t1 : t2; /* offset oa */
	hi = t1 < t2 ? t2 : t1; /* offset ob */
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (gmtoff(z, mid) == ob)
			hi = mid;
		else
			lo = mid;
	}
	ret[0] = hi * NS_PER_SEC;
	return 1;
}

static int
next_in_zone(const struct calendar *cal, const struct tz *z,
	     enum calendar_gap gap, enum calendar_overlap overlap,
	     int64_t after_ns, int64_t *ret_ns)
{
	int64_t a_s = after_ns / NS_PER_SEC, oa, ob, l, inst[2], hi_off;
	int64_t best = -1;
	struct civil t;
	int i, n, r;

	oa = gmtoff(z, a_s - SEC_PER_DAY);
	ob = gmtoff(z, a_s + SEC_PER_DAY);
	/* No instant after A has a local time below A + the smaller
	 * offset around it. */
	civil_from_local_sec(a_s + (oa < ob ? oa : ob), &t);
	if (t.year < MIN_YEAR)
		t = (struct civil){.year = MIN_YEAR, .month = 1, .day = 1};
	for (;;) {
		r = next_local(cal, &t);
		if (r < 0)
			break;
		l = civil_to_local_sec(&t);
		n = resolve(z, l, (t.usec % USEC_PER_SEC) * NS_PER_USEC, gap,
			    overlap, inst, &hi_off);
		/* This and every later local time maps at or after
		 * l - hi_off (one offset change a day at most). */
		if (best >= 0 && l - hi_off > best / NS_PER_SEC)
			break;
		for (i = 0; i < n; i++)
			if (inst[i] > after_ns && (best < 0 || inst[i] < best))
				best = inst[i];
		t.usec++;
	}
	if (best < 0)
		return -ENOENT;
	*ret_ns = best;
	return 0;
}

int
calendar_next(const struct calendar *cal, const char *zone,
	      enum calendar_gap gap, enum calendar_overlap overlap,
	      int64_t after_ns, int64_t *ret_ns)
{
	struct tz *z;
	int64_t ns;
	int r;

	if (after_ns < 0)
		return -EINVAL;
	if (cal->zone[0] != '\0')
		zone = cal->zone;
	r = zone_get(zone, &z);
	if (r < 0)
		return r;
	r = next_in_zone(cal, z, gap, overlap, after_ns, &ns);
	tz_unref(z);
	if (r < 0)
		return r;
	*ret_ns = ns;
	return 0;
}

int
calendar_to_local(int64_t ns, const char *zone, int64_t *ret_local_s,
		  int64_t *ret_offset_s)
{
	int64_t s = ns / NS_PER_SEC;
	struct tz_info info;
	struct tz *z;
	int r;

	if (ns % NS_PER_SEC < 0)
		s--;
	r = zone_get(zone, &z);
	if (r < 0)
		return r;
	r = tz_lookup(z, s, &info);
	tz_unref(z);
	if (r < 0)
		return -EOVERFLOW;
	*ret_local_s = s + info.utoff_s;
	if (ret_offset_s != NULL)
		*ret_offset_s = info.utoff_s;
	return 0;
}

int
calendar_from_local(int64_t local_s, int64_t frac_ns, const char *zone,
		    enum calendar_gap gap, enum calendar_overlap overlap,
		    int64_t *ret_ns)
{
	int64_t inst[2], hi_off;
	struct tz *z;
	int n, r;

	if (frac_ns < 0 || frac_ns >= NS_PER_SEC)
		return -EINVAL;
	/* Far enough from the int64 ns limits for resolve()'s day steps
	 * and the multiplication below. */
	if (local_s < -INT64_MAX / NS_PER_SEC + 2 * SEC_PER_DAY ||
	    local_s > INT64_MAX / NS_PER_SEC - 2 * SEC_PER_DAY)
		return -EOVERFLOW;
	r = zone_get(zone, &z);
	if (r < 0)
		return r;
	n = resolve(z, local_s, frac_ns, gap, overlap, inst, &hi_off);
	tz_unref(z);
	if (n == 0)
		return -ENOENT;
	*ret_ns = inst[0];
	return 0;
}

int
calendar_format_local(int64_t ns, const char *zone, char *buf, size_t size)
{
	int64_t s = ns / NS_PER_SEC, frac = ns % NS_PER_SEC;
	char fr[16] = "";
	struct tz_info info;
	struct civil t;
	struct tz *z;
	int r, n;

	if (frac < 0) {
		frac += NS_PER_SEC;
		s--;
	}
	r = zone_get(zone, &z);
	if (r < 0)
		return r;
	r = tz_lookup(z, s, &info);
	if (r < 0) {
		tz_unref(z);
		return -EOVERFLOW;
	}
	civil_from_local_sec(s + info.utoff_s, &t);
	if (frac % NS_PER_USEC != 0)
		snprintf(fr, sizeof(fr), ".%09lld", (long long)frac);
	else if (frac != 0)
		snprintf(fr, sizeof(fr), ".%06lld",
			 (long long)(frac / NS_PER_USEC));
	n = snprintf(buf, size, "%04lld-%02d-%02d %02d:%02d:%02d%s %s",
		     (long long)t.year, t.month, t.day, t.hour, t.minute,
		     (int)(t.usec / USEC_PER_SEC), fr, info.abbr);
	tz_unref(z);
	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	return n;
}

/* ---- policies ---- */

static const char *const gap_names[] = {"shift", "skip", "utc"};
static const char *const overlap_names[] = {"first", "second", "both"};

int
calendar_gap_from_name(const char *name, enum calendar_gap *ret)
{
	int i;

	for (i = 0; i < 3; i++)
		if (strcmp(name, gap_names[i]) == 0) {
			*ret = (enum calendar_gap)i;
			return 0;
		}
	return -EINVAL;
}

int
calendar_overlap_from_name(const char *name, enum calendar_overlap *ret)
{
	int i;

	for (i = 0; i < 3; i++)
		if (strcmp(name, overlap_names[i]) == 0) {
			*ret = (enum calendar_overlap)i;
			return 0;
		}
	return -EINVAL;
}

const char *
calendar_gap_name(enum calendar_gap gap)
{
	return (unsigned)gap < 3 ? gap_names[gap] : "?";
}

const char *
calendar_overlap_name(enum calendar_overlap overlap)
{
	return (unsigned)overlap < 3 ? overlap_names[overlap] : "?";
}

/* ---- systemd OnCalendar= syntax ---- */

/* Parser state: the text left, and where to say what went wrong. */
struct parser {
	const char *p;
	char *err;
	size_t errsize;
};

/* Reads a decimal (for seconds: with up to 6 fraction digits, scaled to
 * microseconds). */
static int
sd_decimal(struct parser *ps, bool usec, const char *what, int64_t *ret)
{
	const char *p = ps->p;
	int64_t v = 0, scale = USEC_PER_SEC;

	if (!isdigit((unsigned char)*p)) {
		perr(ps->err, ps->errsize,
		     "expected a number for the %s at '%s'", what, p);
		return -EINVAL;
	}
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (*p - '0');
		if (v > INT_MAX) {
			perr(ps->err, ps->errsize, "%s number too large", what);
			return -EINVAL;
		}
	}
	if (usec) {
		v *= USEC_PER_SEC;
		/* One '.' is a decimal point, ".." a range. */
		if (p[0] == '.' && p[1] != '.') {
			for (p++; isdigit((unsigned char)*p); p++) {
				scale /= 10;
				v += (*p - '0') * scale;
			}
		}
		if (v > INT_MAX) {
			perr(ps->err, ps->errsize, "%s number too large", what);
			return -EINVAL;
		}
	}
	ps->p = p;
	*ret = v;
	return 0;
}

/* '*' or a comma-separated list of START[..STOP][/REPEAT]. */
static int
sd_chain(struct parser *ps, enum field f, struct chain *c)
{
	bool usec = f == F_USEC;
	struct elem e;
	int r;

	c->n = 0;
	if (*ps->p == '*') {
		ps->p++;
		if (*ps->p == '/') {
			perr(ps->err, ps->errsize,
			     "'*/N' is cron syntax; in OnCalendar= a %s "
			     "repeats as 'START/N' (e.g. '0/15')",
			     field_name[f]);
			return -EINVAL;
		}
		if (usec)
			c->e[c->n++] = (struct elem){0, -1, USEC_PER_SEC};
		return 0;
	}
	for (;;) {
		if (c->n == CHAIN_MAX) {
			perr(ps->err, ps->errsize,
			     "more than %d values for the %s", CHAIN_MAX,
			     field_name[f]);
			return -EINVAL;
		}
		e = (struct elem){.stop = -1};
		r = sd_decimal(ps, usec, field_name[f], &e.start);
		if (r < 0)
			return r;
		if (ps->p[0] == '.' && ps->p[1] == '.') {
			ps->p += 2;
			r = sd_decimal(ps, usec, field_name[f], &e.stop);
			if (r < 0)
				return r;
			e.repeat = usec ? USEC_PER_SEC : 1;
		}
		if (*ps->p == '/') {
			ps->p++;
			r = sd_decimal(ps, usec, field_name[f], &e.repeat);
			if (r < 0)
				return r;
			if (e.repeat == 0) {
				perr(ps->err, ps->errsize,
				     "a repetition of 0 for the %s",
				     field_name[f]);
				return -EINVAL;
			}
		} else if (usec && e.stop >= 0 && e.start + e.repeat > e.stop) {
			perr(ps->err, ps->errsize,
			     "second range shorter than a second");
			return -EINVAL;
		}
		if (*ps->p != '\0' && strchr(" ,-~:", *ps->p) == NULL) {
			perr(ps->err, ps->errsize,
			     "unexpected '%c' in the %s at '%s'", *ps->p,
			     field_name[f], ps->p);
			return -EINVAL;
		}
		c->e[c->n++] = e;
		if (*ps->p != ',')
			return 0;
		ps->p++;
	}
}

static void
skip_spaces(struct parser *ps)
{
	while (*ps->p == ' ')
		ps->p++;
}

static const struct {
	const char *name;
	int nr; /* 0 Monday */
} weekday_names[] = {
    {"Monday", 0},    {"Mon", 0}, {"Tuesday", 1},  {"Tue", 1},
    {"Wednesday", 2}, {"Wed", 2}, {"Thursday", 3}, {"Thu", 3},
    {"Friday", 4},    {"Fri", 4}, {"Saturday", 5}, {"Sat", 5},
    {"Sunday", 6},    {"Sun", 6},
};

/* [WEEKDAY[(..|-)WEEKDAY][,...]] followed by a space or the end. */
static int
sd_weekdays(struct parser *ps, struct calendar *cal)
{
	const size_t nnames = sizeof(weekday_names) / sizeof(weekday_names[0]);
	bool first = true;
	int from = -1, j;
	size_t i, len;

	for (;;) {
		for (i = 0; i < nnames; i++) {
			len = strlen(weekday_names[i].name);
			if (strncasecmp(ps->p, weekday_names[i].name, len) == 0)
				break;
		}
		if (i == nnames) {
			if (first)
				return 0; /* no weekdays: a date follows */
			perr(ps->err, ps->errsize, "unknown weekday at '%s'",
			     ps->p);
			return -EINVAL;
		}
		if (ps->p[len] != '\0' && strchr("-., ", ps->p[len]) == NULL) {
			perr(ps->err, ps->errsize, "unknown weekday at '%s'",
			     ps->p);
			return -EINVAL;
		}
		cal->weekdays |= 1u << weekday_names[i].nr;
		if (from >= 0) {
			if (from > weekday_names[i].nr) {
				perr(ps->err, ps->errsize,
				     "weekday range ending with %s runs "
				     "backwards (weeks start on Monday)",
				     weekday_names[i].name);
				return -EINVAL;
			}
			for (j = from + 1; j < weekday_names[i].nr; j++)
				cal->weekdays |= 1u << j;
		}
		ps->p += len;
		if (*ps->p == '\0')
			return 0;
		if (*ps->p == ' ') {
			skip_spaces(ps);
			return 0;
		}
		if (*ps->p == '.' || *ps->p == '-') {
			if (from >= 0 || (*ps->p == '.' && ps->p[1] != '.')) {
				perr(ps->err, ps->errsize,
				     "bad weekday range at '%s'", ps->p);
				return -EINVAL;
			}
			from = weekday_names[i].nr;
			ps->p += *ps->p == '.' ? 2 : 1;
		} else if (*ps->p == ',') {
			from = -1;
			ps->p++;
		}
		if (*ps->p == '\0' || *ps->p == ' ') {
			if (from >= 0) {
				perr(ps->err, ps->errsize,
				     "open weekday range");
				return -EINVAL;
			}
			skip_spaces(ps);
			return 0;
		}
		first = false;
	}
}

static void
const_chain(struct chain *c, int64_t v)
{
	c->n = 1;
	c->e[0] = (struct elem){v, -1, 0};
}

/* [[YEAR-]MONTH(-|~)DAY] or @SECONDS. Returns 1 after @SECONDS (no time
 * may follow), else 0, or -EINVAL. */
static int
sd_date(struct parser *ps, struct calendar *cal)
{
	struct chain first, second;
	const char *start = ps->p, *end;
	unsigned long long v;
	struct civil t;
	int r;

	if (*ps->p == '\0')
		return 0;
	if (*ps->p == '@') {
		errno = 0;
		v = strtoull(ps->p + 1, (char **)&end, 10);
		if (end == ps->p + 1 || errno != 0 || *end != '\0' ||
		    v > (unsigned long long)(MAX_YEAR - 1970 + 1) * 366 *
			    SEC_PER_DAY) {
			perr(ps->err, ps->errsize,
			     "bad @SECONDS timestamp '%s'", ps->p);
			return -EINVAL;
		}
		civil_from_local_sec((int64_t)v, &t);
		const_chain(&cal->f[F_YEAR], t.year);
		const_chain(&cal->f[F_MONTH], t.month);
		const_chain(&cal->f[F_DAY], t.day);
		const_chain(&cal->f[F_HOUR], t.hour);
		const_chain(&cal->f[F_MINUTE], t.minute);
		const_chain(&cal->f[F_USEC], t.usec);
		snprintf(cal->zone, sizeof(cal->zone), "UTC");
		ps->p = end;
		return 1;
	}
	r = sd_chain(ps, F_MONTH, &first);
	if (r < 0)
		return r;
	/* The end, or ':': that was a time, not a date. */
	if (*ps->p == '\0' || *ps->p == ':') {
		ps->p = start;
		return 0;
	}
	if (*ps->p == '~')
		cal->end_of_month = true;
	else if (*ps->p != '-')
		goto bad;
	ps->p++;
	r = sd_chain(ps, F_DAY, &second);
	if (r < 0)
		return r;
	if (*ps->p == '\0' || *ps->p == ' ') {
		cal->f[F_MONTH] = first;
		cal->f[F_DAY] = second;
		skip_spaces(ps);
		return 0;
	}
	if (cal->end_of_month)
		goto bad;
	if (*ps->p == '~')
		cal->end_of_month = true;
	else if (*ps->p != '-')
		goto bad;
	ps->p++;
	cal->f[F_YEAR] = first;
	cal->f[F_MONTH] = second;
	r = sd_chain(ps, F_DAY, &cal->f[F_DAY]);
	if (r < 0)
		return r;
	if (*ps->p != '\0' && *ps->p != ' ')
		goto bad;
	skip_spaces(ps);
	return 0;
bad:
	perr(ps->err, ps->errsize,
	     "bad date at '%s' (expected "
	     "[YEAR-]MONTH-DAY)",
	     ps->p);
	return -EINVAL;
}

/* [HOUR:MINUTE[:SECOND]]; nothing means 00:00:00. */
static int
sd_time(struct parser *ps, struct calendar *cal)
{
	int r;

	if (*ps->p == '\0') {
		const_chain(&cal->f[F_HOUR], 0);
		const_chain(&cal->f[F_MINUTE], 0);
		const_chain(&cal->f[F_USEC], 0);
		return 0;
	}
	r = sd_chain(ps, F_HOUR, &cal->f[F_HOUR]);
	if (r < 0)
		return r;
	if (*ps->p != ':')
		goto bad;
	ps->p++;
	r = sd_chain(ps, F_MINUTE, &cal->f[F_MINUTE]);
	if (r < 0)
		return r;
	if (*ps->p == '\0') {
		const_chain(&cal->f[F_USEC], 0);
		return 0;
	}
	if (*ps->p != ':')
		goto bad;
	ps->p++;
	r = sd_chain(ps, F_USEC, &cal->f[F_USEC]);
	if (r < 0)
		return r;
	if (*ps->p == '\0')
		return 0;
bad:
	perr(ps->err, ps->errsize,
	     "bad time at '%s' (expected "
	     "HOUR:MINUTE[:SECOND])",
	     ps->p);
	return -EINVAL;
}

static int
elem_cmp(const void *a, const void *b)
{
	const struct elem *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->stop != y->stop)
		return x->stop < y->stop ? -1 : 1;
	if (x->repeat != y->repeat)
		return x->repeat < y->repeat ? -1 : 1;
	return 0;
}

/* As systemd: a range shortened to a whole number of steps, a repeat
 * that cannot happen dropped, sorted, duplicates removed. */
static void
sd_normalize_chain(struct chain *c)
{
	struct elem *e;
	int i, n = 0;

	for (i = 0; i < c->n; i++) {
		e = &c->e[i];
		if (e->stop > e->start && e->repeat > 0)
			e->stop -= (e->stop - e->start) % e->repeat;
		if ((e->stop > e->start && e->repeat > 0 &&
		     e->start + e->repeat > e->stop) ||
		    e->start == e->stop) {
			e->repeat = 0;
			e->stop = -1;
		}
	}
	qsort(c->e, (size_t)c->n, sizeof(c->e[0]), elem_cmp);
	for (i = 0; i < c->n; i++)
		if (n == 0 || elem_cmp(&c->e[n - 1], &c->e[i]) != 0)
			c->e[n++] = c->e[i];
	c->n = n;
}

static void
elem_text(enum field f, int64_t v, char *buf, size_t size)
{
	if (f == F_USEC && v % USEC_PER_SEC != 0)
		snprintf(buf, size, "%lld.%06lld",
			 (long long)(v / USEC_PER_SEC),
			 (long long)(v % USEC_PER_SEC));
	else
		snprintf(buf, size, "%lld",
			 (long long)(f == F_USEC ? v / USEC_PER_SEC : v));
}

/* systemd's validity rules, with a message naming the offender. */
static int
sd_check_chain(const struct calendar *cal, enum field f, char *err,
	       size_t errsize)
{
	bool eom = f == F_DAY && cal->end_of_month;
	const struct chain *c = &cal->f[f];
	int64_t from = field_range[f].lo, to = field_range[f].hi;
	char a[32], b[32];
	int i;

	if (eom)
		to -= 3; /* at most 28 days from the end */
	for (i = 0; i < c->n; i++) {
		const struct elem *e = &c->e[i];

		elem_text(f, e->start, a, sizeof(a));
		if (e->start < from || e->start > to) {
			elem_text(f, from, b, sizeof(b));
			perr(err, errsize, "%s %s%s is out of range %s..%d",
			     field_name[f], eom ? "~" : "", a, b,
			     f == F_USEC ? 59 : (int)to);
			return -EINVAL;
		}
		elem_text(f, e->repeat, b, sizeof(b));
		if (e->repeat > to - from) {
			perr(err, errsize,
			     "repetition /%s is too large for "
			     "the %s",
			     b, field_name[f]);
			return -EINVAL;
		}
		if (e->stop >= 0) {
			elem_text(f, e->stop, b, sizeof(b));
			if (e->stop < from || e->stop > to) {
				perr(err, errsize, "%s %s%s is out of range",
				     field_name[f], eom ? "~" : "", b);
				return -EINVAL;
			}
			if (e->start + e->repeat > e->stop) {
				perr(err, errsize,
				     "%s range %s..%s runs "
				     "backwards or is shorter than its step",
				     field_name[f], a, b);
				return -EINVAL;
			}
		} else if (eom ? e->start - e->repeat < from
			       : e->start + e->repeat > to) {
			perr(err, errsize,
			     "%s %s/%s never repeats within "
			     "its range",
			     field_name[f], a, b);
			return -EINVAL;
		}
	}
	return 0;
}

static int
sd_parse(struct calendar *cal, const char *text, char *err, size_t errsize)
{
	static const struct {
		const char *word;
		const char *expr;
	} words[] = {
	    {"minutely", "*-*-* *:*:00"},
	    {"hourly", "*-*-* *:00:00"},
	    {"daily", "*-*-* 00:00:00"},
	    {"monthly", "*-*-01 00:00:00"},
	    {"weekly", "Mon *-*-* 00:00:00"},
	    {"yearly", "*-01-01 00:00:00"},
	    {"annually", "*-01-01 00:00:00"},
	    {"anually", "*-01-01 00:00:00"},
	    {"quarterly", "*-01,04,07,10-01 00:00:00"},
	    {"semiannually", "*-01,07-01 00:00:00"},
	    {"semi-annually", "*-01,07-01 00:00:00"},
	    {"biannually", "*-01,07-01 00:00:00"},
	    {"bi-annually", "*-01,07-01 00:00:00"},
	};
	char buf[1024];
	const char *sp;
	struct parser ps = {.err = err, .errsize = errsize};
	size_t len = strlen(text), i;
	int f, r;

	if (len >= sizeof(buf)) {
		perr(err, errsize, "expression longer than %zu bytes",
		     sizeof(buf) - 1);
		return -EINVAL;
	}
	memcpy(buf, text, len + 1);
	/* A trailing zone: " UTC" in any case, else a known zone name. */
	sp = strrchr(buf, ' ');
	if (sp != NULL && strcasecmp(sp + 1, "UTC") == 0) {
		snprintf(cal->zone, sizeof(cal->zone), "UTC");
		buf[sp - buf] = '\0';
	} else if (sp != NULL && calendar_zone_valid(sp + 1)) {
		snprintf(cal->zone, sizeof(cal->zone), "%s", sp + 1);
		buf[sp - buf] = '\0';
	}
	/* "Area/City" that is not in the database: say so, rather than
	 * "bad time". */
	if (cal->zone[0] == '\0' && sp != NULL &&
	    isalpha((unsigned char)sp[1]) && strchr(sp, '/') != NULL) {
		perr(err, errsize, "unknown time zone '%s'", sp + 1);
		return -EINVAL;
	}
	ps.p = buf;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(buf, words[i].word) == 0) {
			ps.p = words[i].expr;
			break;
		}
	if (*ps.p == '\0') {
		perr(err, errsize, "empty expression");
		return -EINVAL;
	}
	r = sd_weekdays(&ps, cal);
	if (r < 0)
		return r;
	if (isalpha((unsigned char)*ps.p)) {
		perr(err, errsize,
		     "unknown weekday or keyword at '%s' (no "
		     "date or time starts with a letter)",
		     ps.p);
		return -EINVAL;
	}
	r = sd_date(&ps, cal);
	if (r < 0)
		return r;
	if (r == 0) {
		r = sd_time(&ps, cal);
		if (r < 0)
			return r;
	}
	if (*ps.p != '\0') {
		perr(err, errsize, "unexpected text at '%s'", ps.p);
		return -EINVAL;
	}
	if (cal->weekdays == 0 || cal->weekdays >= WEEKDAYS_ALL)
		cal->weekdays = WEEKDAYS_ALL;
	if (cal->end_of_month && cal->f[F_DAY].n == 0)
		cal->end_of_month = false;
	/* Two-digit years: 70-99 are 19xx, 0-69 20xx. */
	for (i = 0; i < (size_t)cal->f[F_YEAR].n; i++) {
		struct elem *e = &cal->f[F_YEAR].e[i];

		if (e->start >= 0 && e->start < 70)
			e->start += 2000;
		else if (e->start >= 70 && e->start < 100)
			e->start += 1900;
		if (e->stop >= 0 && e->stop < 70)
			e->stop += 2000;
		else if (e->stop >= 70 && e->stop < 100)
			e->stop += 1900;
	}
	for (f = 0; f < NFIELDS; f++) {
		sd_normalize_chain(&cal->f[f]);
		r = sd_check_chain(cal, (enum field)f, err, errsize);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- cron syntax ---- */

static const char *const month_abbr[] = {"jan", "feb", "mar", "apr",
					 "may", "jun", "jul", "aug",
					 "sep", "oct", "nov", "dec"};
static const char *const dow_abbr[] = {"sun", "mon", "tue", "wed",
				       "thu", "fri", "sat"};

static const char *const cron_field_name[5] = {
    "minute", "hour", "day-of-month", "month", "day-of-week",
};
static const int cron_lo[5] = {0, 0, 1, 1, 0};
static const int cron_hi[5] = {59, 23, 31, 12, 7};

/* A number or (month, day-of-week) a three-letter name. */
static int
cron_value(struct parser *ps, int k, int64_t *ret)
{
	const char *p = ps->p;
	int64_t v = 0;
	int i;

	if (isdigit((unsigned char)*p)) {
		for (; isdigit((unsigned char)*p); p++) {
			v = v * 10 + (*p - '0');
			if (v > 1000)
				break;
		}
	} else {
		v = -1;
		for (i = 0; k == 3 && i < 12; i++)
			if (strncasecmp(p, month_abbr[i], 3) == 0)
				v = i + 1;
		for (i = 0; k == 4 && i < 7; i++)
			if (strncasecmp(p, dow_abbr[i], 3) == 0)
				v = i;
		if (v < 0 || isalpha((unsigned char)p[3])) {
			perr(ps->err, ps->errsize, "bad %s '%s' (a number%s)",
			     cron_field_name[k], p,
			     k == 3   ? " or jan..dec"
			     : k == 4 ? " or sun..sat"
				      : "");
			return -EINVAL;
		}
		p += 3;
	}
	if (v < cron_lo[k] || v > cron_hi[k]) {
		perr(ps->err, ps->errsize, "%s %lld is out of range %d-%d",
		     cron_field_name[k], (long long)v, cron_lo[k], cron_hi[k]);
		return -EINVAL;
	}
	ps->p = p;
	*ret = v;
	return 0;
}

/* One field: '*', or a list of VALUE[-VALUE][/STEP] or * /STEP. */
static int
cron_field(struct parser *ps, int k, struct chain *c, bool *ret_star)
{
	const char *start = ps->p;
	struct elem e;
	int64_t step;
	int r;

	c->n = 0;
	*ret_star = *ps->p == '*';
	for (;;) {
		if (c->n == CHAIN_MAX) {
			perr(ps->err, ps->errsize,
			     "more than %d values in the "
			     "%s field",
			     CHAIN_MAX, cron_field_name[k]);
			return -EINVAL;
		}
		e = (struct elem){.stop = -1};
		if (*ps->p == '*') {
			ps->p++;
			e = (struct elem){cron_lo[k], cron_hi[k], 1};
			if (k == 4)
				e.stop = 6; /* 7 is 0 again */
		} else {
			r = cron_value(ps, k, &e.start);
			if (r < 0)
				return r;
			if (*ps->p == '-') {
				ps->p++;
				r = cron_value(ps, k, &e.stop);
				if (r < 0)
					return r;
				if (e.stop < e.start) {
					perr(ps->err, ps->errsize,
					     "%s range %lld-%lld runs "
					     "backwards",
					     cron_field_name[k],
					     (long long)e.start,
					     (long long)e.stop);
					return -EINVAL;
				}
				e.repeat = 1;
			}
		}
		if (*ps->p == '/') {
			ps->p++;
			step = 0;
			if (!isdigit((unsigned char)*ps->p))
				goto bad;
			for (; isdigit((unsigned char)*ps->p); ps->p++)
				if (step < 1000)
					step = step * 10 + (*ps->p - '0');
			if (step == 0 || step > cron_hi[k]) {
				perr(ps->err, ps->errsize,
				     "step /%lld out of range 1-%d in the %s "
				     "field",
				     (long long)step, cron_hi[k],
				     cron_field_name[k]);
				return -EINVAL;
			}
			if (e.stop < 0) /* "5/10": from 5 to the end */
				e.stop = k == 4 ? 6 : cron_hi[k];
			e.repeat = step;
		}
		c->e[c->n++] = e;
		if (*ps->p == '\0')
			break;
		if (*ps->p != ',')
			goto bad;
		ps->p++;
	}
	/* A lone '*' is the whole range. */
	if (strcmp(start, "*") == 0)
		c->n = 0;
	return 0;
bad:
	perr(ps->err, ps->errsize, "bad %s field '%s' at '%s'",
	     cron_field_name[k], start, ps->p);
	return -EINVAL;
}

static int
cron_parse(struct calendar *cal, const char *text, char *err, size_t errsize)
{
	static const struct {
		const char *name;
		const char *expr;
	} macros[] = {
	    {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"},
	    {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
	    {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
	    {"@hourly", "0 * * * *"},
	};
	static const enum field fields[4] = {F_MINUTE, F_HOUR, F_DAY, F_MONTH};
	char buf[1024], *tok[6], *save = NULL, *s;
	struct parser ps = {.err = err, .errsize = errsize};
	int n = 0, k, r;
	int64_t v;
	size_t i;

	if (text[0] == '@') {
		for (i = 0; i < sizeof(macros) / sizeof(macros[0]); i++)
			if (strcasecmp(text, macros[i].name) == 0)
				break;
		if (i == sizeof(macros) / sizeof(macros[0])) {
			perr(err, errsize,
			     "unknown cron macro '%s' (@yearly, @annually, "
			     "@monthly, @weekly, @daily, @midnight, "
			     "@hourly)%s",
			     text,
			     strcasecmp(text, "@reboot") == 0
				 ? "; @reboot is not a time"
				 : "");
			return -EINVAL;
		}
		text = macros[i].expr;
	}
	if (strlen(text) >= sizeof(buf)) {
		perr(err, errsize, "expression longer than %zu bytes",
		     sizeof(buf) - 1);
		return -EINVAL;
	}
	strcpy(buf, text);
	for (s = strtok_r(buf, " \t", &save); s != NULL;
	     s = strtok_r(NULL, " \t", &save)) {
		if (n == 5) {
			n++;
			break;
		}
		tok[n++] = s;
	}
	if (n != 5) {
		perr(err, errsize,
		     "a cron expression has exactly 5 fields (minute hour "
		     "day-of-month month day-of-week)");
		return -EINVAL;
	}
	cal->cron = true;
	for (k = 0; k < 5; k++) {
		ps.p = tok[k];
		r = cron_field(&ps, k,
			       k < 4 ? &cal->f[fields[k]] : &cal->cron_dow,
			       &cal->cron_star[k]);
		if (r < 0)
			return r;
	}
	const_chain(&cal->f[F_USEC], 0);
	cal->weekdays = 0;
	for (i = 0; i < (size_t)cal->cron_dow.n; i++) {
		const struct elem *e = &cal->cron_dow.e[i];

		for (v = e->start; v <= (e->stop >= 0 ? e->stop : e->start);
		     v += e->repeat > 0 ? e->repeat : 1)
			cal->weekdays |= 1u << ((v + 6) % 7); /* Sun=0|7 */
	}
	if (cal->cron_dow.n == 0)
		cal->weekdays = WEEKDAYS_ALL;
	/* crontab(5): both restricted (not starting with '*'): either. */
	cal->cron_or = !cal->cron_star[2] && !cal->cron_star[4];
	return 0;
}

/* ---- the public entry points ---- */

static int
count_fields(const char *s)
{
	int n = 0;
	bool in = false;

	for (; *s != '\0'; s++) {
		if (*s == ' ' || *s == '\t')
			in = false;
		else if (!in) {
			in = true;
			n++;
		}
	}
	return n;
}

int
calendar_parse(const char *text, struct calendar **ret_cal, char *err,
	       size_t errsize)
{
	struct calendar *cal;
	char trimmed[1024];
	size_t len;
	int r;

	perr(err, errsize, "%s", "");
	while (*text == ' ' || *text == '\t')
		text++;
	len = strlen(text);
	while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
		len--;
	if (len >= sizeof(trimmed)) {
		perr(err, errsize, "expression longer than %zu bytes",
		     sizeof(trimmed) - 1);
		return -EINVAL;
	}
	memcpy(trimmed, text, len);
	trimmed[len] = '\0';
	if (len == 0) {
		perr(err, errsize, "empty expression");
		return -EINVAL;
	}
	cal = calloc(1, sizeof(*cal));
	if (cal == NULL)
		return -ENOMEM;
	if (trimmed[0] == '@' && !isdigit((unsigned char)trimmed[1]))
		r = cron_parse(cal, trimmed, err, errsize);
	else if (count_fields(trimmed) >= 5)
		r = cron_parse(cal, trimmed, err, errsize);
	else if (strchr(trimmed, '\t') != NULL) {
		perr(err, errsize, "tab in an OnCalendar= expression");
		r = -EINVAL;
	} else
		r = sd_parse(cal, trimmed, err, errsize);
	if (r < 0) {
		free(cal);
		return r;
	}
	*ret_cal = cal;
	return 0;
}

void
calendar_free(struct calendar *cal)
{
	free(cal);
}

bool
calendar_is_cron(const struct calendar *cal)
{
	return cal->cron;
}

const char *
calendar_zone(const struct calendar *cal)
{
	return cal->zone[0] != '\0' ? cal->zone : NULL;
}

/* Appends to buf[*len..size), keeping the count past the end too. */
static void fmt_add(char *buf, size_t size, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
fmt_add(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(*len < size ? buf + *len : NULL,
		      *len < size ? size - *len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n;
}

/* One chain as systemd prints it (calendar_spec_to_string). */
static void
fmt_sd_chain(const struct chain *c, enum field f, int width, char *buf,
	     size_t size, size_t *len)
{
	int64_t d = f == F_USEC ? USEC_PER_SEC : 1;
	int i;

	for (i = 0; i < c->n; i++)
		if (f == F_USEC && c->e[i].start == 0 && c->e[i].stop < 0 &&
		    c->e[i].repeat == USEC_PER_SEC)
			break;
	if (c->n == 0 || i < c->n) {
		fmt_add(buf, size, len, "*");
		return;
	}
	for (i = 0; i < c->n; i++) {
		const struct elem *e = &c->e[i];

		if (i > 0)
			fmt_add(buf, size, len, ",");
		fmt_add(buf, size, len, "%0*lld", width,
			(long long)(e->start / d));
		if (e->start % d > 0)
			fmt_add(buf, size, len, ".%06lld",
				(long long)(e->start % d));
		if (e->stop > 0)
			fmt_add(buf, size, len, "..%0*lld", width,
				(long long)(e->stop / d));
		if (e->stop % d > 0)
			fmt_add(buf, size, len, ".%06lld",
				(long long)(e->stop % d));
		if (e->repeat > 0 && !(e->stop > 0 && e->repeat == d))
			fmt_add(buf, size, len, "/%lld",
				(long long)(e->repeat / d));
		if (e->repeat % d > 0)
			fmt_add(buf, size, len, ".%06lld",
				(long long)(e->repeat % d));
	}
}

static void
fmt_weekdays(unsigned bits, char *buf, size_t size, size_t *len)
{
	static const char *const days[7] = {"Mon", "Tue", "Wed", "Thu",
					    "Fri", "Sat", "Sun"};
	bool comma = false;
	int x, l = -1;

	for (x = 0; x < 7; x++) {
		if (bits & (1u << x)) {
			if (l < 0) {
				fmt_add(buf, size, len, "%s%s",
					comma ? "," : "", days[x]);
				comma = true;
				l = x;
			}
		} else if (l >= 0) {
			if (x > l + 1)
				fmt_add(buf, size, len, "%s%s",
					x > l + 2 ? ".." : ",", days[x - 1]);
			l = -1;
		}
	}
	if (l >= 0 && x > l + 1)
		fmt_add(buf, size, len, "%s%s", x > l + 2 ? ".." : ",",
			days[x - 1]);
}

static void
fmt_cron_field(const struct chain *c, bool star, int k, char *buf, size_t size,
	       size_t *len)
{
	int i, hi = k == 4 ? 6 : cron_hi[k];

	if (c->n == 0) {
		fmt_add(buf, size, len, "*");
		return;
	}
	for (i = 0; i < c->n; i++) {
		const struct elem *e = &c->e[i];

		if (i > 0)
			fmt_add(buf, size, len, ",");
		if (star && i == 0 && e->start == cron_lo[k] && e->stop == hi &&
		    e->repeat > 0) {
			fmt_add(buf, size, len, "*");
			if (e->repeat > 1)
				fmt_add(buf, size, len, "/%lld",
					(long long)e->repeat);
			continue;
		}
		fmt_add(buf, size, len, "%lld", (long long)e->start);
		if (e->stop >= 0)
			fmt_add(buf, size, len, "-%lld", (long long)e->stop);
		if (e->repeat > 1)
			fmt_add(buf, size, len, "/%lld", (long long)e->repeat);
	}
}

int
calendar_format(const struct calendar *cal, char *buf, size_t size)
{
	static const enum field cron_fields[4] = {F_MINUTE, F_HOUR, F_DAY,
						  F_MONTH};
	size_t len = 0;
	int k;

	if (size > 0)
		buf[0] = '\0';
	if (cal->cron) {
		for (k = 0; k < 5; k++) {
			if (k > 0)
				fmt_add(buf, size, &len, " ");
			fmt_cron_field(k < 4 ? &cal->f[cron_fields[k]]
					     : &cal->cron_dow,
				       cal->cron_star[k], k, buf, size, &len);
		}
	} else {
		if (cal->weekdays != WEEKDAYS_ALL) {
			fmt_weekdays(cal->weekdays, buf, size, &len);
			fmt_add(buf, size, &len, " ");
		}
		fmt_sd_chain(&cal->f[F_YEAR], F_YEAR, 4, buf, size, &len);
		fmt_add(buf, size, &len, "-");
		fmt_sd_chain(&cal->f[F_MONTH], F_MONTH, 2, buf, size, &len);
		fmt_add(buf, size, &len, "%s", cal->end_of_month ? "~" : "-");
		fmt_sd_chain(&cal->f[F_DAY], F_DAY, 2, buf, size, &len);
		fmt_add(buf, size, &len, " ");
		fmt_sd_chain(&cal->f[F_HOUR], F_HOUR, 2, buf, size, &len);
		fmt_add(buf, size, &len, ":");
		fmt_sd_chain(&cal->f[F_MINUTE], F_MINUTE, 2, buf, size, &len);
		fmt_add(buf, size, &len, ":");
		fmt_sd_chain(&cal->f[F_USEC], F_USEC, 2, buf, size, &len);
		if (cal->zone[0] != '\0')
			fmt_add(buf, size, &len, " %s", cal->zone);
	}
	if (len >= size)
		return -ENOSPC;
	return (int)len;
}

bool
calendar_subsecond(const struct calendar *cal)
{
	const struct chain *c = &cal->f[F_USEC];
	int i;

	for (i = 0; i < c->n; i++)
		if (c->e[i].start % USEC_PER_SEC != 0 ||
		    c->e[i].repeat % USEC_PER_SEC != 0)
			return true;
	return false;
}
