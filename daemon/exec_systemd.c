/*
 * exec_systemd: the exec backend that runs each hook as a transient
 * systemd unit. A placeholder on this branch: its init refuses, so that
 * hooks = auto falls back to the spawner and hooks = systemd refuses to
 * start. The real backend replaces this file.
 */
#include "exec_backend.h"

#include <errno.h>

static int
exec_systemd_init(struct event_base *base)
{
	(void)base;
	return -EOPNOTSUPP;
}

static int
exec_systemd_start(const struct exec_launch *l)
{
	(void)l;
	return -EOPNOTSUPP;
}

static int
exec_systemd_kill(uint64_t job_id, int sig)
{
	(void)job_id;
	(void)sig;
	return -ENOENT;
}

static void
exec_systemd_shutdown(void)
{
}

const struct exec_backend exec_backend_systemd = {
    .name = "systemd",
    .honours = 0,
    .init = exec_systemd_init,
    .start = exec_systemd_start,
    .kill = exec_systemd_kill,
    .shutdown = exec_systemd_shutdown,
};
