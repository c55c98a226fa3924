/*
 * evc_async: the non-blocking entry points (evc_*_async), running the
 * callbacks that are ready (evc_deliver), integration into a program's
 * own loop (evc_process, evc_events_wanted, evc_next_timeout_ms, the
 * watch callback), evc_drain, and the reconnection settings.
 *
 * An *_async call only packs its request into the handle's output
 * buffer (evc_conn_submit) and returns; nothing is written until the
 * loop runs, so requests made in one loop turn leave in one write().
 * Callbacks always run unlocked, one at a time, with c->dispatching set
 * so that evc_close() from inside one is deferred to whoever runs them
 * and evc_process()/evc_drain() cannot re-enter. Results are converted
 * to the public structs only when the callback runs, and freed after.
 */
#include "evc_private.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* ---- running callbacks ---- */

static void
run_done(struct evc *c, struct evc_item *it)
{
	struct evc_result res = {.status = it->status, .errmsg = ""};
	struct evc_scheduled sc;
	struct evc_time tm;
	struct evc_timer_info ti = {0};
	struct evc_timer_list tl = {0};
	struct evc_stats st = {0};
	struct evc_dead_list dl = {0};
	struct evc_run run = {0};
	struct evc_channel_info ci = {0};
	static const Evd__Run empty_run = EVD__RUN__INIT;
	const Evd__Reply *rp = it->reply;
	int r = 0;

	if (res.status < 0) {
		res.errmsg = it->errmsg != NULL ? it->errmsg
						: evc_strerror(res.status);
		goto call;
	}
	switch (it->want) {
	case EVD__REPLY__BODY_SCHEDULED:
		evc_conv_scheduled(rp->scheduled, &sc);
		res.scheduled = &sc;
		break;
	case EVD__REPLY__BODY_TIME:
		tm.monotonic_ns = rp->time->monotonic_ns;
		tm.realtime_ns = rp->time->realtime_ns;
		tm.boottime_ns = rp->time->boottime_ns;
		res.time = &tm;
		break;
	case EVD__REPLY__BODY_TIMER:
		r = evc_conv_timer_info(rp->timer, &ti);
		res.timer = &ti;
		break;
	case EVD__REPLY__BODY_TIMER_LIST:
		r = evc_conv_timer_list(rp->timer_list, &tl);
		res.list = &tl;
		break;
	case EVD__REPLY__BODY_STATS:
		r = evc_conv_stats(rp->stats, &st);
		res.stats = &st;
		break;
	case EVD__REPLY__BODY_DEAD_LIST:
		r = evc_conv_dead_list(rp->dead_list, &dl);
		res.dead_list = &dl;
		break;
	case EVD__REPLY__BODY_REQUEUED:
		res.count = rp->requeued->count;
		break;
	case EVD__REPLY__BODY_PURGED:
		res.count = rp->purged->count;
		break;
	case EVD__REPLY__BODY_EXEC_FINISHED:
		r = evc_conv_run(rp->exec_finished->run != NULL
				     ? rp->exec_finished->run
				     : &empty_run,
				 &run);
		res.run = &run;
		break;
	case EVD__REPLY__BODY_ACKED:
		/* Set only by the daemon for an ack with a reschedule. */
		if (rp->acked->rescheduled != NULL) {
			evc_conv_scheduled(rp->acked->rescheduled, &sc);
			res.scheduled = &sc;
		}
		break;
	case EVD__REPLY__BODY_CHANNEL_INFO:
		r = evc_conv_channel_info(rp->channel_info, &ci);
		res.channel = &ci;
		break;
	default:
		break;
	}
	if (r < 0) {
		res = (struct evc_result){.status = r,
					  .errmsg = "out of memory copying "
						    "the reply"};
	}
call:
	it->done(c, &res, it->arg);
	evc_timer_info_free(&ti);
	evc_timer_list_free(&tl);
	evc_stats_free(&st);
	evc_dead_list_free(&dl);
	evc_run_free(&run);
	evc_channel_info_free(&ci);
}

/*
 * Runs ready completions and connection events, and with fired also
 * the fired handler for queued events, until none is left or a callback
 * closed the handle (close_pending). Called and returns with the lock
 * held. Returns the number of fired events handled.
 */
