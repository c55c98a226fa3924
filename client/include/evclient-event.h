/*
 * evclient-event.h: run a libevclient handle on a libevent loop.
 *
 * Part of libevclient-event (link with `pkg-config --libs evclient-event`),
 * a separate small library so that libevclient itself never depends on
 * libevent. It uses only the public API of evclient.h: a watch callback
 * (evc_set_watch_cb) that keeps one read event, one write event and one
 * timer in step with what the handle wants, each calling evc_process().
 *
 * ABI: soname libevclient-event.so.1, symbols in version node
 * EVCLIENT_EVENT_1.
 */
#ifndef EVCLIENT_EVENT_H
#define EVCLIENT_EVENT_H

#include <evclient.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

/*
 * Drives c from base: from now on requests made on c are written, replies
 * and events read, reconnections attempted and callbacks run by base's
 * loop (event_base_dispatch and friends), on the thread that runs it.
 * The handle then must not be used with evc_start_thread() nor have
 * another watch callback. Returns 0, -EVC_E_USAGE (NULL argument, the
 * background thread runs) or -EVC_E_NOMEM. The events are freed by
 * evc_detach() or evc_close(). Thread-safety: as the handle (the thread
 * that runs base).
 */
int evc_attach(struct evc *c, struct event_base *base);

/* Stops driving c from its event_base and frees the events (NULL-safe,
 * harmless if not attached). Thread-safety: as the handle. */
void evc_detach(struct evc *c);

#ifdef __cplusplus
}
#endif

#endif
