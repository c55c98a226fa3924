/*
 * tz: the TZif reader, POSIX TZ rules and the zone cache (see tz.h).
 *
 * Owns the process-wide cache of loaded zones (tz_cache, under
 * tz_lock) and nothing else global: it never reads or changes the C
 * library's time-zone state. Must not log, print, exit or abort.
 *
 * Structure. A struct tz is one allocation: the transition times
 * (ascending), the type index of each, the local time types, the
 * abbreviation bytes, and the POSIX rule of the footer (or of $TZ) for
 * instants at or after the last transition (all instants when there is
 * none). A lookup is a binary search, or the rule: the DST start and end
 * of the years around the instant, in UTC, the last one at or before the
 * instant deciding. Before the first transition the first type (type 0)
 * applies, as RFC 8536 says.
 *
 * Invariants: a struct tz is immutable once built; refs counts the
 * cache's reference (one per slot holding it) and every caller's.
 */
#include "tz.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "civil.h"

#define SEC_PER_DAY INT64_C(86400)
#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define LOCALTIME_PATH "/etc/localtime"
#define ABBR_MAX 16	   /* a rule's zone abbreviation, with its NUL */
#define TYPES_MAX 256	   /* transition type indices are one byte */
#define UTOFF_MIN (-89999) /* RFC 8536: utoff SHOULD be in this range */
#define UTOFF_MAX 93599
#define TZIF_HEADER 44

/* One local time type of a TZif file. */
struct tz_type {
	int32_t utoff_s;
	bool isdst;
	uint32_t abbr; /* index of a NUL-terminated string in abbrs */
};

/* A POSIX TZ rule date: when DST starts or ends, in local time. */
struct tz_date {
	char kind;	/* 'J' (1..365, no Feb 29), 'n' (0..365) or 'M' */
	int n;		/* 'J', 'n' */
	int m, w, d;	/* 'M': month 1..12, week 1..5 (5: last), day 0 Sun */
	int32_t time_s; /* time of day of the change, -167..167 h */
};

struct tz_rule {
	int32_t std_s, dst_s; /* UTC offsets, seconds east */
	bool has_dst;
	struct tz_date start, end; /* start in std time, end in dst time */
	char std_abbr[ABBR_MAX];
	char dst_abbr[ABBR_MAX];
};

/* Shared by its references; freed by the last tz_unref. */
struct tz {
	atomic_uint refs;
	size_t ntrans;
	const int64_t *trans;	   /* ascending */
	const uint8_t *trans_type; /* index into types */
	size_t ntypes;
	const struct tz_type *types;
	const char *abbrs;
	bool has_rule;
	struct tz_rule rule;
};

/* ---- POSIX TZ rules ---- */

/* Reads up to maxdigits digits: 0, or -EINVAL if there is none. */
static int
rule_number(const char **pp, int maxdigits, int *ret)
{
	const char *p = *pp;
	int v = 0, n = 0;

	while (n < maxdigits && isdigit((unsigned char)*p)) {
		v = v * 10 + (*p++ - '0');
		n++;
	}
	if (n == 0 || isdigit((unsigned char)*p))
		return -EINVAL;
	*pp = p;
	*ret = v;
	return 0;
}

/* A zone abbreviation: three or more letters, or <...> of letters,
 * digits, '+' and '-'. */
static int
rule_name(const char **pp, char buf[ABBR_MAX])
{
	const char *p = *pp, *start;
	size_t len;

	if (*p == '<') {
		start = ++p;
		while (isalnum((unsigned char)*p) || *p == '+' || *p == '-')
			p++;
		if (*p != '>')
			return -EINVAL;
		len = (size_t)(p - start);
		p++;
	} else {
		start = p;
		while (isalpha((unsigned char)*p))
			p++;
		len = (size_t)(p - start);
	}
	if (len < 3 || len >= ABBR_MAX)
		return -EINVAL;
	memcpy(buf, start, len);
	buf[len] = '\0';
	*pp = p;
	return 0;
}

/* [+-]hh[:mm[:ss]] with hh <= max_h, as seconds. */
static int
rule_hms(const char **pp, int max_h, int32_t *ret)
{
	const char *p = *pp;
	int sign = 1, h, m = 0, s = 0;

	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (rule_number(&p, 3, &h) < 0 || h > max_h)
		return -EINVAL;
	if (*p == ':') {
		p++;
		if (rule_number(&p, 2, &m) < 0 || m > 59)
			return -EINVAL;
		if (*p == ':') {
			p++;
			if (rule_number(&p, 2, &s) < 0 || s > 59)
				return -EINVAL;
		}
	}
	*pp = p;
	*ret = sign * (h * 3600 + m * 60 + s);
	return 0;
}

