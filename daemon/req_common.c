/*
 * req_common: what the three scheduling requests (call_soon, call_later,
 * call_at) share: checking the callback and key, and the Scheduled reply.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "channel.h"
#include "clock.h"
#include "config.h"
#include "dispatch.h"
#include "evd_types_pb.h"
#include "batch.h"
#include "exec.h"
#include "jobprop.h"
#include "peer.h"
#include "quota.h"
#include "repeat.h"
#include "sched.h"
#include "store.h"

/* Upper bound on max_attempts: beyond it a message would retry for
 * weeks at the backoff cap. */
#define REQ_MAX_ATTEMPTS 1000
/* Upper bounds on an exec hook's retries (Exec.retry; at the one-hour
 * backoff cap, 100 retries are four days) and their first delay. */
#define REQ_EXEC_RETRY_MAX 100
#define REQ_EXEC_RETRY_DELAY_MAX_NS (INT64_C(3600) * 1000000000)

static int
req_fill_options(struct req_ctx *ctx, const Evd__TimerOptions *o,
                 struct sched_spec *spec)
{
	if (o == NULL)
		return 0;
	if (o->has_misfire) {
		if (o->misfire != EVD__MISFIRE__MISFIRE_FIRE &&
		    o->misfire != EVD__MISFIRE__MISFIRE_SKIP &&
		    o->misfire != EVD__MISFIRE__MISFIRE_ALL)
			return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
			                "unknown misfire policy %d", o->misfire);
		spec->misfire = evd_misfire_from_pb(o->misfire);
	}
	if (o->has_delivery) {
		if (o->delivery != EVD__DELIVERY__AT_LEAST_ONCE &&
		    o->delivery != EVD__DELIVERY__AT_MOST_ONCE)
			return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
			                "unknown delivery mode %d", o->delivery);
		spec->delivery = evd_delivery_from_pb(o->delivery);
	}
	if (o->has_downtime) {
		if (o->downtime != EVD__DOWNTIME__DOWNTIME_COUNTS &&
		    o->downtime != EVD__DOWNTIME__DOWNTIME_PAUSED)
			return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
			                "unknown downtime policy %d", o->downtime);
		spec->downtime = evd_downtime_from_pb(o->downtime);
	}
	if (o->has_max_attempts) {
		if (o->max_attempts > REQ_MAX_ATTEMPTS)
			return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
			                "max_attempts above %d", REQ_MAX_ATTEMPTS);
		spec->max_attempts = o->max_attempts;
	}
	return 0;
}

int
req_channel_name(struct req_ctx *ctx, const char *in, const char **ret)
{
	char *canon;

	if ((canon = req_alloc(ctx, CHANNEL_CANON_MAX + 1)) == NULL)
		return -ENOMEM;
	if (channel_name_canon(in, ctx->uid, canon) < 0)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "channel '%.64s': a channel is NAME (your own) "
		                "or UID:NAME (uid's), NAME 1..%d bytes without "
		                "spaces or control characters",
		                in != NULL ? in : "", CHANNEL_NAME_MAX);
	*ret = canon;
	return 0;
}

int
req_dead_apply(struct req_ctx *ctx, const char *in, uint64_t fire_id,
               bool purge, uint64_t *ret_count)
{
	struct channel_who who = { ctx->uid, ctx->gid, ctx->groups,
		                   ctx->ngroups };
	const char *channel;
	int r;

	if ((r = req_channel_name(ctx, in, &channel)) < 0)
		return r;
	r = purge ? channel_dead_purge(&who, channel, fire_id, ret_count)
	          : channel_dead_requeue(&who, channel, fire_id, ret_count);
	if (r == -EACCES)
		return req_errno(ctx, r,
		                 "you may no longer publish to %s: its dead "
		                 "letters may be purged, not requeued",
		                 in);
	if (r == -ENOENT)
		return fire_id != 0
		               ? req_errno(ctx, r,
		                           "no dead message %" PRIu64 " on %s",
		                           fire_id, in)
		               : req_errno(ctx, r, "no dead messages on %s", in);
	if (r < 0) /* -EAGAIN, -EIO: the store */
		return req_errno(ctx, r, NULL);
	ctx->durable = true;
	return 0;
}

