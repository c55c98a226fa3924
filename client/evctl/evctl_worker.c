/*
 * evctl_worker: `evctl watch CHANNEL -- CMD ARGS...`, a worker pool for
 * a channel. Each message runs CMD once, the payload on its standard
 * input and the fire's fields in its environment; exit status 0 acks
 * the message (with --reschedule-*, the trampoline), anything else
 * rejects it with a reason (how it ended and the tail of its stderr),
 * so the daemon redelivers it after a backoff or dead-letters it.
 *
 * Owns the children and their pipes; the connection is the ctl's. One
 * thread, one poll() loop over the connection, the children's stdin and
 * stderr pipes and a self-pipe that the signal handlers (SIGCHLD,
 * SIGTERM, SIGINT) write to: nothing else happens in a handler.
 *
 * Invariants: at most x->concurrency children run, and the subscription
 * asks the daemon for as many messages at once (max_inflight), so no
 * message waits here unstarted while its visibility timeout runs; a
 * message is acked or rejected only after its child was reaped; a
 * child is killed before its message's visibility timeout would hand
 * the message to someone else (then it is rejected, "timed out"). On
 * SIGTERM or SIGINT no new message is taken and the running children
 * finish; a second signal forwards SIGTERM to them. A child that a
 * signal ended while stopping, and every message not finished, is left
 * unacked: the daemon gives it back when the connection closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "evctl.h"

extern char **environ;

/* Bytes of a child's stderr kept for the reason (the daemon takes
 * 4096 in all). */
#define WORKER_TAIL 2048
/* Without --visibility: how long a child may run. */
#define WORKER_VISIBILITY_NS (3600LL * 1000000000)
#define WORKER_ENV_EXTRA 10

/* One message being handled. Owned by the pool's array. */
struct job {
	pid_t pid; /* 0: free slot */
	struct evc_fired ev;
	int in_fd;  /* the payload still to write, else -1 */
	size_t in_off;
	int err_fd; /* the child's stderr, -1 once closed */
	char tail[WORKER_TAIL];
	size_t tail_len; /* bytes in tail (the ring is full past it) */
	size_t tail_at;	 /* where the next byte goes */
	int64_t started_ns;
	int64_t term_at_ns, kill_at_ns; /* its visibility, less margins */
	bool termed, killed, timed_out;
	bool exited;
	int status;
	int spawn_err; /* could not start: errno */
};

static volatile sig_atomic_t worker_signals; /* SIGTERM/SIGINT seen */
static int worker_pipe[2] = {-1, -1};

static void
worker_signal_cb(int sig)
{
	int saved = errno;

	if (sig == SIGTERM || sig == SIGINT)
		worker_signals++;
	/* Full pipe: a wake-up is pending anyway. */
	(void)!write(worker_pipe[1], "x", 1);
	errno = saved;
}