/* Jn, n or Mm.w.d, then an optional /time (default 02:00). */
static int
rule_date(const char **pp, struct tz_date *d)
{
	const char *p = *pp;

	memset(d, 0, sizeof(*d));
	if (*p == 'J') {
		p++;
		d->kind = 'J';
		if (rule_number(&p, 3, &d->n) < 0 || d->n < 1 || d->n > 365)
			return -EINVAL;
	} else if (*p == 'M') {
		p++;
		d->kind = 'M';
		if (rule_number(&p, 2, &d->m) < 0 || d->m < 1 || d->m > 12 ||
		    *p++ != '.' || rule_number(&p, 1, &d->w) < 0 || d->w < 1 ||
		    d->w > 5 || *p++ != '.' || rule_number(&p, 1, &d->d) < 0 ||
		    d->d > 6)
			return -EINVAL;
	} else {
		d->kind = 'n';
		if (rule_number(&p, 3, &d->n) < 0 || d->n > 365)
			return -EINVAL;
	}
	d->time_s = 2 * 3600;
	if (*p == '/') {
		p++;
		/* RFC 8536 version 3: -167..167 hours. */
		if (rule_hms(&p, 167, &d->time_s) < 0)
			return -EINVAL;
	}
	*pp = p;
	return 0;
}

static int
rule_parse(const char *s, struct tz_rule *r)
{
	const char *p = s;
	int32_t off;

	memset(r, 0, sizeof(*r));
	if (strlen(s) >= TZ_RULE_MAX || rule_name(&p, r->std_abbr) < 0 ||
	    rule_hms(&p, 24, &off) < 0)
		return -EINVAL;
	/* POSIX offsets are positive west of Greenwich. */
	r->std_s = -off;
	if (*p == '\0')
		return 0;
	if (rule_name(&p, r->dst_abbr) < 0)
		return -EINVAL;
	r->has_dst = true;
	r->dst_s = r->std_s + 3600;
	if (*p != ',' && *p != '\0') {
		if (rule_hms(&p, 24, &off) < 0)
			return -EINVAL;
		r->dst_s = -off;
	}
	if (*p == '\0') {
		/* No rule: the US one, as glibc and tzcode assume. */
		r->start = (struct tz_date){'M', 0, 3, 2, 0, 2 * 3600};
		r->end = (struct tz_date){'M', 0, 11, 1, 0, 2 * 3600};
		return 0;
	}
	if (*p++ != ',' || rule_date(&p, &r->start) < 0 || *p++ != ',' ||
	    rule_date(&p, &r->end) < 0 || *p != '\0')
		return -EINVAL;
	return 0;
}

/* The local time (seconds since the epoch, as if UTC) of the change d
 * in year y. */
static int64_t
rule_local_change(const struct tz_date *d, int64_t y)
{
	int64_t days = civil_days_from_civil(y, 1, 1);
	int first, day, dim;

	switch (d->kind) {
	case 'J':
		days += d->n - 1 + (civil_is_leap(y) && d->n >= 60);
		break;
	case 'n':
		days += d->n;
		break;
	default:
		days = civil_days_from_civil(y, d->m, 1);
		first = civil_weekday(days);
		dim = civil_days_in_month(y, d->m);
		day = (d->d - first + 7) % 7 + 7 * (d->w - 1);
		while (day >= dim)
			day -= 7;
		days += day;
		break;
	}
	return days * SEC_PER_DAY + d->time_s;
}

