/*
 * sched: pending timers, their indexes, and firing them (see sched.h for
 * the structure, ordering and firing rules).
 *
 * Owns every struct timer. Must not block: arming a timerfd is one
 * syscall, and it is skipped when the earliest deadline did not move
 * earlier.
 */
#include "sched.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "channel.h"
#include "clock.h"
#include "conn.h"
#include "idmap.h"
#include "log.h"
#include "strmap.h"
#include "timerq.h"

/* Bounds the time one wakeup spends firing, so a burst of due timers
 * does not starve I/O; the remainder fires on the next loop turn. */
#define SCHED_FIRE_BATCH 4096

/* Owner: sched. Linked into exactly one queue, the id map, the id-order
 * list and, with a key, the key map, from sched_add until it fires or is
 * cancelled. */
struct timer {
	struct timerq_node qn; /* deadline on `clock`, seq = id */
	uint64_t id;
	uid_t uid;
	gid_t gid;
	uint8_t clock;
	uint64_t conn_id; /* caller target when channel is NULL */
	char *channel;
	uint8_t *payload;
	size_t payload_len;
	char *key;        /* owner-scoped idempotency key, or NULL */
	char *keymap_key; /* "uid\0key" as stored in the key map */
	size_t keymap_len;
	int64_t created_rt_ns;
	TAILQ_ENTRY(timer) all;    /* id order */
	TAILQ_ENTRY(timer) by_conn; /* caller-target timers of one conn */
};

TAILQ_HEAD(timer_list, timer);

/* The caller-target timers of one connection, so that closing it costs
 * O(its timers), not a walk of every timer. */
struct conn_timers {
	struct timer_list list;
};

struct sched_clock {
	struct timerq *q;
	int fd;
	struct event *ev;
	int64_t armed_ns; /* deadline the timerfd is set to; 0: disarmed */
};

static struct {
	struct event_base *base;
	struct sched_clock clocks[EVD_CLOCK_COUNT];
	struct idmap *by_id;
	struct strmap *by_key;
	struct idmap *by_conn; /* conn id -> struct conn_timers */
	struct timer_list all;
	struct event *more_ev; /* fires the rest of a burst next turn */
	uint64_t next_id;
	uint64_t next_fire_id;
	struct sched_stats stats;
} sched;

static void sched_timerfd_cb(evutil_socket_t, short, void *);
static void sched_more_cb(evutil_socket_t, short, void *);

int
sched_init(struct event_base *base)
{
	int i, flags;

	memset(&sched, 0, sizeof sched);
	sched.base = base;
	sched.next_id = 1;
	sched.next_fire_id = 1;
	TAILQ_INIT(&sched.all);
	for (i = 0; i < EVD_CLOCK_COUNT; i++)
		sched.clocks[i].fd = -1;
	if ((sched.by_id = idmap_new()) == NULL ||
	    (sched.by_key = strmap_new()) == NULL ||
	    (sched.by_conn = idmap_new()) == NULL)
		goto nomem;
	sched.more_ev = event_new(base, -1, 0, sched_more_cb, NULL);
	if (sched.more_ev == NULL)
		goto nomem;
	for (i = 0; i < EVD_CLOCK_COUNT; i++) {
		struct sched_clock *sc = &sched.clocks[i];

		if ((sc->q = timerq_new()) == NULL)
			goto nomem;
		flags = TFD_NONBLOCK | TFD_CLOEXEC;
		sc->fd = timerfd_create(clock_kernel_id(i), flags);
		if (sc->fd < 0)
			return -errno;
		sc->ev = event_new(base, sc->fd, EV_READ | EV_PERSIST,
		                   sched_timerfd_cb, sc);
		if (sc->ev == NULL || event_add(sc->ev, NULL) < 0)
			goto nomem;
	}
	return 0;
nomem:
	return -ENOMEM;
}

static void
timer_free(struct timer *t)
{
	if (t == NULL)
		return;
	free(t->channel);
	free(t->payload);
	free(t->key);
	free(t->keymap_key);
	free(t);
}

/* Removes t from every index; it is then only the caller's. */
static void
sched_unlink(struct timer *t)
{
	timerq_remove(sched.clocks[t->clock].q, &t->qn);
	idmap_del(sched.by_id, t->id);
	if (t->keymap_key != NULL)
		strmap_del(sched.by_key, t->keymap_key, t->keymap_len);
	TAILQ_REMOVE(&sched.all, t, all);
	if (t->channel == NULL) {
		struct conn_timers *ct = idmap_get(sched.by_conn, t->conn_id);

		if (ct != NULL) {
			TAILQ_REMOVE(&ct->list, t, by_conn);
			if (TAILQ_EMPTY(&ct->list)) {
				idmap_del(sched.by_conn, t->conn_id);
				free(ct);
			}
		}
	}
	sched.stats.pending--;
}

