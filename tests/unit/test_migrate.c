/*
 * Unit tests of evd migrate's copy (daemon/migrate.c): SPEC parsing and
 * its errors, and migrate_run between two SQLite stores in temporary
 * directories, through the store interface only: every kind of row
 * arrives with its fields, a second run writes nothing, a timer whose
 * owner's key is taken in the destination is skipped, runs of the
 * timers copied come along oldest first, and the id counters take the
 * larger side.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "migrate.h"
#include "store.h"

#define B (&store_sqlite_backend)
#define BOOT "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

/* ---- SPEC parsing ---- */

static void
test_spec_ok(void **state)
{
	struct migrate_spec sp;
	char err[256];

	(void)state;
	assert_int_equal(
	    migrate_spec_parse("sqlite:/a/b", NULL, &sp, err, sizeof err), 0);
	assert_ptr_equal(sp.be, B);
	assert_string_equal(sp.arg, "/a/b");
	/* A colon inside ARG is ARG's (a conninfo has none, a path may). */
	assert_int_equal(
	    migrate_spec_parse("sqlite:/a:b", NULL, &sp, err, sizeof err), 0);
	assert_string_equal(sp.arg, "/a:b");
	/* No ARG: the configured state directory. */
	assert_int_equal(
	    migrate_spec_parse("sqlite", "/var/lib/evd", &sp, err, sizeof err),
	    0);
	assert_string_equal(sp.arg, "/var/lib/evd");
}

static void
test_spec_errors(void **state)
{
	static const struct {
		const char *text, *default_dir, *says;
		int r;
	} cases[] = {
	    {"foo:/x", "/d", "unknown store 'foo'", -EINVAL},
	    {"foo", "/d", "unknown store 'foo'", -EINVAL},
	    {"sqlitex:/x", "/d", "unknown store", -EINVAL},
	    {"sqlite:", "/d", "empty ARG", -EINVAL},
	    {"", "/d", "no store name", -EINVAL},
	    {":/x", "/d", "no store name", -EINVAL},
	    {"memory", "/d", "keeps nothing", -EINVAL},
	    {"memory:x", "/d", "keeps nothing", -EINVAL},
	    {"sqlite", NULL, "no state directory", -EINVAL},
	    {"sqlite", "", "no state directory", -EINVAL},
	};
	struct migrate_spec sp;
	char err[256], big[MIGRATE_ARG_MAX + 16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		memset(&sp, 0xa5, sizeof sp);
		err[0] = '\0';
		assert_int_equal(migrate_spec_parse(cases[i].text,
						    cases[i].default_dir, &sp,
						    err, sizeof err),
				 cases[i].r);
		if (strstr(err, cases[i].says) == NULL)
			fail_msg("'%s': '%s' does not say '%s'", cases[i].text,
				 err, cases[i].says);
		/* ret is untouched on failure. */
		assert_int_equal(((unsigned char *)&sp)[0], 0xa5);
	}
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "sqlite:/", 8);
	assert_int_equal(migrate_spec_parse(big, NULL, &sp, err, sizeof err),
			 -ENAMETOOLONG);
}

/* ---- migrate_run between two SQLite stores ---- */

