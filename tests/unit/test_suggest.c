/*
 * Unit tests of lib/suggest.c: the edit distance (transpositions count
 * once) and which name is suggested for the typos users make with
 * evctl's verbs and options and evd.conf's keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "suggest.h"

static void
test_distance(void **state)
{
	assert_int_equal(suggest_distance("", ""), 0);
	assert_int_equal(suggest_distance("list", "list"), 0);
	assert_int_equal(suggest_distance("", "abc"), 3);
	assert_int_equal(suggest_distance("abc", ""), 3);
	/* A transposition is one edit, not two (Levenshtein says 2). */
	assert_int_equal(suggest_distance("lsit", "list"), 1);
	assert_int_equal(suggest_distance("ab", "ba"), 1);
	assert_int_equal(suggest_distance("threds", "threads"), 1);
	assert_int_equal(suggest_distance("--chanel", "--channel"), 1);
	assert_int_equal(suggest_distance("kitten", "sitting"), 3);
	assert_int_equal(suggest_distance("ca", "abc"), 3); /* OSA */
	/* Case is not a difference. */
	assert_int_equal(suggest_distance("LIST", "list"), 0);
	assert_int_equal(suggest_distance("log-level", "log_level"), 1);
	/* Symmetric. */
	assert_int_equal(suggest_distance("socket", "sokcet"),
			 suggest_distance("sokcet", "socket"));
}

static void
test_too_long(void **state)
{
	char big[SUGGEST_NAME_MAX + 2];

	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_true(suggest_distance(big, "a") == SIZE_MAX);
	big[SUGGEST_NAME_MAX] = '\0';
	assert_int_equal(suggest_distance(big, big), 0);
}

static void
test_nearest(void **state)
{
	static const char *const verbs[] = {
	    "soon", "later", "at",   "on",    "cancel", "pause", "resume",
	    "get",  "wait",  "list", "runs",  "logs",	"watch", "dead",
	    "peek", "purge", "next", "parse", "help",	NULL,
	};
	static const char *const keys[] = {
	    "socket",  "state_dir", "store",
	    "threads", "log_level", "max_connections_per_uid"};
	size_t nv = sizeof verbs / sizeof verbs[0];
	size_t nk = sizeof keys / sizeof keys[0];

	assert_string_equal(suggest_nearest("lsit", verbs, nv), "list");
	assert_string_equal(suggest_nearest("lst", verbs, nv), "list");
	assert_string_equal(suggest_nearest("canel", verbs, nv), "cancel");
	assert_string_equal(suggest_nearest("cancle", verbs, nv), "cancel");
	assert_string_equal(suggest_nearest("latr", verbs, nv), "later");
	assert_string_equal(suggest_nearest("List", verbs, nv), "list");
	assert_string_equal(suggest_nearest("pek", verbs, nv), "peek");
	/* Ties go to the earlier name. */
	{
		static const char *const two[] = {"ab", "ba"};

		assert_string_equal(suggest_nearest("aa", two, 2), "ab");
	}
	assert_string_equal(suggest_nearest("threds", keys, nk), "threads");
	assert_string_equal(suggest_nearest("sokcet", keys, nk), "socket");
	assert_string_equal(suggest_nearest("log-level", keys, nk),
			    "log_level");
	assert_string_equal(
	    suggest_nearest("max-connections-per-uid", keys, nk),
	    "max_connections_per_uid");
	/* Too far: nothing rather than nonsense. */
	assert_null(suggest_nearest("frobnicate", verbs, nv));
	assert_null(suggest_nearest("x", verbs, nv));
	assert_null(suggest_nearest("", verbs, nv));
	assert_null(suggest_nearest("stats", keys, nk));
	assert_null(suggest_nearest("lsit", NULL, 0));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_distance),
	    cmocka_unit_test(test_too_long),
	    cmocka_unit_test(test_nearest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
