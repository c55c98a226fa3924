/*
 * strmap: a hash map from byte-string keys to pointers.
 *
 * Pure. The map copies keys (so callers may pass borrowed, not
 * NUL-terminated bytes) and never owns the values. Open addressing with
 * backward-shift deletion; grows at 3/4 load, shrinks at 1/8.
 */
#ifndef EVD_STRMAP_H
#define EVD_STRMAP_H

#include <stddef.h>

struct strmap;

struct strmap *strmap_new(void);       /* NULL when out of memory */
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

#endif
