/*
 * evclient: the blocking entry points of libevclient (see evclient.h),
 * and the handle's life.
 *
 * Each call checks its arguments, builds one Request on the stack
 * (borrowing the caller's strings), queues it in evc_conn with a waiter
 * on its own stack, then runs the connection until the waiter is done
 * (evc_run_until) — or, with the background thread running, sleeps on the
 * handle's condition variable while the thread does the I/O. It copies
 * the answer out through evc_conv and frees the Reply before returning.
 * Output parameters are written last, only on success. A call that
 * gives up (timeout) detaches its waiter under the lock, so a late reply
 * never touches a dead stack frame.
 *
 * No global state; nothing here prints, exits or aborts. A NULL handle is
 * answered with -EVC_E_USAGE, since there is nowhere to put a message.
 */
#include "evc_private.h"

#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
    [EVC_E_BUSY - EVC_E_LOCAL] = "too many requests in flight",
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

/* ---- waiting ---- */

bool
evc_on_thread(const struct evc *c)
{
	return c->thread_running && pthread_equal(c->thread, pthread_self());
}

/*
 * Runs the connection (or, with the background thread, waits for it)
 * until pred holds or deadline_ns passes. Returns 0 when pred holds,
 * -EVC_E_TIMEOUT, or the code that ended the connection.
 */
int
evc_run_until(struct evc *c, bool (*pred)(struct evc *, void *), void *parg,
	      int64_t deadline_ns)
{
	struct timespec ts;
	bool first = true;
	int r;

	for (;;) {
		if (pred(c, parg))
			return 0;
		if (c->thread_running && !evc_on_thread(c)) {
			if (c->dead != 0)
				return evc_conn_fail(c, -c->dead, "%s",
						     c->dead_msg);
			if (deadline_ns == EVC_FOREVER) {
				pthread_cond_wait(&c->cond, &c->lock);
				continue;
			}
			if (evc_conn_expired(deadline_ns))
				return evc_conn_fail(c, EVC_E_TIMEOUT,
						     "timed out waiting for "
						     "the daemon");
			ts.tv_sec = (time_t)(deadline_ns / 1000000000);
			ts.tv_nsec = (long)(deadline_ns % 1000000000);
			pthread_cond_timedwait(&c->cond, &c->lock, &ts);
			continue;
		}
		/* A call that may wait only writes first; with no time left
		 * (timeout 0) it must read what is there now. */
		first = first && !evc_conn_expired(deadline_ns);
		r = first ? evc_conn_io_flush(c) : evc_conn_io(c);
		if (pred(c, parg))
			return 0;
		if (r < 0)
			return r;
		if (!first && evc_conn_expired(deadline_ns))
			return evc_conn_fail(c, EVC_E_TIMEOUT,
					     "timed out waiting for the daemon");
		first = false;
		evc_conn_wait(c, deadline_ns);
	}
}

static bool
waiter_done(struct evc *c, void *arg)
{
	return ((struct evc_waiter *)arg)->done;
}

/*
 * Sends req and waits for its reply, which must be want (or an Error,
 * returned as its code with the daemon's message in evc_errmsg()).
 * On success *ret is the caller's to free.
 */
int
evc_call(struct evc *c, Evd__Request *req, Evd__Reply__BodyCase want,
	 unsigned flags, int timeout_ms, Evd__Reply **ret)
{
	int64_t deadline_ns = evc_conn_deadline(timeout_ms);
	struct evc_waiter w = {0};
	int r;

	pthread_mutex_lock(&c->lock);
	r = evc_conn_submit(c, req, want, flags, NULL, NULL, &w);
	if (r < 0)
		goto out;
	r = evc_run_until(c, waiter_done, &w, deadline_ns);
	if (w.done) {
		r = w.status;
		if (r == 0)
			*ret = w.reply;
		else
			evc_conn_fail(c, -r, "%s", w.errmsg);
	} else {
		/* Timed out or failed: the reply, if it ever comes, is
		 * dropped. */
		evc_conn_abandon(c, &w);
	}
out:
	evc_conn_watch(c);
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int
hello(struct evc *c, const char *client_name, int64_t deadline_ns)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Hello h = EVD__HELLO__INIT;
	Evd__Reply *reply;
	int64_t left_ms;
	int r;

	h.has_protocol_version = 1;
	h.protocol_version = EVC_PROTOCOL_VERSION;
	h.client_name =
	    (char *)(client_name != NULL ? client_name : DEFAULT_CLIENT_NAME);
	req.body_case = EVD__REQUEST__BODY_HELLO;
	req.hello = &h;
	left_ms = -1;
	if (deadline_ns != EVC_FOREVER) {
		left_ms = (deadline_ns - evc_now_ns() + 999999) / 1000000;
		if (left_ms < 0)
			left_ms = 0;
		if (left_ms > INT32_MAX)
			left_ms = INT32_MAX;
	}
	r = evc_call(c, &req, EVD__REPLY__BODY_WELCOME, 0, (int)left_ms,
		     &reply);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	r = evc_conn_welcome(c, reply->welcome);
	pthread_mutex_unlock(&c->lock);
	evd__reply__free_unpacked(reply, NULL);
	return r;
}

