/*
 * test_spawner: exec hooks through the spawner process of the real evd
 * (issue 14): a user who SIGSTOPs its own pre-exec hooks in a loop, or a
 * cwd on a hung FUSE mount, never stalls the daemon; the child has only
 * fds 0-2, no capabilities, a clean environment with EVD_SOCKET, LANG and
 * TZ; its identity is resolved at fire time (uid reuse, group removal, no
 * passwd entry); one user's backlog does not hold another's hook;
 * Limit*= properties reach the child, clamped to evd's own limits.
 *
 * Needs root (it creates users with useradd and removes them); exits 77
 * otherwise, saying why.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define MS 1000000LL
#define SEC 1000000000LL

/* Names with this process's pid: two runs of the test on one machine
 * (worktrees, a CI job beside a developer's) never share a user. */
static char USER_A[32], USER_B[32], GROUP_G[32], GROUP_H[32], G_OPT[40];

static void
names_init(void)
{
	long pid = (long)getpid();

	snprintf(USER_A, sizeof USER_A, "evdt-a%ld", pid);
	snprintf(USER_B, sizeof USER_B, "evdt-b%ld", pid);
	snprintf(GROUP_G, sizeof GROUP_G, "evdt-g%ld", pid);
	snprintf(GROUP_H, sizeof GROUP_H, "evdt-h%ld", pid);
	snprintf(G_OPT, sizeof G_OPT, "-G %s", GROUP_G);
}

static struct evd_proc evd;
static uint64_t rid = 1;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
sh(const char *fmt, ...)
{
	char cmd[3 * PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	return system(cmd);
}

static int become(uid_t uid, gid_t gid);

/* Ends every process of a test user (as that user: kill(-1) reaches its
 * own processes only), so that userdel works after a failed case. */
static void
user_kill_all(const char *name)
{
	struct passwd *pw = getpwnam(name);
	pid_t pid;
	int st;

	if (pw == NULL)
		return;
	pid = fork();
	if (pid == 0) {
		if (become(pw->pw_uid, pw->pw_gid) == 0)
			kill(-1, SIGKILL);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, &st, 0);
}

static void
users_clean(void)
{
	user_kill_all(USER_A);
	user_kill_all(USER_B);
	sh("userdel -r %s >/dev/null 2>&1", USER_A);
	sh("userdel -r %s >/dev/null 2>&1", USER_B);
	sh("groupdel %s >/dev/null 2>&1", GROUP_G);
	sh("groupdel %s >/dev/null 2>&1", GROUP_H);
	sh("groupdel %s >/dev/null 2>&1", USER_A);
}

static int
greet(void)
{
	int fd = raw_connect(evd.sock);

	if (fd < 0 || raw_hello(fd, rid++) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static Evd__Reply *
call(int fd, Evd__Request *rq)
{
	rq->has_request_id = 1;
	rq->request_id = rid++;
	return raw_call(fd, rq, 10000);
}

/* A CallLater request for "sh -c cmd" (owned by whoever sends it). */
struct hook_req {
	Evd__Request rq;
	Evd__CallLater cl;
	Evd__Callback cb;
	Evd__Exec x;
	const char *argv[3];
};

static void
hook_req_init(struct hook_req *h, const char *cmd, int64_t delay_ns,
              const char *user, const char *cwd)
{
	evd__request__init(&h->rq);
	evd__call_later__init(&h->cl);
	evd__callback__init(&h->cb);
	evd__exec__init(&h->x);
	h->argv[0] = "/bin/sh";
	h->argv[1] = "-c";
	h->argv[2] = cmd;
	h->x.n_argv = 3;
	h->x.argv = (char **)h->argv;
	h->x.user = (char *)user;
	h->x.cwd = (char *)cwd;
	h->cb.target_case = EVD__CALLBACK__TARGET_EXEC;
	h->cb.exec = &h->x;
	h->cl.has_delay_ns = 1;
	h->cl.delay_ns = delay_ns;
	h->cl.callback = &h->cb;
	h->rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	h->rq.call_later = &h->cl;
}

static uint64_t
schedule(int fd, const char *cmd, int64_t delay_ns, const char *user,
         const char *cwd)
{
	struct hook_req h;
	Evd__Reply *r;
	uint64_t id = 0;

	hook_req_init(&h, cmd, delay_ns, user, cwd);
	r = call(fd, &h.rq);
	if (r != NULL && r->body_case == EVD__REPLY__BODY_SCHEDULED)
		id = r->scheduled->timer_id;
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	return id;
}

/* Becomes uid/gid (no supplementary groups: the hook's must come from
 * evd's lookup, not from the client). */
static int
become(uid_t uid, gid_t gid)
{
	if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		return -1;
	return 0;
}

/* Schedules count hooks as uid (a forked client); returns the last id, 0
 * on failure. */
static uint64_t
schedule_as(uid_t uid, gid_t gid, const char *cmd, int64_t delay_ns,
            const char *user, const char *cwd, int count)
{
	int p[2], status;
	uint64_t id = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint64_t last = 0;
		int fd;

		close(p[0]);
		if (become(uid, gid) < 0 || (fd = greet()) < 0)
			_exit(2);
		for (int i = 0; i < count; i++) {
			uint64_t got = schedule(fd, cmd, delay_ns, user, cwd);

			if (got == 0)
				_exit(3);
			last = got;
		}
		if (write(p[1], &last, sizeof last) != sizeof last)
			_exit(4);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &id, sizeof id) != sizeof id)
		id = 0;
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return id;
}

/* Wait (as root): the ExecFinished run of id, within timeout_ms. */
static Evd__Reply *
wait_run(int fd, uint64_t id, int timeout_ms)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Wait w = EVD__WAIT__INIT;
	int64_t end = now_ms() + timeout_ms;
	Evd__Reply *r;

	w.has_timer_id = 1;
	w.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_WAIT;
	rq.wait = &w;
	r = call(fd, &rq);
	if (r == NULL || r->body_case != EVD__REPLY__BODY_WAITING) {
		if (r != NULL && r->body_case == EVD__REPLY__BODY_ERROR)
			print_message("wait %llu: %s\n", (unsigned long long)id,
			              r->error->message);
		if (r != NULL)
			evd__reply__free_unpacked(r, NULL);
		return NULL;
	}
	evd__reply__free_unpacked(r, NULL);
	while (now_ms() < end) {
		r = raw_recv_reply(fd, (int)(end - now_ms()));
		if (r == NULL)
			return NULL;
		if (r->body_case == EVD__REPLY__BODY_EXEC_FINISHED &&
		    r->exec_finished->timer_id == id)
			return r;
		evd__reply__free_unpacked(r, NULL);
	}
	return NULL;
}

