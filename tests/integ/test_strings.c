/*
 * test_strings: every string of a request must be UTF-8 without a NUL
 * byte, against the real evd with raw frames. protobuf-c cut strings at
 * their first NUL, so "job\0A" and "job\0B" were the same idempotency key
 * and "name\0evil" went to channel "name"; bytes that are not UTF-8 were
 * kept and echoed back in replies that strict decoders refuse. Each bad
 * string, wherever it sits in the message, is now INVALID_ARGUMENT with
 * the field's path in the message and the request's id, and the
 * connection carries on. libevclient refuses such strings before sending.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "evclient.h"
#include "frame.h"
#include "harness.h"

#define MS 1000000LL
/* In the one string of a request passed as `marked`, this byte is turned
 * into a NUL once packed (protobuf-c packs a char * up to its first NUL,
 * so a NUL cannot be put in directly). */
#define NUL_MARK "\x7f"

static struct evd_proc evd;
static uint64_t rid = 1;

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

static int
greet(void)
{
	int fd = raw_connect(evd.sock);

	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, rid++), 0);
	return fd;
}

/* Sends rq with the NUL_MARK bytes of string marked (NULL: none) made
 * NULs where it sits in the frame, and returns the reply to it. */
static Evd__Reply *
call_patched(int fd, Evd__Request *rq, const char *marked)
{
	uint8_t *buf = NULL, *p;
	size_t len = 0, cap = 0, i, mlen;
	uint64_t id = rid++;
	Evd__Reply *r;

	rq->has_request_id = 1;
	rq->request_id = id;
	assert_int_equal(raw_append_request(&buf, &len, &cap, rq), 0);
	if (marked != NULL) {
		mlen = strlen(marked);
		p = memmem(buf + FRAME_HEADER_LEN, len - FRAME_HEADER_LEN,
			   marked, mlen);
		assert_non_null(p);
		for (i = 0; i < mlen; i++)
			if (p[i] == 0x7f)
				p[i] = 0;
	}
	assert_int_equal(raw_write(fd, buf, len), 0);
	free(buf);
	while ((r = raw_recv_reply(fd, 5000)) != NULL) {
		if (r->has_request_id && r->request_id == id)
			return r;
		evd__reply__free_unpacked(r, NULL);
	}
	fail_msg("no reply to request %llu", (unsigned long long)id);
	return NULL;
}

/* The connection still answers. */
static void
still_serves(int fd)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Time t = EVD__TIME__INIT;
	Evd__Reply *r;

	rq.body_case = EVD__REQUEST__BODY_TIME;
	rq.time = &t;
	r = call_patched(fd, &rq, NULL);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIME);
	evd__reply__free_unpacked(r, NULL);
}

/* rq (patched as call_patched) is refused as INVALID_ARGUMENT naming
 * field, for why; then the connection still serves. */
static void
refused(int fd, Evd__Request *rq, const char *marked, const char *field,
	const char *why)
{
	Evd__Reply *r = call_patched(fd, rq, marked);
	char want[256];

	snprintf(want, sizeof want, "%s %s", field, why);
	if (r->body_case != EVD__REPLY__BODY_ERROR)
		fail_msg("%s: accepted (reply body %d)", want, r->body_case);
	if (r->error->code != EVD__ERROR_CODE__INVALID_ARGUMENT ||
	    strcmp(r->error->message, want) != 0)
		fail_msg("want INVALID_ARGUMENT \"%s\", got %d \"%s\"", want,
			 r->error->code, r->error->message);
	evd__reply__free_unpacked(r, NULL);
	still_serves(fd);
}

#define NUL_BYTE "contains a NUL byte"
#define NOT_UTF8 "is not valid UTF-8"

static Evd__Reply *
later_key(int fd, const char *key)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;

	cl.has_delay_ns = 1;
	cl.delay_ns = 3600 * 1000 * MS;
	cl.key = (char *)key;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	return call_patched(fd, &rq, key);
}

/* "job\0A" and "job\0B" were both key "job": the second schedule got the
 * first timer back (existing) and was never scheduled. */
