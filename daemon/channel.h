/*
 * channel: named queues of fire messages and their subscribers.
 *
 * A channel exists while it has subscribers or messages. Each message
 * goes to one subscriber (round robin among those with room), which must
 * Ack it within its visibility timeout or it is delivered again after a
 * backoff (at-least-once; fire_id lets a consumer de-duplicate), until
 * max_attempts deliveries, after which it moves to the channel's
 * dead-letter list. At-most-once messages are removed from the store as
 * they are delivered. A subscriber has at most its max_inflight
 * (CHANNEL_PREFETCH by default) unacked messages, and a congested connection is skipped, so a slow consumer
 * cannot make the daemon buffer without bound. Without subscribers,
 * messages wait; scheduling into a channel with CHANNEL_MAX_QUEUED waiting
 * is refused, so nothing is ever dropped. When a subscriber goes away its
 * unacked messages return to the front of the queue at once.
 *
 * A subscriber may also reject a message with a reason (channel_reject):
 * it backs off and is redelivered, or goes to the dead letters, at once.
 * Each message keeps the reason its last delivery failed (a rejection's,
 * or a visibility timeout), shown with redeliveries and dead letters.
 *
 * Messages are durable: every change is written to the store in the
 * current batch (batch.h) before memory changes.
 *
 * Cluster mode (channel_set_cluster; several nodes on one PostgreSQL):
 * the database's evd.messages is the queue, and memory holds only the
 * messages this node claimed (consumer, lease, fence: store.h), for
 * channels it has subscribers of. A channel fire is inserted unclaimed
 * (any node's subscribers may get it), or claimed by the firing node
 * when it has a subscriber (channel_claims_new). Each claim tick
 * (channel_cluster_claim) claims more for subscribed channels, gives
 * back what a channel with no subscriber left holds, and re-reads the
 * channels' owners and grants (shared: a grant made on one node holds
 * on every node); channel_cluster_renew renews what is held. An ack is
 * a fenced delete: an ack of a message whose claim this node lost is
 * refused (-ESTALE; the subscriber hears NOT_FOUND, as for any message
 * no longer awaiting its ack), and another node delivers it again. Attempts are
 * written at each delivery, so a redelivery elsewhere counts on. A plain
 * ack's delete and a delivery's write are gathered with the loop turn's
 * others (one statement each kind) and judged at its commit, each
 * alone: the ack's reply, sent Acked, is rewritten into NOT_FOUND if
 * its claim was lost; a delivery's Fired event is sent only once its
 * write committed with the claim still this node's (never otherwise).
 * What a
 * node does not hold it does not show: queued and dead counts, peek,
 * dead letters and purges see this node's claims only. The bounds do
 * hold across nodes: CHANNEL_MAX_QUEUED and the owner's message quota
 * count every message the database has of the channel or owner (held
 * by any node or none; in flight and dead ones too, unlike a single
 * node's queue count), as the last read of the database's counts
 * (each CHANNEL_ACL_REFRESH_NS) said plus what this node inserted
 * since; when full, the single node's rules apply unchanged (a new
 * timer is refused, a repeating timer's fire is skipped and recorded,
 * an admitted one-shot's fire is never dropped). Other nodes' inserts
 * since the last read are not seen: the database may pass a bound by
 * what the other nodes insert in one refresh period.
 */
#ifndef EVD_CHANNEL_H
#define EVD_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "evd_types.h"

/* Rendered by channel_fill_info and channel_list_dead for the request
 * layer, which includes evd.pb-c.h; the scheduler, which includes this
 * header, does not. */
struct Evd__ChannelInfo;
struct Evd__ChannelGrantEntry;
struct Evd__Fired;

#define CHANNEL_NAME_MAX 255
#define CHANNEL_PREFETCH 256
#define CHANNEL_MAX_QUEUED 100000
#define CHANNEL_VISIBILITY_NS (30LL * 1000000000)
#define CHANNEL_MAX_VISIBILITY_NS (12LL * 3600 * 1000000000)
#define CHANNEL_DEFAULT_MAX_ATTEMPTS 10
/* Redelivery after a visibility timeout waits base * 2^(attempts-1),
 * capped, times a jitter of +-20%, so a consumer that keeps failing is
 * not hammered and many consumers do not retry in lockstep. */
#define CHANNEL_BACKOFF_BASE_NS (1LL * 1000000000)
#define CHANNEL_BACKOFF_MAX_NS (300LL * 1000000000)