/* A Time round trip; its duration in ms, or -1. */
static int64_t
time_rtt(int fd, int timeout_ms)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Time t = EVD__TIME__INIT;
	int64_t t0 = now_ms();
	Evd__Reply *r;
	bool ok;

	rq.body_case = EVD__REQUEST__BODY_TIME;
	rq.time = &t;
	rq.has_request_id = 1;
	rq.request_id = rid++;
	r = raw_call(fd, &rq, timeout_ms);
	ok = r != NULL && r->body_case == EVD__REPLY__BODY_TIME;
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	return ok ? now_ms() - t0 : -1;
}

static int
start_evd(const char *const *extra)
{
	memset(&evd, 0, sizeof evd);
	snprintf(evd.dir, sizeof evd.dir, "/tmp/evd-spawner.XXXXXX");
	if (mkdtemp(evd.dir) == NULL || chmod(evd.dir, 0755) < 0)
		return -1;
	return evd_start_in(&evd, extra);
}

static int
setup(void **state)
{
	users_clean();
	setenv("LANG", "C.UTF-8", 1);
	setenv("TZ", "Europe/Paris", 1);
	setenv("EVD_TEST_SECRET", "must-not-leak", 1);
	return start_evd(NULL) == 0 ? 0 : -1;
}

/* The FUSE server of test_hung_cwd, if any: killed before anything
 * touches its mount (that aborts the connection, so that a child stuck
 * in it can die), then the mount goes. */
static pid_t fuse_pid;
static char fuse_mnt[PATH_MAX + 16];

/* The SIGSTOP loop of the freeze test: killed by teardown too, so that
 * a failing run leaves nothing behind. */
static pid_t stopper_pid;

static void
fuse_clean(void)
{
	int st;

	if (fuse_pid <= 0)
		return;
	kill(fuse_pid, SIGKILL);
	waitpid(fuse_pid, &st, 0);
	fuse_pid = 0;
	if (sh("fusermount3 -u %s 2>/dev/null", fuse_mnt) != 0)
		sh("umount -l %s", fuse_mnt);
}

static int
teardown(void **state)
{
	int st;

	if (stopper_pid > 0) {
		kill(stopper_pid, SIGKILL);
		waitpid(stopper_pid, &st, 0);
		stopper_pid = 0;
	}
	fuse_clean();
	st = evd_stop(&evd);

	users_clean();
	assert_int_equal(st, 0);
	return 0;
}

static void
useradd(const char *name, const char *more)
{
	assert_int_equal(sh("useradd -M -s /bin/sh %s %s", more, name), 0);
}

/* ---- the freeze reproduction ---- */

