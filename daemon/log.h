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
/* Logs at err level and exits 1. Only main and start-up code call these. */
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif
