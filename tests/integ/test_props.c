/*
 * test_props: exec timers' job properties and the schedule-time checks
 * of their commands, through the real evd (issue 14, items 2 and 6):
 * whitelisted properties are stored and shown by Get, refused ones are
 * INVALID_ARGUMENT naming the key, RuntimeMaxSec= ends a hook, a negative
 * Nice= is root's alone, control characters in argv, env and cwd and
 * implausible user names are refused; exec commands and kept hook output
 * count against the owner's byte quota (charged, released when history
 * is trimmed, charged again after a restart), and output past the quota
 * is dropped from the record, not the run.
 *
 * Other uids are played by "nobody" (65534, which every Debian system
 * has, so its hooks can run) in forked children. Needs root; otherwise
 * exits 77.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define MS 1000000LL
#define SEC 1000000000LL
#define NOBODY 65534

static struct evd_proc evd;
/* The quota tests' daemon; stopped by the next test or teardown when a
 * test fails with it running (it would hold ctest's output open). */
static struct evd_proc q;
static struct evd_proc *cur = &evd; /* the daemon children talk to */
static uint64_t rid = 1;

static int
greet(void)
{
	int fd = raw_connect(cur->sock);

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

/* What an exec timer is scheduled with; unset fields are absent. */
struct job {
	const char *const *argv;
	size_t argc;
	const char *const *env;
	size_t nenv;
	const char *cwd;
	const char *const *props;
	size_t nprops;
	const char *user;
	bool shell;
	int64_t delay_ns;     /* 0: one hour */
	int64_t every_ns;     /* repeating */
	uint64_t count;
};

static Evd__Reply *
sched(int fd, const struct job *j)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__TimerOptions o = EVD__TIMER_OPTIONS__INIT;
	Evd__Repeat rep = EVD__REPEAT__INIT;
	Evd__Exec x = EVD__EXEC__INIT;

	x.n_argv = j->argc;
	x.argv = (char **)j->argv;
	x.n_env = j->nenv;
	x.env = (char **)j->env;
	x.cwd = (char *)j->cwd;
	x.n_properties = j->nprops;
	x.properties = (char **)j->props;
	x.user = (char *)j->user;
	if (j->shell) {
		x.has_shell = 1;
		x.shell = 1;
	}
	cb.target_case = EVD__CALLBACK__TARGET_EXEC;
	cb.exec = &x;
	cl.has_delay_ns = 1;
	cl.delay_ns = j->delay_ns != 0 ? j->delay_ns : 3600 * SEC;
	cl.callback = &cb;
	if (j->every_ns > 0) {
		rep.has_every_ns = rep.has_count = 1;
		rep.every_ns = j->every_ns;
		rep.count = j->count;
		o.repeat = &rep;
		cl.options = &o;
	}
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	return call(fd, &rq);
}

/* The timer id scheduled, or 0 (printing the error). */
static uint64_t
sched_id(int fd, const struct job *j)
{
	Evd__Reply *r = sched(fd, j);
	uint64_t id = 0;

	if (r != NULL && r->body_case == EVD__REPLY__BODY_SCHEDULED)
		id = r->scheduled->timer_id;
	else if (r != NULL && r->body_case == EVD__REPLY__BODY_ERROR)
		fprintf(stderr, "refused: %s\n", r->error->message);
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	return id;
}

/* Whether j is refused with code, the message containing needle. */
static bool
refused(int fd, const struct job *j, int code, const char *needle)
{
	Evd__Reply *r = sched(fd, j);
	bool ok = r != NULL && r->body_case == EVD__REPLY__BODY_ERROR &&
	          (int)r->error->code == code &&
	          strstr(r->error->message, needle) != NULL;

	if (!ok)
		fprintf(stderr, "want error %d \"%s\", got %s\n", code, needle,
		        r == NULL ? "nothing"
		        : r->body_case == EVD__REPLY__BODY_ERROR
		                ? r->error->message
		                : "success");
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	return ok;
}

static Evd__Reply *
get(int fd, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Get g = EVD__GET__INIT;
	Evd__Reply *r;

	g.has_timer_id = 1;
	g.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_GET;
	rq.get = &g;
	r = call(fd, &rq);
	if (r != NULL && r->body_case != EVD__REPLY__BODY_TIMER) {
		evd__reply__free_unpacked(r, NULL);
		return NULL;
	}
	return r;
}

