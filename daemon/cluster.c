/*
 * cluster: the node's heartbeat, lease, claims and reaps (cluster.h).
 *
 * Owns the node connection (store_pg_node), the lease (lease.h) and the
 * events below; the store itself is batch's. Invariants:
 *	every durable timer in the scheduler is a claim of this node made
 *	in the current lease epoch: a lapse drops them all, a gap adopts
 *	anew (fences bumped) what the database still says is ours;
 *	one statement at a time on the node connection: a heartbeat, then
 *	a reap when its reply came; a heartbeat due while one is in flight
 *	is skipped (the lease then runs out on its own, which is right:
 *	the database is slow or gone), unless that one is two beats old
 *	(at most D/2): then the connection is given up and made anew
 *	(PQconnectPoll on the loop, never waited for), and beats go on
 *	once it is up; a one-shot timer armed at each send does that at
 *	the bound itself, not at the next beat tick (up to a beat later,
 *	when the lease of the last answered beat has about run out);
 *	inflight maps a one-shot exec timer whose hook runs (or waits in
 *	the hook queue) to its claim (struct cl_claim: fence, lease end,
 *	epoch), until its hook ends and it is retired; its claim is renewed
 *	(fenced, one statement for all) every T/4 while the lease is live,
 *	so that no peer takes it while the hook runs (the alternative,
 *	taking only dead nodes' claims, would leave a live node's stuck
 *	claim to nobody: the research's lesson from River and BullMQ is a
 *	heartbeat per running job, with a fence); a renewal that finds the
 *	claim gone is a fence loss, and the entry is marked lost (a queued
 *	hook then never starts; a running one runs on, its end retires
 *	nothing); a rebuild (a lost batch, an adoption)
 *	re-fences an entry's claim instead of firing it again;
 *	a queued hook starts only while its claim is good (exec_set_gate:
 *	the lease live, its epoch current, its own lease, measured from
 *	before its last renewal was sent, not run out); one refused lets
 *	its claim come back by an adoption;
 *	a lost id is dropped from the scheduler on the next turn, never
 *	from inside the scheduler's callback;
 *	a timer another node cancelled (sched_cancel_stored there: its
 *	row cancelled, fence bumped) is dropped as soon as the node
 *	connection hears so (NOTIFY evd_node_<id>, at that node's
 *	commit), so that it is not fired only for its fenced retire to
 *	fail; one this node fires first retires first, and that cancel
 *	finds it gone;
 *	a fire's writes (retire, message, run) are pipelined and answered
 *	at the batch's commit (sched_fire.c): a retire found stale there
 *	rolls the whole batch back (nothing of it is published or started)
 *	and the loop rebuilds from the store, i.e. adopts what is still
 *	ours, as after any lost batch; it is counted with the fence
 *	losses (store_backend.fence_losses). A burst fires at most
 *	SCHED_FIRE_BATCH timers and one commit per loop turn, so the
 *	heartbeat's events run between turns (fires wait for nothing
 *	within a turn: a one-shot exec timer's renewal as it fires is
 *	gathered with the turn's fires and judged with them at the
 *	commit; the claims of hooks that ended in a turn are retired in
 *	one statement sent just before its commit, each judged alone
 *	there: cluster_batch_flush, cluster_batch_end);
 *	channel messages (channel.h, cluster mode) are claimed on the
 *	same tick as timers, and on an evd_msg notification (a hint that
 *	one waits unclaimed: LISTEN on the node connection, sent again
 *	after each reconnect before the first beat), and renewed on the
 *	same pass as hooks' claims; a dead node's message claims are
 *	reaped with its timer claims, and a leaving node gives its own
 *	back.
 */
#include "cluster.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "batch.h"
#include "channel.h"
#include "clock.h"
#include "exec.h"
#include "idmap.h"
#include "lease.h"
#include "log.h"
#include "sched.h"
#include "store.h"

/* How often pending timers are claimed, how far ahead, how many at
 * once. */
#define CLUSTER_CLAIM_MS 100
#define CLUSTER_LOOKAHEAD_NS (INT64_C(200) * 1000000)
#define CLUSTER_CLAIM_MAX 500

/* A hook that ended: its timer and the fence of its claim. */
struct cl_ended {
	uint64_t id, fence;
};

/* A one-shot exec timer's claim while its hook waits or runs. */
struct cl_claim {
	uint64_t fence;
	int64_t until_ns;  /* CLOCK_MONOTONIC: its lease ends, at the earliest */
	int64_t renew_ns;  /* a renewal's until_ns, trusted once its batch
	                    * commits (0: none pending) */
	uint64_t epoch;    /* the lease epoch it was (re)claimed in */
	bool lost;         /* a renewal found it gone: counted, never
	                    * started, renewed nor retired */
};

