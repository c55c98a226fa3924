/*
 * wait: waiters per timer and their ExecFinished events (see wait.h).
 */
#include "wait.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sys/queue.h>

#include <event2/event.h>

#include "conn.h"
#include "quota.h"
#include "idmap.h"

/* A run to send on the next loop turn (packed: the caller's is borrowed). */
struct wait_later {
	uint64_t conn_id;
	uint64_t timer_id;
	uint8_t *packed;
	size_t len;
	TAILQ_ENTRY(wait_later) link;
};
TAILQ_HEAD(wait_later_list, wait_later);

static _Thread_local struct wait_later_list later;
static _Thread_local struct event *later_ev;

static void
wait_later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wait_later *w;

	while ((w = TAILQ_FIRST(&later)) != NULL) {
		Evd__Run *run = evd__run__unpack(NULL, w->len, w->packed);

		TAILQ_REMOVE(&later, w, link);
		if (run != NULL) {
			wait_send(w->conn_id, w->timer_id, run);
			evd__run__free_unpacked(run, NULL);
		}
		free(w->packed);
		free(w);
	}
}

int
wait_send_later(uint64_t conn_id, uint64_t timer_id, const Evd__Run *run)
{
	struct wait_later *w;

	if ((w = calloc(1, sizeof *w)) == NULL)
		return -ENOMEM;
	w->len = evd__run__get_packed_size(run);
	if ((w->packed = malloc(w->len == 0 ? 1 : w->len)) == NULL) {
		free(w);
		return -ENOMEM;
	}
	evd__run__pack(run, w->packed);
	w->conn_id = conn_id;
	w->timer_id = timer_id;
	TAILQ_INSERT_TAIL(&later, w, link);
	event_active(later_ev, 0, 0);
	return 0;
}

/* Owner: the waiter table, from the first Wait until the notify. Grown
 * on demand: most waited timers have one waiter. */
struct waitlist {
	size_t n;
	size_t cap;
	uint64_t *conns;
	uid_t *uids;    /* who each waiter is: its bytes are counted */
};

/* Releases waiter i's count; the caller drops it from the list. */
static void
waitlist_uncount(struct waitlist *w, size_t i)
{
	quota_release(w->uids[i], QUOTA_BYTES, WAIT_QUOTA_BYTES);
}

static void
waitlist_free(struct waitlist *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n; i++)
		waitlist_uncount(w, i);
	free(w->conns);
	free(w->uids);
	free(w);
}

static _Thread_local struct idmap *waiters; /* timer id -> struct waitlist */

int
wait_init(struct event_base *base)
{
	TAILQ_INIT(&later);
	if ((waiters = idmap_new()) == NULL ||
	    (later_ev = event_new(base, -1, 0, wait_later_cb, NULL)) == NULL)
		return -ENOMEM;
	return 0;
}

void
wait_shutdown(void)
{
	struct waitlist *w;
	size_t iter = 0;

	struct wait_later *l;

	while ((w = idmap_next(waiters, &iter, NULL)) != NULL)
		waitlist_free(w);
	idmap_free(waiters);
	waiters = NULL;
	while ((l = TAILQ_FIRST(&later)) != NULL) {
		TAILQ_REMOVE(&later, l, link);
		free(l->packed);
		free(l);
	}
	if (later_ev != NULL)
		event_free(later_ev);
	later_ev = NULL;
}

int
wait_add(uint64_t timer_id, uint64_t conn_id, uid_t uid, char *why,
         size_t why_size)
{
	struct waitlist *w = idmap_get(waiters, timer_id);
	size_t i;
	int r;

	if (w == NULL) {
		if ((w = calloc(1, sizeof *w)) == NULL)
			return -ENOMEM;
		if (idmap_put(waiters, timer_id, w) < 0) {
			free(w);
			return -ENOMEM;
		}
	}
	for (i = 0; i < w->n; i++)
		if (w->conns[i] == conn_id)
			return 0;
	if (w->n == WAIT_MAX_PER_TIMER) {
		/* Make room by dropping waiters whose connection is gone. */
		size_t j = 0;

		for (i = 0; i < w->n; i++) {
			if (conn_lookup(w->conns[i]) == NULL) {
				waitlist_uncount(w, i);
				continue;
			}
			w->uids[j] = w->uids[i];
			w->conns[j++] = w->conns[i];
		}
		w->n = j;
		if (w->n == WAIT_MAX_PER_TIMER)
			return -E2BIG;
	}
	/* A waiter is memory the daemon keeps for its owner: counted. */
	if ((r = quota_check(uid, QUOTA_BYTES, WAIT_QUOTA_BYTES, why,
	                     why_size)) < 0)
		goto fail;
	if (w->n == w->cap) {
		size_t ncap = w->cap == 0 ? 1 : 2 * w->cap;
		uint64_t *p;
		uid_t *u;

		if (ncap > WAIT_MAX_PER_TIMER)
			ncap = WAIT_MAX_PER_TIMER;
		r = -ENOMEM;
		if ((p = reallocarray(w->conns, ncap, sizeof *p)) == NULL)
			goto fail;
		w->conns = p;
		if ((u = reallocarray(w->uids, ncap, sizeof *u)) == NULL)
			goto fail;
		w->uids = u;
		w->cap = ncap;
	}
	if ((r = quota_add(uid, QUOTA_BYTES, WAIT_QUOTA_BYTES)) < 0)
		goto fail;
	w->uids[w->n] = uid;
	w->conns[w->n++] = conn_id;
	return 0;
fail:
	if (w->n == 0) {
		idmap_del(waiters, timer_id);
		waitlist_free(w);
	}
	return r;
}

void
wait_send(uint64_t conn_id, uint64_t timer_id, const Evd__Run *run)
{
	Evd__Reply reply = EVD__REPLY__INIT;
	Evd__ExecFinished ef = EVD__EXEC_FINISHED__INIT;
	struct conn *c = conn_lookup(conn_id);

	if (c == NULL)
		return;
	ef.has_timer_id = true;
	ef.timer_id = timer_id;
	ef.run = (Evd__Run *)run;
	reply.body_case = EVD__REPLY__BODY_EXEC_FINISHED;
	reply.exec_finished = &ef;
	(void)conn_send(c, &reply); /* a failure closed c: nobody to tell */
}

bool
wait_watched(uint64_t timer_id)
{
	return waiters != NULL && idmap_size(waiters) > 0 &&
	       idmap_get(waiters, timer_id) != NULL;
}

void
wait_notify(uint64_t timer_id, const Evd__Run *run)
{
	struct waitlist *w;
	size_t i;

	if (waiters == NULL || (w = idmap_del(waiters, timer_id)) == NULL)
		return;
	for (i = 0; i < w->n; i++)
		wait_send(w->conns[i], timer_id, run);
	waitlist_free(w);
}
