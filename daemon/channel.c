/*
 * channel: message queues, subscribers, delivery and redelivery (see
 * channel.h for the semantics).
 *
 * Owns channels, messages and subscriptions. A message is in exactly one
 * place: its channel's ready queue, or in flight at one subscriber (then
 * also on the global expiry list, ordered by when its visibility timeout
 * ends; the timeout is one constant, so delivery order is expiry order and
 * the list needs no sorting). Connections are referred to by id only.
 */
#include "channel.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "clock.h"
#include "conn.h"
#include "idmap.h"
#include "log.h"
#include "strmap.h"

struct channel;
struct sub;

/* Owner: its channel (ready) or its subscriber (in flight). */
struct msg {
	uint64_t fire_id;
	uint64_t timer_id;
	uid_t owner;
	uint8_t *payload;
	size_t payload_len;
	int64_t due_rt_ns;
	int64_t fired_rt_ns;
	int64_t lateness_ns;
	uint32_t attempt;
	struct channel *ch;
	struct sub *sub;         /* in flight at; NULL when ready */
	int64_t expires_mono_ns; /* in flight: redeliver after this */
	TAILQ_ENTRY(msg) link;   /* ready queue, or the sub's in-flight list */
	TAILQ_ENTRY(msg) expiry; /* global expiry list, in flight only */
};
TAILQ_HEAD(msg_list, msg);

/* Owner: its channel. One per (connection, channel). */
struct sub {
	uint64_t conn_id;
	struct channel *ch;
	struct msg_list inflight;
	uint32_t ninflight;
	TAILQ_ENTRY(sub) link;     /* channel's subscribers */
	TAILQ_ENTRY(sub) conn_link; /* all subs of one connection */
};
TAILQ_HEAD(sub_list, sub);

/* Owner: the channel table. Lives until the daemon stops. */
struct channel {
	char *name;
	struct msg_list ready;
	size_t nready;
	struct sub_list subs; /* rotated for round robin */
	bool pump_pending;
	TAILQ_ENTRY(channel) pump_link;
};
TAILQ_HEAD(channel_list, channel);

/* The subscriptions of one connection. */
struct conn_subs {
	struct sub_list list;
};

static struct {
	struct event_base *base;
	struct strmap *by_name;
	struct idmap *inflight; /* fire id -> msg in flight */
	struct idmap *by_conn;  /* conn id -> struct conn_subs */
	struct msg_list expiry;
	struct event *expiry_ev;
	struct channel_list pump_queue; /* pumps deferred to the next turn */
	struct event *pump_ev;
	struct channel_stats stats;
} chan;

static void channel_expiry_cb(evutil_socket_t, short, void *);
static void channel_pump_cb(evutil_socket_t, short, void *);
static void channel_requeue(struct msg *);

int
channel_init(struct event_base *base)
{
	memset(&chan, 0, sizeof chan);
	chan.base = base;
	TAILQ_INIT(&chan.expiry);
	TAILQ_INIT(&chan.pump_queue);
	if ((chan.by_name = strmap_new()) == NULL ||
	    (chan.inflight = idmap_new()) == NULL ||
	    (chan.by_conn = idmap_new()) == NULL)
		return -ENOMEM;
	chan.expiry_ev = evtimer_new(base, channel_expiry_cb, NULL);
	if (chan.expiry_ev == NULL)
		return -ENOMEM;
	chan.pump_ev = event_new(base, -1, 0, channel_pump_cb, NULL);
	if (chan.pump_ev == NULL)
		return -ENOMEM;
	return 0;
}

static void
msg_free(struct msg *m)
{
	if (m == NULL)
		return;
	free(m->payload);
	free(m);
}

