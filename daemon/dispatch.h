/*
 * dispatch: from one request frame to one reply.
 *
 * Unpacks the Request, checks the greeting, runs the body's handler
 * from its registry entry (requests.h), and packs the handler's reply,
 * or its error, echoing the request id. Handlers borrow the unpacked
 * request and fill ctx->reply; storage they need for the reply lives in
 * ctx (req_alloc) and is freed once the reply is packed.
 * An undecodable frame is a protocol error that closes the conn; an
 * unknown request type is an error reply and the conn stays.
 */
#ifndef EVD_DISPATCH_H
#define EVD_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "evd.pb-c.h"
#include "requests.h"

struct peer_id;

struct conn;
struct conn_peer;

#define REQ_MAX_ALLOCS 8
#define REQ_ERRMSG_MAX 256

/* Owner: dispatch, on its stack for the duration of one request. */
struct req_ctx {
	struct conn *conn;      /* to answer on; who asks is below */
	uint64_t conn_id;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	const gid_t *groups;    /* the peer's supplementary groups */
	size_t ngroups;
	const struct peer_id *peer; /* the peer's user name (peer.h) */
	bool greeted;           /* Hello was answered before this request */
	Evd__Reply *reply;      /* set reply->body_case and the body */
	bool durable;           /* the request wrote to the store */
	int err_code;           /* EVD__ERROR_CODE__* once req_fail ran */
	char err_msg[REQ_ERRMSG_MAX];
	void *allocs[REQ_MAX_ALLOCS];
	int nallocs;
	ProtobufCMessage *unpacked[2]; /* freed after the reply is packed */
	int nunpacked;
};

/*
 * Handles one frame body from peer (by value: dispatch asks the conn
 * nothing), answering on c. Returns 0; -EBADMSG if the body is not a
 * Request (c is untouched: the caller reports the protocol error); or
 * -EPIPE if c was closed while replying (the caller must not touch it).
 */
int dispatch_frame(struct conn *c, struct conn_peer peer, const uint8_t *body,
                   size_t len);

/*
 * Multi-loop (shard.h): dispatch_decode unpacks a frame and says which
 * loop serves it (route_request; ROUTE_ALL: every loop, merged by the
 * entry's merge); the request then stays decoded in this thread until
 * dispatch_run runs it for c (as dispatch_frame) or dispatch_discard
 * drops it. Returns 0 or -EBADMSG.
 */
int dispatch_decode(struct conn_peer peer, const uint8_t *body, size_t len,
                    int *ret_route);
int dispatch_run(struct conn *c, struct conn_peer peer);
void dispatch_discard(void);
/*
 * Answers the request in body (a ROUTE_ALL one) on c with the merge of
 * the n loops' framed replies in parts (loop order). Returns 0, -EBADMSG
 * or -EPIPE (c closed).
 */
struct evbuffer;
int dispatch_merge(struct conn *c, struct conn_peer peer, const uint8_t *body,
                   size_t len, struct evbuffer *const *parts, unsigned n);

/* Records an error reply; returns -EINVAL for `return req_fail(...)`.
 * A handler that returns a negative errno without recording one is
 * answered INTERNAL: a fault of evd's, or no memory for the reply. */
