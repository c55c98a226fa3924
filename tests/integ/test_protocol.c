/*
 * test_protocol: the wire protocol against the real evd, with raw frames:
 * greeting, pipelining and reply order, firing order, cancel, isolation of
 * connections, channels and acks, and every kind of bad input closing only
 * the connection that sent it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "frame.h"
#include "harness.h"

static struct evd_proc evd;

static int
setup(void **state)
{
	return evd_start(&evd, NULL) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	return evd_stop(&evd) == 0 ? 0 : -1;
}

/* A greeted connection. */
static int
conn(void)
{
	int fd = raw_connect(evd.sock);

	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, 1), 0);
	return fd;
}

static Evd__Reply *
recv_ok(int fd)
{
	Evd__Reply *r = raw_recv_reply(fd, 5000);

	assert_non_null(r);
	return r;
}

static void
req_init(Evd__Request *rq, uint64_t id)
{
	evd__request__init(rq);
	rq->has_request_id = 1;
	rq->request_id = id;
}

/* Schedules a caller timer after delay_ns; returns its id. */
static uint64_t
call_later(int fd, uint64_t req_id, int64_t delay_ns, const char *channel,
           const char *payload)
{
	Evd__Request rq;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Reply *r;
	uint64_t id;

	req_init(&rq, req_id);
	cl.has_delay_ns = 1;
	cl.delay_ns = delay_ns;
	if (channel != NULL) {
		cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb.channel = (char *)channel;
	}
	if (payload != NULL) {
		cb.has_payload = 1;
		cb.payload.data = (uint8_t *)payload;
		cb.payload.len = strlen(payload);
	}
	cl.callback = &cb;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	r = recv_ok(fd);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	assert_int_equal(r->request_id, req_id);
	id = r->scheduled->timer_id;
	evd__reply__free_unpacked(r, NULL);
	return id;
}

static void
expect_error(Evd__Reply *r, uint64_t req_id, int code)
{
	assert_non_null(r);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_ERROR);
	assert_true(r->has_request_id);
	assert_int_equal(r->request_id, req_id);
	assert_int_equal(r->error->code, code);
	assert_non_null(r->error->message);
	assert_true(strlen(r->error->message) > 0);
	evd__reply__free_unpacked(r, NULL);
}

static void
test_hello(void **state)
{
	Evd__Request rq;
	Evd__Hello h = EVD__HELLO__INIT;
	Evd__Reply *r;
	int fd = raw_connect(evd.sock);

	assert_true(fd >= 0);
	req_init(&rq, 77);
	h.has_protocol_version = 1;
	h.protocol_version = 1;
	rq.body_case = EVD__REQUEST__BODY_HELLO;
	rq.hello = &h;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	r = recv_ok(fd);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_WELCOME);
	assert_int_equal(r->request_id, 77);
	assert_int_equal(r->welcome->protocol_version, 1);
	assert_non_null(r->welcome->server_version);
	assert_true(r->welcome->monotonic_now_ns > 0);
	assert_true(r->welcome->realtime_now_ns > 1700000000LL * 1000000000);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

static void
test_request_before_hello(void **state)
{
	Evd__Request rq;
	Evd__Time t = EVD__TIME__INIT;
	int fd = raw_connect(evd.sock);

	assert_true(fd >= 0);
	req_init(&rq, 5);
	rq.body_case = EVD__REQUEST__BODY_TIME;
	rq.time = &t;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	expect_error(recv_ok(fd), 5, EVD__ERROR_CODE__PROTOCOL);
	/* Like every PROTOCOL error, it closes the connection (before, this
	 * one alone left it open). */
	assert_true(raw_wait_eof(fd, 5000));
	close(fd);
}

/* A request without request_id: its reply could not be told from an
 * event, so it is a PROTOCOL error (and the connection closes). */
