/*
 * evc_conv: between protocol messages and the public structs.
 *
 * Outgoing: evc_conv_callback borrows the caller's strings into a message
 * that lives only until it is packed, so nothing is copied. Incoming:
 * the evc_conv_* readers deep-copy out of an unpacked Reply (which the
 * caller frees right after), so what the caller receives owns its memory
 * and survives the Reply. Readers fill *ret only on success; on failure
 * they free what they copied and return -EVC_E_NOMEM without touching
 * the handle (the caller words the message).
 *
 * Also here: the public destructors of those structs. Binary payloads get
 * one extra NUL byte, as evclient.h promises.
 */
#include "evc_private.h"

#include <stdlib.h>
#include <string.h>

/* execbuf receives the Exec message when cb has one; the caller checked
 * it (evc_sched_build). */
int
evc_conv_callback(const struct evc_callback *cb, const char *user,
		  Evd__Exec *execbuf, Evd__Callback *ret)
{
	Evd__Callback m = EVD__CALLBACK__INIT;
	Evd__Exec x = EVD__EXEC__INIT;
	const struct evc_exec *e;

	if (cb != NULL) {
		if (cb->payload == NULL && cb->payload_len > 0)
			return -EVC_E_USAGE;
		if (cb->channel != NULL) {
			m.target_case = EVD__CALLBACK__TARGET_CHANNEL;
			/* Borrowed until packing; protobuf-c does not write. */
			m.channel = (char *)cb->channel;
		} else if ((e = cb->exec) != NULL) {
			/* Borrowed the same way, arrays included. */
			x.n_argv = e->argc;
			x.argv = (char **)e->argv;
			x.has_shell = e->shell;
			x.shell = e->shell;
			x.n_env = e->nenv;
			x.env = (char **)e->env;
			x.cwd = (char *)e->cwd;
			x.has_timeout_ns = e->timeout_ns != 0;
			x.timeout_ns = e->timeout_ns;
			/* EVCLIENT_1.5 */
			x.user = (char *)(e->user != NULL ? e->user : user);
			x.n_properties = e->nproperties;
			x.properties = (char **)e->properties;
			x.has_retry = e->retry != 0;
			x.retry = e->retry;
			x.has_retry_delay_ns = e->retry_delay_ns != 0;
			x.retry_delay_ns = e->retry_delay_ns;
			x.on_failure = (char *)e->on_failure;
			*execbuf = x;
			m.target_case = EVD__CALLBACK__TARGET_EXEC;
			m.exec = execbuf;
		}
		if (cb->payload != NULL) {
			m.has_payload = 1;
			m.payload.data = (uint8_t *)cb->payload;
			m.payload.len = cb->payload_len;
		}
	}
	*ret = m;
	return 0;
}

/* o and rep may each be NULL; repbuf receives the Repeat message when
 * rep asks for one. */
void
evc_conv_options(const struct evc_timer_options *o,
		 const struct evc_repeat *rep, Evd__Repeat *repbuf,
		 Evd__TimerOptions *ret)
{
	Evd__TimerOptions m = EVD__TIMER_OPTIONS__INIT;
	Evd__Repeat r = EVD__REPEAT__INIT;

	if (o != NULL) {
		/* All four are sent, zero included: zero is each one's
		 * default, so saying it changes nothing, and the daemon
		 * judges the values. */
		m.has_misfire = 1;
		m.misfire = (Evd__Misfire)o->misfire;
		m.has_delivery = 1;
		m.delivery = (Evd__Delivery)o->delivery;
		m.has_max_attempts = 1;
		m.max_attempts = o->max_attempts;
		m.has_downtime = 1;
		m.downtime = (Evd__Downtime)o->downtime;
	}
	if (rep != NULL) {
		/* Only what differs from the default: a Repeat with nothing
		 * in it would still say "repeating" to the daemon. */
		r.has_every_ns = rep->every_ns != 0;
		r.every_ns = rep->every_ns;
		r.has_count = rep->count != 0;
		r.count = rep->count;
		r.has_dst_gap = rep->dst_gap != 0;
		r.dst_gap = (Evd__DstGap)rep->dst_gap;
		r.has_dst_overlap = rep->dst_overlap != 0;
		r.dst_overlap = (Evd__DstOverlap)rep->dst_overlap;
		if (r.has_every_ns || r.has_count || r.has_dst_gap ||
		    r.has_dst_overlap) {
			*repbuf = r;
			m.repeat = repbuf;
		}
		m.has_overlap = rep->overlap != 0;
		m.overlap = (Evd__Overlap)rep->overlap;
		m.has_randomized_delay_ns = rep->randomized_delay_ns != 0;
		m.randomized_delay_ns = rep->randomized_delay_ns;
		m.has_accuracy_ns = rep->accuracy_ns != 0;
		m.accuracy_ns = rep->accuracy_ns;
	}
	*ret = m;
}

