/*
 * Cluster mode's SQL against a real PostgreSQL (daemon/store_pg.c: the
 * node connection, and the store with store_config.cluster_node): node
 * ids, heartbeats, claims with SKIP LOCKED, fenced retirement, reaping of
 * a dead node's claims, lapsed claim leases, id blocks.
 *
 * Two or three "nodes" are stores opened in this one process, each with
 * its own node connection. One server for the group (pgfixture); each
 * case starts from an empty database. Without PostgreSQL: exit 77, as
 * the fixture says (EVD_REQUIRE_PG=1 makes that a failure).
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "clock.h"
#include "pgfixture.h"
#include "store.h"

static struct pgfx pg;
static const struct store_backend *B = &store_pg_backend;

#define DEATH_NS (INT64_C(2) * 1000000000)

struct node {
	struct store_pg_node *n;
	struct store *s;
};

static void
node_open(struct node *nd, int64_t claim_ns)
{
	struct store_config cfg;
	char err[512];

	memset(nd, 0, sizeof(*nd));
	if (store_pg_node_open(pg.conninfo, &nd->n, err, sizeof(err)) < 0)
		fail_msg("node open: %s", err);
	memset(&cfg, 0, sizeof(cfg));
	cfg.conninfo = pg.conninfo;
	cfg.history_per_timer = 3;
	cfg.cluster_node = store_pg_node_id(nd->n);
	cfg.claim_ns = claim_ns;
	if (B->open(&cfg, &nd->s) < 0)
		fail_msg("store open: %s", B->errmsg(NULL));
}

static void
node_close(struct node *nd)
{
	B->close(nd->s);
	store_pg_node_close(nd->n);
}

/* Sends nothing itself: waits (poll) for what is in flight on n. */
static int
node_wait(struct node *nd, struct store_pg_node_beat *b)
{
	char err[512];
	int r;

	for (;;) {
		struct pollfd p = { store_pg_node_fd(nd->n), POLLIN, 0 };

		assert_true(p.fd >= 0);
		assert_true(poll(&p, 1, 10000) == 1);
		r = store_pg_node_read(nd->n, b, err, sizeof(err));
		if (r != 0) {
			if (r < 0)
				print_message("node read: %s\n", err);
			return r;
		}
	}
}

static struct store_timer
timer_at(uint64_t id, int64_t due_rt_ns)
{
	struct store_timer t;

	memset(&t, 0, sizeof(t));
	t.id = id;
	t.uid = 1000;
	t.gid = 1000;
	t.clock = EVD_CLOCK_REALTIME;
	t.deadline_ns = due_rt_ns;
	t.due_rt_ns = due_rt_ns;
	t.created_rt_ns = due_rt_ns;
	t.channel = "jobs";
	t.max_attempts = 1;
	return t;
}

static int64_t
now_rt(void)
{
	return clock_now_ns(EVD_CLOCK_REALTIME);
}

/* What claims handed over. */
struct got {
	uint64_t id[64];
	uint64_t fence[64];
	int64_t lease_left_ns[64];
	int n;
};

static int
got_cb(const struct store_timer *t, void *arg)
{
	struct got *g = arg;

	assert_true(g->n < 64);
	g->id[g->n] = t->id;
	g->fence[g->n] = t->fence;
	g->lease_left_ns[g->n] = t->lease_left_ns;
	g->n++;
	return 0;
}

static int
claim_due(struct node *nd, uint32_t limit, struct got *g)
{
	int n;

	memset(g, 0, sizeof(*g));
	assert_int_equal(B->begin(nd->s), 0);
	n = B->claim_due(nd->s, 200 * 1000000, limit, got_cb, g);
	assert_int_equal(B->commit(nd->s), 0);
	return n;
}

static void
schedule(struct node *nd, const struct store_timer *t)
{
	assert_int_equal(B->begin(nd->s), 0);
	assert_int_equal(B->schedule(nd->s, t), 0);
	assert_int_equal(B->commit(nd->s), 0);
}

static int
retire(struct node *nd, uint64_t id, uint64_t fence)
{
	int r;

	assert_int_equal(B->begin(nd->s), 0);
	r = B->retire(nd->s, id, fence, NULL);
	assert_int_equal(B->commit(nd->s), 0);
	return r;
}

/* Whether the one-row, one-column query says exactly want. */
static void
assert_sql(const char *want, const char *sql)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
	         "DO $$ BEGIN IF (%s)::text IS DISTINCT FROM '%s' THEN"
	         " RAISE 'got %%', (%s)::text; END IF; END $$",
	         sql, want, sql);
	if (pgfx_sql(&pg, "postgres", cmd) != 0)
		fail_msg("%s is not %s", sql, want);
}

static int
setup(void **state)
{
	(void)state;
	assert_int_equal(pgfx_sql(&pg, "postgres",
	                          "SELECT pg_terminate_backend(pid) FROM"
	                          " pg_stat_activity WHERE application_name"
	                          " = 'evd'"),
	                 0);
	assert_int_equal(pgfx_sql(&pg, "postgres",
	                          "DROP SCHEMA IF EXISTS evd CASCADE"), 0);
	return 0;
}

/* Every process start is a new node, never one seen before. */
static void
test_node_ids_fresh(void **state)
{
	struct node a, b;

	(void)state;
	node_open(&a, DEATH_NS);
	node_open(&b, DEATH_NS);
	assert_string_not_equal(store_pg_node_id(a.n), store_pg_node_id(b.n));
	assert_sql("2", "SELECT count(*) FROM evd.nodes");
	node_close(&b);
	node_close(&a);
	node_open(&a, DEATH_NS);
	assert_sql("3", "SELECT max(node::int8) FROM evd.nodes");
	node_close(&a);
}

/* evd's connections never JIT-compile (store_pg_setup): a fire batch's
 * statements were compiled anew at each run, and the reap at each
 * heartbeat, which cost the server more than the rows themselves. */
static void
test_sessions_without_jit(void **state)
{
	struct node a;
	char v[64];

	(void)state;
	node_open(&a, DEATH_NS);
	assert_int_equal(store_pg_test_sql(a.s, NULL, "SHOW jit", v,
	                                   sizeof(v)), 0);
	assert_string_equal(v, "off");
	assert_int_equal(store_pg_test_sql(NULL, a.n, "SHOW jit", v,
	                                   sizeof(v)), 0);
	assert_string_equal(v, "off");
	/* The node connection keeps its lock timeout beside it. */
	assert_int_equal(store_pg_test_sql(NULL, a.n, "SHOW lock_timeout", v,
	                                   sizeof(v)), 0);
	assert_string_equal(v, "200ms");
	node_close(&a);
}

/* Gathered fires are planned generically from the first batch on
 * (store_pg_fb_generic): a custom plan hashed all of evd.timers for the
 * retire. Counted by pg_prepared_statements (PostgreSQL 14 and later);
 * the setting is the transaction's only: the server's after commit. */
static void
test_gathered_generic_plans(void **state)
{
	struct store_timer t = timer_at(1, 1);
	struct node a;
	char v[64];

	(void)state;
	node_open(&a, DEATH_NS);
	assert_int_equal(store_pg_test_sql(a.s, NULL, "SELECT"
	                                   " current_setting('server_version_num')",
	                                   v, sizeof(v)), 0);
	if (atoi(v) < 140000) {
		node_close(&a);
		skip();
	}
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->schedule(a.s, &t), 0);
	assert_int_equal(B->commit(a.s), 0);
	assert_int_equal(B->begin(a.s), 0);
	B->pipeline(a.s, true);
	assert_int_equal(B->retire(a.s, 1, 0, NULL), 0);
	B->pipeline(a.s, false);
	assert_int_equal(B->commit(a.s), 0);
	assert_sql("F", "SELECT state FROM evd.timers WHERE id = 1");
	/* Summed: more than one prepared statement retires (the
	 * gathered fires', hook ends' retire_claims). */
	assert_int_equal(store_pg_test_sql(a.s, NULL, "SELECT"
	                                   " sum(generic_plans) || '/' ||"
	                                   " sum(custom_plans) FROM"
	                                   " pg_prepared_statements WHERE"
	                                   " statement LIKE 'UPDATE evd.timers t"
	                                   " SET state = ''F''%'", v,
	                                   sizeof(v)), 0);
	assert_string_equal(v, "1/0");
	assert_int_equal(store_pg_test_sql(a.s, NULL, "SHOW plan_cache_mode", v,
	                                   sizeof(v)), 0);
	assert_string_equal(v, "auto");
	node_close(&a);
}

/* A heartbeat says whether the row was fresh on arrival (the database's
 * clock): after a silence longer than D it was not, and the row is back. */
static void
test_heartbeat_fresh(void **state)
{
	struct store_pg_node_beat b;
	char sql[256];
	struct node a;

	(void)state;
	node_open(&a, DEATH_NS);
	assert_int_equal(store_pg_node_beat(a.n, DEATH_NS), 0);
	assert_true(store_pg_node_busy(a.n));
	assert_int_equal(store_pg_node_beat(a.n, DEATH_NS), -EBUSY);
	assert_int_equal(node_wait(&a, &b), 1);
	assert_int_equal(b.kind, STORE_PG_BEAT);
	assert_true(b.fresh);
	snprintf(sql, sizeof(sql), "UPDATE evd.nodes SET last_seen = now() -"
	         " interval '3 s' WHERE node = '%s'", store_pg_node_id(a.n));
	assert_int_equal(pgfx_sql(&pg, "postgres", sql), 0);
	assert_int_equal(store_pg_node_beat(a.n, DEATH_NS), 0);
	assert_int_equal(node_wait(&a, &b), 1);
	assert_false(b.fresh);
	/* Reaped meanwhile (its row deleted): not fresh, and registered
	 * again. */
	snprintf(sql, sizeof(sql), "DELETE FROM evd.nodes WHERE node = '%s'",
	         store_pg_node_id(a.n));
	assert_int_equal(pgfx_sql(&pg, "postgres", sql), 0);
	assert_int_equal(store_pg_node_beat(a.n, DEATH_NS), 0);
	assert_int_equal(node_wait(&a, &b), 1);
	assert_false(b.fresh);
	assert_sql("1", "SELECT count(*) FROM evd.nodes");
	assert_int_equal(store_pg_node_beat(a.n, DEATH_NS), 0);
	assert_int_equal(node_wait(&a, &b), 1);
	assert_true(b.fresh);
	node_close(&a);
}

/* What a node schedules is its claim; a peer cannot claim it while its
 * lease runs, and the fence decides who may retire it. */
static void
test_schedule_claims_retire_fenced(void **state)
{
	struct store_timer t = timer_at(1, now_rt() - 1000000000);
	struct node a, b;
	struct got g;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	schedule(&a, &t);
	assert_sql("C", "SELECT state FROM evd.timers WHERE id = 1");
	assert_int_equal(claim_due(&b, 10, &g), 0);
	/* A wrong fence retires nothing, and says so. */
	assert_int_equal(retire(&a, 1, 7), -ESTALE);
	assert_int_equal(retire(&a, 1, 0), 0);
	assert_sql("F", "SELECT state FROM evd.timers WHERE id = 1");
	assert_int_equal(retire(&a, 1, 0), -ESTALE);
	node_close(&b);
	node_close(&a);
}

/* A dead node's claims: reaped by a peer (pending again, fence bumped),
 * claimed by another, and the dead node's late retire finds no row. */
static void
test_reap_dead_node(void **state)
{
	struct store_timer t1 = timer_at(1, now_rt() - 1000000000);
	struct store_timer t2 = timer_at(2, now_rt() + INT64_C(3600) *
	                                                   1000000000);
	struct store_pg_node_beat bt;
	struct node a, b, c;
	char sql[256];
	struct got g;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	node_open(&c, INT64_C(30) * 1000000000);
	schedule(&a, &t1);
	schedule(&a, &t2);
	/* Alive: nothing to reap. */
	assert_int_equal(store_pg_node_reap(b.n, DEATH_NS), 0);
	assert_int_equal(node_wait(&b, &bt), 1);
	assert_int_equal(bt.kind, STORE_PG_REAP);
	assert_int_equal(bt.reaped_nodes, 0);
	/* a falls silent for longer than D (on the database's clock). */
	snprintf(sql, sizeof(sql), "UPDATE evd.nodes SET last_seen = now() -"
	         " interval '1 min' WHERE node = '%s'", store_pg_node_id(a.n));
	assert_int_equal(pgfx_sql(&pg, "postgres", sql), 0);
	assert_int_equal(store_pg_node_reap(b.n, DEATH_NS), 0);
	assert_int_equal(node_wait(&b, &bt), 1);
	assert_int_equal(bt.reaped_nodes, 1);
	assert_int_equal(bt.reaped_timers, 2);
	/* A second reaper finds nothing left. */
	assert_int_equal(store_pg_node_reap(c.n, DEATH_NS), 0);
	assert_int_equal(node_wait(&c, &bt), 1);
	assert_int_equal(bt.reaped_nodes, 0);
	assert_sql("P", "SELECT state FROM evd.timers WHERE id = 1");
	/* Pending again at its due instant: only the due one is claimed. */
	assert_int_equal(claim_due(&c, 10, &g), 1);
	assert_int_equal(g.id[0], 1);
	assert_int_equal(g.fence[0], 2); /* reap + claim */
	assert_true(g.lease_left_ns[0] > INT64_C(29) * 1000000000);
	assert_int_equal(claim_due(&b, 10, &g), 0);
	/* The dead node's retire fails; the claimant's succeeds. */
	assert_int_equal(retire(&a, 1, 0), -ESTALE);
	assert_int_equal(retire(&c, 1, 2), 0);
	assert_sql("P", "SELECT state FROM evd.timers WHERE id = 2");
	node_close(&c);
	node_close(&b);
	node_close(&a);
}

