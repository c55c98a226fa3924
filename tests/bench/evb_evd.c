/*
 * evb_evd: the figures of the real evd. Each group starts its own evd
 * (tests/integ/harness.c: a temporary directory, READY=1 before we go on,
 * SIGTERM by pid at the end) so that one group's timers, store file or
 * heap never colour another's figures.
 *
 * The load generators speak the protocol with pre-packed frames
 * (evb_pipeline) rather than through libevclient: the client shares the
 * two CPUs with the daemon, so the cheaper it is, the more of the
 * figure is the daemon's. Round trips go through libevclient, as a
 * user's blocking call would.
 */
#include "evb.h"

#include <dirent.h>
#include <errno.h>
#include <sys/wait.h>
#include <grp.h>
#include <pwd.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "evclient.h"
#include "frame.h"
#include "harness.h"

#ifndef EVCTL_BIN
#error "EVCTL_BIN must name the evctl binary"
#endif

#define HOUR_NS (3600LL * NS_PER_S)
#define MS_NS 1000000LL

/* Body field numbers of Reply (proto/evd.proto). */
enum {
	K_SCHEDULED = 12,
	K_CANCELLED = 13,
	K_SUBSCRIBED = 18,
	K_WAITING = 24,
	K_FIRED = 50,
	K_EXEC_FINISHED = 51,
};

int64_t *evb_cdf_client, *evb_cdf_daemon, *evb_cdf_timerfd;
size_t evb_cdf_nclient, evb_cdf_ndaemon, evb_cdf_ntimerfd;

/* evd with store and, for threads > 0, that many event loops. */
static int
evd_up_threads(struct evd_proc *p, const char *store, int threads)
{
	char n[16];
	const char *args[] = {"--store", store, "--log-level", "warning",
			      threads > 0 ? "--threads" : NULL, n, NULL};
	int r;

	snprintf(n, sizeof(n), "%d", threads);
	if ((r = evd_start(p, args)) < 0)
		evb_note("evd (--store %s) did not start: %s", store,
			 strerror(-r));
	return r;
}

static int
evd_up(struct evd_proc *p, const char *store)
{
	return evd_up_threads(p, store, 0);
}

static int
conn_open(const char *sock)
{
	int fd = raw_connect(sock);

	if (fd < 0) {
		fprintf(stderr, "evbench: connect %s: %s\n", sock,
			strerror(-fd));
		return fd;
	}
	if (raw_hello(fd, 1) < 0) {
		fprintf(stderr, "evbench: Hello failed\n");
		close(fd);
		return -EPROTO;
	}
	return fd;
}

static void
conns_close(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* Packs rq as one frame into l. */
static int
load_request(struct evb_load *l, const Evd__Request *rq)
{
	uint8_t buf[1024];
	size_t n = evd__request__get_packed_size(rq);

	if (n + FRAME_HEADER_LEN > sizeof(buf))
		return -EMSGSIZE;
	if (frame_put_header(buf, n) < 0)
		return -EMSGSIZE;
	evd__request__pack(rq, buf + FRAME_HEADER_LEN);
	return evb_load_add(l, buf, n + FRAME_HEADER_LEN);
}

/* A call_later of delay_ns: ephemeral (channel NULL, the Fired event
 * goes to the caller), or into channel (durable). */
static int
load_call_later(struct evb_load *l, uint64_t id, int64_t delay_ns,
		const char *channel)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;

	cl.has_delay_ns = 1;
	cl.delay_ns = delay_ns;
	if (channel != NULL) {
		cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb.channel = (char *)channel;
		cl.callback = &cb;
	}
	rq.has_request_id = 1;
	rq.request_id = id;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	return load_request(l, &rq);
}

/* A call_at on the daemon's monotonic clock (the same CLOCK_MONOTONIC
 * as ours), carrying its deadline as an 8-byte payload so that the
 * receiver can tell its lateness without a table. */
static int
load_call_at(struct evb_load *l, uint64_t id, int64_t when,
	     const char *channel, bool at_most_once, const char *exec)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallAt ca = EVD__CALL_AT__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__TimerOptions to = EVD__TIMER_OPTIONS__INIT;
	Evd__Exec ex = EVD__EXEC__INIT;
	char *argv[1] = {(char *)exec};

	ca.has_when_ns = ca.has_clock = 1;
	ca.when_ns = when;
	ca.clock = EVD__CLOCK__MONOTONIC;
	cb.has_payload = 1;
	cb.payload.len = sizeof(when);
	cb.payload.data = (uint8_t *)&when;
	if (channel != NULL) {
		cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb.channel = (char *)channel;
	} else if (exec != NULL) {
		cb.target_case = EVD__CALLBACK__TARGET_EXEC;
		ex.n_argv = 1;
		ex.argv = argv;
		cb.exec = &ex;
	}
	if (at_most_once) {
		to.has_delivery = 1;
		to.delivery = EVD__DELIVERY__AT_MOST_ONCE;
		ca.options = &to;
	}
	ca.callback = &cb;
	rq.has_request_id = 1;
	rq.request_id = id;
	rq.body_case = EVD__REQUEST__BODY_CALL_AT;
	rq.call_at = &ca;
	return load_request(l, &rq);
}

static int
load_simple(struct evb_load *l, uint64_t id, int body, uint64_t timer_id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Cancel c = EVD__CANCEL__INIT;
	Evd__Wait w = EVD__WAIT__INIT;

	rq.has_request_id = 1;
	rq.request_id = id;
	if (body == K_CANCELLED) {
		c.has_timer_id = 1;
		c.timer_id = timer_id;
		rq.body_case = EVD__REQUEST__BODY_CANCEL;
		rq.cancel = &c;
	} else {
		w.has_timer_id = 1;
		w.timer_id = timer_id;
		rq.body_case = EVD__REQUEST__BODY_WAIT;
		rq.wait = &w;
	}
	return load_request(l, &rq);
}

