/*
 * wait: connections waiting for a timer's fire to be done (the Wait
 * request, asyncio's run_until_complete).
 *
 * A waiter is (timer id, connection id). When the fire of that timer is
 * done — an exec hook finished, a message was queued, a caller timer was
 * delivered — or the timer is cancelled, each waiter gets one
 * ExecFinished event carrying the run, and is forgotten. A timer keeps at
 * most WAIT_MAX_PER_TIMER waiters and a connection that went away is
 * simply skipped, so waiters cannot grow without bound.
 */
#ifndef EVD_WAIT_H
#define EVD_WAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "evd.pb-c.h"

#define WAIT_MAX_PER_TIMER 64

struct event_base;

int wait_init(struct event_base *base);
void wait_shutdown(void);

/* Memory a waiter holds, counted against its uid's byte quota until it
 * is answered or dropped. */
#define WAIT_QUOTA_BYTES 64

/* Registers conn_id of uid as a waiter. Returns 0, -E2BIG (too many on
 * this timer), -EDQUOT (uid's byte quota; why says so) or -ENOMEM. */
int wait_add(uint64_t timer_id, uint64_t conn_id, uid_t uid, char *why,
             size_t why_size);

/* Sends run to every waiter of timer_id (as an ExecFinished event) and
 * forgets them. */
void wait_notify(uint64_t timer_id, const Evd__Run *run);

/* Whether anyone waits on timer_id: the caller need not build a run for
 * wait_notify otherwise (most timers end unwatched). */
bool wait_watched(uint64_t timer_id);

/* Sends run to one connection now. */
void wait_send(uint64_t conn_id, uint64_t timer_id, const Evd__Run *run);

/* Sends run to one connection on the next loop turn: after the reply of
 * the request being handled (a Wait on a timer that already finished).
 * Returns 0 or -ENOMEM. */
int wait_send_later(uint64_t conn_id, uint64_t timer_id, const Evd__Run *run);

#endif
