/*
 * pgfixture: a throwaway PostgreSQL server for tests.
 *
 * pgfx_start() initdb's a cluster in a fresh temporary directory and
 * starts `postgres` from /usr/lib/postgresql/<version>/bin on 127.0.0.1 at
 * a free port (fsync on, its Unix socket in the same directory), waits
 * until it accepts connections, and fills conninfo (superuser evd,
 * database postgres). As root, initdb and postgres (which refuse root)
 * run as the postgres user the package creates (else nobody), and the
 * directory is theirs; nothing from the build tree is needed.
 * EVD_TEST_PG_CONF="name=value ..." adds settings (postgres -c, after
 * the fixture's own: e.g. a benchmark's shared_buffers).
 * pgfx_stop() stops the server by its pid (SIGINT, a fast shutdown;
 * SIGKILL after 10 s), reaps it and removes the directory.
 *
 * Not thread-safe; one fixture per process is the intended use.
 */
#ifndef EVD_PGFIXTURE_H
#define EVD_PGFIXTURE_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

struct pgfx {
	pid_t pid;              /* the postmaster; 0 when not running */
	pid_t owner;            /* the process that started it */
	int port;
	char dir[64];
	char conninfo[256];     /* to the database postgres */
};

/* 0 when running; 77 when PostgreSQL is not installed (why says so;
 * EVD_REQUIRE_PG=1 turns that into a failure); -1 on failure, why set. */
int pgfx_start(struct pgfx *fx, char *why, size_t whysize);

/* A conninfo for database db of fx's server. */
void pgfx_conninfo(const struct pgfx *fx, const char *db, char *buf,
                   size_t size);

/* Runs sql on database db; 0, or -1 with the server's message on
 * stderr. */
int pgfx_sql(const struct pgfx *fx, const char *db, const char *sql);

/* pgfx_sql, where an error with SQLSTATE ok_state (e.g. "42P04", a
 * database that exists) counts as success and is not printed. */
int pgfx_sql_quiet(const struct pgfx *fx, const char *db, const char *sql,
                   const char *ok_state);

void pgfx_stop(struct pgfx *fx);

/* The server crashes as a power cut would: pg_ctl stop -m immediate
 * (SIGQUIT to the postmaster: no checkpoint, crash recovery at the next
 * start), and the postmaster reaped. 0, or -1 with why. */
int pgfx_crash(struct pgfx *fx, char *why, size_t whysize);
/* Starts the crashed server again on the same data and port (the same
 * conninfo) and waits until it accepts connections: 0, or -1 with why
 * (the port may have been taken meanwhile). */
int pgfx_restart(struct pgfx *fx, char *why, size_t whysize);

#endif