static struct {
	struct event_base *base;
	struct store_pg_node *node;
	struct lease *lease;
	struct event *beat_ev, *read_ev, *claim_ev, *lapse_ev, *drop_ev;
	struct event *stall_ev; /* the statement in flight: its bound */
	struct event *more_ev; /* claims again next turn (a full batch) */
	struct event *msg_ev;  /* claims messages next turn (a hint) */
	bool msg_all;          /* ... of every channel (hints were missed) */
	bool msg_refill;       /* ... of low channels (channel_set_refill) */
	int fd;                /* what read_ev watches (-1: none) */
	int want;              /* for what (STORE_PG_WANT_*) */
	int64_t death_ns, beat_ns, claim_ns;
	int64_t sent_ns;       /* the heartbeat in flight: when sent */
	int64_t busy_ns;       /* the statement in flight: when sent */
	int64_t renewed_ns;    /* the last renewal pass */
	bool renew_pending;    /* a renewal pass in the open batch */
	int64_t polled_ns;     /* the last poll of waits (sched_poll_watched) */
	int64_t margin_ns;     /* M (lease.h) */
	bool live;             /* as last seen: for a release on becoming so */
	bool adopt;            /* a gap: adopt our claims at the next turn */
	bool stopping;         /* hooks ending now were killed: no retire */
	struct idmap *inflight;
	uint64_t *lost;
	size_t nlost, caplost;
	/* Hooks that ended while the store refused writes: their claims,
	 * retired (fenced) once it takes them again, so that a claim a
	 * peer took meanwhile is counted as a fence loss. */
	struct cl_ended *ended;
	size_t nended, capended;
	/* To retire in this turn's batch, in one statement sent just
	 * before its commit (cluster_batch_flush; the first nsent of them)
	 * and judged at it (cluster_batch_end): back into ended if the
	 * batch is lost, a fence loss each if not kept. */
	struct store_renewal *turn;
	size_t nturn, capturn, nsent;
	struct cluster_stats st;
	/* The store, for its pipelined fires' fence losses (loop 0's,
	 * from cluster_start to cluster_shutdown). */
	const struct store_backend *be;
	struct store *s;
	/* Heartbeat round trips, a ring: the newest at (rtt_next - 1). */
	int64_t rtt[CLUSTER_RTT_WINDOW];
	size_t rtt_next, nrtt;
	int64_t unanswered_ns; /* first heartbeat sent since the last
	                        * answer (0: none): how long the database
	                        * has been silent */
	bool open;
} cl = { .fd = -1 };

static int64_t
cluster_now(void)
{
	return clock_now_ns(EVD_CLOCK_MONOTONIC);
}

bool
cluster_enabled(void)
{
	return cl.open;
}

const char *
cluster_node_id(void)
{
	return cl.st.node;
}

int64_t
cluster_claim_ns(void)
{
	return cl.claim_ns;
}

