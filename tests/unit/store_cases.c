/*
 * store_cases: the backend-generic store tests (see store_cases.h).
 */
#include "store_cases.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "evd.pb-c.h"

const struct store_backend *store_cases_backend;

int64_t fake_rt_ns = INT64_C(1700000000) * 1000000000;

int64_t
fake_now(int evd_clock)
{
	return evd_clock == EVD__CLOCK__REALTIME ? fake_rt_ns : 1000;
}

struct store *
open_ok(struct fx *f)
{
	struct store *s = NULL;
	int r = B->open(&f->cfg, &s);

	if (r < 0)
		fail_msg("open: %s (%d)", B->errmsg(NULL), r);
	return s;
}

/* A channel timer with every field set, distinct per id. */
struct store_timer
timer_make(uint64_t id)
{
	static const uint8_t payload[] = {'p', 0, 'q', 0xff};
	struct store_timer t;

	memset(&t, 0, sizeof(t));
	t.id = id;
	t.uid = 1000 + (uid_t)id;
	t.gid = 100;
	t.clock = EVD__CLOCK__BOOTTIME;
	t.deadline_ns = 5000000000 + (int64_t)id;
	t.due_rt_ns = fake_rt_ns + 1000 * (int64_t)id;
	strcpy(t.boot_id, BOOT);
	t.created_rt_ns = fake_rt_ns - 7;
	t.channel = "jobs";
	t.payload = payload;
	t.payload_len = sizeof(payload);
	t.misfire = EVD__MISFIRE__MISFIRE_SKIP;
	t.delivery = EVD__DELIVERY__AT_MOST_ONCE;
	t.downtime = EVD__DOWNTIME__DOWNTIME_PAUSED;
	t.max_attempts = 9;
	t.fire_count = 2;
	t.last_fired_rt_ns = fake_rt_ns - 100;
	return t;
}


int
got_cb(const struct store_timer *t, void *arg)
{
	struct got *g = arg;

	if (g->n < 16)
		g->ids[g->n] = t->id;
	g->n++;
	g->t = *t;
	g->channel_null = t->channel == NULL;
	g->key_null = t->key == NULL;
	g->payload_null = t->payload == NULL;
	snprintf(g->channel, sizeof(g->channel), "%s",
		 t->channel ? t->channel : "");
	snprintf(g->key, sizeof(g->key), "%s", t->key ? t->key : "");
	if (t->payload_len <= sizeof(g->payload) && t->payload_len > 0)
		memcpy(g->payload, t->payload, t->payload_len);
	return 0;
}

void
assert_timer_eq(const struct got *g, const struct store_timer *w)
{
	const struct store_timer *t = &g->t;

	assert_int_equal(t->id, w->id);
	assert_int_equal(t->fence, w->fence);
	assert_int_equal(t->uid, w->uid);
	assert_int_equal(t->gid, w->gid);
	assert_int_equal(t->clock, w->clock);
	assert_int_equal(t->deadline_ns, w->deadline_ns);
	assert_int_equal(t->due_rt_ns, w->due_rt_ns);
	assert_string_equal(t->boot_id, w->boot_id);
	assert_int_equal(t->created_rt_ns, w->created_rt_ns);
	assert_int_equal(g->channel_null, w->channel == NULL);
	if (w->channel != NULL)
		assert_string_equal(g->channel, w->channel);
	assert_int_equal(g->key_null, w->key == NULL);
	if (w->key != NULL)
		assert_string_equal(g->key, w->key);
	assert_int_equal(g->payload_null, w->payload == NULL);
	assert_int_equal(t->payload_len, w->payload_len);
	if (w->payload_len > 0)
		assert_memory_equal(g->payload, w->payload, w->payload_len);
	assert_int_equal(t->misfire, w->misfire);
	assert_int_equal(t->delivery, w->delivery);
	assert_int_equal(t->downtime, w->downtime);
	assert_int_equal(t->max_attempts, w->max_attempts);
	assert_int_equal(t->fire_count, w->fire_count);
	assert_int_equal(t->last_fired_rt_ns, w->last_fired_rt_ns);
}

int
claim_all(struct store *s, struct got *g)
{
	memset(g, 0, sizeof(*g));
	return B->claim(s, INT64_MAX, got_cb, g);
}

int
get(struct store *s, uint64_t id, struct got *g)
{
	memset(g, 0, sizeof(*g));
	return B->get_timer(s, id, got_cb, g);
}

int
schedule1(struct store *s, const struct store_timer *t)
{
	int r;

	assert_int_equal(B->begin(s), 0);
	r = B->schedule(s, t);
	if (r < 0) {
		B->rollback(s);
		return r;
	}
	assert_int_equal(B->commit(s), 0);
	return 0;
}