#define FREEZE_HOOKS 2000
#define FREEZE_STOP_MS 8000
#define LIVENESS_MS 3000

static void
test_sigstop_loop_does_not_freeze(void **state)
{
	struct passwd *pw;
	int64_t end, worst = 0;
	pid_t stopper, cont;
	uint64_t last;
	Evd__Reply *r;
	int fd, st, n = 0;

	useradd(USER_A, "");
	pw = getpwnam(USER_A);
	assert_non_null(pw);
	/* All fire 1 s from now, while the stopper runs. */
	last = schedule_as(pw->pw_uid, pw->pw_gid, "true", 1 * SEC, USER_A,
	                   NULL, FREEZE_HOOKS);
	assert_true(last > 0);
	stopper = fork();
	assert_true(stopper >= 0);
	stopper_pid = stopper;
	if (stopper == 0) {
		if (become(pw->pw_uid, pw->pw_gid) < 0)
			_exit(2);
		/* Everything the user may signal, but itself. */
		for (;;)
			kill(-1, SIGSTOP);
	}
	fd = greet();
	assert_true(fd >= 0);
	end = now_ms() + FREEZE_STOP_MS;
	while (now_ms() < end) {
		int64_t rtt = time_rtt(fd, 10000);

		if (rtt < 0 || rtt > LIVENESS_MS)
			fail_msg("Time took %lld ms (answer: %s) while the "
			         "user stops its hooks",
			         (long long)rtt, rtt < 0 ? "none" : "late");
		if (rtt > worst)
			worst = rtt;
		n++;
		usleep(20000);
	}
	kill(stopper, SIGKILL);
	assert_int_equal(waitpid(stopper, &st, 0), stopper);
	stopper_pid = 0;
	/* Let everything of the user go on. */
	for (int i = 0; i < 3; i++) {
		cont = fork();
		assert_true(cont >= 0);
		if (cont == 0) {
			if (become(pw->pw_uid, pw->pw_gid) < 0)
				_exit(2);
			kill(-1, SIGCONT);
			_exit(0);
		}
		assert_int_equal(waitpid(cont, &st, 0), cont);
		usleep(100000);
	}
	print_message("%d Time requests, slowest %lld ms\n", n,
	              (long long)worst);
	assert_true(time_rtt(fd, 5000) >= 0);
	/* Every hook ends: the last one (FIFO per user) finishes. */
	r = wait_run(fd, last, 120000);
	assert_non_null(r);
	if (r->exec_finished->run->outcome ==
	    EVD__RUN_OUTCOME__RUN_EXEC_FAILED)
		assert_non_null(r->exec_finished->run->detail);
	else
		assert_int_equal(r->exec_finished->run->outcome,
		                 EVD__RUN_OUTCOME__RUN_EXEC_EXITED);
	evd__reply__free_unpacked(r, NULL);
	assert_true(time_rtt(fd, 5000) >= 0);
	close(fd);
	assert_true(evd_alive(&evd));
}

/* ---- the child ---- */

static void
test_child_fds_caps_env_ids(void **state)
{
	static const char cmd[] =
	    "ls /proc/$$/fd; "
	    "grep CapEff /proc/$$/status; echo ids $(id -u) $(id -g) "
	    "$(id -G); env | sort";
	struct passwd *pw;
	struct group *gr;
	char want[PATH_MAX + 64], *out;
	gid_t groups[64];
	int ng = 64, fd;
	uint64_t id;
	Evd__Reply *r;
	size_t off;

	assert_int_equal(sh("groupadd %s", GROUP_G), 0);
	useradd(USER_A, G_OPT);
	pw = getpwnam(USER_A);
	gr = getgrnam(GROUP_G);
	assert_non_null(pw);
	assert_non_null(gr);
	id = schedule_as(pw->pw_uid, pw->pw_gid, cmd, 300 * MS, USER_A, "/",
	                 1);
	assert_true(id > 0);
	fd = greet();
	r = wait_run(fd, id, 30000);
	assert_non_null(r);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_EXITED);
	out = strndup((char *)r->exec_finished->run->stdout_tail.data,
	              r->exec_finished->run->stdout_tail.len);
	print_message("%s", out);
	/* the shell's fds (ls is its child): exactly 0 1 2 */
	assert_memory_equal(out, "0\n1\n2\nCapEff:", 13);
	assert_non_null(strstr(out, "CapEff:\t0000000000000000\n"));
	assert_true(getgrouplist(pw->pw_name, pw->pw_gid, groups, &ng) >= 0);
	off = (size_t)snprintf(want, sizeof want, "ids %u %u %u",
	                       (unsigned)pw->pw_uid, (unsigned)pw->pw_gid,
	                       (unsigned)pw->pw_gid);
	for (int i = 0; i < ng; i++)
		if (groups[i] != pw->pw_gid)
			off += (size_t)snprintf(want + off, sizeof want - off,
			                        " %u", (unsigned)groups[i]);
	snprintf(want + off, sizeof want - off, "\n");
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof want, "\nEVD_SOCKET=%s\n", evd.sock);
	assert_non_null(strstr(out, want));
	snprintf(want, sizeof want, "\nEVD_TIMER_ID=%llu\n",
	         (unsigned long long)id);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "\nLANG=C.UTF-8\n"));
	assert_non_null(strstr(out, "\nTZ=Europe/Paris\n"));
	snprintf(want, sizeof want, "\nUSER=%s\n", USER_A);
	assert_non_null(strstr(out, want));
	assert_null(strstr(out, "EVD_TEST_SECRET"));
	assert_null(strstr(out, "NOTIFY_SOCKET"));
	free(out);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

