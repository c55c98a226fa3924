/*
 * exec_sdprops: job properties as typed D-Bus unit properties (see
 * exec_sdprops.h). Pure; every parser rejects trailing garbage, overflow
 * and negative numbers, like systemd's own parsers do for these keys.
 */
#include "exec_sdprops.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define USEC_PER_SEC UINT64_C(1000000)

/* Parses "123" or "123.456" at *p into an integer part and a fraction
 * (numerator frac over denominator den, den a power of ten up to 1e9;
 * further digits are dropped). Advances *p. */
static int
parse_decimal(const char **p, uint64_t *ret_int, uint64_t *ret_frac,
	      uint64_t *ret_den)
{
	const char *s = *p;
	uint64_t v = 0, frac = 0, den = 1;
	bool any = false;

	while (*s >= '0' && *s <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s++ - '0');
		any = true;
	}
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9') {
			if (den < UINT64_C(1000000000)) {
				frac = frac * 10 + (uint64_t)(*s - '0');
				den *= 10;
			}
			s++;
			any = true;
		}
	}
	if (!any)
		return -EINVAL;
	*p = s;
	*ret_int = v;
	*ret_frac = frac;
	*ret_den = den;
	return 0;
}

/* v * mult + frac * mult / den, or -ERANGE. */
static int
scale(uint64_t v, uint64_t frac, uint64_t den, uint64_t mult, uint64_t *ret)
{
	uint64_t whole, part;

	if (mult != 0 && v > UINT64_MAX / mult)
		return -ERANGE;
	whole = v * mult;
	/* frac < den <= 1e9 and mult <= ~3.2e13: split to stay in range. */
	part = (mult / den) * frac + ((mult % den) * frac) / den;
	if (whole > UINT64_MAX - part)
		return -ERANGE;
	*ret = whole + part;
	return 0;
}

int
exec_sdprops_parse_size(const char *s, uint64_t *ret)
{
	static const struct {
		char suffix;
		uint64_t mult;
	} units[] = {
	    {'K', UINT64_C(1) << 10}, {'M', UINT64_C(1) << 20},
	    {'G', UINT64_C(1) << 30}, {'T', UINT64_C(1) << 40},
	    {'P', UINT64_C(1) << 50}, {'E', UINT64_C(1) << 60},
	};
	uint64_t v, frac, den, mult = 1, out;
	const char *p = s;
	int r;

	if (strcmp(s, "infinity") == 0) {
		*ret = UINT64_MAX;
		return 0;
	}
	if ((r = parse_decimal(&p, &v, &frac, &den)) < 0)
		return r == -ERANGE ? -ERANGE : -EINVAL;
	if (*p != '\0') {
		size_t i;

		for (i = 0; i < sizeof units / sizeof units[0]; i++)
			if (*p == units[i].suffix)
				break;
		if (i == sizeof units / sizeof units[0])
			return -EINVAL;
		mult = units[i].mult;
		p++;
		if (*p == 'B') /* "512MB" is still base 1024 in systemd */
			p++;
		if (*p != '\0')
			return -EINVAL;
	} else if (frac != 0) {
		return -EINVAL; /* fractional bytes */
	}
	if ((r = scale(v, frac, den, mult, &out)) < 0)
		return r;
	*ret = out;
	return 0;
}

