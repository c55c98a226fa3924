/*
 * Unit tests of the job property conversion for the systemd backend
 * (daemon/exec_sdprops.c): every key jobprop accepts, parsed by jobprop
 * (the one parser), to the D-Bus name, type and value systemd-run -p
 * would send for the same assignment (systemd's
 * bus_append_unit_property_assignment in src/shared/bus-unit-util.c),
 * and a walk over every jobprop key so that the whitelist and the
 * converter can never disagree again.
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

#include "exec_sdprops.h"
#include "jobprop.h"

#define INF UINT64_MAX

/* a as root parsed by jobprop then converted; returns the count. */
static int
conv(const char *a, struct exec_sdprop p[EXEC_SDPROPS_PER_KEY])
{
	struct jobprop jp;
	char why[256];
	int r;

	r = jobprop_parse(a, 0, &jp, why, sizeof why);
	if (r < 0)
		fail_msg("jobprop refused %s: %s", a, why);
	memset(p, 0xa5, sizeof(struct exec_sdprop) * EXEC_SDPROPS_PER_KEY);
	r = exec_sdprops_convert(&jp, p);
	if (r < 1)
		fail_msg("no conversion of %s: %d", a, r);
	return r;
}

/* a becomes exactly the one (or, with name2, two) 't'/'u' properties. */
static void
check_num2(const char *a, char type, const char *name, uint64_t v,
	   const char *name2, uint64_t v2)
{
	struct exec_sdprop p[EXEC_SDPROPS_PER_KEY];
	int n = conv(a, p);

	assert_int_equal(n, name2 != NULL ? 2 : 1);
	assert_string_equal(p[0].name, name);
	assert_int_equal(p[0].type, type);
	if (p[0].t != v)
		fail_msg("%s: %s = %llu, want %llu", a, name,
			 (unsigned long long)p[0].t, (unsigned long long)v);
	if (name2 != NULL) {
		assert_string_equal(p[1].name, name2);
		assert_int_equal(p[1].type, 't');
		if (p[1].t != v2)
			fail_msg("%s: %s = %llu, want %llu", a, name2,
				 (unsigned long long)p[1].t,
				 (unsigned long long)v2);
	}
}

static void
check_t(const char *a, const char *name, uint64_t v)
{
	check_num2(a, 't', name, v, NULL, 0);
}

static void
check_u(const char *a, const char *name, uint64_t v)
{
	check_num2(a, 'u', name, v, NULL, 0);
}

/* MemoryMax= in bytes also sets MemoryLimit= for a cgroup v1 host. */
static void
check_memmax(const char *a, uint64_t v)
{
	check_num2(a, 't', "MemoryMax", v, "MemoryLimit", v);
}

/* Limit*=: "LimitX" the hard limit, then "LimitXSoft" the soft one. */
static void
check_rlimit(const char *a, const char *name, uint64_t hard, uint64_t soft)
{
	char soft_name[32];

	snprintf(soft_name, sizeof soft_name, "%sSoft", name);
	check_num2(a, 't', name, hard, soft_name, soft);
}

static void
test_memory(void **state)
{
	(void)state;
	check_memmax("MemoryMax=512", 512);
	check_memmax("MemoryMax=512K", 512 * 1024);
	check_memmax("MemoryMax=50M", 50 * 1024 * 1024);
	check_memmax("MemoryMax=1.5G", 3 * (UINT64_C(1) << 29));
	check_memmax("MemoryMax=2T", UINT64_C(2) << 40);
	check_memmax("MemoryMax=infinity", INF);
	/* Percentages: systemd's UINT32_SCALE_FROM_PERMYRIAD, no v1
	 * companion (as before: MemoryLimit= only for bytes). */
	check_u("MemoryMax=50%", "MemoryMaxScale", UINT32_MAX / 2 + 1);
	check_u("MemoryMax=100%", "MemoryMaxScale", UINT32_MAX);
	check_u("MemoryMax=0.01%", "MemoryMaxScale",
		((uint64_t)UINT32_MAX + 5000) / 10000);
	check_t("MemoryHigh=1G", "MemoryHigh", UINT64_C(1) << 30);
	check_t("MemoryHigh=infinity", "MemoryHigh", INF);
	check_u("MemoryHigh=25%", "MemoryHighScale",
		((uint64_t)UINT32_MAX * 2500 + 5000) / 10000);
}

