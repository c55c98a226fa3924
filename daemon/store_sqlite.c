/*
 * store_sqlite: the embedded durable store (see store.h), one SQLite
 * database <state_dir>/evd.db in WAL mode.
 *
 * Owns the connection, its prepared statements (made once at open, reset
 * after every use) and the lock on <state_dir>/evd.lock. Must not log:
 * failures are negative errno plus a reason in store_errmsg().
 *
 * Invariants:
 *	one evd per state directory: an flock(LOCK_EX) on evd.lock is held
 *	from open to close, taken before the database is touched;
 *	the schema is PRAGMA user_version; store_sqlite_migrations[i] takes
 *	version i to i + 1, each in its own transaction; a newer database
 *	than this evd knows is refused, never downgraded;
 *	timers has no deadline index: the daemon's queue orders timers and
 *	claim() is a scan in rowid order, the cheapest way to load them all;
 *	its only index is the partial unique (uid, key) over pending rows,
 *	so a finished timer's key can be used again;
 *	a timer's state is 'P' pending, 'F' finished or 'C' cancelled: a
 *	cancel keeps the row and its runs like a last fire does, so Get,
 *	Wait and find_key see cancelled timers as they see finished ones;
 *	runs are pruned to history_per_timer per timer as they are appended;
 *	rowids only grow, so rowid order is append order;
 *	finished and cancelled timers (and their runs) are deleted
 *	finished_keep_ns after they ended, by a sweep over one bounded id
 *	range at open and after commits, so no commit pays for a full scan:
 *	a step per PRUNE_SPAN rows finished or cancelled, so that the sweep
 *	covers ids as fast as rows end however many a commit groups (rows
 *	ended and not yet swept stay fewer than the table's id span), else
 *	one per PRUNE_EVERY commits; the sweep also
 *	drops runs of ids no stored timer has
 *	(the daemon is expected to record runs of durable timers only);
 *	nothing here grows per operation: statements are fixed, strings are
 *	bound SQLITE_STATIC and rows are read in place (but by claim(),
 *	which copies them into a few batches it frees before returning);
 *	retained output (stdout/stderr of runs) is tallied per uid of the
 *	run's timer as rows come and go (deletes say what they removed with
 *	RETURNING): out_pending holds the open transaction's changes,
 *	out_done the committed ones not yet reported (output_changes); a
 *	rollback drops out_pending. Both hold one entry per uid touched, so
 *	they grow with the uids of one batch at most.
 * Callbacks of load_messages()/runs() run while their statement is
 * stepping: they may call other store functions, but must not write the
 * table being scanned (SQLite leaves what the scan then sees undefined);
 * collect first, write after. claim()'s callback runs while a reader
 * thread steps the scan (see store_sqlite_claim) and must not call the
 * store at all.
 *
 * Damage is refused at open, never mistaken for an empty store:
 *	evd.created is written (and synced) once a store here is complete;
 *	a missing or empty evd.db beside it is a lost store;
 *	evd.running exists from a successful open until a clean close
 *	(after the WAL was checkpointed into evd.db): found at open, the
 *	last evd stopped uncleanly and its last commits may live only in
 *	evd.db-wal, so a missing evd.db-wal means lost commits, and so
 *	do frames that check out after one that does not (see
 *	store_sqlite_wal_scan);
 *	an existing database is checkpointed and then checked (see
 *	store_sqlite_verify) before anything of evd is written to it.
 * SQLite's own reports (a WAL recovered, corruption it met) go to the
 * store_log_fn of the first open that passed one.
 */
#include "store.h"
#include "store_out.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <sqlite3.h>

#include "clock.h"
#include "exec_blob.h"
#include "wirestr.h"

#define STORE_SQLITE_DB "evd.db"
#define STORE_SQLITE_LOCK "evd.lock"
#define STORE_SQLITE_CREATED "evd.created"
#define STORE_SQLITE_RUNNING "evd.running"
#define STORE_SQLITE_SYNCED "evd.synced"
/*
 * The check at open reads every page with PRAGMA quick_check up to this
 * size: about 5 ms per MiB here (0.37 s for a million timers, 70 MiB),
 * while a restart with a million timers has a 1 s budget. Past it only
 * the cheap checks run (the file's size against its page count, and
 * quick_check of the schema and of meta); the timers, messages and
 * channels are read whole by the load that follows, which fails on a
 * page SQLite finds malformed.
 */
#define QUICK_CHECK_MAX_BYTES (INT64_C(64) << 20)
#define BUSY_TIMEOUT_MS 100
/* Page cache: -KiB. Loads read each page once; this mostly keeps the
 * upper b-tree levels and the pages recent inserts touch. */
#define CACHE_KIB 16384
#define WAL_KEEP_BYTES (64 << 20)
#define PRUNE_EVERY 64	/* commits between sweep steps, at least */
#define PRUNE_SPAN 1024 /* timer ids per sweep step */
/* Sweep steps after one commit, at most (each is a transaction over
 * PRUNE_SPAN ids): the rest wait for the next commits. */
#define PRUNE_STEPS_MAX 4
/* The sweep's cursor, in meta beside the daemon's own keys. */
#define META_PRUNE_CURSOR "store.prune_cursor"

/* Version i + 1 of the schema is what migrations[i] leaves. Append only:
 * a released step is never edited. */
static const char *const store_sqlite_migrations[] = {
    /* 1: initial schema. */
    "CREATE TABLE timers ("
    " id INTEGER PRIMARY KEY,"
    " fence INTEGER NOT NULL DEFAULT 0,"
    " state TEXT NOT NULL," /* 'P' pending, 'F' finished */
    " uid INTEGER NOT NULL,"
    " gid INTEGER NOT NULL,"
    " clock INTEGER NOT NULL,"
    " deadline_ns INTEGER NOT NULL,"
    " due_rt_ns INTEGER NOT NULL,"
    " boot_id BLOB," /* 16 bytes for a UUID, else text */
    " created_rt_ns INTEGER NOT NULL,"
    " channel TEXT,"
    " payload BLOB,"
    " key TEXT,"
    " misfire INTEGER NOT NULL,"
    " delivery INTEGER NOT NULL,"
    " downtime INTEGER NOT NULL,"
    " max_attempts INTEGER NOT NULL,"
    " fire_count INTEGER NOT NULL,"
    " last_fired_rt_ns INTEGER NOT NULL,"
    " finished_rt_ns INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX timers_key ON timers (uid, key)"
    " WHERE key IS NOT NULL AND state = 'P';"
    "CREATE TABLE messages ("
    " fire_id INTEGER PRIMARY KEY,"
    " timer_id INTEGER NOT NULL,"
    " owner INTEGER NOT NULL,"
    " channel TEXT NOT NULL,"
    " payload BLOB,"
    " due_rt_ns INTEGER NOT NULL,"
    " fired_rt_ns INTEGER NOT NULL,"
    " lateness_ns INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL,"
    " max_attempts INTEGER NOT NULL,"
    " delivery INTEGER NOT NULL,"
    " dead INTEGER NOT NULL);"
    "CREATE TABLE runs ("
    " timer_id INTEGER NOT NULL,"
    " fire_id INTEGER NOT NULL,"
    " due_rt_ns INTEGER NOT NULL,"
    " fired_rt_ns INTEGER NOT NULL,"
    " lateness_ns INTEGER NOT NULL,"
    " outcome INTEGER NOT NULL,"
    " detail TEXT);"
    "CREATE INDEX runs_timer ON runs (timer_id);"
    "CREATE TABLE meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"
    " WITHOUT ROWID;",
    /* 2: idempotency keys outlive the fire: a retry after the timer
     * fired finds it among the finished ones (find_key). */
    "CREATE INDEX timers_key_any ON timers (uid, key)"
    " WHERE key IS NOT NULL;",
    /* 3: channels have owners and grants. */
    "CREATE TABLE channels (name TEXT PRIMARY KEY, owner INTEGER NOT NULL,"
    " grants BLOB) WITHOUT ROWID;",
    /* 4: exec hooks: the command of a timer, and how each run ended. */
    "ALTER TABLE timers ADD COLUMN exec BLOB;"
    "ALTER TABLE runs ADD COLUMN exit_code INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE runs ADD COLUMN signal INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE runs ADD COLUMN duration_ns INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE runs ADD COLUMN stdout BLOB;"
    "ALTER TABLE runs ADD COLUMN stderr BLOB;",
    /* 5: repeating and calendar timers (the schedule, opaque), pause. */
    "ALTER TABLE timers ADD COLUMN sched BLOB;"
    "ALTER TABLE timers ADD COLUMN paused INTEGER NOT NULL DEFAULT 0;",
    /* 6: channels are named per owner, "UID:NAME" (channel.h). A name
     * meant the channel of the uid that first used it (its channels
     * row), else that of whoever wrote the message or timer.
     * store_sqlite_migrate_6 runs this after renaming on_failure inside
     * exec blobs, and then repairs strings that are not UTF-8. The channels
     * table is copied, not updated in place, so that "5:x" of uid 1 and
     * "x" of uid 5 never collide on the way. */
    "UPDATE messages SET channel = COALESCE((SELECT c.owner FROM channels c"
    " WHERE c.name = messages.channel), messages.owner) || ':' || channel;"
    "UPDATE timers SET channel = COALESCE((SELECT c.owner FROM channels c"
    " WHERE c.name = timers.channel), timers.uid) || ':' || channel"
    " WHERE channel IS NOT NULL;"
    "CREATE TABLE channels6 (name TEXT PRIMARY KEY,"
    " owner INTEGER NOT NULL, grants BLOB) WITHOUT ROWID;"
    "INSERT INTO channels6 SELECT owner || ':' || name, owner, grants"
    " FROM channels;"
    "DROP TABLE channels;"
    "ALTER TABLE channels6 RENAME TO channels;",
    /* 7: a message keeps why its last delivery failed (a subscriber's
     * Reject reason, a visibility timeout), shown with dead letters. */
    "ALTER TABLE messages ADD COLUMN reason TEXT;",
};

#define SCHEMA_VERSION                                                         \
	((int)(sizeof(store_sqlite_migrations) /                               \
	       sizeof(store_sqlite_migrations[0])))

#define TIMER_COLS                                                             \
	"id, fence, state, uid, gid, clock, deadline_ns, due_rt_ns, boot_id,"  \
	" created_rt_ns, channel, payload, key, misfire, delivery, downtime,"  \
	" max_attempts, fire_count, last_fired_rt_ns, finished_rt_ns, exec,"  \
	" sched, paused"
#define MSG_COLS                                                               \
	"fire_id, timer_id, owner, channel, payload, due_rt_ns, fired_rt_ns,"  \
	" lateness_ns, attempts, max_attempts, delivery, dead, reason"

/* Bytes of retained output of a runs row. */
#define RUN_OUT_BYTES_OF(t)                                                    \
	"IFNULL(length(" t ".stdout), 0) + IFNULL(length(" t ".stderr), 0)"
#define RUN_OUT_BYTES "IFNULL(length(stdout), 0) + IFNULL(length(stderr), 0)"

enum store_sqlite_stmt {
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
	ST_FIND_KEY,
	ST_ENQUEUE,
	ST_ACK,
	ST_UPDATE_MSG,
	ST_LOAD_MSGS,
	ST_CHANNEL_PUT,
	ST_LOAD_CHANNELS,
	ST_RUN_APPEND,
	ST_RUN_PRUNE,
	ST_RUNS,
	ST_META_GET,
	ST_META_PUT,
	ST_PRUNE_END,
	ST_PRUNE_RUNS,
	ST_PRUNE_TIMERS,
	ST_RUN_UID,
	ST_PRUNE_RUNS_BYTES,
	ST_OUTPUT_USAGE,
	ST_MAX_IDS,
	ST_LIST_ENDED,
	ST_COUNT
};

static const char *const store_sqlite_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SCHEDULE] = "INSERT INTO timers (" TIMER_COLS ") VALUES (?1, ?2,"
		    " 'P', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
		    " ?14, ?15, ?16, ?17, ?18, 0, ?19, ?20, ?21)",
    [ST_CANCEL] = "UPDATE timers SET state = 'C', finished_rt_ns = ?2"
		  " WHERE id = ?1 AND state = 'P'",
    /* No ORDER BY: rowid order is the scan the table is stored in. */
    [ST_CLAIM] = "SELECT " TIMER_COLS " FROM timers"
		 " WHERE state = 'P' AND due_rt_ns <= ?1",
    [ST_RETIRE_END] = "UPDATE timers SET state = 'F', finished_rt_ns = ?3,"
		      " fire_count = fire_count + 1, last_fired_rt_ns = ?3"
		      " WHERE id = ?1 AND fence = ?2 AND state = 'P'",
    [ST_RETIRE_NEXT] = "UPDATE timers SET deadline_ns = ?3, due_rt_ns = ?4,"
		       " boot_id = ?5, fire_count = ?6,"
		       " last_fired_rt_ns = ?7"
		       " WHERE id = ?1 AND fence = ?2 AND state = 'P'",
    [ST_RESCHEDULE] = "UPDATE timers SET deadline_ns = ?2, due_rt_ns = ?3,"
		      " boot_id = ?4, clock = ?5, paused = ?6"
		      " WHERE id = ?1 AND state = 'P'",
    [ST_REVIVE] = "UPDATE timers SET state = 'P', finished_rt_ns = 0,"
		  " deadline_ns = ?2, due_rt_ns = ?3, boot_id = ?4, clock = ?5,"
		  " paused = 0, exec = COALESCE(?6, exec)"
		  " WHERE id = ?1 AND state = 'F'",
    [ST_GET] = "SELECT " TIMER_COLS " FROM timers WHERE id = ?1",
    /* A walk of the primary key from ?1: ended rows are few beside the
     * pending ones only while a sweep keeps them so; ?2 < 0: all. */
    [ST_LIST_ENDED] = "SELECT " TIMER_COLS " FROM timers WHERE id > ?1"
		      " AND state IN ('F', 'C') AND (?2 < 0 OR uid = ?2)"
		      " ORDER BY id LIMIT ?3",
    [ST_FIND_KEY] = "SELECT " TIMER_COLS " FROM timers WHERE uid = ?1"
		    " AND key = ?2 ORDER BY id DESC LIMIT 1",
    [ST_ENQUEUE] = "INSERT INTO messages (" MSG_COLS ") VALUES (?1, ?2, ?3,"
		   " ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_ACK] = "DELETE FROM messages WHERE fire_id = ?1",
    [ST_UPDATE_MSG] = "UPDATE messages SET attempts = ?2, dead = ?3,"
		      " reason = ?4 WHERE fire_id = ?1",
    [ST_LOAD_MSGS] = "SELECT " MSG_COLS " FROM messages ORDER BY fire_id",
    [ST_CHANNEL_PUT] = "INSERT OR REPLACE INTO channels (name, owner, grants)"
		       " VALUES (?1, ?2, ?3)",
    [ST_LOAD_CHANNELS] = "SELECT name, owner, grants FROM channels",
    [ST_RUN_APPEND] = "INSERT INTO runs (timer_id, fire_id, due_rt_ns,"
		      " fired_rt_ns, lateness_ns, outcome, detail, exit_code,"
		      " signal, duration_ns, stdout, stderr)"
		      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
		      " ?12)",
    /* Everything older than the ?2-th newest: an index range of ?2 + 1
     * entries, not a scan. */
    [ST_RUN_PRUNE] = "DELETE FROM runs WHERE timer_id = ?1 AND rowid <="
		     " (SELECT rowid FROM runs WHERE timer_id = ?1"
		     " ORDER BY rowid DESC LIMIT 1 OFFSET ?2)"
		     " RETURNING " RUN_OUT_BYTES,
    [ST_RUNS] = "SELECT timer_id, fire_id, due_rt_ns, fired_rt_ns,"
		" lateness_ns, outcome, detail, exit_code, signal,"
		" duration_ns, stdout, stderr FROM runs"
		" WHERE timer_id = ?1 ORDER BY rowid DESC",
    [ST_META_GET] = "SELECT v FROM meta WHERE k = ?1",
    [ST_META_PUT] = "INSERT OR REPLACE INTO meta (k, v) VALUES (?1, ?2)",
    /* The sweep covers ids (?1, end]: end is the PRUNE_SPAN-th id after
     * ?1, or the rest of the table. */
    [ST_PRUNE_END] = "SELECT id FROM timers WHERE id > ?1 ORDER BY id"
		     " LIMIT 1 OFFSET ?2",
    /* Runs of expired timers and runs of no stored timer at all. */
    [ST_PRUNE_RUNS] = "DELETE FROM runs WHERE timer_id > ?1"
		      " AND timer_id <= ?2 AND timer_id NOT IN"
		      " (SELECT id FROM timers WHERE id > ?1 AND id <= ?2"
		      " AND (state = 'P' OR finished_rt_ns >= ?3))",
    [ST_PRUNE_TIMERS] = "DELETE FROM timers WHERE id > ?1 AND id <= ?2"
			" AND state <> 'P' AND finished_rt_ns < ?3",
    [ST_RUN_UID] = "SELECT uid FROM timers WHERE id = ?1",
    /* The output ST_PRUNE_RUNS is about to delete that someone was
     * charged for: runs of the expired timers (runs of no timer count
     * for nobody). */
    [ST_PRUNE_RUNS_BYTES] = "SELECT t.uid, SUM(" RUN_OUT_BYTES_OF("r") ")"
			    " FROM runs r JOIN timers t ON t.id = r.timer_id"
			    " WHERE r.timer_id > ?1 AND r.timer_id <= ?2"
			    " AND t.state <> 'P' AND t.finished_rt_ns < ?3"
			    " GROUP BY t.uid",
    /* length() of a blob reads its size, not its pages. */
    [ST_OUTPUT_USAGE] = "SELECT t.uid, SUM(" RUN_OUT_BYTES_OF("r") ")"
			" FROM runs r JOIN timers t ON t.id = r.timer_id"
			" GROUP BY t.uid",
    /* Both are rowids: one b-tree descent each. */
    [ST_MAX_IDS] = "SELECT (SELECT max(id) FROM timers),"
		   " (SELECT max(fire_id) FROM messages)",
};