void
evc_conv_scheduled(const Evd__Scheduled *s, struct evc_scheduled *ret)
{
	ret->timer_id = s->timer_id;
	ret->clock = (enum evc_clock)s->clock;
	ret->deadline_ns = s->deadline_ns;
	ret->due_realtime_ns = s->due_realtime_ns;
	ret->existing = s->has_existing && s->existing;
}

/* NULL stays NULL; anything else is copied. */
static int
dup_str(const char *s, char **ret)
{
	*ret = NULL;
	if (s == NULL)
		return 0;
	*ret = strdup(s);
	return *ret == NULL ? -EVC_E_NOMEM : 0;
}

/* Absent stays NULL; present (even empty) gets len + 1 bytes, the last
 * a NUL, so text payloads can be used as C strings. */
static int
dup_bytes(bool present, const ProtobufCBinaryData *b, uint8_t **ret,
	  size_t *ret_len)
{
	*ret = NULL;
	*ret_len = 0;
	if (!present)
		return 0;
	*ret = malloc(b->len + 1);
	if (*ret == NULL)
		return -EVC_E_NOMEM;
	if (b->len > 0)
		memcpy(*ret, b->data, b->len);
	(*ret)[b->len] = '\0';
	*ret_len = b->len;
	return 0;
}

int
evc_conv_fired(const Evd__Fired *f, struct evc_fired *ret)
{
	struct evc_fired ev = {0};

	ev.timer_id = f->timer_id;
	ev.fire_id = f->fire_id;
	ev.due_realtime_ns = f->due_realtime_ns;
	ev.fired_realtime_ns = f->fired_realtime_ns;
	ev.lateness_ns = f->lateness_ns;
	ev.attempt = f->has_attempt ? f->attempt : 1;
	if (dup_str(f->channel, &ev.channel) < 0 ||
	    dup_bytes(f->has_payload, &f->payload, &ev.payload,
		      &ev.payload_len) < 0) {
		evc_fired_free(&ev);
		return -EVC_E_NOMEM;
	}
	*ret = ev;
	return 0;
}

/* Fills run in place; on failure run holds what was copied so far. */
static int
run_fill(const Evd__Run *r, struct evc_run *run)
{
	memset(run, 0, sizeof(*run));
	run->fire_id = r->fire_id;
	run->due_realtime_ns = r->due_realtime_ns;
	run->fired_realtime_ns = r->fired_realtime_ns;
	run->lateness_ns = r->lateness_ns;
	run->outcome = (int)r->outcome;
	run->exit_code = r->exit_code;
	run->signal = r->signal;
	run->duration_ns = r->duration_ns;
	if (dup_str(r->detail, &run->detail) < 0 ||
	    dup_bytes(r->has_stdout_tail, &r->stdout_tail, &run->stdout_tail,
		      &run->stdout_len) < 0 ||
	    dup_bytes(r->has_stderr_tail, &r->stderr_tail, &run->stderr_tail,
		      &run->stderr_len) < 0)
		return -EVC_E_NOMEM;
	return 0;
}

int
evc_conv_run(const Evd__Run *r, struct evc_run *ret)
{
	struct evc_run run;

	if (run_fill(r, &run) < 0) {
		evc_run_free(&run);
		return -EVC_E_NOMEM;
	}
	*ret = run;
	return 0;
}