/* A claim whose lease lapsed (its node stalled, not reaped) is taken by
 * a peer with a new fence. */
static void
test_lapsed_claim_taken(void **state)
{
	struct store_timer t = timer_at(1, now_rt() - 1000000000);
	struct node a, b;
	struct got g;

	(void)state;
	node_open(&a, 2000); /* a lease of 2 us: lapsed at once */
	node_open(&b, INT64_C(30) * 1000000000);
	schedule(&a, &t);
	assert_int_equal(claim_due(&b, 10, &g), 1);
	assert_int_equal(g.fence[0], 1);
	assert_int_equal(retire(&a, 1, 0), -ESTALE);
	assert_int_equal(retire(&b, 1, 1), 0);
	node_close(&b);
	node_close(&a);
}

/* Two claimants at once: the rows one is claiming (uncommitted) are
 * skipped by the other, not waited for nor claimed twice. */
static void
test_claim_skip_locked(void **state)
{
	struct node a, b, c;
	struct got ga, gb;
	char sql[256];
	int i;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	node_open(&c, INT64_C(30) * 1000000000);
	for (i = 1; i <= 6; i++) {
		struct store_timer t = timer_at((uint64_t)i, now_rt() -
		                                                 1000000000);

		schedule(&a, &t);
	}
	snprintf(sql, sizeof(sql), "UPDATE evd.timers SET state = 'P',"
	         " claim_node = NULL, vis_at = now() - interval '1 s'");
	assert_int_equal(pgfx_sql(&pg, "postgres", sql), 0);
	memset(&ga, 0, sizeof(ga));
	assert_int_equal(B->begin(b.s), 0);
	assert_int_equal(B->claim_due(b.s, 0, 4, got_cb, &ga), 4);
	/* b's transaction is open: c gets the other two at once. */
	assert_int_equal(claim_due(&c, 10, &gb), 2);
	assert_int_equal(B->commit(b.s), 0);
	for (i = 0; i < 2; i++)
		for (int k = 0; k < 4; k++)
			assert_int_not_equal(gb.id[i], ga.id[k]);
	assert_int_equal(claim_due(&c, 10, &gb), 0);
	assert_sql("6", "SELECT count(*) FROM evd.timers WHERE state = 'C'");
	node_close(&c);
	node_close(&b);
	node_close(&a);
}

/* After a gap a node adopts its own claims with new fences: a retire it
 * sent before the gap (the old fence) can no longer land. */
static void
test_adopt_bumps_fence(void **state)
{
	struct store_timer t = timer_at(1, now_rt() + 1000000000);
	struct node a;
	struct got g;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	schedule(&a, &t);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->claim(a.s, INT64_MAX, got_cb, &g), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.fence[0], 1);
	assert_int_equal(retire(&a, 1, 0), -ESTALE);
	assert_int_equal(retire(&a, 1, 1), 0);
	node_close(&a);
}

/* Id blocks never overlap, whichever node asks. */
static void
test_reserve_ids_disjoint(void **state)
{
	uint64_t f1, n1, f2, n2, f3, n3;
	struct node a, b;

	(void)state;
	node_open(&a, DEATH_NS);
	node_open(&b, DEATH_NS);
	assert_int_equal(B->reserve_ids(a.s, &f1, &n1), 0);
	assert_int_equal(B->reserve_ids(b.s, &f2, &n2), 0);
	assert_int_equal(B->reserve_ids(a.s, &f3, &n3), 0);
	assert_true(n1 > 0 && n1 == n2 && n2 == n3);
	assert_true(f2 >= f1 + n1 && f3 >= f2 + n2);
	assert_true(f1 > (UINT64_C(1) << 32));
	node_close(&b);
	node_close(&a);
}

/* A clean stop gives the node's claims back at once (fence bumped). */
static void
test_leave_releases(void **state)
{
	struct store_timer t = timer_at(1, now_rt() - 1000000000);
	struct node a, b;
	char err[256];
	struct got g;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	schedule(&a, &t);
	assert_int_equal(store_pg_node_leave(a.n, err, sizeof(err)), 0);
	assert_int_equal(claim_due(&b, 10, &g), 1);
	assert_int_equal(g.fence[0], 2);
	assert_sql("1", "SELECT count(*) FROM evd.nodes");
	node_close(&b);
	node_close(&a);
}

static int
renew(struct node *nd, struct store_renewal *rn, size_t n)
{
	int r;

	assert_int_equal(B->begin(nd->s), 0);
	r = B->renew(nd->s, rn, n);
	assert_int_equal(B->commit(nd->s), 0);
	return r;
}

/* C1: a claim whose hook runs is renewed (fenced): once its lease had
 * lapsed a peer would take it; renewed, it does not. A renewal with a
 * fence that is no longer the claim's keeps nothing (a fence loss). */
static void
test_renew_keeps_claim(void **state)
{
	struct store_timer t1 = timer_at(1, now_rt() - 1000000000);
	struct store_timer t2 = timer_at(2, now_rt() - 1000000000);
	struct store_renewal rn[2];
	struct node a, b;
	struct got g;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	schedule(&a, &t1);
	schedule(&a, &t2);
	/* Both leases lapse (a hook ran longer than T). */
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.timers SET"
	                          " vis_at = now() - interval '1 s'"), 0);
	memset(rn, 0, sizeof(rn));
	rn[0].id = 1;
	rn[0].fence = 0;
	rn[1].id = 2;
	rn[1].fence = 5; /* not its fence */
	assert_int_equal(renew(&a, rn, 2), 1);
	assert_true(rn[0].kept);
	assert_true(rn[0].lease_left_ns > INT64_C(29) * 1000000000);
	assert_false(rn[1].kept);
	/* The peer takes only the one not renewed. */
	assert_int_equal(claim_due(&b, 10, &g), 1);
	assert_int_equal(g.id[0], 2);
	/* Taken: a's renewal of it is a fence loss from now on. */
	rn[0].id = 2;
	rn[0].fence = 0;
	assert_int_equal(renew(&a, rn, 1), 0);
	assert_false(rn[0].kept);
	assert_int_equal(retire(&a, 1, 0), 0);
	node_close(&b);
	node_close(&a);
}

/* H2: a cancel in cluster mode is fenced, and says whether the timer
 * is gone (-ENOENT: fired or cancelled) or held by another node
 * (-ESTALE, and which). */
static void
test_cancel_claim_fenced(void **state)
{
	struct store_timer t1 = timer_at(1, now_rt() - 1000000000);
	struct store_timer t2 = timer_at(2, now_rt() + INT64_C(3600) *
	                                                   1000000000);
	struct node a, b;
	char holder[32];
	struct got g;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	schedule(&a, &t1);
	schedule(&a, &t2);
	/* Its own claim, with its fence: cancelled. */
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->cancel_claim(a.s, 2, 0, holder, sizeof(holder)),
	                 0);
	assert_int_equal(B->commit(a.s), 0);
	assert_sql("X", "SELECT state FROM evd.timers WHERE id = 2");
	/* t1's lease lapses and b takes it: a's cancel changes nothing. */
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.timers SET"
	                          " vis_at = now() - interval '1 s'"
	                          " WHERE id = 1"), 0);
	assert_int_equal(claim_due(&b, 10, &g), 1);
	strcpy(holder, "?");
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->cancel_claim(a.s, 1, 0, holder, sizeof(holder)),
	                 -ESTALE);
	assert_int_equal(B->commit(a.s), 0);
	assert_string_equal(holder, store_pg_node_id(b.n));
	assert_sql("C", "SELECT state FROM evd.timers WHERE id = 1");
	/* b fired it: gone, as before. */
	assert_int_equal(retire(&b, 1, g.fence[0]), 0);
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->cancel_claim(a.s, 1, 0, holder, sizeof(holder)),
	                 -ENOENT);
	assert_int_equal(B->cancel_claim(a.s, 2, 0, holder, sizeof(holder)),
	                 -ENOENT);
	assert_int_equal(B->commit(a.s), 0);
	node_close(&b);
	node_close(&a);
}

/* H5: a node whose batch holds a row lock (an uncommitted insert of a
 * key; the node stopped mid-batch) stalls no other node's loop: a wait
 * for the lock ends in an error after D/4 (the batch fails, nothing is
 * written), and the server ends the idle transaction after D/2, its
 * locks with it. Without the bounds this test waits for ever (the alarm
 * ends it). */
static void
test_lock_wait_bounded(void **state)
{
	struct store_timer t1 = timer_at(1, now_rt() + INT64_C(3600) *
	                                                   1000000000);
	struct store_timer t2 = timer_at(2, now_rt() + INT64_C(3600) *
	                                                   1000000000);
	struct timespec ts = { 1, 200000000 };
	struct node a, b;
	int64_t start;
	int r;

	(void)state;
	/* T = 3 s: D = 1 s, lock waits end after 250 ms, an idle
	 * transaction after 500 ms. */
	node_open(&a, INT64_C(3) * 1000000000);
	node_open(&b, INT64_C(3) * 1000000000);
	t1.key = "k";
	t2.key = "k";
	alarm(60);
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->schedule(a.s, &t1), 0);
	/* a stops here, its insert of key k uncommitted. */
	start = clock_now_ns(EVD_CLOCK_MONOTONIC);
	assert_int_equal(B->begin(b.s), 0);
	r = B->schedule(b.s, &t2);
	assert_true(r < 0 && r != -EEXIST);
	assert_true(clock_now_ns(EVD_CLOCK_MONOTONIC) - start <
	            INT64_C(5) * 1000000000);
	B->rollback(b.s);
	/* a stays stopped past D/2: the server ended its transaction, and
	 * b schedules the key at once. */
	nanosleep(&ts, NULL);
	assert_int_equal(B->begin(b.s), 0);
	assert_int_equal(B->schedule(b.s, &t2), 0);
	assert_int_equal(B->commit(b.s), 0);
	assert_true(B->commit(a.s) < 0);
	alarm(0);
	assert_sql("2", "SELECT id FROM evd.timers WHERE key = 'k'");
	node_close(&b);
	node_close(&a);
}

/* A dead node's claim that another transaction held locked when it was
 * reaped is reaped by a later reap: the dead node's row stays until no
 * claim of its own is left. */
static void
test_reap_locked_claim_later(void **state)
{
	struct store_timer t1 = timer_at(1, now_rt() - 1000000000);
	struct store_timer t2 = timer_at(2, now_rt() - 1000000000);
	struct store_pg_node_beat bt;
	struct node a, b;
	char sql[256];
	PGconn *hold;
	PGresult *res;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	schedule(&a, &t1);
	schedule(&a, &t2);
	snprintf(sql, sizeof(sql), "UPDATE evd.nodes SET last_seen = now() -"
	         " interval '1 min' WHERE node = '%s'", store_pg_node_id(a.n));
	assert_int_equal(pgfx_sql(&pg, "postgres", sql), 0);
	/* Timer 1's row is locked (a transaction of a's, say, still open). */
	hold = PQconnectdb(pg.conninfo);
	assert_int_equal(PQstatus(hold), CONNECTION_OK);
	res = PQexec(hold, "BEGIN; SELECT 1 FROM evd.timers WHERE id = 1"
	                   " FOR UPDATE");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
	assert_int_equal(store_pg_node_reap(b.n, DEATH_NS), 0);
	assert_int_equal(node_wait(&b, &bt), 1);
	assert_int_equal(bt.reaped_timers, 1);
	assert_int_equal(bt.reaped_nodes, 0);
	assert_sql("C", "SELECT state FROM evd.timers WHERE id = 1");
	PQclear(PQexec(hold, "ROLLBACK"));
	PQfinish(hold);
	assert_int_equal(store_pg_node_reap(b.n, DEATH_NS), 0);
	assert_int_equal(node_wait(&b, &bt), 1);
	assert_int_equal(bt.reaped_timers, 1);
	assert_int_equal(bt.reaped_nodes, 1);
	assert_sql("P", "SELECT state FROM evd.timers WHERE id = 1");
	assert_sql("1", "SELECT count(*) FROM evd.nodes");
	node_close(&b);
	node_close(&a);
}

