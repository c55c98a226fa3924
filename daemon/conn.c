/*
 * conn: client connections: input framing, output buffering, back
 * pressure and deferred free (see conn.h).
 *
 * Owns every struct conn. Never interprets a request: complete frames go
 * to dispatch. Bytes from a client never reach an assert.
 */
#include "conn.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "clock.h"
#include "frame.h"
#include "wire.h"
#include "idmap.h"
#include "log.h"
#include "peer.h"
#include "route.h"
#include "shard.h"

/* Bytes asked of read() at a time: a pipelined burst of small requests
 * arrives in few syscalls. */
#define CONN_READ_CHUNK (64u * 1024u)

/* Owner: conn. Reachable through the id map until conn_close, then only
 * from the graveyard until the next loop turn frees it. */
struct conn {
	uint64_t id;
	int fd;
	struct event *ev_read;
	struct event *ev_write;
	struct event *ev_stall; /* the deadline of the frame at in's head */
	struct event *ev_drain; /* the deadline of output above the mark */
	uint8_t *in; /* undecoded input; at most one partial frame plus
	                what one read brought */
	size_t in_len;
	size_t in_cap;
	struct evbuffer *out;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t *groups;    /* supplementary groups at connect (SO_PEERGROUPS) */
	size_t ngroups;
	struct peer_id peer; /* its user name, as looked up at connect */
	bool greeted;
	bool uid_counted; /* in per_uid until closed */
	bool closed;
	bool dirty;       /* on the flush list */
	bool write_armed;
	bool paused;      /* reading stopped by the output high-water mark */
	bool in_clock;    /* ev_stall runs, for the partial frame in `in` */
	bool out_clock;   /* ev_drain runs: output passed CONN_OUT_HIGH */
	size_t out_taken; /* bytes written since ev_drain was (re)armed */
	bool congested_seen; /* someone held back because of the mark */
	bool closing;     /* close after writing what is owed */
	bool drain;       /* ...all of it (half-close), not one write */
	const char *closing_why;
	/* Durable replies not released yet, by offset in out and loop
	 * iteration: if that iteration's batch is lost (even after it
	 * ended, batch.h) they become UNAVAILABLE errors. */
	struct conn_durable *durable;
	size_t ndurable;
	size_t durable_cap;
	/* Output waiting for the store to make what it reflects durable
	 * (batch_sync_gen): only the first out_ok bytes of out (for a proxy,
	 * owed_ok of the replies it owes) may go. Each hold lets out up to
	 * its len once its generation is durable; at most two generations
	 * wait at a time, the one being flushed and the next. */
	size_t out_ok;
	uint32_t owed_ok;
	struct conn_hold {
		uint64_t gen;
		size_t len;
		uint32_t owed;
	} hold[2];
	unsigned nholds;
	TAILQ_ENTRY(conn) held_link;
	TAILQ_ENTRY(conn) dirty_link;
	TAILQ_ENTRY(conn) dead_link;
	/* Multi-loop (shard.h). A proxy stands on this loop for a client
	 * connected to loop home: forwarded requests run on it, and its
	 * output is shipped home after this loop's commit. */
	bool proxy;
	unsigned home;
	uint64_t remote_id;   /* proxy: the client's conn id on home */
	uint32_t owed;        /* proxy: replies in out not yet shipped */
	/* A client's requests served elsewhere: replies keep request order
	 * because at most one other loop has unanswered ones at a time, and
	 * nothing runs here meanwhile (input stalls). */
	int fwd_target;       /* loop of the unanswered forwards */
	uint32_t fwd_pending; /* forwarded, not answered yet */
	uint32_t fwd_nbuf;    /* frames in fwd_buf, not posted yet */
	struct evbuffer *fwd_buf;
	bool fwd_stalled;
	uint32_t fwd_mask;    /* loops that may hold a proxy of it */
	struct conn_gather *gather;
	struct conn_link *link;
};

/* What a client and its proxies share across threads. */
struct conn_link {
	size_t backlog;  /* the client's unsent output (atomic) */
	bool congested;  /* a proxy held back for it (atomic) */
	int refs;        /* atomic */
};

/* A request every loop answers (ROUTE_ALL), until all parts are in. */
struct conn_gather {
	uint8_t *body;   /* the request, to merge by */
	size_t len;
	unsigned got;
	struct evbuffer *parts[SHARD_MAX];
};
TAILQ_HEAD(conn_list, conn);

struct conn_durable {
	size_t off;          /* frame start in out */
	uint64_t iter;       /* the loop iteration that sent it */
	bool has_request_id;
	uint64_t request_id;
};

static _Thread_local struct {
	struct event_base *base;
	const struct conn_ops *ops;
	size_t max_frame;
	struct timeval frame_timeout;
	struct idmap *by_id;
	struct conn_list dirty;
	struct conn_list dead;
	struct conn_list held; /* conns with nholds > 0 */
	uint64_t iter;         /* loop iterations ended (conn_batch_end) */
	struct event *reap_ev;
	uint64_t next_id;
	size_t count;
	struct idmap *proxies; /* (home << 48 | client id) -> proxy */
	bool stopping;         /* no messages to other loops any more */
} conns;

/*
 * Connections per uid, across loops (max_connections_per_uid): one user
 * must not take the descriptors every other client needs. Taken once per
 * connect and close, so a lock costs nothing that matters.
 */
static struct {
	pthread_mutex_t lock;
	struct idmap *by_uid; /* uid + 1 -> count, as a pointer-sized int */
	uint32_t limit;       /* 0: none */
} per_uid = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool conn_uid_take(uid_t, uint32_t *);
static void conn_uid_give(uid_t);
static void conn_refuse(int, uid_t, uint32_t);
static void conn_read_cb(evutil_socket_t, short, void *);
static void conn_write_cb(evutil_socket_t, short, void *);
static void conn_reap_cb(evutil_socket_t, short, void *);
static void conn_process(struct conn *);
static void conn_stall_cb(evutil_socket_t, short, void *);
static void conn_drain_cb(evutil_socket_t, short, void *);
static void conn_proxy_closed(struct conn *, const char *);
static void conn_client_closed(struct conn *);
static void conn_process_routed(struct conn *);
static void conn_protocol_error(struct conn *, const char *);
static void conn_proxy_ship(struct conn *, bool);
static void conn_link_update(struct conn *);
static void conn_pause(struct conn *);

static uint64_t
conn_next_id(void)
{
	uint64_t id = conns.next_id;

	conns.next_id += shard_count();
	return id;
}

int
conn_init(struct event_base *base, const struct conn_ops *ops,
          size_t max_frame, unsigned frame_timeout_ms)
{
	memset(&conns, 0, sizeof conns);
	conns.base = base;
	conns.ops = ops;
	conns.max_frame = max_frame;
	conns.frame_timeout.tv_sec = frame_timeout_ms / 1000;
	conns.frame_timeout.tv_usec = (frame_timeout_ms % 1000) * 1000;
	/* Loop k numbers its connections k+1, k+1+n, ...: an id in a log
	 * line or a Stats answer names one connection of the daemon. */
	conns.next_id = shard_self() + 1;
	TAILQ_INIT(&conns.dirty);
	TAILQ_INIT(&conns.dead);
	TAILQ_INIT(&conns.held);
	if ((conns.by_id = idmap_new()) == NULL ||
	    (conns.proxies = idmap_new()) == NULL)
		return -ENOMEM;
	conns.reap_ev = event_new(base, -1, 0, conn_reap_cb, NULL);
	if (conns.reap_ev == NULL)
		return -ENOMEM;
	return 0;
}

