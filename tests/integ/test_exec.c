/*
 * test_exec: the exec-hook runner (daemon/exec.c) on its own event_base,
 * no daemon. Real processes: /bin/sh, cat, env, id, sleep.
 *
 * Each test gets a fresh base and runner (setup/teardown) and ends with
 * no child left: waitpid(-1, WNOHANG) must answer ECHILD. Cases the
 * sandbox cannot run (setuid refused) are skipped, saying why.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "exec.h"
#include "spawner.h"

#define NS (INT64_C(1000000000))
#define MS (INT64_C(1000000))

static struct event_base *base;

/* A result copied out of the callback (r is only borrowed there). */
struct got {
	bool done;
	enum exec_outcome outcome;
	int code;
	int64_t duration_ns;
	int64_t submitted_ns;
	int64_t started_ns;
	char *out;
	size_t out_len;
	char *err;
	size_t err_len;
	char errmsg[512];
	pid_t pid;
	size_t stdin_written;
};

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static char *
dupz(const char *p, size_t n)
{
	char *d = malloc(n + 1);

	assert_non_null(d);
	if (n > 0)
		memcpy(d, p, n);
	d[n] = '\0';
	return d;
}

static void
got_cb(const struct exec_result *r, void *arg)
{
	struct got *g = arg;

	assert_false(g->done);
	g->done = true;
	g->outcome = r->outcome;
	g->code = r->code;
	g->duration_ns = r->duration_ns;
	g->submitted_ns = r->submitted_ns;
	g->started_ns = r->started_ns;
	g->out = dupz(r->out, r->out_len);
	g->out_len = r->out_len;
	g->err = dupz(r->err, r->err_len);
	g->err_len = r->err_len;
	g->pid = r->pid;
	g->stdin_written = r->stdin_written;
	if (r->errmsg != NULL)
		snprintf(g->errmsg, sizeof(g->errmsg), "%s", r->errmsg);
}

static void
got_clear(struct got *g)
{
	free(g->out);
	free(g->err);
	memset(g, 0, sizeof(*g));
}

/* Runs the loop until *flag or the deadline; fails on the deadline. */
static void
loop_until(const bool *flag, int64_t limit_ns)
{
	int64_t end = now_ns() + limit_ns;

	while (!*flag) {
		assert_true(now_ns() < end);
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		if (!*flag)
			usleep(200);
	}
}

static struct exec_spec
spec_argv(const char *const *argv, size_t argc)
{
	struct exec_spec s = {
	    .uid = geteuid(), .gid = getegid(), .argv = argv, .argc = argc};

	return s;
}

/* Runs one spec to completion; the result in *g. */
static void
run(const struct exec_spec *s, struct got *g)
{
	memset(g, 0, sizeof(*g));
	assert_int_equal(exec_submit(s, got_cb, g), 0);
	loop_until(&g->done, 30 * NS);
}

static void
run_sh(const char *cmd, struct got *g)
{
	const char *argv[] = {cmd};
	struct exec_spec s = spec_argv(argv, 1);

	s.shell = true;
	run(&s, g);
}

/* No child but the hook spawner (a child of ours for good): neither a
 * zombie nor a live one. */
static void
assert_no_children(void)
{
	char path[64], buf[256];
	int st, fd;
	ssize_t n;

	assert_int_equal(waitpid(-1, &st, WNOHANG), 0);
	snprintf(path, sizeof(path), "/proc/self/task/%ld/children",
		 (long)getpid());
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	snprintf(path, sizeof(path), "%ld ", (long)spawner_pid());
	assert_string_equal(buf, path);
}

static int
setup(void **state)
{
	base = event_base_new();
	if (base == NULL)
		return -1;
	return exec_init(base, 8, 1000) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	exec_shutdown();
	event_base_free(base);
	base = NULL;
	assert_no_children();
	return 0;
}

