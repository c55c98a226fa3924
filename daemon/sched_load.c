/*
 * sched_load: rebuilds the scheduler's durable timers from the store, at
 * start-up and after a rolled-back batch (sched_reload_durable), and a
 * finished one for a revive. Deadlines of relative timers from another
 * boot follow their downtime policy; deadlines that passed while evd was
 * down follow their misfire policy.
 *
 * Must not write the store while its claim() scan runs: the writes the
 * load decides on are collected and applied after, in the current batch.
 */
#include "sched_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "idtab.h"
#include "log.h"
#include "repeat.h"
#include "store.h"

/* A store write the load decided on. The store must not be written
 * while its claim() scan runs, so these are collected and applied after. */
struct sched_load_write {
	uint64_t id;        /* skip: retire this timer */
	uint64_t fence;
	int64_t due_rt_ns;
	struct timer *moved; /* or: store this timer's converted deadline */
	bool skip_run;       /* moved past skipped occurrences: record it */
};

/* State shared by the reload callbacks. */
struct sched_load {
	const struct store_backend *be;
	struct store *s;
	int64_t last_seen_rt_ns;
	const char *boot_id;
	int64_t sent_ns;    /* CLOCK_MONOTONIC before the claim was sent */
	size_t loaded, moved, skipped, running;
	struct sched_load_write *writes;
	size_t nwrites, cap;
};

static int
sched_load_defer(struct sched_load *ld, const struct sched_load_write *w)
{
	if (ld->nwrites == ld->cap) {
		size_t ncap = ld->cap == 0 ? 64 : 2 * ld->cap;
		struct sched_load_write *p;

		if ((p = reallocarray(ld->writes, ncap, sizeof *p)) == NULL)
			return -ENOMEM;
		ld->writes = p;
		ld->cap = ncap;
	}
	ld->writes[ld->nwrites++] = *w;
	return 0;
}

/*
 * Where a stored deadline lands now. Wall-clock deadlines stand. Relative
 * deadlines stand within the boot that set them; after a reboot their
 * clock restarted, so "counts" keeps the wall-clock instant and "paused"
 * keeps the remainder the timer had when evd last ran.
 */
static int64_t
sched_load_deadline(const struct store_timer *st, const struct sched_load *ld,
                    bool *ret_moved)
{
	int64_t now_rt, now_c, remaining;

	*ret_moved = false;
	if (st->clock == EVD_CLOCK_REALTIME ||
	    strcmp(st->boot_id, ld->boot_id) == 0)
		return st->deadline_ns;
	*ret_moved = true;
	now_rt = clock_now_ns(EVD_CLOCK_REALTIME);
	now_c = clock_now_ns(st->clock);
	if (st->downtime == EVD_DOWNTIME_PAUSED &&
	    ld->last_seen_rt_ns > 0)
		remaining = st->due_rt_ns - ld->last_seen_rt_ns;
	else
		remaining = st->due_rt_ns - now_rt;
	if (remaining < 0)
		remaining = 0;
	return now_c + remaining;
}

/*
 * A timer rebuilt from its stored form, linked nowhere, with its stored
 * (nominal) deadline. Returns 0, -ENOMEM or -EINVAL (an unreadable
 * schedule; the reason is logged).
 */
static int
sched_timer_from_store(const struct store_timer *st, struct timer **ret)
{
	struct repeat *rep = NULL;
	struct timer_init in;
	struct timer *t;
	char err[160];
	int r;

	if (st->sched != NULL && st->sched_len > 0 &&
	    (r = repeat_unpack(st->sched, st->sched_len, st->clock, &rep, err,
	                       sizeof err)) < 0) {
		if (r == -EINVAL)
			log_warnx("store: timer %" PRIu64 ": unusable schedule "
			          "(%s); leaving it in the store",
			          st->id, err);
		return r;
	}
	memset(&in, 0, sizeof in);
	in.channel = st->channel;
	if (st->exec != NULL && st->exec_len > 0) {
		in.exec = st->exec;
		in.exec_len = st->exec_len;
	}
	in.key = st->key;
	in.payload = st->payload;
	in.payload_len = st->payload_len;
	in.rep = rep;
	in.nominal_ns = st->deadline_ns;
	in.fence = st->fence;
	in.max_attempts = st->max_attempts;
	in.delivery = st->delivery;
	in.downtime = st->downtime;
	in.fire_count = st->fire_count;
	in.last_fired_rt_ns = st->last_fired_rt_ns;
	if ((t = timer_new(&in)) == NULL)
		return -ENOMEM;
	t->id = st->id;
	t->uid = st->uid;
	t->gid = st->gid;
	t->clock = (uint8_t)st->clock;
	t->misfire = (uint8_t)st->misfire;
	t->paused = st->paused;
	t->created_rt_ns = st->created_rt_ns;
	t->qn.deadline_ns = st->deadline_ns;
	*ret = t;
	return 0;
}

