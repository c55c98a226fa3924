/*
 * notify: sd_notify glue and the watchdog timer (see notify.h). Failures
 * are logged at debug level only: not being under systemd is normal.
 */
#include "notify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "log.h"

static struct event *watchdog_ev;

/*
 * Sends one notification without ever blocking the loop: sd_notify(3)
 * sends on a blocking socket, so a manager (or a test) that stops reading
 * NOTIFY_SOCKET would freeze the daemon once the socket's buffer fills.
 * A full buffer drops the message instead (STATUS and WATCHDOG are
 * refreshed anyway; READY and STOPPING are sent when the buffer is
 * drained in normal operation).
 */
static void
notify_send(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	socklen_t len;
	size_t plen;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (plen = strlen(path)) >= sizeof sun.sun_path)
		return;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, plen);
	if (path[0] == '@')
		sun.sun_path[0] = '\0'; /* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen +
	                  (path[0] == '@' ? 0 : 1));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_debug("notify: socket: %s", strerror(errno));
		return;
	}
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT,
	           (struct sockaddr *)&sun, len) < 0)
		log_debug("notify: %s not sent: %s", msg, strerror(errno));
	close(fd);
}

static void
notify_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	notify_send("WATCHDOG=1");
}

int64_t
notify_watchdog_start(struct event_base *base)
{
	struct timeval tv;
	uint64_t usec;
	int r;

	/* 1: unset WATCHDOG_USEC/WATCHDOG_PID, so that processes we start
	 * are not mistaken for us. */
	r = sd_watchdog_enabled(1, &usec);
	if (r < 0)
		return r;
	if (r == 0 || usec == 0)
		return 0;
	/* Half the period, as sd_watchdog_enabled(3) recommends: one late
	 * loop turn must not cost the service a restart. */
	tv.tv_sec = (time_t)(usec / 2 / 1000000);
	tv.tv_usec = (suseconds_t)(usec / 2 % 1000000);
	watchdog_ev = event_new(base, -1, EV_PERSIST, notify_watchdog_cb, NULL);
	if (watchdog_ev == NULL || event_add(watchdog_ev, &tv) < 0) {
		notify_watchdog_stop();
		return -ENOMEM;
	}
	return (int64_t)usec;
}

void
notify_watchdog_stop(void)
{
	if (watchdog_ev != NULL) {
		event_free(watchdog_ev);
		watchdog_ev = NULL;
	}
}

void
notify_ready(const char *status)
{
	char msg[512];

	snprintf(msg, sizeof msg, "READY=1\nMAINPID=%ld\nSTATUS=%s",
	         (long)getpid(), status);
	notify_send(msg);
}

void
notify_status(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof msg, "STATUS=");
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
	va_end(ap);
	notify_send(msg);
}

void
notify_reloading(void)
{
	struct timespec ts;
	char msg[128];

	/* MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) match
	 * this RELOADING=1 with the reload it requested; older ones ignore
	 * the field. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof msg,
	         "RELOADING=1\nSTATUS=reloading the configuration\n"
	         "MONOTONIC_USEC=%" PRIu64,
	         (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
	notify_send(msg);
}

void
notify_stopping(void)
{
	notify_send("STOPPING=1\nSTATUS=stopping");
}
