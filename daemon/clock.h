/*
 * clock: the daemon's view of time.
 *
 * Every read of a clock goes through clock_now_ns(), which calls a
 * replaceable function pointer, so tests can run the scheduler on a fake
 * clock. Clocks are named by the protocol's enum (EVD__CLOCK__MONOTONIC,
 * ...). Times are int64 nanoseconds: enough for 292 years either way.
 */
#ifndef EVD_CLOCK_H
#define EVD_CLOCK_H

#include <stdint.h>
#include <time.h>

#define EVD_CLOCK_COUNT 3

typedef int64_t (*clock_now_fn)(int evd_clock);

/* The current time on evd_clock (an EVD__CLOCK__* value). */
int64_t clock_now_ns(int evd_clock);
/* Replaces the time source (NULL restores the system clocks). */
void clock_set_source(clock_now_fn fn);
/* The kernel clockid_t behind an EVD__CLOCK__* value. */
clockid_t clock_kernel_id(int evd_clock);
/* "monotonic", "realtime", "boottime" or "?". */
const char *clock_name(int evd_clock);
/* True if evd_clock is a known clock. */
int clock_valid(int evd_clock);

/* The furthest ahead a deadline may be: a century. Beyond it, a request
 * is refused rather than left to overflow some later computation. */
#define CLOCK_MAX_AHEAD_NS (100LL * 366 * 24 * 3600 * 1000000000)

/* Converts an instant on evd_clock to wall time as of now (saturating). */
int64_t clock_to_realtime_ns(int evd_clock, int64_t t_ns);

/* The kernel's boot id (a UUID string), read once; "" if unavailable. */
const char *clock_boot_id(void);

#endif
