/*
 * lease: self-fencing of a node's claims by its heartbeats (lease.h).
 *
 * Invariants: safe_until only grows within an epoch; newest_sent is the
 * send time of the newest heartbeat counted (so replies that arrive out
 * of order cannot move anything back); safe_until is 0 until the first
 * heartbeat counts, and a node with safe_until 0 is not live.
 */
#include "lease.h"

#include <stdlib.h>

struct lease {
	struct lease_config cfg;
	int64_t safe_until;
	int64_t newest_sent;
	uint64_t epoch;
	uint64_t gaps;
	bool counted; /* a heartbeat has counted */
};

struct lease *
lease_new(const struct lease_config *cfg)
{
	struct lease *l;

	if (cfg->margin_ns < 0 || cfg->death_ns <= cfg->margin_ns ||
	    cfg->claim_ns <= cfg->margin_ns)
		return NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->cfg = *cfg;
	return l;
}

void
lease_free(struct lease *l)
{
	free(l);
}

bool
lease_heartbeat_ok(struct lease *l, int64_t sent_ns, bool continuous)
{
	int64_t until = sent_ns + l->cfg.death_ns - l->cfg.margin_ns;
	bool gap;

	if (l->counted && sent_ns <= l->newest_sent)
		return false;
	/* The first heartbeat starts epoch 1 without a gap: nothing was
	 * claimed before it could be fired (the lease was not live). */
	gap = l->counted && (!continuous || sent_ns >= l->safe_until);
	if (gap || !l->counted) {
		l->epoch++;
		l->gaps += gap;
		l->safe_until = until;
	} else if (until > l->safe_until) {
		l->safe_until = until;
	}
	l->newest_sent = sent_ns;
	l->counted = true;
	return gap;
}

bool
lease_live(const struct lease *l, int64_t now_ns)
{
	return l->counted && now_ns < l->safe_until;
}

uint64_t
lease_epoch(const struct lease *l)
{
	return l->epoch;
}

bool
lease_claim_ok(const struct lease *l, uint64_t epoch, int64_t claimed_ns,
               int64_t now_ns)
{
	return epoch == l->epoch && lease_live(l, now_ns) &&
	       now_ns < claimed_ns + l->cfg.claim_ns - l->cfg.margin_ns;
}

int64_t
lease_safe_until(const struct lease *l)
{
	return l->counted ? l->safe_until : 0;
}

uint64_t
lease_gaps(const struct lease *l)
{
	return l->gaps;
}
