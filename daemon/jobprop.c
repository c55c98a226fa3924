/*
 * jobprop: job properties of exec timers (see jobprop.h).
 *
 * Owns two tables: the whitelist (name, class, value parser) and the keys
 * refused because they could add privilege. A key in neither is unknown.
 * Value syntax follows systemd's parsers for the same settings
 * (parse_size, parse_permyriad, parse_sec, parse_boolean, rlimit_parse),
 * strictly: what systemd would read differently is refused rather than
 * guessed. Every number is checked for overflow before it is formed.
 */
#include "jobprop.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "exec_backend.h"

#define USEC_PER_SEC UINT64_C(1000000)

/* One whitelisted key. parse fills ret from the value, or writes why
 * (the value's problem, without the key) and returns -EINVAL/-EPERM. */
struct jobprop_def {
	const char *name;
	unsigned honours;
	int (*parse)(const char *v, uid_t owner, struct jobprop *ret,
	             char *why, size_t why_size);
};

static int
jobprop_fail(int r, char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;

	if (why_size > 0) {
		va_start(ap, fmt);
		vsnprintf(why, why_size, fmt, ap);
		va_end(ap);
	}
	return r;
}

static bool
jobprop_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A plain decimal number, all of [v, v + len): no sign, no spaces. */
static int
jobprop_uint(const char *v, size_t len, uint64_t *ret)
{
	uint64_t n = 0;
	size_t i;

	if (len == 0)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (!jobprop_digit(v[i]))
			return -EINVAL;
		if (__builtin_mul_overflow(n, 10, &n) ||
		    __builtin_add_overflow(n, (uint64_t)(v[i] - '0'), &n))
			return -ERANGE;
	}
	*ret = n;
	return 0;
}

/*
 * "N" or "N.F" times mult, rounded down; the fraction's digits past the
 * 18th are ignored (below any unit here). *end: the first byte after the
 * number. -EINVAL without a digit before the point, -ERANGE on overflow.
 */
static int
jobprop_decimal(const char *v, uint64_t mult, const char **end, uint64_t *ret)
{
	uint64_t ip = 0, fp = 0, div = 1, r;
	const char *p = v;

	if (!jobprop_digit(*p))
		return -EINVAL;
	for (; jobprop_digit(*p); p++)
		if (__builtin_mul_overflow(ip, 10, &ip) ||
		    __builtin_add_overflow(ip, (uint64_t)(*p - '0'), &ip))
			return -ERANGE;
	if (*p == '.') {
		p++;
		if (!jobprop_digit(*p))
			return -EINVAL;
		for (; jobprop_digit(*p); p++)
			if (div < UINT64_C(1000000000000000000)) {
				fp = fp * 10 + (uint64_t)(*p - '0');
				div *= 10;
			}
	}
	if (__builtin_mul_overflow(ip, mult, &r))
		return -ERANGE;
	/* fp < div <= 1e18 and mult may be large: scale in 128 bits. */
	if (__builtin_add_overflow(
	        r, (uint64_t)((unsigned __int128)fp * mult / div), &r))
		return -ERANGE;
	*end = p;
	*ret = r;
	return 0;
}

/* "N%" or "N.NN%" as parts per 10000 (parse_permyriad); no bound. */
static int
jobprop_permyriad(const char *v, uint64_t *ret)
{
	const char *end;
	uint64_t r;

	if (jobprop_decimal(v, 100, &end, &r) < 0 || strcmp(end, "%") != 0)
		return -EINVAL;
	/* More than two decimals would be silently rounded: refuse. */
	if (strchr(v, '.') != NULL && end - strchr(v, '.') > 3)
		return -EINVAL;
	*ret = r;
	return 0;
}

/* Bytes as parse_size(.., 1024): "N", "N.F" with an optional B, K, M,
 * G, T, P or E (powers of 1024). */
static int
jobprop_bytes(const char *v, uint64_t *ret)
{
	static const char units[] = "BKMGTPE";
	const char *end, *u;
	uint64_t mult = 1, r;
	size_t len = strlen(v);
	int e;

	if (len > 0 && (u = strchr(units, v[len - 1])) != NULL) {
		mult = UINT64_C(1) << (10 * (u - units));
		len--;
	}
	if (len == 0)
		return -EINVAL;
	if ((e = jobprop_decimal(v, mult, &end, &r)) < 0)
		return e;
	if ((size_t)(end - v) != len)
		return -EINVAL;
	*ret = r;
	return 0;
}

