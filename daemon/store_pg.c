/*
 * store_pg: the durable store (see store.h) in a PostgreSQL database,
 * schema "evd", through libpq. This file is the single-node backend:
 * one evd per database, the only claimant, so claim() hands over every
 * pending timer with fence 0 and writes nothing, as sqlite's does. The
 * schema already has what several nodes need (timers.vis_at, claim_node,
 * attempts, state 'C' claimed; nodes; messages.vis_at, consumer, fence)
 * so that cluster mode adds queries (schema 4 only indexes them).
 *
 * Cluster mode's messages (the ST_C_* message statements): a row is a
 * node's while consumer names it and vis_at, its lease, has not passed;
 * nobody's while consumer is NULL (vis_at NULL too) or the lease lapsed.
 * Every claim, adoption, give-back and reap bumps fence, and the
 * node's ack (a delete) and update present it: a node that lost a claim
 * changes nothing of the row. A row inserted unclaimed NOTIFYs evd_msg
 * in its transaction, a hint the nodes' node connections LISTEN for.
 *
 * Owns two connections: conn, the loop's (every call but flush), and
 * fconn, the sync thread's (flush only, and only with sync_full). Must
 * not log: failures are negative errno plus a reason in store_errmsg().
 *
 * Invariants:
 *	the schema version is meta's schema_version; store_pg_migrations[i]
 *	takes version i to i + 1 in one transaction under an advisory
 *	transaction lock, so two evds starting together migrate once; a
 *	newer schema than this evd knows is refused, never downgraded;
 *	one evd per database: the loop's connection holds the session
 *	advisory lock STORE_PG_LOCK_SINGLE from open to close (taken
 *	again after a reconnect, or the store refuses writes);
 *	conn stays in pipeline mode once set up: every call sends its
 *	statement(s) with one sync and reads every result up to it, so a
 *	call is one round trip and leaves nothing in flight; begin() sends
 *	nothing, the first write of a batch carries BEGIN with it in the
 *	same pipeline, and a batch with no write costs no round trip;
 *	row errors never abort the transaction: a taken id or key is
 *	"ON CONFLICT DO NOTHING" or a guarded UPDATE reporting 0 rows, and
 *	strings that PostgreSQL would refuse (not UTF-8) are refused here
 *	before anything is sent; any error the server reports inside a
 *	transaction aborts it, so it is never a row error (-EIO at most);
 *	the loop never waits for a connection: a lost one is re-established
 *	by check() with PQconnectStartParams/PQconnectPoll, only the steps
 *	whose socket is ready, one server at a time with its host name
 *	resolved off the loop (pgaddr.h), with backoff between rounds;
 *	retained output is tallied per uid as in store_sqlite.c:
 *	out_pending for the open transaction, out_done once committed.
 *
 * Durability: with sync = normal (not sync_full) conn keeps the server's
 * synchronous_commit (on by default): its commits are as durable as the
 * server makes them, and a crash of the server (or pg_ctl stop -m
 * immediate) loses none, only what the server's own settings give up.
 * With sync_full, batches commit with synchronous_commit off on conn
 * (visible at once, safe from a crash of evd, not from one of the
 * server), and flush() commits a one-row write (meta's store.flushes) on
 * fconn with synchronous_commit on. A synchronous commit flushes WAL up
 * to the end of its own commit record (and, with synchronous_standby_names,
 * waits until a standby confirms that far), and WAL is one sequence:
 * every commit record inserted before it, asynchronous ones included, is
 * flushed (and replicated) with it. What counts is in PostgreSQL 15's
 * RecordTransactionCommit() (src/backend/access/transam/xact.c): it calls
 * XLogFlush(XactLastRecEnd) and SyncRepWaitForLSN() only when
 * "wrote_xlog && markXidCommitted && synchronous_commit > off", and
 * wrote_xlog is whether the transaction wrote WAL *before* its commit
 * record. So a transaction that merely gets an xid (SELECT
 * pg_current_xact_id()) commits asynchronously whatever the setting --
 * measured here: after such a commit pg_current_wal_flush_lsn() still
 * lagged the earlier asynchronous commit, after the one-row write it did
 * not (test_pg_flush checks exactly this). If fconn was lost, flush()
 * reconnects: a restarted server (or a promoted standby) may have lost
 * asynchronous commits. Its start time cannot tell: a crash-restart (a
 * backend killed, restart_after_crash on) keeps it and loses the commits
 * still in WAL buffers, and a restart that lost nothing changes it. So
 * each batch's first write carries SELECT
 * txid_current() in its pipeline (no extra round trip), commit() keeps
 * the xid of the last batch that committed (the witness), and after a
 * reconnect flush() trusts nothing until txid_status() of the witness
 * says 'committed': WAL is one sequence, so if that commit record
 * survived, every earlier one did. Anything else (aborted, NULL for an
 * xid the server never saw, an error) is -EIO. A residual hole: a lost
 * xid can be handed out again after recovery, and if a batch that got
 * it committed before flush() looks, the witness reads committed; the
 * loop's reconnect backoff makes that window small, not empty.
 *
 * Waiting: a call waits for its one round trip. A server that closed the
 * connection is noticed by check() before the batch; one that stops
 * answering without closing it holds the call until the keepalives and
 * tcp_user_timeout this file adds to the conninfo (about 10 s) give up.
 */
#include "store.h"
#include "store_out.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "clock.h"
#include "pgaddr.h"
#include "wirestr.h"

/* Advisory lock keys (pg_advisory_lock's one bigint space is shared by
 * every application of the database: "evd" in ASCII, then a number). */
#define STORE_PG_LOCK_MIGRATE INT64_C(0x65766400000001)
#define STORE_PG_LOCK_SINGLE INT64_C(0x65766400000002)
#define PRUNE_EVERY 64   /* commits between sweep steps */
#define PRUNE_SPAN 1024  /* timer ids per sweep step */
#define META_PRUNE_CURSOR "store.prune_cursor"
#define META_SCHEMA_VERSION "schema_version"
/* Counts flushes: flush()'s write (the sync thread's only row). */
#define META_FLUSHES "store.flushes"
#define CLAIM_PAGE 2000  /* rows per claim() round trip */
#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 5000
/* flush() retries a lost fconn this long before it gives up (-EIO). */
#define FLUSH_RECONNECT_MS 10000
/* open() waits this many times 50 ms for the single-node lock. */
#define OPEN_LOCK_TRIES 100
#define MAX_PARAMS 24
#define MAX_CONNINFO 48  /* keywords of a conninfo, ours included */
/* Cluster mode: LISTEN/NOTIFY name of "a message waits unclaimed". */
#define STORE_PG_MSG_CHANNEL "evd_msg"


/* Version i + 1 of the schema is what migrations[i] leaves. Append only:
 * a released step is never edited. */
static const char *const store_pg_migrations[] = {
    /* 1: everything, with the columns cluster mode will claim with. */
    "CREATE TABLE evd.timers ("
    " id int8 PRIMARY KEY,"
    " fence int8 NOT NULL DEFAULT 0,"
    /* P pending, C claimed by claim_node (cluster mode), F finished,
     * X cancelled. */
    " state \"char\" NOT NULL,"
    " uid int8 NOT NULL,"
    " gid int8 NOT NULL,"
    " clock int4 NOT NULL,"
    " deadline_ns int8 NOT NULL,"
    " due_rt_ns int8 NOT NULL,"
    /* Earliest claim: the due instant, or the end of a claim's lease. */
    " vis_at timestamptz NOT NULL,"
    " claim_node text,"
    " attempts int4 NOT NULL DEFAULT 0,"
    " boot_id text,"
    " created_rt_ns int8 NOT NULL,"
    " channel text,"
    " payload bytea,"
    " key text,"
    " misfire int4 NOT NULL,"
    " delivery int4 NOT NULL,"
    " downtime int4 NOT NULL,"
    " max_attempts int8 NOT NULL,"
    " fire_count int8 NOT NULL,"
    " last_fired_rt_ns int8 NOT NULL,"
    " finished_rt_ns int8 NOT NULL DEFAULT 0,"
    " exec bytea,"
    " sched bytea,"
    " paused bool NOT NULL DEFAULT false);"
    "CREATE UNIQUE INDEX timers_key ON evd.timers (uid, key)"
    " WHERE key IS NOT NULL AND state IN ('P', 'C');"
    "CREATE INDEX timers_key_any ON evd.timers (uid, key)"
    " WHERE key IS NOT NULL;"
    "CREATE INDEX timers_vis ON evd.timers (vis_at)"
    " WHERE state IN ('P', 'C');"
    "CREATE TABLE evd.messages ("
    " fire_id int8 PRIMARY KEY,"
    " timer_id int8 NOT NULL,"
    " owner int8 NOT NULL,"
    " channel text NOT NULL,"
    " payload bytea,"
    " due_rt_ns int8 NOT NULL,"
    " fired_rt_ns int8 NOT NULL,"
    " lateness_ns int8 NOT NULL,"
    " attempts int8 NOT NULL,"
    " max_attempts int8 NOT NULL,"
    " delivery int4 NOT NULL,"
    " dead bool NOT NULL,"
    " reason text,"
    /* Cluster mode: a consumer's claim, its lease and fence. */
    " vis_at timestamptz,"
    " consumer text,"
    " fence int8 NOT NULL DEFAULT 0);"
    "CREATE TABLE evd.runs ("
    " seq int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " timer_id int8 NOT NULL,"
    " fire_id int8 NOT NULL,"
    " due_rt_ns int8 NOT NULL,"
    " fired_rt_ns int8 NOT NULL,"
    " lateness_ns int8 NOT NULL,"
    " outcome int4 NOT NULL,"
    " detail text,"
    " exit_code int4 NOT NULL DEFAULT 0,"
    " signal int4 NOT NULL DEFAULT 0,"
    " duration_ns int8 NOT NULL DEFAULT 0,"
    " stdout bytea,"
    " stderr bytea);"
    "CREATE INDEX runs_timer ON evd.runs (timer_id, seq);"
    "CREATE TABLE evd.channels (name text PRIMARY KEY,"
    " owner int8 NOT NULL, grants bytea);"
    /* Cluster mode: one row per node process, never reused. */
    "CREATE TABLE evd.nodes (node text PRIMARY KEY,"
    " started_at timestamptz NOT NULL DEFAULT now(),"
    " last_seen timestamptz NOT NULL DEFAULT now());",
    /* 2: cluster mode's node ids (never reused) and id blocks (ids no
     * two nodes share; above every id a single node hands out, within
     * loop 0's range, shard.h). */
    "CREATE SEQUENCE evd.node_ids;"
    /* A node's claims: adopted, given back, reaped. */
    "CREATE INDEX timers_claim ON evd.timers (claim_node)"
    " WHERE state = 'C';"
    "CREATE SEQUENCE evd.id_blocks INCREMENT BY 4096"
    " START WITH 1099511627776 MINVALUE 1099511627776"
    " MAXVALUE 281474976710655;",
    /* 3: the user name each uid had on the first node that saw it, so
     * that nodes check they share one uid space (owners.h). */
    "CREATE TABLE evd.owners (uid int8 PRIMARY KEY, name text NOT NULL,"
    " first_node text NOT NULL,"
    " first_seen timestamptz NOT NULL DEFAULT clock_timestamp());",
    /* 4: cluster mode's message claims: by channel in fire id order
     * (msg_claim), and a node's own (adopted, given back, reaped). */
    "CREATE INDEX messages_channel ON evd.messages (channel, fire_id);"
    "CREATE INDEX messages_consumer ON evd.messages (consumer)"
    " WHERE consumer IS NOT NULL;",
    /* 5: how many messages each channel and owner has in evd.messages,
     * kept by statement triggers (one row per channel, owner and
     * slot), so that cluster mode bounds what a channel and an owner
     * queue across nodes (msg_counts) without counting rows. A slot is
     * the node whose session inserted or deleted (its evd.node
     * setting; '' for other sessions): no two nodes ever wait for each
     * other's count rows, and a channel's count is the sum of its
     * slots. A gathered insert (unnest) adds once per channel and
     * owner. */
    "CREATE TABLE evd.msg_counts (channel text NOT NULL,"
    " owner int8 NOT NULL, slot text NOT NULL, n int8 NOT NULL,"
    " PRIMARY KEY (channel, owner, slot));"
    "CREATE FUNCTION evd.msg_counts_add() RETURNS trigger"
    " LANGUAGE plpgsql AS $f$ BEGIN"
    " INSERT INTO evd.msg_counts AS c (channel, owner, slot, n)"
    " SELECT d.channel, d.owner,"
    " coalesce(current_setting('evd.node', true), ''), d.n FROM"
    " (SELECT channel, owner, count(*) AS n FROM evd_new"
    " GROUP BY channel, owner) d ORDER BY d.channel, d.owner"
    " ON CONFLICT (channel, owner, slot) DO UPDATE SET n = c.n + excluded.n;"
    " RETURN NULL; END $f$;"
    "CREATE FUNCTION evd.msg_counts_sub() RETURNS trigger"
    " LANGUAGE plpgsql AS $f$ BEGIN"
    " INSERT INTO evd.msg_counts AS c (channel, owner, slot, n)"
    " SELECT d.channel, d.owner,"
    " coalesce(current_setting('evd.node', true), ''), -d.n FROM"
    " (SELECT channel, owner, count(*) AS n FROM evd_old"
    " GROUP BY channel, owner) d ORDER BY d.channel, d.owner"
    " ON CONFLICT (channel, owner, slot) DO UPDATE SET n = c.n + excluded.n;"
    " RETURN NULL; END $f$;"
    "CREATE TRIGGER messages_count_add AFTER INSERT ON evd.messages"
    " REFERENCING NEW TABLE AS evd_new FOR EACH STATEMENT"
    " EXECUTE FUNCTION evd.msg_counts_add();"
    "CREATE TRIGGER messages_count_sub AFTER DELETE ON evd.messages"
    " REFERENCING OLD TABLE AS evd_old FOR EACH STATEMENT"
    " EXECUTE FUNCTION evd.msg_counts_sub();"
    "INSERT INTO evd.msg_counts (channel, owner, slot, n)"
    " SELECT channel, owner, '', count(*) FROM evd.messages"
    " GROUP BY channel, owner;"
    /* A claim's dead letters of a channel (msg_claim), found without
     * walking its live messages; a message enters it only when it
     * dies, so the fire path's inserts do not pay for it. */
    "CREATE INDEX messages_dead ON evd.messages (channel, fire_id)"
    " WHERE dead;"
    /* The backend of the node's own connection, as of its last
     * heartbeat: the one that LISTENs, which a reap ends (a stalled
     * listener holds back PostgreSQL's NOTIFY queue for everyone). */
    "ALTER TABLE evd.nodes ADD COLUMN pid int4;",
};

#define SCHEMA_VERSION                                                         \
	((int)(sizeof(store_pg_migrations) / sizeof(store_pg_migrations[0])))

#define TIMER_COLS                                                             \
	"id, fence, state, uid, gid, clock, deadline_ns, due_rt_ns, boot_id,"  \
	" created_rt_ns, channel, payload, key, misfire, delivery, downtime,"  \
	" max_attempts, fire_count, last_fired_rt_ns, finished_rt_ns, exec,"  \
	" sched, paused"
#define MSG_COLS                                                               \
	"fire_id, timer_id, owner, channel, payload, due_rt_ns, fired_rt_ns,"  \
	" lateness_ns, attempts, max_attempts, delivery, dead, reason"
/* A wall-clock instant in ns as a timestamptz (microseconds). */
#define VIS(p) "(timestamptz 'epoch' + (" p "::int8 / 1000) * interval '1 us')"
#define OUT_BYTES(t)                                                           \
	"(coalesce(octet_length(" t "stdout), 0) +"                            \
	" coalesce(octet_length(" t "stderr), 0))"

enum store_pg_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SCHEDULE,
	ST_CANCEL,
	ST_CLAIM,
	ST_RETIRE_END,
	ST_RETIRE_NEXT,
	ST_RESCHEDULE,
	ST_REVIVE,
	ST_GET,
	ST_LIST_ENDED,
	ST_FIND_KEY,
	ST_ENQUEUE,
	ST_ACK,
	ST_UPDATE_MSG,
	ST_LOAD_MSGS,
	ST_CHANNEL_PUT,
	ST_LOAD_CHANNELS,
	ST_RUN_APPEND,
	ST_RUNS,
	ST_META_GET,
	ST_META_PUT,
	ST_PRUNE,
	ST_OUTPUT_USAGE,
	ST_MAX_IDS,
	ST_UNLOCK,
	ST_XID,
	/* Cluster mode's forms (store.h, store_config.cluster_node). */
	ST_C_SCHEDULE,
	ST_C_CANCEL,
	ST_C_RETIRE_END,
	ST_C_RETIRE_NEXT,
	ST_C_RESCHEDULE,
	ST_C_REVIVE,
	ST_C_ADOPT,
	ST_C_CLAIM,
	ST_C_RESERVE,
	ST_C_RENEW,
	ST_C_CANCEL_HELD,
	ST_C_PEEK,
	ST_C_CANCEL_ANY,
	ST_C_LIST_HELD,
	ST_C_RUNS_NEWEST,
	ST_C_CANCEL_MATCHING,
	ST_C_TAKE_ANY,
	ST_C_RUNS_SINCE,
	ST_C_MSG_CHANNEL_COUNTS,
	ST_C_MSG_LIST,
	ST_C_MSG_PURGE_UNHELD,
	/* Cluster mode's fires, many rows at once (store_pg_fb_send). */
	ST_C_RETIRE_MANY,
	ST_C_ENQUEUE_MANY,
	ST_C_RUNS_MANY,
	ST_C_RUNS_PRUNE,
	ST_C_SCHEDULE_MANY,
	ST_C_RENEW_MANY,
	ST_C_RETIRE_KEPT,
	ST_C_MSG_ACK_MANY,
	ST_C_MSG_DELIVER_MANY,
	/* Cluster mode's channel messages (store.h, struct store_msg). */
	ST_C_ENQUEUE,
	ST_C_MSG_ADOPT,
	ST_C_MSG_ACK,
	ST_C_UPDATE_MSG,
	ST_C_MSG_CLAIM,
	ST_C_MSG_RENEW,
	ST_C_MSG_RELEASE,
	ST_C_CHANNEL_LOCK,
	ST_C_MSG_COUNTS,
	ST_COUNT
};

/* Cluster mode: a claim's lease ends claim_ns ($p, in us) past the due
 * instant (now, for one already due); a paused timer's never does. */
#define CLAIM_VIS(due, paused, t_us)                                           \
	"CASE WHEN " paused " THEN timestamptz 'infinity' ELSE greatest("       \
	VIS(due) ", now()) + " t_us "::int8 * interval '1 us' END"
/* What a claim's lease has left, in ns (INT64_MAX: a paused timer's). */
#define LEASE_LEFT                                                             \
	"CASE WHEN isfinite(vis_at) THEN (extract(epoch FROM vis_at -"        \
	" clock_timestamp()) * 1e9)::int8 ELSE 9223372036854775807 END"
/* IDs per block of evd.id_blocks (its INCREMENT BY). */
#define ID_BLOCK 4096

