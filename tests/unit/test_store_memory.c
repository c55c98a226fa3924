/*
 * test_store_memory: what the memory store keeps of ended timers (issues
 * 12 and 13): the runs of the timers it is told of, the finished and
 * cancelled timers themselves with their keys, and its bounds (runs per
 * timer, ended timers per owner, age), on a fake wall clock.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "evd.pb-c.h"
#include "store.h"

#define M (&store_memory_backend)
#define DAY (INT64_C(24) * 3600 * 1000000000)

static int64_t fake_rt_ns = INT64_C(1700000000) * 1000000000;

static int64_t
fake_now(int evd_clock)
{
	return evd_clock == EVD__CLOCK__REALTIME ? fake_rt_ns : 1000;
}

static struct store *
open_with(uint32_t history, uint32_t finished_max, int64_t keep_ns)
{
	struct store_config cfg = {
	    .history_per_timer = history,
	    .finished_max = finished_max,
	    .finished_keep_ns = keep_ns,
	};
	struct store *s = NULL;

	clock_set_source(fake_now);
	assert_int_equal(M->open(&cfg, &s), 0);
	return s;
}

/* A channel timer of uid, distinct per id. */
static struct store_timer
timer_make(uint64_t id, uid_t uid)
{
	static const uint8_t payload[] = {'p', 0, 'q'};
	struct store_timer t;

	memset(&t, 0, sizeof(t));
	t.id = id;
	t.uid = uid;
	t.gid = 100;
	t.clock = EVD__CLOCK__MONOTONIC;
	t.deadline_ns = 5000 + (int64_t)id;
	t.due_rt_ns = fake_rt_ns + (int64_t)id;
	t.created_rt_ns = fake_rt_ns - 7;
	t.channel = "jobs";
	t.payload = payload;
	t.payload_len = sizeof(payload);
	t.max_attempts = 9;
	return t;
}

/* t as ended (fired, or cancelled) now. */
static struct store_timer
ended(struct store_timer t, bool cancelled)
{
	t.finished = true;
	t.cancelled = cancelled;
	t.finished_rt_ns = fake_rt_ns;
	return t;
}

/* A timer's fields, copied out of the callback. */
struct got {
	int n;
	struct store_timer t;
	char channel[16], key[16];
	uint8_t payload[8];
};

static int
got_cb(const struct store_timer *t, void *arg)
{
	struct got *g = arg;

	g->n++;
	g->t = *t;
	snprintf(g->channel, sizeof(g->channel), "%s",
		 t->channel != NULL ? t->channel : "(null)");
	snprintf(g->key, sizeof(g->key), "%s",
		 t->key != NULL ? t->key : "(null)");
	if (t->payload_len <= sizeof(g->payload))
		memcpy(g->payload, t->payload, t->payload_len);
	return 0;
}

static int
get(struct store *s, uint64_t id, struct got *g)
{
	memset(g, 0, sizeof(*g));
	return M->get_timer(s, id, got_cb, g);
}

struct runs_got {
	int n;
	uint64_t fire_ids[16];
	char detail[32];
	size_t out_len;
};

static int
runs_cb(const struct store_run *r, void *arg)
{
	struct runs_got *g = arg;

	if (g->n < 16)
		g->fire_ids[g->n] = r->fire_id;
	if (g->n == 0) {
		snprintf(g->detail, sizeof(g->detail), "%s",
			 r->detail ? r->detail : "(null)");
		g->out_len = r->out_len;
	}
	g->n++;
	return 0;
}

static int
runs_of(struct store *s, uint64_t id, struct runs_got *g)
{
	memset(g, 0, sizeof(*g));
	return M->runs(s, id, runs_cb, g);
}

static void
append(struct store *s, uint64_t timer_id, uint64_t fire_id, const char *detail,
       size_t out_len)
{
	static const uint8_t out[64];
	struct store_run r = {
	    .timer_id = timer_id,
	    .fire_id = fire_id,
	    .outcome = EVD__RUN_OUTCOME__RUN_QUEUED,
	    .detail = detail,
	    .out = out_len > 0 ? out : NULL,
	    .out_len = out_len,
	};

	assert_int_equal(M->run_append(s, &r), 0);
}

/* Output changes reported for uid, summed. */
struct out_sum {
	uid_t uid;
	int64_t bytes;
};

