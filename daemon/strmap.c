/*
 * strmap: byte-string keys to pointers (see strmap.h).
 *
 * Owns the slot array and a private copy of every key; never the values.
 * Pure: no I/O, no logging (the process key comes from hashkey.c).
 *
 * Invariants:
 *	cap is a power of two, at least STRMAP_MIN_CAP;
 *	a slot is empty iff its val is NULL (NULL values are refused);
 *	each full slot caches the hash of its key, so that resizing never
 *	rereads keys and a probe compares bytes only on a full hash match;
 *	every entry sits in the run of full slots that starts at its home
 *	slot, hash & (cap - 1), with no empty slot in between; backward-shift
 *	deletion keeps this true without tombstones;
 *	len <= 3/4 cap, so a probe always meets an empty slot.
 * A key copy is its own allocation, so its address survives resizes and
 * shifts, as strmap_next() promises.
 */
#include "strmap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashkey.h"

#define STRMAP_MIN_CAP 16

struct strmap_slot {
	uint64_t hash;
	size_t key_len;
	unsigned char *key; /* owned; at least 1 byte even for key_len 0 */
	void *val;	    /* NULL: the slot is empty */
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap;
	size_t len;
	uint8_t hkey[SIPHASH_KEY_LEN];
};

/*
 * Keyed, because the keys are a client's: with an unkeyed hash (this was
 * FNV-1a) anyone can compute offline which keys share a home slot, and
 * n of them in one run make n inserts cost O(n^2) probes of loop time,
 * again at every restart that reloads them. SipHash's output bits are
 * all usable, so the low bits index the table directly.
 */
static uint64_t
strmap_hash(const struct strmap *m, const void *key, size_t len)
{
	return siphash24(m->hkey, key, len);
}

static bool
strmap_slot_is(const struct strmap_slot *s, uint64_t hash, const void *key,
	       size_t len)
{
	/* len 0 skips memcmp, which must not see a NULL pointer. */
	return s->hash == hash && s->key_len == len &&
	       (len == 0 || memcmp(s->key, key, len) == 0);
}

/* The slot holding key, or the empty slot that ends its probe run. */
static size_t
strmap_find(const struct strmap *m, uint64_t hash, const void *key, size_t len)
{
	size_t mask = m->cap - 1;
	size_t i = (size_t)hash & mask;

	while (m->slots[i].val != NULL &&
	       !strmap_slot_is(&m->slots[i], hash, key, len))
		i = (i + 1) & mask;
	return i;
}

/* The first empty slot of hash's probe run, for keys known absent. */
static size_t
strmap_find_empty(const struct strmap *m, uint64_t hash)
{
	size_t mask = m->cap - 1;
	size_t i = (size_t)hash & mask;

	while (m->slots[i].val != NULL)
		i = (i + 1) & mask;
	return i;
}

/* Rehashes into cap slots; on failure the map is unchanged. */
static int
strmap_resize(struct strmap *m, size_t cap)
{
	struct strmap_slot *old = m->slots;
	size_t old_cap = m->cap, i;

	if ((m->slots = calloc(cap, sizeof(*m->slots))) == NULL) {
		m->slots = old;
		return -ENOMEM;
	}
	m->cap = cap;
	for (i = 0; i < old_cap; i++) {
		if (old[i].val != NULL)
			m->slots[strmap_find_empty(m, old[i].hash)] = old[i];
	}
	free(old);
	return 0;
}

struct strmap *
strmap_new_keyed(const uint8_t key[SIPHASH_KEY_LEN])
{
	struct strmap *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	if ((m->slots = calloc(STRMAP_MIN_CAP, sizeof(*m->slots))) == NULL) {
		free(m);
		return NULL;
	}
	m->cap = STRMAP_MIN_CAP;
	memcpy(m->hkey, key, sizeof m->hkey);
	return m;
}

struct strmap *
strmap_new(void)
{
	if (hashkey_init() < 0)
		return NULL;
	return strmap_new_keyed(hashkey_get());
}