static void
rule_lookup(const struct tz_rule *r, int64_t t, struct tz_info *ret)
{
	int64_t at[6], y, days = t / SEC_PER_DAY, tk;
	bool dst[6], dk, isdst;
	int i, j, m, d;

	if (!r->has_dst) {
		*ret = (struct tz_info){r->std_s, false, r->std_abbr};
		return;
	}
	if (t % SEC_PER_DAY < 0)
		days--;
	civil_from_days(days, &y, &m, &d);
	/* The changes of the year before, this one and the next, in UTC,
	 * in order (stable: of two at the same instant, the later year's
	 * wins, so a rule that is DST all year stays DST). */
	for (i = 0; i < 3; i++) {
		at[2 * i] = rule_local_change(&r->start, y - 1 + i) - r->std_s;
		dst[2 * i] = true;
		at[2 * i + 1] =
		    rule_local_change(&r->end, y - 1 + i) - r->dst_s;
		dst[2 * i + 1] = false;
	}
	for (i = 1; i < 6; i++) {
		tk = at[i];
		dk = dst[i];
		for (j = i; j > 0 && at[j - 1] > tk; j--) {
			at[j] = at[j - 1];
			dst[j] = dst[j - 1];
		}
		at[j] = tk;
		dst[j] = dk;
	}
	isdst = !dst[0];
	for (i = 0; i < 6 && at[i] <= t; i++)
		isdst = dst[i];
	if (isdst)
		*ret = (struct tz_info){r->dst_s, true, r->dst_abbr};
	else
		*ret = (struct tz_info){r->std_s, false, r->std_abbr};
}

/* ---- zones ---- */

static struct tz *
tz_alloc(size_t ntrans, size_t ntypes, size_t nabbrs)
{
	struct tz *z;
	size_t size = sizeof(*z) + ntrans * sizeof(int64_t) +
		      ntypes * sizeof(struct tz_type) + ntrans + nabbrs;

	/* sizeof(struct tz) keeps the int64 array after it aligned. */
	z = calloc(1, size);
	if (z == NULL)
		return NULL;
	atomic_init(&z->refs, 1);
	z->ntrans = ntrans;
	z->ntypes = ntypes;
	z->trans = (const int64_t *)(z + 1);
	z->types = (const struct tz_type *)(z->trans + ntrans);
	z->trans_type = (const uint8_t *)(z->types + ntypes);
	z->abbrs = (const char *)(z->trans_type + ntrans);
	return z;
}

struct tz *
tz_ref(struct tz *z)
{
	atomic_fetch_add_explicit(&z->refs, 1, memory_order_relaxed);
	return z;
}

void
tz_unref(struct tz *z)
{
	if (z == NULL)
		return;
	if (atomic_fetch_sub_explicit(&z->refs, 1, memory_order_acq_rel) == 1)
		free(z);
}

int
tz_from_rule(const char *rule, struct tz **ret_tz)
{
	struct tz_rule r;
	struct tz *z;
	struct tz_type *ty;

	if (rule_parse(rule, &r) < 0)
		return -EINVAL;
	z = tz_alloc(0, 1, 1);
	if (z == NULL)
		return -ENOMEM;
	/* Type 0 is never used (no transitions): the rule covers all. */
	ty = (struct tz_type *)z->types;
	ty->utoff_s = r.std_s;
	z->has_rule = true;
	z->rule = r;
	*ret_tz = z;
	return 0;
}

/* ---- TZif (RFC 8536) ---- */

struct tzif_header {
	unsigned char version; /* 0, '2', '3', '4', ... */
	uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int64_t
be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

static int
tzif_header(const unsigned char *p, size_t len, struct tzif_header *h)
{
	if (len < TZIF_HEADER || memcmp(p, "TZif", 4) != 0)
		return -EINVAL;
	h->version = p[4];
	if (h->version != 0 && h->version < '2')
		return -EINVAL;
	h->isutcnt = be32(p + 20);
	h->isstdcnt = be32(p + 24);
	h->leapcnt = be32(p + 28);
	h->timecnt = be32(p + 32);
	h->typecnt = be32(p + 36);
	h->charcnt = be32(p + 40);
	if (h->typecnt == 0 || h->typecnt > TYPES_MAX || h->charcnt == 0 ||
	    (h->isutcnt != 0 && h->isutcnt != h->typecnt) ||
	    (h->isstdcnt != 0 && h->isstdcnt != h->typecnt))
		return -EINVAL;
	return 0;
}

/* The bytes of the data block after a header; 64-bit arithmetic, so
 * that no count in the header can wrap it. */
static uint64_t
tzif_data_len(const struct tzif_header *h, unsigned tsize)
{
	return (uint64_t)h->timecnt * tsize + h->timecnt +
	       (uint64_t)h->typecnt * 6 + h->charcnt +
	       (uint64_t)h->leapcnt * (tsize + 4) + h->isstdcnt + h->isutcnt;
}

/* The data block at p (its length checked by the caller) into a zone. */
static int
tzif_data(const unsigned char *p, const struct tzif_header *h, unsigned tsize,
	  struct tz **ret_tz)
{
	const unsigned char *tt = p, *ti = tt + (size_t)h->timecnt * tsize;
	const unsigned char *ty = ti + h->timecnt, *ch = ty + h->typecnt * 6;
	const unsigned char *ind = ch + h->charcnt;
	struct tz_type *types;
	int64_t *trans;
	uint8_t *tidx;
	struct tz *z;
	uint32_t i;