int
evc_deliver(struct evc *c, bool fired)
{
	struct evc_item it;
	struct evc_fired ev;
	evc_fired_cb fcb;
	evc_conn_cb ccb;
	void *arg;
	int n = 0;

	c->dispatching = true;
	while (!c->close_pending) {
		if (evc_conn_pop_item(c, &it)) {
			ccb = c->conn_cb;
			arg = c->conn_arg;
			pthread_mutex_unlock(&c->lock);
			if (it.type == EVC_ITEM_DONE)
				run_done(c, &it);
			else if (ccb != NULL)
				ccb(c, (enum evc_conn_event)it.conn_event,
				    -it.status,
				    it.errmsg != NULL ? it.errmsg : "", arg);
			evc_conn_item_clear(&it);
			pthread_mutex_lock(&c->lock);
			continue;
		}
		if (fired && c->fired_cb != NULL && c->queue_len > 0) {
			evc_conn_pop_event(c, &ev);
			fcb = c->fired_cb;
			arg = c->fired_arg;
			pthread_mutex_unlock(&c->lock);
			(void)fcb(c, &ev, arg);
			evc_fired_free(&ev);
			pthread_mutex_lock(&c->lock);
			n++;
			continue;
		}
		break;
	}
	c->dispatching = false;
	/* evc_drain() callers on other threads wait for this moment. */
	pthread_cond_broadcast(&c->cond);
	return n;
}

/* Unlocks, and frees the handle if a callback closed it. */
static void
finish(struct evc *c)
{
	if (c->close_pending) {
		pthread_mutex_unlock(&c->lock);
		evc_free_handle(c);
		return;
	}
	evc_conn_watch(c);
	pthread_mutex_unlock(&c->lock);
}

/* ---- requests ---- */

static int
submit(struct evc *c, Evd__Request *req, Evd__Reply__BodyCase want,
       unsigned flags, evc_done_cb done, void *arg)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = evc_conn_submit(c, req, want, flags, done, arg, NULL);
	evc_conn_watch(c);
	pthread_mutex_unlock(&c->lock);
	return r;
}

static int
sched_async(struct evc *c, enum evc_sched_kind kind, int64_t ns,
	    enum evc_clock clock, const char *calendar, const char *tz,
	    const struct evc_callback *cb, const struct evc_repeat *rep,
	    evc_done_cb done, void *arg)
{
	struct evc_sched s;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	r = evc_sched_build(c, &s, kind, ns, clock, calendar, tz, cb, rep);
	if (r < 0)
		return r;
	return submit(c, &s.req, EVD__REPLY__BODY_SCHEDULED, s.flags, done,
		      arg);
}

EVC_EXPORT int
evc_call_soon_async(struct evc *c, const struct evc_callback *cb,
		    evc_done_cb done, void *arg)
{
	return sched_async(c, EVC_SCHED_SOON, 0, EVC_CLOCK_MONOTONIC, NULL,
			   NULL, cb, NULL, done, arg);
}

EVC_EXPORT int
evc_call_later_async(struct evc *c, int64_t delay_ns, enum evc_clock clock,
		     const struct evc_callback *cb, evc_done_cb done,
		     void *arg)
{
	return sched_async(c, EVC_SCHED_LATER, delay_ns, clock, NULL, NULL,
			   cb, NULL, done, arg);
}

EVC_EXPORT int
evc_call_at_async(struct evc *c, int64_t when_ns, enum evc_clock clock,
		  const struct evc_callback *cb, evc_done_cb done, void *arg)
{
	return sched_async(c, EVC_SCHED_AT, when_ns, clock, NULL, NULL, cb,
			   NULL, done, arg);
}

EVC_EXPORT int
evc_call_soon_opts_async(struct evc *c, const struct evc_callback *cb,
			 const struct evc_repeat *rep, evc_done_cb done,
			 void *arg)
{
	return sched_async(c, EVC_SCHED_SOON, 0, EVC_CLOCK_MONOTONIC, NULL,
			   NULL, cb, rep, done, arg);
}

