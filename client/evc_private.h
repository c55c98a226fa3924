/*
 * evc_private.h: the inside of libevclient, shared by its source files and
 * never installed.
 *
 * Files: evclient.c holds the public entry points (argument checks,
 * building requests, reading replies); evc_conn.c owns the socket, the
 * frame buffers, request ids and the event queue; evc_conv.c copies
 * protocol messages into the public structs and frees them.
 *
 * Everything here has hidden visibility (the build's default) and so
 * stays out of the shared library's dynamic symbol table even though the
 * names start with evc_ (so that they cannot clash with a program that
 * links the static library). Only functions marked EVC_EXPORT are public.
 */
#ifndef EVC_PRIVATE_H
#define EVC_PRIVATE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evclient.h"
#include "evd.pb-c.h"

#define EVC_EXPORT __attribute__((visibility("default")))

/* Fired events a handle keeps for evc_next_event() at most: beyond this a
 * call that reads one more fails with -EVC_E_NOMEM rather than letting a
 * caller that never drains its events grow without bound. */
#define EVC_MAX_QUEUED_EVENTS 1000000u

/* Deadlines are CLOCK_MONOTONIC nanoseconds; this one never comes. */
#define EVC_FOREVER INT64_MAX

/*
 * One connection. Owned by the caller from evc_connect() to evc_close().
 * Invariants: in[in_start, in_end) holds received bytes not yet decoded,
 * never more than one incomplete frame's worth past the complete ones;
 * request ids 1..last_request_id have been used, so a reply with a lower
 * id is the late answer to a call that timed out; once dead is set the
 * socket is shut down and only queued events can still be read.
 */
struct evc {
	int fd;
	uint64_t last_request_id;

	uint8_t *in;
	size_t in_start, in_end, in_cap;
	uint8_t *out; /* scratch for one outgoing frame */
	size_t out_cap;

	/* Ring of events that arrived while a call waited for its reply. */
	struct evc_fired *queue;
	size_t queue_head, queue_len, queue_cap;

	evc_fired_cb fired_cb;
	void *fired_arg;
	bool dispatching;   /* evc_dispatch() is on the stack */
	bool close_pending; /* evc_close() was called from the handler */

	int dead; /* 0, or the negative code that ended the connection */
	char dead_msg[512];

	struct evc_server_info info; /* points into the strings below */
	char *server_version;
	char *boot_id;

	char errmsg[512];
};

/* evc_conn.c */
int64_t evc_conn_deadline(int timeout_ms);
bool evc_conn_expired(int64_t deadline_ns);
int evc_conn_fail(struct evc *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int evc_conn_open(struct evc *c, const char *path, int64_t deadline_ns);
int evc_conn_request(struct evc *c, Evd__Request *req,
		     Evd__Reply__BodyCase want, int64_t deadline_ns,
		     Evd__Reply **ret);
int evc_conn_wait_event(struct evc *c, int64_t deadline_ns);
void evc_conn_pop_event(struct evc *c, struct evc_fired *ret);
void evc_conn_clear(struct evc *c);

/* evc_conv.c */
int evc_conv_callback(const struct evc_callback *cb, Evd__Callback *ret);
int evc_conv_fired(const Evd__Fired *f, struct evc_fired *ret);
int evc_conv_timer_info(const Evd__TimerInfo *t, struct evc_timer_info *ret);
int evc_conv_timer_list(const Evd__TimerList *l, struct evc_timer_list *ret);
int evc_conv_stats(const Evd__StatsReply *s, struct evc_stats *ret);

#endif