void
channel_shutdown(void)
{
	struct channel *ch;
	struct sub *s;
	struct msg *m;
	size_t iter = 0;

	while ((ch = strmap_next(chan.by_name, &iter, NULL, NULL)) != NULL) {
		while ((m = TAILQ_FIRST(&ch->ready)) != NULL) {
			TAILQ_REMOVE(&ch->ready, m, link);
			msg_free(m);
		}
		while ((s = TAILQ_FIRST(&ch->subs)) != NULL) {
			while ((m = TAILQ_FIRST(&s->inflight)) != NULL) {
				TAILQ_REMOVE(&s->inflight, m, link);
				msg_free(m);
			}
			TAILQ_REMOVE(&ch->subs, s, link);
			free(s);
		}
		free(ch->name);
		free(ch);
	}
	iter = 0;
	{
		struct conn_subs *cs;

		while ((cs = idmap_next(chan.by_conn, &iter, NULL)) != NULL)
			free(cs);
	}
	strmap_free(chan.by_name);
	idmap_free(chan.inflight);
	idmap_free(chan.by_conn);
	if (chan.expiry_ev != NULL)
		event_free(chan.expiry_ev);
	if (chan.pump_ev != NULL)
		event_free(chan.pump_ev);
	memset(&chan, 0, sizeof chan);
}

bool
channel_name_valid(const char *name)
{
	const unsigned char *p;
	size_t n = 0;

	if (name == NULL || name[0] == '\0')
		return false;
	for (p = (const unsigned char *)name; *p != '\0'; p++, n++) {
		if (n == CHANNEL_NAME_MAX)
			return false;
		if (*p <= ' ' || *p == 0x7f)
			return false;
	}
	return true;
}

static struct channel *
channel_get(const char *name, bool create)
{
	size_t len = strlen(name);
	struct channel *ch;

	if ((ch = strmap_get(chan.by_name, name, len)) != NULL || !create)
		return ch;
	if ((ch = calloc(1, sizeof *ch)) == NULL)
		return NULL;
	if ((ch->name = strdup(name)) == NULL) {
		free(ch);
		return NULL;
	}
	TAILQ_INIT(&ch->ready);
	TAILQ_INIT(&ch->subs);
	if (strmap_put(chan.by_name, name, len, ch) < 0) {
		free(ch->name);
		free(ch);
		return NULL;
	}
	chan.stats.channels++;
	return ch;
}

static void
channel_arm_expiry(void)
{
	struct msg *m = TAILQ_FIRST(&chan.expiry);
	struct timeval tv;
	int64_t d;

	if (m == NULL) {
		evtimer_del(chan.expiry_ev);
		return;
	}
	d = m->expires_mono_ns - clock_now_ns(EVD__CLOCK__MONOTONIC);
	if (d < 0)
		d = 0;
	tv.tv_sec = d / 1000000000;
	tv.tv_usec = (d % 1000000000) / 1000 + 1;
	evtimer_add(chan.expiry_ev, &tv);
}

/* Sends one message to a subscriber and moves it in flight. */
static int
channel_send(struct sub *s, struct conn *c, struct msg *m)
{
	Evd__Reply reply = EVD__REPLY__INIT;
	Evd__Fired fired = EVD__FIRED__INIT;
	bool was_empty = TAILQ_EMPTY(&chan.expiry);
	int r;

	m->attempt++;
	fired.has_timer_id = fired.has_fire_id = true;
	fired.timer_id = m->timer_id;
	fired.fire_id = m->fire_id;
	fired.channel = s->ch->name;
	if (m->payload_len > 0) {
		fired.has_payload = true;
		fired.payload.data = m->payload;
		fired.payload.len = m->payload_len;
	}
	fired.has_due_realtime_ns = fired.has_fired_realtime_ns = true;
	fired.due_realtime_ns = m->due_rt_ns;
	fired.fired_realtime_ns = m->fired_rt_ns;
	fired.has_lateness_ns = fired.has_attempt = true;
	fired.lateness_ns = m->lateness_ns;
	fired.attempt = m->attempt;
	reply.body_case = EVD__REPLY__BODY_FIRED;
	reply.fired = &fired;

	if ((r = idmap_put(chan.inflight, m->fire_id, m)) < 0) {
		m->attempt--;
		channel_requeue(m);
		return r;
	}
	/* The conn may close inside conn_send (output limit); by then the
	 * message must already be in flight so that channel_conn_gone
	 * requeues it. */
	m->sub = s;
	m->expires_mono_ns =
		clock_now_ns(EVD__CLOCK__MONOTONIC) + CHANNEL_VISIBILITY_NS;
	TAILQ_INSERT_TAIL(&s->inflight, m, link);
	TAILQ_INSERT_TAIL(&chan.expiry, m, expiry);
	s->ninflight++;
	chan.stats.inflight++;
	if (was_empty)
		channel_arm_expiry();
	if (m->attempt > 1)
		chan.stats.redelivered_total++;
	return conn_send(c, &reply);
}

