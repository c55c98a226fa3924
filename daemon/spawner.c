/*
 * spawner: the privileged helper that creates every exec hook's process
 * (wire format in spawner.h; evd's side is exec_spawner.c).
 *
 * Why a separate process: evd's loop must never wait for a process a user
 * controls. A child between setresuid() and execve() belongs to its owner,
 * who can SIGSTOP it, and chdir() into the owner's FUSE mount can hang for
 * ever; with vfork the parent waited for exactly that. Here evd only sends
 * a request and reads replies on its loop; the spawner creates the child
 * with clone3 (a copy, never vfork: it does not wait for the child
 * either), watches every not-yet-exec'd child's report pipe in one poll
 * loop, and SIGKILLs (pidfd_send_signal) a child that has not exec'd
 * within SPAWNER_DEADLINE_NS.
 *
 * Why fork() at start-up rather than posix_spawn of /proc/self/exe: the
 * fork happens first thing in main(), before any thread, before the store
 * is loaded and before the libevent base exists, so the copied address
 * space is small and holds nothing secret; and the test programs that
 * link the daemon's core (test_exec) get the same spawner without having
 * to dispatch a hidden argument in their own main(). The price: it cannot
 * be restarted once evd has threads. If it dies, evd logs it and every
 * later hook fails to start with "the spawner is gone" (exec_spawner.c);
 * it has no input but evd's requests, so that is a bug, not an attack.
 *
 * The child is created with CLONE_PARENT | CLONE_PIDFD: its parent is evd,
 * which reaps it with the pidfd the spawner hands back, so the spawner
 * never waits for anything but its own poll. The spawner is
 * single-threaded, so the child (a full copy, not sharing memory) may use
 * ordinary libc: NSS (getpwnam, getgrouplist) runs there, at fire time,
 * as issue 14 item 5 asks, and never on evd's loop. One caveat of a raw
 * clone3: glibc's cached thread id in the child is the spawner's, so the
 * child must not use raise()/abort() (it does not). Identity changes use
 * raw syscalls for the same reason.
 *
 * Trust: evd is the only peer, but every length and count in a request is
 * bounded and checked; a malformed request fails (its fds are closed) and
 * the spawner carries on. It exits when evd goes away (EOF, or
 * PR_SET_PDEATHSIG), SIGKILLing the children that have not exec'd yet.
 */
#include "spawner.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"
#include "log.h"

#ifndef CLONE_PARENT
#define CLONE_PARENT 0x00008000
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define SPAWNER_ARGC_MAX 8192
#define SPAWNER_ENVC_MAX 4096
#define SPAWNER_NOFILE_CHILD 1024

/* clone3's argument, version 2 (with cgroup); our own copy so that
 * <linux/sched.h> need not be mixed with glibc's <sched.h>. */
struct spawner_clone_args {
	uint64_t flags;
	uint64_t pidfd;
	uint64_t child_tid;
	uint64_t parent_tid;
	uint64_t exit_signal;
	uint64_t stack;
	uint64_t stack_size;
	uint64_t tls;
	uint64_t set_tid;
	uint64_t set_tid_size;
	uint64_t cgroup;
};

/* child -> spawner, over a CLOEXEC pipe: EOF alone means it exec'd. */
struct spawner_child_rep {
	int32_t err;
	char msg[SPAWNER_MSG_MAX];
};

/* A child created and not yet exec'd or failed. Owner: the spawner. */
struct spawner_pend {
	uint64_t job_id;
	pid_t pid;
	int pidfd;
	int rfd; /* the report pipe's read end */
	int64_t deadline_ns;
};

/* A request being received (its strings may span several packets). */
struct spawner_partial {
	bool active;
	struct spawner_req h;
	int fds[4]; /* stdin, stdout, stderr; the cgroup's procs or -1 */
	char *blob;
	size_t have;
};

/* evd's side. */
static struct {
	int fd;
	pid_t pid;
} S = {.fd = -1};

int
spawner_fd(void)
{
	return S.fd;
}

pid_t
spawner_pid(void)
{
	return S.pid;
}

/* ---- the spawner process ---- */