static const char *const store_pg_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    /* ON CONFLICT with no target: a taken id and a taken key alike
     * insert nothing, so the batch goes on (a unique_violation would
     * abort it). */
    [ST_SCHEDULE] = "INSERT INTO evd.timers (" TIMER_COLS ", vis_at)"
		    " VALUES ($1::int8, $2::int8, 'P', $3::int8, $4::int8,"
		    " $5::int4, $6::int8, $7::int8, $8::text, $9::int8,"
		    " $10::text, $11::bytea, $12::text, $13::int4,"
		    " $14::int4, $15::int4, $16::int8, $17::int8,"
		    " $18::int8, 0, $19::bytea, $20::bytea, $21::bool,"
		    " " VIS("$7") ") ON CONFLICT DO NOTHING RETURNING 1",
    [ST_CANCEL] = "UPDATE evd.timers SET state = 'X', finished_rt_ns = $2"
		  " WHERE id = $1 AND state = 'P'",
    /* Single node: every pending row, no write; keyset pages by id. */
    [ST_CLAIM] = "SELECT " TIMER_COLS " FROM evd.timers"
		 " WHERE state = 'P' AND due_rt_ns <= $1 AND id > $2"
		 " ORDER BY id LIMIT $3",
    [ST_RETIRE_END] = "UPDATE evd.timers SET state = 'F',"
		      " finished_rt_ns = $3, fire_count = fire_count + 1,"
		      " last_fired_rt_ns = $3, claim_node = NULL"
		      " WHERE id = $1 AND fence = $2 AND state = 'P'",
    [ST_RETIRE_NEXT] = "UPDATE evd.timers SET deadline_ns = $3,"
		       " due_rt_ns = $4::int8, boot_id = $5, fire_count = $6,"
		       " last_fired_rt_ns = $7, vis_at = " VIS("$4")
		       " WHERE id = $1 AND fence = $2 AND state = 'P'",
    [ST_RESCHEDULE] = "UPDATE evd.timers SET deadline_ns = $2,"
		      " due_rt_ns = $3::int8, boot_id = $4, clock = $5,"
		      " paused = $6, vis_at = " VIS("$3")
		      " WHERE id = $1 AND state = 'P'",
    /* One statement that says which of -ENOENT, -EEXIST or done: the
     * finished row, a pending one holding its key, rows updated. */
    [ST_REVIVE] = "WITH f AS (SELECT id, uid, key FROM evd.timers"
		  " WHERE id = $1::int8 AND state = 'F'),"
		  " k AS (SELECT 1 FROM evd.timers p, f WHERE f.key IS NOT NULL"
		  " AND p.uid = f.uid AND p.key = f.key"
		  " AND p.state IN ('P', 'C')),"
		  " u AS (UPDATE evd.timers SET state = 'P', finished_rt_ns = 0,"
		  " deadline_ns = $2::int8, due_rt_ns = $3::int8,"
		  " boot_id = $4::text, clock = $5::int4, paused = false,"
		  " exec = coalesce($6::bytea, exec), vis_at = " VIS("$3")
		  " WHERE id IN (SELECT id FROM f) AND NOT EXISTS"
		  " (SELECT 1 FROM k) RETURNING 1)"
		  " SELECT (SELECT count(*) FROM f), (SELECT count(*) FROM k),"
		  " (SELECT count(*) FROM u)",
    [ST_GET] = "SELECT " TIMER_COLS " FROM evd.timers WHERE id = $1",
    [ST_LIST_ENDED] = "SELECT " TIMER_COLS " FROM evd.timers WHERE id > $1"
		      " AND state IN ('F', 'X') AND ($2::int8 < 0 OR"
		      " uid = $2::int8) ORDER BY id LIMIT $3",
    [ST_FIND_KEY] = "SELECT " TIMER_COLS " FROM evd.timers WHERE uid = $1"
		    " AND key = $2 ORDER BY id DESC LIMIT 1",
    [ST_ENQUEUE] = "INSERT INTO evd.messages (" MSG_COLS ") VALUES"
		   " ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
		   " $13) ON CONFLICT DO NOTHING RETURNING 1",
    [ST_ACK] = "DELETE FROM evd.messages WHERE fire_id = $1",
    [ST_UPDATE_MSG] = "UPDATE evd.messages SET attempts = $2, dead = $3,"
		      " reason = $4 WHERE fire_id = $1",
    [ST_LOAD_MSGS] = "SELECT " MSG_COLS " FROM evd.messages ORDER BY fire_id",
    [ST_CHANNEL_PUT] = "INSERT INTO evd.channels (name, owner, grants)"
		       " VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE"
		       " SET owner = excluded.owner, grants = excluded.grants",
    [ST_LOAD_CHANNELS] = "SELECT name, owner, grants FROM evd.channels",
    /*
     * Appends a run and prunes the timer's older ones in one statement.
     * The DELETE sees the table as it was before the INSERT (one
     * snapshot), so it keeps $13 - 1 old runs beside the new one.
     * Returns the output bytes pruned and the timer's owner (NULL: no
     * stored timer).
     */
    [ST_RUN_APPEND] = "WITH ins AS (INSERT INTO evd.runs (timer_id,"
		      " fire_id, due_rt_ns, fired_rt_ns, lateness_ns, outcome,"
		      " detail, exit_code, signal, duration_ns, stdout, stderr)"
		      " VALUES ($1::int8, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
		      " $11, $12) RETURNING 1),"
		      " del AS (DELETE FROM evd.runs WHERE timer_id = $1::int8"
		      " AND seq <= (SELECT seq FROM evd.runs WHERE"
		      " timer_id = $1::int8 ORDER BY seq DESC LIMIT 1"
		      " OFFSET $13::int8 - 1) RETURNING " OUT_BYTES("") " AS b)"
		      " SELECT (SELECT coalesce(sum(b), 0)::int8 FROM del),"
		      " (SELECT uid FROM evd.timers WHERE id = $1::int8),"
		      " (SELECT count(*) FROM ins)",
    [ST_RUNS] = "SELECT timer_id, fire_id, due_rt_ns, fired_rt_ns,"
		" lateness_ns, outcome, detail, exit_code, signal,"
		" duration_ns, stdout, stderr FROM evd.runs"
		" WHERE timer_id = $1 ORDER BY seq DESC",
    [ST_META_GET] = "SELECT v FROM evd.meta WHERE k = $1",
    [ST_META_PUT] = "INSERT INTO evd.meta (k, v) VALUES ($1, $2)"
		    " ON CONFLICT (k) DO UPDATE SET v = excluded.v",
    /*
     * One sweep step over ids ($1, end], end the PRUNE_SPAN-th id after
     * $1 (or the rest): deletes runs of expired timers and of no stored
     * timer, then the expired timers, moves the cursor, and returns the
     * output bytes deleted per owner of an expired timer (runs of no
     * timer counted for nobody).
     */
    [ST_PRUNE] = "WITH e AS (SELECT coalesce((SELECT id FROM evd.timers"
		 " WHERE id > $1::int8 ORDER BY id LIMIT 1 OFFSET $2::int8),"
		 " 9223372036854775807) AS last),"
		 " dt AS (DELETE FROM evd.timers t USING e WHERE t.id > $1::int8"
		 " AND t.id <= e.last AND t.state IN ('F', 'X')"
		 " AND t.finished_rt_ns < $3::int8 RETURNING t.id, t.uid),"
		 " dr AS (DELETE FROM evd.runs r USING e"
		 " WHERE r.timer_id > $1::int8 AND r.timer_id <= e.last"
		 " AND NOT EXISTS (SELECT 1 FROM evd.timers t WHERE"
		 " t.id = r.timer_id AND (t.state IN ('P', 'C') OR"
		 " t.finished_rt_ns >= $3::int8))"
		 " RETURNING r.timer_id, " OUT_BYTES("r.") " AS b),"
		 " m AS (INSERT INTO evd.meta (k, v) SELECT '" META_PRUNE_CURSOR
		 "', CASE WHEN last = 9223372036854775807 THEN 0 ELSE last END"
		 " FROM e ON CONFLICT (k) DO UPDATE SET v = excluded.v"
		 " RETURNING v)"
		 " SELECT -1, (SELECT v FROM m) UNION ALL"
		 " SELECT dt.uid, sum(dr.b)::int8 FROM dr JOIN dt"
		 " ON dt.id = dr.timer_id GROUP BY dt.uid",
    [ST_OUTPUT_USAGE] = "SELECT t.uid, sum(" OUT_BYTES("r.") ")::int8"
			" FROM evd.runs r JOIN evd.timers t ON t.id = r.timer_id"
			" GROUP BY t.uid",
    [ST_MAX_IDS] = "SELECT coalesce((SELECT max(id) FROM evd.timers), 0),"
		   " coalesce((SELECT max(fire_id) FROM evd.messages), 0)",
    /* At close: the next evd may open at once (a closed connection's
     * backend lets its locks go only when it has exited). */
    [ST_UNLOCK] = "SELECT pg_advisory_unlock_all()",
    /* The batch's xid, the witness flush() checks (txid_current: 10+;
     * pg_current_xact_id is 13+). */
    [ST_XID] = "SELECT txid_current()",
    /* Cluster mode: what this node schedules it holds, claimed ($22 its
     * node, $23 the claim lease in us). */
    [ST_C_SCHEDULE] = "INSERT INTO evd.timers (" TIMER_COLS ", vis_at,"
		      " claim_node) VALUES ($1::int8, $2::int8, 'C', $3::int8,"
		      " $4::int8, $5::int4, $6::int8, $7::int8, $8::text,"
		      " $9::int8, $10::text, $11::bytea, $12::text, $13::int4,"
		      " $14::int4, $15::int4, $16::int8, $17::int8,"
		      " $18::int8, 0, $19::bytea, $20::bytea, $21::bool, "
		      CLAIM_VIS("$7", "$21::bool", "$23") ", $22::text)"
		      " ON CONFLICT DO NOTHING RETURNING 1",
    /* Only this node's claims: a node holds nothing else in memory. */
    [ST_C_CANCEL] = "UPDATE evd.timers SET state = 'X', finished_rt_ns = $2,"
		    " claim_node = NULL WHERE id = $1 AND state = 'C'"
		    " AND claim_node = $3",
    /* The fence alone says whose claim it is: every claim, adoption
     * and reap bumps it. */
    [ST_C_RETIRE_END] = "UPDATE evd.timers SET state = 'F',"
			" finished_rt_ns = $3, fire_count = fire_count + 1,"
			" last_fired_rt_ns = $3, claim_node = NULL"
			" WHERE id = $1 AND fence = $2 AND state = 'C'",
    /* A repeating timer stays this node's, to its next occurrence. */
    [ST_C_RETIRE_NEXT] = "UPDATE evd.timers SET deadline_ns = $3,"
			 " due_rt_ns = $4::int8, boot_id = $5, fire_count = $6,"
			 " last_fired_rt_ns = $7, vis_at = "
			 CLAIM_VIS("$4", "paused", "$8")
			 " WHERE id = $1 AND fence = $2 AND state = 'C'",
    [ST_C_RESCHEDULE] = "UPDATE evd.timers SET deadline_ns = $2,"
			" due_rt_ns = $3::int8, boot_id = $4, clock = $5,"
			" paused = $6, vis_at = "
			CLAIM_VIS("$3", "$6::bool", "$8")
			" WHERE id = $1 AND state = 'C' AND claim_node = $7",
    [ST_C_REVIVE] = "WITH f AS (SELECT id, uid, key FROM evd.timers"
		    " WHERE id = $1::int8 AND state = 'F'),"
		    " k AS (SELECT 1 FROM evd.timers p, f WHERE f.key IS NOT NULL"
		    " AND p.uid = f.uid AND p.key = f.key"
		    " AND p.state IN ('P', 'C')),"
		    " u AS (UPDATE evd.timers SET state = 'C', claim_node = $7,"
		    " finished_rt_ns = 0,"
		    " deadline_ns = $2::int8, due_rt_ns = $3::int8,"
		    " boot_id = $4::text, clock = $5::int4, paused = false,"
		    " exec = coalesce($6::bytea, exec), vis_at = "
		    CLAIM_VIS("$3", "false", "$8")
		    " WHERE id IN (SELECT id FROM f) AND NOT EXISTS"
		    " (SELECT 1 FROM k) RETURNING 1)"
		    " SELECT (SELECT count(*) FROM f), (SELECT count(*) FROM k),"
		    " (SELECT count(*) FROM u)",
    /* claim() in cluster mode: this node's own claims, fenced anew, so
     * that nothing it sent before (a lost batch, a lease gap) can
     * retire them any more. */
    [ST_C_ADOPT] = "UPDATE evd.timers SET fence = fence + 1"
		   " WHERE state = 'C' AND claim_node = $1"
		   " RETURNING " TIMER_COLS ", " LEASE_LEFT,
    /* Pending and due within $1 us, or another node's claim with a
     * lapsed lease (never this node's own: a hook of it may still run);
     * rows another node is claiming now are skipped, not waited for. */
    [ST_C_CLAIM] = "WITH c AS (SELECT id AS cid FROM evd.timers"
		   " WHERE state IN ('P', 'C')"
		   " AND vis_at <= now() + $1::int8 * interval '1 us'"
		   " AND (state = 'P' OR (vis_at <= now()"
		   " AND claim_node <> $3))"
		   " ORDER BY vis_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
		   " UPDATE evd.timers t SET state = 'C', claim_node = $3,"
		   " fence = t.fence + 1, attempts = t.attempts + 1, vis_at = "
		   CLAIM_VIS("t.due_rt_ns", "t.paused", "$4")
		   " FROM c WHERE t.id = c.cid"
		   " RETURNING " TIMER_COLS ", " LEASE_LEFT,
    [ST_C_RESERVE] = "SELECT nextval('evd.id_blocks')",
    /* Renews this node's claims ($1 ids, $2 their fences, fenced):
     * their lease runs T ($3 us) from now at least. A claim that is
     * not returned was lost (reaped, taken, adopted anew). */
    /* clock_timestamp(), not now() (the transaction's start, which a
     * lock wait earlier in the batch leaves behind): the lease left is
     * measured from no earlier than the node sent this, so the node's
     * sent + left never runs past vis_at. */
    [ST_C_RENEW] = "UPDATE evd.timers t SET vis_at = greatest(t.vis_at,"
		   " clock_timestamp() + $3::int8 * interval '1 us')"
		   " FROM unnest($1::int8[], $2::int8[]) WITH ORDINALITY"
		   " AS r(rid, rfence, ri)"
		   " WHERE t.id = r.rid AND t.fence = r.rfence"
		   " AND t.state = 'C' AND t.claim_node = $4"
		   " RETURNING t.id, (extract(epoch FROM t.vis_at -"
		   " clock_timestamp()) * 1e9)::int8, r.ri",
    /* A fenced cancel of this node's claim ($3 node, $4 fence) that
     * says, when it changes nothing, whether the timer still waits
     * and, if claimed, by which node (the snapshot before the update:
     * when u changed the row, the rest is not read). */
    [ST_C_CANCEL_HELD] = "WITH u AS (UPDATE evd.timers SET state = 'X',"
			 " finished_rt_ns = $2, claim_node = NULL"
			 " WHERE id = $1 AND state = 'C' AND claim_node = $3"
			 " AND fence = $4 RETURNING 1)"
			 " SELECT (SELECT count(*) FROM u), t.state::text,"
			 " coalesce(t.claim_node, '') FROM (SELECT 1) x"
			 " LEFT JOIN evd.timers t ON t.id = $1"
			 " AND t.state IN ('P', 'C')",
    /* cancel_any's look at a waiting row: its version (xmin: any update
     * makes a new one), its holder, and whether it fired as a one-shot
     * exec (the fire renews the claim and records a run whose fire id
     * is the timer id, $2 its outcome, in one transaction: the newest
     * run says whether a hook of it started and has not ended, also
     * when its node died meanwhile and it waits to run again; a revived
     * timer's newest run is its last end). */
    [ST_C_PEEK] = "SELECT " TIMER_COLS ", xmin::text::int8,"
		  " coalesce(claim_node, ''), coalesce((SELECT"
		  " r.fire_id = t.id AND r.outcome = $2::int4 FROM evd.runs r"
		  " WHERE r.timer_id = t.id ORDER BY r.seq DESC LIMIT 1), false),"
		  " coalesce((SELECT r.outcome = $2::int4 FROM evd.runs r"
		  " WHERE r.timer_id = t.id ORDER BY r.seq DESC LIMIT 1), false)"
		  " FROM evd.timers t WHERE t.id = $1::int8"
		  " AND t.state IN ('P', 'C')",
    /* Cancels the row version ST_C_PEEK judged ($3 its xmin), fence
     * bumped so that no retire or renew of its claim goes through, and
     * tells its holder ($4; "" none) when the batch commits. A row a
     * concurrent claim, fire or retire changed is not this version:
     * nothing changes, and the caller looks again. */
    [ST_C_CANCEL_ANY] = "WITH u AS (UPDATE evd.timers SET state = 'X',"
			" finished_rt_ns = $2::int8, claim_node = NULL,"
			" fence = fence + 1 WHERE id = $1::int8"
			" AND state IN ('P', 'C') AND xmin = $3::text::xid"
			/* Never waits for another batch's lock of the row (on
			 * the loop, with this batch's locks held: two nodes
			 * doing so in opposite order would deadlock): a row
			 * locked now is not updated, and is looked at again. */
			" AND id IN (SELECT id FROM evd.timers WHERE id ="
			" $1::int8 FOR UPDATE SKIP LOCKED)"
			" RETURNING 1),"
			" n AS (SELECT pg_notify('evd_node_' || $4::text,"
			" $1::int8::text) FROM u WHERE $4::text <> '')"
			" SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM n)",
    /* Waiting timers of every node, as List pages them ($2 < 0: every
     * owner's; $3 NULL: every channel's). */
    /* runs_newest: each timer's newest run of $1, no output; retrying:
     * the timer waits again as a one-shot (no schedule beyond one
     * deadline), so the run was an attempt a retry follows. */
    [ST_C_RUNS_NEWEST] = "SELECT DISTINCT ON (r.timer_id) r.timer_id,"
			 " r.fire_id, r.due_rt_ns, r.fired_rt_ns,"
			 " r.lateness_ns, r.outcome, r.detail, r.exit_code,"
			 " r.signal, r.duration_ns, r.seq, coalesce((SELECT"
			 " t.state IN ('P', 'C') AND t.sched IS NULL FROM"
			 " evd.timers t WHERE t.id = r.timer_id), false)"
			 " FROM evd.runs r WHERE r.timer_id ="
			 " ANY($1::int8[]) ORDER BY r.timer_id, r.seq DESC",
    /* cancel_matching: ST_C_PEEK and ST_C_CANCEL_ANY for a page of
     * rows in one statement ($1 the owner, < 0 any; $2 the channel,
     * NULL any; $3 after id; $4 the page; $5 the finished time; $6
     * EVD_RUN_EXEC_STARTED). c judges the rows as the statement's
     * snapshot has them; u cancels those still that version (a row a
     * claim, fire or retire changed since is not) and not locked by
     * another batch now (never waited for, as in ST_C_CANCEL_ANY);
     * each holder is told. One row per cancelled timer (TIMER_COLS as
     * it is now, its holder), or one row of NULLs, then how many c
     * judged, the last id it judged and how many holders were told. */
    [ST_C_CANCEL_MATCHING] = "WITH c AS (SELECT t.id AS cid, t.xmin AS cx,"
			     " t.claim_node AS holder FROM evd.timers t"
			     " WHERE t.id > $3::int8 AND t.state IN ('P', 'C')"
			     " AND ($1::int8 < 0 OR t.uid = $1::int8)"
			     " AND ($2::text IS NULL OR t.channel = $2::text)"
			     " AND NOT coalesce((SELECT r.fire_id = t.id"
			     " AND r.outcome = $6::int4 FROM evd.runs r"
			     " WHERE r.timer_id = t.id ORDER BY r.seq DESC"
			     " LIMIT 1), false) ORDER BY t.id LIMIT $4::int8),"
			     " u AS (UPDATE evd.timers t SET state = 'X',"
			     " finished_rt_ns = $5::int8, claim_node = NULL,"
			     " fence = t.fence + 1 FROM c WHERE t.id = c.cid"
			     " AND t.xmin = c.cx AND t.state IN ('P', 'C')"
			     " AND t.id IN (SELECT l.id FROM evd.timers l"
			     " WHERE l.id IN (SELECT cid FROM c)"
			     " FOR UPDATE SKIP LOCKED)"
			     " RETURNING " TIMER_COLS ", c.holder),"
			     " n AS (SELECT pg_notify('evd_node_' || u.holder,"
			     " u.id::text) FROM u WHERE u.holder IS NOT NULL),"
			     " x AS (SELECT (SELECT count(*) FROM c) AS judged,"
			     " (SELECT coalesce(max(cid), 0) FROM c) AS last,"
			     " (SELECT count(*) FROM n) AS told)"
			     /* told is read out, so that n is never left
			      * unread (no notice sent). */
			     " SELECT u.*, x.judged, x.last, x.told FROM x"
			     " LEFT JOIN u ON true",
    /* take_any: the row version ST_C_PEEK judged ($2 its xmin), never
     * waiting for another batch's lock of it, becomes this node's
     * claim ($3, a lease of $4 us past its due instant), as ST_C_CLAIM
     * makes one; its former holder ($5; "" none, or this node) is
     * told "t<id>:<new fence>:<newest run seq before the take>" when
     * the batch commits (its waiters watch for later runs: a trigger's
     * fire, in the same batch, is one). */
    [ST_C_TAKE_ANY] = "WITH u AS (UPDATE evd.timers t SET state = 'C',"
		      " claim_node = $3::text, fence = t.fence + 1,"
		      " attempts = t.attempts + 1, vis_at = "
		      CLAIM_VIS("t.due_rt_ns", "t.paused", "$4")
		      " WHERE t.id = $1::int8 AND t.state IN ('P', 'C')"
		      " AND t.xmin = $2::text::xid"
		      " AND t.id IN (SELECT id FROM evd.timers WHERE id ="
		      " $1::int8 FOR UPDATE SKIP LOCKED)"
		      " RETURNING " TIMER_COLS ", " LEASE_LEFT "),"
		      " n AS (SELECT pg_notify('evd_node_' || $5::text,"
		      " 't' || u.id::text || ':' || u.fence::text || ':' ||"
		      " (SELECT coalesce(max(r.seq), 0) FROM evd.runs r"
		      " WHERE r.timer_id = u.id)::text) FROM u"
		      " WHERE $5::text NOT IN ('', $3::text))"
		      " SELECT u.*, (SELECT count(*) FROM n) FROM u",
    /* runs_since: the runs of $1 after their bases $2, at most $3 of
     * each, oldest first; retrying as runs_newest's, or a later run of
     * the one-shot followed this one. */
    [ST_C_RUNS_SINCE] = "SELECT r.timer_id, r.fire_id, r.due_rt_ns,"
			" r.fired_rt_ns, r.lateness_ns, r.outcome, r.detail,"
			" r.exit_code, r.signal, r.duration_ns, r.seq,"
			" coalesce((SELECT t.sched IS NULL AND"
			" (t.state IN ('P', 'C') OR EXISTS (SELECT 1 FROM"
			" evd.runs r2 WHERE r2.timer_id = r.timer_id AND"
			" r2.seq > r.seq)) FROM evd.timers t"
			" WHERE t.id = r.timer_id), false)"
			" FROM unnest($1::int8[], $2::int8[]) AS b(tid, base)"
			" CROSS JOIN LATERAL (SELECT * FROM evd.runs x"
			" WHERE x.timer_id = b.tid AND x.seq > b.base"
			" ORDER BY x.seq LIMIT $3::int8) r"
			" ORDER BY r.timer_id, r.seq",
    /* msg_channel_counts: live and dead messages of each channel of $1, of
     * every node, in $1's order: the total from msg_counts (no row of
     * evd.messages read), the dead ones from their partial index. */
    [ST_C_MSG_CHANNEL_COUNTS] = "SELECT greatest((SELECT coalesce(sum(c.n), 0)"
			" FROM evd.msg_counts c WHERE c.channel = w.ch) - d.n, 0)::int8,"
			" d.n FROM unnest($1::text[]) WITH ORDINALITY AS w(ch, o)"
			" CROSS JOIN LATERAL (SELECT count(*) AS n FROM"
			" evd.messages m WHERE m.channel = w.ch AND m.dead) d"
			" ORDER BY w.o",
    /* msg_list: $1's messages, dead or not ($2), of $3 (< 0: every
     * owner's), after fire id $4, at most $5, of every node. */
    [ST_C_MSG_LIST] = "SELECT " MSG_COLS " FROM evd.messages"
		      " WHERE channel = $1::text AND dead = $2::bool"
		      " AND ($3::int8 < 0 OR owner = $3::int8)"
		      " AND fire_id > $4::int8 ORDER BY fire_id LIMIT $5::int8",
    /* msg_purge_unheld: $1's live messages of $2 (< 0: every owner's)
     * that no node holds ($3 this node, whose claims are left to it),
     * never waiting for another batch's lock. */
    [ST_C_MSG_PURGE_UNHELD] = "WITH d AS (DELETE FROM evd.messages"
			      " WHERE fire_id IN (SELECT fire_id FROM"
			      " evd.messages WHERE channel = $1::text"
			      " AND NOT dead"
			      " AND ($2::int8 < 0 OR owner = $2::int8)"
			      " AND (consumer IS NULL OR (consumer <> $3::text"
			      " AND vis_at <= now()))"
			      " FOR UPDATE SKIP LOCKED) RETURNING 1)"
			      " SELECT count(*) FROM d",
    [ST_C_LIST_HELD] = "SELECT " TIMER_COLS " FROM evd.timers"
		       " WHERE id > $1::int8 AND state IN ('P', 'C')"
		       " AND ($2::int8 < 0 OR uid = $2::int8)"
		       " AND ($3::text IS NULL OR channel = $3::text)"
		       " ORDER BY id LIMIT $4::int8",
    /* ST_C_RETIRE_END for many claims: ($1 ids, $2 fences, $3 their
     * finished times); the rows changed say how many were still this
     * node's. */
    [ST_C_RETIRE_MANY] = "UPDATE evd.timers t SET state = 'F',"
			 " finished_rt_ns = r.fin, fire_count = t.fire_count + 1,"
			 " last_fired_rt_ns = r.fin, claim_node = NULL"
			 " FROM unnest($1::int8[], $2::int8[], $3::int8[])"
			 " AS r(rid, rfence, fin)"
			 " WHERE t.id = r.rid AND t.fence = r.rfence"
			 " AND t.state = 'C'",
    /* ST_C_ENQUEUE for many: claimed at insert by this node ($15, a
     * lease of $16 us) where $14 says so, else unclaimed, and then
     * each channel with an unclaimed one announced once on evd_msg.
     * One row per message inserted (PJ_MANY counts them). No ON
     * CONFLICT: a fire id is new (the node's own id blocks), and one
     * taken fails the batch all the same as a unique_violation
     * (-EEXIST), where a speculative insertion per row cost a probe of
     * the key and a WAL record more. */
    [ST_C_ENQUEUE_MANY] = "WITH i AS (INSERT INTO evd.messages (" MSG_COLS ","
			  " consumer, fence, vis_at) SELECT f1, f2, f3, f4,"
			  " f5, f6, f7, f8, f9, f10, f11, f12, f13,"
			  " CASE WHEN c THEN $15::text END,"
			  " CASE WHEN c THEN 1 ELSE 0 END,"
			  " CASE WHEN c THEN clock_timestamp() +"
			  " $16::int8 * interval '1 us' END"
			  " FROM unnest($1::int8[], $2::int8[],"
			  " $3::int8[], $4::text[], $5::bytea[], $6::int8[],"
			  " $7::int8[], $8::int8[], $9::int8[], $10::int8[],"
			  " $11::int4[], $12::bool[], $13::text[], $14::bool[])"
			  " AS u(f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11,"
			  " f12, f13, c)"
			  " RETURNING channel, consumer),"
			  " n AS (SELECT pg_notify('" STORE_PG_MSG_CHANNEL "',"
			  " d.channel) FROM (SELECT DISTINCT channel FROM i"
			  " WHERE consumer IS NULL) d)"
			  " SELECT 1 FROM i, (SELECT count(*) FROM n) x",
    /* ST_RUN_APPEND for many runs with no output, in two statements:
     * the prune (a statement of its own, so that it sees the runs just
     * added) keeps the newest $2 runs of each timer of $1, and returns
     * the output bytes it deleted per owner. */
    [ST_C_RUNS_MANY] = "INSERT INTO evd.runs (timer_id, fire_id, due_rt_ns,"
		       " fired_rt_ns, lateness_ns, outcome, detail)"
		       " SELECT * FROM unnest($1::int8[], $2::int8[],"
		       " $3::int8[], $4::int8[], $5::int8[], $6::int4[],"
		       " $7::text[])",
    [ST_C_RUNS_PRUNE] = "WITH d AS (SELECT DISTINCT tid FROM"
			" unnest($1::int8[]) AS u(tid)),"
			" del AS (DELETE FROM evd.runs r USING d"
			" WHERE r.timer_id = d.tid AND r.seq <= (SELECT seq"
			" FROM evd.runs r2 WHERE r2.timer_id = d.tid"
			" ORDER BY seq DESC LIMIT 1 OFFSET $2::int8)"
			" RETURNING r.timer_id, " OUT_BYTES("r.") " AS b)"
			" SELECT t.uid, sum(del.b)::int8 FROM del"
			" JOIN evd.timers t ON t.id = del.timer_id"
			" GROUP BY t.uid HAVING sum(del.b) > 0",
    /* ST_C_SCHEDULE for many timers with no key ($21 the node, $22 the
     * claim lease in us). */
    /* ST_C_RENEW for one-shot exec timers as they fire ($1 ids, $2
     * fences, $3 the node, $4 T in us): gathered, judged at the commit
     * (a claim found gone fails the batch, as a retire's does); the
     * lease runs T from when the statement ran, after the node gathered
     * the row (its measure's start). */
    [ST_C_RENEW_MANY] = "UPDATE evd.timers t SET vis_at = greatest(t.vis_at,"
			" clock_timestamp() + $4::int8 * interval '1 us')"
			" FROM unnest($1::int8[], $2::int8[]) AS r(rid, rfence)"
			" WHERE t.id = r.rid AND t.fence = r.rfence"
			" AND t.state = 'C' AND t.claim_node = $3",
    /* ST_C_RETIRE_MANY for hooks that ended ($1 ids, $2 fences, $3 the
     * finished time), each judged alone: the ids returned were still
     * this node's claims; the others were lost (fence losses). */
    [ST_C_RETIRE_KEPT] = "UPDATE evd.timers t SET state = 'F',"
			 " finished_rt_ns = $3::int8, fire_count = t.fire_count + 1,"
			 " last_fired_rt_ns = $3::int8, claim_node = NULL"
			 " FROM unnest($1::int8[], $2::int8[]) AS r(rid, rfence)"
			 " WHERE t.id = r.rid AND t.fence = r.rfence"
			 " AND t.state = 'C' RETURNING t.id",
    /* ST_C_MSG_ACK for many ($1 fire ids, $2 fences, $3 the node): the
     * fire ids returned were deleted; the others' claims were lost. */
    [ST_C_MSG_ACK_MANY] = "DELETE FROM evd.messages m USING unnest($1::int8[],"
			  " $2::int8[]) AS a(aid, afence)"
			  " WHERE m.fire_id = a.aid AND m.fence = a.afence"
			  " AND m.consumer = $3 RETURNING m.fire_id",
    /* ST_C_UPDATE_MSG for deliveries ($1 fire ids, $2 fences, $3 their
     * attempts, $4 the node): live messages whose claim lasts; the fire
     * ids returned may be sent. */
    /* Deadness is not a delivery's to write: a message dead-lettered
     * earlier in the same turn (a synchronous update) stays dead. */
    [ST_C_MSG_DELIVER_MANY] = "UPDATE evd.messages m SET attempts = u.att"
			      " FROM unnest($1::int8[],"
			      " $2::int8[], $3::int8[]) AS u(ufid, ufence, att)"
			      " WHERE m.fire_id = u.ufid AND m.fence = u.ufence"
			      " AND m.consumer = $4"
			      " AND m.vis_at > clock_timestamp()"
			      " RETURNING m.fire_id",
    [ST_C_SCHEDULE_MANY] = "INSERT INTO evd.timers (" TIMER_COLS ", vis_at,"
			   " claim_node) SELECT u.id, u.fence, 'C', u.uid,"
			   " u.gid, u.clock, u.deadline_ns, u.due_rt_ns,"
			   " u.boot_id, u.created_rt_ns, u.channel, u.payload,"
			   " NULL, u.misfire, u.delivery, u.downtime,"
			   " u.max_attempts, u.fire_count, u.last_fired_rt_ns,"
			   " 0, u.exec, u.sched, u.paused, "
			   CLAIM_VIS("u.due_rt_ns", "u.paused", "$22")
			   ", $21::text FROM unnest($1::int8[], $2::int8[],"
			   " $3::int8[], $4::int8[], $5::int4[], $6::int8[],"
			   " $7::int8[], $8::text[], $9::int8[], $10::text[],"
			   " $11::bytea[], $12::int4[], $13::int4[],"
			   " $14::int4[], $15::int8[], $16::int8[],"
			   " $17::int8[], $18::bytea[], $19::bytea[],"
			   " $20::bool[]) AS u(id, fence, uid, gid, clock,"
			   " deadline_ns, due_rt_ns, boot_id, created_rt_ns,"
			   " channel, payload, misfire, delivery, downtime,"
			   " max_attempts, fire_count, last_fired_rt_ns, exec,"
			   " sched, paused) ON CONFLICT DO NOTHING",
    /*
     * Cluster mode's messages. A message is this node's while consumer
     * is this node and vis_at (its claim's lease) has not passed; no
     * node's (claimable) while consumer is NULL (vis_at NULL) or its
     * lease lapsed. Every claim, adoption, reap and give-back bumps the
     * fence, so a node that lost a claim can neither ack nor update it.
     * A message inserted unclaimed is announced on evd_msg (a hint to
     * the nodes' node connections; their claim tick is the truth).
     */
    [ST_C_ENQUEUE] = "WITH i AS (INSERT INTO evd.messages (" MSG_COLS ","
		     " consumer, fence, vis_at) VALUES ($1, $2, $3, $4, $5,"
		     " $6, $7, $8, $9, $10, $11, $12, $13,"
		     " CASE WHEN $14::bool THEN $15::text END,"
		     " CASE WHEN $14::bool THEN 1 ELSE 0 END,"
		     " CASE WHEN $14::bool THEN clock_timestamp() +"
		     " $16::int8 * interval '1 us' END)"
		     " ON CONFLICT DO NOTHING RETURNING channel, consumer)"
		     " SELECT 1 FROM i LEFT JOIN LATERAL (SELECT"
		     " pg_notify('" STORE_PG_MSG_CHANNEL "', i.channel)"
		     " WHERE i.consumer IS NULL) n ON true",
    /* load_messages: this node's own claims, fenced anew. */
    /* Its lease runs anew from now ($2 us): a claim whose lease ran out
     * would otherwise be claimable elsewhere at once. */
    [ST_C_MSG_ADOPT] = "UPDATE evd.messages SET fence = fence + 1,"
		       " vis_at = clock_timestamp() + $2::int8 * interval '1 us'"
		       " WHERE consumer = $1 RETURNING " MSG_COLS ", fence",
    [ST_C_MSG_ACK] = "DELETE FROM evd.messages WHERE fire_id = $1"
		     " AND fence = $2 AND consumer = $3",
    /* Fenced, and only while the claim's lease lasts: past it another
     * node may claim the message, and this one must not deliver it. */
    [ST_C_UPDATE_MSG] = "UPDATE evd.messages SET attempts = $2, dead = $3,"
			" reason = $4 WHERE fire_id = $1 AND fence = $5"
			" AND consumer = $6 AND vis_at > clock_timestamp()",
    /* $1 channels, $2 how many live messages of each at most, $5 how
     * many dead ones (text[], int8[], int8[]); $3 this node, $4 the
     * lease in us. */
    [ST_C_MSG_CLAIM] = "WITH w AS (SELECT * FROM unnest($1::text[],"
		       " $2::int8[], $5::int8[]) AS w(wch, wlim, wdead)),"
		       " c AS (SELECT x.fire_id AS cid FROM w CROSS JOIN"
		       " LATERAL (SELECT fire_id FROM evd.messages"
		       " WHERE channel = w.wch AND NOT dead AND (vis_at IS NULL"
		       " OR vis_at <= now()) ORDER BY fire_id LIMIT w.wlim"
		       " FOR UPDATE SKIP LOCKED) x"
		       " UNION ALL SELECT y.fire_id FROM w CROSS JOIN"
		       " LATERAL (SELECT fire_id FROM evd.messages"
		       " WHERE channel = w.wch AND dead AND (vis_at IS NULL"
		       " OR vis_at <= now()) ORDER BY fire_id LIMIT w.wdead"
		       " FOR UPDATE SKIP LOCKED) y)"
		       " UPDATE evd.messages m SET consumer = $3,"
		       " fence = m.fence + 1, vis_at = clock_timestamp() +"
		       " $4::int8 * interval '1 us' FROM c"
		       " WHERE m.fire_id = c.cid"
		       " RETURNING m.fire_id, m.timer_id, m.owner, m.channel,"
		       " m.payload, m.due_rt_ns, m.fired_rt_ns, m.lateness_ns,"
		       " m.attempts, m.max_attempts, m.delivery, m.dead,"
		       " m.reason, m.fence",
    [ST_C_MSG_RENEW] = "UPDATE evd.messages m SET vis_at = greatest(m.vis_at,"
		       " clock_timestamp() + $3::int8 * interval '1 us')"
		       " FROM unnest($1::int8[], $2::int8[]) WITH ORDINALITY"
		       " AS r(rid, rfence, ri)"
		       " WHERE m.fire_id = r.rid AND m.fence = r.rfence"
		       " AND m.consumer = $4"
		       " RETURNING m.fire_id, (extract(epoch FROM m.vis_at -"
		       " clock_timestamp()) * 1e9)::int8, r.ri",
    [ST_C_MSG_RELEASE] = "WITH u AS (UPDATE evd.messages m SET"
			 " consumer = NULL, vis_at = NULL, fence = m.fence + 1"
			 " FROM unnest($1::int8[], $2::int8[]) AS r(rid, rfence)"
			 " WHERE m.fire_id = r.rid AND m.fence = r.rfence"
			 " AND m.consumer = $3 RETURNING m.channel)"
			 " SELECT count(*) FROM (SELECT DISTINCT channel FROM u)"
			 " d, LATERAL (SELECT pg_notify('" STORE_PG_MSG_CHANNEL
			 "', d.channel)) n",
    /* FOR UPDATE: held until the batch's commit. */
    [ST_C_CHANNEL_LOCK] = "SELECT name, owner, grants FROM evd.channels"
			  " WHERE name = $1 FOR UPDATE",
    /* The count rows' sums: what every node's committed inserts and
     * deletes left (schema 5). */
    [ST_C_MSG_COUNTS] = "SELECT channel, owner, sum(n)::int8 FROM"
			" evd.msg_counts GROUP BY channel, owner"
			" HAVING sum(n) <> 0 ORDER BY channel, owner",
};

