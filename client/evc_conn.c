/*
 * evc_conn: the connection engine under a handle: the socket, framing,
 * the ring of requests in flight, the event queue, the queue of callbacks
 * to run, and reconnection. Every function here runs with c->lock held
 * and never calls user code except the watch callback (documented to
 * call nothing back).
 *
 * Pipelining: a request is packed straight into the output buffer and
 * its entry appended to the ring; nothing is written then. Writes happen
 * when the loop runs (evc_conn_io), so every request queued since the
 * last turn leaves in one send(). Replies come in request order, so a
 * reply always answers the ring's head, and the head's frame leaves the
 * front of the output buffer with it: the buffer holds exactly the
 * frames of the requests in flight, sent or not, which is what lets a
 * reconnection send them again.
 *
 * The socket is non-blocking; every wait is a poll() bounded by the
 * caller's deadline on CLOCK_MONOTONIC (and by the engine's own, the
 * next reconnection attempt), with the lock released. Sends use
 * MSG_NOSIGNAL: a vanished daemon is -EVC_E_IO, never SIGPIPE.
 *
 * Losing the connection (EOF, an I/O error, an undecodable or unexpected
 * frame, the daemon's protocol error): without reconnection the handle
 * is dead (shut down, every request in flight fails, as in the blocking
 * API of old). With reconnection the socket is closed; requests the
 * daemon never fully received, and those safe to repeat (EVC_REQ_RETRY),
 * stay in flight; the others fail with -EVC_E_IO; the next attempt comes
 * after a backoff that doubles with jitter. On connecting, Hello and the
 * re-subscriptions are put ahead of the kept requests.
 *
 * Bounds: the input buffer holds at most one maximum frame
 * (FRAME_DEFAULT_MAX) beyond the complete frames being decoded; the event
 * queue holds at most EVC_MAX_QUEUED_EVENTS (reading stops while it is
 * full, nothing is dropped); at most EVC_MAX_PENDING requests are in
 * flight; the callback queue is reserved at submission, so a completion
 * can always be queued.
 */
#include "evc_req.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "wirestr.h"

/* Reads go into at least this much buffer: large chunks, few syscalls. */
#define IN_CHUNK (256u * 1024u)
/* How often to retry while the daemon's listen backlog is full. */
#define CONNECT_RETRY_MS 10
/* Callback slots kept free for connection events. */
#define ITEM_SPARE 8

static int conn_lost(struct evc *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int64_t
evc_now_ns(void)
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
	return evc_now_ns() + (int64_t)timeout_ms * 1000000;
}

bool
evc_conn_expired(int64_t deadline_ns)
{
	return deadline_ns != EVC_FOREVER && evc_now_ns() >= deadline_ns;
}

/* poll()'s timeout for a deadline: rounded up, so that we never wake
 * just before the deadline and spin on a zero timeout. */
static int
remaining_ms(int64_t deadline_ns)
{
	int64_t left;

	if (deadline_ns == EVC_FOREVER)
		return -1;
	left = deadline_ns - evc_now_ns();
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

/* ---- randomness (per handle: no global state) ---- */

static uint64_t
splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void
conn_seed(struct evc *c)
{
	uint64_t r[2] = {0, 0}, s;
	struct timespec ts;

	if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
		/* No entropy yet (early boot): mix what differs between
		 * processes and handles. */
		clock_gettime(CLOCK_REALTIME, &ts);
		s = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		s ^= (uint64_t)getpid() << 32 ^ (uint64_t)(uintptr_t)c;
		s ^= (uint64_t)evc_now_ns();
		r[0] ^= splitmix64(&s);
		r[1] ^= splitmix64(&s);
	}
	snprintf(c->key_prefix, sizeof(c->key_prefix), "evc-%016llx%016llx",
		 (unsigned long long)r[0], (unsigned long long)r[1]);
	c->rand_state = r[0] ^ r[1];
}

void
evc_conn_autokey(struct evc *c, char *buf)
{
	snprintf(buf, EVC_AUTOKEY_MAX, "%s-%llu", c->key_prefix,
		 (unsigned long long)++c->key_counter);
}

int
evc_conn_init(struct evc *c, const char *path, const char *client_name)
{
	pthread_condattr_t ca;

	c->fd = -1;
	c->wake_fd = -1;
	c->watch_fd = -1;
	c->watch_deadline_ns = EVC_FOREVER;
	c->reconnect_at_ns = EVC_FOREVER;
	if (pthread_mutex_init(&c->lock, NULL) != 0)
		return -EVC_E_NOMEM;
	if (pthread_condattr_init(&ca) != 0) {
		pthread_mutex_destroy(&c->lock);
		return -EVC_E_NOMEM;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&c->cond, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		pthread_mutex_destroy(&c->lock);
		return -EVC_E_NOMEM;
	}
	pthread_condattr_destroy(&ca);
	conn_seed(c);
	c->path = strdup(path);
	c->client_name =
	    client_name != NULL ? strdup(client_name) : strdup("libevclient");
	if (c->path == NULL || c->client_name == NULL)
		return evc_conn_fail(c, EVC_E_NOMEM, "out of memory");
	return 0;
}

/* ---- rings ---- */

/* Grows a ring of n_cap elements of size sz to hold need, unwrapping it. */
static int
ring_grow(void **ring, size_t sz, size_t *head, size_t len, size_t *cap,
	  size_t need)
{
	size_t ncap = *cap == 0 ? 64 : *cap, i;
	uint8_t *p, *old = *ring;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	p = malloc(ncap * sz);
	if (p == NULL)
		return -EVC_E_NOMEM;
	for (i = 0; i < len; i++)
		memcpy(p + i * sz, old + ((*head + i) % *cap) * sz, sz);
	free(old);
	*ring = p;
	*head = 0;
	*cap = ncap;
	return 0;
}

static struct evc_req *
req_at(struct evc *c, size_t i)
{
	return &c->reqs[(c->req_head + i) % c->req_cap];
}

