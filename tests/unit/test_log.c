/*
 * test_log: the log boundary. Whatever a caller formats, and whatever a
 * client chose inside it, one call is one record: control bytes, DEL, C1
 * controls and invalid UTF-8 come out as \xNN; valid UTF-8 stays; off the
 * journal a record is a UTC timestamp, the priority prefix and the text.
 */
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static char path[] = "/tmp/test_log.XXXXXX";
static int saved_stderr = -1;

/* Sends stderr to a fresh temporary file. */
static int
setup(void **state)
{
	int fd = mkstemp(path);

	(void)state;
	if (fd < 0)
		return -1;
	saved_stderr = dup(STDERR_FILENO);
	if (saved_stderr < 0 || dup2(fd, STDERR_FILENO) < 0)
		return -1;
	close(fd);
	unsetenv("JOURNAL_STREAM");
	log_init();
	log_set_level(LOG_LEVEL_DEBUG);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	unlink(path);
	strcpy(path, "/tmp/test_log.XXXXXX");
	return 0;
}

static char *
slurp(void)
{
	static char buf[16384];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof buf - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

static int
lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void
test_forged_record_is_one_line(void **state)
{
	const char *evil = "a\n<0>sshd[1]: Accepted password for root\r\x1b[2J"
	                   "\x7f\xc2\x85\xff\xc3\xa9";
	char *out;

	(void)state;
	log_warnx("hook failed: %s", evil);
	out = slurp();
	print_message("%s", out);
	assert_int_equal(lines(out), 1);
	assert_non_null(strstr(out, "a\\x0a<0>sshd[1]: Accepted password "
	                            "for root\\x0d\\x1b[2J\\x7f\\xc2\\x85\\xff"
	                            "\xc3\xa9\n"));
}

static void
test_timestamp_and_priority(void **state)
{
	regex_t re;
	char *out;

	(void)state;
	log_about(LOG_LEVEL_NOTICE, LOG_FIRE(9, 1000, 3), "timer 9 fired");
	log_info("plain %d", 1);
	out = slurp();
	assert_int_equal(lines(out), 2);
	assert_int_equal(regcomp(&re,
	                         "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
	                         "[0-9]{2}\\.[0-9]{3}Z <5>timer 9 fired\n"
	                         "[0-9-]{10}T[0-9:.]{12}Z <6>plain 1\n$",
	                         REG_EXTENDED),
	                 0);
	assert_int_equal(regexec(&re, out, 0, NULL, 0), 0);
	regfree(&re);
}

static void
test_long_record_is_cut_not_split(void **state)
{
	char big[5000];
	char *out;

	(void)state;
	memset(big, '\n', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	log_warnx("%s", big);
	out = slurp();
	assert_int_equal(lines(out), 1);
}

/*
 * A flood of one kind of record (300 timers skipping every millisecond)
 * is cut to a burst, then one record says how many were not logged;
 * other kinds and errors still go out meanwhile.
 */
static void
test_flood_is_counted_not_logged(void **state)
{
	char *out;
	int i;

	(void)state;
	log_set_flood(3, 1);
	for (i = 0; i < 50; i++)
		log_info("timer %d skipped: channel full", i);
	log_errx("an error still goes out");
	log_notice("another kind still goes out");
	out = slurp();
	assert_int_equal(lines(out), 5);
	assert_non_null(strstr(out, "timer 2 skipped"));
	assert_null(strstr(out, "timer 3 skipped"));
	sleep(1);
	log_info("timer %d skipped: channel full", 50);
	out = slurp();
	print_message("%s", out);
	assert_non_null(strstr(out, "47 more records like \"timer %d skipped: "
	                            "channel full\" in the last 1 s were not "
	                            "logged"));
	assert_non_null(strstr(out, "timer 50 skipped"));
	log_set_flood(10, 10);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_forged_record_is_one_line,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_timestamp_and_priority, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_long_record_is_cut_not_split,
	                                    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flood_is_counted_not_logged,
	                                    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