static void
test_exit_status(void **state)
{
	const char *f[] = {"false"};
	struct exec_spec s = spec_argv(f, 1);
	struct got g;

	run_sh("echo out; echo err >&2; exit 3", &g);
	assert_int_equal(g.outcome, EXEC_EXITED);
	assert_int_equal(g.code, 3);
	assert_string_equal(g.out, "out\n");
	assert_string_equal(g.err, "err\n");
	assert_true(g.pid > 0);
	assert_true(g.duration_ns > 0);
	assert_true(g.started_ns >= g.submitted_ns);
	got_clear(&g);

	run(&s, &g); /* a bare name, found in the fixed PATH */
	assert_int_equal(g.outcome, EXEC_EXITED);
	assert_int_equal(g.code, 1);
	got_clear(&g);
}

static void
test_signal(void **state)
{
	struct got g;

	run_sh("kill -USR1 $$; sleep 5", &g);
	assert_int_equal(g.outcome, EXEC_SIGNALED);
	assert_int_equal(g.code, SIGUSR1);
	got_clear(&g);
}

static void
test_stdin_payload(void **state)
{
	const char *argv[] = {"/bin/cat"};
	static const uint8_t data[] = "hello\0world";
	struct exec_spec s = spec_argv(argv, 1);
	struct got g;

	s.stdin_data = data;
	s.stdin_len = sizeof(data);
	run(&s, &g);
	assert_int_equal(g.outcome, EXEC_EXITED);
	assert_int_equal(g.code, 0);
	assert_int_equal(g.out_len, sizeof(data));
	assert_memory_equal(g.out, data, sizeof(data));
	assert_int_equal(g.stdin_written, sizeof(data));
	got_clear(&g);

	s.stdin_len = 0; /* no payload: stdin is /dev/null, cat ends */
	run(&s, &g);
	assert_int_equal(g.outcome, EXEC_EXITED);
	assert_int_equal(g.out_len, 0);
	got_clear(&g);
}

static bool
line_in(const char *line, size_t len, const char *const *allowed)
{
	for (; *allowed != NULL; allowed++) {
		size_t k = strlen(*allowed);

		if (len > k && strncmp(line, *allowed, k) == 0 &&
		    line[k] == '=')
			return true;
	}
	return false;
}

static void
test_env_clean(void **state)
{
	const char *argv[] = {"env"};
	const char *env[] = {"FOO=bar baz", "HOME=/elsewhere"};
	const char *allowed[] = {"PATH",	"HOME",	      "USER",
				 "LOGNAME",	"SHELL",      "EVD_TIMER_ID",
				 "EVD_FIRE_ID", "EVD_DUE_NS", "EVD_LATENESS_NS",
				 "FOO",		"EVD_SOCKET", "LANG", "TZ", NULL};
	struct exec_spec s = spec_argv(argv, 1);
	struct got g;
	char want[512];
	int n = 0;

	assert_int_equal(exec_set_socket_path("/run/test/evd.sock"), 0);

	setenv("EVD_TEST_MUST_NOT_LEAK", "1", 1);
	setenv("LD_PRELOAD_NOT_REALLY", "x", 1);
	s.env = env;
	s.nenv = 2;
	s.timer_id = 42;
	s.fire_id = 7;
	s.due_ns = 1700000000123456789;
	s.lateness_ns = -5;
	run(&s, &g);
	assert_int_equal(g.outcome, EXEC_EXITED);
	assert_null(strstr(g.out, "MUST_NOT_LEAK"));
	assert_null(strstr(g.out, "LD_PRELOAD"));
	assert_non_null(strstr(g.out, "EVD_TIMER_ID=42\n"));
	assert_non_null(strstr(g.out, "EVD_FIRE_ID=7\n"));
	assert_non_null(strstr(g.out, "EVD_DUE_NS=1700000000123456789\n"));
	assert_non_null(strstr(g.out, "EVD_LATENESS_NS=-5\n"));
	assert_non_null(strstr(g.out, "PATH=/usr/local/bin:/usr/bin:/bin\n"));
	assert_non_null(strstr(g.out, "FOO=bar baz\n"));
	assert_non_null(strstr(g.out, "EVD_SOCKET=/run/test/evd.sock\n"));
	/* evd's own LANG and TZ, when it has them (read at exec_init) */
	if (getenv("LANG") != NULL) {
		snprintf(want, sizeof(want), "\nLANG=%s\n", getenv("LANG"));
		assert_non_null(strstr(g.out, want + 1));
	}
	(void)exec_set_socket_path(NULL);
	/* the spec replaces HOME, once */
	assert_non_null(strstr(g.out, "HOME=/elsewhere\n"));
	assert_null(strstr(strstr(g.out, "HOME=") + 1, "HOME="));
	for (char *p = g.out, *nl; *p != '\0'; p = nl + 1, n++) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		if (!line_in(p, (size_t)(nl - p), allowed))
			fail_msg("unexpected variable: %.*s", (int)(nl - p), p);
	}
	assert_true(n >= 7);
	got_clear(&g);
	unsetenv("EVD_TEST_MUST_NOT_LEAK");
	unsetenv("LD_PRELOAD_NOT_REALLY");
}

