/*
 * sched: pending timers, their indexes and the API (add, cancel, pause,
 * resume, trigger, reschedule, revive, retry, list; see sched.h for the
 * structure, ordering and firing rules).
 *
 * Owns every struct timer. Firing them (the policy, and the hand-off to
 * deliver) is sched_fire.c's, the clocks (timerfds, steps, zone)
 * sched_clock.c's, rebuilding from the store sched_load.c's; what the
 * four share is in sched_int.h.
 *
 * Durable timers (those with a channel target)
 * are written to the store inside the current batch (batch.h) before the
 * memory state changes, so the reply that acknowledges them leaves only
 * after their commit. Must not block: arming a timerfd is one syscall,
 * and it is skipped when the earliest deadline did not move earlier.
 *
 * What is left of a timer once it ended (its last fire, or a cancel) is
 * the store's: the configured one for channel and exec timers (a memory
 * store is told of them through remember()), and for caller timers a
 * memory store of this loop's own, the keeper, which never touches a
 * disk: so Get and Wait find every kind of timer after its end, and a
 * caller fire costs no store write.
 *
 * Delivery is not sched's: sched_fire.c hands a fire to its target
 * (connection, channel, hook) as one struct fire through deliver.h, in
 * the order the batch needs (the target's rows, the timer's, the send);
 * the scheduler keeps the timer's own transition and its run record.
 */
#include "sched.h"
#include "sched_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/event.h>

#include "batch.h"
#include "channel.h"
#include "clock.h"
#include "deliver.h"
#include "exec_blob.h"
#include "idmap.h"
#include "idtab.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "quota.h"
#include "repeat.h"
#include "shard.h"
#include "store.h"
#include "strmap.h"
#include "timerq.h"

/* Ids are reserved in the store this many at a time, so scheduling does
 * not write the counter on every request; a restart skips at most one
 * block. */
#define SCHED_ID_BLOCK 65536
/* Timers are carved from the pool this many at a time (320 KB). */
#define SCHED_POOL_CHUNK 4096
/* How often the store learns the wall time, for downtime "paused". */
#define SCHED_HEARTBEAT_S 10

size_t
timer_payload_len(const struct timer *t)
{
	uint32_t len;

	if (t->payload == NULL)
		return 0;
	memcpy(&len, t->payload, sizeof len);
	return len;
}

/* What t counts against its owner's byte quota while it lives: the
 * payload and an exec target's packed command (argv, env, cwd,
 * properties), which is stored and held as long as the timer. Fixed
 * from timer_new to timer_free, so what sched_link adds sched_unlink
 * releases, and loading the store charges it again. */
static size_t
timer_quota_bytes(const struct timer *t)
{
	const char *key = TC(t)->key;

	return timer_payload_len(t) + TC(t)->exec_len +
	       (key != NULL ? strlen(key) : 0);
}

uint8_t *
timer_payload(const struct timer *t)
{
	return t->payload != NULL ? t->payload + sizeof(uint32_t) : NULL;
}

/* The caller-target timers of one connection, so that closing it costs
 * O(its timers), not a walk of every timer. */
struct conn_timers {
	struct timer_list list;
	size_t n;
};

/* A closing connection with at least this many timers leaves the queues
 * in one O(n) pass (timerq_filter) instead of one removal each. */
#define SCHED_BULK_MIN 1024


_Thread_local struct sched_state sched;
/* Waits on timers another node holds (sched_watch_stored). */
static _Thread_local struct idmap *sched_watched;

uint64_t
sched_random(void)
{
	/* xorshift64*: randomized delays need spread, not secrecy. */
	sched.rnd ^= sched.rnd >> 12;
	sched.rnd ^= sched.rnd << 25;
	sched.rnd ^= sched.rnd >> 27;
	return sched.rnd * UINT64_C(2685821657736338717);
}

/* The occurrence t stands for (before randomized delay and accuracy). */
int64_t
timer_nominal(const struct timer *t)
{
	return t->cold != NULL && t->cold->rep != NULL ? t->cold->nominal_ns
						       : t->qn.deadline_ns;
}

const struct repeat *
timer_repeat(const struct timer *t)
{
	return t->cold != NULL ? t->cold->rep : NULL;
}

int
sched_init(struct event_base *base, const struct store_config *keep)
{
	struct timeval hb = { SCHED_HEARTBEAT_S, 0 };
	unsigned k;
	int i, r;

	memset(&sched, 0, sizeof sched);
	sched.base = base;
	if (getrandom(&sched.rnd, sizeof sched.rnd, GRND_NONBLOCK) !=
	    (ssize_t)sizeof sched.rnd)
		sched.rnd = (uint64_t)clock_now_ns(EVD_CLOCK_REALTIME);
	sched.rnd |= 1; /* xorshift must not start at 0 */
	sched.rt_offset = clock_now_ns(EVD_CLOCK_REALTIME) -
	                  clock_now_ns(EVD_CLOCK_MONOTONIC);
	/* Every loop follows the zone: any may hold calendar timers. */
	sched_zone_now(&sched.utc_offset, sched.zone_abbr,
	               sizeof sched.zone_abbr);
	sched.next_id = sched.id_limit = 1;
	sched.next_fire_id = sched.fire_id_limit = 1;
	/* Loops 1..n-1 have no store to reserve ids in: their whole range
	 * is theirs (shard.h). */
	if ((k = shard_self()) > 0) {
		sched.next_id = sched.next_fire_id = shard_id_base(k) + 1;
		sched.id_limit = sched.fire_id_limit = shard_id_base(k + 1);
	}
	TAILQ_INIT(&sched.held);
	for (i = 0; i < EVD_CLOCK_COUNT; i++)
		sched.clocks[i].fd = -1;
	if ((sched.timers = pool_new(sizeof(struct timer), SCHED_POOL_CHUNK)) ==
		NULL ||
	    (sched.colds = pool_new(sizeof(struct timer_cold),
	                            SCHED_POOL_CHUNK)) == NULL ||
	    (sched.names = strmap_new()) == NULL ||
	    (sched.by_id = idtab_new_at(shard_id_base(shard_self()))) ==
		NULL ||
	    (sched.by_key = strmap_new()) == NULL ||
	    (sched.by_conn = idmap_new()) == NULL)
		return -ENOMEM;
	sched.more_ev = event_new(base, -1, 0, sched_more_cb, NULL);
	sched.rate_ev = evtimer_new(base, sched_rate_cb, NULL);
	if (sched.rate_ev == NULL || (sched.rate = idmap_new()) == NULL)
		return -ENOMEM;
	sched.heartbeat_ev = event_new(base, -1, EV_PERSIST,
	                               sched_heartbeat_cb, NULL);
	if (sched.more_ev == NULL || sched.heartbeat_ev == NULL ||
	    event_add(sched.heartbeat_ev, &hb) < 0)
		return -ENOMEM;
	if (keep != NULL) {
		sched.keep_be = store_backend_find("memory");
		sched.keep_max = keep->finished_max;
		if (sched.keep_be == NULL)
			return -ENOENT;
		if ((r = sched.keep_be->open(keep, &sched.keep)) < 0)
			return r;
	}
	return sched_clock_init(base);
}

struct event_base *
sched_event_base(void)
{
	return sched.base;
}

/* An interned channel name: the copy every timer to that channel
 * points at, freed with the last of them. */
struct sched_name {
	size_t refs;
	size_t len;
	char s[];
};

/* A reference to the interned copy of name (NULL for NULL); sets
 * *failed when out of memory. */
static char *
sched_name_get(const char *name, bool *failed)
{
	struct sched_name *n = sched.last_name;
	size_t len;

	if (name == NULL)
		return NULL;
	len = strlen(name);
	/* Timers are mostly made in runs to one channel (a load, a
	 * client's burst): the last name saves the hashing. */
	if (n == NULL || n->len != len || memcmp(n->s, name, len) != 0) {
		if ((n = strmap_get(sched.names, name, len)) == NULL) {
			if ((n = malloc(sizeof *n + len + 1)) == NULL) {
				*failed = true;
				return NULL;
			}
			n->refs = 0;
			n->len = len;
			memcpy(n->s, name, len + 1);
			if (strmap_put(sched.names, n->s, len, n) < 0) {
				free(n);
				*failed = true;
				return NULL;
			}
		}
		sched.last_name = n;
	}
	n->refs++;
	return n->s;
}

