/*
 * hook: the fires of exec timers: start the command as the timer's owner
 * (through exec.h) and, when it ends, record the run (exit status or
 * signal, duration, output tails) in the store, log it and tell waiters.
 * The timer itself was retired (or moved to its next occurrence) by
 * sched in the batch of the fire, so a hook runs at most once per fire (a crash while it runs does not run it
 * again; its history then ends at "started").
 */
#ifndef EVD_HOOK_H
#define EVD_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* One fire of an exec timer; pointers borrowed. */
struct hook_fire {
	uint64_t timer_id;
	uint64_t fire_id;
	uid_t uid;
	gid_t gid;
	const uint8_t *exec; /* packed Evd__Exec */
	size_t exec_len;
	const uint8_t *payload;
	size_t payload_len;
	int64_t due_rt_ns;
	int64_t fired_rt_ns;
	int64_t lateness_ns;
	/* Which attempt this run is (1: the first; a retry is 2 and up);
	 * 0: the one the Exec carries (Exec.attempt), else 1. */
	uint32_t attempt;
	/* An interval or calendar timer: its successes feed
	 * evd_timer_last_success_timestamp_seconds. */
	bool repeating;
};

int hook_init(void);
void hook_shutdown(void);

/*
 * Starts (queues) the hook. Returns 0, or -errno if it could not be
 * queued (bad stored command, queue full, no memory): the caller records
 * that as a failed run; *why says what (why_size bytes).
 */
int hook_fire(const struct hook_fire *f, char *why, size_t why_size);

/* Whether timer_id has a hook running, and its owner. */
bool hook_running(uint64_t timer_id, uid_t *ret_uid);
/* Ends every run of timer_id: SIGTERM to its process group, SIGKILL
 * after the grace period (overlap terminate-previous). */
void hook_terminate(uint64_t timer_id);

#endif
