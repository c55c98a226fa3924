/*
 * wire: hand-written encoders of hot replies (see wire.h).
 *
 * proto2 rules as protobuf-c applies them: a scalar field is written when
 * its has_ flag is set, a string or sub-message when its pointer is not
 * NULL; fields in field-number order; int64 and enum values as varints of
 * their 64-bit two's complement (10 bytes when negative); bool as 0 or 1.
 */
#include "wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum { WT_VARINT = 0, WT_LEN = 2 };

/* Bytes of v as a varint: 7 bits a byte (times are 9-byte varints, so
 * no loop here). */
static size_t
vsize(uint64_t v)
{
	unsigned bits = 64 - (unsigned)__builtin_clzll(v | 1);

	return (bits + 6) / 7;
}

static uint8_t *
vput(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static size_t
tsize(unsigned field)
{
	return vsize((uint64_t)field << 3);
}

static uint8_t *
tput(uint8_t *p, unsigned field, unsigned wt)
{
	return vput(p, (uint64_t)field << 3 | wt);
}

/* A varint field: tag and value. */
static size_t
fv_size(bool has, unsigned field, uint64_t v)
{
	return has ? tsize(field) + vsize(v) : 0;
}

static uint8_t *
fv_put(uint8_t *p, bool has, unsigned field, uint64_t v)
{
	if (!has)
		return p;
	return vput(tput(p, field, WT_VARINT), v);
}

/* A length-delimited field: tag, length, bytes. */
static size_t
fl_size(unsigned field, size_t len)
{
	return tsize(field) + vsize(len) + len;
}

static uint8_t *
fl_put(uint8_t *p, unsigned field, const void *data, size_t len)
{
	p = vput(tput(p, field, WT_LEN), len);
	if (len > 0)
		memcpy(p, data, len);
	return p + len;
}

/* Enums are int32 on the wire: a negative one sign-extends to 64 bits. */
static uint64_t
enum_bits(int v)
{
	return (uint64_t)(int64_t)v;
}

static size_t
scheduled_size(const Evd__Scheduled *s)
{
	return fv_size(s->has_timer_id, 1, s->timer_id) +
	       fv_size(s->has_clock, 2, enum_bits(s->clock)) +
	       fv_size(s->has_deadline_ns, 3, (uint64_t)s->deadline_ns) +
	       fv_size(s->has_due_realtime_ns, 4,
	               (uint64_t)s->due_realtime_ns) +
	       fv_size(s->has_existing, 5, s->existing ? 1 : 0);
}

static uint8_t *
scheduled_put(uint8_t *p, const Evd__Scheduled *s)
{
	p = fv_put(p, s->has_timer_id, 1, s->timer_id);
	p = fv_put(p, s->has_clock, 2, enum_bits(s->clock));
	p = fv_put(p, s->has_deadline_ns, 3, (uint64_t)s->deadline_ns);
	p = fv_put(p, s->has_due_realtime_ns, 4, (uint64_t)s->due_realtime_ns);
	return fv_put(p, s->has_existing, 5, s->existing ? 1 : 0);
}

static size_t
cancelled_size(const Evd__Cancelled *c)
{
	return fv_size(c->has_timer_id, 1, c->timer_id);
}

static uint8_t *
cancelled_put(uint8_t *p, const Evd__Cancelled *c)
{
	return fv_put(p, c->has_timer_id, 1, c->timer_id);
}

static size_t
fired_size(const Evd__Fired *f)
{
	return fv_size(f->has_timer_id, 1, f->timer_id) +
	       fv_size(f->has_fire_id, 2, f->fire_id) +
	       (f->channel != NULL ? fl_size(3, strlen(f->channel)) : 0) +
	       (f->has_payload ? fl_size(4, f->payload.len) : 0) +
	       fv_size(f->has_due_realtime_ns, 5,
	               (uint64_t)f->due_realtime_ns) +
	       fv_size(f->has_fired_realtime_ns, 6,
	               (uint64_t)f->fired_realtime_ns) +
	       fv_size(f->has_lateness_ns, 7, (uint64_t)f->lateness_ns) +
	       fv_size(f->has_attempt, 8, f->attempt) +
	       (f->reason != NULL ? fl_size(9, strlen(f->reason)) : 0);
}

static uint8_t *
fired_put(uint8_t *p, const Evd__Fired *f)
{
	p = fv_put(p, f->has_timer_id, 1, f->timer_id);
	p = fv_put(p, f->has_fire_id, 2, f->fire_id);
	if (f->channel != NULL)
		p = fl_put(p, 3, f->channel, strlen(f->channel));
	if (f->has_payload)
		p = fl_put(p, 4, f->payload.data, f->payload.len);
	p = fv_put(p, f->has_due_realtime_ns, 5, (uint64_t)f->due_realtime_ns);
	p = fv_put(p, f->has_fired_realtime_ns, 6,
	           (uint64_t)f->fired_realtime_ns);
	p = fv_put(p, f->has_lateness_ns, 7, (uint64_t)f->lateness_ns);
	p = fv_put(p, f->has_attempt, 8, f->attempt);
	if (f->reason != NULL)
		p = fl_put(p, 9, f->reason, strlen(f->reason));
	return p;
}

/*
 * How many fields each encoder above writes. A message of evd.proto that
 * has grown a field since is left to protobuf-c, which writes them all:
 * the fast path may be lost, never a field (Fired.reason once was), and
 * test_wire fails until the encoder learns it.
 */
#define SCHEDULED_FIELDS 5
#define CANCELLED_FIELDS 1
#define FIRED_FIELDS 9

/* The body's packed size, or 0 with *ok false for a body left to
 * protobuf-c: another kind, a NULL one (protobuf-c leaves it out), one
 * carrying unknown fields, or one with fields this file does not know. */
static size_t
body_size(const Evd__Reply *r, bool *ok)
{
	*ok = false;
	switch (r->body_case) {
	case EVD__REPLY__BODY_SCHEDULED:
		if (r->scheduled == NULL ||
		    r->scheduled->base.n_unknown_fields != 0 ||
		    evd__scheduled__descriptor.n_fields != SCHEDULED_FIELDS)
			return 0;
		*ok = true;
		return scheduled_size(r->scheduled);
	case EVD__REPLY__BODY_CANCELLED:
		if (r->cancelled == NULL ||
		    r->cancelled->base.n_unknown_fields != 0 ||
		    evd__cancelled__descriptor.n_fields != CANCELLED_FIELDS)
			return 0;
		*ok = true;
		return cancelled_size(r->cancelled);
	case EVD__REPLY__BODY_FIRED:
		if (r->fired == NULL || r->fired->base.n_unknown_fields != 0 ||
		    evd__fired__descriptor.n_fields != FIRED_FIELDS)
			return 0;
		*ok = true;
		return fired_size(r->fired);
	default:
		return 0;
	}
}

size_t
wire_reply_size(const Evd__Reply *r)
{
	size_t body;
	bool ok;

	if (r->base.n_unknown_fields != 0)
		return 0;
	body = body_size(r, &ok);
	if (!ok)
		return 0;
	return fv_size(r->has_request_id, 1, r->request_id) +
	       fl_size((unsigned)r->body_case, body);
}

void
wire_reply_pack(const Evd__Reply *r, uint8_t *out)
{
	size_t body;
	bool ok;
	uint8_t *p;

	body = body_size(r, &ok);
	p = fv_put(out, r->has_request_id, 1, r->request_id);
	p = vput(tput(p, (unsigned)r->body_case, WT_LEN), body);
	switch (r->body_case) {
	case EVD__REPLY__BODY_SCHEDULED:
		(void)scheduled_put(p, r->scheduled);
		break;
	case EVD__REPLY__BODY_CANCELLED:
		(void)cancelled_put(p, r->cancelled);
		break;
	default:
		(void)fired_put(p, r->fired);
		break;
	}
}

/* ---- requests ---- */

struct rd {
	const uint8_t *p, *end;
};

/* A varint of at most max bytes, as protobuf-c reads it (bits past 64
 * dropped): 10 for a value, 5 for a tag or a length prefix. */
static bool
rd_varint_max(struct rd *r, unsigned max, uint64_t *ret)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < max && r->p < r->end; i++) {
		uint8_t b = *r->p++;

		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80)) {
			*ret = v;
			return true;
		}
	}
	return false;
}

