/*
 * sched: every pending timer of the daemon, and firing them on time.
 *
 * Structure: one timerq (indexed min-heap) per clock (monotonic, realtime,
 * boottime), each armed on a timerfd of that clock with an absolute
 * deadline, so the kernel wakes us exactly at the earliest deadline: no
 * polling, no tick, no libevent coarse timer. The realtime timerfd also
 * has TFD_TIMER_CANCEL_ON_SET, so a clock step re-evaluates wall-clock
 * timers at once; relative timers live on their own clocks and are never
 * moved by a step. An idtab (a radix tree over the dense ids) finds a
 * timer by id for cancel/get and walks timers in id order for paged
 * listing; a strmap finds a timer by (owner, key).
 *
 * Order: equal deadlines fire in scheduling order (the heap breaks ties
 * by a sequence number). call_soon is a monotonic timer due "now", so it
 * fires at the next loop iteration after everything already due, and
 * call_soons run in FIFO order.
 *
 * Firing: a timer is unlinked from every index before its callback is
 * delivered; cancelling it from inside delivery is NOT_FOUND, never a
 * double free. At most SCHED_FIRE_BATCH timers fire per wakeup; the rest
 * wait one loop turn so that I/O is not starved by a burst.
 *
 * Files: sched.c keeps the timers, their indexes and this API;
 * sched_fire.c runs the firing policy (plan, misfire, overlap, rate, the
 * right to publish at fire time), hands each fire to deliver.h as one
 * struct fire, and takes a hook's end back through sched_fire_done.
 * sched_clock.c arms the timerfds and follows clock steps and zone
 * changes; sched_load.c rebuilds durable timers from the store.
 * sched_int.h is what those four share, and nothing else includes it. sched says what a timer is
 * (sched_view); the request layer renders replies from that. Policies,
 * clocks and outcomes are the daemon's enums (evd_types.h): nothing of
 * the scheduler includes evd.pb-c.h (test_include_arrows.sh checks it).
 */
#ifndef EVD_SCHED_H
#define EVD_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "evd_types.h"

struct event_base;
struct repeat;
struct timer;

/* What a new timer is; every pointer is borrowed and copied. */
struct sched_spec {
	uid_t uid;
	gid_t gid;
	int clock;                /* enum evd_clock */
	int64_t deadline_ns;      /* on clock */
	uint64_t conn_id;         /* caller target when channel is NULL */
	const char *channel;      /* channel target, or NULL */
	const uint8_t *exec;      /* exec target: packed Exec (evd.proto), or NULL */
	size_t exec_len;
	const uint8_t *payload;
	size_t payload_len;
	const char *key;          /* idempotency key, or NULL */
	int misfire;              /* enum evd_misfire */
	int delivery;             /* enum evd_delivery, channel timers */
	int downtime;             /* enum evd_downtime */
	uint32_t max_attempts;    /* 0: the channel default */
	/* Repeat, calendar, randomized delay, accuracy (repeat.h), or
	 * NULL; deadline_ns is then the first nominal occurrence. Taken
	 * over by sched_add whatever it returns. */
	struct repeat *rep;
};

/* Counters for Stats. */
struct sched_stats {
	uint64_t pending;
	uint64_t durable;       /* of pending: channel and exec timers */
	uint64_t scheduled_total;
	uint64_t fired_total;
	uint64_t cancelled_total;
	uint64_t clock_steps;   /* the wall clock was set or stepped */
	uint64_t tz_changes;    /* the system zone's UTC offset changed */
	int64_t utc_offset_s;   /* the system zone's offset now */
};

struct store;
struct store_backend;
struct store_config;

/* Creates the timerfds and their events on base, and the keeper: a
 * memory store of this loop's own, with keep's bounds, for what is left
 * of caller timers once they ended (NULL: nothing is kept of them).
 * Returns 0 or -errno. */
int sched_init(struct event_base *base, const struct store_config *keep);
struct event_base *sched_event_base(void);

/* The keeper (see sched_init) and its backend, or NULL: where Get and
 * Wait find the caller timers of this loop that ended. */