/* MemoryMax=, MemoryHigh=: bytes (> 0), 1%..100% of RAM, or infinity. */
static int
jobprop_parse_memory(const char *v, uid_t owner, struct jobprop *ret,
                     char *why, size_t why_size)
{
	uint64_t n;
	int e;

	(void)owner;
	if (strcmp(v, "infinity") == 0) {
		ret->infinity = true;
		return 0;
	}
	if (v[0] != '\0' && v[strlen(v) - 1] == '%') {
		if (jobprop_permyriad(v, &n) < 0 || n == 0 || n > 10000)
			return jobprop_fail(-EINVAL, why, why_size,
			                    "a percentage must be above 0%% and "
			                    "at most 100%%");
		ret->scale = (uint32_t)n;
		return 0;
	}
	if ((e = jobprop_bytes(v, &n)) < 0 || n == 0 || n == UINT64_MAX)
		return jobprop_fail(-EINVAL, why, why_size,
		                    e == -ERANGE ? "too large"
		                                 : "not a size in bytes (with "
		                                   "K, M, G, T: powers of 1024), "
		                                   "a percentage or infinity");
	ret->value = n;
	return 0;
}

/* CPUQuota=: a percentage of one CPU, above 0 (may pass 100%). */
static int
jobprop_parse_cpu_quota(const char *v, uid_t owner, struct jobprop *ret,
                        char *why, size_t why_size)
{
	uint64_t n;

	(void)owner;
	if (jobprop_permyriad(v, &n) < 0 || n == 0 ||
	    n > UINT64_MAX / USEC_PER_SEC)
		return jobprop_fail(-EINVAL, why, why_size,
		                    "must be a percentage above 0%% (\"20%%\", "
		                    "\"150%%\" for one and a half CPUs)");
	ret->value = n * USEC_PER_SEC / 10000;
	return 0;
}

/* TasksMax=: a count (> 0), 1%..100% of the system's, or infinity. */
static int
jobprop_parse_tasks_max(const char *v, uid_t owner, struct jobprop *ret,
                        char *why, size_t why_size)
{
	uint64_t n;

	(void)owner;
	if (strcmp(v, "infinity") == 0) {
		ret->infinity = true;
		return 0;
	}
	if (v[0] != '\0' && v[strlen(v) - 1] == '%') {
		if (jobprop_permyriad(v, &n) < 0 || n == 0 || n > 10000)
			return jobprop_fail(-EINVAL, why, why_size,
			                    "a percentage must be above 0%% and "
			                    "at most 100%%");
		ret->scale = (uint32_t)n;
		return 0;
	}
	if (jobprop_uint(v, strlen(v), &n) < 0 || n == 0 || n == UINT64_MAX)
		return jobprop_fail(-EINVAL, why, why_size,
		                    "must be a number above 0, a percentage or "
		                    "infinity");
	ret->value = n;
	return 0;
}

static int
jobprop_parse_io_weight(const char *v, uid_t owner, struct jobprop *ret,
                        char *why, size_t why_size)
{
	uint64_t n;

	(void)owner;
	if (jobprop_uint(v, strlen(v), &n) < 0 || n < 1 || n > 10000)
		return jobprop_fail(-EINVAL, why, why_size,
		                    "must be a number from 1 to 10000");
	ret->value = n;
	return 0;
}

static int
jobprop_parse_nice(const char *v, uid_t owner, struct jobprop *ret,
                   char *why, size_t why_size)
{
	bool neg = v[0] == '-';
	uint64_t n;

	if (jobprop_uint(v + (neg || v[0] == '+'), strlen(v) - (neg || v[0] == '+'),
	                 &n) < 0 ||
	    (neg && n > 20) || (!neg && n > 19))
		return jobprop_fail(-EINVAL, why, why_size,
		                    "must be a number from -20 to 19");
	if (neg && n > 0 && owner != 0)
		return jobprop_fail(-EPERM, why, why_size,
		                    "a negative value raises the job's priority, "
		                    "which only root may do");
	ret->nice = neg ? -(int)n : (int)n;
	return 0;
}

