/*
 * evclient: the public entry points of libevclient (see evclient.h).
 *
 * Each call checks its arguments, builds one Request on the stack
 * (borrowing the caller's strings), lets evc_conn send it and wait for
 * the matching Reply, then copies the answer out through evc_conv and
 * frees the Reply before returning. Output parameters are written last,
 * only on success.
 *
 * No global state; nothing here prints, exits or aborts. A NULL handle is
 * answered with -EVC_E_USAGE, since there is nowhere to put a message.
 */
#include "evc_private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What we call ourselves in Hello when the caller gives no name. */
#define DEFAULT_CLIENT_NAME "libevclient"

static const char *const code_names[] = {
    [EVC_OK] = "success",
    [EVC_E_INVALID_ARGUMENT] = "invalid argument",
    [EVC_E_NOT_FOUND] = "not found",
    [EVC_E_PERMISSION_DENIED] = "permission denied",
    [EVC_E_RESOURCE_EXHAUSTED] = "resource exhausted",
    [EVC_E_UNAVAILABLE] = "unavailable",
    [EVC_E_INTERNAL] = "internal error",
    [EVC_E_PROTOCOL] = "protocol error",
    [EVC_E_UNSUPPORTED_VERSION] = "unsupported protocol version",
    [EVC_E_FAILED_PRECONDITION] = "failed precondition",
};

static const char *const local_names[] = {
    [EVC_E_CONNECT - EVC_E_LOCAL] = "cannot connect",
    [EVC_E_IO - EVC_E_LOCAL] = "connection failed",
    [EVC_E_TIMEOUT - EVC_E_LOCAL] = "timed out",
    [EVC_E_NOMEM - EVC_E_LOCAL] = "out of memory",
    [EVC_E_BAD_REPLY - EVC_E_LOCAL] = "bad reply from the daemon",
    [EVC_E_USAGE - EVC_E_LOCAL] = "invalid use of the library",
};

EVC_EXPORT const char *
evc_strerror(int code)
{
	if (code < 0)
		code = -code;
	if (code < (int)(sizeof(code_names) / sizeof(code_names[0])))
		return code_names[code];
	if (code >= EVC_E_LOCAL &&
	    code - EVC_E_LOCAL <
		(int)(sizeof(local_names) / sizeof(local_names[0])))
		return local_names[code - EVC_E_LOCAL];
	return "unknown error";
}

EVC_EXPORT int
evc_default_socket(char *buf, size_t size)
{
	const char *env = getenv("EVD_SOCKET");
	const char *dir = getenv("XDG_RUNTIME_DIR");
	const char *fmt = "%s", *arg = "/run/evd/evd.sock";
	int n;

	if (env != NULL && env[0] != '\0') {
		arg = env;
	} else if (geteuid() != 0 && dir != NULL && dir[0] != '\0') {
		fmt = "%s/evd.sock";
		arg = dir;
	}
	/* Measure first: buf is untouched when it is too small. */
	n = snprintf(NULL, 0, fmt, arg);
	if (buf == NULL || n < 0 || (size_t)n >= size)
		return -EVC_E_USAGE;
	snprintf(buf, size, fmt, arg);
	return 0;
}

static int
hello(struct evc *c, const char *client_name, int64_t deadline_ns)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Hello h = EVD__HELLO__INIT;
	Evd__Reply *reply;
	const Evd__Welcome *w;
	int r;

	h.has_protocol_version = 1;
	h.protocol_version = EVC_PROTOCOL_VERSION;
	h.client_name =
	    (char *)(client_name != NULL ? client_name : DEFAULT_CLIENT_NAME);
	req.body_case = EVD__REQUEST__BODY_HELLO;
	req.hello = &h;
	r = evc_conn_request(c, &req, EVD__REPLY__BODY_WELCOME, deadline_ns,
			     &reply);
	if (r < 0)
		return r;
	w = reply->welcome;
	if (w->has_protocol_version &&
	    w->protocol_version != EVC_PROTOCOL_VERSION) {
		r = evc_conn_fail(c, EVC_E_UNSUPPORTED_VERSION,
				  "the daemon speaks protocol version %u, this "
				  "library %d",
				  w->protocol_version, EVC_PROTOCOL_VERSION);
		goto out;
	}
	if ((w->server_version != NULL &&
	     (c->server_version = strdup(w->server_version)) == NULL) ||
	    (w->boot_id != NULL && (c->boot_id = strdup(w->boot_id)) == NULL)) {
		r = evc_conn_fail(c, EVC_E_NOMEM, "out of memory");
		goto out;
	}
	c->info.protocol_version = w->has_protocol_version
				       ? w->protocol_version
				       : EVC_PROTOCOL_VERSION;
	c->info.server_version = c->server_version ? c->server_version : "";
	c->info.boot_id = c->boot_id ? c->boot_id : "";
	c->info.monotonic_now_ns = w->monotonic_now_ns;
	c->info.realtime_now_ns = w->realtime_now_ns;