static void
conn_link_unref(struct conn_link *l)
{
	if (l != NULL && __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(l);
}

void
conn_msg_free(struct shard_msg *m)
{
	/* Every FORWARD holds a reference to its client's link; only the
	 * one that makes the proxy hands it on (conn_proxy_get). */
	if (m != NULL)
		conn_link_unref(m->link);
	shard_msg_free(m);
}

static void
conn_gather_free(struct conn *c)
{
	unsigned k;

	if (c->gather == NULL)
		return;
	for (k = 0; k < SHARD_MAX; k++)
		if (c->gather->parts[k] != NULL)
			evbuffer_free(c->gather->parts[k]);
	free(c->gather->body);
	free(c->gather);
	c->gather = NULL;
}

static void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->ev_read != NULL)
		event_free(c->ev_read);
	if (c->ev_write != NULL)
		event_free(c->ev_write);
	if (c->ev_stall != NULL)
		event_free(c->ev_stall);
	if (c->ev_drain != NULL)
		event_free(c->ev_drain);
	if (c->out != NULL)
		evbuffer_free(c->out);
	if (c->fwd_buf != NULL)
		evbuffer_free(c->fwd_buf);
	conn_gather_free(c);
	conn_link_unref(c->link);
	free(c->in);
	free(c->durable);
	free(c->groups);
	free(c);
}

void
conn_shutdown(void)
{
	struct conn *c;
	size_t iter = 0;

	/* The other loops are stopping too: nothing is posted to them. */
	conns.stopping = true;
	/* Closing mutates the map: restart the walk each time. */
	while ((c = idmap_next(conns.by_id, &iter, NULL)) != NULL) {
		conn_close(c, "daemon stopping");
		iter = 0;
	}
	conn_reap_cb(-1, 0, NULL);
	if (conns.reap_ev != NULL)
		event_free(conns.reap_ev);
	idmap_free(conns.by_id);
	idmap_free(conns.proxies);
	memset(&conns, 0, sizeof conns);
}

/* The peer's supplementary groups as the kernel saw them at connect:
 * channel grants to a gid match them. Without them (old kernel, no
 * memory) only the primary gid matches. */
static void
conn_peer_groups(struct conn *c)
{
	socklen_t len = 0;
	gid_t *g;

	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) == 0 ||
	    errno != ERANGE || len == 0 || len > 65536 * sizeof(gid_t))
		return;
	if ((g = malloc(len)) == NULL)
		return;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) < 0) {
		free(g);
		return;
	}
	c->groups = g;
	c->ngroups = len / sizeof(gid_t);
}



int
conn_new(int fd, bool resolved)
{
	struct ucred cred;
	uint32_t limit;
	socklen_t len = sizeof cred;
	struct conn *c;
	int r;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	/* A user instance serves its own user (and root) only: its socket
	 * is 0600, and this holds even if someone widens that. */
	if (geteuid() != 0 && cred.uid != geteuid() && cred.uid != 0) {
		log_info("refusing a connection from uid %u: this evd serves "
		         "uid %u only",
		         (unsigned)cred.uid, (unsigned)geteuid());
		close(fd);
		return -EPERM;
	}
	/* On a system instance, a uid not looked up lately waits for its
	 * name off the loop, in the socket (peer.h). */
	if (!resolved && peer_defer(fd, cred.uid, shard_self()))
		return 0;
	if (!conn_uid_take(cred.uid, &limit)) {
		log_about(LOG_LEVEL_NOTICE,
		          &(struct log_about){.uid = cred.uid, .has_uid = true},
		          "refusing a connection from uid %u: it has %u, its "
		          "limit",
		          (unsigned)cred.uid, limit);
		conn_refuse(fd, cred.uid, limit);
		return -EUSERS;
	}
	if ((c = calloc(1, sizeof *c)) == NULL) {
		conn_uid_give(cred.uid);
		close(fd);
		return -ENOMEM;
	}
	c->uid_counted = true;
	peer_lookup(cred.uid, &c->peer);
	c->fd = fd;
	c->fwd_target = -1;
	c->home = shard_self();
	c->id = conn_next_id();
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	conn_peer_groups(c);
	c->in_cap = CONN_READ_CHUNK;
	if ((c->in = malloc(c->in_cap)) == NULL ||
	    (c->out = evbuffer_new()) == NULL)
		goto nomem;
	c->ev_read = event_new(conns.base, fd, EV_READ | EV_PERSIST,
	                       conn_read_cb, c);
	c->ev_write = event_new(conns.base, fd, EV_WRITE | EV_PERSIST,
	                        conn_write_cb, c);
	c->ev_stall = evtimer_new(conns.base, conn_stall_cb, c);
	c->ev_drain = evtimer_new(conns.base, conn_drain_cb, c);
	if (c->ev_read == NULL || c->ev_write == NULL || c->ev_stall == NULL ||
	    c->ev_drain == NULL)
		goto nomem;
	if (idmap_put(conns.by_id, c->id, c) < 0)
		goto nomem;
	if (event_add(c->ev_read, NULL) < 0) {
		idmap_del(conns.by_id, c->id);
		goto nomem;
	}
	conns.count++;
	log_debug("connection %" PRIu64 " from pid %ld uid %u",
	          c->id, (long)c->pid, (unsigned)c->uid);
	return 0;
nomem:
	close(fd);
	conn_free(c);
	return -ENOMEM;
}

void
conn_set_uid_limit(uint32_t limit)
{
	pthread_mutex_lock(&per_uid.lock);
	per_uid.limit = limit;
	pthread_mutex_unlock(&per_uid.lock);
}

/* Counts one more connection of uid; false (nothing counted) when uid
 * has its limit already. Root is counted, never refused. */
static bool
conn_uid_take(uid_t uid, uint32_t *ret_limit)
{
	uintptr_t n;
	bool ok = true;

	pthread_mutex_lock(&per_uid.lock);
	*ret_limit = per_uid.limit;
	if (per_uid.by_uid == NULL && (per_uid.by_uid = idmap_new()) == NULL) {
		pthread_mutex_unlock(&per_uid.lock);
		return true; /* out of memory: not counting beats refusing */
	}
	n = (uintptr_t)idmap_get(per_uid.by_uid, (uint64_t)uid + 1);
	if (uid != 0 && per_uid.limit != 0 && n >= per_uid.limit) {
		ok = false;
	} else {
		/* The map does not replace: out, then in with the new count
		 * (out of memory leaves it uncounted; _give copes). */
		if (n > 0)
			idmap_del(per_uid.by_uid, (uint64_t)uid + 1);
		(void)idmap_put(per_uid.by_uid, (uint64_t)uid + 1,
		                (void *)(n + 1));
	}
	pthread_mutex_unlock(&per_uid.lock);
	return ok;
}

static void
conn_uid_give(uid_t uid)
{
	uintptr_t n;

	pthread_mutex_lock(&per_uid.lock);
	if (per_uid.by_uid != NULL &&
	    (n = (uintptr_t)idmap_get(per_uid.by_uid, (uint64_t)uid + 1)) > 0) {
		idmap_del(per_uid.by_uid, (uint64_t)uid + 1);
		if (n > 1)
			(void)idmap_put(per_uid.by_uid, (uint64_t)uid + 1,
			                (void *)(n - 1));
	}
	pthread_mutex_unlock(&per_uid.lock);
}

