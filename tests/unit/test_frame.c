/*
 * Unit tests of the frame length-prefix rules (proto/frame.c).
 *
 * What matters to the daemon: a frame is only reported once every byte
 * of it is present, however the reads split it; a bad length is
 * reported from the 4 header bytes alone, so that a hostile peer cannot
 * make us buffer the body; the out-parameters are left alone unless a
 * whole frame is returned.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"

/* Poison for out-parameters that must stay untouched. */
static const uint8_t poison_byte;
#define POISON_PTR (&poison_byte)
#define POISON_LEN ((size_t)0xdeadbeef)

/* Writes a frame of body_len bytes (body[i] = seed + i) at out. */
static size_t
put_frame(uint8_t *out, size_t body_len, uint8_t seed)
{
	size_t i;

	assert_int_equal(frame_put_header(out, body_len), 0);
	for (i = 0; i < body_len; i++)
		out[FRAME_HEADER_LEN + i] = (uint8_t)(seed + i);
	return FRAME_HEADER_LEN + body_len;
}

static void
check_body(const uint8_t *body, size_t body_len, size_t want_len, uint8_t seed)
{
	size_t i;

	assert_int_equal(body_len, want_len);
	for (i = 0; i < body_len; i++)
		assert_int_equal(body[i], (uint8_t)(seed + i));
}

static void
test_split_reads(void **state)
{
	uint8_t buf[FRAME_HEADER_LEN + 300];
	const uint8_t *body;
	size_t body_len, total, len;
	long r;

	(void)state;
	total = put_frame(buf, 300, 7);
	/* As if each read() brought one more byte. */
	for (len = 0; len < total; len++) {
		body = POISON_PTR;
		body_len = POISON_LEN;
		r = frame_decode(buf, len, FRAME_DEFAULT_MAX, &body, &body_len);
		assert_int_equal(r, 0);
		assert_ptr_equal(body, POISON_PTR);
		assert_int_equal(body_len, POISON_LEN);
	}
	r = frame_decode(buf, total, FRAME_DEFAULT_MAX, &body, &body_len);
	assert_int_equal(r, (long)total);
	assert_ptr_equal(body, buf + FRAME_HEADER_LEN);
	check_body(body, body_len, 300, 7);
}

static void
test_one_byte_body(void **state)
{
	uint8_t buf[] = {0, 0, 0, 1, 0x42, 0x99};
	const uint8_t *body = NULL;
	size_t body_len = 0;

	(void)state;
	assert_int_equal(
	    frame_decode(buf, 4, FRAME_DEFAULT_MAX, &body, &body_len), 0);
	/* Trailing bytes belong to the next frame, not to this one. */
	assert_int_equal(
	    frame_decode(buf, sizeof(buf), FRAME_DEFAULT_MAX, &body, &body_len),
	    5);
	assert_ptr_equal(body, buf + 4);
	assert_int_equal(body_len, 1);
}

static void
test_several_frames(void **state)
{
	static const size_t sizes[] = {1, 300, 2, 70000, 5};
	const size_t nframes = sizeof(sizes) / sizeof(sizes[0]);
	uint8_t *buf;
	const uint8_t *body;
	size_t cap = 0, len = 0, off = 0, body_len, i;
	long r;

	(void)state;
	for (i = 0; i < nframes; i++)
		cap += FRAME_HEADER_LEN + sizes[i];
	/* Room for the start of one more frame. */
	buf = malloc(cap + FRAME_HEADER_LEN + 10);
	assert_non_null(buf);
	for (i = 0; i < nframes; i++)
		len += put_frame(buf + len, sizes[i], (uint8_t)(i * 31));
	/* A sixth frame of 100 bytes of which only 10 have arrived. */
	assert_int_equal(frame_put_header(buf + len, 100), 0);
	memset(buf + len + FRAME_HEADER_LEN, 0xaa, 10);
	len += FRAME_HEADER_LEN + 10;

	/* The daemon's loop: decode every complete frame of one read. */
	for (i = 0; i < nframes; i++) {
		r = frame_decode(buf + off, len - off, FRAME_DEFAULT_MAX, &body,
				 &body_len);
		assert_int_equal(r, (long)(FRAME_HEADER_LEN + sizes[i]));
		assert_ptr_equal(body, buf + off + FRAME_HEADER_LEN);
		check_body(body, body_len, sizes[i], (uint8_t)(i * 31));
		off += (size_t)r;
	}
	body = POISON_PTR;
	body_len = POISON_LEN;
	assert_int_equal(frame_decode(buf + off, len - off, FRAME_DEFAULT_MAX,
				      &body, &body_len),
			 0);
	assert_ptr_equal(body, POISON_PTR);
	assert_int_equal(body_len, POISON_LEN);
	free(buf);
}

static void
test_zero_length(void **state)
{
	uint8_t buf[8] = {0, 0, 0, 0, 1, 2, 3, 4};
	const uint8_t *body = POISON_PTR;
	size_t body_len = POISON_LEN;

	(void)state;
	assert_int_equal(
	    frame_decode(buf, 3, FRAME_DEFAULT_MAX, &body, &body_len), 0);
	assert_int_equal(
	    frame_decode(buf, 4, FRAME_DEFAULT_MAX, &body, &body_len), -EPROTO);
	assert_int_equal(
	    frame_decode(buf, sizeof(buf), FRAME_DEFAULT_MAX, &body, &body_len),
	    -EPROTO);
	assert_ptr_equal(body, POISON_PTR);
	assert_int_equal(body_len, POISON_LEN);
}