/*
 * Cluster mode, while pipelining: the rows of a loop turn's fires
 * (retire, message, run), gathered as array literals ("{a,b"), one per
 * column, and sent as one statement each (ST_C_*_MANY) before anything
 * else is sent (order kept) or the pipeline's answers are read. A fire
 * statement per row cost the server more than the rows themselves.
 */
struct store_pg_arr {
	char *p;
	size_t len, cap;
};
/* Gathered rows are sent once their columns hold this much, and a
 * column's buffer larger than FB_KEEP_BYTES is freed after a send. */
#define FB_SEND_BYTES ((size_t)16 << 20)
#define FB_KEEP_BYTES ((size_t)1 << 20)
enum {
	FB_RET,                 /* id, fence, finished */
	FB_MSG = FB_RET + 3,    /* MSG_COLS, then claimed at insert */
	FB_RUN = FB_MSG + 14,   /* timer_id .. detail */
	FB_SCH = FB_RUN + 7,    /* ST_C_SCHEDULE_MANY's arrays */
	FB_REN = FB_SCH + 20,   /* ST_C_RENEW_MANY: id, fence */
	FB_COLS = FB_REN + 2,
};

/* A statement's parameters: text, or binary for bytea. */
struct store_pg_params {
	const char *v[MAX_PARAMS];
	int len[MAX_PARAMS];
	int fmt[MAX_PARAMS];
	char num[MAX_PARAMS][24];
	int n;
};

/* Owned by the daemon (open to close). */
struct store {
	PGconn *conn;          /* the loop's; NULL or bad while lost */
	PGconn *fconn;         /* the sync thread's (sync_full only) */
	PGconn *pending;       /* a reconnect in progress (check) */
	PostgresPollingStatusType pending_ps; /* what it waits for */
	bool tx_open;          /* BEGIN sent: the batch has written */
	bool in_batch;         /* between begin() and commit()/rollback() */
	bool flushes;
	bool read_only;        /* store_config.read_only: open writes nothing */
	int64_t retry_at_ns;   /* monotonic: next reconnect attempt */
	int backoff_ms;
	/* Reconnects go to one server at a time (pgaddr.h): the target
	 * tried next (the last that worked, after a loss), the attempts
	 * left in this round before a backoff, and their reasons. */
	struct pgaddr *addr;
	size_t tgt;
	size_t round_left;
	int64_t attempt_ns;    /* monotonic: the attempt in progress began */
	char round_err[512];
	/* The conninfo as keywords/values, ours added (owned). */
	const char *kw[MAX_CONNINFO + 1];
	const char *val[MAX_CONNINFO + 1];
	char *strings;         /* what kw/val point into */
	char started[64];      /* pg_postmaster_start_time() at open */
	uint64_t batch_xid;    /* the open batch's xid (0: none yet) */
	/* The xid of the last batch that committed (0: none since open):
	 * written by commit() on the loop thread, read by flush() on the
	 * sync thread, so only through __atomic builtins. */
	uint64_t witness;
	uint32_t history_per_timer;
	int64_t keep_ns;
	uint32_t commits;      /* since the last sweep step */
	int64_t prune_cursor;
	struct store_out out_pending;
	struct store_out out_done;
	char boot_id[40];
	/* Cluster mode: this node's id ("" for a single node) and a
	 * claim's lease (T) in us. */
	char node[32];
	int64_t claim_us;
	/* pipeline(): writes sent, their answers still to read (settle),
	 * in the order sent. */
	bool pipelining;
	struct store_pg_pend *pend;
	size_t npend, pend_cap;
	/* The first failure a settle found in the open transaction: the
	 * batch can then only roll back, whatever a later call of it says
	 * (commit returns it). A fenced write that found its claim gone
	 * (-ESTALE: 0 rows, no server error) leaves the transaction usable
	 * for the batch's reads until then. */
	int tx_err;
	/* Fires' rows not sent yet (store_pg_fb_send): columns, and rows
	 * per statement; fb_err: a row could not be added (-ENOMEM). */
	struct store_pg_arr fb[FB_COLS];
	size_t fb_nret, fb_nmsg, fb_nrun, fb_nsch, fb_nren;
	int fb_err;
	/* Pipelined fenced writes that found their claim gone, since open
	 * (store_backend.fence_losses): written on the loop, read by Stats
	 * and metrics from any thread, so only through __atomic builtins. */
	uint64_t stale;
	char err[1024];
};

/* What a write sent in pipeline mode says once its answer is read. */
enum store_pg_judge {
	PJ_BEGIN,     /* BEGIN: nothing to judge */
	PJ_XID,       /* the batch's xid, the flush's witness */
	PJ_DONE,      /* a write with no answer to judge */
	PJ_ONE,       /* one row changed, else `absent` (0: that is fine) */
	PJ_RETURNED,  /* one row returned, else it was there: -EEXIST */
	PJ_RUN,       /* run_append: its output tally */
	PJ_MANY,      /* `added` rows changed, else `absent` */
	PJ_RUNS,      /* ST_C_RUNS_MANY: output pruned per owner */
	PJ_KEPT,      /* ids returned: kept set in the caller's rn */
};

struct store_pg_pend {
	enum store_pg_judge judge;
	int absent;          /* PJ_ONE */
	int64_t added;       /* PJ_RUN: the run's output bytes */
	const char *what;    /* static */
	/* PJ_KEPT: the caller's rows, sorted by id (store_pg_kept). */
	struct store_renewal *rn;
	size_t nrn;
};

static char store_pg_open_err[1024];
/* Where the server's notices and warnings go (store.h: the first open
 * that passes a store_log_fn sets it); libpq would print them. */
static store_log_fn store_pg_log_fn;

static void
store_pg_notice_cb(void *arg, const PGresult *res)
{
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	char msg[1024];
	size_t n;

	(void)arg;
	if (store_pg_log_fn == NULL)
		return;
	snprintf(msg, sizeof(msg), "PostgreSQL: %s",
	         PQresultErrorMessage(res));
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	store_pg_log_fn(sev != NULL && strcmp(sev, "WARNING") == 0
	                    ? STORE_LOG_WARNING
	                    : STORE_LOG_INFO,
	                msg);
}

/* Every connection's notices go to store_pg_notice_cb. */
static PGconn *
store_pg_quiet(PGconn *conn)
{
	if (conn != NULL)
		PQsetNoticeReceiver(conn, store_pg_notice_cb, NULL);
	return conn;
}

static void store_pg_close(struct store *s);

static void __attribute__((format(printf, 2, 3)))
store_pg_seterr(struct store *s, const char *fmt, ...)
{
	char *buf = s != NULL ? s->err : store_pg_open_err;
	size_t size = s != NULL ? sizeof(s->err) : sizeof(store_pg_open_err);
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	/* libpq's messages end in a newline and may hold more lines
	 * ("\n\tIs the server running ..."): one line here. */
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\n' || buf[i] == '\t')
			buf[i] = ' ';
}

static int64_t
store_pg_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The errno of a failed result (res may be NULL: the connection). */
static int
store_pg_errno(PGconn *conn, const PGresult *res)
{
	const char *st = res != NULL
	                     ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
	                     : NULL;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		return -ENOTCONN;
	if (st == NULL)
		return -EIO;
	if (strcmp(st, "23505") == 0)
		return -EEXIST; /* unique_violation */
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0)
		return -ENOTCONN; /* connection exception, shutdown */
	if (strcmp(st, "53100") == 0)
		return -ENOSPC; /* disk_full */
	if (strcmp(st, "53200") == 0)
		return -ENOMEM;
	if (strcmp(st, "54000") == 0 || strcmp(st, "54001") == 0)
		return -E2BIG; /* program_limit_exceeded */
	if (strcmp(st, "25006") == 0)
		return -EROFS; /* read_only_sql_transaction: a standby */
	if (strcmp(st, "42501") == 0)
		return -EACCES;
	if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 ||
	    strcmp(st, "55P03") == 0)
		return -EBUSY;
	if (strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0)
		return -EINVAL; /* data exception, integrity constraint */
	return -EIO;
}

/* Sets s's reason from res (or the connection) and returns the errno;
 * inside a transaction a server error has aborted it, so it is never a
 * row error there. */
static int
store_pg_fail(struct store *s, PGconn *conn, const PGresult *res,
              const char *what)
{
	int r = store_pg_errno(conn, res);
	const char *msg = res != NULL ? PQresultErrorMessage(res) : "";

	if (msg[0] == '\0' && conn != NULL)
		msg = PQerrorMessage(conn);
	if (r == -ENOTCONN)
		store_pg_seterr(s, "%s: the PostgreSQL connection was lost: %s",
		                what, msg);
	else
		store_pg_seterr(s, "%s: PostgreSQL: %s", what, msg);
	if (s != NULL && s->tx_open && STORE_ROW_ERROR(r))
		r = -EIO;
	return r;
}

static void
store_pg_p_i64(struct store_pg_params *p, int64_t v)
{
	snprintf(p->num[p->n], sizeof(p->num[0]), "%" PRId64, v);
	p->v[p->n] = p->num[p->n];
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

static void
store_pg_p_text(struct store_pg_params *p, const char *text)
{
	p->v[p->n] = text;
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

/* bytea in binary: NULL stays NULL, and "" an empty value. */
static void
store_pg_p_bytes(struct store_pg_params *p, const uint8_t *b, size_t len)
{
	p->v[p->n] = b == NULL ? NULL : len == 0 ? "" : (const char *)b;
	p->len[p->n] = (int)len;
	p->fmt[p->n] = 1;
	p->n++;
}

static void
store_pg_p_bool(struct store_pg_params *p, bool v)
{
	store_pg_p_text(p, v ? "t" : "f");
}

/* Whether text can go to a UTF8 database: PostgreSQL would refuse it
 * and abort the batch, so it is refused here as a row error. */
static int
store_pg_check_text(struct store *s, const char *text, const char *what)
{
	size_t n;

	if (text == NULL)
		return 0;
	n = strlen(text);
	if (wirestr_valid_prefix(text, n) == n)
		return 0;
	store_pg_seterr(s, "%s: a string is not valid UTF-8", what);
	return -EINVAL;
}

/* bytea values over 1 GiB are refused by PostgreSQL (and an int
 * length). */
static int
store_pg_check_bytes(struct store *s, size_t len, const char *what)
{
	if (len < ((size_t)1 << 30))
		return 0;
	store_pg_seterr(s, "%s: a value is larger than PostgreSQL keeps",
	                what);
	return -E2BIG;
}

static int64_t store_pg_int(const PGresult *res, int row, int col);

/*
 * A send or a sync failed, or a pipeline's results were not the ones
 * sent: what the server has of it is unknown and later results would
 * be read as another call's. So the loop's connection is dropped (check()
 * makes a new one, and until then every call fails) and the batch is
 * lost. Returns its errno.
 */
static void store_pg_fb_clear(struct store *s);

static int
store_pg_drop(struct store *s, const char *what)
{
	int r = store_pg_fail(s, s->conn, NULL, what);

	PQfinish(s->conn);
	s->conn = NULL;
	s->npend = 0; /* their answers went with it */
	store_pg_fb_clear(s);
	return r < 0 ? r : -EIO;
}

/*
 * Reads every result up to the pipeline's sync; returns the errno of the
 * first failure and leaves *ret with the result of query want (or
 * NULL; want >= 0 and none came back: -EIO). Query xq (-1: none) is
 * ST_XID: its value goes to batch_xid. With drop, a pipeline that did
 * not end in its sync, or lacked the wanted result, drops s->conn
 * (store_pg_drop); setup passes false (its connection is not s->conn
 * yet).
 */
static int
store_pg_collect(struct store *s, int nq, int want, int xq, PGresult **ret,
                 const char *what, bool drop)
{
	PGresult *res, *keep = NULL;
	bool lost = false;
	int q, r = 0;

	for (q = 0; q < nq; q++) {
		while ((res = PQgetResult(s->conn)) != NULL) {
			ExecStatusType st = PQresultStatus(res);

			if (r == 0 && st != PGRES_COMMAND_OK &&
			    st != PGRES_TUPLES_OK)
				r = store_pg_fail(s, s->conn, res, what);
			if (q == xq && st == PGRES_TUPLES_OK &&
			    PQntuples(res) == 1)
				s->batch_xid = (uint64_t)store_pg_int(res, 0, 0);
			if (q == want && keep == NULL)
				keep = res;
			else
				PQclear(res);
		}
		if (PQstatus(s->conn) != CONNECTION_OK)
			break;
	}
	if (PQstatus(s->conn) == CONNECTION_OK) {
		res = PQgetResult(s->conn);
		if (res == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
			if (r == 0)
				r = store_pg_fail(s, s->conn, res, what);
			lost = true;
		}
		PQclear(res);
	} else if (r == 0) {
		r = store_pg_fail(s, s->conn, NULL, what);
	}
	if (r == 0 && want >= 0 && keep == NULL) {
		store_pg_seterr(s, "%s: PostgreSQL sent no result", what);
		r = -EIO;
		lost = true;
	}
	if (lost && drop) {
		PQfinish(s->conn);
		s->conn = NULL;
	}
	if (r < 0 && keep != NULL) {
		PQclear(keep);
		keep = NULL;
	}
	*ret = keep;
	return r;
}

static int store_pg_out_note(struct store *, uid_t, int64_t, const char *);

static int
store_pg_cmp_renewal(const void *a, const void *b)
{
	uint64_t x = ((const struct store_renewal *)a)->id;
	uint64_t y = ((const struct store_renewal *)b)->id;

	return x < y ? -1 : x > y;
}

/* A pipelined write's answer, judged as it was sent to be. */
static int
store_pg_judge_one(struct store *s, const struct store_pg_pend *pd,
                   const PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	int64_t pruned, rows;
	int row;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		int r = store_pg_fail(s, s->conn, res, pd->what);

		/* Gathered rows whose key is taken (ST_C_ENQUEUE_MANY, no
		 * ON CONFLICT): the same answer as rows counted short. */
		if (pd->judge == PJ_MANY && pd->absent == -EEXIST &&
		    state != NULL && strcmp(state, "23505") == 0)
			return -EEXIST;
		return r;
	}
	switch (pd->judge) {
	case PJ_XID:
		if (st == PGRES_TUPLES_OK && PQntuples(res) == 1)
			s->batch_xid = (uint64_t)store_pg_int(res, 0, 0);
		return 0;
	case PJ_ONE:
		if (strcmp(PQcmdTuples((PGresult *)res), "0") != 0 ||
		    pd->absent == 0)
			return 0;
		if (pd->absent == -ESTALE) {
			__atomic_add_fetch(&s->stale, 1, __ATOMIC_RELAXED);
			store_pg_seterr(s, "%s: the claim was lost (another "
			                "node has it)", pd->what);
		} else
			store_pg_seterr(s, "%s: no such row", pd->what);
		return pd->absent;
	case PJ_RETURNED:
		if (PQntuples(res) > 0)
			return 0;
		store_pg_seterr(s, "%s: the row already exists in the store",
		                pd->what);
		return -EEXIST;
	case PJ_RUN:
		if (PQntuples(res) != 1 || PQgetisnull(res, 0, 1))
			return 0;
		pruned = store_pg_int(res, 0, 0);
		if (pd->added - pruned == 0)
			return 0;
		return store_pg_out_note(s, (uid_t)store_pg_int(res, 0, 1),
		                         pd->added - pruned, pd->what);
	case PJ_MANY:
		rows = strtoll(PQcmdTuples((PGresult *)res), NULL, 10);
		if (rows == pd->added)
			return 0;
		if (pd->absent == -ESTALE) {
			__atomic_add_fetch(&s->stale, (uint64_t)(pd->added - rows),
			                   __ATOMIC_RELAXED);
			store_pg_seterr(s, "%s: %" PRId64 " of %" PRId64 " claims "
			                "were lost (another node has them)",
			                pd->what, pd->added - rows, pd->added);
		} else
			store_pg_seterr(s, "%s: %" PRId64 " of %" PRId64 " rows "
			                "already exist in the store", pd->what,
			                pd->added - rows, pd->added);
		return pd->absent;
	case PJ_RUNS:
		for (row = 0; row < PQntuples(res); row++) {
			int r = store_pg_out_note(
			    s, (uid_t)store_pg_int(res, row, 0),
			    -store_pg_int(res, row, 1), pd->what);

			if (r < 0)
				return r;
		}
		return 0;
	case PJ_KEPT:
		for (row = 0; row < PQntuples(res); row++) {
			struct store_renewal key = {
				.id = (uint64_t)store_pg_int(res, row, 0)
			}, *hit;

			hit = bsearch(&key, pd->rn, pd->nrn, sizeof(*pd->rn),
			              store_pg_cmp_renewal);
			if (hit != NULL)
				hit->kept = true;
		}
		return 0;
	case PJ_BEGIN:
	case PJ_DONE:
		break;
	}
	return 0;
}

/*
 * Reads the answers of every write sent in pipeline mode, up to a sync
 * of their own; returns the first failure (every later statement of the
 * batch was skipped by the server then: the batch is lost), which also
 * stays in tx_err. A pipeline out of step drops the connection, as
 * store_pg_collect does. -ESTALE alone (fenced writes that changed no
 * row: judged here, not refused by the server) leaves the transaction
 * open and usable, and only its commit fails.
 */
static int store_pg_fb_send(struct store *s);

static int
store_pg_settle(struct store *s)
{
	PGresult *res;
	size_t k;
	int r, e;

	/* Gathered rows go first; if they cannot, the batch is lost, and
	 * what was sent before is read all the same. */
	r = store_pg_fb_send(s);
	if (r < 0 && s->tx_open && s->tx_err == 0)
		s->tx_err = r;
	if (s->npend == 0)
		return r;
	if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK) {
		s->npend = 0;
		store_pg_seterr(s, "%s: not connected to PostgreSQL",
		                s->pend[0].what);
		return r < 0 ? r : -ENOTCONN;
	}
	if (!PQpipelineSync(s->conn)) {
		s->npend = 0;
		return store_pg_drop(s, "write");
	}
	for (k = 0; k < s->npend; k++) {
		bool got = false;

		while ((res = PQgetResult(s->conn)) != NULL) {
			if (!got) {
				got = true;
				e = store_pg_judge_one(s, &s->pend[k], res);
				if (r == 0)
					r = e;
			}
			PQclear(res);
		}
		if (PQstatus(s->conn) != CONNECTION_OK)
			break;
	}
	s->npend = 0;
	if (PQstatus(s->conn) != CONNECTION_OK) {
		if (r == 0)
			r = store_pg_drop(s, "write");
		goto out;
	}
	res = PQgetResult(s->conn);
	if (res == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
		PQclear(res);
		e = store_pg_drop(s, "write");
		r = r < 0 ? r : e;
	} else
		PQclear(res);
out:
	if (r < 0 && s->tx_open && s->tx_err == 0)
		s->tx_err = r;
	return r;
}

/* Room for n more answers to wait for. */
static int
store_pg_pend_room(struct store *s, size_t n)
{
	struct store_pg_pend *p;
	size_t cap;

	if (s->npend + n <= s->pend_cap)
		return 0;
	cap = s->pend_cap == 0 ? 64 : 2 * s->pend_cap;
	while (cap < s->npend + n)
		cap *= 2;
	if ((p = reallocarray(s->pend, cap, sizeof *p)) == NULL) {
		store_pg_seterr(s, "out of memory");
		return -ENOMEM;
	}
	s->pend = p;
	s->pend_cap = cap;
	return 0;
}

static void
store_pg_pend_push(struct store *s, enum store_pg_judge judge, int absent,
                   int64_t added, const char *what)
{
	s->pend[s->npend++] = (struct store_pg_pend){ judge, absent, added,
		                                       what, NULL, 0 };
}

/*
 * Pipeline mode: sends write i (after BEGIN and the xid query if it is
 * the batch's first) and returns; its answer is judged by the next
 * settle. Any send failing drops the connection, as in store_pg_run.
 * The fires' rows gathered before it are sent first (in order).
 */
static int store_pg_defer_now(struct store *s, enum store_pg_stmt i,
                              const struct store_pg_params *p,
                              enum store_pg_judge judge, int absent,
                              int64_t added, const char *what);

static int
store_pg_defer(struct store *s, enum store_pg_stmt i,
               const struct store_pg_params *p, enum store_pg_judge judge,
               int absent, int64_t added, const char *what)
{
	int r;

	if ((r = store_pg_fb_send(s)) < 0)
		return r;
	return store_pg_defer_now(s, i, p, judge, absent, added, what);
}

/* store_pg_defer_now's: statement i, or (sql not NULL) a statement
 * with no parameters that is not prepared. */
static int
store_pg_defer_any(struct store *s, enum store_pg_stmt i, const char *sql,
                   const struct store_pg_params *p, enum store_pg_judge judge,
                   int absent, int64_t added, const char *what)
{
	char name[8];
	int r;

	if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK) {
		store_pg_seterr(s, "%s: not connected to PostgreSQL", what);
		return -ENOTCONN;
	}
	if ((r = store_pg_pend_room(s, 3)) < 0)
		return r;
	if (s->in_batch && !s->tx_open) {
		s->tx_open = true;
		if (!PQsendQueryPrepared(s->conn, "s0", 0, NULL, NULL, NULL, 1))
			return store_pg_drop(s, what);
		store_pg_pend_push(s, PJ_BEGIN, 0, 0, what);
		snprintf(name, sizeof(name), "s%d", (int)ST_XID);
		if (!PQsendQueryPrepared(s->conn, name, 0, NULL, NULL, NULL, 1))
			return store_pg_drop(s, what);
		store_pg_pend_push(s, PJ_XID, 0, 0, what);
	}
	snprintf(name, sizeof(name), "s%d", (int)i);
	if (sql != NULL
	        ? !PQsendQueryParams(s->conn, sql, 0, NULL, NULL, NULL, NULL, 1)
	        : !PQsendQueryPrepared(s->conn, name, p != NULL ? p->n : 0,
	                               p != NULL ? p->v : NULL,
	                               p != NULL ? p->len : NULL,
	                               p != NULL ? p->fmt : NULL, 1))
		return store_pg_drop(s, what);
	store_pg_pend_push(s, judge, absent, added, what);
	return 0;
}

static int
store_pg_defer_now(struct store *s, enum store_pg_stmt i,
                   const struct store_pg_params *p, enum store_pg_judge judge,
                   int absent, int64_t added, const char *what)
{
	return store_pg_defer_any(s, i, NULL, p, judge, absent, added, what);
}

/* ---- cluster mode's fires, gathered (struct store_pg_arr) ---- */

static void
store_pg_fb_clear(struct store *s)
{
	size_t c;

	for (c = 0; c < FB_COLS; c++) {
		s->fb[c].len = 0;
		/* A burst's large buffers are not kept for ever. */
		if (s->fb[c].cap > FB_KEEP_BYTES) {
			free(s->fb[c].p);
			s->fb[c].p = NULL;
			s->fb[c].cap = 0;
		}
	}
	s->fb_nret = s->fb_nmsg = s->fb_nrun = s->fb_nsch = s->fb_nren = 0;
	s->fb_err = 0;
}

static void
store_pg_fb_free(struct store *s)
{
	size_t c;

	for (c = 0; c < FB_COLS; c++)
		free(s->fb[c].p);
}

/* Room for n more bytes (and a closing brace and NUL). */
static int
store_pg_arr_room(struct store_pg_arr *a, size_t n)
{
	size_t cap = a->cap == 0 ? 4096 : a->cap;
	char *p;

	/* n, the separator before it, and the '}' and NUL that
	 * store_pg_fb_one ends the literal with. */
	if (a->len + n + 3 <= a->cap)
		return 0;
	while (cap < a->len + n + 3)
		cap *= 2;
	if ((p = realloc(a->p, cap)) == NULL)
		return -ENOMEM;
	a->p = p;
	a->cap = cap;
	return 0;
}

/* The next element's separator ('{' before the first). */
static void
store_pg_arr_sep(struct store_pg_arr *a)
{
	char c = a->len == 0 ? '{' : ',';

	a->p[a->len++] = c;
}

static int
store_pg_arr_i64(struct store_pg_arr *a, int64_t v)
{
	if (store_pg_arr_room(a, 22) < 0)
		return -ENOMEM;
	store_pg_arr_sep(a);
	a->len += (size_t)sprintf(a->p + a->len, "%" PRId64, v);
	return 0;
}

/* NULL, or quoted with '"' and '\' escaped. */
static int
store_pg_arr_text(struct store_pg_arr *a, const char *t)
{
	size_t n = t != NULL ? strlen(t) : 0;

	if (store_pg_arr_room(a, 2 * n + 4) < 0)
		return -ENOMEM;
	store_pg_arr_sep(a);
	if (t == NULL) {
		memcpy(a->p + a->len, "NULL", 4);
		a->len += 4;
		return 0;
	}
	a->p[a->len++] = '"';
	for (; *t != '\0'; t++) {
		if (*t == '"' || *t == '\\')
			a->p[a->len++] = '\\';
		a->p[a->len++] = *t;
	}
	a->p[a->len++] = '"';
	return 0;
}

/* bytea in hex ("\\x..."), NULL staying NULL. */
static int
store_pg_arr_bytes(struct store_pg_arr *a, const uint8_t *b, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	if (store_pg_arr_room(a, 2 * len + 8) < 0)
		return -ENOMEM;
	store_pg_arr_sep(a);
	if (b == NULL) {
		memcpy(a->p + a->len, "NULL", 4);
		a->len += 4;
		return 0;
	}
	memcpy(a->p + a->len, "\"\\\\x", 4);
	a->len += 4;
	for (i = 0; i < len; i++) {
		a->p[a->len++] = hex[b[i] >> 4];
		a->p[a->len++] = hex[b[i] & 15];
	}
	a->p[a->len++] = '"';
	return 0;
}

