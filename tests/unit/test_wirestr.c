/*
 * Unit tests of the string check on the wire (proto/wirestr.c): UTF-8 as
 * RFC 3629 has it, byte by byte at the edges of every range; the path it
 * names for a bad string at every depth, with the index of a repeated
 * field; what it must not look at (bytes fields, unknown fields); and
 * malformed input, which it calls malformed only where protobuf-c
 * refuses to unpack too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "evd.pb-c.h"
#include "wirestr.h"

static void
test_utf8(void **state)
{
	static const struct {
		const char *s;
		size_t len, valid;
	} cases[] = {
	    {"", 0, 0},
	    {"plain ascii \x01\x7f", 14, 14},
	    {"a\0b", 3, 1},
	    {"\xc2\x80\xdf\xbf", 4, 4},		/* U+0080, U+07FF */
	    {"\xc0\x80", 2, 0},			/* overlong NUL */
	    {"\xc1\xbf", 2, 0},			/* overlong */
	    {"\xe0\xa0\x80\xef\xbf\xbf", 6, 6}, /* U+0800, U+FFFF */
	    {"\xe0\x9f\xbf", 3, 0},		/* overlong U+07FF */
	    {"\xed\x9f\xbf\xee\x80\x80", 6, 6}, /* U+D7FF, U+E000 */
	    {"\xed\xa0\x80", 3, 0},		/* U+D800 */
	    {"\xed\xbf\xbf", 3, 0},		/* U+DFFF */
	    {"\xf0\x90\x80\x80", 4, 4},		/* U+10000 */
	    {"\xf0\x8f\xbf\xbf", 4, 0},		/* overlong U+FFFF */
	    {"\xf4\x8f\xbf\xbf", 4, 4},		/* U+10FFFF */
	    {"\xf4\x90\x80\x80", 4, 0},		/* U+110000 */
	    {"\xf5\x80\x80\x80", 4, 0},
	    {"\xff", 1, 0},
	    {"ab\x80", 3, 2},		/* lone continuation */
	    {"ab\xe2\x82", 4, 2},	/* cut short */
	    {"ab\xe2\x82\xac", 5, 5},	/* the euro sign */
	    {"\xe2\x28\xa1", 3, 0},	/* bad second byte */
	    {"\xe2\x82\x28", 3, 0},	/* bad third byte */
	    {"\xf0\x9f\x98\x28", 4, 0}, /* bad fourth byte */
	    {"\xf0\x9f\x98", 3, 0},	/* cut short */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (wirestr_valid_prefix(cases[i].s, cases[i].len) !=
		    cases[i].valid)
			fail_msg("case %zu: %zu, want %zu", i,
				 wirestr_valid_prefix(cases[i].s, cases[i].len),
				 cases[i].valid);
	assert_int_equal(wirestr_valid_prefix(NULL, 0), 0);
}

/* Packs rq into a malloc'd buffer; the 0x7f bytes of the string marked
 * become NULs. */
static uint8_t *
pack(const Evd__Request *rq, const char *marked, size_t *ret_len)
{
	size_t n = evd__request__get_packed_size(rq), i, mlen;
	uint8_t *buf = malloc(n + 1), *p;

	assert_non_null(buf);
	evd__request__pack(rq, buf);
	if (marked != NULL) {
		mlen = strlen(marked);
		p = memmem(buf, n, marked, mlen);
		assert_non_null(p);
		for (i = 0; i < mlen; i++)
			if (p[i] == 0x7f)
				p[i] = 0;
	}
	*ret_len = n;
	return buf;
}

static void
expect_bad(const Evd__Request *rq, const char *marked, const char *field,
	   const char *why)
{
	struct wirestr_bad bad;
	size_t len;
	uint8_t *buf = pack(rq, marked, &len);

	assert_int_equal(
	    wirestr_check(&evd__request__descriptor, buf, len, &bad), -EILSEQ);
	assert_string_equal(bad.field, field);
	assert_string_equal(bad.why, why);
	free(buf);
}

static void
expect_ok(const Evd__Request *rq)
{
	struct wirestr_bad bad;
	size_t len;
	uint8_t *buf = pack(rq, NULL, &len);

	assert_int_equal(
	    wirestr_check(&evd__request__descriptor, buf, len, &bad), 0);
	free(buf);
}

