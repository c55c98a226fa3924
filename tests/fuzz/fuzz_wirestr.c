/*
 * fuzz_wirestr: proto/wirestr.c's walk over arbitrary bytes, taken as a
 * Request body (what the daemon's dispatch checks) and as a Reply body.
 *
 * Checked beyond the sanitizers (ASan sees any read past the input, a
 * heap block of exactly its size):
 * - a malformed verdict is one protobuf-c gives too (the walk is never
 *   stricter than the unpacker, or the daemon would close connections
 *   protobuf-c would serve);
 * - when the walk passes a Request and protobuf-c unpacks it, every
 *   string in the unpacked message is valid UTF-8, by a decoder written
 *   differently (code points computed, then range-checked);
 * - what wire.c's fast decoder accepts has no string to check;
 * - a refusal names a field and a reason;
 * - the input taken as one string: wirestr_valid_prefix agrees with the
 *   reference decoder.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evd.pb-c.h"
#include "wire.h"
#include "wirestr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_wirestr: %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* UTF-8 the other way round: decode each sequence to its code point by
 * its lead byte's length, then refuse overlong, surrogate and too-large
 * values. */
static bool
ref_utf8(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;

	while (*p != 0) {
		uint32_t cp, min;
		int n, i;

		if (*p < 0x80) {
			p++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0)
			n = 1, cp = *p & 0x1f, min = 0x80;
		else if ((*p & 0xf0) == 0xe0)
			n = 2, cp = *p & 0x0f, min = 0x800;
		else if ((*p & 0xf8) == 0xf0)
			n = 3, cp = *p & 0x07, min = 0x10000;
		else
			return false;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false; /* also stops at the NUL */
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

/* Every string field of an unpacked message, by its descriptor. */
static void
check_unpacked(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	unsigned i;

	for (i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *base = (const char *)m + f->offset;
		size_t n = 1, k;
		void *const *elems;

		if (f->type != PROTOBUF_C_TYPE_STRING &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			uint32_t which =
			    *(const uint32_t *)((const char *)m +
						f->quantifier_offset);

			if (which != f->id)
				continue;
		}
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)((const char *)m +
					      f->quantifier_offset);
			elems = *(void *const *const *)base;
		} else
			elems = (void *const *)base;
		for (k = 0; k < n; k++) {
			if (elems[k] == NULL)
				continue;
			if (f->type == PROTOBUF_C_TYPE_STRING)
				FUZZ_CHECK(ref_utf8(elems[k]));
			else
				check_unpacked(elems[k]);
		}
	}
}

/* wirestr_valid_prefix on the raw bytes against the reference: the whole
 * input is valid exactly when the reference says so (and it has no NUL),
 * and the prefix it keeps always is. */
static void
check_bytes(const uint8_t *data, size_t size)
{
	size_t keep = wirestr_valid_prefix(data, size);
	char *s = malloc(size + 1);

	FUZZ_CHECK(s != NULL && keep <= size);
	memcpy(s, data, size);
	s[size] = '\0';
	FUZZ_CHECK((keep == size) ==
		   (memchr(data, 0, size) == NULL && ref_utf8(s)));
	s[keep] = '\0';
	FUZZ_CHECK(ref_utf8(s));
	free(s);
}

static void
check(const ProtobufCMessageDescriptor *d, const uint8_t *data, size_t size)
{
	struct wirestr_bad bad;
	ProtobufCMessage *m;
	int r;

	memset(&bad, 0, sizeof bad);
	r = wirestr_check(d, data, size, &bad);
	FUZZ_CHECK(r == 0 || r == -EILSEQ || r == -EBADMSG);
	m = protobuf_c_message_unpack(d, NULL, size, data);
	if (r == -EBADMSG)
		FUZZ_CHECK(m == NULL);
	if (r == -EILSEQ)
		FUZZ_CHECK(bad.field[0] != '\0' && bad.why != NULL);
	if (r == 0 && m != NULL)
		check_unpacked(m);
	if (m != NULL)
		protobuf_c_message_free_unpacked(m, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wirestr_bad bad;
	Evd__Request *fast;

	check(&evd__request__descriptor, data, size);
	check(&evd__reply__descriptor, data, size);
	if ((fast = wire_request_unpack(NULL, size, data)) != NULL) {
		FUZZ_CHECK(wirestr_check(&evd__request__descriptor, data, size,
					 &bad) == 0);
		evd__request__free_unpacked(fast, NULL);
	}
	check_bytes(data, size); /* the bytes as one string */
	return 0;
}