/* Sends the columns [c, c + n) of rows gathered as statement i. */
static int
store_pg_fb_one(struct store *s, enum store_pg_stmt i, size_t c, size_t n,
                int64_t extra, size_t rows, enum store_pg_judge judge,
                int absent, const char *what)
{
	struct store_pg_params p = { .n = 0 };
	size_t k;

	for (k = 0; k < n; k++) {
		struct store_pg_arr *a = &s->fb[c + k];

		a->p[a->len] = '}';
		a->p[a->len + 1] = '\0';
		store_pg_p_text(&p, a->p);
	}
	if (i == ST_C_SCHEDULE_MANY || i == ST_C_ENQUEUE_MANY ||
	    i == ST_C_RENEW_MANY)
		store_pg_p_text(&p, s->node);
	if (extra >= 0)
		store_pg_p_i64(&p, extra);
	return store_pg_defer_now(s, i, &p, judge, absent, (int64_t)rows,
	                          what);
}

/* Sends what was gathered: the timers scheduled first (a timer may be
 * scheduled and fired in one batch), then as a fire writes: the
 * retirements, so that each fire's message and run go with them in the
 * same transaction. */
/*
 * The gathered statements are planned generically (a plan for any
 * batch: a nested loop over the unnested rows, each found by its key),
 * PostgreSQL 12 and later. A custom plan, the first five runs of each
 * on a connection, sees thousands of rows and joins them by hashing a
 * whole table (evd.timers for the retire, evd.runs for the prune), at
 * each run; in a burst every node's batches were such runs. SET LOCAL:
 * back to the server's choice after them, and at the transaction's end
 * whatever happens.
 */
static int
store_pg_fb_generic(struct store *s, bool on)
{
	if (PQserverVersion(s->conn) < 120000)
		return 0;
	return store_pg_defer_any(s, ST_COUNT,
	                          on ? "SET LOCAL plan_cache_mode ="
	                               " force_generic_plan"
	                             : "SET LOCAL plan_cache_mode TO DEFAULT",
	                          NULL, PJ_DONE, 0, 0, "fire");
}

static int
store_pg_fb_send(struct store *s)
{
	int r = s->fb_err;
	bool any = s->fb_nsch + s->fb_nren + s->fb_nret + s->fb_nmsg +
	               s->fb_nrun > 0;

	if (r == 0 && any && s->conn != NULL)
		r = store_pg_fb_generic(s, true);
	if (r == 0 && s->fb_nsch > 0)
		r = store_pg_fb_one(s, ST_C_SCHEDULE_MANY, FB_SCH, 20,
		                    s->claim_us, s->fb_nsch, PJ_MANY, -EEXIST,
		                    "schedule");
	/* A one-shot exec timer's renewal goes where its retire would. */
	if (r == 0 && s->fb_nren > 0)
		r = store_pg_fb_one(s, ST_C_RENEW_MANY, FB_REN, 2, s->claim_us,
		                    s->fb_nren, PJ_MANY, -ESTALE, "renew claims");
	if (r == 0 && s->fb_nret > 0)
		r = store_pg_fb_one(s, ST_C_RETIRE_MANY, FB_RET, 3, -1,
		                    s->fb_nret, PJ_MANY, -ESTALE, "retire");
	if (r == 0 && s->fb_nmsg > 0)
		r = store_pg_fb_one(s, ST_C_ENQUEUE_MANY, FB_MSG, 14,
		                    s->claim_us, s->fb_nmsg, PJ_MANY, -EEXIST,
		                    "enqueue");
	if (r == 0 && s->fb_nrun > 0)
		r = store_pg_fb_one(s, ST_C_RUNS_MANY, FB_RUN, 7, -1,
		                    s->fb_nrun, PJ_MANY, -EIO, "append run");
	if (r == 0 && s->fb_nrun > 0)
		r = store_pg_fb_one(s, ST_C_RUNS_PRUNE, FB_RUN, 1,
		                    s->history_per_timer, s->fb_nrun, PJ_RUNS,
		                    0, "append run");
	if (r == 0 && any)
		r = store_pg_fb_generic(s, false);
	if (r == -ENOMEM)
		store_pg_seterr(s, "fire: out of memory");
	store_pg_fb_clear(s);
	return r;
}

/* A row's columns, or the batch is lost (fb_err). */
static int
store_pg_fb_row(struct store *s, int r)
{
	size_t c, bytes = 0;

	if (r < 0 && s->fb_err == 0)
		s->fb_err = r;
	/* Sent once they are large (in order, as at any other statement):
	 * a column is one value to the server, at most 1 GB, and all of
	 * it is copied twice on its way. */
	for (c = 0; c < FB_COLS; c++)
		bytes += s->fb[c].len;
	if (bytes >= FB_SEND_BYTES)
		return store_pg_fb_send(s);
	return 0;
}

static int
store_pg_fb_schedule(struct store *s, const struct store_timer *t)
{
	struct store_pg_arr *a = &s->fb[FB_SCH];
	int r;

	if ((r = store_pg_arr_i64(&a[0], (int64_t)t->id)) == 0 &&
	    (r = store_pg_arr_i64(&a[1], (int64_t)t->fence)) == 0 &&
	    (r = store_pg_arr_i64(&a[2], (int64_t)t->uid)) == 0 &&
	    (r = store_pg_arr_i64(&a[3], (int64_t)t->gid)) == 0 &&
	    (r = store_pg_arr_i64(&a[4], t->clock)) == 0 &&
	    (r = store_pg_arr_i64(&a[5], t->deadline_ns)) == 0 &&
	    (r = store_pg_arr_i64(&a[6], t->due_rt_ns)) == 0 &&
	    (r = store_pg_arr_text(&a[7], t->boot_id)) == 0 &&
	    (r = store_pg_arr_i64(&a[8], t->created_rt_ns)) == 0 &&
	    (r = store_pg_arr_text(&a[9], t->channel)) == 0 &&
	    (r = store_pg_arr_bytes(&a[10], t->payload, t->payload_len)) == 0 &&
	    (r = store_pg_arr_i64(&a[11], t->misfire)) == 0 &&
	    (r = store_pg_arr_i64(&a[12], t->delivery)) == 0 &&
	    (r = store_pg_arr_i64(&a[13], t->downtime)) == 0 &&
	    (r = store_pg_arr_i64(&a[14], t->max_attempts)) == 0 &&
	    (r = store_pg_arr_i64(&a[15], (int64_t)t->fire_count)) == 0 &&
	    (r = store_pg_arr_i64(&a[16], t->last_fired_rt_ns)) == 0 &&
	    (r = store_pg_arr_bytes(&a[17], t->exec, t->exec_len)) == 0 &&
	    (r = store_pg_arr_bytes(&a[18], t->sched, t->sched_len)) == 0)
		r = store_pg_arr_text(&a[19], t->paused ? "t" : "f");
	s->fb_nsch++;
	return store_pg_fb_row(s, r);
}

static int
store_pg_fb_retire(struct store *s, uint64_t id, uint64_t fence)
{
	struct store_pg_arr *a = &s->fb[FB_RET];
	int r;

	if ((r = store_pg_arr_i64(&a[0], (int64_t)id)) == 0 &&
	    (r = store_pg_arr_i64(&a[1], (int64_t)fence)) == 0)
		r = store_pg_arr_i64(&a[2], clock_now_ns(EVD_CLOCK_REALTIME));
	s->fb_nret++;
	return store_pg_fb_row(s, r);
}

static int
store_pg_fb_renew(struct store *s, uint64_t id, uint64_t fence)
{
	struct store_pg_arr *a = &s->fb[FB_REN];
	int r;

	if ((r = store_pg_arr_i64(&a[0], (int64_t)id)) == 0)
		r = store_pg_arr_i64(&a[1], (int64_t)fence);
	s->fb_nren++;
	return store_pg_fb_row(s, r);
}

static int
store_pg_fb_msg(struct store *s, const struct store_msg *m)
{
	struct store_pg_arr *a = &s->fb[FB_MSG];
	int r;

	if ((r = store_pg_arr_i64(&a[0], (int64_t)m->fire_id)) == 0 &&
	    (r = store_pg_arr_i64(&a[1], (int64_t)m->timer_id)) == 0 &&
	    (r = store_pg_arr_i64(&a[2], (int64_t)m->owner)) == 0 &&
	    (r = store_pg_arr_text(&a[3], m->channel)) == 0 &&
	    (r = store_pg_arr_bytes(&a[4], m->payload, m->payload_len)) == 0 &&
	    (r = store_pg_arr_i64(&a[5], m->due_rt_ns)) == 0 &&
	    (r = store_pg_arr_i64(&a[6], m->fired_rt_ns)) == 0 &&
	    (r = store_pg_arr_i64(&a[7], m->lateness_ns)) == 0 &&
	    (r = store_pg_arr_i64(&a[8], m->attempts)) == 0 &&
	    (r = store_pg_arr_i64(&a[9], m->max_attempts)) == 0 &&
	    (r = store_pg_arr_i64(&a[10], m->delivery)) == 0 &&
	    (r = store_pg_arr_text(&a[11], m->dead ? "t" : "f")) == 0 &&
	    (r = store_pg_arr_text(&a[12], m->reason)) == 0)
		r = store_pg_arr_text(&a[13], m->claim ? "t" : "f");
	s->fb_nmsg++;
	return store_pg_fb_row(s, r);
}

static int
store_pg_fb_run(struct store *s, const struct store_run *run)
{
	struct store_pg_arr *a = &s->fb[FB_RUN];
	int r;

	if ((r = store_pg_arr_i64(&a[0], (int64_t)run->timer_id)) == 0 &&
	    (r = store_pg_arr_i64(&a[1], (int64_t)run->fire_id)) == 0 &&
	    (r = store_pg_arr_i64(&a[2], run->due_rt_ns)) == 0 &&
	    (r = store_pg_arr_i64(&a[3], run->fired_rt_ns)) == 0 &&
	    (r = store_pg_arr_i64(&a[4], run->lateness_ns)) == 0 &&
	    (r = store_pg_arr_i64(&a[5], run->outcome)) == 0)
		r = store_pg_arr_text(&a[6], run->detail);
	s->fb_nrun++;
	return store_pg_fb_row(s, r);
}

static void
store_pg_pipeline(struct store *s, bool on)
{
	s->pipelining = on;
}

/*
 * Single-node only. A cluster node's batches keep their commit on the
 * loop: claim_due, renew and cancel_claim answer rows its scheduler
 * needs in the same batch, which the operation log (storeq.h) cannot
 * carry, and a failure found there would stop writes until a probe
 * commits, where a lost claim must only roll its batch back. Its fires
 * are pipelined instead (sched_fire.c): one round trip per batch.
 */
static bool
store_pg_threaded(const struct store *s)
{
	return s->node[0] == '\0';
}

static uint64_t
store_pg_fence_losses(const struct store *s)
{
	return __atomic_load_n(&s->stale, __ATOMIC_RELAXED);
}

/*
 * Runs prepared statement i with p on the loop's connection, in one
 * round trip: BEGIN goes first in the same pipeline when the batch has
 * not written yet and i writes. *ret: the result (PQclear it), on
 * success only; ret NULL: none wanted.
 */
static int
store_pg_run(struct store *s, enum store_pg_stmt i,
             const struct store_pg_params *p, bool writes, PGresult **ret,
             const char *what)
{
	PGresult *res = NULL;
	char name[8];
	int nq = 0, xq = -1, r;

	if (writes && ret == NULL && s->pipelining)
		return store_pg_defer(s, i, p, PJ_DONE, 0, 0, what);
	/* Whatever was pipelined before is answered first. Its failure is
	 * the batch's, never this call's own row error. A lost claim
	 * alone (-ESTALE) leaves the transaction whole: this call goes on,
	 * and the commit fails with it (tx_err). */
	if ((r = store_pg_settle(s)) < 0 && r != -ESTALE)
		return STORE_ROW_ERROR(r) || r == -ENOENT ? -EIO : r;
	if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK) {
		store_pg_seterr(s, "%s: not connected to PostgreSQL", what);
		return -ENOTCONN;
	}
	/* Any send or sync failing drops the connection: nothing queued
	 * before it may be read as a later call's results, and the batch
	 * (tx_open, so commit() fails) is lost. */
	if (writes && s->in_batch && !s->tx_open) {
		s->tx_open = true;
		if (!PQsendQueryPrepared(s->conn, "s0", 0, NULL, NULL, NULL, 1))
			return store_pg_drop(s, what);
		nq++;
		/* The witness of this batch's commit (see flush). */
		snprintf(name, sizeof(name), "s%d", (int)ST_XID);
		if (!PQsendQueryPrepared(s->conn, name, 0, NULL, NULL, NULL, 1))
			return store_pg_drop(s, what);
		xq = nq++;
	}
	snprintf(name, sizeof(name), "s%d", (int)i);
	if (!PQsendQueryPrepared(s->conn, name, p != NULL ? p->n : 0,
	                         p != NULL ? p->v : NULL,
	                         p != NULL ? p->len : NULL,
	                         p != NULL ? p->fmt : NULL, 1) ||
	    !PQpipelineSync(s->conn))
		return store_pg_drop(s, what);
	nq++;
	r = store_pg_collect(s, nq, nq - 1, xq, &res, what, true);
	if (r < 0)
		return r;
	if (ret != NULL)
		*ret = res;
	else
		PQclear(res);
	return 0;
}

/* Runs i expecting it to change exactly one row, else absent. */
static int
store_pg_run_one(struct store *s, enum store_pg_stmt i,
                 const struct store_pg_params *p, int absent,
                 const char *what)
{
	PGresult *res;
	int r;

	if (s->pipelining)
		return store_pg_defer(s, i, p, PJ_ONE, absent, 0, what);
	if ((r = store_pg_run(s, i, p, true, &res, what)) < 0)
		return r;
	if (strcmp(PQcmdTuples(res), "0") == 0) {
		store_pg_seterr(s, "%s: no such row", what);
		r = absent;
	}
	PQclear(res);
	return r;
}

/* Binary result fields. */
static int64_t
store_pg_int(const PGresult *res, int row, int col)
{
	const unsigned char *p;
	uint64_t v = 0;
	int n, k;

	if (PQgetisnull(res, row, col))
		return 0;
	p = (const unsigned char *)PQgetvalue(res, row, col);
	n = PQgetlength(res, row, col);
	for (k = 0; k < n; k++)
		v = (v << 8) | p[k];
	switch (n) {
	case 1:
		return (int8_t)v;
	case 2:
		return (int16_t)v;
	case 4:
		return (int32_t)v;
	default:
		return (int64_t)v;
	}
}

static const char *
store_pg_text(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static const uint8_t *
store_pg_bytes(const PGresult *res, int row, int col, size_t *ret_len)
{
	if (PQgetisnull(res, row, col)) {
		*ret_len = 0;
		return NULL;
	}
	*ret_len = (size_t)PQgetlength(res, row, col);
	return (const uint8_t *)PQgetvalue(res, row, col);
}

/* Row row of a TIMER_COLS result as a store_timer pointing into it. */
static void
store_pg_row_timer(struct store *s, const PGresult *res, int row,
                   struct store_timer *t)
{
	const char *state = PQgetvalue(res, row, 2);
	const char *boot = store_pg_text(res, row, 8);

	memset(t, 0, sizeof(*t));
	t->id = (uint64_t)store_pg_int(res, row, 0);
	t->fence = (uint64_t)store_pg_int(res, row, 1);
	t->finished = state[0] == 'F' || state[0] == 'X';
	t->cancelled = state[0] == 'X';
	t->uid = (uid_t)store_pg_int(res, row, 3);
	t->gid = (gid_t)store_pg_int(res, row, 4);
	t->clock = (int)store_pg_int(res, row, 5);
	t->deadline_ns = store_pg_int(res, row, 6);
	t->due_rt_ns = store_pg_int(res, row, 7);
	snprintf(t->boot_id, sizeof(t->boot_id), "%s", boot ? boot : "");
	t->created_rt_ns = store_pg_int(res, row, 9);
	t->channel = store_pg_text(res, row, 10);
	t->payload = store_pg_bytes(res, row, 11, &t->payload_len);
	t->key = store_pg_text(res, row, 12);
	t->misfire = (int)store_pg_int(res, row, 13);
	t->delivery = (int)store_pg_int(res, row, 14);
	t->downtime = (int)store_pg_int(res, row, 15);
	t->max_attempts = (uint32_t)store_pg_int(res, row, 16);
	t->fire_count = (uint64_t)store_pg_int(res, row, 17);
	t->last_fired_rt_ns = store_pg_int(res, row, 18);
	t->finished_rt_ns = store_pg_int(res, row, 19);
	t->exec = store_pg_bytes(res, row, 20, &t->exec_len);
	t->sched = store_pg_bytes(res, row, 21, &t->sched_len);
	t->paused = PQgetvalue(res, row, 22)[0] != 0;
	(void)s;
}

/* Runs a TIMER_COLS select and cb over its rows; none: absent. */
static int
store_pg_each_timer(struct store *s, enum store_pg_stmt i,
                    const struct store_pg_params *p, const char *what,
                    store_timer_cb cb, void *arg, int absent)
{
	struct store_timer t;
	PGresult *res;
	int row, r;

	if ((r = store_pg_run(s, i, p, false, &res, what)) < 0)
		return r;
	if (PQntuples(res) == 0) {
		if (absent < 0)
			store_pg_seterr(s, "%s: no such timer", what);
		r = absent;
	}
	for (row = 0; row < PQntuples(res); row++) {
		store_pg_row_timer(s, res, row, &t);
		if ((r = cb(&t, arg)) < 0)
			break;
		r = 0;
	}
	PQclear(res);
	return r;
}

/* A simple-protocol command on conn outside pipeline mode (set-up
 * only); -errno with the reason in s or the open error. */
static int
store_pg_exec(struct store *s, PGconn *conn, const char *sql,
              const char *what, PGresult **ret)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);
	int r = 0;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		r = store_pg_fail(s, conn, res, what);
		PQclear(res);
		return r;
	}
	if (ret != NULL)
		*ret = res;
	else
		PQclear(res);
	return r;
}

/* Whether the conninfo set keyword kw itself. */
static bool
store_pg_has(const struct store *s, const char *kw)
{
	int i;

	for (i = 0; s->kw[i] != NULL; i++)
		if (strcmp(s->kw[i], kw) == 0)
			return true;
	return false;
}

/*
 * The user's conninfo (keyword=value or a URI) as keyword/value arrays,
 * with our defaults for what it leaves unset: TCP keepalives and a TCP
 * user timeout, so that a dead server or path is noticed in about 10 s
 * instead of the kernel's 2 hours; a connect timeout; application_name
 * evd; client_encoding UTF8 (evd's strings are UTF-8).
 */
static int
store_pg_conninfo(struct store *s, const char *conninfo)
{
	static const char *const defaults[][2] = {
		{ "keepalives", "1" },
		{ "keepalives_idle", "5" },
		{ "keepalives_interval", "2" },
		{ "keepalives_count", "3" },
		{ "tcp_user_timeout", "10000" },
		{ "connect_timeout", "10" },
		{ "application_name", "evd" },
		{ "client_encoding", "UTF8" },
	};
	PQconninfoOption *opts, *o;
	char *why = NULL;
	size_t size = 1, off = 0;
	int n = 0;
	size_t i;

	opts = PQconninfoParse(conninfo, &why);
	if (opts == NULL) {
		/* libpq's message quotes the conninfo's tokens ("missing
		 * \"=\" after \"s3cret\""), which may be a password:
		 * what is quoted is not shown. */
		char shown[512] = "out of memory";
		size_t w = 0;
		bool in = false;

		for (const char *q = why; q != NULL && *q != '\0' &&
		                          w + 5 < sizeof(shown);
		     q++) {
			if (*q == '"') {
				shown[w++] = '"';
				if (!in)
					for (int k = 0; k < 3; k++)
						shown[w++] = '.';
				in = !in;
			} else if (!in) {
				shown[w++] = *q;
			}
		}
		if (why != NULL)
			shown[w] = '\0';
		store_pg_seterr(NULL, "bad PostgreSQL conninfo: %s", shown);
		PQfreemem(why);
		return why != NULL ? -EINVAL : -ENOMEM;
	}
	for (o = opts; o->keyword != NULL; o++)
		if (o->val != NULL)
			size += strlen(o->keyword) + strlen(o->val) + 2;
	if ((s->strings = malloc(size)) == NULL) {
		PQconninfoFree(opts);
		store_pg_seterr(NULL, "out of memory");
		return -ENOMEM;
	}
	for (o = opts; o->keyword != NULL && n < MAX_CONNINFO - 8; o++) {
		size_t kl, vl;

		if (o->val == NULL)
			continue;
		kl = strlen(o->keyword) + 1;
		vl = strlen(o->val) + 1;
		memcpy(s->strings + off, o->keyword, kl);
		s->kw[n] = s->strings + off;
		off += kl;
		memcpy(s->strings + off, o->val, vl);
		s->val[n] = s->strings + off;
		off += vl;
		n++;
	}
	PQconninfoFree(opts);
	for (i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
		s->kw[n] = NULL;
		if (store_pg_has(s, defaults[i][0]))
			continue;
		s->kw[n] = defaults[i][0];
		s->val[n] = defaults[i][1];
		n++;
	}
	s->kw[n] = NULL;
	s->val[n] = NULL;
	return 0;
}

/* Applies what is missing of the schema; -EPROTO for a newer one. */
static int
store_pg_migrate(struct store *s, PGconn *conn)
{
	char sql[160];
	PGresult *res = NULL;
	int version = 0, r, v;

	/* An up-to-date schema needs no DDL (nor the right to do it): an
	 * operator may have made it with --init-schema as another role. */
	if ((r = store_pg_exec(s, conn, "BEGIN", "migrate", NULL)) < 0)
		return r;
	snprintf(sql, sizeof(sql), "SELECT pg_advisory_xact_lock(%" PRId64 ")",
	         STORE_PG_LOCK_MIGRATE);
	if ((r = store_pg_exec(s, conn, sql, "migrate", NULL)) < 0)
		goto out;
	if ((r = store_pg_exec(s, conn,
	                       "SELECT to_regclass('evd.meta') IS NOT NULL",
	                       "migrate", &res)) < 0)
		goto out;
	v = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!v && s != NULL && s->read_only) {
		store_pg_seterr(s, "the PostgreSQL database has no schema "
		                "evd");
		r = -ENOENT;
		goto out;
	}
	if (!v && ((r = store_pg_exec(s, conn,
	                              "CREATE SCHEMA IF NOT EXISTS evd;"
	                              "CREATE TABLE evd.meta (k text PRIMARY"
	                              " KEY, v int8 NOT NULL)",
	                              "create schema evd", NULL)) < 0))
		goto out;
	if ((r = store_pg_exec(s, conn,
	                       "SELECT v FROM evd.meta WHERE k = '"
	                       META_SCHEMA_VERSION "'",
	                       "migrate", &res)) < 0)
		goto out;
	if (PQntuples(res) == 1)
		version = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (version > SCHEMA_VERSION) {
		store_pg_seterr(s, "the PostgreSQL schema evd is at version %d, "
		                "newer than this evd knows (%d): run a newer "
		                "evd, or restore a backup made for this one",
		                version, SCHEMA_VERSION);
		r = -EPROTO;
		goto out;
	}
	if (version < SCHEMA_VERSION && s != NULL && s->read_only) {
		store_pg_seterr(s, "the PostgreSQL schema evd is at version %d, "
		                "this evd reads %d: start evd on it once to "
		                "upgrade it", version, SCHEMA_VERSION);
		r = -EPROTO;
		goto out;
	}
	/* Nodes of the older version still running would go on with it
	 * (and its rules: a message is delivered by every node that loaded
	 * it, before version 4) beside nodes of this one, and the DDL would
	 * hold their writes meanwhile: an upgrade is for a stopped cluster.
	 * A node seen in the last minute counts as running; this one's own
	 * row (its node connection registered it) does not. */
	if (version >= 1 && version < SCHEMA_VERSION) {
		const char *self = s != NULL ? s->node : "";
		const char *pv[1] = { self };

		res = PQexecParams(conn,
		                   "SELECT count(*) FROM evd.nodes WHERE node <> $1"
		                   " AND last_seen > now() - interval '1 minute'",
		                   1, NULL, pv, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			r = store_pg_fail(s, conn, res, "migrate");
			PQclear(res);
			goto out;
		}
		v = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
		res = NULL;
		if (v > 0) {
			store_pg_seterr(s, "the PostgreSQL schema evd is at "
			                "version %d, this evd needs %d, and %d "
			                "other evd nodes used it in the last "
			                "minute: stop every node, then start this "
			                "one to upgrade the schema", version,
			                SCHEMA_VERSION, v);
			r = -EBUSY;
			goto out;
		}
	}
	for (; version < SCHEMA_VERSION; version++) {
		snprintf(sql, sizeof(sql), "schema version %d", version + 1);
		if ((r = store_pg_exec(s, conn, store_pg_migrations[version],
		                       sql, NULL)) < 0)
			goto out;
		snprintf(sql, sizeof(sql),
		         "INSERT INTO evd.meta (k, v) VALUES ('"
		         META_SCHEMA_VERSION "', %d) ON CONFLICT (k) DO UPDATE"
		         " SET v = excluded.v", version + 1);
		if ((r = store_pg_exec(s, conn, sql, "migrate", NULL)) < 0)
			goto out;
	}
	r = store_pg_exec(s, conn, "COMMIT", "migrate", NULL);
	return r;
out:
	PQclear(PQexec(conn, "ROLLBACK"));
	return r;
}

/*
 * A fresh loop connection made ready: migrated (at open) or checked
 * (after a reconnect), the single-node lock taken, asynchronous
 * commits (sync_full only), statements prepared, pipeline mode on. One round trip per
 * step; it runs at open and once per reconnect.
 */
