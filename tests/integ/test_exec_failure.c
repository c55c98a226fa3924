/*
 * test_exec_failure: failure as a first-class outcome of exec hooks
 * (issue 14, item 4), through the real evd: a failed hook is logged at
 * warning with its command escaped (a hostile argv cannot forge a log
 * record), a success at info; Exec.retry runs a failed hook again with
 * backing-off delays, each run saying which attempt it was, and a
 * one-shot's pending retry survives a restart; Retry re-runs a finished
 * exec timer (and refuses unknown ids and non-exec timers); on_failure
 * sends the failure to a channel, and is refused for a channel the owner
 * may not publish to.
 */
#include <errno.h>
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

/* Schedules x after delay_ns; returns the reply (Scheduled or Error). */
static Evd__Reply *
exec_later_x(int fd, int64_t delay_ns, Evd__Exec *x)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;

	cb.target_case = EVD__CALLBACK__TARGET_EXEC;
	cb.exec = x;
	cl.has_delay_ns = 1;
	cl.delay_ns = delay_ns;
	cl.callback = &cb;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	return call(fd, &rq);
}

static uint64_t
exec_id(int fd, int64_t delay_ns, Evd__Exec *x)
{
	Evd__Reply *r = exec_later_x(fd, delay_ns, x);
	uint64_t id = 0;

	if (r != NULL && r->body_case == EVD__REPLY__BODY_SCHEDULED)
		id = r->scheduled->timer_id;
	else if (r != NULL && r->body_case == EVD__REPLY__BODY_ERROR)
		fprintf(stderr, "schedule: %s\n", r->error->message);
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	return id;
}

/* Wait: the Waiting reply, then the ExecFinished event. */
static Evd__Reply *
wait_for(int fd, uint64_t id)
{
	return raw_wait_exec(fd, rid++, id, 20000);
}

static Evd__Reply *
get(int fd, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Get g = EVD__GET__INIT;

	g.has_timer_id = 1;
	g.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_GET;
	rq.get = &g;
	return call(fd, &rq);
}

static Evd__Reply *
retry(int fd, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Retry rt = EVD__RETRY__INIT;

	rt.has_timer_id = 1;
	rt.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_RETRY;
	rq.retry = &rt;
	return call(fd, &rq);
}

/* The number of finished runs (not "started") in id's history. */
static size_t
finished_runs(int fd, uint64_t id, Evd__Reply **ret)
{
	Evd__Reply *r = get(fd, id);
	size_t i, n = 0;

	assert_non_null(r);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	for (i = 0; i < r->timer->n_history; i++)
		if (r->timer->history[i]->outcome !=
		    EVD__RUN_OUTCOME__RUN_EXEC_STARTED)
			n++;
	if (ret != NULL)
		*ret = r;
	else
		evd__reply__free_unpacked(r, NULL);
	return n;
}

