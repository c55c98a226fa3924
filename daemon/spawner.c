/*
 * spawner: the privileged helper that creates every exec hook's process
 * (wire format in spawner.h; evd's side is exec_spawner.c).
 *
 * Why a separate process: evd's loop must never wait for a process a user
 * controls. A child between setresuid() and execve() belongs to its owner,
 * who can SIGSTOP it, and chdir() into the owner's FUSE mount can hang for
 * ever; with vfork the parent waited for exactly that. Here evd only sends
 * a request and reads replies on its loop. The spawner's main thread only
 * reads requests, hands each to a worker thread of its own, sends the
 * replies, and enforces SPAWNER_DEADLINE_NS: a run whose worker is still
 * in NSS at the deadline fails (the worker is abandoned: it makes no child
 * and exits when NSS returns), a child that has not exec'd by then is
 * SIGKILLed (pidfd_send_signal), which also releases its worker.
 *
 * Why workers and CLONE_VM | CLONE_VFORK (posix_spawn's way): a copy of
 * the spawner per hook (clone3 without CLONE_VM, as this file did first)
 * copied its page tables and then tore them down again in execve; that
 * was most of a spawn's cost (0.45x bare posix_spawn, see bench_exec).
 * vfork suspends only the calling thread, so a stopped or hung child
 * blocks its worker, never the main thread or the other workers. The
 * price: the child runs in the spawner's memory, so everything it needs
 * is prepared by the worker (NSS, groups, environment, paths), and it does
 * only async-signal-safe syscalls on that (spawner_child).
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
 * never waits for a child. NSS (getpwnam_r, getgrouplist) runs in the
 * worker right before the clone: at fire time, as issue 14 item 5 asks,
 * in this privileged helper and never on evd's loop. Identity changes in
 * the child are raw syscalls: glibc's setuid() family would signal every
 * thread of the spawner (SIGSETXID) from a child that is not one of them.
 * The child's memory is root's: the spawner is made non-dumpable, so its
 * owner cannot ptrace or read /proc/PID/mem of it before execve.
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
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
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

/* ---- the worker thread and the child ---- */

/* Where a child failed; the worker turns it into a message. */
enum spawner_stage {
	ST_SETSID = 1,
	ST_DUP2,
	ST_RLIMIT,
	ST_SETGROUPS,
	ST_SETGID,
	ST_SETUID,
	ST_NICE,
	ST_CHDIR,
	ST_CHDIR_ROOT,
	ST_EXECVE,
	ST_CGROUP,
	ST_LIMIT, /* + enum spawner_rlim */
};

/* child -> worker, over a CLOEXEC pipe: EOF alone means it exec'd. */
struct spawner_child_rep {
	int32_t err;
	int32_t stage;
};

enum spawner_state {
	JOB_NSS,       /* the worker resolves the owner: no child yet */
	JOB_CLONING,   /* the child may exist; job.pidfd set by clone */
	JOB_DONE,      /* the worker is done with the job */
	JOB_ABANDONED, /* the deadline passed during NSS: no child, ever */
};

#define SPAWNER_CHILD_STACK (64 * 1024)
#define SPAWNER_WORKER_STACK (512 * 1024)
#define SPAWNER_PATHS 3

/*
 * One request, from its last packet to its end. Owner: the main thread,
 * which frees it only after the worker posted it on the done pipe; the
 * worker writes the fields below "worker's" until then and the child (in
 * the worker's memory, the worker suspended in clone) only reads.
 */
struct spawner_job {
	struct spawner_req h;
	char *blob;
	int fds[4]; /* stdin, stdout, stderr; the cgroup's procs or -1 */
	const char *user; /* NULL: none */
	const char *prog;
	const char *cwd; /* NULL: home, else / */
	char **argv;
	char **envp;
	int state; /* enum spawner_state, __atomic */
	int pidfd; /* written by clone (CLONE_PIDFD), -1 before */
	int64_t deadline_ns;
	bool timed_out; /* main thread: reported and killed already */
	/* worker's */
	bool set_ids;
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[1024];
	char **cenvp;
	char *home; /* chdir target when cwd is NULL, or NULL */
	char *paths[SPAWNER_PATHS];
	int npaths;
	int report_fd;
	char *stack;
	/* worker's result */
	bool created;
	pid_t pid;
	bool failed;
	int err;
	char msg[SPAWNER_MSG_MAX];
};

