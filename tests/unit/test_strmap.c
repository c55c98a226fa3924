/*
 * Unit tests of the byte-string map (daemon/strmap.c).
 *
 * Keys are bytes, not C strings: keys with NUL inside, keys that are
 * prefixes of one another and the empty key must all be distinct. The
 * map copies keys, so every put here passes a scratch buffer that is
 * clobbered right after. As for idmap, small maps are emptied in random
 * orders to check the backward shift, and a long random run is compared
 * with a plain array. Deterministic (fixed seeds), but for the maps
 * hashed under the process's random key: keys that collided under the
 * old, unkeyed hash must spread there (hash flooding), which is measured
 * by the longest probe, never by time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashkey.h"
#include "siphash.h"
#include "strmap.h"

static uint64_t rng_state;

/* splitmix64: small, fast and good enough to drive a test. */
static uint64_t
rng_next(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static size_t
rng_below(size_t n)
{
	return (size_t)(rng_next() % n);
}

/* Distinct non-NULL values without allocating: addresses in one array. */
static char vals[200000];
#define VAL(i) ((void *)&vals[(i)])

/* Puts through a scratch copy that is clobbered afterwards, so a map
 * that kept the caller's pointer instead of copying fails later. */
static int
put_copy(struct strmap *m, const void *key, size_t len, void *val)
{
	unsigned char scratch[64];
	int r;

	assert_true(len <= sizeof(scratch));
	memcpy(scratch, key, len);
	r = strmap_put(m, scratch, len, val);
	memset(scratch, 0xa5, sizeof(scratch));
	return r;
}

static int
setup(void **state)
{
	struct strmap *m;

	rng_state = 0x57a5eed;
	if ((m = strmap_new()) == NULL)
		return -1;
	*state = m;
	return 0;
}

static int
teardown(void **state)
{
	strmap_free(*state);
	return 0;
}

static void
test_put_get_del(void **state)
{
	struct strmap *m = *state;

	assert_int_equal(strmap_size(m), 0);
	assert_null(strmap_get(m, "a", 1));
	assert_null(strmap_del(m, "a", 1));

	assert_int_equal(put_copy(m, "alpha", 5, VAL(1)), 0);
	assert_int_equal(put_copy(m, "beta", 4, VAL(2)), 0);
	assert_int_equal(strmap_size(m), 2);
	assert_ptr_equal(strmap_get(m, "alpha", 5), VAL(1));
	assert_ptr_equal(strmap_get(m, "beta", 4), VAL(2));
	/* Prefixes and extensions are other keys. */
	assert_null(strmap_get(m, "alph", 4));
	assert_null(strmap_get(m, "alphab", 6));

	assert_ptr_equal(strmap_del(m, "alpha", 5), VAL(1));
	assert_null(strmap_get(m, "alpha", 5));
	assert_null(strmap_del(m, "alpha", 5));
	assert_ptr_equal(strmap_get(m, "beta", 4), VAL(2));
	assert_int_equal(strmap_size(m), 1);

	assert_int_equal(put_copy(m, "alpha", 5, VAL(3)), 0);
	assert_ptr_equal(strmap_get(m, "alpha", 5), VAL(3));
	strmap_free(NULL);
}

static void
test_errors(void **state)
{
	struct strmap *m = *state;
	char k[16];
	int i;

	assert_int_equal(strmap_put(m, "k", 1, NULL), -EINVAL);
	/* Beyond the header: a NULL key is only valid with length 0. */
	assert_int_equal(strmap_put(m, NULL, 3, VAL(1)), -EINVAL);
	assert_null(strmap_get(m, NULL, 3));
	assert_null(strmap_del(m, NULL, 3));
	assert_int_equal(strmap_size(m), 0);

	assert_int_equal(put_copy(m, "k", 1, VAL(1)), 0);
	assert_int_equal(put_copy(m, "k", 1, VAL(2)), -EEXIST);
	assert_ptr_equal(strmap_get(m, "k", 1), VAL(1));
	assert_int_equal(strmap_size(m), 1);
	/* -EEXIST even when the put would have grown the table. */
	for (i = 0; i < 11; i++) {
		snprintf(k, sizeof(k), "x%d", i);
		assert_int_equal(put_copy(m, k, strlen(k), VAL(10 + i)), 0);
	}
	assert_int_equal(strmap_size(m), 12);
	assert_int_equal(put_copy(m, "k", 1, VAL(2)), -EEXIST);
	assert_int_equal(strmap_size(m), 12);
	assert_ptr_equal(strmap_get(m, "k", 1), VAL(1));
}

static void
test_binary_keys(void **state)
{
	static const struct {
		const char *bytes;
		size_t len;
	} keys[] = {
	    {"", 0},	{"\0", 1},   {"\0\0", 2},   {"a", 1},
	    {"a\0", 2}, {"a\0b", 3}, {"a\0c", 3},   {"\0a", 2},
	    {"ab", 2},	{"\xff", 1}, {"\xff\0", 2}, {"a\0b\0", 4},
	};
	enum { N = sizeof(keys) / sizeof(keys[0]) };
	struct strmap *m = *state;
	size_t i, j;

	for (i = 0; i < N; i++)
		assert_int_equal(
		    put_copy(m, keys[i].bytes, keys[i].len, VAL(i)), 0);
	assert_int_equal(strmap_size(m), N);
	for (i = 0; i < N; i++)
		assert_ptr_equal(strmap_get(m, keys[i].bytes, keys[i].len),
				 VAL(i));

	/* The empty key, whatever the pointer. */
	assert_ptr_equal(strmap_get(m, NULL, 0), VAL(0));
	assert_ptr_equal(strmap_get(m, "zzz", 0), VAL(0));
	assert_int_equal(strmap_put(m, NULL, 0, VAL(99)), -EEXIST);

	/* Remove each in turn; the others stay. */
	for (i = 0; i < N; i++) {
		assert_ptr_equal(strmap_del(m, keys[i].bytes, keys[i].len),
				 VAL(i));
		for (j = 0; j < N; j++) {
			if (j <= i)
				assert_null(
				    strmap_get(m, keys[j].bytes, keys[j].len));
			else
				assert_ptr_equal(
				    strmap_get(m, keys[j].bytes, keys[j].len),
				    VAL(j));
		}
	}
	assert_int_equal(strmap_size(m), 0);
	assert_int_equal(strmap_put(m, NULL, 0, VAL(7)), 0);
	assert_ptr_equal(strmap_del(m, "", 0), VAL(7));
}

/* Iterates m, checking that it yields exactly the set entries of want[],
 * each with its own key bytes. */
static void
check_iteration(const struct strmap *m, void *const *want,
		const unsigned char (*keys)[8], const size_t *lens, size_t n)
{
	bool *seen = calloc(n, sizeof(*seen));
	size_t iter = 0, count = 0, i, len;
	const void *key;
	void *v;

	assert_non_null(seen);
	while ((v = strmap_next(m, &iter, &key, &len)) != NULL) {
		i = (size_t)((char *)v - vals);
		assert_true(i < n);
		assert_ptr_equal(want[i], v);
		assert_int_equal(len, lens[i]);
		assert_non_null(key);
		assert_memory_equal(key, keys[i], len);
		assert_false(seen[i]);
		seen[i] = true;
		count++;
	}
	assert_int_equal(count, strmap_size(m));
	for (i = 0; i < n; i++)
		assert_int_equal(seen[i], want[i] != NULL);
	assert_null(strmap_next(m, &iter, &key, &len));
	free(seen);
}

static void
test_iteration(void **state)
{
	enum { N = 1000 };
	struct strmap *m = *state;
	static unsigned char keys[N][8];
	static size_t lens[N];
	static void *want[N];
	const void *kp;
	size_t iter, i, count, len;
	char extra[32];
	void *v;
	int n;

	iter = 0;
	assert_null(strmap_next(m, &iter, NULL, NULL));
	for (i = 0; i < N; i++) {
		/* Big-endian index, then a length-dependent tail: distinct,
		 * NUL-rich, and key 0 is the empty key. */
		lens[i] = i == 0 ? 0 : 2 + i % 7;
		memset(keys[i], 0, sizeof(keys[i]));
		keys[i][0] = (unsigned char)(i >> 8);
		keys[i][1] = (unsigned char)i;
		assert_int_equal(put_copy(m, keys[i], lens[i], VAL(i)), 0);
		want[i] = VAL(i);
	}
	check_iteration(m, want, keys, lens, N);

	/* The key pointer lives as long as its entry, across growth,
	 * shrinking and the shifts of other deletions. */
	iter = 0;
	while ((v = strmap_next(m, &iter, &kp, &len)) != NULL) {
		if (v == VAL(500))
			break;
	}
	assert_ptr_equal(v, VAL(500));
	for (i = 0; i < 4000; i++) {
		n = snprintf(extra, sizeof(extra), "extra/%zu", i);
		assert_int_equal(put_copy(m, extra, (size_t)n, VAL(N + i)), 0);
	}
	for (i = 0; i < 4000; i++) {
		n = snprintf(extra, sizeof(extra), "extra/%zu", i);
		assert_ptr_equal(strmap_del(m, extra, (size_t)n), VAL(N + i));
	}
	for (i = 1; i < N; i += 2) {
		assert_ptr_equal(strmap_del(m, keys[i], lens[i]), VAL(i));
		want[i] = NULL;
	}
	assert_int_equal(len, lens[500]);
	assert_memory_equal(kp, keys[500], lens[500]);
	check_iteration(m, want, keys, lens, N);

	/* Either out-parameter may be NULL. */
	iter = 0;
	count = 0;
	while (strmap_next(m, &iter, NULL, &len) != NULL)
		count++;
	assert_int_equal(count, strmap_size(m));
	iter = 0;
	count = 0;
	while (strmap_next(m, &iter, &kp, NULL) != NULL)
		count++;
	assert_int_equal(count, strmap_size(m));
}

static void
test_grow_and_shrink(void **state)
{
	enum { N = 100000 };
	struct strmap *m = *state;
	char k[32];
	int i, n;

	for (i = 0; i < N; i++) {
		n = snprintf(k, sizeof(k), "timer/%d", i);
		assert_int_equal(put_copy(m, k, (size_t)n, VAL(i)), 0);
	}
	assert_int_equal(strmap_size(m), N);
	for (i = 0; i < N; i++) {
		n = snprintf(k, sizeof(k), "timer/%d", i);
		assert_ptr_equal(strmap_get(m, k, (size_t)n), VAL(i));
	}
	/* Keep one in 1000, through many shrinks. */
	for (i = 0; i < N; i++) {
		if (i % 1000 == 0)
			continue;
		n = snprintf(k, sizeof(k), "timer/%d", i);
		assert_ptr_equal(strmap_del(m, k, (size_t)n), VAL(i));
	}
	assert_int_equal(strmap_size(m), N / 1000);
	for (i = 0; i < N; i++) {
		n = snprintf(k, sizeof(k), "timer/%d", i);
		if (i % 1000 == 0)
			assert_ptr_equal(strmap_get(m, k, (size_t)n), VAL(i));
		else
			assert_null(strmap_get(m, k, (size_t)n));
	}
	for (i = 0; i < N; i += 1000) {
		n = snprintf(k, sizeof(k), "timer/%d", i);
		assert_ptr_equal(strmap_del(m, k, (size_t)n), VAL(i));
	}
	assert_int_equal(strmap_size(m), 0);
	for (i = 0; i < 1000; i++) {
		n = snprintf(k, sizeof(k), "again/%d", i);
		assert_int_equal(put_copy(m, k, (size_t)n, VAL(i)), 0);
	}
	for (i = 0; i < 1000; i++) {
		n = snprintf(k, sizeof(k), "again/%d", i);
		assert_ptr_equal(strmap_get(m, k, (size_t)n), VAL(i));
	}
}

/* Small maps stay at the minimum table size, where runs are long and
 * wrap; random deletion orders exercise the backward shift. */
static void
test_delete_chains(void **state)
{
	enum { TRIALS = 3000, MAXN = 12 };
	struct strmap *m = *state;
	unsigned char keys[MAXN][6];
	size_t lens[MAXN], order[MAXN], trial, n, i, j, t;
	bool gone[MAXN];

	for (trial = 0; trial < TRIALS; trial++) {
		n = 2 + rng_below(MAXN - 1);
		for (i = 0; i < n; i++) {
			/* Index first, so keys are distinct; random rest. */
			keys[i][0] = (unsigned char)i;
			for (j = 1; j < sizeof(keys[i]); j++)
				keys[i][j] = (unsigned char)rng_next();
			lens[i] = 1 + rng_below(sizeof(keys[i]));
			gone[i] = false;
			order[i] = i;
			assert_int_equal(put_copy(m, keys[i], lens[i], VAL(i)),
					 0);
		}
		for (i = n; i > 1; i--) {
			j = rng_below(i);
			t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
		for (i = 0; i < n; i++) {
			assert_ptr_equal(
			    strmap_del(m, keys[order[i]], lens[order[i]]),
			    VAL(order[i]));
			gone[order[i]] = true;
			for (j = 0; j < n; j++) {
				if (gone[j])
					assert_null(
					    strmap_get(m, keys[j], lens[j]));
				else
					assert_ptr_equal(
					    strmap_get(m, keys[j], lens[j]),
					    VAL(j));
			}
			assert_int_equal(strmap_size(m), n - i - 1);
		}
	}
}

/*
 * Chains built on purpose: maps made with a known hash key (test_key)
 * let the test compute home slots with siphash24, as strmap.c does, and
 * find keys with chosen ones in the 16-slot minimum table.
 */
static const uint8_t test_key[SIPHASH_KEY_LEN] = {
	0x65, 0x76, 0x64, 0x2d, 0x73, 0x74, 0x72, 0x6d,
	0x61, 0x70, 0x2d, 0x74, 0x65, 0x73, 0x74, 0x21,
};

static uint64_t
mirror_hash(const void *key, size_t len)
{
	return siphash24(test_key, key, len);
}

static int
setup_keyed(void **state)
{
	struct strmap *m;

	rng_state = 0x57a5eed;
	if ((m = strmap_new_keyed(test_key)) == NULL)
		return -1;
	*state = m;
	return 0;
}

/* Writes into key the next "c<counter>" string whose home slot is home. */
static size_t
key_with_home(char *key, size_t size, unsigned *counter, unsigned home)
{
	int n;

	do
		n = snprintf(key, size, "c%u", ++*counter);
	while ((mirror_hash(key, (size_t)n) & 15) != home);
	return (size_t)n;
}

static void
test_delete_wrapping_chain(void **state)
{
	/* As in test_idmap: a run from slot 13 that wraps to slot 3. */
	static const unsigned homes[] = {13, 13, 14, 15, 13, 0, 2};
	enum { N = sizeof(homes) / sizeof(homes[0]) };
	struct strmap *m = *state;
	char keys[N][16];
	size_t lens[N], victim, i;
	unsigned counter;

	for (victim = 0; victim < N; victim++) {
		counter = (unsigned)victim * 100000;
		for (i = 0; i < N; i++) {
			lens[i] = key_with_home(keys[i], sizeof(keys[i]),
						&counter, homes[i]);
			assert_int_equal(put_copy(m, keys[i], lens[i], VAL(i)),
					 0);
		}
		assert_ptr_equal(strmap_del(m, keys[victim], lens[victim]),
				 VAL(victim));
		for (i = 0; i < N; i++) {
			if (i == victim)
				assert_null(strmap_get(m, keys[i], lens[i]));
			else
				assert_ptr_equal(
				    strmap_get(m, keys[i], lens[i]), VAL(i));
		}
		for (i = N; i-- > 0;) {
			if (i != victim)
				assert_ptr_equal(
				    strmap_del(m, keys[i], lens[i]), VAL(i));
		}
		assert_int_equal(strmap_size(m), 0);
	}
}

static void
test_random_against_reference(void **state)
{
	enum { U = 4000, OPS = 100000, PHASE = 10000, KMAX = 16 };
	struct strmap *m = *state;
	unsigned char(*keys)[KMAX];
	size_t *lens, op, i, j, len = 0, pct;
	void **ref;
	int r, kind;

	keys = calloc(U, sizeof(*keys));
	lens = calloc(U, sizeof(*lens));
	ref = calloc(U, sizeof(*ref));
	assert_non_null(keys);
	assert_non_null(lens);
	assert_non_null(ref);
	/*
	 * A universe of distinct keys: the empty key, every 1-byte key,
	 * then a 4-byte big-endian index (NUL-rich) and a random tail.
	 */
	for (i = 0; i < U; i++) {
		if (i == 0) {
			lens[i] = 0;
		} else if (i <= 256) {
			keys[i][0] = (unsigned char)(i - 1);
			lens[i] = 1;
		} else {
			keys[i][0] = (unsigned char)(i >> 24);
			keys[i][1] = (unsigned char)(i >> 16);
			keys[i][2] = (unsigned char)(i >> 8);
			keys[i][3] = (unsigned char)i;
			lens[i] = 4 + rng_below(KMAX - 4 + 1);
			for (j = 4; j < lens[i]; j++)
				keys[i][j] = (unsigned char)rng_next();
		}
	}

	for (op = 0; op < OPS; op++) {
		pct = (op / PHASE) % 2 ? 30 : 70;
		kind = (int)rng_below(100);
		i = rng_below(U);
		if ((size_t)kind < pct) {
			r = put_copy(m, keys[i], lens[i], VAL(op));
			if (ref[i] != NULL) {
				assert_int_equal(r, -EEXIST);
			} else {
				assert_int_equal(r, 0);
				ref[i] = VAL(op);
				len++;
			}
		} else if (kind < 95) {
			assert_ptr_equal(strmap_del(m, keys[i], lens[i]),
					 ref[i]);
			if (ref[i] != NULL) {
				ref[i] = NULL;
				len--;
			}
		} else {
			assert_ptr_equal(strmap_get(m, keys[i], lens[i]),
					 ref[i]);
		}
		assert_int_equal(strmap_size(m), len);
		assert_ptr_equal(strmap_get(m, keys[i], lens[i]), ref[i]);

		if (op % 5000 == 0) {
			for (i = 0; i < U; i++)
				assert_ptr_equal(
				    strmap_get(m, keys[i], lens[i]), ref[i]);
		}
	}
	for (i = 0; i < U; i++)
		assert_ptr_equal(strmap_get(m, keys[i], lens[i]), ref[i]);
	free(ref);
	free(lens);
	free(keys);
}

/* The slot order of 32 keys in a map made with key. */
static void
slot_order(const uint8_t key[SIPHASH_KEY_LEN], uintptr_t order[32])
{
	struct strmap *m = strmap_new_keyed(key);
	size_t iter = 0, n = 0;
	char name[16];
	void *v;
	int i;

	assert_non_null(m);
	for (i = 0; i < 32; i++) {
		int len = snprintf(name, sizeof(name), "job-%d", i);

		assert_int_equal(strmap_put(m, name, (size_t)len, VAL(i)), 0);
	}
	while ((v = strmap_next(m, &iter, NULL, NULL)) != NULL)
		order[n++] = (uintptr_t)((char *)v - vals);
	assert_int_equal(n, 32);
	strmap_free(m);
}

/* Where a key lands depends on the map's hash key: the same keys in maps
 * with two keys are laid out differently; with one key, identically. */
static void
test_hash_key_matters(void **state)
{
	uint8_t other[SIPHASH_KEY_LEN];
	uintptr_t a[32], b[32], c[32];

	memcpy(other, test_key, sizeof(other));
	other[0] ^= 1;
	slot_order(test_key, a);
	slot_order(test_key, c);
	slot_order(other, b);
	assert_memory_equal(a, c, sizeof(a));
	assert_memory_not_equal(a, b, sizeof(a));
	/* The same bytes hash apart under two keys. */
	assert_true(siphash24(test_key, "job\0A", 5) !=
		    siphash24(other, "job\0A", 5));
}

/* The process key is random: not all zero, and not test_key's layout. */
static void
test_process_key(void **state)
{
	static const uint8_t zero[SIPHASH_KEY_LEN];
	uintptr_t a[32], b[32];

	assert_int_equal(hashkey_init(), 0);
	assert_memory_not_equal(hashkey_get(), zero, SIPHASH_KEY_LEN);
	/* Made once: the same bytes on every call. */
	slot_order(hashkey_get(), a);
	assert_int_equal(hashkey_init(), 0);
	slot_order(hashkey_get(), b);
	assert_memory_equal(a, b, sizeof(a));
}

/* strmap.c's hash before SipHash (FNV-1a 64 and the splitmix64
 * finalizer): unkeyed, so anyone could find keys that collide. */
static uint64_t
old_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	h ^= h >> 30;
	h *= UINT64_C(0xbf58476d1ce4e5b9);
	h ^= h >> 27;
	h *= UINT64_C(0x94d049bb133111eb);
	h ^= h >> 31;
	return h;
}

enum { FLOOD_N = 2000, FLOOD_BITS = 12, FLOOD_KMAX = 24 };

/* Fills keys with want distinct keys whose hash under hash has the
 * same low FLOOD_BITS bits: every one the same home slot in a table of
 * up to 2^FLOOD_BITS slots (2000 keys make a 4096-slot table). */
static void
flood_keys(uint64_t (*hash)(const void *, size_t), size_t want,
	   char (*keys)[FLOOD_KMAX], size_t *lens)
{
	const uint64_t mask = (UINT64_C(1) << FLOOD_BITS) - 1;
	unsigned long counter = 0;
	size_t n = 0;
	int len;

	while (n < want) {
		len = snprintf(keys[n], FLOOD_KMAX, "flood-%lu", counter++);
		if ((hash(keys[n], (size_t)len) & mask) == 0)
			lens[n++] = (size_t)len;
	}
}

static uint64_t
test_key_hash(const void *key, size_t len)
{
	return siphash24(test_key, key, len);
}

/*
 * Hash flooding: 2000 keys that all collide under the old hash (what an
 * attacker could compute) put into a map hashed under the process key
 * must spread as random keys do. The measure is the longest probe, not
 * time (timing assertions flake): with the old hash it would be 2000;
 * linear probing at half load keeps it to a few dozen, and 200 leaves a
 * margin no random key ever comes near.
 */
static void
test_flood_stays_short(void **state)
{
	char(*keys)[FLOOD_KMAX] = calloc(FLOOD_N, sizeof(*keys));
	size_t *lens = calloc(FLOOD_N, sizeof(*lens)), i, probe;
	struct strmap *m = strmap_new();

	assert_non_null(keys);
	assert_non_null(lens);
	assert_non_null(m);
	flood_keys(old_hash, FLOOD_N, keys, lens);
	for (i = 0; i < FLOOD_N; i++)
		assert_int_equal(strmap_put(m, keys[i], lens[i], VAL(i)), 0);
	probe = strmap_max_probe(m);
	printf("longest probe of %d old-hash collisions: %zu\n", FLOOD_N,
	       probe);
	assert_true(probe >= 1);
	assert_true(probe < 200);
	for (i = 0; i < FLOOD_N; i++)
		assert_ptr_equal(strmap_get(m, keys[i], lens[i]), VAL(i));
	strmap_free(m);
	free(lens);
	free(keys);
}

/* The measure above sees a flood when there is one: keys that collide
 * under a map's own (here, known) key make one run as long as the map. */
static void
test_max_probe_sees_a_flood(void **state)
{
	char(*keys)[FLOOD_KMAX] = calloc(FLOOD_N, sizeof(*keys));
	size_t *lens = calloc(FLOOD_N, sizeof(*lens)), i;
	struct strmap *m = strmap_new_keyed(test_key);

	assert_non_null(keys);
	assert_non_null(lens);
	assert_non_null(m);
	assert_int_equal(strmap_max_probe(m), 0);
	/* A few hundred are enough to show it (and quadratic to insert). */
	flood_keys(test_key_hash, 300, keys, lens);
	for (i = 0; i < 300; i++)
		assert_int_equal(strmap_put(m, keys[i], lens[i], VAL(i)), 0);
	assert_int_equal(strmap_max_probe(m), 300);
	strmap_free(m);
	free(lens);
	free(keys);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_put_get_del, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_binary_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_iteration, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_grow_and_shrink, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_delete_chains, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_delete_wrapping_chain,
					    setup_keyed, teardown),
	    cmocka_unit_test_setup_teardown(test_random_against_reference,
					    setup, teardown),
	    cmocka_unit_test(test_hash_key_matters),
	    cmocka_unit_test(test_process_key),
	    cmocka_unit_test(test_flood_stays_short),
	    cmocka_unit_test(test_max_probe_sees_a_flood),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