static void
test_timer_round_trip(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct store_timer a = timer_make(1), b = timer_make(2);
	struct store_timer c = timer_make(3);
	struct got g;

	/* Nulls and empties stay apart; a boot id that is not a UUID
	 * survives as text, an empty one as empty. */
	b.channel = NULL;
	b.payload = NULL;
	b.payload_len = 0;
	b.key = "k-b";
	strcpy(b.boot_id, "not-a-uuid");
	c.payload = (const uint8_t *)"";
	c.payload_len = 0;
	c.boot_id[0] = '\0';
	c.fence = 4;
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->schedule(s, &a), 0);
	assert_int_equal(B->schedule(s, &b), 0);
	assert_int_equal(B->schedule(s, &c), 0);
	assert_int_equal(B->commit(s), 0);

	assert_int_equal(get(s, 1, &g), 0);
	assert_int_equal(g.n, 1);
	assert_timer_eq(&g, &a);
	assert_false(g.t.finished);
	assert_int_equal(get(s, 2, &g), 0);
	assert_timer_eq(&g, &b);
	assert_int_equal(get(s, 3, &g), 0);
	assert_timer_eq(&g, &c);
	assert_int_equal(get(s, 4, &g), -ENOENT);
	assert_int_equal(g.n, 0);

	/* The same id twice. */
	assert_int_equal(schedule1(s, &a), -EEXIST);
	B->close(s);
}

static void
test_key_unique_among_pending(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct store_timer t = timer_make(1);
	struct got g;

	t.key = "once";
	assert_int_equal(schedule1(s, &t), 0);
	t.id = 2;
	assert_int_equal(schedule1(s, &t), -EEXIST);
	assert_non_null(strstr(B->errmsg(s), "already exists"));
	/* Another owner may use the same key; no key is no constraint. */
	t.uid++;
	assert_int_equal(schedule1(s, &t), 0);
	t.uid--;
	t.key = NULL;
	t.id = 3;
	assert_int_equal(schedule1(s, &t), 0);
	t.id = 4;
	assert_int_equal(schedule1(s, &t), 0);

	/* Finished, the key is free again. */
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->retire(s, 1, 0, NULL), 0);
	assert_int_equal(B->commit(s), 0);
	t.id = 5;
	t.key = "once";
	assert_int_equal(schedule1(s, &t), 0);
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 4);
	B->close(s);
}

/* A row error (store.h) changes nothing and keeps the batch: what came
 * before and after it in the same transaction commits. */
static void
test_row_error_keeps_batch(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct store_timer a = timer_make(1), b = timer_make(2);
	struct store_timer c = timer_make(3);
	struct got g;

	a.key = "k";
	b.key = "k";
	b.uid = a.uid;
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->schedule(s, &a), 0);
	/* The same key, then the same id: each fails alone. */
	assert_int_equal(B->schedule(s, &b), -EEXIST);
	assert_true(STORE_ROW_ERROR(-EEXIST));
	assert_non_null(strstr(B->errmsg(s), "with this key already exists"));
	c.id = 1;
	assert_int_equal(B->schedule(s, &c), -EEXIST);
	assert_non_null(strstr(B->errmsg(s), "timer 1 already exists"));
	c.id = 3;
	assert_int_equal(B->schedule(s, &c), 0);
	assert_int_equal(B->commit(s), 0);
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(get(s, 2, &g), -ENOENT);
	B->close(s);
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

/* list_ended: finished and cancelled rows only, in id order, after
 * after_id, at most limit, one owner's or everyone's. */
static void
test_list_ended(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct store_timer t;
	struct ids_got g;
	uint64_t id;

	for (id = 1; id <= 6; id++) {
		t = timer_make(id);
		t.uid = id == 4 ? 2000 : 1000;
		assert_int_equal(schedule1(s, &t), 0);
	}
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->retire(s, 5, 0, NULL), 0);
	assert_int_equal(B->retire(s, 2, 0, NULL), 0);
	assert_int_equal(B->cancel(s, 4), 0);
	assert_int_equal(B->retire(s, 6, 0, NULL), 0);
	assert_int_equal(B->commit(s), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->list_ended(s, 1000, false, 0, 10, ids_cb, &g), 0);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.ids[0], 2);
	assert_int_equal(g.ids[1], 5);
	assert_int_equal(g.ids[2], 6);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->list_ended(s, 0, true, 2, 2, ids_cb, &g), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.ids[0], 4);
	assert_int_equal(g.ids[1], 5);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->list_ended(s, 3000, false, 0, 10, ids_cb, &g), 0);
	assert_int_equal(g.n, 0);
	B->close(s);
}

