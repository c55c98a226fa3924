/*
 * exec_backend: how the exec runner (exec.c) starts and stops a hook's
 * processes. Two backends, chosen once at start-up (config "hooks"):
 *
 *   exec_spawner.c  a privilege-separated spawner process (spawner.h),
 *                   forked before any thread: it creates each child
 *                   without suspending the loop or itself, resolves the
 *                   owner (NSS) inside the child, drops to the owner and
 *                   kills a child that has not exec'd in time;
 *   exec_systemd.c  a transient service unit per run, started over sd-bus
 *                   (StartTransientUnit, as systemd-run), entirely
 *                   asynchronous on the loop.
 *
 * The runner owns everything generic: the per-uid fair queue, the pipes
 * (it creates stdin/stdout/stderr and keeps the parent ends), the output
 * tails, the timeout clock (SIGTERM, grace, SIGKILL through ->kill), and
 * the result. A backend owns only the process tree of each run and reports
 * back through the three exec_backend_* functions below, always from a
 * later loop callback, never from inside ->start or ->kill.
 *
 * Thread-safety: loop 0's thread only, like exec.h.
 */
#ifndef EVD_EXEC_BACKEND_H
#define EVD_EXEC_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "exec.h"

struct event_base;

/* What ->honours says a backend can apply of a job's properties. */
#define EXEC_HONOURS_NICE (1u << 0)    /* Nice= */
#define EXEC_HONOURS_CGROUP (1u << 1)  /* MemoryMax=, TasksMax=, CPUQuota=, IOWeight= */
#define EXEC_HONOURS_SANDBOX (1u << 2) /* ProtectSystem=, ProtectHome=, PrivateTmp=, PrivateNetwork=, ReadWritePaths= */

/* One run to start. Everything is borrowed for the duration of ->start. */
struct exec_launch {
	uint64_t job_id; /* the runner's, unique for the process lifetime */
	uint64_t timer_id;
	uint64_t fire_id;
	uid_t uid; /* the owner */
	gid_t gid; /* its gid when scheduled; the primary group used is the
	            * passwd entry's at fire time when there is one */
	const char *user; /* the owner's name when scheduled, or NULL */
	bool set_ids;     /* evd is root: become uid (else run as evd) */
	const char *prog; /* absolute path, or a bare name for EXEC_PATH */
	char *const *argv; /* NULL-terminated */
	/* The environment the runner composed: EVD_* and the spec's "K=V"
	 * entries, NULL-terminated. The backend adds HOME, USER, LOGNAME
	 * and SHELL from the owner's passwd entry unless already present,
	 * and PATH=EXEC_PATH unless present. */
	char *const *envp;
	const char *cwd; /* NULL: the owner's home if it can enter it, else / */
	/* The child's ends; the backend passes or dups them and never keeps
	 * them past ->start (the runner closes them when it returns). */
	int stdin_fd;
	int stdout_fd;
	int stderr_fd;
	int64_t timeout_ns; /* 0: none. The runner enforces it through
	                     * ->kill; a backend may also apply it itself
	                     * (RuntimeMaxSec=) as a backstop. */
	/* "Key=Value" job properties, already validated against ->honours. */
	const char *const *props;
	size_t nprops;
};

struct exec_backend {
	const char *name; /* "spawner" or "systemd" */
	/* EXEC_HONOURS_*: what it can apply now (after ->init: the
	 * spawner's cgroup properties depend on what it found). */
	unsigned (*honours)(void);
	/* Once, on the loop. 0 or -errno (the daemon then refuses to start,
	 * or falls back to the spawner for hooks = auto). */
	int (*init)(struct event_base *base);
	/* Starts a run asynchronously. 0: exactly one of
	 * exec_backend_failed or exec_backend_started follows, and after
	 * started exactly one exec_backend_exited. -errno: nothing follows. */
	int (*start)(const struct exec_launch *l);
	/* Sends sig to every process of the run (the whole tree: cgroup,
	 * unit, or process group). 0, -ENOENT (unknown or already ended). */
	int (*kill)(uint64_t job_id, int sig);
	/* Kills and forgets every run, reporting nothing more. */
	void (*shutdown)(void);
	/* Optional (NULL: the spawner). The runner hands over every chunk it
	 * reads from a run's stdout (stream 1) or stderr (stream 2), and
	 * len 0 once that stream reached EOF or was closed, also after
	 * exec_backend_exited. The systemd backend splits it into lines and
	 * sends each to the journal with the run's unit and EVD_TIMER_ID=/
	 * EVD_FIRE_ID= (without ever blocking). A job_id it no longer knows
	 * is ignored. */
	void (*output)(uint64_t job_id, int stream, const char *buf,
	               size_t len);
};

extern const struct exec_backend exec_backend_spawner;
extern const struct exec_backend exec_backend_systemd;

/* ---- reports, from backends to the runner (exec.c) ---- */

/* The run never started. err: positive errno; why: a short reason
 * ("execve /x: No such file or directory", "user alice no longer has uid
 * 1001"). Borrowed. */
void exec_backend_failed(uint64_t job_id, int err, const char *why);
/* The program was exec'd (or the unit's main process started). pid: its
 * pid, 0 if unknown; unit: the unit's name, NULL for the spawner. */
void exec_backend_started(uint64_t job_id, pid_t pid, const char *unit);
/* The run ended: exited with code, or killed by a signal (signaled:
 * code is the signal). timed_out: the backend's own timeout ended it. */
void exec_backend_exited(uint64_t job_id, bool signaled, int code,
                         bool timed_out);

#endif
