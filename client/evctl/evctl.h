/*
 * evctl.h: what the files of evctl share; private to evctl, never
 * installed. The state of one run (struct ctl), a row of the verb table
 * (struct verb), the option bits a row lists, the exit statuses, and the
 * functions one file calls in another; everything else is static.
 *
 *   evctl.c          main, the verb table, diagnostics and exit statuses
 *   evctl_opts.c     the option table and the command-line parser
 *   evctl_print.c    the JSON writer (jw_*), the key: value printers and
 *                    how timers, fires and channels print
 *   evctl_timer.c    scheduling and timer verbs: soon later at on cancel
 *                    pause resume trigger retry get wait
 *   evctl_channel.c  channel names (channel_arg), watch, dead, channel
 *   evctl_worker.c   watch CHANNEL -- CMD: a pool of CMD per message
 *   evctl_batch.c    batch: requests from stdin on one connection
 *   evctl_import.c   import crontab / systemd-timer (parsing: importparse.c)
 *   evctl_time.c     clocks and TIME parsing; time, next, parse
 *   evctl_list.c     list and runs (logs): the operator's view
 *   evctl_stats.c    stats
 *   evctl_help.c     the help text and the help verb; each verb's
 *                    description and examples
 *   evctl_complete.c completion (the shell scripts, from the tables)
 *                    and __complete (ids, channels, zones for them)
 *   evctl_ui.c       ui: the local web dashboard (assets in ui/)
 *
 * The verb table in evctl.c is the one place a verb is declared. Adding
 * one: its verb_* function in its topic file, its prototype below, its
 * row in the table (options, operands, synopsis), prose in evctl_help.c
 * when the synopsis is not enough, client/man/evctl.1, and tests
 * (tests/integ/test_evctl.sh; test_evctl_help.sh checks that the help and
 * the man page name every verb of the table).
 */
#ifndef EVD_EVCTL_H
#define EVD_EVCTL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calendar.h"
#include "evclient.h"
#include "timefmt.h"

enum {
	EXIT_REFUSED = 1, /* the daemon said no (other classes); a wait
			   * timed out */
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3, /* no daemon, or the connection/output broke */
	/* The daemon said no, by class (its ErrorCode). */
	EXIT_NOT_FOUND = 4,
	EXIT_PERMISSION = 5,
	EXIT_EXHAUSTED = 6,   /* RESOURCE_EXHAUSTED: a quota or bound */
	EXIT_UNAVAILABLE = 7, /* evd answered, but its store did not */
	EXIT_PRECONDITION = 8,
};

/* Whether an exit status says the daemon refused one request (a verb
 * acting on several ids goes on with the next). */
bool exit_is_refusal(int status);
/* --json seen anywhere on the line: diagnostics become JSON objects. */
void ctl_json_errors(bool on);

/* Verb-specific options; a verb row lists those it accepts. */
enum {
	OPT_CHANNEL = 1u << 0,
	OPT_PAYLOAD = 1u << 1,
	OPT_KEY = 1u << 2,
	OPT_CLOCK = 1u << 3,
	OPT_COUNT = 1u << 4,
	OPT_MISFIRE = 1u << 5,
	OPT_DELIVERY = 1u << 6,
	OPT_MAX_ATTEMPTS = 1u << 7,
	OPT_DOWNTIME = 1u << 8,
	OPT_VISIBILITY = 1u << 9,
	OPT_REQUEUE = 1u << 10,
	OPT_PURGE = 1u << 11,
	OPT_EXEC = 1u << 12,
	OPT_SHELL = 1u << 13,
	OPT_CWD = 1u << 14,
	OPT_ENV = 1u << 15,
	OPT_EXEC_TIMEOUT = 1u << 16,
	OPT_UID = 1u << 17,
	OPT_GID = 1u << 18,
	OPT_SUBSCRIBE = 1u << 19,
	OPT_PUBLISH = 1u << 20,
	OPT_TZ = 1u << 21,
	OPT_ITERATIONS = 1u << 22,
	OPT_AFTER = 1u << 23,
	OPT_DST_GAP = 1u << 24,
	OPT_DST_OVERLAP = 1u << 25,
	OPT_EVERY = 1u << 26,
	OPT_OVERLAP = 1u << 27,
	OPT_RANDOMIZED_DELAY = 1u << 28,
	OPT_ACCURACY = 1u << 29,
	OPT_RESCHEDULE = 1u << 30, /* --reschedule-in or --reschedule-at */
};
/* Beyond what an enum constant (an int) can hold: the option sets are
 * uint64_t. Exec hook options of issue 14. */
