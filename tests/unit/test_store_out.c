/*
 * Unit tests of store_out (daemon/store_out.c), the per-uid output
 * tally both durable stores keep: one entry per uid, a transaction's
 * changes folded in at commit, reported newest first and removed, a
 * report stopped by its callback.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "store_out.h"

struct seen {
	uid_t uid[8];
	int64_t bytes[8];
	int n;
	int fail_at; /* the call that fails (-EIO), or -1 */
};

static int
seen_cb(uid_t uid, int64_t bytes, void *arg)
{
	struct seen *s = arg;

	if (s->n == s->fail_at) {
		s->n++;
		return -EIO;
	}
	s->uid[s->n] = uid;
	s->bytes[s->n] = bytes;
	s->n++;
	return 0;
}

static void
test_add_merges_per_uid(void **state)
{
	struct store_out o = {0};

	(void)state;
	assert_int_equal(store_out_add(&o, 1000, 10), 0);
	assert_int_equal(store_out_add(&o, 0, 0), 0); /* nothing */
	assert_int_equal(store_out_add(&o, 1001, 5), 0);
	assert_int_equal(store_out_add(&o, 1000, -4), 0);
	for (uid_t u = 2000; u < 2020; u++) /* grows past its first 8 */
		assert_int_equal(store_out_add(&o, u, 1), 0);
	assert_int_equal(o.n, 22);
	assert_int_equal(o.e[0].uid, 1000);
	assert_int_equal(o.e[0].bytes, 6);
	assert_int_equal(o.e[1].uid, 1001);
	assert_int_equal(o.e[1].bytes, 5);
	store_out_free(&o);
	assert_null(o.e);
	assert_int_equal(o.n, 0);
	store_out_free(&o); /* twice is fine */
}

static void
test_settle_then_report(void **state)
{
	struct store_out pending = {0}, done = {0};
	struct seen s = {.fail_at = -1};

	(void)state;
	assert_int_equal(store_out_add(&done, 7, 100), 0);
	assert_int_equal(store_out_add(&pending, 7, -30), 0);
	assert_int_equal(store_out_add(&pending, 8, 20), 0);
	assert_int_equal(store_out_add(&pending, 9, 5), 0);
	assert_int_equal(store_out_add(&pending, 9, -5), 0); /* nets to 0 */
	store_out_settle(&pending, &done);
	assert_int_equal(pending.n, 0);
	assert_int_equal(store_out_report(&done, seen_cb, &s), 0);
	/* Newest entry first; a net 0 is not reported. */
	assert_int_equal(s.n, 2);
	assert_int_equal(s.uid[0], 8);
	assert_int_equal(s.bytes[0], 20);
	assert_int_equal(s.uid[1], 7);
	assert_int_equal(s.bytes[1], 70);
	assert_int_equal(done.n, 0);
	store_out_free(&pending);
	store_out_free(&done);
}

static void
test_report_stops(void **state)
{
	struct store_out done = {0};
	struct seen s = {.fail_at = 1};

	(void)state;
	assert_int_equal(store_out_add(&done, 1, 1), 0);
	assert_int_equal(store_out_add(&done, 2, 2), 0);
	assert_int_equal(store_out_add(&done, 3, 3), 0);
	assert_int_equal(store_out_report(&done, seen_cb, &s), -EIO);
	/* 3 reported, 2 refused (and gone), 1 left for next time. */
	assert_int_equal(done.n, 1);
	assert_int_equal(done.e[0].uid, 1);
	s.n = 0;
	s.fail_at = -1;
	assert_int_equal(store_out_report(&done, seen_cb, &s), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.uid[0], 1);
	store_out_free(&done);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_add_merges_per_uid),
	    cmocka_unit_test(test_settle_then_report),
	    cmocka_unit_test(test_report_stops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
