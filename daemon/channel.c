/*
 * channel: message queues, subscribers, delivery, redelivery with backoff
 * and dead letters (see channel.h for the semantics).
 *
 * Owns channels, messages and subscriptions. A message is in exactly one
 * place: its channel's ready queue, the backoff queue (waiting to become
 * ready), in flight at one subscriber (then also in the timed queue until
 * its visibility timeout ends), or the channel's dead-letter list. The
 * timed queue is one timerq on the monotonic clock holding both backoff
 * and visibility deadlines. Connections are referred to by id only.
 * Delivery never happens inside conn_flush_all: pumps from there are
 * deferred to the next loop turn, so the store writes they cause belong
 * to a batch that commits before the events leave.
 *
 * Cluster mode (channel.h): every message in memory is a claim of this
 * node (held: fire id -> msg, with its fence), made by a claim, at
 * insert, or adopted at a reload; nothing else is loaded, so no two
 * nodes deliver a message at once unless a claim lapsed (a stalled or
 * dead node's: at-least-once). A claim found lost (renewal, ack) is
 * dropped from memory wherever the message was; one claimed again while
 * still held (its lease lapsed, this node took it back) keeps its place
 * with the new fence. Messages of a channel with no subscriber left are
 * given back at the next claim tick, not from the subscriber's end,
 * which may run inside conn_flush_all (no batch to write in).
 */
#include "channel.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>

#include "batch.h"
#include "clock.h"
#include "conn.h"
#include "deliver.h"
#include "idmap.h"
#include "log.h"
#include "quota.h"
#include "store.h"
#include "strmap.h"
#include "timerq.h"

struct channel;
struct sub;

/* MSG_SENDING: cluster mode, at most once: its fenced delete is in the
 * open batch, and it is sent at the commit if that kept it
 * (channel_cluster_batch_end); in no list meanwhile. */
enum msg_where { MSG_READY, MSG_BACKOFF, MSG_INFLIGHT, MSG_DEAD, MSG_SENDING };

/* Owner: its channel (ready, backoff, dead) or its subscriber (in
 * flight). */
struct msg {
	struct timerq_node tq;   /* backoff end, or visibility end */
	uint64_t fire_id;
	uint64_t timer_id;
	uid_t owner;
	uint8_t *payload;
	size_t payload_len;
	int64_t due_rt_ns;
	int64_t fired_rt_ns;
	int64_t lateness_ns;
	uint32_t attempts;       /* deliveries made */
	uint64_t fence;          /* cluster mode: this node's claim */
	uint32_t max_attempts;
	uint8_t delivery;
	uint8_t where;           /* enum msg_where */
	bool acking;             /* cluster mode: an ack gathered this turn */
	/* Why its last delivery failed, or NULL; charged to owner's bytes
	 * quota (strlen). */
	char *reason;
	struct channel *ch;
	struct sub *sub;         /* in flight at */
	TAILQ_ENTRY(msg) link;   /* ready, dead, or the sub's in flight */
};
TAILQ_HEAD(msg_list, msg);

#define MSG_OF(n) ((struct msg *)((char *)(n) - offsetof(struct msg, tq)))

/* Cluster mode: messages a channel's subscribers here may hold at most
 * (channel_cluster_want). */
#define CHANNEL_CLAIM_MAX 1000
/* ... and dead letters of a channel a node holds at most: enough to
 * list, requeue and purge in pages, bounded so that a channel with
 * many dead letters does not make every claim tick take more (dead
 * ones hold no subscriber's window) until one node holds them all and
 * renews them all. */
#define CHANNEL_CLAIM_DEAD_MAX 1000

/* Owner: its channel. One per (connection, channel). */
struct sub {
	uint64_t conn_id;
	uid_t uid;                  /* the connection's: names as it writes them */
	struct channel *ch;
	struct msg_list inflight;
	uint32_t ninflight;
	uint32_t max_inflight;      /* 1..CHANNEL_PREFETCH */
	int64_t visibility_ns;
	TAILQ_ENTRY(sub) link;      /* channel's subscribers */
	TAILQ_ENTRY(sub) conn_link; /* all subs of one connection */
};
TAILQ_HEAD(sub_list, sub);

/* A right granted on a channel. */
struct grant {
	bool is_gid;
	uint8_t rights; /* CHANNEL_RIGHT_* */
	uint32_t id;
};

/* Owner: the channel table. Its owner is the uid its name says. Once
 * owned (a row in the store, made when its owner or root first uses it)
 * it lives until the daemon stops (CHANNEL_MAX_PER_UID bounds how many);
 * one that is not (known only from a fire or a message) is freed when it
 * has neither subscribers nor messages. */
struct channel {
	char *name; /* canonical */
	bool owned;
	uid_t owner;
	struct grant *grants;
	size_t ngrants;
	struct msg_list ready;
	size_t nready;
	size_t nbackoff;
	size_t ninflight;
	struct msg_list dead;
	size_t ndead;
	struct sub_list subs; /* rotated for round robin */
	size_t nsubs;
	bool pump_pending;
	TAILQ_ENTRY(channel) pump_link;
};
TAILQ_HEAD(channel_list, channel);

/* Cluster mode: a delivery or an ack gathered in this turn, written in
 * one statement per kind just before its commit and judged at it. */
struct gathered {
	uint64_t fire_id, fence;
	uint64_t conn_id;        /* the subscriber's (delivery, ack) */
	uint64_t reply_conn;     /* ack: the conn its reply went on */
	uint64_t request_id;     /* ack: its request's */
	bool has_request_id;
	uint32_t attempts;       /* delivery: its attempt */
	uid_t uid;               /* at most once: the subscriber's */
	bool amo;                /* in ak: an at-most-once delivery */
};

/* An acked message's run record, written in the next turn's batch (the
 * ack's own commit judged it). */
struct acked_run {
	uint64_t timer_id, fire_id;
	int64_t due_rt_ns, fired_rt_ns, lateness_ns;
};

/* Gathered rows, and what is sent of them (sorted, each id once). */
struct gather_list {
	struct gathered *v;
	size_t n, cap;
	struct store_renewal *rn;
	uint32_t *att;
	size_t nrn, caprn;
	bool sent;
};

/* The subscriptions of one connection. */
struct conn_subs {
	struct sub_list list;
};

static _Thread_local struct {
	struct event_base *base;
	struct strmap *by_name;
	struct idmap *inflight; /* fire id -> msg in flight */
	struct idmap *by_conn;  /* conn id -> struct conn_subs */
	struct idmap *owned;    /* uid + 1 -> channels it owns (as a count) */
	struct timerq *timed;   /* backoff and visibility deadlines */
	struct event *timed_ev;
	int64_t timed_armed_ns;
	struct channel_list pump_queue; /* pumps deferred to the next turn */
	struct event *pump_ev;
	uint64_t rand_state;
	struct channel_stats stats;
	size_t unloadable; /* messages the last reload left out */
	/* Cluster mode (channel.h). */
	bool cluster;
	struct idmap *held;     /* fire id -> msg: every claim held */
	struct idmap *claimed_new; /* fire ids claimed at insert, not yet
	                            * published (channel_claims_new) */
	int64_t acl_read_ns;    /* monotonic: owners and grants last read */
	uint64_t claims_lost;   /* for the log */
	struct gather_list dl, ak; /* this turn's deliveries and acks */
	struct acked_run *runs; /* acks committed: their run records */
	size_t nruns, capruns;
	void (*refill)(void);   /* channel_set_refill */
	/* What the database holds (msg_counts, read with the grants) and
	 * this node inserted since, per channel (name -> struct
	 * cl_count) and per owner (uid + 1 -> struct cl_count): the
	 * bounds on a channel's queue and an owner's messages hold
	 * across nodes (channel_queued, quota_set_elsewhere). */
	struct strmap *counts_ch;
	struct idmap *counts_uid;
} chan;

struct cl_count {
	uint64_t db;    /* at the last read */
	uint64_t since; /* this node's inserts since then */
};

static void channel_timed_cb(evutil_socket_t, short, void *);
static void channel_pump_cb(evutil_socket_t, short, void *);
static void channel_unflight(struct msg *);
static void channel_requeue(struct msg *);
static void channel_arm_timed(void);
static void channel_pump_later(struct channel *);
static int channel_load_acl_cb(const struct store_channel *, void *);
static void channel_counts_free(struct strmap *, struct idmap *);
static int channel_cluster_lock(const char *);

int
channel_init(struct event_base *base)
{
	memset(&chan, 0, sizeof chan);
	chan.base = base;
	TAILQ_INIT(&chan.pump_queue);
	chan.rand_state = (uint64_t)clock_now_ns(EVD_CLOCK_REALTIME) | 1;
	if ((chan.by_name = strmap_new()) == NULL ||
	    (chan.inflight = idmap_new()) == NULL ||
	    (chan.by_conn = idmap_new()) == NULL ||
	    (chan.owned = idmap_new()) == NULL ||
	    (chan.held = idmap_new()) == NULL ||
	    (chan.claimed_new = idmap_new()) == NULL ||
	    (chan.timed = timerq_new()) == NULL)
		return -ENOMEM;
	chan.timed_ev = evtimer_new(base, channel_timed_cb, NULL);
	chan.pump_ev = event_new(base, -1, 0, channel_pump_cb, NULL);
	if (chan.timed_ev == NULL || chan.pump_ev == NULL)
		return -ENOMEM;
	return 0;
}

static void
msg_free(struct msg *m)
{
	if (m == NULL)
		return;
	if (chan.held != NULL && idmap_get(chan.held, m->fire_id) == m)
		idmap_del(chan.held, m->fire_id);
	quota_release(m->owner, QUOTA_MESSAGE, m->payload_len);
	if (m->reason != NULL)
		quota_release(m->owner, QUOTA_BYTES, strlen(m->reason));
	free(m->reason);
	free(m->payload);
	free(m);
}

/*
 * Replaces m's reason with a copy of the first CHANNEL_REASON_MAX bytes
 * of reason (NULL: none), cut at a UTF-8 character's start. Counted
 * like the message itself, even past the quota: a failure is never
 * refused for its words. Returns 0 or -ENOMEM (m unchanged).
 */
static int
msg_set_reason(struct msg *m, const char *reason)
{
	size_t n;
	char *copy = NULL;

	if (reason != NULL) {
		n = strnlen(reason, CHANNEL_REASON_MAX);
		while (n > 0 && n < strlen(reason) &&
		       ((unsigned char)reason[n] & 0xc0) == 0x80)
			n--;
		if ((copy = malloc(n + 1)) == NULL)
			return -ENOMEM;
		memcpy(copy, reason, n);
		copy[n] = '\0';
		if (quota_add(m->owner, QUOTA_BYTES, n) < 0) {
			free(copy);
			return -ENOMEM;
		}
	}
	if (m->reason != NULL)
		quota_release(m->owner, QUOTA_BYTES, strlen(m->reason));
	free(m->reason);
	m->reason = copy;
	return 0;
}

/* Takes every message out of a channel and frees it. */
static void
channel_drop_messages(struct channel *ch)
{
	struct sub *s;
	struct msg *m;

	while ((m = TAILQ_FIRST(&ch->ready)) != NULL) {
		TAILQ_REMOVE(&ch->ready, m, link);
		msg_free(m);
	}
	while ((m = TAILQ_FIRST(&ch->dead)) != NULL) {
		TAILQ_REMOVE(&ch->dead, m, link);
		msg_free(m);
	}
	TAILQ_FOREACH(s, &ch->subs, link) {
		while ((m = TAILQ_FIRST(&s->inflight)) != NULL) {
			TAILQ_REMOVE(&s->inflight, m, link);
			idmap_del(chan.inflight, m->fire_id);
			timerq_remove(chan.timed, &m->tq);
			msg_free(m);
		}
		s->ninflight = 0;
	}
	chan.stats.queued -= ch->nready;
	chan.stats.inflight -= ch->ninflight;
	chan.stats.dead -= ch->ndead;
	ch->nready = ch->ninflight = ch->ndead = 0;
}