static int spawner_done_wfd = -1;

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

static void __attribute__((format(printf, 3, 4)))
spawner_job_fail(struct spawner_job *j, int err, const char *fmt, ...)
{
	va_list ap;

	j->failed = true;
	j->err = err;
	va_start(ap, fmt);
	vsnprintf(j->msg, sizeof(j->msg), fmt, ap);
	va_end(ap);
}

/*
 * Resolves the owner and prepares everything the child needs, in the
 * worker: NSS at fire time, off evd's loop, and never in the child (which
 * shares this memory). False (j->failed set) if the run cannot start.
 */
static bool
spawner_prepare(struct spawner_job *j)
{
	static const char *const dirs[SPAWNER_PATHS] = {"/usr/local/bin",
	                                                "/usr/bin", "/bin"};
	const struct spawner_req *h = &j->h;
	struct passwd pwbuf, *pw = NULL;
	char nssbuf[16384];
	int rc;

	/* Identity at fire time: the name must still map to the uid. */
	if (j->user != NULL) {
		rc = getpwnam_r(j->user, &pwbuf, nssbuf, sizeof(nssbuf), &pw);
		if (pw == NULL) {
			spawner_job_fail(j, rc == ERANGE ? ERANGE : ENOENT,
			                 "user %s not found", j->user);
			return false;
		}
		if (pw->pw_uid != h->uid) {
			spawner_job_fail(j, EPERM,
			                 "user %s no longer has uid %u", j->user,
			                 (unsigned)h->uid);
			return false;
		}
	} else {
		(void)getpwuid_r(h->uid, &pwbuf, nssbuf, sizeof(nssbuf), &pw);
		if (pw == NULL && h->set_ids) {
			spawner_job_fail(j, ENOENT,
			                 "uid %u has no passwd entry",
			                 (unsigned)h->uid);
			return false;
		}
	}
	j->set_ids = h->set_ids != 0;
	j->uid = h->uid;
	if (j->set_ids) {
		/* The current primary group and supplementary groups, not
		 * the ones of schedule time. */
		j->gid = pw->pw_gid;
		j->ngroups = (int)(sizeof(j->groups) / sizeof(j->groups[0]));
		if (getgrouplist(pw->pw_name, j->gid, j->groups, &j->ngroups) <
		    0) {
			spawner_job_fail(j, E2BIG,
			                 "user %s is in more than 1024 groups",
			                 pw->pw_name);
			return false;
		}
	}
	if (j->cwd == NULL && pw != NULL &&
	    (j->home = strdup(pw->pw_dir)) == NULL)
		goto nomem;
	j->cenvp = spawner_child_env(j->envp, pw);
	if (j->cenvp == NULL)
		goto nomem;
	if (strchr(j->prog, '/') != NULL) {
		if ((j->paths[0] = strdup(j->prog)) == NULL)
			goto nomem;
		j->npaths = 1;
	} else {
		for (size_t i = 0; i < SPAWNER_PATHS; i++) {
			if (strlen(dirs[i]) + 1 + strlen(j->prog) >= 4096) {
				if (i == 0) {
					spawner_job_fail(
					    j, ENAMETOOLONG, "execve %.160s: %s",
					    j->prog, strerror(ENAMETOOLONG));
					return false;
				}
				break;
			}
			if (asprintf(&j->paths[i], "%s/%s", dirs[i], j->prog) <
			    0) {
				j->paths[i] = NULL;
				goto nomem;
			}
			j->npaths++;
		}
	}
	j->stack = malloc(SPAWNER_CHILD_STACK);
	if (j->stack == NULL)
		goto nomem;
	return true;
nomem:
	spawner_job_fail(j, ENOMEM, "environment: %s", strerror(ENOMEM));
	return false;
}

