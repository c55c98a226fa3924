/*
 * test_systemd: evd as a systemd service, without systemd as PID 1.
 *
 * The test plays the service manager: it owns the NOTIFY_SOCKET datagram
 * socket (READY, STATUS, WATCHDOG, RELOADING, STOPPING, in order), sets
 * WATCHDOG_USEC/WATCHDOG_PID in the child it execs, holds a listening
 * socket across evd restarts and passes it as LISTEN_FDS (socket
 * activation: connections queued while evd is down are served when it
 * comes back), and checks the configuration file, SIGHUP and SIGTERM.
 *
 * "test_systemd --socket-activate" runs the one case that needs
 * systemd-socket-activate(1) instead; it exits 77 when that is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define SOCKET_ACTIVATE "/usr/bin/systemd-socket-activate"
/* How long SIGTERM may take, start to exit (evd(8) promises "promptly";
 * systemd's TimeoutStopSec is far longer). */
#define STOP_BOUND_MS 2000

/* Every process a test started, so that a failed assertion (which
 * longjmps out of the test) does not leave an evd behind holding ctest's
 * output pipe open. */
static pid_t children[32];

static void
track(pid_t pid)
{
	size_t i;

	for (i = 0; i < sizeof children / sizeof children[0]; i++)
		if (children[i] == 0) {
			children[i] = pid;
			return;
		}
}

static int
kill_children(void **state)
{
	size_t i;

	for (i = 0; i < sizeof children / sizeof children[0]; i++) {
		if (children[i] > 0 &&
		    waitpid(children[i], NULL, WNOHANG) == 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
		}
		children[i] = 0;
	}
	return 0;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
make_dir(char *dir, size_t size)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, size, "%s/evd-test.XXXXXX", tmp != NULL ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
}

/* dir/name into dst, which must hold it. */
static void
path_in(char *dst, size_t size, const char *dir, const char *name)
{
	assert_true(snprintf(dst, size, "%s/%s", dir, name) < (int)size);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* The whole file (at most size - 1 bytes), NUL-terminated. */
static void
read_file(const char *path, char *buf, size_t size)
{
	size_t n = 0;
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (f == NULL)
		return;
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static bool
file_contains(const char *path, const char *needle)
{
	static char buf[1 << 16];

	read_file(path, buf, sizeof buf);
	return strstr(buf, needle) != NULL;
}

/* ---- the service manager's side ---------------------------------- */

static int
notify_open(const char *dir, char *path, size_t size)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	assert_true(snprintf(path, size, "%s/notify", dir) <
	            (int)sizeof sun.sun_path);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	return fd;
}

/* The next notification, NUL-terminated; false after timeout_ms. */
static bool
notify_next(int fd, char *msg, size_t size, int timeout_ms)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return false;
	n = recv(fd, msg, size - 1, 0);
	if (n < 0)
		return false;
	msg[n] = '\0';
	return true;
}

/* True if msg has the line "line" (an exact NAME=VALUE). */
static bool
has_line(const char *msg, const char *line)
{
	size_t n = strlen(line);
	const char *p = msg;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == msg || p[-1] == '\n') &&
		    (p[n] == '\0' || p[n] == '\n'))
			return true;
		p += n;
	}
	return false;
}

/* Reads notifications until one has the line want; false on timeout. */
static bool
notify_wait(int fd, const char *want, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	char msg[4096];

	for (;;) {
		int64_t left = deadline - now_ms();

		if (left <= 0 || !notify_next(fd, msg, sizeof msg, (int)left))
			return false;
		if (has_line(msg, want))
			return true;
	}
}

/* How to start evd: what systemd would set up around it. */
struct spawn {
	const char *const *argv; /* after the binary; NULL-terminated */
	const char *notify;      /* NOTIFY_SOCKET, or NULL */
	const char *watchdog_usec;
	bool watchdog_pid_other; /* WATCHDOG_PID names another process */
	int listen_fd;           /* passed as fd 3, or -1 */
	int listen_nfds;         /* LISTEN_FDS (fd 3 duplicated) */
	int err_fd;              /* becomes stderr, or -1 */
};

