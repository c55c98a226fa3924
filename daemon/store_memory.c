/*
 * store_memory: the store of --store=memory (see store.h): not durable.
 *
 * In memory mode the daemon's own queues (sched, channel) are the whole
 * state of pending timers and messages, so this backend keeps none of
 * them: schedule, reschedule, retire, cancel, enqueue and ack succeed
 * without keeping anything; claim() and load_messages() hand over
 * nothing. What it keeps is what those queues forget: the runs of the
 * timers the daemon tells it of (remember), and those timers once they
 * ended, so that Get, Wait and idempotency keys work on finished and
 * cancelled timers as with the sqlite store. The daemon also keeps one of
 * its own per loop, beside the configured store, for the timers that fire
 * to their caller (sched.c).
 *
 * Bounds, so that nothing grows per operation without limit: runs per
 * timer (history_per_timer, a ring); ended timers per owner (finished_max,
 * the oldest ended goes first) and by age (finished_keep_ns, swept from
 * the oldest at each call that adds or reads, so a sweep costs what
 * expired); a pending timer costs one entry from its first fire until it
 * ends (pending timers are bounded by the owner's quota); runs of a timer
 * the store does not know are dropped, not kept for nobody. meta is a
 * small fixed table. An owner at its bound has its oldest entry taken
 * over, buffers and all, by its newest: the steady state of a busy owner
 * (a cancel per timeout, say) allocates nothing. Kept output (run
 * tails) is tallied per owner for output_changes, as the sqlite store
 * does, so it counts against the owner's byte quota.
 *
 * Must not log. Thread-safety: none; one instance per loop.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "clock.h"
#include "idmap.h"
#include "strmap.h"

#define META_MAX 16
#define META_KEY_MAX 48

/* A kept run; detail, out and err point into data. */
struct mem_run {
	struct store_run r;
	char *data;
};

struct mem_owner;

/* Owner: the store, from the first remember() of its timer until the
 * timer is dropped (bounds, revival does not drop it) or the store
 * closes. */
struct mem_timer {
	uint64_t id;
	uid_t uid;
	bool ended; /* it fired for good or was cancelled: t is its record */
	struct store_timer t; /* strings and bytes point into blob */
	char *blob;	      /* kept while not ended, for the next end */
	size_t blob_cap;
	char *keymap_key; /* "uid\0key" in by_key while ended, or NULL */
	size_t keymap_len;
	struct mem_run *runs; /* a ring: the oldest at runs[head] */
	uint32_t nruns, cap, head;
	int64_t out_bytes;	       /* output its runs keep */
	struct mem_owner *owner;       /* while ended */
	TAILQ_ENTRY(mem_timer) by_end; /* while ended: all, oldest first */
	TAILQ_ENTRY(mem_timer) by_uid; /* while ended: the owner's */
};
TAILQ_HEAD(mem_timer_list, mem_timer);

/* The ended timers of one uid, oldest first. */
struct mem_owner {
	uid_t uid;
	size_t n;
	struct mem_timer_list list;
};

/* Output kept per uid, changed since the last output_changes(). */
struct mem_out {
	uid_t uid;
	int64_t bytes;
};

/* Owned by the daemon (open to close). */
struct store {
	struct {
		char key[META_KEY_MAX]; /* "" : a free slot */
		int64_t value;
	} meta[META_MAX];
	uint32_t history;
	uint32_t finished_max;
	int64_t keep_ns;
	struct idmap *by_id;	     /* timer id -> struct mem_timer */
	struct idmap *owners;	     /* uid + 1 -> struct mem_owner */
	struct strmap *by_key;	     /* "uid\0key" -> ended struct mem_timer */
	struct mem_timer_list ended; /* every ended timer, oldest first */
	/* What the last remember() looked up: the run appended next and
	 * the next end of the same owner need no lookup. Cleared when
	 * freed. */
	struct mem_timer *last;
	struct mem_owner *last_owner;
	struct mem_out *outs;
	size_t nouts, capouts;
	char err[128];
};

static void store_memory_close(struct store *s);