int
req_channel_access(struct req_ctx *ctx, const char *channel, int right)
{
	struct channel_who who = { ctx->uid, ctx->gid, ctx->groups,
		                   ctx->ngroups };
	bool wrote;
	int r = channel_authorize(channel, &who, right, &wrote);

	if (wrote)
		ctx->durable = true;
	if (r == -EACCES)
		return req_errno(ctx, r,
		                 "channel %s belongs to uid %u, who has not "
		                 "granted you %s",
		                 channel, (unsigned)channel_name_owner(channel),
		                 right == CHANNEL_RIGHT_SUBSCRIBE ? "subscribe"
		                                                  : "publish");
	if (r == -EDQUOT)
		return req_errno(ctx, r, "uid %u owns %d channels, the limit",
		                 (unsigned)channel_name_owner(channel),
		                 CHANNEL_MAX_PER_UID);
	if (r == -EAGAIN || r == -EIO)
		return req_errno(ctx, r, NULL);
	return r;
}

/* An environment name as the hook runner takes it: [A-Za-z_][A-Za-z0-9_]*. */
static bool
req_env_key_ok(const char *k, const char *eq)
{
	const char *p;

	if (k == eq || (*k >= '0' && *k <= '9'))
		return false;
	for (p = k; p < eq; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* Whether entry i's name (klen bytes) was already set by an earlier one. */
static bool
req_env_dup(const Evd__Exec *x, size_t i, size_t klen)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (strncmp(x->env[j], x->env[i], klen + 1) == 0)
			return true;
	return false;
}

/*
 * The first control byte of s (C0 or DEL), or NULL. A hook's command is
 * logged and shown back, so a newline in it could forge log lines (an
 * outside review did it through argv[0]); tab is allowed where tab_ok,
 * in arguments and values, where it is plain data.
 */
static const char *
req_ctl_byte(const char *s, bool tab_ok)
{
	for (; *s != '\0'; s++)
		if (((unsigned char)*s < 0x20 && !(tab_ok && *s == '\t')) ||
		    *s == 0x7f)
			return s;
	return NULL;
}

/* min_repeat_interval_ms, for every loop. */
static uint32_t req_min_repeat_ms = CONFIG_DEFAULT_MIN_REPEAT_MS;

void
req_set_min_repeat(uint32_t ms)
{
	__atomic_store_n(&req_min_repeat_ms, ms, __ATOMIC_RELAXED);
}

/*
 * A plausible login name: 1..32 bytes of the POSIX portable set
 * [A-Za-z0-9._-], not starting with '-', not all digits (it would read
 * as a uid) nor all dots, with one optional trailing '$' (Samba machine
 * accounts, which Debian's adduser accepts). Covers Debian's default
 * NAME_REGEX ^[a-z][-a-z0-9_]*\$?$ and its system-user one.
 */
static bool
req_user_name_ok(const char *u)
{
	size_t len = strlen(u), i;
	bool digits = true, dots = true;

	if (len > 0 && u[len - 1] == '$')
		len--;
	if (len == 0 || len > 32 || u[0] == '-')
		return false;
	for (i = 0; i < len; i++) {
		char c = u[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
		digits = digits && c >= '0' && c <= '9';
		dots = dots && c == '.';
	}
	return !digits && !dots;
}

/*
 * Exec's user and properties: judged now, since they are stored and
 * applied at every fire (properties by the active hook backend, which
 * must honour each one's class).
 */
static int
req_check_exec_job(struct req_ctx *ctx, const Evd__Exec *x)
{
	char why[REQ_ERRMSG_MAX - 16];

	if (x->user != NULL && !req_user_name_ok(x->user))
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "user must be a login name: 1..32 letters, "
		                "digits, '.', '_' or '-'");
	if (jobprop_check((const char *const *)x->properties,
	                  x->n_properties, ctx->uid, exec_honours(), NULL,
	                  why, sizeof why) < 0)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT, "%s",
		                why);
	return 0;
}

