/*
 * jobprop: the job properties an exec timer may carry ("Key=Value", as
 * systemd-run -p takes them), parsed and judged.
 *
 * A whitelist of settings that only restrict or meter a job: anything
 * else is refused, naming the key, with "could add privilege" for keys
 * that could (User=, AmbientCapabilities=, ExecStart=...) and "unknown"
 * for the rest. Keys are case-sensitive, as in systemd. Values follow
 * systemd's syntax for the same setting, strictly (no surrounding
 * spaces, no quoting).
 *
 * Each key belongs to a class (EXEC_HONOURS_* in exec_backend.h) that
 * the active hook backend must honour, or 0 for the few every backend
 * applies (RuntimeMaxSec=: the runner's own timeout; Limit*=: setrlimit
 * in the child). A request is judged once, at schedule time
 * (jobprop_check); backends parse the stored strings again at fire time
 * (jobprop_parse) to get typed values.
 *
 * Repeated keys are applied in order, as systemd applies a transient
 * unit's properties: a later scalar setting replaces an earlier one, and
 * path lists (ReadWritePaths= ...) add up. Backends must do the same.
 *
 * Pure: no I/O, no libevent, no logging, no global state.
 */
#ifndef EVD_JOBPROP_H
#define EVD_JOBPROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bounds on one timer's properties. */
#define JOBPROP_MAX 64          /* entries */
#define JOBPROP_LEN_MAX 4096    /* bytes of one "Key=Value", without NUL */

enum jobprop_key {
	JOBPROP_MEMORY_MAX,         /* bytes or scale; infinity */
	JOBPROP_MEMORY_HIGH,        /* bytes or scale; infinity */
	JOBPROP_CPU_QUOTA,          /* value: CPU usec per second ("50%": 500000) */
	JOBPROP_TASKS_MAX,          /* count or scale; infinity */
	JOBPROP_IO_WEIGHT,          /* value: 1..10000 */
	JOBPROP_NICE,               /* nice: -20..19 */
	JOBPROP_RUNTIME_MAX_SEC,    /* value: usec; infinity */
	JOBPROP_PROTECT_SYSTEM,     /* str: "no", "yes", "full", "strict" */
	JOBPROP_PROTECT_HOME,       /* str: "no", "yes", "read-only", "tmpfs" */
	JOBPROP_PRIVATE_TMP,        /* flag */
	JOBPROP_PRIVATE_NETWORK,    /* flag */
	JOBPROP_NO_NEW_PRIVILEGES,  /* flag */
	JOBPROP_READ_WRITE_PATHS,   /* str: the paths */
	JOBPROP_READ_ONLY_PATHS,    /* str: the paths */
	JOBPROP_INACCESSIBLE_PATHS, /* str: the paths */
	JOBPROP_LIMIT_NOFILE,       /* value soft, value_hard; infinity */
	JOBPROP_LIMIT_CORE,         /* same, bytes */
	JOBPROP_LIMIT_NPROC,        /* same */
	JOBPROP_KEY_COUNT
};

/*
 * One parsed property. Which fields mean something depends on the key
 * (see the enum); the others are 0. Owned by the caller; str points
 * either to a static string or into the "Key=Value" text that was parsed
 * (valid as long as that text).
 */
struct jobprop {
	enum jobprop_key key;
	const char *name;  /* systemd's name of the key, static */
	unsigned honours;  /* the EXEC_HONOURS_* bit it needs; 0: always */
	bool infinity;     /* "infinity": no limit (value, scale unused;
	                    * for Limit*=: evd's own hard limit, which a
	                    * hook can never pass) */
	uint32_t scale;    /* a percentage of the whole (memory, tasks), in
	                    * parts per 10000 (1..10000); 0: value counts */
	uint64_t value;    /* bytes, count, usec, weight, soft limit */
	uint64_t value_hard; /* Limit*=: the hard limit (== value unless
	                      * given as "soft:hard") */
	int nice;
	bool flag;
	/* Protect*=: the canonical mode (a boolean given as "yes" or "no").
	 * *Paths=: space-separated absolute paths, each maybe prefixed by
	 * '-' (ignore if missing), exactly as given. */
	const char *str;
};

/*
 * Parses one "Key=Value" for a timer of owner (a negative Nice= raises
 * priority: only root may). Returns the key (>= 0) with *ret filled, or
 * -EINVAL (malformed, unknown key, bad value), -EPERM (a key that could
 * add privilege, or Nice < 0 for non-root), -E2BIG (longer than
 * JOBPROP_LEN_MAX), with why (why_size bytes) naming the key. *ret is
 * untouched on failure.
 */
int jobprop_parse(const char *kv, uid_t owner, struct jobprop *ret, char *why,
                  size_t why_size);

/*
 * Judges a timer's whole list: at most JOBPROP_MAX entries, each parsed
 * as above and each of a class in honours (EXEC_HONOURS_*). Returns 0, a
 * jobprop_parse error, -E2BIG (too many), or -EOPNOTSUPP (the hook runner
 * cannot apply that key: "property 'MemoryMax' needs per-hook cgroups,
 * which this evd's hook runner cannot apply"). runner: how to name the
 * runner in that message, or NULL.
 */
int jobprop_check(const char *const *kv, size_t n, uid_t owner,
                  unsigned honours, const char *runner, char *why,
                  size_t why_size);

/* systemd's name of key k ("MemoryMax"), or NULL when k is not a key
 * (k >= JOBPROP_KEY_COUNT): walks every key jobprop accepts, so that a
 * consumer's tests can check it converts each one. */
const char *jobprop_key_name(enum jobprop_key k);

/*
 * The cgroup v2 file and its text for a parsed cgroup property
 * (MemoryMax= -> "memory.max", MemoryHigh= -> "memory.high", TasksMax=
 * -> "pids.max", CPUQuota= -> "cpu.max" over a 100 ms period, IOWeight=
 * -> "io.weight"), as systemd writes them. Percentages are of mem_total
 * bytes or pid_max tasks. Returns the file name (static), or NULL for a
 * key that is not a cgroup property; text gets size bytes at most.
 */
const char *jobprop_cgroup(const struct jobprop *jp, uint64_t mem_total,
                           uint64_t pid_max, char *text, size_t size);

/* What a class bit stands for in messages ("per-hook cgroups"). */
const char *jobprop_class_name(unsigned honours_bit);

/*
 * The timeout a job gets: timeout_ns (0: none) or the last valid
 * RuntimeMaxSec= of kv, whichever is smaller (infinity and invalid
 * entries change nothing). Never fails.
 */
int64_t jobprop_timeout_ns(const char *const *kv, size_t n,
                           int64_t timeout_ns);

#endif
