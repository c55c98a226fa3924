/*
 * store_out: a durable store's tally of retained run output per uid,
 * what output_changes() (store.h) reports.
 *
 * A store keeps two: the open transaction's changes (pending), and the
 * committed ones not reported yet (done). Each holds one entry per uid
 * touched, so its size is bounded by the uids that own runs, not by
 * the writes. The store owns both (embedded in its struct) and frees
 * them with store_out_free. Pure: no I/O, no logging; not thread-safe
 * (the store's loop thread only).
 */
#ifndef EVD_STORE_OUT_H
#define EVD_STORE_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store.h"

struct store_out_entry {
	uid_t uid;
	int64_t bytes; /* < 0: released */
};

/* Zero-initialised is empty. Setting n to 0 empties it (a rollback). */
struct store_out {
	struct store_out_entry *e;
	size_t n, cap;
};

/* Adds bytes to uid's entry (made if need be; 0 bytes changes nothing).
 * Returns 0 or -ENOMEM (o unchanged). */
int store_out_add(struct store_out *o, uid_t uid, int64_t bytes);

/* The pending transaction committed: its entries are folded into done.
 * On -ENOMEM those not folded stay in pending, folded in next time. */
void store_out_settle(struct store_out *pending, struct store_out *done);

/* Hands each entry of done to cb (newest entry first; entries of 0
 * bytes are skipped) and removes it; stops at cb's first < 0, which is
 * returned (that entry is gone; those after it stay). */
int store_out_report(struct store_out *done, store_output_cb cb, void *arg);

/* Releases o's memory and empties it. */
void store_out_free(struct store_out *o);

#endif
