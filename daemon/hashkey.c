/*
 * hashkey: the process's hash key (see hashkey.h).
 *
 * Owns one static key, written once under pthread_once and read-only
 * afterwards, so the event loops' threads read it without a lock. Does
 * not log: main reports a failure at start-up.
 */
#include "hashkey.h"

#include <errno.h>
#include <pthread.h>
#include <sys/random.h>
#include <sys/types.h>

static pthread_once_t hashkey_once = PTHREAD_ONCE_INIT;
static uint8_t hashkey_key[SIPHASH_KEY_LEN];
static int hashkey_err = -EAGAIN;

static void
hashkey_make(void)
{
	size_t got = 0;
	ssize_t n;

	/* Flags 0: wait for the pool at early boot rather than take
	 * guessable bytes; a signal may cut a request short. */
	while (got < sizeof hashkey_key) {
		n = getrandom(hashkey_key + got, sizeof hashkey_key - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			hashkey_err = n < 0 ? -errno : -EIO;
			return;
		}
		got += (size_t)n;
	}
	hashkey_err = 0;
}

int
hashkey_init(void)
{
	int r = pthread_once(&hashkey_once, hashkey_make);

	return r != 0 ? -r : hashkey_err;
}

const uint8_t *
hashkey_get(void)
{
	return hashkey_key;
}