/* The pid of evd's child named evd-spawner, or 0. */
static pid_t
spawner_of(pid_t evd_pid)
{
	char path[128], comm[32], line[64];
	pid_t found = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/task/%ld/children",
	         (long)evd_pid, (long)evd_pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (found == 0 && fscanf(f, "%63s", line) == 1) {
		FILE *c;

		snprintf(path, sizeof path, "/proc/%s/comm", line);
		if ((c = fopen(path, "r")) == NULL)
			continue;
		if (fgets(comm, sizeof comm, c) != NULL &&
		    strncmp(comm, "evd-spawner", 11) == 0)
			found = (pid_t)atol(line);
		fclose(c);
	}
	fclose(f);
	return found;
}

/* A spawner that dies (an OOM kill, a bug) comes back on its own: a
 * hook due after that runs; before, none ran until evd restarted. */
static void
test_spawner_restarts(void **state)
{
	pid_t old, now = 0;
	uint64_t id;
	Evd__Reply *r;
	int fd;

	old = spawner_of(evd.pid);
	assert_true(old > 0);
	assert_int_equal(kill(old, SIGKILL), 0);
	for (int i = 0; i < 100 && (now == 0 || now == old); i++) {
		usleep(50 * 1000);
		now = spawner_of(evd.pid);
	}
	print_message("spawner %ld, then %ld\n", (long)old, (long)now);
	assert_true(now > 0 && now != old);
	id = schedule_as(0, 0, "echo back", 100 * MS, NULL, NULL, 1);
	assert_true(id > 0);
	fd = greet();
	r = wait_run(fd, id, 30000);
	assert_non_null(r);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_EXITED);
	assert_int_equal(r->exec_finished->run->exit_code, 0);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

/* ---- identity at fire time ---- */

static void
test_uid_reuse(void **state)
{
	char marker[PATH_MAX + 64], cmd[2 * PATH_MAX + 128];
	struct passwd *pw;
	uid_t uid;
	gid_t gid;
	uint64_t id;
	Evd__Reply *r;
	int fd;

	snprintf(marker, sizeof marker, "%s/ran", evd.dir);
	snprintf(cmd, sizeof cmd, "id -un > %s", marker);
	assert_int_equal(chmod(evd.dir, 0777), 0);
	useradd(USER_A, "");
	pw = getpwnam(USER_A);
	assert_non_null(pw);
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	id = schedule_as(uid, gid, cmd, 3 * SEC, USER_A, NULL, 1);
	assert_true(id > 0);
	/* A leaves; B gets A's uid before the fire. */
	assert_int_equal(sh("userdel %s", USER_A), 0);
	assert_int_equal(sh("useradd -M -u %u -o %s", (unsigned)uid, USER_B), 0);
	fd = greet();
	r = wait_run(fd, id, 30000);
	assert_non_null(r);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_FAILED);
	print_message("detail: %s\n", r->exec_finished->run->detail);
	assert_non_null(strstr(r->exec_finished->run->detail, USER_A));
	assert_int_equal(access(marker, F_OK), -1);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

/* Schedules one hook as uid (a forked client); returns the reply's error
 * code (0: scheduled, its id in *id) with its message in msg. */