static void
test_nul_in_key(void **state)
{
	int fd = greet();
	uint64_t id;
	Evd__Reply *r;
	int i;

	for (i = 0; i < 2; i++) {
		r = later_key(fd,
			      i == 0 ? "job" NUL_MARK "A" : "job" NUL_MARK "B");
		assert_int_equal(r->body_case, EVD__REPLY__BODY_ERROR);
		assert_int_equal(r->error->code,
				 EVD__ERROR_CODE__INVALID_ARGUMENT);
		assert_string_equal(r->error->message,
				    "call_later.key " NUL_BYTE);
		evd__reply__free_unpacked(r, NULL);
	}
	/* Nothing was scheduled under "job": it is new, then existing. */
	r = later_key(fd, "job");
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	assert_false(r->scheduled->existing);
	id = r->scheduled->timer_id;
	evd__reply__free_unpacked(r, NULL);
	r = later_key(fd, "job");
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	assert_true(r->scheduled->existing);
	assert_int_equal(r->scheduled->timer_id, id);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

/* A channel callback with a bad name: the message would have gone to
 * "name", or carried bytes a strict decoder refuses into every List. */
static void
test_bad_channel(void **state)
{
	static const struct {
		const char *name, *why;
	} cases[] = {
	    {"name" NUL_MARK "evil", NUL_BYTE},
	    {"\xff\xfe", NOT_UTF8},
	    {"caf\xc3", NOT_UTF8},	    /* cut short */
	    {"\xc0\xaf", NOT_UTF8},	    /* overlong '/' */
	    {"\xe0\x80\xaf", NOT_UTF8},	    /* overlong '/' */
	    {"\xed\xa0\x80", NOT_UTF8},	    /* surrogate D800 */
	    {"\xf4\x90\x80\x80", NOT_UTF8}, /* U+110000 */
	    {"ok\x80", NOT_UTF8},	    /* lone continuation */
	};
	int fd = greet();
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__CallLater cl = EVD__CALL_LATER__INIT;
		Evd__Callback cb = EVD__CALLBACK__INIT;

		cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb.channel = (char *)cases[i].name;
		cl.has_delay_ns = 1;
		cl.delay_ns = 3600 * 1000 * MS;
		cl.callback = &cb;
		rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
		rq.call_later = &cl;
		refused(fd, &rq, cases[i].name, "call_later.callback.channel",
			cases[i].why);
	}
	close(fd);
}

/* Strings of every request type, at every depth. */
static void
test_every_string_field(void **state)
{
	Evd__Exec x = EVD__EXEC__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__CallSoon cs = EVD__CALL_SOON__INIT;
	char *argv[] = {"/bin/true", "\xc3\x28"};
	char *env[] = {"A=1", "B=\xed\xbf\xbf"};
	char *props[] = {"CPUQuota=\xff" NUL_MARK};
	int fd = greet();

	cb.target_case = EVD__CALLBACK__TARGET_EXEC;
	cb.exec = &x;
	cs.callback = &cb;
	{
		Evd__Request rq = EVD__REQUEST__INIT;

		rq.body_case = EVD__REQUEST__BODY_CALL_SOON;
		rq.call_soon = &cs;
		x.n_argv = 2;
		x.argv = argv;
		refused(fd, &rq, NULL, "call_soon.callback.exec.argv[1]",
			NOT_UTF8);
		x.argv[1] = "ok" NUL_MARK;
		refused(fd, &rq, x.argv[1], "call_soon.callback.exec.argv[1]",
			NUL_BYTE);
		x.n_argv = 1;
		x.n_env = 2;
		x.env = env;
		refused(fd, &rq, NULL, "call_soon.callback.exec.env[1]",
			NOT_UTF8);
		x.n_env = 0;
		x.cwd = "/tmp" NUL_MARK "/x";
		refused(fd, &rq, x.cwd, "call_soon.callback.exec.cwd",
			NUL_BYTE);
		x.cwd = NULL;
		x.user = "\xf8\x88\x80\x80\x80";
		refused(fd, &rq, NULL, "call_soon.callback.exec.user",
			NOT_UTF8);
		x.user = NULL;
		x.n_properties = 1;
		x.properties = props;
		refused(fd, &rq, NULL, "call_soon.callback.exec.properties[0]",
			NOT_UTF8);
		x.n_properties = 0;
		x.on_failure = "fail" NUL_MARK "x";
		refused(fd, &rq, x.on_failure,
			"call_soon.callback.exec.on_failure", NUL_BYTE);
		x.on_failure = NULL;
		cs.key = "\xa0";
		refused(fd, &rq, NULL, "call_soon.key", NOT_UTF8);
	}
	{
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__CallOn co = EVD__CALL_ON__INIT;
		Evd__TimerOptions o = EVD__TIMER_OPTIONS__INIT;
		Evd__Repeat rep = EVD__REPEAT__INIT;

		co.calendar = "daily";
		co.tz = "Europe/Paris" NUL_MARK "x";
		rq.body_case = EVD__REQUEST__BODY_CALL_ON;
		rq.call_on = &co;
		refused(fd, &rq, co.tz, "call_on.tz", NUL_BYTE);
		co.tz = NULL;
		co.calendar = "daily\xe2\x82";
		refused(fd, &rq, NULL, "call_on.calendar", NOT_UTF8);
		co.calendar = "daily";
		rep.tz = "UTC\xff";
		o.repeat = &rep;
		co.options = &o;
		refused(fd, &rq, NULL, "call_on.options.repeat.tz", NOT_UTF8);
	}
	{
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__Subscribe s = EVD__SUBSCRIBE__INIT;
		Evd__List l = EVD__LIST__INIT;
		Evd__GetChannel g = EVD__GET_CHANNEL__INIT;
		Evd__ChannelGrant cg = EVD__CHANNEL_GRANT__INIT;
		Evd__ListDead ld = EVD__LIST_DEAD__INIT;
		Evd__RequeueDead rd = EVD__REQUEUE_DEAD__INIT;
		Evd__PurgeDead pd = EVD__PURGE_DEAD__INIT;

		s.channel = "sub" NUL_MARK "x";
		rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
		rq.subscribe = &s;
		refused(fd, &rq, s.channel, "subscribe.channel", NUL_BYTE);
		l.channel = "\xfe";
		rq.body_case = EVD__REQUEST__BODY_LIST;
		rq.list = &l;
		refused(fd, &rq, NULL, "list.channel", NOT_UTF8);
		g.channel = "\xfe";
		rq.body_case = EVD__REQUEST__BODY_GET_CHANNEL;
		rq.get_channel = &g;
		refused(fd, &rq, NULL, "get_channel.channel", NOT_UTF8);
		cg.channel = "g" NUL_MARK;
		rq.body_case = EVD__REQUEST__BODY_CHANNEL_GRANT;
		rq.channel_grant = &cg;
		refused(fd, &rq, cg.channel, "channel_grant.channel", NUL_BYTE);
		ld.channel = "\xfe";
		rq.body_case = EVD__REQUEST__BODY_LIST_DEAD;
		rq.list_dead = &ld;
		refused(fd, &rq, NULL, "list_dead.channel", NOT_UTF8);
		rd.channel = "\xfe";
		rq.body_case = EVD__REQUEST__BODY_REQUEUE_DEAD;
		rq.requeue_dead = &rd;
		refused(fd, &rq, NULL, "requeue_dead.channel", NOT_UTF8);
		pd.channel = "\xfe";
		rq.body_case = EVD__REQUEST__BODY_PURGE_DEAD;
		rq.purge_dead = &pd;
		refused(fd, &rq, NULL, "purge_dead.channel", NOT_UTF8);
	}
	close(fd);
}

