/*
 * evc_conn: the socket under a handle: connecting, framing, request ids,
 * waiting for the reply to a request, and the queue of fired events that
 * arrive in between.
 *
 * The socket is non-blocking and every wait is a poll() bounded by the
 * caller's deadline on CLOCK_MONOTONIC, so a call never blocks longer
 * than its timeout_ms and EINTR only costs a recomputation. Sends use
 * MSG_NOSIGNAL: a vanished daemon is -EVC_E_IO, never SIGPIPE.
 *
 * Bounds: the input buffer holds at most one maximum frame
 * (FRAME_DEFAULT_MAX) beyond the complete frames it is decoding; the event
 * queue holds at most EVC_MAX_QUEUED_EVENTS. A frame whose event does not
 * fit is left in the buffer until the caller drains the queue, so nothing
 * is ever dropped silently.
 *
 * A connection becomes dead (evc_conn_kill) when the stream can no longer
 * be trusted: EOF, a read or write error, an undecodable frame, a reply to
 * a request never sent, a request cut off half-sent, or the daemon's
 * protocol error announcing a close. The socket is then shut down (so the
 * daemon drops the connection and its ephemeral timers) but the fd stays
 * open until evc_close(), as evc_fd() promises.
 */
#include "evc_private.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"

/* Reads go into at least this much buffer: large chunks, few syscalls. */
#define IN_CHUNK (64u * 1024u)
/* How often to retry while the daemon's listen backlog is full. */
#define CONNECT_RETRY_MS 10

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
evc_conn_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return EVC_FOREVER;
	return now_ns() + (int64_t)timeout_ms * 1000000;
}

bool
evc_conn_expired(int64_t deadline_ns)
{
	return deadline_ns != EVC_FOREVER && now_ns() >= deadline_ns;
}

/* poll()'s timeout for a deadline: rounded up, so that we never wake
 * just before the deadline and spin on a zero timeout. */
