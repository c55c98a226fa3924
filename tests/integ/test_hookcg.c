/*
 * test_hookcg: per-hook cgroups of the spawner path (issue 14, item 1),
 * through the real evd started inside a cgroup v2 subtree of its own (as
 * systemd's Delegate=yes gives one): each hook runs in its own cgroup, a
 * timeout kills a grandchild that left the hook's process group with
 * setsid() and ignores SIGTERM (the process-group kill alone cannot reach
 * it), and the hook's cgroup is gone after the run.
 *
 * Needs root and a writable cgroup2 mount; exits 77 otherwise, saying
 * why. It moves itself into a fresh cgroup before starting evd (which
 * inherits it) and back to where it was at the end.
 */
#include <errno.h>
#include <dirent.h>
#include <limits.h>
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define MS 1000000LL
#define SEC 1000000000LL

static struct evd_proc evd;
static uint64_t rid = 1;
#define CGPATH (2 * PATH_MAX)
static char mnt[PATH_MAX];    /* the cgroup2 mount */
static char home_cg[PATH_MAX + 64]; /* where this test was */
static char test_cg[CGPATH]; /* where evd runs */

static bool
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	bool ok;

	if (f == NULL)
		return false;
	ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok;
}

/* The cgroup2 mount and this process's cgroup on it. */
static bool
find_cgroup2(void)
{
	char line[2 * PATH_MAX], rel[2 * PATH_MAX] = "";
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (f == NULL)
		return false;
	while (mnt[0] == '\0' && fgets(line, sizeof line, f) != NULL) {
		char root[PATH_MAX], m[PATH_MAX], *dash = strstr(line, " - ");

		if (dash != NULL && strncmp(dash, " - cgroup2 ", 11) == 0 &&
		    sscanf(line, "%*s %*s %*s %4095s %4095s", root, m) == 2 &&
		    strcmp(root, "/") == 0)
			snprintf(mnt, sizeof mnt, "%s", m);
	}
	fclose(f);
	if (mnt[0] == '\0' || (f = fopen("/proc/self/cgroup", "re")) == NULL)
		return false;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(rel, sizeof rel, "%s", line + 3);
		}
	fclose(f);
	if (snprintf(home_cg, sizeof home_cg, "%s%s", mnt,
	             strcmp(rel, "/") == 0 ? "" : rel) >= (int)sizeof home_cg)
		return false;
	return rel[0] == '/';
}

static void
rmdir_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d != NULL) {
		while ((e = readdir(d)) != NULL) {
			char sub[CGPATH + 64];

			if (e->d_type != DT_DIR || e->d_name[0] == '.')
				continue;
			snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
			rmdir_tree(sub);
		}
		closedir(d);
	}
	(void)rmdir(dir);
}

static int
greet(void)
{
	int fd = raw_connect(evd.sock);

	if (fd < 0 || raw_hello(fd, rid++) < 0)
		return -1;
	return fd;
}

static Evd__Reply *
call(int fd, Evd__Request *rq)
{
	rq->has_request_id = 1;
	rq->request_id = rid++;
	return raw_call(fd, rq, 10000);
}

/* Schedules a shell command as an exec hook now; returns its id or 0. */
static uint64_t
hook(int fd, const char *cmd, int64_t timeout_ns)
{
	const char *argv[] = {cmd};
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallSoon cs = EVD__CALL_SOON__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Exec x = EVD__EXEC__INIT;
	Evd__Reply *r;
	uint64_t id = 0;

	x.argv = (char **)argv;
	x.n_argv = 1;
	x.has_shell = x.shell = 1;
	x.has_timeout_ns = timeout_ns > 0;
	x.timeout_ns = timeout_ns;
	cb.target_case = EVD__CALLBACK__TARGET_EXEC;
	cb.exec = &x;
	cs.callback = &cb;
	rq.body_case = EVD__REQUEST__BODY_CALL_SOON;
	rq.call_soon = &cs;
	r = call(fd, &rq);
	if (r != NULL && r->body_case == EVD__REPLY__BODY_SCHEDULED)
		id = r->scheduled->timer_id;
	else if (r != NULL && r->body_case == EVD__REPLY__BODY_ERROR)
		fprintf(stderr, "schedule: %s\n", r->error->message);
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	return id;
}

/* Waits for id's run to end; returns its ExecFinished reply. */
static Evd__Reply *
wait_for(int fd, uint64_t id)
{
	return raw_wait_exec(fd, rid++, id, 30000);
}

/* A process is gone when it no longer exists or is a zombie (this
 * sandbox's pid 1 may not reap orphans at once). */
static bool
gone(pid_t pid)
{
	char path[64], buf[512], *st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return true;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	st = strrchr(buf, ')');
	return st == NULL || st[1] == '\0' || st[2] == 'Z' || st[2] == 'X';
}