static int
out_cb(uid_t uid, int64_t bytes, void *arg)
{
	struct out_sum *o = arg;

	if (uid == o->uid)
		o->bytes += bytes;
	return 0;
}

static int64_t
out_drain(struct store *s, uid_t uid)
{
	struct out_sum o = {uid, 0};

	assert_int_equal(M->output_changes(s, out_cb, &o), 0);
	return o.bytes;
}

/* Runs are kept from the first remember() on, in a ring of history;
 * a pending timer is not the store's to report. */
static void
test_runs_of_told_timers(void **state)
{
	struct store *s = open_with(3, 10, 0);
	struct store_timer t = timer_make(1, 1000);
	struct runs_got rg;
	struct got g;
	uint64_t i;

	append(s, 1, 1, NULL, 0); /* not told of it yet: dropped */
	assert_int_equal(runs_of(s, 1, &rg), 0);
	assert_int_equal(rg.n, 0);
	assert_int_equal(M->remember(s, &t), 0);
	for (i = 2; i <= 6; i++)
		append(s, 1, i, i == 6 ? "last" : NULL, 0);
	assert_int_equal(runs_of(s, 1, &rg), 0);
	assert_int_equal(rg.n, 3);
	assert_int_equal(rg.fire_ids[0], 6);
	assert_int_equal(rg.fire_ids[1], 5);
	assert_int_equal(rg.fire_ids[2], 4);
	assert_string_equal(rg.detail, "last");
	assert_int_equal(get(s, 1, &g), -ENOENT);
	M->close(s);

	/* No history: nothing kept of a pending timer. */
	s = open_with(0, 10, 0);
	assert_int_equal(M->remember(s, &t), 0);
	append(s, 1, 1, NULL, 0);
	assert_int_equal(runs_of(s, 1, &rg), 0);
	assert_int_equal(rg.n, 0);
	M->close(s);
}

/* An ended timer is kept whole, copied: Get, Wait and its key find it,
 * with its runs, fired or cancelled. */
static void
test_ended_kept(void **state)
{
	struct store *s = open_with(20, 10, 0);
	struct store_timer t = timer_make(1, 1000), c = timer_make(2, 1000);
	char key[] = "k1";
	struct runs_got rg;
	struct got g;

	t.key = key;
	t.fire_count = 2;
	assert_int_equal(M->remember(s, &t), 0);
	append(s, 1, 10, NULL, 0);
	t = ended(t, false);
	assert_int_equal(M->remember(s, &t), 0);
	append(s, 1, 11, "ended", 0);
	key[0] = 'X'; /* the store has its own copy */
	assert_int_equal(get(s, 1, &g), 0);
	assert_int_equal(g.n, 1);
	assert_true(g.t.finished);
	assert_false(g.t.cancelled);
	assert_int_equal(g.t.finished_rt_ns, fake_rt_ns);
	assert_int_equal(g.t.fire_count, 2);
	assert_int_equal(g.t.uid, 1000);
	assert_int_equal(g.t.max_attempts, 9);
	assert_string_equal(g.channel, "jobs");
	assert_string_equal(g.key, "k1");
	assert_int_equal(g.t.payload_len, 3);
	assert_memory_equal(g.payload, "p\0q", 3);
	assert_int_equal(runs_of(s, 1, &rg), 0);
	assert_int_equal(rg.n, 2);
	assert_int_equal(rg.fire_ids[0], 11);
	memset(&g, 0, sizeof(g));
	assert_int_equal(M->find_key(s, 1000, "k1", got_cb, &g), 0);
	assert_int_equal(g.t.id, 1);
	assert_int_equal(M->find_key(s, 1001, "k1", got_cb, &g), -ENOENT);
	assert_int_equal(M->find_key(s, 1000, "k2", got_cb, &g), -ENOENT);

	/* Cancelled without ever firing: kept too, as cancelled. */
	c = ended(c, true);
	c.channel = NULL;
	assert_int_equal(M->remember(s, &c), 0);
	append(s, 2, 0, "cancel", 0);
	assert_int_equal(get(s, 2, &g), 0);
	assert_true(g.t.finished);
	assert_true(g.t.cancelled);
	assert_string_equal(g.channel, "(null)");
	assert_string_equal(g.key, "(null)");
	assert_int_equal(runs_of(s, 2, &rg), 0);
	assert_int_equal(rg.n, 1);
	assert_string_equal(rg.detail, "cancel");
	M->close(s);
}

