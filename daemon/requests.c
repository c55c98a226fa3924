/*
 * requests: the table of request types, built from EVD_REQUESTS (see
 * requests.h). Constant after compilation: every loop reads it.
 */
#include "requests.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dispatch.h"

/* First pass: the accessors a row's route reads through. */
#define REQ_ACC_LOCAL(name)
#define REQ_ACC_CHANNEL(name)
#define REQ_ACC_LOOP0(name)
#define REQ_ACC_TIMER_ID(name)                                                 \
	static uint64_t req_timer_id_##name(const Evd__Request *rq)            \
	{                                                                      \
		return rq->name->timer_id;                                     \
	}
#define REQ_ACC_NEW_TIMER(name)                                                \
	static void req_new_timer_##name(const Evd__Request *rq,               \
	                                 struct req_new_timer *ret)            \
	{                                                                      \
		ret->callback = rq->name->callback;                            \
		ret->key = rq->name->key;                                      \
		ret->options = rq->name->options;                              \
	}
#define REQ_ACC_ALL(name)                                                      \
	static const char *req_channel_##name(const Evd__Request *rq)          \
	{                                                                      \
		return rq->name->channel;                                      \
	}

#define X(BODY, name, route, flags) REQ_ACC_##route(name)
EVD_REQUESTS(X)
#undef X

/* Second pass: the rows. */
#define REQ_ROW_LOCAL(name) .route = REQ_ROUTE_LOCAL
#define REQ_ROW_CHANNEL(name) .route = REQ_ROUTE_CHANNEL
#define REQ_ROW_LOOP0(name) .route = REQ_ROUTE_LOOP0, .why = REQ_WHY_##name
#define REQ_ROW_TIMER_ID(name)                                                 \
	.route = REQ_ROUTE_TIMER_ID, .timer_id = req_timer_id_##name
#define REQ_ROW_NEW_TIMER(name)                                                \
	.route = REQ_ROUTE_NEW_TIMER, .new_timer = req_new_timer_##name
#define REQ_ROW_ALL(name)                                                      \
	.route = REQ_ROUTE_ALL, .channel = req_channel_##name,                 \
	.merge = req_##name##_merge

/* Indexed by body case (the .proto's field numbers: small, dense), so
 * a lookup is one load; slots of no body have no run. */
static const struct req_entry req_table[] = {
#define X(BODY, field, route, f)                                               \
	[EVD__REQUEST__BODY_##BODY] = {                                        \
		.body = EVD__REQUEST__BODY_##BODY,                             \
		.name = #field,                                                \
		.run = req_##field,                                            \
		.flags = (f),                                                  \
		REQ_ROW_##route(field),                                        \
	},
	EVD_REQUESTS(X)
#undef X
};

#define REQ_NTABLE (sizeof req_table / sizeof req_table[0])

const struct req_entry *
req_entry_of(int body)
{
	if (body <= 0 || (size_t)body >= REQ_NTABLE ||
	    req_table[body].run == NULL)
		return NULL;
	return &req_table[body];
}

const struct req_entry *
req_entries(size_t *ret_n)
{
	*ret_n = REQ_NTABLE;
	return req_table;
}

/* The Request field of body case id, if it is a body. */
static const ProtobufCFieldDescriptor *
req_body_field(unsigned id)
{
	const ProtobufCFieldDescriptor *f =
		protobuf_c_message_descriptor_get_field(
			&evd__request__descriptor, id);

	if (f == NULL || (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0 ||
	    f->type != PROTOBUF_C_TYPE_MESSAGE)
		return NULL;
	return f;
}

/* Whether a body's message carries a timer_id: an id-addressed request. */
static bool
req_body_has_timer_id(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCFieldDescriptor *id =
		protobuf_c_message_descriptor_get_field_by_name(
			f->descriptor, "timer_id");

	return id != NULL && id->type == PROTOBUF_C_TYPE_UINT64;
}

static int
req_entry_check(const struct req_entry *e, const ProtobufCFieldDescriptor *f,
                char *why, size_t len)
{
	bool ok;

	if (strcmp(e->name, f->name) != 0) {
		snprintf(why, len, "body %u is %s in evd.proto but %s in "
		         "requests.h", f->id, f->name, e->name);
		return -EPROTO;
	}
	switch (e->route) {
	case REQ_ROUTE_LOCAL:
	case REQ_ROUTE_CHANNEL:
		ok = true;
		break;
	case REQ_ROUTE_NEW_TIMER:
		ok = e->new_timer != NULL;
		break;
	case REQ_ROUTE_TIMER_ID:
		ok = e->timer_id != NULL;
		break;
	case REQ_ROUTE_LOOP0:
		ok = e->why != NULL && e->why[0] != '\0';
		break;
	case REQ_ROUTE_ALL:
		ok = e->channel != NULL && e->merge != NULL;
		break;
	default:
		ok = false;
		break;
	}
	if (!ok) {
		snprintf(why, len, "request %s has no complete route", e->name);
		return -EPROTO;
	}
	if (req_body_has_timer_id(f) != (e->route == REQ_ROUTE_TIMER_ID)) {
		snprintf(why, len, "request %s %s a timer_id but is %srouted "
		         "by it", e->name,
		         req_body_has_timer_id(f) ? "carries" : "carries no",
		         e->route == REQ_ROUTE_TIMER_ID ? "" : "not ");
		return -EPROTO;
	}
	return 0;
}

int
req_registry_check(char *why, size_t len)
{
	const ProtobufCMessageDescriptor *d = &evd__request__descriptor;
	const ProtobufCFieldDescriptor *f;
	const struct req_entry *e;
	size_t i;
	int r;

	for (i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) == 0)
			continue;
		if (f->type != PROTOBUF_C_TYPE_MESSAGE) {
			snprintf(why, len, "Request.%s is not a message",
			         f->name);
			return -EPROTO;
		}
		if ((e = req_entry_of((int)f->id)) == NULL) {
			snprintf(why, len, "Request.%s (body %u) has no entry "
			         "in requests.h", f->name, f->id);
			return -EPROTO;
		}
		if ((r = req_entry_check(e, f, why, len)) < 0)
			return r;
	}
	for (i = 0; i < REQ_NTABLE; i++)
		if (req_table[i].run != NULL &&
		    ((size_t)req_table[i].body != i ||
		     req_body_field((unsigned)i) == NULL)) {
			snprintf(why, len, "entry %s is not a body of Request",
			         req_table[i].name);
			return -EPROTO;
		}
	return 0;
}
