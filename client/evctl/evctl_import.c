/*
 * evctl_import: `import crontab [FILE|-]` and `import systemd-timer
 * UNIT.timer...`: other schedulers' jobs as evd timers.
 *
 * Each job becomes the evctl command line it is equivalent to (a list
 * of words, exactly what `evctl` would take), so that --dry-run prints
 * what is scheduled and the real run sends those very words through
 * batch_submit (evctl_batch.c: pipelined on one connection, parsed by
 * parse_args as any command line). What cannot be expressed is said on
 * stderr with FILE:LINE and skipped; nothing is dropped silently.
 *
 * Every timer carries an idempotency key (import:crontab:HASH,
 * import:systemd:UNIT:N) so that importing again schedules nothing
 * twice: evd returns the timer it has for a known key.
 *
 * Owns the plans (their words) until the verb returns. Parsing of the
 * formats is importparse.c's (pure); this file reads files and runs
 * `crontab -l`. Root importing a service with User= of someone else
 * submits its timers from a forked child that became that user
 * (submit_as), since evd makes the connecting uid the owner and a hook
 * runs as its timer's owner; nobody else may (refused).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "escape.h"
#include "evctl.h"
#include "importparse.h"

extern char **environ;

/* Bound on an input file (a crontab, a unit). */
#define IMPORT_FILE_MAX (4 * 1024 * 1024)

/* How a plan's first fire is described. */
enum plan_kind {
	PLAN_CALENDAR, /* on EXPR: computed in zone */
	PLAN_LATER,    /* later DELAY: after the import */
	PLAN_BOOT,     /* at SECONDS --clock monotonic: after boot */
};

/* One timer to schedule. Owns its words, src and key. */
struct plan {
	char *src; /* the file as named in messages */
	unsigned line;
	enum plan_kind kind;
	char *expr, *zone; /* PLAN_CALENDAR */
	int64_t delay_ns;  /* PLAN_LATER, PLAN_BOOT */
	char **words;
	int nwords, cap;
	char *key;
	/* User= of someone else (root only): scheduled as that user, who
	 * then owns the timer; NULL: the caller. */
	char *as_user;
	uid_t uid;
	gid_t gid;
};

struct import {
	struct ctl *x;
	struct plan *plans;
	size_t n, cap;
	unsigned skipped; /* entries that became no timer */
	char user[256];	  /* the caller's login name ("" if none) */
	bool nomem;
	/* submit_groups' arrays, here so that they stay reachable when a
	 * child of submit_as exits with them (no leak reported). */
	struct plan **pp;
	struct batch_req *tmp;
	size_t *idx;
	bool *done;
};

/* A note about src's line (0: the whole file). Notes quote the input
 * file, so on a terminal they are escaped (escape_text): its bytes never
 * reach it raw. JSON errors are escaped as JSON instead. */
static void __attribute__((format(printf, 4, 5)))
note(struct import *im, const char *src, unsigned line, const char *fmt, ...)
{
	char msg[1024], all[1024 + PATH_MAX + 16];
	char esc[sizeof(all) * ESCAPE_MAX_EXPANSION + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(all, sizeof(all), "%s:%u: %s", src, line, msg);
	else
		snprintf(all, sizeof(all), "%s: %s", src, msg);
	if (im->x->json) {
		ctl_warnx("%s", all);
		return;
	}
	escape_text(esc, sizeof(esc), all, strlen(all));
	ctl_warnx("%s", esc);
}

/* Says why and counts the entry as skipped. */
static void __attribute__((format(printf, 4, 5)))
skip(struct import *im, const char *src, unsigned line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	note(im, src, line, "skipped: %s", msg);
	im->skipped++;
}

static void
plan_clear(struct plan *p)
{
	int i;

	for (i = 0; i < p->nwords; i++)
		free(p->words[i]);
	free(p->words);
	free(p->src);
	free(p->expr);
	free(p->zone);
	free(p->key);
	free(p->as_user);
	memset(p, 0, sizeof(*p));
}

/* A new plan at the end of im->plans, or NULL (out of memory). */
static struct plan *
plan_new(struct import *im, const char *src, unsigned line)
{
	struct plan *p;

	if (im->n == im->cap) {
		size_t ncap = im->cap ? im->cap * 2 : 16;

		p = realloc(im->plans, ncap * sizeof(*p));
		if (p == NULL) {
			im->nomem = true;
			return NULL;
		}
		im->plans = p;
		im->cap = ncap;
	}
	p = &im->plans[im->n++];
	memset(p, 0, sizeof(*p));
	p->line = line;
	if ((p->src = strdup(src)) == NULL)
		im->nomem = true;
	return p;
}

/* Drops the last plan (it could not be completed). */
static void
plan_drop(struct import *im)
{
	plan_clear(&im->plans[--im->n]);
}

static void
plan_word(struct import *im, struct plan *p, const char *w)
{
	char **nw;

	if (p->nwords + 1 >= p->cap) {
		int ncap = p->cap ? p->cap * 2 : 16;

		if ((nw = realloc(p->words, (size_t)ncap * sizeof(*nw))) ==
		    NULL) {
			im->nomem = true;
			return;
		}
		p->words = nw;
		p->cap = ncap;
	}
	if ((p->words[p->nwords] = strdup(w)) == NULL) {
		im->nomem = true;
		return;
	}
	p->nwords++;
}

static void __attribute__((format(printf, 3, 4)))
plan_wordf(struct import *im, struct plan *p, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		im->nomem = true;
		return;
	}
	plan_word(im, p, s);
	free(s);
}

/* A duration as evctl reads it back exactly, in the largest unit that
 * divides it: "15m", "1h", "1500ms". */
static void
plan_duration(struct import *im, struct plan *p, int64_t ns)
{
	static const struct {
		const char *unit;
		int64_t ns;
	} units[] = {
	    {"w", 604800000000000}, {"d", 86400000000000}, {"h", 3600000000000},
	    {"m", 60000000000},	    {"s", 1000000000},	   {"ms", 1000000},
	    {"us", 1000},
	};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (ns > 0 && ns % units[i].ns == 0) {
			plan_wordf(im, p, "%" PRId64 "%s", ns / units[i].ns,
				   units[i].unit);
			return;
		}
	plan_wordf(im, p, "%" PRId64 "ns", ns);
}

/*
 * Inserts "--key KEY" before the words from `at` on (the hook's argv
 * after "--" must stay last). KEY: prefix, then for crontab the hash of
 * the user and every word, so an entry whose meaning changed (its line,
 * zone or environment) is a new timer; a repeated identical entry gets
 * ":2", ":3" after it, as cron runs it twice.
 */
static void
plan_key(struct import *im, struct plan *p, int at, const char *key)
{
	int i;

	if ((p->key = strdup(key)) == NULL) {
		im->nomem = true;
		return;
	}
	plan_word(im, p, "--key");
	plan_word(im, p, key);
	if (im->nomem)
		return;
	/* Rotate the two new words into place. */
	for (i = 0; i < 2; i++) {
		char *w = p->words[p->nwords - 1];

		memmove(&p->words[at + 1], &p->words[at],
			(size_t)(p->nwords - 1 - at) * sizeof(char *));
		p->words[at] = w;
	}
}

static uint64_t
plan_hash(const struct import *im, const struct plan *p)
{
	uint64_t h =
	    import_hash(IMPORT_HASH_INIT, im->user, strlen(im->user) + 1);
	int i;

	for (i = 0; i < p->nwords; i++)
		h = import_hash(h, p->words[i], strlen(p->words[i]) + 1);
	return h;
}

