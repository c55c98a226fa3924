/*
 * evb_base: the baselines evd is measured against, each run by evbench
 * itself in the same run as the evd figures so that the ratios compare
 * like with like on whatever machine this is:
 *
 *	IPC limit	an echo server with evd's framing (evb_util.c):
 *			pipelined echo of the very frames evd gets, and a
 *			one-way stream into a counting sink;
 *	timer heap	libevent 2.1 timers in this process (event_new +
 *			event_add, event_del, fire): the CPU cost of timer
 *			bookkeeping with no IPC at all, and bytes per timer;
 *	timerfd		one thread arming absolute timerfd deadlines at the
 *			rate evd fires: the floor of wake-up lateness here;
 *	posix_spawn	/bin/true with two in flight: the floor of exec hooks;
 *	Redis		Debian's redis-server on a private Unix socket,
 *			ZADD of delayed jobs into a sorted set, spoken in
 *			RESP by hand (no hiredis dependency);
 *	at(1)		one process per job, as a user would submit them.
 */
#include "evb.h"

#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "frame.h"
#include "harness.h"

extern char **environ;

#define MS_NS 1000000LL

/* ---- IPC limit ---- */

/* n frames of frame bytes (header included); their content does not
 * matter to an echo. */
static int
echo_load(struct evb_load *l, long n, size_t frame)
{
	uint8_t buf[256] = {0};

	if (frame > sizeof(buf) ||
	    frame_put_header(buf, frame - FRAME_HEADER_LEN) < 0)
		return -EINVAL;
	for (long i = 0; i < n; i++)
		if (evb_load_add(l, buf, frame) < 0)
			return -ENOMEM;
	return 0;
}

static double
echo_pipelined(const char *path, int nconn, long ops, size_t frame)
{
	struct evb_load loads[16];
	int fds[16], i;
	double rate = -1;

	memset(loads, 0, sizeof(loads));
	for (i = 0; i < nconn; i++)
		fds[i] = -1;
	for (i = 0; i < nconn; i++) {
		if ((fds[i] = evb_connect_retry(path, 2000)) < 0 ||
		    raw_write(fds[i], "e", 1) < 0 ||
		    echo_load(&loads[i], ops / nconn, frame) < 0)
			goto out;
	}
	rate = evb_pipeline(fds, loads, nconn, 16384 / (size_t)nconn,
			    evb_parse_frames, NULL, 30000);
out:
	for (i = 0; i < nconn; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		evb_load_free(&loads[i]);
	}
	return rate;
}

/* One-way: all frames written in 64 KiB writes into a sink that parses
 * them; the clock stops at the sink's count. */
static double
stream(const char *path, long ops, size_t frame)
{
	struct evb_load l = {0};
	uint64_t count = 0;
	int64_t t0;
	double rate = -1;
	int fd = evb_connect_retry(path, 2000);

	if (fd < 0 || raw_write(fd, "s", 1) < 0 ||
	    echo_load(&l, ops, frame) < 0)
		goto out;
	t0 = evb_now();
	for (size_t off = 0; off < l.len; off += 65536) {
		size_t k = l.len - off < 65536 ? l.len - off : 65536;

		if (raw_write(fd, l.buf + off, k) < 0)
			goto out;
	}
	if (shutdown(fd, SHUT_WR) < 0 ||
	    read(fd, &count, sizeof(count)) != (ssize_t)sizeof(count))
		goto out;
	if (count != (uint64_t)ops) {
		fprintf(stderr, "evbench: sink counted %llu of %ld\n",
			(unsigned long long)count, ops);
		goto out;
	}
	rate = (double)ops / ((double)(evb_now() - t0) / 1e9);
out:
	if (fd >= 0)
		close(fd);
	evb_load_free(&l);
	return rate;
}

