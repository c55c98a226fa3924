/*
 * wirestr: the string check of every request (see wirestr.h).
 *
 * The walk mirrors protobuf-c 1.4's scanner (protobuf_c_message_unpack):
 * the same tag parse (at most 5 bytes, a first byte with no field bits
 * refused), varints of at most 10 bytes, length prefixes of at most 5
 * bytes and at most INT_MAX, wire types 0, 1, 2 and 5 only. Where it
 * differs it is more lenient (a known field with the wrong wire type is
 * skipped here; protobuf-c refuses it), so that a malformed verdict here
 * is always one protobuf-c would give.
 */
#include "wirestr.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* evd.proto nests five deep; a descriptor graph with a cycle is the only
 * way past this, and its input is refused rather than followed. */
#define WIRESTR_DEPTH_MAX 32

enum {
	WIRE_VARINT = 0,
	WIRE_64BIT = 1,
	WIRE_LEN = 2,
	WIRE_32BIT = 5,
};

size_t
wirestr_valid_prefix(const void *s, size_t len)
{
	const uint8_t *p = s;
	size_t i = 0, n;
	uint8_t lo, hi;

	while (i < len) {
		uint8_t c = p[i];

		if (c >= 0x01 && c <= 0x7f) {
			i++;
			continue;
		}
		/* The second byte's range is what excludes overlong forms
		 * (E0, F0), surrogates (ED) and code points above U+10FFFF
		 * (F4); C0, C1 and F5..FF never start a sequence. */
		lo = 0x80;
		hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf)
			n = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else
			return i; /* NUL, a continuation byte, C0, C1, F5.. */
		if (len - i <= n || p[i + 1] < lo || p[i + 1] > hi)
			return i;
		if (n >= 2 && (p[i + 2] & 0xc0) != 0x80)
			return i;
		if (n == 3 && (p[i + 3] & 0xc0) != 0x80)
			return i;
		i += n + 1;
	}
	return len;
}

/* A field's tag and wire type, exactly as protobuf-c's
 * parse_tag_and_wiretype reads them. Returns the bytes used, 0 if
 * malformed. */
static size_t
wirestr_tag(const uint8_t *p, size_t len, uint32_t *ret_tag, unsigned *ret_wire)
{
	size_t max = len > 5 ? 5 : len, i;
	uint32_t tag = (uint32_t)(p[0] & 0x7f) >> 3;
	unsigned shift = 4;

	if ((p[0] & 0xf8) == 0)
		return 0;
	*ret_wire = p[0] & 7;
	if ((p[0] & 0x80) == 0) {
		*ret_tag = tag;
		return 1;
	}
	for (i = 1; i < max; i++) {
		if (p[i] & 0x80) {
			tag |= (uint32_t)(p[i] & 0x7f) << shift;
			shift += 7;
		} else {
			tag |= (uint32_t)p[i] << shift;
			*ret_tag = tag;
			return i + 1;
		}
	}
	return 0;
}

/* The bytes of one field's value at p (len left), by wire type; for a
 * length-delimited one, *ret_off is where its payload starts. Returns 0
 * if malformed. */
static size_t
wirestr_value(const uint8_t *p, size_t len, unsigned wire, size_t *ret_off)
{
	size_t i, max, val = 0;
	unsigned shift = 0;

	*ret_off = 0;
	switch (wire) {
	case WIRE_VARINT:
		max = len < 10 ? len : 10;
		for (i = 0; i < max; i++)
			if ((p[i] & 0x80) == 0)
				return i + 1;
		return 0;
	case WIRE_64BIT:
		return len < 8 ? 0 : 8;
	case WIRE_32BIT:
		return len < 4 ? 0 : 4;
	case WIRE_LEN:
		max = len < 5 ? len : 5;
		for (i = 0; i < max; i++) {
			val |= (size_t)(p[i] & 0x7f) << shift;
			shift += 7;
			if ((p[i] & 0x80) == 0)
				break;
		}
		if (i == max || val > INT_MAX || val > len - (i + 1))
			return 0;
		*ret_off = i + 1;
		return i + 1 + val;
	default:
		return 0; /* groups (3, 4) and 6, 7: protobuf-c refuses them */
	}
}

