/*
 * pool: fixed-size objects carved from large chunks.
 *
 * Pure. Freed objects go on a free list threaded through them, so an
 * object costs its size and nothing more (glibc's malloc adds 8 bytes of
 * header and rounds to 16: 96 bytes for an 80-byte timer), and getting
 * one is a pop. Fresh chunks are carved lazily, so their untouched tail
 * costs address space, not memory; past 16 MiB a pool's new chunks are
 * 2 MiB transparent huge pages (one page fault each), backed whole. Chunks go back to the system only
 * when every object is freed; until then the pool keeps its peak size
 * (as malloc's heap does for small objects).
 *
 * Built with AddressSanitizer, every object is its own calloc, so that
 * use after free is still caught (POOL_USES_MALLOC is then 1).
 */
#ifndef EVD_POOL_H
#define EVD_POOL_H

#include <stddef.h>

#if defined(__SANITIZE_ADDRESS__)
#define POOL_USES_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_USES_MALLOC 1
#endif
#endif
#ifndef POOL_USES_MALLOC
#define POOL_USES_MALLOC 0
#endif

struct pool;

/* A pool of objects of size bytes (aligned to 8), carved per_chunk at a
 * time; NULL when out of memory or size is 0. */
struct pool *pool_new(size_t size, size_t per_chunk);
/* Frees the pool and every chunk: objects still out are gone too.
 * NULL-safe. */
void pool_free(struct pool *p);

/* A zeroed object, or NULL when out of memory. */
void *pool_get(struct pool *p);
/* Gives obj back. NULL-safe. */
void pool_put(struct pool *p, void *obj);

size_t pool_live(const struct pool *p);	  /* objects out */
size_t pool_chunks(const struct pool *p); /* chunks held */

#endif
