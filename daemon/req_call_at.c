/*
 * req_call_at: asyncio call_at: an instant on the wall clock (the
 * default), or on the daemon's monotonic or boot clock as Time reports
 * them (loop.time() + d). An instant in the past fires at once.
 */
#include "clock.h"
#include "evd_types_pb.h"
#include "dispatch.h"
#include "sched.h"

int
req_call_at(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__CallAt *m = rq->call_at;
	struct sched_spec spec;
	int clk = m->has_clock ? evd_clock_from_pb(m->clock)
	                        : EVD_CLOCK_REALTIME;
	int r;

	if (!m->has_when_ns)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "call_at needs when_ns");
	if (m->when_ns < 0)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "when_ns must not be negative");
	if (!clock_valid(clk))
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "unknown clock %d", clk);
	if (m->when_ns - clock_batch_ns(clk) > CLOCK_MAX_AHEAD_NS)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "when_ns is more than a century ahead");
	if ((r = req_fill_target(ctx, m->callback, m->key, m->options,
	                           &spec)) < 0)
		return r;
	spec.clock = clk;
	spec.deadline_ns = m->when_ns;
	return req_schedule(ctx, &spec, m->options, NULL, NULL);
}
