/*
 * siphash: SipHash-2-4, the keyed 64-bit hash of Aumasson and Bernstein.
 *
 * Pure: no I/O, no allocation. For hash tables whose keys a client picks:
 * without the 128-bit key nobody can tell which inputs collide, so chosen
 * keys cost what random ones do. Not a MAC for anything that leaves the
 * process (the key never does).
 */
#ifndef EVD_SIPHASH_H
#define EVD_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

/* The hash of len bytes at data under key, exactly as the reference
 * implementation computes it (its 64-bit output read little-endian).
 * data may be NULL when len is 0. */
uint64_t siphash24(const uint8_t key[SIPHASH_KEY_LEN], const void *data,
		   size_t len);

#endif