static int
cluster_cmp_ns(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

void
cluster_stats(struct cluster_stats *ret)
{
	int64_t sorted[CLUSTER_RTT_WINDOW], now = cluster_now();
	const struct cl_claim *c;
	struct sched_stats ss;
	size_t n = cl.nrtt;

	*ret = cl.st;
	if (!cl.open)
		return;
	/* Retires found stale at a commit (a pipelined fire's batch lost),
	 * beside those found at once (a skip, a hook's end, a renewal). */
	if (cl.be != NULL && cl.s != NULL && cl.be->fence_losses != NULL)
		ret->fence_losses += cl.be->fence_losses(cl.s);
	ret->live = lease_live(cl.lease, now);
	/* Every durable timer in memory is a claim (cluster.h); a one-shot
	 * exec timer left memory when it fired and is held until its hook
	 * ends and it is retired. */
	sched_get_stats(&ss);
	ret->claims_held = ss.durable;
	/* Not those a renewal found lost (kept until their hook ends). */
	for (size_t it = 0;
	     (c = idmap_next(cl.inflight, &it, NULL)) != NULL;)
		if (!c->lost)
			ret->claims_held++;
	if (n > 0) {
		memcpy(sorted, cl.rtt, n * sizeof(sorted[0]));
		qsort(sorted, n, sizeof(sorted[0]), cluster_cmp_ns);
		ret->rtt_last_ns =
			cl.rtt[(cl.rtt_next + CLUSTER_RTT_WINDOW - 1) %
			       CLUSTER_RTT_WINDOW];
		/* Nearest rank: the smallest value with 99% at or below. */
		ret->rtt_p99_ns = sorted[(n * 99 + 99) / 100 - 1];
		ret->rtt_max_ns = sorted[n - 1];
		ret->rtt_samples = (uint32_t)n;
	}
	if (cl.unanswered_ns != 0)
		ret->rtt_pending_ns = now - cl.unanswered_ns;
}

int
cluster_open(const char *conninfo, int64_t death_ns, int64_t beat_ns,
             char *err, size_t errsize)
{
	struct lease_config lc;
	int r;

	/* The lease lives D - M (4/5 D) past a beat's send: at most D/3
	 * between beats leaves it live across one lost beat, with time
	 * for the next one's answer. */
	if (beat_ns > death_ns / 3) {
		snprintf(err, errsize, "the heartbeat interval must be at most "
		         "a third of the death threshold");
		return -EINVAL;
	}
	cl.death_ns = death_ns;
	cl.beat_ns = beat_ns > 0 ? beat_ns : death_ns / 5;
	cl.claim_ns = 3 * death_ns;
	/* M: a fifth of D covers a heartbeat's way back and a fire's way
	 * out; the lease needs D > M and T > M. */
	lc.death_ns = death_ns;
	lc.margin_ns = death_ns / 5;
	cl.margin_ns = lc.margin_ns;
	lc.claim_ns = cl.claim_ns;
	if ((cl.lease = lease_new(&lc)) == NULL ||
	    (cl.inflight = idmap_new()) == NULL) {
		snprintf(err, errsize, "out of memory");
		return -ENOMEM;
	}
	if ((r = store_pg_node_open(conninfo, &cl.node, err, errsize)) < 0)
		return r;
	snprintf(cl.st.node, sizeof(cl.st.node), "%s",
	         store_pg_node_id(cl.node));
	cl.open = true;
	return 0;
}

/* The scheduler's hooks (sched.h, struct sched_cluster_ops). */

static bool
cluster_may_fire_cb(void)
{
	return lease_live(cl.lease, cluster_now());
}

static void
cluster_claim_lost_cb(uint64_t timer_id)
{
	uint64_t *p;

	cl.st.fence_losses++;
	log_about(LOG_LEVEL_INFO, LOG_TIMER_NOUID(timer_id),
		  "cluster: timer %" PRIu64 ": claim lost (fence loss %" PRIu64
		  "); another node has it, or cancelled it",
		  timer_id, cl.st.fence_losses);
	if (cl.nlost == cl.caplost) {
		size_t cap = cl.caplost ? 2 * cl.caplost : 16;

		if ((p = reallocarray(cl.lost, cap, sizeof(*p))) == NULL)
			return; /* it stays; its next retire fails again */
		cl.lost = p;
		cl.caplost = cap;
	}
	cl.lost[cl.nlost++] = timer_id;
	event_active(cl.drop_ev, EV_TIMEOUT, 0);
}

static void
cluster_exec_fired_cb(uint64_t timer_id, uint64_t fence, int64_t sent_ns,
                      int64_t lease_left_ns)
{
	struct cl_claim *c = idmap_get(cl.inflight, timer_id);

	/* Out of memory: the claim then lapses and a peer fires it again,
	 * which at-least-once allows. */
	if (c == NULL && ((c = malloc(sizeof(*c))) == NULL ||
	                  idmap_put(cl.inflight, timer_id, c) < 0)) {
		free(c);
		log_warnx("cluster: timer %" PRIu64 ": out of memory; it may "
		          "fire again elsewhere",
		          timer_id);
		return;
	}
	c->fence = fence;
	c->until_ns = sent_ns + lease_left_ns;
	c->epoch = lease_epoch(cl.lease);
	c->lost = false;
}

/* Its hook never ran: nothing to retire; the claim stays this node's
 * (an adoption brings it back) until it lapses for a peer. */
static void
cluster_exec_unrun_cb(uint64_t timer_id)
{
	free(idmap_del(cl.inflight, timer_id));
}

static bool
cluster_adopted_cb(uint64_t timer_id, uint64_t fence, int64_t sent_ns,
                   int64_t lease_left_ns)
{
	struct cl_claim *c = idmap_get(cl.inflight, timer_id);

	if (c == NULL)
		return false;
	c->fence = fence;
	c->until_ns = sent_ns + lease_left_ns;
	c->epoch = lease_epoch(cl.lease);
	c->lost = false; /* this node's again */
	return true;
}

/* exec_set_gate: a queued hook of a claim that may have lapsed does not
 * start (a peer may fire it, or has); its claim comes back by an
 * adoption if it is still this node's. Hooks of other timers (repeating
 * ones: retired to their next occurrence, fenced, when they fired) are
 * not this module's. */
static bool
cluster_gate_cb(uint64_t timer_id)
{
	struct cl_claim *c = idmap_get(cl.inflight, timer_id);
	int64_t now = cluster_now();

	if (c == NULL)
		return true;
	if (c->lost) {
		cl.st.unstarted++;
		log_about(LOG_LEVEL_INFO, LOG_TIMER_NOUID(timer_id),
			  "cluster: timer %" PRIu64 ": its hook does not start: "
			  "another node has its claim",
			  timer_id);
		free(idmap_del(cl.inflight, timer_id));
		return false;
	}
	if (lease_claim_ok(cl.lease, c->epoch, c->until_ns - cl.claim_ns,
	                   now))
		return true;
	cl.st.unstarted++;
	log_about(LOG_LEVEL_WARNING, LOG_TIMER_NOUID(timer_id),
		  "cluster: timer %" PRIu64 ": its hook does not start: its "
		  "claim may have lapsed (%s)",
		  timer_id, lease_live(cl.lease, now) ? "its lease ran out"
		                                      : "the node's lease is "
		                                        "not live");
	free(idmap_del(cl.inflight, timer_id));
	cl.adopt = true;
	return false;
}

/* Appends (id, fence) to *v; false out of memory. */
static bool
cluster_ended_push(struct cl_ended **v, size_t *n, size_t *cap, uint64_t id,
                   uint64_t fence)
{
	if (*n == *cap) {
		size_t ncap = *cap ? 2 * *cap : 16;
		struct cl_ended *g = reallocarray(*v, ncap, sizeof(**v));

		if (g == NULL)
			return false;
		*v = g;
		*cap = ncap;
	}
	(*v)[*n].id = id;
	(*v)[*n].fence = fence;
	(*n)++;
	return true;
}

/* The store refuses writes: retired at a later claim tick. Out of
 * memory it is not: the claim lapses and a peer fires it again. */
static void
cluster_retire_later(uint64_t id, uint64_t fence)
{
	if (!cluster_ended_push(&cl.ended, &cl.nended, &cl.capended, id,
	                        fence))
		log_warnx("cluster: timer %" PRIu64 ": its hook ended; out of "
		          "memory to retire it later", id);
}

/* Retires the claim of a timer whose hook ended, fenced, with the
 * turn's others (cluster_batch_flush): a claim found gone (a peer took
 * it, and ran the hook again) is a fence loss. */
static void
cluster_retire_hook(uint64_t id, uint64_t fence)
{
	if (cl.nturn == cl.capturn) {
		size_t cap = cl.capturn ? 2 * cl.capturn : 64;
		struct store_renewal *g = reallocarray(cl.turn, cap,
		                                       sizeof(*g));

		if (g == NULL) {
			cluster_retire_later(id, fence);
			return;
		}
		cl.turn = g;
		cl.capturn = cap;
	}
	cl.turn[cl.nturn++] = (struct store_renewal){ .id = id,
		                                      .fence = fence };
}

static int
cluster_cmp_renewal(const void *a, const void *b)
{
	const struct store_renewal *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->fence < y->fence ? -1 : x->fence > y->fence;
}

/*
 * Just before the turn's commit (loop.c): the claims of hooks that ended
 * in it, retired in one statement, pipelined with the batch's other
 * writes and judged at its commit, each alone (cluster_batch_end). A
 * burst of ended hooks costs no round trip of its own, where each used
 * to wait for one on the loop (and a burst of thousands held the loop
 * past the heartbeat's lease).
 */
void
cluster_batch_flush(void)
{
	const struct store_backend *be = batch_backend();
	struct store *s;
	size_t i, n;
	int r;

	cl.nsent = 0;
	if (!cl.open || cl.nturn == 0)
		return;
	if ((s = batch_store()) == NULL) {
		for (i = 0; i < cl.nturn; i++)
			cluster_retire_later(cl.turn[i].id, cl.turn[i].fence);
		cl.nturn = 0;
		return;
	}
	/* Sorted, each id once (the store's rule): an id twice is one
	 * claim (an end retried beside a new one of the same fence), or
	 * two fences of which only the newest can still be ours. */
	qsort(cl.turn, cl.nturn, sizeof(*cl.turn), cluster_cmp_renewal);
	for (i = n = 0; i < cl.nturn; i++) {
		if (n > 0 && cl.turn[n - 1].id == cl.turn[i].id)
			n--;
		cl.turn[n++] = cl.turn[i];
	}
	cl.nturn = n;
	if (be->pipeline != NULL)
		be->pipeline(s, true);
	r = be->retire_claims(s, cl.turn, n);
	if (be->pipeline != NULL)
		be->pipeline(s, false);
	if (r < 0) {
		batch_fail(r);
		return; /* lost: cluster_batch_end keeps them for later */
	}
	cl.nsent = n;
}

void
cluster_batch_end(bool committed)
{
	size_t i, n = cl.nsent;

	/* Renewals are the gate's to trust once committed; a lost batch's
	 * are done again at the next turn. */
	if (cl.renew_pending) {
		size_t it = 0;
		struct cl_claim *c;

		while ((c = idmap_next(cl.inflight, &it, NULL)) != NULL) {
			if (c->renew_ns != 0 && committed)
				c->until_ns = c->renew_ns;
			c->renew_ns = 0;
		}
		if (!committed)
			cl.renewed_ns = 0;
		cl.renew_pending = false;
	}

	/* A lost batch's retires did not happen (a SIGSTOP inside it, the
	 * server ending the idle transaction): tried again at the next
	 * tick, so that a claim a peer took meanwhile is counted. So are
	 * those not sent (the store refused them before the commit). */
	if (!committed)
		n = cl.nturn;
	for (i = 0; i < n; i++) {
		if (!committed || i >= cl.nsent) {
			cluster_retire_later(cl.turn[i].id, cl.turn[i].fence);
			continue;
		}
		if (cl.turn[i].kept)
			continue;
		cl.st.fence_losses++;
		log_about(LOG_LEVEL_INFO, LOG_TIMER_NOUID(cl.turn[i].id),
			  "cluster: timer %" PRIu64 ": its hook ended after "
			  "its claim was lost (fence loss %" PRIu64 ")",
			  cl.turn[i].id, cl.st.fence_losses);
	}
	/* Hooks that ended after the flush (none do before the commit;
	 * some may as the loop goes on) wait for the next one. */
	if (n > 0) {
		memmove(cl.turn, cl.turn + n,
		        (cl.nturn - n) * sizeof(*cl.turn));
		cl.nturn -= n;
	}
	cl.nsent = 0;
}

/* What cluster_retire_later kept goes with this turn's retires. */
static void
cluster_retire_ended(void)
{
	size_t i;

	for (i = 0; i < cl.nended; i++)
		cluster_retire_hook(cl.ended[i].id, cl.ended[i].fence);
	cl.nended = 0;
}

static void
cluster_exec_ended_cb(uint64_t timer_id)
{
	struct cl_claim *c = idmap_del(cl.inflight, timer_id);
	uint64_t fence;

	if (c == NULL)
		return;
	fence = c->fence;
	if (c->lost || cl.stopping) {
		free(c);
		return; /* a lost one was counted when it was found so */
	}
	free(c);
	cluster_retire_hook(timer_id, fence);
}

static const struct sched_cluster_ops cluster_ops = {
	.may_fire = cluster_may_fire_cb,
	.claim_lost = cluster_claim_lost_cb,
	.exec_fired = cluster_exec_fired_cb,
	.exec_ended = cluster_exec_ended_cb,
	.exec_unrun = cluster_exec_unrun_cb,
	.adopted = cluster_adopted_cb,
};

static void
cluster_drop_cb(evutil_socket_t fd, short what, void *arg)
{
	size_t i;

	for (i = 0; i < cl.nlost; i++)
		sched_drop_durable(cl.lost[i]);
	cl.nlost = 0;
}

/* Our claims in the database, fenced anew, replace memory: after a gap
 * (whatever was in flight before it can no longer retire), and as after
 * a lost batch. A hook still running keeps its claim with the new fence
 * (cluster_adopted_cb); one whose claim is gone finds so at its next
 * renewal. */
static void
cluster_adopt(void)
{
	struct store *s;
	int r;

	if ((s = batch_store()) == NULL)
		return; /* tried again at the next claim turn */
	if ((r = sched_reload_durable(batch_backend(), s)) < 0) {
		batch_fail(r);
		return;
	}
	cl.adopt = false;
}

static void
cluster_arm_lapse(void)
{
	int64_t left = lease_safe_until(cl.lease) - cluster_now();
	struct timeval tv;

	if (left < 0)
		left = 0;
	tv.tv_sec = left / 1000000000;
	tv.tv_usec = (left % 1000000000) / 1000 + 1;
	evtimer_add(cl.lapse_ev, &tv);
}

/* The lease ran out: nothing held may be fired any more, peers may
 * have it or will. */
static void
cluster_lapse_cb(evutil_socket_t fd, short what, void *arg)
{
	/* Early: libevent counts the timeout from the time it cached at the
	 * start of the iteration that armed it, which may be before
	 * cluster_now() was read there. Armed again, else the lapse would
	 * never be noticed (nor its claims dropped) until a heartbeat. */
	if (lease_live(cl.lease, cluster_now())) {
		cluster_arm_lapse();
		return;
	}
	cl.st.lapses++;
	cl.live = false;
	log_warnx("cluster: node %s: lease lapsed (no heartbeat answered in "
	          "time); dropping every claim",
	          cl.st.node);
	sched_drop_durable(0);
	/* Messages too: another node may claim them once their claims run
	 * out, and this one must not deliver them meanwhile. */
	channel_cluster_drop();
	/* Once live again, with or without a gap, what the database still
	 * says is this node's is taken back (else it would wait for its
	 * claim lease to run out, or, paused, for ever). */
	cl.adopt = true;
}

/* Watches the node connection's socket (it changes on a reconnect), for
 * reading, or for writing while a reconnect waits to. */
static void cluster_read_cb(evutil_socket_t fd, short what, void *arg);

/* A new connection (its socket may have the old one's number, which
 * epoll forgot when it was closed): the event is made anew. */
static void
cluster_unwatch(void)
{
	if (cl.read_ev != NULL) {
		event_free(cl.read_ev);
		cl.read_ev = NULL;
	}
	cl.fd = -1;
}

static void
cluster_watch(void)
{
	int fd = store_pg_node_fd(cl.node);
	int want = store_pg_node_want(cl.node);

	if (fd == cl.fd && want == cl.want)
		return;
	if (cl.read_ev != NULL) {
		event_free(cl.read_ev);
		cl.read_ev = NULL;
	}
	cl.fd = fd;
	cl.want = want;
	if (fd < 0)
		return;
	cl.read_ev = event_new(cl.base, fd,
	                       (want == STORE_PG_WANT_WRITE ? EV_WRITE
	                                                    : EV_READ) |
	                               EV_PERSIST,
	                       cluster_read_cb, NULL);
	if (cl.read_ev == NULL || event_add(cl.read_ev, NULL) < 0)
		fatalx("out of memory");
}

/* How long a statement on the node connection may go unanswered. */
static int64_t
cluster_stall_ns(void)
{
	return 2 * cl.beat_ns < cl.death_ns / 2 ? 2 * cl.beat_ns
	                                        : cl.death_ns / 2;
}

static void
cluster_arm_stall(int64_t left)
{
	struct timeval tv;

	if (left < 0)
		left = 0;
	tv.tv_sec = left / 1000000000;
	tv.tv_usec = (left % 1000000000) / 1000 + 1;
	evtimer_add(cl.stall_ev, &tv);
}

/* A statement (or a connect) went out on the node connection at now. */
static void
cluster_busy_from(int64_t now)
{
	cl.busy_ns = now;
	cluster_arm_stall(cluster_stall_ns());
}

static void cluster_beat_cb(evutil_socket_t, short, void *);

/* The bound of the statement in flight: if it is still unanswered, the
 * connection is given up (cluster_beat_cb) now. libevent's cached clock
 * may wake us a little early: then again for the rest. */
static void
cluster_stall_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t left;

	if (!store_pg_node_busy(cl.node))
		return;
	left = cl.busy_ns + cluster_stall_ns() - cluster_now();
	if (left > 0) {
		cluster_arm_stall(left);
		return;
	}
	cluster_beat_cb(-1, 0, NULL);
}

