/*
 * repeat: when a repeating timer fires next, and where a deadline really
 * lands (randomized delay, accuracy window).
 *
 * Pure: no I/O, no clock, no logging, no global state; the caller passes
 * "now" and the random draw, so every rule here is unit-tested on
 * simulated time (tests/unit/test_repeat.c). The one outside input is the
 * time-zone database, read by the calendar module for calendar timers:
 * occurrences are computed in the zone as it is at evaluation time, so a
 * tzdata update or a change of the system zone between scheduling and
 * firing is honoured.
 *
 * A timer has a nominal deadline (the occurrence: "every 10 min from
 * 09:00" gives 09:10, 09:20, ...) and an effective one (nominal plus its
 * randomized delay, pushed to the end of its accuracy window); the next
 * occurrence is always computed from the nominal one, so neither the
 * daemon's lateness nor the random delay makes a schedule drift.
 *
 * Thread-safety: any loop thread may use this module; calendar timers go
 * through calendar.h, which reads zones itself (lib/tz.h) and touches no
 * process-wide state.
 */
#ifndef EVD_REPEAT_H
#define EVD_REPEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evd_types.h"

/* Only repeat_from_options and repeat_fill_options, which the request
 * layer calls, see these: the scheduler uses the rest and does not
 * include evd.pb-c.h. */
struct Evd__TimerOptions;
struct Evd__Repeat;

/* Bounds on what a client may ask for. */
#define REPEAT_EVERY_MIN_NS INT64_C(1000000)            /* 1 ms */
#define REPEAT_DELAY_MAX_NS (INT64_C(366) * 86400 * 1000000000)
#define REPEAT_TEXT_MAX 1024                            /* calendar, tz */

/* The schedule of one timer beyond a single deadline. Owned by its
 * timer; immutable once built, except through repeat_free. */
struct repeat {
	int64_t every_ns;        /* > 0: interval on the timer's clock */
	uint64_t count;          /* > 0: at most this many fires */
	struct calendar *cal;    /* calendar timer (realtime clock) */
	char *cal_text;          /* as the client wrote it */
	char *tz;                /* NULL: the daemon's zone at evaluation */
	int dst_gap;             /* enum evd_dst_gap */
	int dst_overlap;         /* enum evd_dst_overlap */
	int overlap;             /* enum evd_overlap (exec timers) */
	int64_t randomized_delay_ns;
	int64_t accuracy_ns;
};

/*
 * Builds the schedule that options (and, for CallOn, calendar and tz)
 * describe. *ret is set to NULL when there is nothing beyond one plain
 * deadline. clock is the timer's enum evd_clock; calendar timers must be
 * REALTIME. Returns 0, -ENOMEM, or -EINVAL with a reason in err
 * (NUL-terminated when errsize > 0).
 */
int repeat_from_options(const struct Evd__TimerOptions *options,
                        const char *calendar, const char *tz, int clock,
                        struct repeat **ret, char *err, size_t errsize);

/* Frees r (NULL is fine). */
void repeat_free(struct repeat *r);

/* True if r fires more than once (interval or calendar). */
bool repeat_repeats(const struct repeat *r);

/*
 * The first occurrence of a calendar timer strictly after after_ns, or
 * for an interval timer first_ns itself. Returns 0, -ENOENT (the
 * calendar has no occurrence left), -EINVAL (unknown zone) or
 * -EOVERFLOW.
 */
int repeat_first(const struct repeat *r, int64_t after_ns, int64_t *ret_ns);

/*
 * The nominal deadline after the occurrence prev_ns, which fired (or was
 * skipped) at now_ns on the timer's clock. With misfire ALL every
 * occurrence comes in turn, even those already past; otherwise the next
 * one is the first after now_ns (a timer that fell behind fires once,
 * late, then keeps its grid). fired is the timer's fire count including
 * this fire: with count reached there is no next. Returns 0, -ENOENT (no
 * next occurrence: the timer ends), -EINVAL or -EOVERFLOW.
 */
int repeat_next(const struct repeat *r, int misfire, uint64_t fired,
                int64_t prev_ns, int64_t now_ns, int64_t *ret_ns);

/*
 * Where nominal_ns really fires: plus a random delay in
 * [0, randomized_delay_ns) drawn from rnd, then to the last boundary of
 * the accuracy window (the largest of 1 min, 10 s, 1 s, 250 ms, 100 ms,
 * 10 ms, 1 ms and 1 us not above accuracy_ns), so timers due within one
 * window share one wake-up. Never earlier than nominal_ns. r NULL:
 * nominal_ns.
 */
int64_t repeat_effective(const struct repeat *r, int64_t nominal_ns,
                         uint64_t rnd);

/*
 * Fills o's fields 5-8 (repeat, overlap, randomized delay, accuracy)
 * from r; rep is the storage o->repeat points to. Strings are borrowed
 * from r.
 */
void repeat_fill_options(const struct repeat *r, struct Evd__TimerOptions *o,
                         struct Evd__Repeat *rep);

/*
 * The stored form: a packed TimerOptions with fields 5-8. repeat_pack
 * returns a malloc'ed buffer (or NULL on ENOMEM) and its length;
 * repeat_unpack rebuilds (for clock) what repeat_pack wrote: 0, -ENOMEM
 * or -EINVAL (err says why).
 */
uint8_t *repeat_pack(const struct repeat *r, size_t *ret_len);
int repeat_unpack(const uint8_t *buf, size_t len, int clock,
                  struct repeat **ret, char *err, size_t errsize);

#endif
