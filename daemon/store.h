/*
 * store: where durable timers, channel messages and run records live.
 *
 * One interface, one file per backend (store_memory.c, store_sqlite.c; a
 * PostgreSQL backend is meant to be one more file). The daemon keeps the
 * authoritative in-memory queues (sched, channel); the store is the log
 * they are rebuilt from after a restart, crash or reboot.
 *
 * Claim-based, as in DESIGN.md "Scale-out": a node claims due timers
 * (each claim carries a fence), fires them, and retires them presenting
 * the fence; a retire that finds no row with that fence lost its claim and
 * must not fire again. The embedded backends have exactly one claimant,
 * the local node, so claim() simply hands over every pending timer at
 * start-up without writing anything (a claim dies with the process, which
 * is the right lease for one node) and the fence stays 0.
 *
 * Batches: every mutation happens between begin() and commit(); the daemon
 * opens one batch per loop iteration. commit() failing means nothing of
 * the batch happened (the backend rolled it back whole); the daemon then
 * answers the batch's durable requests UNAVAILABLE.
 *
 * Durability is asynchronous: a backend with flush() makes commit() cheap
 * (visible to later calls, safe from a crash of evd, not yet from one of
 * the machine) and flush() makes every batch committed before it durable.
 * The daemon runs flush() on a thread of its own while the loop reads,
 * runs and commits the next batches, and lets no reply or event out
 * before the flush that covers it is done (batch.h): each reply waits for
 * its own batch, and fsync leaves the loop thread. A backend whose
 * commit() is durable by itself (or that keeps nothing) has no flush.
 * A backend that is also `threaded` has its statements leave the loop
 * too: the daemon wraps it in an operation log (storeq.h) whose writes
 * run, with begin and commit, on a thread of the log's own; then every
 * call may come from another thread than open()'s, never two at once
 * (flush aside).
 *
 * Row errors: a write refused for the row it was given (STORE_ROW_ERROR:
 * -EEXIST, a taken id or key; -E2BIG, a value too big for the engine;
 * -EINVAL, a row the schema rejects) changed nothing, and the batch goes
 * on: it fails the one request that wrote the row, not the others of the
 * iteration. Every other error of a write means the batch is lost.
 *
 * Enumerated fields (clock, policies, run outcomes) are evd_types.h's
 * values, kept as plain integers: those numbers are the on-disk format,
 * and evd_types_pb.h asserts they are the protocol's too. Exec targets and
 * schedules are kept as opaque packed protobuf blobs; no store file
 * includes evd.pb-c.h (exec_blob.h unpacks an Exec for schema 6).
 *
 * A store found damaged at open() is refused with -EUCLEAN and a reason
 * that says "corrupt" and what to do, never taken for an empty one.
 *
 * Thread-safety: none; one thread at a time, flush() aside (a backend
 * may also use a thread of its own inside a call, as sqlite's claim()
 * does). Errors: negative errno (-EIO, -ENOSPC, -EROFS, -EBUSY, -ENOMEM,
 * -EUCLEAN, -ENOENT for "no such row"), with a human-readable reason in
 * store_errmsg().
 */
#ifndef EVD_STORE_H
#define EVD_STORE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "evd_types.h"

struct store;

/* A durable timer as stored. Strings and bytes are borrowed by the
 * store's functions and, in claim() callbacks, valid only during the
 * call. */
struct store_timer {
	uint64_t id;
	uint64_t fence;
	uid_t uid;
	gid_t gid;
	int clock;               /* enum evd_clock */
	int64_t deadline_ns;     /* on clock */
	int64_t due_rt_ns;       /* the same instant as wall time when stored */
	char boot_id[40];        /* kernel boot id when deadline_ns was set */
	int64_t created_rt_ns;
	const char *channel;     /* NULL for non-channel callbacks */
	const uint8_t *payload;
	size_t payload_len;
	const char *key;         /* idempotency key, or NULL */
	int misfire;             /* enum evd_misfire */
	int delivery;            /* enum evd_delivery */
	int downtime;            /* enum evd_downtime */
	uint32_t max_attempts;
	uint64_t fire_count;
	int64_t last_fired_rt_ns;
	/* Filled by get_timer() (claim() hands over pending timers only);
	 * ignored by schedule/retire/reschedule: true once retired for good
	 * (next NULL) or cancelled (cancelled is then set too), at
	 * finished_rt_ns (wall time; 0 while pending). remember() reads
	 * all three. */
	bool finished;
	bool cancelled;
	int64_t finished_rt_ns;
	/* An exec callback: the packed protocol Exec message (the store
	 * keeps it opaque); NULL for other callbacks. */
	const uint8_t *exec;
	size_t exec_len;
	/* A schedule beyond one deadline (repeat, calendar, randomized
	 * delay, accuracy): opaque to the store (repeat_pack), or NULL.
	 * deadline_ns is then the nominal occurrence. */
	const uint8_t *sched;
	size_t sched_len;
	bool paused;             /* does not fire until resumed */
	/* Cluster mode, claims only: how long the claim's lease had left
	 * when the claiming statement ran (the database's clock); the
	 * claimant measures it from when it sent the claim. */
	int64_t lease_left_ns;
};