static void __attribute__((noreturn))
spawner_child_fail(const struct spawner_job *j, int stage, int err)
{
	struct spawner_child_rep rep = {.err = err, .stage = stage};
	ssize_t n;

	do
		n = write(j->report_fd, &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	_exit(127);
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
	const struct spawner_req *h = &j->h;

	for (int i = 0; i < SPAWNER_RLIM_COUNT; i++) {
		struct rlimit rl;
		rlim_t soft = (rlim_t)h->rlim[i].soft;
		rlim_t hard = (rlim_t)h->rlim[i].hard;

		if (!(h->rlim_set & (1u << i)))
			continue;
		if (getrlimit(res[i], &rl) < 0)
			spawner_child_fail(j, ST_LIMIT + i, errno);
		if (hard > rl.rlim_max)
			hard = rl.rlim_max;
		if (soft > hard)
			soft = hard;
		rl.rlim_cur = soft;
		rl.rlim_max = hard;
		if (setrlimit(res[i], &rl) < 0)
			spawner_child_fail(j, ST_LIMIT + i, errno);
	}
}

/*
 * The child: created with CLONE_VM | CLONE_VFORK by a worker thread, so it
 * runs in the spawner's memory (its errno is the suspended worker's) and
 * does only async-signal-safe work on what spawner_prepare made: no
 * malloc, no stdio, no NSS, and identity changes as raw syscalls (glibc's
 * setuid() family would signal the spawner's other threads).
 */
static int
spawner_child(void *arg)
{
	const struct spawner_job *j = arg;
	struct sigaction dfl;
	struct rlimit rl;
	sigset_t none;
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
		spawner_child_fail(j, ST_SETSID, errno);
	/* Into the run's own cgroup before anything can fork and before
	 * the fd is closed below, while still privileged: the whole tree is
	 * then reachable by cgroup.kill. */
	if (j->fds[3] >= 0 && write(j->fds[3], "0", 1) != 1)
		spawner_child_fail(j, ST_CGROUP, errno);
	/* The received fds are all >= 3 (the spawner keeps 0-2 open), so
	 * no dup2 is a no-op that would keep CLOEXEC, and none clobbers
	 * another. */
	for (int fd = 0; fd < 3; fd++)
		if (dup2(j->fds[fd], fd) < 0)
			spawner_child_fail(j, ST_DUP2, errno);
	/* Really closed, not CLOEXEC, and before the owner can stop us:
	 * the copy of the fd table holds other runs' pipes that workers
	 * are creating right now, and a stopped child must not keep their
	 * ends open. */
	if (j->report_fd > 3)
		(void)syscall(SYS_close_range, 3U,
		              (unsigned)j->report_fd - 1, 0U);
	(void)syscall(SYS_close_range, (unsigned)j->report_fd + 1, ~0U, 0U);
	if (getrlimit(RLIMIT_CORE, &rl) == 0) {
		rl.rlim_cur = 0;
		(void)setrlimit(RLIMIT_CORE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur > SPAWNER_NOFILE_CHILD) {
		rl.rlim_cur = SPAWNER_NOFILE_CHILD;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			spawner_child_fail(j, ST_RLIMIT, errno);
	}
	umask(022);
	if (j->set_ids) {
		if (syscall(SYS_setgroups, (size_t)j->ngroups, j->groups) < 0)
			spawner_child_fail(j, ST_SETGROUPS, errno);
		if (syscall(SYS_setresgid, j->gid, j->gid, j->gid) < 0)
			spawner_child_fail(j, ST_SETGID, errno);
		if (syscall(SYS_setresuid, j->uid, j->uid, j->uid) < 0)
			spawner_child_fail(j, ST_SETUID, errno);
		/* Never run a hook with privileges it was not given. */
		if ((uid_t)syscall(SYS_geteuid) != j->uid ||
		    (gid_t)syscall(SYS_getegid) != j->gid)
			spawner_child_fail(j, ST_SETUID, EPERM);
	}
	/* After dropping privilege: a nice value can only restrict. */
	if (j->h.nice != SPAWNER_NO_NICE &&
	    setpriority(PRIO_PROCESS, 0, j->h.nice) < 0)
		spawner_child_fail(j, ST_NICE, errno);
	spawner_child_rlimits(j);
	if (j->cwd != NULL) {
		if (chdir(j->cwd) < 0)
			spawner_child_fail(j, ST_CHDIR, errno);
	} else if (j->home == NULL || chdir(j->home) < 0) {
		if (chdir("/") < 0)
			spawner_child_fail(j, ST_CHDIR_ROOT, errno);
	}
	for (int i = 0; i < j->npaths; i++) {
		execve(j->paths[i], j->argv, j->cenvp);
		err = errno;
		if (j->npaths == 1)
			break;
		if (err == EACCES)
			eacces = true;
		else if (err != ENOENT && err != ENOTDIR)
			break;
	}
	if (eacces && (err == ENOENT || err == ENOTDIR))
		err = EACCES;
	spawner_child_fail(j, ST_EXECVE, err);
}

/* The child's report, read by the worker once clone returned. */
static void
spawner_child_result(struct spawner_job *j, int rfd)
{
	struct spawner_child_rep crep;
	const char *e;
	ssize_t n;

	do
		n = read(rfd, &crep, sizeof(crep));
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return; /* exec'd */
	if (n != (ssize_t)sizeof(crep)) {
		spawner_job_fail(j, EIO, "the child sent a short report");
		return;
	}
	if (crep.err <= 0)
		crep.err = EIO;
	e = strerror(crep.err);
	switch (crep.stage) {
	case ST_SETSID:
		spawner_job_fail(j, crep.err, "setsid: %s", e);
		break;
	case ST_DUP2:
		spawner_job_fail(j, crep.err, "dup2: %s", e);
		break;
	case ST_RLIMIT:
		spawner_job_fail(j, crep.err, "setrlimit: %s", e);
		break;
	case ST_SETGROUPS:
		spawner_job_fail(j, crep.err, "setgroups: %s", e);
		break;
	case ST_SETGID:
		spawner_job_fail(j, crep.err, "setgid: %s", e);
		break;
	case ST_SETUID:
		spawner_job_fail(j, crep.err, "setuid: %s", e);
		break;
	case ST_NICE:
		spawner_job_fail(j, crep.err, "nice %d: %s", (int)j->h.nice,
		                 e);
		break;
	case ST_CHDIR:
		spawner_job_fail(j, crep.err, "chdir %.160s: %s", j->cwd, e);
		break;
	case ST_CHDIR_ROOT:
		spawner_job_fail(j, crep.err, "chdir /: %s", e);
		break;
	case ST_CGROUP:
		spawner_job_fail(j, crep.err, "joining the hook's cgroup: %s",
		                 e);
		break;
	case ST_LIMIT + SPAWNER_RLIM_NOFILE:
		spawner_job_fail(j, crep.err, "LimitNOFILE: %s", e);
		break;
	case ST_LIMIT + SPAWNER_RLIM_CORE:
		spawner_job_fail(j, crep.err, "LimitCORE: %s", e);
		break;
	case ST_LIMIT + SPAWNER_RLIM_NPROC:
		spawner_job_fail(j, crep.err, "LimitNPROC: %s", e);
		break;
	default:
		spawner_job_fail(j, crep.err, "execve %.160s: %s", j->prog, e);
		break;
	}
}

/*
 * A worker: one per request being started. It may block in NSS (the
 * main thread fails the request at the deadline and abandons it here) or
 * in clone until the child exec'd or died (the main thread SIGKILLs a
 * child past the deadline, which ends the wait). Either way only this
 * thread waits, never the spawner's poll loop.
 */
static void *
spawner_worker(void *arg)
{
	struct spawner_job *j = arg;
	int expect = JOB_NSS;
	int rep_fds[2] = {-1, -1};
	sigset_t all;
	long pid;
	ssize_t n;

	/* Signals are the main thread's; and none may run a handler in
	 * the child on this memory before it resets them (posix_spawn
	 * blocks them likewise). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	if (!spawner_prepare(j))
		goto done;
	if (pipe2(rep_fds, O_CLOEXEC) < 0) {
		spawner_job_fail(j, errno, "pipe: %s", strerror(errno));
		goto done;
	}
	if (!__atomic_compare_exchange_n(&j->state, &expect, JOB_CLONING,
	                                 false, __ATOMIC_SEQ_CST,
	                                 __ATOMIC_SEQ_CST))
		goto done; /* abandoned: reported already */
	j->report_fd = rep_fds[1];
	pid = clone(spawner_child, j->stack + SPAWNER_CHILD_STACK,
	            CLONE_VM | CLONE_VFORK | CLONE_PARENT | CLONE_PIDFD, j,
	            &j->pidfd);
	if (pid < 0) {
		spawner_job_fail(j, errno, "clone: %s", strerror(errno));
		goto done;
	}
	/* The child exec'd or exited: its report (or EOF) is there. */
	close(rep_fds[1]);
	rep_fds[1] = -1;
	j->created = true;
	j->pid = (pid_t)pid;
	spawner_child_result(j, rep_fds[0]);
done:
	if (rep_fds[0] >= 0)
		close(rep_fds[0]);
	if (rep_fds[1] >= 0)
		close(rep_fds[1]);
	/* Unless abandoned: then the main thread reported already. */
	expect = JOB_NSS;
	if (!__atomic_compare_exchange_n(&j->state, &expect, JOB_DONE, false,
	                                 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) &&
	    expect == JOB_CLONING)
		__atomic_store_n(&j->state, JOB_DONE, __ATOMIC_SEQ_CST);
	/* A pipe write of a pointer is atomic; the pipe holds more than
	 * SPAWNER_PENDING_MAX of them, so this never blocks. */
	do
		n = write(spawner_done_wfd, &j, sizeof(j));
	while (n < 0 && errno == EINTR);
	return NULL;
}

/* ---- the request loop ---- */

/* Requests being started (a worker each). Owner: the main thread. */
static struct spawner_job **pend;
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
spawner_parse(const struct spawner_partial *p, struct spawner_job *j)
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
spawner_job_free(struct spawner_job *j)
{
	if (j->cenvp != NULL) {
		/* The added variables were allocated; the rest point into
		 * the blob. */
		for (size_t i = 0; j->cenvp[i] != NULL; i++) {
			char *e = j->cenvp[i];

			if (e < j->blob || e >= j->blob + j->h.blob_len)
				free(e);
		}
		free(j->cenvp);
	}
	for (int i = 0; i < SPAWNER_PATHS; i++)
		free(j->paths[i]);
	free(j->home);
	free(j->stack);
	free(j->argv);
	free(j->envp);
	free(j->blob);
	for (int i = 0; i < 4; i++)
		spawner_close(&j->fds[i]);
	spawner_close(&j->pidfd);
	free(j);
}

/* A complete request: hands it to a worker thread of its own. */
static void
spawner_spawn(int sock, struct spawner_partial *p)
{
	struct spawner_job *j;
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (npend >= SPAWNER_PENDING_MAX) {
		spawner_send_failed(sock, p->h.job_id, EAGAIN,
		                    "too many hooks starting at once");
		return;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		spawner_send_failed(sock, p->h.job_id, ENOMEM, "%s",
		                    strerror(ENOMEM));
		return;
	}
	j->fds[0] = j->fds[1] = j->fds[2] = j->fds[3] = -1;
	j->pidfd = -1;
	j->report_fd = -1;
	if (!spawner_parse(p, j)) {
		spawner_send_failed(sock, p->h.job_id, EPROTO,
		                    "malformed spawn request");
		free(j);
		return;
	}
	/* The job takes the request's strings and fds. */
	j->h = p->h;
	j->blob = p->blob;
	p->blob = NULL;
	memcpy(j->fds, p->fds, sizeof(j->fds));
	p->fds[0] = p->fds[1] = p->fds[2] = p->fds[3] = -1;
	j->state = JOB_NSS;
	j->deadline_ns = spawner_now_ns() + SPAWNER_DEADLINE_NS;
	rc = pthread_attr_init(&attr);
	if (rc == 0) {
		(void)pthread_attr_setstacksize(&attr, SPAWNER_WORKER_STACK);
		(void)pthread_attr_setdetachstate(&attr,
		                                  PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&t, &attr, spawner_worker, j);
		pthread_attr_destroy(&attr);
	}
	if (rc != 0) {
		spawner_send_failed(sock, j->h.job_id, rc, "pthread_create: %s",
		                    strerror(rc));
		spawner_job_free(j);
		return;
	}
	pend[npend++] = j;
}

/* The pid behind a pidfd (rare: a child killed before its worker
 * returned from clone). */
static pid_t
spawner_pidfd_pid(int pidfd)
{
	char path[64], line[128];
	pid_t pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Pid:\t%d", &pid) == 1)
			break;
	fclose(f);
	return pid;
}

static void
spawner_send_created(int sock, uint64_t job_id, pid_t pid, int pidfd)
{
	struct spawner_rep rep;

	memset(&rep, 0, sizeof(rep));
	rep.job_id = job_id;
	rep.type = SPAWNER_REP_CREATED;
	rep.pid = (int32_t)pid;
	spawner_send(sock, &rep, pidfd);
}

/* A worker is done with j: report what it found, unless the deadline
 * did already, and forget j. */
static void
spawner_job_done(int sock, struct spawner_job *j)
{
	struct spawner_rep rep;
	size_t i;

	for (i = 0; i < npend && pend[i] != j; i++)
		;
	if (i == npend)
		return; /* not ours: cannot happen */
	pend[i] = pend[--npend];
	if (!j->timed_out) {
		if (j->created)
			spawner_send_created(sock, j->h.job_id, j->pid,
			                     j->pidfd);
		memset(&rep, 0, sizeof(rep));
		rep.job_id = j->h.job_id;
		rep.pid = j->pid;
		if (j->failed) {
			rep.type = SPAWNER_REP_FAILED;
			rep.err = j->err > 0 ? j->err : EIO;
			memcpy(rep.msg, j->msg, sizeof(rep.msg));
			rep.msg[sizeof(rep.msg) - 1] = '\0';
		} else {
			rep.type = SPAWNER_REP_EXECED;
		}
		spawner_send(sock, &rep, -1);
	}
	spawner_job_free(j);
}

/* j is past its deadline: fail it, and SIGKILL its child if any. Returns
 * false when that cannot be done yet (the child is being created, or the
 * worker is posting j as done): look again in a millisecond. */
static bool
spawner_job_expire(int sock, struct spawner_job *j)
{
	int expect = JOB_NSS;
	int pidfd;

	if (__atomic_compare_exchange_n(&j->state, &expect, JOB_ABANDONED,
	                                false, __ATOMIC_SEQ_CST,
	                                __ATOMIC_SEQ_CST)) {
		/* Hung in NSS: no child will be made. */
		j->timed_out = true;
		spawner_send_failed(sock, j->h.job_id, ETIMEDOUT,
		                    "did not start within %d s (hung in NSS)",
		                    (int)(SPAWNER_DEADLINE_NS / 1000000000));
		return true;
	}
	if (expect != JOB_CLONING)
		return false; /* done: the worker is posting it */
	pidfd = __atomic_load_n(&j->pidfd, __ATOMIC_SEQ_CST);
	if (pidfd < 0)
		return false; /* inside clone right now */
	(void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
	j->timed_out = true;
	spawner_send_created(sock, j->h.job_id, spawner_pidfd_pid(pidfd),
	                     pidfd);
	spawner_send_failed(sock, j->h.job_id, ETIMEDOUT,
	                    "did not start within %d s (stopped, or hung in "
	                    "chdir/NSS)",
	                    (int)(SPAWNER_DEADLINE_NS / 1000000000));
	return true;
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

static void __attribute__((noreturn))
spawner_main(int sock, pid_t ppid)
{
	struct sigaction dfl;
	sigset_t none;
	struct spawner_partial p;
	struct pollfd pfd[2];
	int done_rfd;
	char *buf;

	/* evd's death ends the spawner even if the socket leaked. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != ppid)
		_exit(0);
	(void)prctl(PR_SET_NAME, "evd-spawner");
	/* Children share this memory until execve (spawner_child). */
	(void)prctl(PR_SET_DUMPABLE, 0);
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
	/* Load the NSS modules once, here, rather than in the first
	 * workers at once. The lookups themselves happen per request, at
	 * fire time; nothing of their answer is kept. */
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
	{
		int dp[2];

		/* Workers post finished jobs here (they never block on it:
		 * it holds more pointers than SPAWNER_PENDING_MAX). */
		if (pipe2(dp, O_CLOEXEC) < 0)
			_exit(1);
		(void)fcntl(dp[0], F_SETFL, O_NONBLOCK);
		(void)fcntl(dp[1], F_SETPIPE_SZ,
		            (int)(2 * SPAWNER_PENDING_MAX * sizeof(void *)));
		done_rfd = dp[0];
		spawner_done_wfd = dp[1];
	}
	pend = calloc(SPAWNER_PENDING_MAX, sizeof(*pend));
	buf = malloc(sizeof(struct spawner_req) + SPAWNER_CHUNK);
	if (pend == NULL || buf == NULL)
		_exit(1);
	memset(&p, 0, sizeof(p));
	p.fds[0] = p.fds[1] = p.fds[2] = p.fds[3] = -1;
	for (;;) {
		int64_t now = spawner_now_ns(), next = INT64_MAX;
		int timeout_ms = -1, n;

		/* Deadlines first: a run that did not exec in time. */
		for (size_t i = 0; i < npend; i++) {
			struct spawner_job *j = pend[i];

			if (j->timed_out)
				continue;
			if (j->deadline_ns <= now &&
			    !spawner_job_expire(sock, j))
				j->deadline_ns = now + 1000000; /* soon */
			if (!j->timed_out && j->deadline_ns < next)
				next = j->deadline_ns;
		}
		if (next != INT64_MAX)
			timeout_ms = (int)((next - now + 999999) / 1000000);
		pfd[0] = (struct pollfd){.fd = sock, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = done_rfd, .events = POLLIN};
		n = poll(pfd, 2, timeout_ms);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		/* Finished runs before new requests. */
		if (pfd[1].revents & POLLIN) {
			struct spawner_job *done[64];
			ssize_t got;

			while ((got = read(done_rfd, done, sizeof(done))) > 0)
				for (size_t i = 0;
				     i < (size_t)got / sizeof(done[0]); i++)
					spawner_job_done(sock, done[i]);
		}
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
	for (size_t i = 0; i < npend; i++) {
		int pidfd = __atomic_load_n(&pend[i]->pidfd, __ATOMIC_SEQ_CST);

		if (pidfd >= 0)
			(void)syscall(SYS_pidfd_send_signal, pidfd, SIGKILL,
			              NULL, 0);
	}
	_exit(0);
}

bool
spawner_helper(int argc, char **argv)
{
	char *end;
	long ppid;

	if (argc != 3 || strcmp(argv[1], SPAWNER_HELPER_ARG) != 0)
		return false;
	ppid = strtol(argv[2], &end, 10);
	/* Only evd's restart makes this: fd 3 is its socket. */
	if (*end != '\0' || ppid <= 1 || fcntl(3, F_GETFD) < 0)
		_exit(2);
	(void)syscall(SYS_close_range, 4U, ~0U, 0U);
	spawner_main(3, (pid_t)ppid);
}

int
spawner_restart(void)
{
	posix_spawn_file_actions_t fa;
	char ppid[24];
	char *argv[] = {"evd-spawner", SPAWNER_HELPER_ARG, ppid, NULL};
	char *envp[] = {NULL};
	int sv[2], r;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	snprintf(ppid, sizeof ppid, "%ld", (long)getpid());
	/* dup2 onto 3 clears CLOEXEC there; a socket already on 3 is
	 * moved first so the dup2 is not a no-op. */
	if ((r = posix_spawn_file_actions_init(&fa)) == 0) {
		int moved = sv[1] == 3 ? fcntl(3, F_DUPFD_CLOEXEC, 4) : sv[1];

		if (moved < 0) {
			r = errno;
		} else {
			if (moved != sv[1])
				close(sv[1]);
			sv[1] = moved;
			r = posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
		}
		if (r == 0)
			r = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv,
			                envp);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(sv[1]);
	if (r != 0) {
		close(sv[0]);
		return -r;
	}
	if (S.fd >= 0)
		close(S.fd);
	S.fd = sv[0];
	S.pid = pid;
	return 0;
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