static void
item_push(struct evc *c, const struct evc_item *it)
{
	c->items[(c->item_head + c->item_len) % c->item_cap] = *it;
	c->item_len++;
}

bool
evc_conn_pop_item(struct evc *c, struct evc_item *ret)
{
	if (c->item_len == 0)
		return false;
	*ret = c->items[c->item_head];
	c->item_head = (c->item_head + 1) % c->item_cap;
	c->item_len--;
	return true;
}

void
evc_conn_item_clear(struct evc_item *it)
{
	if (it->reply != NULL)
		evd__reply__free_unpacked(it->reply, NULL);
	free(it->errmsg);
	memset(it, 0, sizeof(*it));
}

/* Queues a connection event, if anyone listens and there is room (the
 * spare slots; past them the event is dropped rather than failing the
 * engine). */
static void
conn_event(struct evc *c, enum evc_conn_event ev, int code, const char *msg)
{
	struct evc_item it = {.type = EVC_ITEM_CONN, .conn_event = (int)ev};

	if (c->conn_cb == NULL)
		return;
	if (c->item_len >= c->item_cap &&
	    ring_grow((void **)&c->items, sizeof(*c->items), &c->item_head,
		      c->item_len, &c->item_cap, c->item_len + 1) < 0)
		return;
	it.status = code > 0 ? -code : code;
	it.errmsg = msg != NULL ? strdup(msg) : NULL;
	item_push(c, &it);
}

/* ---- events ---- */