/* A channel message as stored. */
struct store_msg {
	uint64_t fire_id;
	uint64_t timer_id;
	uid_t owner;
	const char *channel;
	const uint8_t *payload;
	size_t payload_len;
	int64_t due_rt_ns;
	int64_t fired_rt_ns;
	int64_t lateness_ns;
	uint32_t attempts;       /* deliveries so far */
	uint32_t max_attempts;
	int delivery;            /* enum evd_delivery */
	bool dead;               /* in the dead-letter list */
	/* Why its last delivery failed (a subscriber's Reject, a
	 * visibility timeout), or NULL: written by enqueue and
	 * update_msg, read back by load_messages. */
	const char *reason;
	/* Cluster mode (store_config.cluster_node): the message's claim.
	 * enqueue: claim set claims it for this node at insert (fence 1, a
	 * lease of claim_ns); otherwise it waits unclaimed for any node
	 * with subscribers (msg_claim). load_messages hands over this
	 * node's own claims only, each fenced anew, fence set (as claim()
	 * does timers); update_msg is fenced by fence (a lost claim's
	 * update changes nothing, and is no error). Ignored by a single
	 * node. */
	bool claim;
	uint64_t fence;
};

/* A channel's owner and grants. grants is an opaque blob the channel
 * module encodes; the store keeps it as is. */
struct store_channel {
	const char *name;
	uid_t owner;
	const uint8_t *grants;
	size_t grants_len;
};

/* One fire of a timer, or a decision about one (run records). */
struct store_run {
	uint64_t timer_id;
	uint64_t fire_id;        /* 0 for a run that produced no fire */
	int64_t due_rt_ns;
	int64_t fired_rt_ns;     /* 0 if it did not fire */
	int64_t lateness_ns;
	int outcome;             /* enum evd_run_outcome */
	const char *detail;      /* why, for skips and failures; may be NULL */
	/* Exec hooks: how it ended and the tails of its output. */
	int exit_code;
	int signal;
	int64_t duration_ns;
	const uint8_t *out;
	size_t out_len;
	const uint8_t *err;
	size_t err_len;
};

/* Whether a failed write is a row error (see above). */
#define STORE_ROW_ERROR(r) ((r) == -EEXIST || (r) == -E2BIG || (r) == -EINVAL)

/* How much a report of the engine matters (the daemon's log levels). */
enum store_log_level {
	STORE_LOG_WARNING,       /* corruption, I/O errors */
	STORE_LOG_NOTICE,        /* a journal recovered after a crash */
	STORE_LOG_INFO,
	STORE_LOG_DEBUG,         /* what a request's own error says already */
};

/*
 * What the engine reports on its own, outside any call's result (a
 * journal recovered after a crash, a corrupt page it stumbled on). msg
 * is the engine's text, not escaped: it quotes file names and SQL. May
 * be called during any store call, from the thread making it; it must
 * not call the store.
 */
typedef void (*store_log_fn)(enum store_log_level level, const char *msg);

/* How long a finished (or cancelled) timer is kept, with its runs, when
 * store_config.finished_keep_ns is 0. */
#define STORE_FINISHED_KEEP_NS (INT64_C(7) * 24 * 3600 * 1000000000)