static int
schedule_as_err(uid_t uid, gid_t gid, const char *cmd, const char *user,
                uint64_t *id, char *msg, size_t size)
{
	struct {
		int32_t code;
		uint64_t id;
		char msg[256];
	} got;
	int p[2], status;
	pid_t pid;

	memset(&got, 0, sizeof got);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct hook_req h;
		Evd__Reply *r;
		int fd;

		close(p[0]);
		got.code = -1;
		if (become(uid, gid) < 0 || (fd = greet()) < 0)
			_exit(2);
		hook_req_init(&h, cmd, 60 * SEC, user, NULL);
		if ((r = call(fd, &h.rq)) != NULL) {
			got.code = 0;
			if (r->body_case == EVD__REPLY__BODY_SCHEDULED) {
				got.id = r->scheduled->timer_id;
			} else if (r->body_case == EVD__REPLY__BODY_ERROR) {
				got.code = r->error->code;
				snprintf(got.msg, sizeof got.msg, "%s",
				         r->error->message);
			}
		}
		if (write(p[1], &got, sizeof got) != sizeof got)
			_exit(4);
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &got, sizeof got), (ssize_t)sizeof got);
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	*id = got.id;
	snprintf(msg, size, "%s", got.msg);
	return got.code;
}

/* Can uid schedule a plain timer for itself (no hook)? */
static bool
schedule_caller_as(uid_t uid, gid_t gid)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__CallLater cl = EVD__CALL_LATER__INIT;
		Evd__Reply *r;
		int fd;

		if (become(uid, gid) < 0 || (fd = greet()) < 0)
			_exit(2);
		cl.has_delay_ns = 1;
		cl.delay_ns = 60 * SEC;
		rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
		rq.call_later = &cl;
		r = call(fd, &rq);
		_exit(r != NULL && r->body_case == EVD__REPLY__BODY_SCHEDULED
		          ? 0 : 3);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The name a timer's hook is stored with (Get, as root). */
static char *
stored_user(uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Get g = EVD__GET__INIT;
	Evd__Reply *r;
	char *user = NULL;
	int fd = greet();

	g.has_timer_id = 1;
	g.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_GET;
	rq.get = &g;
	r = call(fd, &rq);
	assert_non_null(r);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	if (r->timer->callback->exec->user != NULL)
		user = strdup(r->timer->callback->exec->user);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
	return user;
}

/*
 * A system instance refuses a hook from a uid without a passwd entry
 * when it is scheduled (at(1): "Userid not found"), not at each fire;
 * the same uid may still schedule what is not a hook.
 */
static void
test_no_passwd_entry(void **state)
{
	char msg[256];
	uid_t uid = 54321;
	uint64_t id = 0;
	int code;

	if (getpwuid(uid) != NULL)
		skip();
	code = schedule_as_err(uid, uid, "true", NULL, &id, msg, sizeof msg);
	print_message("refused: %s\n", msg);
	assert_int_equal(code, EVD__ERROR_CODE__PERMISSION_DENIED);
	assert_non_null(strstr(msg, "no passwd entry"));
	/* Again on the same connection's uid, now cached. */
	code = schedule_as_err(uid, uid, "true", "root", &id, msg, sizeof msg);
	assert_int_equal(code, EVD__ERROR_CODE__PERMISSION_DENIED);
	/* Not a hook: served. */
	assert_true(schedule_caller_as(uid, uid));
}

/* A user's hook is stored with the user's name, filled in by evd when
 * the client left it out; another user's name is refused (every fire
 * would refuse it). */
static void
test_owner_name_at_schedule(void **state)
{
	struct passwd *pw;
	char msg[256], *user;
	uint64_t id = 0;
	int code;

	useradd(USER_A, "");
	pw = getpwnam(USER_A);
	assert_non_null(pw);
	code = schedule_as_err(pw->pw_uid, pw->pw_gid, "true", NULL, &id, msg,
	                       sizeof msg);
	assert_int_equal(code, 0);
	user = stored_user(id);
	assert_non_null(user);
	assert_string_equal(user, USER_A);
	free(user);
	code = schedule_as_err(pw->pw_uid, pw->pw_gid, "true", "root", &id,
	                       msg, sizeof msg);
	print_message("refused: %s\n", msg);
	assert_int_equal(code, EVD__ERROR_CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(msg, USER_A));
}

/* The owner left after scheduling: the fire finds no passwd entry for
 * the name and does not run the hook. */
static void
test_owner_deleted_before_fire(void **state)
{
	char marker[PATH_MAX + 64], cmd[2 * PATH_MAX + 128];
	struct passwd *pw;
	uint64_t id;
	Evd__Reply *r;
	int fd;

	snprintf(marker, sizeof marker, "%s/ran", evd.dir);
	snprintf(cmd, sizeof cmd, "touch %s", marker);
	assert_int_equal(chmod(evd.dir, 0777), 0);
	useradd(USER_A, "");
	pw = getpwnam(USER_A);
	assert_non_null(pw);
	id = schedule_as(pw->pw_uid, pw->pw_gid, cmd, 2 * SEC, NULL, NULL, 1);
	assert_true(id > 0);
	assert_int_equal(sh("userdel %s", USER_A), 0);
	fd = greet();
	r = wait_run(fd, id, 30000);
	assert_non_null(r);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_FAILED);
	print_message("detail: %s\n", r->exec_finished->run->detail);
	assert_non_null(strstr(r->exec_finished->run->detail, USER_A));
	assert_int_equal(access(marker, F_OK), -1);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

