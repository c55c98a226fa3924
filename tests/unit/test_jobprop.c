/*
 * Unit tests of job properties (daemon/jobprop.c): the whitelist, the
 * keys refused and how they are named, value syntax with its edge cases
 * and overflows, the honours classes, negative Nice for non-root, and the
 * timeout RuntimeMaxSec= gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "exec_backend.h"
#include "jobprop.h"

#define USER 1000
#define ALL (EXEC_HONOURS_NICE | EXEC_HONOURS_CGROUP | EXEC_HONOURS_SANDBOX)

static char why[256];

/* Parses kv for a non-root owner; expects success. */
static struct jobprop
ok(const char *kv)
{
	struct jobprop jp;
	int r;

	memset(&jp, 0xa5, sizeof jp);
	why[0] = '\0';
	r = jobprop_parse(kv, USER, &jp, why, sizeof why);
	if (r < 0)
		fail_msg("%s: %s", kv, why);
	assert_int_equal(r, (int)jp.key);
	return jp;
}

/* Expects kv refused with err, the message containing needle. */
static void
bad(const char *kv, int err, const char *needle)
{
	struct jobprop jp;
	int r;

	memset(&jp, 0x5a, sizeof jp);
	why[0] = '\0';
	r = jobprop_parse(kv, USER, &jp, why, sizeof why);
	if (r != err)
		fail_msg("%s: got %d (%s), want %d", kv, r, why, err);
	if (strstr(why, needle) == NULL)
		fail_msg("%s: \"%s\" does not say \"%s\"", kv, why, needle);
	/* Untouched on failure. */
	assert_int_equal(((unsigned char *)&jp)[0], 0x5a);
}

static void
test_whitelist(void **state)
{
	static const char *const good[] = {
		"MemoryMax=1G", "MemoryHigh=512M", "CPUQuota=20%",
		"TasksMax=64", "IOWeight=100", "Nice=5",
		"RuntimeMaxSec=30", "ProtectSystem=strict",
		"ProtectHome=read-only", "PrivateTmp=yes",
		"PrivateNetwork=no", "NoNewPrivileges=true",
		"ReadWritePaths=/srv", "ReadOnlyPaths=/etc /usr",
		"InaccessiblePaths=-/nonexistent", "LimitNOFILE=256",
		"LimitCORE=0", "LimitNPROC=100:200",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		struct jobprop jp = ok(good[i]);

		/* The name is systemd's, as given. */
		assert_int_equal(strncmp(good[i], jp.name, strlen(jp.name)), 0);
		assert_int_equal(good[i][strlen(jp.name)], '=');
	}
}

static void
test_refused_keys(void **state)
{
	static const char *const priv[] = {
		"User=root", "Group=root", "DynamicUser=yes",
		"SupplementaryGroups=wheel", "AmbientCapabilities=CAP_SYS_ADMIN",
		"CapabilityBoundingSet=~", "ExecStart=/bin/sh",
		"ExecStartPre=/bin/true", "Environment=LD_PRELOAD=/x.so",
		"Delegate=yes", "Slice=system.slice", "OOMScoreAdjust=-1000",
		"CPUSchedulingPolicy=fifo",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof priv / sizeof priv[0]; i++) {
		char want[128];

		snprintf(want, sizeof want, "property '%.*s' is not allowed: it "
		         "could add privilege",
		         (int)(strchr(priv[i], '=') - priv[i]), priv[i]);
		bad(priv[i], -EPERM, want);
	}
	bad("Foo=1", -EINVAL, "unknown property 'Foo'");
	bad("ProtectKernelTunables=yes", -EINVAL,
	    "unknown property 'ProtectKernelTunables'");
	/* Case-sensitive, as in systemd. */
	bad("memorymax=1G", -EINVAL, "unknown property 'memorymax'");
	bad("user=root", -EINVAL, "unknown property 'user'");
	bad("MemoryMax", -EINVAL, "property 'MemoryMax' is not Key=Value");
	bad("=1", -EINVAL, "is not Key=Value");
	bad("", -EINVAL, "is not Key=Value");
	/* A key that is not a key is never echoed. */
	bad("Memory Max=1", -EINVAL, "key of letters and digits");
	bad("X\n[fake log line]=1", -EINVAL, "key of letters and digits");
	bad("MemoryMax=1G\nEVIL", -EINVAL, "control character");
	bad("ReadWritePaths=/a\t/b", -EINVAL, "control character");
}

