/*
 * loop: what one event loop runs and in which order (see loop.h).
 *
 * Owns the iteration; the modules it wires together own their state.
 * The configuration is written once before the first loop starts and
 * only read afterwards, so the loop threads share it without a lock.
 */
#include "loop.h"

#include <errno.h>
#include <string.h>

#include <event2/event.h>

#include "batch.h"
#include "channel.h"
#include "cluster.h"
#include "conn.h"
#include "dispatch.h"
#include "exec.h"
#include "hook.h"
#include "log.h"
#include "quota.h"
#include "sched.h"
#include "shard.h"
#include "wait.h"

static struct loop_config loop_cfg;

void
loop_configure(const struct loop_config *cfg)
{
	loop_cfg = *cfg;
}

struct event_base *
loop_base_new(void)
{
	struct event_config *cfg;
	struct event_base *base;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	/* No EVENT_BASE_FLAG_PRECISE_TIMER: with epoll it re-arms a timerfd
	 * before every epoll_wait, one more syscall per loop turn (a quarter
	 * of a blocking request's). Timers fire on our own timerfds
	 * (sched.c); the few libevent timeouts left (channel visibility and
	 * backoff, hook timeouts, stall and probe timers) read the clock
	 * when they run and re-arm if libevent's coarse clock woke them a
	 * little early. */
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

/* A connection closed: everything bound to it goes, in every module
 * that binds things to connections. */
static void
loop_conn_gone(uint64_t conn_id)
{
	sched_conn_gone(conn_id);
	channel_conn_gone(conn_id);
}

/* Flushes up to gen ended: what waited for them goes. */
static void
loop_synced(uint64_t gen)
{
	conn_release(gen);
	exec_release(gen);
}

static const struct conn_ops loop_conn_ops = {
	.frame = dispatch_frame,
	.decode = dispatch_decode,
	.run = dispatch_run,
	.discard = dispatch_discard,
	.merge = dispatch_merge,
	.gone = loop_conn_gone,
	.drained = channel_conn_drained,
};

static void loop_resumed(void);

/*
 * Timers fired events to callers: the turn ends after this callback, so
 * that they are committed and sent now rather than after every request
 * read in the same turn has run (a fire's lateness as its caller sees it
 * was three to four times what evd measured, most of it that wait). The
 * events not yet run stay active and run first in the next turn, so no
 * connection waits longer than one more turn; only fires that send
 * events end a turn early, so durable fires keep their group commits.
 */
static void
loop_caller_fired(void *arg)
{
	event_base_loopbreak(arg);
}

int
loop_init(struct event_base *base)
{
	int r;

	if ((r = sched_init(base, &loop_cfg.keep)) < 0 ||
	    (r = wait_init(base)) < 0 || (r = hook_init()) < 0 ||
	    (r = channel_init(base)) < 0 ||
	    (r = conn_init(base, &loop_conn_ops, loop_cfg.max_frame,
	                   loop_cfg.frame_timeout_ms)) < 0)
		return r;
	/* Fired events end the turn (loop_caller_fired). */
	sched_on_caller_fired(loop_caller_fired, base);
	/* Held fires go once the store takes writes again. */
	batch_on_resume(loop_resumed);
	/* Output goes, and hooks start, once what they show is durable. */
	batch_on_synced(loop_synced);
	/* Every loop takes connections from the user lookup thread
	 * (peer.h), and with several loops, work from the others. */
	if ((r = shard_attach(base, conn_shard_msg, conn_msg_free)) < 0)
		return r;
	return 0;
}

void
loop_shutdown(void)
{
	conn_shutdown();
	channel_shutdown();
	sched_shutdown();
	hook_shutdown();
	wait_shutdown();
	batch_shutdown();
	quota_sync();
	shard_detach();
}

/* A rebuild failed (the store could not be read either: a database
 * server out of reach); it is done again once the store writes. */
static bool loop_recover_again;

/* What memory did in a lost batch never happened: it is rebuilt from
 * the store. 0 or the first failure's -errno. */
static int
loop_recover(void)
{
	const struct store_backend *be = batch_backend();
	struct store *s = batch_store_ro();
	int r1, r2;

	r1 = sched_reload_durable(be, s);
	r2 = channel_reload(be, s);
	loop_recover_again = r1 < 0 || r2 < 0;
	if (loop_recover_again)
		log_warnx("rebuilding state from the store: %s; done again "
		          "once the store writes",
		          strerror(r1 < 0 ? -r1 : -r2));
	return r1 < 0 ? r1 : r2 < 0 ? r2 : 0;
}

/* The store writes again: a rebuild that failed meanwhile first, then
 * the durable timers held back. If the rebuild fails again (the store
 * lost mid-way through it), memory is half-loaded: nothing held is
 * released from it, and batch refuses and probes again, so the rebuild
 * is retried at the next resume. */
static void
loop_resumed(void)
{
	int r;

	if (loop_recover_again && (r = loop_recover()) < 0) {
		batch_refuse(r);
		return;
	}
	sched_release_held();
}

bool
loop_commit(void)
{
	/* Cluster mode is the store's loop's (loop 0's) alone. */
	bool cl = cluster_enabled() && batch_backend() != NULL;
	enum batch_outcome o;
	uint64_t gen;

	/* Cluster mode: what the turn gathered to be judged alone (ended
	 * hooks' retires, deliveries, acks) goes into its batch last. */
	if (cl) {
		cluster_batch_flush();
		channel_cluster_flush();
	}
	o = batch_end();
	if (cl)
		channel_cluster_batch_end(o == BATCH_COMMITTED);

	conn_batch_end(o == BATCH_COMMITTED ? 0 : batch_lost(),
	               batch_errmsg());
	if (cl)
		cluster_batch_end(o == BATCH_COMMITTED);
	/* Before any release: hooks of lost fires must not start. Hooks
	 * are the store's loop's (exec timers are durable). */
	if (batch_backend() != NULL)
		exec_batch_end(o == BATCH_COMMITTED ? 0 : batch_lost());
	if (o == BATCH_LOST)
		(void)loop_recover(); /* again at the resume if it failed */
	/* While the store flushes, this iteration's output (replies and
	 * events alike, since any of them may show what the batch did)
	 * waits for the flush that covers it. */
	gen = batch_sync_gen();
	conn_hold(gen);
	/* Only a loop with a flushing store has generations; hooks start
	 * on that loop's thread. */
	if (gen != 0)
		exec_hold(gen);
	return o == BATCH_COMMITTED;
}

void
loop_settle(void)
{
	batch_sync_wait();
}

/* For Stats from any loop: what this one holds. */
static void
loop_publish(void)
{
	struct shard_counters c;
	struct sched_stats st;

	if (shard_count() == 1)
		return;
	sched_get_stats(&st);
	c.pending = st.pending;
	c.scheduled_total = st.scheduled_total;
	c.fired_total = st.fired_total;
	c.cancelled_total = st.cancelled_total;
	c.connections = conn_count();
	shard_publish(&c);
}

bool
loop_iterate(struct event_base *base)
{
	if (event_base_loop(base, EVLOOP_ONCE) < 0) {
		log_warnx("event loop failed");
		return false;
	}
	loop_commit();
	quota_sync();
	/* Before the replies: a client that saw its timer scheduled here
	 * finds it counted in a Stats answered by another loop. */
	loop_publish();
	conn_flush_all();
	return true;
}

/* Loops 1..n-1 (their own thread each): only the clients accepted for
 * them and the timers those schedule for themselves. No store: what
 * needs one is forwarded to loop 0. */
void
loop_thread(unsigned k)
{
	struct event_base *base = loop_base_new();

	(void)k;
	if (base == NULL) {
		shard_failed("cannot create the event loop");
		return;
	}
	batch_init(base, NULL, NULL);
	if (loop_init(base) < 0) {
		shard_failed("out of memory at start-up");
		loop_shutdown();
		event_base_free(base);
		return;
	}
	shard_ready();
	while (!shard_stopping() && loop_iterate(base))
		;
	loop_commit();
	loop_settle();
	conn_drain(loop_cfg.drain_ms);
	loop_shutdown();
	event_base_free(base);
}
