/*
 * test_lifecycle: starting and stopping evd: SIGTERM closes cleanly and
 * removes the socket; a stale socket file is replaced; a live daemon on
 * the path is refused with exit status 1; a path that is not a socket is
 * left alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static void
test_sigterm_removes_socket(void **state)
{
	struct evd_proc p;
	struct stat st;
	int fd;

	assert_int_equal(evd_start(&p, NULL), 0);
	assert_int_equal(stat(p.sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	/* A connected client does not hold shutdown up. */
	fd = raw_connect(p.sock);
	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, 1), 0);
	assert_int_equal(evd_terminate(&p), 0);
	assert_int_equal(stat(p.sock, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_true(raw_wait_eof(fd, 2000));
	close(fd);
	rm_rf(p.dir);
}

/* SIGTERM while a client has not read its replies yet: they are still
 * delivered (a bounded drain), then EOF. */
static void
test_sigterm_drains_replies(void **state)
{
	Evd__Time tm = EVD__TIME__INIT;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	struct evd_proc p;
	uint64_t i;
	int fd;

	assert_int_equal(evd_start(&p, NULL), 0);
	fd = raw_connect(p.sock);
	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, 1), 0);
	for (i = 0; i < 20000; i++) {
		Evd__Request rq = EVD__REQUEST__INIT;

		rq.has_request_id = 1;
		rq.request_id = 10 + i;
		rq.body_case = EVD__REQUEST__BODY_TIME;
		rq.time = &tm;
		assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	}
	assert_int_equal(raw_write(fd, buf, len), 0);
	free(buf);
	/* Stop evd once it has read every request (what it has not read
	 * when told to stop is not owed), however slowly it runs (under
	 * valgrind, on a loaded machine): our send queue is empty then. */
	for (i = 0; i < 3000; i++) {
		int unsent = 0;

		assert_int_equal(ioctl(fd, SIOCOUTQ, &unsent), 0);
		if (unsent == 0)
			break;
		usleep(10000);
	}
	/* And answered them into a full socket buffer. */
	usleep(300000);
	kill(p.pid, SIGTERM);
	for (i = 0; i < 20000; i++) {
		Evd__Reply *r = raw_recv_reply(fd, 5000);

		assert_non_null(r);
		assert_int_equal(r->request_id, 10 + i);
		evd__reply__free_unpacked(r, NULL);
	}
	assert_true(raw_wait_eof(fd, 5000));
	close(fd);
	/* Already told to stop: a second SIGTERM could land after evd
	 * removed its handler, so only wait. */
	assert_int_equal(evd_wait_exit(&p), 0);
	rm_rf(p.dir);
}

/* A service manager that stops reading NOTIFY_SOCKET (here: the test
 * never reads it after READY, and the watchdog pings every 10 ms) must
 * not freeze the daemon: a Unix datagram queue holds only a few
 * messages, and a blocking send would wait forever. */
static void
test_notify_never_blocks(void **state)
{
	struct evd_proc p;
	int fd;

	setenv("WATCHDOG_USEC", "20000", 1);
	assert_int_equal(evd_start(&p, NULL), 0);
	unsetenv("WATCHDOG_USEC");
	usleep(1000000); /* ~100 watchdog pings into a queue of ~10 */
	fd = raw_connect(p.sock);
	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, 1), 0);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

static void
test_stale_socket_replaced(void **state)
{
	struct sockaddr_un sun;
	struct evd_proc p;
	int fd;

	memset(&p, 0, sizeof p);
	snprintf(p.dir, sizeof p.dir, "/tmp/evd-test.XXXXXX");
	assert_non_null(mkdtemp(p.dir));
	/* A socket file nobody listens on: what a crash leaves behind. */
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	assert_true(snprintf(sun.sun_path, sizeof sun.sun_path, "%s/evd.sock",
	                     p.dir) < (int)sizeof sun.sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	close(fd);

	assert_int_equal(evd_start_in(&p, NULL), 0);
	fd = raw_connect(p.sock);
	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, 1), 0);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* Runs evd on sock and returns its exit status and stderr. */
static int
run_second(const char *sock, char *err, size_t errsize)
{
	int pipefd[2], status;
	ssize_t n, total = 0;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		/* The memory store: never the system's /var/lib/evd. */
		execl(EVD_BIN, EVD_BIN, "--socket", sock, "--store", "memory",
		      (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	while (total < (ssize_t)errsize - 1 &&
	       (n = read(pipefd[0], err + total, errsize - 1 - (size_t)total)) > 0)
		total += n;
	err[total] = '\0';
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_live_socket_refused(void **state)
{
	struct evd_proc p;
	char err[4096];
	int fd;

	assert_int_equal(evd_start(&p, NULL), 0);
	assert_int_equal(run_second(p.sock, err, sizeof err), 1);
	assert_non_null(strstr(err, "already listening"));
	/* The first daemon is untouched. */
	fd = raw_connect(p.sock);
	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, 1), 0);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

static void
test_not_a_socket_left_alone(void **state)
{
	char dir[] = "/tmp/evd-test.XXXXXX", path[256], err[4096];
	struct stat st;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/evd.sock", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(run_second(path, err, sizeof err), 1);
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 4);
	rm_rf(dir);
}

/* The soft limit of open files evd runs with (/proc/PID/limits). */
static long long
soft_nofile(pid_t pid)
{
	char path[64], line[256];
	long long soft = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/limits", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "Max open files", 14) == 0)
			soft = atoll(line + 26);
	fclose(f);
	return soft;
}

/*
 * Started from a shell, evd had the soft limit of 1,024 descriptors
 * (here: 64) although the hard one allows far more, and stopped
 * accepting at that many clients. It raises the soft limit to the hard
 * one; 300 clients then connect.
 */
static void
test_raises_nofile(void **state)
{
	struct rlimit was, low;
	struct evd_proc p;
	int fds[300], n = 0;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &was), 0);
	/* valgrind keeps descriptors of its own and caps the limit. */
	if ((was.rlim_max != RLIM_INFINITY && was.rlim_max < 1024) ||
	    getenv("EVD_VALGRIND") != NULL)
		skip();
	low = was;
	low.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(evd_start(&p, NULL), 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &was), 0);
	assert_int_equal(soft_nofile(p.pid), (long long)was.rlim_max);
	for (n = 0; n < 300; n++) {
		fds[n] = raw_connect(p.sock);
		assert_true(fds[n] >= 0);
		assert_int_equal(raw_hello(fds[n], 1), 0);
	}
	while (n > 0)
		close(fds[--n]);
	assert_int_equal(evd_terminate(&p), 0);
	rm_rf(p.dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigterm_removes_socket),
		cmocka_unit_test(test_sigterm_drains_replies),
		cmocka_unit_test(test_notify_never_blocks),
		cmocka_unit_test(test_stale_socket_replaced),
		cmocka_unit_test(test_live_socket_refused),
		cmocka_unit_test(test_not_a_socket_left_alone),
		cmocka_unit_test(test_raises_nofile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
