/*
 * peer: who a connecting uid is, looked up off the loop (see peer.h).
 */
#include "peer.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "shard.h"

/* Distinct uids remembered; past it the stalest entry makes room. A
 * machine's local accounts fit many times over. */
#define PEER_CACHE_MAX 4096
/* How long peer_shutdown waits for a lookup in progress. */
#define PEER_STOP_WAIT_MS 1000

struct peer_entry {
	uid_t uid;
	int64_t until_ms; /* CLOCK_MONOTONIC: fresh before this */
	struct peer_id id;
};

struct peer_wait {
	struct peer_wait *next;
	int fd;
	uid_t uid;
	unsigned loop;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;   /* work queued, or stop */
	pthread_cond_t exited; /* the thread left */
	pthread_t thread;
	bool running;          /* the thread exists and has not left */
	bool stop;
	struct peer_wait *head, *tail;
	size_t queued;
	struct peer_entry *cache;
	size_t ncache;
	peer_check_fn check;
} P = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.exited = PTHREAD_COND_INITIALIZER,
};

static int64_t
peer_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Is uid looked up at all? Root's hooks are root's; a user instance has
 * one owner. */
static bool
peer_wanted(uid_t uid)
{
	return P.cache != NULL && uid != 0;
}

/* With P.lock held. */
static struct peer_entry *
peer_find(uid_t uid)
{
	size_t i;

	for (i = 0; i < P.ncache; i++)
		if (P.cache[i].uid == uid)
			return &P.cache[i];
	return NULL;
}

/* With P.lock held: the entry for uid, made if need be (the stalest one
 * goes when the cache is full). */
static struct peer_entry *
peer_slot(uid_t uid)
{
	struct peer_entry *e = peer_find(uid), *old;
	size_t i;

	if (e != NULL)
		return e;
	if (P.ncache < PEER_CACHE_MAX) {
		e = &P.cache[P.ncache++];
	} else {
		for (old = &P.cache[0], i = 1; i < P.ncache; i++)
			if (P.cache[i].until_ms < old->until_ms)
				old = &P.cache[i];
		e = old;
	}
	memset(e, 0, sizeof *e);
	e->uid = uid;
	return e;
}

/* The passwd entry of uid, by NSS (may block for as long as NSS does). */
static void
peer_resolve(uid_t uid, struct peer_id *ret)
{
	struct passwd pw, *res = NULL;
	char stack[4096], *buf = stack, *big = NULL;
	size_t size = sizeof stack;
	int r;

	memset(ret, 0, sizeof *ret);
	for (;;) {
		r = getpwuid_r(uid, &pw, buf, size, &res);
		if (r != ERANGE || size >= 1024 * 1024)
			break;
		size *= 4;
		free(big);
		if ((buf = big = malloc(size)) == NULL) {
			r = ENOMEM;
			break;
		}
	}
	if (r == 0 && res == NULL) {
		ret->state = PEER_NO_ENTRY;
	} else if (r == 0 && strlen(pw.pw_name) < sizeof ret->name) {
		ret->state = PEER_NAMED;
		memcpy(ret->name, pw.pw_name, strlen(pw.pw_name) + 1);
	} else if (r == 0) {
		/* A name longer than any evd stores cannot be checked at
		 * fire time: as good as none. */
		log_warnx("uid %u: its user name is longer than %d bytes; "
		          "it may not schedule hooks",
		          (unsigned)uid, PEER_NAME_MAX - 1);
		ret->state = PEER_NO_ENTRY;
	} else {
		/* NSS failed (a directory down): not the same as "no such
		 * user", and not cached as one. */
		errno = r;
		log_warn("looking up uid %u", (unsigned)uid);
	}
	free(big);
}

void
peer_set_check(peer_check_fn fn)
{
	pthread_mutex_lock(&P.lock);
	P.check = fn;
	pthread_mutex_unlock(&P.lock);
}

/* The resolver's answer, checked by fn (peer_set_check). */
static void
peer_check(peer_check_fn fn, uid_t uid, struct peer_id *id)
{
	int r;

	if (fn == NULL || id->state == PEER_UNRESOLVED)
		return;
	r = fn(uid, id->state == PEER_NAMED ? id->name : NULL, id->other,
	       sizeof id->other);
	if (r == -EPERM)
		id->state = PEER_REFUSED;
	else if (r < 0)
		id->state = PEER_UNCHECKED;
}

/* Hands a waiting connection to its loop, resolved or not. */
static void
peer_post(struct peer_wait *w)
{
	struct shard_msg *m;

	if (shard_stopping() || (m = shard_msg_new(SHARD_MSG_CONN)) == NULL) {
		close(w->fd);
		free(w);
		return;
	}
	m->fd = w->fd;
	m->resolved = true;
	shard_post(w->loop, m);
	free(w);
}