/* cancel_any's judge: lets uid 1000 cancel; counts its calls and may
 * run something (another node's fire) between the look and the
 * update, once. */
struct judge {
	uid_t asker;
	int calls;
	void (*meanwhile)(void *);
	void *arg;
};

static int
judge_cb(const struct store_timer *t, void *arg)
{
	struct judge *j = arg;

	if (j->calls++ == 0 && j->meanwhile != NULL)
		j->meanwhile(j->arg);
	return t->uid == j->asker ? 0 : -ENOENT;
}

static int
cancel_any(struct node *nd, uint64_t id, struct judge *j, char *holder,
           size_t holder_size)
{
	int r;

	assert_int_equal(B->begin(nd->s), 0);
	r = B->cancel_any(nd->s, id, judge_cb, j, holder, holder_size);
	assert_int_equal(B->commit(nd->s), 0);
	return r;
}

/* What the node connection was told, after waiting up to 5 s for it
 * (nothing else in flight). */
static int
node_notified_taken(struct node *nd, uint64_t *ids, bool *taken,
                    uint64_t *fences, int max)
{
	struct store_pg_node_beat b;
	char err[256];
	uint64_t fc;
	int64_t sq;
	bool tk;
	int n = 0;

	for (int i = 0; i < 50 && n == 0; i++) {
		struct pollfd p = { store_pg_node_fd(nd->n), POLLIN, 0 };

		if (poll(&p, 1, 100) == 1)
			assert_true(store_pg_node_read(nd->n, &b, err,
			                               sizeof(err)) >= 0);
		while (n < max &&
		       store_pg_node_notified(nd->n, &ids[n], &tk, &fc, &sq) == 1) {
			if (taken != NULL)
				taken[n] = tk;
			if (fences != NULL)
				fences[n] = fc;
			n++;
		}
	}
	return n;
}

/* What was told of cancels only (none of them "taken"). */
static int
node_notified(struct node *nd, uint64_t *ids, int max)
{
	bool taken[16];
	int n, i;

	assert_true(max <= 16);
	n = node_notified_taken(nd, ids, taken, NULL, max);
	for (i = 0; i < n; i++)
		assert_false(taken[i]);
	return n;
}

/* A cancel of a row another batch holds locked (its holder firing it
 * now) never waits for that lock (on the loop, with its own batch's
 * locks held): -EAGAIN at once, the row untouched; and it goes through
 * once the lock is gone. */
static void
test_cancel_any_never_waits(void **state)
{
	struct store_timer t = timer_at(1, now_rt() + INT64_C(3600) *
	                                                  1000000000);
	struct judge j = { .asker = 1000 };
	struct node a, b;
	char holder[32];

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	schedule(&a, &t);
	alarm(60);
	/* a's batch writes timer 1 and stops before its commit. */
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->reschedule(a.s, &t), 0);
	/* (A wait would end in b's lock_timeout, failing b's batch.) */
	assert_int_equal(cancel_any(&b, 1, &j, holder, sizeof(holder)),
	                 -EAGAIN);
	assert_int_equal(B->commit(a.s), 0);
	assert_sql("C", "SELECT state FROM evd.timers WHERE id = 1");
	assert_int_equal(cancel_any(&b, 1, &j, holder, sizeof(holder)), 0);
	assert_sql("X", "SELECT state FROM evd.timers WHERE id = 1");
	alarm(0);
	node_close(&b);
	node_close(&a);
}

/* A one-shot exec fire as sched_fire_durable makes it in cluster mode:
 * the claim renewed, fenced, and a "started" run whose fire id is the
 * timer id, in one batch. */
static void
fire_exec(struct node *nd, uint64_t id, uint64_t fence)
{
	struct store_renewal rn = { .id = id, .fence = fence };
	struct store_run run;

	memset(&run, 0, sizeof(run));
	run.timer_id = id;
	run.fire_id = id;
	run.due_rt_ns = now_rt();
	run.fired_rt_ns = now_rt();
	run.outcome = EVD_RUN_EXEC_STARTED;
	assert_int_equal(B->begin(nd->s), 0);
	assert_int_equal(B->renew(nd->s, &rn, 1), 1);
	assert_int_equal(B->run_append(nd->s, &run), 0);
	assert_int_equal(B->commit(nd->s), 0);
}

static struct node *fire_node;
static void
fire_exec_4(void *arg)
{
	(void)arg;
	fire_exec(fire_node, 4, 0);
}

static void
retire_5(void *arg)
{
	(void)arg;
	assert_int_equal(retire(fire_node, 5, 0), 0);
}

static void
touch_6(void *arg)
{
	(void)arg;
	/* A pause, a renewal: any new version of the row. */
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.timers SET"
	                          " vis_at = vis_at WHERE id = 6"), 0);
}

/* Any node cancels any waiting timer (another node's claim, or a
 * pending one), fenced, and the holder is told; not another owner's,
 * not one that fired, not a one-shot exec whose hook was started; and
 * a fire or a retire that commits between its look and its update is
 * seen (the update is of the version it judged). */
static void
test_cancel_any(void **state)
{
	int64_t later = now_rt() + INT64_C(3600) * 1000000000;
	struct store_timer t1 = timer_at(1, later), t2 = timer_at(2, later);
	struct store_timer t3 = timer_at(3, later), t4 = timer_at(4, later);
	struct store_timer t5 = timer_at(5, later), t6 = timer_at(6, later);
	struct judge j = { .asker = 1000 };
	struct node a, b;
	uint64_t ids[4];
	char holder[32];

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	t3.uid = 2000;
	t4.exec = (const uint8_t *)"x";
	t4.exec_len = 1;
	schedule(&a, &t1);
	schedule(&a, &t2);
	schedule(&a, &t3);
	schedule(&a, &t4);
	schedule(&a, &t5);
	schedule(&a, &t6);
	/* t2 waits for any node (its holder left). */
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.timers SET"
	                          " state = 'P', claim_node = NULL"
	                          " WHERE id = 2"), 0);

	/* a's claim, cancelled by b: fence bumped, a told. */
	assert_int_equal(cancel_any(&b, 1, &j, holder, sizeof(holder)), 0);
	assert_string_equal(holder, store_pg_node_id(a.n));
	assert_sql("X1", "SELECT state::text || fence FROM evd.timers"
	                 " WHERE id = 1");
	assert_int_equal(node_notified(&a, ids, 4), 1);
	assert_int_equal(ids[0], 1);
	/* a's fire of it, had it not heard: its retire finds it gone. */
	assert_int_equal(retire(&a, 1, 0), -ESTALE);
	assert_int_equal(cancel_any(&b, 1, &j, holder, sizeof(holder)),
	                 -ENOENT);

	/* Pending: cancelled, nobody to tell. */
	assert_int_equal(cancel_any(&b, 2, &j, holder, sizeof(holder)), 0);
	assert_string_equal(holder, "");
	assert_sql("X", "SELECT state FROM evd.timers WHERE id = 2");

	/* Another owner's: not for this asker; nothing changes. */
	assert_int_equal(cancel_any(&b, 3, &j, holder, sizeof(holder)),
	                 -ENOENT);
	assert_sql("C0", "SELECT state::text || fence FROM evd.timers"
	                 " WHERE id = 3");

	/* a fires the exec timer t4 while b looks: b sees the fire and
	 * does not claim to have stopped its hook. */
	fire_node = &a;
	j.meanwhile = fire_exec_4;
	j.calls = 0;
	assert_int_equal(cancel_any(&b, 4, &j, holder, sizeof(holder)),
	                 -EALREADY);
	assert_int_equal(j.calls, 2);
	assert_string_equal(holder, store_pg_node_id(a.n));
	assert_sql("C0", "SELECT state::text || fence FROM evd.timers"
	                 " WHERE id = 4");
	/* Once started, asked again: the same. */
	j.meanwhile = NULL;
	assert_int_equal(cancel_any(&b, 4, &j, holder, sizeof(holder)),
	                 -EALREADY);
	/* a died with the hook running, reaped: the hook may still run
	 * there, so not cancelled either (it runs again elsewhere). */
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.timers SET"
	                          " state = 'P', claim_node = NULL,"
	                          " fence = fence + 1 WHERE id = 4"), 0);
	assert_int_equal(cancel_any(&b, 4, &j, holder, sizeof(holder)),
	                 -EALREADY);
	assert_string_equal(holder, "");
	assert_sql("P1", "SELECT state::text || fence FROM evd.timers"
	                 " WHERE id = 4");

	/* a retires t5 (its fire) while b looks: gone, not cancelled. */
	j.meanwhile = retire_5;
	j.calls = 0;
	assert_int_equal(cancel_any(&b, 5, &j, holder, sizeof(holder)),
	                 -ENOENT);
	assert_int_equal(j.calls, 1);
	assert_sql("F", "SELECT state FROM evd.timers WHERE id = 5");

	/* Any other change meanwhile: judged again, then cancelled. */
	j.meanwhile = touch_6;
	j.calls = 0;
	assert_int_equal(cancel_any(&b, 6, &j, holder, sizeof(holder)), 0);
	assert_int_equal(j.calls, 2);
	assert_sql("X", "SELECT state FROM evd.timers WHERE id = 6");
	assert_int_equal(node_notified(&a, ids, 4), 1);
	assert_int_equal(ids[0], 6);
	/* Unknown. */
	assert_int_equal(cancel_any(&b, 99, &j, holder, sizeof(holder)),
	                 -ENOENT);
	node_close(&b);
	node_close(&a);
}

/* cancel_matching in b's open batch, committed. */
static int
cancel_matching(struct node *nd, uid_t uid, bool all, const char *channel,
                uint64_t after, uint32_t limit, struct got *g,
                uint64_t *last, uint64_t *skipped)
{
	int r;

	memset(g, 0, sizeof(*g));
	assert_int_equal(B->begin(nd->s), 0);
	r = B->cancel_matching(nd->s, uid, all, channel, after, limit, got_cb,
	                       g, last, skipped);
	assert_int_equal(B->commit(nd->s), 0);
	return r;
}

/* Any node cancels every waiting timer a selection matches (owner,
 * channel), whoever holds it, in pages, fenced, each holder told; not
 * another owner's, not a one-shot exec whose hook was started, and a
 * row another batch holds locked is skipped (counted), not waited for,
 * and cancelled once the lock is gone. */
static void
test_cancel_matching(void **state)
{
	int64_t later = now_rt() + INT64_C(3600) * 1000000000;
	struct store_timer t[7];
	uint64_t ids[4], last, skipped;
	struct node a, b;
	struct got g;
	int i;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	for (i = 0; i < 7; i++)
		t[i] = timer_at((uint64_t)i + 1, later);
	t[2].uid = 2000;
	t[3].exec = (const uint8_t *)"x";
	t[3].exec_len = 1;
	t[4].channel = "other";
	schedule(&a, &t[0]);
	schedule(&a, &t[1]);
	schedule(&a, &t[2]);
	schedule(&a, &t[3]);
	schedule(&b, &t[4]);
	schedule(&b, &t[5]);
	schedule(&a, &t[6]);
	/* 2 waits for any node; 4's hook was started on a. */
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.timers SET"
	                          " state = 'P', claim_node = NULL"
	                          " WHERE id = 2"), 0);
	fire_exec(&a, 4, 0);
	alarm(60);
	/* a's batch writes 7 and stops before its commit. */
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->reschedule(a.s, &t[6]), 0);
	assert_int_equal(cancel_matching(&b, 1000, false, "jobs", 0, 10, &g,
	                                 &last, &skipped), 4);
	assert_int_equal(skipped, 1);
	assert_int_equal(last, 7);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.id[0], 1);
	assert_int_equal(g.id[1], 2);
	assert_int_equal(g.id[2], 6);
	assert_sql("X1 X1 C0 C0 C0 X1 C0",
	           "SELECT string_agg(state::text || fence, ' ' ORDER BY id)"
	           " FROM evd.timers");
	assert_int_equal(node_notified(&a, ids, 4), 1);
	assert_int_equal(ids[0], 1);
	assert_int_equal(node_notified(&b, ids, 4), 1);
	assert_int_equal(ids[0], 6);
	/* a's fire of 1, had it not heard: its retire finds it gone. */
	assert_int_equal(B->commit(a.s), 0);
	assert_int_equal(retire(&a, 1, 0), -ESTALE);
	/* The lock gone, the last one goes. */
	assert_int_equal(cancel_matching(&b, 1000, false, "jobs", 0, 10, &g,
	                                 &last, &skipped), 1);
	assert_int_equal(skipped, 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.id[0], 7);
	alarm(0);
	/* Every owner's, every channel's, a page of one at a time: 3,
	 * then 5 (4 stays: its hook runs), then none. */
	assert_int_equal(cancel_matching(&b, 0, true, NULL, 0, 1, &g, &last,
	                                 &skipped), 1);
	assert_int_equal(last, 3);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.id[0], 3);
	assert_int_equal(cancel_matching(&b, 0, true, NULL, last, 1, &g,
	                                 &last, &skipped), 1);
	assert_int_equal(last, 5);
	assert_int_equal(g.id[0], 5);
	assert_int_equal(cancel_matching(&b, 0, true, NULL, last, 1, &g,
	                                 &last, &skipped), 0);
	assert_int_equal(g.n, 0);
	assert_int_equal(last, 0);
	assert_sql("X X X C X X X",
	           "SELECT string_agg(state::text, ' ' ORDER BY id)"
	           " FROM evd.timers");
	node_close(&b);
	node_close(&a);
}

