/*
 * Unit tests of the clock module's batches (daemon/clock.c) on a fake
 * time source: inside a batch the clocks are read once, all three at the
 * first use of any, and every later read in the batch gets those values; outside a batch, or
 * once the outermost batch ends, every read is fresh; batches nest; the
 * realtime conversion uses the batch's readings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "clock.h"
#include "evd.pb-c.h"

static int64_t fake_reads;

/* Each read advances time: 1000 ns per read, realtime 1e12 ahead. */
static int64_t
fake_now(int clk)
{
	fake_reads++;
	return fake_reads * 1000 +
	       (clk == EVD__CLOCK__REALTIME ? 1000000000000 : 0);
}

static int
setup(void **state)
{
	(void)state;
	fake_reads = 0;
	clock_set_source(fake_now);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	clock_set_source(NULL);
	return 0;
}

static void
test_outside_a_batch_every_read_is_fresh(void **state)
{
	(void)state;
	assert_int_equal(clock_batch_ns(EVD__CLOCK__MONOTONIC), 1000);
	assert_int_equal(clock_batch_ns(EVD__CLOCK__MONOTONIC), 2000);
	assert_int_equal(fake_reads, 2);
}

static void
test_a_batch_reads_each_clock_once(void **state)
{
	int64_t m, r;

	(void)state;
	clock_batch_begin();
	m = clock_batch_ns(EVD__CLOCK__MONOTONIC);
	r = clock_batch_ns(EVD__CLOCK__REALTIME);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(clock_batch_ns(EVD__CLOCK__MONOTONIC), m);
		assert_int_equal(clock_batch_ns(EVD__CLOCK__REALTIME), r);
	}
	/* All three clocks at the first use: one instant for all. */
	assert_int_equal(fake_reads, 3);
	/* The conversion is exact against the batch's own readings. */
	assert_int_equal(clock_to_realtime_ns(EVD__CLOCK__MONOTONIC, m + 5),
	                 r + 5);
	assert_int_equal(fake_reads, 3);
	/* clock_now_ns itself is never cached. */
	assert_true(clock_now_ns(EVD__CLOCK__MONOTONIC) > m);
	/* Nested: the inner end does not end the outer batch. */
	clock_batch_begin();
	assert_int_equal(clock_batch_ns(EVD__CLOCK__MONOTONIC), m);
	clock_batch_end();
	assert_int_equal(clock_batch_ns(EVD__CLOCK__MONOTONIC), m);
	clock_batch_end();
	assert_true(clock_batch_ns(EVD__CLOCK__MONOTONIC) > m);
	/* A new batch reads anew. */
	clock_batch_begin();
	assert_true(clock_batch_ns(EVD__CLOCK__MONOTONIC) > m);
	clock_batch_end();
	/* An unbalanced end is harmless. */
	clock_batch_end();
	assert_true(clock_batch_ns(EVD__CLOCK__BOOTTIME) > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	            test_outside_a_batch_every_read_is_fresh, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_a_batch_reads_each_clock_once,
	                                    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