static int
queue_push(struct evc *c, const struct evc_fired *ev)
{
	if (c->queue_len == c->queue_cap) {
		if (c->queue_cap >= EVC_MAX_QUEUED_EVENTS)
			return evc_conn_fail(
			    c, EVC_E_NOMEM,
			    "%u fired events are queued in this handle, the "
			    "limit; drain them with evc_next_event() or "
			    "evc_dispatch()",
			    EVC_MAX_QUEUED_EVENTS);
		if (ring_grow((void **)&c->queue, sizeof(*c->queue),
			      &c->queue_head, c->queue_len, &c->queue_cap,
			      c->queue_cap == 0 ? 16 : c->queue_cap * 2) < 0)
			return evc_conn_fail(c, EVC_E_NOMEM,
					     "out of memory queueing an event");
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

/* ---- exec waits ---- */

/* Keeps an ExecFinished nobody took (takes the reply): the newest
 * EVC_MAX_KEPT_RUNS, plus one per blocking evc_wait() in progress so
 * that theirs are never the ones pushed out. */
static void
kept_push(struct evc *c, uint64_t timer_id, Evd__Reply *reply)
{
	struct evc_kept *p;
	size_t cap;

	if (c->n_kept >= EVC_MAX_KEPT_RUNS + c->blocking_waits) {
		evd__reply__free_unpacked(c->kept[0].reply, NULL);
		memmove(c->kept, c->kept + 1,
			(c->n_kept - 1) * sizeof(*c->kept));
		c->n_kept--;
	}
	if (c->n_kept == c->kept_cap) {
		cap = c->kept_cap == 0 ? EVC_MAX_KEPT_RUNS : c->kept_cap * 2;
		p = realloc(c->kept, cap * sizeof(*p));
		if (p == NULL) {
			/* Out of memory: the report is lost, as if it
			 * had been pushed out. */
			evd__reply__free_unpacked(reply, NULL);
			return;
		}
		c->kept = p;
		c->kept_cap = cap;
	}
	c->kept[c->n_kept].timer_id = timer_id;
	c->kept[c->n_kept].reply = reply;
	c->n_kept++;
}

Evd__Reply *
evc_conn_take_kept(struct evc *c, uint64_t timer_id)
{
	Evd__Reply *reply;
	size_t i;

	for (i = 0; i < c->n_kept; i++)
		if (c->kept[i].timer_id == timer_id) {
			reply = c->kept[i].reply;
			memmove(c->kept + i, c->kept + i + 1,
				(c->n_kept - i - 1) * sizeof(*c->kept));
			c->n_kept--;
			return reply;
		}
	return NULL;
}

/* Queues the completion of an asynchronous wait (takes reply, NULL on
 * failure). Room was reserved when the Wait was made; should a
 * connection event have taken it, the ring grows. */
static bool
await_finish(struct evc *c, const struct evc_await *a, int status,
	     Evd__Reply *reply, const char *msg)
{
	struct evc_item it = {.type = EVC_ITEM_DONE,
			      .want = EVD__REPLY__BODY_EXEC_FINISHED};

	if (c->item_len >= c->item_cap &&
	    ring_grow((void **)&c->items, sizeof(*c->items), &c->item_head,
		      c->item_len, &c->item_cap, c->item_len + 1) < 0)
		return false;
	it.status = status;
	it.done = a->done;
	it.arg = a->arg;
	it.reply = reply;
	if (status < 0)
		it.errmsg = strdup(msg != NULL ? msg : evc_strerror(status));
	item_push(c, &it);
	return true;
}

/* An ExecFinished event (takes the reply): to the oldest asynchronous
 * wait on its timer, else to the kept reports. */
static void
conn_exec_finished(struct evc *c, Evd__Reply *reply)
{
	uint64_t id = reply->exec_finished->timer_id;
	size_t i;

	for (i = 0; i < c->n_awaits; i++) {
		if (c->awaits[i].timer_id != id)
			continue;
		if (!await_finish(c, &c->awaits[i], 0, reply, NULL))
			break;
		memmove(c->awaits + i, c->awaits + i + 1,
			(c->n_awaits - i - 1) * sizeof(*c->awaits));
		c->n_awaits--;
		return;
	}
	kept_push(c, id, reply);
}

/* The connection is gone: no report will come for the waits it
 * accepted. */
static void
conn_lose_awaits(struct evc *c, const char *msg)
{
	char why[700];
	size_t i;

	c->conn_gen++;
	for (i = 0; i < c->n_awaits; i++) {
		snprintf(why, sizeof(why),
			 "the connection to evd was lost while waiting for "
			 "timer %llu to finish (%s); the wait is not repeated "
			 "on a new connection",
			 (unsigned long long)c->awaits[i].timer_id, msg);
		/* Out of memory drops the completion: nothing else can
		 * be done with it. */
		(void)await_finish(c, &c->awaits[i], -EVC_E_IO, NULL, why);
	}
	c->n_awaits = 0;
}

/* An asynchronous Wait was accepted: its completion waits for the
 * report. Returns false when out of memory. */
static bool
await_add(struct evc *c, const struct evc_req *e, uint64_t timer_id)
{
	struct evc_await *p;
	size_t cap;

	if (c->n_awaits == c->awaits_cap) {
		cap = c->awaits_cap == 0 ? 8 : c->awaits_cap * 2;
		p = realloc(c->awaits, cap * sizeof(*p));
		if (p == NULL)
			return false;
		c->awaits = p;
		c->awaits_cap = cap;
	}
	c->awaits[c->n_awaits].timer_id = timer_id;
	c->awaits[c->n_awaits].done = e->done;
	c->awaits[c->n_awaits].arg = e->arg;
	c->n_awaits++;
	return true;
}

/* ---- subscriptions ---- */

/* Remembers channel with the visibility timeout and max_inflight it was
 * last subscribed with: the daemon's latest Subscribe is the one in
 * force. */
int
evc_conn_add_sub(struct evc *c, const char *channel, int64_t visibility_ns,
		 uint32_t max_inflight)
{
	struct evc_sub *p;
	size_t i;

	for (i = 0; i < c->n_subs; i++)
		if (strcmp(c->subs[i].channel, channel) == 0) {
			c->subs[i].visibility_ns = visibility_ns;
			c->subs[i].max_inflight = max_inflight;
			return 0;
		}
	if (c->n_subs == c->subs_cap) {
		p = realloc(c->subs, (c->subs_cap ? c->subs_cap * 2 : 4) *
					 sizeof(*p));
		if (p == NULL)
			return -EVC_E_NOMEM;
		c->subs = p;
		c->subs_cap = c->subs_cap ? c->subs_cap * 2 : 4;
	}
	if ((c->subs[c->n_subs].channel = strdup(channel)) == NULL)
		return -EVC_E_NOMEM;
	c->subs[c->n_subs].visibility_ns = visibility_ns;
	c->subs[c->n_subs].max_inflight = max_inflight;
	c->n_subs++;
	return 0;
}

static void
conn_del_sub(struct evc *c, const char *channel)
{
	size_t i;

	for (i = 0; i < c->n_subs; i++)
		if (strcmp(c->subs[i].channel, channel) == 0) {
			free(c->subs[i].channel);
			c->subs[i] = c->subs[--c->n_subs];
			return;
		}
}

/* ---- output ---- */

/* Room for need more bytes at out_len: compacts, then grows. */
static int
out_reserve(struct evc *c, size_t need)
{
	size_t cap;
	uint8_t *p;

	if (c->out_len + need <= c->out_cap)
		return 0;
	if (c->out_start > 0) {
		memmove(c->out, c->out + c->out_start,
			c->out_len - c->out_start);
		c->out_sent -= c->out_start;
		c->out_len -= c->out_start;
		c->out_start = 0;
		if (c->out_len + need <= c->out_cap)
			return 0;
	}
	cap = c->out_cap == 0 ? 64 * 1024 : c->out_cap;
	while (cap < c->out_len + need)
		cap *= 2;
	p = realloc(c->out, cap);
	if (p == NULL)
		return -EVC_E_NOMEM;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

/* Appends a frame already built (a kept request) with its entry. */
static int
conn_append(struct evc *c, const uint8_t *frame, const struct evc_req *e)
{
	if (out_reserve(c, e->frame_len) < 0 ||
	    ring_grow((void **)&c->reqs, sizeof(*c->reqs), &c->req_head,
		      c->req_len, &c->req_cap, c->req_len + 1) < 0)
		return -EVC_E_NOMEM;
	memcpy(c->out + c->out_len, frame, e->frame_len);
	c->out_len += e->frame_len;
	*req_at(c, c->req_len) = *e;
	c->req_len++;
	return 0;
}

void
evc_conn_wake(struct evc *c)
{
	uint64_t one = 1;

	if (c->wake_fd < 0 || !c->sleeping || c->woken)
		return;
	c->woken = true;
	/* A full counter (never: we drain it) would only mean "awake". */
	if (write(c->wake_fd, &one, sizeof(one)) < 0) {
	}
}

/* Packs req (its request_id is set here) as a new frame at the end. */
static int
conn_pack(struct evc *c, Evd__Request *req, Evd__Reply__BodyCase want,
	  unsigned flags, evc_done_cb done, void *arg, struct evc_waiter *w)
{
	struct evc_req e = {0};
	struct wirestr_bad bad;
	size_t body_len;
	uint8_t *body;

	req->has_request_id = 1;
	req->request_id = c->last_request_id + 1;
	body_len = evd__request__get_packed_size(req);
	if (body_len > FRAME_DEFAULT_MAX)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "the request needs %zu bytes, above the "
				     "%u-byte frame limit",
				     body_len, FRAME_DEFAULT_MAX);
	if (out_reserve(c, FRAME_HEADER_LEN + body_len) < 0 ||
	    ring_grow((void **)&c->reqs, sizeof(*c->reqs), &c->req_head,
		      c->req_len, &c->req_cap, c->req_len + 1) < 0 ||
	    (done != NULL &&
	     ring_grow((void **)&c->items, sizeof(*c->items), &c->item_head,
		       c->item_len, &c->item_cap,
		       c->item_len + c->req_len + c->n_awaits + 1 +
			   ITEM_SPARE) < 0))
		return evc_conn_fail(c, EVC_E_NOMEM,
				     "out of memory for a request");
	body = c->out + c->out_len + FRAME_HEADER_LEN;
	evd__request__pack(req, body);
	/* The daemon refuses strings that are not UTF-8 (a C string has no
	 * NUL inside): say so before sending, with the same words. The
	 * frame is not kept. */
	if (wirestr_check(&evd__request__descriptor, body, body_len, &bad) ==
	    -EILSEQ)
		return evc_conn_fail(c, EVC_E_USAGE, "the request's %s %s",
				     bad.field, bad.why);
	frame_put_header(c->out + c->out_len, body_len);
	c->out_len += FRAME_HEADER_LEN + body_len;
	/* The id counts as used from here: if the call times out, its late
	 * reply is recognised and dropped. */
	c->last_request_id++;
	e.id = req->request_id;
	e.frame_len = (uint32_t)(FRAME_HEADER_LEN + body_len);
	e.want = (uint8_t)want;
	e.flags = (uint8_t)flags;
	e.done = done;
	e.arg = arg;
	e.waiter = w;
	if (req->body_case == EVD__REQUEST__BODY_SUBSCRIBE &&
	    req->subscribe->has_visibility_timeout_ns)
		e.visibility_ns = req->subscribe->visibility_timeout_ns;
	if (req->body_case == EVD__REQUEST__BODY_SUBSCRIBE &&
	    req->subscribe->has_max_inflight)
		e.max_inflight = req->subscribe->max_inflight;
	if (req->body_case == EVD__REQUEST__BODY_WAIT)
		e.wait_timer_id = req->wait->timer_id;
	*req_at(c, c->req_len) = e;
	c->req_len++;
	return 0;
}

int
evc_conn_submit(struct evc *c, Evd__Request *req, Evd__Reply__BodyCase want,
		unsigned flags, evc_done_cb done, void *arg,
		struct evc_waiter *w)
{
	int r;

	if (c->dead != 0)
		return evc_conn_fail(c, -c->dead, "%s", c->dead_msg);
	if (c->req_len >= EVC_MAX_PENDING)
		return evc_conn_fail(c, EVC_E_BUSY,
				     "%u requests are in flight, the limit; "
				     "let the loop run and retry",
				     EVC_MAX_PENDING);
	r = conn_pack(c, req, want, flags, done, arg, w);
	if (r < 0)
		return r;
	evc_conn_wake(c);
	return 0;
}

void
evc_conn_abandon(struct evc *c, struct evc_waiter *w)
{
	size_t i;

	for (i = 0; i < c->req_len; i++)
		if (req_at(c, i)->waiter == w)
			req_at(c, i)->waiter = NULL;
}

/* One non-blocking flush of the unsent frames. */
static int
conn_flush(struct evc *c)
{
	char eb[128];
	ssize_t n;

	while (c->fd >= 0 && c->out_sent < c->out_len) {
		n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->out_sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return conn_lost(c, EVC_E_IO,
					 "the daemon closed the connection");
		return conn_lost(c, EVC_E_IO, "cannot write to the daemon: %s",
				 errno_str(errno, eb, sizeof(eb)));
	}
	return 0;
}

/* ---- completions ---- */

/* Hands a finished request to its waiter, its callback or the bin.
 * Takes the reply (NULL on failure). */
static void
conn_finish(struct evc *c, const struct evc_req *e, int status,
	    Evd__Reply *reply, const char *msg)
{
	struct evc_item it = {.type = EVC_ITEM_DONE};

	if (e->waiter != NULL) {
		e->waiter->gen = c->conn_gen;
		e->waiter->status = status;
		e->waiter->reply = reply;
		if (status < 0)
			snprintf(e->waiter->errmsg, sizeof(e->waiter->errmsg),
				 "%s", msg != NULL ? msg : evc_strerror(status));
		e->waiter->done = true;
		pthread_cond_broadcast(&c->cond);
		return;
	}
	if (e->done == NULL) {
		if (reply != NULL)
			evd__reply__free_unpacked(reply, NULL);
		return;
	}
	/* Room was reserved when the request was made. */
	it.want = e->want;
	it.status = status;
	it.done = e->done;
	it.arg = e->arg;
	it.reply = reply;
	if (status < 0)
		it.errmsg = strdup(msg != NULL ? msg : evc_strerror(status));
	item_push(c, &it);
}

int
evc_conn_welcome(struct evc *c, const Evd__Welcome *w)
{
	char *sv = NULL, *bi = NULL;

	if (w->has_protocol_version &&
	    w->protocol_version != EVC_PROTOCOL_VERSION)
		return evc_conn_fail(c, EVC_E_UNSUPPORTED_VERSION,
				     "the daemon speaks protocol version %u, "
				     "this library %d",
				     w->protocol_version, EVC_PROTOCOL_VERSION);
	if ((w->server_version != NULL &&
	     (sv = strdup(w->server_version)) == NULL) ||
	    (w->boot_id != NULL && (bi = strdup(w->boot_id)) == NULL)) {
		free(sv);
		return evc_conn_fail(c, EVC_E_NOMEM, "out of memory");
	}
	free(c->server_version);
	free(c->boot_id);
	c->server_version = sv;
	c->boot_id = bi;
	c->info.protocol_version = w->has_protocol_version
				       ? w->protocol_version
				       : EVC_PROTOCOL_VERSION;
	c->info.server_version = sv != NULL ? sv : "";
	c->info.boot_id = bi != NULL ? bi : "";
	c->info.monotonic_now_ns = w->monotonic_now_ns;
	c->info.realtime_now_ns = w->realtime_now_ns;
	c->welcomed = true;
	return 0;
}

/* The library's own requests of a reconnection. Returns < 0 when the
 * connection was lost over it. */
static int
conn_internal_done(struct evc *c, const struct evc_req *e, int status,
		   const Evd__Reply *reply, const char *msg)
{
	char buf[600];
	int r;

	if (e->flags & EVC_REQ_HELLO) {
		if (status < 0)
			return conn_lost(c, -status,
					 "the daemon refused Hello: %s", msg);
		r = evc_conn_welcome(c, reply->welcome);
		if (r < 0)
			return conn_lost(c, -r, "%s", c->errmsg);
		c->backoff_ms = 0;
		conn_event(c, EVC_CONN_RESTORED, 0, "reconnected");
		return 0;
	}
	/* A re-subscription; arg is its channel (ours). */
	if (status < 0) {
		snprintf(buf, sizeof(buf), "channel %s: %s",
			 (const char *)e->arg, msg);
		conn_del_sub(c, e->arg);
		conn_event(c, EVC_CONN_RESUBSCRIBE_FAILED, -status, buf);
	}
	free(e->arg);
	return 0;
}

/* Completes the ring's head with reply. Returns < 0 if the connection
 * was lost. */
static int
conn_complete(struct evc *c, Evd__Reply *reply)
{
	struct evc_req e = *req_at(c, 0);
	const char *msg = NULL;
	char buf[128];
	int status = 0, code;

	c->req_head = (c->req_head + 1) % c->req_cap;
	c->req_len--;
	c->out_start += e.frame_len;
	if (c->req_len == 0 && c->out_start == c->out_len)
		c->out_start = c->out_sent = c->out_len = 0;

	if (reply->body_case == EVD__REPLY__BODY_ERROR) {
		code = reply->error->has_code ? (int)reply->error->code : 0;
		/* Codes from the daemon stay below EVC_E_LOCAL, so a caller
		 * can always tell "it said no" from a local failure. */
		if (code <= 0 || code >= EVC_E_LOCAL)
			code = EVC_E_INTERNAL;
		status = -code;
		msg = reply->error->message != NULL &&
			      reply->error->message[0] != '\0'
			  ? reply->error->message
			  : evc_strerror(code);
	} else if (reply->body_case != (Evd__Reply__BodyCase)e.want) {
		status = -EVC_E_BAD_REPLY;
		snprintf(buf, sizeof(buf),
			 "the daemon answered with reply body %d where %d "
			 "was expected",
			 (int)reply->body_case, (int)e.want);
		msg = buf;
	}
	if (e.flags & EVC_REQ_INTERNAL) {
		code = conn_internal_done(c, &e, status, reply, msg);
		evd__reply__free_unpacked(reply, NULL);
		return code;
	}
	if (status == 0 && e.want == EVD__REPLY__BODY_SUBSCRIBED &&
	    reply->subscribed->channel != NULL)
		/* Out of memory only costs the re-subscription. */
		(void)evc_conn_add_sub(c, reply->subscribed->channel,
				       e.visibility_ns, e.max_inflight);
	if (status == 0 && e.want == EVD__REPLY__BODY_UNSUBSCRIBED &&
	    reply->unsubscribed->channel != NULL)
		conn_del_sub(c, reply->unsubscribed->channel);
	if (status == 0 && e.want == EVD__REPLY__BODY_WAITING &&
	    e.waiter == NULL && e.done != NULL) {
		/* evc_wait_async: done runs with the report, later. */
		evd__reply__free_unpacked(reply, NULL);
		if (!await_add(c, &e, e.wait_timer_id))
			conn_finish(c, &e, -EVC_E_NOMEM, NULL,
				    "out of memory for a wait");
		return 0;
	}
	if (status < 0) {
		/* msg may point into the reply: finish before freeing. */
		conn_finish(c, &e, status, NULL, msg);
		evd__reply__free_unpacked(reply, NULL);
	} else {
		conn_finish(c, &e, 0, reply, NULL);
	}
	return 0;
}

/* ---- input ---- */

/*
 * Decodes the complete frames in the input buffer: replies complete
 * requests, fired events go to the queue. Returns 0 when more bytes are
 * needed, -EVC_E_NOMEM when the event queue is full (the frame stays),
 * or another negative code when the connection was lost.
 */
static int
conn_process(struct evc *c)
{
	const uint8_t *body;
	size_t body_len;
	Evd__Reply *reply;
	struct evc_fired ev;
	bool fired = false;
	long n;
	int r = 0, code;

	while (c->in_start < c->in_end) {
		n = frame_decode(c->in + c->in_start, c->in_end - c->in_start,
				 FRAME_DEFAULT_MAX, &body, &body_len);
		if (n == 0)
			break;
		if (n == -EMSGSIZE) {
			r = conn_lost(c, EVC_E_BAD_REPLY,
				      "the daemon sent a frame above the "
				      "%u-byte limit",
				      FRAME_DEFAULT_MAX);
			break;
		}
		if (n < 0) {
			r = conn_lost(c, EVC_E_BAD_REPLY,
				      "the daemon sent an empty frame");
			break;
		}
		reply = evd__reply__unpack(NULL, body_len, body);
		if (reply == NULL) {
			r = conn_lost(c, EVC_E_BAD_REPLY,
				      "the daemon sent an undecodable reply");
			break;
		}

		/* We never send request id 0, so a 0 cannot answer us: treat
		 * it like an absent id rather than fail on it. */
		if (reply->has_request_id && reply->request_id != 0) {
			uint64_t id = reply->request_id;

			if (c->req_len == 0 || req_at(c, 0)->id != id ||
			    c->out_start + req_at(c, 0)->frame_len >
				c->out_sent) {
				evd__reply__free_unpacked(reply, NULL);
				r = conn_lost(c, EVC_E_BAD_REPLY,
					      "the daemon answered request "
					      "%llu out of order",
					      (unsigned long long)id);
				break;
			}
			c->in_start += (size_t)n;
			r = conn_complete(c, reply);
			if (r < 0)
				break;
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
				goto out;
			fired = true;
			break;
		case EVD__REPLY__BODY_EXEC_FINISHED:
			conn_exec_finished(c, reply);
			fired = true;
			break;
		case EVD__REPLY__BODY_ERROR:
			code = reply->error->has_code ? (int)reply->error->code
						      : 0;
			if (code <= 0 || code >= EVC_E_LOCAL)
				code = EVC_E_PROTOCOL;
			r = conn_lost(c, code,
				      "the daemon closed the connection: %s",
				      reply->error->message != NULL &&
					      reply->error->message[0] != '\0'
					  ? reply->error->message
					  : evc_strerror(code));
			evd__reply__free_unpacked(reply, NULL);
			goto out;
		case EVD__REPLY__BODY__NOT_SET:
			/* An event type newer than this library: skip it. */
			evd__reply__free_unpacked(reply, NULL);
			break;
		default:
			code = (int)reply->body_case;
			evd__reply__free_unpacked(reply, NULL);
			r = conn_lost(c, EVC_E_BAD_REPLY,
				      "the daemon sent a reply (body %d) "
				      "without request_id",
				      code);
			goto out;
		}
		c->in_start += (size_t)n;
	}
out:
	if (fired)
		pthread_cond_broadcast(&c->cond);
	return r;
}

/*
 * Makes room for the next read: compacts the buffer and grows it to hold
 * the whole frame being received. Returns the free bytes at in_end, or
 * -EVC_E_NOMEM.
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
	    (c->in_cap - c->in_end < IN_CHUNK / 4 ||
	     c->in_start + need > c->in_cap)) {
		memmove(c->in, c->in + c->in_start, have);
		c->in_start = 0;
		c->in_end = have;
	}
	return (long)(c->in_cap - c->in_end);
}

/* Reads and decodes what is available without blocking. */
static int
conn_read(struct evc *c)
{
	char eb[128];
	long room;
	ssize_t n;
	int r;

	while (c->fd >= 0) {
		/* Complete frames left by a full event queue go first. */
		r = conn_process(c);
		if (r < 0)
			return r;
		room = conn_make_room(c);
		if (room < 0)
			return (int)room;
		n = recv(c->fd, c->in + c->in_end, (size_t)room, MSG_DONTWAIT);
		if (n > 0) {
			c->in_end += (size_t)n;
			r = conn_process(c);
			if (r < 0)
				return r;
			/* A short read drained the socket: spare the
			 * syscall that would say EAGAIN. */
			if (n < room)
				return 0;
			continue;
		}
		if (n == 0)
			return conn_lost(c, EVC_E_IO,
					 "the daemon closed the connection");
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno != EINTR)
			return conn_lost(c, EVC_E_IO,
					 "cannot read from the daemon: %s",
					 errno_str(errno, eb, sizeof(eb)));
	}
	return 0;
}

/* ---- losing and regaining the connection ---- */

static void
conn_schedule_reconnect(struct evc *c)
{
	int64_t b;

	if (c->backoff_ms == 0)
		c->backoff_ms = c->reconnect_min_ms;
	else if (c->backoff_ms < c->reconnect_max_ms / 2)
		c->backoff_ms *= 2;
	else
		c->backoff_ms = c->reconnect_max_ms;
	/* Jitter: 50..100% of the backoff, so that many clients of one
	 * restarted daemon do not reconnect in lockstep. */
	b = (int64_t)c->backoff_ms * 1000000;
	b = b / 2 + (int64_t)(splitmix64(&c->rand_state) % (uint64_t)(b / 2 + 1));
	c->reconnect_at_ns = evc_now_ns() + b;
}

static int
conn_lost(struct evc *c, int code, const char *fmt, ...)
{
	char msg[512], why[700], wwhy[700];
	bool was_welcomed = c->welcomed, sent;
	struct evc_req *old_reqs, e;
	size_t old_head, old_len, old_cap, old_sent, off, i;
	uint8_t *old_out;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->errmsg, sizeof(c->errmsg), "%s", msg);
	c->welcomed = false;
	c->in_start = c->in_end = 0;
	conn_lose_awaits(c, msg);

	if (c->reconnect_min_ms == 0) {
		c->dead = -code;
		snprintf(c->dead_msg, sizeof(c->dead_msg), "%s", msg);
		/* The fd stays open until evc_close(), as evc_fd() says;
		 * shutting it down makes the daemon drop the connection. */
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
		while (c->req_len > 0) {
			e = *req_at(c, 0);
			c->req_head = (c->req_head + 1) % c->req_cap;
			c->req_len--;
			if (e.flags & EVC_REQ_INTERNAL) {
				if (!(e.flags & EVC_REQ_HELLO))
					free(e.arg);
				continue;
			}
			conn_finish(c, &e, -code, NULL, msg);
		}
		c->out_start = c->out_sent = c->out_len = 0;
		if (was_welcomed)
			conn_event(c, EVC_CONN_LOST, code, msg);
		pthread_cond_broadcast(&c->cond);
		return -code;
	}

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	snprintf(why, sizeof(why),
		 "the connection to evd was lost before the reply (%s); the "
		 "request is not repeated because it may have taken effect",
		 msg);
	snprintf(wwhy, sizeof(wwhy),
		 "the connection to evd was lost before the daemon accepted "
		 "the wait (%s); the wait is not repeated on a new connection",
		 msg);
	/* Keep what may be sent again: the frames move to a fresh buffer,
	 * in order, with their ids. A frame not wholly written was never
	 * read by the daemon (it drops a partial frame), so it is kept. */
	old_reqs = c->reqs;
	old_head = c->req_head;
	old_len = c->req_len;
	old_cap = c->req_cap;
	old_out = c->out;
	old_sent = c->out_sent;
	off = c->out_start;
	c->reqs = NULL;
	c->req_head = c->req_len = c->req_cap = 0;
	c->out = NULL;
	c->out_start = c->out_sent = c->out_len = c->out_cap = 0;
	for (i = 0; i < old_len; i++) {
		e = old_reqs[(old_head + i) % old_cap];
		sent = off + e.frame_len <= old_sent;
		if (e.flags & EVC_REQ_INTERNAL) {
			if (!(e.flags & EVC_REQ_HELLO))
				free(e.arg);
		} else if (sent && !(e.flags & EVC_REQ_RETRY)) {
			conn_finish(c, &e, -EVC_E_IO, NULL,
				    e.want == EVD__REPLY__BODY_WAITING ? wwhy
								       : why);
		} else if (conn_append(c, old_out + off, &e) < 0) {
			conn_finish(c, &e, -EVC_E_NOMEM, NULL,
				    "out of memory keeping a request across a "
				    "reconnection");
		}
		off += e.frame_len;
	}
	free(old_reqs);
	free(old_out);
	if (was_welcomed)
		conn_event(c, EVC_CONN_LOST, code, msg);
	conn_schedule_reconnect(c);
	pthread_cond_broadcast(&c->cond);
	return -code;
}

