/*
 * exec: the exec-hook runner. Queues a timer's hook, has a backend
 * (exec_backend.h: the spawner process, or a systemd unit) start it as the
 * timer's owner, feeds it the payload, captures the tail of its output,
 * enforces its timeout and reports how it ended, without ever blocking
 * the loop or waiting for a process a user controls.
 *
 * One runner per process, on one event_base (the daemon's loop); not
 * thread-safe: every function is called from the loop's thread.
 *
 * What a hook gets (spawner backend; see spawner.c for the why):
 *   - identity resolved at fire time, in the child (never on the loop):
 *     with a user name, that name must still map to uid ("user NAME no
 *     longer has uid N" otherwise); without one, uid must have a passwd
 *     entry when evd is root. Then the entry's current primary group and
 *     supplementary groups (getgrouplist), setresgid, setresuid. When evd
 *     is not root, only its own uid and gid are accepted and nothing is
 *     changed;
 *   - an environment made only of PATH=/usr/local/bin:/usr/bin:/bin,
 *     HOME, USER, LOGNAME, SHELL (from the passwd entry), EVD_TIMER_ID,
 *     EVD_FIRE_ID, EVD_DUE_NS, EVD_LATENESS_NS, EVD_SOCKET (the socket of
 *     this evd), evd's own LANG and TZ when set, and the spec's "K=V"
 *     entries (which may replace PATH, HOME, LANG, ... but not EVD_*);
 *   - stdin: the payload through a pipe (or /dev/null when empty);
 *     stdout/stderr: pipes of which the last EXEC_TAIL_MAX bytes are kept;
 *     no other fd;
 *   - a new session (it leads its process group: timeouts signal the
 *     whole group), every signal at its default disposition and unblocked,
 *     umask 022, RLIMIT_CORE soft 0, RLIMIT_NOFILE soft min(evd's, 1024),
 *     the Nice= property; other limits inherited from evd;
 *   - cwd: the spec's, else the owner's home if it can enter it, else /;
 *   - at most SPAWNER_DEADLINE_NS (5 s) from creation to execve, else it
 *     is SIGKILLed and the run fails ("did not start within 5 s").
 *
 * Queues are per uid (max_queued each, round robin between uids,
 * max_per_uid running at once); see exec.c.
 *
 * A result is delivered once the process has been reaped and its stdout
 * and stderr reached EOF, or EXEC_DRAIN_NS after the reap if a grandchild
 * still holds them (they are closed then). Grandchildren that outlive the
 * hook are left alone, except after a timeout or exec_terminate (the
 * group is SIGKILLed before the leader is reaped) and at exec_shutdown; a
 * grandchild that left the process group escapes all of these.
 */
#ifndef EVD_EXEC_H
#define EVD_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct exec_backend;

/* Bytes kept of each of stdout and stderr: the last ones. */
#define EXEC_TAIL_MAX (64 * 1024)
/* From SIGTERM (timeout) to SIGKILL of the process group. */
#define EXEC_GRACE_NS (INT64_C(5) * 1000000000)
/* After the reap, how long a grandchild may keep stdout/stderr open. */
#define EXEC_DRAIN_NS (INT64_C(100) * 1000000)
/* Bound on argv + env + cwd bytes of one spec (execve's own is ~2 MiB). */
#define EXEC_ARGS_MAX (256 * 1024)
/* The fixed search path for a bare program name, and the child's PATH. */
#define EXEC_PATH "/usr/local/bin:/usr/bin:/bin"