static void
test_cgroup_numbers(void **state)
{
	(void)state;
	/* CPUQuota: CPU usec per second, may pass 100%. */
	check_t("CPUQuota=20%", "CPUQuotaPerSecUSec", 200000);
	check_t("CPUQuota=250%", "CPUQuotaPerSecUSec", 2500000);
	check_t("CPUQuota=0.5%", "CPUQuotaPerSecUSec", 5000);
	check_t("TasksMax=20", "TasksMax", 20);
	check_t("TasksMax=infinity", "TasksMax", INF);
	check_u("TasksMax=100%", "TasksMaxScale", UINT32_MAX);
	check_u("TasksMax=10%", "TasksMaxScale",
		((uint64_t)UINT32_MAX * 1000 + 5000) / 10000);
	check_t("IOWeight=1", "IOWeight", 1);
	check_t("IOWeight=10000", "IOWeight", 10000);
}

static void
test_nice(void **state)
{
	struct exec_sdprop p[EXEC_SDPROPS_PER_KEY];

	(void)state;
	assert_int_equal(conv("Nice=-20", p), 1);
	assert_string_equal(p[0].name, "Nice");
	assert_int_equal(p[0].type, 'i');
	assert_int_equal(p[0].i, -20);
	assert_int_equal(conv("Nice=19", p), 1);
	assert_int_equal(p[0].i, 19);
	assert_int_equal(conv("Nice=+5", p), 1);
	assert_int_equal(p[0].i, 5);
}

static void
test_runtime(void **state)
{
	(void)state;
	check_t("RuntimeMaxSec=90", "RuntimeMaxUSec", UINT64_C(90000000));
	check_t("RuntimeMaxSec=5min 30s", "RuntimeMaxUSec",
		UINT64_C(330000000));
	check_t("RuntimeMaxSec=1.5h", "RuntimeMaxUSec", UINT64_C(5400000000));
	check_t("RuntimeMaxSec=250ms", "RuntimeMaxUSec", 250000);
	check_t("RuntimeMaxSec=1d2h", "RuntimeMaxUSec", UINT64_C(93600000000));
	check_t("RuntimeMaxSec=infinity", "RuntimeMaxUSec", INF);
}

static void
check_s(const char *a, const char *name, const char *v)
{
	struct exec_sdprop p[EXEC_SDPROPS_PER_KEY];

	assert_int_equal(conv(a, p), 1);
	assert_string_equal(p[0].name, name);
	assert_int_equal(p[0].type, 's');
	assert_string_equal(p[0].s, v);
}

static void
check_b(const char *a, const char *name, bool v)
{
	struct exec_sdprop p[EXEC_SDPROPS_PER_KEY];

	assert_int_equal(conv(a, p), 1);
	assert_string_equal(p[0].name, name);
	assert_int_equal(p[0].type, 'b');
	assert_int_equal(p[0].b, v);
}

static void
test_sandbox(void **state)
{
	(void)state;
	check_s("ProtectSystem=strict", "ProtectSystem", "strict");
	check_s("ProtectSystem=full", "ProtectSystem", "full");
	/* A boolean spelling goes out canonical: systemd reads "true"
	 * and "yes" alike (protect_system_from_string tries a boolean
	 * first). */
	check_s("ProtectSystem=true", "ProtectSystem", "yes");
	check_s("ProtectHome=read-only", "ProtectHome", "read-only");
	check_s("ProtectHome=tmpfs", "ProtectHome", "tmpfs");
	check_s("ProtectHome=0", "ProtectHome", "no");
	check_b("PrivateTmp=yes", "PrivateTmp", true);
	check_b("PrivateNetwork=off", "PrivateNetwork", false);
	check_b("PrivateNetwork=1", "PrivateNetwork", true);
	check_b("NoNewPrivileges=true", "NoNewPrivileges", true);
	check_b("NoNewPrivileges=no", "NoNewPrivileges", false);
}

static void
check_paths(const char *a, const char *name, const char *const *want,
	    size_t nwant)
{
	struct exec_sdprop p[EXEC_SDPROPS_PER_KEY];

	assert_int_equal(conv(a, p), 1);
	assert_string_equal(p[0].name, name);
	assert_int_equal(p[0].type, 'a');
	assert_int_equal(p[0].npaths, nwant);
	for (size_t i = 0; i < nwant; i++)
		assert_string_equal(p[0].paths[i], want[i]);
	assert_null(p[0].paths[nwant]);
	exec_sdprops_clear(&p[0]);
	exec_sdprops_clear(&p[0]); /* idempotent */
	assert_null(p[0].paths);
}