/* Tells a client past its connection limit why, in one frame it reads
 * as the answer to its Hello, and closes. Best effort: a full socket
 * buffer just closes. */
static void
conn_refuse(int fd, uid_t uid, uint32_t limit)
{
	Evd__Reply reply = EVD__REPLY__INIT;
	Evd__Error err = EVD__ERROR__INIT;
	uint8_t buf[256];
	char msg[160];
	size_t n;

	snprintf(msg, sizeof msg,
	         "uid %u has %u connections to evd, its limit "
	         "(max_connections_per_uid)",
	         (unsigned)uid, limit);
	err.has_code = true;
	err.code = EVD__ERROR_CODE__RESOURCE_EXHAUSTED;
	err.message = msg;
	reply.body_case = EVD__REPLY__BODY_ERROR;
	reply.error = &err;
	n = evd__reply__get_packed_size(&reply);
	if (FRAME_HEADER_LEN + n <= sizeof buf) {
		(void)frame_put_header(buf, n);
		evd__reply__pack(&reply, buf + FRAME_HEADER_LEN);
		(void)!write(fd, buf, FRAME_HEADER_LEN + n);
	}
	close(fd);
}

struct conn *
conn_lookup(uint64_t id)
{
	return idmap_get(conns.by_id, id);
}

uint64_t
conn_id(const struct conn *c)
{
	return c->id;
}

struct conn_peer
conn_peer_of(const struct conn *c)
{
	struct conn_peer p = {
		.conn_id = c->id,
		.uid = c->uid,
		.gid = c->gid,
		.pid = c->pid,
		.groups = c->groups,
		.ngroups = c->ngroups,
		.name = &c->peer,
		.greeted = c->greeted,
	};

	return p;
}





void
conn_set_greeted(struct conn *c)
{
	c->greeted = true;
}

size_t
conn_count(void)
{
	return conns.count;
}

bool
conn_closing(const struct conn *c)
{
	return c->closing || c->closed;
}

bool
conn_congested(struct conn *c)
{
	size_t n = evbuffer_get_length(c->out);

	/* A proxy's output is the client's, on its loop. */
	if (c->proxy && c->link != NULL)
		n += __atomic_load_n(&c->link->backlog, __ATOMIC_RELAXED);
	if (n <= CONN_OUT_HIGH)
		return false;
	c->congested_seen = true; /* conn_flush reports the drain */
	if (c->proxy && c->link != NULL) {
		__atomic_store_n(&c->link->congested, true, __ATOMIC_SEQ_CST);
		/* The client's loop may have drained between our read and
		 * the flag, and found no flag to answer: look again. It
		 * stores the level before it takes the flag, both seq_cst,
		 * so one of us sees the other. */
		n = evbuffer_get_length(c->out) +
		    __atomic_load_n(&c->link->backlog, __ATOMIC_SEQ_CST);
		if (n <= CONN_OUT_HIGH)
			return false;
	}
	return true;
}

static void
conn_mark_dirty(struct conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	TAILQ_INSERT_TAIL(&conns.dirty, c, dirty_link);
}

/*
 * The input clock: a frame gets one deadline, frame_timeout from its
 * first byte, however its bytes trickle in after it. Restarting it on
 * every read let a client announce a 1 MiB frame and send a byte every
 * frame_timeout_ms, holding the buffer (and the fd) for ever. on false
 * stops it; on true starts it unless it runs already.
 */
static void
conn_in_clock(struct conn *c, bool on)
{
	if (on == c->in_clock)
		return;
	if (on)
		evtimer_add(c->ev_stall, &conns.frame_timeout);
	else
		evtimer_del(c->ev_stall);
	c->in_clock = on;
}

/*
 * The output clock, started when c's output passes CONN_OUT_HIGH and
 * stopped once it falls below CONN_OUT_LOW: within every frame_timeout
 * the client must take CONN_OUT_LOW bytes of it (conn_flush), or it is
 * closed. Re-arming on any write let a client that reads a byte at a
 * time keep megabytes of output for ever; this asks for a rate (256 KiB
 * per 30 s by default) that no client that reads at all falls below.
 */
static void
conn_out_check(struct conn *c)
{
	if (c->proxy || c->out_clock ||
	    evbuffer_get_length(c->out) <= CONN_OUT_HIGH)
		return;
	c->out_clock = true;
	c->out_taken = 0;
	evtimer_add(c->ev_drain, &conns.frame_timeout);
}

/* Appends one framed reply to buf. Returns 0, -EMSGSIZE or -ENOMEM. */
static int
conn_pack(struct evbuffer *buf, const Evd__Reply *r)
{
	/* The hottest replies skip protobuf-c's descriptor walk (wire.h). */
	size_t fast = wire_reply_size(r);
	size_t n = fast > 0 ? fast : evd__reply__get_packed_size(r);
	struct evbuffer_iovec iov;
	uint8_t *p;

	if (n == 0 || n > UINT32_MAX)
		return -EMSGSIZE;
	if (evbuffer_reserve_space(buf, (ev_ssize_t)(n + FRAME_HEADER_LEN),
	                           &iov, 1) != 1)
		return -ENOMEM;
	p = iov.iov_base;
	frame_put_header(p, n);
	if (fast > 0)
		wire_reply_pack(r, p + FRAME_HEADER_LEN);
	else
		evd__reply__pack(r, p + FRAME_HEADER_LEN);
	iov.iov_len = n + FRAME_HEADER_LEN;
	if (evbuffer_commit_space(buf, &iov, 1) < 0)
		return -ENOMEM;
	return 0;
}

int
conn_send(struct conn *c, const Evd__Reply *r)
{
	int e;

	if (c->closed || c->closing)
		return -EPIPE;
	if ((e = conn_pack(c->out, r)) < 0) {
		conn_close(c, e == -EMSGSIZE ? "reply too large to frame"
		                             : "out of memory for output");
		return e;
	}
	if (evbuffer_get_length(c->out) > CONN_OUT_MAX) {
		conn_close(c, "output limit reached: the client does not read");
		return -ENOBUFS;
	}
	conn_out_check(c);
	conn_mark_dirty(c);
	return 0;
}

int
conn_send_durable(struct conn *c, const Evd__Reply *r)
{
	struct conn_durable *d;
	size_t off;

	if (c->closed || c->closing)
		return -EPIPE;
	if (c->ndurable == c->durable_cap) {
		size_t ncap = c->durable_cap == 0 ? 16 : 2 * c->durable_cap;

		if ((d = reallocarray(c->durable, ncap, sizeof *d)) == NULL) {
			conn_close(c, "out of memory for output");
			return -ENOMEM;
		}
		c->durable = d;
		c->durable_cap = ncap;
	}
	off = evbuffer_get_length(c->out);
	d = &c->durable[c->ndurable++];
	d->off = off;
	d->iter = conns.iter;
	d->has_request_id = r->has_request_id;
	d->request_id = r->request_id;
	return conn_send(c, r);
}

