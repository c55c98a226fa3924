/*
 * harness: start/stop the real daemon and raw protocol helpers (see
 * harness.h). Test code only: it prints to stderr freely.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "frame.h"
#include "pgfixture.h"

#ifndef EVD_BIN
#error "EVD_BIN must name the evd binary"
#endif

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
notify_listen(struct evd_proc *p, char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (snprintf(path, sizeof sun.sun_path, "%s/notify", p->dir) >=
	    (int)sizeof sun.sun_path)
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

/*
 * Every evd a test started, killed when the test program exits: one that
 * fails half-way (cmocka jumps out of the test) would leave its daemon,
 * and that daemon's spawner, running for ever. A pid already reaped is
 * skipped (waitpid says it is not our child any more), so a reused pid
 * is never hit.
 */
#define HARNESS_TRACK_MAX 256
static pid_t tracked[HARNESS_TRACK_MAX];
static size_t ntracked;

static void
harness_kill_tracked(void)
{
	size_t i;

	for (i = 0; i < ntracked; i++)
		if (waitpid(tracked[i], NULL, WNOHANG) == 0) {
			kill(tracked[i], SIGKILL);
			waitpid(tracked[i], NULL, 0);
		}
}

static void
harness_track(pid_t pid)
{
	if (ntracked == 0)
		atexit(harness_kill_tracked);
	if (ntracked < HARNESS_TRACK_MAX)
		tracked[ntracked++] = pid;
}

/*
 * EVD_TEST_STORE=pg: every evd a test starts uses the pg store, on one
 * PostgreSQL server per test program (pgfixture, stopped at exit), one
 * database per evd directory, so a restart in the same directory
 * (evd_start_in) finds what the last evd committed, as with sqlite. An
 * explicit "--store sqlite" among a test's arguments gives way to it;
 * "--store memory" does not. Without PostgreSQL the program exits 77.
 */
static struct pgfx harness_pg;

static void
harness_pg_stop(void)
{
	pgfx_stop(&harness_pg);
}

static int
harness_pg_store(const struct evd_proc *p, char *spec, size_t size)
{
	const char *env = getenv("EVD_TEST_STORE");
	const char *base = strrchr(p->dir, '/');
	char db[64], sql[160], why[512], ci[256];
	size_t i, n = 0;
	int r;

	if (env == NULL || strcmp(env, "pg") != 0)
		return 0;
	if (harness_pg.pid == 0) {
		r = pgfx_start(&harness_pg, why, sizeof why);
		if (r == 77) {
			fprintf(stderr, "SKIP: EVD_TEST_STORE=pg: %s\n", why);
			exit(77);
		}
		if (r < 0) {
			fprintf(stderr, "harness: PostgreSQL: %s\n", why);
			return -EIO;
		}
		atexit(harness_pg_stop);
		fprintf(stderr, "harness: evd runs on the pg store, "
		        "PostgreSQL at %s\n", harness_pg.conninfo);
	}
	base = base != NULL ? base + 1 : p->dir;
	n = (size_t)snprintf(db, sizeof db, "evd_");
	for (i = 0; base[i] != '\0' && n + 1 < sizeof db; i++)
		db[n++] = (char)((base[i] >= 'a' && base[i] <= 'z') ||
		                         (base[i] >= '0' && base[i] <= '9')
		                     ? base[i]
		                     : base[i] >= 'A' && base[i] <= 'Z'
		                           ? base[i] - 'A' + 'a'
		                           : '_');
	db[n] = '\0';
	/* A restart's database exists already. */
	snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
	if (pgfx_sql_quiet(&harness_pg, "postgres", sql, "42P04") < 0)
		return -EIO;
	pgfx_conninfo(&harness_pg, db, ci, sizeof ci);
	snprintf(spec, size, "pg:%s", ci);
	return 1;
}

int
harness_pg_sql(const char *sql)
{
	if (harness_pg.pid == 0)
		return -ENOENT;
	return pgfx_sql(&harness_pg, "postgres", sql);
}