static int
remaining_ms(int64_t deadline_ns)
{
	int64_t left;

	if (deadline_ns == EVC_FOREVER)
		return -1;
	left = deadline_ns - now_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

static const char *
errno_str(int e, char *buf, size_t size)
{
	/* The GNU strerror_r (we build with _GNU_SOURCE): thread-safe,
	 * unlike strerror(). */
	return strerror_r(e, buf, size);
}

int
evc_conn_fail(struct evc *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	return -code;
}

/* Marks the connection unusable; every later request repeats the reason. */
static int conn_kill(struct evc *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
conn_kill(struct evc *c, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	if (c->dead == 0) {
		c->dead = -code;
		snprintf(c->dead_msg, sizeof(c->dead_msg), "%s", c->errmsg);
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
	}
	return -code;
}

static int
conn_check_alive(struct evc *c)
{
	if (c->dead == 0)
		return 0;
	return evc_conn_fail(c, -c->dead, "%s", c->dead_msg);
}

/*
 * Waits until fd has one of events, or the deadline passes.
 * Returns the revents (> 0), or -EVC_E_TIMEOUT / -EVC_E_IO.
 */
static int
conn_poll(struct evc *c, short events, int64_t deadline_ns)
{
	struct pollfd pfd = {.fd = c->fd, .events = events};
	char eb[128];
	int n, ms;

	for (;;) {
		ms = remaining_ms(deadline_ns);
		n = poll(&pfd, 1, ms);
		if (n > 0)
			return pfd.revents;
		if (n < 0 && errno != EINTR)
			return evc_conn_fail(c, EVC_E_IO, "poll: %s",
					     errno_str(errno, eb, sizeof(eb)));
		if (n == 0 && ms == 0)
			return evc_conn_fail(
			    c, EVC_E_TIMEOUT,
			    "timed out waiting for the daemon");
	}
}

/* ---- events ---- */

static int
queue_push(struct evc *c, const struct evc_fired *ev)
{
	struct evc_fired *q;
	size_t cap, i;

	if (c->queue_len == c->queue_cap) {
		if (c->queue_cap >= EVC_MAX_QUEUED_EVENTS)
			return evc_conn_fail(
			    c, EVC_E_NOMEM,
			    "%u fired events are queued in this handle, the "
			    "limit; drain them with evc_next_event() or "
			    "evc_dispatch()",
			    EVC_MAX_QUEUED_EVENTS);
		cap = c->queue_cap == 0 ? 16 : c->queue_cap * 2;
		if (cap > EVC_MAX_QUEUED_EVENTS)
			cap = EVC_MAX_QUEUED_EVENTS;
		q = malloc(cap * sizeof(*q));
		if (q == NULL)
			return evc_conn_fail(c, EVC_E_NOMEM,
					     "out of memory queueing an event");
		/* Unwrap the ring into the new array, oldest first. */
		for (i = 0; i < c->queue_len; i++)
			q[i] = c->queue[(c->queue_head + i) % c->queue_cap];
		free(c->queue);
		c->queue = q;
		c->queue_cap = cap;
		c->queue_head = 0;
	}
	c->queue[(c->queue_head + c->queue_len) % c->queue_cap] = *ev;
	c->queue_len++;
	return 0;
}

void
evc_conn_pop_event(struct evc *c, struct evc_fired *ret)
{
	*ret = c->queue[c->queue_head];
	c->queue_head = (c->queue_head + 1) % c->queue_cap;
	c->queue_len--;
}

/* ---- input ---- */

/*
 * Decodes the complete frames in the input buffer. Fired events go to the
 * queue; a late reply to a timed-out call is dropped. Stops at the reply
 * to want_id (0: none wanted), storing it in *ret and returning 1.
 * Returns 0 when more bytes are needed, or a negative code.
 */
static int
conn_process(struct evc *c, uint64_t want_id, Evd__Reply **ret)
{
	const uint8_t *body;
	size_t body_len;
	Evd__Reply *reply;
	struct evc_fired ev;
	long n;
	int r, code;

	for (;;) {
		/* Also keeps c->in, NULL before the first read, out of the
		 * pointer arithmetic below. */
		if (c->in_start == c->in_end)
			return 0;
		n = frame_decode(c->in + c->in_start, c->in_end - c->in_start,
				 FRAME_DEFAULT_MAX, &body, &body_len);
		if (n == 0)
			return 0;
		if (n == -EMSGSIZE)
			return conn_kill(c, EVC_E_BAD_REPLY,
					 "the daemon sent a frame above the "
					 "%u-byte limit",
					 FRAME_DEFAULT_MAX);
		if (n < 0)
			return conn_kill(c, EVC_E_BAD_REPLY,
					 "the daemon sent an empty frame");
		reply = evd__reply__unpack(NULL, body_len, body);
		if (reply == NULL)
			return conn_kill(
			    c, EVC_E_BAD_REPLY,
			    "the daemon sent an undecodable reply");

		/* We never send request id 0, so a 0 cannot answer us: treat
		 * it like an absent id rather than fail on it. */
		if (reply->has_request_id && reply->request_id != 0) {
			uint64_t id = reply->request_id;

			if (id == want_id) {
				c->in_start += (size_t)n;
				*ret = reply;
				return 1;
			}
			evd__reply__free_unpacked(reply, NULL);
			if (id > c->last_request_id)
				return conn_kill(c, EVC_E_BAD_REPLY,
						 "the daemon answered request "
						 "%llu, which was not sent yet",
						 (unsigned long long)id);
			c->in_start += (size_t)n;
			continue;
		}

		switch (reply->body_case) {
		case EVD__REPLY__BODY_FIRED:
			r = evc_conv_fired(reply->fired, &ev);
			if (r == 0) {
				r = queue_push(c, &ev);
				if (r < 0)
					evc_fired_free(&ev);
			} else {
				evc_conn_fail(c, -r,
					      "out of memory reading "
					      "an event");
			}
			evd__reply__free_unpacked(reply, NULL);
			/* On failure the frame stays, to be read again once
			 * the caller made room. */
			if (r < 0)
				return r;
			break;
		case EVD__REPLY__BODY_ERROR:
			code = reply->error->has_code ? (int)reply->error->code
						      : 0;
			if (code <= 0 || code >= EVC_E_LOCAL)
				code = EVC_E_PROTOCOL;
			r = conn_kill(c, code,
				      "the daemon closed the connection: %s",
				      reply->error->message != NULL &&
					      reply->error->message[0] != '\0'
					  ? reply->error->message
					  : evc_strerror(code));
			evd__reply__free_unpacked(reply, NULL);
			return r;
		case EVD__REPLY__BODY__NOT_SET:
			/* An event type newer than this library: skip it. */
			evd__reply__free_unpacked(reply, NULL);
			break;
		default:
			code = (int)reply->body_case;
			evd__reply__free_unpacked(reply, NULL);
			return conn_kill(c, EVC_E_BAD_REPLY,
					 "the daemon sent a reply (body %d) "
					 "without request_id",
					 code);
		}
		c->in_start += (size_t)n;
	}
}

/*
 * Makes room for the next read: compacts the buffer and grows it to hold
 * the whole frame being received. Returns the free bytes at in_end (0
 * only when complete frames are waiting for queue room), or -EVC_E_NOMEM.
 */
static long
conn_make_room(struct evc *c)
{
	size_t have = c->in_end - c->in_start, need = FRAME_HEADER_LEN, cap;
	const uint8_t *h;
	uint8_t *p;

	if (have == 0)
		c->in_start = c->in_end = 0;
	if (have >= FRAME_HEADER_LEN) {
		h = c->in + c->in_start;
		need += (size_t)h[0] << 24 | (size_t)h[1] << 16 |
			(size_t)h[2] << 8 | (size_t)h[3];
	}
	/* conn_process has rejected larger lengths; this only makes the
	 * bound local. */
	if (need > FRAME_HEADER_LEN + FRAME_DEFAULT_MAX)
		need = FRAME_HEADER_LEN + FRAME_DEFAULT_MAX;
	if (c->in_cap < need || c->in_cap < IN_CHUNK) {
		cap = need > IN_CHUNK ? need : IN_CHUNK;
		p = realloc(c->in, cap);
		if (p == NULL)
			return evc_conn_fail(
			    c, EVC_E_NOMEM,
			    "out of memory for a %zu-byte reply", need);
		c->in = p;
		c->in_cap = cap;
	}
	if (c->in_start > 0 &&
	    (c->in_end == c->in_cap || c->in_start + need > c->in_cap)) {
		memmove(c->in, c->in + c->in_start, have);
		c->in_start = 0;
		c->in_end = have;
	}
	return (long)(c->in_cap - c->in_end);
}

/* One non-blocking read. Returns 1 if bytes arrived, 0 if none are
 * ready (or there is no room), or a negative code. */
static int
conn_fill(struct evc *c)
{
	char eb[128];
	long room;
	ssize_t n;

	room = conn_make_room(c);
	if (room <= 0)
		return (int)room;
	for (;;) {
		n = recv(c->fd, c->in + c->in_end, (size_t)room, 0);
		if (n > 0) {
			c->in_end += (size_t)n;
			return 1;
		}
		if (n == 0)
			return conn_kill(c, EVC_E_IO,
					 "the daemon closed the connection");
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno != EINTR)
			return conn_kill(c, EVC_E_IO,
					 "cannot read from the daemon: %s",
					 errno_str(errno, eb, sizeof(eb)));
	}
}

static int
conn_wait_reply(struct evc *c, uint64_t id, int64_t deadline_ns,
		Evd__Reply **ret)
{
	int r;

	for (;;) {
		r = conn_process(c, id, ret);
		if (r != 0)
			return r < 0 ? r : 0;
		r = conn_fill(c);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		r = conn_poll(c, POLLIN, deadline_ns);
		if (r < 0)
			return r;
	}
}

int
evc_conn_wait_event(struct evc *c, int64_t deadline_ns)
{
	int r;

	for (;;) {
		if (c->queue_len > 0)
			return 0;
		r = conn_check_alive(c);
		if (r < 0)
			return r;
		r = conn_process(c, 0, NULL);
		if (r < 0)
			return r;
		if (c->queue_len > 0)
			return 0;
		r = conn_fill(c);
		if (r < 0)
			return r;
		if (r > 0)
			continue;
		r = conn_poll(c, POLLIN, deadline_ns);
		if (r < 0) {
			if (r == -EVC_E_TIMEOUT)
				evc_conn_fail(c, EVC_E_TIMEOUT,
					      "timed out waiting for an event");
			return r;
		}
	}
}

/* ---- output ---- */

/*
 * Sends one frame. While the socket is full it keeps reading, so that
 * events streaming in cannot stall the daemon's writes and with them its
 * reads of our request; if the event queue is full it stops reading and
 * only waits.
 */
static int
conn_send(struct evc *c, const uint8_t *buf, size_t len, int64_t deadline_ns)
{
	size_t off = 0;
	bool reading = true;
	char eb[128];
	ssize_t n;
	int r;

	while (off < len) {
		n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			if (errno == EPIPE || errno == ECONNRESET)
				return conn_kill(c, EVC_E_IO,
						 "the daemon closed the "
						 "connection");
			return conn_kill(c, EVC_E_IO,
					 "cannot write to the daemon: %s",
					 errno_str(errno, eb, sizeof(eb)));
		}
		r = conn_poll(c, reading ? POLLOUT | POLLIN : POLLOUT,
			      deadline_ns);
		if (r < 0) {
			/* Half a frame on the wire: the next request would be
			 * read as the rest of this one. */
			if (off > 0 && c->dead == 0)
				conn_kill(c, EVC_E_IO,
					  "%s in the middle of a request; the "
					  "connection is closed",
					  r == -EVC_E_TIMEOUT ? "timed out"
							      : "failed");
			return r;
		}
		if (reading && (r & POLLIN)) {
			r = conn_fill(c);
			if (r >= 0)
				r = conn_process(c, 0, NULL);
			if (r == -EVC_E_NOMEM && c->dead == 0)
				reading = false;
			else if (r < 0)
				return r;
		}
	}
	return 0;
}