void
evb_base_ipc(const struct evb_opts *o)
{
	double v1[EVB_MAX_RUNS], v16[EVB_MAX_RUNS], vs[EVB_MAX_RUNS];
	char dir[PATH_MAX], path[PATH_MAX];
	int n1 = 0, n16 = 0, ns = 0;
	size_t frame = evb_call_later_frame();
	pid_t ep;

	if (evb_tmpdir(dir, sizeof(dir), "echo") < 0 ||
	    snprintf(path, sizeof(path), "%s/echo.sock", dir) >=
		(int)sizeof(path) ||
	    (ep = evb_echo_start(path)) < 0) {
		evb_note("ipc: cannot start the echo server");
		return;
	}
	for (int r = 0; r < o->runs; r++) {
		double x;

		if ((x = echo_pipelined(path, 1, o->ops, frame)) > 0)
			v1[n1++] = x;
		if ((x = echo_pipelined(path, 16, o->ops, frame)) > 0)
			v16[n16++] = x;
		if ((x = stream(path, o->ops, frame)) > 0)
			vs[ns++] = x;
	}
	evb_kill(ep);
	rm_rf(dir);
	if (n1 > 0)
		evb_put("raw.echo.c1", EVB_RATE, v1, n1);
	if (n16 > 0)
		evb_put("raw.echo.c16", EVB_RATE, v16, n16);
	if (ns > 0)
		evb_put("raw.stream", EVB_RATE, vs, ns);
}

/* ---- libevent timers in-process ---- */

static long fired;

static void
heap_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	fired++;
}

static uint64_t rng = 88172645463325252ULL;

static uint64_t
xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int
heap_once(long n, double ret[4])
{
	struct event_config *cfg = event_config_new();
	struct event_base *base = NULL;
	struct event **ev = calloc((size_t)n, sizeof(*ev));
	struct mallinfo2 m0, m1;
	struct timespec pause = {0, 20 * MS_NS};
	int64_t t0;
	int ret_code = -1;
	long i;

	if (cfg == NULL || ev == NULL ||
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) < 0 ||
	    (base = event_base_new_with_config(cfg)) == NULL)
		goto out;
	m0 = mallinfo2();
	t0 = evb_now();
	for (i = 0; i < n; i++) {
		/* 1 s .. 1 h, µs resolution, as the anchors measured. */
		uint64_t us = 1000000 + xorshift() % 3599000000ULL;
		struct timeval tv = {(time_t)(us / 1000000),
				     (suseconds_t)(us % 1000000)};

		if ((ev[i] = event_new(base, -1, 0, heap_cb, NULL)) == NULL ||
		    event_add(ev[i], &tv) < 0)
			goto out;
	}
	ret[0] = (double)(evb_now() - t0) / (double)n;
	m1 = mallinfo2();
	ret[3] = (double)(m1.uordblks - m0.uordblks) / (double)n;
	/* Cancel in a scattered order: a stride coprime with n. */
	t0 = evb_now();
	for (i = 0; i < n; i++)
		if (event_del(ev[(size_t)i * 7919 % (size_t)n]) < 0)
			goto out;
	ret[1] = (double)(evb_now() - t0) / (double)n;
	/* Fire: everything due within 10 ms, then run the loop once past
	 * all of it, so each callback is a heap pop plus the call. */
	for (i = 0; i < n; i++) {
		struct timeval tv = {0, (suseconds_t)(xorshift() % 10000)};

		if (event_add(ev[i], &tv) < 0)
			goto out;
	}
	nanosleep(&pause, NULL);
	fired = 0;
	t0 = evb_now();
	while (fired < n)
		if (event_base_loop(base, EVLOOP_NONBLOCK) < 0)
			goto out;
	ret[2] = (double)(evb_now() - t0) / (double)n;
	ret_code = 0;
out:
	for (i = 0; ev != NULL && i < n; i++)
		if (ev[i] != NULL)
			event_free(ev[i]);
	free(ev);
	if (base != NULL)
		event_base_free(base);
	if (cfg != NULL)
		event_config_free(cfg);
	return ret_code;
}

void
evb_base_heap(const struct evb_opts *o)
{
	double v[4][EVB_MAX_RUNS];
	int n = 0;

	if (o->heap_n % 7919 == 0) {
		evb_note("heap: %ld timers: pick a count not a multiple of "
			 "7919",
			 o->heap_n);
		return;
	}
	for (int r = 0; r < o->runs; r++) {
		double x[4];

		if (heap_once(o->heap_n, x) < 0)
			continue;
		for (int k = 0; k < 4; k++)
			v[k][n] = x[k];
		n++;
	}
	if (n == 0) {
		evb_note("heap: libevent baseline failed");
		return;
	}
	evb_put("heap.schedule", EVB_NS, v[0], n);
	evb_put("heap.cancel", EVB_NS, v[1], n);
	evb_put("heap.fire", EVB_NS, v[2], n);
	evb_put("heap.bytes", EVB_BYTES, v[3], n);
}

/* ---- timerfd lateness ---- */

/* A record of the hop baseline: the due time, padded to about the size
 * of the Fired frame evd sends. */
#define HOP_RECORD 64

/*
 * Fires rate deadlines a second for secs on one timerfd, handling every
 * deadline due at each wake-up in that wake-up, as a daemon fires every
 * due timer per loop iteration. Without hop, the lateness is taken when
 * the timer process handles a deadline. With hop (the fair baseline for
 * what an evd client sees), the timer process writes each wake-up's
 * deadlines in one write() to a Unix stream socket, and a second
 * process takes the lateness when it has read them, as a client of evd
 * does with its Fired frames.
 */
static int
timerfd_once(long rate, double secs, bool hop, int64_t *lat, size_t *ret_n)
{
	long total = (long)((double)rate * secs), i = 0;
	int64_t period = NS_PER_S / rate, t_start = evb_now() + 50 * MS_NS;
	static uint8_t buf[1 << 16];
	int sv[2] = {-1, -1}, fd, status;
	size_t k = 0, have = 0;
	pid_t pid = 0;

	if (hop) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return -errno;
		if ((pid = fork()) < 0) {
			close(sv[0]);
			close(sv[1]);
			return -errno;
		}
		if (pid > 0) {
			/* The reader: lateness when the deadline arrives. */
			ssize_t n;

			close(sv[1]);
			while ((n = read(sv[0], buf + have,
					 sizeof(buf) - have)) > 0) {
				int64_t now = evb_now();
				size_t off = 0;

				have += (size_t)n;
				for (; have - off >= HOP_RECORD;
				     off += HOP_RECORD) {
					int64_t due;

					memcpy(&due, buf + off, sizeof(due));
					lat[k++] = now - due;
				}
				memmove(buf, buf + off, have - off);
				have -= off;
			}
			close(sv[0]);
			if (waitpid(pid, &status, 0) < 0 ||
			    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
				return -EIO;
			*ret_n = k;
			return 0;
		}
		close(sv[0]);
	}
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	if (fd < 0)
		goto fail;
	while (i < total) {
		int64_t d = t_start + i * period, now = evb_now();
		size_t out = 0;

		if (now < d) {
			struct itimerspec its = {{0, 0},
						 {(time_t)(d / NS_PER_S),
						  (long)(d % NS_PER_S)}};
			uint64_t exp;

			if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its,
					    NULL) < 0 ||
			    read(fd, &exp, sizeof(exp)) < 0)
				goto fail;
			now = evb_now();
		}
		for (; i < total && t_start + i * period <= now; i++) {
			int64_t due = t_start + i * period;

			if (!hop) {
				lat[k++] = now - due;
				continue;
			}
			memset(buf + out, 0, HOP_RECORD);
			memcpy(buf + out, &due, sizeof(due));
			out += HOP_RECORD;
			if (out == sizeof(buf)) {
				if (raw_write(sv[1], buf, out) < 0)
					goto fail;
				out = 0;
			}
		}
		if (hop && out > 0 && raw_write(sv[1], buf, out) < 0)
			goto fail;
	}
	close(fd);
	if (hop)
		_exit(0);
	*ret_n = k;
	return 0;
