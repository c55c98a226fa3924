/*
 * Unit tests of the SQLite store (daemon/store_sqlite.c), with a glance
 * at the memory store and the backend table. The backend-generic cases
 * are store_cases.c's, run here against SQLite (and by test_store_pg
 * against PostgreSQL); this file holds what only SQLite has (files,
 * PRAGMA user_version, flock, a full disk).
 *
 * Each test gets a fresh state directory from mkdtemp and removes it.
 * The fault cases that need another process run in a forked child that
 * reports through its exit status: a second evd on the same directory,
 * permissions (as root the child drops to nobody, where they apply; if it
 * cannot, the test is skipped and says why), and a full disk
 * (RLIMIT_FSIZE, which binds root too). Time is a fake clock, so the
 * sweep of old finished timers is tested without waiting a week.
 */
#include "store_cases.h"

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

#define NOBODY 65534
#define EXIT_SKIP 77

int
store_fx_setup(void **state)
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

int
store_fx_teardown(void **state)
{
	struct fx *f = *state;

	chmod(f->dir, 0700);
	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	clock_set_source(NULL);
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


/* Rows in timers with ids up to max, counted behind the store's back. */
static int
timer_rows(struct fx *f, sqlite3_int64 max)
{
	char path[128];
	sqlite3 *db;
	sqlite3_stmt *st;
	int n;

	snprintf(path, sizeof(path), "%s/evd.db", f->cfg.state_dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT count(*) FROM timers"
					    " WHERE id <= ?1",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, max);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/*
 * The sweep keeps up with rows ending however many a commit groups: 16K
 * timers finished two hours ago (keep: one hour), then 16 commits that
 * each finish 2,048 new ones: by then at least three quarters of the old
 * ones are gone (the rest wait for the sweep's next round). A sweep
 * stepping once per 64 commits (its pace before) leaves 15K of them.
 */
#define SWEEP_OLD 16384
#define SWEEP_BATCH 2048

static void
test_sweep_keeps_up_with_writes(void **state)
{
	struct fx *f = *state;
	struct store *s;
	uint64_t id;
	int i;

	f->cfg.finished_keep_ns = INT64_C(3600) * 1000000000;
	s = open_ok(f);
	assert_int_equal(B->begin(s), 0);
	for (id = 1; id <= SWEEP_OLD; id++) {
		struct store_timer t = timer_make(id);

		t.uid = 1000;
		assert_int_equal(B->schedule(s, &t), 0);
		assert_int_equal(B->retire(s, id, 0, NULL), 0);
	}
	assert_int_equal(B->commit(s), 0);
	B->close(s);
	fake_rt_ns += INT64_C(2) * 3600 * 1000000000;
	s = open_ok(f);
	for (i = 0; i < 16; i++) {
		assert_int_equal(B->begin(s), 0);
		for (int j = 0; j < SWEEP_BATCH; j++) {
			struct store_timer t = timer_make(++id);

			t.uid = 1000;
			assert_int_equal(B->schedule(s, &t), 0);
			assert_int_equal(B->retire(s, id, 0, NULL), 0);
		}
		assert_int_equal(B->commit(s), 0);
	}
	assert_true(timer_rows(f, SWEEP_OLD) <= SWEEP_OLD / 4);
	/* The recent ones are all kept. */
	assert_int_equal(timer_rows(f, INT64_MAX) - timer_rows(f, SWEEP_OLD),
			 16 * SWEEP_BATCH);
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
	const struct CMUnitTest own[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, store_fx_setup, \
                                              store_fx_teardown)
	    T(test_schema_and_reopen),
	    T(test_migrate_channel_namespaces),
	    T(test_second_open_fails),
	    T(test_garbage_db_fails),
	    T(test_bad_dir_fails),
	    T(test_readonly_fails),
	    T(test_disk_full_then_recovers),
	    T(test_sweep_keeps_up_with_writes),
	    T(test_memory_backend),
#undef T
	};
	size_t n = sizeof(own) / sizeof(own[0]);
	struct CMUnitTest *tests = calloc(n + store_cases_count,
	                                  sizeof(*tests));
	int r;

	assert_non_null(tests);
	store_cases_backend = &store_sqlite_backend;
	memcpy(tests, store_cases, store_cases_count * sizeof(*tests));
	memcpy(tests + store_cases_count, own, sizeof(own));
	r = _cmocka_run_group_tests("test_store_sqlite", tests,
	                            n + store_cases_count, NULL, NULL);
	free(tests);
	return r;
}
