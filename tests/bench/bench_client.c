/*
 * bench_client: what libevclient costs over the IPC limit, measured in
 * one run against baselines the benchmark starts itself.
 *
 *   bench_client [--smoke] [--runs N] [--rtt N] [--ops N] [--window N]
 *                [--cpu N | --no-pin]
 *
 * Placement: by default the benchmark, evd and the echo process are all
 * pinned to CPU 0 (--cpu N: another), the "same core" placement of
 * reference/perf-anchors.md; on a VM, round trips between vCPUs add the
 * wakeup cost (tens of microseconds) and make unpinned runs bimodal.
 * --no-pin measures what the scheduler gives.
 *
 * Figures (median of --runs runs, min..max in brackets):
 * - round trip of a blocking evc_call_later() to a harness-started evd
 *   (memory store), p50 and p99, against a raw ping-pong with the same
 *   4-byte-length framing and frame size to an echo process (blocking
 *   write + read on the client side);
 * - pipelined evc_call_later_async() throughput from one client (window
 *   of --window requests in flight, driven by poll + evc_process), against
 *   a raw pipelined echo: the client writes batches of frames in one
 *   write() and parses the echoed frames, the echo process reads big
 *   chunks and writes back every complete frame in one write().
 * The ratios are evd/raw. The timers scheduled are ephemeral and far in
 * the future; they die with each client's connection.
 *
 * Prints; never asserts timing. --smoke is a short run for ctest (label
 * bench) that only checks everything works. Exits 77 if evd cannot start.
 */
#include <errno.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evclient.h"
#include "harness.h"

#define HOUR_NS (3600LL * 1000000000LL)

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int64_t
pct(int64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p * (double)(n - 1));

	qsort(v, n, sizeof(*v), cmp_i64);
	return v[i];
}

/* ---- the raw echo: a child process, same framing ---- */

static void
echo_serve(int fd)
{
	static uint8_t buf[1 << 20];
	size_t have = 0, off, len;

	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);

		if (n <= 0)
			_exit(0);
		have += (size_t)n;
		/* Echo every complete frame in one write. */
		off = 0;
		while (have - off >= 4) {
			len = (size_t)buf[off] << 24 | (size_t)buf[off + 1] << 16 |
			      (size_t)buf[off + 2] << 8 | buf[off + 3];
			if (have - off < 4 + len)
				break;
			off += 4 + len;
		}
		if (off > 0 && raw_write(fd, buf, off) < 0)
			_exit(0);
		memmove(buf, buf + off, have - off);
		have -= off;
	}
}

static void
echo_start(const char *path, pid_t *ret_pid)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int l, fd;
	pid_t pid;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "bench: %s: path too long\n", path);
		exit(1);
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(l, 16) < 0) {
		perror("bench: echo listen");
		exit(1);
	}
	pid = fork();
	if (pid == 0) {
		for (;;) {
			fd = accept(l, NULL, NULL);
			if (fd < 0)
				_exit(0);
			if (fork() == 0) {
				close(l);
				echo_serve(fd);
			}
			close(fd);
			while (waitpid(-1, NULL, WNOHANG) > 0) {
			}
		}
	}
	close(l);
	*ret_pid = pid;
}

/* Frame size of a call_later request, measured rather than guessed. */
static size_t
request_frame_len(void)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater m = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;

	m.has_delay_ns = m.has_clock = 1;
	m.delay_ns = HOUR_NS;
	m.callback = &cb;
	rq.has_request_id = 1;
	rq.request_id = 123456;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &m;
	return 4 + evd__request__get_packed_size(&rq);
}

static void
raw_rtt(const char *path, size_t frame, int n, int64_t *ret_p50,
	int64_t *ret_p99)
{
	uint8_t buf[256] = {0}, in[256];
	int64_t *v = malloc((size_t)n * sizeof(*v)), t;
	int fd = raw_connect(path), i;
	size_t got;

	buf[3] = (uint8_t)(frame - 4);
	for (i = -n / 10; i < n; i++) {
		t = now_ns();
		if (raw_write(fd, buf, frame) < 0)
			exit(1);
		for (got = 0; got < frame;) {
			ssize_t r = read(fd, in + got, frame - got);

			if (r <= 0)
				exit(1);
			got += (size_t)r;
		}
		if (i >= 0)
			v[i] = now_ns() - t;
	}
	*ret_p50 = pct(v, (size_t)n, 0.50);
	*ret_p99 = pct(v, (size_t)n, 0.99);
	free(v);
	close(fd);
}