static bool
rd_varint(struct rd *r, uint64_t *ret)
{
	return rd_varint_max(r, 10, ret);
}

/* protobuf-c refuses a tag or a length longer than 5 bytes. */
static bool
rd_prefix(struct rd *r, uint64_t *ret)
{
	return rd_varint_max(r, 5, ret);
}

/* The scalar fields of a body: field number -> where its has_ flag and
 * value live, and how wide the value is. */
enum fkind { F_U64, F_ENUM };

struct ffield {
	unsigned number;
	enum fkind kind;
	size_t has_off, val_off;
};

#define FF(T, num, kind, name)                                                 	{ num, kind, offsetof(T, has_##name), offsetof(T, name) }

static const struct ffield call_later_fields[] = {
	FF(Evd__CallLater, 1, F_U64, delay_ns),
	FF(Evd__CallLater, 2, F_ENUM, clock),
};
static const struct ffield call_at_fields[] = {
	FF(Evd__CallAt, 1, F_U64, when_ns),
	FF(Evd__CallAt, 2, F_ENUM, clock),
};
static const struct ffield cancel_fields[] = {
	FF(Evd__Cancel, 1, F_U64, timer_id),
};

/* Fills body (already initialised) from a sub-message of only the given
 * varint fields, each at most once. */
static bool
rd_body(struct rd r, void *body, const struct ffield *f, size_t nf)
{
	unsigned seen = 0;

	while (r.p < r.end) {
		uint64_t tag, v;
		size_t i;

		if (!rd_prefix(&r, &tag) || (tag & 7) != WT_VARINT)
			return false;
		for (i = 0; i < nf && f[i].number != tag >> 3; i++)
			;
		if (i == nf || (seen & 1u << i) || !rd_varint(&r, &v))
			return false;
		seen |= 1u << i;
		*(protobuf_c_boolean *)((uint8_t *)body + f[i].has_off) = 1;
		if (f[i].kind == F_U64)
			*(uint64_t *)((uint8_t *)body + f[i].val_off) = v;
		else /* an enum is an int32: its low 32 bits */
			*(int32_t *)((uint8_t *)body + f[i].val_off) =
			        (int32_t)(uint32_t)v;
	}
	return true;
}