/* Drops a reference sched_name_get returned. NULL-safe. */
static void
sched_name_put(char *s)
{
	struct sched_name *n;

	if (s == NULL)
		return;
	n = (struct sched_name *)(void *)(s - offsetof(struct sched_name, s));
	if (--n->refs > 0)
		return;
	strmap_del(sched.names, n->s, n->len);
	if (sched.last_name == n)
		sched.last_name = NULL;
	free(n);
}

void
timer_free(struct timer *t)
{
	if (t == NULL)
		return;
	if (t->cold != NULL) {
		/* Its last-success series goes with it (metrics.h). */
		if (t->cold->rep != NULL && t->cold->exec != NULL &&
		    repeat_repeats(t->cold->rep))
			metrics_timer_forget(t->id);
		sched_name_put(t->cold->channel);
		free(t->cold->exec);
		free(t->cold->key);
		free(t->cold->keymap_key);
		repeat_free(t->cold->rep);
		pool_put(sched.colds, t->cold);
	}
	free(t->payload);
	pool_put(sched.timers, t);
}

/* Removes t from every index; it is then only the caller's. */
void
sched_unlink(struct timer *t)
{
	if (t->held) {
		TAILQ_REMOVE(&sched.held, t, by_conn);
		t->held = false;
	} else
		timerq_remove(sched.clocks[t->clock].q, &t->qn);
	idtab_del(sched.by_id, t->id);
	if (TC(t)->keymap_key != NULL)
		strmap_del(sched.by_key, t->cold->keymap_key,
			   t->cold->keymap_len);
	if (!TIMER_DURABLE(t)) {
		struct conn_timers *ct = idmap_get(sched.by_conn, t->conn_id);

		if (ct != NULL) {
			TAILQ_REMOVE(&ct->list, t, by_conn);
			ct->n--;
			if (TAILQ_EMPTY(&ct->list)) {
				idmap_del(sched.by_conn, t->conn_id);
				free(ct);
			}
		}
	}
	quota_release(t->uid, QUOTA_TIMER, timer_quota_bytes(t));
	sched.stats.pending--;
	if (TIMER_DURABLE(t))
		sched.stats.durable--;
}

void
sched_shutdown(void)
{
	struct timer *t;
	uint64_t id;

	sched_retry_shutdown();
	if (sched_watched != NULL) {
		void *w;
		size_t it = 0;

		while ((w = idmap_next(sched_watched, &it, NULL)) != NULL)
			free(w);
		idmap_free(sched_watched);
		sched_watched = NULL;
	}
	while ((t = idtab_next(sched.by_id, 0, &id)) != NULL) {
		sched_unlink(t);
		timer_free(t);
	}
	sched_clock_shutdown();
	if (sched.more_ev != NULL)
		event_free(sched.more_ev);
	if (sched.rate_ev != NULL)
		event_free(sched.rate_ev);
	if (sched.rate != NULL) {
		void *b; /* struct sched_bucket (sched_fire.c) */
		size_t it = 0;

		while ((b = idmap_next(sched.rate, &it, NULL)) != NULL)
			free(b);
		idmap_free(sched.rate);
	}
	if (sched.heartbeat_ev != NULL)
		event_free(sched.heartbeat_ev);
	idtab_free(sched.by_id);
	pool_free(sched.timers);
	pool_free(sched.colds);
	strmap_free(sched.names);
	strmap_free(sched.by_key);
	idmap_free(sched.by_conn);
	if (sched.keep != NULL)
		sched.keep_be->close(sched.keep);
	memset(&sched, 0, sizeof sched);
}

void
sched_set_cluster(const struct sched_cluster_ops *ops)
{
	sched.cluster = ops;
}

void
sched_on_caller_fired(void (*fn)(void *arg), void *arg)
{
	sched.caller_fired = fn;
	sched.caller_fired_arg = arg;
}

/*
 * Takes the next id from a counter whose reserved limit lives in the
 * store (meta key), reserving a new block when the current one is used
 * up. Returns 0, -EAGAIN, -EIO or -EOVERFLOW.
 */
int
sched_next(uint64_t *next, uint64_t *limit, const char *key, uint64_t *ret)
{
	const struct store_backend *be = batch_backend();
	struct store *s;
	int r;

	if (*next >= UINT64_MAX - SCHED_ID_BLOCK)
		return -EOVERFLOW;
	if (*next >= *limit && sched.cluster != NULL) {
		uint64_t first, count;

		/* Nodes share the id space: a block no other node gets. */
		if ((s = batch_store()) == NULL)
			return -EAGAIN;
		if ((r = be->reserve_ids(s, &first, &count)) < 0) {
			batch_fail(r);
			return -EIO;
		}
		/* Caller fire ids may have run past the last block. */
		if (*next < first || *next >= first + count)
			*next = first;
		*limit = first + count;
	}
	if (*next >= *limit) {
		if ((s = batch_store()) == NULL)
			return -EAGAIN;
		r = be->meta_put(s, key, (int64_t)(*next + SCHED_ID_BLOCK));
		if (r < 0) {
			batch_fail(r);
			return -EIO;
		}
		*limit = *next + SCHED_ID_BLOCK;
	}
	*ret = (*next)++;
	return 0;
}

static char *
xstrdup_or_null(const char *s, bool *failed)
{
	char *p;

	if (s == NULL)
		return NULL;
	if ((p = strdup(s)) == NULL)
		*failed = true;
	return p;
}

static bool
timer_init_cold(const struct timer_init *in)
{
	return in->channel != NULL || in->exec != NULL || in->key != NULL ||
	       in->rep != NULL || in->fence != 0 || in->max_attempts != 0 ||
	       in->delivery != 0 || in->downtime != 0 || in->fire_count != 0 ||
	       in->last_fired_rt_ns != 0;
}

/* A new timer linked nowhere, made of copies of in's parts (in->rep is
 * taken over, even on failure), or NULL when out of memory. */
struct timer *
timer_new(const struct timer_init *in)
{
	struct timer_cold *c;
	struct timer *t;
	bool failed = false;
	uint32_t len;

	if ((t = pool_get(sched.timers)) == NULL) {
		repeat_free(in->rep);
		return NULL;
	}
	timerq_node_init(&t->qn);
	if (timer_init_cold(in)) {
		if ((c = t->cold = pool_get(sched.colds)) == NULL) {
			repeat_free(in->rep);
			pool_put(sched.timers, t);
			return NULL;
		}
		c->rep = in->rep;
		c->nominal_ns = in->nominal_ns;
		c->fence = in->fence;
		c->max_attempts = in->max_attempts;
		c->delivery = (uint8_t)in->delivery;
		c->downtime = (uint8_t)in->downtime;
		c->fire_count = in->fire_count;
		c->last_fired_rt_ns = in->last_fired_rt_ns;
		c->channel = sched_name_get(in->channel, &failed);
		c->key = xstrdup_or_null(in->key, &failed);
		if (in->exec != NULL) {
			/* An empty exec is still an exec target. */
			if ((c->exec = malloc(in->exec_len + 1)) == NULL)
				failed = true;
			else
				memcpy(c->exec, in->exec, in->exec_len);
			c->exec_len = in->exec_len;
		}
	}
	if (in->payload_len > 0) {
		len = (uint32_t)in->payload_len;
		if (in->payload_len > UINT32_MAX ||
		    (t->payload = malloc(sizeof len + len)) == NULL)
			failed = true;
		else {
			memcpy(t->payload, &len, sizeof len);
			memcpy(t->payload + sizeof len, in->payload, len);
		}
	}
	if (failed) {
		timer_free(t);
		return NULL;
	}
	return t;
}

/* The key map's key: owner uid, a NUL, then the client's key, so equal
 * keys of different owners never collide. */
static int
sched_keymap_key(uid_t uid, const char *key, char **ret, size_t *ret_len)
{
	size_t klen = strlen(key);
	char *k;

	if ((k = malloc(sizeof(uint32_t) + 1 + klen)) == NULL)
		return -ENOMEM;
	memcpy(k, &uid, sizeof(uint32_t));
	k[sizeof(uint32_t)] = '\0';
	memcpy(k + sizeof(uint32_t) + 1, key, klen);
	*ret = k;
	*ret_len = sizeof(uint32_t) + 1 + klen;
	return 0;
}