static int
take_any(struct node *nd, uint64_t id, struct judge *j, struct got *g,
         char *holder, size_t holder_size)
{
	int r;

	memset(g, 0, sizeof(*g));
	assert_int_equal(B->begin(nd->s), 0);
	r = B->take_any(nd->s, id, judge_cb, j, got_cb, g, holder,
	                holder_size);
	assert_int_equal(B->commit(nd->s), 0);
	return r;
}

/* Any node takes over a waiting timer (another node's claim, or a
 * pending one) as its own claim, fenced, and the former holder is told
 * it was taken; not another owner's, not a one-shot exec whose hook was
 * started, and a row another batch holds locked is not waited for. */
static void
test_take_any(void **state)
{
	int64_t later = now_rt() + INT64_C(3600) * 1000000000;
	struct store_timer t[6];
	struct judge j = { .asker = 1000 };
	struct node a, b;
	char holder[32], want[64];
	uint64_t ids[4], fences[4];
	bool taken[4];
	struct got g;
	int i;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	for (i = 0; i < 6; i++)
		t[i] = timer_at((uint64_t)i + 1, later);
	t[2].uid = 2000;
	t[3].exec = (const uint8_t *)"x";
	t[3].exec_len = 1;
	t[5].paused = true;
	for (i = 0; i < 6; i++)
		schedule(&a, &t[i]);
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.timers SET"
	                          " state = 'P', claim_node = NULL"
	                          " WHERE id = 2"), 0);
	fire_exec(&a, 4, 0);

	/* a's claim: b's now, fence bumped, a told "taken". */
	assert_int_equal(take_any(&b, 1, &j, &g, holder, sizeof(holder)), 0);
	assert_string_equal(holder, store_pg_node_id(a.n));
	assert_int_equal(g.n, 1);
	assert_int_equal(g.id[0], 1);
	assert_int_equal(g.fence[0], 1);
	assert_true(g.lease_left_ns[0] > INT64_C(3500) * 1000000000);
	snprintf(want, sizeof(want), "C1%s", store_pg_node_id(b.n));
	assert_sql(want, "SELECT state::text || fence || claim_node"
	                 " FROM evd.timers WHERE id = 1");
	assert_int_equal(node_notified_taken(&a, ids, taken, fences, 4), 1);
	assert_int_equal(ids[0], 1);
	assert_true(taken[0]);
	assert_int_equal(fences[0], 1); /* the take's fence: later ones win */
	assert_int_equal(retire(&a, 1, 0), -ESTALE);
	/* Pending: b's, nobody to tell. */
	assert_int_equal(take_any(&b, 2, &j, &g, holder, sizeof(holder)), 0);
	assert_string_equal(holder, "");
	snprintf(want, sizeof(want), "C%s", store_pg_node_id(b.n));
	assert_sql(want, "SELECT state::text || claim_node FROM evd.timers"
	                 " WHERE id = 2");
	/* Another owner's: not for this asker; nothing changes. */
	assert_int_equal(take_any(&b, 3, &j, &g, holder, sizeof(holder)),
	                 -ENOENT);
	assert_int_equal(g.n, 0);
	assert_sql("C0", "SELECT state::text || fence FROM evd.timers"
	                 " WHERE id = 3");
	/* Its hook was started on a: it stays there. */
	assert_int_equal(take_any(&b, 4, &j, &g, holder, sizeof(holder)),
	                 -EALREADY);
	assert_string_equal(holder, store_pg_node_id(a.n));
	assert_sql("C0", "SELECT state::text || fence FROM evd.timers"
	                 " WHERE id = 4");
	/* Locked by a's open batch: not waited for. */
	alarm(60);
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->reschedule(a.s, &t[4]), 0);
	assert_int_equal(take_any(&b, 5, &j, &g, holder, sizeof(holder)),
	                 -EAGAIN);
	assert_int_equal(B->commit(a.s), 0);
	alarm(0);
	assert_sql("C0", "SELECT state::text || fence FROM evd.timers"
	                 " WHERE id = 5");
	/* Paused: its lease never ends. */
	assert_int_equal(take_any(&b, 6, &j, &g, holder, sizeof(holder)), 0);
	assert_int_equal(g.n, 1);
	assert_true(g.lease_left_ns[0] == INT64_MAX);
	/* A hook of b's (a repeating timer's fire: its own fire id) runs:
	 * b keeps the timer, and its overlap policy, until it ended. */
	{
		struct store_run run;

		memset(&run, 0, sizeof(run));
		run.timer_id = 6;
		run.fire_id = 7777;
		run.outcome = EVD_RUN_EXEC_STARTED;
		assert_int_equal(B->begin(b.s), 0);
		assert_int_equal(B->run_append(b.s, &run), 0);
		assert_int_equal(B->commit(b.s), 0);
	}
	assert_int_equal(take_any(&a, 6, &j, &g, holder, sizeof(holder)),
	                 -EINPROGRESS);
	assert_string_equal(holder, store_pg_node_id(b.n));
	/* Unknown, and ended. */
	assert_int_equal(take_any(&b, 99, &j, &g, holder, sizeof(holder)),
	                 -ENOENT);
	node_close(&b);
	node_close(&a);
}

/* What runs_since read, in order. */
struct since {
	uint64_t id[16];
	int outcome[16];
	int64_t seq[16];
	bool retrying[16];
	int n;
};

static int
since_cb(const struct store_run *r, int64_t seq, bool retrying, void *arg)
{
	struct since *sc = arg;

	assert_true(sc->n < 16);
	sc->id[sc->n] = r->timer_id;
	sc->outcome[sc->n] = r->outcome;
	sc->seq[sc->n] = seq;
	sc->retrying[sc->n] = retrying;
	sc->n++;
	return 0;
}

static void
append_run(struct node *nd, uint64_t id, int outcome)
{
	struct store_run run;

	memset(&run, 0, sizeof(run));
	run.timer_id = id;
	run.fire_id = id;
	run.due_rt_ns = now_rt();
	run.outcome = outcome;
	assert_int_equal(B->begin(nd->s), 0);
	assert_int_equal(B->run_append(nd->s, &run), 0);
	assert_int_equal(B->commit(nd->s), 0);
}

/* A remote Wait's poll: every run after the base, oldest first (a
 * queued run followed by a skip in one poll is not hidden), at most per
 * of each timer; a failed attempt is "retrying" while its one-shot
 * waits again or when a later run of it followed. */
static void
test_runs_since(void **state)
{
	int64_t later = now_rt() + INT64_C(3600) * 1000000000;
	struct store_timer t1 = timer_at(1, later), t2 = timer_at(2, later);
	struct store_timer t3 = timer_at(3, later);
	uint64_t ids[3] = { 1, 2, 3 };
	int64_t bases[3] = { 0, 0, 0 };
	struct since sc;
	struct node a;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	schedule(&a, &t1);
	schedule(&a, &t2);
	schedule(&a, &t3);
	append_run(&a, 1, EVD_RUN_QUEUED);
	append_run(&a, 1, EVD_RUN_SKIPPED);
	append_run(&a, 2, EVD_RUN_EXEC_FAILED);
	append_run(&a, 2, EVD_RUN_EXEC_STARTED);
	append_run(&a, 3, EVD_RUN_EXEC_FAILED);
	append_run(&a, 3, EVD_RUN_EXEC_EXITED);
	assert_int_equal(retire(&a, 3, 0), 0);

	memset(&sc, 0, sizeof(sc));
	assert_int_equal(B->runs_since(a.s, ids, bases, 3, 16, since_cb, &sc),
	                 0);
	assert_int_equal(sc.n, 6);
	assert_int_equal(sc.id[0], 1);
	assert_int_equal(sc.outcome[0], EVD_RUN_QUEUED);
	assert_int_equal(sc.outcome[1], EVD_RUN_SKIPPED);
	assert_true(sc.seq[0] < sc.seq[1]);
	assert_int_equal(sc.id[2], 2);
	assert_int_equal(sc.outcome[2], EVD_RUN_EXEC_FAILED);
	assert_true(sc.retrying[2]); /* waits again */
	assert_int_equal(sc.id[4], 3);
	assert_int_equal(sc.outcome[4], EVD_RUN_EXEC_FAILED);
	assert_true(sc.retrying[4]); /* a later run followed */
	assert_int_equal(sc.outcome[5], EVD_RUN_EXEC_EXITED);
	assert_false(sc.retrying[5]); /* its last */

	/* From a base on, and at most per of each. */
	bases[0] = sc.seq[0];
	memset(&sc, 0, sizeof(sc));
	assert_int_equal(B->runs_since(a.s, ids, bases, 1, 16, since_cb, &sc),
	                 0);
	assert_int_equal(sc.n, 1);
	assert_int_equal(sc.outcome[0], EVD_RUN_SKIPPED);
	bases[0] = 0;
	memset(&sc, 0, sizeof(sc));
	assert_int_equal(B->runs_since(a.s, ids, bases, 3, 1, since_cb, &sc),
	                 0);
	assert_int_equal(sc.n, 3);
	assert_int_equal(sc.outcome[0], EVD_RUN_QUEUED);
	assert_int_equal(sc.outcome[1], EVD_RUN_EXEC_FAILED);
	assert_int_equal(sc.outcome[2], EVD_RUN_EXEC_FAILED);
	node_close(&a);
}

/* The node connection listens again after a reconnect: a cancel after
 * it is heard. */
static void
test_cancel_notify_after_reconnect(void **state)
{
	int64_t later = now_rt() + INT64_C(3600) * 1000000000;
	struct store_timer t1 = timer_at(1, later);
	struct judge j = { .asker = 1000 };
	struct store_pg_node_beat nb;
	struct node a, b;
	uint64_t ids[4];
	char holder[32], err[256];
	int r;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	schedule(&a, &t1);
	store_pg_node_abandon(a.n);
	assert_int_equal(store_pg_node_reconnect(a.n, err, sizeof(err)), 0);
	for (r = 0; r == 0;) {
		struct pollfd p = { store_pg_node_fd(a.n),
			            store_pg_node_want(a.n) ==
			                            STORE_PG_WANT_WRITE
			                    ? POLLOUT
			                    : POLLIN,
			            0 };

		assert_true(poll(&p, 1, 10000) == 1);
		r = store_pg_node_read(a.n, &nb, err, sizeof(err));
	}
	assert_int_equal(r, 1);
	assert_int_equal(nb.kind, STORE_PG_CONNECTED);
	assert_false(store_pg_node_busy(a.n));
	assert_int_equal(cancel_any(&b, 1, &j, holder, sizeof(holder)), 0);
	assert_int_equal(node_notified(&a, ids, 4), 1);
	assert_int_equal(ids[0], 1);
	node_close(&b);
	node_close(&a);
}

/* What waits, pending or claimed by any node, in id order, by owner
 * (all: every owner's) and channel, paged; never an ended one. */
static void
test_list_held(void **state)
{
	int64_t later = now_rt() + INT64_C(3600) * 1000000000;
	struct store_timer t[6];
	struct node a, b;
	struct got g;
	int i;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	for (i = 0; i < 6; i++)
		t[i] = timer_at((uint64_t)i + 1, later);
	t[2].uid = 2000;
	t[3].channel = "other";
	schedule(&a, &t[0]);
	schedule(&b, &t[1]);
	schedule(&a, &t[2]);
	schedule(&b, &t[3]);
	schedule(&a, &t[4]);
	schedule(&a, &t[5]);
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.timers SET"
	                          " state = 'P', claim_node = NULL"
	                          " WHERE id = 5"), 0);
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.timers SET"
	                          " state = 'X' WHERE id = 6"), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->list_held(b.s, 1000, false, NULL, 0, 10, got_cb,
	                              &g), 0);
	assert_int_equal(g.n, 4);
	assert_int_equal(g.id[0], 1);
	assert_int_equal(g.id[1], 2);
	assert_int_equal(g.id[2], 4);
	assert_int_equal(g.id[3], 5);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->list_held(b.s, 1000, true, NULL, 1, 2, got_cb,
	                              &g), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.id[0], 2);
	assert_int_equal(g.id[1], 3);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->list_held(a.s, 0, true, "other", 0, 10, got_cb,
	                              &g), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.id[0], 4);

	node_close(&b);
	node_close(&a);
}