/*
 * Groups are the owner's at fire time: A leaves G and gets H as its
 * primary group between schedule and fire; the hook has H (as gid and in
 * its groups) and not G, nor A's old primary group.
 */
static void
test_group_removed_before_fire(void **state)
{
	struct passwd *pw;
	struct group *g, *h;
	char want[64], *out;
	gid_t old_gid;
	uint64_t id;
	Evd__Reply *r;
	int fd;

	assert_int_equal(sh("groupadd %s", GROUP_G), 0);
	assert_int_equal(sh("groupadd %s", GROUP_H), 0);
	useradd(USER_A, G_OPT);
	pw = getpwnam(USER_A);
	assert_non_null(pw);
	old_gid = pw->pw_gid;
	id = schedule_as(pw->pw_uid, pw->pw_gid,
	                 "echo \" $(id -g) : $(id -G) \"", 2 * SEC, USER_A, NULL,
	                 1);
	assert_true(id > 0);
	assert_int_equal(sh("gpasswd -d %s %s >/dev/null", USER_A, GROUP_G),
	                 0);
	assert_int_equal(sh("usermod -g %s %s", GROUP_H, USER_A), 0);
	g = getgrnam(GROUP_G);
	assert_non_null(g);
	gid_t ggid = g->gr_gid;
	h = getgrnam(GROUP_H);
	assert_non_null(h);
	gid_t hgid = h->gr_gid;
	fd = greet();
	r = wait_run(fd, id, 30000);
	assert_non_null(r);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_EXITED);
	out = strndup((char *)r->exec_finished->run->stdout_tail.data,
	              r->exec_finished->run->stdout_tail.len);
	print_message("gid : groups:%s", out);
	snprintf(want, sizeof want, " %u : %u \n", (unsigned)hgid,
	         (unsigned)hgid);
	assert_string_equal(out, want);
	assert_true(ggid != hgid && old_gid != hgid);
	free(out);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

/* ---- fairness ---- */

static void
test_backlog_does_not_hold_other_user(void **state)
{
	char conf[PATH_MAX + 16];
	const char *extra[] = {"--config", conf, NULL};
	struct passwd *a, *b;
	uint64_t id;
	Evd__Reply *r;
	int64_t t0;
	FILE *f;
	int fd;

	/* A fresh daemon with small queues. */
	assert_int_equal(evd_stop(&evd), 0);
	snprintf(conf, sizeof conf, "/tmp/evd-spawner-%d.conf", (int)getpid());
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "exec_max_running = 4\nexec_max_per_uid = 2\n"
	           "exec_max_queued = 3\n");
	fclose(f);
	assert_int_equal(start_evd(extra), 0);
	useradd(USER_A, "");
	useradd(USER_B, "");
	a = getpwnam(USER_A);
	assert_non_null(a);
	uid_t auid = a->pw_uid;
	gid_t agid = a->pw_gid;
	b = getpwnam(USER_B);
	assert_non_null(b);
	/* A: 2 running (its share), 5 queued (3 + the 2 free slots of
	 * the 4), 3 held by the scheduler: a global queue would be full. */
	assert_true(schedule_as(auid, agid, "sleep 60", 0, USER_A, NULL, 10) >
	            0);
	usleep(500000);
	t0 = now_ms();
	id = schedule_as(b->pw_uid, b->pw_gid, "echo b-ran", 0, USER_B, NULL,
	                 1);
	assert_true(id > 0);
	fd = greet();
	r = wait_run(fd, id, 10000);
	assert_non_null(r);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_EXITED);
	print_message("B's hook done %lld ms after it was scheduled\n",
	              (long long)(now_ms() - t0));
	assert_true(now_ms() - t0 < 5000);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
	unlink(conf);
}

/* ---- a hung cwd ---- */

static const char fuse_py[] =
    "import errno, os, stat, sys, threading, time\n"
    "try:\n"
    "    from fusepy import FUSE, FuseOSError, Operations\n"
    "except ImportError:\n"
    "    from fuse import FUSE, FuseOSError, Operations\n"
    "class Hang(Operations):\n"
    "    def getattr(self, path, fh=None):\n"
    "        if path == '/':\n"
    "            return dict(st_mode=stat.S_IFDIR | 0o755, st_nlink=2)\n"
    "        if path == '/hang':\n"
    "            threading.Event().wait()\n"
    "        raise FuseOSError(errno.ENOENT)\n"
    "    def readdir(self, path, fh):\n"
    "        return ['.', '..', 'hang']\n"
    "FUSE(Hang(), sys.argv[1], foreground=True, nothreads=False,\n"
    "     allow_other=True)\n";