static void
cluster_beat_cb(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = cluster_now();
	int r;

	if (store_pg_node_busy(cl.node)) {
		if (now - cl.busy_ns < cluster_stall_ns())
			return;
		/* Unanswered for two beats, at most D/2 (a server gone
		 * without a word, a connect that hangs): missed beats, the
		 * lease runs out on its own unless a fresh connection
		 * answers the next in time. */
		cl.st.stalls++;
		log_warnx("cluster: node %s: the database did not answer for "
		          "%" PRId64 " ms; connecting again",
		          cl.st.node, (now - cl.busy_ns) / 1000000);
		store_pg_node_abandon(cl.node);
	}
	/* Tried, answered or not: the silence counts from here. */
	if (cl.unanswered_ns == 0)
		cl.unanswered_ns = now;
	r = store_pg_node_beat(cl.node, cl.death_ns);
	if (r == -EINPROGRESS)
		cluster_unwatch();
	cluster_watch();
	if (r == -EINPROGRESS) {
		cluster_busy_from(now); /* the reconnect; beats when done */
		return;
	}
	if (r < 0) {
		log_debug("cluster: heartbeat not sent: %s", strerror(-r));
		return;
	}
	cl.sent_ns = now;
	cluster_busy_from(now);
}

static void
cluster_beat_done(const struct store_pg_node_beat *b)
{
	bool gap = lease_heartbeat_ok(cl.lease, cl.sent_ns, b->fresh);
	int r;

	/* Measured here, around the heartbeat's send and reply: the one
	 * statement on this connection, so the database's latency with no
	 * claim or commit queued before it. */
	cl.rtt[cl.rtt_next] = cluster_now() - cl.sent_ns;
	cl.rtt_next = (cl.rtt_next + 1) % CLUSTER_RTT_WINDOW;
	if (cl.nrtt < CLUSTER_RTT_WINDOW)
		cl.nrtt++;
	cl.unanswered_ns = 0;
	cluster_arm_lapse();
	if (gap) {
		cl.st.gaps++;
		log_warnx("cluster: node %s: heartbeat gap; claims made before "
		          "it are void, adopting our own anew",
		          cl.st.node);
		sched_drop_durable(0);
		cl.adopt = true;
		event_active(cl.claim_ev, EV_TIMEOUT, 0);
	}
	if (!cl.live && lease_live(cl.lease, cluster_now())) {
		cl.live = true;
		sched_release_held();
	}
	if ((r = store_pg_node_reap(cl.node, cl.death_ns)) < 0)
		log_debug("cluster: reap not sent: %s", strerror(-r));
	else
		cluster_busy_from(cluster_now());
	cluster_watch();
}

