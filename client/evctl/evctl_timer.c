/*
 * evctl_timer: the verbs that schedule timers (soon, later, at, on) and
 * those that act on one by id (cancel, pause, resume, trigger, retry,
 * get, wait; list is in evctl_list.c). A timer without --channel or a hook
 * fires to this connection and dies with it: soon/later/at/on then wait
 * for its fires here and print them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evctl.h"

/*
 * After scheduling a timer that fires to this connection: wait for its
 * fires (bounded by --timeout), print each, done after n of them (0:
 * never, for a repeating timer without --count). The connection must
 * stay open until then, since such timers die with it.
 */
static int
wait_own_fires(struct ctl *x, uint64_t timer_id, uint64_t n)
{
	int64_t deadline_ns = mono_now_ns() + x->timeout_ns;
	char d[TIMEFMT_DURATION_MAX];
	struct evc_fired ev;
	uint64_t seen = 0;
	int r;

	while (n == 0 || seen < n) {
		r = evc_next_event(x->c, ms_until(x->has_timeout, deadline_ns),
				   &ev);
		if (r == -EVC_E_TIMEOUT) {
			ctl_warnx(
			    "timed out after %s waiting for timer %" PRIu64
			    " to fire (%" PRIu64 " fires seen)",
			    dur(x->timeout_ns, d, sizeof(d)), timer_id, seen);
			return EXIT_REFUSED;
		}
		if (r < 0)
			return lost_connection(x);
		if (ev.timer_id == timer_id) {
			print_fired(x, &ev);
			seen++;
			r = check_stdout();
			if (r != 0) {
				evc_fired_free(&ev);
				return r;
			}
		}
		evc_fired_free(&ev);
	}
	return 0;
}

/* --exec or --shell: the timer runs a hook. */
bool
has_hook(const struct ctl *x)
{
	return (x->opts_seen & (OPT_EXEC | OPT_SHELL)) != 0;
}

/* --every, or a calendar timer. */
static bool
repeating(const struct ctl *x)
{
	return (x->opts_seen & OPT_EVERY) || x->verb->run == verb_on;
}

/*
 * The repeat and firing options of soon/later/at/on, or NULL when none
 * was given (the request is then exactly what evctl always sent).
 * --count only counts fires of a repeating timer.
 */
int
repeat_of(struct ctl *x, const struct evc_repeat **ret)
{
	*ret = NULL;
	if ((x->opts_seen & OPT_COUNT) && !repeating(x))
		return usage_error("--count goes with --every (or 'on'): a "
				   "one-shot timer fires once");
	x->rep.count = x->count;
	x->rep.dst_gap = (int)x->gap;
	x->rep.dst_overlap = (int)x->overlap;
	if (x->opts_seen & (OPTS_REPEAT | OPT_DST_GAP | OPT_DST_OVERLAP))
		*ret = &x->rep;
	return 0;
}

/*
 * Common tail of soon/later/at/on: print the new timer, maybe wait.
 * People get when it fires, as at(1) says "job 8 at ...":
 *   65541  next: Sun 2026-12-06 02:30:00 CET (in 5h 52m)
 * (local time in TZ; "(existing)" after it when --key found the timer
 * already scheduled); --quiet prints the id alone, for scripts. A timer
 * read in a zone of its own (on, at --tz) is shown in that zone, named,
 * since that is the zone it follows and the caller may be elsewhere:
 *   65542  next: Mon 2026-12-07 09:00:00 EST America/New_York (in 1d 4h)
 */