static void
test_request_id_required(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Time t = EVD__TIME__INIT;
	Evd__Reply *r;
	int fd = conn();

	rq.body_case = EVD__REQUEST__BODY_TIME;
	rq.time = &t;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	r = recv_ok(fd);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_ERROR);
	assert_int_equal(r->error->code, EVD__ERROR_CODE__PROTOCOL);
	assert_false(r->has_request_id);
	evd__reply__free_unpacked(r, NULL);
	assert_true(raw_wait_eof(fd, 5000));
	close(fd);
}

static void
test_bad_version(void **state)
{
	Evd__Request rq;
	Evd__Hello h = EVD__HELLO__INIT;
	int fd = raw_connect(evd.sock);

	assert_true(fd >= 0);
	req_init(&rq, 9);
	h.has_protocol_version = 1;
	h.protocol_version = 2;
	rq.body_case = EVD__REQUEST__BODY_HELLO;
	rq.hello = &h;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	expect_error(recv_ok(fd), 9, EVD__ERROR_CODE__UNSUPPORTED_VERSION);
	/* Not a PROTOCOL error: the client may say Hello again. */
	assert_int_equal(raw_hello(fd, 10), 0);
	close(fd);
}

static void
test_unknown_request(void **state)
{
	Evd__Request rq;
	int fd = conn();

	req_init(&rq, 12); /* no body: what an unknown newer request decodes to */
	assert_int_equal(raw_send_request(fd, &rq), 0);
	expect_error(recv_ok(fd), 12, EVD__ERROR_CODE__INVALID_ARGUMENT);
	assert_int_equal(raw_hello(fd, 13), 0);
	close(fd);
}

/* 10,000 requests in one write are answered, in order. */
static void
test_pipelined_10000(void **state)
{
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Time tm = EVD__TIME__INIT;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	uint64_t i, last_timer = 0;
	int fd = conn();

	cl.has_delay_ns = 1;
	cl.delay_ns = 3600LL * 1000000000;
	for (i = 1; i <= 10000; i++) {
		Evd__Request rq;

		req_init(&rq, 1000 + i);
		if (i % 10 == 0) {
			rq.body_case = EVD__REQUEST__BODY_TIME;
			rq.time = &tm;
		} else {
			rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
			rq.call_later = &cl;
		}
		assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	}
	assert_int_equal(raw_write(fd, buf, len), 0);
	free(buf);
	for (i = 1; i <= 10000; i++) {
		Evd__Reply *r = recv_ok(fd);

		assert_int_equal(r->request_id, 1000 + i);
		if (i % 10 == 0)
			assert_int_equal(r->body_case, EVD__REPLY__BODY_TIME);
		else {
			assert_int_equal(r->body_case,
			                 EVD__REPLY__BODY_SCHEDULED);
			assert_true(r->scheduled->timer_id > last_timer);
			last_timer = r->scheduled->timer_id;
		}
		evd__reply__free_unpacked(r, NULL);
	}
	close(fd);
}

/* Collects n fires from fd; ids[] in arrival order. */
static void
collect_fires(int fd, uint64_t *ids, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		Evd__Reply *r = recv_ok(fd);

		assert_int_equal(r->body_case, EVD__REPLY__BODY_FIRED);
		assert_false(r->has_request_id);
		ids[i] = r->fired->timer_id;
		assert_true(r->fired->lateness_ns >= 0);
		evd__reply__free_unpacked(r, NULL);
	}
}

static void
test_call_soon_fifo(void **state)
{
	Evd__CallSoon cs = EVD__CALL_SOON__INIT;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	uint64_t sched_ids[200], fired[200];
	int i, fd = conn();

	for (i = 0; i < 200; i++) {
		Evd__Request rq;

		req_init(&rq, 100 + (uint64_t)i);
		rq.body_case = EVD__REQUEST__BODY_CALL_SOON;
		rq.call_soon = &cs;
		assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	}
	assert_int_equal(raw_write(fd, buf, len), 0);
	free(buf);
	/* Replies and fires interleave; sort them out. */
	{
		int nr = 0, nf = 0;

		while (nr < 200 || nf < 200) {
			Evd__Reply *r = recv_ok(fd);

			if (r->body_case == EVD__REPLY__BODY_SCHEDULED) {
				assert_int_equal(r->request_id, 100 + nr);
				sched_ids[nr++] = r->scheduled->timer_id;
			} else {
				assert_int_equal(r->body_case,
				                 EVD__REPLY__BODY_FIRED);
				fired[nf++] = r->fired->timer_id;
			}
			evd__reply__free_unpacked(r, NULL);
		}
	}
	for (i = 0; i < 200; i++)
		assert_int_equal(fired[i], sched_ids[i]);
	close(fd);
}

