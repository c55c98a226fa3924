/*
 * shard: loops, their threads and inboxes (see shard.h).
 */
#include "shard.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/eventfd.h>

#include <event2/buffer.h>

/*
 * A loop's inbox. Posters wake the loop through an eventfd, not through
 * libevent: each event base stays single-threaded (no evthread locking
 * on every event operation), and a message posted before the loop runs
 * waits in the counter.
 */
struct inbox {
	pthread_mutex_t lock;
	struct shard_msg *head, *tail;
	int efd;
	struct event *ev;       /* set once the loop attached */
	bool woken;             /* efd written and the queue not yet taken */
	void (*handler)(struct shard_msg *);
	void (*release)(struct shard_msg *);
};

static struct {
	unsigned n;
	struct inbox inbox[SHARD_MAX];
	pthread_t threads[SHARD_MAX];
	bool started[SHARD_MAX];
	pthread_mutex_t lock; /* start-up handshake and counters */
	pthread_cond_t cond;
	unsigned ready;
	bool failed;
	char why[256];
	volatile bool stopping;
	void (*body)(unsigned);
	unsigned rr;
	struct shard_counters counters[SHARD_MAX];
} sh = {
	.n = 1,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static _Thread_local unsigned self;

unsigned
shard_count(void)
{
	return sh.n;
}

unsigned
shard_self(void)
{
	return self;
}

uint64_t
shard_id_base(unsigned k)
{
	return (uint64_t)k << SHARD_ID_BITS;
}

unsigned
shard_of_id(uint64_t id)
{
	uint64_t k = id >> SHARD_ID_BITS;

	return k < sh.n ? (unsigned)k : 0;
}

int
shard_setup(unsigned n)
{
	unsigned i;

	if (n < 1 || n > SHARD_MAX)
		return -EINVAL;
	sh.n = n;
	/* One loop has an inbox too: the user lookup thread posts the
	 * connections it resolved to it (peer.h). */
	for (i = 0; i < n; i++) {
		if (pthread_mutex_init(&sh.inbox[i].lock, NULL) != 0)
			return -ENOMEM;
		sh.inbox[i].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (sh.inbox[i].efd < 0)
			return -errno;
	}
	return 0;
}

struct shard_msg *
shard_msg_new(enum shard_msg_kind kind)
{
	struct shard_msg *m = calloc(1, sizeof *m);

	if (m == NULL)
		return NULL;
	m->kind = kind;
	m->from = self;
	m->fd = -1;
	if ((m->buf = evbuffer_new()) == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

void
shard_msg_free(struct shard_msg *m)
{
	if (m == NULL)
		return;
	if (m->fd >= 0)
		close(m->fd);
	if (m->buf != NULL)
		evbuffer_free(m->buf);
	free(m->groups);
	free(m);
}

static void
shard_wake(struct inbox *in)
{
	uint64_t one = 1;

	/* Fails only if the counter is full: the loop is woken anyway. */
	(void)!write(in->efd, &one, sizeof one);
}

void
shard_post(unsigned to, struct shard_msg *m)
{
	struct inbox *in = &sh.inbox[to];
	bool wake;

	m->next = NULL;
	pthread_mutex_lock(&in->lock);
	if (in->tail != NULL)
		in->tail->next = m;
	else
		in->head = m;
	in->tail = m;
	/* One wake-up per batch of messages: the receiver takes them all. */
	wake = !in->woken;
	in->woken = true;
	pthread_mutex_unlock(&in->lock);
	if (wake)
		shard_wake(in);
}

static void
shard_inbox_cb(evutil_socket_t fd, short what, void *arg)
{
	struct inbox *in = arg;
	struct shard_msg *m, *next;
	uint64_t n;

	(void)!read(in->efd, &n, sizeof n);
	pthread_mutex_lock(&in->lock);
	m = in->head;
	in->head = in->tail = NULL;
	in->woken = false;
	pthread_mutex_unlock(&in->lock);
	for (; m != NULL; m = next) {
		next = m->next;
		in->handler(m);
	}
}

int
shard_attach(struct event_base *base, void (*handler)(struct shard_msg *),
             void (*release)(struct shard_msg *))
{
	struct inbox *in = &sh.inbox[self];
	struct event *ev;

	in->handler = handler;
	in->release = release;
	/* What was posted before (a connection accepted early) waits in
	 * the counter. */
	if ((ev = event_new(base, in->efd, EV_READ | EV_PERSIST,
	                    shard_inbox_cb, in)) == NULL ||
	    event_add(ev, NULL) < 0) {
		if (ev != NULL)
			event_free(ev);
		return -ENOMEM;
	}
	in->ev = ev;
	return 0;
}

void
shard_detach(void)
{
	struct inbox *in = &sh.inbox[self];
	struct shard_msg *m, *next;
	struct event *ev;

	pthread_mutex_lock(&in->lock);
	m = in->head;
	in->head = in->tail = NULL;
	/* Nothing posted from now on wakes anyone. */
	in->woken = true;
	ev = in->ev;
	in->ev = NULL;
	pthread_mutex_unlock(&in->lock);
	for (; m != NULL; m = next) {
		next = m->next;
		in->release(m);
	}
	if (ev != NULL)
		event_free(ev);
}

static void *
shard_thread(void *arg)
{
	char name[16];

	self = (unsigned)(uintptr_t)arg;
	/* top -H and perf tell the loops apart by it (15 bytes at most). */
	snprintf(name, sizeof name, "evd-loop%u", self);
	(void)pthread_setname_np(pthread_self(), name);
	sh.body(self);
	return NULL;
}

void
shard_ready(void)
{
	pthread_mutex_lock(&sh.lock);
	sh.ready++;
	pthread_cond_broadcast(&sh.cond);
	pthread_mutex_unlock(&sh.lock);
}

void
shard_failed(const char *why)
{
	pthread_mutex_lock(&sh.lock);
	if (!sh.failed)
		snprintf(sh.why, sizeof sh.why, "loop %u: %s", self, why);
	sh.failed = true;
	pthread_cond_broadcast(&sh.cond);
	pthread_mutex_unlock(&sh.lock);
}

int
shard_start(void (*body)(unsigned), char *why, size_t why_size)
{
	sigset_t all, old;
	unsigned k;
	int r = 0;

	sh.body = body;
	/* Threads inherit the mask: loops 1..n-1 never take a signal. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (k = 1; k < sh.n; k++) {
		if ((r = pthread_create(&sh.threads[k], NULL, shard_thread,
		                        (void *)(uintptr_t)k)) != 0) {
			snprintf(why, why_size, "cannot start loop %u: %s", k,
			         strerror(r));
			r = -r;
			break;
		}
		sh.started[k] = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		return r;
	pthread_mutex_lock(&sh.lock);
	while (sh.ready < sh.n - 1 && !sh.failed)
		pthread_cond_wait(&sh.cond, &sh.lock);
	if (sh.failed) {
		snprintf(why, why_size, "%s", sh.why);
		r = -EIO;
	}
	pthread_mutex_unlock(&sh.lock);
	return r;
}

bool
shard_stopping(void)
{
	return __atomic_load_n(&sh.stopping, __ATOMIC_ACQUIRE);
}

void
shard_stop(void)
{
	unsigned k;

	__atomic_store_n(&sh.stopping, true, __ATOMIC_RELEASE);
	for (k = 1; k < sh.n; k++)
		shard_wake(&sh.inbox[k]);
	for (k = 1; k < sh.n; k++)
		if (sh.started[k]) {
			pthread_join(sh.threads[k], NULL);
			sh.started[k] = false;
		}
}

unsigned
shard_next_conn(void)
{
	unsigned k = sh.rr;

	sh.rr = (sh.rr + 1) % sh.n;
	return k;
}

void
shard_publish(const struct shard_counters *c)
{
	if (sh.n == 1)
		return;
	pthread_mutex_lock(&sh.lock);
	sh.counters[self] = *c;
	pthread_mutex_unlock(&sh.lock);
}

void
shard_sum_others(struct shard_counters *ret)
{
	unsigned k;

	memset(ret, 0, sizeof *ret);
	if (sh.n == 1)
		return;
	pthread_mutex_lock(&sh.lock);
	for (k = 0; k < sh.n; k++) {
		if (k == self)
			continue;
		ret->pending += sh.counters[k].pending;
		ret->scheduled_total += sh.counters[k].scheduled_total;
		ret->fired_total += sh.counters[k].fired_total;
		ret->cancelled_total += sh.counters[k].cancelled_total;
		ret->connections += sh.counters[k].connections;
	}
	pthread_mutex_unlock(&sh.lock);
}