/* The list of a connection's caller-target timers, created on demand. */
static struct conn_timers *
sched_conn_timers(uint64_t conn_id)
{
	struct conn_timers *ct = idmap_get(sched.by_conn, conn_id);

	if (ct != NULL)
		return ct;
	if ((ct = malloc(sizeof *ct)) == NULL)
		return NULL;
	TAILQ_INIT(&ct->list);
	ct->n = 0;
	if (idmap_put(sched.by_conn, conn_id, ct) < 0) {
		free(ct);
		return NULL;
	}
	return ct;
}

/* Puts a fully built timer into every index. Returns 0 or -ENOMEM (t is
 * then in none). */
int
sched_link(struct timer *t)
{
	struct sched_clock *sc = &sched.clocks[t->clock];
	struct conn_timers *ct = NULL;

	if (TC(t)->key != NULL && t->cold->keymap_key == NULL &&
	    sched_keymap_key(t->uid, t->cold->key, &t->cold->keymap_key,
			     &t->cold->keymap_len) < 0)
		return -ENOMEM;
	if (quota_add(t->uid, QUOTA_TIMER, timer_quota_bytes(t)) < 0)
		return -ENOMEM;
	if (idtab_put(sched.by_id, t->id, t) < 0)
		goto fail_quota;
	if (TC(t)->keymap_key != NULL &&
	    strmap_put(sched.by_key, TC(t)->keymap_key, TC(t)->keymap_len, t) <
		0)
		goto fail_id;
	if (!TIMER_DURABLE(t) && (ct = sched_conn_timers(t->conn_id)) == NULL)
		goto fail_key;
	if (!t->paused && timerq_push(sc->q, &t->qn) < 0) {
		if (ct != NULL && TAILQ_EMPTY(&ct->list)) {
			idmap_del(sched.by_conn, t->conn_id);
			free(ct);
		}
		goto fail_key;
	}
	if (ct != NULL) {
		TAILQ_INSERT_TAIL(&ct->list, t, by_conn);
		ct->n++;
	}
	sched.stats.pending++;
	if (TIMER_DURABLE(t))
		sched.stats.durable++;
	sched_arm(sc, false);
	return 0;
fail_key:
	if (TC(t)->keymap_key != NULL)
		strmap_del(sched.by_key, TC(t)->keymap_key, TC(t)->keymap_len);
fail_id:
	idtab_del(sched.by_id, t->id);
fail_quota:
	quota_release(t->uid, QUOTA_TIMER, timer_quota_bytes(t));
	return -ENOMEM;
}

/* The store's view of t. */
void
sched_to_store(const struct timer *t, struct store_timer *st)
{
	memset(st, 0, sizeof *st);
	st->id = t->id;
	st->fence = TC(t)->fence;
	st->uid = t->uid;
	st->gid = t->gid;
	st->clock = t->clock;
	st->deadline_ns = timer_nominal(t);
	st->due_rt_ns = clock_to_realtime_ns(t->clock, st->deadline_ns);
	st->paused = t->paused;
	/* Not snprintf: this runs at every cancel and end of a timer (st
	 * is zeroed: the id stays terminated). */
	memcpy(st->boot_id, clock_boot_id(),
	       strnlen(clock_boot_id(), sizeof st->boot_id - 1));
	st->created_rt_ns = t->created_rt_ns;
	st->channel = TC(t)->channel;
	st->exec = TC(t)->exec;
	st->exec_len = TC(t)->exec_len;
	st->payload = timer_payload(t);
	st->payload_len = timer_payload_len(t);
	st->key = TC(t)->key;
	st->misfire = t->misfire;
	st->delivery = TC(t)->delivery;
	st->downtime = TC(t)->downtime;
	st->max_attempts = TC(t)->max_attempts;
	st->fire_count = TC(t)->fire_count;
	st->last_fired_rt_ns = TC(t)->last_fired_rt_ns;
}

/*
 * Tells store s of backend be, if it is one that keeps no pending timers
 * (remember), how t stands after a fire or a cancel at at_rt (wall time):
 * so that it keeps the run appended next and, once t ended, t itself.
 * counted: the fire counts (fire_count, last fired). A caller timer's
 * record holds no key: the key is free again when it ends (the timer
 * died with its connection or fired to it; a retry from a new connection
 * must get a new timer). Best effort: the record serves Get and Wait
 * only, so a failure is logged, never returned.
 */
void
sched_remember(const struct store_backend *be, struct store *s,
               const struct timer *t, enum sched_end end, bool counted,
               int64_t at_rt)
{
	struct store_timer st;
	uint8_t *packed = NULL;

	if (be == NULL || s == NULL || be->remember == NULL)
		return;
	sched_to_store(t, &st);
	if (end != SCHED_GOES_ON) {
		st.finished = true;
		st.cancelled = end == SCHED_CANCELLED;
		st.finished_rt_ns = at_rt;
		if (counted) {
			st.fire_count++;
			st.last_fired_rt_ns = at_rt;
		}
		if (!TIMER_DURABLE(t))
			st.key = NULL;
		/* How it repeated, as Get shows it (left out if it cannot
		 * be packed now). */
		if (timer_repeat(t) != NULL &&
		    (packed = repeat_pack(timer_repeat(t), &st.sched_len)) !=
			NULL)
			st.sched = packed;
	}
	if (be->remember(s, &st) < 0)
		log_about(LOG_LEVEL_DEBUG, LOG_TIMER(t->id, t->uid),
			  "timer %" PRIu64 " (uid %u): not kept for Get and "
			  "Wait: %s",
			  t->id, (unsigned)t->uid, be->errmsg(s));
	free(packed);
}

/* The keeper's part of a caller timer's fire or cancel: how t stands,
 * then the run. Best effort, as sched_remember. */
void
sched_keep(const struct timer *t, enum sched_end end, bool counted,
           int64_t at_rt, const struct store_run *run)
{
	if (sched.keep == NULL)
		return;
	sched_remember(sched.keep_be, sched.keep, t, end, counted, at_rt);
	if (sched.keep_be->run_append(sched.keep, run) < 0)
		log_about(LOG_LEVEL_DEBUG, LOG_TIMER(t->id, t->uid),
			  "timer %" PRIu64 " (uid %u): run not kept: %s",
			  t->id, (unsigned)t->uid,
			  sched.keep_be->errmsg(sched.keep));
}

struct store *
sched_keeper(const struct store_backend **ret_be)
{
	*ret_be = sched.keep_be;
	return sched.keep;
}

int
sched_add(const struct sched_spec *spec, struct timer **ret,
          bool *ret_existing)
{
	struct repeat *rep = spec->rep;
	struct timer_init in;
	struct store_timer st;
	struct store *s = NULL;
	struct timer *t;
	int r;

	if (spec->key != NULL) {
		char *k;
		size_t klen;

		if ((r = sched_keymap_key(spec->uid, spec->key, &k, &klen)) < 0)
			goto fail_rep;
		t = strmap_get(sched.by_key, k, klen);
		free(k);
		if (t != NULL) {
			repeat_free(rep);
			*ret = t;
			*ret_existing = true;
			return 0;
		}
	}
	r = -ENOBUFS;
	if (spec->channel != NULL &&
	    channel_queued(spec->channel) >= CHANNEL_MAX_QUEUED)
		goto fail_rep;
	r = -EAGAIN;
	if ((spec->channel != NULL || spec->exec != NULL) &&
	    (s = batch_store()) == NULL)
		goto fail_rep;
	memset(&in, 0, sizeof in);
	in.channel = spec->channel;
	in.exec = spec->exec;
	in.exec_len = spec->exec_len;
	in.key = spec->key;
	in.payload = spec->payload;
	in.payload_len = spec->payload_len;
	in.rep = rep; /* the timer owns it from here */
	in.nominal_ns = spec->deadline_ns;
	in.max_attempts = spec->max_attempts;
	in.delivery = spec->delivery;
	in.downtime = spec->downtime;
	if ((t = timer_new(&in)) == NULL)
		return -ENOMEM;
	if ((r = sched_next(&sched.next_id, &sched.id_limit, "next_timer_id",
	                    &t->id)) < 0) {
		timer_free(t);
		return r;
	}
	t->uid = spec->uid;
	t->gid = spec->gid;
	t->clock = (uint8_t)spec->clock;
	t->misfire = (uint8_t)spec->misfire;
	t->conn_id = spec->conn_id;
	t->created_rt_ns = clock_batch_ns(EVD_CLOCK_REALTIME);
	t->qn.deadline_ns =
	    repeat_effective(rep, spec->deadline_ns, sched_random());
	if (s != NULL) {
		uint8_t *packed = NULL;

		sched_to_store(t, &st);
		if (rep != NULL) {
			if ((packed = repeat_pack(rep, &st.sched_len)) == NULL) {
				timer_free(t);
				return -ENOMEM;
			}
			st.sched = packed;
		}
		r = batch_backend()->schedule(s, &st);
		free(packed);
		if (r < 0) {
			/* A row error fails this request only (its id
			 * stays used); anything else, the batch. */
			timer_free(t);
			return batch_write_failed(r);
		}
	}
	if ((r = sched_link(t)) < 0) {
		/* The store has it and will fire it after a restart; memory
		 * could not take it now. Fail the batch so neither has it. */
		if (s != NULL)
			batch_fail(r);
		timer_free(t);
		return r;
	}
	sched.stats.scheduled_total++;
	*ret = t;
	*ret_existing = false;
	return 0;
fail_rep:
	repeat_free(rep);
	return r;
}