static pid_t
spawn_evd(const struct spawn *s)
{
	const char *argv[32];
	char num[32];
	int argc = 0, i;
	pid_t pid;

	argv[argc++] = EVD_BIN;
	for (i = 0; s->argv != NULL && s->argv[i] != NULL && argc < 31; i++)
		argv[argc++] = s->argv[i];
	argv[argc] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid > 0) {
		track(pid);
		return pid;
	}

	/* The child: only async-signal-safe-enough calls, then exec. */
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	unsetenv("NOTIFY_SOCKET");
	if (s->err_fd >= 0)
		dup2(s->err_fd, STDERR_FILENO);
	if (s->notify != NULL)
		setenv("NOTIFY_SOCKET", s->notify, 1);
	if (s->watchdog_usec != NULL) {
		setenv("WATCHDOG_USEC", s->watchdog_usec, 1);
		/* sd_watchdog_enabled() only answers the process named
		 * here; exec keeps the pid. */
		snprintf(num, sizeof num, "%ld",
		         s->watchdog_pid_other ? 1L : (long)getpid());
		setenv("WATCHDOG_PID", num, 1);
	}
	if (s->listen_fd >= 0) {
		/* dup2 clears CLOEXEC on the copy; fd 3 onwards as
		 * sd_listen_fds(3) expects. */
		if (s->listen_fd != 3)
			dup2(s->listen_fd, 3);
		else
			fcntl(3, F_SETFD, 0);
		for (i = 1; i < s->listen_nfds; i++)
			dup2(3, 3 + i);
		snprintf(num, sizeof num, "%d", s->listen_nfds);
		setenv("LISTEN_FDS", num, 1);
		snprintf(num, sizeof num, "%ld", (long)getpid());
		setenv("LISTEN_PID", num, 1);
	}
	execv(EVD_BIN, (char *const *)argv);
	_exit(127);
}

/* Waits for pid; its exit status, or -1 (signal, or not within
 * bound_ms: then it is killed). */
static int
wait_exit(pid_t pid, int bound_ms)
{
	int64_t deadline = now_ms() + bound_ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		if (now_ms() > deadline) {
			fprintf(stderr, "evd %ld still running after %d ms\n",
			        (long)pid, bound_ms);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return -1;
		}
		usleep(2000);
	}
}

/* Runs evd to completion (it must fail at start-up); its exit status and
 * stderr. */
static int
run_failing(const char *const *args, const int *listen, int nfds, char *err,
            size_t errsize)
{
	struct spawn s = { .argv = args, .listen_fd = -1 };
	ssize_t n, total = 0;
	int pipefd[2], status;
	pid_t pid;

	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	s.err_fd = pipefd[1];
	if (listen != NULL) {
		s.listen_fd = *listen;
		s.listen_nfds = nfds;
	}
	pid = spawn_evd(&s);
	close(pipefd[1]);
	while (total < (ssize_t)errsize - 1 &&
	       (n = read(pipefd[0], err + total,
	                 errsize - 1 - (size_t)total)) > 0)
		total += n;
	err[total] = '\0';
	close(pipefd[0]);
	status = wait_exit(pid, 10000);
	return status;
}

static int
listen_unix(const char *path, int type)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof sun.sun_path);
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	if (type == SOCK_STREAM)
		assert_int_equal(listen(fd, 64), 0);
	return fd;
}

/* A channel timer an hour out: something for STATUS= to count. */
static void
schedule_hour(int fd, uint64_t req_id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Reply *r;

	rq.has_request_id = 1;
	rq.request_id = req_id;
	cl.has_delay_ns = 1;
	cl.delay_ns = INT64_C(3600) * 1000000000;
	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = "status";
	cl.callback = &cb;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	r = raw_call(fd, &rq, 5000);
	assert_non_null(r);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	evd__reply__free_unpacked(r, NULL);
}

/* ---- Type=notify and the watchdog -------------------------------- */

