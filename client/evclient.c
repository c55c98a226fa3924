/*
 * evclient: the blocking entry points of libevclient (see evclient.h),
 * and the handle's life.
 *
 * Each request call is a thin wrapper: it names its row of evc_req.c and
 * passes its arguments (EVC_ARGS); evc_req_call submits it (evc_submit,
 * the same path as the asynchronous calls) with a waiter on its own
 * stack, then runs the connection until the waiter is done
 * (evc_run_until) — or, with the background thread running, sleeps on
 * the handle's condition variable while the thread does the I/O. It
 * converts the answer with the row's converter and frees the Reply
 * before returning. Output parameters are written last, only on
 * success. A call that gives up (timeout) detaches its waiter under the
 * lock, so a late reply never touches a dead stack frame.
 *
 * No global state; nothing here prints, exits or aborts. A NULL handle is
 * answered with -EVC_E_USAGE, since there is nowhere to put a message.
 */
#include "evc_req.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* Whether a socket (or anything) is at path. */
static bool
path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* /tmp/evd-UID, where a user's evd without XDG_RUNTIME_DIR listens
 * (evd's own default), if it is that user's own 0700 directory: one
 * another user made could hold a socket posing as evd. */
static bool
user_tmp_dir_ok(const char *dir)
{
	struct stat st;

	return lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) &&
	       st.st_uid == geteuid() && (st.st_mode & 077) == 0;
}

EVC_EXPORT int
evc_default_socket(char *buf, size_t size)
{
	const char *env = getenv("EVD_SOCKET");
	const char *dir = getenv("XDG_RUNTIME_DIR");
	const char *sys = "/run/evd/evd.sock";
	char xdg[PATH_MAX], tmpd[64], tmp[80];
	const char *pick = sys;
	bool has_xdg = false;
	int n;

	if (env != NULL && env[0] != '\0') {
		pick = env;
	} else if (geteuid() != 0) {
		/* A user's own evd first, where it listens by default;
		 * then the system instance, which serves every user. */
		n = dir != NULL && dir[0] != '\0'
			    ? snprintf(xdg, sizeof(xdg), "%s/evd.sock", dir)
			    : -1;
		has_xdg = n > 0 && (size_t)n < sizeof(xdg);
		snprintf(tmpd, sizeof(tmpd), "/tmp/evd-%u",
			 (unsigned)geteuid());
		snprintf(tmp, sizeof(tmp), "%s/evd.sock", tmpd);
		if (n > 0 && !has_xdg)
			return -EVC_E_USAGE;
		if (has_xdg && path_exists(xdg))
			pick = xdg;
		else if (user_tmp_dir_ok(tmpd) && path_exists(tmp))
			pick = tmp;
		else if (path_exists(sys))
			pick = sys;
		else if (has_xdg)
			pick = xdg; /* none: name the user's own */
	}
	/* Measure first: buf is untouched when it is too small. */
	n = snprintf(NULL, 0, "%s", pick);
	if (buf == NULL || n < 0 || (size_t)n >= size)
		return -EVC_E_USAGE;
	snprintf(buf, size, "%s", pick);
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
 * The blocking path: submits op with a waiter on this stack and runs the
 * connection until it is answered. The reply must be the row's (or an
 * Error, returned as its code with the daemon's message in evc_errmsg()).
 * On success *ret is the caller's to free.
 */
int
evc_call(struct evc *c, enum evc_op op, const struct evc_args *a,
	 int timeout_ms, Evd__Reply **ret)
{
	int64_t deadline_ns = evc_conn_deadline(timeout_ms);
	struct evc_waiter w = {0};
	int r;

	r = evc_submit(c, op, a, NULL, NULL, &w);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
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
	evc_conn_watch(c);
	pthread_mutex_unlock(&c->lock);
	return r;
}

/*
 * evc_call, then the row's conversion, moved to a->ret (output written
 * last, only on success; freed when the caller passed none). a->ret_size
 * must be the row's: a wrapper that names the wrong row is refused here
 * rather than overrunning its caller's struct.
 */
int
evc_req_call(struct evc *c, enum evc_op op, const struct evc_args *a,
	     int timeout_ms)
{
	const struct evc_req_type *t = &evc_req_types[op];
	struct evc_out o = {0};
	Evd__Reply *reply;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (a->ret_size != 0 && a->ret_size != t->out_size)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "%s: internal error: output of %zu bytes "
				     "for %s",
				     a->fn, a->ret_size, t->name);
	r = evc_call(c, op, a, timeout_ms, &reply);
	if (r < 0)
		return r;
	r = t->convert(reply, &o);
	evd__reply__free_unpacked(reply, NULL);
	if (r < 0) {
		evc_out_clear(&o);
		return evc_conn_fail(c, -r, "out of memory");
	}
	if (a->ret != NULL && o.val == NULL) {
		/* Only an Acked can lack its result: evc_ack_reschedule to an
		 * evd that predates the trampoline, which acks and says
		 * nothing of a new deadline. Not what the caller asked for. */
		evc_out_clear(&o);
		return evc_conn_fail(c, EVC_E_BAD_REPLY,
				     "ack of fire %" PRIu64 ": the daemon "
				     "acked it but did not reschedule the "
				     "timer (an evd without the trampoline?)",
				     a->id);
	}
	if (a->ret != NULL) {
		memcpy(a->ret, o.val, t->out_size);
		memset(o.val, 0, t->out_size);
	}
	evc_out_clear(&o);
	return 0;
}

