/*
 * test_store_damage: a damaged SQLite store against the real evd.
 *
 * Damage found at start-up is refused, loudly ("corrupt", and what to
 * do), never taken for an empty or smaller store: evd.db cut short, a
 * page overwritten, evd.db emptied or deleted where a store was made,
 * evd.db-wal deleted or damaged after a crash. A fresh directory, a
 * clean restart and a restart after SIGKILL still start, the last one
 * saying in the log that SQLite recovered the WAL.
 *
 * Damage a start-up check cannot see (quick_check does not compare
 * indexes with their tables) shows when a write meets it: a key left in
 * the unique index of pending keys by a timer row that is gone. That
 * write fails its own request, and the other requests of the same
 * batch, from other connections, commit as if nothing happened.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "harness.h"

#define SEC 1000000000LL
/* A few thousand acknowledged timers, as the review that found the
 * silent loss had. */
#define NTIMERS 3000

static uint64_t next_req = 1;

static int
greet(struct evd_proc *p)
{
	int fd = raw_connect(p->sock);

	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, next_req++), 0);
	return fd;
}

/* <state dir>/name. */
static const char *
state_file(const struct evd_proc *p, const char *name)
{
	static char path[PATH_MAX + 32];

	assert_true(snprintf(path, sizeof path, "%s/%s", p->state, name) <
	            (int)sizeof path);
	return path;
}

/* Whether evd's log holds needle. */
static bool
log_has(const struct evd_proc *p, const char *needle)
{
	static char buf[65536];
	size_t n;
	FILE *f;

	if ((f = fopen(p->log, "r")) == NULL)
		return false;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* Schedules n durable channel timers, each with a key, pipelined in one
 * write; returns how many were acknowledged. */
static size_t
schedule_many(int fd, size_t n, uint64_t *ids)
{
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, i, acked = 0;
	char key[32];

	cl.has_delay_ns = 1;
	cl.delay_ns = 3600 * SEC;
	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = "damage";
	cb.has_payload = 1;
	cb.payload.data = (uint8_t *)"a payload of some length, as real ones";
	cb.payload.len = strlen((char *)cb.payload.data);
	cl.callback = &cb;
	cl.key = key;
	for (i = 0; i < n; i++) {
		Evd__Request rq = EVD__REQUEST__INIT;

		snprintf(key, sizeof key, "key-%zu", i);
		rq.has_request_id = 1;
		rq.request_id = next_req++;
		rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
		rq.call_later = &cl;
		assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	}
	assert_int_equal(raw_write(fd, buf, len), 0);
	free(buf);
	for (i = 0; i < n; i++) {
		Evd__Reply *r = raw_recv_reply(fd, 10000);

		assert_non_null(r);
		if (r->body_case == EVD__REPLY__BODY_SCHEDULED) {
			if (ids != NULL)
				ids[acked] = r->scheduled->timer_id;
			acked++;
		}
		evd__reply__free_unpacked(r, NULL);
	}
	return acked;
}

/* A fresh evd with NTIMERS durable timers, stopped cleanly: evd.db
 * holds everything, and no WAL is left. */
static void
make_store(struct evd_proc *p)
{
	int fd;

	assert_int_equal(evd_start(p, NULL), 0);
	fd = greet(p);
	assert_int_equal(schedule_many(fd, NTIMERS, NULL), NTIMERS);
	close(fd);
	assert_int_equal(evd_terminate(p), 0);
	assert_int_equal(access(state_file(p, "evd.db-wal"), F_OK), -1);
}

/* evd must refuse to start in p's directory, saying "corrupt" and the
 * other words given (NULL-terminated). */
static void
assert_refused(struct evd_proc *p, ...)
{
	const char *word;
	va_list ap;

	assert_int_equal(evd_start_in(p, NULL), -ECHILD);
	assert_true(WIFEXITED(p->status));
	assert_int_not_equal(WEXITSTATUS(p->status), 0);
	assert_true(log_has(p, "corrupt"));
	va_start(ap, p);
	while ((word = va_arg(ap, const char *)) != NULL)
		if (!log_has(p, word))
			fail_msg("the refusal does not say \"%s\"", word);
	va_end(ap);
}

/* All NTIMERS timers are back. */
static void
assert_all_there(struct evd_proc *p)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__List l = EVD__LIST__INIT;
	size_t total = 0;
	uint64_t after = 0;
	int fd = greet(p);

	rq.body_case = EVD__REQUEST__BODY_LIST;
	rq.list = &l;
	for (;;) {
		Evd__Reply *r;
		bool more;

		l.has_after_id = after != 0;
		l.after_id = after;
		rq.has_request_id = 1;
		rq.request_id = next_req++;
		r = raw_call(fd, &rq, 10000);
		assert_non_null(r);
		assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER_LIST);
		total += r->timer_list->n_timers;
		more = r->timer_list->has_next_after_id &&
		       r->timer_list->next_after_id != 0;
		after = r->timer_list->next_after_id;
		evd__reply__free_unpacked(r, NULL);
		if (!more)
			break;
	}
	assert_int_equal(total, NTIMERS);
	close(fd);
}