struct timer *
sched_find_key(uid_t uid, const char *key)
{
	struct timer *t;
	size_t klen;
	char *k;

	if (sched_keymap_key(uid, key, &k, &klen) < 0)
		return NULL;
	t = strmap_get(sched.by_key, k, klen);
	free(k);
	return t;
}

struct timer *
sched_lookup(uint64_t id, uid_t uid)
{
	struct timer *t;

	if (id == 0 || (t = idtab_get(sched.by_id, id)) == NULL)
		return NULL;
	if (uid != 0 && t->uid != uid)
		return NULL; /* others' timers do not exist for this caller */
	return t;
}

struct timer *
sched_lookup_in_channel(uint64_t id, uid_t uid)
{
	struct timer *t;

	if (id == 0 || (t = idtab_get(sched.by_id, id)) == NULL ||
	    TC(t)->channel == NULL || !channel_owned_by(TC(t)->channel, uid))
		return NULL;
	return t;
}

/*
 * Cancels t, which is then kept as cancelled with a CANCELLED run (for a
 * caller timer, unless keep is false); gone says why: its connection
 * closed (those are summed up in one log line, not one each).
 */
static int
sched_cancel_one(struct timer *t, bool gone, bool keep)
{
	const struct store_backend *be = batch_backend();
	int64_t now = clock_batch_ns(EVD_CLOCK_REALTIME);
	struct store_run run;
	struct store *s;
	int r;

	memset(&run, 0, sizeof run);
	run.timer_id = t->id;
	run.due_rt_ns = clock_to_realtime_ns(t->clock, t->qn.deadline_ns);
	run.outcome = EVD_RUN_CANCELLED;
	run.detail = gone ? "its connection closed" : NULL;
	if (TIMER_DURABLE(t)) {
		if ((s = batch_store()) == NULL)
			return -EAGAIN;
		/* Cluster mode: fenced, and a claim another node took is not
		 * cancelled here (it may be firing there): the caller hears
		 * so, and this node forgets its lost claim. */
		if (sched.cluster != NULL) {
			char holder[32] = "";

			r = be->cancel_claim(s, t->id, TC(t)->fence, holder,
			                     sizeof holder);
			if (r == -ESTALE) {
				sched.cluster->claim_lost(t->id);
				return r;
			}
		} else {
			r = be->cancel(s, t->id);
		}
		if (r < 0 && r != -ENOENT) {
			batch_fail(r);
			return -EIO;
		}
		sched_remember(be, s, t, SCHED_CANCELLED, false, now);
		if ((r = be->run_append(s, &run)) < 0) {
			batch_fail(r);
			return -EIO;
		}
	} else if (keep)
		sched_keep(t, SCHED_CANCELLED, false, now, &run);
	sched_unlink(t);
	sched.stats.cancelled_total++;
	deliver_cancelled(t->id, run.due_rt_ns);
	if (!gone)
		log_about(LOG_LEVEL_INFO, LOG_TIMER(t->id, t->uid),
			  "timer %" PRIu64 " (uid %u): cancelled", t->id,
			  (unsigned)t->uid);
	timer_free(t);
	return 0;
}

int
sched_cancel(struct timer *t)
{
	return sched_cancel_one(t, false, true);
}

/* Who may cancel a stored timer: as sched_lookup and
 * sched_lookup_in_channel say for one in memory. */
struct sched_may_cancel {
	uid_t asker;
	uid_t owner;
	int64_t due_rt_ns;
};

static int
sched_may_cancel_cb(const struct store_timer *st, void *arg)
{
	struct sched_may_cancel *m = arg;

	if (m->asker != 0 && st->uid != m->asker &&
	    (st->channel == NULL || !channel_owned_by(st->channel, m->asker)))
		return -ENOENT; /* others' timers do not exist for them */
	m->owner = st->uid;
	m->due_rt_ns = st->due_rt_ns;
	return 0;
}

int
sched_cancel_stored(uint64_t id, uid_t asker, char *ret_holder,
                    size_t holder_size)
{
	const struct store_backend *be = batch_backend();
	struct sched_may_cancel m = { .asker = asker };
	struct store_run run;
	struct timer *t;
	struct store *s;
	int r;

	if (holder_size > 0)
		ret_holder[0] = '\0';
	if (sched.cluster == NULL || be == NULL || be->cancel_any == NULL ||
	    id == 0)
		return -ENOENT;
	if ((s = batch_store()) == NULL)
		return -EAGAIN;
	r = be->cancel_any(s, id, sched_may_cancel_cb, &m, ret_holder,
	                   holder_size);
	if (r == -ENOENT || r == -EALREADY)
		return r;
	if (r == -EAGAIN)
		return -EBUSY;
	if (r < 0) {
		batch_fail(r);
		return -EIO;
	}
	memset(&run, 0, sizeof run);
	run.timer_id = id;
	run.due_rt_ns = m.due_rt_ns;
	run.outcome = EVD_RUN_CANCELLED;
	if ((r = be->run_append(s, &run)) < 0) {
		batch_fail(r);
		return -EIO;
	}
	/* A lost claim of this node's (its drop waits for the next turn)
	 * goes now: cancelled, never to fire. */
	if ((t = idtab_get(sched.by_id, id)) != NULL && TIMER_DURABLE(t)) {
		sched_unlink(t);
		timer_free(t);
	}
	sched.stats.cancelled_total++;
	deliver_cancelled(id, m.due_rt_ns);
	log_about(LOG_LEVEL_INFO, LOG_TIMER(id, m.owner),
		  "timer %" PRIu64 " (uid %u): cancelled%s%s", id,
		  (unsigned)m.owner,
		  holder_size > 0 && ret_holder[0] != '\0' ? "; held by node "
		                                            : "",
		  holder_size > 0 ? ret_holder : "");
	return 0;
}

/* What sched_cancel_matching_stored's page cancelled, for its runs
 * (written once the store's call returned: its callback may not call
 * the store). */
struct sched_cancelled_page {
	struct sched_cancelled_one {
		uint64_t id;
		uid_t uid;
		int64_t due_rt_ns;
	} *v;
	size_t n, cap;
};

static int
sched_cancelled_page_cb(const struct store_timer *st, void *arg)
{
	struct sched_cancelled_page *pg = arg;

	if (pg->n == pg->cap) {
		size_t cap = pg->cap ? 2 * pg->cap : 64;
		struct sched_cancelled_one *v =
		        reallocarray(pg->v, cap, sizeof *v);

		if (v == NULL)
			return -ENOMEM;
		pg->v = v;
		pg->cap = cap;
	}
	pg->v[pg->n].id = st->id;
	pg->v[pg->n].uid = st->uid;
	pg->v[pg->n].due_rt_ns = st->due_rt_ns;
	pg->n++;
	return 0;
}

/* Sweeps over rows another batch was
 * writing (each a few ms: a claim, a fire, a renew). */
#define SCHED_CANCEL_SWEEPS 4

