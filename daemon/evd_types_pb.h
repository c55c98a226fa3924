/*
 * evd_types_pb: the one place the daemon's enums (evd_types.h) meet
 * evd.proto's. Every conversion at the protocol edge (request handlers,
 * the Fired and Run builders in deliver, channel and wait) goes through
 * these, and the asserts below make a .proto change that renumbers a
 * value a build error here, instead of a silent change of what the
 * integers already in the SQLite store mean.
 *
 * The values are equal by construction, so each conversion is a cast;
 * range checks stay where a value enters (the request layer).
 */
#ifndef EVD_TYPES_PB_H
#define EVD_TYPES_PB_H

#include <assert.h>

#include "evd.pb-c.h"
#include "evd_types.h"

#define EVD_SAME(a, b) static_assert((int)(a) == (int)(b), #a " == " #b)

EVD_SAME(EVD_CLOCK_MONOTONIC, EVD__CLOCK__MONOTONIC);
EVD_SAME(EVD_CLOCK_REALTIME, EVD__CLOCK__REALTIME);
EVD_SAME(EVD_CLOCK_BOOTTIME, EVD__CLOCK__BOOTTIME);

EVD_SAME(EVD_MISFIRE_FIRE, EVD__MISFIRE__MISFIRE_FIRE);
EVD_SAME(EVD_MISFIRE_SKIP, EVD__MISFIRE__MISFIRE_SKIP);
EVD_SAME(EVD_MISFIRE_ALL, EVD__MISFIRE__MISFIRE_ALL);

EVD_SAME(EVD_DST_GAP_SHIFT, EVD__DST_GAP__DST_GAP_SHIFT);
EVD_SAME(EVD_DST_GAP_SKIP, EVD__DST_GAP__DST_GAP_SKIP);
EVD_SAME(EVD_DST_GAP_UTC, EVD__DST_GAP__DST_GAP_UTC);

EVD_SAME(EVD_DST_OVERLAP_FIRST, EVD__DST_OVERLAP__DST_OVERLAP_FIRST);
EVD_SAME(EVD_DST_OVERLAP_SECOND, EVD__DST_OVERLAP__DST_OVERLAP_SECOND);
EVD_SAME(EVD_DST_OVERLAP_BOTH, EVD__DST_OVERLAP__DST_OVERLAP_BOTH);

EVD_SAME(EVD_OVERLAP_SKIP, EVD__OVERLAP__OVERLAP_SKIP);
EVD_SAME(EVD_OVERLAP_QUEUE_ONE, EVD__OVERLAP__OVERLAP_QUEUE_ONE);
EVD_SAME(EVD_OVERLAP_ALLOW, EVD__OVERLAP__OVERLAP_ALLOW);
EVD_SAME(EVD_OVERLAP_TERMINATE_PREVIOUS,
         EVD__OVERLAP__OVERLAP_TERMINATE_PREVIOUS);

EVD_SAME(EVD_DELIVERY_AT_LEAST_ONCE, EVD__DELIVERY__AT_LEAST_ONCE);
EVD_SAME(EVD_DELIVERY_AT_MOST_ONCE, EVD__DELIVERY__AT_MOST_ONCE);

EVD_SAME(EVD_DOWNTIME_COUNTS, EVD__DOWNTIME__DOWNTIME_COUNTS);
EVD_SAME(EVD_DOWNTIME_PAUSED, EVD__DOWNTIME__DOWNTIME_PAUSED);

EVD_SAME(EVD_RUN_UNSPECIFIED, EVD__RUN_OUTCOME__RUN_OUTCOME_UNSPECIFIED);
EVD_SAME(EVD_RUN_DELIVERED, EVD__RUN_OUTCOME__RUN_DELIVERED);
EVD_SAME(EVD_RUN_QUEUED, EVD__RUN_OUTCOME__RUN_QUEUED);
EVD_SAME(EVD_RUN_ACKED, EVD__RUN_OUTCOME__RUN_ACKED);
EVD_SAME(EVD_RUN_REDELIVERED, EVD__RUN_OUTCOME__RUN_REDELIVERED);
EVD_SAME(EVD_RUN_DEAD_LETTERED, EVD__RUN_OUTCOME__RUN_DEAD_LETTERED);
EVD_SAME(EVD_RUN_SKIPPED, EVD__RUN_OUTCOME__RUN_SKIPPED);
EVD_SAME(EVD_RUN_LOST, EVD__RUN_OUTCOME__RUN_LOST);
EVD_SAME(EVD_RUN_EXEC_STARTED, EVD__RUN_OUTCOME__RUN_EXEC_STARTED);
EVD_SAME(EVD_RUN_EXEC_EXITED, EVD__RUN_OUTCOME__RUN_EXEC_EXITED);
EVD_SAME(EVD_RUN_EXEC_SIGNALED, EVD__RUN_OUTCOME__RUN_EXEC_SIGNALED);
EVD_SAME(EVD_RUN_EXEC_TIMED_OUT, EVD__RUN_OUTCOME__RUN_EXEC_TIMED_OUT);
EVD_SAME(EVD_RUN_EXEC_FAILED, EVD__RUN_OUTCOME__RUN_EXEC_FAILED);
EVD_SAME(EVD_RUN_CANCELLED, EVD__RUN_OUTCOME__RUN_CANCELLED);

#undef EVD_SAME

/* Daemon value (an int holding one of evd_types.h) to the wire, and the
 * wire's (already range-checked by the caller) to the daemon's. */
#define EVD_PB_CONV(name, pbtype)                                        \
	static inline pbtype evd_##name##_to_pb(int v)                   \
	{                                                                \
		return (pbtype)v;                                        \
	}                                                                \
	static inline int evd_##name##_from_pb(pbtype v)                 \
	{                                                                \
		return (int)v;                                           \
	}
EVD_PB_CONV(clock, Evd__Clock)
EVD_PB_CONV(misfire, Evd__Misfire)
EVD_PB_CONV(dst_gap, Evd__DstGap)
EVD_PB_CONV(dst_overlap, Evd__DstOverlap)
EVD_PB_CONV(overlap, Evd__Overlap)
EVD_PB_CONV(delivery, Evd__Delivery)
EVD_PB_CONV(downtime, Evd__Downtime)
EVD_PB_CONV(run_outcome, Evd__RunOutcome)
#undef EVD_PB_CONV

#endif