/*
 * READY=1 (with STATUS=), then WATCHDOG=1 at half of WATCHDOG_USEC, a
 * STATUS= refresh with the counts, and STOPPING=1 last: in that order.
 */
static void
test_notify_sequence(void **state)
{
	char dir[PATH_MAX], sock[PATH_MAX], npath[PATH_MAX], log[PATH_MAX];
	const char *args[] = { "--socket", sock, "--store", "memory", NULL };
	struct spawn s = { .argv = args, .notify = npath,
		           .watchdog_usec = "200000", .listen_fd = -1 };
	char msg[4096];
	int nfd, logfd, cfd, watchdogs = 0, status_seen = 0, stopping_at = -1;
	int i, ready_at = -1, first_watchdog = -1, status_at = -1;
	int64_t t0, stop_t0;
	pid_t pid;

	make_dir(dir, sizeof dir);
	path_in(sock, sizeof sock, dir, "evd.sock");
	path_in(log, sizeof log, dir, "evd.log");
	nfd = notify_open(dir, npath, sizeof npath);
	logfd = open(log, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(logfd >= 0);
	s.err_fd = logfd;
	pid = spawn_evd(&s);
	close(logfd);

	/* Everything until STOPPING=1, numbered in arrival order. */
	t0 = now_ms();
	cfd = -1;
	for (i = 0; stopping_at < 0; i++) {
		assert_true(now_ms() - t0 < 15000);
		assert_true(notify_next(nfd, msg, sizeof msg, 5000));
		if (has_line(msg, "READY=1")) {
			assert_int_equal(ready_at, -1);
			ready_at = i;
			/* READY carries a status line and our pid. */
			assert_non_null(strstr(msg, "STATUS=listening on "));
			assert_non_null(strstr(msg, "MAINPID="));
			/* Something to count, and a connection. */
			cfd = raw_connect(sock);
			assert_true(cfd >= 0);
			assert_int_equal(raw_hello(cfd, 1), 0);
			schedule_hour(cfd, 2);
		}
		if (has_line(msg, "WATCHDOG=1")) {
			if (first_watchdog < 0)
				first_watchdog = i;
			watchdogs++;
		}
		if (strstr(msg, "STATUS=1 timers pending, 1 connections, ") !=
		    NULL) {
			status_at = i;
			status_seen++;
		}
		if (status_seen > 0 && watchdogs >= 3 && stopping_at < 0 &&
		    !has_line(msg, "STOPPING=1") && pid > 0) {
			stop_t0 = now_ms();
			assert_int_equal(kill(pid, SIGTERM), 0);
			assert_int_equal(wait_exit(pid, STOP_BOUND_MS), 0);
			assert_true(now_ms() - stop_t0 < STOP_BOUND_MS);
			pid = 0;
		}
		if (has_line(msg, "STOPPING=1"))
			stopping_at = i;
	}
	assert_true(ready_at == 0);
	assert_true(first_watchdog > ready_at);
	assert_true(status_at > ready_at);
	assert_true(stopping_at > first_watchdog && stopping_at > status_at);
	/* STOPPING=1 is the last word: no keep-alive after it. */
	assert_false(notify_next(nfd, msg, sizeof msg, 300));
	/* The log says where the watchdog interval came from. */
	assert_true(file_contains(log, "watchdog: keep-alive every 100 ms"));
	close(cfd);
	close(nfd);
	rm_rf(dir);
}

/* WATCHDOG_PID naming another process: the watchdog is not ours. */
static void
test_watchdog_other_pid(void **state)
{
	char dir[PATH_MAX], sock[PATH_MAX], npath[PATH_MAX];
	const char *args[] = { "--socket", sock, "--store", "memory", NULL };
	struct spawn s = { .argv = args, .notify = npath,
		           .watchdog_usec = "100000",
		           .watchdog_pid_other = true, .listen_fd = -1,
		           .err_fd = -1 };
	char msg[4096];
	int64_t deadline;
	int nfd;
	pid_t pid;

	make_dir(dir, sizeof dir);
	path_in(sock, sizeof sock, dir, "evd.sock");
	nfd = notify_open(dir, npath, sizeof npath);
	pid = spawn_evd(&s);
	assert_true(notify_wait(nfd, "READY=1", 10000));
	deadline = now_ms() + 400;
	while (now_ms() < deadline)
		if (notify_next(nfd, msg, sizeof msg, 50))
			assert_false(has_line(msg, "WATCHDOG=1"));
	kill(pid, SIGTERM);
	assert_int_equal(wait_exit(pid, STOP_BOUND_MS), 0);
	close(nfd);
	rm_rf(dir);
}

/* ---- configuration file ------------------------------------------ */

static void
test_config_errors(void **state)
{
	char dir[PATH_MAX], conf[PATH_MAX], sock[PATH_MAX], want[PATH_MAX + 64];
	const char *args[] = { "--config", conf, "--socket", sock, "--store",
		               "memory", NULL };
	char err[8192];

	make_dir(dir, sizeof dir);
	path_in(conf, sizeof conf, dir, "evd.conf");
	path_in(sock, sizeof sock, dir, "evd.sock");

	/* Unknown key: exit 6 (NOTCONFIGURED), FILE:LINE: reason. */
	write_file(conf, "# evd\nstore = memory\nbogus = 1\n");
	assert_int_equal(run_failing(args, NULL, 0, err, sizeof err), 6);
	snprintf(want, sizeof want, "%s:3: unknown key 'bogus'", conf);
	assert_non_null(strstr(err, want));
	/* As an error for journald. */
	assert_non_null(strstr(err, "Z <3>"));

	/* Bad value, even for a key the command line overrides. */
	write_file(conf, "\nhistory = lots\n");
	assert_int_equal(run_failing(args, NULL, 0, err, sizeof err), 6);
	snprintf(want, sizeof want, "%s:2: history: expected 0..10000", conf);
	assert_non_null(strstr(err, want));

	/* A file named by --config must exist. */
	unlink(conf);
	assert_int_equal(run_failing(args, NULL, 0, err, sizeof err), 6);
	snprintf(want, sizeof want, "%s: No such file or directory", conf);
	assert_non_null(strstr(err, want));

	/* Bad option values are usage errors: exit 2. */
	{
		const char *bad[] = { "--config", "/dev/null", "--sync",
			              "maybe", NULL };

		assert_int_equal(run_failing(bad, NULL, 0, err, sizeof err), 2);
		assert_non_null(strstr(err, "--sync: expected full or normal"));
	}
	/* Nothing was started. */
	assert_int_equal(access(sock, F_OK), -1);
	rm_rf(dir);
}

/* The file applies; options override it key by key. */
static void
test_options_override_file(void **state)
{
	char conf[PATH_MAX], filesock[PATH_MAX], text[2 * PATH_MAX];
	const char *extra[] = { "--config", conf, "--log-level", "notice",
		                NULL };
	struct evd_proc p;
	int fd;

	memset(&p, 0, sizeof p);
	make_dir(p.dir, sizeof p.dir);
	path_in(conf, sizeof conf, p.dir, "evd.conf");
	path_in(filesock, sizeof filesock, p.dir, "file.sock");
	/* socket and log_level lose to the options; store does not. */
	snprintf(text, sizeof text,
	         "socket = %s\nlog_level = debug\nstore = memory\n", filesock);
	write_file(conf, text);
	assert_int_equal(evd_start_in(&p, extra), 0);
	track(p.pid);
	fd = raw_connect(p.sock);
	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, 1), 0);
	close(fd);
	assert_int_equal(access(filesock, F_OK), -1);
	/* store = memory from the file: no state directory was made. */
	assert_int_equal(access(p.state, F_OK), -1);
	assert_int_equal(evd_terminate(&p), 0);
	/* --log-level notice beat log_level = debug: no debug lines. */
	assert_false(file_contains(p.log, "<7>"));
	assert_true(file_contains(p.log, "store memory"));
	rm_rf(p.dir);
}