fail:
	if (hop)
		_exit(1);
	if (fd >= 0)
		close(fd);
	return -errno;
}

static void
base_timerfd(const struct evb_opts *o, long rate, bool busy, bool hop)
{
	static const char *const names[] = {"p50", "p99", "p999", "max"};
	size_t cap = (size_t)((double)rate * o->fire_secs) + 16, n = 0;
	int64_t *lat = malloc(cap * sizeof(*lat));
	double q[4][EVB_MAX_RUNS], worst = 0;
	pid_t spin = busy ? evb_busy_start() : 0;
	char key[96];
	int runs = 0;

	if (lat == NULL)
		goto out;
	for (int r = 0; r < o->runs; r++) {
		if (timerfd_once(rate, o->fire_secs, hop, lat, &n) < 0 || n == 0)
			continue;
		qsort(lat, n, sizeof(*lat), evb_cmp_i64);
		q[0][runs] = (double)evb_quantile(lat, n, 0.50);
		q[1][runs] = (double)evb_quantile(lat, n, 0.99);
		q[2][runs] = (double)evb_quantile(lat, n, 0.999);
		if ((double)lat[n - 1] > worst)
			worst = (double)lat[n - 1];
		runs++;
		if (rate == 100000 && !busy && !hop && r == o->runs - 1) {
			free(evb_cdf_timerfd);
			evb_cdf_timerfd = lat;
			evb_cdf_ntimerfd = n;
			lat = NULL;
			break;
		}
	}
	if (runs == 0) {
		evb_note("timerfd%s baseline at %ld/s failed",
			 hop ? " + hop" : "", rate);
		goto out;
	}
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "%s.%ld.%s.%s",
			 hop ? "timerfd_hop" : "timerfd", rate,
			 busy ? "busy" : "idle", names[i]);
		evb_put(key, EVB_NS, q[i], runs);
	}
	snprintf(key, sizeof(key), "%s.%ld.%s.max",
		 hop ? "timerfd_hop" : "timerfd", rate, busy ? "busy" : "idle");
	evb_put1(key, EVB_NS, worst);
out:
	evb_kill(spin);
	free(lat);
}

void
evb_base_timerfd(const struct evb_opts *o, long rate, bool busy)
{
	base_timerfd(o, rate, busy, false);
	base_timerfd(o, rate, busy, true);
}

/*
 * Every distinct deadline a timer service wakes for is one programming of
 * the CPU's timer. On bare metal that is a register write; in a VM it can
 * be an exit to the hypervisor, and at 100k deadlines/s it can use most of
 * a CPU whoever arms it (evd and the timerfd baseline alike), which is the
 * machine's part of every lateness figure here.
 */
void
evb_base_timer_arm(const struct evb_opts *o)
{
	static const int64_t ahead[2] = {50 * 1000, 3600 * NS_PER_S};
	static const char *const key[2] = {"machine.timer_arm.near",
					   "machine.timer_arm.far"};
	const int calls = 20000;
	double v[2][EVB_MAX_RUNS];
	int n = 0, fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);

	if (fd < 0) {
		evb_note("timer arm: timerfd_create: %s", strerror(errno));
		return;
	}
	for (int r = 0; r < o->runs; r++, n++) {
		for (int a = 0; a < 2; a++) {
			int64_t t0 = evb_now();

			for (int i = 0; i < calls; i++) {
				/* A different deadline each call: never a
				 * no-op for the kernel. */
				int64_t w = evb_now() + ahead[a] + (i & 1);
				struct itimerspec its = {
				    {0, 0},
				    {(time_t)(w / NS_PER_S),
				     (long)(w % NS_PER_S)}};

				if (timerfd_settime(fd, TFD_TIMER_ABSTIME,
						    &its, NULL) < 0) {
					evb_note("timer arm: timerfd_settime: "
						 "%s", strerror(errno));
					close(fd);
					return;
				}
			}
			v[a][r] = (double)(evb_now() - t0) / calls;
		}
	}
	close(fd);
	evb_put(key[0], EVB_NS, v[0], n);
	evb_put(key[1], EVB_NS, v[1], n);
}

