/*
 * levent_server: a libevent server that gives each request a deadline
 * kept by evd. A client sends "WORK <ms>\n"; the server "works" that long
 * (a libevent timer standing in for real work) and answers "DONE\n" —
 * unless the request's deadline, an evd timer scheduled with
 * evc_call_later_async() when the request arrived, fires first: then it
 * answers "TIMEOUT\n" and abandons the work. The evd client runs on the
 * server's own event_base through evc_attach() (libevclient-event).
 *
 *   evc_example_levent_server [--self-test] [--timeout-ms N] SOCKET_PATH
 *
 * The evd socket comes from $EVD_SOCKET (or the default). With
 * --self-test the server connects two clients to itself, "WORK 10" and
 * "WORK 5000", checks they get DONE and TIMEOUT, and exits (0: passed).
 * Requests are referred to by id across callbacks, never by pointer, so
 * a request that is gone is a failed lookup.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <evclient-event.h>
#include <evclient.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_REQS 1024
#define MAX_CONNS 64

struct req {
	struct bufferevent *bev; /* the client's connection */
	struct event *work;      /* the stand-in for real work */
	uint64_t timer_id;       /* the evd deadline, once scheduled */
	bool finished;
};

struct server {
	struct event_base *base;
	struct evc *evc;
	struct req *reqs[MAX_REQS]; /* by id; NULL: free or gone */
	struct bufferevent *conns[MAX_CONNS]; /* accepted; NULL: free */
	int timeout_ms;
	int self_test_answers, self_test_ok;
	bool self_test;
};

static struct server srv;

static int
req_new(struct bufferevent *bev)
{
	int id;

	for (id = 1; id < MAX_REQS; id++)
		if (srv.reqs[id] == NULL) {
			srv.reqs[id] = calloc(1, sizeof(struct req));
			if (srv.reqs[id] == NULL)
				return -1;
			srv.reqs[id]->bev = bev;
			return id;
		}
	return -1;
}

/* Answers and forgets request id; the evd deadline is cancelled unless
 * it is what fired. */
static void
req_finish(int id, const char *answer, bool cancel_deadline)
{
	struct req *r = srv.reqs[id];

	if (r == NULL || r->finished)
		return;
	r->finished = true;
	bufferevent_write(r->bev, answer, strlen(answer));
	if (r->work != NULL)
		event_free(r->work);
	r->work = NULL;
	if (cancel_deadline && r->timer_id != 0)
		evc_cancel_async(srv.evc, r->timer_id, NULL, NULL);
	/* With no timer id yet, on_deadline_scheduled cancels it. */
	if (r->timer_id != 0 || !cancel_deadline) {
		free(r);
		srv.reqs[id] = NULL;
	}
}

static void
on_work_done(evutil_socket_t fd, short what, void *arg)
{
	req_finish((int)(intptr_t)arg, "DONE\n", true);
}

/* evd answered the deadline's scheduling. */
static void
on_deadline_scheduled(struct evc *c, const struct evc_result *res,
		      void *arg)
{
	int id = (int)(intptr_t)arg;
	struct req *r = srv.reqs[id];

	if (r == NULL)
		return;
	if (res->status < 0) {
		fprintf(stderr, "server: no deadline: %s\n", res->errmsg);
		return;
	}
	r->timer_id = res->scheduled->timer_id;
	if (r->finished) {
		/* The work won the race before the reply came. */
		evc_cancel_async(c, r->timer_id, NULL, NULL);
		free(r);
		srv.reqs[id] = NULL;
	}
}

/* A deadline fired: the payload is the request id. */
static int
on_deadline(struct evc *c, const struct evc_fired *ev, void *arg)
{
	int id = ev->payload != NULL ? atoi((const char *)ev->payload) : 0;

	if (id > 0 && id < MAX_REQS)
		req_finish(id, "TIMEOUT\n", false);
	return 0;
}

static void
on_client_read(struct bufferevent *bev, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evc_callback cb = {0};
	char *line, idbuf[16];
	int id, ms;
	struct timeval tv;

	while ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_LF)) != NULL) {
		if (sscanf(line, "WORK %d", &ms) != 1 || ms < 0 ||
		    (id = req_new(bev)) < 0) {
			bufferevent_write(bev, "ERROR\n", 6);
			free(line);
			continue;
		}
		free(line);
		/* The deadline fires to this connection (no channel): it
		 * dies with the server, as a per-request timeout should. */
		cb.payload = idbuf;
		cb.payload_len = (size_t)snprintf(idbuf, sizeof(idbuf), "%d",
						  id);
		if (evc_call_later_async(srv.evc,
					 (int64_t)srv.timeout_ms * 1000000,
					 EVC_CLOCK_MONOTONIC, &cb,
					 on_deadline_scheduled,
					 (void *)(intptr_t)id) < 0)
			fprintf(stderr, "server: %s\n", evc_errmsg(srv.evc));
		srv.reqs[id]->work = evtimer_new(srv.base, on_work_done,
						 (void *)(intptr_t)id);
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_add(srv.reqs[id]->work, &tv);
	}
}

