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
 * - Every string passed in (keys, channel names, zones, exec arguments,
 *   ...) must be UTF-8: one that is not is refused before anything is
 *   sent, with -EVC_E_USAGE and a reason naming the field (the daemon
 *   would answer INVALID_ARGUMENT).
 * - Output parameters are named ret_* and are untouched on failure.
 * - Strings and buffers the library returns belong to the caller once
 *   returned and are released with the matching *_free function.
 * - Threads: without the background thread (evc_start_thread()), a
 *   handle is used by one thread at a time; different handles are
 *   independent. With the thread running, every function marked
 *   "Any thread" below may be called concurrently from any thread.
 *   Each function states its own rule ("Thread-safety:").
 * - The library has no global state, installs no signal handlers, never
 *   raises SIGPIPE (it sends with MSG_NOSIGNAL), never prints, aborts or
 *   exits. Every fd it creates is close-on-exec.
 * - Callbacks (completions, fired events, connection events) are never
 *   run from inside the call that queued them: only from evc_process(),
 *   evc_dispatch(), evc_drain() or the background thread, one at a time,
 *   with the handle unlocked, so they may call any evc_* function on the
 *   handle except where noted.
 * - timeout_ms: < 0 waits forever, 0 does not wait, > 0 is a bound in
 *   milliseconds on the whole call.
 *
 * ABI: the soname is libevclient.so.1. Callers allocate the structs
 * the library fills (struct evc_timer_info and struct evc_stats are
 * usually on the caller's stack; evc_list() returns an array of
 * evc_timer_info) as well as those they fill (struct evc_callback), so
 * the size of each is part of the ABI. Before the first release (0.1.0)
 * some grew at their end: evc_callback in EVCLIENT_1.2 (options) and
 * EVCLIENT_1.3 (exec), evc_timer_info and evc_stats in EVCLIENT_1.4
 * (repeat, calendar; clock steps), evc_exec and evc_timer_info in
 * EVCLIENT_1.5 (the exec hook's user, properties, retries and
 * on-failure channel), so every program is built against
 * this layout. From the first release on none of them grows again: new
 * data comes in new structs through new functions. Callers must
 * zero-initialise what they fill, so that members they do not set stay
 * NULL.
 * Enums only gain values. Only evc_* symbols are exported, versioned:
 * EVCLIENT_1 for the blocking API, EVCLIENT_1.1 for what came with the
 * asynchronous API, EVCLIENT_1.2 for durable channels (timer options,
 * visibility timeouts, dead letters), EVCLIENT_1.3 for exec hooks
 * (evc_wait) and channel grants, EVCLIENT_1.4 for repeating and
 * calendar timers (struct evc_repeat, evc_call_*_opts, evc_call_on),
 * pause/resume/trigger and the atomic trampoline (evc_ack_reschedule),
 * EVCLIENT_1.5 for the exec hook options and evc_retry, EVCLIENT_1.6 for
 * evc_purge, EVCLIENT_1.7 for evc_list_opts (ended timers and last runs
 * in a listing), evc_reject, dead letters' reasons and
 * evc_subscribe_limit, EVCLIENT_1.8 for evc_unsubscribe, EVCLIENT_1.9
 * for evc_cluster_stats
 * (new structs: evc_rejected, evc_dead_letter, evc_dead_letters; struct
 * evc_result, which the library allocates, gained members at its end).
 * struct evc_timer_options is embedded in struct evc_timer_info and has
 * no size field, so it cannot grow: what came in EVCLIENT_1.4 is a new
 * caller-filled struct, evc_repeat, passed to new functions. It will not
 * grow either; a later addition will be a new struct again.
 * The libevent adapter (evc_attach) is a separate library,
 * libevclient-event.so.1 with evclient-event.h, so that libevclient
 * itself never depends on libevent.
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
	EVC_E_BUSY = 106,      /* too many requests in flight (EVCLIENT_1.1) */
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
	/* EVCLIENT_1.4: pending, but it does not fire until evc_resume(). */
	EVC_TIMER_PAUSED = 4,
};

/* What to do with a timer whose deadline passed while evd was not
 * running (EVCLIENT_1.2; values match the protocol's Misfire). */
enum evc_misfire {
	EVC_MISFIRE_FIRE = 0, /* fire once, late, reporting the lateness */
	EVC_MISFIRE_SKIP = 1, /* do not fire; a SKIPPED run records it */
	EVC_MISFIRE_ALL =
	    2, /* fire every missed occurrence (one-shots: once) */
};

/* How a channel fire is delivered (EVCLIENT_1.2; the protocol's
 * Delivery). */
enum evc_delivery {
	EVC_DELIVERY_AT_LEAST_ONCE = 0, /* kept until acked, redelivered */
	EVC_DELIVERY_AT_MOST_ONCE = 1,	/* removed when delivered */
};

/* What a relative (monotonic/boottime) deadline does across a reboot
 * (EVCLIENT_1.2; the protocol's Downtime). */
enum evc_downtime {
	EVC_DOWNTIME_COUNTS = 0, /* it stays at its wall-clock instant */
	EVC_DOWNTIME_PAUSED = 1, /* time the machine was down does not count */
};

/* What became of one fire: struct evc_run.outcome (EVCLIENT_1.2; the
 * protocol's RunOutcome). */
enum evc_run_outcome {
	EVC_RUN_DELIVERED = 1,	 /* sent to the connection that scheduled it */
	EVC_RUN_QUEUED = 2,	 /* became a message in its channel */
	EVC_RUN_ACKED = 3,	 /* a subscriber acked the message */
	EVC_RUN_REDELIVERED = 4, /* not acked in time, or its subscriber
				  * left: sent again */
	EVC_RUN_DEAD_LETTERED = 5, /* max_attempts reached: dead-letter list */
	EVC_RUN_SKIPPED = 6,	   /* not fired (misfire skip; see detail) */
	EVC_RUN_LOST = 7,	   /* at-most-once, its subscriber left */
	/* EVCLIENT_1.3: exec hooks (struct evc_exec) and evc_wait(). */
	EVC_RUN_EXEC_STARTED = 8,   /* the hook started; its end is another
				     * run */
	EVC_RUN_EXEC_EXITED = 9,    /* it exited: exit_code */
	EVC_RUN_EXEC_SIGNALED = 10, /* a signal ended it: signal */
	EVC_RUN_EXEC_TIMED_OUT = 11, /* killed at its timeout */
	EVC_RUN_EXEC_FAILED = 12,   /* could not be started (detail says
				     * why) */
	EVC_RUN_CANCELLED = 13,     /* the timer was cancelled (detail:
				     * "its connection closed" if that
				     * was why) */
};

/* A calendar timer's local time that does not exist, when the clock
 * jumps over it (spring forward): struct evc_repeat.dst_gap
 * (EVCLIENT_1.4; the protocol's DstGap). */
enum evc_dst_gap {
	EVC_DST_GAP_SHIFT = 0, /* the first instant after the gap (default) */
	EVC_DST_GAP_SKIP = 1,  /* not at all that day */
	EVC_DST_GAP_UTC = 2,   /* with the offset in force before the gap */
};

/* A calendar timer's local time that exists twice (fall back):
 * struct evc_repeat.dst_overlap (EVCLIENT_1.4; the protocol's
 * DstOverlap). */
enum evc_dst_overlap {
	EVC_DST_OVERLAP_FIRST = 0,  /* the earlier instant only (default) */
	EVC_DST_OVERLAP_SECOND = 1, /* the later instant only */
	EVC_DST_OVERLAP_BOTH = 2,   /* both instants */
};

/* A repeating exec hook's next fire while its previous run still runs:
 * struct evc_repeat.overlap (EVCLIENT_1.4; the protocol's Overlap). */
enum evc_overlap {
	EVC_OVERLAP_SKIP = 0,	   /* do not start it; a run records the
				    * skip (default) */
	EVC_OVERLAP_QUEUE_ONE = 1, /* start it when the previous run ends
				    * (at most one waits) */
	EVC_OVERLAP_ALLOW = 2,	   /* start it anyway */
	EVC_OVERLAP_TERMINATE_PREVIOUS = 3, /* end the previous run (SIGTERM,
					     * then SIGKILL), then start */
};

