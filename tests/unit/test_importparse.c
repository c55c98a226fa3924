/*
 * test_importparse: the pure parsers behind `evctl import`
 * (client/evctl/importparse.c): crontab lines (assignments, entries,
 * cron's '%' as stdin and newlines, @reboot, bad lines with their
 * reason), unit files (sections, continuation lines, comments), the
 * quoting of a setting's words (systemd.syntax(7)), time spans
 * (systemd.time(7)) and the key hash, whose values are fixed: changing
 * them would make every earlier import schedule its timers again.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "importparse.h"

#define S 1000000000LL

static void
cron_ok(const char *line, enum cron_kind kind, struct cron_line *l)
{
	assert_int_equal(cron_line_parse(line, l), 0);
	if (l->kind != kind)
		fail_msg("'%s': kind %d, want %d (why: %s)", line, l->kind,
			 kind, l->why);
}

static void
test_cron_skip(void **state)
{
	struct cron_line l;

	(void)state;
	cron_ok("", CRON_SKIP, &l);
	cron_line_clear(&l);
	cron_ok("   \t ", CRON_SKIP, &l);
	cron_line_clear(&l);
	cron_ok("  # 0 * * * * comment", CRON_SKIP, &l);
	cron_line_clear(&l);
	cron_ok("\r", CRON_SKIP, &l);
	cron_line_clear(&l);
}

static void
test_cron_env(void **state)
{
	struct cron_line l;

	(void)state;
	cron_ok("MAILTO=ops@example.com", CRON_ENV, &l);
	assert_string_equal(l.name, "MAILTO");
	assert_string_equal(l.value, "ops@example.com");
	cron_line_clear(&l);
	/* Spaces around '=', quotes around the value (removed). */
	cron_ok("  GREETING = \"hello world\"  ", CRON_ENV, &l);
	assert_string_equal(l.name, "GREETING");
	assert_string_equal(l.value, "hello world");
	cron_line_clear(&l);
	cron_ok("Q='a \"b\"'", CRON_ENV, &l);
	assert_string_equal(l.value, "a \"b\"");
	cron_line_clear(&l);
	/* Unmatched quotes stay. */
	cron_ok("Q=\"a'", CRON_ENV, &l);
	assert_string_equal(l.value, "\"a'");
	cron_line_clear(&l);
	cron_ok("EMPTY=", CRON_ENV, &l);
	assert_string_equal(l.value, "");
	cron_line_clear(&l);
	cron_ok("PATH=/usr/bin:/bin\r", CRON_ENV, &l);
	assert_string_equal(l.value, "/usr/bin:/bin");
	cron_line_clear(&l);
}

static void
test_cron_entry(void **state)
{
	struct cron_line l;

	(void)state;
	cron_ok("*/15\t9-17  * *   Mon-Fri   /bin/echo  a  b ", CRON_ENTRY, &l);
	assert_string_equal(l.expr, "*/15 9-17 * * Mon-Fri");
	/* The command as written, inner and trailing spaces kept. */
	assert_string_equal(l.command, "/bin/echo  a  b ");
	assert_null(l.input);
	cron_line_clear(&l);
	/* An assignment inside the command is the command's. */
	cron_ok("0 * * * * FOO=bar cmd", CRON_ENTRY, &l);
	assert_string_equal(l.command, "FOO=bar cmd");
	cron_line_clear(&l);
	cron_ok("@daily   backup --all", CRON_ENTRY, &l);
	assert_string_equal(l.expr, "@daily");
	assert_string_equal(l.command, "backup --all");
	cron_line_clear(&l);
	cron_ok("@reboot /bin/echo up", CRON_REBOOT, &l);
	assert_string_equal(l.command, "/bin/echo up");
	cron_line_clear(&l);
}

/* crontab(5): the first unescaped '%' ends the command, the rest is its
 * stdin with each further '%' a newline; "\%" is a '%'. */