struct store_config {
	const char *state_dir;   /* the backend's files live here */
	const char *conninfo;    /* pg: the libpq connection string */
	bool sync_full;          /* durable before any reply (else: a power
	                          * loss may take the last commits) */
	uint32_t history_per_timer; /* run records kept per timer */
	/* Where the engine's own reports go (NULL: nowhere). Process-wide:
	 * the first open() that passes one sets it up, before the engine
	 * does anything else. */
	store_log_fn log;
	/* Finished and cancelled timers are kept this long after they
	 * ended (0: STORE_FINISHED_KEEP_NS), then deleted with their runs. */
	int64_t finished_keep_ns;
	/* A store that keeps them in memory also keeps at most this many
	 * per owner, dropping the oldest (0: none at all). */
	uint32_t finished_max;
	/* Open an existing store only to read it (evd migrate's source):
	 * open() writes nothing, so it neither creates nor upgrades the
	 * schema nor prunes; -ENOENT (with errmsg) when there is no store.
	 * Honoured by pg; sqlite's caller checks that its file exists. */
	bool read_only;
	/*
	 * Cluster mode (pg only; NULL: a single node): this process's node
	 * id, as registered in the shared database (store_pg_node_open),
	 * never reused. Several nodes then share the database: timers this
	 * node schedules or revives are claimed by it at once (state C,
	 * claim_node, a claim lease of claim_ns past their due instant);
	 * claim() hands over this node's own claims only, each fenced anew
	 * (after a lost batch, or a lease gap: see cluster.h); retire,
	 * cancel and reschedule act on this node's claims; claim_due()
	 * takes pending timers and lapsed claims of any node.
	 */
	const char *cluster_node;
	int64_t claim_ns;        /* cluster mode: T, a claim's lease */
};

/* A claim to renew (store_backend.renew). */
struct store_renewal {
	uint64_t id;
	uint64_t fence;
	bool kept;              /* still this node's, renewed */
	int64_t lease_left_ns;  /* what its lease has left, when kept */
};

/* Callbacks of claim() / load_messages() / runs(); return < 0 to stop
 * (that value is then returned). */
typedef int (*store_timer_cb)(const struct store_timer *t, void *arg);
typedef int (*store_msg_cb)(const struct store_msg *m, void *arg);
typedef int (*store_run_cb)(const struct store_run *r, void *arg);
typedef int (*store_newest_cb)(const struct store_run *r, int64_t seq,
                               bool retrying, void *arg);
typedef int (*store_channel_cb)(const struct store_channel *c, void *arg);
/* n messages of owner are in channel (msg_counts); channel is borrowed. */
typedef int (*store_count_cb)(const char *channel, uid_t owner, uint64_t n,
                              void *arg);
/* A change of uid's retained run output by bytes (< 0: released). */
typedef int (*store_output_cb)(uid_t uid, int64_t bytes, void *arg);

struct store_backend {
	const char *name;
	bool durable;
	/* Whether every call on s may come from another thread than
	 * open()'s, one thread at a time (the daemon then runs its
	 * batches' writes on the sync thread, storeq.h); NULL: never. */
	bool (*threaded)(const struct store *s);
	/*
	 * Optional (NULL: every write answers at once). While on, a write
	 * may return 0 before the engine answered it; what the engine then
	 * says comes out of the next call that answers (a read, a write
	 * while off, commit), which fails with it: the batch is lost. A
	 * write of a row that is already gone (cancel, ack) counts as done.
	 * A retire whose claim is gone (-ESTALE) is the exception: the call
	 * that reads it goes on, and commit() fails with it (fence_losses);
	 * so is a renew (a one-shot exec timer's, as it fires): it answers
	 * every claim kept, with T left from the call, and a claim found
	 * gone fails the commit the same way.
	 * The operation log turns it on for the writes it logged, whose
	 * answers nobody waits for, and off again; a cluster node's
	 * scheduler, for a fire's writes (sched_fire.c).
	 */
	void (*pipeline)(struct store *s, bool on);
	/* *ret untouched on failure; errmsg(NULL) then says why. */
	int (*open)(const struct store_config *cfg, struct store **ret);
	void (*close)(struct store *s);
	/* The reason of s's last failure; with s NULL, of the last failed
	 * open() of this backend. Valid until the next call on s. */
	const char *(*errmsg)(const struct store *s);

	/* Whether writes can still reach the store (its file is the one
	 * opened, on a writable file system); 0 or -errno with a reason.
	 * Cheap: called before every batch. */
	int (*check)(struct store *s);

	int (*begin)(struct store *s);
	int (*commit)(struct store *s);
	/*
	 * Makes every batch committed so far durable; NULL, or (*flushes)(s)
	 * false, when commit() is all there is (see above). Runs on another
	 * thread than every other call on s, concurrently with them (the
	 * only call that may): it reads nothing they change. Returns 0 or
	 * -errno (-EIO: what was committed may not be on disk, and retrying
	 * cannot tell; the daemon stops). Sets no errmsg.
	 */
	int (*flush)(struct store *s);
	/* Whether commit() leaves durability to flush() for this store (the
	 * configuration decides: sync_full). */
	bool (*flushes)(const struct store *s);
	/* Abandons the open batch (after a failure inside it). */
	void (*rollback)(struct store *s);

