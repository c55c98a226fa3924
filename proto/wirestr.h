/*
 * wirestr: checks the string fields of a protobuf message as it is on the
 * wire, before anything unpacks it.
 *
 * protobuf-c unpacks a string into a NUL-terminated char * and checks
 * nothing else, so "job\0A" reads as "job" and bytes that are not UTF-8
 * pass through, to be echoed back in replies that strict decoders (the
 * Python protobuf runtime, for one) refuse. Every string field evd
 * receives goes through one check here instead: no NUL byte, and UTF-8
 * as RFC 3629 defines it (no overlong forms, no surrogates, nothing
 * above U+10FFFF). The message descriptors say which fields are strings
 * and which are messages to walk into; unknown fields are skipped; bytes
 * fields are not strings.
 *
 * Pure: no allocation, no I/O. The input is hostile: every length is
 * checked against the bytes that remain, and the walk never reads past
 * len. What this module calls malformed, protobuf-c refuses to unpack too
 * (fuzz_wirestr checks it), so it is never stricter than the unpacker.
 */
#ifndef EVD_WIRESTR_H
#define EVD_WIRESTR_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#define WIRESTR_FIELD_MAX 128

/* Owner: the caller (usually on its stack). */
struct wirestr_bad {
	/* The field's path from the message walked, with the index of a
	 * repeated one: "call_soon.callback.exec.argv[2]". */
	char field[WIRESTR_FIELD_MAX];
	/* "contains a NUL byte" or "is not valid UTF-8" (static). */
	const char *why;
};

/*
 * Walks the message of type d in data (len bytes; data may be NULL when
 * len is 0). Returns 0 when every string field in it is valid; -EILSEQ
 * for the first one that is not, described in *ret_bad (untouched
 * otherwise); -EBADMSG when data is not a well-formed message.
 */
int wirestr_check(const ProtobufCMessageDescriptor *d, const void *data,
		  size_t len, struct wirestr_bad *ret_bad);

/* How many bytes at the start of s (len bytes) are valid UTF-8 without a
 * NUL: len when all are. */
size_t wirestr_valid_prefix(const void *s, size_t len);

#endif