/* Frees every message waiting out a backoff (they are only in the timed
 * queue). */
static void
channel_drop_backoff(void)
{
	struct timerq *keep = timerq_new();
	struct timerq_node *n;

	while ((n = timerq_pop(chan.timed)) != NULL) {
		struct msg *m = MSG_OF(n);

		if (m->where == MSG_BACKOFF) {
			m->ch->nbackoff--;
			chan.stats.queued--;
			msg_free(m);
		} else if (keep == NULL || timerq_push(keep, n) < 0)
			/* Only in flight ones remain, which the caller frees
			 * next; losing their deadline is harmless then. */
			continue;
	}
	if (keep != NULL) {
		timerq_free(chan.timed);
		chan.timed = keep;
	}
}

void
channel_shutdown(void)
{
	struct conn_subs *cs;
	struct channel *ch;
	struct sub *s;
	size_t iter = 0;

	channel_drop_backoff();
	while ((ch = strmap_next(chan.by_name, &iter, NULL, NULL)) != NULL) {
		channel_drop_messages(ch);
		while ((s = TAILQ_FIRST(&ch->subs)) != NULL) {
			TAILQ_REMOVE(&ch->subs, s, link);
			free(s);
		}
		free(ch->grants);
		free(ch->name);
		free(ch);
	}
	iter = 0;
	while ((cs = idmap_next(chan.by_conn, &iter, NULL)) != NULL)
		free(cs);
	idmap_free(chan.owned);
	strmap_free(chan.by_name);
	idmap_free(chan.inflight);
	idmap_free(chan.by_conn);
	idmap_free(chan.held);
	idmap_free(chan.claimed_new);
	channel_counts_free(chan.counts_ch, chan.counts_uid);
	timerq_free(chan.timed);
	if (chan.timed_ev != NULL)
		event_free(chan.timed_ev);
	if (chan.pump_ev != NULL)
		event_free(chan.pump_ev);
	memset(&chan, 0, sizeof chan);
}

/* A decimal uid of n bytes, without a leading zero; not (uid_t)-1,
 * which no process has. */
static int
channel_parse_uid(const char *s, size_t n, uid_t *ret)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0 || n > 10 || (s[0] == '0' && n > 1))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v >= (uid_t)-1)
		return -EINVAL;
	*ret = (uid_t)v;
	return 0;
}

int
channel_name_canon(const char *in, uid_t asker, char *out)
{
	const char *name = in, *colon;
	uid_t owner = asker;
	int n;

	if (in == NULL)
		return -EINVAL;
	if ((colon = strchr(in, ':')) != NULL) {
		if (channel_parse_uid(in, (size_t)(colon - in), &owner) < 0)
			return -EINVAL;
		name = colon + 1;
	}
	if (!channel_name_valid(name))
		return -EINVAL;
	n = snprintf(out, CHANNEL_CANON_MAX + 1, "%u:%s", (unsigned)owner,
	             name);
	return n > 0 && n <= CHANNEL_CANON_MAX ? 0 : -EINVAL;
}

uid_t
channel_name_owner(const char *canon)
{
	const char *colon = strchr(canon, ':');
	uid_t uid;

	if (colon == NULL ||
	    channel_parse_uid(canon, (size_t)(colon - canon), &uid) < 0)
		return (uid_t)-1;
	return uid;
}

const char *
channel_display(const char *canon, uid_t viewer)
{
	const char *colon = strchr(canon, ':');

	/* A NAME with a colon in it (from a store older than namespaces)
	 * would read back as someone's UID: it keeps its full form. */
	if (colon == NULL || channel_name_owner(canon) != viewer ||
	    strchr(colon + 1, ':') != NULL)
		return canon;
	return colon + 1;
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
	ch->owner = channel_name_owner(name);
	if ((ch->name = strdup(name)) == NULL) {
		free(ch);
		return NULL;
	}
	TAILQ_INIT(&ch->ready);
	TAILQ_INIT(&ch->dead);
	TAILQ_INIT(&ch->subs);
	if (strmap_put(chan.by_name, name, len, ch) < 0) {
		free(ch->name);
		free(ch);
		return NULL;
	}
	chan.stats.channels++;
	return ch;
}

/* Frees a channel nobody uses any more, so that names a client makes up
 * do not accumulate. */
static void
channel_maybe_free(struct channel *ch)
{
	if (ch->owned || ch->nsubs > 0 || ch->nready > 0 || ch->nbackoff > 0 ||
	    ch->ninflight > 0 || ch->ndead > 0 || ch->pump_pending)
		return;
	strmap_del(chan.by_name, ch->name, strlen(ch->name));
	chan.stats.channels--;
	free(ch->grants);
	free(ch->name);
	free(ch);
}

/* The idmap value is the count itself (cast), never NULL while > 0. */
static size_t
channel_owned_count(uid_t uid)
{
	return (size_t)(uintptr_t)idmap_get(chan.owned, (uint64_t)uid + 1);
}

static int
channel_set_owned(struct channel *ch)
{
	size_t n = channel_owned_count(ch->owner);

	idmap_del(chan.owned, (uint64_t)ch->owner + 1);
	if (idmap_put(chan.owned, (uint64_t)ch->owner + 1,
	              (void *)(uintptr_t)(n + 1)) < 0)
		return -ENOMEM;
	ch->owned = true;
	return 0;
}

static void
channel_unset_owned(struct channel *ch)
{
	size_t n = channel_owned_count(ch->owner);

	if (!ch->owned)
		return;
	idmap_del(chan.owned, (uint64_t)ch->owner + 1);
	if (n > 1)
		idmap_put(chan.owned, (uint64_t)ch->owner + 1,
		          (void *)(uintptr_t)(n - 1));
	ch->owned = false;
}

/* Grants as the store keeps them: 6 bytes each (kind, rights, id LE). */
static int
channel_persist(struct channel *ch)
{
	uint8_t buf[CHANNEL_MAX_GRANTS * 6];
	struct store_channel sc;
	struct store *s;
	size_t i;
	int r;

	if ((s = batch_store()) == NULL)
		return -EAGAIN;
	for (i = 0; i < ch->ngrants; i++) {
		uint8_t *p = buf + 6 * i;

		p[0] = ch->grants[i].is_gid;
		p[1] = ch->grants[i].rights;
		p[2] = (uint8_t)ch->grants[i].id;
		p[3] = (uint8_t)(ch->grants[i].id >> 8);
		p[4] = (uint8_t)(ch->grants[i].id >> 16);
		p[5] = (uint8_t)(ch->grants[i].id >> 24);
	}
	sc.name = ch->name;
	sc.owner = ch->owner;
	sc.grants = buf;
	sc.grants_len = 6 * ch->ngrants;
	if ((r = batch_backend()->channel_put(s, &sc)) < 0) {
		batch_fail(r);
		return -EIO;
	}
	return 0;
}

static bool
channel_member(const struct channel_who *who, gid_t gid)
{
	size_t i;

	if (who->gid == gid)
		return true;
	for (i = 0; i < who->ngroups; i++)
		if (who->groups[i] == gid)
			return true;
	return false;
}

/* The rights who has on ch. */
static int
channel_rights(const struct channel *ch, const struct channel_who *who)
{
	int rights = 0;
	size_t i;

	if (who->uid == 0 || ch->owner == who->uid)
		return CHANNEL_RIGHT_SUBSCRIBE | CHANNEL_RIGHT_PUBLISH;
	for (i = 0; i < ch->ngrants; i++) {
		const struct grant *g = &ch->grants[i];

		if (g->is_gid ? channel_member(who, (gid_t)g->id)
		              : g->id == who->uid)
			rights |= g->rights;
	}
	return rights;
}

bool
channel_may_publish(const char *name, uid_t uid, gid_t gid)
{
	struct channel_who who = {uid, gid, NULL, 0};
	struct channel *ch = channel_get(name, false);
	size_t i;

	if (uid == 0 || channel_name_owner(name) == uid)
		return true;
	if (ch == NULL)
		return false;
	if ((channel_rights(ch, &who) & CHANNEL_RIGHT_PUBLISH) != 0)
		return true;
	/* A grant to a group uid may be in besides its primary one: which
	 * groups it has now would take NSS, which is not asked on the loop;
	 * such a grant is taken to still apply. */
	for (i = 0; i < ch->ngrants; i++)
		if (ch->grants[i].is_gid &&
		    (ch->grants[i].rights & CHANNEL_RIGHT_PUBLISH) != 0)
			return true;
	return false;
}

bool
channel_owned_by(const char *name, uid_t uid)
{
	return channel_name_owner(name) == uid;
}

int
channel_authorize(const char *name, const struct channel_who *who, int right,
                  bool *ret_wrote)
{
	struct channel *ch = channel_get(name, false);
	bool created = false;
	int r;

	uid_t owner = channel_name_owner(name);

	*ret_wrote = false;
	if (owner == (uid_t)-1)
		return -EINVAL;
	/* Cluster mode: another node may have made it (and granted rights
	 * on it) since the last read of the channels. */
	if (chan.cluster && (ch == NULL || !ch->owned)) {
		if ((r = channel_cluster_lock(name)) < 0)
			return r;
		ch = channel_get(name, false);
	}
	if (ch != NULL && ch->owned)
		return (channel_rights(ch, who) & right) == right ? 0 : -EACCES;
	/* Not yet in the store: nobody was granted anything on it, and
	 * only its owner (or root) brings it into being. */
	if (who->uid != 0 && who->uid != owner)
		return -EACCES;
	if (who->uid != 0 && channel_owned_count(owner) >= CHANNEL_MAX_PER_UID)
		return -EDQUOT;
	if (ch == NULL) {
		if ((ch = channel_get(name, true)) == NULL)
			return -ENOMEM;
		created = true;
	}
	if ((r = channel_set_owned(ch)) < 0 ||
	    (r = channel_persist(ch)) < 0) {
		/* The batch is lost or refused; memory forgets it too. */
		channel_unset_owned(ch);
		if (created)
			channel_maybe_free(ch);
		return r;
	}
	*ret_wrote = true;
	return 0;
}

/*
 * After a revoke: subscribers that may no longer subscribe are dropped
 * (their unacked messages go back to the queue), so a revoke takes effect
 * at once, not at the grantee's next connect.
 */
static void
channel_drop_unauthorized(struct channel *ch)
{
	struct sub *s, *next;
	struct msg *m;

	for (s = TAILQ_FIRST(&ch->subs); s != NULL; s = next) {
		struct conn *c = conn_lookup(s->conn_id);
		struct channel_who w;
		struct conn_subs *cs;
		struct conn_peer p;

		next = TAILQ_NEXT(s, link);
		if (c == NULL)
			continue;
		p = conn_peer_of(c);
		w.uid = p.uid;
		w.gid = p.gid;
		w.groups = p.groups;
		w.ngroups = p.ngroups;
		if ((channel_rights(ch, &w) & CHANNEL_RIGHT_SUBSCRIBE) != 0)
			continue;
		log_info("uid %u lost the right to subscribe to %s; "
		         "unsubscribing connection %" PRIu64,
		         (unsigned)w.uid, ch->name, s->conn_id);
		while ((m = TAILQ_LAST(&s->inflight, msg_list)) != NULL) {
			channel_unflight(m);
			channel_requeue(m);
		}
		TAILQ_REMOVE(&ch->subs, s, link);
		ch->nsubs--;
		if ((cs = idmap_get(chan.by_conn, s->conn_id)) != NULL)
			TAILQ_REMOVE(&cs->list, s, conn_link);
		free(s);
	}
	channel_arm_timed();
	channel_pump_later(ch);
}

