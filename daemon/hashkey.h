/*
 * hashkey: the process's secret key for hash tables indexed by bytes that
 * clients choose (strmap: idempotency keys, channel names).
 *
 * 128 random bits from getrandom(2), made once per process and kept in
 * memory only: every start, and so every reload of durable keys, hashes
 * under a key nobody outside has seen. There is no fixed fallback key: a
 * process that cannot get random bytes does not get a key.
 */
#ifndef EVD_HASHKEY_H
#define EVD_HASHKEY_H

#include <stdint.h>

#include "siphash.h"

/*
 * Makes the key on the first call (blocking, once, until the kernel's
 * random pool is initialised at boot); later calls return the first
 * call's result. Thread-safe. Returns 0 or -errno (-ENOSYS: a kernel
 * without getrandom).
 */
int hashkey_init(void);

/* The key (SIPHASH_KEY_LEN bytes); only after hashkey_init returned 0. */
const uint8_t *hashkey_get(void);

#endif