/*
 * The hook's owner by name (peer.h), into *ret. A system instance
 * refuses a uid without a passwd entry now rather than at every fire
 * (at(1) likewise), fills in the name a client left out, and refuses a
 * name that is not the caller's (every fire would refuse it).
 */
static int
req_exec_owner(struct req_ctx *ctx, const Evd__Exec *x, const char **ret)
{
	*ret = x->user;
	if (ctx->peer == NULL || geteuid() != 0 || ctx->uid == 0)
		return 0;
	switch (ctx->peer->state) {
	case PEER_NO_ENTRY:
		return req_fail(ctx, EVD__ERROR_CODE__PERMISSION_DENIED,
		                "uid %u has no passwd entry: this evd runs "
		                "hooks only as users it can name",
		                (unsigned)ctx->uid);
	case PEER_UNRESOLVED:
		return req_fail(ctx, EVD__ERROR_CODE__UNAVAILABLE,
		                "the user database did not say who uid %u is "
		                "when it connected; reconnect and try again",
		                (unsigned)ctx->uid);
	case PEER_REFUSED: /* dispatch refused its requests already */
	case PEER_UNCHECKED:
		return req_fail(ctx, EVD__ERROR_CODE__PERMISSION_DENIED,
		                "uid %u is not known to be the same user on "
		                "every node", (unsigned)ctx->uid);
	case PEER_NAMED:
		break;
	}
	if (x->user != NULL && x->user[0] != '\0' &&
	    strcmp(x->user, ctx->peer->name) != 0)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "user '%s' is not the caller: uid %u is '%s'",
		                x->user, (unsigned)ctx->uid, ctx->peer->name);
	*ret = ctx->peer->name;
	return 0;
}

/*
 * Checks an exec target against the limits (REQ_EXEC_*) and packs it for
 * the timer: the command is stored and run later, so it is judged now.
 */
static int
req_check_exec(struct req_ctx *ctx, const Evd__Exec *x,
               struct sched_spec *spec)
{
	size_t i, bytes = 0, n;
	Evd__Exec owned;
	uint8_t *packed;
	int r;

