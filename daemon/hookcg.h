/*
 * hookcg: one cgroup (v2) per exec hook started by the spawner, where evd
 * was given a subtree of its own (systemd's Delegate=yes, or a container
 * or test harness that put evd in a writable cgroup).
 *
 * Layout, under evd's own cgroup D (from /proc/self/cgroup, on the
 * cgroup2 mount found in /proc/self/mountinfo):
 *   D/evd            evd and the spawner (a leaf: cgroup v2 lets a
 *                    parent hand controllers to its children only when
 *                    it holds no process itself)
 *   D/hooks/run-<job id>   one per run: the hook and everything it forks
 * The root cgroup is never used (it is nobody's delegated subtree), and
 * neither is a cgroup evd cannot write.
 *
 * What it buys: a kill reaches the whole tree (cgroup.kill), including a
 * grandchild that left the hook's process group with setsid(); and, where
 * the memory, pids, cpu and io controllers are available in D, the
 * MemoryMax=, MemoryHigh=, TasksMax=, CPUQuota= and IOWeight= properties.
 * On a hybrid hierarchy (controllers on cgroup v1) only the first.
 *
 * Not thread-safe: loop 0's thread (the exec runner's). Boundary module:
 * it logs what it could not set up at init, and returns errors otherwise.
 */
#ifndef EVD_HOOKCG_H
#define EVD_HOOKCG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;

/*
 * Sets the layout up if evd has a subtree of its own, moving evd and
 * extra_pid (the spawner; 0: none) into D/evd when controllers are to be
 * handed down. Returns 1 (per-run cgroups on), 0 (off: no delegated
 * subtree; the reason is logged at info), or -errno (no memory).
 */
int hookcg_init(struct event_base *base, pid_t extra_pid);

/* Whether per-run cgroups are on, and whether they can apply the cgroup
 * properties (EXEC_HONOURS_CGROUP). */
bool hookcg_enabled(void);
bool hookcg_limits(void);

/*
 * Creates the run's cgroup with the limits of props ("Key=Value", already
 * judged by jobprop_check for owner) and returns an O_WRONLY descriptor
 * of its cgroup.procs in *ret_fd (CLOEXEC; the caller closes it): the
 * child writes "0" there before it drops privilege. Returns 0, or -errno
 * with why (why_size bytes) saying what failed.
 */
int hookcg_create(uint64_t job_id, const char *const *props, size_t nprops,
                  uid_t owner, int *ret_fd, char *why, size_t why_size);

/* Sends sig to every process of the run's cgroup (SIGKILL through
 * cgroup.kill where the kernel has it). Returns 0 or -ENOENT. */
int hookcg_kill(uint64_t job_id, int sig);

/* The run has ended: kills what is left of its tree and removes the
 * cgroup (later, if its processes are still dying). */
void hookcg_remove(uint64_t job_id);

/* Removes what is left (waiting briefly for dying processes) and turns
 * per-run cgroups off. */
void hookcg_shutdown(void);

#endif
