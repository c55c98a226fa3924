/*
 * Unit tests of request routing across loops (daemon/route.c): which
 * loop serves each kind of request (shard.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_loop),
	    cmocka_unit_test(test_creates),
	    cmocka_unit_test(test_ids),
	    cmocka_unit_test(test_others),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
