/*
 * req_time: asyncio loop.time(): the daemon's monotonic clock, with wall
 * and boot time read at the same moment, so a client can turn a loop time
 * into a call_at deadline.
 */
#include <errno.h>
#include <stdbool.h>

#include "clock.h"
#include "dispatch.h"

int
req_time(struct req_ctx *ctx, const Evd__Request *rq)
{
	Evd__TimeReply *t;

	if ((t = req_alloc(ctx, sizeof *t)) == NULL)
		return -ENOMEM;
	evd__time_reply__init(t);
	t->has_monotonic_ns = t->has_realtime_ns = t->has_boottime_ns = true;
	t->monotonic_ns = clock_now_ns(EVD_CLOCK_MONOTONIC);
	t->realtime_ns = clock_now_ns(EVD_CLOCK_REALTIME);
	t->boottime_ns = clock_now_ns(EVD_CLOCK_BOOTTIME);
	ctx->reply->body_case = EVD__REPLY__BODY_TIME;
	ctx->reply->time = t;
	return 0;
}