/* Channels a uid may own; root is not limited. */
#define CHANNEL_MAX_PER_UID 10000
#define CHANNEL_MAX_GRANTS 64

#define CHANNEL_RIGHT_SUBSCRIBE 1
#define CHANNEL_RIGHT_PUBLISH 2

struct event_base;
struct store;
struct store_backend;

/* Who asks: the peer's credentials (SO_PEERCRED, SO_PEERGROUPS). */
struct channel_who {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t ngroups;
};

/* One fire to be queued; pointers are borrowed and copied. */
struct channel_fire {
	const char *channel;
	uid_t owner;
	uint64_t timer_id;
	uint64_t fire_id;
	const uint8_t *payload;
	size_t payload_len;
	int64_t due_realtime_ns;
	int64_t fired_realtime_ns;
	int64_t lateness_ns;
	int delivery;          /* enum evd_delivery */
	uint32_t max_attempts; /* 0: CHANNEL_DEFAULT_MAX_ATTEMPTS */
	uint32_t attempts;     /* deliveries already made (reload) */
	bool dead;             /* in the dead-letter list (reload) */
	const char *reason;    /* why the last delivery failed (reload) */
	/* Cluster mode: this node's claim on it (0: none; the message
	 * then waits in the store for whichever node claims it). */
	uint64_t fence;
};

struct channel_stats {
	uint64_t channels;
	uint64_t queued;
	uint64_t inflight;
	uint64_t dead;
	uint64_t redelivered_total;
	uint64_t dropped_total;
};

int channel_init(struct event_base *base);
void channel_shutdown(void);

/*
 * Names. Every uid has its own namespace, so that no user can occupy a
 * name another user's software uses, and a publisher always knows whose
 * channel it writes into. Inside the daemon (store, logs, this module's
 * interface) a channel is named canonically "UID:NAME": UID decimal, no
 * leading zero; NAME 1..CHANNEL_NAME_MAX bytes without spaces or control
 * characters. A client writes NAME for a channel of its own, and
 * "UID:NAME" for anyone's; replies write a channel back as their reader
 * would (channel_display).
 */
#define CHANNEL_CANON_MAX (10 + 1 + CHANNEL_NAME_MAX)

/* True if name is an acceptable NAME (the part after "UID:"). */
bool channel_name_valid(const char *name);
/* Writes the canonical form of a client's name in (NAME meaning asker's)
 * to out (CHANNEL_CANON_MAX + 1 bytes). Returns 0 or -EINVAL. */
int channel_name_canon(const char *in, uid_t asker, char *out);
/* The owner of a canonical name; (uid_t)-1 if it is not canonical. */
uid_t channel_name_owner(const char *canon);
/* How viewer writes canon: NAME when viewer owns it, else canon itself.
 * Points into canon. */
const char *channel_display(const char *canon, uid_t viewer);

/*
 * Ownership and grants. A channel belongs to the uid its name says; its
 * owner and root may do everything, others what the owner granted their
 * uid or one of their groups. channel_authorize checks a right and, for
 * the owner (or root), creates the channel if it does not exist (written
 * in the current batch; *ret_wrote says so). Names are canonical.
 * Returns 0, -EACCES, -EDQUOT (the owner has CHANNEL_MAX_PER_UID
 * channels), -EAGAIN / -EIO (the store refused the write), or -ENOMEM.
 */
int channel_authorize(const char *name, const struct channel_who *who,
                      int right, bool *ret_wrote);
/* At a fire: may uid (primary group gid) still publish to name? Its
 * owner and root: yes. A publish grant to any group counts as held
 * (supplementary groups are not looked up on the loop). */
bool channel_may_publish(const char *name, uid_t uid, gid_t gid);
/* Is name (canonical) in uid's namespace? */
bool channel_owned_by(const char *name, uid_t uid);
/* Grants (or with revoke, removes) rights to a uid or, with is_gid, a
 * group. Only the owner or root; the channel is created if need be
 * (*ret_wrote as for channel_authorize). Returns 0, -EACCES, -EDQUOT,
 * -E2BIG (CHANNEL_MAX_GRANTS), -EAGAIN, -EIO or -ENOMEM. */
int channel_grant(const char *name, const struct channel_who *who,
                  bool is_gid, uint32_t id, int rights, bool revoke,
                  bool *ret_wrote);
/* Fills info (strings and arrays borrowed from the channel, and entries
 * from the caller's grants array of CHANNEL_MAX_GRANTS) for the owner,
 * root or a grantee; the name as who writes it. -ENOENT otherwise (or if
 * there is no such channel). */
