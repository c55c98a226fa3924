/*
 * sched_clock: the scheduler's clocks (see sched.h). One timerfd per
 * clock, armed at the earliest deadline of that clock's queue; the
 * realtime one always armed with TFD_TIMER_CANCEL_ON_SET, so a step of
 * the wall clock is seen at once; a heartbeat that notices a changed
 * zone and tells the store the wall time. A step or a zone change moves
 * calendar timers to their new next occurrence.
 *
 * Owns the timerfds and their events, not the timers: what is due is
 * fired by sched_run_clock (sched_fire.c). Must not block: arming is one
 * syscall, skipped when the deadline did not move earlier.
 */
#include "sched_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "batch.h"
#include "deliver.h"
#include "idtab.h"
#include "log.h"
#include "repeat.h"
#include "shard.h"
#include "store.h"
#include "tz.h"

static void sched_timerfd_cb(evutil_socket_t, short, void *);
static void sched_more_later(void);

int
sched_clock_init(struct event_base *base)
{
	int i, flags;

	for (i = 0; i < EVD_CLOCK_COUNT; i++) {
		struct sched_clock *sc = &sched.clocks[i];

		if ((sc->q = timerq_new()) == NULL)
			return -ENOMEM;
		flags = TFD_NONBLOCK | TFD_CLOEXEC;
		sc->fd = timerfd_create(clock_kernel_id(i), flags);
		if (sc->fd < 0)
			return -errno;
		sc->ev = event_new(base, sc->fd, EV_READ | EV_PERSIST,
		                   sched_timerfd_cb, sc);
		if (sc->ev == NULL || event_add(sc->ev, NULL) < 0)
			return -ENOMEM;
	}
	sched_arm(&sched.clocks[EVD_CLOCK_REALTIME], true);
	return 0;
}

void
sched_clock_shutdown(void)
{
	int i;

	for (i = 0; i < EVD_CLOCK_COUNT; i++) {
		struct sched_clock *sc = &sched.clocks[i];

		if (sc->ev != NULL)
			event_free(sc->ev);
		if (sc->fd >= 0)
			close(sc->fd);
		timerq_free(sc->q);
	}
}

/* The system zone's UTC offset and abbreviation now (re-read: tz_get
 * notices a replaced /etc/localtime or zone file). Reads no process-wide
 * zone state, so every loop may ask. */
void
sched_zone_now(long *ret_off, char *abbr, size_t size)
{
	struct tz_info info;
	struct tz *z;

	if (tz_get(NULL, &z) < 0) {
		*ret_off = 0;
		snprintf(abbr, size, "?");
		return;
	}
	if (tz_lookup(z, (int64_t)time(NULL), &info) < 0) {
		*ret_off = 0;
		snprintf(abbr, size, "?");
	} else {
		*ret_off = info.utoff_s;
		snprintf(abbr, size, "%s", info.abbr);
	}
	tz_unref(z);
}

/*
 * Points the clock's timerfd at the earliest deadline. Skipped when the
 * timerfd already wakes us no later than that: an early wakeup finds
 * nothing due and re-arms, which is cheaper than a syscall per schedule.
 */
void
sched_arm(struct sched_clock *sc, bool force)
{
	struct timerq_node *head = timerq_peek(sc->q);
	struct itimerspec its;
	int64_t when;
	int flags;

	if (head == NULL && sc != &sched.clocks[EVD_CLOCK_REALTIME])
		return; /* a stale wakeup finds nothing and re-arms */
	/* The realtime timerfd stays armed (a century ahead when no timer
	 * needs it): TFD_TIMER_CANCEL_ON_SET reports clock steps only to an
	 * armed timer, and every step is logged and counted. */
	when = head != NULL ? head->deadline_ns
	                    : clock_now_ns(EVD_CLOCK_REALTIME) +
	                              CLOCK_MAX_AHEAD_NS;
	if (when < 1)
		when = 1; /* 0 would disarm the timerfd */
	if (!force && sc->armed_ns != 0 && sc->armed_ns <= when)
		return;
	memset(&its, 0, sizeof its);
	its.it_value.tv_sec = when / 1000000000;
	its.it_value.tv_nsec = when % 1000000000;
	flags = TFD_TIMER_ABSTIME;
	if (sc == &sched.clocks[EVD_CLOCK_REALTIME])
		flags |= TFD_TIMER_CANCEL_ON_SET;
	if (timerfd_settime(sc->fd, flags, &its, NULL) < 0) {
		/* Cannot happen with a valid fd and time; keep the old arm
		 * and let the next change try again. */
		log_warn("timerfd_settime(%s)",
		         clock_name((int)(sc - sched.clocks)));
		return;
	}
	sc->armed_ns = when;
}

/* The rest of a burst fires on a later loop turn (a zero timeout is seen
 * only by the next turn; event_active would run it in this one, and
 * SCHED_FIRE_BATCH would bound nothing). */
static void
sched_more_later(void)
{
	static const struct timeval zero = { 0, 0 };

	event_add(sched.more_ev, &zero);
}

/* After a run of due timers: the loop hears whether callers were sent
 * Fired events in it. */
