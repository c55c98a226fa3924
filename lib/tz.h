/*
 * tz: time zones read straight from the zone database, without the C
 * library's process-wide TZ state.
 *
 * A zone is a TZif file (RFC 8536: version 1, and versions 2 to 4 with
 * 64-bit data and a footer POSIX TZ string for instants past the last
 * transition) under $TZDIR, else /usr/share/zoneinfo, or a POSIX TZ rule
 * string ("CET-1CEST,M3.5.0,M10.5.0/3"). Nothing here calls setenv,
 * tzset, localtime* or mktime, so any thread may use any zone at any time.
 *
 * Names that come from a peer (tz_get with a name) are checked before
 * any file is opened: a relative path of letters, digits and "/_+-", no
 * "..", no leading '/', shorter than TZ_NAME_MAX. Files must be regular
 * and at most TZ_FILE_MAX bytes; every count in a header is checked
 * against the bytes that are really there before anything is read.
 * Files with leap-second records (the "right/" zones) are refused
 * (-EINVAL): their times are not POSIX times.
 *
 * Threads: loaded zones are immutable and reference-counted, so a
 * caller reads one without any lock between tz_get and tz_unref. They
 * are kept in one small process-wide cache (TZ_CACHE_MAX zones, least
 * recently used out) behind one mutex, held only to look up, insert and
 * count references, never across file I/O or a conversion. One shared
 * cache rather than one per thread: evd's loop threads use the same few
 * zones, and a tzdata update is then re-read once. Each tz_get stats the
 * file and reloads it when it changed (device, inode, size, mtime), so a
 * tzdata upgrade or a new /etc/localtime is seen by the next call, as
 * glibc's tzset would see it.
 *
 * Pure otherwise: no logging; errors are negative errno values.
 */
#ifndef EVD_TZ_H
#define EVD_TZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TZ_NAME_MAX 256		 /* a zone name, with its NUL */
#define TZ_FILE_MAX (128 * 1024) /* fat TZif files are under 4 KiB */
#define TZ_RULE_MAX 256		 /* a POSIX TZ string, with its NUL */
#define TZ_CACHE_MAX 32
/* Instants that tz_lookup converts: |t| <= TZ_T_MAX seconds (year
 * +-285 million; every int64 nanosecond instant fits). */
#define TZ_T_MAX (INT64_C(1) << 53)

/* One zone; immutable; shared by its references (tz_get, tz_ref). */
struct tz;

/* The local time type in force at one instant. abbr is borrowed from
 * the zone and lives as long as a reference to it. */
struct tz_info {
	int32_t utoff_s; /* UTC offset, seconds east */
	bool isdst;
	const char *abbr; /* "CET", "+0530", ... never NULL */
};

/* True if name is acceptable as a zone name from a peer (see the top).
 * Syntax only: no file is opened. */
bool tz_name_valid(const char *name);

/*
 * The zone name (relative to $TZDIR, else /usr/share/zoneinfo), or with
 * name NULL or "" the process's own zone: $TZ when set (":NAME" or "NAME"
 * for a zone file, an absolute path allowed here since TZ is the
 * process owner's; else a POSIX TZ rule string; "" is UTC), else
 * /etc/localtime; a process zone that cannot be read is UTC, as in glibc.
 * Returns 0 and a reference in *ret_tz, -EINVAL (bad name, not a TZif
 * file, malformed file), -ENOENT, -EFBIG or -ENOMEM.
 */
int tz_get(const char *name, struct tz **ret_tz);

/* Another reference to z (returned). */
struct tz *tz_ref(struct tz *z);

/* Drops a reference; NULL is fine. */
void tz_unref(struct tz *z);

/*
 * A zone from the bytes of a TZif file (no cache, no file): 0, -EINVAL
 * (malformed, with leap seconds, or a bad footer) or -ENOMEM. The caller
 * owns the reference.
 */
int tz_from_tzif(const void *buf, size_t len, struct tz **ret_tz);

/*
 * A zone from a POSIX TZ rule string ("EST5EDT,M3.2.0,M11.1.0",
 * "<+0330>-3:30", "AEST-10AEDT,M10.1.0,M4.1.0/3", "<-03>3<-02>,M3.2.0/-2,
 * M11.1.0/-1"; Jn, n and Mm.w.d dates, times -167..167 h as RFC 8536
 * version 3 allows; a DST name without a rule gets the US rule
 * M3.2.0,M11.1.0). 0, -EINVAL or -ENOMEM; the caller owns the reference.
 */
int tz_from_rule(const char *rule, struct tz **ret_tz);

/* The local time type at instant t (seconds since the epoch): 0, or
 * -EOVERFLOW if |t| > TZ_T_MAX. */
int tz_lookup(const struct tz *z, int64_t t, struct tz_info *ret);

/* Drops every cached zone that no caller holds (for tests). */
void tz_cache_flush(void);

#endif
