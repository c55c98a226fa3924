/*
 * Unit tests of the PostgreSQL store (daemon/store_pg.c) against a real
 * server: store_cases.c's backend-generic cases, as SQLite passes them,
 * and what only this backend has (one evd per database, the schema
 * version, a lost connection re-established from check()).
 *
 * The group starts one server (tests/pg/pgfixture.c) and stops it at
 * the end; each case starts from an empty database (schema evd
 * dropped). Without PostgreSQL installed the program exits 77 and says
 * why, unless EVD_REQUIRE_PG=1 (CI) makes that a failure.
 */
#include "store_cases.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "pgfixture.h"

#include <libpq-fe.h>

static struct pgfx pg;

/* The link wraps libpq's PQsendQueryPrepared (CMakeLists.txt): with
 * send_fail_in > 0, the send that many calls from now fails as libpq
 * fails one (the query is not queued). */
static int send_fail_in;

int __real_PQsendQueryPrepared(PGconn *conn, const char *stmtName,
                               int nParams, const char *const *paramValues,
                               const int *paramLengths,
                               const int *paramFormats, int resultFormat);
int __wrap_PQsendQueryPrepared(PGconn *conn, const char *stmtName,
                               int nParams, const char *const *paramValues,
                               const int *paramLengths,
                               const int *paramFormats, int resultFormat);

int
__wrap_PQsendQueryPrepared(PGconn *conn, const char *stmtName, int nParams,
                           const char *const *paramValues,
                           const int *paramLengths, const int *paramFormats,
                           int resultFormat)
{
	if (send_fail_in > 0 && --send_fail_in == 0)
		return 0;
	return __real_PQsendQueryPrepared(conn, stmtName, nParams, paramValues,
	                                  paramLengths, paramFormats,
	                                  resultFormat);
}

int
store_fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	/* A case that failed half-way left its store open. */
	assert_int_equal(pgfx_sql(&pg, "postgres",
	                          "SELECT pg_terminate_backend(pid) FROM"
	                          " pg_stat_activity WHERE application_name"
	                          " = 'evd'"),
	                 0);
	assert_int_equal(pgfx_sql(&pg, "postgres",
	                          "DROP SCHEMA IF EXISTS evd CASCADE"), 0);
	snprintf(f->conninfo, sizeof(f->conninfo), "%s", pg.conninfo);
	f->cfg.conninfo = f->conninfo;
	f->cfg.sync_full = false;
	f->cfg.history_per_timer = 3;
	clock_set_source(fake_now);
	*state = f;
	return 0;
}

int
store_fx_teardown(void **state)
{
	free(*state);
	clock_set_source(NULL);
	return 0;
}

/* One evd per database: a second open is refused while the first holds
 * it, and succeeds once it closed. */
static void
test_pg_second_open_fails(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f), *s2 = NULL;

	assert_int_equal(B->open(&f->cfg, &s2), -EBUSY);
	assert_null(s2);
	assert_non_null(strstr(B->errmsg(NULL), "another evd"));
	B->close(s);
	s = open_ok(f);
	B->close(s);
}

/* The schema is versioned in meta; a newer one is refused, not used. */
static void
test_pg_schema_version(void **state)
{
	struct fx *f = *state;
	struct store *s = open_ok(f), *s2 = NULL;
	int64_t v;

	assert_int_equal(B->meta_get(s, "schema_version", &v), 0);
	assert_int_equal(v, 5);
	B->close(s);
	assert_int_equal(pgfx_sql(&pg, "postgres",
	                          "UPDATE evd.meta SET v = 99 WHERE"
	                          " k = 'schema_version'"),
	                 0);
	assert_int_equal(B->open(&f->cfg, &s2), -EPROTO);
	assert_non_null(strstr(B->errmsg(NULL), "newer than this evd"));
	assert_int_equal(pgfx_sql(&pg, "postgres",
	                          "UPDATE evd.meta SET v = 5 WHERE"
	                          " k = 'schema_version'"),
	                 0);
	s = open_ok(f);
	B->close(s);
}

/* A single-row query's int8 value on database postgres. */
static int64_t
query_i64(const char *sql)
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

/* A read-only open (evd migrate's source) of a database without evd's
 * schema is -ENOENT and creates nothing; of a store, it reads. */