/* Retained output bytes per uid, changed or to report. */
/* Owned by the daemon (open to close). */
struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST_COUNT];
	int lock_fd;
	uint32_t history_per_timer;
	int64_t keep_ns;      /* finished and cancelled rows, after they end */
	uint32_t commits;     /* since the last sweep step */
	uint64_t written;     /* rows finished or cancelled since a sweep
	                       * step paid for them */
	uint64_t written_tx;  /* ... by the open transaction */
	int64_t prune_cursor; /* the sweep resumes after this timer id */
	char boot_id[40];     /* get/claim rows are decoded into this */
	char err[1024];
	char dir[PATH_MAX];   /* the state directory */
	int rc;               /* SQLite's extended code for err */
	bool running;         /* evd.running is ours to remove at close */
	char path[PATH_MAX];  /* evd.db, and what it was when opened: */
	dev_t dev;
	ino_t ino;
	char wal[PATH_MAX];   /* evd.db-wal, and what it was when opened */
	dev_t wal_dev;
	ino_t wal_ino;
	/* --sync full: commits write the WAL (synchronous = NORMAL) and
	 * flush() fdatasyncs it from the daemon's sync thread, through
	 * wal_fd, then records in synced_fd how far the WAL is known to be
	 * on disk (see store_sqlite_flush). The loop never touches these
	 * two between open and close. */
	bool flushes;
	int wal_fd;
	int synced_fd;
	sqlite3 *ckpt_db;     /* the sync thread's own, for checkpoints */
	uint32_t wal_frames;  /* in the WAL after the last commit (hook) */
	/* The WAL as the last commit left it: its salts and frames, for the
	 * sync thread (under pos_lock). */
	pthread_mutex_t pos_lock;
	bool pos_known;
	uint32_t pos_salt[2];
	uint32_t pos_frames;
	struct store_out out_pending; /* the open transaction's */
	struct store_out out_done;    /* committed, not reported */
};

/* The reason the last open() failed (see store.h: errmsg(NULL)). */
static char store_sqlite_open_err[1024];
/* Where SQLite's log goes (store_sqlite_log_setup). */
static store_log_fn store_sqlite_log_fn;

static void store_sqlite_close(struct store *s);
static int store_sqlite_meta_get(struct store *s, const char *key,
				 int64_t *ret);
static int store_sqlite_meta_put(struct store *s, const char *key,
				 int64_t value);
static void store_sqlite_prune_step(struct store *s);
static void store_sqlite_out_settle(struct store *s);
static int store_sqlite_out_rows(struct store *s, enum store_sqlite_stmt i,
				 int sign, const char *what);

static void __attribute__((format(printf, 2, 3)))
store_sqlite_seterr(struct store *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
}

/* SQLite result code to negative errno. I/O errors carry the system's
 * errno, which tells a full disk (or file size limit) from a bad one. */
static int
store_sqlite_errno(sqlite3 *db, int rc)
{
	int sys;

	switch (rc & 0xff) {
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
	case SQLITE_PERM:
		return -EROFS;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_TOOBIG:
		/* A value past SQLITE_LIMIT_LENGTH: that row only. */
		return -E2BIG;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return -EUCLEAN;
	case SQLITE_CONSTRAINT:
		/* A taken id or (uid, key); NOT NULL and the like mean the
		 * caller passed a row that is not one. */
		if (rc == SQLITE_CONSTRAINT_UNIQUE ||
		    rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return -EEXIST;
		return -EINVAL;
	case SQLITE_CANTOPEN:
		sys = db != NULL ? sqlite3_system_errno(db) : 0;
		return sys > 0 ? -sys : -EIO;
	case SQLITE_IOERR:
		sys = db != NULL ? sqlite3_system_errno(db) : 0;
		if (sys == ENOSPC || sys == EFBIG || sys == EDQUOT)
			return -ENOSPC;
		if (sys == EROFS)
			return -EROFS;
		return -EIO;
	default:
		return -EIO;
	}
}

/*
 * Records why what failed and returns the errno for rc. A row error
 * (store.h) is one only while the batch's transaction is still open:
 * SQLite undoes just the failed statement on a constraint (ON CONFLICT
 * ABORT, the default) and keeps the transaction, but should it have
 * rolled the transaction back, the batch is lost and that is -EIO.
 * Every store call that writes more than one statement makes its
 * first the only one a row can fail, so a row error changed nothing.
 */
static int
store_sqlite_error(struct store *s, int rc, const char *what)
{
	int r = store_sqlite_errno(s->db, rc);

	s->rc = rc;
	if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB)
		store_sqlite_seterr(s,
				    "%s: %s (%s is corrupt: stop evd and "
				    "restore it from a backup)",
				    what, sqlite3_errmsg(s->db), s->path);
	else
		store_sqlite_seterr(s, "%s: %s", what, sqlite3_errmsg(s->db));
	if (STORE_ROW_ERROR(r) && sqlite3_get_autocommit(s->db))
		return -EIO;
	return r;
}

/* How much an SQLite log record matters to the operator. */
static enum store_log_level
store_sqlite_log_level(int code)
{
	switch (code & 0xff) {
	case SQLITE_NOTICE:
		return STORE_LOG_NOTICE;
	case SQLITE_WARNING:
		/* A query planned with a temporary index: ours are fixed. */
		return code == SQLITE_WARNING_AUTOINDEX ? STORE_LOG_INFO
							: STORE_LOG_WARNING;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_FULL:
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_MISUSE:
		return STORE_LOG_WARNING;
	case SQLITE_CONSTRAINT:
	case SQLITE_SCHEMA:
		/* The failed call says it (a request's error), or SQLite
		 * handles it (a statement prepared again). */
		return STORE_LOG_DEBUG;
	default:
		return STORE_LOG_INFO;
	}
}

/* SQLITE_CONFIG_LOG: may run inside any SQLite call, so it calls no
 * SQLite function (SQLite forbids it) and only formats and forwards. */
static void
store_sqlite_log_cb(void *arg, int code, const char *msg)
{
	char line[1024];

	(void)arg;
	if (store_sqlite_log_fn == NULL)
		return;
	snprintf(line, sizeof(line), "sqlite (code %d): %s", code,
		 msg != NULL ? msg : "");
	store_sqlite_log_fn(store_sqlite_log_level(code), line);
}

/*
 * Routes SQLite's log to fn. SQLITE_CONFIG_LOG is process-wide and
 * taken only before SQLite initializes (sqlite3_open does that), so the
 * first open with a log sets it up; later ones only change where it
 * goes. Start-up runs single-threaded, which sqlite3_config requires.
 */
static int
store_sqlite_log_setup(struct store *s, store_log_fn fn)
{
	static bool configured;
	int rc;

	store_sqlite_log_fn = fn;
	if (fn == NULL || configured)
		return 0;
	rc = sqlite3_config(SQLITE_CONFIG_LOG, store_sqlite_log_cb, NULL);
	/* Nothing reads SQLite's memory statistics, and keeping them
	 * takes a global mutex around every allocation of every statement
	 * (8% of the store thread's time in a run of cancels). */
	if (rc == SQLITE_OK)
		rc = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (rc != SQLITE_OK) {
		store_sqlite_seterr(s,
				    "cannot route SQLite's log: %s (was "
				    "SQLite used before the store opened?)",
				    sqlite3_errstr(rc));
		return -EINVAL;
	}
	configured = true;
	return 0;
}

/* Steps a statement that returns no rows, then resets it. */
static int
store_sqlite_exec(struct store *s, enum store_sqlite_stmt i, const char *what)
{
	sqlite3_stmt *st = s->st[i];
	int rc, r = 0;

	rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_sqlite_error(s, rc, what);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

/* Like store_sqlite_exec, then -ENOENT if no row changed. */
static int
store_sqlite_exec_one(struct store *s, enum store_sqlite_stmt i,
		      const char *what, int none)
{
	int r = store_sqlite_exec(s, i, what);

	if (r < 0)
		return r;
	if (sqlite3_changes(s->db) == 0) {
		store_sqlite_seterr(s, "%s: no such row", what);
		return none;
	}
	return 0;
}

static int
store_sqlite_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Boot ids are UUIDs: bound as their 16 bytes (20 fewer per row), or as
 * text if they are anything else; "" as NULL. */
static void
store_sqlite_bind_boot_id(sqlite3_stmt *st, int col, const char *boot_id,
			  uint8_t raw[16])
{
	size_t n = strnlen(boot_id, 39);
	size_t i, j = 0;
	int hi, lo;

	if (n == 0) {
		sqlite3_bind_null(st, col);
		return;
	}
	if (n != 36)
		goto text;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (boot_id[i] != '-')
				goto text;
			continue;
		}
		/* A pair never straddles a dash: each group is even. */
		hi = store_sqlite_hex(boot_id[i]);
		lo = store_sqlite_hex(boot_id[++i]);
		if (hi < 0 || lo < 0)
			goto text;
		raw[j++] = (uint8_t)(hi << 4 | lo);
	}
	sqlite3_bind_blob(st, col, raw, 16, SQLITE_STATIC);
	return;
text:
	sqlite3_bind_text(st, col, boot_id, (int)n, SQLITE_STATIC);
}

/* The last boot id a scan formatted (text "" before the first). */
struct store_sqlite_boot_memo {
	uint8_t raw[16];
	char text[40];
};

static void
store_sqlite_column_boot_id(sqlite3_stmt *st, int col, char ret[40],
			    struct store_sqlite_boot_memo *last)
{
	static const char digits[] = "0123456789abcdef";
	const uint8_t *raw;
	size_t i, o = 0;
	int n;

	ret[0] = '\0';
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_BLOB:
		raw = sqlite3_column_blob(st, col);
		if (sqlite3_column_bytes(st, col) != 16)
			return;
		/* Rows of one boot follow each other: format it once. */
		if (memcmp(raw, last->raw, 16) == 0 && last->text[0] != '\0') {
			memcpy(ret, last->text, sizeof(last->text));
			return;
		}
		for (i = 0; i < 16; i++) {
			if (i == 4 || i == 6 || i == 8 || i == 10)
				ret[o++] = '-';
			ret[o++] = digits[raw[i] >> 4];
			ret[o++] = digits[raw[i] & 15];
		}
		ret[o] = '\0';
		memcpy(last->raw, raw, 16);
		memcpy(last->text, ret, sizeof(last->text));
		return;
	case SQLITE_TEXT:
		n = sqlite3_column_bytes(st, col);
		if (n > 39)
			n = 39;
		memcpy(ret, sqlite3_column_text(st, col), (size_t)n);
		ret[n] = '\0';
		return;
	default:
		return;
	}
}

static void
store_sqlite_bind_text(sqlite3_stmt *st, int col, const char *text)
{
	if (text == NULL)
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_text(st, col, text, -1, SQLITE_STATIC);
}

static void
store_sqlite_bind_bytes(sqlite3_stmt *st, int col, const uint8_t *p, size_t len)
{
	if (p == NULL)
		sqlite3_bind_null(st, col);
	else
		sqlite3_bind_blob64(st, col, p, len, SQLITE_STATIC);
}

/* A blob column in place; a zero-length blob is "" rather than NULL, so
 * "empty" and "none" stay apart. */
static const uint8_t *
store_sqlite_column_bytes(sqlite3_stmt *st, int col, size_t *ret_len)
{
	const void *p;

	/* Only a NULL pointer leaves "empty" and "none" to tell apart:
	 * the common cases cost two calls, not three. */
	if ((p = sqlite3_column_blob(st, col)) != NULL) {
		*ret_len = (size_t)sqlite3_column_bytes(st, col);
		return p;
	}
	*ret_len = 0;
	if (sqlite3_column_type(st, col) == SQLITE_NULL)
		return NULL;
	return (const uint8_t *)"";
}

/* The row under st (TIMER_COLS) as a store_timer pointing into it;
 * memo carries the boot id from row to row of one scan. */
static void
store_sqlite_row_timer(sqlite3_stmt *st, struct store_timer *t,
		       struct store_sqlite_boot_memo *memo)
{
	const unsigned char *state;

	memset(t, 0, sizeof(*t));
	t->id = (uint64_t)sqlite3_column_int64(st, 0);
	t->fence = (uint64_t)sqlite3_column_int64(st, 1);
	state = sqlite3_column_text(st, 2);
	t->finished = state != NULL && (state[0] == 'F' || state[0] == 'C');
	t->cancelled = state != NULL && state[0] == 'C';
	t->uid = (uid_t)sqlite3_column_int64(st, 3);
	t->gid = (gid_t)sqlite3_column_int64(st, 4);
	t->clock = sqlite3_column_int(st, 5);
	t->deadline_ns = sqlite3_column_int64(st, 6);
	t->due_rt_ns = sqlite3_column_int64(st, 7);
	store_sqlite_column_boot_id(st, 8, t->boot_id, memo);
	t->created_rt_ns = sqlite3_column_int64(st, 9);
	t->channel = (const char *)sqlite3_column_text(st, 10);
	t->payload = store_sqlite_column_bytes(st, 11, &t->payload_len);
	t->key = (const char *)sqlite3_column_text(st, 12);
	t->misfire = sqlite3_column_int(st, 13);
	t->delivery = sqlite3_column_int(st, 14);
	t->downtime = sqlite3_column_int(st, 15);
	t->max_attempts = (uint32_t)sqlite3_column_int64(st, 16);
	t->fire_count = (uint64_t)sqlite3_column_int64(st, 17);
	t->last_fired_rt_ns = sqlite3_column_int64(st, 18);
	t->finished_rt_ns = sqlite3_column_int64(st, 19);
	t->exec = store_sqlite_column_bytes(st, 20, &t->exec_len);
	t->sched = store_sqlite_column_bytes(st, 21, &t->sched_len);
	t->paused = sqlite3_column_int(st, 22) != 0;
}