/* Opaque connection to evd. */
struct evc;

/*
 * Per-timer policies (EVCLIENT_1.2). All zero means the daemon's
 * defaults: misfire fire, at-least-once, the daemon's max_attempts,
 * downtime counts. misfire, delivery and downtime take the values of
 * enum evc_misfire, evc_delivery and evc_downtime; the daemon refuses
 * others, and max_attempts above its bound, with -EVC_E_INVALID_ARGUMENT.
 * delivery and max_attempts only matter for channel timers.
 */
struct evc_timer_options {
	int misfire;
	int delivery;
	uint32_t
	    max_attempts; /* deliveries before dead-lettering; 0: default */
	int downtime;
};

/*
 * How a timer repeats and how exactly it fires (EVCLIENT_1.4), for
 * evc_call_soon_opts(), evc_call_later_opts(), evc_call_at_opts() and
 * evc_call_on(). Zero-initialise it: all zero is a one-shot timer with
 * the daemon's defaults, exactly what evc_call_soon() & co. schedule.
 * - every_ns > 0: an interval timer; each deadline is the previous
 *   deadline plus every_ns on the timer's clock, so fires do not drift
 *   and DST never moves them. Must be 0 for evc_call_on().
 * - count > 0: the timer ends (state EVC_TIMER_FIRED) after that many
 *   fires; 0 repeats until cancelled.
 * - dst_gap, dst_overlap (enum evc_dst_gap, evc_dst_overlap): calendar
 *   timers only, how a local time that does not exist, or exists twice,
 *   is resolved.
 * - overlap (enum evc_overlap): repeating exec hooks only.
 * - randomized_delay_ns: each deadline is moved later by a random amount
 *   in [0, randomized_delay_ns), to spread fires (systemd's
 *   RandomizedDelaySec=).
 * - accuracy_ns: the daemon may fire up to this much after a deadline,
 *   never before, to serve timers of one window in one wake-up
 *   (systemd's AccuracySec=).
 * The daemon judges the values (-EVC_E_INVALID_ARGUMENT for a negative
 * one or an unknown policy). Borrowed; copied before the call returns.
 * It will not grow (see "ABI" at the top).
 */
struct evc_repeat {
	int64_t every_ns;
	uint64_t count;
	int dst_gap;
	int dst_overlap;
	int overlap;
	int64_t randomized_delay_ns;
	int64_t accuracy_ns;
};

/*
 * An exec hook (EVCLIENT_1.3): a command the daemon runs as the timer's
 * owner when it fires, with the payload on its stdin and EVD_TIMER_ID,
 * EVD_FIRE_ID, EVD_DUE_NS and EVD_LATENESS_NS in its environment.
 * Without shell, argv[0..argc) is the program and its arguments, no
 * shell involved (argv[0]: an absolute path, or a name the daemon looks
 * up in /usr/local/bin:/usr/bin:/bin). With shell, argc is 1 and argv[0]
 * is a command for /bin/sh -c. env[0..nenv) are extra "KEY=VALUE"
 * entries; cwd NULL is the owner's home (else /); timeout_ns 0 is no
 * timeout (at it the hook's process group gets SIGTERM, then SIGKILL).
 * Everything is borrowed and copied before the scheduling call returns.
 * The daemon judges the values (-EVC_E_INVALID_ARGUMENT, or
 * -EVC_E_RESOURCE_EXHAUSTED past a limit on argv or env size); argc 0,
 * or a NULL element, is -EVC_E_USAGE.
 */
struct evc_exec {
	const char *const *argv;
	size_t argc;
	bool shell;
	const char *const *env;
	size_t nenv;
	const char *cwd;
	int64_t timeout_ns;
	/*
	 * EVCLIENT_1.5 (issue 14). user: the owner's login name, which must
	 * still name the owner's uid when the hook fires; NULL: the library
	 * fills in the caller's (getpwuid_r(geteuid())), nothing if it has
	 * none. properties[0..nproperties): job settings "Key=Value" as
	 * systemd-run -p takes them, passed through (the daemon judges the
	 * keys: -EVC_E_INVALID_ARGUMENT naming one it refuses). retry: a
	 * failed run (non-zero exit, signal, timeout, failed start) runs
	 * again up to this many more times, the n-th retry retry_delay_ns *
	 * 2^(n-1) after the failure (capped at an hour; 0: 1 s).
	 * on_failure: a channel the owner may publish to, which gets a
	 * message (JSON: timer and fire ids, outcome, exit status or
	 * signal, the output tail) when a run fails for good; NULL for none.
	 * To pass variables of the caller's environment (evctl --pass-env),
	 * add "NAME=value" entries to env.
	 */
	const char *user;
	const char *const *properties;
	size_t nproperties;
	uint32_t retry;
	int64_t retry_delay_ns;
	const char *on_failure;
};

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
	/* EVCLIENT_1.2: the timer's policies; NULL for the daemon's
	 * defaults. Borrowed like the rest. */
	const struct evc_timer_options *options;
	/* EVCLIENT_1.3: run this command instead (durable, like a channel
	 * timer); NULL for none. channel and exec exclude each other: both
	 * set is -EVC_E_USAGE. Borrowed like the rest. */
	const struct evc_exec *exec;
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

/* One fire of a timer, from its history (EVCLIENT_1.2). Owned by the
 * struct evc_timer_info that holds it; one evc_wait() returns is the
 * caller's, released with evc_run_free(). */
struct evc_run {
	uint64_t fire_id; /* 0 when it did not fire */
	int64_t due_realtime_ns;
	int64_t fired_realtime_ns; /* 0: it did not fire (e.g. skipped) */
	int64_t lateness_ns;
	int outcome;  /* enum evc_run_outcome */
	char *detail; /* why, in words; may be NULL */
	/* EVCLIENT_1.3, exec hooks (0 / NULL otherwise): exit_code for
	 * EVC_RUN_EXEC_EXITED, signal for EVC_RUN_EXEC_SIGNALED (and the
	 * signal that ended a timed-out hook, when the daemon says),
	 * duration_ns from start to end. The tails are the last bytes the
	 * hook wrote (evc_wait: up to 64 KiB; evc_get history: up to 1 KiB),
	 * NUL-terminated for convenience, NULL when the daemon sent none. */
	int exit_code;
	int signal;
	int64_t duration_ns;
	uint8_t *stdout_tail;
	size_t stdout_len;
	uint8_t *stderr_tail;
	size_t stderr_len;
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
	/* EVCLIENT_1.2. history: its last runs, newest first, from evc_get()
	 * (evc_list() leaves it NULL, 0; evc_list_opts() fills it with
	 * runs, without output tails, when asked); empty when the daemon keeps
	 * none (history = 0). options: as the daemon reports them, valid
	 * only when has_options. */
	struct evc_run *history;
	size_t history_count;
	struct evc_timer_options options;
	bool has_options;
	/* EVCLIENT_1.3: the exec hook, for display; exec_argv NULL (and
	 * exec_argc 0) when the timer has none. With exec_shell, exec_argv[0]
	 * is the /bin/sh -c command. exec_cwd may be NULL (the owner's
	 * home); exec_timeout_ns 0 is none. exec_argv has exec_argc strings
	 * and a NULL after them. */
	char **exec_argv;
	size_t exec_argc;
	bool exec_shell;
	char *exec_cwd;
	int64_t exec_timeout_ns;
	/* EVCLIENT_1.4. repeat: the timer's repeat and firing policies as
	 * the daemon reports them (all zero when it reports none, or with
	 * an evd older than the protocol's Repeat). repeating: an interval
	 * (repeat.every_ns > 0) or calendar timer; its deadline_ns and
	 * due_realtime_ns are then the next occurrence, and fire_count
	 * counts the fires so far. calendar and tz: a calendar timer's
	 * expression and zone as scheduled (NULL otherwise; tz NULL is the
	 * daemon's zone). A paused timer has state EVC_TIMER_PAUSED. */
	struct evc_repeat repeat;
	bool repeating;
	char *calendar;
	char *tz;
	/* EVCLIENT_1.5, exec hooks (0 / NULL otherwise): the options of
	 * struct evc_exec as stored (exec_user NULL when none was sent;
	 * exec_properties has exec_nproperties strings and a NULL after
	 * them). exec_attempt: a one-shot waiting for a retry of a failed
	 * run is pending again, and this is the attempt it runs next (2 for
	 * the first retry); 0 otherwise. */
	char *exec_user;
	char **exec_properties;
	size_t exec_nproperties;
	uint32_t exec_retry;
	int64_t exec_retry_delay_ns;
	char *exec_on_failure;
	uint32_t exec_attempt;
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
	uint64_t dead_messages; /* in dead-letter lists (EVCLIENT_1.2) */
	/* EVCLIENT_1.4: times the wall clock was set or stepped since evd
	 * started, times the system zone's UTC offset changed, and that
	 * offset now in seconds east of UTC (0 from an older evd). */
	uint64_t clock_steps;
	uint64_t tz_changes;
	int64_t utc_offset_s;
};