/* A finished timer to bring back (sched_revive); a cancelled one was
 * ended on purpose and stays so. */
int
sched_revive_cb(const struct store_timer *st, void *arg)
{
	struct timer **ret = arg;

	if (!st->finished)
		return -EEXIST; /* pending in the store, not in memory */
	if (st->cancelled)
		return -ECANCELED;
	return sched_timer_from_store(st, ret);
}

static int
sched_load_cb(const struct store_timer *st, void *arg)
{
	struct sched_load *ld = arg;
	struct timer *t;
	bool was_moved, skip = false;
	int64_t deadline, now;
	int r;

	if (!clock_valid(st->clock) ||
	    (st->channel == NULL && st->exec == NULL)) {
		log_warnx("store: timer %" PRIu64 " has an unusable clock or "
		          "callback; leaving it in the store",
		          st->id);
		return 0;
	}
	/* Cluster mode: a claim whose hook still runs here (or waits in
	 * the hook queue) is the cluster's, with its new fence: fired
	 * again it would run twice at once. */
	if (sched.cluster != NULL &&
	    sched.cluster->adopted(st->id, st->fence, ld->sent_ns,
	                           st->lease_left_ns)) {
		ld->running++;
		return 0;
	}
	/* Cluster mode: a claim of this node's own that lapsed and came
	 * back to it holds the new fence now. */
	if ((t = idtab_get(sched.by_id, st->id)) != NULL) {
		sched_unlink(t);
		timer_free(t);
	}
	deadline = sched_load_deadline(st, ld, &was_moved);
	now = clock_now_ns(st->clock);
	if (deadline < now && !st->paused &&
	    st->misfire == EVD_MISFIRE_SKIP) {
		struct sched_load_write w = { .id = st->id, .fence = st->fence,
			                      .due_rt_ns = st->due_rt_ns };

		if (st->sched == NULL) {
			/* A one-shot: skipping it ends it. */
			if ((r = sched_load_defer(ld, &w)) < 0)
				return r;
			ld->skipped++;
			log_about(LOG_LEVEL_INFO, LOG_TIMER(st->id, st->uid),
				  "timer %" PRIu64 " (uid %u) skipped: its "
				  "deadline passed while evd was not running",
				  st->id, (unsigned)st->uid);
			return 0;
		}
		skip = true; /* a repeating timer goes on at its next one */
	}
	if ((r = sched_timer_from_store(st, &t)) == -EINVAL)
		return 0;
	if (r < 0)
		return r;
	if (skip) {
		int64_t next;

		r = repeat_next(timer_repeat(t), EVD_MISFIRE_SKIP,
				TC(t)->fire_count, deadline, now, &next);
		if (r < 0) {
			/* No occurrence left: it ends, as a one-shot would. */
			struct sched_load_write w = { .id = st->id,
				                      .fence = st->fence,
				                      .due_rt_ns = st->due_rt_ns };

			timer_free(t);
			if ((r = sched_load_defer(ld, &w)) < 0)
				return r;
			ld->skipped++;
			return 0;
		}
		log_about(LOG_LEVEL_INFO, LOG_TIMER(st->id, st->uid),
			  "timer %" PRIu64
			  " (uid %u): occurrences missed while "
			  "evd was not running skipped; next in %" PRId64 " s",
			  st->id, (unsigned)st->uid, (next - now) / 1000000000);
		deadline = next;
		was_moved = true;
		ld->skipped++;
	}
	sched_set_nominal(t, deadline);
	if (sched_link(t) < 0) {
		timer_free(t);
		return -ENOMEM;
	}
	if (t->id >= sched.next_id)
		sched.next_id = t->id + 1;
	if (was_moved) {
		/* Store the converted deadline once, so a second restart in
		 * this boot keeps it exactly. */
		struct sched_load_write w = { .moved = t, .skip_run = skip,
			                      .id = st->id,
			                      .due_rt_ns = st->due_rt_ns };

		if ((r = sched_load_defer(ld, &w)) < 0)
			return r;
		ld->moved++;
	}
	ld->loaded++;
	return 0;
}