void
sched_shutdown(void)
{
	struct timer *t;
	int i;

	while ((t = TAILQ_FIRST(&sched.all)) != NULL) {
		sched_unlink(t);
		timer_free(t);
	}
	for (i = 0; i < EVD_CLOCK_COUNT; i++) {
		struct sched_clock *sc = &sched.clocks[i];

		if (sc->ev != NULL)
			event_free(sc->ev);
		if (sc->fd >= 0)
			close(sc->fd);
		timerq_free(sc->q);
	}
	if (sched.more_ev != NULL)
		event_free(sched.more_ev);
	idmap_free(sched.by_id);
	strmap_free(sched.by_key);
	idmap_free(sched.by_conn);
	memset(&sched, 0, sizeof sched);
}

/*
 * Points the clock's timerfd at the earliest deadline. Skipped when the
 * timerfd already wakes us no later than that: an early wakeup finds
 * nothing due and re-arms, which is cheaper than a syscall per schedule.
 */
static void
sched_arm(struct sched_clock *sc, bool force)
{
	struct timerq_node *head = timerq_peek(sc->q);
	struct itimerspec its;
	int64_t when;
	int flags;

	if (head == NULL)
		return; /* a stale wakeup finds nothing and re-arms */
	when = head->deadline_ns;
	if (when < 1)
		when = 1; /* 0 would disarm the timerfd */
	if (!force && sc->armed_ns != 0 && sc->armed_ns <= when)
		return;
	memset(&its, 0, sizeof its);
	its.it_value.tv_sec = when / 1000000000;
	its.it_value.tv_nsec = when % 1000000000;
	flags = TFD_TIMER_ABSTIME;
	if (sc == &sched.clocks[EVD__CLOCK__REALTIME])
		flags |= TFD_TIMER_CANCEL_ON_SET;
	if (timerfd_settime(sc->fd, flags, &its, NULL) < 0) {
		/* Cannot happen with a valid fd and time; keep the old arm
		 * and let the next change try again. */
		log_warn("timerfd_settime(%s)", clock_name((int)(sc - sched.clocks)));
		return;
	}
	sc->armed_ns = when;
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
	if (idmap_put(sched.by_conn, conn_id, ct) < 0) {
		free(ct);
		return NULL;
	}
	return ct;
}

int
sched_add(const struct sched_spec *spec, struct timer **ret,
          bool *ret_existing)
{
	struct sched_clock *sc = &sched.clocks[spec->clock];
	struct conn_timers *ct = NULL;
	struct timer *t;
	bool failed = false;
	int r;

	if (spec->key != NULL) {
		char *k;
		size_t klen;

		if ((r = sched_keymap_key(spec->uid, spec->key, &k, &klen)) < 0)
			return r;
		t = strmap_get(sched.by_key, k, klen);
		free(k);
		if (t != NULL) {
			*ret = t;
			*ret_existing = true;
			return 0;
		}
	}
	if (sched.next_id == UINT64_MAX)
		return -EOVERFLOW;
	if ((t = calloc(1, sizeof *t)) == NULL)
		return -ENOMEM;
	timerq_node_init(&t->qn);
	t->id = sched.next_id;
	t->uid = spec->uid;
	t->gid = spec->gid;
	t->clock = (uint8_t)spec->clock;
	t->conn_id = spec->conn_id;
	t->channel = xstrdup_or_null(spec->channel, &failed);
	t->key = xstrdup_or_null(spec->key, &failed);
	if (spec->payload_len > 0) {
		if ((t->payload = malloc(spec->payload_len)) == NULL)
			failed = true;
		else
			memcpy(t->payload, spec->payload, spec->payload_len);
		t->payload_len = spec->payload_len;
	}
	t->created_rt_ns = clock_now_ns(EVD__CLOCK__REALTIME);
	t->qn.deadline_ns = spec->deadline_ns;
	t->qn.seq = t->id;
	if (failed)
		goto nomem;
	if (t->key != NULL &&
	    sched_keymap_key(t->uid, t->key, &t->keymap_key, &t->keymap_len) < 0)
		goto nomem;

	if (idmap_put(sched.by_id, t->id, t) < 0)
		goto nomem;
	if (t->keymap_key != NULL &&
	    strmap_put(sched.by_key, t->keymap_key, t->keymap_len, t) < 0) {
		idmap_del(sched.by_id, t->id);
		goto nomem;
	}
	if (t->channel == NULL && (ct = sched_conn_timers(t->conn_id)) == NULL) {
		idmap_del(sched.by_id, t->id);
		if (t->keymap_key != NULL)
			strmap_del(sched.by_key, t->keymap_key, t->keymap_len);
		goto nomem;
	}
	if (timerq_push(sc->q, &t->qn) < 0) {
		idmap_del(sched.by_id, t->id);
		if (t->keymap_key != NULL)
			strmap_del(sched.by_key, t->keymap_key, t->keymap_len);
		if (ct != NULL && TAILQ_EMPTY(&ct->list)) {
			idmap_del(sched.by_conn, t->conn_id);
			free(ct);
		}
		goto nomem;
	}
	TAILQ_INSERT_TAIL(&sched.all, t, all);
	if (ct != NULL)
		TAILQ_INSERT_TAIL(&ct->list, t, by_conn);
	sched.next_id++;
	sched.stats.pending++;
	sched.stats.scheduled_total++;
	sched_arm(sc, false);
	*ret = t;
	*ret_existing = false;
	return 0;
nomem:
	timer_free(t);
	return -ENOMEM;
}