/* Polls (20 s bound) until id has n finished runs. */
static void
await_runs(int fd, uint64_t id, size_t n)
{
	int i;

	for (i = 0; i < 400 && finished_runs(fd, id, NULL) < n; i++)
		usleep(50000);
	assert_true(finished_runs(fd, id, NULL) >= n);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

/* The log line about fire's end of timer id, or NULL. */
static char *
log_line(const char *log, uint64_t id, const char *what)
{
	char pat[64];
	const char *p = log, *e;

	snprintf(pat, sizeof pat, "timer %llu ", (unsigned long long)id);
	while ((p = strstr(p, pat)) != NULL) {
		const char *b = p;

		while (b > log && b[-1] != '\n')
			b--;
		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		if (memmem(b, (size_t)(e - b), what, strlen(what)) != NULL)
			return strndup(b, (size_t)(e - b));
		p = e;
	}
	return NULL;
}

/*
 * A hook that exits 3 is logged at warning with its command; one that
 * exits 0 at info. A program name carrying "\n<0>" is refused when it is
 * scheduled, and so is one carrying bytes that are not UTF-8 (every
 * protocol string must be); one carrying a C1 control, valid UTF-8 that
 * some terminals obey (it cannot start), is escaped in the log: no record
 * of the log starts with a level the client chose.
 */
static void
test_logs(void **state)
{
	const char *bad[] = { "/bin/sh", "-c", "exit 3" };
	const char *good[] = { "/bin/true" };
	const char *evil[] = { "/nonexistent <0>forged\xc2\x9b" "2J" };
	const char *not_utf8[] = { "/nonexistent <0>forged\xff" };
	const char *forged[] = { "/nonexistent\n<0>forged" };
	Evd__Exec x = EVD__EXEC__INIT;
	uint64_t id_bad, id_good, id_evil;
	Evd__Reply *r;
	char *log, *line;
	int fd = greet();

	x.argv = (char **)bad;
	x.n_argv = 3;
	id_bad = exec_id(fd, 0, &x);
	x.argv = (char **)good;
	x.n_argv = 1;
	id_good = exec_id(fd, 0, &x);
	x.argv = (char **)forged;
	x.n_argv = 1;
	assert_int_equal(exec_id(fd, 0, &x), 0);
	x.argv = (char **)not_utf8;
	assert_int_equal(exec_id(fd, 0, &x), 0);
	x.argv = (char **)evil;
	id_evil = exec_id(fd, 0, &x);
	assert_true(id_bad > 0 && id_good > 0 && id_evil > 0);
	r = wait_for(fd, id_bad);
	assert_non_null(r);
	evd__reply__free_unpacked(r, NULL);
	r = wait_for(fd, id_good);
	assert_non_null(r);
	evd__reply__free_unpacked(r, NULL);
	r = wait_for(fd, id_evil);
	assert_non_null(r);
	assert_int_equal(r->exec_finished->run->outcome,
	                 EVD__RUN_OUTCOME__RUN_EXEC_FAILED);
	evd__reply__free_unpacked(r, NULL);
	close(fd);

	log = slurp(evd.log);
	line = log_line(log, id_bad, "exited with status 3");
	assert_non_null(line);
	assert_non_null(strstr(line, "Z <4>"));
	assert_non_null(strstr(line, "uid 0"));
	assert_non_null(strstr(line, "/bin/sh -c exit 3"));
	assert_non_null(strstr(line, "failure"));
	free(line);
	line = log_line(log, id_good, "exited with status 0");
	assert_non_null(line);
	assert_non_null(strstr(line, "Z <6>"));
	free(line);
	line = log_line(log, id_evil, "could not start");
	assert_non_null(line);
	assert_non_null(strstr(line, "Z <4>"));
	assert_non_null(strstr(line, "/nonexistent <0>forged\\xc2\\x9b2J"));
	free(line);
	assert_null(strstr(log, "\n<0>"));
	assert_null(strstr(log, "Z <0>"));
	free(log);
}

/*
 * retry = 2, retry_delay = 200 ms: three runs in all, each saying which
 * attempt it was, the second at least 200 ms after the first ended and
 * the third at least 400 ms after the second (a lower bound only).
 */
static void
test_retry_backoff(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "echo oops >&2; exit 3" };
	Evd__Exec x = EVD__EXEC__INIT;
	Evd__Reply *r;
	Evd__Run *a1 = NULL, *a2 = NULL, *a3 = NULL;
	uint64_t id;
	size_t i;
	int fd = greet();

	x.argv = (char **)argv;
	x.n_argv = 3;
	x.has_retry = x.has_retry_delay_ns = 1;
	x.retry = 2;
	x.retry_delay_ns = 200 * MS;
	id = exec_id(fd, 0, &x);
	assert_true(id > 0);
	/* Wait answers with the last attempt, not the first failure. */
	r = wait_for(fd, id);
	assert_non_null(r);
	assert_non_null(strstr(r->exec_finished->run->detail,
	                       "attempt 3 of 3:"));
	evd__reply__free_unpacked(r, NULL);
	await_runs(fd, id, 3);
	usleep(700000); /* a fourth run would have come by now */
	assert_int_equal(finished_runs(fd, id, &r), 3);
	/* History is newest first. */
	for (i = 0; i < r->timer->n_history; i++) {
		Evd__Run *run = r->timer->history[i];

		if (run->outcome == EVD__RUN_OUTCOME__RUN_EXEC_STARTED)
			continue;
		assert_int_equal(run->outcome,
		                 EVD__RUN_OUTCOME__RUN_EXEC_EXITED);
		assert_int_equal(run->exit_code, 3);
		if (strstr(run->detail, "attempt 1 of 3:") == run->detail)
			a1 = run;
		else if (strstr(run->detail, "attempt 2 of 3:") == run->detail)
			a2 = run;
		else if (strstr(run->detail, "attempt 3 of 3:") == run->detail)
			a3 = run;
	}
	assert_non_null(a1);
	assert_non_null(a2);
	assert_non_null(a3);
	assert_non_null(strstr(a1->detail, "; attempt 2 in 200 ms"));
	assert_non_null(strstr(a2->detail, "; attempt 3 in 400 ms"));
	assert_null(strstr(a3->detail, "; attempt"));
	assert_true(a2->fired_realtime_ns - a1->fired_realtime_ns >= 200 * MS);
	assert_true(a3->fired_realtime_ns - a2->fired_realtime_ns >= 400 * MS);
	evd__reply__free_unpacked(r, NULL);

	/* A client may not claim attempts. */
	x.has_attempt = 1;
	x.attempt = 2;
	r = exec_later_x(fd, 0, &x);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_ERROR);
	assert_int_equal(r->error->code, EVD__ERROR_CODE__INVALID_ARGUMENT);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

