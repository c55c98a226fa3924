/*
 * hookcg: per-run cgroups for spawner hooks (semantics in hookcg.h).
 *
 * Owns evd's view of its delegated subtree: the directory paths, the
 * list of run cgroups whose removal waits for dying processes, and the
 * retry timer. Everything here is a write or mkdir/rmdir under cgroupfs,
 * which never blocks on a user's process: cgroup.kill and rmdir return at
 * once (rmdir fails with EBUSY while a process is still exiting, hence
 * the retries).
 */
#include "hookcg.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "jobprop.h"
#include "log.h"

/* A removal waiting for its processes to go: retried every
 * HOOKCG_RETRY_MS, given up (logged) after HOOKCG_RETRIES. */
#define HOOKCG_RETRY_MS 50
#define HOOKCG_RETRIES 200
#define HOOKCG_PENDING_MAX 4096

static struct {
	bool on;
	bool limits;
	bool has_kill; /* cgroup.kill (Linux 5.14) */
	char hooks[PATH_MAX]; /* D/hooks */
	struct event *retry;
	uint64_t *pending; /* job ids whose cgroup is still to be removed */
	unsigned *tries;
	size_t npending;
} H;

static int
hookcg_write(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int r = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n < 0)
		r = -errno;
	else if ((size_t)n != strlen(text))
		r = -EIO;
	close(fd);
	return r;
}

/* Reads a small cgroupfs file into buf (NUL-terminated). */
static int
hookcg_read(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* The cgroup2 path of this process ("0::/x") and the cgroup2 mount. */
static int
hookcg_find(char *ret_dir, size_t size, char *why, size_t why_size)
{
	char line[PATH_MAX + 64], mnt[PATH_MAX] = "", root[PATH_MAX] = "",
	     path[PATH_MAX + 64] = "";
	const char *rel;
	FILE *f;

	if ((f = fopen("/proc/self/cgroup", "re")) == NULL)
		return snprintf(why, why_size, "/proc/self/cgroup: %s",
		                strerror(errno)), -ENOENT;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(path, sizeof path, "%s", line + 3);
		}
	fclose(f);
	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return snprintf(why, why_size, "/proc/self/mountinfo: %s",
		                strerror(errno)), -ENOENT;
	while (mnt[0] == '\0' && fgets(line, sizeof line, f) != NULL) {
		char r[PATH_MAX], m[PATH_MAX], *dash = strstr(line, " - ");

		if (dash == NULL || strncmp(dash, " - cgroup2 ", 11) != 0)
			continue;
		if (sscanf(line, "%*s %*s %*s %4095s %4095s", r, m) == 2) {
			snprintf(root, sizeof root, "%s", r);
			snprintf(mnt, sizeof mnt, "%s", m);
		}
	}
	fclose(f);
	if (path[0] == '\0' || mnt[0] == '\0')
		return snprintf(why, why_size, "no cgroup v2 hierarchy"),
		       -ENOENT;
	/* A mount of a subtree (a container's view) shows paths below its
	 * root. */
	rel = path;
	if (strcmp(root, "/") != 0) {
		size_t n = strlen(root);

		if (strncmp(path, root, n) != 0 ||
		    (path[n] != '/' && path[n] != '\0'))
			return snprintf(why, why_size,
			                "evd's cgroup %s is outside the mounted "
			                "hierarchy", path), -ENOENT;
		rel = path + n;
	}
	if (rel[0] == '\0' || strcmp(rel, "/") == 0)
		return snprintf(why, why_size,
		                "evd runs in the root cgroup, which is nobody's "
		                "to divide"), -EPERM;
	if ((size_t)snprintf(ret_dir, size, "%s%s", mnt, rel) >= size)
		return snprintf(why, why_size, "cgroup path too long"),
		       -ENAMETOOLONG;
	return 0;
}

static bool
hookcg_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

/* Hands memory, pids, cpu and io down to D/hooks, moving evd (and the
 * spawner) into the leaf D/evd first. Returns 0 or -errno. */
