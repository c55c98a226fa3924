/*
 * strmap: a hash map from byte-string keys to pointers.
 *
 * Pure but for the process's hash key (hashkey.h). The map copies keys
 * (so callers may pass borrowed, not NUL-terminated bytes) and never owns
 * the values. Open addressing with backward-shift deletion; grows at 3/4
 * load, shrinks at 1/8. Keys are hashed with SipHash-2-4 under a secret
 * key, so keys a client picks cannot be made to share a probe run: the
 * runs stay as short as for random keys.
 */
#ifndef EVD_STRMAP_H
#define EVD_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "siphash.h"

struct strmap;

/* Hashes under the process's key; NULL when out of memory or when the
 * key cannot be made (hashkey_init failed). */
struct strmap *strmap_new(void);
/* Hashes under key (copied): tests, which need to know where keys land. */
struct strmap *strmap_new_keyed(const uint8_t key[SIPHASH_KEY_LEN]);
void strmap_free(struct strmap *m);    /* NULL-safe; values untouched */

/* Adds key -> val. Returns 0, -EINVAL (val NULL), -EEXIST or -ENOMEM. */
int strmap_put(struct strmap *m, const void *key, size_t key_len, void *val);
void *strmap_get(const struct strmap *m, const void *key, size_t key_len);
/* Removes key; returns its value, or NULL if absent. */
void *strmap_del(struct strmap *m, const void *key, size_t key_len);
size_t strmap_size(const struct strmap *m);

/* Iteration as idmap_next(); the key pointer stays valid until the entry
 * is removed. The map must not be modified during an iteration. */
void *strmap_next(const struct strmap *m, size_t *iter,
                  const void **ret_key, size_t *ret_key_len);

/* The most slots any lookup of a present key visits (1: every key sits
 * in its home slot; 0: empty map). O(capacity): for tests and debugging,
 * a measure of clustering that does not depend on the machine's speed. */
size_t strmap_max_probe(const struct strmap *m);

#endif
