/*
 * Unit tests of the job property conversion for the systemd backend
 * (daemon/exec_sdprops.c): each whitelisted key to the D-Bus name, type
 * and value systemd-run -p would send (systemd's
 * bus_append_unit_property_assignment), and the values systemd refuses.
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

static struct exec_sdprop
ok(const char *a)
{
	struct exec_sdprop p;

	memset(&p, 0xa5, sizeof p);
	assert_int_equal(exec_sdprop_parse(a, &p), 0);
	return p;
}

static void
check_t(const char *a, const char *name, uint64_t v)
{
	struct exec_sdprop p = ok(a);

	assert_string_equal(p.name, name);
	assert_int_equal(p.type, 't');
	assert_true(p.t == v);
}

static void
test_sizes(void **state)
{
	uint64_t v;

	check_t("MemoryMax=512", "MemoryMax", 512);
	check_t("MemoryMax=512K", "MemoryMax", 512 * 1024);
	check_t("MemoryMax=50M", "MemoryMax", 50 * 1024 * 1024);
	check_t("MemoryMax=1.5G", "MemoryMax", 3 * (UINT64_C(1) << 29));
	check_t("MemoryMax=2T", "MemoryMax", UINT64_C(2) << 40);
	check_t("MemoryMax=infinity", "MemoryMax", UINT64_MAX);
	check_t("MemoryMax=0", "MemoryMax", 0);
	assert_int_equal(exec_sdprops_parse_size("1.5", &v), -EINVAL);
	assert_int_equal(exec_sdprops_parse_size("12X", &v), -EINVAL);
	assert_int_equal(exec_sdprops_parse_size("-1", &v), -EINVAL);
	assert_int_equal(exec_sdprops_parse_size("", &v), -EINVAL);
	assert_int_equal(exec_sdprops_parse_size("M", &v), -EINVAL);
	assert_int_equal(exec_sdprops_parse_size("99999999999E", &v), -ERANGE);
}

static void
test_percentages(void **state)
{
	struct exec_sdprop p = ok("MemoryMax=50%");

	assert_string_equal(p.name, "MemoryMaxScale");
	assert_int_equal(p.type, 'u');
	assert_true(p.t == UINT32_MAX / 2 + 1);
	p = ok("TasksMax=100%");
	assert_string_equal(p.name, "TasksMaxScale");
	assert_true(p.t == UINT32_MAX);
	/* CPUQuota: per second of CPU time, may exceed 100%. */
	check_t("CPUQuota=20%", "CPUQuotaPerSecUSec", 200000);
	check_t("CPUQuota=250%", "CPUQuotaPerSecUSec", 2500000);
	check_t("CPUQuota=0.5%", "CPUQuotaPerSecUSec", 5000);
	check_t("CPUQuota=", "CPUQuotaPerSecUSec", UINT64_MAX);
	assert_int_equal(exec_sdprop_parse("CPUQuota=20", &p), -EINVAL);
	assert_int_equal(exec_sdprop_parse("CPUQuota=0%", &p), -EINVAL);
	assert_int_equal(exec_sdprop_parse("CPUQuota=1.234%", &p), -EINVAL);
	assert_int_equal(exec_sdprop_parse("MemoryMax=101%", &p), -EINVAL);
}

static void
test_numbers(void **state)
{
	struct exec_sdprop p;

	check_t("TasksMax=20", "TasksMax", 20);
	check_t("TasksMax=infinity", "TasksMax", UINT64_MAX);
	check_t("IOWeight=1", "IOWeight", 1);
	check_t("IOWeight=10000", "IOWeight", 10000);
	p = ok("Nice=-20");
	assert_string_equal(p.name, "Nice");
	assert_int_equal(p.type, 'i');
	assert_int_equal(p.i, -20);
	assert_int_equal(ok("Nice=19").i, 19);
	assert_int_equal(exec_sdprop_parse("Nice=20", &p), -EINVAL);
	assert_int_equal(exec_sdprop_parse("Nice=-21", &p), -EINVAL);
	assert_int_equal(exec_sdprop_parse("Nice=", &p), -EINVAL);
	assert_int_equal(exec_sdprop_parse("Nice=1x", &p), -EINVAL);
	assert_int_equal(exec_sdprop_parse("TasksMax=0", &p), -EINVAL);
	assert_int_equal(exec_sdprop_parse("TasksMax=-3", &p), -EINVAL);
	assert_int_equal(exec_sdprop_parse("IOWeight=0", &p), -EINVAL);
	assert_int_equal(exec_sdprop_parse("IOWeight=10001", &p), -EINVAL);
	assert_int_equal(exec_sdprop_parse("IOWeight=+5", &p), -EINVAL);
}

