/*
 * test_hooks: exec timers through the real evd: the hook runs with its
 * payload on stdin and EVD_* in its environment, Wait reports how it
 * ended (exit status, signal, timeout, output tails), a hook runs as the
 * uid and gid of the timer's owner, exec timers survive SIGKILL with
 * their command, and Wait answers cancelled and already finished timers.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define MS 1000000LL
#define SEC 1000000000LL

static struct evd_proc evd;
static uint64_t rid = 1;

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

/* Schedules an exec timer after delay_ns; returns its id or 0. */
static uint64_t
exec_later(int fd, int64_t delay_ns, const char *const *argv, size_t argc,
           const char *payload, int64_t timeout_ns)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Exec x = EVD__EXEC__INIT;
	Evd__Reply *r;
	uint64_t id = 0;

	x.n_argv = argc;
	x.argv = (char **)argv;
	if (timeout_ns > 0) {
		x.has_timeout_ns = 1;
		x.timeout_ns = timeout_ns;
	}
	cb.target_case = EVD__CALLBACK__TARGET_EXEC;
	cb.exec = &x;
	if (payload != NULL) {
		cb.has_payload = 1;
		cb.payload.data = (uint8_t *)payload;
		cb.payload.len = strlen(payload);
	}
	cl.has_delay_ns = 1;
	cl.delay_ns = delay_ns;
	cl.callback = &cb;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	r = call(fd, &rq);
	if (r != NULL && r->body_case == EVD__REPLY__BODY_SCHEDULED)
		id = r->scheduled->timer_id;
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	return id;
}

/* Wait: the Waiting reply, then the ExecFinished event. */
static Evd__Reply *
wait_for(int fd, uint64_t id)
{
	return raw_wait_exec(fd, rid++, id, 10000);
}

static void
test_exit_status_and_output(void **state)
{
	static const char cmd[] =
		"cat; echo \" id=$EVD_TIMER_ID\"; echo err >&2; exit 3";
	const char *argv[] = { "/bin/sh", "-c", cmd };
	char want[64];
	Evd__Reply *r;
	uint64_t id;
	int fd = greet();

	assert_true(fd >= 0);
	id = exec_later(fd, 10 * MS, argv, 3, "payload", 0);
	assert_true(id > 0);
	r = wait_for(fd, id);
	assert_non_null(r);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_EXITED);
	assert_int_equal(r->exec_finished->run->exit_code, 3);
	snprintf(want, sizeof want, "payload id=%llu\n", (unsigned long long)id);
	assert_int_equal(r->exec_finished->run->stdout_tail.len, strlen(want));
	assert_memory_equal(r->exec_finished->run->stdout_tail.data, want,
	                    strlen(want));
	assert_memory_equal(r->exec_finished->run->stderr_tail.data, "err\n",
	                    4);
	evd__reply__free_unpacked(r, NULL);

	/* Finished: Wait answers at once with the last run, and Get shows
	 * the command and the history. */
	r = wait_for(fd, id);
	assert_non_null(r);
	assert_int_equal(r->exec_finished->run->exit_code, 3);
	evd__reply__free_unpacked(r, NULL);
	{
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__Get g = EVD__GET__INIT;

		g.has_timer_id = 1;
		g.timer_id = id;
		rq.body_case = EVD__REQUEST__BODY_GET;
		rq.get = &g;
		r = call(fd, &rq);
		assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
		assert_int_equal(r->timer->callback->target_case,
		                 EVD__CALLBACK__TARGET_EXEC);
		assert_string_equal(r->timer->callback->exec->argv[0],
		                    "/bin/sh");
		assert_true(r->timer->n_history >= 2);
		assert_int_equal(r->timer->history[0]->outcome,
		                 EVD__RUN_OUTCOME__RUN_EXEC_EXITED);
		assert_int_equal(r->timer->history[1]->outcome,
		                 EVD__RUN_OUTCOME__RUN_EXEC_STARTED);
		evd__reply__free_unpacked(r, NULL);
	}
	close(fd);
}

