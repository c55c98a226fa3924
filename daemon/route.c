/*
 * route: which loop serves a request (see route.h), from the rule in its
 * registry entry.
 */
#include "route.h"

#include <stdbool.h>
#include <stddef.h>

#include "requests.h"
#include "shard.h"

/*
 * A timer that only messages its own connection: ephemeral, so it lives
 * and dies with the connection, on the connection's loop, calendar
 * timers too: evaluating one touches no process-wide state (lib/tz.h
 * reads zones itself), and every loop follows zone changes (sched.c).
 */
static bool
route_local_timer(const struct req_new_timer *t)
{
	if (t->key != NULL && t->key[0] != '\0')
		return false;
	return t->callback == NULL ||
	       t->callback->target_case == EVD__CALLBACK__TARGET__NOT_SET;
}

static int
route_id(uint64_t id, unsigned n)
{
	uint64_t k = id >> SHARD_ID_BITS;

	return k < n ? (int)k : 0;
}

/* Channels, subscriptions and dead letters are loop 0's. */
#define ROUTE_CHANNEL_LOOP 0

int
route_request(const Evd__Request *rq, unsigned self, unsigned n)
{
	const struct req_entry *e = req_entry_of(rq->body_case);
	struct req_new_timer t;
	const char *ch;

	if (n <= 1 || e == NULL)
		return 0;
	switch (e->route) {
	case REQ_ROUTE_LOCAL:
		return (int)self;
	case REQ_ROUTE_NEW_TIMER:
		e->new_timer(rq, &t);
		return route_local_timer(&t) ? (int)self : 0;
	case REQ_ROUTE_TIMER_ID:
		return route_id(e->timer_id(rq), n);
	case REQ_ROUTE_CHANNEL:
		return ROUTE_CHANNEL_LOOP;
	case REQ_ROUTE_ALL:
		ch = e->channel(rq);
		return ch != NULL && ch[0] != '\0' ? ROUTE_CHANNEL_LOOP
		                                   : ROUTE_ALL;
	case REQ_ROUTE_LOOP0:
	case REQ_ROUTE_NONE: /* no entry has it (req_registry_check) */
		break;
	}
	return 0;
}