/*
 * The batches of iterations from `from` on were lost: every durable reply
 * they sent becomes an UNAVAILABLE error with the same request id;
 * everything else in the output stays as it was, in order. Nothing from
 * the first such reply on has left (it all waits for a flush that does
 * not cover it), and holds that reached into it now reach to the end, so
 * a frame whose length changed is never cut.
 */
static void
conn_rewrite_failed(struct conn *c, const char *why, uint64_t from)
{
	Evd__Reply reply = EVD__REPLY__INIT;
	Evd__Error err = EVD__ERROR__INIT;
	struct evbuffer *out;
	size_t off, k = 0, k0, start;
	unsigned hi;

	while (k < c->ndurable && c->durable[k].iter < from)
		k++;
	if (k == c->ndurable)
		return;
	k0 = k;
	if ((out = evbuffer_new()) == NULL) {
		conn_close(c, "out of memory for output");
		return;
	}
	err.has_code = true;
	err.code = EVD__ERROR_CODE__UNAVAILABLE;
	err.message = (char *)why;
	reply.body_case = EVD__REPLY__BODY_ERROR;
	reply.error = &err;
	start = off = c->durable[k].off;
	/* Everything before the first lost reply is kept as is. */
	evbuffer_remove_buffer(c->out, out, off);
	while (evbuffer_get_length(c->out) >= FRAME_HEADER_LEN) {
		uint8_t h[FRAME_HEADER_LEN];
		size_t flen;

		evbuffer_copyout(c->out, h, sizeof h);
		flen = FRAME_HEADER_LEN + ((size_t)h[0] << 24 |
		                           (size_t)h[1] << 16 |
		                           (size_t)h[2] << 8 | h[3]);
		if (k < c->ndurable && c->durable[k].off == off) {
			evbuffer_drain(c->out, flen);
			reply.has_request_id = c->durable[k].has_request_id;
			reply.request_id = c->durable[k].request_id;
			if (conn_pack(out, &reply) < 0) {
				evbuffer_free(out);
				conn_close(c, "out of memory for output");
				return;
			}
			k++;
		} else
			evbuffer_remove_buffer(c->out, out, flen);
		off += flen;
	}
	evbuffer_free(c->out);
	c->out = out;
	for (hi = 0; hi < c->nholds; hi++)
		if (c->hold[hi].len > start) {
			c->hold[hi].len = evbuffer_get_length(c->out);
			c->hold[hi].owed = c->owed;
		}
	c->ndurable = k0;
}

int
conn_fail_reply(struct conn *c, bool has_request_id, uint64_t request_id,
                int code, const char *why)
{
	Evd__Reply reply = EVD__REPLY__INIT;
	Evd__Error err = EVD__ERROR__INIT;
	struct evbuffer *out;
	uint8_t h[FRAME_HEADER_LEN];
	size_t k, flen, start, before;
	unsigned hi;

	for (k = 0; k < c->ndurable; k++)
		if (c->durable[k].iter == conns.iter &&
		    c->durable[k].has_request_id == has_request_id &&
		    c->durable[k].request_id == request_id)
			break;
	if (k == c->ndurable)
		return -ENOENT;
	start = c->durable[k].off;
	if (evbuffer_get_length(c->out) < start + FRAME_HEADER_LEN)
		return -ENOENT; /* not ours to rewrite any more */
	if ((out = evbuffer_new()) == NULL) {
		conn_close(c, "out of memory for output");
		return -ENOMEM;
	}
	err.has_code = true;
	err.code = code;
	err.message = (char *)why;
	reply.body_case = EVD__REPLY__BODY_ERROR;
	reply.error = &err;
	reply.has_request_id = has_request_id;
	reply.request_id = request_id;
	/* What comes before and after the reply stays as it was. */
	evbuffer_remove_buffer(c->out, out, start);
	evbuffer_copyout(c->out, h, sizeof h);
	flen = FRAME_HEADER_LEN + ((size_t)h[0] << 24 | (size_t)h[1] << 16 |
	                           (size_t)h[2] << 8 | h[3]);
	evbuffer_drain(c->out, flen);
	if (conn_pack(out, &reply) < 0) {
		evbuffer_free(out);
		conn_close(c, "out of memory for output");
		return -ENOMEM;
	}
	before = evbuffer_get_length(out);
	evbuffer_add_buffer(out, c->out);
	evbuffer_free(c->out);
	c->out = out;
	/* The later durable replies moved by the difference; this one is
	 * an error now, and nothing later turns it into another. */
	for (size_t j = k + 1; j < c->ndurable; j++)
		c->durable[j].off = c->durable[j].off - (start + flen) + before;
	memmove(c->durable + k, c->durable + k + 1,
	        (c->ndurable - k - 1) * sizeof *c->durable);
	c->ndurable--;
	for (hi = 0; hi < c->nholds; hi++)
		if (c->hold[hi].len > start)
			c->hold[hi].len = evbuffer_get_length(c->out);
	return 0;
}

/* Durable replies that may leave now can no longer be lost. */
static void
conn_durable_settle(struct conn *c)
{
	size_t k = 0;

	while (k < c->ndurable && c->durable[k].off < c->out_ok)
		k++;
	if (k == 0)
		return;
	c->ndurable -= k;
	memmove(c->durable, c->durable + k, c->ndurable * sizeof *c->durable);
}

static void
conn_lose_list(struct conn_list *list, bool dirty, const char *why,
               uint64_t from)
{
	struct conn *c, *next;

	for (c = TAILQ_FIRST(list); c != NULL; c = next) {
		next = dirty ? TAILQ_NEXT(c, dirty_link)
		             : TAILQ_NEXT(c, held_link);
		if (c->ndurable > 0)
			conn_rewrite_failed(c, why, from); /* may close c */
	}
}

void
conn_batch_end(uint64_t lost, const char *why)
{
	uint64_t from = conns.iter + 1 - lost;

	if (lost > 0) {
		/* Lost replies of earlier iterations wait on held conns,
		 * this iteration's on dirty ones. */
		conn_lose_list(&conns.held, false, why, from);
		conn_lose_list(&conns.dirty, true, why, from);
	}
	conns.iter++;
}

void
conn_hold(uint64_t gen)
{
	struct conn *c;

	TAILQ_FOREACH(c, &conns.dirty, dirty_link) {
		size_t len = evbuffer_get_length(c->out);
		struct conn_hold *h;

		if (gen == 0) {
			/* Every flush ended, and conn_release ran for it. */
			c->out_ok = len;
			c->owed_ok = c->owed;
			c->ndurable = 0;
			if (c->nholds > 0) {
				TAILQ_REMOVE(&conns.held, c, held_link);
				c->nholds = 0;
			}
			continue;
		}
		h = c->nholds > 0 ? &c->hold[c->nholds - 1] : NULL;
		if (h != NULL ? h->len == len : c->out_ok == len)
			continue; /* nothing new since */
		if (h == NULL || h->gen != gen) {
			if (c->nholds == 0)
				TAILQ_INSERT_TAIL(&conns.held, c, held_link);
			/* Generations grow by one at a time while one is
			 * flushed: a third never waits beside two. */
			h = &c->hold[c->nholds < 2 ? c->nholds++ : 1];
			h->gen = gen;
		}
		h->len = len;
		h->owed = c->owed;
	}
}

