/*
 * evclient.h: the C client library of evd, the timer daemon.
 *
 * evd offers asyncio's call_soon / call_later / call_at / cancel / time()
 * as a system service: ask it over its Unix socket to call you back later,
 * and it sends a "fired" event (to this connection, or to a named channel
 * whose subscribers receive and acknowledge it).
 *
 * Conventions for every function below:
 * - Functions that can fail return 0 (or a non-negative count) on success
 *   and a negative enum evc_code on failure: `if (r < 0) ... -r`.
 *   The handle then also keeps a human-readable reason, evc_errmsg().
 *   Codes below EVC_E_LOCAL come from the daemon (it said no); codes from
 *   EVC_E_LOCAL up are failures of this side (connect, I/O, timeout).
 * - Output parameters are named ret_* and are untouched on failure.
 * - Strings and buffers the library returns belong to the caller once
 *   returned and are released with the matching *_free function.
 * - A handle (struct evc) is not thread-safe: use one handle from one
 *   thread at a time. Different handles are independent; the library has
 *   no global state, installs no signal handlers, never raises SIGPIPE,
 *   never prints, aborts or exits.
 * - timeout_ms: < 0 waits forever, 0 does not wait, > 0 is a bound in
 *   milliseconds on the whole call.
 *
 * ABI: the soname is libevclient.so.1. Structs the caller reads are
 * only ever extended at the end; the library fills them itself, so callers
 * never allocate them. Only evc_* symbols are exported.
 */
#ifndef EVCLIENT_H
#define EVCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EVC_PROTOCOL_VERSION 1

enum evc_code {
	EVC_OK = 0,
	/* Said by the daemon (the values match the protocol's ErrorCode). */
	EVC_E_INVALID_ARGUMENT = 1,
	EVC_E_NOT_FOUND = 2,
	EVC_E_PERMISSION_DENIED = 3,
	EVC_E_RESOURCE_EXHAUSTED = 4,
	EVC_E_UNAVAILABLE = 5,
	EVC_E_INTERNAL = 6,
	EVC_E_PROTOCOL = 7,
	EVC_E_UNSUPPORTED_VERSION = 8,
	EVC_E_FAILED_PRECONDITION = 9,
	/* Local failures. */
	EVC_E_LOCAL = 100,
	EVC_E_CONNECT = 100,   /* cannot reach the daemon's socket */
	EVC_E_IO = 101,        /* read/write failed or the daemon closed */
	EVC_E_TIMEOUT = 102,   /* timeout_ms elapsed */
	EVC_E_NOMEM = 103,
	EVC_E_BAD_REPLY = 104, /* the daemon sent something undecodable */
	EVC_E_USAGE = 105,     /* a bad argument to this library */
};

enum evc_clock {
	EVC_CLOCK_MONOTONIC = 0, /* the daemon's CLOCK_MONOTONIC */
	EVC_CLOCK_REALTIME = 1,  /* wall clock */
	EVC_CLOCK_BOOTTIME = 2,  /* CLOCK_BOOTTIME, counts suspend */
};

enum evc_timer_state {
	EVC_TIMER_PENDING = 1,
	EVC_TIMER_FIRED = 2,
	EVC_TIMER_CANCELLED = 3,
};

/* Opaque connection to evd. */
struct evc;

/*
 * What a scheduled timer does when it fires. Zero-initialise it:
 * channel NULL means "send the Fired event to this connection" (the timer
 * then dies with the connection); a channel name makes the timer durable
 * and its fires messages in that channel. payload may be NULL.
 * key, if not NULL, is an idempotency key: scheduling the same key again
 * (same owner) returns the existing timer with existing = true.
 * The library copies what it needs; the struct is only borrowed.
 */
struct evc_callback {
	const char *channel;
	const void *payload;
	size_t payload_len;
	const char *key;
};

/* The daemon's answer to a scheduling request. */
struct evc_scheduled {
	uint64_t timer_id;
	enum evc_clock clock;
	int64_t deadline_ns;     /* on clock */
	int64_t due_realtime_ns; /* the same instant in wall time, as of now */
	bool existing;           /* the key matched a timer already there */
};

