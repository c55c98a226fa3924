/*
 * req_list: timers in id order, one page at a time, only the caller's
 * (root: all). The page size is capped (LIST_MAX) so one reply stays
 * bounded; clients follow next_after_id to the next page. With several
 * loops every loop answers and req_list_merge makes one page of their
 * pages (REQ_ROUTE_ALL, requests.h).
 *
 * Pending timers come from memory (sched_list); in cluster mode also
 * from the database (the store's list_held): every node's pending and
 * claimed timers, a timer this node holds shown as memory has it, the
 * others as their row says, with the same rights (the owner, root, and
 * the owner of the channel listed); UNAVAILABLE while the database
 * cannot be read, since a page of memory alone would skip the other
 * nodes' timers for good (its cursor). With List.finished the
 * ended ones still kept join them (each store's list_ended, req_stores:
 * this loop's keeper, and on loop 0 the configured store; an id lives in
 * one of them at most), merged by id. With List.runs each timer carries
 * its newest runs, without output, from where its runs are kept (as
 * Get finds them). A page covers every id up to its cursor: where one
 * source stopped early (its own limit, the byte cap) the page ends at
 * the last id all sources reported up to.
 *
 * What the reply points to lives in one bump block (list_mem) taken
 * from the request's memory, freed once the reply is packed: strings of
 * ended timers are copied out of the store's callbacks into it, and
 * exec commands and schedules are unpacked into it. A full block ends
 * the page early, as the byte cap does.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "cluster.h"
#include "dispatch.h"
#include "sched.h"
#include "store.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000
/* The byte cap of a page: one stays well inside the client's 1 MiB frame
 * limit even when timers carry large payloads. */
#define REQ_LIST_MAX_BYTES (512u * 1024u)
/* Runs per timer in a listing (List.runs), and their detail's bytes. */
#define LIST_RUNS_MAX 4
#define LIST_DETAIL_MAX 160
/* The bump block: the reply's arrays and copies (payloads, commands,
 * keys). Its floor holds any one timer (a payload and an unpacked
 * command at their limits), so a page is never empty for lack of room;
 * each timer of the page adds a share, up to twice the byte cap (room
 * for the unpacked forms). Sized by the page, since it is zeroed per
 * request. */
#define LIST_MEM_FLOOR (256u * 1024u)
#define LIST_MEM_PER_TIMER 1024u
#define LIST_MEM_MAX (2u * REQ_LIST_MAX_BYTES)

/* Owner: req_list's stack; p is the request's (req_alloc), freed with
 * it once the reply is packed. */
struct list_mem {
	uint8_t *p;
	size_t used, cap;
	bool full; /* an allocation failed since it was last cleared */
};

/* NULL when full; zeroed (the block came zeroed from req_alloc). */
static void *
list_mem_alloc(struct list_mem *m, size_t n)
{
	size_t a = (n + 15) & ~(size_t)15;
	void *p;

	if (a < n || a > m->cap - m->used) {
		m->full = true;
		return NULL;
	}
	p = m->p + m->used;
	m->used += a;
	return p;
}

static void *
list_mem_pb_alloc(void *data, size_t n)
{
	return list_mem_alloc(data, n == 0 ? 1 : n);
}

static void
list_mem_pb_free(void *data, void *p)
{
	(void)data;
	(void)p; /* the whole block goes with the request */
}

