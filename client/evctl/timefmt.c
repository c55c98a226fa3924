/*
 * timefmt: parsing and printing of durations and instants (see timefmt.h).
 *
 * Pure: no I/O, no allocation, no logging. Arithmetic is done in integers
 * with explicit overflow checks, never in floating point, so "0.1s" is
 * exactly 100000000 ns and every overflow is -ERANGE rather than a wrap.
 * UTC and fixed-offset instants use our own civil calendar (proleptic
 * Gregorian), so they do not depend on TZ; only zone-less local times go
 * through mktime().
 */
#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "calendar.h"
#include "civil.h"

#define NS_PER_S 1000000000LL

/*
 * A unit's length in ns is mult * 10^shift. Splitting out the power of ten
 * lets the parser move the decimal point exactly (see number_scale)
 * instead of multiplying a fraction. Longer names come first where one is
 * a prefix of another ("ms" and "min" before "m").
 */
static const struct unit {
	const char *name;
	unsigned mult;
	unsigned shift;
} units[] = {
    {"ns", 1, 0},    /* 1 ns */
    {"us", 1, 3},    /* 10^3 ns */
    {"ms", 1, 6},    /* 10^6 ns */
    {"min", 6, 10},  /* 60 s */
    {"s", 1, 9},     /* 10^9 ns */
    {"m", 6, 10},    /* 60 s */
    {"h", 36, 11},   /* 3600 s */
    {"d", 864, 11},  /* 86400 s */
    {"w", 6048, 11}, /* 604800 s */
};

/* A decimal number as written: digit runs borrowed from the input. */
struct number {
	const char *int_digits;
	size_t int_len;
	const char *frac_digits;
	size_t frac_len;
};

static bool
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Reads [digits][.digits] with at least one digit in all; *p advances. */
static int
number_scan(const char **p, struct number *ret)
{
	const char *s = *p;
	struct number n = {0};

	n.int_digits = s;
	while (is_digit(*s))
		s++;
	n.int_len = (size_t)(s - n.int_digits);
	if (*s == '.') {
		s++;
		n.frac_digits = s;
		while (is_digit(*s))
			s++;
		n.frac_len = (size_t)(s - n.frac_digits);
		/* "5." and "." are typos, not numbers. */
		if (n.frac_len == 0)
			return -EINVAL;
	}
	if (n.int_len == 0 && n.frac_len == 0)
		return -EINVAL;
	*ret = n;
	*p = s;
	return 0;
}

static int
push_digit(uint64_t *acc, unsigned d)
{
	if (*acc > ((uint64_t)INT64_MAX - d) / 10)
		return -ERANGE;
	*acc = *acc * 10 + d;
	return 0;
}

/*
 * Computes floor(n * mult * 10^shift) into *ret (<= INT64_MAX).
 * The first `shift` fraction digits join the integer part (moving the
 * point), and at most 15 further digits are applied to mult <= 6048 so
 * that their product stays below 2^63; digits after those are worth less
 * than a nanosecond and are dropped.
 */
static int
number_scale(const struct number *n, unsigned mult, unsigned shift,
	     uint64_t *ret)
{
	uint64_t whole = 0, rest = 0, pow = 1, v;
	size_t i;
	int r;

	for (i = 0; i < n->int_len; i++) {
		r = push_digit(&whole, (unsigned)(n->int_digits[i] - '0'));
		if (r < 0)
			return r;
	}
	for (i = 0; i < shift; i++) {
		unsigned d = i < n->frac_len ? n->frac_digits[i] - '0' : 0;

		r = push_digit(&whole, d);
		if (r < 0)
			return r;
	}
	for (i = shift; i < n->frac_len && i < shift + 15; i++) {
		rest = rest * 10 + (unsigned)(n->frac_digits[i] - '0');
		pow *= 10;
	}
	if (whole > (uint64_t)INT64_MAX / mult)
		return -ERANGE;
	v = whole * mult;
	rest = rest * mult / pow;
	if (v > (uint64_t)INT64_MAX - rest)
		return -ERANGE;
	*ret = v + rest;
	return 0;
}

static const struct unit *
unit_scan(const char **p)
{
	size_t i, len;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		len = strlen(units[i].name);
		if (strncmp(*p, units[i].name, len) == 0) {
			*p += len;
			return &units[i];
		}
	}
	return NULL;
}