/*
 * EVCLIENT_1.9: the daemon as one node of a cluster (evd --cluster, see
 * evd(8) CLUSTER MODE), counted since it started. node is NULL when evd
 * is not in cluster mode (or predates it): the rest is then 0. Release
 * with evc_cluster_stats_free(). It will not grow: a later addition is a
 * new struct.
 */
struct evc_cluster_stats {
	char *node;               /* its id, as in the database's evd.nodes */
	bool lease_live;          /* it may fire now (heartbeats answered) */
	uint64_t claims_held;     /* timers claimed and not yet retired */
	uint64_t claimed_total;   /* timers claimed from the database */
	uint64_t fence_losses;    /* retires that found the claim gone */
	uint64_t reaped_nodes;    /* dead nodes it reaped */
	uint64_t reaped_timers;   /* their claims it made pending again */
	uint64_t lease_lapses;    /* its lease ran out: claims dropped */
	uint64_t lease_gaps;      /* heartbeat gaps: claims adopted anew */
	/* The database's latency: heartbeat round trips on the node's own
	 * connection, the last answered one and p99 and max over the last
	 * db_rtt_samples (at most 128); 0 before the first answer. */
	int64_t db_rtt_last_ns;
	int64_t db_rtt_p99_ns;
	int64_t db_rtt_max_ns;
	uint32_t db_rtt_samples;
	/* How long heartbeats have gone unanswered (0: the last one was
	 * answered). */
	int64_t db_unanswered_ns;
};

/* One page of a channel's dead-letter list (EVCLIENT_1.2): messages that
 * reached max_attempts deliveries unacked, attempt = deliveries made.
 * Release with evc_dead_list_free(). */
struct evc_dead_list {
	struct evc_fired *messages;
	size_t count;
	uint64_t next_after_fire_id; /* 0: this was the last page */
};

/* One grant of a channel (EVCLIENT_1.3): rights of a uid, or with
 * is_gid of a gid. */
struct evc_channel_grant {
	bool is_gid;
	uint32_t id;
	bool subscribe;
	bool publish;
};

/* A channel's owner, grants and counters (EVCLIENT_1.3). Release with
 * evc_channel_info_free(). */
struct evc_channel_info {
	char *channel;
	uint32_t owner_uid;
	struct evc_channel_grant *grants;
	size_t grant_count;
	uint64_t queued_messages;   /* waiting for a subscriber */
	uint64_t inflight_messages; /* delivered, not acked yet */
	uint64_t dead_messages;     /* in its dead-letter list */
	uint32_t subscribers;       /* connections subscribed now */
};

/* A page of evc_list_channels() (EVCLIENT_1.7): each channel with its
 * counts (grant_count 0: evc_get_channel() has the grants). Release
 * with evc_channel_list_free(). */
struct evc_channel_list {
	struct evc_channel_info *channels;
	size_t count;
	char *next_after; /* NULL: this was the last page */
};

/* What became of a rejected message (EVCLIENT_1.7): dead, it went to
 * the dead-letter list; otherwise it is delivered again after
 * redeliver_in_ns. */
struct evc_rejected {
	bool dead;
	int64_t redeliver_in_ns;
};

/* A dead letter with the reason its last delivery failed (EVCLIENT_1.7):
 * the words of the subscriber that rejected it (evc_reject()), or the
 * daemon's ("not acked within the visibility timeout"); NULL when none
 * is known (a message dead-lettered by an older evd). */
struct evc_dead_letter {
	struct evc_fired msg;
	char *reason;
};

/* One page of evc_list_dead_letters() (EVCLIENT_1.7). Release with
 * evc_dead_letters_free(). */
