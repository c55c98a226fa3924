/*
 * dispatch: unpack, check the greeting, route, pack (see dispatch.h).
 *
 * The one place that turns a handler's outcome into a Reply: handlers
 * never touch the connection's output themselves.
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

#include "batch.h"
#include "clock.h"
#include "conn.h"
#include "log.h"

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

static struct {
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
	size_t n = (size + _Alignof(max_align_t) - 1) &
	           ~(_Alignof(max_align_t) - 1);
	void *p;

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

void
dispatch_init(const char *store_name)
{
	dispatch_store = store_name;
	dispatch_started = clock_now_ns(EVD__CLOCK__MONOTONIC);
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

int
req_unavailable(struct req_ctx *ctx)
{
	const char *why = batch_errmsg();

	return req_fail(ctx, EVD__ERROR_CODE__UNAVAILABLE, "%s",
	                why[0] != '\0' ? why
	                                : "the store failed to write; try again");
}

int
req_fail(struct req_ctx *ctx, int code, const char *fmt, ...)
{
	va_list ap;

	ctx->err_code = code;
	va_start(ap, fmt);
	vsnprintf(ctx->err_msg, sizeof ctx->err_msg, fmt, ap);
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

static int
dispatch_route(struct req_ctx *ctx, const Evd__Request *rq)
{
	if (!conn_greeted(ctx->conn) &&
	    rq->body_case != EVD__REQUEST__BODY_HELLO)
		return req_fail(ctx, EVD__ERROR_CODE__PROTOCOL,
		                "the first request must be Hello");
	switch (rq->body_case) {
#define X(BODY, name)                                                          \
	case EVD__REQUEST__BODY_##BODY:                                        \
		return req_##name(ctx, rq);
		EVD_REQUESTS(X)
#undef X
	default:
		/* A newer client's request, or no body at all. */
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "unknown or missing request type");
	}
}

int
dispatch_frame(struct conn *c, const uint8_t *body, size_t len)
{
	Evd__Reply reply = EVD__REPLY__INIT;
	Evd__Error err = EVD__ERROR__INIT;
	struct req_ctx ctx;
	Evd__Request *rq;
	int i, r;

	arena.used = 0;
	arena.spilled = 0;
	rq = evd__request__unpack(&arena_allocator, len, body);
	if (rq == NULL)
		return -EBADMSG; /* the conn reports it and closes */

	memset(&ctx, 0, sizeof ctx);
	ctx.conn = c;
	ctx.conn_id = conn_id(c);
	ctx.uid = conn_uid(c);
	ctx.gid = conn_gid(c);
	ctx.pid = conn_pid(c);
	conn_groups(c, &ctx.groups, &ctx.ngroups);
	ctx.reply = &reply;

	r = dispatch_route(&ctx, rq);
	if (r < 0) {
		if (ctx.err_code == 0) {
			ctx.err_code = EVD__ERROR_CODE__INTERNAL;
			snprintf(ctx.err_msg, sizeof ctx.err_msg,
			         "internal error: %s", strerror(-r));
		}
		reply.body_case = EVD__REPLY__BODY_ERROR;
		err.has_code = true;
		err.code = ctx.err_code;
		err.message = ctx.err_msg;
		reply.error = &err;
	}
	reply.has_request_id = rq->has_request_id;
	reply.request_id = rq->request_id;
	/* A request that wrote to the store is acknowledged only if this
	 * iteration's batch commits; conn rewrites it otherwise. */
	r = ctx.durable && r == 0 ? conn_send_durable(c, &reply)
	                          : conn_send(c, &reply);
	for (i = 0; i < ctx.nallocs; i++)
		arena_free(NULL, ctx.allocs[i]);
	for (i = 0; i < ctx.nunpacked; i++)
		protobuf_c_message_free_unpacked(ctx.unpacked[i], NULL);
	/* All in the arena: emptying it frees the request; walking the
	 * message to free nothing would cost more than its unpacking. */
	if (arena.spilled > 0)
		evd__request__free_unpacked(rq, &arena_allocator);
	arena.used = 0;
	return r < 0 ? -EPIPE : 0;
}