/*
 * call_soon against timers already due in the same loop iteration: evd
 * fires in deadline order, and a call_soon's deadline is the start of the
 * iteration that handled it, so timers that were due by then (here two
 * pipelined before and after it, due 1 s and 2 s ago) fire first,
 * earliest deadline first, whatever order they were scheduled in. (In
 * asyncio a callback from call_soon may run before timers that expired
 * in the same iteration; evd.proto says which rule evd follows.)
 */
static void
test_call_soon_after_due_timers(void **state)
{
	Evd__CallAt ca1 = EVD__CALL_AT__INIT, ca2 = EVD__CALL_AT__INIT;
	Evd__CallSoon cs = EVD__CALL_SOON__INIT;
	Evd__Time tm = EVD__TIME__INIT;
	Evd__Request rq;
	Evd__Reply *r;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	uint64_t ids[3], fired[3];
	int64_t now;
	int i, fd = conn();

	req_init(&rq, 2);
	rq.body_case = EVD__REQUEST__BODY_TIME;
	rq.time = &tm;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	r = recv_ok(fd);
	now = r->time->monotonic_ns;
	evd__reply__free_unpacked(r, NULL);

	ca1.has_when_ns = ca1.has_clock = 1;
	ca1.clock = EVD__CLOCK__MONOTONIC;
	ca1.when_ns = now - 1000000000LL;
	ca2 = ca1;
	ca2.when_ns = now - 2000000000LL;
	req_init(&rq, 10);
	rq.body_case = EVD__REQUEST__BODY_CALL_AT;
	rq.call_at = &ca1;
	assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	req_init(&rq, 11);
	rq.body_case = EVD__REQUEST__BODY_CALL_SOON;
	rq.call_soon = &cs;
	assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	req_init(&rq, 12);
	rq.body_case = EVD__REQUEST__BODY_CALL_AT;
	rq.call_at = &ca2;
	assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	assert_int_equal(raw_write(fd, buf, len), 0);
	free(buf);
	{
		int nr = 0, nf = 0;

		while (nr < 3 || nf < 3) {
			r = recv_ok(fd);
			if (r->body_case == EVD__REPLY__BODY_SCHEDULED)
				ids[nr++] = r->scheduled->timer_id;
			else if (r->body_case == EVD__REPLY__BODY_FIRED)
				fired[nf++] = r->fired->timer_id;
			else
				fail_msg("unexpected reply %d", r->body_case);
			evd__reply__free_unpacked(r, NULL);
		}
	}
	for (i = 0; i < 3; i++)
		print_message("fired %d: timer %llu\n", i,
		              (unsigned long long)fired[i]);
	assert_int_equal(fired[0], ids[2]); /* due 2 s ago */
	assert_int_equal(fired[1], ids[0]); /* due 1 s ago */
	assert_int_equal(fired[2], ids[1]); /* call_soon */
	close(fd);
}