static double
raw_pipelined(const char *path, size_t frame, int ops, int window)
{
	uint8_t *out = calloc((size_t)window, frame), *in = malloc(1 << 20);
	int fd = raw_connect(path), sent = 0, done = 0, i, batch;
	size_t have = 0, off;
	int64_t t0 = now_ns();

	for (i = 0; i < window; i++)
		out[(size_t)i * frame + 3] = (uint8_t)(frame - 4);
	while (done < ops) {
		/* Top the window up in one write, like a batching client. */
		batch = window - (sent - done);
		if (batch > ops - sent)
			batch = ops - sent;
		if (batch > 0 && raw_write(fd, out, (size_t)batch * frame) < 0)
			exit(1);
		sent += batch;
		ssize_t r = read(fd, in + have, (1 << 20) - have);

		if (r <= 0)
			exit(1);
		have += (size_t)r;
		for (off = 0; have - off >= frame; off += frame)
			done++;
		memmove(in, in + off, have - off);
		have -= off;
	}
	close(fd);
	free(out);
	free(in);
	return ops / ((now_ns() - t0) / 1e9);
}

/* ---- libevclient ---- */

static struct evc *
client(const char *sock)
{
	char err[256];
	struct evc *c;

	if (evc_connect(sock, "bench", 5000, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench: %s\n", err);
		exit(1);
	}
	return c;
}

static void
evc_rtt(const char *sock, int n, int64_t *ret_p50, int64_t *ret_p99)
{
	int64_t *v = malloc((size_t)n * sizeof(*v)), t;
	struct evc *c = client(sock);
	struct evc_scheduled s;
	int i;

	for (i = -n / 10; i < n; i++) {
		t = now_ns();
		if (evc_call_later(c, HOUR_NS, EVC_CLOCK_MONOTONIC, NULL, 5000,
				   &s) < 0) {
			fprintf(stderr, "bench: %s\n", evc_errmsg(c));
			exit(1);
		}
		if (i >= 0)
			v[i] = now_ns() - t;
	}
	*ret_p50 = pct(v, (size_t)n, 0.50);
	*ret_p99 = pct(v, (size_t)n, 0.99);
	free(v);
	evc_close(c);
}

struct tput {
	long done, failed;
};

static void
on_done(struct evc *c, const struct evc_result *res, void *arg)
{
	struct tput *t = arg;

	t->done++;
	if (res->status < 0 && t->failed++ == 0)
		fprintf(stderr, "bench: %s\n", res->errmsg);
}

static double
evc_pipelined(const char *sock, int ops, int window)
{
	struct evc *c = client(sock);
	struct tput t = {0};
	struct pollfd pfd;
	long sent = 0;
	int64_t t0 = now_ns();

	while (t.done < ops) {
		while (sent < ops && sent - t.done < window) {
			if (evc_call_later_async(c, HOUR_NS,
						 EVC_CLOCK_MONOTONIC, NULL,
						 on_done, &t) < 0) {
				fprintf(stderr, "bench: %s\n", evc_errmsg(c));
				exit(1);
			}
			sent++;
		}
		pfd.fd = evc_fd(c);
		pfd.events = (short)evc_events_wanted(c);
		if (pfd.events & POLLOUT) {
			/* Requests are waiting: write them now. */
			if (evc_process(c) < 0)
				exit(1);
			continue;
		}
		poll(&pfd, 1, 5000);
		if (evc_process(c) < 0) {
			fprintf(stderr, "bench: %s\n", evc_errmsg(c));
			exit(1);
		}
	}
	double r = ops / ((now_ns() - t0) / 1e9);

	if (t.failed > 0)
		exit(1);
	evc_close(c);
	return r;
}

static void
summary(const char *what, double *v, int runs, const char *unit,
	double scale)
{
	qsort(v, (size_t)runs, sizeof(*v), cmp_dbl);
	printf("  %-44s %10.2f %s [%.2f..%.2f]\n", what, v[runs / 2] / scale,
	       unit, v[0] / scale, v[runs - 1] / scale);
}

int
main(int argc, char **argv)
{
	int runs = 5, rtt_n = 20000, ops = 1000000, window = 8192, i, cpu = 0;
	bool smoke = false;
	double rp50[16], rp99[16], ep50[16], ep99[16], rtp[16], etp[16];
	const char *mem[] = {"--store", "memory", NULL};
	char echo_path[PATH_MAX];
	struct evd_proc p;
	size_t frame;
	pid_t echo;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--smoke") == 0)
			smoke = true;
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--rtt") == 0 && i + 1 < argc)
			rtt_n = atoi(argv[++i]);
		else if (strcmp(argv[i], "--ops") == 0 && i + 1 < argc)
			ops = atoi(argv[++i]);
		else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc)
			window = atoi(argv[++i]);
		else if (strcmp(argv[i], "--cpu") == 0 && i + 1 < argc)
			cpu = atoi(argv[++i]);
		else if (strcmp(argv[i], "--no-pin") == 0)
			cpu = -1;
	}
	if (cpu >= 0) {
		cpu_set_t set;

		/* Inherited by evd and the echo, both started below. */
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0) {
			printf("bench_client: cannot pin to CPU %d (%s); "
			       "running unpinned\n",
			       cpu, strerror(errno));
			cpu = -1;
		}
	}
	if (smoke) {
		runs = 1;
		rtt_n = 2000;
		ops = 50000;
	}
	if (runs < 1 || runs > 15)
		runs = 5;
	signal(SIGPIPE, SIG_IGN);
	if (evd_start(&p, mem) < 0) {
		printf("bench_client: evd did not start; skipping\n");
		return 77;
	}
	if (strlen(p.dir) + sizeof("/echo.sock") > sizeof(echo_path))
		return 77;
	memcpy(echo_path, p.dir, strlen(p.dir));
	memcpy(echo_path + strlen(p.dir), "/echo.sock", sizeof("/echo.sock"));
	echo_start(echo_path, &echo);
	frame = request_frame_len();

	printf("bench_client: %d run(s); %d round trips, %d pipelined "
	       "requests (window %d), %zu-byte frames; %s\n",
	       runs, rtt_n, ops, window, frame,
	       cpu >= 0 ? "all pinned to one CPU" : "unpinned");
	for (i = 0; i < runs; i++) {
		int64_t a, b;

		raw_rtt(echo_path, frame, rtt_n, &a, &b);
		rp50[i] = (double)a;
		rp99[i] = (double)b;
		evc_rtt(p.sock, rtt_n, &a, &b);
		ep50[i] = (double)a;
		ep99[i] = (double)b;
		rtp[i] = raw_pipelined(echo_path, frame, ops, window);
		etp[i] = evc_pipelined(p.sock, ops, window);
	}
	printf("round trip (blocking):\n");
	summary("raw echo p50", rp50, runs, "us", 1e3);
	summary("raw echo p99", rp99, runs, "us", 1e3);
	summary("evc_call_later p50", ep50, runs, "us", 1e3);
	summary("evc_call_later p99", ep99, runs, "us", 1e3);
	printf("  ratio p50 evd/raw: %.2f\n", ep50[runs / 2] / rp50[runs / 2]);
	printf("pipelined throughput (one client):\n");
	summary("raw echo", rtp, runs, "M msgs/s", 1e6);
	summary("evc_call_later_async", etp, runs, "M req/s", 1e6);
	printf("  ratio evd/raw: %.2f\n", etp[runs / 2] / rtp[runs / 2]);

	kill(echo, SIGTERM);
	waitpid(echo, NULL, 0);
	unlink(echo_path);
	return evd_stop(&p) == 0 ? 0 : 1;
}