EVC_EXPORT int
evc_call_later_opts_async(struct evc *c, int64_t delay_ns,
			  enum evc_clock clock, const struct evc_callback *cb,
			  const struct evc_repeat *rep, evc_done_cb done,
			  void *arg)
{
	return sched_async(c, EVC_SCHED_LATER, delay_ns, clock, NULL, NULL,
			   cb, rep, done, arg);
}

EVC_EXPORT int
evc_call_at_opts_async(struct evc *c, int64_t when_ns, enum evc_clock clock,
		       const struct evc_callback *cb,
		       const struct evc_repeat *rep, evc_done_cb done,
		       void *arg)
{
	return sched_async(c, EVC_SCHED_AT, when_ns, clock, NULL, NULL, cb,
			   rep, done, arg);
}

EVC_EXPORT int
evc_call_on_async(struct evc *c, const char *calendar, const char *tz,
		  const struct evc_callback *cb, const struct evc_repeat *rep,
		  evc_done_cb done, void *arg)
{
	return sched_async(c, EVC_SCHED_ON, 0, EVC_CLOCK_REALTIME, calendar,
			   tz, cb, rep, done, arg);
}

static int
timer_op_async(struct evc *c, Evd__Request__BodyCase body, uint64_t timer_id,
	       evc_done_cb done, void *arg)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Pause pm = EVD__PAUSE__INIT;
	Evd__Resume rm = EVD__RESUME__INIT;
	Evd__Trigger tm = EVD__TRIGGER__INIT;
	Evd__Retry xm = EVD__RETRY__INIT;

	if (c == NULL)
		return -EVC_E_USAGE;
	evc_timer_op_build(body, timer_id, &req, &pm, &rm, &tm, &xm);
	return submit(c, &req, EVD__REPLY__BODY_TIMER, 0, done, arg);
}

EVC_EXPORT int
evc_pause_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
		void *arg)
{
	return timer_op_async(c, EVD__REQUEST__BODY_PAUSE, timer_id, done,
			      arg);
}

EVC_EXPORT int
evc_resume_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
		 void *arg)
{
	return timer_op_async(c, EVD__REQUEST__BODY_RESUME, timer_id, done,
			      arg);
}

EVC_EXPORT int
evc_trigger_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
		  void *arg)
{
	return timer_op_async(c, EVD__REQUEST__BODY_TRIGGER, timer_id, done,
			      arg);
}

EVC_EXPORT int
evc_retry_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
		void *arg)
{
	return timer_op_async(c, EVD__REQUEST__BODY_RETRY, timer_id, done,
			      arg);
}

EVC_EXPORT int
evc_ack_reschedule_async(struct evc *c, uint64_t fire_id, bool absolute,
			 int64_t when_ns, evc_done_cb done, void *arg)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Ack m = EVD__ACK__INIT;

	if (c == NULL)
		return -EVC_E_USAGE;
	evc_ack_build(fire_id, true, absolute, when_ns, &req, &m);
	return submit(c, &req, EVD__REPLY__BODY_ACKED, 0, done, arg);
}

EVC_EXPORT int
evc_cancel_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
		 void *arg)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Cancel m = EVD__CANCEL__INIT;

	if (c == NULL)
		return -EVC_E_USAGE;
	m.has_timer_id = 1;
	m.timer_id = timer_id;
	req.body_case = EVD__REQUEST__BODY_CANCEL;
	req.cancel = &m;
	return submit(c, &req, EVD__REPLY__BODY_CANCELLED, 0, done, arg);
}

EVC_EXPORT int
evc_get_async(struct evc *c, uint64_t timer_id, evc_done_cb done, void *arg)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Get m = EVD__GET__INIT;

	if (c == NULL)
		return -EVC_E_USAGE;
	m.has_timer_id = 1;
	m.timer_id = timer_id;
	req.body_case = EVD__REQUEST__BODY_GET;
	req.get = &m;
	return submit(c, &req, EVD__REPLY__BODY_TIMER, EVC_REQ_RETRY, done,
		      arg);
}

EVC_EXPORT int
evc_list_async(struct evc *c, const char *channel, uint64_t after_id,
	       uint32_t limit, evc_done_cb done, void *arg)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__List m = EVD__LIST__INIT;

	if (c == NULL)
		return -EVC_E_USAGE;
	m.channel = (char *)channel;
	m.has_after_id = after_id != 0;
	m.after_id = after_id;
	m.has_limit = limit != 0;
	m.limit = limit;
	req.body_case = EVD__REQUEST__BODY_LIST;
	req.list = &m;
	return submit(c, &req, EVD__REPLY__BODY_TIMER_LIST, EVC_REQ_RETRY,
		      done, arg);
}