static int64_t
spawner_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
spawner_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A blocking send: evd reads replies on its loop and never stalls long. */
static void
spawner_send(int sock, const struct spawner_rep *rep, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {(void *)rep, sizeof(*rep)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		_exit(0); /* evd is gone */
}

static void __attribute__((format(printf, 4, 5)))
spawner_send_failed(int sock, uint64_t job_id, int err, const char *fmt, ...)
{
	struct spawner_rep rep;
	va_list ap;

	memset(&rep, 0, sizeof(rep));
	rep.job_id = job_id;
	rep.type = SPAWNER_REP_FAILED;
	rep.err = err;
	va_start(ap, fmt);
	vsnprintf(rep.msg, sizeof(rep.msg), fmt, ap);
	va_end(ap);
	spawner_send(sock, &rep, -1);
}

/* Signals the spawner ignores; every other one is at its default there. */
static const int spawner_quiet[] = {SIGINT,  SIGQUIT, SIGHUP,  SIGTERM,
                                    SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE,
                                    SIGUSR1, SIGUSR2};

/* ---- the child (a copy of the single-threaded spawner) ---- */

struct spawner_job {
	const struct spawner_req *h;
	const char *user; /* NULL: none */
	const char *prog;
	const char *cwd; /* NULL: home, else / */
	char **argv;
	char **envp;
	int fds[4];
	int report_fd;
};

static void __attribute__((noreturn, format(printf, 3, 4)))
spawner_child_fail(const struct spawner_job *j, int err, const char *fmt,
                   ...)
{
	struct spawner_child_rep rep;
	va_list ap;
	ssize_t n;

	memset(&rep, 0, sizeof(rep));
	rep.err = err;
	va_start(ap, fmt);
	vsnprintf(rep.msg, sizeof(rep.msg), fmt, ap);
	va_end(ap);
	do
		n = write(j->report_fd, &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	_exit(127);
}

static bool
spawner_env_has(char **envp, const char *key)
{
	size_t klen = strlen(key);

	for (; *envp != NULL; envp++)
		if (strncmp(*envp, key, klen) == 0 && (*envp)[klen] == '=')
			return true;
	return false;
}

/* The runner's envp plus what the passwd entry says, unless present. */
static char **
spawner_child_env(char **envp, const struct passwd *pw)
{
	const char *add[][2] = {
	    {"HOME", pw != NULL ? pw->pw_dir : "/"},
	    {"USER", pw != NULL ? pw->pw_name : NULL},
	    {"LOGNAME", pw != NULL ? pw->pw_name : NULL},
	    {"SHELL", pw != NULL && pw->pw_shell != NULL &&
	                      pw->pw_shell[0] != '\0'
	                  ? pw->pw_shell
	                  : "/bin/sh"},
	    {"PATH", EXEC_PATH},
	};
	size_t n = 0, k = 0;
	char **out;

	while (envp[n] != NULL)
		n++;
	out = calloc(n + 6, sizeof(char *));
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(add) / sizeof(add[0]); i++) {
		if (add[i][1] == NULL || spawner_env_has(envp, add[i][0]))
			continue;
		if (asprintf(&out[k], "%s=%s", add[i][0], add[i][1]) < 0)
			return NULL;
		k++;
	}
	for (size_t i = 0; i < n; i++)
		out[k++] = envp[i];
	out[k] = NULL;
	return out;
}

/*
 * Limit*= of the job, after the drop to the owner: an unprivileged
 * process can only lower its hard limit, and both halves are clamped to
 * the hard limit the child has now (evd's own, or the owner's when the
 * owner is root, who could raise it: clamping keeps "never past evd's"
 * true for root's hooks too). A lower RLIMIT_NPROC set here does not stop
 * this execve (the kernel judges that at setuid time), only the hook's
 * own forks, where the limit is meant to bite.
 */
static void
spawner_child_rlimits(const struct spawner_job *j)
{
	static const int res[SPAWNER_RLIM_COUNT] = {
	    [SPAWNER_RLIM_NOFILE] = RLIMIT_NOFILE,
	    [SPAWNER_RLIM_CORE] = RLIMIT_CORE,
	    [SPAWNER_RLIM_NPROC] = RLIMIT_NPROC,
	};
	static const char *const names[SPAWNER_RLIM_COUNT] = {
	    [SPAWNER_RLIM_NOFILE] = "LimitNOFILE",
	    [SPAWNER_RLIM_CORE] = "LimitCORE",
	    [SPAWNER_RLIM_NPROC] = "LimitNPROC",
	};
	const struct spawner_req *h = j->h;

	for (int i = 0; i < SPAWNER_RLIM_COUNT; i++) {
		struct rlimit rl;
		rlim_t soft = (rlim_t)h->rlim[i].soft;
		rlim_t hard = (rlim_t)h->rlim[i].hard;

		if (!(h->rlim_set & (1u << i)))
			continue;
		if (getrlimit(res[i], &rl) < 0)
			spawner_child_fail(j, errno, "%s: %s", names[i],
			                   strerror(errno));
		if (hard > rl.rlim_max)
			hard = rl.rlim_max;
		if (soft > hard)
			soft = hard;
		rl.rlim_cur = soft;
		rl.rlim_max = hard;
		if (setrlimit(res[i], &rl) < 0)
			spawner_child_fail(j, errno, "%s: %s", names[i],
			                   strerror(errno));
	}
}

static void __attribute__((noreturn))
spawner_child(const struct spawner_job *j)
{
	static const char *const dirs[] = {"/usr/local/bin", "/usr/bin",
	                                   "/bin"};
	const struct spawner_req *h = j->h;
	struct passwd *pw = NULL;
	struct sigaction dfl;
	struct rlimit rl;
	sigset_t none;
	char **envp;
	int err = ENOENT;
	bool eacces = false;

	/* The spawner reset every other signal at its start (a handler
	 * would be reset by execve, but an ignored signal would not). */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (size_t i = 0; i < sizeof(spawner_quiet) / sizeof(spawner_quiet[0]);
	     i++)
		(void)sigaction(spawner_quiet[i], &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	if (setsid() < 0)
		spawner_child_fail(j, errno, "setsid: %s", strerror(errno));
	/* Into the run's own cgroup before anything can fork, while still
	 * privileged: the whole tree is then reachable by cgroup.kill. */
	if (j->fds[3] >= 0 && write(j->fds[3], "0", 1) != 1)
		spawner_child_fail(j, errno, "joining the hook's cgroup: %s",
		                   strerror(errno));
	/* The received fds are all >= 3 (the spawner keeps 0-2 open), so
	 * no dup2 is a no-op that would keep CLOEXEC, and none clobbers
	 * another. */
	for (int fd = 0; fd < 3; fd++)
		if (dup2(j->fds[fd], fd) < 0)
			spawner_child_fail(j, errno, "dup2: %s",
			                   strerror(errno));
	(void)syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
	if (getrlimit(RLIMIT_CORE, &rl) == 0) {
		rl.rlim_cur = 0;
		(void)setrlimit(RLIMIT_CORE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur > SPAWNER_NOFILE_CHILD) {
		rl.rlim_cur = SPAWNER_NOFILE_CHILD;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			spawner_child_fail(j, errno, "setrlimit: %s",
			                   strerror(errno));
	}
	umask(022);

	/* Identity at fire time: the name must still map to the uid. */
	errno = 0;
	if (j->user != NULL) {
		pw = getpwnam(j->user);
		if (pw == NULL)
			spawner_child_fail(j, ENOENT, "user %s not found",
			                   j->user);
		if (pw->pw_uid != h->uid)
			spawner_child_fail(j, EPERM,
			                   "user %s no longer has uid %u",
			                   j->user, (unsigned)h->uid);
	} else {
		pw = getpwuid(h->uid);
		if (pw == NULL && h->set_ids)
			spawner_child_fail(j, ENOENT,
			                   "uid %u has no passwd entry",
			                   (unsigned)h->uid);
	}
	if (h->set_ids) {
		gid_t gid = pw->pw_gid;
		gid_t groups[1024];
		int ng = 1024;

		/* The current primary group and supplementary groups, not
		 * the ones of schedule time. */
		if (getgrouplist(pw->pw_name, gid, groups, &ng) < 0)
			spawner_child_fail(j, E2BIG, "user %s is in more than "
			                   "1024 groups", pw->pw_name);
		if (syscall(SYS_setgroups, (size_t)ng, groups) < 0)
			spawner_child_fail(j, errno, "setgroups: %s",
			                   strerror(errno));
		if (syscall(SYS_setresgid, gid, gid, gid) < 0)
			spawner_child_fail(j, errno, "setgid: %s",
			                   strerror(errno));
		if (syscall(SYS_setresuid, h->uid, h->uid, h->uid) < 0)
			spawner_child_fail(j, errno, "setuid: %s",
			                   strerror(errno));
		/* Never run a hook with privileges it was not given. */
		if ((uid_t)syscall(SYS_geteuid) != h->uid ||
		    (gid_t)syscall(SYS_getegid) != gid)
			spawner_child_fail(j, EPERM, "setuid: %s",
			                   strerror(EPERM));
	}
	/* After dropping privilege: a nice value can only restrict. */
	if (h->nice != SPAWNER_NO_NICE &&
	    setpriority(PRIO_PROCESS, 0, h->nice) < 0)
		spawner_child_fail(j, errno, "nice %d: %s", (int)h->nice,
		                   strerror(errno));
	spawner_child_rlimits(j);
	if (j->cwd != NULL) {
		if (chdir(j->cwd) < 0)
			spawner_child_fail(j, errno, "chdir %.160s: %s",
			                   j->cwd, strerror(errno));
	} else if (pw == NULL || chdir(pw->pw_dir) < 0) {
		if (chdir("/") < 0)
			spawner_child_fail(j, errno, "chdir /: %s",
			                   strerror(errno));
	}
	envp = spawner_child_env(j->envp, pw);
	if (envp == NULL)
		spawner_child_fail(j, ENOMEM, "environment: %s",
		                   strerror(ENOMEM));
	if (strchr(j->prog, '/') != NULL) {
		execve(j->prog, j->argv, envp);
		err = errno;
	} else {
		for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
			char path[4096];

			if (snprintf(path, sizeof(path), "%s/%s", dirs[i],
			             j->prog) >= (int)sizeof(path)) {
				err = ENAMETOOLONG;
				break;
			}
			execve(path, j->argv, envp);
			err = errno;
			if (err == EACCES)
				eacces = true;
			else if (err != ENOENT && err != ENOTDIR)
				break;
		}
		if (eacces && (err == ENOENT || err == ENOTDIR))
			err = EACCES;
	}
	spawner_child_fail(j, err, "execve %.160s: %s", j->prog,
	                   strerror(err));
}

/* ---- the request loop ---- */

static struct spawner_pend *pend;
static size_t npend;

static void
spawner_partial_clear(struct spawner_partial *p)
{
	for (int i = 0; i < 4; i++)
		spawner_close(&p->fds[i]);
	free(p->blob);
	memset(p, 0, sizeof(*p));
	p->fds[0] = p->fds[1] = p->fds[2] = p->fds[3] = -1;
}

/* Only the known limits, each soft <= hard (as jobprop makes them). */
static bool
spawner_rlim_valid(const struct spawner_req *h)
{
	if (h->rlim_set & ~((1u << SPAWNER_RLIM_COUNT) - 1))
		return false;
	for (int i = 0; i < SPAWNER_RLIM_COUNT; i++)
		if ((h->rlim_set & (1u << i)) && h->rlim[i].soft > h->rlim[i].hard)
			return false;
	return true;
}

/* Splits the blob into its strings; false if it is not exactly what the
 * header announced. argv/envp point into the blob. */
static bool
spawner_parse(struct spawner_partial *p, struct spawner_job *j)
{
	size_t want = 3 + (size_t)p->h.argc + p->h.envc, n = 0;
	const char **s;
	char *c = p->blob, *end = p->blob + p->h.blob_len;

	s = calloc(want, sizeof(char *));
	j->argv = calloc((size_t)p->h.argc + 1, sizeof(char *));
	j->envp = calloc((size_t)p->h.envc + 1, sizeof(char *));
	if (s == NULL || j->argv == NULL || j->envp == NULL)
		goto bad;
	while (c < end && n < want) {
		char *z = memchr(c, '\0', (size_t)(end - c));

		if (z == NULL)
			goto bad;
		s[n++] = c;
		c = z + 1;
	}
	if (n != want || c != end || s[1][0] == '\0')
		goto bad;
	j->user = s[0][0] != '\0' ? s[0] : NULL;
	j->prog = s[1];
	j->cwd = s[2][0] != '\0' ? s[2] : NULL;
	for (size_t i = 0; i < p->h.argc; i++)
		j->argv[i] = (char *)s[3 + i];
	for (size_t i = 0; i < p->h.envc; i++)
		j->envp[i] = (char *)s[3 + p->h.argc + i];
	free(s);
	return true;
bad:
	free(s);
	free(j->argv);
	free(j->envp);
	j->argv = j->envp = NULL;
	return false;
}

static void
spawner_spawn(int sock, struct spawner_partial *p)
{
	struct spawner_job j;
	struct spawner_clone_args ca;
	struct spawner_rep rep;
	int rep_fds[2] = {-1, -1};
	int pidfd = -1;
	long pid;

	memset(&j, 0, sizeof(j));
	if (!spawner_parse(p, &j)) {
		spawner_send_failed(sock, p->h.job_id, EPROTO,
		                    "malformed spawn request");
		return;
	}
	if (npend >= SPAWNER_PENDING_MAX) {
		spawner_send_failed(sock, p->h.job_id, EAGAIN,
		                    "too many hooks starting at once");
		goto out;
	}
	if (pipe2(rep_fds, O_CLOEXEC) < 0) {
		spawner_send_failed(sock, p->h.job_id, errno, "pipe: %s",
		                    strerror(errno));
		goto out;
	}
	j.h = &p->h;
	memcpy(j.fds, p->fds, sizeof(j.fds));
	j.report_fd = rep_fds[1];
	memset(&ca, 0, sizeof(ca));
	ca.flags = CLONE_PARENT | CLONE_PIDFD;
	ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
	ca.exit_signal = 0; /* CLONE_PARENT: the spawner's own (SIGCHLD) */
	pid = syscall(SYS_clone3, &ca, sizeof(ca));
	/* systemd's RestrictNamespaces= answers clone3 with ENOSYS (it
	 * cannot look inside its argument); clone(2) does the same here:
	 * with CLONE_PIDFD the pidfd goes where parent_tid points (the
	 * third argument on x86-64 and arm64). */
	if (pid < 0 && errno == ENOSYS)
		pid = syscall(SYS_clone, (unsigned long)(CLONE_PARENT | CLONE_PIDFD),
		              0UL, &pidfd, 0UL, 0UL);
	if (pid == 0)
		spawner_child(&j);
	if (pid < 0) {
		spawner_send_failed(sock, p->h.job_id, errno, "clone3: %s",
		                    strerror(errno));
		goto out;
	}
	spawner_close(&rep_fds[1]);
	(void)fcntl(rep_fds[0], F_SETFL, O_NONBLOCK);
	memset(&rep, 0, sizeof(rep));
	rep.job_id = p->h.job_id;
	rep.type = SPAWNER_REP_CREATED;
	rep.pid = (int32_t)pid;
	spawner_send(sock, &rep, pidfd);
	pend[npend++] = (struct spawner_pend){
	    .job_id = p->h.job_id,
	    .pid = (pid_t)pid,
	    .pidfd = pidfd,
	    .rfd = rep_fds[0],
	    .deadline_ns = spawner_now_ns() + SPAWNER_DEADLINE_NS,
	};
	rep_fds[0] = -1;
out:
	spawner_close(&rep_fds[0]);
	spawner_close(&rep_fds[1]);
	free(j.argv);
	free(j.envp);
}

/* Reads one packet from evd. Returns false at EOF or a hard error. */
static bool
spawner_recv(int sock, struct spawner_partial *p, char *buf, size_t bufsize)
{
	char cbuf[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = {buf, bufsize};
	struct msghdr mh = {.msg_iov = &iov,
	                    .msg_iovlen = 1,
	                    .msg_control = cbuf,
	                    .msg_controllen = sizeof(cbuf)};
	int fds[4] = {-1, -1, -1, -1}, nfds = 0;
	struct cmsghdr *c;
	ssize_t n;

	n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR;
	if (n == 0)
		return false;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (nfds < 4)
				fds[nfds++] = fd;
			else
				close(fd);
		}
	}
	if (!p->active) {
		/* A request's first packet: header, 3 fds (4 with a
		 * cgroup), first bytes. */
		struct spawner_req h = {.flags = 0};
		int want;

		if ((size_t)n >= sizeof(h))
			memcpy(&h, buf, sizeof(h));
		want = h.flags & SPAWNER_REQ_CGROUP ? 4 : 3;

		if ((size_t)n < sizeof(p->h) || nfds != want ||
		    (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
			for (int i = 0; i < nfds; i++)
				close(fds[i]);
			if ((size_t)n >= sizeof(p->h)) {
				memcpy(&p->h, buf, sizeof(p->h));
				spawner_send_failed(sock, p->h.job_id, EPROTO,
				                    "malformed spawn request");
			}
			return true;
		}
		memcpy(&p->h, buf, sizeof(p->h));
		memcpy(p->fds, fds, sizeof(p->fds)); /* fds[3]: -1 unless 4 */
		if (p->h.blob_len == 0 || p->h.blob_len > SPAWNER_BLOB_MAX ||
		    p->h.argc == 0 || p->h.argc > SPAWNER_ARGC_MAX ||
		    p->h.envc > SPAWNER_ENVC_MAX ||
		    !spawner_rlim_valid(&p->h) ||
		    (size_t)n - sizeof(p->h) > p->h.blob_len ||
		    (p->blob = malloc(p->h.blob_len)) == NULL) {
			spawner_send_failed(sock, p->h.job_id, EPROTO,
			                    "malformed spawn request");
			spawner_partial_clear(p);
			return true;
		}
		p->active = true;
		p->have = (size_t)n - sizeof(p->h);
		memcpy(p->blob, buf + sizeof(p->h), p->have);
	} else {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if ((size_t)n > p->h.blob_len - p->have || nfds != 0) {
			spawner_send_failed(sock, p->h.job_id, EPROTO,
			                    "malformed spawn request");
			spawner_partial_clear(p);
			return true;
		}
		memcpy(p->blob + p->have, buf, (size_t)n);
		p->have += (size_t)n;
	}
	if (p->have == p->h.blob_len) {
		spawner_spawn(sock, p);
		spawner_partial_clear(p);
	}
	return true;
}

static void
spawner_pend_drop(size_t i)
{
	spawner_close(&pend[i].rfd);
	spawner_close(&pend[i].pidfd);
	pend[i] = pend[--npend];
}

/* The child's report pipe is readable: a report, or EOF (exec'd). */
static void
spawner_reported(int sock, size_t i)
{
	struct spawner_child_rep crep;
	struct spawner_rep rep;
	ssize_t n;

	do
		n = read(pend[i].rfd, &crep, sizeof(crep));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	memset(&rep, 0, sizeof(rep));
	rep.job_id = pend[i].job_id;
	rep.pid = pend[i].pid;
	if (n == 0) {
		rep.type = SPAWNER_REP_EXECED;
	} else {
		rep.type = SPAWNER_REP_FAILED;
		if (n == (ssize_t)sizeof(crep)) {
			crep.msg[sizeof(crep.msg) - 1] = '\0';
			rep.err = crep.err > 0 ? crep.err : EIO;
			memcpy(rep.msg, crep.msg, sizeof(rep.msg));
		} else {
			rep.err = EIO;
			snprintf(rep.msg, sizeof(rep.msg),
			         "the child sent a short report");
		}
	}
	spawner_send(sock, &rep, -1);
	spawner_pend_drop(i);
}

static void __attribute__((noreturn))
spawner_main(int sock, pid_t ppid)
{
	struct sigaction dfl;
	sigset_t none;
	struct spawner_partial p;
	struct pollfd *pfd;
	char *buf;

	/* evd's death ends the spawner even if the socket leaked. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != ppid)
		_exit(0);
	(void)prctl(PR_SET_NAME, "evd-spawner");
	/* ^C in a terminal or systemd's SIGTERM to the cgroup reach evd,
	 * which drains and exits; the spawner follows at EOF. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)sigaction(sig, &dfl, NULL); /* EINVAL: libc's */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (size_t i = 0; i < sizeof(spawner_quiet) / sizeof(spawner_quiet[0]);
	     i++)
		signal(spawner_quiet[i], SIG_IGN);
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			(void)open("/dev/null", O_RDWR);
	/* Load the NSS modules once, here: every child is a copy of this
	 * process, so it finds them loaded instead of dlopening them again
	 * (milliseconds per hook). The lookups themselves still happen in
	 * each child, at fire time; nothing of their answer is kept. */
	{
		gid_t g[8];
		int ng = 8;
		struct passwd *pw = getpwuid(0);

		if (pw != NULL)
			(void)getgrouplist(pw->pw_name, pw->pw_gid, g, &ng);
		(void)getpwnam("root");
		endpwent();
		endgrent();
	}
	pend = calloc(SPAWNER_PENDING_MAX, sizeof(*pend));
	pfd = calloc(SPAWNER_PENDING_MAX + 1, sizeof(*pfd));
	buf = malloc(sizeof(struct spawner_req) + SPAWNER_CHUNK);
	if (pend == NULL || pfd == NULL || buf == NULL)
		_exit(1);
	memset(&p, 0, sizeof(p));
	p.fds[0] = p.fds[1] = p.fds[2] = p.fds[3] = -1;
	for (;;) {
		int64_t now = spawner_now_ns(), next = INT64_MAX;
		int timeout_ms = -1, n;

		/* Deadlines first: a child that did not exec in time. */
		for (size_t i = 0; i < npend;) {
			if (pend[i].deadline_ns > now) {
				if (pend[i].deadline_ns < next)
					next = pend[i].deadline_ns;
				i++;
				continue;
			}
			(void)syscall(SYS_pidfd_send_signal, pend[i].pidfd,
			              SIGKILL, NULL, 0);
			spawner_send_failed(
			    sock, pend[i].job_id, ETIMEDOUT,
			    "did not start within %d s (stopped, or hung in "
			    "chdir/NSS)",
			    (int)(SPAWNER_DEADLINE_NS / 1000000000));
			spawner_pend_drop(i);
		}
		if (next != INT64_MAX)
			timeout_ms = (int)((next - now + 999999) / 1000000);
		pfd[0] = (struct pollfd){.fd = sock, .events = POLLIN};
		for (size_t i = 0; i < npend; i++)
			pfd[1 + i] =
			    (struct pollfd){.fd = pend[i].rfd, .events = POLLIN};
		n = poll(pfd, 1 + npend, timeout_ms);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		/* Reports before requests: pend[] shifts when one is done,
		 * so walk it backwards against the snapshot in pfd. */
		for (size_t i = npend; i-- > 0;)
			if (pfd[1 + i].revents != 0)
				spawner_reported(sock, i);
		if (pfd[0].revents & POLLIN) {
			/* A burst of requests, but not for ever: deadlines
			 * must still be looked at. */
			for (int k = 0; k < 64; k++) {
				if (!spawner_recv(sock, &p, buf,
				                  sizeof(struct spawner_req) +
				                      SPAWNER_CHUNK))
					goto out;
				if (recv(sock, buf, 1, MSG_PEEK | MSG_DONTWAIT) <=
				    0)
					break;
			}
		} else if (pfd[0].revents & (POLLHUP | POLLERR)) {
			break;
		}
	}
out:
	/* evd is gone: nobody would reap or watch these. */
	for (size_t i = 0; i < npend; i++)
		(void)syscall(SYS_pidfd_send_signal, pend[i].pidfd, SIGKILL,
		              NULL, 0);
	_exit(0);
}

int
spawner_start(void)
{
	int sv[2];
	pid_t ppid = getpid(), pid;

	if (S.fd >= 0)
		return 0;
	/* The socket must not land on 0-2 (the child's dup2s assume it). */
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", O_RDWR) != fd)
			return -EBADF;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int r = -errno;

		close(sv[0]);
		close(sv[1]);
		return r;
	}
	if (pid == 0) {
		/* Only the socket and 0-2 stay open in the spawner. */
		if (sv[1] != 3) {
			if (dup3(sv[1], 3, O_CLOEXEC) < 0)
				_exit(1);
			sv[1] = 3;
		}
		(void)syscall(SYS_close_range, 4U, ~0U, 0U);
		spawner_main(sv[1], ppid);
	}
	close(sv[1]);
	S.fd = sv[0];
	S.pid = pid;
	return 0;
}