/* Applies the writes the load deferred, in the current batch. */
static int
sched_load_apply(struct sched_load *ld)
{
	struct store_timer st;
	struct store *s;
	size_t i;
	int r;

	for (i = 0; i < ld->nwrites; i++) {
		const struct sched_load_write *w = &ld->writes[i];

		if ((s = batch_store()) == NULL)
			return -EAGAIN;
		struct store_run run = {
			.timer_id = w->id,
			.due_rt_ns = w->due_rt_ns,
			.outcome = EVD_RUN_SKIPPED,
			.detail = w->moved != NULL
			                  ? "occurrences passed while evd was "
			                    "not running (misfire policy skip)"
			                  : "deadline passed while evd was not "
			                    "running (misfire policy skip)",
		};

		if (w->moved != NULL) {
			sched_to_store(w->moved, &st);
			r = ld->be->reschedule(s, &st);
			if (r == 0 && w->skip_run)
				r = ld->be->run_append(s, &run);
		} else {
			if ((r = ld->be->retire(s, w->id, w->fence, NULL)) == 0)
				r = ld->be->run_append(s, &run);
			/* Cluster mode: another node has it now. */
			if (r == -ESTALE && sched.cluster != NULL) {
				sched.cluster->claim_lost(w->id);
				r = 0;
			}
		}
		if (r < 0) {
			batch_fail(r);
			return r;
		}
	}
	return 0;
}

/*
 * Where ids go on after a load. At start-up, after the whole block the
 * store reserved last (the run before may have handed any of it to
 * caller timers, which the store never saw), and the next id reserves a
 * fresh block first. After a lost batch, in the same run, memory's next
 * id stays (ids never go back) and only what the store's committed
 * reservation covers stays usable: a reservation lost with the batch is
 * made again, while ids the store did reserve serve caller timers even
 * while it refuses writes. Never behind what the store holds, should
 * meta have lost its counters: a taken id would fail every write that
 * drew it.
 */
static void
sched_reload_ids(uint64_t *next, uint64_t *limit, uint64_t reserved,
                 uint64_t max_stored)
{
	if (!sched.reloaded) {
		if (reserved > *next)
			*next = reserved;
		if (max_stored >= *next)
			*next = max_stored + 1;
		*limit = *next;
		return;
	}
	if (max_stored >= *next)
		*next = max_stored + 1;
	if (reserved < *limit)
		*limit = reserved;
	if (*limit < *next)
		*limit = *next;
}

int
sched_reload_durable(const struct store_backend *be, struct store *s)
{
	struct sched_load ld;
	struct timer *t;
	uint64_t id = 0, max_id, max_fire_id;
	uint64_t reserved_id = 0, reserved_fire_id = 0;
	int64_t v;
	int r;

	if (be->meta_get(s, "next_timer_id", &v) == 0)
		reserved_id = (uint64_t)v;
	if (be->meta_get(s, "next_fire_id", &v) == 0)
		reserved_fire_id = (uint64_t)v;
	/* A store that cannot be read now (a server out of reach) leaves
	 * memory as it is: reads of what evd holds go on, no durable timer
	 * fires while the store refuses writes, and the rebuild runs again
	 * once it takes them (loop.c). Forgetting first left nothing to
	 * read until then. */
	if ((r = be->max_ids(s, &max_id, &max_fire_id)) < 0)
		return r;
	/* Forget every durable timer; the store is the truth. */
	while ((t = idtab_next(sched.by_id, id, &id)) != NULL) {
		if (TIMER_DURABLE(t)) {
			sched_unlink(t);
			timer_free(t);
		}
	}
	sched_reload_ids(&sched.next_id, &sched.id_limit, reserved_id,
	                 max_id);
	sched_reload_ids(&sched.next_fire_id, &sched.fire_id_limit,
	                 reserved_fire_id, max_fire_id);
	sched.reloaded = true;

	memset(&ld, 0, sizeof ld);
	ld.be = be;
	ld.s = s;
	ld.boot_id = clock_boot_id();
	if (be->meta_get(s, "last_seen_rt_ns", &v) == 0)
		ld.last_seen_rt_ns = v;
	ld.sent_ns = clock_now_ns(EVD_CLOCK_MONOTONIC);
	r = be->claim(s, INT64_MAX, sched_load_cb, &ld);
	if (r == 0)
		r = sched_load_apply(&ld);
	free(ld.writes);
	if (r < 0)
		return r;
	if (ld.loaded + ld.skipped > 0)
		log_info("loaded %zu durable timers (%zu moved by a reboot, "
		         "%zu skipped)",
		         ld.loaded, ld.moved, ld.skipped);
	if (ld.running > 0)
		log_info("%zu durable timers not loaded: their hooks still "
		         "run here", ld.running);
	return 0;
}


