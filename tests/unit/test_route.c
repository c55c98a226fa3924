/*
 * Unit tests of request routing across loops (daemon/route.c): which
 * loop serves each kind of request (shard.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "requests.h"

#include "route.h"
#include "shard.h"

static uint64_t
id_of(unsigned loop, uint64_t n)
{
	return ((uint64_t)loop << SHARD_ID_BITS) + n;
}

/* One loop: everything is loop 0's. */
static void
test_one_loop(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Get g = EVD__GET__INIT;

	g.timer_id = id_of(3, 1);
	rq.body_case = EVD__REQUEST__BODY_GET;
	rq.get = &g;
	assert_int_equal(route_request(&rq, 0, 1), 0);
}

/* A timer that messages its caller stays on the caller's loop, a
 * calendar one too (lib/tz.h touches no process-wide state); a channel,
 * a hook or a key sends it to loop 0. */
static void
test_creates(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__CallSoon cs = EVD__CALL_SOON__INIT;
	Evd__CallAt ca = EVD__CALL_AT__INIT;
	Evd__CallOn co = EVD__CALL_ON__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Exec ex = EVD__EXEC__INIT;
	Evd__TimerOptions o = EVD__TIMER_OPTIONS__INIT;
	Evd__Repeat r = EVD__REPEAT__INIT;

	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	assert_int_equal(route_request(&rq, 1, 2), 1);
	cl.callback = &cb;
	cb.payload.len = 1;
	assert_int_equal(route_request(&rq, 1, 2), 1);
	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = "jobs";
	assert_int_equal(route_request(&rq, 1, 2), 0);
	cb.target_case = EVD__CALLBACK__TARGET_EXEC;
	cb.exec = &ex;
	assert_int_equal(route_request(&rq, 1, 2), 0);
	cb.target_case = EVD__CALLBACK__TARGET__NOT_SET;
	cl.key = "once";
	assert_int_equal(route_request(&rq, 1, 2), 0);
	cl.key = "";
	assert_int_equal(route_request(&rq, 1, 2), 1);
	/* An interval or a calendar repeat stays. */
	cl.options = &o;
	o.repeat = &r;
	r.has_every_ns = 1;
	r.every_ns = 1000;
	assert_int_equal(route_request(&rq, 1, 2), 1);
	r.calendar = "*:0/5";
	assert_int_equal(route_request(&rq, 1, 2), 1);

	rq.body_case = EVD__REQUEST__BODY_CALL_SOON;
	rq.call_soon = &cs;
	assert_int_equal(route_request(&rq, 2, 3), 2);
	rq.body_case = EVD__REQUEST__BODY_CALL_AT;
	rq.call_at = &ca;
	assert_int_equal(route_request(&rq, 2, 3), 2);
	rq.body_case = EVD__REQUEST__BODY_CALL_ON;
	rq.call_on = &co;
	co.calendar = "daily";
	assert_int_equal(route_request(&rq, 2, 3), 2);
	co.key = "nightly";
	assert_int_equal(route_request(&rq, 2, 3), 0);
	co.key = NULL;
	co.callback = &cb;
	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	assert_int_equal(route_request(&rq, 2, 3), 0);
}

/* Requests naming a timer go to the loop whose range holds its id; an
 * id of no loop goes to loop 0 (which answers NOT_FOUND). */