struct evc_dead_letters {
	struct evc_dead_letter *letters;
	size_t count;
	uint64_t next_after_fire_id; /* 0: this was the last page */
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
 * The result of an asynchronous request, passed to its evc_done_cb.
 * Borrowed: valid only during the callback (copy what you keep). On
 * success status is 0 and the member for the request's kind is set
 * (scheduled for evc_call_*_async and evc_call_on_async, and for
 * evc_ack_reschedule_async the timer's new deadline; time; timer for
 * evc_get_async, evc_pause_async, evc_resume_async and
 * evc_trigger_async; list, stats, dead_list;
 * count for evc_requeue_dead_async and evc_purge_dead_async; run for
 * evc_wait_async, channel for evc_channel_grant_async and
 * evc_get_channel_async; none for cancel, subscribe and ack); on
 * failure status is a negative enum
 * evc_code, errmsg says why, every pointer member is NULL and count 0.
 */
struct evc_result {
	int status;
	const char *errmsg; /* "" on success */
	const struct evc_scheduled *scheduled;
	const struct evc_time *time;
	const struct evc_timer_info *timer;
	const struct evc_timer_list *list;
	const struct evc_stats *stats;
	/* EVCLIENT_1.2 */
	const struct evc_dead_list *dead_list;
	uint64_t count; /* messages requeued or purged */
	/* EVCLIENT_1.3 */
	const struct evc_run *run;
	const struct evc_channel_info *channel;
	/* EVCLIENT_1.7 */
	const struct evc_channel_list *channel_list;
	/* EVCLIENT_1.7: evc_reject_async's answer; and for
	 * evc_list_dead_async, besides dead_list, the same page with each
	 * message's reason. */
	const struct evc_rejected *rejected;
	const struct evc_dead_letters *dead_letters;
	/* EVCLIENT_1.9: evc_stats_async's answer also sets this, when the
	 * daemon is a node of a cluster (NULL otherwise). */
	const struct evc_cluster_stats *cluster;
};

/*
 * Completion of an asynchronous request: called exactly once per request
 * that was accepted (the *_async call returned 0), never from inside the
 * *_async call itself. See "Callbacks" above for where it runs.
 */
typedef void (*evc_done_cb)(struct evc *c, const struct evc_result *res,
                            void *arg);

/* Connection events, reported to the evc_conn_cb (evc_set_conn_cb()). */
enum evc_conn_event {
	/* The connection failed. Timers scheduled without a channel by this
	 * handle (ephemeral: their Fired events come to this connection)
	 * died with it, and channel messages delivered but not acked will be
	 * redelivered. Requests already sent whose effect cannot safely be
	 * repeated (ephemeral schedules, cancel, ack) completed with
	 * -EVC_E_IO; the others are kept and sent again once reconnected.
	 * code and reason say why. Without reconnection (evc_set_reconnect)
	 * this is the end of the connection. */
	EVC_CONN_LOST = 1,
	/* Reconnected: Hello done, channels re-subscribed (sent ahead of the
	 * retried requests), evc_server_info() refreshed (boot_id tells a
	 * reboot). code is 0. */
	EVC_CONN_RESTORED = 2,
	/* Subscribing again to a channel failed after a reconnection; reason
	 * names the channel. The channel is dropped from the handle. */
	EVC_CONN_RESUBSCRIBE_FAILED = 3,
};

typedef void (*evc_conn_cb)(struct evc *c, enum evc_conn_event ev, int code,
                            const char *reason, void *arg);

/*
 * Loop integration: called whenever what the handle waits for changes:
 * fd (-1: none, e.g. while waiting to reconnect), events (POLLIN and
 * POLLOUT bits of poll(2); 0: do not watch the fd) and timeout_ms (-1:
 * none; otherwise call evc_process() after that many milliseconds even
 * if the fd is not ready). It runs inside the library with the handle
 * locked: it must not call any evc_* function; it only re-arms your
 * loop's watchers.
 */
typedef void (*evc_watch_cb)(struct evc *c, int fd, int events,
                             int timeout_ms, void *arg);

/*
 * The socket evd listens on by default: $EVD_SOCKET if set; otherwise
 * /run/evd/evd.sock for root. For others, the first that exists of
 * $XDG_RUNTIME_DIR/evd.sock (a user instance), /tmp/evd-UID/evd.sock (a
 * user instance without XDG_RUNTIME_DIR; only in the user's own 0700
 * directory) and /run/evd/evd.sock (the system instance, which serves
 * every user); when none does, $XDG_RUNTIME_DIR/evd.sock if that is
 * set, else /run/evd/evd.sock. Writes at most size bytes including the
 * NUL. Returns 0, or -EVC_E_USAGE if it does not fit. Thread-safety: any
 * thread (reads the environment; not safe against a concurrent
 * setenv()).
 */
int evc_default_socket(char *buf, size_t size);

/*
 * Connects to evd at path (NULL: evc_default_socket()) and performs the
 * Hello/Welcome exchange, identifying as client_name (may be NULL).
 * On success stores a new handle in *ret and returns 0. On failure returns
 * a negative code and, if errbuf is not NULL, writes a reason into it
 * (at most errbuf_size bytes including the NUL) — there is no handle to
 * ask. timeout_ms bounds the whole exchange. The handle starts without
 * reconnection, background thread or callbacks: it behaves exactly as
 * the blocking API always did. Thread-safety: any thread.
 */
int evc_connect(const char *path, const char *client_name, int timeout_ms,
                struct evc **ret, char *errbuf, size_t errbuf_size);

/*
 * Closes the connection and frees the handle, the queued events and the
 * requests in flight (their callbacks are not run). NULL is a no-op.
 * Ephemeral timers of this connection die with it. If the background
 * thread runs, it is stopped first. Called from inside a callback, the
 * handle is freed once that callback returns. Thread-safety: no other
 * call on the handle may run concurrently or follow.
 */
void evc_close(struct evc *c);

/*
 * The reason for the last failure of a call on this handle ("" if none).
 * The string belongs to the handle and is valid until its next call.
 * Thread-safety: with the background thread, another thread's failing
 * call may overwrite it at any time; results of asynchronous requests
 * carry their own errmsg.
 */
const char *evc_errmsg(const struct evc *c);

/* A short, static English name of a code ("not found", "timed out").
 * Thread-safety: any thread. */
const char *evc_strerror(int code);

/*
 * The greeting's data. Pointers belong to the handle and are valid until
 * evc_close() or the next reconnection (EVC_CONN_RESTORED), which
 * refreshes them. Never fails. Thread-safety: not with the background
 * thread running (a reconnection rewrites it); otherwise as the handle.
 */
const struct evc_server_info *evc_server_info(const struct evc *c);

/*
 * The connected socket, for poll(); do not read or write it yourself.
 * -1 while reconnecting. The fd changes across reconnections: loop users
 * watch it through evc_watch_cb or ask again before every poll().
 * Thread-safety: any thread, but with the background thread running the
 * answer is only informative.
 */
int evc_fd(const struct evc *c);

/* ---- Scheduling (blocking: each returns when the daemon answered) ----
 *
 * Thread-safety of every blocking call below: as the handle; with the
 * background thread running, any thread (the call hands its request to
 * the thread and sleeps until the reply or timeout_ms). With reconnection
 * enabled, a blocking call waits across a reconnection within its
 * timeout_ms, and is retried there if it is safe (see EVC_CONN_LOST).
 * A call that timed out may still take effect later: its late reply is
 * recognised and dropped.
 */

/* asyncio call_soon: fire as soon as possible, after what is already due.
 * cb may be NULL (fire to this connection, no payload). With
 * reconnection enabled, a channel callback without a key gets a
 * generated idempotency key (see evc_set_reconnect()). */
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

/* Reports one timer into *ret (release with evc_timer_info_free()):
 * pending, or ended (EVC_TIMER_FIRED, EVC_TIMER_CANCELLED) and still kept
 * by the daemon (a week by default). -EVC_E_NOT_FOUND if it is unknown,
 * no longer kept, or not the caller's. */
int evc_get(struct evc *c, uint64_t timer_id, int timeout_ms,
            struct evc_timer_info *ret);

/* One page of pending timers with id > after_id (0 from the start), at
 * most limit (0: the daemon's default), only those targeting channel if it
 * is not NULL. Release *ret with evc_timer_list_free(). */
int evc_list(struct evc *c, const char *channel, uint64_t after_id,
             uint32_t limit, int timeout_ms, struct evc_timer_list *ret);

/* EVCLIENT_1.7: what evc_list_opts() lists. Caller-filled and
 * zero-initialised; it will not grow (a later addition is a new
 * struct). channel, after_id and limit are evc_list()'s. finished: also
 * the ended timers the daemon still keeps (state EVC_TIMER_FIRED or
 * EVC_TIMER_CANCELLED, as evc_get() reports them), in the same id order.
 * runs: each timer's newest runs in its history (newest first, at most
 * this many, the daemon caps it at 4; without output tails), 0 for
 * none. An evd older than EVCLIENT_1.7 ignores both. */
struct evc_list_options {
	const char *channel;
	uint64_t after_id;
	uint32_t limit;
	bool finished;
	uint32_t runs;
};

/* EVCLIENT_1.7: evc_list() with options (above; o NULL: none, as
 * evc_list() without a channel). A page may hold fewer
 * timers than limit, even none, and still have a next_after_id to go
 * on from. Release *ret with evc_timer_list_free(). Thread-safety and
 * errors as evc_list(). */
int evc_list_opts(struct evc *c, const struct evc_list_options *o,
                  int timeout_ms, struct evc_timer_list *ret);

/* asyncio loop.time() plus wall time and boot time, read by the daemon. */
int evc_time(struct evc *c, int timeout_ms, struct evc_time *ret);

/* The daemon's counters. Release *ret with evc_stats_free(). */
int evc_stats(struct evc *c, int timeout_ms, struct evc_stats *ret);
/* EVCLIENT_1.9: the daemon's cluster node (one Stats request, as
 * evc_stats()); ret->node NULL when it is not in cluster mode. Release
 * *ret with evc_cluster_stats_free(). Thread-safety and errors as
 * evc_stats(). */
int evc_cluster_stats(struct evc *c, int timeout_ms,
                      struct evc_cluster_stats *ret);

/* Subscribes this connection to channel: its messages now arrive as
 * fired events; each must be acked with evc_ack() or it is redelivered.
 * The handle remembers the channel and subscribes again after a
 * reconnection. */
int evc_subscribe(struct evc *c, const char *channel, int timeout_ms);

/* EVCLIENT_1.2: evc_subscribe() with this subscriber's visibility
 * timeout: how long it may hold a message unacked before the daemon
 * redelivers it (to any subscriber, attempt + 1). 0 is the daemon's
 * default (30 s), which is what evc_subscribe() asks for; the daemon
 * refuses a negative value or one above its bound with
 * -EVC_E_INVALID_ARGUMENT. After a reconnection the handle subscribes
 * again with the same visibility timeout (subscribing again to a
 * channel replaces the remembered one). Thread-safety: as evc_subscribe. */
int evc_subscribe_opts(struct evc *c, const char *channel,
		       int64_t visibility_timeout_ns, int timeout_ms);

/* Acknowledges a channel fire. -EVC_E_NOT_FOUND if fire_id is not a
 * message delivered to this connection and still unacked (a fire
 * received before a reconnection can no longer be acked: it is
 * redelivered with attempt + 1). */
int evc_ack(struct evc *c, uint64_t fire_id, int timeout_ms);

/* ---- Repeating and calendar timers (EVCLIENT_1.4) ----
 *
 * Like the other blocking calls: thread-safety as the handle (any thread
 * with the background thread running), and the scheduling calls are
 * retried across a reconnection under the rules of evc_call_soon().
 */

/*
 * evc_call_soon(), evc_call_later() and evc_call_at() with a struct
 * evc_repeat (NULL: exactly the call without _opts). With rep->every_ns
 * > 0 the first fire is at the usual deadline and the next ones follow
 * every every_ns on the same clock (for evc_call_soon_opts, the
 * monotonic clock), until rep->count fires or evc_cancel(). *ret is the
 * first deadline. Errors: those of the call without _opts;
 * -EVC_E_INVALID_ARGUMENT when the daemon refuses a value of rep (an
 * evd without repeating timers ignores rep and schedules a one-shot).
 */
int evc_call_soon_opts(struct evc *c, const struct evc_callback *cb,
		       const struct evc_repeat *rep, int timeout_ms,
		       struct evc_scheduled *ret);
int evc_call_later_opts(struct evc *c, int64_t delay_ns, enum evc_clock clock,
			const struct evc_callback *cb,
			const struct evc_repeat *rep, int timeout_ms,
			struct evc_scheduled *ret);
int evc_call_at_opts(struct evc *c, int64_t when_ns, enum evc_clock clock,
		     const struct evc_callback *cb,
		     const struct evc_repeat *rep, int timeout_ms,
		     struct evc_scheduled *ret);

/*
 * A calendar timer: fires at every occurrence of calendar after now, on
 * the wall clock, in the zone tz (an IANA name such as "Europe/Berlin";
 * NULL or "": the daemon's zone; a zone named in the expression wins).
 * calendar is cron syntax (five fields: "*\/15 9-17 * * Mon-Fri",
 * "@daily") or systemd OnCalendar= syntax ("Mon..Fri *-*-* 09:00:00",
 * "daily", "*:0/15"); see evctl(1), "evctl help on". rep (may be NULL)
 * sets count, dst_gap, dst_overlap, overlap, randomized_delay_ns and
 * accuracy_ns; its every_ns must be 0. The daemon computes each
 * occurrence in the zone when it is due, so a change of the zone's rules
 * or of the wall clock is followed. *ret is the first occurrence
 * (clock EVC_CLOCK_REALTIME). Errors: -EVC_E_USAGE when calendar is
 * NULL; -EVC_E_INVALID_ARGUMENT for an expression or zone the daemon
 * cannot read (evc_errmsg() has the parser's message), one that never
 * elapses, or a bad value of rep; otherwise as evc_call_soon().
 */
int evc_call_on(struct evc *c, const char *calendar, const char *tz,
		const struct evc_callback *cb, const struct evc_repeat *rep,
		int timeout_ms, struct evc_scheduled *ret);

/*
 * Pause: the timer stays but does not fire (state EVC_TIMER_PAUSED);
 * occurrences that pass meanwhile follow its misfire policy at resume.
 * Resume: it is pending again. Trigger: it fires once now, as if due,
 * without changing its schedule (a one-shot timer is then done). Each
 * works on any timer of the caller (root: anyone's) and stores the
 * timer as it then is in *ret (may be NULL; release with
 * evc_timer_info_free()). Errors: -EVC_E_NOT_FOUND for an unknown timer,
 * one that already ended, or one of another user;
 * -EVC_E_FAILED_PRECONDITION when the daemon finds that the timer's
 * state does not allow it (it decides, e.g., whether pausing a paused
 * timer is an error). None of the three
 * is repeated after a lost connection: -EVC_E_IO then, its effect
 * unknown (evc_get() tells).
 */
int evc_pause(struct evc *c, uint64_t timer_id, int timeout_ms,
	      struct evc_timer_info *ret);
int evc_resume(struct evc *c, uint64_t timer_id, int timeout_ms,
	       struct evc_timer_info *ret);
int evc_trigger(struct evc *c, uint64_t timer_id, int timeout_ms,
		struct evc_timer_info *ret);

/*
 * EVCLIENT_1.5: runs an exec timer's command once more, now: a finished
 * one (a one-shot that ran, whether it failed or not) comes back with
 * its id for this run, its retries anew; a pending one fires as with
 * evc_trigger(). Owner or root. *ret (may be NULL) as evc_trigger().
 * Errors: -EVC_E_NOT_FOUND for an id the daemon no longer knows (its
 * store keeps finished timers for a while; a memory store none) or one
 * of another user; -EVC_E_FAILED_PRECONDITION for a timer that is not
 * an exec timer. Not repeated after a lost connection.
 */
int evc_retry(struct evc *c, uint64_t timer_id, int timeout_ms,
	      struct evc_timer_info *ret);

/*
 * The atomic trampoline: acknowledges a channel fire as evc_ack() does
 * and, in the same commit, schedules the timer that produced it again:
 * absolute false, when_ns from now on the monotonic clock; absolute
 * true, at the wall-clock instant when_ns. A one-shot timer that fired
 * comes back with the same id; a repeating one has its next deadline
 * moved. Either both happen or neither, so a self-rescheduling consumer
 * is never lost or doubled by a crash between the two. *ret (may be
 * NULL) is the new deadline. Errors: as evc_ack(); -EVC_E_INVALID_ARGUMENT
 * for a negative delay; -EVC_E_NOT_FOUND also when the timer was
 * cancelled meanwhile (the ack then did not happen either);
 * -EVC_E_BAD_REPLY when the daemon acked without rescheduling (an evd
 * older than the trampoline: the fire is acked, the timer is not
 * scheduled again). Not repeated after a lost connection (the fire is
 * redelivered instead).
 */
int evc_ack_reschedule(struct evc *c, uint64_t fire_id, bool absolute,
		       int64_t when_ns, int timeout_ms,
		       struct evc_scheduled *ret);

/* ---- Dead letters (EVCLIENT_1.2) ----
 *
 * A channel message delivered max_attempts times without an ack leaves
 * the queue for the channel's dead-letter list. Callers see only their
 * own messages (root: everyone's). channel must not be NULL
 * (-EVC_E_USAGE); an invalid name is -EVC_E_INVALID_ARGUMENT. Like the
 * other blocking calls: thread-safety as the handle (any thread with the
 * background thread running). evc_list_dead() is retried across a
 * reconnection; requeue and purge are not (they fail with -EVC_E_IO when
 * the connection is lost under them, as their effect is then unknown).
 */

/* One page of channel's dead letters with fire_id > after_fire_id (0:
 * from the start), at most limit (0: the daemon's default; it caps it),
 * in fire_id order. An empty list is not an error. Release *ret with
 * evc_dead_list_free(). */
int evc_list_dead(struct evc *c, const char *channel, uint64_t after_fire_id,
		  uint32_t limit, int timeout_ms, struct evc_dead_list *ret);

/* Puts dead message fire_id (0: all of the channel's) back in the
 * channel's queue with its attempt count reset; *ret_count (may be NULL)
 * is how many. -EVC_E_NOT_FOUND when there is no such dead message (or,
 * for 0, none at all). */
int evc_requeue_dead(struct evc *c, const char *channel, uint64_t fire_id,
		     int timeout_ms, uint64_t *ret_count);

/* Deletes dead message fire_id (0: all of the channel's) for good;
 * *ret_count (may be NULL) is how many. -EVC_E_NOT_FOUND as for
 * evc_requeue_dead(). */
int evc_purge_dead(struct evc *c, const char *channel, uint64_t fire_id,
		   int timeout_ms, uint64_t *ret_count);

/* EVCLIENT_1.6. Deletes the messages waiting in channel's queue (ready,
 * or backing off before a redelivery; not those a subscriber holds, nor
 * dead letters): as the channel's owner or root everyone's, or with
 * has_from_uid only from_uid's (a flood from a user whose grant was
 * revoked, say); as anyone else only the caller's own (from_uid, if
 * given, must be the caller's uid). *ret_count (may be NULL) is how many
 * went, 0 when none matched. Not repeated after a lost connection
 * (-EVC_E_IO: its effect is unknown; purging again is harmless).
 * Errors: -EVC_E_USAGE when channel is NULL; -EVC_E_INVALID_ARGUMENT for
 * a bad name; -EVC_E_NOT_FOUND for a channel that does not exist;
 * -EVC_E_PERMISSION_DENIED for another publisher's messages in a
 * channel the caller does not own. */
int evc_purge(struct evc *c, const char *channel, bool has_from_uid,
	      uint32_t from_uid, int timeout_ms, uint64_t *ret_count);

/* EVCLIENT_1.7. Cancels every pending (or paused) timer a selector
 * matches, in one request and one commit: with channel (not NULL), the
 * timers publishing into it; with has_uid, those uid owns; with
 * neither, all of the caller's own. A user matches its own timers, and
 * everyone's in a channel it owns (uid then narrows them); root matches
 * anyone's. *ret_count (may be NULL) is how many were cancelled, 0 when
 * none matched. Not repeated after a lost connection (-EVC_E_IO: how
 * many went is unknown; cancelling again is harmless).
 * Errors: -EVC_E_INVALID_ARGUMENT for a bad channel name;
 * -EVC_E_PERMISSION_DENIED for another uid's timers outside a channel
 * the caller owns (root excepted); -EVC_E_UNAVAILABLE when the store
 * failed (no durable timer was cancelled). */
int evc_cancel_all(struct evc *c, const char *channel, bool has_uid,
		   uint32_t uid, int timeout_ms, uint64_t *ret_count);

/* EVCLIENT_1.7. The channels the caller may see (its own, those granted
 * to it or its groups; root: all), in name order after after (a
 * next_after of the previous page; NULL: from the first), at most limit
 * (0: 100; at most 1000), with their counts, into *ret (release with
 * evc_channel_list_free()). Repeated after a lost connection. */
int evc_list_channels(struct evc *c, const char *after, uint32_t limit,
		      int timeout_ms, struct evc_channel_list *ret);
void evc_channel_list_free(struct evc_channel_list *cl);

/* EVCLIENT_1.7. The messages waiting in channel's queue, ready for
 * delivery, in delivery order, left in place: up to limit (0: 100; at
 * most 1000), those the caller may see (its own; the channel's owner
 * and root: everyone's), into *ret as evc_list_dead() fills it
 * (next_after_fire_id non-zero: more are waiting). Repeated after a
 * lost connection. Errors: -EVC_E_USAGE when channel is NULL;
 * -EVC_E_NOT_FOUND for a channel that does not exist. */
int evc_peek(struct evc *c, const char *channel, uint32_t limit,
	     int timeout_ms, struct evc_dead_list *ret);

/* ---- Rejecting a message (EVCLIENT_1.7) ---- */

/*
 * Rejects (nacks) a channel fire this connection received and has not
 * acked: the subscriber could not handle it, for reason (UTF-8, at most
 * 4096 bytes; NULL or "" for none). The daemon takes it back at once
 * and stores reason with it: the message is delivered again after the
 * channel's redelivery backoff (1 s doubling per attempt, capped at
 * 5 min, +-20%), or moves to the channel's dead-letter list when it has
 * had its max_attempts deliveries or dead_letter is true. *ret (may be
 * NULL) says which. channel (may be NULL) is a check: the fire must be
 * a message of that channel. The reason is shown with the dead letter
 * (evc_list_dead_letters(), evctl dead) and in the timer's history
 * ("rejected: REASON").
 * Errors: -EVC_E_NOT_FOUND as evc_ack() (not a message this connection
 * holds unacked, or not of channel); -EVC_E_INVALID_ARGUMENT for a reason
 * over 4096 bytes or a bad channel name; -EVC_E_USAGE for a reason that
 * is not UTF-8. Not repeated after a lost connection (the fire is
 * redelivered instead). Thread-safety: as evc_ack().
 */
int evc_reject(struct evc *c, const char *channel, uint64_t fire_id,
	       const char *reason, bool dead_letter, int timeout_ms,
	       struct evc_rejected *ret);

/* evc_subscribe_opts() with a bound on the messages this connection
 * holds at once, delivered and neither acked nor rejected (EVCLIENT_1.7):
 * max_inflight 0 (or above 256) is the daemon's bound, 256. The others
 * wait in the channel's queue for this or another subscriber, so a
 * worker that runs N jobs at a time asks for N and no message waits out
 * its visibility timeout unstarted. Remembered with the channel and
 * sent again after a reconnection. Errors and thread-safety: as
 * evc_subscribe_opts() (an evd older than 1.7 ignores max_inflight). */
int evc_subscribe_limit(struct evc *c, const char *channel,
			int64_t visibility_timeout_ns, uint32_t max_inflight,
			int timeout_ms);

/*
 * Ends this connection's subscription to channel (EVCLIENT_1.8), the
 * connection staying open: the daemon delivers no more of its messages
 * here, and those delivered here and neither acked nor rejected go back
 * to the front of the channel's queue at once, as when the connection
 * closes (acking one of them afterwards is -EVC_E_NOT_FOUND). Fired
 * events the daemon sent before it took the request may still arrive;
 * they cannot be acked. The handle forgets the channel (no
 * re-subscription after a reconnection). Idempotent: 0 also when this
 * connection did not subscribe to channel, so it is sent again after a
 * lost connection. Needs no right on the channel. Errors:
 * -EVC_E_INVALID_ARGUMENT for a bad channel name (an evd older than
 * 1.8 also answers that, not knowing the request); -EVC_E_USAGE for a
 * NULL channel. Thread-safety: as evc_subscribe().
 */
int evc_unsubscribe(struct evc *c, const char *channel, int timeout_ms);

/* evc_list_dead() with each message's reason (EVCLIENT_1.7). Release *ret
 * with evc_dead_letters_free(). Errors and thread-safety: as
 * evc_list_dead(). */
int evc_list_dead_letters(struct evc *c, const char *channel,
			  uint64_t after_fire_id, uint32_t limit,
			  int timeout_ms, struct evc_dead_letters *ret);

/* Frees what *l holds and zeroes it. NULL is a no-op. */
void evc_dead_letters_free(struct evc_dead_letters *l);

/* ---- Exec hooks: waiting for a fire to finish (EVCLIENT_1.3) ---- */

/*
 * asyncio's run_until_complete for one timer: asks the daemon to report
 * when timer_id's fire is done (its exec hook ended; for other timers,
 * its message was queued or delivered) and waits up to timeout_ms for
 * that report. On success *ret holds the run (release with
 * evc_run_free()): for an exec hook outcome EVC_RUN_EXEC_EXITED
 * (exit_code), _SIGNALED (signal), _TIMED_OUT or _FAILED (detail), with
 * duration_ns and the output tails; EVC_RUN_CANCELLED when the timer was
 * cancelled while waited on. A timer that already finished answers with
 * its last run at once (evd leaves the output tails out of that one:
 * evc_get()'s history has them); one already cancelled with
 * EVC_RUN_CANCELLED at once (an older evd: -EVC_E_NOT_FOUND).
 *
 * Errors: -EVC_E_NOT_FOUND for an unknown timer, one the daemon no longer
 * keeps (see evc_get()) or one of another user;
 * -EVC_E_TIMEOUT when timeout_ms elapsed first (the daemon still reports
 * later: see below); -EVC_E_IO when the connection was lost before the
 * report — even with reconnection, a wait is not repeated on the new
 * connection (a fire that ended while the connection was down would be
 * reported as the timer's last run, but a restarted daemon may not know
 * what became of a hook that was running), so call evc_wait() again
 * if you want to. ret NULL is -EVC_E_USAGE.
 *
 * Reports that arrive for no caller (after an evc_wait() that timed out,
 * or evc_wait_async() with done NULL) are kept in the handle, the
 * EVC_MAX_KEPT_RUNS newest of them (older ones are dropped), and a
 * later evc_wait() for that timer returns the kept run at once without
 * asking the daemon again. Fired events that arrive meanwhile are
 * queued as always (evc_next_event(), the fired handler).
 *
 * Thread-safety: as the handle; with the background thread, any thread
 * (several threads may wait at once, on the same timer too: each wait
 * is answered by its own report).
 */
#define EVC_MAX_KEPT_RUNS 16
int evc_wait(struct evc *c, uint64_t timer_id, int timeout_ms,
	     struct evc_run *ret);

/* ---- Channel grants (EVCLIENT_1.3) ----
 *
 * Channel names live in their owner's namespace: "NAME" is a channel of
 * the caller's own, "UID:NAME" (UID decimal) the channel NAME of uid
 * UID, so no user can take a name another user's software uses. The
 * daemon writes channels back as the reader would: "NAME" for the
 * reader's own, "UID:NAME" for others'. It looks up no user names:
 * "alice:NAME" is for the caller to turn into "1000:NAME" (evctl does).
 * A channel's owner (or root) may grant other uids or gids the right to
 * subscribe to it and/or to publish (schedule timers into it). Neither call is repeated after a
 * lost connection: evc_channel_grant() then fails with -EVC_E_IO (its
 * effect is unknown: ask evc_get_channel()), evc_get_channel() is
 * retried like the other reads. Thread-safety: as the handle; with the
 * background thread, any thread.
 */

/*
 * Grants (revoke false) or removes (revoke true) the subscribe and/or
 * publish rights on channel to the uid id, or with is_gid to the gid id.
 * Granting adds to the rights already held; revoking removes the named
 * ones (a grant left with none disappears). On success *ret (may be
 * NULL) is the channel as it now is (release with
 * evc_channel_info_free()). A channel of the caller's own that nobody used
 * yet is made. Errors: -EVC_E_USAGE when channel is NULL;
 * -EVC_E_INVALID_ARGUMENT for a bad name or when neither right is named;
 * -EVC_E_PERMISSION_DENIED when the caller neither owns the channel nor
 * is root; -EVC_E_RESOURCE_EXHAUSTED past the daemon's limit of grants
 * per channel, or of channels per owner.
 */
int evc_channel_grant(struct evc *c, const char *channel, bool is_gid,
		      uint32_t id, bool subscribe, bool publish, bool revoke,
		      int timeout_ms, struct evc_channel_info *ret);

/* channel's owner, grants and counters into *ret (release with
 * evc_channel_info_free()); its owner, root and grantees may ask.
 * -EVC_E_NOT_FOUND for a channel that does not exist or that the caller
 * may not see; -EVC_E_USAGE when channel or ret is NULL. */
int evc_get_channel(struct evc *c, const char *channel, int timeout_ms,
		    struct evc_channel_info *ret);

/* ---- Events ---- */

/*
 * Waits for the next fired event, up to timeout_ms, and stores it in *ret
 * (release with evc_fired_free()). Events that arrived during earlier
 * calls are queued in the handle and returned first, in arrival order.
 * With a fired handler installed events go to the handler instead, so
 * this only returns what was queued before it was installed.
 * Returns 0, -EVC_E_TIMEOUT, or another negative code. Thread-safety: as
 * the handle; with the background thread, any thread (each event goes to
 * one caller).
 */
int evc_next_event(struct evc *c, int timeout_ms, struct evc_fired *ret);

/*
 * Handler for fired events, run by evc_dispatch(), evc_process() or the
 * background thread. The event is borrowed: it is freed when the handler
 * returns. Returning non-zero stops evc_dispatch() early (elsewhere the
 * value is ignored). The handler may call any evc_* function on the
 * same handle except evc_dispatch(), evc_process() and evc_drain().
 */
typedef int (*evc_fired_cb)(struct evc *c, const struct evc_fired *ev,
                            void *arg);

/* Installs (or with NULL removes) the handler. Thread-safety: as the
 * handle; with the background thread, any thread. */
void evc_set_fired_cb(struct evc *c, evc_fired_cb cb, void *arg);

/*
 * Runs the handler for queued events and for events that arrive within
 * timeout_ms; completions and connection events that are ready run too
 * (they are not counted). Returns the number of fired events handled
 * (>= 0), stopping early when the handler returns non-zero, or a
 * negative code if the connection failed. -EVC_E_USAGE if no handler is
 * installed, if called from a callback, or with the background thread
 * running. Thread-safety: as the handle.
 */
int evc_dispatch(struct evc *c, int timeout_ms);

/* NULL-safe destructors of what the library handed out: they free the
 * members, not the struct itself, and leave it zeroed. Thread-safety:
 * any thread (they touch only the struct). */
void evc_fired_free(struct evc_fired *ev);
void evc_timer_info_free(struct evc_timer_info *ti);
void evc_timer_list_free(struct evc_timer_list *tl);
void evc_stats_free(struct evc_stats *st);
void evc_cluster_stats_free(struct evc_cluster_stats *cs); /* EVCLIENT_1.9 */
void evc_dead_list_free(struct evc_dead_list *dl); /* EVCLIENT_1.2 */
void evc_run_free(struct evc_run *run);		  /* EVCLIENT_1.3 */
void evc_channel_info_free(struct evc_channel_info *ci); /* EVCLIENT_1.3 */

/* ==== Asynchronous requests (EVCLIENT_1.1) ====
 *
 * Each *_async call queues one request and returns at once: 0 when the
 * request was accepted (done will be called exactly once with its
 * result), or a negative code (done will not be called): -EVC_E_USAGE
 * for a bad argument, -EVC_E_BUSY when EVC_MAX_PENDING requests (one
 * million) are already in flight (run the loop and retry), -EVC_E_NOMEM,
 * or the code that ended the connection. done may be NULL: the reply,
 * even an error, is then dropped.
 *
 * Requests are pipelined: any number may be in flight on the one
 * connection and replies come in request order, so completions run in
 * the order the requests were made. Requests are not written one by one:
 * they accumulate in the handle's output buffer and go out in one
 * write() when the loop runs (evc_process(), the background thread, or
 * any blocking call), which is what makes a million requests per second
 * possible. Borrowed arguments (cb, channel) are copied before return.
 *
 * Thread-safety: as the handle; with the background thread, any thread
 * (the thread is woken when needed, at most once per loop iteration).
 */
int evc_call_soon_async(struct evc *c, const struct evc_callback *cb,
                        evc_done_cb done, void *arg);
int evc_call_later_async(struct evc *c, int64_t delay_ns,
                         enum evc_clock clock, const struct evc_callback *cb,
                         evc_done_cb done, void *arg);
int evc_call_at_async(struct evc *c, int64_t when_ns, enum evc_clock clock,
                      const struct evc_callback *cb, evc_done_cb done,
                      void *arg);
int evc_cancel_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
                     void *arg);
