/*
 * exec: the exec-hook runner (semantics in exec.h), behind which a backend
 * (exec_backend.h: the spawner process, or systemd units) creates and
 * kills the processes.
 *
 * Owns every job from exec_submit to its callback: the per-uid queues,
 * the running list, the three pipes of each run (it creates them, hands
 * the child's ends to the backend for the duration of ->start and keeps
 * the parent ends), the output tails, the timeout clock and the result.
 * It must not block the loop: every parent-side fd is non-blocking, and
 * nothing here waits for a process (the backend reports starts and ends
 * from later loop callbacks). It runs no NSS lookup: identity is resolved
 * by the backend at fire time, off the loop.
 *
 * Fair queues (issue 14 item 6): each uid has its own FIFO, bounded by
 * max_queued (plus the slots it could start at once); a global cap of
 * EXEC_QUEUED_GLOBAL_FACTOR * max_queued bounds memory. At most
 * max_per_uid jobs of one uid run at once (root is exempt, but takes its
 * turn like everyone). The pump takes one job from each uid with queued
 * work in turn (round robin over uids), so one uid's backlog delays
 * another uid's job by at most one job per other uid, never by the
 * backlog.
 *
 * Invariants: a job is in exactly one of its uid's queue or the running
 * list, or is being delivered (in neither). A running job holds a slot
 * until its callback has returned; a queued job starts only from pump_cb,
 * never from exec_submit or a callback, so callbacks never nest. A
 * struct exec_uq lives while its uid has queued or running jobs.
 */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "exec_backend.h"
#include "idmap.h"
#include "log.h"

#define EXEC_ARGC_MAX 4096
#define EXEC_NENV_MAX 1024
/* Reads per output event before yielding to the loop. */
#define EXEC_READS_PER_CB 4
/* The global queue bound, in units of the per-uid one. */
#define EXEC_QUEUED_GLOBAL_FACTOR 8

/* Last EXEC_TAIL_MAX bytes of one output stream. buf stays NULL until the
 * first byte: most hooks print nothing. */
struct exec_tail {
	char *buf;
	size_t pos; /* next write; == len until it first wraps */
	size_t len;
};

enum exec_timer_phase { PHASE_NONE, PHASE_TERM, PHASE_KILL, PHASE_DRAIN };

struct exec_uq;

/* Owner: the runner, from exec_submit until its callback returns. */
struct exec_job {
	TAILQ_ENTRY(exec_job) entry;
	struct exec_uq *uq;
	uint64_t job_id;
	/* the spec, copied */
	uid_t uid;
	gid_t gid;
	char *user;
	char **props;
	size_t nprops;
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
	uint64_t iter;  /* the loop iteration that queued it */
	bool cancelled; /* exec_terminate before it started */
	/* running: handed to the backend */
	bool started; /* the backend said it exec'd */
	bool ended;   /* the backend said it exited */
	pid_t pid;
	int in_fd;
	int out_fd;
	int err_fd;
	struct event *ev_in;
	struct event *ev_out;
	struct event *ev_err;
	struct event *ev_timer;
	enum exec_timer_phase phase;
	int64_t phase_end_ns; /* libevent may fire a little early */
	bool timed_out;
	bool signaled;
	int code;
	int64_t start_ns;   /* handed to the backend */
	int64_t spawned_ns; /* exec'd */
	int64_t end_ns;
	struct exec_tail out;
	struct exec_tail err;
};

TAILQ_HEAD(exec_jobq, exec_job);

/* One uid's queue and share. Owner: the runner (E.uqs). */
struct exec_uq {
	TAILQ_ENTRY(exec_uq) rr; /* in E.ready while nqueued > 0 */
	struct exec_jobq queue;
	uid_t uid;
	size_t nqueued;
	size_t nrunning;
};

TAILQ_HEAD(exec_uqq, exec_uq);

