/*
 * exec: the exec-hook runner (semantics in exec.h).
 *
 * Owns every job from exec_submit to its callback: the queue (FIFO,
 * bounded), the running list, their pipes, pidfds, events and children.
 * It must not block the loop (every parent-side fd is non-blocking; the
 * only blocking waits are for a child that has already exited or was
 * just SIGKILLed), must not leak a zombie, and must never let a hook run
 * with more privilege than its owner.
 *
 * Spawning is vfork(): the parent's memory is shared, so the cost does
 * not grow with evd's RSS the way fork() does (see DESIGN.md), and the
 * parent is suspended until the child execs or exits. Hence the child
 * runs only async-signal-safe calls on data prepared by the parent:
 * everything that may allocate or take a lock (NSS lookups, envp,
 * candidate paths) is computed before vfork. Signals are blocked across
 * vfork so that no handler of evd (libevent's signal pipe) ever runs in
 * the child; the child resets every disposition to default, then
 * unblocks. Identity changes go through raw syscalls: glibc's setuid()
 * and friends broadcast to all threads of a multithreaded process
 * (SIGSETXID), which in a vfork child would target evd's threads.
 * The child reports a failing step and its errno through a CLOEXEC pipe
 * (EOF there means execve succeeded), then _exit(127)s.
 *
 * Invariants: a job is in exactly one of the queue or the running list,
 * or is being delivered (in neither). A running job holds a slot until its
 * callback has returned; a queued job starts only from pump_cb, never from
 * exec_submit or a callback, so callbacks never nest.
 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "exec_backend.h"
#include "log.h"

#define EXEC_ARGC_MAX 4096
#define EXEC_NENV_MAX 1024
/* Reads per output event before yielding to the loop. */
#define EXEC_READS_PER_CB 4
#define EXEC_NOFILE_CHILD 1024

static const char *const exec_path_dirs[] = {"/usr/local/bin", "/usr/bin",
					     "/bin"};
#define EXEC_NPATH (sizeof(exec_path_dirs) / sizeof(exec_path_dirs[0]))

/* Last EXEC_TAIL_MAX bytes of one output stream. buf stays NULL until the
 * first byte: most hooks print nothing. */
struct exec_tail {
	char *buf;
	size_t pos; /* next write; == len until it first wraps */
	size_t len;
};

enum exec_timer_phase { PHASE_NONE, PHASE_TERM, PHASE_KILL, PHASE_DRAIN };

/* Owner: the runner, from exec_submit until its callback returns. */
struct exec_job {
	TAILQ_ENTRY(exec_job) entry;
	/* the spec, copied */
	uid_t uid;
	gid_t gid;
	char **argv; /* NULL-terminated */
	char *prog;  /* argv[0] as given, or "/bin/sh" */
	char **env;  /* nenv entries, validated */
	size_t nenv;
	char *cwd;
	int64_t timeout_ns;
	uint8_t *in;
	size_t in_len;
	size_t in_off;
	uint64_t timer_id;
	uint64_t fire_id;
	int64_t due_ns;
	int64_t lateness_ns;
	exec_done_cb cb;
	void *cb_arg;
	int64_t submit_ns;
	bool cancelled; /* exec_terminate before it started */
	/* running */
	pid_t pid;
	int pidfd;
	int in_fd;
	int out_fd;
	int err_fd;
	struct event *ev_pid;
	struct event *ev_in;
	struct event *ev_out;
	struct event *ev_err;
	struct event *ev_timer;
	enum exec_timer_phase phase;
	int64_t phase_end_ns; /* libevent may fire a little early */
	bool reaped;
	bool timed_out;
	int status;	    /* from waitpid */
	int64_t start_ns;   /* before vfork */
	int64_t spawned_ns; /* after: execve done */
	int64_t end_ns;
	struct exec_tail out;
	struct exec_tail err;
};

TAILQ_HEAD(exec_jobq, exec_job);

/* What the vfork child needs, prepared by the parent on its stack. */
struct exec_child_ctx {
	char *const *argv;
	char *const *envp;
	char *paths[EXEC_NPATH]; /* candidates, in order */
	size_t npaths;
	const char *cwd;  /* required, or NULL */
	const char *home; /* tried when cwd is NULL, else / */
	const gid_t *groups;
	size_t ngroups;
	uid_t uid;
	gid_t gid;
	bool set_ids;
	int in_fd; /* child ends */
	int out_fd;
	int err_fd;
	int report_fd;
	struct rlimit core;
	struct rlimit nofile;
};

enum exec_step {
	STEP_SETSID = 1,
	STEP_DUP2,
	STEP_RLIMIT,
	STEP_SETGROUPS,
	STEP_SETGID,
	STEP_SETUID,
	STEP_CHDIR,
	STEP_EXECVE,
};

struct exec_report {
	int32_t step;
	int32_t err;
};