/* Schedules n timers delay_ns out over fds[0..nconn), in chunks so that
 * ten million requests never sit packed in memory at once. Returns the
 * rate, or -1. */
static double
fill(const int *fds, int nconn, long n, int64_t delay_ns, const char *channel)
{
	const long chunk = 1000000;
	struct evb_load *loads = calloc((size_t)nconn, sizeof(*loads));
	int64_t t0 = evb_now();
	int want = K_SCHEDULED;
	long done = 0;
	double rate = -1;

	if (loads == NULL)
		return -1;
	while (done < n) {
		long k = n - done < chunk ? n - done : chunk;

		for (long j = 0; j < k; j++)
			if (load_call_later(&loads[j % nconn],
					    (uint64_t)(done + j + 2), delay_ns,
					    channel) < 0)
				goto out;
		if (evb_pipeline(fds, loads, nconn, 4096, evb_parse_evd, &want,
				 60000) < 0)
			goto out;
		for (int i = 0; i < nconn; i++) {
			loads[i].len = 0;
			loads[i].n = 0;
		}
		done += k;
	}
	rate = (double)n / ((double)(evb_now() - t0) / 1e9);
out:
	for (int i = 0; i < nconn; i++)
		evb_load_free(&loads[i]);
	free(loads);
	return rate;
}

/* ---- 1. schedule throughput ---- */

/* CPU time used so far by the evbench process, and by process pid (its
 * threads included), in ns; -1 when /proc cannot tell. */
static int64_t
cpu_self_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
		return -1;
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t
cpu_proc_ns(pid_t pid)
{
	char path[320];
	struct dirent *d;
	int64_t sum = 0;
	DIR *dir;

	/* Each thread's run time in ns (schedstat), not the 10 ms ticks of
	 * /proc/PID/stat: a quick run lasts only milliseconds. */
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		unsigned long long ns;
		FILE *f;
		int ok;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat",
			 (int)pid, d->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue; /* the thread just ended */
		ok = fscanf(f, "%llu", &ns) == 1;
		fclose(f);
		if (ok)
			sum += (int64_t)ns;
	}
	closedir(dir);
	return sum;
}

/* One pipelined schedule run and where the CPU went: the daemon's and
 * the client's CPU per request (ns), so a figure can say whether the
 * client was the bottleneck. */
struct sched_run {
	double rate;
	double evd_cpu_ns;
	double client_cpu_ns;
};

static int
schedule_run(const char *store, int threads, int nconn, long ops,
	     size_t window, struct sched_run *ret)
{
	const char *channel = strcmp(store, "memory") == 0 ? NULL : "bench";
	struct evb_load loads[16];
	int fds[16], want = K_SCHEDULED, i, r = -1;
	int64_t e0, c0;
	struct evd_proc p;

	memset(loads, 0, sizeof(loads));
	for (i = 0; i < nconn; i++)
		fds[i] = -1;
	if (evd_up_threads(&p, store, threads) < 0)
		return -1;
	for (i = 0; i < nconn; i++)
		if ((fds[i] = conn_open(p.sock)) < 0)
			goto out;
	/* Packed before the clock starts: the figure is the daemon's. */
	for (long j = 0; j < ops; j++)
		if (load_call_later(&loads[j % nconn], (uint64_t)j + 2, HOUR_NS,
				    channel) < 0)
			goto out;
	e0 = cpu_proc_ns(p.pid);
	c0 = cpu_self_ns();
	ret->rate = evb_pipeline(fds, loads, nconn, window, evb_parse_evd,
				 &want, 30000);
	ret->evd_cpu_ns = (double)(cpu_proc_ns(p.pid) - e0) / (double)ops;
	ret->client_cpu_ns = (double)(cpu_self_ns() - c0) / (double)ops;
	if (ret->rate > 0 && e0 >= 0 && c0 >= 0)
		r = 0;
out:
	conns_close(fds, nconn);
	for (i = 0; i < nconn; i++)
		evb_load_free(&loads[i]);
	if (evd_stop(&p) != 0)
		r = -1;
	return r;
}

static double
schedule_once(const char *store, int nconn, long ops, size_t window)
{
	struct sched_run sr;

	return schedule_run(store, 0, nconn, ops, window, &sr) == 0 ? sr.rate
								    : -1;
}

void
evb_evd_schedule(const struct evb_opts *o)
{
	static const char *const stores[] = {"memory", "sqlite"};
	static const int conns[] = {1, 4, 16};
	char key[96];

	for (size_t s = 0; s < 2; s++) {
		bool mem = s == 0;
		long ops = mem ? o->ops : o->ops_durable;

		for (size_t c = 0; c < 3; c++) {
			double v[EVB_MAX_RUNS];
			int n = 0;
			/* About 16k requests in flight in all. */
			size_t window = 16384 / (size_t)conns[c];

			for (int r = 0; r < o->runs; r++) {
				double x = schedule_once(stores[s], conns[c],
							 ops, window);

				if (x > 0)
					v[n++] = x;
			}
			snprintf(key, sizeof(key), "evd.schedule.%s.c%d",
				 stores[s], conns[c]);
			if (n > 0)
				evb_put(key, EVB_RATE, v, n);
			else
				evb_note("%s failed", key);
		}
		/* Without pipelining: 16 clients with one request each in
		 * flight, redis-benchmark's default shape. */
		{
			double v[EVB_MAX_RUNS];
			int n = 0;

			for (int r = 0; r < o->runs; r++) {
				double x = schedule_once(stores[s], 16,
							 ops / 20, 1);

				if (x > 0)
					v[n++] = x;
			}
			snprintf(key, sizeof(key), "evd.schedule.%s.c16.w1",
				 stores[s]);
			if (n > 0)
				evb_put(key, EVB_RATE, v, n);
		}
	}
}