	if (geteuid() != 0 && ctx->uid != geteuid())
		return req_fail(ctx, EVD__ERROR_CODE__PERMISSION_DENIED,
		                "this evd is not root: it runs hooks only for "
		                "uid %u",
		                (unsigned)geteuid());
	if (x->n_argv == 0 || x->n_argv > REQ_EXEC_ARGS_MAX)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "exec needs 1..%d arguments", REQ_EXEC_ARGS_MAX);
	if (x->has_shell && x->shell && x->n_argv != 1)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "a shell hook is one command string");
	if (x->argv[0][0] == '\0' ||
	    (x->argv[0][0] != '/' && strchr(x->argv[0], '/') != NULL &&
	     !(x->has_shell && x->shell)))
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "the program must be an absolute path or a "
		                "name found in /usr/local/bin:/usr/bin:/bin");
	for (i = 0; i < x->n_argv; i++) {
		if (req_ctl_byte(x->argv[i],
		                 i > 0 || (x->has_shell && x->shell)) != NULL)
			return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
			                "argv[%zu] contains a control character "
			                "(newline, ...); put a multi-line script "
			                "in a file",
			                i);
		bytes += strlen(x->argv[i]) + 1;
	}
	if (x->n_env > REQ_EXEC_ENV_MAX)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "at most %d environment entries",
		                REQ_EXEC_ENV_MAX);
	for (i = 0; i < x->n_env; i++) {
		const char *eq = strchr(x->env[i], '=');

		if (eq == NULL || !req_env_key_ok(x->env[i], eq) ||
		    strncmp(x->env[i], "EVD_", 4) == 0 ||
		    req_env_dup(x, i, (size_t)(eq - x->env[i])))
			return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
			                "environment entries are KEY=VALUE with "
			                "a name of letters, digits and _, each "
			                "once, and may not set EVD_* (%.40s)",
			                x->env[i]);
		if (req_ctl_byte(eq + 1, true) != NULL)
			return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
			                "environment entry %.*s has a control "
			                "character (newline, ...) in its value",
			                (int)(eq - x->env[i] < 40
			                              ? eq - x->env[i]
			                              : 40),
			                x->env[i]);
		bytes += strlen(x->env[i]) + 1;
	}
	if (x->cwd != NULL && x->cwd[0] != '\0') {
		if (x->cwd[0] != '/')
			return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
			                "cwd must be an absolute path");
		if (req_ctl_byte(x->cwd, false) != NULL)
			return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
			                "cwd contains a control character "
			                "(newline, ...)");
		bytes += strlen(x->cwd) + 1;
	}
	if (bytes > REQ_EXEC_BYTES_MAX)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "the command takes %zu bytes; the limit is %u",
		                bytes, REQ_EXEC_BYTES_MAX);
	if (x->has_timeout_ns &&
	    (x->timeout_ns < 0 || x->timeout_ns > CLOCK_MAX_AHEAD_NS))
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "timeout_ns must be 0 (none) up to a century");
	if (x->has_attempt)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "attempt is set by the daemon, not by clients");
	if (x->has_retry && x->retry > REQ_EXEC_RETRY_MAX)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "retry must be 0..%d", REQ_EXEC_RETRY_MAX);
	if (x->has_retry_delay_ns &&
	    (x->retry_delay_ns < 0 ||
	     x->retry_delay_ns > REQ_EXEC_RETRY_DELAY_MAX_NS))
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "retry_delay_ns must be 0 (1 s) up to an hour");
	/* The failure report goes where the owner could publish by
	 * scheduling into it: the same check (judged again when it is
	 * sent). */
	owned = *x;
	if (x->on_failure != NULL && x->on_failure[0] != '\0') {
		if ((r = req_channel_name(ctx, x->on_failure,
		                          (const char **)&owned.on_failure)) < 0)
			return r;
		if ((r = req_channel_access(ctx, owned.on_failure,
		                            CHANNEL_RIGHT_PUBLISH)) < 0)
			return r;
	}
	if ((r = req_check_exec_job(ctx, x)) < 0)
		return r;
	/* Stored with the owner's name, which the fire checks, and the
	 * failure channel's canonical name. */
	if ((r = req_exec_owner(ctx, x, (const char **)&owned.user)) < 0)
		return r;
	n = evd__exec__get_packed_size(&owned);
	if ((packed = req_alloc(ctx, n)) == NULL)
		return -ENOMEM;
	evd__exec__pack(&owned, packed);
	spec->exec = packed;
	spec->exec_len = n;
	return 0;
}

