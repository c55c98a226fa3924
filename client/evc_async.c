/*
 * evc_async: the non-blocking entry points (evc_*_async), running the
 * callbacks that are ready (evc_deliver), integration into a program's
 * own loop (evc_process, evc_events_wanted, evc_next_timeout_ms, the
 * watch callback), evc_drain, and the reconnection settings.
 *
 * An *_async call names its row of evc_req.c and its arguments;
 * evc_submit packs the request into the handle's output buffer and
 * returns; nothing is written until the
 * loop runs, so requests made in one loop turn leave in one write().
 * Callbacks always run unlocked, one at a time, with c->dispatching set
 * so that evc_close() from inside one is deferred to whoever runs them
 * and evc_process()/evc_drain() cannot re-enter. Results are converted
 * to the public structs only when the callback runs, and freed after.
 */
#include "evc_req.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

/* ---- running callbacks ---- */

/* Converts the result with its row's converter only now, when the
 * callback runs, and frees it after. */
static void
run_done(struct evc *c, struct evc_item *it)
{
	struct evc_out o = {0};
	int r;

	if (it->status < 0) {
		o.res.status = it->status;
		o.res.errmsg = it->errmsg != NULL ? it->errmsg
						  : evc_strerror(it->status);
	} else {
		r = evc_req_convert((Evd__Reply__BodyCase)it->want, it->reply,
				    &o);
		if (r < 0) {
			evc_out_clear(&o);
			o.res = (struct evc_result){
			    .status = r,
			    .errmsg = "out of memory copying the reply"};
		}
	}
	it->done(c, &o.res, it->arg);
	evc_out_clear(&o);
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

/*
 * Every asynchronous request is one evc_submit on its row of evc_req.c,
 * which builds and checks it; a NULL c is -EVC_E_USAGE there.
 */

EVC_EXPORT int
evc_call_soon_async(struct evc *c, const struct evc_callback *cb,
		    evc_done_cb done, void *arg)
{
	return evc_call_soon_opts_async(c, cb, NULL, done, arg);
}

EVC_EXPORT int
evc_call_later_async(struct evc *c, int64_t delay_ns, enum evc_clock clock,
		     const struct evc_callback *cb, evc_done_cb done,
		     void *arg)
{
	return evc_call_later_opts_async(c, delay_ns, clock, cb, NULL, done,
					 arg);
}

EVC_EXPORT int
evc_call_at_async(struct evc *c, int64_t when_ns, enum evc_clock clock,
		  const struct evc_callback *cb, evc_done_cb done, void *arg)
{
	return evc_call_at_opts_async(c, when_ns, clock, cb, NULL, done, arg);
}

EVC_EXPORT int
evc_call_soon_opts_async(struct evc *c, const struct evc_callback *cb,
			 const struct evc_repeat *rep, evc_done_cb done,
			 void *arg)
{
	return evc_submit(c, EVC_OP_CALL_SOON, EVC_ARGS(.cb = cb, .rep = rep),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_call_later_opts_async(struct evc *c, int64_t delay_ns,
			  enum evc_clock clock, const struct evc_callback *cb,
			  const struct evc_repeat *rep, evc_done_cb done,
			  void *arg)
{
	return evc_submit(c, EVC_OP_CALL_LATER,
			  EVC_ARGS(.ns = delay_ns, .clock = clock, .cb = cb,
				   .rep = rep),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_call_at_opts_async(struct evc *c, int64_t when_ns, enum evc_clock clock,
		       const struct evc_callback *cb,
		       const struct evc_repeat *rep, evc_done_cb done,
		       void *arg)
{
	return evc_submit(c, EVC_OP_CALL_AT,
			  EVC_ARGS(.ns = when_ns, .clock = clock, .cb = cb,
				   .rep = rep),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_call_on_async(struct evc *c, const char *calendar, const char *tz,
		  const struct evc_callback *cb, const struct evc_repeat *rep,
		  evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_CALL_ON,
			  EVC_ARGS(.calendar = calendar, .tz = tz, .cb = cb,
				   .rep = rep),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_pause_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
		void *arg)
{
	return evc_submit(c, EVC_OP_PAUSE, EVC_ARGS(.id = timer_id), done, arg,
			  NULL);
}

EVC_EXPORT int
evc_resume_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
		 void *arg)
{
	return evc_submit(c, EVC_OP_RESUME, EVC_ARGS(.id = timer_id), done,
			  arg, NULL);
}

EVC_EXPORT int
evc_trigger_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
		  void *arg)
{
	return evc_submit(c, EVC_OP_TRIGGER, EVC_ARGS(.id = timer_id), done,
			  arg, NULL);
}

EVC_EXPORT int
evc_retry_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
		void *arg)
{
	return evc_submit(c, EVC_OP_RETRY, EVC_ARGS(.id = timer_id), done, arg,
			  NULL);
}

EVC_EXPORT int
evc_ack_reschedule_async(struct evc *c, uint64_t fire_id, bool absolute,
			 int64_t when_ns, evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_ACK,
			  EVC_ARGS(.id = fire_id, .reschedule = true,
				   .absolute = absolute, .ns = when_ns),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_cancel_async(struct evc *c, uint64_t timer_id, evc_done_cb done,
		 void *arg)
{
	return evc_submit(c, EVC_OP_CANCEL, EVC_ARGS(.id = timer_id), done,
			  arg, NULL);
}

EVC_EXPORT int
evc_get_async(struct evc *c, uint64_t timer_id, evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_GET, EVC_ARGS(.id = timer_id), done, arg,
			  NULL);
}

EVC_EXPORT int
evc_list_async(struct evc *c, const char *channel, uint64_t after_id,
	       uint32_t limit, evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_LIST,
			  EVC_ARGS(.channel = channel, .after_id = after_id,
				   .limit = limit),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_list_opts_async(struct evc *c, const struct evc_list_options *o,
		    evc_done_cb done, void *arg)
{
	static const struct evc_list_options none;

	if (o == NULL)
		o = &none;
	return evc_submit(c, EVC_OP_LIST,
			  EVC_ARGS(.channel = o->channel,
				   .after_id = o->after_id, .limit = o->limit,
				   .finished = o->finished, .runs = o->runs),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_time_async(struct evc *c, evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_TIME, EVC_ARGS(), done, arg, NULL);
}

EVC_EXPORT int
evc_stats_async(struct evc *c, evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_STATS, EVC_ARGS(), done, arg, NULL);
}

EVC_EXPORT int
evc_subscribe_async(struct evc *c, const char *channel, evc_done_cb done,
		    void *arg)
{
	return evc_submit(c, EVC_OP_SUBSCRIBE, EVC_ARGS(.channel = channel),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_subscribe_opts_async(struct evc *c, const char *channel,
			 int64_t visibility_timeout_ns, evc_done_cb done,
			 void *arg)
{
	return evc_submit(c, EVC_OP_SUBSCRIBE,
			  EVC_ARGS(.channel = channel, .has_visibility = true,
				   .visibility_ns = visibility_timeout_ns),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_unsubscribe_async(struct evc *c, const char *channel, evc_done_cb done,
		      void *arg)
{
	return evc_submit(c, EVC_OP_UNSUBSCRIBE, EVC_ARGS(.channel = channel),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_ack_async(struct evc *c, uint64_t fire_id, evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_ACK, EVC_ARGS(.id = fire_id), done, arg,
			  NULL);
}

EVC_EXPORT int
evc_subscribe_limit_async(struct evc *c, const char *channel,
			  int64_t visibility_timeout_ns, uint32_t max_inflight,
			  evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_SUBSCRIBE,
			  EVC_ARGS(.channel = channel, .has_visibility = true,
				   .visibility_ns = visibility_timeout_ns,
				   .max_inflight = max_inflight),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_reject_async(struct evc *c, const char *channel, uint64_t fire_id,
		 const char *reason, bool dead_letter, evc_done_cb done,
		 void *arg)
{
	return evc_submit(c, EVC_OP_REJECT,
			  EVC_ARGS(.channel = channel, .id = fire_id,
				   .reason = reason,
				   .dead_letter = dead_letter),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_list_dead_async(struct evc *c, const char *channel, uint64_t after_fire_id,
		    uint32_t limit, evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_LIST_DEAD,
			  EVC_ARGS(.channel = channel,
				   .after_id = after_fire_id, .limit = limit),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_requeue_dead_async(struct evc *c, const char *channel, uint64_t fire_id,
		       evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_REQUEUE_DEAD,
			  EVC_ARGS(.channel = channel, .id = fire_id), done,
			  arg, NULL);
}

EVC_EXPORT int
evc_purge_dead_async(struct evc *c, const char *channel, uint64_t fire_id,
		     evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_PURGE_DEAD,
			  EVC_ARGS(.channel = channel, .id = fire_id), done,
			  arg, NULL);
}

EVC_EXPORT int
evc_purge_async(struct evc *c, const char *channel, bool has_from_uid,
		uint32_t from_uid, evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_PURGE,
			  EVC_ARGS(.channel = channel, .is_uid = has_from_uid,
				   .id = from_uid),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_cancel_all_async(struct evc *c, const char *channel, bool has_uid,
		     uint32_t uid, evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_CANCEL_ALL,
			  EVC_ARGS(.channel = channel, .is_uid = has_uid,
				   .id = uid),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_list_channels_async(struct evc *c, const char *after, uint32_t limit,
			evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_LIST_CHANNELS,
			  EVC_ARGS(.name = after, .limit = limit), done, arg,
			  NULL);
}

EVC_EXPORT int
evc_peek_async(struct evc *c, const char *channel, uint32_t limit,
	       evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_PEEK,
			  EVC_ARGS(.channel = channel, .limit = limit), done,
			  arg, NULL);
}

/* The Waiting reply does not complete it: evc_conn keeps the wait until
 * the ExecFinished event (or the connection's loss). */
EVC_EXPORT int
evc_wait_async(struct evc *c, uint64_t timer_id, evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_WAIT, EVC_ARGS(.id = timer_id), done, arg,
			  NULL);
}

EVC_EXPORT int
evc_channel_grant_async(struct evc *c, const char *channel, bool is_gid,
			uint32_t id, bool subscribe, bool publish, bool revoke,
			evc_done_cb done, void *arg)
{
	return evc_submit(c, EVC_OP_CHANNEL_GRANT,
			  EVC_ARGS(.channel = channel, .is_gid = is_gid,
				   .id = id, .subscribe = subscribe,
				   .publish = publish, .revoke = revoke),
			  done, arg, NULL);
}

EVC_EXPORT int
evc_get_channel_async(struct evc *c, const char *channel, evc_done_cb done,
		      void *arg)
{
	return evc_submit(c, EVC_OP_GET_CHANNEL, EVC_ARGS(.channel = channel),
			  done, arg, NULL);
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