/* The ids list_ended reports, in order. */
struct ids_got {
	uint64_t ids[16];
	int n;
};

static int
ids_cb(const struct store_timer *t, void *arg)
{
	struct ids_got *g = arg;

	assert_true(t->finished);
	if (g->n < 16)
		g->ids[g->n++] = t->id;
	return 0;
}

/* list_ended: ended timers only, in id order whatever order they ended
 * in, after after_id, at most limit, one owner's or everyone's. */
static void
test_list_ended(void **state)
{
	static const uint64_t order[] = {5, 2, 9, 7};
	struct store *s = open_with(5, 10, 0);
	struct store_timer t;
	struct ids_got g;
	size_t i;

	for (i = 0; i < 4; i++) {
		t = timer_make(order[i], order[i] == 7 ? 2000 : 1000);
		assert_int_equal(M->remember(s, &t), 0);
		t = ended(t, order[i] == 2);
		assert_int_equal(M->remember(s, &t), 0);
	}
	t = timer_make(3, 1000); /* fired, not ended: the daemon's */
	assert_int_equal(M->remember(s, &t), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(M->list_ended(s, 1000, false, 0, 10, ids_cb, &g), 0);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.ids[0], 2);
	assert_int_equal(g.ids[1], 5);
	assert_int_equal(g.ids[2], 9);
	memset(&g, 0, sizeof(g));
	assert_int_equal(M->list_ended(s, 0, true, 2, 2, ids_cb, &g), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.ids[0], 5);
	assert_int_equal(g.ids[1], 7);
	memset(&g, 0, sizeof(g));
	assert_int_equal(M->list_ended(s, 3000, false, 0, 10, ids_cb, &g), 0);
	assert_int_equal(g.n, 0);
	M->close(s);
}

/* At most finished_max ended timers per owner, the oldest dropped with
 * its runs; other owners are not touched; 0 keeps none. */
static void
test_finished_max_per_owner(void **state)
{
	struct store *s = open_with(5, 3, 0);
	struct store_timer t;
	struct runs_got rg;
	struct got g;
	uint64_t id;

	for (id = 1; id <= 2; id++) {
		t = ended(timer_make(100 + id, 2000), false);
		assert_int_equal(M->remember(s, &t), 0);
	}
	for (id = 1; id <= 5; id++) {
		t = ended(timer_make(id, 1000), id == 2);
		assert_int_equal(M->remember(s, &t), 0);
		append(s, id, id, NULL, 0);
	}
	assert_int_equal(get(s, 1, &g), -ENOENT);
	assert_int_equal(get(s, 2, &g), -ENOENT);
	assert_int_equal(runs_of(s, 1, &rg), 0);
	assert_int_equal(rg.n, 0);
	for (id = 3; id <= 5; id++)
		assert_int_equal(get(s, id, &g), 0);
	assert_int_equal(get(s, 101, &g), 0);
	assert_int_equal(get(s, 102, &g), 0);
	/* A pending timer's runs do not count against the bound. */
	t = timer_make(6, 1000);
	assert_int_equal(M->remember(s, &t), 0);
	append(s, 6, 60, NULL, 0);
	assert_int_equal(get(s, 3, &g), 0);
	M->close(s);

	s = open_with(5, 0, 0);
	t = timer_make(1, 1000);
	assert_int_equal(M->remember(s, &t), 0);
	append(s, 1, 1, NULL, 0);
	t = ended(t, false);
	assert_int_equal(M->remember(s, &t), 0);
	assert_int_equal(get(s, 1, &g), -ENOENT);
	assert_int_equal(runs_of(s, 1, &rg), 0);
	assert_int_equal(rg.n, 0);
	M->close(s);
}