int
req_fill_target(struct req_ctx *ctx, const Evd__Callback *cb, const char *key,
                const Evd__TimerOptions *opts, struct sched_spec *spec)
{
	int r;

	memset(spec, 0, sizeof *spec);
	spec->uid = ctx->uid;
	spec->gid = ctx->gid;
	spec->conn_id = ctx->conn_id;
	if ((r = req_fill_options(ctx, opts, spec)) < 0)
		return r;
	if (cb != NULL) {
		if (cb->target_case == EVD__CALLBACK__TARGET_CHANNEL) {
			if ((r = req_channel_name(ctx, cb->channel,
			                          &spec->channel)) < 0)
				return r;
			if ((r = req_channel_access(ctx, spec->channel,
			                            CHANNEL_RIGHT_PUBLISH)) < 0)
				return r;
		} else if (cb->target_case == EVD__CALLBACK__TARGET_EXEC) {
			if ((r = req_check_exec(ctx, cb->exec, spec)) < 0)
				return r;
		} else if (cb->target_case != EVD__CALLBACK__TARGET__NOT_SET)
			return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
			                "unknown callback target");
		if (cb->has_payload) {
			if (cb->payload.len > REQ_PAYLOAD_MAX)
				return req_fail(ctx,
				        EVD__ERROR_CODE__INVALID_ARGUMENT,
				        "payload of %zu bytes exceeds the "
				        "limit of %u",
				        cb->payload.len, REQ_PAYLOAD_MAX);
			spec->payload = cb->payload.data;
			spec->payload_len = cb->payload.len;
		}
	}
	if (key != NULL) {
		size_t klen = strlen(key);

		if (klen == 0 || klen > REQ_KEY_MAX)
			return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
			                "key must be 1..%u bytes", REQ_KEY_MAX);
		spec->key = key;
	}
	return 0;
}

size_t
req_stores(const struct store_backend *ret_be[REQ_STORES_MAX],
           struct store *ret_s[REQ_STORES_MAX])
{
	const struct store_backend *be;
	struct store *s;
	size_t n = 0;

	if ((s = sched_keeper(&be)) != NULL) {
		ret_be[n] = be;
		ret_s[n++] = s;
	}
	if ((be = batch_backend()) != NULL && (s = batch_store_ro()) != NULL) {
		ret_be[n] = be;
		ret_s[n++] = s;
	}
	return n;
}

int64_t
req_stored_deadline(const struct store_timer *st)
{
	if (st->finished || st->clock == EVD_CLOCK_REALTIME ||
	    st->boot_id[0] == '\0' || strcmp(st->boot_id, clock_boot_id()) == 0)
		return st->deadline_ns;
	return clock_now_ns(st->clock) +
	       (st->due_rt_ns - clock_now_ns(EVD_CLOCK_REALTIME));
}

static int
req_found_key_cb(const struct store_timer *st, void *arg)
{
	Evd__Scheduled *s = arg;

	s->has_timer_id = s->has_clock = s->has_deadline_ns = true;
	s->timer_id = st->id;
	s->clock = evd_clock_to_pb(st->clock);
	s->deadline_ns = st->deadline_ns;
	s->has_due_realtime_ns = true;
	s->due_realtime_ns = st->due_rt_ns;
	return 0;
}

/* A key whose timer already fired or was cancelled: the retry gets that
 * timer back, not a second one (a caller timer's key is free again once
 * it ended: its record holds none). Returns true if the reply is
 * filled. */
static bool
req_finished_key(struct req_ctx *ctx, const struct sched_spec *spec,
                 Evd__Scheduled *s)
{
	const struct store_backend *be[REQ_STORES_MAX];
	struct store *st[REQ_STORES_MAX];
	size_t i, n;

	if (spec->key == NULL || sched_find_key(spec->uid, spec->key) != NULL)
		return false;
	n = req_stores(be, st);
	/* -ENOENT, or unreadable: the next store; in none, a new timer. */
	for (i = 0; i < n && !s->has_timer_id; i++)
		(void)be[i]->find_key(st[i], spec->uid, spec->key,
		                      req_found_key_cb, s);
	if (!s->has_timer_id)
		return false;
	s->has_existing = true;
	s->existing = true;
	ctx->reply->body_case = EVD__REPLY__BODY_SCHEDULED;
	ctx->reply->scheduled = s;
	return true;
}

void
req_fill_scheduled(Evd__Scheduled *s, const struct timer *t)
{
	evd__scheduled__init(s);
	s->has_timer_id = s->has_clock = s->has_deadline_ns = true;
	s->timer_id = sched_timer_id(t);
	s->clock = evd_clock_to_pb(sched_timer_clock(t));
	s->deadline_ns = sched_timer_deadline(t);
	s->has_due_realtime_ns = true;
	s->due_realtime_ns = clock_to_realtime_ns(sched_timer_clock(t),
	                                          s->deadline_ns);
}

