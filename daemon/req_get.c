/*
 * req_get: one timer, as its owner (or root) sees it: pending timers from
 * memory; finished and cancelled ones from where they are kept (the
 * loop's keeper for caller timers, the store for the others; see
 * req_stores), each with its run history (newest first) when one is
 * kept. In cluster mode the store also has every other node's pending
 * and claimed timers: those are answered from their rows.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "channel.h"
#include "dispatch.h"
#include "evd_types_pb.h"
#include "sched.h"
#include "store.h"

#define GET_HISTORY_MAX 32
#define GET_DETAIL_MAX 160
/* Output tails in Get: the end of each, enough to see what went wrong;
 * the store keeps 64 KiB. */
#define GET_TAIL_MAX 1024

static void req_get_exec_blob(struct req_ctx *ctx, const uint8_t *p,
                                  size_t len, Evd__Callback *cb);

/* Reply storage for the history, in one allocation. */
struct get_history {
	Evd__Run runs[GET_HISTORY_MAX];
	Evd__Run *ptrs[GET_HISTORY_MAX];
	char details[GET_HISTORY_MAX][GET_DETAIL_MAX];
	uint8_t out[GET_HISTORY_MAX][GET_TAIL_MAX];
	uint8_t err[GET_HISTORY_MAX][GET_TAIL_MAX];
	size_t n;
};

/* Reply storage for a timer read from the store (its strings are only
 * valid inside the store's callback). */
struct get_finished {
	Evd__TimerInfo info;
	Evd__Callback cb;
	Evd__TimerOptions opts;
	char channel[CHANNEL_CANON_MAX + 1];
	char key[REQ_KEY_MAX + 1];
	uint8_t payload[REQ_PAYLOAD_MAX];
	uid_t caller;
	bool visible;
	struct req_ctx *ctx;
};

/* A finished timer's schedule (how it repeated), unpacked for the reply;
 * best effort like its exec command. */
static void
req_get_finished_sched(struct req_ctx *ctx, const uint8_t *p, size_t len,
                       Evd__TimerOptions *opts)
{
	Evd__TimerOptions *o;

	if (p == NULL || len == 0 || ctx->nunpacked == 2 ||
	    (o = evd__timer_options__unpack(NULL, len, p)) == NULL)
		return;
	ctx->unpacked[ctx->nunpacked++] = &o->base;
	opts->repeat = o->repeat;
	opts->has_overlap = o->has_overlap;
	opts->overlap = o->overlap;
	opts->has_randomized_delay_ns = o->has_randomized_delay_ns;
	opts->randomized_delay_ns = o->randomized_delay_ns;
	opts->has_accuracy_ns = o->has_accuracy_ns;
	opts->accuracy_ns = o->accuracy_ns;
}

static int
get_run_cb(const struct store_run *r, void *arg)
{
	struct get_history *h = arg;
	Evd__Run *run;

	if (h->n == GET_HISTORY_MAX)
		return -E2BIG; /* enough: newest first */
	run = &h->runs[h->n];
	evd__run__init(run);
	if (r->fire_id != 0) {
		run->has_fire_id = true;
		run->fire_id = r->fire_id;
	}
	run->has_due_realtime_ns = run->has_fired_realtime_ns = true;
	run->due_realtime_ns = r->due_rt_ns;
	run->fired_realtime_ns = r->fired_rt_ns;
	run->has_lateness_ns = run->has_outcome = true;
	run->lateness_ns = r->lateness_ns;
	run->outcome = evd_run_outcome_to_pb(r->outcome);
	if (r->detail != NULL) {
		snprintf(h->details[h->n], GET_DETAIL_MAX, "%s", r->detail);
		run->detail = h->details[h->n];
	}
	if (r->exit_code != 0 || r->signal != 0 || r->duration_ns != 0) {
		run->has_exit_code = run->has_signal = true;
		run->exit_code = r->exit_code;
		run->signal = r->signal;
		run->has_duration_ns = true;
		run->duration_ns = r->duration_ns;
	}
	if (r->out_len > 0) {
		size_t n = r->out_len > GET_TAIL_MAX ? GET_TAIL_MAX : r->out_len;

		memcpy(h->out[h->n], r->out + r->out_len - n, n);
		run->has_stdout_tail = true;
		run->stdout_tail.data = h->out[h->n];
		run->stdout_tail.len = n;
	}
	if (r->err_len > 0) {
		size_t n = r->err_len > GET_TAIL_MAX ? GET_TAIL_MAX : r->err_len;

		memcpy(h->err[h->n], r->err + r->err_len - n, n);
		run->has_stderr_tail = true;
		run->stderr_tail.data = h->err[h->n];
		run->stderr_tail.len = n;
	}
	h->ptrs[h->n] = run;
	h->n++;
	return 0;
}