int evc_get_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
                  void *arg);
int evc_list_async(struct evc *c, const char *channel, uint64_t after_id,
                   uint32_t limit, evc_done_cb done, void *arg);
int evc_time_async(struct evc *c, evc_done_cb done, void *arg);
/* EVCLIENT_1.7: evc_list_opts (res->list); *o is copied before the call
 * returns. */
int evc_list_opts_async(struct evc *c, const struct evc_list_options *o,
                        evc_done_cb done, void *arg);
int evc_stats_async(struct evc *c, evc_done_cb done, void *arg);
int evc_subscribe_async(struct evc *c, const char *channel,
                        evc_done_cb done, void *arg);
int evc_ack_async(struct evc *c, uint64_t fire_id, evc_done_cb done,
                  void *arg);
/* EVCLIENT_1.2, with the same rules: the asynchronous forms of
 * evc_subscribe_opts (no result member), evc_list_dead (res->dead_list),
 * evc_requeue_dead and evc_purge_dead (res->count). */
int evc_subscribe_opts_async(struct evc *c, const char *channel,
			     int64_t visibility_timeout_ns, evc_done_cb done,
			     void *arg);
int evc_list_dead_async(struct evc *c, const char *channel,
			uint64_t after_fire_id, uint32_t limit,
			evc_done_cb done, void *arg);
