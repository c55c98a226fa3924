/*
 * evc_private.h: the inside of libevclient, shared by its source files and
 * never installed.
 *
 * Files: evc_req.c holds one row per request type (build, expected
 * reply, retry policy, convert) and evc_submit, the one path every
 * request takes (evc_req.h); evclient.c the blocking entry points (thin
 * wrappers: submit and wait) and the handle's life; evc_async.c the
 * non-blocking ones (thin wrappers: submit), loop integration and the
 * delivery of callbacks; evc_thread.c the background thread; evc_conn.c
 * owns the socket, the frame buffers, the queue of requests in flight,
 * the event queue and reconnection; evc_conv.c copies protocol messages
 * into the public structs and frees them.
 *
 * Locking: every handle has one mutex, c->lock, taken by every public
 * function for its whole duration except while it sleeps in poll() or on
 * the condition variable, and except around user callbacks, which always
 * run unlocked. Everything in struct evc below is guarded by it. Without
 * the background thread the lock is never contended (one thread at a
 * time); it costs two uncontended atomic operations per call.
 *
 * Everything here has hidden visibility (the build's default) and so
 * stays out of the shared library's dynamic symbol table even though the
 * names start with evc_; the static library localises them too. Only
 * functions marked EVC_EXPORT are public.
 */
#ifndef EVC_PRIVATE_H
#define EVC_PRIVATE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evclient.h"
#include "evd.pb-c.h"

#define EVC_EXPORT __attribute__((visibility("default")))

/* Fired events a handle keeps for evc_next_event() at most: beyond this a
 * call that reads one more fails with -EVC_E_NOMEM rather than letting a
 * caller that never drains its events grow without bound. */
#define EVC_MAX_QUEUED_EVENTS 1000000u

/* Requests in flight (sent or waiting to be sent, not yet answered) per
 * handle at most; one more is refused with -EVC_E_BUSY. */
#define EVC_MAX_PENDING 1000000u

/* Deadlines are CLOCK_MONOTONIC nanoseconds; this one never comes. */
#define EVC_FOREVER INT64_MAX

/* Length of a generated idempotency key: "evc-", 32 hex digits of the
 * handle's random prefix, "-", up to 20 digits of a counter. */
#define EVC_AUTOKEY_MAX 64

/* struct evc_req.flags */
enum {
	/* Safe to send again on a new connection after it was sent once
	 * without an answer (reads, subscribe, keyed durable schedules):
	 * evc_submit sets it from the row's enum evc_retry. */
	EVC_REQ_RETRY = 1u << 0,
	/* Hello or a re-subscription: the library's own, never replayed. */
	EVC_REQ_INTERNAL = 1u << 1,
	/* Internal Hello of a reconnection (else a re-subscription). */
	EVC_REQ_HELLO = 1u << 2,
};

/*
 * A blocking call waiting for its reply, on its caller's stack. The
 * request in flight points to it until it is answered (done) or the
 * caller gives up (it then clears the pointer under the lock).
 */
struct evc_waiter {
	bool done;
	int status;         /* 0 or a negative code */
	uint64_t gen;       /* c->conn_gen when it was answered */
	Evd__Reply *reply;  /* the reply on success; the waiter's to free */
	char errmsg[512];   /* the reason on failure */
};

/*
 * One request in flight. Its frame sits in the output buffer, in the
 * same order as the ring, until its reply arrives: so frames can be sent
 * again after a reconnection. Owned by the handle's ring.
 */
struct evc_req {
	uint64_t id;
	uint32_t frame_len;
	uint8_t want;  /* the Evd__Reply__BodyCase that answers it */
	uint8_t flags; /* EVC_REQ_* */
	evc_done_cb done;
	void *arg;
	struct evc_waiter *waiter;
	/* A Subscribe's visibility timeout and max_inflight, remembered
	 * with the channel once the daemon accepts it (0 for other
	 * requests). */
	int64_t visibility_ns;
	uint32_t max_inflight;
	/* A Wait's timer id (0 for other requests). */
	uint64_t wait_timer_id;
};

/* An evc_wait_async() the daemon accepted (Waiting), until its
 * ExecFinished event or the loss of the connection. Owned by the
 * handle's awaits array, in the order the waits were accepted. */