/* ---- 1b. scale-up: one event loop against two (--threads) ---- */

void
evb_evd_scale(const struct evb_opts *o)
{
	static const char *const stores[] = {"memory", "sqlite"};
	static const int conns[] = {4, 16};
	char key[96];

	for (size_t s = 0; s < 2; s++) {
		long ops = s == 0 ? o->ops : o->ops_durable;

		for (int t = 1; t <= 2; t++)
			for (size_t c = 0; c < 2; c++) {
				double v[EVB_MAX_RUNS], ev[EVB_MAX_RUNS],
					cl[EVB_MAX_RUNS];
				size_t window = 16384 / (size_t)conns[c];
				int n = 0;

				for (int r = 0; r < o->runs; r++) {
					struct sched_run sr;

					if (schedule_run(stores[s], t, conns[c],
							 ops, window, &sr) < 0)
						continue;
					v[n] = sr.rate;
					ev[n] = sr.evd_cpu_ns;
					cl[n++] = sr.client_cpu_ns;
				}
				if (n == 0) {
					evb_note("scale: %s, %d loop(s), %d "
						 "conns failed",
						 stores[s], t, conns[c]);
					continue;
				}
				snprintf(key, sizeof(key),
					 "evd.scale.%s.t%d.c%d", stores[s], t,
					 conns[c]);
				evb_put(key, EVB_RATE, v, n);
				snprintf(key, sizeof(key),
					 "evd.scale.%s.t%d.c%d.evd_cpu",
					 stores[s], t, conns[c]);
				evb_put(key, EVB_NS, ev, n);
				snprintf(key, sizeof(key),
					 "evd.scale.%s.t%d.c%d.client_cpu",
					 stores[s], t, conns[c]);
				evb_put(key, EVB_NS, cl, n);
			}
	}
}

/* ---- 2. cancel throughput ---- */

struct ids {
	uint64_t *v[16];
	size_t n[16];
	size_t cap;
	long events; /* ExecFinished events seen (exec group) */
	int64_t last_event;
};

/* Keeps the timer id of every Scheduled reply, per connection. */
static size_t
parse_ids(const uint8_t *in, size_t len, int conn, void *arg,
	  long *ret_replies, long *ret_errors)
{
	struct ids *ids = arg;
	size_t off = 0;

	while (len - off >= 4) {
		uint32_t n = (uint32_t)in[off] << 24 |
			     (uint32_t)in[off + 1] << 16 |
			     (uint32_t)in[off + 2] << 8 | in[off + 3];
		Evd__Reply *r;

		if (len - off - 4 < n)
			break;
		r = evd__reply__unpack(NULL, n, in + off + 4);
		if (r == NULL) {
			(*ret_errors)++;
		} else if (r->has_request_id) {
			(*ret_replies)++;
			if (r->body_case == EVD__REPLY__BODY_SCHEDULED &&
			    ids->n[conn] < ids->cap)
				ids->v[conn][ids->n[conn]++] =
				    r->scheduled->timer_id;
			else if (r->body_case != EVD__REPLY__BODY_WAITING)
				(*ret_errors)++;
		} else if (r->body_case == EVD__REPLY__BODY_EXEC_FINISHED) {
			ids->events++;
			ids->last_event = evb_now();
		}
		if (r != NULL)
			evd__reply__free_unpacked(r, NULL);
		off += 4 + n;
	}
	return off;
}

static double
cancel_once(const char *store, int nconn, long ops)
{
	const char *channel = strcmp(store, "memory") == 0 ? NULL : "bench";
	struct evb_load loads[16];
	struct ids ids;
	int fds[16], want = K_CANCELLED, i;
	struct evd_proc p;
	double rate = -1;

	memset(loads, 0, sizeof(loads));
	memset(&ids, 0, sizeof(ids));
	for (i = 0; i < nconn; i++)
		fds[i] = -1;
	if (evd_up(&p, store) < 0)
		return -1;
	ids.cap = (size_t)(ops / nconn + 1);
	for (i = 0; i < nconn; i++) {
		if ((fds[i] = conn_open(p.sock)) < 0)
			goto out;
		if ((ids.v[i] = malloc(ids.cap * sizeof(uint64_t))) == NULL)
			goto out;
	}
	for (long j = 0; j < ops; j++)
		if (load_call_later(&loads[j % nconn], (uint64_t)j + 2, HOUR_NS,
				    channel) < 0)
			goto out;
	if (evb_pipeline(fds, loads, nconn, 4096, parse_ids, &ids, 30000) < 0)
		goto out;
	for (i = 0; i < nconn; i++) {
		evb_load_free(&loads[i]);
		/* Cancel in another order than scheduled: a heap's
		 * cancel cost depends on where the timer sits. */
		for (size_t j = 0; j < ids.n[i]; j++) {
			size_t k = (j * 7919) % ids.n[i];

			if (load_simple(&loads[i], j + 2, K_CANCELLED,
					ids.v[i][k]) < 0)
				goto out;
		}
		if (ids.n[i] > 0 && (ids.n[i] % 7919) == 0)
			goto out; /* the stride would repeat ids */
	}
	rate = evb_pipeline(fds, loads, nconn, 16384 / (size_t)nconn,
			    evb_parse_evd, &want, 30000);
out:
	conns_close(fds, nconn);
	for (i = 0; i < nconn; i++) {
		evb_load_free(&loads[i]);
		free(ids.v[i]);
	}
	if (evd_stop(&p) != 0)
		rate = -1;
	return rate;
}