static void
test_hung_cwd(void **state)
{
	char *mnt = fuse_mnt, py[PATH_MAX + 16], cwd[PATH_MAX + 64];
	int64_t t0, worst = 0;
	Evd__Reply *r;
	uint64_t id;
	pid_t fs;
	FILE *f;
	int fd, st;
	bool mounted = false;

	snprintf(fuse_mnt, sizeof fuse_mnt, "%s/mnt", evd.dir);
	snprintf(py, sizeof py, "%s/hang.py", evd.dir);
	snprintf(cwd, sizeof cwd, "%s/hang", mnt);
	assert_int_equal(mkdir(mnt, 0755), 0);
	f = fopen(py, "w");
	assert_non_null(f);
	fputs(fuse_py, f);
	fclose(f);
	fs = fork();
	assert_true(fs >= 0);
	fuse_pid = fs;
	if (fs == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		/* Debian's python3-fusepy, not a python of someone's PATH */
		execl("/usr/bin/python3", "python3", py, mnt, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && !mounted; i++) {
		struct stat a, b;

		usleep(50000);
		mounted = stat(mnt, &a) == 0 && stat(evd.dir, &b) == 0 &&
		          a.st_dev != b.st_dev;
	}
	if (!mounted) {
		kill(fs, SIGKILL);
		waitpid(fs, &st, 0);
		fuse_pid = 0;
		print_message("SKIP: cannot mount a FUSE file system here "
		              "(python3-fusepy, /dev/fuse)\n");
		skip();
	}
	fd = greet();
	assert_true(fd >= 0);
	id = schedule(fd, "echo should-not-run", 0, NULL, cwd);
	assert_true(id > 0);
	/* evd answers while the child hangs in chdir. */
	t0 = now_ms();
	while (now_ms() - t0 < 2500) {
		int64_t rtt = time_rtt(fd, 10000);

		assert_true(rtt >= 0 && rtt < LIVENESS_MS);
		if (rtt > worst)
			worst = rtt;
		usleep(50000);
	}
	r = wait_run(fd, id, 30000);
	assert_non_null(r);
	print_message("detail: %s (slowest Time %lld ms)\n",
	              r->exec_finished->run->detail, (long long)worst);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_FAILED);
	assert_non_null(strstr(r->exec_finished->run->detail,
	                       "did not start within"));
	evd__reply__free_unpacked(r, NULL);
	assert_true(time_rtt(fd, 5000) >= 0);
	close(fd);
	fuse_clean();
}

/* ---- Limit*= job properties ---- */

/* Schedules "sh -c cmd" with properties as uid/gid (0: as this root
 * client, in this process); the timer id, 0 on failure. */
static uint64_t
schedule_props(uid_t uid, gid_t gid, const char *user, const char *cmd,
               const char *const *props, size_t nprops)
{
	int p[2], status;
	uint64_t id = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct hook_req h;
		Evd__Reply *r;
		int fd;

		close(p[0]);
		if ((uid != 0 && become(uid, gid) < 0) || (fd = greet()) < 0)
			_exit(2);
		hook_req_init(&h, cmd, 200 * MS, user, "/");
		h.x.n_properties = nprops;
		h.x.properties = (char **)props;
		r = call(fd, &h.rq);
		if (r != NULL && r->body_case == EVD__REPLY__BODY_SCHEDULED)
			id = r->scheduled->timer_id;
		else if (r != NULL && r->body_case == EVD__REPLY__BODY_ERROR)
			fprintf(stderr, "refused: %s\n", r->error->message);
		if (write(p[1], &id, sizeof id) != sizeof id)
			_exit(4);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &id, sizeof id) != sizeof id)
		id = 0;
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return id;
}

/* The soft and hard values of the /proc/PID/limits line starting with
 * what (e.g. "Max open files"), in text; "unlimited" is UINT64_MAX. */
static void
limits_of(const char *text, const char *what, uint64_t *soft, uint64_t *hard)
{
	const char *line = strstr(text, what);
	char a[32], b[32];

	if (line == NULL)
		fail_msg("no \"%s\" in:\n%s", what, text);
	line += strlen(what);
	assert_int_equal(sscanf(line, "%31s %31s", a, b), 2);
	*soft = strcmp(a, "unlimited") == 0 ? UINT64_MAX
	                                     : strtoull(a, NULL, 10);
	*hard = strcmp(b, "unlimited") == 0 ? UINT64_MAX
	                                     : strtoull(b, NULL, 10);
}