static void
test_retire(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct store_timer t = timer_make(1), next;
	struct got g;

	assert_int_equal(schedule1(s, &t), 0);
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->retire(s, 1, 1, NULL), -ESTALE);
	assert_int_equal(B->retire(s, 99, 0, NULL), -ESTALE);

	/* A repeating timer comes back as next. */
	next = t;
	next.deadline_ns += 60;
	next.due_rt_ns += 60;
	strcpy(next.boot_id, "11111111-2222-3333-4444-555555555555");
	next.fire_count = 3;
	next.last_fired_rt_ns = fake_rt_ns;
	assert_int_equal(B->retire(s, 1, 1, &next), -ESTALE);
	assert_int_equal(B->retire(s, 1, 0, &next), 0);
	assert_int_equal(B->commit(s), 0);
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 1);
	assert_timer_eq(&g, &next);

	/* For good: no longer claimed, still there, finished. */
	fake_rt_ns += 5;
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->retire(s, 1, 0, NULL), 0);
	assert_int_equal(B->commit(s), 0);
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 0);
	assert_int_equal(get(s, 1, &g), 0);
	assert_true(g.t.finished);
	assert_int_equal(g.t.finished_rt_ns, fake_rt_ns);
	assert_int_equal(g.t.fire_count, 4);
	assert_int_equal(g.t.last_fired_rt_ns, fake_rt_ns);
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->retire(s, 1, 0, NULL), -ESTALE);
	assert_int_equal(B->retire(s, 1, 0, &next), -ESTALE);
	/* A finished timer is not pending: not rescheduled, not
	 * cancelled. */
	assert_int_equal(B->reschedule(s, &next), -ENOENT);
	assert_int_equal(B->cancel(s, 1), -ENOENT);
	B->rollback(s);
	B->close(s);
}

static void
test_reschedule(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct store_timer t = timer_make(1), u;
	struct got g;

	assert_int_equal(schedule1(s, &t), 0);
	u = t;
	u.deadline_ns = 42;
	u.due_rt_ns = 43;
	strcpy(u.boot_id, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
	u.fire_count = 77; /* not rewritten by reschedule */
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->reschedule(s, &u), 0);
	u.id = 2;
	assert_int_equal(B->reschedule(s, &u), -ENOENT);
	assert_int_equal(B->commit(s), 0);
	u.id = 1;
	u.fire_count = t.fire_count;
	assert_int_equal(get(s, 1, &g), 0);
	assert_timer_eq(&g, &u);
	B->close(s);
}

/* Schedule 5: the opaque schedule blob and the paused flag round-trip;
 * reschedule writes clock and paused; a finished timer comes back with
 * revive, and only a finished one. */
static void
test_sched_paused_revive(void **state)
{
	static const uint8_t blob[] = {0x2a, 0x02, 0x08, 0x05};
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct store_timer t = timer_make(1), u;
	struct got g;

	t.sched = blob;
	t.sched_len = sizeof(blob);
	t.paused = true;
	assert_int_equal(schedule1(s, &t), 0);
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 0 + 1);
	assert_int_equal(g.t.paused, true);
	assert_int_equal(g.t.sched_len, sizeof(blob));

	u = t;
	u.paused = false;
	u.clock = EVD__CLOCK__REALTIME;
	u.deadline_ns = 99;
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->reschedule(s, &u), 0);
	/* Revive is for finished timers only. */
	assert_int_equal(B->revive(s, &u), -ENOENT);
	assert_int_equal(B->retire(s, 1, 0, NULL), 0);
	u.deadline_ns = 1234;
	u.clock = EVD__CLOCK__MONOTONIC;
	assert_int_equal(B->revive(s, &u), 0);
	assert_int_equal(B->commit(s), 0);
	assert_int_equal(get(s, 1, &g), 0);
	assert_int_equal(g.t.finished, false);
	assert_int_equal(g.t.paused, false);
	assert_int_equal(g.t.clock, EVD__CLOCK__MONOTONIC);
	assert_int_equal(g.t.deadline_ns, 1234);
	assert_int_equal(g.t.fire_count, t.fire_count + 1);
	B->close(s);
}

struct runs_got {
	int n;
	uint64_t fire_ids[16];
	char detail[32];
};

static int
runs_cb(const struct store_run *r, void *arg)
{
	struct runs_got *g = arg;

	if (g->n < 16)
		g->fire_ids[g->n] = r->fire_id;
	if (g->n == 0)
		snprintf(g->detail, sizeof(g->detail), "%s",
			 r->detail ? r->detail : "(null)");
	g->n++;
	return 0;
}

static int
runs_of(struct store *s, uint64_t id, struct runs_got *g)
{
	memset(g, 0, sizeof(*g));
	return B->runs(s, id, runs_cb, g);
}