/* A one-shot that failed waits for its retry as a pending timer in the
 * store: a restart in between keeps it, and the retry runs after. */
static void
test_retry_survives_restart(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "exit 4" };
	Evd__Exec x = EVD__EXEC__INIT;
	Evd__Reply *r;
	uint64_t id;
	int fd = greet();

	x.argv = (char **)argv;
	x.n_argv = 3;
	x.has_retry = x.has_retry_delay_ns = 1;
	x.retry = 1;
	x.retry_delay_ns = 3 * SEC;
	id = exec_id(fd, 0, &x);
	assert_true(id > 0);
	await_runs(fd, id, 1);
	r = get(fd, id);
	assert_non_null(strstr(r->timer->history[0]->detail,
	                       "attempt 1 of 2"));
	evd__reply__free_unpacked(r, NULL);
	/* Pending again, for its retry. */
	r = get(fd, id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__PENDING);
	assert_int_equal(r->timer->callback->exec->attempt, 2);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
	assert_int_equal(evd_terminate(&evd), 0);
	assert_int_equal(evd_start_in(&evd, NULL), 0);
	assert_int_equal(chmod(evd.dir, 0755), 0);
	fd = greet();
	assert_true(fd >= 0);
	r = wait_for(fd, id);
	assert_non_null(r);
	assert_int_equal(r->exec_finished->run->exit_code, 4);
	assert_non_null(strstr(r->exec_finished->run->detail,
	                       "attempt 2 of 2"));
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

/* Retry re-runs a finished exec timer; unknown ids are NOT_FOUND, a
 * channel timer is FAILED_PRECONDITION. */
static void
test_retry_request(void **state)
{
	char dir[] = "/tmp/evd-retry.XXXXXX", cmd[200], *out;
	const char *argv[] = { "/bin/sh", "-c", cmd };
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Exec x = EVD__EXEC__INIT;
	Evd__Reply *r;
	uint64_t id, cid;
	int fd = greet();

	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof cmd, "echo run >> %s/runs", dir);
	x.argv = (char **)argv;
	x.n_argv = 3;
	id = exec_id(fd, 0, &x);
	assert_true(id > 0);
	r = wait_for(fd, id);
	assert_non_null(r);
	evd__reply__free_unpacked(r, NULL);
	/* Finished: trigger has nothing to fire, retry runs it. */
	r = retry(fd, id);
	assert_non_null(r);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->timer_id, id);
	evd__reply__free_unpacked(r, NULL);
	await_runs(fd, id, 2);
	snprintf(cmd, sizeof cmd, "%s/runs", dir);
	out = slurp(cmd);
	assert_string_equal(out, "run\nrun\n");
	free(out);

	r = retry(fd, 987654321);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_ERROR);
	assert_int_equal(r->error->code, EVD__ERROR_CODE__NOT_FOUND);
	evd__reply__free_unpacked(r, NULL);

	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = "retry-not-exec";
	cl.has_delay_ns = 1;
	cl.delay_ns = 3600 * SEC;
	cl.callback = &cb;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	cid = r->scheduled->timer_id;
	evd__reply__free_unpacked(r, NULL);
	r = retry(fd, cid);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_ERROR);
	assert_int_equal(r->error->code, EVD__ERROR_CODE__FAILED_PRECONDITION);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
	rm_rf(dir);
}

/*
 * A repeating timer's retry is an extra run: its next occurrence stays
 * where its grid puts it (an hour away here) while the retry runs.
 */
