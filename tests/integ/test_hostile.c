/*
 * test_hostile: clients that misbehave on purpose, against the real evd.
 * Half a frame and then silence is closed after frame_timeout_ms, and so
 * is a frame fed a byte at a time (its deadline runs from its first
 * byte); a
 * client that never reads while fires pile up is disconnected at the
 * output limit with the daemon's memory bounded, or after
 * frame_timeout_ms when its output sits above the high-water mark
 * untaken below that limit, or taken too slowly; a subscriber stopped
 * with SIGSTOP holding a message loses it to another subscriber after its
 * visibility timeout; running out of file descriptors neither spins the
 * loop nor stops service once fds free up. A bystander is served
 * throughout.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define MS 1000000LL

static struct evd_proc evd;
static uint64_t rid = 1;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
greet(void)
{
	int fd = raw_connect(evd.sock);

	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, rid++), 0);
	return fd;
}

/* The bystander: a full request/reply still works. */
static void
bystander_ok(void)
{
	int fd = greet();

	close(fd);
}

static Evd__Reply *
call(int fd, Evd__Request *rq)
{
	rq->has_request_id = 1;
	rq->request_id = rid++;
	return raw_call(fd, rq, 10000);
}

/* Reads /proc/PID/status VmRSS in KiB. */
static long
rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* utime + stime of pid in clock ticks. */
static long
cpu_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(buf, sizeof buf, f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	/* Fields 14 and 15, after the command name in parentheses. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	           &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

static void
test_slow_loris(void **state)
{
	uint8_t half[] = { 0, 0, 0, 40, 0x08, 0x01 };
	int64_t t0;
	int fd = greet();

	assert_int_equal(raw_write(fd, half, sizeof half), 0);
	t0 = now_ms();
	assert_true(raw_wait_eof(fd, 10000));
	/* Closed for the silence (300 ms here), not at once. */
	assert_true(now_ms() - t0 >= 250);
	close(fd);
	bystander_ok();
}

/* A frame's bytes may come in many reads, and frames back to back may
 * take longer together than one frame may: each frame has its own
 * deadline, from its first byte. Three frames sent 4 bytes at a time,
 * 50 ms apart: about 100 ms each, 300 ms in all, under a 300 ms limit. */
static void
test_slow_but_alive(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Time tm = EVD__TIME__INIT;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, i;
	Evd__Reply *r;
	int fd = greet(), k;

	rq.has_request_id = 1;
	rq.body_case = EVD__REQUEST__BODY_TIME;
	rq.time = &tm;
	for (k = 0; k < 3; k++) {
		rq.request_id = 77 + (uint64_t)k;
		assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	}
	for (i = 0; i < len; i += 4) {
		assert_int_equal(raw_write(fd, buf + i, len - i < 4 ? len - i
		                                                   : 4),
		                 0);
		usleep(50000);
	}
	free(buf);
	for (k = 0; k < 3; k++) {
		r = raw_recv_reply(fd, 5000);
		assert_non_null(r);
		assert_int_equal(r->request_id, 77 + (uint64_t)k);
		evd__reply__free_unpacked(r, NULL);
	}
	close(fd);
}

/*
 * Slow-loris: announce a 1 MiB frame and send a byte of it every third
 * of frame_timeout_ms. Each byte used to restart the clock, so the
 * connection and its 1 MiB buffer were held for ever; now the frame has
 * frame_timeout_ms (300 ms here) from its first byte. A bystander is
 * served meanwhile.
 */
static void
test_drip_fed_frame(void **state)
{
	uint8_t hdr[4] = { 0x00, 0x10, 0x00, 0x00 }; /* 1 MiB: the maximum */
	uint8_t byte = 0x08;
	int64_t t0, elapsed;
	int fd = greet(), n;
	bool closed = false;

	assert_int_equal(raw_write(fd, hdr, sizeof hdr), 0);
	t0 = now_ms();
	for (n = 0; n < 50 && !closed; n++) {
		if (raw_write(fd, &byte, 1) < 0)
			closed = true; /* EPIPE: it is gone */
		else
			closed = raw_wait_eof(fd, 100);
		if (n == 1)
			bystander_ok();
	}
	elapsed = now_ms() - t0;
	printf("closed after %lld ms and %d bytes\n", (long long)elapsed, n);
	assert_true(closed);
	/* At its deadline (300 ms), not before; not after 1 s of slack. */
	assert_true(elapsed >= 250);
	assert_true(elapsed < 1300);
	close(fd);
	bystander_ok();
}

