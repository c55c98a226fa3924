/*
 * idmap: a hash map from non-zero 64-bit ids to pointers.
 *
 * Pure. Open addressing with linear probing and backward-shift deletion
 * (no tombstones), so lookups stay short under churn. Grows at 3/4 load,
 * shrinks at 1/8. The map never owns the values.
 */
#ifndef EVD_IDMAP_H
#define EVD_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap;

struct idmap *idmap_new(void);          /* NULL when out of memory */
void idmap_free(struct idmap *m);       /* NULL-safe; values untouched */

/* Adds key -> val. Returns 0, -EINVAL (key 0 or val NULL), -EEXIST,
 * or -ENOMEM (the map is unchanged). */
int idmap_put(struct idmap *m, uint64_t key, void *val);
/* The value for key, or NULL. */
void *idmap_get(const struct idmap *m, uint64_t key);
/* Removes key; returns its value, or NULL if absent. */
void *idmap_del(struct idmap *m, uint64_t key);
size_t idmap_size(const struct idmap *m);

/*
 * Iteration in no particular order: start with *iter = 0; each call returns
 * the next value (and its key in *ret_key if not NULL), or NULL at the end.
 * The map must not be modified during an iteration.
 */
void *idmap_next(const struct idmap *m, size_t *iter, uint64_t *ret_key);

#endif
