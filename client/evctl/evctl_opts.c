/*
 * evctl_opts: the option table and the command-line parser. Options are
 * parsed once, anywhere on the line, into struct ctl; a verb's row says
 * which verb-specific ones apply, and parse_args refuses the others.
 * Values are checked here, before anything is sent: a bad value is a
 * usage error (exit 2) naming the option. Nothing here talks to evd.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "evctl.h"
#include "suggest.h"

#ifndef EVD_VERSION
#define EVD_VERSION "unknown"
#endif

/* The index of v in names, or -1. */
static int
name_index(const char *const *names, size_t n, const char *v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], v) == 0)
			return (int)i;
	return -1;
}

/* Decimal digits only, no sign, no overflow. */
bool
parse_u64(const char *s, uint64_t *ret)
{
	uint64_t v = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - (*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*ret = v;
	return true;
}

/* Fixed sets of values, which set_option checks and the completions
 * offer (and the names of evctl_print.c's). */
static const char *const clock_names[] = {"monotonic", "boottime",
					  "realtime"};

const struct option_def options[] = {
    {"--socket", true, 0},
    {"--json", false, 0},
    {"--timeout", true, 0},
    {"--help", false, 0},
    {"-h", false, 0},
    {"--version", false, 0},
    {"--channel", true, OPT_CHANNEL},
    {"--payload", true, OPT_PAYLOAD},
    {"--key", true, OPT_KEY},
    {"--clock", true, OPT_CLOCK},
    {"--count", true, OPT_COUNT},
    {"--misfire", true, OPT_MISFIRE},
    {"--delivery", true, OPT_DELIVERY},
    {"--max-attempts", true, OPT_MAX_ATTEMPTS},
    {"--downtime", true, OPT_DOWNTIME},
    {"--visibility", true, OPT_VISIBILITY},
    {"--requeue", false, OPT_REQUEUE},
    {"--purge", false, OPT_PURGE},
    {"--exec", false, OPT_EXEC},
    {"--shell", true, OPT_SHELL},
    {"--cwd", true, OPT_CWD},
    {"--env", true, OPT_ENV},
    {"--exec-timeout", true, OPT_EXEC_TIMEOUT},
    {"--property", true, OPT_PROPERTY},
    {"-p", true, OPT_PROPERTY},
    {"--retry", true, OPT_RETRY},
    {"--retry-delay", true, OPT_RETRY_DELAY},
    {"--on-failure", true, OPT_ON_FAILURE},
    {"--pass-env", true, OPT_PASS_ENV},
    {"--uid", true, OPT_UID},
    {"--gid", true, OPT_GID},
    {"--subscribe", false, OPT_SUBSCRIBE},
    {"--publish", false, OPT_PUBLISH},
    {"--tz", true, OPT_TZ},
    {"-n", true, OPT_ITERATIONS},
    {"--after", true, OPT_AFTER},
    {"--dst-gap", true, OPT_DST_GAP},
    {"--dst-overlap", true, OPT_DST_OVERLAP},
    {"--every", true, OPT_EVERY},
    {"--overlap", true, OPT_OVERLAP},
    {"--randomized-delay", true, OPT_RANDOMIZED_DELAY},
    {"--accuracy", true, OPT_ACCURACY},
    {"--reschedule-in", true, OPT_RESCHEDULE},
    {"--reschedule-at", true, OPT_RESCHEDULE},
    {"--quiet", false, OPT_QUIET},
    {"-q", false, OPT_QUIET},
    {"--wide", false, OPT_WIDE},
    {"--all", false, OPT_ALL},
    {"--failed", false, OPT_FAILED},
    {"--allow-past", false, OPT_ALLOW_PAST},
    {"--concurrency", true, OPT_CONCURRENCY},
    {"--next", false, OPT_NEXT},
    {"--dry-run", false, OPT_DRY_RUN},
    {"--listen", true, OPT_LISTEN},
    {"--no-open", false, OPT_NO_OPEN},
};

const size_t noptions = sizeof(options) / sizeof(options[0]);

/*
 * What the values of options are, for the shell completions
 * (evctl_complete.c): the options of the table above that take a file,
 * a channel, a zone, or one of a fixed set (the arrays set_option checks
 * against). `evctl completion` fails, and with it the build, on a row
 * here that names no option.
 */
#define WORDS(a) VAL_WORDS, a, sizeof(a) / sizeof(a[0])
const struct option_value option_values[] = {
    {"--socket", VAL_FILE, NULL, 0},
    {"--channel", VAL_CHANNEL, NULL, 0},
    {"--on-failure", VAL_CHANNEL, NULL, 0},
    {"--clock", WORDS(clock_names)},
    {"--misfire", WORDS(misfire_names)},
    {"--delivery", WORDS(delivery_names)},
    {"--downtime", WORDS(downtime_names)},
    {"--overlap", WORDS(run_overlap_names)},
    {"--dst-gap", VAL_DST_GAP, NULL, 0},
    {"--dst-overlap", VAL_DST_OVERLAP, NULL, 0},
    {"--tz", VAL_ZONE, NULL, 0},
    {"--cwd", VAL_DIR, NULL, 0},
    {"--pass-env", VAL_ENV, NULL, 0},
};
#undef WORDS

const size_t noption_values =
    sizeof(option_values) / sizeof(option_values[0]);

/* Applies one option; returns 0, an exit status, or -1 for "exit 0". */
static int
set_option(struct ctl *x, const struct option_def *o, const char *v)
{
	struct timefmt_when w;
	uint64_t n;
	int k;

	x->opts_seen |= o->bit;
	if (strcmp(o->name, "--socket") == 0) {
		x->socket = v;
	} else if (strcmp(o->name, "--json") == 0) {
		x->json = true;
	} else if (strcmp(o->name, "--timeout") == 0) {
		if (timefmt_parse_duration(v, &x->timeout_ns) < 0)
			return usage_error("invalid duration '%s' for "
					   "--timeout",
					   v);
		x->has_timeout = true;
	} else if (strcmp(o->name, "--version") == 0) {
		printf("evctl %s\n", EVD_VERSION);
		return -1;
	} else if (o->bit == OPT_CHANNEL) {
		if ((x->channel = channel_arg(v, 2)) == NULL)
			return EXIT_USAGE;
	} else if (o->bit == OPT_ALL) {
		x->all = true;
	} else if (o->bit == OPT_PAYLOAD) {
		x->payload = v;
	} else if (o->bit == OPT_KEY) {
		x->key = v;
	} else if (o->bit == OPT_CLOCK) {
		if (name_index(clock_names, 3, v) < 0)
			return usage_error("unknown clock '%s' (monotonic, "
					   "boottime, realtime)",
					   v);
		x->clock_name = v;
	} else if (o->bit == OPT_COUNT) {
		if (!parse_u64(v, &x->count) || x->count == 0)
			return usage_error("--count takes a positive integer, "
					   "not '%s'",
					   v);
	} else if (o->bit == OPT_MISFIRE) {
		k = name_index(misfire_names, 3, v);
		if (k < 0)
			return usage_error("unknown misfire policy '%s' (fire, "
					   "skip, all)",
					   v);
		x->topts.misfire = k;
	} else if (o->bit == OPT_DELIVERY) {
		k = name_index(delivery_names, 2, v);
		if (k < 0)
			return usage_error("unknown delivery '%s' "
					   "(at-least-once, at-most-once)",
					   v);
		x->topts.delivery = k;
	} else if (o->bit == OPT_DOWNTIME) {
		k = name_index(downtime_names, 2, v);
		if (k < 0)
			return usage_error("unknown downtime policy '%s' "
					   "(counts, paused)",
					   v);
		x->topts.downtime = k;
	} else if (o->bit == OPT_MAX_ATTEMPTS) {
		if (!parse_u64(v, &n) || n == 0 || n > UINT32_MAX)
			return usage_error("--max-attempts takes a positive "
					   "integer, not '%s'",
					   v);
		x->topts.max_attempts = (uint32_t)n;
	} else if (o->bit == OPT_VISIBILITY) {
		if (timefmt_parse_duration(v, &x->visibility_ns) < 0)
			return usage_error("invalid duration '%s' for "
					   "--visibility",
					   v);
	} else if (o->bit == OPT_SHELL) {
		x->shell = v;
	} else if (o->bit == OPT_CWD) {
		x->cwd = v;
	} else if (o->bit == OPT_ENV) {
		if (strchr(v, '=') == NULL || v[0] == '=')
			return usage_error("--env takes KEY=VALUE, not '%s'",
					   v);
		/* x->env has room for every argument (main). */
		x->env[x->nenv++] = v;
	} else if (o->bit == OPT_PROPERTY) {
		/* Passed through: the daemon judges the key (its whitelist
		 * is its own business). */
		if (strchr(v, '=') == NULL || v[0] == '=')
			return usage_error("--property takes KEY=VALUE, not "
					   "'%s'",
					   v);
		x->props[x->nprops++] = v;
	} else if (o->bit == OPT_RETRY) {
		if (!parse_u64(v, &n) || n > UINT32_MAX)
			return usage_error("--retry takes a count, not '%s'",
					   v);
		x->retry = (uint32_t)n;
	} else if (o->bit == OPT_RETRY_DELAY) {
		if (timefmt_parse_duration_words(v, &x->retry_delay_ns) < 0 ||
		    x->retry_delay_ns <= 0)
			return usage_error("--retry-delay takes a positive "
					   "duration (10s, 5m), not '%s'",
					   v);
	} else if (o->bit == OPT_ON_FAILURE) {
		if ((x->on_failure = channel_arg(v, 1)) == NULL)
			return EXIT_USAGE;
	} else if (o->bit == OPT_PASS_ENV) {
		const char *val = getenv(v);
		char *e;

		if (v[0] == '\0' || strchr(v, '=') != NULL)
			return usage_error("--pass-env takes a variable name, "
					   "not '%s'",
					   v);
		if (val == NULL)
			return usage_error("--pass-env %s: no such variable "
					   "in the environment",
					   v);
		if ((e = malloc(strlen(v) + strlen(val) + 2)) == NULL)
			return usage_error("out of memory");
		sprintf(e, "%s=%s", v, val);
		x->passed[x->npassed++] = e;
		x->env[x->nenv++] = e;
	} else if (o->bit == OPT_EXEC_TIMEOUT) {
		if (timefmt_parse_duration(v, &x->exec_timeout_ns) < 0)
			return usage_error("invalid duration '%s' for "
					   "--exec-timeout",
					   v);
	} else if (o->bit == OPT_UID || o->bit == OPT_GID) {
		if (!parse_u64(v, &n) || n > UINT32_MAX)
			return usage_error("%s takes a numeric id, not '%s'",
					   o->name, v);
		x->grant_id = (uint32_t)n;
		if (o->bit == OPT_UID)
			x->has_uid = true;
		else
			x->has_gid = true;
	} else if (o->bit == OPT_TZ) {
		if (!calendar_zone_valid(v))
			return usage_error("unknown time zone '%s' for --tz "
					   "(see /usr/share/zoneinfo)",
					   v);
		x->tz = v;
	} else if (o->bit == OPT_ITERATIONS) {
		if (!parse_u64(v, &x->iterations) || x->iterations == 0 ||
		    x->iterations > 100000)
			return usage_error("-n takes an integer from 1 to "
					   "100000, not '%s'",
					   v);
	} else if (o->bit == OPT_AFTER) {
		/* Read in main, once --tz is known. */
		x->after_text = v;
	} else if (o->bit == OPT_EVERY) {
		if (timefmt_parse_duration_words(v, &x->rep.every_ns) < 0 ||
		    x->rep.every_ns <= 0)
			return usage_error("--every takes a positive duration "
					   "(10s, 5m, '2 hours'), not '%s'",
					   v);
	} else if (o->bit == OPT_OVERLAP) {
		k = name_index(run_overlap_names, 4, v);
		if (k < 0)
			return usage_error("unknown overlap policy '%s' (skip, "
					   "queue-one, allow, "
					   "terminate-previous)",
					   v);
		x->rep.overlap = k;
	} else if (o->bit == OPT_RANDOMIZED_DELAY || o->bit == OPT_ACCURACY) {
		if (timefmt_parse_duration_words(
			v, o->bit == OPT_ACCURACY
			       ? &x->rep.accuracy_ns
			       : &x->rep.randomized_delay_ns) < 0)
			return usage_error("invalid duration '%s' for %s", v,
					   o->name);
	} else if (o->bit == OPT_RESCHEDULE) {
		if ((x->reschedule_in || x->reschedule_at != NULL))
			return usage_error("--reschedule-in and "
					   "--reschedule-at exclude each "
					   "other");
		if (strcmp(o->name, "--reschedule-in") == 0) {
			if (timefmt_parse_duration_words(
				v, &x->reschedule_ns) < 0)
				return usage_error("invalid duration '%s' "
						   "for --reschedule-in",
						   v);
			x->reschedule_in = true;
		} else {
			/* Checked now, read again at each ack. */
			if (parse_when(x, v, &w) < 0)
				return usage_error("invalid time '%s' for "
						   "--reschedule-at",
						   v);
			x->reschedule_at = v;
		}
	} else if (o->bit == OPT_DST_GAP) {
		if (calendar_gap_from_name(v, &x->gap) < 0)
			return usage_error("unknown --dst-gap policy '%s' "
					   "(shift, skip, utc)",
					   v);
	} else if (o->bit == OPT_LISTEN) {
		x->listen = v; /* checked by verb_ui */
	} else if (o->bit == OPT_CONCURRENCY) {
		if (!parse_u64(v, &n) || n == 0 || n > 256)
			return usage_error("invalid --concurrency '%s' (1 to "
					   "256)",
					   v);
		x->concurrency = (uint32_t)n;
	} else if (o->bit == OPT_DST_OVERLAP) {
		if (calendar_overlap_from_name(v, &x->overlap) < 0)
			return usage_error("unknown --dst-overlap policy '%s' "
					   "(first, second, both)",
					   v);
	}
	return 0;
}

/* Whether path is a regular file the caller may execute. */
static bool
executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

/*
 * --exec's program and --cwd, checked when the timer is scheduled, as
 * systemd-run checks its binary, rather than failing at its first fire:
 * PROG must be an executable file, found through $PATH when it has no
 * '/', and --cwd a directory the caller may enter. (The hook runs as the
 * caller, so the caller's view is the one that counts; a sandbox of the
 * daemon's may still hide a path, which the fire reports.) The program
 * found replaces PROG as an absolute path (x->exec_path), so the hook
 * runs what was checked: evd's PATH and the hook's directory are not
 * the caller's.
 */
static int
check_hook(struct ctl *x, char **operands)
{
	const char *prog, *path, *p, *end;
	char buf[PATH_MAX], cwd[PATH_MAX];
	struct stat st;
	size_t len;
	int n;

	if (x->cwd != NULL) {
		if (stat(x->cwd, &st) < 0)
			return usage_error("--cwd %s: %s", x->cwd,
					   strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return usage_error("--cwd %s: not a directory",
					   x->cwd);
		if (access(x->cwd, X_OK) < 0)
			return usage_error("--cwd %s: %s", x->cwd,
					   strerror(errno));
	}
	if (!(x->opts_seen & OPT_EXEC))
		return 0;
	prog = operands[x->exec_at];
	if (strchr(prog, '/') != NULL) {
		if (!executable(prog))
			return usage_error("--exec %s: %s", prog,
					   access(prog, F_OK) < 0
					       ? "no such file"
					       : "not an executable file");
		if (prog[0] == '/')
			return 0;
		if (getcwd(cwd, sizeof(cwd)) == NULL)
			return usage_error("--exec %s: cannot make it absolute: "
					   "%s",
					   prog, strerror(errno));
		n = snprintf(x->exec_path, sizeof(x->exec_path), "%s/%s",
			     strcmp(cwd, "/") == 0 ? "" : cwd, prog);
		if (n < 0 || (size_t)n >= sizeof(x->exec_path))
			return usage_error("--exec %s: its absolute path is too "
					   "long",
					   prog);
		operands[x->exec_at] = x->exec_path;
		return 0;
	}
	if ((path = getenv("PATH")) == NULL || path[0] == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p != '\0'; p = *end == ':' ? end + 1 : end) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		len = (size_t)(end - p);
		/* An empty PATH entry is the current directory. */
		if (len == 0 && getcwd(cwd, sizeof(cwd)) == NULL)
			continue;
		n = snprintf(buf, sizeof(buf), "%.*s/%s",
			     (int)(len > 0 ? len : strlen(cwd)),
			     len > 0 ? p : cwd, prog);
		if (n < 0 || (size_t)n >= sizeof(buf) || !executable(buf))
			continue;
		if (buf[0] != '/') {
			/* A relative PATH entry ("bin"). */
			if (getcwd(cwd, sizeof(cwd)) == NULL)
				continue;
			n = snprintf(x->exec_path, sizeof(x->exec_path),
				     "%s/%s", cwd, buf);
			if (n < 0 || (size_t)n >= sizeof(x->exec_path))
				continue;
		} else {
			memcpy(x->exec_path, buf, (size_t)n + 1);
		}
		operands[x->exec_at] = x->exec_path;
		return 0;
	}
	return usage_error("--exec %s: not found in PATH (%s)", prog, path);
}

/* "Did you mean": the nearest option name (the part before any '='). */
static int
unknown_option(const char *a, size_t namelen)
{
	const char *names[sizeof(options) / sizeof(options[0])];
	char name[SUGGEST_NAME_MAX + 1];
	const char *near = NULL;
	size_t i;

	for (i = 0; i < noptions; i++)
		names[i] = options[i].name;
	if (namelen < sizeof(name)) {
		memcpy(name, a, namelen);
		name[namelen] = '\0';
		near = suggest_nearest(name, names, sizeof(names) /
							sizeof(names[0]));
	}
	if (near != NULL)
		return usage_error("unknown option '%s'; did you mean '%s'?",
				   a, near);
	return usage_error("unknown option '%s'", a);
}

/* The nearest verb of the table, or NULL; hidden verbs are never
 * suggested. */
const char *
verb_suggest(const char *word)
{
	const char *names[64];
	size_t i, n = 0;

	for (i = 0; i < nverbs && n < sizeof(names) / sizeof(names[0]); i++)
		if (!(verbs[i].flags & VERB_HIDDEN))
			names[n++] = verbs[i].name;
	return suggest_nearest(word, names, n);
}

static int
unknown_verb(const char *verb)
{
	const char *near = verb_suggest(verb);

	if (near != NULL)
		return usage_error("unknown verb '%s'; did you mean '%s'?",
				   verb, near);
	return usage_error("unknown verb '%s'", verb);
}

/* Fills x from argv. Returns 0, an exit status, or -1 for "exit 0". */
int
parse_args(struct ctl *x, int argc, char **argv, char **operands)
{
	bool options_done = false, want_help = false;
	const struct option_def *o;
	const char *a, *eq, *v;
	const char *verb = NULL;
	size_t i, namelen;
	int k, r, nargs;

	for (k = 1; k < argc; k++) {
		a = argv[k];
		/* "-5s" is a (bad) operand, not an option: no option
		 * starts with a digit. */
		if (options_done || a[0] != '-' || a[1] == '\0' ||
		    (a[1] >= '0' && a[1] <= '9')) {
			if (verb == NULL)
				verb = a;
			else
				operands[x->nargs++] = argv[k];
			continue;
		}
		if (strcmp(a, "--") == 0) {
			options_done = true;
			/* With --exec, what follows is the hook's argv. */
			x->exec_at = x->nargs;
			continue;
		}
		eq = strchr(a, '=');
		namelen = eq != NULL ? (size_t)(eq - a) : strlen(a);
		o = NULL;
		for (i = 0; i < noptions; i++)
			if (strlen(options[i].name) == namelen &&
			    strncmp(options[i].name, a, namelen) == 0)
				o = &options[i];
		if (o == NULL)
			return unknown_option(a, namelen);
		if (!o->has_arg && eq != NULL)
			return usage_error("option %s takes no value", o->name);
		v = NULL;
		if (o->has_arg) {
			if (eq != NULL)
				v = eq + 1;
			else if (k + 1 < argc)
				v = argv[++k];
			else
				return usage_error("option %s needs a value",
						   o->name);
		}
		/* --help: the verb's help, once the verb is known. */
		if (strcmp(o->name, "--help") == 0 ||
		    strcmp(o->name, "-h") == 0) {
			want_help = true;
			continue;
		}
		r = set_option(x, o, v);
		if (r != 0)
			return r;
	}

	if (want_help && verb == NULL) {
		help();
		return -1;
	}
	if (verb == NULL)
		return usage_error("no verb given");
	for (i = 0; i < nverbs; i++)
		if (strcmp(verbs[i].name, verb) == 0)
			x->verb = &verbs[i];
	if (x->verb == NULL)
		return unknown_verb(verb);
	if (want_help) {
		help_verb(x->verb);
		return -1;
	}
	if (x->opts_seen & ~x->verb->opts) {
		for (i = 0; i < noptions; i++)
			if (options[i].bit & x->opts_seen & ~x->verb->opts)
				return usage_error("option %s does not apply "
						   "to '%s'",
						   options[i].name, verb);
	}
	nargs = x->nargs;
	if (x->opts_seen & OPT_EXEC) {
		if (x->exec_at < 0 || x->exec_at == x->nargs)
			return usage_error("--exec needs the command after "
					   "'--': --exec -- PROG [ARGS...]");
		nargs = x->exec_at;
	}
	if ((x->verb->flags & VERB_COMMAND) && x->exec_at > 0) {
		if (x->exec_at == x->nargs)
			return usage_error("a command goes after '--': evctl "
					   "%s",
					   x->verb->synopsis);
		nargs = x->exec_at;
	} else if (x->opts_seen & OPT_CONCURRENCY) {
		return usage_error("--concurrency goes with a command: evctl "
				   "%s",
				   x->verb->synopsis);
	}
	if ((x->opts_seen & OPT_EXEC) && (x->opts_seen & OPT_SHELL))
		return usage_error("--exec and --shell exclude each other");
	if ((x->opts_seen & (OPT_EXEC | OPT_SHELL)) &&
	    (x->opts_seen & OPT_CHANNEL))
		return usage_error("a timer fires into a channel or runs a "
				   "hook, not both");
	if ((x->opts_seen & OPTS_EXEC_MORE) &&
	    !(x->opts_seen & (OPT_EXEC | OPT_SHELL)))
		return usage_error("--cwd, --env, --exec-timeout, --property, "
				   "--retry, --retry-delay, --on-failure and "
				   "--pass-env go with --exec or --shell");
	if ((x->opts_seen & OPT_RETRY_DELAY) && x->retry == 0)
		return usage_error("--retry-delay goes with --retry N (N > 0)");
	if ((r = check_hook(x, operands)) != 0)
		return r;
	if (nargs < x->verb->min_args ||
	    (x->verb->max_args >= 0 && nargs > x->verb->max_args))
		return usage_error("usage: evctl %s", x->verb->synopsis);
	x->args = operands;
	return 0;
}
