/*
 * metrics_http: the optional metrics endpoint (--metrics HOST:PORT).
 *
 * Serves GET /metrics (Prometheus text, rendered by metrics.c) over a
 * small HTTP/1.1 server on the daemon's event base; any other path is
 * 404, any other method on /metrics 405. Unauthenticated and read-only:
 * it tells anyone who can connect how busy evd is, nothing about whose
 * timers, so it belongs on loopback. Bounded: one request per
 * connection, a small head, no body, METRICS_HTTP_TIMEOUT_S for a
 * connection's whole life however slowly its bytes come, at most
 * METRICS_HTTP_MAX_CONNS at once, and accepting pauses when the process
 * is out of fds instead of spinning.
 */
#ifndef EVD_METRICS_HTTP_H
#define EVD_METRICS_HTTP_H

struct event_base;

/*
 * Listens on addr (a metrics_parse_addr string) on base. Returns 0, or
 * -EINVAL (bad address), -EALREADY (already started), -ENOMEM, or the
 * -errno of socket/bind/listen (-EADDRINUSE, -EADDRNOTAVAIL, -EACCES).
 */
int metrics_http_start(struct event_base *base, const char *addr);

/* Closes the listener and every metrics connection. Safe to call when
 * not started, and twice. */
void metrics_http_stop(void);

#endif