/* ---- posix_spawn ---- */

void
evb_base_spawn(const struct evb_opts *o)
{
	char *const argv[] = {"/bin/true", NULL};
	double v[EVB_MAX_RUNS];
	int n = 0;

	for (int r = 0; r < o->runs; r++) {
		int64_t t0 = evb_now();
		int inflight = 0, ok = 1, st;
		pid_t pid;

		for (long i = 0; i < o->exec_n && ok; i++) {
			if (inflight == 2) {
				if (wait(&st) < 0)
					ok = 0;
				inflight--;
			}
			if (posix_spawn(&pid, argv[0], NULL, NULL, argv,
					environ) != 0)
				ok = 0;
			else
				inflight++;
		}
		while (inflight-- > 0)
			if (wait(&st) < 0)
				ok = 0;
		if (ok)
			v[n++] = (double)o->exec_n /
				 ((double)(evb_now() - t0) / 1e9);
	}
	if (n > 0)
		evb_put("base.spawn2", EVB_RATE, v, n);
}

/* What evd's systemd path is held against: the unit systemd-run makes
 * for the same command, queued without waiting for it (--no-block), one
 * invocation after another. */
void
evb_base_systemd_run(const struct evb_opts *o)
{
	char uid[64];
	char *argv[] = {"systemd-run", "--no-block", "--quiet", "--collect",
			"/bin/true", NULL, NULL};
	double v[EVB_MAX_RUNS];
	int n = 0;

	/* As the user evd's hooks run as, like evd's units. */
	if (o->sd_user != NULL) {
		snprintf(uid, sizeof uid, "--uid=%s", o->sd_user);
		argv[5] = argv[4];
		argv[4] = uid;
	}
	for (int r = 0; r < o->runs; r++) {
		int64_t t0 = evb_now();
		int ok = 1, st;
		pid_t pid;

		for (long i = 0; i < o->exec_n && ok; i++)
			if (posix_spawnp(&pid, argv[0], NULL, NULL, argv,
					 environ) != 0 ||
			    waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
			    WEXITSTATUS(st) != 0)
				ok = 0;
		if (ok)
			v[n++] = (double)o->exec_n /
				 ((double)(evb_now() - t0) / 1e9);
	}
	if (n > 0)
		evb_put("base.systemd_run", EVB_RATE, v, n);
	else
		evb_note("systemd-run failed (no system manager?)");
}

/* ---- Redis ---- */

/* Counts RESP replies: each reply to ZADD, PING and FLUSHALL is one
 * line; '-' starts an error. */
static size_t
parse_resp(const uint8_t *in, size_t len, int conn, void *arg,
	   long *ret_replies, long *ret_errors)
{
	size_t off = 0;

	(void)conn;
	(void)arg;
	for (;;) {
		const uint8_t *nl = memchr(in + off, '\n', len - off);

		if (nl == NULL)
			break;
		(*ret_replies)++;
		if (in[off] == '-' && (*ret_errors)++ == 0)
			fprintf(stderr, "evbench: redis: %.*s\n",
				(int)(nl - (in + off)), (const char *)in + off);
		off = (size_t)(nl - in) + 1;
	}
	return off;
}

static int
resp_cmd(int fd, const char *cmd)
{
	char buf[256];
	ssize_t n;

	if (raw_write(fd, cmd, strlen(cmd)) < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0 || buf[0] == '-')
		return -1;
	return 0;
}