void
evc_free_handle(struct evc *c)
{
	if (c->watch_release != NULL)
		c->watch_release(c->watch_arg);
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
	bool inited = false;
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
	c->wake_fd = -1;
	if (path == NULL) {
		r = evc_default_socket(def, sizeof(def));
		if (r < 0) {
			evc_conn_fail(c, EVC_E_USAGE,
				      "the default socket path is too long");
			goto fail;
		}
		path = def;
	}
	r = evc_conn_init(c, path, client_name);
	if (r < 0) {
		if (r == -EVC_E_NOMEM && c->errmsg[0] == '\0')
			evc_conn_fail(c, EVC_E_NOMEM, "out of memory");
		goto fail;
	}
	inited = true;
	pthread_mutex_lock(&c->lock);
	r = evc_conn_open(c, deadline_ns);
	pthread_mutex_unlock(&c->lock);
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
	if (inited) {
		evc_free_handle(c);
	} else {
		free(c->path);
		free(c->client_name);
		if (c->fd >= 0)
			close(c->fd);
		free(c);
	}
	return r;
}

EVC_EXPORT void
evc_close(struct evc *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	/* From inside a callback: whoever runs the callbacks frees the
	 * handle once it has returned, instead of pulling it from under
	 * itself. */
	if (c->dispatching) {
		c->close_pending = true;
		pthread_mutex_unlock(&c->lock);
		return;
	}
	if (c->thread_running)
		evc_thread_stop_locked(c);
	pthread_mutex_unlock(&c->lock);
	evc_free_handle(c);
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
	struct evc *m = (struct evc *)c;
	int fd;

	if (c == NULL)
		return -1;
	pthread_mutex_lock(&m->lock);
	fd = c->fd;
	pthread_mutex_unlock(&m->lock);
	return fd;
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
schedule(struct evc *c, Evd__Request *req, unsigned flags, int timeout_ms,
	 struct evc_scheduled *ret)
{
	Evd__Reply *reply;
	int r;

	r = evc_call(c, req, EVD__REPLY__BODY_SCHEDULED, flags, timeout_ms,
		     &reply);
	if (r < 0)
		return r;
	if (ret != NULL)
		evc_conv_scheduled(reply->scheduled, ret);
	evd__reply__free_unpacked(reply, NULL);
	return 0;
}

/* What cannot be said on the wire about an exec hook; the daemon judges
 * the rest. */
static int
exec_check(struct evc *c, const struct evc_exec *e)
{
	size_t i;

	if (e->argv == NULL || e->argc == 0)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "exec hook without argv (argc 0)");
	if (e->shell && e->argc != 1)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "a shell exec hook has one argv element, "
				     "the command, not %zu",
				     e->argc);
	for (i = 0; i < e->argc; i++)
		if (e->argv[i] == NULL)
			return evc_conn_fail(c, EVC_E_USAGE,
					     "exec hook argv[%zu] is NULL", i);
	if (e->nenv > 0 && e->env == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "exec hook env is NULL with nenv %zu",
				     e->nenv);
	for (i = 0; i < e->nenv; i++)
		if (e->env[i] == NULL)
			return evc_conn_fail(c, EVC_E_USAGE,
					     "exec hook env[%zu] is NULL", i);
	if (e->nproperties > 0 && e->properties == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "exec hook properties is NULL with "
				     "nproperties %zu",
				     e->nproperties);
	for (i = 0; i < e->nproperties; i++)
		if (e->properties[i] == NULL)
			return evc_conn_fail(c, EVC_E_USAGE,
					     "exec hook properties[%zu] is "
					     "NULL",
					     i);
	return 0;
}

/*
 * The caller's login name (its effective uid's passwd entry), which an
 * exec hook carries so that the daemon can tell, when it fires, that the
 * uid still belongs to the same user (a deleted user's uid given to
 * someone else). buf stays "" when the uid has no entry: the daemon then
 * decides with the uid alone.
 */
static void
self_user(char *buf, size_t size)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];

	buf[0] = '\0';
	if (getpwuid_r(geteuid(), &pw, tmp, sizeof(tmp), &res) == 0 &&
	    res != NULL && strlen(pw.pw_name) < size)
		strcpy(buf, pw.pw_name);
}

