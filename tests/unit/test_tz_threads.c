/*
 * test_tz_threads: zone conversions from several threads at once, the
 * way evd's loop threads make them: more zones than the cache holds
 * (so zones are evicted while other threads use them), the process's
 * zone, calendar_next and calendar_from_local, and a thread that keeps
 * flushing the cache. Every answer must equal the one computed alone
 * beforehand. Run under ThreadSanitizer by ./dev test (label threads).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "calendar.h"
#include "tz.h"

#define NTHREADS 4
#define ROUNDS 30
#define NINSTANTS 16
#define NS INT64_C(1000000000)

static const char *const zones[] = {
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/London",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Vienna",
    "Europe/Oslo",
    "Europe/Helsinki",
    "Europe/Athens",
    "Europe/Kyiv",
    "Europe/Lisbon",
    "Europe/Dublin",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Anchorage",
    "America/Halifax",
    "America/St_Johns",
    "America/Sao_Paulo",
    "America/Santiago",
    "America/Mexico_City",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Shanghai",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tehran",
    "Asia/Dubai",
    "Asia/Jerusalem",
    "Australia/Sydney",
    "Australia/Perth",
    "Australia/Lord_Howe",
    "Australia/Adelaide",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "Pacific/Honolulu",
    "Africa/Cairo",
    "Africa/Johannesburg",
    "UTC",
    NULL, /* NULL: the process's zone */
};
#define NZONES (sizeof(zones) / sizeof(zones[0]))

struct expect {
	int32_t utoff_s[NINSTANTS];
	char abbr[NINSTANTS][16];
	int64_t next_ns;  /* calendar_next("Mon..Fri 09:30") */
	int64_t local_ns; /* calendar_from_local(2030-03-31 02:30) */
};

static struct expect expect[NZONES];
static int64_t instants[NINSTANTS];
static struct calendar *cal;
static atomic_int mismatches;
static atomic_bool stop_flush;

static int
compute(size_t k, struct expect *e)
{
	struct tz_info info;
	struct tz *z;
	int i, r;

	r = tz_get(zones[k], &z);
	if (r < 0)
		return r;
	for (i = 0; i < NINSTANTS; i++) {
		if (tz_lookup(z, instants[i], &info) < 0) {
			tz_unref(z);
			return -EOVERFLOW;
		}
		e->utoff_s[i] = info.utoff_s;
		snprintf(e->abbr[i], sizeof(e->abbr[i]), "%s", info.abbr);
	}
	tz_unref(z);
	r = calendar_next(cal, zones[k], CALENDAR_GAP_SHIFT,
			  CALENDAR_OVERLAP_FIRST, INT64_C(1700000000) * NS,
			  &e->next_ns);
	if (r < 0)
		return r;
	/* 2030-03-31 02:30 local: a gap in much of Europe. */
	return calendar_from_local(INT64_C(1901154600), 0, zones[k],
				   CALENDAR_GAP_SHIFT, CALENDAR_OVERLAP_FIRST,
				   &e->local_ns);
}

static void *
worker(void *arg)
{
	size_t start = (size_t)(uintptr_t)arg, j, k;
	struct expect got;
	int round;

	for (round = 0; round < ROUNDS; round++)
		for (j = 0; j < NZONES; j++) {
			k = (start * 7 + j) % NZONES;
			memset(&got, 0, sizeof(got));
			if (compute(k, &got) < 0 ||
			    memcmp(&got, &expect[k], sizeof(got)) != 0)
				atomic_fetch_add(&mismatches, 1);
		}
	return NULL;
}

static void *
flusher(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_flush)) {
		tz_cache_flush();
		usleep(100);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	pthread_t th[NTHREADS], fl;
	char err[CALENDAR_ERROR_MAX];
	size_t k;
	int i;

	(void)state;
	assert_int_equal(
	    calendar_parse("Mon..Fri 09:30", &cal, err, sizeof(err)), 0);
	for (i = 0; i < NINSTANTS; i++)
		instants[i] = INT64_C(-2000000000) + i * INT64_C(400000000);
	for (k = 0; k < NZONES; k++) {
		memset(&expect[k], 0, sizeof(expect[k]));
		if (compute(k, &expect[k]) < 0)
			fail_msg("zone %s: no answer",
				 zones[k] ? zones[k] : "(local)");
	}
	tz_cache_flush();
	assert_int_equal(pthread_create(&fl, NULL, flusher, NULL), 0);
	for (i = 0; i < NTHREADS; i++)
		assert_int_equal(
		    pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i),
		    0);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&stop_flush, true);
	pthread_join(fl, NULL);
	assert_int_equal(atomic_load(&mismatches), 0);
	calendar_free(cal);
	tz_cache_flush();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_threads),
	};
	size_t k;
	char path[300];

	for (k = 0; k < NZONES; k++) {
		if (zones[k] == NULL)
			continue;
		snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s",
			 zones[k]);
		if (access(path, R_OK) != 0) {
			printf("SKIP: no %s in /usr/share/zoneinfo (Debian "
			       "package tzdata)\n",
			       zones[k]);
			return 77;
		}
	}
	unsetenv("TZDIR");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
