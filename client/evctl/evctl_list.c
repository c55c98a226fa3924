/*
 * evctl_list: the operator's view, as systemctl list-timers and
 * journalctl -u give it: list (what runs when, and how it went) and
 * runs/logs (one timer's runs with their output).
 *
 * list reads every page first (evc_list_opts, with each timer's newest
 * run) and then sorts: pending timers by next fire, then ended ones
 * (--all, --failed), the most recent first. Cells are built as escaped
 * text, measured, and the table fits 100 columns by cutting WHAT, then
 * REPEAT, with an ellipsis; --wide never cuts, --json prints every
 * value. Times are local (TZ) with the zone's abbreviation.
 */
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "escape.h"
#include "evctl.h"

/* The width `list` fits into without --wide. */
#define LIST_WIDTH 100
/* The narrowest WHAT and REPEAT get before the line may grow. */
#define LIST_WHAT_MIN 12
#define LIST_REPEAT_MIN 10

enum col {
	COL_ID,
	COL_NEXT,
	COL_LEFT,
	COL_LAST,
	COL_RESULT,
	COL_REPEAT,
	COL_OWNER,
	COL_WHAT,
	NCOLS
};

static const char *const col_names[NCOLS] = {
    "ID", "NEXT", "LEFT", "LAST", "RESULT", "REPEAT", "OWNER", "WHAT"};

/* One row of the table. Owner: verb_list; ti is borrowed from its pages,
 * the cells are its (malloc'ed, escaped, freed at the end). */
struct row {
	const struct evc_timer_info *ti;
	char *cell[NCOLS];
};

/* Whether the terminal takes UTF-8, as the locale variables say (evctl
 * never calls setlocale: it must not change how it parses or prints
 * numbers). */
static bool
utf8_locale(void)
{
	static const char *const vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
	const char *v;
	size_t i;

	for (i = 0; i < 3; i++) {
		v = getenv(vars[i]);
		if (v != NULL && *v != '\0')
			return strcasestr(v, "utf-8") != NULL ||
			       strcasestr(v, "utf8") != NULL;
	}
	return false;
}

/* Columns a cell takes: its characters (UTF-8 continuation bytes take
 * none; escape_text left only printable text). */
static size_t
text_width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* Cuts s to width columns, the last one an ellipsis. */
static void
truncate_cell(char *s, size_t width, bool utf8)
{
	const char *ell = utf8 ? "\xe2\x80\xa6" : "...";
	size_t ell_w = utf8 ? 1 : 3, n = 0;
	char *p;

	if (text_width(s) <= width || width < ell_w)
		return;
	for (p = s; *p != '\0'; p++) {
		if (((unsigned char)*p & 0xc0) == 0x80)
			continue;
		if (n == width - ell_w)
			break;
		n++;
	}
	strcpy(p, ell);
}

/* A cell of bytes from the daemon, escaped; NULL on ENOMEM. */
static char *
cell_escaped(const char *s, size_t len)
{
	size_t n = len * ESCAPE_MAX_EXPANSION + 1;
	char *c = malloc(n + 4); /* room for an ellipsis */

	if (c != NULL)
		escape_text(c, n, s, len);
	return c;
}

static char *
cell(const char *s)
{
	return cell_escaped(s, strlen(s));
}

/* An exec command as one line: the shell command as written, or argv
 * quoted as a shell would need it. */
static char *
what_exec(const struct evc_timer_info *ti)
{
	char *w, *c;

	if (ti->exec_shell && ti->exec_argc > 0)
		return cell(ti->exec_argv[0]);
	if ((w = shell_words((const char *const *)ti->exec_argv,
			     ti->exec_argc)) == NULL)
		return NULL;
	c = cell(w);
	free(w);
	return c;
}

/* What a timer does: its command, "channel NAME", or "(caller)" for a
 * message to the connection that scheduled it. */
static char *
what_of(const struct evc_timer_info *ti)
{
	char *c, *e;

	if (ti->exec_argv != NULL)
		return what_exec(ti);
	if (ti->channel == NULL)
		return cell("(caller)");
	e = cell(ti->channel);
	if (e == NULL || (c = malloc(strlen(e) + 12)) == NULL) {
		free(e);
		return NULL;
	}
	sprintf(c, "channel %s", e);
	free(e);
	return c;
}