/*
 * Builds a scheduling request of kind in *s, borrowing the caller's
 * data (nothing is copied: s lives on the caller's stack until the
 * request is packed). What every kind shares: the Callback message, the
 * options (cb->options and rep), the key — the caller's, or with
 * reconnection a generated one for a durable callback (in s->keybuf) —
 * and whether the request may be sent again after a lost connection
 * (s->flags): only a durable (channel or exec) timer with a key. An
 * ephemeral timer dies with its connection, so repeating it could only
 * create a second one on the new connection behind the program's back.
 * A negative delay, a wall clock for call_later, a bad rep value or
 * calendar are for the daemon to refuse (INVALID_ARGUMENT), like every
 * other value it judges; only what cannot be said on the wire is
 * -EVC_E_USAGE.
 */
int
evc_sched_build(struct evc *c, struct evc_sched *s, enum evc_sched_kind kind,
		int64_t ns, enum evc_clock clock, const char *calendar,
		const char *tz, const struct evc_callback *cb,
		const struct evc_repeat *rep)
{
	static const char *const names[] = {"call_soon", "call_later",
					    "call_at", "call_on"};
	const struct evc_timer_options *o = cb != NULL ? cb->options : NULL;
	Evd__TimerOptions *opts = NULL;
	const char *key = cb != NULL ? cb->key : NULL;
	int r;

	memset(s, 0, sizeof(*s));
	if (kind != EVC_SCHED_SOON && kind != EVC_SCHED_ON &&
	    !clock_valid(clock))
		return evc_conn_fail(c, EVC_E_USAGE, "%s: unknown clock %d",
				     names[kind], (int)clock);
	if (kind == EVC_SCHED_ON && calendar == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "call_on: the calendar expression is "
				     "NULL");
	if (cb != NULL && cb->channel != NULL && cb->exec != NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "a callback has a channel or an exec "
				     "hook, not both");
	if (cb != NULL && cb->exec != NULL && (r = exec_check(c, cb->exec)) < 0)
		return r;
	if (cb != NULL && cb->exec != NULL && cb->exec->user == NULL)
		self_user(s->userbuf, sizeof(s->userbuf));
	if (evc_conv_callback(cb, s->userbuf[0] != '\0' ? s->userbuf : NULL,
			      &s->exec, &s->cbm) < 0)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "callback payload is NULL with a length");
	if (o != NULL || rep != NULL) {
		evc_conv_options(o, rep, &s->repeat, &s->opts);
		opts = &s->opts;
	}
	if (cb != NULL && (cb->channel != NULL || cb->exec != NULL)) {
		pthread_mutex_lock(&c->lock);
		if (c->reconnect_min_ms > 0) {
			if (key == NULL) {
				evc_conn_autokey(c, s->keybuf);
				key = s->keybuf;
			}
			s->flags = EVC_REQ_RETRY;
		}
		pthread_mutex_unlock(&c->lock);
	}
	s->req = (Evd__Request)EVD__REQUEST__INIT;
	/* Always a Callback, empty when cb is NULL: "no target" is said
	 * explicitly rather than left to a default. */
	switch (kind) {
	case EVC_SCHED_SOON:
		s->soon = (Evd__CallSoon)EVD__CALL_SOON__INIT;
		s->soon.callback = &s->cbm;
		s->soon.key = (char *)key;
		s->soon.options = opts;
		s->req.body_case = EVD__REQUEST__BODY_CALL_SOON;
		s->req.call_soon = &s->soon;
		break;
	case EVC_SCHED_LATER:
		s->later = (Evd__CallLater)EVD__CALL_LATER__INIT;
		s->later.has_delay_ns = 1;
		s->later.delay_ns = ns;
		s->later.has_clock = 1;
		s->later.clock = (Evd__Clock)clock;
		s->later.callback = &s->cbm;
		s->later.key = (char *)key;
		s->later.options = opts;
		s->req.body_case = EVD__REQUEST__BODY_CALL_LATER;
		s->req.call_later = &s->later;
		break;
	case EVC_SCHED_AT:
		s->at = (Evd__CallAt)EVD__CALL_AT__INIT;
		s->at.has_when_ns = 1;
		s->at.when_ns = ns;
		s->at.has_clock = 1;
		s->at.clock = (Evd__Clock)clock;
		s->at.callback = &s->cbm;
		s->at.key = (char *)key;
		s->at.options = opts;
		s->req.body_case = EVD__REQUEST__BODY_CALL_AT;
		s->req.call_at = &s->at;
		break;
	case EVC_SCHED_ON:
		s->on = (Evd__CallOn)EVD__CALL_ON__INIT;
		/* Borrowed until packing; protobuf-c does not write. */
		s->on.calendar = (char *)calendar;
		s->on.tz = tz != NULL && tz[0] != '\0' ? (char *)tz : NULL;
		s->on.callback = &s->cbm;
		s->on.key = (char *)key;
		s->on.options = opts;
		s->req.body_case = EVD__REQUEST__BODY_CALL_ON;
		s->req.call_on = &s->on;
		break;
	}
	return 0;
}

