/*
 * evc_req.h: the requests libevclient sends, one table row per
 * Evd__Request body (evc_req.c), and the one path that queues them
 * (evc_submit). Internal; never installed.
 *
 * A row holds everything generic code needs about a request type: its
 * body case, the reply body that answers it, whether it may be sent again
 * on a new connection, how to build it from a public call's arguments and
 * how to convert its result into a public struct. The public functions of
 * evclient.c (blocking) and evc_async.c (asynchronous) only fill a struct
 * evc_args and name a row: the asynchronous ones call evc_submit(), the
 * blocking ones evc_req_call(), which is evc_submit() and a wait.
 *
 * Builders and converters are pure: no handle, no lock, no I/O (except
 * the passwd lookup of an exec hook's user); they never print. A builder
 * borrows the caller's strings: the struct evc_msg it fills lives on the
 * caller's stack until the request is packed, and is never copied (its
 * messages point into each other).
 *
 * Adding a request type: an EVC_OP_* value below, a build function (and
 * a convert function if its reply is new) and a row in evc_req.c, then
 * the public wrappers in evclient.c / evc_async.c. test_evc_req fails
 * while a body of evd.proto has no row.
 */
#ifndef EVC_REQ_H
#define EVC_REQ_H

#include "evc_private.h"

/* One per Evd__Request body the library sends; indexes evc_req_types. */
enum evc_op {
	EVC_OP_HELLO,
	EVC_OP_CALL_SOON,
	EVC_OP_CALL_LATER,
	EVC_OP_CALL_AT,
	EVC_OP_CALL_ON,
	EVC_OP_CANCEL,
	EVC_OP_GET,
	EVC_OP_LIST,
	EVC_OP_TIME,
	EVC_OP_STATS,
	EVC_OP_SUBSCRIBE,
	EVC_OP_ACK,
	EVC_OP_LIST_DEAD,
	EVC_OP_REQUEUE_DEAD,
	EVC_OP_PURGE_DEAD,
	EVC_OP_CHANNEL_GRANT,
	EVC_OP_GET_CHANNEL,
	EVC_OP_WAIT,
	EVC_OP_PAUSE,
	EVC_OP_RESUME,
	EVC_OP_TRIGGER,
	EVC_OP_RETRY,
	EVC_OP_PURGE,
	EVC_OP_CANCEL_ALL,
	EVC_OP_LIST_CHANNELS,
	EVC_OP_PEEK,
	EVC_OP_REJECT,
	EVC_OP_UNSUBSCRIBE,
	EVC_OP__COUNT
};

/* What may happen to a request sent once and not answered when its
 * connection is lost (and a reconnection is configured). */
enum evc_retry {
	/* Failed: sending it again could act twice, or its effect is
	 * unknown (cancel, ack, grants, requeue, waits, timer ops). */
	EVC_RETRY_NEVER,
	/* Sent again: an idempotent read, or a subscription. */
	EVC_RETRY_READ,
	/* A scheduling request: sent again only when its timer is durable
	 * (channel or exec) and so carries a key (the caller's, or one
	 * evc_submit generates); an ephemeral timer dies with its
	 * connection, so repeating it would create a second one behind the
	 * program's back. */
	EVC_RETRY_KEYED,
};

/*
 * The arguments of a public call, borrowed. One flat struct for every
 * request: each builder reads the members its request has. Filled with
 * EVC_ARGS(), which names the public function for messages.
 */
struct evc_args {
	const char *fn; /* the public function, for messages */
	uint64_t id;	/* timer id, or fire id (ack, requeue, purge) */
	const char *channel;
	const char *name;  /* Hello: the client's name; list_channels:
			    * the page's start */
	uint64_t after_id; /* list, list_dead */
	uint32_t limit;
	bool finished; /* list: ended timers too */
	uint32_t runs; /* list: each timer's newest runs */
	bool has_visibility;
	int64_t visibility_ns;
	uint32_t max_inflight; /* subscribe: 0, not sent */
	/* Scheduling. ns: delay (call_later), deadline (call_at) or, for an
	 * ack with reschedule, the delay or the absolute time. */
	int64_t ns;
	enum evc_clock clock;
	const char *calendar;
	const char *tz;
	const struct evc_callback *cb;
	const struct evc_repeat *rep;
	bool reschedule, absolute; /* ack */
	const char *reason;	   /* reject (channel: its check) */
	bool dead_letter;
	/* Channel grant: id is the uid or gid. Purge: id is the
	 * publisher's uid when is_uid; cancel_all: the owner's. */
	bool is_uid;
	bool is_gid, subscribe, publish, revoke;
	/* A blocking call's output (NULL: not wanted) and sizeof(*ret),
	 * checked against the row (EVC_RET). */
	void *ret;
	size_t ret_size;
};

