/*
 * exec_spawner: the exec backend that starts hooks through the spawner
 * process (spawner.c), for evd without a service manager.
 *
 * Owns one struct exec_spawner_run per run from ->start until its last
 * report: the child's pid and pidfd (evd is the child's parent through
 * CLONE_PARENT and reaps it here with waitid(P_PIDFD)), and what the
 * spawner said of it. A run ends when both are known: the child was
 * reaped, and the spawner said EXECED (-> started, exited) or FAILED (->
 * failed). Nothing here blocks the loop: requests are written to the
 * spawner (a root process of ours that never waits for a child, so the
 * write waits at most for it to drain its socket), replies are read
 * non-blocking, children are reaped when their pidfd says they exited.
 *
 * Kill is the process group (the child calls setsid(), so its pid names
 * its group while it is not reaped): kill(-pid). When a run was ever
 * signalled (timeout, terminate), the group gets SIGKILL once more just
 * before the leader is reaped, while the zombie still pins the group id,
 * so grandchildren that ignored SIGTERM die too. Limit: a grandchild that
 * left the group (setsid, setpgid) escapes it, so where evd has a
 * delegated cgroup subtree every run gets a cgroup of its own (hookcg.h):
 * kills then reach the whole tree, and what is left of it when the hook
 * exits is killed with it.
 */
#include "exec_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "hookcg.h"
#include "idmap.h"
#include "jobprop.h"
#include "log.h"
#include "spawner.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* Owner: this backend, from ->start until the run's last report. */
struct exec_spawner_run {
	uint64_t job_id;
	pid_t pid;
	int pidfd;
	struct event *ev;
	bool created;
	bool execed;
	bool failed;
	bool reaped;
	bool cgroup;    /* it has its own (hookcg.h) */
	bool signalled; /* ->kill was called: SIGKILL the group at reap */
	bool reported;  /* failed reported; only the reap is left */
	int pending_sig; /* ->kill before CREATED */
	bool exit_signaled;
	int exit_code;
	int err;
	char why[SPAWNER_MSG_MAX];
};

static struct {
	struct event_base *base;
	struct event *ev_sock;
	struct event *ev_spawner;
	int spawner_pidfd; /* kept across init/shutdown: one spawner */
	struct idmap *runs;
	bool gone;
	struct event *ev_restart;
	int64_t started_ms;   /* when the current spawner started */
	int64_t backoff_ms;   /* before the next restart */
} X = {.spawner_pidfd = -1};

/* A spawner that died is started again after this, doubling up to the
 * maximum while they keep dying young. */
#define EXEC_SPAWNER_RESTART_MS 500
#define EXEC_SPAWNER_RESTART_MAX_MS 60000

static void exec_spawner_pid_cb(evutil_socket_t fd, short what, void *arg);

static int64_t
exec_spawner_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
exec_spawner_forget(struct exec_spawner_run *r)
{
	idmap_del(X.runs, r->job_id + 1);
	if (r->ev != NULL)
		event_free(r->ev);
	if (r->pidfd >= 0)
		close(r->pidfd);
	if (r->cgroup)
		hookcg_remove(r->job_id);
	free(r);
}

/*
 * Reports the run's end once it is known, and forgets the run once its
 * child is reaped too. A failed start is reported at once, before the
 * reap: a child SIGKILLed inside a FUSE request the server already took
 * cannot die until the server answers (the kernel waits for it
 * uninterruptibly), and its run must not hold a slot meanwhile; the
 * child stays watched and is reaped whenever it dies.
 */
static void
exec_spawner_settle(struct exec_spawner_run *r)
{
	uint64_t id = r->job_id;

	if (r->failed) {
		int err = r->err;
		char why[SPAWNER_MSG_MAX];
		bool done = r->reaped || !r->created;

		if (r->reported) {
			if (done)
				exec_spawner_forget(r);
			return;
		}
		memcpy(why, r->why, sizeof(why));
		r->reported = true;
		if (done)
			exec_spawner_forget(r);
		exec_backend_failed(id, err, why);
	} else if (r->execed && r->reaped) {
		bool sig = r->exit_signaled;
		int code = r->exit_code;

		exec_spawner_forget(r);
		exec_backend_exited(id, sig, code, false);
	}
}

static void
exec_spawner_signal(struct exec_spawner_run *r, int sig)
{
	/* Not reaped: the pid still names the child and its group. */
	kill(-r->pid, sig);
	(void)syscall(SYS_pidfd_send_signal, r->pidfd, sig, NULL, 0);
	if (r->cgroup) /* and what left the group */
		(void)hookcg_kill(r->job_id, sig);
}