void
evb_evd_cancel(const struct evb_opts *o)
{
	struct {
		const char *store;
		int conns;
	} cases[] = {{"memory", 1}, {"memory", 4}, {"sqlite", 4}};
	char key[96];

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		bool mem = strcmp(cases[c].store, "memory") == 0;
		double v[EVB_MAX_RUNS];
		int n = 0;

		for (int r = 0; r < o->runs; r++) {
			double x = cancel_once(cases[c].store, cases[c].conns,
					       mem ? o->ops : o->ops_durable);

			if (x > 0)
				v[n++] = x;
		}
		snprintf(key, sizeof(key), "evd.cancel.%s.c%d", cases[c].store,
			 cases[c].conns);
		if (n > 0)
			evb_put(key, EVB_RATE, v, n);
		else
			evb_note("%s failed", key);
	}
}

/* ---- 3. fire precision ---- */

struct prec {
	int64_t *cl, *dl; /* lateness seen by us, and said by the daemon */
	int64_t *xl;	  /* their difference: fire to our read() */
	size_t ncl, ndl, nxl, cap;
	long early_client, early_daemon, errors;
};

static void
prec_frame(struct prec *pr, const uint8_t *p, uint32_t n, int64_t t_rx)
{
	Evd__Reply *r;
	bool has_id;
	int kind = evb_reply_kind(p, n, &has_id);
	int64_t due;

	if (has_id) {
		if (kind != K_SCHEDULED)
			pr->errors++;
		return;
	}
	if (kind != K_FIRED || (r = evd__reply__unpack(NULL, n, p)) == NULL)
		return;
	if (r->fired->has_payload && r->fired->payload.len == sizeof(due) &&
	    pr->ncl < pr->cap) {
		memcpy(&due, r->fired->payload.data, sizeof(due));
		pr->cl[pr->ncl] = t_rx - due;
		if (t_rx < due)
			pr->early_client++;
		pr->ncl++;
	}
	if (r->fired->has_lateness_ns && pr->ndl < pr->cap) {
		if (pr->ncl > 0 && pr->nxl < pr->cap)
			pr->xl[pr->nxl++] =
			    pr->cl[pr->ncl - 1] - r->fired->lateness_ns;
		pr->dl[pr->ndl++] = r->fired->lateness_ns;
		if (r->fired->lateness_ns < 0)
			pr->early_daemon++;
	}
	evd__reply__free_unpacked(r, NULL);
}

/*
 * Fires rate timers per second for secs on fd. Timers are scheduled
 * lead ahead of their deadline as time goes on (a steady state: as many
 * scheduled as fired per second, rate * lead of them pending), with
 * deadlines evenly spaced.
 */
static int
prec_once(int fd, long rate, double secs, struct prec *pr)
{
	const int64_t lead = 200 * MS_NS;
	long total = (long)((double)rate * secs), next = 0;
	int64_t period = NS_PER_S / rate, t_start = evb_now() + 100 * MS_NS;
	int64_t t_end = t_start + (int64_t)(secs * 1e9) + 5 * NS_PER_S;
	struct evb_load out = {0};
	size_t out_off = 0, have = 0;
	uint8_t *in = malloc(1 << 20);
	int ret = -1;

	if (in == NULL || evb_nonblock(fd) < 0)
		goto done;
	while ((long)pr->ndl < total) {
		int64_t now = evb_now();
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t n;
		size_t off;

		if (now > t_end) {
			fprintf(stderr, "evbench: %ld of %ld fires missing\n",
				total - (long)pr->ndl, total);
			goto done;
		}
		if (out_off == out.len) {
			out.len = out.n = 0;
			out_off = 0;
		}
		while (next < total && t_start + next * period < now + lead) {
			if (load_call_at(&out, (uint64_t)next + 2,
					 t_start + next * period, NULL, false,
					 NULL) < 0)
				goto done;
			next++;
		}
		if (out_off < out.len) {
			n = send(fd, out.buf + out_off, out.len - out_off,
				 MSG_NOSIGNAL);
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				goto done;
			if (n > 0)
				out_off += (size_t)n;
		}
		if (out_off < out.len)
			pfd.events |= POLLOUT;
		/* Wake at least every 2 ms to keep scheduling ahead. */
		if (poll(&pfd, 1, 2) < 0 && errno != EINTR)
			goto done;
		if (!(pfd.revents & POLLIN))
			continue;
		n = read(fd, in + have, (1 << 20) - have);
		if (n == 0)
			goto done;
		if (n < 0)
			continue;
		/* One receive time for the whole read: that is when these
		 * events reached us. */
		now = evb_now();
		have += (size_t)n;
		for (off = 0; have - off >= 4;) {
			uint32_t len = (uint32_t)in[off] << 24 |
				       (uint32_t)in[off + 1] << 16 |
				       (uint32_t)in[off + 2] << 8 | in[off + 3];

			if (have - off - 4 < len)
				break;
			prec_frame(pr, in + off + 4, len, now);
			off += 4 + len;
		}
		memmove(in, in + off, have - off);
		have -= off;
	}
	ret = pr->errors > 0 ? -1 : 0;
done:
	free(in);
	evb_load_free(&out);
	return ret;
}

static void
put_lateness(const char *prefix, const char *who, int64_t *v, size_t n,
	     double q[4][EVB_MAX_RUNS], int run)
{
	(void)prefix;
	(void)who;
	qsort(v, n, sizeof(*v), evb_cmp_i64);
	q[0][run] = (double)evb_quantile(v, n, 0.50);
	q[1][run] = (double)evb_quantile(v, n, 0.99);
	q[2][run] = (double)evb_quantile(v, n, 0.999);
	q[3][run] = n > 0 ? (double)v[n - 1] : 0;
}

static void
put_quantiles(const char *prefix, const char *who, double q[4][EVB_MAX_RUNS],
	      int n)
{
	static const char *const names[] = {"p50", "p99", "p999", "max"};
	char key[96];

	for (int i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "%s.%s.%s", prefix, who, names[i]);
		if (i == 3) {
			/* The worst of all runs, not a median. */
			double m = q[3][0];

			for (int r = 1; r < n; r++)
				if (q[3][r] > m)
					m = q[3][r];
			evb_put1(key, EVB_NS, m);
		} else {
			evb_put(key, EVB_NS, q[i], n);
		}
	}
}

