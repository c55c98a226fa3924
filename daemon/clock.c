/*
 * clock: system clocks behind a replaceable source (see clock.h).
 */
#include "clock.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "evd_types.h"

static int64_t clock_system_now(int evd_clock);

static clock_now_fn clock_source = clock_system_now;

clockid_t
clock_kernel_id(int evd_clock)
{
	switch (evd_clock) {
	case EVD_CLOCK_REALTIME:
		return CLOCK_REALTIME;
	case EVD_CLOCK_BOOTTIME:
		return CLOCK_BOOTTIME;
	default:
		return CLOCK_MONOTONIC;
	}
}

const char *
clock_name(int evd_clock)
{
	switch (evd_clock) {
	case EVD_CLOCK_MONOTONIC:
		return "monotonic";
	case EVD_CLOCK_REALTIME:
		return "realtime";
	case EVD_CLOCK_BOOTTIME:
		return "boottime";
	default:
		return "?";
	}
}

int
clock_valid(int evd_clock)
{
	return evd_clock == EVD_CLOCK_MONOTONIC ||
	       evd_clock == EVD_CLOCK_REALTIME ||
	       evd_clock == EVD_CLOCK_BOOTTIME;
}

static int64_t
clock_system_now(int evd_clock)
{
	struct timespec ts;

	/* Cannot fail for these clock ids on Linux >= 2.6.39. */
	clock_gettime(clock_kernel_id(evd_clock), &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
clock_now_ns(int evd_clock)
{
	return clock_source(evd_clock);
}

/* The clocks as first read inside the current batch (per loop). */
static _Thread_local struct {
	unsigned depth;
	unsigned have; /* the three were read */
	int64_t ns[3];
} batch;

void
clock_batch_begin(void)
{
	if (batch.depth++ == 0)
		batch.have = 0;
}

void
clock_batch_end(void)
{
	if (batch.depth > 0)
		batch.depth--;
}

int64_t
clock_batch_ns(int evd_clock)
{
	if (batch.depth == 0 || !clock_valid(evd_clock))
		return clock_now_ns(evd_clock);
	/* All three at once, so that converting between clocks within the
	 * batch uses one instant, not two reads a batch's work apart. */
	if (!batch.have) {
		batch.ns[0] = clock_now_ns(EVD_CLOCK_REALTIME);
		batch.ns[1] = clock_now_ns(EVD_CLOCK_BOOTTIME);
		batch.ns[2] = clock_now_ns(EVD_CLOCK_MONOTONIC);
		batch.have = 1;
	}
	return batch.ns[evd_clock == EVD_CLOCK_REALTIME   ? 0
	                : evd_clock == EVD_CLOCK_BOOTTIME ? 1
	                                                    : 2];
}

void
clock_set_source(clock_now_fn fn)
{
	clock_source = fn != NULL ? fn : clock_system_now;
}

int64_t
clock_to_realtime_ns(int evd_clock, int64_t t_ns)
{
	int64_t d, r;

	if (evd_clock == EVD_CLOCK_REALTIME)
		return t_ns;
	/* Saturate: a deadline centuries away must not overflow. */
	if (__builtin_sub_overflow(t_ns, clock_batch_ns(evd_clock), &d) ||
	    __builtin_add_overflow(d, clock_batch_ns(EVD_CLOCK_REALTIME), &r))
		return d > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

const char *
clock_boot_id(void)
{
	static char boot_id[64];
	static int done;
	ssize_t n;
	int fd;

	if (done)
		return boot_id;
	done = 1;
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return boot_id;
	n = read(fd, boot_id, sizeof boot_id - 1);
	close(fd);
	if (n <= 0) {
		boot_id[0] = '\0';
		return boot_id;
	}
	boot_id[n] = '\0';
	boot_id[strcspn(boot_id, "\n")] = '\0';
	return boot_id;
}