static void
test_paths(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Exec x = EVD__EXEC__INIT;
	Evd__TimerOptions o = EVD__TIMER_OPTIONS__INIT;
	Evd__Repeat rep = EVD__REPEAT__INIT;
	char *argv[] = {"/bin/echo", "caf\xc3\xa9", "x\x7f"};
	char *env[] = {"A=1", "B=2"};

	rq.has_request_id = 1;
	rq.request_id = 7;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	cl.key = "job\x7f"
		 "A";
	expect_bad(&rq, cl.key, "call_later.key", "contains a NUL byte");
	cl.key = "job";
	expect_ok(&rq);

	cl.callback = &cb;
	cb.target_case = EVD__CALLBACK__TARGET_EXEC;
	cb.exec = &x;
	x.n_argv = 3;
	x.argv = argv;
	x.n_env = 2;
	x.env = env;
	/* protobuf-c packs argv before env: [2] counts argv only. */
	expect_bad(&rq, argv[2], "call_later.callback.exec.argv[2]",
		   "contains a NUL byte");
	argv[2] = "ok";
	env[1] = "B=\xff";
	expect_bad(&rq, NULL, "call_later.callback.exec.env[1]",
		   "is not valid UTF-8");
	env[1] = "B=2";
	expect_ok(&rq);

	cl.options = &o;
	o.repeat = &rep;
	rep.calendar = "daily";
	rep.tz = "Europe/\xed\xa0\x80";
	expect_bad(&rq, NULL, "call_later.options.repeat.tz",
		   "is not valid UTF-8");
	rep.tz = "Europe/Paris";
	expect_ok(&rq);

	/* Bytes are not strings: a payload may hold anything. */
	cb.has_payload = 1;
	cb.payload.data = (uint8_t *)"\0\xff\xc0";
	cb.payload.len = 3;
	expect_ok(&rq);
}

/* A request with an unknown length-delimited field (a newer client's)
 * holding bytes that are not UTF-8: not a string this side knows of. */
static void
test_unknown_field_skipped(void **state)
{
	static const uint8_t msg[] = {
	    0x08, 0x05,				/* request_id 5 */
	    0xfa, 0x06, 0x03, 0xff, 0x00, 0xc0, /* field 111, 3 bytes */
	    0x8a, 0x01, 0x00,			/* field 17 (time), empty */
	};
	struct wirestr_bad bad;
	Evd__Request *rq;

	assert_int_equal(
	    wirestr_check(&evd__request__descriptor, msg, sizeof(msg), &bad),
	    0);
	rq = evd__request__unpack(NULL, sizeof(msg), msg);
	assert_non_null(rq);
	assert_int_equal(rq->body_case, EVD__REQUEST__BODY_TIME);
	evd__request__free_unpacked(rq, NULL);
}

/* Malformed input is called so only where protobuf-c agrees. */
static void
test_malformed(void **state)
{
	static const struct {
		uint8_t b[16];
		size_t len;
	} cases[] = {
	    {{0x00, 0x01}, 2}, /* field number 0 */
	    {{0x08}, 1},       /* varint missing */
	    {{0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
	      0x01},
	     12},			 /* 11-byte varint */
	    {{0x62, 0x05, 'a', 'b'}, 4}, /* length past the end */
	    {{0x62, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 7}, /* long prefix */
	    {{0x0b, 0x0c}, 2},				     /* a group */
	    {{0x09, 1, 2, 3}, 4},			     /* short fixed64 */
	    {{0x0d, 1, 2}, 3},				     /* short fixed32 */
	    {{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 6},	     /* long tag */
	    /* call_later whose key's length overruns the call_later */
	    {{0x62, 0x03, 0x22, 0x05, 'k', 'e', 'y', 'x', 'y'}, 9},
	};
	struct wirestr_bad bad;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (wirestr_check(&evd__request__descriptor, cases[i].b,
				  cases[i].len, &bad) != -EBADMSG)
			fail_msg("case %zu not malformed", i);
		if (evd__request__unpack(NULL, cases[i].len, cases[i].b) !=
		    NULL)
			fail_msg("case %zu: protobuf-c unpacks it", i);
	}
	/* Empty is a valid (empty) message. */
	assert_int_equal(
	    wirestr_check(&evd__request__descriptor, NULL, 0, &bad), 0);
}

/* A path longer than the buffer keeps its outer part, NUL-terminated. */
static void
test_long_path(void **state)
{
	struct wirestr_bad bad;
	ProtobufCFieldDescriptor f[1];
	ProtobufCMessageDescriptor d;
	static char name[200];
	uint8_t msg[4] = {0x0a, 0x02, 0xc3, 0x28};

	memset(name, 'n', sizeof(name) - 1);
	memset(f, 0, sizeof(f));
	f[0].name = name;
	f[0].id = 1;
	f[0].label = PROTOBUF_C_LABEL_OPTIONAL;
	f[0].type = PROTOBUF_C_TYPE_STRING;
	d = evd__time__descriptor;
	d.n_fields = 1;
	d.fields = f;
	assert_int_equal(wirestr_check(&d, msg, sizeof(msg), &bad), -EILSEQ);
	assert_int_equal(strlen(bad.field), WIRESTR_FIELD_MAX - 1);
	assert_true(bad.field[0] == 'n');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_unknown_field_skipped),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_long_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
