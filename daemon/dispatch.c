/*
 * dispatch: unpack, check the greeting, route, pack (see dispatch.h).
 *
 * The one place that turns a handler's outcome into a Reply: handlers
 * never touch the connection's output themselves, and their errnos
 * become ErrorCodes through one table (req_errno).
 */
#include "dispatch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "batch.h"
#include "clock.h"
#include "conn.h"
#include "frame.h"
#include "log.h"
#include "peer.h"
#include "requests.h"
#include "route.h"
#include "shard.h"
#include "wire.h"
#include "wirestr.h"

static const char *dispatch_store = "memory";
static int64_t dispatch_started;

/*
 * One request's memory: the unpacked Request and what handlers allocate
 * for the reply come from a bump arena emptied once the reply is packed,
 * so a request costs no malloc/free per field. What does not fit (a
 * request near the 1 MiB frame limit) falls back to malloc. One request
 * is handled at a time (the loop's thread), so one arena serves all.
 */
#define DISPATCH_ARENA_SIZE (64 * 1024)

static _Thread_local struct {
	_Alignas(max_align_t) uint8_t buf[DISPATCH_ARENA_SIZE];
	size_t used;
	size_t spilled; /* allocations that went to malloc */
} arena;

static bool
arena_owns(const void *p)
{
	return (const uint8_t *)p >= arena.buf &&
	       (const uint8_t *)p < arena.buf + DISPATCH_ARENA_SIZE;
}

static void *
arena_alloc(void *unused, size_t size)
{
	/* Never 0 bytes: a zero-sized block at the very end of the arena
	 * would be a pointer past it, which arena_free takes for malloc's. */
	size_t n = (size + _Alignof(max_align_t) - 1) &
	           ~(_Alignof(max_align_t) - 1);
	void *p;

	if (n == 0)
		n = _Alignof(max_align_t);
	if (n >= size && n <= DISPATCH_ARENA_SIZE - arena.used) {
		p = arena.buf + arena.used;
		arena.used += n;
		return p;
	}
	arena.spilled++;
	return malloc(size == 0 ? 1 : size);
}

static void
arena_free(void *unused, void *p)
{
	if (p != NULL && !arena_owns(p))
		free(p);
}

static ProtobufCAllocator arena_allocator = {
	.alloc = arena_alloc,
	.free = arena_free,
};

/*
 * A request in the arena: the common shapes through wire.c's decoder,
 * the rest (and anything malformed) through protobuf-c. Before
 * protobuf-c, which would cut a string at its first NUL and take bytes
 * that are not UTF-8, every string field is checked on the wire; a bad
 * one still unpacks (the error reply needs the request id) but sets
 * *ret_bad. wire.c's shapes have no string field, so they skip the walk.
 */
static Evd__Request *
dispatch_unpack(size_t len, const uint8_t *body, struct wirestr_bad *bad,
                bool *ret_bad)
{
	Evd__Request *rq = wire_request_unpack(&arena_allocator, len, body);

	*ret_bad = false;
	if (rq != NULL)
		return rq;
	switch (wirestr_check(&evd__request__descriptor, body, len, bad)) {
	case 0:
		break;
	case -EILSEQ:
		*ret_bad = true;
		break;
	default:
		return NULL; /* malformed: protobuf-c refuses it as well */
	}
	return evd__request__unpack(&arena_allocator, len, body);
}

void
dispatch_init(const char *store_name)
{
	dispatch_store = store_name;
	dispatch_started = clock_now_ns(EVD_CLOCK_MONOTONIC);
}

const char *
dispatch_store_name(void)
{
	return dispatch_store;
}

int64_t
dispatch_started_mono_ns(void)
{
	return dispatch_started;
}

/*
 * errno -> ErrorCode, the one table. A handler passes req_errno() the
 * negative errno of an outcome it expects, with its own message; an
 * errno it returns unmapped is a fault of evd's, answered INTERNAL.
 */
