/*
 * test_registry: the request registry (daemon/requests.h) and the wire
 * protocol agree: every body of Request has a registry entry with the
 * same field name, and every registry entry is a body of Request. A
 * request type added to the .proto without a handler fails here (and a
 * registry entry without a handler fails to link).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "dispatch.h"
#include "evd.pb-c.h"
#include "requests.h"

struct entry {
	int body_case;
	const char *name;
};

static const struct entry registry[] = {
#define X(BODY, name) { EVD__REQUEST__BODY_##BODY, #name },
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_body_is_registered),
		cmocka_unit_test(test_every_entry_is_a_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