static void
test_ids(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Cancel c = EVD__CANCEL__INIT;
	Evd__Wait w = EVD__WAIT__INIT;
	Evd__Pause p = EVD__PAUSE__INIT;
	Evd__Resume r = EVD__RESUME__INIT;
	Evd__Trigger t = EVD__TRIGGER__INIT;
	Evd__Retry rt = EVD__RETRY__INIT;
	Evd__Get g = EVD__GET__INIT;

	rq.body_case = EVD__REQUEST__BODY_CANCEL;
	rq.cancel = &c;
	c.timer_id = 42;
	assert_int_equal(route_request(&rq, 1, 2), 0);
	c.timer_id = id_of(1, 1);
	assert_int_equal(route_request(&rq, 0, 2), 1);
	c.timer_id = id_of(2, 1);
	assert_int_equal(route_request(&rq, 1, 2), 0);
	c.timer_id = UINT64_MAX;
	assert_int_equal(route_request(&rq, 1, 2), 0);

	rq.body_case = EVD__REQUEST__BODY_WAIT;
	rq.wait = &w;
	w.timer_id = id_of(3, 9);
	assert_int_equal(route_request(&rq, 0, 4), 3);
	rq.body_case = EVD__REQUEST__BODY_PAUSE;
	rq.pause = &p;
	p.timer_id = id_of(3, 9);
	assert_int_equal(route_request(&rq, 0, 4), 3);
	rq.body_case = EVD__REQUEST__BODY_RESUME;
	rq.resume = &r;
	r.timer_id = id_of(2, 9);
	assert_int_equal(route_request(&rq, 0, 4), 2);
	rq.body_case = EVD__REQUEST__BODY_TRIGGER;
	rq.trigger = &t;
	t.timer_id = id_of(1, 9);
	assert_int_equal(route_request(&rq, 3, 4), 1);
	rq.body_case = EVD__REQUEST__BODY_RETRY;
	rq.retry = &rt;
	rt.timer_id = id_of(2, 9);
	assert_int_equal(route_request(&rq, 0, 4), 2);
	rq.body_case = EVD__REQUEST__BODY_GET;
	rq.get = &g;
	g.timer_id = id_of(0, 9);
	assert_int_equal(route_request(&rq, 3, 4), 0);
}

/* Hello and Time on the caller's loop; List everywhere unless it names a
 * channel; the rest (channels, acks, Stats) on loop 0. */
static void
test_others(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__List l = EVD__LIST__INIT;
	Evd__CancelAll ca = EVD__CANCEL_ALL__INIT;
	Evd__Ack a = EVD__ACK__INIT;
	Evd__Stats st = EVD__STATS__INIT;
	Evd__Subscribe sub = EVD__SUBSCRIBE__INIT;

	rq.body_case = EVD__REQUEST__BODY_HELLO;
	assert_int_equal(route_request(&rq, 1, 2), 1);
	rq.body_case = EVD__REQUEST__BODY_TIME;
	assert_int_equal(route_request(&rq, 1, 2), 1);
	rq.body_case = EVD__REQUEST__BODY_LIST;
	rq.list = &l;
	assert_int_equal(route_request(&rq, 1, 2), ROUTE_ALL);
	l.channel = "jobs";
	assert_int_equal(route_request(&rq, 1, 2), 0);
	/* CancelAll: every loop (an owner's caller timers are on their
	 * connections' loops), but a channel's timers are loop 0's. */
	rq.body_case = EVD__REQUEST__BODY_CANCEL_ALL;
	rq.cancel_all = &ca;
	assert_int_equal(route_request(&rq, 1, 2), ROUTE_ALL);
	ca.channel = "jobs";
	assert_int_equal(route_request(&rq, 1, 2), 0);
	rq.body_case = EVD__REQUEST__BODY_ACK;
	rq.ack = &a;
	assert_int_equal(route_request(&rq, 1, 2), 0);
	rq.body_case = EVD__REQUEST__BODY_STATS;
	rq.stats = &st;
	assert_int_equal(route_request(&rq, 1, 2), 0);
	rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &sub;
	assert_int_equal(route_request(&rq, 1, 2), 0);
	/* An unknown request: loop 0 answers that it does not know it. */
	rq.body_case = (Evd__Request__BodyCase)99;
	assert_int_equal(route_request(&rq, 1, 2), 0);
}

/*
 * Where each request type goes, written out here rather than read from
 * the registry: a new body of Request fails until its loop is stated.
 * The request is the body's empty message (a new timer then messages
 * its caller; List names no channel), with an id of another loop for
 * the id-addressed ones.
 */
enum want { WANT_SELF, WANT_ID, WANT_LOOP0, WANT_ALL };

