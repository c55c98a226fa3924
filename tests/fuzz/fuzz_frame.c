/*
 * fuzz_frame: proto/frame.c's frame_decode over arbitrary bytes.
 *
 * The input is a byte stream as conn.c sees it; it is walked frame by
 * frame, as conn_process does, under several maximum body sizes. Checked
 * on every step: a whole frame is header + body with the body inside the
 * input and its length in [1, max]; a short read asks for more bytes and
 * leaves the out-parameters alone; a bad length is reported as soon as
 * the header is there, whatever follows; frame_put_header writes back the
 * header that was decoded. ASan checks that nothing past the input is
 * read (the input is a heap block of exactly its size).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_frame: %s:%d: %s\n", __FILE__,   \
			        __LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

static const size_t fuzz_max_bodies[] = {
	1, 2, 7, 64, 4096, FRAME_DEFAULT_MAX, UINT32_MAX - 1, UINT32_MAX,
	SIZE_MAX,
};

static uint32_t
fuzz_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* One step at data[off..size) under max; returns the frame size or 0 to
 * stop the walk. */
static size_t
fuzz_step(const uint8_t *data, size_t size, size_t off, size_t max)
{
	static const uint8_t sentinel;
	const uint8_t *body = &sentinel;
	size_t left = size - off, blen = 7;
	uint8_t hdr[FRAME_HEADER_LEN];
	uint32_t n;
	long r;

	r = frame_decode(data + off, left, max, &body, &blen);
	if (left < FRAME_HEADER_LEN) {
		FUZZ_CHECK(r == 0);
		FUZZ_CHECK(body == &sentinel && blen == 7);
		return 0;
	}
	n = fuzz_be32(data + off);
	if (n == 0) {
		FUZZ_CHECK(r == -EPROTO);
		return 0;
	}
	if (n > max) {
		FUZZ_CHECK(r == -EMSGSIZE);
		return 0;
	}
	if (left - FRAME_HEADER_LEN < n) {
		FUZZ_CHECK(r == 0);
		FUZZ_CHECK(body == &sentinel && blen == 7);
		return 0;
	}
	FUZZ_CHECK(r > 0);
	FUZZ_CHECK((size_t)r == (size_t)n + FRAME_HEADER_LEN);
	FUZZ_CHECK((size_t)r <= left);
	FUZZ_CHECK(body == data + off + FRAME_HEADER_LEN);
	FUZZ_CHECK(blen == n && blen >= 1 && blen <= max);
	/* Every shorter prefix of a whole frame asks for more. */
	FUZZ_CHECK(frame_decode(data + off, (size_t)r - 1, max, &body,
	                        &blen) == 0);
	FUZZ_CHECK(frame_put_header(hdr, blen) == 0);
	FUZZ_CHECK(memcmp(hdr, data + off, sizeof hdr) == 0);
	return (size_t)r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[FRAME_HEADER_LEN];
	size_t i, off, step;

	for (i = 0; i < sizeof fuzz_max_bodies / sizeof fuzz_max_bodies[0];
	     i++) {
		for (off = 0; off < size; off += step) {
			step = fuzz_step(data, size, off, fuzz_max_bodies[i]);
			if (step == 0)
				break;
			FUZZ_CHECK(step > 0 && off + step <= size);
		}
	}
	/* The encoder's own limits. */
	FUZZ_CHECK(frame_put_header(hdr, 0) == -EMSGSIZE);
	if (SIZE_MAX > UINT32_MAX)
		FUZZ_CHECK(frame_put_header(hdr, (size_t)UINT32_MAX + 1) ==
		           -EMSGSIZE);
	return 0;
}