static struct {
	struct event_base *base;
	const struct exec_backend *be;
	struct event *pump;
	struct idmap *uqs;  /* uid + 1 -> struct exec_uq */
	struct idmap *jobs; /* job_id -> running struct exec_job */
	struct exec_uqq ready; /* uids with queued jobs, round robin */
	struct exec_jobq running;
	size_t nqueued;
	size_t nrunning;
	unsigned max_running;
	unsigned max_per_uid; /* 0: no per-owner bound; root is exempt */
	size_t max_queued;
	int64_t grace_ns;
	int devnull_fd;
	uint64_t next_job_id; /* never reset; starts at wall-clock us */
	char *socket_env;     /* "EVD_SOCKET=..." or NULL */
	char *lang_env;       /* "LANG=..." from evd's own, or NULL */
	char *tz_env;
	bool stopping;
	/* Queued jobs start once flush hold_gen of the store ended, so that
	 * a machine crash cannot undo the fire that started them. */
	uint64_t hold_gen, durable_gen;
	uint64_t iter; /* loop iterations ended (exec_batch_end) */
	bool (*gate)(uint64_t timer_id); /* exec_set_gate, or NULL */
} E = {.devnull_fd = -1, .next_job_id = 1};

static void exec_pump_cb(evutil_socket_t fd, short what, void *arg);
static void exec_pump_later(void);
static void exec_finish(struct exec_job *j);
static void exec_stream_close(struct exec_job *j, bool is_out);

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

/* ---- per-uid queues ---- */

static struct exec_uq *
exec_uq_get(uid_t uid, bool create)
{
	struct exec_uq *uq = idmap_get(E.uqs, (uint64_t)uid + 1);

	if (uq != NULL || !create)
		return uq;
	if ((uq = calloc(1, sizeof(*uq))) == NULL)
		return NULL;
	uq->uid = uid;
	TAILQ_INIT(&uq->queue);
	if (idmap_put(E.uqs, (uint64_t)uid + 1, uq) < 0) {
		free(uq);
		return NULL;
	}
	return uq;
}

/* Frees uq once nothing of its uid is queued or running. */
static void
exec_uq_release(struct exec_uq *uq)
{
	if (uq == NULL || uq->nqueued > 0 || uq->nrunning > 0)
		return;
	idmap_del(E.uqs, (uint64_t)uq->uid + 1);
	free(uq);
}

/* How many jobs of uq could start right now. */
static size_t
exec_uq_free_slots(const struct exec_uq *uq)
{
	size_t g = E.nrunning < E.max_running ? E.max_running - E.nrunning : 0;

	if (E.max_per_uid != 0 && uq->uid != 0) {
		size_t u = uq->nrunning < E.max_per_uid
			       ? E.max_per_uid - uq->nrunning
			       : 0;

		if (u < g)
			g = u;
	}
	return g;
}

static bool
exec_uq_may_start(const struct exec_uq *uq)
{
	return E.max_per_uid == 0 || uq->uid == 0 ||
	       uq->nrunning < E.max_per_uid;
}

static void
exec_job_free(struct exec_job *j)
{
	size_t argc = 0;

	if (j == NULL)
		return;
	exec_event_free(&j->ev_in);
	exec_event_free(&j->ev_out);
	exec_event_free(&j->ev_err);
	exec_event_free(&j->ev_timer);
	exec_close(&j->in_fd);
	exec_close(&j->out_fd);
	exec_close(&j->err_fd);
	if (j->argv != NULL)
		while (j->argv[argc] != NULL)
			argc++;
	exec_strv_free(j->argv, argc);
	free(j->prog);
	exec_strv_free(j->env, j->nenv);
	exec_strv_free(j->props, j->nprops);
	free(j->user);
	free(j->cwd);
	free(j->in);
	free(j->out.buf);
	free(j->err.buf);
	free(j);
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
	struct exec_uq *uq = j->uq;

	j->cb(r, j->cb_arg);
	exec_job_free(j);
	exec_uq_release(uq);
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
				.submitted_ns = j->submit_ns,
				.handed_ns = j->start_ns};

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_debug("exec: timer %" PRIu64 ": %s", j->timer_id, msg);
	exec_deliver(j, &r);
}