	/* Timers. -EEXIST for a taken id or key (a row error). A cluster
	 * node's timer with no key may be answered only by the batch's
	 * next statement or its commit (pg gathers them; ids come from
	 * blocks no two nodes share, so a taken one is damage and fails
	 * the batch). */
	int (*schedule)(struct store *s, const struct store_timer *t);
	/* Ends a pending timer without a fire: it stays visible as
	 * finished and cancelled, with its history, until pruned, and its
	 * key stays bound to it meanwhile (find_key). -ENOENT if no pending
	 * timer has this id. */
	int (*cancel)(struct store *s, uint64_t id);
	/*
	 * For a backend that keeps no pending timers (memory; NULL for one
	 * that stores them, sqlite): t, a timer the daemon holds, fired or
	 * ended. From the first call on, runs of t->id are kept; once
	 * t->finished (t->cancelled: by a cancel), t is kept as a finished
	 * stored timer would be (get_timer, find_key when t->key is set,
	 * runs), up to finished_max per owner and finished_keep_ns. The
	 * daemon calls it before it appends the run of that fire or cancel.
	 * Returns 0 or -ENOMEM.
	 */
	int (*remember)(struct store *s, const struct store_timer *t);
	/* Hands every pending timer with a deadline up to horizon_rt_ns
	 * (wall time; INT64_MAX: all) to cb, each with its fence, on the
	 * calling thread. cb must not call the store: a backend may read
	 * the next rows on another thread meanwhile (sqlite does). */
	int (*claim)(struct store *s, int64_t horizon_rt_ns, store_timer_cb cb,
	             void *arg);
	/* Ends a claimed timer's occurrence: next NULL retires it for good
	 * (it stays visible as finished, with its history, until pruned);
	 * otherwise it becomes pending again as *next. -ESTALE if the fence
	 * does not match (the claim was lost). */
	int (*retire)(struct store *s, uint64_t id, uint64_t fence,
	              const struct store_timer *next);
	/* Rewrites a pending timer's clock, deadline and paused flag (a
	 * reboot moved it, a client paused or moved it). -ENOENT. */
	int (*reschedule)(struct store *s, const struct store_timer *t);
	/* Makes a finished timer pending again at t's clock and deadline,
	 * unpaused (an ack asked for the timer again), with t's exec
	 * command when it has one (a retry's attempt). -ENOENT if no
	 * finished timer has t->id (a cancelled one is not brought back),
	 * -EEXIST if the owner has another pending timer with its key. */
	int (*revive)(struct store *s, const struct store_timer *t);
	/* A finished or pending timer by id, for Get after it fired.
	 * -ENOENT if unknown. cb runs once. */
	int (*get_timer)(struct store *s, uint64_t id, store_timer_cb cb,
	                 void *arg);
	/* The finished and cancelled timers kept, with ids above after_id,
	 * in id order, at most limit of them, to cb: uid's, or every
	 * owner's when all (List with finished, `evctl list --all`). 0
	 * when none; cb's first < 0 stops and is returned. */
	int (*list_ended)(struct store *s, uid_t uid, bool all,
	                  uint64_t after_id, size_t limit, store_timer_cb cb,
	                  void *arg);

	/* The newest timer, pending or finished, that uid scheduled with
	 * key; -ENOENT if none is kept. Keys of finished and cancelled
	 * timers stay until those are pruned, so a retry after a fire or a
	 * cancel finds its timer instead of scheduling a second one. */
	int (*find_key)(struct store *s, uid_t uid, const char *key,
	                store_timer_cb cb, void *arg);

	/* Channel messages. */
	int (*enqueue)(struct store *s, const struct store_msg *m);
	/* Removes a message (acked, or delivered at most once). -ENOENT. */
	int (*ack)(struct store *s, uint64_t fire_id);
	/* Writes attempts, dead state and reason of an existing
	 * message. */
	int (*update_msg)(struct store *s, const struct store_msg *m);
	int (*load_messages)(struct store *s, store_msg_cb cb, void *arg);

	/* Channel ownership and grants: written whole (insert or replace),
	 * loaded at start-up in no particular order. */
	int (*channel_put)(struct store *s, const struct store_channel *c);
	int (*load_channels)(struct store *s, store_channel_cb cb, void *arg);