static void
append_run(struct store *s, uint64_t timer_id, uint64_t fire_id,
	   const char *detail)
{
	struct store_run r = {
	    .timer_id = timer_id,
	    .fire_id = fire_id,
	    .due_rt_ns = 10,
	    .fired_rt_ns = 20,
	    .lateness_ns = 10,
	    .outcome = EVD__RUN_OUTCOME__RUN_QUEUED,
	    .detail = detail,
	};

	assert_int_equal(B->run_append(s, &r), 0);
}

/* A cancel ends a timer as a last fire does: it stays, cancelled, with
 * its runs and its key, and is not brought back (issue 13). */
static void
test_cancel(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct store_timer t = timer_make(1), u;
	struct runs_got rg;
	struct got g;

	t.key = "once";
	assert_int_equal(schedule1(s, &t), 0);
	assert_int_equal(B->begin(s), 0);
	append_run(s, 1, 100, NULL);
	assert_int_equal(B->cancel(s, 2), -ENOENT);
	assert_int_equal(B->cancel(s, 1), 0);
	assert_int_equal(B->cancel(s, 1), -ENOENT);
	assert_int_equal(B->commit(s), 0);
	assert_int_equal(get(s, 1, &g), 0);
	assert_true(g.t.finished);
	assert_true(g.t.cancelled);
	assert_int_equal(g.t.finished_rt_ns, fake_rt_ns);
	assert_string_equal(g.key, "once");
	assert_int_equal(runs_of(s, 1, &rg), 0);
	assert_int_equal(rg.n, 1);
	assert_int_equal(rg.fire_ids[0], 100);
	/* Its key finds it; it is no longer claimed, retired or revived. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->find_key(s, t.uid, "once", got_cb, &g), 0);
	assert_int_equal(g.t.id, 1);
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 0);
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->retire(s, 1, 0, NULL), -ESTALE);
	u = t;
	assert_int_equal(B->revive(s, &u), -ENOENT);
	B->rollback(s);
	/* A new timer may take the key: only pending ones hold it unique. */
	u = timer_make(2);
	u.uid = t.uid;
	u.key = "once";
	assert_int_equal(schedule1(s, &u), 0);
	B->close(s);
}

static void
test_runs_pruned(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct runs_got g;
	uint64_t i;

	assert_int_equal(B->begin(s), 0);
	for (i = 1; i <= 10; i++) {
		append_run(s, 1, i, i == 10 ? "late" : NULL);
		append_run(s, 2, 100 + i, NULL);
	}
	assert_int_equal(B->commit(s), 0);
	assert_int_equal(runs_of(s, 1, &g), 0);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.fire_ids[0], 10);
	assert_int_equal(g.fire_ids[1], 9);
	assert_int_equal(g.fire_ids[2], 8);
	assert_string_equal(g.detail, "late");
	assert_int_equal(runs_of(s, 2, &g), 0);
	assert_int_equal(g.n, 3);
	assert_int_equal(g.fire_ids[0], 110);
	assert_int_equal(runs_of(s, 3, &g), 0);
	assert_int_equal(g.n, 0);
	B->close(s);

	/* No history kept at all. */
	f->cfg.history_per_timer = 0;
	s = open_ok(f);
	append_run(s, 3, 1, NULL);
	assert_int_equal(runs_of(s, 3, &g), 0);
	assert_int_equal(g.n, 0);
	B->close(s);
}

static int
stop_cb(const struct store_timer *t, void *arg)
{
	int *n = arg;

	return ++*n == 2 ? -ECANCELED : 0;
}

static void
test_claim_order_and_horizon(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	static const uint64_t ids[] = {5, 1, 9, 3};
	struct store_timer t;
	struct got g;
	size_t i;
	int n = 0;

	assert_int_equal(B->begin(s), 0);
	for (i = 0; i < 4; i++) {
		t = timer_make(ids[i]);
		t.due_rt_ns = 1000 - (int64_t)ids[i]; /* reverse of id */
		assert_int_equal(B->schedule(s, &t), 0);
	}
	assert_int_equal(B->commit(s), 0);
	/* Id order whatever the insertion or deadline order. */
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 4);
	assert_int_equal(g.ids[0], 1);
	assert_int_equal(g.ids[1], 3);
	assert_int_equal(g.ids[2], 5);
	assert_int_equal(g.ids[3], 9);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->claim(s, 995, got_cb, &g), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.ids[0], 5);
	assert_int_equal(g.ids[1], 9);
	/* A callback's error stops the scan and comes back. */
	assert_int_equal(B->claim(s, INT64_MAX, stop_cb, &n), -ECANCELED);
	assert_int_equal(n, 2);
	/* ... and the statement is usable again. */
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 4);
	B->close(s);
}

