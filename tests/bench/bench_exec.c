/*
 * bench_exec: what an exec hook costs (daemon/exec.c through the spawner
 * process, daemon/spawner.c).
 *
 * Figures for the issue note, never asserted. In one run, each the median
 * of 3 runs (min..max):
 *	exec_submit of /bin/true with max_running 2 and 8, everything
 *	submitted at once: spawns/s from the first submit to the last
 *	callback; and the ratio of max_running 2 to bare posix_spawn with 2
 *	in flight (DESIGN.md's target: >= 0.9);
 *	exec_submit one at a time (the next submitted from the callback):
 *	latency submit->started (the spawner saw execve succeed, or the
 *	child's exit status said so) and submit->done (callback: reaped and
 *	pipes at EOF), p50 and p99;
 *	baselines in the same process: a bare fork+execve+waitpid loop, a
 *	bare vfork+execve+waitpid loop (one in flight), and posix_spawn with
 *	2 in flight (the DESIGN.md anchor: ~2,900/s).
 * --rss MB touches that much memory first: fork() copies page tables, so
 * its cost grows with the parent's RSS; vfork's does not.
 *
 * --ratio N measures only the ratio (max_running 2 against posix_spawn with
 * 2 in flight, N spawns each, alternating): short enough for A/B runs on a
 * shared machine.
 *
 * usage: bench_exec [--quick] [--rss MB] [--ratio N]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "exec.h"
#include "spawner.h"

#define RUNS 3
#define TRUE_BIN "/bin/true"

extern char **environ;
/* <spawn.h> includes <sched.h>, which daemon/sched.h shadows on evdcore's
 * include path; the attributes and file actions are NULL here anyway. */
int posix_spawn(pid_t *pid, const char *path, const void *file_actions,
		const void *attr, char *const argv[], char *const envp[]);

static int spawns = 2000;
static struct event_base *base;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- through exec_submit ---- */

struct burst {
	int done;
	int failed;
};

static void
burst_cb(const struct exec_result *r, void *arg)
{
	struct burst *b = arg;

	if (r->outcome != EXEC_EXITED || r->code != 0) {
		if (b->failed++ == 0)
			fprintf(stderr, "bench_exec: %s\n",
				r->errmsg != NULL ? r->errmsg : "non-zero");
	}
	b->done++;
}

static const char *const true_argv[] = {TRUE_BIN};

static struct exec_spec
true_spec(void)
{
	struct exec_spec s = {
	    .uid = geteuid(), .gid = getegid(), .argv = true_argv, .argc = 1};

	return s;
}

static double
run_burst(unsigned max_running)
{
	struct exec_spec s = true_spec();
	struct burst b = {0};
	int64_t t0;

	exec_set_limits(max_running, (size_t)spawns);
	t0 = now_ns();
	for (int i = 0; i < spawns; i++)
		if (exec_submit(&s, burst_cb, &b) != 0) {
			fprintf(stderr, "bench_exec: submit failed\n");
			exit(1);
		}
	while (b.done < spawns)
		event_base_loop(base, EVLOOP_ONCE);
	if (b.failed > 0)
		exit(1);
	return spawns / ((double)(now_ns() - t0) / 1e9);
}

struct serial {
	int left;
	int n;
	int64_t *started;
	int64_t *done;
};

static void
serial_cb(const struct exec_result *r, void *arg)
{
	struct serial *s = arg;
	struct exec_spec spec = true_spec();

	if (r->outcome != EXEC_EXITED)
		exit(1);
	s->started[s->n] = r->started_ns - r->submitted_ns;
	s->done[s->n] = now_ns() - r->submitted_ns;
	s->n++;
	if (--s->left > 0 && exec_submit(&spec, serial_cb, s) != 0)
		exit(1);
}

/* p50 and p99 in µs of submit->started and submit->done. */
static void
run_serial(double ret[4])
{
	struct exec_spec spec = true_spec();
	struct serial s = {.left = spawns};

	s.started = calloc((size_t)spawns, sizeof(int64_t));
	s.done = calloc((size_t)spawns, sizeof(int64_t));
	if (s.started == NULL || s.done == NULL)
		exit(1);
	exec_set_limits(1, 1);
	if (exec_submit(&spec, serial_cb, &s) != 0)
		exit(1);
	while (s.n < spawns)
		event_base_loop(base, EVLOOP_ONCE);
	qsort(s.started, (size_t)s.n, sizeof(int64_t), cmp_i64);
	qsort(s.done, (size_t)s.n, sizeof(int64_t), cmp_i64);
	ret[0] = s.started[s.n / 2] / 1e3;
	ret[1] = s.started[s.n * 99 / 100] / 1e3;
	ret[2] = s.done[s.n / 2] / 1e3;
	ret[3] = s.done[s.n * 99 / 100] / 1e3;
	free(s.started);
	free(s.done);
}

/* ---- bare baselines ---- */

static void
reap(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		exit(1);
}

/* One spawn, apart so that no loop variable lives across vfork. */
static pid_t __attribute__((noinline)) spawn_true(bool use_vfork)
{
	static char *const argv[] = {TRUE_BIN, NULL};
	pid_t pid = use_vfork ? vfork() : fork();

	if (pid == 0) {
		execve(TRUE_BIN, argv, environ);
		_exit(127);
	}
	return pid;
}