int evc_requeue_dead_async(struct evc *c, const char *channel, uint64_t fire_id,
			   evc_done_cb done, void *arg);
int evc_purge_dead_async(struct evc *c, const char *channel, uint64_t fire_id,
			 evc_done_cb done, void *arg);
/* EVCLIENT_1.6, with the same rules: evc_purge (res->count). */
int evc_purge_async(struct evc *c, const char *channel, bool has_from_uid,
		    uint32_t from_uid, evc_done_cb done, void *arg);
/* EVCLIENT_1.7, with the same rules: evc_cancel_all (res->count),
 * evc_list_channels (res->channel_list), evc_peek (res->dead_list). */
int evc_list_channels_async(struct evc *c, const char *after, uint32_t limit,
			    evc_done_cb done, void *arg);
int evc_peek_async(struct evc *c, const char *channel, uint32_t limit,
		   evc_done_cb done, void *arg);
int evc_cancel_all_async(struct evc *c, const char *channel, bool has_uid,
			 uint32_t uid, evc_done_cb done, void *arg);
/* EVCLIENT_1.7, with the same rules: evc_reject (res->rejected),
 * evc_subscribe_limit (no result member). From this version
 * evc_list_dead_async also sets res->dead_letters. */
int evc_subscribe_limit_async(struct evc *c, const char *channel,
			      int64_t visibility_timeout_ns,
			      uint32_t max_inflight, evc_done_cb done,
			      void *arg);
