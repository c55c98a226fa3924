/*
 * requests: the registry of request types.
 *
 * One line per Request body in proto/evd.proto: X(BODY, name). dispatch
 * builds its switch from this list and calls req_<name>(), so a request
 * without a handler fails to link, and tests/unit/test_registry checks
 * the list against the protobuf descriptor, so the .proto and the
 * registry cannot drift apart.
 */
#ifndef EVD_REQUESTS_H
#define EVD_REQUESTS_H

#define EVD_REQUESTS(X)                                                        \
	X(HELLO, hello)                                                        \
	X(CALL_SOON, call_soon)                                                \
	X(CALL_LATER, call_later)                                              \
	X(CALL_AT, call_at)                                                    \
	X(CANCEL, cancel)                                                      \
	X(GET, get)                                                            \
	X(LIST, list)                                                          \
	X(TIME, time)                                                          \
	X(STATS, stats)                                                        \
	X(SUBSCRIBE, subscribe)                                                \
	X(ACK, ack)                                                            \
	X(LIST_DEAD, list_dead)                                                \
	X(REQUEUE_DEAD, requeue_dead)                                          \
	X(PURGE_DEAD, purge_dead)                                              \
	X(CHANNEL_GRANT, channel_grant)                                        \
	X(GET_CHANNEL, get_channel)                                            \
	X(WAIT, wait)                                                          \
	X(CALL_ON, call_on)                                                    \
	X(PAUSE, pause)                                                        \
	X(RESUME, resume)                                                      \
	X(TRIGGER, trigger)                                                    \
	X(RETRY, retry)

#endif