static struct {
	struct event_base *base;
	struct event *pump;
	struct exec_jobq queue;
	struct exec_jobq running;
	size_t nqueued;
	size_t nrunning;
	unsigned max_running;
	unsigned max_per_uid; /* 0: no per-owner bound; root is exempt */
	size_t max_queued;
	int64_t grace_ns;
	int devnull_fd;
	struct rlimit core;
	struct rlimit nofile;
	bool stopping;
} E = {.devnull_fd = -1};

static void exec_pump_cb(evutil_socket_t fd, short what, void *arg);
static void exec_pump_later(void);
static void exec_finish(struct exec_job *j);

static int64_t
exec_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timeval
exec_tv(int64_t ns)
{
	struct timeval tv = {.tv_sec = ns / 1000000000,
			     .tv_usec = (ns % 1000000000 + 999) / 1000};

	if (tv.tv_usec >= 1000000) {
		tv.tv_sec++;
		tv.tv_usec -= 1000000;
	}
	return tv;
}

static void
exec_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void
exec_event_free(struct event **ev)
{
	if (*ev != NULL)
		event_free(*ev);
	*ev = NULL;
}

static void
exec_strv_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
exec_job_free(struct exec_job *j)
{
	size_t argc = 0;

	if (j == NULL)
		return;
	exec_event_free(&j->ev_pid);
	exec_event_free(&j->ev_in);
	exec_event_free(&j->ev_out);
	exec_event_free(&j->ev_err);
	exec_event_free(&j->ev_timer);
	exec_close(&j->pidfd);
	exec_close(&j->in_fd);
	exec_close(&j->out_fd);
	exec_close(&j->err_fd);
	if (j->argv != NULL)
		while (j->argv[argc] != NULL)
			argc++;
	exec_strv_free(j->argv, argc);
	free(j->prog);
	exec_strv_free(j->env, j->nenv);
	free(j->cwd);
	free(j->in);
	free(j->out.buf);
	free(j->err.buf);
	free(j);
}

/* ---- the child (after vfork: async-signal-safe calls only) ---- */

static void __attribute__((noreturn))
exec_child_fail(const struct exec_child_ctx *c, int step, int err)
{
	struct exec_report rep = {.step = step, .err = err};
	ssize_t n;

	do
		n = write(c->report_fd, &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	_exit(127);
}

static void __attribute__((noreturn, noinline))
exec_child(const struct exec_child_ctx *c)
{
	struct sigaction dfl;
	sigset_t none;
	int err = ENOENT;
	bool eacces = false;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &dfl, NULL); /* EINVAL: libc's */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	if (setsid() < 0)
		exec_child_fail(c, STEP_SETSID, errno);
	/* All sources are >= 3 (exec_init keeps 0-2 open), so no dup2 is a
	 * no-op that would leave CLOEXEC set, and none clobbers another. */
	if (dup2(c->in_fd, 0) < 0 || dup2(c->out_fd, 1) < 0 ||
	    dup2(c->err_fd, 2) < 0)
		exec_child_fail(c, STEP_DUP2, errno);
	/* Defence in depth: every fd of evd is CLOEXEC already. Marking
	 * rather than closing keeps report_fd open until execve. */
	(void)syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	if (setrlimit(RLIMIT_CORE, &c->core) < 0 ||
	    setrlimit(RLIMIT_NOFILE, &c->nofile) < 0)
		exec_child_fail(c, STEP_RLIMIT, errno);
	umask(022);
	if (c->set_ids) {
		if (syscall(SYS_setgroups, c->ngroups, c->groups) < 0)
			exec_child_fail(c, STEP_SETGROUPS, errno);
		if (syscall(SYS_setresgid, c->gid, c->gid, c->gid) < 0)
			exec_child_fail(c, STEP_SETGID, errno);
		if (syscall(SYS_setresuid, c->uid, c->uid, c->uid) < 0)
			exec_child_fail(c, STEP_SETUID, errno);
		/* Never run a hook with privileges it was not given. */
		if ((uid_t)syscall(SYS_geteuid) != c->uid ||
		    (gid_t)syscall(SYS_getegid) != c->gid)
			exec_child_fail(c, STEP_SETUID, EPERM);
	}
	if (c->cwd != NULL) {
		if (chdir(c->cwd) < 0)
			exec_child_fail(c, STEP_CHDIR, errno);
	} else if (c->home == NULL || chdir(c->home) < 0) {
		if (chdir("/") < 0)
			exec_child_fail(c, STEP_CHDIR, errno);
	}
	for (size_t i = 0; i < c->npaths; i++) {
		execve(c->paths[i], c->argv, c->envp);
		err = errno;
		if (err == EACCES)
			eacces = true;
		else if (err != ENOENT && err != ENOTDIR)
			break;
	}
	if (eacces && (err == ENOENT || err == ENOTDIR))
		err = EACCES;
	exec_child_fail(c, STEP_EXECVE, err);
}

/* Kept apart so that no local of the caller lives across vfork. */
static pid_t __attribute__((noinline))
exec_vfork(const struct exec_child_ctx *c)
{
	pid_t pid = vfork();

	if (pid == 0)
		exec_child(c);
	return pid;
}