/* evd's own hard limit for what: a hook's can never pass it. */
static uint64_t
evd_hard(const char *what)
{
	char path[64], text[8192];
	uint64_t soft, hard;
	size_t n;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/limits", (int)evd.pid);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof text - 1, f);
	fclose(f);
	text[n] = '\0';
	limits_of(text, what, &soft, &hard);
	return hard;
}

static uint64_t
min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Runs the hook, which prints its own /proc limits; its stdout. */
static char *
limits_run(uid_t uid, gid_t gid, const char *user, const char *const *props,
           size_t nprops)
{
	uint64_t id = schedule_props(uid, gid, user,
	                             "echo n=$(ulimit -n); cat /proc/$$/limits",
	                             props, nprops);
	Evd__Reply *r;
	char *out;
	int fd;

	assert_true(id > 0);
	fd = greet();
	assert_true(fd >= 0);
	r = wait_run(fd, id, 30000);
	assert_non_null(r);
	if (r->exec_finished->run->outcome !=
	    EVD__RUN_OUTCOME__RUN_EXEC_EXITED)
		fail_msg("hook did not run: outcome %d",
		         (int)r->exec_finished->run->outcome);
	out = strndup((char *)r->exec_finished->run->stdout_tail.data,
	              r->exec_finished->run->stdout_tail.len);
	assert_non_null(out);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
	return out;
}

static void
assert_limit(const char *out, const char *what, uint64_t soft, uint64_t hard)
{
	uint64_t s, h;

	limits_of(out, what, &s, &h);
	if (s != soft || h != hard)
		fail_msg("%s: soft %llu hard %llu, want %llu %llu", what,
		         (unsigned long long)s, (unsigned long long)h,
		         (unsigned long long)soft, (unsigned long long)hard);
}

/*
 * The spawner applies Limit*= in the child after the drop to the owner,
 * clamped to evd's hard limit, the last of repeated keys winning; before,
 * it ignored them (ulimit -n said 1024, the spawner's default).
 */
static void
test_rlimits(void **state)
{
	static const char *const basic[] = {"LimitNOFILE=64", "LimitCORE=0",
	                                    "LimitNPROC=50"};
	/* Applied one by one after the drop, the first would have lowered
	 * the hard limit to 32 for good; the last one wins instead. */
	static const char *const repeated[] = {
	    "LimitNOFILE=32", "LimitNOFILE=100:200", "LimitCORE=1K:2K"};
	uint64_t nofile_hard = evd_hard("Max open files");
	uint64_t core_hard = evd_hard("Max core file size");
	uint64_t nproc_hard = evd_hard("Max processes");
	char high[64], *out;
	const char *above[2];
	struct passwd *pw;

	(void)state;
	useradd(USER_A, "");
	pw = getpwnam(USER_A);
	assert_non_null(pw);

	out = limits_run(pw->pw_uid, pw->pw_gid, USER_A, basic, 3);
	print_message("%s", out);
	assert_memory_equal(out, "n=64\n", 5);
	assert_limit(out, "Max open files", 64, 64);
	assert_limit(out, "Max core file size", 0, 0);
	assert_limit(out, "Max processes", min64(50, nproc_hard),
	             min64(50, nproc_hard));
	free(out);

	out = limits_run(pw->pw_uid, pw->pw_gid, USER_A, repeated, 3);
	assert_limit(out, "Max open files", min64(100, nofile_hard),
	             min64(200, nofile_hard));
	assert_limit(out, "Max core file size", min64(1024, core_hard),
	             min64(2048, core_hard));
	free(out);

	/* Root's own hook could raise its hard limit: clamped to evd's
	 * instead, never raised. */
	snprintf(high, sizeof high, "LimitNOFILE=%llu",
	         (unsigned long long)nofile_hard * 2);
	above[0] = high;
	above[1] = "LimitNPROC=infinity";
	out = limits_run(0, 0, NULL, above, 2);
	assert_limit(out, "Max open files", nofile_hard, nofile_hard);
	assert_limit(out, "Max processes", nproc_hard, nproc_hard);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_child_fds_caps_env_ids, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_spawner_restarts, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_uid_reuse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_passwd_entry, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_owner_name_at_schedule, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_owner_deleted_before_fire,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_removed_before_fire,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_backlog_does_not_hold_other_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hung_cwd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sigstop_loop_does_not_freeze,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rlimits, setup, teardown),
	};

	if (geteuid() != 0) {
		printf("SKIP: needs root (creates users with useradd, runs "
		       "hooks as them)\n");
		return 77;
	}
	names_init();
	if (system("command -v useradd >/dev/null && command -v gpasswd "
	           ">/dev/null") != 0) {
		printf("SKIP: useradd/gpasswd not installed\n");
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
