/*
 * quota: per-uid usage counters and limits (see quota.h).
 *
 * A uid's entry lives while it holds anything, so the table is bounded by
 * the number of uids with pending work, not by every uid ever seen.
 *
 * With one loop the table is used directly, without a lock. With several
 * (shard.h) a uid's timers may sit on any of them, so the table is shared
 * under q_lock; but a lock taken per request costs the loops far more
 * than the counting (with two loops scheduling at full speed, the
 * contended mutex's futex calls took a quarter of their throughput), so
 * each loop counts into a few entries of its own and publishes them once
 * per iteration (quota_sync). A check sees the shared count as it was at
 * the first check of that uid in the iteration, plus this loop's own
 * changes since: loops racing may pass a quota by what the others added
 * in one iteration.
 */
#include "quota.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "shard.h"

/* idmap keys must be non-zero: uid u is stored as u + 1. */
#define QUOTA_KEY(uid) ((uint64_t)(uid) + 1)

/* Uids one loop counts on its own within one iteration; more go to the
 * shared table at once, under the lock. */
#define QUOTA_LOCAL_MAX 8

static struct {
	struct idmap *by_uid;
	/* uid + 1 -> messages it has in a store shared with other nodes
	 * (cluster mode; quota_set_elsewhere), as a uintptr_t. */
	struct idmap *elsewhere;
	struct quota_limits limits;
} q;

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;

/* One uid as one loop sees it during an iteration. */
struct quota_local {
	uid_t uid;
	bool seen_valid;          /* seen and limits were read */
	struct quota_usage seen;  /* the shared count then */
	struct quota_limits limits;
	int64_t timers, messages, bytes; /* this loop's changes since */
};

static _Thread_local struct {
	struct quota_local e[QUOTA_LOCAL_MAX];
	unsigned n;
} ql;

static bool
quota_shared(void)
{
	return shard_count() > 1;
}

static void
quota_lock(void)
{
	if (quota_shared())
		pthread_mutex_lock(&q_lock);
}

static void
quota_unlock(void)
{
	if (quota_shared())
		pthread_mutex_unlock(&q_lock);
}

int
quota_init(void)
{
	memset(&q, 0, sizeof q);
	q.limits.timers = QUOTA_DEFAULT_TIMERS;
	q.limits.messages = QUOTA_DEFAULT_MESSAGES;
	q.limits.bytes = QUOTA_DEFAULT_BYTES;
	if ((q.by_uid = idmap_new()) == NULL ||
	    (q.elsewhere = idmap_new()) == NULL) {
		idmap_free(q.by_uid);
		q.by_uid = NULL;
		return -ENOMEM;
	}
	return 0;
}

void
quota_shutdown(void)
{
	struct quota_usage *u;
	size_t iter = 0;

	while ((u = idmap_next(q.by_uid, &iter, NULL)) != NULL)
		free(u);
	idmap_free(q.by_uid);
	idmap_free(q.elsewhere);
	memset(&q, 0, sizeof q);
}

/* What the shared store says uid has queued (0: nothing known). */
static uint64_t
quota_elsewhere_locked(uid_t uid)
{
	return q.elsewhere == NULL
	           ? 0
	           : (uint64_t)(uintptr_t)idmap_get(q.elsewhere,
	                                            QUOTA_KEY(uid));
}

int
quota_set_elsewhere(uid_t uid, uint64_t messages)
{
	int r = 0;

	quota_lock();
	idmap_del(q.elsewhere, QUOTA_KEY(uid));
	if (messages > 0)
		r = idmap_put(q.elsewhere, QUOTA_KEY(uid),
		              (void *)(uintptr_t)messages);
	quota_unlock();
	return r;
}

void
quota_clear_elsewhere(void)
{
	quota_lock();
	idmap_free(q.elsewhere);
	/* Out of memory: nothing known elsewhere until the next set. */
	q.elsewhere = idmap_new();
	quota_unlock();
}

void
quota_set_limits(const struct quota_limits *l)
{
	quota_lock();
	q.limits = *l;
	quota_unlock();
}

void
quota_get_limits(struct quota_limits *ret)
{
	quota_lock();
	*ret = q.limits;
	quota_unlock();
}

static void
quota_usage_locked(uid_t uid, struct quota_usage *ret)
{
	struct quota_usage *u = idmap_get(q.by_uid, QUOTA_KEY(uid));

	if (u != NULL)
		*ret = *u;
	else
		memset(ret, 0, sizeof *ret);
}

static uint64_t
quota_plus(uint64_t v, int64_t d)
{
	if (d < 0 && (uint64_t)-d > v)
		return 0;
	return v + (uint64_t)d;
}

/* Adds signed changes to uid's shared entry, made or dropped as needed.
 * Returns 0 or -ENOMEM (nothing changed). */
static int
quota_apply_locked(uid_t uid, int64_t timers, int64_t messages,
                   int64_t bytes)
{
	struct quota_usage *u = idmap_get(q.by_uid, QUOTA_KEY(uid));

	if (u == NULL) {
		if (timers <= 0 && messages <= 0 && bytes <= 0)
			return 0;
		if ((u = calloc(1, sizeof *u)) == NULL)
			return -ENOMEM;
		if (idmap_put(q.by_uid, QUOTA_KEY(uid), u) < 0) {
			free(u);
			return -ENOMEM;
		}
	}
	u->timers = quota_plus(u->timers, timers);
	u->messages = quota_plus(u->messages, messages);
	u->bytes = quota_plus(u->bytes, bytes);
	if (u->timers == 0 && u->messages == 0 && u->bytes == 0) {
		idmap_del(q.by_uid, QUOTA_KEY(uid));
		free(u);
	}
	return 0;
}