int
evc_conn_request(struct evc *c, Evd__Request *req, Evd__Reply__BodyCase want,
		 int64_t deadline_ns, Evd__Reply **ret)
{
	Evd__Reply *reply = NULL;
	size_t body_len, need;
	uint8_t *p;
	int r, code;

	r = conn_check_alive(c);
	if (r < 0)
		return r;
	req->has_request_id = 1;
	req->request_id = c->last_request_id + 1;
	body_len = evd__request__get_packed_size(req);
	if (body_len > FRAME_DEFAULT_MAX)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "the request needs %zu bytes, above the "
				     "%u-byte frame limit",
				     body_len, FRAME_DEFAULT_MAX);
	need = FRAME_HEADER_LEN + body_len;
	if (c->out_cap < need) {
		p = realloc(c->out, need);
		if (p == NULL)
			return evc_conn_fail(c, EVC_E_NOMEM,
					     "out of memory for a request");
		c->out = p;
		c->out_cap = need;
	}
	frame_put_header(c->out, body_len);
	evd__request__pack(req, c->out + FRAME_HEADER_LEN);
	/* The id counts as used from here: if the call times out, its late
	 * reply is recognised and dropped. */
	c->last_request_id++;

	r = conn_send(c, c->out, need, deadline_ns);
	if (r < 0)
		return r;
	r = conn_wait_reply(c, req->request_id, deadline_ns, &reply);
	if (r < 0)
		return r;

	if (reply->body_case == EVD__REPLY__BODY_ERROR) {
		code = reply->error->has_code ? (int)reply->error->code : 0;
		/* Codes from the daemon stay below EVC_E_LOCAL, so a caller
		 * can always tell "it said no" from a local failure. */
		if (code <= 0 || code >= EVC_E_LOCAL)
			code = EVC_E_INTERNAL;
		evc_conn_fail(c, code, "%s",
			      reply->error->message != NULL &&
				      reply->error->message[0] != '\0'
				  ? reply->error->message
				  : evc_strerror(code));
		evd__reply__free_unpacked(reply, NULL);
		return -code;
	}
	if (reply->body_case != want) {
		code = (int)reply->body_case;
		evd__reply__free_unpacked(reply, NULL);
		return evc_conn_fail(c, EVC_E_BAD_REPLY,
				     "the daemon answered with reply body %d "
				     "where %d was expected",
				     code, (int)want);
	}
	*ret = reply;
	return 0;
}

