/*
 * evc_req: the table of the requests libevclient sends (one row per
 * Evd__Request body: build, reply, retry policy, convert) and evc_submit,
 * the one path by which a public call queues its request. See evc_req.h.
 *
 * The builders and converters own nothing: a builder points the message
 * at the caller's strings, a converter copies out of a reply the caller
 * keeps and frees. Only what cannot be said on the wire is refused here
 * (-EVC_E_USAGE); every value the daemon can judge (a negative delay, a
 * wall clock for call_later, a bad calendar) is left to it.
 */
#include "evc_req.h"

#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int __attribute__((format(printf, 2, 3)))
fail(struct evc_msg *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->errmsg, sizeof(m->errmsg), fmt, ap);
	va_end(ap);
	return -EVC_E_USAGE;
}

/* ---- scheduling ---- */

static bool
clock_valid(enum evc_clock clock)
{
	return clock == EVC_CLOCK_MONOTONIC || clock == EVC_CLOCK_REALTIME ||
	       clock == EVC_CLOCK_BOOTTIME;
}

/* What cannot be said on the wire about an exec hook; the daemon judges
 * the rest. */
static int
exec_check(struct evc_msg *m, const struct evc_exec *e)
{
	size_t i;

	if (e->argv == NULL || e->argc == 0)
		return fail(m, "exec hook without argv (argc 0)");
	if (e->shell && e->argc != 1)
		return fail(m,
			    "a shell exec hook has one argv element, the "
			    "command, not %zu",
			    e->argc);
	for (i = 0; i < e->argc; i++)
		if (e->argv[i] == NULL)
			return fail(m, "exec hook argv[%zu] is NULL", i);
	if (e->nenv > 0 && e->env == NULL)
		return fail(m, "exec hook env is NULL with nenv %zu", e->nenv);
	for (i = 0; i < e->nenv; i++)
		if (e->env[i] == NULL)
			return fail(m, "exec hook env[%zu] is NULL", i);
	if (e->nproperties > 0 && e->properties == NULL)
		return fail(m,
			    "exec hook properties is NULL with nproperties "
			    "%zu",
			    e->nproperties);
	for (i = 0; i < e->nproperties; i++)
		if (e->properties[i] == NULL)
			return fail(m, "exec hook properties[%zu] is NULL", i);
	return 0;
}

/*
 * The caller's login name (its effective uid's passwd entry), which an
 * exec hook carries so that the daemon can tell, when it fires, that the
 * uid still belongs to the same user (a deleted user's uid given to
 * someone else). buf stays "" when the uid has no entry: the daemon then
 * decides with the uid alone.
 */
static void
self_user(char *buf, size_t size)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];

	buf[0] = '\0';
	if (getpwuid_r(geteuid(), &pw, tmp, sizeof(tmp), &res) == 0 &&
	    res != NULL && strlen(pw.pw_name) < size)
		strcpy(buf, pw.pw_name);
}

/*
 * What every scheduling request shares: the Callback message (always
 * one, empty when cb is NULL: "no target" is said explicitly rather than
 * left to a default), the options (cb->options and rep) and whether the
 * timer is durable. The caller's key, if any, is set by the builder;
 * evc_submit adds a generated one under EVC_RETRY_KEYED.
 */
static int
sched_common(const struct evc_args *a, struct evc_msg *m, const char *name,
	     bool clocked)
{
	const struct evc_callback *cb = a->cb;
	int r;

	if (clocked && !clock_valid(a->clock))
		return fail(m, "%s: unknown clock %d", name, (int)a->clock);
	if (cb != NULL && cb->channel != NULL && cb->exec != NULL)
		return fail(m, "a callback has a channel or an exec hook, not "
			       "both");
	if (cb != NULL && cb->exec != NULL && (r = exec_check(m, cb->exec)) < 0)
		return r;
	if (cb != NULL && cb->exec != NULL && cb->exec->user == NULL)
		self_user(m->userbuf, sizeof(m->userbuf));
	if (evc_conv_callback(cb, m->userbuf[0] != '\0' ? m->userbuf : NULL,
			      &m->exec, &m->cbm) < 0)
		return fail(m, "callback payload is NULL with a length");
	if ((cb != NULL && cb->options != NULL) || a->rep != NULL) {
		evc_conv_options(cb != NULL ? cb->options : NULL, a->rep,
				 &m->repeat, &m->opts);
		m->optsp = &m->opts;
	}
	m->durable = cb != NULL && (cb->channel != NULL || cb->exec != NULL);
	return 0;
}

