/*
 * evctl: the command line of evd. This file holds main, the verb table
 * and the diagnostics that decide the exit status; the verbs, options,
 * printers and help are in the files evctl.h lists.
 *
 * Built only on the public libevclient API (evclient.h) and the pure
 * helpers of evctl_core (timefmt, escape) and evdtime (calendar). One row
 * of `verbs` and one small verb_* function per verb; options are parsed
 * once, anywhere on the line, and each row says which of the
 * verb-specific ones apply.
 *
 * Output contract (scripts and the integration tests parse it): results
 * go to stdout, one record per line; with --json each line is one JSON
 * object with stable snake_case keys, absent values as null. Diagnostics
 * go to stderr prefixed "evctl: " (with --json, one JSON object each:
 * say()). Exit status: 0 success, 1 the daemon said no for another
 * reason (or a wait timed out), 2 usage, 3 the daemon cannot be reached
 * or the connection or local output failed, 4 not found, 5 permission
 * denied, 6 resource exhausted, 7 unavailable, 8 failed precondition —
 * except `wait`, whose status is the hook's (see verb_wait).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "escape.h"
#include "evctl.h"

/* Bound on connecting and on each request unless --timeout says
 * otherwise: a hung daemon must not hang a script forever. */
#define DEFAULT_REQUEST_TIMEOUT_MS 30000

/* The one place a verb is declared: parse_args finds it here, the help
 * lists it from here (in this order), `evctl help VERB` prints its
 * synopsis, and main reads its flags. */