EVC_EXPORT int
evc_time_async(struct evc *c, evc_done_cb done, void *arg)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Time m = EVD__TIME__INIT;

	if (c == NULL)
		return -EVC_E_USAGE;
	req.body_case = EVD__REQUEST__BODY_TIME;
	req.time = &m;
	return submit(c, &req, EVD__REPLY__BODY_TIME, EVC_REQ_RETRY, done,
		      arg);
}

EVC_EXPORT int
evc_stats_async(struct evc *c, evc_done_cb done, void *arg)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Stats m = EVD__STATS__INIT;

	if (c == NULL)
		return -EVC_E_USAGE;
	req.body_case = EVD__REQUEST__BODY_STATS;
	req.stats = &m;
	return submit(c, &req, EVD__REPLY__BODY_STATS, EVC_REQ_RETRY, done,
		      arg);
}

static int
subscribe_async(struct evc *c, const char *channel, bool has_visibility,
		int64_t visibility_ns, evc_done_cb done, void *arg)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Subscribe m = EVD__SUBSCRIBE__INIT;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (channel == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "evc_subscribe_async: channel is NULL");
	m.channel = (char *)channel;
	m.has_visibility_timeout_ns = has_visibility;
	m.visibility_timeout_ns = visibility_ns;
	req.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	req.subscribe = &m;
	return submit(c, &req, EVD__REPLY__BODY_SUBSCRIBED, EVC_REQ_RETRY,
		      done, arg);
}

EVC_EXPORT int
evc_subscribe_async(struct evc *c, const char *channel, evc_done_cb done,
		    void *arg)
{
	return subscribe_async(c, channel, false, 0, done, arg);
}

EVC_EXPORT int
evc_subscribe_opts_async(struct evc *c, const char *channel,
			 int64_t visibility_timeout_ns, evc_done_cb done,
			 void *arg)
{
	return subscribe_async(c, channel, true, visibility_timeout_ns, done,
			       arg);
}

EVC_EXPORT int
evc_ack_async(struct evc *c, uint64_t fire_id, evc_done_cb done, void *arg)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Ack m = EVD__ACK__INIT;

	if (c == NULL)
		return -EVC_E_USAGE;
	m.has_fire_id = 1;
	m.fire_id = fire_id;
	req.body_case = EVD__REQUEST__BODY_ACK;
	req.ack = &m;
	return submit(c, &req, EVD__REPLY__BODY_ACKED, 0, done, arg);
}

EVC_EXPORT int
evc_list_dead_async(struct evc *c, const char *channel, uint64_t after_fire_id,
		    uint32_t limit, evc_done_cb done, void *arg)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__ListDead m = EVD__LIST_DEAD__INIT;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (channel == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "evc_list_dead_async: channel is NULL");
	m.channel = (char *)channel;
	m.has_after_fire_id = after_fire_id != 0;
	m.after_fire_id = after_fire_id;
	m.has_limit = limit != 0;
	m.limit = limit;
	req.body_case = EVD__REQUEST__BODY_LIST_DEAD;
	req.list_dead = &m;
	return submit(c, &req, EVD__REPLY__BODY_DEAD_LIST, EVC_REQ_RETRY, done,
		      arg);
}

EVC_EXPORT int
evc_requeue_dead_async(struct evc *c, const char *channel, uint64_t fire_id,
		       evc_done_cb done, void *arg)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__RequeueDead m = EVD__REQUEUE_DEAD__INIT;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (channel == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "evc_requeue_dead_async: channel is NULL");
	m.channel = (char *)channel;
	m.has_fire_id = fire_id != 0;
	m.fire_id = fire_id;
	req.body_case = EVD__REQUEST__BODY_REQUEUE_DEAD;
	req.requeue_dead = &m;
	/* Not repeated after a lost connection: see evc_requeue_dead. */
	return submit(c, &req, EVD__REPLY__BODY_REQUEUED, 0, done, arg);
}