EVC_EXPORT int
evc_call_soon_opts(struct evc *c, const struct evc_callback *cb,
		   const struct evc_repeat *rep, int timeout_ms,
		   struct evc_scheduled *ret)
{
	struct evc_sched s;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	r = evc_sched_build(c, &s, EVC_SCHED_SOON, 0, EVC_CLOCK_MONOTONIC,
			    NULL, NULL, cb, rep);
	if (r < 0)
		return r;
	return schedule(c, &s.req, s.flags, timeout_ms, ret);
}

EVC_EXPORT int
evc_call_later_opts(struct evc *c, int64_t delay_ns, enum evc_clock clock,
		    const struct evc_callback *cb,
		    const struct evc_repeat *rep, int timeout_ms,
		    struct evc_scheduled *ret)
{
	struct evc_sched s;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	r = evc_sched_build(c, &s, EVC_SCHED_LATER, delay_ns, clock, NULL,
			    NULL, cb, rep);
	if (r < 0)
		return r;
	return schedule(c, &s.req, s.flags, timeout_ms, ret);
}

EVC_EXPORT int
evc_call_at_opts(struct evc *c, int64_t when_ns, enum evc_clock clock,
		 const struct evc_callback *cb, const struct evc_repeat *rep,
		 int timeout_ms, struct evc_scheduled *ret)
{
	struct evc_sched s;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	r = evc_sched_build(c, &s, EVC_SCHED_AT, when_ns, clock, NULL, NULL,
			    cb, rep);
	if (r < 0)
		return r;
	return schedule(c, &s.req, s.flags, timeout_ms, ret);
}

EVC_EXPORT int
evc_call_on(struct evc *c, const char *calendar, const char *tz,
	    const struct evc_callback *cb, const struct evc_repeat *rep,
	    int timeout_ms, struct evc_scheduled *ret)
{
	struct evc_sched s;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	r = evc_sched_build(c, &s, EVC_SCHED_ON, 0, EVC_CLOCK_REALTIME,
			    calendar, tz, cb, rep);
	if (r < 0)
		return r;
	return schedule(c, &s.req, s.flags, timeout_ms, ret);
}

EVC_EXPORT int
evc_call_soon(struct evc *c, const struct evc_callback *cb, int timeout_ms,
	      struct evc_scheduled *ret)
{
	return evc_call_soon_opts(c, cb, NULL, timeout_ms, ret);
}

EVC_EXPORT int
evc_call_later(struct evc *c, int64_t delay_ns, enum evc_clock clock,
	       const struct evc_callback *cb, int timeout_ms,
	       struct evc_scheduled *ret)
{
	return evc_call_later_opts(c, delay_ns, clock, cb, NULL, timeout_ms,
				   ret);
}

EVC_EXPORT int
evc_call_at(struct evc *c, int64_t when_ns, enum evc_clock clock,
	    const struct evc_callback *cb, int timeout_ms,
	    struct evc_scheduled *ret)
{
	return evc_call_at_opts(c, when_ns, clock, cb, NULL, timeout_ms, ret);
}

/* Pause, Resume, Trigger or Retry: each answered with the timer. */
static int
timer_op(struct evc *c, Evd__Request__BodyCase body, uint64_t timer_id,
	 int timeout_ms, struct evc_timer_info *ret)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Pause pm = EVD__PAUSE__INIT;
	Evd__Resume rm = EVD__RESUME__INIT;
	Evd__Trigger tm = EVD__TRIGGER__INIT;
	Evd__Retry xm = EVD__RETRY__INIT;
	Evd__Reply *reply;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	evc_timer_op_build(body, timer_id, &req, &pm, &rm, &tm, &xm);
	r = evc_call(c, &req, EVD__REPLY__BODY_TIMER, 0, timeout_ms, &reply);
	if (r < 0)
		return r;
	r = ret != NULL ? evc_conv_timer_info(reply->timer, ret) : 0;
	evd__reply__free_unpacked(reply, NULL);
	if (r < 0)
		return evc_conn_fail(c, -r, "out of memory");
	return 0;
}

/* The request of timer_op; pm, rm, tm and xm are the caller's
 * buffers. */
void
evc_timer_op_build(Evd__Request__BodyCase body, uint64_t timer_id,
		   Evd__Request *req, Evd__Pause *pm, Evd__Resume *rm,
		   Evd__Trigger *tm, Evd__Retry *xm)
{
	req->body_case = body;
	switch (body) {
	case EVD__REQUEST__BODY_PAUSE:
		pm->has_timer_id = 1;
		pm->timer_id = timer_id;
		req->pause = pm;
		break;
	case EVD__REQUEST__BODY_RESUME:
		rm->has_timer_id = 1;
		rm->timer_id = timer_id;
		req->resume = rm;
		break;
	case EVD__REQUEST__BODY_RETRY:
		xm->has_timer_id = 1;
		xm->timer_id = timer_id;
		req->retry = xm;
		break;
	default:
		tm->has_timer_id = 1;
		tm->timer_id = timer_id;
		req->trigger = tm;
		break;
	}
}