/*
 * A client that keeps sending and never reads, its output past the
 * high-water mark but below the limit: reading stops, and after
 * frame_timeout_ms without a byte of output taken the connection is
 * closed (before, it was held open for ever, as the peer was blocked in
 * its own write).
 */
static void
test_stalled_above_high_water(void **state)
{
	static uint8_t payload[64 * 1024 - 64];
	Evd__CallSoon cs = EVD__CALL_SOON__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	int fd = greet(), i, flags;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, off = 0;
	bool eof = false;
	int64_t end;

	/* 100 fires of 64 KiB: 6.4 MiB, over the 4 MiB high-water mark and
	 * under the 32 MiB limit. */
	memset(payload, 'y', sizeof payload);
	cb.has_payload = 1;
	cb.payload.data = payload;
	cb.payload.len = sizeof payload;
	cs.callback = &cb;
	for (i = 0; i < 100; i++) {
		Evd__Request rq = EVD__REQUEST__INIT;

		rq.has_request_id = 1;
		rq.request_id = rid++;
		rq.body_case = EVD__REQUEST__BODY_CALL_SOON;
		rq.call_soon = &cs;
		assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	}
	flags = fcntl(fd, F_GETFL);
	assert_int_equal(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
	/* Send what the daemon takes, for a second, without reading. */
	end = now_ms() + 1000;
	while (off < len && now_ms() < end) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno != EAGAIN)
			break;
		else
			usleep(10000);
	}
	free(buf);
	/* Still not reading: the daemon's close shows as POLLRDHUP while
	 * its output sits unread in our buffer. */
	{
		struct pollfd pfd = {fd, POLLRDHUP, 0};

		eof = poll(&pfd, 1, 10000) == 1 &&
		      (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
	}
	close(fd);
	assert_true(eof);
	assert_true(evd_alive(&evd));
	bystander_ok();
}

/*
 * A client past the high-water mark that takes its output a trickle at a
 * time: 32 KiB every 100 ms (320 KiB/s, under the 256 KiB per 300 ms it
 * must take here), while a repeating timer of its own keeps adding
 * events, so that evd writes again whenever the client made room. Any
 * write used to restart its clock, so such a client kept megabytes of
 * output for as long as it liked; it is now closed about
 * frame_timeout_ms after its output passed the mark.
 */