int
sched_cancel_matching_stored(uid_t owner, bool all, const char *channel,
                             uint64_t *ret_n, uint64_t *ret_skipped,
                             bool *ret_more)
{
	const struct store_backend *be = batch_backend();
	struct sched_cancelled_page pg = { .v = NULL, .n = 0 };
	uint64_t after, last, skipped = 0, n = 0;
	struct store_run run;
	struct timer *t;
	struct store *s;
	int sweep, k, r = 0, pages = 0;
	size_t i;

	*ret_n = *ret_skipped = 0;
	*ret_more = false;
	if (sched.cluster == NULL || be == NULL || be->cancel_matching == NULL)
		return 0;
	if ((s = batch_store()) == NULL)
		return -EAGAIN;
	for (sweep = 0; sweep < SCHED_CANCEL_SWEEPS; sweep++) {
		skipped = 0;
		after = 0;
		do {
			uint64_t sk;

			pg.n = 0;
			k = be->cancel_matching(s, owner, all, channel, after,
			                        SCHED_CANCEL_PAGE,
			                        sched_cancelled_page_cb, &pg,
			                        &last, &sk);
			/* Out of memory noting one: the cancels stand but
			 * their runs and waiters would not; the batch goes. */
			if (k < 0) {
				batch_fail(k);
				r = -EIO;
				goto out;
			}
			skipped += sk;
			after = last;
			for (i = 0; i < pg.n; i++) {
				memset(&run, 0, sizeof run);
				run.timer_id = pg.v[i].id;
				run.due_rt_ns = pg.v[i].due_rt_ns;
				run.outcome = EVD_RUN_CANCELLED;
				/* Gathered (one statement a page), not a round
				 * trip each on the loop. */
				if (be->pipeline != NULL)
					be->pipeline(s, true);
				r = be->run_append(s, &run);
				if (be->pipeline != NULL)
					be->pipeline(s, false);
				if (r < 0) {
					batch_fail(r);
					r = -EIO;
					goto out;
				}
				/* Held here (a lost claim, or one this node's
				 * own pass did not reach): it goes now. */
				if ((t = idtab_get(sched.by_id, pg.v[i].id)) !=
				            NULL &&
				    TIMER_DURABLE(t)) {
					sched_unlink(t);
					timer_free(t);
				}
				sched.stats.cancelled_total++;
				deliver_cancelled(pg.v[i].id, pg.v[i].due_rt_ns);
				log_about(LOG_LEVEL_INFO,
				          LOG_TIMER(pg.v[i].id, pg.v[i].uid),
				          "timer %" PRIu64 " (uid %u): cancelled "
				          "in the database",
				          pg.v[i].id, (unsigned)pg.v[i].uid);
				n++;
			}
			if (k == SCHED_CANCEL_PAGE &&
			    ++pages == SCHED_CANCEL_MAX_PAGES) {
				*ret_more = true;
				goto out;
			}
		} while (k == SCHED_CANCEL_PAGE);
		if (skipped == 0)
			break;
	}
out:
	free(pg.v);
	*ret_n = n;
	*ret_skipped = skipped;
	return r;
}

/*
 * Waits on timers another node holds (cluster mode): for each, the seq
 * of the newest run it had when the wait began; the first later run
 * that ends a fire (or the timer) ends the wait, read oldest first
 * (runs_since), so that two runs within one poll (queued, then a skip)
 * do not hide the first. Polled from the cluster's claim
 * tick, at most SCHED_WATCH_POLL_MAX timers a poll in one read, taken
 * in turn from where the last poll stopped, so that every wait is read
 * however many there are; an id nobody waits on any more (its waiters
 * answered by a fire here, or gone) is forgotten when its turn comes.
 * A watch exists only while a waiter does (sched_unwatch_stored).
 */
struct sched_watch {
	int64_t base_seq; /* 0: no run then */
};
#define SCHED_WATCH_POLL_MAX 64 /* timers per poll */
/* Runs per timer per poll: more since the last poll (a fast repeating
 * timer's) are read at the next ones, from the last one read. */
#define SCHED_WATCH_RUNS_MAX 16
static _Thread_local size_t sched_watch_cursor;

/* What ends a wait, as the local paths notify waiters (deliver.h). */
static bool
sched_run_ends_wait(int outcome)
{
	switch (outcome) {
	case EVD_RUN_DELIVERED:
	case EVD_RUN_QUEUED:
	case EVD_RUN_EXEC_EXITED:
	case EVD_RUN_EXEC_SIGNALED:
	case EVD_RUN_EXEC_TIMED_OUT:
	case EVD_RUN_EXEC_FAILED:
	case EVD_RUN_CANCELLED:
		return true;
	default:
		return false;
	}
}

static bool
sched_run_is_exec_end(int outcome)
{
	return outcome == EVD_RUN_EXEC_EXITED ||
	       outcome == EVD_RUN_EXEC_SIGNALED ||
	       outcome == EVD_RUN_EXEC_TIMED_OUT ||
	       outcome == EVD_RUN_EXEC_FAILED;
}

static int
sched_base_cb(const struct store_run *r, int64_t seq, bool retrying,
              void *arg)
{
	(void)r;
	(void)retrying;
	*(int64_t *)arg = seq;
	return 0;
}

static int sched_watch_stored_base(uint64_t id, int64_t base);

int
sched_watch_stored(uint64_t id)
{
	return sched_watch_stored_base(id, -1);
}

int
sched_watch_stored_from(uint64_t id, int64_t seq)
{
	return sched_watch_stored_base(id, seq);
}

/* base < 0: the newest run now is the base. */
static int
sched_watch_stored_base(uint64_t id, int64_t base)
{
	const struct store_backend *be = batch_backend();
	struct sched_watch *w;
	struct store *s;

	if (sched.cluster == NULL || be == NULL || be->runs_newest == NULL)
		return -ENOENT;
	if ((s = batch_store_ro()) == NULL)
		return -EAGAIN;
	if (sched_watched == NULL && (sched_watched = idmap_new()) == NULL)
		return -ENOMEM;
	if (idmap_get(sched_watched, id) != NULL)
		return 0; /* its first waiter's base holds */
	/* Unreadable: no base to tell a newer run by, no wait. */
	if (base < 0 &&
	    (base = 0, be->runs_newest(s, &id, 1, sched_base_cb, &base) < 0))
		return -EAGAIN;
	if ((w = calloc(1, sizeof *w)) == NULL)
		return -ENOMEM;
	w->base_seq = base;
	if (idmap_put(sched_watched, id, w) < 0) {
		free(w);
		return -ENOMEM;
	}
	return 0;
}

void
sched_unwatch_stored(uint64_t id)
{
	if (sched_watched != NULL && !deliver_waited(id))
		free(idmap_del(sched_watched, id));
}

struct sched_poll {
	uint64_t ids[SCHED_WATCH_POLL_MAX];
	int64_t bases[SCHED_WATCH_POLL_MAX];
	size_t n;
	uint64_t done[2 * SCHED_WATCH_POLL_MAX];
	size_t ndone;
};

static int
sched_poll_cb(const struct store_run *r, int64_t seq, bool retrying,
              void *arg)
{
	struct sched_poll *pl = arg;
	struct sched_watch *w = idmap_get(sched_watched, r->timer_id);

	/* Runs come oldest first: the first after the base that ends a
	 * fire ends the wait, whatever came after it in the same poll;
	 * those that end nothing move the base on. */
	if (w == NULL || seq <= w->base_seq)
		return 0;
	/* A failed attempt that a retry follows ends nothing yet (hook.c
	 * tells local waiters of the last attempt only). */
	if (!sched_run_ends_wait(r->outcome) ||
	    (retrying && sched_run_is_exec_end(r->outcome))) {
		w->base_seq = seq;
		return 0;
	}
	w->base_seq = INT64_MAX; /* ended: later rows of it are not news */
	deliver_run_ended(r);
	if (pl->ndone < sizeof pl->done / sizeof pl->done[0])
		pl->done[pl->ndone++] = r->timer_id;
	return 0;
}

