/*
 * frame: length-prefix rules of the wire protocol (see frame.h).
 * Pure: no I/O, no allocation, no logging.
 */
#include "frame.h"

#include <errno.h>

long
frame_decode(const uint8_t *buf, size_t len, size_t max_body,
             const uint8_t **ret_body, size_t *ret_body_len)
{
	uint32_t n;

	if (len < FRAME_HEADER_LEN)
		return 0;
	n = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
	    (uint32_t)buf[2] << 8 | (uint32_t)buf[3];
	if (n == 0)
		return -EPROTO;
	if (n > max_body)
		return -EMSGSIZE;
	if (len - FRAME_HEADER_LEN < n)
		return 0;
	*ret_body = buf + FRAME_HEADER_LEN;
	*ret_body_len = n;
	return (long)n + FRAME_HEADER_LEN;
}

int
frame_put_header(uint8_t out[FRAME_HEADER_LEN], size_t body_len)
{
	if (body_len == 0 || body_len > UINT32_MAX)
		return -EMSGSIZE;
	out[0] = (uint8_t)(body_len >> 24);
	out[1] = (uint8_t)(body_len >> 16);
	out[2] = (uint8_t)(body_len >> 8);
	out[3] = (uint8_t)body_len;
	return 0;
}
