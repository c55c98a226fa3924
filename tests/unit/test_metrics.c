/*
 * Unit tests of the metrics module (daemon/metrics.c): bucket counting at
 * and around the bounds, cumulative buckets, the exact sum, exec outcome
 * counters, the text format a Prometheus scraper parses, and the
 * HOST:PORT parser that both the configuration and the listener use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

/* Renders with a fixed snapshot; the caller frees. */
static char *
render(void)
{
	struct metrics_snapshot s = {
		.pending_timers = 3,
		.scheduled_total = 10,
		.fired_total = 6,
		.cancelled_total = 1,
		.connections = 2,
		.channels = 4,
		.channel_queued = 5,
		.channel_inflight = 7,
		.channel_dead = 8,
		.channel_redelivered_total = 9,
		.exec_running = 11,
	};
	char *text = NULL;
	size_t len = 0;

	assert_int_equal(metrics_render(&s, &text, &len), 0);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	return text;
}

/* The value on the line that starts with "series " (exact series name,
 * labels included). Fails the test if there is no such line. */
static const char *
value_of(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return p + n + 1;
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	fail_msg("no series %s in:\n%s", series, text);
	return NULL;
}

static unsigned long long
count_of(const char *text, const char *series)
{
	return strtoull(value_of(text, series), NULL, 10);
}

static void
test_gauges_and_counters(void **state)
{
	char *t;

	metrics_reset();
	t = render();
	assert_int_equal(count_of(t, "evd_pending_timers"), 3);
	assert_int_equal(count_of(t, "evd_scheduled_total"), 10);
	assert_int_equal(count_of(t, "evd_fired_total"), 6);
	assert_int_equal(count_of(t, "evd_cancelled_total"), 1);
	assert_int_equal(count_of(t, "evd_connections"), 2);
	assert_int_equal(count_of(t, "evd_channels"), 4);
	assert_int_equal(count_of(t, "evd_channel_messages_queued"), 5);
	assert_int_equal(count_of(t, "evd_channel_messages_inflight"), 7);
	assert_int_equal(count_of(t, "evd_channel_messages_dead"), 8);
	assert_int_equal(count_of(t, "evd_channel_redelivered_total"), 9);
	assert_int_equal(count_of(t, "evd_exec_running"), 11);
	assert_non_null(strstr(t, "# TYPE evd_pending_timers gauge\n"));
	assert_non_null(strstr(t, "# TYPE evd_fired_total counter\n"));
	free(t);
}

static void
test_lateness_buckets(void **state)
{
	char *t;

	metrics_reset();
	metrics_observe_lateness(0);         /* <= 50us */
	metrics_observe_lateness(50000);     /* on the bound: <= 50us */
	metrics_observe_lateness(50001);     /* just above: <= 100us */
	metrics_observe_lateness(-5);        /* clamped to 0 */
	metrics_observe_lateness(3000000);   /* 3 ms: <= 5 ms */
	metrics_observe_lateness(INT64_C(20) * 1000000000); /* above 10 s */
	t = render();
	assert_int_equal(
	        count_of(t, "evd_fire_lateness_seconds_bucket{le=\"0.00005\"}"),
	        3);
	assert_int_equal(
	        count_of(t, "evd_fire_lateness_seconds_bucket{le=\"0.0001\"}"),
	        4);
	assert_int_equal(
	        count_of(t, "evd_fire_lateness_seconds_bucket{le=\"0.0025\"}"),
	        4);
	assert_int_equal(
	        count_of(t, "evd_fire_lateness_seconds_bucket{le=\"0.005\"}"),
	        5);
	assert_int_equal(
	        count_of(t, "evd_fire_lateness_seconds_bucket{le=\"10\"}"), 5);
	assert_int_equal(
	        count_of(t, "evd_fire_lateness_seconds_bucket{le=\"+Inf\"}"),
	        6);
	assert_int_equal(count_of(t, "evd_fire_lateness_seconds_count"), 6);
	/* 0 + 50000 + 50001 + 0 + 3000000 ns + 20 s, exactly. */
	assert_int_equal(strncmp(value_of(t, "evd_fire_lateness_seconds_sum"),
	                         "20.003100001\n", 13),
	                 0);
	assert_non_null(
	        strstr(t, "# TYPE evd_fire_lateness_seconds histogram\n"));
	free(t);
}