static void
steal(int64_t **dst, size_t *ndst, int64_t **src, size_t n)
{
	free(*dst);
	*dst = *src;
	*ndst = n;
	*src = NULL;
}

static void
precision_case(const struct evb_opts *o, const char *sock, long rate,
	       long pending, bool busy, bool keep)
{
	double qc[4][EVB_MAX_RUNS], qd[4][EVB_MAX_RUNS], qx[4][EVB_MAX_RUNS];
	long early_c = 0, early_d = 0;
	char prefix[96], key[128];
	int n = 0;
	pid_t spin = busy ? evb_busy_start() : 0;

	snprintf(prefix, sizeof(prefix), "evd.prec.%ld.%ld.%s", rate, pending,
		 busy ? "busy" : "idle");
	for (int r = 0; r < o->runs; r++) {
		struct prec pr = {0};
		int fd = conn_open(sock);

		pr.cap = (size_t)((double)rate * o->fire_secs) + 16;
		pr.cl = malloc(pr.cap * sizeof(int64_t));
		pr.dl = malloc(pr.cap * sizeof(int64_t));
		pr.xl = malloc(pr.cap * sizeof(int64_t));
		if (fd >= 0 && pr.cl != NULL && pr.dl != NULL && pr.xl != NULL &&
		    prec_once(fd, rate, o->fire_secs, &pr) == 0) {
			early_c += pr.early_client;
			early_d += pr.early_daemon;
			put_lateness(prefix, "client", pr.cl, pr.ncl, qc, n);
			put_lateness(prefix, "daemon", pr.dl, pr.ndl, qd, n);
			put_lateness(prefix, "delivery", pr.xl, pr.nxl, qx, n);
			n++;
			if (keep && r == o->runs - 1) {
				steal(&evb_cdf_client, &evb_cdf_nclient, &pr.cl,
				      pr.ncl);
				steal(&evb_cdf_daemon, &evb_cdf_ndaemon, &pr.dl,
				      pr.ndl);
			}
		}
		if (fd >= 0)
			close(fd);
		free(pr.cl);
		free(pr.dl);
		free(pr.xl);
	}
	evb_kill(spin);
	if (pending < 0)
		return; /* the warm-up */
	if (n == 0) {
		evb_note("%s failed", prefix);
		return;
	}
	put_quantiles(prefix, "client", qc, n);
	put_quantiles(prefix, "daemon", qd, n);
	put_quantiles(prefix, "delivery", qx, n);
	snprintf(key, sizeof(key), "%s.early", prefix);
	evb_put1(key, EVB_COUNT, (double)(early_c + early_d));
}

void
evb_evd_precision(const struct evb_opts *o)
{
	static const long rates[] = {10000, 100000};
	const long pendings[] = {0, 100000, 1000000};

	for (size_t pi = 0; pi < 3; pi++) {
		long pending = pendings[pi];
		struct evd_proc p;
		int bg;

		if (pending > o->pending_max)
			continue;
		if (evd_up(&p, "memory") < 0)
			return;
		/* The other timers: an hour out, on a connection that stays
		 * open (they die with it). */
		if ((bg = conn_open(p.sock)) < 0 ||
		    (pending > 0 && fill(&bg, 1, pending, HOUR_NS, NULL) < 0)) {
			evb_note("precision: cannot schedule %ld timers",
				 pending);
			evd_stop(&p);
			return;
		}
		/* A discarded warm-up: the first fires of a fresh daemon
		 * touch new memory and pay for it. */
		{
			struct evb_opts w = *o;

			w.runs = 1;
			w.fire_secs = 0.2;
			precision_case(&w, p.sock, 10000, -1, false, false);
		}
		/* The CDF plot shows the headline case: 100k/s, the
		 * most timers pending, idle. */
		for (size_t ri = 0; ri < 2; ri++)
			for (int busy = 0; busy < 2; busy++)
				precision_case(o, p.sock, rates[ri], pending,
					       busy,
					       ri == 1 && !busy &&
						   pending == o->pending_max);
		close(bg);
		evd_stop(&p);
	}
	for (size_t ri = 0; ri < 2; ri++)
		for (int busy = 0; busy < 2; busy++)
			evb_base_timerfd(o, rates[ri], busy);
	evb_base_timer_arm(o);
}

/* ---- 4. memory per pending timer ---- */

static void
memory_run(const long *points, int npoints, double v[][EVB_MAX_RUNS],
	   int *nv)
{
	struct evd_proc p;
	long have = 0, rss0;
	int fd;

	if (evd_up(&p, "memory") < 0)
		return;
	if ((fd = conn_open(p.sock)) < 0)
		goto out;
	/* The zero point has the connection open and greeted, so that
	 * its buffers are not counted as timers. */
	usleep(50000);
	if ((rss0 = evb_rss(p.pid)) < 0)
		goto out;
	for (int i = 0; i < npoints; i++) {
		long rss;

		if (fill(&fd, 1, points[i] - have, HOUR_NS, NULL) < 0)
			goto out;
		have = points[i];
		usleep(50000);
		if ((rss = evb_rss(p.pid)) < 0)
			goto out;
		if (nv[i] < EVB_MAX_RUNS)
			v[i][nv[i]++] = (double)(rss - rss0) / (double)have;
	}
out:
	if (fd >= 0)
		close(fd);
	evd_stop(&p);
}