static char *
list_mem_strdup(struct list_mem *m, const char *s, size_t max)
{
	size_t n = strnlen(s, max);
	char *d = list_mem_alloc(m, n + 1);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

/* An ended timer found in store `from`; info lives in the list_mem. */
struct list_item {
	Evd__TimerInfo *info;
	unsigned from;
	bool held; /* a list_held row (waiting), not a list_ended one */
};

/* What the list_ended() walks collect; on req_list's stack, v in the
 * list_mem. */
struct list_ended {
	struct req_ctx *ctx;
	struct list_mem *m;
	ProtobufCAllocator *pa;
	const char *channel; /* canonical filter, or NULL */
	bool held;           /* list_held's rows: waiting timers */
	unsigned from;
	struct list_item *v;
	size_t n;
	size_t raw;          /* rows the store reported */
	uint64_t cut;        /* everything of this store up to here is in v */
};

static size_t
req_list_limit(const Evd__List *m)
{
	if (m->has_limit && m->limit > 0)
		return m->limit > LIST_MAX ? LIST_MAX : m->limit;
	return LIST_DEFAULT;
}

/* An exec command or schedule blob unpacked into the block (NULL when
 * it does not fit or is damaged: the listing shows less, as Get would). */
static void
req_list_exec(ProtobufCAllocator *pa, const uint8_t *p, size_t len,
              Evd__Callback *cb, uid_t viewer)
{
	Evd__Exec *x;

	if (p == NULL || len == 0 ||
	    (x = evd__exec__unpack(pa, len, p)) == NULL)
		return;
	if (x->on_failure != NULL && x->on_failure[0] != '\0')
		x->on_failure = (char *)channel_display(x->on_failure, viewer);
	cb->target_case = EVD__CALLBACK__TARGET_EXEC;
	cb->exec = x;
}

static void
req_list_sched(ProtobufCAllocator *pa, const uint8_t *p, size_t len,
               Evd__TimerOptions *opts)
{
	Evd__TimerOptions *o;

	if (p == NULL || len == 0 ||
	    (o = evd__timer_options__unpack(pa, len, p)) == NULL)
		return;
	opts->repeat = o->repeat;
	opts->has_overlap = o->has_overlap;
	opts->overlap = o->overlap;
	opts->has_randomized_delay_ns = o->has_randomized_delay_ns;
	opts->randomized_delay_ns = o->randomized_delay_ns;
	opts->has_accuracy_ns = o->has_accuracy_ns;
	opts->accuracy_ns = o->accuracy_ns;
}

/* One ended timer, copied out of the store's row; -ENOSPC when the
 * block is full (the walk stops and this store's part ends before it). */
static int
req_list_ended_cb(const struct store_timer *st, void *arg)
{
	struct list_ended *e = arg;
	struct list_mem *m = e->m;
	Evd__TimerInfo *info;
	Evd__TimerOptions *opts;
	Evd__Callback *cb;
	size_t used = m->used;

	e->raw++;
	if (e->channel != NULL &&
	    (st->channel == NULL || strcmp(st->channel, e->channel) != 0)) {
		e->cut = st->id;
		return 0;
	}
	/* One this node holds: memory's view of it is listed. */
	if (e->held && sched_lookup(st->id, 0) != NULL) {
		e->cut = st->id;
		return 0;
	}
	if ((info = list_mem_alloc(m, sizeof *info)) == NULL ||
	    (cb = list_mem_alloc(m, sizeof *cb)) == NULL ||
	    (opts = list_mem_alloc(m, sizeof *opts)) == NULL)
		goto full;
	evd__timer_info__init(info);
	evd__callback__init(cb);
	evd__timer_options__init(opts);
	info->has_timer_id = info->has_owner_uid = info->has_owner_gid = true;
	info->timer_id = st->id;
	info->owner_uid = st->uid;
	info->owner_gid = st->gid;
	info->has_state = true;
	info->state = !st->finished ? (st->paused ? EVD__TIMER_STATE__PAUSED
	                                          : EVD__TIMER_STATE__PENDING)
	              : st->cancelled ? EVD__TIMER_STATE__CANCELLED
	                              : EVD__TIMER_STATE__FIRED;
	info->has_clock = info->has_deadline_ns = true;
	info->clock = st->clock;
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
	if (st->key != NULL &&
	    (info->key = list_mem_strdup(m, st->key, REQ_KEY_MAX)) == NULL)
		goto full;
	if (st->channel != NULL) {
		char *c = list_mem_strdup(m, st->channel, CHANNEL_CANON_MAX);

		if (c == NULL)
			goto full;
		cb->target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb->channel = (char *)channel_display(c, e->ctx->uid);
	}
	if (st->payload_len > 0) {
		if ((cb->payload.data = list_mem_alloc(m, st->payload_len)) ==
		    NULL)
			goto full;
		memcpy(cb->payload.data, st->payload, st->payload_len);
		cb->has_payload = true;
		cb->payload.len = st->payload_len;
	}
	req_list_exec(e->pa, st->exec, st->exec_len, cb, e->ctx->uid);
	info->callback = cb;
	opts->has_misfire = opts->has_delivery = true;
	opts->misfire = st->misfire;
	opts->delivery = st->delivery;
	opts->has_downtime = opts->has_max_attempts = true;
	opts->downtime = st->downtime;
	opts->max_attempts = st->max_attempts;
	req_list_sched(e->pa, st->sched, st->sched_len, opts);
	info->options = opts;
	if (m->full)
		goto full; /* an unpack above may have been cut short */
	e->v[e->n].info = info;
	e->v[e->n].from = e->from;
	e->v[e->n].held = e->held;
	e->n++;
	e->cut = st->id;
	return 0;
full:
	m->used = used;
	m->full = false;
	return -ENOSPC;
}

/* The newest runs of one timer, without output, as one runs() walk
 * collects them (on the stack; v and the runs in the list_mem). */
struct list_runs {
	struct list_mem *m;
	Evd__Run **v;
	size_t n, max;
};

static int
req_list_run_cb(const struct store_run *r, void *arg)
{
	struct list_runs *h = arg;
	Evd__Run *run;

	if (h->n == h->max)
		return -E2BIG; /* enough: newest first */
	if ((run = list_mem_alloc(h->m, sizeof *run)) == NULL)
		return -ENOSPC;
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
	run->outcome = r->outcome;
	if (r->detail != NULL)
		run->detail = list_mem_strdup(h->m, r->detail, LIST_DETAIL_MAX);
	if (r->exit_code != 0 || r->signal != 0 || r->duration_ns != 0) {
		run->has_exit_code = run->has_signal = true;
		run->exit_code = r->exit_code;
		run->signal = r->signal;
		run->has_duration_ns = true;
		run->duration_ns = r->duration_ns;
	}
	h->v[h->n++] = run;
	return 0;
}

/* info's newest runs: from store `from` for an ended timer; for a
 * pending one from the first store that has any (from is then 0). Best
 * effort, as in Get: a read error leaves them out. */
static void
req_list_runs(struct list_mem *m, Evd__TimerInfo *info, unsigned from,
              bool pending, size_t max,
              const struct store_backend *const *be, struct store *const *s,
              size_t nstores)
{
	struct list_runs h = {.m = m, .max = max};
	size_t i;

	if ((h.v = list_mem_alloc(m, max * sizeof *h.v)) == NULL)
		return;
	for (i = from; i < nstores && h.n == 0; i++) {
		(void)be[i]->runs(s[i], info->timer_id, req_list_run_cb, &h);
		if (!pending)
			break;
	}
	info->n_history = h.n;
	info->history = h.v;
}

static int
req_list_item_cmp(const void *a, const void *b)
{
	const struct list_item *p = a, *q = b;
	uint64_t x = p->info->timer_id, y = q->info->timer_id;

	if (x != y)
		return x < y ? -1 : 1;
	/* The same timer twice: its waiting row first. */
	return (int)q->held - (int)p->held;
}

int
req_list(struct req_ctx *ctx, const Evd__Request *rq)
{
	const struct store_backend *be[REQ_STORES_MAX];
	struct store *s[REQ_STORES_MAX];
	const Evd__List *m = rq->list;
	ProtobufCAllocator pa;
	struct list_mem mem;
	struct list_ended e = {0};
	Evd__TimerList *tl;
	Evd__TimerInfo **ptrs, *info;
	Evd__Callback *cb;
	Evd__TimerOptions *opts;
	Evd__Repeat *rep;
	struct timer **ts;
	size_t limit = req_list_limit(m), n, nstores = 0, i, j = 0, k = 0;
	size_t bytes = 0, nruns = 0, sz;
	uint64_t after = m->has_after_id ? m->after_id : 0;
	uint64_t cut = UINT64_MAX, id, next = 0;
	const char *channel = NULL;
	bool more, ended = m->has_finished && m->finished, early = false;
	bool held = cluster_enabled();
	int r;

	if (m->has_runs)
		nruns = m->runs > LIST_RUNS_MAX ? LIST_RUNS_MAX : m->runs;
	if (m->channel != NULL &&
	    (r = req_channel_name(ctx, m->channel, &channel)) < 0)
		return r;
	mem.cap = LIST_MEM_FLOOR + limit * LIST_MEM_PER_TIMER;
	if (mem.cap > LIST_MEM_MAX)
		mem.cap = LIST_MEM_MAX;
	if ((tl = req_alloc(ctx, sizeof *tl)) == NULL ||
	    (ts = req_alloc(ctx, limit * sizeof *ts)) == NULL ||
	    (mem.p = req_alloc(ctx, mem.cap)) == NULL)
		return -ENOMEM;
	mem.used = 0;
	mem.full = false;
	pa.alloc = list_mem_pb_alloc;
	pa.free = list_mem_pb_free;
	pa.allocator_data = &mem;
	n = sched_list(ctx->uid, channel, after, ts, limit, &more);
	if (more && n > 0)
		cut = sched_timer_id(ts[n - 1]);
	if ((ptrs = list_mem_alloc(&mem, 2 * limit * sizeof *ptrs)) == NULL)
		return -ENOMEM;
	if (ended || nruns > 0 || held)
		nstores = req_stores(be, s);
	if (ended || held) {
		e.ctx = ctx;
		e.m = &mem;
		e.pa = &pa;
		e.channel = channel;
		if ((e.v = list_mem_alloc(&mem, 2 * nstores * limit *
		                                        sizeof *e.v)) == NULL)
			return -ENOMEM;
	}
	/* Cluster mode: what waits in the database, held here or by
	 * another node (the same rights as sched_list's). */
	for (i = 0; held && i < nstores; i++) {
		bool all = ctx->uid == 0 ||
		           (channel != NULL && channel_owned_by(channel,
		                                                ctx->uid));

		if (be[i]->list_held == NULL)
			continue;
		e.from = (unsigned)i;
		e.raw = 0;
		e.cut = after;
		e.held = true;
		r = be[i]->list_held(s[i], ctx->uid, all, channel, after, limit,
		                     req_list_ended_cb, &e);
		e.held = false;
		/* Unreadable (the database out of reach): a page of memory
		 * alone would pass over other nodes' timers, and its cursor
		 * would skip them for good once the database is back. */
		if (r == -ENOTCONN || r == -EAGAIN || r == -EIO)
			return req_fail(ctx, EVD__ERROR_CODE__UNAVAILABLE,
			                "the database cannot be read (%s): the "
			                "timers of every node cannot be listed "
			                "(evctl get ID and stats still answer); "
			                "try again",
			                be[i]->errmsg(s[i]));
		if (r < 0 && r != -ENOSPC)
			return req_errno(ctx, r, NULL);
		if (r == -ENOSPC || e.raw == limit)
			cut = e.cut < cut ? e.cut : cut;
	}
	if (ended) {
		for (i = 0; i < nstores; i++) {
			if (be[i]->list_ended == NULL)
				continue;
			e.from = (unsigned)i;
			e.raw = 0;
			e.cut = after;
			r = be[i]->list_ended(s[i], ctx->uid, ctx->uid == 0,
			                      after, limit, req_list_ended_cb,
			                      &e);
			/* This store may have more after what it gave: the
			 * page cannot go beyond it. */
			if (r == -ENOSPC || e.raw == limit)
				cut = e.cut < cut ? e.cut : cut;
		}
	}
	if (e.n > 0) {
		size_t a, b;

		qsort(e.v, e.n, sizeof *e.v, req_list_item_cmp);
		/* A timer another node fired or cancelled between the
		 * reads of list_held and list_ended (two statements) came
		 * from both: its ended row, the newer, is listed. */
		for (a = b = 0; a < e.n; a++) {
			if (b > 0 && e.v[b - 1].info->timer_id ==
			                     e.v[a].info->timer_id) {
				e.v[b - 1] = e.v[a];
				continue;
			}
			e.v[b++] = e.v[a];
		}
		e.n = b;
	}
	/* Both sources in id order, up to the cut, the limit and the caps. */
	for (i = 0; i < n || j < e.n;) {
		bool pend = j == e.n ||
		            (i < n && sched_timer_id(ts[i]) <
		                              e.v[j].info->timer_id);

		id = pend ? sched_timer_id(ts[i]) : e.v[j].info->timer_id;
		if (id > cut)
			break;
		if (k == limit) {
			early = true;
			break;
		}
		if (pend) {
			size_t len;
			const uint8_t *x;

			if ((info = list_mem_alloc(&mem, sizeof *info)) == NULL ||
			    (cb = list_mem_alloc(&mem, sizeof *cb)) == NULL ||
			    (opts = list_mem_alloc(&mem, sizeof *opts)) ==
			            NULL ||
			    (rep = list_mem_alloc(&mem, sizeof *rep)) == NULL) {
				early = k > 0;
				if (!early)
					return -ENOMEM;
				break;
			}
			/* With options: a listing says how each timer
			 * repeats; and the command an exec timer runs. */
			req_fill_timer_info(ctx, ts[i], info, cb, opts, rep);
			x = sched_timer_exec(ts[i], &len);
			req_list_exec(&pa, x, len, cb, ctx->uid);
		} else {
			info = e.v[j].info;
		}
		if (nruns > 0)
			req_list_runs(&mem, info, pend ? 0 : e.v[j].from, pend,
			              nruns, be, s, nstores);
		sz = evd__timer_info__get_packed_size(info) + 8;
		if ((bytes + sz > REQ_LIST_MAX_BYTES || mem.full) && k > 0) {
			/* The rest goes on the next page. */
			early = true;
			break;
		}
		bytes += sz;
		ptrs[k++] = info;
		if (pend)
			i++;
		else
			j++;
	}
	if (early)
		next = ptrs[k - 1]->timer_id;
	else if (cut != UINT64_MAX)
		next = cut; /* every id up to it is on this page */
	evd__timer_list__init(tl);
	tl->n_timers = k;
	tl->timers = ptrs;
	if (next > after) {
		tl->has_next_after_id = true;
		tl->next_after_id = next;
	}
	ctx->reply->body_case = EVD__REPLY__BODY_TIMER_LIST;
	ctx->reply->timer_list = tl;
	return 0;
}

/*
 * The List page across loops: loop k's ids are all above loop k-1's, so
 * the pages concatenated in loop order are in id order; the merged page
 * keeps the single-loop caps (count and bytes) and ends where a loop said
 * it had more, since its next timers come before any later loop's. Its
 * cursor is then that loop's (which may lie beyond its last timer, when
 * a filter left ids out), or the last timer kept when a cap cut it.
 */
int
req_list_merge(struct req_ctx *ctx, const Evd__Request *rq,
               Evd__Reply *const *parts, unsigned n)
{
	size_t total = 0, limit = req_list_limit(rq->list), bytes = 0, k = 0;
	Evd__TimerInfo **all;
	Evd__TimerList *tl;
	uint64_t next = 0;
	bool more = false;
	unsigned i;

	for (i = 0; i < n; i++) {
		if (parts[i]->body_case != EVD__REPLY__BODY_TIMER_LIST) {
			/* The same checks ran everywhere: any error is the
			 * answer. */
			*ctx->reply = *parts[i];
			return 0;
		}
		total += parts[i]->timer_list->n_timers;
	}
	if ((all = req_alloc(ctx, (total + 1) * sizeof *all)) == NULL ||
	    (tl = req_alloc(ctx, sizeof *tl)) == NULL)
		return req_errno(ctx, -ENOMEM,
		                 "out of memory merging the list");
	for (i = 0; i < n && !more; i++) {
		Evd__TimerList *l = parts[i]->timer_list;
		size_t j;

		for (j = 0; j < l->n_timers; j++) {
			bytes += evd__timer_info__get_packed_size(
			                 l->timers[j]) + 8;
			if (k == limit ||
			    (bytes > REQ_LIST_MAX_BYTES && k > 0)) {
				more = true;
				break;
			}
			all[k++] = l->timers[j];
		}
		if (more) {
			next = all[k - 1]->timer_id;
		} else if (l->next_after_id != 0) {
			more = true;
			next = l->next_after_id;
		}
	}
	evd__timer_list__init(tl);
	tl->timers = all;
	tl->n_timers = k;
	if (more && next != 0) {
		tl->has_next_after_id = true;
		tl->next_after_id = next;
	}
	ctx->reply->body_case = EVD__REPLY__BODY_TIMER_LIST;
	ctx->reply->timer_list = tl;
	return 0;
}
