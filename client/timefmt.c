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

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

static bool
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d, proleptic Gregorian (H. Hinnant's
 * days_from_civil: exact for every year, no tables, no time zone). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
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

int
timefmt_parse_time(const char *s, int64_t *ret_ns)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, off = 0, r;
	int64_t frac_ns = 0, seconds;
	bool has_zone = false;

	if (s == NULL || *s == '\0')
		return -EINVAL;
	if (*p == '@')
		return parse_epoch(p + 1, ret_ns);

	if (fixed_digits(&p, 4, &y) < 0 || *p++ != '-' ||
	    fixed_digits(&p, 2, &mo) < 0 || *p++ != '-' ||
	    fixed_digits(&p, 2, &d) < 0)
		return -EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (fixed_digits(&p, 2, &h) < 0 || *p++ != ':' ||
		    fixed_digits(&p, 2, &mi) < 0)
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (fixed_digits(&p, 2, &sec) < 0)
				return -EINVAL;
			if (*p == '.' || *p == ',') {
				int64_t scale = NS_PER_S / 10;

				p++;
				if (!is_digit(*p))
					return -EINVAL;
				/* Digits past nanoseconds are truncated. */
				for (; is_digit(*p); p++, scale /= 10)
					frac_ns += (*p - '0') * scale;
			}
		}
		/* No leap seconds and no 24:00: a timer deadline is an
		 * instant, and these would only alias other instants. */
		if (h > 23 || mi > 59 || sec > 59)
			return -EINVAL;
		r = parse_zone(p, &has_zone, &off);
		if (r < 0)
			return r;
	} else if (*p != '\0') {
		return -EINVAL;
	}

	if (has_zone) {
		seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 +
			  mi * 60 + sec - off;
	} else {
		struct tm tm = {0};
		time_t t;

		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = sec;
		tm.tm_isdst = -1;
		/* -1 is also a valid result (1969-12-31T23:59:59Z), so only
		 * errno tells a failure apart. */
		errno = 0;
		t = mktime(&tm);
		if (t == (time_t)-1 && errno != 0)
			return -ERANGE;
		seconds = (int64_t)t;
	}
	return join_ns(seconds, frac_ns, ret_ns);
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