static const struct {
	int err;
	int code;
} req_errno_table[] = {
	{ ENOENT, EVD__ERROR_CODE__NOT_FOUND },
	{ EACCES, EVD__ERROR_CODE__PERMISSION_DENIED },
	{ EPERM, EVD__ERROR_CODE__PERMISSION_DENIED },
	{ EDQUOT, EVD__ERROR_CODE__RESOURCE_EXHAUSTED },    /* a uid's quota */
	{ E2BIG, EVD__ERROR_CODE__RESOURCE_EXHAUSTED },     /* a limit */
	{ ENOBUFS, EVD__ERROR_CODE__RESOURCE_EXHAUSTED },   /* a full queue */
	{ EOVERFLOW, EVD__ERROR_CODE__RESOURCE_EXHAUSTED }, /* ids used up */
	{ ENOMEM, EVD__ERROR_CODE__RESOURCE_EXHAUSTED },
	{ EAGAIN, EVD__ERROR_CODE__UNAVAILABLE }, /* the store refuses writes */
	{ EIO, EVD__ERROR_CODE__UNAVAILABLE },    /* a store write failed */
	{ EINVAL, EVD__ERROR_CODE__INVALID_ARGUMENT },
	{ EEXIST, EVD__ERROR_CODE__FAILED_PRECONDITION },
	{ EALREADY, EVD__ERROR_CODE__FAILED_PRECONDITION },
	{ ECANCELED, EVD__ERROR_CODE__FAILED_PRECONDITION },
	{ ENOTSUP, EVD__ERROR_CODE__FAILED_PRECONDITION },
};

int
req_errno_code(int r)
{
	size_t i;

	for (i = 0; i < sizeof req_errno_table / sizeof req_errno_table[0];
	     i++)
		if (req_errno_table[i].err == -r)
			return req_errno_table[i].code;
	return EVD__ERROR_CODE__INTERNAL;
}

static void
req_vfail(struct req_ctx *ctx, int code, const char *fmt, va_list ap)
{
	size_t len, at = 0;

	ctx->err_code = code;
	vsnprintf(ctx->err_msg, sizeof ctx->err_msg, fmt, ap);
	/* A message is a protobuf string: a quoted client string cut by a
	 * precision or by the buffer, or one an older version stored, must
	 * not make the reply undecodable. */
	len = strlen(ctx->err_msg);
	while ((at += wirestr_valid_prefix(ctx->err_msg + at, len - at)) < len)
		ctx->err_msg[at++] = '?';
}

int
req_errno(struct req_ctx *ctx, int r, const char *fmt, ...)
{
	int code = req_errno_code(r);
	const char *why;
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		req_vfail(ctx, code, fmt, ap);
		va_end(ap);
		return -EINVAL;
	}
	if (code == EVD__ERROR_CODE__UNAVAILABLE) {
		why = batch_errmsg();
		if (why[0] == '\0')
			why = "the store failed to write; try again";
		return req_fail(ctx, code, "%s", why);
	}
	if (code == EVD__ERROR_CODE__INTERNAL)
		return req_fail(ctx, code, "internal error: %s", strerror(-r));
	return req_fail(ctx, code, "%s", strerror(-r));
}

int
req_unavailable(struct req_ctx *ctx)
{
	return req_errno(ctx, -EIO, NULL);
}

int
req_fail(struct req_ctx *ctx, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	req_vfail(ctx, code, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void *
req_alloc(struct req_ctx *ctx, size_t size)
{
	void *p;

	if (ctx->nallocs == REQ_MAX_ALLOCS)
		return NULL;
	if ((p = arena_alloc(NULL, size)) == NULL)
		return NULL;
	memset(p, 0, size);
	ctx->allocs[ctx->nallocs++] = p;
	return p;
}

/* Runs rq by its registry entry, unless a string field of it was bad
 * (wirestr.h): then it is refused, after the checks every request gets
 * first. */
static int
dispatch_route(struct req_ctx *ctx, const Evd__Request *rq,
               const struct wirestr_bad *bad)
{
	const struct req_entry *e = req_entry_of(rq->body_case);

	/* Its reply could not be told from an event. */
	if (!rq->has_request_id)
		return req_fail(ctx, EVD__ERROR_CODE__PROTOCOL,
		                "request_id is required");
	if (!ctx->greeted &&
	    (e == NULL || (e->flags & REQ_F_GREETING) == 0))
		return req_fail(ctx, EVD__ERROR_CODE__PROTOCOL,
		                "the first request must be Hello");
	if (bad != NULL)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "%s %s", bad->field, bad->why);
	/* Cluster mode: this uid is someone else on another node, or
	 * could not be checked. */
	if (ctx->peer != NULL && ctx->peer->state == PEER_REFUSED &&
	    (e == NULL || (e->flags & REQ_F_GREETING) == 0))
		return req_fail(ctx, EVD__ERROR_CODE__PERMISSION_DENIED,
		                "uid %u is %s%s here but %s on another node of "
		                "the cluster: its nodes must share one user "
		                "database (evd(8), CLUSTER MODE)",
		                (unsigned)ctx->uid,
		                ctx->peer->name[0] != '\0' ? "" : "no user",
		                ctx->peer->name, ctx->peer->other);
	if (ctx->peer != NULL && ctx->peer->state == PEER_UNCHECKED &&
	    (e == NULL || (e->flags & REQ_F_GREETING) == 0))
		return req_fail(ctx, EVD__ERROR_CODE__UNAVAILABLE,
		                "cannot check who uid %u is across the cluster "
		                "now (the user database or PostgreSQL did not "
		                "answer); reconnect and try again",
		                (unsigned)ctx->uid);
	if (e == NULL)
		/* A newer client's request, or no body at all. */
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "unknown or missing request type");
	return e->run(ctx, rq);
}