EVC_EXPORT int
evc_pause(struct evc *c, uint64_t timer_id, int timeout_ms,
	  struct evc_timer_info *ret)
{
	return timer_op(c, EVD__REQUEST__BODY_PAUSE, timer_id, timeout_ms,
			ret);
}

EVC_EXPORT int
evc_resume(struct evc *c, uint64_t timer_id, int timeout_ms,
	   struct evc_timer_info *ret)
{
	return timer_op(c, EVD__REQUEST__BODY_RESUME, timer_id, timeout_ms,
			ret);
}

EVC_EXPORT int
evc_trigger(struct evc *c, uint64_t timer_id, int timeout_ms,
	    struct evc_timer_info *ret)
{
	return timer_op(c, EVD__REQUEST__BODY_TRIGGER, timer_id, timeout_ms,
			ret);
}

EVC_EXPORT int
evc_retry(struct evc *c, uint64_t timer_id, int timeout_ms,
	  struct evc_timer_info *ret)
{
	return timer_op(c, EVD__REQUEST__BODY_RETRY, timer_id, timeout_ms,
			ret);
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
	r = evc_call(c, &req, EVD__REPLY__BODY_CANCELLED, 0, timeout_ms,
		     &reply);
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
	r = evc_call(c, &req, EVD__REPLY__BODY_TIMER, EVC_REQ_RETRY, timeout_ms,
		     &reply);
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
	r = evc_call(c, &req, EVD__REPLY__BODY_TIMER_LIST, EVC_REQ_RETRY, timeout_ms,
		     &reply);
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
	r = evc_call(c, &req, EVD__REPLY__BODY_TIME, EVC_REQ_RETRY, timeout_ms,
		     &reply);
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
	r = evc_call(c, &req, EVD__REPLY__BODY_STATS, EVC_REQ_RETRY, timeout_ms,
		     &reply);
	if (r < 0)
		return r;
	r = evc_conv_stats(reply->stats, ret);
	evd__reply__free_unpacked(reply, NULL);
	if (r < 0)
		return evc_conn_fail(c, -r, "out of memory");
	return 0;
}

static int
subscribe(struct evc *c, const char *channel, bool has_visibility,
	  int64_t visibility_ns, int timeout_ms)
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
	m.has_visibility_timeout_ns = has_visibility;
	m.visibility_timeout_ns = visibility_ns;
	req.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	req.subscribe = &m;
	r = evc_call(c, &req, EVD__REPLY__BODY_SUBSCRIBED, EVC_REQ_RETRY, timeout_ms,
		     &reply);
	if (r < 0)
		return r;
	evd__reply__free_unpacked(reply, NULL);
	return 0;
}

EVC_EXPORT int
evc_subscribe(struct evc *c, const char *channel, int timeout_ms)
{
	return subscribe(c, channel, false, 0, timeout_ms);
}

EVC_EXPORT int
evc_subscribe_opts(struct evc *c, const char *channel,
		   int64_t visibility_timeout_ns, int timeout_ms)
{
	return subscribe(c, channel, true, visibility_timeout_ns, timeout_ms);
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
	r = evc_call(c, &req, EVD__REPLY__BODY_ACKED, 0, timeout_ms,
		     &reply);
	if (r < 0)
		return r;
	evd__reply__free_unpacked(reply, NULL);
	return 0;
}

/* The Ack of evc_ack_reschedule; m is the caller's buffer. */
void
evc_ack_build(uint64_t fire_id, bool reschedule, bool absolute,
	      int64_t when_ns, Evd__Request *req, Evd__Ack *m)
{
	m->has_fire_id = 1;
	m->fire_id = fire_id;
	if (reschedule && absolute) {
		m->reschedule_case = EVD__ACK__RESCHEDULE_RESCHEDULE_AT_NS;
		m->reschedule_at_ns = when_ns;
	} else if (reschedule) {
		m->reschedule_case = EVD__ACK__RESCHEDULE_RESCHEDULE_DELAY_NS;
		m->reschedule_delay_ns = when_ns;
	}
	req->body_case = EVD__REQUEST__BODY_ACK;
	req->ack = m;
}