static void
test_bad_specs(void **state)
{
	const char *argv[] = {"env"};
	const char *rel[] = {"bin/true"};
	const char *two[] = {"a", "b"};
	const char *evd[] = {"EVD_TIMER_ID=1"};
	const char *noeq[] = {"FOO"};
	const char *dup[] = {"A=1", "A=2"};
	const char *badk[] = {"1A=2"};
	struct exec_spec s = spec_argv(argv, 1);
	struct got g = {0};

	s.env = evd;
	s.nenv = 1;
	assert_int_equal(exec_submit(&s, got_cb, &g), -EINVAL);
	s.env = noeq;
	assert_int_equal(exec_submit(&s, got_cb, &g), -EINVAL);
	s.env = badk;
	assert_int_equal(exec_submit(&s, got_cb, &g), -EINVAL);
	s.env = dup;
	s.nenv = 2;
	assert_int_equal(exec_submit(&s, got_cb, &g), -EINVAL);
	s = spec_argv(rel, 1);
	assert_int_equal(exec_submit(&s, got_cb, &g), -EINVAL);
	s = spec_argv(two, 2);
	s.shell = true;
	assert_int_equal(exec_submit(&s, got_cb, &g), -EINVAL);
	s = spec_argv(argv, 0);
	assert_int_equal(exec_submit(&s, got_cb, &g), -EINVAL);
	s = spec_argv(argv, 1);
	s.timeout_ns = -1;
	assert_int_equal(exec_submit(&s, got_cb, &g), -EINVAL);
	assert_false(g.done);
	assert_int_equal(exec_queued(), 0);
}

static void
test_cwd(void **state)
{
	const char *argv[] = {"pwd"};
	struct exec_spec s = spec_argv(argv, 1);
	struct passwd *pw = getpwuid(geteuid());
	char want[4096];
	struct got g;

	s.cwd = "/tmp";
	run(&s, &g);
	assert_string_equal(g.out, "/tmp\n");
	got_clear(&g);

	s.cwd = NULL; /* the owner's home, else / */
	snprintf(want, sizeof(want), "%s\n",
		 pw != NULL && access(pw->pw_dir, X_OK) == 0 ? pw->pw_dir
							     : "/");
	run(&s, &g);
	assert_string_equal(g.out, want);
	got_clear(&g);

	s.cwd = "/nonexistent/evd-test";
	run(&s, &g);
	assert_int_equal(g.outcome, EXEC_FAILED);
	assert_int_equal(g.code, -ENOENT);
	assert_non_null(strstr(g.errmsg, "chdir"));
	assert_non_null(strstr(g.errmsg, strerror(ENOENT)));
	got_clear(&g);
}

static void
test_no_inherited_fds(void **state)
{
	/* A leak on purpose: not CLOEXEC, as a careless module might. */
	int leak = open("/dev/null", O_RDONLY);
	struct got g;

	assert_true(leak >= 3);
	run_sh("ls /proc/$$/fd; true", &g);
	assert_int_equal(g.outcome, EXEC_EXITED);
	assert_string_equal(g.out, "0\n1\n2\n");
	got_clear(&g);
	close(leak);
}