static void
test_cron_percent(void **state)
{
	struct cron_line l;

	(void)state;
	cron_ok("0 9 1 * * mail -s hi root%Dear root,%all%", CRON_ENTRY, &l);
	assert_string_equal(l.command, "mail -s hi root");
	assert_string_equal(l.input, "Dear root,\nall\n");
	cron_line_clear(&l);
	cron_ok("0 9 * * * date +\\%H:\\%M%x", CRON_ENTRY, &l);
	assert_string_equal(l.command, "date +%H:%M");
	assert_string_equal(l.input, "x\n");
	cron_line_clear(&l);
	cron_ok("0 9 * * * cat %a\\%b", CRON_ENTRY, &l);
	assert_string_equal(l.input, "a%b\n");
	cron_line_clear(&l);
	/* A '%' at the end: empty stdin, no newline added. */
	cron_ok("0 9 * * * cat%", CRON_ENTRY, &l);
	assert_string_equal(l.command, "cat");
	assert_string_equal(l.input, "");
	cron_line_clear(&l);
	/* Other backslashes are the shell's. */
	cron_ok("0 9 * * * echo a\\ b", CRON_ENTRY, &l);
	assert_string_equal(l.command, "echo a\\ b");
	cron_line_clear(&l);

	/* Debian's cron (do_command.c) also reads "\\" as one '\' in the
	 * command, so "\\%" is a '\' and then the split. */
	cron_ok("0 9 * * * printf 'a\\\\b' \\\\%in", CRON_ENTRY, &l);
	assert_string_equal(l.command, "printf 'a\\b' \\");
	assert_string_equal(l.input, "in\n");
	cron_line_clear(&l);
	cron_ok("0 9 * * * echo \\\\\\%x", CRON_ENTRY, &l);
	assert_string_equal(l.command, "echo \\%x");
	assert_null(l.input);
	cron_line_clear(&l);
	/* In stdin a backslash escapes only '%': "\\%" is "\%", "\x" stays. */
	cron_ok("0 9 * * * cat %a\\\\%b\\x%", CRON_ENTRY, &l);
	assert_string_equal(l.command, "cat ");
	assert_string_equal(l.input, "a\\%b\\x\n");
	cron_line_clear(&l);
	/* A backslash at the very end is kept, and adds no newline. */
	cron_ok("0 9 * * * cat %a%\\", CRON_ENTRY, &l);
	assert_string_equal(l.input, "a\n\\");
	cron_line_clear(&l);
}

static void
test_cron_bad(void **state)
{
	struct cron_line l;

	(void)state;
	cron_ok("0 25 * * * cmd", CRON_BAD, &l);
	assert_non_null(strstr(l.why, "25"));
	cron_line_clear(&l);
	cron_ok("0 9 * *", CRON_BAD, &l);
	assert_string_equal(l.why, "fewer than five time fields");
	cron_line_clear(&l);
	cron_ok("0 9 * * *   ", CRON_BAD, &l);
	assert_string_equal(l.why, "no command after '0 9 * * *'");
	cron_line_clear(&l);
	cron_ok("@sometimes cmd", CRON_BAD, &l);
	cron_line_clear(&l);
	cron_ok("@reboot", CRON_BAD, &l);
	cron_line_clear(&l);
	cron_ok("hello", CRON_BAD, &l);
	cron_line_clear(&l);
}