/* Equal deadlines fire in scheduling order; earlier deadlines first. */
static void
test_equal_deadlines(void **state)
{
	Evd__CallAt ca = EVD__CALL_AT__INIT;
	Evd__Time tm = EVD__TIME__INIT;
	Evd__Request rq;
	Evd__Reply *r;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	uint64_t ids[100], fired[100];
	int64_t base;
	int i, fd = conn();

	req_init(&rq, 2);
	rq.body_case = EVD__REQUEST__BODY_TIME;
	rq.time = &tm;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	r = recv_ok(fd);
	base = r->time->monotonic_ns + 200 * 1000000LL;
	evd__reply__free_unpacked(r, NULL);

	ca.has_when_ns = ca.has_clock = 1;
	ca.clock = EVD__CLOCK__MONOTONIC;
	for (i = 0; i < 100; i++) {
		/* Two groups: 50 at base+1ms scheduled first, then 50 at
		 * base: the later group must fire first. */
		ca.when_ns = i < 50 ? base + 1000000 : base;
		req_init(&rq, 10 + (uint64_t)i);
		rq.body_case = EVD__REQUEST__BODY_CALL_AT;
		rq.call_at = &ca;
		assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	}
	assert_int_equal(raw_write(fd, buf, len), 0);
	free(buf);
	for (i = 0; i < 100; i++) {
		r = recv_ok(fd);
		assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
		ids[i] = r->scheduled->timer_id;
		evd__reply__free_unpacked(r, NULL);
	}
	collect_fires(fd, fired, 100);
	for (i = 0; i < 50; i++) {
		assert_int_equal(fired[i], ids[50 + i]);
		assert_int_equal(fired[50 + i], ids[i]);
	}
	close(fd);
}

static void
cancel_req(int fd, uint64_t req_id, uint64_t timer_id)
{
	Evd__Request rq;
	Evd__Cancel c = EVD__CANCEL__INIT;

	req_init(&rq, req_id);
	c.has_timer_id = 1;
	c.timer_id = timer_id;
	rq.body_case = EVD__REQUEST__BODY_CANCEL;
	rq.cancel = &c;
	assert_int_equal(raw_send_request(fd, &rq), 0);
}

static void
test_cancel(void **state)
{
	int fd = conn();
	uint64_t a = call_later(fd, 2, 150 * 1000000LL, NULL, "a");
	uint64_t b = call_later(fd, 3, 200 * 1000000LL, NULL, "b");
	Evd__Reply *r;

	cancel_req(fd, 4, a);
	r = recv_ok(fd);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_CANCELLED);
	assert_int_equal(r->cancelled->timer_id, a);
	evd__reply__free_unpacked(r, NULL);
	/* Cancelling again, or an id that never was, is NOT_FOUND. */
	cancel_req(fd, 5, a);
	expect_error(recv_ok(fd), 5, EVD__ERROR_CODE__NOT_FOUND);
	cancel_req(fd, 6, 999999999);
	expect_error(recv_ok(fd), 6, EVD__ERROR_CODE__NOT_FOUND);
	/* Only b fires. */
	r = recv_ok(fd);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_FIRED);
	assert_int_equal(r->fired->timer_id, b);
	assert_int_equal(r->fired->payload.len, 1);
	assert_memory_equal(r->fired->payload.data, "b", 1);
	evd__reply__free_unpacked(r, NULL);
	assert_null(raw_recv_reply(fd, 300));
	/* A fired timer cannot be cancelled either. */
	cancel_req(fd, 7, b);
	expect_error(recv_ok(fd), 7, EVD__ERROR_CODE__NOT_FOUND);
	close(fd);
}

/* Fires go to the connection that scheduled them, and nowhere else. */
static void
test_isolation(void **state)
{
	int a = conn(), b = conn();
	uint64_t ids[10], fired[10];
	int i;

	for (i = 0; i < 10; i++)
		ids[i] = call_later(a, 10 + (uint64_t)i, 50 * 1000000LL, NULL,
		                    NULL);
	collect_fires(a, fired, 10);
	for (i = 0; i < 10; i++)
		assert_int_equal(fired[i], ids[i]);
	assert_null(raw_recv_reply(b, 300));
	close(a);
	close(b);
}

static Evd__Reply *
stats(int fd, uint64_t req_id)
{
	Evd__Request rq;
	Evd__Stats s = EVD__STATS__INIT;
	Evd__Reply *r;

	req_init(&rq, req_id);
	rq.body_case = EVD__REQUEST__BODY_STATS;
	rq.stats = &s;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	r = recv_ok(fd);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_STATS);
	return r;
}