int evc_reject_async(struct evc *c, const char *channel, uint64_t fire_id,
		     const char *reason, bool dead_letter, evc_done_cb done,
		     void *arg);
/* EVCLIENT_1.8, with the same rules: evc_unsubscribe (no result
 * member). */
int evc_unsubscribe_async(struct evc *c, const char *channel,
			  evc_done_cb done, void *arg);
/*
 * EVCLIENT_1.3, with the same rules. evc_wait_async: done runs once the
 * fire is done (res->run), or with the failure of the Wait; the request
 * counts as in flight (evc_pending(), evc_drain()) until then, which
 * may be long. If the connection is lost before the report, done gets
 * -EVC_E_IO (never repeated, as for evc_wait()). With done NULL the
 * report is kept as evc_wait() describes. evc_channel_grant_async and
 * evc_get_channel_async: res->channel.
 */
int evc_wait_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
		   void *arg);
int evc_channel_grant_async(struct evc *c, const char *channel, bool is_gid,
			    uint32_t id, bool subscribe, bool publish,
			    bool revoke, evc_done_cb done, void *arg);
int evc_get_channel_async(struct evc *c, const char *channel,
			  evc_done_cb done, void *arg);
/*
 * EVCLIENT_1.4, with the same rules: the asynchronous forms of the
 * _opts scheduling calls and evc_call_on (res->scheduled), evc_pause,
 * evc_resume and evc_trigger (res->timer), and evc_ack_reschedule
 * (res->scheduled: the new deadline; NULL if an older evd acked without
 * rescheduling).
 */