/* ---- SIGHUP ------------------------------------------------------- */

static void
test_sighup_reload(void **state)
{
	char conf[PATH_MAX];
	const char *extra[] = { "--config", conf, NULL };
	struct evd_proc p;
	char msg[4096];
	bool reloading = false;
	int fd;

	memset(&p, 0, sizeof p);
	make_dir(p.dir, sizeof p.dir);
	path_in(conf, sizeof conf, p.dir, "evd.conf");
	write_file(conf, "log_level = info\nstore = memory\n");
	assert_int_equal(evd_start_in(&p, extra), 0);
	track(p.pid);
	fd = raw_connect(p.sock);
	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, 1), 0);
	close(fd);
	assert_false(file_contains(p.log, "<7>"));

	/* More verbose, and a key that cannot change while running. */
	write_file(conf, "log_level = debug\nstore = sqlite\n"
	                 "quota_timers = 5\nexec_max_per_uid = 2\n");
	assert_int_equal(kill(p.pid, SIGHUP), 0);
	/* RELOADING=1, then READY=1 again. */
	for (;;) {
		assert_true(notify_next(p.notify_fd, msg, sizeof msg, 5000));
		if (has_line(msg, "RELOADING=1"))
			reloading = true;
		if (has_line(msg, "READY=1"))
			break;
	}
	assert_true(reloading);
	assert_true(file_contains(p.log, "log_level changed from info to "
	                                 "debug"));
	assert_true(file_contains(p.log, "store changed from memory to sqlite: "
	                                 "needs a restart (still using "
	                                 "memory)"));
	/* Limits apply at once (their effect is test_exec's business;
	 * root, which runs this test, is never limited). */
	assert_true(file_contains(p.log, "quota_timers changed from 100000 "
	                                 "to 5\n"));
	assert_true(file_contains(p.log, "exec_max_per_uid changed from 16 "
	                                 "to 2\n"));
	/* The new level is in force: a connection is now a debug line. */
	fd = raw_connect(p.sock);
	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, 2), 0);
	close(fd);
	/* evd logs the accept before it answers Hello. */
	assert_true(file_contains(p.log, "<7>connection"));

	/* A broken file changes nothing and does not stop evd. */
	write_file(conf, "log_level = shouting\n");
	assert_int_equal(kill(p.pid, SIGHUP), 0);
	assert_true(notify_wait(p.notify_fd, "READY=1", 5000));
	assert_true(file_contains(p.log, "evd.conf:1: log_level: unknown "
	                                 "level 'shouting'"));
	assert_true(file_contains(p.log, "; keeping the running "
	                                 "configuration"));
	assert_true(evd_alive(&p));
	fd = raw_connect(p.sock);
	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, 3), 0);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* ---- SIGTERM ------------------------------------------------------ */

