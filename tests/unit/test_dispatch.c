/*
 * test_dispatch: one request frame to one reply (daemon/dispatch.c),
 * alone.
 *
 * The connection and the request table are fakes defined here, so
 * neither conn.o nor requests.o (and with it every handler) is linked:
 * conn_send, conn_send_durable and conn_close_after_output record what
 * dispatch answered (the reply packed and read back, as a client would
 * see it) and how (durable or not, closing or not); req_entry_of serves
 * a small table of fake handlers that record which of them ran, for
 * whom, with which body. The checks: a frame is decoded and runs its
 * row's handler, with the peer it came from; the reply echoes the
 * request id; the greeting is required unless the row's flags say the
 * request may come first; a body without a row (a newer client's, or
 * none) is a clear INVALID_ARGUMENT and the connection stays; bytes that
 * are no Request are -EBADMSG with nothing sent; a bad string never
 * reaches its handler; and a durable handler's reply is sent durable
 * when it succeeds and as a plain error when it fails, with the errno
 * mapped through the one table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "dispatch.h"
#include "evd.pb-c.h"
#include "requests.h"

#define UID 1000
#define GID 100
#define CONN_ID 7

/* ---- the fake connection ---- */

/* What dispatch sent, read back from the packed bytes. */
static struct {
	struct conn *c;     /* the conn it answered on */
	int sends;          /* conn_send + conn_send_durable calls */
	bool durable;       /* the last send was conn_send_durable */
	bool closing;       /* conn_close_after_output was called */
	Evd__Reply *reply;  /* the last reply, unpacked */
	int send_result;    /* what the sends return (-EPIPE: closed) */
} out;

static struct conn *const fake_conn = (struct conn *)&out;

static int
record_send(struct conn *c, const Evd__Reply *r, bool durable)
{
	size_t len = evd__reply__get_packed_size(r);
	uint8_t *buf = malloc(len + 1);

	assert_non_null(buf);
	assert_ptr_equal(c, fake_conn);
	evd__reply__pack(r, buf);
	if (out.reply != NULL)
		evd__reply__free_unpacked(out.reply, NULL);
	out.reply = evd__reply__unpack(NULL, len, buf);
	assert_non_null(out.reply);
	free(buf);
	out.c = c;
	out.sends++;
	out.durable = durable;
	return out.send_result;
}

int
conn_send(struct conn *c, const Evd__Reply *r)
{
	return record_send(c, r, false);
}

int
conn_send_durable(struct conn *c, const Evd__Reply *r)
{
	return record_send(c, r, true);
}

void
conn_close_after_output(struct conn *c, const char *why)
{
	assert_ptr_equal(c, fake_conn);
	assert_non_null(why);
	out.closing = true;
}

/* ---- the fake request table ---- */

static struct {
	const char *ran; /* the handler that ran last, or NULL */
	int runs;
	uint64_t conn_id, timer_id;
	uid_t uid;
	gid_t gid;
	bool greeted;
	int fail_errno; /* the durable handler's failure, or 0 */
} h;

static void
ran(const char *name, struct req_ctx *ctx)
{
	h.ran = name;
	h.runs++;
	h.conn_id = ctx->conn_id;
	h.uid = ctx->uid;
	h.gid = ctx->gid;
	h.greeted = ctx->greeted;
}

static int
fake_hello(struct req_ctx *ctx, const Evd__Request *rq)
{
	Evd__Welcome *w = req_alloc(ctx, sizeof *w);

	assert_int_equal(rq->body_case, EVD__REQUEST__BODY_HELLO);
	ran("hello", ctx);
	if (w == NULL)
		return -ENOMEM;
	evd__welcome__init(w);
	w->has_protocol_version = true;
	w->protocol_version = 1;
	ctx->reply->body_case = EVD__REPLY__BODY_WELCOME;
	ctx->reply->welcome = w;
	return 0;
}

static int
fake_time(struct req_ctx *ctx, const Evd__Request *rq)
{
	Evd__TimeReply *t = req_alloc(ctx, sizeof *t);

	assert_int_equal(rq->body_case, EVD__REQUEST__BODY_TIME);
	ran("time", ctx);
	if (t == NULL)
		return -ENOMEM;
	evd__time_reply__init(t);
	t->has_monotonic_ns = true;
	t->monotonic_ns = 42;
	ctx->reply->body_case = EVD__REPLY__BODY_TIME;
	ctx->reply->time = t;
	return 0;
}