/* A non-blocking connect(). Returns the fd, or -1 with errno set. */
static int
conn_socket(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	int fd, e;

	if (len == 0 || len >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, len);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
				1)) == 0 ||
	    errno == EINPROGRESS)
		return fd;
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/*
 * One reconnection attempt. On success Hello and the re-subscriptions
 * go ahead of the requests kept from the old connection.
 */
static void
conn_reconnect(struct evc *c)
{
	struct evc_msg m;
	struct evc_req *old_reqs, e;
	size_t old_head, old_len, old_cap, old_out_len, old_out_cap, off, i;
	uint8_t *old_out;
	char *ch;
	int fd;

	fd = conn_socket(c->path);
	if (fd < 0) {
		conn_schedule_reconnect(c);
		return;
	}
	c->fd = fd;
	c->reconnect_at_ns = EVC_FOREVER;
	old_reqs = c->reqs;
	old_head = c->req_head;
	old_len = c->req_len;
	old_cap = c->req_cap;
	old_out = c->out;
	old_out_len = c->out_len;
	old_out_cap = c->out_cap;
	off = c->out_start;
	c->reqs = NULL;
	c->req_head = c->req_len = c->req_cap = 0;
	c->out = NULL;
	c->out_start = c->out_sent = c->out_len = c->out_cap = 0;

	/* The library's own requests, built by their rows (evc_req.c);
	 * neither can fail to build. */
	(void)evc_req_build(EVC_OP_HELLO,
			    &(struct evc_args){.name = c->client_name}, &m);
	if (conn_pack(c, &m.req, evc_req_types[EVC_OP_HELLO].reply,
		      EVC_REQ_INTERNAL | EVC_REQ_HELLO, NULL, NULL, NULL) < 0)
		goto nomem;
	for (i = 0; i < c->n_subs; i++) {
		if ((ch = strdup(c->subs[i].channel)) == NULL)
			goto nomem;
		(void)evc_req_build(
		    EVC_OP_SUBSCRIBE,
		    &(struct evc_args){
			.channel = ch,
			.has_visibility = c->subs[i].visibility_ns != 0,
			.visibility_ns = c->subs[i].visibility_ns,
			.max_inflight = c->subs[i].max_inflight},
		    &m);
		if (conn_pack(c, &m.req, evc_req_types[EVC_OP_SUBSCRIBE].reply,
			      EVC_REQ_INTERNAL, NULL, ch, NULL) < 0) {
			free(ch);
			goto nomem;
		}
	}
	for (i = 0; i < old_len; i++) {
		e = old_reqs[(old_head + i) % old_cap];
		if (conn_append(c, old_out + off, &e) < 0)
			conn_finish(c, &e, -EVC_E_NOMEM, NULL,
				    "out of memory resending a request");
		off += e.frame_len;
	}
	free(old_reqs);
	free(old_out);
	return;
nomem:
	/* Put the old requests back and try again later. */
	for (i = 0; i < c->req_len; i++)
		if ((req_at(c, i)->flags & EVC_REQ_INTERNAL) &&
		    !(req_at(c, i)->flags & EVC_REQ_HELLO))
			free(req_at(c, i)->arg);
	free(c->reqs);
	free(c->out);
	c->reqs = old_reqs;
	c->req_head = old_head;
	c->req_len = old_len;
	c->req_cap = old_cap;
	c->out = old_out;
	c->out_start = c->out_sent = off;
	c->out_len = old_out_len;
	c->out_cap = old_out_cap;
	close(c->fd);
	c->fd = -1;
	conn_schedule_reconnect(c);
}