/* Overwrites len bytes of path at off with b. */
static void
scribble(const char *path, off_t off, size_t len, uint8_t b)
{
	uint8_t buf[4096];
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_true(len <= sizeof buf);
	memset(buf, b, len);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* The review's case: 1000 bytes cut off evd.db while evd was stopped.
 * evd used to start and lose 4 of 3000 timers without a word. */
static void
test_truncated(void **state)
{
	struct evd_proc p;
	struct stat st;

	make_store(&p);
	assert_int_equal(stat(state_file(&p, "evd.db"), &st), 0);
	assert_int_equal(truncate(state_file(&p, "evd.db"), st.st_size - 1000),
	                 0);
	assert_refused(&p, "evd.db", "cut short", "backup", NULL);
	/* Whole pages off the end: SQLite sees that one itself. */
	assert_int_equal(truncate(state_file(&p, "evd.db"), st.st_size - 3 * 4096),
	                 0);
	assert_refused(&p, "evd.db", "backup", NULL);
	rm_rf(p.dir);
}

/* A page overwritten in the middle: the file keeps its size, so only
 * reading the pages (quick_check) finds it. Page 2 is the root of the
 * timers table, the first one the schema made. */
static void
test_page_overwritten(void **state)
{
	struct evd_proc p;

	make_store(&p);
	scribble(state_file(&p, "evd.db"), 4096, 512, 0xa5);
	assert_refused(&p, "quick_check", "backup", NULL);
	rm_rf(p.dir);
}

/* evd.db emptied, then deleted, in a directory that held a store: a lost
 * store, not a new one. Moving evd.created away, as told, starts afresh. */
static void
test_emptied_or_deleted(void **state)
{
	struct evd_proc p;
	int fd;

	make_store(&p);
	assert_int_equal(truncate(state_file(&p, "evd.db"), 0), 0);
	assert_refused(&p, "empty", "evd.created", NULL);
	assert_int_equal(unlink(state_file(&p, "evd.db")), 0);
	assert_refused(&p, "missing", "evd.created", NULL);

	assert_int_equal(unlink(state_file(&p, "evd.created")), 0);
	assert_int_equal(evd_start_in(&p, NULL), 0);
	fd = greet(&p);
	assert_int_equal(schedule_many(fd, 1, NULL), 1);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* After a SIGKILL the last commits may be only in evd.db-wal: without it
 * they are lost, and evd says so instead of starting on what evd.db
 * holds. Removing evd.running, as told, accepts the loss. */
static void
test_wal_deleted_after_crash(void **state)
{
	struct evd_proc p;
	int fd;

	assert_int_equal(evd_start(&p, NULL), 0);
	fd = greet(&p);
	assert_int_equal(schedule_many(fd, 100, NULL), 100);
	close(fd);
	evd_kill9(&p);
	assert_int_equal(access(state_file(&p, "evd.running"), F_OK), 0);
	assert_int_equal(unlink(state_file(&p, "evd.db-wal")), 0);
	assert_refused(&p, "evd.db-wal is missing", "evd.running", NULL);

	assert_int_equal(unlink(state_file(&p, "evd.running")), 0);
	assert_int_equal(evd_start_in(&p, NULL), 0);
	assert_int_equal(evd_stop(&p), 0);
}

/* A frame of evd.db-wal overwritten after a SIGKILL: SQLite's recovery
 * stops at it and drops every commit after it without a word. With
 * --sync full (the default) those were acknowledged: refused. Removing
 * evd.running, as told, starts on what SQLite recovers. */
static void
test_wal_damaged_after_crash(void **state)
{
	struct evd_proc p;
	int fd, i;

	assert_int_equal(evd_start(&p, NULL), 0);
	fd = greet(&p);
	/* One commit each. */
	for (i = 0; i < 20; i++)
		assert_int_equal(schedule_many(fd, 1, NULL), 1);
	close(fd);
	evd_kill9(&p);
	/* Inside the page of the second frame (4 KiB pages). */
	scribble(state_file(&p, "evd.db-wal"), 32 + (24 + 4096) + 24 + 200, 64,
	         0xff);
	assert_refused(&p, "evd.db-wal is damaged", "evd.running", NULL);

	assert_int_equal(unlink(state_file(&p, "evd.running")), 0);
	assert_int_equal(evd_start_in(&p, NULL), 0);
	assert_int_equal(evd_stop(&p), 0);
}

/*
 * The same damage after the last flush evd.synced records: the tail a
 * crash of the machine tore while it was being synced held commits no
 * client saw acknowledged (--sync full replies only after the flush), so
 * evd starts on what SQLite recovers and says what was lost. evd.synced
 * must also cover every acknowledged commit: with its count left as evd
 * wrote it, the damage is refused (test_wal_damaged_after_crash).
 */
static void
test_wal_torn_past_synced(void **state)
{
	uint8_t rec[16];
	struct evd_proc p;
	int fd, i;
	uint32_t frames;

	(void)state;
	assert_int_equal(evd_start(&p, NULL), 0);
	fd = greet(&p);
	for (i = 0; i < 20; i++)
		assert_int_equal(schedule_many(fd, 1, NULL), 1);
	close(fd);
	evd_kill9(&p);
	fd = open(state_file(&p, "evd.synced"), O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, rec, sizeof rec, 0), (ssize_t)sizeof rec);
	assert_memory_equal(rec, "EVDS", 4);
	frames = (uint32_t)rec[12] << 24 | (uint32_t)rec[13] << 16 |
	         (uint32_t)rec[14] << 8 | rec[15];
	/* 20 acknowledged commits, a frame or more each. */
	assert_true(frames >= 20);
	/* As if only the first frame had been synced when the machine
	 * went down. */
	rec[12] = rec[13] = rec[14] = 0;
	rec[15] = 1;
	assert_int_equal(pwrite(fd, rec, sizeof rec, 0), (ssize_t)sizeof rec);
	assert_int_equal(close(fd), 0);
	scribble(state_file(&p, "evd.db-wal"), 32 + (24 + 4096) + 24 + 200, 64,
	         0xff);
	assert_int_equal(evd_start_in(&p, NULL), 0);
	assert_true(log_has(&p, "never acknowledged"));
	assert_int_equal(evd_stop(&p), 0);
}

/* Runs sql on the stopped evd's database, as an operator would. */
static void
sql_exec(const struct evd_proc *p, const char *sql)
{
	char *err = NULL;
	sqlite3 *db;

	assert_int_equal(sqlite3_open(state_file(p, "evd.db"), &db),
	                 SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err != NULL ? err : "?");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* Deletes timer id's row but leaves its key in timers_key, the unique
 * index of pending keys, as the truncation in the review did: for the
 * delete, the index is made to look as if it held no pending rows. */
static void
lose_row_keep_key(const struct evd_proc *p, uint64_t id)
{
	char sql[128];

	sql_exec(p, "PRAGMA writable_schema = ON;"
	            "UPDATE sqlite_master SET sql = replace(sql,"
	            " 'state = ''P''', 'state = ''-''')"
	            " WHERE name = 'timers_key'");
	snprintf(sql, sizeof sql, "DELETE FROM timers WHERE id = %llu",
	         (unsigned long long)id);
	sql_exec(p, sql);
	sql_exec(p, "PRAGMA writable_schema = ON;"
	            "UPDATE sqlite_master SET sql = replace(sql,"
	            " 'state = ''-''', 'state = ''P''')"
	            " WHERE name = 'timers_key'");
}

/* Appends a durable CallLater with key (or none) to a buffer. */
static void
append_later(uint8_t **buf, size_t *len, size_t *cap, uint64_t request_id,
             const char *key)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;

	cl.has_delay_ns = 1;
	cl.delay_ns = 3600 * SEC;
	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = "damage";
	cl.callback = &cb;
	cl.key = (char *)key;
	rq.has_request_id = 1;
	rq.request_id = request_id;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	assert_int_equal(raw_append_request(buf, len, cap, &rq), 0);
}

/* The reply to request_id on fd: the timer id, or 0 and *err (and the
 * message in msg). */
static uint64_t
reply_for(int fd, uint64_t request_id, int *err, char *msg, size_t size)
{
	Evd__Reply *r = raw_recv_reply(fd, 10000);
	uint64_t id = 0;

	assert_non_null(r);
	assert_true(r->has_request_id);
	assert_int_equal(r->request_id, request_id);
	if (r->body_case == EVD__REPLY__BODY_SCHEDULED) {
		id = r->scheduled->timer_id;
	} else {
		assert_int_equal(r->body_case, EVD__REPLY__BODY_ERROR);
		*err = r->error->code;
		if (msg != NULL)
			snprintf(msg, size, "%s", r->error->message);
	}
	evd__reply__free_unpacked(r, NULL);
	return id;
}

/*
 * The review's case: a client retries a key whose timer the damage took,
 * in the same loop iteration as new timers from other clients. evd is
 * stopped while all of them are written, so that it reads them in one
 * iteration: one batch. The retry used to fail the whole batch
 * (UNAVAILABLE for every request of it, again on every retry); now it
 * gets its own error, and the others commit and survive a SIGKILL.
 */
static void
test_bad_row_fails_alone(void **state)
{
	enum { NCONN = 4 };
	struct evd_proc p;
	uint8_t *buf[NCONN] = { NULL };
	size_t len[NCONN] = { 0 }, cap[NCONN] = { 0 };
	uint64_t lost, good[NCONN + 1], rid = 1000;
	char msg[512], bad_msg[512], key[32];
	int fd[NCONN], err, bad_err = 0, i, n = 0;

	assert_int_equal(evd_start(&p, NULL), 0);
	fd[0] = greet(&p);
	append_later(&buf[0], &len[0], &cap[0], rid, "lost-key");
	assert_int_equal(raw_write(fd[0], buf[0], len[0]), 0);
	err = 0;
	lost = reply_for(fd[0], rid++, &err, NULL, 0);
	assert_true(lost > 0);
	close(fd[0]);
	len[0] = 0;
	assert_int_equal(evd_terminate(&p), 0);
	lose_row_keep_key(&p, lost);

	/* quick_check does not see it: evd starts, without the timer. */
	assert_int_equal(evd_start_in(&p, NULL), 0);
	for (i = 0; i < NCONN; i++)
		fd[i] = greet(&p);
	assert_int_equal(kill(p.pid, SIGSTOP), 0);
	append_later(&buf[0], &len[0], &cap[0], rid, "lost-key");
	append_later(&buf[0], &len[0], &cap[0], rid + 1, "fresh-0");
	for (i = 1; i < NCONN; i++) {
		snprintf(key, sizeof key, "fresh-%d", i);
		append_later(&buf[i], &len[i], &cap[i], rid + 1 + i,
		             i == NCONN - 1 ? NULL : key);
	}
	for (i = 0; i < NCONN; i++)
		assert_int_equal(raw_write(fd[i], buf[i], len[i]), 0);
	assert_int_equal(kill(p.pid, SIGCONT), 0);

	assert_int_equal(reply_for(fd[0], rid, &bad_err, bad_msg,
	                           sizeof bad_msg),
	                 0);
	for (i = 0; i < NCONN; i++) {
		err = 0;
		good[n] = reply_for(fd[i], rid + 1 + i, &err, msg, sizeof msg);
		if (good[n] == 0)
			fail_msg("a good request of connection %d failed "
			         "with the bad one: %d %s",
			         i, err, msg);
		n++;
	}
	/* Its own error: not UNAVAILABLE, since retrying cannot help. */
	assert_int_equal(bad_err, EVD__ERROR_CODE__INTERNAL);
	assert_non_null(strstr(bad_msg, "already exists in the store"));
	assert_true(log_has(&p, "only the request that wrote it fails"));

	/* Again: still its own error, and the store keeps writing. */
	len[0] = 0;
	rid += 10;
	append_later(&buf[0], &len[0], &cap[0], rid, "lost-key");
	append_later(&buf[0], &len[0], &cap[0], rid + 1, NULL);
	assert_int_equal(raw_write(fd[0], buf[0], len[0]), 0);
	err = 0;
	assert_int_equal(reply_for(fd[0], rid, &err, NULL, 0), 0);
	assert_int_equal(err, EVD__ERROR_CODE__INTERNAL);
	good[n++] = reply_for(fd[0], rid + 1, &err, NULL, 0);
	assert_true(good[n - 1] > 0);
	for (i = 0; i < NCONN; i++) {
		close(fd[i]);
		free(buf[i]);
	}

	/* What was acknowledged is durable. */
	evd_kill9(&p);
	assert_int_equal(evd_start_in(&p, NULL), 0);
	fd[0] = greet(&p);
	for (i = 0; i < n; i++) {
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__Get g = EVD__GET__INIT;
		Evd__Reply *r;

		g.has_timer_id = 1;
		g.timer_id = good[i];
		rq.has_request_id = 1;
		rq.request_id = ++rid;
		rq.body_case = EVD__REQUEST__BODY_GET;
		rq.get = &g;
		r = raw_call(fd[0], &rq, 10000);
		assert_non_null(r);
		if (r->body_case != EVD__REPLY__BODY_TIMER)
			fail_msg("acknowledged timer %llu is gone",
			         (unsigned long long)good[i]);
		evd__reply__free_unpacked(r, NULL);
	}
	close(fd[0]);
	assert_int_equal(evd_stop(&p), 0);
}

/*
 * The id counters kept in meta behind the rows the store holds (lost
 * with damage, or a store put together by hand): a finished timer with
 * the next timer id and a dead message with the next fire id. Every new
 * timer drew a taken id, and every fire too; ids now go on above the
 * largest stored.
 */
static void
test_ids_behind_the_store(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Subscribe sub = EVD__SUBSCRIBE__INIT;
	struct evd_proc p;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	uint64_t id, rid = 5000;
	Evd__Reply *r;
	int fd, err = 0;

	assert_int_equal(evd_start(&p, NULL), 0);
	fd = greet(&p);
	assert_int_equal(schedule_many(fd, 1, NULL), 1);
	close(fd);
	assert_int_equal(evd_terminate(&p), 0);
	sql_exec(&p, "INSERT INTO timers (id, state, uid, gid, clock,"
	             " deadline_ns, due_rt_ns, created_rt_ns, misfire,"
	             " delivery, downtime, max_attempts, fire_count,"
	             " last_fired_rt_ns, finished_rt_ns)"
	             " SELECT v, 'F', 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0,"
	             " unixepoch() * 1000000000"
	             " FROM meta WHERE k = 'next_timer_id';"
	             "INSERT INTO messages (fire_id, timer_id, owner, channel,"
	             " due_rt_ns, fired_rt_ns, lateness_ns, attempts,"
	             " max_attempts, delivery, dead)"
	             " VALUES (COALESCE((SELECT v FROM meta"
	             " WHERE k = 'next_fire_id'), 1), 1, 0, 'damage-dead',"
	             " 0, 0, 0, 10, 10, 0, 1)");

	assert_int_equal(evd_start_in(&p, NULL), 0);
	fd = greet(&p);
	sub.channel = "damage";
	rq.has_request_id = 1;
	rq.request_id = rid++;
	rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &sub;
	r = raw_call(fd, &rq, 10000);
	assert_non_null(r);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SUBSCRIBED);
	evd__reply__free_unpacked(r, NULL);

	append_later(&buf, &len, &cap, rid, NULL);
	assert_int_equal(raw_write(fd, buf, len), 0);
	free(buf);
	id = reply_for(fd, rid, &err, NULL, 0);
	if (id == 0)
		fail_msg("a new timer drew a taken id: error %d", err);

	/* Its fire, due at once, draws a fire id too. */
	buf = NULL;
	len = cap = 0;
	{
		Evd__CallLater cl = EVD__CALL_LATER__INIT;
		Evd__Callback cb = EVD__CALLBACK__INIT;
		Evd__Request now = EVD__REQUEST__INIT;

		cl.has_delay_ns = 1;
		cl.delay_ns = 0;
		cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb.channel = "damage";
		cl.callback = &cb;
		now.has_request_id = 1;
		now.request_id = ++rid;
		now.body_case = EVD__REQUEST__BODY_CALL_LATER;
		now.call_later = &cl;
		assert_int_equal(raw_append_request(&buf, &len, &cap, &now), 0);
	}
	assert_int_equal(raw_write(fd, buf, len), 0);
	free(buf);
	r = raw_next_fired(fd, 10000);
	if (r == NULL)
		fail_msg("the fire never came: %s",
		         log_has(&p, "cannot write") ? "the store failed"
		                                     : "?");
	evd__reply__free_unpacked(r, NULL);
	assert_false(log_has(&p, "cannot write"));
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* What must keep working: a fresh directory; an empty evd.db where no
 * store was made yet (a first start that died right after creating
 * it); a clean restart; a restart after SIGKILL, which SQLite recovers
 * from the WAL and evd's log says so. */
static void
test_good_starts(void **state)
{
	struct evd_proc p;
	int fd;

	make_store(&p);
	assert_int_equal(evd_start_in(&p, NULL), 0);
	assert_all_there(&p);
	fd = greet(&p);
	assert_int_equal(schedule_many(fd, 1, NULL), 1);
	close(fd);
	evd_kill9(&p);
	assert_int_equal(evd_start_in(&p, NULL), 0);
	assert_true(log_has(&p, "recovered"));
	assert_false(log_has(&p, "corrupt"));
	assert_int_equal(evd_terminate(&p), 0);
	assert_int_equal(access(state_file(&p, "evd.running"), F_OK), -1);
	rm_rf(p.dir);

	/* A fresh directory with an empty evd.db and no evd.created. */
	memset(&p, 0, sizeof p);
	snprintf(p.dir, sizeof p.dir, "/tmp/evd-test.XXXXXX");
	assert_non_null(mkdtemp(p.dir));
	assert_true(snprintf(p.state, sizeof p.state, "%s/state", p.dir) <
	            (int)sizeof p.state);
	assert_int_equal(mkdir(p.state, 0700), 0);
	fd = open(state_file(&p, "evd.db"), O_WRONLY | O_CREAT | O_CLOEXEC,
	          0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(evd_start_in(&p, NULL), 0);
	fd = greet(&p);
	assert_int_equal(schedule_many(fd, 1, NULL), 1);
	close(fd);
	assert_int_equal(access(state_file(&p, "evd.created"), F_OK), 0);
	assert_int_equal(evd_stop(&p), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_page_overwritten),
		cmocka_unit_test(test_emptied_or_deleted),
		cmocka_unit_test(test_wal_deleted_after_crash),
		cmocka_unit_test(test_wal_damaged_after_crash),
		cmocka_unit_test(test_wal_torn_past_synced),
		cmocka_unit_test(test_good_starts),
		cmocka_unit_test(test_bad_row_fails_alone),
		cmocka_unit_test(test_ids_behind_the_store),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
