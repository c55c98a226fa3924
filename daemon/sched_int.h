/*
 * sched_int.h: what the scheduler's files share (sched.c: timers, their
 * indexes and the API; sched_fire.c: the firing policy and the hand-off
 * to deliver; sched_clock.c: timerfds, clock steps, zone changes, the
 * heartbeat; sched_load.c: rebuilding durable timers from the store). Private to them and to tests/unit/test_sched.c; no
 * other module includes it.
 *
 * All state is the thread-local `sched` (one scheduler per loop). Every
 * struct timer is owned by sched.c: the other files create or free one
 * only through timer_new / timer_free and link it only through
 * sched_link / sched_unlink.
 */
#ifndef EVD_SCHED_INT_H
#define EVD_SCHED_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <event2/util.h>

#include "clock.h"
#include "sched.h"
#include "timerq.h"

struct event;
struct idmap;
struct idtab;
struct pool;
struct repeat;
struct store;
struct store_backend;
struct store_run;
struct store_timer;
struct strmap;
struct timerq;

/* Owner: its timer. What most timers do not need: the targets and
 * options of durable timers, the key, the schedule of repeating ones,
 * and their history. A plain caller timer has none (cold == NULL), so
 * it costs struct timer alone; fields read through TC() are then 0. */
struct timer_cold {
	uint64_t fence;
	uint32_t max_attempts;
	uint8_t delivery;
	uint8_t downtime;
	bool queued_one;  /* overlap queue-one: a run waits for the hook */
	uint32_t catchup; /* consecutive fires already behind schedule */
	char *channel;    /* channel target: durable; interned (sched_name) */
	uint8_t *exec;    /* exec target (packed Exec (evd.proto)): durable */
	size_t exec_len;
	char *key;        /* owner-scoped idempotency key, or NULL */
	char *keymap_key; /* "uid\0key" as stored in the key map */
	size_t keymap_len;
	uint64_t fire_count;
	int64_t last_fired_rt_ns;
	struct repeat *rep; /* repeating or randomized; NULL: one deadline */
	int64_t nominal_ns; /* with rep: the occurrence; qn.deadline_ns is
			     * where it really fires (repeat_effective) */
};

/*
 * Owner: sched. Linked into exactly one queue (or the held-back list),
 * the id table and, with a key, the key map, from sched_add until it
 * fires or is cancelled. Kept small (memory per pending timer is a
 * target): the id and the uid are the queue node's seq and aux, and
 * everything rare lives in `cold`.
 */
struct timer {
	union {
		struct timerq_node qn; /* deadline on `clock` */
		struct {
			int64_t deadline_ns_;
			uint64_t
			    id; /* qn.seq: equal deadlines fire in id order */
			uint32_t idx_;
			uid_t uid; /* qn.aux */
		};
	};
	gid_t gid;
	uint8_t clock;
	uint8_t misfire;
	bool held : 1;	  /* due while the store refused writes */
	bool paused : 1;  /* in no queue until resumed */
	bool dying : 1;   /* its connection is closing (sched_conn_gone) */
	uint64_t conn_id; /* caller target when not durable */
	uint8_t *payload; /* a uint32_t length, then the bytes; or NULL */
	struct timer_cold *cold;
	int64_t created_rt_ns;
	TAILQ_ENTRY(timer) by_conn; /* caller timers of one conn; or held */
};

_Static_assert(offsetof(struct timer, id) ==
		   offsetof(struct timer, qn) +
		       offsetof(struct timerq_node, seq),
	       "timer id is the queue node's seq");
_Static_assert(offsetof(struct timer, uid) ==
		   offsetof(struct timer, qn) +
		       offsetof(struct timerq_node, aux),
	       "timer uid is the queue node's aux");

/* Read-only view of t's cold part: zeroes when it has none. */
static const struct timer_cold timer_cold_none;
#define TC(t) ((t)->cold != NULL ? (t)->cold : &timer_cold_none)