/* Connected clients, pending timers, a durable store: exit 0, promptly,
 * and the timers are still there next time. */
static void
test_sigterm_bound(void **state)
{
	struct evd_proc p;
	int fds[8], i;
	int64_t t0;

	assert_int_equal(evd_start(&p, NULL), 0);
	track(p.pid);
	for (i = 0; i < 8; i++) {
		fds[i] = raw_connect(p.sock);
		assert_true(fds[i] >= 0);
		assert_int_equal(raw_hello(fds[i], 1), 0);
		schedule_hour(fds[i], 2);
	}
	t0 = now_ms();
	assert_int_equal(kill(p.pid, SIGTERM), 0);
	assert_int_equal(wait_exit(p.pid, STOP_BOUND_MS), 0);
	assert_true(now_ms() - t0 < STOP_BOUND_MS);
	p.pid = 0;
	for (i = 0; i < 8; i++) {
		assert_true(raw_wait_eof(fds[i], 2000));
		close(fds[i]);
	}
	close(p.notify_fd);
	assert_true(file_contains(p.log, "stopped (shutdown took"));
	/* Committed: the restart loads all eight. */
	assert_int_equal(evd_start_in(&p, NULL), 0);
	track(p.pid);
	assert_true(file_contains(p.log, "loaded 8 durable timers"));
	assert_int_equal(evd_stop(&p), 0);
}

