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
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A chunk's header keeps its first object 16-aligned; the others are
 * aligned to 8 (sizes are rounded to 8), enough for every type pooled
 * today (pointers and 64-bit integers). */
struct pool_chunk {
	struct pool_chunk *next;
	size_t pad_;
};

struct pool {
	size_t size;
	size_t per_chunk;
	struct pool_chunk *chunks; /* newest first */
	size_t nchunks;
	size_t carved; /* objects handed out of chunks */
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
	if (per_chunk > (SIZE_MAX - sizeof(struct pool_chunk)) / size)
		return NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->size = size;
	p->per_chunk = per_chunk;
	p->carved = per_chunk; /* no chunk to carve from yet */
	return p;
}

static void
pool_release(struct pool *p)
{
	struct pool_chunk *c;

	while ((c = p->chunks) != NULL) {
		p->chunks = c->next;
		free(c);
	}
	p->nchunks = 0;
	p->carved = p->per_chunk;
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
		if (p->carved == p->per_chunk) {
			/* malloc, not calloc: the objects are zeroed as they
			 * are handed out, so untouched pages stay untouched. */
			c = malloc(sizeof(*c) + p->per_chunk * p->size);
			if (c == NULL)
				return NULL;
			c->next = p->chunks;
			p->chunks = c;
			p->nchunks++;
			p->carved = 0;
		}
		obj = (char *)(p->chunks + 1) + p->carved++ * p->size;
	}
	memset(obj, 0, p->size);
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
		p->carved = 0;
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