static void
test_trickle_reader(void **state)
{
	static uint8_t payload[64 * 1024 - 64];
	Evd__CallSoon cs = EVD__CALL_SOON__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT, tick = EVD__CALLBACK__INIT;
	Evd__TimerOptions o = EVD__TIMER_OPTIONS__INIT;
	Evd__Repeat rep = EVD__REPEAT__INIT;
	int fd = greet(), i, flags;
	uint8_t *buf = NULL, sink[32 * 1024];
	size_t len = 0, cap = 0, off = 0, got = 0;
	bool eof = false;
	int64_t t0, end;

	{
		Evd__Request rq = EVD__REQUEST__INIT;

		rep.has_every_ns = 1;
		rep.every_ns = 20 * MS;
		o.repeat = &rep;
		cl.has_delay_ns = 1;
		cl.delay_ns = 20 * MS;
		cl.callback = &tick;
		cl.options = &o;
		rq.has_request_id = 1;
		rq.request_id = rid++;
		rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
		rq.call_later = &cl;
		assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	}
	memset(payload, 'z', sizeof payload);
	cb.has_payload = 1;
	cb.payload.data = payload;
	cb.payload.len = sizeof payload;
	cs.callback = &cb;
	for (i = 0; i < 100; i++) {
		Evd__Request rq = EVD__REQUEST__INIT;

		rq.has_request_id = 1;
		rq.request_id = rid++;
		rq.body_case = EVD__REQUEST__BODY_CALL_SOON;
		rq.call_soon = &cs;
		assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	}
	flags = fcntl(fd, F_GETFL);
	assert_int_equal(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
	t0 = now_ms();
	end = t0 + 10000;
	while (!eof && now_ms() < end) {
		ssize_t n;

		if (off < len) {
			n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
			if (n > 0)
				off += (size_t)n;
		}
		n = read(fd, sink, sizeof sink);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			eof = true;
		else if (n > 0)
			got += (size_t)n;
		usleep(100000);
	}
	free(buf);
	close(fd);
	printf("closed: %d after %lld ms, %zu bytes taken\n", eof,
	       (long long)(now_ms() - t0), got);
	/* 6.4 MiB at 320 KiB/s would take 20 s: closed long before. */
	assert_true(eof);
	assert_true(now_ms() - t0 < 6000);
	assert_true(evd_alive(&evd));
	bystander_ok();
}

/*
 * A List that finds nothing, padded with an unknown field so that the
 * request and the page fill the daemon's per-request arena to the very
 * byte: the empty page's zero-sized blocks then sat past the arena's end,
 * and freeing them aborted the daemon. Every padding in 16-byte steps
 * across the last 6 KiB is tried; each must get its (empty) page.
 */
static void
test_list_fills_the_arena(void **state)
{
	static uint8_t pad[66000];
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__List l = EVD__LIST__INIT;
	int fd = greet();

	l.has_after_id = 1;
	l.after_id = UINT64_MAX; /* past every timer: an empty page */
	l.has_limit = 1;
	l.limit = 1;
	rq.has_request_id = 1;
	rq.body_case = EVD__REQUEST__BODY_LIST;
	rq.list = &l;
	for (size_t p = 65536 - 6144; p <= 65536; p += 16) {
		size_t n, len;
		uint8_t *buf, *q;
		Evd__Reply *r;

		rq.request_id = rid++;
		n = evd__request__get_packed_size(&rq);
		assert_non_null(buf = malloc(4 + n + 8 + p));
		evd__request__pack(&rq, buf + 4);
		/* Field 99, length-delimited: unknown to evd. */
		q = buf + 4 + n;
		*q++ = (uint8_t)((99 << 3 | 2) | 0x80);
		*q++ = (uint8_t)((99 << 3 | 2) >> 7);
		for (size_t v = p; v >= 0x80; v >>= 7)
			*q++ = (uint8_t)(v | 0x80);
		*q++ = (uint8_t)(p >> (7 * ((p >= 0x80) + (p >= 0x4000))));
		memcpy(q, pad, p);
		len = (size_t)(q + p - buf) - 4;
		buf[0] = (uint8_t)(len >> 24);
		buf[1] = (uint8_t)(len >> 16);
		buf[2] = (uint8_t)(len >> 8);
		buf[3] = (uint8_t)len;
		assert_int_equal(raw_write(fd, buf, len + 4), 0);
		free(buf);
		r = raw_recv_reply(fd, 5000);
		if (r == NULL)
			fail_msg("no answer with %zu bytes of padding", p);
		if (r->body_case == EVD__REPLY__BODY_ERROR)
			fail_msg("padding %zu: %s", p, r->error->message);
		assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER_LIST);
		assert_int_equal(r->timer_list->n_timers, 0);
		evd__reply__free_unpacked(r, NULL);
	}
	close(fd);
	assert_true(evd_alive(&evd));
	bystander_ok();
}

/* 500 fires of 64 KiB each, to a client that never reads: 32 MiB of
 * events would pile up; evd cuts it off and its memory stays bounded. */