int
channel_grant(const char *name, const struct channel_who *who, bool is_gid,
              uint32_t id, int rights, bool revoke, bool *ret_wrote)
{
	struct grant saved[CHANNEL_MAX_GRANTS], *g = NULL, *ng;
	size_t i, nsaved;
	struct channel *ch;
	int r;

	*ret_wrote = false;
	if (who->uid != 0 && who->uid != channel_name_owner(name))
		return -EACCES;
	/* Cluster mode: made, or granted, on another node since the last
	 * read of the channels? */
	if (chan.cluster && revoke &&
	    ((ch = channel_get(name, false)) == NULL || !ch->owned) &&
	    (r = channel_cluster_lock(name)) < 0)
		return r;
	/* Revoking on a channel nobody used takes nothing: it is not made
	 * for that. */
	if (revoke && ((ch = channel_get(name, false)) == NULL || !ch->owned))
		return 0;
	if ((r = channel_authorize(name, who, CHANNEL_RIGHT_SUBSCRIBE,
	                           ret_wrote)) < 0)
		return r;
	/* Cluster mode: the grants as the store has them, locked until the
	 * batch commits, so that no other node's grant is overwritten. */
	if (chan.cluster && (r = channel_cluster_lock(name)) < 0)
		return r;
	if ((ch = channel_get(name, false)) == NULL)
		return -ENOMEM; /* authorize made it */
	for (i = 0; i < ch->ngrants; i++)
		if (ch->grants[i].is_gid == is_gid && ch->grants[i].id == id)
			g = &ch->grants[i];
	if (g == NULL && revoke)
		return 0;
	if (g == NULL && ch->ngrants == CHANNEL_MAX_GRANTS)
		return -E2BIG;
	/* The list as it was, should the store refuse the new one: memory
	 * and the store then keep the same grants. */
	nsaved = ch->ngrants;
	if (nsaved > 0)
		memcpy(saved, ch->grants, nsaved * sizeof *saved);
	if (g == NULL) {
		ng = reallocarray(ch->grants, ch->ngrants + 1, sizeof *ng);
		if (ng == NULL)
			return -ENOMEM;
		ch->grants = ng;
		g = &ch->grants[ch->ngrants++];
		g->is_gid = is_gid;
		g->id = id;
		g->rights = 0;
	}
	g->rights = revoke ? (uint8_t)(g->rights & ~rights)
	                   : (uint8_t)(g->rights | rights);
	if (g->rights == 0) /* nothing left: the entry goes */
		*g = ch->grants[--ch->ngrants];
	if ((r = channel_persist(ch)) < 0) {
		if (nsaved > 0)
			memcpy(ch->grants, saved, nsaved * sizeof *saved);
		ch->ngrants = nsaved;
		return r;
	}
	if (revoke && (rights & CHANNEL_RIGHT_SUBSCRIBE) != 0)
		channel_drop_unauthorized(ch);
	return 0;
}

int
channel_info(const char *name, const struct channel_who *who,
             Evd__ChannelInfo *info, Evd__ChannelGrantEntry *grants,
             Evd__ChannelGrantEntry **ptrs)
{
	struct channel *ch = channel_get(name, false);
	size_t i;

	if (ch == NULL || !ch->owned || channel_rights(ch, who) == 0)
		return -ENOENT;
	evd__channel_info__init(info);
	info->channel = (char *)channel_display(ch->name, who->uid);
	info->has_owner_uid = true;
	info->owner_uid = ch->owner;
	for (i = 0; i < ch->ngrants; i++) {
		Evd__ChannelGrantEntry *e = &grants[i];

		evd__channel_grant_entry__init(e);
		if (ch->grants[i].is_gid) {
			e->who_case = EVD__CHANNEL_GRANT_ENTRY__WHO_GID;
			e->gid = ch->grants[i].id;
		} else {
			e->who_case = EVD__CHANNEL_GRANT_ENTRY__WHO_UID;
			e->uid = ch->grants[i].id;
		}
		e->has_subscribe = e->has_publish = true;
		e->subscribe = (ch->grants[i].rights & CHANNEL_RIGHT_SUBSCRIBE) != 0;
		e->publish = (ch->grants[i].rights & CHANNEL_RIGHT_PUBLISH) != 0;
		ptrs[i] = e;
	}
	info->n_grants = ch->ngrants;
	info->grants = ptrs;
	info->has_queued_messages = info->has_inflight_messages = true;
	info->queued_messages = ch->nready + ch->nbackoff;
	info->inflight_messages = ch->ninflight;
	info->has_dead_messages = info->has_subscribers = true;
	info->dead_messages = ch->ndead;
	info->subscribers = (uint32_t)ch->nsubs;
	return 0;
}

static int
channel_load_acl_cb(const struct store_channel *sc, void *arg)
{
	struct channel *ch;
	size_t i, n = sc->grants_len / 6;

	/* The name says whose it is; a row that disagrees was not
	 * written by this version and is left in the store unused. */
	if (channel_name_owner(sc->name) == (uid_t)-1 ||
	    channel_name_owner(sc->name) != sc->owner ||
	    !channel_name_valid(strchr(sc->name, ':') + 1) ||
	    n > CHANNEL_MAX_GRANTS) {
		/* arg non-NULL: a cluster node's periodic re-read, which said
		 * so when it loaded the store at start. */
		if (arg == NULL)
			log_warnx("store: channel row %s (owner %u) is not "
			          "usable; ignored",
			          sc->name, (unsigned)sc->owner);
		return 0;
	}
	if ((ch = channel_get(sc->name, true)) == NULL)
		return -ENOMEM;
	if (!ch->owned && channel_set_owned(ch) < 0)
		return -ENOMEM;
	free(ch->grants);
	ch->grants = NULL;
	ch->ngrants = 0;
	if (n > 0 && (ch->grants = calloc(n, sizeof *ch->grants)) == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		const uint8_t *p = sc->grants + 6 * i;

		ch->grants[i].is_gid = p[0] != 0;
		ch->grants[i].rights = p[1];
		ch->grants[i].id = (uint32_t)p[2] | (uint32_t)p[3] << 8 |
		                   (uint32_t)p[4] << 16 | (uint32_t)p[5] << 24;
	}
	ch->ngrants = n;
	return 0;
}

size_t
channel_queued(const char *name)
{
	struct channel *ch = channel_get(name, false);
	size_t n = ch == NULL ? 0 : ch->nready + ch->nbackoff;
	const struct cl_count *c;

	/* Cluster mode: what the database holds, which no node's memory
	 * shows (unclaimed messages, other nodes' claims). */
	if (chan.cluster && chan.counts_ch != NULL &&
	    (c = strmap_get(chan.counts_ch, name, strlen(name))) != NULL &&
	    c->db + c->since > n)
		n = (size_t)(c->db + c->since);
	return n;
}

static void
channel_arm_timed(void)
{
	struct timerq_node *n = timerq_peek(chan.timed);
	struct timeval tv;
	int64_t d;

	if (n == NULL) {
		evtimer_del(chan.timed_ev);
		chan.timed_armed_ns = 0;
		return;
	}
	if (chan.timed_armed_ns != 0 && chan.timed_armed_ns == n->deadline_ns)
		return;
	d = n->deadline_ns - clock_now_ns(EVD_CLOCK_MONOTONIC);
	if (d < 0)
		d = 0;
	/* Rounded up: a redelivery never happens before its time. */
	tv.tv_sec = d / 1000000000;
	tv.tv_usec = (d % 1000000000 + 999) / 1000;
	evtimer_add(chan.timed_ev, &tv);
	chan.timed_armed_ns = n->deadline_ns;
}

static void
channel_pump_later(struct channel *ch)
{
	if (ch->pump_pending)
		return;
	ch->pump_pending = true;
	TAILQ_INSERT_TAIL(&chan.pump_queue, ch, pump_link);
	event_active(chan.pump_ev, 0, 0);
}

/* A message as the Fired event its receiver (viewer) gets: built by
 * deliver_fill_fired like every Fired, the channel named as viewer
 * writes it. */
static void
channel_fill_fired(const struct msg *m, uid_t viewer, Evd__Fired *f)
{
	struct fire fi;

	memset(&fi, 0, sizeof fi);
	fi.timer_id = m->timer_id;
	fi.fire_id = m->fire_id;
	fi.payload = m->payload;
	fi.payload_len = m->payload_len;
	fi.due_rt_ns = m->due_rt_ns;
	fi.fired_rt_ns = m->fired_rt_ns;
	fi.lateness_ns = m->lateness_ns;
	deliver_fill_fired(f, &fi, channel_display(m->ch->name, viewer),
	                   m->attempts);
	f->reason = m->reason;
}

/* Sends m to c as a Fired event, written as viewer sees it; as
 * conn_send (a failure closes c). */
static int
channel_send_fired(struct conn *c, const struct msg *m, uid_t viewer)
{
	Evd__Reply reply = EVD__REPLY__INIT;
	Evd__Fired fired;

	channel_fill_fired(m, viewer, &fired);
	reply.body_case = EVD__REPLY__BODY_FIRED;
	reply.fired = &fired;
	return conn_send(c, &reply);
}


/* Records a run of a message's timer; failures lose the batch. */
static int
channel_record(struct store *s, const struct msg *m, int outcome,
               const char *detail)
{
	struct store_run run = {
		.timer_id = m->timer_id,
		.fire_id = m->fire_id,
		.due_rt_ns = m->due_rt_ns,
		.fired_rt_ns = m->fired_rt_ns,
		.lateness_ns = m->lateness_ns,
		.outcome = outcome,
		.detail = detail,
	};
	int r = batch_backend()->run_append(s, &run);

	if (r < 0)
		batch_fail(r);
	return r;
}

/* Writes a message's attempts and dead flag. */
static int
channel_store_update(struct store *s, const struct msg *m, bool dead)
{
	struct store_msg sm;
	int r;

	memset(&sm, 0, sizeof sm);
	sm.fire_id = m->fire_id;
	sm.timer_id = m->timer_id;
	sm.owner = m->owner;
	sm.channel = m->ch->name;
	sm.payload = m->payload;
	sm.payload_len = m->payload_len;
	sm.due_rt_ns = m->due_rt_ns;
	sm.fired_rt_ns = m->fired_rt_ns;
	sm.lateness_ns = m->lateness_ns;
	sm.attempts = m->attempts;
	sm.max_attempts = m->max_attempts;
	sm.delivery = m->delivery;
	sm.dead = dead;
	sm.reason = m->reason;
	sm.fence = m->fence;
	/* -ESTALE (cluster mode: the claim is lost) is the caller's to
	 * deal with; nothing of the batch failed. */
	if ((r = batch_backend()->update_msg(s, &sm)) < 0 && r != -ESTALE)
		batch_fail(r);
	return r;
}

/* Deletes m from the store (acked, purged, delivered at most once): in
 * cluster mode fenced, -ESTALE when this node's claim on it is lost. */
static int
channel_store_ack(struct store *s, const struct msg *m)
{
	if (chan.cluster)
		return batch_backend()->msg_ack(s, m->fire_id, m->fence);
	return batch_backend()->ack(s, m->fire_id);
}

/* Cluster mode: m's claim is lost (another node has it, or will): it
 * leaves memory wherever it is, uncounted as a delivery. */
static void
channel_forget(struct msg *m)
{
	struct channel *ch = m->ch;

	switch (m->where) {
	case MSG_READY:
		TAILQ_REMOVE(&ch->ready, m, link);
		ch->nready--;
		chan.stats.queued--;
		break;
	case MSG_BACKOFF:
		timerq_remove(chan.timed, &m->tq);
		ch->nbackoff--;
		chan.stats.queued--;
		break;
	case MSG_INFLIGHT:
		channel_unflight(m);
		break;
	case MSG_DEAD:
		TAILQ_REMOVE(&ch->dead, m, link);
		ch->ndead--;
		chan.stats.dead--;
		break;
	case MSG_SENDING:
		break;
	}
	msg_free(m);
	channel_pump_later(ch); /* frees it if nothing is left */
}