/* How it repeats: the calendar expression (with its zone when it has
 * one), "every 10m", "x3" for a --count, or "-". */
static char *
repeat_of_timer(const struct evc_timer_info *ti)
{
	char d[TIMEFMT_DURATION_MAX], n[32] = "", *raw, *c;
	const char *tz = ti->tz;
	size_t len;

	if (!ti->repeating)
		return cell("-");
	if (ti->repeat.count > 0)
		snprintf(n, sizeof(n), " x%" PRIu64, ti->repeat.count);
	if (ti->calendar == NULL || ti->repeat.every_ns > 0) {
		len = sizeof(d) + sizeof(n) + 8;
		if ((raw = malloc(len)) != NULL)
			snprintf(raw, len, "every %s%s",
				 dur(ti->repeat.every_ns, d, sizeof(d)), n);
	} else {
		len = strlen(ti->calendar) + (tz ? strlen(tz) + 1 : 0) +
		      sizeof(n);
		if ((raw = malloc(len)) != NULL)
			snprintf(raw, len, "%s%s%s%s", ti->calendar,
				 tz ? " " : "", tz ? tz : "", n);
	}
	if (raw == NULL)
		return NULL;
	c = cell(raw);
	free(raw);
	return c;
}

bool
run_failed(const struct evc_run *r)
{
	switch (r->outcome) {
	case EVC_RUN_EXEC_EXITED:
		return r->exit_code != 0;
	case EVC_RUN_EXEC_SIGNALED:
	case EVC_RUN_EXEC_TIMED_OUT:
	case EVC_RUN_EXEC_FAILED:
	case EVC_RUN_DEAD_LETTERED:
	case EVC_RUN_LOST:
		return true;
	default:
		return false;
	}
}

const char *
result_word(const struct evc_run *r, char *buf, size_t size)
{
	switch (r->outcome) {
	case EVC_RUN_EXEC_EXITED:
		if (r->exit_code == 0)
			return "ok";
		snprintf(buf, size, "exit %d", r->exit_code);
		return buf;
	case EVC_RUN_EXEC_SIGNALED:
		snprintf(buf, size, "signal %d", r->signal);
		return buf;
	case EVC_RUN_EXEC_STARTED:
		return "running";
	default:
		return outcome_name(r->outcome);
	}
}

/* The timer's result: its newest run's, or "cancelled", or "-". */
static const char *
result_of(const struct evc_timer_info *ti, char *buf, size_t size)
{
	if (ti->history_count > 0)
		return result_word(&ti->history[0], buf, size);
	if (ti->state == EVC_TIMER_CANCELLED)
		return "cancelled";
	return "-";
}

static bool
timer_failed(const struct evc_timer_info *ti)
{
	return ti->history_count > 0 && run_failed(&ti->history[0]);
}

static bool
ended(const struct evc_timer_info *ti)
{
	return ti->state == EVC_TIMER_FIRED || ti->state == EVC_TIMER_CANCELLED;
}

/* When it last did something: its last fire, else its due time. */
static int64_t
last_activity(const struct evc_timer_info *ti)
{
	return ti->last_fired_realtime_ns != 0 ? ti->last_fired_realtime_ns
					       : ti->due_realtime_ns;
}

/* Pending (and paused) by next fire, then ended ones, newest first; ids
 * break ties, so the order is total. */
static int
row_cmp(const void *a, const void *b)
{
	const struct evc_timer_info *x = ((const struct row *)a)->ti;
	const struct evc_timer_info *y = ((const struct row *)b)->ti;
	int64_t p, q;

	if (ended(x) != ended(y))
		return ended(x) ? 1 : -1;
	if (!ended(x)) {
		p = x->due_realtime_ns;
		q = y->due_realtime_ns;
	} else {
		p = last_activity(y);
		q = last_activity(x);
	}
	if (p != q)
		return p < q ? -1 : 1;
	return x->timer_id < y->timer_id ? -1 : x->timer_id > y->timer_id;
}

static char *
owner_name(uint32_t uid)
{
	struct passwd *pw = getpwuid(uid);
	char n[16];

	if (pw != NULL)
		return cell(pw->pw_name);
	snprintf(n, sizeof(n), "%" PRIu32, uid);
	return cell(n);
}