static void
cluster_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store_pg_node_beat b;
	char err[256];
	uint64_t id;
	bool taken;
	uint64_t fence;
	int64_t seq;
	int r;

	r = store_pg_node_read(cl.node, &b, err, sizeof(err));
	/* Whatever else came: timers other nodes cancelled. */
	while (store_pg_node_notified(cl.node, &id, &taken, &fence, &seq) ==
	       1) {
		if (taken)
			(void)sched_taken_elsewhere(id, fence, seq);
		else if (sched_cancelled_elsewhere(id))
			cl.st.cancelled_elsewhere++;
	}
	/* A message waits unclaimed: claim messages on the next turn, not
	 * at the next tick (many hints, one claim). */
	if (store_pg_node_msg_hint(cl.node) &&
	    !evtimer_pending(cl.msg_ev, NULL)) {
		static const struct timeval zero = { 0, 0 };

		evtimer_add(cl.msg_ev, &zero);
	}
	/* Made anew each time: within one step of a connect libpq may
	 * close its socket and open another (the next host, an SSL retry)
	 * that reuses the number, which epoll forgot with the old one. */
	if (r < 0) {
		log_warnx("cluster: node %s: %s", cl.st.node, err);
		cluster_unwatch();
		cluster_watch();
		return;
	}
	if (r == 0) {
		cluster_unwatch();
		cluster_watch(); /* a reconnect's next step may write */
		return;
	}
	if (b.kind == STORE_PG_CONNECTED) {
		log_notice("cluster: node %s: connected to the database again",
		           cl.st.node);
		/* It listens again already (read said so once the LISTEN
		 * was answered); messages hinted meanwhile were missed:
		 * claim now rather than at the tick. */
		cluster_watch();
		cluster_beat_cb(-1, 0, NULL);
		cl.msg_all = true;
		if (!evtimer_pending(cl.msg_ev, NULL)) {
			static const struct timeval zero = { 0, 0 };

			evtimer_add(cl.msg_ev, &zero);
		}
		return;
	}
	if (b.kind == STORE_PG_BEAT) {
		cluster_beat_done(&b);
		return;
	}
	if (b.reaped_nodes > 0 || b.reaped_timers > 0 ||
	    b.reaped_messages > 0) {
		cl.st.reaped_nodes += b.reaped_nodes;
		cl.st.reaped_timers += b.reaped_timers;
		log_notice("cluster: node %s reaped %" PRIu64 " dead nodes, "
		           "%" PRIu64 " of their claims pending again, "
		           "%" PRIu64 " of their messages claimable again",
		           cl.st.node, b.reaped_nodes, b.reaped_timers,
		           b.reaped_messages);
		event_active(cl.claim_ev, EV_TIMEOUT, 0);
	}
}