void
sched_poll_watched(const struct store_backend *be, struct store *s)
{
	struct sched_poll pl = { .n = 0, .ndone = 0 };
	struct sched_watch *w;
	size_t seen = 0, total;
	bool wrapped = false;
	uint64_t id;

	if (sched_watched == NULL || be->runs_since == NULL ||
	    (total = idmap_size(sched_watched)) == 0)
		return;
	while (pl.n < SCHED_WATCH_POLL_MAX &&
	       pl.ndone < SCHED_WATCH_POLL_MAX && seen < total) {
		w = idmap_next(sched_watched, &sched_watch_cursor, &id);
		if (w == NULL) {
			if (wrapped)
				break;
			wrapped = true;
			sched_watch_cursor = 0;
			continue;
		}
		seen++;
		if (!deliver_waited(id)) {
			pl.done[pl.ndone++] = id;
			continue;
		}
		pl.bases[pl.n] = w->base_seq;
		pl.ids[pl.n++] = id;
	}
	/* Unreadable now: the next poll. */
	if (pl.n > 0)
		(void)be->runs_since(s, pl.ids, pl.bases, pl.n,
		                     SCHED_WATCH_RUNS_MAX, sched_poll_cb, &pl);
	while (pl.ndone > 0)
		free(idmap_del(sched_watched, pl.done[--pl.ndone]));
}

bool
sched_cancelled_elsewhere(uint64_t id)
{
	struct timer *t;
	int64_t due;

	if ((t = idtab_get(sched.by_id, id)) == NULL || !TIMER_DURABLE(t))
		return false;
	due = clock_to_realtime_ns(t->clock, t->qn.deadline_ns);
	log_about(LOG_LEVEL_INFO, LOG_TIMER(t->id, t->uid),
		  "timer %" PRIu64 " (uid %u): cancelled through another node",
		  t->id, (unsigned)t->uid);
	sched_unlink(t);
	timer_free(t);
	deliver_cancelled(id, due);
	return true;
}

bool
sched_taken_elsewhere(uint64_t id, uint64_t fence, int64_t seq)
{
	struct timer *t;

	if ((t = idtab_get(sched.by_id, id)) == NULL || !TIMER_DURABLE(t))
		return false;
	/* A late notice: this node took it back since, with a newer
	 * fence (a rebuild dropped it, a pause here took it again). */
	if (TC(t)->fence >= fence)
		return false;
	log_about(LOG_LEVEL_INFO, LOG_TIMER(t->id, t->uid),
		  "timer %" PRIu64 " (uid %u): taken over by another node",
		  t->id, (unsigned)t->uid);
	sched_unlink(t);
	timer_free(t);
	/* Its runs are written elsewhere now: waiters here read them. A
	 * wait that cannot be watched (out of memory, the store out of
	 * reach) hears of it at its timeout. */
	if (deliver_waited(id) && sched_watch_stored_from(id, seq) < 0)
		log_about(LOG_LEVEL_WARNING, LOG_TIMER_NOUID(id),
			  "timer %" PRIu64 ": its waiters here cannot follow "
			  "it to the node that took it over", id);
	return true;
}

/* Writes t's clock, nominal deadline and paused flag as they are now. */
static int
sched_store_reschedule(struct timer *t)
{
	struct store_timer st;
	struct store *s;
	int r;

	if (!TIMER_DURABLE(t))
		return 0;
	if ((s = batch_store()) == NULL)
		return -EAGAIN;
	sched_to_store(t, &st);
	if ((r = batch_backend()->reschedule(s, &st)) < 0) {
		batch_fail(r);
		return -EIO;
	}
	return 0;
}

int
sched_pause(struct timer *t)
{
	int r;

	if (t->paused)
		return -EALREADY;
	t->paused = true;
	if ((r = sched_store_reschedule(t)) < 0) {
		t->paused = false;
		return r;
	}
	if (t->held) {
		TAILQ_REMOVE(&sched.held, t, by_conn);
		t->held = false;
	} else
		timerq_remove(sched.clocks[t->clock].q, &t->qn);
	log_about(LOG_LEVEL_INFO, LOG_TIMER(t->id, t->uid),
		  "timer %" PRIu64 " (uid %u): paused", t->id,
		  (unsigned)t->uid);
	return 0;
}

int
sched_resume(struct timer *t, bool *ret_ended)
{
	struct sched_firing f;
	int64_t now = clock_now_ns(t->clock);
	uint64_t id = t->id;
	int r;

	*ret_ended = false;
	if (!t->paused)
		return -EALREADY;
	t->paused = false;
	if ((r = sched_store_reschedule(t)) < 0) {
		t->paused = true;
		return r;
	}
	sched_queue(t);
	log_about(LOG_LEVEL_INFO, LOG_TIMER(t->id, t->uid),
		  "timer %" PRIu64 " (uid %u): resumed", t->id,
		  (unsigned)t->uid);
	/* Missed while paused: fire (late) or all follow from the deadline
	 * being past; skip is decided here. */
	if (timer_nominal(t) <= now && t->misfire == EVD_MISFIRE_SKIP) {
		sched_plan(t, now, false, &f);
		if (!sched_skip(t, &f, "its deadline passed while it was paused "
		                       "(misfire policy skip)"))
			return -EIO;
		*ret_ended = idtab_get(sched.by_id, id) == NULL;
	}
	return 0;
}

int
sched_trigger(struct timer *t, bool *ret_ended)
{
	uint64_t id = t->id;
	uid_t uid = t->uid;
	int r;

	*ret_ended = false;
	if (t->held)
		return -EAGAIN; /* it is due already and waits for the store */
	/* t may be gone after the fire (a one-shot ends; a send may close
	 * its connection): only what was saved is used after it. */
	if ((r = sched_fire(t, clock_now_ns(t->clock), true)) < 0)
		return r;
	log_about(LOG_LEVEL_INFO, LOG_TIMER(id, uid),
		  "timer %" PRIu64 " (uid %u): triggered", id, (unsigned)uid);
	*ret_ended = idtab_get(sched.by_id, id) == NULL;
	return 0;
}

int
sched_reschedule(struct timer *t, int clk, int64_t nominal)
{
	int old_clock = t->clock;
	int64_t old_nominal = timer_nominal(t);
	int r;

	t->clock = (uint8_t)clk;
	if (timer_repeat(t) != NULL)
		t->cold->nominal_ns = nominal;
	else
		t->qn.deadline_ns = nominal;
	r = sched_store_reschedule(t);
	t->clock = (uint8_t)old_clock;
	if (timer_repeat(t) != NULL)
		t->cold->nominal_ns = old_nominal;
	else
		t->qn.deadline_ns = old_nominal;
	if (r < 0)
		return r;
	sched_move(t, clk, nominal);
	return 0;
}

/* Replaces an exec timer's command (a revival for a retry carries its
 * attempt number in it). Returns 0 or -ENOMEM. */
static int
sched_set_exec(struct timer *t, const uint8_t *exec, size_t len)
{
	uint8_t *p;

	if (t->cold == NULL || (p = malloc(len + 1)) == NULL)
		return -ENOMEM;
	memcpy(p, exec, len);
	free(t->cold->exec);
	t->cold->exec = p;
	t->cold->exec_len = len;
	return 0;
}

int
sched_revive(const struct sched_revival *rv, struct timer **ret)
{
	const struct store_backend *be = batch_backend();
	struct store_timer st;
	struct timer *t = NULL;
	struct store *s;
	int r;

	if ((s = batch_store()) == NULL)
		return -EAGAIN;
	if (idtab_get(sched.by_id, rv->timer_id) != NULL)
		return -EEXIST;
	if ((r = be->get_timer(s, rv->timer_id, sched_revive_cb, &t)) < 0 &&
	    r != -ENOENT)
		return r == -EEXIST || r == -ECANCELED ? r : -EIO;
	if (t == NULL) {
		/* The store keeps nothing of it (pruned, or past the memory
		 * store's bounds): the message says what it needs. */
		struct timer_init in;

		memset(&in, 0, sizeof in);
		in.channel = rv->channel;
		in.exec = rv->exec;
		in.exec_len = rv->exec_len;
		in.payload = rv->payload;
		in.payload_len = rv->payload_len;
		in.delivery = rv->delivery;
		in.max_attempts = rv->max_attempts;
		if ((t = timer_new(&in)) == NULL)
			return -ENOMEM;
		t->id = rv->timer_id;
		t->uid = rv->uid;
		t->gid = rv->gid;
		t->created_rt_ns = clock_now_ns(EVD_CLOCK_REALTIME);
	} else if (rv->exec != NULL && (r = sched_set_exec(t, rv->exec,
	                                                   rv->exec_len)) < 0) {
		timer_free(t);
		return r;
	}
	t->clock = (uint8_t)rv->clock;
	t->paused = false;
	sched_set_nominal(t, rv->deadline_ns);
	if (TC(t)->key != NULL && sched_find_key(t->uid, TC(t)->key) != NULL) {
		timer_free(t);
		return -EEXIST;
	}
	sched_to_store(t, &st);
	if ((r = be->revive(s, &st)) == -ENOENT)
		r = be->schedule(s, &st);
	if (r < 0) {
		/* -EEXIST: another pending timer of the owner has the key
		 * in the store (a row error, like -E2BIG and -EINVAL). */
		timer_free(t);
		return batch_write_failed(r);
	}
	if ((r = sched_link(t)) < 0) {
		batch_fail(r);
		timer_free(t);
		return r;
	}
	log_about(LOG_LEVEL_INFO, LOG_TIMER(t->id, t->uid),
		  "timer %" PRIu64 " (uid %u): scheduled again %s", t->id,
		  (unsigned)t->uid, rv->why != NULL ? rv->why : "by an ack");
	*ret = t;
	return 0;
}