/* This loop's entry for uid (made if there is room), or NULL. */
static struct quota_local *
quota_local(uid_t uid)
{
	struct quota_local *l;
	unsigned i;

	for (i = 0; i < ql.n; i++)
		if (ql.e[i].uid == uid)
			return &ql.e[i];
	if (ql.n == QUOTA_LOCAL_MAX)
		return NULL;
	l = &ql.e[ql.n++];
	memset(l, 0, sizeof *l);
	l->uid = uid;
	return l;
}

void
quota_usage(uid_t uid, struct quota_usage *ret)
{
	struct quota_local *l = NULL;
	unsigned i;

	quota_lock();
	quota_usage_locked(uid, ret);
	quota_unlock();
	for (i = 0; i < ql.n; i++)
		if (ql.e[i].uid == uid)
			l = &ql.e[i];
	if (l != NULL) {
		ret->timers = quota_plus(ret->timers, l->timers);
		ret->messages = quota_plus(ret->messages, l->messages);
		ret->bytes = quota_plus(ret->bytes, l->bytes);
	}
}

size_t
quota_overhead(enum quota_kind kind)
{
	switch (kind) {
	case QUOTA_TIMER:
		return QUOTA_TIMER_OVERHEAD;
	case QUOTA_MESSAGE:
		return QUOTA_MESSAGE_OVERHEAD;
	case QUOTA_BYTES:
		break;
	}
	return 0;
}

int
quota_check(uid_t uid, enum quota_kind kind, size_t bytes, char *why,
            size_t why_size)
{
	struct quota_local *l;
	struct quota_limits lim;
	struct quota_usage u;

	if (uid == 0)
		return 0;
	bytes += quota_overhead(kind);
	if (!quota_shared() || (l = quota_local(uid)) == NULL) {
		quota_lock();
		quota_usage_locked(uid, &u);
		lim = q.limits;
		quota_unlock();
	} else {
		if (!l->seen_valid) {
			pthread_mutex_lock(&q_lock);
			quota_usage_locked(uid, &l->seen);
			l->limits = q.limits;
			pthread_mutex_unlock(&q_lock);
			l->seen_valid = true;
		}
		u.timers = quota_plus(l->seen.timers, l->timers);
		u.messages = quota_plus(l->seen.messages, l->messages);
		u.bytes = quota_plus(l->seen.bytes, l->bytes);
		lim = l->limits;
	}
	if (kind == QUOTA_TIMER && lim.timers != 0 && u.timers >= lim.timers) {
		snprintf(why, why_size,
		         "uid %u has %" PRIu64 " pending timers, its quota",
		         (unsigned)uid, u.timers);
		return -EDQUOT;
	}
	if (kind == QUOTA_MESSAGE) {
		uint64_t e;

		/* Held here or not, a message in a shared store is in its
		 * count: the larger figure is the nearer one. */
		quota_lock();
		e = quota_elsewhere_locked(uid);
		quota_unlock();
		if (e > u.messages)
			u.messages = e;
	}
	if (kind == QUOTA_MESSAGE && lim.messages != 0 &&
	    u.messages >= lim.messages) {
		snprintf(why, why_size,
		         "uid %u has %" PRIu64 " queued messages, its quota",
		         (unsigned)uid, u.messages);
		return -EDQUOT;
	}
	if (lim.bytes != 0 && u.bytes + bytes > lim.bytes) {
		snprintf(why, why_size,
		         "uid %u holds %" PRIu64 " bytes (timers, keys, "
		         "payloads, exec commands, kept output); %zu more "
		         "would pass its quota of %" PRIu64,
		         (unsigned)uid, u.bytes, bytes, lim.bytes);
		return -EDQUOT;
	}
	return 0;
}

/* Counts sign * one item of kind with bytes for uid. */
static int
quota_count(uid_t uid, enum quota_kind kind, size_t bytes, int sign)
{
	int64_t t = kind == QUOTA_TIMER ? sign : 0;
	int64_t m = kind == QUOTA_MESSAGE ? sign : 0;
	int64_t b = sign * (int64_t)(bytes + quota_overhead(kind));
	struct quota_local *l;
	int r;

	if (quota_shared() && (l = quota_local(uid)) != NULL) {
		l->timers += t;
		l->messages += m;
		l->bytes += b;
		return 0;
	}
	quota_lock();
	r = quota_apply_locked(uid, t, m, b);
	quota_unlock();
	return r;
}

int
quota_add(uid_t uid, enum quota_kind kind, size_t bytes)
{
	return quota_count(uid, kind, bytes, 1);
}

void
quota_release(uid_t uid, enum quota_kind kind, size_t bytes)
{
	/* Only an add can fail (a new entry); a release shrinks or drops. */
	(void)quota_count(uid, kind, bytes, -1);
}

void
quota_sync(void)
{
	unsigned i, keep = 0;

	if (ql.n == 0)
		return;
	pthread_mutex_lock(&q_lock);
	for (i = 0; i < ql.n; i++) {
		struct quota_local *l = &ql.e[i];

		/* Out of memory for a new shared entry: the changes wait
		 * for the next iteration. */
		if (quota_apply_locked(l->uid, l->timers, l->messages,
		                       l->bytes) < 0) {
			l->seen_valid = false;
			ql.e[keep++] = *l;
		}
	}
	pthread_mutex_unlock(&q_lock);
	ql.n = keep;
}