/* Renews the claims of hooks that wait or run, fenced, in one
 * statement; a claim found gone is a fence loss (the hook runs on, its
 * end retires nothing). */
static void
cluster_renew(struct store *s)
{
	size_t n = idmap_size(cl.inflight), i = 0, it = 0;
	struct store_renewal *rn;
	int64_t sent = cluster_now();
	struct cl_claim *c;
	uint64_t id;
	int r;

	if (n == 0) {
		cl.renewed_ns = sent;
		return;
	}
	if ((rn = calloc(n, sizeof(*rn))) == NULL)
		return; /* again at the next turn */
	while (i < n && (c = idmap_next(cl.inflight, &it, &id)) != NULL) {
		if (c->lost)
			continue;
		rn[i].id = id;
		rn[i].fence = c->fence;
		i++;
	}
	if ((r = batch_backend()->renew(s, rn, i)) < 0) {
		free(rn);
		batch_fail(r);
		return;
	}
	for (n = i, i = 0; i < n; i++) {
		c = idmap_get(cl.inflight, rn[i].id);
		if (rn[i].kept) {
			/* The database keeps the longer lease only if this
			 * batch commits (cluster_batch_end). */
			c->renew_ns = sent + rn[i].lease_left_ns;
			cl.renew_pending = true;
			cl.st.renewed++;
			continue;
		}
		cl.st.fence_losses++;
		log_about(LOG_LEVEL_INFO, LOG_TIMER_NOUID(rn[i].id),
			  "cluster: timer %" PRIu64 ": its claim was lost while "
			  "its hook waited or ran (fence loss %" PRIu64 ")",
			  rn[i].id, cl.st.fence_losses);
		/* Kept, marked: a hook still queued must not start. */
		c->lost = true;
	}
	free(rn);
	cl.renewed_ns = sent;
}