EVC_EXPORT int
evc_ack_reschedule(struct evc *c, uint64_t fire_id, bool absolute,
		   int64_t when_ns, int timeout_ms, struct evc_scheduled *ret)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Ack m = EVD__ACK__INIT;
	Evd__Reply *reply;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	evc_ack_build(fire_id, true, absolute, when_ns, &req, &m);
	r = evc_call(c, &req, EVD__REPLY__BODY_ACKED, 0, timeout_ms, &reply);
	if (r < 0)
		return r;
	/* An evd that predates the trampoline acks and says nothing of a
	 * new deadline: that is not what the caller asked for. */
	if (reply->acked->rescheduled == NULL) {
		evd__reply__free_unpacked(reply, NULL);
		return evc_conn_fail(c, EVC_E_BAD_REPLY,
				     "ack of fire %" PRIu64 ": the daemon "
				     "acked it but did not reschedule the "
				     "timer (an evd without the trampoline?)",
				     fire_id);
	}
	if (ret != NULL)
		evc_conv_scheduled(reply->acked->rescheduled, ret);
	evd__reply__free_unpacked(reply, NULL);
	return 0;
}

/* ---- dead letters ---- */

EVC_EXPORT int
evc_list_dead(struct evc *c, const char *channel, uint64_t after_fire_id,
	      uint32_t limit, int timeout_ms, struct evc_dead_list *ret)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__ListDead m = EVD__LIST_DEAD__INIT;
	Evd__Reply *reply;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (channel == NULL || ret == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "evc_list_dead: %s is NULL",
				     channel == NULL ? "channel" : "ret");
	m.channel = (char *)channel;
	m.has_after_fire_id = after_fire_id != 0;
	m.after_fire_id = after_fire_id;
	m.has_limit = limit != 0;
	m.limit = limit;
	req.body_case = EVD__REQUEST__BODY_LIST_DEAD;
	req.list_dead = &m;
	r = evc_call(c, &req, EVD__REPLY__BODY_DEAD_LIST, EVC_REQ_RETRY,
		     timeout_ms, &reply);
	if (r < 0)
		return r;
	r = evc_conv_dead_list(reply->dead_list, ret);
	evd__reply__free_unpacked(reply, NULL);
	if (r < 0)
		return evc_conn_fail(c, -r, "out of memory");
	return 0;
}

/* Requeue and purge: the same request shape, the same Count-like reply.
 * Not retried after a lost connection: done once, a second run would
 * act on what became dead since, or fail with NOT_FOUND. */
static int
dead_op(struct evc *c, bool purge, const char *channel, uint64_t fire_id,
	int timeout_ms, uint64_t *ret_count)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__RequeueDead rq = EVD__REQUEUE_DEAD__INIT;
	Evd__PurgeDead pg = EVD__PURGE_DEAD__INIT;
	Evd__Reply *reply;
	uint64_t n;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (channel == NULL)
		return evc_conn_fail(c, EVC_E_USAGE, "%s: channel is NULL",
				     purge ? "evc_purge_dead"
					   : "evc_requeue_dead");
	if (purge) {
		pg.channel = (char *)channel;
		pg.has_fire_id = fire_id != 0;
		pg.fire_id = fire_id;
		req.body_case = EVD__REQUEST__BODY_PURGE_DEAD;
		req.purge_dead = &pg;
	} else {
		rq.channel = (char *)channel;
		rq.has_fire_id = fire_id != 0;
		rq.fire_id = fire_id;
		req.body_case = EVD__REQUEST__BODY_REQUEUE_DEAD;
		req.requeue_dead = &rq;
	}
	r = evc_call(c, &req,
		     purge ? EVD__REPLY__BODY_PURGED
			   : EVD__REPLY__BODY_REQUEUED,
		     0, timeout_ms, &reply);
	if (r < 0)
		return r;
	n = purge ? reply->purged->count : reply->requeued->count;
	evd__reply__free_unpacked(reply, NULL);
	if (ret_count != NULL)
		*ret_count = n;
	return 0;
}

EVC_EXPORT int
evc_requeue_dead(struct evc *c, const char *channel, uint64_t fire_id,
		 int timeout_ms, uint64_t *ret_count)
{
	return dead_op(c, false, channel, fire_id, timeout_ms, ret_count);
}

EVC_EXPORT int
evc_purge_dead(struct evc *c, const char *channel, uint64_t fire_id,
	       int timeout_ms, uint64_t *ret_count)
{
	return dead_op(c, true, channel, fire_id, timeout_ms, ret_count);
}

/* ---- exec waits ---- */

struct wait_pred {
	uint64_t timer_id;
	uint64_t gen; /* the connection that answered Waiting */
};

static bool
wait_done(struct evc *c, void *arg)
{
	const struct wait_pred *p = arg;
	size_t i;

	if (c->conn_gen != p->gen)
		return true;
	for (i = 0; i < c->n_kept; i++)
		if (c->kept[i].timer_id == p->timer_id)
			return true;
	return false;
}