struct store *sched_keeper(const struct store_backend **ret_be);
/*
 * Replaces every durable timer in memory with what the store holds: at
 * start-up, and after a batch was rolled back. Deadlines of relative
 * timers from another boot follow their downtime policy; timers whose
 * deadline passed while evd was down follow their misfire policy. The
 * writes this needs go into the current batch. Returns 0 or -errno.
 */
int sched_reload_durable(const struct store_backend *be, struct store *s);
/* The store writes again (the loop's batch resumed): fire the durable
 * timers held back meanwhile. */
void sched_release_held(void);
/* Fires per second one non-root uid's durable timers may cost each loop
 * (max_fires_per_uid); 0: no bound. Any thread. */
void sched_set_fire_rate(uint32_t per_second);
/* Frees every timer and the timerfds. */
void sched_shutdown(void);

/*
 * Cluster mode (cluster.h): several nodes share the store, and every
 * durable timer in memory is one of this node's claims. The scheduler
 * asks before each durable fire whether the node may act (its lease is
 * live: self-fencing; if not, the timer is held back), reports a retire
 * that found its claim gone (a fence loss: the timer is not fired, and
 * the node drops it on its next turn), and leaves a one-shot exec
 * timer's retire to the end of its hook (at-least-once: a node that dies
 * before then leaves the claim for a peer to reap and fire again).
 * Callbacks run on the loop thread; ops must outlive the scheduler.
 */
struct sched_cluster_ops {
	bool (*may_fire)(void);
	void (*claim_lost)(uint64_t timer_id);
	/* A one-shot exec timer fired with this fence, its claim renewed
	 * (fenced) in the fire's batch, with lease_left_ns left then,
	 * counted from sent_ns (CLOCK_MONOTONIC, before the renewal was
	 * sent); retire it (fenced) when its hook has ended, and renew
	 * its claim meanwhile. */
	void (*exec_fired)(uint64_t timer_id, uint64_t fence,
	                   int64_t sent_ns, int64_t lease_left_ns);
	/* A hook of timer_id ended (sched_fire_done). */
	void (*exec_ended)(uint64_t timer_id);
	/* A hook of timer_id never ran (sched_fire_unrun): nothing to
	 * retire, its claim stays for an adoption or a peer. */
	void (*exec_unrun)(uint64_t timer_id);
	/* A rebuild (sched_reload_durable: a lost batch, an adoption)
	 * found this node's claim of timer_id with a new fence and
	 * lease_left_ns left, counted from sent_ns: true if its hook
	 * still runs (or waits to) here, so that it must not be fired
	 * again; the cluster then holds it with that fence. */
	bool (*adopted)(uint64_t timer_id, uint64_t fence, int64_t sent_ns,
	                int64_t lease_left_ns);
};
void sched_set_cluster(const struct sched_cluster_ops *ops);

/*
 * fn(arg) runs after a run of due timers that sent Fired events to
 * callers (not from inside the run). The loop sets it to end its turn
 * there, so that those events go out before the requests read in the
 * same turn are run. NULL: none. Per loop thread.
 */
void sched_on_caller_fired(void (*fn)(void *arg), void *arg);
/* Forgets durable timers in memory, the store unchanged: the one with
 * id (if held), or with id 0 every one (claims dropped at a lease
 * lapse). */
void sched_drop_durable(uint64_t id);
/*
 * Claims at most limit due timers from the store in the current batch
 * (store_backend.claim_due) and holds them as sched_reload_durable
 * would load them. Returns how many were claimed, or -errno.
 */
int sched_claim_due(const struct store_backend *be, struct store *s,
                    int64_t lookahead_ns, uint32_t limit);

/*
 * Schedules a timer; a channel timer is durable (written to the store in
 * this iteration's batch). If spec->key is set and the owner already has
 * a pending timer with that key, returns that one and sets *ret_existing.
 * Returns 0, -ENOMEM, -EOVERFLOW (no more ids), -ENOBUFS (the channel's
 * queue is full), -EAGAIN (the store refuses writes), -EIO (the store
 * write failed; the batch is lost) or a row error of the store (-EEXIST,
 * -E2BIG, -EINVAL: this timer only failed, the batch goes on; the reason
 * is in batch_row_errmsg()).
 */