static void
test_setsid(void **state)
{
	struct got g;
	long pid, pgrp, sid;

	run_sh("read pid comm state ppid pgrp sid rest < /proc/$$/stat; "
	       "echo $$ $pgrp $sid",
	       &g);
	assert_int_equal(g.outcome, EXEC_EXITED);
	assert_int_equal(sscanf(g.out, "%ld %ld %ld", &pid, &pgrp, &sid), 3);
	assert_int_equal(pid, g.pid);
	assert_int_equal(pgrp, pid);
	assert_int_equal(sid, pid);
	got_clear(&g);
}

static void
test_timeout(void **state)
{
	const char *argv[] = {"sleep", "1000"};
	struct exec_spec s = spec_argv(argv, 2);
	struct got g;

	s.timeout_ns = 100 * MS;
	run(&s, &g);
	assert_int_equal(g.outcome, EXEC_TIMED_OUT);
	assert_int_equal(g.code, SIGTERM);
	assert_true(g.duration_ns >= 100 * MS);
	assert_true(g.duration_ns < 2 * NS);
	got_clear(&g);
}

/* Live (not zombie: the orphans' reaper may be slow) members of group
 * pgid, after giving SIGKILLed ones a second to die. */
static int
group_alive(pid_t pgid)
{
	int n = 0;

	for (int tries = 0; tries < 100; tries++) {
		FILE *f = popen("cat /proc/[0-9]*/stat 2>/dev/null", "r");
		char line[1024];

		assert_non_null(f);
		n = 0;
		while (fgets(line, sizeof(line), f) != NULL) {
			char *p = strrchr(line, ')');
			char state;
			long ppid, pgrp;

			if (p != NULL &&
			    sscanf(p + 1, " %c %ld %ld", &state, &ppid,
				   &pgrp) == 3 &&
			    pgrp == pgid && state != 'Z')
				n++;
		}
		pclose(f);
		if (n == 0)
			break;
		usleep(10000);
	}
	return n;
}

static void
test_timeout_kill_after_grace(void **state)
{
	const char *argv[] = {"trap '' TERM; while :; do sleep 0.05; done"};
	struct exec_spec s = spec_argv(argv, 1);
	struct got g;

	exec_set_grace_ns(200 * MS);
	s.shell = true;
	s.timeout_ns = 100 * MS;
	run(&s, &g);
	assert_int_equal(g.outcome, EXEC_TIMED_OUT);
	assert_int_equal(g.code, SIGKILL);
	assert_true(g.duration_ns >= 300 * MS);
	assert_true(g.duration_ns < 3 * NS);
	/* nothing of its group survives (the sleeps ignore TERM too) */
	assert_int_equal(group_alive(g.pid), 0);
	got_clear(&g);
}

#define MANY 200
#define MANY_RUNNING 8

struct many {
	int done;
	size_t max_seen;
	int64_t handed[MANY];
	int failed;
};

struct many_job {
	struct many *m;
	int i;
};

static void
many_cb(const struct exec_result *r, void *arg)
{
	struct many_job *mj = arg;
	struct many *m = mj->m;
	size_t n = exec_running();

	if (n > m->max_seen)
		m->max_seen = n;
	if (r->outcome != EXEC_EXITED || r->code != 0)
		m->failed++;
	m->handed[mj->i] = r->handed_ns;
	m->done++;
}

static void
test_many_bounded_fifo(void **state)
{
	const char *argv[] = {"sleep", "0.01"};
	struct exec_spec s = spec_argv(argv, 2);
	static struct many m;
	static struct many_job jobs[MANY];
	bool all = false;
	int64_t end = now_ns() + 60 * NS;

	memset(&m, 0, sizeof(m));
	exec_set_limits(MANY_RUNNING, MANY);
	for (int i = 0; i < MANY; i++) {
		jobs[i] = (struct many_job){&m, i};
		assert_int_equal(exec_submit(&s, many_cb, &jobs[i]), 0);
	}
	assert_int_equal(exec_queued(), MANY);
	while (!all) {
		size_t n = exec_running();

		assert_true(now_ns() < end);
		if (n > m.max_seen)
			m.max_seen = n;
		assert_true(exec_running_uid(geteuid()) == n);
		assert_int_equal(exec_running_uid(geteuid() + 1), 0);
		event_base_loop(base, EVLOOP_ONCE);
		all = m.done == MANY;
	}
	assert_int_equal(m.failed, 0);
	assert_true(m.max_seen <= MANY_RUNNING);
	assert_true(m.max_seen >= 2); /* it did run them concurrently */
	/* Handed to the backend in FIFO order. The spawner creates them
	 * concurrently (a worker thread each), so the order in which they
	 * exec is the scheduler's and is not checked. */
	for (int i = 1; i < MANY; i++)
		assert_true(m.handed[i] >= m.handed[i - 1]);
	assert_int_equal(exec_running(), 0);
	assert_int_equal(exec_queued(), 0);
	assert_no_children();
}