int evc_call_soon_opts_async(struct evc *c, const struct evc_callback *cb,
			     const struct evc_repeat *rep, evc_done_cb done,
			     void *arg);
int evc_call_later_opts_async(struct evc *c, int64_t delay_ns,
			      enum evc_clock clock,
			      const struct evc_callback *cb,
			      const struct evc_repeat *rep, evc_done_cb done,
			      void *arg);
int evc_call_at_opts_async(struct evc *c, int64_t when_ns,
			   enum evc_clock clock, const struct evc_callback *cb,
			   const struct evc_repeat *rep, evc_done_cb done,
			   void *arg);
int evc_call_on_async(struct evc *c, const char *calendar, const char *tz,
		      const struct evc_callback *cb,
		      const struct evc_repeat *rep, evc_done_cb done,
		      void *arg);
int evc_pause_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
		    void *arg);
int evc_resume_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
		     void *arg);
int evc_trigger_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
		      void *arg);
/* EVCLIENT_1.5: the asynchronous evc_retry (res->timer). */
int evc_retry_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
		    void *arg);
int evc_ack_reschedule_async(struct evc *c, uint64_t fire_id, bool absolute,
			     int64_t when_ns, evc_done_cb done, void *arg);

/* Requests accepted and not yet answered. Thread-safety: as the handle;
 * with the background thread, any thread (the value may be stale). */
size_t evc_pending(const struct evc *c);

/*
 * Waits up to timeout_ms until no request is in flight and every ready
 * callback has run (without the thread: runs them itself). Returns 0,
 * -EVC_E_TIMEOUT, or the code that ended the connection. -EVC_E_USAGE
 * from a callback. Thread-safety: as the handle; with the background
 * thread, any thread but the client thread.
 */
int evc_drain(struct evc *c, int timeout_ms);

/* ==== Integration into a program's own loop (EVCLIENT_1.1) ====
 *
 * poll/epoll users: before sleeping, watch evc_fd() for
 * evc_events_wanted() and wake after evc_next_timeout_ms(); when the fd
 * is ready or the timeout expired, call evc_process(). Ask again after
 * every evc_* call (a request makes the handle want POLLOUT), or install
 * an evc_watch_cb to be told. libevent users: evc_attach() in
 * libevclient-event does all of this.
 */

/* POLLIN and/or POLLOUT, or 0 when the fd needs no watching (closed,
 * reconnecting). Thread-safety: as the handle. */
int evc_events_wanted(const struct evc *c);

/* Milliseconds until evc_process() must run even without I/O (0: now,
 * e.g. callbacks are ready; -1: no deadline). Thread-safety: as the
 * handle. */
int evc_next_timeout_ms(const struct evc *c);

/*
 * Does all I/O possible without blocking (writes queued requests, reads
 * replies and events, reconnects when due) and runs the callbacks that
 * are ready. Spurious calls are harmless. Returns 0, or the negative code
 * that ended the connection (without reconnection; callbacks of the
 * failed requests have run). -EVC_E_USAGE from a callback or with the
 * background thread running. Thread-safety: as the handle.
 */
int evc_process(struct evc *c);

/*
 * Installs (cb NULL: removes) the watch callback, and calls it at once
 * with the current state. release, if not NULL, is called with arg when
 * the watch is replaced or removed and by evc_close() (it must not call
 * evc_* either). Returns 0, or -EVC_E_USAGE with the background thread
 * running. Thread-safety: as the handle.
 */
int evc_set_watch_cb(struct evc *c, evc_watch_cb cb,
                     void (*release)(void *arg), void *arg);

/* ==== Background thread (EVCLIENT_1.1) ==== */

/*
 * Starts a thread that runs the handle's loop: it does all I/O and runs
 * every callback (completions, fired handler, connection events), one at
 * a time. From then on the functions marked "any thread" may be called
 * from any thread, as in asyncio's call_soon_threadsafe. Blocking calls
 * made from the client thread itself (inside a callback) drive the
 * connection directly. Returns 0, -EVC_E_USAGE if the thread already
 * runs or a watch callback is installed, or -EVC_E_NOMEM / -EVC_E_IO.
 * Thread-safety: as the handle (not concurrently with other calls).
 */
int evc_start_thread(struct evc *c);

/*
 * Stops the thread and joins it. Requests in flight stay in flight and
 * undelivered callbacks stay queued: the handle is back in single-thread
 * use (evc_process(), evc_dispatch(), blocking calls). Returns 0 or
 * -EVC_E_USAGE if no thread runs or when called from the client thread.
 * Thread-safety: any thread but the client thread; no other call on the
 * handle may run concurrently with or after it from other threads.
 */
int evc_stop_thread(struct evc *c);

/* True when called from inside the handle's background thread.
 * Thread-safety: any thread. */
bool evc_in_thread(const struct evc *c);

/* ==== Reconnection (EVCLIENT_1.1) ==== */

/*
 * Enables (min_delay_ms > 0) or disables (0) reconnection: when the
 * connection fails (evd restarts; systemd's socket keeps the path), the
 * handle connects again after min_delay_ms, doubling up to max_delay_ms
 * between attempts (with jitter), says Hello, subscribes again to every
 * channel it subscribed to, and sends again the requests it may safely
 * repeat. From now on every scheduling request with a channel (or, from
 * EVCLIENT_1.3, an exec hook) and no key gets a generated key ("evc-" + 128 random bits + a counter), so
 * the retry of a request the daemon did execute returns the same timer
 * (existing = true) instead of scheduling twice. Ephemeral timers die
 * with each connection (EVC_CONN_LOST). Returns 0 or -EVC_E_USAGE for
 * bad delays. Thread-safety: as the handle; with the thread, any thread.
 */
int evc_set_reconnect(struct evc *c, int min_delay_ms, int max_delay_ms);

/* Installs (or with NULL removes) the connection event callback.
 * Thread-safety: as the handle; with the thread, any thread. */
void evc_set_conn_cb(struct evc *c, evc_conn_cb cb, void *arg);

#ifdef __cplusplus
}
#endif

#endif