/* ---- the loop's steps ---- */

int
evc_conn_io(struct evc *c)
{
	int r;

	if (c->dead != 0)
		return evc_conn_fail(c, -c->dead, "%s", c->dead_msg);
	if (c->fd < 0) {
		if (c->reconnect_min_ms == 0 ||
		    evc_now_ns() < c->reconnect_at_ns)
			return 0;
		conn_reconnect(c);
		if (c->fd < 0)
			return 0;
	}
	r = conn_flush(c);
	if (r == 0)
		r = conn_read(c);
	/* The write may have been refused only because a reply was
	 * waiting to be read; and a read may have made room. */
	if (r == 0 && c->out_sent < c->out_len)
		r = conn_flush(c);
	if (r < 0 && r != -EVC_E_NOMEM && c->dead == 0)
		return 0; /* lost, reconnecting */
	return r;
}

/* Writes what is queued, without reading: the first step of a blocking
 * call, whose reply cannot be there yet (it saves a recv() that would
 * only say EAGAIN; the poll() that follows reports anything else). */
int
evc_conn_io_flush(struct evc *c)
{
	int r;

	if (c->dead != 0 || c->fd < 0)
		return evc_conn_io(c);
	r = conn_flush(c);
	if (r < 0 && c->dead == 0)
		return 0; /* lost, reconnecting */
	return r;
}