/* ---- delivery ---- */

static void
exec_reverse(char *p, size_t n)
{
	for (size_t i = 0; i < n / 2; i++) {
		char t = p[i];

		p[i] = p[n - 1 - i];
		p[n - 1 - i] = t;
	}
}

/* Makes the tail contiguous in place (rotation by three reversals). */
static void
exec_tail_linearize(struct exec_tail *t)
{
	if (t->buf == NULL || t->len < EXEC_TAIL_MAX || t->pos == 0)
		return;
	exec_reverse(t->buf, t->pos);
	exec_reverse(t->buf + t->pos, EXEC_TAIL_MAX - t->pos);
	exec_reverse(t->buf, EXEC_TAIL_MAX);
	t->pos = 0;
}

static void
exec_deliver(struct exec_job *j, struct exec_result *r)
{
	j->cb(r, j->cb_arg);
	exec_job_free(j);
	if (!E.stopping && E.nqueued > 0 && E.nrunning < E.max_running)
		exec_pump_later();
}

static void __attribute__((format(printf, 3, 4)))
exec_fail(struct exec_job *j, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	struct exec_result r = {.outcome = EXEC_FAILED,
				.code = -err,
				.errmsg = msg,
				.submitted_ns = j->submit_ns};

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_debug("exec: timer %" PRIu64 ": %s", j->timer_id, msg);
	exec_deliver(j, &r);
}

/* The process is reaped and its outputs closed (or given up on). */
static void
exec_finish(struct exec_job *j)
{
	struct exec_result r = {.pid = j->pid};
	int st = j->status;

	TAILQ_REMOVE(&E.running, j, entry);
	E.nrunning--;
	exec_event_free(&j->ev_timer);
	exec_event_free(&j->ev_in);
	exec_event_free(&j->ev_out);
	exec_event_free(&j->ev_err);
	exec_close(&j->in_fd);
	exec_close(&j->out_fd);
	exec_close(&j->err_fd);
	exec_tail_linearize(&j->out);
	exec_tail_linearize(&j->err);
	if (WIFSIGNALED(st)) {
		r.outcome = EXEC_SIGNALED;
		r.code = WTERMSIG(st);
	} else {
		r.outcome = EXEC_EXITED;
		r.code = WEXITSTATUS(st);
	}
	if (j->timed_out)
		r.outcome = EXEC_TIMED_OUT;
	r.duration_ns = j->end_ns - j->start_ns;
	r.submitted_ns = j->submit_ns;
	r.started_ns = j->spawned_ns;
	r.out = j->out.buf;
	r.out_len = j->out.len;
	r.err = j->err.buf;
	r.err_len = j->err.len;
	r.stdin_written = j->in_off;
	exec_deliver(j, &r);
}

static bool
exec_done(const struct exec_job *j)
{
	return j->reaped && j->out_fd < 0 && j->err_fd < 0;
}

/* ---- the running job's events ---- */

/* Reads what is there into t; returns true at EOF or on a hard error. */
static bool
exec_read(int fd, struct exec_tail *t)
{
	for (int i = 0; i < EXEC_READS_PER_CB; i++) {
		ssize_t n;

		if (t->buf == NULL) {
			char first[4096];

			n = read(fd, first, sizeof(first));
			if (n > 0) {
				t->buf = malloc(EXEC_TAIL_MAX);
				if (t->buf == NULL)
					return true; /* output lost, no more */
				memcpy(t->buf, first, (size_t)n);
				t->pos = t->len = (size_t)n;
			}
		} else {
			struct iovec iov[2] = {
			    {t->buf + t->pos, EXEC_TAIL_MAX - t->pos},
			    {t->buf, t->pos},
			};

			n = readv(fd, iov, t->pos > 0 ? 2 : 1);
			if (n > 0) {
				t->pos = (t->pos + (size_t)n) % EXEC_TAIL_MAX;
				t->len += (size_t)n;
				if (t->len > EXEC_TAIL_MAX)
					t->len = EXEC_TAIL_MAX;
			}
		}
		if (n == 0)
			return true;
		if (n < 0)
			return errno != EAGAIN && errno != EINTR;
	}
	return false;
}

static void
exec_out_cb(evutil_socket_t fd, short what, void *arg)
{
	struct exec_job *j = arg;
	bool is_out = fd == j->out_fd;

	if (!exec_read(fd, is_out ? &j->out : &j->err))
		return;
	exec_event_free(is_out ? &j->ev_out : &j->ev_err);
	exec_close(is_out ? &j->out_fd : &j->err_fd);
	if (exec_done(j))
		exec_finish(j);
}

static void
exec_in_cb(evutil_socket_t fd, short what, void *arg)
{
	struct exec_job *j = arg;
	ssize_t n;

	n = write(fd, j->in + j->in_off, j->in_len - j->in_off);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		j->in_off += (size_t)n;
	/* EPIPE: the hook closed stdin or exited; it did not want the rest */
	if (n < 0 || j->in_off == j->in_len) {
		exec_event_free(&j->ev_in);
		exec_close(&j->in_fd);
		free(j->in);
		j->in = NULL;
	}
}