static int
store_pg_setup(struct store *s, PGconn *conn, bool migrate)
{
	const char *enc = PQparameterStatus(conn, "server_encoding");
	char sql[192], name[8];
	PGresult *res;
	int i, k, r;

	if (enc == NULL || (strcmp(enc, "UTF8") != 0 &&
	                    strcmp(enc, "SQL_ASCII") != 0)) {
		store_pg_seterr(s, "the PostgreSQL database's encoding is %s; "
		                "evd needs UTF8 (createdb -E UTF8)",
		                enc != NULL ? enc : "unknown");
		return -EINVAL;
	}
	if (PQserverVersion(conn) < 110000) {
		store_pg_seterr(s, "PostgreSQL %d is too old; evd needs 11 or "
		                "newer", PQserverVersion(conn));
		return -EPROTO;
	}
	if (migrate && (r = store_pg_migrate(s, conn)) < 0)
		return r;
	if ((r = store_pg_exec(s, conn,
	                       "SELECT v FROM evd.meta WHERE k = '"
	                       META_SCHEMA_VERSION "'",
	                       "schema version", &res)) < 0)
		return r;
	i = PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : 0;
	PQclear(res);
	if (i != SCHEMA_VERSION) {
		store_pg_seterr(s, "the PostgreSQL schema evd is at version %d, "
		                "this evd needs %d (it changed while evd ran?)",
		                i, SCHEMA_VERSION);
		return -EPROTO;
	}
	/* Cluster nodes share the lock, so that a single-node evd (which
	 * would take every pending timer for its own) cannot start beside
	 * them, nor they beside it. */
	snprintf(sql, sizeof(sql), "SELECT pg_try_advisory_lock%s(%" PRId64 ")",
	         s->node[0] != '\0' ? "_shared" : "", STORE_PG_LOCK_SINGLE);
	/* At open, a while: the holder may be the backend of an evd that
	 * was just killed, which lets go when the server notices. */
	for (k = 0;; k++) {
		struct timespec ts = { 0, 50000000 };

		if ((r = store_pg_exec(s, conn, sql, "lock", &res)) < 0)
			return r;
		i = PQgetvalue(res, 0, 0)[0] == 't';
		PQclear(res);
		if (i || !migrate || k >= OPEN_LOCK_TRIES)
			break;
		nanosleep(&ts, NULL);
	}
	if (!i) {
		store_pg_seterr(s, "another evd uses this PostgreSQL database "
		                "(schema evd): one evd per database, unless "
		                "every one runs in cluster mode");
		return -EBUSY;
	}
	/* Only when flush() makes them durable: otherwise a crash-restart
	 * of the server would lose commits sync = normal promised. */
	if (s->flushes &&
	    (r = store_pg_exec(s, conn, "SET synchronous_commit = off",
	                       "set-up", NULL)) < 0)
		return r;
	/* Cluster mode: rows another node locks (its open batch, a node
	 * stopped mid-batch) never hold this loop for long: a wait for a
	 * lock ends in an error after a quarter of D (the batch fails, its
	 * durable requests are answered UNAVAILABLE, nothing is lost), and
	 * a session left idle in its transaction (this node stopped) is
	 * ended by the server after half of D, its locks with it. */
	if (s->node[0] != '\0') {
		int64_t d_ms = s->claim_us / 3000;

		/* evd.node: the slot of evd.msg_counts this session's
		 * inserts and deletes count in (schema 5; the node id was
		 * checked at open: no quote in it). */
		snprintf(sql, sizeof(sql),
		         "SET lock_timeout = %" PRId64 ";"
		         " SET idle_in_transaction_session_timeout = %" PRId64
		         "; SET evd.node = '%s'",
		         d_ms / 4 > 10 ? d_ms / 4 : 10,
		         d_ms / 2 > 20 ? d_ms / 2 : 20, s->node);
		if ((r = store_pg_exec(s, conn, sql, "set-up", NULL)) < 0)
			return r;
	}
	/* No JIT compilation: evd's statements are short, and one that
	 * the planner costs high (a fire batch's thousands of unnested
	 * rows, custom plans) was compiled anew at each run; in a
	 * cluster's fire bursts that cost the server more CPU than any
	 * of their rows (libLLVM and the dynamic linker: 15-30% of it in
	 * profiles). */
	if ((r = store_pg_exec(s, conn, "SET jit = off", "set-up", NULL)) < 0)
		return r;
	if (!PQenterPipelineMode(conn))
		return store_pg_fail(s, conn, NULL, "pipeline mode");
	for (i = 0; i < ST_COUNT; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		if (!PQsendPrepare(conn, name, store_pg_sql[i], 0, NULL))
			return store_pg_fail(s, conn, NULL, "prepare");
	}
	if (!PQpipelineSync(conn))
		return store_pg_fail(s, conn, NULL, "prepare");
	{
		PGconn *keep = s->conn;

		s->conn = conn;
		r = store_pg_collect(s, ST_COUNT, -1, -1, &res, "prepare",
		                     false);
		s->conn = keep;
	}
	return r;
}

/* Connects fconn for flush(): synchronous commits whatever the role's
 * or database's default. Blocking: the sync thread, or open(). */
static int
store_pg_fconnect(struct store *s, char *err, size_t errsize)
{
	PGconn *c = store_pg_quiet(PQconnectdbParams(s->kw, s->val, 0));
	PGresult *res;

	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		snprintf(err, errsize, "%s", c ? PQerrorMessage(c) : "no memory");
		PQfinish(c);
		return -ENOTCONN;
	}
	res = PQexec(c, "SET synchronous_commit = on;"
	                "SELECT pg_postmaster_start_time()::text");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(err, errsize, "%s", PQresultErrorMessage(res));
		PQclear(res);
		PQfinish(c);
		return -EIO;
	}
	/* A server restarted, or a standby promoted, may have lost the
	 * commits not yet flushed: the witness, which flush() checks after
	 * every reconnect, says whether it did. Only the log says so here. */
	if (s->started[0] != '\0' &&
	    strcmp(s->started, PQgetvalue(res, 0, 0)) != 0 &&
	    store_pg_log_fn != NULL)
		store_pg_log_fn(STORE_LOG_WARNING,
		                "the PostgreSQL server restarted (or is another "
		                "one): checking that the last commit survived");
	snprintf(s->started, sizeof(s->started), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	s->fconn = c;
	return 0;
}

static void store_pg_prune_step(struct store *s);

static int
store_pg_open(const struct store_config *cfg, struct store **ret)
{
	struct store *s;
	PGresult *res;
	char why[512];
	int r;

	store_pg_open_err[0] = '\0';
	if (cfg->conninfo == NULL) {
		store_pg_seterr(NULL, "no PostgreSQL conninfo (--store "
		                "pg:CONNINFO)");
		return -EINVAL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		store_pg_seterr(NULL, "out of memory");
		return -ENOMEM;
	}
	s->history_per_timer = cfg->history_per_timer;
	s->keep_ns = cfg->finished_keep_ns > 0 ? cfg->finished_keep_ns
	                                       : STORE_FINISHED_KEEP_NS;
	s->flushes = cfg->sync_full;
	s->read_only = cfg->read_only;
	s->backoff_ms = RECONNECT_MIN_MS;
	if (cfg->cluster_node != NULL) {
		if (strlen(cfg->cluster_node) >= sizeof(s->node) ||
		    cfg->cluster_node[0] == '\0' ||
		    strspn(cfg->cluster_node, "0123456789abcdefghijklmnopqrstu"
		           "vwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") !=
		        strlen(cfg->cluster_node) ||
		    cfg->claim_ns < 1000) {
			free(s);
			store_pg_seterr(NULL, "bad cluster node or claim lease");
			return -EINVAL;
		}
		snprintf(s->node, sizeof(s->node), "%s", cfg->cluster_node);
		s->claim_us = cfg->claim_ns / 1000;
	}
	if ((r = store_pg_conninfo(s, cfg->conninfo)) < 0)
		goto fail_quiet;
	if ((r = pgaddr_new(s->kw, s->val, &s->addr, why, sizeof(why))) < 0) {
		store_pg_seterr(s, "bad PostgreSQL conninfo: %s", why);
		goto fail;
	}
	if (store_pg_log_fn == NULL)
		store_pg_log_fn = cfg->log;
	s->conn = store_pg_quiet(PQconnectdbParams(s->kw, s->val, 0));
	if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK) {
		store_pg_seterr(s, "cannot connect to PostgreSQL: %s",
		                s->conn ? PQerrorMessage(s->conn)
		                        : "out of memory");
		r = -ENOTCONN;
		goto fail;
	}
	/* A reconnect starts with the server libpq found. */
	s->tgt = pgaddr_find(s->addr, PQhost(s->conn), PQhostaddr(s->conn),
	                     PQport(s->conn));
	if ((r = store_pg_setup(s, s->conn, true)) < 0)
		goto fail;
	if (s->flushes && (r = store_pg_fconnect(s, why, sizeof(why))) < 0) {
		store_pg_seterr(s, "cannot connect to PostgreSQL for flushes: "
		                "%s", why);
		goto fail;
	}
	{
		struct store_pg_params p = { .n = 0 };

		store_pg_p_text(&p, META_PRUNE_CURSOR);
		if ((r = store_pg_run(s, ST_META_GET, &p, false, &res,
		                      "open")) < 0)
			goto fail;
		if (PQntuples(res) == 1)
			s->prune_cursor = store_pg_int(res, 0, 0);
		PQclear(res);
	}
	/* The first output_changes() reports everything retained. */
	if ((r = store_pg_run(s, ST_OUTPUT_USAGE, NULL, false, &res,
	                      "output usage")) < 0)
		goto fail;
	for (int row = 0; row < PQntuples(res); row++)
		if (store_out_add(&s->out_done,
		                  (uid_t)store_pg_int(res, row, 0),
		                  store_pg_int(res, row, 1)) < 0) {
			PQclear(res);
			store_pg_seterr(s, "out of memory");
			r = -ENOMEM;
			goto fail;
		}
	PQclear(res);
	if (!s->read_only)
		store_pg_prune_step(s);
	*ret = s;
	return 0;
fail:
	memcpy(store_pg_open_err, s->err, sizeof(store_pg_open_err));
fail_quiet:
	store_pg_close(s);
	return r;
}

static void
store_pg_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK &&
	    PQpipelineStatus(s->conn) == PQ_PIPELINE_ON)
		(void)store_pg_run(s, ST_UNLOCK, NULL, false, NULL, "close");
	PQfinish(s->conn);
	PQfinish(s->fconn);
	PQfinish(s->pending);
	pgaddr_free(s->addr);
	free(s->strings);
	free(s->pend);
	store_pg_fb_free(s);
	store_out_free(&s->out_pending);
	store_out_free(&s->out_done);
	free(s);
}

static const char *
store_pg_errmsg(const struct store *s)
{
	return s != NULL ? s->err : store_pg_open_err;
}

/* The reconnect failed (or could not start): the next try waits. */
static void
store_pg_backoff(struct store *s, const char *why)
{
	store_pg_seterr(s, "PostgreSQL is unreachable (retrying): %s", why);
	PQfinish(s->pending);
	s->pending = NULL;
	s->retry_at_ns = store_pg_mono_ns() + (int64_t)s->backoff_ms * 1000000;
	s->backoff_ms = s->backoff_ms * 2 > RECONNECT_MAX_MS
	                    ? RECONNECT_MAX_MS
	                    : s->backoff_ms * 2;
}

static void store_pg_oneline(char *buf);

/* The attempt at target s->tgt failed (why): the next target is tried
 * at once, unless every one was tried in this round: then a backoff,
 * and the names are resolved anew for the next round. */
static void
store_pg_attempt_failed(struct store *s, const char *why)
{
	size_t used = strlen(s->round_err);
	char one[256];

	snprintf(one, sizeof(one), "%s", why);
	store_pg_oneline(one);
	if (used < sizeof(s->round_err) - 1)
		snprintf(s->round_err + used, sizeof(s->round_err) - used,
		         "%s%s", used > 0 ? "; " : "", one);
	s->tgt++;
	if (s->round_left > 0)
		s->round_left--;
	if (s->round_left > 0) {
		PQfinish(s->pending);
		s->pending = NULL;
		s->retry_at_ns = 0;
		store_pg_seterr(s, "PostgreSQL is unreachable (trying the "
		                "next server): %s", one);
		return;
	}
	store_pg_backoff(s, s->round_err);
	(void)pgaddr_refresh(s->addr);
}

/* Starts a connect to target s->tgt, the first of a round if none is
 * under way. 0, or -ENOTCONN (the next call goes on). Never waits: the
 * target's host is given as an address (pgaddr.h). */
static int
store_pg_attempt(struct store *s)
{
	const char *kw[MAX_CONNINFO + 5], *val[MAX_CONNINFO + 5];
	size_t n = pgaddr_count(s->addr);
	char why[256];

	if (s->round_left == 0) {
		s->round_left = n;
		s->round_err[0] = '\0';
	}
	if (s->tgt >= n)
		s->tgt = 0;
	if (pgaddr_params(s->addr, s->tgt, s->kw, s->val, kw, val,
	                  MAX_CONNINFO + 5, why, sizeof(why)) < 0) {
		store_pg_attempt_failed(s, why);
		return -ENOTCONN;
	}
	s->pending = store_pg_quiet(PQconnectStartParams(kw, val, 0));
	if (s->pending == NULL || PQstatus(s->pending) == CONNECTION_BAD) {
		store_pg_attempt_failed(s, s->pending
		                               ? PQerrorMessage(s->pending)
		                               : "out of memory");
		return -ENOTCONN;
	}
	s->attempt_ns = store_pg_mono_ns();
	/* As libpq's docs say: first wait until writable. */
	s->pending_ps = PGRES_POLLING_WRITING;
	return 0;
}

/*
 * Whether the loop's connection can take a batch. A lost one is
 * re-established here, without waiting: a reconnect started with
 * PQconnectStartParams to one server, its host name already resolved
 * (store_pg_attempt), advances by PQconnectPoll only when poll() says
 * its socket is ready, so each call does what is possible now and says
 * -ENOTCONN until the connection is set up; an attempt that outlasts
 * connect_timeout gives way to the next server. The daemon's probes
 * (batch.c) keep calling.
 */
static int
store_pg_check(struct store *s)
{
	PostgresPollingStatusType ps;
	struct pollfd pfd;
	char why[sizeof(s->err)];
	int r, k;

	if (s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK) {
		/* Between batches nothing is expected from the server: a
		 * readable socket is its goodbye (a FATAL at a shutdown or
		 * a terminate, or the end of the stream), which
		 * PQconsumeInput reads. Noticed here, the batch is refused
		 * before anything of it happened in memory either. */
		pfd.fd = PQsocket(s->conn);
		pfd.events = POLLIN;
		/* One read takes the FATAL, the next meets the end of the
		 * stream; a few at most, never a wait. */
		for (k = 0; k < 4 && pfd.fd >= 0 && poll(&pfd, 1, 0) > 0 &&
		            PQconsumeInput(s->conn);
		     k++)
			(void)PQisBusy(s->conn); /* parses what came */
		if (PQstatus(s->conn) == CONNECTION_OK)
			return 0;
	}
	if (s->conn != NULL) {
		snprintf(why, sizeof(why), "%s", PQerrorMessage(s->conn));
		PQfinish(s->conn);
		s->conn = NULL;
		store_pg_backoff(s, why);
		s->retry_at_ns = 0; /* the first try is at once */
	}
	/* A target that fails at once (refused, read-only) gives way to
	 * the next in this same call; a round's end backs off (retry_at). */
	for (int tries = 0;; tries++) {
		if (tries > PGADDR_MAX)
			return -ENOTCONN;
		if (s->pending == NULL) {
			if (store_pg_mono_ns() < s->retry_at_ns)
				return -ENOTCONN;
			if (store_pg_attempt(s) < 0)
				continue;
		}
		/* The steps whose socket is ready now (PQconnectPoll must
		 * not be called before); never a wait. */
		ps = s->pending_ps;
		for (k = 0; k < 16 && ps != PGRES_POLLING_OK &&
		            ps != PGRES_POLLING_FAILED; k++) {
			pfd.fd = PQsocket(s->pending);
			pfd.events = ps == PGRES_POLLING_READING ? POLLIN
			                                         : POLLOUT;
			if (pfd.fd < 0 || poll(&pfd, 1, 0) <= 0)
				break;
			ps = PQconnectPoll(s->pending);
		}
		s->pending_ps = ps;
		if (ps == PGRES_POLLING_FAILED) {
			snprintf(why, sizeof(why), "%s",
			         PQerrorMessage(s->pending));
			store_pg_attempt_failed(s, why);
			continue;
		}
		if (ps == PGRES_POLLING_OK)
			break;
		/* libpq bounds an attempt only when it waits itself. The
		 * bound is the TCP connect's (a server that swallows the
		 * SYN): the handshake after it goes at the pace of the
		 * caller's probes, which may be a second apart. */
		if (PQstatus(s->pending) == CONNECTION_STARTED &&
		    pgaddr_timeout_ms(s->addr) > 0 &&
		    store_pg_mono_ns() - s->attempt_ns >=
		        (int64_t)pgaddr_timeout_ms(s->addr) * 1000000) {
			char name[160];

			snprintf(why, sizeof(why), "connection to %s: timeout "
			         "expired", pgaddr_name(s->addr, s->tgt, name,
			                                sizeof(name)));
			store_pg_attempt_failed(s, why);
			continue;
		}
		store_pg_seterr(s, "reconnecting to PostgreSQL");
		return -ENOTCONN;
	}
	if ((r = store_pg_setup(s, s->pending, false)) < 0) {
		/* -EBUSY (another evd took the database), a changed schema:
		 * refused until it is settled; the reason is set. A server
		 * lost or failing during the set-up: the next one first. */
		snprintf(why, sizeof(why), "%s", s->err);
		store_pg_backoff(s, why);
		s->round_left = 0;
		if (r == -ENOTCONN || r == -EIO)
			s->tgt++;
		if (r != -ENOTCONN)
			store_pg_seterr(s, "%s", why);
		return r;
	}
	s->conn = s->pending;
	s->pending = NULL;
	s->backoff_ms = RECONNECT_MIN_MS;
	s->round_left = 0; /* the next loss starts from this server */
	return 0;
}

static int
store_pg_out_note(struct store *s, uid_t uid, int64_t bytes, const char *what)
{
	if (store_out_add(&s->out_pending, uid, bytes) < 0) {
		store_pg_seterr(s, "%s: out of memory", what);
		return -ENOMEM;
	}
	return 0;
}

static void
store_pg_out_settle(struct store *s)
{
	store_out_settle(&s->out_pending, &s->out_done);
}

static int
store_pg_output_changes(struct store *s, store_output_cb cb, void *arg)
{
	return store_out_report(&s->out_done, cb, arg);
}

static int
store_pg_begin(struct store *s)
{
	s->out_pending.n = 0;
	s->in_batch = true;
	s->tx_open = false;
	s->tx_err = 0;
	store_pg_fb_clear(s);
	s->batch_xid = 0;
	return 0;
}

static void
store_pg_rollback(struct store *s)
{
	PGresult *res;

	s->out_pending.n = 0;
	s->in_batch = false;
	s->pipelining = false;
	store_pg_fb_clear(s); /* never sent */
	/* Answers still on their way are read and dropped. */
	(void)store_pg_settle(s);
	s->tx_err = 0;
	if (s->tx_open) {
		s->tx_open = false;
		if (store_pg_run(s, ST_ROLLBACK, NULL, false, &res,
		                 "rollback") == 0)
			PQclear(res);
	}
}

/*
 * One sweep step in a transaction of its own (one statement), after a
 * batch and once at open. Best effort: a failure leaves the rows for
 * the next pass and keeps the batch's error message.
 */
static void
store_pg_prune_step(struct store *s)
{
	struct store_pg_params p = { .n = 0 };
	char saved[sizeof(s->err)];
	PGresult *res;
	int row;

	memcpy(saved, s->err, sizeof(saved));
	store_pg_p_i64(&p, s->prune_cursor);
	store_pg_p_i64(&p, PRUNE_SPAN - 1);
	store_pg_p_i64(&p, clock_now_ns(EVD_CLOCK_REALTIME) - s->keep_ns);
	s->out_pending.n = 0;
	if (store_pg_run(s, ST_PRUNE, &p, false, &res, "prune") == 0) {
		for (row = 0; row < PQntuples(res); row++) {
			if (store_pg_int(res, row, 0) == -1)
				s->prune_cursor = store_pg_int(res, row, 1);
			else
				(void)store_pg_out_note(
				    s, (uid_t)store_pg_int(res, row, 0),
				    -store_pg_int(res, row, 1), "prune");
		}
		PQclear(res);
		store_pg_out_settle(s);
	}
	s->out_pending.n = 0;
	memcpy(s->err, saved, sizeof(saved));
}

/*
 * Commits the batch (asynchronously with sync_full: see the top). A connection lost
 * during COMMIT leaves it unknown whether the batch committed; the
 * daemon answers its requests UNAVAILABLE, which a client retries with
 * its key.
 */
static int
store_pg_commit(struct store *s)
{
	PGresult *res;
	int r = 0;

	s->pipelining = false;
	/* Gathered rows open the transaction if nothing else did. */
	r = store_pg_fb_send(s);
	s->in_batch = false;
	if (r < 0 && s->tx_open && s->tx_err == 0)
		s->tx_err = r;
	if (s->tx_open &&
	    ((r = store_pg_settle(s)) < 0 || (r = s->tx_err) < 0)) {
		/* A pipelined write failed (now, or at a read before): the
		 * server skipped the rest, or a fenced write found its
		 * claim gone, and the transaction can only end. */
		s->out_pending.n = 0;
		s->tx_open = false;
		s->tx_err = 0;
		if (s->conn != NULL &&
		    store_pg_run(s, ST_ROLLBACK, NULL, false, &res,
		                 "rollback") == 0)
			PQclear(res);
		return r;
	}
	if (s->tx_open) {
		s->tx_open = false;
		r = store_pg_run(s, ST_COMMIT, NULL, false, &res, "commit");
		if (r == 0) {
			/* A COMMIT of an aborted transaction says ROLLBACK. */
			if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
				store_pg_seterr(s, "commit: the transaction "
				                "was rolled back");
				r = -EIO;
			}
			PQclear(res);
		}
	}
	if (r < 0) {
		s->out_pending.n = 0;
		return r;
	}
	if (s->batch_xid != 0)
		__atomic_store_n(&s->witness, s->batch_xid, __ATOMIC_RELEASE);
	s->batch_xid = 0;
	store_pg_out_settle(s);
	if (++s->commits >= PRUNE_EVERY) {
		s->commits = 0;
		store_pg_prune_step(s);
	}
	return 0;
}

static bool
store_pg_flushes(const struct store *s)
{
	return s->flushes;
}

/*
 * On a fresh fconn: whether the last batch that committed is still
 * committed (see the top): 0, -ENOTCONN (lost again: retry), or -EIO
 * (aborted, unknown, or any other error: it may be gone).
 */
static int
store_pg_witness(struct store *s)
{
	uint64_t xid = __atomic_load_n(&s->witness, __ATOMIC_ACQUIRE);
	const char *v[1];
	char num[24];
	PGresult *res;
	int r;

	if (xid == 0)
		return 0; /* nothing committed since open */
	snprintf(num, sizeof(num), "%" PRIu64, xid);
	v[0] = num;
	res = PQexecParams(s->fconn, "SELECT txid_status($1::int8)", 1, NULL,
	                   v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		r = PQstatus(s->fconn) == CONNECTION_OK ? -EIO : -ENOTCONN;
	else if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) &&
	         strcmp(PQgetvalue(res, 0, 0), "committed") == 0)
		r = 0;
	else
		r = -EIO;
	PQclear(res);
	return r;
}

void
store_pg_test_witness(struct store *s, uint64_t xid)
{
	__atomic_store_n(&s->witness, xid, __ATOMIC_RELEASE);
}

/* On the sync thread: see the top for why this makes every earlier
 * commit durable. fconn is this thread's alone. */
static int
store_pg_flush(struct store *s)
{
	int64_t give_up = store_pg_mono_ns() + (int64_t)FLUSH_RECONNECT_MS *
	                                           1000000;
	int delay_ms = RECONNECT_MIN_MS;
	bool reconnected = false;
	char why[512];
	PGresult *res;
	int r;

	for (;;) {
		if (s->fconn != NULL && PQstatus(s->fconn) == CONNECTION_OK &&
		    reconnected) {
			/* Trust nothing before the witness survived. */
			r = store_pg_witness(s);
			if (r == -EIO)
				return -EIO;
			if (r == 0)
				reconnected = false;
		}
		if (s->fconn != NULL && PQstatus(s->fconn) == CONNECTION_OK &&
		    !reconnected) {
			/* A WAL-logged write: see the top for why an xid
			 * alone would not wait for anything. */
			res = PQexec(s->fconn,
			             "INSERT INTO evd.meta (k, v) VALUES ('"
			             META_FLUSHES "', 1) ON CONFLICT (k) DO"
			             " UPDATE SET v = evd.meta.v + 1");
			r = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -EIO;
			PQclear(res);
			if (r == 0)
				return 0;
			if (PQstatus(s->fconn) == CONNECTION_OK)
				return -EIO;
		}
		PQfinish(s->fconn);
		s->fconn = NULL;
		/* Lost: the same server still has every commit; another
		 * (restarted) one may not, and fconnect says so. */
		r = store_pg_fconnect(s, why, sizeof(why));
		if (r == -EIO || store_pg_mono_ns() > give_up)
			return -EIO;
		if (r == 0) {
			reconnected = true;
			continue;
		}
		usleep((useconds_t)delay_ms * 1000);
		delay_ms = delay_ms * 2 > 1000 ? 1000 : delay_ms * 2;
	}
}

/* schedule() inserted nothing: says whether the id or the key was
 * taken (one more round trip, on this rare path only). */
static int
store_pg_taken(struct store *s, const struct store_timer *t)
{
	struct store_pg_params p = { .n = 0 };
	PGresult *res;
	bool id_taken;
	int r;

	store_pg_p_i64(&p, (int64_t)t->id);
	if ((r = store_pg_run(s, ST_GET, &p, false, &res, "schedule")) < 0)
		return r;
	id_taken = PQntuples(res) > 0;
	PQclear(res);
	if (id_taken)
		store_pg_seterr(s, "schedule: timer %llu already exists in the "
		                "store", (unsigned long long)t->id);
	else
		store_pg_seterr(s, "schedule: a pending timer of uid %u with "
		                "this key already exists in the store",
		                (unsigned)t->uid);
	return -EEXIST;
}

static int
store_pg_schedule(struct store *s, const struct store_timer *t)
{
	struct store_pg_params p = { .n = 0 };
	PGresult *res;
	int r;

	if ((r = store_pg_check_text(s, t->channel, "schedule")) < 0 ||
	    (r = store_pg_check_text(s, t->key, "schedule")) < 0 ||
	    (r = store_pg_check_text(s, t->boot_id, "schedule")) < 0 ||
	    (r = store_pg_check_bytes(s, t->payload_len, "schedule")) < 0 ||
	    (r = store_pg_check_bytes(s, t->exec_len, "schedule")) < 0 ||
	    (r = store_pg_check_bytes(s, t->sched_len, "schedule")) < 0)
		return r;
	/* A cluster node's timer with no key, in a batch: gathered, sent
	 * with the batch's next statement (store_pg_fb_send), pipelining
	 * or not. Its one row error, a taken id, cannot happen: ids come
	 * from blocks no two nodes share (reserve_ids), above every id
	 * stored; found all the same, it fails the batch (damage). A key
	 * can be taken, and is answered at once. */
	if (s->node[0] != '\0' && t->key == NULL && s->in_batch)
		return store_pg_fb_schedule(s, t);
	store_pg_p_i64(&p, (int64_t)t->id);
	store_pg_p_i64(&p, (int64_t)t->fence);
	store_pg_p_i64(&p, (int64_t)t->uid);
	store_pg_p_i64(&p, (int64_t)t->gid);
	store_pg_p_i64(&p, t->clock);
	store_pg_p_i64(&p, t->deadline_ns);
	store_pg_p_i64(&p, t->due_rt_ns);
	store_pg_p_text(&p, t->boot_id);
	store_pg_p_i64(&p, t->created_rt_ns);
	store_pg_p_text(&p, t->channel);
	store_pg_p_bytes(&p, t->payload, t->payload_len);
	store_pg_p_text(&p, t->key);
	store_pg_p_i64(&p, t->misfire);
	store_pg_p_i64(&p, t->delivery);
	store_pg_p_i64(&p, t->downtime);
	store_pg_p_i64(&p, t->max_attempts);
	store_pg_p_i64(&p, (int64_t)t->fire_count);
	store_pg_p_i64(&p, t->last_fired_rt_ns);
	store_pg_p_bytes(&p, t->exec, t->exec_len);
	store_pg_p_bytes(&p, t->sched, t->sched_len);
	store_pg_p_bool(&p, t->paused);
	if (s->node[0] != '\0') {
		store_pg_p_text(&p, s->node);
		store_pg_p_i64(&p, s->claim_us);
	}
	if (s->pipelining)
		return store_pg_defer(s, s->node[0] != '\0' ? ST_C_SCHEDULE
		                                            : ST_SCHEDULE,
		                      &p, PJ_RETURNED, 0, 0, "schedule");
	if ((r = store_pg_run(s, s->node[0] != '\0' ? ST_C_SCHEDULE
	                                            : ST_SCHEDULE,
	                      &p, true, &res, "schedule")) < 0)
		return r;
	if (PQntuples(res) == 0)
		r = store_pg_taken(s, t);
	PQclear(res);
	return r;
}

