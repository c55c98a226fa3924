/*
 * metrics_http: GET /metrics over HTTP (see metrics_http.h).
 *
 * Owns the listening socket (CLOEXEC, created here so that bind errors
 * come back as an errno and the fd never reaches an exec hook), the pause
 * timer and every metrics connection. A scrape reads every gauge at the
 * moment it arrives; it never touches the store, so it cannot slow a
 * commit. Logs only the accept pause (a boundary module); start-up errors
 * are returned for main to report.
 *
 * A small server of its own rather than evhttp: evhttp's timeout is one
 * of silence, so a client sending a header byte every few seconds kept
 * its connection, and an fd the Unix socket's clients need too, for ever;
 * libevent 2.1's evhttp has no limit on connections either, and no hook
 * to add one. A scraper sends one small GET, and that is all this serves:
 * - one request per connection, answered with Connection: close;
 * - one deadline per connection, METRICS_HTTP_TIMEOUT_S from the accept,
 *   however its bytes trickle in: the request, the answer's write and the
 *   close all fit in it, or the connection is dropped;
 * - at most METRICS_HTTP_MAX_CONNS at once: the listener is off while
 *   that many are open, and the rest wait in the listen backlog;
 * - a request head of at most METRICS_HTTP_MAX_HEAD bytes; a body is
 *   never read as such (only GET and HEAD are served);
 * - after the answer the write side is shut and whatever the client
 *   still sends is read and dropped until it closes, so that unread bytes
 *   never turn the close into a reset that loses the answer.
 */
#include "metrics_http.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "channel.h"
#include "cluster.h"
#include "conn.h"
#include "exec.h"
#include "log.h"
#include "metrics.h"
#include "sched.h"
#include "shard.h"

/* A scraper's request head is a few hundred bytes. */
#define METRICS_HTTP_MAX_HEAD 8192
/* A connection's whole life: request, answer and close. */
#define METRICS_HTTP_TIMEOUT_S 10
#define METRICS_HTTP_BACKLOG 16
/* Connections at once; a scraper needs one. */
#define METRICS_HTTP_MAX_CONNS 16
/* How long accepting pauses when the process is out of fds. */
#define METRICS_HTTP_EMFILE_PAUSE_MS 100

/* Owner: metrics_http, from the accept to metrics_http_conn_free. */
struct mh_conn {
	TAILQ_ENTRY(mh_conn) link;
	struct bufferevent *bev; /* owns the socket */
	struct event *deadline;
	bool answered;           /* the answer is out or going: drain */
};
TAILQ_HEAD(mh_conn_list, mh_conn);

static struct {
	struct evconnlistener *lev;
	struct event *pause_ev;
	bool paused_logged;
	bool full; /* the listener is off until a connection ends */
	struct mh_conn_list conns;
	unsigned nconns;
} mh;

static void
metrics_http_snapshot(struct metrics_snapshot *s)
{
	struct sched_stats ss;
	struct channel_stats cs;
	struct shard_counters o;

	sched_get_stats(&ss);
	channel_get_stats(&cs);
	shard_sum_others(&o); /* the other loops (shard.h) */
	memset(s, 0, sizeof *s);
	s->pending_timers = ss.pending + o.pending;
	s->scheduled_total = ss.scheduled_total + o.scheduled_total;
	s->fired_total = ss.fired_total + o.fired_total;
	s->cancelled_total = ss.cancelled_total + o.cancelled_total;
	s->connections = conn_count() + o.connections;
	s->channels = cs.channels;
	s->channel_queued = cs.queued;
	s->channel_inflight = cs.inflight;
	s->channel_dead = cs.dead;
	s->channel_redelivered_total = cs.redelivered_total;
	s->exec_running = exec_running();
	if ((s->cluster = cluster_enabled()))
		cluster_stats(&s->node);
}

static void
metrics_http_listener_update(void)
{
	if (mh.lev == NULL)
		return;
	/* Out of fds: the pause timer turns it back on. */
	if (!mh.full && !evtimer_pending(mh.pause_ev, NULL))
		evconnlistener_enable(mh.lev);
	else
		evconnlistener_disable(mh.lev);
}

static void
metrics_http_conn_free(struct mh_conn *mc)
{
	TAILQ_REMOVE(&mh.conns, mc, link);
	mh.nconns--;
	bufferevent_free(mc->bev); /* closes the socket */
	event_free(mc->deadline);
	free(mc);
	if (mh.full && mh.nconns < METRICS_HTTP_MAX_CONNS) {
		mh.full = false;
		metrics_http_listener_update();
	}
}

static void
metrics_http_text_free_cb(const void *data, size_t len, void *arg)
{
	free((void *)data);
}