int
timefmt_parse_duration(const char *s, int64_t *ret_ns)
{
	const char *p = s;
	uint64_t total = 0, part;
	struct number n;
	const struct unit *u;
	int r, parts = 0;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	while (*p != '\0') {
		r = number_scan(&p, &n);
		if (r < 0)
			return r;
		u = unit_scan(&p);
		if (u == NULL) {
			/* A bare number is seconds, but only on its own:
			 * "1h30" is more likely a mistake than 1h30s. */
			if (*p != '\0' || parts > 0)
				return -EINVAL;
			r = number_scale(&n, 1, 9, &part);
		} else {
			r = number_scale(&n, u->mult, u->shift, &part);
		}
		if (r < 0)
			return r;
		if (total > (uint64_t)INT64_MAX - part)
			return -ERANGE;
		total += part;
		parts++;
	}
	*ret_ns = (int64_t)total;
	return 0;
}

/* Reads exactly `count` digits. */
static int
fixed_digits(const char **p, int count, int *ret)
{
	int v = 0, i;

	for (i = 0; i < count; i++) {
		if (!is_digit((*p)[i]))
			return -EINVAL;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += count;
	*ret = v;
	return 0;
}

/* Nanoseconds of seconds + frac_ns, or -ERANGE. */
static int
join_ns(int64_t seconds, int64_t frac_ns, int64_t *ret)
{
	int64_t v;

	if (__builtin_mul_overflow(seconds, NS_PER_S, &v) ||
	    __builtin_add_overflow(v, frac_ns, &v))
		return -ERANGE;
	*ret = v;
	return 0;
}

/* "@SECONDS[.fraction]" */
static int
parse_epoch(const char *p, int64_t *ret_ns)
{
	struct number n;
	uint64_t v;
	int r;

	r = number_scan(&p, &n);
	if (r < 0)
		return r;
	if (*p != '\0')
		return -EINVAL;
	r = number_scale(&n, 1, 9, &v);
	if (r < 0)
		return r;
	*ret_ns = (int64_t)v;
	return 0;
}

/* [Z | (+|-)HH[[:]MM]] then the end; *ret_off is seconds east of UTC. */
static int
parse_zone(const char *p, bool *ret_has_zone, int *ret_off)
{
	int sign, hh, mm = 0;

	if (*p == '\0') {
		*ret_has_zone = false;
		return 0;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		*ret_has_zone = true;
		*ret_off = 0;
		return 0;
	}
	if (*p != '+' && *p != '-')
		return -EINVAL;
	sign = *p++ == '-' ? -1 : 1;
	if (fixed_digits(&p, 2, &hh) < 0)
		return -EINVAL;
	if (*p == ':')
		p++;
	if (*p != '\0' && fixed_digits(&p, 2, &mm) < 0)
		return -EINVAL;
	if (*p != '\0' || hh > 23 || mm > 59)
		return -EINVAL;
	*ret_has_zone = true;
	*ret_off = sign * (hh * 3600 + mm * 60);
	return 0;
}

/* An ISO 8601 instant as written (see timefmt_parse_time). */
struct iso {
	int y, mo, d, h, mi, sec;
	int64_t frac_ns;
	bool has_zone; /* an offset or "Z" was given: off is valid */
	int off;       /* seconds east of UTC */
	bool epoch;    /* "@SECONDS": epoch_ns is the instant */
	int64_t epoch_ns;
};

static int
iso_scan(const char *s, struct iso *ret)
{
	const char *p = s;
	struct iso t = {0};
	int r;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	if (*p == '@') {
		r = parse_epoch(p + 1, &t.epoch_ns);
		if (r < 0)
			return r;
		t.epoch = true;
		*ret = t;
		return 0;
	}
	if (fixed_digits(&p, 4, &t.y) < 0 || *p++ != '-' ||
	    fixed_digits(&p, 2, &t.mo) < 0 || *p++ != '-' ||
	    fixed_digits(&p, 2, &t.d) < 0)
		return -EINVAL;
	if (t.mo < 1 || t.mo > 12 || t.d < 1 ||
	    t.d > civil_days_in_month(t.y, t.mo))
		return -EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (fixed_digits(&p, 2, &t.h) < 0 || *p++ != ':' ||
		    fixed_digits(&p, 2, &t.mi) < 0)
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (fixed_digits(&p, 2, &t.sec) < 0)
				return -EINVAL;
			if (*p == '.' || *p == ',') {
				int64_t scale = NS_PER_S / 10;

				p++;
				if (!is_digit(*p))
					return -EINVAL;
				/* Digits past nanoseconds are truncated. */
				for (; is_digit(*p); p++, scale /= 10)
					t.frac_ns += (*p - '0') * scale;
			}
		}
		/* No leap seconds and no 24:00: a timer deadline is an
		 * instant, and these would only alias other instants. */
		if (t.h > 23 || t.mi > 59 || t.sec > 59)
			return -EINVAL;
		r = parse_zone(p, &t.has_zone, &t.off);
		if (r < 0)
			return r;
	} else if (*p != '\0') {
		return -EINVAL;
	}
	*ret = t;
	return 0;
}