EVC_EXPORT int
evc_purge_dead_async(struct evc *c, const char *channel, uint64_t fire_id,
		     evc_done_cb done, void *arg)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__PurgeDead m = EVD__PURGE_DEAD__INIT;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (channel == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "evc_purge_dead_async: channel is NULL");
	m.channel = (char *)channel;
	m.has_fire_id = fire_id != 0;
	m.fire_id = fire_id;
	req.body_case = EVD__REQUEST__BODY_PURGE_DEAD;
	req.purge_dead = &m;
	return submit(c, &req, EVD__REPLY__BODY_PURGED, 0, done, arg);
}

/* The Waiting reply does not complete it: evc_conn keeps the wait until
 * the ExecFinished event (or the connection's loss). */
EVC_EXPORT int
evc_wait_async(struct evc *c, uint64_t timer_id, evc_done_cb done, void *arg)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__Wait m = EVD__WAIT__INIT;

	if (c == NULL)
		return -EVC_E_USAGE;
	m.has_timer_id = 1;
	m.timer_id = timer_id;
	req.body_case = EVD__REQUEST__BODY_WAIT;
	req.wait = &m;
	return submit(c, &req, EVD__REPLY__BODY_WAITING, 0, done, arg);
}

EVC_EXPORT int
evc_channel_grant_async(struct evc *c, const char *channel, bool is_gid,
			uint32_t id, bool subscribe, bool publish, bool revoke,
			evc_done_cb done, void *arg)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__ChannelGrant m = EVD__CHANNEL_GRANT__INIT;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (channel == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "evc_channel_grant_async: channel is NULL");
	m.channel = (char *)channel;
	if (is_gid) {
		m.who_case = EVD__CHANNEL_GRANT__WHO_GID;
		m.gid = id;
	} else {
		m.who_case = EVD__CHANNEL_GRANT__WHO_UID;
		m.uid = id;
	}
	m.has_subscribe = 1;
	m.subscribe = subscribe;
	m.has_publish = 1;
	m.publish = publish;
	m.has_revoke = revoke;
	m.revoke = revoke;
	req.body_case = EVD__REQUEST__BODY_CHANNEL_GRANT;
	req.channel_grant = &m;
	return submit(c, &req, EVD__REPLY__BODY_CHANNEL_INFO, 0, done, arg);
}

EVC_EXPORT int
evc_get_channel_async(struct evc *c, const char *channel, evc_done_cb done,
		      void *arg)
{
	Evd__Request req = EVD__REQUEST__INIT;
	Evd__GetChannel m = EVD__GET_CHANNEL__INIT;

	if (c == NULL)
		return -EVC_E_USAGE;
	if (channel == NULL)
		return evc_conn_fail(c, EVC_E_USAGE,
				     "evc_get_channel_async: channel is NULL");
	m.channel = (char *)channel;
	req.body_case = EVD__REQUEST__BODY_GET_CHANNEL;
	req.get_channel = &m;
	return submit(c, &req, EVD__REPLY__BODY_CHANNEL_INFO, EVC_REQ_RETRY,
		      done, arg);
}

EVC_EXPORT size_t
evc_pending(const struct evc *c)
{
	struct evc *m = (struct evc *)c;
	size_t n;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&m->lock);
	n = c->req_len + c->n_awaits;
	pthread_mutex_unlock(&m->lock);
	return n;
}

/* ---- loop integration ---- */

EVC_EXPORT int
evc_events_wanted(const struct evc *c)
{
	struct evc *m = (struct evc *)c;
	int ev;

	if (c == NULL)
		return 0;
	pthread_mutex_lock(&m->lock);
	ev = evc_conn_events(c);
	pthread_mutex_unlock(&m->lock);
	return ev;
}