static void
test_retry_repeating(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "exit 2" };
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__TimerOptions o = EVD__TIMER_OPTIONS__INIT;
	Evd__Repeat rp = EVD__REPEAT__INIT;
	Evd__Exec x = EVD__EXEC__INIT;
	Evd__Reply *r;
	int64_t due;
	uint64_t id;
	int fd = greet();

	x.argv = (char **)argv;
	x.n_argv = 3;
	x.has_retry = x.has_retry_delay_ns = 1;
	x.retry = 1;
	x.retry_delay_ns = 50 * MS;
	cb.target_case = EVD__CALLBACK__TARGET_EXEC;
	cb.exec = &x;
	rp.has_every_ns = 1;
	rp.every_ns = 3600 * SEC;
	o.repeat = &rp;
	cl.has_delay_ns = 1;
	cl.delay_ns = 3600 * SEC;
	cl.callback = &cb;
	cl.options = &o;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	id = r->scheduled->timer_id;
	due = r->scheduled->deadline_ns; /* on its own clock */
	evd__reply__free_unpacked(r, NULL);
	/* Trigger: the first run, which fails; its retry follows. */
	{
		Evd__Request tr = EVD__REQUEST__INIT;
		Evd__Trigger t = EVD__TRIGGER__INIT;

		t.has_timer_id = 1;
		t.timer_id = id;
		tr.body_case = EVD__REQUEST__BODY_TRIGGER;
		tr.trigger = &t;
		r = call(fd, &tr);
		assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
		evd__reply__free_unpacked(r, NULL);
	}
	await_runs(fd, id, 2);
	r = get(fd, id);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__PENDING);
	assert_int_equal(r->timer->deadline_ns, due);
	assert_non_null(strstr(r->timer->history[0]->detail,
	                       "attempt 2 of 2: exited with status 2"));
	evd__reply__free_unpacked(r, NULL);
	close(fd);
}

/* Retry of another user's finished timer is NOT_FOUND, as for an id
 * that does not exist: it says nothing about others' timers. */
static int
as_nobody_retry(uint64_t id)
{
	Evd__Reply *r;
	int fd, code;

	if ((fd = greet()) < 0)
		return 100;
	r = retry(fd, id);
	if (r == NULL)
		return 101;
	code = r->body_case == EVD__REPLY__BODY_ERROR ? (int)r->error->code
	                                              : 0;
	evd__reply__free_unpacked(r, NULL);
	return code;
}

static void
test_retry_other_user(void **state)
{
	const char *argv[] = { "/bin/true" };
	Evd__Exec x = EVD__EXEC__INIT;
	struct passwd *pw;
	Evd__Reply *r;
	uint64_t id;
	int fd, status;
	pid_t pid;

	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		printf("SKIP: not root or no 'nobody'\n");
		skip();
	}
	fd = greet();
	x.argv = (char **)argv;
	x.n_argv = 1;
	id = exec_id(fd, 0, &x);
	r = wait_for(fd, id);
	assert_non_null(r);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
		    setuid(pw->pw_uid) < 0)
			_exit(99);
		_exit(as_nobody_retry(id));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), EVD__ERROR_CODE__NOT_FOUND);
}

/* With the memory store (no finished timers kept), a one-shot's retry
 * is rebuilt from what the hook remembered: command, payload, owner. */
static void
test_retry_memory_store(void **state)
{
	static const char *const args[] = { "--store", "memory", NULL };
	char dir[] = "/tmp/evd-retrymem.XXXXXX", cmd[200], path[200], *out;
	const char *argv[] = { "/bin/sh", "-c", cmd };
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallSoon cs = EVD__CALL_SOON__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Exec x = EVD__EXEC__INIT;
	struct evd_proc m, saved = evd;
	Evd__Reply *r;
	int fd, i;

	assert_non_null(mkdtemp(dir));
	snprintf(cmd, sizeof cmd, "cat >> %s/runs; exit 1", dir);
	snprintf(path, sizeof path, "%s/runs", dir);
	assert_int_equal(evd_start(&m, args), 0);
	evd = m;
	fd = greet();
	x.argv = (char **)argv;
	x.n_argv = 3;
	x.has_retry = x.has_retry_delay_ns = 1;
	x.retry = 1;
	x.retry_delay_ns = 20 * MS;
	cb.target_case = EVD__CALLBACK__TARGET_EXEC;
	cb.exec = &x;
	cb.has_payload = 1;
	cb.payload.data = (uint8_t *)"p;";
	cb.payload.len = 2;
	cs.callback = &cb;
	rq.body_case = EVD__REQUEST__BODY_CALL_SOON;
	rq.call_soon = &cs;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	evd__reply__free_unpacked(r, NULL);
	for (i = 0; i < 400; i++) {
		struct stat st;

		if (stat(path, &st) == 0 && st.st_size == 4)
			break;
		usleep(50000);
	}
	out = slurp(path);
	assert_string_equal(out, "p;p;");
	free(out);
	close(fd);
	evd = saved;
	assert_int_equal(evd_stop(&m), 0);
	rm_rf(dir);
}

