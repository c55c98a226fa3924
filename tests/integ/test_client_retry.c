/*
 * test_client_retry: what libevclient sends again after a lost connection,
 * against a scripted fake daemon (a thread of this test) that reads the
 * requests, then drops the connection without answering — as evd killed
 * after executing them would:
 * - a durable (channel) schedule without a key got a generated key, and
 *   is sent again byte for byte (same request id, same key) after Hello
 *   and the re-subscription, so the daemon answers with the timer it
 *   already has (existing) instead of scheduling twice;
 * - reads (time) are sent again;
 * - an ephemeral schedule and a cancel, already sent, fail with
 *   -EVC_E_IO (their effect may have happened, repeating is not safe);
 * - the program hears EVC_CONN_LOST, then EVC_CONN_RESTORED.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "evclient.h"
#include "frame.h"
#include "harness.h"

struct fake {
	int listen_fd;
	char path[108];
	/* Seen on the first connection, checked on the second. */
	uint64_t r1_id;
	char r1_key[128];
	int errors; /* script deviations, checked by the test */
	char why[256];
};

static Evd__Request *
recv_request(int fd)
{
	uint8_t hdr[4], *body;
	Evd__Request *rq;
	size_t n, got;
	ssize_t r;

	for (got = 0; got < 4; got += (size_t)r)
		if ((r = read(fd, hdr + got, 4 - got)) <= 0)
			return NULL;
	n = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 |
	    hdr[3];
	body = malloc(n);
	for (got = 0; got < n; got += (size_t)r)
		if ((r = read(fd, body + got, n - got)) <= 0) {
			free(body);
			return NULL;
		}
	rq = evd__request__unpack(NULL, n, body);
	free(body);
	return rq;
}

static void
send_reply(int fd, Evd__Reply *rp)
{
	size_t n = evd__reply__get_packed_size(rp);
	uint8_t *buf = malloc(4 + n);

	frame_put_header(buf, n);
	evd__reply__pack(rp, buf + 4);
	raw_write(fd, buf, 4 + n);
	free(buf);
}

#define EXPECT(f, cond, ...)                                                  \
	do {                                                                  \
		if (!(cond) && (f)->errors++ == 0)                            \
			snprintf((f)->why, sizeof((f)->why), __VA_ARGS__);    \
	} while (0)

/* Hello → Welcome; Subscribe(ch) → Subscribed. */
static void
greet(struct fake *f, int fd, int subscribe)
{
	Evd__Reply rp = EVD__REPLY__INIT;
	Evd__Welcome w = EVD__WELCOME__INIT;
	Evd__Subscribed sd = EVD__SUBSCRIBED__INIT;
	Evd__Request *rq = recv_request(fd);

	EXPECT(f, rq != NULL && rq->body_case == EVD__REQUEST__BODY_HELLO,
	       "no Hello first");
	if (rq == NULL)
		return;
	w.has_protocol_version = 1;
	w.protocol_version = 1;
	w.server_version = "fake";
	w.boot_id = "fake-boot";
	rp.has_request_id = 1;
	rp.request_id = rq->request_id;
	rp.body_case = EVD__REPLY__BODY_WELCOME;
	rp.welcome = &w;
	send_reply(fd, &rp);
	evd__request__free_unpacked(rq, NULL);
	if (!subscribe)
		return;
	rq = recv_request(fd);
	EXPECT(f, rq != NULL &&
		      rq->body_case == EVD__REQUEST__BODY_SUBSCRIBE &&
		      strcmp(rq->subscribe->channel, "ch") == 0,
	       "no Subscribe(ch)");
	if (rq == NULL)
		return;
	sd.channel = "ch";
	rp.request_id = rq->request_id;
	rp.body_case = EVD__REPLY__BODY_SUBSCRIBED;
	rp.subscribed = &sd;
	send_reply(fd, &rp);
	evd__request__free_unpacked(rq, NULL);
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	Evd__Reply rp = EVD__REPLY__INIT;
	Evd__Scheduled sc = EVD__SCHEDULED__INIT;
	Evd__TimeReply tr = EVD__TIME_REPLY__INIT;
	Evd__Request *rq;
	int fd, i;
	char buf[64];

	/* Connection 1: greet, read the four requests, hang up. */
	fd = accept(f->listen_fd, NULL, NULL);
	greet(f, fd, 1);
	for (i = 0; i < 4; i++) {
		rq = recv_request(fd);
		if (rq == NULL) {
			EXPECT(f, 0, "connection 1: request %d missing", i);
			break;
		}
		if (i == 0) {
			EXPECT(f, rq->body_case ==
					  EVD__REQUEST__BODY_CALL_LATER &&
				      rq->call_later->key != NULL,
			       "the channel schedule has no key");
			f->r1_id = rq->request_id;
			if (rq->call_later->key != NULL)
				snprintf(f->r1_key, sizeof(f->r1_key), "%s",
					 rq->call_later->key);
		}
		evd__request__free_unpacked(rq, NULL);
	}
	close(fd);

	/* Connection 2: greet and re-subscribe, then exactly the retried
	 * schedule and the time request. */
	fd = accept(f->listen_fd, NULL, NULL);
	greet(f, fd, 1);
	rq = recv_request(fd);
	EXPECT(f, rq != NULL && rq->body_case == EVD__REQUEST__BODY_CALL_LATER &&
		      rq->request_id == f->r1_id && rq->call_later->key &&
		      strcmp(rq->call_later->key, f->r1_key) == 0,
	       "the retried schedule differs (id or key)");
	if (rq != NULL) {
		sc.has_timer_id = sc.has_existing = 1;
		sc.timer_id = 42;
		sc.existing = 1;
		rp.has_request_id = 1;
		rp.request_id = rq->request_id;
		rp.body_case = EVD__REPLY__BODY_SCHEDULED;
		rp.scheduled = &sc;
		send_reply(fd, &rp);
		evd__request__free_unpacked(rq, NULL);
	}
	rq = recv_request(fd);
	EXPECT(f, rq != NULL && rq->body_case == EVD__REQUEST__BODY_TIME,
	       "the time request was not retried next");
	if (rq != NULL) {
		tr.has_monotonic_ns = 1;
		tr.monotonic_ns = 7;
		rp.request_id = rq->request_id;
		rp.body_case = EVD__REPLY__BODY_TIME;
		rp.time = &tr;
		send_reply(fd, &rp);
		evd__request__free_unpacked(rq, NULL);
	}
	/* Nothing else may come: wait for the client to hang up. */
	while (read(fd, buf, sizeof(buf)) > 0)
		EXPECT(f, 0, "unexpected bytes after the retries");
	close(fd);
	return NULL;
}