const struct verb verbs[] = {
    {"soon", verb_soon, (OPTS_SCHEDULE & ~OPT_CLOCK) | OPTS_REPEAT, 0, 0,
     "soon [--channel NAME] [--payload TEXT] [--key KEY] [REPEAT]\n"
     "          [TIMER OPTIONS] [HOOK]",
     VERB_WAITS_OWN_FIRES},
    {"later", verb_later, OPTS_SCHEDULE | OPTS_REPEAT, 1, -1,
     "later DURATION [--channel NAME] [--payload TEXT] [--key KEY]\n"
     "          [--clock monotonic|boottime] [REPEAT] [TIMER OPTIONS] "
     "[HOOK]",
     VERB_WAITS_OWN_FIRES},
    {"at", verb_at, OPTS_SCHEDULE | OPTS_REPEAT | OPT_TZ | OPT_ALLOW_PAST, 1,
     1,
     "at TIME [--tz ZONE] [--allow-past] [--channel NAME] [--payload TEXT]\n"
     "          [--key KEY]\n"
     "          [--clock realtime|monotonic|boottime] [REPEAT] "
     "[TIMER OPTIONS] [HOOK]",
     VERB_WAITS_OWN_FIRES},
    {"on", verb_on,
     (OPTS_SCHEDULE & ~OPT_CLOCK) | OPTS_CALENDAR |
	 (OPTS_REPEAT & ~OPT_EVERY),
     1, 1,
     "on 'EXPR' [--tz ZONE] [--dst-gap shift|skip|utc]\n"
     "          [--dst-overlap first|second|both] [--count N] "
     "[--channel NAME]\n"
     "          [--payload TEXT] [--key KEY] [REPEAT] [TIMER OPTIONS] "
     "[HOOK]",
     VERB_WAITS_OWN_FIRES},
    {"cancel", verb_cancel, OPT_CHANNEL | OPT_ALL | OPT_UID, 0, -1,
     "cancel ID...\n"
     "  cancel --channel NAME [--uid UID] | --all [--uid UID]", 0},
    {"pause", verb_pause, 0, 1, -1, "pause ID...", 0},
    {"resume", verb_resume, 0, 1, -1, "resume ID...", 0},
    {"trigger", verb_trigger, 0, 1, -1, "trigger ID...", 0},
    {"retry", verb_retry, 0, 1, -1, "retry ID...", 0},
    {"get", verb_get, 0, 1, 1, "get ID", 0},
    {"wait", verb_wait, OPT_NEXT, 1, 1, "wait ID [--next] [--timeout DURATION]",
     VERB_WAITS},
    {"channel", verb_channel, OPTS_GRANT, 1, 2,
     "channel list\n"
     "  channel show CHANNEL\n"
     "  channel grant|revoke CHANNEL (--uid UID | --gid GID) "
     "[--subscribe] [--publish]", 0},
    {"list", verb_list, OPT_CHANNEL | OPT_WIDE | OPT_ALL | OPT_FAILED, 0, 0,
     "list [--channel NAME] [--all | --failed] [--wide]", 0},
    {"runs", verb_runs, 0, 1, 1, "runs ID", 0},
    {"logs", verb_runs, 0, 1, 1, "logs ID (the same as runs)", 0},
    {"time", verb_time, 0, 0, 0, "time", 0},
    {"stats", verb_stats, 0, 0, 0, "stats", 0},
    {"watch", verb_watch,
     OPT_COUNT | OPT_VISIBILITY | OPT_RESCHEDULE | OPT_CONCURRENCY, 1, 1,
     "watch CHANNEL [--count N] [--timeout DURATION] "
     "[--visibility DURATION]\n"
     "          [--reschedule-in DURATION | --reschedule-at TIME]\n"
     "          [--concurrency N -- CMD [ARGS...]]",
     VERB_WAITS | VERB_COMMAND},
    {"batch", verb_batch, 0, 0, 0,
     "batch < FILE (one request a line: soon, later, at, on, cancel)", 0},
    {"import", verb_import, OPT_DRY_RUN | OPT_AFTER, 1, -1,
     "import crontab [FILE|-] [--dry-run [--after TIME]]\n"
     "  import systemd-timer UNIT.timer... [--dry-run [--after TIME]]",
     VERB_LOCAL},
    {"dead", verb_dead, OPT_REQUEUE | OPT_PURGE, 1, 2,
     "dead CHANNEL [--requeue [FIRE_ID] | --purge [FIRE_ID]]", 0},
    {"purge", verb_purge, OPT_UID, 1, 1, "purge CHANNEL [--uid UID]", 0},
    {"peek", verb_peek, OPT_COUNT, 1, 1, "peek CHANNEL [--count N]", 0},
    {"next", verb_next, OPTS_CALENDAR | OPT_ITERATIONS | OPT_AFTER, 1, 1,
     "next 'EXPR' [--tz ZONE] [-n N] [--after TIME]\n"
     "          [--dst-gap shift|skip|utc] [--dst-overlap first|second|both]",
     VERB_LOCAL},
    {"parse", verb_parse, OPTS_CALENDAR | OPT_ITERATIONS | OPT_AFTER, 1, 1,
     "parse 'TEXT' [--tz ZONE] [-n N] [--after TIME]", VERB_LOCAL},
    /* Local to evctl, which hands it to evctl-ui; evctl-ui connects. */
    {"ui", verb_ui, OPT_LISTEN | OPT_NO_OPEN, 0, 0,
     "ui [--listen 127.0.0.1:PORT] [--no-open]", VERB_LOCAL},
    {"help", verb_help, 0, 0, 1, "help [on|time|TOPIC]", VERB_LOCAL},
    {"completion", verb_completion, 0, 1, 1, "completion bash|zsh|fish",
     VERB_LOCAL},
    /* For the completion scripts: ids, channels or zones, one a line. */
    {"__complete", verb_complete, 0, 1, 1, "__complete ids|channels|zones",
     VERB_LOCAL | VERB_HIDDEN},
};

const size_t nverbs = sizeof(verbs) / sizeof(verbs[0]);

/* ---- diagnostics ---- */

/*
 * With --json a diagnostic is one JSON object on stderr, so that a
 * program can tell failures apart without reading English:
 *   {"error":{"code":"NOT_FOUND","message":"cancel 9: no pending timer 9","exit":4}}
 * code: the daemon's ErrorCode, or for failures of this side USAGE,
 * UNREACHABLE (no daemon, a broken connection or output) or ERROR
 * (anything else evctl says before giving up).
 */
static bool json_errors;

void
ctl_json_errors(bool on)
{
	json_errors = on;
}

static void
say(const char *code, int status, const char *fmt, va_list ap)
{
	char msg[1024], esc[6 * sizeof(msg) + 1];

	if (!json_errors) {
		fputs("evctl: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		return;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	escape_json(esc, sizeof(esc), msg, strlen(msg));
	if (status >= 0)
		fprintf(stderr,
			"{\"error\":{\"code\":\"%s\",\"message\":\"%s\","
			"\"exit\":%d}}\n",
			code, esc, status);
	else /* a note, not the end: no exit status yet */
		fprintf(stderr,
			"{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}\n",
			code, esc);
}

static void __attribute__((format(printf, 3, 4)))
say_error(const char *code, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(code, status, fmt, ap);
	va_end(ap);
}

void
ctl_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("ERROR", -1, fmt, ap);
	va_end(ap);
}

int
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("USAGE", EXIT_USAGE, fmt, ap);
	va_end(ap);
	if (!json_errors)
		fputs("Try 'evctl --help' for more information.\n", stderr);
	return EXIT_USAGE;
}