static char *
sched_key(const struct evc_args *a)
{
	/* Borrowed until packing; protobuf-c does not write. */
	return a->cb != NULL ? (char *)a->cb->key : NULL;
}

static int
build_call_soon(const struct evc_args *a, struct evc_msg *m)
{
	int r = sched_common(a, m, "call_soon", false);

	if (r < 0)
		return r;
	m->soon = (Evd__CallSoon)EVD__CALL_SOON__INIT;
	m->soon.callback = &m->cbm;
	m->soon.key = sched_key(a);
	m->soon.options = m->optsp;
	m->keyp = &m->soon.key;
	m->req.body_case = EVD__REQUEST__BODY_CALL_SOON;
	m->req.call_soon = &m->soon;
	return 0;
}

static int
build_call_later(const struct evc_args *a, struct evc_msg *m)
{
	int r = sched_common(a, m, "call_later", true);

	if (r < 0)
		return r;
	m->later = (Evd__CallLater)EVD__CALL_LATER__INIT;
	m->later.has_delay_ns = 1;
	m->later.delay_ns = a->ns;
	m->later.has_clock = 1;
	m->later.clock = (Evd__Clock)a->clock;
	m->later.callback = &m->cbm;
	m->later.key = sched_key(a);
	m->later.options = m->optsp;
	m->keyp = &m->later.key;
	m->req.body_case = EVD__REQUEST__BODY_CALL_LATER;
	m->req.call_later = &m->later;
	return 0;
}

static int
build_call_at(const struct evc_args *a, struct evc_msg *m)
{
	int r = sched_common(a, m, "call_at", true);

	if (r < 0)
		return r;
	m->at = (Evd__CallAt)EVD__CALL_AT__INIT;
	m->at.has_when_ns = 1;
	m->at.when_ns = a->ns;
	m->at.has_clock = 1;
	m->at.clock = (Evd__Clock)a->clock;
	m->at.callback = &m->cbm;
	m->at.key = sched_key(a);
	m->at.options = m->optsp;
	m->keyp = &m->at.key;
	m->req.body_case = EVD__REQUEST__BODY_CALL_AT;
	m->req.call_at = &m->at;
	return 0;
}

static int
build_call_on(const struct evc_args *a, struct evc_msg *m)
{
	int r;

	if (a->calendar == NULL)
		return fail(m, "call_on: the calendar expression is NULL");
	r = sched_common(a, m, "call_on", false);
	if (r < 0)
		return r;
	m->on = (Evd__CallOn)EVD__CALL_ON__INIT;
	m->on.calendar = (char *)a->calendar;
	m->on.tz = a->tz != NULL && a->tz[0] != '\0' ? (char *)a->tz : NULL;
	m->on.callback = &m->cbm;
	m->on.key = sched_key(a);
	m->on.options = m->optsp;
	m->keyp = &m->on.key;
	m->req.body_case = EVD__REQUEST__BODY_CALL_ON;
	m->req.call_on = &m->on;
	return 0;
}

/* ---- timers by id ---- */

static int
build_hello(const struct evc_args *a, struct evc_msg *m)
{
	m->hello = (Evd__Hello)EVD__HELLO__INIT;
	m->hello.has_protocol_version = 1;
	m->hello.protocol_version = EVC_PROTOCOL_VERSION;
	m->hello.client_name = (char *)a->name;
	m->req.body_case = EVD__REQUEST__BODY_HELLO;
	m->req.hello = &m->hello;
	return 0;
}

static int
build_cancel(const struct evc_args *a, struct evc_msg *m)
{
	m->cancel = (Evd__Cancel)EVD__CANCEL__INIT;
	m->cancel.has_timer_id = 1;
	m->cancel.timer_id = a->id;
	m->req.body_case = EVD__REQUEST__BODY_CANCEL;
	m->req.cancel = &m->cancel;
	return 0;
}

static int
build_get(const struct evc_args *a, struct evc_msg *m)
{
	m->get = (Evd__Get)EVD__GET__INIT;
	m->get.has_timer_id = 1;
	m->get.timer_id = a->id;
	m->req.body_case = EVD__REQUEST__BODY_GET;
	m->req.get = &m->get;
	return 0;
}

