/*
 * notify: sd_notify glue (see notify.h). Failures are logged at debug
 * level only: not being under systemd is normal.
 */
#include "notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "log.h"

static void
notify_send(const char *msg)
{
	int r;

	r = sd_notify(0, msg);
	if (r < 0)
		log_debug("sd_notify(%s) failed: %d", msg, r);
}

void
notify_ready(const char *socket_path)
{
	char msg[512];

	snprintf(msg, sizeof msg, "READY=1\nMAINPID=%ld\nSTATUS=listening on %s",
	         (long)getpid(), socket_path);
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
notify_stopping(void)
{
	notify_send("STOPPING=1\nSTATUS=stopping");
}
