/*
 * bench_durable: end-to-end figures of the durable store through the real
 * evd, printed as a markdown table (medians of several runs, min..max):
 *
 *   - CallLater throughput into a channel (durable) with group commit:
 *     clients pipeline a window of requests; against the same with a
 *     window of 1 (one request per loop iteration, so one commit per
 *     request) and against the memory store;
 *   - restart-to-ready time with N pending durable timers (exec to
 *     READY=1, which evd sends after loading the store);
 *   - database bytes per timer.
 *
 * Not a test: nothing is asserted. --quick runs small sizes (the ctest
 * smoke run, so the tool never rots).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define RUNS 3

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stat3 {
	double med, min, max;
};

static struct stat3
summarize(double *v, int n)
{
	struct stat3 s;

	qsort(v, (size_t)n, sizeof *v, cmp_double);
	s.med = v[n / 2];
	s.min = v[0];
	s.max = v[n - 1];
	return s;
}

/* One client: schedules total timers into a channel, window at a time.
 * Returns 0 if every request was acknowledged. */
static int
client_run(const char *sock, long total, int window)
{
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	long done = 0;
	int fd, i;

	if ((fd = raw_connect(sock)) < 0 || raw_hello(fd, 1) < 0)
		return -1;
	cl.has_delay_ns = 1;
	cl.delay_ns = 3600LL * 1000000000;
	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = "bench";
	cl.callback = &cb;
	for (i = 0; i < window; i++) {
		Evd__Request rq = EVD__REQUEST__INIT;

		rq.has_request_id = 1;
		rq.request_id = 2 + (uint64_t)i;
		rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
		rq.call_later = &cl;
		if (raw_append_request(&buf, &len, &cap, &rq) < 0)
			return -1;
	}
	while (done < total) {
		if (raw_write(fd, buf, len) < 0)
			return -1;
		for (i = 0; i < window; i++) {
			Evd__Reply *r = raw_recv_reply(fd, 30000);

			if (r == NULL || r->body_case != EVD__REPLY__BODY_SCHEDULED)
				return -1;
			evd__reply__free_unpacked(r, NULL);
		}
		done += window;
	}
	free(buf);
	close(fd);
	return 0;
}

/* nclients processes schedule total timers in all; returns timers/s. */
static double
throughput(const char *sock, long total, int nclients, int window)
{
	pid_t pids[64];
	double t0, t1;
	int i, status, ok = 1;

	t0 = now_s();
	for (i = 0; i < nclients; i++) {
		if ((pids[i] = fork()) == 0)
			_exit(client_run(sock, total / nclients, window) == 0
			              ? 0
			              : 1);
	}
	for (i = 0; i < nclients; i++) {
		waitpid(pids[i], &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			ok = 0;
	}
	t1 = now_s();
	if (!ok)
		return -1;
	return (double)(total / nclients * nclients) / (t1 - t0);
}

static void
bench_throughput(long total, long total_per_request)
{
	struct {
		const char *label;
		const char *store;
		int clients, window;
		long total;
	} cases[] = {
		{ "sqlite, 1 client, window 1 (a commit per request)",
		  "sqlite", 1, 1, total_per_request },
		{ "sqlite, 1 client, window 1000 (group commit)", "sqlite", 1,
		  1000, total },
		{ "sqlite, 4 clients, window 1000 (group commit)", "sqlite", 4,
		  1000, total },
		{ "memory, 4 clients, window 1000", "memory", 4, 1000, total },
	};
	size_t c;

	printf("\n### Durable CallLater into a channel (%ld timers per run, "
	       "median of %d runs [min..max])\n\n",
	       total, RUNS);
	printf("| case | timers/s |\n|---|---|\n");
	for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
		double v[RUNS];
		struct stat3 s;
		int run;

		for (run = 0; run < RUNS; run++) {
			const char *args[] = { "--store", cases[c].store,
				               "--log-level", "warning", NULL };
			struct evd_proc p;

			if (evd_start(&p, args) < 0) {
				fprintf(stderr, "cannot start evd\n");
				exit(1);
			}
			v[run] = throughput(p.sock, cases[c].total,
			                    cases[c].clients, cases[c].window);
			evd_stop(&p);
		}
		s = summarize(v, RUNS);
		printf("| %s | %.0f [%.0f..%.0f] |\n", cases[c].label, s.med,
		       s.min, s.max);
	}
}

static long
file_size(const char *dir, const char *name)
{
	char path[8192];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

static void
bench_restart(long n)
{
	double v[RUNS];
	struct evd_proc p;
	struct stat3 s;
	long bytes;
	int run;

	if (evd_start(&p, NULL) < 0) {
		fprintf(stderr, "cannot start evd\n");
		exit(1);
	}
	if (throughput(p.sock, n, 2, 1000) < 0) {
		fprintf(stderr, "scheduling %ld timers failed\n", n);
		exit(1);
	}
	for (run = 0; run < RUNS; run++) {
		double t0;

		evd_terminate(&p);
		t0 = now_s();
		if (evd_start_in(&p, NULL) < 0) {
			fprintf(stderr, "restart failed\n");
			exit(1);
		}
		v[run] = now_s() - t0;
	}
	evd_terminate(&p);
	bytes = file_size(p.state, "evd.db") + file_size(p.state, "evd.db-wal");
	rm_rf(p.dir);
	s = summarize(v, RUNS);
	printf("| %ld | %.3f [%.3f..%.3f] | %.1f |\n", n, s.med, s.min, s.max,
	       (double)bytes / (double)n);
}

int
main(int argc, char **argv)
{
	int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;

	signal(SIGPIPE, SIG_IGN);
	printf("# bench_durable (%s)\n", quick ? "quick smoke run" : "full run");
	bench_throughput(quick ? 4000 : 400000, quick ? 200 : 5000);
	printf("\n### Restart to READY=1 with N pending durable timers "
	       "(median of %d restarts [min..max])\n\n",
	       RUNS);
	printf("| N | seconds | database bytes per timer |\n|---|---|---|\n");
	if (quick)
		bench_restart(2000);
	else {
		bench_restart(100000);
		bench_restart(1000000);
	}
	return 0;
}