static int
build_wait(const struct evc_args *a, struct evc_msg *m)
{
	m->wait = (Evd__Wait)EVD__WAIT__INIT;
	m->wait.has_timer_id = 1;
	m->wait.timer_id = a->id;
	m->req.body_case = EVD__REQUEST__BODY_WAIT;
	m->req.wait = &m->wait;
	return 0;
}

static int
build_pause(const struct evc_args *a, struct evc_msg *m)
{
	m->pause = (Evd__Pause)EVD__PAUSE__INIT;
	m->pause.has_timer_id = 1;
	m->pause.timer_id = a->id;
	m->req.body_case = EVD__REQUEST__BODY_PAUSE;
	m->req.pause = &m->pause;
	return 0;
}

static int
build_resume(const struct evc_args *a, struct evc_msg *m)
{
	m->resume = (Evd__Resume)EVD__RESUME__INIT;
	m->resume.has_timer_id = 1;
	m->resume.timer_id = a->id;
	m->req.body_case = EVD__REQUEST__BODY_RESUME;
	m->req.resume = &m->resume;
	return 0;
}

static int
build_trigger(const struct evc_args *a, struct evc_msg *m)
{
	m->trigger = (Evd__Trigger)EVD__TRIGGER__INIT;
	m->trigger.has_timer_id = 1;
	m->trigger.timer_id = a->id;
	m->req.body_case = EVD__REQUEST__BODY_TRIGGER;
	m->req.trigger = &m->trigger;
	return 0;
}

static int
build_retry(const struct evc_args *a, struct evc_msg *m)
{
	m->retry = (Evd__Retry)EVD__RETRY__INIT;
	m->retry.has_timer_id = 1;
	m->retry.timer_id = a->id;
	m->req.body_case = EVD__REQUEST__BODY_RETRY;
	m->req.retry = &m->retry;
	return 0;
}

static int
build_list(const struct evc_args *a, struct evc_msg *m)
{
	m->list = (Evd__List)EVD__LIST__INIT;
	m->list.channel = (char *)a->channel;
	m->list.has_after_id = a->after_id != 0;
	m->list.after_id = a->after_id;
	m->list.has_limit = a->limit != 0;
	m->list.limit = a->limit;
	m->list.has_finished = a->finished;
	m->list.finished = a->finished;
	m->list.has_runs = a->runs != 0;
	m->list.runs = a->runs;
	m->req.body_case = EVD__REQUEST__BODY_LIST;
	m->req.list = &m->list;
	return 0;
}

static int
build_time(const struct evc_args *a, struct evc_msg *m)
{
	m->time = (Evd__Time)EVD__TIME__INIT;
	m->req.body_case = EVD__REQUEST__BODY_TIME;
	m->req.time = &m->time;
	return 0;
}

static int
build_stats(const struct evc_args *a, struct evc_msg *m)
{
	m->stats = (Evd__Stats)EVD__STATS__INIT;
	m->req.body_case = EVD__REQUEST__BODY_STATS;
	m->req.stats = &m->stats;
	return 0;
}

/* ---- channels ---- */

static int
build_subscribe(const struct evc_args *a, struct evc_msg *m)
{
	if (a->channel == NULL)
		return fail(m, "%s: channel is NULL", a->fn);
	m->subscribe = (Evd__Subscribe)EVD__SUBSCRIBE__INIT;
	m->subscribe.channel = (char *)a->channel;
	m->subscribe.has_visibility_timeout_ns = a->has_visibility;
	m->subscribe.visibility_timeout_ns = a->visibility_ns;
	m->subscribe.has_max_inflight = a->max_inflight != 0;
	m->subscribe.max_inflight = a->max_inflight;
	m->req.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	m->req.subscribe = &m->subscribe;
	return 0;
}

static int
build_ack(const struct evc_args *a, struct evc_msg *m)
{
	m->ack = (Evd__Ack)EVD__ACK__INIT;
	m->ack.has_fire_id = 1;
	m->ack.fire_id = a->id;
	if (a->reschedule && a->absolute) {
		m->ack.reschedule_case = EVD__ACK__RESCHEDULE_RESCHEDULE_AT_NS;
		m->ack.reschedule_at_ns = a->ns;
	} else if (a->reschedule) {
		m->ack.reschedule_case =
		    EVD__ACK__RESCHEDULE_RESCHEDULE_DELAY_NS;
		m->ack.reschedule_delay_ns = a->ns;
	}
	m->req.body_case = EVD__REQUEST__BODY_ACK;
	m->req.ack = &m->ack;
	return 0;
}