/* With a per-owner bound of 1, one owner's hooks run one at a time while
 * another owner's run beside them. */
static void
test_per_uid_limit(void **state)
{
	const char *argv[] = {"sleep", "0.05"};
	struct exec_spec mine = spec_argv(argv, 2), other = spec_argv(argv, 2);
	static struct many m;
	static struct many_job jobs[8];
	size_t max_mine = 0, max_other = 0;
	int64_t end = now_ns() + 30 * NS;

	if (geteuid() != 0)
		skip(); /* needs a second uid to run hooks as */
	other.uid = 65534;
	other.gid = 65534;
	/* Two named uids: a uid without a passwd entry runs no hook. */
	mine.uid = 1; /* daemon */
	mine.gid = 1;
	memset(&m, 0, sizeof(m));
	exec_set_uid_limit(1);
	for (int i = 0; i < 8; i++) {
		jobs[i] = (struct many_job){&m, i};
		assert_int_equal(exec_submit(i % 2 ? &other : &mine, many_cb,
		                             &jobs[i]),
		                 0);
	}
	while (m.done < 8) {
		size_t a = exec_running_uid(1), b = exec_running_uid(65534);

		assert_true(now_ns() < end);
		if (a > max_mine)
			max_mine = a;
		if (b > max_other)
			max_other = b;
		event_base_loop(base, EVLOOP_ONCE);
	}
	exec_set_uid_limit(0);
	assert_int_equal(m.failed, 0);
	assert_int_equal(max_mine, 1);
	assert_int_equal(max_other, 1);
	assert_no_children();
}

static void
test_queue_full(void **state)
{
	const char *argv[] = {"true"};
	struct exec_spec s = spec_argv(argv, 1);
	struct got g[4];

	memset(g, 0, sizeof(g));
	exec_set_limits(1, 2);
	/* one free slot plus two queued */
	for (int i = 0; i < 3; i++)
		assert_int_equal(exec_submit(&s, got_cb, &g[i]), 0);
	assert_int_equal(exec_submit(&s, got_cb, &g[3]), -EAGAIN);
	loop_until(&g[2].done, 10 * NS);
	assert_true(g[0].done && g[1].done && !g[3].done);
	for (int i = 0; i < 4; i++)
		got_clear(&g[i]);
}

static void
test_big_output_tail(void **state)
{
	struct got g;

	run_sh("head -c 20000000 /dev/zero | tr '\\0' x; printf END; "
	       "head -c 100000 /dev/zero >&2",
	       &g);
	assert_int_equal(g.outcome, EXEC_EXITED);
	assert_int_equal(g.out_len, EXEC_TAIL_MAX);
	assert_int_equal(g.err_len, EXEC_TAIL_MAX);
	assert_memory_equal(g.out + EXEC_TAIL_MAX - 3, "END", 3);
	for (size_t i = 0; i < EXEC_TAIL_MAX - 3; i++)
		if (g.out[i] != 'x')
			fail_msg("byte %zu is %d", i, g.out[i]);
	got_clear(&g);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(*(int *)arg)++;
}