static void
exec_timer_arm(struct exec_job *j, enum exec_timer_phase phase,
	       int64_t after_ns)
{
	struct timeval tv = exec_tv(after_ns);

	j->phase = phase;
	j->phase_end_ns = exec_now_ns() + after_ns;
	evtimer_add(j->ev_timer, &tv);
}

static void
exec_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct exec_job *j = arg;
	int64_t left_ns = j->phase_end_ns - exec_now_ns();

	/* Without EVENT_BASE_FLAG_PRECISE_TIMER, libevent's coarse clock
	 * fires up to a few ms early: never kill before the deadline. */
	if (left_ns > 0) {
		struct timeval tv = exec_tv(left_ns);

		evtimer_add(j->ev_timer, &tv);
		return;
	}
	switch (j->phase) {
	case PHASE_TERM:
		/* The leader is not reaped yet, so its pid still names its
		 * group: no reuse race. */
		j->timed_out = true;
		kill(-j->pid, SIGTERM);
		exec_timer_arm(j, PHASE_KILL, E.grace_ns);
		break;
	case PHASE_KILL:
		kill(-j->pid, SIGKILL);
		j->phase = PHASE_NONE;
		break;
	case PHASE_DRAIN:
		/* A grandchild holds the pipes: keep what is there, stop. */
		if (j->out_fd >= 0)
			(void)exec_read(j->out_fd, &j->out);
		if (j->err_fd >= 0)
			(void)exec_read(j->err_fd, &j->err);
		exec_finish(j);
		break;
	case PHASE_NONE:
		break;
	}
}

static bool
exec_reap(struct exec_job *j, bool block)
{
	pid_t r;

	/* Timed out: nothing of its group survives it. The leader is a
	 * zombie until waitpid, so -pid is still its group. */
	if (j->timed_out || block)
		kill(-j->pid, SIGKILL);
	do
		r = waitpid(j->pid, &j->status, block ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return false;
	if (r < 0) /* ECHILD: someone else reaped it (SIGCHLD ignored?) */
		j->status = W_EXITCODE(127, 0);
	j->end_ns = exec_now_ns();
	j->reaped = true;
	exec_event_free(&j->ev_pid);
	exec_close(&j->pidfd);
	return true;
}

static void
exec_pid_cb(evutil_socket_t fd, short what, void *arg)
{
	struct exec_job *j = arg;

	if (!exec_reap(j, false))
		return;
	evtimer_del(j->ev_timer);
	if (exec_done(j))
		exec_finish(j);
	else
		exec_timer_arm(j, PHASE_DRAIN, EXEC_DRAIN_NS);
}

/* ---- starting a job ---- */

/* The owner's passwd entry and groups, looked up before vfork (NSS is
 * neither async-signal-safe nor vfork-safe). */
struct exec_owner {
	struct passwd pw;
	bool found;
	char *buf;
	gid_t *groups;
	int ngroups;
};

static void
exec_owner_clear(struct exec_owner *o)
{
	free(o->buf);
	free(o->groups);
}

static int
exec_owner_lookup(struct exec_owner *o, uid_t uid, gid_t gid, bool groups)
{
	size_t size = 1024;
	struct passwd *res = NULL;
	int r;

	memset(o, 0, sizeof(*o));
	for (;;) {
		free(o->buf);
		o->buf = malloc(size);
		if (o->buf == NULL)
			return -ENOMEM;
		r = getpwuid_r(uid, &o->pw, o->buf, size, &res);
		if (r != ERANGE || size >= 1024 * 1024)
			break;
		size *= 4;
	}
	if (r != 0 && r != ENOENT && r != ESRCH)
		return -r;
	o->found = res != NULL;
	if (!groups)
		return 0;
	o->ngroups = 32;
	for (;;) {
		int n = o->ngroups;
		gid_t *g = realloc(o->groups, (size_t)n * sizeof(*g));

		if (g == NULL)
			return -ENOMEM;
		o->groups = g;
		if (!o->found) { /* no entry: its primary group only */
			o->groups[0] = gid;
			o->ngroups = 1;
			return 0;
		}
		if (getgrouplist(o->pw.pw_name, gid, o->groups, &n) >= 0) {
			o->ngroups = n;
			return 0;
		}
		if (n <= o->ngroups || n > 65536)
			return -EINVAL;
		o->ngroups = n;
	}
}

static bool
exec_env_has(const struct exec_job *j, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < j->nenv; i++)
		if (strncmp(j->env[i], key, klen) == 0 &&
		    j->env[i][klen] == '=')
			return true;
	return false;
}

/* envp: the base entries not replaced by the spec's, then the spec's.
 * One allocation: pointers, then the strings. */