static void
test_memory(void **state)
{
	struct jobprop jp;

	(void)state;
	jp = ok("MemoryMax=1G");
	assert_int_equal(jp.key, JOBPROP_MEMORY_MAX);
	assert_int_equal(jp.honours, EXEC_HONOURS_CGROUP);
	assert_true(jp.value == UINT64_C(1) << 30);
	assert_int_equal(jp.scale, 0);
	assert_false(jp.infinity);
	assert_true(ok("MemoryMax=100").value == 100);
	assert_true(ok("MemoryMax=100B").value == 100);
	assert_true(ok("MemoryMax=2K").value == 2048);
	assert_true(ok("MemoryMax=3T").value == UINT64_C(3) << 40);
	assert_true(ok("MemoryMax=1.5G").value == UINT64_C(3) << 29);
	assert_true(ok("MemoryHigh=15E").value == UINT64_C(15) << 60);
	jp = ok("MemoryMax=infinity");
	assert_true(jp.infinity);
	jp = ok("MemoryMax=50%");
	assert_int_equal(jp.scale, 5000);
	assert_int_equal(ok("MemoryMax=12.5%").scale, 1250);
	assert_int_equal(ok("MemoryMax=100%").scale, 10000);
	assert_int_equal(ok("MemoryHigh=0.01%").scale, 1);
	bad("MemoryMax=0", -EINVAL, "property 'MemoryMax' value '0'");
	bad("MemoryMax=0%", -EINVAL, "percentage");
	bad("MemoryMax=101%", -EINVAL, "at most 100%");
	bad("MemoryMax=1.234%", -EINVAL, "percentage");
	bad("MemoryMax=", -EINVAL, "MemoryMax");
	bad("MemoryMax=G", -EINVAL, "size in bytes");
	bad("MemoryMax=-1", -EINVAL, "size in bytes");
	bad("MemoryMax=1 G", -EINVAL, "size in bytes");
	bad("MemoryMax= 1G", -EINVAL, "size in bytes");
	bad("MemoryMax=1GB", -EINVAL, "size in bytes");
	bad("MemoryMax=1.G", -EINVAL, "size in bytes");
	bad("MemoryMax=Infinity", -EINVAL, "size in bytes");
	/* Overflow: 16E is 2^64; more digits than fit. */
	bad("MemoryMax=16E", -EINVAL, "too large");
	bad("MemoryMax=18446744073709551616", -EINVAL, "too large");
	bad("MemoryMax=99999999999999999999999", -EINVAL, "too large");
	/* UINT64_MAX itself is systemd's "infinity": refused as a number. */
	bad("MemoryMax=18446744073709551615", -EINVAL, "MemoryMax");
}

static void
test_cpu_tasks_io(void **state)
{
	struct jobprop jp;

	(void)state;
	jp = ok("CPUQuota=20%");
	assert_true(jp.value == 200000); /* usec per second */
	assert_true(ok("CPUQuota=150%").value == 1500000);
	assert_true(ok("CPUQuota=0.5%").value == 5000);
	bad("CPUQuota=0%", -EINVAL, "above 0%");
	bad("CPUQuota=20", -EINVAL, "percentage");
	bad("CPUQuota=infinity", -EINVAL, "percentage");
	bad("CPUQuota=99999999999999999999%", -EINVAL, "CPUQuota");

	jp = ok("TasksMax=64");
	assert_true(jp.value == 64);
	assert_int_equal(jp.honours, EXEC_HONOURS_CGROUP);
	assert_int_equal(ok("TasksMax=10%").scale, 1000);
	assert_true(ok("TasksMax=infinity").infinity);
	bad("TasksMax=0", -EINVAL, "above 0");
	bad("TasksMax=1K", -EINVAL, "TasksMax");
	bad("TasksMax=-5", -EINVAL, "TasksMax");

	assert_true(ok("IOWeight=1").value == 1);
	assert_true(ok("IOWeight=10000").value == 10000);
	bad("IOWeight=0", -EINVAL, "1 to 10000");
	bad("IOWeight=10001", -EINVAL, "1 to 10000");
	bad("IOWeight=", -EINVAL, "1 to 10000");
}

