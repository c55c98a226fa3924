/*
 * harness: starts the real evd for integration tests and talks raw
 * protocol to it.
 *
 * evd_start() runs the built daemon in a fresh temporary directory (its
 * socket and state dir live there) with NOTIFY_SOCKET pointing at a
 * datagram socket of ours, and returns once evd sent READY=1: no sleeps.
 * evd_stop() sends SIGTERM to that pid, reaps it and removes the
 * directory. The raw_* helpers frame and parse messages by hand so tests
 * can send what no well-behaved client would.
 */
#ifndef EVD_HARNESS_H
#define EVD_HARNESS_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "evd.pb-c.h"

struct evd_proc {
	pid_t pid;
	char dir[PATH_MAX];
	char sock[PATH_MAX];
	char state[PATH_MAX];
	char log[PATH_MAX];
	int notify_fd;
	int status;   /* wait status of an evd that exited before READY */
};

/* Starts evd with extra arguments (NULL-terminated, may be NULL).
 * Returns 0 or -errno; on failure prints why to stderr. -ECHILD: evd
 * exited before READY=1, with p->status (its log is in p->log). */
int evd_start(struct evd_proc *p, const char *const *extra);
/* Like evd_start, but in an existing directory p->dir (set by caller). */
int evd_start_in(struct evd_proc *p, const char *const *extra);
/* SIGTERM, reap (10 s bound), and return the exit status (or -1 if it did
 * not exit normally). Leaves the directory. */
int evd_terminate(struct evd_proc *p);
/* evd_terminate plus removing the directory. */
int evd_stop(struct evd_proc *p);
/* Waits (10 s bound) for a daemon told to stop by other means; returns
 * its exit status, or -1 if it did not exit normally in time. */
int evd_wait_exit(struct evd_proc *p);
/* SIGKILL, as a crash: no shutdown of any kind. Reaps it. */
void evd_kill9(struct evd_proc *p);
/* Whether the daemon is still running. */
int evd_alive(struct evd_proc *p);

int raw_connect(const char *path);
/* Writes all of buf. Returns 0 or -errno. */
int raw_write(int fd, const void *buf, size_t len);
/* Appends one framed request to a buffer (grows it). */
int raw_append_request(uint8_t **buf, size_t *len, size_t *cap,
                       const Evd__Request *rq);
int raw_send_request(int fd, const Evd__Request *rq);
/* Reads one frame and unpacks it; NULL on EOF, error or timeout. */
Evd__Reply *raw_recv_reply(int fd, int timeout_ms);
/* True if the peer closed (EOF) within timeout_ms; reads and discards any
 * frames before the EOF. */
int raw_wait_eof(int fd, int timeout_ms);
/* Sends Hello and checks the Welcome. Returns 0 or -1. */
int raw_hello(int fd, uint64_t request_id);

/* With EVD_TEST_STORE=pg, after an evd started: runs sql on the test
 * server's database postgres (0, or -1 with the server's message on
 * stderr); -ENOENT without the pg store. */
int harness_pg_sql(const char *sql);
/* The same on database db (created if missing), and its store spec
 * ("pg:CONNINFO") in spec. */
int harness_pg_sql_in(const char *db, const char *sql, char *spec,
                      size_t size);

/* Removes a directory tree (tests' temporary dirs). */
void rm_rf(const char *path);

/* Runs fn in a child that dropped to uid and gid with the supplementary
 * groups given (ngroups 0: none), as a second local user would connect.
 * Returns fn's return value as the child's exit status (99: the switch
 * failed), or -1 if the child could not start or did not exit. */
int run_as(uid_t uid, gid_t gid, const gid_t *groups, size_t ngroups,
           int (*fn)(void));



/* Sends rq and returns the reply carrying its request id, dropping any
 * events that arrive before it. NULL on EOF or after timeout_ms. */
Evd__Reply *raw_call(int fd, const Evd__Request *rq, int timeout_ms);
/* The next Fired event on fd within timeout_ms (replies before it are
 * dropped), or NULL. */
Evd__Reply *raw_next_fired(int fd, int timeout_ms);
/* Sends Wait{timer_id} (as request_id) and returns the timer's next
 * ExecFinished event, dropping other events; NULL if the reply is not
 * Waiting, on EOF, or when timeout_ms pass between two frames. */
Evd__Reply *raw_wait_exec(int fd, uint64_t request_id, uint64_t timer_id,
                          int timeout_ms);
#endif
