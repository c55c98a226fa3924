/*
 * route: which loop serves a request (see shard.h). Pure.
 */
#ifndef EVD_ROUTE_H
#define EVD_ROUTE_H

#include "evd.pb-c.h"

/* Every loop answers, and the client gets the merge (List). */
#define ROUTE_ALL (-1)

/*
 * The loop that owns what rq is about, for a client on loop self of n:
 * self for Hello, Time and a timer that messages the calling connection
 * (no channel, no exec, no key, no calendar); the owner of the id for requests naming
 * a timer; ROUTE_ALL for List without a channel; loop 0 for everything
 * else (store, channels, hooks, keys, Stats).
 */
int route_request(const Evd__Request *rq, unsigned self, unsigned n);

#endif