	/* Run records: appended, the oldest beyond history_per_timer pruned;
	 * runs() reports a timer's newest first. A store that keeps no
	 * pending timers drops runs of a timer it was not told of
	 * (remember) or no longer keeps, and, out of memory, the run. */
	int (*run_append)(struct store *s, const struct store_run *r);
	int (*runs)(struct store *s, uint64_t timer_id, store_run_cb cb,
	            void *arg);
	/*
	 * Retained run output (the out and err bytes of stored runs),
	 * charged to the owner of the run's timer (as stored: runs of a
	 * timer no longer stored count for nobody): reports to cb, per uid,
	 * how it changed in committed transactions since the last call
	 * (runs appended, pruned past history_per_timer, deleted with
	 * their timer when it is no longer kept), then forgets
	 * it. The first call after open() reports everything retained.
	 * A rolled-back batch changes nothing. Stops at cb's first < 0.
	 */
	int (*output_changes)(struct store *s, store_output_cb cb, void *arg);

	/* The largest timer id and message fire id stored (0 when none):
	 * ids go on above them even if the counters kept in meta fell
	 * behind (damage), so a new row never meets a taken id. Cheap
	 * (both are keys). */
	int (*max_ids)(struct store *s, uint64_t *ret_timer_id,
	               uint64_t *ret_fire_id);

	/* Small durable integers (next ids, last-seen clocks). -ENOENT if
	 * unset. */
	int (*meta_get)(struct store *s, const char *key, int64_t *ret);
	int (*meta_put)(struct store *s, const char *key, int64_t value);