/* Seconds since 1970-01-01 00:00 of a civil date and time, no zone. */
static int64_t
iso_civil_seconds(const struct iso *t)
{
	return civil_days_from_civil(t->y, t->mo, t->d) * 86400 + t->h * 3600 +
	       t->mi * 60 + t->sec;
}

int
timefmt_parse_time(const char *s, int64_t *ret_ns)
{
	struct iso t;
	int64_t seconds;
	int r;

	r = iso_scan(s, &t);
	if (r < 0)
		return r;
	if (t.epoch) {
		*ret_ns = t.epoch_ns;
		return 0;
	}
	if (t.has_zone) {
		seconds = iso_civil_seconds(&t) - t.off;
	} else {
		struct tm tm = {0};
		time_t tt;

		tm.tm_year = t.y - 1900;
		tm.tm_mon = t.mo - 1;
		tm.tm_mday = t.d;
		tm.tm_hour = t.h;
		tm.tm_min = t.mi;
		tm.tm_sec = t.sec;
		tm.tm_isdst = -1;
		/* -1 is also a valid result (1969-12-31T23:59:59Z), so only
		 * errno tells a failure apart. */
		errno = 0;
		tt = mktime(&tm);
		if (tt == (time_t)-1 && errno != 0)
			return -ERANGE;
		seconds = (int64_t)tt;
	}
	return join_ns(seconds, t.frac_ns, ret_ns);
}

/* ---- human forms ---- */

/* Words of one input, split in place at blanks (and, with signs, around
 * every '+' and a '-' that starts a word or follows "now", so that
 * "now+2h" reads as "now + 2h" but a date keeps its dashes). */
#define MAX_WORDS 16

struct words {
	char buf[3 * TIMEFMT_INPUT_MAX + 1];
	char *w[MAX_WORDS];
	int n;
};

static bool
is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n';
}

/* s[i] is a sign to split off (see struct words). */
static bool
is_sign_at(const char *s, size_t i)
{
	if (s[i] == '+')
		return true;
	if (s[i] != '-')
		return false;
	if (i == 0 || is_blank(s[i - 1]) || s[i - 1] == '+')
		return true;
	return i >= 3 && strncasecmp(s + i - 3, "now", 3) == 0 &&
	       (i == 3 || is_blank(s[i - 4]));
}

static int
words_split(const char *s, bool signs, struct words *ret)
{
	size_t len = strlen(s), i, o = 0;
	char *p;

	if (len > TIMEFMT_INPUT_MAX)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (signs && is_sign_at(s, i)) {
			ret->buf[o++] = ' ';
			ret->buf[o++] = s[i];
			ret->buf[o++] = ' ';
		} else {
			ret->buf[o++] = is_blank(s[i]) ? ' ' : s[i];
		}
	}
	ret->buf[o] = '\0';
	ret->n = 0;
	for (p = ret->buf; *p != '\0';) {
		while (*p == ' ')
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (ret->n == MAX_WORDS)
			return -EINVAL;
		ret->w[ret->n++] = p;
		while (*p != '\0' && *p != ' ')
			p++;
	}
	return ret->n > 0 ? 0 : -EINVAL;
}

