/*
 * Unit tests of the SQLite store (daemon/store_sqlite.c), with a glance
 * at the memory store and the backend table.
 *
 * Each test gets a fresh state directory from mkdtemp and removes it.
 * The fault cases that need another process run in a forked child that
 * reports through its exit status: a second evd on the same directory,
 * permissions (as root the child drops to nobody, where they apply; if it
 * cannot, the test is skipped and says why), and a full disk
 * (RLIMIT_FSIZE, which binds root too). Time is a fake clock, so the
 * sweep of old finished timers is tested without waiting a week.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "clock.h"
#include "evd.pb-c.h"
#include "store.h"

#define B (&store_sqlite_backend)
#define BOOT "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
#define NOBODY 65534
#define EXIT_SKIP 77

struct fx {
	char dir[64];
	struct store_config cfg;
};

static int64_t fake_rt_ns = INT64_C(1700000000) * 1000000000;

static int64_t
fake_now(int evd_clock)
{
	return evd_clock == EVD__CLOCK__REALTIME ? fake_rt_ns : 1000;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_store_sqlite.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->cfg.state_dir = f->dir;
	f->cfg.sync_full = false;
	f->cfg.history_per_timer = 3;
	clock_set_source(fake_now);
	*state = f;
	return 0;
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	chmod(f->dir, 0700);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	clock_set_source(NULL);
	return 0;
}

static struct store *
open_ok(struct fx *f)
{
	struct store *s = NULL;
	int r = B->open(&f->cfg, &s);

	if (r < 0)
		fail_msg("open: %s (%d)", B->errmsg(NULL), r);
	return s;
}

/* A channel timer with every field set, distinct per id. */
static struct store_timer
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

/* A store_timer with its strings copied out of the callback. */
struct got {
	int n;
	uint64_t ids[16];
	struct store_timer t;
	char channel[32], key[32];
	uint8_t payload[16];
	bool channel_null, key_null, payload_null;
};

static int
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

static void
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

static int
claim_all(struct store *s, struct got *g)
{
	memset(g, 0, sizeof(*g));
	return B->claim(s, INT64_MAX, got_cb, g);
}

static int
get(struct store *s, uint64_t id, struct got *g)
{
	memset(g, 0, sizeof(*g));
	return B->get_timer(s, id, got_cb, g);
}

static int
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