static void
test_stdin_ignored_stdout_closed(void **state)
{
	const char *argv[] = {"exec >&- <&-; sleep 0.3; exit 4"};
	const char *t[] = {"true"};
	struct exec_spec s = spec_argv(argv, 1);
	size_t len = 1024 * 1024;
	uint8_t *data = malloc(len);
	struct timeval tv = {0, 10000};
	int ticks = 0;
	struct event *tick = event_new(base, -1, EV_PERSIST, tick_cb, &ticks);
	struct got g;

	assert_non_null(data);
	memset(data, 'p', len);
	event_add(tick, &tv);
	s.shell = true;
	s.stdin_data = data;
	s.stdin_len = len;
	run(&s, &g);
	assert_int_equal(g.outcome, EXEC_EXITED);
	assert_int_equal(g.code, 4);
	assert_true(g.stdin_written < len);
	assert_true(ticks >= 10); /* the loop kept turning meanwhile */
	got_clear(&g);

	s = spec_argv(t, 1); /* exits at once, never reads */
	s.stdin_data = data;
	s.stdin_len = len;
	run(&s, &g);
	assert_int_equal(g.outcome, EXEC_EXITED);
	assert_int_equal(g.code, 0);
	got_clear(&g);
	event_free(tick);
	free(data);
}

static void
test_grandchild_holds_pipe(void **state)
{
	struct got g;
	int64_t t0 = now_ns();

	run_sh("sleep 30 & echo hi", &g);
	assert_int_equal(g.outcome, EXEC_EXITED);
	assert_string_equal(g.out, "hi\n");
	assert_true(now_ns() - t0 < 5 * NS);
	kill(-g.pid, SIGKILL); /* the orphaned sleep, not our child */
	got_clear(&g);
}

static void
test_not_found(void **state)
{
	const char *abs[] = {"/nonexistent/evd-prog"};
	const char *bare[] = {"evd-no-such-program"};
	struct exec_spec s = spec_argv(abs, 1);
	struct got g;

	run(&s, &g);
	assert_int_equal(g.outcome, EXEC_FAILED);
	assert_int_equal(g.code, -ENOENT);
	assert_non_null(strstr(g.errmsg, strerror(ENOENT)));
	assert_non_null(strstr(g.errmsg, "/nonexistent/evd-prog"));
	got_clear(&g);

	s = spec_argv(bare, 1);
	run(&s, &g);
	assert_int_equal(g.outcome, EXEC_FAILED);
	assert_non_null(strstr(g.errmsg, strerror(ENOENT)));
	got_clear(&g);
}

static void
many_resubmit_cb(const struct exec_result *r, void *arg)
{
	int *left = arg;
	const char *argv[] = {"true"};
	struct exec_spec s = spec_argv(argv, 1);

	assert_int_equal(r->outcome, EXEC_EXITED);
	if (--*left > 0) {
		assert_int_equal(exec_submit(&s, many_resubmit_cb, left), 0);
		/* it starts after this callback returns */
		assert_int_equal(exec_queued(), 1);
	}
}

/* Many big requests at once: evd's sends to the spawner and the
 * spawner's replies fill both socket buffers; neither side may wait for
 * the other for ever. */
static void
test_burst_big_requests(void **state)
{
	static char big[60 * 1024];
	const char *argv[] = {"true"};
	const char *env[] = {big};
	struct exec_spec s = spec_argv(argv, 1);
	static struct many m;
	static struct many_job jobs[MANY];
	int64_t end = now_ns() + 120 * NS;

	memset(big, 'x', sizeof(big) - 1);
	memcpy(big, "BIG=", 4);
	s.env = env;
	s.nenv = 1;
	memset(&m, 0, sizeof(m));
	exec_set_limits(MANY, MANY);
	for (int i = 0; i < MANY; i++) {
		jobs[i] = (struct many_job){&m, i};
		assert_int_equal(exec_submit(&s, many_cb, &jobs[i]), 0);
	}
	while (m.done < MANY) {
		assert_true(now_ns() < end);
		event_base_loop(base, EVLOOP_ONCE);
	}
	assert_int_equal(m.failed, 0);
	assert_no_children();
}