struct timer *
sched_lookup(uint64_t id, uid_t uid)
{
	struct timer *t;

	if (id == 0 || (t = idmap_get(sched.by_id, id)) == NULL)
		return NULL;
	if (uid != 0 && t->uid != uid)
		return NULL; /* others' timers do not exist for this caller */
	return t;
}

void
sched_cancel(struct timer *t)
{
	sched_unlink(t);
	sched.stats.cancelled_total++;
	log_debug("timer %" PRIu64 " cancelled (uid %u)", t->id,
	          (unsigned)t->uid);
	timer_free(t);
}

void
sched_conn_gone(uint64_t conn_id)
{
	struct conn_timers *ct;

	/* Each cancel unlinks one timer; the last one frees the list. */
	while ((ct = idmap_get(sched.by_conn, conn_id)) != NULL)
		sched_cancel(TAILQ_FIRST(&ct->list));
}

static bool
sched_visible(const struct timer *t, uid_t uid, const char *channel)
{
	if (uid != 0 && t->uid != uid)
		return false;
	if (channel != NULL &&
	    (t->channel == NULL || strcmp(t->channel, channel) != 0))
		return false;
	return true;
}

size_t
sched_list(uid_t uid, const char *channel, uint64_t after_id,
           struct timer **ret, size_t max, bool *ret_more)
{
	struct timer *t = NULL;
	size_t n = 0;