static void
test_pg_read_only_open(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;
	int64_t v;

	f->cfg.read_only = true;
	assert_int_equal(B->open(&f->cfg, &s), -ENOENT);
	assert_null(s);
	assert_non_null(strstr(B->errmsg(NULL), "no schema evd"));
	assert_int_equal(query_i64("SELECT count(*) FROM pg_namespace"
	                           " WHERE nspname = 'evd'"),
	                 0);
	f->cfg.read_only = false;
	s = open_ok(f);
	B->close(s);
	f->cfg.read_only = true;
	s = open_ok(f);
	assert_int_equal(B->meta_get(s, "schema_version", &v), 0);
	assert_int_equal(v, 5);
	B->close(s);
}

/*
 * flush() makes every earlier commit durable (sync_full): commits are
 * asynchronous (the server's WAL writer waits 10 s here, so the batch's
 * WAL is still unflushed), and once flush() returned the server's WAL
 * is flushed past the end of that batch's commit record. A flush that
 * committed nothing WAL-logged (an xid alone) leaves it unflushed.
 */
static void
test_pg_flush(void **state)
{
	struct fx *f = *state;
	struct store_timer t = timer_make(1);
	struct store *s;
	struct got g;
	int64_t end;

	f->cfg.sync_full = true;
	s = open_ok(f);
	assert_true(B->flushes(s));
	assert_int_equal(schedule1(s, &t), 0);
	end = query_i64("SELECT pg_current_wal_insert_lsn() - '0/0'");
	assert_true(query_i64("SELECT pg_current_wal_flush_lsn() - '0/0'") <
	            end);
	assert_int_equal(B->flush(s), 0);
	assert_true(query_i64("SELECT pg_current_wal_flush_lsn() - '0/0'") >=
	            end);
	assert_int_equal(get(s, 1, &g), 0);
	B->close(s);
}

/*
 * Without sync_full (sync = normal) commits keep the server's
 * synchronous_commit (on): once a batch committed, the server's WAL is
 * flushed past its commit record, with no flush() at all (the WAL
 * writer waits 10 s here, so it is the commit that flushed it).
 */
static void
test_pg_normal_commits_synchronously(void **state)
{
	struct fx *f = *state;
	struct store_timer t = timer_make(1);
	struct store *s;
	int64_t end;

	f->cfg.sync_full = false;
	s = open_ok(f);
	assert_false(B->flushes(s));
	assert_int_equal(schedule1(s, &t), 0);
	end = query_i64("SELECT pg_current_wal_insert_lsn() - '0/0'");
	assert_true(query_i64("SELECT pg_current_wal_flush_lsn() - '0/0'") >=
	            end);
	B->close(s);
}

/* A single-row query's text value, or NULL (kept in buf) if the server
 * does not answer it. */
static const char *
query_text(const char *sql, char *buf, size_t size)
{
	PGconn *c = PQconnectdb(pg.conninfo);
	PGresult *res = NULL;
	const char *v = NULL;

	if (PQstatus(c) == CONNECTION_OK) {
		res = PQexec(c, sql);
		if (PQresultStatus(res) == PGRES_TUPLES_OK &&
		    PQntuples(res) == 1) {
			snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
			v = buf;
		}
	}
	PQclear(res);
	PQfinish(c);
	return v;
}

/*
 * A crash-restart of the server: one of evd's backends killed with
 * SIGKILL (not pg_terminate_backend, a clean exit), so the postmaster
 * kills every other backend, throws shared memory (WAL buffers
 * included) away and recovers from the WAL on disk, keeping its start
 * time. Returns once the server answers again and no evd connection is
 * left.
 */