	/* Cluster mode only (store_config.cluster_node set; NULL in the
	 * embedded backends, which have one node). */
	/* Reserves a block of ids that no other node will ever get, for
	 * timer ids and fire ids alike: [*ret_first, *ret_first + *ret_count).
	 * Outside the batch's transaction (never rolled back, no lock
	 * held). */
	int (*reserve_ids)(struct store *s, uint64_t *ret_first,
	                   uint64_t *ret_count);
	/* Claims, in the open batch, at most limit timers that are pending
	 * and due within lookahead_ns on the database's clock, or claimed
	 * with a lapsed claim lease (a dead or stalled node's), oldest
	 * first, skipping rows another node is claiming right now: each
	 * gets a new fence, this node as claim_node and a claim lease of
	 * claim_ns past its due instant (lease_left_ns). cb as claim()'s.
	 * Returns the number claimed or -errno. */
	int (*claim_due)(struct store *s, int64_t lookahead_ns, uint32_t limit,
	                 store_timer_cb cb, void *arg);
	/* Renews, in the open batch, this node's claims r[0..n) (id and
	 * fence; one statement): each one still this node's with that
	 * fence gets a claim lease of claim_ns from now at least, kept
	 * and lease_left_ns (as in claim_due) set; one that is not (reaped,
	 * taken after its lease lapsed, adopted anew) is a lost claim,
	 * kept false. Returns how many were kept, or -errno. */
	int (*renew)(struct store *s, struct store_renewal *r, size_t n);
	/* Cancels this node's claim id with fence (fenced). 0; -ENOENT if
	 * the timer no longer waits (fired, cancelled); -ESTALE when it
	 * still waits but is no claim of this node with this fence (the
	 * claim was lost): holder then names the node that holds it (""
	 * if none: pending). */
	int (*cancel_claim)(struct store *s, uint64_t id, uint64_t fence,
	                    char *holder, size_t holder_size);
	/*
	 * Cancels, in the open batch, timer id whoever holds it: a pending
	 * row, or a claim of any node (this one's included), live or dead.
	 * may (with arg) judges the row as it is now (ownership: 0 lets the
	 * cancel go on, < 0 is returned); it may run more than once. The
	 * update is conditional on that very row version, so a claim, fire
	 * or retire committed meanwhile is seen and judged again; the
	 * cancel bumps the fence, so the holder's fenced retire or renew of
	 * it fails, and when a node held it, that node is told
	 * (store_pg_node_notified) once the batch commits. 0 and holder
	 * (the node that held its claim, "" if none) when cancelled;
	 * -ENOENT if no timer with that id waits (fired, cancelled,
	 * unknown); -EALREADY when a one-shot exec timer fired and its
	 * hook was started and has not ended (it is not stopped; holder
	 * names the node that holds it, "" when that node is gone and it
	 * waits to run again);
	 * -EAGAIN if the row kept changing under it.
	 */
	int (*cancel_any)(struct store *s, uint64_t id, store_timer_cb may,
	                  void *arg, char *holder, size_t holder_size);
	/*
	 * Takes timer id over for this node, in the open batch, whoever
	 * holds it (a pending row, or another node's claim, live or
	 * dead), so that a request may act on it here: may judges the
	 * row as cancel_any's does; the update is conditional on that
	 * very row version and never waits for another batch's lock of
	 * it; it becomes this node's claim (new fence, a claim lease of
	 * claim_ns past its due instant, lease_left_ns), handed to cb as
	 * claim_due's rows are, and its former holder is told (as
	 * "taken", not cancelled) once the batch commits. holder as in
	 * cancel_any. -ENOENT if no timer with that id waits; -EALREADY
	 * when a one-shot exec timer's hook was started and has not ended
	 * (it stays where it is); -EINPROGRESS when a repeating exec
	 * timer's hook runs (its holder keeps it, and its overlap policy,
	 * until the hook ended); -EAGAIN if the row kept changing or was
	 * locked by another batch each time it was looked at.
	 */
	int (*take_any)(struct store *s, uint64_t id, store_timer_cb may,
	                void *may_arg, store_timer_cb cb, void *arg,
	                char *holder, size_t holder_size);
	/*
	 * cancel_any for every timer that waits (pending, or a claim of
	 * any node, live or dead) of uid (every owner's when all) into
	 * channel (NULL: into anything), with an id above after_id, at
	 * most limit of them in id order: in the open batch, each row
	 * cancelled as the version the statement judged, fence bumped, its
	 * holder told when the batch commits. A one-shot exec timer whose
	 * hook was started is left as it is (not stopped, not counted).
	 * A row another batch is writing now is not waited for: it is
	 * skipped and counted in *ret_skipped (the caller may try again).
	 * cb gets each cancelled timer as it was (state as it waited);
	 * *ret_last is the last id judged (the next page's after_id; 0
	 * when no row matched). Returns how many were judged (< limit:
	 * the last page) or -errno.
	 */
	int (*cancel_matching)(struct store *s, uid_t uid, bool all,
	                       const char *channel, uint64_t after_id,
	                       uint32_t limit, store_timer_cb cb, void *arg,
	                       uint64_t *ret_last, uint64_t *ret_skipped);
	/* The timers that wait, pending or claimed by any node, with ids
	 * above after_id, in id order, at most limit, to cb: uid's, or
	 * every owner's when all; only those into channel when it is not
	 * NULL. 0 when none; cb's first < 0 stops and is returned. */
	int (*list_held)(struct store *s, uid_t uid, bool all,
	                 const char *channel, uint64_t after_id, size_t limit,
	                 store_timer_cb cb, void *arg);
	/* The newest run of each of ids[0..n) that has one, in one read,
	 * to cb in no order: without its output, with seq (its place in
	 * the timer's history: a later run has a larger one) and retrying
	 * (the timer still waits as a one-shot: a failed attempt of it will
	 * be tried again, so it ended nothing). 0, or cb's first < 0. */
	int (*runs_newest)(struct store *s, const uint64_t *ids, size_t n,
	                   store_newest_cb cb, void *arg);
	/* The runs of each of ids[0..n) newer than bases[i] (a seq, as
	 * runs_newest reports it), oldest first, at most per of each, in
	 * one read, to cb in seq order per timer (timers in no order):
	 * without their output, with seq, and retrying: the timer is a
	 * one-shot (no schedule beyond one deadline) that waits again, or
	 * ran again after this run, so an attempt a retry followed. 0, or
	 * cb's first < 0. */
	int (*runs_since)(struct store *s, const uint64_t *ids,
	                  const int64_t *bases, size_t n, uint32_t per,
	                  store_newest_cb cb, void *arg);
	/* Cluster mode: the messages of channel, of every node (claimed
	 * or not, delivered and unacked included), live (dead false) or
	 * dead letters, of owner (every owner's when all), with fire ids
	 * above after, in fire id order, at most limit, to cb (fence
	 * unset). A read, not the batch's. 0, or cb's first < 0. */
	int (*msg_list)(struct store *s, const char *channel, bool dead,
	                uid_t owner, bool all, uint64_t after, uint32_t limit,
	                store_msg_cb cb, void *arg);
	/* Cluster mode: deletes, in the open batch, channel's live
	 * messages of owner (every owner's when all) that no node holds:
	 * never claimed, given back, reaped, or whose claim's lease
	 * lapsed (its node no longer delivers them); rows another batch
	 * is writing now are skipped, not waited for. Claims of this node
	 * and live claims of others are left (their holders have them in
	 * memory). Returns how many were deleted, or -errno. */
	int (*msg_purge_unheld)(struct store *s, const char *channel,
	                        uid_t owner, bool all);
	/* Cluster mode: how many messages of each of channels[0..n) the
	 * database holds, of every node (claimed or not, delivered and
	 * unacked included): live into queued[i], dead letters into
	 * dead[i]. A read, not the batch's. */
	int (*msg_channel_counts)(struct store *s,
	                          const char *const *channels, size_t n,
	                          uint64_t *queued, uint64_t *dead);
	/* Optional (cluster mode, with pipeline): how many fenced writes
	 * sent while pipelining found their claim gone, since open. Each
	 * made its batch fail: the call that read its answer went on, and
	 * commit() then rolled the batch back and returned -ESTALE (a read
	 * in between is answered as if the batch were whole: nothing of it
	 * is kept). */
	uint64_t (*fence_losses)(const struct store *s);