int sched_add(const struct sched_spec *spec, struct timer **ret,
              bool *ret_existing);

/* The pending timer uid scheduled with key, or NULL. */
struct timer *sched_find_key(uid_t uid, const char *key);

/* The pending timer with this id that uid may see (root sees all), or
 * NULL. */
/* A timer of anyone's that targets a channel uid owns (its owner may
 * see and cancel what publishes into it), or NULL. */
struct timer *sched_lookup_in_channel(uint64_t id, uid_t uid);
struct timer *sched_lookup(uint64_t id, uid_t uid);

/* Cancels a pending timer and frees it; its store (the keeper for a
 * caller timer) keeps it as cancelled, with a CANCELLED run. Returns 0,
 * -EAGAIN or -EIO (a durable timer whose cancel the store refused; it
 * stays pending), or in cluster mode -ESTALE: another node took its
 * claim (batch_row_errmsg() says which), nothing changed, and this
 * node drops it. */
int sched_cancel(struct timer *t);
/*
 * Cluster mode: cancels, in the store, a timer this node does not hold
 * in memory (another node's claim, live or dead, or a pending one) that
 * asker may cancel (its owner, root, the owner of its channel); the
 * store keeps it cancelled with a CANCELLED run, and its holder, told
 * once the batch commits, drops it (sched_cancelled_elsewhere) -- or,
 * if it fires first, its fenced retire wins and this finds it gone.
 * Returns 0 (ret_holder: the node that held it, "" if none), -ENOENT
 * (none waits that asker may see; always outside cluster mode),
 * -EALREADY (a one-shot exec timer whose hook was started and has not
 * ended: not stopped; ret_holder names its holder, if any), -EBUSY (it
 * kept changing: try
 * again), -EAGAIN or -EIO (the store).
 */
int sched_cancel_stored(uint64_t id, uid_t asker, char *ret_holder,
                        size_t holder_size);
/*
 * Cluster mode: sched_cancel_stored for every durable timer that waits
 * in the database (pending, or held by any node) of owner (every
 * owner's when all) into channel (NULL: into anything), in the open
 * batch; the caller has judged that asker may cancel all of them. A
 * one-shot exec timer whose hook was started is left (not stopped, not
 * counted), as Cancel leaves it. A row another node is writing right
 * now is never waited for: it is looked at again a few times, and what
 * is still being written then is *ret_skipped. One call cancels at most
 * SCHED_CANCEL_MAX_PAGES pages, so that the loop is not held for long:
 * *ret_more says more may wait. *ret_n: how many this cancelled.
 * Returns 0 (also outside cluster mode: nothing), -EAGAIN or -EIO (the
 * store; the batch fails).
 */
#define SCHED_CANCEL_PAGE 1024
#define SCHED_CANCEL_MAX_PAGES 16
int sched_cancel_matching_stored(uid_t owner, bool all, const char *channel,
                                 uint64_t *ret_n, uint64_t *ret_skipped,
                                 bool *ret_more);
/*
 * Cluster mode: makes durable timer id, which another node holds (or
 * none does), this node's claim in the open batch (store_backend.
 * take_any), held in memory as a claim_due'd one, so that a request
 * (pause, resume, trigger) acts on it here; asker must own it (or be
 * root), as sched_lookup says. Its former holder, told once the batch
 * commits, drops it (sched_taken_elsewhere). Returns 0 (ret_holder: the
 * node that held it, "" if none), -ENOENT (none waits that asker may
 * see; always outside cluster mode), -EALREADY (a one-shot exec timer
 * whose hook was started: it stays where it is), -EINPROGRESS (a
 * repeating exec timer whose hook runs: its holder keeps it, and its
 * overlap policy, until the hook ended), -EBUSY (it kept
 * changing, or was locked by another node's batch: try again), -EAGAIN
 * or -EIO (the store).
 */
int sched_take_stored(uint64_t id, uid_t asker, char *ret_holder,
                      size_t holder_size);
/* Cluster mode: another node took over durable timer id, which this
 * node holds (sched_take_stored there) and now has fence: it goes from
 * memory, the store unchanged, unless this node holds it with that
 * fence or a newer one (the notice came late: this node took it back);
 * its waiters here wait on, on the store, for runs after seq (the newest
 * before the take: the taker's first fire may have committed with the
 * take). Returns whether it was dropped. */
