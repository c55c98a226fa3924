/*
 * spawner: the privileged helper process that creates exec hooks' children
 * (spawner.c), and the wire format between it and evd (exec_spawner.c).
 *
 * evd starts it once, before any thread exists and before the store is
 * loaded (spawner_start). From then on evd talks to it over one
 * SOCK_SEQPACKET socketpair: a request per run (a header packet carrying
 * the child's stdin/stdout/stderr by SCM_RIGHTS, then the strings in
 * packets of at most SPAWNER_CHUNK bytes; a fourth fd, the run's cgroup,
 * with SPAWNER_REQ_CGROUP), and per run: CREATED (pid,
 * pidfd by SCM_RIGHTS) once the child exec'd or failed, or when it is
 * killed at the deadline, then EXECED or FAILED; or FAILED alone when no
 * child was made (NSS said no, or hung). The child's parent is evd
 * (CLONE_PARENT), so evd reaps it; the spawner never waits for a child.
 *
 * Thread-safety: spawner_start before any thread; the rest from loop 0.
 */
#ifndef EVD_SPAWNER_H
#define EVD_SPAWNER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* A child that has not exec'd this long after its creation is SIGKILLed
 * and its run fails ("did not start within 5 s"). */
#define SPAWNER_DEADLINE_NS (INT64_C(5) * 1000000000)
/* Children being created (not exec'd, not failed) at once; beyond, a
 * request fails with EAGAIN at once. */
#define SPAWNER_PENDING_MAX 4096
/* Bytes of strings of one request (argv, env, cwd, user, program). */
#define SPAWNER_BLOB_MAX (1024 * 1024)
#define SPAWNER_CHUNK (32 * 1024)
#define SPAWNER_MSG_MAX 256

enum spawner_rep_type {
	SPAWNER_REP_CREATED = 1, /* pid; the pidfd rides along */
	SPAWNER_REP_EXECED,      /* execve succeeded */
	SPAWNER_REP_FAILED,      /* err, msg */
};

/* The resource limits a request may set (Limit*= job properties), as
 * indices of spawner_req.rlim. */
enum spawner_rlim {
	SPAWNER_RLIM_NOFILE,
	SPAWNER_RLIM_CORE,
	SPAWNER_RLIM_NPROC,
	SPAWNER_RLIM_COUNT
};

/* evd -> spawner, the first packet of a request. The strings follow,
 * NUL-terminated each, in this order: user (empty: none), prog, cwd
 * (empty: none), argv[0..argc), envp[0..envc). */
struct spawner_req {
	uint64_t job_id;
	uint32_t uid;
	uint32_t gid;
	int32_t nice; /* SPAWNER_NO_NICE: leave it */
	uint32_t set_ids;
	uint32_t argc;
	uint32_t envc;
	uint32_t blob_len; /* total bytes of strings, in the packets after */
	uint32_t flags;    /* SPAWNER_REQ_* */
	/* Bit i: set rlim[i] (enum spawner_rlim) in the child, after the
	 * drop to the owner, each half clamped to the child's hard limit
	 * then (so a hook's limits only ever go down). evd folds repeated
	 * keys (the last wins); the spawner refuses other bits and
	 * soft > hard. UINT64_MAX: infinity (== RLIM_INFINITY). */
	uint32_t rlim_set;
	struct {
		uint64_t soft;
		uint64_t hard;
	} rlim[SPAWNER_RLIM_COUNT];
};
/* A fourth fd rides along: the run's cgroup.procs (hookcg.h), which the
 * child joins before anything else. */
#define SPAWNER_REQ_CGROUP 1u
#define SPAWNER_NO_NICE INT32_MIN

/* spawner -> evd, one packet each. */
struct spawner_rep {
	uint64_t job_id;
	int32_t type;
	int32_t pid;
	int32_t err; /* positive errno, FAILED only */
	char msg[SPAWNER_MSG_MAX]; /* FAILED: why, NUL-terminated */
};

/* Forks the spawner (once; later calls return 0). Must run before any
 * thread is created. Returns 0 or -errno. */
int spawner_start(void);
/*
 * Starts a new spawner after the last one died, from any thread: a fork
 * of a threaded process may not run the spawner's code, so this execs
 * evd's own binary (/proc/self/exe) as SPAWNER_HELPER_ARG with the
 * socket on fd 3. spawner_fd() and spawner_pid() change; the old socket
 * is closed. Returns 0 or -errno.
 */
int spawner_restart(void);
#define SPAWNER_HELPER_ARG "--internal-hook-spawner"
/* First thing in main(): false unless argv asks for the spawner that
 * spawner_restart starts, which it then runs (and never returns). */
bool spawner_helper(int argc, char **argv);
/* evd's end of the socketpair (CLOEXEC, blocking), or -1. */
int spawner_fd(void);
/* The spawner's pid (a child of evd), or 0. */
pid_t spawner_pid(void);

#endif