/* Takes j off the running list (its slot stays taken until delivery). */
static void
exec_unrun(struct exec_job *j)
{
	TAILQ_REMOVE(&E.running, j, entry);
	idmap_del(E.jobs, j->job_id);
	E.nrunning--;
	j->uq->nrunning--;
	exec_event_free(&j->ev_timer);
	exec_event_free(&j->ev_in);
	exec_event_free(&j->ev_out);
	exec_event_free(&j->ev_err);
	exec_close(&j->in_fd);
	exec_stream_close(j, true);
	exec_stream_close(j, false);
}

/* The process ended and its outputs closed (or were given up on). */
static void
exec_finish(struct exec_job *j)
{
	struct exec_result r = {.pid = j->pid};

	exec_unrun(j);
	exec_tail_linearize(&j->out);
	exec_tail_linearize(&j->err);
	r.outcome = j->signaled ? EXEC_SIGNALED : EXEC_EXITED;
	r.code = j->code;
	if (j->timed_out)
		r.outcome = EXEC_TIMED_OUT;
	r.duration_ns = j->end_ns - j->start_ns;
	r.submitted_ns = j->submit_ns;
	r.handed_ns = j->start_ns;
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
	return j->ended && j->out_fd < 0 && j->err_fd < 0;
}

/* ---- the running job's events ---- */

/* Hands what was just read to a backend that journals output (systemd):
 * n bytes that start at off in the tail's ring. */
static void
exec_forward(const struct exec_job *j, int stream, const struct exec_tail *t,
	     size_t off, size_t n)
{
	size_t first = n < EXEC_TAIL_MAX - off ? n : EXEC_TAIL_MAX - off;

	if (E.be->output == NULL || n == 0)
		return;
	E.be->output(j->job_id, stream, t->buf + off, first);
	if (n > first)
		E.be->output(j->job_id, stream, t->buf, n - first);
}

/* The stream reached EOF or is given up on: closes it, telling a backend
 * that journals output (so it flushes a last partial line). */
static void
exec_stream_close(struct exec_job *j, bool is_out)
{
	int *fd = is_out ? &j->out_fd : &j->err_fd;

	if (*fd < 0)
		return;
	exec_close(fd);
	if (E.be->output != NULL)
		E.be->output(j->job_id, is_out ? 1 : 2, NULL, 0);
}

/* Reads what is there into the stream's tail; returns true at EOF or on a
 * hard error. */
