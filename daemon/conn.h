/*
 * conn: one client connection.
 *
 * A conn owns its socket, a flat input buffer in which whole frames are
 * decoded in place, and an output evbuffer. Replies and events are packed
 * straight into the output buffer and written once per loop callback
 * (conn_flush_all), so a pipelined batch of requests costs one read and
 * one write, not one per frame.
 *
 * Limits: a frame body above the configured maximum, a zero length or an
 * undecodable body is a protocol error that closes only this conn; a
 * frame not complete frame_timeout after its first byte closes it too.
 * When output passes CONN_OUT_HIGH the conn stops reading requests until
 * it drains below CONN_OUT_LOW, and it is closed unless the client takes
 * CONN_OUT_LOW bytes within every frame_timeout meanwhile; events beyond
 * CONN_OUT_MAX (a client that never reads) close it at once. Memory per
 * client, and how long a client can hold it, are therefore bounded.
 *
 * Lifetime: other modules refer to a conn by its 64-bit id (conn_lookup),
 * never by a pointer kept across loop turns. conn_close() unlinks the conn
 * at once (its id no longer resolves) and frees it on the next loop turn,
 * so a callback higher on the stack never touches freed memory.
 */
#ifndef EVD_CONN_H
#define EVD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "evd.pb-c.h"
#include "peer.h"

#define CONN_OUT_LOW (256u * 1024u)
#define CONN_OUT_HIGH (4u * 1024u * 1024u)
#define CONN_OUT_MAX (32u * 1024u * 1024u)

struct event_base;
struct evbuffer;
struct conn;

/*
 * Who is at the other end of a conn, as the request layer gets it with
 * every frame: by value, so that nothing above conn asks a conn about
 * its peer. The pointers are the conn's: valid while the frame is
 * handled. greeted: Hello was answered (conn_set_greeted).
 */
struct conn_peer {
	uint64_t conn_id;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	const gid_t *groups; /* supplementary groups; may be none */
	size_t ngroups;
	const struct peer_id *name; /* PEER_UNRESOLVED where not looked up */
	bool greeted;
};

/*
 * What a conn calls above it, given at conn_init (the bufferevent_setcb
 * way): conn knows no request, timer or channel. The request calls are
 * dispatch's (dispatch.h says what each does and returns), with c's peer
 * by value and c only to answer on: frame runs a body from c; with
 * several loops, decode says which loop serves it, run
 * or discard then finish it, and merge answers a request every loop
 * served. gone: the conn with this id is closed, so what was bound to it
 * goes (for a proxy of another loop's client too); drained: its output
 * went below CONN_OUT_LOW, so it may take more events.
 */
struct conn_ops {
	int (*frame)(struct conn *c, struct conn_peer peer, const uint8_t *body,
	             size_t len);
	int (*decode)(struct conn_peer peer, const uint8_t *body, size_t len,
	              int *ret_route);
	int (*run)(struct conn *c, struct conn_peer peer);
	void (*discard)(void);
	int (*merge)(struct conn *c, struct conn_peer peer, const uint8_t *body,
	             size_t len, struct evbuffer *const *parts, unsigned n);
	void (*gone)(uint64_t conn_id);
	void (*drained)(uint64_t conn_id);
};

/* ops: borrowed, must outlive the loop. max_frame: the largest request
 * body accepted; frame_timeout_ms: how long a frame may take from its
 * first byte to its last, and the period in which a client above the
 * output mark must take CONN_OUT_LOW bytes. */
int conn_init(struct event_base *base, const struct conn_ops *ops,
              size_t max_frame, unsigned frame_timeout_ms);
/* Closes every connection (at shutdown). */
void conn_shutdown(void);

/* Adopts an accepted, non-blocking socket; resolved: its peer's name was
 * looked up already (peer.h), else a system instance may hand fd to the
 * lookup thread first, which brings it back through the loop's inbox.
 * On failure the fd is closed and -errno returned. */
int conn_new(int fd, bool resolved);

/* Reads nothing more from c; closes it once what it is owed (replies
 * committed this iteration included) is written. why: for the log, a
 * static string. */
void conn_close_after_output(struct conn *c, const char *why);

/* Connections one non-root uid may hold across every loop
 * (max_connections_per_uid; 0: no bound). Any thread. */
void conn_set_uid_limit(uint32_t limit);

struct conn *conn_lookup(uint64_t id);
uint64_t conn_id(const struct conn *c);
/* c's peer, as the request layer gets it (see struct conn_peer). */
struct conn_peer conn_peer_of(const struct conn *c);
void conn_set_greeted(struct conn *c);

/*
 * Packs r into the output buffer. Returns 0, or -ENOBUFS if that pushed the
 * output past CONN_OUT_MAX (the conn is then closed), or -ENOMEM.
 */
int conn_send(struct conn *c, const Evd__Reply *r);
/* As conn_send, for the reply to a request that wrote to the store: if
 * this iteration's commit fails, conn_batch_end() turns it into an
 * UNAVAILABLE error with the same request id. */
int conn_send_durable(struct conn *c, const Evd__Reply *r);

/* Rewrites the durable reply with this request id that c was sent in
 * this iteration (not flushed yet: before conn_batch_end) into an error
 * (code, why): a write found, at the commit, not to have happened for
 * that request alone (cluster mode's acks). 0, or -ENOENT if there is
 * no such reply, -ENOMEM (c is then closed). */
int conn_fail_reply(struct conn *c, bool has_request_id, uint64_t request_id,
                    int code, const char *why);

/* The iteration's store batch ended. lost > 0: the batches of the last
 * lost iterations (this one included) were lost (batch_lost()), and the
 * durable replies they sent, which have not left yet, are rewritten as
 * errors carrying why. Call once per iteration, before conn_flush_all(). */
void conn_batch_end(uint64_t lost, const char *why);

/*
 * Output held for durability (batch.h): the output every conn marked for
 * flushing got since the last call waits for generation gen of the
 * store's flushes (0: nothing to wait for, it may all go). Call after
 * conn_batch_end, before conn_flush_all.
 */
void conn_hold(uint64_t gen);
/* Generations up to gen are durable: what waited for them may go. */
void conn_release(uint64_t gen);

/* True once the conn is on its way out (half-closed by the peer, or a
 * protocol error): it takes no new work. */
bool conn_closing(const struct conn *c);

/* True while the conn's output is above the high-water mark. */
bool conn_congested(struct conn *c);

/* Unlinks the conn now and frees it on the next loop turn. */
void conn_close(struct conn *c, const char *why);

/* Writes the pending output of every conn that has some, as far as no
 * hold keeps it (conn_hold). The loop calls it once per iteration, after
 * the store commit: no reply leaves before what it acknowledges is
 * durable. */
void conn_flush_all(void);

size_t conn_count(void);

/* At shutdown: keeps writing what connections are owed until it is all
 * sent or timeout_ms passed (a client that does not read cannot hold
 * the daemon up longer). */
void conn_drain(int timeout_ms);

/* Multi-loop: this loop's inbox handler (shard_attach): new connections,
 * forwarded requests run on proxies, their output for clients here, and
 * the end or drain of clients elsewhere. Owns m. */
struct shard_msg;
void conn_shard_msg(struct shard_msg *m);
/* Frees a message this module made or was given, with the reference it
 * may hold to its client's shared counters; NULL-safe. Also the inbox's
 * release for messages no handler saw (shard_attach). */
void conn_msg_free(struct shard_msg *m);

#endif