static void
sched_told_callers(void)
{
	if (deliver_caller_take() > 0 && sched.caller_fired != NULL)
		sched.caller_fired(sched.caller_fired_arg);
}

static void
sched_run(struct sched_clock *sc)
{
	bool more = sched_run_clock(sc);

	sc->armed_ns = 0;
	if (more)
		sched_more_later();
	else
		sched_arm(sc, true);
	sched_told_callers();
}

/* The wall clock or the zone changed: calendar occurrences are computed
 * again from now, so none fires early and none is left far ahead of a
 * clock set back. Due ones fire as they are. */
static void
sched_recompute_calendars(const char *why)
{
	int64_t now = clock_now_ns(EVD_CLOCK_REALTIME), cand;
	struct timer *t;
	uint64_t id = 0;
	size_t n = 0;

	while ((t = idtab_next(sched.by_id, id, &id)) != NULL) {
		const struct repeat *rep = timer_repeat(t);

		if (rep == NULL || rep->cal == NULL || t->held ||
		    timer_nominal(t) <= now)
			continue;
		/* Never an occurrence before its last fire: a clock set back
		 * does not fire again what already fired. */
		if (repeat_first(rep, now > TC(t)->last_fired_rt_ns
		                              ? now
		                              : TC(t)->last_fired_rt_ns,
		                 &cand) < 0 ||
		    cand == timer_nominal(t))
			continue;
		if (sched_reschedule(t, t->clock, cand) < 0) {
			log_warnx("%s: calendar timers not recomputed: the "
			          "store refuses writes",
			          why);
			break;
		}
		n++;
	}
	if (n > 0)
		log_info("%s: %zu calendar timers moved to their new next "
		         "occurrence",
		         why, n);
}

/* Logs and counts a change of the wall clock's offset from the
 * monotonic clock (a step, from clock_settime or NTP). */
static void
sched_clock_stepped(void)
{
	int64_t off = clock_now_ns(EVD_CLOCK_REALTIME) -
	              clock_now_ns(EVD_CLOCK_MONOTONIC);
	int64_t delta = off - sched.rt_offset;

	sched.stats.clock_steps++;
	/* Every loop sees the step on its own timerfd; one says so. */
	if (shard_self() == 0)
		log_notice("wall clock set: stepped by %s%" PRId64
		           ".%06" PRId64 " s (realtime - monotonic: %" PRId64
		           " -> %" PRId64 " ns); re-evaluating wall-clock "
		           "timers",
		           delta < 0 ? "-" : "+",
		           (int64_t)llabs(delta) / 1000000000,
		           ((int64_t)llabs(delta) % 1000000000) / 1000,
		           sched.rt_offset, off);
	sched.rt_offset = off;
	sched_recompute_calendars("wall clock set");
}

/* Called now and then: a changed zone offset (the system zone replaced,
 * its rules updated, or a DST transition) is logged, counted, and moves
 * calendar timers. */
static void
sched_zone_check(void)
{
	char abbr[sizeof sched.zone_abbr];
	long off;

	sched_zone_now(&off, abbr, sizeof abbr);
	if (off == sched.utc_offset && strcmp(abbr, sched.zone_abbr) == 0)
		return;
	sched.stats.tz_changes++;
	/* Every loop sees the change on its own heartbeat; one says so. */
	if (shard_self() == 0)
		log_notice("system time zone: UTC offset %+ld s (%s) -> "
		           "%+ld s (%s)",
		           sched.utc_offset, sched.zone_abbr, off, abbr);
	sched.utc_offset = off;
	snprintf(sched.zone_abbr, sizeof sched.zone_abbr, "%s", abbr);
	sched_recompute_calendars("time zone changed");
}

static void
sched_timerfd_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched_clock *sc = arg;
	uint64_t expirations;
	ssize_t n;

	n = read(fd, &expirations, sizeof expirations);
	if (n < 0 && errno == ECANCELED)
		sched_clock_stepped();
	else if (n < 0 && errno != EAGAIN)
		log_warn("timerfd read (%s)", clock_name((int)(sc - sched.clocks)));
	sched_run(sc);
}

void
sched_more_cb(evutil_socket_t fd, short what, void *arg)
{
	bool more = false;
	int i;

	for (i = 0; i < EVD_CLOCK_COUNT; i++) {
		struct sched_clock *sc = &sched.clocks[i];

		if (sched_run_clock(sc))
			more = true;
		else {
			sc->armed_ns = 0;
			sched_arm(sc, true);
		}
	}
	if (more)
		sched_more_later();
	sched_told_callers();
}

/* Records the wall time now and then, so that after a reboot the
 * "paused" downtime policy knows when evd was last running. */
void
sched_heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	const struct store_backend *be = batch_backend();
	struct store *s;
	int r;

	/* Each loop moves its own calendar timers when the zone changes. */
	sched_zone_check();
	/* Cluster mode: not a row every node's batch would lock (a node
	 * stopped inside its batch would stop the others' at it). */
	if (be == NULL || !be->durable || sched.cluster != NULL ||
	    (s = batch_store()) == NULL)
		return;
	r = be->meta_put(s, "last_seen_rt_ns",
	                 clock_now_ns(EVD_CLOCK_REALTIME));
	if (r < 0)
		batch_fail(r);
}