static char **
exec_envp_new(const struct exec_job *j, const struct exec_owner *o)
{
	char num[4][24];
	const char *base[][2] = {
	    {"PATH", EXEC_PATH},
	    {"HOME", o->found ? o->pw.pw_dir : "/"},
	    {"USER", o->found ? o->pw.pw_name : NULL},
	    {"LOGNAME", o->found ? o->pw.pw_name : NULL},
	    {"SHELL", o->found && o->pw.pw_shell[0] != '\0' ? o->pw.pw_shell
							    : "/bin/sh"},
	    {"EVD_TIMER_ID", num[0]},
	    {"EVD_FIRE_ID", num[1]},
	    {"EVD_DUE_NS", num[2]},
	    {"EVD_LATENESS_NS", num[3]},
	};
	size_t nbase = sizeof(base) / sizeof(base[0]);
	size_t n = 0, bytes = 0;
	char **envp, *p;

	snprintf(num[0], sizeof(num[0]), "%" PRIu64, j->timer_id);
	snprintf(num[1], sizeof(num[1]), "%" PRIu64, j->fire_id);
	snprintf(num[2], sizeof(num[2]), "%" PRId64, j->due_ns);
	snprintf(num[3], sizeof(num[3]), "%" PRId64, j->lateness_ns);
	for (size_t i = 0; i < nbase; i++) {
		if (base[i][1] == NULL || exec_env_has(j, base[i][0])) {
			base[i][1] = NULL;
			continue;
		}
		bytes += strlen(base[i][0]) + strlen(base[i][1]) + 2;
		n++;
	}
	envp = malloc((n + j->nenv + 1) * sizeof(char *) + bytes);
	if (envp == NULL)
		return NULL;
	p = (char *)(envp + n + j->nenv + 1);
	n = 0;
	for (size_t i = 0; i < nbase; i++) {
		if (base[i][1] == NULL)
			continue;
		envp[n++] = p;
		p += sprintf(p, "%s=%s", base[i][0], base[i][1]) + 1;
	}
	for (size_t i = 0; i < j->nenv; i++)
		envp[n++] = j->env[i];
	envp[n] = NULL;
	return envp;
}

static int
exec_pipe(int fds[2], int parent_end)
{
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	if (fcntl(fds[parent_end], F_SETFL, O_NONBLOCK) < 0) {
		int r = -errno;

		exec_close(&fds[0]);
		exec_close(&fds[1]);
		return r;
	}
	return 0;
}

static const char *
exec_step_name(int step)
{
	switch (step) {
	case STEP_SETSID:
		return "setsid";
	case STEP_DUP2:
		return "dup2";
	case STEP_RLIMIT:
		return "setrlimit";
	case STEP_SETGROUPS:
		return "setgroups";
	case STEP_SETGID:
		return "setgid";
	case STEP_SETUID:
		return "setuid";
	case STEP_CHDIR:
		return "chdir";
	case STEP_EXECVE:
		return "execve";
	}
	return "?";
}