static void
test_timeout(void **state)
{
	const char *argv[] = { "/bin/sleep", "100" };
	Evd__Reply *r;
	uint64_t id;
	int fd = greet();

	id = exec_later(fd, 0, argv, 2, NULL, 200 * MS);
	assert_true(id > 0);
	r = wait_for(fd, id);
	assert_non_null(r);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_TIMED_OUT);
	assert_int_equal(r->exec_finished->run->signal, SIGTERM);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

static void
test_cancel_and_bad_command(void **state)
{
	const char *argv[] = { "/bin/true" };
	const char *bad[] = { "relative/path" };
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Wait w = EVD__WAIT__INIT;
	Evd__Cancel c = EVD__CANCEL__INIT;
	Evd__Reply *r;
	uint64_t id;
	int fd = greet();

	assert_int_equal(exec_later(fd, SEC, bad, 1, NULL, 0), 0);
	/* A timeout past a century would overflow the runner's clock. */
	assert_int_equal(exec_later(fd, SEC, argv, 1, NULL, INT64_MAX), 0);
	id = exec_later(fd, 3600 * SEC, argv, 1, NULL, 0);
	assert_true(id > 0);
	w.has_timer_id = 1;
	w.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_WAIT;
	rq.wait = &w;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_WAITING);
	evd__reply__free_unpacked(r, NULL);
	evd__request__init(&rq);
	c.has_timer_id = 1;
	c.timer_id = id;
	rq.has_request_id = 1;
	rq.request_id = 424242;
	rq.body_case = EVD__REQUEST__BODY_CANCEL;
	rq.cancel = &c;
	assert_int_equal(raw_send_request(fd, &rq), 0);
	/* The cancel's reply and the waiter's event, in either order. */
	for (int got = 0; got < 2;) {
		r = raw_recv_reply(fd, 5000);
		assert_non_null(r);
		if (r->body_case == EVD__REPLY__BODY_EXEC_FINISHED) {
			assert_int_equal(r->exec_finished->run->outcome,
			                 EVD__RUN_OUTCOME__RUN_CANCELLED);
			got++;
		} else if (r->body_case == EVD__REPLY__BODY_CANCELLED)
			got++;
		evd__reply__free_unpacked(r, NULL);
	}
	close(fd);
}

/* A file the hook (as the test's user) writes, read back by the test. */
static char idfile[256];

static int
as_user(void)
{
	char cmd[900];
	const char *argv[] = { "/bin/sh", "-c", cmd };
	Evd__Reply *r;
	uint64_t id;
	int fd, ok;

	if (snprintf(cmd, sizeof cmd, "id -u > %s; id -g >> %s; id -G >> %s",
	             idfile, idfile, idfile) >= (int)sizeof cmd)
		return 5;
	if ((fd = greet()) < 0)
		return 2;
	if ((id = exec_later(fd, 0, argv, 3, NULL, 0)) == 0)
		return 3;
	r = wait_for(fd, id);
	ok = r != NULL && r->exec_finished->run->outcome ==
	                          EVD__RUN_OUTCOME__RUN_EXEC_EXITED &&
	     r->exec_finished->run->exit_code == 0;
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	return ok ? 0 : 4;
}

/*
 * The hook runs with the uid, gid and supplementary groups of the timer's
 * owner, not the daemon's: 'nobody' (an account every Debian has, with
 * its groups from the group database) schedules it; the hook writes id(1)
 * into a file. The expected groups come from getgrouplist, as for a login.
 */