static int
build_list_dead(const struct evc_args *a, struct evc_msg *m)
{
	if (a->channel == NULL)
		return fail(m, "%s: channel is NULL", a->fn);
	m->list_dead = (Evd__ListDead)EVD__LIST_DEAD__INIT;
	m->list_dead.channel = (char *)a->channel;
	m->list_dead.has_after_fire_id = a->after_id != 0;
	m->list_dead.after_fire_id = a->after_id;
	m->list_dead.has_limit = a->limit != 0;
	m->list_dead.limit = a->limit;
	m->req.body_case = EVD__REQUEST__BODY_LIST_DEAD;
	m->req.list_dead = &m->list_dead;
	return 0;
}

static int
build_requeue_dead(const struct evc_args *a, struct evc_msg *m)
{
	if (a->channel == NULL)
		return fail(m, "%s: channel is NULL", a->fn);
	m->requeue_dead = (Evd__RequeueDead)EVD__REQUEUE_DEAD__INIT;
	m->requeue_dead.channel = (char *)a->channel;
	m->requeue_dead.has_fire_id = a->id != 0;
	m->requeue_dead.fire_id = a->id;
	m->req.body_case = EVD__REQUEST__BODY_REQUEUE_DEAD;
	m->req.requeue_dead = &m->requeue_dead;
	return 0;
}

static int
build_purge_dead(const struct evc_args *a, struct evc_msg *m)
{
	if (a->channel == NULL)
		return fail(m, "%s: channel is NULL", a->fn);
	m->purge_dead = (Evd__PurgeDead)EVD__PURGE_DEAD__INIT;
	m->purge_dead.channel = (char *)a->channel;
	m->purge_dead.has_fire_id = a->id != 0;
	m->purge_dead.fire_id = a->id;
	m->req.body_case = EVD__REQUEST__BODY_PURGE_DEAD;
	m->req.purge_dead = &m->purge_dead;
	return 0;
}

static int
build_purge(const struct evc_args *a, struct evc_msg *m)
{
	if (a->channel == NULL)
		return fail(m, "%s: channel is NULL", a->fn);
	m->purge = (Evd__Purge)EVD__PURGE__INIT;
	m->purge.channel = (char *)a->channel;
	m->purge.has_from_uid = a->is_uid;
	m->purge.from_uid = (uint32_t)a->id;
	m->req.body_case = EVD__REQUEST__BODY_PURGE;
	m->req.purge = &m->purge;
	return 0;
}

static int
build_cancel_all(const struct evc_args *a, struct evc_msg *m)
{
	m->cancel_all = (Evd__CancelAll)EVD__CANCEL_ALL__INIT;
	m->cancel_all.channel = (char *)a->channel; /* NULL: none */
	m->cancel_all.has_uid = a->is_uid;
	m->cancel_all.uid = (uint32_t)a->id;
	m->req.body_case = EVD__REQUEST__BODY_CANCEL_ALL;
	m->req.cancel_all = &m->cancel_all;
	return 0;
}

static int
build_list_channels(const struct evc_args *a, struct evc_msg *m)
{
	m->list_channels = (Evd__ListChannels)EVD__LIST_CHANNELS__INIT;
	m->list_channels.after = (char *)a->name; /* NULL: the first */
	m->list_channels.has_limit = a->limit != 0;
	m->list_channels.limit = a->limit;
	m->req.body_case = EVD__REQUEST__BODY_LIST_CHANNELS;
	m->req.list_channels = &m->list_channels;
	return 0;
}

static int
build_peek(const struct evc_args *a, struct evc_msg *m)
{
	if (a->channel == NULL)
		return fail(m, "%s: channel is NULL", a->fn);
	m->peek = (Evd__Peek)EVD__PEEK__INIT;
	m->peek.channel = (char *)a->channel;
	m->peek.has_limit = a->limit != 0;
	m->peek.limit = a->limit;
	m->req.body_case = EVD__REQUEST__BODY_PEEK;
	m->req.peek = &m->peek;
	return 0;
}