void
conn_release(uint64_t gen)
{
	struct conn *c, *next;

	for (c = TAILQ_FIRST(&conns.held); c != NULL; c = next) {
		unsigned k = 0;

		next = TAILQ_NEXT(c, held_link);
		while (k < c->nholds && c->hold[k].gen <= gen) {
			c->out_ok = c->hold[k].len;
			c->owed_ok = c->hold[k].owed;
			k++;
		}
		if (k == 0)
			continue;
		c->nholds -= k;
		if (c->nholds > 0)
			c->hold[0] = c->hold[1];
		else
			TAILQ_REMOVE(&conns.held, c, held_link);
		conn_durable_settle(c);
		conn_mark_dirty(c);
	}
}

/* n bytes (and owed replies) left the head of c's output. */
static void
conn_out_taken(struct conn *c, size_t n, uint32_t owed)
{
	unsigned k;
	size_t d;

	c->out_ok -= n;
	c->owed_ok -= owed;
	for (k = 0; k < c->nholds; k++) {
		c->hold[k].len -= n;
		c->hold[k].owed -= owed;
	}
	/* Only what was released left, and it held no durable reply. */
	for (d = 0; d < c->ndurable; d++)
		c->durable[d].off -= n;
}

/* ---- multi-loop: forwarding to the loop that owns what a request is
 * about, and proxies standing for clients of other loops (shard.h) ---- */

static uint64_t
conn_proxy_key(unsigned home, uint64_t remote_id)
{
	return (uint64_t)home << SHARD_ID_BITS | remote_id;
}

/* Posts m to loop to, unless this loop is shutting down. */
static void
conn_post(unsigned to, struct shard_msg *m)
{
	if (conns.stopping) {
		conn_msg_free(m);
		return;
	}
	shard_post(to, m);
}

static struct conn_link *
conn_link_get(struct conn *c)
{
	if (c->link == NULL) {
		if ((c->link = calloc(1, sizeof *c->link)) == NULL)
			return NULL;
		c->link->refs = 1;
	}
	__atomic_add_fetch(&c->link->refs, 1, __ATOMIC_RELAXED);
	return c->link;
}

/* A FORWARD message for loop to carrying c's credentials. */
static struct shard_msg *
conn_fwd_msg(struct conn *c)
{
	struct shard_msg *m = shard_msg_new(SHARD_MSG_FORWARD);

	if (m == NULL)
		return NULL;
	m->conn_id = c->id;
	m->uid = c->uid;
	m->gid = c->gid;
	m->pid = c->pid;
	m->peer = c->peer;
	if (c->ngroups > 0) {
		if ((m->groups = malloc(c->ngroups * sizeof *c->groups)) ==
		    NULL) {
			conn_msg_free(m);
			return NULL;
		}
		memcpy(m->groups, c->groups, c->ngroups * sizeof *c->groups);
		m->ngroups = c->ngroups;
	}
	if ((m->link = conn_link_get(c)) == NULL) {
		conn_msg_free(m);
		return NULL;
	}
	return m;
}

/* Stops reading c until what it forwarded is answered. */
static void
conn_fwd_stall(struct conn *c)
{
	c->fwd_stalled = true;
	event_del(c->ev_read);
}

/* Resumes c once nothing it forwarded is unanswered. */
static void
conn_fwd_settle(struct conn *c)
{
	if (!c->fwd_stalled || c->fwd_pending > 0 || c->fwd_nbuf > 0 ||
	    c->gather != NULL)
		return;
	c->fwd_stalled = false;
	if (c->paused || c->closing)
		return;
	/* Frames that waited are processed in the next iteration (inside
	 * its batch), as after a pause. */
	event_add(c->ev_read, NULL);
	event_active(c->ev_read, EV_READ, 0);
}

/* Posts the frames gathered for c->fwd_target. Returns 0 or -ENOMEM. */
static int
conn_fwd_post(struct conn *c)
{
	struct shard_msg *m;

	if (c->fwd_nbuf == 0)
		return 0;
	if ((m = conn_fwd_msg(c)) == NULL)
		return -ENOMEM;
	evbuffer_add_buffer(m->buf, c->fwd_buf);
	m->nreplies = c->fwd_nbuf;
	c->fwd_nbuf = 0;
	c->fwd_mask |= 1u << c->fwd_target;
	conn_post((unsigned)c->fwd_target, m);
	return 0;
}

static int
conn_fwd_add(struct conn *c, int to, const uint8_t *frame, size_t len)
{
	if (c->fwd_buf == NULL && (c->fwd_buf = evbuffer_new()) == NULL)
		return -ENOMEM;
	if (evbuffer_add(c->fwd_buf, frame, len) < 0)
		return -ENOMEM;
	c->fwd_target = to;
	c->fwd_nbuf++;
	c->fwd_pending++;
	return 0;
}

/* Sends a ROUTE_ALL request to every loop (this one included, through
 * its own inbox, so every part is made the same way). */
static int
conn_gather_start(struct conn *c, const uint8_t *body, size_t len)
{
	unsigned k, n = shard_count();
	struct shard_msg *m[SHARD_MAX] = { NULL };
	uint8_t hdr[FRAME_HEADER_LEN];

	if ((c->gather = calloc(1, sizeof *c->gather)) == NULL ||
	    (c->gather->body = malloc(len)) == NULL)
		goto nomem;
	memcpy(c->gather->body, body, len);
	c->gather->len = len;
	frame_put_header(hdr, len);
	for (k = 0; k < n; k++)
		if ((m[k] = conn_fwd_msg(c)) == NULL ||
		    evbuffer_add(m[k]->buf, hdr, sizeof hdr) < 0 ||
		    evbuffer_add(m[k]->buf, body, len) < 0)
			goto nomem;
	for (k = 0; k < n; k++) {
		m[k]->gather = true;
		m[k]->nreplies = 1;
		c->fwd_mask |= 1u << k;
		conn_post(k, m[k]);
	}
	return 0;
nomem:
	for (k = 0; k < n; k++)
		conn_msg_free(m[k]);
	conn_gather_free(c);
	return -ENOMEM;
}

static void
conn_gather_part(struct conn *c, struct shard_msg *m)
{
	struct conn_gather *g = c->gather;
	unsigned n = shard_count();

	if (g == NULL || g->parts[m->from] != NULL)
		return; /* not asked for: ignore */
	g->parts[m->from] = m->buf;
	m->buf = NULL;
	if (++g->got < n)
		return;
	if (conns.ops->merge(c, conn_peer_of(c), g->body, g->len, g->parts, n) < 0 ||
	    conn_lookup(c->id) != c)
		return;
	conn_gather_free(c);
	conn_fwd_settle(c);
}

/*
 * Decodes and dispatches, or forwards, every complete frame of a client
 * of a multi-loop evd. A request for this loop runs only when nothing
 * forwarded is unanswered, and a request for another loop is forwarded
 * only when no third loop has unanswered ones: replies keep request
 * order without a reorder buffer.
 */
/*
 * The next whole frame of c's input at off: 1 with *body, *blen and the
 * frame's length with its header in *ret_len; 0 when more bytes are
 * needed or c's output paused it; -1 after a bad length (reported, and
 * c is closing).
 */
static int
conn_next_frame(struct conn *c, size_t off, const uint8_t **body,
                size_t *blen, size_t *ret_len)
{
	long r;

	if (evbuffer_get_length(c->out) > CONN_OUT_HIGH) {
		conn_pause(c);
		return 0;
	}
	r = frame_decode(c->in + off, c->in_len - off, conns.max_frame, body,
	                 blen);
	if (r == 0)
		return 0;
	if (r < 0) {
		conn_protocol_error(c, r == -EMSGSIZE
		                               ? "frame length above the maximum"
		                               : "frame length of zero");
		return -1;
	}
	*ret_len = (size_t)r;
	return 1;
}

