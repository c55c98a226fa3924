/*
 * evc_event: the libevent adapter of libevclient (evclient-event.h).
 *
 * Owns, per attached handle, a struct adapter holding a read event, a
 * write event and a timer on the program's event_base. The handle owns
 * the adapter through its watch callback: release (adapter_free) runs on
 * evc_detach(), on a new watch callback, and in evc_close(). The watch
 * callback runs with the handle locked and so only re-arms events; the
 * event callbacks call evc_process(), which may free the handle and
 * with it the adapter, so they touch nothing after it.
 *
 * The write event is added only while the handle has output queued:
 * requests made during one loop turn are written together on the next.
 */
#include <event2/event.h>
#include <poll.h>
#include <stdlib.h>

#include "evclient-event.h"

#define EVC_EXPORT __attribute__((visibility("default")))

struct adapter {
	struct event_base *base;
	struct evc *c;
	struct event *rd, *wr, *tm;
	int fd, events;
};

static void
adapter_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct adapter *a = arg;

	(void)evc_process(a->c);
}

static void
adapter_free_io(struct adapter *a)
{
	if (a->rd != NULL)
		event_free(a->rd);
	if (a->wr != NULL)
		event_free(a->wr);
	a->rd = a->wr = NULL;
	a->fd = -1;
	a->events = 0;
}

static void
adapter_free(void *arg)
{
	struct adapter *a = arg;

	adapter_free_io(a);
	if (a->tm != NULL)
		event_free(a->tm);
	free(a);
}

static void
adapter_watch_cb(struct evc *c, int fd, int events, int timeout_ms,
		 void *arg)
{
	struct adapter *a = arg;
	struct timeval tv;

	if (fd != a->fd) {
		adapter_free_io(a);
		if (fd >= 0) {
			a->rd = event_new(a->base, fd, EV_READ | EV_PERSIST,
					  adapter_io_cb, a);
			a->wr = event_new(a->base, fd, EV_WRITE | EV_PERSIST,
					  adapter_io_cb, a);
			a->fd = fd;
		}
	}
	if (a->rd != NULL && (events & POLLIN) != (a->events & POLLIN)) {
		if (events & POLLIN)
			event_add(a->rd, NULL);
		else
			event_del(a->rd);
	}
	if (a->wr != NULL && (events & POLLOUT) != (a->events & POLLOUT)) {
		if (events & POLLOUT)
			event_add(a->wr, NULL);
		else
			event_del(a->wr);
	}
	a->events = a->rd != NULL ? events : 0;
	if (timeout_ms < 0) {
		event_del(a->tm);
	} else {
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (timeout_ms % 1000) * 1000;
		event_add(a->tm, &tv);
	}
}

EVC_EXPORT int
evc_attach(struct evc *c, struct event_base *base)
{
	struct adapter *a;
	int r;

	if (c == NULL || base == NULL)
		return -EVC_E_USAGE;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -EVC_E_NOMEM;
	a->base = base;
	a->c = c;
	a->fd = -1;
	a->tm = evtimer_new(base, adapter_io_cb, a);
	if (a->tm == NULL) {
		free(a);
		return -EVC_E_NOMEM;
	}
	r = evc_set_watch_cb(c, adapter_watch_cb, adapter_free, a);
	if (r < 0)
		adapter_free(a);
	return r;
}

EVC_EXPORT void
evc_detach(struct evc *c)
{
	if (c != NULL)
		(void)evc_set_watch_cb(c, NULL, NULL, NULL);
}