/* One pipelined fire (sched_fire.c): retire, message, run, answered at
 * the commit. */
static void
fire_pipelined(struct node *nd, uint64_t id, uint64_t fence)
{
	struct store_msg m;
	struct store_run run;

	memset(&m, 0, sizeof(m));
	m.fire_id = id + 1000;
	m.timer_id = id;
	m.owner = 1000;
	m.channel = "jobs";
	m.max_attempts = 1;
	memset(&run, 0, sizeof(run));
	run.timer_id = id;
	run.fire_id = id + 1000;
	run.outcome = EVD_RUN_QUEUED;
	/* Sent, not answered: 0 whatever the database will say. */
	assert_int_equal(B->retire(nd->s, id, fence, NULL), 0);
	assert_int_equal(B->enqueue(nd->s, &m), 0);
	assert_int_equal(B->run_append(nd->s, &run), 0);
}

/* Cluster mode's pipelined fires: a batch in which one fire's claim is
 * gone (a peer took it) commits nothing of any fire, neither message
 * nor retirement nor run, even with a read answered in between; the
 * loss is counted, and the store takes the next batch. */
static void
test_pipelined_fire_stale(void **state)
{
	struct store_timer t1 = timer_at(1, now_rt() - 2000000000);
	struct store_timer t2 = timer_at(2, now_rt() - 1000000000);
	struct node a, b;
	uint64_t max_id, max_fire;
	struct got g;

	(void)state;
	node_open(&a, 2000); /* a lease of 2 us: lapsed at once */
	node_open(&b, INT64_C(30) * 1000000000);
	assert_non_null(B->pipeline);
	assert_non_null(B->fence_losses);
	schedule(&a, &t1);
	schedule(&a, &t2);
	/* b takes t1 (the older claim); t2 is still a's. */
	assert_int_equal(claim_due(&b, 1, &g), 1);
	assert_int_equal(g.id[0], 1);
	assert_int_equal(B->fence_losses(a.s), 0);

	assert_int_equal(B->begin(a.s), 0);
	B->pipeline(a.s, true);
	fire_pipelined(&a, 2, 0);
	fire_pipelined(&a, 1, 0); /* stale: b has it, fence 1 */
	B->pipeline(a.s, false);
	/* A read of the same batch reads the answers first: the lost
	 * claim is not its failure, the batch's transaction is whole. */
	assert_int_equal(B->max_ids(a.s, &max_id, &max_fire), 0);
	assert_int_equal(max_id, 2);
	assert_int_equal(B->commit(a.s), -ESTALE);
	assert_int_equal(B->fence_losses(a.s), 1);
	assert_sql("0", "SELECT count(*) FROM evd.messages");
	assert_sql("0", "SELECT count(*) FROM evd.runs");
	assert_sql("C", "SELECT state FROM evd.timers WHERE id = 2");
	assert_sql("C", "SELECT state FROM evd.timers WHERE id = 1");
	assert_sql("1", "SELECT fence FROM evd.timers WHERE id = 1");

	/* The same, answered by the commit alone. */
	assert_int_equal(B->begin(a.s), 0);
	B->pipeline(a.s, true);
	fire_pipelined(&a, 1, 0);
	B->pipeline(a.s, false);
	assert_int_equal(B->commit(a.s), -ESTALE);
	assert_int_equal(B->fence_losses(a.s), 2);
	assert_sql("0", "SELECT count(*) FROM evd.messages");

	/* The claims that are good commit, each fire whole. */
	assert_int_equal(B->begin(a.s), 0);
	B->pipeline(a.s, true);
	fire_pipelined(&a, 2, 0);
	B->pipeline(a.s, false);
	assert_int_equal(B->commit(a.s), 0);
	assert_int_equal(B->begin(b.s), 0);
	B->pipeline(b.s, true);
	fire_pipelined(&b, 1, 1);
	B->pipeline(b.s, false);
	assert_int_equal(B->commit(b.s), 0);
	assert_int_equal(B->fence_losses(a.s), 2);
	assert_int_equal(B->fence_losses(b.s), 0);
	assert_sql("2", "SELECT count(*) FROM evd.messages");
	assert_sql("2", "SELECT count(*) FROM evd.runs");
	assert_sql("2", "SELECT count(*) FROM evd.timers WHERE state = 'F'");
	node_close(&b);
	node_close(&a);
}

static int
msg_cb(const struct store_msg *m, void *arg)
{
	static const uint8_t payload[] = { 0, 0xff, '"', '\\', '{', ',' };

	assert_int_equal(m->fire_id, 77);
	assert_int_equal(m->timer_id, 1);
	assert_int_equal(m->owner, 1000);
	assert_string_equal(m->channel, "q\"u\\o,t{e}");
	assert_int_equal(m->payload_len, sizeof(payload));
	assert_memory_equal(m->payload, payload, sizeof(payload));
	assert_int_equal(m->due_rt_ns, -5);
	assert_int_equal(m->lateness_ns, 9);
	assert_int_equal(m->max_attempts, 4);
	assert_true(m->dead);
	assert_string_equal(m->reason, "NULL");
	(*(int *)arg)++;
	return 0;
}

/* The rows of pipelined fires, gathered into one statement per kind,
 * arrive as they were given (quotes, backslashes, braces, bytes), and
 * a timer's run history stays bounded. */
static void
test_pipelined_fire_rows(void **state)
{
	static const uint8_t payload[] = { 0, 0xff, '"', '\\', '{', ',' };
	struct store_timer t = timer_at(1, now_rt() - 1000000000);
	struct store_msg m;
	struct store_run run;
	struct node a;
	int i, n = 0;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000); /* history: 3 runs */
	schedule(&a, &t);
	memset(&m, 0, sizeof(m));
	m.fire_id = 77;
	m.timer_id = 1;
	m.owner = 1000;
	m.channel = "q\"u\\o,t{e}";
	m.payload = payload;
	m.payload_len = sizeof(payload);
	m.due_rt_ns = -5;
	m.lateness_ns = 9;
	m.max_attempts = 4;
	m.dead = true;
	m.reason = "NULL"; /* a string, not a NULL */
	m.claim = true; /* claimed at insert: load_messages adopts it */
	memset(&run, 0, sizeof(run));
	run.timer_id = 1;
	run.outcome = EVD_RUN_SKIPPED;
	run.detail = "why \"not\" \\ {}";
	assert_int_equal(B->begin(a.s), 0);
	B->pipeline(a.s, true);
	assert_int_equal(B->retire(a.s, 1, 0, NULL), 0);
	assert_int_equal(B->enqueue(a.s, &m), 0);
	for (i = 0; i < 5; i++) {
		run.fire_id = (uint64_t)i + 1;
		assert_int_equal(B->run_append(a.s, &run), 0);
	}
	B->pipeline(a.s, false);
	assert_int_equal(B->commit(a.s), 0);
	assert_sql("F", "SELECT state FROM evd.timers WHERE id = 1");
	assert_sql("3", "SELECT count(*) FROM evd.runs WHERE timer_id = 1");
	assert_sql("3", "SELECT min(fire_id) FROM evd.runs");
	assert_sql("why \"not\" \\ {}", "SELECT max(detail) FROM evd.runs");
	assert_sql("1", "SELECT fence FROM evd.messages WHERE consumer IS NOT NULL");
	assert_int_equal(B->load_messages(a.s, msg_cb, &n), 0);
	assert_int_equal(n, 1);
	/* A message already stored fails its batch, as one by one. */
	assert_int_equal(B->begin(a.s), 0);
	B->pipeline(a.s, true);
	assert_int_equal(B->enqueue(a.s, &m), 0);
	B->pipeline(a.s, false);
	assert_int_equal(B->commit(a.s), -EEXIST);
	assert_int_equal(B->fence_losses(a.s), 0);
	node_close(&a);
}

static const uint8_t gs_bytes[] = { 0, 0xff, '"', '\\', '{', ',', '}' };

static int
gathered_cb(const struct store_timer *t, void *arg)
{
	assert_int_equal(t->id, 5);
	assert_int_equal(t->uid, 1000);
	assert_int_equal(t->clock, EVD_CLOCK_REALTIME);
	assert_string_equal(t->channel, "a\"b\\c,{d}");
	assert_string_equal(t->boot_id, "boot \"1\"");
	assert_int_equal(t->payload_len, sizeof(gs_bytes));
	assert_memory_equal(t->payload, gs_bytes, sizeof(gs_bytes));
	assert_int_equal(t->exec_len, 3);
	assert_memory_equal(t->exec, gs_bytes, 3);
	assert_null(t->sched);
	assert_null(t->key);
	assert_true(t->paused);
	assert_int_equal(t->misfire, 2);
	assert_int_equal(t->max_attempts, 7);
	assert_int_equal(t->fire_count, 4);
	(*(int *)arg)++;
	return 0;
}

/* A cluster node's timers with no key are gathered into one statement
 * sent with the batch's next one: they arrive whole, claimed by the
 * node, before a later statement of the batch (a keyed schedule, a
 * fire of the same timer) needs them. */
static void
test_gathered_schedules(void **state)
{
	struct store_timer t = timer_at(5, now_rt() - 1000000000);
	struct store_timer k = timer_at(6, now_rt() - 1000000000);
	struct store_timer f = timer_at(7, now_rt() - 1000000000);
	struct node a;
	int n = 0;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	t.channel = "a\"b\\c,{d}";
	snprintf(t.boot_id, sizeof(t.boot_id), "boot \"1\"");
	t.payload = gs_bytes;
	t.payload_len = sizeof(gs_bytes);
	t.exec = gs_bytes;
	t.exec_len = 3;
	t.paused = true;
	t.misfire = 2;
	t.max_attempts = 7;
	t.fire_count = 4;
	k.key = "k";
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->schedule(a.s, &t), 0);
	assert_int_equal(B->schedule(a.s, &f), 0);
	/* The keyed one is answered at once, after the gathered ones. */
	assert_int_equal(B->schedule(a.s, &k), 0);
	assert_int_equal(B->schedule(a.s, &k), -EEXIST);
	/* Scheduled and fired in one batch. */
	B->pipeline(a.s, true);
	assert_int_equal(B->retire(a.s, 7, 0, NULL), 0);
	B->pipeline(a.s, false);
	assert_int_equal(B->commit(a.s), 0);
	assert_sql("3", "SELECT count(*) FROM evd.timers");
	assert_sql("F", "SELECT state FROM evd.timers WHERE id = 7");
	assert_sql("C", "SELECT state FROM evd.timers WHERE id = 5");
	assert_sql("infinity", "SELECT vis_at FROM evd.timers WHERE id = 5");
	assert_sql("true", "SELECT claim_node IS NOT NULL AND vis_at > now()"
	                " FROM evd.timers WHERE id = 6");
	assert_int_equal(B->get_timer(a.s, 5, gathered_cb, &n), 0);
	assert_int_equal(n, 1);
	/* Rolled back: nothing gathered is sent. */
	assert_int_equal(B->begin(a.s), 0);
	t.id = 8;
	assert_int_equal(B->schedule(a.s, &t), 0);
	B->rollback(a.s);
	assert_sql("3", "SELECT count(*) FROM evd.timers");
	node_close(&a);
}

/* Cluster mode's channel messages (store.h, struct store_msg). */
static struct store_msg
msg_of(uint64_t fire_id, const char *channel, bool claim)
{
	struct store_msg m;

	memset(&m, 0, sizeof(m));
	m.fire_id = fire_id;
	m.timer_id = fire_id;
	m.owner = 1000;
	m.channel = channel;
	m.payload = (const uint8_t *)"p";
	m.payload_len = 1;
	m.max_attempts = 5;
	m.claim = claim;
	return m;
}

static void
enqueue(struct node *nd, uint64_t fire_id, const char *channel, bool claim)
{
	struct store_msg m = msg_of(fire_id, channel, claim);

	assert_int_equal(B->begin(nd->s), 0);
	assert_int_equal(B->enqueue(nd->s, &m), 0);
	assert_int_equal(B->commit(nd->s), 0);
}

/* What message claims handed over. */
struct mgot {
	uint64_t id[64];
	uint64_t fence[64];
	uint32_t attempts[64];
	int n;
};

static int
mgot_cb(const struct store_msg *m, void *arg)
{
	struct mgot *g = arg;

	assert_true(g->n < 64);
	g->id[g->n] = m->fire_id;
	g->fence[g->n] = m->fence;
	g->attempts[g->n] = m->attempts;
	g->n++;
	return 0;
}