void
evb_evd_memory(const struct evb_opts *o)
{
	static const long points[] = {10000, 100000, 1000000, 10000000};
	double v[4][EVB_MAX_RUNS];
	int nv[4] = {0}, np = 0;
	char key[64];

	while (np < 4 && points[np] <= o->mem_max && points[np] <= 1000000)
		np++;
	for (int r = 0; r < o->runs; r++)
		memory_run(points, np, v, nv);
	/* Ten million takes a while and 1-2 GB: one run. */
	if (o->mem_max >= 10000000)
		memory_run(points, 4, v, nv), np = 4;
	for (int i = 0; i < np; i++) {
		snprintf(key, sizeof(key), "evd.mem.%ld", points[i]);
		if (nv[i] > 0)
			evb_put(key, EVB_BYTES, v[i], nv[i]);
		else
			evb_note("%s failed", key);
	}
}

/* ---- 5. restart to ready ---- */

void
evb_evd_restart(const struct evb_opts *o)
{
	double v[EVB_MAX_RUNS];
	struct evd_proc p;
	int fds[2] = {-1, -1}, n = 0;
	char key[64];

	if (evd_up(&p, "sqlite") < 0)
		return;
	if ((fds[0] = conn_open(p.sock)) < 0 ||
	    (fds[1] = conn_open(p.sock)) < 0 ||
	    fill(fds, 2, o->restart_n, HOUR_NS, "bench") < 0) {
		evb_note("restart: cannot schedule %ld durable timers",
			 o->restart_n);
		conns_close(fds, 2);
		evd_stop(&p);
		return;
	}
	conns_close(fds, 2);
	for (int r = 0; r < o->runs; r++) {
		int64_t t0;

		if (evd_terminate(&p) != 0)
			break;
		/* exec to READY=1: evd sends it after loading the store
		 * and listening. */
		t0 = evb_now();
		if (evd_start_in(&p, (const char *const[]){
					 "--log-level", "warning", NULL}) < 0)
			break;
		v[n++] = (double)(evb_now() - t0) / 1e9;
	}
	evd_stop(&p);
	snprintf(key, sizeof(key), "evd.restart.%ld", o->restart_n);
	if (n > 0)
		evb_put(key, EVB_SEC, v, n);
	else
		evb_note("%s failed", key);
}

/* ---- 6. exec hooks ---- */

static double
exec_once(const char *sock, long n)
{
	struct evb_load load = {0};
	struct ids ids;
	int fd = conn_open(sock);
	int64_t t_due;
	double rate = -1;

	memset(&ids, 0, sizeof(ids));
	ids.cap = (size_t)n;
	if (fd < 0 || (ids.v[0] = malloc((size_t)n * sizeof(uint64_t))) == NULL)
		goto out;
	/* All due at one instant, far enough out that the Waits are in
	 * before the first hook ends. */
	t_due = evb_now() + 300 * MS_NS + n * 50000LL;
	for (long j = 0; j < n; j++)
		if (load_call_at(&load, (uint64_t)j + 2, t_due, NULL, false,
				 "/bin/true") < 0)
			goto out;
	if (evb_pipeline(&fd, &load, 1, 4096, parse_ids, &ids, 30000) < 0)
		goto out;
	evb_load_free(&load);
	for (size_t j = 0; j < ids.n[0]; j++)
		if (load_simple(&load, j + 2, K_WAITING, ids.v[0][j]) < 0)
			goto out;
	ids.n[0] = 0;
	if (evb_pipeline(&fd, &load, 1, 4096, parse_ids, &ids, 30000) < 0)
		goto out;
	if (evb_now() > t_due) {
		evb_note("exec: scheduling took past the due time");
		goto out;
	}
	/* Then the ExecFinished events, one per hook. */
	{
		uint8_t *in = malloc(1 << 20);
		size_t have = 0;

		if (in == NULL)
			goto out;
		while (ids.events < n) {
			struct pollfd pfd = {fd, POLLIN, 0};
			long r = 0, e = 0;
			size_t used;
			ssize_t k;

			if (poll(&pfd, 1, 30000) <= 0) {
				free(in);
				goto out;
			}
			k = read(fd, in + have, (1 << 20) - have);
			if (k <= 0) {
				if (k < 0 && errno == EAGAIN)
					continue;
				free(in);
				goto out;
			}
			have += (size_t)k;
			used = parse_ids(in, have, 0, &ids, &r, &e);
			memmove(in, in + used, have - used);
			have -= used;
		}
		free(in);
	}
	rate = (double)n / ((double)(ids.last_event - t_due) / 1e9);
out:
	if (fd >= 0)
		close(fd);
	evb_load_free(&load);
	free(ids.v[0]);
	return rate;
}

void
evb_evd_exec(const struct evb_opts *o)
{
	double v[EVB_MAX_RUNS];
	struct evd_proc p;
	int n = 0;

	if (evd_up(&p, "memory") < 0)
		return;
	for (int r = 0; r < o->runs; r++) {
		double x = exec_once(p.sock, o->exec_n);

		if (x > 0)
			v[n++] = x;
	}
	evd_stop(&p);
	if (n > 0)
		evb_put("evd.exec", EVB_RATE, v, n);
	else
		evb_note("evd.exec failed");
}

/* exec_once in a child that became user: his hooks run as him. */
static double
exec_once_as(const char *user, const char *sock, long n)
{
	struct passwd *pw = getpwnam(user);
	double rate = -1;
	int p[2], st;
	pid_t pid;

	if (pw == NULL || pipe(p) < 0) {
		evb_note("exec as %s: no such user, or no pipe", user);
		return -1;
	}
	if ((pid = fork()) == 0) {
		close(p[0]);
		if (initgroups(user, pw->pw_gid) < 0 ||
		    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
			_exit(1);
		rate = exec_once(sock, n);
		_exit(write(p[1], &rate, sizeof rate) == sizeof rate ? 0 : 1);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &rate, sizeof rate) != sizeof rate)
		rate = -1;
	close(p[0]);
	if (pid > 0)
		waitpid(pid, &st, 0);
	return rate;
}