static double
run_fork(bool use_vfork)
{
	int64_t t0 = now_ns();

	for (int i = 0; i < spawns; i++) {
		pid_t pid = spawn_true(use_vfork);

		if (pid < 0)
			exit(1);
		reap(pid);
	}
	return spawns / ((double)(now_ns() - t0) / 1e9);
}

static double
run_posix_spawn2(void)
{
	char *const argv[] = {TRUE_BIN, NULL};
	int64_t t0 = now_ns();
	int inflight = 0;

	for (int i = 0; i < spawns; i++) {
		pid_t pid;

		if (inflight == 2) {
			reap(-1);
			inflight--;
		}
		if (posix_spawn(&pid, TRUE_BIN, NULL, NULL, argv, environ) != 0)
			exit(1);
		inflight++;
	}
	while (inflight-- > 0)
		reap(-1);
	return spawns / ((double)(now_ns() - t0) / 1e9);
}

/* ---- report ---- */

static void
row(const char *name, double v[RUNS], const char *unit)
{
	qsort(v, RUNS, sizeof(double), cmp_double);
	printf("| %s | %.0f %s | %.0f..%.0f |\n", name, v[RUNS / 2], unit, v[0],
	       v[RUNS - 1]);
}

int
main(int argc, char **argv)
{
	double b2[RUNS], b8[RUNS], fk[RUNS], vf[RUNS], ps[RUNS], ratio[RUNS];
	double lat[4][RUNS];
	long rss_mb = 0;
	bool ratio_only = false;
	struct event_config *cfg;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0)
			spawns = 100;
		else if (strcmp(argv[i], "--rss") == 0 && i + 1 < argc)
			rss_mb = atol(argv[++i]);
		else if (strcmp(argv[i], "--ratio") == 0 && i + 1 < argc &&
			 atoi(argv[i + 1]) > 0) {
			ratio_only = true;
			spawns = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: bench_exec [--quick] "
					"[--rss MB] [--ratio N]\n");
			return 2;
		}
	}
	/* As evd does: the spawner is forked before the memory grows. */
	if (spawner_start() < 0) {
		fprintf(stderr, "bench_exec: cannot start the spawner\n");
		return 1;
	}
	if (rss_mb > 0) {
		char *p = malloc((size_t)rss_mb << 20);

		if (p == NULL)
			return 1;
		memset(p, 1, (size_t)rss_mb << 20);
	}
	cfg = event_config_new();
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base == NULL || exec_init(base, 2, (size_t)spawns) != 0) {
		fprintf(stderr, "bench_exec: cannot set up\n");
		return 1;
	}
	if (ratio_only) {
		for (int r = 0; r < RUNS; r++) {
			b2[r] = run_burst(2);
			ps[r] = run_posix_spawn2();
			ratio[r] = ps[r] > 0 ? 100.0 * b2[r] / ps[r] : 0;
		}
		exec_shutdown();
		event_base_free(base);
		printf("bench_exec: %d spawns of %s per figure, median of %d "
		       "runs\n\n| what | median | min..max |\n|---|---|---|\n",
		       spawns, TRUE_BIN, RUNS);
		row("exec_submit, max_running 2", b2, "spawns/s");
		row("bare posix_spawn, 2 in flight", ps, "spawns/s");
		row("exec_submit max_running 2 / bare posix_spawn 2 in flight",
		    ratio, "%");
		return 0;
	}
	for (int r = 0; r < RUNS; r++) {
		double l[4];

		b2[r] = run_burst(2);
		b8[r] = run_burst(8);
		run_serial(l);
		for (int k = 0; k < 4; k++)
			lat[k][r] = l[k];
		fk[r] = run_fork(false);
		vf[r] = run_fork(true);
		ps[r] = run_posix_spawn2();
		ratio[r] = ps[r] > 0 ? 100.0 * b2[r] / ps[r] : 0;
	}
	exec_shutdown();
	event_base_free(base);

	printf("bench_exec: %d spawns of %s per figure, median of %d runs, "
	       "parent RSS +%ld MB\n\n",
	       spawns, TRUE_BIN, RUNS, rss_mb);
	printf("| what | median | min..max |\n|---|---|---|\n");
	row("exec_submit, max_running 2", b2, "spawns/s");
	row("exec_submit, max_running 8", b8, "spawns/s");
	row("exec_submit one at a time: submit->started p50", lat[0], "µs");
	row("exec_submit one at a time: submit->started p99", lat[1], "µs");
	row("exec_submit one at a time: submit->done p50", lat[2], "µs");
	row("exec_submit one at a time: submit->done p99", lat[3], "µs");
	row("bare fork+execve+waitpid, 1 in flight", fk, "spawns/s");
	row("bare vfork+execve+waitpid, 1 in flight", vf, "spawns/s");
	row("bare posix_spawn, 2 in flight", ps, "spawns/s");
	row("exec_submit max_running 2 / bare posix_spawn 2 in flight", ratio,
	    "%");
	return 0;
}