static void
cluster_claim_cb(evutil_socket_t fd, short what, void *arg)
{
	struct store *s;
	int n;

	/* Fenced, so whatever the lease: a claim still ours is done. */
	if (cl.nended > 0)
		cluster_retire_ended();
	if (!lease_live(cl.lease, cluster_now()))
		return;
	if (cl.adopt) {
		cluster_adopt();
		if (cl.adopt)
			return;
	}
	/* Messages first: the channels' re-read (each second) is a read,
	 * sent before this tick's first write opens the transaction, which
	 * it would otherwise hold open a round trip longer. Failures fail
	 * the batch, and are tried again next tick. */
	(void)channel_cluster_claim();
	if ((s = batch_store()) == NULL)
		return;
	/* A quarter of T: two passes may fail (their batches lost) before
	 * a claim's lease runs out. */
	if (cluster_now() - cl.renewed_ns >= cl.claim_ns / 4) {
		cluster_renew(s);
		if (batch_store() != NULL)
			(void)channel_cluster_renew();
		if ((s = batch_store()) == NULL)
			return;
	}
	/* Waits on timers other nodes hold end here, polled once a claim
	 * interval (not on every turn of a burst of full claim batches). */
	if (cluster_now() - cl.polled_ns >= CLUSTER_CLAIM_MS * INT64_C(1000000)) {
		cl.polled_ns = cluster_now();
		sched_poll_watched(batch_backend(), s);
	}
	n = sched_claim_due(batch_backend(), s, CLUSTER_LOOKAHEAD_NS,
	                    CLUSTER_CLAIM_MAX);
	if (n < 0) {
		batch_fail(n);
		return;
	}
	cl.st.claimed += (uint64_t)n;
	/* A full batch: more may be due; the next turn claims again (a
	 * timer, not event_active, which would run it again in this same
	 * turn, before any commit or fire). */
	if (n == CLUSTER_CLAIM_MAX) {
		static const struct timeval zero = { 0, 0 };

		evtimer_add(cl.more_ev, &zero);
	}
}

/* Acks left a channel low (channel_set_refill): live messages are
 * claimed on the next turn (many calls, one claim) for the channels
 * whose subscribers here want more; no hint names those channels. */
static void
cluster_msg_soon(void)
{
	static const struct timeval zero = { 0, 0 };

	cl.msg_refill = true;
	if (cl.msg_ev != NULL && !evtimer_pending(cl.msg_ev, NULL))
		evtimer_add(cl.msg_ev, &zero);
}

/* evd_msg hints: messages only (timers have their own tick), of the
 * channels the hints named (each names the channel a message waits
 * in), not of every channel subscribed here; of all after a reconnect
 * (hints were missed) or when too many were named to keep. */
static void
cluster_msg_cb(evutil_socket_t fd, short what, void *arg)
{
	char *names[STORE_PG_HINTS_MAX];
	size_t k, i;
	bool all;
	int n = 0;

	if (!lease_live(cl.lease, cluster_now()) || cl.adopt)
		return; /* what the hints named waits for a claim that runs */
	k = store_pg_node_msg_take(cl.node, names, &all);
	all = all || cl.msg_all;
	cl.msg_all = false;
	n = all ? channel_cluster_claim()
	        : channel_cluster_claim_named((const char *const *)names, k);
	if (!all && cl.msg_refill && n >= 0) {
		int m = channel_cluster_refill();

		n = m < 0 ? m : n + m;
	}
	cl.msg_refill = false;
	for (i = 0; i < k; i++)
		free(names[i]);
	if (n > 0)
		log_debug("cluster: node %s claimed %d messages on a hint",
		          cl.st.node, n);
}