static void *
wire_malloc(void *unused, size_t size)
{
	(void)unused;
	return malloc(size);
}

static void
wire_free(void *unused, void *p)
{
	(void)unused;
	free(p);
}

/* What protobuf-c uses when it is given no allocator. */
static ProtobufCAllocator wire_system_allocator = {
	.alloc = wire_malloc,
	.free = wire_free,
};

Evd__Request *
wire_request_unpack(ProtobufCAllocator *a, size_t len, const uint8_t *data)
{
	struct rd r = { data, data + len }, sub = { NULL, NULL };
	Evd__Request *rq;
	uint64_t tag, v;
	unsigned body = 0;
	bool have_id = false;
	uint64_t id = 0;
	void *msg = NULL;

	if (a == NULL)
		a = &wire_system_allocator;

	while (r.p < r.end) {
		if (!rd_prefix(&r, &tag))
			return NULL;
		if (tag == (1 << 3 | WT_VARINT) && !have_id) {
			if (!rd_varint(&r, &id))
				return NULL;
			have_id = true;
		} else if ((tag & 7) == WT_LEN && body == 0 &&
		           (tag >> 3 == EVD__REQUEST__BODY_CALL_LATER ||
		            tag >> 3 == EVD__REQUEST__BODY_CALL_AT ||
		            tag >> 3 == EVD__REQUEST__BODY_CANCEL)) {
			if (!rd_prefix(&r, &v) || v > (uint64_t)(r.end - r.p))
				return NULL;
			body = (unsigned)(tag >> 3);
			sub.p = r.p;
			sub.end = r.p + v;
			r.p += v;
		} else {
			return NULL;
		}
	}
	if (body == 0)
		return NULL;
	if ((rq = a->alloc(a->allocator_data, sizeof *rq)) == NULL)
		return NULL;
	evd__request__init(rq);
	rq->has_request_id = have_id;
	rq->request_id = id;
	switch (body) {
	case EVD__REQUEST__BODY_CALL_LATER:
		if ((msg = a->alloc(a->allocator_data,
		                    sizeof(Evd__CallLater))) == NULL)
			goto fail;
		evd__call_later__init(msg);
		rq->call_later = msg;
		if (!rd_body(sub, msg, call_later_fields, 2))
			goto fail;
		break;
	case EVD__REQUEST__BODY_CALL_AT:
		if ((msg = a->alloc(a->allocator_data, sizeof(Evd__CallAt))) ==
		    NULL)
			goto fail;
		evd__call_at__init(msg);
		rq->call_at = msg;
		if (!rd_body(sub, msg, call_at_fields, 2))
			goto fail;
		break;
	default:
		if ((msg = a->alloc(a->allocator_data, sizeof(Evd__Cancel))) ==
		    NULL)
			goto fail;
		evd__cancel__init(msg);
		rq->cancel = msg;
		if (!rd_body(sub, msg, cancel_fields, 1))
			goto fail;
		break;
	}
	rq->body_case = (Evd__Request__BodyCase)body;
	return rq;
fail:
	/* body_case is still unset: only what was allocated is freed. */
	if (msg != NULL)
		a->free(a->allocator_data, msg);
	a->free(a->allocator_data, rq);
	return NULL;
}