#define OPT_PROPERTY (UINT64_C(1) << 31)
#define OPT_RETRY (UINT64_C(1) << 32)
#define OPT_RETRY_DELAY (UINT64_C(1) << 33)
#define OPT_ON_FAILURE (UINT64_C(1) << 34)
#define OPT_PASS_ENV (UINT64_C(1) << 35)
/* Issue 17, the operator's view: --quiet (scheduling verbs print the id
 * alone), and list's --wide, --all and --failed. */
#define OPT_QUIET (UINT64_C(1) << 56)
#define OPT_WIDE (UINT64_C(1) << 57)
#define OPT_ALL (UINT64_C(1) << 58)
#define OPT_FAILED (UINT64_C(1) << 59)
/* at --allow-past: a wall time in the past fires at once. */
#define OPT_ALLOW_PAST (UINT64_C(1) << 37)
#define OPT_CONCURRENCY (UINT64_C(1) << 36) /* watch -- CMD */
/* wait --next: wait for a repeating timer's next fire even if it is far
 * off (WAIT_FAR_NS) or the timer is paused. */
#define OPT_NEXT (UINT64_C(1) << 55)
/* import --dry-run: print what would be scheduled; evd not contacted. */
#define OPT_DRY_RUN (UINT64_C(1) << 48)
/* ui --listen HOST:PORT and --no-open. */
#define OPT_LISTEN (UINT64_C(1) << 60)
#define OPT_NO_OPEN (UINT64_C(1) << 61)
#define OPTS_TIMER                                                             \
	(OPT_MISFIRE | OPT_DELIVERY | OPT_MAX_ATTEMPTS | OPT_DOWNTIME)
#define OPTS_EXEC                                                              \
	(OPT_EXEC | OPT_SHELL | OPT_CWD | OPT_ENV | OPT_EXEC_TIMEOUT |         \
	 OPTS_EXEC_MORE)
/* Only with --exec or --shell. */
#define OPTS_EXEC_MORE                                                         \
	(OPT_CWD | OPT_ENV | OPT_EXEC_TIMEOUT | OPT_PROPERTY | OPT_RETRY |     \
	 OPT_RETRY_DELAY | OPT_ON_FAILURE | OPT_PASS_ENV)
#define OPTS_SCHEDULE                                                          \
	(OPT_CHANNEL | OPT_PAYLOAD | OPT_KEY | OPT_CLOCK | OPTS_TIMER |        \
	 OPTS_EXEC | OPT_QUIET)
#define OPTS_GRANT (OPT_UID | OPT_GID | OPT_SUBSCRIBE | OPT_PUBLISH)
#define OPTS_CALENDAR (OPT_TZ | OPT_DST_GAP | OPT_DST_OVERLAP)
/* How a timer repeats and fires (struct evc_repeat). */
#define OPTS_REPEAT                                                            \
	(OPT_EVERY | OPT_COUNT | OPT_OVERLAP | OPT_RANDOMIZED_DELAY |          \
	 OPT_ACCURACY)

/* The state of one run. Owns the connection. */
struct ctl {
	const struct verb *verb;
	char **args; /* the verb's operands */
	int nargs;