	if (h->leapcnt != 0)
		return -EINVAL; /* "right/" zones: not POSIX time */
	/* Indicators: 0 or 1, and UT implies standard (RFC 8536 3.2). */
	for (i = 0; i < h->isstdcnt + h->isutcnt; i++)
		if (ind[i] > 1)
			return -EINVAL;
	for (i = 0; i < h->isutcnt; i++)
		if (ind[h->isstdcnt + i] == 1 &&
		    (h->isstdcnt == 0 || ind[i] != 1))
			return -EINVAL;
	z = tz_alloc(h->timecnt, h->typecnt, h->charcnt);
	if (z == NULL)
		return -ENOMEM;
	trans = (int64_t *)z->trans;
	tidx = (uint8_t *)z->trans_type;
	types = (struct tz_type *)z->types;
	for (i = 0; i < h->timecnt; i++) {
		trans[i] = tsize == 4 ? (int64_t)(int32_t)be32(tt + 4 * i)
				      : be64(tt + 8 * i);
		tidx[i] = ti[i];
		if ((i > 0 && trans[i] <= trans[i - 1]) || ti[i] >= h->typecnt)
			goto bad;
	}
	for (i = 0; i < h->typecnt; i++) {
		const unsigned char *e = ty + 6 * i;

		types[i].utoff_s = (int32_t)be32(e);
		types[i].isdst = e[4];
		types[i].abbr = e[5];
		if (types[i].utoff_s < UTOFF_MIN ||
		    types[i].utoff_s > UTOFF_MAX || e[4] > 1 ||
		    e[5] >= h->charcnt ||
		    memchr(ch + e[5], '\0', h->charcnt - e[5]) == NULL)
			goto bad;
	}
	memcpy((char *)z->abbrs, ch, h->charcnt);
	*ret_tz = z;
	return 0;
bad:
	tz_unref(z);
	return -EINVAL;
}

int
tz_from_tzif(const void *buf, size_t len, struct tz **ret_tz)
{
	const unsigned char *p = buf, *footer, *nl;
	char rule[TZ_RULE_MAX];
	struct tzif_header h;
	struct tz *z;
	uint64_t n;
	size_t off, flen;
	int r;

	if (tzif_header(p, len, &h) < 0)
		return -EINVAL;
	n = tzif_data_len(&h, 4);
	if (n > len - TZIF_HEADER)
		return -EINVAL;
	if (h.version == 0)
		return tzif_data(p + TZIF_HEADER, &h, 4, ret_tz);
	/* Version 2+: skip the 32-bit block for the 64-bit one. */
	off = TZIF_HEADER + (size_t)n;
	if (tzif_header(p + off, len - off, &h) < 0)
		return -EINVAL;
	n = tzif_data_len(&h, 8);
	if (n > len - off - TZIF_HEADER)
		return -EINVAL;
	footer = p + off + TZIF_HEADER + n;
	flen = len - (size_t)(footer - p);
	/* The footer: '\n', a POSIX TZ string (maybe empty), '\n', and
	 * the end of the file. */
	if (flen < 2 || footer[0] != '\n' ||
	    (nl = memchr(footer + 1, '\n', flen - 1)) == NULL ||
	    nl != footer + flen - 1 ||
	    (size_t)(nl - footer - 1) >= sizeof(rule) ||
	    memchr(footer + 1, '\0', (size_t)(nl - footer - 1)) != NULL)
		return -EINVAL;
	memcpy(rule, footer + 1, (size_t)(nl - footer - 1));
	rule[nl - footer - 1] = '\0';
	r = tzif_data(p + off + TZIF_HEADER, &h, 8, &z);
	if (r < 0)
		return r;
	if (rule[0] != '\0') {
		if (rule_parse(rule, &z->rule) < 0) {
			tz_unref(z);
			return -EINVAL;
		}
		z->has_rule = true;
	}
	*ret_tz = z;
	return 0;
}

int
tz_lookup(const struct tz *z, int64_t t, struct tz_info *ret)
{
	const struct tz_type *ty;
	size_t lo, hi, mid;

	if (t > TZ_T_MAX || t < -TZ_T_MAX)
		return -EOVERFLOW;
	if (z->ntrans == 0 || t >= z->trans[z->ntrans - 1]) {
		if (z->has_rule) {
			rule_lookup(&z->rule, t, ret);
			return 0;
		}
		ty = &z->types[z->ntrans == 0 ? 0
					      : z->trans_type[z->ntrans - 1]];
	} else if (t < z->trans[0]) {
		ty = &z->types[0];
	} else {
		/* The last transition at or before t: trans[lo] <= t <
		 * trans[hi]. */
		lo = 0;
		hi = z->ntrans - 1;
		while (hi - lo > 1) {
			mid = lo + (hi - lo) / 2;
			if (z->trans[mid] <= t)
				lo = mid;
			else
				hi = mid;
		}
		ty = &z->types[z->trans_type[lo]];
	}
	*ret = (struct tz_info){ty->utoff_s, ty->isdst, z->abbrs + ty->abbr};
	return 0;
}

/* ---- files ---- */

bool
tz_name_valid(const char *name)
{
	const char *p;

	if (name == NULL || name[0] == '\0' || name[0] == '/' ||
	    strlen(name) >= TZ_NAME_MAX || strstr(name, "..") != NULL)
		return false;
	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("/_+-", *p) == NULL)
			return false;
	return true;
}