static int
scheduled(struct ctl *x, int r, const struct evc_scheduled *s,
	  const char *zone)
{
	char t[TIMEFMT_TIME_MAX], h[WHEN_HUMAN_MAX], l[LEFT_HUMAN_MAX + 8];
	struct jw w;

	if (r < 0)
		return lib_failure(x, r, x->verb->name);
	if (x->json) {
		jw_begin(&w);
		jw_u64(&w, "timer_id", s->timer_id);
		jw_str(&w, "clock", clock_name(s->clock));
		jw_i64(&w, "deadline_ns", s->deadline_ns);
		jw_str(&w, "due", iso(s->due_realtime_ns, true, t, sizeof(t)));
		jw_i64(&w, "due_realtime_ns", s->due_realtime_ns);
		if (zone != NULL)
			jw_str(&w, "zone", zone);
		jw_bool(&w, "existing", s->existing);
		jw_end(&w);
	} else if (x->opts_seen & OPT_QUIET) {
		printf("%" PRIu64 "\n", s->timer_id);
	} else {
		printf("%" PRIu64 "  next: %s%s%s (%s)%s\n", s->timer_id,
		       when_human(s->due_realtime_ns, zone, h, sizeof(h)),
		       zone != NULL ? " " : "", zone != NULL ? zone : "",
		       in_or_ago(s->due_realtime_ns - realtime_now_ns(), l,
				 sizeof(l)),
		       s->existing ? " (existing)" : "");
	}
	r = check_stdout();
	/* Channel and exec timers are durable: nothing to wait for here
	 * (`evctl wait ID` waits for a hook). A repeating timer of this
	 * connection fires until --count, or until evctl is stopped. */
	if (r != 0 || x->channel != NULL || has_hook(x))
		return r;
	return wait_own_fires(x, s->timer_id, repeating(x) ? x->count : 1);
}

/* The callback, with its exec hook in *ex (which must outlive it). */
struct evc_callback
callback_of(const struct ctl *x, struct evc_exec *ex)
{
	struct evc_callback cb = {
	    .channel = x->channel,
	    .payload = x->payload,
	    .payload_len = x->payload ? strlen(x->payload) : 0,
	    .key = x->key,
	    /* Options unset are zero, the daemon's defaults. */
	    .options = (x->opts_seen & OPTS_TIMER) ? &x->topts : NULL,
	};

	if (has_hook(x)) {
		memset(ex, 0, sizeof(*ex));
		if (x->shell != NULL) {
			ex->argv = &x->shell;
			ex->argc = 1;
			ex->shell = true;
		} else {
			ex->argv = (const char *const *)x->args + x->exec_at;
			ex->argc = (size_t)(x->nargs - x->exec_at);
		}
		ex->env = x->env;
		ex->nenv = x->nenv;
		ex->cwd = x->cwd;
		ex->timeout_ns = x->exec_timeout_ns;
		ex->properties = x->props;
		ex->nproperties = x->nprops;
		ex->retry = x->retry;
		ex->retry_delay_ns = x->retry_delay_ns;
		ex->on_failure = x->on_failure;
		cb.exec = ex;
	}
	return cb;
}

int
verb_soon(struct ctl *x)
{
	struct evc_exec ex;
	struct evc_callback cb = callback_of(x, &ex);
	const struct evc_repeat *rep;
	struct evc_scheduled s;
	int r;

	r = repeat_of(x, &rep);
	if (r != 0)
		return r;
	return scheduled(
	    x, evc_call_soon_opts(x->c, &cb, rep, x->request_ms, &s), &s,
	    NULL);
}

/* How far in the past `at` takes a wall time without --allow-past. */
#define PAST_SLACK_NS (60LL * 1000000000)

/* The verb's operands (those before --exec's argv) joined by spaces. */
static int
join_operands(const struct ctl *x, char *buf, size_t size)
{
	int n = (x->opts_seen & OPT_EXEC) ? x->exec_at : x->nargs, i;
	size_t len = 0, w;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		w = strlen(x->args[i]) + (i > 0);
		if (len + w >= size)
			return usage_error("the duration is too long");
		if (i > 0)
			buf[len++] = ' ';
		memcpy(buf + len, x->args[i], w - (i > 0));
		len += w - (i > 0);
		buf[len] = '\0';
	}
	return 0;
}