static void
crash_restart(void)
{
	char buf[64];
	const char *v;
	int i;

	v = query_text("SELECT pid FROM pg_stat_activity WHERE"
	               " application_name = 'evd' LIMIT 1", buf, sizeof(buf));
	assert_non_null(v);
	assert_int_equal(kill((pid_t)atoi(v), SIGKILL), 0);
	for (i = 0; i < 300; i++) {
		struct timespec ts = { 0, 50000000 };

		v = query_text("SELECT count(*) FROM pg_stat_activity WHERE"
		               " application_name = 'evd'", buf, sizeof(buf));
		if (v != NULL && strcmp(v, "0") == 0)
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("PostgreSQL did not come back after a crash");
}

/*
 * A crash-restart loses the asynchronous commits that were still in WAL
 * buffers (the WAL writer waits 10 s here), yet keeps the postmaster's
 * start time: flush() must not trust a reconnect then, but see that the
 * last batch's commit is gone and say -EIO.
 */
static void
test_pg_flush_crash_lost(void **state)
{
	struct fx *f = *state;
	struct store_timer a = timer_make(1), b = timer_make(2);
	struct store *s;
	char buf[64];

	f->cfg.sync_full = true;
	s = open_ok(f);
	assert_int_equal(schedule1(s, &a), 0);
	assert_int_equal(B->flush(s), 0);
	assert_int_equal(schedule1(s, &b), 0); /* committed, not flushed */
	crash_restart();
	/* What the test is about: b's commit is gone. */
	assert_string_equal(query_text("SELECT count(*) FROM evd.timers",
	                               buf, sizeof(buf)),
	                    "1");
	assert_int_equal(B->flush(s), -EIO);
	B->close(s);
}

/* A crash-restart after the last flush lost nothing: the witness (the
 * last batch's xid) is committed and flush() trusts the reconnect. */
static void
test_pg_flush_crash_kept(void **state)
{
	struct fx *f = *state;
	struct store_timer a = timer_make(1);
	struct store *s;
	char buf[64];

	f->cfg.sync_full = true;
	s = open_ok(f);
	assert_int_equal(schedule1(s, &a), 0);
	assert_int_equal(B->flush(s), 0);
	crash_restart();
	assert_int_equal(B->flush(s), 0);
	assert_string_equal(query_text("SELECT count(*) FROM evd.timers",
	                               buf, sizeof(buf)),
	                    "1");
	B->close(s);
}

/* The whole server crashes (pg_ctl stop -m immediate) and starts again,
 * with another start time. */
static void
server_restart(void)
{
	char why[256];

	if (pgfx_crash(&pg, why, sizeof(why)) < 0 ||
	    pgfx_restart(&pg, why, sizeof(why)) < 0)
		fail_msg("%s", why);
}

/* A server restart after the last flush lost nothing: the witness says
 * so and flush() goes on (before, any new start time stopped evd). */
static void
test_pg_flush_server_restart_kept(void **state)
{
	struct fx *f = *state;
	struct store_timer a = timer_make(1);
	struct store *s;
	char buf[64];

	f->cfg.sync_full = true;
	s = open_ok(f);
	assert_int_equal(schedule1(s, &a), 0);
	assert_int_equal(B->flush(s), 0);
	server_restart();
	assert_int_equal(B->flush(s), 0);
	assert_string_equal(query_text("SELECT count(*) FROM evd.timers",
	                               buf, sizeof(buf)),
	                    "1");
	B->close(s);
}

/* A server restart that lost a commit not yet flushed: -EIO. */
static void
test_pg_flush_server_restart_lost(void **state)
{
	struct fx *f = *state;
	struct store_timer a = timer_make(1), b = timer_make(2);
	struct store *s;
	char buf[64];

	f->cfg.sync_full = true;
	s = open_ok(f);
	assert_int_equal(schedule1(s, &a), 0);
	assert_int_equal(B->flush(s), 0);
	assert_int_equal(schedule1(s, &b), 0); /* committed, not flushed */
	server_restart();
	assert_string_equal(query_text("SELECT count(*) FROM evd.timers",
	                               buf, sizeof(buf)),
	                    "1");
	assert_int_equal(B->flush(s), -EIO);
	B->close(s);
}

/* After a reconnect, a witness that is not committed (here an aborted
 * transaction's xid) makes flush() fail, whatever the start time says. */
static void
test_pg_flush_witness_aborted(void **state)
{
	struct fx *f = *state;
	struct store_timer a = timer_make(1);
	struct store *s;
	PGconn *c;
	PGresult *res;
	uint64_t xid;

	f->cfg.sync_full = true;
	s = open_ok(f);
	assert_int_equal(schedule1(s, &a), 0);
	assert_int_equal(B->flush(s), 0);
	c = PQconnectdb(pg.conninfo);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	PQclear(PQexec(c, "BEGIN"));
	res = PQexec(c, "SELECT txid_current()");
	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	xid = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	PQclear(PQexec(c, "ROLLBACK"));
	PQfinish(c);
	store_pg_test_witness(s, xid);
	/* Without a reconnect, the witness is not looked at. */
	assert_int_equal(B->flush(s), 0);
	assert_int_equal(pgfx_sql(&pg, "postgres",
	                          "SELECT pg_terminate_backend(pid) FROM"
	                          " pg_stat_activity WHERE application_name"
	                          " = 'evd'"),
	                 0);
	assert_int_equal(B->flush(s), -EIO);
	B->close(s);
}

/*
 * The server drops the loop's connection (as a restart or a network cut
 * would): check() or the next write says -ENOTCONN, check() says so without
 * waiting while it reconnects, and once it has, batches commit again and
 * what was committed before is still there.
 */
static void
test_pg_reconnect(void **state)
{
	struct fx *f = *state;
	struct store_timer a = timer_make(1), b = timer_make(2);
	struct store *s = open_ok(f);
	struct got g;
	int i, r = -1;

	assert_int_equal(schedule1(s, &a), 0);
	assert_int_equal(pgfx_sql(&pg, "postgres",
	                          "SELECT pg_terminate_backend(pid) FROM"
	                          " pg_stat_activity WHERE application_name"
	                          " = 'evd'"),
	                 0);
	/* Noticed by check() once the server's goodbye has arrived, which
	 * pg_terminate_backend does not wait for; else by the next write. */
	if ((r = B->check(s)) == 0) {
		assert_int_equal(B->begin(s), 0);
		assert_int_equal(B->schedule(s, &b), -ENOTCONN);
		B->rollback(s);
	} else {
		assert_int_equal(r, -ENOTCONN);
	}
	for (i = 0; i < 200 && (r = B->check(s)) != 0; i++) {
		struct timespec ts = { 0, 20000000 };

		assert_int_equal(r, -ENOTCONN);
		nanosleep(&ts, NULL);
	}
	assert_int_equal(r, 0);
	assert_int_equal(schedule1(s, &b), 0);
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 2);
	B->close(s);
}