static int
get_finished_cb(const struct store_timer *st, void *arg)
{
	struct get_finished *g = arg;
	Evd__TimerInfo *info = &g->info;

	if (g->caller != 0 && st->uid != g->caller)
		return 0; /* others' timers do not exist for this caller */
	g->visible = true;
	evd__timer_info__init(info);
	evd__callback__init(&g->cb);
	evd__timer_options__init(&g->opts);
	info->has_timer_id = info->has_owner_uid = info->has_owner_gid = true;
	info->timer_id = st->id;
	info->owner_uid = st->uid;
	info->owner_gid = st->gid;
	info->has_state = true;
	/* Cluster mode: a timer that waits in another node's claim (or
	 * for any node's) is pending, or paused, as its holder says. */
	info->state = !st->finished ? (st->paused ? EVD__TIMER_STATE__PAUSED
	                                          : EVD__TIMER_STATE__PENDING)
	              : st->cancelled ? EVD__TIMER_STATE__CANCELLED
	                              : EVD__TIMER_STATE__FIRED;
	info->has_clock = info->has_deadline_ns = true;
	info->clock = evd_clock_to_pb(st->clock);
	info->deadline_ns = req_stored_deadline(st);
	info->has_due_realtime_ns = info->has_created_realtime_ns = true;
	info->due_realtime_ns = st->due_rt_ns;
	info->created_realtime_ns = st->created_rt_ns;
	info->has_fire_count = true;
	info->fire_count = st->fire_count;
	if (st->last_fired_rt_ns != 0) {
		info->has_last_fired_realtime_ns = true;
		info->last_fired_realtime_ns = st->last_fired_rt_ns;
	}
	if (st->key != NULL) {
		snprintf(g->key, sizeof g->key, "%s", st->key);
		info->key = g->key;
	}
	if (st->channel != NULL) {
		snprintf(g->channel, sizeof g->channel, "%s", st->channel);
		g->cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
		g->cb.channel = (char *)channel_display(g->channel, g->caller);
	}
	if (st->payload_len > 0 && st->payload_len <= sizeof g->payload) {
		memcpy(g->payload, st->payload, st->payload_len);
		g->cb.has_payload = true;
		g->cb.payload.data = g->payload;
		g->cb.payload.len = st->payload_len;
	}
	req_get_exec_blob(g->ctx, st->exec, st->exec_len, &g->cb);
	info->callback = &g->cb;
	g->opts.has_misfire = g->opts.has_delivery = true;
	g->opts.misfire = evd_misfire_to_pb(st->misfire);
	g->opts.delivery = evd_delivery_to_pb(st->delivery);
	g->opts.has_downtime = g->opts.has_max_attempts = true;
	g->opts.downtime = evd_downtime_to_pb(st->downtime);
	g->opts.max_attempts = st->max_attempts;
	req_get_finished_sched(g->ctx, st->sched, st->sched_len, &g->opts);
	info->options = &g->opts;
	return 0;
}

/* An exec timer's command, unpacked for the reply, its failure channel
 * named as the caller writes it. */
static void
req_get_exec_blob(struct req_ctx *ctx, const uint8_t *p, size_t len,
                  Evd__Callback *cb)
{
	Evd__Exec *x;

	if (p == NULL || ctx->nunpacked == 2 ||
	    (x = evd__exec__unpack(NULL, len, p)) == NULL)
		return;
	ctx->unpacked[ctx->nunpacked++] = &x->base;
	if (x->on_failure != NULL && x->on_failure[0] != '\0') {
		/* A suffix of the string: moved, since free() takes it. */
		const char *d = channel_display(x->on_failure, ctx->uid);

		memmove(x->on_failure, d, strlen(d) + 1);
	}
	cb->target_case = EVD__CALLBACK__TARGET_EXEC;
	cb->exec = x;
}

/* A pending exec timer's command. */
static void
req_get_exec(struct req_ctx *ctx, const struct timer *t, Evd__Callback *cb)
{
	size_t len;
	const uint8_t *p = sched_timer_exec(t, &len);

	req_get_exec_blob(ctx, p, len, cb);
}

int
req_get(struct req_ctx *ctx, const Evd__Request *rq)
{
	const struct store_backend *be[REQ_STORES_MAX];
	struct store *s[REQ_STORES_MAX];
	const Evd__Get *m = rq->get;
	struct get_history *h;
	Evd__TimerOptions *opts;
	Evd__Repeat *rep;
	Evd__TimerInfo *info;
	Evd__Callback *cb;
	struct timer *t;
	size_t i, n = req_stores(be, s), from = 0;

	if (!m->has_timer_id)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "get needs timer_id");
	if ((t = sched_lookup(m->timer_id, ctx->uid)) != NULL) {
		if ((info = req_alloc(ctx, sizeof *info)) == NULL ||
		    (cb = req_alloc(ctx, sizeof *cb)) == NULL ||
		    (opts = req_alloc(ctx, sizeof *opts)) == NULL ||
		    (rep = req_alloc(ctx, sizeof *rep)) == NULL)
			return -ENOMEM;
		req_fill_timer_info(ctx, t, info, cb, opts, rep);
		req_get_exec(ctx, t, cb);
	} else {
		struct get_finished *g;

		if ((g = req_alloc(ctx, sizeof *g)) == NULL)
			return -ENOMEM;
		g->caller = ctx->uid;
		g->ctx = ctx;
		/* An id is in one store at most; -ENOENT: the next. */
		for (from = 0; from < n && !g->visible; from++)
			(void)be[from]->get_timer(s[from], m->timer_id,
			                          get_finished_cb, g);
		if (!g->visible)
			goto notfound;
		from--; /* the store that has it, for its history */
		info = &g->info;
	}
	if ((h = req_alloc(ctx, sizeof *h)) != NULL) {
		/* History is best effort: a read error leaves it empty. A
		 * pending timer's is wherever its runs went. */
		for (i = from; i < n && h->n == 0; i++) {
			(void)be[i]->runs(s[i], m->timer_id, get_run_cb, h);
			if (t == NULL)
				break;
		}
		info->n_history = h->n;
		info->history = h->ptrs;
	}
	ctx->reply->body_case = EVD__REPLY__BODY_TIMER;
	ctx->reply->timer = info;
	return 0;
notfound:
	return req_fail(ctx, EVD__ERROR_CODE__NOT_FOUND, "no timer %" PRIu64,
	                m->timer_id);
}
