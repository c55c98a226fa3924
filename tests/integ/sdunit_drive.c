/*
 * sdunit_drive: runs hooks through the systemd exec backend
 * (exec_backend_systemd) without the runner, and prints its reports, so
 * that the backend can be exercised against a real service manager
 * (tests/container/sdunit-checks.sh runs it inside a systemd container).
 *
 *   sdunit_drive [-u UID] [-U USER] [-d CWD] [-t TIMEOUT_MS] [-p K=V]...
 *                [-e K=V]... [-i STDIN] [-k MS:SIG] [-T TIMER] [-F FIRE]
 *                [-n COUNT] -- PROG ARG...
 *
 * Prints one line per report ("started pid=N unit=U", "failed err=E
 * why=...", "exited signaled=B code=N timed_out=B") and each output line
 * ("stdout: ...", "stderr: ..."). With -n COUNT it starts COUNT runs at
 * once, prints nothing per run and ends with "runs=N ok=N seconds=S".
 * -k MS:SIG sends SIG through ->kill MS after the start report, and
 * again as SIGKILL 5 s later, like the runner's timeout; -K SIG sends SIG
 * right after ->start, before the run started.
 * Exits 0 once every run reported its end, 77 when the backend cannot
 * start here (no service manager), 2 on usage errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "exec_backend.h"
#include "log.h"

#define RUNS_MAX 10000

struct drun {
	uint64_t job_id;
	int out_fd[2]; /* parent ends of stdout, stderr; -1 at EOF */
	struct event *ev[2];
	bool ended;
	char line[2][4096];
	size_t line_len[2];
};

static struct event_base *base;
static struct drun *runs;
static size_t nruns, nended, nok;
static bool quiet;
static int kill_ms = -1, kill_sig, kill_now;
static const struct exec_backend *be = &exec_backend_systemd;

static struct drun *
drun_get(uint64_t job_id)
{
	return job_id >= 1 && job_id <= nruns ? &runs[job_id - 1] : NULL;
}

static void
drun_maybe_done(void)
{
	if (nended < nruns)
		return;
	for (size_t i = 0; i < nruns; i++)
		if (runs[i].out_fd[0] >= 0 || runs[i].out_fd[1] >= 0)
			return;
	event_base_loopexit(base, NULL);
}

static void
kill_send(uint64_t job_id, int sig)
{
	int r = be->kill(job_id, sig);

	if (!quiet)
		printf("kill job=%" PRIu64 " sig=%d -> %d\n", job_id, sig, r);
	fflush(stdout);
}

static void
kill_cb(evutil_socket_t fd, short what, void *arg)
{
	kill_send((uint64_t)(uintptr_t)arg, kill_sig);
}

static void
kill9_cb(evutil_socket_t fd, short what, void *arg)
{
	kill_send((uint64_t)(uintptr_t)arg, SIGKILL);
}

void
exec_backend_failed(uint64_t job_id, int err, const char *why)
{
	struct drun *d = drun_get(job_id);

	if (d == NULL || d->ended) {
		printf("BUG: failed for job %" PRIu64 " twice or unknown\n",
		       job_id);
		exit(3);
	}
	d->ended = true;
	nended++;
	printf("failed job=%" PRIu64 " err=%d why=%s\n", job_id, err, why);
	fflush(stdout);
	drun_maybe_done();
}

void
exec_backend_started(uint64_t job_id, pid_t pid, const char *unit)
{
	struct drun *d = drun_get(job_id);

	if (d == NULL || d->ended) {
		printf("BUG: started for job %" PRIu64 " after its end\n",
		       job_id);
		exit(3);
	}
	if (!quiet)
		printf("started job=%" PRIu64 " pid=%d unit=%s\n", job_id,
		       (int)pid, unit != NULL ? unit : "-");
	fflush(stdout);
	if (kill_ms >= 0) {
		struct timeval tv = {kill_ms / 1000, (kill_ms % 1000) * 1000};
		struct timeval tv2 = {kill_ms / 1000 + 5,
				      (kill_ms % 1000) * 1000};
		void *arg = (void *)(uintptr_t)job_id;

		event_base_once(base, -1, EV_TIMEOUT, kill_cb, arg, &tv);
		event_base_once(base, -1, EV_TIMEOUT, kill9_cb, arg, &tv2);
	}
}

void
exec_backend_exited(uint64_t job_id, bool signaled, int code, bool timed_out)
{
	struct drun *d = drun_get(job_id);

	if (d == NULL || d->ended) {
		printf("BUG: exited for job %" PRIu64 " twice or unknown\n",
		       job_id);
		exit(3);
	}
	d->ended = true;
	nended++;
	if (!signaled && code == 0)
		nok++;
	if (!quiet || signaled || code != 0)
		printf("exited job=%" PRIu64 " signaled=%d code=%d "
		       "timed_out=%d\n",
		       job_id, signaled, code, timed_out);
	fflush(stdout);
	drun_maybe_done();
}

