/*
 * req_hello: the greeting. Checks the protocol major version and answers
 * with the daemon's version, clocks and boot id.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "clock.h"
#include "conn.h"
#include "dispatch.h"

#define EVD_PROTOCOL_VERSION 1

int
req_hello(struct req_ctx *ctx, const Evd__Request *rq)
{
	const Evd__Hello *h = rq->hello;
	Evd__Welcome *w;

	if (!h->has_protocol_version)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "Hello must carry protocol_version");
	if (h->protocol_version != EVD_PROTOCOL_VERSION)
		return req_fail(ctx, EVD__ERROR_CODE__UNSUPPORTED_VERSION,
		                "protocol version %u is not supported; this "
		                "daemon speaks version %d",
		                h->protocol_version, EVD_PROTOCOL_VERSION);
	if (h->client_name != NULL &&
	    strlen(h->client_name) > REQ_CLIENT_NAME_MAX)
		return req_fail(ctx, EVD__ERROR_CODE__INVALID_ARGUMENT,
		                "client_name is at most %d bytes",
		                REQ_CLIENT_NAME_MAX);
	if ((w = req_alloc(ctx, sizeof *w)) == NULL)
		return -ENOMEM;
	evd__welcome__init(w);
	w->has_protocol_version = true;
	w->protocol_version = EVD_PROTOCOL_VERSION;
	w->server_version = EVD_VERSION;
	w->has_monotonic_now_ns = w->has_realtime_now_ns = true;
	w->monotonic_now_ns = clock_now_ns(EVD_CLOCK_MONOTONIC);
	w->realtime_now_ns = clock_now_ns(EVD_CLOCK_REALTIME);
	w->boot_id = (char *)clock_boot_id();
	conn_set_greeted(ctx->conn);
	ctx->reply->body_case = EVD__REPLY__BODY_WELCOME;
	ctx->reply->welcome = w;
	return 0;
}
