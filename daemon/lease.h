/*
 * lease: whether this node may still act on the timers it claimed from a
 * store shared with other nodes (DESIGN.md "Scale-out"), judged by its
 * own heartbeats. Pure: no I/O, no clock of its own; every time is a
 * reading of CLOCK_MONOTONIC that the caller passes in, and the store's
 * heartbeat tells it what the database saw.
 *
 * Peers reap a node's claims once its heartbeat row is older than the
 * death threshold D on the database's clock. A node cannot read that
 * clock, only measure intervals, so it proves its claims with what it
 * sent: a heartbeat sent at s and acknowledged means the row was fresh
 * at some instant no earlier than s, so no peer can reap before s + D
 * (on a clock that runs at the same rate); the node stops at s + D - M,
 * M covering the difference in rates and the time a fire takes to leave.
 * That is safe_until, and only a chain of heartbeats extends it:
 *
 *   - a heartbeat counts only if it was sent before the current
 *     safe_until; one sent after it lapsed proves nothing about the gap,
 *     in which a peer may have reaped and fired what this node holds;
 *   - the database itself says whether the node's row was still fresh
 *     when the heartbeat arrived (continuous); a heartbeat delayed past
 *     D on its way was a gap too, whatever it says locally.
 *
 * After a gap every claim made before it is void (the epoch changes):
 * the node drops them unfired, peers have them or will. A claim is good
 * while its epoch is current, the lease is live, and its own claim lease
 * (T, the time peers wait before they may take an unfinished claim, on
 * the database's clock from the claim) has more than M left, counted
 * from when the claim was sent.
 *
 * Thread-safety: none; one owner (the loop that fires claimed timers).
 */
#ifndef EVD_LEASE_H
#define EVD_LEASE_H

#include <stdbool.h>
#include <stdint.h>

struct lease;

struct lease_config {
	int64_t death_ns;  /* D: a node silent this long may be reaped */
	int64_t margin_ns; /* M: stop this long before a peer may act */
	int64_t claim_ns;  /* T: a claim's own lease */
};

/* A new lease that has proved nothing yet (not live, epoch 0). Returns
 * NULL on -ENOMEM or a config that cannot work (D <= M or T <= M): the
 * node would never be live. */
struct lease *lease_new(const struct lease_config *cfg);
void lease_free(struct lease *l);

/*
 * A heartbeat sent at sent_ns came back: continuous says the database
 * found this node's row fresh (seen within D) when it arrived. Returns
 * true if it began a new epoch (a gap: the caller drops every claim of
 * the old one and releases what it holds), false if it only extended
 * the lease. A heartbeat older than the newest one counted changes
 * nothing (replies may come back out of order).
 */
bool lease_heartbeat_ok(struct lease *l, int64_t sent_ns, bool continuous);

/* Whether the node may fire anything at now_ns. */
bool lease_live(const struct lease *l, int64_t now_ns);

/* The current epoch: a claim records it when it is sent. */
uint64_t lease_epoch(const struct lease *l);

/* Whether a claim sent at claimed_ns in epoch may still be fired at
 * now_ns. */
bool lease_claim_ok(const struct lease *l, uint64_t epoch,
                    int64_t claimed_ns, int64_t now_ns);

/* Until when (monotonic ns) the node may act; 0 before the first
 * heartbeat. The caller arms a timer for it, to drop claims on time. */
int64_t lease_safe_until(const struct lease *l);

/* Gaps seen since lease_new (the metrics' lease lapses). */
uint64_t lease_gaps(const struct lease *l);

#endif
