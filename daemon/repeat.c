/*
 * repeat: next occurrences and effective deadlines (see repeat.h).
 *
 * Also the codec of a schedule as a request carries it and as the store
 * keeps it (a packed TimerOptions), so this file, unlike the rest of the
 * scheduler, includes evd.pb-c.h (through evd_types_pb.h); repeat.h
 * names the two protobuf types it takes without including it.
 */
#include "repeat.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "clock.h"
#include "evd_types_pb.h"

static void
rerr(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

void
repeat_free(struct repeat *r)
{
	if (r == NULL)
		return;
	calendar_free(r->cal);
	free(r->cal_text);
	free(r->tz);
	free(r);
}

bool
repeat_repeats(const struct repeat *r)
{
	return r != NULL && (r->every_ns > 0 || r->cal != NULL);
}

static bool
text_ok(const char *s)
{
	return s != NULL && s[0] != '\0' && strlen(s) <= REPEAT_TEXT_MAX;
}

int
repeat_from_options(const Evd__TimerOptions *o, const char *calendar,
                    const char *tz, int clock, struct repeat **ret,
                    char *err, size_t errsize)
{
	const Evd__Repeat *rp = o != NULL ? o->repeat : NULL;
	struct repeat *r;
	char cerr[CALENDAR_ERROR_MAX];
	int rc;

	*ret = NULL;
	if (calendar != NULL && calendar[0] == '\0')
		calendar = NULL;
	if (tz != NULL && tz[0] == '\0')
		tz = NULL;
	if (rp != NULL && ((rp->calendar != NULL && rp->calendar[0] != '\0') ||
	                   (rp->tz != NULL && rp->tz[0] != '\0'))) {
		rerr(err, errsize, "repeat.calendar and repeat.tz are set by "
		                   "CallOn only");
		return -EINVAL;
	}
	if (tz != NULL && calendar == NULL) {
		rerr(err, errsize, "a time zone needs a calendar expression");
		return -EINVAL;
	}
	/* Most timers ask for none of it: no allocation for them. */
	if (calendar == NULL && rp == NULL &&
	    (o == NULL || (!o->has_overlap && !o->has_randomized_delay_ns &&
	                   !o->has_accuracy_ns)))
		return 0; /* one plain deadline */
	if ((r = calloc(1, sizeof *r)) == NULL)
		return -ENOMEM;
	if (rp != NULL) {
		r->every_ns = rp->has_every_ns ? rp->every_ns : 0;
		r->count = rp->has_count ? rp->count : 0;
		r->dst_gap = rp->has_dst_gap ? evd_dst_gap_from_pb(rp->dst_gap) : 0;
		r->dst_overlap = rp->has_dst_overlap ? evd_dst_overlap_from_pb(rp->dst_overlap) : 0;
	}
	if (o != NULL) {
		r->overlap = o->has_overlap ? evd_overlap_from_pb(o->overlap) : 0;
		r->randomized_delay_ns =
		        o->has_randomized_delay_ns ? o->randomized_delay_ns : 0;
		r->accuracy_ns = o->has_accuracy_ns ? o->accuracy_ns : 0;
	}
	rc = -EINVAL;
	if (r->every_ns < 0 || (r->every_ns > 0 &&
	                        r->every_ns < REPEAT_EVERY_MIN_NS)) {
		rerr(err, errsize, "repeat.every_ns must be 0 or at least 1 ms");
		goto fail;
	}
	if (r->every_ns > CLOCK_MAX_AHEAD_NS) {
		rerr(err, errsize, "repeat.every_ns is more than a century");
		goto fail;
	}
	if (r->every_ns > 0 && calendar != NULL) {
		rerr(err, errsize, "a timer repeats by interval or by calendar, "
		                   "not both");
		goto fail;
	}
	if (r->count > 0 && r->every_ns == 0 && calendar == NULL) {
		rerr(err, errsize, "repeat.count needs an interval or a "
		                   "calendar");
		goto fail;
	}
	if (r->dst_gap < EVD_DST_GAP_SHIFT ||
	    r->dst_gap > EVD_DST_GAP_UTC ||
	    r->dst_overlap < EVD_DST_OVERLAP_FIRST ||
	    r->dst_overlap > EVD_DST_OVERLAP_BOTH) {
		rerr(err, errsize, "unknown DST policy");
		goto fail;
	}
	if (r->overlap < EVD_OVERLAP_SKIP ||
	    r->overlap > EVD_OVERLAP_TERMINATE_PREVIOUS) {
		rerr(err, errsize, "unknown overlap policy");
		goto fail;
	}
	if (r->randomized_delay_ns < 0 ||
	    r->randomized_delay_ns > REPEAT_DELAY_MAX_NS ||
	    r->accuracy_ns < 0 || r->accuracy_ns > REPEAT_DELAY_MAX_NS) {
		rerr(err, errsize, "randomized_delay_ns and accuracy_ns must be "
		                   "between 0 and 366 days");
		goto fail;
	}
	if (calendar != NULL) {
		if (clock != EVD_CLOCK_REALTIME) {
			rerr(err, errsize, "calendar timers run on the realtime "
			                   "clock");
			goto fail;
		}
		if (!text_ok(calendar)) {
			rerr(err, errsize, "calendar expression longer than %d "
			                   "bytes", REPEAT_TEXT_MAX);
			goto fail;
		}
		if (tz != NULL && (!text_ok(tz) || !calendar_zone_valid(tz))) {
			rerr(err, errsize, "unknown time zone \"%.64s\"", tz);
			goto fail;
		}
		rc = calendar_parse(calendar, &r->cal, cerr, sizeof cerr);
		if (rc < 0) {
			if (rc == -EINVAL)
				rerr(err, errsize, "calendar: %s", cerr);
			goto fail;
		}
		rc = -EINVAL;
		if (calendar_subsecond(r->cal)) {
			/* Fractions of a second would let one timer fire
			 * every microsecond, and make each evaluation walk
			 * them: whole seconds are enough for a timer. */
			rerr(err, errsize, "calendar: timers fire on whole "
			                   "seconds; this expression has "
			                   "fractions of a second");
			goto fail;
		}
		rc = -ENOMEM;
		if ((r->cal_text = strdup(calendar)) == NULL ||
		    (tz != NULL && (r->tz = strdup(tz)) == NULL))
			goto fail;
	}
	if (r->every_ns == 0 && r->cal == NULL && r->randomized_delay_ns == 0 &&
	    r->accuracy_ns == 0 && r->overlap == 0) {
		repeat_free(r); /* one plain deadline */
		return 0;
	}
	*ret = r;
	return 0;
fail:
	repeat_free(r);
	return rc;
}

static int
cal_next(const struct repeat *r, int64_t after, int64_t *ret)
{
	return calendar_next(r->cal, r->tz, (enum calendar_gap)r->dst_gap,
	                     (enum calendar_overlap)r->dst_overlap, after, ret);
}

int
repeat_first(const struct repeat *r, int64_t after_ns, int64_t *ret_ns)
{
	if (r != NULL && r->cal != NULL)
		return cal_next(r, after_ns, ret_ns);
	*ret_ns = after_ns;
	return 0;
}

int
repeat_next(const struct repeat *r, int misfire, uint64_t fired,
            int64_t prev_ns, int64_t now_ns, int64_t *ret_ns)
{
	int64_t next, behind;
	int rc;

	if (!repeat_repeats(r) || (r->count > 0 && fired >= r->count))
		return -ENOENT;
	if (r->cal != NULL) {
		if ((rc = cal_next(r, prev_ns, &next)) < 0)
			return rc;
		if (next <= now_ns && misfire != EVD_MISFIRE_ALL &&
		    (rc = cal_next(r, now_ns, &next)) < 0)
			return rc;
		*ret_ns = next;
		return 0;
	}
	if (__builtin_add_overflow(prev_ns, r->every_ns, &next))
		return -EOVERFLOW;
	if (next <= now_ns && misfire != EVD_MISFIRE_ALL) {
		/* Whole periods only, so the grid stays where it was. */
		if (__builtin_sub_overflow(now_ns, prev_ns, &behind))
			return -EOVERFLOW;
		behind = behind / r->every_ns + 1;
		if (__builtin_mul_overflow(behind, r->every_ns, &behind) ||
		    __builtin_add_overflow(prev_ns, behind, &next))
			return -EOVERFLOW;
	}
	*ret_ns = next;
	return 0;
}

int64_t
repeat_effective(const struct repeat *r, int64_t nominal_ns, uint64_t rnd)
{
	static const int64_t grains[] = {
		INT64_C(60000000000), INT64_C(10000000000), INT64_C(1000000000),
		250000000, 100000000, 10000000, 1000000, 1000,
	};
	int64_t t = nominal_ns, g = 0, end;
	size_t i;

	if (r == NULL)
		return t;
	if (r->randomized_delay_ns > 0) {
		int64_t d = (int64_t)(rnd % (uint64_t)r->randomized_delay_ns);

		t = t > INT64_MAX - d ? INT64_MAX : t + d;
	}
	if (r->accuracy_ns > 0) {
		for (i = 0; i < sizeof grains / sizeof grains[0]; i++)
			if (grains[i] <= r->accuracy_ns) {
				g = grains[i];
				break;
			}
		if (g == 0 || t > INT64_MAX - r->accuracy_ns)
			return t;
		end = t + r->accuracy_ns;
		/* The last grain boundary in [t, end]: every timer whose
		 * window holds that boundary fires in the same wake-up. */
		end -= end % g;
		if (end >= t)
			t = end;
	}
	return t;
}

void
repeat_fill_options(const struct repeat *r, Evd__TimerOptions *o,
                    Evd__Repeat *rep)
{
	if (r == NULL)
		return;
	if (repeat_repeats(r)) {
		evd__repeat__init(rep);
		if (r->every_ns > 0) {
			rep->has_every_ns = true;
			rep->every_ns = r->every_ns;
		}
		if (r->count > 0) {
			rep->has_count = true;
			rep->count = r->count;
		}
		rep->calendar = r->cal_text;
		rep->tz = r->tz;
		if (r->cal != NULL) {
			rep->has_dst_gap = rep->has_dst_overlap = true;
			rep->dst_gap = evd_dst_gap_to_pb(r->dst_gap);
			rep->dst_overlap = evd_dst_overlap_to_pb(r->dst_overlap);
		}
		o->repeat = rep;
	}
	if (r->overlap != 0) {
		o->has_overlap = true;
		o->overlap = evd_overlap_to_pb(r->overlap);
	}
	if (r->randomized_delay_ns > 0) {
		o->has_randomized_delay_ns = true;
		o->randomized_delay_ns = r->randomized_delay_ns;
	}
	if (r->accuracy_ns > 0) {
		o->has_accuracy_ns = true;
		o->accuracy_ns = r->accuracy_ns;
	}
}

uint8_t *
repeat_pack(const struct repeat *r, size_t *ret_len)
{
	Evd__TimerOptions o = EVD__TIMER_OPTIONS__INIT;
	Evd__Repeat rep = EVD__REPEAT__INIT;
	uint8_t *buf;
	size_t len;

	repeat_fill_options(r, &o, &rep);
	len = evd__timer_options__get_packed_size(&o);
	if ((buf = malloc(len > 0 ? len : 1)) == NULL)
		return NULL;
	evd__timer_options__pack(&o, buf);
	*ret_len = len;
	return buf;
}

int
repeat_unpack(const uint8_t *buf, size_t len, int clock, struct repeat **ret,
              char *err, size_t errsize)
{
	Evd__TimerOptions *o;
	Evd__Repeat *rp;
	char *cal = NULL, *tz = NULL;
	int rc;

	*ret = NULL;
	if ((o = evd__timer_options__unpack(NULL, len, buf)) == NULL) {
		rerr(err, errsize, "undecodable schedule");
		return -EINVAL;
	}
	/* The stored calendar and zone come back the way CallOn gives them. */
	rp = o->repeat;
	if (rp != NULL) {
		cal = rp->calendar;
		tz = rp->tz;
		rp->calendar = NULL;
		rp->tz = NULL;
	}
	rc = repeat_from_options(o, cal, tz, clock, ret, err, errsize);
	if (rp != NULL) {
		rp->calendar = cal;
		rp->tz = tz;
	}
	evd__timer_options__free_unpacked(o, NULL);
	return rc;
}