int
evc_conn_events(const struct evc *c)
{
	int ev = 0;

	if (c->dead != 0 || c->fd < 0)
		return 0;
	if (c->queue_len < EVC_MAX_QUEUED_EVENTS)
		ev |= POLLIN;
	if (c->out_sent < c->out_len)
		ev |= POLLOUT;
	return ev;
}

int64_t
evc_conn_next_deadline(const struct evc *c)
{
	if (c->item_len > 0 || (c->fired_cb != NULL && c->queue_len > 0))
		return 0;
	if (c->dead == 0 && c->fd < 0 && c->reconnect_min_ms > 0)
		return c->reconnect_at_ns;
	return EVC_FOREVER;
}

void
evc_conn_watch(struct evc *c)
{
	int fd, events, ms;
	int64_t dl;

	if (c->watch_cb == NULL)
		return;
	fd = c->dead != 0 ? -1 : c->fd;
	events = evc_conn_events(c);
	dl = evc_conn_next_deadline(c);
	if (fd == c->watch_fd && events == c->watch_events &&
	    dl == c->watch_deadline_ns)
		return;
	c->watch_fd = fd;
	c->watch_events = events;
	c->watch_deadline_ns = dl;
	ms = dl == 0 ? 0 : remaining_ms(dl);
	c->watch_cb(c, fd, events, ms, c->watch_arg);
}