static void
test_paths(void **state)
{
	static const char *const rw[] = {"/srv", "-/var/backups", "/x"};
	static const char *const one[] = {"/etc"};

	(void)state;
	/* Split on spaces, the '-' (ignore if missing) kept, as
	 * systemd-run sends each word. */
	check_paths("ReadWritePaths=/srv -/var/backups  /x", "ReadWritePaths",
		    rw, 3);
	check_paths("ReadOnlyPaths= /etc ", "ReadOnlyPaths", one, 1);
	check_paths("InaccessiblePaths=/srv -/var/backups /x",
		    "InaccessiblePaths", rw, 3);
	exec_sdprops_clear(NULL);
}

static void
test_rlimits(void **state)
{
	(void)state;
	check_rlimit("LimitNOFILE=64", "LimitNOFILE", 64, 64);
	check_rlimit("LimitNOFILE=64:1024", "LimitNOFILE", 1024, 64);
	check_rlimit("LimitNOFILE=infinity", "LimitNOFILE", INF, INF);
	check_rlimit("LimitNOFILE=512:infinity", "LimitNOFILE", INF, 512);
	check_rlimit("LimitCORE=0", "LimitCORE", 0, 0);
	check_rlimit("LimitCORE=1M", "LimitCORE", 1024 * 1024, 1024 * 1024);
	check_rlimit("LimitCORE=1K:2K", "LimitCORE", 2048, 1024);
	check_rlimit("LimitNPROC=100", "LimitNPROC", 100, 100);
	check_rlimit("LimitNPROC=10:infinity", "LimitNPROC", INF, 10);
}

/*
 * One valid value per key: the walk below fails when jobprop gains a key
 * that has no sample here (and the converter's switch fails the build
 * when it has no case).
 */
static const char *const samples[] = {
    "MemoryMax=1G",	   "MemoryHigh=50%",	   "CPUQuota=20%",
    "TasksMax=10",	   "IOWeight=100",	   "Nice=5",
    "RuntimeMaxSec=5min",  "ProtectSystem=strict", "ProtectHome=yes",
    "PrivateTmp=yes",	   "PrivateNetwork=yes",   "NoNewPrivileges=yes",
    "ReadWritePaths=/srv", "ReadOnlyPaths=/etc",   "InaccessiblePaths=/x",
    "LimitNOFILE=64",	   "LimitCORE=0",	   "LimitNPROC=100",
};

static void
test_every_key_converts(void **state)
{
	size_t nkeys = 0;

	(void)state;
	for (unsigned k = 0;; k++) {
		const char *name = jobprop_key_name((enum jobprop_key)k);
		struct exec_sdprop p[EXEC_SDPROPS_PER_KEY];
		const char *sample = NULL;
		struct jobprop jp;
		char why[256];
		int n;

		if (name == NULL) {
			assert_int_equal(k, JOBPROP_KEY_COUNT);
			break;
		}
		nkeys++;
		for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++)
			if (strncmp(samples[i], name, strlen(name)) == 0 &&
			    samples[i][strlen(name)] == '=')
				sample = samples[i];
		if (sample == NULL)
			fail_msg("jobprop accepts %s but test_sdprops has no "
				 "sample for it",
				 name);
		if (jobprop_parse(sample, 0, &jp, why, sizeof why) != (int)k)
			fail_msg("%s: %s", sample, why);
		n = exec_sdprops_convert(&jp, p);
		if (n < 1 || n > EXEC_SDPROPS_PER_KEY)
			fail_msg("the systemd backend cannot convert %s (%d)",
				 name, n);
		for (int i = 0; i < n; i++) {
			assert_non_null(p[i].name);
			assert_non_null(strchr("tuibsa", p[i].type));
			exec_sdprops_clear(&p[i]);
		}
	}
	assert_int_equal(nkeys, sizeof samples / sizeof samples[0]);
}

static void
test_not_a_key(void **state)
{
	struct exec_sdprop p[EXEC_SDPROPS_PER_KEY];
	struct jobprop jp;

	(void)state;
	memset(&jp, 0, sizeof jp);
	jp.key = JOBPROP_KEY_COUNT;
	assert_int_equal(exec_sdprops_convert(&jp, p), -EINVAL);
	assert_null(jobprop_key_name(JOBPROP_KEY_COUNT));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_memory),
	    cmocka_unit_test(test_cgroup_numbers),
	    cmocka_unit_test(test_nice),
	    cmocka_unit_test(test_runtime),
	    cmocka_unit_test(test_sandbox),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_rlimits),
	    cmocka_unit_test(test_every_key_converts),
	    cmocka_unit_test(test_not_a_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