/* Spawns j and moves it to the running list, or delivers EXEC_FAILED. */
static void
exec_start(struct exec_job *j)
{
	struct exec_child_ctx c = {
	    .in_fd = -1, .out_fd = -1, .err_fd = -1, .report_fd = -1};
	struct exec_owner o;
	struct exec_report rep;
	char **envp = NULL;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	int rep_fds[2] = {-1, -1};
	sigset_t all, old;
	uid_t euid = geteuid();
	gid_t egid = getegid();
	bool root = euid == 0;
	ssize_t n;
	char step[256];
	int r, fail_err = 0;
	pid_t pid;

	memset(&o, 0, sizeof(o));
	step[0] = '\0';
	if (!root && (j->uid != euid || j->gid != egid)) {
		fail_err = EPERM;
		snprintf(step, sizeof(step),
			 "evd runs as uid %u gid %u, not root: "
			 "cannot run as uid %u gid %u",
			 (unsigned)euid, (unsigned)egid, (unsigned)j->uid,
			 (unsigned)j->gid);
		goto out;
	}
	r = exec_owner_lookup(&o, j->uid, j->gid, root);
	if (r < 0) {
		fail_err = -r;
		snprintf(step, sizeof(step), "looking up uid %u: %s",
			 (unsigned)j->uid, strerror(-r));
		goto out;
	}
	envp = exec_envp_new(j, &o);
	if (envp == NULL) {
		fail_err = ENOMEM;
		snprintf(step, sizeof(step), "environment: %s",
			 strerror(ENOMEM));
		goto out;
	}
	if ((j->in_len > 0 && (r = exec_pipe(in, 1)) < 0) ||
	    (r = exec_pipe(out, 0)) < 0 || (r = exec_pipe(err, 0)) < 0 ||
	    (r = pipe2(rep_fds, O_CLOEXEC) < 0 ? -errno : 0) < 0) {
		fail_err = -r;
		snprintf(step, sizeof(step), "pipe: %s", strerror(-r));
		goto out;
	}

	c.argv = j->argv;
	c.envp = envp;
	if (strchr(j->prog, '/') != NULL) {
		c.paths[0] = j->prog;
		c.npaths = 1;
	} else {
		for (size_t i = 0; i < EXEC_NPATH; i++) {
			if (asprintf(&c.paths[i], "%s/%s", exec_path_dirs[i],
				     j->prog) < 0) {
				c.paths[i] = NULL;
				fail_err = ENOMEM;
				snprintf(step, sizeof(step), "path: %s",
					 strerror(ENOMEM));
				goto out;
			}
			c.npaths++;
		}
	}
	c.cwd = j->cwd;
	c.home = o.found ? o.pw.pw_dir : NULL;
	c.groups = o.groups;
	c.ngroups = (size_t)o.ngroups;
	c.uid = j->uid;
	c.gid = j->gid;
	c.set_ids = root;
	c.in_fd = j->in_len > 0 ? in[0] : E.devnull_fd;
	c.out_fd = out[1];
	c.err_fd = err[1];
	c.report_fd = rep_fds[1];
	c.core = E.core;
	c.nofile = E.nofile;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	j->start_ns = exec_now_ns();
	pid = exec_vfork(&c);
	r = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	exec_close(&rep_fds[1]);
	exec_close(&in[0]);
	exec_close(&out[1]);
	exec_close(&err[1]);
	if (pid < 0) {
		fail_err = -r;
		snprintf(step, sizeof(step), "vfork: %s", strerror(-r));
		goto out;
	}
	j->pid = pid;
	j->spawned_ns = exec_now_ns();
	/* The child has exec'd (EOF) or written its report and exited. */
	do
		n = read(rep_fds[0], &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(rep)) {
		j->status = 0;
		while (waitpid(pid, &j->status, 0) < 0 && errno == EINTR)
			;
		fail_err = rep.err;
		if (rep.step == STEP_EXECVE)
			snprintf(step, sizeof(step), "execve %.160s: %s",
				 j->prog, strerror(rep.err));
		else
			snprintf(step, sizeof(step), "%s: %s",
				 exec_step_name(rep.step), strerror(rep.err));
		goto out;
	}

	j->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	j->ev_pid = j->pidfd < 0
			? NULL
			: event_new(E.base, j->pidfd, EV_READ | EV_PERSIST,
				    exec_pid_cb, j);
	j->ev_out =
	    event_new(E.base, out[0], EV_READ | EV_PERSIST, exec_out_cb, j);
	j->ev_err =
	    event_new(E.base, err[0], EV_READ | EV_PERSIST, exec_out_cb, j);
	j->ev_timer = evtimer_new(E.base, exec_timer_cb, j);
	if (j->in_len > 0)
		j->ev_in = event_new(E.base, in[1], EV_WRITE | EV_PERSIST,
				     exec_in_cb, j);
	if (j->ev_pid == NULL || j->ev_out == NULL || j->ev_err == NULL ||
	    j->ev_timer == NULL || (j->in_len > 0 && j->ev_in == NULL)) {
		fail_err = j->pidfd < 0 ? errno : ENOMEM;
		snprintf(step, sizeof(step), "%s: %s",
			 j->pidfd < 0 ? "pidfd_open" : "event_new",
			 strerror(fail_err));
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		while (waitpid(pid, &j->status, 0) < 0 && errno == EINTR)
			;
		goto out;
	}
	j->in_fd = in[1];
	j->out_fd = out[0];
	j->err_fd = err[0];
	in[1] = out[0] = err[0] = -1;
	event_add(j->ev_pid, NULL);
	event_add(j->ev_out, NULL);
	event_add(j->ev_err, NULL);
	if (j->ev_in != NULL)
		event_add(j->ev_in, NULL);
	if (j->timeout_ns > 0)
		exec_timer_arm(j, PHASE_TERM, j->timeout_ns);
	TAILQ_INSERT_TAIL(&E.running, j, entry);
	E.nrunning++;

out:
	for (size_t i = 0; i < EXEC_NPATH; i++)
		if (c.paths[i] != j->prog)
			free(c.paths[i]);
	free(envp);
	exec_owner_clear(&o);
	exec_close(&in[0]);
	exec_close(&in[1]);
	exec_close(&out[0]);
	exec_close(&out[1]);
	exec_close(&err[0]);
	exec_close(&err[1]);
	exec_close(&rep_fds[0]);
	exec_close(&rep_fds[1]);
	if (fail_err != 0)
		exec_fail(j, fail_err, "%s", step);
}

/*
 * Starts queued jobs on a later loop turn, never in the one that queued
 * them: a zero timeout is only looked at by the next turn, after the
 * daemon committed what that turn did (event_active would run it in the
 * same turn, before the commit that records the fire).
 */
static void
exec_pump_later(void)
{
	static const struct timeval zero = { 0, 0 };

	if (E.pump != NULL)
		event_add(E.pump, &zero);
}