void
req_fill_timer_info(struct req_ctx *ctx, const struct timer *t,
                    Evd__TimerInfo *info, Evd__Callback *cb,
                    Evd__TimerOptions *opts, Evd__Repeat *rep)
{
	static Evd__Exec empty = EVD__EXEC__INIT;
	struct sched_view v;

	sched_view(t, &v);
	evd__timer_info__init(info);
	evd__callback__init(cb);
	info->has_timer_id = true;
	info->timer_id = v.id;
	info->has_owner_uid = true;
	info->owner_uid = v.uid;
	info->has_owner_gid = true;
	info->owner_gid = v.gid;
	info->has_state = true;
	info->state = v.paused ? EVD__TIMER_STATE__PAUSED
	                       : EVD__TIMER_STATE__PENDING;
	info->has_clock = true;
	info->clock = evd_clock_to_pb(v.clock);
	info->has_deadline_ns = true;
	info->deadline_ns = v.deadline_ns;
	info->has_due_realtime_ns = true;
	info->due_realtime_ns = clock_to_realtime_ns(v.clock, v.deadline_ns);
	info->has_created_realtime_ns = true;
	info->created_realtime_ns = v.created_rt_ns;
	info->key = (char *)v.key;
	info->has_fire_count = true;
	info->fire_count = v.fire_count;
	if (v.last_fired_rt_ns != 0) {
		info->has_last_fired_realtime_ns = true;
		info->last_fired_realtime_ns = v.last_fired_rt_ns;
	}
	if (v.channel != NULL) {
		cb->target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb->channel = (char *)channel_display(v.channel, ctx->uid);
	}
	if (v.exec) {
		cb->target_case = EVD__CALLBACK__TARGET_EXEC;
		cb->exec = &empty;
	}
	if (v.payload_len > 0) {
		cb->has_payload = true;
		cb->payload.data = (uint8_t *)v.payload;
		cb->payload.len = v.payload_len;
	}
	info->callback = cb;
	if (opts != NULL) {
		evd__timer_options__init(opts);
		opts->has_misfire = opts->has_delivery = true;
		opts->misfire = evd_misfire_to_pb(v.misfire);
		opts->delivery = evd_delivery_to_pb(v.delivery);
		opts->has_downtime = opts->has_max_attempts = true;
		opts->downtime = evd_downtime_to_pb(v.downtime);
		opts->max_attempts = v.max_attempts;
		if (rep != NULL)
			repeat_fill_options(v.repeat, opts, rep);
		info->options = opts;
	}
}

/* Builds spec->rep from the request's schedule; for a calendar, the
 * first occurrence becomes the deadline. */
static int
req_fill_repeat(struct req_ctx *ctx, struct sched_spec *spec,
                const Evd__TimerOptions *opts, const char *calendar,
                const char *tz)
{
	char err[REQ_ERRMSG_MAX - 32];
	int r;

	uint32_t min_ms = __atomic_load_n(&req_min_repeat_ms, __ATOMIC_RELAXED);

	/* A durable repeating timer costs a store write per fire: one user
	 * may not make the daemon write a thousand times a second. */
	if (opts != NULL && opts->repeat != NULL &&
	    opts->repeat->has_every_ns && opts->repeat->every_ns > 0 &&
	    min_ms > 0 && ctx->uid != 0 &&
	    (spec->channel != NULL || spec->exec != NULL) &&
	    opts->repeat->every_ns < (int64_t)min_ms * 1000000)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "repeat.every_ns must be at least %u ms for a "
		                "channel or exec timer (min_repeat_interval_ms)",
		                min_ms);
	r = repeat_from_options(opts, calendar, tz, spec->clock, &spec->rep,
	                        err, sizeof err);
	if (r == -EINVAL)
		return req_errno(ctx, r, "%s", err);
	if (r < 0)
		return r;
	if (calendar == NULL || calendar[0] == '\0')
		return 0;
	r = repeat_first(spec->rep, clock_now_ns(EVD_CLOCK_REALTIME),
	                 &spec->deadline_ns);
	if (r < 0) {
		repeat_free(spec->rep);
		spec->rep = NULL;
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "calendar expression \"%.80s\" %s", calendar,
		                r == -ENOENT ? "has no future occurrence"
		                             : "cannot be evaluated in its "
		                               "time zone");
	}
	if (spec->deadline_ns - clock_now_ns(EVD_CLOCK_REALTIME) >
	    CLOCK_MAX_AHEAD_NS) {
		repeat_free(spec->rep);
		spec->rep = NULL;
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "calendar expression \"%.80s\" first occurs "
		                "more than a century ahead",
		                calendar);
	}
	return 0;
}