static int
subscribe(int fd, const char *channel)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Subscribe s = EVD__SUBSCRIBE__INIT;
	Evd__Reply *r;
	int ok;

	s.channel = (char *)channel;
	rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &s;
	r = call(fd, &rq);
	ok = r != NULL && r->body_case == EVD__REPLY__BODY_SUBSCRIBED;
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	return ok ? 0 : -1;
}

/* As 'nobody': schedules a failing hook reporting to channel; returns
 * the error code (0: scheduled). */
static int
as_nobody_on_failure(const char *channel)
{
	const char *argv[] = { "/bin/false" };
	Evd__Exec x = EVD__EXEC__INIT;
	Evd__Reply *r;
	int fd, code;

	if ((fd = greet()) < 0)
		return 100;
	x.argv = (char **)argv;
	x.n_argv = 1;
	x.on_failure = (char *)channel;
	r = exec_later_x(fd, 0, &x);
	if (r == NULL)
		return 101;
	code = r->body_case == EVD__REPLY__BODY_ERROR ? (int)r->error->code
	                                              : 0;
	if (code != 0 && strstr(r->error->message, channel) == NULL)
		code = 102; /* the error must name the channel */
	evd__reply__free_unpacked(r, NULL);
	return code;
}

/*
 * on_failure: after its retry, a failing hook's report arrives on the
 * channel (timer and fire ids, outcome, exit code, the stderr tail); a
 * success sends nothing; a channel the owner may not publish to is
 * refused at schedule time, naming it.
 */
static void
test_on_failure(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "echo disk full >&2; exit 5" };
	Evd__Exec x = EVD__EXEC__INIT;
	Evd__Reply *r;
	struct passwd *pw;
	char want[80];
	uint64_t id;
	int fd = greet(), sub = greet(), status;
	pid_t pid;

	assert_int_equal(subscribe(sub, "alerts"), 0);
	x.argv = (char **)argv;
	x.n_argv = 3;
	x.on_failure = "alerts";
	x.has_retry = x.has_retry_delay_ns = 1;
	x.retry = 1;
	x.retry_delay_ns = 50 * MS;
	id = exec_id(fd, 0, &x);
	assert_true(id > 0);
	r = raw_next_fired(sub, 20000);
	assert_non_null(r);
	assert_string_equal(r->fired->channel, "alerts");
	assert_int_equal(r->fired->timer_id, id);
	snprintf(want, sizeof want, "\"timer_id\":%llu,",
	         (unsigned long long)id);
	assert_non_null(memmem(r->fired->payload.data, r->fired->payload.len,
	                       want, strlen(want)));
	assert_non_null(memmem(r->fired->payload.data, r->fired->payload.len,
	                       "\"outcome\":\"failure\"", 19));
	assert_non_null(memmem(r->fired->payload.data, r->fired->payload.len,
	                       "\"exit_code\":5", 13));
	assert_non_null(memmem(r->fired->payload.data, r->fired->payload.len,
	                       "\"attempts\":2", 12));
	assert_non_null(memmem(r->fired->payload.data, r->fired->payload.len,
	                       "\"stderr_tail\":\"disk full\\n\"", 25));
	assert_non_null(memmem(r->fired->payload.data, r->fired->payload.len,
	                       "\"fire_id\":", 10));
	evd__reply__free_unpacked(r, NULL);
	/* One report, for the last attempt only. */
	r = raw_next_fired(sub, 500);
	assert_null(r);
	await_runs(fd, id, 2);
	r = get(fd, id);
	assert_non_null(strstr(r->timer->history[0]->detail,
	                       "reported to channel alerts"));
	evd__reply__free_unpacked(r, NULL);
	close(sub);
	close(fd);

	/* root's "alerts" (0:alerts); nobody has no grant there, and its
	 * own "alerts" is another channel. */
	if (geteuid() != 0 || (pw = getpwnam("nobody")) == NULL) {
		printf("SKIP: not root or no 'nobody': refusal case\n");
		return;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 ||
		    setuid(pw->pw_uid) < 0)
			_exit(99);
		_exit(as_nobody_on_failure("0:alerts"));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status),
	                 EVD__ERROR_CODE__PERMISSION_DENIED);
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
		cmocka_unit_test(test_logs),
		cmocka_unit_test(test_retry_backoff),
		cmocka_unit_test(test_retry_survives_restart),
		cmocka_unit_test(test_retry_request),
		cmocka_unit_test(test_retry_repeating),
		cmocka_unit_test(test_retry_other_user),
		cmocka_unit_test(test_retry_memory_store),
		cmocka_unit_test(test_on_failure),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