int
exec_sdprops_parse_timespan_usec(const char *s, uint64_t *ret)
{
	static const struct {
		const char *name;
		uint64_t usec;
	} units[] = {
	    /* Longest first where one is a prefix of another is not needed:
	     * the whole alphabetic run is compared. */
	    {"us", 1},
	    {"usec", 1},
	    {"ms", 1000},
	    {"msec", 1000},
	    {"s", USEC_PER_SEC},
	    {"sec", USEC_PER_SEC},
	    {"second", USEC_PER_SEC},
	    {"seconds", USEC_PER_SEC},
	    {"m", 60 * USEC_PER_SEC},
	    {"min", 60 * USEC_PER_SEC},
	    {"minute", 60 * USEC_PER_SEC},
	    {"minutes", 60 * USEC_PER_SEC},
	    {"h", 3600 * USEC_PER_SEC},
	    {"hr", 3600 * USEC_PER_SEC},
	    {"hour", 3600 * USEC_PER_SEC},
	    {"hours", 3600 * USEC_PER_SEC},
	    {"d", 86400 * USEC_PER_SEC},
	    {"day", 86400 * USEC_PER_SEC},
	    {"days", 86400 * USEC_PER_SEC},
	    {"w", 7 * 86400 * USEC_PER_SEC},
	    {"week", 7 * 86400 * USEC_PER_SEC},
	    {"weeks", 7 * 86400 * USEC_PER_SEC},
	    {"M", 2629800 * USEC_PER_SEC},
	    {"month", 2629800 * USEC_PER_SEC},
	    {"months", 2629800 * USEC_PER_SEC},
	    {"y", 31557600 * USEC_PER_SEC},
	    {"year", 31557600 * USEC_PER_SEC},
	    {"years", 31557600 * USEC_PER_SEC},
	};
	const char *p = s;
	uint64_t total = 0;
	bool any = false;

	if (strcmp(s, "infinity") == 0) {
		*ret = UINT64_MAX;
		return 0;
	}
	for (;;) {
		uint64_t v, frac, den, mult = USEC_PER_SEC, part;
		const char *u;
		size_t n, i;
		int r;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if ((r = parse_decimal(&p, &v, &frac, &den)) < 0)
			return r == -ERANGE ? -ERANGE : -EINVAL;
		while (*p == ' ' || *p == '\t')
			p++;
		u = p;
		while (isalpha((unsigned char)*p))
			p++;
		n = (size_t)(p - u);
		if (n > 0) {
			for (i = 0; i < sizeof units / sizeof units[0]; i++)
				if (strlen(units[i].name) == n &&
				    memcmp(units[i].name, u, n) == 0)
					break;
			if (i == sizeof units / sizeof units[0])
				return -EINVAL;
			mult = units[i].usec;
		}
		if ((r = scale(v, frac, den, mult, &part)) < 0)
			return r;
		if (total > UINT64_MAX - 1 - part)
			return -ERANGE;
		total += part;
		any = true;
	}
	if (!any)
		return -EINVAL;
	*ret = total;
	return 0;
}

int
exec_sdprops_parse_permyriad(const char *s, uint64_t *ret)
{
	uint64_t v, frac, den, out;
	const char *p = s;
	int r;

	if ((r = parse_decimal(&p, &v, &frac, &den)) < 0)
		return r == -ERANGE ? -ERANGE : -EINVAL;
	if (strcmp(p, "%") != 0 || den > 100)
		return -EINVAL; /* systemd takes at most two decimals */
	if ((r = scale(v, frac, den, 100, &out)) < 0)
		return r;
	*ret = out;
	return 0;
}

/* systemd's parse_boolean. */
static int
parse_bool(const char *s)
{
	static const char *const yes[] = {"1", "yes", "y", "true", "t", "on"};
	static const char *const no[] = {"0", "no", "n", "false", "f", "off"};
	size_t i;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++)
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
	for (i = 0; i < sizeof no / sizeof no[0]; i++)
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	return -EINVAL;
}

static bool
one_of(const char *s, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return true;
	return false;
}

/* 0..100% as the 32-bit scale systemd's *Scale properties take. */
static uint32_t
scale32(uint64_t permyriad)
{
	return (uint32_t)(((uint64_t)UINT32_MAX * permyriad + 5000) / 10000);
}

/* MemoryMax= and TasksMax=: a number, "infinity" or a percentage (of
 * physical memory / of the system's pid limit, as the *Scale property). */
static int
parse_limit(const char *v, const char *name, const char *scale_name,
	    bool is_size, struct exec_sdprop *p)
{
	uint64_t n;
	int r;

	if (strchr(v, '%') != NULL) {
		if ((r = exec_sdprops_parse_permyriad(v, &n)) < 0)
			return -EINVAL;
		if (n > 10000)
			return -EINVAL;
		p->name = scale_name;
		p->type = 'u';
		p->t = scale32(n);
		return 0;
	}
	if (is_size)
		r = exec_sdprops_parse_size(v, &n);
	else if (strcmp(v, "infinity") == 0)
		r = 0, n = UINT64_MAX;
	else {
		char *end;

		errno = 0;
		if (!isdigit((unsigned char)*v))
			return -EINVAL;
		n = strtoull(v, &end, 10);
		r = (errno != 0 || *end != '\0' || n == 0) ? -EINVAL : 0;
	}
	if (r < 0)
		return -EINVAL;
	p->name = name;
	p->type = 't';
	p->t = n;
	return 0;
}