static int
hookcg_delegate(const char *dir, pid_t extra_pid, char *why, size_t why_size)
{
	static const char *const want[] = {"memory", "pids", "cpu", "io"};
	char path[PATH_MAX + 32], buf[512], pid[32];
	int r;

	snprintf(path, sizeof path, "%s/cgroup.controllers", dir);
	if ((r = hookcg_read(path, buf, sizeof buf)) < 0)
		return snprintf(why, why_size, "%s: %s", path, strerror(-r)),
		       r;
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
		if (!hookcg_word(buf, want[i]))
			return snprintf(why, why_size,
			                "the %s controller is not available "
			                "to evd's cgroup", want[i]), -ENOTSUP;
	snprintf(path, sizeof path, "%s/evd", dir);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return r = -errno, snprintf(why, why_size, "mkdir %s: %s",
		                            path, strerror(-r)), r;
	snprintf(path, sizeof path, "%s/evd/cgroup.procs", dir);
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	if ((r = hookcg_write(path, pid)) < 0)
		return snprintf(why, why_size, "moving evd to %s: %s", path,
		                strerror(-r)), r;
	snprintf(pid, sizeof pid, "%ld", (long)extra_pid);
	if (extra_pid > 0 && (r = hookcg_write(path, pid)) < 0)
		return snprintf(why, why_size, "moving the spawner to %s: %s",
		                path, strerror(-r)), r;
	snprintf(path, sizeof path, "%s/cgroup.subtree_control", dir);
	if ((r = hookcg_write(path, "+memory +pids +cpu +io")) < 0)
		return snprintf(why, why_size, "%s: %s (another process in "
		                "evd's cgroup?)", path, strerror(-r)), r;
	snprintf(path, sizeof path, "%s/cgroup.subtree_control", H.hooks);
	if ((r = hookcg_write(path, "+memory +pids +cpu +io")) < 0)
		return snprintf(why, why_size, "%s: %s", path, strerror(-r)),
		       r;
	return 0;
}

static void hookcg_retry_cb(evutil_socket_t fd, short what, void *arg);

int
hookcg_init(struct event_base *base, pid_t extra_pid)
{
	char dir[PATH_MAX], why[PATH_MAX + 128], path[PATH_MAX + 32];
	int r;

	if (H.on)
		return 1;
	memset(&H, 0, sizeof H);
	if (hookcg_find(dir, sizeof dir, why, sizeof why) < 0) {
		log_info("hooks: no cgroup per hook: %s; a timeout kills the "
		         "hook's process group", why);
		return 0;
	}
	snprintf(path, sizeof path, "%s/cgroup.procs", dir);
	if (access(path, W_OK) < 0) {
		log_info("hooks: no cgroup per hook: %s is not writable (no "
		         "delegated subtree, e.g. Delegate=yes); a timeout "
		         "kills the hook's process group", dir);
		return 0;
	}
	if ((size_t)snprintf(H.hooks, sizeof H.hooks, "%s/hooks", dir) >=
	        sizeof H.hooks ||
	    (mkdir(H.hooks, 0755) < 0 && errno != EEXIST)) {
		log_info("hooks: no cgroup per hook: mkdir %s: %s", H.hooks,
		         strerror(errno));
		return 0;
	}
	snprintf(path, sizeof path, "%s/cgroup.kill", dir);
	H.has_kill = access(path, F_OK) == 0;
	H.retry = evtimer_new(base, hookcg_retry_cb, NULL);
	H.pending = calloc(HOOKCG_PENDING_MAX, sizeof *H.pending);
	H.tries = calloc(HOOKCG_PENDING_MAX, sizeof *H.tries);
	if (H.retry == NULL || H.pending == NULL || H.tries == NULL) {
		hookcg_shutdown();
		return -ENOMEM;
	}
	H.on = true;
	r = hookcg_delegate(dir, extra_pid, why, sizeof why);
	H.limits = r == 0;
	if (r < 0)
		log_info("hooks: one cgroup per hook under %s (whole-tree "
		         "kill); no resource limits: %s", H.hooks, why);
	else
		log_info("hooks: one cgroup per hook under %s, with memory, "
		         "pids, cpu and io limits", H.hooks);
	return 1;
}

bool
hookcg_enabled(void)
{
	return H.on;
}

bool
hookcg_limits(void)
{
	return H.on && H.limits;
}

static void
hookcg_run_path(char *buf, size_t size, uint64_t job_id, const char *file)
{
	snprintf(buf, size, "%s/run-%" PRIu64 "%s%s", H.hooks, job_id,
	         file != NULL ? "/" : "", file != NULL ? file : "");
}

/* The wholes that percentages are of: the machine's memory, and the
 * kernel's pid space. */
static void
hookcg_wholes(uint64_t *ret_mem, uint64_t *ret_pids)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
	char buf[32];

	*ret_mem = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
	*ret_pids = hookcg_read("/proc/sys/kernel/pid_max", buf, sizeof buf) == 0
	                ? strtoull(buf, NULL, 10)
	                : 0;
}