/* Delivers ready messages to subscribers with room, round robin. */
static void
channel_pump(struct channel *ch)
{
	struct sub *s;
	struct msg *m;
	size_t tried = 0;

	while ((m = TAILQ_FIRST(&ch->ready)) != NULL &&
	       (s = TAILQ_FIRST(&ch->subs)) != NULL) {
		struct conn *c = conn_lookup(s->conn_id);
		size_t nsubs = 0;
		struct sub *x;

		TAILQ_FOREACH(x, &ch->subs, link)
			nsubs++;
		/* Rotate: the next message goes to the next subscriber. */
		TAILQ_REMOVE(&ch->subs, s, link);
		TAILQ_INSERT_TAIL(&ch->subs, s, link);
		if (c == NULL || s->ninflight >= CHANNEL_PREFETCH ||
		    conn_congested(c)) {
			if (++tried >= nsubs)
				return; /* nobody has room */
			continue;
		}
		tried = 0;
		TAILQ_REMOVE(&ch->ready, m, link);
		ch->nready--;
		chan.stats.queued--;
		/* On failure the message is back in the queue: requeued by
		 * channel_send, or by channel_conn_gone when conn_send closed
		 * the conn. Either way stop; the next event pumps again. */
		if (channel_send(s, c, m) < 0)
			return;
	}
}

int
channel_publish(const struct channel_fire *f)
{
	struct channel *ch;
	struct msg *m;

	if ((ch = channel_get(f->channel, true)) == NULL)
		return -ENOMEM;
	if (ch->nready >= CHANNEL_MAX_QUEUED) {
		chan.stats.dropped_total++;
		return -ENOBUFS;
	}
	if ((m = calloc(1, sizeof *m)) == NULL)
		return -ENOMEM;
	if (f->payload_len > 0) {
		if ((m->payload = malloc(f->payload_len)) == NULL) {
			free(m);
			return -ENOMEM;
		}
		memcpy(m->payload, f->payload, f->payload_len);
		m->payload_len = f->payload_len;
	}
	m->fire_id = f->fire_id;
	m->timer_id = f->timer_id;
	m->owner = f->owner;
	m->due_rt_ns = f->due_realtime_ns;
	m->fired_rt_ns = f->fired_realtime_ns;
	m->lateness_ns = f->lateness_ns;
	m->ch = ch;
	TAILQ_INSERT_TAIL(&ch->ready, m, link);
	ch->nready++;
	chan.stats.queued++;
	channel_pump(ch);
	return 0;
}

int
channel_subscribe(uint64_t conn_id, const char *name)
{
	struct conn_subs *cs;
	struct channel *ch;
	struct sub *s;

	if ((ch = channel_get(name, true)) == NULL)
		return -ENOMEM;
	TAILQ_FOREACH(s, &ch->subs, link)
		if (s->conn_id == conn_id)
			return 0;
	if ((cs = idmap_get(chan.by_conn, conn_id)) == NULL) {
		if ((cs = malloc(sizeof *cs)) == NULL)
			return -ENOMEM;
		TAILQ_INIT(&cs->list);
		if (idmap_put(chan.by_conn, conn_id, cs) < 0) {
			free(cs);
			return -ENOMEM;
		}
	}
	if ((s = calloc(1, sizeof *s)) == NULL)
		return -ENOMEM; /* an empty cs is freed with its conn */
	s->conn_id = conn_id;
	s->ch = ch;
	TAILQ_INIT(&s->inflight);
	TAILQ_INSERT_TAIL(&ch->subs, s, link);
	TAILQ_INSERT_TAIL(&cs->list, s, conn_link);
	/* Deliver on the next loop turn, so the Subscribed reply precedes
	 * the messages it releases. */
	if (!ch->pump_pending) {
		ch->pump_pending = true;
		TAILQ_INSERT_TAIL(&chan.pump_queue, ch, pump_link);
		event_active(chan.pump_ev, 0, 0);
	}
	return 0;
}