int
verb_later(struct ctl *x)
{
	struct evc_exec ex;
	struct evc_callback cb = callback_of(x, &ex);
	enum evc_clock clock = EVC_CLOCK_MONOTONIC;
	const struct evc_repeat *rep;
	struct evc_scheduled s;
	char text[TIMEFMT_INPUT_MAX + 1];
	int64_t delay_ns;
	int r;

	/* `later 10 min`: the operands before a hook's argv are one
	 * duration, as if quoted. */
	if ((r = join_operands(x, text, sizeof(text))) != 0)
		return r;
	if (timefmt_parse_duration_words(text, &delay_ns) < 0)
		return usage_error("invalid duration '%s' (examples: 250ms, "
				   "5s, 1h30m, 2d, '5 minutes')",
				   text);
	r = repeat_of(x, &rep);
	if (r != 0)
		return r;
	if (x->clock_name != NULL && strcmp(x->clock_name, "boottime") == 0)
		clock = EVC_CLOCK_BOOTTIME;
	else if (x->clock_name != NULL &&
		 strcmp(x->clock_name, "monotonic") != 0)
		return usage_error("later takes --clock monotonic or "
				   "boottime; for a wall-clock time use 'at'");
	return scheduled(x,
			 evc_call_later_opts(x->c, delay_ns, clock, &cb, rep,
					     x->request_ms, &s),
			 &s, NULL);
}

int
verb_at(struct ctl *x)
{
	struct evc_exec ex;
	struct evc_callback cb = callback_of(x, &ex);
	enum evc_clock clock = EVC_CLOCK_REALTIME;
	const struct evc_repeat *rep;
	struct evc_scheduled s;
	struct timefmt_when w;
	int64_t when_ns;
	int r;

	r = repeat_of(x, &rep);
	if (r != 0)
		return r;
	if (x->clock_name != NULL && strcmp(x->clock_name, "monotonic") == 0)
		clock = EVC_CLOCK_MONOTONIC;
	else if (x->clock_name != NULL &&
		 strcmp(x->clock_name, "boottime") == 0)
		clock = EVC_CLOCK_BOOTTIME;
	if (clock == EVC_CLOCK_REALTIME) {
		if (parse_when(x, x->args[0], &w) < 0)
			return usage_error(
			    "invalid time '%s' (examples: "
			    "2026-12-01T09:00:00Z, '2026-12-01 09:00', "
			    "'tomorrow 10:00', '+5m', 'now + 2 hours', "
			    "@1796115600; see 'evctl help time')",
			    x->args[0]);
		when_ns = w.ns;
		/* As at(1): a wall time that passed is a mistake more often
		 * than a wish to fire now (this minute still counts). */
		if (when_ns < realtime_now_ns() - PAST_SLACK_NS &&
		    !(x->opts_seen & OPT_ALLOW_PAST)) {
			char t[TIMEFMT_TIME_MAX];

			return usage_error("'%s' is in the past (%s); pass "
					   "--allow-past to fire it at once",
					   x->args[0],
					   iso(when_ns, true, t, sizeof(t)));
		}
	} else if ((x->opts_seen & OPT_TZ)) {
		return usage_error("--tz applies to wall-clock times, not to "
				   "the %s clock",
				   clock_name(clock));
	} else if (timefmt_parse_duration(x->args[0], &when_ns) < 0) {
		/* On the daemon's own clocks an instant is its reading in
		 * seconds, as `evctl time` prints it. */
		return usage_error("invalid time '%s' on the %s clock: give "
				   "seconds as 'evctl time' prints them",
				   x->args[0], clock_name(clock));
	}
	return scheduled(x,
			 evc_call_at_opts(x->c, when_ns, clock, &cb, rep,
					  x->request_ms, &s),
			 &s, clock == EVC_CLOCK_REALTIME ? x->tz : NULL);
}

/* on EXPR: a calendar timer. The expression is read here first, by the
 * parser the daemon uses, so that a typo is a usage error naming the
 * problem before anything is sent. */
