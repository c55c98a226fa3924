/*
 * server: the listening Unix socket.
 *
 * Binds the path (replacing a stale socket file, refusing a live one or a
 * file that is not a socket), accepts connections and hands them to conn.
 * Running out of file descriptors pauses accepting for a moment instead of
 * spinning the loop on a listener that stays readable.
 */
#ifndef EVD_SERVER_H
#define EVD_SERVER_H

#include <sys/types.h>

struct event_base;

/*
 * Listens on path with the given file mode. Returns 0, or:
 *   -EADDRINUSE   a live daemon answers on path;
 *   -EEXIST       path exists and is not a socket (left alone);
 *   -ENAMETOOLONG path does not fit a sockaddr_un;
 *   other -errno  from mkdir/socket/bind/listen.
 */
int server_listen(struct event_base *base, const char *path, mode_t mode);

/* Stops accepting, closes the listener and removes the socket file (only
 * if it is still the one we bound). Safe to call twice. */
void server_stop(void);

#endif