void
sched_drop_durable(uint64_t id)
{
	struct timer *t;
	uint64_t at = 0;

	if (id != 0) {
		if ((t = idtab_get(sched.by_id, id)) != NULL &&
		    TIMER_DURABLE(t)) {
			sched_unlink(t);
			timer_free(t);
		}
		return;
	}
	while ((t = idtab_next(sched.by_id, at, &at)) != NULL) {
		if (TIMER_DURABLE(t)) {
			sched_unlink(t);
			timer_free(t);
		}
	}
}

int
sched_claim_due(const struct store_backend *be, struct store *s,
                int64_t lookahead_ns, uint32_t limit)
{
	struct sched_load ld;
	int n, r;

	/* No last_seen_rt_ns: no node writes it in cluster mode (it is
	 * every node's row). */
	memset(&ld, 0, sizeof ld);
	ld.be = be;
	ld.s = s;
	ld.boot_id = clock_boot_id();
	ld.sent_ns = clock_now_ns(EVD_CLOCK_MONOTONIC);
	n = be->claim_due(s, lookahead_ns, limit, sched_load_cb, &ld);
	r = n < 0 ? n : sched_load_apply(&ld);
	free(ld.writes);
	if (r < 0)
		return r;
	if (ld.skipped > 0)
		log_info("claimed %d durable timers (%zu skipped)", n,
		         ld.skipped);
	return n;
}

/* Who may act on a stored timer by id: its owner or root, as
 * sched_lookup says for one in memory. */
static int
sched_may_take_cb(const struct store_timer *st, void *arg)
{
	uid_t asker = *(const uid_t *)arg;

	if (asker != 0 && st->uid != asker)
		return -ENOENT; /* others' timers do not exist for them */
	return 0;
}

int
sched_take_stored(uint64_t id, uid_t asker, char *ret_holder,
                  size_t holder_size)
{
	const struct store_backend *be = batch_backend();
	struct sched_load ld;
	struct store *s;
	int r;

	if (holder_size > 0)
		ret_holder[0] = '\0';
	if (sched.cluster == NULL || be == NULL || be->take_any == NULL ||
	    id == 0)
		return -ENOENT;
	if ((s = batch_store()) == NULL)
		return -EAGAIN;
	memset(&ld, 0, sizeof ld);
	ld.be = be;
	ld.s = s;
	ld.boot_id = clock_boot_id();
	ld.sent_ns = clock_now_ns(EVD_CLOCK_MONOTONIC);
	r = be->take_any(s, id, sched_may_take_cb, &asker, sched_load_cb, &ld,
	                 ret_holder, holder_size);
	if (r == -ENOENT || r == -EALREADY || r == -EINPROGRESS) {
		free(ld.writes);
		return r;
	}
	if (r == -EAGAIN) {
		free(ld.writes);
		return -EBUSY;
	}
	if (r == 0)
		r = sched_load_apply(&ld);
	free(ld.writes);
	if (r < 0) {
		batch_fail(r);
		return -EIO;
	}
	log_about(LOG_LEVEL_INFO, LOG_TIMER_NOUID(id),
		  "timer %" PRIu64 ": taken over from %s%s", id,
		  holder_size > 0 && ret_holder[0] != '\0' ? "node " : "",
		  holder_size > 0 && ret_holder[0] != '\0' ? ret_holder
		                                            : "no node");
	return 0;
}
