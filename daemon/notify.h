/*
 * notify: the daemon's side of the systemd notification protocol
 * (sd_notify) and the service watchdog. Without NOTIFY_SOCKET every call
 * is a cheap no-op, so the rest of the daemon calls these unconditionally.
 * The integration tests set NOTIFY_SOCKET to a socket of their own to
 * learn when evd is ready and to check what it tells systemd.
 *
 * The watchdog keep-alive runs on a timer of the event loop, not a thread:
 * a loop that stops turning stops the pings, which is what systemd's
 * WatchdogSec= is there to catch.
 */
#ifndef EVD_NOTIFY_H
#define EVD_NOTIFY_H

#include <stdint.h>

struct event_base;

/*
 * If the service manager enabled the watchdog for this process
 * (WATCHDOG_USEC, and WATCHDOG_PID naming us), arms a timer on base that
 * sends WATCHDOG=1 every half period, and removes both variables from the
 * environment so that child processes do not inherit them. Returns the
 * period in microseconds (0: no watchdog), or -errno.
 */
int64_t notify_watchdog_start(struct event_base *base);
/* Disarms the watchdog timer. Safe to call twice or without a start. */
void notify_watchdog_stop(void);

/* READY=1 with a status line; call once the socket listens (and again
 * after a reload). */
void notify_ready(const char *status);
/* STATUS= line, printf-style. */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* RELOADING=1: a configuration reload has begun; notify_ready() ends it. */
void notify_reloading(void);
/* STOPPING=1: shutdown has begun. */
void notify_stopping(void);

#endif