	const char *socket;
	bool json;
	bool has_timeout;
	int64_t timeout_ns;
	const char *channel;
	const char *payload;
	const char *key;
	const char *clock_name;
	uint64_t count; /* 0: unbounded */
	struct evc_timer_options topts; /* valid when opts_seen & OPTS_TIMER */
	int64_t visibility_ns;
	uint64_t opts_seen;
	/* --exec: the operands from exec_at on are the hook's argv (those
	 * after "--"); --shell: its command. env: the --env values. */
	int exec_at; /* -1: no "--" */
	/* --exec's program as parse_args found it, made absolute: the hook
	 * runs with evd's fixed PATH and in its own directory, so the name
	 * the caller typed could find another program, or none, when it
	 * fires (systemd-run resolves its binary likewise). operands
	 * [exec_at] points here once it is set. */
	char exec_path[PATH_MAX];
	const char *shell;
	const char *cwd;
	const char **env;
	size_t nenv;
	int64_t exec_timeout_ns;
	/* --property values; --retry, --retry-delay, --on-failure; the
	 * "NAME=value" entries --pass-env made (owned, also in env). */
	const char **props;
	size_t nprops;
	uint32_t retry;
	int64_t retry_delay_ns;
	const char *on_failure;
	char **passed;
	size_t npassed;
	bool has_uid, has_gid;
	bool all; /* --all */
	uint32_t grant_id;
	const char *tz; /* --tz: NULL for the process's zone */
	uint64_t iterations; /* -n */
	const char *after_text; /* --after */
	int64_t after_ns;
	enum calendar_gap gap;
	enum calendar_overlap overlap;
	/* --every, --overlap, --randomized-delay, --accuracy (and --count
	 * and the DST policies, copied in by repeat_of). */
	struct evc_repeat rep;
	/* watch --reschedule-in (reschedule_in) or --reschedule-at (the
	 * TIME, read again at each ack since it may be relative). */
	bool reschedule_in;
	int64_t reschedule_ns;
	const char *reschedule_at;
	/* watch --concurrency: children at once (0: 1). */
	uint32_t concurrency;
	/* ui --listen: NULL for 127.0.0.1:0. */
	const char *listen;

	char path[256];
	int request_ms;
	struct evc *c;
	/* main's argv, whole: evctl hands `ui` on to evctl-ui with it
	 * (evctl_ui_exec.c). */
	char **argv;
};

/* What main needs to know of a verb besides its options (verb flags). */
enum {
	VERB_LOCAL = 1u << 0, /* main does not connect (the verb may:
			       * ctl_connect) */
	VERB_WAITS = 1u << 1, /* --timeout bounds its wait, not each request */
	/* Without --channel or a hook, waits for its timer's fires (which
	 * come to this connection), so --timeout bounds that wait. */
	VERB_WAITS_OWN_FIRES = 1u << 2,
	/* Operands after "--" (with one before it) are a command. */
	VERB_COMMAND = 1u << 3,
	/* Not listed by the help nor suggested (__complete, for the shell
	 * completions). */
	VERB_HIDDEN = 1u << 4,
};

/* A row of the verb table (evctl.c). */
struct verb {
	const char *name;
	int (*run)(struct ctl *x);
	uint64_t opts;
	int min_args;
	int max_args; /* -1: any number */
	const char *synopsis;
	unsigned flags; /* VERB_* */
};

/* ---- evctl.c: the verb table, diagnostics ---- */

extern const struct verb verbs[];
extern const size_t nverbs;

void ctl_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Says why on stderr, with a pointer to --help; returns EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int lib_failure(struct ctl *x, int r, const char *what);
/* lib_failure with the message given (one saved before another call). */
int lib_failure_msg(struct ctl *x, int r, const char *what,
		    const char *msg);
int lost_connection(struct ctl *x);
int check_stdout(void);
/* Connects x->c (for VERB_LOCAL verbs that need evd after all); 0 or
 * an exit status, said. */
int ctl_connect(struct ctl *x);

/* ---- evctl_opts.c ---- */

