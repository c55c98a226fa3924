/*
 * route: which loop serves a request (see route.h).
 */
#include "route.h"

#include <stdbool.h>
#include <stddef.h>

#include "shard.h"

/*
 * A timer that only messages its own connection: ephemeral, so it lives
 * and dies with the connection, on the connection's loop, calendar
 * timers too: evaluating one touches no process-wide state (lib/tz.h
 * reads zones itself), and every loop follows zone changes (sched.c).
 */
static bool
route_local_timer(const Evd__Callback *cb, const char *key)
{
	if (key != NULL && key[0] != '\0')
		return false;
	return cb == NULL ||
	       cb->target_case == EVD__CALLBACK__TARGET__NOT_SET;
}

static int
route_id(uint64_t id, unsigned n)
{
	uint64_t k = id >> SHARD_ID_BITS;

	return k < n ? (int)k : 0;
}

int
route_request(const Evd__Request *rq, unsigned self, unsigned n)
{
	if (n <= 1)
		return 0;
	switch (rq->body_case) {
	case EVD__REQUEST__BODY_HELLO:
	case EVD__REQUEST__BODY_TIME:
		return (int)self;
	case EVD__REQUEST__BODY_CALL_SOON:
		return route_local_timer(rq->call_soon->callback,
		                         rq->call_soon->key) ? (int)self : 0;
	case EVD__REQUEST__BODY_CALL_LATER:
		return route_local_timer(rq->call_later->callback,
		                         rq->call_later->key) ? (int)self : 0;
	case EVD__REQUEST__BODY_CALL_AT:
		return route_local_timer(rq->call_at->callback,
		                         rq->call_at->key) ? (int)self : 0;
	case EVD__REQUEST__BODY_CALL_ON:
		return route_local_timer(rq->call_on->callback,
		                         rq->call_on->key) ? (int)self : 0;
	case EVD__REQUEST__BODY_CANCEL:
		return route_id(rq->cancel->timer_id, n);
	case EVD__REQUEST__BODY_GET:
		return route_id(rq->get->timer_id, n);
	case EVD__REQUEST__BODY_WAIT:
		return route_id(rq->wait->timer_id, n);
	case EVD__REQUEST__BODY_PAUSE:
		return route_id(rq->pause->timer_id, n);
	case EVD__REQUEST__BODY_RESUME:
		return route_id(rq->resume->timer_id, n);
	case EVD__REQUEST__BODY_TRIGGER:
		return route_id(rq->trigger->timer_id, n);
	case EVD__REQUEST__BODY_RETRY:
		return route_id(rq->retry->timer_id, n);
	case EVD__REQUEST__BODY_LIST:
		/* Channel timers are loop 0's. */
		if (rq->list->channel != NULL && rq->list->channel[0] != '\0')
			return 0;
		return ROUTE_ALL;
	default:
		return 0;
	}
}