static void
test_unit_file(void **state)
{
	const char *text = "# comment\n"
			   "[Unit]\n"
			   "Description=Nightly  \n"
			   "\n"
			   "[Timer]\n"
			   "; another comment\n"
			   "OnCalendar=Mon *-*-* 02:30\n"
			   "OnCalendar=\n"
			   "  ExecStart = /bin/echo a \\\n"
			   "# inside\n"
			   "   b\\\n"
			   "c\r\n";
	struct unit_file *u;
	char err[128];

	(void)state;
	assert_int_equal(unit_file_parse(text, &u, err, sizeof(err)), 0);
	assert_int_equal(u->n, 4);
	assert_string_equal(u->settings[0].section, "Unit");
	assert_string_equal(u->settings[0].key, "Description");
	assert_string_equal(u->settings[0].value, "Nightly");
	assert_int_equal(u->settings[0].line, 3);
	assert_string_equal(u->settings[1].section, "Timer");
	assert_string_equal(u->settings[1].value, "Mon *-*-* 02:30");
	assert_int_equal(u->settings[1].line, 7);
	assert_string_equal(u->settings[2].value, "");
	assert_string_equal(u->settings[3].key, "ExecStart");
	assert_string_equal(u->settings[3].value, "/bin/echo a  b c");
	assert_int_equal(u->settings[3].line, 9);
	unit_file_free(u);

	assert_int_equal(unit_file_parse("Key=v\n", &u, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "line 1: a setting before any [Section]");
	assert_int_equal(
	    unit_file_parse("[A]\nnothing\n", &u, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "line 2: not KEY=VALUE");
	assert_int_equal(unit_file_parse("[A\n", &u, err, sizeof(err)),
			 -EINVAL);
	unit_file_free(NULL);
}

static void
words_are(const char *value, const char *const *want, size_t nwant)
{
	const char *why = NULL;
	char **w;
	size_t n, i;

	assert_int_equal(unit_words(value, &w, &n, &why), 0);
	assert_int_equal(n, nwant);
	for (i = 0; i < n; i++)
		assert_string_equal(w[i], want[i]);
	assert_null(w[n]);
	unit_words_free(w);
}

static void
test_unit_words(void **state)
{
	const char *why = NULL;
	char **w;
	size_t n;

	(void)state;
	words_are("/bin/echo  a\tb", (const char *[]){"/bin/echo", "a", "b"},
		  3);
	words_are("\"A=1 2\" 'B=x y' C=\"q\"z",
		  (const char *[]){"A=1 2", "B=x y", "C=qz"}, 3);
	words_are("a\\sb \\x41\\101 \"t\\tn\\n\" \\\\ '\\''",
		  (const char *[]){"a b", "AA", "t\tn\n", "\\", "'"}, 5);
	words_are("  ", NULL, 0);
	assert_int_equal(unit_words("\"open", &w, &n, &why), -EINVAL);
	assert_string_equal(why, "an unterminated \" quote");
	assert_int_equal(unit_words("a\\qb", &w, &n, &why), -EINVAL);
	assert_int_equal(unit_words("\\x00", &w, &n, &why), -EINVAL);
}

static void
test_timespan(void **state)
{
	int64_t ns = 0;

	(void)state;
	assert_int_equal(unit_timespan("90", &ns), 0);
	assert_int_equal(ns, 90 * S);
	assert_int_equal(unit_timespan("5min", &ns), 0);
	assert_int_equal(ns, 300 * S);
	assert_int_equal(unit_timespan("1h 30min", &ns), 0);
	assert_int_equal(ns, 5400 * S);
	assert_int_equal(unit_timespan("2 days", &ns), 0);
	assert_int_equal(ns, 172800 * S);
	assert_int_equal(unit_timespan("1.5h", &ns), 0);
	assert_int_equal(ns, 5400 * S);
	assert_int_equal(unit_timespan("100ms", &ns), 0);
	assert_int_equal(ns, 100000000);
	assert_int_equal(unit_timespan("1w2d3h4m5s6ms7us", &ns), 0);
	assert_int_equal(ns, (604800 + 172800 + 10800 + 240 + 5) * S + 6000000 +
				 7000);
	assert_int_equal(unit_timespan("1M", &ns), 0);
	assert_int_equal(ns, 2629800 * S);
	ns = 42;
	assert_int_equal(unit_timespan("", &ns), -EINVAL);
	assert_int_equal(unit_timespan("infinity", &ns), -EINVAL);
	assert_int_equal(unit_timespan("5 parsecs", &ns), -EINVAL);
	assert_int_equal(unit_timespan("-5s", &ns), -EINVAL);
	assert_int_equal(unit_timespan("5 10s", &ns), -EINVAL);
	assert_int_equal(unit_timespan("300y", &ns), -EINVAL);
	assert_int_equal(ns, 42);
}

static void
test_hash(void **state)
{
	(void)state;
	/* FNV-1a's published values: these must never change. */
	assert_true(import_hash(IMPORT_HASH_INIT, "", 0) ==
		    UINT64_C(0xcbf29ce484222325));
	assert_true(import_hash(IMPORT_HASH_INIT, "a", 1) ==
		    UINT64_C(0xaf63dc4c8601ec8c));
	assert_true(import_hash(IMPORT_HASH_INIT, "foobar", 6) ==
		    UINT64_C(0x85944171f73967e8));
	assert_true(import_hash(import_hash(IMPORT_HASH_INIT, "foo", 3), "bar",
				3) == UINT64_C(0x85944171f73967e8));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cron_skip),
	    cmocka_unit_test(test_cron_env),
	    cmocka_unit_test(test_cron_entry),
	    cmocka_unit_test(test_cron_percent),
	    cmocka_unit_test(test_cron_bad),
	    cmocka_unit_test(test_unit_file),
	    cmocka_unit_test(test_unit_words),
	    cmocka_unit_test(test_timespan),
	    cmocka_unit_test(test_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