static bool
sched_not_dying(const struct timerq_node *n, void *arg)
{
	return !((const struct timer *)n)->dying;
}

void
sched_conn_gone(uint64_t conn_id)
{
	struct conn_timers *ct = idmap_get(sched.by_conn, conn_id);
	struct timer *t;
	size_t n = 0, nall = ct != NULL ? ct->n : 0;
	int i;

	/* Many timers: out of the queues in one pass, so that the cancels
	 * below find them in none (timerq_remove is then a no-op). */
	if (ct != NULL && ct->n >= SCHED_BULK_MIN) {
		TAILQ_FOREACH(t, &ct->list, by_conn)
			t->dying = true;
		for (i = 0; i < EVD_CLOCK_COUNT; i++)
			if (timerq_filter(sched.clocks[i].q, sched_not_dying,
			                  NULL) > 0) {
				sched.clocks[i].armed_ns = 0;
				sched_arm(&sched.clocks[i], true);
			}
	}
	/* Caller timers are never durable, so these cancels cannot fail;
	 * each unlinks one timer and the last one frees the list. They are
	 * all one owner's and oldest first: of a million, the keeper would
	 * keep the newest keep_max anyway, so the others are not offered
	 * (unless they repeat: the keeper holds their runs, to be ended). */
	while ((ct = idmap_get(sched.by_conn, conn_id)) != NULL) {
		t = TAILQ_FIRST(&ct->list);
		(void)sched_cancel_one(t, true,
		                       nall - n <= sched.keep_max ||
		                           timer_repeat(t) != NULL);
		n++;
	}
	if (n > 0)
		log_info("connection %" PRIu64 " closed: its %zu pending "
		         "timers cancelled",
		         conn_id, n);
}

static bool
sched_visible(const struct timer *t, uid_t uid, const char *channel)
{
	/* A channel's owner sees every timer that targets it (asked by
	 * channel): whose they are, to cancel them. */
	if (uid != 0 && t->uid != uid &&
	    (channel == NULL || !channel_owned_by(channel, uid)))
		return false;
	if (channel != NULL &&
	    (TC(t)->channel == NULL || strcmp(TC(t)->channel, channel) != 0))
		return false;
	return true;
}

size_t
sched_list(uid_t uid, const char *channel, uint64_t after_id,
           struct timer **ret, size_t max, bool *ret_more)
{
	struct timer *t;
	uint64_t id = after_id;
	size_t n = 0;

	*ret_more = false;
	while ((t = idtab_next(sched.by_id, id, &id)) != NULL) {
		if (!sched_visible(t, uid, channel))
			continue;
		if (n == max) {
			*ret_more = true;
			break;
		}
		ret[n++] = t;
	}
	return n;
}

uint64_t
sched_timer_id(const struct timer *t)
{
	return t->id;
}

int
sched_timer_clock(const struct timer *t)
{
	return t->clock;
}

int64_t
sched_timer_deadline(const struct timer *t)
{
	return t->qn.deadline_ns;
}

uid_t
sched_timer_uid(const struct timer *t)
{
	return t->uid;
}

const uint8_t *
sched_timer_exec(const struct timer *t, size_t *ret_len)
{
	*ret_len = TC(t)->exec_len;
	return TC(t)->exec;
}

bool
sched_timer_durable(const struct timer *t)
{
	return TIMER_DURABLE(t);
}

void
sched_view(const struct timer *t, struct sched_view *ret)
{
	memset(ret, 0, sizeof *ret);
	ret->id = t->id;
	ret->uid = t->uid;
	ret->gid = t->gid;
	ret->paused = t->paused;
	ret->clock = t->clock;
	ret->deadline_ns = t->qn.deadline_ns;
	ret->created_rt_ns = t->created_rt_ns;
	ret->key = TC(t)->key;
	ret->fire_count = TC(t)->fire_count;
	ret->last_fired_rt_ns = TC(t)->last_fired_rt_ns;
	ret->channel = TC(t)->channel;
	ret->exec = TC(t)->exec != NULL;
	ret->payload = timer_payload(t);
	ret->payload_len = timer_payload_len(t);
	ret->misfire = t->misfire;
	ret->delivery = TC(t)->delivery;
	ret->downtime = TC(t)->downtime;
	ret->max_attempts = TC(t)->max_attempts;
	ret->repeat = timer_repeat(t);
}

void
sched_get_stats(struct sched_stats *ret)
{
	*ret = sched.stats;
	ret->utc_offset_s = sched.utc_offset;
}

/* Puts t (in no queue) back in its clock's queue. If the queue cannot
 * grow, a durable timer waits on the held list (the store has it) and an
 * ephemeral one is paused, with a warning, rather than lost (the held
 * list shares the link of a connection's timers, which durable timers do
 * not use). */
void
sched_queue(struct timer *t)
{
	struct sched_clock *sc = &sched.clocks[t->clock];

	if (timerq_push(sc->q, &t->qn) == 0) {
		sched_arm(sc, false);
		return;
	}
	if (TIMER_DURABLE(t)) {
		TAILQ_INSERT_TAIL(&sched.held, t, by_conn);
		t->held = true;
	} else
		t->paused = true;
	log_about(LOG_LEVEL_WARNING, LOG_TIMER(t->id, t->uid),
		  "timer %" PRIu64 " (uid %u): out of memory queueing it; %s",
		  t->id, (unsigned)t->uid,
		  t->held ? "held back until the store or a hook frees room"
			  : "paused until resumed");
}

/* Moves t to another clock and nominal deadline (its effective deadline
 * drawn again); a paused or held timer just remembers it. */
void
sched_move(struct timer *t, int clk, int64_t nominal)
{
	struct sched_clock *sc = &sched.clocks[t->clock];
	int64_t eff = repeat_effective(timer_repeat(t), nominal,
	                               sched_random());

	if (timer_repeat(t) != NULL)
		t->cold->nominal_ns = nominal;
	if (t->held || t->paused || clk != t->clock) {
		if (!t->held && !t->paused)
			timerq_remove(sc->q, &t->qn);
		t->clock = (uint8_t)clk;
		t->qn.deadline_ns = eff;
		if (!t->held && !t->paused)
			sched_queue(t);
		return;
	}
	timerq_update(sc->q, &t->qn, eff);
	sched_arm(sc, false);
}

/* Sets t's nominal deadline and, from it, where it fires (not queued). */
void
sched_set_nominal(struct timer *t, int64_t nominal)
{
	if (timer_repeat(t) != NULL)
		t->cold->nominal_ns = nominal;
	t->qn.deadline_ns = repeat_effective(timer_repeat(t), nominal,
	                                     sched_random());
}

/*
 * Retries of failed exec runs (issue 14) and the on-failure message.
 *
 * A one-shot that failed has ended: it is revived with its id, due at
 * the retry on the wall clock, with the next attempt's number in its
 * stored Exec, in the batch that records the failure. So the retry is in
 * the store like any pending timer and a restart keeps it (a deadline
 * that passed while evd was down follows the timer's misfire policy).
 *
 * A repeating timer is still pending at its next occurrence, and its
 * grid is not moved: its retry is an extra fire, like Trigger, kept in
 * memory only (a restart drops it; the timer's next occurrence runs as
 * planned). It does not fire if the timer was cancelled meanwhile.
 */