static void
test_runs_as_owner(void **state)
{
	char dir[] = "/tmp/evd-test.XXXXXX", buf[512] = "", want[512];
	struct passwd *pw = getpwnam("nobody");
	gid_t groups[64];
	int status, fd, ng = 64, i;
	size_t off;
	pid_t pid;
	ssize_t n;

	if (geteuid() != 0)
		skip(); /* a user instance runs hooks as its own user only */
	if (pw == NULL) {
		printf("SKIP: no 'nobody' account\n");
		skip();
	}
	assert_true(getgrouplist(pw->pw_name, pw->pw_gid, groups, &ng) >= 0);
	off = (size_t)snprintf(want, sizeof want, "%u\n%u\n%u",
	                       (unsigned)pw->pw_uid, (unsigned)pw->pw_gid,
	                       (unsigned)pw->pw_gid);
	for (i = 0; i < ng; i++)
		if (groups[i] != pw->pw_gid)
			off += (size_t)snprintf(want + off, sizeof want - off,
			                        " %u", (unsigned)groups[i]);
	snprintf(want + off, sizeof want - off, "\n");
	assert_non_null(mkdtemp(dir));
	assert_int_equal(chmod(dir, 0777), 0);
	snprintf(idfile, sizeof idfile, "%s/id", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The client process itself keeps no groups: the hook's
		 * come from the daemon's lookup of the owner. */
		if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
		    setuid(pw->pw_uid) < 0)
			_exit(99);
		_exit(as_user());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	fd = open(idfile, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, want);
	rm_rf(dir);
}

static void
test_survives_kill9(void **state)
{
	const char *argv[] = { "/usr/bin/env", "echo", "later" };
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Get g = EVD__GET__INIT;
	Evd__Reply *r;
	uint64_t id;
	int fd = greet();

	id = exec_later(fd, 3600 * SEC, argv, 3, NULL, 5 * SEC);
	assert_true(id > 0);
	close(fd);
	evd_kill9(&evd);
	assert_int_equal(evd_start_in(&evd, NULL), 0);
	assert_int_equal(chmod(evd.dir, 0755), 0);
	fd = greet();
	g.has_timer_id = 1;
	g.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_GET;
	rq.get = &g;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->callback->target_case,
	                 EVD__CALLBACK__TARGET_EXEC);
	assert_int_equal(r->timer->callback->exec->n_argv, 3);
	assert_string_equal(r->timer->callback->exec->argv[2], "later");
	assert_int_equal(r->timer->callback->exec->timeout_ns, 5 * SEC);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

/* More due hooks than the queue holds: the rest wait (late), none is
 * lost as "too many hooks queued". */
static void
test_queue_full_holds(void **state)
{
	const char *argv[] = { "/bin/sleep", "0.2" };
	const char *args[] = { "--config", NULL, NULL };
	struct evd_proc q;
	char conf[600];
	uint64_t ids[6];
	FILE *f;
	int fd, i;

	assert_true(snprintf(conf, sizeof conf, "%s/q.conf", evd.dir) <
	            (int)sizeof conf);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "exec_max_running = 1\nexec_max_queued = 1\n");
	fclose(f);
	args[1] = conf;
	assert_int_equal(evd_start(&q, args), 0);
	fd = raw_connect(q.sock);
	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, rid++), 0);
	for (i = 0; i < 6; i++) {
		ids[i] = exec_later(fd, 0, argv, 2, NULL, 0);
		assert_true(ids[i] > 0);
	}
	for (i = 0; i < 6; i++) {
		Evd__Reply *r = wait_for(fd, ids[i]);

		assert_non_null(r);
		assert_int_equal(r->exec_finished->run->outcome,
		                 EVD__RUN_OUTCOME__RUN_EXEC_EXITED);
		evd__reply__free_unpacked(r, NULL);
	}
	close(fd);
	assert_int_equal(evd_stop(&q), 0);
}

static int
setup(void **state)
{
	if (evd_start(&evd, NULL) < 0)
		return -1;
	return chmod(evd.dir, 0755);
}

static int
teardown(void **state)
{
	return evd_stop(&evd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_status_and_output),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_cancel_and_bad_command),
		cmocka_unit_test(test_runs_as_owner),
		cmocka_unit_test(test_survives_kill9),
		cmocka_unit_test(test_queue_full_holds),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