out:
	evd__reply__free_unpacked(reply, NULL);
	return r;
}

static void
free_handle(struct evc *c)
{
	evc_conn_clear(c);
	free(c);
}

EVC_EXPORT int
evc_connect(const char *path, const char *client_name, int timeout_ms,
	    struct evc **ret, char *errbuf, size_t errbuf_size)
{
	int64_t deadline_ns = evc_conn_deadline(timeout_ms);
	char def[256]; /* sun_path holds 108: longer fails in conn_open */
	struct evc *c;
	int r;

	if (ret == NULL) {
		r = -EVC_E_USAGE;
		if (errbuf != NULL && errbuf_size > 0)
			snprintf(errbuf, errbuf_size,
				 "evc_connect: ret is NULL");
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		if (errbuf != NULL && errbuf_size > 0)
			snprintf(errbuf, errbuf_size, "out of memory");
		return -EVC_E_NOMEM;
	}
	c->fd = -1;
	if (path == NULL) {
		r = evc_default_socket(def, sizeof(def));
		if (r < 0) {
			evc_conn_fail(c, EVC_E_USAGE,
				      "the default socket path is too long");
			goto fail;
		}
		path = def;
	}
	r = evc_conn_open(c, path, deadline_ns);
	if (r < 0)
		goto fail;
	r = hello(c, client_name, deadline_ns);
	if (r < 0)
		goto fail;
	*ret = c;
	return 0;
fail:
	if (errbuf != NULL && errbuf_size > 0)
		snprintf(errbuf, errbuf_size, "%s", c->errmsg);
	free_handle(c);
	return r;
}

EVC_EXPORT void
evc_close(struct evc *c)
{
	if (c == NULL)
		return;
	/* From inside the handler: evc_dispatch() frees the handle once the
	 * handler has returned, instead of pulling it from under itself. */
	if (c->dispatching) {
		c->close_pending = true;
		return;
	}
	free_handle(c);
}

EVC_EXPORT const char *
evc_errmsg(const struct evc *c)
{
	return c != NULL ? c->errmsg : "";
}

EVC_EXPORT const struct evc_server_info *
evc_server_info(const struct evc *c)
{
	return c != NULL ? &c->info : NULL;
}

EVC_EXPORT int
evc_fd(const struct evc *c)
{
	return c != NULL ? c->fd : -1;
}

/* ---- scheduling ---- */

static bool
clock_valid(enum evc_clock clock)
{
	return clock == EVC_CLOCK_MONOTONIC || clock == EVC_CLOCK_REALTIME ||
	       clock == EVC_CLOCK_BOOTTIME;
}

/* Sends a scheduling request whose Callback and key are already set. */
static int
schedule(struct evc *c, Evd__Request *req, int timeout_ms,
	 struct evc_scheduled *ret)
{
	Evd__Reply *reply;
	const Evd__Scheduled *s;
	int r;

	r = evc_conn_request(c, req, EVD__REPLY__BODY_SCHEDULED,
			     evc_conn_deadline(timeout_ms), &reply);
	if (r < 0)
		return r;
	s = reply->scheduled;
	if (ret != NULL) {
		ret->timer_id = s->timer_id;
		ret->clock = (enum evc_clock)s->clock;
		ret->deadline_ns = s->deadline_ns;
		ret->due_realtime_ns = s->due_realtime_ns;
		ret->existing = s->has_existing && s->existing;
	}
	evd__reply__free_unpacked(reply, NULL);
	return 0;
}

/* Common checks; fills *m from cb. */
static int
callback_msg(struct evc *c, const struct evc_callback *cb, Evd__Callback *m)
{
	if (evc_conv_callback(cb, m) < 0)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "callback payload is NULL with a length");
	return 0;
}

EVC_EXPORT int
evc_call_soon(struct evc *c, const struct evc_callback *cb, int timeout_ms,
	      struct evc_scheduled *ret)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__CallSoon m = EVD__CALL_SOON__INIT;
	Evd__Callback cbm;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	r = callback_msg(c, cb, &cbm);
	if (r < 0)
		return r;
	/* Always a Callback, empty when cb is NULL: "no target" is said
	 * explicitly rather than left to a default. */
	m.callback = &cbm;
	m.key = cb != NULL ? (char *)cb->key : NULL;
	req.body_case = EVD__REQUEST__BODY_CALL_SOON;
	req.call_soon = &m;
	return schedule(c, &req, timeout_ms, ret);
}