static void
test_never_reads(void **state)
{
	static uint8_t payload[64 * 1024 - 64];
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	long before = rss_kib(evd.pid), peak = 0;
	int fd = greet(), i, flags;
	int64_t end;

	memset(payload, 'x', sizeof payload);
	cb.has_payload = 1;
	cb.payload.data = payload;
	cb.payload.len = sizeof payload;
	cl.has_delay_ns = 1;
	cl.delay_ns = 300 * MS;
	cl.callback = &cb;
	for (i = 0; i < 600; i++) {
		Evd__Request rq = EVD__REQUEST__INIT;
		int r;

		rq.has_request_id = 1;
		rq.request_id = rid++;
		rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
		rq.call_later = &cl;
		r = raw_send_request(fd, &rq);
		/* If evd paused us early, it gives up on us while we are
		 * still sending (test_stalled_above_high_water): that is
		 * the close this test waits for. */
		if (r == -EPIPE || r == -ECONNRESET)
			break;
		assert_int_equal(r, 0);
	}
	/* Never read; watch evd until it gives up on us. */
	flags = fcntl(fd, F_GETFL);
	assert_int_equal(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
	end = now_ms() + 20000;
	for (;;) {
		long rss = rss_kib(evd.pid);
		char c;

		if (rss > peak)
			peak = rss;
		/* A peek tells whether evd closed us, without reading. */
		if (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
			break;
		if (evd_alive(&evd) == 0)
			fail_msg("evd died");
		assert_true(now_ms() < end);
		/* The connection stays open while output is below the limit;
		 * EOF only shows after the buffered data: drain it once the
		 * daemon had time to pass the limit. */
		if (now_ms() > end - 15000) {
			uint8_t sink[65536];

			while (read(fd, sink, sizeof sink) > 0)
				;
		}
		usleep(50000);
	}
	close(fd);
	printf("rss before %ld KiB, peak %ld KiB\n", before, peak);
	/* 32 MiB of output per connection at most, plus the timers' own
	 * payloads (38 MiB): well under 200 MiB over the start. */
	assert_true(peak - before < 200 * 1024);
	assert_true(evd_alive(&evd));
	bystander_ok();
}

static void
subscribe(int fd, const char *channel, int64_t visibility_ns)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Subscribe s = EVD__SUBSCRIBE__INIT;
	Evd__Reply *r;

	s.channel = (char *)channel;
	s.has_visibility_timeout_ns = 1;
	s.visibility_timeout_ns = visibility_ns;
	rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &s;
	r = call(fd, &rq);
	assert_non_null(r);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SUBSCRIBED);
	evd__reply__free_unpacked(r, NULL);
}

/* A subscriber stopped mid-delivery: another gets the message after the
 * visibility timeout (and the backoff). */
static void
test_stopped_subscriber(void **state)
{
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Request rq = EVD__REQUEST__INIT;
	int sync[2], status, b, prod;
	uint64_t fire_id = 0;
	Evd__Reply *r;
	pid_t child;
	char c;

	assert_int_equal(pipe(sync), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		int a = greet();
		Evd__Reply *got;

		subscribe(a, "hostile-stop", 300 * MS);
		assert_int_equal(write(sync[1], "s", 1), 1);
		got = raw_next_fired(a, 10000);
		if (got == NULL)
			_exit(1);
		assert_int_equal(write(sync[1], "f", 1), 1);
		raise(SIGSTOP); /* holds the message, never acks */
		_exit(0);
	}
	assert_int_equal(read(sync[0], &c, 1), 1); /* A subscribed */
	prod = greet();
	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = "hostile-stop";
	cl.has_delay_ns = 1;
	cl.delay_ns = 1;
	cl.callback = &cb;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	r = call(prod, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	evd__reply__free_unpacked(r, NULL);
	assert_int_equal(read(sync[0], &c, 1), 1); /* A got it */
	assert_int_equal(waitpid(child, &status, WUNTRACED), child);
	assert_true(WIFSTOPPED(status));
	b = greet();
	subscribe(b, "hostile-stop", 30000 * MS);
	r = raw_next_fired(b, 10000);
	assert_non_null(r);
	/* A stays subscribed (it is stopped, not gone), so round robin may
	 * hand it the redelivery once more before B gets it. */
	assert_true(r->fired->attempt >= 2);
	fire_id = r->fired->fire_id;
	evd__reply__free_unpacked(r, NULL);
	assert_true(fire_id > 0);
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	close(b);
	close(prod);
	close(sync[0]);
	close(sync[1]);
}

/* 5,000 clients at once, each greeted and answered. */
static void
test_many_connections(void **state)
{
	struct rlimit mine, big;
	static int fds[5000];
	int i, n = 5000;

	if (getrlimit(RLIMIT_NOFILE, &mine) < 0 || mine.rlim_max < 5100) {
		printf("SKIP: this process may not open 5,000 sockets\n");
		skip();
	}
	big.rlim_cur = big.rlim_max = mine.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &big), 0);
	if (prlimit(evd.pid, RLIMIT_NOFILE, &big, NULL) < 0) {
		printf("SKIP: prlimit on evd: %s\n", strerror(errno));
		skip();
	}
	for (i = 0; i < n; i++) {
		fds[i] = raw_connect(evd.sock);
		assert_true(fds[i] >= 0);
	}
	/* Every one of them is served, the first and the last alike. */
	for (i = 0; i < n; i++)
		assert_int_equal(raw_hello(fds[i], rid++), 0);
	for (i = 0; i < n; i++)
		close(fds[i]);
	bystander_ok();
}

