/*
 * test_evc_req: libevclient's request table (client/evc_req.c) against
 * the protocol. Walks the descriptor of Evd__Request: every body of its
 * oneof has exactly one row (a request added to evd.proto fails here
 * until the client can send it); every row builds a request of its own
 * body that packs, and converts a reply of its result body; rows that
 * share a reply body share its converter. No daemon, no handle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "evc_req.h"

/* Arguments every builder accepts. */
static const struct evc_args good = {
    .fn = "test",
    .id = 7,
    .channel = "ch",
    .name = "test_evc_req",
    .calendar = "daily",
    .clock = EVC_CLOCK_MONOTONIC,
};

static bool
is_body(const ProtobufCFieldDescriptor *f)
{
	return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}

static void
test_one_row_per_body(void **state)
{
	const ProtobufCMessageDescriptor *d = &evd__request__descriptor;
	unsigned i, k, n, bodies = 0;

	for (i = 0; i < d->n_fields; i++) {
		if (!is_body(&d->fields[i]))
			continue;
		bodies++;
		n = 0;
		for (k = 0; k < EVC_OP__COUNT; k++)
			if ((unsigned)evc_req_types[k].body == d->fields[i].id)
				n++;
		if (n != 1)
			fail_msg("Request body %s has %u rows in evc_req.c, "
				 "not 1",
				 d->fields[i].name, n);
	}
	assert_int_equal(bodies, EVC_OP__COUNT);
}

static void
test_rows_complete(void **state)
{
	unsigned k;

	for (k = 0; k < EVC_OP__COUNT; k++) {
		const struct evc_req_type *t = &evc_req_types[k];

		if (t->name == NULL || t->build == NULL || t->convert == NULL)
			fail_msg("row %u is incomplete", k);
		assert_int_not_equal(t->reply, EVD__REPLY__BODY__NOT_SET);
		assert_int_not_equal(t->result, EVD__REPLY__BODY__NOT_SET);
		assert_int_not_equal(t->reply, EVD__REPLY__BODY_ERROR);
		/* A blocking call that needs an output has one to give. */
		if (t->ret_required)
			assert_true(t->out_size > 0);
	}
}

static void
test_build_matches_row(void **state)
{
	struct evc_msg m;
	Evd__Request *back;
	uint8_t buf[4096];
	size_t len;
	unsigned k;
	int r;

	for (k = 0; k < EVC_OP__COUNT; k++) {
		const struct evc_req_type *t = &evc_req_types[k];

		r = evc_req_build((enum evc_op)k, &good, &m);
		if (r != 0)
			fail_msg("%s: build failed: %s", t->name, m.errmsg);
		if (m.req.body_case != t->body)
			fail_msg("%s: build made body %d, the row says %d",
				 t->name, (int)m.req.body_case, (int)t->body);
		len = evd__request__get_packed_size(&m.req);
		assert_true(len <= sizeof(buf));
		evd__request__pack(&m.req, buf);
		back = evd__request__unpack(NULL, len, buf);
		assert_non_null(back);
		assert_int_equal(back->body_case, t->body);
		evd__request__free_unpacked(back, NULL);
		/* Only scheduling requests take a generated key. */
		assert_int_equal(m.keyp != NULL, t->retry == EVC_RETRY_KEYED);
	}
}

/* A reply whose body case is body, with an empty message of its type. */
static Evd__Reply *
reply_new(Evd__Reply__BodyCase body)
{
	const ProtobufCMessageDescriptor *d = &evd__reply__descriptor;
	const ProtobufCFieldDescriptor *f;
	const ProtobufCMessageDescriptor *md;
	Evd__Reply *rp = calloc(1, sizeof(*rp));
	ProtobufCMessage *msg;

	assert_non_null(rp);
	evd__reply__init(rp);
	f = protobuf_c_message_descriptor_get_field(d, (unsigned)body);
	assert_non_null(f);
	assert_int_equal(f->type, PROTOBUF_C_TYPE_MESSAGE);
	md = f->descriptor;
	msg = calloc(1, md->sizeof_message);
	assert_non_null(msg);
	md->message_init(msg);
	rp->body_case = body;
	*(ProtobufCMessage **)((char *)rp + f->offset) = msg;
	return rp;
}

static void
reply_free(Evd__Reply *rp)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(&evd__reply__descriptor,
						    (unsigned)rp->body_case);

	free(*(void **)((char *)rp + f->offset));
	free(rp);
}