/* A claim over many rows: more than the reader's batches in flight, so
 * it waits for the callback, and every row comes in id order with its
 * own strings (keys differ per row; a payload only on even ids). */
#define MANY 5000

struct many_got {
	int n;
	int stop_at; /* 0: never */
	bool bad;
};

static int
many_cb(const struct store_timer *t, void *arg)
{
	struct many_got *g = arg;
	char key[32];

	g->n++;
	snprintf(key, sizeof(key), "k%d", g->n);
	if (t->id != (uint64_t)g->n || t->key == NULL ||
	    strcmp(t->key, key) != 0 || t->channel == NULL ||
	    strcmp(t->channel, "jobs") != 0 ||
	    (g->n % 2 == 0) != (t->payload != NULL) ||
	    (t->payload != NULL &&
	     (t->payload_len != 3 || memcmp(t->payload, "abc", 3) != 0)) ||
	    strcmp(t->boot_id, BOOT) != 0)
		g->bad = true;
	return g->n == g->stop_at ? -ECANCELED : 0;
}

static void
test_claim_many(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct many_got g;
	char key[32];
	int i;

	assert_int_equal(B->begin(s), 0);
	for (i = 1; i <= MANY; i++) {
		struct store_timer t = timer_make((uint64_t)i);

		snprintf(key, sizeof(key), "k%d", i);
		t.key = key;
		t.payload = i % 2 == 0 ? (const uint8_t *)"abc" : NULL;
		t.payload_len = i % 2 == 0 ? 3 : 0;
		assert_int_equal(B->schedule(s, &t), 0);
	}
	assert_int_equal(B->commit(s), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->claim(s, INT64_MAX, many_cb, &g), 0);
	assert_int_equal(g.n, MANY);
	assert_false(g.bad);
	/* Stopped with batches read ahead: the error comes back, and the
	 * store is usable again. */
	memset(&g, 0, sizeof(g));
	g.stop_at = MANY / 2 + 1;
	assert_int_equal(B->claim(s, INT64_MAX, many_cb, &g), -ECANCELED);
	assert_int_equal(g.n, MANY / 2 + 1);
	assert_false(g.bad);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->claim(s, INT64_MAX, many_cb, &g), 0);
	assert_int_equal(g.n, MANY);
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->cancel(s, 1), 0);
	assert_int_equal(B->commit(s), 0);
	B->close(s);
}

/* A claim over ids spanning more than the sqlite reader's split point
 * (CLAIM_SPLIT_MIN): two blocks far apart, read by two readers there.
 * Every row comes once, with its own strings, each block in id order;
 * a callback's error stops both readers; a horizon holds in both. */
#define SPLIT_N 3000
#define SPLIT_HI 400000

struct split_got {
	int n;
	int stop_at;
	uint64_t last_lo, last_hi;
	unsigned char seen[2][SPLIT_N + 1];
	bool bad;
};

static int
split_cb(const struct store_timer *t, void *arg)
{
	struct split_got *g = arg;
	bool hi = t->id >= SPLIT_HI;
	uint64_t k = hi ? t->id - SPLIT_HI : t->id;
	uint64_t *last = hi ? &g->last_hi : &g->last_lo;
	char key[32];

	g->n++;
	snprintf(key, sizeof(key), "k%llu", (unsigned long long)t->id);
	if (k < 1 || k > SPLIT_N || g->seen[hi][k]++ != 0 || t->id <= *last ||
	    t->key == NULL || strcmp(t->key, key) != 0 ||
	    strcmp(t->boot_id, BOOT) != 0)
		g->bad = true;
	*last = t->id;
	return g->n == g->stop_at ? -ECANCELED : 0;
}

static void
test_claim_split(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct split_got *g = calloc(1, sizeof(*g));
	char key[32];
	int i, half;

	assert_non_null(g);
	assert_int_equal(B->begin(s), 0);
	for (half = 0; half < 2; half++)
		for (i = 1; i <= SPLIT_N; i++) {
			uint64_t id = (uint64_t)i + (half ? SPLIT_HI : 0);
			struct store_timer t = timer_make(id);

			snprintf(key, sizeof(key), "k%llu", (unsigned long long)id);
			t.key = key;
			t.uid = 1000; /* (uid, key) unique: ids are */
			assert_int_equal(B->schedule(s, &t), 0);
		}
	assert_int_equal(B->commit(s), 0);
	assert_int_equal(B->claim(s, INT64_MAX, split_cb, g), 0);
	assert_int_equal(g->n, 2 * SPLIT_N);
	assert_false(g->bad);
	/* Stopped with both readers ahead: the error comes back, and the
	 * store is usable again. */
	memset(g, 0, sizeof(*g));
	g->stop_at = SPLIT_N + 7;
	assert_int_equal(B->claim(s, INT64_MAX, split_cb, g), -ECANCELED);
	assert_int_equal(g->n, SPLIT_N + 7);
	assert_false(g->bad);
	/* The horizon: the low block's first 100 only (due_rt_ns grows
	 * with the id). */
	memset(g, 0, sizeof(*g));
	assert_int_equal(B->claim(s, fake_rt_ns + 1000 * 100, split_cb, g), 0);
	assert_int_equal(g->n, 100);
	assert_false(g->bad);
	memset(g, 0, sizeof(*g));
	assert_int_equal(B->claim(s, INT64_MAX, split_cb, g), 0);
	assert_int_equal(g->n, 2 * SPLIT_N);
	assert_false(g->bad);
	free(g);
	B->close(s);
}