static void *
peer_thread(void *arg)
{
	struct peer_wait *w;
	struct peer_entry *e;
	struct peer_id id;
	int64_t now;

	(void)arg;
	(void)pthread_setname_np(pthread_self(), "evd-peer");
	pthread_mutex_lock(&P.lock);
	while (!P.stop) {
		if ((w = P.head) == NULL) {
			pthread_cond_wait(&P.cond, &P.lock);
			continue;
		}
		if ((P.head = w->next) == NULL)
			P.tail = NULL;
		P.queued--;
		/* Another connection of the same uid may have been asked
		 * for meanwhile. */
		e = peer_find(w->uid);
		if (e == NULL || e->until_ms <= peer_now_ms()) {
			peer_check_fn check = P.check;

			pthread_mutex_unlock(&P.lock);
			peer_resolve(w->uid, &id);
			peer_check(check, w->uid, &id);
			pthread_mutex_lock(&P.lock);
			if (id.state != PEER_UNRESOLVED) {
				now = peer_now_ms();
				e = peer_slot(w->uid);
				e->id = id;
				/* Unchecked: this connection's answer,
				 * asked again at the next. */
				e->until_ms = id.state == PEER_UNCHECKED ? now :
				    now + 1000 *
				    (id.state == PEER_NAMED ||
				     id.state == PEER_REFUSED ?
				     PEER_TTL_S : PEER_NEGATIVE_TTL_S);
			}
		}
		pthread_mutex_unlock(&P.lock);
		peer_post(w);
		pthread_mutex_lock(&P.lock);
	}
	P.running = false;
	pthread_cond_broadcast(&P.exited);
	pthread_mutex_unlock(&P.lock);
	return NULL;
}

int
peer_init(void)
{
	sigset_t all, old;
	int r;

	if (geteuid() != 0)
		return 0;
	if ((P.cache = calloc(PEER_CACHE_MAX, sizeof *P.cache)) == NULL)
		return -ENOMEM;
	/* The loops take the signals, never this thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&P.thread, NULL, peer_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		free(P.cache);
		P.cache = NULL;
		return -r;
	}
	P.running = true;
	return 0;
}

bool
peer_shutdown(void)
{
	struct peer_wait *w, *next;
	struct timespec until;
	bool left;

	if (P.cache == NULL)
		return true;
	pthread_mutex_lock(&P.lock);
	P.stop = true;
	pthread_cond_broadcast(&P.cond);
	w = P.head;
	P.head = P.tail = NULL;
	P.queued = 0;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += PEER_STOP_WAIT_MS / 1000;
	while (P.running &&
	       pthread_cond_timedwait(&P.exited, &P.lock, &until) == 0)
		;
	left = !P.running;
	pthread_mutex_unlock(&P.lock);
	for (; w != NULL; w = next) {
		next = w->next;
		close(w->fd);
		free(w);
	}
	if (left) {
		pthread_join(P.thread, NULL);
		free(P.cache);
		P.cache = NULL;
	} else {
		/* Hung in NSS: it keeps the cache (and dies with us). */
		log_warnx("the user lookup thread is stuck in NSS; leaving it");
		pthread_detach(P.thread);
	}
	return left;
}

bool
peer_defer(int fd, uid_t uid, unsigned loop)
{
	struct peer_entry *e;
	struct peer_wait *w;
	bool taken = false;

	if (!peer_wanted(uid))
		return false;
	pthread_mutex_lock(&P.lock);
	e = peer_find(uid);
	if (P.stop || (e != NULL && e->until_ms > peer_now_ms()))
		goto out;
	if (P.queued >= PEER_QUEUE_MAX) {
		log_warnx("the user lookup queue is full: uid %u connects "
		          "unresolved and may not schedule hooks",
		          (unsigned)uid);
		goto out;
	}
	if ((w = calloc(1, sizeof *w)) == NULL)
		goto out;
	w->fd = fd;
	w->uid = uid;
	w->loop = loop;
	if (P.tail != NULL)
		P.tail->next = w;
	else
		P.head = w;
	P.tail = w;
	P.queued++;
	pthread_cond_signal(&P.cond);
	taken = true;
out:
	pthread_mutex_unlock(&P.lock);
	return taken;
}

void
peer_lookup(uid_t uid, struct peer_id *ret)
{
	struct peer_entry *e;

	memset(ret, 0, sizeof *ret);
	if (!peer_wanted(uid))
		return;
	pthread_mutex_lock(&P.lock);
	if ((e = peer_find(uid)) != NULL)
		*ret = e->id;
	if (P.check != NULL && ret->state == PEER_UNRESOLVED)
		ret->state = PEER_UNCHECKED;
	pthread_mutex_unlock(&P.lock);
}
