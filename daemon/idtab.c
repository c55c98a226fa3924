/*
 * idtab: a radix tree from ids to pointers (see idtab.h).
 *
 * Owns its nodes; never the values. Pure: no I/O, no logging.
 *
 * Invariants:
 *	a node at height h (leaves: 0) indexes bits [6h, 6h + 6) of an id;
 *	the root has height `height` and covers ids < 2^(6 (height + 1));
 *	every node's count is its number of non-NULL slots, and no node
 *	but a NULL root is empty: a node whose count drops to 0 is freed
 *	and its parent's slot cleared;
 *	root == NULL iff len == 0 (height is then 0).
 */
#include "idtab.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "pool.h"

#define IDTAB_BITS 6
#define IDTAB_FAN (1u << IDTAB_BITS)
#define IDTAB_MASK (IDTAB_FAN - 1)
/* 11 levels of 6 bits cover all 64 bits of an id. */
#define IDTAB_MAX_HEIGHT 10
/* Nodes come from a pool, this many per chunk (130 KB): no malloc
 * header, and no transient allocation between them to fragment the
 * heap (with malloc, 10M ids cost 3.6 B/id of holes on top). */
#define IDTAB_POOL_CHUNK 256

struct idtab_node {
	uint32_t count;
	void *slot[IDTAB_FAN];
};

struct idtab {
	struct pool *pool;
	struct idtab_node *root;
	unsigned height;
	size_t len;
	size_t nodes;
	uint64_t base; /* ids are stored as id - base (see idtab_new_at) */
};

/* True if id fits under a root of height h. */
static bool
idtab_fits(unsigned h, uint64_t id)
{
	unsigned bits = IDTAB_BITS * (h + 1);

	return bits >= 64 || (id >> bits) == 0;
}

static unsigned
idtab_index(unsigned h, uint64_t id)
{
	return (unsigned)(id >> (IDTAB_BITS * h)) & IDTAB_MASK;
}

struct idtab *
idtab_new(void)
{
	return idtab_new_at(0);
}

struct idtab *
idtab_new_at(uint64_t base)
{
	struct idtab *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->base = base;
	if ((t->pool = pool_new(sizeof(struct idtab_node), IDTAB_POOL_CHUNK)) ==
	    NULL) {
		free(t);
		return NULL;
	}
	return t;
}

static void
idtab_free_node(struct idtab *t, struct idtab_node *n, unsigned h)
{
	unsigned i;

	if (h > 0)
		for (i = 0; i < IDTAB_FAN; i++)
			if (n->slot[i] != NULL)
				idtab_free_node(t, n->slot[i], h - 1);
	pool_put(t->pool, n);
}

void
idtab_free(struct idtab *t)
{
	if (t == NULL)
		return;
	if (t->root != NULL)
		idtab_free_node(t, t->root, t->height);
	pool_free(t->pool);
	free(t);
}

static void *
idtab_get_key(const struct idtab *t, uint64_t id)
{
	const struct idtab_node *n = t->root;
	unsigned h = t->height;

	if (n == NULL || !idtab_fits(h, id))
		return NULL;
	for (; h > 0; h--)
		if ((n = n->slot[idtab_index(h, id)]) == NULL)
			return NULL;
	return n->slot[idtab_index(0, id)];
}

static int
idtab_put_key(struct idtab *t, uint64_t id, void *val)
{
	struct idtab_node *spare[IDTAB_MAX_HEIGHT + 1], *n, *root;
	unsigned h, nspare = 0, need = 0;

	if (id == 0 || val == NULL)
		return -EINVAL;
	if (t->root == NULL) {
		t->height = 0;
		while (!idtab_fits(t->height, id))
			t->height++;
	}
	/* Grow upwards: the old root becomes slot 0 of a new one. Each step
	 * leaves a valid tree, so failing half-way loses nothing. */
	while (!idtab_fits(t->height, id)) {
		if ((root = pool_get(t->pool)) == NULL)
			return -ENOMEM;
		root->slot[0] = t->root;
		root->count = 1;
		t->root = root;
		t->height++;
		t->nodes++;
	}
	/* Count and allocate the missing nodes first (one per level below
	 * the deepest existing one), so a failure leaves no empty node. */
	if (t->root == NULL)
		need = t->height + 1;
	for (n = t->root, h = t->height; n != NULL; h--) {
		if (h == 0) {
			if (n->slot[idtab_index(0, id)] != NULL)
				return -EEXIST;
			break;
		}
		if ((n = n->slot[idtab_index(h, id)]) == NULL)
			need = h;
	}
	for (nspare = 0; nspare < need; nspare++) {
		if ((spare[nspare] = pool_get(t->pool)) == NULL) {
			while (nspare > 0)
				pool_put(t->pool, spare[--nspare]);
			return -ENOMEM;
		}
	}
	t->nodes += need;
	if (t->root == NULL)
		t->root = spare[--nspare];
	n = t->root;
	for (h = t->height; h > 0; h--) {
		struct idtab_node **child =
		    (struct idtab_node **)&n->slot[idtab_index(h, id)];

		if (*child == NULL) {
			*child = spare[--nspare];
			n->count++;
		}
		n = *child;
	}
	n->slot[idtab_index(0, id)] = val;
	n->count++;
	t->len++;
	return 0;
}