/* Reads fd to the end; *ret (NUL-terminated) is the caller's. */
static int
read_all(int fd, char **ret)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap), *nb;
	ssize_t n;

	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		if (len + 1 == cap) {
			if (cap > IMPORT_FILE_MAX) {
				free(buf);
				return -EFBIG;
			}
			if ((nb = realloc(buf, cap * 2)) == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			n = -errno;
			free(buf);
			return (int)n;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (memchr(buf, '\0', len) != NULL) {
		free(buf);
		return -EILSEQ;
	}
	buf[len] = '\0';
	*ret = buf;
	return 0;
}

/*
 * Reads path ("-": stdin). As root, only a file root owns and no one
 * else may write (-EPERM otherwise): root's import schedules its commands
 * as root's (or User='s) hooks, so another user's crontab or unit would
 * run their words with root's rights. They import their own files.
 */
static int
read_file(const char *path, char **ret)
{
	struct stat st;
	int fd, r;

	if (strcmp(path, "-") == 0)
		return read_all(0, ret);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (geteuid() == 0 &&
	    (fstat(fd, &st) < 0 || st.st_uid != 0 ||
	     (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)) {
		close(fd);
		return -EPERM;
	}
	r = read_all(fd, ret);
	close(fd);
	return r;
}

/* Why read_file failed, for people. */
static const char *
read_error(int r)
{
	switch (r) {
	case -EFBIG:
		return "too large";
	case -EILSEQ:
		return "holds a NUL byte";
	case -EPERM:
		return "not root's own file (another user may write it): root's "
		       "import would run its commands as root; its owner "
		       "imports it";
	default:
		return strerror(-r);
	}
}

/* `crontab -l`'s output: the caller's crontab as cron keeps it. Its
 * own complaints ("no crontab for ...") go to our stderr. */
static int
crontab_l(char **ret, int *ret_status)
{
	char *argv[] = {(char *)"crontab", (char *)"-l", NULL};
	posix_spawn_file_actions_t fa;
	int p[2], r, st;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	r = posix_spawnp(&pid, "crontab", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (r != 0) {
		close(p[0]);
		return -r;
	}
	r = read_all(p[0], ret);
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	*ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (r == 0 && *ret_status != 0) {
		free(*ret);
		*ret = NULL;
	}
	return r;
}

/* ---- crontab ---- */

/* The crontab's assignments in force, in order (a later one of the same
 * name replaces the earlier), as "NAME=value" strings. */
struct cron_env {
	char **vars;
	size_t n;
	char *cron_tz; /* CRON_TZ, or NULL */
	unsigned cron_tz_line;
	bool cron_tz_bad;
	char *shell; /* SHELL, or NULL */
	char *home;  /* HOME, or NULL */
	char *tz;    /* TZ, or NULL */
};

static void
cron_env_clear(struct cron_env *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->vars[i]);
	free(e->vars);
	free(e->cron_tz);
	free(e->shell);
	free(e->home);
	free(e->tz);
	memset(e, 0, sizeof(*e));
}

static int
cron_env_set(struct cron_env *e, const char *name, const char *value)
{
	size_t i, nl = strlen(name);
	char *v, **nv;

	if (asprintf(&v, "%s=%s", name, value) < 0)
		return -ENOMEM;
	for (i = 0; i < e->n; i++)
		if (strncmp(e->vars[i], name, nl) == 0 &&
		    e->vars[i][nl] == '=') {
			free(e->vars[i]);
			e->vars[i] = v;
			return 0;
		}
	if ((nv = realloc(e->vars, (e->n + 1) * sizeof(*nv))) == NULL) {
		free(v);
		return -ENOMEM;
	}
	e->vars = nv;
	e->vars[e->n++] = v;
	return 0;
}

static int
replace_str(char **dst, const char *v)
{
	char *s = strdup(v);

	if (s == NULL)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

/* An assignment line: cron's own settings, or the jobs' environment. */
static int
cron_assign(struct import *im, const char *src, unsigned line,
	    struct cron_env *e, const struct cron_line *l)
{
	const char *v = l->value;

	if (strcmp(l->name, "CRON_TZ") == 0) {
		if (v[0] == ':')
			v++;
		e->cron_tz_line = line;
		e->cron_tz_bad = !calendar_zone_valid(v);
		if (e->cron_tz_bad)
			note(im, src, line,
			     "CRON_TZ=%s is not a zone evd knows (see "
			     "/usr/share/zoneinfo); the entries after it are "
			     "skipped",
			     v);
		return replace_str(&e->cron_tz, v);
	}
	if (strcmp(l->name, "MAILTO") == 0 ||
	    strcmp(l->name, "MAILFROM") == 0) {
		note(im, src, line,
		     "%s ignored: evd mails nothing; a run's output and exit "
		     "status are in 'evctl runs ID' (or use --on-failure "
		     "CHANNEL)",
		     l->name);
		return 0;
	}
	if (strcmp(l->name, "SHELL") == 0 && replace_str(&e->shell, v) < 0)
		return -ENOMEM;
	if (strcmp(l->name, "HOME") == 0 && replace_str(&e->home, v) < 0)
		return -ENOMEM;
	if (strcmp(l->name, "TZ") == 0 && replace_str(&e->tz, v) < 0)
		return -ENOMEM;
	return cron_env_set(e, l->name, v);
}

/*
 * One entry: on EXPR --tz ZONE --misfire skip --overlap allow --key K
 * [--cwd HOME] [--env NAME=value...] [--payload INPUT]
 * --shell CMD | --exec -- SHELL -c CMD.
 * cron neither catches up after downtime (--misfire skip) nor waits for
 * a previous run (--overlap allow); it runs the command with $SHELL -c
 * (default /bin/sh) in $HOME (evd's default cwd is the owner's home).
 */
static void
cron_entry(struct import *im, const char *src, unsigned line,
	   const struct cron_env *e, const struct cron_line *l,
	   const char *caller_tz)
{
	const char *zone = NULL;
	char key[96];
	struct plan *p;
	uint64_t h;
	size_t i;
	int at, dup = 0;

	if (e->cron_tz != NULL) {
		if (e->cron_tz_bad) {
			skip(im, src, line,
			     "CRON_TZ=%s (line %u) is not a "
			     "zone evd knows",
			     e->cron_tz, e->cron_tz_line);
			return;
		}
		zone = e->cron_tz;
	} else if (e->tz != NULL) {
		zone = e->tz[0] == ':' ? e->tz + 1 : e->tz;
		if (!calendar_zone_valid(zone)) {
			skip(im, src, line, "TZ=%s is not a zone evd knows",
			     e->tz);
			return;
		}
	} else {
		zone = caller_tz;
		if (zone == NULL) {
			skip(im, src, line,
			     "your time zone has no name evd "
			     "can store; set CRON_TZ= in the crontab");
			return;
		}
	}
	if ((p = plan_new(im, src, line)) == NULL)
		return;
	p->kind = PLAN_CALENDAR;
	p->expr = strdup(l->expr);
	p->zone = strdup(zone);
	if (p->expr == NULL || p->zone == NULL)
		im->nomem = true;
	plan_word(im, p, "on");
	plan_word(im, p, l->expr);
	plan_word(im, p, "--tz");
	plan_word(im, p, zone);
	plan_word(im, p, "--misfire");
	plan_word(im, p, "skip");
	plan_word(im, p, "--overlap");
	plan_word(im, p, "allow");
	at = p->nwords;
	if (e->home != NULL) {
		plan_word(im, p, "--cwd");
		plan_word(im, p, e->home);
	}
	for (i = 0; i < e->n; i++) {
		plan_word(im, p, "--env");
		plan_word(im, p, e->vars[i]);
	}
	if (l->input != NULL) {
		plan_word(im, p, "--payload");
		plan_word(im, p, l->input);
	}
	if (e->shell != NULL && strcmp(e->shell, "/bin/sh") != 0) {
		plan_word(im, p, "--exec");
		plan_word(im, p, "--");
		plan_word(im, p, e->shell);
		plan_word(im, p, "-c");
		plan_word(im, p, l->command);
	} else {
		plan_word(im, p, "--shell");
		plan_word(im, p, l->command);
	}
	if (im->nomem)
		return;
	h = plan_hash(im, p);
	/* An identical entry earlier in this crontab: the next ordinal. */
	snprintf(key, sizeof(key), "import:crontab:%016" PRIx64, h);
	for (i = 0; i + 1 < im->n; i++)
		if (im->plans[i].key != NULL &&
		    strncmp(im->plans[i].key, key, strlen(key)) == 0)
			dup++;
	if (dup > 0)
		snprintf(key, sizeof(key), "import:crontab:%016" PRIx64 ":%d",
			 h, dup + 1);
	plan_key(im, p, at, key);
}

/* /etc/crontab and /etc/cron.d have a user column: not a user's
 * crontab. */
static bool
system_crontab(const char *path)
{
	char real[PATH_MAX];

	if (realpath(path, real) == NULL)
		return false;
	return strcmp(real, "/etc/crontab") == 0 ||
	       strncmp(real, "/etc/cron.d/", 12) == 0;
}

static int
import_crontab(struct import *im)
{
	struct ctl *x = im->x;
	const char *file = x->nargs > 1 ? x->args[1] : NULL, *src;
	char *text = NULL, *line, *nl, zbuf[256];
	const char *caller_tz = caller_zone(zbuf, sizeof(zbuf));
	struct cron_env env = {0};
	struct cron_line l;
	unsigned lineno = 0;
	int r, st = 0;

	if (x->nargs > 2)
		return usage_error("import crontab takes one FILE (or '-')");
	if (file != NULL && strcmp(file, "-") != 0 && system_crontab(file))
		return usage_error("%s has a user column (a system crontab); "
				   "import a user's crontab (crontab -l "
				   "format)",
				   file);
	if (file == NULL) {
		src = "crontab";
		r = crontab_l(&text, &st);
		if (r == 0 && st != 0) {
			ctl_warnx("'crontab -l' failed (exit status %d); "
				  "nothing imported",
				  st);
			return EXIT_REFUSED;
		}
	} else {
		src = strcmp(file, "-") == 0 ? "stdin" : file;
		r = read_file(file, &text);
	}
	if (r < 0) {
		ctl_warnx("%s: %s", file == NULL ? "crontab -l" : src,
			  read_error(r));
		return file == NULL ? EXIT_REFUSED : EXIT_USAGE;
	}
	for (line = text; *line != '\0' && !im->nomem; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl != NULL)
			*nl = '\0';
		lineno++;
		if ((r = cron_line_parse(line, &l)) < 0) {
			im->nomem = true;
			cron_line_clear(&l);
			break;
		}
		switch (l.kind) {
		case CRON_SKIP:
			break;
		case CRON_ENV:
			if (cron_assign(im, src, lineno, &env, &l) < 0)
				im->nomem = true;
			break;
		case CRON_REBOOT:
			skip(im, src, lineno,
			     "@reboot: evd has no boot "
			     "event");
			break;
		case CRON_BAD:
			skip(im, src, lineno, "%s", l.why);
			break;
		case CRON_ENTRY:
			cron_entry(im, src, lineno, &env, &l, caller_tz);
			break;
		}
		cron_line_clear(&l);
		if (nl == NULL)
			break;
	}
	cron_env_clear(&env);
	free(text);
	return 0;
}

/* ---- systemd timers ---- */

/* Where systemd looks for units: root's, or a user's. */
static const char *const system_unit_dirs[] = {
    "/etc/systemd/system",	     "/run/systemd/system",
    "/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
    "/lib/systemd/system",	     NULL,
};
static const char *const user_unit_dirs[] = {
    "~/.config/systemd/user",	   "/etc/systemd/user",	    "/run/systemd/user",
    "/usr/local/lib/systemd/user", "/usr/lib/systemd/user", NULL,
};

/* Finds name next to the timer (dir), then in the unit directories;
 * the path into buf, or NULL. */
static const char *
find_unit(const char *dir, const char *name, char *buf, size_t size)
{
	const char *const *d =
	    geteuid() == 0 ? system_unit_dirs : user_unit_dirs;
	const char *home = getenv("HOME");
	struct stat st;

	if (dir != NULL &&
	    (size_t)snprintf(buf, size, "%s/%s", dir, name) < size &&
	    stat(buf, &st) == 0)
		return buf;
	for (; *d != NULL; d++) {
		if ((*d)[0] == '~') {
			if (home == NULL)
				continue;
			if ((size_t)snprintf(buf, size, "%s%s/%s", home, *d + 1,
					     name) >= size)
				continue;
		} else if ((size_t)snprintf(buf, size, "%s/%s", *d, name) >=
			   size) {
			continue;
		}
		if (stat(buf, &st) == 0)
			return buf;
	}
	return NULL;
}

/* The service's job settings evd passes on as -p KEY=VALUE: those its
 * whitelist takes (daemon/jobprop.h). */
static const char *const job_props[] = {
    "MemoryMax",      "MemoryHigh",	   "CPUQuota",
    "TasksMax",	      "IOWeight",	   "Nice",
    "ProtectSystem",  "ProtectHome",	   "PrivateTmp",
    "PrivateNetwork", "NoNewPrivileges",   "ReadWritePaths",
    "ReadOnlyPaths",  "InaccessiblePaths", "LimitNOFILE",
    "LimitCORE",      "LimitNPROC",	   NULL,
};

/*
 * Settings that confine a service's command (its identity, privileges,
 * view of the system) beyond evd's job properties above. Ignoring one
 * would run the command with more power than the unit gave it (a root
 * import of DynamicUser=yes would run as root), so a unit that sets one
 * is refused instead.
 */
static const char *const confining[] = {
    "DynamicUser", "Group", "SupplementaryGroups", "PrivateUsers",
    "CapabilityBoundingSet", "SecureBits", "SystemCallFilter",
    "SystemCallArchitectures", "SystemCallErrorNumber", "RestrictNamespaces",
    "RestrictAddressFamilies", "RestrictFileSystems", "RestrictRealtime",
    "RestrictSUIDSGID", "LockPersonality", "MemoryDenyWriteExecute",
    "RootDirectory", "RootImage", "ExecPaths", "NoExecPaths",
    "TemporaryFileSystem", "BindPaths", "BindReadOnlyPaths",
    "PrivateDevices", "PrivateIPC", "PrivateMounts", "ProtectKernelTunables",
    "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
    "ProtectClock", "ProtectHostname", "ProtectProc", "ProcSubset",
    "IPAddressDeny", "IPAddressAllow", "DeviceAllow", "DevicePolicy",
    "UMask", "LimitAS", "LimitFSIZE", "LimitDATA", "LimitSTACK",
    "LimitRSS", "LimitMEMLOCK", "CPUWeight", "AllowedCPUs", NULL,
};

static bool
in_list(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

/* What the timer unit says. */
struct sd_timer {
	char **cal; /* OnCalendar= values, in order */
	size_t ncal;
	unsigned cal_line[64];
	int64_t active_ns, boot_ns, unit_active_ns; /* -1: not set */
	int64_t randomized_ns, accuracy_ns;
	bool persistent;
	char *unit; /* Unit= */
};

/* What the service unit says. */
struct sd_service {
	char *exec; /* ExecStart= (the last non-empty) */
	unsigned exec_line;
	size_t nexec; /* how many are in force */
	char *cwd;    /* WorkingDirectory= */
	unsigned cwd_line;
	char **env; /* Environment= words, "NAME=value" */
	size_t nenv;
	char **props; /* -p KEY=VALUE */
	size_t nprops;
	int64_t timeout_ns; /* RuntimeMaxSec= / TimeoutStartSec= oneshot */
	char *user;
	unsigned user_line;
	/* A systemd specifier (%h, %u, %n...) met, and its line: 0 none. */
	char spec;
	unsigned spec_line;	/* A confining setting evd cannot apply (confining[]), and its
	 * line: 0 none. Borrowed from the unit file. */
	const char *confine;
	unsigned confine_line;
};

static int
push(char ***list, size_t *n, const char *s)
{
	char **nl = realloc(*list, (*n + 2) * sizeof(**list));

	if (nl == NULL)
		return -ENOMEM;
	*list = nl;
	if ((nl[*n] = strdup(s)) == NULL)
		return -ENOMEM;
	nl[++*n] = NULL;
	return 0;
}

static void
free_list(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* A setting's time span, or a note and -1. */
static int64_t
span(struct import *im, const char *src, const struct unit_setting *s)
{
	int64_t ns;

	if (unit_timespan(s->value, &ns) < 0) {
		note(im, src, s->line,
		     "%s=%s: not a time span evd reads; "
		     "ignored",
		     s->key, s->value);
		return -1;
	}
	return ns;
}

static int
read_timer(struct import *im, const char *src, const struct unit_file *u,
	   struct sd_timer *t)
{
	const struct unit_setting *s;
	size_t i;
	bool install = false;

	t->active_ns = t->boot_ns = t->unit_active_ns = -1;
	for (i = 0; i < u->n; i++) {
		s = &u->settings[i];
		if (strcmp(s->section, "Install") == 0) {
			if (!install)
				note(im, src, s->line,
				     "[Install] not needed: an evd timer is "
				     "active once scheduled");
			install = true;
		} else if (strcmp(s->section, "Unit") == 0) {
			if (strcmp(s->key, "Description") != 0 &&
			    strcmp(s->key, "Documentation") != 0)
				note(im, src, s->line,
				     "%s= not mapped; "
				     "ignored",
				     s->key);
		} else if (strcmp(s->section, "Timer") != 0) {
			note(im, src, s->line, "[%s] not mapped; ignored",
			     s->section);
		} else if (strcmp(s->key, "OnCalendar") == 0) {
			if (s->value[0] == '\0') {
				free_list(t->cal, t->ncal);
				t->cal = NULL;
				t->ncal = 0;
			} else if (t->ncal == 64) {
				note(im, src, s->line,
				     "more than 64 "
				     "OnCalendar=; ignored");
			} else {
				t->cal_line[t->ncal] = s->line;
				if (push(&t->cal, &t->ncal, s->value) < 0)
					return -ENOMEM;
			}
		} else if (strcmp(s->key, "OnActiveSec") == 0) {
			t->active_ns = s->value[0] ? span(im, src, s) : -1;
		} else if (strcmp(s->key, "OnBootSec") == 0) {
			t->boot_ns = s->value[0] ? span(im, src, s) : -1;
		} else if (strcmp(s->key, "OnUnitActiveSec") == 0) {
			t->unit_active_ns = s->value[0] ? span(im, src, s) : -1;
		} else if (strcmp(s->key, "RandomizedDelaySec") == 0) {
			t->randomized_ns = span(im, src, s);
			if (t->randomized_ns < 0)
				t->randomized_ns = 0;
		} else if (strcmp(s->key, "AccuracySec") == 0) {
			t->accuracy_ns = span(im, src, s);
			if (t->accuracy_ns < 0)
				t->accuracy_ns = 0;
		} else if (strcmp(s->key, "Persistent") == 0) {
			t->persistent = strcmp(s->value, "true") == 0 ||
					strcmp(s->value, "yes") == 0 ||
					strcmp(s->value, "on") == 0 ||
					strcmp(s->value, "1") == 0;
		} else if (strcmp(s->key, "Unit") == 0) {
			if (replace_str(&t->unit, s->value) < 0)
				return -ENOMEM;
		} else if (strcmp(s->key, "OnStartupSec") == 0 ||
			   strcmp(s->key, "OnUnitInactiveSec") == 0) {
			note(im, src, s->line,
			     "%s= not mapped (evd has no "
			     "such reference point); ignored",
			     s->key);
		} else {
			note(im, src, s->line, "%s= not mapped; ignored",
			     s->key);
		}
	}
	return 0;
}

/*
 * systemd expands specifiers (%h, %u, %n, ...) in a service's settings,
 * "%%" being a '%'. Their values belong to the unit's context (its
 * user's home, its name, the manager's directories), which import cannot
 * know for sure: a setting that uses one makes the unit refused
 * (*ret_spec: which), and "%%" is undone in place. 0 or -1.
 */
static int
unspecify(char *s, char *ret_spec)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		if (*s == '%') {
			if (s[1] != '%') {
				*ret_spec = s[1] != '\0' ? s[1] : '%';
				return -1;
			}
			s++;
		}
		*o++ = *s;
	}
	*o = '\0';
	return 0;
}

static int
read_service(struct import *im, const char *src, const struct unit_file *u,
	     struct sd_service *v)
{
	const struct unit_setting *s;
	const char *why;
	char **w, *p;
	size_t i, n, k;
	bool oneshot = false;
	int64_t start_timeout = -1;
	char spec;

	for (i = 0; i < u->n; i++) {
		s = &u->settings[i];
		if (strcmp(s->section, "Unit") == 0 &&
		    (strcmp(s->key, "Description") == 0 ||
		     strcmp(s->key, "Documentation") == 0))
			continue;
		if (strcmp(s->section, "Service") != 0) {
			note(im, src, s->line, "[%s] %s= not mapped; ignored",
			     s->section, s->key);
			continue;
		}
		if ((strcmp(s->key, "ExecStart") == 0 ||
		     strcmp(s->key, "WorkingDirectory") == 0 ||
		     strcmp(s->key, "Environment") == 0 ||
		     strcmp(s->key, "User") == 0) &&
		    unspecify(s->value, &spec) < 0 && v->spec_line == 0) {
			v->spec = spec;
			v->spec_line = s->line;
		}
		if (strcmp(s->key, "ExecStart") == 0) {
			if (s->value[0] == '\0') {
				v->nexec = 0;
				continue;
			}
			v->nexec++;
			v->exec_line = s->line;
			if (replace_str(&v->exec, s->value) < 0)
				return -ENOMEM;
		} else if (strcmp(s->key, "WorkingDirectory") == 0) {
			v->cwd_line = s->line;
			if (replace_str(&v->cwd, s->value) < 0)
				return -ENOMEM;
		} else if (strcmp(s->key, "Environment") == 0) {
			if (s->value[0] == '\0') {
				free_list(v->env, v->nenv);
				v->env = NULL;
				v->nenv = 0;
				continue;
			}
			if (unit_words(s->value, &w, &n, &why) < 0) {
				note(im, src, s->line,
				     "Environment=: %s; ignored", why);
				continue;
			}
			for (k = 0; k < n; k++) {
				if ((p = strchr(w[k], '=')) == NULL ||
				    p == w[k]) {
					note(im, src, s->line,
					     "Environment=: '%s' is not "
					     "NAME=value; ignored",
					     w[k]);
					continue;
				}
				if (push(&v->env, &v->nenv, w[k]) < 0) {
					unit_words_free(w);
					return -ENOMEM;
				}
			}
			unit_words_free(w);
		} else if (strcmp(s->key, "User") == 0) {
			v->user_line = s->line;
			if (replace_str(&v->user, s->value) < 0)
				return -ENOMEM;
		} else if (strcmp(s->key, "Type") == 0) {
			oneshot = strcmp(s->value, "oneshot") == 0;
			if (!oneshot && strcmp(s->value, "simple") != 0 &&
			    strcmp(s->value, "exec") != 0)
				note(im, src, s->line,
				     "Type=%s: evd runs "
				     "the command and waits for it to exit",
				     s->value);
		} else if (strcmp(s->key, "RuntimeMaxSec") == 0) {
			if (strcmp(s->value, "infinity") != 0)
				v->timeout_ns = span(im, src, s);
		} else if (strcmp(s->key, "TimeoutStartSec") == 0) {
			if (strcmp(s->value, "infinity") != 0)
				start_timeout = span(im, src, s);
		} else if (in_list(job_props, s->key)) {
			char *kv;

			if (asprintf(&kv, "%s=%s", s->key, s->value) < 0)
				return -ENOMEM;
			k = push(&v->props, &v->nprops, kv);
			free(kv);
			if (k != 0)
				return -ENOMEM;
		} else if (in_list(confining, s->key)) {
			if (v->confine_line == 0) {
				v->confine = s->key;
				v->confine_line = s->line;
			}
		} else {
			note(im, src, s->line, "%s= not mapped; ignored",
			     s->key);
		}
	}
	/* A oneshot service's start is its whole run. */
	if (oneshot && start_timeout > 0 && v->timeout_ns <= 0)
		v->timeout_ns = start_timeout;
	return 0;
}

/* The value of NAME in the service's Environment=, or NULL. */
static const char *
env_lookup(const struct sd_service *v, const char *name, size_t len)
{
	size_t i;

	for (i = v->nenv; i-- > 0;)
		if (strncmp(v->env[i], name, len) == 0 && v->env[i][len] == '=')
			return v->env[i] + len + 1;
	return NULL;
}

static bool
var_char(char c, bool first)
{
	return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (!first && c >= '0' && c <= '9');
}

/* The longest word "${NAME}" expansion may make: evd's own limit on an
 * argument is far below it. */
#define EXPAND_WORD_MAX (64 * 1024)

/*
 * Expands "${NAME}" (from Environment=) and "$$" in word s into buf (NUL
 * terminated), or only measures it with buf NULL; *ret_len: the length
 * without the NUL. Returns 0, or -1 with *why: a variable Environment=
 * does not set, or a result longer than EXPAND_WORD_MAX. Called with a
 * buf of *ret_len + 1 bytes after a measuring call on the same word, it
 * cannot fail.
 */
static int
expand_word(const struct sd_service *v, const char *s, char *buf,
	    size_t *ret_len, char *why, size_t whysize)
{
	const char *e, *val, *add;
	size_t len = 0, n;

	while (*s != '\0') {
		if (s[0] == '$' && s[1] == '$') {
			add = "$";
			n = 1;
			s += 2;
		} else if (s[0] == '$' && s[1] == '{' &&
			   (e = strchr(s, '}')) != NULL) {
			val = env_lookup(v, s + 2, (size_t)(e - s - 2));
			if (val == NULL) {
				snprintf(why, whysize,
					 "%.*s: not set by Environment=",
					 (int)(e - s + 1), s);
				return -1;
			}
			add = val;
			n = strlen(val);
			s = e + 1;
		} else {
			add = s++;
			n = 1;
		}
		if (n > EXPAND_WORD_MAX - len) {
			snprintf(why, whysize,
				 "a word of ExecStart= expands to more than "
				 "%d bytes",
				 EXPAND_WORD_MAX);
			return -1;
		}
		if (buf != NULL)
			memcpy(buf + len, add, n);
		len += n;
	}
	if (buf != NULL)
		buf[len] = '\0';
	*ret_len = len;
	return 0;
}

/*
 * ExecStart='s words, with systemd's variable expansion from
 * Environment= (unless ':'): "$NAME" as a word becomes the value's
 * words, "${NAME}" in a word the value; "$$" is '$'. A variable
 * Environment= does not set is refused (systemd would take it from the
 * manager, which evd cannot know). Adds them to p; 0 or -1 with *why.
 */
static int
exec_words(struct import *im, struct plan *p, const struct sd_service *v,
	   char **w, size_t n, bool expand, char *why, size_t whysize)
{
	const char *s, *e, *val;
	char *buf;
	size_t i, k, m, len;
	char **vw;
	const char *vwhy;

	for (i = 0; i < n; i++) {
		s = w[i];
		if (!expand || strchr(s, '$') == NULL) {
			plan_word(im, p, s);
			continue;
		}
		if (s[0] == '$' && var_char(s[1], true)) {
			for (e = s + 2; var_char(*e, false); e++)
				;
			if (*e == '\0') {
				val = env_lookup(v, s + 1, (size_t)(e - s - 1));
				if (val == NULL) {
					snprintf(why, whysize,
						 "%s: not set "
						 "by Environment=",
						 s);
					return -1;
				}
				if (unit_words(val, &vw, &m, &vwhy) < 0) {
					snprintf(why, whysize, "%s: %s", s,
						 vwhy);
					return -1;
				}
				for (k = 0; k < m; k++)
					plan_word(im, p, vw[k]);
				unit_words_free(vw);
				continue;
			}
		}
		/* ${NAME} inside a word; $$. Measured first: each ${NAME}
		 * copies its value again, as often as the word names it. */
		if (expand_word(v, s, NULL, &len, why, whysize) < 0)
			return -1;
		if ((buf = malloc(len + 1)) == NULL) {
			im->nomem = true;
			return -1;
		}
		expand_word(v, s, buf, &len, why, whysize);
		plan_word(im, p, buf);
		free(buf);
	}
	return 0;
}

/*
 * The hook part of every timer of the unit: [--cwd DIR] [--env ...]
 * [-p KEY=VALUE...] [--exec-timeout D] --exec -- ARGV. Returns 0, or -1
 * after saying why the service cannot be expressed.
 */
static int
service_words(struct import *im, struct plan *p, const char *src,
	      const struct sd_service *v)
{
	const char *s = v->exec, *why = NULL;
	bool expand = true, ignore_fail = false;
	char msg[512], **w;
	size_t i, n;

	if (v->confine_line != 0) {
		note(im, src, v->confine_line,
		     "skipped: %s=: evd cannot confine the command so; run "
		     "without it, it would have more power than the unit "
		     "gives it",
		     v->confine);
		return -1;
	}
	if (v->spec_line != 0) {
		note(im, src, v->spec_line,
		     "skipped: %%%c: import does not expand systemd "
		     "specifiers (write the value out, or '%%%%' for a '%%')",
		     v->spec);
		return -1;
	}
	for (; *s == '-' || *s == '@' || *s == ':' || *s == '+' || *s == '!' ||
	       *s == '|';
	     s++) {
		if (*s == '-') {
			ignore_fail = true;
		} else if (*s == ':') {
			expand = false;
		} else if (*s == '@') {
			note(im, src, v->exec_line,
			     "skipped: ExecStart=@: evd "
			     "cannot give a program another argv[0]");
			return -1;
		} else if (*s == '|') {
			note(im, src, v->exec_line,
			     "skipped: ExecStart=|: evd does not run commands "
			     "through your login shell (put it in the "
			     "command: /bin/bash -lc '...')");
			return -1;
		} else {
			note(im, src, v->exec_line,
			     "skipped: ExecStart=%c: "
			     "evd runs hooks as their owner, never with "
			     "more privilege",
			     *s);
			return -1;
		}
	}
	if (unit_words(s, &w, &n, &why) < 0 || n == 0) {
		note(im, src, v->exec_line, "skipped: ExecStart=: %s",
		     why != NULL ? why : "no command");
		if (why == NULL)
			unit_words_free(w);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (strcmp(w[i], ";") == 0) {
			note(im, src, v->exec_line,
			     "skipped: ExecStart= with "
			     "';' (several commands): evd runs one");
			unit_words_free(w);
			return -1;
		}
	if (ignore_fail)
		note(im, src, v->exec_line,
		     "ExecStart=-: evd still records "
		     "a non-zero exit as a failed run");
	if (v->cwd != NULL) {
		const char *d = v->cwd;
		struct stat st;

		if (d[0] == '-')
			d++;
		if (strcmp(d, "~") == 0) {
			/* The owner's home: evd's default. */
		} else if (v->cwd[0] == '-' && stat(d, &st) < 0) {
			note(im, src, v->cwd_line,
			     "WorkingDirectory=%s does "
			     "not exist; the hook runs in your home",
			     v->cwd);
		} else {
			plan_word(im, p, "--cwd");
			plan_word(im, p, d);
		}
	}
	for (i = 0; i < v->nenv; i++) {
		plan_word(im, p, "--env");
		plan_word(im, p, v->env[i]);
	}
	for (i = 0; i < v->nprops; i++) {
		plan_word(im, p, "-p");
		plan_word(im, p, v->props[i]);
	}
	if (v->timeout_ns > 0) {
		plan_word(im, p, "--exec-timeout");
		plan_duration(im, p, v->timeout_ns);
	}
	plan_word(im, p, "--exec");
	plan_word(im, p, "--");
	if (exec_words(im, p, v, w, n, expand, msg, sizeof(msg)) < 0) {
		note(im, src, v->exec_line, "skipped: ExecStart=: %s", msg);
		unit_words_free(w);
		return -1;
	}
	unit_words_free(w);
	return 0;
}

/*
 * User=: 0 for the caller (or none), 1 for another user whom root
 * imports for (*ret_pw filled: the timers are scheduled as that user,
 * who must own them since a hook runs as its timer's owner), -1 when
 * refused (said).
 */
static int
other_user(struct import *im, const char *src, const struct sd_service *v,
	   struct passwd *ret_pw)
{
	struct passwd *pw;
	uint64_t uid;

	if (v->user == NULL || strcmp(v->user, im->user) == 0)
		return 0;
	pw =
	    parse_u64(v->user, &uid) ? getpwuid((uid_t)uid) : getpwnam(v->user);
	if (pw != NULL && pw->pw_uid == geteuid())
		return 0;
	if (geteuid() != 0) {
		note(im, src, v->user_line,
		     "skipped: User=%s: only root may "
		     "import for another user",
		     v->user);
		return -1;
	}
	if (pw == NULL) {
		note(im, src, v->user_line, "skipped: User=%s: no such user",
		     v->user);
		return -1;
	}
	*ret_pw = *pw;
	return 1;
}

/* The timer options every timer of the unit gets, then the key and
 * the hook's words (from hook). */
static void
unit_plan_tail(struct import *im, struct plan *p, const struct sd_timer *t,
	       const struct plan *hook, const char *unit, const char *nth)
{
	char key[PATH_MAX];
	int at, i;

	if (t->randomized_ns > 0) {
		plan_word(im, p, "--randomized-delay");
		plan_duration(im, p, t->randomized_ns);
	}
	if (t->accuracy_ns > 0) {
		plan_word(im, p, "--accuracy");
		plan_duration(im, p, t->accuracy_ns);
	}
	at = p->nwords;
	for (i = 0; i < hook->nwords; i++)
		plan_word(im, p, hook->words[i]);
	snprintf(key, sizeof(key), "import:systemd:%s:%s", unit, nth);
	plan_key(im, p, at, key);
}

static int
import_unit(struct import *im, const char *arg)
{
	char path[PATH_MAX], spath[PATH_MAX], err[256], zbuf[256],
	    dir[PATH_MAX];
	const char *base, *found, *tz = caller_zone(zbuf, sizeof(zbuf));
	char *text = NULL, *sname = NULL, *dot;
	struct unit_file *tu = NULL, *su = NULL;
	struct sd_timer t = {0};
	struct sd_service v = {0};
	struct plan hook = {0};
	struct calendar *cal;
	char nthbuf[32], *as_user = NULL;
	struct passwd pw = {0};
	size_t first = im->n;
	int as;
	struct stat st;
	struct plan *p;
	size_t i;
	int r, nth = 0, status = 0;

	base = strrchr(arg, '/') != NULL ? strrchr(arg, '/') + 1 : arg;
	if (strlen(base) < 7 || strcmp(base + strlen(base) - 6, ".timer") != 0)
		return usage_error("%s: not a .timer unit", arg);
	if (strchr(base, '@') != NULL) {
		skip(im, base, 0,
		     "template units (NAME@.timer) need an "
		     "instance systemd would expand");
		return 0;
	}
	found = strchr(arg, '/') != NULL || stat(arg, &st) == 0
		    ? arg
		    : find_unit(NULL, arg, path, sizeof(path));
	if (found == NULL || (r = read_file(found, &text)) < 0) {
		ctl_warnx("%s: %s", arg,
			  found == NULL ? "not found in the unit "
					  "directories"
					: read_error(r));
		return EXIT_USAGE;
	}
	snprintf(dir, sizeof(dir), "%s", found);
	if ((dot = strrchr(dir, '/')) != NULL)
		*dot = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	r = unit_file_parse(text, &tu, err, sizeof(err));
	free(text);
	text = NULL;
	if (r < 0) {
		skip(im, found, 0, "%s", err);
		return 0;
	}
	if (snprintf(path, sizeof(path), "%s.d", found) < (int)sizeof(path) &&
	    stat(path, &st) == 0)
		note(im, found, 0, "drop-ins in %s are not read", path);
	if ((r = read_timer(im, found, tu, &t)) < 0)
		goto nomem;
	if (t.unit != NULL) {
		sname = strdup(t.unit);
	} else if (asprintf(&sname, "%.*s.service",
			    (int)(strlen(base) - strlen(".timer")), base) < 0) {
		sname = NULL;
	}
	if (sname == NULL)
		goto nomem;
	if (find_unit(dir, sname, spath, sizeof(spath)) == NULL) {
		skip(im, found, 0,
		     "its service %s: not found next to it "
		     "or in the unit directories",
		     sname);
		goto out;
	}
	if ((r = read_file(spath, &text)) < 0) {
		skip(im, spath, 0, "%s", read_error(r));
		goto out;
	}
	r = unit_file_parse(text, &su, err, sizeof(err));
	if (r < 0) {
		skip(im, spath, 0, "%s", err);
		goto out;
	}
	if ((r = read_service(im, spath, su, &v)) < 0)
		goto nomem;
	if (v.exec == NULL || v.nexec == 0) {
		skip(im, spath, 0, "no ExecStart=");
		goto out;
	}
	if (v.nexec > 1) {
		skip(im, spath, v.exec_line,
		     "%zu ExecStart= lines: evd runs "
		     "one command per timer (put them in a script)",
		     v.nexec);
		goto out;
	}
	if ((as = other_user(im, spath, &v, &pw)) < 0) {
		im->skipped++;
		goto out;
	}
	if (as > 0 && (as_user = strdup(pw.pw_name)) == NULL)
		goto nomem;
	if (service_words(im, &hook, spath, &v) < 0) {
		im->skipped++;
		goto out;
	}
	for (i = 0; i < t.ncal; i++) {
		if (calendar_parse(t.cal[i], &cal, err, sizeof(err)) < 0) {
			skip(im, found, t.cal_line[i], "OnCalendar=%s: %s",
			     t.cal[i], err);
			continue;
		}
		if (calendar_subsecond(cal)) {
			calendar_free(cal);
			skip(im, found, t.cal_line[i],
			     "OnCalendar=%s: evd "
			     "fires a timer at most once a second",
			     t.cal[i]);
			continue;
		}
		if ((p = plan_new(im, found, t.cal_line[i])) == NULL) {
			calendar_free(cal);
			goto nomem;
		}
		p->kind = PLAN_CALENDAR;
		p->expr = strdup(t.cal[i]);
		if (calendar_zone(cal) == NULL && tz == NULL) {
			calendar_free(cal);
			plan_drop(im);
			skip(im, found, t.cal_line[i],
			     "your time zone has "
			     "no name evd can store; name one in "
			     "OnCalendar=");
			continue;
		}
		plan_word(im, p, "on");
		plan_word(im, p, t.cal[i]);
		if (calendar_zone(cal) == NULL) {
			plan_word(im, p, "--tz");
			plan_word(im, p, tz);
			p->zone = strdup(tz);
		} else {
			p->zone = strdup(calendar_zone(cal));
		}
		calendar_free(cal);
		/* systemd catches up after downtime only with
		 * Persistent=true. */
		if (!t.persistent) {
			plan_word(im, p, "--misfire");
			plan_word(im, p, "skip");
		}
		snprintf(nthbuf, sizeof(nthbuf), "%zu", i + 1);
		unit_plan_tail(im, p, &t, &hook, base, nthbuf);
		nth++;
	}
	if (t.boot_ns >= 0 || t.active_ns >= 0 || t.unit_active_ns > 0) {
		if ((p = plan_new(im, found, 0)) == NULL)
			goto nomem;
		if (t.boot_ns >= 0) {
			/* Boot is the monotonic clock's zero. */
			if (t.active_ns >= 0)
				note(im, found, 0,
				     "OnActiveSec= with "
				     "OnBootSec=: only OnBootSec= is mapped");
			p->kind = PLAN_BOOT;
			p->delay_ns = t.boot_ns;
			plan_word(im, p, "at");
			plan_duration(im, p, t.boot_ns);
			plan_word(im, p, "--clock");
			plan_word(im, p, "monotonic");
		} else {
			p->kind = PLAN_LATER;
			p->delay_ns =
			    t.active_ns >= 0 ? t.active_ns : t.unit_active_ns;
			if (t.active_ns < 0)
				note(im, found, 0,
				     "OnUnitActiveSec= alone: "
				     "the first run is one interval after the "
				     "import");
			plan_word(im, p, "later");
			plan_duration(im, p, p->delay_ns);
			/* As systemd's monotonic timers: time while the
			 * machine is off does not count. */
			plan_word(im, p, "--downtime");
			plan_word(im, p, "paused");
		}
		if (t.unit_active_ns > 0) {
			plan_word(im, p, "--every");
			plan_duration(im, p, t.unit_active_ns);
		}
		unit_plan_tail(im, p, &t, &hook, base, "monotonic");
		nth++;
	}
	if (nth == 0)
		skip(im, found, 0,
		     "no OnCalendar=, OnActiveSec=, OnBootSec= "
		     "or OnUnitActiveSec= evd can express");
	for (i = first; as_user != NULL && i < im->n; i++) {
		if ((im->plans[i].as_user = strdup(as_user)) == NULL)
			goto nomem;
		im->plans[i].uid = pw.pw_uid;
		im->plans[i].gid = pw.pw_gid;
	}
	goto out;
nomem:
	im->nomem = true;
out:
	free(text);
	free(sname);
	unit_file_free(tu);
	unit_file_free(su);
	free_list(t.cal, t.ncal);
	free(t.unit);
	free(v.exec);
	free(v.cwd);
	free_list(v.env, v.nenv);
	free_list(v.props, v.nprops);
	free(v.user);
	plan_clear(&hook);
	free(as_user);
	return status;
}

/* ---- output ---- */

/*
 * Whether the plan's words are a command line evctl takes (as batch
 * will parse them): a program --exec names must exist, and so on. A
 * refusal is said on stderr by parse_args; this adds where it came from.
 */
static bool
plan_valid(struct import *im, struct plan *p)
{
	size_t n = (size_t)p->nwords + 2;
	char **argv = calloc(n, sizeof(*argv));
	char **operands = calloc(n, sizeof(*operands));
	const char **env = calloc(n, sizeof(*env));
	const char **props = calloc(n, sizeof(*props));
	char **passed = calloc(n, sizeof(*passed));
	struct ctl lx = {0};
	bool ok = false;
	size_t i;
	int r;

	if (argv == NULL || operands == NULL || env == NULL || props == NULL ||
	    passed == NULL) {
		im->nomem = true;
		goto out;
	}
	argv[0] = (char *)"evctl";
	for (i = 0; i < (size_t)p->nwords; i++)
		argv[i + 1] = p->words[i];
	lx.exec_at = -1;
	lx.env = env;
	lx.props = props;
	lx.passed = passed;
	r = parse_args(&lx, p->nwords + 1, argv, operands);
	for (i = 0; i < lx.npassed; i++)
		free(lx.passed[i]);
	ok = r == 0;
	if (!ok) {
		if (p->line > 0)
			note(im, p->src, p->line,
			     "skipped: evctl refuses "
			     "the command above");
		else
			note(im, p->src, 0,
			     "skipped: evctl refuses the "
			     "command above");
	}
out:
	free(argv);
	free(operands);
	free(env);
	free(props);
	free(passed);
	return ok;
}

/* "FILE:LINE" or "FILE". */
static const char *
where(const struct plan *p, char *buf, size_t size)
{
	if (p->line > 0)
		snprintf(buf, size, "%s:%u", p->src, p->line);
	else
		snprintf(buf, size, "%s", p->src);
	return buf;
}

/* The first fire as the dry run says it: "next: Mon 2027-01-04
 * 02:30:00 CET (in 2h)" from after_ns, or how long after the import
 * or boot. *ret_ns: the instant, or -1. */
static const char *
plan_first(const struct ctl *x, const struct plan *p, char *buf, size_t size,
	   int64_t *ret_ns)
{
	char h[WHEN_HUMAN_MAX], l[LEFT_HUMAN_MAX + 8], err[CALENDAR_ERROR_MAX];
	struct calendar *cal;
	int64_t ns;

	*ret_ns = -1;
	if (p->kind == PLAN_LATER) {
		snprintf(buf, size, "first: %s after the import",
			 left_human(p->delay_ns, l, sizeof(l)));
		return buf;
	}
	if (p->kind == PLAN_BOOT) {
		snprintf(buf, size, "first: %s after boot",
			 left_human(p->delay_ns, l, sizeof(l)));
		return buf;
	}
	if (calendar_parse(p->expr, &cal, err, sizeof(err)) < 0 ||
	    calendar_next(cal, p->zone, CALENDAR_GAP_SHIFT,
			  CALENDAR_OVERLAP_FIRST, x->after_ns, &ns) < 0) {
		calendar_free(cal);
		snprintf(buf, size, "next: never");
		return buf;
	}
	calendar_free(cal);
	*ret_ns = ns;
	snprintf(buf, size, "next: %s (%s)",
		 when_human(ns, p->zone, h, sizeof(h)),
		 in_or_ago(ns - x->after_ns, l, sizeof(l)));
	return buf;
}

static void
jw_plan(struct jw *w, const struct plan *p, const char *cmd)
{
	jw_str(w, "source", p->src);
	if (p->line > 0)
		jw_u64(w, "line", p->line);
	else
		jw_str(w, "line", NULL);
	jw_str(w, "command", cmd);
	jw_str(w, "key", p->key);
	jw_str(w, "user", p->as_user);
}

/*
 * A plan's words as the dry run prints them: quoted as shell_words()
 * does, except a word a terminal would not show as it is (a control
 * character other than a newline, invalid UTF-8: bytes from the input
 * file), which is written $'...' with escape_text's escapes and \' for
 * a quote: bash reads it back to the same bytes. Malloc'ed; NULL on
 * ENOMEM.
 */
static char *
dry_words(const struct plan *p)
{
	char *buf = NULL, *q, *e;
	size_t size = 0, len, n;
	FILE *f;
	int i;

	if ((f = open_memstream(&buf, &size)) == NULL)
		return NULL;
	for (i = 0; i < p->nwords; i++) {
		const char *w = p->words[i];

		if (i > 0)
			fputc(' ', f);
		len = strlen(w);
		if (escape_is_plain(w, len, true)) {
			if ((q = shell_words(&w, 1)) == NULL)
				goto nomem;
			fputs(q, f);
			free(q);
			continue;
		}
		n = len * ESCAPE_MAX_EXPANSION + 1;
		if ((e = malloc(n)) == NULL)
			goto nomem;
		escape_text(e, n, w, len);
		fputs("$'", f);
		for (q = e; *q != '\0'; q++)
			if (*q == '\'')
				fputs("\\'", f);
			else
				fputc(*q, f);
		fputc('\'', f);
		free(e);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
nomem:
	fclose(f);
	free(buf);
	return NULL;
}

/* The plans as the dry run prints them. */
static int
print_dry(struct import *im, bool *valid)
{
	struct ctl *x = im->x;
	char first[256], wh[PATH_MAX + 16], t[TIMEFMT_TIME_MAX], *cmd;
	unsigned n = 0;
	int64_t ns;
	struct jw w;
	size_t i;

	for (i = 0; i < im->n; i++) {
		struct plan *p = &im->plans[i];

		if (!valid[i])
			continue;
		n++;
		cmd = x->json ? shell_words((const char *const *)p->words,
					    (size_t)p->nwords)
			      : dry_words(p);
		if (cmd == NULL) {
			im->nomem = true;
			return 0;
		}
		plan_first(x, p, first, sizeof(first), &ns);
		if (x->json) {
			jw_begin(&w);
			jw_plan(&w, p, cmd);
			jw_str(&w, "first", first);
			if (ns >= 0)
				jw_str(&w, "next", iso(ns, true, t, sizeof(t)));
			else
				jw_str(&w, "next", NULL);
			jw_bool(&w, "dry_run", true);
			jw_end(&w);
		} else {
			/* cmd is escaped; the rest comes from the input
			 * too (file name, user). */
			if (p->as_user) {
				fputs("runuser -u ", stdout);
				put_text(p->as_user, strlen(p->as_user));
				fputs(" -- ", stdout);
			}
			printf("evctl %s  # ", cmd);
			where(p, wh, sizeof(wh));
			put_text(wh, strlen(wh));
			printf(", %s\n", first);
		}
		free(cmd);
	}
	if (x->json) {
		jw_begin(&w);
		jw_bool(&w, "dry_run", true);
		jw_u64(&w, "timers", n);
		jw_u64(&w, "skipped", im->skipped);
		jw_end(&w);
	} else {
		printf("# %u timer%s to schedule, %u entr%s skipped\n", n,
		       n == 1 ? "" : "s", im->skipped,
		       im->skipped == 1 ? "y" : "ies");
	}
	return 0;
}

/* One result as a child sends it to its parent. */
struct as_result {
	int32_t status;
	uint32_t errlen;
	uint64_t timer_id;
	int64_t due_realtime_ns;
	uint8_t existing;
};

static int
write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Root importing a unit with User=NAME: the timers must be NAME's (a
 * hook runs as its timer's owner, and evd takes the owner from the
 * connection's peer), so a child drops to NAME's uid, gids and groups,
 * connects to the same socket and submits them, and sends the results
 * back on a pipe. evctl is single-threaded here, so fork is safe. A
 * result the child could not send stays EXIT_UNREACHABLE.
 */
static int
submit_as(struct ctl *x, const struct plan *p, struct batch_req *reqs, size_t n)
{
	struct as_result ar;
	int fds[2], st, r;
	struct ctl cx;
	size_t i;
	pid_t pid;

	for (i = 0; i < n; i++)
		reqs[i].status = EXIT_UNREACHABLE;
	if (pipe2(fds, O_CLOEXEC) < 0) {
		ctl_warnx("pipe: %s", strerror(errno));
		return EXIT_UNREACHABLE;
	}
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		ctl_warnx("fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return EXIT_UNREACHABLE;
	}
	if (pid == 0) {
		close(fds[0]);
		if (initgroups(p->as_user, p->gid) < 0 ||
		    setresgid(p->gid, p->gid, p->gid) < 0 ||
		    setresuid(p->uid, p->uid, p->uid) < 0 ||
		    geteuid() != p->uid) {
			ctl_warnx("becoming %s: %s", p->as_user,
				  strerror(errno));
			_exit(EXIT_UNREACHABLE);
		}
		/* The parent's connection is root's: a new one as the
		 * user, to the socket the parent found. */
		cx = *x;
		cx.c = NULL;
		cx.socket = x->path;
		if ((r = ctl_connect(&cx)) != 0)
			_exit(r);
		r = batch_submit(&cx, reqs, n);
		for (i = 0; i < n; i++) {
			memset(&ar, 0, sizeof(ar));
			ar.status = reqs[i].status;
			ar.timer_id = reqs[i].timer_id;
			ar.due_realtime_ns = reqs[i].due_realtime_ns;
			ar.existing = reqs[i].existing;
			ar.errlen = reqs[i].errmsg != NULL
					? (uint32_t)strlen(reqs[i].errmsg)
					: 0;
			if (write_full(fds[1], &ar, sizeof(ar)) < 0 ||
			    write_full(fds[1], reqs[i].errmsg, ar.errlen) < 0)
				_exit(EXIT_UNREACHABLE);
		}
		evc_close(cx.c);
		_exit(r);
	}
	close(fds[1]);
	for (i = 0; i < n; i++) {
		if (read_full(fds[0], &ar, sizeof(ar)) < 0 || ar.errlen > 65536)
			break;
		reqs[i].status = ar.status;
		reqs[i].timer_id = ar.timer_id;
		reqs[i].due_realtime_ns = ar.due_realtime_ns;
		reqs[i].existing = ar.existing != 0;
		if (ar.errlen > 0) {
			reqs[i].errmsg = calloc(1, ar.errlen + 1);
			if (reqs[i].errmsg == NULL ||
			    read_full(fds[0], reqs[i].errmsg, ar.errlen) < 0)
				break;
		}
	}
	close(fds[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st))
		return EXIT_UNREACHABLE;
	return WEXITSTATUS(st) == EXIT_UNREACHABLE ? EXIT_UNREACHABLE : 0;
}

/* Submits reqs[0..n) (the valid plans, in order): the caller's own on
 * x's connection, each other user's (root, User=) from a child. */
static int
submit_groups(struct import *im, bool *valid, struct batch_req *reqs, size_t n)
{
	struct plan **pp = im->pp = calloc(n + 1, sizeof(*pp));
	struct batch_req *tmp = im->tmp = calloc(n + 1, sizeof(*tmp));
	size_t *idx = im->idx = calloc(n + 1, sizeof(*idx));
	bool *done = im->done = calloc(n + 1, 1);
	size_t i, k, m, g;
	int r, rc = 0;

	if (pp == NULL || tmp == NULL || idx == NULL || done == NULL) {
		im->nomem = true;
		goto out;
	}
	for (i = 0, k = 0; i < im->n; i++)
		if (valid[i])
			pp[k++] = &im->plans[i];
	/* Group g: the plans whose as_user is that of the first plan not
	 * done yet (the caller's: NULL). */
	for (g = 0; g < n; g++) {
		if (done[g])
			continue;
		for (m = 0, i = g; i < n; i++) {
			if (done[i] ||
			    (pp[i]->as_user == NULL) !=
				(pp[g]->as_user == NULL) ||
			    (pp[g]->as_user != NULL &&
			     strcmp(pp[i]->as_user, pp[g]->as_user) != 0))
				continue;
			done[i] = true;
			idx[m] = i;
			tmp[m] = reqs[i];
			m++;
		}
		r = pp[g]->as_user == NULL ? batch_submit(im->x, tmp, m)
					   : submit_as(im->x, pp[g], tmp, m);
		for (i = 0; i < m; i++)
			reqs[idx[i]] = tmp[i];
		if (r != 0 && rc == 0)
			rc = r;
	}
out:
	free(pp);
	free(tmp);
	free(idx);
	free(done);
	im->pp = NULL;
	im->tmp = NULL;
	im->idx = NULL;
	im->done = NULL;
	return rc;
}

/* Sends the valid plans through batch_submit and prints each result,
 * then the summary. Returns the worst refusal's status, or 0. */
static int
submit(struct import *im, bool *valid)
{
	struct ctl *x = im->x;
	char wh[PATH_MAX + 16], h[WHEN_HUMAN_MAX], l[LEFT_HUMAN_MAX + 8];
	char t[TIMEFMT_TIME_MAX], *cmd;
	struct batch_req *reqs;
	unsigned fresh = 0, old = 0, refused = 0;
	size_t i, k, n = 0;
	int r, status = 0;
	struct jw w;

	reqs = calloc(im->n + 1, sizeof(*reqs));
	if (reqs == NULL) {
		im->nomem = true;
		return 0;
	}
	for (i = 0; i < im->n; i++)
		if (valid[i]) {
			reqs[n].words = im->plans[i].words;
			reqs[n].nwords = im->plans[i].nwords;
			n++;
		}
	r = submit_groups(im, valid, reqs, n);
	for (i = 0, k = 0; i < im->n; i++) {
		struct plan *p = &im->plans[i];
		struct batch_req *q;

		if (!valid[i])
			continue;
		q = &reqs[k++];
		if (q->status != 0) {
			if (q->errmsg != NULL)
				note(im, p->src, p->line, "refused: %s",
				     q->errmsg);
			if (q->status > status && exit_is_refusal(q->status))
				status = q->status;
			refused++;
			continue;
		}
		if (q->existing)
			old++;
		else
			fresh++;
		if (x->json) {
			cmd = shell_words((const char *const *)p->words,
					  (size_t)p->nwords);
			jw_begin(&w);
			jw_plan(&w, p, cmd);
			jw_u64(&w, "timer_id", q->timer_id);
			jw_bool(&w, "existing", q->existing);
			jw_str(&w, "next",
			       iso(q->due_realtime_ns, true, t, sizeof(t)));
			jw_end(&w);
			free(cmd);
		} else {
			printf("%" PRIu64 " %s ", q->timer_id,
			       q->existing ? "existing" : "new");
			where(p, wh, sizeof(wh));
			put_text(wh, strlen(wh));
			if (p->as_user) {
				fputs(" (as ", stdout);
				put_text(p->as_user, strlen(p->as_user));
				fputs(")", stdout);
			}
			printf(
			    "  next: %s (%s)\n",
			    when_human(q->due_realtime_ns,
				       p->kind == PLAN_CALENDAR ? p->zone
								: NULL,
				       h, sizeof(h)),
			    in_or_ago(q->due_realtime_ns - realtime_now_ns(), l,
				      sizeof(l)));
		}
	}
	for (i = 0; i < n; i++)
		free(reqs[i].errmsg);
	free(reqs);
	if (x->json) {
		jw_begin(&w);
		jw_u64(&w, "timers", fresh + old);
		jw_u64(&w, "new", fresh);
		jw_u64(&w, "existing", old);
		jw_u64(&w, "skipped", im->skipped);
		jw_u64(&w, "refused", refused);
		jw_end(&w);
	} else {
		printf("%u timer%s: %u new, %u already there; %u entr%s "
		       "skipped",
		       fresh + old, fresh + old == 1 ? "" : "s", fresh, old,
		       im->skipped, im->skipped == 1 ? "y" : "ies");
		if (refused > 0)
			printf(", %u refused by evd", refused);
		putchar('\n');
	}
	if (r != 0)
		return r;
	return status != 0 ? status : refused > 0 ? EXIT_REFUSED : 0;
}

/*
 * import crontab [FILE|-] | import systemd-timer UNIT.timer...
 * Exit status: 0 when every entry became a timer; 1 when one was
 * skipped (said on stderr with its line) or evd refused one (or that
 * refusal's class, 4-8); 2 usage or an unreadable file; 3 evd cannot
 * be reached.
 */
int
verb_import(struct ctl *x)
{
	struct import im = {.x = x};
	struct passwd *pw = getpwuid(geteuid());
	bool *valid = NULL;
	size_t i;
	int r = 0;

	if (pw != NULL)
		snprintf(im.user, sizeof(im.user), "%s", pw->pw_name);
	if (strcmp(x->args[0], "crontab") == 0) {
		r = import_crontab(&im);
	} else if (strcmp(x->args[0], "systemd-timer") == 0) {
		if (x->nargs < 2)
			return usage_error("import systemd-timer takes one or "
					   "more UNIT.timer");
		for (i = 1; i < (size_t)x->nargs && r == 0 && !im.nomem; i++)
			r = import_unit(&im, x->args[i]);
	} else {
		return usage_error("import what? 'crontab' or "
				   "'systemd-timer', not '%s'",
				   x->args[0]);
	}
	if (r == 0 && !im.nomem && (valid = calloc(im.n + 1, 1)) == NULL)
		im.nomem = true;
	if (r == 0 && !im.nomem) {
		for (i = 0; i < im.n; i++) {
			valid[i] = plan_valid(&im, &im.plans[i]);
			if (!valid[i])
				im.skipped++;
		}
		if (x->opts_seen & OPT_DRY_RUN)
			r = print_dry(&im, valid);
		else if ((r = ctl_connect(x)) == 0)
			r = submit(&im, valid);
	}
	if (im.nomem && r == 0) {
		ctl_warnx("out of memory");
		r = EXIT_UNREACHABLE;
	}
	for (i = 0; i < im.n; i++)
		plan_clear(&im.plans[i]);
	free(im.plans);
	free(valid);
	if (r == 0 && im.skipped > 0)
		r = EXIT_REFUSED;
	i = (size_t)check_stdout();
	return r != 0 ? r : (int)i;
}