/* Runs cb over the rows of a bound SELECT, then resets it. */
static int
store_sqlite_each_timer(struct store *s, enum store_sqlite_stmt i,
			const char *what, store_timer_cb cb, void *arg,
			int none)
{
	struct store_sqlite_boot_memo memo = { .text = "" };
	sqlite3_stmt *st = s->st[i];
	struct store_timer t;
	int rc, r = none;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		store_sqlite_row_timer(st, &t, &memo);
		r = cb(&t, arg);
		if (r < 0)
			goto out;
		r = 0;
	}
	if (rc != SQLITE_DONE)
		r = store_sqlite_error(s, rc, what);
	else if (r < 0)
		store_sqlite_seterr(s, "%s: no such row", what);
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

/*
 * Versions before 6 took strings without checking they were UTF-8, and
 * a protobuf string must be: one such string in a reply makes it
 * undecodable to strict clients. From 6 on every string is checked as it
 * arrives (wirestr.h); this repairs what was stored before. A string
 * that is not UTF-8 keeps its valid characters, and each other byte
 * becomes \xNN (a backslash doubled), which is deterministic, so the
 * same channel name in three tables still names one channel.
 */
static char *
store_sqlite_escape(const char *in, size_t len)
{
	char *out = malloc(4 * len + 1), *o = out;
	size_t i = 0, n;

	if (out == NULL)
		return NULL;
	while (i < len) {
		n = wirestr_valid_prefix(in + i, len - i);
		for (; n > 0; n--, i++) {
			if (in[i] == '\\')
				*o++ = '\\';
			*o++ = in[i];
		}
		if (i < len)
			o += sprintf(o, "\\x%02x", (unsigned char)in[i++]);
	}
	*o = '\0';
	return out;
}

/*
 * A canonical channel name ("UID:NAME") repaired: NAME escaped as above
 * and, should escaping make it longer than a NAME may be (255 bytes),
 * cut at a character and ended with "~" and 8 hex digits of a hash of
 * the original bytes, so that two long names stay apart and every table
 * still repairs one name the same way. NULL when out of memory.
 */
#define STORE_CHANNEL_NAME_MAX 255
static char *
store_sqlite_escape_channel(const char *in, size_t len)
{
	const char *colon = memchr(in, ':', len);
	size_t pre = colon != NULL ? (size_t)(colon - in) + 1 : 0, cut;
	char *out = store_sqlite_escape(in, len), *name;
	uint32_t h = 2166136261u;
	size_t i;

	if (out == NULL || strlen(out + pre) <= STORE_CHANNEL_NAME_MAX)
		return out;
	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)in[i]) * 16777619u;
	name = out + pre;
	cut = STORE_CHANNEL_NAME_MAX - 9;
	/* Not inside a character: back to its first byte. */
	while (cut > 0 && ((unsigned char)name[cut] & 0xc0) == 0x80)
		cut--;
	snprintf(name + cut, 10, "~%08x", h);
	return out;
}

static bool
store_sqlite_utf8(const char *in)
{
	size_t len = strlen(in);

	return wirestr_valid_prefix(in, len) == len;
}

/* Repairs every string field of m and of the messages in it (unpacked
 * with the default allocator); counts the repairs in *fixed. */
static int
store_sqlite_repair_msg(ProtobufCMessage *m, unsigned *fixed)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	unsigned i;
	size_t j, n;

	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char *base = (char *)m;
		void **slot;

		if (f->type != PROTOBUF_C_TYPE_STRING &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
		    *(uint32_t *)(base + f->quantifier_offset) != f->id)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(size_t *)(base + f->quantifier_offset);
			slot = *(void ***)(base + f->offset);
		} else {
			n = 1;
			slot = (void **)(base + f->offset);
		}
		for (j = 0; j < n; j++) {
			char *e;

			if (slot[j] == NULL)
				continue;
			if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
				if (store_sqlite_repair_msg(slot[j], fixed) < 0)
					return -ENOMEM;
				continue;
			}
			if (store_sqlite_utf8(slot[j]))
				continue;
			if ((e = store_sqlite_escape(slot[j],
			                             strlen(slot[j]))) == NULL)
				return -ENOMEM;
			free(slot[j]);
			slot[j] = e;
			(*fixed)++;
		}
	}
	return 0;
}

static void
store_sqlite_migration_note(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (store_sqlite_log_fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	store_sqlite_log_fn(STORE_LOG_WARNING, msg);
}

/* How store_sqlite_repair_column repairs a value. */
enum store_repair {
	STORE_REPAIR_NULL,    /* an idempotency key: dropped */
	STORE_REPAIR_TEXT,    /* escaped */
	STORE_REPAIR_CHANNEL, /* a canonical channel name: escaped, capped */
};

/* Rewrites one text column of table where it is not UTF-8 (see enum
 * store_repair; an idempotency key that is not UTF-8 can never be sent
 * again, so dropping it only loses a meaning nobody can use). The rows
 * are collected first: writing the table being scanned is undefined, and
 * a channel's name is its table's key. */
static int
store_sqlite_repair_column(struct store *s, const char *table,
                           const char *key, const char *col,
                           enum store_repair how)
{
	bool null_it = how == STORE_REPAIR_NULL;
	sqlite3_stmt *sel = NULL, *upd = NULL, *del = NULL;
	sqlite3_value **keys = NULL, **nk;
	char sql[256], **vals = NULL, **nv;
	size_t n = 0, cap = 0, i;
	int rc;

	snprintf(sql, sizeof(sql),
	         "SELECT %s, %s FROM %s WHERE %s IS NOT NULL", key, col, table,
	         col);
	rc = sqlite3_prepare_v2(s->db, sql, -1, &sel, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
		const char *v = (const char *)sqlite3_column_text(sel, 1);
		size_t len = (size_t)sqlite3_column_bytes(sel, 1);

		rc = SQLITE_OK;
		if (v == NULL || (len == strlen(v) && store_sqlite_utf8(v)))
			continue;
		if (n == cap) {
			cap = cap == 0 ? 16 : 2 * cap;
			if ((nk = reallocarray(keys, cap, sizeof *keys)) == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			keys = nk;
			if ((nv = reallocarray(vals, cap, sizeof *vals)) == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			vals = nv;
		}
		keys[n] = sqlite3_value_dup(sqlite3_column_value(sel, 0));
		vals[n] = null_it                      ? NULL
		          : how == STORE_REPAIR_CHANNEL ? store_sqlite_escape_channel(v, len)
		                                        : store_sqlite_escape(v, len);
		n++;
		if (keys[n - 1] == NULL || (!null_it && vals[n - 1] == NULL))
			rc = SQLITE_NOMEM;
	}
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	sqlite3_finalize(sel);
	if (rc == SQLITE_OK && n > 0) {
		snprintf(sql, sizeof(sql),
		         "UPDATE OR IGNORE %s SET %s = ?1 WHERE %s = ?2", table,
		         col, key);
		rc = sqlite3_prepare_v2(s->db, sql, -1, &upd, NULL);
	}
	if (rc == SQLITE_OK && n > 0) {
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE %s = ?1",
		         table, key);
		rc = sqlite3_prepare_v2(s->db, sql, -1, &del, NULL);
	}
	for (i = 0; rc == SQLITE_OK && i < n; i++) {
		rc = vals[i] != NULL
		             ? sqlite3_bind_text(upd, 1, vals[i], -1, SQLITE_STATIC)
		             : sqlite3_bind_null(upd, 1);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_value(upd, 2, keys[i]);
		if (rc == SQLITE_OK && (rc = sqlite3_step(upd)) == SQLITE_DONE)
			rc = SQLITE_OK;
		sqlite3_reset(upd);
		/* Ignored: the repaired value is a name another row has
		 * (channels only), whose grants stand; this row goes. */
		if (rc == SQLITE_OK && sqlite3_changes(s->db) == 0) {
			rc = sqlite3_bind_value(del, 1, keys[i]);
			if (rc == SQLITE_OK &&
			    (rc = sqlite3_step(del)) == SQLITE_DONE)
				rc = SQLITE_OK;
			sqlite3_reset(del);
		}
	}
	sqlite3_finalize(upd);
	sqlite3_finalize(del);
	for (i = 0; i < n; i++) {
		sqlite3_value_free(keys[i]);
		free(vals[i]);
	}
	free(keys);
	free(vals);
	if (rc == SQLITE_OK && n > 0)
		store_sqlite_migration_note(
		    "store: %zu %s.%s values were not UTF-8 (stored by an older "
		    "evd); %s",
		    n, table, col,
		    null_it ? "those keys are dropped (no client can send "
		              "them again)"
		            : "their other bytes are now written \\xNN");
	return rc;
}

/* The channel a pre-6 name meant, for a timer of uid: "OWNER:NAME". */
static char *
store_sqlite_canon_6(struct store *s, const char *name, int64_t uid)
{
	sqlite3_stmt *st = NULL;
	int64_t owner = uid;
	char *out;

	if (sqlite3_prepare_v2(s->db, "SELECT owner FROM channels WHERE name = ?1",
	                       -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		owner = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (asprintf(&out, "%" PRId64 ":%s", owner, name) < 0)
		return NULL;
	return out;
}

/*
 * Step 6, around its SQL (store_sqlite_migrations[5]). In this order,
 * so that repairing a name can never move one user's channel into
 * another's:
 *   1. exec blobs: on_failure becomes the canonical name it meant (from
 *      the channels table as it still is), and their other strings are
 *      repaired; an exec timer whose command had to be repaired is
 *      paused, so that nothing runs a command other than the one asked
 *      for (its owner or root looks at it and resumes or cancels it);
 *   2. the SQL: every channel name gets its owner's prefix;
 *   3. the text columns are repaired, each name now inside one owner's
 *      namespace.
 */
struct store_sqlite_fix {
	int64_t id, uid;
	struct exec_blob *x;
};

static int
store_sqlite_migrate_6(struct store *s, const char *sql)
{
	sqlite3_stmt *sel = NULL, *upd = NULL;
	struct store_sqlite_fix *fix = NULL, *nf;
	size_t n = 0, cap = 0, i;
	unsigned paused = 0;
	int rc;

	/* Collected first, as in store_sqlite_repair_column. */
	rc = sqlite3_prepare_v2(s->db,
	                        "SELECT id, uid, exec FROM timers"
	                        " WHERE exec IS NOT NULL",
	                        -1, &sel, NULL);
	while (rc == SQLITE_OK && (rc = sqlite3_step(sel)) == SQLITE_ROW) {
		const void *blob = sqlite3_column_blob(sel, 2);
		size_t len = (size_t)sqlite3_column_bytes(sel, 2);
		struct store_sqlite_fix *f;

		rc = SQLITE_OK;
		if (n == cap) {
			cap = cap == 0 ? 16 : 2 * cap;
			if ((nf = reallocarray(fix, cap, sizeof *fix)) == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			fix = nf;
		}
		f = &fix[n];
		f->id = sqlite3_column_int64(sel, 0);
		f->uid = sqlite3_column_int64(sel, 1);
		/* Not decodable: left as it is (each fire fails its run, as
		 * before). */
		if ((f->x = exec_blob_unpack(blob, len)) != NULL)
			n++;
	}
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	sqlite3_finalize(sel);
	if (rc == SQLITE_OK && n > 0)
		rc = sqlite3_prepare_v2(s->db,
		                        "UPDATE timers SET exec = ?1,"
		                        " paused = paused OR ?2 WHERE id = ?3",
		                        -1, &upd, NULL);
	for (i = 0; rc == SQLITE_OK && i < n; i++) {
		struct exec_blob *x = fix[i].x;
		const char *onf = exec_blob_on_failure(x);
		bool renamed = false;
		unsigned fixed = 0;
		char *canon, *e;
		uint8_t *packed;
		size_t len;

		/* The failure channel first, from its name as it was (the
		 * channels table still has the old names), repaired as the
		 * channel columns will be; then the command's strings. */
		if (onf != NULL && onf[0] != '\0') {
			if ((canon = store_sqlite_canon_6(s, onf,
			                                  fix[i].uid)) == NULL) {
				rc = SQLITE_NOMEM;
				break;
			}
			exec_blob_set_on_failure(x, canon);
			renamed = true;
			if (!store_sqlite_utf8(canon)) {
				if ((e = store_sqlite_escape_channel(
				         canon, strlen(canon))) == NULL) {
					rc = SQLITE_NOMEM;
					break;
				}
				exec_blob_set_on_failure(x, e);
			}
		}
		if (store_sqlite_repair_msg(exec_blob_message(x), &fixed) < 0) {
			rc = SQLITE_NOMEM;
			break;
		}
		if (!renamed && fixed == 0)
			continue;
		if ((packed = exec_blob_pack(x, &len)) == NULL) {
			rc = SQLITE_NOMEM;
			break;
		}
		if (fixed > 0) {
			paused++;
			store_sqlite_migration_note(
			    "store: timer %" PRId64 ": its command had bytes "
			    "that are not UTF-8 (stored by an older evd); they "
			    "are now written \\xNN and the timer is paused: "
			    "check it (evctl get %" PRId64 ") and resume or "
			    "cancel it",
			    fix[i].id, fix[i].id);
		}
		rc = sqlite3_bind_blob(upd, 1, packed, (int)len, free);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int(upd, 2, fixed > 0);
		if (rc == SQLITE_OK)
			rc = sqlite3_bind_int64(upd, 3, fix[i].id);
		if (rc == SQLITE_OK && (rc = sqlite3_step(upd)) == SQLITE_DONE)
			rc = SQLITE_OK;
		sqlite3_reset(upd);
		sqlite3_clear_bindings(upd);
	}
	sqlite3_finalize(upd);
	for (i = 0; i < n; i++)
		exec_blob_free(fix[i].x);
	free(fix);
	if (paused > 0)
		store_sqlite_migration_note("store: %u exec timers paused (see "
		                            "above)",
		                            paused);
	if (rc != SQLITE_OK)
		return rc;
	if ((rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL)) != SQLITE_OK)
		return rc;
	if ((rc = store_sqlite_repair_column(s, "timers", "id", "key",
	                                     STORE_REPAIR_NULL)) != SQLITE_OK ||
	    (rc = store_sqlite_repair_column(s, "timers", "id", "channel",
	                                     STORE_REPAIR_CHANNEL)) !=
	            SQLITE_OK ||
	    (rc = store_sqlite_repair_column(s, "messages", "fire_id",
	                                     "channel",
	                                     STORE_REPAIR_CHANNEL)) !=
	            SQLITE_OK ||
	    (rc = store_sqlite_repair_column(s, "channels", "name", "name",
	                                     STORE_REPAIR_CHANNEL)) !=
	            SQLITE_OK ||
	    (rc = store_sqlite_repair_column(s, "runs", "rowid", "detail",
	                                     STORE_REPAIR_TEXT)) != SQLITE_OK)
		return rc;
	return SQLITE_OK;
}

/* Code that runs a migration's step in its transaction, by the version
 * it leaves, for a step SQL alone cannot take; it runs the step's SQL
 * itself, at the point the step needs it. NULL for most. Returns an
 * SQLite code. */
static int (*const store_sqlite_migration_code[])(struct store *,
                                                  const char *sql) = {
    [5] = store_sqlite_migrate_6,
};

/* Applies every migration the database lacks, each in one transaction. */
static int
store_sqlite_migrate(struct store *s, const char *path)
{
	sqlite3_stmt *st = NULL;
	char sql[64], *msg = NULL;
	int rc, version;

	rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		return store_sqlite_error(s, rc, "reading the schema version");
	}
	version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (version > SCHEMA_VERSION) {
		store_sqlite_seterr(
		    s,
		    "%s was created by a newer evd (schema version %d; "
		    "this evd knows up to %d)",
		    path, version, SCHEMA_VERSION);
		return -EPROTO;
	}
	if (version < 0) {
		store_sqlite_seterr(s, "%s: bad schema version %d", path,
				    version);
		return -EUCLEAN;
	}
	for (; version < SCHEMA_VERSION; version++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
			 version + 1);
		rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			;
		else if ((size_t)version <
		                 sizeof(store_sqlite_migration_code) /
		                         sizeof(store_sqlite_migration_code[0]) &&
		         store_sqlite_migration_code[version] != NULL)
			rc = store_sqlite_migration_code[version](
			    s, store_sqlite_migrations[version]);
		else
			rc = sqlite3_exec(s->db,
					  store_sqlite_migrations[version],
					  NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK) {
			int r;

			store_sqlite_seterr(
			    s, "%s: migrating the schema to version %d: %s",
			    path, version + 1,
			    msg != NULL ? msg : sqlite3_errmsg(s->db));
			r = store_sqlite_errno(s->db, rc);
			sqlite3_free(msg);
			if (!sqlite3_get_autocommit(s->db))
				sqlite3_exec(s->db, "ROLLBACK", NULL, NULL,
					     NULL);
			return r;
		}
	}
	return 0;
}

/* Runs a pragma that may return a row; ret_text (if any) gets its first
 * column. */
static int
store_sqlite_pragma(struct store *s, const char *sql, char *ret_text,
		    size_t size)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			if (ret_text != NULL && sqlite3_column_text(st, 0))
				snprintf(ret_text, size, "%s",
					 sqlite3_column_text(st, 0));
		}
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Takes <dir>/evd.lock, creating dir (one level, 0700) if missing. */
static int
store_sqlite_lock(struct store *s, const char *dir)
{
	char path[PATH_MAX];
	int r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		store_sqlite_seterr(s,
				    "cannot create the state directory %s: %s",
				    dir, strerror(-r));
		return r;
	}
	/* SQLite creates evd.db-wal and evd.db-shm beside evd.db; say so
	 * here rather than let it fail on the first write. */
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0) {
		r = -errno;
		store_sqlite_seterr(
		    s, "the state directory %s is not writable: %s", dir,
		    strerror(-r));
		return r;
	}
	if (snprintf(path, sizeof(path), "%s/" STORE_SQLITE_LOCK, dir) >=
	    (int)sizeof(path)) {
		store_sqlite_seterr(s, "%s: path too long", dir);
		return -ENAMETOOLONG;
	}
	s->lock_fd =
	    open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->lock_fd < 0) {
		r = -errno;
		store_sqlite_seterr(s, "cannot open %s: %s", path,
				    strerror(-r));
		return r;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		if (r == -EWOULDBLOCK) {
			store_sqlite_seterr(s, "another evd is using %s", dir);
			return -EBUSY;
		}
		store_sqlite_seterr(s, "cannot lock %s: %s", path,
				    strerror(-r));
		return r;
	}
	return 0;
}