/* Caller-callback timers die with their connection: cancelled, and kept
 * so (issue 13), saying why. */
static void
test_ephemeral(void **state)
{
	int a = conn(), b = conn();
	Evd__Request rq;
	Evd__Get g = EVD__GET__INIT;
	uint64_t id = call_later(a, 2, 3600LL * 1000000000, NULL, NULL);

	close(a);
	/* Poll until the daemon noticed the close (bounded). */
	for (int i = 0; i < 200; i++) {
		Evd__Reply *r;

		req_init(&rq, 100 + (uint64_t)i);
		g.has_timer_id = 1;
		g.timer_id = id;
		rq.body_case = EVD__REQUEST__BODY_GET;
		rq.get = &g;
		assert_int_equal(raw_send_request(b, &rq), 0);
		r = recv_ok(b);
		assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
		if (r->timer->state == EVD__TIMER_STATE__CANCELLED) {
			assert_int_equal(r->timer->n_history, 1);
			assert_int_equal(r->timer->history[0]->outcome,
			                 EVD__RUN_OUTCOME__RUN_CANCELLED);
			assert_string_equal(r->timer->history[0]->detail,
			                    "its connection closed");
			evd__reply__free_unpacked(r, NULL);
			close(b);
			return;
		}
		assert_int_equal(r->timer->state, EVD__TIMER_STATE__PENDING);
		evd__reply__free_unpacked(r, NULL);
		usleep(10000);
	}
	fail_msg("timer %llu outlived its connection", (unsigned long long)id);
}

static void
subscribe(int fd, uint64_t req_id, const char *channel)
{
	Evd__Request rq;
	Evd__Subscribe s = EVD__SUBSCRIBE__INIT;
	Evd__Reply *r;

	req_init(&rq, req_id);
	s.channel = (char *)channel;
	rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &s;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	r = recv_ok(fd);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SUBSCRIBED);
	assert_int_equal(r->request_id, req_id);
	evd__reply__free_unpacked(r, NULL);
}

static void
ack(int fd, uint64_t req_id, uint64_t fire_id, int expect_code)
{
	Evd__Request rq;
	Evd__Ack a = EVD__ACK__INIT;
	Evd__Reply *r;

	req_init(&rq, req_id);
	a.has_fire_id = 1;
	a.fire_id = fire_id;
	rq.body_case = EVD__REQUEST__BODY_ACK;
	rq.ack = &a;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	r = recv_ok(fd);
	if (expect_code != 0) {
		expect_error(r, req_id, expect_code);
		return;
	}
	assert_int_equal(r->body_case, EVD__REPLY__BODY_ACKED);
	assert_int_equal(r->acked->fire_id, fire_id);
	evd__reply__free_unpacked(r, NULL);
}

/* A channel fire waits for a subscriber, is delivered, and once acked
 * is gone; unacked messages of a vanished subscriber are redelivered. */
static void
test_channel(void **state)
{
	int prod = conn(), s1, s2;
	uint64_t tid, fire_id;
	Evd__Reply *r;

	tid = call_later(prod, 2, 10 * 1000000LL, "integ-ch", "hello");
	usleep(50000); /* fired with nobody listening: queued */
	s1 = conn();
	subscribe(s1, 2, "integ-ch");
	r = recv_ok(s1);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_FIRED);
	assert_int_equal(r->fired->timer_id, tid);
	assert_string_equal(r->fired->channel, "integ-ch");
	assert_int_equal(r->fired->payload.len, 5);
	assert_memory_equal(r->fired->payload.data, "hello", 5);
	assert_int_equal(r->fired->attempt, 1);
	fire_id = r->fired->fire_id;
	evd__reply__free_unpacked(r, NULL);
	/* s1 vanishes without acking: s2 gets it again. */
	close(s1);
	s2 = conn();
	subscribe(s2, 2, "integ-ch");
	r = recv_ok(s2);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_FIRED);
	assert_int_equal(r->fired->fire_id, fire_id);
	assert_int_equal(r->fired->attempt, 2);
	evd__reply__free_unpacked(r, NULL);
	ack(s2, 3, fire_id, 0);
	ack(s2, 4, fire_id, EVD__ERROR_CODE__NOT_FOUND);
	ack(prod, 3, fire_id, EVD__ERROR_CODE__NOT_FOUND);
	assert_null(raw_recv_reply(s2, 200));
	close(s2);
	close(prod);
}