static int
zadd_load(struct evb_load *l, int conn, long n, long base)
{
	for (long i = 0; i < n; i++) {
		char member[64], cmd[160];
		int mlen = snprintf(member, sizeof(member), "job:%d:%ld", conn,
				    base + i);
		int len = snprintf(cmd, sizeof(cmd),
				   "*4\r\n$4\r\nZADD\r\n$7\r\ndelayed\r\n"
				   "$13\r\n%013ld\r\n$%d\r\n%s\r\n",
				   1700000000000L + base + i, mlen, member);

		if (evb_load_add(l, cmd, (size_t)len) < 0)
			return -1;
	}
	return 0;
}

static double
zadd(const char *path, int nconn, long ops, size_t window, long base)
{
	struct evb_load loads[16];
	int fds[16], i;
	double rate = -1;

	memset(loads, 0, sizeof(loads));
	for (i = 0; i < nconn; i++)
		fds[i] = -1;
	for (i = 0; i < nconn; i++)
		if ((fds[i] = evb_connect_retry(path, 2000)) < 0 ||
		    zadd_load(&loads[i], i, ops / nconn, base) < 0)
			goto out;
	rate = evb_pipeline(fds, loads, nconn, window, parse_resp, NULL,
			    30000);
out:
	for (i = 0; i < nconn; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		evb_load_free(&loads[i]);
	}
	return rate;
}

static pid_t
redis_start(const char *dir, const char *sock, bool durable)
{
	char log[PATH_MAX];
	const char *argv[] = {"redis-server", "--port", "0", "--unixsocket",
			      sock, "--unixsocketperm", "700", "--dir", dir,
			      "--save", "", "--logfile", log, "--appendonly",
			      durable ? "yes" : "no", "--appendfsync",
			      durable ? "always" : "everysec", NULL};
	pid_t pid;
	int fd;

	if (snprintf(log, sizeof(log), "%s/redis.log", dir) >= (int)sizeof(log))
		return -1;
	if (posix_spawnp(&pid, argv[0], NULL, NULL, (char *const *)argv,
			 environ) != 0)
		return -1;
	if ((fd = evb_connect_retry(sock, 5000)) < 0 ||
	    resp_cmd(fd, "*1\r\n$4\r\nPING\r\n") < 0) {
		if (fd >= 0)
			close(fd);
		evb_kill(pid);
		return -1;
	}
	close(fd);
	return pid;
}

static int
redis_flush(const char *sock)
{
	int fd = evb_connect_retry(sock, 2000), r;

	if (fd < 0)
		return -1;
	r = resp_cmd(fd, "*1\r\n$8\r\nFLUSHALL\r\n");
	close(fd);
	return r;
}

static void
redis_stop(pid_t pid)
{
	int st;

	/* SIGTERM lets it close its AOF; we own nothing else of it. */
	if (kill(pid, SIGTERM) == 0)
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
}

