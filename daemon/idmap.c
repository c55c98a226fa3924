/*
 * idmap: non-zero 64-bit ids to pointers (see idmap.h).
 *
 * Owns the slot array; never the values. Pure: no I/O, no logging.
 *
 * Invariants:
 *	cap is a power of two, at least IDMAP_MIN_CAP;
 *	a slot is empty iff its key is 0 (0 is not a valid id);
 *	every entry sits in the run of full slots that starts at its home
 *	slot, hash(key) & (cap - 1), with no empty slot in between, which is
 *	what lets a lookup stop at the first empty slot; backward-shift
 *	deletion keeps this true without tombstones;
 *	len <= 3/4 cap, so a probe always meets an empty slot.
 */
#include "idmap.h"

#include <errno.h>
#include <stdlib.h>

#define IDMAP_MIN_CAP 16

struct idmap_slot {
	uint64_t key;
	void *val;
};

struct idmap {
	struct idmap_slot *slots;
	size_t cap;
	size_t len;
};

/*
 * The splitmix64 finalizer. Ids are often sequential, and linear
 * probing on the low bits of an identity hash would cluster them; this
 * spreads every input bit over the low bits we index with.
 */
static uint64_t
idmap_hash(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/* The slot holding key, or the empty slot that ends its probe run. */
static size_t
idmap_find(const struct idmap *m, uint64_t key)
{
	size_t mask = m->cap - 1;
	size_t i = (size_t)idmap_hash(key) & mask;

	while (m->slots[i].key != 0 && m->slots[i].key != key)
		i = (i + 1) & mask;
	return i;
}

/* Rehashes into cap slots; on failure the map is unchanged. */
static int
idmap_resize(struct idmap *m, size_t cap)
{
	struct idmap_slot *old = m->slots;
	size_t old_cap = m->cap, i;

	if ((m->slots = calloc(cap, sizeof(*m->slots))) == NULL) {
		m->slots = old;
		return -ENOMEM;
	}
	m->cap = cap;
	for (i = 0; i < old_cap; i++) {
		if (old[i].key != 0)
			m->slots[idmap_find(m, old[i].key)] = old[i];
	}
	free(old);
	return 0;
}

struct idmap *
idmap_new(void)
{
	struct idmap *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	if ((m->slots = calloc(IDMAP_MIN_CAP, sizeof(*m->slots))) == NULL) {
		free(m);
		return NULL;
	}
	m->cap = IDMAP_MIN_CAP;
	return m;
}

void
idmap_free(struct idmap *m)
{
	if (m == NULL)
		return;
	free(m->slots);
	free(m);
}

int
idmap_put(struct idmap *m, uint64_t key, void *val)
{
	size_t i;
	int r;

	if (key == 0 || val == NULL)
		return -EINVAL;
	i = idmap_find(m, key);
	if (m->slots[i].key == key)
		return -EEXIST;
	if (m->len + 1 > m->cap - m->cap / 4) {
		if (m->cap > SIZE_MAX / 2 / sizeof(*m->slots))
			return -ENOMEM;
		if ((r = idmap_resize(m, m->cap * 2)) < 0)
			return r;
		i = idmap_find(m, key);
	}
	m->slots[i].key = key;
	m->slots[i].val = val;
	m->len++;
	return 0;
}

void *
idmap_get(const struct idmap *m, uint64_t key)
{
	size_t i;

	if (key == 0)
		return NULL;
	i = idmap_find(m, key);
	return m->slots[i].key == key ? m->slots[i].val : NULL;
}

void *
idmap_del(struct idmap *m, uint64_t key)
{
	size_t mask = m->cap - 1, hole, j, home;
	void *val;

	if (key == 0)
		return NULL;
	hole = idmap_find(m, key);
	if (m->slots[hole].key != key)
		return NULL;
	val = m->slots[hole].val;

	/*
	 * Backward shift: walk the rest of the run and pull back each entry
	 * whose home is not in (hole, j], that is, one whose probe from its
	 * home passes the hole; the others must stay or become unreachable.
	 */
	for (j = (hole + 1) & mask; m->slots[j].key != 0; j = (j + 1) & mask) {
		home = (size_t)idmap_hash(m->slots[j].key) & mask;
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			m->slots[hole] = m->slots[j];
			hole = j;
		}
	}
	m->slots[hole].key = 0;
	m->slots[hole].val = NULL;
	m->len--;

	/* Halving at 1/8 leaves the map a quarter full, far from both
	 * thresholds, so alternating put/del cannot thrash. Failing to
	 * shrink is harmless. */
	if (m->cap > IDMAP_MIN_CAP && m->len <= m->cap / 8)
		(void)idmap_resize(m, m->cap / 2);
	return val;
}

size_t
idmap_size(const struct idmap *m)
{
	return m->len;
}

void *
idmap_next(const struct idmap *m, size_t *iter, uint64_t *ret_key)
{
	size_t i;

	for (i = *iter; i < m->cap; i++) {
		if (m->slots[i].key != 0) {
			*iter = i + 1;
			if (ret_key != NULL)
				*ret_key = m->slots[i].key;
			return m->slots[i].val;
		}
	}
	*iter = m->cap;
	return NULL;
}