/* The units of systemd's time spans (parse_sec), in usec. */
static const struct {
	const char *name;
	uint64_t usec;
} jobprop_time_units[] = {
	{ "usec", 1 },
	{ "us", 1 },
	{ "\xc2\xb5s", 1 }, /* µs */
	{ "msec", 1000 },
	{ "ms", 1000 },
	{ "seconds", USEC_PER_SEC },
	{ "second", USEC_PER_SEC },
	{ "sec", USEC_PER_SEC },
	{ "s", USEC_PER_SEC },
	{ "minutes", 60 * USEC_PER_SEC },
	{ "minute", 60 * USEC_PER_SEC },
	{ "min", 60 * USEC_PER_SEC },
	{ "m", 60 * USEC_PER_SEC },
	{ "hours", 3600 * USEC_PER_SEC },
	{ "hour", 3600 * USEC_PER_SEC },
	{ "hr", 3600 * USEC_PER_SEC },
	{ "h", 3600 * USEC_PER_SEC },
	{ "days", 86400 * USEC_PER_SEC },
	{ "day", 86400 * USEC_PER_SEC },
	{ "d", 86400 * USEC_PER_SEC },
	{ "weeks", 7 * 86400 * USEC_PER_SEC },
	{ "week", 7 * 86400 * USEC_PER_SEC },
	{ "w", 7 * 86400 * USEC_PER_SEC },
	{ "months", 2629800 * USEC_PER_SEC },
	{ "month", 2629800 * USEC_PER_SEC },
	{ "M", 2629800 * USEC_PER_SEC },
	{ "years", 31557600 * USEC_PER_SEC },
	{ "year", 31557600 * USEC_PER_SEC },
	{ "y", 31557600 * USEC_PER_SEC },
};

static bool
jobprop_unit_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (unsigned char)c == 0xc2 || (unsigned char)c == 0xb5;
}

/* A time span: "30" (seconds), "5min", "1h 30s", "1.5h", ... in usec.
 * -EINVAL, -ERANGE. */
static int
jobprop_timespan(const char *v, uint64_t *ret)
{
	const char *p = v, *u, *us, *end;
	uint64_t total = 0, n, mult;
	size_t i, ulen;
	int e;

	if (*p == '\0')
		return -EINVAL;
	while (*p != '\0') {
		/* The unit follows the number (maybe after spaces): find it
		 * first, then read the number, fraction and all, in it. */
		for (u = p; jobprop_digit(*u) || *u == '.'; u++)
			;
		for (us = u; *us == ' '; us++)
			;
		for (ulen = 0; jobprop_unit_byte(us[ulen]); ulen++)
			;
		mult = ulen == 0 ? USEC_PER_SEC : 0;
		for (i = 0; ulen > 0 && i < sizeof jobprop_time_units /
		                                sizeof jobprop_time_units[0];
		     i++)
			if (strlen(jobprop_time_units[i].name) == ulen &&
			    memcmp(jobprop_time_units[i].name, us, ulen) == 0)
				mult = jobprop_time_units[i].usec;
		if (mult == 0)
			return -EINVAL;
		if ((e = jobprop_decimal(p, mult, &end, &n)) < 0)
			return e;
		if (end != u)
			return -EINVAL;
		if (__builtin_add_overflow(total, n, &total))
			return -ERANGE;
		for (p = us + ulen; *p == ' '; p++)
			;
	}
	*ret = total;
	return 0;
}

static int
jobprop_parse_runtime(const char *v, uid_t owner, struct jobprop *ret,
                      char *why, size_t why_size)
{
	uint64_t n;
	int e;

	(void)owner;
	if (strcmp(v, "infinity") == 0) {
		ret->infinity = true;
		return 0;
	}
	e = jobprop_timespan(v, &n);
	/* Nanoseconds of it must fit the runner's int64 timeout. */
	if (e == -ERANGE || (e == 0 && n > (uint64_t)INT64_MAX / 1000))
		return jobprop_fail(-EINVAL, why, why_size, "too large");
	if (e < 0 || n == 0)
		return jobprop_fail(-EINVAL, why, why_size,
		                    "must be a time span above 0 (\"30\", "
		                    "\"5min\", \"1h 30s\") or infinity");
	ret->value = n;
	return 0;
}