static long
read_pid(const char *path)
{
	FILE *f = fopen(path, "re");
	long pid = 0;

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid;
}

static bool
hooks_dir_empty(void)
{
	char dir[CGPATH + 64];
	struct dirent *e;
	DIR *d;
	bool empty = true;

	snprintf(dir, sizeof dir, "%s/hooks", test_cg);
	if ((d = opendir(dir)) == NULL)
		return true;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "run-", 4) == 0)
			empty = false;
	closedir(d);
	return empty;
}

/*
 * The hook reports its cgroup, then starts a grandchild in a session of
 * its own that ignores SIGTERM, and sleeps past its 1 s timeout. The
 * timeout must end the grandchild too, and the run's cgroup must go.
 */
static void
test_timeout_kills_escaped_grandchild(void **state)
{
	char pidfile[PATH_MAX + 32], cgfile[PATH_MAX + 32], cmd[3 * PATH_MAX],
	     line[PATH_MAX];
	Evd__Reply *r;
	uint64_t id;
	long pid;
	FILE *f;
	int fd = greet(), i;

	assert_true(fd >= 0);
	snprintf(pidfile, sizeof pidfile, "%s/grandchild.pid", evd.dir);
	snprintf(cgfile, sizeof cgfile, "%s/hook.cgroup", evd.dir);
	snprintf(cmd, sizeof cmd,
	         "grep '^0::' /proc/self/cgroup > %s; "
	         "setsid sh -c 'trap \"\" TERM; echo $$ > %s; exec sleep 600' "
	         "</dev/null >/dev/null 2>&1 & sleep 600",
	         cgfile, pidfile);
	id = hook(fd, cmd, 1 * SEC);
	assert_true(id > 0);
	r = wait_for(fd, id);
	assert_non_null(r);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_TIMED_OUT);
	evd__reply__free_unpacked(r, NULL);

	f = fopen(cgfile, "re");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof line, f));
	fclose(f);
	assert_non_null(strstr(line, "/hooks/run-"));

	pid = read_pid(pidfile);
	assert_true(pid > 0);
	for (i = 0; i < 100 && !gone((pid_t)pid); i++)
		usleep(50000);
	if (!gone((pid_t)pid))
		kill((pid_t)pid, SIGKILL); /* do not leave it behind */
	assert_true(gone((pid_t)pid));
	for (i = 0; i < 100 && !hooks_dir_empty(); i++)
		usleep(50000);
	assert_true(hooks_dir_empty());
	close(fd);
}

/* A hook that exits at once runs, in its own cgroup, and leaves none. */
static void
test_plain_hook(void **state)
{
	Evd__Reply *r;
	uint64_t id;
	int fd = greet(), i;

	assert_true(fd >= 0);
	id = hook(fd, "grep -q '/hooks/run-' /proc/self/cgroup", 0);
	assert_true(id > 0);
	r = wait_for(fd, id);
	assert_non_null(r);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_EXITED);
	assert_int_equal(r->exec_finished->run->exit_code, 0);
	evd__reply__free_unpacked(r, NULL);
	for (i = 0; i < 100 && !hooks_dir_empty(); i++)
		usleep(50000);
	assert_true(hooks_dir_empty());
	close(fd);
}

static int
setup(void **state)
{
	char procs[CGPATH + 64], pid[32];

	if ((size_t)snprintf(test_cg, sizeof test_cg, "%s/evd-test-hookcg-%ld",
	                     home_cg, (long)getpid()) >= sizeof test_cg)
		return -1;
	snprintf(procs, sizeof procs, "%s/cgroup.procs", test_cg);
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	if (mkdir(test_cg, 0755) < 0 || !write_file(procs, pid)) {
		fprintf(stderr, "cannot enter %s: %s\n", test_cg,
		        strerror(errno));
		return -1;
	}
	if (evd_start(&evd, NULL) < 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	char procs[CGPATH + 64], pid[32];
	int r = evd_stop(&evd) == 0 ? 0 : -1;

	snprintf(procs, sizeof procs, "%s/cgroup.procs", home_cg);
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	(void)write_file(procs, pid);
	rmdir_tree(test_cg);
	return r;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_hook),
		cmocka_unit_test(test_timeout_kills_escaped_grandchild),
	};
	char probe[CGPATH + 64];

	if (geteuid() != 0) {
		printf("test_hookcg: skipped: needs root (cgroups, hooks)\n");
		return 77;
	}
	if (!find_cgroup2()) {
		printf("test_hookcg: skipped: no cgroup v2 hierarchy mounted\n");
		return 77;
	}
	snprintf(probe, sizeof probe, "%s/cgroup.procs", home_cg);
	if (access(home_cg, W_OK) < 0 || access(probe, W_OK) < 0) {
		printf("test_hookcg: skipped: %s is not writable\n", home_cg);
		return 77;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