static int
user_version(struct fx *f)
{
	char path[128];
	sqlite3 *db;
	sqlite3_stmt *st;
	int v;

	snprintf(path, sizeof(path), "%s/evd.db", f->cfg.state_dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void
sql(struct fx *f, const char *text)
{
	char path[128];
	sqlite3 *db;

	snprintf(path, sizeof(path), "%s/evd.db", f->cfg.state_dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, text, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void
test_schema_and_reopen(void **state)
{
	struct fx *f = *state;
	struct store_timer t = timer_make(7);
	struct store *s;
	struct stat st;
	struct got g;
	char sub[96];

	/* The state directory is created, private. */
	snprintf(sub, sizeof(sub), "%s/sub", f->dir);
	f->cfg.state_dir = sub;
	s = open_ok(f);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	strcat(sub, "/evd.db");
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	sub[strlen(sub) - strlen("/evd.db")] = '\0';
	assert_int_equal(schedule1(s, &t), 0);
	B->close(s);
	assert_int_equal(user_version(f), 7);

	/* A version 1 database is migrated forward on open, its rows kept. */
	sql(f, "DROP INDEX timers_key_any");
	sql(f, "DROP TABLE channels");
	sql(f, "ALTER TABLE timers DROP COLUMN exec");
	sql(f, "ALTER TABLE timers DROP COLUMN sched");
	sql(f, "ALTER TABLE timers DROP COLUMN paused");
	sql(f, "ALTER TABLE runs DROP COLUMN exit_code");
	sql(f, "ALTER TABLE runs DROP COLUMN signal");
	sql(f, "ALTER TABLE runs DROP COLUMN duration_ns");
	sql(f, "ALTER TABLE runs DROP COLUMN stdout");
	sql(f, "ALTER TABLE runs DROP COLUMN stderr");
	sql(f, "ALTER TABLE messages DROP COLUMN reason");
	sql(f, "PRAGMA user_version = 1");
	s = open_ok(f);
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 1);
	t.channel = "1007:jobs"; /* 6: in its owner's namespace */
	assert_timer_eq(&g, &t);
	B->close(s);
	assert_int_equal(user_version(f), 7);
	/* Each fails if its migration step did not run. */
	sql(f, "DROP INDEX timers_key_any");
	sql(f, "DROP TABLE channels");
	sql(f, "ALTER TABLE timers DROP COLUMN exec");
	sql(f, "ALTER TABLE timers DROP COLUMN paused");
	sql(f, "ALTER TABLE messages DROP COLUMN reason");

	/* A database from the future is refused, not touched. */
	sql(f, "PRAGMA user_version = 99");
	s = NULL;
	assert_int_equal(B->open(&f->cfg, &s), -EPROTO);
	assert_null(s);
	assert_non_null(strstr(B->errmsg(NULL), "created by a newer evd"));
	assert_int_equal(user_version(f), 99);
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

/* What version 6's migration left of each timer. */
struct mig_got {
	char channel[8][48], key[8][16], argv1[8][16], on_failure[8][48];
	bool key_null[8], paused[8];
};

static int
mig_cb(const struct store_timer *t, void *arg)
{
	struct mig_got *g = arg;
	Evd__Exec *x;

	if (t->id >= 8)
		return 0;
	snprintf(g->channel[t->id], 48, "%s", t->channel ? t->channel : "");
	snprintf(g->key[t->id], 16, "%s", t->key ? t->key : "");
	g->key_null[t->id] = t->key == NULL;
	g->paused[t->id] = t->paused;
	if (t->exec != NULL) {
		x = evd__exec__unpack(NULL, t->exec_len, t->exec);
		assert_non_null(x);
		if (x->n_argv > 1)
			snprintf(g->argv1[t->id], 16, "%s", x->argv[1]);
		snprintf(g->on_failure[t->id], 48, "%s",
			 x->on_failure ? x->on_failure : "");
		evd__exec__free_unpacked(x, NULL);
	}
	return 0;
}

static int
mig_channels_cb(const struct store_channel *c, void *arg)
{
	char *out = arg;

	snprintf(out + strlen(out), 1024 - strlen(out), "%s=%u;", c->name,
		 (unsigned)c->owner);
	return 0;
}

/* The channel of each message, by fire id (1..7), whole. */
static int
mig_msgs_cb(const struct store_msg *m, void *arg)
{
	char (*ch)[300] = arg;

	if (m->fire_id < 8)
		snprintf(ch[m->fire_id], 300, "%s", m->channel);
	return 0;
}

/*
 * Version 6 gives every channel an owner's namespace: a store written
 * before it (bare names, first come) is rewritten so that each name
 * means the channel it meant (the owner of its channels row, else the
 * writer of the row), inside exec blobs too; strings that are not UTF-8
 * (older versions took them) are repaired so that no reply echoes them.
 */
static void
test_migrate_channel_namespaces(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f);
	static char *argv_ok[] = {"/bin/true", "x"};
	static char *argv_bad[] = {"/bin/echo", "a\xff"};
	struct store_timer t;
	struct store_channel c = {0};
	struct store_msg m = {.timer_id = 1, .owner = 7, .max_attempts = 5,
			      .delivery = EVD__DELIVERY__AT_LEAST_ONCE};
	Evd__Exec x = EVD__EXEC__INIT;
	uint8_t blob[2][256];
	struct mig_got g;
	char chans[1024] = "", mch[8][300];
	char longname[201];
	int i;

	assert_int_equal(B->begin(s), 0);
	c.name = "shared";
	c.owner = 5;
	assert_int_equal(B->channel_put(s, &c), 0);
	c.name = "5:odd"; /* a pre-6 name that reads like a namespace */
	c.owner = 1;
	assert_int_equal(B->channel_put(s, &c), 0);
	for (i = 1; i <= 5; i++) {
		t = timer_make((uint64_t)i);
		t.uid = i <= 3 ? 7 : 9;
		switch (i) {
		case 1: t.channel = "shared"; break;
		case 2: t.channel = "mine"; break;
		case 3:
			t.channel = "bad\xfe";
			t.key = "k\xff";
			break;
		case 4:
		case 5:
			t.channel = NULL;
			x.n_argv = 2;
			x.argv = i == 4 ? argv_bad : argv_ok;
			x.on_failure = i == 4 ? "shared" : "alerts";
			assert_true(evd__exec__get_packed_size(&x) <=
				    sizeof(blob[0]));
			t.exec_len = evd__exec__pack(&x, blob[i - 4]);
			t.exec = blob[i - 4];
			break;
		}
		assert_int_equal(B->schedule(s, &t), 0);
	}
	m.fire_id = 1;
	m.channel = "shared";
	assert_int_equal(B->enqueue(s, &m), 0);
	m.fire_id = 2;
	m.channel = "5:odd";
	assert_int_equal(B->enqueue(s, &m), 0);
	/* Uid 7's "a\xff" (not UTF-8) and uid 8's "a\\xff" (valid: a
	 * backslash, an x, two f): once repaired they read alike, and must
	 * stay two channels of two owners. */
	c.name = "a\xff";
	c.owner = 7;
	assert_int_equal(B->channel_put(s, &c), 0);
	c.name = "a\\xff";
	c.owner = 8;
	assert_int_equal(B->channel_put(s, &c), 0);
	m.fire_id = 3;
	m.owner = 7;
	m.channel = "a\xff";
	assert_int_equal(B->enqueue(s, &m), 0);
	m.fire_id = 4;
	m.owner = 8;
	m.channel = "a\\xff";
	assert_int_equal(B->enqueue(s, &m), 0);
	/* 200 bytes that are not UTF-8 escape to 800: capped at a NAME's
	 * 255 bytes, the same in every table. */
	memset(longname, 0xfe, 200);
	longname[200] = '\0';
	c.name = longname;
	c.owner = 7;
	assert_int_equal(B->channel_put(s, &c), 0);
	m.fire_id = 5;
	m.owner = 7;
	m.channel = longname;
	assert_int_equal(B->enqueue(s, &m), 0);
	assert_int_equal(B->commit(s), 0);
	B->close(s);
	sql(f, "ALTER TABLE messages DROP COLUMN reason"); /* 7 adds it */
	sql(f, "PRAGMA user_version = 5");

	s = open_ok(f);
	assert_int_equal(user_version(f), 7);
	memset(&g, 0, sizeof(g));
	assert_int_equal(B->claim(s, INT64_MAX, mig_cb, &g), 0);
	assert_string_equal(g.channel[1], "5:shared");
	assert_string_equal(g.channel[2], "7:mine");
	assert_string_equal(g.channel[3], "7:bad\\xfe");
	assert_true(g.key_null[3]);
	assert_false(g.paused[3]);
	assert_string_equal(g.on_failure[4], "5:shared");
	assert_string_equal(g.argv1[4], "a\\xff");
	assert_true(g.paused[4]); /* its command changed: an operator looks */
	assert_string_equal(g.on_failure[5], "9:alerts");
	assert_string_equal(g.argv1[5], "x");
	assert_false(g.paused[5]);
	memset(mch, 0, sizeof(mch));
	assert_int_equal(B->load_messages(s, mig_msgs_cb, mch), 0);
	assert_string_equal(mch[1], "5:shared");
	assert_string_equal(mch[2], "1:5:odd");
	assert_string_equal(mch[3], "7:a\\xff");  /* uid 7's, repaired */
	assert_string_equal(mch[4], "8:a\\xff");  /* uid 8's, untouched */
	assert_int_equal(strlen(mch[5]), strlen("7:") + 255);
	assert_non_null(strchr(mch[5], '~'));
	assert_int_equal(B->load_channels(s, mig_channels_cb, chans), 0);
	assert_non_null(strstr(chans, "5:shared=5;"));
	assert_non_null(strstr(chans, "1:5:odd=1;"));
	assert_non_null(strstr(chans, "7:a\\xff=7;"));
	assert_non_null(strstr(chans, "8:a\\xff=8;"));
	assert_non_null(strstr(chans, mch[5])); /* the same capped name */
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
test_second_open_fails(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f), *s2 = NULL;
	pid_t pid;
	int status;

	/* flock is per open file: the same process is refused too. */
	assert_int_equal(B->open(&f->cfg, &s2), -EBUSY);
	assert_null(s2);
	assert_non_null(strstr(B->errmsg(NULL), "another evd is using"));
	assert_non_null(strstr(B->errmsg(NULL), f->dir));

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *c = NULL;

		_exit(B->open(&f->cfg, &c) == -EBUSY ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	B->close(s);
	s = open_ok(f);
	B->close(s);
}

static void
test_garbage_db_fails(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	char path[128], junk[8192];
	int fd;

	snprintf(path, sizeof(path), "%s/evd.db", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	memset(junk, 'z', sizeof(junk));
	assert_int_equal(write(fd, junk, sizeof(junk)), sizeof(junk));
	close(fd);
	assert_int_equal(B->open(&f->cfg, &s), -EUCLEAN);
	assert_null(s);
	assert_non_null(strstr(B->errmsg(NULL), "is not an SQLite database"));
}

static void
test_bad_dir_fails(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	char path[128];
	int fd;

	/* The state directory's parent is a file. */
	snprintf(path, sizeof(path), "%s/file", f->dir);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	strcat(path, "/state");
	f->cfg.state_dir = path;
	assert_int_equal(B->open(&f->cfg, &s), -ENOTDIR);
	assert_non_null(
	    strstr(B->errmsg(NULL), "cannot create the state directory"));
	f->cfg.state_dir = f->dir;
}

/* Runs fn in a child that cannot bypass file permissions (as root, it
 * becomes nobody; the directory is handed over first). */
static void
run_unprivileged(struct fx *f, int (*fn)(struct fx *f))
{
	pid_t pid;
	int status;

	if (geteuid() == 0)
		assert_int_equal(chown(f->dir, NOBODY, NOBODY), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0 &&
		    (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 ||
		     setuid(NOBODY) < 0))
			_exit(EXIT_SKIP);
		_exit(fn(f));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == EXIT_SKIP)
		skip(); /* cmocka prints the skip; reason: cannot drop root */
	assert_int_equal(WEXITSTATUS(status), 0);
}

#define CHILD_CHECK(cond)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: child check failed: %s\n",     \
				__FILE__, __LINE__, #cond);                    \
			return 1;                                              \
		}                                                              \
	} while (0)

static int
readonly_child(struct fx *f)
{
	struct store *s = NULL;
	char path[128];
	int r;

	/* A database evd may not write. */
	s = NULL;
	r = B->open(&f->cfg, &s);
	CHILD_CHECK(r == 0);
	B->close(s);
	snprintf(path, sizeof(path), "%s/evd.db", f->dir);
	CHILD_CHECK(chmod(path, 0400) == 0);
	s = NULL;
	r = B->open(&f->cfg, &s);
	fprintf(stderr, "read-only db: %d %s\n", r, B->errmsg(NULL));
	CHILD_CHECK(r == -EROFS && s == NULL);
	CHILD_CHECK(strstr(B->errmsg(NULL), "read-only") != NULL);
	CHILD_CHECK(chmod(path, 0600) == 0);

	/* A directory evd may not write, with and without a database. */
	CHILD_CHECK(chmod(f->dir, 0500) == 0);
	r = B->open(&f->cfg, &s);
	fprintf(stderr, "read-only dir: %d %s\n", r, B->errmsg(NULL));
	CHILD_CHECK(r < 0 && s == NULL);
	CHILD_CHECK(strstr(B->errmsg(NULL), "writable") != NULL);
	snprintf(path, sizeof(path), "%s/new", f->dir);
	f->cfg.state_dir = path;
	r = B->open(&f->cfg, &s);
	fprintf(stderr, "unwritable parent: %d %s\n", r, B->errmsg(NULL));
	CHILD_CHECK(r == -EACCES && s == NULL);
	CHILD_CHECK(strstr(B->errmsg(NULL), "Permission denied") != NULL);
	return 0;
}

static void
test_readonly_fails(void **state)
{
	run_unprivileged(*state, readonly_child);
}

static int
count_cb(const struct store_timer *t, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

/* A commit that hits the file size limit fails whole; once the limit is
 * lifted the next batch commits, and a reopen sees exactly the batches
 * that committed. */
static int
disk_full_child(struct fx *f)
{
	static uint8_t big[4096];
	struct store_timer t = timer_make(1);
	struct rlimit rl;
	struct store *s = NULL;
	uint64_t id;
	int r = 0, n = 0;

	signal(SIGXFSZ, SIG_IGN);
	f->cfg.sync_full = true;
	CHILD_CHECK(B->open(&f->cfg, &s) == 0);
	CHILD_CHECK(B->begin(s) == 0 && B->schedule(s, &t) == 0 &&
		    B->commit(s) == 0);

	CHILD_CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0);
	rl.rlim_cur = 256 * 1024;
	CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
	t.payload = big;
	t.payload_len = sizeof(big);
	CHILD_CHECK(B->begin(s) == 0);
	for (id = 100; id < 100 + 1000 && r == 0; id++) {
		t.id = id;
		r = B->schedule(s, &t);
	}
	if (r == 0)
		r = B->commit(s);
	else
		B->rollback(s);
	fprintf(stderr, "over the limit: %d %s\n", r, B->errmsg(s));
	CHILD_CHECK(r == -ENOSPC || r == -EIO || r == -EFBIG);
	/* Still over the limit: fails again, cleanly. */
	t.id = 2;
	t.payload_len = 1;
	r = B->begin(s);
	if (r == 0) {
		for (id = 2000; id < 3000 && r == 0; id++) {
			t.id = id;
			t.payload = big;
			t.payload_len = sizeof(big);
			r = B->schedule(s, &t);
		}
		if (r == 0)
			r = B->commit(s);
		else
			B->rollback(s);
	}
	CHILD_CHECK(r < 0);

	rl.rlim_cur = rl.rlim_max;
	CHILD_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
	t.id = 3;
	t.payload_len = 16;
	r = B->begin(s);
	if (r == 0)
		r = B->schedule(s, &t);
	if (r == 0)
		r = B->commit(s);
	fprintf(stderr, "after lifting the limit: %d %s\n", r,
		r < 0 ? B->errmsg(s) : "");
	CHILD_CHECK(r == 0);
	B->close(s);

	s = NULL;
	CHILD_CHECK(B->open(&f->cfg, &s) == 0);
	CHILD_CHECK(B->claim(s, INT64_MAX, count_cb, &n) == 0);
	fprintf(stderr, "timers after reopen: %d\n", n);
	CHILD_CHECK(n == 2);
	B->close(s);
	return 0;
}

static void
test_disk_full_then_recovers(void **state)
{
	struct fx *f = *state;
	pid_t pid;
	int status;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(disk_full_child(f));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
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

static void
test_memory_backend(void **state)
{
	const struct store_backend *m = store_backend_find("memory");
	struct store_timer t = timer_make(1);
	struct store_msg msg = {.fire_id = 1, .channel = "c"};
	struct store *s = NULL;
	struct got g;
	char key[16];
	int64_t v;
	int i;

	assert_ptr_equal(store_backend_find("sqlite"), &store_sqlite_backend);
	assert_null(store_backend_find("postgres"));
	assert_non_null(m);
	assert_false(m->durable);
	assert_true(B->durable);
	assert_int_equal(m->open(&((struct fx *)*state)->cfg, &s), 0);
	assert_int_equal(m->begin(s), 0);
	assert_int_equal(m->schedule(s, &t), 0);
	assert_int_equal(m->cancel(s, 9), 0);
	assert_int_equal(m->retire(s, 1, 0, NULL), 0);
	assert_int_equal(m->enqueue(s, &msg), 0);
	assert_int_equal(m->ack(s, 9), 0);
	assert_int_equal(m->commit(s), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(m->claim(s, INT64_MAX, got_cb, &g), 0);
	assert_int_equal(g.n, 0);
	assert_int_equal(m->get_timer(s, 1, got_cb, &g), -ENOENT);
	assert_int_equal(m->meta_get(s, "a", &v), -ENOENT);
	assert_int_equal(m->meta_put(s, "a", 3), 0);
	assert_int_equal(m->meta_put(s, "a", 4), 0);
	assert_int_equal(m->meta_get(s, "a", &v), 0);
	assert_int_equal(v, 4);
	for (i = 0; i < 15; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(m->meta_put(s, key, i), 0);
	}
	assert_int_equal(m->meta_put(s, "one-too-many", 0), -ENOSPC);
	m->close(s);
	m->close(NULL);
	B->close(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_schema_and_reopen),
	    T(test_migrate_channel_namespaces),
	    T(test_timer_round_trip),
	    T(test_key_unique_among_pending),
	    T(test_row_error_keeps_batch),
	    T(test_retire),
	    T(test_list_ended),
	    T(test_reschedule),
	    T(test_sched_paused_revive),
	    T(test_cancel),
	    T(test_runs_pruned),
	    T(test_claim_order_and_horizon),
	    T(test_messages),
	    T(test_meta),
	    T(test_max_ids),
	    T(test_rollback_leaves_nothing),
	    T(test_second_open_fails),
	    T(test_garbage_db_fails),
	    T(test_bad_dir_fails),
	    T(test_readonly_fails),
	    T(test_disk_full_then_recovers),
	    T(test_finished_timers_pruned),
	    T(test_output_accounting),
	    T(test_memory_backend),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
