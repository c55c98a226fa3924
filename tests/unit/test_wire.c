/*
 * Unit tests of the hand-written reply encoders (proto/wire.c) against
 * protobuf-c itself: for random Scheduled, Cancelled and Fired replies
 * (every has_ flag on or off, values of every varint length, negative
 * times, NULL, empty and long strings and payloads) the size and the
 * bytes must be exactly protobuf-c's, and what it declines (other
 * bodies, a NULL body, unknown fields) it must leave to protobuf-c. The
 * request decoder likewise: random requests it takes decode to what
 * protobuf-c makes of them, and what it is not for (callbacks, keys,
 * other bodies, repeated fields, malformed bytes) it leaves.
 * Deterministic (fixed seed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static uint64_t rng_state = 42;

/* splitmix64 */
static uint64_t
rng(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* A value of a random varint length, sometimes at the edges. */
static uint64_t
rnd_u64(void)
{
	switch (rng() % 6) {
	case 0:
		return 0;
	case 1:
		return UINT64_MAX;
	case 2:
		return (uint64_t)1 << (rng() % 64);
	default:
		return rng() >> (rng() % 64);
	}
}

static bool
coin(void)
{
	return rng() & 1;
}

static void
check_same(const Evd__Reply *r)
{
	size_t n = evd__reply__get_packed_size(r), m = wire_reply_size(r);
	uint8_t *a = malloc(n + 1), *b = malloc(n + 1);

	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(m, n);
	assert_int_equal(evd__reply__pack(r, a), n);
	wire_reply_pack(r, b);
	assert_memory_equal(a, b, n);
	free(a);
	free(b);
}

static void
test_scheduled_and_cancelled(void **state)
{
	(void)state;
	for (int i = 0; i < 100000; i++) {
		Evd__Reply r = EVD__REPLY__INIT;
		Evd__Scheduled s = EVD__SCHEDULED__INIT;
		Evd__Cancelled c = EVD__CANCELLED__INIT;

		r.has_request_id = coin();
		r.request_id = rnd_u64();
		if (i % 4 == 0) {
			c.has_timer_id = coin();
			c.timer_id = rnd_u64();
			r.body_case = EVD__REPLY__BODY_CANCELLED;
			r.cancelled = &c;
		} else {
			s.has_timer_id = coin();
			s.timer_id = rnd_u64();
			s.has_clock = coin();
			/* Clocks are small, but an enum is an int32 on the
			 * wire: negative ones too. */
			s.clock = (Evd__Clock)(int32_t)(coin() ? rng() % 4
			                                       : rng());
			s.has_deadline_ns = coin();
			s.deadline_ns = (int64_t)rnd_u64();
			s.has_due_realtime_ns = coin();
			s.due_realtime_ns = (int64_t)rnd_u64();
			s.has_existing = coin();
			s.existing = coin();
			r.body_case = EVD__REPLY__BODY_SCHEDULED;
			r.scheduled = &s;
		}
		check_same(&r);
	}
}

static void
test_fired(void **state)
{
	static char text[70000];
	static uint8_t data[70000];
	static char why[4097];

	(void)state;
	for (size_t i = 0; i < sizeof text - 1; i++) {
		text[i] = (char)('a' + i % 26);
		data[i] = (uint8_t)rng();
	}
	memset(why, 'r', sizeof why - 1);
	for (int i = 0; i < 20000; i++) {
		Evd__Reply r = EVD__REPLY__INIT;
		Evd__Fired f = EVD__FIRED__INIT;
		/* Lengths across the 1-, 2- and 3-byte length varints. */
		size_t clen = rng() % 4 == 0 ? rng() % 20000 : rng() % 200;
		size_t plen = rng() % 4 == 0 ? rng() % 70000 : rng() % 200;
		/* A reject's reason: up to 4096 bytes. */
		size_t rlen = rng() % 4 == 0 ? rng() % 4097 : rng() % 200;
		char save, rsave;

		r.has_request_id = rng() % 8 == 0;
		r.request_id = rnd_u64();
		f.has_timer_id = coin();
		f.timer_id = rnd_u64();
		f.has_fire_id = coin();
		f.fire_id = rnd_u64();
		save = text[clen];
		text[clen] = '\0';
		f.channel = coin() ? text : NULL;
		f.has_payload = coin();
		f.payload.len = plen;
		f.payload.data = coin() || plen == 0 ? data : NULL;
		if (f.payload.data == NULL)
			f.payload.len = 0;
		f.has_due_realtime_ns = coin();
		f.due_realtime_ns = (int64_t)rnd_u64();
		f.has_fired_realtime_ns = coin();
		f.fired_realtime_ns = (int64_t)rnd_u64();
		f.has_lateness_ns = coin();
		f.lateness_ns = (int64_t)rnd_u64();
		f.has_attempt = coin();
		f.attempt = (uint32_t)rnd_u64();
		rsave = why[rlen];
		why[rlen] = '\0';
		f.reason = coin() ? why : NULL;
		r.body_case = EVD__REPLY__BODY_FIRED;
		r.fired = &f;
		check_same(&r);
		text[clen] = save;
		why[rlen] = rsave;
	}
}

/* The reply encoder writes request_id and the body: a field of Reply
 * outside its oneof would be dropped, so there must be no other. */
static void
test_reply_shape(void **state)
{
	unsigned outside = 0;

	(void)state;
	for (unsigned i = 0; i < evd__reply__descriptor.n_fields; i++)
		if (!(evd__reply__descriptor.fields[i].flags &
		      PROTOBUF_C_FIELD_FLAG_ONEOF))
			outside++;
	assert_int_equal(outside, 1);
}

static void
test_left_to_protobuf_c(void **state)
{
	Evd__Reply r = EVD__REPLY__INIT;
	Evd__Error e = EVD__ERROR__INIT;
	Evd__Scheduled s = EVD__SCHEDULED__INIT;
	ProtobufCMessageUnknownField uf = {0};

	(void)state;
	/* No body, another body, a NULL body. */
	assert_int_equal(wire_reply_size(&r), 0);
	r.body_case = EVD__REPLY__BODY_ERROR;
	r.error = &e;
	assert_int_equal(wire_reply_size(&r), 0);
	r.body_case = EVD__REPLY__BODY_SCHEDULED;
	r.scheduled = NULL;
	assert_int_equal(wire_reply_size(&r), 0);
	/* Unknown fields, on the reply or on its body. */
	r.scheduled = &s;
	assert_true(wire_reply_size(&r) > 0);
	s.base.n_unknown_fields = 1;
	s.base.unknown_fields = &uf;
	assert_int_equal(wire_reply_size(&r), 0);
	s.base.n_unknown_fields = 0;
	r.base.n_unknown_fields = 1;
	r.base.unknown_fields = &uf;
	assert_int_equal(wire_reply_size(&r), 0);
}

/* Packs rq with protobuf-c, and checks what wire_request_unpack makes
 * of the bytes: NULL, or exactly what protobuf-c unpacks. Returns
 * whether the fast decoder took it. */
static bool
check_request(const Evd__Request *rq)
{
	size_t n = evd__request__get_packed_size(rq);
	uint8_t *buf = malloc(n + 1), *x, *y;
	Evd__Request *a, *b;
	bool took;

	assert_non_null(buf);
	evd__request__pack(rq, buf);
	a = wire_request_unpack(NULL, n, buf);
	b = evd__request__unpack(NULL, n, buf);
	assert_non_null(b);
	took = a != NULL;
	if (a != NULL) {
		assert_int_equal(a->body_case, b->body_case);
		assert_int_equal(evd__request__get_packed_size(a), n);
		x = malloc(n + 1);
		y = malloc(n + 1);
		evd__request__pack(a, x);
		evd__request__pack(b, y);
		assert_memory_equal(x, y, n);
		free(x);
		free(y);
		evd__request__free_unpacked(a, NULL);
	}
	evd__request__free_unpacked(b, NULL);
	free(buf);
	return took;
}

static void
test_request_decoder(void **state)
{
	unsigned took = 0;

	(void)state;
	for (int i = 0; i < 100000; i++) {
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__CallLater cl = EVD__CALL_LATER__INIT;
		Evd__CallAt ca = EVD__CALL_AT__INIT;
		Evd__Cancel c = EVD__CANCEL__INIT;
		Evd__Time t = EVD__TIME__INIT;
		Evd__Callback cb = EVD__CALLBACK__INIT;
		/* Shapes it must leave to protobuf-c come up too. */
		bool extra = rng() % 5 == 0;

		rq.has_request_id = coin();
		rq.request_id = rnd_u64();
		cb.channel = "ch";
		cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
		switch (rng() % 4) {
		case 0:
			cl.has_delay_ns = coin();
			cl.delay_ns = (int64_t)rnd_u64();
			cl.has_clock = coin();
			cl.clock = (Evd__Clock)(int32_t)rnd_u64();
			cl.key = extra ? "k" : NULL;
			rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
			rq.call_later = &cl;
			break;
		case 1:
			ca.has_when_ns = coin();
			ca.when_ns = (int64_t)rnd_u64();
			ca.has_clock = coin();
			ca.clock = (Evd__Clock)(int32_t)rnd_u64();
			ca.callback = extra ? &cb : NULL;
			rq.body_case = EVD__REQUEST__BODY_CALL_AT;
			rq.call_at = &ca;
			break;
		case 2:
			extra = false; /* a Cancel has nothing more */
			c.has_timer_id = coin();
			c.timer_id = rnd_u64();
			rq.body_case = EVD__REQUEST__BODY_CANCEL;
			rq.cancel = &c;
			break;
		default:
			rq.body_case = EVD__REQUEST__BODY_TIME;
			rq.time = &t;
			break;
		}
		if (check_request(&rq)) {
			took++;
			assert_false(extra);
			assert_true(rq.body_case != EVD__REQUEST__BODY_TIME);
		} else {
			/* The plain shapes are what it is for. */
			assert_true(extra ||
			            rq.body_case == EVD__REQUEST__BODY_TIME);
		}
	}
	assert_true(took > 50000);
}

/* Bytes no encoder of ours writes: repeated fields, a body twice,
 * truncation, an over-long varint, a wrong wire type. The decoder must
 * leave them all to protobuf-c. */
static void
test_request_decoder_declines(void **state)
{
	static const struct {
		const char *what;
		uint8_t b[16];
		size_t n;
	} cases[] = {
	    {"id twice", {0x08, 0x01, 0x08, 0x02, 0x62, 0x00}, 6},
	    {"body twice", {0x62, 0x00, 0x62, 0x00}, 4},
	    {"delay twice", {0x62, 0x04, 0x08, 0x01, 0x08, 0x02}, 6},
	    {"truncated body", {0x62, 0x05, 0x08, 0x01}, 4},
	    {"truncated varint", {0x62, 0x02, 0x08, 0x81}, 4},
	    {"11-byte varint",
	     {0x62, 0x0c, 0x08, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81,
	      0x81, 0x81, 0x81, 0x01},
	     14},
	    {"fixed64 delay", {0x62, 0x09, 0x09, 1, 2, 3, 4, 5, 6, 7, 8}, 11},
	    {"unknown field in body", {0x62, 0x02, 0x30, 0x01}, 4},
	    {"unknown field in request", {0x10, 0x01, 0x62, 0x00}, 4},
	    {"no body", {0x08, 0x01}, 2},
	    /* protobuf-c takes at most 5 bytes for a tag or a length. */
	    {"6-byte tag", {0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x62,
	                    0x00}, 9},
	    {"6-byte length", {0x62, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 7},
	    {"empty", {0}, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Evd__Request *a = wire_request_unpack(NULL, cases[i].n,
		                                      cases[i].b);

		if (a != NULL)
			fail_msg("took \"%s\"", cases[i].what);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scheduled_and_cancelled),
	    cmocka_unit_test(test_fired),
	    cmocka_unit_test(test_reply_shape),
	    cmocka_unit_test(test_left_to_protobuf_c),
	    cmocka_unit_test(test_request_decoder),
	    cmocka_unit_test(test_request_decoder_declines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