static int
fill_row(struct row *r, int64_t now_ns)
{
	const struct evc_timer_info *ti = r->ti;
	char b[WHEN_HUMAN_MAX + LEFT_HUMAN_MAX + 16], w[32];

	snprintf(b, sizeof(b), "%" PRIu64, ti->timer_id);
	r->cell[COL_ID] = cell(b);
	if (ended(ti)) {
		r->cell[COL_NEXT] = cell("-");
		r->cell[COL_LEFT] = cell("-");
	} else {
		r->cell[COL_NEXT] =
		    cell(when_human(ti->due_realtime_ns, NULL, b, sizeof(b)));
		if (ti->state == EVC_TIMER_PAUSED)
			r->cell[COL_LEFT] = cell("paused");
		else if (ti->due_realtime_ns <= now_ns)
			r->cell[COL_LEFT] = cell("now");
		else
			r->cell[COL_LEFT] = cell(left_human(
			    ti->due_realtime_ns - now_ns, b, sizeof(b)));
	}
	if (ti->last_fired_realtime_ns == 0)
		r->cell[COL_LAST] = cell("-");
	else
		r->cell[COL_LAST] = cell(in_or_ago(
		    ti->last_fired_realtime_ns - now_ns, b, sizeof(b)));
	r->cell[COL_RESULT] = cell(result_of(ti, w, sizeof(w)));
	r->cell[COL_REPEAT] = repeat_of_timer(ti);
	r->cell[COL_OWNER] = owner_name(ti->owner_uid);
	r->cell[COL_WHAT] = what_of(ti);
	for (int i = 0; i < NCOLS; i++)
		if (r->cell[i] == NULL)
			return -1;
	return 0;
}

/* The timers as a table: columns as wide as their widest cell, two
 * spaces apart, WHAT last without padding. */
static void
print_table(struct row *rows, size_t n, bool wide, bool owner)
{
	size_t width[NCOLS], total = 0, i;
	bool utf8 = utf8_locale();
	int c, ncols = 0;

	for (c = 0; c < NCOLS; c++) {
		width[c] = strlen(col_names[c]);
		if (c == COL_OWNER && !owner)
			continue;
		for (i = 0; i < n; i++)
			if (text_width(rows[i].cell[c]) > width[c])
				width[c] = text_width(rows[i].cell[c]);
		total += width[c];
		ncols++;
	}
	total += 2 * (size_t)(ncols - 1);
	if (!wide && total > LIST_WIDTH) {
		/* REPEAT gives way first, then WHAT, then both to their
		 * least. */
		static const struct {
			enum col c;
			size_t min;
		} order[] = {{COL_REPEAT, 16},
			     {COL_WHAT, 24},
			     {COL_REPEAT, LIST_REPEAT_MIN},
			     {COL_WHAT, LIST_WHAT_MIN}};
		size_t over = total - LIST_WIDTH, cut, k;

		for (k = 0; k < 4 && over > 0; k++) {
			c = order[k].c;
			cut = width[c] > order[k].min ? width[c] - order[k].min
						      : 0;
			cut = cut < over ? cut : over;
			width[c] -= cut;
			over -= cut;
		}
		for (i = 0; i < n; i++) {
			truncate_cell(rows[i].cell[COL_WHAT], width[COL_WHAT],
				      utf8);
			truncate_cell(rows[i].cell[COL_REPEAT],
				      width[COL_REPEAT], utf8);
		}
	}
	for (i = 0; i <= n; i++) {
		for (c = 0; c < NCOLS; c++) {
			const char *s =
			    i == 0 ? col_names[c] : rows[i - 1].cell[c];

			if (c == COL_OWNER && !owner)
				continue;
			if (c == COL_WHAT) {
				fputs(s, stdout);
				break;
			}
			printf("%s%*s  ", s, (int)(width[c] - text_width(s)),
			       "");
		}
		putchar('\n');
	}
}

static void
print_json_row(const struct row *r)
{
	const struct evc_timer_info *ti = r->ti;
	char w[32];
	struct jw j, in;
	struct passwd *pw = getpwuid(ti->owner_uid);

	jw_begin(&j);
	jw_timer_fields(&j, ti, false);
	jw_str(&j, "owner", pw != NULL ? pw->pw_name : NULL);
	jw_str(&j, "result", result_of(ti, w, sizeof(w)));
	jw_key(&j, "last_run");
	if (ti->history_count == 0) {
		fputs("null", stdout);
	} else {
		jw_begin(&in);
		jw_run_fields(&in, &ti->history[0]);
		jw_close(&in);
	}
	jw_end(&j);
}