static int
worker_signals_setup(void)
{
	struct sigaction sa;

	if (pipe2(worker_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = worker_signal_cb;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGCHLD, &sa, NULL) < 0 ||
	    sigaction(SIGTERM, &sa, NULL) < 0 ||
	    sigaction(SIGINT, &sa, NULL) < 0)
		return -errno;
	/* A child that exits without reading its payload: EPIPE, not
	 * death. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* Appends bytes to the job's stderr ring and passes them on to ours. */
static void
job_err_bytes(struct job *j, const char *p, size_t n)
{
	size_t i;

	(void)!fwrite(p, 1, n, stderr);
	for (i = 0; i < n; i++) {
		j->tail[j->tail_at] = p[i];
		j->tail_at = (j->tail_at + 1) % WORKER_TAIL;
		if (j->tail_len < WORKER_TAIL)
			j->tail_len++;
	}
}

/* Reads what the child's stderr holds now; closes it at EOF or, with
 * final, in any case (a grandchild may keep it open). */
static void
job_read_err(struct job *j, bool final)
{
	char buf[4096];
	ssize_t n;

	while (j->err_fd >= 0) {
		n = read(j->err_fd, buf, sizeof buf);
		if (n > 0) {
			job_err_bytes(j, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN && !final)
			return;
		close(j->err_fd);
		j->err_fd = -1;
	}
}

/* Writes what the child's stdin takes now of the payload. */
static void
job_write_in(struct job *j)
{
	ssize_t n;

	while (j->in_fd >= 0 && j->in_off < j->ev.payload_len) {
		n = write(j->in_fd, j->ev.payload + j->in_off,
			  j->ev.payload_len - j->in_off);
		if (n > 0) {
			j->in_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		break; /* EPIPE: it did not want it all */
	}
	if (j->in_fd >= 0) {
		close(j->in_fd);
		j->in_fd = -1;
	}
}

/*
 * Copies the valid UTF-8 of in[0..n) to out (size > 0), each invalid
 * byte, NUL or other control character but tab and newline as '?', so
 * the daemon takes it as a string. Stops before a character would not
 * fit. Returns the length written.
 */
static size_t
utf8_clean(const unsigned char *in, size_t n, char *out, size_t size)
{
	size_t i = 0, o = 0, k, len;
	uint32_t cp;

	while (i < n) {
		unsigned char c = in[i];

		if (c < 0x80) {
			len = 1;
			cp = c;
		} else if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			len = 0;
			cp = 0;
		}
		for (k = 1; len > 0 && k < len; k++) {
			if (i + k >= n || (in[i + k] & 0xc0) != 0x80) {
				len = 0;
				break;
			}
			cp = cp << 6 | (in[i + k] & 0x3f);
		}
		if (len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
			len = 0;
		if (len == 4 && (cp < 0x10000 || cp > 0x10ffff))
			len = 0;
		if (len == 0 || (len == 1 && ((c < 0x20 && c != '\t' &&
		                               c != '\n') || c == 0x7f))) {
			if (o + 1 >= size)
				break;
			out[o++] = '?';
			i++;
			continue;
		}
		if (o + len >= size)
			break;
		memcpy(out + o, in + i, len);
		o += len;
		i += len;
	}
	out[o] = '\0';
	return o;
}

/* Why a job failed, for the daemon: how it ended, then the tail of its
 * stderr (whitespace trimmed). */
static void
job_reason(const struct ctl *x, const struct job *j, char *out, size_t size)
{
	unsigned char raw[WORKER_TAIL];
	char d[TIMEFMT_DURATION_MAX], tail[WORKER_TAIL + 1];
	size_t n = j->tail_len, start, i, len;
	int w;

	if (j->spawn_err != 0)
		w = snprintf(out, size, "cannot run %s: %s",
			     x->args[x->exec_at], strerror(j->spawn_err));
	else if (j->timed_out)
		w = snprintf(out, size,
			     "timed out after %s (the visibility timeout) and "
			     "was killed",
			     dur(mono_now_ns() - j->started_ns, d, sizeof d));
	else if (WIFEXITED(j->status))
		w = snprintf(out, size, "exit status %d",
			     WEXITSTATUS(j->status));
	else
		w = snprintf(out, size, "killed by signal %d (%s)",
			     WTERMSIG(j->status), strsignal(WTERMSIG(j->status)));
	if (w < 0 || (size_t)w >= size || n == 0)
		return;
	/* The ring in order, oldest first. */
	start = n < WORKER_TAIL ? 0 : j->tail_at;
	for (i = 0; i < n; i++)
		raw[i] = (unsigned char)j->tail[(start + i) % WORKER_TAIL];
	/* A cut character at the front is not the child's fault. */
	i = 0;
	while (i < n && i < 3 && (raw[i] & 0xc0) == 0x80)
		i++;
	len = utf8_clean(raw + i, n - i, tail, sizeof tail);
	while (len > 0 && (tail[len - 1] == '\n' || tail[len - 1] == ' ' ||
	                   tail[len - 1] == '\t'))
		tail[--len] = '\0';
	i = 0;
	while (tail[i] == '\n' || tail[i] == ' ' || tail[i] == '\t')
		i++;
	if (tail[i] != '\0')
		snprintf(out + w, size - (size_t)w, ": %s", tail + i);
}

/* "NAME=value" into env[*n], allocated; false out of memory. */
static bool
env_put(char **env, size_t *n, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool
env_put(char **env, size_t *n, const char *name, const char *fmt, ...)
{
	char val[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof val, fmt, ap);
	va_end(ap);
	if (asprintf(&env[*n], "%s=%s", name, val) < 0) {
		env[*n] = NULL;
		return false;
	}
	(*n)++;
	return true;
}

static bool
is_evd_var(const char *e)
{
	static const char *const names[] = {
	    "EVD_CHANNEL=",	"EVD_FIRE_ID=",	    "EVD_TIMER_ID=",
	    "EVD_ATTEMPT=",	"EVD_DUE=",	    "EVD_DUE_NS=",
	    "EVD_FIRED_NS=",	"EVD_LATENESS_NS=", "EVD_SOCKET=",
	    "EVD_PAYLOAD_SIZE="};
	size_t i;

	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strncmp(e, names[i], strlen(names[i])) == 0)
			return true;
	return false;
}

/* Starts the job's child. Returns 0, or -errno with nothing running
 * (j->spawn_err says why when the program could not be run). */
static int
job_start(const struct ctl *x, const char *channel, struct job *j)
{
	char **env = NULL, t[TIMEFMT_TIME_MAX];
	int in[2] = {-1, -1}, err[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	size_t n = 0, i, ne = 0;
	sigset_t none, all;
	int64_t vis;
	bool fa_ok = false, at_ok = false;
	int r;

	j->started_ns = mono_now_ns();
	for (i = 0; environ[i] != NULL; i++)
		ne++;
	if ((env = calloc(ne + WORKER_ENV_EXTRA + 1, sizeof *env)) == NULL)
		return -ENOMEM;
	for (i = 0; i < ne; i++)
		if (!is_evd_var(environ[i]))
			env[n++] = environ[i];
	i = n; /* ours start here, the ones to free */
	if (!env_put(env, &n, "EVD_CHANNEL", "%s",
		     j->ev.channel != NULL ? j->ev.channel : channel) ||
	    !env_put(env, &n, "EVD_FIRE_ID", "%" PRIu64, j->ev.fire_id) ||
	    !env_put(env, &n, "EVD_TIMER_ID", "%" PRIu64, j->ev.timer_id) ||
	    !env_put(env, &n, "EVD_ATTEMPT", "%" PRIu32, j->ev.attempt) ||
	    !env_put(env, &n, "EVD_DUE", "%s",
		     iso(j->ev.due_realtime_ns, true, t, sizeof t)) ||
	    !env_put(env, &n, "EVD_DUE_NS", "%" PRId64,
		     j->ev.due_realtime_ns) ||
	    !env_put(env, &n, "EVD_FIRED_NS", "%" PRId64,
		     j->ev.fired_realtime_ns) ||
	    !env_put(env, &n, "EVD_LATENESS_NS", "%" PRId64,
		     j->ev.lateness_ns) ||
	    !env_put(env, &n, "EVD_PAYLOAD_SIZE", "%zu", j->ev.payload_len) ||
	    !env_put(env, &n, "EVD_SOCKET", "%s", x->path)) {
		r = -ENOMEM;
		goto out;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	if ((r = posix_spawn_file_actions_init(&fa)) != 0) {
		r = -r;
		goto out;
	}
	fa_ok = true;
	if ((r = posix_spawnattr_init(&at)) != 0) {
		r = -r;
		goto out;
	}
	at_ok = true;
	/* dup2 clears close-on-exec on the copy only. */
	sigemptyset(&none);
	sigfillset(&all);
	if ((r = posix_spawn_file_actions_adddup2(&fa, in[0], 0)) != 0 ||
	    (r = posix_spawn_file_actions_adddup2(&fa, err[1], 2)) != 0 ||
	    (r = posix_spawnattr_setsigmask(&at, &none)) != 0 ||
	    (r = posix_spawnattr_setsigdefault(&at, &all)) != 0 ||
	    (r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
						   POSIX_SPAWN_SETSIGDEF)) != 0) {
		r = -r;
		goto out;
	}
	r = posix_spawnp(&j->pid, x->args[x->exec_at], &fa, &at,
			 &x->args[x->exec_at], env);
	if (r != 0) {
		j->pid = 0;
		j->spawn_err = r;
		r = -r;
		goto out;
	}
	vis = (x->opts_seen & OPT_VISIBILITY) ? x->visibility_ns
					       : WORKER_VISIBILITY_NS;
	/* Ended (and rejected) before the daemon's deadline: a tenth
	 * early, at most 2 s; SIGTERM half of that before. */
	j->kill_at_ns = j->started_ns + vis - (vis / 10 < 2000000000LL
						       ? vis / 10
						       : 2000000000LL);
	j->term_at_ns = j->kill_at_ns - (j->kill_at_ns - j->started_ns) / 20;
	j->in_fd = in[1];
	in[1] = -1;
	j->err_fd = err[0];
	err[0] = -1;
	(void)fcntl(j->in_fd, F_SETFL, O_NONBLOCK);
	(void)fcntl(j->err_fd, F_SETFL, O_NONBLOCK);
	if (j->ev.payload == NULL || j->ev.payload_len == 0) {
		close(j->in_fd);
		j->in_fd = -1;
	}
	r = 0;
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (at_ok)
		posix_spawnattr_destroy(&at);
	for (int k = 0; k < 2; k++) {
		if (in[k] >= 0)
			close(in[k]);
		if (err[k] >= 0)
			close(err[k]);
	}
	if (env != NULL) {
		for (; i < n; i++)
			free(env[i]);
		free(env);
	}
	return r;
}

/* Reaps every child that ended. */
static void
pool_reap(struct job *jobs, unsigned n)
{
	unsigned i;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (i = 0; i < n; i++)
			if (jobs[i].pid == pid && !jobs[i].exited) {
				jobs[i].exited = true;
				jobs[i].status = status;
				job_read_err(&jobs[i], true);
				if (jobs[i].in_fd >= 0) {
					close(jobs[i].in_fd);
					jobs[i].in_fd = -1;
				}
			}
}

/* How one message ended, for people (stderr) or scripts (--json). */
static void
report(const struct ctl *x, const struct job *j, const char *result,
       const char *reason)
{
	char d[TIMEFMT_DURATION_MAX];
	struct jw w;

	if (x->json) {
		jw_begin(&w);
		jw_u64(&w, "timer_id", j->ev.timer_id);
		jw_u64(&w, "fire_id", j->ev.fire_id);
		jw_u64(&w, "attempt", j->ev.attempt);
		jw_str(&w, "result", result);
		if (j->exited && WIFEXITED(j->status))
			jw_i64(&w, "exit_code", WEXITSTATUS(j->status));
		else
			jw_str(&w, "exit_code", NULL);
		if (j->exited && WIFSIGNALED(j->status))
			jw_i64(&w, "signal", WTERMSIG(j->status));
		else
			jw_str(&w, "signal", NULL);
		jw_i64(&w, "duration_ns", mono_now_ns() - j->started_ns);
		jw_str(&w, "reason", reason);
		jw_end(&w);
		(void)fflush(stdout);
		return;
	}
	fprintf(stderr,
		"evctl: fire %" PRIu64 " of timer %" PRIu64 " (attempt %" PRIu32
		"): %s after %s%s%s\n",
		j->ev.fire_id, j->ev.timer_id, j->ev.attempt, result,
		dur(mono_now_ns() - j->started_ns, d, sizeof d),
		reason != NULL ? ": " : "", reason != NULL ? reason : "");
}

/*
 * Acks or rejects a finished job (or leaves it, when stopping ended it
 * by a signal) and frees its slot. Returns 0, or an exit status when
 * the connection is gone.
 */
static int
job_finish(struct ctl *x, const char *channel, struct job *j, bool stopping)
{
	char reason[4096], what[64];
	struct evc_rejected rj;
	int r = 0;

	if (stopping && j->spawn_err == 0 && !j->timed_out &&
	    WIFSIGNALED(j->status)) {
		/* Interrupted, not failed: the daemon gives it back. */
		report(x, j, "left unacked (interrupted)", NULL);
	} else if (j->spawn_err == 0 && !j->timed_out &&
		   WIFEXITED(j->status) && WEXITSTATUS(j->status) == 0) {
		r = watch_ack(x, &j->ev);
		if (r == 0) {
			report(x, j, "acked", NULL);
		} else if (r < 0) {
			snprintf(what, sizeof what, "ack of fire %" PRIu64,
				 j->ev.fire_id);
			r = lib_failure(x, r, what);
			if (r == EXIT_REFUSED)
				r = 0; /* gone meanwhile: redelivered */
		}
	} else {
		job_reason(x, j, reason, sizeof reason);
		r = evc_reject(x->c, channel, j->ev.fire_id, reason, false,
			       x->request_ms, &rj);
		if (r == 0) {
			report(x, j, rj.dead ? "rejected, dead-lettered"
					     : "rejected",
			       reason);
		} else {
			snprintf(what, sizeof what, "reject of fire %" PRIu64,
				 j->ev.fire_id);
			r = lib_failure(x, r, what);
			if (r == EXIT_REFUSED)
				r = 0;
		}
	}
	evc_fired_free(&j->ev);
	if (j->err_fd >= 0)
		close(j->err_fd);
	if (j->in_fd >= 0)
		close(j->in_fd);
	memset(j, 0, sizeof *j);
	j->in_fd = j->err_fd = -1;
	return r > 0 ? r : 0;
}

int
watch_worker(struct ctl *x, const char *channel)
{
	int64_t deadline_ns = mono_now_ns() + x->timeout_ns, now, vis;
	unsigned n = x->concurrency != 0 ? x->concurrency : 1;
	unsigned i, running = 0;
	struct pollfd *pfd = NULL;
	struct job *jobs = NULL;
	bool stopping = false, timed_out = false, forwarded = false;
	char d[TIMEFMT_DURATION_MAX], buf[64];
	uint64_t taken = 0, done = 0;
	int r, rc = 0, timeout_ms, np;

	vis = (x->opts_seen & OPT_VISIBILITY) ? x->visibility_ns
					       : WORKER_VISIBILITY_NS;
	jobs = calloc(n, sizeof *jobs);
	pfd = calloc(2 * (size_t)n + 2, sizeof *pfd);
	if (jobs == NULL || pfd == NULL) {
		ctl_warnx("out of memory");
		rc = EXIT_UNREACHABLE;
		goto out;
	}
	for (i = 0; i < n; i++)
		jobs[i].in_fd = jobs[i].err_fd = -1;
	if ((r = worker_signals_setup()) < 0) {
		ctl_warnx("watch: %s", strerror(-r));
		rc = EXIT_UNREACHABLE;
		goto out;
	}
	/* As many at once as run at once: the daemon keeps the rest. */
	r = evc_subscribe_limit(x->c, channel, vis, n, x->request_ms);
	if (r < 0) {
		rc = lib_failure(x, r, "watch");
		goto out;
	}
	for (;;) {
		if (worker_signals > 0 && !stopping)
			stopping = true;
		if (worker_signals > 1 && !forwarded) {
			forwarded = true;
			for (i = 0; i < n; i++)
				if (jobs[i].pid > 0 && !jobs[i].exited)
					kill(jobs[i].pid, SIGTERM);
		}
		if (x->count > 0 && taken >= x->count)
			stopping = true;
		if (x->has_timeout && !stopping &&
		    mono_now_ns() >= deadline_ns) {
			stopping = timed_out = true;
		}
		pool_reap(jobs, n);
		/* Finished ones first: their slots take the next ones. */
		for (i = 0; i < n; i++) {
			struct job *j = &jobs[i];

			if (j->pid == 0 || !j->exited)
				continue;
			r = job_finish(x, channel, j, stopping);
			running--;
			done++;
			if (r != 0) {
				rc = r;
				stopping = true;
			}
		}
		if (stopping && running == 0)
			break;
		/* Messages into free slots. */
		while (!stopping && running < n &&
		       (x->count == 0 || taken < x->count)) {
			struct job *j = NULL;

			for (i = 0; i < n && j == NULL; i++)
				if (jobs[i].pid == 0)
					j = &jobs[i];
			r = evc_next_event(x->c, 0, &j->ev);
			if (r == -EVC_E_TIMEOUT)
				break;
			if (r < 0) {
				rc = lost_connection(x);
				stopping = true;
				break;
			}
			taken++;
			if (job_start(x, channel, j) < 0) {
				j->exited = true; /* finished at once */
				j->pid = -1;
				if (j->spawn_err == 0)
					j->spawn_err = ENOMEM;
				r = job_finish(x, channel, j, false);
				done++;
				if (r != 0) {
					rc = r;
					stopping = true;
				}
				continue;
			}
			running++;
		}
		if (stopping && running == 0)
			break;
		/* What to wait for. */
		np = 0;
		pfd[np].fd = worker_pipe[0];
		pfd[np++].events = POLLIN;
		pfd[np].fd = stopping || running >= n ? -1 : evc_fd(x->c);
		pfd[np++].events = POLLIN;
		now = mono_now_ns();
		timeout_ms = -1;
		if (x->has_timeout && !stopping)
			timeout_ms = ms_until(true, deadline_ns);
		for (i = 0; i < n; i++) {
			struct job *j = &jobs[i];
			int64_t at;

			pfd[np].fd = j->pid > 0 ? j->in_fd : -1;
			pfd[np++].events = POLLOUT;
			pfd[np].fd = j->pid > 0 ? j->err_fd : -1;
			pfd[np++].events = POLLIN;
			if (j->pid <= 0 || j->exited)
				continue;
			if (!j->termed && now >= j->term_at_ns) {
				j->termed = j->timed_out = true;
				kill(j->pid, SIGTERM);
			}
			if (!j->killed && now >= j->kill_at_ns) {
				j->killed = true;
				kill(j->pid, SIGKILL);
			}
			at = !j->termed ? j->term_at_ns
					: !j->killed ? j->kill_at_ns : 0;
			if (at > 0) {
				int ms = ms_until(true, at);

				if (timeout_ms < 0 || ms < timeout_ms)
					timeout_ms = ms;
			}
		}
		if (poll(pfd, (nfds_t)np, timeout_ms) < 0 && errno != EINTR) {
			ctl_warnx("watch: poll: %s", strerror(errno));
			rc = EXIT_UNREACHABLE;
			break;
		}
		if (pfd[0].revents != 0)
			while (read(worker_pipe[0], buf, sizeof buf) > 0)
				;
		for (i = 0; i < n; i++) {
			if (pfd[2 + 2 * i].revents != 0)
				job_write_in(&jobs[i]);
			if (pfd[3 + 2 * i].revents != 0)
				job_read_err(&jobs[i], false);
		}
	}
	if (rc == 0 && timed_out && x->count > 0 && done < x->count) {
		ctl_warnx("timed out after %s handling messages of %s (%" PRIu64
			  " of %" PRIu64 " done)",
			  dur(x->timeout_ns, d, sizeof d), channel, done,
			  x->count);
		rc = EXIT_REFUSED;
	}
out:
	if (jobs != NULL)
		for (i = 0; i < n; i++) {
			/* Only after a lost connection: their messages go
			 * back with it. */
			if (jobs[i].pid > 0 && !jobs[i].exited) {
				kill(jobs[i].pid, SIGTERM);
				waitpid(jobs[i].pid, NULL, 0);
			}
			evc_fired_free(&jobs[i].ev);
			if (jobs[i].in_fd >= 0)
				close(jobs[i].in_fd);
			if (jobs[i].err_fd >= 0)
				close(jobs[i].err_fd);
		}
	free(jobs);
	free(pfd);
	return rc != 0 ? rc : check_stdout();
}