/* Invalid arguments are error replies; the connection stays. */
static void
test_invalid_arguments(void **state)
{
	Evd__Request rq;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__CallAt ca = EVD__CALL_AT__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	static uint8_t big[70000];
	int fd = conn();

	req_init(&rq, 20);
	cl.has_delay_ns = 1;
	cl.delay_ns = -1;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	expect_error(recv_ok(fd), 20, EVD__ERROR_CODE__INVALID_ARGUMENT);

	cl.delay_ns = INT64_MAX;
	req_init(&rq, 21);
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	expect_error(recv_ok(fd), 21, EVD__ERROR_CODE__INVALID_ARGUMENT);

	cl.delay_ns = 1000;
	cl.has_clock = 1;
	cl.clock = EVD__CLOCK__REALTIME;
	req_init(&rq, 22);
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	expect_error(recv_ok(fd), 22, EVD__ERROR_CODE__INVALID_ARGUMENT);

	ca.has_when_ns = 1;
	ca.when_ns = 1;
	ca.has_clock = 1;
	ca.clock = 42;
	req_init(&rq, 23);
	rq.body_case = EVD__REQUEST__BODY_CALL_AT;
	rq.call_at = &ca;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	expect_error(recv_ok(fd), 23, EVD__ERROR_CODE__INVALID_ARGUMENT);

	cl.has_clock = 0;
	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = "has space";
	cl.callback = &cb;
	req_init(&rq, 24);
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	expect_error(recv_ok(fd), 24, EVD__ERROR_CODE__INVALID_ARGUMENT);

	cb.target_case = EVD__CALLBACK__TARGET__NOT_SET;
	cb.has_payload = 1;
	cb.payload.data = big;
	cb.payload.len = sizeof big;
	req_init(&rq, 25);
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	expect_error(recv_ok(fd), 25, EVD__ERROR_CODE__INVALID_ARGUMENT);

	assert_int_equal(raw_hello(fd, 26), 0);
	close(fd);
}

/* After a bad frame the offender gets an Error event and EOF; a bystander
 * connected the whole time keeps being served. */
static void
check_bad_input(const void *bytes, size_t len, int expect_error_event)
{
	int bystander = conn(), bad = conn();
	Evd__Reply *r;

	assert_int_equal(raw_write(bad, bytes, len), 0);
	if (expect_error_event) {
		r = recv_ok(bad);
		assert_int_equal(r->body_case, EVD__REPLY__BODY_ERROR);
		assert_false(r->has_request_id);
		assert_int_equal(r->error->code, EVD__ERROR_CODE__PROTOCOL);
		evd__reply__free_unpacked(r, NULL);
	}
	assert_true(raw_wait_eof(bad, 5000));
	close(bad);
	assert_int_equal(raw_hello(bystander, 99), 0);
	call_later(bystander, 100, 1000, NULL, NULL);
	close(bystander);
}

static void
test_oversize_frame(void **state)
{
	/* 1 MiB + 1: over the default limit; no body follows. */
	uint8_t hdr[4] = { 0x00, 0x10, 0x00, 0x01 };

	check_bad_input(hdr, sizeof hdr, 1);
}

static void
test_huge_length(void **state)
{
	uint8_t hdr[4] = { 0xff, 0xff, 0xff, 0xff };

	check_bad_input(hdr, sizeof hdr, 1);
}

static void
test_zero_frame(void **state)
{
	uint8_t hdr[4] = { 0, 0, 0, 0 };

	check_bad_input(hdr, sizeof hdr, 1);
}