static void
out_cb(evutil_socket_t fd, short what, void *arg)
{
	struct drun *d = arg;
	int i = fd == d->out_fd[0] ? 0 : 1;
	char buf[16384];
	ssize_t n = read(fd, buf, sizeof buf);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		if (be->output != NULL)
			be->output(d->job_id, i + 1, NULL, 0);
		if (!quiet && d->line_len[i] > 0)
			printf("%s: %.*s\n", i == 0 ? "stdout" : "stderr",
			       (int)d->line_len[i], d->line[i]);
		event_free(d->ev[i]);
		d->ev[i] = NULL;
		close(fd);
		d->out_fd[i] = -1;
		drun_maybe_done();
		return;
	}
	if (be->output != NULL)
		be->output(d->job_id, i + 1, buf, (size_t)n);
	if (quiet)
		return;
	for (ssize_t k = 0; k < n; k++) {
		if (buf[k] == '\n' || d->line_len[i] == sizeof d->line[i]) {
			printf("%s: %.*s\n", i == 0 ? "stdout" : "stderr",
			       (int)d->line_len[i], d->line[i]);
			d->line_len[i] = 0;
			if (buf[k] == '\n')
				continue;
		}
		d->line[i][d->line_len[i]++] = buf[k];
	}
	fflush(stdout);
}

static int
pipe_pair(int p[2])
{
	return pipe2(p, O_CLOEXEC);
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: sdunit_drive [-u UID] [-U USER] [-d CWD] [-t MS] "
		"[-p K=V]... [-e K=V]... [-i STDIN] [-k MS:SIG] [-K SIG] [-T "
		"TIMER] "
		"[-F FIRE] [-n COUNT] -- PROG ARG...\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *props[64], *user = NULL, *cwd = NULL, *in = "";
	char *envp[64];
	size_t nprops = 0, nenv = 0, count = 1;
	uid_t uid = getuid();
	int64_t timeout_ns = 0;
	uint64_t timer_id = 1, fire_id = 1;
	struct timespec t0, t1;
	int c, r;

	while ((c = getopt(argc, argv, "vu:U:d:t:p:e:i:k:K:T:F:n:")) != -1) {
		switch (c) {
		case 'v':
			log_set_level(LOG_LEVEL_DEBUG);
			break;
		case 'u':
			uid = (uid_t)strtoul(optarg, NULL, 10);
			break;
		case 'U':
			user = optarg;
			break;
		case 'd':
			cwd = optarg;
			break;
		case 't':
			timeout_ns = strtoll(optarg, NULL, 10) * 1000000;
			break;
		case 'p':
			if (nprops == 64)
				usage();
			props[nprops++] = optarg;
			break;
		case 'e':
			if (nenv == 63)
				usage();
			envp[nenv++] = optarg;
			break;
		case 'i':
			in = optarg;
			break;
		case 'k':
			if (sscanf(optarg, "%d:%d", &kill_ms, &kill_sig) != 2)
				usage();
			break;
		case 'K':
			kill_now = atoi(optarg);
			break;
		case 'T':
			timer_id = strtoull(optarg, NULL, 10);
			break;
		case 'F':
			fire_id = strtoull(optarg, NULL, 10);
			break;
		case 'n':
			count = strtoul(optarg, NULL, 10);
			if (count < 1 || count > RUNS_MAX)
				usage();
			quiet = count > 1;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	envp[nenv] = NULL;
	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL)
		return 1;
	if ((r = be->init(base)) < 0) {
		printf("SKIP: the systemd backend cannot start here: %s\n",
		       strerror(-r));
		return 77;
	}
	if ((runs = calloc(count, sizeof *runs)) == NULL)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t i = 0; i < count; i++) {
		struct drun *d = &runs[i];
		int pin[2], pout[2], perr[2];
		struct exec_launch l = {
		    .job_id = i + 1,
		    .timer_id = timer_id,
		    .fire_id = fire_id,
		    .uid = uid,
		    .gid = getgid(),
		    .user = user,
		    .set_ids = geteuid() == 0,
		    .prog = argv[optind],
		    .argv = &argv[optind],
		    .envp = envp,
		    .cwd = cwd,
		    .timeout_ns = timeout_ns,
		    .props = props,
		    .nprops = nprops,
		};

		if (pipe_pair(pin) < 0 || pipe_pair(pout) < 0 ||
		    pipe_pair(perr) < 0) {
			perror("pipe");
			return 1;
		}
		l.stdin_fd = pin[0];
		l.stdout_fd = pout[1];
		l.stderr_fd = perr[1];
		d->job_id = l.job_id;
		nruns = i + 1;
		if ((r = be->start(&l)) < 0) {
			printf("start job=%zu: %s\n", i + 1, strerror(-r));
			return 1;
		}
		if (kill_now != 0)
			printf("kill job=%zu sig=%d before it started -> %d\n",
			       i + 1, kill_now, be->kill(i + 1, kill_now));
		close(pin[0]);
		close(pout[1]);
		close(perr[1]);
		/* The payload is small: one write, then EOF. */
		if (*in != '\0' && write(pin[1], in, strlen(in)) < 0)
			perror("write stdin");
		close(pin[1]);
		d->out_fd[0] = pout[0];
		d->out_fd[1] = perr[0];
		for (int k = 0; k < 2; k++) {
			fcntl(d->out_fd[k], F_SETFL, O_NONBLOCK);
			d->ev[k] = event_new(base, d->out_fd[k],
					     EV_READ | EV_PERSIST, out_cb, d);
			event_add(d->ev[k], NULL);
		}
	}
	event_base_dispatch(base);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (quiet)
		printf("runs=%zu ok=%zu seconds=%.3f\n", nruns, nok,
		       (double)(t1.tv_sec - t0.tv_sec) +
			   (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	be->shutdown();
	event_base_free(base);
	return 0;
}