/* What a new timer is made of (timer_new); pointers are borrowed and
 * copied, except rep, which the timer takes over. */
struct timer_init {
	const char *channel;
	const uint8_t *exec;
	size_t exec_len;
	const char *key;
	const uint8_t *payload;
	size_t payload_len;
	struct repeat *rep;
	int64_t nominal_ns;
	uint64_t fence;
	uint32_t max_attempts;
	int delivery;
	int downtime;
	uint64_t fire_count;
	int64_t last_fired_rt_ns;
};

TAILQ_HEAD(timer_list, timer);

/* Channel and exec timers are written to the store; caller timers live
 * and die with their connection. */
#define TIMER_DURABLE(t)                                                       \
	((t)->cold != NULL &&                                                  \
	 ((t)->cold->channel != NULL || (t)->cold->exec != NULL))

struct sched_clock {
	struct timerq *q;
	int fd;
	struct event *ev;
	int64_t armed_ns; /* deadline the timerfd is set to; 0: disarmed */
};

/* Owner: sched. The scheduler of one loop (each loop thread has its
 * own); sched.c, sched_clock.c and sched_load.c share it. */
struct sched_state {
	struct event_base *base;
	struct sched_clock clocks[EVD_CLOCK_COUNT];
	struct pool *timers; /* every struct timer */
	struct pool *colds;  /* every struct timer_cold */
	/* Channel names of timers, interned: a million timers to one
	 * channel share one copy (struct sched_name, refcounted). */
	struct strmap *names;
	struct sched_name *last_name; /* the one interned last, or NULL */
	struct idtab *by_id; /* id -> timer, iterated in id order */
	struct strmap *by_key;
	struct idmap *by_conn;	/* conn id -> struct conn_timers */
	struct timer_list held; /* durable timers due while writes fail */
	struct event *more_ev;  /* fires the rest of a burst next turn */
	struct event *rate_ev;  /* releases timers held by the fire rate */
	struct idmap *rate;     /* uid + 1 -> struct sched_bucket */
	struct event *heartbeat_ev;
	const struct store_backend *keep_be; /* the keeper (see the top) */
	struct store *keep;
	uint32_t keep_max;   /* ended caller timers the keeper keeps per uid */
	uint64_t next_id, id_limit;
	uint64_t next_fire_id, fire_id_limit;
	bool reloaded;       /* durable timers were loaded once this run */
	struct sched_stats stats;
	uint64_t rnd;        /* xorshift state for randomized delays */
	int64_t rt_offset;   /* realtime - monotonic when last looked */
	long utc_offset;     /* the system zone's offset when last looked */
	char zone_abbr[16];
	/* Cluster mode's hooks (sched_set_cluster), or NULL: one node. */
	const struct sched_cluster_ops *cluster;
	void (*caller_fired)(void *); /* sched_on_caller_fired */
	void *caller_fired_arg;
};
extern _Thread_local struct sched_state sched;

/* One fire of a timer in the making (sched_plan fills it). */
struct sched_firing {
	int64_t lateness;
	int64_t fired_rt;
	int64_t due_rt;  /* the deadline as wall time */
	bool keep;       /* a trigger of a repeating timer: nothing moves */
	bool counted;    /* a fire (not a skip): counts toward repeat.count */
	bool has_next;   /* else the timer ends with this fire */
	int64_t next_ns; /* the next nominal occurrence */
};

/* How a timer stands for remember(): still pending after a fire, or
 * ended by its last fire or by a cancel. */
enum sched_end { SCHED_GOES_ON, SCHED_FIRED, SCHED_CANCELLED };

/* sched.c */
struct timer *timer_new(const struct timer_init *in);
void timer_free(struct timer *t);
/* t's payload (borrowed; NULL: none) and its length. */
uint8_t *timer_payload(const struct timer *t);
size_t timer_payload_len(const struct timer *t);
/* The occurrence t stands for (before randomized delay and accuracy),
 * and its schedule (NULL: one deadline). */