/* history_count covers the entry being filled, so that freeing ti after
 * a failure frees its partial copy too. */
static int
history_fill(const Evd__TimerInfo *t, struct evc_timer_info *ti)
{
	size_t i;

	if (t->n_history == 0)
		return 0;
	ti->history = calloc(t->n_history, sizeof(*ti->history));
	if (ti->history == NULL)
		return -EVC_E_NOMEM;
	for (i = 0; i < t->n_history; i++) {
		ti->history_count = i + 1;
		if (run_fill(t->history[i], &ti->history[i]) < 0)
			return -EVC_E_NOMEM;
	}
	return 0;
}

/* The exec hook, for display; exec_argc covers what was copied, so that
 * freeing ti after a failure frees it. */
static int
exec_fill(const Evd__Exec *x, struct evc_timer_info *ti)
{
	size_t i;

	ti->exec_shell = x->has_shell && x->shell;
	ti->exec_timeout_ns = x->has_timeout_ns ? x->timeout_ns : 0;
	ti->exec_retry = x->has_retry ? x->retry : 0;
	ti->exec_retry_delay_ns = x->has_retry_delay_ns ? x->retry_delay_ns : 0;
	/* The stored command keeps the attempt it last ran; it is news
	 * only while the one-shot waits for that retry. */
	ti->exec_attempt = x->has_attempt && ti->state == EVC_TIMER_PENDING
				   ? x->attempt
				   : 0;
	if (dup_str(x->cwd, &ti->exec_cwd) < 0 ||
	    dup_str(x->user, &ti->exec_user) < 0 ||
	    dup_str(x->on_failure, &ti->exec_on_failure) < 0)
		return -EVC_E_NOMEM;
	ti->exec_properties = calloc(x->n_properties + 1,
				     sizeof(*ti->exec_properties));
	if (ti->exec_properties == NULL)
		return -EVC_E_NOMEM;
	for (i = 0; i < x->n_properties; i++) {
		if (dup_str(x->properties[i] != NULL ? x->properties[i] : "",
			    &ti->exec_properties[i]) < 0)
			return -EVC_E_NOMEM;
		ti->exec_nproperties = i + 1;
	}
	ti->exec_argv = calloc(x->n_argv + 1, sizeof(*ti->exec_argv));
	if (ti->exec_argv == NULL)
		return -EVC_E_NOMEM;
	for (i = 0; i < x->n_argv; i++) {
		/* protobuf-c never gives a NULL string; an empty one is
		 * kept as it is. */
		if (dup_str(x->argv[i] != NULL ? x->argv[i] : "",
			    &ti->exec_argv[i]) < 0)
			return -EVC_E_NOMEM;
		ti->exec_argc = i + 1;
	}
	return 0;
}

/* Fills ti in place; on failure ti holds whatever was copied so far, for
 * the caller to free. */
