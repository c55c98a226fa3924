/*
 * notify: the daemon's side of the systemd notification protocol
 * (sd_notify). Without NOTIFY_SOCKET every call is a cheap no-op, so the
 * rest of the daemon calls these unconditionally. The integration tests
 * set NOTIFY_SOCKET to a socket of their own to learn when evd is ready.
 */
#ifndef EVD_NOTIFY_H
#define EVD_NOTIFY_H

/* READY=1 with a status line; call once the socket listens. */
void notify_ready(const char *socket_path);
/* STATUS= line, printf-style. */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* STOPPING=1: shutdown has begun. */
void notify_stopping(void);

#endif