static void
test_nice(void **state)
{
	struct jobprop jp;

	(void)state;
	jp = ok("Nice=19");
	assert_int_equal(jp.nice, 19);
	assert_int_equal(jp.honours, EXEC_HONOURS_NICE);
	assert_int_equal(ok("Nice=0").nice, 0);
	assert_int_equal(ok("Nice=-0").nice, 0);
	bad("Nice=20", -EINVAL, "-20 to 19");
	bad("Nice=-21", -EINVAL, "-20 to 19");
	bad("Nice=abc", -EINVAL, "-20 to 19");
	bad("Nice=", -EINVAL, "-20 to 19");
	/* A negative nice raises priority: root only. */
	bad("Nice=-1", -EPERM, "only root");
	bad("Nice=-20", -EPERM, "property 'Nice'");
	why[0] = '\0';
	assert_int_equal(jobprop_parse("Nice=-20", 0, &jp, why, sizeof why),
	                 JOBPROP_NICE);
	assert_int_equal(jp.nice, -20);
}

static void
test_runtime(void **state)
{
	const uint64_t s = 1000000;

	(void)state;
	assert_true(ok("RuntimeMaxSec=30").value == 30 * s);
	assert_int_equal(ok("RuntimeMaxSec=30").honours, 0);
	assert_true(ok("RuntimeMaxSec=5min").value == 300 * s);
	assert_true(ok("RuntimeMaxSec=1h 30s").value == 3630 * s);
	assert_true(ok("RuntimeMaxSec=1h30s").value == 3630 * s);
	assert_true(ok("RuntimeMaxSec=2 min").value == 120 * s);
	assert_true(ok("RuntimeMaxSec=1.5h").value == 5400 * s);
	assert_true(ok("RuntimeMaxSec=500ms").value == 500000);
	assert_true(ok("RuntimeMaxSec=1d 2h 3m 4s 5ms 6us").value ==
	            (86400 + 7200 + 180 + 4) * s + 5000 + 6);
	assert_true(ok("RuntimeMaxSec=1w").value == 7 * 86400 * s);
	assert_true(ok("RuntimeMaxSec=1M").value == 2629800 * s);
	assert_true(ok("RuntimeMaxSec=1y").value == 31557600 * s);
	assert_true(ok("RuntimeMaxSec=infinity").infinity);
	bad("RuntimeMaxSec=0", -EINVAL, "time span above 0");
	bad("RuntimeMaxSec=", -EINVAL, "time span");
	bad("RuntimeMaxSec=5 fortnights", -EINVAL, "time span");
	bad("RuntimeMaxSec=min", -EINVAL, "time span");
	bad("RuntimeMaxSec=-5", -EINVAL, "time span");
	bad("RuntimeMaxSec=1.h", -EINVAL, "time span");
	bad("RuntimeMaxSec=5mins", -EINVAL, "time span");
	/* Beyond int64 nanoseconds, and beyond uint64 at all. */
	bad("RuntimeMaxSec=300y", -EINVAL, "too large");
	bad("RuntimeMaxSec=99999999999999999999", -EINVAL, "too large");
	bad("RuntimeMaxSec=200000y 200000y 200000y", -EINVAL, "too large");
}

static void
test_timeout(void **state)
{
	const char *kv[] = { "Nice=1", "RuntimeMaxSec=30", "PrivateTmp=yes" };
	const char *inf[] = { "RuntimeMaxSec=10", "RuntimeMaxSec=infinity" };
	const int64_t s = 1000000000;

	(void)state;
	assert_true(jobprop_timeout_ns(kv, 3, 0) == 30 * s);
	assert_true(jobprop_timeout_ns(kv, 3, 10 * s) == 10 * s);
	assert_true(jobprop_timeout_ns(kv, 3, 60 * s) == 30 * s);
	assert_true(jobprop_timeout_ns(kv, 1, 60 * s) == 60 * s);
	assert_true(jobprop_timeout_ns(NULL, 0, 7) == 7);
	/* The last one wins, as in systemd. */
	assert_true(jobprop_timeout_ns(inf, 2, 0) == 0);
	assert_true(jobprop_timeout_ns(inf, 1, 0) == 10 * s);
}