/* The same, through an evd that runs each hook as a transient unit (the
 * installed one, under the system manager: evbench cannot start that). */
void
evb_evd_exec_systemd(const struct evb_opts *o)
{
	double v[EVB_MAX_RUNS];
	int n = 0;

	for (int r = 0; r < o->runs; r++) {
		double x = o->sd_user != NULL
				   ? exec_once_as(o->sd_user, o->sd_socket,
						  o->exec_n)
				   : exec_once(o->sd_socket, o->exec_n);

		if (x > 0)
			v[n++] = x;
	}
	if (n > 0)
		evb_put("evd.exec.systemd", EVB_RATE, v, n);
	else
		evb_note("evd.exec.systemd failed (is %s an evd with "
			 "hooks systemd?)", o->sd_socket);
}

/* ---- 7. round trip of one blocking request ---- */

static int
rtt_raw(const char *path, size_t frame, long n, double *p50, double *p99)
{
	int64_t *v = malloc((size_t)n * sizeof(*v));
	uint8_t buf[256] = {0}, in[256];
	int fd = evb_connect_retry(path, 2000), ret = -1;

	if (v == NULL || fd < 0 || frame > sizeof(buf) ||
	    raw_write(fd, "e", 1) < 0)
		goto out;
	frame_put_header(buf, frame - FRAME_HEADER_LEN);
	for (long i = -n / 10; i < n; i++) {
		int64_t t = evb_now();
		size_t got;

		if (raw_write(fd, buf, frame) < 0)
			goto out;
		for (got = 0; got < frame;) {
			ssize_t r = read(fd, in + got, frame - got);

			if (r <= 0)
				goto out;
			got += (size_t)r;
		}
		if (i >= 0)
			v[i] = evb_now() - t;
	}
	qsort(v, (size_t)n, sizeof(*v), evb_cmp_i64);
	*p50 = (double)evb_quantile(v, (size_t)n, 0.50);
	*p99 = (double)evb_quantile(v, (size_t)n, 0.99);
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(v);
	return ret;
}

static int
rtt_evc(const char *sock, long n, double *p50, double *p99)
{
	int64_t *v = malloc((size_t)n * sizeof(*v));
	struct evc *c = NULL;
	char err[256];
	int ret = -1;

	if (v == NULL ||
	    evc_connect(sock, "evbench", 5000, &c, err, sizeof(err)) < 0)
		goto out;
	for (long i = -n / 10; i < n; i++) {
		struct evc_scheduled s;
		int64_t t = evb_now();

		if (evc_call_later(c, HOUR_NS, EVC_CLOCK_MONOTONIC, NULL, 5000,
				   &s) < 0) {
			fprintf(stderr, "evbench: %s\n", evc_errmsg(c));
			goto out;
		}
		if (i >= 0)
			v[i] = evb_now() - t;
	}
	qsort(v, (size_t)n, sizeof(*v), evb_cmp_i64);
	*p50 = (double)evb_quantile(v, (size_t)n, 0.50);
	*p99 = (double)evb_quantile(v, (size_t)n, 0.99);
	ret = 0;
out:
	if (c != NULL)
		evc_close(c);
	free(v);
	return ret;
}

size_t
evb_call_later_frame(void)
{
	struct evb_load l = {0};
	size_t n = 0;

	if (load_call_later(&l, 123456, HOUR_NS, NULL) == 0)
		n = l.len;
	evb_load_free(&l);
	return n;
}

void
evb_evd_rtt(const struct evb_opts *o)
{
	char echo[PATH_MAX], key[96];
	struct evd_proc p;
	pid_t ep;

	if (evd_up(&p, "memory") < 0)
		return;
	if (snprintf(echo, sizeof(echo), "%s/echo.sock", p.dir) >=
		(int)sizeof(echo) ||
	    (ep = evb_echo_start(echo)) < 0) {
		evb_note("rtt: cannot start the echo server");
		evd_stop(&p);
		return;
	}
	/*
	 * Same core: client, server and evd all on CPU 0, the stable
	 * floor (a VM's cross-vCPU wakeup adds tens of µs and makes
	 * unpinned figures bimodal); unpinned is what a client usually
	 * gets. Children started later inherit the pinning.
	 */
	for (int pin = 1; pin >= 0; pin--) {
		double rp50[EVB_MAX_RUNS], rp99[EVB_MAX_RUNS];
		double ep50[EVB_MAX_RUNS], ep99[EVB_MAX_RUNS];
		const char *place = pin ? "same" : "unpinned";
		int n = 0;

		if (evb_pin(0, pin ? 0 : -1) < 0 ||
		    evb_pin(p.pid, pin ? 0 : -1) < 0 ||
		    evb_pin(ep, pin ? 0 : -1) < 0) {
			evb_note("rtt: cannot pin (%s)", strerror(errno));
			continue;
		}
		for (int r = 0; r < o->runs; r++) {
			if (rtt_raw(echo, evb_call_later_frame(), o->rtt_n,
				    &rp50[n], &rp99[n]) < 0 ||
			    rtt_evc(p.sock, o->rtt_n, &ep50[n], &ep99[n]) < 0)
				continue;
			n++;
		}
		if (n == 0) {
			evb_note("rtt %s failed", place);
			continue;
		}
		snprintf(key, sizeof(key), "raw.rtt.%s.p50", place);
		evb_put(key, EVB_NS, rp50, n);
		snprintf(key, sizeof(key), "raw.rtt.%s.p99", place);
		evb_put(key, EVB_NS, rp99, n);
		snprintf(key, sizeof(key), "evd.rtt.%s.p50", place);
		evb_put(key, EVB_NS, ep50, n);
		snprintf(key, sizeof(key), "evd.rtt.%s.p99", place);
		evb_put(key, EVB_NS, ep99, n);
	}
	evb_pin(0, -1);
	evb_kill(ep);
	evd_stop(&p);
}

