/*
 * escape: arbitrary bytes (payloads, channel names, keys from the daemon)
 * made safe for one JSON string or one line of terminal output.
 *
 * Pure: no I/O, no allocation. Both functions work like snprintf: they
 * write at most size bytes including a NUL (when size > 0) and return the
 * length the full result needs, so a caller either sizes the buffer with
 * ESCAPE_MAX_EXPANSION or calls twice.
 *
 * Valid UTF-8 passes through unchanged (except C1 controls); no output
 * ever contains a raw control character, so one record stays one line.
 */
#ifndef EVD_ESCAPE_H
#define EVD_ESCAPE_H

#include <stdbool.h>
#include <stddef.h>

/* Bytes of output per byte of input, at most, for both functions. */
#define ESCAPE_MAX_EXPANSION 6

/*
 * The inside of a JSON string (without the quotes): '"' and '\\' and
 * control characters escaped as JSON requires. A byte that is not part of
 * valid UTF-8 becomes \u00XX (the code point of the same number, as if
 * the input were Latin-1), so binary payloads survive and the output is
 * always valid UTF-8.
 */
size_t escape_json(char *out, size_t size, const void *data, size_t len);

/*
 * For people: printable text as is; '\\' doubled; \n, \r, \t in C
 * notation; other control characters and invalid UTF-8 bytes as \xHH.
 */
size_t escape_text(char *out, size_t size, const void *data, size_t len);

/*
 * Whether data shows on a terminal as it is: valid UTF-8 without control
 * characters (C0, DEL, C1), '\n' allowed when newlines is true. Where it
 * holds, escape_text changes only backslashes (and newlines).
 */
bool escape_is_plain(const void *data, size_t len, bool newlines);

#endif