int channel_info(const char *name, const struct channel_who *who,
                 struct Evd__ChannelInfo *info,
                 struct Evd__ChannelGrantEntry *grants,
                 struct Evd__ChannelGrantEntry **ptrs);

/* Messages waiting for delivery on a channel (ready or backing off);
 * cluster mode: at least what the database holds of it (channel.h). */
size_t channel_queued(const char *name);
/* Cluster mode: this node inserted one message of owner into channel
 * name (deliver_stage), which counts against the channel's bound and
 * the owner's message quota until the next read of the database's
 * counts (channel_cluster_claim) includes it. Elsewhere a no-op. */
void channel_cluster_inserted(const char *name, uid_t owner);

/* Queues a fire in memory (the caller wrote it to the store) and delivers
 * it if a subscriber has room. Never drops: the bound is enforced when
 * timers are scheduled. Returns 0 or -ENOMEM. */
int channel_publish(const struct channel_fire *f);

/* Subscribes a connection of uid; visibility_ns (0: default) is how long
 * it may hold a message unacked, max_inflight (0, or above
 * CHANNEL_PREFETCH: CHANNEL_PREFETCH) how many at once. Subscribing
 * twice updates both. Messages name the channel as uid writes it. */
int channel_subscribe(uint64_t conn_id, uid_t uid, const char *name,
                      int64_t visibility_ns, uint32_t max_inflight);

/* Ends conn_id's subscription to name (canonical), if it has one: its
 * unacked messages go back to the front of the queue, as in
 * channel_conn_gone. Returns 1 if it was subscribed, 0 if not. */
int channel_unsubscribe(uint64_t conn_id, const char *name);

/* Acknowledges a message delivered to conn_id. Returns 0; -ENOENT if
 * conn_id holds no unacked message with that fire id; -EAGAIN if the
 * store refuses writes; -EIO if the write failed. */
int channel_ack(uint64_t conn_id, uint64_t fire_id);
/*
 * Cluster mode: as channel_ack, but the fenced delete is gathered with
 * the turn's others and judged at the commit (channel_cluster_flush,
 * channel_cluster_batch_end): 0 (the caller replies Acked, durably);
 * if the claim turns out lost there, the reply c_id sent with this
 * request id (has_request_id, request_id) is rewritten into NOT_FOUND
 * and the message forgotten here, as channel_ack's -ESTALE. -ENOENT,
 * -EAGAIN as channel_ack; -ENOTSUP when not in cluster mode.
 */
int channel_ack_gathered(uint64_t conn_id, uint64_t fire_id, uint64_t c_id,
                         bool has_request_id, uint64_t request_id);
/* Cluster mode, loop.c, before the turn's commit: the gathered
 * deliveries' and acks' writes go into its batch, one statement each. */
void channel_cluster_flush(void);
/* Cluster mode, loop.c, right after the turn's commit (committed or
 * not): acks found stale are answered NOT_FOUND, deliveries whose claim
 * held are sent (a Fired event each), those found stale forgotten. */
void channel_cluster_batch_end(bool committed);

/*
 * Rejects (nacks) a message delivered to conn_id, with reason (a
 * subscriber's words, at most CHANNEL_REASON_MAX bytes; stored with the
 * message, replacing the one before): it leaves the connection at once
 * and backs off before its next delivery as after a visibility timeout,
 * or, after max_attempts deliveries or with dead_letter, moves to the
 * dead-letter list. *ret_dead says which; *ret_backoff_ns is the backoff
 * (0 when dead). Written in the current batch. Returns 0; -ENOENT as
 * channel_ack; -EAGAIN or -EIO (the store); -ENOMEM.
 */
#define CHANNEL_REASON_MAX 4096
int channel_reject(uint64_t conn_id, uint64_t fire_id, const char *reason,
                   bool dead_letter, bool *ret_dead, int64_t *ret_backoff_ns);

/* The message conn_id holds unacked under fire_id, described in *ret
 * (pointers borrowed from the message: valid until it is acked or the
 * loop runs again). Returns 0 or -ENOENT. */
int channel_inflight(uint64_t conn_id, uint64_t fire_id,
                     struct channel_fire *ret);
/* The connection is closing: unsubscribe it and requeue its unacked
 * messages. */
void channel_conn_gone(uint64_t conn_id);

/* The connection's output drained: it may take more messages. */
void channel_conn_drained(uint64_t conn_id);

/* Replaces every message in memory with what the store holds (start-up,
 * and after a rolled-back batch). */