/* A TCP port on 127.0.0.1 that refuses connects (bound, not listening):
 * *ret_fd, its port returned; -1 on failure. */
static int
hang_port(int *ret_fd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*ret_fd = fd;
	return ntohs(sa.sin_port);
}

/* Makes the port of hang_port swallow connects: listening with a queue
 * of one, filled, so the kernel drops new SYNs. fills[2] are the
 * connects that fill it. false if this kernel answers anyway. */
static bool
hang_now(int fd, int port, int fills[3])
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timespec ts = { 0, 300000000 };
	struct pollfd pfd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (listen(fd, 0) < 0)
		return false;
	for (int i = 0; i < 3; i++) {
		fills[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (fills[i] >= 0)
			(void)connect(fills[i], (struct sockaddr *)&sa,
			              sizeof(sa));
	}
	nanosleep(&ts, NULL);
	/* The third must still be waiting for its SYN's answer. */
	pfd.fd = fills[2];
	pfd.events = POLLOUT;
	return fills[2] >= 0 && poll(&pfd, 1, 1000) == 0;
}

/*
 * A reconnect goes through the conninfo's servers one at a time, each
 * TCP connect bounded by connect_timeout as libpq documents it
 * (pgaddr.h): with host 1 (a name, resolved by evd) swallowing the
 * connect, check() reaches host 2 within a few seconds. libpq's own walk through the list (PQconnectPoll, nobody
 * waiting) stayed on host 1 until tcp_user_timeout (here a minute) or
 * the kernel's SYN retries ended it.
 */
static void
test_pg_reconnect_past_hanging_server(void **state)
{
	struct fx *f = *state;
	struct store_timer a = timer_make(1), b = timer_make(2);
	struct store *s;
	struct got g;
	int fd = -1, fills[3] = { -1, -1, -1 };
	int port = hang_port(&fd), i, r = -1;

	assert_true(port > 0);
	snprintf(f->conninfo, sizeof(f->conninfo),
	         "host=localhost,127.0.0.1 port=%d,%d connect_timeout=2 "
	         "tcp_user_timeout=60000 user=evd dbname=postgres", port,
	         pg.port);
	s = open_ok(f); /* host 1 refuses: libpq goes on to host 2 */
	assert_int_equal(schedule1(s, &a), 0);
	if (!hang_now(fd, port, fills)) {
		B->close(s);
		for (i = 0; i < 3; i++)
			if (fills[i] >= 0)
				close(fills[i]);
		close(fd);
		skip();
	}
	assert_int_equal(pgfx_sql(&pg, "postgres",
	                          "SELECT pg_terminate_backend(pid) FROM"
	                          " pg_stat_activity WHERE application_name"
	                          " = 'evd'"),
	                 0);
	/* As in test_pg_reconnect: noticed by check() or the next write. */
	if ((r = B->check(s)) == 0) {
		assert_int_equal(B->begin(s), 0);
		assert_int_equal(B->schedule(s, &b), -ENOTCONN);
		B->rollback(s);
	}
	/* 2 s on host 1, then host 2, called four times a second (the
	 * daemon probes once a second: each call takes only the steps
	 * ready then); 15 s is a bound, not a measure. */
	for (i = 0; i < 60 && (r = B->check(s)) != 0; i++) {
		struct timespec ts = { 0, 250000000 };

		assert_int_equal(r, -ENOTCONN);
		nanosleep(&ts, NULL);
	}
	assert_int_equal(r, 0);
	assert_int_equal(schedule1(s, &b), 0);
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 2);
	B->close(s);
	for (i = 0; i < 3; i++)
		if (fills[i] >= 0)
			close(fills[i]);
	close(fd);
}