static int
store_pg_cancel(struct store *s, uint64_t id)
{
	struct store_pg_params p = { .n = 0 };

	store_pg_p_i64(&p, (int64_t)id);
	store_pg_p_i64(&p, clock_now_ns(EVD_CLOCK_REALTIME));
	/* Already gone counts as done (storeq.h). */
	if (s->pipelining)
		return store_pg_defer(s, ST_CANCEL, &p, PJ_ONE, 0, 0, "cancel");
	if (s->node[0] != '\0') {
		store_pg_p_text(&p, s->node);
		return store_pg_run_one(s, ST_C_CANCEL, &p, -ENOENT, "cancel");
	}
	return store_pg_run_one(s, ST_CANCEL, &p, -ENOENT, "cancel");
}

/* Runs a cluster claim (TIMER_COLS and LEASE_LEFT) in the open batch
 * and hands its rows to cb once the result is whole; the number of rows
 * or -errno. */
static int
store_pg_claim_rows(struct store *s, enum store_pg_stmt i,
                    const struct store_pg_params *p, store_timer_cb cb,
                    void *arg, const char *what)
{
	struct store_timer t;
	PGresult *res;
	int row, n, r;

	if ((r = store_pg_run(s, i, p, true, &res, what)) < 0)
		return r;
	n = PQntuples(res);
	for (row = 0; row < n; row++) {
		store_pg_row_timer(s, res, row, &t);
		t.lease_left_ns = store_pg_int(res, row, 23);
		if ((r = cb(&t, arg)) < 0) {
			PQclear(res);
			return r;
		}
	}
	PQclear(res);
	return n;
}

/* Cluster mode's claim(): this node's own claims, fenced anew (store.h). */
static int
store_pg_adopt(struct store *s, store_timer_cb cb, void *arg)
{
	struct store_pg_params p = { .n = 0 };
	int r;

	store_pg_p_text(&p, s->node);
	r = store_pg_claim_rows(s, ST_C_ADOPT, &p, cb, arg, "adopt claims");
	return r < 0 ? r : 0;
}

static int
store_pg_claim_due(struct store *s, int64_t lookahead_ns, uint32_t limit,
                   store_timer_cb cb, void *arg)
{
	struct store_pg_params p = { .n = 0 };

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "claim due: not in cluster mode");
		return -EINVAL;
	}
	store_pg_p_i64(&p, lookahead_ns / 1000);
	store_pg_p_i64(&p, limit);
	store_pg_p_text(&p, s->node);
	store_pg_p_i64(&p, s->claim_us);
	return store_pg_claim_rows(s, ST_C_CLAIM, &p, cb, arg, "claim");
}

/* An int8[] literal of n values, in a buffer the caller frees. */
static char *
store_pg_array(const uint64_t *v, size_t stride, size_t n)
{
	char *buf = malloc(n * 21 + 3), *p = buf;
	size_t i;

	if (buf == NULL)
		return NULL;
	*p++ = '{';
	for (i = 0; i < n; i++) {
		uint64_t x = *(const uint64_t *)(const void *)((const char *)v +
		                                               i * stride);

		p += sprintf(p, "%s%" PRIu64, i > 0 ? "," : "", x);
	}
	*p++ = '}';
	*p = '\0';
	return buf;
}

/* Marks rn[0..n) kept from a renewal's rows (id, lease left, the
 * 1-based position of its renewal in rn: ST_C_RENEW, ST_C_MSG_RENEW),
 * in one pass whatever the rows' order (a node may hold many: a match
 * of each row against every renewal was quadratic). Returns how many
 * were kept. */
static int
store_pg_renewed(const PGresult *res, struct store_renewal *rn, size_t n)
{
	int row, kept = 0;

	for (row = 0; row < PQntuples(res); row++) {
		uint64_t id = (uint64_t)store_pg_int(res, row, 0);
		int64_t at = store_pg_int(res, row, 2);
		struct store_renewal *x;

		if (at < 1 || (uint64_t)at > n)
			continue;
		x = &rn[at - 1];
		if (x->id != id || x->kept)
			continue;
		x->kept = true;
		x->lease_left_ns = store_pg_int(res, row, 1);
		kept++;
	}
	return kept;
}

static int
store_pg_renew(struct store *s, struct store_renewal *rn, size_t n)
{
	struct store_pg_params p = { .n = 0 };
	char *ids, *fences;
	PGresult *res;
	int kept, r;
	size_t i;

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "renew: not in cluster mode");
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		rn[i].kept = false;
		rn[i].lease_left_ns = 0;
	}
	if (n == 0)
		return 0;
	/* Pipelining (a one-shot exec timer's fire): gathered, and taken
	 * as kept with T left from now; the commit fails the batch if one
	 * was not (store.h, pipeline). The statement runs after this call,
	 * and its lease runs T from then. */
	if (s->pipelining) {
		for (i = 0; i < n; i++) {
			if ((r = store_pg_fb_renew(s, rn[i].id,
			                           rn[i].fence)) < 0)
				return r;
			rn[i].kept = true;
			rn[i].lease_left_ns = s->claim_us * 1000;
		}
		return (int)n;
	}
	ids = store_pg_array(&rn[0].id, sizeof(rn[0]), n);
	fences = store_pg_array(&rn[0].fence, sizeof(rn[0]), n);
	if (ids == NULL || fences == NULL) {
		free(ids);
		free(fences);
		store_pg_seterr(s, "renew: out of memory");
		return -ENOMEM;
	}
	store_pg_p_text(&p, ids);
	store_pg_p_text(&p, fences);
	store_pg_p_i64(&p, s->claim_us);
	store_pg_p_text(&p, s->node);
	r = store_pg_run(s, ST_C_RENEW, &p, true, &res, "renew claims");
	free(ids);
	free(fences);
	if (r < 0)
		return r;
	kept = store_pg_renewed(res, rn, n);
	PQclear(res);
	return kept;
}

static int
store_pg_cancel_claim(struct store *s, uint64_t id, uint64_t fence,
                      char *holder, size_t holder_size)
{
	struct store_pg_params p = { .n = 0 };
	PGresult *res;
	int r;

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "cancel: not in cluster mode");
		return -EINVAL;
	}
	store_pg_p_i64(&p, (int64_t)id);
	store_pg_p_i64(&p, clock_now_ns(EVD_CLOCK_REALTIME));
	store_pg_p_text(&p, s->node);
	store_pg_p_i64(&p, (int64_t)fence);
	if ((r = store_pg_run(s, ST_C_CANCEL_HELD, &p, true, &res,
	                      "cancel")) < 0)
		return r;
	if (PQntuples(res) != 1) {
		PQclear(res);
		store_pg_seterr(s, "cancel: PostgreSQL sent no row");
		return -EIO;
	}
	if (store_pg_int(res, 0, 0) == 1) {
		r = 0;
	} else if (PQgetisnull(res, 0, 1)) {
		store_pg_seterr(s, "cancel: the timer no longer waits");
		r = -ENOENT;
	} else {
		if (holder_size > 0)
			snprintf(holder, holder_size, "%s",
			         PQgetvalue(res, 0, 2));
		if (PQgetvalue(res, 0, 2)[0] == '\0')
			store_pg_seterr(s, "timer %" PRIu64 " is no longer this "
			                "node's: it waits for any node to claim "
			                "it", id);
		else
			store_pg_seterr(s, "timer %" PRIu64 " is held by node "
			                "%s", id, PQgetvalue(res, 0, 2));
		r = -ESTALE;
	}
	PQclear(res);
	return r;
}

/*
 * The row version of waiting timer id that a cancel or a take acts on
 * (ST_C_PEEK), judged by may: its xmin and holder ("" none) into
 * xmin[24] and node[32], whether a one-shot's hook was started
 * (*ret_started) and whether any hook of it runs (*ret_running, if not
 * NULL). Writes nothing, but in the batch: the update after it is the
 * batch's, and a row its earlier writes changed is seen as they left
 * it. 0, -ENOENT (none waits), may's error, or the store's.
 */
static int
store_pg_peek(struct store *s, uint64_t id, store_timer_cb may, void *arg,
              char *xmin, char *node, bool *ret_started, bool *ret_running,
              const char *what)
{
	struct store_pg_params p = { .n = 0 };
	struct store_timer t;
	PGresult *res;
	int r;

	store_pg_p_i64(&p, (int64_t)id);
	store_pg_p_i64(&p, EVD_RUN_EXEC_STARTED);
	if ((r = store_pg_run(s, ST_C_PEEK, &p, false, &res, what)) < 0)
		return r;
	if (PQntuples(res) != 1) {
		PQclear(res);
		store_pg_seterr(s, "%s: no timer %" PRIu64 " waits", what, id);
		return -ENOENT;
	}
	store_pg_row_timer(s, res, 0, &t);
	snprintf(xmin, 24, "%" PRId64, store_pg_int(res, 0, 23));
	snprintf(node, 32, "%s", PQgetvalue(res, 0, 24));
	*ret_started = PQgetvalue(res, 0, 25)[0] != 0;
	if (ret_running != NULL)
		*ret_running = PQgetvalue(res, 0, 26)[0] != 0;
	r = may(&t, arg);
	PQclear(res);
	return r < 0 ? r : 0;
}

/* cancel_any tries this many row versions before it gives up. */
#define CANCEL_ANY_TRIES 4

static int
store_pg_cancel_any(struct store *s, uint64_t id, store_timer_cb may,
                    void *arg, char *holder, size_t holder_size)
{
	char node[32], xmin[24];
	PGresult *res;
	bool started;
	int r, try;

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "cancel: not in cluster mode");
		return -EINVAL;
	}
	for (try = 0; try < CANCEL_ANY_TRIES; try++) {
		struct store_pg_params q = { .n = 0 };

		if ((r = store_pg_peek(s, id, may, arg, xmin, node, &started,
		                       NULL, "cancel")) < 0)
			return r;
		if (holder_size > 0)
			snprintf(holder, holder_size, "%s", node);
		if (started) {
			store_pg_seterr(s, "timer %" PRIu64 " fired; its hook "
			                "was started", id);
			return -EALREADY;
		}
		store_pg_p_i64(&q, (int64_t)id);
		store_pg_p_i64(&q, clock_now_ns(EVD_CLOCK_REALTIME));
		store_pg_p_text(&q, xmin);
		store_pg_p_text(&q, node);
		if ((r = store_pg_run(s, ST_C_CANCEL_ANY, &q, true, &res,
		                      "cancel")) < 0)
			return r;
		r = PQntuples(res) == 1 && store_pg_int(res, 0, 0) == 1;
		PQclear(res);
		if (r)
			return 0;
	}
	store_pg_seterr(s, "timer %" PRIu64 " kept changing (or was being "
	                "written by another node) while it was being "
	                "cancelled; try again", id);
	return -EAGAIN;
}

/* A run's columns 0..9 (ST_RUNS' order; output not read). */
static void
store_pg_row_run(const PGresult *res, int row, struct store_run *run)
{
	memset(run, 0, sizeof(*run));
	run->timer_id = (uint64_t)store_pg_int(res, row, 0);
	run->fire_id = (uint64_t)store_pg_int(res, row, 1);
	run->due_rt_ns = store_pg_int(res, row, 2);
	run->fired_rt_ns = store_pg_int(res, row, 3);
	run->lateness_ns = store_pg_int(res, row, 4);
	run->outcome = (int)store_pg_int(res, row, 5);
	run->detail = store_pg_text(res, row, 6);
	run->exit_code = (int)store_pg_int(res, row, 7);
	run->signal = (int)store_pg_int(res, row, 8);
	run->duration_ns = store_pg_int(res, row, 9);
}

static int
store_pg_take_any(struct store *s, uint64_t id, store_timer_cb may,
                  void *may_arg, store_timer_cb cb, void *arg, char *holder,
                  size_t holder_size)
{
	char node[32], xmin[24];
	struct store_timer t;
	PGresult *res;
	bool started, running;
	int r, try;

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "take: not in cluster mode");
		return -EINVAL;
	}
	for (try = 0; try < CANCEL_ANY_TRIES; try++) {
		struct store_pg_params q = { .n = 0 };

		if ((r = store_pg_peek(s, id, may, may_arg, xmin, node,
		                       &started, &running, "take")) < 0)
			return r;
		if (holder_size > 0)
			snprintf(holder, holder_size, "%s", node);
		if (started) {
			store_pg_seterr(s, "timer %" PRIu64 " fired; its hook "
			                "was started", id);
			return -EALREADY;
		}
		/* A repeating timer's hook runs on its holder, which keeps
		 * its overlap policy: taken now, its next fire here would
		 * not know of that run. */
		if (running) {
			store_pg_seterr(s, "timer %" PRIu64 ": its hook is "
			                "running", id);
			return -EINPROGRESS;
		}
		store_pg_p_i64(&q, (int64_t)id);
		store_pg_p_text(&q, xmin);
		store_pg_p_text(&q, s->node);
		store_pg_p_i64(&q, s->claim_us);
		store_pg_p_text(&q, node);
		if ((r = store_pg_run(s, ST_C_TAKE_ANY, &q, true, &res,
		                      "take")) < 0)
			return r;
		if (PQntuples(res) == 1) {
			store_pg_row_timer(s, res, 0, &t);
			t.lease_left_ns = store_pg_int(res, 0, 23);
			r = cb(&t, arg);
			PQclear(res);
			return r < 0 ? r : 0;
		}
		PQclear(res);
	}
	store_pg_seterr(s, "timer %" PRIu64 " kept changing (or was being "
	                "written by another node) while it was being taken "
	                "over; try again", id);
	return -EAGAIN;
}

static int
store_pg_cancel_matching(struct store *s, uid_t uid, bool all,
                         const char *channel, uint64_t after_id,
                         uint32_t limit, store_timer_cb cb, void *arg,
                         uint64_t *ret_last, uint64_t *ret_skipped)
{
	struct store_pg_params p = { .n = 0 };
	struct store_timer t;
	int64_t judged, cancelled = 0;
	PGresult *res;
	int row, r;

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "cancel: not in cluster mode");
		return -EINVAL;
	}
	*ret_last = 0;
	*ret_skipped = 0;
	if (store_pg_check_text(s, channel, "cancel") < 0)
		return 0; /* no stored channel name is invalid UTF-8 */
	store_pg_p_i64(&p, all ? -1 : (int64_t)uid);
	store_pg_p_text(&p, channel);
	store_pg_p_i64(&p, (int64_t)(after_id > INT64_MAX ? INT64_MAX
	                                                  : after_id));
	store_pg_p_i64(&p, limit > INT32_MAX ? INT32_MAX : (int64_t)limit);
	store_pg_p_i64(&p, clock_now_ns(EVD_CLOCK_REALTIME));
	store_pg_p_i64(&p, EVD_RUN_EXEC_STARTED);
	if ((r = store_pg_run(s, ST_C_CANCEL_MATCHING, &p, true, &res,
	                      "cancel")) < 0)
		return r;
	if (PQntuples(res) < 1) {
		PQclear(res);
		store_pg_seterr(s, "cancel: PostgreSQL sent no row");
		return -EIO;
	}
	judged = store_pg_int(res, 0, 24);
	*ret_last = (uint64_t)store_pg_int(res, 0, 25);
	/* Every row is the database's now: cb's error stops the reading,
	 * not the cancels (the batch's failure is the caller's to make). */
	r = 0;
	for (row = 0; row < PQntuples(res); row++) {
		if (PQgetisnull(res, row, 0))
			continue;
		cancelled++;
		store_pg_row_timer(s, res, row, &t);
		if (r == 0 && (r = cb(&t, arg)) > 0)
			r = 0;
	}
	PQclear(res);
	*ret_skipped = (uint64_t)(judged - cancelled);
	return r < 0 ? r : (int)judged;
}

/* The rows of ST_C_RUNS_NEWEST or ST_C_RUNS_SINCE to cb; frees res. */
static int
store_pg_each_newest(PGresult *res, store_newest_cb cb, void *arg)
{
	struct store_run run;
	int row, r = 0;

	for (row = 0; row < PQntuples(res); row++) {
		store_pg_row_run(res, row, &run);
		if ((r = cb(&run, store_pg_int(res, row, 10),
		            PQgetvalue(res, row, 11)[0] != 0, arg)) < 0)
			break;
		r = 0;
	}
	PQclear(res);
	return r;
}

static int
store_pg_runs_newest(struct store *s, const uint64_t *ids, size_t n,
                     store_newest_cb cb, void *arg)
{
	struct store_pg_params p = { .n = 0 };
	PGresult *res;
	char *arr;
	int r;

	if (n == 0)
		return 0;
	if ((arr = store_pg_array(ids, sizeof(*ids), n)) == NULL) {
		store_pg_seterr(s, "runs: out of memory");
		return -ENOMEM;
	}
	store_pg_p_text(&p, arr);
	r = store_pg_run(s, ST_C_RUNS_NEWEST, &p, false, &res, "runs");
	free(arr);
	if (r < 0)
		return r;
	return store_pg_each_newest(res, cb, arg);
}

static int
store_pg_runs_since(struct store *s, const uint64_t *ids, const int64_t *bases,
                    size_t n, uint32_t per, store_newest_cb cb, void *arg)
{
	struct store_pg_params p = { .n = 0 };
	char *arr, *barr;
	PGresult *res;
	int r;

	if (n == 0)
		return 0;
	arr = store_pg_array(ids, sizeof(*ids), n);
	/* Seqs are never negative (an identity from 1; 0: no run). */
	barr = store_pg_array((const uint64_t *)(const void *)bases,
	                      sizeof(*bases), n);
	if (arr == NULL || barr == NULL) {
		free(arr);
		free(barr);
		store_pg_seterr(s, "runs: out of memory");
		return -ENOMEM;
	}
	store_pg_p_text(&p, arr);
	store_pg_p_text(&p, barr);
	store_pg_p_i64(&p, per);
	r = store_pg_run(s, ST_C_RUNS_SINCE, &p, false, &res, "runs");
	free(arr);
	free(barr);
	if (r < 0)
		return r;
	return store_pg_each_newest(res, cb, arg);
}

static char *store_pg_text_array(const char *const *v, size_t n);

static int store_pg_each_msg(struct store *s, PGresult *res, store_msg_cb cb,
                             void *arg);

static int
store_pg_msg_purge_unheld(struct store *s, const char *channel, uid_t owner,
                          bool all)
{
	struct store_pg_params p = { .n = 0 };
	PGresult *res;
	int r;

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "purge: not in cluster mode");
		return -EINVAL;
	}
	if (store_pg_check_text(s, channel, "purge") < 0)
		return 0; /* no stored channel name is invalid UTF-8 */
	store_pg_p_text(&p, channel);
	store_pg_p_i64(&p, all ? -1 : (int64_t)owner);
	store_pg_p_text(&p, s->node);
	if ((r = store_pg_run(s, ST_C_MSG_PURGE_UNHELD, &p, true, &res,
	                      "purge")) < 0)
		return r;
	r = PQntuples(res) == 1 ? (int)store_pg_int(res, 0, 0) : 0;
	PQclear(res);
	return r;
}

static int
store_pg_msg_list(struct store *s, const char *channel, bool dead, uid_t owner,
                  bool all, uint64_t after, uint32_t limit, store_msg_cb cb,
                  void *arg)
{
	struct store_pg_params p = { .n = 0 };
	PGresult *res;
	int r;

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "list messages: not in cluster mode");
		return -EINVAL;
	}
	if (store_pg_check_text(s, channel, "list messages") < 0)
		return 0; /* no stored channel name is invalid UTF-8 */
	store_pg_p_text(&p, channel);
	store_pg_p_bool(&p, dead);
	store_pg_p_i64(&p, all ? -1 : (int64_t)owner);
	store_pg_p_i64(&p, (int64_t)(after > INT64_MAX ? INT64_MAX : after));
	store_pg_p_i64(&p, limit);
	if ((r = store_pg_run(s, ST_C_MSG_LIST, &p, false, &res,
	                      "list messages")) < 0)
		return r;
	r = store_pg_each_msg(s, res, cb, arg);
	PQclear(res);
	return r;
}


static int
store_pg_msg_channel_counts(struct store *s, const char *const *channels,
                            size_t n, uint64_t *queued, uint64_t *dead)
{
	struct store_pg_params p = { .n = 0 };
	PGresult *res;
	char *names;
	size_t i;
	int r;

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "count messages: not in cluster mode");
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		queued[i] = dead[i] = 0;
		if ((r = store_pg_check_text(s, channels[i], "count")) < 0)
			return r;
	}
	if (n == 0)
		return 0;
	if ((names = store_pg_text_array(channels, n)) == NULL) {
		store_pg_seterr(s, "count messages: out of memory");
		return -ENOMEM;
	}
	store_pg_p_text(&p, names);
	r = store_pg_run(s, ST_C_MSG_CHANNEL_COUNTS, &p, false, &res,
	                 "count messages");
	free(names);
	if (r < 0)
		return r;
	if ((size_t)PQntuples(res) != n) {
		PQclear(res);
		store_pg_seterr(s, "count messages: PostgreSQL sent %d rows "
		                "for %zu channels", PQntuples(res), n);
		return -EIO;
	}
	for (i = 0; i < n; i++) {
		queued[i] = (uint64_t)store_pg_int(res, (int)i, 0);
		dead[i] = (uint64_t)store_pg_int(res, (int)i, 1);
	}
	PQclear(res);
	return 0;
}

static int
store_pg_list_held(struct store *s, uid_t uid, bool all, const char *channel,
                   uint64_t after_id, size_t limit, store_timer_cb cb,
                   void *arg)
{
	struct store_pg_params p = { .n = 0 };

	if (store_pg_check_text(s, channel, "list") < 0)
		return 0; /* no stored channel name is invalid UTF-8 */
	store_pg_p_i64(&p, (int64_t)(after_id > INT64_MAX ? INT64_MAX
	                                                  : after_id));
	store_pg_p_i64(&p, all ? -1 : (int64_t)uid);
	store_pg_p_text(&p, channel);
	store_pg_p_i64(&p, limit > INT32_MAX ? INT32_MAX : (int64_t)limit);
	return store_pg_each_timer(s, ST_C_LIST_HELD, &p, "list", cb, arg, 0);
}

/* Not the batch's: nextval is never rolled back and takes no lock. */
static int
store_pg_reserve_ids(struct store *s, uint64_t *ret_first,
                     uint64_t *ret_count)
{
	PGresult *res;
	int r;

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "reserve ids: not in cluster mode");
		return -EINVAL;
	}
	if ((r = store_pg_run(s, ST_C_RESERVE, NULL, false, &res,
	                      "reserve ids")) < 0)
		return r;
	*ret_first = (uint64_t)store_pg_int(res, 0, 0);
	*ret_count = ID_BLOCK;
	PQclear(res);
	return 0;
}

/*
 * Single node: hands over every pending timer up to the horizon, in id
 * order, a page of CLAIM_PAGE rows per round trip (bounded memory for a
 * million timers); writes nothing and the fence stays as stored (0).
 * Cluster mode replaces this with the SKIP LOCKED claim on vis_at.
 */
static int
store_pg_claim(struct store *s, int64_t horizon_rt_ns, store_timer_cb cb,
               void *arg)
{
	struct store_timer t;
	int64_t after = INT64_MIN;
	PGresult *res;
	int row, n, r;

	if (s->node[0] != '\0')
		return store_pg_adopt(s, cb, arg);
	do {
		struct store_pg_params p = { .n = 0 };

		store_pg_p_i64(&p, horizon_rt_ns);
		store_pg_p_i64(&p, after);
		store_pg_p_i64(&p, CLAIM_PAGE);
		if ((r = store_pg_run(s, ST_CLAIM, &p, false, &res, "claim")) <
		    0)
			return r;
		n = PQntuples(res);
		for (row = 0; row < n; row++) {
			store_pg_row_timer(s, res, row, &t);
			after = (int64_t)t.id;
			if ((r = cb(&t, arg)) < 0) {
				PQclear(res);
				return r;
			}
		}
		PQclear(res);
	} while (n == CLAIM_PAGE);
	return 0;
}

static int
store_pg_retire(struct store *s, uint64_t id, uint64_t fence,
                const struct store_timer *next)
{
	struct store_pg_params p = { .n = 0 };
	int r;

	/* A cluster node's fire, pipelined: gathered (store_pg_fb_send). */
	if (next == NULL && s->node[0] != '\0' && s->pipelining)
		return store_pg_fb_retire(s, id, fence);
	store_pg_p_i64(&p, (int64_t)id);
	store_pg_p_i64(&p, (int64_t)fence);
	if (next == NULL) {
		store_pg_p_i64(&p, clock_now_ns(EVD_CLOCK_REALTIME));
		return store_pg_run_one(s, s->node[0] != '\0'
		                               ? ST_C_RETIRE_END
		                               : ST_RETIRE_END,
		                        &p, -ESTALE, "retire");
	}
	if ((r = store_pg_check_text(s, next->boot_id, "retire")) < 0)
		return r;
	store_pg_p_i64(&p, next->deadline_ns);
	store_pg_p_i64(&p, next->due_rt_ns);
	store_pg_p_text(&p, next->boot_id);
	store_pg_p_i64(&p, (int64_t)next->fire_count);
	store_pg_p_i64(&p, next->last_fired_rt_ns);
	if (s->node[0] != '\0') {
		store_pg_p_i64(&p, s->claim_us);
		return store_pg_run_one(s, ST_C_RETIRE_NEXT, &p, -ESTALE,
		                        "retire");
	}
	return store_pg_run_one(s, ST_RETIRE_NEXT, &p, -ESTALE, "retire");
}

static int
store_pg_reschedule(struct store *s, const struct store_timer *t)
{
	struct store_pg_params p = { .n = 0 };
	int r;

	if ((r = store_pg_check_text(s, t->boot_id, "reschedule")) < 0)
		return r;
	store_pg_p_i64(&p, (int64_t)t->id);
	store_pg_p_i64(&p, t->deadline_ns);
	store_pg_p_i64(&p, t->due_rt_ns);
	store_pg_p_text(&p, t->boot_id);
	store_pg_p_i64(&p, t->clock);
	store_pg_p_bool(&p, t->paused);
	if (s->node[0] != '\0') {
		store_pg_p_text(&p, s->node);
		store_pg_p_i64(&p, s->claim_us);
		return store_pg_run_one(s, ST_C_RESCHEDULE, &p, -ENOENT,
		                        "reschedule");
	}
	return store_pg_run_one(s, ST_RESCHEDULE, &p, -ENOENT, "reschedule");
}

static int
store_pg_revive(struct store *s, const struct store_timer *t)
{
	struct store_pg_params p = { .n = 0 };
	PGresult *res;
	int r;

	if ((r = store_pg_check_text(s, t->boot_id, "revive")) < 0 ||
	    (r = store_pg_check_bytes(s, t->exec_len, "revive")) < 0)
		return r;
	store_pg_p_i64(&p, (int64_t)t->id);
	store_pg_p_i64(&p, t->deadline_ns);
	store_pg_p_i64(&p, t->due_rt_ns);
	store_pg_p_text(&p, t->boot_id);
	store_pg_p_i64(&p, t->clock);
	store_pg_p_bytes(&p, t->exec, t->exec_len);
	if (s->node[0] != '\0') {
		store_pg_p_text(&p, s->node);
		store_pg_p_i64(&p, s->claim_us);
	}
	if ((r = store_pg_run(s, s->node[0] != '\0' ? ST_C_REVIVE : ST_REVIVE,
	                      &p, true, &res, "revive")) < 0)
		return r;
	if (store_pg_int(res, 0, 0) == 0) {
		store_pg_seterr(s, "revive: no finished timer %llu",
		                (unsigned long long)t->id);
		r = -ENOENT;
	} else if (store_pg_int(res, 0, 1) != 0) {
		store_pg_seterr(s, "revive: another pending timer of the "
		                "owner has timer %llu's key",
		                (unsigned long long)t->id);
		r = -EEXIST;
	}
	PQclear(res);
	return r;
}

static int
store_pg_get_timer(struct store *s, uint64_t id, store_timer_cb cb, void *arg)
{
	struct store_pg_params p = { .n = 0 };

	store_pg_p_i64(&p, (int64_t)id);
	return store_pg_each_timer(s, ST_GET, &p, "get timer", cb, arg,
	                           -ENOENT);
}

