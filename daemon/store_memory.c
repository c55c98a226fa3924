/*
 * store_memory: the store of --store=memory (see store.h): not durable.
 *
 * In memory mode the daemon's own queues (sched, channel) are the whole
 * state, so this backend keeps nothing of timers, messages or runs: every
 * mutation succeeds, claim() and load_messages() hand over nothing,
 * get_timer() is -ENOENT and runs() reports none. Only meta_get/meta_put
 * keep their values, in a small fixed table (the daemon's few counters),
 * so nothing grows per operation. Must not log.
 */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_MAX 16
#define META_KEY_MAX 48

/* Owned by the daemon (open to close). */
struct store {
	struct {
		char key[META_KEY_MAX]; /* "" : a free slot */
		int64_t value;
	} meta[META_MAX];
	char err[128];
};

static int
store_memory_open(const struct store_config *cfg, struct store **ret)
{
	struct store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static void
store_memory_close(struct store *s)
{
	free(s);
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

static int
store_memory_schedule(struct store *s, const struct store_timer *t)
{
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
	return -ENOENT;
}

static int
store_memory_get_timer(struct store *s, uint64_t id, store_timer_cb cb,
		       void *arg)
{
	snprintf(s->err, sizeof(s->err), "the memory store keeps no timers");
	return -ENOENT;
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

static int
store_memory_run_append(struct store *s, const struct store_run *r)
{
	return 0;
}

/* Keeps no runs, so no output. */
static int
store_memory_output_changes(struct store *s, store_output_cb cb, void *arg)
{
	return 0;
}

static int
store_memory_runs(struct store *s, uint64_t timer_id, store_run_cb cb,
		  void *arg)
{
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
    .claim = store_memory_claim,
    .retire = store_memory_retire,
    .reschedule = store_memory_schedule,
    .revive = store_memory_schedule,
    .get_timer = store_memory_get_timer,
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