static void
conn_process_routed(struct conn *c)
{
	uint64_t id = c->id;
	int self = (int)shard_self();
	size_t off = 0;

	while (off < c->in_len && !c->fwd_stalled) {
		const uint8_t *body;
		size_t blen, r;
		int rd, to;

		if (conn_next_frame(c, off, &body, &blen, &r) <= 0)
			break;
		if (conns.ops->decode(conn_peer_of(c), body, blen, &to) < 0) {
			conn_protocol_error(c, "undecodable request");
			break;
		}
		if (to == self && c->fwd_pending == 0) {
			rd = conns.ops->run(c, conn_peer_of(c));
			if (rd < 0 || conn_lookup(id) != c)
				return; /* closed */
			off += r;
			continue;
		}
		conns.ops->discard();
		if (to == self || to == ROUTE_ALL ||
		    (c->fwd_pending > 0 && c->fwd_target != to)) {
			/* After what is unanswered; ROUTE_ALL alone. */
			if (c->fwd_pending > 0) {
				conn_fwd_stall(c);
				break;
			}
			if (conn_gather_start(c, body, blen) < 0) {
				conn_close(c, "out of memory for a request");
				return;
			}
			off += r;
			conn_fwd_stall(c);
			break;
		}
		if (conn_fwd_add(c, to, c->in + off, r) < 0) {
			conn_close(c, "out of memory for a request");
			return;
		}
		off += r;
	}
	if (conn_fwd_post(c) < 0) {
		conn_close(c, "out of memory for a request");
		return;
	}
	if (conn_lookup(id) != c)
		return;
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
		conn_in_clock(c, false); /* as in conn_process_frames */
	}
}

/* The proxy for a forwarded request's client, made on first use. */
static struct conn *
conn_proxy_get(struct shard_msg *m)
{
	uint64_t key = conn_proxy_key(m->from, m->conn_id);
	struct conn *p = idmap_get(conns.proxies, key);

	if (p != NULL)
		return p;
	if ((p = calloc(1, sizeof *p)) == NULL)
		return NULL;
	p->proxy = true;
	p->fd = -1;
	p->fwd_target = -1;
	p->home = m->from;
	p->remote_id = m->conn_id;
	p->uid = m->uid;
	p->gid = m->gid;
	p->pid = m->pid;
	p->peer = m->peer;
	p->groups = m->groups;
	p->ngroups = m->ngroups;
	m->groups = NULL;
	p->greeted = true; /* the client's loop saw its Hello */
	p->link = m->link;
	m->link = NULL;
	p->id = conn_next_id();
	if ((p->out = evbuffer_new()) == NULL ||
	    idmap_put(conns.proxies, key, p) < 0) {
		conn_free(p);
		return NULL;
	}
	if (idmap_put(conns.by_id, p->id, p) < 0) {
		idmap_del(conns.proxies, key);
		conn_free(p);
		return NULL;
	}
	return p;
}

/* Ships p's output (and how many replies it holds) to its client. */
static void
conn_proxy_ship(struct conn *p, bool gather)
{
	struct shard_msg *m;

	if (p->out_ok == 0 && p->owed_ok == 0 && !gather)
		return;
	if ((m = shard_msg_new(SHARD_MSG_OUTPUT)) == NULL) {
		/* The client would wait for these replies forever. */
		conn_close(p, "out of memory for output");
		return;
	}
	m->conn_id = p->remote_id;
	m->nreplies = p->owed_ok;
	if (evbuffer_remove_buffer(p->out, m->buf, p->out_ok) !=
	    (int)p->out_ok) {
		shard_msg_free(m);
		conn_close(p, "out of memory for output");
		return;
	}
	p->owed -= p->owed_ok;
	conn_out_taken(p, p->out_ok, p->owed_ok);
	m->gather = gather;
	conn_post(p->home, m);
}

/*
 * A merged request's part travels at once, and what the proxy owes goes
 * before it, held or not: the client's loop stalls this client until the
 * part is in, so nothing else of it can be waiting for a flush, and the
 * part (like List's on any loop) may show the state of a batch whose
 * flush is still running.
 */
static void
conn_proxy_ship_all(struct conn *p, bool gather)
{
	p->out_ok = evbuffer_get_length(p->out);
	p->owed_ok = p->owed;
	p->ndurable = 0;
	if (p->nholds > 0) {
		TAILQ_REMOVE(&conns.held, p, held_link);
		p->nholds = 0;
	}
	conn_proxy_ship(p, gather);
}

static void
conn_proxy_closed(struct conn *p, const char *why)
{
	struct shard_msg *m;

	idmap_del(conns.proxies, conn_proxy_key(p->home, p->remote_id));
	/* The client goes too (it may be gone already: then this is
	 * dropped there). */
	if ((m = shard_msg_new(SHARD_MSG_OUTPUT)) != NULL) {
		m->conn_id = p->remote_id;
		m->close = true;
		snprintf(m->why, sizeof m->why, "%s", why);
		conn_post(p->home, m);
	}
}

static void
conn_client_closed(struct conn *c)
{
	unsigned k;

	for (k = 0; k < SHARD_MAX; k++) {
		struct shard_msg *m;

		if (!(c->fwd_mask & (1u << k)) ||
		    (m = shard_msg_new(SHARD_MSG_GONE)) == NULL)
			continue;
		m->conn_id = c->id;
		conn_post(k, m);
	}
	c->fwd_mask = 0;
}

/* Runs the frames of a FORWARD message on the client's proxy. */
static void
conn_forwarded_frames(struct shard_msg *m)
{
	struct conn *p = conn_proxy_get(m);
	uint8_t hdr[FRAME_HEADER_LEN];
	uint64_t pid;

	if (p == NULL) {
		struct shard_msg *o = shard_msg_new(SHARD_MSG_OUTPUT);

		log_warnx("out of memory for a connection of loop %u",
		          m->from);
		if (o != NULL) {
			o->conn_id = m->conn_id;
			o->close = true;
			snprintf(o->why, sizeof o->why, "out of memory");
			conn_post(m->from, o);
		}
		return;
	}
	pid = p->id;
	/* A merged request's part travels alone: what the proxy owes goes
	 * first. */
	if (m->gather)
		conn_proxy_ship_all(p, false);
	while (evbuffer_copyout(m->buf, hdr, sizeof hdr) == sizeof hdr) {
		size_t len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 |
		             (size_t)hdr[2] << 8 | hdr[3];
		uint8_t *f = evbuffer_pullup(m->buf,
		                             (ev_ssize_t)(len + sizeof hdr));

		if (f == NULL)
			break;
		/* The client's loop decoded it: this cannot fail to. */
		(void)conns.ops->frame(p, conn_peer_of(p), f + sizeof hdr, len);
		if (conn_lookup(pid) != p)
			return;
		p->owed++;
		evbuffer_drain(m->buf, len + sizeof hdr);
	}
	if (m->gather)
		conn_proxy_ship_all(p, true);
}