/* A unit word ("minutes", "hr", "secs") as a timefmt unit, or NULL. */
static const char *
unit_word(const char *w)
{
	static const struct {
		const char *word;
		const char *unit;
	} words[] = {
	    {"ns", "ns"},	  {"nsec", "ns"},	 {"nanosecond", "ns"},
	    {"nanoseconds", "ns"}, {"us", "us"},	 {"usec", "us"},
	    {"microsecond", "us"}, {"microseconds", "us"}, {"ms", "ms"},
	    {"msec", "ms"},	  {"millisecond", "ms"}, {"milliseconds", "ms"},
	    {"s", "s"},		  {"sec", "s"},		 {"secs", "s"},
	    {"second", "s"},	  {"seconds", "s"},	 {"m", "m"},
	    {"min", "m"},	  {"mins", "m"},	 {"minute", "m"},
	    {"minutes", "m"},	  {"h", "h"},		 {"hr", "h"},
	    {"hrs", "h"},	  {"hour", "h"},	 {"hours", "h"},
	    {"d", "d"},		  {"day", "d"},		 {"days", "d"},
	    {"w", "w"},		  {"week", "w"},	 {"weeks", "w"},
	};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasecmp(w, words[i].word) == 0)
			return words[i].unit;
	return NULL;
}

static bool
is_number(const char *w)
{
	struct number n;

	return number_scan(&w, &n) == 0 && *w == '\0';
}

/* "10mins", "5minutes", "2hours": a number and a unit word written
 * together, as "10min" and "10 mins" already are. */
static int
glued_unit_word(const char *w, int64_t *ret_ns)
{
	char tmp[TIMEFMT_INPUT_MAX + 8];
	const char *rest = w, *unit;
	struct number n;

	if (number_scan(&rest, &n) < 0 || rest == w ||
	    (unit = unit_word(rest)) == NULL ||
	    (size_t)(rest - w) >= TIMEFMT_INPUT_MAX)
		return -EINVAL;
	snprintf(tmp, sizeof(tmp), "%.*s%s", (int)(rest - w), w, unit);
	return timefmt_parse_duration(tmp, ret_ns);
}

/* w[0..n): "5 minutes", "1 hour and 30 minutes", "1h30m", "an hour". */
static int
duration_words(char *const *w, int n, int64_t *ret_ns)
{
	char tmp[TIMEFMT_INPUT_MAX + 8];
	const char *num, *unit;
	int64_t total = 0, v;
	int i, items = 0, r;

	for (i = 0; i < n; i++) {
		if (items > 0 && i + 1 < n && strcasecmp(w[i], "and") == 0)
			continue;
		num = strcasecmp(w[i], "a") == 0 || strcasecmp(w[i], "an") == 0
			  ? "1"
			  : w[i];
		unit = i + 1 < n ? unit_word(w[i + 1]) : NULL;
		if (unit != NULL && is_number(num)) {
			/* num is at most TIMEFMT_INPUT_MAX bytes. */
			snprintf(tmp, sizeof(tmp), "%s%s", num, unit);
			r = timefmt_parse_duration(tmp, &v);
			i++;
		} else if ((r = timefmt_parse_duration(w[i], &v)) == -EINVAL) {
			r = glued_unit_word(w[i], &v);
		}
		if (r < 0)
			return r;
		if (__builtin_add_overflow(total, v, &total))
			return -ERANGE;
		items++;
	}
	if (items == 0)
		return -EINVAL;
	*ret_ns = total;
	return 0;
}

int
timefmt_parse_duration_words(const char *s, int64_t *ret_ns)
{
	struct words ws;
	int first = 0, r;

	if (s == NULL)
		return -EINVAL;
	r = timefmt_parse_duration(s, ret_ns);
	if (r != -EINVAL)
		return r;
	r = words_split(s, false, &ws);
	if (r < 0)
		return r;
	if (strcasecmp(ws.w[0], "in") == 0 || strcmp(ws.w[0], "+") == 0)
		first = 1;
	return duration_words(ws.w + first, ws.n - first, ret_ns);
}

/* 0 Monday .. 6 Sunday of days since 1970-01-01 (a Thursday). */
static int
weekday_of(int64_t days)
{
	int64_t w = (days + 3) % 7;

	return (int)(w < 0 ? w + 7 : w);
}

static int
weekday_word(const char *w)
{
	static const char *const names[7] = {"monday", "tuesday",
					     "wednesday", "thursday",
					     "friday", "saturday", "sunday"};
	int i;

	for (i = 0; i < 7; i++)
		if (strcasecmp(w, names[i]) == 0 ||
		    (strlen(w) == 3 && strncasecmp(w, names[i], 3) == 0))
			return i;
	return -1;
}