static int
store_pg_list_ended(struct store *s, uid_t uid, bool all, uint64_t after_id,
                    size_t limit, store_timer_cb cb, void *arg)
{
	struct store_pg_params p = { .n = 0 };

	store_pg_p_i64(&p, (int64_t)(after_id > INT64_MAX ? INT64_MAX
	                                                  : after_id));
	store_pg_p_i64(&p, all ? -1 : (int64_t)uid);
	store_pg_p_i64(&p, limit > INT32_MAX ? INT32_MAX : (int64_t)limit);
	return store_pg_each_timer(s, ST_LIST_ENDED, &p, "list ended", cb, arg,
	                           0);
}

static int
store_pg_find_key(struct store *s, uid_t uid, const char *key,
                  store_timer_cb cb, void *arg)
{
	struct store_pg_params p = { .n = 0 };

	if (store_pg_check_text(s, key, "find key") < 0) {
		store_pg_seterr(s, "find key: no such key");
		return -ENOENT; /* no stored key is invalid UTF-8 */
	}
	store_pg_p_i64(&p, (int64_t)uid);
	store_pg_p_text(&p, key);
	return store_pg_each_timer(s, ST_FIND_KEY, &p, "find key", cb, arg,
	                           -ENOENT);
}

static int
store_pg_enqueue(struct store *s, const struct store_msg *m)
{
	struct store_pg_params p = { .n = 0 };
	enum store_pg_stmt i = ST_ENQUEUE;
	PGresult *res;
	int r;

	if ((r = store_pg_check_text(s, m->channel, "enqueue")) < 0 ||
	    (r = store_pg_check_text(s, m->reason, "enqueue")) < 0 ||
	    (r = store_pg_check_bytes(s, m->payload_len, "enqueue")) < 0)
		return r;
	if (s->node[0] != '\0' && s->pipelining)
		return store_pg_fb_msg(s, m);
	store_pg_p_i64(&p, (int64_t)m->fire_id);
	store_pg_p_i64(&p, (int64_t)m->timer_id);
	store_pg_p_i64(&p, (int64_t)m->owner);
	store_pg_p_text(&p, m->channel);
	store_pg_p_bytes(&p, m->payload, m->payload_len);
	store_pg_p_i64(&p, m->due_rt_ns);
	store_pg_p_i64(&p, m->fired_rt_ns);
	store_pg_p_i64(&p, m->lateness_ns);
	store_pg_p_i64(&p, m->attempts);
	store_pg_p_i64(&p, m->max_attempts);
	store_pg_p_i64(&p, m->delivery);
	store_pg_p_bool(&p, m->dead);
	store_pg_p_text(&p, m->reason);
	if (s->node[0] != '\0') {
		store_pg_p_bool(&p, m->claim);
		store_pg_p_text(&p, s->node);
		store_pg_p_i64(&p, s->claim_us);
		i = ST_C_ENQUEUE;
	}
	if (s->pipelining)
		return store_pg_defer(s, i, &p, PJ_RETURNED, 0, 0, "enqueue");
	if ((r = store_pg_run(s, i, &p, true, &res, "enqueue")) < 0)
		return r;
	if (PQntuples(res) == 0) {
		store_pg_seterr(s, "enqueue: message %llu already exists in "
		                "the store",
		                (unsigned long long)m->fire_id);
		r = -EEXIST;
	}
	PQclear(res);
	return r;
}

static int
store_pg_ack(struct store *s, uint64_t fire_id)
{
	struct store_pg_params p = { .n = 0 };

	store_pg_p_i64(&p, (int64_t)fire_id);
	if (s->pipelining)
		return store_pg_defer(s, ST_ACK, &p, PJ_ONE, 0, 0, "ack");
	return store_pg_run_one(s, ST_ACK, &p, -ENOENT, "ack");
}

static int
store_pg_update_msg(struct store *s, const struct store_msg *m)
{
	struct store_pg_params p = { .n = 0 };
	int r;

	if ((r = store_pg_check_text(s, m->reason, "update message")) < 0)
		return r;
	store_pg_p_i64(&p, (int64_t)m->fire_id);
	store_pg_p_i64(&p, m->attempts);
	store_pg_p_bool(&p, m->dead);
	store_pg_p_text(&p, m->reason);
	/* Cluster mode: fenced; a claim lost (or whose lease ran out) is
	 * -ESTALE: the caller forgets the message, another node has it. */
	if (s->node[0] != '\0') {
		store_pg_p_i64(&p, (int64_t)m->fence);
		store_pg_p_text(&p, s->node);
		return store_pg_run_one(s, ST_C_UPDATE_MSG, &p, -ESTALE,
		                        "update message");
	}
	return store_pg_run_one(s, ST_UPDATE_MSG, &p, -ENOENT,
	                        "update message");
}

/* The result is whole before cb runs, so cb may write (store.h lets
 * it call the store). */
static int
store_pg_each_msg(struct store *s, PGresult *res, store_msg_cb cb,
                  void *arg)
{
	struct store_msg m;
	int row, r = 0;

	for (row = 0; row < PQntuples(res); row++) {
		memset(&m, 0, sizeof(m));
		m.fire_id = (uint64_t)store_pg_int(res, row, 0);
		m.timer_id = (uint64_t)store_pg_int(res, row, 1);
		m.owner = (uid_t)store_pg_int(res, row, 2);
		m.channel = store_pg_text(res, row, 3);
		m.payload = store_pg_bytes(res, row, 4, &m.payload_len);
		m.due_rt_ns = store_pg_int(res, row, 5);
		m.fired_rt_ns = store_pg_int(res, row, 6);
		m.lateness_ns = store_pg_int(res, row, 7);
		m.attempts = (uint32_t)store_pg_int(res, row, 8);
		m.max_attempts = (uint32_t)store_pg_int(res, row, 9);
		m.delivery = (int)store_pg_int(res, row, 10);
		m.dead = store_pg_int(res, row, 11) != 0;
		m.reason = store_pg_text(res, row, 12);
		if (PQnfields(res) > 13)
			m.fence = (uint64_t)store_pg_int(res, row, 13);
		if ((r = cb(&m, arg)) < 0)
			break;
		r = 0;
	}
	return r;
}

/* In cluster mode: this node's own claims only, fenced anew (others'
 * messages are claimed by msg_claim, for channels with subscribers
 * here). */
static int
store_pg_load_messages(struct store *s, store_msg_cb cb, void *arg)
{
	struct store_pg_params p = { .n = 0 };
	PGresult *res;
	int r;

	if (s->node[0] != '\0') {
		store_pg_p_text(&p, s->node);
		store_pg_p_i64(&p, s->claim_us);
		r = store_pg_run(s, ST_C_MSG_ADOPT, &p, true, &res,
		                 "adopt messages");
	} else
		r = store_pg_run(s, ST_LOAD_MSGS, NULL, false, &res,
		                 "load messages");
	if (r < 0)
		return r;
	r = store_pg_each_msg(s, res, cb, arg);
	PQclear(res);
	return r;
}

/* A text[] literal of n strings, each quoted, in a buffer the caller
 * frees. */
static char *
store_pg_text_array(const char *const *v, size_t n)
{
	size_t len = 3, i;
	const char *c;
	char *buf, *p;

	for (i = 0; i < n; i++)
		len += 2 * strlen(v[i]) + 3;
	if ((buf = malloc(len)) == NULL)
		return NULL;
	p = buf;
	*p++ = '{';
	for (i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (c = v[i]; *c != '\0'; c++) {
			if (*c == '"' || *c == '\\')
				*p++ = '\\';
			*p++ = *c;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return buf;
}

static int
store_pg_msg_claim(struct store *s, const char *const *channels,
                   const uint32_t *limits, const uint32_t *dead_limits,
                   size_t n, store_msg_cb cb, void *arg)
{
	struct store_pg_params p = { .n = 0 };
	char *names = NULL, *lims = NULL, *dlims = NULL;
	uint64_t *l = NULL;
	PGresult *res;
	size_t i;
	int r;

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "claim messages: not in cluster mode");
		return -EINVAL;
	}
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if ((r = store_pg_check_text(s, channels[i],
		                             "claim messages")) < 0)
			return r;
	if ((l = calloc(n, sizeof(*l))) != NULL) {
		for (i = 0; i < n; i++)
			l[i] = limits[i];
		lims = store_pg_array(l, sizeof(*l), n);
		for (i = 0; i < n; i++)
			l[i] = dead_limits[i];
		dlims = store_pg_array(l, sizeof(*l), n);
	}
	names = store_pg_text_array(channels, n);
	free(l);
	if (names == NULL || lims == NULL || dlims == NULL) {
		free(names);
		free(lims);
		free(dlims);
		store_pg_seterr(s, "claim messages: out of memory");
		return -ENOMEM;
	}
	store_pg_p_text(&p, names);
	store_pg_p_text(&p, lims);
	store_pg_p_text(&p, s->node);
	store_pg_p_i64(&p, s->claim_us);
	store_pg_p_text(&p, dlims);
	r = store_pg_run(s, ST_C_MSG_CLAIM, &p, true, &res, "claim messages");
	free(names);
	free(lims);
	free(dlims);
	if (r < 0)
		return r;
	n = (size_t)PQntuples(res);
	r = store_pg_each_msg(s, res, cb, arg);
	PQclear(res);
	return r < 0 ? r : (int)n;
}

static int
store_pg_msg_ack(struct store *s, uint64_t fire_id, uint64_t fence)
{
	struct store_pg_params p = { .n = 0 };

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "ack: not in cluster mode");
		return -EINVAL;
	}
	store_pg_p_i64(&p, (int64_t)fire_id);
	store_pg_p_i64(&p, (int64_t)fence);
	store_pg_p_text(&p, s->node);
	/* Pipelined, nobody waits for the answer: a lost claim's ack then
	 * counts as done (deleting nothing; another node delivers the
	 * message again) rather than losing the whole batch. */
	if (s->pipelining)
		return store_pg_defer(s, ST_C_MSG_ACK, &p, PJ_ONE, 0, 0, "ack");
	return store_pg_run_one(s, ST_C_MSG_ACK, &p, -ESTALE, "ack");
}

/* The ids and fences of rn[0..n) as int8[] literals (freed by the
 * caller), for the renew and release statements. */
static int
store_pg_fenced(struct store *s, const struct store_renewal *rn, size_t n,
                struct store_pg_params *p, char **ret_ids,
                char **ret_fences, const char *what)
{
	*ret_ids = store_pg_array(&rn[0].id, sizeof(rn[0]), n);
	*ret_fences = store_pg_array(&rn[0].fence, sizeof(rn[0]), n);
	if (*ret_ids == NULL || *ret_fences == NULL) {
		free(*ret_ids);
		free(*ret_fences);
		store_pg_seterr(s, "%s: out of memory", what);
		return -ENOMEM;
	}
	store_pg_p_text(p, *ret_ids);
	store_pg_p_text(p, *ret_fences);
	return 0;
}

/*
 * Statement i over rn[0..n) (ids sorted, none twice; with attempts, a
 * delivery's), judged each alone (PJ_KEPT): kept for the ids the
 * statement returned. While pipelining it is only sent, and its answer
 * read by the next call that settles (commit at the latest), so rn must
 * stay valid until then; otherwise at once.
 */
static int
store_pg_kept(struct store *s, enum store_pg_stmt i, struct store_renewal *rn,
              size_t n, const uint32_t *attempts, const char *what)
{
	struct store_pg_params p = { .n = 0 };
	char *ids, *fences, *att = NULL, *q;
	size_t k;
	int r;

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "%s: not in cluster mode", what);
		return -EINVAL;
	}
	for (k = 0; k < n; k++) {
		rn[k].kept = false;
		if (k > 0 && rn[k].id <= rn[k - 1].id) {
			store_pg_seterr(s, "%s: ids not in order", what);
			return -EINVAL;
		}
	}
	if (n == 0)
		return 0;
	if ((r = store_pg_fenced(s, rn, n, &p, &ids, &fences, what)) < 0)
		return r;
	if (attempts != NULL) {
		if ((att = q = malloc(n * 12 + 3)) == NULL) {
			free(ids);
			free(fences);
			store_pg_seterr(s, "%s: out of memory", what);
			return -ENOMEM;
		}
		*q++ = '{';
		for (k = 0; k < n; k++)
			q += sprintf(q, "%s%" PRIu32, k > 0 ? "," : "",
			             attempts[k]);
		*q++ = '}';
		*q = '\0';
		store_pg_p_text(&p, att);
	}
	if (i == ST_C_RETIRE_KEPT)
		store_pg_p_i64(&p, clock_now_ns(EVD_CLOCK_REALTIME));
	else
		store_pg_p_text(&p, s->node);
	r = store_pg_defer(s, i, &p, PJ_KEPT, 0, 0, what);
	free(ids);
	free(fences);
	free(att);
	if (r < 0)
		return r;
	s->pend[s->npend - 1].rn = rn;
	s->pend[s->npend - 1].nrn = n;
	return s->pipelining ? 0 : store_pg_settle(s);
}

static int
store_pg_retire_claims(struct store *s, struct store_renewal *rn, size_t n)
{
	return store_pg_kept(s, ST_C_RETIRE_KEPT, rn, n, NULL, "retire");
}

static int
store_pg_msg_ack_many(struct store *s, struct store_renewal *rn, size_t n)
{
	return store_pg_kept(s, ST_C_MSG_ACK_MANY, rn, n, NULL, "ack");
}

static int
store_pg_msg_deliver_many(struct store *s, struct store_renewal *rn,
                          const uint32_t *attempts, size_t n)
{
	return store_pg_kept(s, ST_C_MSG_DELIVER_MANY, rn, n, attempts,
	                     "deliver");
}

static int
store_pg_msg_renew(struct store *s, struct store_renewal *rn, size_t n)
{
	struct store_pg_params p = { .n = 0 };
	char *ids, *fences;
	PGresult *res;
	int kept, r;
	size_t i;

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "renew messages: not in cluster mode");
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		rn[i].kept = false;
		rn[i].lease_left_ns = 0;
	}
	if (n == 0)
		return 0;
	if ((r = store_pg_fenced(s, rn, n, &p, &ids, &fences,
	                         "renew messages")) < 0)
		return r;
	store_pg_p_i64(&p, s->claim_us);
	store_pg_p_text(&p, s->node);
	r = store_pg_run(s, ST_C_MSG_RENEW, &p, true, &res, "renew messages");
	free(ids);
	free(fences);
	if (r < 0)
		return r;
	kept = store_pg_renewed(res, rn, n);
	PQclear(res);
	return kept;
}

static int
store_pg_msg_release(struct store *s, const struct store_renewal *rn,
                     size_t n)
{
	struct store_pg_params p = { .n = 0 };
	char *ids, *fences;
	int r;

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "give back messages: not in cluster mode");
		return -EINVAL;
	}
	if (n == 0)
		return 0;
	if ((r = store_pg_fenced(s, rn, n, &p, &ids, &fences,
	                         "give back messages")) < 0)
		return r;
	store_pg_p_text(&p, s->node);
	r = store_pg_run(s, ST_C_MSG_RELEASE, &p, true, NULL,
	                 "give back messages");
	free(ids);
	free(fences);
	return r;
}

static int
store_pg_channel_put(struct store *s, const struct store_channel *c)
{
	struct store_pg_params p = { .n = 0 };
	int r;

	if ((r = store_pg_check_text(s, c->name, "put channel")) < 0)
		return r;
	store_pg_p_text(&p, c->name);
	store_pg_p_i64(&p, (int64_t)c->owner);
	store_pg_p_bytes(&p, c->grants, c->grants_len);
	return store_pg_run(s, ST_CHANNEL_PUT, &p, true, NULL, "put channel");
}

static int
store_pg_load_channels(struct store *s, store_channel_cb cb, void *arg)
{
	struct store_channel c;
	PGresult *res;
	int row, r;

	if ((r = store_pg_run(s, ST_LOAD_CHANNELS, NULL, false, &res,
	                      "load channels")) < 0)
		return r;
	for (row = 0; row < PQntuples(res); row++) {
		memset(&c, 0, sizeof(c));
		c.name = store_pg_text(res, row, 0);
		c.owner = (uid_t)store_pg_int(res, row, 1);
		c.grants = store_pg_bytes(res, row, 2, &c.grants_len);
		if ((r = cb(&c, arg)) < 0)
			break;
		r = 0;
	}
	PQclear(res);
	return r;
}

static int
store_pg_msg_counts(struct store *s, store_count_cb cb, void *arg)
{
	PGresult *res;
	int row, r;

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "count messages: not in cluster mode");
		return -EINVAL;
	}
	if ((r = store_pg_run(s, ST_C_MSG_COUNTS, NULL, false, &res,
	                      "count messages")) < 0)
		return r;
	for (row = 0, r = 0; row < PQntuples(res); row++) {
		int64_t n = store_pg_int(res, row, 2);

		/* Below 0 only while a delete's count is committed and its
		 * insert's not yet seen: nothing queued. */
		if (n <= 0)
			continue;
		if ((r = cb(store_pg_text(res, row, 0),
		            (uid_t)store_pg_int(res, row, 1), (uint64_t)n,
		            arg)) < 0)
			break;
	}
	PQclear(res);
	return r;
}

static int
store_pg_channel_lock(struct store *s, const char *name, store_channel_cb cb,
                      void *arg)
{
	struct store_pg_params p = { .n = 0 };
	struct store_channel c;
	PGresult *res;
	int r;

	if (s->node[0] == '\0') {
		store_pg_seterr(s, "lock channel: not in cluster mode");
		return -EINVAL;
	}
	if ((r = store_pg_check_text(s, name, "lock channel")) < 0)
		return r;
	store_pg_p_text(&p, name);
	/* A write: the lock is the batch transaction's (BEGIN first). */
	if ((r = store_pg_run(s, ST_C_CHANNEL_LOCK, &p, true, &res,
	                      "lock channel")) < 0)
		return r;
	for (int row = 0; row < PQntuples(res); row++) {
		memset(&c, 0, sizeof(c));
		c.name = store_pg_text(res, row, 0);
		c.owner = (uid_t)store_pg_int(res, row, 1);
		c.grants = store_pg_bytes(res, row, 2, &c.grants_len);
		if ((r = cb(&c, arg)) < 0)
			break;
	}
	PQclear(res);
	return r < 0 ? r : 0;
}

static int
store_pg_run_append(struct store *s, const struct store_run *run)
{
	struct store_pg_params p = { .n = 0 };
	int64_t pruned, added;
	PGresult *res;
	bool owned;
	uid_t uid;
	int r;

	if (s->history_per_timer == 0)
		return 0;
	if ((r = store_pg_check_text(s, run->detail, "append run")) < 0 ||
	    (r = store_pg_check_bytes(s, run->out_len + run->err_len,
	                              "append run")) < 0)
		return r;
	if (s->node[0] != '\0' && s->pipelining &&
	    run->out_len + run->err_len == 0)
		return store_pg_fb_run(s, run);
	store_pg_p_i64(&p, (int64_t)run->timer_id);
	store_pg_p_i64(&p, (int64_t)run->fire_id);
	store_pg_p_i64(&p, run->due_rt_ns);
	store_pg_p_i64(&p, run->fired_rt_ns);
	store_pg_p_i64(&p, run->lateness_ns);
	store_pg_p_i64(&p, run->outcome);
	store_pg_p_text(&p, run->detail);
	store_pg_p_i64(&p, run->exit_code);
	store_pg_p_i64(&p, run->signal);
	store_pg_p_i64(&p, run->duration_ns);
	store_pg_p_bytes(&p, run->out, run->out_len);
	store_pg_p_bytes(&p, run->err, run->err_len);
	store_pg_p_i64(&p, s->history_per_timer);
	if (s->pipelining)
		return store_pg_defer(s, ST_RUN_APPEND, &p, PJ_RUN, 0,
		                      (int64_t)(run->out_len + run->err_len),
		                      "append run");
	if ((r = store_pg_run(s, ST_RUN_APPEND, &p, true, &res,
	                      "append run")) < 0)
		return r;
	pruned = store_pg_int(res, 0, 0);
	owned = !PQgetisnull(res, 0, 1);
	uid = (uid_t)store_pg_int(res, 0, 1);
	PQclear(res);
	/* Output is charged to the timer's owner; a run of no stored
	 * timer counts for nobody. */
	added = (int64_t)(run->out_len + run->err_len);
	if (!owned || added - pruned == 0)
		return 0;
	return store_pg_out_note(s, uid, added - pruned, "append run");
}

static int
store_pg_runs(struct store *s, uint64_t timer_id, store_run_cb cb, void *arg)
{
	struct store_pg_params p = { .n = 0 };
	struct store_run run;
	PGresult *res;
	int row, r;

	store_pg_p_i64(&p, (int64_t)timer_id);
	if ((r = store_pg_run(s, ST_RUNS, &p, false, &res, "runs")) < 0)
		return r;
	for (row = 0; row < PQntuples(res); row++) {
		store_pg_row_run(res, row, &run);
		run.out = store_pg_bytes(res, row, 10, &run.out_len);
		run.err = store_pg_bytes(res, row, 11, &run.err_len);
		if ((r = cb(&run, arg)) < 0)
			break;
		r = 0;
	}
	PQclear(res);
	return r;
}

static int
store_pg_max_ids(struct store *s, uint64_t *ret_timer_id,
                 uint64_t *ret_fire_id)
{
	PGresult *res;
	int r;

	if ((r = store_pg_run(s, ST_MAX_IDS, NULL, false, &res, "max ids")) <
	    0)
		return r;
	*ret_timer_id = (uint64_t)store_pg_int(res, 0, 0);
	*ret_fire_id = (uint64_t)store_pg_int(res, 0, 1);
	PQclear(res);
	return 0;
}

static int
store_pg_meta_get(struct store *s, const char *key, int64_t *ret)
{
	struct store_pg_params p = { .n = 0 };
	PGresult *res;
	int r;

	store_pg_p_text(&p, key);
	if ((r = store_pg_run(s, ST_META_GET, &p, false, &res, "meta get")) <
	    0)
		return r;
	if (PQntuples(res) == 1) {
		*ret = store_pg_int(res, 0, 0);
	} else {
		store_pg_seterr(s, "meta %s: unset", key);
		r = -ENOENT;
	}
	PQclear(res);
	return r;
}

static int
store_pg_meta_put(struct store *s, const char *key, int64_t value)
{
	struct store_pg_params p = { .n = 0 };

	store_pg_p_text(&p, key);
	store_pg_p_i64(&p, value);
	return store_pg_run(s, ST_META_PUT, &p, true, NULL, "meta put");
}

const struct store_backend store_pg_backend = {
    .name = "pg",
    .durable = true,
    .threaded = store_pg_threaded,
    .pipeline = store_pg_pipeline,
    .open = store_pg_open,
    .close = store_pg_close,
    .errmsg = store_pg_errmsg,
    .check = store_pg_check,
    .begin = store_pg_begin,
    .commit = store_pg_commit,
    .flush = store_pg_flush,
    .flushes = store_pg_flushes,
    .rollback = store_pg_rollback,
    .schedule = store_pg_schedule,
    .cancel = store_pg_cancel,
    .claim = store_pg_claim,
    .retire = store_pg_retire,
    .reschedule = store_pg_reschedule,
    .revive = store_pg_revive,
    .get_timer = store_pg_get_timer,
    .list_ended = store_pg_list_ended,
    .find_key = store_pg_find_key,
    .enqueue = store_pg_enqueue,
    .ack = store_pg_ack,
    .update_msg = store_pg_update_msg,
    .load_messages = store_pg_load_messages,
    .channel_put = store_pg_channel_put,
    .load_channels = store_pg_load_channels,
    .run_append = store_pg_run_append,
    .runs = store_pg_runs,
    .output_changes = store_pg_output_changes,
    .max_ids = store_pg_max_ids,
    .meta_get = store_pg_meta_get,
    .meta_put = store_pg_meta_put,
    .reserve_ids = store_pg_reserve_ids,
    .claim_due = store_pg_claim_due,
    .renew = store_pg_renew,
    .cancel_claim = store_pg_cancel_claim,
    .cancel_any = store_pg_cancel_any,
    .cancel_matching = store_pg_cancel_matching,
    .take_any = store_pg_take_any,
    .list_held = store_pg_list_held,
    .runs_newest = store_pg_runs_newest,
    .runs_since = store_pg_runs_since,
    .msg_channel_counts = store_pg_msg_channel_counts,
    .msg_list = store_pg_msg_list,
    .msg_purge_unheld = store_pg_msg_purge_unheld,
    .fence_losses = store_pg_fence_losses,
    .msg_claim = store_pg_msg_claim,
    .msg_ack = store_pg_msg_ack,
    .retire_claims = store_pg_retire_claims,
    .msg_ack_many = store_pg_msg_ack_many,
    .msg_deliver_many = store_pg_msg_deliver_many,
    .msg_renew = store_pg_msg_renew,
    .msg_counts = store_pg_msg_counts,
    .msg_release = store_pg_msg_release,
    .channel_lock = store_pg_channel_lock,
};

/*
 * Cluster mode's node connection (store.h, struct store_pg_node): one
 * more libpq connection, outside pipeline mode, one statement in flight
 * at a time, sent with PQsendQueryParams and read with PQconsumeInput
 * as its socket becomes readable, so the loop never waits for it but at
 * open: a reconnect is PQconnectStartParams, then PQconnectPoll as its
 * socket is ready (connecting; the caller bounds how long). lock_timeout
 * keeps a reap from waiting long for rows a stalled node's open
 * transaction holds: the heartbeat that follows it on this connection
 * must not be delayed past the lease.
 */
struct store_pg_node {
	PGconn *conn;
	char *conninfo;
	char *options;   /* the conninfo's options, then lock_timeout */
	/* The connection's keywords (store_pg_node_kw's, the conninfo's,
	 * options last), pointing into opts; its servers, tried one at a
	 * time as the store's are, from tgt (the last that answered). */
	PQconninfoOption *opts;
	const char **kw, **val;
	size_t nkw;
	struct pgaddr *addr;
	size_t tgt;
	size_t round_left; /* attempts left in this round of targets */
	bool answered;   /* the connection since the last reconnect came up */
	char id[32];
	int kind;        /* STORE_PG_BEAT, STORE_PG_REAP: what is in flight */
	bool got;        /* its result came, the end of it not yet */
	bool connecting; /* a reconnect under way (PQconnectPoll) */
	int want;        /* connecting: STORE_PG_WANT_READ or _WRITE */
	struct store_pg_node_beat res;
	char lock_timeout[48];
	/* Timers other nodes cancelled (NOTIFY evd_node_<id>, cancel_any),
	 * not yet taken by store_pg_node_notified: v[head..n). */
	struct store_pg_notice *notified;
	size_t nnotified, headnotified, capnotified;
	bool msg_hint;   /* an evd_msg notification came (store.h) */
	/* The distinct channels they named, not yet taken
	 * (store_pg_node_msg_take); hint_all: more than fit, or a copy
	 * failed. */
	char *hints[STORE_PG_HINTS_MAX];
	size_t nhints;
	bool hint_all;
};

/* The node connection's own settings: before the conninfo's, which win,
 * except options, after it: the conninfo's own options with
 * lock_timeout and jit added (store_pg_node_options), which a reconnect
 * must not lose as it would with options= in the conninfo. */
static const char *const store_pg_node_kw[][2] = {
	{ "connect_timeout", "2" }, { "application_name", "evd" },
};
/* jit=off: the reap, which the planner costs high on a large table,
 * was JIT-compiled anew at every heartbeat (store_pg_setup says why
 * evd's statements never want it). */
#define STORE_PG_NODE_OPTIONS "-c lock_timeout=200ms -c jit=off"

/* The conninfo's options (if any) and STORE_PG_NODE_OPTIONS, in a new
 * string; NULL: no memory, or a conninfo libpq cannot parse (connecting
 * says why). */
static char *
store_pg_node_options(const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL), *o;
	const char *theirs = NULL;
	char *ret;

	if (opts == NULL)
		return strdup(STORE_PG_NODE_OPTIONS);
	for (o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "options") == 0 && o->val != NULL)
			theirs = o->val;
	if (theirs == NULL || theirs[0] == '\0')
		ret = strdup(STORE_PG_NODE_OPTIONS);
	else if (asprintf(&ret, "%s %s", theirs, STORE_PG_NODE_OPTIONS) < 0)
		ret = NULL;
	PQconninfoFree(opts);
	return ret;
}


