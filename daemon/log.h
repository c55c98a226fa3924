/*
 * log: the daemon's only way to say something to the operator.
 *
 * Under systemd, when stderr is the journal stream ($JOURNAL_STREAM),
 * each record goes to journald with PRIORITY= and, for records about a
 * timer (log_about), EVD_TIMER_ID=, EVD_FIRE_ID=, EVD_UID= and
 * EVD_CHANNEL=, so `journalctl EVD_TIMER_ID=9` finds them. Otherwise it
 * is one line on stderr: a UTC timestamp, the sd-daemon priority prefix
 * ("<3>", "<6>", ...) and the message. Every record is sanitized at this
 * boundary: control bytes and invalid UTF-8 from whatever a client chose
 * become \xNN, so no record can forge another. Only boundary modules
 * log; pure modules return errors instead. log_warn and fatal append
 * strerror(errno); the -x variants do not. Thread-safe (one write or one
 * journal datagram per record).
 */
#ifndef EVD_LOG_H
#define EVD_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

/* Who a record is about; zero / NULL / !has_uid fields are left out. */
struct log_about {
	uint64_t timer_id;
	uint64_t fire_id;
	uid_t uid;
	bool has_uid;
	const char *channel;
};

/* Shorthands for log_about's second argument. */
#define LOG_TIMER(id, u)                                                       \
	(&(struct log_about){.timer_id = (id), .uid = (u), .has_uid = true})
#define LOG_TIMER_NOUID(id) (&(struct log_about){.timer_id = (id)})
#define LOG_FIRE(id, u, f)                                                     \
	(&(struct log_about){                                                  \
	    .timer_id = (id), .fire_id = (f), .uid = (u), .has_uid = true})
#define LOG_FIRE_NOUID(id, f)                                                  \
	(&(struct log_about){.timer_id = (id), .fire_id = (f)})

/* One kind of record (one format string) below err goes out at most
 * burst times per window_s seconds; the rest are counted, and the count
 * logged once the window ends (defaults 10 and 10). */
void log_set_flood(unsigned burst, unsigned window_s);

/* Decides where records go (the journal or stderr); call once at
 * start-up, after stderr is final. Records before it decide by
 * themselves. */
void log_init(void);
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
/* A record at level about one timer (a fire, a channel): the journal
 * gets its fields. */
void log_about(int level, const struct log_about *about, const char *fmt,
               ...) __attribute__((format(printf, 3, 4)));
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