/* Reads a whole TZif file (O_NONBLOCK: a FIFO must not hang us) and its
 * identity. */
static int
tz_read_file(const char *path, struct stat *ret_st, struct tz **ret_tz)
{
	unsigned char *buf = NULL;
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if (st.st_size > TZ_FILE_MAX) {
		r = -EFBIG;
		goto out;
	}
	/* One byte more than expected: a file that grew is refused. */
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL) {
		r = -ENOMEM;
		goto out;
	}
	while (len <= (size_t)st.st_size) {
		n = read(fd, buf + len, (size_t)st.st_size + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > (size_t)st.st_size) {
		r = -EFBIG;
		goto out;
	}
	r = tz_from_tzif(buf, len, ret_tz);
	if (r == 0)
		*ret_st = st;
out:
	free(buf);
	close(fd);
	return r;
}

/* ---- the cache ---- */

/* One cached zone: a file (key: its path; reloaded when the file's
 * identity changes) or a rule string. */
struct tz_slot {
	char *key; /* NULL: free */
	bool file;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct tz *z; /* the cache's reference */
	uint64_t used;
};

static pthread_mutex_t tz_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tz_slot tz_cache[TZ_CACHE_MAX]; /* under tz_lock */
static uint64_t tz_clock;		      /* under tz_lock */