static void
test_sandbox(void **state)
{
	struct jobprop jp;

	(void)state;
	jp = ok("ProtectSystem=strict");
	assert_string_equal(jp.str, "strict");
	assert_int_equal(jp.honours, EXEC_HONOURS_SANDBOX);
	assert_string_equal(ok("ProtectSystem=full").str, "full");
	assert_string_equal(ok("ProtectSystem=true").str, "yes");
	assert_string_equal(ok("ProtectSystem=0").str, "no");
	assert_string_equal(ok("ProtectHome=read-only").str, "read-only");
	assert_string_equal(ok("ProtectHome=tmpfs").str, "tmpfs");
	assert_string_equal(ok("ProtectHome=ON").str, "yes");
	bad("ProtectSystem=read-only", -EINVAL, "yes, no, full or strict");
	bad("ProtectHome=strict", -EINVAL, "yes, no, read-only or tmpfs");
	assert_true(ok("PrivateTmp=1").flag);
	assert_false(ok("PrivateTmp=off").flag);
	assert_true(ok("PrivateNetwork=Y").flag);
	assert_false(ok("NoNewPrivileges=false").flag);
	bad("PrivateTmp=maybe", -EINVAL, "boolean");
	bad("PrivateTmp=", -EINVAL, "boolean");

	jp = ok("ReadWritePaths=/srv/a -/var/b  /c");
	assert_string_equal(jp.str, "/srv/a -/var/b  /c");
	bad("ReadWritePaths=", -EINVAL, "at least one path");
	bad("ReadWritePaths=  ", -EINVAL, "at least one path");
	bad("ReadWritePaths=srv", -EINVAL, "absolute");
	bad("ReadOnlyPaths=/a ~/b", -EINVAL, "absolute");
	bad("ReadWritePaths=\"/a b\"", -EINVAL, "absolute");
	bad("ReadWritePaths=/a\\ b", -EINVAL, "without quotes");
	bad("InaccessiblePaths=/a/../etc", -EINVAL, ". or ..");
	bad("InaccessiblePaths=/a/.", -EINVAL, ". or ..");
	assert_string_equal(ok("ReadWritePaths=/a/..b/.c").str, "/a/..b/.c");
}

static void
test_rlimits(void **state)
{
	struct jobprop jp;

	(void)state;
	jp = ok("LimitNOFILE=256");
	assert_int_equal(jp.honours, 0);
	assert_true(jp.value == 256 && jp.value_hard == 256);
	jp = ok("LimitNPROC=10:20");
	assert_true(jp.value == 10 && jp.value_hard == 20);
	jp = ok("LimitNOFILE=infinity");
	assert_true(jp.infinity && jp.value == UINT64_MAX);
	jp = ok("LimitNOFILE=100:infinity");
	assert_false(jp.infinity);
	assert_true(jp.value == 100 && jp.value_hard == UINT64_MAX);
	assert_true(ok("LimitCORE=1M").value == 1 << 20);
	assert_true(ok("LimitCORE=0:4G").value_hard == UINT64_C(4) << 30);
	bad("LimitNOFILE=20:10", -EINVAL, "soft limit is above");
	bad("LimitNOFILE=1K", -EINVAL, "a number");
	bad("LimitNOFILE=", -EINVAL, "a number");
	bad("LimitNOFILE=1:", -EINVAL, "a number");
	bad("LimitCORE=lots", -EINVAL, "a size");
	bad("LimitNOFILE=99999999999999999999", -EINVAL, "LimitNOFILE");
	bad("LimitRTPRIO=99", -EINVAL, "unknown property 'LimitRTPRIO'");
}

static void
test_bounds(void **state)
{
	char kv[JOBPROP_LEN_MAX + 16];
	const char *list[JOBPROP_MAX + 1];
	size_t i;

	(void)state;
	/* Exactly JOBPROP_LEN_MAX bytes is fine, one more is not. */
	memset(kv, 0, sizeof kv);
	strcpy(kv, "ReadWritePaths=/");
	memset(kv + strlen(kv), 'a', JOBPROP_LEN_MAX - strlen(kv));
	assert_int_equal(strlen(kv), JOBPROP_LEN_MAX);
	ok(kv);
	kv[JOBPROP_LEN_MAX] = 'a';
	bad(kv, -E2BIG, "longer than 4096");

	for (i = 0; i < JOBPROP_MAX + 1; i++)
		list[i] = "Nice=1";
	assert_int_equal(jobprop_check(list, JOBPROP_MAX, USER, ALL, NULL, why,
	                               sizeof why),
	                 0);
	assert_int_equal(jobprop_check(list, JOBPROP_MAX + 1, USER, ALL, NULL,
	                               why, sizeof why),
	                 -E2BIG);
	assert_non_null(strstr(why, "at most 64 properties"));
	/* A tiny why buffer is never overrun. */
	why[0] = 'x';
	why[1] = 'y';
	assert_int_equal(jobprop_parse("User=x", USER, NULL, why, 1), -EPERM);
	assert_int_equal(why[0], '\0');
	assert_int_equal(why[1], 'y');
}