static const ProtobufCFieldDescriptor *
wirestr_field(const ProtobufCMessageDescriptor *d, uint32_t tag)
{
	unsigned i;

	for (i = 0; i < d->n_fields; i++)
		if (d->fields[i].id == tag)
			return &d->fields[i];
	return NULL;
}

/* How many times tag occurs in the message at p before offset end: the
 * index of a repeated field's element (only run for the error). */
static size_t
wirestr_index(const uint8_t *p, size_t end, uint32_t want)
{
	size_t off = 0, used, vlen, voff, n = 0;
	uint32_t tag;
	unsigned wire;

	while (off < end) {
		used = wirestr_tag(p + off, end - off, &tag, &wire);
		off += used;
		vlen = wirestr_value(p + off, end - off, wire, &voff);
		off += vlen;
		if (used == 0 || vlen == 0)
			break; /* cannot happen: this prefix was walked */
		n += tag == want;
	}
	return n;
}

/* Prepends "name." or "name[i]." (no dot before a leaf: the inner path
 * is empty) to the path the inner walk wrote; a path too long for the
 * buffer keeps its outer part. */
static void
wirestr_prefix(struct wirestr_bad *bad, const ProtobufCFieldDescriptor *f,
	       size_t index)
{
	char head[WIRESTR_FIELD_MAX];
	size_t hlen, ilen = strlen(bad->field);
	int n;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		n = snprintf(head, sizeof head, "%s[%zu]%s", f->name, index,
			     ilen > 0 ? "." : "");
	else
		n = snprintf(head, sizeof head, "%s%s", f->name,
			     ilen > 0 ? "." : "");
	if (n < 0)
		hlen = 0;
	else if ((size_t)n >= sizeof head)
		hlen = sizeof head - 1;
	else
		hlen = (size_t)n;
	if (hlen + ilen >= sizeof bad->field)
		ilen = sizeof bad->field - 1 - hlen;
	memmove(bad->field + hlen, bad->field, ilen);
	memcpy(bad->field, head, hlen);
	bad->field[hlen + ilen] = '\0';
}

static int
wirestr_walk(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t len,
	     unsigned depth, struct wirestr_bad *bad)
{
	const ProtobufCFieldDescriptor *f;
	size_t off = 0, used, vlen, voff;
	uint32_t tag;
	unsigned wire;
	int r;

	if (depth > WIRESTR_DEPTH_MAX)
		return -EBADMSG;
	while (off < len) {
		size_t at = off;

		if ((used = wirestr_tag(p + off, len - off, &tag, &wire)) == 0)
			return -EBADMSG;
		off += used;
		if ((vlen = wirestr_value(p + off, len - off, wire, &voff)) ==
		    0)
			return -EBADMSG;
		f = wire == WIRE_LEN ? wirestr_field(d, tag) : NULL;
		if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING) {
			const uint8_t *s = p + off + voff;
			size_t slen = vlen - voff, ok;

			if ((ok = wirestr_valid_prefix(s, slen)) < slen) {
				bad->why = s[ok] == 0 ? "contains a NUL byte"
						      : "is not valid UTF-8";
				bad->field[0] = '\0';
				wirestr_prefix(bad, f,
					       wirestr_index(p, at, tag));
				return -EILSEQ;
			}
		} else if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
			r = wirestr_walk(f->descriptor, p + off + voff,
					 vlen - voff, depth + 1, bad);
			if (r == -EILSEQ)
				wirestr_prefix(bad, f,
					       wirestr_index(p, at, tag));
			if (r < 0)
				return r;
		}
		off += vlen;
	}
	return 0;
}

int
wirestr_check(const ProtobufCMessageDescriptor *d, const void *data, size_t len,
	      struct wirestr_bad *ret_bad)
{
	struct wirestr_bad bad;
	int r;

	if (len == 0)
		return 0;
	if ((r = wirestr_walk(d, data, len, 0, &bad)) == -EILSEQ)
		*ret_bad = bad;
	return r;
}