/*
 * list [--channel NAME] [--all | --failed] [--wide]: the timers the
 * caller may see, as a table:
 *   ID     NEXT                         LEFT    LAST    RESULT  REPEAT ...
 * OWNER appears for root or when several owners do; --json: one object
 * per timer (get's keys without options and history, plus owner,
 * result and last_run), in the same order.
 */
int
verb_list(struct ctl *x)
{
	struct evc_list_options o = {.channel = x->channel, .runs = 1};
	struct evc_timer_list *pages = NULL, *np, tl;
	struct row *rows = NULL, *nr;
	size_t npages = 0, n = 0, cap = 0, i, j;
	bool failed = (x->opts_seen & OPT_FAILED) != 0, owner;
	int64_t now_ns = realtime_now_ns();
	int r = 0;

	o.finished = failed || (x->opts_seen & OPT_ALL);
	for (;;) {
		r = evc_list_opts(x->c, &o, x->request_ms, &tl);
		if (r < 0) {
			r = lib_failure(x, r, "list");
			goto out;
		}
		if ((np = realloc(pages, (npages + 1) * sizeof(*np))) == NULL) {
			evc_timer_list_free(&tl);
			goto nomem;
		}
		pages = np;
		pages[npages++] = tl;
		/* Ids only grow: a cursor that does not would loop. */
		if (tl.next_after_id <= o.after_id)
			break;
		o.after_id = tl.next_after_id;
	}
	for (i = 0; i < npages; i++)
		for (j = 0; j < pages[i].count; j++) {
			const struct evc_timer_info *ti = &pages[i].timers[j];

			if (failed ? !timer_failed(ti)
				   : ended(ti) && !o.finished)
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 64;
				if ((nr = realloc(rows, cap * sizeof(*nr))) ==
				    NULL)
					goto nomem;
				rows = nr;
			}
			memset(&rows[n], 0, sizeof(rows[n]));
			rows[n++].ti = ti;
		}
	if (n > 0)
		qsort(rows, n, sizeof(*rows), row_cmp);
	if (x->json) {
		for (i = 0; i < n; i++)
			print_json_row(&rows[i]);
		r = check_stdout();
		goto out;
	}
	owner = getuid() == 0;
	for (i = 0; i < n; i++) {
		if (fill_row(&rows[i], now_ns) < 0)
			goto nomem;
		if (rows[i].ti->owner_uid != rows[0].ti->owner_uid)
			owner = true;
	}
	print_table(rows, n, (x->opts_seen & OPT_WIDE) != 0, owner);
	r = check_stdout();
	goto out;
nomem:
	ctl_warnx("out of memory");
	r = EXIT_UNREACHABLE;
out:
	for (i = 0; i < n; i++)
		for (j = 0; j < NCOLS; j++)
			free(rows[i].cell[j]);
	free(rows);
	for (i = 0; i < npages; i++)
		evc_timer_list_free(&pages[i]);
	free(pages);
	return r;
}

/* ---- runs ---- */

/* Outcomes that a later record of the same fire completes: started by
 * exited (or signaled...), queued or delivered by acked (or dead). */
static bool
run_open(int outcome)
{
	return outcome == EVC_RUN_EXEC_STARTED || outcome == EVC_RUN_QUEUED ||
	       outcome == EVC_RUN_DELIVERED || outcome == EVC_RUN_REDELIVERED;
}

/* One run as people see it: the first record's times, the last one's
 * outcome (history is newest first: first is the older index). */
struct run_view {
	const struct evc_run *first; /* when it fired, its lateness */
	const struct evc_run *last;  /* how it ended, its output */
};

/* Lines of a tail, each prefixed, escaped; a last line without its
 * newline is still a line. */
static void
print_tail(const char *prefix, const uint8_t *p, size_t len)
{
	size_t i, start = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && p[i] != '\n')
			continue;
		if (i == len && start == len)
			break;
		fputs(prefix, stdout);
		put_text((const char *)p + start, i - start);
		putchar('\n');
		start = i + 1;
	}
}