/* 1 or 2 digits. */
static int
short_digits(const char **p, int *ret)
{
	int v = 0, i;

	for (i = 0; i < 2 && is_digit(**p); i++, (*p)++)
		v = v * 10 + (**p - '0');
	if (i == 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* "HH:MM[:SS[.frac]]", "H[:MM](am|pm)", "noon", "midnight": seconds of
 * the day and a fraction. */
static int
time_word(const char *w, int64_t *ret_s, int64_t *ret_frac)
{
	const char *p = w;
	int h, mi = 0, sec = 0;
	int64_t frac = 0, scale = NS_PER_S / 10;

	if (strcasecmp(w, "noon") == 0) {
		*ret_s = 12 * 3600;
		*ret_frac = 0;
		return 0;
	}
	if (strcasecmp(w, "midnight") == 0) {
		*ret_s = 0;
		*ret_frac = 0;
		return 0;
	}
	if (short_digits(&p, &h) < 0)
		return -EINVAL;
	if (*p == ':') {
		p++;
		if (fixed_digits(&p, 2, &mi) < 0)
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (fixed_digits(&p, 2, &sec) < 0)
				return -EINVAL;
			if (*p == '.') {
				p++;
				if (!is_digit(*p))
					return -EINVAL;
				for (; is_digit(*p); p++, scale /= 10)
					frac += (*p - '0') * scale;
			}
		}
	} else if (strcasecmp(p, "am") != 0 && strcasecmp(p, "pm") != 0) {
		/* A bare number is not a time of day. */
		return -EINVAL;
	}
	if (strcasecmp(p, "am") == 0 || strcasecmp(p, "pm") == 0) {
		if (h < 1 || h > 12)
			return -EINVAL;
		h = h % 12 + (tolower((unsigned char)*p) == 'p' ? 12 : 0);
	} else if (*p != '\0') {
		return -EINVAL;
	}
	if (h > 23 || mi > 59 || sec > 59)
		return -EINVAL;
	*ret_s = h * 3600 + mi * 60 + sec;
	*ret_frac = frac;
	return 0;
}

/* "YYYY-MM-DD" as days since 1970-01-01. */
static int
date_word(const char *w, int64_t *ret_days)
{
	struct iso t;

	if (strlen(w) != 10 || iso_scan(w, &t) < 0)
		return -EINVAL;
	*ret_days = civil_days_from_civil(t.y, t.mo, t.d);
	return 0;
}

/* The instant of local day `days` at second tod + frac in zone. */
static int
local_instant(int64_t days, int64_t tod, int64_t frac, const char *zone,
	      int64_t *ret_ns)
{
	return calendar_from_local(days * 86400 + tod, frac, zone,
				   CALENDAR_GAP_SHIFT, CALENDAR_OVERLAP_FIRST,
				   ret_ns);
}

/* [DAY] [TIME] in either order, DAY one of today, tomorrow, yesterday,
 * [next] WEEKDAY, YYYY-MM-DD; "at" between them is allowed. */
static int
day_time_words(char *const *w, int n, int64_t now_ns, const char *zone,
	       int64_t *ret_ns)
{
	enum { NONE, RELATIVE, DATE, WEEKDAY } day = NONE;
	int64_t day_n = 0, tod = 0, frac = 0, now_local, today, ns = 0;
	bool has_time = false, next = false;
	int i, k, wd = -1, r;

	for (i = 0; i < n; i++) {
		if (strcasecmp(w[i], "at") == 0 && i > 0 && i + 1 < n)
			continue;
		if (strcasecmp(w[i], "next") == 0 && !next && day == NONE &&
		    i + 1 < n && weekday_word(w[i + 1]) >= 0) {
			next = true;
			continue;
		}
		if (day == NONE && strcasecmp(w[i], "today") == 0) {
			day = RELATIVE;
			day_n = 0;
		} else if (day == NONE && strcasecmp(w[i], "tomorrow") == 0) {
			day = RELATIVE;
			day_n = 1;
		} else if (day == NONE && strcasecmp(w[i], "yesterday") == 0) {
			day = RELATIVE;
			day_n = -1;
		} else if (day == NONE && (wd = weekday_word(w[i])) >= 0) {
			day = WEEKDAY;
		} else if (day == NONE && date_word(w[i], &day_n) == 0) {
			day = DATE;
		} else if (!has_time && time_word(w[i], &tod, &frac) == 0) {
			has_time = true;
		} else {
			return -EINVAL;
		}
	}
	if (day == NONE && !has_time)
		return -EINVAL;
	if (day == DATE)
		return local_instant(day_n, tod, frac, zone, ret_ns);
	r = calendar_to_local(now_ns, zone, &now_local, NULL);
	if (r < 0)
		return r;
	today = now_local / 86400 - (now_local % 86400 < 0);
	if (day == RELATIVE)
		return local_instant(today + day_n, tod, frac, zone, ret_ns);
	/* The first such day (and time) after now: a weekday may be today
	 * if its time is still ahead, else a week on; a time alone is
	 * today or tomorrow. */
	for (k = 0; k <= 7; k++) {
		if (day == WEEKDAY && weekday_of(today + k) != wd)
			continue;
		r = local_instant(today + k, tod, frac, zone, &ns);
		if (r < 0)
			return r;
		if (ns > now_ns)
			break;
	}
	*ret_ns = ns;
	return 0;
}

int
timefmt_parse_when(const char *s, int64_t now_ns, const char *zone,
		   struct timefmt_when *ret)
{
	struct timefmt_when v = {0};
	char rest[TIMEFMT_INPUT_MAX + 1];
	struct words ws;
	struct iso t;
	int64_t d;
	size_t len = 0;
	int i, r, first;
	bool minus;

	if (s == NULL)
		return -EINVAL;
	r = words_split(s, false, &ws);
	if (r < 0)
		return r;
	/* A trailing zone name: "2026-12-01 09:00 Europe/Paris". */
	if (ws.n >= 2 && strlen(ws.w[ws.n - 1]) < TIMEFMT_ZONE_MAX &&
	    calendar_zone_valid(ws.w[ws.n - 1])) {
		snprintf(v.zone, sizeof(v.zone), "%s", ws.w[ws.n - 1]);
		zone = v.zone;
		ws.n--;
	}
	/* The rest with single blanks, for the ISO reader (its date and
	 * time may be separated by one blank). */
	rest[0] = '\0';
	for (i = 0; i < ws.n; i++) {
		/* Never longer than the input, which fits. */
		if (len >= sizeof(rest))
			return -EINVAL;
		len += (size_t)snprintf(rest + len, sizeof(rest) - len, "%s%s",
					i > 0 ? " " : "", ws.w[i]);
	}
	if (len >= sizeof(rest))
		return -EINVAL;
	if (iso_scan(rest, &t) == 0) {
		if (t.epoch)
			v.ns = t.epoch_ns;
		else if (t.has_zone)
			r = join_ns(iso_civil_seconds(&t) - t.off, t.frac_ns,
				    &v.ns);
		else
			r = calendar_from_local(iso_civil_seconds(&t),
						t.frac_ns, zone,
						CALENDAR_GAP_SHIFT,
						CALENDAR_OVERLAP_FIRST, &v.ns);
		if (r < 0)
			return r == -EOVERFLOW ? -ERANGE : r;
		*ret = v;
		return 0;
	}
	r = words_split(rest, true, &ws);
	if (r < 0)
		return r;
	/* Relative: now, now +|- D, +D, -D, in D. */
	first = -1;
	minus = false;
	if (strcasecmp(ws.w[0], "now") == 0) {
		if (ws.n == 1) {
			first = ws.n;
		} else if (strcmp(ws.w[1], "+") == 0 ||
			   strcmp(ws.w[1], "-") == 0) {
			minus = ws.w[1][0] == '-';
			first = 2;
		} else {
			return -EINVAL;
		}
	} else if (strcmp(ws.w[0], "+") == 0 || strcmp(ws.w[0], "-") == 0) {
		minus = ws.w[0][0] == '-';
		first = 1;
	} else if (strcasecmp(ws.w[0], "in") == 0) {
		first = 1;
	}
	if (first >= 0) {
		/* A zone means nothing to an offset from now. */
		if (v.zone[0] != '\0')
			return -EINVAL;
		d = 0;
		if (first < ws.n) {
			r = duration_words(ws.w + first, ws.n - first, &d);
			if (r < 0)
				return r;
		} else if (ws.n != 1 || strcasecmp(ws.w[0], "now") != 0) {
			return -EINVAL; /* "in", "now +" or a sign alone */
		}
		if (minus)
			d = -d;
		if (__builtin_add_overflow(now_ns, d, &v.ns))
			return -ERANGE;
		v.relative = true;
		v.offset_ns = d;
		*ret = v;
		return 0;
	}
	r = day_time_words(ws.w, ws.n, now_ns, zone, &v.ns);
	if (r < 0)
		return r == -EOVERFLOW ? -ERANGE : r;
	*ret = v;
	return 0;
}

/* snprintf at buf + *len, tracking the length even when it no longer
 * fits, so the caller checks for truncation once at the end. */
static void
append(char *buf, size_t size, size_t *len, const char *fmt, ...)
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

static int
finish(size_t len, size_t size)
{
	if (len >= size)
		return -ENOSPC;
	return (int)len;
}

/* Appends "whole[.frac]" where frac has `digits` digits, trailing zeros
 * removed, then the unit. */
static void
append_decimal(char *buf, size_t size, size_t *len, uint64_t whole,
	       uint64_t frac, int digits, const char *unit)
{
	if (frac == 0) {
		append(buf, size, len, "%llu%s", (unsigned long long)whole,
		       unit);
		return;
	}
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	append(buf, size, len, "%llu.%0*llu%s", (unsigned long long)whole,
	       digits, (unsigned long long)frac, unit);
}

int
timefmt_format_duration(int64_t ns, char *buf, size_t size)
{
	/* The magnitude as unsigned: -INT64_MIN does not fit in int64. */
	uint64_t u = ns < 0 ? -(uint64_t)ns : (uint64_t)ns;
	const uint64_t s = 1000000000ULL, mn = 60 * s, hr = 60 * mn,
		       dy = 24 * hr;
	size_t len = 0;

	if (size > 0)
		buf[0] = '\0';
	if (ns < 0)
		append(buf, size, &len, "-");
	if (u == 0) {
		append(buf, size, &len, "0s");
	} else if (u < 1000) {
		append(buf, size, &len, "%lluns", (unsigned long long)u);
	} else if (u < 1000000) {
		append_decimal(buf, size, &len, u / 1000, u % 1000, 3, "us");
	} else if (u < s) {
		append_decimal(buf, size, &len, u / 1000000, u % 1000000, 6,
			       "ms");
	} else {
		if (u >= dy)
			append(buf, size, &len, "%llud",
			       (unsigned long long)(u / dy));
		if (u % dy >= hr)
			append(buf, size, &len, "%lluh",
			       (unsigned long long)(u % dy / hr));
		if (u % hr >= mn)
			append(buf, size, &len, "%llum",
			       (unsigned long long)(u % hr / mn));
		if (u % mn >= 1000000)
			append_decimal(buf, size, &len, u % mn / s,
				       u % s / 1000000, 3, "s");
	}
	return finish(len, size);
}

int
timefmt_format_time(int64_t ns, bool utc, char *buf, size_t size)
{
	int64_t sec = ns / NS_PER_S, rem = ns % NS_PER_S;
	struct tm tm;
	time_t t;
	size_t len = 0;
	char date[32];
	long off;

	if (size > 0)
		buf[0] = '\0';
	/* Floor division: -1 ns is 23:59:59.999999999 the day before. */
	if (rem < 0) {
		rem += NS_PER_S;
		sec--;
	}
	t = (time_t)sec;
	if ((utc ? gmtime_r(&t, &tm) : localtime_r(&t, &tm)) == NULL)
		return -EOVERFLOW;
	if (strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return -EOVERFLOW;
	append(buf, size, &len, "%s", date);
	if (rem != 0 && rem % 1000000 == 0)
		append(buf, size, &len, ".%03lld", (long long)(rem / 1000000));
	else if (rem != 0 && rem % 1000 == 0)
		append(buf, size, &len, ".%06lld", (long long)(rem / 1000));
	else if (rem != 0)
		append(buf, size, &len, ".%09lld", (long long)rem);
	if (utc) {
		append(buf, size, &len, "Z");
	} else {
		off = tm.tm_gmtoff;
		append(buf, size, &len, "%c%02ld:%02ld", off < 0 ? '-' : '+',
		       (off < 0 ? -off : off) / 3600,
		       (off < 0 ? -off : off) % 3600 / 60);
	}
	return finish(len, size);
}

int
timefmt_format_seconds(int64_t ns, char *buf, size_t size)
{
	uint64_t u = ns < 0 ? -(uint64_t)ns : (uint64_t)ns;
	size_t len = 0;

	if (size > 0)
		buf[0] = '\0';
	append(buf, size, &len, "%s%llu.%09llu", ns < 0 ? "-" : "",
	       (unsigned long long)(u / 1000000000ULL),
	       (unsigned long long)(u % 1000000000ULL));
	return finish(len, size);
}
