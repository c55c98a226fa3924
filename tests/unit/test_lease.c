/*
 * Unit tests of a node's self-fencing (daemon/lease.c), on made-up
 * monotonic times in milliseconds: D = 3000, M = 500, T = 5000 unless a
 * test says otherwise. The cases are the failures the research lists
 * (reference/scale-out-postgresql.md): a node paused past D (SIGSTOP)
 * must not fire what it claimed before, even though its next heartbeat
 * succeeds; a heartbeat delayed on its way past D is a gap although it
 * was sent in time; replies that come back out of order move nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lease.h"

#define MS INT64_C(1000000)

static struct lease *
new_lease(void)
{
	struct lease_config c = {
	    .death_ns = 3000 * MS, .margin_ns = 500 * MS, .claim_ns = 5000 * MS};
	struct lease *l = lease_new(&c);

	assert_non_null(l);
	return l;
}

static void
test_not_live_before_a_heartbeat(void **state)
{
	struct lease *l = new_lease();

	(void)state;
	assert_false(lease_live(l, 0));
	assert_int_equal(lease_safe_until(l), 0);
	assert_false(lease_claim_ok(l, lease_epoch(l), 0, 1));
	/* The first heartbeat starts epoch 1; it is no gap. */
	assert_false(lease_heartbeat_ok(l, 100 * MS, true));
	assert_int_equal(lease_epoch(l), 1);
	assert_true(lease_live(l, 100 * MS));
	assert_int_equal(lease_safe_until(l), 2600 * MS); /* 100 + D - M */
	assert_false(lease_live(l, 2600 * MS));
	assert_int_equal(lease_gaps(l), 0);
	lease_free(l);
}

static void
test_a_chain_of_heartbeats_extends(void **state)
{
	struct lease *l = new_lease();
	int64_t t;

	(void)state;
	for (t = 0; t < 60000 * MS; t += 1000 * MS)
		assert_false(lease_heartbeat_ok(l, t, true));
	assert_int_equal(lease_epoch(l), 1);
	assert_int_equal(lease_safe_until(l), 59000 * MS + 2500 * MS);
	assert_int_equal(lease_gaps(l), 0);
	lease_free(l);
}

/* SIGSTOP for 6 s: the heartbeat after SIGCONT succeeds, but it was
 * sent after safe_until, so the gap voids the claims made before. */
static void
test_pause_past_death_voids_old_claims(void **state)
{
	struct lease *l = new_lease();
	uint64_t e;

	(void)state;
	lease_heartbeat_ok(l, 0, true);
	e = lease_epoch(l);
	assert_true(lease_claim_ok(l, e, 100 * MS, 1000 * MS));
	/* Stopped from 1000 to 7000: at 7000 nothing may fire. */
	assert_false(lease_live(l, 7000 * MS));
	assert_false(lease_claim_ok(l, e, 100 * MS, 7000 * MS));
	/* The database still found the row fresh (no peer was quick), but
	 * the heartbeat was sent after safe_until (2500): a gap. */
	assert_true(lease_heartbeat_ok(l, 7000 * MS, true));
	assert_int_not_equal(lease_epoch(l), e);
	assert_true(lease_live(l, 7001 * MS));
	assert_false(lease_claim_ok(l, e, 100 * MS, 7001 * MS));
	assert_true(lease_claim_ok(l, lease_epoch(l), 7000 * MS, 7001 * MS));
	assert_int_equal(lease_gaps(l), 1);
	lease_free(l);
}

/* Sent in time, but the database found the row stale on arrival (the
 * heartbeat sat in a queue past D): a peer may have reaped already. */
static void
test_stale_on_arrival_is_a_gap(void **state)
{
	struct lease *l = new_lease();
	uint64_t e;

	(void)state;
	lease_heartbeat_ok(l, 0, true);
	e = lease_epoch(l);
	assert_true(lease_heartbeat_ok(l, 1000 * MS, false));
	assert_int_equal(lease_epoch(l), e + 1);
	assert_false(lease_claim_ok(l, e, 500 * MS, 1500 * MS));
	assert_int_equal(lease_gaps(l), 1);
	lease_free(l);
}

static void
test_out_of_order_replies_move_nothing(void **state)
{
	struct lease *l = new_lease();

	(void)state;
	lease_heartbeat_ok(l, 0, true);
	assert_false(lease_heartbeat_ok(l, 2000 * MS, true));
	assert_int_equal(lease_safe_until(l), 4500 * MS);
	/* The reply of the heartbeat sent at 1000 arrives late, and one
	 * that says "stale" for an older heartbeat is no news either. */
	assert_false(lease_heartbeat_ok(l, 1000 * MS, true));
	assert_false(lease_heartbeat_ok(l, 1500 * MS, false));
	assert_int_equal(lease_safe_until(l), 4500 * MS);
	assert_int_equal(lease_epoch(l), 1);
	lease_free(l);
}

/* A claim is good until its own lease is about to end, even while the
 * node's heartbeats go on: T counts from when the claim was sent. */
static void
test_claim_lease_ends_before_peers_may_take_it(void **state)
{
	struct lease *l = new_lease();
	int64_t t;

	(void)state;
	for (t = 0; t <= 10000 * MS; t += 1000 * MS)
		lease_heartbeat_ok(l, t, true);
	assert_true(lease_claim_ok(l, 1, 1000 * MS, 5499 * MS));
	assert_false(lease_claim_ok(l, 1, 1000 * MS, 5500 * MS));
	lease_free(l);
}

static void
test_unworkable_configs_are_refused(void **state)
{
	struct lease_config c = {
	    .death_ns = 500 * MS, .margin_ns = 500 * MS, .claim_ns = 5000 * MS};

	(void)state;
	assert_null(lease_new(&c));
	c.death_ns = 3000 * MS;
	c.claim_ns = 400 * MS;
	assert_null(lease_new(&c));
	c.claim_ns = 5000 * MS;
	c.margin_ns = -1;
	assert_null(lease_new(&c));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_not_live_before_a_heartbeat),
	    cmocka_unit_test(test_a_chain_of_heartbeats_extends),
	    cmocka_unit_test(test_pause_past_death_voids_old_claims),
	    cmocka_unit_test(test_stale_on_arrival_is_a_gap),
	    cmocka_unit_test(test_out_of_order_replies_move_nothing),
	    cmocka_unit_test(test_claim_lease_ends_before_peers_may_take_it),
	    cmocka_unit_test(test_unworkable_configs_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
