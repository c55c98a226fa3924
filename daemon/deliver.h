/*
 * deliver: turns one fire of a timer into what its target receives — a
 * Fired event on the caller's connection (by connection id), a message
 * in a channel (the store row and channel_publish), or a hook run
 * (hook_fire) — and builds every Fired event the daemon sends and every
 * Run a waiter is told of (a fire's, a hook's end, a cancel; the request
 * layer renders stored history for Get and Wait replies). An exec
 * timer's failure message (deliver_failure) is built here too.
 *
 * sched (sched_fire.c) decides what is due and when (plan, misfire, overlap, rate,
 * permission at fire time) and owns the timer's own transition (retired
 * or moved on, in the store and in memory, and its run record). It hands
 * delivery one struct fire, in three calls whose order is the order the
 * batch and memory need:
 *
 *   deliver_ready(f)     may the target take a fire now? (before any
 *                        write: a refusal holds the timer, untouched)
 *   deliver_stage(f, s)  the target's rows in the batch, before the
 *                        timer's own (a channel's message)
 *   deliver_fire(f, s)   after the timer's rows: publish, start the hook
 *                        or send the event, log it, tell the waiters
 *
 * Must not: touch a struct timer (it sees only the fire), decide policy,
 * or call into sched. Every pointer in a fire is borrowed from the timer
 * for the duration of the call. sched_fire.c makes the fires.
 */
#ifndef EVD_DELIVER_H
#define EVD_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "evd_types.h"

struct store;
/* Only deliver_fill_fired's callers (channel.c) see it whole. */
struct Evd__Fired;

enum fire_target {
	FIRE_CALLER,  /* a Fired event on conn_id */
	FIRE_CHANNEL, /* a message in channel */
	FIRE_EXEC,    /* a hook running exec as uid */
};

/* One fire of a timer. Owner: the caller (sched, on its stack); the
 * pointers are borrowed from the timer, valid during the call. */
struct fire {
	uint64_t timer_id;
	uint64_t fire_id; /* 0 until sched reserved one */
	uid_t uid;
	gid_t gid;
	enum fire_target target;
	uint64_t conn_id;      /* FIRE_CALLER */
	const char *channel;   /* FIRE_CHANNEL: the name as stored */
	int delivery;	       /* FIRE_CHANNEL: enum evd_delivery */
	uint32_t max_attempts; /* FIRE_CHANNEL: 0, the channel default */
	const uint8_t *exec;   /* FIRE_EXEC: packed Exec (evd.proto) */
	size_t exec_len;
	uint32_t attempt; /* FIRE_EXEC: 0, the one the Exec carries */
	bool repeating;	  /* an interval or calendar timer */
	const uint8_t *payload;
	size_t payload_len;
	int64_t due_rt_ns;   /* the deadline as wall time */
	int64_t fired_rt_ns; /* wall time of the fire */
	int64_t lateness_ns;
};

/*
 * Whether f's target can take a fire now. Returns 0; -EAGAIN (an exec
 * fire whose owner's hook queue is full: hold it until a hook ends); or
 * -ENOTCONN (a caller fire whose connection is gone). Writes nothing.
 */
int deliver_ready(const struct fire *f);

/*
 * Writes the target's rows of f into the batch's store s, before the
 * timer's own transition: a channel fire's message (store enqueue).
 * Returns 0 or the store's -errno (the caller fails the batch and holds
 * the timer); other targets write nothing here.
 */
int deliver_stage(const struct fire *f, struct store *s);

/*
 * Delivers f, after sched wrote the timer's rows (s: the batch's store;
 * NULL for a caller fire, which writes none). A channel fire is
 * published to the channel's subscribers and its waiters told it was
 * queued; an exec fire's hook is queued (if that fails the failed run is
 * recorded in s and waiters told); a caller fire's Fired event is sent
 * on its connection and its waiters told. A delivery that fails here is
 * logged and, where the store has it, recorded: the fire counts as done
 * either way, and nothing is to be held (holding is decided before any
 * write, by deliver_ready and the batch). Returns false only for an
 * exec fire whose hook did not start (its failed run recorded): nothing
 * will end it, so a cluster node retires its claim at once.
 */
bool deliver_fire(const struct fire *f, struct store *s);

/*
 * The one builder of Fired events: fills *ret from the fields of f
 * (timer_id, fire_id, payload, due, fired, lateness) with channel
 * (borrowed: NULL for a caller's own event; the name as its receiver
 * writes it for a channel message) and attempt. The payload is borrowed
 * from f: pack before it goes.
 */
void deliver_fill_fired(struct Evd__Fired *ret, const struct fire *f,
			const char *channel, uint32_t attempt);

/*
 * An exec timer's failure message (Exec.on_failure): f is a FIRE_CHANNEL
 * fire whose payload is the failure report, its fire id reserved and
 * its right to publish judged by the caller. The message is written
 * into the batch's store s (as deliver_stage) and joins the channel's
 * queue; it has no run record and no waiters (the failed run's record
 * is hook.c's). Returns 0 or the store's -errno (the caller fails the
 * batch).
 */
int deliver_failure(const struct fire *f, struct store *s);

/*
 * Tells the waiters of sr->timer_id how an exec fire's run ended (hook.c
 * stored sr, the run record; its pointers are borrowed for the call).
 */
struct store_run;
void deliver_run_ended(const struct store_run *sr);

/*
 * Tells the waiters of timer_id that it was cancelled (its run record,
 * due at due_rt_ns, is sched's to store). Sends nothing when none wait.
 */
void deliver_cancelled(uint64_t timer_id, int64_t due_rt_ns);

/* Whether anyone waits on timer_id (a Wait on a timer another cluster
 * node holds is polled only while so). */
bool deliver_waited(uint64_t timer_id);
/*
 * How many Fired events went to callers' connections on this thread
 * since the last call (a counter, reset by the call). The scheduler asks
 * after each run of due timers, so that the loop can end its turn and
 * send them rather than read more requests first. Per loop thread.
 */
unsigned long deliver_caller_take(void);

#endif