static int
build_reject(const struct evc_args *a, struct evc_msg *m)
{
	m->reject = (Evd__Reject)EVD__REJECT__INIT;
	m->reject.has_fire_id = 1;
	m->reject.fire_id = a->id;
	m->reject.reason = (char *)a->reason;
	m->reject.has_dead_letter = a->dead_letter;
	m->reject.dead_letter = a->dead_letter;
	m->reject.channel = (char *)a->channel;
	m->req.body_case = EVD__REQUEST__BODY_REJECT;
	m->req.reject = &m->reject;
	return 0;
}

static int
build_unsubscribe(const struct evc_args *a, struct evc_msg *m)
{
	if (a->channel == NULL)
		return fail(m, "%s: channel is NULL", a->fn);
	m->unsubscribe = (Evd__Unsubscribe)EVD__UNSUBSCRIBE__INIT;
	m->unsubscribe.channel = (char *)a->channel;
	m->req.body_case = EVD__REQUEST__BODY_UNSUBSCRIBE;
	m->req.unsubscribe = &m->unsubscribe;
	return 0;
}

static int
build_channel_grant(const struct evc_args *a, struct evc_msg *m)
{
	if (a->channel == NULL)
		return fail(m, "%s: channel is NULL", a->fn);
	m->grant = (Evd__ChannelGrant)EVD__CHANNEL_GRANT__INIT;
	m->grant.channel = (char *)a->channel;
	if (a->is_gid) {
		m->grant.who_case = EVD__CHANNEL_GRANT__WHO_GID;
		m->grant.gid = (uint32_t)a->id;
	} else {
		m->grant.who_case = EVD__CHANNEL_GRANT__WHO_UID;
		m->grant.uid = (uint32_t)a->id;
	}
	m->grant.has_subscribe = 1;
	m->grant.subscribe = a->subscribe;
	m->grant.has_publish = 1;
	m->grant.publish = a->publish;
	m->grant.has_revoke = a->revoke;
	m->grant.revoke = a->revoke;
	m->req.body_case = EVD__REQUEST__BODY_CHANNEL_GRANT;
	m->req.channel_grant = &m->grant;
	return 0;
}

static int
build_get_channel(const struct evc_args *a, struct evc_msg *m)
{
	if (a->channel == NULL)
		return fail(m, "%s: channel is NULL", a->fn);
	m->get_channel = (Evd__GetChannel)EVD__GET_CHANNEL__INIT;
	m->get_channel.channel = (char *)a->channel;
	m->req.body_case = EVD__REQUEST__BODY_GET_CHANNEL;
	m->req.get_channel = &m->get_channel;
	return 0;
}

/* ---- converting replies ---- */

/* Cancelled, Subscribed, Unsubscribed, Welcome (which evc_conn_welcome
 * takes) carry nothing for the caller. */
static int
conv_none(const Evd__Reply *rp, struct evc_out *o)
{
	return 0;
}

static int
conv_scheduled(const Evd__Reply *rp, struct evc_out *o)
{
	evc_conv_scheduled(rp->scheduled, &o->sc);
	o->res.scheduled = &o->sc;
	o->val = &o->sc;
	return 0;
}

/* Set only by the daemon for an ack with a reschedule. */
static int
conv_acked(const Evd__Reply *rp, struct evc_out *o)
{
	if (rp->acked->rescheduled == NULL)
		return 0;
	evc_conv_scheduled(rp->acked->rescheduled, &o->sc);
	o->res.scheduled = &o->sc;
	o->val = &o->sc;
	return 0;
}

static int
conv_time(const Evd__Reply *rp, struct evc_out *o)
{
	o->tm.monotonic_ns = rp->time->monotonic_ns;
	o->tm.realtime_ns = rp->time->realtime_ns;
	o->tm.boottime_ns = rp->time->boottime_ns;
	o->res.time = &o->tm;
	o->val = &o->tm;
	return 0;
}

static int
conv_timer(const Evd__Reply *rp, struct evc_out *o)
{
	int r = evc_conv_timer_info(rp->timer, &o->ti);

	o->res.timer = &o->ti;
	o->val = &o->ti;
	return r;
}

static int
conv_timer_list(const Evd__Reply *rp, struct evc_out *o)
{
	int r = evc_conv_timer_list(rp->timer_list, &o->tl);

	o->res.list = &o->tl;
	o->val = &o->tl;
	return r;
}

static int
conv_stats(const Evd__Reply *rp, struct evc_out *o)
{
	int r = evc_conv_stats(rp->stats, &o->st);

	o->res.stats = &o->st;
	o->val = &o->st;
	if (r == 0 && rp->stats->cluster != NULL) {
		r = evc_conv_cluster_stats(rp->stats, &o->cs);
		o->res.cluster = &o->cs;
	}
	return r;
}