int
verb_on(struct ctl *x)
{
	struct evc_exec ex;
	struct evc_callback cb = callback_of(x, &ex);
	char err[CALENDAR_ERROR_MAX];
	const struct evc_repeat *rep;
	struct evc_scheduled s;
	struct calendar *cal;
	char zbuf[256], ebuf[256];
	const char *tz = x->tz, *shown;
	int r;

	/* One rule for every verb: the caller's zone unless --tz, stored
	 * with the timer (next and parse preview the same). */
	if (tz == NULL && (tz = caller_zone(zbuf, sizeof(zbuf))) == NULL)
		ctl_warnx("your time zone has no name evd can store (TZ=%s); "
			  "the timer follows evd's zone; pass --tz ZONE",
			  getenv("TZ") != NULL ? getenv("TZ") : "");
	if (calendar_parse(x->args[0], &cal, err, sizeof(err)) < 0)
		return usage_error("invalid calendar expression '%s': %s "
				   "(see 'evctl help on')",
				   x->args[0], err);
	/* A zone named in the expression wins over tz (evd's rule too). */
	if (calendar_zone(cal) != NULL &&
	    (size_t)snprintf(ebuf, sizeof(ebuf), "%s", calendar_zone(cal)) <
		sizeof(ebuf))
		shown = ebuf;
	else
		shown = tz;
	calendar_free(cal);
	r = repeat_of(x, &rep);
	if (r != 0)
		return r;
	return scheduled(x,
			 evc_call_on(x->c, x->args[0], tz, &cb, rep,
				     x->request_ms, &s),
			 &s, shown);
}

/*
 * Cancel is idempotent in effect: a timer that already fired or was
 * cancelled (and is still kept) is said so, as success, with its state:
 *   evctl: timer 12 already ended (cancelled); nothing to cancel
 *   --json: {"timer_id":12,"cancelled":false,"state":"cancelled"}
 * False for an id the daemon does not know (the NOT_FOUND stands).
 */
static bool
already_ended(struct ctl *x, uint64_t id)
{
	struct evc_timer_info ti;
	struct jw w;
	bool ended;

	if (evc_get(x->c, id, x->request_ms, &ti) < 0)
		return false;
	ended = ti.state == EVC_TIMER_FIRED || ti.state == EVC_TIMER_CANCELLED;
	if (ended && x->json) {
		jw_begin(&w);
		jw_u64(&w, "timer_id", id);
		jw_bool(&w, "cancelled", false);
		jw_str(&w, "state", state_name(ti.state));
		jw_end(&w);
	} else if (ended) {
		ctl_warnx("timer %" PRIu64 " already ended (%s); nothing to "
			  "cancel",
			  id, state_name(ti.state));
	}
	evc_timer_info_free(&ti);
	return ended;
}

/*
 * cancel --channel NAME / --all [--uid UID]: one request, one commit on
 * the daemon's side; prints how many were cancelled (0 is success: the
 * selector matched nothing, as a second run finds).
 */
static int
cancel_all(struct ctl *x)
{
	uint64_t n = 0;
	struct jw w;
	int r;

	if (x->nargs > 0)
		return usage_error("cancel takes timer ids, or --channel or "
				   "--all, not both");
	if (x->channel != NULL && x->all)
		return usage_error("cancel: --channel or --all, not both "
				   "(--channel cancels that channel's timers, "
				   "--all every timer of yours, or of --uid)");
	r = evc_cancel_all(x->c, x->channel, x->has_uid, x->grant_id,
			   x->request_ms, &n);
	if (r < 0)
		return lib_failure(x, r, "cancel");
	if (x->json) {
		jw_begin(&w);
		jw_str(&w, "channel", x->channel);
		if (x->has_uid)
			jw_u64(&w, "uid", x->grant_id);
		else
			jw_str(&w, "uid", NULL);
		jw_u64(&w, "cancelled", n);
		jw_end(&w);
	} else {
		printf("%" PRIu64 "\n", n);
	}
	return check_stdout();
}

