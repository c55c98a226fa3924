/*
 * cluster: this evd as one node of several on one PostgreSQL database
 * (DESIGN.md "Scale-out", issue 19): no leader, no evd-to-evd protocol.
 *
 * What it runs on the loop, each on a libevent event:
 *   - identity: a fresh node id per process start (store_pg_node_open),
 *     never reused, given to the store (store_config.cluster_node);
 *   - heartbeat: every D/5 on the node's own connection, never waited
 *     for; each reply feeds lease.h, which says until when (monotonic)
 *     the node may act (safe_until) and whether a gap voided its claims;
 *   - self-fencing: no durable fire while the lease is not live (the
 *     scheduler holds them back); when it lapses every claim in memory
 *     is dropped; after a gap the node adopts again, with new fences,
 *     what the database still says is its own;
 *   - claims: every CLUSTER_CLAIM_MS, and at once after a reap, pending
 *     timers due within the look-ahead and lapsed claims of any node
 *     (FOR UPDATE SKIP LOCKED) go into the scheduler, in the batch;
 *   - reaping: after each heartbeat, the claims of nodes silent for D
 *     are made pending again with a new fence, and such a node's row is
 *     deleted once none is left (claims locked at the time wait for the
 *     next reap);
 *   - fenced retirement: a retire that matches no row (its claim was
 *     reaped, or taken after its lease lapsed) is a fence loss: counted,
 *     and the timer dropped, never fired again by this node. A one-shot
 *     exec timer is retired when its hook ended (at-least-once): its
 *     claim is renewed, fenced, when it fires (one taken meanwhile is a
 *     fence loss, not a fire), then every T/4 while its hook waits or
 *     runs, so that no peer takes it while it runs; a queued hook starts
 *     only while its claim is good (lease live, same epoch, its own lease
 *     not run out on this node's measure); a rebuild after a lost batch
 *     or a gap keeps a running hook's claim instead of firing it again;
 *   - cancel: fenced; a timer another node holds (or took from this
 *     one) is cancelled in the database by whichever node is asked
 *     (sched_cancel_stored; many at once: sched_cancel_matching_stored),
 *     and its holder, told by a NOTIFY on its node connection, drops it;
 *   - pause, resume, trigger of a timer another node holds: the node
 *     asked takes it over first (sched_take_stored: fenced, its holder
 *     told "t<id>" drops it, its waiters there follow it in the store);
 *   - the node connection reconnects without blocking the loop, and a
 *     statement on it unanswered for two beats (at most D/2) is given
 *     up (missed beats);
 *   - the store's connection waits at most D/4 for a row lock and the
 *     server ends its transaction if it idles D/2 (a stopped node), so
 *     a stalled node cannot stall another's loop.
 *
 * Every deadline two nodes compare (claim leases, node death) is on the
 * database's clock; a node measures only intervals. Opt-in
 * (--cluster, cluster = yes) and only with a pg store.
 *
 * Thread-safety: the loop thread (loop 0) only; one per process.
 * Boundary module: it logs.
 */
#ifndef EVD_CLUSTER_H
#define EVD_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store_backend;

/* Counters, since start (and the node id). */
struct cluster_stats {
	char node[32];
	uint64_t fence_losses;  /* retires that found their claim gone */
	uint64_t claimed;       /* timers claimed by claim_due */
	uint64_t reaped_nodes, reaped_timers; /* by this node's reaps */
	uint64_t lapses;        /* lease lapses (claims dropped) */
	uint64_t gaps;          /* heartbeat gaps (claims adopted anew) */
	uint64_t renewed;       /* claims of waiting or running hooks renewed */
	uint64_t unstarted;     /* hooks not started: their claim may have
	                         * lapsed */
	uint64_t stalls;        /* node connection unanswered for D/2, given
	                         * up */
	uint64_t cancelled_elsewhere; /* claims dropped: another node
	                               * cancelled them */
	/* Filled by cluster_stats() at the call, not counted: */
	bool live;              /* the lease is live: the node may fire */
	uint64_t claims_held;   /* durable timers in memory + hooks running */
	/* Heartbeat round trips (the database's latency, as the node
	 * sees it): the last answered one, p99 and max over the last
	 * rtt_samples (at most CLUSTER_RTT_WINDOW); 0 before any. */
	int64_t rtt_last_ns, rtt_p99_ns, rtt_max_ns;
	uint32_t rtt_samples;
	/* Since the first heartbeat sent after the last answer (0: all
	 * answered): a database gone silent shows here. */
	int64_t rtt_pending_ns;
};
#define CLUSTER_RTT_WINDOW 128

/*
 * Registers a fresh node in the database of conninfo (blocking: start-up
 * only), with death_ns the death threshold D, heartbeats every beat_ns
 * (0: D/5; at most D/3, so that one lost heartbeat leaves the lease
 * live), a claim's lease 3 D. Returns 0, or -errno with a reason in err
 * (-EINVAL: beat_ns too long).
 */
int cluster_open(const char *conninfo, int64_t death_ns, int64_t beat_ns,
                 char *err, size_t errsize);
/* The node id (for store_config.cluster_node) and a claim's lease. */
const char *cluster_node_id(void);
int64_t cluster_claim_ns(void);
/* Starts heartbeats, claims and reaps on base, over the open store (batch
 * adopted it), and installs the scheduler's hooks. 0, -ENOMEM, or
 * -ENOTSUP when the store (as batch wraps it) has no message claims. */
int cluster_start(struct event_base *base);
/* evd stops: hooks killed from now on did not run to their end, so
 * their timers are not retired (the claims go back to the others). */
void cluster_stopping(void);
/* Gives up this node's claims (pending again at once, for a peer) and its
 * node row, logs the counters, and frees everything. NULL-safe in the
 * sense that it does nothing when cluster_open was not called. */
void cluster_shutdown(void);
bool cluster_enabled(void);
void cluster_stats(struct cluster_stats *ret);
/* The loop's batch is about to end (loop.c, each turn, before its
 * commit): the claims of hooks that ended in the turn are retired in
 * it, in one statement judged at the commit. */
void cluster_batch_flush(void);
/* The loop's batch ended (loop.c, each turn): committed or lost. A
 * claim a committed retire found gone is a fence loss; those a lost
 * batch retired are retired again. */
void cluster_batch_end(bool committed);

#endif
