/*
 * req_call_later: asyncio call_later: a delay from now on the monotonic
 * clock (the default; pauses during suspend, as loop.time()) or the boot
 * clock (counts suspend). Wall-clock instants are call_at's job.
 */
#include <stdint.h>

#include "clock.h"
#include "evd_types_pb.h"
#include "dispatch.h"
#include "sched.h"

int
req_call_later(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__CallLater *m = rq->call_later;
	struct sched_spec spec;
	int64_t now;
	int clk = m->has_clock ? evd_clock_from_pb(m->clock)
	                        : EVD_CLOCK_MONOTONIC;
	int r;

	if (!m->has_delay_ns)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "call_later needs delay_ns");
	if (m->delay_ns < 0)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "delay_ns must not be negative");
	if (clk != EVD_CLOCK_MONOTONIC && clk != EVD_CLOCK_BOOTTIME)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "call_later runs on the monotonic or boottime "
		                "clock; use call_at for a wall-clock instant");
	now = clock_batch_ns(clk);
	if (m->delay_ns > CLOCK_MAX_AHEAD_NS)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "delay_ns is more than a century");
	if ((r = req_fill_target(ctx, m->callback, m->key, m->options,
	                           &spec)) < 0)
		return r;
	spec.clock = clk;
	spec.deadline_ns = now + m->delay_ns;
	return req_schedule(ctx, &spec, m->options, NULL, NULL);
}
