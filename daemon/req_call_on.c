/*
 * req_call_on: a calendar timer (cron or systemd OnCalendar= syntax) on
 * the wall clock, firing at every occurrence after now, in the timer's
 * zone (or the daemon's) as that zone is when each occurrence is
 * computed.
 */
#include "dispatch.h"
#include "sched.h"

int
req_call_on(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__CallOn *m = rq->call_on;
	struct sched_spec spec;
	int r;

	if (m->calendar == NULL || m->calendar[0] == '\0')
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "call_on needs a calendar expression");
	if ((r = req_fill_target(ctx, m->callback, m->key, m->options,
	                         &spec)) < 0)
		return r;
	spec.clock = EVD_CLOCK_REALTIME;
	return req_schedule(ctx, &spec, m->options, m->calendar, m->tz);
}