struct evc_await {
	uint64_t timer_id;
	evc_done_cb done;
	void *arg;
};

/* An ExecFinished event nobody took yet: for a blocking evc_wait() about
 * to look, or kept for a later one (see EVC_MAX_KEPT_RUNS). Owned by the
 * handle's kept array, oldest first. */
struct evc_kept {
	uint64_t timer_id;
	Evd__Reply *reply; /* body exec_finished; owned */
};

/* A channel to subscribe again after a reconnection. Owned by the
 * handle's subs array. */
struct evc_sub {
	char *channel;
	int64_t visibility_ns; /* 0: the daemon's default */
	uint32_t max_inflight; /* 0: the daemon's default */
};

/* Something for evc_process() (or the thread) to call back. */
enum evc_item_type {
	EVC_ITEM_DONE = 1, /* a request's completion */
	EVC_ITEM_CONN = 2, /* a connection event */
};

struct evc_item {
	uint8_t type;
	uint8_t want;       /* EVC_ITEM_DONE: the reply body expected */
	int status;         /* 0 or a negative code */
	int conn_event;     /* EVC_ITEM_CONN: enum evc_conn_event */
	evc_done_cb done;
	void *arg;
	Evd__Reply *reply;  /* owned; NULL on failure */
	char *errmsg;       /* owned; may be NULL (then evc_strerror) */
};

/*
 * One connection to evd, kept across reconnections. Owned by the caller
 * from evc_connect() to evc_close().
 *
 * Invariants (under lock):
 * - in[in_start, in_end) holds received bytes not yet decoded.
 * - out[out_start, out_len) is exactly the frames of the requests in the
 *   ring reqs, in order; out[out_start, out_sent) of it has been written
 *   to the current socket. A reply always answers the ring's head.
 * - dead != 0: the connection failed and no reconnection is configured:
 *   the socket is shut down but stays open until evc_close() (evc_fd()),
 *   every request fails with dead / dead_msg.
 * - fd < 0 and !dead: reconnecting; the next attempt is at reconnect_at.
 */
struct evc {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* broadcast when a waiter may have a result */

	int fd;
	char *path;
	char *client_name;
	uint64_t last_request_id;
	bool welcomed; /* the current connection has answered Hello */

	uint8_t *in;
	size_t in_start, in_end, in_cap;
	uint8_t *out;
	size_t out_start, out_sent, out_len, out_cap;

	struct evc_req *reqs; /* ring of requests in flight */
	size_t req_head, req_len, req_cap;

	struct evc_item *items; /* ring of callbacks to run */
	size_t item_head, item_len, item_cap;

	/* Ring of events that arrived and were not handled yet. */
	struct evc_fired *queue;
	size_t queue_head, queue_len, queue_cap;

	evc_fired_cb fired_cb;
	void *fired_arg;
	evc_conn_cb conn_cb;
	void *conn_arg;
	evc_watch_cb watch_cb;
	void (*watch_release)(void *arg);
	void *watch_arg;
	int watch_fd, watch_events; /* as last reported */
	int64_t watch_deadline_ns;

	bool dispatching;   /* callbacks are being run: no re-entry */
	bool close_pending; /* evc_close() was called from a callback */

	/* Reconnection: 0 = off. */
	int reconnect_min_ms, reconnect_max_ms;
	int backoff_ms;
	int64_t reconnect_at_ns;
	uint64_t rand_state;
	char key_prefix[40]; /* "evc-" + 32 hex digits */
	uint64_t key_counter;
	struct evc_sub *subs; /* to subscribe again after a reconnection */
	size_t n_subs, subs_cap;

	/* Background thread. */
	bool thread_running, thread_stop;
	pthread_t thread;
	int wake_fd;          /* eventfd; -1 without the thread */
	bool sleeping, woken; /* the thread sleeps in poll(); it was woken */

	/* Exec waits (EVCLIENT_1.3). conn_gen counts lost connections, so
	 * that a blocking evc_wait() answered Waiting on one connection
	 * notices its loss even after a reconnection. */
	uint64_t conn_gen;
	struct evc_await *awaits;
	size_t n_awaits, awaits_cap;
	struct evc_kept *kept;
	size_t n_kept, kept_cap;
	size_t blocking_waits; /* evc_wait() calls waiting for a report */

