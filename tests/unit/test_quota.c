/*
 * Unit tests of the per-uid quotas (daemon/quota.c): counting and limits
 * with one loop, and with several the per-loop changes that reach the
 * shared counts once per iteration (quota_sync), including a loop that
 * touches more uids in one iteration than it counts on its own.
 *
 * A second thread stands for a second loop: quota's per-loop state is
 * the thread's own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "quota.h"
#include "shard.h"

#define UID 1000
/* What each timer and message costs beyond its own bytes. */
#define TO QUOTA_TIMER_OVERHEAD
#define MO QUOTA_MESSAGE_OVERHEAD
/* 100 bytes beyond three timers and a message of no bytes. */
#define LIMIT_BYTES (100 + 3 * TO + MO)

static int
setup(void **state)
{
	struct quota_limits l = {.timers = 3, .messages = 2, .bytes = LIMIT_BYTES};

	(void)state;
	if (quota_init() < 0)
		return -1;
	quota_set_limits(&l);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	quota_sync();
	quota_shutdown();
	return 0;
}

static int
check(uid_t uid, enum quota_kind kind, size_t bytes)
{
	char why[128] = "";
	int r = quota_check(uid, kind, bytes, why, sizeof why);

	/* A refusal always says why. */
	assert_true(r == 0 ? why[0] == '\0' : why[0] != '\0');
	return r;
}

static uint64_t
timers_of(uid_t uid)
{
	struct quota_usage u;

	quota_usage(uid, &u);
	return u.timers;
}

static void
test_one_loop_limits(void **state)
{
	char why[128];
	struct quota_usage u;

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(check(UID, QUOTA_TIMER, 10), 0);
		assert_int_equal(quota_add(UID, QUOTA_TIMER, 10), 0);
	}
	assert_int_equal(quota_check(UID, QUOTA_TIMER, 10, why, sizeof why),
	                 -EDQUOT);
	assert_non_null(strstr(why, "3 pending timers"));
	/* Messages and bytes count apart from timers. */
	assert_int_equal(check(UID, QUOTA_MESSAGE, 70), 0);
	assert_int_equal(check(UID, QUOTA_MESSAGE, 71), -EDQUOT);
	/* Root is counted but never refused. */
	assert_int_equal(quota_add(0, QUOTA_TIMER, 1000), 0);
	assert_int_equal(check(0, QUOTA_TIMER, 1000), 0);
	quota_release(0, QUOTA_TIMER, 1000);

	quota_release(UID, QUOTA_TIMER, 10);
	assert_int_equal(check(UID, QUOTA_TIMER, 10), 0);
	quota_usage(UID, &u);
	assert_int_equal(u.timers, 2);
	assert_int_equal(u.bytes, 20 + 2 * TO);
	quota_release(UID, QUOTA_TIMER, 10);
	quota_release(UID, QUOTA_TIMER, 10);
	/* A release of what is not held does not wrap around. */
	quota_release(UID, QUOTA_TIMER, 10);
	quota_usage(UID, &u);
	assert_int_equal(u.timers, 0);
	assert_int_equal(u.bytes, 0);
}

/* Cluster mode (H3): messages in the shared store count for their
 * owner though no node holds them; the larger of that figure and what
 * is held here is the usage; a clear forgets it. */
static void
test_messages_elsewhere(void **state)
{
	char why[128];

	(void)state;
	assert_int_equal(check(UID, QUOTA_MESSAGE, 0), 0);
	assert_int_equal(quota_set_elsewhere(UID, 2), 0);
	assert_int_equal(quota_check(UID, QUOTA_MESSAGE, 0, why, sizeof why),
	                 -EDQUOT);
	assert_non_null(strstr(why, "2 queued messages"));
	/* Another uid's figure is its own; timers are not messages. */
	assert_int_equal(check(UID + 1, QUOTA_MESSAGE, 0), 0);
	assert_int_equal(check(UID, QUOTA_TIMER, 0), 0);
	/* Held here and in the store alike: not counted twice. */
	assert_int_equal(quota_set_elsewhere(UID, 1), 0);
	assert_int_equal(quota_add(UID, QUOTA_MESSAGE, 0), 0);
	assert_int_equal(check(UID, QUOTA_MESSAGE, 0), 0);
	quota_release(UID, QUOTA_MESSAGE, 0);
	assert_int_equal(quota_set_elsewhere(UID, 5), 0);
	assert_int_equal(check(UID, QUOTA_MESSAGE, 0), -EDQUOT);
	quota_clear_elsewhere();
	assert_int_equal(check(UID, QUOTA_MESSAGE, 0), 0);
	assert_int_equal(quota_set_elsewhere(UID, 5), 0);
	assert_int_equal(quota_set_elsewhere(UID, 0), 0);
	assert_int_equal(check(UID, QUOTA_MESSAGE, 0), 0);
	/* Root is never refused. */
	assert_int_equal(quota_set_elsewhere(0, 100), 0);
	assert_int_equal(check(0, QUOTA_MESSAGE, 0), 0);
}