static int
hello(struct evc *c, int64_t deadline_ns)
{
	Evd__Reply *reply;
	int64_t left_ms;
	int r;

	left_ms = -1;
	if (deadline_ns != EVC_FOREVER) {
		left_ms = (deadline_ns - evc_now_ns() + 999999) / 1000000;
		if (left_ms < 0)
			left_ms = 0;
		if (left_ms > INT32_MAX)
			left_ms = INT32_MAX;
	}
	r = evc_call(c, EVC_OP_HELLO, EVC_ARGS(.name = c->client_name),
		     (int)left_ms, &reply);
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
	r = hello(c, deadline_ns);
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

/*
 * Every blocking request is one evc_req_call on its row of evc_req.c,
 * which builds, checks and converts; a NULL c is -EVC_E_USAGE there.
 */

EVC_EXPORT int
evc_call_soon_opts(struct evc *c, const struct evc_callback *cb,
		   const struct evc_repeat *rep, int timeout_ms,
		   struct evc_scheduled *ret)
{
	return evc_req_call(c, EVC_OP_CALL_SOON,
			    EVC_ARGS(.cb = cb, .rep = rep, EVC_RET(ret)),
			    timeout_ms);
}

EVC_EXPORT int
evc_call_later_opts(struct evc *c, int64_t delay_ns, enum evc_clock clock,
		    const struct evc_callback *cb,
		    const struct evc_repeat *rep, int timeout_ms,
		    struct evc_scheduled *ret)
{
	return evc_req_call(c, EVC_OP_CALL_LATER,
			    EVC_ARGS(.ns = delay_ns, .clock = clock, .cb = cb,
				     .rep = rep, EVC_RET(ret)),
			    timeout_ms);
}

EVC_EXPORT int
evc_call_at_opts(struct evc *c, int64_t when_ns, enum evc_clock clock,
		 const struct evc_callback *cb, const struct evc_repeat *rep,
		 int timeout_ms, struct evc_scheduled *ret)
{
	return evc_req_call(c, EVC_OP_CALL_AT,
			    EVC_ARGS(.ns = when_ns, .clock = clock, .cb = cb,
				     .rep = rep, EVC_RET(ret)),
			    timeout_ms);
}

EVC_EXPORT int
evc_call_on(struct evc *c, const char *calendar, const char *tz,
	    const struct evc_callback *cb, const struct evc_repeat *rep,
	    int timeout_ms, struct evc_scheduled *ret)
{
	return evc_req_call(c, EVC_OP_CALL_ON,
			    EVC_ARGS(.calendar = calendar, .tz = tz, .cb = cb,
				     .rep = rep, EVC_RET(ret)),
			    timeout_ms);
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

/* ---- timers ---- */

EVC_EXPORT int
evc_pause(struct evc *c, uint64_t timer_id, int timeout_ms,
	  struct evc_timer_info *ret)
{
	return evc_req_call(c, EVC_OP_PAUSE,
			    EVC_ARGS(.id = timer_id, EVC_RET(ret)), timeout_ms);
}

EVC_EXPORT int
evc_resume(struct evc *c, uint64_t timer_id, int timeout_ms,
	   struct evc_timer_info *ret)
{
	return evc_req_call(c, EVC_OP_RESUME,
			    EVC_ARGS(.id = timer_id, EVC_RET(ret)), timeout_ms);
}

EVC_EXPORT int
evc_trigger(struct evc *c, uint64_t timer_id, int timeout_ms,
	    struct evc_timer_info *ret)
{
	return evc_req_call(c, EVC_OP_TRIGGER,
			    EVC_ARGS(.id = timer_id, EVC_RET(ret)), timeout_ms);
}

EVC_EXPORT int
evc_retry(struct evc *c, uint64_t timer_id, int timeout_ms,
	  struct evc_timer_info *ret)
{
	return evc_req_call(c, EVC_OP_RETRY,
			    EVC_ARGS(.id = timer_id, EVC_RET(ret)), timeout_ms);
}

EVC_EXPORT int
evc_cancel(struct evc *c, uint64_t timer_id, int timeout_ms)
{
	return evc_req_call(c, EVC_OP_CANCEL, EVC_ARGS(.id = timer_id),
			    timeout_ms);
}

EVC_EXPORT int
evc_get(struct evc *c, uint64_t timer_id, int timeout_ms,
	struct evc_timer_info *ret)
{
	return evc_req_call(c, EVC_OP_GET,
			    EVC_ARGS(.id = timer_id, EVC_RET(ret)), timeout_ms);
}

EVC_EXPORT int
evc_list(struct evc *c, const char *channel, uint64_t after_id, uint32_t limit,
	 int timeout_ms, struct evc_timer_list *ret)
{
	return evc_req_call(c, EVC_OP_LIST,
			    EVC_ARGS(.channel = channel, .after_id = after_id,
				     .limit = limit, EVC_RET(ret)),
			    timeout_ms);
}

EVC_EXPORT int
evc_list_opts(struct evc *c, const struct evc_list_options *o, int timeout_ms,
	      struct evc_timer_list *ret)
{
	static const struct evc_list_options none;

	if (o == NULL)
		o = &none;
	return evc_req_call(c, EVC_OP_LIST,
			    EVC_ARGS(.channel = o->channel,
				     .after_id = o->after_id, .limit = o->limit,
				     .finished = o->finished, .runs = o->runs,
				     EVC_RET(ret)),
			    timeout_ms);
}

EVC_EXPORT int
evc_time(struct evc *c, int timeout_ms, struct evc_time *ret)
{
	return evc_req_call(c, EVC_OP_TIME, EVC_ARGS(EVC_RET(ret)),
			    timeout_ms);
}

EVC_EXPORT int
evc_stats(struct evc *c, int timeout_ms, struct evc_stats *ret)
{
	return evc_req_call(c, EVC_OP_STATS, EVC_ARGS(EVC_RET(ret)),
			    timeout_ms);
}

/* The Stats row converts into struct evc_stats; the same reply's
 * cluster node is converted here. */
EVC_EXPORT int
evc_cluster_stats(struct evc *c, int timeout_ms, struct evc_cluster_stats *ret)
{
	Evd__Reply *reply;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (ret == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "evc_cluster_stats: ret is NULL");
	/* .ret only to pass the row's check: evc_call writes nothing to
	 * it (ret_size 0). */
	r = evc_call(c, EVC_OP_STATS, EVC_ARGS(.ret = ret), timeout_ms,
		     &reply);
	if (r < 0)
		return r;
	r = evc_conv_cluster_stats(reply->stats, ret);
	evd__reply__free_unpacked(reply, NULL);
	if (r < 0)
		return evc_conn_fail(c, -r, "out of memory");
	return 0;
}

/* ---- channels ---- */

EVC_EXPORT int
evc_subscribe(struct evc *c, const char *channel, int timeout_ms)
{
	return evc_req_call(c, EVC_OP_SUBSCRIBE, EVC_ARGS(.channel = channel),
			    timeout_ms);
}

EVC_EXPORT int
evc_subscribe_opts(struct evc *c, const char *channel,
		   int64_t visibility_timeout_ns, int timeout_ms)
{
	return evc_req_call(c, EVC_OP_SUBSCRIBE,
			    EVC_ARGS(.channel = channel, .has_visibility = true,
				     .visibility_ns = visibility_timeout_ns),
			    timeout_ms);
}

EVC_EXPORT int
evc_unsubscribe(struct evc *c, const char *channel, int timeout_ms)
{
	return evc_req_call(c, EVC_OP_UNSUBSCRIBE, EVC_ARGS(.channel = channel),
			    timeout_ms);
}

EVC_EXPORT int
evc_ack(struct evc *c, uint64_t fire_id, int timeout_ms)
{
	return evc_req_call(c, EVC_OP_ACK, EVC_ARGS(.id = fire_id),
			    timeout_ms);
}

EVC_EXPORT int
evc_subscribe_limit(struct evc *c, const char *channel,
		    int64_t visibility_timeout_ns, uint32_t max_inflight,
		    int timeout_ms)
{
	return evc_req_call(c, EVC_OP_SUBSCRIBE,
			    EVC_ARGS(.channel = channel, .has_visibility = true,
				     .visibility_ns = visibility_timeout_ns,
				     .max_inflight = max_inflight),
			    timeout_ms);
}

EVC_EXPORT int
evc_reject(struct evc *c, const char *channel, uint64_t fire_id,
	   const char *reason, bool dead_letter, int timeout_ms,
	   struct evc_rejected *ret)
{
	struct evc_rejected rj;
	int r;

	r = evc_req_call(c, EVC_OP_REJECT,
			 EVC_ARGS(.channel = channel, .id = fire_id,
				  .reason = reason, .dead_letter = dead_letter,
				  EVC_RET(&rj)),
			 timeout_ms);
	if (r == 0 && ret != NULL)
		*ret = rj;
	return r;
}

/* The row's conversion makes both views of the page; this one keeps
 * the one with reasons, so it converts the raw reply itself (a->ret
 * only says an output is there, as the row requires). */
EVC_EXPORT int
evc_list_dead_letters(struct evc *c, const char *channel,
		      uint64_t after_fire_id, uint32_t limit, int timeout_ms,
		      struct evc_dead_letters *ret)
{
	Evd__Reply *reply;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (ret == NULL)
		return evc_conn_fail(c, EVC_E_USAGE, "%s: ret is NULL",
				     __func__);
	r = evc_call(c, EVC_OP_LIST_DEAD,
		     EVC_ARGS(.channel = channel, .after_id = after_fire_id,
			      .limit = limit, .ret = ret),
		     timeout_ms, &reply);
	if (r < 0)
		return r;
	r = evc_conv_dead_letters(reply->dead_list, ret);
	evd__reply__free_unpacked(reply, NULL);
	if (r < 0)
		return evc_conn_fail(c, -r, "out of memory");
	return 0;
}

/* Always with an output: an Acked without the new deadline is not what
 * the caller asked for (evc_req_call refuses it). */
EVC_EXPORT int
evc_ack_reschedule(struct evc *c, uint64_t fire_id, bool absolute,
		   int64_t when_ns, int timeout_ms, struct evc_scheduled *ret)
{
	struct evc_scheduled sc;
	int r;

	r = evc_req_call(c, EVC_OP_ACK,
			 EVC_ARGS(.id = fire_id, .reschedule = true,
				  .absolute = absolute, .ns = when_ns,
				  EVC_RET(&sc)),
			 timeout_ms);
	if (r == 0 && ret != NULL)
		*ret = sc;
	return r;
}

EVC_EXPORT int
evc_list_dead(struct evc *c, const char *channel, uint64_t after_fire_id,
	      uint32_t limit, int timeout_ms, struct evc_dead_list *ret)
{
	return evc_req_call(c, EVC_OP_LIST_DEAD,
			    EVC_ARGS(.channel = channel,
				     .after_id = after_fire_id, .limit = limit,
				     EVC_RET(ret)),
			    timeout_ms);
}

EVC_EXPORT int
evc_requeue_dead(struct evc *c, const char *channel, uint64_t fire_id,
		 int timeout_ms, uint64_t *ret_count)
{
	return evc_req_call(c, EVC_OP_REQUEUE_DEAD,
			    EVC_ARGS(.channel = channel, .id = fire_id,
				     EVC_RET(ret_count)),
			    timeout_ms);
}

EVC_EXPORT int
evc_purge_dead(struct evc *c, const char *channel, uint64_t fire_id,
	       int timeout_ms, uint64_t *ret_count)
{
	return evc_req_call(c, EVC_OP_PURGE_DEAD,
			    EVC_ARGS(.channel = channel, .id = fire_id,
				     EVC_RET(ret_count)),
			    timeout_ms);
}

EVC_EXPORT int
evc_purge(struct evc *c, const char *channel, bool has_from_uid,
	  uint32_t from_uid, int timeout_ms, uint64_t *ret_count)
{
	return evc_req_call(c, EVC_OP_PURGE,
			    EVC_ARGS(.channel = channel, .is_uid = has_from_uid,
				     .id = from_uid, EVC_RET(ret_count)),
			    timeout_ms);
}

EVC_EXPORT int
evc_cancel_all(struct evc *c, const char *channel, bool has_uid, uint32_t uid,
	       int timeout_ms, uint64_t *ret_count)
{
	return evc_req_call(c, EVC_OP_CANCEL_ALL,
			    EVC_ARGS(.channel = channel, .is_uid = has_uid,
				     .id = uid, EVC_RET(ret_count)),
			    timeout_ms);
}

EVC_EXPORT int
evc_list_channels(struct evc *c, const char *after, uint32_t limit,
		  int timeout_ms, struct evc_channel_list *ret)
{
	return evc_req_call(c, EVC_OP_LIST_CHANNELS,
			    EVC_ARGS(.name = after, .limit = limit,
				     EVC_RET(ret)),
			    timeout_ms);
}

EVC_EXPORT int
evc_peek(struct evc *c, const char *channel, uint32_t limit, int timeout_ms,
	 struct evc_dead_list *ret)
{
	return evc_req_call(c, EVC_OP_PEEK,
			    EVC_ARGS(.channel = channel, .limit = limit,
				     EVC_RET(ret)),
			    timeout_ms);
}

EVC_EXPORT int
evc_channel_grant(struct evc *c, const char *channel, bool is_gid,
		  uint32_t id, bool subscribe, bool publish, bool revoke,
		  int timeout_ms, struct evc_channel_info *ret)
{
	return evc_req_call(c, EVC_OP_CHANNEL_GRANT,
			    EVC_ARGS(.channel = channel, .is_gid = is_gid,
				     .id = id, .subscribe = subscribe,
				     .publish = publish, .revoke = revoke,
				     EVC_RET(ret)),
			    timeout_ms);
}

EVC_EXPORT int
evc_get_channel(struct evc *c, const char *channel, int timeout_ms,
		struct evc_channel_info *ret)
{
	return evc_req_call(c, EVC_OP_GET_CHANNEL,
			    EVC_ARGS(.channel = channel, EVC_RET(ret)),
			    timeout_ms);
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

/* Converts the run out of an ExecFinished report (the Wait row), and
 * frees the report. */
static int
wait_result(struct evc *c, Evd__Reply *reply, struct evc_run *ret)
{
	struct evc_out o;
	int r;

	r = evc_req_convert(evc_req_types[EVC_OP_WAIT].result, reply, &o);
	evd__reply__free_unpacked(reply, NULL);
	if (r < 0) {
		evc_out_clear(&o);
		return evc_conn_fail(c, -r, "out of memory");
	}
	*ret = o.run;
	return 0;
}

/*
 * Wait is sent once, never again after a lost connection (its row's
 * retry policy, and evc_conn loses the waits it accepted): see
 * evclient.h. The report is an event, so it is matched by timer id in
 * c->kept, where evc_conn puts every ExecFinished no asynchronous wait
 * takes; blocking_waits keeps the reports of the waits in progress from
 * being pushed out of it.
 */
EVC_EXPORT int
evc_wait(struct evc *c, uint64_t timer_id, int timeout_ms, struct evc_run *ret)
{
	int64_t deadline_ns = evc_conn_deadline(timeout_ms);
	struct evc_waiter w = {0};
	struct wait_pred p = {.timer_id = timer_id};
	Evd__Reply *reply;
	char why[sizeof(c->errmsg)];
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (ret == NULL)
		return evc_conn_fail(c, EVC_E_USAGE, "evc_wait: ret is NULL");
	pthread_mutex_lock(&c->lock);
	reply = evc_conn_take_kept(c, timer_id);
	if (reply != NULL) {
		pthread_mutex_unlock(&c->lock);
		return wait_result(c, reply, ret);
	}
	c->blocking_waits++;
	pthread_mutex_unlock(&c->lock);
	r = evc_submit(c, EVC_OP_WAIT, EVC_ARGS(.id = timer_id, EVC_RET(ret)),
		       NULL, NULL, &w);
	pthread_mutex_lock(&c->lock);
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