static void
test_buckets_are_cumulative_and_ascending(void **state)
{
	unsigned long long prev = 0, v, observed = 0;
	const char *p;
	int n = 0;
	char *t;

	metrics_reset();
	/* 1 ns .. 10 s: every bucket gets some, +Inf too. */
	for (int64_t ns = 1; ns < INT64_C(30) * 1000000000; ns *= 3) {
		metrics_observe_commit(ns);
		observed++;
	}
	t = render();
	for (p = strstr(t, "evd_store_commit_seconds_bucket{"); p != NULL;
	     p = strstr(p + 1, "evd_store_commit_seconds_bucket{")) {
		v = strtoull(strchr(p, ' ') + 1, NULL, 10);
		assert_true(v >= prev);
		prev = v;
		n++;
	}
	assert_int_equal(n, 13); /* 12 bounds and +Inf */
	assert_int_equal(prev, count_of(t, "evd_store_commit_seconds_count"));
	assert_int_equal(
	        count_of(t, "evd_store_commit_seconds_bucket{le=\"+Inf\"}"),
	        observed);
	free(t);
}

static void
test_sum_carries_nanoseconds(void **state)
{
	char *t;
	int i;

	metrics_reset();
	for (i = 0; i < 3; i++)
		metrics_observe_commit(600000000); /* 0.6 s */
	t = render();
	assert_int_equal(strncmp(value_of(t, "evd_store_commit_seconds_sum"),
	                         "1.800000000\n", 12),
	                 0);
	free(t);
}

/* Flushes (the sync thread's) have a histogram of their own. */
static void
test_flush_is_its_own_histogram(void **state)
{
	char *t;

	metrics_reset();
	metrics_observe_flush(3000000); /* 3 ms */
	metrics_observe_flush(3000000);
	metrics_observe_commit(1000);
	t = render();
	assert_int_equal(count_of(t, "evd_store_flush_seconds_count"), 2);
	assert_int_equal(count_of(t, "evd_store_commit_seconds_count"), 1);
	assert_int_equal(
	        count_of(t, "evd_store_flush_seconds_bucket{le=\"0.0025\"}"), 0);
	assert_int_equal(
	        count_of(t, "evd_store_flush_seconds_bucket{le=\"0.005\"}"), 2);
	assert_int_equal(strncmp(value_of(t, "evd_store_flush_seconds_sum"),
	                         "0.006000000\n", 12),
	                 0);
	assert_non_null(strstr(t, "# TYPE evd_store_flush_seconds histogram\n"));
	free(t);
}

static void
test_exec_outcomes(void **state)
{
	char *t;

	metrics_reset();
	metrics_count_exec(EXEC_EXITED, 0);
	metrics_count_exec(EXEC_EXITED, 0);
	metrics_count_exec(EXEC_EXITED, 3);
	metrics_count_exec(EXEC_SIGNALED, 9);
	metrics_count_exec(EXEC_TIMED_OUT, 15);
	metrics_count_exec(EXEC_FAILED, -2);
	metrics_count_exec((enum exec_outcome)42, 0); /* unknown */
	t = render();
	assert_int_equal(count_of(t, "evd_exec_total{outcome=\"success\"}"), 2);
	/* Exit 3 and signal 9 alike. */
	assert_int_equal(count_of(t, "evd_exec_total{outcome=\"failure\"}"), 2);
	assert_int_equal(count_of(t, "evd_exec_total{outcome=\"timeout\"}"),
	                 1);
	assert_int_equal(
		count_of(t, "evd_exec_total{outcome=\"failed_start\"}"), 2);
	assert_non_null(strstr(t, "# TYPE evd_exec_total counter\n"));
	free(t);
}

/*
 * The exposition format, line by line: every line is a "# HELP name
 * text", a "# TYPE name type" right after its HELP, or a sample "name
 * value" / "name{labels} value" whose name is the last TYPE's (or its
 * _bucket/_sum/_count); the text ends with a newline.
 */
static void
test_text_format(void **state)
{
	char family[128] = "", *t, *line, *save = NULL;
	char name[128], type[32];
	size_t len;

	metrics_reset();
	metrics_observe_lateness(1);
	t = render();
	len = strlen(t);
	assert_true(len > 0 && t[len - 1] == '\n');
	for (line = strtok_r(t, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s", family), 1);
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			assert_int_equal(sscanf(line + 7, "%127s %31s", name,
			                        type),
			                 2);
			assert_string_equal(name, family);
			assert_true(strcmp(type, "gauge") == 0 ||
			            strcmp(type, "counter") == 0 ||
			            strcmp(type, "histogram") == 0);
			continue;
		}
		assert_true(line[0] != '#');
		/* The sample belongs to the current family. */
		assert_int_equal(strncmp(line, family, strlen(family)), 0);
		len = strcspn(line, "{ ");
		assert_true(line[len] == ' ' || line[len] == '{');
		if (line[len] == '{') {
			char *close = strchr(line + len, '}');

			assert_non_null(close);
			assert_true(close[1] == ' ');
		}
		/* One value, a number, then the end of the line. */
		{
			const char *v = strrchr(line, ' ') + 1;
			char *end;

			(void)strtod(v, &end);
			assert_true(end != v && *end == '\0');
		}
	}
	free(t);
}