static bool
exec_read(struct exec_job *j, bool is_out)
{
	int fd = is_out ? j->out_fd : j->err_fd;
	struct exec_tail *t = is_out ? &j->out : &j->err;
	int stream = is_out ? 1 : 2;

	for (int i = 0; i < EXEC_READS_PER_CB; i++) {
		size_t off = t->pos;
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
				exec_forward(j, stream, t, 0, (size_t)n);
			}
		} else {
			struct iovec iov[2] = {
			    {t->buf + t->pos, EXEC_TAIL_MAX - t->pos},
			    {t->buf, t->pos},
			};

			n = readv(fd, iov, t->pos > 0 ? 2 : 1);
			if (n > 0) {
				exec_forward(j, stream, t, off, (size_t)n);
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



static void
exec_out_cb(evutil_socket_t fd, short what, void *arg)
{
	struct exec_job *j = arg;
	bool is_out = fd == j->out_fd;

	if (!exec_read(j, is_out))
		return;
	exec_event_free(is_out ? &j->ev_out : &j->ev_err);
	exec_stream_close(j, is_out);
	if (exec_done(j))
		exec_finish(j);
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
		/* The whole tree: the backend's process group or cgroup. */
		j->timed_out = true;
		(void)E.be->kill(j->job_id, SIGTERM);
		exec_timer_arm(j, PHASE_KILL, E.grace_ns);
		break;
	case PHASE_KILL:
		(void)E.be->kill(j->job_id, SIGKILL);
		j->phase = PHASE_NONE;
		break;
	case PHASE_DRAIN:
		/* A grandchild holds the pipes: keep what is there, stop. */
		if (j->out_fd >= 0)
			(void)exec_read(j, true);
		if (j->err_fd >= 0)
			(void)exec_read(j, false);
		exec_finish(j);
		break;
	case PHASE_NONE:
		break;
	}
}

/* ---- reports from the backend ---- */

static struct exec_job *
exec_job_find(uint64_t job_id)
{
	return E.stopping || E.jobs == NULL ? NULL : idmap_get(E.jobs, job_id);
}

void
exec_backend_failed(uint64_t job_id, int err, const char *why)
{
	struct exec_job *j = exec_job_find(job_id);

	if (j == NULL)
		return;
	exec_unrun(j);
	exec_fail(j, err > 0 ? err : EIO, "%s", why != NULL ? why : "?");
}

void
exec_backend_started(uint64_t job_id, pid_t pid, const char *unit)
{
	struct exec_job *j = exec_job_find(job_id);

	(void)unit;
	if (j == NULL || j->started)
		return;
	j->started = true;
	j->pid = pid;
	j->spawned_ns = exec_now_ns();
	/* exec_terminate may have started the kill already. */
	if (j->timeout_ns > 0 && j->phase == PHASE_NONE)
		exec_timer_arm(j, PHASE_TERM, j->timeout_ns);
}

void
exec_backend_exited(uint64_t job_id, bool signaled, int code,
		    bool timed_out)
{
	struct exec_job *j = exec_job_find(job_id);

	if (j == NULL || j->ended)
		return;
	if (!j->started)
		exec_backend_started(job_id, 0, NULL);
	j->ended = true;
	j->signaled = signaled;
	j->code = code;
	if (timed_out)
		j->timed_out = true;
	j->end_ns = exec_now_ns();
	evtimer_del(j->ev_timer);
	j->phase = PHASE_NONE;
	if (exec_done(j))
		exec_finish(j);
	else
		exec_timer_arm(j, PHASE_DRAIN, EXEC_DRAIN_NS);
}

/* ---- starting a job ---- */

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

/* envp: EVD_*, EVD_SOCKET, evd's LANG and TZ (unless the spec sets
 * them), then the spec's entries. The backend adds HOME, USER, LOGNAME,
 * SHELL and PATH. One allocation: pointers, then the strings. */
static char **
exec_envp_new(const struct exec_job *j)
{
	char num[4][48];
	const char *base[7];
	size_t nbase = 0, n = 0, bytes = 0;
	char **envp, *p;

	snprintf(num[0], sizeof(num[0]), "EVD_TIMER_ID=%" PRIu64, j->timer_id);
	snprintf(num[1], sizeof(num[1]), "EVD_FIRE_ID=%" PRIu64, j->fire_id);
	snprintf(num[2], sizeof(num[2]), "EVD_DUE_NS=%" PRId64, j->due_ns);
	snprintf(num[3], sizeof(num[3]), "EVD_LATENESS_NS=%" PRId64,
		 j->lateness_ns);
	for (int i = 0; i < 4; i++)
		base[nbase++] = num[i];
	if (E.socket_env != NULL)
		base[nbase++] = E.socket_env;
	if (E.lang_env != NULL && !exec_env_has(j, "LANG"))
		base[nbase++] = E.lang_env;
	if (E.tz_env != NULL && !exec_env_has(j, "TZ"))
		base[nbase++] = E.tz_env;
	for (size_t i = 0; i < nbase; i++)
		bytes += strlen(base[i]) + 1;
	envp = malloc((nbase + j->nenv + 1) * sizeof(char *) + bytes);
	if (envp == NULL)
		return NULL;
	p = (char *)(envp + nbase + j->nenv + 1);
	for (size_t i = 0; i < nbase; i++) {
		envp[n++] = p;
		p = stpcpy(p, base[i]) + 1;
	}
	for (size_t i = 0; i < j->nenv; i++)
		envp[n++] = j->env[i];
	envp[n] = NULL;
	return envp;
}

/* Hands j to the backend and moves it to the running list, or delivers
 * EXEC_FAILED. */
static void
exec_start(struct exec_job *j)
{
	struct exec_launch l;
	char **envp = NULL;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
	uid_t euid = geteuid();
	gid_t egid = getegid();
	bool root = euid == 0;
	char step[256];
	int r, fail_err = 0;

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
	envp = exec_envp_new(j);
	if (envp == NULL) {
		fail_err = ENOMEM;
		snprintf(step, sizeof(step), "environment: %s",
			 strerror(ENOMEM));
		goto out;
	}
	if ((j->in_len > 0 && (r = exec_pipe(in, 1)) < 0) ||
	    (r = exec_pipe(out, 0)) < 0 || (r = exec_pipe(err, 0)) < 0) {
		fail_err = -r;
		snprintf(step, sizeof(step), "pipe: %s", strerror(-r));
		goto out;
	}
	j->ev_out =
	    event_new(E.base, out[0], EV_READ | EV_PERSIST, exec_out_cb, j);
	j->ev_err =
	    event_new(E.base, err[0], EV_READ | EV_PERSIST, exec_out_cb, j);
	j->ev_timer = evtimer_new(E.base, exec_timer_cb, j);
	if (j->in_len > 0)
		j->ev_in = event_new(E.base, in[1], EV_WRITE | EV_PERSIST,
				     exec_in_cb, j);
	if (j->ev_out == NULL || j->ev_err == NULL || j->ev_timer == NULL ||
	    (j->in_len > 0 && j->ev_in == NULL) ||
	    idmap_put(E.jobs, j->job_id, j) < 0) {
		fail_err = ENOMEM;
		snprintf(step, sizeof(step), "event_new: %s", strerror(ENOMEM));
		goto out;
	}

	memset(&l, 0, sizeof(l));
	l.job_id = j->job_id;
	l.timer_id = j->timer_id;
	l.fire_id = j->fire_id;
	l.uid = j->uid;
	l.gid = j->gid;
	l.user = j->user;
	l.set_ids = root;
	l.prog = j->prog;
	l.argv = j->argv;
	l.envp = envp;
	l.cwd = j->cwd;
	l.stdin_fd = j->in_len > 0 ? in[0] : E.devnull_fd;
	l.stdout_fd = out[1];
	l.stderr_fd = err[1];
	l.timeout_ns = j->timeout_ns;
	l.props = (const char *const *)j->props;
	l.nprops = j->nprops;
	j->start_ns = exec_now_ns();
	r = E.be->start(&l);
	if (r < 0) {
		idmap_del(E.jobs, j->job_id);
		fail_err = -r;
		snprintf(step, sizeof(step), "%s: %s",
			 r == -EPIPE ? "the hook spawner is gone"
				     : "cannot hand the hook to its starter",
			 strerror(-r));
		goto out;
	}
	j->in_fd = in[1];
	j->out_fd = out[0];
	j->err_fd = err[0];
	in[1] = out[0] = err[0] = -1;
	event_add(j->ev_out, NULL);
	event_add(j->ev_err, NULL);
	if (j->ev_in != NULL)
		event_add(j->ev_in, NULL);
	TAILQ_INSERT_TAIL(&E.running, j, entry);
	E.nrunning++;
	j->uq->nrunning++;

out:
	free(envp);
	exec_close(&in[0]);
	exec_close(&in[1]);
	exec_close(&out[0]);
	exec_close(&out[1]);
	exec_close(&err[0]);
	exec_close(&err[1]);
	if (fail_err != 0)
		exec_fail(j, fail_err, "%s", step);
}

/*
 * Starts queued jobs on a later loop turn, never in the one that queued
 * them: a zero timeout is only looked at by the next turn, after the
 * daemon committed what that turn did (event_active would run it in the
 * same turn, before the commit that records the fire); and, with a
 * store that flushes, not before that commit is durable (exec_hold).
 */
static void
exec_pump_later(void)
{
	static const struct timeval zero = { 0, 0 };

	if (E.pump != NULL)
		event_add(E.pump, &zero);
}

/* The next job in round-robin order over uids under their share, taken
 * off its queue; NULL if none may start. */
static struct exec_job *
exec_pick(void)
{
	struct exec_uq *uq, *first = NULL;
	struct exec_job *j;

	while ((uq = TAILQ_FIRST(&E.ready)) != NULL && uq != first) {
		TAILQ_REMOVE(&E.ready, uq, rr);
		if (!exec_uq_may_start(uq)) {
			/* At its share: its turn passes. */
			TAILQ_INSERT_TAIL(&E.ready, uq, rr);
			if (first == NULL)
				first = uq;
			continue;
		}
		j = TAILQ_FIRST(&uq->queue);
		TAILQ_REMOVE(&uq->queue, j, entry);
		uq->nqueued--;
		E.nqueued--;
		if (uq->nqueued > 0)
			TAILQ_INSERT_TAIL(&E.ready, uq, rr);
		return j;
	}
	return NULL;
}

static void
exec_pump_cb(evutil_socket_t fd, short what, void *arg)
{
	struct exec_job *j;

	if (E.hold_gen > E.durable_gen)
		return; /* exec_release pumps again */
	while (!E.stopping && E.nrunning < E.max_running &&
	       (j = exec_pick()) != NULL) {
		if (j->cancelled) {
			exec_fail(j, ECANCELED, "terminated before it started");
			continue;
		}
		if (E.gate != NULL && !E.gate(j->timer_id)) {
			struct exec_result r = {
				.outcome = EXEC_LOST,
				.submitted_ns = j->submit_ns,
			};

			exec_deliver(j, &r);
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

void
exec_set_gate(bool (*may_start)(uint64_t timer_id))
{
	E.gate = may_start;
}

void
exec_hold(uint64_t gen)
{
	if (gen > E.hold_gen)
		E.hold_gen = gen;
}

void
exec_batch_end(uint64_t lost)
{
	uint64_t from = E.iter + 1 - lost;
	struct exec_jobq gone = TAILQ_HEAD_INITIALIZER(gone);
	struct exec_job *j, *next;
	struct exec_uq *uq, *unext;

	E.iter++;
	if (lost == 0 || E.uqs == NULL)
		return;
	/* Nothing queued has started while its flush was pending. Taken
	 * off first: a callback may queue jobs of its own. */
	for (uq = TAILQ_FIRST(&E.ready); uq != NULL; uq = unext) {
		unext = TAILQ_NEXT(uq, rr);
		for (j = TAILQ_FIRST(&uq->queue); j != NULL; j = next) {
			next = TAILQ_NEXT(j, entry);
			if (j->iter < from)
				continue;
			TAILQ_REMOVE(&uq->queue, j, entry);
			E.nqueued--;
			TAILQ_INSERT_TAIL(&gone, j, entry);
		}
		uq->nqueued = 0;
		TAILQ_FOREACH(j, &uq->queue, entry)
			uq->nqueued++;
		if (uq->nqueued == 0) {
			TAILQ_REMOVE(&E.ready, uq, rr);
			exec_uq_release(uq);
		}
	}
	while ((j = TAILQ_FIRST(&gone)) != NULL) {
		struct exec_result r = {
			.outcome = EXEC_LOST,
			.submitted_ns = j->submit_ns,
		};

		TAILQ_REMOVE(&gone, j, entry);
		j->cb(&r, j->cb_arg);
		exec_job_free(j);
	}
}

void
exec_release(uint64_t gen)
{
	if (gen > E.durable_gen)
		E.durable_gen = gen;
	if (E.nqueued > 0)
		exec_pump_later();
}

void
exec_set_backend(const struct exec_backend *be)
{
	if (E.base == NULL)
		E.be = be;
}

unsigned
exec_honours(void)
{
	const struct exec_backend *be =
	    E.be != NULL ? E.be : &exec_backend_spawner;

	return be->honours();
}

const char *
exec_backend_name(void)
{
	return E.be != NULL ? E.be->name : exec_backend_spawner.name;
}

int
exec_set_socket_path(const char *path)
{
	char *s = NULL;

	if (path != NULL && asprintf(&s, "EVD_SOCKET=%s", path) < 0)
		return -ENOMEM;
	free(E.socket_env);
	E.socket_env = s;
	return 0;
}

/* "NAME=value" from evd's own environment, or NULL. */
static char *
exec_own_env(const char *name)
{
	const char *v = getenv(name);
	char *s;

	if (v == NULL || asprintf(&s, "%s=%s", name, v) < 0)
		return NULL;
	return s;
}

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
	if (E.be == NULL)
		E.be = &exec_backend_spawner;
	E.devnull_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (E.devnull_fd < 0)
		return -errno;
	E.pump = event_new(base, -1, 0, exec_pump_cb, NULL);
	E.uqs = idmap_new();
	E.jobs = idmap_new();
	if (E.pump == NULL || E.uqs == NULL || E.jobs == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	if ((r = E.be->init(base)) < 0)
		goto fail;
	/* Read once: evd never changes its own environment. */
	free(E.lang_env);
	free(E.tz_env);
	E.lang_env = exec_own_env("LANG");
	E.tz_env = exec_own_env("TZ");
	E.base = base;
	/* Units of a previous evd may still be collected by systemd: their
	 * names carry the job id, so start past any id an earlier process
	 * could have used (microseconds of wall time). */
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		if ((uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000 >
		    E.next_job_id)
			E.next_job_id = (uint64_t)ts.tv_sec * 1000000 +
			                (uint64_t)ts.tv_nsec / 1000;
	}
	TAILQ_INIT(&E.ready);
	TAILQ_INIT(&E.running);
	E.nqueued = E.nrunning = 0;
	E.grace_ns = EXEC_GRACE_NS;
	E.stopping = false;
	exec_set_limits(max_running, max_queued);
	return 0;
fail:
	exec_event_free(&E.pump);
	idmap_free(E.uqs);
	idmap_free(E.jobs);
	E.uqs = E.jobs = NULL;
	exec_close(&E.devnull_fd);
	return r;
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

static size_t
exec_global_cap(void)
{
	size_t free_slots =
	    E.nrunning < E.max_running ? E.max_running - E.nrunning : 0;

	return E.max_queued * EXEC_QUEUED_GLOBAL_FACTOR + free_slots;
}

bool
exec_full(void)
{
	return E.nqueued >= exec_global_cap();
}

bool
exec_full_uid(uid_t uid)
{
	struct exec_uq *uq = E.uqs != NULL ? exec_uq_get(uid, false) : NULL;

	if (exec_full())
		return true;
	if (uq == NULL)
		return E.max_queued == 0 && E.nrunning >= E.max_running;
	return uq->nqueued >= E.max_queued + exec_uq_free_slots(uq);
}

size_t
exec_queued(void)
{
	return E.nqueued;
}

size_t
exec_queued_uid(uid_t uid)
{
	struct exec_uq *uq = E.uqs != NULL ? exec_uq_get(uid, false) : NULL;

	return uq != NULL ? uq->nqueued : 0;
}

size_t
exec_running_uid(uid_t uid)
{
	struct exec_uq *uq = E.uqs != NULL ? exec_uq_get(uid, false) : NULL;

	return uq != NULL ? uq->nrunning : 0;
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
	if (s->nprops > 0 && s->props == NULL)
		return -EINVAL;
	for (size_t i = 0; i < s->nprops; i++)
		if (s->props[i] == NULL)
			return -EINVAL;
	for (size_t i = 0; i < s->nenv; i++)
		bytes += strlen(s->env[i]) + 1;
	return bytes > EXEC_ARGS_MAX ? -E2BIG : 0;
}

int
exec_submit(const struct exec_spec *s, exec_done_cb cb, void *arg)
{
	struct exec_job *j;
	struct exec_uq *uq;
	int r;

	if (E.stopping)
		return -ESHUTDOWN;
	if (E.base == NULL || cb == NULL)
		return -EINVAL;
	r = exec_spec_check(s);
	if (r < 0)
		return r;
	if (exec_full_uid(s->uid))
		return -EAGAIN;
	if ((uq = exec_uq_get(s->uid, true)) == NULL)
		return -ENOMEM;

	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		exec_uq_release(uq);
		return -ENOMEM;
	}
	j->in_fd = j->out_fd = j->err_fd = -1;
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
	j->nprops = s->nprops;
	j->props = exec_strv_dup(s->props, s->nprops);
	j->user = s->user != NULL ? strdup(s->user) : NULL;
	j->cwd = s->cwd != NULL ? strdup(s->cwd) : NULL;
	j->in = s->stdin_len > 0 ? malloc(s->stdin_len) : NULL;
	if (j->argv == NULL || j->prog == NULL || j->env == NULL ||
	    j->props == NULL || (s->user != NULL && j->user == NULL) ||
	    (s->cwd != NULL && j->cwd == NULL) ||
	    (s->stdin_len > 0 && j->in == NULL)) {
		exec_job_free(j);
		exec_uq_release(uq);
		return -ENOMEM;
	}
	if (s->stdin_len > 0)
		memcpy(j->in, s->stdin_data, s->stdin_len);
	j->in_len = s->stdin_len;
	j->uq = uq;
	j->job_id = E.next_job_id++;
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
	j->iter = E.iter;
	TAILQ_INSERT_TAIL(&uq->queue, j, entry);
	if (uq->nqueued++ == 0)
		TAILQ_INSERT_TAIL(&E.ready, uq, rr);
	E.nqueued++;
	if (E.nrunning < E.max_running)
		exec_pump_later();
	return 0;
}

void
exec_shutdown(void)
{
	struct exec_job *j;
	struct exec_uq *uq;

	if (E.base == NULL || E.stopping)
		return;
	E.stopping = true;
	TAILQ_FOREACH(j, &E.running, entry)
		(void)E.be->kill(j->job_id, SIGKILL);
	/* Reaps every child; reports nothing more. */
	E.be->shutdown();
	while ((j = TAILQ_FIRST(&E.running)) != NULL) {
		if (!j->ended) {
			j->ended = true;
			j->signaled = true;
			j->code = SIGKILL;
			j->end_ns = exec_now_ns();
		}
		if (j->out_fd >= 0)
			(void)exec_read(j, true);
		if (j->err_fd >= 0)
			(void)exec_read(j, false);
		exec_finish(j);
	}
	while ((uq = TAILQ_FIRST(&E.ready)) != NULL) {
		j = TAILQ_FIRST(&uq->queue);
		TAILQ_REMOVE(&uq->queue, j, entry);
		E.nqueued--;
		if (--uq->nqueued == 0)
			TAILQ_REMOVE(&E.ready, uq, rr);
		exec_fail(j, ECANCELED, "daemon stopping");
	}
	exec_event_free(&E.pump);
	exec_close(&E.devnull_fd);
	idmap_free(E.uqs);
	idmap_free(E.jobs);
	E.uqs = E.jobs = NULL;
	E.base = NULL;
	E.stopping = false;
}

int
exec_terminate(uint64_t fire_id)
{
	struct exec_job *j;
	struct exec_uq *uq;

	TAILQ_FOREACH(j, &E.running, entry)
		if (j->fire_id == fire_id) {
			if (j->ended || j->phase == PHASE_KILL)
				return -EALREADY;
			(void)E.be->kill(j->job_id, SIGTERM);
			evtimer_del(j->ev_timer);
			exec_timer_arm(j, PHASE_KILL, E.grace_ns);
			return 0;
		}
	TAILQ_FOREACH(uq, &E.ready, rr)
		TAILQ_FOREACH(j, &uq->queue, entry)
			if (j->fire_id == fire_id) {
				/* Delivered by the pump, on its own turn:
				 * callers are not re-entered from here. */
				if (j->cancelled)
					return -EALREADY;
				j->cancelled = true;
				exec_pump_later();
				return 0;
			}
	return -ENOENT;
}