#define EVC_ARGS(...) (&(struct evc_args){.fn = __func__, __VA_ARGS__})
#define EVC_RET(p) .ret = (p), .ret_size = sizeof(*(p))

/* A request being built, on its caller's stack: see the top. */
struct evc_msg {
	Evd__Request req;
	union {
		Evd__Hello hello;
		Evd__CallSoon soon;
		Evd__CallLater later;
		Evd__CallAt at;
		Evd__CallOn on;
		Evd__Cancel cancel;
		Evd__Get get;
		Evd__List list;
		Evd__Time time;
		Evd__Stats stats;
		Evd__Subscribe subscribe;
		Evd__Ack ack;
		Evd__ListDead list_dead;
		Evd__RequeueDead requeue_dead;
		Evd__PurgeDead purge_dead;
		Evd__ChannelGrant grant;
		Evd__GetChannel get_channel;
		Evd__Wait wait;
		Evd__Pause pause;
		Evd__Resume resume;
		Evd__Trigger trigger;
		Evd__Retry retry;
		Evd__Purge purge;
		Evd__CancelAll cancel_all;
		Evd__ListChannels list_channels;
		Evd__Peek peek;
		Evd__Reject reject;
		Evd__Unsubscribe unsubscribe;
	};
	/* Scheduling requests only. */
	Evd__Callback cbm;
	Evd__Exec exec;
	Evd__TimerOptions opts;
	Evd__TimerOptions *optsp; /* &opts, or NULL: the daemon's defaults */
	Evd__Repeat repeat;
	bool durable; /* a channel or exec target (EVC_RETRY_KEYED) */
	char **keyp;  /* the body's key member */
	char keybuf[EVC_AUTOKEY_MAX];
	/* The caller's login name for an exec hook that names no user. */
	char userbuf[256];
	char errmsg[256]; /* why the build failed */
};

/*
 * A reply converted to the public structs. Owned by its holder: release
 * with evc_out_clear(). res points into the members (the view an
 * evc_done_cb gets); val is the member the converter filled (NULL: none,
 * e.g. an Acked without a reschedule).
 */
struct evc_out {
	struct evc_result res;
	void *val;
	struct evc_scheduled sc;
	struct evc_time tm;
	struct evc_timer_info ti;
	struct evc_timer_list tl;
	struct evc_stats st;
	struct evc_cluster_stats cs; /* with st, in cluster mode */
	struct evc_dead_list dl;
	struct evc_dead_letters dls; /* with dl: the page with reasons */
	struct evc_rejected rj;
	struct evc_run run;
	struct evc_channel_info ci;
	struct evc_channel_list cl;
	uint64_t count;
};

struct evc_req_type {
	const char *name;
	Evd__Request__BodyCase body;
	Evd__Reply__BodyCase reply; /* the answer that completes it */
	/* The reply body convert reads: reply, except for Wait, whose
	 * result is the ExecFinished report that comes after Waiting. */
	Evd__Reply__BodyCase result;
	enum evc_retry retry;
	/* Returns 0, or -EVC_E_USAGE with m->errmsg. */
	int (*build)(const struct evc_args *a, struct evc_msg *m);
	/* Returns 0 or -EVC_E_NOMEM; reads the body result of rp. */
	int (*convert)(const Evd__Reply *rp, struct evc_out *o);
	size_t out_size;   /* sizeof the member convert fills; 0: none */
	bool ret_required; /* the blocking call fails without ret */
};

extern const struct evc_req_type evc_req_types[EVC_OP__COUNT];

int evc_req_build(enum evc_op op, const struct evc_args *a, struct evc_msg *m);
/* Converts a reply of body result (0 with nothing set for a body no row
 * converts); o is zeroed first. */
int evc_req_convert(Evd__Reply__BodyCase result, const Evd__Reply *rp,
		    struct evc_out *o);
void evc_out_clear(struct evc_out *o);

/*
 * Builds the request op from a and queues it, under c->lock: answered
 * through done/arg (asynchronous) or the waiter w (blocking: w on the
 * caller's stack, which then waits for it, see evc_call). The retry
 * policy of the row sets the request's flags. Returns 0 or a negative
 * code with evc_errmsg(); -EVC_E_USAGE for a NULL c.
 */
int evc_submit(struct evc *c, enum evc_op op, const struct evc_args *a,
	       evc_done_cb done, void *arg, struct evc_waiter *w);

/* evclient.c: submit and wait. evc_call hands back the raw reply (the
 * caller's to free); evc_req_call converts it and moves the result to
 * a->ret. */
int evc_call(struct evc *c, enum evc_op op, const struct evc_args *a,
	     int timeout_ms, Evd__Reply **ret);
int evc_req_call(struct evc *c, enum evc_op op, const struct evc_args *a,
		 int timeout_ms);

#endif
