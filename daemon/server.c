/*
 * server: listener, socket activation, stale-socket handling and accept
 * back-off (see server.h). Owns the listening fd and, when it bound it
 * itself, the socket path. A socket passed by systemd belongs to systemd:
 * evd closes its copy and never unlinks the path.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "conn.h"
#include "log.h"
#include "shard.h"

/* How long accepting pauses when the process is out of fds. */
#define SERVER_EMFILE_PAUSE_MS 100
/* Connections accepted per wakeup, so a connect storm cannot starve the
 * clients already connected. */
#define SERVER_ACCEPT_BATCH 64

static struct {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	dev_t dev;
	ino_t ino;
	struct event *ev;
	struct event *pause_ev;
	int paused_logged;
	bool activated; /* fd came from the service manager */
} srv = { .fd = -1 };

static void
server_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	unsigned k;
	int i, c;

	for (i = 0; i < SERVER_ACCEPT_BATCH; i++) {
		c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				struct timeval tv = { 0,
					SERVER_EMFILE_PAUSE_MS * 1000 };

				if (!srv.paused_logged)
					log_warn("accept (pausing new "
					         "connections)");
				srv.paused_logged = 1;
				event_del(srv.ev);
				evtimer_add(srv.pause_ev, &tv);
			} else if (errno != EAGAIN && errno != EINTR &&
			           errno != ECONNABORTED)
				log_warn("accept");
			break;
		}
		srv.paused_logged = 0;
		if (shard_count() > 1 && (k = shard_next_conn()) != 0) {
			struct shard_msg *m = shard_msg_new(SHARD_MSG_CONN);

			if (m == NULL) {
				log_warnx("dropping a new connection: out of "
				          "memory");
				close(c);
				continue;
			}
			m->fd = c;
			shard_post(k, m);
			continue;
		}
		/* conn_new closes c on failure and logs a refusal itself. */
		if (conn_new(c, false) == -ENOMEM)
			log_warnx("dropping a new connection: out of memory");
	}
}

static void
server_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	event_add(srv.ev, NULL);
}

/* Is anyone listening on path? Decides between "stale" and "in use". */
static int
server_probe(const struct sockaddr_un *sun)
{
	int fd, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
	r = r == 0 ? 0 : -errno;
	close(fd);
	return r;
}

/* Creates the socket's directory if it is missing (one level, as
 * /run/evd), so a fresh system instance needs no tmpfiles snippet. */
static int
server_mkdir_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	if (strlen(path) >= sizeof dir)
		return -ENAMETOOLONG;
	strcpy(dir, path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Watches a listening fd (which it owns from now on). */
static int
server_start(struct event_base *base, int fd)
{
	srv.fd = fd;
	srv.ev = event_new(base, fd, EV_READ | EV_PERSIST, server_accept_cb,
	                   NULL);
	srv.pause_ev = evtimer_new(base, server_resume_cb, NULL);
	if (srv.ev == NULL || srv.pause_ev == NULL ||
	    event_add(srv.ev, NULL) < 0) {
		server_stop();
		return -ENOMEM;
	}
	return 0;
}

int
server_listen(struct event_base *base, const char *path, mode_t mode)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd, r;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		r = server_probe(&sun);
		if (r == 0)
			return -EADDRINUSE;
		/* ECONNREFUSED: nobody behind it, a leftover of a crash. */
		if (r != -ECONNREFUSED)
			return r;
		if (unlink(path) < 0 && errno != ENOENT)
			return -errno;
		log_info("removed stale socket %s", path);
	} else if (errno != ENOENT)
		return -errno;
	else if ((r = server_mkdir_parent(path)) < 0)
		return r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* The socket file is created with the mode we want from the start,
	 * never briefly wider. */
	old = umask((mode_t)(~mode & 0777));
	r = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (r < 0 || listen(fd, SOMAXCONN) < 0 || lstat(path, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	srv.dev = st.st_dev;
	srv.ino = st.st_ino;
	strcpy(srv.path, path);
	return server_start(base, fd);
}

int
server_listen_activated(struct event_base *base, char *ret_path,
                        size_t size)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof sun;
	int n, fd, flags;

	/* 1: unset LISTEN_FDS/LISTEN_PID, so that processes we start do
	 * not believe the socket is theirs. */
	n = sd_listen_fds(1);
	if (n <= 0)
		return n;
	if (n > 1)
		return -E2BIG;
	fd = SD_LISTEN_FDS_START;
	if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0)
		return -ENOTSOCK;
	/* systemd passes fds without CLOEXEC and maybe blocking. */
	if ((flags = fcntl(fd, F_GETFD)) < 0 ||
	    fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0 ||
	    (flags = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	memset(&sun, 0, sizeof sun);
	if (getsockname(fd, (struct sockaddr *)&sun, &len) < 0)
		return -errno;
	if (len <= offsetof(struct sockaddr_un, sun_path) ||
	    sun.sun_path[0] == '\0')
		snprintf(ret_path, size, "(abstract or unnamed socket)");
	else
		snprintf(ret_path, size, "%.*s", (int)sizeof sun.sun_path,
		         sun.sun_path);
	srv.activated = true;
	snprintf(srv.path, sizeof srv.path, "%s", ret_path);
	return server_start(base, fd) < 0 ? -ENOMEM : 1;
}

void
server_stop(void)
{
	struct stat st;

	if (srv.ev != NULL) {
		event_free(srv.ev);
		srv.ev = NULL;
	}
	if (srv.pause_ev != NULL) {
		event_free(srv.pause_ev);
		srv.pause_ev = NULL;
	}
	if (srv.fd >= 0) {
		close(srv.fd);
		srv.fd = -1;
		/* Only our own socket: a successor may already have bound
		 * the path, and an activated one stays for the next start. */
		if (!srv.activated && lstat(srv.path, &st) == 0 &&
		    st.st_dev == srv.dev && st.st_ino == srv.ino)
			unlink(srv.path);
	}
}