static void
exec_spawner_created(struct exec_spawner_run *r, pid_t pid, int pidfd)
{
	r->created = true;
	r->pid = pid;
	r->pidfd = pidfd;
	r->ev = event_new(X.base, pidfd, EV_READ | EV_PERSIST,
	                  exec_spawner_pid_cb, r);
	if (r->ev == NULL || event_add(r->ev, NULL) < 0) {
		/* Cannot watch it: kill it, reap it now (SIGKILL is quick,
		 * and a stopped child dies of it too). */
		siginfo_t si;

		exec_spawner_signal(r, SIGKILL);
		while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED) < 0 &&
		       errno == EINTR)
			;
		r->reaped = true;
		r->failed = true;
		r->err = ENOMEM;
		snprintf(r->why, sizeof(r->why), "event_new: %s",
		         strerror(ENOMEM));
		return;
	}
	if (r->pending_sig != 0)
		exec_spawner_signal(r, r->pending_sig);
}

static void
exec_spawner_pid_cb(evutil_socket_t fd, short what, void *arg)
{
	struct exec_spawner_run *r = arg;
	siginfo_t si;
	int rc;

	if (r->signalled)
		kill(-r->pid, SIGKILL); /* the zombie pins the group id */
	memset(&si, 0, sizeof(si));
	do
		rc = waitid((idtype_t)P_PIDFD, (id_t)r->pidfd, &si,
		            WEXITED | WNOHANG);
	while (rc < 0 && errno == EINTR);
	if (rc == 0 && si.si_pid == 0)
		return; /* not yet */
	r->reaped = true;
	event_free(r->ev);
	r->ev = NULL;
	close(r->pidfd);
	r->pidfd = -1;
	if (rc < 0) { /* ECHILD: reaped elsewhere (SIGCHLD ignored?) */
		r->exit_signaled = false;
		r->exit_code = 127;
	} else if (si.si_code == CLD_EXITED) {
		r->exit_signaled = false;
		r->exit_code = si.si_status;
	} else {
		r->exit_signaled = true;
		r->exit_code = si.si_status;
	}
	/* A child that exited with a status other than 127 ran the program
	 * (before execve it ends only by _exit(127) or a signal): no need
	 * to wait for the spawner to say so, its EXECED is ignored. */
	if (!r->execed && !r->failed && !r->exit_signaled &&
	    r->exit_code != 127) {
		r->execed = true;
		exec_backend_started(r->job_id, r->pid, NULL);
	}
	if (X.gone && !r->execed && !r->failed) {
		r->failed = true;
		r->err = EPIPE;
		snprintf(r->why, sizeof(r->why), "the spawner is gone");
	}
	exec_spawner_settle(r);
}

/* One reply from the spawner. */
static void
exec_spawner_reply(const struct spawner_rep *rep, int fd)
{
	struct exec_spawner_run *r = idmap_get(X.runs, rep->job_id + 1);

	if (r == NULL) { /* a run forgotten by ->shutdown */
		if (fd >= 0)
			close(fd);
		return;
	}
	switch (rep->type) {
	case SPAWNER_REP_CREATED:
		if (fd < 0 || r->created || rep->pid <= 0) {
			if (fd >= 0)
				close(fd);
			break;
		}
		exec_spawner_created(r, rep->pid, fd);
		exec_spawner_settle(r);
		return;
	case SPAWNER_REP_EXECED:
		if (r->execed)
			break; /* known from its exit status already */
		r->execed = true;
		exec_backend_started(rep->job_id, r->pid, NULL);
		break;
	case SPAWNER_REP_FAILED:
		r->failed = true;
		r->err = rep->err > 0 ? rep->err : EIO;
		memcpy(r->why, rep->msg, sizeof(r->why));
		r->why[sizeof(r->why) - 1] = '\0';
		break;
	}
	if (fd >= 0)
		close(fd);
	/* started may have re-entered the runner, which never forgets a
	 * run of ours synchronously: r is still ours. */
	exec_spawner_settle(r);
}

/* Replies read while a send waited for room (exec_spawner_sendmsg):
 * handled on the next turn, never from inside ->start. */
struct exec_spawner_deferred {
	struct spawner_rep rep;
	int fd;
};
static struct exec_spawner_deferred *deferred;
static size_t ndeferred, deferred_cap;