/* Cluster mode: m's claim was found lost when its delivery's write was
 * judged (how: "" or " (at most once)"); another node delivers it, this
 * one never sent it, and forgets it. */
static void
channel_lost_delivery(struct msg *m, const char *how)
{
	chan.claims_lost++;
	log_about(LOG_LEVEL_INFO,
		  &(struct log_about){.timer_id = m->timer_id,
		                      .fire_id = m->fire_id,
		                      .channel = m->ch->name},
		  "fire %" PRIu64 " on %s: not delivered%s: this node's claim "
		  "on it was lost",
		  m->fire_id, m->ch->name, how);
	channel_forget(m);
}

/* Appends g to l; -ENOMEM. */
static int
channel_gather(struct gather_list *l, const struct gathered *g)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct gathered *v = reallocarray(l->v, cap, sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = *g;
	return 0;
}

/*
 * Sends one ready message to a subscriber. At-least-once: it goes in
 * flight until acked. At-most-once: it is removed from the store in this
 * batch and freed once sent. Returns 0, or < 0 if the message went back to
 * the queue (store refusing, or the connection failed).
 */
static int
channel_send(struct sub *s, struct conn *c, struct msg *m)
{
	struct channel *ch = s->ch;
	struct store *st;
	int r;

	TAILQ_REMOVE(&ch->ready, m, link);
	ch->nready--;
	chan.stats.queued--;
	m->attempts++;
	/* Cluster mode: its fenced delete is gathered with the turn's acks
	 * and judged at the commit, and it is sent then if the delete was
	 * kept: a batch lost after an early send would put the row back
	 * for a second delivery. */
	if (m->delivery == EVD_DELIVERY_AT_MOST_ONCE && chan.cluster) {
		if ((st = batch_store()) == NULL ||
		    channel_record(st, m, EVD_RUN_DELIVERED,
		                   "delivered at most once") < 0 ||
		    channel_gather(&chan.ak, &(struct gathered){
		        .fire_id = m->fire_id, .fence = m->fence,
		        .conn_id = s->conn_id, .attempts = m->attempts,
		        .uid = s->uid, .amo = true }) < 0) {
			m->attempts--;
			TAILQ_INSERT_HEAD(&ch->ready, m, link);
			ch->nready++;
			chan.stats.queued++;
			return -EAGAIN;
		}
		m->where = MSG_SENDING;
		return 0;
	}
	if (m->delivery == EVD_DELIVERY_AT_MOST_ONCE) {
		if ((st = batch_store()) != NULL &&
		    (r = channel_store_ack(st, m)) == -ESTALE) {
			/* Another node's now: it delivers it, not this one
			 * (m is in no list any more). */
			chan.claims_lost++;
			msg_free(m);
			return 0;
		}
		if (st == NULL || r < 0 ||
		    channel_record(st, m, EVD_RUN_DELIVERED,
		                   "delivered at most once") < 0) {
			m->attempts--;
			TAILQ_INSERT_HEAD(&ch->ready, m, link);
			ch->nready++;
			chan.stats.queued++;
			return -EAGAIN;
		}
		r = channel_send_fired(c, m, s->uid);
		msg_free(m);
		return r;
	}
	/* Cluster mode: the delivery is counted in the store before it
	 * leaves, so that a redelivery on another node counts on; a claim
	 * found lost (or run out: a lapsed lease) is another node's to
	 * deliver, not this one's. Gathered with the turn's others and
	 * judged at the commit: channel_cluster_batch_end sends it then,
	 * or forgets it, never both. */
	if (chan.cluster && ((st = batch_store()) == NULL ||
	                     (r = channel_gather(&chan.dl, &(struct gathered){
	                          .fire_id = m->fire_id, .fence = m->fence,
	                          .conn_id = s->conn_id,
	                          .attempts = m->attempts })) < 0)) {
		m->attempts--;
		TAILQ_INSERT_HEAD(&ch->ready, m, link);
		ch->nready++;
		chan.stats.queued++;
		return -EAGAIN;
	}
	if ((r = idmap_put(chan.inflight, m->fire_id, m)) < 0) {
		m->attempts--;
		TAILQ_INSERT_HEAD(&ch->ready, m, link);
		ch->nready++;
		chan.stats.queued++;
		return r;
	}
	/* In flight before sending: if conn_send closes the conn,
	 * channel_conn_gone finds it there and requeues it. */
	m->where = MSG_INFLIGHT;
	m->sub = s;
	m->tq.deadline_ns = clock_now_ns(EVD_CLOCK_MONOTONIC) + s->visibility_ns;
	m->tq.seq = m->fire_id;
	if (timerq_push(chan.timed, &m->tq) < 0)
		/* Without a visibility deadline it is still redelivered when
		 * its subscriber leaves. */
		log_warnx("fire %" PRIu64 ": no memory for its visibility "
		          "timeout", m->fire_id);
	TAILQ_INSERT_TAIL(&s->inflight, m, link);
	s->ninflight++;
	ch->ninflight++;
	chan.stats.inflight++;
	if (m->attempts > 1)
		chan.stats.redelivered_total++;
	channel_arm_timed();
	if (chan.cluster)
		return 0; /* sent once its commit judged it */
	return channel_send_fired(c, m, s->uid);
}

/* Delivers ready messages to subscribers with room, round robin. */
static void
channel_pump(struct channel *ch)
{
	size_t tried = 0;
	struct sub *s;

	while (!TAILQ_EMPTY(&ch->ready) && (s = TAILQ_FIRST(&ch->subs)) != NULL) {
		struct conn *c = conn_lookup(s->conn_id);

		/* Rotate: the next message goes to the next subscriber. */
		TAILQ_REMOVE(&ch->subs, s, link);
		TAILQ_INSERT_TAIL(&ch->subs, s, link);
		if (c == NULL || conn_closing(c) ||
		    s->ninflight >= s->max_inflight || conn_congested(c)) {
			if (++tried >= ch->nsubs)
				return; /* nobody has room */
			continue;
		}
		tried = 0;
		/* On failure the message is back in the queue (or requeued
		 * by channel_conn_gone when conn_send closed the conn). */
		if (channel_send(s, c, TAILQ_FIRST(&ch->ready)) < 0)
			return;
	}
}

static struct msg *
msg_from_fire(const struct channel_fire *f, struct channel *ch)
{
	struct msg *m;

	if ((m = calloc(1, sizeof *m)) == NULL)
		return NULL;
	/* Counted even past the quota: the timer was admitted, and a fire
	 * is never dropped; the quota refuses new timers instead. */
	if (quota_add(f->owner, QUOTA_MESSAGE, f->payload_len) < 0) {
		free(m);
		return NULL;
	}
	if (f->payload_len > 0) {
		if ((m->payload = malloc(f->payload_len)) == NULL) {
			quota_release(f->owner, QUOTA_MESSAGE, f->payload_len);
			free(m);
			return NULL;
		}
		memcpy(m->payload, f->payload, f->payload_len);
		m->payload_len = f->payload_len;
	}
	timerq_node_init(&m->tq);
	m->fire_id = f->fire_id;
	m->timer_id = f->timer_id;
	m->owner = f->owner;
	m->due_rt_ns = f->due_realtime_ns;
	m->fired_rt_ns = f->fired_realtime_ns;
	m->lateness_ns = f->lateness_ns;
	m->attempts = f->attempts;
	m->max_attempts = f->max_attempts != 0 ? f->max_attempts
	                                       : CHANNEL_DEFAULT_MAX_ATTEMPTS;
	m->delivery = (uint8_t)f->delivery;
	m->ch = ch;
	m->fence = f->fence;
	if (f->reason != NULL && msg_set_reason(m, f->reason) < 0) {
		msg_free(m);
		return NULL;
	}
	if (chan.cluster && idmap_put(chan.held, m->fire_id, m) < 0) {
		msg_free(m);
		return NULL;
	}
	return m;
}

int
channel_publish(const struct channel_fire *f)
{
	struct channel_fire cf;
	struct channel *ch;
	struct msg *m;

	if (chan.cluster) {
		/* A fire of this node, claimed as it was inserted. */
		if (f->fence == 0 &&
		    idmap_del(chan.claimed_new, f->fire_id) != NULL) {
			cf = *f;
			cf.fence = 1;
			f = &cf;
		}
		/* Unclaimed: it waits in the store for a node that claims
		 * it (perhaps this one, at its next claim tick). */
		if (f->fence == 0)
			return 0;
		/* Claimed again while held (its lease had lapsed): the same
		 * message, under the new claim. */
		if ((m = idmap_get(chan.held, f->fire_id)) != NULL) {
			m->fence = f->fence;
			return 0;
		}
	}
	if ((ch = channel_get(f->channel, true)) == NULL)
		return -ENOMEM;
	if ((m = msg_from_fire(f, ch)) == NULL) {
		channel_maybe_free(ch);
		return -ENOMEM;
	}
	if (f->dead) {
		m->where = MSG_DEAD;
		TAILQ_INSERT_TAIL(&ch->dead, m, link);
		ch->ndead++;
		chan.stats.dead++;
		return 0;
	}
	m->where = MSG_READY;
	TAILQ_INSERT_TAIL(&ch->ready, m, link);
	ch->nready++;
	chan.stats.queued++;
	channel_pump(ch);
	return 0;
}

int
channel_subscribe(uint64_t conn_id, uid_t uid, const char *name,
                  int64_t visibility_ns, uint32_t max_inflight)
{
	struct conn_subs *cs;
	struct channel *ch;
	struct sub *s;

	if (max_inflight == 0 || max_inflight > CHANNEL_PREFETCH)
		max_inflight = CHANNEL_PREFETCH;
	if (visibility_ns <= 0)
		visibility_ns = CHANNEL_VISIBILITY_NS;
	if (visibility_ns > CHANNEL_MAX_VISIBILITY_NS)
		visibility_ns = CHANNEL_MAX_VISIBILITY_NS;
	if ((ch = channel_get(name, true)) == NULL)
		return -ENOMEM;
	TAILQ_FOREACH(s, &ch->subs, link)
		if (s->conn_id == conn_id) {
			s->visibility_ns = visibility_ns;
			s->max_inflight = max_inflight;
			/* A larger bound may make room now. */
			channel_pump_later(ch);
			return 0;
		}
	if ((cs = idmap_get(chan.by_conn, conn_id)) == NULL) {
		if ((cs = malloc(sizeof *cs)) == NULL)
			goto nomem;
		TAILQ_INIT(&cs->list);
		if (idmap_put(chan.by_conn, conn_id, cs) < 0) {
			free(cs);
			goto nomem;
		}
	}
	if ((s = calloc(1, sizeof *s)) == NULL)
		goto nomem; /* an empty cs is freed with its conn */
	s->conn_id = conn_id;
	s->uid = uid;
	s->ch = ch;
	s->visibility_ns = visibility_ns;
	s->max_inflight = max_inflight;
	TAILQ_INIT(&s->inflight);
	TAILQ_INSERT_TAIL(&ch->subs, s, link);
	TAILQ_INSERT_TAIL(&cs->list, s, conn_link);
	ch->nsubs++;
	/* Deliver on the next loop turn, so the Subscribed reply precedes
	 * the messages it releases. */
	channel_pump_later(ch);
	return 0;
nomem:
	channel_maybe_free(ch);
	return -ENOMEM;
}