/* Ended timers older than finished_keep_ns (a week by default) go. */
static void
test_age(void **state)
{
	struct store *s = open_with(5, 10, 0);
	struct store_timer t = ended(timer_make(1, 1000), false);
	struct got g;

	assert_int_equal(M->remember(s, &t), 0);
	fake_rt_ns += 6 * DAY;
	t = ended(timer_make(2, 1000), true);
	assert_int_equal(M->remember(s, &t), 0);
	assert_int_equal(get(s, 1, &g), 0);
	fake_rt_ns += 2 * DAY;
	assert_int_equal(get(s, 1, &g), -ENOENT);
	assert_int_equal(get(s, 2, &g), 0);
	M->close(s);

	s = open_with(5, 10, DAY);
	t = ended(timer_make(1, 1000), false);
	assert_int_equal(M->remember(s, &t), 0);
	fake_rt_ns += DAY + 1;
	assert_int_equal(get(s, 1, &g), -ENOENT);
	M->close(s);
}

/* The newest ended timer with a key is the one find_key gives; dropping
 * an older one leaves it; reviving one frees the key (the pending timer
 * holds it then), a cancelled one is not revived. */
static void
test_keys_and_revive(void **state)
{
	struct store *s = open_with(5, 2, 0);
	struct store_timer a = ended(timer_make(1, 1000), false);
	struct store_timer b = ended(timer_make(2, 1000), false);
	struct store_timer c = ended(timer_make(3, 1000), true);
	struct store_timer d = ended(timer_make(4, 1000), false);
	struct runs_got rg;
	struct got g;

	a.key = b.key = "k";
	c.key = "kc";
	assert_int_equal(M->remember(s, &a), 0);
	assert_int_equal(M->remember(s, &b), 0);
	assert_int_equal(M->find_key(s, 1000, "k", got_cb, &g), 0);
	assert_int_equal(g.t.id, 2);
	assert_int_equal(M->remember(s, &c), 0); /* drops a */
	assert_int_equal(get(s, 1, &g), -ENOENT);
	memset(&g, 0, sizeof(g));
	assert_int_equal(M->find_key(s, 1000, "k", got_cb, &g), 0);
	assert_int_equal(g.t.id, 2);

	append(s, 2, 20, NULL, 0);
	assert_int_equal(M->revive(s, &b), 0);
	assert_int_equal(get(s, 2, &g), -ENOENT);
	assert_int_equal(M->find_key(s, 1000, "k", got_cb, &g), -ENOENT);
	assert_int_equal(runs_of(s, 2, &rg), 0);
	assert_int_equal(rg.n, 1);
	assert_int_equal(M->revive(s, &c), -ENOENT);
	assert_int_equal(get(s, 3, &g), 0);
	/* Revived, it ends again: the newest of its owner. */
	assert_int_equal(M->remember(s, &b), 0);
	assert_int_equal(M->remember(s, &d), 0); /* drops c */
	assert_int_equal(get(s, 3, &g), -ENOENT);
	assert_int_equal(get(s, 2, &g), 0);
	assert_int_equal(runs_of(s, 2, &rg), 0);
	assert_int_equal(rg.n, 1);
	M->close(s);
}

/* Kept output is reported per owner, as the sqlite store does: runs
 * appended, pushed out of the ring, dropped with their timer. */
static void
test_output_changes(void **state)
{
	struct store *s = open_with(2, 1, 0);
	struct store_timer t = timer_make(1, 1000), u;
	struct runs_got rg;

	assert_int_equal(M->remember(s, &t), 0);
	append(s, 1, 1, NULL, 10);
	append(s, 1, 2, NULL, 20);
	assert_int_equal(out_drain(s, 1000), 30);
	assert_int_equal(out_drain(s, 1000), 0); /* reported once */
	append(s, 1, 3, NULL, 5);		 /* pushes out the 10 */
	assert_int_equal(out_drain(s, 1000), -5);
	assert_int_equal(runs_of(s, 1, &rg), 0);
	assert_int_equal(rg.n, 2);
	assert_int_equal(rg.out_len, 5);
	t = ended(t, false);
	assert_int_equal(M->remember(s, &t), 0);
	u = ended(timer_make(2, 1000), false);
	assert_int_equal(M->remember(s, &u), 0); /* drops timer 1 */
	assert_int_equal(out_drain(s, 1000), -25);
	M->close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_runs_of_told_timers),
	    cmocka_unit_test(test_ended_kept),
	    cmocka_unit_test(test_list_ended),
	    cmocka_unit_test(test_finished_max_per_owner),
	    cmocka_unit_test(test_age),
	    cmocka_unit_test(test_keys_and_revive),
	    cmocka_unit_test(test_output_changes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