static bool
cancel(int fd, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Cancel c = EVD__CANCEL__INIT;
	Evd__Reply *r;
	bool ok;

	c.has_timer_id = 1;
	c.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_CANCEL;
	rq.cancel = &c;
	r = call(fd, &rq);
	ok = r != NULL && r->body_case == EVD__REPLY__BODY_CANCELLED;
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	return ok;
}

/* Wait: the Waiting reply, then the timer's next ExecFinished event. */
static Evd__Reply *
wait_for(int fd, uint64_t id)
{
	return raw_wait_exec(fd, rid++, id, 10000);
}

/* Runs fn as nobody in a child; its exit status (0: all went well). */
static int
as_nobody(int (*fn)(void))
{
	gid_t g = NOBODY;
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(1, &g) < 0 || setgid(NOBODY) < 0 ||
		    setuid(NOBODY) < 0)
			_exit(99);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Starts a second daemon with the given configuration lines, reachable
 * by other uids; it becomes the one children talk to. */
static void
start_with(struct evd_proc *p, const char *conf_text, bool again)
{
	static char conf[600];
	const char *args[] = { "--config", conf, NULL };
	FILE *f;

	if (!again) {
		assert_true(snprintf(conf, sizeof conf, "%s/props.conf",
		                     evd.dir) < (int)sizeof conf);
		f = fopen(conf, "w");
		assert_non_null(f);
		fputs(conf_text, f);
		fclose(f);
		assert_int_equal(evd_start(p, args), 0);
	} else
		assert_int_equal(evd_start_in(p, args), 0);
	assert_int_equal(chmod(p->dir, 0755), 0);
	cur = p;
}

/* A quota test that failed left its daemon running. */
static void
stop_leftover(void)
{
	if (q.pid > 0)
		evd_stop(&q);
	cur = &evd;
}

static const char *const true_argv[] = { "/bin/true" };

static void
test_properties_stored(void **state)
{
	const char *props[] = { "Nice=5", "RuntimeMaxSec=5min 30s",
		                "LimitNOFILE=64", "LimitCORE=0" };
	struct job j = { .argv = true_argv, .argc = 1, .props = props,
		         .nprops = 4 };
	Evd__Exec *x;
	Evd__Reply *r;
	uint64_t id;
	size_t i;
	int fd = greet();

	(void)state;
	assert_true(fd >= 0);
	id = sched_id(fd, &j);
	assert_true(id > 0);
	/* Stored with the timer, shown by Get. */
	r = get(fd, id);
	assert_non_null(r);
	x = r->timer->callback->exec;
	assert_non_null(x);
	assert_int_equal(x->n_properties, 4);
	for (i = 0; i < 4; i++)
		assert_string_equal(x->properties[i], props[i]);
	evd__reply__free_unpacked(r, NULL);
	assert_true(cancel(fd, id));
	close(fd);
}