int
harness_pg_sql_in(const char *db, const char *sql, char *spec, size_t size)
{
	char create[128], ci[256];

	if (harness_pg.pid == 0)
		return -ENOENT;
	snprintf(create, sizeof create, "CREATE DATABASE %s", db);
	if (pgfx_sql_quiet(&harness_pg, "postgres", create, "42P04") < 0)
		return -1;
	pgfx_conninfo(&harness_pg, db, ci, sizeof ci);
	snprintf(spec, size, "pg:%s", ci);
	return sql != NULL ? pgfx_sql(&harness_pg, db, sql) : 0;
}

int
evd_start_in(struct evd_proc *p, const char *const *extra)
{
	char notify_path[PATH_MAX], pg_spec[320];
	const char *argv[64];
	int64_t deadline;
	int argc = 0, i, logfd, pg;

	if (snprintf(p->sock, sizeof p->sock, "%s/evd.sock", p->dir) >=
	            (int)sizeof p->sock ||
	    snprintf(p->state, sizeof p->state, "%s/state", p->dir) >=
	            (int)sizeof p->state ||
	    snprintf(p->log, sizeof p->log, "%s/evd.log", p->dir) >=
	            (int)sizeof p->log)
		return -ENAMETOOLONG;
	unlink(p->log);
	p->notify_fd = notify_listen(p, notify_path);
	if (p->notify_fd < 0) {
		/* A previous run in the same dir left it: replace it. */
		unlink(notify_path);
		p->notify_fd = notify_listen(p, notify_path);
	}
	if (p->notify_fd < 0) {
		fprintf(stderr, "harness: notify socket: %s\n",
		        strerror(-p->notify_fd));
		return p->notify_fd;
	}
	/* EVD_VALGRIND=1: the daemon runs under memcheck; any error or a
	 * definite leak makes it exit 99, which evd_stop reports. */
	if (getenv("EVD_VALGRIND") != NULL &&
	    strcmp(getenv("EVD_VALGRIND"), "1") == 0) {
		argv[argc++] = "valgrind";
		argv[argc++] = "--quiet";
		argv[argc++] = "--error-exitcode=99";
		argv[argc++] = "--leak-check=full";
		argv[argc++] = "--errors-for-leak-kinds=definite";
		argv[argc++] = "--show-leak-kinds=definite";
		argv[argc++] = "--child-silent-after-fork=yes";
	}
	argv[argc++] = EVD_BIN;
	argv[argc++] = "--socket";
	argv[argc++] = p->sock;
	argv[argc++] = "--state-dir";
	argv[argc++] = p->state;
	/* EVD_TEST_THREADS=N: the whole suite against N event loops (an
	 * explicit --threads among extra comes later and wins). */
	if (getenv("EVD_TEST_THREADS") != NULL &&
	    *getenv("EVD_TEST_THREADS") != '\0') {
		argv[argc++] = "--threads";
		argv[argc++] = getenv("EVD_TEST_THREADS");
	}
	if ((pg = harness_pg_store(p, pg_spec, sizeof pg_spec)) < 0)
		return pg;
	if (pg) {
		argv[argc++] = "--store";
		argv[argc++] = pg_spec;
	}
	for (i = 0; extra != NULL && extra[i] != NULL && argc < 62; i++) {
		if (pg && strcmp(extra[i], "--store") == 0 &&
		    extra[i + 1] != NULL && strcmp(extra[i + 1], "sqlite") == 0) {
			i++;
			continue;
		}
		argv[argc++] = extra[i];
	}
	argv[argc] = NULL;

	logfd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	p->pid = fork();
	if (p->pid < 0)
		return -errno;
	if (p->pid > 0)
		harness_track(p->pid);
	if (p->pid == 0) {
		setenv("NOTIFY_SOCKET", notify_path, 1);
		if (logfd >= 0)
			dup2(logfd, STDERR_FILENO);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (logfd >= 0)
		close(logfd);

	/* Under valgrind start-up is much slower. */
	deadline = now_ms() + (strcmp(argv[0], EVD_BIN) == 0 ? 10000 : 60000);
	for (;;) {
		struct pollfd pfd = { p->notify_fd, POLLIN, 0 };
		char msg[4096];
		int status;
		ssize_t n;

		if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
			fprintf(stderr, "harness: evd exited before READY "
			        "(status %d); log in %s\n", status, p->log);
			p->status = status;
			p->pid = 0;
			return -ECHILD;
		}
		if (now_ms() > deadline) {
			fprintf(stderr, "harness: no READY=1 within 10 s\n");
			kill(p->pid, SIGKILL);
			waitpid(p->pid, NULL, 0);
			p->pid = 0;
			return -ETIMEDOUT;
		}
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		n = recv(p->notify_fd, msg, sizeof msg - 1, 0);
		if (n <= 0)
			continue;
		msg[n] = '\0';
		if (strncmp(msg, "READY=1", 7) == 0 || strstr(msg, "\nREADY=1"))
			return 0;
	}
}

int
evd_start(struct evd_proc *p, const char *const *extra)
{
	const char *tmp = getenv("TMPDIR");

	memset(p, 0, sizeof *p);
	snprintf(p->dir, sizeof p->dir, "%s/evd-test.XXXXXX",
	         tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(p->dir) == NULL)
		return -errno;
	return evd_start_in(p, extra);
}

int
evd_alive(struct evd_proc *p)
{
	int status;

	if (p->pid <= 0)
		return 0;
	if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
		p->pid = 0;
		return 0;
	}
	return 1;
}

int
evd_wait_exit(struct evd_proc *p)
{
	int64_t deadline = now_ms() + 10000;
	int status;

	if (p->pid <= 0)
		return -1;
	for (;;) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid)
			break;
		if (now_ms() > deadline)
			return -1;
		usleep(5000);
	}
	p->pid = 0;
	if (p->notify_fd > 0) {
		close(p->notify_fd);
		p->notify_fd = -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void
evd_kill9(struct evd_proc *p)
{
	if (p->notify_fd > 0) {
		close(p->notify_fd);
		p->notify_fd = -1;
	}
	if (p->pid <= 0)
		return;
	kill(p->pid, SIGKILL);
	waitpid(p->pid, NULL, 0);
	p->pid = 0;
}

int
evd_terminate(struct evd_proc *p)
{
	int64_t deadline = now_ms() + 10000;
	int status;

	if (p->notify_fd > 0) {
		close(p->notify_fd);
		p->notify_fd = -1;
	}
	if (p->pid <= 0)
		return -1;
	kill(p->pid, SIGTERM);
	for (;;) {
		pid_t r = waitpid(p->pid, &status, WNOHANG);

		if (r == p->pid)
			break;
		if (now_ms() > deadline) {
			fprintf(stderr, "harness: evd ignored SIGTERM\n");
			kill(p->pid, SIGKILL);
			waitpid(p->pid, &status, 0);
			p->pid = 0;
			return -1;
		}
		usleep(5000);
	}
	p->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

void
rm_rf(const char *path)
{
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
evd_stop(struct evd_proc *p)
{
	int r = evd_terminate(p);

	if (r != 0 && p->log[0] != '\0') {
		char cmd[PATH_MAX + 32];

		fprintf(stderr, "harness: evd exit status %d; its log:\n", r);
		snprintf(cmd, sizeof cmd, "cat '%s' >&2", p->log);
		if (system(cmd) != 0)
			fprintf(stderr, "harness: (log unreadable)\n");
	}
	rm_rf(p->dir);
	return r;
}

int
raw_connect(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

int
raw_write(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
raw_append_request(uint8_t **buf, size_t *len, size_t *cap,
                   const Evd__Request *rq)
{
	size_t n = evd__request__get_packed_size(rq);

	if (*len + n + 4 > *cap) {
		size_t ncap = (*cap == 0 ? 4096 : *cap * 2);
		uint8_t *p;

		while (ncap < *len + n + 4)
			ncap *= 2;
		if ((p = realloc(*buf, ncap)) == NULL)
			return -ENOMEM;
		*buf = p;
		*cap = ncap;
	}
	frame_put_header(*buf + *len, n);
	evd__request__pack(rq, *buf + *len + 4);
	*len += n + 4;
	return 0;
}

int
raw_send_request(int fd, const Evd__Request *rq)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int r;

	if ((r = raw_append_request(&buf, &len, &cap, rq)) == 0)
		r = raw_write(fd, buf, len);
	free(buf);
	return r;
}

static int
read_full(int fd, uint8_t *p, size_t len, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	while (len > 0) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -ETIMEDOUT;
		n = read(fd, p, len);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

Evd__Reply *
raw_recv_reply(int fd, int timeout_ms)
{
	uint8_t hdr[4], *body;
	Evd__Reply *r;
	uint32_t n;

	if (read_full(fd, hdr, 4, timeout_ms) < 0)
		return NULL;
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | hdr[3];
	if (n == 0 || n > 64u * 1024 * 1024 || (body = malloc(n)) == NULL)
		return NULL;
	if (read_full(fd, body, n, timeout_ms) < 0) {
		free(body);
		return NULL;
	}
	r = evd__reply__unpack(NULL, n, body);
	free(body);
	return r;
}

int
raw_wait_eof(int fd, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint8_t buf[4096];

	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int64_t left = deadline - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return 0;
		n = read(fd, buf, sizeof buf);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return 1;
	}
}

int
raw_hello(int fd, uint64_t request_id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Hello h = EVD__HELLO__INIT;
	Evd__Reply *r;
	int ok;

	h.has_protocol_version = 1;
	h.protocol_version = 1;
	h.client_name = "harness";
	rq.has_request_id = 1;
	rq.request_id = request_id;
	rq.body_case = EVD__REQUEST__BODY_HELLO;
	rq.hello = &h;
	if (raw_send_request(fd, &rq) < 0)
		return -1;
	r = raw_recv_reply(fd, 5000);
	ok = r != NULL && r->body_case == EVD__REPLY__BODY_WELCOME &&
	     r->request_id == request_id;
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	return ok ? 0 : -1;
}

Evd__Reply *
raw_call(int fd, const Evd__Request *rq, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	Evd__Reply *r;

	if (raw_send_request(fd, rq) < 0)
		return NULL;
	for (;;) {
		int64_t left = deadline - now_ms();

		if (left <= 0 || (r = raw_recv_reply(fd, (int)left)) == NULL)
			return NULL;
		if (r->has_request_id && r->request_id == rq->request_id)
			return r;
		evd__reply__free_unpacked(r, NULL);
	}
}

Evd__Reply *
raw_wait_exec(int fd, uint64_t request_id, uint64_t timer_id, int timeout_ms)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Wait w = EVD__WAIT__INIT;
	Evd__Reply *r;

	w.has_timer_id = 1;
	w.timer_id = timer_id;
	rq.has_request_id = 1;
	rq.request_id = request_id;
	rq.body_case = EVD__REQUEST__BODY_WAIT;
	rq.wait = &w;
	r = raw_call(fd, &rq, timeout_ms);
	if (r == NULL || r->body_case != EVD__REPLY__BODY_WAITING) {
		if (r != NULL)
			evd__reply__free_unpacked(r, NULL);
		return NULL;
	}
	evd__reply__free_unpacked(r, NULL);
	while ((r = raw_recv_reply(fd, timeout_ms)) != NULL) {
		if (r->body_case == EVD__REPLY__BODY_EXEC_FINISHED &&
		    r->exec_finished->timer_id == timer_id)
			return r;
		evd__reply__free_unpacked(r, NULL);
	}
	return NULL;
}

Evd__Reply *
raw_next_fired(int fd, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	Evd__Reply *r;

	for (;;) {
		int64_t left = deadline - now_ms();

		if (left <= 0 || (r = raw_recv_reply(fd, (int)left)) == NULL)
			return NULL;
		if (r->body_case == EVD__REPLY__BODY_FIRED)
			return r;
		evd__reply__free_unpacked(r, NULL);
	}
}

int
run_as(uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups,
       int (*fn)(void))
{
	int status;
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		if (setgroups(ngroups, groups) < 0 || setgid(gid) < 0 ||
		    setuid(uid) < 0)
			_exit(99);
		_exit(fn());
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}