static void
on_client_event(struct bufferevent *bev, short what, void *arg)
{
	int id;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	/* Its requests are abandoned; their deadlines are cancelled. */
	for (id = 1; id < MAX_REQS; id++)
		if (srv.reqs[id] != NULL && srv.reqs[id]->bev == bev)
			req_finish(id, "", true);
	for (id = 0; id < MAX_CONNS; id++)
		if (srv.conns[id] == bev)
			srv.conns[id] = NULL;
	bufferevent_free(bev);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
	  int len, void *arg)
{
	struct bufferevent *bev;
	int i;

	for (i = 0; i < MAX_CONNS && srv.conns[i] != NULL; i++) {
	}
	if (i == MAX_CONNS) {
		/* Full: refuse rather than grow without bound. */
		evutil_closesocket(fd);
		return;
	}
	bev = bufferevent_socket_new(srv.base, fd, BEV_OPT_CLOSE_ON_FREE);
	srv.conns[i] = bev;
	bufferevent_setcb(bev, on_client_read, NULL, on_client_event, NULL);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* ---- --self-test: two clients of our own ---- */

static void
on_test_answer(struct bufferevent *bev, void *arg)
{
	const char *want = arg;
	char *line = evbuffer_readln(bufferevent_get_input(bev), NULL,
				     EVBUFFER_EOL_LF);

	if (line == NULL)
		return;
	printf("server: self-test got %s, wanted %s\n", line, want);
	if (strcmp(line, want) == 0)
		srv.self_test_ok++;
	free(line);
	bufferevent_free(bev);
	if (++srv.self_test_answers == 2)
		event_base_loopexit(srv.base, NULL);
}

static int
test_client(const struct sockaddr_un *sa, const char *work, const char *want)
{
	struct bufferevent *bev;

	bev = bufferevent_socket_new(srv.base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bufferevent_socket_connect(bev, (const struct sockaddr *)sa,
				       sizeof(*sa)) < 0)
		return -1;
	bufferevent_setcb(bev, on_test_answer, NULL, NULL, (void *)want);
	bufferevent_enable(bev, EV_READ);
	bufferevent_write(bev, work, strlen(work));
	return 0;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct evconnlistener *l;
	const char *path = NULL;
	char err[256];
	int i, r, status = 1;

	srv.timeout_ms = 300;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--self-test") == 0)
			srv.self_test = true;
		else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc)
			srv.timeout_ms = atoi(argv[++i]);
		else
			path = argv[i];
	}
	if (path == NULL || strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: %s [--self-test] [--timeout-ms N] "
				"SOCKET_PATH\n",
			argv[0]);
		return 2;
	}
	strcpy(sa.sun_path, path);
	unlink(path);

	srv.base = event_base_new();
	r = evc_connect(NULL, "levent_server", 5000, &srv.evc, err,
			sizeof(err));
	if (r < 0) {
		fprintf(stderr, "server: %s\n", err);
		return 1;
	}
	evc_set_fired_cb(srv.evc, on_deadline, NULL);
	if (evc_attach(srv.evc, srv.base) < 0) {
		fprintf(stderr, "server: evc_attach: %s\n",
			evc_errmsg(srv.evc));
		goto out;
	}
	l = evconnlistener_new_bind(srv.base, on_accept, NULL,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
				    -1, (struct sockaddr *)&sa, sizeof(sa));
	if (l == NULL) {
		fprintf(stderr, "server: cannot listen on %s\n", path);
		goto out;
	}
	if (srv.self_test &&
	    (test_client(&sa, "WORK 10\n", "DONE") < 0 ||
	     test_client(&sa, "WORK 5000\n", "TIMEOUT") < 0)) {
		fprintf(stderr, "server: self-test cannot connect\n");
		evconnlistener_free(l);
		goto out;
	}
	event_base_dispatch(srv.base);
	evconnlistener_free(l);
	status = srv.self_test && srv.self_test_ok != 2;
out:
	/* evc_close detaches from the base (frees the adapter's events). */
	evc_close(srv.evc);
	for (i = 0; i < MAX_CONNS; i++)
		if (srv.conns[i] != NULL)
			bufferevent_free(srv.conns[i]);
	for (i = 1; i < MAX_REQS; i++)
		if (srv.reqs[i] != NULL) {
			if (srv.reqs[i]->work != NULL)
				event_free(srv.reqs[i]->work);
			free(srv.reqs[i]);
		}
	event_base_free(srv.base);
	unlink(path);
	return status;
}
