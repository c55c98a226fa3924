/*
 * req_common: what the three scheduling requests (call_soon, call_later,
 * call_at) share: checking the callback and key, and the Scheduled reply.
 */
#include <errno.h>
#include <string.h>

#include "channel.h"
#include "clock.h"
#include "dispatch.h"
#include "sched.h"

int
req_fill_target(struct req_ctx *ctx, const Evd__Callback *cb, const char *key,
                struct sched_spec *spec)
{
	memset(spec, 0, sizeof *spec);
	spec->uid = ctx->uid;
	spec->gid = ctx->gid;
	spec->conn_id = ctx->conn_id;
	if (cb != NULL) {
		if (cb->target_case == EVD__CALLBACK__TARGET_CHANNEL) {
			if (!channel_name_valid(cb->channel))
				return req_fail(ctx,
				        EVD__ERROR_CODE__INVALID_ARGUMENT,
				        "channel name must be 1..%d printable "
				        "bytes without spaces",
				        CHANNEL_NAME_MAX);
			spec->channel = cb->channel;
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

int
req_schedule(struct req_ctx *ctx, struct sched_spec *spec)
{
	Evd__Scheduled *s;
	struct timer *t;
	bool existing;
	int r;

	if ((s = req_alloc(ctx, sizeof *s)) == NULL)
		return -ENOMEM;
	r = sched_add(spec, &t, &existing);
	if (r == -EOVERFLOW)
		return req_fail(ctx, EVD__ERROR_CODE__RESOURCE_EXHAUSTED,
		                "timer ids exhausted");
	if (r < 0)
		return req_fail(ctx, EVD__ERROR_CODE__RESOURCE_EXHAUSTED,
		                "out of memory scheduling a timer");
	evd__scheduled__init(s);
	s->has_timer_id = s->has_clock = s->has_deadline_ns = true;
	s->timer_id = sched_timer_id(t);
	s->clock = sched_timer_clock(t);
	s->deadline_ns = sched_timer_deadline(t);
	s->has_due_realtime_ns = true;
	s->due_realtime_ns = clock_to_realtime_ns(s->clock, s->deadline_ns);
	s->has_existing = true;
	s->existing = existing;
	ctx->reply->body_case = EVD__REPLY__BODY_SCHEDULED;
	ctx->reply->scheduled = s;
	return 0;
}
