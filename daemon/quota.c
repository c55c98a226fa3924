/*
 * quota: per-uid usage counters and limits (see quota.h).
 *
 * A uid's entry lives while it holds anything, so the table is bounded by
 * the number of uids with pending work, not by every uid ever seen.
 */
#include "quota.h"

#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "shard.h"

/* idmap keys must be non-zero: uid u is stored as u + 1. */
#define QUOTA_KEY(uid) ((uint64_t)(uid) + 1)

static struct {
	struct idmap *by_uid;
	struct quota_limits limits;
} q;

/* A uid's timers may sit on several loops (shard.h): the table is shared,
 * and locked only when there are several. A check and the add after it
 * are two steps, so loops racing may pass a quota by at most one timer
 * each. */
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;

static void
quota_lock(void)
{
	if (shard_count() > 1)
		pthread_mutex_lock(&q_lock);
}

static void
quota_unlock(void)
{
	if (shard_count() > 1)
		pthread_mutex_unlock(&q_lock);
}

static void quota_release_locked(uid_t, enum quota_kind, size_t);

int
quota_init(void)
{
	memset(&q, 0, sizeof q);
	q.limits.timers = QUOTA_DEFAULT_TIMERS;
	q.limits.messages = QUOTA_DEFAULT_MESSAGES;
	q.limits.bytes = QUOTA_DEFAULT_BYTES;
	if ((q.by_uid = idmap_new()) == NULL)
		return -ENOMEM;
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
	memset(&q, 0, sizeof q);
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

void
quota_usage(uid_t uid, struct quota_usage *ret)
{
	quota_lock();
	quota_usage_locked(uid, ret);
	quota_unlock();
}

int
quota_check(uid_t uid, enum quota_kind kind, size_t bytes, char *why,
            size_t why_size)
{
	struct quota_limits l;
	struct quota_usage u;

	if (uid == 0)
		return 0;
	quota_lock();
	quota_usage_locked(uid, &u);
	l = q.limits;
	quota_unlock();
	if (kind == QUOTA_TIMER && l.timers != 0 && u.timers >= l.timers) {
		snprintf(why, why_size,
		         "uid %u has %" PRIu64 " pending timers, its quota",
		         (unsigned)uid, u.timers);
		return -EDQUOT;
	}
	if (kind == QUOTA_MESSAGE && l.messages != 0 &&
	    u.messages >= l.messages) {
		snprintf(why, why_size,
		         "uid %u has %" PRIu64 " queued messages, its quota",
		         (unsigned)uid, u.messages);
		return -EDQUOT;
	}
	if (l.bytes != 0 && u.bytes + bytes > l.bytes) {
		snprintf(why, why_size,
		         "uid %u holds %" PRIu64 " payload bytes; %zu more "
		         "would pass its quota of %" PRIu64,
		         (unsigned)uid, u.bytes, bytes, l.bytes);
		return -EDQUOT;
	}
	return 0;
}

int
quota_add(uid_t uid, enum quota_kind kind, size_t bytes)
{
	struct quota_usage *u;
	int r = 0;

	quota_lock();
	if ((u = idmap_get(q.by_uid, QUOTA_KEY(uid))) == NULL) {
		if ((u = calloc(1, sizeof *u)) == NULL) {
			r = -ENOMEM;
			goto out;
		}
		if (idmap_put(q.by_uid, QUOTA_KEY(uid), u) < 0) {
			free(u);
			r = -ENOMEM;
			goto out;
		}
	}
	if (kind == QUOTA_TIMER)
		u->timers++;
	else
		u->messages++;
	u->bytes += bytes;
out:
	quota_unlock();
	return r;
}

void
quota_release(uid_t uid, enum quota_kind kind, size_t bytes)
{
	quota_lock();
	quota_release_locked(uid, kind, bytes);
	quota_unlock();
}

static void
quota_release_locked(uid_t uid, enum quota_kind kind, size_t bytes)
{
	struct quota_usage *u = idmap_get(q.by_uid, QUOTA_KEY(uid));

	if (u == NULL)
		return;
	if (kind == QUOTA_TIMER && u->timers > 0)
		u->timers--;
	else if (kind == QUOTA_MESSAGE && u->messages > 0)
		u->messages--;
	u->bytes = u->bytes > bytes ? u->bytes - bytes : 0;
	if (u->timers == 0 && u->messages == 0 && u->bytes == 0) {
		idmap_del(q.by_uid, QUOTA_KEY(uid));
		free(u);
	}
}