static void
channel_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	struct channel *ch;

	while ((ch = TAILQ_FIRST(&chan.pump_queue)) != NULL) {
		TAILQ_REMOVE(&chan.pump_queue, ch, pump_link);
		ch->pump_pending = false;
		channel_pump(ch);
		channel_maybe_free(ch);
	}
}

/* Takes m out of flight (it is then the caller's). */
static void
channel_unflight(struct msg *m)
{
	struct sub *s = m->sub;

	idmap_del(chan.inflight, m->fire_id);
	TAILQ_REMOVE(&s->inflight, m, link);
	timerq_remove(chan.timed, &m->tq);
	s->ninflight--;
	m->ch->ninflight--;
	chan.stats.inflight--;
	m->sub = NULL;
}

/* Puts m back at the front of its channel's queue. */
static void
channel_requeue(struct msg *m)
{
	struct channel *ch = m->ch;

	m->where = MSG_READY;
	TAILQ_INSERT_HEAD(&ch->ready, m, link);
	ch->nready++;
	chan.stats.queued++;
}

int
channel_ack(uint64_t conn_id, uint64_t fire_id)
{
	struct msg *m = idmap_get(chan.inflight, fire_id);
	struct channel *ch;
	struct store *s;
	int r;

	if (m == NULL || m->sub->conn_id != conn_id || m->acking)
		return -ENOENT;
	if ((s = batch_store()) == NULL)
		return -EAGAIN;
	r = channel_store_ack(s, m);
	if (r == -ESTALE) {
		/* Cluster mode: this node lost its claim (its lease lapsed, a
		 * peer reaped it): the ack cannot hold, another node delivers
		 * it again; the subscriber hears so. */
		chan.claims_lost++;
		log_about(LOG_LEVEL_INFO,
			  &(struct log_about){.timer_id = m->timer_id,
			                      .fire_id = fire_id,
			                      .channel = m->ch->name},
			  "fire %" PRIu64 " on %s: not acked: this node's claim "
			  "on it was lost; another node delivers it again",
			  fire_id, m->ch->name);
		channel_forget(m);
		channel_arm_timed();
		return -ESTALE;
	}
	if (r < 0 && r != -ENOENT) {
		batch_fail(r);
		return -EIO;
	}
	if (channel_record(s, m, EVD_RUN_ACKED, NULL) < 0)
		return -EIO;
	ch = m->ch;
	channel_unflight(m);
	channel_arm_timed();
	log_about(LOG_LEVEL_INFO,
		  &(struct log_about){.timer_id = m->timer_id,
		                      .fire_id = fire_id,
		                      .uid = m->owner,
		                      .has_uid = true,
		                      .channel = ch->name},
		  "timer %" PRIu64 " (uid %u) fire %" PRIu64 ": acked on %s "
		  "after %u deliveries",
		  m->timer_id, (unsigned)m->owner, fire_id, ch->name,
		  m->attempts);
	msg_free(m);
	channel_pump(ch);
	channel_maybe_free(ch);
	return 0;
}

int
channel_inflight(uint64_t conn_id, uint64_t fire_id, struct channel_fire *ret)
{
	struct msg *m = idmap_get(chan.inflight, fire_id);

	if (m == NULL || m->sub->conn_id != conn_id || m->acking)
		return -ENOENT;
	memset(ret, 0, sizeof *ret);
	ret->channel = m->ch->name;
	ret->owner = m->owner;
	ret->timer_id = m->timer_id;
	ret->fire_id = m->fire_id;
	ret->payload = m->payload;
	ret->payload_len = m->payload_len;
	ret->due_realtime_ns = m->due_rt_ns;
	ret->fired_realtime_ns = m->fired_rt_ns;
	ret->lateness_ns = m->lateness_ns;
	ret->delivery = m->delivery;
	ret->max_attempts = m->max_attempts;
	ret->attempts = m->attempts;
	return 0;
}

/* Ends subscription s (of cs): its unacked messages go back to the
 * front of the queue, and the channel is pumped on the next loop turn
 * (not now: this may run inside conn_flush_all). The caller re-arms the
 * timed queue. */
static void
channel_sub_end(struct conn_subs *cs, struct sub *s)
{
	struct channel *ch = s->ch;
	struct msg *m;

	/* Newest first, each to the head: the queue keeps the original
	 * order. */
	while ((m = TAILQ_LAST(&s->inflight, msg_list)) != NULL) {
		channel_unflight(m);
		channel_requeue(m);
	}
	TAILQ_REMOVE(&cs->list, s, conn_link);
	TAILQ_REMOVE(&ch->subs, s, link);
	ch->nsubs--;
	free(s);
	channel_pump_later(ch);
}

int
channel_unsubscribe(uint64_t conn_id, const char *name)
{
	struct conn_subs *cs = idmap_get(chan.by_conn, conn_id);
	struct sub *s;

	if (cs == NULL)
		return 0;
	TAILQ_FOREACH(s, &cs->list, conn_link)
		if (strcmp(s->ch->name, name) == 0)
			break;
	if (s == NULL)
		return 0;
	/* An empty cs stays until the connection goes, as after a failed
	 * subscribe. */
	channel_sub_end(cs, s);
	channel_arm_timed();
	return 1;
}

void
channel_conn_gone(uint64_t conn_id)
{
	struct conn_subs *cs = idmap_del(chan.by_conn, conn_id);
	struct sub *s;

	if (cs == NULL)
		return;
	while ((s = TAILQ_FIRST(&cs->list)) != NULL)
		channel_sub_end(cs, s);
	channel_arm_timed();
	free(cs);
}

void
channel_conn_drained(uint64_t conn_id)
{
	struct conn_subs *cs = idmap_get(chan.by_conn, conn_id);
	struct sub *s;

	if (cs == NULL)
		return;
	TAILQ_FOREACH(s, &cs->list, conn_link)
		channel_pump_later(s->ch);
}

static int64_t
channel_backoff_ns(uint32_t attempts)
{
	int64_t d = CHANNEL_BACKOFF_BASE_NS;
	uint64_t x;

	while (attempts-- > 1 && d < CHANNEL_BACKOFF_MAX_NS)
		d *= 2;
	if (d > CHANNEL_BACKOFF_MAX_NS)
		d = CHANNEL_BACKOFF_MAX_NS;
	/* xorshift64: jitter needs no cryptographic quality. */
	x = chan.rand_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	chan.rand_state = x;
	return d / 10 * 8 + (int64_t)(x % (uint64_t)(d / 10 * 4 + 1));
}

/* A message's visibility timeout ended unacked: back off and redeliver,
 * or, after max_attempts deliveries, move it to the dead letters. */
static void
channel_expired(struct msg *m, int64_t now)
{
	struct channel *ch = m->ch;
	struct store *s = batch_store();

	channel_unflight(m);
	/* Out of memory, the reason before stays: a stale word beats a
	 * message held back. */
	(void)msg_set_reason(m, "not acked within the visibility timeout");
	if (m->attempts >= m->max_attempts) {
		if (s != NULL && channel_store_update(s, m, true) == 0 &&
		    channel_record(s, m, EVD_RUN_DEAD_LETTERED,
		                   "max_attempts deliveries without an ack") ==
		            0) {
			log_about(LOG_LEVEL_INFO,
				  &(struct log_about){.timer_id = m->timer_id,
			                              .fire_id = m->fire_id,
			                              .channel = ch->name},
				  "fire %" PRIu64 " of timer %" PRIu64 " on %s "
				  "dead-lettered after %u deliveries",
				  m->fire_id, m->timer_id, ch->name,
				  m->attempts);
			m->where = MSG_DEAD;
			TAILQ_INSERT_TAIL(&ch->dead, m, link);
			ch->ndead++;
			chan.stats.dead++;
			return;
		}
		/* The store cannot take it now: try again after a backoff. */
	} else if (s != NULL) {
		/* Attempts are recorded for the run history; losing the
		 * count in a crash only grants a few more deliveries. */
		channel_store_update(s, m, false);
		channel_record(s, m, EVD_RUN_REDELIVERED,
		               "not acked within the visibility timeout");
	}
	m->where = MSG_BACKOFF;
	m->tq.deadline_ns = now + channel_backoff_ns(m->attempts);
	if (timerq_push(chan.timed, &m->tq) < 0) {
		channel_requeue(m); /* no memory to wait: redeliver now */
		channel_pump(ch);
		return;
	}
	ch->nbackoff++;
	chan.stats.queued++;
}

int
channel_reject(uint64_t conn_id, uint64_t fire_id, const char *reason,
               bool dead_letter, bool *ret_dead, int64_t *ret_backoff_ns)
{
	struct msg *m = idmap_get(chan.inflight, fire_id);
	char detail[CHANNEL_REASON_MAX + 16];
	int64_t backoff_ns = 0;
	struct channel *ch;
	struct store *s;
	bool dead;

	if (m == NULL || m->sub->conn_id != conn_id || m->acking)
		return -ENOENT;
	if ((s = batch_store()) == NULL)
		return -EAGAIN;
	/* Memory changes ahead of the store here: a batch that fails is
	 * rebuilt from the store (batch.h), this reason with it. */
	if (msg_set_reason(m, reason != NULL ? reason : "") < 0)
		return -ENOMEM;
	dead = dead_letter || m->attempts >= m->max_attempts;
	snprintf(detail, sizeof detail, "rejected: %s", m->reason);
	if (channel_store_update(s, m, dead) < 0 ||
	    channel_record(s, m,
	                   dead ? EVD_RUN_DEAD_LETTERED
	                        : EVD_RUN_REDELIVERED,
	                   detail) < 0)
		return -EIO;
	ch = m->ch;
	channel_unflight(m);
	if (dead) {
		m->where = MSG_DEAD;
		TAILQ_INSERT_TAIL(&ch->dead, m, link);
		ch->ndead++;
		chan.stats.dead++;
	} else {
		backoff_ns = channel_backoff_ns(m->attempts);
		m->where = MSG_BACKOFF;
		m->tq.deadline_ns =
		    clock_now_ns(EVD_CLOCK_MONOTONIC) + backoff_ns;
		if (timerq_push(chan.timed, &m->tq) < 0) {
			channel_requeue(m); /* no memory to wait: now */
			backoff_ns = 0;
		} else {
			ch->nbackoff++;
			chan.stats.queued++;
		}
	}
	channel_arm_timed();
	log_about(LOG_LEVEL_INFO,
		  &(struct log_about){.timer_id = m->timer_id,
		                      .fire_id = fire_id,
		                      .uid = m->owner,
		                      .has_uid = true,
		                      .channel = ch->name},
		  "timer %" PRIu64 " (uid %u) fire %" PRIu64 ": rejected on %s "
		  "after %u deliveries%s",
		  m->timer_id, (unsigned)m->owner, fire_id, ch->name,
		  m->attempts, dead ? "; dead-lettered" : "");
	/* The subscriber has room again. */
	channel_pump(ch);
	*ret_dead = dead;
	*ret_backoff_ns = backoff_ns;
	return 0;
}

static void
channel_timed_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = clock_now_ns(EVD_CLOCK_MONOTONIC);
	struct timerq_node *n;

	chan.timed_armed_ns = 0;
	while ((n = timerq_peek(chan.timed)) != NULL && n->deadline_ns <= now) {
		struct msg *m = MSG_OF(n);
		struct channel *ch = m->ch;

		if (m->where == MSG_INFLIGHT) {
			channel_expired(m, now);
			continue;
		}
		/* Backoff over: ready again, at the back of the queue. */
		timerq_pop(chan.timed);
		ch->nbackoff--;
		m->where = MSG_READY;
		TAILQ_INSERT_TAIL(&ch->ready, m, link);
		ch->nready++;
		channel_pump(ch);
	}
	channel_arm_timed();
}