static bool
exec_spawner_defer(const struct spawner_rep *rep, int fd)
{
	if (ndeferred == deferred_cap) {
		size_t cap = deferred_cap > 0 ? 2 * deferred_cap : 64;
		struct exec_spawner_deferred *d =
		    realloc(deferred, cap * sizeof(*d));

		if (d == NULL)
			return false;
		deferred = d;
		deferred_cap = cap;
	}
	deferred[ndeferred].rep = *rep;
	deferred[ndeferred].fd = fd;
	ndeferred++;
	return true;
}

/* Reads one reply and handles it (or keeps it for later when defer);
 * false when there is none (or the socket failed). */
static bool
exec_spawner_read(int flags, bool defer)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 4)];
	struct spawner_rep rep;
	struct iovec iov = {&rep, sizeof(rep)};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = cbuf,
	                    .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *c;
	int fd = -1;
	ssize_t n;

	n = recvmsg(spawner_fd(), &mh, flags | MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return false;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (fd < 0)
				fd = f;
			else
				close(f);
		}
	}
	if ((size_t)n != sizeof(rep)) {
		if (fd >= 0)
			close(fd);
		return true;
	}
	rep.msg[sizeof(rep.msg) - 1] = '\0';
	if (defer && exec_spawner_defer(&rep, fd))
		return true;
	if (defer) {
		/* Out of memory while waiting: the reply is lost; its run
		 * stays until shutdown. Tell the operator. */
		log_warnx("exec: out of memory: lost a reply of the spawner "
		          "for job %" PRIu64, rep.job_id);
		if (fd >= 0)
			close(fd);
		return true;
	}
	exec_spawner_reply(&rep, fd);
	return true;
}

static void
exec_spawner_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	/* What a send had to read first, in order, then new replies;
	 * bounded: other loop work goes on during a burst. */
	for (size_t i = 0; i < ndeferred && X.runs != NULL; i++)
		exec_spawner_reply(&deferred[i].rep, deferred[i].fd);
	ndeferred = 0;
	for (int i = 0; i < 256 && X.runs != NULL; i++)
		if (!exec_spawner_read(MSG_DONTWAIT, false))
			break;
}

/* The spawner died: no more starts; runs waiting for it fail. */
static void
exec_spawner_gone_cb(evutil_socket_t fd, short what, void *arg)
{
	struct exec_spawner_run *r;
	siginfo_t si;
	size_t it = 0;

	memset(&si, 0, sizeof(si));
	(void)waitid((idtype_t)P_PIDFD, (id_t)X.spawner_pidfd, &si,
	             WEXITED | WNOHANG);
	/* One that lived long restarts at once, one that keeps dying
	 * young less and less often. */
	if (exec_spawner_ms() - X.started_ms > EXEC_SPAWNER_RESTART_MAX_MS)
		X.backoff_ms = EXEC_SPAWNER_RESTART_MS;
	log_warnx("exec: the hook spawner (pid %ld) died (%s %d); hooks "
	          "fail to start until it is back, in %" PRId64 " ms",
	          (long)spawner_pid(),
	          si.si_code == CLD_EXITED ? "status" : "signal", si.si_status,
	          X.backoff_ms);
	X.gone = true;
	if (X.ev_sock != NULL) {
		/* Its socket is at EOF: it would wake the loop for ever. */
		event_free(X.ev_sock);
		X.ev_sock = NULL;
	}
	ndeferred = 0;
	{
		struct timeval tv = {X.backoff_ms / 1000,
		                     (X.backoff_ms % 1000) * 1000};

		if (X.ev_restart != NULL)
			evtimer_add(X.ev_restart, &tv);
	}
	X.backoff_ms = X.backoff_ms * 2 > EXEC_SPAWNER_RESTART_MAX_MS
	                   ? EXEC_SPAWNER_RESTART_MAX_MS
	                   : X.backoff_ms * 2;
	event_free(X.ev_spawner);
	X.ev_spawner = NULL;
	close(X.spawner_pidfd);
	X.spawner_pidfd = -1;
	/* Collect first: settling a run removes it from the map. */
	for (;;) {
		it = 0;
		while ((r = idmap_next(X.runs, &it, NULL)) != NULL)
			if (!r->execed && !r->failed &&
			    (!r->created || r->reaped))
				break;
		if (r == NULL)
			break;
		r->failed = true;
		r->err = EPIPE;
		snprintf(r->why, sizeof(r->why), "the spawner is gone");
		exec_spawner_settle(r);
	}
}