/* A fire. Owned by the caller; release with evc_fired_free(). */
struct evc_fired {
	uint64_t timer_id;
	uint64_t fire_id;        /* pass to evc_ack() for channel fires */
	char *channel;           /* NULL for fires sent to this connection */
	uint8_t *payload;        /* NUL-terminated for convenience; may be NULL */
	size_t payload_len;
	int64_t due_realtime_ns;
	int64_t fired_realtime_ns;
	int64_t lateness_ns;
	uint32_t attempt;        /* 1, then +1 per redelivery */
};

/* A timer as the daemon reports it. Release with evc_timer_info_free(). */
struct evc_timer_info {
	uint64_t timer_id;
	uint32_t owner_uid;
	uint32_t owner_gid;
	enum evc_timer_state state;
	enum evc_clock clock;
	int64_t deadline_ns;
	int64_t due_realtime_ns;
	int64_t created_realtime_ns;
	char *channel;   /* NULL: fires go to the scheduling connection */
	uint8_t *payload; /* NUL-terminated; may be NULL */
	size_t payload_len;
	char *key;       /* may be NULL */
	uint64_t fire_count;
	int64_t last_fired_realtime_ns; /* 0 if it never fired */
};

/* One page of evc_list(). Release with evc_timer_list_free(). */
struct evc_timer_list {
	struct evc_timer_info *timers;
	size_t count;
	uint64_t next_after_id; /* 0: this was the last page */
};

struct evc_time {
	int64_t monotonic_ns;
	int64_t realtime_ns;
	int64_t boottime_ns;
};

/* Counters of the daemon. Release with evc_stats_free(). */
struct evc_stats {
	uint64_t pending_timers;
	uint64_t connections;
	uint64_t scheduled_total;
	uint64_t fired_total;
	uint64_t cancelled_total;
	uint64_t channels;
	uint64_t queued_messages;
	uint64_t inflight_messages;
	uint64_t redelivered_total;
	uint64_t dropped_total;
	int64_t uptime_ns;
	char *server_version;
	char *store;
};

/* Information from the daemon's greeting, valid while the handle lives. */
struct evc_server_info {
	uint32_t protocol_version;
	const char *server_version;
	const char *boot_id;
	int64_t monotonic_now_ns; /* at the greeting */
	int64_t realtime_now_ns;
};

/*
 * The socket evd listens on by default: $EVD_SOCKET if set; otherwise
 * /run/evd/evd.sock for root and $XDG_RUNTIME_DIR/evd.sock for others
 * (or /run/evd/evd.sock when XDG_RUNTIME_DIR is unset). Writes at most
 * size bytes including the NUL. Returns 0, or -EVC_E_USAGE if it does not
 * fit. Thread-safe (reads the environment).
 */
int evc_default_socket(char *buf, size_t size);

/*
 * Connects to evd at path (NULL: evc_default_socket()) and performs the
 * Hello/Welcome exchange, identifying as client_name (may be NULL).
 * On success stores a new handle in *ret and returns 0. On failure returns
 * a negative code and, if errbuf is not NULL, writes a reason into it
 * (at most errbuf_size bytes including the NUL) — there is no handle to
 * ask. timeout_ms bounds the whole exchange.
 */
int evc_connect(const char *path, const char *client_name, int timeout_ms,
                struct evc **ret, char *errbuf, size_t errbuf_size);

/* Closes the connection and frees the handle and any queued events.
 * NULL is a no-op. Ephemeral timers of this connection die with it. */
void evc_close(struct evc *c);

/* The reason for the last failure on this handle ("" if none).
 * The string belongs to the handle and is valid until its next call. */
const char *evc_errmsg(const struct evc *c);

/* A short, static English name of a code ("not found", "timed out"). */
const char *evc_strerror(int code);

/* The greeting's data. Pointers belong to the handle. Never fails. */
const struct evc_server_info *evc_server_info(const struct evc *c);

/* The connected socket, for poll(); do not read or write it yourself. */
int evc_fd(const struct evc *c);

/* ---- Scheduling (blocking: each returns when the daemon answered) ---- */

/* asyncio call_soon: fire as soon as possible, after what is already due.
 * cb may be NULL (fire to this connection, no payload). */
