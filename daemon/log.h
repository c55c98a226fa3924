/*
 * log: the daemon's only way to say something to the operator.
 *
 * Lines go to stderr with sd-daemon priority prefixes ("<3>", "<6>", ...)
 * so that journald files them at the right level when evd runs under
 * systemd, and stay readable in a terminal. Only boundary modules (main,
 * server, conn, delivery) log; pure modules return errors instead.
 * log_warn and fatal append strerror(errno); the -x variants do not.
 */
#ifndef EVD_LOG_H
#define EVD_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Parses "err", "warning", "notice", "info", "debug" (or 3..7).
 * Returns the level or -EINVAL. */
int log_parse_level(const char *s);
void log_set_level(int level);
int log_get_level(void);
const char *log_level_name(int level);

/* An error the caller handles itself (main exits with its own status). */
void log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Makes len bytes that a client chose (an argv, a command) safe to put in
 * one log record: printable ASCII and valid UTF-8 as they are, '\\'
 * doubled, control bytes (a "\n<0>" that would forge a record), DEL, C1
 * controls and invalid UTF-8 as \xNN. Writes at most size bytes with the
 * NUL into out, cut at a whole character and ended with "..." when it does
 * not fit. Returns out (for use as a format argument).
 */
const char *log_escape(char *out, size_t size, const void *data, size_t len);
/* Length of the valid UTF-8 character (not a C1 control) that starts
 * the len bytes at data and does not begin with an ASCII byte, or 0. */
size_t log_utf8_len(const void *data, size_t len);

/* Logs at err level and exits 1. Only main and start-up code call these. */
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif
