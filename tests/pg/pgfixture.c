/*
 * pgfixture: a throwaway PostgreSQL server for tests (see pgfixture.h).
 *
 * Owns the server process (started by fork + exec, stopped by its pid)
 * and the temporary directory. Children that drop to the postgres user
 * do so before exec, in the child only.
 */
#include "pgfixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

static void __attribute__((format(printf, 3, 4)))
pgfx_why(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
}

/* The newest installed server's bin directory. */
static int
pgfx_bindir(char *buf, size_t size)
{
	DIR *d = opendir("/usr/lib/postgresql");
	struct dirent *e;
	int best = 0;
	char path[PATH_MAX];

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		int v = atoi(e->d_name);

		snprintf(path, sizeof(path), "/usr/lib/postgresql/%s/bin/postgres",
		         e->d_name);
		if (v > best && access(path, X_OK) == 0)
			best = v;
	}
	closedir(d);
	if (best == 0)
		return -1;
	snprintf(buf, size, "/usr/lib/postgresql/%d/bin", best);
	return 0;
}

/* Forks a child that becomes uid/gid (when root) and runs argv with
 * output to log; its pid, or -1. */
static pid_t
pgfx_spawn(const char *dir, uid_t uid, gid_t gid, const char *log,
           char *const argv[])
{
	pid_t parent = getpid(), pid = fork();
	int fd;

	if (pid != 0)
		return pid;
	if (chdir(dir) < 0)
		_exit(126);
	if (geteuid() == 0 &&
	    (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0))
		_exit(126);
	/* A test killed outright (a ctest timeout) takes its server with
	 * it: SIGINT is a fast shutdown. Set after setuid, which clears
	 * it; a parent already gone is checked after. */
	if (prctl(PR_SET_PDEATHSIG, SIGINT) < 0 || getppid() != parent)
		_exit(126);
	if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	/* The server makes its own process group: a test's SIGINT to
	 * its group must not stop it behind our back. */
	setsid();
	execv(argv[0], argv);
	_exit(127);
}

static int
pgfx_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int
pgfx_rm_cb(const char *path, const struct stat *st, int flag,
           struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void
pgfx_conninfo(const struct pgfx *fx, const char *db, char *buf, size_t size)
{
	snprintf(buf, size, "host=127.0.0.1 port=%d user=evd dbname=%s",
	         fx->port, db);
}

int
pgfx_sql(const struct pgfx *fx, const char *db, const char *sql)
{
	return pgfx_sql_quiet(fx, db, sql, NULL);
}

int
pgfx_sql_quiet(const struct pgfx *fx, const char *db, const char *sql,
               const char *ok_state)
{
	char ci[256];
	PGconn *c;
	PGresult *res;
	int r = 0;

	pgfx_conninfo(fx, db, ci, sizeof(ci));
	c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pgfixture: %s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	/* DROP ... CASCADE lists what it dropped: noise in a test log. */
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	res = PQexec(c, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK &&
	    !(ok_state != NULL &&
	      PQresultErrorField(res, PG_DIAG_SQLSTATE) != NULL &&
	      strcmp(PQresultErrorField(res, PG_DIAG_SQLSTATE), ok_state) ==
	          0)) {
		fprintf(stderr, "pgfixture: %s: %s", sql,
		        PQresultErrorMessage(res));
		r = -1;
	}
	PQclear(res);
	PQfinish(c);
	return r;
}

/* The user the server runs as when we are root: postgres, else
 * nobody. */
static void
pgfx_user(uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam("postgres");

	*uid = pw != NULL ? pw->pw_uid : 65534;
	*gid = pw != NULL ? pw->pw_gid : 65534;
}

/*
 * Starts postgres on fx's directory and port and waits (30 s at most)
 * until it accepts connections: 0; 1 when it exited or did not answer
 * (fx->pid 0 when it exited); -1 when it could not be started at all.
 * why says why unless 0.
 */
/* EVD_TEST_PG_CONF ("name=value ...", at most PGFX_CONF_MAX, for the
 * benchmarks: e.g. a production-like shared_buffers) as "-c" options
 * after argv's own (up to its NULL), which they override; the strings
 * go into buf. */
#define PGFX_CONF_MAX 16
static void
pgfx_conf(char **argv, char *buf, size_t size)
{
	const char *env = getenv("EVD_TEST_PG_CONF");
	char *tok, *save;
	int k = 0, n = 0;

	while (argv[n] != NULL)
		n++;
	if (env == NULL || (size_t)snprintf(buf, size, "%s", env) >= size)
		return;
	for (tok = strtok_r(buf, " \t", &save);
	     tok != NULL && k < PGFX_CONF_MAX;
	     tok = strtok_r(NULL, " \t", &save), k++) {
		argv[n++] = "-c";
		argv[n++] = tok;
	}
	argv[n] = NULL;
}

static int
pgfx_launch(struct pgfx *fx, char *why, size_t whysize)
{
	char bin[PATH_MAX - 32], postgres[PATH_MAX], data[PATH_MAX];
	char log[PATH_MAX], port[16];
	uid_t uid;
	gid_t gid;
	int status, i;

	if (pgfx_bindir(bin, sizeof(bin)) < 0) {
		pgfx_why(why, whysize, "PostgreSQL is not installed");
		return -1;
	}
	pgfx_user(&uid, &gid);
	snprintf(postgres, sizeof(postgres), "%s/postgres", bin);
	snprintf(data, sizeof(data), "%s/data", fx->dir);
	snprintf(log, sizeof(log), "%s/log", fx->dir);
	snprintf(port, sizeof(port), "%d", fx->port);
	{
		char *argv[16 + 2 * PGFX_CONF_MAX + 1] = {
			postgres, "-D", data, "-k", fx->dir,
			"-c", "listen_addresses=127.0.0.1",
			"-p", port, "-c", "fsync=on",
			"-c", "shared_buffers=16MB",
			"-c", "max_connections=50",
			/* The WAL writer leaves asynchronous commits
			 * unflushed for a while, so a test sees whether a
			 * flush made them durable rather than it. */
			"-c", "wal_writer_delay=10000ms", NULL
		};
		char conf[1024];

		pgfx_conf(argv, conf, sizeof(conf));
		fx->pid = pgfx_spawn(fx->dir, uid, gid, log, argv);
	}
	if (fx->pid < 0) {
		fx->pid = 0;
		pgfx_why(why, whysize, "fork: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < 300; i++) {
		struct timespec ts = { 0, 100000000 };

		if (PQping(fx->conninfo) == PQPING_OK)
			return 0;
		if (waitpid(fx->pid, &status, WNOHANG) == fx->pid) {
			fx->pid = 0;
			break;
		}
		nanosleep(&ts, NULL);
	}
	pgfx_why(why, whysize, "postgres did not accept connections "
	         "within 30 s (see %s)", log);
	return 1;
}

/* waitpid(pid, status, 0), again when a signal interrupts it. */
static pid_t
pgfx_wait(pid_t pid, int *status)
{
	pid_t r;

	while ((r = waitpid(pid, status, 0)) < 0 && errno == EINTR)
		;
	return r;
}

int
pgfx_crash(struct pgfx *fx, char *why, size_t whysize)
{
	char bin[PATH_MAX - 32], pg_ctl[PATH_MAX], data[PATH_MAX];
	char log[PATH_MAX];
	uid_t uid;
	gid_t gid;
	int status;
	pid_t pid;

	if (fx->pid <= 0) {
		pgfx_why(why, whysize, "the server is not running");
		return -1;
	}
	if (pgfx_bindir(bin, sizeof(bin)) < 0) {
		pgfx_why(why, whysize, "PostgreSQL is not installed");
		return -1;
	}
	pgfx_user(&uid, &gid);
	snprintf(pg_ctl, sizeof(pg_ctl), "%s/pg_ctl", bin);
	snprintf(data, sizeof(data), "%s/data", fx->dir);
	snprintf(log, sizeof(log), "%s/log", fx->dir);
	{
		char *const argv[] = { pg_ctl, "stop", "-D", data, "-m",
			               "immediate", "-w", "-t", "30", NULL };

		pid = pgfx_spawn(fx->dir, uid, gid, log, argv);
	}
	/* with_pg's fault signals interrupt the waits (no SA_RESTART). */
	if (pid < 0 || pgfx_wait(pid, &status) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		pgfx_why(why, whysize, "pg_ctl stop -m immediate failed (see "
		         "%s)", log);
		return -1;
	}
	/* pg_ctl waited for it to go; it was our child: reap it. */
	if (pgfx_wait(fx->pid, &status) != fx->pid) {
		pgfx_why(why, whysize, "waitpid: %s", strerror(errno));
		return -1;
	}
	fx->pid = 0;
	return 0;
}

int
pgfx_restart(struct pgfx *fx, char *why, size_t whysize)
{
	if (fx->pid > 0) {
		pgfx_why(why, whysize, "the server is running");
		return -1;
	}
	return pgfx_launch(fx, why, whysize) == 0 ? 0 : -1;
}

int
pgfx_start(struct pgfx *fx, char *why, size_t whysize)
{
	const char *req = getenv("EVD_REQUIRE_PG");
	char bin[PATH_MAX - 32], initdb[PATH_MAX];
	char data[PATH_MAX], log[PATH_MAX];
	uid_t uid;
	gid_t gid;
	int status, attempt, r;
	pid_t pid;

	memset(fx, 0, sizeof(*fx));
	if (pgfx_bindir(bin, sizeof(bin)) < 0) {
		pgfx_why(why, whysize, "PostgreSQL is not installed (no "
		         "/usr/lib/postgresql/*/bin/postgres; apt-get install "
		         "postgresql)");
		return req != NULL && strcmp(req, "1") == 0 ? -1 : 77;
	}
	pgfx_user(&uid, &gid);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/evd-pg.XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		pgfx_why(why, whysize, "mkdtemp: %s", strerror(errno));
		return -1;
	}
	if (geteuid() == 0 && chown(fx->dir, uid, gid) < 0) {
		pgfx_why(why, whysize, "chown %s: %s", fx->dir,
		         strerror(errno));
		goto fail;
	}
	snprintf(initdb, sizeof(initdb), "%s/initdb", bin);
	snprintf(data, sizeof(data), "%s/data", fx->dir);
	snprintf(log, sizeof(log), "%s/log", fx->dir);
	{
		char *const argv[] = { initdb, "-D", data, "-U", "evd",
			               "-A", "trust", "-E", "UTF8",
			               "--locale=C", "-N", NULL };

		pid = pgfx_spawn(fx->dir, uid, gid, log, argv);
		if (pid < 0 || waitpid(pid, &status, 0) != pid ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			pgfx_why(why, whysize, "initdb failed (see %s)", log);
			goto fail_keep;
		}
	}
	/* The free port may be taken before postgres binds it (another
	 * test's server): a few tries. */
	for (attempt = 0; attempt < 3; attempt++) {
		fx->port = pgfx_free_port();
		fx->owner = getpid();
		pgfx_conninfo(fx, "postgres", fx->conninfo,
		              sizeof(fx->conninfo));
		if ((r = pgfx_launch(fx, why, whysize)) == 0)
			return 0;
		if (r == -1)
			goto fail;
		if (fx->pid != 0)
			break; /* running, but not answering */
	}
	if (fx->pid == 0) {
		pgfx_why(why, whysize, "postgres exited at start-up (see %s)",
		         log);
		goto fail_keep;
	}
	pgfx_why(why, whysize, "postgres did not accept connections within "
	         "30 s (see %s)", log);
	pgfx_stop(fx);
	return -1;
fail_keep:
	/* The log says why: left for the reader, the rest removed. */
	{
		char cmd[PATH_MAX + 32];

		snprintf(cmd, sizeof(cmd), "%s/data", fx->dir);
		nftw(cmd, pgfx_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
		{
			FILE *f = fopen(log, "r");
			char line[512];

			while (f != NULL && fgets(line, sizeof(line), f))
				fprintf(stderr, "pgfixture log: %s", line);
			if (f != NULL)
				fclose(f);
		}
	}
fail:
	nftw(fx->dir, pgfx_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	fx->dir[0] = '\0';
	return -1;
}

void
pgfx_stop(struct pgfx *fx)
{
	int status, i;

	if (fx->owner != 0 && fx->owner != getpid())
		return; /* a forked child: the server is its parent's */
	if (fx->pid > 0) {
		kill(fx->pid, SIGINT);
		for (i = 0; i < 100; i++) {
			struct timespec ts = { 0, 100000000 };

			if (waitpid(fx->pid, &status, WNOHANG) == fx->pid)
				break;
			nanosleep(&ts, NULL);
		}
		if (i == 100) {
			kill(fx->pid, SIGKILL);
			waitpid(fx->pid, &status, 0);
		}
		fx->pid = 0;
	}
	if (fx->dir[0] != '\0')
		nftw(fx->dir, pgfx_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	fx->dir[0] = '\0';
}
