/*
 * evd_types: the daemon's own names for the small closed sets a timer
 * carries (its clock, misfire, delivery, downtime and overlap policies,
 * its calendar's DST rules) and for what became of one fire.
 *
 * The scheduler, the clock and the store speak these; only the protocol
 * edge (the request handlers, deliver, channel, wait) speaks evd.proto's
 * enums, and it converts through evd_types_pb.h, which also asserts at
 * build time that every value here equals its protobuf twin.
 *
 * The numbers are part of the on-disk format: the SQLite store keeps
 * them as plain integers (they were the protobuf values when the first
 * schema was written), so a value here never changes and a new one only
 * ever takes a new number. Fields that hold one of these are int, as
 * the store reads them; a value out of range is refused where it enters
 * (the request layer, or repeat_unpack for a stored schedule).
 *
 * Header only; includes nothing.
 */
#ifndef EVD_TYPES_H
#define EVD_TYPES_H

/* A timer's clock (clock.h reads them). */
enum evd_clock {
	EVD_CLOCK_MONOTONIC = 0, /* pauses during suspend */
	EVD_CLOCK_REALTIME = 1,  /* wall clock; follows clock steps */
	EVD_CLOCK_BOOTTIME = 2,  /* counts suspend */
};

/* A deadline that passed while evd was not running (or fell behind). */
enum evd_misfire {
	EVD_MISFIRE_FIRE = 0, /* fire once, late (default) */
	EVD_MISFIRE_SKIP = 1, /* do not fire; record the skip */
	EVD_MISFIRE_ALL = 2,  /* every missed occurrence in turn */
};

/* A calendar timer's local time that does not exist (spring forward). */
enum evd_dst_gap {
	EVD_DST_GAP_SHIFT = 0, /* the first instant after the gap */
	EVD_DST_GAP_SKIP = 1,  /* not at all that day */
	EVD_DST_GAP_UTC = 2,   /* with the offset before the gap */
};

/* A calendar timer's local time that exists twice (fall back). */
enum evd_dst_overlap {
	EVD_DST_OVERLAP_FIRST = 0,
	EVD_DST_OVERLAP_SECOND = 1,
	EVD_DST_OVERLAP_BOTH = 2,
};

/* A repeating exec timer's fire while its previous run still runs. */
enum evd_overlap {
	EVD_OVERLAP_SKIP = 0,
	EVD_OVERLAP_QUEUE_ONE = 1,
	EVD_OVERLAP_ALLOW = 2,
	EVD_OVERLAP_TERMINATE_PREVIOUS = 3,
};

/* How a channel fire is delivered. */
enum evd_delivery {
	EVD_DELIVERY_AT_LEAST_ONCE = 0, /* kept until acked; redelivered */
	EVD_DELIVERY_AT_MOST_ONCE = 1,  /* removed when delivered */
};

/* What a relative deadline does across a reboot. */
enum evd_downtime {
	EVD_DOWNTIME_COUNTS = 0, /* stays at its wall-clock instant */
	EVD_DOWNTIME_PAUSED = 1, /* the time down does not count */
};

/* What became of one fire: a run record's outcome. */
enum evd_run_outcome {
	EVD_RUN_UNSPECIFIED = 0,
	EVD_RUN_DELIVERED = 1,     /* sent to the scheduling connection */
	EVD_RUN_QUEUED = 2,        /* a message in its channel */
	EVD_RUN_ACKED = 3,         /* a subscriber acked it */
	EVD_RUN_REDELIVERED = 4,   /* not acked in time; sent again */
	EVD_RUN_DEAD_LETTERED = 5, /* max_attempts reached */
	EVD_RUN_SKIPPED = 6,       /* not fired: misfire or overlap skip */
	EVD_RUN_LOST = 7,          /* at most once, to a subscriber that left */
	EVD_RUN_EXEC_STARTED = 8,
	EVD_RUN_EXEC_EXITED = 9,
	EVD_RUN_EXEC_SIGNALED = 10,
	EVD_RUN_EXEC_TIMED_OUT = 11,
	EVD_RUN_EXEC_FAILED = 12, /* could not be started */
	EVD_RUN_CANCELLED = 13,
};

#endif