EVC_EXPORT int
evc_next_timeout_ms(const struct evc *c)
{
	struct evc *m = (struct evc *)c;
	int64_t dl, left;

	if (c == NULL)
		return -1;
	pthread_mutex_lock(&m->lock);
	dl = evc_conn_next_deadline(c);
	pthread_mutex_unlock(&m->lock);
	if (dl == EVC_FOREVER)
		return -1;
	if (dl == 0)
		return 0;
	left = dl - evc_now_ns();
	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

EVC_EXPORT int
evc_process(struct evc *c)
{
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	pthread_mutex_lock(&c->lock);
	if (c->dispatching || c->thread_running) {
		r = evc_conn_fail(c, EVC_E_USAGE,
				  c->dispatching
				      ? "evc_process called from a callback"
				      : "evc_process with the background "
					"thread running");
		pthread_mutex_unlock(&c->lock);
		return r;
	}
	r = evc_conn_io(c);
	/* A full event queue is not a failure here: the handler (if any)
	 * drains it below. */
	if (r == -EVC_E_NOMEM && c->dead == 0)
		r = 0;
	evc_deliver(c, true);
	finish(c);
	return r;
}

EVC_EXPORT int
evc_set_watch_cb(struct evc *c, evc_watch_cb cb, void (*release)(void *arg),
		 void *arg)
{
	void (*old_release)(void *);
	void *old_arg;

	if (c == NULL)
		return -EVC_E_USAGE;
	pthread_mutex_lock(&c->lock);
	if (c->thread_running) {
		pthread_mutex_unlock(&c->lock);
		return evc_conn_fail(c, EVC_E_USAGE,
				     "a watch callback cannot be combined "
				     "with the background thread");
	}
	old_release = c->watch_release;
	old_arg = c->watch_arg;
	c->watch_cb = cb;
	c->watch_release = cb != NULL ? release : NULL;
	c->watch_arg = cb != NULL ? arg : NULL;
	/* Force a first report of the current state. */
	c->watch_fd = -2;
	evc_conn_watch(c);
	if (old_release != NULL)
		old_release(old_arg);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* ---- drain ---- */

static bool
drained(struct evc *c, void *arg)
{
	return c->req_len == 0 && c->n_awaits == 0 && c->item_len == 0 &&
	       !c->dispatching &&
	       (c->fired_cb == NULL || c->queue_len == 0);
}

static bool
drain_step(struct evc *c, void *arg)
{
	return drained(c, arg) || c->item_len > 0 ||
	       (c->fired_cb != NULL && c->queue_len > 0);
}

EVC_EXPORT int
evc_drain(struct evc *c, int timeout_ms)
{
	int64_t deadline_ns = evc_conn_deadline(timeout_ms);
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	pthread_mutex_lock(&c->lock);
	if ((c->dispatching && !c->thread_running) || evc_on_thread(c)) {
		r = evc_conn_fail(c, EVC_E_USAGE,
				  "evc_drain called from a callback");
		pthread_mutex_unlock(&c->lock);
		return r;
	}
	if (c->thread_running) {
		r = evc_run_until(c, drained, NULL, deadline_ns);
		pthread_mutex_unlock(&c->lock);
		return r;
	}
	for (;;) {
		evc_deliver(c, true);
		if (c->close_pending) {
			finish(c);
			return 0;
		}
		if (drained(c, NULL)) {
			r = c->dead != 0 ? c->dead : 0;
			break;
		}
		r = evc_run_until(c, drain_step, NULL, deadline_ns);
		if (r < 0 && !(c->dead != 0 && c->item_len > 0))
			break;
	}
	finish(c);
	return r;
}

/* ---- reconnection ---- */

EVC_EXPORT int
evc_set_reconnect(struct evc *c, int min_delay_ms, int max_delay_ms)
{
	if (c == NULL)
		return -EVC_E_USAGE;
	if (min_delay_ms < 0 || (min_delay_ms > 0 && max_delay_ms < min_delay_ms))
		return evc_conn_fail(c, EVC_E_USAGE,
				     "evc_set_reconnect: need 0 <= min (%d) "
				     "<= max (%d)",
				     min_delay_ms, max_delay_ms);
	pthread_mutex_lock(&c->lock);
	c->reconnect_min_ms = min_delay_ms;
	c->reconnect_max_ms = min_delay_ms > 0 ? max_delay_ms : 0;
	c->backoff_ms = 0;
	evc_conn_wake(c);
	evc_conn_watch(c);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

EVC_EXPORT void
evc_set_conn_cb(struct evc *c, evc_conn_cb cb, void *arg)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	c->conn_cb = cb;
	c->conn_arg = arg;
	pthread_mutex_unlock(&c->lock);
}