/* A durable one: it writes to the store (ctx->durable), or fails with
 * h.fail_errno after it began to. */
static int
fake_cancel(struct req_ctx *ctx, const Evd__Request *rq)
{
	Evd__Cancelled *c = req_alloc(ctx, sizeof *c);

	assert_int_equal(rq->body_case, EVD__REQUEST__BODY_CANCEL);
	ran("cancel", ctx);
	h.timer_id = rq->cancel->timer_id;
	ctx->durable = true;
	if (h.fail_errno != 0)
		return req_errno(ctx, -h.fail_errno, "timer %u: %s", 9u,
		                 "not cancelled");
	if (c == NULL)
		return -ENOMEM;
	evd__cancelled__init(c);
	c->has_timer_id = true;
	c->timer_id = rq->cancel->timer_id;
	ctx->reply->body_case = EVD__REPLY__BODY_CANCELLED;
	ctx->reply->cancelled = c;
	return 0;
}

/* Returns an errno without recording an error: evd's own fault. */
static int
fake_pause(struct req_ctx *ctx, const Evd__Request *rq)
{
	(void)rq;
	ran("pause", ctx);
	return -ESTALE;
}

static const struct req_entry fake_entries[] = {
	{ .body = EVD__REQUEST__BODY_HELLO, .name = "hello",
	  .run = fake_hello, .route = REQ_ROUTE_LOCAL,
	  .flags = REQ_F_GREETING },
	{ .body = EVD__REQUEST__BODY_TIME, .name = "time", .run = fake_time,
	  .route = REQ_ROUTE_LOCAL },
	{ .body = EVD__REQUEST__BODY_CANCEL, .name = "cancel",
	  .run = fake_cancel, .route = REQ_ROUTE_LOCAL },
	{ .body = EVD__REQUEST__BODY_PAUSE, .name = "pause",
	  .run = fake_pause, .route = REQ_ROUTE_LOCAL },
};

const struct req_entry *
req_entry_of(int body)
{
	size_t i;

	for (i = 0; i < sizeof fake_entries / sizeof fake_entries[0]; i++)
		if (fake_entries[i].body == body)
			return &fake_entries[i];
	return NULL;
}

/* ---- helpers ---- */

static struct conn_peer
peer(bool greeted)
{
	struct conn_peer p;

	memset(&p, 0, sizeof p);
	p.conn_id = CONN_ID;
	p.uid = UID;
	p.gid = GID;
	p.pid = 4242;
	p.greeted = greeted;
	return p;
}

/* Packs rq and runs it through dispatch_frame as from peer(greeted). */
static int
run(const Evd__Request *rq, bool greeted)
{
	uint8_t buf[512];
	size_t len = evd__request__get_packed_size(rq);

	assert_true(len <= sizeof buf);
	evd__request__pack(rq, buf);
	return dispatch_frame(fake_conn, peer(greeted), buf, len);
}

static int
setup(void **state)
{
	(void)state;
	memset(&out, 0, sizeof out);
	memset(&h, 0, sizeof h);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (out.reply != NULL)
		evd__reply__free_unpacked(out.reply, NULL);
	out.reply = NULL;
	return 0;
}

static void
assert_error(int code, const char *msg)
{
	assert_non_null(out.reply);
	assert_int_equal(out.reply->body_case, EVD__REPLY__BODY_ERROR);
	assert_true(out.reply->error->has_code);
	assert_int_equal(out.reply->error->code, code);
	assert_string_equal(out.reply->error->message, msg);
}

/* ---- tests ---- */

/* Each frame runs its own row's handler, with the peer it came from;
 * the reply is the handler's, with the request id echoed. */
static void
test_routes_to_row(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Time tm = EVD__TIME__INIT;
	Evd__Cancel cn = EVD__CANCEL__INIT;

	(void)state;
	rq.has_request_id = true;
	rq.request_id = 11;
	rq.body_case = EVD__REQUEST__BODY_TIME;
	rq.time = &tm;
	assert_int_equal(run(&rq, true), 0);
	assert_string_equal(h.ran, "time");
	assert_int_equal(h.conn_id, CONN_ID);
	assert_int_equal(h.uid, UID);
	assert_int_equal(h.gid, GID);
	assert_true(h.greeted);
	assert_int_equal(out.sends, 1);
	assert_false(out.durable);
	assert_false(out.closing);
	assert_true(out.reply->has_request_id);
	assert_int_equal(out.reply->request_id, 11);
	assert_int_equal(out.reply->body_case, EVD__REPLY__BODY_TIME);
	assert_int_equal(out.reply->time->monotonic_ns, 42);

	rq.request_id = 12;
	rq.body_case = EVD__REQUEST__BODY_CANCEL;
	rq.cancel = &cn;
	cn.has_timer_id = true;
	cn.timer_id = 77;
	assert_int_equal(run(&rq, true), 0);
	assert_string_equal(h.ran, "cancel");
	assert_int_equal(h.timer_id, 77);
	assert_int_equal(h.runs, 2);
	assert_int_equal(out.reply->request_id, 12);
	assert_int_equal(out.reply->body_case, EVD__REPLY__BODY_CANCELLED);
	assert_int_equal(out.reply->cancelled->timer_id, 77);
}

