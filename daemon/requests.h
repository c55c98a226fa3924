/*
 * requests: the registry of request types, one entry per Request body.
 *
 * Everything generic code needs about a request type sits in its row of
 * EVD_REQUESTS (tmux's cmd_entry): the body case, the field name, the
 * handler req_<name>(), which loop serves it under --threads (route.c
 * interprets the rule; no second switch over request types exists) and
 * what dispatch checks before running it (the REQ_F_* flags). requests.c
 * builds the table from the rows, so a row without a handler, or without
 * the merge its ALL route asks for, fails to link; tests/unit/test_registry
 * walks the protobuf descriptor, so a body without a row, a row that is
 * not a body, and an id-addressed body not routed by its id fail there,
 * and req_registry_check() refuses to start a daemon built that way.
 *
 * Must not: depend on a connection or a loop; the table is constant and
 * read by every loop's thread.
 */
#ifndef EVD_REQUESTS_H
#define EVD_REQUESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evd.pb-c.h"

struct req_ctx;

/* Which loop serves a request (shard.h; with one loop, loop 0). */
enum req_route {
	REQ_ROUTE_NONE = 0, /* no row: never in the table */
	/* The caller's own loop: it is about the connection only. */
	REQ_ROUTE_LOCAL,
	/* A new timer: the caller's loop when the timer only messages
	 * its caller (no channel, exec, key or calendar: ephemeral, so it
	 * lives and dies with the connection); loop 0 otherwise. */
	REQ_ROUTE_NEW_TIMER,
	/* The loop whose id range holds the body's timer_id (loop 0 for an
	 * id of no loop, which then answers NOT_FOUND). */
	REQ_ROUTE_TIMER_ID,
	/* The loop that holds channels, subscriptions and dead letters:
	 * loop 0. */
	REQ_ROUTE_CHANNEL,
	/* Loop 0, for the reason the row gives (why). */
	REQ_ROUTE_LOOP0,
	/* Every loop; the row's merge makes one reply of their answers.
	 * One naming a channel (its channel field) is REQ_ROUTE_CHANNEL's
	 * alone: channel timers are loop 0's. */
	REQ_ROUTE_ALL,
};

/* What dispatch checks per request type before running it. */
#define REQ_F_GREETING 0x1u /* may come before Hello (Hello itself) */

/* Where a new timer's routing facts are in its body. */
struct req_new_timer {
	const Evd__Callback *callback;
	const char *key;
	const Evd__TimerOptions *options;
};

/* Owner: requests.c, constant; one per Request body. */
struct req_entry {
	int body;         /* EVD__REQUEST__BODY_* */
	const char *name; /* the body's field name in evd.proto */
	int (*run)(struct req_ctx *ctx, const Evd__Request *rq);
	enum req_route route;
	unsigned flags; /* REQ_F_* */
	const char *why; /* REQ_ROUTE_LOOP0: why loop 0 */
	/* REQ_ROUTE_TIMER_ID: the body's timer_id. */
	uint64_t (*timer_id)(const Evd__Request *rq);
	/* REQ_ROUTE_NEW_TIMER: the body's target, key and options. */
	void (*new_timer)(const Evd__Request *rq, struct req_new_timer *ret);
	/* REQ_ROUTE_ALL: the channel it names (NULL or empty: none), and
	 * the merge of the n loops' replies (loop order) into ctx->reply,
	 * or a req_fail() result. parts are borrowed. */
	const char *(*channel)(const Evd__Request *rq);
	int (*merge)(struct req_ctx *ctx, const Evd__Request *rq,
	             Evd__Reply *const *parts, unsigned n);
};

/*
 * The rows: X(BODY, name, route, flags), route one of
 *   LOCAL      REQ_ROUTE_LOCAL
 *   NEW_TIMER  REQ_ROUTE_NEW_TIMER: rq->name's callback, key and options
 *   TIMER_ID   REQ_ROUTE_TIMER_ID: rq->name->timer_id
 *   CHANNEL    REQ_ROUTE_CHANNEL
 *   LOOP0      REQ_ROUTE_LOOP0, for the reason REQ_WHY_<name> (below)
 *   ALL        REQ_ROUTE_ALL: rq->name->channel, merged by
 *              req_<name>_merge()
 * (requests.c spells each out; a missing field, reason or merge fails
 * to compile or link.)
 */
#define EVD_REQUESTS(X)                                                        \
	X(HELLO,         hello,         LOCAL,     REQ_F_GREETING)             \
	X(CALL_SOON,     call_soon,     NEW_TIMER, 0)                          \
	X(CALL_LATER,    call_later,    NEW_TIMER, 0)                          \
	X(CALL_AT,       call_at,       NEW_TIMER, 0)                          \
	X(CANCEL,        cancel,        TIMER_ID,  0)                          \
	X(GET,           get,           TIMER_ID,  0)                          \
	X(LIST,          list,          ALL,       0)                          \
	X(TIME,          time,          LOCAL,     0)                          \
	X(STATS,         stats,         LOOP0,     0)                          \
	X(SUBSCRIBE,     subscribe,     CHANNEL,   0)                          \
	X(ACK,           ack,           CHANNEL,   0)                          \
	X(LIST_DEAD,     list_dead,     CHANNEL,   0)                          \
	X(REQUEUE_DEAD,  requeue_dead,  CHANNEL,   0)                          \
	X(PURGE_DEAD,    purge_dead,    CHANNEL,   0)                          \
	X(CHANNEL_GRANT, channel_grant, CHANNEL,   0)                          \
	X(GET_CHANNEL,   get_channel,   CHANNEL,   0)                          \
	X(WAIT,          wait,          TIMER_ID,  0)                          \
	X(CALL_ON,       call_on,       NEW_TIMER, 0)                          \
	X(PAUSE,         pause,         TIMER_ID,  0)                          \
	X(RESUME,        resume,        TIMER_ID,  0)                          \
	X(TRIGGER,       trigger,       TIMER_ID,  0)                          \
	X(RETRY,         retry,         TIMER_ID,  0)                          \
	X(PURGE,         purge,         CHANNEL,   0)                          \
	X(CANCEL_ALL,    cancel_all,    ALL,       0)                          \
	X(LIST_CHANNELS, list_channels, CHANNEL,   0)                          \
	X(PEEK,          peek,          CHANNEL,   0)                          \
	X(REJECT,        reject,        CHANNEL,   0)                          \
	X(UNSUBSCRIBE,   unsubscribe,   CHANNEL,   0)

/* Why the LOOP0 rows go to loop 0. */
#define REQ_WHY_stats                                                          \
	"loop 0 holds the channels and sums the other loops' published "      \
	"counts"

/* The entry of a body case; NULL for none (a newer client's request,
 * or no body). Any thread. */
const struct req_entry *req_entry_of(int body);

/* The table, indexed by body case; a slot of no body has no run. For
 * tests. */
const struct req_entry *req_entries(size_t *ret_n);

/*
 * The start-up check: every body of Request in the protobuf descriptor
 * has an entry of the same name with a handler and a route, and every
 * body carrying a timer_id is routed by it. Returns 0, or -EPROTO with
 * the first disagreement in why.
 */
int req_registry_check(char *why, size_t len);

#endif