static void
test_resubmit_from_callback(void **state)
{
	const char *argv[] = {"true"};
	struct exec_spec s = spec_argv(argv, 1);
	int left = 5;
	bool zero = false;

	assert_int_equal(exec_submit(&s, many_resubmit_cb, &left), 0);
	while (!zero) {
		event_base_loop(base, EVLOOP_ONCE);
		zero = left == 0 && exec_running() == 0;
	}
}

struct stop {
	int failed_stopping;
	int killed;
};

static void
stop_cb(const struct exec_result *r, void *arg)
{
	struct stop *st = arg;
	const char *argv[] = {"true"};
	struct exec_spec s = spec_argv(argv, 1);

	if (r->outcome == EXEC_FAILED && strstr(r->errmsg, "stopping"))
		st->failed_stopping++;
	if (r->outcome == EXEC_SIGNALED && r->code == SIGKILL)
		st->killed++;
	assert_int_equal(exec_submit(&s, stop_cb, arg), -ESHUTDOWN);
}

static void
test_shutdown(void **state)
{
	const char *argv[] = {"sleep", "1000"};
	struct exec_spec s = spec_argv(argv, 2);
	struct stop st = {0};

	exec_set_limits(3, 10);
	for (int i = 0; i < 5; i++)
		assert_int_equal(exec_submit(&s, stop_cb, &st), 0);
	while (exec_running() < 3)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	exec_shutdown();
	assert_int_equal(st.killed, 3);
	assert_int_equal(st.failed_stopping, 2);
	assert_int_equal(exec_running(), 0);
	assert_int_equal(exec_queued(), 0);
	assert_no_children();
	assert_int_equal(exec_init(base, 8, 1000), 0); /* for teardown */
}

static void
test_other_user(void **state)
{
	const char *argv[] = {"id -u; id -g; id -G"};
	struct exec_spec s = spec_argv(argv, 1);
	struct got g;

	s.shell = true;
	if (geteuid() != 0) {
		s.uid = geteuid() + 1;
		run(&s, &g);
		assert_int_equal(g.outcome, EXEC_FAILED);
		assert_int_equal(g.code, -EPERM);
		assert_non_null(strstr(g.errmsg, "not root"));
		got_clear(&g);
		return;
	}
	s.uid = 65534;
	s.gid = 65534;
	run(&s, &g);
	if (g.outcome == EXEC_FAILED && g.code == -EPERM &&
	    (strstr(g.errmsg, "setuid") || strstr(g.errmsg, "setgid") ||
	     strstr(g.errmsg, "setgroups"))) {
		print_message("skip: this sandbox refuses changing identity "
			      "even as root: %s\n",
			      g.errmsg);
		got_clear(&g);
		skip();
	}
	assert_int_equal(g.outcome, EXEC_EXITED);
	{
		gid_t groups[64];
		int ng = 64;
		char want[1024] = "65534\n65534\n";
		size_t off = strlen(want);
		struct passwd *pw = getpwuid(65534);

		assert_non_null(pw);
		assert_true(getgrouplist(pw->pw_name, 65534, groups, &ng) >= 0);
		/* id -G prints the effective gid first, then the others */
		off +=
		    (size_t)snprintf(want + off, sizeof(want) - off, "65534");
		for (int i = 0; i < ng; i++)
			if (groups[i] != 65534)
				off += (size_t)snprintf(
				    want + off, sizeof(want) - off, " %u",
				    (unsigned)groups[i]);
		snprintf(want + off, sizeof(want) - off, "\n");
		assert_string_equal(g.out, want);
	}
	got_clear(&g);

	/* nobody's home (/nonexistent) cannot be entered: cwd is / */
	argv[0] = "pwd; echo $HOME $USER";
	run(&s, &g);
	assert_int_equal(g.outcome, EXEC_EXITED);
	assert_string_equal(g.out, "/\n/nonexistent nobody\n");
	got_clear(&g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_exit_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_per_uid_limit, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_signal, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stdin_payload, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_env_clean, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_specs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cwd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_inherited_fds, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_setsid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timeout_kill_after_grace,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_bounded_fifo, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_big_output_tail, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_stdin_ignored_stdout_closed,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_grandchild_holds_pipe, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_burst_big_requests, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_resubmit_from_callback, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_user, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
