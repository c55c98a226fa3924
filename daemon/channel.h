/*
 * channel: named queues of fire messages and their subscribers.
 *
 * A channel is created by its first use (a fire or a subscription).
 * Each message goes to one subscriber (round robin among those with room),
 * which must Ack it within the visibility timeout or it is delivered again
 * (at-least-once; fire_id lets a consumer de-duplicate). A subscriber has
 * at most CHANNEL_PREFETCH unacked messages, and a congested connection
 * is skipped, so a slow consumer cannot make the daemon buffer without
 * bound. With no subscriber, messages wait in the queue, at most
 * CHANNEL_MAX_QUEUED per channel; a fire beyond that is dropped, counted
 * and logged. When a subscriber goes away its unacked messages return to
 * the front of the queue at once.
 *
 * State is in memory until the durable store lands.
 */
#ifndef EVD_CHANNEL_H
#define EVD_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CHANNEL_NAME_MAX 255
#define CHANNEL_PREFETCH 256
#define CHANNEL_MAX_QUEUED 100000
#define CHANNEL_VISIBILITY_NS (30LL * 1000000000)

struct event_base;

/* One fire to be queued; pointers are borrowed and copied. */
struct channel_fire {
	const char *channel;
	uid_t owner;
	uint64_t timer_id;
	uint64_t fire_id;
	const uint8_t *payload;
	size_t payload_len;
	int64_t due_realtime_ns;
	int64_t fired_realtime_ns;
	int64_t lateness_ns;
};

struct channel_stats {
	uint64_t channels;
	uint64_t queued;
	uint64_t inflight;
	uint64_t redelivered_total;
	uint64_t dropped_total;
};

int channel_init(struct event_base *base);
void channel_shutdown(void);

/* True if name is an acceptable channel name: 1..CHANNEL_NAME_MAX bytes,
 * printable ASCII or UTF-8, no spaces or control characters. */
bool channel_name_valid(const char *name);

/* Queues a fire and delivers it if a subscriber has room.
 * Returns 0, -ENOBUFS (queue full: dropped), or -ENOMEM. */
int channel_publish(const struct channel_fire *f);

/* Subscribes a connection. Subscribing twice is not an error. */
int channel_subscribe(uint64_t conn_id, const char *name);

/* Acknowledges a message delivered to conn_id. -ENOENT if conn_id holds
 * no unacked message with that fire id. */
int channel_ack(uint64_t conn_id, uint64_t fire_id);

/* The connection is closing: unsubscribe it and requeue its unacked
 * messages. */
void channel_conn_gone(uint64_t conn_id);

/* The connection's output drained: it may take more messages. */
void channel_conn_drained(uint64_t conn_id);

void channel_get_stats(struct channel_stats *ret);

#endif