static int
timer_info_fill(const Evd__TimerInfo *t, struct evc_timer_info *ti)
{
	const Evd__Callback *cb = t->callback;
	const Evd__TimerOptions *o = t->options;
	const Evd__Repeat *rp;

	memset(ti, 0, sizeof(*ti));
	ti->timer_id = t->timer_id;
	ti->owner_uid = t->owner_uid;
	ti->owner_gid = t->owner_gid;
	ti->state = (enum evc_timer_state)t->state;
	ti->clock = (enum evc_clock)t->clock;
	ti->deadline_ns = t->deadline_ns;
	ti->due_realtime_ns = t->due_realtime_ns;
	ti->created_realtime_ns = t->created_realtime_ns;
	ti->fire_count = t->fire_count;
	ti->last_fired_realtime_ns =
	    t->has_last_fired_realtime_ns ? t->last_fired_realtime_ns : 0;
	if (o != NULL) {
		ti->has_options = true;
		ti->options.misfire = (int)o->misfire;
		ti->options.delivery = (int)o->delivery;
		ti->options.max_attempts = o->max_attempts;
		ti->options.downtime = (int)o->downtime;
		ti->repeat.overlap = (int)o->overlap;
		ti->repeat.randomized_delay_ns = o->randomized_delay_ns;
		ti->repeat.accuracy_ns = o->accuracy_ns;
	}
	if (o != NULL && o->repeat != NULL) {
		rp = o->repeat;
		ti->repeat.every_ns = rp->every_ns;
		ti->repeat.count = rp->count;
		ti->repeat.dst_gap = (int)rp->dst_gap;
		ti->repeat.dst_overlap = (int)rp->dst_overlap;
		ti->repeating = rp->every_ns > 0 ||
				(rp->calendar != NULL && rp->calendar[0] != '\0');
		/* "" is "not set" on the wire (the daemon's zone). */
		if ((rp->calendar != NULL && rp->calendar[0] != '\0' &&
		     dup_str(rp->calendar, &ti->calendar) < 0) ||
		    (rp->tz != NULL && rp->tz[0] != '\0' &&
		     dup_str(rp->tz, &ti->tz) < 0))
			return -EVC_E_NOMEM;
	}
	if (dup_str(t->key, &ti->key) < 0 || history_fill(t, ti) < 0)
		return -EVC_E_NOMEM;
	if (cb == NULL)
		return 0;
	if (cb->target_case == EVD__CALLBACK__TARGET_CHANNEL &&
	    dup_str(cb->channel, &ti->channel) < 0)
		return -EVC_E_NOMEM;
	if (cb->target_case == EVD__CALLBACK__TARGET_EXEC && cb->exec != NULL &&
	    exec_fill(cb->exec, ti) < 0)
		return -EVC_E_NOMEM;
	return dup_bytes(cb->has_payload, &cb->payload, &ti->payload,
			 &ti->payload_len);
}

int
evc_conv_timer_info(const Evd__TimerInfo *t, struct evc_timer_info *ret)
{
	struct evc_timer_info ti;

	if (timer_info_fill(t, &ti) < 0) {
		evc_timer_info_free(&ti);
		return -EVC_E_NOMEM;
	}
	*ret = ti;
	return 0;
}

int
evc_conv_timer_list(const Evd__TimerList *l, struct evc_timer_list *ret)
{
	struct evc_timer_list tl = {0};
	size_t i;

	if (l->n_timers > 0) {
		tl.timers = calloc(l->n_timers, sizeof(*tl.timers));
		if (tl.timers == NULL)
			return -EVC_E_NOMEM;
	}
	for (i = 0; i < l->n_timers; i++) {
		/* count covers the entry being filled, so that freeing the
		 * list after a failure frees its partial copy too. */
		tl.count = i + 1;
		if (timer_info_fill(l->timers[i], &tl.timers[i]) < 0) {
			evc_timer_list_free(&tl);
			return -EVC_E_NOMEM;
		}
	}
	tl.next_after_id = l->has_next_after_id ? l->next_after_id : 0;
	*ret = tl;
	return 0;
}

int
evc_conv_stats(const Evd__StatsReply *s, struct evc_stats *ret)
{
	struct evc_stats st = {0};

	st.pending_timers = s->pending_timers;
	st.connections = s->connections;
	st.scheduled_total = s->scheduled_total;
	st.fired_total = s->fired_total;
	st.cancelled_total = s->cancelled_total;
	st.channels = s->channels;
	st.queued_messages = s->queued_messages;
	st.inflight_messages = s->inflight_messages;
	st.redelivered_total = s->redelivered_total;
	st.dropped_total = s->dropped_total;
	st.uptime_ns = s->uptime_ns;
	st.dead_messages = s->dead_messages;
	st.clock_steps = s->clock_steps;
	st.tz_changes = s->tz_changes;
	st.utc_offset_s = s->utc_offset_s;
	if (dup_str(s->server_version, &st.server_version) < 0 ||
	    dup_str(s->store, &st.store) < 0) {
		evc_stats_free(&st);
		return -EVC_E_NOMEM;
	}
	*ret = st;
	return 0;
}

