/*
 * pool: fixed-size objects from large chunks (see pool.h).
 *
 * Owns its chunks. Pure: no I/O, no logging.
 *
 * Invariants: every object ever handed out lies in a chunk of the
 * list; a free object starts with the pointer to the next free one;
 * objects of the newest chunk at or past `carved` were never handed
 * out (or all were given back and it started over); live counts
 * objects out.
 */
#include "pool.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/*
 * Past POOL_HUGE_AFTER bytes of chunks, a pool is a big one (a million
 * timers): its new chunks are POOL_HUGE bytes, mapped on their own at a
 * POOL_HUGE boundary and advised as transparent huge pages, so filling
 * them costs one page fault per 2 MiB instead of 512 (most of the cost
 * of loading a million timers in a VM, where a fault is expensive). A
 * huge chunk is backed whole at its first touch; at that size it is at
 * most 1/8 of the pool, and a small pool never has one.
 */
#define POOL_HUGE ((size_t)2 << 20)
#define POOL_HUGE_AFTER ((size_t)16 << 20)

/* A chunk's header keeps its first object 16-aligned; the others are
 * aligned to 8 (sizes are rounded to 8), enough for every type pooled
 * today (pointers and 64-bit integers). */
struct pool_chunk {
	struct pool_chunk *next;
	uint32_t cap;    /* objects it holds */
	uint32_t mapped; /* a huge chunk (munmap), else malloc'd */
};

struct pool {
	size_t size;
	size_t per_chunk;
	struct pool_chunk *chunks; /* newest first */
	size_t nchunks;
	size_t capacity; /* objects all chunks hold */
	size_t carved;   /* objects handed out of the newest chunk */
	bool zeroed;     /* its objects past carved are zeroes (mapped) */
	void *free;    /* free list */
	size_t live;
};

struct pool *
pool_new(size_t size, size_t per_chunk)
{
	struct pool *p;

	if (size == 0 || per_chunk == 0)
		return NULL;
	size = (size + 7) & ~(size_t)7;
	if (size < sizeof(void *))
		size = sizeof(void *);
	if (per_chunk > UINT32_MAX ||
	    per_chunk > (SIZE_MAX - sizeof(struct pool_chunk)) / size)
		return NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->size = size;
	p->per_chunk = per_chunk;
	return p;
}

static void
pool_release(struct pool *p)
{
	struct pool_chunk *c;

	while ((c = p->chunks) != NULL) {
		p->chunks = c->next;
		if (c->mapped)
			munmap(c, POOL_HUGE);
		else
			free(c);
	}
	p->nchunks = 0;
	p->capacity = 0;
	p->carved = 0;
	p->free = NULL;
}

void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	pool_release(p);
	free(p);
}

/* A huge chunk (see POOL_HUGE), or NULL to fall back to malloc. */
static struct pool_chunk *
pool_chunk_huge(const struct pool *p)
{
	uintptr_t a;
	char *map;
	size_t head;

	if (p->capacity * p->size < POOL_HUGE_AFTER ||
	    p->size > (POOL_HUGE - sizeof(struct pool_chunk)) / 2)
		return NULL;
	/* Twice the size, then trimmed to the aligned part. */
	map = mmap(NULL, 2 * POOL_HUGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)map + POOL_HUGE - 1) & ~(uintptr_t)(POOL_HUGE - 1);
	head = a - (uintptr_t)map;
	if (head > 0)
		munmap(map, head);
	if (POOL_HUGE - head > 0)
		munmap((char *)a + POOL_HUGE, POOL_HUGE - head);
	/* Only advice: without huge pages it is an ordinary mapping. */
	(void)madvise((void *)a, POOL_HUGE, MADV_HUGEPAGE);
	return (struct pool_chunk *)a;
}

void *
pool_get(struct pool *p)
{
	struct pool_chunk *c;
	void *obj;

	if (POOL_USES_MALLOC) {
		if ((obj = calloc(1, p->size)) != NULL)
			p->live++;
		return obj;
	}
	if ((obj = p->free) != NULL) {
		memcpy(&p->free, obj, sizeof(void *));
	} else {
		if (p->chunks == NULL || p->carved == p->chunks->cap) {
			if ((c = pool_chunk_huge(p)) != NULL) {
				c->cap = (uint32_t)((POOL_HUGE - sizeof(*c)) /
						    p->size);
				c->mapped = 1;
			} else {
				/* malloc, not calloc: the objects are zeroed
				 * as they are handed out, so untouched pages
				 * stay untouched. */
				c = malloc(sizeof(*c) + p->per_chunk * p->size);
				if (c == NULL)
					return NULL;
				c->cap = (uint32_t)p->per_chunk;
				c->mapped = 0;
			}
			p->capacity += c->cap;
			p->zeroed = c->mapped;
			c->next = p->chunks;
			p->chunks = c;
			p->nchunks++;
			p->carved = 0;
		}
		obj = (char *)(p->chunks + 1) + p->carved++ * p->size;
		/* A mapping's never-used objects are the kernel's zeroes
		 * (and writing them would only fault them in sooner). */
		if (p->zeroed)
			goto out;
	}
	memset(obj, 0, p->size);
out:
	p->live++;
	return obj;
}

void
pool_put(struct pool *p, void *obj)
{
	if (obj == NULL)
		return;
	p->live--;
	if (POOL_USES_MALLOC) {
		free(obj);
		return;
	}
	if (p->live == 0 && p->nchunks > 1) {
		/* The last object: give every chunk back but the newest,
		 * which starts over, so that a pool hovering around one
		 * object does not map and unmap a chunk each time. */
		struct pool_chunk *keep = p->chunks;

		p->chunks = keep->next;
		pool_release(p);
		keep->next = NULL;
		p->chunks = keep;
		p->nchunks = 1;
		p->capacity = keep->cap;
		p->carved = 0;
		p->zeroed = false; /* used: its objects are not zeroes */
		return;
	}
	memcpy(obj, &p->free, sizeof(void *));
	p->free = obj;
}

size_t
pool_live(const struct pool *p)
{
	return p->live;
}

size_t
pool_chunks(const struct pool *p)
{
	return p->nchunks;
}
