/*
 * server: the listening Unix socket.
 *
 * Either takes the socket systemd passed (socket activation, evd.socket)
 * or binds the path itself (replacing a stale socket file, refusing a
 * live one or a file that is not a socket); accepts connections and hands
 * them to conn. Connections that queue on an activated socket while evd is
 * down are accepted when it comes back: systemd keeps the socket open.
 * Running out of file descriptors pauses accepting for a moment instead of
 * spinning the loop on a listener that stays readable.
 */
#ifndef EVD_SERVER_H
#define EVD_SERVER_H

#include <stddef.h>
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

/*
 * Takes over the socket passed by the service manager (sd_listen_fds),
 * and writes its path (for messages) to ret_path. Returns 1 when adopted,
 * 0 when none was passed (then call server_listen), or:
 *   -E2BIG     more than one socket was passed;
 *   -ENOTSOCK  the socket is not a listening AF_UNIX stream socket;
 *   other -errno.
 */
int server_listen_activated(struct event_base *base, char *ret_path,
                            size_t size);

/* Stops accepting, closes the listener and removes the socket file (only
 * if evd bound it and it is still the one it bound; an activated socket's
 * file belongs to systemd). Safe to call twice. */
void server_stop(void);

#endif