/*
 * A batch's first write queues BEGIN (and the xid) and then its own
 * statement; when that send fails, nothing was synced. The write fails,
 * the connection is dropped rather than left with results in flight
 * (which later calls would read as theirs), check() makes a new one,
 * and the batches after it do what they say.
 */
static void
test_pg_send_fails(void **state)
{
	struct fx *f = *state;
	struct store_timer a = timer_make(1), b = timer_make(2),
	                   c = timer_make(3);
	struct store *s = open_ok(f);
	struct got g;
	int i, r = -1;

	assert_int_equal(schedule1(s, &a), 0);
	assert_int_equal(B->begin(s), 0);
	send_fail_in = 3; /* BEGIN, the xid, then the INSERT */
	r = B->schedule(s, &b);
	send_fail_in = 0;
	assert_true(r < 0 && !STORE_ROW_ERROR(r));
	B->rollback(s);
	for (i = 0; i < 200 && (r = B->check(s)) != 0; i++) {
		struct timespec ts = { 0, 20000000 };

		assert_int_equal(r, -ENOTCONN);
		nanosleep(&ts, NULL);
	}
	assert_int_equal(r, 0);
	assert_int_equal(schedule1(s, &c), 0);
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->cancel(s, 1), 0);
	assert_int_equal(B->cancel(s, 2), -ENOENT);
	assert_int_equal(B->commit(s), 0);
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.ids[0], 3);
	assert_int_equal(get(s, 2, &g), -ENOENT);
	B->close(s);
}

/* A conninfo libpq cannot parse is refused without quoting it back:
 * what it quotes may be a password. */
static void
test_pg_bad_conninfo_hides_it(void **state)
{
	struct fx *f = *state;
	struct store *s = NULL;

	f->cfg.conninfo = "host=x password=a s3cret"; /* a stray word */
	assert_int_equal(B->open(&f->cfg, &s), -EINVAL);
	assert_null(s);
	assert_non_null(strstr(B->errmsg(NULL), "bad PostgreSQL conninfo"));
	assert_null(strstr(B->errmsg(NULL), "s3cret"));
	f->cfg.conninfo = "postgresql://u:s3%zzcret@h/db";
	assert_int_equal(B->open(&f->cfg, &s), -EINVAL);
	assert_null(strstr(B->errmsg(NULL), "s3cret"));
}

/* A string PostgreSQL would refuse fails only its own row. */
static void
test_pg_bad_utf8_is_row_error(void **state)
{
	struct fx *f = *state;
	struct store_timer a = timer_make(1), b = timer_make(2);
	struct store *s = open_ok(f);
	struct got g;

	a.channel = "bad\xff";
	assert_int_equal(B->begin(s), 0);
	assert_int_equal(B->schedule(s, &b), 0);
	assert_int_equal(B->schedule(s, &a), -EINVAL);
	assert_int_equal(B->commit(s), 0);
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 1);
	B->close(s);
}

static int
out_sum_cb(uid_t uid, int64_t bytes, void *arg)
{
	(void)uid;
	*(int64_t *)arg += bytes;
	return 0;
}

/*
 * Pipeline mode (the operation log's writes): writes return before the
 * server answered, the next read or the commit collects every answer,
 * a write of a row already gone (cancel, ack) is done, and one refused
 * write fails the commit, which then changed nothing; the connection
 * serves the next batch.
 */