int
evc_conv_cluster_stats(const Evd__StatsReply *s, struct evc_cluster_stats *ret)
{
	const Evd__ClusterStats *c = s->cluster;
	struct evc_cluster_stats cs = {0};

	if (c == NULL) {
		*ret = cs;
		return 0;
	}
	cs.lease_live = c->lease_live;
	cs.claims_held = c->claims_held;
	cs.claimed_total = c->claimed_total;
	cs.fence_losses = c->fence_losses;
	cs.reaped_nodes = c->reaped_nodes;
	cs.reaped_timers = c->reaped_timers;
	cs.lease_lapses = c->lease_lapses;
	cs.lease_gaps = c->lease_gaps;
	cs.db_rtt_last_ns = c->db_rtt_last_ns;
	cs.db_rtt_p99_ns = c->db_rtt_p99_ns;
	cs.db_rtt_max_ns = c->db_rtt_max_ns;
	cs.db_rtt_samples = c->db_rtt_samples;
	cs.db_unanswered_ns = c->db_rtt_pending_ns;
	/* A node always has an id: "" would read as "not a cluster". */
	if (dup_str(c->node != NULL ? c->node : "", &cs.node) < 0)
		return -EVC_E_NOMEM;
	*ret = cs;
	return 0;
}

int
evc_conv_dead_list(const Evd__DeadList *l, struct evc_dead_list *ret)
{
	struct evc_dead_list dl = {0};
	size_t i;

	if (l->n_messages > 0) {
		dl.messages = calloc(l->n_messages, sizeof(*dl.messages));
		if (dl.messages == NULL)
			return -EVC_E_NOMEM;
	}
	for (i = 0; i < l->n_messages; i++) {
		if (evc_conv_fired(l->messages[i], &dl.messages[i]) < 0) {
			evc_dead_list_free(&dl);
			return -EVC_E_NOMEM;
		}
		dl.count = i + 1;
	}
	dl.next_after_fire_id =
	    l->has_next_after_fire_id ? l->next_after_fire_id : 0;
	*ret = dl;
	return 0;
}

int
evc_conv_dead_letters(const Evd__DeadList *l, struct evc_dead_letters *ret)
{
	struct evc_dead_letters dl = {0};
	size_t i;

	if (l->n_messages > 0) {
		dl.letters = calloc(l->n_messages, sizeof(*dl.letters));
		if (dl.letters == NULL)
			return -EVC_E_NOMEM;
	}
	for (i = 0; i < l->n_messages; i++) {
		struct evc_dead_letter *d = &dl.letters[i];

		if (evc_conv_fired(l->messages[i], &d->msg) < 0)
			goto nomem;
		dl.count = i + 1;
		if (dup_str(l->messages[i]->reason, &d->reason) < 0)
			goto nomem;
	}
	dl.next_after_fire_id =
	    l->has_next_after_fire_id ? l->next_after_fire_id : 0;
	*ret = dl;
	return 0;
nomem:
	evc_dead_letters_free(&dl);
	return -EVC_E_NOMEM;
}

int
evc_conv_channel_info(const Evd__ChannelInfo *m, struct evc_channel_info *ret)
{
	struct evc_channel_info ci = {0};
	const Evd__ChannelGrantEntry *g;
	size_t i;

	ci.owner_uid = m->owner_uid;
	ci.queued_messages = m->queued_messages;
	ci.inflight_messages = m->inflight_messages;
	ci.dead_messages = m->dead_messages;
	ci.subscribers = m->subscribers;
	if (dup_str(m->channel, &ci.channel) < 0)
		goto nomem;
	if (m->n_grants > 0) {
		ci.grants = calloc(m->n_grants, sizeof(*ci.grants));
		if (ci.grants == NULL)
			goto nomem;
	}
	for (i = 0; i < m->n_grants; i++) {
		g = m->grants[i];
		ci.grants[i].is_gid =
		    g->who_case == EVD__CHANNEL_GRANT_ENTRY__WHO_GID;
		ci.grants[i].id = ci.grants[i].is_gid ? g->gid : g->uid;
		ci.grants[i].subscribe = g->has_subscribe && g->subscribe;
		ci.grants[i].publish = g->has_publish && g->publish;
	}
	ci.grant_count = m->n_grants;
	*ret = ci;
	return 0;
nomem:
	evc_channel_info_free(&ci);
	return -EVC_E_NOMEM;
}