static int
store_memory_open(const struct store_config *cfg, struct store **ret)
{
	struct store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	s->history = cfg->history_per_timer;
	s->finished_max = cfg->finished_max;
	s->keep_ns = cfg->finished_keep_ns > 0 ? cfg->finished_keep_ns
					       : STORE_FINISHED_KEEP_NS;
	TAILQ_INIT(&s->ended);
	if ((s->by_id = idmap_new()) == NULL ||
	    (s->owners = idmap_new()) == NULL ||
	    (s->by_key = strmap_new()) == NULL) {
		store_memory_close(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

static const char *
store_memory_errmsg(const struct store *s)
{
	return s != NULL ? s->err : "out of memory";
}

static int
store_memory_ok(struct store *s)
{
	return 0;
}

static void
store_memory_rollback(struct store *s)
{
}

/* Adds bytes to uid's tally of kept output. Best effort: the tally is
 * a hint for the byte quota and a failure only leaves that change out. */
static void
store_memory_out_note(struct store *s, uid_t uid, int64_t bytes)
{
	size_t i;

	if (bytes == 0)
		return;
	for (i = 0; i < s->nouts; i++)
		if (s->outs[i].uid == uid) {
			s->outs[i].bytes += bytes;
			return;
		}
	if (s->nouts == s->capouts) {
		size_t cap = s->capouts != 0 ? 2 * s->capouts : 8;
		struct mem_out *o = reallocarray(s->outs, cap, sizeof(*o));

		if (o == NULL)
			return;
		s->outs = o;
		s->capouts = cap;
	}
	s->outs[s->nouts].uid = uid;
	s->outs[s->nouts].bytes = bytes;
	s->nouts++;
}

static void
mem_run_clear(struct mem_run *mr)
{
	free(mr->data);
	memset(mr, 0, sizeof(*mr));
}

/* Takes an ended timer off the lists and the key map: it is then only
 * an entry with runs. */
static void
mem_timer_unend(struct store *s, struct mem_timer *e)
{
	struct mem_owner *o = e->owner;

	if (!e->ended)
		return;
	TAILQ_REMOVE(&s->ended, e, by_end);
	TAILQ_REMOVE(&o->list, e, by_uid);
	if (--o->n == 0) {
		idmap_del(s->owners, (uint64_t)o->uid + 1);
		if (s->last_owner == o)
			s->last_owner = NULL;
		free(o);
	}
	e->owner = NULL;
	if (e->keymap_key != NULL) {
		if (strmap_get(s->by_key, e->keymap_key, e->keymap_len) == e)
			strmap_del(s->by_key, e->keymap_key, e->keymap_len);
		free(e->keymap_key);
		e->keymap_key = NULL;
	}
	e->ended = false;
}

/* Forgets e's runs (their buffer stays). */
static void
mem_timer_clear_runs(struct store *s, struct mem_timer *e)
{
	uint32_t i;

	for (i = 0; i < e->nruns; i++)
		mem_run_clear(&e->runs[(e->head + i) % e->cap]);
	e->nruns = e->head = 0;
	store_memory_out_note(s, e->uid, -e->out_bytes);
	e->out_bytes = 0;
}

/* Forgets a timer and its runs. */
static void
mem_timer_drop(struct store *s, struct mem_timer *e)
{
	mem_timer_unend(s, e);
	mem_timer_clear_runs(s, e);
	free(e->runs);
	free(e->blob);
	idmap_del(s->by_id, e->id);
	if (s->last == e)
		s->last = NULL;
	free(e);
}

/* e, the oldest ended timer of its owner, becomes the (empty) entry of
 * timer id of uid: its record and runs are forgotten, their buffers
 * kept. NULL (e dropped) when out of memory. */
static struct mem_timer *
mem_timer_reuse(struct store *s, struct mem_timer *e, uint64_t id, uid_t uid)
{
	mem_timer_unend(s, e);
	mem_timer_clear_runs(s, e);
	idmap_del(s->by_id, e->id);
	e->id = id;
	e->uid = uid;
	if (idmap_put(s->by_id, id, e) < 0) {
		if (s->last == e)
			s->last = NULL;
		free(e->runs);
		free(e->blob);
		free(e);
		return NULL;
	}
	return e;
}

/* The ended timers of uid, or NULL if it has none. */
static struct mem_owner *
mem_owner_find(struct store *s, uid_t uid)
{
	struct mem_owner *o = s->last_owner;

	if (o == NULL || o->uid != uid)
		o = s->last_owner = idmap_get(s->owners, (uint64_t)uid + 1);
	return o;
}

/* Drops the ended timers older than keep_ns before now (wall time): the
 * oldest are first. */
static void
store_memory_sweep_at(struct store *s, int64_t now)
{
	int64_t before = now - s->keep_ns;
	struct mem_timer *e;

	while ((e = TAILQ_FIRST(&s->ended)) != NULL &&
	       e->t.finished_rt_ns < before)
		mem_timer_drop(s, e);
}

static void
store_memory_sweep(struct store *s)
{
	store_memory_sweep_at(s, clock_now_ns(EVD_CLOCK_REALTIME));
}

static void
store_memory_close(struct store *s)
{
	struct mem_owner *o;
	struct mem_timer *e;
	size_t iter = 0;
	uint32_t i;

	if (s == NULL)
		return;
	/* Everything goes: freed in place, the maps not kept up. */
	while (s->by_id != NULL &&
	       (e = idmap_next(s->by_id, &iter, NULL)) != NULL) {
		for (i = 0; i < e->nruns; i++)
			mem_run_clear(&e->runs[(e->head + i) % e->cap]);
		free(e->runs);
		free(e->blob);
		free(e->keymap_key);
		free(e);
	}
	iter = 0;
	while (s->owners != NULL &&
	       (o = idmap_next(s->owners, &iter, NULL)) != NULL)
		free(o);
	idmap_free(s->by_id);
	idmap_free(s->owners);
	strmap_free(s->by_key);
	free(s->outs);
	free(s);
}

/* The bytes a copy of string p takes, its NUL included. */
static size_t
mem_strlen(const char *p)
{
	return p != NULL ? strlen(p) + 1 : 0;
}

/* Copies len bytes of p to *at and moves *at past them; NULL stays
 * NULL. */
static const void *
mem_copy(char **at, const void *p, size_t len)
{
	char *dst = *at;

	if (p == NULL)
		return NULL;
	memcpy(dst, p, len);
	*at += len;
	return dst;
}

/* e's record becomes t, its strings and bytes copied into one block. */
static int
mem_timer_set(struct mem_timer *e, const struct store_timer *t)
{
	size_t n = mem_strlen(t->channel) + mem_strlen(t->key) +
		   t->payload_len + t->exec_len + t->sched_len;
	char *at;

	if (n > e->blob_cap) {
		char *blob = malloc(n);

		if (blob == NULL)
			return -ENOMEM;
		free(e->blob);
		e->blob = blob;
		e->blob_cap = n;
	}
	at = e->blob;
	e->t = *t;
	e->t.channel = mem_copy(&at, t->channel, mem_strlen(t->channel));
	e->t.key = mem_copy(&at, t->key, mem_strlen(t->key));
	e->t.payload = mem_copy(&at, t->payload, t->payload_len);
	e->t.exec = mem_copy(&at, t->exec, t->exec_len);
	e->t.sched = mem_copy(&at, t->sched, t->sched_len);
	e->t.finished = true;
	if (e->t.finished_rt_ns == 0)
		e->t.finished_rt_ns = clock_now_ns(EVD_CLOCK_REALTIME);
	return 0;
}

/* Makes e (not ended) the record of ended timer t, newest of its owner. */
static int
mem_timer_end(struct store *s, struct mem_timer *e, const struct store_timer *t)
{
	uint64_t okey = (uint64_t)t->uid + 1;
	struct mem_owner *o;
	size_t klen;
	char *k = NULL;

	if (t->key != NULL) {
		klen = strlen(t->key);
		if ((k = malloc(sizeof(uint32_t) + 1 + klen)) == NULL)
			return -ENOMEM;
		memcpy(k, &t->uid, sizeof(uint32_t));
		k[sizeof(uint32_t)] = '\0';
		memcpy(k + sizeof(uint32_t) + 1, t->key, klen);
		klen += sizeof(uint32_t) + 1;
	}
	if ((o = mem_owner_find(s, t->uid)) == NULL) {
		if ((o = calloc(1, sizeof(*o))) == NULL)
			goto fail;
		o->uid = t->uid;
		TAILQ_INIT(&o->list);
		if (idmap_put(s->owners, okey, o) < 0) {
			free(o);
			goto fail;
		}
		s->last_owner = o;
	}
	if (mem_timer_set(e, t) < 0)
		goto fail_owner;
	if (k != NULL) {
		/* The newest timer with the key is the one a retry gets. */
		strmap_del(s->by_key, k, klen);
		if (strmap_put(s->by_key, k, klen, e) < 0)
			goto fail_owner;
		e->keymap_key = k;
		e->keymap_len = klen;
	}
	e->ended = true;
	e->owner = o;
	TAILQ_INSERT_TAIL(&o->list, e, by_uid);
	TAILQ_INSERT_TAIL(&s->ended, e, by_end);
	o->n++;
	return 0;
fail_owner:
	if (o->n == 0) {
		idmap_del(s->owners, okey);
		if (s->last_owner == o)
			s->last_owner = NULL;
		free(o);
	}
fail:
	free(k);
	return -ENOMEM;
}

static int
store_memory_remember(struct store *s, const struct store_timer *t)
{
	struct mem_timer *e;
	struct mem_owner *o;
	int r;

	/* First: it may drop t's old record. An end is now (a fire or a
	 * cancel is told at once), which saves reading the clock. */
	if (t->finished)
		store_memory_sweep_at(s,
				      t->finished_rt_ns != 0
					  ? t->finished_rt_ns
					  : clock_now_ns(EVD_CLOCK_REALTIME));
	if ((e = idmap_get(s->by_id, t->id)) == NULL) {
		/* Nothing to keep: no runs while it is pending, or no
		 * finished timers at all. */
		if (t->finished ? s->finished_max == 0 : s->history == 0)
			return 0;
		o = t->finished ? mem_owner_find(s, t->uid) : NULL;
		if (o != NULL && o->n >= s->finished_max) {
			e = mem_timer_reuse(s, TAILQ_FIRST(&o->list), t->id,
					    t->uid);
			if (e == NULL)
				goto nomem;
		} else {
			if ((e = calloc(1, sizeof(*e))) == NULL)
				goto nomem;
			e->id = t->id;
			e->uid = t->uid;
			if (idmap_put(s->by_id, t->id, e) < 0) {
				free(e);
				goto nomem;
			}
		}
	}
	s->last = e;
	if (!t->finished)
		return 0;
	/* Ended again (revived since): the new end is the newest. */
	mem_timer_unend(s, e);
	if ((r = mem_timer_end(s, e, t)) < 0) {
		mem_timer_drop(s, e);
		goto nomem;
	}
	o = e->owner;
	while (o->n > s->finished_max) {
		struct mem_timer *old = TAILQ_FIRST(&o->list);

		if (old == e) {
			mem_timer_drop(s, e); /* finished_max 0 */
			break;
		}
		mem_timer_drop(s, old);
	}
	return 0;
nomem:
	snprintf(s->err, sizeof(s->err), "remember timer %llu: out of memory",
		 (unsigned long long)t->id);
	return -ENOMEM;
}

static int
store_memory_schedule(struct store *s, const struct store_timer *t)
{
	return 0;
}

/* A revived timer (an ack asked for it again, or a retry) is pending
 * again: its record goes, its runs stay. A cancelled one is not brought
 * back. */
static int
store_memory_revive(struct store *s, const struct store_timer *t)
{
	struct mem_timer *e = idmap_get(s->by_id, t->id);

	if (e != NULL && e->ended) {
		if (e->t.cancelled) {
			snprintf(s->err, sizeof(s->err),
				 "revive: timer %llu was cancelled",
				 (unsigned long long)t->id);
			return -ENOENT;
		}
		mem_timer_unend(s, e);
	}
	return 0;
}

static int
store_memory_id(struct store *s, uint64_t id)
{
	return 0;
}

static int
store_memory_claim(struct store *s, int64_t horizon_rt_ns, store_timer_cb cb,
		   void *arg)
{
	return 0;
}

static int
store_memory_retire(struct store *s, uint64_t id, uint64_t fence,
		    const struct store_timer *next)
{
	return 0;
}

static int
store_memory_channel_put(struct store *s, const struct store_channel *c)
{
	return 0;
}

static int
store_memory_load_channels(struct store *s, store_channel_cb cb, void *arg)
{
	return 0;
}

static int
store_memory_check(struct store *s)
{
	return 0;
}

static int
store_memory_find_key(struct store *s, uid_t uid, const char *key,
		      store_timer_cb cb, void *arg)
{
	size_t klen = strlen(key), len = sizeof(uint32_t) + 1 + klen;
	struct mem_timer *e;
	char *k;

	store_memory_sweep(s);
	if ((k = malloc(len)) == NULL)
		return -ENOMEM;
	memcpy(k, &uid, sizeof(uint32_t));
	k[sizeof(uint32_t)] = '\0';
	memcpy(k + sizeof(uint32_t) + 1, key, klen);
	e = strmap_get(s->by_key, k, len);
	free(k);
	if (e == NULL) {
		snprintf(s->err, sizeof(s->err), "find key: no such timer");
		return -ENOENT;
	}
	return cb(&e->t, arg);
}

static int
store_memory_get_timer(struct store *s, uint64_t id, store_timer_cb cb,
		       void *arg)
{
	struct mem_timer *e;

	store_memory_sweep(s);
	if ((e = idmap_get(s->by_id, id)) == NULL || !e->ended) {
		/* A pending timer is the daemon's to report. */
		snprintf(s->err, sizeof(s->err),
			 "get timer %llu: not kept (pending, unknown or "
			 "pruned)",
			 (unsigned long long)id);
		return -ENOENT;
	}
	return cb(&e->t, arg);
}

static int
mem_timer_id_cmp(const void *a, const void *b)
{
	uint64_t x = (*(struct mem_timer *const *)a)->id;
	uint64_t y = (*(struct mem_timer *const *)b)->id;

	return x < y ? -1 : x > y;
}

/* The ended list is in end order: the matches are gathered and sorted.
 * It is bounded (finished_max per owner), and so is this. */
static int
store_memory_list_ended(struct store *s, uid_t uid, bool all,
			uint64_t after_id, size_t limit, store_timer_cb cb,
			void *arg)
{
	struct mem_timer *e, **v = NULL, **nv;
	size_t n = 0, cap = 0, i;
	int r = 0;

	store_memory_sweep(s);
	TAILQ_FOREACH(e, &s->ended, by_end)
	{
		if (e->id <= after_id || (!all && e->uid != uid))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				free(v);
				snprintf(s->err, sizeof(s->err),
					 "list ended: out of memory");
				return -ENOMEM;
			}
			v = nv;
		}
		v[n++] = e;
	}
	if (n > 0)
		qsort(v, n, sizeof(*v), mem_timer_id_cmp);
	for (i = 0; i < n && i < limit && r >= 0; i++)
		r = cb(&v[i]->t, arg);
	free(v);
	return r < 0 ? r : 0;
}

static int
store_memory_msg(struct store *s, const struct store_msg *m)
{
	return 0;
}

static int
store_memory_load_messages(struct store *s, store_msg_cb cb, void *arg)
{
	return 0;
}

/* Copies r into mr, its strings and bytes into one block. */
static int
mem_run_set(struct mem_run *mr, const struct store_run *r)
{
	size_t dlen = r->detail != NULL ? strlen(r->detail) + 1 : 0;
	size_t n = dlen + r->out_len + r->err_len;
	char *at;

	memset(mr, 0, sizeof(*mr));
	mr->r = *r;
	if (n == 0)
		return 0;
	if ((mr->data = malloc(n)) == NULL)
		return -ENOMEM;
	at = mr->data;
	mr->r.detail = mem_copy(&at, r->detail, dlen);
	mr->r.out = mem_copy(&at, r->out, r->out_len);
	mr->r.err = mem_copy(&at, r->err, r->err_len);
	return 0;
}

/*
 * Out of memory the run is dropped, not reported: the daemon fails the
 * batch of a run it could not append, and a memory store's batch cannot
 * be rolled back (the daemon would forget every pending channel and exec
 * timer to reload them from a store that holds none).
 */
static int
store_memory_run_append(struct store *s, const struct store_run *r)
{
	struct mem_timer *e;
	struct mem_run mr, *slot;

	if (s->history == 0)
		return 0;
	if ((e = s->last) == NULL || e->id != r->timer_id)
		e = idmap_get(s->by_id, r->timer_id);
	if (e == NULL)
		return 0; /* nothing of it is kept */
	if (e->nruns == e->cap && e->cap < s->history) {
		/* Grown on demand: most timers end after one run. */
		uint32_t cap = e->cap == 0 ? 1 : 2 * e->cap, i;
		struct mem_run *runs;

		if (cap > s->history)
			cap = s->history;
		if ((runs = calloc(cap, sizeof(*runs))) == NULL)
			goto nomem;
		for (i = 0; i < e->nruns; i++)
			runs[i] = e->runs[(e->head + i) % e->cap];
		free(e->runs);
		e->runs = runs;
		e->cap = cap;
		e->head = 0;
	}
	if (mem_run_set(&mr, r) < 0)
		goto nomem;
	if (e->nruns == e->cap) {
		/* Full: the oldest gives way. */
		slot = &e->runs[e->head];
		e->out_bytes -= (int64_t)(slot->r.out_len + slot->r.err_len);
		store_memory_out_note(
		    s, e->uid, -(int64_t)(slot->r.out_len + slot->r.err_len));
		mem_run_clear(slot);
		e->head = (e->head + 1) % e->cap;
		e->nruns--;
	}
	e->runs[(e->head + e->nruns) % e->cap] = mr;
	e->nruns++;
	e->out_bytes += (int64_t)(r->out_len + r->err_len);
	store_memory_out_note(s, e->uid, (int64_t)(r->out_len + r->err_len));
	return 0;
nomem:
	snprintf(s->err, sizeof(s->err), "append run: out of memory");
	return 0;
}

static int
store_memory_output_changes(struct store *s, store_output_cb cb, void *arg)
{
	int r = 0;

	while (s->nouts > 0) {
		struct mem_out o = s->outs[s->nouts - 1];

		s->nouts--;
		if (o.bytes != 0 && (r = cb(o.uid, o.bytes, arg)) < 0)
			break;
	}
	return r;
}

static int
store_memory_runs(struct store *s, uint64_t timer_id, store_run_cb cb,
		  void *arg)
{
	struct mem_timer *e;
	uint32_t i;
	int r;

	store_memory_sweep(s);
	if ((e = idmap_get(s->by_id, timer_id)) == NULL)
		return 0;
	for (i = e->nruns; i > 0; i--)
		if ((r = cb(&e->runs[(e->head + i - 1) % e->cap].r, arg)) < 0)
			return r;
	return 0;
}

/* Keeps no timers and no messages. */
static int
store_memory_max_ids(struct store *s, uint64_t *ret_timer_id,
		     uint64_t *ret_fire_id)
{
	*ret_timer_id = *ret_fire_id = 0;
	return 0;
}

static int
store_memory_meta_get(struct store *s, const char *key, int64_t *ret)
{
	size_t i;

	for (i = 0; i < META_MAX; i++) {
		if (strcmp(s->meta[i].key, key) == 0 && key[0] != '\0') {
			*ret = s->meta[i].value;
			return 0;
		}
	}
	snprintf(s->err, sizeof(s->err), "meta: unset");
	return -ENOENT;
}

static int
store_memory_meta_put(struct store *s, const char *key, int64_t value)
{
	size_t i, len = strlen(key);
	size_t slot = META_MAX;

	if (len == 0 || len >= META_KEY_MAX) {
		snprintf(s->err, sizeof(s->err), "meta: bad key length %zu",
			 len);
		return -EINVAL;
	}
	for (i = 0; i < META_MAX; i++) {
		if (strcmp(s->meta[i].key, key) == 0) {
			slot = i;
			break;
		}
		if (slot == META_MAX && s->meta[i].key[0] == '\0')
			slot = i;
	}
	if (slot == META_MAX) {
		snprintf(s->err, sizeof(s->err), "meta: table full (%d keys)",
			 META_MAX);
		return -ENOSPC;
	}
	memcpy(s->meta[slot].key, key, len + 1);
	s->meta[slot].value = value;
	return 0;
}

const struct store_backend store_memory_backend = {
    .name = "memory",
    .durable = false,
    .open = store_memory_open,
    .close = store_memory_close,
    .errmsg = store_memory_errmsg,
    .begin = store_memory_ok,
    .commit = store_memory_ok,
    .rollback = store_memory_rollback,
    .schedule = store_memory_schedule,
    .cancel = store_memory_id,
    .remember = store_memory_remember,
    .claim = store_memory_claim,
    .retire = store_memory_retire,
    .reschedule = store_memory_schedule,
    .revive = store_memory_revive,
    .get_timer = store_memory_get_timer,
    .list_ended = store_memory_list_ended,
    .find_key = store_memory_find_key,
    .check = store_memory_check,
    .channel_put = store_memory_channel_put,
    .load_channels = store_memory_load_channels,
    .enqueue = store_memory_msg,
    .ack = store_memory_id,
    .update_msg = store_memory_msg,
    .load_messages = store_memory_load_messages,
    .run_append = store_memory_run_append,
    .runs = store_memory_runs,
    .output_changes = store_memory_output_changes,
    .max_ids = store_memory_max_ids,
    .meta_get = store_memory_meta_get,
    .meta_put = store_memory_meta_put,
};