struct msgs_got {
	int n;
	struct store_msg m[8];
	char channel[8][16];
	char reason[8][32]; /* "(null)" for none */
};

static int
msgs_cb(const struct store_msg *m, void *arg)
{
	struct msgs_got *g = arg;

	if (g->n < 8) {
		g->m[g->n] = *m;
		snprintf(g->channel[g->n], 16, "%s", m->channel);
		snprintf(g->reason[g->n], 32, "%s",
			 m->reason != NULL ? m->reason : "(null)");
		g->m[g->n].reason = NULL;
		g->m[g->n].channel = NULL;
		g->m[g->n].payload = NULL;
	}
	g->n++;
	return 0;
}

static void
test_messages(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct store_msg m = {
	    .timer_id = 4,
	    .owner = 1000,
	    .channel = "jobs",
	    .payload = (const uint8_t *)"xy",
	    .payload_len = 2,
	    .due_rt_ns = 1,
	    .fired_rt_ns = 2,
	    .lateness_ns = 1,
	    .attempts = 0,
	    .max_attempts = 5,
	    .delivery = EVD__DELIVERY__AT_LEAST_ONCE,
	};
	static const uint64_t fire_ids[] = {30, 10, 20};
	struct msgs_got g;
	size_t i;

	assert_int_equal(B->begin(s), 0);
	for (i = 0; i < 3; i++) {
		m.fire_id = fire_ids[i];
		assert_int_equal(B->enqueue(s, &m), 0);
	}
	m.fire_id = 20;
	m.attempts = 5;
	m.dead = true;
	m.reason = "rejected: exit 3"; /* 7: kept with the message */
	assert_int_equal(B->update_msg(s, &m), 0);
	m.reason = NULL;
	m.fire_id = 21;
	assert_int_equal(B->update_msg(s, &m), -ENOENT);
	assert_int_equal(B->ack(s, 30), 0);
	assert_int_equal(B->ack(s, 30), -ENOENT);
	assert_int_equal(B->commit(s), 0);
	B->close(s);

	s = open_ok(f);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->load_messages(s, msgs_cb, &g), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.m[0].fire_id, 10);
	assert_int_equal(g.m[0].attempts, 0);
	assert_false(g.m[0].dead);
	assert_int_equal(g.m[0].timer_id, 4);
	assert_int_equal(g.m[0].owner, 1000);
	assert_int_equal(g.m[0].payload_len, 2);
	assert_int_equal(g.m[0].max_attempts, 5);
	assert_int_equal(g.m[0].fired_rt_ns, 2);
	assert_string_equal(g.channel[0], "jobs");
	assert_string_equal(g.reason[0], "(null)");
	assert_int_equal(g.m[1].fire_id, 20);
	assert_int_equal(g.m[1].attempts, 5);
	assert_true(g.m[1].dead);
	assert_string_equal(g.reason[1], "rejected: exit 3");
	B->close(s);
}


static void
test_meta(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	int64_t v = 5;

	assert_int_equal(B->meta_get(s, "next_id", &v), -ENOENT);
	assert_int_equal(v, 5);
	assert_int_equal(B->meta_put(s, "next_id", 10), 0);
	assert_int_equal(B->meta_put(s, "next_id", INT64_MIN), 0);
	B->close(s);
	s = open_ok(f);
	assert_int_equal(B->meta_get(s, "next_id", &v), 0);
	assert_int_equal(v, INT64_MIN);
	B->close(s);
}

/* The largest stored ids, finished timers and dead messages included. */
static void
test_max_ids(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct store_timer t = timer_make(7);
	struct store_msg m = {.fire_id = 9, .channel = "c", .dead = true};
	uint64_t ti = 1, fi = 1;

	assert_int_equal(B->max_ids(s, &ti, &fi), 0);
	assert_int_equal(ti, 0);
	assert_int_equal(fi, 0);
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->schedule(s, &t), 0);
	assert_int_equal(B->retire(s, 7, 0, NULL), 0);
	assert_int_equal(B->enqueue(s, &m), 0);
	assert_int_equal(B->commit(s), 0);
	assert_int_equal(B->max_ids(s, &ti, &fi), 0);
	assert_int_equal(ti, 7);
	assert_int_equal(fi, 9);
	B->close(s);
}