static void
exec_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	struct exec_job *j;

	while (!E.stopping && E.nrunning < E.max_running &&
	       (j = TAILQ_FIRST(&E.queue)) != NULL) {
		/* The oldest job whose owner is under its own bound: one
		 * user's burst waits for its own hooks, not everyone's. */
		while (j != NULL && E.max_per_uid != 0 && j->uid != 0 &&
		       exec_running_uid(j->uid) >= E.max_per_uid)
			j = TAILQ_NEXT(j, entry);
		if (j == NULL)
			return; /* the next end of a hook pumps again */
		TAILQ_REMOVE(&E.queue, j, entry);
		E.nqueued--;
		if (j->cancelled) {
			exec_fail(j, ECANCELED, "terminated before it started");
			continue;
		}
		exec_start(j);
	}
}

void
exec_set_uid_limit(unsigned max_per_uid)
{
	E.max_per_uid = max_per_uid;
	if (E.pump != NULL && E.nqueued > 0)
		exec_pump_later();
}

/* ---- public ---- */

static int
exec_fd_guard(void)
{
	for (int fd = 0; fd < 3; fd++) {
		int nfd;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		nfd = open("/dev/null", O_RDWR);
		if (nfd < 0)
			return -errno;
		if (nfd != fd) { /* a lower one was closed and is now taken */
			close(nfd);
			return -EBADF;
		}
	}
	return 0;
}

int
exec_init(struct event_base *base, unsigned max_running, size_t max_queued)
{
	struct sigaction sa;
	int r;

	if (E.base != NULL)
		return -EALREADY;
	r = exec_fd_guard();
	if (r < 0)
		return r;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	E.devnull_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (E.devnull_fd < 0)
		return -errno;
	E.pump = event_new(base, -1, 0, exec_pump_cb, NULL);
	if (E.pump == NULL) {
		exec_close(&E.devnull_fd);
		return -ENOMEM;
	}
	getrlimit(RLIMIT_CORE, &E.core);
	E.core.rlim_cur = 0;
	getrlimit(RLIMIT_NOFILE, &E.nofile);
	if (E.nofile.rlim_cur > EXEC_NOFILE_CHILD)
		E.nofile.rlim_cur = EXEC_NOFILE_CHILD;
	E.base = base;
	TAILQ_INIT(&E.queue);
	TAILQ_INIT(&E.running);
	E.nqueued = E.nrunning = 0;
	E.grace_ns = EXEC_GRACE_NS;
	E.stopping = false;
	exec_set_limits(max_running, max_queued);
	return 0;
}

void
exec_set_limits(unsigned max_running, size_t max_queued)
{
	E.max_running = max_running > 0 ? max_running : 1;
	E.max_queued = max_queued;
	if (E.pump != NULL && E.nqueued > 0 && E.nrunning < E.max_running)
		exec_pump_later();
}

void
exec_set_grace_ns(int64_t grace_ns)
{
	E.grace_ns = grace_ns > 0 ? grace_ns : 0;
}

size_t
exec_running(void)
{
	return E.nrunning;
}

bool
exec_full(void)
{
	size_t free_slots =
	    E.nrunning < E.max_running ? E.max_running - E.nrunning : 0;

	return E.nqueued >= E.max_queued + free_slots;
}

size_t
exec_queued(void)
{
	return E.nqueued;
}

size_t
exec_running_uid(uid_t uid)
{
	struct exec_job *j;
	size_t n = 0;

	TAILQ_FOREACH(j, &E.running, entry)
	if (j->uid == uid)
		n++;
	return n;
}

/* A NULL-terminated copy. */
static char **
exec_strv_dup(const char *const *v, size_t n)
{
	char **d = calloc(n + 1, sizeof(char *));

	if (d == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		d[i] = strdup(v[i]);
		if (d[i] == NULL) {
			exec_strv_free(d, i);
			return NULL;
		}
	}
	return d;
}

static bool
exec_env_valid(const char *const *env, size_t nenv)
{
	for (size_t i = 0; i < nenv; i++) {
		const char *e = env[i], *eq;

		if (e == NULL || !((e[0] >= 'A' && e[0] <= 'Z') ||
				   (e[0] >= 'a' && e[0] <= 'z') || e[0] == '_'))
			return false;
		eq = e + strspn(e, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "abcdefghijklmnopqrstuvwxyz0123456789_");
		if (*eq != '=' || strncmp(e, "EVD_", 4) == 0)
			return false;
		for (size_t k = 0; k < i; k++)
			if (strncmp(env[k], e, (size_t)(eq - e) + 1) == 0)
				return false;
	}
	return true;
}

static int
exec_spec_check(const struct exec_spec *s)
{
	size_t bytes = s->cwd != NULL ? strlen(s->cwd) : 0;

	if (s->argc == 0 || s->argv == NULL || (s->shell && s->argc != 1) ||
	    (s->nenv > 0 && s->env == NULL) || s->timeout_ns < 0 ||
	    (s->stdin_len > 0 && s->stdin_data == NULL))
		return -EINVAL;
	if (s->argc > EXEC_ARGC_MAX || s->nenv > EXEC_NENV_MAX)
		return -E2BIG;
	for (size_t i = 0; i < s->argc; i++) {
		if (s->argv[i] == NULL)
			return -EINVAL;
		bytes += strlen(s->argv[i]) + 1;
	}
	if (s->argv[0][0] == '\0' ||
	    (!s->shell && s->argv[0][0] != '/' && strchr(s->argv[0], '/')))
		return -EINVAL;
	if (s->cwd != NULL && s->cwd[0] == '\0')
		return -EINVAL;
	if (!exec_env_valid(s->env, s->nenv))
		return -EINVAL;
	for (size_t i = 0; i < s->nenv; i++)
		bytes += strlen(s->env[i]) + 1;
	return bytes > EXEC_ARGS_MAX ? -E2BIG : 0;
}