/* A job as submitted. Everything is borrowed: exec_submit copies it. */
struct exec_spec {
	uid_t uid; /* run as this owner */
	gid_t gid;
	/* argv[0] is an absolute path or a bare name looked up in EXEC_PATH.
	 * With shell, argc == 1 and argv[0] is the command for /bin/sh -c. */
	const char *const *argv;
	size_t argc;
	bool shell;
	const char *const *env; /* extra "K=V" entries; K not EVD_* */
	size_t nenv;
	const char *cwd;    /* NULL: the owner's home if possible, else / */
	int64_t timeout_ns; /* 0: none; else SIGTERM, EXEC_GRACE_NS, SIGKILL */
	const uint8_t *stdin_data; /* the payload */
	size_t stdin_len;
	/* Exported as EVD_TIMER_ID, EVD_FIRE_ID, EVD_DUE_NS, EVD_LATENESS_NS */
	uint64_t timer_id;
	uint64_t fire_id;
	int64_t due_ns;
	int64_t lateness_ns;
	/* The owner's name when scheduled (NULL: none): at fire time it must
	 * still name uid, else the run fails saying why. */
	const char *user;
	/* "Key=Value" job properties, validated at schedule time against
	 * exec_honours(); passed to the backend as they are. */
	const char *const *props;
	size_t nprops;
};

enum exec_outcome {
	EXEC_EXITED,	/* code: exit status */
	EXEC_SIGNALED,	/* code: the signal */
	EXEC_TIMED_OUT, /* past its timeout; code: the signal, or the exit status
			 * if it exited by itself after SIGTERM */
	EXEC_FAILED,	/* did not run: code is a negative errno, errmsg why */
	EXEC_LOST,	/* never ran: the store lost the batch of the fire that
			 * queued it (exec_batch_end), or its gate refused it
			 * (exec_set_gate); it fires again */
};

/* Borrowed by the done callback for the duration of the call only. */
struct exec_result {
	enum exec_outcome outcome;
	int code;
	int64_t duration_ns;  /* spawn to reap (CLOCK_MONOTONIC); 0 if FAILED */
	int64_t submitted_ns; /* CLOCK_MONOTONIC at exec_submit */
	int64_t handed_ns;    /* CLOCK_MONOTONIC when the queue handed it to
	                       * the backend (FIFO per uid); 0 if never */
	int64_t started_ns;   /* CLOCK_MONOTONIC once execve succeeded */
	const char *out;      /* last EXEC_TAIL_MAX bytes of stdout; may be */
	size_t out_len;	      /* NULL when out_len is 0; not NUL-terminated */
	const char *err;      /* same for stderr */
	size_t err_len;
	const char *errmsg; /* FAILED: "step: strerror"; else NULL */
	pid_t pid;	    /* 0 when it never started */
	/* Bytes of the payload the child took before it closed stdin or
	 * exited (a hook may legitimately ignore its payload). */
	size_t stdin_written;
};

/* Called exactly once per accepted job, from the loop, never from inside
 * exec_submit. May call exec_submit: a job it submits starts after it
 * returns. */
typedef void (*exec_done_cb)(const struct exec_result *r, void *arg);

/* Sets the runner up on base: at most max_running processes at once (0 is
 * taken as 1), at most max_queued jobs of each uid waiting beyond them.
 * Starts the backend (the spawner process on first use, if main did not
 * start it already). Also ignores
 * SIGPIPE if it is at its default (a hook closing stdin must not kill evd)
 * and opens /dev/null on any of fds 0-2 that is closed (so that pipes
 * never land there). SIGCHLD must not be ignored (that would auto-reap).
 * Returns 0, -EALREADY, -ENOMEM, or a negative errno from the system. */
int exec_init(struct event_base *base, unsigned max_running, size_t max_queued);

/* New limits at runtime. Lowering max_running kills nothing: jobs above
 * the new bound finish and no new one starts until below it. Queued jobs
 * beyond a lowered max_queued stay queued. */
void exec_set_limits(unsigned max_running, size_t max_queued);

/* At most max_per_uid hooks of one owner run at once (0: no bound; root
 * is never bound, but takes its turn in the round robin); its further
 * jobs wait in its queue while others' start. */
void exec_set_uid_limit(unsigned max_per_uid);

/* The SIGTERM-to-SIGKILL delay (default EXEC_GRACE_NS); for tests and
 * configuration. Applies to timeouts that fire afterwards. */
void exec_set_grace_ns(int64_t grace_ns);