int channel_reload(const struct store_backend *be, struct store *s);

/*
 * Dead-letter lists. Only messages uid may see (its own, everyone's on a
 * channel it owns; root: all).
 * channel_dead_list fills out[] (strings and bytes borrowed from the
 * messages: pack before the loop runs again; names as uid writes them)
 * with up to max messages with
 * fire_id > after, and sets *ret_more. requeue/purge act on one message
 * (fire_id != 0) or all of them, report how many, and return 0, -ENOENT
 * (nothing matched), -EACCES (requeue by a uid that may no longer
 * publish to the channel), -EAGAIN or -EIO.
 */
size_t channel_dead_list(uid_t uid, const char *name, uint64_t after,
                         struct Evd__Fired *out, size_t max, bool *ret_more);
int channel_dead_requeue(const struct channel_who *who, const char *name,
                         uint64_t fire_id, uint64_t *ret_count);
int channel_dead_purge(const struct channel_who *who, const char *name,
                       uint64_t fire_id, uint64_t *ret_count);

/*
 * Deletes the messages waiting in name's queue (ready or backing off)
 * that who may delete: its owner and root everyone's, or only from's
 * with has_from; anyone else only its own (has_from with another uid:
 * -EACCES). *ret_count says how many went. Returns 0, -ENOENT (no such
 * channel), -EACCES, -EAGAIN or -EIO (the store).
 */
int channel_purge(const struct channel_who *who, const char *name,
                  bool has_from, uid_t from, uint64_t *ret_count);

/*
 * The canonical names of the channels who may see (as channel_info:
 * owned, and who is their owner, root or a grantee) that sort after
 * after (NULL: from the first), in strcmp order: up to max in ret[]
 * (borrowed: valid until the loop runs again); *ret_more if more follow.
 * Returns the count, or -ENOMEM.
 */
long channel_list(const struct channel_who *who, const char *after,
                  const char **ret, size_t max, bool *ret_more);

/* The first max messages ready in name's queue that uid may see (as
 * channel_dead_list), in delivery order, into out[] (borrowed as
 * there); *ret_more if more follow. Returns the count, or -ENOENT for
 * no such channel. */
long channel_peek(uid_t uid, const char *name, struct Evd__Fired *out,
                  size_t max, bool *ret_more);

void channel_get_stats(struct channel_stats *ret);

/* Cluster mode (see the top): on from start-up (before channel_reload)
 * on a cluster node; never turned off. */
void channel_set_cluster(bool on);
/* Cluster mode: fn (loop 0's) runs when acks committed in a turn left a
 * subscribed channel holding at most half of what its subscribers here
 * want (channel_cluster_claim's target), so that claims keep up with a
 * fast subscriber instead of waiting for the next claim tick. */
void channel_set_refill(void (*fn)(void));
/* Whether fire fire_id into name is claimed by this node as it is
 * inserted (struct store_msg.claim): cluster mode, and this node has a
 * subscriber of name. If so it is recorded, and channel_publish of that
 * fire id holds it under that claim (fence 1) whatever the subscribers
 * are by then; a fire never published (its batch lost) is forgotten at
 * the next channel_reload. */
bool channel_claims_new(const char *name, uint64_t fire_id);
/* One claim tick, in this iteration's batch: claims messages for
 * subscribed channels, gives back those of channels without a
 * subscriber, and re-reads owners and grants (each
 * CHANNEL_ACL_REFRESH_NS).
 * Returns how many were claimed, or -errno (the batch is failed). */
int channel_cluster_claim(void);
/* As channel_cluster_claim, for the channels names[0..n) only (those
 * an evd_msg hint named; unknown names and channels without a
 * subscriber here are passed over): no re-read, no give-back. */
int channel_cluster_claim_named(const char *const *names, size_t n);
/* As channel_cluster_claim, for live messages only, of the channels
 * whose subscribers here want more: acks left one low (no re-read, no
 * give-back, no dead letters, which wait for the tick). */
int channel_cluster_refill(void);
/* Renews every claim held, in the batch; what was lost is dropped from
 * memory (a subscriber's ack of it is then NOT_FOUND). 0 or -errno. */
int channel_cluster_renew(void);
/* The node's lease lapsed: every message held is dropped from memory
 * (not delivered again from here; acks of those in flight are
 * NOT_FOUND). Their claims run out in the database and any node,
 * this one too once live again, claims them anew. */
void channel_cluster_drop(void);
#define CHANNEL_ACL_REFRESH_NS (INT64_C(1000) * 1000000)

#endif