int evc_call_soon(struct evc *c, const struct evc_callback *cb,
                  int timeout_ms, struct evc_scheduled *ret);

/* asyncio call_later: fire delay_ns from now on clock (EVC_CLOCK_MONOTONIC
 * or EVC_CLOCK_BOOTTIME). The daemon refuses a negative delay_ns with
 * -EVC_E_INVALID_ARGUMENT. */
int evc_call_later(struct evc *c, int64_t delay_ns, enum evc_clock clock,
                   const struct evc_callback *cb, int timeout_ms,
                   struct evc_scheduled *ret);

/* asyncio call_at: fire at when_ns on clock (EVC_CLOCK_REALTIME for a
 * wall-clock instant, EVC_CLOCK_MONOTONIC for the daemon's loop time as
 * evc_time() reports it). An instant in the past fires at once. */
int evc_call_at(struct evc *c, int64_t when_ns, enum evc_clock clock,
                const struct evc_callback *cb, int timeout_ms,
                struct evc_scheduled *ret);

/* Cancels a pending timer. -EVC_E_NOT_FOUND if it is unknown, already
 * fired or cancelled, or not the caller's. */
int evc_cancel(struct evc *c, uint64_t timer_id, int timeout_ms);

/* Reports one timer into *ret (release with evc_timer_info_free()). */
int evc_get(struct evc *c, uint64_t timer_id, int timeout_ms,
            struct evc_timer_info *ret);

/* One page of pending timers with id > after_id (0 from the start), at
 * most limit (0: the daemon's default), only those targeting channel if it
 * is not NULL. Release *ret with evc_timer_list_free(). */
int evc_list(struct evc *c, const char *channel, uint64_t after_id,
             uint32_t limit, int timeout_ms, struct evc_timer_list *ret);

/* asyncio loop.time() plus wall time and boot time, read by the daemon. */
int evc_time(struct evc *c, int timeout_ms, struct evc_time *ret);

/* The daemon's counters. Release *ret with evc_stats_free(). */
int evc_stats(struct evc *c, int timeout_ms, struct evc_stats *ret);

/* Subscribes this connection to channel: its messages now arrive as
 * fired events; each must be acked with evc_ack() or it is redelivered. */
int evc_subscribe(struct evc *c, const char *channel, int timeout_ms);

/* Acknowledges a channel fire. -EVC_E_NOT_FOUND if fire_id is not a
 * message delivered to this connection and still unacked. */
int evc_ack(struct evc *c, uint64_t fire_id, int timeout_ms);

/* ---- Events ---- */

/*
 * Waits for the next fired event, up to timeout_ms, and stores it in *ret
 * (release with evc_fired_free()). Events that arrived during earlier
 * calls are queued in the handle and returned first, in arrival order.
 * Returns 0, -EVC_E_TIMEOUT, or another negative code.
 */
int evc_next_event(struct evc *c, int timeout_ms, struct evc_fired *ret);

/*
 * Handler for fired events, run by evc_dispatch(). The event is borrowed:
 * it is freed when the handler returns. Returning non-zero stops
 * evc_dispatch() early. The handler may call any evc_* function on the
 * same handle except evc_close() and evc_dispatch().
 */
typedef int (*evc_fired_cb)(struct evc *c, const struct evc_fired *ev,
                            void *arg);

/* Installs (or with NULL removes) the handler. */
void evc_set_fired_cb(struct evc *c, evc_fired_cb cb, void *arg);

/*
 * Runs the handler for queued events and for events that arrive within
 * timeout_ms. Returns the number of events handled (>= 0), stopping early
 * when the handler returns non-zero, or a negative code if the connection
 * failed. -EVC_E_USAGE if no handler is installed.
 */
int evc_dispatch(struct evc *c, int timeout_ms);

/* NULL-safe destructors of what the library handed out: they free the
 * members, not the struct itself, and leave it zeroed. */
void evc_fired_free(struct evc_fired *ev);
void evc_timer_info_free(struct evc_timer_info *ti);
void evc_timer_list_free(struct evc_timer_list *tl);
void evc_stats_free(struct evc_stats *st);

#ifdef __cplusplus
}
#endif

#endif
