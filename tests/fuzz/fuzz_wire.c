/*
 * fuzz_wire: proto/wire.c's hand-written codecs against protobuf-c over
 * arbitrary bytes.
 *
 * The input is taken as a Request body: whenever wire_request_unpack
 * accepts it, protobuf-c must accept it too, with the same body, and the
 * two must pack to the same bytes (so every field and has_ flag agrees).
 * It is also taken as a Reply body: whenever protobuf-c unpacks it into
 * a reply the hand encoder takes, the encoder's size and bytes must be
 * protobuf-c's. ASan checks that the decoder reads nothing past the
 * input (a heap block of exactly its size).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evd.pb-c.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_wire: %s:%d: %s\n", __FILE__,    \
			        __LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

static void
check_request(const uint8_t *data, size_t size)
{
	Evd__Request *a = wire_request_unpack(NULL, size, data), *b;
	size_t n;
	uint8_t *x, *y;

	if (a == NULL)
		return;
	b = evd__request__unpack(NULL, size, data);
	FUZZ_CHECK(b != NULL);
	FUZZ_CHECK(a->body_case == b->body_case);
	n = evd__request__get_packed_size(a);
	FUZZ_CHECK(n == evd__request__get_packed_size(b));
	x = malloc(n + 1);
	y = malloc(n + 1);
	FUZZ_CHECK(x != NULL && y != NULL);
	evd__request__pack(a, x);
	evd__request__pack(b, y);
	FUZZ_CHECK(memcmp(x, y, n) == 0);
	free(x);
	free(y);
	evd__request__free_unpacked(a, NULL);
	evd__request__free_unpacked(b, NULL);
}

static void
check_reply(const uint8_t *data, size_t size)
{
	Evd__Reply *r = evd__reply__unpack(NULL, size, data);
	size_t n, m;
	uint8_t *x, *y;

	if (r == NULL)
		return;
	if ((m = wire_reply_size(r)) > 0) {
		n = evd__reply__get_packed_size(r);
		FUZZ_CHECK(m == n);
		x = malloc(n + 1);
		y = malloc(n + 1);
		FUZZ_CHECK(x != NULL && y != NULL);
		evd__reply__pack(r, x);
		wire_reply_pack(r, y);
		FUZZ_CHECK(memcmp(x, y, n) == 0);
		free(x);
		free(y);
	}
	evd__reply__free_unpacked(r, NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_request(data, size);
	check_reply(data, size);
	return 0;
}
