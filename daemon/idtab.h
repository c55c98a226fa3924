/*
 * idtab: non-zero 64-bit ids to pointers, for ids handed out densely in
 * increasing order (timer ids).
 *
 * Pure. A radix tree of 64-way nodes, like a page table: a lookup is one
 * load per level (4 levels up to 16.7M, 5 up to 1G), with no hashing,
 * and iteration walks ids in order. A dense run of ids costs 8.1 bytes
 * each (vs 16 bytes per slot at up to 3/4 load for idmap). A node is
 * freed as soon as it is empty; the cost is sparse survivors: one id
 * left alone in its run of 64 keeps a leaf of 520 bytes. Nodes come from
 * a pool (pool.h), so freed ones are reused but the pool keeps its peak
 * until the table is empty. The tree never owns the values.
 */
#ifndef EVD_IDTAB_H
#define EVD_IDTAB_H

#include <stddef.h>
#include <stdint.h>

struct idtab;

struct idtab *idtab_new(void);	  /* NULL when out of memory */
/* A table for ids above base only (a loop's id range, shard.h): they are
 * stored as id - base, so a range far from 0 costs no extra levels. Ids
 * at or below base are refused (put: -EINVAL) and never found. */
struct idtab *idtab_new_at(uint64_t base);
void idtab_free(struct idtab *t); /* NULL-safe; values untouched */

/* Adds id -> val. Returns 0, -EINVAL (id 0 or val NULL), -EEXIST, or
 * -ENOMEM (the mapping is unchanged). */
int idtab_put(struct idtab *t, uint64_t id, void *val);
/* The value for id, or NULL. */
void *idtab_get(const struct idtab *t, uint64_t id);
/* Removes id; returns its value, or NULL if absent. */
void *idtab_del(struct idtab *t, uint64_t id);
size_t idtab_size(const struct idtab *t);

/* The value with the smallest id greater than after (its id in *ret_id),
 * or NULL if there is none. Removing the returned id before the next
 * call is fine: iteration holds no state. */
void *idtab_next(const struct idtab *t, uint64_t after, uint64_t *ret_id);

/* The number of tree nodes allocated (for tests: empty nodes are freed). */
size_t idtab_nodes(const struct idtab *t);

#endif