/* What an option's value is, for the shell completions. */
enum opt_value {
	VAL_NONE,	/* no value, or free text */
	VAL_WORDS,	/* one of values[0..nvalues) */
	VAL_FILE,
	VAL_DIR,
	VAL_CHANNEL,	/* a channel the daemon lists */
	VAL_ZONE,	/* a time zone of /usr/share/zoneinfo */
	VAL_ENV,	/* the name of an environment variable */
	VAL_DST_GAP,	/* calendar_gap_name()'s */
	VAL_DST_OVERLAP, /* calendar_overlap_name()'s */
};

/* A row of the option table; bit 0: global (any verb). */
struct option_def {
	const char *name;
	bool has_arg;
	uint64_t bit;
};

/* A row of option_values: what option name's value is. */
struct option_value {
	const char *name;
	enum opt_value value;
	const char *const *values; /* VAL_WORDS */
	size_t nvalues;
};

extern const struct option_def options[];
extern const size_t noptions;
extern const struct option_value option_values[];
extern const size_t noption_values;

int parse_args(struct ctl *x, int argc, char **argv, char **operands);
/* The verb nearest to a mistyped word ("did you mean"), or NULL. */
const char *verb_suggest(const char *word);
bool parse_u64(const char *s, uint64_t *ret);

/* ---- evctl_print.c ---- */

/* Names of the timer options, as --misfire etc. take them; the index is
 * the enum's value. */
extern const char *const misfire_names[3];
extern const char *const delivery_names[2];
extern const char *const downtime_names[2];
extern const char *const run_overlap_names[4];

const char *clock_name(enum evc_clock clock);
const char *state_name(enum evc_timer_state state);
const char *outcome_name(int outcome);
/* Whether a run failed: a hook that did not exit 0, or a message that
 * was dead-lettered or lost (list --failed, the dashboard's red rows). */
bool run_failed(const struct evc_run *r);
/* A run's outcome in a word or two: "ok", "exit 3", "signal 9",
 * "timed-out", "failed" (could not start), "running", or the channel
 * outcome ("queued", "acked", "dead-lettered"...); in buf when it needs
 * one. */
const char *result_word(const struct evc_run *r, char *buf, size_t size);
const char *iso(int64_t ns, bool utc, char *buf, size_t size);
const char *dur(int64_t ns, char *buf, size_t size);
const char *secs(int64_t ns, char *buf, size_t size);
/* Buffers for when_human and left_human. */
#define WHEN_HUMAN_MAX (TIMEFMT_TIME_MAX + 8)
#define LEFT_HUMAN_MAX 32
const char *weekday(int64_t ns, const char *zone);
const char *when_human(int64_t ns, const char *zone, char *buf, size_t size);
const char *left_human(int64_t ns, char *buf, size_t size);
const char *dur_short(int64_t ns, char *buf, size_t size);
const char *in_or_ago(int64_t delta_ns, char *buf, size_t size);

/* One JSON object on one line, built key by key. */
struct jw {
	bool first;
};

void jw_begin(struct jw *w);
void jw_key(struct jw *w, const char *key);
void jw_u64(struct jw *w, const char *key, uint64_t v);
void jw_i64(struct jw *w, const char *key, int64_t v);
void jw_bool(struct jw *w, const char *key, bool v);
void jw_str(struct jw *w, const char *key, const char *s);
void jw_time(struct jw *w, const char *key, int64_t ns, bool zero_is_null);
void jw_end(struct jw *w);
void jw_close(struct jw *w);