	/* Cluster mode's channel messages (see struct store_msg). */
	/* Claims, in the open batch, for each channels[i] at most
	 * limits[i] live messages and dead_limits[i] dead letters that no
	 * node holds (never claimed, given back, reaped) or whose claim
	 * lease lapsed, oldest fire id first, skipping rows another node
	 * is claiming now: each gets a new fence, this node as consumer
	 * and a lease of claim_ns. cb as load_messages' (fence set).
	 * Returns the number claimed or -errno. */
	int (*msg_claim)(struct store *s, const char *const *channels,
	                 const uint32_t *limits, const uint32_t *dead_limits,
	                 size_t n, store_msg_cb cb, void *arg);
	/* Deletes a message this node holds with fence (an ack, a purge,
	 * an at-most-once delivery). -ESTALE: it is no claim of this node
	 * with this fence any more (reaped, lapsed and taken): another
	 * node may deliver it. */
	int (*msg_ack)(struct store *s, uint64_t fire_id, uint64_t fence);
	/* As renew, for messages (id is the fire id): kept, lease_left_ns.
	 * Returns how many were kept, or -errno. */
	int (*msg_renew)(struct store *s, struct store_renewal *r, size_t n);
	/*
	 * Optional (NULL: none). Many fenced writes in one statement, each
	 * judged alone: r[0..n) sorted by id, no id twice (else -EINVAL);
	 * kept says which were still this node's claims with that fence
	 * (the others changed nothing: lost claims, no error). While
	 * pipelining they are only sent: kept is filled by the next call
	 * that reads answers (commit() at the latest, whose success alone
	 * makes them true), so r must stay valid until then; otherwise at
	 * once. Returns 0 or -errno (the batch is lost).
	 * retire_claims: as retire(id, fence, NULL) (a hook ended);
	 * msg_ack_many: as msg_ack;
	 * msg_deliver_many: a delivery (attempts[i] written, live again)
	 * of a message whose claim's lease lasts (as update_msg).
	 */
	int (*retire_claims)(struct store *s, struct store_renewal *r,
	                     size_t n);
	int (*msg_ack_many)(struct store *s, struct store_renewal *r,
	                    size_t n);
	int (*msg_deliver_many)(struct store *s, struct store_renewal *r,
	                        const uint32_t *attempts, size_t n);
	/* Gives back this node's claims r[0..n) (fenced): claimable at
	 * once by any node, with a new fence. */
	int (*msg_release)(struct store *s, const struct store_renewal *r,
	                   size_t n);
	/* How many messages the database holds per channel and owner
	 * (queued, in flight or dead, whichever node holds them or none),
	 * as every node's committed batches left them: cb once for each
	 * pair with any. Cheap (no message row is read), so that a node
	 * can bound a channel and an owner across nodes. Reads: before
	 * the batch's first write, like load_channels. */
	int (*msg_counts)(struct store *s, store_count_cb cb, void *arg);
	/* Reads channel name's row (cb once, if there is one) and, in
	 * cluster mode, locks it until the batch ends, so that a grant is
	 * a read-modify-write no other node's grant interleaves with. */
	int (*channel_lock)(struct store *s, const char *name,
	                    store_channel_cb cb, void *arg);
};

/* The backend called name ("memory", "sqlite", "pg"), or NULL. */
const struct store_backend *store_backend_find(const char *name);

extern const struct store_backend store_memory_backend;
extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;
/*
 * Cluster mode's node connection (store_pg.c), apart from the store's:
 * its own libpq connection, so that a slow batch cannot delay a
 * heartbeat. open registers a fresh node id (a sequence: never reused)
 * with the database's clock and blocks (start-up); every other call
 * sends or reads without waiting, one statement in flight at a time:
 * the caller watches fd for reading and calls read when it is ready.
 */
