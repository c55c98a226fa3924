/*
 * log: prefixed lines on stderr (see log.h). One write per line so lines
 * from a busy daemon never interleave mid-line in the journal.
 */
#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int log_level = LOG_LEVEL_INFO;

static const char *const level_names[] = {
	[LOG_LEVEL_ERR] = "err",     [LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_NOTICE] = "notice", [LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

int
log_parse_level(const char *s)
{
	int i;

	for (i = LOG_LEVEL_ERR; i <= LOG_LEVEL_DEBUG; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	if (strcasecmp(s, "error") == 0)
		return LOG_LEVEL_ERR;
	if (strcasecmp(s, "warn") == 0)
		return LOG_LEVEL_WARNING;
	if (s[0] >= '3' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	return -EINVAL;
}

void
log_set_level(int level)
{
	log_level = level;
}

int
log_get_level(void)
{
	return log_level;
}

const char *
log_level_name(int level)
{
	if (level < LOG_LEVEL_ERR || level > LOG_LEVEL_DEBUG)
		return "?";
	return level_names[level];
}

static void
log_vemit(int level, int errnum, const char *fmt, va_list ap)
{
	char line[1024];
	int n, m;

	if (level > log_level)
		return;
	n = snprintf(line, sizeof line, "<%d>", level);
	m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	if (errnum != 0) {
		m = snprintf(line + n, sizeof line - (size_t)n, ": %s",
		             strerror(errnum));
		if (m > 0)
			n += m;
		if (n > (int)sizeof line - 2)
			n = (int)sizeof line - 2;
	}
	line[n++] = '\n';
	/* A failed log write has nowhere to be reported. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

#define LOG_FN(name, level, use_errno)                                         \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		int saved = errno;                                             \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_vemit(level, use_errno ? saved : 0, fmt, ap);              \
		va_end(ap);                                                    \
		errno = saved;                                                 \
	}

LOG_FN(log_errx, LOG_LEVEL_ERR, 0)
LOG_FN(log_warn, LOG_LEVEL_WARNING, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARNING, 0)
LOG_FN(log_notice, LOG_LEVEL_NOTICE, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_ERR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_ERR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

/* C1 controls count as invalid: some terminals obey them. */
size_t
log_utf8_len(const void *data, size_t len)
{
	const unsigned char *s = data;
	size_t n, i;
	uint32_t cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
	    (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return n;
}

const char *
log_escape(char *out, size_t size, const void *data, size_t len)
{
	const unsigned char *s = data;
	size_t i = 0, o = 0, n;
	char esc[5];

	if (size == 0)
		return "";
	while (i < len) {
		const char *piece;
		size_t plen;

		if (s[i] == '\\') {
			piece = "\\\\", plen = 2, n = 1;
		} else if (s[i] >= 0x20 && s[i] < 0x7f) {
			piece = (const char *)s + i, plen = 1, n = 1;
		} else if (s[i] >= 0x80 && (n = log_utf8_len(s + i, len - i)) > 0) {
			piece = (const char *)s + i, plen = n;
		} else {
			snprintf(esc, sizeof esc, "\\x%02x", s[i]);
			piece = esc, plen = 4, n = 1;
		}
		/* Room for the piece, and for "..." should more follow. */
		if (o + plen + (i + n < len ? 3 : 0) >= size) {
			if (o + 3 < size) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, piece, plen);
		o += plen;
		i += n;
	}
	out[o] = '\0';
	return out;
}
