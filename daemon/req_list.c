/*
 * req_list: pending timers in id order, one page at a time, only the
 * caller's (root: all), exec timers with their command as Get shows
 * it. The page size is capped (LIST_MAX) so one reply
 * stays bounded; clients follow next_after_id to the next page. With
 * several loops every loop answers and req_list_merge makes one page of
 * their pages (REQ_ROUTE_ALL, requests.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "channel.h"
#include "dispatch.h"
#include "sched.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000
/* The byte cap of a page: one stays well inside the client's 1 MiB frame
 * limit even when timers carry large payloads. */
#define REQ_LIST_MAX_BYTES (512u * 1024u)
/* Room for a page's unpacked exec commands: an unpacked Exec takes at
 * most a few times its packed bytes; one that does not fit is listed as
 * an empty Exec, as before (Get has it). */
#define REQ_LIST_EXEC_ROOM(packed) (8 * (packed) + 1024)
#define REQ_LIST_EXEC_MAX (4u * 1024u * 1024u)

/* A bump allocator over one req_alloc block: everything it hands out
 * goes when the reply is packed, so free is a no-op. */
struct list_arena {
	uint8_t *p;
	size_t used, cap;
};

static void *
list_arena_alloc(void *data, size_t n)
{
	struct list_arena *a = data;
	void *r;

	n = (n + 15) & ~(size_t)15;
	if (a->p == NULL || a->cap - a->used < n)
		return NULL;
	r = a->p + a->used;
	a->used += n;
	return r;
}

static void
list_arena_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

/* Fills cb's empty Exec with t's command (argv, shell, cwd...), as Get
 * shows it, when the arena has room. */
static void
req_list_exec(struct req_ctx *ctx, struct list_arena *a,
              const struct timer *t, Evd__Callback *cb)
{
	ProtobufCAllocator al = { list_arena_alloc, list_arena_free, a };
	const uint8_t *p;
	Evd__Exec *x;
	size_t len;

	if (cb->target_case != EVD__CALLBACK__TARGET_EXEC ||
	    (p = sched_timer_exec(t, &len)) == NULL ||
	    (x = evd__exec__unpack(&al, len, p)) == NULL)
		return;
	if (x->on_failure != NULL && x->on_failure[0] != '\0') {
		const char *d = channel_display(x->on_failure, ctx->uid);

		memmove(x->on_failure, d, strlen(d) + 1);
	}
	cb->exec = x;
}

static size_t
req_list_limit(const Evd__List *m)
{
	if (m->has_limit && m->limit > 0)
		return m->limit > LIST_MAX ? LIST_MAX : m->limit;
	return LIST_DEFAULT;
}

int
req_list(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__List *m = rq->list;
	Evd__TimerList *tl;
	Evd__TimerInfo **ptrs, *infos;
	Evd__Callback *cbs;
	Evd__TimerOptions *opts;
	Evd__Repeat *reps;
	struct timer **ts;
	size_t limit = req_list_limit(m), n, i, bytes = 0, room = 0, len;
	struct list_arena arena = { NULL, 0, 0 };
	const char *channel = NULL;
	bool more;
	int r;

	if (m->channel != NULL &&
	    (r = req_channel_name(ctx, m->channel, &channel)) < 0)
		return r;
	if ((tl = req_alloc(ctx, sizeof *tl)) == NULL ||
	    (ts = req_alloc(ctx, limit * sizeof *ts)) == NULL)
		return -ENOMEM;
	n = sched_list(ctx->uid, channel, m->has_after_id ? m->after_id : 0,
	               ts, limit, &more);
	if ((ptrs = req_alloc(ctx, n * sizeof *ptrs)) == NULL ||
	    (infos = req_alloc(ctx, n * sizeof *infos)) == NULL ||
	    (cbs = req_alloc(ctx, n * sizeof *cbs)) == NULL ||
	    (opts = req_alloc(ctx, n * sizeof *opts)) == NULL ||
	    (reps = req_alloc(ctx, n * sizeof *reps)) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		if (sched_timer_exec(ts[i], &len) != NULL)
			room += REQ_LIST_EXEC_ROOM(len);
	if (room > 0) {
		arena.cap = room < REQ_LIST_EXEC_MAX ? room : REQ_LIST_EXEC_MAX;
		/* Without it, exec timers list as empty Execs. */
		if ((arena.p = req_alloc(ctx, arena.cap)) == NULL)
			arena.cap = 0;
	}
	for (i = 0; i < n; i++) {
		/* With options: a listing says how each timer repeats. */
		req_fill_timer_info(ctx, ts[i], &infos[i], &cbs[i], &opts[i], &reps[i]);
		req_list_exec(ctx, &arena, ts[i], &cbs[i]);
		ptrs[i] = &infos[i];
		bytes += evd__timer_info__get_packed_size(&infos[i]) + 8;
		if (bytes > REQ_LIST_MAX_BYTES && i > 0) {
			/* The rest goes on the next page. */
			n = i;
			more = true;
			break;
		}
	}
	evd__timer_list__init(tl);
	tl->n_timers = n;
	tl->timers = ptrs;
	if (more && n > 0) {
		tl->has_next_after_id = true;
		tl->next_after_id = sched_timer_id(ts[n - 1]);
	}
	ctx->reply->body_case = EVD__REPLY__BODY_TIMER_LIST;
	ctx->reply->timer_list = tl;
	return 0;
}

/*
 * The List page across loops: loop k's ids are all above loop k-1's, so
 * the pages concatenated in loop order are in id order; the merged page
 * keeps the single-loop caps (count and bytes) and ends where a loop said
 * it had more, since its next timers come before any later loop's.
 */
int
req_list_merge(struct req_ctx *ctx, const Evd__Request *rq,
               Evd__Reply *const *parts, unsigned n)
{
	size_t total = 0, limit = req_list_limit(rq->list), bytes = 0, k = 0;
	Evd__TimerInfo **all;
	Evd__TimerList *tl;
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
		if (l->next_after_id != 0)
			more = true;
	}
	evd__timer_list__init(tl);
	tl->timers = all;
	tl->n_timers = k;
	if (more && k > 0) {
		tl->has_next_after_id = true;
		tl->next_after_id = all[k - 1]->timer_id;
	}
	ctx->reply->body_case = EVD__REPLY__BODY_TIMER_LIST;
	ctx->reply->timer_list = tl;
	return 0;
}