bool
exit_is_refusal(int status)
{
	return status == EXIT_REFUSED ||
	       (status >= EXIT_NOT_FOUND && status <= EXIT_PRECONDITION);
}

/* The daemon's ErrorCode as the protocol spells it, and its exit
 * status (EXIT_REFUSED for the classes without one of their own). */
static const char *
refusal_of(int code, int *ret_status)
{
	static const struct {
		int code;
		const char *name;
		int status;
	} classes[] = {
	    {EVC_E_INVALID_ARGUMENT, "INVALID_ARGUMENT", EXIT_REFUSED},
	    {EVC_E_NOT_FOUND, "NOT_FOUND", EXIT_NOT_FOUND},
	    {EVC_E_PERMISSION_DENIED, "PERMISSION_DENIED", EXIT_PERMISSION},
	    {EVC_E_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED", EXIT_EXHAUSTED},
	    {EVC_E_UNAVAILABLE, "UNAVAILABLE", EXIT_UNAVAILABLE},
	    {EVC_E_INTERNAL, "INTERNAL", EXIT_REFUSED},
	    {EVC_E_PROTOCOL, "PROTOCOL", EXIT_REFUSED},
	    {EVC_E_UNSUPPORTED_VERSION, "UNSUPPORTED_VERSION", EXIT_REFUSED},
	    {EVC_E_FAILED_PRECONDITION, "FAILED_PRECONDITION",
	     EXIT_PRECONDITION},
	};
	size_t i;

	for (i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
		if (classes[i].code == code) {
			*ret_status = classes[i].status;
			return classes[i].name;
		}
	*ret_status = EXIT_REFUSED;
	return "ERROR";
}

/* The exit status for a library failure, after saying why. */
int
lib_failure(struct ctl *x, int r, const char *what)
{
	return lib_failure_msg(x, r, what, evc_errmsg(x->c));
}

int
lib_failure_msg(struct ctl *x, int r, const char *what, const char *msg)
{
	const char *name;
	int code = -r, status;

	if (code < EVC_E_LOCAL) {
		name = refusal_of(code, &status);
		say_error(name, status, "%s%s%s", what ? what : "",
			  what ? ": " : "", msg);
		return status;
	}
	if (code == EVC_E_USAGE) {
		say_error("USAGE", EXIT_USAGE, "%s%s%s", what ? what : "",
			  what ? ": " : "", msg);
		return EXIT_USAGE;
	}
	say_error("UNREACHABLE", EXIT_UNREACHABLE, "%s: %s", x->path,
		  msg);
	return EXIT_UNREACHABLE;
}

/* While waiting for fires any failure means the connection is gone, even
 * when the daemon said why before closing it. */
int
lost_connection(struct ctl *x)
{
	ctl_warnx("%s: %s", x->path, evc_errmsg(x->c));
	return EXIT_UNREACHABLE;
}

int
check_stdout(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		ctl_warnx("cannot write to standard output: %s",
			  strerror(errno));
		return EXIT_UNREACHABLE;
	}
	return 0;
}

/* ---- connecting ---- */

/* How to start the evd that x->path names, for "cannot connect": the
 * units for the default paths (the system instance, a user's own), the
 * command line for a path someone chose. */
static void
say_not_running(const struct ctl *x, const char *err)
{
	const char *env = getenv("EVD_SOCKET");
	bool sys = strcmp(x->path, "/run/evd/evd.sock") == 0;

	if (x->socket != NULL || (env != NULL && env[0] != '\0'))
		say_error("UNREACHABLE", EXIT_UNREACHABLE,
			  "%s; is evd running? start it with: evd --socket %s",
			  err, x->path);
	else if (sys && geteuid() == 0)
		say_error("UNREACHABLE", EXIT_UNREACHABLE,
			  "%s; is evd running? start it with: systemctl "
			  "enable --now evd.socket",
			  err);
	else if (sys)
		say_error("UNREACHABLE", EXIT_UNREACHABLE,
			  "%s; is evd running? the system instance starts "
			  "with 'systemctl enable --now evd.socket' (as root); "
			  "your own with 'systemctl --user enable --now "
			  "evd.socket'",
			  err);
	else
		say_error("UNREACHABLE", EXIT_UNREACHABLE,
			  "%s; is evd running? start your own with: "
			  "systemctl --user enable --now evd.socket (or run "
			  "evd); no system instance listens on "
			  "/run/evd/evd.sock either",
			  err);
}

int
ctl_connect(struct ctl *x)
{
	char err[512];
	int r, code;

	if (x->socket != NULL) {
		if (snprintf(x->path, sizeof(x->path), "%s", x->socket) >=
		    (int)sizeof(x->path))
			return usage_error("socket path too long: %s",
					   x->socket);
	} else if (evc_default_socket(x->path, sizeof(x->path)) < 0) {
		return usage_error("the default socket path is too long; "
				   "use --socket PATH");
	}
	r = evc_connect(x->path, "evctl", x->request_ms, &x->c, err,
			sizeof(err));
	if (r == 0)
		return 0;
	code = -r;
	if (code == EVC_E_CONNECT) {
		say_not_running(x, err);
		return EXIT_UNREACHABLE;
	}
	if (code == EVC_E_USAGE)
		return usage_error("%s", err);
	if (code < EVC_E_LOCAL) {
		const char *name = refusal_of(code, &r);

		say_error(name, r, "%s", err);
		return r;
	}
	say_error("UNREACHABLE", EXIT_UNREACHABLE, "%s: %s", x->path, err);
	return EXIT_UNREACHABLE;
}

/* Verbs whose --timeout bounds a wait (for fires, or for a hook), not
 * each request. */
static bool
waits_for_fires(const struct ctl *x)
{
	if (x->verb->flags & VERB_WAITS)
		return true;
	return (x->verb->flags & VERB_WAITS_OWN_FIRES) && x->channel == NULL &&
	       !has_hook(x);
}

/*
 * Opens fds 0-2 if the caller closed them, so that the daemon's socket
 * cannot become "stdout" and receive our output. Read-only on purpose:
 * writing our results then fails, and check_stdout() reports it.
 */
static void
guard_std_fds(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", O_RDONLY) < 0)
			break;
}

static void
free_hook_args(struct ctl *x)
{
	size_t i;

	for (i = 0; i < x->npassed; i++)
		free(x->passed[i]);
	free(x->passed);
	free(x->props);
	free(x->env);
}

int
main(int argc, char **argv)
{
	struct timefmt_when when;
	struct ctl x = {0};
	char **operands;
	int r;

	guard_std_fds();
	x.exec_at = -1;
	x.argv = argv;
	/* Before parsing, so that its own errors are JSON too. */
	for (r = 1; r < argc && strcmp(argv[r], "--") != 0; r++)
		if (strcmp(argv[r], "--json") == 0)
			ctl_json_errors(true);
	operands = calloc((size_t)argc + 1, sizeof(*operands));
	x.env = calloc((size_t)argc + 1, sizeof(*x.env));
	x.props = calloc((size_t)argc + 1, sizeof(*x.props));
	x.passed = calloc((size_t)argc + 1, sizeof(*x.passed));
	if (operands == NULL || x.env == NULL || x.props == NULL ||
	    x.passed == NULL) {
		free(operands);
		free_hook_args(&x);
		ctl_warnx("out of memory");
		return EXIT_UNREACHABLE;
	}
	r = parse_args(&x, argc, argv, operands);
	if (r != 0) {
		free(operands);
		free_hook_args(&x);
		if (r < 0)
			return check_stdout();
		return r;
	}
	x.request_ms = DEFAULT_REQUEST_TIMEOUT_MS;
	if (x.has_timeout && !waits_for_fires(&x))
		x.request_ms = ns_to_ms(x.timeout_ns);

	if (x.after_text != NULL) {
		if (parse_when(&x, x.after_text, &when) < 0 || when.ns < 0) {
			r = usage_error("invalid time '%s' for --after",
					x.after_text);
			goto out;
		}
		x.after_ns = when.ns;
	} else {
		x.after_ns = realtime_now_ns();
	}
	if (x.iterations == 0)
		x.iterations = 5;
	/* next, parse and help compute locally: no daemon needed (import
	 * connects once it has read its files, and not for --dry-run). */
	r = (x.verb->flags & VERB_LOCAL) ? 0 : ctl_connect(&x);
	if (r == 0)
		r = x.verb->run(&x);
out:
	evc_close(x.c);
	free(operands);
	free_hook_args(&x);
	return r;
}