/* Both views of the page: evc_dead_list (EVCLIENT_1.2) and, with the
 * reasons, evc_dead_letters (EVCLIENT_1.7). */
static int
conv_dead_list(const Evd__Reply *rp, struct evc_out *o)
{
	int r = evc_conv_dead_list(rp->dead_list, &o->dl);

	o->res.dead_list = &o->dl;
	o->val = &o->dl;
	if (r == 0)
		r = evc_conv_dead_letters(rp->dead_list, &o->dls);
	if (r == 0)
		o->res.dead_letters = &o->dls;
	return r;
}

static int
conv_rejected(const Evd__Reply *rp, struct evc_out *o)
{
	o->rj.dead = rp->rejected->dead;
	o->rj.redeliver_in_ns = rp->rejected->redeliver_in_ns;
	o->res.rejected = &o->rj;
	o->val = &o->rj;
	return 0;
}

static int
conv_requeued(const Evd__Reply *rp, struct evc_out *o)
{
	o->count = o->res.count = rp->requeued->count;
	o->val = &o->count;
	return 0;
}

static int
conv_purged(const Evd__Reply *rp, struct evc_out *o)
{
	o->count = o->res.count = rp->purged->count;
	o->val = &o->count;
	return 0;
}

static int
conv_cancelled_all(const Evd__Reply *rp, struct evc_out *o)
{
	o->count = o->res.count = rp->cancelled_all->count;
	o->val = &o->count;
	return 0;
}

static int
conv_channel_list(const Evd__Reply *rp, struct evc_out *o)
{
	int r = evc_conv_channel_list(rp->channel_list, &o->cl);

	o->res.channel_list = &o->cl;
	o->val = &o->cl;
	return r;
}

static int
conv_channel(const Evd__Reply *rp, struct evc_out *o)
{
	int r = evc_conv_channel_info(rp->channel_info, &o->ci);

	o->res.channel = &o->ci;
	o->val = &o->ci;
	return r;
}

/* The ExecFinished report of a Wait. */
static int
conv_run(const Evd__Reply *rp, struct evc_out *o)
{
	static const Evd__Run empty = EVD__RUN__INIT;
	const Evd__Run *run = rp->exec_finished->run;
	int r = evc_conv_run(run != NULL ? run : &empty, &o->run);

	o->res.run = &o->run;
	o->val = &o->run;
	return r;
}

/* ---- the table ---- */

#define RQ(body) EVD__REQUEST__BODY_##body
#define RP(body) EVD__REPLY__BODY_##body
#define OUT(member) sizeof(((struct evc_out *)NULL)->member)

/*
 * Rows sharing a reply body share its converter: evc_req_convert looks
 * it up by the body (test_evc_req checks it). Retry notes: Subscribe is
 * sent again, and evc_conn also subscribes again to every channel the
 * daemon accepted; requeue and purge are done once (a second run would
 * act on what became dead since, or fail with NOT_FOUND); a grant's
 * effect would be unknown; a Wait is lost with its connection (see
 * evclient.h). ret: the blocking call fails without an output.
 */