int
cluster_start(struct event_base *base)
{
	struct timeval beat = { cl.beat_ns / 1000000000,
		                (cl.beat_ns % 1000000000) / 1000 };
	struct timeval claim = { 0, CLUSTER_CLAIM_MS * 1000 };

	const struct store_backend *be = batch_backend();

	/* Channel messages are claimed through these (channel.h): a store
	 * wrapper without them (storeq.h) cannot run a cluster node. */
	if (be == NULL || be->msg_claim == NULL || be->msg_ack == NULL ||
	    be->msg_renew == NULL || be->msg_release == NULL ||
	    be->channel_lock == NULL || be->retire_claims == NULL)
		return -ENOTSUP;
	cl.base = base;
	cl.be = batch_backend();
	cl.s = batch_store_ro();
	cl.beat_ev = event_new(base, -1, EV_PERSIST, cluster_beat_cb, NULL);
	cl.claim_ev = event_new(base, -1, EV_PERSIST, cluster_claim_cb, NULL);
	cl.more_ev = evtimer_new(base, cluster_claim_cb, NULL);
	cl.msg_ev = evtimer_new(base, cluster_msg_cb, NULL);
	cl.lapse_ev = evtimer_new(base, cluster_lapse_cb, NULL);
	cl.stall_ev = evtimer_new(base, cluster_stall_cb, NULL);
	cl.drop_ev = event_new(base, -1, 0, cluster_drop_cb, NULL);
	if (cl.beat_ev == NULL || cl.claim_ev == NULL || cl.more_ev == NULL ||
	    cl.lapse_ev == NULL || cl.stall_ev == NULL || cl.msg_ev == NULL ||
	    cl.drop_ev == NULL || event_add(cl.beat_ev, &beat) < 0 ||
	    event_add(cl.claim_ev, &claim) < 0)
		return -ENOMEM;
	sched_set_cluster(&cluster_ops);
	exec_set_gate(cluster_gate_cb);
	channel_set_cluster(true);
	channel_set_refill(cluster_msg_soon);
	log_notice("cluster: node %s (death threshold %" PRId64 " ms, "
	           "heartbeat %" PRId64 " ms, claim lease %" PRId64 " ms)",
	           cl.st.node, cl.death_ns / 1000000, cl.beat_ns / 1000000,
	           cl.claim_ns / 1000000);
	/* The first heartbeat now: until it is answered nothing fires. */
	cluster_beat_cb(-1, 0, NULL);
	return 0;
}

void
cluster_stopping(void)
{
	cl.stopping = true;
}

void
cluster_shutdown(void)
{
	char err[256];

	if (!cl.open)
		return;
	if (cl.be != NULL && cl.s != NULL && cl.be->fence_losses != NULL)
		cl.st.fence_losses += cl.be->fence_losses(cl.s);
	sched_set_cluster(NULL);
	exec_set_gate(NULL);
	if (store_pg_node_leave(cl.node, err, sizeof(err)) < 0)
		log_warnx("cluster: node %s: claims not given back (peers "
		          "reap them): %s",
		          cl.st.node, err);
	log_notice("cluster: node %s: fence losses %" PRIu64 ", claimed %" PRIu64
	           ", reaped %" PRIu64 " nodes and %" PRIu64 " claims, lease "
	           "lapses %" PRIu64 ", gaps %" PRIu64 ", claims renewed "
	           "%" PRIu64 ", hooks not started %" PRIu64 ", claims "
	           "cancelled by other nodes %" PRIu64,
	           cl.st.node, cl.st.fence_losses, cl.st.claimed,
	           cl.st.reaped_nodes, cl.st.reaped_timers, cl.st.lapses,
	           cl.st.gaps, cl.st.renewed, cl.st.unstarted,
	           cl.st.cancelled_elsewhere);
	if (cl.read_ev != NULL)
		event_free(cl.read_ev);
	if (cl.beat_ev != NULL)
		event_free(cl.beat_ev);
	if (cl.claim_ev != NULL)
		event_free(cl.claim_ev);
	if (cl.more_ev != NULL)
		event_free(cl.more_ev);
	if (cl.msg_ev != NULL)
		event_free(cl.msg_ev);
	if (cl.lapse_ev != NULL)
		event_free(cl.lapse_ev);
	if (cl.stall_ev != NULL)
		event_free(cl.stall_ev);
	if (cl.drop_ev != NULL)
		event_free(cl.drop_ev);
	store_pg_node_close(cl.node);
	lease_free(cl.lease);
	{
		size_t it = 0;
		uint64_t id;
		void *v;

		while ((v = idmap_next(cl.inflight, &it, &id)) != NULL)
			free(v);
	}
	idmap_free(cl.inflight);
	free(cl.lost);
	free(cl.ended);
	free(cl.turn);
	memset(&cl, 0, sizeof(cl));
	cl.fd = -1;
}