/*
 * Sleeps until the socket is ready for what the engine wants, the
 * background thread is woken, the engine's own deadline (reconnection,
 * ready callbacks) or deadline_ns. The lock is released meanwhile.
 * Returns 0, or -EVC_E_TIMEOUT once deadline_ns has passed.
 */
int
evc_conn_wait(struct evc *c, int64_t deadline_ns)
{
	struct pollfd pfd[2];
	int64_t dl = evc_conn_next_deadline(c);
	uint64_t v;
	nfds_t n = 0;
	int ms, events = evc_conn_events(c);

	if (dl > deadline_ns)
		dl = deadline_ns;
	if (events != 0) {
		pfd[n].fd = c->fd;
		pfd[n].events = (short)events;
		n++;
	}
	if (c->wake_fd >= 0) {
		pfd[n].fd = c->wake_fd;
		pfd[n].events = POLLIN;
		n++;
		c->sleeping = true;
	}
	ms = dl == 0 ? 0 : remaining_ms(dl);
	pthread_mutex_unlock(&c->lock);
	poll(n > 0 ? pfd : NULL, n, ms);
	pthread_mutex_lock(&c->lock);
	c->sleeping = false;
	if (c->woken) {
		if (read(c->wake_fd, &v, sizeof(v)) < 0) {
		}
		c->woken = false;
	}
	if (evc_conn_expired(deadline_ns))
		return -EVC_E_TIMEOUT;
	return 0;
}