static void
test_rollback_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct store_timer t = timer_make(1);
	struct store_msg m = {.fire_id = 1, .channel = "c"};
	struct msgs_got mg;
	struct runs_got rg;
	struct got g;
	int64_t v;

	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->schedule(s, &t), 0);
	assert_int_equal(B->enqueue(s, &m), 0);
	append_run(s, 1, 1, NULL);
	assert_int_equal(B->meta_put(s, "x", 1), 0);
	B->rollback(s);
	/* Twice is harmless. */
	B->rollback(s);
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 0);
	memset(&mg, 0, sizeof(mg));
	assert_int_equal(B->load_messages(s, msgs_cb, &mg), 0);
	assert_int_equal(mg.n, 0);
	assert_int_equal(runs_of(s, 1, &rg), 0);
	assert_int_equal(rg.n, 0);
	assert_int_equal(B->meta_get(s, "x", &v), -ENOENT);
	/* The next batch works. */
	assert_int_equal(schedule1(s, &t), 0);
	B->close(s);
}

static void
test_finished_timers_pruned(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct store_timer t;
	struct runs_got rg;
	struct got g;
	uint64_t id;
	int64_t v;
	int i;

	assert_int_equal(B->begin(s), 0);
	for (id = 1; id <= 4; id++) {
		t = timer_make(id);
		assert_int_equal(B->schedule(s, &t), 0);
		append_run(s, id, id, NULL);
	}
	append_run(s, 50, 50, NULL); /* of no stored timer */
	assert_int_equal(B->retire(s, 1, 0, NULL), 0);
	assert_int_equal(B->cancel(s, 4), 0);
	assert_int_equal(B->commit(s), 0);
	fake_rt_ns += INT64_C(6) * 24 * 3600 * 1000000000;
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->retire(s, 2, 0, NULL), 0);
	assert_int_equal(B->commit(s), 0);

	/* Timer 1 finished and timer 4 was cancelled 8 days ago, timer 2
	 * finished two days ago. */
	fake_rt_ns += INT64_C(2) * 24 * 3600 * 1000000000;
	for (i = 0; i < 600; i++) {
		assert_int_equal(B->begin(s), 0);
		assert_int_equal(B->commit(s), 0);
	}
	assert_int_equal(get(s, 1, &g), -ENOENT);
	assert_int_equal(runs_of(s, 1, &rg), 0);
	assert_int_equal(rg.n, 0);
	assert_int_equal(get(s, 4, &g), -ENOENT);
	assert_int_equal(runs_of(s, 4, &rg), 0);
	assert_int_equal(rg.n, 0);
	assert_int_equal(runs_of(s, 50, &rg), 0);
	assert_int_equal(rg.n, 0);
	assert_int_equal(get(s, 2, &g), 0);
	assert_true(g.t.finished);
	assert_int_equal(runs_of(s, 2, &rg), 0);
	assert_int_equal(rg.n, 1);
	assert_int_equal(get(s, 3, &g), 0);
	assert_false(g.t.finished);
	assert_int_equal(runs_of(s, 3, &rg), 0);
	assert_int_equal(rg.n, 1);
	/* The sweep's place survives a restart. */
	assert_int_equal(B->meta_get(s, "store.prune_cursor", &v), 0);
	B->close(s);

	/* A shorter finished_keep_ns: timer 2 is old enough now. */
	f->cfg.finished_keep_ns = INT64_C(24) * 3600 * 1000000000;
	s = open_ok(f);
	for (i = 0; i < 600; i++) {
		assert_int_equal(B->begin(s), 0);
		assert_int_equal(B->commit(s), 0);
	}
	assert_int_equal(get(s, 2, &g), -ENOENT);
	assert_int_equal(get(s, 3, &g), 0);
	B->close(s);
}

/* Output changes reported, by uid - 1000 (uids 1000..1009). */
struct out_got {
	int64_t bytes[10];
	int calls;
};

static int
out_cb(uid_t uid, int64_t bytes, void *arg)
{
	struct out_got *g = arg;

	if (uid < 1000 || uid >= 1010)
		fail_msg("output change for uid %u", (unsigned)uid);
	g->bytes[uid - 1000] += bytes;
	g->calls++;
	return 0;
}

static struct out_got
drain(struct store *s)
{
	struct out_got g;

	memset(&g, 0, sizeof g);
	assert_int_equal(B->output_changes(s, out_cb, &g), 0);
	return g;
}