int
verb_cancel(struct ctl *x)
{
	uint64_t id;
	int i, r, status = 0;
	char what[64], why[512];
	struct jw w;

	if (x->channel != NULL || x->all)
		return cancel_all(x);
	if (x->has_uid)
		return usage_error("cancel: --uid goes with --channel or --all");
	if (x->nargs == 0)
		return usage_error("usage: evctl %s", x->verb->synopsis);
	/* All ids are checked before any is cancelled. */
	for (i = 0; i < x->nargs; i++)
		if (!parse_u64(x->args[i], &id))
			return usage_error("invalid timer id '%s'", x->args[i]);
	for (i = 0; i < x->nargs; i++) {
		parse_u64(x->args[i], &id);
		r = evc_cancel(x->c, id, x->request_ms);
		/* The cancel's reason, before already_ended asks again. */
		snprintf(why, sizeof(why), "%s", evc_errmsg(x->c));
		if (r == -EVC_E_NOT_FOUND && already_ended(x, id)) {
			r = check_stdout();
			if (r != 0)
				return r;
			continue;
		}
		if (r < 0) {
			snprintf(what, sizeof(what), "cancel %" PRIu64, id);
			r = lib_failure_msg(x, r, what, why);
			if (!exit_is_refusal(r))
				return r;
			status = r;
			continue;
		}
		if (x->json) {
			jw_begin(&w);
			jw_u64(&w, "timer_id", id);
			jw_bool(&w, "cancelled", true);
			jw_end(&w);
		} else {
			printf("%" PRIu64 "\n", id);
		}
	}
	r = check_stdout();
	return r != 0 ? r : status;
}

/*
 * pause/resume/trigger ID...: all ids are checked first; each timer is
 * then printed as it became, one line each:
 *   12 paused 2026-12-01T09:00:00+01:00
 * (id, state, next due; --json: get's object without options and
 * history). The exit status is the worst: 1 if the daemon refused one,
 * and evctl goes on.
 */
static int
timer_ops(struct ctl *x, const char *name,
	  int (*op)(struct evc *, uint64_t, int, struct evc_timer_info *))
{
	char what[64], t[TIMEFMT_TIME_MAX];
	struct evc_timer_info ti;
	int i, r, status = 0;
	uint64_t id;

	for (i = 0; i < x->nargs; i++)
		if (!parse_u64(x->args[i], &id))
			return usage_error("invalid timer id '%s'", x->args[i]);
	for (i = 0; i < x->nargs; i++) {
		parse_u64(x->args[i], &id);
		r = op(x->c, id, x->request_ms, &ti);
		if (r < 0) {
			snprintf(what, sizeof(what), "%s %" PRIu64, name, id);
			r = lib_failure(x, r, what);
			if (!exit_is_refusal(r))
				return r;
			status = r;
			continue;
		}
		if (x->json)
			print_timer(x, &ti, false);
		else
			printf("%" PRIu64 " %s %s\n", ti.timer_id,
			       state_name(ti.state),
			       iso(ti.due_realtime_ns, false, t, sizeof(t)));
		evc_timer_info_free(&ti);
	}
	r = check_stdout();
	return r != 0 ? r : status;
}

/* retry ID...: an exec timer's command once more, now, even when it
 * finished (trigger needs a pending timer). */
int
verb_retry(struct ctl *x)
{
	return timer_ops(x, "retry", evc_retry);
}

int
verb_pause(struct ctl *x)
{
	return timer_ops(x, "pause", evc_pause);
}

int
verb_resume(struct ctl *x)
{
	return timer_ops(x, "resume", evc_resume);
}

/* Fires once now; the schedule stays. */
int
verb_trigger(struct ctl *x)
{
	return timer_ops(x, "trigger", evc_trigger);
}