int
req_schedule(struct req_ctx *ctx, struct sched_spec *spec,
             const Evd__TimerOptions *opts, const char *calendar,
             const char *tz)
{
	Evd__Scheduled *s;
	struct timer *t;
	bool existing;
	int r;

	if ((s = req_alloc(ctx, sizeof *s)) == NULL)
		return -ENOMEM;
	evd__scheduled__init(s);
	if (req_finished_key(ctx, spec, s))
		return 0;
	if (spec->key == NULL || sched_find_key(spec->uid, spec->key) == NULL) {
		char why[160];

		/* An exec timer holds its command as long as its payload,
		 * and any timer its key (sched.c's timer_quota_bytes). */
		if (quota_check(spec->uid, QUOTA_TIMER,
		                spec->payload_len + spec->exec_len +
		                    (spec->key != NULL ? strlen(spec->key) : 0),
		                why, sizeof why) < 0 ||
		    (spec->channel != NULL &&
		     quota_check(spec->uid, QUOTA_MESSAGE, 0, why,
		                 sizeof why) < 0))
			return req_fail(ctx, EVD__ERROR_CODE__RESOURCE_EXHAUSTED,
			                "%s", why);
	}
	if ((r = req_fill_repeat(ctx, spec, opts, calendar, tz)) < 0)
		return r;
	r = sched_add(spec, &t, &existing); /* takes spec->rep */
	if (r == -EOVERFLOW)
		return req_errno(ctx, r, "timer ids exhausted");
	if (r == -ENOBUFS)
		return req_errno(ctx, r,
		                "channel %s has %d messages waiting (its limit); "
		                "subscribe and ack to drain it",
		                channel_display(spec->channel, ctx->uid),
		                CHANNEL_MAX_QUEUED);
	/* The store refused this timer's row; the rest of the batch goes
	 * on. A taken id or key the daemon does not know of is damage:
	 * retrying will not help, so not UNAVAILABLE; nor is it the
	 * caller's (FAILED_PRECONDITION, INVALID_ARGUMENT). */
	if (r == -EEXIST || r == -EINVAL)
		return req_fail(ctx, EVD__ERROR_CODE__INTERNAL,
		                "the store refused this timer (%s); it "
		                "disagrees with evd's memory: see evd's log",
		                batch_row_errmsg());
	if (r == -E2BIG)
		return req_errno(ctx, r, "the store refused this timer: %s",
		                batch_row_errmsg());
	if (r == -ENOMEM)
		return req_errno(ctx, r, "out of memory scheduling a timer");
	if (r < 0) /* -EAGAIN, -EIO: the store */
		return req_errno(ctx, r, NULL);
	/* An existing timer's reply too: the batch that wrote it may
	 * still be lost (its commit runs on the store's thread), and
	 * then this answer must not say it exists. */
	if (sched_timer_durable(t))
		ctx->durable = true;
	req_fill_scheduled(s, t);
	s->has_existing = true;
	s->existing = existing;
	ctx->reply->body_case = EVD__REPLY__BODY_SCHEDULED;
	ctx->reply->scheduled = s;
	return 0;
}