	*ret_more = false;
	/* Resume right after the previous page's last timer if it is still
	 * pending; otherwise skip from the start (ids are in order). */
	if (after_id != 0 && (t = idmap_get(sched.by_id, after_id)) != NULL)
		t = TAILQ_NEXT(t, all);
	else {
		t = TAILQ_FIRST(&sched.all);
		while (t != NULL && t->id <= after_id)
			t = TAILQ_NEXT(t, all);
	}
	for (; t != NULL; t = TAILQ_NEXT(t, all)) {
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

void
sched_fill_info(const struct timer *t, Evd__TimerInfo *info, Evd__Callback *cb)
{
	evd__timer_info__init(info);
	evd__callback__init(cb);
	info->has_timer_id = true;
	info->timer_id = t->id;
	info->has_owner_uid = true;
	info->owner_uid = t->uid;
	info->has_owner_gid = true;
	info->owner_gid = t->gid;
	info->has_state = true;
	info->state = EVD__TIMER_STATE__PENDING;
	info->has_clock = true;
	info->clock = t->clock;
	info->has_deadline_ns = true;
	info->deadline_ns = t->qn.deadline_ns;
	info->has_due_realtime_ns = true;
	info->due_realtime_ns = clock_to_realtime_ns(t->clock, t->qn.deadline_ns);
	info->has_created_realtime_ns = true;
	info->created_realtime_ns = t->created_rt_ns;
	info->key = t->key;
	info->has_fire_count = true;
	info->fire_count = 0;
	if (t->channel != NULL) {
		cb->target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb->channel = t->channel;
	}
	if (t->payload_len > 0) {
		cb->has_payload = true;
		cb->payload.data = t->payload;
		cb->payload.len = t->payload_len;
	}
	info->callback = cb;
}

void
sched_get_stats(struct sched_stats *ret)
{
	*ret = sched.stats;
}

/* Delivers one fire of t, which is already unlinked. */
static void
sched_deliver(struct timer *t, int64_t now_ns)
{
	int64_t lateness = now_ns - t->qn.deadline_ns;
	int64_t fired_rt = clock_now_ns(EVD__CLOCK__REALTIME);
	uint64_t fire_id = sched.next_fire_id++;
	int r;

	if (lateness < 0)
		lateness = 0;
	sched.stats.fired_total++;
	if (t->channel != NULL) {
		struct channel_fire f = {
			.channel = t->channel,
			.owner = t->uid,
			.timer_id = t->id,
			.fire_id = fire_id,
			.payload = t->payload,
			.payload_len = t->payload_len,
			.due_realtime_ns = fired_rt - lateness,
			.fired_realtime_ns = fired_rt,
			.lateness_ns = lateness,
		};

		r = channel_publish(&f);
		if (r < 0)
			log_warnx("timer %" PRIu64 " (uid %u) fire %" PRIu64
			          " dropped: channel %s %s",
			          t->id, (unsigned)t->uid, fire_id, t->channel,
			          r == -ENOBUFS ? "is full" : "out of memory");
		else
			log_debug("timer %" PRIu64 " (uid %u) fired into "
			          "channel %s, %" PRId64 " ns late",
			          t->id, (unsigned)t->uid, t->channel, lateness);
	} else {
		struct conn *c = conn_lookup(t->conn_id);
		Evd__Reply reply = EVD__REPLY__INIT;
		Evd__Fired fired = EVD__FIRED__INIT;

		if (c == NULL) {
			/* Ephemeral timers are cancelled when their conn
			 * closes, so this is a bookkeeping bug; say so. */
			log_warnx("timer %" PRIu64 " fired for vanished "
			          "connection %" PRIu64,
			          t->id, t->conn_id);
			return;
		}
		fired.has_timer_id = fired.has_fire_id = true;
		fired.timer_id = t->id;
		fired.fire_id = fire_id;
		if (t->payload_len > 0) {
			fired.has_payload = true;
			fired.payload.data = t->payload;
			fired.payload.len = t->payload_len;
		}
		fired.has_due_realtime_ns = fired.has_fired_realtime_ns = true;
		fired.due_realtime_ns = fired_rt - lateness;
		fired.fired_realtime_ns = fired_rt;
		fired.has_lateness_ns = fired.has_attempt = true;
		fired.lateness_ns = lateness;
		fired.attempt = 1;
		reply.body_case = EVD__REPLY__BODY_FIRED;
		reply.fired = &fired;
		if (conn_send(c, &reply) < 0)
			log_warnx("timer %" PRIu64 " (uid %u): fire lost "
			          "with its connection %" PRIu64,
			          t->id, (unsigned)t->uid, t->conn_id);
		else
			log_debug("timer %" PRIu64 " (uid %u) fired to "
			          "connection %" PRIu64 ", %" PRId64 " ns late",
			          t->id, (unsigned)t->uid, t->conn_id, lateness);
	}
}

/* Fires what is due on one clock; returns true if the batch bound left
 * due timers behind. */
static bool
sched_run_clock(struct sched_clock *sc)
{
	int clk = (int)(sc - sched.clocks);
	int64_t now = clock_now_ns(clk);
	struct timerq_node *n;
	int fired = 0;

	while ((n = timerq_peek(sc->q)) != NULL && n->deadline_ns <= now) {
		struct timer *t = (struct timer *)n;

		if (fired == SCHED_FIRE_BATCH)
			return true;
		sched_unlink(t);
		sched_deliver(t, now);
		timer_free(t);
		fired++;
	}
	return false;
}

static void
sched_run(struct sched_clock *sc)
{
	bool more = sched_run_clock(sc);

	sc->armed_ns = 0;
	if (more)
		event_active(sched.more_ev, 0, 0);
	else
		sched_arm(sc, true);
	conn_flush_all();
}

static void
sched_timerfd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched_clock *sc = arg;
	uint64_t expirations;
	ssize_t n;

	n = read(fd, &expirations, sizeof expirations);
	if (n < 0 && errno == ECANCELED)
		log_notice("wall clock was set; re-evaluating realtime timers");
	else if (n < 0 && errno != EAGAIN)
		log_warn("timerfd read (%s)", clock_name((int)(sc - sched.clocks)));
	sched_run(sc);
}

static void
sched_more_cb(evutil_socket_t fd, short what, void *arg)
{
	bool more = false;
	int i;

	for (i = 0; i < EVD_CLOCK_COUNT; i++) {
		struct sched_clock *sc = &sched.clocks[i];

		if (sched_run_clock(sc))
			more = true;
		else {
			sc->armed_ns = 0;
			sched_arm(sc, true);
		}
	}
	if (more)
		event_active(sched.more_ev, 0, 0);
	conn_flush_all();
}