/* Out of file descriptors: accepting pauses instead of spinning; once fds
 * free up, new clients are served. */
static void
test_fd_exhaustion(void **state)
{
	struct rlimit small, old;
	int fds[300], n = 0, i;
	long t0, t1;

	if (prlimit(evd.pid, RLIMIT_NOFILE, NULL, &old) < 0) {
		printf("SKIP: prlimit: %s\n", strerror(errno));
		skip();
	}
	/* Only the soft limit: raising a hard limit back is not always
	 * allowed, even to root. */
	small.rlim_cur = 48;
	small.rlim_max = old.rlim_max;
	if (prlimit(evd.pid, RLIMIT_NOFILE, &small, NULL) < 0) {
		printf("SKIP: prlimit: %s\n", strerror(errno));
		skip();
	}
	for (i = 0; i < 300; i++) {
		int fd = raw_connect(evd.sock);

		if (fd < 0)
			break; /* the backlog is full: fine */
		fds[n++] = fd;
	}
	assert_true(n > 48);
	usleep(200000);
	/* While it cannot accept, evd must not burn the CPU. */
	t0 = cpu_ticks(evd.pid);
	usleep(1000000);
	t1 = cpu_ticks(evd.pid);
	printf("%d connections; evd used %ld ticks in 1 s out of fds\n", n,
	       t1 - t0);
	assert_true(t1 - t0 < sysconf(_SC_CLK_TCK) / 4);
	assert_true(evd_alive(&evd));
	for (i = 0; i < n; i++)
		close(fds[i]);
	assert_int_equal(prlimit(evd.pid, RLIMIT_NOFILE, &old, NULL), 0);
	/* Served again (the pause retries every 100 ms). */
	bystander_ok();
}

static int
setup(void **state)
{
	char conf[600];
	const char *args[] = { "--config", conf, "--store", "memory", NULL };
	FILE *f;

	if (evd_start(&evd, NULL) < 0) /* makes the directory */
		return -1;
	evd_terminate(&evd);
	if (snprintf(conf, sizeof conf, "%s/hostile.conf", evd.dir) >=
	    (int)sizeof conf)
		return -1;
	if ((f = fopen(conf, "w")) == NULL)
		return -1;
	fprintf(f, "frame_timeout_ms = 300\n");
	fclose(f);
	return evd_start_in(&evd, args);
}

static int
teardown(void **state)
{
	return evd_stop(&evd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slow_loris),
		cmocka_unit_test(test_slow_but_alive),
		cmocka_unit_test(test_drip_fed_frame),
		cmocka_unit_test(test_never_reads),
		cmocka_unit_test(test_stalled_above_high_water),
		cmocka_unit_test(test_trickle_reader),
		cmocka_unit_test(test_list_fills_the_arena),
		cmocka_unit_test(test_stopped_subscriber),
		cmocka_unit_test(test_many_connections),
		cmocka_unit_test(test_fd_exhaustion),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