static int
channel_load_cb(const struct store_msg *sm, void *arg)
{
	struct channel_fire f;

	/* A name no client could write (a store that was not migrated by
	 * this version) could be neither subscribed to nor purged: such a
	 * message is left in the store, and counted for one warning. */
	if (sm->channel == NULL || channel_name_owner(sm->channel) == (uid_t)-1 ||
	    !channel_name_valid(strchr(sm->channel, ':') + 1)) {
		chan.unloadable++;
		return 0;
	}
	memset(&f, 0, sizeof f);
	f.channel = sm->channel;
	f.owner = sm->owner;
	f.timer_id = sm->timer_id;
	f.fire_id = sm->fire_id;
	f.payload = sm->payload;
	f.payload_len = sm->payload_len;
	f.due_realtime_ns = sm->due_rt_ns;
	f.fired_realtime_ns = sm->fired_rt_ns;
	f.lateness_ns = sm->lateness_ns;
	f.delivery = sm->delivery;
	f.max_attempts = sm->max_attempts;
	f.attempts = sm->attempts;
	f.dead = sm->dead;
	f.reason = sm->reason;
	f.fence = sm->fence;
	(*(size_t *)arg)++;
	return channel_publish(&f);
}

int
channel_reload(const struct store_backend *be, struct store *s)
{
	struct channel *ch;
	size_t iter = 0, n = 0;
	int r;

	channel_drop_backoff();
	while ((ch = strmap_next(chan.by_name, &iter, NULL, NULL)) != NULL)
		channel_drop_messages(ch);
	/* Fires claimed at insert in a batch that was lost: their rows are
	 * gone with it. */
	if (chan.claimed_new != NULL && idmap_size(chan.claimed_new) > 0) {
		idmap_free(chan.claimed_new);
		if ((chan.claimed_new = idmap_new()) == NULL)
			return -ENOMEM;
	}
	/* Delivery waits for the next loop turn (publish pumps only into
	 * subscribers, which a restart has none of, and a reload's
	 * deliveries belong to the next batch). */
	/* Ownership claimed in a batch that was rolled back must not
	 * survive in memory: the store's rows are the truth. */
	iter = 0;
	while ((ch = strmap_next(chan.by_name, &iter, NULL, NULL)) != NULL) {
		ch->owned = false;
		free(ch->grants);
		ch->grants = NULL;
		ch->ngrants = 0;
	}
	idmap_free(chan.owned);
	if ((chan.owned = idmap_new()) == NULL)
		return -ENOMEM;
	if ((r = be->load_channels(s, channel_load_acl_cb, NULL)) < 0)
		return r;
	chan.unloadable = 0;
	r = be->load_messages(s, channel_load_cb, &n);
	if (chan.unloadable > 0)
		log_warnx("store: %zu channel messages name no channel a "
		          "client could use; they stay in the store, unloaded",
		          chan.unloadable);
	iter = 0;
	while ((ch = strmap_next(chan.by_name, &iter, NULL, NULL)) != NULL)
		if (ch->nsubs > 0)
			channel_pump_later(ch);
	channel_arm_timed();
	if (n > 0)
		log_info("loaded %zu channel messages", n);
	return r;
}

/* Dead letters uid may list, requeue and purge: its own, and on a
 * channel it owns everyone's (what others sent into it); root: all. */
static bool
channel_sees(uid_t uid, const struct channel *ch, const struct msg *m)
{
	return uid == 0 || m->owner == uid || (ch->owned && ch->owner == uid);
}

long
channel_peek(uid_t uid, const char *name, Evd__Fired *out, size_t max,
             bool *ret_more)
{
	struct channel *ch = channel_get(name, false);
	struct msg *m;
	size_t n = 0;

	*ret_more = false;
	if (ch == NULL)
		return -ENOENT;
	TAILQ_FOREACH(m, &ch->ready, link) {
		if (!channel_sees(uid, ch, m))
			continue;
		if (n == max) {
			*ret_more = true;
			break;
		}
		channel_fill_fired(m, uid, &out[n++]);
	}
	return (long)n;
}

static int
channel_name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

long
channel_list(const struct channel_who *who, const char *after,
             const char **ret, size_t max, bool *ret_more)
{
	const char **all = NULL, **grown;
	struct channel *ch;
	size_t iter = 0, n = 0, cap = 0, i, k = 0;

	*ret_more = false;
	/* Every match, sorted: a listing is rare, and a page must not
	 * depend on the table's hash order. */
	while ((ch = strmap_next(chan.by_name, &iter, NULL, NULL)) != NULL) {
		if (!ch->owned || channel_rights(ch, who) == 0 ||
		    (after != NULL && strcmp(ch->name, after) <= 0))
			continue;
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			if ((grown = realloc(all, cap * sizeof *all)) == NULL) {
				free(all);
				return -ENOMEM;
			}
			all = grown;
		}
		all[n++] = ch->name;
	}
	if (n > 1)
		qsort(all, n, sizeof *all, channel_name_cmp);
	for (i = 0; i < n; i++) {
		if (k == max) {
			*ret_more = true;
			break;
		}
		ret[k++] = all[i];
	}
	free(all);
	return (long)k;
}

size_t
channel_dead_list(uid_t uid, const char *name, uint64_t after,
                  Evd__Fired *out, size_t max, bool *ret_more)
{
	struct channel *ch = channel_get(name, false);
	struct msg *m;
	size_t n = 0;

	*ret_more = false;
	if (ch == NULL)
		return 0;
	TAILQ_FOREACH(m, &ch->dead, link) {
		if (m->fire_id <= after || !channel_sees(uid, ch, m))
			continue;
		if (n == max) {
			*ret_more = true;
			break;
		}
		channel_fill_fired(m, uid, &out[n++]);
	}
	return n;
}

/* Requeue (purge false) or purge dead messages; see channel.h. */
static int
channel_dead_apply(const struct channel_who *who, const char *name,
                   uint64_t fire_id, bool purge, uint64_t *ret_count)
{
	struct channel *ch = channel_get(name, false);
	uid_t uid = who->uid;
	struct msg *m, *next;
	struct store *s;
	uint64_t n = 0;
	int r;

	if (ch == NULL)
		return -ENOENT;
	/* Requeueing publishes again: a publisher whose right was revoked
	 * may drop its dead letters, not send them once more. */
	if (!purge && (channel_rights(ch, who) & CHANNEL_RIGHT_PUBLISH) == 0)
		return -EACCES;
	for (m = TAILQ_FIRST(&ch->dead); m != NULL; m = next) {
		next = TAILQ_NEXT(m, link);
		if ((fire_id != 0 && m->fire_id != fire_id) ||
		    !channel_sees(uid, ch, m))
			continue;
		if ((s = batch_store()) == NULL)
			return n > 0 ? (*ret_count = n, 0) : -EAGAIN;
		if (purge) {
			r = channel_store_ack(s, m);
		} else {
			m->attempts = 0;
			r = channel_store_update(s, m, false);
		}
		if (r < 0 && r != -ENOENT && r != -ESTALE) {
			batch_fail(r);
			return -EIO;
		}
		TAILQ_REMOVE(&ch->dead, m, link);
		ch->ndead--;
		chan.stats.dead--;
		/* A claim found lost: another node's, gone from here. */
		if (purge || r == -ESTALE)
			msg_free(m);
		else {
			m->where = MSG_READY;
			TAILQ_INSERT_TAIL(&ch->ready, m, link);
			ch->nready++;
			chan.stats.queued++;
		}
		/* What this node did, not what another node now holds
		 * (and deals with): uncounted. */
		if (r != -ESTALE)
			n++;
	}
	if (n == 0) {
		channel_maybe_free(ch); /* lost claims may have emptied it */
		return -ENOENT;
	}
	if (!purge)
		channel_pump(ch);
	channel_maybe_free(ch);
	*ret_count = n;
	return 0;
}

int
channel_dead_requeue(const struct channel_who *who, const char *name,
                     uint64_t fire_id, uint64_t *ret_count)
{
	return channel_dead_apply(who, name, fire_id, false, ret_count);
}

int
channel_dead_purge(const struct channel_who *who, const char *name,
                   uint64_t fire_id, uint64_t *ret_count)
{
	return channel_dead_apply(who, name, fire_id, true, ret_count);
}

struct channel_purge_arg {
	const struct channel *ch;
	bool has_from;
	uid_t from;
	struct msg_list out;
};

/* timerq_filter's keep: collects the channel's matching messages that
 * back off (they are in no list, so the link is free). */
static bool
channel_purge_keep(const struct timerq_node *n, void *arg)
{
	struct channel_purge_arg *a = arg;
	struct msg *m = MSG_OF(n);

	if (m->where != MSG_BACKOFF || m->ch != a->ch ||
	    (a->has_from && m->owner != a->from))
		return true;
	TAILQ_INSERT_TAIL(&a->out, m, link);
	return false;
}

int
channel_purge(const struct channel_who *who, const char *name, bool has_from,
              uid_t from, uint64_t *ret_count)
{
	struct channel *ch = channel_get(name, false);
	struct channel_purge_arg a;
	struct msg *m, *next;
	struct store *s;
	uint64_t n = 0;
	int r, err = 0;

	*ret_count = 0;
	if (who->uid != 0 && who->uid != channel_name_owner(name)) {
		if (has_from && from != who->uid)
			return -EACCES;
		has_from = true;
		from = who->uid;
	}
	if (ch == NULL)
		return -ENOENT;
	if ((s = batch_store()) == NULL)
		return -EAGAIN;
	for (m = TAILQ_FIRST(&ch->ready); m != NULL; m = next) {
		next = TAILQ_NEXT(m, link);
		if (has_from && m->owner != from)
			continue;
		if ((r = channel_store_ack(s, m)) < 0 && r != -ENOENT &&
		    r != -ESTALE) {
			batch_fail(r);
			return -EIO;
		}
		TAILQ_REMOVE(&ch->ready, m, link);
		ch->nready--;
		chan.stats.queued--;
		msg_free(m);
		/* Cluster mode: a claim lost meanwhile (-ESTALE) deleted
		 * nothing; another node holds the message, and delivers
		 * it: not purged, not counted. */
		if (r != -ESTALE)
			n++;
	}
	a.ch = ch;
	a.has_from = has_from;
	a.from = from;
	TAILQ_INIT(&a.out);
	if (ch->nbackoff > 0)
		timerq_filter(chan.timed, channel_purge_keep, &a);
	while ((m = TAILQ_FIRST(&a.out)) != NULL) {
		TAILQ_REMOVE(&a.out, m, link);
		/* Memory follows the store only if the batch commits: a
		 * failed one is rebuilt from the store (batch.h). */
		r = 0;
		if (err == 0 && (r = channel_store_ack(s, m)) < 0 &&
		    r != -ENOENT && r != -ESTALE) {
			batch_fail(r);
			err = -EIO;
		}
		ch->nbackoff--;
		chan.stats.queued--;
		msg_free(m);
		if (r != -ESTALE)
			n++;
	}
	channel_arm_timed();
	if (err < 0)
		return err;
	if (n > 0)
		log_about(LOG_LEVEL_INFO,
		          &(struct log_about){.uid = who->uid, .has_uid = true,
	                                      .channel = name},
		          "uid %u purged %" PRIu64 " queued messages%s from %s",
		          (unsigned)who->uid, n,
		          has_from && from != who->uid ? " of another uid" : "",
		          name);
	channel_maybe_free(ch);
	*ret_count = n;
	return 0;
}

void
channel_get_stats(struct channel_stats *ret)
{
	*ret = chan.stats;
}

void
channel_set_cluster(bool on)
{
	chan.cluster = on;
}

void
channel_set_refill(void (*fn)(void))
{
	chan.refill = fn;
}

static uint32_t channel_cluster_want(const struct channel *ch);

