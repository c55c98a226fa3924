/*
 * exec_sdprops: a job property ("MemoryMax=512M") as the typed D-Bus
 * property that StartTransientUnit takes ("MemoryMax", 't', 536870912),
 * as systemd-run -p does (systemd's bus_append_unit_property_assignment in
 * src/shared/bus-unit-util.c is the reference for names and units).
 *
 * Pure: no I/O, no sd-bus, no allocation except ReadWritePaths' list. The
 * keys are the whitelist's (the props module validates which keys a job
 * may set); this module only knows how to convert each of them and refuses
 * a value systemd would refuse, so that a bad value fails the start with a
 * reason instead of a StartTransientUnit error.
 */
#ifndef EVD_EXEC_SDPROPS_H
#define EVD_EXEC_SDPROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bound on ReadWritePaths= entries of one property. */
#define EXEC_SDPROPS_PATHS_MAX 64

/* Owner: the caller; exec_sdprop_clear frees paths. */
struct exec_sdprop {
	const char *name; /* the D-Bus property name (static storage) */
	char type;	  /* 't', 'u', 'i', 'b', 's' or 'a' (as: paths) */
	uint64_t t;	  /* 't' and 'u' */
	int32_t i;	  /* 'i' */
	bool b;		  /* 'b' */
	const char *s;	  /* 's': borrowed from the assignment */
	char **paths;	  /* 'a': NULL-terminated, owned */
	size_t npaths;
};

/* Converts "Key=Value". Returns 0, -EINVAL (no '=', a value systemd would
 * refuse), -EOPNOTSUPP (a key this module does not know), -E2BIG (too
 * many paths) or -ENOMEM. ret is untouched on failure. */
int exec_sdprop_parse(const char *assignment, struct exec_sdprop *ret);
void exec_sdprop_clear(struct exec_sdprop *p);

/* Helpers, exposed for the tests and for the backend's own timeout. */
/* "512", "512K", "1.5G" (base 1024), "infinity" -> UINT64_MAX. */
int exec_sdprops_parse_size(const char *s, uint64_t *ret);
/* A systemd time span ("90", "5min 30s", "1.5h", "250ms", "infinity")
 * in microseconds; a bare number is seconds. */
int exec_sdprops_parse_timespan_usec(const char *s, uint64_t *ret);
/* "12.5%" -> 1250 (permyriad); unbounded above (CPUQuota=200%). */
int exec_sdprops_parse_permyriad(const char *s, uint64_t *ret);

#endif