static void
test_convert_matches_row(void **state)
{
	struct evc_out o;
	Evd__Reply *rp;
	unsigned k;
	int r;

	for (k = 0; k < EVC_OP__COUNT; k++) {
		const struct evc_req_type *t = &evc_req_types[k];

		rp = reply_new(t->result);
		memset(&o, 0, sizeof(o));
		r = t->convert(rp, &o);
		if (r != 0)
			fail_msg("%s: convert failed (%d)", t->name, r);
		/* What it filled lies inside o and has the row's size (an
		 * Acked without a reschedule fills nothing). */
		if (o.val != NULL) {
			assert_true(t->out_size > 0);
			assert_true((char *)o.val >= (char *)&o);
			assert_true((char *)o.val + t->out_size <=
				    (char *)(&o + 1));
		} else if (k != EVC_OP_ACK) {
			assert_int_equal(t->out_size, 0);
		}
		evc_out_clear(&o);
		reply_free(rp);
	}
}

static void
test_acked_with_reschedule(void **state)
{
	Evd__Scheduled sc = EVD__SCHEDULED__INIT;
	struct evc_out o = {0};
	Evd__Reply *rp = reply_new(EVD__REPLY__BODY_ACKED);

	sc.has_timer_id = 1;
	sc.timer_id = 42;
	rp->acked->rescheduled = &sc;
	assert_int_equal(evc_req_types[EVC_OP_ACK].convert(rp, &o), 0);
	assert_ptr_equal(o.val, &o.sc);
	assert_ptr_equal(o.res.scheduled, &o.sc);
	assert_int_equal(o.sc.timer_id, 42);
	rp->acked->rescheduled = NULL;
	reply_free(rp);
}

/* evc_req_convert (the asynchronous path) picks the converter by reply
 * body: rows with the same body must agree. */
static void
test_shared_reply_shared_convert(void **state)
{
	unsigned i, k;

	for (i = 0; i < EVC_OP__COUNT; i++)
		for (k = i + 1; k < EVC_OP__COUNT; k++)
			if (evc_req_types[i].result ==
				evc_req_types[k].result &&
			    (evc_req_types[i].convert !=
				 evc_req_types[k].convert ||
			     evc_req_types[i].out_size !=
				 evc_req_types[k].out_size))
				fail_msg("%s and %s share a reply but not "
					 "its conversion",
					 evc_req_types[i].name,
					 evc_req_types[k].name);
}

static void
test_build_refuses(void **state)
{
	static const enum evc_op need_channel[] = {
	    EVC_OP_SUBSCRIBE,  EVC_OP_LIST_DEAD,     EVC_OP_REQUEUE_DEAD,
	    EVC_OP_PURGE_DEAD, EVC_OP_CHANNEL_GRANT, EVC_OP_GET_CHANNEL,
	};
	struct evc_args a = good;
	struct evc_exec ex = {0};
	struct evc_callback cb = {.channel = "ch"};
	struct evc_msg m;
	size_t i;

	a.channel = NULL;
	for (i = 0; i < sizeof(need_channel) / sizeof(need_channel[0]); i++) {
		assert_int_equal(evc_req_build(need_channel[i], &a, &m),
				 -EVC_E_USAGE);
		assert_non_null(strstr(m.errmsg, "test: channel is NULL"));
	}
	a = good;
	a.calendar = NULL;
	assert_int_equal(evc_req_build(EVC_OP_CALL_ON, &a, &m), -EVC_E_USAGE);
	a = good;
	a.clock = (enum evc_clock)99;
	assert_int_equal(evc_req_build(EVC_OP_CALL_LATER, &a, &m),
			 -EVC_E_USAGE);
	assert_non_null(strstr(m.errmsg, "call_later: unknown clock 99"));
	a = good;
	cb.exec = &ex;
	a.cb = &cb;
	assert_int_equal(evc_req_build(EVC_OP_CALL_SOON, &a, &m), -EVC_E_USAGE);
	assert_non_null(strstr(m.errmsg, "not both"));
}

/* A durable callback is marked for EVC_RETRY_KEYED; the caller's key is
 * the one sent. */
static void
test_sched_durable(void **state)
{
	struct evc_callback cb = {.channel = "ch", .key = "k1"};
	struct evc_args a = good;
	struct evc_msg m;

	a.cb = &cb;
	assert_int_equal(evc_req_build(EVC_OP_CALL_AT, &a, &m), 0);
	assert_true(m.durable);
	assert_string_equal(*m.keyp, "k1");
	assert_ptr_equal(m.keyp, &m.at.key);
	a.cb = NULL;
	assert_int_equal(evc_req_build(EVC_OP_CALL_AT, &a, &m), 0);
	assert_false(m.durable);
	assert_null(*m.keyp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_row_per_body),
	    cmocka_unit_test(test_rows_complete),
	    cmocka_unit_test(test_build_matches_row),
	    cmocka_unit_test(test_convert_matches_row),
	    cmocka_unit_test(test_acked_with_reschedule),
	    cmocka_unit_test(test_shared_reply_shared_convert),
	    cmocka_unit_test(test_build_refuses),
	    cmocka_unit_test(test_sched_durable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