/* What to do about a damaged store, for every refusal below. */
#define STORE_SQLITE_ADVICE                                                    \
	"restore evd.db from a backup, or move evd.db, evd.db-wal and "        \
	"evd.created out of the directory to start with an empty store"

/* Refuses the store as damaged: what is wrong, and what to do. */
static int __attribute__((format(printf, 2, 3)))
store_sqlite_corrupt(struct store *s, const char *fmt, ...)
{
	char what[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	store_sqlite_seterr(s, "the store in %s is corrupt: %s", s->dir, what);
	return -EUCLEAN;
}

/* <state dir>/name into buf (PATH_MAX). */
static int
store_sqlite_file(struct store *s, const char *name, char *buf)
{
	if (snprintf(buf, PATH_MAX, "%s/%s", s->dir, name) >= PATH_MAX) {
		store_sqlite_seterr(s, "%s: path too long", s->dir);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Whether <state dir>/name exists (as anything); *ret_size its size. */
static int
store_sqlite_exists(struct store *s, const char *name, bool *ret,
		    off_t *ret_size)
{
	char path[PATH_MAX];
	struct stat st;
	int r;

	if ((r = store_sqlite_file(s, name, path)) < 0)
		return r;
	if (lstat(path, &st) == 0) {
		*ret = true;
		if (ret_size != NULL)
			*ret_size = st.st_size;
		return 0;
	}
	if (errno == ENOENT) {
		*ret = false;
		if (ret_size != NULL)
			*ret_size = 0;
		return 0;
	}
	r = -errno;
	store_sqlite_seterr(s, "cannot look at %s: %s", path, strerror(-r));
	return r;
}

/*
 * The WAL as SQLite writes it (sqlite.org/fileformat2.html#walformat):
 * a 32-byte header (magic, version, page size, checkpoint sequence,
 * salt-1, salt-2, checksum), then frames of a 24-byte header (page
 * number, database size in pages on a commit frame and 0 otherwise,
 * salt-1, salt-2, checksum) and a page; numbers big-endian. Checksums
 * run over the header, then over each frame's first 8 header bytes and
 * page, each frame's carrying on from the one before; the magic's low
 * bit says whether the words summed are big- or little-endian.
 */
#define WAL_HDR 32
#define WAL_FRAME_HDR 24
#define WAL_MAGIC 0x377f0682u
#define WAL_VERSION 3007000u

struct store_sqlite_wal {
	bool big;      /* checksum words are big-endian */
	uint32_t page; /* page size */
	uint32_t salt[2];
};

static uint32_t
store_sqlite_get32(const uint8_t *p, bool big)
{
	if (big)
		return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		       (uint32_t)p[2] << 8 | p[3];
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[1] << 8 | p[0];
}

/*
 * evd.synced (--sync full): 16 bytes, big-endian: "EVDS", the WAL's two
 * salts and how many of its frames were on disk at the last flush.
 */
#define STORE_SQLITE_SYNCED_LEN 16
#define STORE_SQLITE_SYNCED_MAGIC 0x45564453u

static void
store_sqlite_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
store_sqlite_synced_pack(uint8_t *p, const uint32_t salt[2], uint32_t frames)
{
	store_sqlite_put32(p, STORE_SQLITE_SYNCED_MAGIC);
	store_sqlite_put32(p + 4, salt[0]);
	store_sqlite_put32(p + 8, salt[1]);
	store_sqlite_put32(p + 12, frames);
}

/* How many frames of the WAL with these salts evd.synced says were on
 * disk; UINT32_MAX (all of them) when it says nothing about this WAL. */
static uint32_t
store_sqlite_synced_frames(struct store *s, const uint32_t salt[2])
{
	uint8_t rec[STORE_SQLITE_SYNCED_LEN];
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (store_sqlite_file(s, STORE_SQLITE_SYNCED, path) < 0 ||
	    (fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return UINT32_MAX;
	n = pread(fd, rec, sizeof rec, 0);
	close(fd);
	if (n != (ssize_t)sizeof rec ||
	    store_sqlite_get32(rec, true) != STORE_SQLITE_SYNCED_MAGIC ||
	    store_sqlite_get32(rec + 4, true) != salt[0] ||
	    store_sqlite_get32(rec + 8, true) != salt[1])
		return UINT32_MAX;
	return store_sqlite_get32(rec + 12, true);
}

/* SQLite's WAL checksum of n bytes (a multiple of 8), carried on from c. */
static void
store_sqlite_wal_sum(bool big, const uint8_t *p, size_t n, uint32_t c[2])
{
	uint32_t s1 = c[0], s2 = c[1];
	size_t i;

	for (i = 0; i < n; i += 8) {
		s1 += store_sqlite_get32(p + i, big) + s2;
		s2 += store_sqlite_get32(p + i + 4, big) + s1;
	}
	c[0] = s1;
	c[1] = s2;
}

/* Whether frame f (header, then page) is one of this WAL's that carries
 * on from checksum prev. */
static bool
store_sqlite_wal_frame_ok(const struct store_sqlite_wal *w, const uint8_t *f,
			  const uint32_t prev[2])
{
	uint32_t c[2] = {prev[0], prev[1]};

	if (store_sqlite_get32(f, true) == 0 ||
	    store_sqlite_get32(f + 8, true) != w->salt[0] ||
	    store_sqlite_get32(f + 12, true) != w->salt[1])
		return false;
	store_sqlite_wal_sum(w->big, f, 8, c);
	store_sqlite_wal_sum(w->big, f + WAL_FRAME_HDR, w->page, c);
	return c[0] == store_sqlite_get32(f + 16, true) &&
	       c[1] == store_sqlite_get32(f + 20, true);
}

/*
 * Did damage to evd.db-wal cost commits? SQLite's recovery replays
 * frames up to the first that does not check out and drops the rest
 * without a word. A frame that fails is normal at the end (a
 * transaction cut off by the crash, never acknowledged; SQLite even
 * rewrites frames of the open transaction in place and fixes their
 * checksums only at its commit), so what proves loss is what follows:
 * frames of this WAL that check out against their own predecessors
 * and carry two or more commit marks, that is, at least one more
 * transaction that committed after the broken frame. The walk reads
 * the whole WAL once, as SQLite's recovery does. Sets *ret_lost to the
 * commits found lost and *ret_frame to the broken frame (1-based).
 */
static int
store_sqlite_wal_scan(struct store *s, const char *path, unsigned *ret_lost,
		      unsigned *ret_frame, uint32_t ret_salt[2])
{
	struct store_sqlite_wal w;
	uint8_t hdr[WAL_HDR], *f = NULL;
	uint32_t chain[2] = {0, 0}, prev[2];
	unsigned frame = 0, broken = 0, commits = 0;
	uint32_t magic;
	ssize_t n;
	off_t off;
	int fd, r = 0;

	*ret_lost = *ret_frame = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		r = -errno;
		store_sqlite_seterr(s, "cannot open %s: %s", path,
				    strerror(-r));
		return r;
	}
	if ((n = pread(fd, hdr, sizeof(hdr), 0)) != (ssize_t)sizeof(hdr))
		goto out; /* SQLite ignores it, and so may we */
	magic = store_sqlite_get32(hdr, true);
	w.big = (magic & 1) != 0;
	w.page = store_sqlite_get32(hdr + 8, true);
	w.salt[0] = ret_salt[0] = store_sqlite_get32(hdr + 16, true);
	w.salt[1] = ret_salt[1] = store_sqlite_get32(hdr + 20, true);
	store_sqlite_wal_sum(w.big, hdr, 24, chain);
	/* A header that does not check out makes SQLite ignore the whole
	 * WAL; what it held cannot be told either. */
	if ((magic & ~1u) != WAL_MAGIC ||
	    store_sqlite_get32(hdr + 4, true) != WAL_VERSION || w.page < 512 ||
	    w.page > 65536 || (w.page & (w.page - 1)) != 0 ||
	    chain[0] != store_sqlite_get32(hdr + 24, true) ||
	    chain[1] != store_sqlite_get32(hdr + 28, true))
		goto out;
	if ((f = malloc(WAL_FRAME_HDR + w.page)) == NULL) {
		store_sqlite_seterr(s, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	prev[0] = chain[0];
	prev[1] = chain[1];
	for (off = WAL_HDR;; off += WAL_FRAME_HDR + w.page) {
		n = pread(fd, f, WAL_FRAME_HDR + w.page, off);
		if (n < 0) {
			r = -errno;
			store_sqlite_seterr(s, "cannot read %s: %s", path,
					    strerror(-r));
			goto out;
		}
		if ((size_t)n < WAL_FRAME_HDR + w.page)
			break;
		frame++;
		if (broken == 0 && !store_sqlite_wal_frame_ok(&w, f, chain))
			broken = frame;
		else if (broken == 0) {
			chain[0] = store_sqlite_get32(f + 16, true);
			chain[1] = store_sqlite_get32(f + 20, true);
		} else if (store_sqlite_wal_frame_ok(&w, f, prev) &&
			   store_sqlite_get32(f + 4, true) != 0)
			commits++;
		prev[0] = store_sqlite_get32(f + 16, true);
		prev[1] = store_sqlite_get32(f + 20, true);
	}
	if (commits >= 2) {
		*ret_lost = commits;
		*ret_frame = broken;
	}
out:
	free(f);
	close(fd);
	return r;
}

/*
 * After an unclean stop: is evd.db-wal whole? With --sync full every
 * acknowledged commit was on disk before its reply, so commits lost to
 * a broken frame are damage and refused; unless evd.synced says the
 * broken frame was never known to be on disk: a crash of the machine
 * tore the tail that was still being synced, whose commits no client
 * saw acknowledged. With --sync normal a power loss may leave holes that
 * lose the last commits, which the operator accepted: then it is only
 * reported.
 */
static int
store_sqlite_wal_check(struct store *s, bool sync_full)
{
	char path[PATH_MAX], msg[PATH_MAX + 256];
	unsigned lost, frame;
	uint32_t salt[2] = {0, 0}, synced = UINT32_MAX;
	int r;

	if ((r = store_sqlite_file(s, STORE_SQLITE_DB "-wal", path)) < 0 ||
	    (r = store_sqlite_wal_scan(s, path, &lost, &frame, salt)) < 0)
		return r;
	if (lost == 0)
		return 0;
	if (sync_full)
		synced = store_sqlite_synced_frames(s, salt);
	if (sync_full && frame <= synced)
		return store_sqlite_corrupt(
		    s,
		    "evd.db-wal is damaged at frame %u, and %u commits "
		    "after it would be lost. Restore the directory from a "
		    "backup; to start with what SQLite can recover, remove "
		    "evd.running",
		    frame, lost);
	if (store_sqlite_log_fn != NULL) {
		if (sync_full)
			snprintf(msg, sizeof(msg),
				 "%s is damaged at frame %u, past the %u known "
				 "to be on disk: %u commits after it, never "
				 "acknowledged, are lost (a crash of the "
				 "machine may do that)",
				 path, frame, synced, lost);
		else
			snprintf(msg, sizeof(msg),
				 "%s is damaged at frame %u: %u commits after "
				 "it are lost (--sync normal: a power loss may "
				 "do that)",
				 path, frame, lost);
		store_sqlite_log_fn(STORE_LOG_WARNING, msg);
	}
	return 0;
}

/*
 * What the state directory says before SQLite touches it (see the top of
 * the file). *ret_fresh: no store was made here yet, and evd.db, if
 * there, is the empty file a first start created.
 */
static int
store_sqlite_precheck(struct store *s, bool sync_full, bool *ret_fresh)
{
	bool created, running, db, wal;
	off_t db_size, wal_size;
	int r;

	r = store_sqlite_exists(s, STORE_SQLITE_CREATED, &created, NULL);
	if (r == 0)
		r = store_sqlite_exists(s, STORE_SQLITE_RUNNING, &running,
					NULL);
	if (r == 0)
		r = store_sqlite_exists(s, STORE_SQLITE_DB, &db, &db_size);
	if (r == 0)
		r = store_sqlite_exists(s, STORE_SQLITE_DB "-wal", &wal,
					&wal_size);
	if (r < 0)
		return r;
	if ((!db || db_size == 0) && created)
		return store_sqlite_corrupt(
		    s,
		    "evd.db is %s, but evd.created says a store was made "
		    "here; " STORE_SQLITE_ADVICE,
		    db ? "empty" : "missing");
	if (db && db_size > 0 && running && !wal)
		return store_sqlite_corrupt(
		    s,
		    "evd.db-wal is missing, but evd.running says the last evd "
		    "did not stop cleanly, so what it committed since its "
		    "last checkpoint, which only evd.db-wal held, is lost. "
		    "Put evd.db-wal back or restore the directory from a "
		    "backup; to start with what evd.db holds, remove "
		    "evd.running");
	if (db && db_size > 0 && running && wal_size > WAL_HDR &&
	    (r = store_sqlite_wal_check(s, sync_full)) < 0)
		return r;
	*ret_fresh = !db || db_size == 0;
	return 0;
}

/* Runs a pragma that returns one integer. */
static int
store_sqlite_pragma_int(struct store *s, const char *sql, int64_t *ret)
{
	sqlite3_stmt *st = NULL;
	int rc;

	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		*ret = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_OK ? 0 : store_sqlite_error(s, rc, sql);
}

/*
 * Runs a quick_check pragma. Its first complaint, on one line, goes to
 * bad ("" when it says ok). A database too damaged to be checked fails
 * the statement itself: that is a complaint too.
 */
static int
store_sqlite_quick_check(struct store *s, const char *sql, char *bad,
			 size_t size)
{
	sqlite3_stmt *st = NULL;
	const char *row;
	char *p;
	int rc;

	bad[0] = '\0';
	rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
	while (rc == SQLITE_OK || rc == SQLITE_ROW) {
		if ((rc = sqlite3_step(st)) != SQLITE_ROW)
			break;
		row = (const char *)sqlite3_column_text(st, 0);
		if (bad[0] == '\0' && row != NULL && strcmp(row, "ok") != 0)
			snprintf(bad, size, "%s", row);
	}
	if (rc != SQLITE_DONE && bad[0] == '\0') {
		if ((rc & 0xff) != SQLITE_CORRUPT &&
		    (rc & 0xff) != SQLITE_NOTADB) {
			rc = store_sqlite_error(s, rc, sql);
			sqlite3_finalize(st);
			return rc;
		}
		snprintf(bad, size, "%s", sqlite3_errmsg(s->db));
	}
	sqlite3_finalize(st);
	/* It reports one problem per line, with a heading line. */
	for (p = bad; *p != '\0'; p++)
		if ((unsigned char)*p < ' ')
			*p = ' ';
	return 0;
}

/*
 * Is the existing database whole? Runs before evd writes anything to it.
 * The WAL goes into evd.db first (SQLite's next checkpoint would do the
 * same), so evd.db alone must then hold every page its header counts:
 * a file cut short, or ending in part of a page, is damage SQLite itself
 * does not see (it reads a missing end as zeroes). Then PRAGMA
 * quick_check: b-tree structure, cells, records and the free list, but
 * not index contents against their tables (that is integrity_check, at
 * several times the cost). Over the whole file up to
 * QUICK_CHECK_MAX_BYTES; past it over the schema and meta only, since
 * the load reads every other table's rows anyway.
 */
static int
store_sqlite_verify(struct store *s)
{
	int64_t busy = 0, page_size = 0, pages = 0;
	char bad[512];
	struct stat st;
	int r;

	if ((r = store_sqlite_pragma_int(s, "PRAGMA wal_checkpoint(TRUNCATE)",
					 &busy)) < 0)
		return r;
	if (busy != 0) {
		store_sqlite_seterr(s, "%s: cannot checkpoint the WAL (busy)",
				    s->path);
		return -EBUSY;
	}
	r = store_sqlite_pragma_int(s, "PRAGMA page_size", &page_size);
	if (r == 0)
		r = store_sqlite_pragma_int(s, "PRAGMA page_count", &pages);
	if (r < 0)
		return r;
	if (stat(s->path, &st) < 0) {
		r = -errno;
		store_sqlite_seterr(s, "cannot look at %s: %s", s->path,
				    strerror(-r));
		return r;
	}
	if (page_size <= 0 || st.st_size % page_size != 0 ||
	    st.st_size < pages * page_size)
		return store_sqlite_corrupt(
		    s,
		    "evd.db holds %lld bytes, but its %lld pages of %lld "
		    "bytes need %lld (was it cut short?); " STORE_SQLITE_ADVICE,
		    (long long)st.st_size, (long long)pages,
		    (long long)page_size, (long long)(pages * page_size));
	if (st.st_size <= QUICK_CHECK_MAX_BYTES) {
		r = store_sqlite_quick_check(s, "PRAGMA quick_check(1)", bad,
					     sizeof(bad));
	} else {
		r = store_sqlite_quick_check(
		    s, "PRAGMA quick_check(sqlite_schema)", bad, sizeof(bad));
		if (r == 0 && bad[0] == '\0')
			r = store_sqlite_quick_check(
			    s, "PRAGMA quick_check(meta)", bad, sizeof(bad));
	}
	if (r < 0)
		return r;
	if (bad[0] != '\0')
		return store_sqlite_corrupt(s,
					    "PRAGMA quick_check on evd.db says "
					    "\"%s\"; " STORE_SQLITE_ADVICE,
					    bad);
	return 0;
}

/* Writes <state dir>/name with text, synced. With excl, an existing file
 * is kept as it is. */
static int
store_sqlite_mark(struct store *s, const char *name, const char *text,
		  bool excl)
{
	size_t len = strlen(text);
	char path[PATH_MAX];
	ssize_t n;
	int fd, r;

	if ((r = store_sqlite_file(s, name, path)) < 0)
		return r;
	fd = open(path,
		  O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
		      (excl ? O_EXCL : O_TRUNC),
		  0600);
	if (fd < 0 && excl && errno == EEXIST)
		return 0;
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	n = write(fd, text, len);
	r = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		goto fail;
	}
	if (close(fd) < 0) {
		r = -errno;
		goto fail;
	}
	return 0;
fail:
	store_sqlite_seterr(s, "cannot write %s: %s", path, strerror(-r));
	return r;
}

/*
 * The store opened whole: evd.created says from now on that a store
 * exists here, evd.running that this evd has it open; both, and their
 * directory entries, are synced before the first batch.
 */
static int
store_sqlite_mark_open(struct store *s)
{
	char text[64];
	int fd, r;

	snprintf(text, sizeof(text), "evd pid %ld\n", (long)getpid());
	if ((r = store_sqlite_mark(s, STORE_SQLITE_CREATED,
				   "evd made a store in this directory; evd "
				   "refuses to start without evd.db while "
				   "this file is here\n",
				   true)) < 0 ||
	    (r = store_sqlite_mark(s, STORE_SQLITE_RUNNING, text, false)) < 0)
		return r;
	s->running = true;
	fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		store_sqlite_seterr(s, "cannot sync %s: %s", s->dir,
				    strerror(-r));
		return r;
	}
	close(fd);
	return 0;
}

/*
 * Which files store_sqlite_check watches: evd.db, and evd.db-wal, which
 * SQLite opened with the database (it reads the WAL from the first
 * statement on) and keeps open, never recreating it, until close.
 */
static int
store_sqlite_identify(struct store *s)
{
	struct stat st;
	int r;

	if ((r = store_sqlite_file(s, STORE_SQLITE_DB "-wal", s->wal)) < 0)
		return r;
	if (stat(s->path, &st) < 0)
		goto fail;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if (stat(s->wal, &st) < 0) {
		r = -errno;
		store_sqlite_seterr(s, "%s is not there after opening the "
				    "store: %s", s->wal, strerror(-r));
		return r;
	}
	s->wal_dev = st.st_dev;
	s->wal_ino = st.st_ino;
	return 0;
fail:
	r = -errno;
	store_sqlite_seterr(s, "cannot look at %s: %s", s->path, strerror(-r));
	return r;
}

/* SQLite's own autocheckpoint threshold, which our WAL hook replaces. */
#define WAL_CHECKPOINT_FRAMES 1000

/*
 * After every commit (the loop thread): how many frames the WAL holds,
 * for the sync thread's checkpoints and its record of what is on disk.
 * Setting a hook turns SQLite's autocheckpoint off: with --sync full the
 * sync thread checkpoints instead (store_sqlite_flush), so the fsyncs of
 * a checkpoint leave the loop too.
 */
static int
store_sqlite_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct store *s = arg;

	(void)db;
	(void)name;
	s->wal_frames = frames > 0 ? (uint32_t)frames : 0;
	return SQLITE_OK;
}

/*
 * --sync full without an fsync on the loop: commits only write the WAL
 * (synchronous = NORMAL, which still syncs around checkpoints) and
 * flush() fdatasyncs it. Set up last in open(), so the schema's own
 * commits above were synced as they went.
 */
static int
store_sqlite_defer_sync(struct store *s)
{
	char path[PATH_MAX];
	int rc, r;

	s->wal_fd = open(s->wal, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (s->wal_fd < 0) {
		r = -errno;
		store_sqlite_seterr(s, "cannot open %s: %s", s->wal,
				    strerror(-r));
		return r;
	}
	if ((r = store_sqlite_file(s, STORE_SQLITE_SYNCED, path)) < 0)
		return r;
	s->synced_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			    0600);
	if (s->synced_fd < 0) {
		r = -errno;
		store_sqlite_seterr(s, "cannot open %s: %s", path,
				    strerror(-r));
		return r;
	}
	rc = sqlite3_open_v2(s->path, &s->ckpt_db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
				 SQLITE_OPEN_NOFOLLOW,
			     NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s->ckpt_db, "PRAGMA synchronous = NORMAL",
				  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		store_sqlite_seterr(s, "cannot open %s for checkpoints: %s",
				    s->path, sqlite3_errstr(rc));
		return -EIO;
	}
	/* A checkpoint that meets the loop's writer gives up rather than
	 * waits: the next flush tries again. */
	sqlite3_busy_timeout(s->ckpt_db, 0);
	rc = store_sqlite_pragma(s, "PRAGMA synchronous = NORMAL", NULL, 0);
	if (rc != SQLITE_OK)
		return store_sqlite_error(s, rc, s->path);
	sqlite3_wal_hook(s->db, store_sqlite_wal_hook, s);
	s->flushes = true;
	return 0;
}

/* A commit went into the WAL: what a flush from now on covers. */
static void
store_sqlite_note_commit(struct store *s)
{
	uint8_t hdr[WAL_HDR];

	if (!s->flushes)
		return;
	pthread_mutex_lock(&s->pos_lock);
	s->pos_known = pread(s->wal_fd, hdr, sizeof hdr, 0) ==
		       (ssize_t)sizeof hdr;
	if (s->pos_known) {
		s->pos_salt[0] = store_sqlite_get32(hdr + 16, true);
		s->pos_salt[1] = store_sqlite_get32(hdr + 20, true);
		s->pos_frames = s->wal_frames;
	}
	pthread_mutex_unlock(&s->pos_lock);
}

/* The connection is opened NOMUTEX: any thread, one at a time. */
static bool
store_sqlite_threaded(const struct store *s)
{
	(void)s;
	return true;
}

static bool
store_sqlite_flushes(const struct store *s)
{
	return s->flushes;
}

/*
 * The sync thread's half of a commit: everything committed before this
 * call reaches the disk. Then evd.synced records how far the WAL is known
 * to be there (its salts and frame count; never synced itself: stale, it
 * only says less), which tells a torn tail of unacknowledged commits
 * after a machine crash from damage (store_sqlite_wal_check). And once
 * the WAL is long, a checkpoint on this thread's own connection, so its
 * fsyncs stay off the loop too (PASSIVE: it never waits for the writer).
 */
static int
store_sqlite_flush(struct store *s)
{
	uint32_t salt[2] = {0, 0}, frames = 0;
	uint8_t rec[STORE_SQLITE_SYNCED_LEN];
	bool known;

	pthread_mutex_lock(&s->pos_lock);
	known = s->pos_known;
	if (known) {
		salt[0] = s->pos_salt[0];
		salt[1] = s->pos_salt[1];
		frames = s->pos_frames;
	}
	pthread_mutex_unlock(&s->pos_lock);
	if (fdatasync(s->wal_fd) < 0)
		return -errno;
	if (known) {
		store_sqlite_synced_pack(rec, salt, frames);
		(void)pwrite(s->synced_fd, rec, sizeof rec, 0);
	}
	if (frames >= WAL_CHECKPOINT_FRAMES)
		(void)sqlite3_wal_checkpoint_v2(s->ckpt_db, NULL,
						SQLITE_CHECKPOINT_PASSIVE,
						NULL, NULL);
	return 0;
}

static int
store_sqlite_open(const struct store_config *cfg, struct store **ret)
{
	char path[PATH_MAX], mode[16] = "", sql[64];
	struct store *s;
	bool fresh = false;
	int i, fd, rc, r;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(store_sqlite_open_err, sizeof(store_sqlite_open_err),
			 "out of memory");
		return -ENOMEM;
	}
	s->lock_fd = -1;
	s->wal_fd = s->synced_fd = -1;
	pthread_mutex_init(&s->pos_lock, NULL);
	s->history_per_timer = cfg->history_per_timer;
	s->keep_ns = cfg->finished_keep_ns > 0 ? cfg->finished_keep_ns
					       : STORE_FINISHED_KEEP_NS;

	/* Before any other SQLite call: only then can the log be routed. */
	if ((r = store_sqlite_log_setup(s, cfg->log)) < 0)
		goto out;
	r = store_sqlite_lock(s, cfg->state_dir);
	if (r < 0)
		goto out;
	if (snprintf(s->dir, sizeof(s->dir), "%s", cfg->state_dir) >=
		(int)sizeof(s->dir) ||
	    (r = store_sqlite_file(s, STORE_SQLITE_DB, path)) < 0) {
		store_sqlite_seterr(s, "%s: path too long", cfg->state_dir);
		r = -ENAMETOOLONG;
		goto out;
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	if ((r = store_sqlite_precheck(s, cfg->sync_full, &fresh)) < 0)
		goto out;

	/* SQLite would create it 0644; its -wal and -shm take its mode. */
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd >= 0)
		close(fd);

	rc = sqlite3_open_v2(path, &s->db,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				 SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
			     NULL);
	if (rc != SQLITE_OK) {
		r = -EIO;
		if (s->db != NULL)
			r = store_sqlite_errno(s->db, rc);
		store_sqlite_seterr(s, "cannot open %s: %s", path,
				    s->db != NULL ? sqlite3_errmsg(s->db)
						  : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
	/* SQLite falls back to read-only when it may not write the file. */
	if (sqlite3_db_readonly(s->db, "main") == 1) {
		store_sqlite_seterr(
		    s, "%s is read-only (evd must be able to write it)", path);
		r = -EROFS;
		goto out;
	}

	/* The first statement that reads the file: where garbage shows. */
	rc = store_sqlite_pragma(s, "PRAGMA journal_mode = WAL", mode,
				 sizeof(mode));
	if ((rc & 0xff) == SQLITE_NOTADB) {
		store_sqlite_seterr(
		    s,
		    "%s is not an SQLite database: corrupt, or not evd's "
		    "(restore it from a backup, or move it away to start "
		    "afresh)",
		    path);
		r = -EUCLEAN;
		goto out;
	}
	if ((rc & 0xff) == SQLITE_CORRUPT) {
		r = store_sqlite_corrupt(
		    s, "SQLite cannot read evd.db (%s); " STORE_SQLITE_ADVICE,
		    sqlite3_errmsg(s->db));
		goto out;
	}
	if (rc != SQLITE_OK) {
		store_sqlite_seterr(s, "%s: %s", path, sqlite3_errmsg(s->db));
		r = store_sqlite_errno(s->db, rc);
		if ((rc & 0xff) == SQLITE_READONLY ||
		    (rc & 0xff) == SQLITE_CANTOPEN)
			store_sqlite_seterr(
			    s,
			    "%s: %s (the state directory and its files "
			    "must be writable)",
			    path, sqlite3_errmsg(s->db));
		goto out;
	}
	if (strcmp(mode, "wal") != 0) {
		store_sqlite_seterr(
		    s, "%s: cannot switch to WAL mode (journal mode is %s)",
		    path, mode);
		r = -EIO;
		goto out;
	}
	rc = store_sqlite_pragma(s,
				 cfg->sync_full ? "PRAGMA synchronous = FULL"
						: "PRAGMA synchronous = NORMAL",
				 NULL, 0);
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", CACHE_KIB);
	if (rc == SQLITE_OK)
		rc = store_sqlite_pragma(s, sql, NULL, 0);
	/* A checkpoint resets the WAL but keeps its size; a huge batch must
	 * not leave a huge file behind. */
	snprintf(sql, sizeof(sql), "PRAGMA journal_size_limit = %d",
		 WAL_KEEP_BYTES);
	if (rc == SQLITE_OK)
		rc = store_sqlite_pragma(s, sql, NULL, 0);
	if (rc != SQLITE_OK) {
		r = store_sqlite_error(s, rc, path);
		goto out;
	}
	if (!fresh && (r = store_sqlite_verify(s)) < 0)
		goto out;

	r = store_sqlite_migrate(s, path);
	if (r < 0)
		goto out;

	for (i = 0; i < ST_COUNT; i++) {
		rc = sqlite3_prepare_v3(s->db, store_sqlite_sql[i], -1,
					SQLITE_PREPARE_PERSISTENT, &s->st[i],
					NULL);
		if (rc != SQLITE_OK) {
			r = store_sqlite_error(s, rc, "preparing statements");
			goto out;
		}
	}
	if (store_sqlite_meta_get(s, META_PRUNE_CURSOR, &s->prune_cursor) < 0)
		s->prune_cursor = 0;
	store_sqlite_prune_step(s);
	/* What the sweep just released was never charged: the first
	 * report is the whole retained output, per uid. */
	s->out_done.n = 0;
	r = store_sqlite_out_rows(s, ST_OUTPUT_USAGE, 1, "output usage");
	if (r < 0)
		goto out;
	store_sqlite_out_settle(s);
	if ((r = store_sqlite_mark_open(s)) < 0 ||
	    (r = store_sqlite_identify(s)) < 0 ||
	    (cfg->sync_full && (r = store_sqlite_defer_sync(s)) < 0))
		goto out;
	s->err[0] = '\0';
	*ret = s;
	return 0;
out:
	snprintf(store_sqlite_open_err, sizeof(store_sqlite_open_err), "%s",
		 s->err);
	store_sqlite_close(s);
	return r;
}

/*
 * Are evd.db and evd.db-wal still the files we write? Deleted or
 * replaced under us, our commits would land in an inode nobody will
 * ever open again: refuse instead. The WAL holds every commit since the
 * last checkpoint, so losing it is losing them; they live on in the
 * deleted inode SQLite still has open, and a clean stop checkpoints
 * them into evd.db from there. A file system remounted read-only is
 * refused too.
 */
static int
store_sqlite_check(struct store *s)
{
	struct statvfs vfs;
	struct stat st;

	if (stat(s->path, &st) < 0 || st.st_dev != s->dev ||
	    st.st_ino != s->ino) {
		store_sqlite_seterr(s, "%s was deleted or replaced while evd "
		                    "ran; restart evd to use the new one",
		                    s->path);
		return -ENOENT;
	}
	if (stat(s->wal, &st) < 0 || st.st_dev != s->wal_dev ||
	    st.st_ino != s->wal_ino) {
		/* The file's name first: replies keep 255 bytes. */
		store_sqlite_seterr(s, "evd.db-wal, the WAL, was deleted or "
		                    "replaced while evd ran (%s); what evd "
		                    "committed since its last checkpoint is "
		                    "only in the deleted file: stop evd "
		                    "cleanly (SIGTERM), which copies it into "
		                    "evd.db, and start it again",
		                    s->wal);
		return -ENOENT;
	}
	if (statvfs(s->path, &vfs) == 0 && (vfs.f_flag & ST_RDONLY) != 0) {
		store_sqlite_seterr(s, "%s is on a read-only file system",
		                    s->path);
		return -EROFS;
	}
	if (geteuid() != 0 && access(s->path, W_OK) < 0) {
		store_sqlite_seterr(s, "%s is no longer writable: %s", s->path,
		                    strerror(errno));
		return -EACCES;
	}
	return 0;
}

static void
store_sqlite_close(struct store *s)
{
	int i;

	if (s == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(s->st[i]);
	/* A clean stop: only once evd.db holds everything the WAL did may
	 * evd.running go (store_sqlite_precheck relies on it). Otherwise it
	 * stays, and the next start wants the WAL. */
	if (s->running &&
	    sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
				      NULL, NULL) == SQLITE_OK) {
		char path[PATH_MAX];

		/* close() cannot report: should this fail (unlikely in a
		 * directory evd writes), the next start refuses for want
		 * of evd.db-wal and says to remove evd.running. */
		if (store_sqlite_file(s, STORE_SQLITE_RUNNING, path) == 0)
			(void)unlink(path);
	}
	sqlite3_close(s->ckpt_db);
	/* Checkpoints and removes the WAL when it is the last connection. */
	sqlite3_close(s->db);
	if (s->wal_fd >= 0)
		close(s->wal_fd);
	if (s->synced_fd >= 0)
		close(s->synced_fd);
	pthread_mutex_destroy(&s->pos_lock);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	store_out_free(&s->out_pending);
	store_out_free(&s->out_done);
	free(s);
}

static const char *
store_sqlite_errmsg(const struct store *s)
{
	return s != NULL ? s->err : store_sqlite_open_err;
}

/* Counts a change of the open transaction; -ENOMEM fails the statement
 * that made it (the batch then rolls back, so the tally stays true). */
static int
store_sqlite_out_note(struct store *s, uid_t uid, int64_t bytes,
		      const char *what)
{
	if (store_out_add(&s->out_pending, uid, bytes) < 0) {
		store_sqlite_seterr(s, "%s: out of memory", what);
		return -ENOMEM;
	}
	return 0;
}

/* The open transaction committed: its changes are to report. On
 * -ENOMEM what is left of them stays pending, folded in next time. */
static void
store_sqlite_out_settle(struct store *s)
{
	store_out_settle(&s->out_pending, &s->out_done);
}

/* Steps st (reset afterwards) summing its rows' first column. */
static int
store_sqlite_sum(struct store *s, enum store_sqlite_stmt i, const char *what,
		 int64_t *ret)
{
	sqlite3_stmt *st = s->st[i];
	int64_t sum = 0;
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		sum += sqlite3_column_int64(st, 0);
	if (rc != SQLITE_DONE)
		r = store_sqlite_error(s, rc, what);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	*ret = sum;
	return r;
}

/* Steps st (uid, bytes rows), noting sign * bytes for each uid. */
static int
store_sqlite_out_rows(struct store *s, enum store_sqlite_stmt i, int sign,
		      const char *what)
{
	sqlite3_stmt *st = s->st[i];
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if ((r = store_sqlite_out_note(
			 s, (uid_t)sqlite3_column_int64(st, 0),
			 sign * sqlite3_column_int64(st, 1), what)) < 0)
			break;
	if (r == 0 && rc != SQLITE_DONE)
		r = store_sqlite_error(s, rc, what);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

/* The owner of timer id as stored; -ENOENT if none is. */
static int
store_sqlite_timer_uid(struct store *s, uint64_t id, uid_t *ret)
{
	sqlite3_stmt *st = s->st[ST_RUN_UID];
	int rc, r = -ENOENT;

	sqlite3_bind_int64(st, 1, (int64_t)id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret = (uid_t)sqlite3_column_int64(st, 0);
		r = 0;
	} else if (rc != SQLITE_DONE)
		r = store_sqlite_error(s, rc, "timer owner");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

static int
store_sqlite_output_changes(struct store *s, store_output_cb cb, void *arg)
{
	return store_out_report(&s->out_done, cb, arg);
}

static int
store_sqlite_begin(struct store *s)
{
	s->out_pending.n = 0;
	return store_sqlite_exec(s, ST_BEGIN, "begin");
}

static void
store_sqlite_rollback(struct store *s)
{
	/* Whatever the open transaction changed did not happen. */
	s->out_pending.n = 0;
	s->written_tx = 0;
	/* A failed statement (disk full, I/O error) may already have rolled
	 * the transaction back. */
	if (!sqlite3_get_autocommit(s->db))
		store_sqlite_exec(s, ST_ROLLBACK, "rollback");
}

/*
 * One step of the sweep of finished timers: ids after the cursor, up to
 * PRUNE_SPAN of them, in a transaction of its own after a batch (and one
 * at open). The cursor is kept in meta, so the sweep goes on across
 * restarts rather than starting over. Best effort: a failure leaves the
 * rows for the next pass and keeps the batch's error message.
 */
static void
store_sqlite_prune_step(struct store *s)
{
	sqlite3_stmt *st = s->st[ST_PRUNE_END];
	int64_t start = s->prune_cursor, end = INT64_MAX;
	int64_t before = clock_now_ns(EVD_CLOCK_REALTIME) - s->keep_ns;
	char saved[sizeof(s->err)];

	memcpy(saved, s->err, sizeof(saved));
	sqlite3_bind_int64(st, 1, start);
	sqlite3_bind_int(st, 2, PRUNE_SPAN - 1);
	if (sqlite3_step(st) == SQLITE_ROW)
		end = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);

	if (store_sqlite_exec(s, ST_BEGIN, "prune") < 0)
		goto out;
	st = s->st[ST_PRUNE_RUNS_BYTES];
	sqlite3_bind_int64(st, 1, start);
	sqlite3_bind_int64(st, 2, end);
	sqlite3_bind_int64(st, 3, before);
	if (store_sqlite_out_rows(s, ST_PRUNE_RUNS_BYTES, -1, "prune") < 0)
		goto out;
	st = s->st[ST_PRUNE_RUNS];
	sqlite3_bind_int64(st, 1, start);
	sqlite3_bind_int64(st, 2, end);
	sqlite3_bind_int64(st, 3, before);
	if (store_sqlite_exec(s, ST_PRUNE_RUNS, "prune") < 0)
		goto out;
	st = s->st[ST_PRUNE_TIMERS];
	sqlite3_bind_int64(st, 1, start);
	sqlite3_bind_int64(st, 2, end);
	sqlite3_bind_int64(st, 3, before);
	if (store_sqlite_exec(s, ST_PRUNE_TIMERS, "prune") < 0)
		goto out;
	if (store_sqlite_meta_put(s, META_PRUNE_CURSOR,
				  end == INT64_MAX ? 0 : end) < 0)
		goto out;
	if (store_sqlite_exec(s, ST_COMMIT, "prune") == 0) {
		s->prune_cursor = end == INT64_MAX ? 0 : end;
		store_sqlite_out_settle(s);
	}
out:
	store_sqlite_rollback(s);
	memcpy(s->err, saved, sizeof(saved));
}

/* The sweep's steps a commit pays for (the file's header says why). */
static void
store_sqlite_prune_after_commit(struct store *s)
{
	uint64_t steps = s->written / PRUNE_SPAN;

	s->commits++;
	if (steps == 0 && s->commits >= PRUNE_EVERY)
		steps = 1;
	if (steps == 0)
		return;
	if (steps > PRUNE_STEPS_MAX)
		steps = PRUNE_STEPS_MAX;
	s->commits = 0;
	s->written -= s->written < steps * PRUNE_SPAN ? s->written
						     : steps * PRUNE_SPAN;
	/* A backlog older than a few commits' steps is not carried on
	 * for ever: the sweep cycles over every id anyway. */
	if (s->written > 16 * PRUNE_SPAN)
		s->written = 16 * PRUNE_SPAN;
	while (steps-- > 0)
		store_sqlite_prune_step(s);
}

static int
store_sqlite_commit(struct store *s)
{
	int r;

	r = store_sqlite_exec(s, ST_COMMIT, "commit");
	if (r < 0) {
		/* Nothing of the batch happened; the next one starts
		 * clean. */
		store_sqlite_rollback(s);
		return r;
	}
	store_sqlite_note_commit(s);
	store_sqlite_out_settle(s);
	s->written += s->written_tx;
	s->written_tx = 0;
	store_sqlite_prune_after_commit(s);
	return 0;
}

static int
store_sqlite_schedule(struct store *s, const struct store_timer *t)
{
	sqlite3_stmt *st = s->st[ST_SCHEDULE];
	uint8_t boot_raw[16];
	int r;

	sqlite3_bind_int64(st, 1, (int64_t)t->id);
	sqlite3_bind_int64(st, 2, (int64_t)t->fence);
	sqlite3_bind_int64(st, 3, (int64_t)t->uid);
	sqlite3_bind_int64(st, 4, (int64_t)t->gid);
	sqlite3_bind_int(st, 5, t->clock);
	sqlite3_bind_int64(st, 6, t->deadline_ns);
	sqlite3_bind_int64(st, 7, t->due_rt_ns);
	store_sqlite_bind_boot_id(st, 8, t->boot_id, boot_raw);
	sqlite3_bind_int64(st, 9, t->created_rt_ns);
	store_sqlite_bind_text(st, 10, t->channel);
	store_sqlite_bind_bytes(st, 11, t->payload, t->payload_len);
	store_sqlite_bind_text(st, 12, t->key);
	sqlite3_bind_int(st, 13, t->misfire);
	sqlite3_bind_int(st, 14, t->delivery);
	sqlite3_bind_int(st, 15, t->downtime);
	sqlite3_bind_int64(st, 16, t->max_attempts);
	sqlite3_bind_int64(st, 17, (int64_t)t->fire_count);
	sqlite3_bind_int64(st, 18, t->last_fired_rt_ns);
	store_sqlite_bind_bytes(st, 19, t->exec, t->exec_len);
	store_sqlite_bind_bytes(st, 20, t->sched, t->sched_len);
	sqlite3_bind_int(st, 21, t->paused);
	r = store_sqlite_exec(s, ST_SCHEDULE, "schedule");
	if (r == -EEXIST && s->rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		store_sqlite_seterr(s,
				    "schedule: timer %llu already exists in "
				    "the store",
				    (unsigned long long)t->id);
	else if (r == -EEXIST)
		store_sqlite_seterr(s,
				    "schedule: a pending timer of uid %u with "
				    "this key already exists in the store",
				    (unsigned)t->uid);
	return r;
}

/* The row stays, as a finished one does: its runs and their output
 * stay too, until the sweep deletes them. */
static int
store_sqlite_cancel(struct store *s, uint64_t id)
{
	sqlite3_stmt *st = s->st[ST_CANCEL];
	int r;

	sqlite3_bind_int64(st, 1, (int64_t)id);
	sqlite3_bind_int64(st, 2, clock_now_ns(EVD_CLOCK_REALTIME));
	if ((r = store_sqlite_exec_one(s, ST_CANCEL, "cancel", -ENOENT)) == 0)
		s->written_tx++;
	return r;
}

/*
 * claim() reads every pending timer at start-up (a million of them in a
 * restart that has a 1 s budget), and stepping SQLite through them costs
 * about twice the daemon's work on each. So reader threads step the scan
 * and copy rows into batches while the caller's thread runs cb over the
 * batches already read. One reader alone was the restart's critical path
 * (it ran the whole time, the caller half of it); a large table is read
 * by two, each over half of the id range, the second on a read-only
 * connection of its own. Both see the same rows: the caller owns the
 * store, so nothing writes meanwhile, and the split is made only when
 * the main connection has no transaction open (its uncommitted rows would
 * be seen by one reader only). Each reader's rows reach cb in id order,
 * the two readers' interleaved (equal deadlines still fire in id order:
 * the scheduler breaks ties by id, not by load order).
 *
 * Owner: a reader owns its connection from its start to its join (the
 * caller's thread runs cb only, which must not call the store meanwhile;
 * store.h says so); a reader's slot ring is filled in order, a slot
 * belonging to the reader while !full and to the caller while full,
 * handed over under the shared mu.
 */
#define CLAIM_BATCH 512
#define CLAIM_SLOTS 4
#define CLAIM_READERS 2
#define CLAIM_NONE SIZE_MAX
#define CLAIM_CACHE_KIB 256
/* Ids spanned below which one reader does it all: a second connection
 * costs about a millisecond to open. */
#define CLAIM_SPLIT_MIN 65536
#define CLAIM_RANGE_SQL                                                        \
	"SELECT " TIMER_COLS " FROM timers WHERE state = 'P'"                  \
	" AND due_rt_ns <= ?1 AND id >= ?2 AND id <= ?3"

enum { CLAIM_CHANNEL, CLAIM_KEY, CLAIM_PAYLOAD, CLAIM_EXEC, CLAIM_SCHED,
       CLAIM_NOFF };

struct claim_slot {
	struct store_timer t[CLAIM_BATCH]; /* variable parts: in off */
	size_t off[CLAIM_BATCH][CLAIM_NOFF]; /* into bytes, or CLAIM_NONE */
	size_t n;
	uint8_t *bytes;
	size_t len, cap;
	bool full; /* filled: the caller's until it clears it */
	bool last; /* no rows after this batch's */
};

struct claim_reader;

/* One reader thread's scan, and its ring of slots. */
struct claim_scan {
	struct claim_reader *cr;
	sqlite3 *db;       /* its own connection, or NULL: the store's */
	sqlite3_stmt *st;  /* st of the store's, or of db */
	int rc;            /* its last sqlite3_step, once done */
	char err[256];     /* sqlite3_errmsg when rc is a failure */
	bool nomem;
	pthread_t thread;
	bool started;      /* its thread runs (join it) */
	bool done;         /* the caller took its last slot */
	size_t next;       /* the caller's next slot of the ring */
	struct claim_slot slot[CLAIM_SLOTS];
};

/* What the readers and the caller share (allocated: the slots are
 * large). */
struct claim_reader {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop; /* the caller wants no more rows */
	struct claim_scan sc[CLAIM_READERS];
};

/* Appends len bytes of p to the slot; its offset, or CLAIM_NONE when p
 * is NULL. -ENOMEM. */
static int
store_sqlite_claim_copy(struct claim_slot *sl, const void *p, size_t len,
			size_t *ret_off)
{
	*ret_off = CLAIM_NONE;
	if (p == NULL)
		return 0;
	if (sl->cap - sl->len < len) {
		size_t ncap = sl->cap == 0 ? 64 << 10 : 2 * sl->cap;
		uint8_t *b;

		while (ncap - sl->len < len)
			ncap *= 2;
		if ((b = realloc(sl->bytes, ncap)) == NULL)
			return -ENOMEM;
		sl->bytes = b;
		sl->cap = ncap;
	}
	memcpy(sl->bytes + sl->len, p, len);
	*ret_off = sl->len;
	sl->len += len;
	return 0;
}

/* The row under st into the slot's next entry; -ENOMEM. */
static int
store_sqlite_claim_row(struct claim_slot *sl, sqlite3_stmt *st,
		       struct store_sqlite_boot_memo *memo)
{
	struct store_timer *t = &sl->t[sl->n];
	size_t *off = sl->off[sl->n];

	store_sqlite_row_timer(st, t, memo);
	if (store_sqlite_claim_copy(sl, t->channel,
				    t->channel ? strlen(t->channel) + 1 : 0,
				    &off[CLAIM_CHANNEL]) < 0 ||
	    store_sqlite_claim_copy(sl, t->key,
				    t->key ? strlen(t->key) + 1 : 0,
				    &off[CLAIM_KEY]) < 0 ||
	    store_sqlite_claim_copy(sl, t->payload, t->payload_len,
				    &off[CLAIM_PAYLOAD]) < 0 ||
	    store_sqlite_claim_copy(sl, t->exec, t->exec_len,
				    &off[CLAIM_EXEC]) < 0 ||
	    store_sqlite_claim_copy(sl, t->sched, t->sched_len,
				    &off[CLAIM_SCHED]) < 0)
		return -ENOMEM;
	sl->n++;
	return 0;
}

static void *
store_sqlite_claim_reader(void *arg)
{
	struct store_sqlite_boot_memo memo = { .text = "" };
	struct claim_scan *sc = arg;
	struct claim_reader *cr = sc->cr;
	struct claim_slot *sl;
	size_t i = 0;
	int rc = SQLITE_ROW;

	for (;;) {
		sl = &sc->slot[i];
		pthread_mutex_lock(&cr->mu);
		while (sl->full && !cr->stop)
			pthread_cond_wait(&cr->cv, &cr->mu);
		if (cr->stop) {
			pthread_mutex_unlock(&cr->mu);
			break;
		}
		pthread_mutex_unlock(&cr->mu);
		sl->n = sl->len = 0;
		while (sl->n < CLAIM_BATCH &&
		       (rc = sqlite3_step(sc->st)) == SQLITE_ROW)
			if (store_sqlite_claim_row(sl, sc->st, &memo) < 0) {
				sc->nomem = true;
				break;
			}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			snprintf(sc->err, sizeof(sc->err), "%s",
				 sqlite3_errmsg(sqlite3_db_handle(sc->st)));
		pthread_mutex_lock(&cr->mu);
		sl->full = true;
		sl->last = rc != SQLITE_ROW || sc->nomem;
		if (sl->last)
			sc->rc = rc;
		pthread_cond_broadcast(&cr->cv);
		pthread_mutex_unlock(&cr->mu);
		if (sl->last)
			break;
		i = (i + 1) % CLAIM_SLOTS;
	}
	return NULL;
}

/* A variable part of a slot's entry: NULL, "" or its bytes. */
static const uint8_t *
store_sqlite_claim_at(const struct claim_slot *sl, size_t off, size_t len)
{
	if (off == CLAIM_NONE)
		return NULL;
	return len == 0 ? (const uint8_t *)"" : sl->bytes + off;
}

/* The slot's entry j with its variable parts pointing into the slot. */
static void
store_sqlite_claim_entry(const struct claim_slot *sl, size_t j,
			 struct store_timer *t)
{
	const size_t *off = sl->off[j];

	*t = sl->t[j];
	t->channel =
	    (const char *)store_sqlite_claim_at(sl, off[CLAIM_CHANNEL], 1);
	t->key = (const char *)store_sqlite_claim_at(sl, off[CLAIM_KEY], 1);
	t->payload =
	    store_sqlite_claim_at(sl, off[CLAIM_PAYLOAD], t->payload_len);
	t->exec = store_sqlite_claim_at(sl, off[CLAIM_EXEC], t->exec_len);
	t->sched = store_sqlite_claim_at(sl, off[CLAIM_SCHED], t->sched_len);
}

/*
 * Splits the scan in two at the middle of the pending ids: the first half
 * on the store's connection (its range statement), the second on a
 * read-only connection of its own. Returns the number of scans set up in
 * sc[] (1: the whole table on the store's ST_CLAIM, when the table is
 * small, a transaction is open, or the second connection cannot be had).
 */
static int
store_sqlite_claim_split(struct store *s, int64_t horizon_rt_ns,
			 struct claim_scan sc[CLAIM_READERS])
{
	sqlite3_stmt *ids = NULL, *r0 = NULL, *r1 = NULL;
	sqlite3 *db = NULL;
	int64_t lo, hi, mid;
	int rc;

	sc[0].st = s->st[ST_CLAIM];
	if (!sqlite3_get_autocommit(s->db))
		return 1;
	/* Two subqueries: each is one b-tree descent (a min() beside a
	 * max() in one select is a full scan). */
	if (sqlite3_prepare_v2(s->db,
			       "SELECT (SELECT min(id) FROM timers),"
			       " (SELECT max(id) FROM timers)",
			       -1, &ids, NULL) != SQLITE_OK ||
	    sqlite3_step(ids) != SQLITE_ROW ||
	    sqlite3_column_type(ids, 0) == SQLITE_NULL) {
		sqlite3_finalize(ids);
		return 1;
	}
	lo = sqlite3_column_int64(ids, 0);
	hi = sqlite3_column_int64(ids, 1);
	sqlite3_finalize(ids);
	if (hi - lo < CLAIM_SPLIT_MIN)
		return 1;
	mid = lo + (hi - lo) / 2;
	rc = sqlite3_open_v2(s->path, &db,
			     SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX |
				 SQLITE_OPEN_NOFOLLOW,
			     NULL);
	/* As the store's: a reader meeting a checkpoint's lock waits a
	 * little rather than fail the whole claim. */
	if (rc == SQLITE_OK)
		sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	if (rc != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db, CLAIM_RANGE_SQL, -1, &r0, NULL) !=
		SQLITE_OK ||
	    sqlite3_prepare_v2(db, CLAIM_RANGE_SQL, -1, &r1, NULL) !=
		SQLITE_OK) {
		sqlite3_finalize(r0);
		sqlite3_finalize(r1);
		sqlite3_close(db);
		return 1;
	}
	sqlite3_bind_int64(r0, 1, horizon_rt_ns);
	sqlite3_bind_int64(r0, 2, lo);
	sqlite3_bind_int64(r0, 3, mid);
	sqlite3_bind_int64(r1, 1, horizon_rt_ns);
	sqlite3_bind_int64(r1, 2, mid + 1);
	sqlite3_bind_int64(r1, 3, hi);
	sc[0].st = r0;
	sc[1].st = r1;
	sc[1].db = db;
	return 2;
}

/* Releases what store_sqlite_claim_split made. */
static void
store_sqlite_claim_unsplit(struct store *s, struct claim_scan *sc, int n)
{
	sqlite3_reset(s->st[ST_CLAIM]);
	sqlite3_clear_bindings(s->st[ST_CLAIM]);
	for (int i = 0; i < n; i++) {
		if (sc[i].st != s->st[ST_CLAIM])
			sqlite3_finalize(sc[i].st);
		if (sc[i].db != NULL)
			sqlite3_close(sc[i].db);
	}
}

static void
store_sqlite_claim_free(struct claim_reader *cr, int nscan)
{
	for (int i = 0; i < nscan; i++)
		for (size_t j = 0; j < CLAIM_SLOTS; j++)
			free(cr->sc[i].slot[j].bytes);
	pthread_cond_destroy(&cr->cv);
	pthread_mutex_destroy(&cr->mu);
	free(cr);
}

static int
store_sqlite_claim(struct store *s, int64_t horizon_rt_ns, store_timer_cb cb,
		   void *arg)
{
	struct claim_reader *cr;
	struct claim_scan *sc;
	struct store_timer t;
	char sql[64];
	int nscan, i, r = 0, rc;

	sqlite3_bind_int64(s->st[ST_CLAIM], 1, horizon_rt_ns);
	/* A scan reads each page once: a page cache growing to CACHE_KIB
	 * would only cost fresh memory now. It grows when writes need it. */
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", CLAIM_CACHE_KIB);
	(void)store_sqlite_pragma(s, sql, NULL, 0);
	if ((cr = calloc(1, sizeof(*cr))) == NULL)
		return store_sqlite_each_timer(s, ST_CLAIM, "claim", cb, arg,
					       0);
	sc = cr->sc;
	nscan = store_sqlite_claim_split(s, horizon_rt_ns, sc);
	pthread_mutex_init(&cr->mu, NULL);
	pthread_cond_init(&cr->cv, NULL);
	for (i = 0; i < nscan; i++) {
		sc[i].cr = cr;
		sc[i].rc = SQLITE_DONE;
		if (pthread_create(&sc[i].thread, NULL,
				   store_sqlite_claim_reader, &sc[i]) != 0)
			break;
		sc[i].started = true;
	}
	if (i < nscan) {
		/* No thread for every scan: stop those started, then the
		 * whole table on this one. */
		pthread_mutex_lock(&cr->mu);
		cr->stop = true;
		pthread_cond_broadcast(&cr->cv);
		pthread_mutex_unlock(&cr->mu);
		for (i = 0; i < nscan; i++)
			if (sc[i].started)
				pthread_join(sc[i].thread, NULL);
		store_sqlite_claim_unsplit(s, sc, nscan);
		store_sqlite_claim_free(cr, nscan);
		sqlite3_bind_int64(s->st[ST_CLAIM], 1, horizon_rt_ns);
		r = store_sqlite_each_timer(s, ST_CLAIM, "claim", cb, arg, 0);
		goto cache;
	}
	/* Each reader's next slot in turn, whichever is full first. */
	for (int ndone = 0, turn = 0; ndone < nscan && r == 0;) {
		struct claim_scan *c = NULL;
		struct claim_slot *sl = NULL;

		pthread_mutex_lock(&cr->mu);
		while (sl == NULL) {
			for (i = 0; i < nscan && sl == NULL; i++) {
				c = &sc[(turn + i) % nscan];
				if (!c->done && c->slot[c->next].full)
					sl = &c->slot[c->next];
			}
			if (sl == NULL)
				pthread_cond_wait(&cr->cv, &cr->mu);
		}
		pthread_mutex_unlock(&cr->mu);
		turn = (int)(c - sc + 1) % nscan;
		for (size_t j = 0; j < sl->n && r == 0; j++) {
			store_sqlite_claim_entry(sl, j, &t);
			if ((r = cb(&t, arg)) > 0)
				r = 0;
		}
		if (sl->last) {
			c->done = true;
			ndone++;
		}
		pthread_mutex_lock(&cr->mu);
		sl->full = false;
		if (r < 0)
			cr->stop = true;
		pthread_cond_broadcast(&cr->cv);
		pthread_mutex_unlock(&cr->mu);
		c->next = (c->next + 1) % CLAIM_SLOTS;
	}
	for (i = 0; i < nscan; i++)
		pthread_join(sc[i].thread, NULL);
	/* The connections are this thread's again. */
	for (i = 0; i < nscan && r == 0; i++) {
		if (sc[i].nomem) {
			store_sqlite_seterr(s, "claim: out of memory");
			r = -ENOMEM;
		} else if (sc[i].rc != SQLITE_DONE && sc[i].db == NULL) {
			r = store_sqlite_error(s, sc[i].rc, "claim");
		} else if (sc[i].rc != SQLITE_DONE) {
			/* The second connection's: store_sqlite_error's
			 * words, its message. */
			s->rc = sc[i].rc;
			r = store_sqlite_errno(sc[i].db, sc[i].rc);
			store_sqlite_seterr(s, "claim: %s%s%s%s", sc[i].err,
					    r == -EUCLEAN ? " (" : "",
					    r == -EUCLEAN ? s->path : "",
					    r == -EUCLEAN
						? " is corrupt: stop evd and "
						  "restore it from a backup)"
						: "");
		}
	}
	store_sqlite_claim_unsplit(s, sc, nscan);
	store_sqlite_claim_free(cr, nscan);
cache:
	snprintf(sql, sizeof(sql), "PRAGMA cache_size = -%d", CACHE_KIB);
	if ((rc = store_sqlite_pragma(s, sql, NULL, 0)) != SQLITE_OK && r == 0)
		r = store_sqlite_error(s, rc, sql);
	return r;
}

static int
store_sqlite_retire(struct store *s, uint64_t id, uint64_t fence,
		    const struct store_timer *next)
{
	sqlite3_stmt *st;
	uint8_t boot_raw[16];

	if (next == NULL) {
		int r;

		st = s->st[ST_RETIRE_END];
		sqlite3_bind_int64(st, 1, (int64_t)id);
		sqlite3_bind_int64(st, 2, (int64_t)fence);
		sqlite3_bind_int64(st, 3, clock_now_ns(EVD_CLOCK_REALTIME));
		r = store_sqlite_exec_one(s, ST_RETIRE_END, "retire", -ESTALE);
		if (r == 0)
			s->written_tx++;
		return r;
	}
	st = s->st[ST_RETIRE_NEXT];
	sqlite3_bind_int64(st, 1, (int64_t)id);
	sqlite3_bind_int64(st, 2, (int64_t)fence);
	sqlite3_bind_int64(st, 3, next->deadline_ns);
	sqlite3_bind_int64(st, 4, next->due_rt_ns);
	store_sqlite_bind_boot_id(st, 5, next->boot_id, boot_raw);
	sqlite3_bind_int64(st, 6, (int64_t)next->fire_count);
	sqlite3_bind_int64(st, 7, next->last_fired_rt_ns);
	return store_sqlite_exec_one(s, ST_RETIRE_NEXT, "retire", -ESTALE);
}

static int
store_sqlite_reschedule(struct store *s, const struct store_timer *t)
{
	sqlite3_stmt *st = s->st[ST_RESCHEDULE];
	uint8_t boot_raw[16];

	sqlite3_bind_int64(st, 1, (int64_t)t->id);
	sqlite3_bind_int64(st, 2, t->deadline_ns);
	sqlite3_bind_int64(st, 3, t->due_rt_ns);
	store_sqlite_bind_boot_id(st, 4, t->boot_id, boot_raw);
	sqlite3_bind_int(st, 5, t->clock);
	sqlite3_bind_int(st, 6, t->paused);
	return store_sqlite_exec_one(s, ST_RESCHEDULE, "reschedule", -ENOENT);
}

static int
store_sqlite_revive(struct store *s, const struct store_timer *t)
{
	sqlite3_stmt *st = s->st[ST_REVIVE];
	uint8_t boot_raw[16];
	int r;

	sqlite3_bind_int64(st, 1, (int64_t)t->id);
	sqlite3_bind_int64(st, 2, t->deadline_ns);
	sqlite3_bind_int64(st, 3, t->due_rt_ns);
	store_sqlite_bind_boot_id(st, 4, t->boot_id, boot_raw);
	sqlite3_bind_int(st, 5, t->clock);
	/* An exec timer revived for a retry carries its attempt in it. */
	store_sqlite_bind_bytes(st, 6, t->exec, t->exec_len);
	r = store_sqlite_exec_one(s, ST_REVIVE, "revive", -ENOENT);
	if (r == -EEXIST)
		store_sqlite_seterr(s, "revive: another pending timer of the "
				    "owner has timer %llu's key",
				    (unsigned long long)t->id);
	return r;
}

static int
store_sqlite_get_timer(struct store *s, uint64_t id, store_timer_cb cb,
		       void *arg)
{
	sqlite3_bind_int64(s->st[ST_GET], 1, (int64_t)id);
	return store_sqlite_each_timer(s, ST_GET, "get timer", cb, arg,
				       -ENOENT);
}

static int
store_sqlite_list_ended(struct store *s, uid_t uid, bool all,
			uint64_t after_id, size_t limit, store_timer_cb cb,
			void *arg)
{
	sqlite3_stmt *st = s->st[ST_LIST_ENDED];

	sqlite3_bind_int64(st, 1, (int64_t)(after_id > INT64_MAX ? INT64_MAX
								  : after_id));
	sqlite3_bind_int64(st, 2, all ? -1 : (int64_t)uid);
	sqlite3_bind_int64(st, 3, limit > INT32_MAX ? INT32_MAX
						    : (int64_t)limit);
	return store_sqlite_each_timer(s, ST_LIST_ENDED, "list ended", cb, arg,
				       0);
}

static int
store_sqlite_find_key(struct store *s, uid_t uid, const char *key,
		      store_timer_cb cb, void *arg)
{
	sqlite3_bind_int64(s->st[ST_FIND_KEY], 1, (int64_t)uid);
	store_sqlite_bind_text(s->st[ST_FIND_KEY], 2, key);
	return store_sqlite_each_timer(s, ST_FIND_KEY, "find key", cb, arg,
				       -ENOENT);
}

static int
store_sqlite_enqueue(struct store *s, const struct store_msg *m)
{
	sqlite3_stmt *st = s->st[ST_ENQUEUE];

	sqlite3_bind_int64(st, 1, (int64_t)m->fire_id);
	sqlite3_bind_int64(st, 2, (int64_t)m->timer_id);
	sqlite3_bind_int64(st, 3, (int64_t)m->owner);
	store_sqlite_bind_text(st, 4, m->channel);
	store_sqlite_bind_bytes(st, 5, m->payload, m->payload_len);
	sqlite3_bind_int64(st, 6, m->due_rt_ns);
	sqlite3_bind_int64(st, 7, m->fired_rt_ns);
	sqlite3_bind_int64(st, 8, m->lateness_ns);
	sqlite3_bind_int64(st, 9, m->attempts);
	sqlite3_bind_int64(st, 10, m->max_attempts);
	sqlite3_bind_int(st, 11, m->delivery);
	sqlite3_bind_int(st, 12, m->dead);
	store_sqlite_bind_text(st, 13, m->reason);
	return store_sqlite_exec(s, ST_ENQUEUE, "enqueue");
}

static int
store_sqlite_ack(struct store *s, uint64_t fire_id)
{
	sqlite3_bind_int64(s->st[ST_ACK], 1, (int64_t)fire_id);
	return store_sqlite_exec_one(s, ST_ACK, "ack", -ENOENT);
}

static int
store_sqlite_update_msg(struct store *s, const struct store_msg *m)
{
	sqlite3_stmt *st = s->st[ST_UPDATE_MSG];

	sqlite3_bind_int64(st, 1, (int64_t)m->fire_id);
	sqlite3_bind_int64(st, 2, m->attempts);
	sqlite3_bind_int(st, 3, m->dead);
	store_sqlite_bind_text(st, 4, m->reason);
	return store_sqlite_exec_one(s, ST_UPDATE_MSG, "update message",
				     -ENOENT);
}

static int
store_sqlite_load_messages(struct store *s, store_msg_cb cb, void *arg)
{
	sqlite3_stmt *st = s->st[ST_LOAD_MSGS];
	struct store_msg m;
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&m, 0, sizeof(m));
		m.fire_id = (uint64_t)sqlite3_column_int64(st, 0);
		m.timer_id = (uint64_t)sqlite3_column_int64(st, 1);
		m.owner = (uid_t)sqlite3_column_int64(st, 2);
		m.channel = (const char *)sqlite3_column_text(st, 3);
		m.payload = store_sqlite_column_bytes(st, 4, &m.payload_len);
		m.due_rt_ns = sqlite3_column_int64(st, 5);
		m.fired_rt_ns = sqlite3_column_int64(st, 6);
		m.lateness_ns = sqlite3_column_int64(st, 7);
		m.attempts = (uint32_t)sqlite3_column_int64(st, 8);
		m.max_attempts = (uint32_t)sqlite3_column_int64(st, 9);
		m.delivery = sqlite3_column_int(st, 10);
		m.dead = sqlite3_column_int(st, 11) != 0;
		m.reason = (const char *)sqlite3_column_text(st, 12);
		r = cb(&m, arg);
		if (r < 0)
			goto out;
	}
	r = rc == SQLITE_DONE ? 0 : store_sqlite_error(s, rc, "load messages");
out:
	sqlite3_reset(st);
	return r;
}

static int
store_sqlite_channel_put(struct store *s, const struct store_channel *c)
{
	sqlite3_stmt *st = s->st[ST_CHANNEL_PUT];

	store_sqlite_bind_text(st, 1, c->name);
	sqlite3_bind_int64(st, 2, (int64_t)c->owner);
	store_sqlite_bind_bytes(st, 3, c->grants, c->grants_len);
	return store_sqlite_exec(s, ST_CHANNEL_PUT, "put channel");
}

static int
store_sqlite_load_channels(struct store *s, store_channel_cb cb, void *arg)
{
	sqlite3_stmt *st = s->st[ST_LOAD_CHANNELS];
	struct store_channel c;
	int rc, r = 0;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&c, 0, sizeof(c));
		c.name = (const char *)sqlite3_column_text(st, 0);
		c.owner = (uid_t)sqlite3_column_int64(st, 1);
		c.grants = store_sqlite_column_bytes(st, 2, &c.grants_len);
		if (c.name == NULL)
			continue;
		if ((r = cb(&c, arg)) < 0)
			goto out;
	}
	r = rc == SQLITE_DONE ? 0 : store_sqlite_error(s, rc, "load channels");
out:
	sqlite3_reset(st);
	return r;
}

static int
store_sqlite_run_append(struct store *s, const struct store_run *r)
{
	sqlite3_stmt *st = s->st[ST_RUN_APPEND];
	int64_t pruned, added;
	uid_t uid = 0;
	int e;

	if (s->history_per_timer == 0)
		return 0;
	sqlite3_bind_int64(st, 1, (int64_t)r->timer_id);
	sqlite3_bind_int64(st, 2, (int64_t)r->fire_id);
	sqlite3_bind_int64(st, 3, r->due_rt_ns);
	sqlite3_bind_int64(st, 4, r->fired_rt_ns);
	sqlite3_bind_int64(st, 5, r->lateness_ns);
	sqlite3_bind_int(st, 6, r->outcome);
	store_sqlite_bind_text(st, 7, r->detail);
	sqlite3_bind_int(st, 8, r->exit_code);
	sqlite3_bind_int(st, 9, r->signal);
	sqlite3_bind_int64(st, 10, r->duration_ns);
	store_sqlite_bind_bytes(st, 11, r->out, r->out_len);
	store_sqlite_bind_bytes(st, 12, r->err, r->err_len);
	e = store_sqlite_exec(s, ST_RUN_APPEND, "append run");
	if (e < 0)
		return e;
	st = s->st[ST_RUN_PRUNE];
	sqlite3_bind_int64(st, 1, (int64_t)r->timer_id);
	sqlite3_bind_int64(st, 2, s->history_per_timer);
	if ((e = store_sqlite_sum(s, ST_RUN_PRUNE, "append run", &pruned)) < 0)
		return e;
	/* Output is charged to the timer's owner; most runs have none,
	 * and then the owner is not even looked up. */
	added = (int64_t)(r->out_len + r->err_len);
	if (added - pruned == 0)
		return 0;
	if ((e = store_sqlite_timer_uid(s, r->timer_id, &uid)) == -ENOENT)
		return 0; /* a run of no stored timer counts for nobody */
	if (e < 0)
		return e;
	return store_sqlite_out_note(s, uid, added - pruned, "append run");
}

static int
store_sqlite_runs(struct store *s, uint64_t timer_id, store_run_cb cb,
		  void *arg)
{
	sqlite3_stmt *st = s->st[ST_RUNS];
	struct store_run run;
	int rc, r = 0;

	sqlite3_bind_int64(st, 1, (int64_t)timer_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		run.timer_id = (uint64_t)sqlite3_column_int64(st, 0);
		run.fire_id = (uint64_t)sqlite3_column_int64(st, 1);
		run.due_rt_ns = sqlite3_column_int64(st, 2);
		run.fired_rt_ns = sqlite3_column_int64(st, 3);
		run.lateness_ns = sqlite3_column_int64(st, 4);
		run.outcome = sqlite3_column_int(st, 5);
		run.detail = (const char *)sqlite3_column_text(st, 6);
		run.exit_code = sqlite3_column_int(st, 7);
		run.signal = sqlite3_column_int(st, 8);
		run.duration_ns = sqlite3_column_int64(st, 9);
		run.out = store_sqlite_column_bytes(st, 10, &run.out_len);
		run.err = store_sqlite_column_bytes(st, 11, &run.err_len);
		r = cb(&run, arg);
		if (r < 0)
			goto out;
	}
	r = rc == SQLITE_DONE ? 0 : store_sqlite_error(s, rc, "runs");
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

static int
store_sqlite_max_ids(struct store *s, uint64_t *ret_timer_id,
		     uint64_t *ret_fire_id)
{
	sqlite3_stmt *st = s->st[ST_MAX_IDS];
	int rc, r = 0;

	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* max() of no rows is NULL, read as 0. */
		*ret_timer_id = (uint64_t)sqlite3_column_int64(st, 0);
		*ret_fire_id = (uint64_t)sqlite3_column_int64(st, 1);
	} else
		r = store_sqlite_error(s, rc, "max ids");
	sqlite3_reset(st);
	return r;
}

static int
store_sqlite_meta_get(struct store *s, const char *key, int64_t *ret)
{
	sqlite3_stmt *st = s->st[ST_META_GET];
	int rc, r = 0;

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*ret = sqlite3_column_int64(st, 0);
	} else if (rc == SQLITE_DONE) {
		store_sqlite_seterr(s, "meta %s: unset", key);
		r = -ENOENT;
	} else {
		r = store_sqlite_error(s, rc, "meta get");
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

static int
store_sqlite_meta_put(struct store *s, const char *key, int64_t value)
{
	sqlite3_stmt *st = s->st[ST_META_PUT];

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, value);
	return store_sqlite_exec(s, ST_META_PUT, "meta put");
}

const struct store_backend store_sqlite_backend = {
    .name = "sqlite",
    .durable = true,
    .threaded = store_sqlite_threaded,
    .open = store_sqlite_open,
    .close = store_sqlite_close,
    .errmsg = store_sqlite_errmsg,
    .begin = store_sqlite_begin,
    .commit = store_sqlite_commit,
    .rollback = store_sqlite_rollback,
    .flush = store_sqlite_flush,
    .flushes = store_sqlite_flushes,
    .schedule = store_sqlite_schedule,
    .cancel = store_sqlite_cancel,
    .claim = store_sqlite_claim,
    .retire = store_sqlite_retire,
    .reschedule = store_sqlite_reschedule,
    .revive = store_sqlite_revive,
    .get_timer = store_sqlite_get_timer,
    .list_ended = store_sqlite_list_ended,
    .find_key = store_sqlite_find_key,
    .check = store_sqlite_check,
    .channel_put = store_sqlite_channel_put,
    .load_channels = store_sqlite_load_channels,
    .enqueue = store_sqlite_enqueue,
    .ack = store_sqlite_ack,
    .update_msg = store_sqlite_update_msg,
    .load_messages = store_sqlite_load_messages,
    .run_append = store_sqlite_run_append,
    .runs = store_sqlite_runs,
    .output_changes = store_sqlite_output_changes,
    .max_ids = store_sqlite_max_ids,
    .meta_get = store_sqlite_meta_get,
    .meta_put = store_sqlite_meta_put,
};