int
evc_conv_channel_list(const Evd__ChannelList *l, struct evc_channel_list *ret)
{
	struct evc_channel_list cl = {0};
	size_t i;

	if (l->n_channels > 0 &&
	    (cl.channels = calloc(l->n_channels, sizeof(*cl.channels))) ==
		NULL)
		return -EVC_E_NOMEM;
	for (i = 0; i < l->n_channels; i++) {
		if (evc_conv_channel_info(l->channels[i], &cl.channels[i]) <
		    0) {
			evc_channel_list_free(&cl);
			return -EVC_E_NOMEM;
		}
		cl.count = i + 1;
	}
	if (l->next_after != NULL && l->next_after[0] != '\0' &&
	    (cl.next_after = strdup(l->next_after)) == NULL) {
		evc_channel_list_free(&cl);
		return -EVC_E_NOMEM;
	}
	*ret = cl;
	return 0;
}

EVC_EXPORT void
evc_channel_list_free(struct evc_channel_list *cl)
{
	size_t i;

	if (cl == NULL)
		return;
	for (i = 0; i < cl->count; i++)
		evc_channel_info_free(&cl->channels[i]);
	free(cl->channels);
	free(cl->next_after);
	memset(cl, 0, sizeof(*cl));
}

EVC_EXPORT void
evc_run_free(struct evc_run *run)
{
	if (run == NULL)
		return;
	free(run->detail);
	free(run->stdout_tail);
	free(run->stderr_tail);
	memset(run, 0, sizeof(*run));
}

EVC_EXPORT void
evc_channel_info_free(struct evc_channel_info *ci)
{
	if (ci == NULL)
		return;
	free(ci->channel);
	free(ci->grants);
	memset(ci, 0, sizeof(*ci));
}

EVC_EXPORT void
evc_fired_free(struct evc_fired *ev)
{
	if (ev == NULL)
		return;
	free(ev->channel);
	free(ev->payload);
	memset(ev, 0, sizeof(*ev));
}

EVC_EXPORT void
evc_dead_letters_free(struct evc_dead_letters *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->count; i++) {
		evc_fired_free(&l->letters[i].msg);
		free(l->letters[i].reason);
	}
	free(l->letters);
	memset(l, 0, sizeof(*l));
}

EVC_EXPORT void
evc_timer_info_free(struct evc_timer_info *ti)
{
	size_t i;

	if (ti == NULL)
		return;
	for (i = 0; i < ti->history_count; i++)
		evc_run_free(&ti->history[i]);
	free(ti->history);
	for (i = 0; i < ti->exec_argc; i++)
		free(ti->exec_argv[i]);
	free(ti->exec_argv);
	free(ti->exec_cwd);
	for (i = 0; i < ti->exec_nproperties; i++)
		free(ti->exec_properties[i]);
	free(ti->exec_properties);
	free(ti->exec_user);
	free(ti->exec_on_failure);
	free(ti->calendar);
	free(ti->tz);
	free(ti->channel);
	free(ti->payload);
	free(ti->key);
	memset(ti, 0, sizeof(*ti));
}

EVC_EXPORT void
evc_timer_list_free(struct evc_timer_list *tl)
{
	size_t i;

	if (tl == NULL)
		return;
	for (i = 0; i < tl->count; i++)
		evc_timer_info_free(&tl->timers[i]);
	free(tl->timers);
	memset(tl, 0, sizeof(*tl));
}

EVC_EXPORT void
evc_stats_free(struct evc_stats *st)
{
	if (st == NULL)
		return;
	free(st->server_version);
	free(st->store);
	memset(st, 0, sizeof(*st));
}

EVC_EXPORT void
evc_cluster_stats_free(struct evc_cluster_stats *cs)
{
	if (cs == NULL)
		return;
	free(cs->node);
	memset(cs, 0, sizeof(*cs));
}

EVC_EXPORT void
evc_dead_list_free(struct evc_dead_list *dl)
{
	size_t i;

	if (dl == NULL)
		return;
	for (i = 0; i < dl->count; i++)
		evc_fired_free(&dl->messages[i]);
	free(dl->messages);
	memset(dl, 0, sizeof(*dl));
}
