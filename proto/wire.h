/*
 * wire: hand-written protobuf encoders for the replies evd sends most
 * (Scheduled, Cancelled, Fired), and a decoder for the requests it
 * receives most (call_later, call_at and cancel with plain fields).
 *
 * protobuf-c packs a message by walking its descriptor, once to size it
 * and once to write it; for a Scheduled reply that walk was a quarter of
 * the daemon's instructions per call_later. These encoders write exactly
 * the bytes protobuf-c would (same field order, same varints; a unit
 * test compares them over random messages) in one short pass. Anything
 * else, and any message carrying unknown fields, is left to protobuf-c.
 * Unpacking likewise walked descriptors for a third of a call_later's
 * instructions; the decoder here takes only shapes whose every field it
 * knows and leaves the rest, malformed input included, to protobuf-c (a
 * fuzz target checks the two agree).
 *
 * Pure: no allocation, no I/O.
 */
#ifndef EVD_WIRE_H
#define EVD_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "evd.pb-c.h"

/* The packed size of r if this module packs it, else 0 (use
 * evd__reply__get_packed_size and evd__reply__pack). */
size_t wire_reply_size(const Evd__Reply *r);

/* Packs r, for which wire_reply_size returned n > 0, into out (n
 * bytes). */
void wire_reply_pack(const Evd__Reply *r, uint8_t *out);

/*
 * Unpacks data (len bytes) into memory from allocator a, exactly as
 * evd__request__unpack would, when it is a request of the hottest
 * shapes: only a request_id and a CallLater, CallAt or Cancel body made
 * of varint fields (no callback, key or options), each field at most
 * once. Returns NULL for anything else, well formed or not (the caller
 * then runs evd__request__unpack, which decides), or when a allocates
 * nothing. a NULL is malloc, as for protobuf-c. Free the result with
 * evd__request__free_unpacked(r, a).
 */
Evd__Request *wire_request_unpack(ProtobufCAllocator *a, size_t len,
                                  const uint8_t *data);

#endif