/* The last-success gauge: one series per timer, updated in place,
 * removed with the timer, and no more than METRICS_TIMER_SERIES_MAX of
 * them: a new timer's success beyond that is counted as dropped, and no
 * series already there is evicted. */
static void
test_timer_last_success(void **state)
{
	char *t;
	uint64_t id;

	(void)state;
	metrics_reset();
	metrics_timer_success(7, 1000, INT64_C(1796549363123456789));
	metrics_timer_success(5, 0, INT64_C(1796549000000000000));
	metrics_timer_success(7, 1000, INT64_C(1796549400250000000));
	t = render();
	assert_string_equal(
	    strstr(t, "evd_timer_last_success_timestamp_seconds{"),
	    strstr(t, "evd_timer_last_success_timestamp_seconds{id=\"5\","));
	assert_true(strncmp(value_of(t, "evd_timer_last_success_timestamp_"
	                                "seconds{id=\"7\",owner=\"1000\"}"),
	                    "1796549400.250\n", 15) == 0);
	assert_true(strncmp(value_of(t, "evd_timer_last_success_timestamp_"
	                                "seconds{id=\"5\",owner=\"0\"}"),
	                    "1796549000.000\n", 15) == 0);
	assert_int_equal(count_of(t, "evd_timer_last_success_dropped_total"),
	                 0);
	free(t);

	metrics_timer_forget(5);
	metrics_timer_forget(99); /* unknown: nothing happens */
	t = render();
	assert_null(strstr(t, "{id=\"5\""));
	assert_non_null(strstr(t, "{id=\"7\""));
	free(t);

	for (id = 100; id < 100 + METRICS_TIMER_SERIES_MAX + 10; id++)
		metrics_timer_success(id, 1, INT64_C(1000000000));
	t = render();
	assert_non_null(strstr(t, "{id=\"7\""));
	assert_int_equal(count_of(t, "evd_timer_last_success_dropped_total"),
	                 11);
	free(t);
	/* A timer already there is still updated when the table is full. */
	metrics_timer_success(7, 1000, INT64_C(2000000000000000000));
	t = render();
	assert_true(strncmp(value_of(t, "evd_timer_last_success_timestamp_"
	                                "seconds{id=\"7\",owner=\"1000\"}"),
	                    "2000000000.000\n", 15) == 0);
	free(t);
	metrics_reset();
}

static void
test_parse_addr(void **state)
{
	static const char *const bad[] = {
		"", "9464", ":9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
		"127.0.0.1:65536", "127.0.0.1:99999999999999999999",
		"127.0.0.1:+80", "127.0.0.1: 80", "127.0.0.1:80x",
		"example.org:80", "1:80", "0x7f000001:80", "::1:9464",
		"[::1]", "[127.0.0.1]:80", "[::1:80", "off",
		/* Longer than METRICS_ADDR_MAX. */
		("[0000:0000:0000:0000:0000:0000:0000:0001]:946400000000000000"
		 "000000"),
	};
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	size_t i;

	assert_int_equal(metrics_parse_addr("127.0.0.1:9464", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof *sin);
	assert_int_equal(ntohs(sin->sin_port), 9464);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);

	assert_int_equal(metrics_parse_addr("localhost:1", &ss, &len), 0);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), 0x7f000001);
	assert_int_equal(ntohs(sin->sin_port), 1);

	assert_int_equal(metrics_parse_addr("0.0.0.0:65535", &ss, &len), 0);
	assert_int_equal(ntohs(sin->sin_port), 65535);

	assert_int_equal(metrics_parse_addr("[::1]:9464", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof *sin6);
	assert_int_equal(ntohs(sin6->sin6_port), 9464);
	assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		len = 12345;
		if (metrics_parse_addr(bad[i], &ss, &len) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(len, 12345); /* untouched */
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gauges_and_counters),
		cmocka_unit_test(test_lateness_buckets),
		cmocka_unit_test(test_buckets_are_cumulative_and_ascending),
		cmocka_unit_test(test_sum_carries_nanoseconds),
		cmocka_unit_test(test_flush_is_its_own_histogram),
		cmocka_unit_test(test_exec_outcomes),
		cmocka_unit_test(test_text_format),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_timer_last_success),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