void
evb_base_redis(const struct evb_opts *o)
{
	if (!evb_have("redis-server")) {
		evb_note("skipped: redis-server not installed");
		return;
	}
	for (int durable = 0; durable < 2; durable++) {
		const char *mode = durable ? "durable" : "memory";
		long ops = durable ? o->ops_durable : o->ops;
		double vp[EVB_MAX_RUNS], v1[EVB_MAX_RUNS];
		char dir[PATH_MAX], sock[PATH_MAX], key[96];
		int np = 0, n1 = 0;
		pid_t pid;

		if (evb_tmpdir(dir, sizeof(dir), "redis") < 0 ||
		    snprintf(sock, sizeof(sock), "%s/redis.sock", dir) >=
			(int)sizeof(sock))
			return;
		if ((pid = redis_start(dir, sock, durable)) < 0) {
			evb_note("redis-server did not start (see %s)", dir);
			return;
		}
		for (int r = 0; r < o->runs; r++) {
			double x;

			/* redis-benchmark -P 64 shape: 16 clients, 64 in
			 * flight each. */
			if (redis_flush(sock) == 0 &&
			    (x = zadd(sock, 16, ops, 64, 0)) > 0)
				vp[np++] = x;
			if (redis_flush(sock) == 0 &&
			    (x = zadd(sock, 16, ops / 20, 1, 0)) > 0)
				v1[n1++] = x;
		}
		snprintf(key, sizeof(key), "redis.zadd.%s.c16.p64", mode);
		if (np > 0)
			evb_put(key, EVB_RATE, vp, np);
		snprintf(key, sizeof(key), "redis.zadd.%s.c16.w1", mode);
		if (n1 > 0)
			evb_put(key, EVB_RATE, v1, n1);
		if (!durable) {
			/* Bytes per member: RSS growth of redis-server over
			 * the same count as evd's largest default point. */
			long n = o->mem_max < 1000000 ? o->mem_max : 1000000;
			long rss0, rss1;

			if (redis_flush(sock) == 0 && usleep(50000) == 0 &&
			    (rss0 = evb_rss(pid)) > 0 &&
			    zadd(sock, 1, n, 4096, 0) > 0 &&
			    (rss1 = evb_rss(pid)) > 0)
				evb_put1("redis.mem", EVB_BYTES,
					 (double)(rss1 - rss0) / (double)n);
		}
		redis_stop(pid);
		rm_rf(dir);
	}
}

/* ---- at(1) ---- */

static int
atrm_ids(long *ids, long n)
{
	/* atrm rescans the spool per id: batches of 50 keep it linear. */
	for (long i = 0; i < n; i += 50) {
		char args[50][24];
		const char *argv[53];
		int k = 0;

		argv[k++] = "atrm";
		for (long j = i; j < n && j < i + 50; j++) {
			snprintf(args[j - i], sizeof(args[0]), "%ld", ids[j]);
			argv[k++] = args[j - i];
		}
		argv[k] = NULL;
		if (evb_run(argv, NULL, NULL, 0) != 0)
			return -1;
	}
	return 0;
}

void
evb_base_at(const struct evb_opts *o)
{
	const char *argv[] = {"at", "-M", "now + 1 hour", NULL};
	double v[EVB_MAX_RUNS];
	long cap = 100000, nids = 0, *ids = malloc((size_t)cap * sizeof(long));
	int n = 0;
	struct stat st;

	if (!evb_have("at")) {
		evb_note("skipped: at not installed (Debian package at)");
		free(ids);
		return;
	}
	if (ids == NULL)
		return;
	if (stat("/run/atd.pid", &st) < 0)
		evb_note("at: atd is not running; measured submissions into "
			 "the spool (at works without atd)");
	for (int r = 0; r < o->runs; r++) {
		int64_t t0 = evb_now(), end = t0 + (int64_t)(o->ext_secs * 1e9);
		long k = 0;

		while (evb_now() < end && nids < cap) {
			char out[1024], *job;
			long id;
			int rc = evb_run(argv, "true\n", out, sizeof(out));

			/* "job 12 at Wed Nov 25 05:00:00 2026" */
			if (rc != 0 || (job = strstr(out, "job ")) == NULL ||
			    sscanf(job, "job %ld", &id) != 1) {
				evb_note("at failed (rc %d): %s", rc, out);
				break;
			}
			ids[nids++] = id;
			k++;
		}
		if (evb_now() >= end && k > 0)
			v[n++] = (double)k / ((double)(evb_now() - t0) / 1e9);
	}
	if (atrm_ids(ids, nids) < 0)
		evb_note("at: atrm failed; remove the jobs queued by evbench "
			 "with atq/atrm");
	free(ids);
	if (n > 0)
		evb_put("at.submit", EVB_RATE, v, n);
}