static void
test_pg_pipelined_writes(void **state)
{
	struct fx *f = *state;
	struct store_timer t[6];
	struct store_run run = { 0 };
	struct store *s = open_ok(f);
	int64_t out = 0, v;
	struct got g;
	int i;

	assert_non_null(B->pipeline);
	assert_true(B->threaded(s));
	for (i = 0; i < 6; i++)
		t[i] = timer_make((uint64_t)i + 1);
	assert_int_equal(B->output_changes(s, out_sum_cb, &out), 0);
	out = 0;

	assert_int_equal(B->begin(s), 0);
	B->pipeline(s, true);
	assert_int_equal(B->schedule(s, &t[0]), 0);
	assert_int_equal(B->schedule(s, &t[1]), 0);
	assert_int_equal(B->schedule(s, &t[2]), 0);
	assert_int_equal(B->cancel(s, 99), 0);
	assert_int_equal(B->ack(s, 77), 0);
	run.timer_id = 1;
	run.fire_id = 5;
	run.outcome = EVD_RUN_EXEC_EXITED;
	run.out = (const uint8_t *)"abc";
	run.out_len = 3;
	assert_int_equal(B->run_append(s, &run), 0);
	assert_int_equal(B->meta_put(s, "pipelined", 42), 0);
	B->pipeline(s, false);
	/* A read in the batch sees its writes. */
	assert_int_equal(get(s, 2, &g), 0);
	assert_int_equal(B->commit(s), 0);
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 3);
	assert_int_equal(B->meta_get(s, "pipelined", &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(B->output_changes(s, out_sum_cb, &out), 0);
	assert_int_equal(out, 3);

	/* A taken id among them: the commit fails, nothing of it stays. */
	assert_int_equal(B->begin(s), 0);
	B->pipeline(s, true);
	assert_int_equal(B->schedule(s, &t[3]), 0);
	assert_int_equal(B->schedule(s, &t[0]), 0);
	assert_int_equal(B->schedule(s, &t[4]), 0);
	B->pipeline(s, false);
	assert_int_equal(B->commit(s), -EEXIST);
	assert_non_null(strstr(B->errmsg(s), "already exists"));
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 3);

	/* The next batch commits, pipelined or not. */
	assert_int_equal(B->begin(s), 0);
	B->pipeline(s, true);
	assert_int_equal(B->schedule(s, &t[5]), 0);
	B->pipeline(s, false);
	assert_int_equal(B->commit(s), 0);
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 4);

	/* Rolled back with answers unread: they are read and dropped. */
	assert_int_equal(B->begin(s), 0);
	B->pipeline(s, true);
	assert_int_equal(B->schedule(s, &t[3]), 0);
	B->pipeline(s, false);
	B->rollback(s);
	assert_int_equal(claim_all(s, &g), 0);
	assert_int_equal(g.n, 4);
	B->close(s);
}

int
main(void)
{
	const struct CMUnitTest own[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, store_fx_setup, \
                                              store_fx_teardown)
	    T(test_pg_second_open_fails),
	    T(test_pg_schema_version),
	    T(test_pg_read_only_open),
	    T(test_pg_flush),
	    T(test_pg_flush_crash_lost),
	    T(test_pg_normal_commits_synchronously),
	    T(test_pg_flush_crash_kept),
	    T(test_pg_flush_server_restart_kept),
	    T(test_pg_flush_server_restart_lost),
	    T(test_pg_flush_witness_aborted),
	    T(test_pg_reconnect),
	    T(test_pg_reconnect_past_hanging_server),
	    T(test_pg_bad_utf8_is_row_error),
	    T(test_pg_pipelined_writes),
	    T(test_pg_send_fails),
	    T(test_pg_bad_conninfo_hides_it),
#undef T
	};
	size_t n = sizeof(own) / sizeof(own[0]);
	struct CMUnitTest *tests;
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
	tests = calloc(n + store_cases_count, sizeof(*tests));
	if (tests == NULL) {
		pgfx_stop(&pg);
		return 1;
	}
	store_cases_backend = &store_pg_backend;
	memcpy(tests, store_cases, store_cases_count * sizeof(*tests));
	memcpy(tests + store_cases_count, own, sizeof(own));
	r = _cmocka_run_group_tests("test_store_pg", tests,
	                            n + store_cases_count, NULL, NULL);
	free(tests);
	pgfx_stop(&pg);
	return r;
}