/* Runs the frames of a FORWARD message: one batch (clock.h). */
static void
conn_forwarded(struct shard_msg *m)
{
	clock_batch_begin();
	conn_forwarded_frames(m);
	clock_batch_end();
}

/* An OUTPUT message: replies and events from a proxy, for client c. */
static void
conn_output(struct shard_msg *m)
{
	struct conn *c = conn_lookup(m->conn_id);

	if (c == NULL || c->proxy || c->closed)
		return;
	if (m->gather) {
		conn_gather_part(c, m);
		return;
	}
	if (evbuffer_get_length(m->buf) > 0) {
		evbuffer_add_buffer(c->out, m->buf);
		conn_mark_dirty(c);
	}
	c->fwd_pending -= m->nreplies < c->fwd_pending ? m->nreplies
	                                               : c->fwd_pending;
	if (m->close) {
		conn_close(c, m->why);
		return;
	}
	if (evbuffer_get_length(c->out) > CONN_OUT_MAX) {
		conn_close(c, "output limit reached: the client does not read");
		return;
	}
	conn_out_check(c);
	conn_fwd_settle(c);
}

void
conn_shard_msg(struct shard_msg *m)
{
	struct conn *p;

	switch (m->kind) {
	case SHARD_MSG_CONN:
		/* conn_new takes the fd, and closes it on failure. */
		if (conn_new(m->fd, m->resolved) == -ENOMEM)
			log_warnx("dropping a new connection: out of memory");
		m->fd = -1;
		break;
	case SHARD_MSG_FORWARD:
		conn_forwarded(m);
		break;
	case SHARD_MSG_OUTPUT:
		conn_output(m);
		break;
	case SHARD_MSG_GONE:
		p = idmap_get(conns.proxies,
		              conn_proxy_key(m->from, m->conn_id));
		if (p != NULL)
			conn_close(p, "client connection closed");
		break;
	case SHARD_MSG_DRAINED:
		p = idmap_get(conns.proxies,
		              conn_proxy_key(m->from, m->conn_id));
		if (p != NULL && p->congested_seen) {
			p->congested_seen = false;
			conns.ops->drained(p->id);
		}
		break;
	}
	conn_msg_free(m);
}

/* A client's output level, for its proxies' congestion checks, and the
 * drain they wait for. */
static void
conn_link_update(struct conn *c)
{
	size_t n = evbuffer_get_length(c->out);
	unsigned k;

	if (c->link == NULL)
		return;
	__atomic_store_n(&c->link->backlog, n, __ATOMIC_SEQ_CST);
	if (n >= CONN_OUT_LOW ||
	    !__atomic_exchange_n(&c->link->congested, false, __ATOMIC_SEQ_CST))
		return;
	for (k = 0; k < SHARD_MAX; k++) {
		struct shard_msg *m;

		if (!(c->fwd_mask & (1u << k)) ||
		    (m = shard_msg_new(SHARD_MSG_DRAINED)) == NULL)
			continue;
		m->conn_id = c->id;
		conn_post(k, m);
	}
}

void
conn_close(struct conn *c, const char *why)
{
	if (c->closed)
		return;
	c->closed = true;
	if (c->uid_counted) {
		conn_uid_give(c->uid);
		c->uid_counted = false;
	}
	log_debug("connection %" PRIu64 " (pid %ld uid %u) closed: %s",
		          c->id, (long)c->pid, (unsigned)c->uid, why);
	idmap_del(conns.by_id, c->id);
	if (c->dirty) {
		TAILQ_REMOVE(&conns.dirty, c, dirty_link);
		c->dirty = false;
	}
	if (c->nholds > 0) {
		TAILQ_REMOVE(&conns.held, c, held_link);
		c->nholds = 0;
	}
	if (c->proxy)
		conn_proxy_closed(c, why);
	else {
		event_del(c->ev_read);
		event_del(c->ev_write);
		event_del(c->ev_stall);
		event_del(c->ev_drain);
		close(c->fd);
		c->fd = -1;
		conns.count--;
		conn_client_closed(c);
	}
	/* The conn is unreachable by id from here on, so what these do
	 * cannot come back to it. */
	conns.ops->gone(c->id);
	TAILQ_INSERT_TAIL(&conns.dead, c, dead_link);
	event_active(conns.reap_ev, 0, 0);
}

static void
conn_reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&conns.dead)) != NULL) {
		TAILQ_REMOVE(&conns.dead, c, dead_link);
		conn_free(c);
	}
}

/* Sends an Error event (no request id) and closes: the peer broke the
 * protocol, so nothing after this frame can be trusted. */
static void
conn_protocol_error(struct conn *c, const char *msg)
{
	Evd__Reply reply = EVD__REPLY__INIT;
	Evd__Error err = EVD__ERROR__INIT;

	log_info("connection %" PRIu64 " (pid %ld uid %u): protocol error: %s",
	         c->id, (long)c->pid, (unsigned)c->uid, msg);
	err.has_code = true;
	err.code = EVD__ERROR_CODE__PROTOCOL;
	err.message = (char *)msg;
	reply.body_case = EVD__REPLY__BODY_ERROR;
	reply.error = &err;
	if (conn_send(c, &reply) < 0)
		return; /* closed already */
	/* Nothing more is read from it; what it is owed (replies committed
	 * at the end of this iteration, and this error) is written once,
	 * then it closes. */
	c->closing = true;
	c->closing_why = msg;
	event_del(c->ev_read);
}

void
conn_close_after_output(struct conn *c, const char *why)
{
	if (c->proxy) {
		/* Before Hello nothing is forwarded; a proxy never gets
		 * here, but if it did its client's loop decides. */
		return;
	}
	c->closing = true;
	c->closing_why = why;
	event_del(c->ev_read);
}

static void
conn_update_write(struct conn *c)
{
	bool want = c->out_ok > 0;

	if (want == c->write_armed)
		return;
	if (want)
		event_add(c->ev_write, NULL);
	else
		event_del(c->ev_write);
	c->write_armed = want;
}

/* Writes what the kernel takes now, and once the output is below the
 * low-water mark resumes what the high-water mark held back. Returns 0,
 * or -1 if c was closed. */
static int
conn_flush(struct conn *c)
{
	uint64_t id = c->id;
	int n;

	if (c->proxy) {
		conn_proxy_ship(c, false);
		return conn_lookup(id) == c ? 0 : -1;
	}
	if (c->out_ok > 0) {
		n = evbuffer_write_atmost(c->out, c->fd, (ev_ssize_t)c->out_ok);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_close(c, strerror(errno));
			return -1;
		}
		if (n > 0)
			conn_out_taken(c, (size_t)n, 0);
		/* A client that takes its output is slow, not stalled:
		 * its clock starts again each CONN_OUT_LOW bytes taken. */
		if (n > 0 && c->out_clock &&
		    (c->out_taken += (size_t)n) >= CONN_OUT_LOW) {
			c->out_taken = 0;
			evtimer_add(c->ev_drain, &conns.frame_timeout);
		}
	}
	/* Closing waits for what is held: it is owed too. */
	if (c->closing && c->nholds == 0 &&
	    (!c->drain || evbuffer_get_length(c->out) == 0)) {
		conn_close(c, c->closing_why);
		return -1;
	}
	conn_update_write(c);
	conn_link_update(c);
	if (evbuffer_get_length(c->out) >= CONN_OUT_LOW)
		return 0;
	if (c->out_clock) {
		c->out_clock = false;
		evtimer_del(c->ev_drain);
	}
	if (c->congested_seen) {
		c->congested_seen = false;
		conns.ops->drained(id);
		if (conn_lookup(id) != c)
			return -1;
	}
	if (c->paused) {
		c->paused = false;
		if (c->fwd_stalled)
			return 0; /* resumes when the answers are in */
		/* Frames that waited in the input buffer are processed in the
		 * next iteration, inside its batch, never here after the
		 * commit. */
		event_add(c->ev_read, NULL);
		event_active(c->ev_read, EV_READ, 0);
	}
	return 0;
}