static void
test_garbage_body(void **state)
{
	/* A frame whose body is not protobuf: field 0, wire type 7. */
	uint8_t f[] = { 0, 0, 0, 6, 0x07, 0xff, 0xff, 0xff, 0xff, 0xff };

	check_bad_input(f, sizeof f, 1);
}

/* Half a frame, then the client vanishes. */
static void
test_vanish_mid_frame(void **state)
{
	int bystander = conn(), bad = conn();
	uint8_t half[] = { 0, 0, 0, 100, 0x08, 0x01, 0x52 };

	assert_int_equal(raw_write(bad, half, sizeof half), 0);
	close(bad);
	assert_int_equal(raw_hello(bystander, 5), 0);
	call_later(bystander, 6, 1000, NULL, NULL);
	close(bystander);
}

/* A newer peer's unknown fields are ignored, not an error. */
static void
test_unknown_fields(void **state)
{
	Evd__Request rq;
	Evd__Time t = EVD__TIME__INIT;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	/* field 900, varint 1: tag (900<<3)|0 = 7200 -> 0xa0 0x38 */
	uint8_t extra[] = { 0xa0, 0x38, 0x01 };
	Evd__Reply *r;
	int fd = conn();

	req_init(&rq, 44);
	rq.body_case = EVD__REQUEST__BODY_TIME;
	rq.time = &t;
	assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	buf = realloc(buf, len + sizeof extra);
	assert_non_null(buf);
	memcpy(buf + len, extra, sizeof extra);
	frame_put_header(buf, len - 4 + sizeof extra);
	assert_int_equal(raw_write(fd, buf, len + sizeof extra), 0);
	free(buf);
	r = recv_ok(fd);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIME);
	assert_int_equal(r->request_id, 44);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

/* A client that shuts down its sending side after a burst still gets
 * every reply, then EOF. */
static void
test_half_close(void **state)
{
	Evd__Time tm = EVD__TIME__INIT;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	uint64_t i;
	int fd = conn();

	for (i = 0; i < 50000; i++) {
		Evd__Request rq;

		req_init(&rq, 10 + i);
		rq.body_case = EVD__REQUEST__BODY_TIME;
		rq.time = &tm;
		assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	}
	assert_int_equal(raw_write(fd, buf, len), 0);
	free(buf);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	for (i = 0; i < 50000; i++) {
		Evd__Reply *r = recv_ok(fd);

		assert_int_equal(r->request_id, 10 + i);
		evd__reply__free_unpacked(r, NULL);
	}
	assert_true(raw_wait_eof(fd, 5000));
	close(fd);
}

static void
test_stats_counts(void **state)
{
	int fd = conn();
	Evd__Reply *r = stats(fd, 2);
	uint64_t before = r->stats->pending_timers;

	assert_non_null(r->stats->server_version);
	assert_string_equal(r->stats->store, "sqlite"); /* the default */
	assert_true(r->stats->connections >= 1);
	evd__reply__free_unpacked(r, NULL);
	call_later(fd, 3, 3600LL * 1000000000, NULL, NULL);
	r = stats(fd, 4);
	assert_int_equal(r->stats->pending_timers, before + 1);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_request_before_hello),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_request_id_required),
		cmocka_unit_test(test_unknown_request),
		cmocka_unit_test(test_unknown_fields),
		cmocka_unit_test(test_pipelined_10000),
		cmocka_unit_test(test_call_soon_fifo),
		cmocka_unit_test(test_call_soon_after_due_timers),
		cmocka_unit_test(test_equal_deadlines),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_isolation),
		cmocka_unit_test(test_ephemeral),
		cmocka_unit_test(test_channel),
		cmocka_unit_test(test_invalid_arguments),
		cmocka_unit_test(test_oversize_frame),
		cmocka_unit_test(test_huge_length),
		cmocka_unit_test(test_zero_frame),
		cmocka_unit_test(test_garbage_body),
		cmocka_unit_test(test_vanish_mid_frame),
		cmocka_unit_test(test_half_close),
		cmocka_unit_test(test_stats_counts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