static const struct {
	int body;
	enum want want;
} wants[] = {
	{ EVD__REQUEST__BODY_HELLO, WANT_SELF },
	{ EVD__REQUEST__BODY_CALL_SOON, WANT_SELF },
	{ EVD__REQUEST__BODY_CALL_LATER, WANT_SELF },
	{ EVD__REQUEST__BODY_CALL_AT, WANT_SELF },
	{ EVD__REQUEST__BODY_CANCEL, WANT_ID },
	{ EVD__REQUEST__BODY_GET, WANT_ID },
	{ EVD__REQUEST__BODY_LIST, WANT_ALL },
	{ EVD__REQUEST__BODY_TIME, WANT_SELF },
	{ EVD__REQUEST__BODY_STATS, WANT_LOOP0 },
	{ EVD__REQUEST__BODY_SUBSCRIBE, WANT_LOOP0 },
	{ EVD__REQUEST__BODY_ACK, WANT_LOOP0 },
	{ EVD__REQUEST__BODY_LIST_DEAD, WANT_LOOP0 },
	{ EVD__REQUEST__BODY_REQUEUE_DEAD, WANT_LOOP0 },
	{ EVD__REQUEST__BODY_PURGE_DEAD, WANT_LOOP0 },
	{ EVD__REQUEST__BODY_CHANNEL_GRANT, WANT_LOOP0 },
	{ EVD__REQUEST__BODY_GET_CHANNEL, WANT_LOOP0 },
	{ EVD__REQUEST__BODY_WAIT, WANT_ID },
	{ EVD__REQUEST__BODY_CALL_ON, WANT_SELF },
	{ EVD__REQUEST__BODY_PAUSE, WANT_ID },
	{ EVD__REQUEST__BODY_RESUME, WANT_ID },
	{ EVD__REQUEST__BODY_TRIGGER, WANT_ID },
	{ EVD__REQUEST__BODY_RETRY, WANT_ID },
	{ EVD__REQUEST__BODY_PURGE, WANT_LOOP0 },
	{ EVD__REQUEST__BODY_CANCEL_ALL, WANT_ALL },
	{ EVD__REQUEST__BODY_LIST_CHANNELS, WANT_LOOP0 },
	{ EVD__REQUEST__BODY_PEEK, WANT_LOOP0 },
	{ EVD__REQUEST__BODY_REJECT, WANT_LOOP0 },
	{ EVD__REQUEST__BODY_UNSUBSCRIBE, WANT_LOOP0 },
};

static int
want_of(int body)
{
	size_t i;

	for (i = 0; i < sizeof wants / sizeof wants[0]; i++)
		if (wants[i].body == body)
			return (int)wants[i].want;
	return -1;
}

/* Every row, with one, two and four loops, from every loop. */
static void
test_every_row(void **state)
{
	const ProtobufCMessageDescriptor *d = &evd__request__descriptor;
	static const unsigned ns[] = { 1, 2, 4 };
	unsigned i, j, self;

	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i], *id;
		const ProtobufCMessageDescriptor *md = f->descriptor;
		Evd__Request rq = EVD__REQUEST__INIT;
		int want = want_of((int)f->id);
		void *body;

		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0)
			continue;
		if (want < 0)
			fail_msg("Request.%s: say in test_route.c which loop "
			         "serves it",
			         f->name);
		body = calloc(1, md->sizeof_message);
		assert_non_null(body);
		md->message_init(body);
		rq.body_case = (Evd__Request__BodyCase)f->id;
		*(void **)((char *)&rq + f->offset) = body;
		id = protobuf_c_message_descriptor_get_field_by_name(
			md, "timer_id");
		assert_true((id != NULL) == (want == WANT_ID));
		for (j = 0; j < sizeof ns / sizeof ns[0]; j++)
			for (self = 0; self < ns[j]; self++) {
				unsigned owner = (self + 1) % ns[j];
				int expect, got;

				if (id != NULL) {
					*(protobuf_c_boolean *)((char *)body +
					    id->quantifier_offset) = 1;
					*(uint64_t *)((char *)body +
					              id->offset) =
						id_of(owner, 3);
				}
				switch ((enum want)want) {
				case WANT_SELF:
					expect = (int)self;
					break;
				case WANT_ID:
					expect = (int)owner;
					break;
				case WANT_ALL:
					expect = ROUTE_ALL;
					break;
				default:
					expect = 0;
					break;
				}
				if (ns[j] == 1)
					expect = 0;
				got = route_request(&rq, self, ns[j]);
				if (got != expect)
					fail_msg("Request.%s from loop %u of "
					         "%u: loop %d, not %d",
					         f->name, self, ns[j], got,
					         expect);
			}
		free(body);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_loop),
	    cmocka_unit_test(test_creates),
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_others),
	    cmocka_unit_test(test_every_row),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