const struct evc_req_type evc_req_types[EVC_OP__COUNT] = {
    /* name, body, reply, result, retry, build, convert, out, ret */
    [EVC_OP_HELLO] = {"hello", RQ(HELLO), RP(WELCOME), RP(WELCOME),
		      EVC_RETRY_NEVER, build_hello, conv_none, 0, false},
    [EVC_OP_CALL_SOON] = {"call_soon", RQ(CALL_SOON), RP(SCHEDULED),
			  RP(SCHEDULED), EVC_RETRY_KEYED, build_call_soon,
			  conv_scheduled, OUT(sc), false},
    [EVC_OP_CALL_LATER] = {"call_later", RQ(CALL_LATER), RP(SCHEDULED),
			   RP(SCHEDULED), EVC_RETRY_KEYED, build_call_later,
			   conv_scheduled, OUT(sc), false},
    [EVC_OP_CALL_AT] = {"call_at", RQ(CALL_AT), RP(SCHEDULED), RP(SCHEDULED),
			EVC_RETRY_KEYED, build_call_at, conv_scheduled, OUT(sc),
			false},
    [EVC_OP_CALL_ON] = {"call_on", RQ(CALL_ON), RP(SCHEDULED), RP(SCHEDULED),
			EVC_RETRY_KEYED, build_call_on, conv_scheduled, OUT(sc),
			false},
    [EVC_OP_CANCEL] = {"cancel", RQ(CANCEL), RP(CANCELLED), RP(CANCELLED),
		       EVC_RETRY_NEVER, build_cancel, conv_none, 0, false},
    [EVC_OP_GET] = {"get", RQ(GET), RP(TIMER), RP(TIMER), EVC_RETRY_READ,
		    build_get, conv_timer, OUT(ti), true},
    [EVC_OP_LIST] = {"list", RQ(LIST), RP(TIMER_LIST), RP(TIMER_LIST),
		     EVC_RETRY_READ, build_list, conv_timer_list, OUT(tl),
		     true},
    [EVC_OP_TIME] = {"time", RQ(TIME), RP(TIME), RP(TIME), EVC_RETRY_READ,
		     build_time, conv_time, OUT(tm), true},
    [EVC_OP_STATS] = {"stats", RQ(STATS), RP(STATS), RP(STATS), EVC_RETRY_READ,
		      build_stats, conv_stats, OUT(st), true},
    [EVC_OP_SUBSCRIBE] = {"subscribe", RQ(SUBSCRIBE), RP(SUBSCRIBED),
			  RP(SUBSCRIBED), EVC_RETRY_READ, build_subscribe,
			  conv_none, 0, false},
    [EVC_OP_ACK] = {"ack", RQ(ACK), RP(ACKED), RP(ACKED), EVC_RETRY_NEVER,
		    build_ack, conv_acked, OUT(sc), false},
    [EVC_OP_LIST_DEAD] = {"list_dead", RQ(LIST_DEAD), RP(DEAD_LIST),
			  RP(DEAD_LIST), EVC_RETRY_READ, build_list_dead,
			  conv_dead_list, OUT(dl), true},
    [EVC_OP_REQUEUE_DEAD] = {"requeue_dead", RQ(REQUEUE_DEAD), RP(REQUEUED),
			     RP(REQUEUED), EVC_RETRY_NEVER, build_requeue_dead,
			     conv_requeued, OUT(count), false},
    [EVC_OP_PURGE_DEAD] = {"purge_dead", RQ(PURGE_DEAD), RP(PURGED), RP(PURGED),
			   EVC_RETRY_NEVER, build_purge_dead, conv_purged,
			   OUT(count), false},
    [EVC_OP_CHANNEL_GRANT] = {"channel_grant", RQ(CHANNEL_GRANT),
			      RP(CHANNEL_INFO), RP(CHANNEL_INFO),
			      EVC_RETRY_NEVER, build_channel_grant,
			      conv_channel, OUT(ci), false},
    [EVC_OP_GET_CHANNEL] = {"get_channel", RQ(GET_CHANNEL), RP(CHANNEL_INFO),
			    RP(CHANNEL_INFO), EVC_RETRY_READ, build_get_channel,
			    conv_channel, OUT(ci), true},
    [EVC_OP_WAIT] = {"wait", RQ(WAIT), RP(WAITING), RP(EXEC_FINISHED),
		     EVC_RETRY_NEVER, build_wait, conv_run, OUT(run), true},
    [EVC_OP_PAUSE] = {"pause", RQ(PAUSE), RP(TIMER), RP(TIMER), EVC_RETRY_NEVER,
		      build_pause, conv_timer, OUT(ti), false},
    [EVC_OP_RESUME] = {"resume", RQ(RESUME), RP(TIMER), RP(TIMER),
		       EVC_RETRY_NEVER, build_resume, conv_timer, OUT(ti),
		       false},
    [EVC_OP_TRIGGER] = {"trigger", RQ(TRIGGER), RP(TIMER), RP(TIMER),
			EVC_RETRY_NEVER, build_trigger, conv_timer, OUT(ti),
			false},
    [EVC_OP_RETRY] = {"retry", RQ(RETRY), RP(TIMER), RP(TIMER), EVC_RETRY_NEVER,
		      build_retry, conv_timer, OUT(ti), false},
    /* Not repeated after a lost connection: its effect is unknown then
     * (like purge_dead's); a second purge is harmless, so a caller may. */
    [EVC_OP_PURGE] = {"purge", RQ(PURGE), RP(PURGED), RP(PURGED),
		      EVC_RETRY_NEVER, build_purge, conv_purged, OUT(count),
		      false},
    /* Not repeated after a lost connection, as purge: its count would
     * be a part; cancelling again is harmless, so a caller may. */
    [EVC_OP_CANCEL_ALL] = {"cancel_all", RQ(CANCEL_ALL), RP(CANCELLED_ALL),
			   RP(CANCELLED_ALL), EVC_RETRY_NEVER, build_cancel_all,
			   conv_cancelled_all, OUT(count), false},
    [EVC_OP_LIST_CHANNELS] = {"list_channels", RQ(LIST_CHANNELS),
			      RP(CHANNEL_LIST), RP(CHANNEL_LIST),
			      EVC_RETRY_READ, build_list_channels,
			      conv_channel_list, OUT(cl), true},
    /* Answered as ListDead is: the same converter. */
    [EVC_OP_PEEK] = {"peek", RQ(PEEK), RP(DEAD_LIST), RP(DEAD_LIST),
		     EVC_RETRY_READ, build_peek, conv_dead_list, OUT(dl), true},
    /* Like an ack: a lost connection gives the fire back anyway. */
    [EVC_OP_REJECT] = {"reject", RQ(REJECT), RP(REJECTED), RP(REJECTED),
		       EVC_RETRY_NEVER, build_reject, conv_rejected, OUT(rj),
		       false},
    /* Idempotent, so sent again; evc_conn forgets the channel (no
     * re-subscription) once the daemon answers. */
    [EVC_OP_UNSUBSCRIBE] = {"unsubscribe", RQ(UNSUBSCRIBE), RP(UNSUBSCRIBED),
			    RP(UNSUBSCRIBED), EVC_RETRY_READ,
			    build_unsubscribe, conv_none, 0, false},
};