/* parse_boolean: 1/yes/y/true/t/on, 0/no/n/false/f/off (any case). */
static int
jobprop_bool(const char *v, bool *ret)
{
	static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
	static const char *const no[] = { "0", "no", "n", "false", "f", "off" };
	size_t i;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

static int
jobprop_parse_bool(const char *v, uid_t owner, struct jobprop *ret,
                   char *why, size_t why_size)
{
	(void)owner;
	if (jobprop_bool(v, &ret->flag) < 0)
		return jobprop_fail(-EINVAL, why, why_size,
		                    "must be a boolean (yes or no)");
	return 0;
}

/* A boolean ("yes"/"no", canonical) or one of two more modes, named in
 * the message as "yes, no, <a> or <b>". */
static int
jobprop_parse_mode(const char *v, const char *a, const char *b,
                   struct jobprop *ret, char *why, size_t why_size)
{
	bool flag;

	if (jobprop_bool(v, &flag) == 0)
		ret->str = flag ? "yes" : "no";
	else if (strcmp(v, a) == 0)
		ret->str = a;
	else if (strcmp(v, b) == 0)
		ret->str = b;
	else
		return jobprop_fail(-EINVAL, why, why_size,
		                    "must be yes, no, %s or %s", a, b);
	return 0;
}

/* "no" loosens nothing: hooks are not sandboxed unless they ask. */
static int
jobprop_parse_protect_system(const char *v, uid_t owner, struct jobprop *ret,
                             char *why, size_t why_size)
{
	(void)owner;
	return jobprop_parse_mode(v, "full", "strict", ret, why, why_size);
}

static int
jobprop_parse_protect_home(const char *v, uid_t owner, struct jobprop *ret,
                           char *why, size_t why_size)
{
	(void)owner;
	return jobprop_parse_mode(v, "read-only", "tmpfs", ret, why, why_size);
}

/* Space-separated absolute paths, each maybe after '-'; no quoting, no
 * "." or ".." component (systemd refuses those too). */
static int
jobprop_parse_paths(const char *v, uid_t owner, struct jobprop *ret,
                    char *why, size_t why_size)
{
	const char *p = v;
	size_t n = 0;

	(void)owner;
	while (*p != '\0') {
		if (*p == ' ') {
			p++;
			continue;
		}
		if (*p == '-')
			p++;
		if (*p != '/')
			return jobprop_fail(-EINVAL, why, why_size,
			                    "each path must be absolute");
		for (; *p != '\0' && *p != ' '; p++) {
			if (*p == '"' || *p == '\'' || *p == '\\')
				return jobprop_fail(-EINVAL, why, why_size,
				                    "paths are separated by "
				                    "spaces, without quotes or "
				                    "escapes");
			if (*p == '/' && p[1] == '.' &&
			    (p[2] == '/' || p[2] == ' ' || p[2] == '\0' ||
			     (p[2] == '.' &&
			      (p[3] == '/' || p[3] == ' ' || p[3] == '\0'))))
				return jobprop_fail(-EINVAL, why, why_size,
				                    "a path may not contain . or "
				                    ".. components");
		}
		n++;
	}
	if (n == 0)
		return jobprop_fail(-EINVAL, why, why_size,
		                    "needs at least one path");
	ret->str = v;
	return 0;
}

/* One limit value of Limit*=: infinity, or a number (bytes with
 * suffixes for LimitCORE=). */
static int
jobprop_rlimit_one(const char *v, size_t len, bool bytes, uint64_t *ret,
                   bool *ret_inf)
{
	char buf[32];
	int e;

	if (len == 8 && memcmp(v, "infinity", 8) == 0) {
		*ret = UINT64_MAX;
		*ret_inf = true;
		return 0;
	}
	if (!bytes)
		return jobprop_uint(v, len, ret);
	if (len >= sizeof buf)
		return -EINVAL;
	memcpy(buf, v, len);
	buf[len] = '\0';
	e = jobprop_bytes(buf, ret);
	return e < 0 ? e : 0;
}

/* Limit*=: "N", "soft:hard" or infinity. A hook never gets more than
 * evd's own hard limit (the backend clamps, and the kernel refuses a
 * raise after the drop to the owner), so a value only ever lowers. */
static int
jobprop_parse_rlimit(const char *v, uid_t owner, struct jobprop *ret,
                     char *why, size_t why_size)
{
	bool bytes = ret->key == JOBPROP_LIMIT_CORE;
	const char *colon = strchr(v, ':');
	bool inf_soft = false, inf_hard = false;
	uint64_t soft, hard;

	(void)owner;
	if (jobprop_rlimit_one(v, colon != NULL ? (size_t)(colon - v)
	                                        : strlen(v),
	                       bytes, &soft, &inf_soft) < 0)
		goto bad;
	if (colon == NULL) {
		hard = soft;
		inf_hard = inf_soft;
	} else if (jobprop_rlimit_one(colon + 1, strlen(colon + 1), bytes,
	                              &hard, &inf_hard) < 0)
		goto bad;
	if (soft > hard)
		return jobprop_fail(-EINVAL, why, why_size,
		                    "the soft limit is above the hard one");
	ret->infinity = inf_soft && inf_hard;
	ret->value = soft;
	ret->value_hard = hard;
	return 0;
bad:
	return jobprop_fail(-EINVAL, why, why_size,
	                    bytes ? "must be a size, soft:hard sizes, or "
	                            "infinity"
	                          : "must be a number, soft:hard numbers, or "
	                            "infinity");
}

/* Indexed by enum jobprop_key. */
static const struct jobprop_def jobprop_defs[JOBPROP_KEY_COUNT] = {
	[JOBPROP_MEMORY_MAX] = { "MemoryMax", EXEC_HONOURS_CGROUP,
		                 jobprop_parse_memory },
	[JOBPROP_MEMORY_HIGH] = { "MemoryHigh", EXEC_HONOURS_CGROUP,
		                  jobprop_parse_memory },
	[JOBPROP_CPU_QUOTA] = { "CPUQuota", EXEC_HONOURS_CGROUP,
		                jobprop_parse_cpu_quota },
	[JOBPROP_TASKS_MAX] = { "TasksMax", EXEC_HONOURS_CGROUP,
		                jobprop_parse_tasks_max },
	[JOBPROP_IO_WEIGHT] = { "IOWeight", EXEC_HONOURS_CGROUP,
		                jobprop_parse_io_weight },
	[JOBPROP_NICE] = { "Nice", EXEC_HONOURS_NICE, jobprop_parse_nice },
	[JOBPROP_RUNTIME_MAX_SEC] = { "RuntimeMaxSec", 0,
		                      jobprop_parse_runtime },
	[JOBPROP_PROTECT_SYSTEM] = { "ProtectSystem", EXEC_HONOURS_SANDBOX,
		                     jobprop_parse_protect_system },
	[JOBPROP_PROTECT_HOME] = { "ProtectHome", EXEC_HONOURS_SANDBOX,
		                   jobprop_parse_protect_home },
	[JOBPROP_PRIVATE_TMP] = { "PrivateTmp", EXEC_HONOURS_SANDBOX,
		                  jobprop_parse_bool },
	[JOBPROP_PRIVATE_NETWORK] = { "PrivateNetwork", EXEC_HONOURS_SANDBOX,
		                      jobprop_parse_bool },
	[JOBPROP_NO_NEW_PRIVILEGES] = { "NoNewPrivileges",
		                        EXEC_HONOURS_SANDBOX,
		                        jobprop_parse_bool },
	[JOBPROP_READ_WRITE_PATHS] = { "ReadWritePaths", EXEC_HONOURS_SANDBOX,
		                       jobprop_parse_paths },
	[JOBPROP_READ_ONLY_PATHS] = { "ReadOnlyPaths", EXEC_HONOURS_SANDBOX,
		                      jobprop_parse_paths },
	[JOBPROP_INACCESSIBLE_PATHS] = { "InaccessiblePaths",
		                         EXEC_HONOURS_SANDBOX,
		                         jobprop_parse_paths },
	[JOBPROP_LIMIT_NOFILE] = { "LimitNOFILE", 0, jobprop_parse_rlimit },
	[JOBPROP_LIMIT_CORE] = { "LimitCORE", 0, jobprop_parse_rlimit },
	[JOBPROP_LIMIT_NPROC] = { "LimitNPROC", 0, jobprop_parse_rlimit },
};

/* Settings that could give a job more than its owner has, or change
 * who or what runs: named as such when refused. Prefixes end in '*'. */
static const char *const jobprop_privileged[] = {
	"User", "Group", "DynamicUser", "SupplementaryGroups", "PAMName",
	"AmbientCapabilities", "CapabilityBoundingSet", "SecureBits",
	"Exec*", "Environment", "EnvironmentFile", "PassEnvironment",
	"UnsetEnvironment", "WorkingDirectory", "RootDirectory", "RootImage",
	"BindPaths", "BindReadOnlyPaths", "Delegate", "Slice",
	"OOMScoreAdjust", "CPUSchedulingPolicy", "CPUSchedulingPriority",
	"IOSchedulingClass", "IOSchedulingPriority", "Personality",
	"KeyringMode", "LoadCredential*", "SetCredential*",
	"ImportCredential", "DeviceAllow", "DevicePolicy", "IPAddressAllow",
	"SELinuxContext", "AppArmorProfile", "SmackProcessLabel",
	"Standard*", "TTYPath", "Restart", "Type", "Sockets", "FileDescriptorStore*",
	"KillMode", "SendSIGKILL", "RemainAfterExit", "Unit",
	"MemoryLow", "MemoryMin", "CPUWeight", "StartupCPUWeight",
};

static bool
jobprop_is_privileged(const char *key, size_t klen)
{
	size_t i, n;

	for (i = 0; i < sizeof jobprop_privileged /
	                    sizeof jobprop_privileged[0];
	     i++) {
		const char *p = jobprop_privileged[i];

		n = strlen(p);
		if (p[n - 1] == '*' ? klen >= n - 1 && memcmp(key, p, n - 1) == 0
		                    : klen == n && memcmp(key, p, n) == 0)
			return true;
	}
	return false;
}

int
jobprop_parse(const char *kv, uid_t owner, struct jobprop *ret, char *why,
              size_t why_size)
{
	const char *eq = strchr(kv, '='), *p;
	char err[160] = "";
	struct jobprop jp;
	size_t klen, i;
	int r;

	if (strlen(kv) > JOBPROP_LEN_MAX)
		return jobprop_fail(-E2BIG, why, why_size,
		                    "property '%.40s...' is longer than %d "
		                    "bytes",
		                    kv, JOBPROP_LEN_MAX);
	klen = eq != NULL ? (size_t)(eq - kv) : strlen(kv);
	/* The key is quoted back to the client (and maybe logged), so it
	 * is judged before anything else echoes it. */
	for (p = kv; p < kv + klen; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      jobprop_digit(*p)))
			return jobprop_fail(-EINVAL, why, why_size,
			                    "a property is Key=Value with a key "
			                    "of letters and digits");
	if (eq == NULL || klen == 0 || klen > 64)
		return jobprop_fail(-EINVAL, why, why_size,
		                    "property '%.64s' is not Key=Value", kv);
	for (p = eq + 1; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return jobprop_fail(-EINVAL, why, why_size,
			                    "property '%.*s' has a control "
			                    "character in its value",
			                    (int)klen, kv);
	for (i = 0; i < JOBPROP_KEY_COUNT; i++)
		if (strlen(jobprop_defs[i].name) == klen &&
		    memcmp(jobprop_defs[i].name, kv, klen) == 0)
			break;
	if (i == JOBPROP_KEY_COUNT)
		return jobprop_is_privileged(kv, klen)
		               ? jobprop_fail(-EPERM, why, why_size,
		                              "property '%.*s' is not allowed: "
		                              "it could add privilege",
		                              (int)klen, kv)
		               : jobprop_fail(-EINVAL, why, why_size,
		                              "unknown property '%.*s'",
		                              (int)klen, kv);
	memset(&jp, 0, sizeof jp);
	jp.key = (enum jobprop_key)i;
	jp.name = jobprop_defs[i].name;
	jp.honours = jobprop_defs[i].honours;
	if ((r = jobprop_defs[i].parse(eq + 1, owner, &jp, err, sizeof err)) <
	    0)
		return jobprop_fail(r, why, why_size,
		                    "property '%s' value '%.64s': %s", jp.name,
		                    eq + 1, err);
	*ret = jp;
	return (int)i;
}

const char *
jobprop_key_name(enum jobprop_key k)
{
	return (unsigned)k < JOBPROP_KEY_COUNT ? jobprop_defs[k].name : NULL;
}

const char *
jobprop_class_name(unsigned honours_bit)
{
	switch (honours_bit) {
	case EXEC_HONOURS_NICE:
		return "a per-hook nice value";
	case EXEC_HONOURS_CGROUP:
		return "per-hook cgroups";
	case EXEC_HONOURS_SANDBOX:
		return "a per-hook sandbox (mount namespace)";
	default:
		return "a feature";
	}
}

int
jobprop_check(const char *const *kv, size_t n, uid_t owner, unsigned honours,
              const char *runner, char *why, size_t why_size)
{
	struct jobprop jp;
	size_t i;
	int r;

	if (n > JOBPROP_MAX)
		return jobprop_fail(-E2BIG, why, why_size,
		                    "at most %d properties", JOBPROP_MAX);
	for (i = 0; i < n; i++) {
		if (kv[i] == NULL)
			return jobprop_fail(-EINVAL, why, why_size,
			                    "property %zu is missing", i);
		if ((r = jobprop_parse(kv[i], owner, &jp, why, why_size)) < 0)
			return r;
		if (jp.honours != 0 && (honours & jp.honours) == 0)
			return jobprop_fail(-EOPNOTSUPP, why, why_size,
			                    "property '%s' needs %s, which %s "
			                    "cannot apply",
			                    jp.name,
			                    jobprop_class_name(jp.honours),
			                    runner != NULL
			                            ? runner
			                            : "this evd's hook runner");
	}
	return 0;
}

int64_t
jobprop_timeout_ns(const char *const *kv, size_t n, int64_t timeout_ns)
{
	int64_t run_ns = 0;
	struct jobprop jp;
	char why[8];
	size_t i;

	for (i = 0; i < n; i++) {
		if (kv[i] == NULL || strncmp(kv[i], "RuntimeMaxSec=", 14) != 0 ||
		    jobprop_parse(kv[i], 0, &jp, why, sizeof why) < 0)
			continue;
		/* value <= INT64_MAX / 1000 (jobprop_parse_runtime) */
		run_ns = jp.infinity ? 0 : (int64_t)jp.value * 1000;
	}
	if (run_ns == 0)
		return timeout_ns;
	if (timeout_ns <= 0 || run_ns < timeout_ns)
		return run_ns;
	return timeout_ns;
}

/* systemd's default period for CPUQuota= (cpu.max "quota period"). */
#define JOBPROP_CPU_PERIOD_US 100000

const char *
jobprop_cgroup(const struct jobprop *jp, uint64_t mem_total, uint64_t pid_max,
               char *text, size_t size)
{
	uint64_t v;

	switch (jp->key) {
	case JOBPROP_MEMORY_MAX:
	case JOBPROP_MEMORY_HIGH:
	case JOBPROP_TASKS_MAX:
		if (jp->infinity) {
			snprintf(text, size, "max");
		} else {
			uint64_t whole = jp->key == JOBPROP_TASKS_MAX ? pid_max
			                                              : mem_total;

			/* whole * scale / 10000, rounded down, without
			 * overflowing */
			v = jp->scale != 0 ? whole / 10000 * jp->scale +
			                         whole % 10000 * jp->scale / 10000
			                   : jp->value;
			snprintf(text, size, "%" PRIu64, v);
		}
		return jp->key == JOBPROP_MEMORY_MAX    ? "memory.max"
		       : jp->key == JOBPROP_MEMORY_HIGH ? "memory.high"
		                                        : "pids.max";
	case JOBPROP_CPU_QUOTA:
		/* value: CPU microseconds per second; at least 1 us (the
		 * kernel refuses 0) */
		v = jp->value / (1000000 / JOBPROP_CPU_PERIOD_US);
		snprintf(text, size, "%" PRIu64 " %d", v > 0 ? v : 1,
		         JOBPROP_CPU_PERIOD_US);
		return "cpu.max";
	case JOBPROP_IO_WEIGHT:
		snprintf(text, size, "default %" PRIu64, jp->value);
		return "io.weight";
	default:
		return NULL;
	}
}