/*
 * Queues the whole answer and stops taking requests: the rest of the
 * connection is writing it, shutting the write side, and draining. text
 * (len bytes, NUL-terminated when owned is false) is a static string, or
 * malloc'd and taken over when owned.
 */
static void
metrics_http_answer(struct mh_conn *mc, int code, const char *reason,
                    const char *ctype, const char *extra, char *text,
                    size_t len, bool owned, bool head_only)
{
	struct evbuffer *out = bufferevent_get_output(mc->bev);
	int r;

	mc->answered = true;
	r = evbuffer_add_printf(out,
	                        "HTTP/1.1 %d %s\r\n"
	                        "Content-Type: %s\r\n"
	                        "Content-Length: %zu\r\n"
	                        "%s"
	                        "Connection: close\r\n\r\n",
	                        code, reason, ctype, len,
	                        extra != NULL ? extra : "");
	if (r < 0 || head_only) {
		if (owned)
			free(text);
	} else if (owned) {
		/* The buffer frees text once it is sent. */
		if (evbuffer_add_reference(out, text, len,
		                           metrics_http_text_free_cb,
		                           NULL) < 0) {
			free(text);
			r = -1;
		}
	} else if (evbuffer_add(out, text, len) < 0)
		r = -1;
	if (r < 0) {
		metrics_http_conn_free(mc); /* out of memory: just close */
		return;
	}
	/* Anything after the head is dropped, never parsed. */
	evbuffer_drain(bufferevent_get_input(mc->bev),
	               evbuffer_get_length(bufferevent_get_input(mc->bev)));
	bufferevent_enable(mc->bev, EV_READ | EV_WRITE);
}

static void
metrics_http_plain(struct mh_conn *mc, int code, const char *reason,
                   const char *extra, const char *text, bool head_only)
{
	metrics_http_answer(mc, code, reason, "text/plain; charset=utf-8",
	                    extra, (char *)text, strlen(text), false,
	                    head_only);
}

static void
metrics_http_serve(struct mh_conn *mc, bool head_only)
{
	struct metrics_snapshot snap;
	char *text;
	size_t len;

	metrics_http_snapshot(&snap);
	if (metrics_render(&snap, &text, &len) < 0) {
		metrics_http_plain(mc, 500, "Internal Server Error", NULL,
		                   "out of memory\n", head_only);
		return;
	}
	metrics_http_answer(mc, 200, "OK", METRICS_CONTENT_TYPE, NULL, text,
	                    len, true, head_only);
}

/* Answers the request whose head (the request line, then headers, which
 * nothing here needs) is complete in mc's input. */
static void
metrics_http_request(struct mh_conn *mc)
{
	struct evbuffer *in = bufferevent_get_input(mc->bev);
	char *line, *method, *target, *version, *save = NULL;
	bool get, head;
	size_t n;

	/* A request came in: accepting works again. */
	mh.paused_logged = false;
	line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
	method = line != NULL ? strtok_r(line, " ", &save) : NULL;
	target = method != NULL ? strtok_r(NULL, " ", &save) : NULL;
	version = target != NULL ? strtok_r(NULL, " ", &save) : NULL;
	if (version == NULL || strtok_r(NULL, " ", &save) != NULL ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		metrics_http_plain(mc, 400, "Bad Request", NULL,
		                   "bad request: not an HTTP/1 request line\n",
		                   false);
		free(line);
		return;
	}
	/* The path is the target up to its query (origin form only: no
	 * proxy sends here). */
	target[strcspn(target, "?#")] = '\0';
	get = strcmp(method, "GET") == 0;
	head = strcmp(method, "HEAD") == 0;
	if (strcmp(target, "/metrics") != 0)
		metrics_http_plain(mc, 404, "Not Found", NULL,
		                   "not found: metrics are at /metrics\n", head);
	else if (!get && !head)
		metrics_http_plain(mc, 405, "Method Not Allowed",
		                   "Allow: GET, HEAD\r\n",
		                   "method not allowed: use GET\n", false);
	else
		metrics_http_serve(mc, head);
	free(line);
}

static void
metrics_http_read_cb(struct bufferevent *bev, void *arg)
{
	struct mh_conn *mc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end;

	if (mc->answered) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0 || (size_t)end.pos + 4 > METRICS_HTTP_MAX_HEAD) {
		if (evbuffer_get_length(in) > METRICS_HTTP_MAX_HEAD)
			metrics_http_plain(mc, 431,
			                   "Request Header Fields Too Large",
			                   NULL, "request head too large\n",
			                   false);
		return; /* the rest of the head is still to come */
	}
	metrics_http_request(mc);
}

