/*
 * req_call_soon: asyncio call_soon. A monotonic timer due now: it fires
 * at the next loop turn, after everything already due, and call_soons
 * fire in the order they arrived.
 */
#include "clock.h"
#include "dispatch.h"
#include "sched.h"

int
req_call_soon(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__CallSoon *m = rq->call_soon;
	struct sched_spec spec;
	int r;

	if ((r = req_fill_target(ctx, m->callback, m->key, m->options,
	                           &spec)) < 0)
		return r;
	spec.clock = EVD_CLOCK_MONOTONIC;
	spec.deadline_ns = clock_batch_ns(EVD_CLOCK_MONOTONIC);
	return req_schedule(ctx, &spec, m->options, NULL, NULL);
}