struct sched_retry_wait {
	TAILQ_ENTRY(sched_retry_wait) link;
	struct event *ev;
	uint64_t timer_id;
	uint32_t attempt;
};
TAILQ_HEAD(sched_retry_waits, sched_retry_wait);
/* Set up on first use (a thread-local's address is no constant). */
static _Thread_local struct sched_retry_waits sched_retry_waits;

static struct sched_retry_waits *
sched_retry_list(void)
{
	if (sched_retry_waits.tqh_last == NULL)
		TAILQ_INIT(&sched_retry_waits);
	return &sched_retry_waits;
}

static void
sched_retry_free(struct sched_retry_wait *w)
{
	TAILQ_REMOVE(sched_retry_list(), w, link);
	event_free(w->ev);
	free(w);
}

void
sched_retry_shutdown(void)
{
	while (!TAILQ_EMPTY(sched_retry_list()))
		sched_retry_free(TAILQ_FIRST(sched_retry_list()));
}

static void
sched_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched_retry_wait *w = arg;
	struct timeval tv = { 1, 0 };
	struct timer *t = idtab_get(sched.by_id, w->timer_id);
	int r;

	if (t == NULL || TC(t)->exec == NULL || t->paused) {
		log_about(LOG_LEVEL_INFO, LOG_TIMER_NOUID(w->timer_id),
			  "timer %" PRIu64 ": attempt %u not run: the timer "
			  "is %s",
			  w->timer_id, w->attempt,
			  t != NULL && t->paused ? "paused" : "gone");
		sched_retry_free(w);
		return;
	}
	if (t->held) {
		r = -EAGAIN; /* due already, and waiting for the store */
	} else {
		sched_attempt = w->attempt;
		r = sched_fire(t, clock_now_ns(t->clock), true);
		sched_attempt = 0;
	}
	if (r == -EAGAIN) {
		/* The store or the hook queue: late, not lost. */
		evtimer_add(w->ev, &tv);
		return;
	}
	sched_retry_free(w);
}

int
sched_retry(const struct sched_retry *rr)
{
	struct sched_revival rv;
	struct sched_retry_wait *w;
	struct timer *t = idtab_get(sched.by_id, rr->timer_id);
	struct timeval tv;

	if (t != NULL) {
		if ((w = calloc(1, sizeof *w)) == NULL)
			return -ENOMEM;
		if ((w->ev = evtimer_new(sched.base, sched_retry_cb, w)) ==
		    NULL) {
			free(w);
			return -ENOMEM;
		}
		w->timer_id = rr->timer_id;
		w->attempt = rr->attempt;
		tv.tv_sec = (time_t)(rr->delay_ns / 1000000000);
		tv.tv_usec = (suseconds_t)(rr->delay_ns % 1000000000 / 1000);
		TAILQ_INSERT_TAIL(sched_retry_list(), w, link);
		evtimer_add(w->ev, &tv);
		return 0;
	}
	memset(&rv, 0, sizeof rv);
	rv.timer_id = rr->timer_id;
	rv.uid = rr->uid;
	rv.gid = rr->gid;
	rv.payload = rr->payload;
	rv.payload_len = rr->payload_len;
	rv.clock = EVD_CLOCK_REALTIME;
	rv.deadline_ns = clock_now_ns(EVD_CLOCK_REALTIME) + rr->delay_ns;
	rv.exec = rr->exec;
	rv.exec_len = rr->exec_len;
	rv.why = "for a retry of its failed run";
	return sched_revive(&rv, &t);
}

/* sched_revive_cb for an asker (0: root), to whom another owner's timer
 * does not exist, whatever its state. */
struct sched_rerun_find {
	struct timer *t;
	uid_t asker;
};

static int
sched_rerun_cb(const struct store_timer *st, void *arg)
{
	struct sched_rerun_find *rf = arg;

	if (rf->asker != 0 && st->uid != rf->asker)
		return -ENOENT;
	return sched_revive_cb(st, &rf->t);
}

int
sched_rerun(uint64_t id, uid_t asker, bool *ret_ended)
{
	const struct store_backend *be = batch_backend();
	struct sched_rerun_find rf;
	struct timer *t = NULL;
	struct store *s;
	uint8_t *packed;
	size_t n;
	int r;

	*ret_ended = false;
	if (idtab_get(sched.by_id, id) != NULL)
		return -ENOENT; /* pending, and not the asker's to see */
	if ((s = batch_store()) == NULL)
		return -EAGAIN;
	rf.t = NULL;
	rf.asker = asker;
	if ((r = be->get_timer(s, id, sched_rerun_cb, &rf)) < 0)
		return r == -ENOENT || r == -EEXIST || r == -ECANCELED ? r
		                                                       : -EIO;
	if ((t = rf.t) == NULL)
		return -ENOENT;
	if (asker != 0 && t->uid != asker) {
		timer_free(t);
		return -ENOENT;
	}
	if (TC(t)->exec == NULL) {
		timer_free(t);
		return -ENOTSUP;
	}
	/* A run asked for by a person starts its retries anew. */
	if ((r = exec_blob_clear_attempt(TC(t)->exec, TC(t)->exec_len, &packed,
	                                 &n)) < 0) {
		timer_free(t);
		return r;
	}
	timer_free(t); /* only looked at: sched_revive makes the real one */
	t = NULL;
	/* Revived through the common path (store row, key check, link),
	 * due now; then fired at once as Trigger would. */
	{
		struct sched_revival rv;

		memset(&rv, 0, sizeof rv);
		rv.timer_id = id;
		rv.clock = EVD_CLOCK_REALTIME;
		rv.deadline_ns = clock_now_ns(EVD_CLOCK_REALTIME);
		rv.exec = packed;
		rv.exec_len = n;
		rv.why = "by retry";
		r = sched_revive(&rv, &t);
	}
	free(packed);
	if (r < 0)
		return r;
	if ((r = sched_trigger(t, ret_ended)) == -EAGAIN)
		return 0; /* pending, due now: it runs when it can */
	return r;
}

int
sched_publish_failure(const struct sched_failure_msg *m, char *why,
                      size_t why_size)
{
	struct channel_who who = { m->uid, m->gid, NULL, 0 };
	struct fire f;
	struct store *s;
	uint64_t fire_id;
	bool wrote;
	int r;

	/* The right to publish is judged again now: it may have been
	 * revoked since the timer was scheduled. The owner's supplementary
	 * groups are not known here (no NSS on the loop): a right granted
	 * only to one of them does not count. */
	if ((r = channel_authorize(m->channel, &who, CHANNEL_RIGHT_PUBLISH,
	                           &wrote)) < 0) {
		snprintf(why, why_size, "%s",
		         r == -EACCES ? "its owner may no longer publish to it"
		                      : strerror(-r));
		return r;
	}
	if (channel_queued(m->channel) >= CHANNEL_MAX_QUEUED) {
		snprintf(why, why_size, "the channel is full");
		return -ENOBUFS;
	}
	if ((s = batch_store()) == NULL) {
		snprintf(why, why_size, "the store refuses writes");
		return -EAGAIN;
	}
	if ((r = sched_next(&sched.next_fire_id, &sched.fire_id_limit,
	                    "next_fire_id", &fire_id)) < 0) {
		snprintf(why, why_size, "no fire id: %s", strerror(-r));
		return r;
	}
	/* The message itself is deliver's: a channel fire due now. */
	memset(&f, 0, sizeof f);
	f.timer_id = m->timer_id;
	f.fire_id = fire_id;
	f.uid = m->uid;
	f.gid = m->gid;
	f.target = FIRE_CHANNEL;
	f.channel = m->channel;
	f.delivery = EVD_DELIVERY_AT_LEAST_ONCE;
	f.payload = m->payload;
	f.payload_len = m->payload_len;
	f.due_rt_ns = f.fired_rt_ns = clock_now_ns(EVD_CLOCK_REALTIME);
	if ((r = deliver_failure(&f, s)) < 0) {
		batch_fail(r);
		snprintf(why, why_size, "the store failed");
		return -EIO;
	}
	return 0;
}