/* Before Hello only a row flagged REQ_F_GREETING runs; anything else is
 * a PROTOCOL error, and a PROTOCOL error closes the connection once it
 * is written. */
static void
test_greeting_required(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Time tm = EVD__TIME__INIT;
	Evd__Hello hello = EVD__HELLO__INIT;

	(void)state;
	rq.has_request_id = true;
	rq.request_id = 1;
	rq.body_case = EVD__REQUEST__BODY_TIME;
	rq.time = &tm;
	assert_int_equal(run(&rq, false), 0);
	assert_null(h.ran);
	assert_error(EVD__ERROR_CODE__PROTOCOL,
	             "the first request must be Hello");
	assert_int_equal(out.reply->request_id, 1);
	assert_true(out.closing);

	/* A body without a row is no greeting either. */
	out.closing = false;
	rq.body_case = EVD__REQUEST__BODY_STATS;
	assert_int_equal(run(&rq, false), 0);
	assert_null(h.ran);
	assert_error(EVD__ERROR_CODE__PROTOCOL,
	             "the first request must be Hello");
	assert_true(out.closing);

	/* Hello may come first. */
	out.closing = false;
	rq.request_id = 2;
	rq.body_case = EVD__REQUEST__BODY_HELLO;
	rq.hello = &hello;
	assert_int_equal(run(&rq, false), 0);
	assert_string_equal(h.ran, "hello");
	assert_false(h.greeted);
	assert_int_equal(out.reply->body_case, EVD__REPLY__BODY_WELCOME);
	assert_int_equal(out.reply->request_id, 2);
	assert_false(out.closing);

	/* A request id is required of every request. */
	rq.has_request_id = false;
	h.ran = NULL;
	assert_int_equal(run(&rq, false), 0);
	assert_null(h.ran);
	assert_error(EVD__ERROR_CODE__PROTOCOL, "request_id is required");
	assert_false(out.reply->has_request_id);
	assert_true(out.closing);
}

/* A body the table has no row for (here Stats; a newer client's field
 * number; no body at all) is a clear INVALID_ARGUMENT, and the
 * connection stays. */
static void
test_unknown_body(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Stats st = EVD__STATS__INIT;
	/* request_id 5, then field 99 (length 0): a body from the future. */
	static const uint8_t future[] = {0x08, 0x05, 0x9a, 0x06, 0x00};

	(void)state;
	rq.has_request_id = true;
	rq.request_id = 3;
	rq.body_case = EVD__REQUEST__BODY_STATS;
	rq.stats = &st;
	assert_int_equal(run(&rq, true), 0);
	assert_null(h.ran);
	assert_error(EVD__ERROR_CODE__INVALID_ARGUMENT,
	             "unknown or missing request type");
	assert_int_equal(out.reply->request_id, 3);
	assert_false(out.closing);

	assert_int_equal(dispatch_frame(fake_conn, peer(true), future,
	                                sizeof future),
	                 0);
	assert_null(h.ran);
	assert_error(EVD__ERROR_CODE__INVALID_ARGUMENT,
	             "unknown or missing request type");
	assert_int_equal(out.reply->request_id, 5);
	assert_false(out.closing);

	rq.request_id = 4;
	rq.body_case = EVD__REQUEST__BODY__NOT_SET;
	assert_int_equal(run(&rq, true), 0);
	assert_null(h.ran);
	assert_error(EVD__ERROR_CODE__INVALID_ARGUMENT,
	             "unknown or missing request type");
	assert_int_equal(out.sends, 3);
}

/* Bytes that are not a Request: -EBADMSG and nothing sent (the conn
 * reports the protocol error itself). A string that is not UTF-8 never
 * reaches its handler: INVALID_ARGUMENT naming the field. */