static int
msg_claim(struct node *nd, const char *channel, uint32_t limit,
          struct mgot *g)
{
	const char *names[2] = { channel, "1:\"odd,{name}\\" };
	uint32_t limits[2] = { limit, limit };
	int n;

	memset(g, 0, sizeof(*g));
	assert_int_equal(B->begin(nd->s), 0);
	n = B->msg_claim(nd->s, names, limits, limits, 2, mgot_cb, g);
	assert_int_equal(B->commit(nd->s), 0);
	assert_int_equal(n, g->n);
	return n;
}

static int
msg_ack(struct node *nd, uint64_t fire_id, uint64_t fence)
{
	int r;

	assert_int_equal(B->begin(nd->s), 0);
	r = B->msg_ack(nd->s, fire_id, fence);
	if (r < 0)
		B->rollback(nd->s);
	else
		assert_int_equal(B->commit(nd->s), 0);
	return r;
}

/* Whether an evd_msg notification reaches nd's node connection within
 * wait_ms. */
static bool
node_msg_hinted(struct node *nd, int wait_ms)
{
	struct store_pg_node_beat b;
	char err[256];

	for (;;) {
		struct pollfd p = { store_pg_node_fd(nd->n), POLLIN, 0 };

		if (poll(&p, 1, wait_ms) != 1)
			return store_pg_node_msg_hint(nd->n);
		assert_true(store_pg_node_read(nd->n, &b, err,
		                               sizeof(err)) >= 0);
		if (store_pg_node_msg_hint(nd->n))
			return true;
	}
}

/* A message inserted unclaimed is announced, claimed by one node with a
 * lease (another skips it), by channel; only its claimant, with its
 * fence, can ack it. */
/* A channel's messages of every node, claimed by any node or by none:
 * counted live and dead per channel, listed (live or dead, by owner or
 * every owner's, after a fire id, at most a limit), and purged where no
 * node holds them. */
static void
test_msg_counts_and_list(void **state)
{
	const char *names[3] = { "1000:q", "1000:none", "1000:other" };
	uint64_t live[3], dead[3];
	struct node a, b;
	struct mgot g;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	enqueue(&a, 1, "1000:q", true);  /* a's claim */
	enqueue(&a, 2, "1000:q", false); /* nobody's */
	enqueue(&b, 3, "1000:q", true);  /* b's */
	enqueue(&a, 4, "1000:q", false);
	enqueue(&a, 5, "1000:other", false);
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.messages SET"
	                          " dead = true WHERE fire_id = 4"), 0);
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.messages SET"
	                          " owner = 2000 WHERE fire_id = 2"), 0);
	assert_int_equal(B->msg_channel_counts(b.s, names, 3, live, dead), 0);
	assert_int_equal(live[0], 3);
	assert_int_equal(dead[0], 1);
	assert_int_equal(live[1], 0);
	assert_int_equal(dead[1], 0);
	assert_int_equal(live[2], 1);
	assert_int_equal(dead[2], 0);

	memset(&g, 0, sizeof(g));
	assert_int_equal(B->msg_list(b.s, "1000:q", false, 0, true, 0, 10,
	                             mgot_cb, &g), 0);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.id[0], 1);
	assert_int_equal(g.id[1], 2);
	assert_int_equal(g.id[2], 3);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->msg_list(b.s, "1000:q", false, 1000, false, 1, 1,
	                             mgot_cb, &g), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.id[0], 3);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->msg_list(b.s, "1000:q", true, 0, true, 0, 10,
	                             mgot_cb, &g), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.id[0], 4);
	/* Purge: only what no node holds, of the owner asked for (2 is
	 * uid 2000's); a's live claim (1) and b's own (3) stay, and so
	 * does the dead letter (4); a lapsed claim of a's goes. */
	assert_int_equal(B->begin(b.s), 0);
	assert_int_equal(B->msg_purge_unheld(b.s, "1000:q", 1000, false), 0);
	assert_int_equal(B->msg_purge_unheld(b.s, "1000:q", 0, true), 1);
	assert_int_equal(B->commit(b.s), 0);
	assert_sql("1 3 4", "SELECT string_agg(fire_id::text, ' ' ORDER BY"
	                    " fire_id) FROM evd.messages WHERE channel ="
	                    " '1000:q'");
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.messages SET"
	                          " vis_at = now() - interval '1 s'"
	                          " WHERE fire_id IN (1, 3)"), 0);
	assert_int_equal(B->begin(b.s), 0);
	assert_int_equal(B->msg_purge_unheld(b.s, "1000:q", 0, true), 1);
	assert_int_equal(B->commit(b.s), 0);
	assert_sql("3 4", "SELECT string_agg(fire_id::text, ' ' ORDER BY"
	                  " fire_id) FROM evd.messages WHERE channel ="
	                  " '1000:q'");
	node_close(&b);
	node_close(&a);
}

static void
test_msg_claim_fenced_ack(void **state)
{
	struct node a, b, c;
	struct mgot g;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	node_open(&c, INT64_C(30) * 1000000000);
	enqueue(&a, 1, "1:jobs", false);
	enqueue(&a, 2, "1:other", false);
	enqueue(&a, 3, "1:\"odd,{name}\\", false);
	assert_true(node_msg_hinted(&b, 5000));
	assert_sql("0", "SELECT count(*) FROM evd.messages"
	                " WHERE consumer IS NOT NULL");
	assert_int_equal(msg_claim(&b, "1:jobs", 10, &g), 2);
	assert_true((g.id[0] == 1 && g.id[1] == 3) ||
	            (g.id[0] == 3 && g.id[1] == 1));
	assert_int_equal(g.fence[0], 1);
	assert_int_equal(msg_claim(&c, "1:jobs", 10, &g), 0);
	/* A limit per channel. */
	enqueue(&a, 4, "1:jobs", false);
	enqueue(&a, 5, "1:jobs", false);
	assert_int_equal(msg_claim(&c, "1:jobs", 1, &g), 1);
	assert_int_equal(g.id[0], 4);
	/* Not the claimant, or not its fence: nothing deleted. */
	assert_int_equal(msg_ack(&a, 1, 1), -ESTALE);
	assert_int_equal(msg_ack(&b, 1, 0), -ESTALE);
	assert_int_equal(msg_ack(&b, 1, 1), 0);
	assert_int_equal(msg_ack(&b, 1, 1), -ESTALE);
	assert_sql("0", "SELECT count(*) FROM evd.messages WHERE fire_id = 1");
	assert_sql("4", "SELECT count(*) FROM evd.messages");
	node_close(&c);
	node_close(&b);
	node_close(&a);
}

/* Many gathered rows whose text columns are NULL (a fire's message has
 * no reason): the array literals grow past their first buffers at
 * every length (under ASan, a byte written past one fails here). */
static void
test_gathered_many_nulls(void **state)
{
	struct node a;
	int i;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	assert_int_equal(B->begin(a.s), 0);
	B->pipeline(a.s, true);
	for (i = 0; i < 2000; i++) {
		struct store_msg m = msg_of((uint64_t)i + 1, "1:n", false);

		m.reason = NULL;
		assert_int_equal(B->enqueue(a.s, &m), 0);
	}
	B->pipeline(a.s, false);
	assert_int_equal(B->commit(a.s), 0);
	assert_sql("2000", "SELECT count(*) FROM evd.messages"
	                   " WHERE reason IS NULL");
	node_close(&a);
}

/* Gathered rows past FB_SEND_BYTES (16 MiB of literals) go in several
 * statements of the same batch: every row arrives, in a batch that
 * commits as one. */
static void
test_gathered_large_flushes(void **state)
{
	static uint8_t payload[60000];
	struct node a;
	int i;

	(void)state;
	memset(payload, 0xab, sizeof(payload));
	node_open(&a, INT64_C(30) * 1000000000);
	assert_int_equal(B->begin(a.s), 0);
	B->pipeline(a.s, true);
	for (i = 0; i < 400; i++) {
		struct store_msg m = msg_of((uint64_t)i + 1, "1:big", false);

		m.payload = payload;
		m.payload_len = sizeof(payload);
		assert_int_equal(B->enqueue(a.s, &m), 0);
	}
	B->pipeline(a.s, false);
	assert_int_equal(B->commit(a.s), 0);
	assert_sql("400 24000000", "SELECT count(*) || ' ' ||"
	                           " sum(length(payload)) FROM evd.messages");
	node_close(&a);
}

/* Pipelined fires' messages (gathered into one statement) keep the
 * rules of one by one: claimed at insert where the fire says so, else
 * unclaimed and announced on evd_msg. */
static void
test_msg_gathered_claim_and_hint(void **state)
{
	struct store_msg u = msg_of(11, "1:u", false), c = msg_of(12, "1:c", true);
	struct node a, b;
	struct mgot g;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	assert_int_equal(B->begin(a.s), 0);
	B->pipeline(a.s, true);
	assert_int_equal(B->enqueue(a.s, &u), 0);
	assert_int_equal(B->enqueue(a.s, &c), 0);
	B->pipeline(a.s, false);
	assert_int_equal(B->commit(a.s), 0);
	assert_true(node_msg_hinted(&b, 5000));
	assert_sql("11", "SELECT fire_id FROM evd.messages WHERE consumer IS NULL");
	assert_sql("12:1", "SELECT fire_id || ':' || fence FROM evd.messages"
	                   " WHERE consumer IS NOT NULL");
	memset(&g, 0, sizeof(g));
	assert_int_equal(msg_claim(&b, "1:c", 10, &g), 0);
	assert_int_equal(msg_claim(&b, "1:u", 10, &g), 1);
	node_close(&b);
	node_close(&a);
}

/* An int8 a query on database postgres answers. */
static int64_t
sql_i64(const char *sql)
{
	PGconn *c = PQconnectdb(pg.conninfo);
	PGresult *res;
	int64_t v;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	res = PQexec(c, sql);
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	PQfinish(c);
	return v;
}

/* M6: a claim takes at most its limit of live messages and, apart, of
 * dead letters, oldest first: a channel's dead letters cannot make a
 * claim take them all. */
static void
test_msg_claim_dead_bounded(void **state)
{
	const char *names[1] = { "1:d" };
	uint32_t live[1], dead[1];
	struct node a, b;
	struct mgot g;
	int i;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	assert_int_equal(B->begin(a.s), 0);
	for (i = 1; i <= 10; i++) {
		struct store_msg m = msg_of((uint64_t)i, "1:d", false);

		m.dead = i <= 5; /* 1..5 dead, 6..10 live */
		assert_int_equal(B->enqueue(a.s, &m), 0);
	}
	assert_int_equal(B->commit(a.s), 0);
	live[0] = 2;
	dead[0] = 1;
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->begin(b.s), 0);
	assert_int_equal(B->msg_claim(b.s, names, live, dead, 1, mgot_cb, &g),
	                 3);
	assert_int_equal(B->commit(b.s), 0);
	assert_sql("1,6,7", "SELECT string_agg(fire_id::text, ',' ORDER BY"
	                    " fire_id) FROM evd.messages WHERE consumer IS"
	                    " NOT NULL");
	/* No dead letter wanted: none taken, however many wait. */
	live[0] = 10;
	dead[0] = 0;
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->begin(b.s), 0);
	assert_int_equal(B->msg_claim(b.s, names, live, dead, 1, mgot_cb, &g),
	                 3);
	assert_int_equal(B->commit(b.s), 0);
	assert_sql("4", "SELECT count(*) FROM evd.messages WHERE consumer IS"
	                " NULL AND dead");
	assert_sql("0", "SELECT count(*) FROM evd.messages WHERE consumer IS"
	                " NULL AND NOT dead");
	node_close(&b);
	node_close(&a);
}

/* M6: renewals are matched to what came back by position, whatever the
 * order of either: each held claim kept (with its lease), each lost or
 * unknown one not, among many. */
static void
test_msg_renew_many(void **state)
{
	struct store_renewal rn[61];
	struct node a;
	int i, k = 0;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	assert_int_equal(B->begin(a.s), 0);
	for (i = 1; i <= 60; i++) {
		struct store_msg m = msg_of((uint64_t)i, "1:m", true);

		assert_int_equal(B->enqueue(a.s, &m), 0);
	}
	assert_int_equal(B->commit(a.s), 0);
	/* Fire ids 60 down to 1, an unknown one among them; every third
	 * with a stale fence. */
	for (i = 60; i >= 1; i--) {
		if (i == 30)
			rn[k++] = (struct store_renewal){ .id = 999, .fence = 1 };
		rn[k++] = (struct store_renewal){ .id = (uint64_t)i,
			                          .fence = i % 3 == 0 ? 7 : 1 };
	}
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->msg_renew(a.s, rn, 61), 40);
	assert_int_equal(B->commit(a.s), 0);
	for (i = 0; i < 61; i++) {
		bool want = rn[i].id != 999 && rn[i].id % 3 != 0;

		assert_int_equal(rn[i].kept, want);
		if (want)
			assert_true(rn[i].lease_left_ns >
			            INT64_C(29) * 1000000000);
		else
			assert_int_equal(rn[i].lease_left_ns, 0);
	}
	node_close(&a);
}