static bool
tz_same_file(const struct tz_slot *s, const struct stat *st)
{
	return s->dev == st->st_dev && s->ino == st->st_ino &&
	       s->size == st->st_size &&
	       s->mtime.tv_sec == st->st_mtim.tv_sec &&
	       s->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Under tz_lock: the slot for key, or NULL. */
static struct tz_slot *
tz_cache_find(bool file, const char *key)
{
	int i;

	for (i = 0; i < TZ_CACHE_MAX; i++)
		if (tz_cache[i].key != NULL && tz_cache[i].file == file &&
		    strcmp(tz_cache[i].key, key) == 0)
			return &tz_cache[i];
	return NULL;
}

/* A reference to the cached zone for key if it is current (st: the
 * file's identity now, NULL for a rule). */
static bool
tz_cache_get(bool file, const char *key, const struct stat *st,
	     struct tz **ret_tz)
{
	struct tz_slot *s;
	bool hit = false;

	pthread_mutex_lock(&tz_lock);
	s = tz_cache_find(file, key);
	if (s != NULL && (!file || tz_same_file(s, st))) {
		s->used = ++tz_clock;
		*ret_tz = tz_ref(s->z);
		hit = true;
	}
	pthread_mutex_unlock(&tz_lock);
	return hit;
}

/* Caches z (the caller's reference, handed over) under key and returns
 * a reference to what the cache then holds for key: z, or an equal zone
 * another thread loaded meanwhile. A full cache drops its least recently
 * used zone (freed once its last user lets go). Without memory, z is
 * returned uncached. */
static struct tz *
tz_cache_put(bool file, const char *key, const struct stat *st, struct tz *z)
{
	struct tz *old = NULL, *res;
	struct tz_slot *s;
	char *k;
	int i;

	pthread_mutex_lock(&tz_lock);
	s = tz_cache_find(file, key);
	if (s != NULL && (!file || tz_same_file(s, st))) {
		/* A concurrent load won: share its zone. */
		s->used = ++tz_clock;
		res = tz_ref(s->z);
		old = z;
		goto out;
	}
	if (s == NULL) {
		if ((k = strdup(key)) == NULL) {
			res = z;
			goto out;
		}
		s = &tz_cache[0];
		for (i = 0; i < TZ_CACHE_MAX; i++) {
			if (tz_cache[i].key == NULL) {
				s = &tz_cache[i];
				break;
			}
			if (tz_cache[i].used < s->used)
				s = &tz_cache[i];
		}
		free(s->key);
		s->key = k;
	}
	old = s->z;
	s->file = file;
	if (file) {
		s->dev = st->st_dev;
		s->ino = st->st_ino;
		s->size = st->st_size;
		s->mtime = st->st_mtim;
	}
	s->z = z;
	s->used = ++tz_clock;
	res = tz_ref(z);
out:
	pthread_mutex_unlock(&tz_lock);
	tz_unref(old);
	return res;
}

void
tz_cache_flush(void)
{
	struct tz *drop[TZ_CACHE_MAX];
	int i, n = 0;

	pthread_mutex_lock(&tz_lock);
	for (i = 0; i < TZ_CACHE_MAX; i++) {
		if (tz_cache[i].key == NULL)
			continue;
		drop[n++] = tz_cache[i].z;
		free(tz_cache[i].key);
		memset(&tz_cache[i], 0, sizeof(tz_cache[i]));
	}
	pthread_mutex_unlock(&tz_lock);
	while (n > 0)
		tz_unref(drop[--n]);
}

static int
tz_get_file(const char *path, struct tz **ret_tz)
{
	struct stat st;
	struct tz *z;
	int r;

	if (stat(path, &st) < 0)
		return -errno;
	if (tz_cache_get(true, path, &st, ret_tz))
		return 0;
	r = tz_read_file(path, &st, &z);
	if (r < 0)
		return r;
	*ret_tz = tz_cache_put(true, path, &st, z);
	return 0;
}

static int
tz_get_rule(const char *rule, struct tz **ret_tz)
{
	struct tz *z;
	int r;

	if (tz_cache_get(false, rule, NULL, ret_tz))
		return 0;
	r = tz_from_rule(rule, &z);
	if (r < 0)
		return r;
	*ret_tz = tz_cache_put(false, rule, NULL, z);
	return 0;
}

/* $TZDIR/name into path (size PATH_MAX). */
static int
tz_path(const char *name, char *path)
{
	const char *dir = getenv("TZDIR");
	int n;

	if (dir == NULL || dir[0] == '\0')
		dir = ZONEINFO_DIR;
	n = snprintf(path, PATH_MAX, "%s/%s", dir, name);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* The process's zone, as glibc's tzset finds it, but read by us. */
static int
tz_get_local(struct tz **ret_tz)
{
	const char *tz = getenv("TZ");
	char path[PATH_MAX];
	bool colon = false;
	int r = -ENOENT;

	if (tz == NULL) {
		r = tz_get_file(LOCALTIME_PATH, ret_tz);
		goto out;
	}
	if (tz[0] == ':') {
		colon = true;
		tz++;
	}
	if (tz[0] == '\0')
		goto out; /* TZ="" is UTC */
	if (tz[0] == '/') {
		if (strlen(tz) < PATH_MAX)
			r = tz_get_file(tz, ret_tz);
	} else if (tz_name_valid(tz) && tz_path(tz, path) == 0) {
		r = tz_get_file(path, ret_tz);
	}
	if (r == 0 || r == -ENOMEM || colon)
		goto out;
	r = tz_get_rule(tz, ret_tz);
out:
	if (r == 0 || r == -ENOMEM)
		return r;
	return tz_get_rule("UTC0", ret_tz);
}

int
tz_get(const char *name, struct tz **ret_tz)
{
	char path[PATH_MAX];
	int r;

	if (name == NULL || name[0] == '\0')
		return tz_get_local(ret_tz);
	if (!tz_name_valid(name))
		return -EINVAL;
	r = tz_path(name, path);
	if (r < 0)
		return -EINVAL;
	return tz_get_file(path, ret_tz);
}