/* ---- connect ---- */

int
evc_conn_open(struct evc *c, const char *path, int64_t deadline_ns)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	socklen_t sl;
	char eb[128];
	int r, err, ms;

	if (len == 0 || len >= sizeof(sa.sun_path))
		return evc_conn_fail(c, EVC_E_USAGE,
				     "socket path of %zu bytes: it must have 1 "
				     "to %zu",
				     len, sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, len);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return evc_conn_fail(c, EVC_E_CONNECT,
				     "cannot create a socket: %s",
				     errno_str(errno, eb, sizeof(eb)));
	for (;;) {
		r = connect(c->fd, (struct sockaddr *)&sa,
			    (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
					len + 1));
		if (r == 0)
			return 0;
		err = errno;
		if (err == EAGAIN) {
			/* Linux: the listen backlog is full. Unix sockets
			 * offer no readiness for this, so retry. */
			ms = remaining_ms(deadline_ns);
			if (ms == 0)
				return evc_conn_fail(
				    c, EVC_E_TIMEOUT,
				    "cannot connect to %s: timed out, the "
				    "daemon is not accepting connections",
				    path);
			poll(NULL, 0,
			     ms < 0 || ms > CONNECT_RETRY_MS ? CONNECT_RETRY_MS
							     : ms);
			continue;
		}
		if (err == EINPROGRESS || err == EINTR)
			break;
		return evc_conn_fail(c, EVC_E_CONNECT,
				     "cannot connect to %s: %s", path,
				     errno_str(err, eb, sizeof(eb)));
	}
	/* EINPROGRESS: completion is signalled by writability. */
	r = conn_poll(c, POLLOUT, deadline_ns);
	if (r < 0) {
		if (r == -EVC_E_TIMEOUT)
			evc_conn_fail(c, EVC_E_TIMEOUT,
				      "cannot connect to %s: timed out", path);
		return r;
	}
	sl = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
		err = errno;
	if (err != 0)
		return evc_conn_fail(c, EVC_E_CONNECT,
				     "cannot connect to %s: %s", path,
				     errno_str(err, eb, sizeof(eb)));
	return 0;
}

void
evc_conn_clear(struct evc *c)
{
	struct evc_fired ev;

	while (c->queue_len > 0) {
		evc_conn_pop_event(c, &ev);
		evc_fired_free(&ev);
	}
	free(c->queue);
	free(c->in);
	free(c->out);
	free(c->server_version);
	free(c->boot_id);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}