/* Watches the current spawner: its socket and its death. */
static int
exec_spawner_watch(struct event_base *base)
{
	X.ev_sock = event_new(base, spawner_fd(), EV_READ | EV_PERSIST,
	                      exec_spawner_sock_cb, NULL);
	if (X.ev_sock == NULL || event_add(X.ev_sock, NULL) < 0)
		return -ENOMEM;
	if (X.spawner_pidfd < 0)
		X.spawner_pidfd =
		    (int)syscall(SYS_pidfd_open, spawner_pid(), 0);
	if (X.spawner_pidfd >= 0) {
		X.ev_spawner = event_new(base, X.spawner_pidfd, EV_READ,
		                         exec_spawner_gone_cb, NULL);
		if (X.ev_spawner == NULL || event_add(X.ev_spawner, NULL) < 0)
			return -ENOMEM;
	}
	X.started_ms = exec_spawner_ms();
	return 0;
}

static void
exec_spawner_restart_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv;
	int r;

	if ((r = spawner_restart()) < 0 ||
	    (r = exec_spawner_watch(X.base)) < 0) {
		errno = -r;
		log_warn("exec: cannot restart the hook spawner; again in "
		         "%" PRId64 " ms",
		         X.backoff_ms);
		tv.tv_sec = X.backoff_ms / 1000;
		tv.tv_usec = (X.backoff_ms % 1000) * 1000;
		evtimer_add(X.ev_restart, &tv);
		return;
	}
	X.gone = false;
	log_notice("exec: restarted the hook spawner (pid %ld)",
	           (long)spawner_pid());
}

static int
exec_spawner_init(struct event_base *base)
{
	int r;

	if (X.base != NULL)
		return -EALREADY;
	if (spawner_fd() < 0 && (r = spawner_start()) < 0)
		return r;
	X.runs = idmap_new();
	X.ev_restart = evtimer_new(base, exec_spawner_restart_cb, NULL);
	X.backoff_ms = EXEC_SPAWNER_RESTART_MS;
	if (X.runs == NULL || X.ev_restart == NULL ||
	    exec_spawner_watch(base) < 0)
		goto nomem;
	if ((r = hookcg_init(base, spawner_pid())) < 0)
		goto nomem;
	X.base = base;
	return 0;
nomem:
	if (X.ev_restart != NULL)
		event_free(X.ev_restart);
	if (X.ev_spawner != NULL)
		event_free(X.ev_spawner);
	if (X.ev_sock != NULL)
		event_free(X.ev_sock);
	X.ev_restart = NULL;
	idmap_free(X.runs);
	X.ev_spawner = X.ev_sock = NULL;
	X.runs = NULL;
	return -ENOMEM;
}

/*
 * What the spawner applies of a run's properties into h: Nice= and
 * Limit*= (the others need a cgroup or a mount namespace, which
 * jobprop_check refused at schedule time for this backend). jobprop is
 * the one parser; repeated keys fold the way systemd applies a unit's
 * properties, the last one winning. An entry that no longer parses (a
 * negative Nice= whose owner lost root) is skipped, as before.
 */
static void
exec_spawner_props(const struct exec_launch *l, struct spawner_req *h)
{
	h->nice = SPAWNER_NO_NICE;
	h->rlim_set = 0;
	for (size_t i = 0; i < l->nprops; i++) {
		struct jobprop jp;
		char why[8];
		int slot;

		if (jobprop_parse(l->props[i], l->uid, &jp, why, sizeof why) < 0)
			continue;
		switch (jp.key) {
		case JOBPROP_NICE:
			h->nice = jp.nice;
			continue;
		case JOBPROP_LIMIT_NOFILE:
			slot = SPAWNER_RLIM_NOFILE;
			break;
		case JOBPROP_LIMIT_CORE:
			slot = SPAWNER_RLIM_CORE;
			break;
		case JOBPROP_LIMIT_NPROC:
			slot = SPAWNER_RLIM_NPROC;
			break;
		default:
			continue;
		}
		h->rlim_set |= 1u << slot;
		h->rlim[slot].soft = jp.value;
		h->rlim[slot].hard = jp.value_hard;
	}
}

/*
 * Sends one packet, waiting for room without ever deadlocking: the
 * spawner blocks when evd's receive queue is full, so while evd waits for
 * room it reads (and keeps for the next turn) what the spawner sends. The
 * spawner is ours and never waits for a child, so the wait is short.
 */