/* Reads what reaches nd's node connection until it has been quiet for
 * quiet_ms. */
static void
node_drain(struct node *nd, int quiet_ms)
{
	struct store_pg_node_beat b;
	char err[256];

	for (;;) {
		struct pollfd p = { store_pg_node_fd(nd->n), POLLIN, 0 };

		if (poll(&p, 1, quiet_ms) != 1)
			return;
		assert_true(store_pg_node_read(nd->n, &b, err,
		                               sizeof(err)) >= 0);
	}
}

/* M8: hints name the channels a message waits in, each once however
 * many messages (a gathered insert notifies once per channel); a
 * message claimed at insert names none; more channels than fit say
 * "all". */
static void
test_msg_hints_name_channels(void **state)
{
	static char ch[STORE_PG_HINTS_MAX + 6][32];
	char *names[STORE_PG_HINTS_MAX];
	struct node a, b;
	size_t k, i;
	bool all;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	enqueue(&a, 1, "1:a", false);
	enqueue(&a, 2, "1:b", false);
	enqueue(&a, 3, "1:a", false);
	enqueue(&a, 4, "1:c", true);
	assert_true(node_msg_hinted(&b, 5000));
	node_drain(&b, 300);
	k = store_pg_node_msg_take(b.n, names, &all);
	assert_false(all);
	assert_int_equal(k, 2);
	assert_string_equal(names[0], "1:a");
	assert_string_equal(names[1], "1:b");
	for (i = 0; i < k; i++)
		free(names[i]);
	assert_int_equal(store_pg_node_msg_take(b.n, names, &all), 0);
	/* One gathered batch into more channels than a take holds. */
	assert_int_equal(B->begin(a.s), 0);
	B->pipeline(a.s, true);
	for (i = 0; i < STORE_PG_HINTS_MAX + 6; i++) {
		struct store_msg m;

		/* Borrowed until the batch is sent: one buffer each. */
		snprintf(ch[i], sizeof(ch[i]), "1:many%zu", i);
		m = msg_of(100 + i, ch[i], false);
		assert_int_equal(B->enqueue(a.s, &m), 0);
	}
	B->pipeline(a.s, false);
	assert_int_equal(B->commit(a.s), 0);
	assert_true(node_msg_hinted(&b, 5000));
	node_drain(&b, 300);
	k = store_pg_node_msg_take(b.n, names, &all);
	assert_true(all);
	assert_int_equal(k, STORE_PG_HINTS_MAX);
	for (i = 0; i < k; i++)
		free(names[i]);
	node_close(&b);
	node_close(&a);
}

/* M8: a node found dead has its listening connection ended by the
 * reaper, so that a stopped node cannot hold PostgreSQL's NOTIFY queue
 * (shared by the server) forever; the reaper's own stays. */
static void
test_reap_ends_listener(void **state)
{
	struct timespec ts = { 2, 300000000 };
	struct store_pg_node_beat bt;
	struct node a, b;
	char sql[512];
	int64_t pid_a, pid_b;
	int i;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	snprintf(sql, sizeof(sql), "SELECT pid FROM evd.nodes WHERE node = '%s'",
	         store_pg_node_id(a.n));
	pid_a = sql_i64(sql);
	snprintf(sql, sizeof(sql), "SELECT pid FROM evd.nodes WHERE node = '%s'",
	         store_pg_node_id(b.n));
	pid_b = sql_i64(sql);
	assert_true(pid_a > 0 && pid_b > 0 && pid_a != pid_b);
	/* a's last heartbeat: right after its connection began, longer
	 * than D ago (a stopped node). */
	nanosleep(&ts, NULL);
	snprintf(sql, sizeof(sql), "UPDATE evd.nodes n SET last_seen ="
	         " a.backend_start FROM pg_stat_activity a WHERE a.pid = n.pid"
	         " AND n.node = '%s'", store_pg_node_id(a.n));
	assert_int_equal(pgfx_sql(&pg, "postgres", sql), 0);
	assert_int_equal(store_pg_node_reap(b.n, DEATH_NS), 0);
	assert_int_equal(node_wait(&b, &bt), 1);
	assert_int_equal(bt.reaped_nodes, 1);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity"
	         " WHERE pid = %lld", (long long)pid_a);
	for (i = 0; i < 100 && sql_i64(sql) != 0; i++) {
		struct timespec t = { 0, 50000000 };

		nanosleep(&t, NULL);
	}
	assert_int_equal(sql_i64(sql), 0);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity"
	         " WHERE pid = %lld", (long long)pid_b);
	assert_int_equal(sql_i64(sql), 1);
	node_close(&b);
	node_close(&a);
}

/* What msg_counts said, as "channel:owner:n" lines in its order. */
struct counts {
	char text[512];
};

static int
counts_cb(const char *channel, uid_t owner, uint64_t n, void *arg)
{
	struct counts *c = arg;
	size_t len = strlen(c->text);

	snprintf(c->text + len, sizeof(c->text) - len, "%s:%u:%llu\n",
	         channel, (unsigned)owner, (unsigned long long)n);
	return 0;
}

/* The counts of node nd's view, sorted by channel (one owner here). */
static const char *
msg_counts(struct node *nd, struct counts *c)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(B->begin(nd->s), 0);
	assert_int_equal(B->msg_counts(nd->s, counts_cb, c), 0);
	assert_int_equal(B->commit(nd->s), 0);
	return c->text;
}

/* H3: every message in evd.messages counts for its channel and owner,
 * whoever inserted it (one by one or gathered) and whether or not a
 * node holds it; acks (deletes) count down, on any node. Two nodes'
 * open batches never wait for each other's count rows. */
static void
test_msg_counts_across_nodes(void **state)
{
	struct store_msg m;
	struct node a, b;
	struct counts c;
	struct mgot g;
	int i;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	assert_string_equal(msg_counts(&a, &c), "");
	enqueue(&a, 1, "1:q", false);
	enqueue(&a, 2, "1:q", false);
	enqueue(&a, 3, "1:q", true);
	/* Gathered (pipelined fires): one statement for many rows. */
	assert_int_equal(B->begin(b.s), 0);
	B->pipeline(b.s, true);
	for (i = 0; i < 40; i++) {
		m = msg_of(100 + (uint64_t)i, i < 30 ? "1:q" : "1:r", false);
		assert_int_equal(B->enqueue(b.s, &m), 0);
	}
	B->pipeline(b.s, false);
	assert_int_equal(B->commit(b.s), 0);
	assert_string_equal(msg_counts(&a, &c), "1:q:1000:33\n1:r:1000:10\n");
	assert_string_equal(msg_counts(&b, &c), "1:q:1000:33\n1:r:1000:10\n");
	/* A duplicate insert (ON CONFLICT DO NOTHING, said -EEXIST)
	 * counts nothing. */
	m = msg_of(1, "1:q", false);
	assert_int_equal(B->begin(b.s), 0);
	assert_int_equal(B->enqueue(b.s, &m), -EEXIST);
	assert_int_equal(B->commit(b.s), 0);
	/* Node b takes and acks what node a inserted. */
	assert_int_equal(msg_claim(&b, "1:r", 4, &g), 4);
	for (i = 0; i < g.n; i++)
		assert_int_equal(msg_ack(&b, g.id[i], g.fence[i]), 0);
	assert_int_equal(msg_ack(&a, 3, 1), 0);
	assert_string_equal(msg_counts(&a, &c), "1:q:1000:32\n1:r:1000:6\n");
	/* An open batch of a's holds its count row; b's insert into the
	 * same channel and owner neither waits for it (a lock wait would
	 * end in lock_timeout, and b's commit fail) nor sees it. */
	assert_int_equal(B->begin(a.s), 0);
	m = msg_of(500, "1:q", false);
	assert_int_equal(B->enqueue(a.s, &m), 0);
	enqueue(&b, 501, "1:q", false);
	assert_string_equal(msg_counts(&b, &c), "1:q:1000:33\n1:r:1000:6\n");
	assert_int_equal(B->commit(a.s), 0);
	assert_string_equal(msg_counts(&b, &c), "1:q:1000:34\n1:r:1000:6\n");
	assert_sql("40", "SELECT count(*) FROM evd.messages");
	node_close(&b);
	node_close(&a);
}

/* A dead node's count rows are folded into the shared slot when it is
 * reaped: the sums stay, its slot goes (node ids are never reused, so
 * slots would otherwise pile up by one per node start). */
static void
test_reap_folds_counts(void **state)
{
	struct store_pg_node_beat bt;
	struct counts c;
	struct node a, b;
	char sql[160];

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	enqueue(&a, 601, "1:q", false);
	enqueue(&a, 602, "1:q", false);
	enqueue(&b, 603, "1:q", false);
	assert_string_equal(msg_counts(&b, &c), "1:q:1000:3\n");
	snprintf(sql, sizeof(sql), "UPDATE evd.nodes SET last_seen = now() -"
	         " interval '1 min' WHERE node = '%s'", store_pg_node_id(a.n));
	assert_int_equal(pgfx_sql(&pg, "postgres", sql), 0);
	assert_int_equal(store_pg_node_reap(b.n, DEATH_NS), 0);
	assert_int_equal(node_wait(&b, &bt), 1);
	assert_int_equal(bt.reaped_nodes, 1);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM evd.msg_counts"
	         " WHERE slot = '%s'", store_pg_node_id(a.n));
	assert_sql("0", sql);
	assert_sql("2", "SELECT n FROM evd.msg_counts WHERE slot = ''"
	                " AND channel = '1:q'");
	assert_string_equal(msg_counts(&b, &c), "1:q:1000:3\n");
	node_close(&b);
	node_close(&a);
}

/* A schema upgrade waits for a stopped cluster: with another node seen
 * in the last minute, a store that needs a newer schema refuses to open
 * (saying so) and changes nothing; its own node's row is not counted
 * (two rows, "1 other"). */
static void
test_upgrade_refused_while_nodes_live(void **state)
{
	struct store_config cfg;
	struct store *s = NULL;
	struct node a, b;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	node_close(&b); /* its row stays until a reap: seen just now */
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.meta SET v = v - 1"
	                          " WHERE k = 'schema_version'"), 0);
	memset(&cfg, 0, sizeof(cfg));
	cfg.conninfo = pg.conninfo;
	cfg.history_per_timer = 3;
	cfg.cluster_node = store_pg_node_id(a.n);
	cfg.claim_ns = INT64_C(30) * 1000000000;
	assert_int_equal(B->open(&cfg, &s), -EBUSY);
	assert_non_null(strstr(B->errmsg(NULL), "1 other evd nodes"));
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.meta SET v = v + 1"
	                          " WHERE k = 'schema_version'"), 0);
	node_close(&a);
}

/* A claim whose lease ran out is no longer its holder's to deliver
 * (another node may claim it any moment): its update says -ESTALE. */
static void
test_msg_update_after_lease(void **state)
{
	struct store_msg m = msg_of(1, "1:jobs", false);
	struct node a;

	(void)state;
	node_open(&a, 2000); /* a claim lease of 2 us: run out at once */
	enqueue(&a, 1, "1:jobs", true);
	m.attempts = 2;
	m.fence = 1;
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->update_msg(a.s, &m), -ESTALE);
	assert_int_equal(B->commit(a.s), 0);
	assert_sql("0", "SELECT attempts FROM evd.messages WHERE fire_id = 1");
	node_close(&a);
}

/* A message claimed at insert is the inserter's (fence 1): no peer
 * claims it while its lease runs. Its updates are fenced: a stale one
 * changes nothing and says -ESTALE (the caller forgets the message),
 * and leaves the batch usable. */
static void
test_msg_claim_at_insert(void **state)
{
	struct store_msg m = msg_of(1, "1:jobs", false);
	struct node a, b;
	struct mgot g;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	enqueue(&a, 1, "1:jobs", true);
	assert_sql("1", "SELECT fence FROM evd.messages WHERE fire_id = 1");
	assert_int_equal(msg_claim(&b, "1:jobs", 10, &g), 0);
	m.attempts = 3;
	m.fence = 7;
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->update_msg(a.s, &m), -ESTALE);
	assert_int_equal(B->commit(a.s), 0);
	assert_sql("0", "SELECT attempts FROM evd.messages WHERE fire_id = 1");
	m.fence = 1;
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->update_msg(a.s, &m), 0);
	assert_int_equal(B->commit(a.s), 0);
	assert_sql("3", "SELECT attempts FROM evd.messages WHERE fire_id = 1");
	assert_int_equal(msg_ack(&a, 1, 1), 0);
	node_close(&b);
	node_close(&a);
}