/* ---- connect ---- */

/* The first connection, blocking within deadline_ns. */
int
evc_conn_open(struct evc *c, int64_t deadline_ns)
{
	struct pollfd pfd;
	socklen_t sl;
	char eb[128];
	int err, ms;

	for (;;) {
		c->fd = conn_socket(c->path);
		if (c->fd >= 0)
			break;
		err = errno;
		if (err == ENAMETOOLONG)
			return evc_conn_fail(c, EVC_E_USAGE,
					     "socket path of %zu bytes: it "
					     "must have 1 to %zu",
					     strlen(c->path),
					     sizeof(((struct sockaddr_un *)0)
							->sun_path) -
						 1);
		if (err != EAGAIN)
			return evc_conn_fail(c, EVC_E_CONNECT,
					     "cannot connect to %s: %s", c->path,
					     errno_str(err, eb, sizeof(eb)));
		/* Linux: the listen backlog is full. Unix sockets offer no
		 * readiness for this, so retry. */
		ms = remaining_ms(deadline_ns);
		if (ms == 0)
			return evc_conn_fail(
			    c, EVC_E_TIMEOUT,
			    "cannot connect to %s: timed out, the daemon is "
			    "not accepting connections",
			    c->path);
		poll(NULL, 0,
		     ms < 0 || ms > CONNECT_RETRY_MS ? CONNECT_RETRY_MS : ms);
	}
	/* EINPROGRESS: completion is signalled by writability. */
	pfd.fd = c->fd;
	pfd.events = POLLOUT;
	for (;;) {
		ms = remaining_ms(deadline_ns);
		err = poll(&pfd, 1, ms);
		if (err > 0)
			break;
		if (err < 0 && errno == EINTR)
			continue;
		if (err == 0 && ms == 0)
			return evc_conn_fail(c, EVC_E_TIMEOUT,
					     "cannot connect to %s: timed out",
					     c->path);
	}
	sl = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &sl) < 0)
		err = errno;
	if (err != 0)
		return evc_conn_fail(c, EVC_E_CONNECT,
				     "cannot connect to %s: %s", c->path,
				     errno_str(err, eb, sizeof(eb)));
	return 0;
}

void
evc_conn_clear(struct evc *c)
{
	struct evc_fired ev;
	struct evc_item it;
	size_t i;

	while (c->queue_len > 0) {
		evc_conn_pop_event(c, &ev);
		evc_fired_free(&ev);
	}
	while (evc_conn_pop_item(c, &it))
		evc_conn_item_clear(&it);
	for (i = 0; i < c->req_len; i++)
		if ((req_at(c, i)->flags & EVC_REQ_INTERNAL) &&
		    !(req_at(c, i)->flags & EVC_REQ_HELLO))
			free(req_at(c, i)->arg);
	for (i = 0; i < c->n_subs; i++)
		free(c->subs[i].channel);
	free(c->subs);
	for (i = 0; i < c->n_kept; i++)
		evd__reply__free_unpacked(c->kept[i].reply, NULL);
	free(c->kept);
	free(c->awaits);
	free(c->reqs);
	free(c->items);
	free(c->queue);
	free(c->in);
	free(c->out);
	free(c->server_version);
	free(c->boot_id);
	free(c->path);
	free(c->client_name);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	c->wake_fd = -1;
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
}
