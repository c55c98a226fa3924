/*
 * metrics_http: GET /metrics over evhttp (see metrics_http.h).
 *
 * Owns the struct evhttp, its listening socket (CLOEXEC, created here so
 * that bind errors come back as an errno and the fd never reaches an exec
 * hook) and the pause timer. A scrape reads every gauge at the moment it
 * arrives; it never touches the store, so it cannot slow a commit.
 * Logs only the accept pause (a boundary module); start-up errors are
 * returned for main to report.
 */
#include "metrics_http.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "channel.h"
#include "conn.h"
#include "exec.h"
#include "log.h"
#include "metrics.h"
#include "sched.h"
#include "shard.h"

/* A scraper sends one small request; anything bigger is not one. */
#define METRICS_HTTP_MAX_HEADERS 8192
#define METRICS_HTTP_MAX_BODY 1024
/* Idle and slow connections are closed after this. */
#define METRICS_HTTP_TIMEOUT_S 10
#define METRICS_HTTP_BACKLOG 16
/* How long accepting pauses when the process is out of fds. */
#define METRICS_HTTP_EMFILE_PAUSE_MS 100

static struct {
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *pause_ev;
	bool paused_logged;
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
}

static void
metrics_http_reply(struct evhttp_request *req, int code, const char *reason,
                   const char *text)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *body = evbuffer_new();

	evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
	if (body != NULL)
		evbuffer_add(body, text, strlen(text));
	evhttp_send_reply(req, code, reason, body);
	if (body != NULL)
		evbuffer_free(body);
}

static void
metrics_http_text_free_cb(const void *data, size_t len, void *arg)
{
	free((void *)data);
}

static void
metrics_http_request_cb(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct metrics_snapshot snap;
	struct evbuffer *body;
	char *text;
	size_t len;

	/* A request came in: accepting works again. */
	mh.paused_logged = false;
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		metrics_http_reply(req, HTTP_NOTFOUND, "Not Found",
		                   "not found: metrics are at /metrics\n");
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		                  "Allow", "GET, HEAD");
		metrics_http_reply(req, HTTP_BADMETHOD, "Method Not Allowed",
		                   "method not allowed: use GET\n");
		return;
	}
	metrics_http_snapshot(&snap);
	if ((body = evbuffer_new()) == NULL ||
	    metrics_render(&snap, &text, &len) < 0) {
		evbuffer_free(body);
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	/* The buffer takes text over and frees it once sent. */
	if (evbuffer_add_reference(body, text, len,
	                           metrics_http_text_free_cb, NULL) < 0) {
		free(text);
		evbuffer_free(body);
		evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	                  "Content-Type", METRICS_CONTENT_TYPE);
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

static void
metrics_http_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	if (mh.bound != NULL)
		evconnlistener_enable(evhttp_bound_socket_get_listener(mh.bound));
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
	evconnlistener_disable(lev);
	evtimer_add(mh.pause_ev, &tv);
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

	if (mh.http != NULL)
		return -EALREADY;
	if ((r = metrics_http_listen(addr, &fd)) < 0)
		return r;
	mh.http = evhttp_new(base);
	mh.pause_ev = evtimer_new(base, metrics_http_resume_cb, NULL);
	if (mh.http == NULL || mh.pause_ev == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	/* Every method reaches the callback, which answers 405 itself
	 * (evhttp would say 501 Not Implemented). */
	evhttp_set_allowed_methods(mh.http,
	                           EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	                                   EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
	                                   EVHTTP_REQ_DELETE |
	                                   EVHTTP_REQ_OPTIONS |
	                                   EVHTTP_REQ_TRACE |
	                                   EVHTTP_REQ_CONNECT |
	                                   EVHTTP_REQ_PATCH);
	evhttp_set_max_headers_size(mh.http, METRICS_HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(mh.http, METRICS_HTTP_MAX_BODY);
	evhttp_set_timeout(mh.http, METRICS_HTTP_TIMEOUT_S);
	evhttp_set_gencb(mh.http, metrics_http_request_cb, NULL);
	/* From here the listener owns fd (closed when it is freed). */
	if ((mh.bound = evhttp_accept_socket_with_handle(mh.http, fd)) ==
	    NULL) {
		r = -ENOMEM;
		goto fail;
	}
	fd = -1;
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(mh.bound),
	                            metrics_http_accept_error_cb);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	metrics_http_stop();
	return r;
}

void
metrics_http_stop(void)
{
	if (mh.http != NULL)
		evhttp_free(mh.http); /* with the listener and connections */
	if (mh.pause_ev != NULL)
		event_free(mh.pause_ev);
	memset(&mh, 0, sizeof mh);
}
