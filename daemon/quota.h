/*
 * quota: what each uid holds, and the limits on it.
 *
 * Counts per uid: pending timers, queued channel messages, and the bytes
 * the daemon keeps for it: a fixed overhead per timer and message, their
 * idempotency keys and payloads, exec timers' commands (argv, env, cwd,
 * properties) and the hook output retained in run history. The owners of timers and messages update the counts
 * as things come and go; admission asks quota_check() before creating
 * anything. Root (uid 0) is counted but never limited: it administers the
 * daemon. A limit of 0 means unlimited. With several loops a loop's
 * changes reach the others once per iteration (quota_sync).
 *
 * Pure: no I/O, no clock, no logging.
 */
#ifndef EVD_QUOTA_H
#define EVD_QUOTA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Defaults for a multi-user machine: far more than cron, at or a
 * user's systemd timers ever hold, small enough that one user cannot
 * take the daemon's memory, disk or time from everyone else (root is
 * not limited). evd.conf(5) says how to raise them. */
#define QUOTA_DEFAULT_TIMERS 100000
#define QUOTA_DEFAULT_MESSAGES 100000
#define QUOTA_DEFAULT_BYTES (256ull * 1024 * 1024)
/* Bytes counted for each timer and message beyond what it carries (its
 * key, payload, command): its record in memory and its row in the
 * store, so that many empty timers still cost their owner something. */
#define QUOTA_TIMER_OVERHEAD 256
#define QUOTA_MESSAGE_OVERHEAD 128

struct quota_limits {
	uint64_t timers;   /* pending timers per uid */
	uint64_t messages; /* queued channel messages per uid */
	uint64_t bytes;    /* bytes kept per uid (payloads, commands, output) */
};

/* What a uid holds. */
struct quota_usage {
	uint64_t timers;
	uint64_t messages;
	uint64_t bytes;
};

/* QUOTA_BYTES: bytes alone, held by no item of their own (retained
 * hook output). */
enum quota_kind { QUOTA_TIMER, QUOTA_MESSAGE, QUOTA_BYTES };

int quota_init(void);
void quota_shutdown(void);
void quota_set_limits(const struct quota_limits *l);
void quota_get_limits(struct quota_limits *ret);

/*
 * Whether uid may add one more item of kind carrying bytes (for
 * QUOTA_BYTES, just the bytes).
 * Returns 0, or -EDQUOT with a reason ("uid 1000 has 100000 pending
 * timers, its quota") written into why (why_size bytes).
 */
int quota_check(uid_t uid, enum quota_kind kind, size_t bytes, char *why,
                size_t why_size);
/* The bytes quota_check, quota_add and quota_release count for one item
 * of kind on top of the bytes they are given. */
size_t quota_overhead(enum quota_kind kind);

/* Counts an item in (add) or out (release). Returns 0 or -ENOMEM (add
 * only; the item must then not be created). */
int quota_add(uid_t uid, enum quota_kind kind, size_t bytes);
void quota_release(uid_t uid, enum quota_kind kind, size_t bytes);

/* What uid holds: the shared count plus the calling loop's changes not
 * yet published. */
void quota_usage(uid_t uid, struct quota_usage *ret);

/*
 * Cluster mode: the messages uid has in the store the nodes share
 * (queued, in flight or dead, on any node), as the node last read it
 * plus what it inserted since. quota_check counts a uid's messages as
 * the larger of this and what the node holds, so that messages no node
 * holds (a channel nobody subscribes to here) still count. set returns
 * 0 or -ENOMEM (the figure is then unknown: 0); clear forgets every
 * figure (before a new read). Thread: any loop (under the lock).
 */
int quota_set_elsewhere(uid_t uid, uint64_t messages);
void quota_clear_elsewhere(void);

/*
 * Multi-loop (shard.h): publishes the calling loop's changes to the
 * shared counts. Each loop calls it once per iteration and once before
 * it stops; with one loop there is never anything to publish. Thread:
 * the calling loop's own changes only.
 */
void quota_sync(void);

#endif
