/*
 * route: which loop serves a request (see shard.h). Pure: it interprets
 * the request's registry entry (requests.h) and knows no request type.
 */
#ifndef EVD_ROUTE_H
#define EVD_ROUTE_H

#include "evd.pb-c.h"

/* Every loop answers, and the client gets the merge (List). */
#define ROUTE_ALL (-1)

/*
 * The loop that serves rq, for a client on loop self of n, by the route
 * of its entry (enum req_route); with one loop, loop 0. A body without
 * an entry (a newer client's request, or none) goes to loop 0, which
 * answers that it does not know it: every body of this evd's Request
 * has an entry (req_registry_check), so no request is misrouted there.
 */
int route_request(const Evd__Request *rq, unsigned self, unsigned n);

#endif