EVC_EXPORT int
evc_call_later(struct evc *c, int64_t delay_ns, enum evc_clock clock,
	       const struct evc_callback *cb, int timeout_ms,
	       struct evc_scheduled *ret)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__CallLater m = EVD__CALL_LATER__INIT;
	Evd__Callback cbm;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	/* A negative delay or a wall clock is for the daemon to refuse
	 * (INVALID_ARGUMENT), like every other value it judges; only what
	 * cannot be said on the wire is -EVC_E_USAGE. */
	if (!clock_valid(clock))
		return evc_conn_fail(
		    c, EVC_E_USAGE, "call_later: unknown clock %d", (int)clock);
	r = callback_msg(c, cb, &cbm);
	if (r < 0)
		return r;
	m.has_delay_ns = 1;
	m.delay_ns = delay_ns;
	m.has_clock = 1;
	m.clock = (Evd__Clock)clock;
	m.callback = &cbm;
	m.key = cb != NULL ? (char *)cb->key : NULL;
	req.body_case = EVD__REQUEST__BODY_CALL_LATER;
	req.call_later = &m;
	return schedule(c, &req, timeout_ms, ret);
}

EVC_EXPORT int
evc_call_at(struct evc *c, int64_t when_ns, enum evc_clock clock,
	    const struct evc_callback *cb, int timeout_ms,
	    struct evc_scheduled *ret)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__CallAt m = EVD__CALL_AT__INIT;
	Evd__Callback cbm;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (!clock_valid(clock))
		return evc_conn_fail(c, EVC_E_USAGE,
				     "call_at: unknown clock %d", (int)clock);
	r = callback_msg(c, cb, &cbm);
	if (r < 0)
		return r;
	m.has_when_ns = 1;
	m.when_ns = when_ns;
	m.has_clock = 1;
	m.clock = (Evd__Clock)clock;
	m.callback = &cbm;
	m.key = cb != NULL ? (char *)cb->key : NULL;
	req.body_case = EVD__REQUEST__BODY_CALL_AT;
	req.call_at = &m;
	return schedule(c, &req, timeout_ms, ret);
}

EVC_EXPORT int
evc_cancel(struct evc *c, uint64_t timer_id, int timeout_ms)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Cancel m = EVD__CANCEL__INIT;
	Evd__Reply *reply;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	m.has_timer_id = 1;
	m.timer_id = timer_id;
	req.body_case = EVD__REQUEST__BODY_CANCEL;
	req.cancel = &m;
	r = evc_conn_request(c, &req, EVD__REPLY__BODY_CANCELLED,
			     evc_conn_deadline(timeout_ms), &reply);
	if (r < 0)
		return r;
	evd__reply__free_unpacked(reply, NULL);
	return 0;
}

EVC_EXPORT int
evc_get(struct evc *c, uint64_t timer_id, int timeout_ms,
	struct evc_timer_info *ret)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Get m = EVD__GET__INIT;
	Evd__Reply *reply;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (ret == NULL)
		return evc_conn_fail(c, EVC_E_USAGE, "evc_get: ret is NULL");
	m.has_timer_id = 1;
	m.timer_id = timer_id;
	req.body_case = EVD__REQUEST__BODY_GET;
	req.get = &m;
	r = evc_conn_request(c, &req, EVD__REPLY__BODY_TIMER,
			     evc_conn_deadline(timeout_ms), &reply);
	if (r < 0)
		return r;
	r = evc_conv_timer_info(reply->timer, ret);
	evd__reply__free_unpacked(reply, NULL);
	if (r < 0)
		return evc_conn_fail(c, -r, "out of memory");
	return 0;
}

EVC_EXPORT int
evc_list(struct evc *c, const char *channel, uint64_t after_id, uint32_t limit,
	 int timeout_ms, struct evc_timer_list *ret)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__List m = EVD__LIST__INIT;
	Evd__Reply *reply;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (ret == NULL)
		return evc_conn_fail(c, EVC_E_USAGE, "evc_list: ret is NULL");
	m.channel = (char *)channel;
	m.has_after_id = after_id != 0;
	m.after_id = after_id;
	m.has_limit = limit != 0;
	m.limit = limit;
	req.body_case = EVD__REQUEST__BODY_LIST;
	req.list = &m;
	r = evc_conn_request(c, &req, EVD__REPLY__BODY_TIMER_LIST,
			     evc_conn_deadline(timeout_ms), &reply);
	if (r < 0)
		return r;
	r = evc_conv_timer_list(reply->timer_list, ret);
	evd__reply__free_unpacked(reply, NULL);
	if (r < 0)
		return evc_conn_fail(c, -r, "out of memory");
	return 0;
}

