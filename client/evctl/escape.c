/*
 * escape: JSON and terminal escaping of untrusted bytes (see escape.h).
 * Pure: no I/O, no allocation. The input is never trusted to be UTF-8;
 * the decoder rejects overlong forms, surrogates and code points above
 * U+10FFFF byte by byte, so a bad sequence costs only its own bytes.
 */
#include "escape.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 if the byte at
 * s does not start one. */
static size_t
utf8_len(const uint8_t *s, size_t len)
{
	uint8_t b = s[0];
	size_t n, i;
	uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the 2nd byte */

	if (b < 0x80)
		return 1;
	if (b >= 0xc2 && b <= 0xdf) {
		n = 2;
	} else if (b >= 0xe0 && b <= 0xef) {
		n = 3;
		if (b == 0xe0)
			lo = 0xa0; /* overlong */
		else if (b == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 4;
		if (b == 0xf0)
			lo = 0x90; /* overlong */
		else if (b == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else {
		return 0;
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* U+0080..U+009F: valid UTF-8, but terminals act on some of them. */
static bool
is_c1(const uint8_t *s, size_t n)
{
	return n == 2 && s[0] == 0xc2 && s[1] <= 0x9f;
}

struct sink {
	char *out;
	size_t size;
	size_t len;
};

static void
put(struct sink *k, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++, k->len++)
		if (k->len + 1 < k->size)
			k->out[k->len] = s[i];
}

static size_t
done(struct sink *k)
{
	if (k->size > 0)
		k->out[k->len < k->size ? k->len : k->size - 1] = '\0';
	return k->len;
}

static void
put_hex(struct sink *k, const char *fmt, uint8_t b)
{
	char tmp[8];

	snprintf(tmp, sizeof(tmp), fmt, b);
	put(k, tmp, fmt[1] == 'u' ? 6 : 4);
}

size_t
escape_json(char *out, size_t size, const void *data, size_t len)
{
	const uint8_t *s = data;
	struct sink k = {out, size, 0};
	size_t i = 0, n;

	while (i < len) {
		n = utf8_len(s + i, len - i);
		if (n == 0 || s[i] < 0x20 || s[i] == 0x7f || is_c1(s + i, n)) {
			uint8_t b = n == 2 ? s[i + 1] : s[i];

			/* C1 controls: one \u0080..\u009f for both bytes. */
			if (n == 2)
				i++;
			switch (b) {
			case '\n':
				put(&k, "\\n", 2);
				break;
			case '\r':
				put(&k, "\\r", 2);
				break;
			case '\t':
				put(&k, "\\t", 2);
				break;
			case '\b':
				put(&k, "\\b", 2);
				break;
			case '\f':
				put(&k, "\\f", 2);
				break;
			default:
				put_hex(&k, "\\u%04x", b);
				break;
			}
			i++;
			continue;
		}
		if (s[i] == '"' || s[i] == '\\')
			put(&k, "\\", 1);
		put(&k, (const char *)s + i, n);
		i += n;
	}
	return done(&k);
}

size_t
escape_text(char *out, size_t size, const void *data, size_t len)
{
	const uint8_t *s = data;
	struct sink k = {out, size, 0};
	size_t i = 0, n, j;

	while (i < len) {
		n = utf8_len(s + i, len - i);
		if (n == 0 || s[i] < 0x20 || s[i] == 0x7f || is_c1(s + i, n)) {
			if (n == 0)
				n = 1;
			for (j = 0; j < n; j++) {
				switch (s[i + j]) {
				case '\n':
					put(&k, "\\n", 2);
					break;
				case '\r':
					put(&k, "\\r", 2);
					break;
				case '\t':
					put(&k, "\\t", 2);
					break;
				default:
					put_hex(&k, "\\x%02x", s[i + j]);
					break;
				}
			}
			i += n;
			continue;
		}
		if (s[i] == '\\')
			put(&k, "\\", 1);
		put(&k, (const char *)s + i, n);
		i += n;
	}
	return done(&k);
}

bool
escape_is_plain(const void *data, size_t len, bool newlines)
{
	const uint8_t *s = data;
	size_t i = 0, n;

	while (i < len) {
		n = utf8_len(s + i, len - i);
		if (n == 0 || s[i] == 0x7f || is_c1(s + i, n) ||
		    (s[i] < 0x20 && !(newlines && s[i] == '\n')))
			return false;
		i += n;
	}
	return true;
}