static void
test_oversize(void **state)
{
	uint8_t buf[FRAME_HEADER_LEN];
	const uint8_t *body = POISON_PTR;
	size_t body_len = POISON_LEN;

	(void)state;
	/* One over the cap: refused from the header alone. */
	assert_int_equal(frame_put_header(buf, 101), 0);
	assert_int_equal(frame_decode(buf, 3, 100, &body, &body_len), 0);
	assert_int_equal(frame_decode(buf, 4, 100, &body, &body_len),
			 -EMSGSIZE);

	assert_int_equal(frame_put_header(buf, FRAME_DEFAULT_MAX + 1), 0);
	assert_int_equal(
	    frame_decode(buf, 4, FRAME_DEFAULT_MAX, &body, &body_len),
	    -EMSGSIZE);

	/* The largest length the header can say. */
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(
	    frame_decode(buf, 4, FRAME_DEFAULT_MAX, &body, &body_len),
	    -EMSGSIZE);
	/* The top bit must not be taken for a sign. */
	buf[0] = 0x80;
	buf[1] = buf[2] = buf[3] = 0;
	assert_int_equal(
	    frame_decode(buf, 4, FRAME_DEFAULT_MAX, &body, &body_len),
	    -EMSGSIZE);

	assert_ptr_equal(body, POISON_PTR);
	assert_int_equal(body_len, POISON_LEN);
}

static void
test_exactly_max(void **state)
{
	const size_t max = FRAME_DEFAULT_MAX;
	uint8_t small[FRAME_HEADER_LEN + 100];
	uint8_t *buf;
	const uint8_t *body;
	size_t body_len, total;

	(void)state;
	total = put_frame(small, 100, 3);
	assert_int_equal(frame_decode(small, total - 1, 100, &body, &body_len),
			 0);
	assert_int_equal(frame_decode(small, total, 100, &body, &body_len),
			 (long)total);
	check_body(body, body_len, 100, 3);

	buf = malloc(FRAME_HEADER_LEN + max);
	assert_non_null(buf);
	total = put_frame(buf, max, 0x5a);
	assert_int_equal(frame_decode(buf, total - 1, max, &body, &body_len),
			 0);
	assert_int_equal(frame_decode(buf, total, max, &body, &body_len),
			 (long)total);
	assert_ptr_equal(body, buf + FRAME_HEADER_LEN);
	check_body(body, body_len, max, 0x5a);
	/* The same frame with a cap one lower. */
	assert_int_equal(frame_decode(buf, total, max - 1, &body, &body_len),
			 -EMSGSIZE);
	free(buf);
}

static void
test_put_header_round_trip(void **state)
{
	static const uint32_t lens[] = {
	    1,		2,	    0xff,	0x100,	    0xffff,	0x10000,
	    0x01020304, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
	};
	uint8_t hdr[FRAME_HEADER_LEN + 1];
	const uint8_t *body = POISON_PTR;
	size_t body_len = POISON_LEN, i;
	uint32_t n;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		n = lens[i];
		memset(hdr, 0xee, sizeof(hdr));
		assert_int_equal(frame_put_header(hdr, n), 0);
		/* Big-endian, and not a byte more. */
		assert_int_equal(hdr[0], (uint8_t)(n >> 24));
		assert_int_equal(hdr[1], (uint8_t)(n >> 16));
		assert_int_equal(hdr[2], (uint8_t)(n >> 8));
		assert_int_equal(hdr[3], (uint8_t)n);
		assert_int_equal(hdr[4], 0xee);
		/* What the header says is what the decoder reads: a cap one
		 * below n refuses it, a cap of n waits for the body. */
		assert_int_equal(frame_decode(hdr, FRAME_HEADER_LEN, n - 1,
					      &body, &body_len),
				 -EMSGSIZE);
		if (n == 1) {
			assert_int_equal(frame_decode(hdr, FRAME_HEADER_LEN + 1,
						      n, &body, &body_len),
					 FRAME_HEADER_LEN + 1);
			assert_ptr_equal(body, hdr + FRAME_HEADER_LEN);
			assert_int_equal(body_len, 1);
			body = POISON_PTR;
			body_len = POISON_LEN;
		} else {
			assert_int_equal(frame_decode(hdr, FRAME_HEADER_LEN + 1,
						      n, &body, &body_len),
					 0);
		}
	}
	assert_ptr_equal(body, POISON_PTR);
	assert_int_equal(body_len, POISON_LEN);
}

static void
test_put_header_errors(void **state)
{
	uint8_t hdr[FRAME_HEADER_LEN];

	(void)state;
	memset(hdr, 0xee, sizeof(hdr));
	assert_int_equal(frame_put_header(hdr, 0), -EMSGSIZE);
#if SIZE_MAX > UINT32_MAX
	assert_int_equal(frame_put_header(hdr, (size_t)UINT32_MAX + 1),
			 -EMSGSIZE);
	assert_int_equal(frame_put_header(hdr, SIZE_MAX), -EMSGSIZE);
#endif
	/* A failed call must not leave half a header behind. */
	assert_int_equal(hdr[0], 0xee);
	assert_int_equal(hdr[1], 0xee);
	assert_int_equal(hdr[2], 0xee);
	assert_int_equal(hdr[3], 0xee);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_reads),
	    cmocka_unit_test(test_one_byte_body),
	    cmocka_unit_test(test_several_frames),
	    cmocka_unit_test(test_zero_length),
	    cmocka_unit_test(test_oversize),
	    cmocka_unit_test(test_exactly_max),
	    cmocka_unit_test(test_put_header_round_trip),
	    cmocka_unit_test(test_put_header_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