EVC_EXPORT int
evc_time(struct evc *c, int timeout_ms, struct evc_time *ret)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Time m = EVD__TIME__INIT;
	Evd__Reply *reply;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (ret == NULL)
		return evc_conn_fail(c, EVC_E_USAGE, "evc_time: ret is NULL");
	req.body_case = EVD__REQUEST__BODY_TIME;
	req.time = &m;
	r = evc_conn_request(c, &req, EVD__REPLY__BODY_TIME,
			     evc_conn_deadline(timeout_ms), &reply);
	if (r < 0)
		return r;
	ret->monotonic_ns = reply->time->monotonic_ns;
	ret->realtime_ns = reply->time->realtime_ns;
	ret->boottime_ns = reply->time->boottime_ns;
	evd__reply__free_unpacked(reply, NULL);
	return 0;
}

EVC_EXPORT int
evc_stats(struct evc *c, int timeout_ms, struct evc_stats *ret)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Stats m = EVD__STATS__INIT;
	Evd__Reply *reply;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (ret == NULL)
		return evc_conn_fail(c, EVC_E_USAGE, "evc_stats: ret is NULL");
	req.body_case = EVD__REQUEST__BODY_STATS;
	req.stats = &m;
	r = evc_conn_request(c, &req, EVD__REPLY__BODY_STATS,
			     evc_conn_deadline(timeout_ms), &reply);
	if (r < 0)
		return r;
	r = evc_conv_stats(reply->stats, ret);
	evd__reply__free_unpacked(reply, NULL);
	if (r < 0)
		return evc_conn_fail(c, -r, "out of memory");
	return 0;
}

EVC_EXPORT int
evc_subscribe(struct evc *c, const char *channel, int timeout_ms)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Subscribe m = EVD__SUBSCRIBE__INIT;
	Evd__Reply *reply;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (channel == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "evc_subscribe: channel is NULL");
	m.channel = (char *)channel;
	req.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	req.subscribe = &m;
	r = evc_conn_request(c, &req, EVD__REPLY__BODY_SUBSCRIBED,
			     evc_conn_deadline(timeout_ms), &reply);
	if (r < 0)
		return r;
	evd__reply__free_unpacked(reply, NULL);
	return 0;
}

EVC_EXPORT int
evc_ack(struct evc *c, uint64_t fire_id, int timeout_ms)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Ack m = EVD__ACK__INIT;
	Evd__Reply *reply;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	m.has_fire_id = 1;
	m.fire_id = fire_id;
	req.body_case = EVD__REQUEST__BODY_ACK;
	req.ack = &m;
	r = evc_conn_request(c, &req, EVD__REPLY__BODY_ACKED,
			     evc_conn_deadline(timeout_ms), &reply);
	if (r < 0)
		return r;
	evd__reply__free_unpacked(reply, NULL);
	return 0;
}

/* ---- events ---- */

EVC_EXPORT int
evc_next_event(struct evc *c, int timeout_ms, struct evc_fired *ret)
{
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (ret == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "evc_next_event: ret is NULL");
	r = evc_conn_wait_event(c, evc_conn_deadline(timeout_ms));
	if (r < 0)
		return r;
	evc_conn_pop_event(c, ret);
	return 0;
}

EVC_EXPORT void
evc_set_fired_cb(struct evc *c, evc_fired_cb cb, void *arg)
{
	if (c == NULL)
		return;
	c->fired_cb = cb;
	c->fired_arg = arg;
}

EVC_EXPORT int
evc_dispatch(struct evc *c, int timeout_ms)
{
	int64_t deadline_ns = evc_conn_deadline(timeout_ms);
	struct evc_fired ev;
	int r, count = 0, stop;
	bool primed = false;
	size_t owed = 0;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (c->dispatching)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "evc_dispatch called from its handler");
	c->dispatching = true;
	for (;;) {
		/* The handler may remove itself: that ends the dispatch. */
		if (c->fired_cb == NULL) {
			r = count > 0
				? count
				: evc_conn_fail(c, EVC_E_USAGE,
						"no fired handler is set");
			break;
		}
		/*
		 * Events available at the first look are all handled, even
		 * with timeout 0 (the poll-then-dispatch pattern); after
		 * those, only until the deadline, so that a steady stream of
		 * events cannot keep a bounded call running forever.
		 */
		if (primed && owed == 0 && evc_conn_expired(deadline_ns)) {
			r = count;
			break;
		}
		r = evc_conn_wait_event(c, deadline_ns);
		if (r == -EVC_E_TIMEOUT) {
			/* Running out of time is how dispatch normally ends. */
			r = count;
			break;
		}
		if (r < 0)
			break;
		if (!primed) {
			primed = true;
			owed = c->queue_len;
		}
		if (owed > 0)
			owed--;
		evc_conn_pop_event(c, &ev);
		stop = c->fired_cb(c, &ev, c->fired_arg);
		evc_fired_free(&ev);
		count++;
		if (c->close_pending) {
			c->dispatching = false;
			free_handle(c);
			return count;
		}
		if (stop != 0 || count == INT32_MAX) {
			r = count;
			break;
		}
	}
	c->dispatching = false;
	return r;
}