/* A dead node's message claims are reaped with its timers (fence
 * bumped), claimed by a peer; the dead node's ack fails. A node's
 * load_messages adopts its own claims only, fenced anew. */
static void
test_msg_reap_and_adopt(void **state)
{
	struct store_pg_node_beat bt;
	struct node a, b;
	char sql[256];
	struct mgot g;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	node_open(&b, INT64_C(30) * 1000000000);
	enqueue(&a, 1, "1:jobs", true);
	enqueue(&a, 2, "1:jobs", true);
	enqueue(&b, 3, "1:jobs", true);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->load_messages(b.s, mgot_cb, &g), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.id[0], 3);
	assert_int_equal(g.fence[0], 2);
	assert_int_equal(msg_ack(&b, 3, 1), -ESTALE);
	snprintf(sql, sizeof(sql), "UPDATE evd.nodes SET last_seen = now() -"
	         " interval '1 min' WHERE node = '%s'", store_pg_node_id(a.n));
	assert_int_equal(pgfx_sql(&pg, "postgres", sql), 0);
	assert_int_equal(store_pg_node_reap(b.n, DEATH_NS), 0);
	assert_int_equal(node_wait(&b, &bt), 1);
	assert_int_equal(bt.reaped_nodes, 1);
	assert_int_equal(bt.reaped_messages, 2);
	assert_int_equal(msg_claim(&b, "1:jobs", 10, &g), 2);
	assert_int_equal(g.fence[0], 3); /* insert, reap, claim */
	assert_int_equal(msg_ack(&a, 1, 1), -ESTALE);
	assert_int_equal(msg_ack(&b, 1, 3), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->load_messages(a.s, mgot_cb, &g), 0);
	assert_int_equal(g.n, 0);
	node_close(&b);
	node_close(&a);
}

/* Renewals keep a claim that is still the node's (fenced), lose one a
 * peer took after its lease lapsed; a give-back makes it claimable at
 * once, and a clean stop gives back the rest. */
static void
test_msg_renew_release(void **state)
{
	struct store_renewal rn[2];
	struct node a, b, c;
	char err[256];
	struct mgot g;

	(void)state;
	node_open(&a, 2000); /* a lease of 2 us: lapsed at once */
	node_open(&b, INT64_C(30) * 1000000000);
	node_open(&c, INT64_C(30) * 1000000000);
	enqueue(&a, 1, "1:jobs", true);
	assert_int_equal(msg_claim(&b, "1:jobs", 10, &g), 1);
	assert_int_equal(g.fence[0], 2);
	rn[0] = (struct store_renewal){ .id = 1, .fence = 1 };
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->msg_renew(a.s, rn, 1), 0);
	assert_int_equal(B->commit(a.s), 0);
	assert_false(rn[0].kept);
	rn[0] = (struct store_renewal){ .id = 1, .fence = 2 };
	assert_int_equal(B->begin(b.s), 0);
	assert_int_equal(B->msg_renew(b.s, rn, 1), 1);
	assert_int_equal(B->commit(b.s), 0);
	assert_true(rn[0].kept);
	assert_true(rn[0].lease_left_ns > INT64_C(29) * 1000000000);
	assert_int_equal(msg_claim(&c, "1:jobs", 10, &g), 0);
	assert_int_equal(B->begin(b.s), 0);
	assert_int_equal(B->msg_release(b.s, rn, 1), 0);
	assert_int_equal(B->commit(b.s), 0);
	assert_true(node_msg_hinted(&c, 5000));
	assert_int_equal(msg_claim(&c, "1:jobs", 10, &g), 1);
	assert_int_equal(g.fence[0], 4);
	assert_int_equal(store_pg_node_leave(c.n, err, sizeof(err)), 0);
	assert_sql("0", "SELECT count(*) FROM evd.messages"
	                " WHERE consumer IS NOT NULL");
	assert_int_equal(msg_claim(&b, "1:jobs", 10, &g), 1);
	assert_int_equal(g.fence[0], 6);
	node_close(&c);
	node_close(&b);
	node_close(&a);
}

static int
chan_cb(const struct store_channel *c, void *arg)
{
	*(uid_t *)arg = c->owner;
	return 0;
}

/* A channel's row, read under a lock that holds until the batch ends. */
static void
test_channel_lock(void **state)
{
	struct store_channel sc = { "7:jobs", 7, NULL, 0 };
	uid_t owner = 0;
	struct node a;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->channel_lock(a.s, "7:jobs", chan_cb, &owner), 0);
	assert_int_equal(owner, 0);
	assert_int_equal(B->channel_put(a.s, &sc), 0);
	assert_int_equal(B->commit(a.s), 0);
	assert_int_equal(B->begin(a.s), 0);
	assert_int_equal(B->channel_lock(a.s, "7:jobs", chan_cb, &owner), 0);
	assert_int_equal(owner, 7);
	/* Another writer waits for the lock, then gives up (lock_timeout):
	 * the row is locked until the commit. */
	assert_int_not_equal(pgfx_sql(&pg, "postgres",
	                              "SET lock_timeout = '100ms'; UPDATE"
	                              " evd.channels SET owner = 8"),
	                     0);
	assert_int_equal(B->commit(a.s), 0);
	assert_sql("7", "SELECT owner FROM evd.channels");
	node_close(&a);
}


/* Many fenced writes of one kind in one statement, pipelined and judged
 * each alone at the commit (deliveries, acks, ended hooks' retires): a
 * row whose claim went changes nothing and says kept false, the others
 * commit. A one-shot exec timer's pipelined renewal that finds its claim
 * gone fails the commit instead (as a retire's does). */
static void
test_judged_alone(void **state)
{
	struct store_timer t1 = timer_at(1, now_rt() + 3600000000000);
	struct store_timer t2 = timer_at(2, now_rt() + 3600000000000);
	struct store_renewal dl[2], ak[2], rt[2], rn;
	uint32_t att[2] = { 3, 4 };
	struct node a;
	struct mgot g;

	(void)state;
	node_open(&a, INT64_C(30) * 1000000000);
	assert_non_null(B->msg_deliver_many);
	assert_non_null(B->msg_ack_many);
	assert_non_null(B->retire_claims);
	enqueue(&a, 11, "1:jobs", false);
	enqueue(&a, 12, "1:jobs", false);
	enqueue(&a, 13, "1:jobs", false);
	enqueue(&a, 14, "1:jobs", false);
	assert_int_equal(msg_claim(&a, "1:jobs", 10, &g), 4);
	/* 12's and 14's claims go (a peer took them after a lapse). */
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.messages SET"
	                          " fence = fence + 1 WHERE fire_id IN"
	                          " (12, 14)"), 0);
	dl[0] = (struct store_renewal){ .id = 11, .fence = 1 };
	dl[1] = (struct store_renewal){ .id = 12, .fence = 1 };
	ak[0] = (struct store_renewal){ .id = 13, .fence = 1 };
	ak[1] = (struct store_renewal){ .id = 14, .fence = 1 };
	assert_int_equal(B->begin(a.s), 0);
	B->pipeline(a.s, true);
	assert_int_equal(B->msg_deliver_many(a.s, dl, att, 2), 0);
	assert_int_equal(B->msg_ack_many(a.s, ak, 2), 0);
	B->pipeline(a.s, false);
	assert_int_equal(B->commit(a.s), 0);
	assert_true(dl[0].kept);
	assert_false(dl[1].kept);
	assert_true(ak[0].kept);
	assert_false(ak[1].kept);
	assert_sql("3", "SELECT attempts FROM evd.messages WHERE fire_id = 11");
	assert_sql("0", "SELECT attempts FROM evd.messages WHERE fire_id = 12");
	assert_sql("0", "SELECT count(*) FROM evd.messages WHERE fire_id = 13");
	assert_sql("1", "SELECT count(*) FROM evd.messages WHERE fire_id = 14");
	/* Ids out of order are refused; unpipelined, answered at once. */
	assert_int_equal(B->begin(a.s), 0);
	ak[0] = (struct store_renewal){ .id = 14, .fence = 1 };
	ak[1] = (struct store_renewal){ .id = 11, .fence = 1 };
	assert_int_equal(B->msg_ack_many(a.s, ak, 2), -EINVAL);
	assert_int_equal(B->msg_ack_many(a.s, ak + 1, 1), 0);
	assert_true(ak[1].kept);
	assert_int_equal(B->commit(a.s), 0);
	assert_sql("0", "SELECT count(*) FROM evd.messages WHERE fire_id = 11");

	/* Ended hooks: retired where still claimed with that fence. */
	schedule(&a, &t1);
	schedule(&a, &t2);
	assert_int_equal(pgfx_sql(&pg, "postgres", "UPDATE evd.timers SET"
	                          " fence = fence + 1 WHERE id = 2"), 0);
	rt[0] = (struct store_renewal){ .id = 1, .fence = 0 };
	rt[1] = (struct store_renewal){ .id = 2, .fence = 0 };
	assert_int_equal(B->begin(a.s), 0);
	B->pipeline(a.s, true);
	assert_int_equal(B->retire_claims(a.s, rt, 2), 0);
	B->pipeline(a.s, false);
	assert_int_equal(B->commit(a.s), 0);
	assert_true(rt[0].kept);
	assert_false(rt[1].kept);
	assert_sql("F", "SELECT state FROM evd.timers WHERE id = 1");
	assert_sql("C", "SELECT state FROM evd.timers WHERE id = 2");

	/* A fire's renewal, pipelined: taken as kept, T left; the commit
	 * judges it. Stale: the batch fails. */
	rn = (struct store_renewal){ .id = 2, .fence = 0 };
	assert_int_equal(B->begin(a.s), 0);
	B->pipeline(a.s, true);
	assert_int_equal(B->renew(a.s, &rn, 1), 1);
	assert_true(rn.kept);
	assert_int_equal(rn.lease_left_ns, INT64_C(30) * 1000000000);
	B->pipeline(a.s, false);
	assert_int_equal(B->commit(a.s), -ESTALE);
	rn = (struct store_renewal){ .id = 2, .fence = 1 };
	assert_int_equal(B->begin(a.s), 0);
	B->pipeline(a.s, true);
	assert_int_equal(B->renew(a.s, &rn, 1), 1);
	B->pipeline(a.s, false);
	assert_int_equal(B->commit(a.s), 0);
	assert_sql("true", "SELECT vis_at > now() + interval '20 s' FROM"
	                " evd.timers WHERE id = 2");
	node_close(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup(fn, setup)
	    T(test_node_ids_fresh),
	    T(test_heartbeat_fresh),
	    T(test_schedule_claims_retire_fenced),
	    T(test_reap_dead_node),
	    T(test_lapsed_claim_taken),
	    T(test_claim_skip_locked),
	    T(test_adopt_bumps_fence),
	    T(test_reserve_ids_disjoint),
	    T(test_leave_releases),
	    T(test_renew_keeps_claim),
	    T(test_cancel_claim_fenced),
	    T(test_lock_wait_bounded),
	    T(test_reap_locked_claim_later),
	    T(test_cancel_any),
	    T(test_cancel_any_never_waits),
	    T(test_cancel_notify_after_reconnect),
	    T(test_list_held),
	    T(test_cancel_matching),
	    T(test_take_any),
	    T(test_runs_since),
	    T(test_msg_counts_and_list),
	    T(test_pipelined_fire_stale),
	    T(test_pipelined_fire_rows),
	    T(test_sessions_without_jit),
	    T(test_gathered_generic_plans),
	    T(test_gathered_schedules),
	    T(test_msg_claim_fenced_ack),
	    T(test_msg_claim_at_insert),
	    T(test_msg_update_after_lease),
	    T(test_upgrade_refused_while_nodes_live),
	    T(test_msg_gathered_claim_and_hint),
	    T(test_gathered_many_nulls),
	    T(test_gathered_large_flushes),
	    T(test_msg_reap_and_adopt),
	    T(test_msg_renew_release),
	    T(test_channel_lock),
	    T(test_judged_alone),
	    T(test_msg_counts_across_nodes),
	    T(test_msg_claim_dead_bounded),
	    T(test_msg_renew_many),
	    T(test_msg_hints_name_channels),
	    T(test_reap_ends_listener),
	    T(test_reap_folds_counts),
#undef T
	};
	char why[512];
	int r;

	r = pgfx_start(&pg, why, sizeof(why));
	if (r == 77) {
		fprintf(stderr, "SKIP: %s\n", why);
		return 77;
	}
	if (r < 0) {
		fprintf(stderr, "FAIL: cannot start PostgreSQL: %s\n", why);
		return 1;
	}
	r = cmocka_run_group_tests(tests, NULL, NULL);
	pgfx_stop(&pg);
	return r;
}
