/*
 * shard: the loops of a multi-loop evd (--threads N) and the messages
 * between them.
 *
 * Each loop runs in its own thread with its own event base and its own
 * instance of every per-loop module (conn, dispatch, sched, wait, channel,
 * hook, batch: their state is thread-local). A loop owns the connections
 * it accepted and the timers they schedule for themselves (a message to
 * the calling connection: ephemeral, so they die with it anyway). Loop 0
 * also owns everything shared: the store, channels and subscriptions,
 * exec hooks, keyed and durable timers, the listening socket, signals and
 * systemd notification.
 *
 * Loops share no mutable state except through this module's inboxes
 * (a mutex-protected queue each, woken through an eventfd), the quota
 * table and the lateness histogram (which have their own locks). Each
 * event base is only ever touched by its own thread. A request for something another loop
 * owns is forwarded there as its frame, run on a proxy of the client's
 * connection, and its reply travels back after that loop's commit
 * (conn.c). With one loop (the default) none of this runs.
 *
 * Ids: loop k hands out timer and fire ids in (k << 48, (k + 1) << 48),
 * so the owner of an id is id >> 48; loop 0's range is the single-loop
 * range, which keeps stored ids valid whatever the loop count.
 */
#ifndef EVD_SHARD_H
#define EVD_SHARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>

#include "peer.h"

#define SHARD_MAX 16
#define SHARD_ID_BITS 48

/* The number of loops (1 until shard_setup). Any thread. */
unsigned shard_count(void);
/* The calling thread's loop (0 in the main thread). */
unsigned shard_self(void);
/* The first id below loop k's range; loop k's ids are above it. */
uint64_t shard_id_base(unsigned k);
/* The loop owning a timer id: the range it is in, 0 for ids of no loop
 * (loop 0 then answers NOT_FOUND). */
unsigned shard_of_id(uint64_t id);

/*
 * Call first, in the main thread, before any other loop starts: sets the
 * loop count and makes the inboxes. Returns 0, -EINVAL (n out of
 * 1..SHARD_MAX), -ENOMEM or -errno from eventfd.
 */
int shard_setup(unsigned n);

enum shard_msg_kind {
	SHARD_MSG_CONN,    /* fd: a connection accepted for this loop */
	SHARD_MSG_FORWARD, /* frames to run for (from, conn_id) */
	SHARD_MSG_OUTPUT,  /* bytes for conn_id, nreplies of them replies */
	SHARD_MSG_GONE,    /* (from, conn_id) closed: drop its proxy */
	SHARD_MSG_DRAINED, /* conn_id's output drained: resume deliveries */
};

struct conn_link;

/* One message between loops. The poster fills it and gives it up with
 * shard_post; the receiving loop's handler owns it then and frees it
 * with shard_msg_free. */
struct shard_msg {
	struct shard_msg *next;
	enum shard_msg_kind kind;
	unsigned from;          /* the posting loop */
	uint64_t conn_id;       /* FORWARD/GONE: the sender's connection;
	                           OUTPUT/DRAINED: the receiver's */
	int fd;                 /* CONN */
	bool resolved;          /* CONN: its peer was looked up (peer.h) */
	struct peer_id peer;    /* FORWARD: who the client is */
	struct evbuffer *buf;   /* FORWARD: frames; OUTPUT: bytes */
	uint32_t nreplies;      /* FORWARD: frames; OUTPUT: replies in buf */
	bool gather;            /* FORWARD/OUTPUT: one part of a merged reply */
	bool close;             /* OUTPUT: the proxy closed; close too */
	struct conn_link *link; /* FORWARD: the sender's shared counters */
	uid_t uid;              /* FORWARD: the client's credentials */
	gid_t gid;
	pid_t pid;
	gid_t *groups;          /* FORWARD: owned copy */
	size_t ngroups;
	char why[96];           /* OUTPUT with close */
};

/* A zeroed message with an empty buf, or NULL without memory. */
struct shard_msg *shard_msg_new(enum shard_msg_kind kind);
void shard_msg_free(struct shard_msg *m); /* NULL-safe; closes a CONN fd */

/* Queues m for loop to (which may be the caller's) and wakes it. Any
 * thread; never blocks on the receiver's work. */
void shard_post(unsigned to, struct shard_msg *m);

/*
 * In each loop's thread, once its modules are set up: the inbox on base,
 * handled by handler (which owns each message it is given); release
 * frees what is still queued at shard_detach. Returns 0 or -ENOMEM.
 */
int shard_attach(struct event_base *base,
                 void (*handler)(struct shard_msg *),
                 void (*release)(struct shard_msg *));
/* In each loop's thread before it exits: frees what is still queued. */
void shard_detach(void);

/*
 * Starts loops 1..n-1, each a thread running body(k) with every signal
 * blocked (signals belong to loop 0). body reports shard_ready() once it
 * serves, or shard_failed(why). Returns 0 when all are ready, or -errno
 * with the first failure in why.
 */
int shard_start(void (*body)(unsigned), char *why, size_t why_size);
void shard_ready(void);
void shard_failed(const char *why);
/* True once the loops are told to stop (checked by each loop's body). */
bool shard_stopping(void);
/* Tells loops 1..n-1 to stop and waits for their threads. Main thread. */
void shard_stop(void);

/* Round-robin: the loop the next accepted connection goes to. */
unsigned shard_next_conn(void);

/* Counters each loop publishes at the end of its iteration, so any loop
 * can answer Stats for all. */
struct shard_counters {
	uint64_t pending;
	uint64_t scheduled_total;
	uint64_t fired_total;
	uint64_t cancelled_total;
	uint64_t connections;
};
void shard_publish(const struct shard_counters *c);
/* The sum over every loop but the caller's of what they last published. */
void shard_sum_others(struct shard_counters *ret);

#endif