/* Hello too: refused, and the connection can still greet properly. */
static void
test_bad_hello(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Hello h = EVD__HELLO__INIT;
	int fd = raw_connect(evd.sock);
	Evd__Reply *r;

	assert_true(fd >= 0);
	h.has_protocol_version = 1;
	h.protocol_version = 1;
	h.client_name = "me" NUL_MARK "you";
	rq.body_case = EVD__REQUEST__BODY_HELLO;
	rq.hello = &h;
	r = call_patched(fd, &rq, h.client_name);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_ERROR);
	assert_int_equal(r->error->code, EVD__ERROR_CODE__INVALID_ARGUMENT);
	assert_string_equal(r->error->message, "hello.client_name " NUL_BYTE);
	evd__reply__free_unpacked(r, NULL);
	assert_int_equal(raw_hello(fd, rid++), 0);
	still_serves(fd);
	close(fd);
}

/* UTF-8 itself is welcome: up to four-byte sequences and the edges of
 * the ranges, echoed back intact. */
static void
test_good_utf8(void **state)
{
	static const char *const names[] = {
	    "caf\xc3\xa9",
	    "\xe2\x82\xac-\xed\x9f\xbf-\xee\x80\x80",
	    "\xf0\x9f\x98\x80",
	    "\xf4\x8f\xbf\xbf",
	};
	int fd = greet();
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__Subscribe s = EVD__SUBSCRIBE__INIT;
		Evd__Reply *r;

		s.channel = (char *)names[i];
		rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
		rq.subscribe = &s;
		r = call_patched(fd, &rq, NULL);
		if (r->body_case != EVD__REPLY__BODY_SUBSCRIBED)
			fail_msg("%zu: %s", i,
				 r->body_case == EVD__REPLY__BODY_ERROR
				     ? r->error->message
				     : "unexpected reply");
		assert_string_equal(r->subscribed->channel, names[i]);
		evd__reply__free_unpacked(r, NULL);
	}
	close(fd);
}

/* libevclient does not send what the daemon would refuse: the call fails
 * locally, naming the field, and the handle carries on. */
static void
test_client_refuses(void **state)
{
	struct evc_callback cb = {.key = "job\xff"};
	struct evc_scheduled s;
	struct evc *c = NULL;
	char err[256];

	if (evc_connect(evd.sock, "test_strings", 5000, &c, err, sizeof err) <
	    0)
		fail_msg("evc_connect: %s", err);
	assert_int_equal(evc_call_later(c, 3600 * 1000 * MS,
					EVC_CLOCK_MONOTONIC, &cb, 5000, &s),
			 -EVC_E_USAGE);
	assert_non_null(strstr(evc_errmsg(c), "call_later.key"));
	assert_non_null(strstr(evc_errmsg(c), NOT_UTF8));
	cb.key = "job";
	assert_int_equal(evc_call_later(c, 3600 * 1000 * MS,
					EVC_CLOCK_MONOTONIC, &cb, 5000, &s),
			 0);
	evc_close(c);
	/* A client name that is not UTF-8 fails the connect itself. */
	c = NULL;
	assert_true(
	    evc_connect(evd.sock, "bad\xff", 5000, &c, err, sizeof err) < 0);
	assert_null(c);
	assert_non_null(strstr(err, "hello.client_name"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nul_in_key),
	    cmocka_unit_test(test_bad_channel),
	    cmocka_unit_test(test_every_string_field),
	    cmocka_unit_test(test_bad_hello),
	    cmocka_unit_test(test_good_utf8),
	    cmocka_unit_test(test_client_refuses),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
