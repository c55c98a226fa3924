/*
 * test_registry: the request registry (daemon/requests.h) and the wire
 * protocol agree: every body of Request has a registry entry with the
 * same field name, a handler and a complete route; every registry entry
 * is a body of Request; and every id-addressed body (one carrying a
 * timer_id) is routed by that id to the loop that owns it. A request
 * type added to the .proto without a row fails here (and a row without
 * a handler fails to link).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dispatch.h"
#include "evd.pb-c.h"
#include "requests.h"
#include "route.h"
#include "shard.h"

struct entry {
	int body_case;
	const char *name;
};

static const struct entry registry[] = {
#define X(BODY, name, route, flags) { EVD__REQUEST__BODY_##BODY, #name },
	EVD_REQUESTS(X)
#undef X
};
#define NREG (sizeof registry / sizeof registry[0])

/* The fields of Request that belong to the `body` oneof. */
static int
is_body_field(const ProtobufCFieldDescriptor *f)
{
	return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}

static void
test_every_body_is_registered(void **state)
{
	const ProtobufCMessageDescriptor *d = &evd__request__descriptor;
	unsigned i;
	size_t j;

	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		int found = 0;

		if (!is_body_field(f))
			continue;
		for (j = 0; j < NREG; j++)
			if (registry[j].body_case == (int)f->id &&
			    strcmp(registry[j].name, f->name) == 0)
				found = 1;
		if (!found)
			fail_msg("Request.%s (field %u) has no registry entry "
			         "in daemon/requests.h",
			         f->name, f->id);
	}
}

static void
test_every_entry_is_a_body(void **state)
{
	const ProtobufCMessageDescriptor *d = &evd__request__descriptor;
	size_t j;

	for (j = 0; j < NREG; j++) {
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field_by_name(
				d, registry[j].name);

		if (f == NULL || !is_body_field(f) ||
		    (int)f->id != registry[j].body_case)
			fail_msg("registry entry %s is not a body of Request",
			         registry[j].name);
	}
}

/* Every body's entry has a handler and everything its route reads. */
static void
test_every_body_has_handler_and_route(void **state)
{
	const ProtobufCMessageDescriptor *d = &evd__request__descriptor;
	char why[256];
	unsigned i;

	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const struct req_entry *e;

		if (!is_body_field(f))
			continue;
		if ((e = req_entry_of((int)f->id)) == NULL)
			fail_msg("Request.%s has no entry", f->name);
		if (e->run == NULL || strcmp(e->name, f->name) != 0 ||
		    e->body != (int)f->id)
			fail_msg("Request.%s's entry is not its own", f->name);
	}
	/* A complete route for each entry's kind: the rule the daemon
	 * checks at start-up, not restated here. */
	if (req_registry_check(why, sizeof why) < 0)
		fail_msg("%s", why);
}

/* Whether a body carries a timer_id, and where: an id-addressed request. */
static const ProtobufCFieldDescriptor *
timer_id_field(const ProtobufCFieldDescriptor *f)
{
	const ProtobufCFieldDescriptor *id =
		protobuf_c_message_descriptor_get_field_by_name(
			f->descriptor, "timer_id");

	return id != NULL && id->type == PROTOBUF_C_TYPE_UINT64 ? id : NULL;
}

/*
 * Every id-addressed body routes by its id: built from the descriptor
 * alone (the body set to an empty message with only timer_id), so a new
 * one is checked without being named here.
 */
static void
test_ids_route_by_id(void **state)
{
	const ProtobufCMessageDescriptor *d = &evd__request__descriptor;
	static const unsigned ns[] = { 2, 4 };
	unsigned i, j, k, nid = 0;

	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i], *id;
		const ProtobufCMessageDescriptor *md;
		Evd__Request rq = EVD__REQUEST__INIT;
		void *body;

		if (!is_body_field(f) || (id = timer_id_field(f)) == NULL)
			continue;
		nid++;
		assert_non_null(req_entry_of((int)f->id));
		assert_int_equal(req_entry_of((int)f->id)->route,
		                 REQ_ROUTE_TIMER_ID);
		md = f->descriptor;
		body = calloc(1, md->sizeof_message);
		assert_non_null(body);
		md->message_init(body);
		*(protobuf_c_boolean *)((char *)body + id->quantifier_offset) =
			1;
		rq.body_case = (Evd__Request__BodyCase)f->id;
		*(void **)((char *)&rq + f->offset) = body;
		for (j = 0; j < sizeof ns / sizeof ns[0]; j++)
			for (k = 0; k < ns[j]; k++) {
				*(uint64_t *)((char *)body + id->offset) =
					((uint64_t)k << SHARD_ID_BITS) + 7;
				if (route_request(&rq, ns[j] - 1 - k, ns[j]) !=
				    (int)k)
					fail_msg("Request.%s with an id of "
					         "loop %u of %u goes elsewhere",
					         f->name, k, ns[j]);
			}
		free(body);
	}
	/* Cancel, Get, Wait, Pause, Resume, Trigger, Retry at least. */
	assert_true(nid >= 7);
}

/* The check evd runs at start-up agrees. */
static void
test_startup_check(void **state)
{
	char why[256] = "";

	if (req_registry_check(why, sizeof why) < 0)
		fail_msg("req_registry_check: %s", why);
}

/* Only Hello may come first. */
static void
test_greeting_flag(void **state)
{
	const ProtobufCMessageDescriptor *d = &evd__request__descriptor;
	unsigned i;

	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (!is_body_field(f))
			continue;
		assert_non_null(req_entry_of((int)f->id));
		assert_int_equal(
			(req_entry_of((int)f->id)->flags & REQ_F_GREETING) != 0,
			f->id == EVD__REQUEST__BODY_HELLO);
	}
	assert_null(req_entry_of(EVD__REQUEST__BODY__NOT_SET));
	assert_null(req_entry_of(-1));
	assert_null(req_entry_of(100000));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_body_is_registered),
		cmocka_unit_test(test_every_entry_is_a_body),
		cmocka_unit_test(test_every_body_has_handler_and_route),
		cmocka_unit_test(test_ids_route_by_id),
		cmocka_unit_test(test_startup_check),
		cmocka_unit_test(test_greeting_flag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