int
hookcg_create(uint64_t job_id, const char *const *props, size_t nprops,
              uid_t owner, int *ret_fd, char *why, size_t why_size)
{
	char path[PATH_MAX + 64], text[64], pwhy[128];
	uint64_t mem, pids;
	int fd, r;

	if (!H.on)
		return snprintf(why, why_size, "no cgroup per hook"), -ENOTSUP;
	hookcg_run_path(path, sizeof path, job_id, NULL);
	if (mkdir(path, 0755) < 0)
		return r = -errno, snprintf(why, why_size, "mkdir %s: %s",
		                            path, strerror(-r)), r;
	hookcg_wholes(&mem, &pids);
	/* In order: a later setting of a key replaces an earlier one. */
	for (size_t i = 0; i < nprops; i++) {
		struct jobprop jp;
		const char *file;

		if (jobprop_parse(props[i], owner, &jp, pwhy, sizeof pwhy) < 0 ||
		    (file = jobprop_cgroup(&jp, mem, pids, text, sizeof text)) ==
		        NULL)
			continue; /* judged at schedule time; not a cgroup key */
		if (!H.limits) {
			r = -ENOTSUP;
			snprintf(why, why_size, "%s: no resource controllers "
			         "in evd's cgroup", jp.name);
			goto fail;
		}
		hookcg_run_path(path, sizeof path, job_id, file);
		if ((r = hookcg_write(path, text)) < 0) {
			snprintf(why, why_size, "%s (%s %s): %s", jp.name, file,
			         text, strerror(-r));
			goto fail;
		}
	}
	hookcg_run_path(path, sizeof path, job_id, "cgroup.procs");
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
		r = -errno;
		snprintf(why, why_size, "%s: %s", path, strerror(-r));
		goto fail;
	}
	*ret_fd = fd;
	return 0;
fail:
	hookcg_run_path(path, sizeof path, job_id, NULL);
	(void)rmdir(path);
	return r;
}

int
hookcg_kill(uint64_t job_id, int sig)
{
	char path[PATH_MAX + 64], buf[4096];
	char *p, *end;
	bool any = false;

	if (!H.on)
		return -ENOENT;
	if (sig == SIGKILL && H.has_kill) {
		hookcg_run_path(path, sizeof path, job_id, "cgroup.kill");
		return hookcg_write(path, "1") < 0 ? -ENOENT : 0;
	}
	/* Another signal (or an old kernel): each process, as listed now.
	 * A run's processes are few; a longer list is signalled in part
	 * and the SIGKILL that follows a timeout catches the rest. */
	hookcg_run_path(path, sizeof path, job_id, "cgroup.procs");
	if (hookcg_read(path, buf, sizeof buf) < 0)
		return -ENOENT;
	for (p = buf;; p = end) {
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		if (pid > 0 && kill((pid_t)pid, sig) == 0)
			any = true;
	}
	return any ? 0 : -ENOENT;
}

static bool
hookcg_rmdir(uint64_t job_id)
{
	char path[PATH_MAX + 64];

	hookcg_run_path(path, sizeof path, job_id, NULL);
	return rmdir(path) == 0 || errno == ENOENT;
}

static void
hookcg_retry_arm(void)
{
	struct timeval tv = {0, HOOKCG_RETRY_MS * 1000};

	if (H.npending > 0 && H.retry != NULL)
		evtimer_add(H.retry, &tv);
}

static void
hookcg_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	size_t k = 0;

	for (size_t i = 0; i < H.npending; i++) {
		uint64_t id = H.pending[i];

		(void)hookcg_kill(id, SIGKILL);
		if (hookcg_rmdir(id))
			continue;
		if (++H.tries[i] >= HOOKCG_RETRIES) {
			log_warnx("hooks: cgroup run-%" PRIu64 " still busy "
			          "after %d s; left in %s", id,
			          HOOKCG_RETRIES * HOOKCG_RETRY_MS / 1000,
			          H.hooks);
			continue;
		}
		H.pending[k] = id;
		H.tries[k++] = H.tries[i];
	}
	H.npending = k;
	hookcg_retry_arm();
}

void
hookcg_remove(uint64_t job_id)
{
	if (!H.on)
		return;
	/* Whatever the hook left behind (a daemonized grandchild) ends with
	 * it, as in a unit with KillMode=control-group. */
	(void)hookcg_kill(job_id, SIGKILL);
	if (hookcg_rmdir(job_id))
		return;
	if (H.npending == HOOKCG_PENDING_MAX) {
		log_warnx("hooks: too many cgroups waiting for removal; "
		          "run-%" PRIu64 " is left in %s", job_id, H.hooks);
		return;
	}
	H.pending[H.npending] = job_id;
	H.tries[H.npending++] = 0;
	hookcg_retry_arm();
}

void
hookcg_shutdown(void)
{
	for (int i = 0; i < 20 && H.npending > 0; i++) {
		struct timespec ts = {0, HOOKCG_RETRY_MS * 1000000L};

		hookcg_retry_cb(-1, 0, NULL);
		if (H.npending > 0)
			nanosleep(&ts, NULL);
	}
	if (H.retry != NULL)
		event_free(H.retry);
	free(H.pending);
	free(H.tries);
	if (H.on)
		(void)rmdir(H.hooks); /* fails harmlessly if not empty */
	memset(&H, 0, sizeof H);
}
