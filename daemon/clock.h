/*
 * clock: the daemon's view of time.
 *
 * Every read of a clock goes through clock_now_ns(), which calls a
 * replaceable function pointer, so tests can run the scheduler on a fake
 * clock. Clocks are named by enum evd_clock (evd_types.h), whose values
 * are the protocol's. Times are int64 nanoseconds: enough for 292 years either way.
 */
#ifndef EVD_CLOCK_H
#define EVD_CLOCK_H

#include <stdint.h>
#include <time.h>

#include "evd_types.h"

#define EVD_CLOCK_COUNT 3

typedef int64_t (*clock_now_fn)(int evd_clock);

/* The current time on evd_clock (an enum evd_clock value). */
int64_t clock_now_ns(int evd_clock);
/*
 * A batch of requests read from one connection in one go: every request
 * in it arrived before the batch began, so "now" read once at its start
 * serves them all as the time the request was made (a deadline computed
 * from it is never before the client's own now + delay). Reading each
 * clock once per batch instead of three or four times per request saves
 * a sizable part of a pipelined call_later on a VM's kvm-clock.
 * clock_batch_ns is clock_now_ns outside a batch; clock_to_realtime_ns
 * uses it. Batches nest; per thread.
 */
void clock_batch_begin(void);
void clock_batch_end(void);
int64_t clock_batch_ns(int evd_clock);

/* Replaces the time source (NULL restores the system clocks). */
void clock_set_source(clock_now_fn fn);
/* The kernel clockid_t behind an enum evd_clock value. */
clockid_t clock_kernel_id(int evd_clock);
/* "monotonic", "realtime", "boottime" or "?". */
const char *clock_name(int evd_clock);
/* True if evd_clock is a known clock. */
int clock_valid(int evd_clock);

/* The furthest ahead a deadline may be: a century. Beyond it, a request
 * is refused rather than left to overflow some later computation. */
#define CLOCK_MAX_AHEAD_NS (100LL * 366 * 24 * 3600 * 1000000000)

/* Converts an instant on evd_clock to wall time as of now (saturating;
 * inside a batch, as of its start). */
int64_t clock_to_realtime_ns(int evd_clock, int64_t t_ns);

/* The kernel's boot id (a UUID string), read once; "" if unavailable. */
const char *clock_boot_id(void);

#endif
