/*
 * exec_sdprops: a parsed job property (struct jobprop, from jobprop.c) as
 * the typed D-Bus properties StartTransientUnit takes, exactly as
 * systemd-run -p sends the same assignment (systemd's
 * src/shared/bus-unit-util.c is the reference for names, types and
 * units): "MemoryMax=512M" is ("MemoryMax", 't', 536870912),
 * "LimitNOFILE=64" is ("LimitNOFILE", 't', 64) then ("LimitNOFILESoft",
 * 't', 64).
 *
 * It parses nothing: jobprop is the one parser of job properties, so what
 * evd accepts at schedule time is exactly what this converts at fire time.
 * Every jobprop key has a case here (a switch without default, so a new
 * key fails the build until it is converted; test_sdprops walks every key
 * too).
 *
 * Pure: no I/O, no sd-bus; allocates only the path lists of *Paths=.
 */
#ifndef EVD_EXEC_SDPROPS_H
#define EVD_EXEC_SDPROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobprop.h"

/* D-Bus properties one job property becomes, at most: Limit*= is a hard
 * and a soft one; MemoryMax= in bytes also sets MemoryLimit= (cgroup v1). */
#define EXEC_SDPROPS_PER_KEY 2

/* Owner: the caller; exec_sdprops_clear frees paths. */
struct exec_sdprop {
	const char *name; /* the D-Bus property name (static storage) */
	char type;	  /* 't', 'u', 'i', 'b', 's' or 'a' (as: paths) */
	uint64_t t;	  /* 't'; 'u' (fits 32 bits) */
	int32_t i;	  /* 'i' */
	bool b;		  /* 'b' */
	const char *s;	  /* 's': static, or borrowed from the jobprop */
	char **paths;	  /* 'a': NULL-terminated, owned */
	size_t npaths;
};

/*
 * Converts jp into ret[0..n) and returns n (1..EXEC_SDPROPS_PER_KEY), or
 * -ENOMEM, or -EINVAL for a key jobprop does not define. ret is untouched
 * on failure; on success each entry needs exec_sdprops_clear.
 */
int exec_sdprops_convert(const struct jobprop *jp,
			 struct exec_sdprop ret[EXEC_SDPROPS_PER_KEY]);
/* Frees what an entry owns; NULL-safe, idempotent. */
void exec_sdprops_clear(struct exec_sdprop *p);

#endif