static int
parse_paths(const char *v, struct exec_sdprop *p)
{
	char **paths;
	size_t n = 0;
	const char *s = v;

	/* No quoting: a value with quotes or backslashes is refused rather
	 * than split differently from systemd. */
	if (strpbrk(v, "\"'\\") != NULL)
		return -EINVAL;
	if ((paths = calloc(EXEC_SDPROPS_PATHS_MAX + 1, sizeof *paths)) == NULL)
		return -ENOMEM;
	for (;;) {
		const char *start, *q;
		size_t len;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		start = s;
		while (*s != '\0' && *s != ' ' && *s != '\t')
			s++;
		len = (size_t)(s - start);
		q = start;
		if (*q == '-')
			q++;
		if (*q == '+')
			q++;
		if (*q != '/' || n == EXEC_SDPROPS_PATHS_MAX) {
			int err = *q != '/' ? -EINVAL : -E2BIG;

			p->paths = paths;
			exec_sdprop_clear(p);
			return err;
		}
		if ((paths[n] = strndup(start, len)) == NULL) {
			p->paths = paths;
			exec_sdprop_clear(p);
			return -ENOMEM;
		}
		n++;
	}
	p->name = "ReadWritePaths";
	p->type = 'a';
	p->paths = paths;
	p->npaths = n;
	return 0;
}

int
exec_sdprop_parse(const char *assignment, struct exec_sdprop *ret)
{
	static const char *const protect_system[] = {
	    "yes", "no", "true", "false",  "on", "off",
	    "1",   "0",	 "full", "strict", NULL};
	static const char *const protect_home[] = {
	    "yes", "no", "true",      "false", "on", "off",
	    "1",   "0",	 "read-only", "tmpfs", NULL};
	struct exec_sdprop p = {0};
	const char *eq = strchr(assignment, '='), *v;
	size_t klen;
	char key[32];
	uint64_t n;
	int r;

	if (eq == NULL || (klen = (size_t)(eq - assignment)) == 0 ||
	    klen >= sizeof key)
		return eq == NULL || klen == 0 ? -EINVAL : -EOPNOTSUPP;
	memcpy(key, assignment, klen);
	key[klen] = '\0';
	v = eq + 1;

	if (strcmp(key, "MemoryMax") == 0) {
		if ((r = parse_limit(v, "MemoryMax", "MemoryMaxScale", true,
				     &p)) < 0)
			return r;
	} else if (strcmp(key, "TasksMax") == 0) {
		if ((r = parse_limit(v, "TasksMax", "TasksMaxScale", false,
				     &p)) < 0)
			return r;
	} else if (strcmp(key, "CPUQuota") == 0) {
		p.name = "CPUQuotaPerSecUSec";
		p.type = 't';
		if (*v == '\0' || strcmp(v, "infinity") == 0)
			p.t = UINT64_MAX;
		else if (exec_sdprops_parse_permyriad(v, &n) < 0 || n == 0 ||
			 n > UINT64_MAX / USEC_PER_SEC)
			return -EINVAL;
		else
			p.t = n * USEC_PER_SEC / 10000;
	} else if (strcmp(key, "Nice") == 0) {
		char *end;
		long l;

		errno = 0;
		l = strtol(v, &end, 10);
		if (*v == '\0' || *end != '\0' || errno != 0 || l < -20 ||
		    l > 19)
			return -EINVAL;
		p.name = "Nice";
		p.type = 'i';
		p.i = (int32_t)l;
	} else if (strcmp(key, "IOWeight") == 0) {
		char *end;
		unsigned long long u;

		errno = 0;
		u = isdigit((unsigned char)*v) ? strtoull(v, &end, 10) : 0;
		if (u < 1 || u > 10000 || *end != '\0' || errno != 0)
			return -EINVAL;
		p.name = "IOWeight";
		p.type = 't';
		p.t = u;
	} else if (strcmp(key, "RuntimeMaxSec") == 0) {
		if (exec_sdprops_parse_timespan_usec(v, &n) < 0)
			return -EINVAL;
		p.name = "RuntimeMaxUSec";
		p.type = 't';
		p.t = n;
	} else if (strcmp(key, "ProtectSystem") == 0 ||
		   strcmp(key, "ProtectHome") == 0) {
		bool sys = key[7] == 'S';

		if (!one_of(v, sys ? protect_system : protect_home))
			return -EINVAL;
		p.name = sys ? "ProtectSystem" : "ProtectHome";
		p.type = 's';
		p.s = v;
	} else if (strcmp(key, "PrivateTmp") == 0 ||
		   strcmp(key, "PrivateNetwork") == 0) {
		if ((r = parse_bool(v)) < 0)
			return -EINVAL;
		p.name = key[7] == 'T' ? "PrivateTmp" : "PrivateNetwork";
		p.type = 'b';
		p.b = r == 1;
	} else if (strcmp(key, "ReadWritePaths") == 0) {
		if ((r = parse_paths(v, &p)) < 0)
			return r;
	} else {
		return -EOPNOTSUPP;
	}
	*ret = p;
	return 0;
}

void
exec_sdprop_clear(struct exec_sdprop *p)
{
	if (p->paths != NULL)
		for (char **q = p->paths; *q != NULL; q++)
			free(*q);
	free(p->paths);
	p->paths = NULL;
	p->npaths = 0;
}