void
conn_flush_all(void)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&conns.dirty)) != NULL) {
		TAILQ_REMOVE(&conns.dirty, c, dirty_link);
		c->dirty = false;
		conn_flush(c);
	}
}

static int64_t
conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
conn_drain(int timeout_ms)
{
	int64_t deadline = conn_now_ms() + timeout_ms;
	struct pollfd *pfd = NULL;
	struct conn **who = NULL;

	for (;;) {
		struct conn *c;
		size_t iter = 0, n = 0;
		int64_t left;

		conn_flush_all();
		free(pfd);
		free(who);
		pfd = calloc(conns.count + 1, sizeof *pfd);
		who = calloc(conns.count + 1, sizeof *who);
		if (pfd == NULL || who == NULL)
			break;
		while ((c = idmap_next(conns.by_id, &iter, NULL)) != NULL) {
			if (c->proxy || evbuffer_get_length(c->out) == 0)
				continue;
			pfd[n].fd = c->fd;
			pfd[n].events = POLLOUT;
			who[n++] = c;
		}
		left = deadline - conn_now_ms();
		if (n == 0 || left <= 0 || poll(pfd, n, (int)left) <= 0)
			break;
		for (size_t i = 0; i < n; i++)
			if (pfd[i].revents != 0)
				conn_mark_dirty(who[i]);
	}
	free(pfd);
	free(who);
}

/*
 * Decodes and dispatches every complete frame in the input buffer,
 * stopping early when the output passes the high-water mark (the rest
 * waits for conn_flush to drain it) or when the conn closes.
 */
static void
conn_process_frames(struct conn *c)
{
	uint64_t id = c->id;
	size_t off = 0;

	if (shard_count() > 1) {
		conn_process_routed(c);
		return;
	}
	while (off < c->in_len) {
		const uint8_t *body;
		size_t blen, r;
		int rd, k;

		if ((k = conn_next_frame(c, off, &body, &blen, &r)) < 0)
			return;
		if (k == 0)
			break;
		rd = conns.ops->frame(c, conn_peer_of(c), body, blen);
		if (rd == -EBADMSG) {
			conn_protocol_error(c, "undecodable request");
			return;
		}
		if (rd < 0 || conn_lookup(id) != c)
			return; /* closed */
		off += r;
	}
	if (off > 0) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
		/* Whole frames left: the clock was theirs. What remains
		 * is a new frame, with a deadline of its own. */
		conn_in_clock(c, false);
	}
}

/* The frames read from c in one go are one batch (clock.h). */
static void
conn_process(struct conn *c)
{
	clock_batch_begin();
	conn_process_frames(c);
	clock_batch_end();
}

/* Makes room for the next read: at least CONN_READ_CHUNK, and the whole
 * of a frame whose header has arrived (its size is already checked). */
static int
conn_reserve_input(struct conn *c)
{
	size_t need = c->in_len + CONN_READ_CHUNK;
	uint8_t *p;

	if (c->in_len >= FRAME_HEADER_LEN) {
		size_t flen = (size_t)c->in[0] << 24 | (size_t)c->in[1] << 16 |
		              (size_t)c->in[2] << 8 | (size_t)c->in[3];

		if (flen <= conns.max_frame &&
		    flen + FRAME_HEADER_LEN > c->in_len)
			need = flen + FRAME_HEADER_LEN;
	}
	if (need <= c->in_cap)
		return 0;
	if ((p = realloc(c->in, need)) == NULL)
		return -ENOMEM;
	c->in = p;
	c->in_cap = need;
	return 0;
}

static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	ssize_t n;

	/* Nothing more is read while forwarded requests are unanswered:
	 * the input buffer stays bounded. */
	if (c->fwd_stalled) {
		event_del(c->ev_read);
		return;
	}
	if (conn_reserve_input(c) < 0) {
		conn_close(c, "out of memory for input");
		return;
	}
	n = read(fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n == 0) {
		/* The peer may only have shut down its sending side: answer
		 * every complete request it sent, then close once the output
		 * is written. */
		conn_process(c);
		if (conn_lookup(c->id) != c || c->paused || c->closing ||
		    c->fwd_stalled)
			return; /* a pause resumes through this path again */
		/* Requests another loop runs are owed their replies too: wait
		 * for them, then come back here (conn_fwd_settle). */
		if (c->fwd_pending > 0 || c->fwd_nbuf > 0 || c->gather != NULL) {
			conn_fwd_stall(c);
			return;
		}
		c->closing = true;
		c->drain = true;
		c->closing_why = c->in_len > 0 ? "peer closed mid-frame"
		                               : "peer closed";
		event_del(c->ev_read);
		conn_mark_dirty(c);
		return;
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		conn_close(c, strerror(errno));
		return;
	}
	/* EAGAIN: a resumed conn still has frames waiting in its buffer. */
	if (n > 0)
		c->in_len += (size_t)n;
	conn_process(c);
	if (conn_lookup(c->id) != c)
		return;
	/* Part of a frame waits for the rest: its clock runs from its first
	 * byte (conn_in_clock). While evd itself does not read (paused by
	 * its output, or waiting for other loops), the client holds nothing
	 * up: no clock, and a fresh one once reading resumes. */
	conn_in_clock(c, c->in_len > 0 && !c->paused && !c->fwd_stalled);
	/* Shrink a buffer a large frame left behind once it is empty. */
	if (conn_lookup(c->id) == c && c->in_len == 0 &&
	    c->in_cap > 4 * CONN_READ_CHUNK) {
		uint8_t *p = realloc(c->in, CONN_READ_CHUNK);

		if (p != NULL) {
			c->in = p;
			c->in_cap = CONN_READ_CHUNK;
		}
	}
}

/*
 * Stops reading c while its output is above the high-water mark. A client
 * that sends but never reads would otherwise hold its connection, and
 * the output under it, for ever: the output clock (conn_out_check),
 * running since the output passed the mark, closes it unless it takes
 * its output.
 */
static void
conn_pause(struct conn *c)
{
	c->paused = true;
	event_del(c->ev_read);
	conn_in_clock(c, false);
	conn_out_check(c);
}

static void
conn_stall_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	/* A PROTOCOL error like any other (evd.proto): the Error goes out,
	 * nothing more is read, the connection closes. */
	c->in_clock = false;
	conn_protocol_error(c, "a frame not complete within frame_timeout_ms "
	                       "of its first byte");
}

static void
conn_drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	c->out_clock = false;
	log_info("connection %" PRIu64 " (pid %ld uid %u): output above the "
	         "high-water mark and not taken; closing",
	         c->id, (long)c->pid, (unsigned)c->uid);
	conn_close(c, "output not read: timed out");
}

static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	/* Written at the end of the iteration, after its commit. */
	conn_mark_dirty(arg);
}