struct results {
	int n;
	int sched_status, eph_status, cancel_status, time_status;
	uint64_t timer_id;
	bool existing;
	int64_t mono;
	int lost, restored;
};

static void
on_sched(struct evc *c, const struct evc_result *res, void *arg)
{
	struct results *r = arg;

	r->sched_status = res->status;
	if (res->status == 0) {
		r->timer_id = res->scheduled->timer_id;
		r->existing = res->scheduled->existing;
	}
	r->n++;
}

static void
on_eph(struct evc *c, const struct evc_result *res, void *arg)
{
	struct results *r = arg;

	r->eph_status = res->status;
	assert_non_null(strstr(res->errmsg, "lost"));
	r->n++;
}

static void
on_cancel(struct evc *c, const struct evc_result *res, void *arg)
{
	struct results *r = arg;

	r->cancel_status = res->status;
	r->n++;
}

static void
on_time(struct evc *c, const struct evc_result *res, void *arg)
{
	struct results *r = arg;

	r->time_status = res->status;
	if (res->status == 0)
		r->mono = res->time->monotonic_ns;
	r->n++;
}

static void
on_conn(struct evc *c, enum evc_conn_event ev, int code, const char *why,
	void *arg)
{
	struct results *r = arg;

	if (ev == EVC_CONN_LOST) {
		assert_int_equal(r->restored, 0);
		assert_int_equal(code, EVC_E_IO);
		r->lost++;
	} else if (ev == EVC_CONN_RESTORED) {
		assert_int_equal(r->lost, 1);
		r->restored++;
	}
}

static void
test_retry_after_drop(void **state)
{
	struct fake f = {0};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct evc_callback dur = {.channel = "dur"};
	struct results res = {0};
	char dir[] = "/tmp/evc-retry.XXXXXX", err[256];
	pthread_t t;
	struct evc *c;
	int i;

	assert_non_null(mkdtemp(dir));
	snprintf(f.path, sizeof(f.path), "%s/fake.sock", dir);
	memcpy(sa.sun_path, f.path, strlen(f.path) + 1);
	f.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f.listen_fd >= 0);
	assert_int_equal(bind(f.listen_fd, (struct sockaddr *)&sa, sizeof sa),
			 0);
	assert_int_equal(listen(f.listen_fd, 4), 0);
	pthread_create(&t, NULL, fake_main, &f);

	assert_int_equal(evc_connect(f.path, "retry", 5000, &c, err,
				     sizeof err),
			 0);
	assert_int_equal(evc_set_reconnect(c, 10, 100), 0);
	assert_int_equal(evc_set_reconnect(c, 10, 5), -EVC_E_USAGE);
	evc_set_conn_cb(c, on_conn, &res);
	assert_int_equal(evc_subscribe(c, "ch", 5000), 0);
	assert_int_equal(evc_call_later_async(c, 1000, EVC_CLOCK_MONOTONIC,
					      &dur, on_sched, &res),
			 0);
	assert_int_equal(evc_call_later_async(c, 1000, EVC_CLOCK_MONOTONIC,
					      NULL, on_eph, &res),
			 0);
	assert_int_equal(evc_cancel_async(c, 7, on_cancel, &res), 0);
	assert_int_equal(evc_time_async(c, on_time, &res), 0);
	for (i = 0; i < 5000 && res.n < 4; i++) {
		struct pollfd pfd = {.fd = evc_fd(c),
				     .events = (short)evc_events_wanted(c)};
		int ms = evc_next_timeout_ms(c);

		poll(&pfd, pfd.fd >= 0 ? 1 : 0, ms < 0 || ms > 5 ? 5 : ms);
		assert_int_equal(evc_process(c), 0);
	}
	assert_int_equal(res.n, 4);
	assert_int_equal(res.eph_status, -EVC_E_IO);
	assert_int_equal(res.cancel_status, -EVC_E_IO);
	assert_int_equal(res.sched_status, 0);
	assert_int_equal(res.timer_id, 42);
	assert_true(res.existing);
	assert_int_equal(res.time_status, 0);
	assert_int_equal(res.mono, 7);
	assert_int_equal(res.lost, 1);
	assert_int_equal(res.restored, 1);
	assert_string_equal(evc_server_info(c)->boot_id, "fake-boot");
	assert_int_equal(strncmp(f.r1_key, "evc-", 4), 0);
	assert_true(strlen(f.r1_key) > 4 + 32);
	evc_close(c);
	pthread_join(t, NULL);
	if (f.errors > 0)
		fail_msg("fake daemon: %s", f.why);
	close(f.listen_fd);
	rm_rf(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retry_after_drop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