void kv(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void kv_bytes(const char *key, const void *data, size_t len);

bool is_exec_run(const struct evc_run *run);
void jw_exec_run(struct jw *w, const struct evc_run *run);
void print_fired(const struct ctl *x, const struct evc_fired *ev);
/* A dead letter: a fire with its reason (text: "reason=" before the
 * payload; JSON: "reason", null when not known). */
void print_dead_letter(const struct ctl *x, const struct evc_dead_letter *dl);
void print_timer(const struct ctl *x, const struct evc_timer_info *ti,
		 bool full);
void jw_timer_fields(struct jw *w, const struct evc_timer_info *ti, bool full);
void jw_run_fields(struct jw *w, const struct evc_run *run);
void put_text(const char *s, size_t len);
char *shell_words(const char *const *argv, size_t argc);
void print_channel(const struct ctl *x, const struct evc_channel_info *ci);

/* ---- evctl_timer.c ---- */

bool has_hook(const struct ctl *x);
/* What soon/later/at/on send, from x (batch sends it too): the repeat
 * options (NULL for none; an exit status for a bad --count), and the
 * callback with its exec hook in *ex, which must outlive it. */
int repeat_of(struct ctl *x, const struct evc_repeat **ret);
struct evc_callback callback_of(const struct ctl *x, struct evc_exec *ex);
int verb_soon(struct ctl *x);
int verb_later(struct ctl *x);
int verb_at(struct ctl *x);
int verb_on(struct ctl *x);
int verb_cancel(struct ctl *x);
int verb_pause(struct ctl *x);
int verb_resume(struct ctl *x);
int verb_trigger(struct ctl *x);
int verb_retry(struct ctl *x);
int verb_get(struct ctl *x);
int verb_wait(struct ctl *x);
int verb_list(struct ctl *x);
int verb_runs(struct ctl *x);

/* ---- evctl_channel.c ---- */

const char *channel_arg(const char *arg, unsigned slot);
int verb_watch(struct ctl *x);
/* Acks a fire as watch's options say (--reschedule-*): 0, a negative
 * library code, or an exit status. */
int watch_ack(struct ctl *x, const struct evc_fired *ev);
int verb_dead(struct ctl *x);
int verb_purge(struct ctl *x);
int verb_peek(struct ctl *x);
int verb_channel(struct ctl *x);

/* ---- evctl_worker.c ---- */

/* watch CHANNEL -- CMD: subscribes and runs CMD per message; returns
 * the exit status. */
int watch_worker(struct ctl *x, const char *channel);

/* ---- evctl_batch.c ---- */

/* batch: requests from stdin, pipelined; results in order. */
int verb_batch(struct ctl *x);

/* One request for batch_submit: words (as after "evctl", borrowed) in;
 * the rest out. status: 0, or the exit status it counts for (errmsg,
 * owned, NULL when the parser refused it and said why on stderr). */
struct batch_req {
	char **words;
	int nwords;
	int status;
	uint64_t timer_id;
	bool existing;
	int64_t due_realtime_ns;
	char *errmsg;
};
int batch_submit(struct ctl *x, struct batch_req *reqs, size_t n);

/* ---- evctl_import.c ---- */

int verb_import(struct ctl *x);

/* ---- evctl_time.c ---- */

int64_t mono_now_ns(void);
int64_t realtime_now_ns(void);
const char *caller_zone(char *buf, size_t size);
int parse_when(const struct ctl *x, const char *text, struct timefmt_when *ret);
int ns_to_ms(int64_t ns);
int ms_until(bool bounded, int64_t deadline_ns);
int verb_time(struct ctl *x);
int verb_next(struct ctl *x);
int verb_parse(struct ctl *x);

/* ---- evctl_complete.c ---- */

int verb_completion(struct ctl *x);
int verb_complete(struct ctl *x);

/* ---- evctl_stats.c ---- */

int verb_stats(struct ctl *x);

/* ---- evctl_ui.c ---- */

/* ui: serves the dashboard until SIGINT or SIGTERM. */
int verb_ui(struct ctl *x);

/* ---- evctl_help.c ---- */

/* The general help (--help): usage, the verbs' synopses, options. */
void help(void);
/* A verb's help: synopsis, description, examples (help VERB, VERB
 * --help). */
void help_verb(const struct verb *v);
/* A verb's one-line summary (the completions' descriptions), or NULL. */
const char *verb_summary(const char *name);
int verb_help(struct ctl *x);

#endif