static void
append_out(struct store *s, uint64_t timer_id, uint64_t fire_id,
	   size_t out_len, size_t err_len)
{
	static const uint8_t buf[200];
	struct store_run r = {
	    .timer_id = timer_id,
	    .fire_id = fire_id,
	    .outcome = EVD__RUN_OUTCOME__RUN_EXEC_EXITED,
	    .out = out_len > 0 ? buf : NULL,
	    .out_len = out_len,
	    .err = err_len > 0 ? buf : NULL,
	    .err_len = err_len,
	};

	assert_int_equal(B->run_append(s, &r), 0);
}

/* Retained output is reported per owner as runs come and go, committed
 * changes only, and all of it again after a restart (issue 14, item 6:
 * "retained hook output counts against the owner's byte quota"). */
static void
test_output_accounting(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	struct store_timer t;
	struct out_got g;
	uint64_t id;
	int i;

	assert_int_equal(drain(s).calls, 0);
	assert_int_equal(B->begin(s), 0);
	for (id = 1; id <= 3; id++) {
		t = timer_make(id); /* uid 1000 + id */
		assert_int_equal(B->schedule(s, &t), 0);
	}
	append_out(s, 1, 1, 10, 5);
	append_out(s, 3, 2, 0, 0);  /* no output: nothing to charge */
	append_out(s, 99, 3, 50, 50); /* no stored timer: nobody's */
	assert_int_equal(drain(s).calls, 0); /* not committed yet */
	assert_int_equal(B->commit(s), 0);
	g = drain(s);
	assert_int_equal(g.bytes[1], 15);
	assert_int_equal(g.calls, 1);
	assert_int_equal(drain(s).calls, 0); /* reported once */

	/* A rolled-back batch changed nothing. */
	assert_int_equal(B->begin(s), 0);
	append_out(s, 2, 4, 100, 0);
	B->rollback(s);
	assert_int_equal(drain(s).calls, 0);

	/* History keeps 3 runs: the 4th append prunes the 1st's output. */
	assert_int_equal(B->begin(s), 0);
	for (i = 0; i < 4; i++)
		append_out(s, 2, 10 + (uint64_t)i, 10 + (size_t)i, 0);
	assert_int_equal(B->commit(s), 0);
	g = drain(s);
	assert_int_equal(g.bytes[2], 11 + 12 + 13);
	assert_int_equal(B->begin(s), 0);
	append_out(s, 2, 20, 0, 0); /* prunes the run of 11 bytes */
	assert_int_equal(B->commit(s), 0);
	g = drain(s);
	assert_int_equal(g.bytes[2], -11);

	/* A restart reports what is kept, per owner. */
	B->close(s);
	s = open_ok(f);
	g = drain(s);
	assert_int_equal(g.bytes[1], 15);
	assert_int_equal(g.bytes[2], 12 + 13);
	assert_int_equal(g.bytes[3], 0);
	assert_int_equal(g.calls, 2);

	/* A cancelled timer keeps its runs' output, as a finished one
	 * does; the sweep of both releases it. */
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->cancel(s, 2), 0);
	assert_int_equal(B->commit(s), 0);
	assert_int_equal(drain(s).calls, 0); /* cancelled, still kept */
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->retire(s, 1, 0, NULL), 0);
	assert_int_equal(B->commit(s), 0);
	assert_int_equal(drain(s).calls, 0); /* finished, still kept */
	fake_rt_ns += INT64_C(8) * 24 * 3600 * 1000000000;
	for (i = 0; i < 600; i++) {
		assert_int_equal(B->begin(s), 0);
		assert_int_equal(B->commit(s), 0);
	}
	g = drain(s);
	assert_int_equal(g.bytes[1], -15);
	assert_int_equal(g.bytes[2], -(12 + 13));
	B->close(s);
	s = open_ok(f);
	assert_int_equal(drain(s).calls, 0);
	B->close(s);
}

const struct CMUnitTest store_cases[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, store_fx_setup, \
                                              store_fx_teardown)
	T(test_timer_round_trip),
	T(test_key_unique_among_pending),
	T(test_row_error_keeps_batch),
	T(test_list_ended),
	T(test_retire),
	T(test_reschedule),
	T(test_sched_paused_revive),
	T(test_cancel),
	T(test_runs_pruned),
	T(test_claim_order_and_horizon),
	T(test_claim_many),
	T(test_claim_split),
	T(test_messages),
	T(test_meta),
	T(test_max_ids),
	T(test_rollback_leaves_nothing),
	T(test_finished_timers_pruned),
	T(test_output_accounting),
#undef T
};

const size_t store_cases_count = sizeof(store_cases) / sizeof(store_cases[0]);