struct other {
	int step; /* what the other loop does (see other_main) */
	uint64_t seen;
	int r1, r2;
};

static void *
other_main(void *arg)
{
	struct other *o = arg;

	switch (o->step) {
	case 0: /* looks only */
		o->seen = timers_of(UID);
		break;
	case 1: /* one more timer: allowed, and a second is not */
		o->r1 = check(UID, QUOTA_TIMER, 0);
		if (o->r1 == 0)
			quota_add(UID, QUOTA_TIMER, 0);
		o->r2 = check(UID, QUOTA_TIMER, 0);
		quota_sync();
		break;
	}
	return NULL;
}

static struct other
on_other_loop(int step)
{
	struct other o = {.step = step};
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, other_main, &o), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	return o;
}

static void
test_loops_publish_per_iteration(void **state)
{
	struct other o;

	(void)state;
	if (shard_count() == 1)
		assert_int_equal(shard_setup(2), 0);
	assert_int_equal(check(UID, QUOTA_TIMER, 0), 0);
	assert_int_equal(quota_add(UID, QUOTA_TIMER, 0), 0);
	assert_int_equal(quota_add(UID, QUOTA_TIMER, 0), 0);
	/* This loop sees its own changes at once ... */
	assert_int_equal(timers_of(UID), 2);
	/* ... the other loop only after this iteration ends. */
	assert_int_equal(on_other_loop(0).seen, 0);
	quota_sync();
	assert_int_equal(on_other_loop(0).seen, 2);

	/* The other loop adds the third and is refused a fourth. */
	o = on_other_loop(1);
	assert_int_equal(o.r1, 0);
	assert_int_equal(o.r2, -EDQUOT);
	/* Published by its sync; this loop's next iteration sees it. */
	assert_int_equal(check(UID, QUOTA_TIMER, 0), -EDQUOT);
	quota_release(UID, QUOTA_TIMER, 0);
	quota_release(UID, QUOTA_TIMER, 0);
	quota_release(UID, QUOTA_TIMER, 0);
	quota_sync();
	assert_int_equal(on_other_loop(0).seen, 0);
}

static void
test_many_uids_in_one_iteration(void **state)
{
	(void)state;
	if (shard_count() == 1)
		assert_int_equal(shard_setup(2), 0);
	/* More uids than a loop counts on its own: the rest go straight
	 * to the shared table, and every count comes out right. */
	for (uid_t u = 2000; u < 2040; u++) {
		assert_int_equal(check(u, QUOTA_TIMER, 5), 0);
		assert_int_equal(quota_add(u, QUOTA_TIMER, 5), 0);
		assert_int_equal(quota_add(u, QUOTA_MESSAGE, 5), 0);
	}
	quota_sync();
	for (uid_t u = 2000; u < 2040; u++) {
		struct quota_usage us;

		quota_usage(u, &us);
		assert_int_equal(us.timers, 1);
		assert_int_equal(us.messages, 1);
		assert_int_equal(us.bytes, 10 + TO + MO);
		quota_release(u, QUOTA_TIMER, 5);
		quota_release(u, QUOTA_MESSAGE, 5);
	}
	quota_sync();
	for (uid_t u = 2000; u < 2040; u++)
		assert_int_equal(timers_of(u), 0);
}

/* QUOTA_BYTES counts bytes held by no item (retained hook output): only
 * the byte limit applies, and no timer or message is counted. */
static void
test_bytes_alone(void **state)
{
	struct quota_usage u;

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(quota_add(UID, QUOTA_TIMER, 0), 0);
	/* At the timer quota, bytes alone still fit. */
	assert_int_equal(check(UID, QUOTA_BYTES, 60), 0);
	assert_int_equal(quota_add(UID, QUOTA_BYTES, 60), 0);
	quota_usage(UID, &u);
	assert_int_equal(u.timers, 3);
	assert_int_equal(u.messages, 0);
	assert_int_equal(u.bytes, 60 + 3 * TO);
	assert_int_equal(check(UID, QUOTA_BYTES, 40 + MO), 0);
	assert_int_equal(check(UID, QUOTA_BYTES, 41 + MO), -EDQUOT);
	/* They count against new timers' bytes too. */
	assert_int_equal(check(UID, QUOTA_MESSAGE, 41), -EDQUOT);
	quota_release(UID, QUOTA_BYTES, 60);
	quota_usage(UID, &u);
	assert_int_equal(u.bytes, 3 * TO);
	assert_int_equal(u.timers, 3);
	assert_int_equal(check(0, QUOTA_BYTES, 1000), 0); /* root */
	for (int i = 0; i < 3; i++)
		quota_release(UID, QUOTA_TIMER, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bytes_alone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_one_loop_limits, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_loops_publish_per_iteration,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_uids_in_one_iteration,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_messages_elsewhere, setup,
	                                    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