int req_fail(struct req_ctx *ctx, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * The ErrorCode of a handler's negative errno r, from the one table in
 * dispatch.c (-ENOENT NOT_FOUND; -EACCES, -EPERM PERMISSION_DENIED;
 * -EDQUOT, -E2BIG, -ENOBUFS, -EOVERFLOW, -ENOMEM RESOURCE_EXHAUSTED;
 * -EAGAIN, -EIO UNAVAILABLE; -EINVAL INVALID_ARGUMENT; -EEXIST,
 * -EALREADY, -ECANCELED, -ENOTSUP FAILED_PRECONDITION); INTERNAL for
 * any other.
 */
int req_errno_code(int r);
/*
 * Records an error reply for r with req_errno_code(r) and the message
 * fmt; with fmt NULL, a generic one (UNAVAILABLE: the store's reason).
 * Returns -EINVAL, as req_fail. A handler whose errno means something
 * else in its call (a store's -EINVAL for a row evd wrote is INTERNAL,
 * not the client's INVALID_ARGUMENT) says so with req_fail.
 */
int req_errno(struct req_ctx *ctx, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Zeroed memory that lives until the reply is packed; NULL when out of
 * memory (answer INTERNAL) or when the per-request slots are used up. */
void *req_alloc(struct req_ctx *ctx, size_t size);

/* The request-id-less prefix of every scheduling handler: validates the
 * callback and key and fills the target part of spec. Returns 0 or a
 * req_fail() result. */
struct sched_spec;
int req_fill_target(struct req_ctx *ctx, const Evd__Callback *cb,
                    const char *key, const Evd__TimerOptions *opts,
                    struct sched_spec *spec);
/* Schedules spec with the schedule opts describe (and, for call_on, the
 * calendar expression and zone; spec->deadline_ns is then computed as its
 * first occurrence) and fills a Scheduled reply. */
/* The shortest interval of a non-root uid's durable repeating timer
 * (min_repeat_interval_ms; 0: 1 ms). Any thread. */
void req_set_min_repeat(uint32_t ms);
int req_schedule(struct req_ctx *ctx, struct sched_spec *spec,
                 const Evd__TimerOptions *opts, const char *calendar,
                 const char *tz);

/* A Scheduled reply body describing a pending timer (its id, clock and
 * deadline, and the deadline as wall time). */
struct timer;
void req_fill_scheduled(Evd__Scheduled *s, const struct timer *t);

/*
 * Fills a TimerInfo (and the Callback and, if opts is not NULL, the
 * TimerOptions it points to, with its schedule in *rep if rep is not
 * NULL) from pending timer t, as the caller sees it (its channel named
 * as the caller writes it; an exec target as an empty Exec, which Get
 * and List fill in). Strings and bytes are borrowed from the timer: pack before
 * the loop runs again.
 */
void req_fill_timer_info(struct req_ctx *ctx, const struct timer *t,
                         Evd__TimerInfo *info, Evd__Callback *cb,
                         Evd__TimerOptions *opts, Evd__Repeat *rep);

/* The canonical name ("UID:NAME", channel.h) of a channel a client
 * wrote, NAME meaning the caller's own; in ctx's memory. Answers
 * INVALID_ARGUMENT itself. Returns 0 or a req_fail() result. */
int req_channel_name(struct req_ctx *ctx, const char *in, const char **ret);

/* Checks (and for the owner, on first use, makes) a channel right for
 * the caller (channel canonical), and
 * answers the failure itself: PERMISSION_DENIED, RESOURCE_EXHAUSTED or
 * UNAVAILABLE. Returns 0 or a req_fail() result. */
int req_channel_access(struct req_ctx *ctx, const char *channel, int right);

/* Replies with a channel's ChannelInfo as the caller may see it (shared
 * by get_channel and channel_grant). */
int req_reply_channel_info(struct req_ctx *ctx, const char *channel);
/* Cluster mode: replaces the queued and dead counts of infos[0..n)
 * (channels names[0..n), as channel_info filled them from this node's
 * claims) with the database's, of every node: queued is every live
 * message less those in flight here (another node's in-flight ones
 * count as queued). Unreadable, or out of memory: left as they are. */
void req_channel_counts(const char *const *names,
                        Evd__ChannelInfo *const *infos, size_t n);

/* Requeues (purge false) or purges the caller's dead letters on channel
 * (as the client wrote it): one (fire_id) or all. Answers failures itself; *ret_count on success. */
int req_dead_apply(struct req_ctx *ctx, const char *channel, uint64_t fire_id,
                   bool purge, uint64_t *ret_count);

/* Where ended timers and run histories are kept, in the order to ask
 * them: this loop's keeper of caller timers (sched_keeper), then the
 * configured store, for reads. Fills up to REQ_STORES_MAX pairs and
 * returns how many. */
#define REQ_STORES_MAX 2
struct store;
struct store_backend;
size_t req_stores(const struct store_backend *ret_be[REQ_STORES_MAX],
                  struct store *ret_s[REQ_STORES_MAX]);

/* The deadline to show of a stored timer on its own clock: as stored,
 * except a pending monotonic or boottime one set on another boot (in
 * cluster mode, another machine's node holds it), whose stored value
 * means nothing here: then its due instant on this machine's clock. */
struct store_timer;
int64_t req_stored_deadline(const struct store_timer *st);

/* Answers a failed store write: UNAVAILABLE with the store's reason
 * (req_errno(ctx, -EIO, NULL)). */
int req_unavailable(struct req_ctx *ctx);

/* Limits on what a scheduling request may carry. */
#define REQ_PAYLOAD_MAX (64u * 1024u)
#define REQ_KEY_MAX 256u
#define REQ_CLIENT_NAME_MAX 256
#define REQ_EXEC_ARGS_MAX 1024
#define REQ_EXEC_ENV_MAX 256
#define REQ_EXEC_BYTES_MAX (128u * 1024u)

#define X(BODY, name, route, flags)                                            \
	int req_##name(struct req_ctx *ctx, const Evd__Request *rq);
EVD_REQUESTS(X)
#undef X

/* Each ALL row's merge of the loops' replies (requests.h), beside its
 * handler (List's pages, CancelAll's counts): declared from the table, so
 * a new one touches no header. */
#define REQ_MERGE_LOCAL(name)
#define REQ_MERGE_CHANNEL(name)
#define REQ_MERGE_LOOP0(name)
#define REQ_MERGE_TIMER_ID(name)
#define REQ_MERGE_NEW_TIMER(name)
#define REQ_MERGE_ALL(name)                                                    \
	int req_##name##_merge(struct req_ctx *ctx, const Evd__Request *rq,    \
	                       Evd__Reply *const *parts, unsigned n);
#define X(BODY, name, route, flags) REQ_MERGE_##route(name)
EVD_REQUESTS(X)
#undef X

/* Records what Welcome and Stats report about this daemon instance. */
void dispatch_init(const char *store_name);
const char *dispatch_store_name(void);
int64_t dispatch_started_mono_ns(void);

#endif