/* Was this row still fresh on arrival? Then the node's heartbeat row is
 * upserted: a reaped node's row comes back (and its heartbeat says it was
 * not fresh, a gap). */
static const char store_pg_node_beat_sql[] =
    "WITH o AS (SELECT last_seen FROM evd.nodes WHERE node = $1),"
    " u AS (INSERT INTO evd.nodes (node, started_at, last_seen, pid)"
    " VALUES ($1, clock_timestamp(), clock_timestamp(), pg_backend_pid())"
    " ON CONFLICT (node) DO UPDATE SET last_seen = clock_timestamp(),"
    " pid = pg_backend_pid()"
    " RETURNING 1)"
    " SELECT coalesce((SELECT last_seen > clock_timestamp() -"
    " $2::int8 * interval '1 us' FROM o), false), (SELECT count(*) FROM u)";

/* Nodes silent for D are gone: their claims pending again at their due
 * instant with a new fence, so a late retire of theirs finds no row,
 * and their rows deleted once no claim of theirs is left (a node that
 * comes back registers again, after a gap). Rows a stalled node's open
 * transaction still holds are skipped, not waited for (its commit may
 * yet retire them); its row then stays, dead, so that the next reap
 * takes them (deleted at once, its skipped claims would be no dead
 * node's any more, left to their claim lease). Two nodes reaping at
 * once: the second skips the node rows the first locked. */
static const char store_pg_node_reap_sql[] =
    "WITH d AS (SELECT node, pid, last_seen FROM evd.nodes WHERE node <> $1"
    " AND last_seen < clock_timestamp() - $2::int8 * interval '1 us'"
    " FOR UPDATE SKIP LOCKED),"
    /* Their listening connections ended (if still there and ours to
     * end): a node that stopped reading (SIGSTOP, a hung loop) would
     * otherwise hold PostgreSQL's NOTIFY queue, shared by the whole
     * server, from ever being freed. Its backend is the one of its
     * last heartbeat: started before it, unlike one that reuses its
     * pid. The node, if it comes back, reconnects after a gap. */
    " kill AS (SELECT pg_terminate_backend(a.pid) FROM d"
    " JOIN pg_stat_activity a ON a.pid = d.pid"
    " WHERE a.backend_start <= d.last_seen"
    " AND pg_has_role(a.usesysid, 'MEMBER')),"
    " x AS (SELECT id, claim_node FROM evd.timers WHERE state = 'C' AND"
    " claim_node IN (SELECT node FROM d) AND EXISTS (SELECT 1 FROM d)"
    " FOR UPDATE SKIP LOCKED),"
    " r AS (UPDATE evd.timers t SET state = 'P', claim_node = NULL,"
    " fence = t.fence + 1, vis_at = " VIS("t.due_rt_ns")
    " FROM x WHERE t.id = x.id RETURNING 1),"
    /* Their message claims alike: given back, fenced anew, claimable
     * at once by a node with subscribers (announced on evd_msg). */
    " xm AS (SELECT fire_id, consumer FROM evd.messages WHERE"
    " consumer IN (SELECT node FROM d) AND EXISTS (SELECT 1 FROM d)"
    " FOR UPDATE SKIP LOCKED),"
    " rm AS (UPDATE evd.messages m SET consumer = NULL, vis_at = NULL,"
    " fence = m.fence + 1 FROM xm WHERE m.fire_id = xm.fire_id"
    " RETURNING m.channel),"
    " nm AS (SELECT pg_notify('" STORE_PG_MSG_CHANNEL "', c.channel)"
    " FROM (SELECT DISTINCT channel FROM rm) c),"
    " dead AS (DELETE FROM evd.nodes n USING d WHERE n.node = d.node"
    " AND (SELECT count(*) FROM evd.timers t WHERE t.state = 'C'"
    " AND t.claim_node = d.node) ="
    " (SELECT count(*) FROM x WHERE x.claim_node = d.node)"
    " AND (SELECT count(*) FROM evd.messages m WHERE"
    " m.consumer = d.node) ="
    " (SELECT count(*) FROM xm WHERE xm.consumer = d.node)"
    " RETURNING n.node),"
    /* A node gone for good leaves its message count rows (slots,
     * msg_counts): folded into the shared slot, so that the table does
     * not grow by a slot per node start. A row a stalled transaction of
     * it still holds is skipped, not waited for, and stays: the sums
     * are right either way. */
    " mcx AS (SELECT channel, owner, slot FROM evd.msg_counts"
    " WHERE slot IN (SELECT node FROM d) FOR UPDATE SKIP LOCKED),"
    " mc AS (DELETE FROM evd.msg_counts c USING mcx"
    " WHERE c.channel = mcx.channel AND c.owner = mcx.owner"
    " AND c.slot = mcx.slot AND c.slot IN (SELECT node FROM dead)"
    " RETURNING c.channel, c.owner, c.n),"
    " mf AS (INSERT INTO evd.msg_counts AS c (channel, owner, slot, n)"
    " SELECT channel, owner, '', sum(n) FROM mc GROUP BY channel, owner"
    " ORDER BY channel, owner"
    " ON CONFLICT (channel, owner, slot) DO UPDATE SET n = c.n + excluded.n"
    " RETURNING 1)"
    " SELECT (SELECT count(*) FROM dead), (SELECT count(*) FROM r),"
    " (SELECT count(*) FROM rm), (SELECT count(*) FROM nm),"
    " (SELECT count(*) FROM kill)";

/* n->kw/val from the conninfo, and its servers. 0, -ENOMEM, or
 * -EINVAL (err says why). */
static int
store_pg_node_params(struct store_pg_node *n, char *err, size_t errsize)
{
	size_t cap = sizeof(store_pg_node_kw) / sizeof(store_pg_node_kw[0]);
	char *why = NULL;
	PQconninfoOption *o;
	int r;

	if ((n->opts = PQconninfoParse(n->conninfo, &why)) == NULL) {
		/* Its text may quote a password: the store's open, which
		 * comes next with the same conninfo, says what is wrong. */
		snprintf(err, errsize, "bad PostgreSQL conninfo");
		PQfreemem(why);
		return why != NULL ? -EINVAL : -ENOMEM;
	}
	for (o = n->opts; o->keyword != NULL; o++)
		cap++;
	if ((n->kw = calloc(cap + 2, sizeof(*n->kw))) == NULL ||
	    (n->val = calloc(cap + 2, sizeof(*n->val))) == NULL) {
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	/* Later keywords win: ours, the conninfo's, then options. */
	for (size_t i = 0; i < sizeof(store_pg_node_kw) /
	                           sizeof(store_pg_node_kw[0]);
	     i++) {
		n->kw[n->nkw] = store_pg_node_kw[i][0];
		n->val[n->nkw++] = store_pg_node_kw[i][1];
	}
	for (o = n->opts; o->keyword != NULL; o++)
		if (o->val != NULL && strcmp(o->keyword, "options") != 0) {
			n->kw[n->nkw] = o->keyword;
			n->val[n->nkw++] = o->val;
		}
	n->kw[n->nkw] = "options";
	n->val[n->nkw++] = n->options;
	if ((r = pgaddr_new(n->kw, n->val, &n->addr, err, errsize)) < 0)
		return r;
	return 0;
}

static int
store_pg_node_connect(struct store_pg_node *n, char *err, size_t errsize)
{
	PGresult *res;

	/* The loop waits for this connect (start-up only): libpq goes
	 * through the servers itself, each bounded by connect_timeout (2 s
	 * unless the conninfo says otherwise). */
	PQfinish(n->conn);
	n->conn = store_pg_quiet(PQconnectdbParams(n->kw, n->val, 0));
	n->kind = 0;
	n->got = false;
	n->connecting = false;
	if (n->conn == NULL || PQstatus(n->conn) != CONNECTION_OK) {
		snprintf(err, errsize, "cannot connect to PostgreSQL: %s",
		         n->conn ? PQerrorMessage(n->conn) : "out of memory");
		PQfinish(n->conn);
		n->conn = NULL;
		return -ENOTCONN;
	}
	n->answered = true;
	/* A reconnect starts with the server libpq found. */
	n->tgt = pgaddr_find(n->addr, PQhost(n->conn), PQhostaddr(n->conn),
	                     PQport(n->conn));
	res = PQexec(n->conn, n->lock_timeout);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(err, errsize, "PostgreSQL: %s",
		         PQresultErrorMessage(res));
		PQclear(res);
		PQfinish(n->conn);
		n->conn = NULL;
		return -EIO;
	}
	PQclear(res);
	return 0;
}

/* What the node connection listens for: evd_msg (a message waits
 * unclaimed), and evd_node_<id>, which other nodes notify when they
 * cancel a timer this node holds (cancel_any; ids are numbers). */
static void
store_pg_node_listen_sql(const struct store_pg_node *n, char *buf,
                         size_t size)
{
	snprintf(buf, size, "LISTEN " STORE_PG_MSG_CHANNEL "; LISTEN "
	         "evd_node_%s", n->id);
}

/* Blocking (open only). */
static int
store_pg_node_listen(struct store_pg_node *n, char *err, size_t errsize)
{
	char sql[96];
	PGresult *res;

	store_pg_node_listen_sql(n, sql, sizeof(sql));
	res = PQexec(n->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(err, errsize, "PostgreSQL: %s",
		         PQresultErrorMessage(res));
		PQclear(res);
		return -EIO;
	}
	PQclear(res);
	return 0;
}

/* A timer another node cancelled, or took over with a new fence. */
struct store_pg_notice {
	uint64_t id, fence;
	int64_t seq;
	bool taken;
};

/* Keeps channel name (an evd_msg payload) among n's hints, once. */
static void
store_pg_node_hint(struct store_pg_node *n, const char *name)
{
	size_t i;

	if (n->hint_all)
		return;
	for (i = 0; i < n->nhints; i++)
		if (strcmp(n->hints[i], name) == 0)
			return;
	if (n->nhints == STORE_PG_HINTS_MAX ||
	    (n->hints[n->nhints] = strdup(name)) == NULL) {
		n->hint_all = true;
		return;
	}
	n->nhints++;
}

size_t
store_pg_node_msg_take(struct store_pg_node *n, char **ret, bool *ret_all)
{
	size_t k = n->nhints;

	memcpy(ret, n->hints, k * sizeof(*ret));
	*ret_all = n->hint_all;
	n->nhints = 0;
	n->hint_all = false;
	return k;
}

/* Moves what the server notified into n->notified; out of memory, a
 * notice is dropped (the timer's fenced retire fails instead). */
static void
store_pg_node_collect(struct store_pg_node *n)
{
	PGnotify *nt;

	while ((nt = PQnotifies(n->conn)) != NULL) {
		char *end;
		unsigned long long id, fence, seq;
		bool taken;

		/* evd_msg's payload is a channel name, which may well be a
		 * number: told apart by the name, never by the payload. */
		if (strcmp(nt->relname, STORE_PG_MSG_CHANNEL) == 0) {
			n->msg_hint = true;
			store_pg_node_hint(n, nt->extra);
			PQfreemem(nt);
			continue;
		}
		/* "t<id>:<fence>": taken over (take_any) with that fence;
		 * "<id>": cancelled. */
		taken = nt->extra[0] == 't';
		id = strtoull(nt->extra + taken, &end, 10);
		fence = seq = 0;
		if (taken && *end == ':') {
			const char *f = end + 1;

			fence = strtoull(f, &end, 10);
			if (end == f || *end != ':') {
				end = (char *)"x"; /* malformed */
			} else {
				f = end + 1;
				seq = strtoull(f, &end, 10);
				if (end == f || seq > INT64_MAX)
					end = (char *)"x";
			}
		}
		if (end != nt->extra + taken && *end == '\0' && id != 0 &&
		    id <= INT64_MAX && (!taken || fence != 0)) {
			if (n->headnotified == n->nnotified)
				n->headnotified = n->nnotified = 0;
			if (n->nnotified == n->capnotified) {
				size_t cap = n->capnotified ? 2 * n->capnotified
				                            : 64;
				struct store_pg_notice *v = reallocarray(
				    n->notified, cap, sizeof(*v));

				if (v != NULL) {
					n->notified = v;
					n->capnotified = cap;
				}
			}
			if (n->nnotified < n->capnotified)
				n->notified[n->nnotified++] =
				    (struct store_pg_notice){ id, fence,
				                              (int64_t)seq,
				                              taken };
		}
		PQfreemem(nt);
	}
}

int
store_pg_node_notified(struct store_pg_node *n, uint64_t *ret_id,
                       bool *ret_taken, uint64_t *ret_fence,
                       int64_t *ret_seq)
{
	struct store_pg_notice v;

	if (n->headnotified == n->nnotified)
		return 0;
	v = n->notified[n->headnotified++];
	*ret_taken = v.taken;
	*ret_id = v.id;
	*ret_fence = v.fence;
	*ret_seq = v.seq;
	return 1;
}

int
store_pg_node_open(const char *conninfo, struct store_pg_node **ret,
                   char *err, size_t errsize)
{
	struct store_pg_node *n;
	PGresult *res;
	int r;

	if ((n = calloc(1, sizeof(*n))) == NULL ||
	    (n->conninfo = strdup(conninfo)) == NULL ||
	    (n->options = store_pg_node_options(conninfo)) == NULL) {
		store_pg_node_close(n);
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	if ((r = store_pg_node_params(n, err, errsize)) < 0)
		goto fail;
	/* Short: a reap waits no longer for a stalled node's rows. */
	snprintf(n->lock_timeout, sizeof(n->lock_timeout),
	         "SET lock_timeout = '200ms'");
	if ((r = store_pg_node_connect(n, err, errsize)) < 0)
		goto fail;
	/* The schema (its node id sequence) may not exist yet: the store
	 * opened after this would make it. */
	if ((r = store_pg_migrate(NULL, n->conn)) < 0) {
		snprintf(err, errsize, "%s", store_pg_open_err);
		goto fail;
	}
	res = PQexec(n->conn, "INSERT INTO evd.nodes (node, started_at,"
	                      " last_seen, pid) VALUES"
	                      " (nextval('evd.node_ids')::text,"
	                      " clock_timestamp(), clock_timestamp(),"
	                      " pg_backend_pid()) RETURNING node");
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		snprintf(err, errsize, "cannot register the node: %s",
		         PQresultErrorMessage(res));
		PQclear(res);
		r = -EIO;
		goto fail;
	}
	snprintf(n->id, sizeof(n->id), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if ((r = store_pg_node_listen(n, err, errsize)) < 0)
		goto fail;
	*ret = n;
	return 0;
fail:
	store_pg_node_close(n);
	return r;
}

void
store_pg_node_close(struct store_pg_node *n)
{
	if (n == NULL)
		return;
	PQfinish(n->conn);
	pgaddr_free(n->addr);
	free(n->kw);
	free(n->val);
	PQconninfoFree(n->opts);
	free(n->conninfo);
	free(n->options);
	free(n->notified);
	while (n->nhints > 0)
		free(n->hints[--n->nhints]);
	free(n);
}

const char *
store_pg_node_id(const struct store_pg_node *n)
{
	return n->id;
}

int
store_pg_node_fd(const struct store_pg_node *n)
{
	return n->conn != NULL ? PQsocket(n->conn) : -1;
}

bool
store_pg_node_busy(const struct store_pg_node *n)
{
	return n->kind != 0 || n->connecting;
}

int
store_pg_node_want(const struct store_pg_node *n)
{
	return n->connecting ? n->want : STORE_PG_WANT_READ;
}

void
store_pg_node_abandon(struct store_pg_node *n)
{
	PQfinish(n->conn);
	n->conn = NULL;
	n->kind = 0;
	n->got = false;
	n->connecting = false;
}

static void store_pg_oneline(char *buf);

static int store_pg_node_try(struct store_pg_node *n, char *err,
                             size_t errsize);
static bool store_pg_node_next(struct store_pg_node *n);

/* One step of a reconnect: 1 connected, 0 under way (want says for
 * what: perhaps an attempt at the next server), -ENOTCONN failed (err
 * says why). */
static int
store_pg_node_step(struct store_pg_node *n, PostgresPollingStatusType st,
                   char *err, size_t errsize)
{
	switch (st) {
	case PGRES_POLLING_OK:
		n->connecting = false;
		n->answered = true;
		n->round_left = 0;
		return 1;
	case PGRES_POLLING_READING:
		n->want = STORE_PG_WANT_READ;
		return 0;
	case PGRES_POLLING_WRITING:
		n->want = STORE_PG_WANT_WRITE;
		return 0;
	default:
		snprintf(err, errsize, "cannot connect to PostgreSQL: %s",
		         n->conn != NULL ? PQerrorMessage(n->conn)
		                         : "out of memory");
		store_pg_oneline(err);
		store_pg_node_abandon(n);
		/* Refused, or not read-write: the next server at once. */
		if (!store_pg_node_next(n)) {
			char more[256];

			if (store_pg_node_try(n, more, sizeof(more)) == 0)
				return 0;
		}
		return -ENOTCONN;
	}
}

/* Starts an attempt at target n->tgt: 0 under way, -ENOTCONN failed at
 * once (err says why). */
static int
store_pg_node_start(struct store_pg_node *n, char *err, size_t errsize)
{
	size_t cap = n->nkw + 5;
	const char **kw = NULL, **val = NULL;
	int r;

	if ((kw = calloc(cap, sizeof(*kw))) == NULL ||
	    (val = calloc(cap, sizeof(*val))) == NULL) {
		free(kw);
		snprintf(err, errsize, "out of memory");
		return -ENOTCONN;
	}
	r = pgaddr_params(n->addr, n->tgt, n->kw, n->val, kw, val, cap, err,
	                  errsize);
	n->conn = r < 0 ? NULL
	                : store_pg_quiet(PQconnectStartParams(kw, val, 0));
	free(kw);
	free(val);
	if (r == 0 && (n->conn == NULL || PQstatus(n->conn) == CONNECTION_BAD))
		snprintf(err, errsize, "cannot connect to PostgreSQL: %s",
		         n->conn != NULL ? PQerrorMessage(n->conn)
		                         : "out of memory");
	if (r < 0 || n->conn == NULL || PQstatus(n->conn) == CONNECTION_BAD) {
		store_pg_oneline(err);
		store_pg_node_abandon(n);
		return -ENOTCONN;
	}
	n->connecting = true;
	/* As libpq says: poll first once the socket is writable. */
	n->want = STORE_PG_WANT_WRITE;
	return 0;
}

/* The attempt at n->tgt ended without a connection: the next target.
 * True when that ended a round (the names are then looked up anew). */
static bool
store_pg_node_next(struct store_pg_node *n)
{
	if (++n->tgt >= pgaddr_count(n->addr))
		n->tgt = 0;
	if (n->round_left > 0)
		n->round_left--;
	if (n->round_left > 0)
		return false;
	(void)pgaddr_refresh(n->addr);
	return true;
}

/* Starts n->tgt and, while attempts fail at once, the following
 * targets, to the end of the round. */
static int
store_pg_node_try(struct store_pg_node *n, char *err, size_t errsize)
{
	for (;;) {
		if (n->round_left == 0)
			n->round_left = pgaddr_count(n->addr);
		if (store_pg_node_start(n, err, errsize) == 0)
			return 0;
		if (store_pg_node_next(n))
			return -ENOTCONN;
	}
}

int
store_pg_node_reconnect(struct store_pg_node *n, char *err, size_t errsize)
{
	store_pg_node_abandon(n);
	/* The caller bounds each attempt (cluster.c): one it gave up
	 * gives way to the next server; after a loss the server that
	 * answered last is tried first. */
	if (!n->answered)
		(void)store_pg_node_next(n);
	else
		n->round_left = 0;
	n->answered = false;
	return store_pg_node_try(n, err, errsize);
}

static int
store_pg_node_send(struct store_pg_node *n, int kind, const char *sql,
                   int64_t death_ns)
{
	const char *v[2];
	char num[24], err[256];

	if (n->kind != 0 || n->connecting)
		return -EBUSY;
	/* Lost: a reconnect starts, never waited for; the caller sends
	 * again once it is done (store_pg_node_read says 1). */
	if (n->conn == NULL || PQstatus(n->conn) != CONNECTION_OK)
		return store_pg_node_reconnect(n, err, sizeof(err)) < 0
		               ? -ENOTCONN
		               : -EINPROGRESS;
	snprintf(num, sizeof(num), "%" PRId64, death_ns / 1000);
	v[0] = n->id;
	v[1] = num;
	if (!PQsendQueryParams(n->conn, sql, 2, NULL, v, NULL, NULL, 0)) {
		PQfinish(n->conn);
		n->conn = NULL;
		return -ENOTCONN;
	}
	n->kind = kind;
	n->got = false;
	memset(&n->res, 0, sizeof(n->res));
	n->res.kind = kind;
	return 0;
}

bool
store_pg_node_msg_hint(struct store_pg_node *n)
{
	bool r = n->msg_hint;

	n->msg_hint = false;
	return r;
}

int
store_pg_node_beat(struct store_pg_node *n, int64_t death_ns)
{
	return store_pg_node_send(n, STORE_PG_BEAT, store_pg_node_beat_sql,
	                          death_ns);
}

int
store_pg_node_reap(struct store_pg_node *n, int64_t death_ns)
{
	return store_pg_node_send(n, STORE_PG_REAP, store_pg_node_reap_sql,
	                          death_ns);
}

/* libpq's messages end in a newline and may hold more lines: one. */
static void
store_pg_oneline(char *buf)
{
	size_t n = strlen(buf);

	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (buf[i] == '\n' || buf[i] == '\t')
			buf[i] = ' ';
}

static int store_pg_node_read1(struct store_pg_node *n,
                               struct store_pg_node_beat *ret, char *err,
                               size_t errsize);

int
store_pg_node_read(struct store_pg_node *n, struct store_pg_node_beat *ret,
                   char *err, size_t errsize)
{
	int r = store_pg_node_read1(n, ret, err, errsize);

	/* Reading results parses the notices that came with them. */
	if (n->conn != NULL && !n->connecting)
		store_pg_node_collect(n);
	if (r < 0)
		store_pg_oneline(err);
	return r;
}

static int
store_pg_node_read1(struct store_pg_node *n, struct store_pg_node_beat *ret,
                    char *err, size_t errsize)
{
	PGresult *res;
	int r = 0;

	if (n->conn == NULL)
		return 0;
	if (n->connecting) {
		char sql[96];

		r = store_pg_node_step(n, PQconnectPoll(n->conn), err,
		                       errsize);
		if (r <= 0)
			return r;
		/* Connected: listen again before anything else, and say
		 * so once the server answered it (one statement at a
		 * time). */
		store_pg_node_listen_sql(n, sql, sizeof(sql));
		if (!PQsendQuery(n->conn, sql)) {
			snprintf(err, errsize, "PostgreSQL: %s",
			         PQerrorMessage(n->conn));
			store_pg_node_abandon(n);
			return -ENOTCONN;
		}
		n->kind = STORE_PG_LISTEN;
		n->got = false;
		memset(&n->res, 0, sizeof(n->res));
		n->res.kind = STORE_PG_CONNECTED;
		return 0;
	}
	/* Readable with nothing in flight: a notice, or the server's
	 * goodbye; read, so that the socket does not stay readable. */
	if (!PQconsumeInput(n->conn))
		goto lost;
	store_pg_node_collect(n);
	if (n->kind == 0) {
		while ((res = PQgetResult(n->conn)) != NULL)
			PQclear(res);
		if (PQstatus(n->conn) == CONNECTION_OK)
			return 0;
		goto lost;
	}
	while (!PQisBusy(n->conn)) {
		if ((res = PQgetResult(n->conn)) == NULL) {
			/* The end of the statement's results. */
			*ret = n->res;
			n->kind = 0;
			if (r == 0 && !n->got) {
				snprintf(err, errsize, "PostgreSQL sent no "
				         "result");
				return -EIO;
			}
			return r < 0 ? r : 1;
		}
		if (n->kind == STORE_PG_LISTEN) {
			if (PQresultStatus(res) == PGRES_COMMAND_OK)
				n->got = true;
			else if (r == 0) {
				snprintf(err, errsize, "PostgreSQL: %s",
				         PQresultErrorMessage(res));
				r = -EIO;
			}
		} else if (PQresultStatus(res) != PGRES_TUPLES_OK ||
		    PQntuples(res) != 1) {
			if (r == 0) {
				snprintf(err, errsize, "PostgreSQL: %s",
				         PQresultErrorMessage(res));
				r = -EIO;
			}
		} else if (n->kind == STORE_PG_BEAT) {
			n->res.fresh = PQgetvalue(res, 0, 0)[0] == 't';
			n->got = true;
		} else {
			n->res.reaped_nodes = strtoull(PQgetvalue(res, 0, 0),
			                               NULL, 10);
			n->res.reaped_timers = strtoull(PQgetvalue(res, 0, 1),
			                                NULL, 10);
			n->res.reaped_messages =
				strtoull(PQgetvalue(res, 0, 2), NULL, 10);
			n->got = true;
		}
		PQclear(res);
	}
	if (PQstatus(n->conn) == CONNECTION_OK)
		return 0;
lost:
	snprintf(err, errsize, "the PostgreSQL connection was lost: %s",
	         PQerrorMessage(n->conn));
	PQfinish(n->conn);
	n->conn = NULL;
	n->kind = 0;
	return -ENOTCONN;
}

int
store_pg_node_leave(struct store_pg_node *n, char *err, size_t errsize)
{
	const char *v[1] = { n->id };
	PGresult *res;
	int r = 0;

	if (n->conn == NULL || PQstatus(n->conn) != CONNECTION_OK) {
		snprintf(err, errsize, "not connected to PostgreSQL");
		return -ENOTCONN;
	}
	/* What is in flight first: its results, whatever they say. */
	while ((res = PQgetResult(n->conn)) != NULL)
		PQclear(res);
	n->kind = 0;
	res = PQexecParams(n->conn,
	                   "WITH r AS (UPDATE evd.timers SET state = 'P',"
	                   " claim_node = NULL, fence = fence + 1, vis_at = "
	                   VIS("due_rt_ns") " WHERE state = 'C' AND"
	                   " claim_node = $1 RETURNING 1),"
	                   " m AS (UPDATE evd.messages SET consumer = NULL,"
	                   " vis_at = NULL, fence = fence + 1"
	                   " WHERE consumer = $1 RETURNING channel),"
	                   " nm AS (SELECT pg_notify('" STORE_PG_MSG_CHANNEL
	                   "', c.channel) FROM (SELECT DISTINCT channel"
	                   " FROM m) c)"
	                   " DELETE FROM evd.nodes WHERE node = $1"
	                   " AND (SELECT count(*) FROM r) >= 0"
	                   " AND (SELECT count(*) FROM nm) >= 0",
	                   1, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(err, errsize, "PostgreSQL: %s",
		         PQresultErrorMessage(res));
		r = -EIO;
	}
	PQclear(res);
	return r;
}

/* The loop's connection is in pipeline mode: one query and its sync. */
static int
store_pg_test_sql_loop(struct store *s, const char *sql, PGresult **res)
{
	if (s->conn == NULL ||
	    !PQsendQueryParams(s->conn, sql, 0, NULL, NULL, NULL, NULL, 0) ||
	    !PQpipelineSync(s->conn))
		return -EIO;
	return store_pg_collect(s, 1, 0, -1, res, "test", false);
}

int
store_pg_test_sql(struct store *s, struct store_pg_node *n, const char *sql,
                  char *buf, size_t size)
{
	PGresult *res = NULL;
	int r = 0;

	if (n != NULL) {
		res = PQexec(n->conn, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			r = -EIO;
	} else {
		r = store_pg_test_sql_loop(s, sql, &res);
	}
	if (r == 0 && PQntuples(res) >= 1)
		snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
	else if (r == 0)
		r = -EIO;
	PQclear(res);
	return r;
}