static void
print_run_view(const struct ctl *x, uint64_t timer_id, const struct run_view *v)
{
	const struct evc_run *f = v->first, *l = v->last;
	char t[WHEN_HUMAN_MAX], d[TIMEFMT_DURATION_MAX], w[32];
	struct jw j;

	if (x->json) {
		/* The first record's times, the last one's outcome. */
		jw_begin(&j);
		jw_u64(&j, "timer_id", timer_id);
		if (l->fire_id != 0)
			jw_u64(&j, "fire_id", l->fire_id);
		else
			jw_str(&j, "fire_id", NULL);
		jw_time(&j, "due", f->due_realtime_ns, false);
		jw_i64(&j, "due_realtime_ns", f->due_realtime_ns);
		jw_time(&j, "fired", f->fired_realtime_ns, true);
		jw_i64(&j, "fired_realtime_ns", f->fired_realtime_ns);
		jw_i64(&j, "lateness_ns", f->lateness_ns);
		jw_str(&j, "outcome", outcome_name(l->outcome));
		jw_str(&j, "result", result_word(l, w, sizeof(w)));
		jw_bool(&j, "failed", run_failed(l));
		jw_str(&j, "detail", l->detail);
		jw_exec_run(&j, l);
		jw_end(&j);
		return;
	}
	/* fire 7  Sun 2026-12-06 02:30:00 CET  exit 3  took 15ms  late 296us */
	if (l->fire_id != 0)
		printf("fire %" PRIu64 "  ", l->fire_id);
	else
		printf("fire -  ");
	printf("%s  %s",
	       f->fired_realtime_ns != 0
		   ? when_human(f->fired_realtime_ns, NULL, t, sizeof(t))
		   : when_human(f->due_realtime_ns, NULL, t, sizeof(t)),
	       result_word(l, w, sizeof(w)));
	if (is_exec_run(l) && l->outcome != EVC_RUN_EXEC_STARTED)
		printf("  took %s", dur_short(l->duration_ns, d, sizeof(d)));
	if (f->fired_realtime_ns != 0)
		printf("  late %s", dur_short(f->lateness_ns, d, sizeof(d)));
	if (l->detail != NULL && *l->detail != '\0' &&
	    l->outcome != EVC_RUN_EXEC_EXITED) {
		fputs("  (", stdout);
		put_text(l->detail, strlen(l->detail));
		putchar(')');
	}
	putchar('\n');
	print_tail("    | ", l->stdout_tail, l->stdout_len);
	print_tail("    ! ", l->stderr_tail, l->stderr_len);
}

/* Pairs history (newest first) into runs, oldest first, into v; returns
 * how many. */
static size_t
group_runs(const struct evc_timer_info *ti, struct run_view *v)
{
	size_t n = 0, i;
	const struct evc_run *r;

	for (i = ti->history_count; i-- > 0;) {
		r = &ti->history[i];
		if (n > 0 && r->fire_id != 0 &&
		    v[n - 1].last->fire_id == r->fire_id &&
		    run_open(v[n - 1].last->outcome)) {
			v[n - 1].last = r;
			continue;
		}
		v[n].first = v[n].last = r;
		n++;
	}
	return n;
}

/*
 * runs ID (alias logs): each run of the timer, oldest first, one line
 * each, its output below it (stdout lines after "    | ", stderr after
 * "    ! ", the last KiB of each as the daemon keeps it for Get):
 *   fire 7  Sun 2026-12-06 02:30:00 CET  exit 3  took 15ms  late 296us
 * The two records of a fire (started/exited, queued/acked) are one run.
 * --json: one object per run (history's keys, plus result and failed).
 */
int
verb_runs(struct ctl *x)
{
	struct evc_timer_info ti;
	struct run_view *v;
	size_t n, i;
	uint64_t id;
	int r;

	if (!parse_u64(x->args[0], &id))
		return usage_error("invalid timer id '%s'", x->args[0]);
	r = evc_get(x->c, id, x->request_ms, &ti);
	if (r < 0)
		return lib_failure(x, r, x->verb->name);
	if ((v = calloc(ti.history_count + 1, sizeof(*v))) == NULL) {
		evc_timer_info_free(&ti);
		ctl_warnx("out of memory");
		return EXIT_UNREACHABLE;
	}
	n = group_runs(&ti, v);
	for (i = 0; i < n; i++)
		print_run_view(x, id, &v[i]);
	if (n == 0 && !x->json)
		ctl_warnx("timer %" PRIu64 " has no runs yet", id);
	free(v);
	evc_timer_info_free(&ti);
	return check_stdout();
}
