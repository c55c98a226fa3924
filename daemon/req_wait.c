/*
 * req_wait: asyncio's run_until_complete for one timer. Answered at once
 * with Waiting; an ExecFinished event follows when the timer's fire is
 * done (its hook ended, its message was queued, its caller fire was
 * delivered) or it is cancelled. For a timer that already finished, its
 * last run follows at once; for one that was cancelled, the run that
 * says so (RUN_CANCELLED), whatever ran after it (a hook that was
 * running when the cancel came).
 *
 * Cluster mode: a timer another node holds (its row waits in the
 * store) is waited on here too: its newest stored run is polled on the
 * claim tick (sched_watch_stored), and the first newer one that ends a
 * fire or the timer ends the wait, without its output tails (Get has
 * them).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "batch.h"
#include "dispatch.h"
#include "evd_types_pb.h"
#include "hook.h"
#include "sched.h"
#include "store.h"
#include "wait.h"

struct req_wait_last {
	uid_t caller;
	bool visible;
	bool finished;
	bool cancelled;
	int64_t due_rt_ns;
	bool have_run;
	Evd__Run run;
	char detail[256];
};

static int
req_wait_timer_cb(const struct store_timer *st, void *arg)
{
	struct req_wait_last *w = arg;

	w->visible = w->caller == 0 || st->uid == w->caller;
	w->finished = st->finished;
	w->cancelled = st->cancelled;
	w->due_rt_ns = st->due_rt_ns;
	return 0;
}

/* The newest run only: the one that ended the timer (for a cancelled
 * one, its cancel). */
static int
req_wait_run_cb(const struct store_run *r, void *arg)
{
	struct req_wait_last *w = arg;

	if (w->cancelled && r->outcome != EVD_RUN_CANCELLED)
		return 0;
	evd__run__init(&w->run);
	w->run.has_fire_id = r->fire_id != 0;
	w->run.fire_id = r->fire_id;
	w->run.has_due_realtime_ns = w->run.has_fired_realtime_ns = true;
	w->run.due_realtime_ns = r->due_rt_ns;
	w->run.fired_realtime_ns = r->fired_rt_ns;
	w->run.has_lateness_ns = w->run.has_outcome = true;
	w->run.lateness_ns = r->lateness_ns;
	w->run.outcome = evd_run_outcome_to_pb(r->outcome);
	w->run.has_exit_code = w->run.has_signal = true;
	w->run.exit_code = r->exit_code;
	w->run.signal = r->signal;
	w->run.has_duration_ns = true;
	w->run.duration_ns = r->duration_ns;
	if (r->detail != NULL) {
		strncpy(w->detail, r->detail, sizeof w->detail - 1);
		w->run.detail = w->detail;
	}
	/* The tails are not repeated here: a burst of Waits would each queue
	 * 128 KiB before the output limit could see it. Get has them. */
	w->have_run = true;
	return -E2BIG; /* stop after the newest */
}

int
req_wait(struct req_ctx *ctx, const Evd__Request *rq)
{
	const struct store_backend *be[REQ_STORES_MAX];
	struct store *s[REQ_STORES_MAX];
	const Evd__Wait *m = rq->wait;
	struct req_wait_last *w;
	Evd__Waiting *wt;
	size_t i, n;
	bool watched;
	uid_t owner;
	int r;

	if (!m->has_timer_id)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "wait needs timer_id");
	if ((wt = req_alloc(ctx, sizeof *wt)) == NULL ||
	    (w = req_alloc(ctx, sizeof *w)) == NULL)
		return -ENOMEM;
	evd__waiting__init(wt);
	wt->has_timer_id = true;
	wt->timer_id = m->timer_id;
	ctx->reply->body_case = EVD__REPLY__BODY_WAITING;
	ctx->reply->waiting = wt;

	if (sched_lookup(m->timer_id, ctx->uid) != NULL ||
	    (hook_running(m->timer_id, &owner) &&
	     (ctx->uid == 0 || owner == ctx->uid))) {
		char why[160];

		r = wait_add(m->timer_id, ctx->conn_id, ctx->uid, why,
		             sizeof why);
		if (r == -E2BIG)
			return req_errno(ctx, r,
			                "timer %" PRIu64 " has %d waiters, the "
			                "limit",
			                m->timer_id, WAIT_MAX_PER_TIMER);
		if (r == -EDQUOT)
			return req_errno(ctx, r, "%s", why);
		return r;
	}
	w->caller = ctx->uid;
	n = req_stores(be, s);
	/* Cluster mode: its newest run before its row is read, so that
	 * a fire that ends it after the read is newer. */
	r = sched_watch_stored(m->timer_id);
	if (r == -EAGAIN)
		return req_errno(ctx, r, "the store cannot be read now");
	watched = r == 0;
	/* An id is in one store at most; -ENOENT: the next. */
	for (i = 0; i < n && !w->visible; i++)
		(void)be[i]->get_timer(s[i], m->timer_id, req_wait_timer_cb, w);
	if (w->visible && !w->finished && watched) {
		char why[160];

		/* Held by another node (or waiting for one). */
		r = wait_add(m->timer_id, ctx->conn_id, ctx->uid, why,
		             sizeof why);
		if (r < 0)
			sched_unwatch_stored(m->timer_id);
		if (r == -E2BIG)
			return req_errno(ctx, r,
			                 "timer %" PRIu64 " has %d waiters, the "
			                 "limit",
			                 m->timer_id, WAIT_MAX_PER_TIMER);
		if (r == -EDQUOT)
			return req_errno(ctx, r, "%s", why);
		return r;
	}
	if (watched)
		sched_unwatch_stored(m->timer_id);
	if (!w->visible || !w->finished)
		return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND,
		                "no timer %" PRIu64, m->timer_id);
	/* Best effort: unreadable history is none. */
	(void)be[i - 1]->runs(s[i - 1], m->timer_id, req_wait_run_cb, w);
	if (!w->have_run) {
		evd__run__init(&w->run);
		w->run.has_outcome = true;
		if (w->cancelled) {
			w->run.outcome = EVD__RUN_OUTCOME__RUN_CANCELLED;
			w->run.has_due_realtime_ns = true;
			w->run.due_realtime_ns = w->due_rt_ns;
		} else {
			w->run.outcome =
			    EVD__RUN_OUTCOME__RUN_OUTCOME_UNSPECIFIED;
			w->run.detail = "finished; its history was not kept";
		}
	}
	/* After the Waiting reply, which is packed when this returns. */
	return wait_send_later(ctx->conn_id, m->timer_id, &w->run);
}
