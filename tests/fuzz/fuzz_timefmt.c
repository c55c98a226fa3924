/*
 * fuzz_timefmt: evctl's duration and time parsers and formatters
 * (client/evctl/timefmt.c).
 *
 * The input, as a C string (up to its first NUL), goes to both parsers;
 * what they accept must come back through the formatters to the same
 * value, as timefmt.h promises: a duration exactly below one second and
 * truncated to the millisecond above (and exactly through the seconds
 * form), an instant exactly in UTC and in the local zone. The first 8
 * bytes, as an int64, also go to every formatter, into a buffer of the
 * promised maximum size and into a short one: the return is the length
 * written or -ENOSPC/-EOVERFLOW, never an overrun.
 *
 * The local zone is a fixed POSIX rule with DST (no tzdata needed), so
 * runs are repeatable and the DST paths of mktime are reached.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_timefmt: %s:%d: %s\n", __FILE__, \
			        __LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

#define NS_PER_MS INT64_C(1000000)
#define NS_PER_S INT64_C(1000000000)

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	tzset();
	return 0;
}

/* A formatter's result must be its output's length, within size. */
static void
fuzz_check_len(int r, const char *buf, size_t size)
{
	if (r == -ENOSPC || r == -EOVERFLOW) {
		FUZZ_CHECK(size == 0 || strlen(buf) < size);
		return;
	}
	FUZZ_CHECK(r >= 0 && (size_t)r < size && strlen(buf) == (size_t)r);
}

/* Whether a formatted instant has the 4-digit year the parser reads. */
static bool
fuzz_parseable_year(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return s[4] == '-';
}

static void
fuzz_duration(const char *s)
{
	char buf[TIMEFMT_DURATION_MAX], sec[TIMEFMT_SECONDS_MAX];
	int64_t v, back, sentinel = INT64_C(-42);
	int r;

	back = sentinel;
	r = timefmt_parse_duration(s, &back);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL || r == -ERANGE);
		FUZZ_CHECK(back == sentinel);
		return;
	}
	FUZZ_CHECK(r == 0 && back >= 0);
	v = back;
	r = timefmt_format_duration(v, buf, sizeof buf);
	fuzz_check_len(r, buf, sizeof buf);
	FUZZ_CHECK(r > 0);
	FUZZ_CHECK(timefmt_parse_duration(buf, &back) == 0);
	if (v < NS_PER_S)
		FUZZ_CHECK(back == v);
	else
		FUZZ_CHECK(back == v - v % NS_PER_MS);
	r = timefmt_format_seconds(v, sec, sizeof sec);
	fuzz_check_len(r, sec, sizeof sec);
	FUZZ_CHECK(timefmt_parse_duration(sec, &back) == 0 && back == v);
}

static void
fuzz_time(const char *s)
{
	char buf[TIMEFMT_TIME_MAX];
	int64_t v, back, sentinel = INT64_C(-42);
	int r, utc;

	back = sentinel;
	r = timefmt_parse_time(s, &back);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL || r == -ERANGE);
		FUZZ_CHECK(back == sentinel);
		return;
	}
	FUZZ_CHECK(r == 0);
	v = back;
	for (utc = 0; utc <= 1; utc++) {
		r = timefmt_format_time(v, utc, buf, sizeof buf);
		fuzz_check_len(r, buf, sizeof buf);
		if (r < 0 || !fuzz_parseable_year(buf))
			continue;
		FUZZ_CHECK(timefmt_parse_time(buf, &back) == 0);
		FUZZ_CHECK(back == v);
	}
}

/* Every formatter on an arbitrary value, at full and at short size. */
static void
fuzz_formatters(int64_t v, size_t small)
{
	char buf[TIMEFMT_TIME_MAX + TIMEFMT_DURATION_MAX];
	char neg[TIMEFMT_DURATION_MAX];
	int r, r2;

	r = timefmt_format_duration(v, buf, TIMEFMT_DURATION_MAX);
	fuzz_check_len(r, buf, TIMEFMT_DURATION_MAX);
	FUZZ_CHECK(r > 0);
	/* A negative duration is the positive one with a '-'. */
	if (v > 0) {
		r2 = timefmt_format_duration(-v, neg, sizeof neg);
		FUZZ_CHECK(r2 == r + 1 && neg[0] == '-' &&
		           strcmp(neg + 1, buf) == 0);
	}
	r2 = timefmt_format_duration(v, buf, small);
	fuzz_check_len(r2, buf, small);
	FUZZ_CHECK(r2 == (small > (size_t)r ? r : -ENOSPC));

	r = timefmt_format_seconds(v, buf, TIMEFMT_SECONDS_MAX);
	fuzz_check_len(r, buf, TIMEFMT_SECONDS_MAX);
	FUZZ_CHECK(r > 0);
	r2 = timefmt_format_seconds(v, buf, small);
	fuzz_check_len(r2, buf, small);
	FUZZ_CHECK(r2 == (small > (size_t)r ? r : -ENOSPC));

	for (int utc = 0; utc <= 1; utc++) {
		r = timefmt_format_time(v, utc, buf, TIMEFMT_TIME_MAX);
		fuzz_check_len(r, buf, TIMEFMT_TIME_MAX);
		FUZZ_CHECK(r > 0);
		r2 = timefmt_format_time(v, utc, buf, small);
		fuzz_check_len(r2, buf, small);
		FUZZ_CHECK(r2 == (small > (size_t)r ? r : -ENOSPC));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	int64_t v;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	fuzz_duration(s);
	fuzz_time(s);
	free(s);
	if (size >= sizeof v) {
		memcpy(&v, data, sizeof v);
		fuzz_formatters(v, size > sizeof v ? data[sizeof v] % 48 : 0);
	}
	return 0;
}