static void
test_properties_refused(void **state)
{
	const char *many[65];
	struct job j = { .argv = true_argv, .argc = 1, .nprops = 1 };
	const char *p[1];
	Evd__Reply *r;
	size_t i;
	int fd = greet();

	(void)state;
	assert_true(fd >= 0);
	j.props = p;
#define REFUSED(kv, needle)                                                    \
	do {                                                                   \
		p[0] = (kv);                                                   \
		assert_true(refused(fd, &j, EVD__ERROR_CODE__INVALID_ARGUMENT, \
		                    (needle)));                                \
	} while (0)
	REFUSED("User=root",
	        "property 'User' is not allowed: it could add privilege");
	REFUSED("AmbientCapabilities=CAP_NET_ADMIN",
	        "property 'AmbientCapabilities' is not allowed");
	REFUSED("ExecStart=/bin/sh", "property 'ExecStart' is not allowed");
	REFUSED("Environment=LD_PRELOAD=/tmp/x.so",
	        "property 'Environment' is not allowed");
	REFUSED("Foo=1", "unknown property 'Foo'");
	REFUSED("memorymax=1G", "unknown property 'memorymax'");
	REFUSED("MemoryMax=lots", "property 'MemoryMax' value 'lots'");
	REFUSED("Nice=40", "property 'Nice' value '40'");
	REFUSED("RuntimeMaxSec=soon", "property 'RuntimeMaxSec'");
	REFUSED("Nice", "property 'Nice' is not Key=Value");
#undef REFUSED
	for (i = 0; i < 65; i++)
		many[i] = "Nice=1";
	j.props = many;
	j.nprops = 65;
	assert_true(refused(fd, &j, EVD__ERROR_CODE__INVALID_ARGUMENT,
	                    "at most 64 properties"));
	/* A class the hook runner may not apply: refused naming the key and
	 * what it needs, or accepted where the runner has it. */
	j.props = p;
	j.nprops = 1;
	p[0] = "MemoryMax=50M";
	r = sched(fd, &j);
	assert_non_null(r);
	if (r->body_case == EVD__REPLY__BODY_ERROR) {
		assert_int_equal(r->error->code,
		                 EVD__ERROR_CODE__INVALID_ARGUMENT);
		assert_non_null(strstr(r->error->message,
		                       "property 'MemoryMax' needs per-hook "
		                       "cgroups"));
	} else
		assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	evd__reply__free_unpacked(r, NULL);
	p[0] = "PrivateTmp=yes";
	r = sched(fd, &j);
	assert_non_null(r);
	if (r->body_case == EVD__REPLY__BODY_ERROR)
		assert_non_null(strstr(r->error->message,
		                       "property 'PrivateTmp' needs a per-hook "
		                       "sandbox"));
	else
		assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

/* RuntimeMaxSec= is the hook's timeout when the request sets none. */
static void
test_runtime_max_sec(void **state)
{
	const char *argv[] = { "/bin/sleep", "30" };
	const char *props[] = { "RuntimeMaxSec=500ms" };
	struct job j = { .argv = argv, .argc = 2, .props = props, .nprops = 1,
		         .delay_ns = 10 * MS };
	Evd__Reply *r;
	uint64_t id;
	int fd = greet();

	(void)state;
	assert_true(fd >= 0);
	id = sched_id(fd, &j);
	assert_true(id > 0);
	r = wait_for(fd, id);
	assert_non_null(r);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_TIMED_OUT);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

/* An outside review forged log lines through a newline in argv[0]. */
static void
test_control_bytes(void **state)
{
	const char *nl0[] = { "/bin/echo\n[fake] evd: all is well" };
	const char *nl1[] = { "/bin/echo", "a\nb" };
	const char *tab1[] = { "/bin/echo", "a\tb" };
	const char *script[] = { "echo a\necho b" };
	const char *env_nl[] = { "A=x\ny" };
	const char *env_tab[] = { "A=x\ty" };
	struct passwd *pw = getpwuid(geteuid());
	struct job j = { .argv = nl0, .argc = 1 };
	uint64_t id;
	int fd = greet();
	const int INVAL = EVD__ERROR_CODE__INVALID_ARGUMENT;

	(void)state;
	assert_true(fd >= 0);
	assert_true(refused(fd, &j, INVAL, "argv[0] contains a control"));
	j.argv = nl1;
	j.argc = 2;
	assert_true(refused(fd, &j, INVAL, "argv[1] contains a control"));
	j.argv = script;
	j.argc = 1;
	j.shell = true;
	assert_true(refused(fd, &j, INVAL, "argv[0] contains a control"));
	j.shell = false;
	j.argv = true_argv;
	j.env = env_nl;
	j.nenv = 1;
	assert_true(refused(fd, &j, INVAL, "environment entry A has a control"));
	j.env = NULL;
	j.nenv = 0;
	j.cwd = "/tmp\n";
	assert_true(refused(fd, &j, INVAL, "cwd contains a control"));
	j.cwd = NULL;
	j.user = "bad/name";
	assert_true(refused(fd, &j, INVAL, "user must be a login name"));
	j.user = "root\n";
	assert_true(refused(fd, &j, INVAL, "user must be a login name"));
	j.user = "";
	assert_true(refused(fd, &j, INVAL, "user must be a login name"));
	j.user = "123";
	assert_true(refused(fd, &j, INVAL, "user must be a login name"));
	/* Tab is data in arguments and values. */
	j.user = pw != NULL ? pw->pw_name : NULL;
	j.argv = tab1;
	j.argc = 2;
	j.env = env_tab;
	j.nenv = 1;
	id = sched_id(fd, &j);
	assert_true(id > 0);
	assert_true(cancel(fd, id));
	close(fd);
}

static int
nobody_negative_nice(void)
{
	const char *neg[] = { "Nice=-5" };
	const char *pos[] = { "Nice=5" };
	struct job j = { .argv = true_argv, .argc = 1, .props = neg,
		         .nprops = 1 };
	int fd = greet();
	uint64_t id;

	if (fd < 0)
		return 1;
	if (!refused(fd, &j, EVD__ERROR_CODE__INVALID_ARGUMENT,
	             "property 'Nice' value '-5': a negative value raises"))
		return 2;
	j.props = pos;
	if ((id = sched_id(fd, &j)) == 0 || !cancel(fd, id))
		return 3;
	return 0;
}

static void
test_negative_nice_is_roots(void **state)
{
	const char *neg[] = { "Nice=-5" };
	struct job j = { .argv = true_argv, .argc = 1, .props = neg,
		         .nprops = 1 };
	uint64_t id;
	int fd;

	(void)state;
	cur = &evd;
	assert_int_equal(as_nobody(nobody_negative_nice), 0);
	fd = greet();
	assert_true(fd >= 0);
	id = sched_id(fd, &j);
	assert_true(id > 0);
	assert_true(cancel(fd, id));
	close(fd);
}

/* ---- the byte quota ---- */

/* An argv of about n bytes (one buffer: the last call's size holds). */
static char big_arg[4096];

static struct job
big_job(size_t n)
{
	static const char *argv[2];
	struct job j = { .argv = argv, .argc = 2 };

	memset(big_arg, 'x', sizeof big_arg - 1);
	big_arg[n] = '\0';
	argv[0] = "/bin/true";
	argv[1] = big_arg;
	return j;
}

static uint64_t quota_first;

/* quota_bytes = 4096: one 3000-byte command fits, a second does not, a
 * small one does; a cancel makes room again. */
static int
nobody_exec_bytes(void)
{
	struct job j, small;
	uint64_t id;
	int fd = greet();

	if (fd < 0)
		return 1;
	/* big_job's argument is shared: made right before each use. */
	j = big_job(3000);
	if ((quota_first = sched_id(fd, &j)) == 0)
		return 2;
	j = big_job(3000);
	if (!refused(fd, &j, EVD__ERROR_CODE__RESOURCE_EXHAUSTED,
	             "quota of 4096"))
		return 3;
	small = big_job(200);
	if (sched_id(fd, &small) == 0)
		return 4;
	if (!cancel(fd, quota_first))
		return 5;
	j = big_job(3000);
	if ((id = sched_id(fd, &j)) == 0)
		return 6;
	return 0;
}

/* After a restart the loaded timers' commands are charged again. */
static int
nobody_exec_bytes_again(void)
{
	struct job j = big_job(3000);
	int fd = greet();

	if (fd < 0)
		return 1;
	if (!refused(fd, &j, EVD__ERROR_CODE__RESOURCE_EXHAUSTED,
	             "quota of 4096"))
		return 2;
	return 0;
}

static void
test_exec_bytes_quota(void **state)
{
	(void)state;
	stop_leftover();
	start_with(&q, "quota_bytes = 4096\n", false);
	assert_int_equal(as_nobody(nobody_exec_bytes), 0);
	assert_int_equal(evd_terminate(&q), 0);
	start_with(&q, NULL, true);
	assert_int_equal(as_nobody(nobody_exec_bytes_again), 0);
	cur = &evd;
	assert_int_equal(evd_stop(&q), 0);
}

/* Hooks that print 8000 bytes, under quota_bytes = 20000 and history = 1. */
static const char *const print8k[] = { "/usr/bin/head", "-c", "8000",
	                               "/dev/zero" };

/* How the newest run of id was kept: 1 with its output, 0 without and
 * saying so, -1 anything else. */
static int
kept(int fd, uint64_t id)
{
	Evd__Reply *r = get(fd, id);
	Evd__Run *run;
	int k = -1;

	if (r == NULL || r->timer->n_history < 1)
		return -1;
	run = r->timer->history[0];
	if (run->outcome == EVD__RUN_OUTCOME__RUN_EXEC_EXITED &&
	    run->exit_code == 0) {
		bool note = run->detail != NULL &&
		            strstr(run->detail, "output not kept: byte quota");

		if (run->stdout_tail.len > 0 && !note)
			k = 1;
		else if (run->stdout_tail.len == 0 && note)
			k = 0;
	}
	if (k < 0)
		fprintf(stderr, "timer %llu: outcome %d, %zu bytes, \"%s\"\n",
		        (unsigned long long)id, run->outcome,
		        run->stdout_tail.len, run->detail ? run->detail : "");
	evd__reply__free_unpacked(r, NULL);
	return k;
}

/* Schedules a one-shot 8000-byte hook and waits for it; its id or 0. */
static uint64_t
run8k(int fd)
{
	struct job j = { .argv = print8k, .argc = 4, .delay_ns = 10 * MS };
	uint64_t id = sched_id(fd, &j);
	Evd__Reply *r;

	if (id == 0 || (r = wait_for(fd, id)) == NULL)
		return 0;
	/* Waiters get the whole tail, kept or not. */
	if (r->exec_finished->run->stdout_tail.len != 8000)
		id = 0;
	evd__reply__free_unpacked(r, NULL);
	return id;
}

static int
nobody_output(void)
{
	struct job rj = { .argv = print8k, .argc = 4, .delay_ns = 50 * MS,
		          .every_ns = 700 * MS, .count = 3 };
	uint64_t rep, id;
	int fd = greet(), i;

	if (fd < 0)
		return 1;
	/* Three runs of one timer with history = 1: each run's output is
	 * released when the next trims it, so the third is still kept. */
	if ((rep = sched_id(fd, &rj)) == 0)
		return 2;
	for (i = 0; i < 3; i++) {
		Evd__Reply *r = wait_for(fd, rep);

		if (r == NULL)
			return 3;
		evd__reply__free_unpacked(r, NULL);
	}
	if (kept(fd, rep) != 1)
		return 4;
	/* 8000 kept plus 8000 fit in 20000, a third 8000 does not: the run
	 * is recorded without its output. */
	if ((id = run8k(fd)) == 0 || kept(fd, id) != 1)
		return 5;
	if ((id = run8k(fd)) == 0 || kept(fd, id) != 0)
		return 6;
	return 0;
}

/* After a restart the kept output (16000 bytes) is charged again. */
static int
nobody_output_again(void)
{
	uint64_t id;
	int fd = greet();

	if (fd < 0)
		return 1;
	if ((id = run8k(fd)) == 0 || kept(fd, id) != 0)
		return 2;
	return 0;
}

static void
test_output_quota(void **state)
{
	(void)state;
	stop_leftover();
	start_with(&q, "quota_bytes = 20000\nhistory = 1\n"
	                   "min_repeat_interval_ms = 0\n", false);
	assert_int_equal(as_nobody(nobody_output), 0);
	assert_int_equal(evd_terminate(&q), 0);
	start_with(&q, NULL, true);
	assert_int_equal(as_nobody(nobody_output_again), 0);
	cur = &evd;
	assert_int_equal(evd_stop(&q), 0);
}

static int
setup(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		printf("SKIP: test_props needs root to act as another uid\n");
		exit(77);
	}
	if (getpwuid(NOBODY) == NULL) {
		printf("SKIP: no passwd entry for uid %d (nobody)\n", NOBODY);
		exit(77);
	}
	if (evd_start(&evd, NULL) < 0)
		return -1;
	return chmod(evd.dir, 0755);
}

static int
teardown(void **state)
{
	(void)state;
	stop_leftover();
	return evd_stop(&evd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_properties_stored),
		cmocka_unit_test(test_properties_refused),
		cmocka_unit_test(test_runtime_max_sec),
		cmocka_unit_test(test_control_bytes),
		cmocka_unit_test(test_negative_nice_is_roots),
		cmocka_unit_test(test_exec_bytes_quota),
		cmocka_unit_test(test_output_quota),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