static void *
idtab_del_key(struct idtab *t, uint64_t id)
{
	struct idtab_node *path[IDTAB_MAX_HEIGHT + 1], *n = t->root;
	unsigned h = t->height, i;
	void *val;

	if (n == NULL || !idtab_fits(h, id))
		return NULL;
	for (;; h--) {
		path[h] = n;
		if (h == 0)
			break;
		if ((n = n->slot[idtab_index(h, id)]) == NULL)
			return NULL;
	}
	i = idtab_index(0, id);
	if ((val = n->slot[i]) == NULL)
		return NULL;
	n->slot[i] = NULL;
	t->len--;
	/* Free the nodes this emptied, bottom up. */
	for (h = 0; h <= t->height; h++) {
		n = path[h];
		if (h > 0)
			n->slot[idtab_index(h, id)] = NULL;
		if (--n->count > 0)
			break;
		pool_put(t->pool, n);
		t->nodes--;
		if (h == t->height) {
			t->root = NULL;
			t->height = 0;
			return val;
		}
	}
	/* A root left with only slot 0 is one level too many. */
	while (t->height > 0 && t->root->count == 1 &&
	       t->root->slot[0] != NULL) {
		n = t->root;
		t->root = n->slot[0];
		t->height--;
		t->nodes--;
		pool_put(t->pool, n);
	}
	return val;
}

size_t
idtab_size(const struct idtab *t)
{
	return t->len;
}

size_t
idtab_nodes(const struct idtab *t)
{
	return t->nodes;
}

/* The first value in n (height h, first id base) with id >= from. */
static void *
idtab_next_in(const struct idtab_node *n, unsigned h, uint64_t base,
	      uint64_t from, uint64_t *ret_id)
{
	unsigned shift = IDTAB_BITS * h, i, end = IDTAB_FAN;
	void *v;

	/* The top level of a full-height tree only uses 64 - 60 bits. */
	if (shift + IDTAB_BITS > 64)
		end = 1u << (64 - shift);
	i = from <= base ? 0 : (unsigned)((from - base) >> shift);
	for (; i < end; i++) {
		uint64_t b = base + ((uint64_t)i << shift);

		if (n->slot[i] == NULL)
			continue;
		if (h == 0) {
			*ret_id = b;
			return n->slot[i];
		}
		v = idtab_next_in(n->slot[i], h - 1, b, from > b ? from : b,
				  ret_id);
		if (v != NULL)
			return v;
	}
	return NULL;
}

void *
idtab_next(const struct idtab *t, uint64_t after, uint64_t *ret_id)
{
	uint64_t key;
	void *v;

	after = after < t->base ? 0 : after - t->base;
	if (t->root == NULL || after == UINT64_MAX ||
	    !idtab_fits(t->height, after + 1))
		return NULL;
	if ((v = idtab_next_in(t->root, t->height, 0, after + 1, &key)) != NULL)
		*ret_id = key + t->base;
	return v;
}

void *
idtab_get(const struct idtab *t, uint64_t id)
{
	return id > t->base ? idtab_get_key(t, id - t->base) : NULL;
}

int
idtab_put(struct idtab *t, uint64_t id, void *val)
{
	return id > t->base ? idtab_put_key(t, id - t->base, val) : -EINVAL;
}

void *
idtab_del(struct idtab *t, uint64_t id)
{
	return id > t->base ? idtab_del_key(t, id - t->base) : NULL;
}