bool sched_taken_elsewhere(uint64_t id, uint64_t fence, int64_t seq);
/* Cluster mode: another node cancelled durable timer id, which this
 * node holds: it goes, as a cancel would (its waiters hear so), the
 * store unchanged. Returns whether it was held. */
bool sched_cancelled_elsewhere(uint64_t id);
/*
 * Cluster mode: Wait on a timer another node holds. Notes the timer's
 * newest stored run; from then on sched_poll_watched ends its waiters'
 * wait (deliver.h) with the first later run that ends a fire or the
 * timer (queued, an exec hook's last end, cancelled), or forgets it
 * once nobody waits. Returns 0, -ENOENT (not cluster mode), -EAGAIN (no
 * store, or its runs unreadable) or -ENOMEM. The caller that then adds
 * no waiter calls sched_unwatch_stored.
 */
int sched_watch_stored(uint64_t id);
/* As sched_watch_stored, for runs after seq rather than after the
 * newest one now (a take-over notice says which was newest before). */
int sched_watch_stored_from(uint64_t id, int64_t seq);
/* Forgets id's watch unless someone waits on it. */
void sched_unwatch_stored(uint64_t id);
/* Reads, in one statement, the runs since the last poll of at most 64
 * watched timers, the next ones in turn after the last poll's. */
void sched_poll_watched(const struct store_backend *be, struct store *s);

/*
 * Pause: t stays pending but leaves its queue until resumed. Resume: back
 * in its queue; a deadline that passed meanwhile fires at once (misfire
 * fire, all) or is skipped to the next occurrence (skip; a one-shot then
 * ends and *ret_ended is set: t is freed). Both return 0, -EALREADY
 * (already paused / not paused), -EAGAIN or -EIO (the store).
 */
int sched_pause(struct timer *t);
int sched_resume(struct timer *t, bool *ret_ended);

/*
 * Fires t once now without moving its schedule; a one-shot timer then
 * ends (*ret_ended set: t is freed). A repeating exec timer's overlap
 * policy does not apply: the caller asked for this run. Returns 0,
 * -EAGAIN (the store refuses writes, or the hook queue is full) or
 * -ENOBUFS (a channel timer's channel is full, or its owner at the
 * message quota).
 */
int sched_trigger(struct timer *t, bool *ret_ended);

/* Moves a pending timer to a new clock and nominal deadline (an ack's
 * reschedule of a repeating timer). Returns 0, -EAGAIN or -EIO. */
int sched_reschedule(struct timer *t, int clock, int64_t deadline_ns);

/* A finished channel timer an ack asks for again; pointers borrowed. */
struct sched_revival {
	uint64_t timer_id;
	uid_t uid;
	gid_t gid;
	const char *channel;
	const uint8_t *payload;
	size_t payload_len;
	int delivery;
	uint32_t max_attempts;
	int clock;
	int64_t deadline_ns;
	/* An exec timer's command (packed Exec), or NULL: replaces the
	 * stored one when not NULL (a retry's attempt number is in it). */
	const uint8_t *exec;
	size_t exec_len;
	const char *why; /* for the log: "by an ack" when NULL */
};

/*
 * Makes a finished timer pending again with its id, at rv's clock and
 * deadline: rebuilt from the store, or where the store keeps nothing of
 * it (pruned), from rv. Returns 0 and *ret; -EEXIST (it is pending, or
 * another pending timer of the owner has its key), -ECANCELED (it was
 * cancelled: it stays so), -EAGAIN, -EIO, -ENOMEM, or -E2BIG or -EINVAL
 * (the store refused its row; the batch goes on).
 */
int sched_revive(const struct sched_revival *rv, struct timer **ret);

/*
 * A failed run of an exec timer is to run again, attempt number attempt,
 * delay_ns from now: a finished one-shot is revived (durable: stored with
 * exec, which carries the attempt); a pending (repeating) timer gets an
 * extra fire then, kept in memory only so that its grid does not move.
 * Pointers borrowed. Returns 0 or what sched_revive returns.
 */