int
verb_get(struct ctl *x)
{
	struct evc_timer_info ti;
	uint64_t id;
	int r;

	if (!parse_u64(x->args[0], &id))
		return usage_error("invalid timer id '%s'", x->args[0]);
	r = evc_get(x->c, id, x->request_ms, &ti);
	if (r < 0)
		return lib_failure(x, r, "get");
	print_timer(x, &ti, true);
	evc_timer_info_free(&ti);
	return check_stdout();
}

/* Exit statuses of `wait`, as timeout(1) and shells have them. */
#define EXIT_HOOK_TIMED_OUT 124
#define EXIT_SIGNAL_BASE 128

/*
 * evd reports an already finished timer's last run without its output
 * (evc_get's history has the last 1 KiB of it): fetch the tails there,
 * best effort.
 */
static void
wait_fill_tails(struct ctl *x, uint64_t id, struct evc_run *run)
{
	struct evc_timer_info ti;
	struct evc_run *h;
	size_t i;

	if (!is_exec_run(run) || run->outcome == EVC_RUN_EXEC_STARTED ||
	    run->stdout_tail != NULL || run->stderr_tail != NULL ||
	    evc_get(x->c, id, x->request_ms, &ti) < 0)
		return;
	for (i = 0; i < ti.history_count; i++) {
		h = &ti.history[i];
		if (h->fire_id != run->fire_id || h->outcome != run->outcome)
			continue;
		run->stdout_tail = h->stdout_tail;
		run->stdout_len = h->stdout_len;
		run->stderr_tail = h->stderr_tail;
		run->stderr_len = h->stderr_len;
		h->stdout_tail = h->stderr_tail = NULL;
		h->stdout_len = h->stderr_len = 0;
		break;
	}
	evc_timer_info_free(&ti);
}

/*
 * Waits for timer ID's fire to finish and reports the run:
 *   timer_id:          12
 *   outcome:           exited
 *   exit_code:         3          (signal: for "signaled")
 *   duration:          2.1ms
 *   detail:            -
 * then the hook's stdout tail, as it wrote it, on stdout and its stderr
 * tail on stderr (--json: one object, the tails as strings in it). Exit
 * status: the hook's exit status; 128 + the signal that killed it; 124
 * when it was killed at its timeout (as timeout(1)); 1 when it could not
 * be started, the timer was cancelled, or the daemon refused; 0 for a
 * timer without a hook whose fire was done. --timeout bounds the wait
 * (then "timed out", 1).
 */
/*
 * A repeating timer's wait ends with its next fire, which may be far
 * off: say which one on stderr before blocking,
 *   evctl: waiting for fire 4 of timer 12, due 2026-12-07T02:30:00+01:00 (in 19h 2m)
 * (nothing for a one-shot, or when the timer cannot be read: the wait
 * says what is wrong). A script that waits "for the job" on a daily
 * timer would otherwise hang until tomorrow without a word, so a fire
 * more than WAIT_FAR_NS away, or a paused timer (which waits for a
 * resume), is refused unless --next says that is what is meant.
 * Returns 0 or the exit status of the refusal.
 */
#define WAIT_FAR_NS (INT64_C(15) * 60 * 1000000000)

static int
say_which_fire(struct ctl *x, uint64_t id)
{
	char t[TIMEFMT_TIME_MAX], d[TIMEFMT_DURATION_MAX];
	struct evc_timer_info ti;
	bool paused, far;
	int64_t left;
	int r = 0;

	if (evc_get(x->c, id, x->request_ms, &ti) < 0)
		return 0;
	if (ti.repeating && (ti.state == EVC_TIMER_PENDING ||
			     ti.state == EVC_TIMER_PAUSED)) {
		left = ti.due_realtime_ns - realtime_now_ns();
		paused = ti.state == EVC_TIMER_PAUSED;
		far = paused || left > WAIT_FAR_NS;
		iso(ti.due_realtime_ns, false, t, sizeof(t));
		dur(left > 0 ? left : 0, d, sizeof(d));
		if (far && !(x->opts_seen & OPT_NEXT))
			r = usage_error("timer %" PRIu64 " repeats and its next "
					"fire (%" PRIu64 ") is %s%s%s%s; "
					"add --next to wait for it",
					id, ti.fire_count + 1,
					paused ? "paused" : "due ",
					paused ? "" : t, paused ? "" : " in ",
					paused ? "" : d);
		else
			ctl_warnx("waiting for fire %" PRIu64 " of timer %" PRIu64
				  ", due %s (in %s)%s",
				  ti.fire_count + 1, id, t, d,
				  paused ? "; it is paused" : "");
	}
	evc_timer_info_free(&ti);
	return r;
}