/* ---- 8. fire delivery rate ---- */

struct deliver {
	long got;
	int64_t first, last;
};

static size_t
parse_fired(const uint8_t *in, size_t len, struct deliver *d)
{
	size_t off = 0;
	int64_t now = evb_now();

	while (len - off >= 4) {
		uint32_t n = (uint32_t)in[off] << 24 |
			     (uint32_t)in[off + 1] << 16 |
			     (uint32_t)in[off + 2] << 8 | in[off + 3];
		bool has_id;

		if (len - off - 4 < n)
			break;
		if (evb_reply_kind(in + off + 4, n, &has_id) == K_FIRED &&
		    !has_id) {
			if (d->got++ == 0)
				d->first = now;
			d->last = now;
		}
		off += 4 + n;
	}
	return off;
}

/* Reads Fired events on fd until n arrived (30 s bound). */
static int
read_fires(int fd, long n, struct deliver *d)
{
	uint8_t *in = malloc(1 << 20);
	size_t have = 0;
	int ret = -1;

	if (in == NULL)
		return -1;
	while (d->got < n) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t k;
		size_t used;

		if (poll(&pfd, 1, 30000) <= 0)
			goto out;
		k = read(fd, in + have, (1 << 20) - have);
		if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR))
			goto out;
		if (k < 0)
			continue;
		have += (size_t)k;
		used = parse_fired(in, have, d);
		memmove(in, in + used, have - used);
		have -= used;
	}
	ret = 0;
out:
	free(in);
	return ret;
}

/*
 * n timers due at one instant; channel NULL: Fired events to the
 * scheduling connection, else to one subscriber of the channel
 * (at-most-once, so that the rate is the daemon's, not our acks').
 * Events per second from the first to the last received.
 */
static double
deliver_once(const char *sock, long n, const char *channel)
{
	struct evb_load load = {0};
	struct deliver d = {0};
	int fd = conn_open(sock), sub = -1, want = K_SCHEDULED;
	/* Scheduling runs at some 300k/s or more: leave twice that, and a
	 * second for a machine busy with other work (ctest -j). */
	int64_t t_due = evb_now() + 1000 * MS_NS + n * 6000LL;
	double rate = -1;

	if (fd < 0)
		return -1;
	if (channel != NULL) {
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__Subscribe s = EVD__SUBSCRIBE__INIT;
		Evd__Reply *r;

		if ((sub = conn_open(sock)) < 0)
			goto out;
		s.channel = (char *)channel;
		rq.has_request_id = 1;
		rq.request_id = 2;
		rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
		rq.subscribe = &s;
		r = raw_call(sub, &rq, 5000);
		if (r == NULL || r->body_case != EVD__REPLY__BODY_SUBSCRIBED) {
			evb_note("delivery: Subscribe failed");
			if (r != NULL)
				evd__reply__free_unpacked(r, NULL);
			goto out;
		}
		evd__reply__free_unpacked(r, NULL);
	}
	for (long j = 0; j < n; j++)
		if (load_call_at(&load, (uint64_t)j + 2, t_due, channel,
				 channel != NULL, NULL) < 0)
			goto out;
	if (evb_pipeline(&fd, &load, 1, 16384, evb_parse_evd, &want, 30000) < 0)
		goto out;
	if (evb_now() >= t_due) {
		evb_note("delivery: scheduling %ld timers overran their due "
			 "time; rate not measured",
			 n);
		goto out;
	}
	if (read_fires(channel != NULL ? sub : fd, n, &d) < 0) {
		evb_note("delivery: only %ld of %ld fires arrived", d.got, n);
		goto out;
	}
	if (d.last > d.first)
		rate = (double)(n - 1) / ((double)(d.last - d.first) / 1e9);
	else if (d.last > t_due) /* all came in one read: time from the due
	                          * instant, before which none was sent */
		rate = (double)n / ((double)(d.last - t_due) / 1e9);
out:
	close(fd);
	if (sub >= 0)
		close(sub);
	evb_load_free(&load);
	return rate;
}

void
evb_evd_delivery(const struct evb_opts *o)
{
	for (int ch = 0; ch < 2; ch++) {
		const char *key = ch ? "evd.deliver.channel"
				     : "evd.deliver.caller";
		double v[EVB_MAX_RUNS];
		struct evd_proc p;
		int n = 0;

		for (int r = 0; r < o->runs; r++) {
			double x;

			if (evd_up(&p, "memory") < 0)
				return;
			x = deliver_once(p.sock, o->deliver_n,
					 ch ? "deliver" : NULL);
			evd_stop(&p);
			if (x > 0)
				v[n++] = x;
		}
		if (n > 0)
			evb_put(key, EVB_RATE, v, n);
		else
			evb_note("%s failed", key);
	}
}

/* ---- CLI: one evctl process per durable timer (against at(1)) ---- */

void
evb_evd_cli(const struct evb_opts *o)
{
	double v[EVB_MAX_RUNS];
	struct evd_proc p;
	int n = 0;

	if (evd_up(&p, "sqlite") < 0)
		return;
	for (int r = 0; r < o->runs; r++) {
		const char *argv[] = {EVCTL_BIN, "--socket", p.sock, "later",
				      "1h", "--channel", "cli", NULL};
		int64_t t0 = evb_now(), end = t0 + (int64_t)(o->ext_secs * 1e9);
		long k = 0;

		while (evb_now() < end) {
			char out[512];

			if (evb_run(argv, NULL, out, sizeof(out)) != 0) {
				evb_note("evctl failed: %s", out);
				break;
			}
			k++;
		}
		if (evb_now() >= end && k > 0)
			v[n++] = (double)k / ((double)(evb_now() - t0) / 1e9);
	}
	evd_stop(&p);
	if (n > 0)
		evb_put("evd.cli", EVB_RATE, v, n);
}