int
evc_req_build(enum evc_op op, const struct evc_args *a, struct evc_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->req = (Evd__Request)EVD__REQUEST__INIT;
	return evc_req_types[op].build(a, m);
}

int
evc_req_convert(Evd__Reply__BodyCase result, const Evd__Reply *rp,
		struct evc_out *o)
{
	size_t i;

	memset(o, 0, sizeof(*o));
	o->res.errmsg = "";
	for (i = 0; i < EVC_OP__COUNT; i++)
		if (evc_req_types[i].result == result)
			return evc_req_types[i].convert(rp, o);
	return 0;
}

void
evc_out_clear(struct evc_out *o)
{
	evc_timer_info_free(&o->ti);
	evc_timer_list_free(&o->tl);
	evc_stats_free(&o->st);
	evc_cluster_stats_free(&o->cs);
	evc_dead_list_free(&o->dl);
	evc_dead_letters_free(&o->dls);
	evc_run_free(&o->run);
	evc_channel_info_free(&o->ci);
	evc_channel_list_free(&o->cl);
	memset(o, 0, sizeof(*o));
}

/* ---- the submit path ---- */

int
evc_submit(struct evc *c, enum evc_op op, const struct evc_args *a,
	   evc_done_cb done, void *arg, struct evc_waiter *w)
{
	const struct evc_req_type *t = &evc_req_types[op];
	struct evc_msg m;
	unsigned flags;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	/* Unlocked: an exec hook's builder may look the user up. */
	r = evc_req_build(op, a, &m);
	pthread_mutex_lock(&c->lock);
	if (r < 0) {
		r = evc_conn_fail(c, -r, "%s", m.errmsg);
		goto out;
	}
	if (w != NULL && t->ret_required && a->ret == NULL) {
		r = evc_conn_fail(c, EVC_E_USAGE, "%s: ret is NULL", a->fn);
		goto out;
	}
	flags = t->retry == EVC_RETRY_READ ? EVC_REQ_RETRY : 0;
	if (t->retry == EVC_RETRY_KEYED && m.durable &&
	    c->reconnect_min_ms > 0) {
		if (*m.keyp == NULL) {
			evc_conn_autokey(c, m.keybuf);
			*m.keyp = m.keybuf;
		}
		flags = EVC_REQ_RETRY;
	}
	r = evc_conn_submit(c, &m.req, t->reply, flags, done, arg, w);
out:
	/* A blocking caller reports its state once it is done waiting. */
	if (w == NULL)
		evc_conn_watch(c);
	pthread_mutex_unlock(&c->lock);
	return r;
}