	int dead; /* 0, or the negative code that ended the connection */
	char dead_msg[512];

	struct evc_server_info info; /* points into the strings below */
	char *server_version;
	char *boot_id;

	char errmsg[512];
};

/* evc_conn.c: all with c->lock held. */
int64_t evc_now_ns(void);
int64_t evc_conn_deadline(int timeout_ms);
bool evc_conn_expired(int64_t deadline_ns);
int evc_conn_fail(struct evc *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int evc_conn_init(struct evc *c, const char *path, const char *client_name);
int evc_conn_open(struct evc *c, int64_t deadline_ns);
int evc_conn_welcome(struct evc *c, const Evd__Welcome *w);
int evc_conn_submit(struct evc *c, Evd__Request *req,
		    Evd__Reply__BodyCase want, unsigned flags, evc_done_cb done,
		    void *arg, struct evc_waiter *waiter);
void evc_conn_abandon(struct evc *c, struct evc_waiter *w);
int evc_conn_io(struct evc *c);
int evc_conn_io_flush(struct evc *c);
int evc_conn_wait(struct evc *c, int64_t deadline_ns);
int evc_conn_events(const struct evc *c);
int64_t evc_conn_next_deadline(const struct evc *c);
void evc_conn_watch(struct evc *c);
void evc_conn_pop_event(struct evc *c, struct evc_fired *ret);
bool evc_conn_pop_item(struct evc *c, struct evc_item *ret);
void evc_conn_item_clear(struct evc_item *it);
void evc_conn_wake(struct evc *c);
int evc_conn_add_sub(struct evc *c, const char *channel, int64_t visibility_ns,
		     uint32_t max_inflight);
Evd__Reply *evc_conn_take_kept(struct evc *c, uint64_t timer_id);
void evc_conn_autokey(struct evc *c, char *buf);
void evc_conn_clear(struct evc *c);

/* evclient.c (the request paths are in evc_req.h) */
int evc_run_until(struct evc *c, bool (*pred)(struct evc *, void *),
		  void *parg, int64_t deadline_ns);
bool evc_on_thread(const struct evc *c);
void evc_free_handle(struct evc *c);

/* evc_async.c */
int evc_deliver(struct evc *c, bool fired);

/* evc_thread.c */
void evc_thread_stop_locked(struct evc *c);

/* evc_conv.c */
/* user: the exec hook's user when cb->exec names none (may be NULL). */
int evc_conv_callback(const struct evc_callback *cb, const char *user,
		      Evd__Exec *execbuf, Evd__Callback *ret);
int evc_conv_run(const Evd__Run *r, struct evc_run *ret);
int evc_conv_channel_info(const Evd__ChannelInfo *ci,
			  struct evc_channel_info *ret);
void evc_conv_options(const struct evc_timer_options *o,
		      const struct evc_repeat *rep, Evd__Repeat *repbuf,
		      Evd__TimerOptions *ret);
void evc_conv_scheduled(const Evd__Scheduled *s, struct evc_scheduled *ret);
int evc_conv_fired(const Evd__Fired *f, struct evc_fired *ret);
int evc_conv_timer_info(const Evd__TimerInfo *t, struct evc_timer_info *ret);
int evc_conv_timer_list(const Evd__TimerList *l, struct evc_timer_list *ret);
int evc_conv_stats(const Evd__StatsReply *s, struct evc_stats *ret);
/* s's cluster node; *ret zeroed (node NULL) when it has none. */
int evc_conv_cluster_stats(const Evd__StatsReply *s,
			   struct evc_cluster_stats *ret);
int evc_conv_dead_list(const Evd__DeadList *l, struct evc_dead_list *ret);
/* A ChannelList into *ret (owned by the caller: evc_channel_list_free).
 * Returns 0 or -EVC_E_NOMEM (*ret untouched). */
int evc_conv_channel_list(const Evd__ChannelList *l,
			  struct evc_channel_list *ret);
int evc_conv_dead_letters(const Evd__DeadList *l,
			  struct evc_dead_letters *ret);

#endif