/* Copies the run out of an ExecFinished reply, and frees the reply. */
static int
wait_result(struct evc *c, Evd__Reply *reply, struct evc_run *ret)
{
	static const Evd__Run empty = EVD__RUN__INIT;
	const Evd__Run *run = reply->exec_finished->run;
	int r;

	r = evc_conv_run(run != NULL ? run : &empty, ret);
	evd__reply__free_unpacked(reply, NULL);
	if (r < 0)
		return evc_conn_fail(c, -r, "out of memory");
	return 0;
}

/*
 * Wait is sent once, never again after a lost connection (flags 0, and
 * evc_conn loses the waits it accepted): see evclient.h. The report is
 * an event, so it is matched by timer id in c->kept, where evc_conn puts
 * every ExecFinished no asynchronous wait takes; blocking_waits keeps
 * the reports of the waits in progress from being pushed out of it.
 */
EVC_EXPORT int
evc_wait(struct evc *c, uint64_t timer_id, int timeout_ms, struct evc_run *ret)
{
	int64_t deadline_ns = evc_conn_deadline(timeout_ms);
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Wait m = EVD__WAIT__INIT;
	struct evc_waiter w = {0};
	struct wait_pred p = {.timer_id = timer_id};
	Evd__Reply *reply;
	char why[sizeof(c->errmsg)];
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (ret == NULL)
		return evc_conn_fail(c, EVC_E_USAGE, "evc_wait: ret is NULL");
	m.has_timer_id = 1;
	m.timer_id = timer_id;
	req.body_case = EVD__REQUEST__BODY_WAIT;
	req.wait = &m;

	pthread_mutex_lock(&c->lock);
	reply = evc_conn_take_kept(c, timer_id);
	if (reply != NULL) {
		pthread_mutex_unlock(&c->lock);
		return wait_result(c, reply, ret);
	}
	c->blocking_waits++;
	r = evc_conn_submit(c, &req, EVD__REPLY__BODY_WAITING, 0, NULL, NULL,
			    &w);
	if (r < 0)
		goto out;
	r = evc_run_until(c, waiter_done, &w, deadline_ns);
	if (!w.done) {
		evc_conn_abandon(c, &w);
		goto out;
	}
	r = w.status;
	if (r < 0) {
		/* A report that came before the refusal answers this wait:
		 * an earlier wait that gave up left it, and the daemon then
		 * forgot the timer (a cancelled one is NOT_FOUND). */
		if (-r < EVC_E_LOCAL &&
		    (reply = evc_conn_take_kept(c, timer_id)) != NULL) {
			r = 0;
			goto out;
		}
		evc_conn_fail(c, -r, "%s", w.errmsg);
		goto out;
	}
	evd__reply__free_unpacked(w.reply, NULL);
	p.gen = w.gen;
	r = evc_run_until(c, wait_done, &p, deadline_ns);
	reply = evc_conn_take_kept(c, timer_id);
	if (reply != NULL) {
		r = 0;
	} else if (r == 0 || r == -EVC_E_IO) {
		snprintf(why, sizeof(why), "%s", c->errmsg);
		r = evc_conn_fail(c, EVC_E_IO,
				  "the connection to evd was lost while "
				  "waiting for timer %llu to finish (%s); the "
				  "wait is not repeated on a new connection",
				  (unsigned long long)timer_id, why);
	} else if (r == -EVC_E_TIMEOUT) {
		evc_conn_fail(c, EVC_E_TIMEOUT,
			      "timed out waiting for timer %llu to finish",
			      (unsigned long long)timer_id);
	}
out:
	c->blocking_waits--;
	evc_conn_watch(c);
	pthread_mutex_unlock(&c->lock);
	if (reply != NULL)
		return wait_result(c, reply, ret);
	return r;
}

/* ---- channels ---- */

/* Grant and GetChannel share the reply; a grant is not repeated after a
 * lost connection (its effect would be unknown), a read is. */
EVC_EXPORT int
evc_channel_grant(struct evc *c, const char *channel, bool is_gid,
		  uint32_t id, bool subscribe, bool publish, bool revoke,
		  int timeout_ms, struct evc_channel_info *ret)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__ChannelGrant m = EVD__CHANNEL_GRANT__INIT;
	Evd__Reply *reply;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (channel == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "evc_channel_grant: channel is NULL");
	m.channel = (char *)channel;
	if (is_gid) {
		m.who_case = EVD__CHANNEL_GRANT__WHO_GID;
		m.gid = id;
	} else {
		m.who_case = EVD__CHANNEL_GRANT__WHO_UID;
		m.uid = id;
	}
	m.has_subscribe = 1;
	m.subscribe = subscribe;
	m.has_publish = 1;
	m.publish = publish;
	m.has_revoke = revoke;
	m.revoke = revoke;
	req.body_case = EVD__REQUEST__BODY_CHANNEL_GRANT;
	req.channel_grant = &m;
	r = evc_call(c, &req, EVD__REPLY__BODY_CHANNEL_INFO, 0, timeout_ms,
		     &reply);
	if (r < 0)
		return r;
	r = ret != NULL ? evc_conv_channel_info(reply->channel_info, ret) : 0;
	evd__reply__free_unpacked(reply, NULL);
	if (r < 0)
		return evc_conn_fail(c, -r, "out of memory");
	return 0;
}