static void
test_honours(void **state)
{
	const char *cg[] = { "Nice=1", "MemoryMax=50M" };
	const char *sb[] = { "PrivateTmp=yes" };
	const char *always[] = { "RuntimeMaxSec=5", "LimitNOFILE=64",
		                 "LimitCORE=0", "LimitNPROC=50" };
	const char *neg[] = { "Nice=-5" };
	const char *hole[] = { "Nice=1", NULL };

	(void)state;
	assert_int_equal(jobprop_check(cg, 2, USER, ALL, NULL, why, sizeof why),
	                 0);
	assert_int_equal(jobprop_check(cg, 1, USER, EXEC_HONOURS_NICE, NULL,
	                               why, sizeof why),
	                 0);
	assert_int_equal(jobprop_check(cg, 2, USER, EXEC_HONOURS_NICE, NULL,
	                               why, sizeof why),
	                 -EOPNOTSUPP);
	assert_string_equal(why, "property 'MemoryMax' needs per-hook "
	                         "cgroups, which this evd's hook runner "
	                         "cannot apply");
	assert_int_equal(jobprop_check(cg, 2, USER, EXEC_HONOURS_NICE,
	                               "the spawner (no delegated cgroup)",
	                               why, sizeof why),
	                 -EOPNOTSUPP);
	assert_non_null(strstr(why, "which the spawner (no delegated cgroup) "
	                            "cannot apply"));
	assert_int_equal(jobprop_check(cg, 1, USER, EXEC_HONOURS_CGROUP, NULL,
	                               why, sizeof why),
	                 -EOPNOTSUPP);
	assert_non_null(strstr(why, "property 'Nice' needs"));
	assert_int_equal(jobprop_check(sb, 1, USER,
	                               EXEC_HONOURS_NICE | EXEC_HONOURS_CGROUP,
	                               NULL, why, sizeof why),
	                 -EOPNOTSUPP);
	assert_non_null(strstr(why, "property 'PrivateTmp' needs a per-hook "
	                            "sandbox"));
	/* The runner's own timeout and setrlimit need nothing. */
	assert_int_equal(jobprop_check(always, 4, USER, 0, NULL, why,
	                               sizeof why),
	                 0);
	assert_int_equal(jobprop_check(neg, 1, USER, ALL, NULL, why,
	                               sizeof why),
	                 -EPERM);
	assert_int_equal(jobprop_check(neg, 1, 0, ALL, NULL, why, sizeof why),
	                 0);
	assert_int_equal(jobprop_check(hole, 2, USER, ALL, NULL, why,
	                               sizeof why),
	                 -EINVAL);
	assert_int_equal(jobprop_check(NULL, 0, USER, 0, NULL, why, sizeof why),
	                 0);
}

/* kv's cgroup file and text on a machine of 8 GiB and 4,194,304 pids;
 * NULL file: not a cgroup property. */
static void
cg(const char *kv, const char *file, const char *text)
{
	struct jobprop jp = ok(kv);
	char buf[64] = "";
	const char *f = jobprop_cgroup(&jp, UINT64_C(8) << 30, 4194304, buf,
	                               sizeof buf);

	if (file == NULL) {
		assert_null(f);
		return;
	}
	assert_non_null(f);
	assert_string_equal(f, file);
	assert_string_equal(buf, text);
}

/* What the spawner writes into a hook's cgroup (hookcg.c), as systemd
 * writes it for the same setting. */
static void
test_cgroup_files(void **state)
{
	cg("MemoryMax=50M", "memory.max", "52428800");
	cg("MemoryMax=infinity", "memory.max", "max");
	cg("MemoryMax=25%", "memory.max", "2147483648");
	cg("MemoryMax=33.33%", "memory.max", "2863025199");
	cg("MemoryHigh=1G", "memory.high", "1073741824");
	cg("TasksMax=100", "pids.max", "100");
	cg("TasksMax=10%", "pids.max", "419430");
	cg("TasksMax=infinity", "pids.max", "max");
	cg("CPUQuota=50%", "cpu.max", "50000 100000");
	cg("CPUQuota=200%", "cpu.max", "200000 100000");
	cg("CPUQuota=0.5%", "cpu.max", "500 100000");
	cg("IOWeight=500", "io.weight", "default 500");
	cg("Nice=5", NULL, NULL);
	cg("PrivateTmp=yes", NULL, NULL);
	cg("LimitNOFILE=64", NULL, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whitelist),
		cmocka_unit_test(test_refused_keys),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_cpu_tasks_io),
		cmocka_unit_test(test_nice),
		cmocka_unit_test(test_runtime),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_sandbox),
		cmocka_unit_test(test_rlimits),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_honours),
		cmocka_unit_test(test_cgroup_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