int
verb_wait(struct ctl *x)
{
	int64_t deadline_ns = mono_now_ns() + x->timeout_ns;
	char d[TIMEFMT_DURATION_MAX];
	struct evc_run run;
	struct jw w;
	uint64_t id;
	int r, status = 0;

	if (!parse_u64(x->args[0], &id))
		return usage_error("invalid timer id '%s'", x->args[0]);
	if ((r = say_which_fire(x, id)) != 0)
		return r;
	r = evc_wait(x->c, id, ms_until(x->has_timeout, deadline_ns), &run);
	if (r == -EVC_E_TIMEOUT) {
		ctl_warnx("timed out after %s waiting for timer %" PRIu64
			  " to finish",
			  dur(x->timeout_ns, d, sizeof(d)), id);
		return EXIT_REFUSED;
	}
	if (r < 0)
		return lib_failure(x, r, "wait");
	wait_fill_tails(x, id, &run);
	switch (run.outcome) {
	case EVC_RUN_EXEC_EXITED:
		status = run.exit_code & 0xff;
		break;
	case EVC_RUN_EXEC_SIGNALED:
		status = EXIT_SIGNAL_BASE + (run.signal & 0x7f);
		break;
	case EVC_RUN_EXEC_TIMED_OUT:
		status = EXIT_HOOK_TIMED_OUT;
		break;
	case EVC_RUN_EXEC_FAILED:
	case EVC_RUN_CANCELLED:
		status = EXIT_REFUSED;
		break;
	default:
		status = 0;
		break;
	}
	if (x->json) {
		jw_begin(&w);
		jw_u64(&w, "timer_id", id);
		if (run.fire_id != 0)
			jw_u64(&w, "fire_id", run.fire_id);
		else
			jw_str(&w, "fire_id", NULL);
		jw_str(&w, "outcome", outcome_name(run.outcome));
		jw_str(&w, "detail", run.detail);
		jw_exec_run(&w, &run);
		jw_end(&w);
	} else {
		kv("timer_id", "%" PRIu64, id);
		kv("outcome", "%s", outcome_name(run.outcome));
		if (run.outcome == EVC_RUN_EXEC_EXITED)
			kv("exit_code", "%d", run.exit_code);
		if (run.signal != 0)
			kv("signal", "%d", run.signal);
		if (is_exec_run(&run))
			kv("duration", "%s", dur(run.duration_ns, d, sizeof(d)));
		kv_bytes("detail", run.detail,
			 run.detail ? strlen(run.detail) : 0);
		/* The hook's own bytes, unescaped, as if it had run here. */
		if (run.stdout_len > 0)
			fwrite(run.stdout_tail, 1, run.stdout_len, stdout);
		if (run.stderr_len > 0) {
			fflush(stdout);
			fwrite(run.stderr_tail, 1, run.stderr_len, stderr);
		}
	}
	if (run.outcome == EVC_RUN_CANCELLED)
		ctl_warnx("timer %" PRIu64 " was cancelled", id);
	else if (run.outcome == EVC_RUN_EXEC_FAILED)
		ctl_warnx("timer %" PRIu64 ": the hook could not be started%s%s",
			  id, run.detail ? ": " : "",
			  run.detail ? run.detail : "");
	evc_run_free(&run);
	r = check_stdout();
	return r != 0 ? r : status;
}
