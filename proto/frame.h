/*
 * frame: the length prefix of the evd wire protocol.
 *
 * A frame is a 4-byte big-endian unsigned length followed by that many
 * bytes of body. This module only computes and checks prefixes: it does
 * no I/O and allocates nothing, so the daemon, the client library and
 * the fuzzers share one implementation of the rules.
 *
 * Invariant: a decoded body length is always in [1, max_body].
 */
#ifndef EVD_FRAME_H
#define EVD_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_LEN 4
/* The daemon's default and the library's fixed ceiling for one body. */
#define FRAME_DEFAULT_MAX (1024u * 1024u)

/*
 * Looks at the start of buf (len bytes available) for one complete frame.
 * Returns:
 *   > 0      the whole frame (header + body) is present; its total size
 *            in bytes; *ret_body and *ret_body_len point into buf.
 *   0        more bytes are needed; the out-parameters are untouched.
 *   -EPROTO  the length is zero.
 *   -EMSGSIZE the length exceeds max_body.
 * A bad length is reported as soon as the 4 header bytes are present,
 * before the body arrives, so a hostile peer cannot make us buffer it.
 */
long frame_decode(const uint8_t *buf, size_t len, size_t max_body,
                  const uint8_t **ret_body, size_t *ret_body_len);

/*
 * Writes the 4-byte header for a body of body_len bytes into out.
 * Returns 0, or -EMSGSIZE if body_len is 0 or above UINT32_MAX.
 */
int frame_put_header(uint8_t out[FRAME_HEADER_LEN], size_t body_len);

#endif