struct store_pg_node;
struct store_pg_node_beat {
	int kind;          /* STORE_PG_BEAT or STORE_PG_REAP */
	bool fresh;        /* beat: the row was fresh (within D) on arrival */
	uint64_t reaped_nodes, reaped_timers; /* reap */
	uint64_t reaped_messages; /* reap: message claims given back */
};
#define STORE_PG_BEAT 1
#define STORE_PG_REAP 2
#define STORE_PG_CONNECTED 3 /* a reconnect is done (read says 1) */
#define STORE_PG_LISTEN 4    /* in flight only: LISTEN after a reconnect */
#define STORE_PG_WANT_READ 1
#define STORE_PG_WANT_WRITE 2
/* Registers a node; *ret_node is its id (text, owned by the node). */
int store_pg_node_open(const char *conninfo, struct store_pg_node **ret,
                       char *err, size_t errsize);
void store_pg_node_close(struct store_pg_node *n);
const char *store_pg_node_id(const struct store_pg_node *n);
int store_pg_node_fd(const struct store_pg_node *n); /* -1: none */
/* A statement in flight, or a reconnect under way. */
bool store_pg_node_busy(const struct store_pg_node *n);
/* What the caller waits for on fd: STORE_PG_WANT_READ, or, while a
 * reconnect is under way, maybe STORE_PG_WANT_WRITE (read() then takes
 * the next step). */
int store_pg_node_want(const struct store_pg_node *n);
/* Gives up the connection and whatever is in flight on it (a statement
 * or a reconnect the caller waited too long for). */
void store_pg_node_abandon(struct store_pg_node *n);
/* Starts a reconnect without waiting: 0 (under way), -ENOTCONN. */
int store_pg_node_reconnect(struct store_pg_node *n, char *err,
                            size_t errsize);
/* Sends a heartbeat (death_ns: D, for "fresh"); -EBUSY if a statement
 * is in flight or a reconnect under way, -EINPROGRESS if the connection
 * was lost (a reconnect starts: read() says 1 with kind
 * STORE_PG_CONNECTED when it is done), -ENOTCONN if it cannot start. */
int store_pg_node_beat(struct store_pg_node *n, int64_t death_ns);
/* Whether an evd_msg notification (a message waits unclaimed) came
 * since the last call (read takes them in; the connection listens from
 * open, and again after a reconnect before read says it is done);
 * clears it. A hint: claims stay the truth. */
bool store_pg_node_msg_hint(struct store_pg_node *n);
/* The channels evd_msg notifications named since the last take (each
 * notification names one channel: the one a message waits in), each
 * once: up to STORE_PG_HINTS_MAX names written to ret (the caller frees
 * each), returned how many; *ret_all set if more were named than that
 * (or a copy failed): then every channel may have some. Hints only. */
#define STORE_PG_HINTS_MAX 64
size_t store_pg_node_msg_take(struct store_pg_node *n, char **ret,
                              bool *ret_all);
/* Sends a reap: nodes silent for death_ns are deleted, their claims
 * become pending again at their due instant with a new fence. */
int store_pg_node_reap(struct store_pg_node *n, int64_t death_ns);
/* A timer this node held that another node cancelled (cancel_any,
 * cancel_matching) or took over (take_any: *ret_taken, with the claim's
 * new fence in *ret_fence and the seq of its newest run before the take
 * in *ret_seq), as the database told this connection: 1 and
 * *ret_id for each, oldest first, then 0. Collected by read (and open);
 * a notice sent while the connection was down is lost (the timer's
 * fenced retire then fails). */
int store_pg_node_notified(struct store_pg_node *n, uint64_t *ret_id,
                           bool *ret_taken, uint64_t *ret_fence,
                           int64_t *ret_seq);
/* At a clean stop (blocking): this node's claims become pending again
 * at their due instant, with a new fence, and its row goes. */
int store_pg_node_leave(struct store_pg_node *n, char *err, size_t errsize);
/* Reads what arrived: 1 and *ret when a statement's result is whole, 0
 * when not yet, -errno when it failed (err says why) or the connection
 * was lost. */
int store_pg_node_read(struct store_pg_node *n,
                       struct store_pg_node_beat *ret, char *err,
                       size_t errsize);

/* Tests only: makes xid the witness flush() checks after a reconnect
 * (store_pg.c), as if the last batch that committed had it. */
void store_pg_test_witness(struct store *s, uint64_t xid);
/* Tests only: the first value sql returns on the node connection n, or
 * (n NULL) on s's loop connection, into buf; 0 or -EIO. Neither may
 * have a statement in flight. */
int store_pg_test_sql(struct store *s, struct store_pg_node *n,
                      const char *sql, char *buf, size_t size);

#endif