/* Multi-loop: the request dispatch_decode unpacked, until it runs or is
 * discarded, and what was wrong with its strings if decoded_bad. */
static _Thread_local Evd__Request *decoded;
static _Thread_local struct wirestr_bad decoded_why;
static _Thread_local bool decoded_bad;

int
dispatch_decode(struct conn_peer peer, const uint8_t *body, size_t len,
                int *ret_route)
{
	arena.used = 0;
	arena.spilled = 0;
	decoded = dispatch_unpack(len, body, &decoded_why, &decoded_bad);
	if (decoded == NULL)
		return -EBADMSG;
	/* Before Hello, and with a bad string, the request is answered
	 * here, with the error. */
	*ret_route = peer.greeted && !decoded_bad
	                     ? route_request(decoded, shard_self(),
	                                     shard_count())
	                     : (int)shard_self();
	return 0;
}

void
dispatch_discard(void)
{
	if (decoded != NULL && arena.spilled > 0)
		evd__request__free_unpacked(decoded, &arena_allocator);
	decoded = NULL;
	arena.used = 0;
}

/* Makes reply the error ctx recorded, or for a handler's unmapped errno
 * r, INTERNAL. err is the reply's storage for it. */
static void
dispatch_error_reply(struct req_ctx *ctx, int r, Evd__Reply *reply,
                     Evd__Error *err)
{
	if (ctx->err_code == 0) {
		ctx->err_code = EVD__ERROR_CODE__INTERNAL;
		snprintf(ctx->err_msg, sizeof ctx->err_msg,
		         "internal error: %s", strerror(-r));
	}
	/* A message cut at REQ_ERRMSG_MAX may end inside a UTF-8
	 * sequence, which strict decoders refuse with the reply. */
	ctx->err_msg[wirestr_valid_prefix(ctx->err_msg,
	                                  strlen(ctx->err_msg))] = '\0';
	reply->body_case = EVD__REPLY__BODY_ERROR;
	err->has_code = true;
	err->code = ctx->err_code;
	err->message = ctx->err_msg;
	reply->error = err;
}

/* Frees what ctx's handler kept for its reply, once it is packed. */
static void
dispatch_ctx_clear(struct req_ctx *ctx)
{
	int i;

	for (i = 0; i < ctx->nallocs; i++)
		arena_free(NULL, ctx->allocs[i]);
	for (i = 0; i < ctx->nunpacked; i++)
		protobuf_c_message_free_unpacked(ctx->unpacked[i], NULL);
}

/* Runs rq (in the arena) for c, or refuses it for its string field bad,
 * packs the reply and empties the arena. */
static int
dispatch_run_request(struct conn *c, const struct conn_peer *peer,
                     Evd__Request *rq, const struct wirestr_bad *bad)
{
	Evd__Reply reply = EVD__REPLY__INIT;
	Evd__Error err = EVD__ERROR__INIT;
	struct req_ctx ctx;
	int r;

	memset(&ctx, 0, sizeof ctx);
	ctx.conn = c;
	ctx.conn_id = peer->conn_id;
	ctx.uid = peer->uid;
	ctx.gid = peer->gid;
	ctx.pid = peer->pid;
	ctx.groups = peer->groups;
	ctx.ngroups = peer->ngroups;
	ctx.peer = peer->name;
	ctx.greeted = peer->greeted;
	ctx.reply = &reply;

	r = dispatch_route(&ctx, rq, bad);
	if (r < 0)
		dispatch_error_reply(&ctx, r, &reply, &err);
	reply.has_request_id = rq->has_request_id;
	reply.request_id = rq->request_id;
	/* A request that wrote to the store is acknowledged only if this
	 * iteration's batch commits; conn rewrites it otherwise. */
	r = ctx.durable && r == 0 ? conn_send_durable(c, &reply)
	                          : conn_send(c, &reply);
	/* One rule for every client to rely on: a PROTOCOL error closes
	 * the connection once what it is owed is written, whatever caused
	 * it; no other error does (after UNSUPPORTED_VERSION a client may
	 * say Hello again with another version). */
	if (r >= 0 && ctx.err_code == EVD__ERROR_CODE__PROTOCOL)
		conn_close_after_output(c, "protocol error");
	dispatch_ctx_clear(&ctx);
	/* All in the arena: emptying it frees the request; walking the
	 * message to free nothing would cost more than its unpacking. */
	if (arena.spilled > 0)
		evd__request__free_unpacked(rq, &arena_allocator);
	arena.used = 0;
	return r < 0 ? -EPIPE : 0;
}