/* ---- socket activation ------------------------------------------- */

/*
 * The test holds the listening socket, as systemd does for evd.socket:
 * evd takes it, serves, exits (leaving the socket file alone); a client
 * that connects while no evd runs waits in the backlog and is answered
 * by the next evd.
 */
static void
test_activation_restart(void **state)
{
	char dir[PATH_MAX], sock[PATH_MAX], npath[PATH_MAX], log[PATH_MAX];
	char ignored[PATH_MAX];
	const char *args[] = { "--socket", ignored, "--state-dir", dir, NULL };
	struct spawn s = { .argv = args, .notify = npath };
	struct stat st;
	Evd__Reply *r;
	int lfd, nfd, logfd, c1, c2;
	pid_t pid;

	make_dir(dir, sizeof dir);
	path_in(sock, sizeof sock, dir, "evd.sock");
	path_in(ignored, sizeof ignored, dir, "not-used.sock");
	path_in(log, sizeof log, dir, "evd.log");
	lfd = listen_unix(sock, SOCK_STREAM);
	nfd = notify_open(dir, npath, sizeof npath);
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	assert_true(logfd >= 0);
	s.err_fd = logfd;
	s.listen_fd = lfd;
	s.listen_nfds = 1;

	pid = spawn_evd(&s);
	assert_true(notify_wait(nfd, "READY=1", 10000));
	c1 = raw_connect(sock);
	assert_true(c1 >= 0);
	assert_int_equal(raw_hello(c1, 1), 0);
	schedule_hour(c1, 2);
	assert_int_equal(access(ignored, F_OK), -1);
	assert_true(file_contains(log, "(socket activation"));
	/* --socket lost to the passed socket, and evd says so. */
	assert_true(file_contains(log, "not used: systemd passed"));

	kill(pid, SIGTERM);
	assert_int_equal(wait_exit(pid, STOP_BOUND_MS), 0);
	assert_true(raw_wait_eof(c1, 2000));
	close(c1);
	/* The socket file belongs to the service manager. */
	assert_int_equal(lstat(sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));

	/* No evd now: the connection queues, the request waits. */
	c2 = raw_connect(sock);
	assert_true(c2 >= 0);
	{
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__Hello h = EVD__HELLO__INIT;

		h.has_protocol_version = 1;
		h.protocol_version = 1;
		rq.has_request_id = 1;
		rq.request_id = 7;
		rq.body_case = EVD__REQUEST__BODY_HELLO;
		rq.hello = &h;
		assert_int_equal(raw_send_request(c2, &rq), 0);
	}
	assert_null(raw_recv_reply(c2, 200));

	pid = spawn_evd(&s);
	r = raw_recv_reply(c2, 10000);
	assert_non_null(r);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_WELCOME);
	assert_int_equal(r->request_id, 7);
	evd__reply__free_unpacked(r, NULL);
	assert_true(notify_wait(nfd, "READY=1", 10000));
	/* Same state directory: the timer survived the restart. */
	assert_true(file_contains(log, "loaded 1 durable timers"));
	close(c2);
	kill(pid, SIGTERM);
	assert_int_equal(wait_exit(pid, STOP_BOUND_MS), 0);
	assert_int_equal(lstat(sock, &st), 0);
	close(logfd);
	close(lfd);
	close(nfd);
	rm_rf(dir);
}

/* What evd.socket must be is checked, not assumed. */
static void
test_activation_wrong_sockets(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX], err[8192];
	const char *args[] = { "--state-dir", dir, "--store", "memory", NULL };
	int fd;

	make_dir(dir, sizeof dir);
	path_in(path, sizeof path, dir, "dgram.sock");
	fd = listen_unix(path, SOCK_DGRAM);
	assert_int_equal(run_failing(args, &fd, 1, err, sizeof err), 1);
	assert_non_null(strstr(err, "not a listening AF_UNIX stream socket"));
	close(fd);

	path_in(path, sizeof path, dir, "two.sock");
	fd = listen_unix(path, SOCK_STREAM);
	assert_int_equal(run_failing(args, &fd, 2, err, sizeof err), 1);
	assert_non_null(strstr(err, "more than one socket"));
	close(fd);
	rm_rf(dir);
}