struct fx {
	char a[64], b[64];
	struct store_config cfg;
	struct migrate_options mo;
	char out[4096], err[4096];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);

	assert_non_null(f);
	strcpy(f->a, "/tmp/test_migrate_a.XXXXXX");
	strcpy(f->b, "/tmp/test_migrate_b.XXXXXX");
	assert_non_null(mkdtemp(f->a));
	assert_non_null(mkdtemp(f->b));
	f->cfg.history_per_timer = 5;
	f->mo.cfg = f->cfg;
	f->mo.from.be = B;
	f->mo.to.be = B;
	snprintf(f->mo.from.arg, sizeof f->mo.from.arg, "%s", f->a);
	snprintf(f->mo.to.arg, sizeof f->mo.to.arg, "%s", f->b);
	*state = f;
	return 0;
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->a, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	nftw(f->b, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct store *
open_dir(struct fx *f, const char *dir)
{
	struct store_config cfg = f->cfg;
	struct store *s = NULL;
	int r;

	cfg.state_dir = dir;
	if ((r = B->open(&cfg, &s)) < 0)
		fail_msg("open %s: %s (%d)", dir, B->errmsg(NULL), r);
	return s;
}

/* Runs a migration; its stdout and stderr end up in f->out, f->err. */
static int
run(struct fx *f)
{
	FILE *out = fmemopen(f->out, sizeof f->out, "w");
	FILE *err = fmemopen(f->err, sizeof f->err, "w");
	int r;

	assert_non_null(out);
	assert_non_null(err);
	r = migrate_run(&f->mo, out, err);
	fclose(out);
	fclose(err);
	return r;
}

static struct store_timer
timer(uint64_t id, const char *key)
{
	static const uint8_t exec[] = {0x0a, 0x03, 'a', 'b', 'c'};
	static const uint8_t sched[] = {0x08, 0x01};
	struct store_timer t;

	memset(&t, 0, sizeof t);
	t.id = id;
	t.uid = 1000;
	t.gid = 100;
	t.clock = 2;
	t.deadline_ns = INT64_C(2000000000000000000) + (int64_t)id;
	t.due_rt_ns = t.deadline_ns;
	strcpy(t.boot_id, BOOT);
	t.created_rt_ns = 1;
	t.channel = "jobs";
	t.payload = (const uint8_t *)"pay";
	t.payload_len = 3;
	t.key = key;
	t.max_attempts = 4;
	t.fire_count = 2;
	t.last_fired_rt_ns = 7;
	if (id % 2 == 0) {
		t.exec = exec;
		t.exec_len = sizeof exec;
		t.channel = NULL;
	}
	if (id % 3 == 0) {
		t.sched = sched;
		t.sched_len = sizeof sched;
	}
	t.paused = id == 5;
	return t;
}

struct got {
	struct store_timer t;
	char key[64];
	uint8_t exec[16], sched[16];
	int n;
};

static int
got_cb(const struct store_timer *t, void *arg)
{
	struct got *g = arg;

	g->t = *t;
	g->n++;
	snprintf(g->key, sizeof g->key, "%s", t->key != NULL ? t->key : "");
	assert_true(t->exec_len <= sizeof g->exec);
	assert_true(t->sched_len <= sizeof g->sched);
	if (t->exec != NULL)
		memcpy(g->exec, t->exec, t->exec_len);
	if (t->sched != NULL)
		memcpy(g->sched, t->sched, t->sched_len);
	return 0;
}

static int
count_msgs_cb(const struct store_msg *m, void *arg)
{
	struct store_msg *v = arg;

	assert_true(m->fire_id >= 1 && m->fire_id <= 2);
	v[m->fire_id - 1] = *m;
	/* Borrowed strings: keep what the test compares. */
	v[m->fire_id - 1].channel = NULL;
	v[m->fire_id - 1].payload = NULL;
	v[m->fire_id - 1].reason =
	    m->reason != NULL && strcmp(m->reason, "boom") == 0 ? "boom" : NULL;
	return 0;
}

static int
chan_cb(const struct store_channel *c, void *arg)
{
	int *n = arg;

	assert_string_equal(c->name, "jobs");
	assert_int_equal(c->owner, 1000);
	assert_int_equal(c->grants_len, 3);
	assert_memory_equal(c->grants, "\x01\x02\x03", 3);
	(*n)++;
	return 0;
}

static int
run_cb(const struct store_run *r, void *arg)
{
	uint64_t *fires = arg;

	/* Newest first, as the source had them. */
	while (*fires != 0)
		fires++;
	*fires = r->fire_id;
	return 0;
}

/* Fills the source: 6 timers, runs of timer 3, a queued message, a
 * dead one with its reason, a channel with grants, the counters. */
static void
fill_source(struct fx *f)
{
	struct store *s = open_dir(f, f->a);
	struct store_timer t;
	struct store_msg m;
	struct store_channel c = {"jobs", 1000, (const uint8_t *)"\x01\x02\x03",
				  3};
	struct store_run r;
	uint64_t id;
	char key[16];

	assert_int_equal(B->begin(s), 0);
	for (id = 1; id <= 6; id++) {
		snprintf(key, sizeof key, "k%u", (unsigned)id);
		t = timer(id, id == 4 ? NULL : key);
		assert_int_equal(B->schedule(s, &t), 0);
	}
	memset(&r, 0, sizeof r);
	r.timer_id = 3;
	for (id = 1; id <= 3; id++) {
		r.fire_id = 100 + id;
		r.fired_rt_ns = (int64_t)id;
		r.detail = "ok";
		assert_int_equal(B->run_append(s, &r), 0);
	}
	memset(&m, 0, sizeof m);
	m.fire_id = 1;
	m.timer_id = 1;
	m.owner = 1000;
	m.channel = "jobs";
	m.payload = (const uint8_t *)"p1";
	m.payload_len = 2;
	m.max_attempts = 4;
	assert_int_equal(B->enqueue(s, &m), 0);
	m.fire_id = 2;
	m.attempts = 4;
	m.dead = true;
	m.reason = "boom";
	assert_int_equal(B->enqueue(s, &m), 0);
	assert_int_equal(B->channel_put(s, &c), 0);
	assert_int_equal(B->meta_put(s, "next_timer_id", 5000), 0);
	assert_int_equal(B->meta_put(s, "next_fire_id", 10), 0);
	assert_int_equal(B->meta_put(s, "last_seen_rt_ns", 42), 0);
	assert_int_equal(B->commit(s), 0);
	B->close(s);
}

static void
test_copy_and_rerun(void **state)
{
	struct fx *f = *state;
	struct store *s;
	struct store_msg msgs[2];
	struct got g;
	uint64_t fires[8];
	uint64_t id;
	int64_t v;
	int n = 0;

	fill_source(f);
	f->mo.batch_rows = 2; /* several commits */
	assert_int_equal(run(f), 0);
	assert_string_equal(f->err, "");
	assert_non_null(strstr(f->out, "timers: 6 copied, 0 already present"));
	assert_non_null(strstr(f->out, "runs: 3 copied"));
	assert_non_null(strstr(f->out, "messages: 2 copied (1 dead letters)"
				       ", 0 already present"));
	assert_non_null(strstr(f->out, "channels: 1 copied"));
	assert_non_null(strstr(f->out, "meta: next_timer_id 5000, "
				       "next_fire_id 10, last_seen_rt_ns 42"));

	/* Again: nothing new, nothing doubled. */
	assert_int_equal(run(f), 0);
	assert_non_null(
	    strstr(f->out, "timers: 0 copied, 6 already present\n"));
	assert_non_null(strstr(f->out, "runs: 0 copied"));
	assert_non_null(strstr(f->out, "messages: 0 copied (0 dead letters)"
				       ", 2 already present"));

	s = open_dir(f, f->b);
	for (id = 1; id <= 6; id++) {
		struct store_timer want = timer(id, NULL);

		memset(&g, 0, sizeof g);
		assert_int_equal(B->get_timer(s, id, got_cb, &g), 0);
		assert_int_equal(g.n, 1);
		assert_false(g.t.finished);
		assert_int_equal(g.t.uid, want.uid);
		assert_int_equal(g.t.gid, want.gid);
		assert_int_equal(g.t.deadline_ns, want.deadline_ns);
		assert_string_equal(g.t.boot_id, BOOT);
		assert_int_equal(g.t.fire_count, 2);
		assert_int_equal(g.t.max_attempts, 4);
		assert_int_equal(g.t.paused, id == 5);
		assert_int_equal(g.t.exec_len, want.exec_len);
		if (want.exec != NULL)
			assert_memory_equal(g.exec, want.exec, want.exec_len);
		assert_int_equal(g.t.sched_len, want.sched_len);
		if (want.sched != NULL)
			assert_memory_equal(g.sched, want.sched,
					    want.sched_len);
		if (id == 4)
			assert_string_equal(g.key, "");
		else
			assert_int_equal(g.key[1] - '0', (int)id);
	}
	/* The key finds its timer: a retry gets the old id. */
	memset(&g, 0, sizeof g);
	assert_int_equal(B->find_key(s, 1000, "k3", got_cb, &g), 0);
	assert_int_equal(g.t.id, 3);
	/* Runs: all three, in the source's order, once. */
	memset(fires, 0, sizeof fires);
	assert_int_equal(B->runs(s, 3, run_cb, fires), 0);
	assert_int_equal(fires[0], 103);
	assert_int_equal(fires[1], 102);
	assert_int_equal(fires[2], 101);
	assert_int_equal(fires[3], 0);
	memset(msgs, 0, sizeof msgs);
	assert_int_equal(B->load_messages(s, count_msgs_cb, msgs), 0);
	assert_int_equal(msgs[0].fire_id, 1);
	assert_false(msgs[0].dead);
	assert_int_equal(msgs[0].attempts, 0);
	assert_int_equal(msgs[1].fire_id, 2);
	assert_true(msgs[1].dead);
	assert_int_equal(msgs[1].attempts, 4);
	assert_non_null(msgs[1].reason);
	assert_int_equal(B->load_channels(s, chan_cb, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(B->meta_get(s, "next_timer_id", &v), 0);
	assert_int_equal(v, 5000);
	B->close(s);
}

/* A destination that is ahead keeps its counters; a timer whose owner's
 * key is taken there is skipped, counted, and the run still exits 0. */
static void
test_key_taken_and_counters_ahead(void **state)
{
	struct fx *f = *state;
	struct store *s;
	struct store_timer t;
	struct got g;
	int64_t v;

	fill_source(f);
	s = open_dir(f, f->b);
	assert_int_equal(B->begin(s), 0);
	t = timer(900, "k1");
	assert_int_equal(B->schedule(s, &t), 0);
	assert_int_equal(B->meta_put(s, "next_timer_id", 9000), 0);
	assert_int_equal(B->commit(s), 0);
	B->close(s);

	assert_int_equal(run(f), 0);
	assert_non_null(strstr(f->out, "timers: 5 copied, 1 already present "
				       "(1 by key under another id)"));
	assert_non_null(strstr(f->out, "next_timer_id 9000"));
	s = open_dir(f, f->b);
	assert_int_equal(B->get_timer(s, 1, got_cb, &g), -ENOENT);
	memset(&g, 0, sizeof g);
	assert_int_equal(B->find_key(s, 1000, "k1", got_cb, &g), 0);
	assert_int_equal(g.t.id, 900);
	assert_int_equal(B->meta_get(s, "next_timer_id", &v), 0);
	assert_int_equal(v, 9000);
	assert_int_equal(B->meta_get(s, "next_fire_id", &v), 0);
	assert_int_equal(v, 10);
	B->close(s);
}

/* A first run stopped between a timer's batch and its runs' batch: the
 * next run finds the timer and still copies its runs, once. */
static void
test_runs_after_interrupted_copy(void **state)
{
	struct fx *f = *state;
	struct store *s;
	struct store_timer t;
	uint64_t fires[8];

	fill_source(f);
	s = open_dir(f, f->b);
	assert_int_equal(B->begin(s), 0);
	t = timer(3, "k3");
	assert_int_equal(B->schedule(s, &t), 0);
	assert_int_equal(B->commit(s), 0);
	B->close(s);

	assert_int_equal(run(f), 0);
	assert_non_null(
	    strstr(f->out, "timers: 5 copied, 1 already present\n"));
	assert_non_null(strstr(f->out, "runs: 3 copied"));
	assert_int_equal(run(f), 0);
	assert_non_null(strstr(f->out, "runs: 0 copied"));
	s = open_dir(f, f->b);
	memset(fires, 0, sizeof fires);
	assert_int_equal(B->runs(s, 3, run_cb, fires), 0);
	assert_int_equal(fires[0], 103);
	assert_int_equal(fires[2], 101);
	assert_int_equal(fires[3], 0);
	B->close(s);
}

/* ---- a destination that refuses: sqlite with faults ---- */

static struct store_backend faulty;
static uint64_t fault_schedule_id; /* schedule() of it: -E2BIG */
static int fault_commit_at;	   /* that commit() fails, -EIO */
static int commits;
static const char *fault_msg;

static int
faulty_schedule(struct store *s, const struct store_timer *t)
{
	if (t->id == fault_schedule_id) {
		fault_msg = "schedule: a value is too big for the store";
		return -E2BIG;
	}
	fault_msg = NULL;
	return B->schedule(s, t);
}

static int
faulty_commit(struct store *s)
{
	if (++commits == fault_commit_at) {
		fault_msg = "commit: disk on fire";
		return -EIO;
	}
	fault_msg = NULL;
	return B->commit(s);
}

static const char *
faulty_errmsg(const struct store *s)
{
	return fault_msg != NULL ? fault_msg : B->errmsg(s);
}

static void
use_faulty(struct fx *f, uint64_t schedule_id, int commit_at)
{
	faulty = *B;
	faulty.schedule = faulty_schedule;
	faulty.commit = faulty_commit;
	faulty.errmsg = faulty_errmsg;
	fault_schedule_id = schedule_id;
	fault_commit_at = commit_at;
	commits = 0;
	fault_msg = NULL;
	f->mo.to.be = &faulty;
}

/* A row the destination refuses is named with the reason; the others
 * are copied and the run fails (evd migrate exits 1). */
static void
test_refused_row(void **state)
{
	struct fx *f = *state;

	fill_source(f);
	use_faulty(f, 2, 0);
	assert_int_equal(run(f), -EINVAL);
	assert_non_null(strstr(f->out, "timers: 5 copied, 0 already present, "
				       "1 refused\n"));
	assert_non_null(strstr(f->err, "timer 2 (uid 1000, key 'k2'): "
				       "refused by sqlite:"));
	assert_non_null(strstr(f->err, "too big"));
	/* Fixed, the next run copies what is missing and only that. */
	f->mo.to.be = B;
	assert_int_equal(run(f), 0);
	assert_non_null(
	    strstr(f->out, "timers: 1 copied, 5 already present\n"));
}

/* A commit that fails stops the run with its batch rolled back; the
 * next run finishes the copy without doubling what the first kept. */
static void
test_lost_batch_then_rerun(void **state)
{
	struct fx *f = *state;
	struct store *s;
	struct store_msg msgs[2];

	fill_source(f);
	f->mo.batch_rows = 2;
	use_faulty(f, 0, 2);
	assert_int_equal(run(f), -EIO);
	assert_non_null(strstr(f->err, "commit: disk on fire"));
	assert_non_null(strstr(f->err, "rolled back"));
	f->mo.to.be = B;
	assert_int_equal(run(f), 0);
	/* The first commit kept the channel and timer 1. */
	assert_non_null(
	    strstr(f->out, "timers: 5 copied, 1 already present\n"));
	assert_non_null(strstr(f->out, "messages: 2 copied (1 dead letters), "
				       "0 already present"));
	assert_non_null(strstr(f->out, "runs: 3 copied"));
	s = open_dir(f, f->b);
	memset(msgs, 0, sizeof msgs);
	assert_int_equal(B->load_messages(s, count_msgs_cb, msgs), 0);
	assert_true(msgs[1].dead);
	B->close(s);
}

/* Refusals that say why: a source in use, one with no store, a copy onto
 * itself; nothing is created in the source's place. */
static void
test_refusals(void **state)
{
	struct fx *f = *state;
	struct store *s;
	char path[128];
	struct stat st;

	assert_int_equal(run(f), -ENOENT);
	assert_non_null(strstr(f->err, "holds no evd store"));
	snprintf(path, sizeof path, "%s/evd.db", f->a);
	assert_int_not_equal(stat(path, &st), 0);

	fill_source(f);
	s = open_dir(f, f->a);
	assert_int_equal(run(f), -EBUSY);
	assert_non_null(strstr(f->err, "is in use"));
	assert_non_null(strstr(f->err, "stop the evd"));
	B->close(s);

	snprintf(f->mo.to.arg, sizeof f->mo.to.arg, "%s/.", f->a);
	assert_int_equal(run(f), -EINVAL);
	assert_non_null(strstr(f->err, "the same store"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_ok),
	    cmocka_unit_test(test_spec_errors),
	    cmocka_unit_test_setup_teardown(test_copy_and_rerun, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_key_taken_and_counters_ahead,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_runs_after_interrupted_copy,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refused_row, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lost_batch_then_rerun, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