/* The answer is written: shut the write side, and wait for the client's
 * close (or the deadline) while draining what it sends. */
static void
metrics_http_write_cb(struct bufferevent *bev, void *arg)
{
	struct mh_conn *mc = arg;

	if (!mc->answered)
		return;
	if (shutdown(bufferevent_getfd(bev), SHUT_WR) < 0)
		metrics_http_conn_free(mc);
}

static void
metrics_http_event_cb(struct bufferevent *bev, short what, void *arg)
{
	/* EOF, an error or a timeout: the client is gone or done. */
	metrics_http_conn_free(arg);
}

static void
metrics_http_deadline_cb(evutil_socket_t unused, short what, void *arg)
{
	metrics_http_conn_free(arg);
}

static void
metrics_http_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
                       struct sockaddr *sa, int socklen, void *arg)
{
	struct timeval tv = { METRICS_HTTP_TIMEOUT_S, 0 };
	struct event_base *base = evconnlistener_get_base(lev);
	struct mh_conn *mc;

	if ((mc = calloc(1, sizeof *mc)) == NULL ||
	    (mc->deadline = evtimer_new(base, metrics_http_deadline_cb,
	                                mc)) == NULL ||
	    (mc->bev = bufferevent_socket_new(base, fd,
	                                      BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		if (mc != NULL && mc->deadline != NULL)
			event_free(mc->deadline);
		free(mc);
		close(fd);
		return;
	}
	bufferevent_setcb(mc->bev, metrics_http_read_cb, metrics_http_write_cb,
	                  metrics_http_event_cb, mc);
	/* The head never needs more than its limit plus one read. */
	bufferevent_setwatermark(mc->bev, EV_READ, 0,
	                         METRICS_HTTP_MAX_HEAD + 4096);
	TAILQ_INSERT_TAIL(&mh.conns, mc, link);
	mh.nconns++;
	if (bufferevent_enable(mc->bev, EV_READ) < 0 ||
	    evtimer_add(mc->deadline, &tv) < 0) {
		metrics_http_conn_free(mc);
		return;
	}
	/* Called from the listener's accept loop: turning the listener off
	 * here ends that loop after this connection. */
	if (mh.nconns >= METRICS_HTTP_MAX_CONNS) {
		mh.full = true;
		metrics_http_listener_update();
	}
}

static void
metrics_http_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	metrics_http_listener_update();
}

/* accept failed with something other than EAGAIN/EINTR/ECONNABORTED. */
static void
metrics_http_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv = { 0, METRICS_HTTP_EMFILE_PAUSE_MS * 1000 };

	if (!mh.paused_logged) {
		errno = e;
		log_warn("metrics: accept (pausing new metrics connections)");
		mh.paused_logged = true;
	}
	/* The listener stays readable: without a pause the loop would
	 * spin on it. */
	evtimer_add(mh.pause_ev, &tv);
	metrics_http_listener_update();
}

static int
metrics_http_listen(const char *addr, int *ret_fd)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, r;

	if (metrics_parse_addr(addr, &ss, &len) < 0)
		return -EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	            0);
	if (fd < 0)
		return -errno;
	/* A restart must not wait out TIME_WAIT of the last scrape. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(fd, METRICS_HTTP_BACKLOG) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	return 0;
}

int
metrics_http_start(struct event_base *base, const char *addr)
{
	int fd = -1, r;

	if (mh.lev != NULL)
		return -EALREADY;
	if ((r = metrics_http_listen(addr, &fd)) < 0)
		return r;
	TAILQ_INIT(&mh.conns);
	if ((mh.pause_ev = evtimer_new(base, metrics_http_resume_cb, NULL)) ==
	    NULL) {
		close(fd);
		return -ENOMEM;
	}
	/* From here the listener owns fd (closed when it is freed); it is
	 * listening already (backlog -1: no second listen()). */
	mh.lev = evconnlistener_new(base, metrics_http_accept_cb, NULL,
	                            LEV_OPT_CLOSE_ON_FREE |
	                                    LEV_OPT_CLOSE_ON_EXEC,
	                            -1, fd);
	if (mh.lev == NULL) {
		close(fd);
		metrics_http_stop();
		return -ENOMEM;
	}
	evconnlistener_set_error_cb(mh.lev, metrics_http_accept_error_cb);
	return 0;
}

void
metrics_http_stop(void)
{
	struct mh_conn *mc;

	while ((mc = TAILQ_FIRST(&mh.conns)) != NULL)
		metrics_http_conn_free(mc);
	if (mh.lev != NULL)
		evconnlistener_free(mh.lev);
	if (mh.pause_ev != NULL)
		event_free(mh.pause_ev);
	memset(&mh, 0, sizeof mh);
}