static void
test_undecodable_and_bad_string(void **state)
{
	/* Field 1 as a varint that never ends. */
	static const uint8_t junk[] = {0x08, 0xff, 0xff, 0xff};
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Hello hello = EVD__HELLO__INIT;
	char bad_name[] = "x\xffy";

	(void)state;
	assert_int_equal(dispatch_frame(fake_conn, peer(true), junk,
	                                sizeof junk),
	                 -EBADMSG);
	assert_int_equal(out.sends, 0);
	assert_null(h.ran);

	rq.has_request_id = true;
	rq.request_id = 6;
	rq.body_case = EVD__REQUEST__BODY_HELLO;
	rq.hello = &hello;
	hello.client_name = bad_name;
	assert_int_equal(run(&rq, true), 0);
	assert_null(h.ran);
	assert_non_null(out.reply);
	assert_int_equal(out.reply->body_case, EVD__REPLY__BODY_ERROR);
	assert_int_equal(out.reply->error->code,
	                 EVD__ERROR_CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(out.reply->error->message, "client_name"));
	assert_int_equal(out.reply->request_id, 6);
	assert_false(out.closing);
}

/* A durable handler: its success is sent durable (held to the batch's
 * commit); its failure is an error reply sent plainly, with the errno
 * mapped by the one table and the handler's own message. */
static void
test_durable_handler(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Cancel cn = EVD__CANCEL__INIT;

	(void)state;
	rq.has_request_id = true;
	rq.request_id = 21;
	rq.body_case = EVD__REQUEST__BODY_CANCEL;
	rq.cancel = &cn;
	cn.has_timer_id = true;
	cn.timer_id = 9;
	assert_int_equal(run(&rq, true), 0);
	assert_true(out.durable);
	assert_int_equal(out.reply->body_case, EVD__REPLY__BODY_CANCELLED);

	h.fail_errno = EIO; /* the store write failed */
	rq.request_id = 22;
	assert_int_equal(run(&rq, true), 0);
	assert_string_equal(h.ran, "cancel");
	assert_false(out.durable);
	assert_error(EVD__ERROR_CODE__UNAVAILABLE, "timer 9: not cancelled");
	assert_int_equal(out.reply->request_id, 22);
	assert_false(out.closing);

	h.fail_errno = ENOENT;
	rq.request_id = 23;
	assert_int_equal(run(&rq, true), 0);
	assert_false(out.durable);
	assert_error(EVD__ERROR_CODE__NOT_FOUND, "timer 9: not cancelled");

	/* The connection closed while answering: -EPIPE, so the caller
	 * touches it no more. */
	h.fail_errno = 0;
	out.send_result = -EPIPE;
	assert_int_equal(run(&rq, true), -EPIPE);
	assert_true(out.durable);
}

/* An errno the handler returns without recording an error is evd's
 * fault: INTERNAL, saying which. */
static void
test_unmapped_errno_is_internal(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Pause pz = EVD__PAUSE__INIT;

	(void)state;
	rq.has_request_id = true;
	rq.request_id = 31;
	rq.body_case = EVD__REQUEST__BODY_PAUSE;
	rq.pause = &pz;
	assert_int_equal(run(&rq, true), 0);
	assert_string_equal(h.ran, "pause");
	assert_error(EVD__ERROR_CODE__INTERNAL,
	             "internal error: Stale file handle");
	assert_false(out.closing);
}

/* The multi-loop path decodes first, then runs the same way. */
static void
test_decode_then_run(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Time tm = EVD__TIME__INIT;
	uint8_t buf[64];
	size_t len;
	int route = -1;

	(void)state;
	rq.has_request_id = true;
	rq.request_id = 41;
	rq.body_case = EVD__REQUEST__BODY_TIME;
	rq.time = &tm;
	len = evd__request__pack(&rq, buf);
	assert_int_equal(dispatch_decode(peer(true), buf, len, &route), 0);
	assert_int_equal(route, 0); /* one loop: this one */
	assert_null(h.ran);
	assert_int_equal(dispatch_run(fake_conn, peer(true)), 0);
	assert_string_equal(h.ran, "time");
	assert_int_equal(out.reply->request_id, 41);

	assert_int_equal(dispatch_decode(peer(true), (const uint8_t *)"\x08",
	                                 1, &route),
	                 -EBADMSG);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_routes_to_row),
	    T(test_greeting_required),
	    T(test_unknown_body),
	    T(test_undecodable_and_bad_string),
	    T(test_durable_handler),
	    T(test_unmapped_errno_is_internal),
	    T(test_decode_then_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