bool
channel_claims_new(const char *name, uint64_t fire_id)
{
	struct channel *ch;

	/* Only as many as this node's subscribers want (as a claim tick
	 * takes): the rest is left unclaimed for other nodes' subscribers,
	 * not hoarded by a slow one here. */
	if (!chan.cluster || (ch = channel_get(name, false)) == NULL ||
	    ch->nsubs == 0 || channel_cluster_want(ch) == 0)
		return false;
	/* Out of memory: inserted unclaimed, for a claim tick to take. */
	idmap_del(chan.claimed_new, fire_id);
	return idmap_put(chan.claimed_new, fire_id, (void *)1) == 0;
}

/* Gives back, in batch s, the messages held for channels no subscriber
 * of this node has any more (their last one left, was dropped or
 * revoked): claimable at once by any node. */
static int
channel_cluster_release(struct store *s)
{
	struct store_renewal *rn = NULL, *grown;
	size_t n = 0, cap = 0, it = 0, i;
	struct msg *m;
	uint64_t id;
	int r;

	while ((m = idmap_next(chan.held, &it, &id)) != NULL) {
		if (m->ch->nsubs > 0)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 64 : 2 * cap;
			grown = reallocarray(rn, cap, sizeof(*rn));
			if (grown == NULL) {
				free(rn);
				return 0; /* at the next tick */
			}
			rn = grown;
		}
		rn[n].id = id;
		rn[n].fence = m->fence;
		n++;
	}
	if (n == 0)
		return 0;
	if ((r = batch_backend()->msg_release(s, rn, n)) < 0) {
		free(rn);
		batch_fail(r);
		return r;
	}
	/* Memory follows the store only if the batch commits: a failed one
	 * is rebuilt from the store (adopting them again). */
	for (i = 0; i < n; i++)
		if ((m = idmap_get(chan.held, rn[i].id)) != NULL)
			channel_forget(m);
	log_debug("cluster: gave back %zu messages of channels without a "
	          "subscriber here", n);
	free(rn);
	return 0;
}

static void
channel_counts_free(struct strmap *m, struct idmap *u)
{
	struct cl_count *c;
	size_t it = 0;

	while (m != NULL && (c = strmap_next(m, &it, NULL, NULL)) != NULL)
		free(c);
	it = 0;
	while (u != NULL && (c = idmap_next(u, &it, NULL)) != NULL)
		free(c);
	strmap_free(m);
	idmap_free(u);
}