void
strmap_free(struct strmap *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->cap; i++) {
		if (m->slots[i].val != NULL)
			free(m->slots[i].key);
	}
	free(m->slots);
	free(m);
}

int
strmap_put(struct strmap *m, const void *key, size_t key_len, void *val)
{
	unsigned char *copy;
	uint64_t hash;
	size_t i;
	int r;

	if (val == NULL || (key == NULL && key_len > 0))
		return -EINVAL;
	hash = strmap_hash(m, key, key_len);
	i = strmap_find(m, hash, key, key_len);
	if (m->slots[i].val != NULL)
		return -EEXIST;

	/* malloc(0) may return NULL; one spare byte keeps the zero-length
	 * key distinct from a failed allocation. */
	if ((copy = malloc(key_len > 0 ? key_len : 1)) == NULL)
		return -ENOMEM;
	if (key_len > 0)
		memcpy(copy, key, key_len);

	if (m->len + 1 > m->cap - m->cap / 4) {
		if (m->cap > SIZE_MAX / 2 / sizeof(*m->slots))
			r = -ENOMEM;
		else
			r = strmap_resize(m, m->cap * 2);
		if (r < 0) {
			free(copy);
			return r;
		}
		i = strmap_find_empty(m, hash);
	}
	m->slots[i].hash = hash;
	m->slots[i].key_len = key_len;
	m->slots[i].key = copy;
	m->slots[i].val = val;
	m->len++;
	return 0;
}

void *
strmap_get(const struct strmap *m, const void *key, size_t key_len)
{
	uint64_t hash;

	if (key == NULL && key_len > 0)
		return NULL;
	hash = strmap_hash(m, key, key_len);
	return m->slots[strmap_find(m, hash, key, key_len)].val;
}

void *
strmap_del(struct strmap *m, const void *key, size_t key_len)
{
	size_t mask = m->cap - 1, hole, j, home;
	void *val;

	if (key == NULL && key_len > 0)
		return NULL;
	hole = strmap_find(m, strmap_hash(m, key, key_len), key, key_len);
	if ((val = m->slots[hole].val) == NULL)
		return NULL;
	free(m->slots[hole].key);

	/*
	 * Backward shift: pull back each later entry of the run whose home
	 * is not in (hole, j], i.e. whose probe from its home passes the
	 * hole; the others must stay or become unreachable.
	 */
	for (j = (hole + 1) & mask; m->slots[j].val != NULL;
	     j = (j + 1) & mask) {
		home = (size_t)m->slots[j].hash & mask;
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			m->slots[hole] = m->slots[j];
			hole = j;
		}
	}
	memset(&m->slots[hole], 0, sizeof(m->slots[hole]));
	m->len--;

	/* Halving at 1/8 leaves the map a quarter full, far from both
	 * thresholds, so alternating put/del cannot thrash. Failing to
	 * shrink is harmless. */
	if (m->cap > STRMAP_MIN_CAP && m->len <= m->cap / 8)
		(void)strmap_resize(m, m->cap / 2);
	return val;
}

size_t
strmap_size(const struct strmap *m)
{
	return m->len;
}

void *
strmap_next(const struct strmap *m, size_t *iter, const void **ret_key,
	    size_t *ret_key_len)
{
	size_t i;

	for (i = *iter; i < m->cap; i++) {
		if (m->slots[i].val != NULL) {
			*iter = i + 1;
			if (ret_key != NULL)
				*ret_key = m->slots[i].key;
			if (ret_key_len != NULL)
				*ret_key_len = m->slots[i].key_len;
			return m->slots[i].val;
		}
	}
	*iter = m->cap;
	return NULL;
}

size_t
strmap_max_probe(const struct strmap *m)
{
	size_t mask = m->cap - 1, i, d, max = 0;

	for (i = 0; i < m->cap; i++) {
		if (m->slots[i].val == NULL)
			continue;
		d = ((i - ((size_t)m->slots[i].hash & mask)) & mask) + 1;
		if (d > max)
			max = d;
	}
	return max;
}