/* Queues a job (FIFO per uid, round robin between uids); it starts on a later loop turn once fewer than
 * max_running run. cb(r, arg) is called exactly once if and only if this
 * returns 0. Returns 0, -EINVAL (bad spec: empty argv, NULL entries, a
 * relative program path with '/', shell with argc != 1, env entry not
 * "K=V" or naming EVD_* or twice, negative timeout, not initialised),
 * -E2BIG (more than EXEC_ARGS_MAX bytes of argv/env/cwd), -EAGAIN (the
 * uid's queue is full: max_queued beyond the slots it could take now; or
 * the global bound), -ENOMEM, -ESHUTDOWN
 * (from a callback run by exec_shutdown); -EINVAL too when not
 * initialised. Failures to start (unknown owner, not root,
 * ENOENT, setuid refused, did not exec in time, ...) are reported
 * through cb as EXEC_FAILED. */
int exec_submit(const struct exec_spec *s, exec_done_cb cb, void *arg);

/* Ends the job of fire_id: a running one gets SIGTERM on its process
 * group and SIGKILL after the grace period; a queued one is delivered as
 * EXEC_FAILED (ECANCELED) without starting. Its callback runs later, as
 * usual. Returns 0, -EALREADY (already being killed or reaped) or
 * -ENOENT. */
int exec_terminate(uint64_t fire_id);
/* Before exec_init: the backend to use (default exec_backend_spawner).
 * exec_init calls its ->init and fails with its error. */
void exec_set_backend(const struct exec_backend *be);
/* EXEC_HONOURS_* (exec_backend.h) of the backend in use (of the default
 * one before exec_init): what --property values can be honoured. */
unsigned exec_honours(void);
/* "spawner" or "systemd". */
const char *exec_backend_name(void);
/* The socket this evd listens on, exported to hooks as EVD_SOCKET
 * (NULL: none). Returns 0 or -ENOMEM. */
int exec_set_socket_path(const char *path);
/* Jobs whose process runs or whose result is not delivered yet. */
size_t exec_running(void);
/* True if the global queue bound (a memory bound, 8 x max_queued) is
 * reached: no exec_submit of anyone would succeed. */
bool exec_full(void);
/* True if exec_submit of a job of uid would answer -EAGAIN now (that
 * uid's queue, or the global bound, is full). */
bool exec_full_uid(uid_t uid);
/* Jobs accepted and not started yet: of everyone, of one uid. */
size_t exec_queued(void);
size_t exec_queued_uid(uid_t uid);
/* Running jobs of one owner (for per-uid concurrency quotas). */
size_t exec_running_uid(uid_t uid);

/*
 * Durability of what a start depends on (batch.h): a job is queued by a
 * fire whose store rows are committed at the end of that loop turn and
 * made durable by a flush later. exec_hold(gen) says that jobs queued so
 * far may start only once flush generation gen ended; exec_release(gen)
 * says it did. Without them (no flushing store) jobs start on the turn
 * after the one that queued them. Loop thread of exec_init.
 */
void exec_hold(uint64_t gen);
void exec_release(uint64_t gen);
/* Asked (loop thread) before a queued job starts: false, and the job is
 * delivered EXEC_LOST without running (cluster mode: its claim may be
 * another node's by now). NULL: every job may start. */
void exec_set_gate(bool (*may_start)(uint64_t timer_id));
/*
 * The loop iteration ended (call once per iteration, like
 * conn_batch_end). lost > 0: the store lost the batches of the last lost
 * iterations, this one included (batch_lost()), and the jobs they queued,
 * still waiting for their flush, are delivered EXEC_LOST instead of
 * running: their fires never happened, and memory, rebuilt from the
 * store, fires them again.
 */
void exec_batch_end(uint64_t lost);

/* SIGKILLs every running process group, reaps every child (blocking, but
 * SIGKILLed processes die at once; running ones are reported as killed
 * by SIGKILL), closes everything, and delivers every
 * job not delivered yet: running ones with how they ended, queued ones as
 * EXEC_FAILED "daemon stopping". Callbacks run from inside this call;
 * exec_submit from them returns -ESHUTDOWN. Leaves no zombie. Then
 * exec_init may be called again. Safe to call when not initialised. */
void exec_shutdown(void);

#endif