static void
channel_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch;

	while ((ch = TAILQ_FIRST(&chan.pump_queue)) != NULL) {
		TAILQ_REMOVE(&chan.pump_queue, ch, pump_link);
		ch->pump_pending = false;
		channel_pump(ch);
	}
	conn_flush_all();
}

/* Takes m out of flight (it is then the caller's). */
static void
channel_unflight(struct msg *m)
{
	struct sub *s = m->sub;
	bool was_head = TAILQ_FIRST(&chan.expiry) == m;

	idmap_del(chan.inflight, m->fire_id);
	TAILQ_REMOVE(&s->inflight, m, link);
	TAILQ_REMOVE(&chan.expiry, m, expiry);
	s->ninflight--;
	chan.stats.inflight--;
	m->sub = NULL;
	if (was_head)
		channel_arm_expiry();
}

/* Puts m back at the front of its channel's queue for redelivery. */
static void
channel_requeue(struct msg *m)
{
	struct channel *ch = m->ch;

	TAILQ_INSERT_HEAD(&ch->ready, m, link);
	ch->nready++;
	chan.stats.queued++;
}

int
channel_ack(uint64_t conn_id, uint64_t fire_id)
{
	struct msg *m = idmap_get(chan.inflight, fire_id);
	struct channel *ch;

	if (m == NULL || m->sub->conn_id != conn_id)
		return -ENOENT;
	ch = m->ch;
	channel_unflight(m);
	log_debug("fire %" PRIu64 " of timer %" PRIu64 " acked on %s",
	          fire_id, m->timer_id, ch->name);
	msg_free(m);
	channel_pump(ch);
	return 0;
}

void
channel_conn_gone(uint64_t conn_id)
{
	struct conn_subs *cs = idmap_del(chan.by_conn, conn_id);
	struct sub *s;
	struct msg *m;

	if (cs == NULL)
		return;
	while ((s = TAILQ_FIRST(&cs->list)) != NULL) {
		struct channel *ch = s->ch;

		/* Newest first, each to the head: the queue keeps the
		 * original order. */
		while ((m = TAILQ_LAST(&s->inflight, msg_list)) != NULL) {
			channel_unflight(m);
			channel_requeue(m);
		}
		TAILQ_REMOVE(&cs->list, s, conn_link);
		TAILQ_REMOVE(&ch->subs, s, link);
		free(s);
		channel_pump(ch);
	}
	free(cs);
}

void
channel_conn_drained(uint64_t conn_id)
{
	struct conn_subs *cs = idmap_get(chan.by_conn, conn_id);
	struct sub *s, *next;

	if (cs == NULL)
		return;
	/* Pumping may close this conn (output limit) and free cs. */
	for (s = TAILQ_FIRST(&cs->list); s != NULL; s = next) {
		next = TAILQ_NEXT(s, conn_link);
		channel_pump(s->ch);
		if (idmap_get(chan.by_conn, conn_id) != cs)
			return;
	}
}

static void
channel_expiry_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = clock_now_ns(EVD__CLOCK__MONOTONIC);
	struct msg *m;

	while ((m = TAILQ_FIRST(&chan.expiry)) != NULL &&
	       m->expires_mono_ns <= now) {
		struct channel *ch = m->ch;

		log_info("fire %" PRIu64 " of timer %" PRIu64 " on %s not "
		         "acked in time; redelivering (attempt %u)",
		         m->fire_id, m->timer_id, ch->name, m->attempt + 1);
		channel_unflight(m);
		channel_requeue(m);
		channel_pump(ch);
	}
	channel_arm_expiry();
	conn_flush_all();
}

void
channel_get_stats(struct channel_stats *ret)
{
	*ret = chan.stats;
}