static void
test_timespans(void **state)
{
	struct exec_sdprop p;
	uint64_t v;

	check_t("RuntimeMaxSec=90", "RuntimeMaxUSec", UINT64_C(90000000));
	check_t("RuntimeMaxSec=5min 30s", "RuntimeMaxUSec",
		UINT64_C(330000000));
	check_t("RuntimeMaxSec=1.5h", "RuntimeMaxUSec", UINT64_C(5400000000));
	check_t("RuntimeMaxSec=250ms", "RuntimeMaxUSec", 250000);
	check_t("RuntimeMaxSec=1d2h", "RuntimeMaxUSec", UINT64_C(93600000000));
	check_t("RuntimeMaxSec=infinity", "RuntimeMaxUSec", UINT64_MAX);
	assert_int_equal(exec_sdprops_parse_timespan_usec("5 parsecs", &v),
			 -EINVAL);
	assert_int_equal(exec_sdprops_parse_timespan_usec("", &v), -EINVAL);
	assert_int_equal(exec_sdprops_parse_timespan_usec("  ", &v), -EINVAL);
	assert_int_equal(exec_sdprops_parse_timespan_usec("-5s", &v), -EINVAL);
	assert_int_equal(exec_sdprop_parse("RuntimeMaxSec=s", &p), -EINVAL);
}

static void
test_strings_and_bools(void **state)
{
	struct exec_sdprop p = ok("ProtectSystem=strict");

	assert_string_equal(p.name, "ProtectSystem");
	assert_int_equal(p.type, 's');
	assert_string_equal(p.s, "strict");
	assert_string_equal(ok("ProtectHome=read-only").s, "read-only");
	assert_string_equal(ok("ProtectHome=yes").s, "yes");
	assert_int_equal(exec_sdprop_parse("ProtectSystem=tmpfs", &p), -EINVAL);
	assert_int_equal(exec_sdprop_parse("ProtectHome=strict", &p), -EINVAL);
	p = ok("PrivateTmp=yes");
	assert_string_equal(p.name, "PrivateTmp");
	assert_int_equal(p.type, 'b');
	assert_true(p.b);
	p = ok("PrivateNetwork=off");
	assert_string_equal(p.name, "PrivateNetwork");
	assert_false(p.b);
	assert_int_equal(exec_sdprop_parse("PrivateTmp=maybe", &p), -EINVAL);
}

static void
test_paths(void **state)
{
	struct exec_sdprop p = ok("ReadWritePaths=/srv -/var/backups  +/x");

	assert_string_equal(p.name, "ReadWritePaths");
	assert_int_equal(p.type, 'a');
	assert_int_equal(p.npaths, 3);
	assert_string_equal(p.paths[0], "/srv");
	assert_string_equal(p.paths[1], "-/var/backups");
	assert_string_equal(p.paths[2], "+/x");
	assert_null(p.paths[3]);
	exec_sdprop_clear(&p);
	exec_sdprop_clear(&p); /* idempotent */
	p = ok("ReadWritePaths=");
	assert_int_equal(p.npaths, 0);
	exec_sdprop_clear(&p);
	assert_int_equal(exec_sdprop_parse("ReadWritePaths=srv", &p), -EINVAL);
	assert_int_equal(exec_sdprop_parse("ReadWritePaths=\"/a b\"", &p),
			 -EINVAL);
}

static void
test_paths_bound(void **state)
{
	char buf[EXEC_SDPROPS_PATHS_MAX * 3 + 64];
	struct exec_sdprop p;
	size_t n = (size_t)snprintf(buf, sizeof buf, "ReadWritePaths=");

	for (int i = 0; i <= EXEC_SDPROPS_PATHS_MAX; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "/a ");
	assert_int_equal(exec_sdprop_parse(buf, &p), -E2BIG);
}

static void
test_keys(void **state)
{
	struct exec_sdprop p;

	assert_int_equal(exec_sdprop_parse("User=root", &p), -EOPNOTSUPP);
	assert_int_equal(exec_sdprop_parse("ExecStart=/bin/sh", &p),
			 -EOPNOTSUPP);
	assert_int_equal(
	    exec_sdprop_parse("AVeryLongKeyNameThatIsNotKnownAtAll=1", &p),
	    -EOPNOTSUPP);
	assert_int_equal(exec_sdprop_parse("MemoryMax", &p), -EINVAL);
	assert_int_equal(exec_sdprop_parse("=5", &p), -EINVAL);
	assert_int_equal(exec_sdprop_parse("memorymax=5", &p), -EOPNOTSUPP);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sizes),
	    cmocka_unit_test(test_percentages),
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_timespans),
	    cmocka_unit_test(test_strings_and_bools),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_paths_bound),
	    cmocka_unit_test(test_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