int
dispatch_run(struct conn *c, struct conn_peer peer)
{
	Evd__Request *rq = decoded;

	decoded = NULL;
	return dispatch_run_request(c, &peer, rq,
	                            decoded_bad ? &decoded_why : NULL);
}

int
dispatch_frame(struct conn *c, struct conn_peer peer, const uint8_t *body,
               size_t len)
{
	struct wirestr_bad why;
	Evd__Request *rq;
	bool bad;

	arena.used = 0;
	arena.spilled = 0;
	rq = dispatch_unpack(len, body, &why, &bad);
	if (rq == NULL)
		return -EBADMSG; /* the conn reports it and closes */
	return dispatch_run_request(c, &peer, rq, bad ? &why : NULL);
}

/* One loop's part of a merged List: a framed Reply. */
static Evd__Reply *
dispatch_unpack_part(struct evbuffer *b)
{
	size_t n = b != NULL ? evbuffer_get_length(b) : 0;
	uint8_t *p;

	if (n < FRAME_HEADER_LEN ||
	    (p = evbuffer_pullup(b, (ev_ssize_t)n)) == NULL)
		return NULL;
	return evd__reply__unpack(NULL, n - FRAME_HEADER_LEN,
	                          p + FRAME_HEADER_LEN);
}

int
dispatch_merge(struct conn *c, struct conn_peer peer, const uint8_t *body,
               size_t len, struct evbuffer *const *parts, unsigned n)
{
	Evd__Reply *rp[SHARD_MAX] = { NULL };
	Evd__Reply reply = EVD__REPLY__INIT;
	Evd__Error err = EVD__ERROR__INIT;
	const struct req_entry *e;
	struct req_ctx ctx;
	Evd__Request *rq;
	unsigned i;
	int r = 0;

	arena.used = 0;
	arena.spilled = 0;
	if ((rq = evd__request__unpack(&arena_allocator, len, body)) == NULL)
		return -EBADMSG; /* it decoded when it was forwarded */
	memset(&ctx, 0, sizeof ctx);
	ctx.conn = c;
	ctx.conn_id = peer.conn_id;
	ctx.uid = peer.uid;
	ctx.gid = peer.gid;
	ctx.pid = peer.pid;
	ctx.groups = peer.groups;
	ctx.ngroups = peer.ngroups;
	ctx.peer = peer.name;
	ctx.greeted = peer.greeted;
	ctx.reply = &reply;
	for (i = 0; i < n && r == 0; i++)
		if ((rp[i] = dispatch_unpack_part(parts[i])) == NULL)
			r = req_fail(&ctx, EVD__ERROR_CODE__INTERNAL,
			             "internal error: a loop's answer is "
			             "missing");
	e = req_entry_of(rq->body_case);
	if (r == 0 && (e == NULL || e->merge == NULL))
		r = req_fail(&ctx, EVD__ERROR_CODE__INTERNAL,
		             "internal error: %s answers are not merged",
		             e != NULL ? e->name : "unknown");
	if (r == 0)
		r = e->merge(&ctx, rq, rp, n);
	if (r < 0)
		dispatch_error_reply(&ctx, r, &reply, &err);
	reply.has_request_id = rq->has_request_id;
	reply.request_id = rq->request_id;
	r = conn_send(c, &reply);
	dispatch_ctx_clear(&ctx);
	for (i = 0; i < n; i++)
		if (rp[i] != NULL)
			evd__reply__free_unpacked(rp[i], NULL);
	if (arena.spilled > 0)
		evd__request__free_unpacked(rq, &arena_allocator);
	arena.used = 0;
	return r < 0 ? -EPIPE : 0;
}