int64_t timer_nominal(const struct timer *t);
const struct repeat *timer_repeat(const struct timer *t);
/* Links t into its queue (unless paused) and every index. Returns 0,
 * -ENOMEM or -EDQUOT (its owner's quota). */
int sched_link(struct timer *t);
/* Removes t from every index; it is then only the caller's. */
void sched_unlink(struct timer *t);
/* The store's view of t. */
void sched_to_store(const struct timer *t, struct store_timer *st);
/* Sets t's nominal deadline and, from it, where it fires (not queued). */
void sched_set_nominal(struct timer *t, int64_t nominal);
/* xorshift64*: randomized delays need spread, not secrecy. */
uint64_t sched_random(void);
/* Puts t (in no queue) back in its clock's queue (held or paused if the
 * queue cannot grow). */
void sched_queue(struct timer *t);
/* Moves t to clock clk and nominal deadline nominal (its effective
 * deadline drawn again); a paused or held timer just remembers it. */
void sched_move(struct timer *t, int clk, int64_t nominal);
/* Tells store s (of backend be), if it keeps no pending timers, how t
 * stands after a fire or cancel at at_rt; counted: the fire counts.
 * Best effort. */
void sched_remember(const struct store_backend *be, struct store *s,
                    const struct timer *t, enum sched_end end, bool counted,
                    int64_t at_rt);
/* The keeper's part of a caller timer's fire or cancel: how t stands,
 * then run. Best effort. */
void sched_keep(const struct timer *t, enum sched_end end, bool counted,
                int64_t at_rt, const struct store_run *run);
/* The next id of a counter whose reserved limit is the store's meta key
 * (ids: next_id; fire ids: next_fire_id). Returns 0, -EAGAIN, -EIO or
 * -EOVERFLOW. */
int sched_next(uint64_t *next, uint64_t *limit, const char *key,
               uint64_t *ret);

/* sched_fire.c */
/* The attempt number of the exec fire being made; 0: the Exec's own. */
extern _Thread_local uint32_t sched_attempt;
/* Where t goes after a fire at now on its clock (trigger: an extra fire
 * that leaves a repeating timer's schedule as it is). */
void sched_plan(struct timer *t, int64_t now, bool trigger,
                struct sched_firing *f);
/* Records a run that did not fire (why: the run's detail) and moves the
 * schedule on. Returns false if the store refuses writes. */
bool sched_skip(struct timer *t, const struct sched_firing *plan,
                const char *why);
/* Fires t once, at now on its clock. Returns 0, -ENOBUFS (a trigger of
 * a repeating channel timer whose channel is full) or -EAGAIN (not now:
 * the store refuses writes, the hook queue is full; t untouched). */
int sched_fire(struct timer *t, int64_t now, bool trigger);
/* Fires what is due on one clock, at most SCHED_FIRE_BATCH timers;
 * returns true if that bound left due timers behind. */
bool sched_run_clock(struct sched_clock *sc);
/* sched.rate_ev's callback: the fire rate released held timers. */
void sched_rate_cb(evutil_socket_t fd, short what, void *arg);

/* sched_clock.c */
/* Creates the timerfds and their events, and arms the realtime one. */
int sched_clock_init(struct event_base *base);
void sched_clock_shutdown(void);
/* Points the clock's timerfd at its earliest deadline (force: even if
 * it already wakes us no later). */
void sched_arm(struct sched_clock *sc, bool force);
/* The system zone's UTC offset and abbreviation now. */
void sched_zone_now(long *ret_off, char *abbr, size_t size);
void sched_more_cb(evutil_socket_t fd, short what, void *arg);
void sched_heartbeat_cb(evutil_socket_t fd, short what, void *arg);

/* sched_load.c */
/* A claim() callback: a finished timer to bring back into *(struct
 * timer **)arg, linked nowhere (-EEXIST: pending in the store;
 * -ECANCELED: it was cancelled and stays so). */
int sched_revive_cb(const struct store_timer *st, void *arg);

#endif