int
exec_submit(const struct exec_spec *s, exec_done_cb cb, void *arg)
{
	struct exec_job *j;
	size_t free_slots;
	int r;

	if (E.stopping)
		return -ESHUTDOWN;
	if (E.base == NULL || cb == NULL)
		return -EINVAL;
	r = exec_spec_check(s);
	if (r < 0)
		return r;
	free_slots =
	    E.nrunning < E.max_running ? E.max_running - E.nrunning : 0;
	if (E.nqueued >= E.max_queued + free_slots)
		return -EAGAIN;

	j = calloc(1, sizeof(*j));
	if (j == NULL)
		return -ENOMEM;
	j->pidfd = j->in_fd = j->out_fd = j->err_fd = -1;
	if (s->shell) {
		const char *sh[] = {"sh", "-c", s->argv[0]};

		j->argv = exec_strv_dup(sh, 3);
		j->prog = strdup("/bin/sh");
	} else {
		j->argv = exec_strv_dup(s->argv, s->argc);
		j->prog = strdup(s->argv[0]);
	}
	j->nenv = s->nenv;
	j->env = exec_strv_dup(s->env, s->nenv);
	j->cwd = s->cwd != NULL ? strdup(s->cwd) : NULL;
	j->in = s->stdin_len > 0 ? malloc(s->stdin_len) : NULL;
	if (j->argv == NULL || j->prog == NULL || j->env == NULL ||
	    (s->cwd != NULL && j->cwd == NULL) ||
	    (s->stdin_len > 0 && j->in == NULL)) {
		exec_job_free(j);
		return -ENOMEM;
	}
	if (s->stdin_len > 0)
		memcpy(j->in, s->stdin_data, s->stdin_len);
	j->in_len = s->stdin_len;
	j->uid = s->uid;
	j->gid = s->gid;
	j->timeout_ns = s->timeout_ns;
	j->timer_id = s->timer_id;
	j->fire_id = s->fire_id;
	j->due_ns = s->due_ns;
	j->lateness_ns = s->lateness_ns;
	j->cb = cb;
	j->cb_arg = arg;
	j->submit_ns = exec_now_ns();
	TAILQ_INSERT_TAIL(&E.queue, j, entry);
	E.nqueued++;
	if (E.nrunning < E.max_running)
		exec_pump_later();
	return 0;
}

void
exec_shutdown(void)
{
	struct exec_job *j;

	if (E.base == NULL || E.stopping)
		return;
	E.stopping = true;
	TAILQ_FOREACH(j, &E.running, entry)
	if (!j->reaped)
		kill(-j->pid, SIGKILL);
	while ((j = TAILQ_FIRST(&E.running)) != NULL) {
		if (!j->reaped)
			(void)exec_reap(j, true);
		if (j->out_fd >= 0)
			(void)exec_read(j->out_fd, &j->out);
		if (j->err_fd >= 0)
			(void)exec_read(j->err_fd, &j->err);
		exec_finish(j);
	}
	while ((j = TAILQ_FIRST(&E.queue)) != NULL) {
		TAILQ_REMOVE(&E.queue, j, entry);
		E.nqueued--;
		exec_fail(j, ECANCELED, "daemon stopping");
	}
	exec_event_free(&E.pump);
	exec_close(&E.devnull_fd);
	E.base = NULL;
	E.stopping = false;
}

int
exec_terminate(uint64_t fire_id)
{
	struct exec_job *j;

	TAILQ_FOREACH(j, &E.running, entry)
		if (j->fire_id == fire_id) {
			if (j->reaped || j->phase == PHASE_KILL)
				return -EALREADY;
			/* Not reaped: its pid still names its group. */
			kill(-j->pid, SIGTERM);
			evtimer_del(j->ev_timer);
			exec_timer_arm(j, PHASE_KILL, E.grace_ns);
			return 0;
		}
	TAILQ_FOREACH(j, &E.queue, entry)
		if (j->fire_id == fire_id) {
			/* Delivered by the pump, on its own turn: callers are
			 * not re-entered from here. */
			if (j->cancelled)
				return -EALREADY;
			j->cancelled = true;
			exec_pump_later();
			return 0;
		}
	return -ENOENT;
}

/* A stand-in until the runner picks a backend (exec_backend.h): both
 * backends apply Nice=, and a backend's own honours replace this. This
 * runner itself applies no property but RuntimeMaxSec= (hook.c). */
unsigned
exec_honours(void)
{
	return EXEC_HONOURS_NICE;
}