EVC_EXPORT int
evc_get_channel(struct evc *c, const char *channel, int timeout_ms,
		struct evc_channel_info *ret)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__GetChannel m = EVD__GET_CHANNEL__INIT;
	Evd__Reply *reply;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (channel == NULL || ret == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "evc_get_channel: %s is NULL",
				     channel == NULL ? "channel" : "ret");
	m.channel = (char *)channel;
	req.body_case = EVD__REQUEST__BODY_GET_CHANNEL;
	req.get_channel = &m;
	r = evc_call(c, &req, EVD__REPLY__BODY_CHANNEL_INFO, EVC_REQ_RETRY,
		     timeout_ms, &reply);
	if (r < 0)
		return r;
	r = evc_conv_channel_info(reply->channel_info, ret);
	evd__reply__free_unpacked(reply, NULL);
	if (r < 0)
		return evc_conn_fail(c, -r, "out of memory");
	return 0;
}

/* ---- events ---- */

static bool
event_ready(struct evc *c, void *arg)
{
	return c->queue_len > 0;
}

EVC_EXPORT int
evc_next_event(struct evc *c, int timeout_ms, struct evc_fired *ret)
{
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (ret == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "evc_next_event: ret is NULL");
	pthread_mutex_lock(&c->lock);
	r = evc_run_until(c, event_ready, NULL,
			  evc_conn_deadline(timeout_ms));
	if (r == 0)
		evc_conn_pop_event(c, ret);
	else if (r == -EVC_E_TIMEOUT)
		evc_conn_fail(c, EVC_E_TIMEOUT,
			      "timed out waiting for an event");
	evc_conn_watch(c);
	pthread_mutex_unlock(&c->lock);
	return r;
}

EVC_EXPORT void
evc_set_fired_cb(struct evc *c, evc_fired_cb cb, void *arg)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->fired_cb = cb;
	c->fired_arg = arg;
	/* Queued events may now be for the handler to run. */
	evc_conn_wake(c);
	evc_conn_watch(c);
	pthread_mutex_unlock(&c->lock);
}

static bool
dispatch_ready(struct evc *c, void *arg)
{
	return c->queue_len > 0 || c->item_len > 0;
}

EVC_EXPORT int
evc_dispatch(struct evc *c, int timeout_ms)
{
	int64_t deadline_ns = evc_conn_deadline(timeout_ms);
	struct evc_fired ev;
	evc_fired_cb cb;
	void *cb_arg;
	int r, count = 0, stop;
	bool primed = false;
	size_t owed = 0;

	if (c == NULL)
		return -EVC_E_USAGE;
	pthread_mutex_lock(&c->lock);
	if (c->dispatching || c->thread_running) {
		r = evc_conn_fail(c, EVC_E_USAGE,
				  c->dispatching
				      ? "evc_dispatch called from a callback"
				      : "evc_dispatch with the background "
					"thread running");
		pthread_mutex_unlock(&c->lock);
		return r;
	}
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
		r = evc_run_until(c, dispatch_ready, NULL, deadline_ns);
		if (r == -EVC_E_TIMEOUT) {
			/* Running out of time is how dispatch normally ends. */
			r = count;
			break;
		}
		if (r < 0) {
			evc_deliver(c, false);
			break;
		}
		evc_deliver(c, false);
		if (c->close_pending)
			goto closed;
		if (c->queue_len == 0 || c->fired_cb == NULL)
			continue;
		if (!primed) {
			primed = true;
			owed = c->queue_len;
		}
		if (owed > 0)
			owed--;
		evc_conn_pop_event(c, &ev);
		cb = c->fired_cb;
		cb_arg = c->fired_arg;
		c->dispatching = true;
		pthread_mutex_unlock(&c->lock);
		stop = cb(c, &ev, cb_arg);
		evc_fired_free(&ev);
		pthread_mutex_lock(&c->lock);
		c->dispatching = false;
		count++;
		if (c->close_pending)
			goto closed;
		if (stop != 0 || count == INT32_MAX) {
			r = count;
			break;
		}
	}
	evc_conn_watch(c);
	pthread_mutex_unlock(&c->lock);
	return r;
closed:
	pthread_mutex_unlock(&c->lock);
	evc_free_handle(c);
	return count;
}