/* The entry of key in m or u (made at 0), or NULL out of memory. */
static struct cl_count *
channel_count_at(struct strmap *m, const char *name, struct idmap *u,
                 uid_t uid)
{
	struct cl_count *c = m != NULL ? strmap_get(m, name, strlen(name))
	                               : idmap_get(u, (uint64_t)uid + 1);

	if (c != NULL)
		return c;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((m != NULL ? strmap_put(m, name, strlen(name), c)
	               : idmap_put(u, (uint64_t)uid + 1, c)) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

struct channel_counts_read {
	struct strmap *ch;
	struct idmap *uid;
};

static int
channel_count_cb(const char *name, uid_t owner, uint64_t n, void *arg)
{
	struct channel_counts_read *rd = arg;
	struct cl_count *c, *o;

	if ((c = channel_count_at(rd->ch, name, NULL, 0)) == NULL ||
	    (o = channel_count_at(NULL, NULL, rd->uid, owner)) == NULL)
		return -ENOMEM;
	c->db += n;
	o->db += n;
	return 0;
}

/* Reads how many messages each channel and owner has in the database
 * (every node's, held or not), in place of the last read: the figures
 * channel_queued and the message quota go by. */
static int
channel_cluster_counts(struct store *s)
{
	struct channel_counts_read rd;
	struct cl_count *c;
	uint64_t uid;
	size_t it = 0;
	int r;

	if (batch_backend()->msg_counts == NULL)
		return 0;
	if ((rd.ch = strmap_new()) == NULL || (rd.uid = idmap_new()) == NULL) {
		strmap_free(rd.ch);
		return -ENOMEM;
	}
	if ((r = batch_backend()->msg_counts(s, channel_count_cb, &rd)) < 0) {
		channel_counts_free(rd.ch, rd.uid);
		return r;
	}
	channel_counts_free(chan.counts_ch, chan.counts_uid);
	chan.counts_ch = rd.ch;
	chan.counts_uid = rd.uid;
	quota_clear_elsewhere();
	while ((c = idmap_next(chan.counts_uid, &it, &uid)) != NULL)
		(void)quota_set_elsewhere((uid_t)(uid - 1), c->db);
	return 0;
}

void
channel_cluster_inserted(const char *name, uid_t owner)
{
	struct cl_count *c;

	if (!chan.cluster)
		return;
	if (chan.counts_ch == NULL && (chan.counts_ch = strmap_new()) == NULL)
		return;
	if (chan.counts_uid == NULL && (chan.counts_uid = idmap_new()) == NULL)
		return;
	/* Out of memory: uncounted until the next read (a second). */
	if ((c = channel_count_at(chan.counts_ch, name, NULL, 0)) != NULL)
		c->since++;
	if ((c = channel_count_at(NULL, NULL, chan.counts_uid, owner)) != NULL) {
		c->since++;
		(void)quota_set_elsewhere(owner, c->db + c->since);
	}
}

/* Owners and grants as the store has them now (another node may have
 * made or granted a channel); a revoke made elsewhere drops the
 * subscribers it concerns, as one made here does. With them, how many
 * messages each channel and owner has in the database. */
static int
channel_cluster_acl(struct store *s)
{
	struct channel *ch;
	size_t it = 0;
	int r;

	if ((r = batch_backend()->load_channels(s, channel_load_acl_cb,
	                                        &chan)) < 0 ||
	    (r = channel_cluster_counts(s)) < 0)
		return r;
	while ((ch = strmap_next(chan.by_name, &it, NULL, NULL)) != NULL)
		if (ch->nsubs > 0 && ch->owned)
			channel_drop_unauthorized(ch);
	return 0;
}

/* How many messages a channel's subscribers here may hold at once
 * (ready, backing off or in flight): enough to keep each one's window
 * full, so that other nodes' subscribers get the rest. */
static uint32_t
channel_cluster_want(const struct channel *ch)
{
	const struct sub *s;
	size_t want = 0, held = ch->nready + ch->nbackoff + ch->ninflight;

	TAILQ_FOREACH(s, &ch->subs, link)
		want += 2 * (size_t)s->max_inflight;
	if (want > CHANNEL_CLAIM_MAX)
		want = CHANNEL_CLAIM_MAX;
	return held >= want ? 0 : (uint32_t)(want - held);
}

/* ch has subscribers here and holds at most half their target. */
static bool
channel_cluster_low(const struct channel *ch)
{
	/* want is the target less what is held: at least as much as is
	 * held once that is half the target or less. */
	uint32_t want = channel_cluster_want(ch);

	return ch->nsubs > 0 && want > 0 &&
	       want >= ch->nready + ch->nbackoff + ch->ninflight;
}

/* How many more dead letters of ch this node may claim. */
static uint32_t
channel_cluster_want_dead(const struct channel *ch)
{
	return ch->ndead >= CHANNEL_CLAIM_DEAD_MAX
	           ? 0
	           : (uint32_t)(CHANNEL_CLAIM_DEAD_MAX - ch->ndead);
}

/* Claims, in batch s, what the subscribers here want of every channel
 * (only NULL) or of the channels only[0..k) names; dead letters too
 * unless live_only. Returns how many it claimed, or -errno (the batch
 * is then failed). */
static int
channel_cluster_claim_in(struct store *s, const char *const *only, size_t k,
                         bool live_only)
{
	const char **names = NULL;
	uint32_t *limits = NULL, *dead = NULL;
	size_t n = 0, cap = 0, it = 0, got = 0, next = 0;
	struct channel *ch;
	int r = 0;

	for (;;) {
		uint32_t want, want_dead;

		if (only == NULL)
			ch = strmap_next(chan.by_name, &it, NULL, NULL);
		else if (next < k)
			ch = channel_get(only[next++], false);
		else
			break;
		if (ch == NULL) {
			if (only == NULL)
				break;
			continue;
		}
		want = ch->nsubs > 0 ? channel_cluster_want(ch) : 0;
		want_dead = ch->nsubs > 0 && !live_only
		                    ? channel_cluster_want_dead(ch)
		                    : 0;
		if (want == 0 && want_dead == 0)
			continue;
		if (n == cap) {
			const char **nn;
			uint32_t *nl, *nd;

			cap = cap == 0 ? 16 : 2 * cap;
			nn = reallocarray(names, cap, sizeof(*names));
			if (nn != NULL)
				names = nn;
			nl = reallocarray(limits, cap, sizeof(*limits));
			if (nl != NULL)
				limits = nl;
			nd = reallocarray(dead, cap, sizeof(*dead));
			if (nd != NULL)
				dead = nd;
			if (nn == NULL || nl == NULL || nd == NULL) {
				r = -ENOMEM;
				goto out;
			}
		}
		names[n] = ch->name;
		limits[n] = want;
		dead[n] = want_dead;
		n++;
	}
	if (n == 0)
		goto out;
	r = batch_backend()->msg_claim(s, names, limits, dead, n,
	                               channel_load_cb, &got);
	if (r < 0) {
		batch_fail(r);
		goto out;
	}
	r = (int)got;
	channel_arm_timed();
out:
	free(names);
	free(limits);
	free(dead);
	return r;
}

int
channel_cluster_claim(void)
{
	int64_t now = clock_now_ns(EVD_CLOCK_MONOTONIC);
	struct store *s;
	int r;

	if (!chan.cluster || (s = batch_store()) == NULL)
		return 0;
	/* The read first: before the writes below open the transaction. */
	if (now - chan.acl_read_ns >= CHANNEL_ACL_REFRESH_NS) {
		if ((r = channel_cluster_acl(s)) < 0) {
			batch_fail(r);
			return r;
		}
		chan.acl_read_ns = now;
	}
	if ((r = channel_cluster_release(s)) < 0)
		return r;
	return channel_cluster_claim_in(s, NULL, 0, false);
}

int
channel_cluster_refill(void)
{
	struct store *s;

	if (!chan.cluster || (s = batch_store()) == NULL)
		return 0;
	return channel_cluster_claim_in(s, NULL, 0, true);
}

int
channel_cluster_claim_named(const char *const *names, size_t n)
{
	struct store *s;

	if (!chan.cluster || n == 0 || (s = batch_store()) == NULL)
		return 0;
	return channel_cluster_claim_in(s, names, n, false);
}

void
channel_cluster_drop(void)
{
	struct msg **v;
	size_t n, i = 0, it = 0;
	struct msg *m;

	if (!chan.cluster || (n = idmap_size(chan.held)) == 0)
		return;
	/* Collected first: forgetting changes the map. Out of memory,
	 * one at a time from the start. */
	if ((v = calloc(n, sizeof(*v))) == NULL) {
		while ((m = idmap_next(chan.held, &it, NULL)) != NULL) {
			channel_forget(m);
			it = 0;
		}
	} else {
		while (i < n && (m = idmap_next(chan.held, &it, NULL)) != NULL)
			v[i++] = m;
		while (i > 0)
			channel_forget(v[--i]);
		free(v);
	}
	chan.claims_lost += n;
	log_warnx("cluster: %zu channel messages held here dropped (the "
	          "lease lapsed); they are claimed anew once their claims "
	          "run out", n);
	channel_arm_timed();
}

int
channel_cluster_renew(void)
{
	size_t n, i = 0, it = 0, lost = 0;
	struct store_renewal *rn;
	struct store *s;
	struct msg *m;
	uint64_t id;
	int r;

	if (!chan.cluster || (n = idmap_size(chan.held)) == 0 ||
	    (s = batch_store()) == NULL)
		return 0;
	if ((rn = calloc(n, sizeof(*rn))) == NULL)
		return -ENOMEM; /* again at the next pass */
	while (i < n && (m = idmap_next(chan.held, &it, &id)) != NULL) {
		rn[i].id = id;
		rn[i].fence = m->fence;
		i++;
	}
	if ((r = batch_backend()->msg_renew(s, rn, i)) < 0) {
		free(rn);
		batch_fail(r);
		return r;
	}
	for (n = i, i = 0; i < n; i++) {
		if (rn[i].kept || (m = idmap_get(chan.held, rn[i].id)) == NULL)
			continue;
		channel_forget(m);
		lost++;
	}
	free(rn);
	if (lost > 0) {
		chan.claims_lost += lost;
		log_info("cluster: %zu channel messages held here were claimed "
		         "elsewhere (claims lost: %" PRIu64 "); they are "
		         "delivered there",
		         lost, chan.claims_lost);
		channel_arm_timed();
	}
	return 0;
}

/* Cluster mode: reads channel name's row into memory (made and owned
 * if the store has it), locked until the batch ends. 0, -EAGAIN (the
 * store refuses writes), or -EIO (the batch is lost). */
static int
channel_cluster_lock(const char *name)
{
	struct store *s;
	int r;

	if ((s = batch_store()) == NULL)
		return -EAGAIN;
	if ((r = batch_backend()->channel_lock(s, name, channel_load_acl_cb,
	                                       NULL)) < 0) {
		if (r == -ENOMEM)
			return r;
		batch_fail(r);
		return -EIO;
	}
	return 0;
}

int
channel_ack_gathered(uint64_t conn_id, uint64_t fire_id, uint64_t c_id,
                     bool has_request_id, uint64_t request_id)
{
	struct msg *m = idmap_get(chan.inflight, fire_id);

	if (!chan.cluster)
		return -ENOTSUP;
	if (m == NULL || m->sub->conn_id != conn_id || m->acking)
		return -ENOENT;
	if (batch_store() == NULL)
		return -EAGAIN;
	if (channel_gather(&chan.ak, &(struct gathered){
	        .fire_id = fire_id, .fence = m->fence, .conn_id = conn_id,
	        .reply_conn = c_id, .request_id = request_id,
	        .has_request_id = has_request_id }) < 0)
		return -EAGAIN;
	/* Until the commit judged it: a second ack of it is NOT_FOUND. */
	m->acking = true;
	return 0;
}

static int
channel_cmp_gathered(const void *a, const void *b)
{
	const struct gathered *x = a, *y = b;

	if (x->fire_id != y->fire_id)
		return x->fire_id < y->fire_id ? -1 : 1;
	return x->attempts < y->attempts ? -1 : x->attempts > y->attempts;
}

/* l's rows as the store takes them: sorted by fire id, each once (the
 * last attempt of a message delivered twice in a turn). l->v keeps its
 * order of arrival... sorted too: nothing depends on it. */
static int
channel_gather_rows(struct gather_list *l)
{
	size_t i, n = 0;

	qsort(l->v, l->n, sizeof(*l->v), channel_cmp_gathered);
	if (l->n > l->caprn) {
		struct store_renewal *rn = reallocarray(l->rn, l->n,
		                                        sizeof(*rn));
		uint32_t *att;

		if (rn == NULL)
			return -ENOMEM;
		l->rn = rn;
		if ((att = reallocarray(l->att, l->n, sizeof(*att))) == NULL)
			return -ENOMEM;
		l->att = att;
		l->caprn = l->n;
	}
	for (i = 0; i < l->n; i++) {
		if (n > 0 && l->rn[n - 1].id == l->v[i].fire_id)
			n--;
		l->rn[n] = (struct store_renewal){ .id = l->v[i].fire_id,
			                           .fence = l->v[i].fence };
		l->att[n++] = l->v[i].attempts;
	}
	l->nrn = n;
	return 0;
}

/* Whether the store kept fire_id's row of l (sent, and matched). */
static bool
channel_gather_kept(const struct gather_list *l, uint64_t fire_id)
{
	size_t lo = 0, hi = l->nrn;

	if (!l->sent)
		return false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->rn[mid].id == fire_id)
			return l->rn[mid].kept;
		if (l->rn[mid].id < fire_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

void
channel_cluster_flush(void)
{
	const struct store_backend *be = batch_backend();
	struct store *s;
	struct msg m;
	size_t i;
	int r = 0;

	chan.dl.sent = chan.ak.sent = false;
	if (!chan.cluster ||
	    (chan.dl.n == 0 && chan.ak.n == 0 && chan.nruns == 0))
		return;
	/* Refused (a failure earlier in the turn): the batch is lost,
	 * and so are these; the loop rebuilds. */
	if ((s = batch_store()) == NULL)
		return;
	if ((chan.dl.n > 0 && (r = channel_gather_rows(&chan.dl)) < 0) ||
	    (chan.ak.n > 0 && (r = channel_gather_rows(&chan.ak)) < 0)) {
		batch_fail(r);
		return;
	}
	be->pipeline(s, true);
	/* The acks committed last turn: their run records (history, not
	 * an acknowledgement: a crash before this commit loses them). */
	memset(&m, 0, sizeof m);
	for (i = 0; i < chan.nruns && r == 0; i++) {
		m.timer_id = chan.runs[i].timer_id;
		m.fire_id = chan.runs[i].fire_id;
		m.due_rt_ns = chan.runs[i].due_rt_ns;
		m.fired_rt_ns = chan.runs[i].fired_rt_ns;
		m.lateness_ns = chan.runs[i].lateness_ns;
		r = channel_record(s, &m, EVD_RUN_ACKED, NULL);
	}
	chan.nruns = 0;
	if (r == 0 && chan.dl.nrn > 0 && chan.dl.n > 0 &&
	    (r = be->msg_deliver_many(s, chan.dl.rn, chan.dl.att,
	                              chan.dl.nrn)) == 0)
		chan.dl.sent = true;
	if (r == 0 && chan.ak.n > 0 &&
	    (r = be->msg_ack_many(s, chan.ak.rn, chan.ak.nrn)) == 0)
		chan.ak.sent = true;
	be->pipeline(s, false);
	if (r < 0) {
		chan.dl.sent = chan.ak.sent = false;
		batch_fail(r);
	}
}

/* An at-most-once delivery's batch ended (m: still waiting to be sent,
 * or NULL): sent if its delete was kept, forgotten if its claim was
 * lost, back in the queue if the batch was (the loop rebuilds). */
static void
channel_amo_end(const struct gathered *g, struct msg *m, bool committed,
                bool kept)
{
	struct conn *c;

	if (m == NULL)
		return;
	if (!committed) {
		m->attempts--;
		m->where = MSG_READY;
		TAILQ_INSERT_HEAD(&m->ch->ready, m, link);
		m->ch->nready++;
		chan.stats.queued++;
		return;
	}
	if (!kept) {
		channel_lost_delivery(m, " (at most once)");
		return;
	}
	/* At most once: a subscriber gone meanwhile never gets it. */
	if ((c = conn_lookup(g->conn_id)) != NULL)
		(void)channel_send_fired(c, m, g->uid);
	channel_forget(m);
}

/* m was acked, its delete committed: it leaves memory wherever it is. */
static void
channel_acked(struct msg *m)
{
	struct acked_run *ar;

	if (chan.nruns == chan.capruns) {
		size_t cap = chan.capruns ? 2 * chan.capruns : 64;

		if ((ar = reallocarray(chan.runs, cap, sizeof(*ar))) != NULL) {
			chan.runs = ar;
			chan.capruns = cap;
		}
	}
	if (chan.nruns < chan.capruns)
		chan.runs[chan.nruns++] = (struct acked_run){
			.timer_id = m->timer_id, .fire_id = m->fire_id,
			.due_rt_ns = m->due_rt_ns,
			.fired_rt_ns = m->fired_rt_ns,
			.lateness_ns = m->lateness_ns };
	log_about(LOG_LEVEL_INFO,
		  &(struct log_about){.timer_id = m->timer_id,
		                      .fire_id = m->fire_id,
		                      .uid = m->owner,
		                      .has_uid = true,
		                      .channel = m->ch->name},
		  "timer %" PRIu64 " (uid %u) fire %" PRIu64 ": acked on %s "
		  "after %u deliveries",
		  m->timer_id, (unsigned)m->owner, m->fire_id, m->ch->name,
		  m->attempts);
	/* Not a lost claim: forget's bookkeeping is an ack's too (out of
	 * its list, freed, its channel pumped on the next turn). */
	channel_forget(m);
}

void
channel_cluster_batch_end(bool committed)
{
	struct msg *m;
	struct conn *c;
	char why[160];
	bool low = false;
	size_t i;

	if (!chan.cluster)
		return;
	/* Acks first: one acked and delivered again in the same turn (a
	 * visibility timeout) is gone, not sent. */
	for (i = 0; i < chan.ak.n; i++) {
		const struct gathered *g = &chan.ak.v[i];
		bool kept = channel_gather_kept(&chan.ak, g->fire_id);

		m = idmap_get(chan.held, g->fire_id);
		if (m != NULL && m->fence != g->fence)
			m = NULL; /* claimed anew meanwhile: not this ack's */
		if (g->amo) {
			channel_amo_end(g, m != NULL && m->where == MSG_SENDING
			                       ? m
			                       : NULL,
			                committed, kept);
			continue;
		}
		/* Lost: its reply says UNAVAILABLE (conn_batch_end) and the
		 * loop rebuilds; a message still here may be acked again. */
		if (!committed) {
			if (m != NULL)
				m->acking = false;
			continue;
		}
		if (kept) {
			if (m != NULL) {
				struct channel *ch = m->ch;

				channel_acked(m);
				/* Freed on a later turn, not now. */
				low = low || channel_cluster_low(ch);
			}
			continue;
		}
		chan.claims_lost++;
		log_about(LOG_LEVEL_INFO,
			  &(struct log_about){.fire_id = g->fire_id},
			  "fire %" PRIu64 ": not acked: this node's claim "
			  "on it was lost; another node delivers it again",
			  g->fire_id);
		if (m != NULL)
			channel_forget(m);
		snprintf(why, sizeof why,
		         "fire %" PRIu64 " was not acked: this node lost its "
		         "claim on it (another node delivers it again)",
		         g->fire_id);
		if ((c = conn_lookup(g->reply_conn)) != NULL)
			(void)conn_fail_reply(c, g->has_request_id,
			                      g->request_id,
			                      EVD__ERROR_CODE__NOT_FOUND, why);
	}
	for (i = 0; committed && i < chan.dl.n; i++) {
		const struct gathered *g = &chan.dl.v[i];

		m = idmap_get(chan.held, g->fire_id);
		if (m != NULL && m->fence != g->fence)
			m = NULL;
		if (!channel_gather_kept(&chan.dl, g->fire_id)) {
			/* Its claim ran out or went: another node's to
			 * deliver; this one never sent it. */
			if (m != NULL)
				channel_lost_delivery(m, "");
			continue;
		}
		/* Still in flight at that subscriber, in that attempt (its
		 * connection may have gone, and it been requeued). */
		if (m == NULL || m->where != MSG_INFLIGHT ||
		    m->sub->conn_id != g->conn_id ||
		    m->attempts != g->attempts ||
		    (c = conn_lookup(g->conn_id)) == NULL)
			continue;
		/* A failure closes c: requeued. */
		(void)channel_send_fired(c, m, m->sub->uid);
	}
	chan.ak.n = chan.dl.n = 0;
	chan.ak.nrn = chan.dl.nrn = 0;
	chan.ak.sent = chan.dl.sent = false;
	channel_arm_timed();
	if (low && chan.refill != NULL)
		chan.refill();
}