/* ---- systemd-socket-activate(1) ---------------------------------- */

/*
 * systemd-socket-activate binds the socket and execs evd only when the
 * first client connects: that client is necessarily queued before evd
 * runs, and must be served.
 */
static void
test_socket_activate_tool(void **state)
{
	char dir[PATH_MAX], sock[PATH_MAX], npath[PATH_MAX], state_dir[PATH_MAX];
	char line[PATH_MAX + 64], out[16384];
	int pipefd[2], nfd, c1, c2;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	make_dir(dir, sizeof dir);
	path_in(sock, sizeof sock, dir, "evd.sock");
	path_in(state_dir, sizeof state_dir, dir, "state");
	nfd = notify_open(dir, npath, sizeof npath);
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	track(pid);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		setenv("NOTIFY_SOCKET", npath, 1);
		/* It passes on only the variables named by -E. */
		execl(SOCKET_ACTIVATE, SOCKET_ACTIVATE, "-l", sock, "-E",
		      "NOTIFY_SOCKET", EVD_BIN,
		      "--state-dir", state_dir, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	/* Its first line says the socket listens: no polling for it. */
	while (len < sizeof line - 1 && memchr(line, '\n', len) == NULL) {
		n = read(pipefd[0], line + len, sizeof line - 1 - len);
		assert_true(n > 0);
		len += (size_t)n;
	}
	line[len] = '\0';
	assert_non_null(strstr(line, "Listening on"));
	len = 0;
	/* The rest (a few lines) waits in the pipe until evd exits. */
	c1 = raw_connect(sock);
	assert_true(c1 >= 0);
	assert_int_equal(raw_hello(c1, 1), 0);
	assert_true(notify_wait(nfd, "READY=1", 10000));
	c2 = raw_connect(sock);
	assert_true(c2 >= 0);
	assert_int_equal(raw_hello(c2, 1), 0);
	schedule_hour(c2, 2);
	close(c1);
	close(c2);
	/* The exec kept the pid: SIGTERM reaches evd. */
	kill(pid, SIGTERM);
	assert_int_equal(wait_exit(pid, STOP_BOUND_MS), 0);
	/* The socket is systemd-socket-activate's: left in place. */
	assert_int_equal(access(sock, F_OK), 0);
	while (len < sizeof out - 1 &&
	       (n = read(pipefd[0], out + len, sizeof out - 1 - len)) > 0)
		len += (size_t)n;
	out[len] = '\0';
	close(pipefd[0]);
	snprintf(line, sizeof line, "listening on %s (socket activation",
	         sock);
	if (strstr(out, line) == NULL)
		fail_msg("no '%s' in:\n%s", line, out);
	rm_rf(dir);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_notify_sequence, kill_children),
		cmocka_unit_test_teardown(test_watchdog_other_pid, kill_children),
		cmocka_unit_test_teardown(test_config_errors, kill_children),
		cmocka_unit_test_teardown(test_options_override_file, kill_children),
		cmocka_unit_test_teardown(test_sighup_reload, kill_children),
		cmocka_unit_test_teardown(test_sigterm_bound, kill_children),
		cmocka_unit_test_teardown(test_activation_restart, kill_children),
		cmocka_unit_test_teardown(test_activation_wrong_sockets, kill_children),
	};
	const struct CMUnitTest tool_tests[] = {
		cmocka_unit_test_teardown(test_socket_activate_tool, kill_children),
	};

	/* A closed log pipe must not kill the test either. */
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && strcmp(argv[1], "--socket-activate") == 0) {
		if (access(SOCKET_ACTIVATE, X_OK) < 0) {
			printf("SKIP: %s not found (apt-get install systemd)\n",
			       SOCKET_ACTIVATE);
			return 77;
		}
		return cmocka_run_group_tests(tool_tests, NULL, NULL);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