struct sched_retry {
	uint64_t timer_id;
	uid_t uid;
	gid_t gid;
	const uint8_t *exec; /* packed Exec (evd.proto) with attempt set */
	size_t exec_len;
	const uint8_t *payload;
	size_t payload_len;
	uint32_t attempt;
	int64_t delay_ns;
};
int sched_retry(const struct sched_retry *rr);
/* Drops the in-memory retries still waiting (sched_shutdown does). */
void sched_retry_shutdown(void);

/*
 * Runs a finished exec timer once more, now (Retry): revived from the
 * store with its retries anew and fired at once. Returns 0 (*ret_ended:
 * it ran and ended again), -ENOENT (unknown to the store, or another
 * owner's and asker is not root), -ENOTSUP (not an exec timer), -EEXIST
 * (pending, or its key is taken), -ECANCELED (it was cancelled), -EAGAIN,
 * -EIO, -ENOMEM or -EINVAL (an unreadable stored command).
 */
int sched_rerun(uint64_t id, uid_t asker, bool *ret_ended);

/* A message an exec timer sends to its on-failure channel. */
struct sched_failure_msg {
	uint64_t timer_id;
	uid_t uid;
	gid_t gid;
	const char *channel;
	const uint8_t *payload;
	size_t payload_len;
};
/* Queues it (durably, in the current batch) if the owner may still
 * publish to the channel. Returns 0, or -errno with *why saying why not
 * (-EACCES: the right is gone). */
int sched_publish_failure(const struct sched_failure_msg *m, char *why,
                          size_t why_size);

/*
 * Delivery's one report of an end: an exec fire of timer_id is done (its
 * hook ended and its run is recorded). A run its overlap policy deferred
 * (queue-one) starts now; then, a slot of the hook queue being free, the
 * durable timers held back meanwhile fire (as sched_release_held).
 */
void sched_fire_done(uint64_t timer_id);
/* A hook of timer_id never ran (its start was refused, or its fire's
 * batch was lost): as sched_fire_done, but nothing is retired. */
void sched_fire_unrun(uint64_t timer_id);

/* Cancels every caller-callback timer of a connection that is closing
 * (kept as cancelled, "its connection closed"). */
void sched_conn_gone(uint64_t conn_id);

/*
 * Up to max timers visible to uid with id > after_id, in id order, and
 * only those targeting channel if it is not NULL. Fills ret[] and returns
 * the count; *ret_more is set if more follow.
 */
size_t sched_list(uid_t uid, const char *channel, uint64_t after_id,
                  struct timer **ret, size_t max, bool *ret_more);

/* Accessors. */
uint64_t sched_timer_id(const struct timer *t);
int sched_timer_clock(const struct timer *t);
int64_t sched_timer_deadline(const struct timer *t);
bool sched_timer_durable(const struct timer *t);
uid_t sched_timer_uid(const struct timer *t);
/* The packed Exec (evd.proto) of an exec timer (NULL otherwise). */
const uint8_t *sched_timer_exec(const struct timer *t, size_t *ret_len);

/*
 * A pending timer as the request layer shows it (req_fill_timer_info
 * renders it): sched says what a timer is, not how a reply spells it.
 * Pointers are borrowed from the timer: use them before the loop runs
 * again.
 */
struct sched_view {
	uint64_t id;
	uid_t uid;
	gid_t gid;
	bool paused;
	int clock;                /* enum evd_clock */
	int64_t deadline_ns;      /* on clock */
	int64_t created_rt_ns;
	const char *key;          /* NULL: none */
	uint64_t fire_count;
	int64_t last_fired_rt_ns; /* 0: never fired */
	const char *channel;      /* canonical; NULL: not a channel timer */
	bool exec;                /* an exec timer (sched_timer_exec) */
	const uint8_t *payload;
	size_t payload_len;
	int misfire, delivery, downtime; /* evd_types.h */
	uint32_t max_attempts;
	const struct repeat *repeat; /* NULL: one-shot */
};
void sched_view(const struct timer *t, struct sched_view *ret);

void sched_get_stats(struct sched_stats *ret);

#endif