static int
exec_spawner_sendmsg(const struct msghdr *mh)
{
	for (;;) {
		struct pollfd pfd = {.fd = spawner_fd(),
		                     .events = POLLOUT | POLLIN};
		ssize_t n = sendmsg(spawner_fd(), mh, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n >= 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -errno;
		if (pfd.revents & (POLLHUP | POLLERR))
			return -EPIPE;
		if (pfd.revents & POLLIN)
			while (exec_spawner_read(MSG_DONTWAIT, true))
				;
	}
}

/* fds: stdin, stdout, stderr, and the cgroup's procs with
 * SPAWNER_REQ_CGROUP. */
static int
exec_spawner_send(const struct spawner_req *h, const char *blob, size_t len,
                  const int fds[4])
{
	int nfds = h->flags & SPAWNER_REQ_CGROUP ? 4 : 3;
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	size_t first = len < SPAWNER_CHUNK ? len : SPAWNER_CHUNK, off, k;
	struct iovec iov[2] = {{(void *)h, sizeof(*h)},
	                       {(void *)blob, first}};
	struct msghdr mh = {.msg_iov = iov,
	                    .msg_iovlen = 2,
	                    .msg_control = cbuf,
	                    .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
	struct cmsghdr *c;
	ssize_t n;

	memset(cbuf, 0, sizeof(cbuf));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
	memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	if ((n = exec_spawner_sendmsg(&mh)) < 0)
		return (int)n;
	for (off = first; off < len; off += k) {
		struct iovec one = {(void *)(blob + off), 0};
		struct msghdr m2 = {.msg_iov = &one, .msg_iovlen = 1};

		k = len - off < SPAWNER_CHUNK ? len - off : SPAWNER_CHUNK;
		one.iov_len = k;
		if ((n = exec_spawner_sendmsg(&m2)) < 0)
			return (int)n;
	}
	return 0;
}

static int
exec_spawner_start(const struct exec_launch *l)
{
	struct spawner_req h;
	struct exec_spawner_run *r;
	const char *user = l->user != NULL ? l->user : "";
	const char *cwd = l->cwd != NULL ? l->cwd : "";
	int fds[4] = {l->stdin_fd, l->stdout_fd, l->stderr_fd, -1};
	size_t len, envc = 0;
	char *blob, *p;
	int e;

	if (X.gone)
		return -EPIPE;
	len = strlen(user) + strlen(l->prog) + strlen(cwd) + 3;
	memset(&h, 0, sizeof(h));
	for (; l->argv[h.argc] != NULL; h.argc++)
		len += strlen(l->argv[h.argc]) + 1;
	for (; l->envp[envc] != NULL; envc++)
		len += strlen(l->envp[envc]) + 1;
	if (len > SPAWNER_BLOB_MAX)
		return -E2BIG;
	h.job_id = l->job_id;
	h.uid = l->uid;
	h.gid = l->gid;
	exec_spawner_props(l, &h);
	h.set_ids = l->set_ids;
	h.envc = (uint32_t)envc;
	h.blob_len = (uint32_t)len;
	if ((blob = malloc(len)) == NULL)
		return -ENOMEM;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		free(blob);
		return -ENOMEM;
	}
	if (hookcg_enabled()) {
		char why[256];

		if ((e = hookcg_create(l->job_id, l->props, l->nprops, l->uid,
		                       &fds[3], why, sizeof why)) < 0) {
			log_about(LOG_LEVEL_WARNING,
				  LOG_FIRE_NOUID(l->timer_id, l->fire_id),
				  "timer %" PRIu64 " fire %" PRIu64
				  ": no cgroup "
				  "for the hook: %s",
				  l->timer_id, l->fire_id, why);
			free(r);
			free(blob);
			return e;
		}
		h.flags |= SPAWNER_REQ_CGROUP;
		r->cgroup = true;
	}
	p = blob;
	p = stpcpy(p, user) + 1;
	p = stpcpy(p, l->prog) + 1;
	p = stpcpy(p, cwd) + 1;
	for (size_t i = 0; i < h.argc; i++)
		p = stpcpy(p, l->argv[i]) + 1;
	for (size_t i = 0; i < envc; i++)
		p = stpcpy(p, l->envp[i]) + 1;
	r->job_id = l->job_id;
	r->pidfd = -1;
	/* job ids start at 1, but idmap refuses key 0 whatever they are */
	if ((e = idmap_put(X.runs, l->job_id + 1, r)) < 0) {
		if (r->cgroup) {
			close(fds[3]);
			hookcg_remove(l->job_id);
		}
		free(r);
		free(blob);
		return e;
	}
	e = exec_spawner_send(&h, blob, len, fds);
	free(blob);
	if (fds[3] >= 0)
		close(fds[3]);
	if (ndeferred > 0)
		event_active(X.ev_sock, EV_READ, 1);
	if (e < 0) {
		idmap_del(X.runs, l->job_id + 1);
		if (r->cgroup)
			hookcg_remove(l->job_id);
		free(r);
	}
	return e;
}

static int
exec_spawner_kill(uint64_t job_id, int sig)
{
	struct exec_spawner_run *r =
	    X.runs != NULL ? idmap_get(X.runs, job_id + 1) : NULL;

	if (r == NULL || r->reported)
		return -ENOENT;
	r->signalled = true;
	if (!r->created)
		r->pending_sig = sig;
	else if (!r->reaped)
		exec_spawner_signal(r, sig);
	return 0;
}

/* Kills every run, waits for the spawner to name the ones it is still
 * creating (it answers at once: clone3 does not wait for the child),
 * reaps them all. Blocking, but only on SIGKILLed children. */
static void
exec_spawner_shutdown(void)
{
	struct exec_spawner_run *r;
	size_t it;
	int64_t left_ms = 2000;

	if (X.base == NULL)
		return;
	/* Replies kept by a send first: they name children to kill. */
	for (size_t i = 0; i < ndeferred; i++)
		exec_spawner_reply(&deferred[i].rep, deferred[i].fd);
	ndeferred = 0;
	for (;;) {
		bool waiting = false;

		it = 0;
		while ((r = idmap_next(X.runs, &it, NULL)) != NULL) {
			r->signalled = true;
			if (r->created && !r->reaped)
				exec_spawner_signal(r, SIGKILL);
			if (!r->created && !r->failed)
				waiting = true;
		}
		if (!waiting || X.gone || left_ms <= 0)
			break;
		{
			struct pollfd pfd = {.fd = spawner_fd(), .events = POLLIN};

			/* A reply may settle a run: the runner is
			 * stopping and ignores what we report. */
			if (poll(&pfd, 1, 100) > 0)
				(void)exec_spawner_read(MSG_DONTWAIT, false);
			left_ms -= 100;
		}
	}
	/* SIGKILLed children die at once, except one the kernel holds in a
	 * FUSE request its server never answers: bounded, it stays a
	 * zombie of an exiting evd. */
	left_ms = 3000;
	it = 0;
	while ((r = idmap_next(X.runs, &it, NULL)) != NULL) {
		struct pollfd pfd = {.fd = r->pidfd, .events = POLLIN};
		siginfo_t si;
		int64_t t0 = exec_spawner_ms();

		if (!r->created || r->reaped)
			continue;
		if (left_ms > 0 && poll(&pfd, 1, (int)left_ms) > 0)
			(void)waitid((idtype_t)P_PIDFD, (id_t)r->pidfd, &si,
			             WEXITED | WNOHANG);
		left_ms -= exec_spawner_ms() - t0;
	}
	for (;;) {
		it = 0;
		r = idmap_next(X.runs, &it, NULL);
		if (r == NULL)
			break;
		idmap_del(X.runs, r->job_id + 1);
		if (r->ev != NULL)
			event_free(r->ev);
		if (r->pidfd >= 0)
			close(r->pidfd);
		if (r->cgroup)
			hookcg_remove(r->job_id);
		free(r);
	}
	hookcg_shutdown();
	idmap_free(X.runs);
	X.runs = NULL;
	if (X.ev_sock != NULL)
		event_free(X.ev_sock);
	X.ev_sock = NULL;
	if (X.ev_spawner != NULL)
		event_free(X.ev_spawner);
	X.ev_spawner = NULL;
	event_free(X.ev_restart);
	X.ev_restart = NULL;
	X.base = NULL;
}

/* Nice= always; the cgroup properties where evd's delegated subtree has
 * the controllers (hookcg.h). */
static unsigned
exec_spawner_honours(void)
{
	return EXEC_HONOURS_NICE | (hookcg_limits() ? EXEC_HONOURS_CGROUP : 0);
}

const struct exec_backend exec_backend_spawner = {
    .name = "spawner",
    .honours = exec_spawner_honours,
    .init = exec_spawner_init,
    .start = exec_spawner_start,
    .kill = exec_spawner_kill,
    .shutdown = exec_spawner_shutdown,
};
