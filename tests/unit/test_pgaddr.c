/*
 * test_pgaddr: PostgreSQL connection targets (daemon/pgaddr.h) with a
 * fake resolver: lists split as libpq splits them, names expanded into
 * their addresses, the attempt's keywords, a refresh that never waits
 * and keeps what a failed lookup would take away.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pgaddr.h"

/* The fake DNS: name -> comma-separated addresses ("" fails). A lookup
 * of "slow.test" waits while gate is closed. */
static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static bool gate_closed;
static int lookups;
static char slow_answer[64] = "127.0.0.9";
static char flaky_answer[64] = "127.0.0.5";
static char db2_answer[64] = "127.0.0.2";

static const char *
answer_of(const char *node)
{
	if (strcmp(node, "db1.test") == 0)
		return "127.0.0.1,::1";
	if (strcmp(node, "db2.test") == 0)
		return db2_answer;
	if (strcmp(node, "twice.test") == 0)
		return "127.0.0.3,127.0.0.3";
	if (strcmp(node, "slow.test") == 0)
		return slow_answer;
	if (strcmp(node, "flaky.test") == 0)
		return flaky_answer;
	return "";
}

static int
fake_gai(const char *node, const char *service, const struct addrinfo *hints,
         struct addrinfo **res)
{
	struct addrinfo h = *hints, *head = NULL, **tail = &head;
	char list[64], *save = NULL;

	(void)service;
	pthread_mutex_lock(&lk);
	lookups++;
	while (strcmp(node, "slow.test") == 0 && gate_closed)
		pthread_cond_wait(&cv, &lk);
	snprintf(list, sizeof(list), "%s", answer_of(node));
	pthread_mutex_unlock(&lk);
	if (list[0] == '\0')
		return EAI_NONAME;
	h.ai_flags |= AI_NUMERICHOST;
	for (char *a = strtok_r(list, ",", &save); a != NULL;
	     a = strtok_r(NULL, ",", &save)) {
		struct addrinfo *one;

		if (getaddrinfo(a, NULL, &h, &one) != 0) {
			if (head != NULL)
				freeaddrinfo(head);
			return EAI_FAIL;
		}
		*tail = one;
		while (*tail != NULL)
			tail = &(*tail)->ai_next;
	}
	*res = head;
	return 0;
}

static struct pgaddr *
make(const char *const *kw, const char *const *val)
{
	struct pgaddr *a = NULL;
	char err[256];

	if (pgaddr_new(kw, val, &a, err, sizeof(err)) < 0)
		fail_msg("pgaddr_new: %s", err);
	return a;
}

/* The value of keyword k in an attempt's keywords (the last one). */
static const char *
get(const char **kw, const char **val, const char *k)
{
	const char *v = NULL;

	for (size_t i = 0; kw[i] != NULL; i++)
		if (strcmp(kw[i], k) == 0)
			v = val[i];
	return v;
}

static void
params(struct pgaddr *a, size_t i, const char *const *kw,
       const char *const *val, const char **okw, const char **oval)
{
	char err[256];

	assert_int_equal(pgaddr_params(a, i, kw, val, okw, oval, 16, err,
	                               sizeof(err)),
	                 0);
}

/* A name becomes one target per address, a socket directory one
 * target; each attempt names one server and keeps the other keywords. */
static void
test_names_and_sockets(void **state)
{
	const char *kw[] = {"host", "port", "dbname", NULL};
	const char *val[] = {"db1.test,/run/pg", "5432,5433", "d", NULL};
	const char *okw[16], *oval[16];
	struct pgaddr *a;
	char buf[128];

	(void)state;
	a = make(kw, val);
	assert_int_equal(pgaddr_count(a), 3);
	params(a, 0, kw, val, okw, oval);
	assert_string_equal(get(okw, oval, "host"), "db1.test");
	assert_string_equal(get(okw, oval, "hostaddr"), "127.0.0.1");
	assert_string_equal(get(okw, oval, "port"), "5432");
	assert_string_equal(get(okw, oval, "dbname"), "d");
	/* One of each: the lists are gone. */
	for (size_t i = 0, n = 0; okw[i] != NULL; i++)
		if (strcmp(okw[i], "host") == 0 && ++n > 1)
			fail_msg("two host keywords");
	params(a, 1, kw, val, okw, oval);
	assert_string_equal(get(okw, oval, "hostaddr"), "::1");
	assert_string_equal(get(okw, oval, "port"), "5432");
	params(a, 2, kw, val, okw, oval);
	assert_string_equal(get(okw, oval, "host"), "/run/pg");
	assert_null(get(okw, oval, "hostaddr"));
	assert_string_equal(get(okw, oval, "port"), "5433");
	assert_string_equal(pgaddr_name(a, 0, buf, sizeof(buf)),
	                    "db1.test (127.0.0.1):5432");
	assert_string_equal(pgaddr_name(a, 2, buf, sizeof(buf)),
	                    "/run/pg:5433");
	pgaddr_free(a);
}

/* A hostaddr given pairs with its host; an empty entry leaves its host
 * to be resolved; one port serves every host; an address seen twice is
 * one target. */
static void
test_hostaddr_and_one_port(void **state)
{
	const char *kw[] = {"host", "hostaddr", "port", NULL};
	const char *val[] = {"a.test,db2.test,twice.test", "10.0.0.1,,",
	                     "6000", NULL};
	const char *okw[16], *oval[16];
	struct pgaddr *a;

	(void)state;
	a = make(kw, val);
	assert_int_equal(pgaddr_count(a), 3);
	params(a, 0, kw, val, okw, oval);
	assert_string_equal(get(okw, oval, "host"), "a.test");
	assert_string_equal(get(okw, oval, "hostaddr"), "10.0.0.1");
	assert_string_equal(get(okw, oval, "port"), "6000");
	params(a, 1, kw, val, okw, oval);
	assert_string_equal(get(okw, oval, "hostaddr"), "127.0.0.2");
	assert_string_equal(get(okw, oval, "port"), "6000");
	params(a, 2, kw, val, okw, oval);
	assert_string_equal(get(okw, oval, "hostaddr"), "127.0.0.3");
	pgaddr_free(a);
}

/* A name that does not resolve is a target that fails with the
 * resolver's reason, never one libpq would resolve on the loop. */
static void
test_unresolved_name(void **state)
{
	const char *kw[] = {"host", NULL};
	const char *val[] = {"gone.test,db2.test", NULL};
	const char *okw[16], *oval[16];
	struct pgaddr *a;
	char err[256];

	(void)state;
	a = make(kw, val);
	assert_int_equal(pgaddr_count(a), 2);
	assert_int_equal(pgaddr_params(a, 0, kw, val, okw, oval, 16, err,
	                               sizeof(err)),
	                 -ENOENT);
	assert_non_null(strstr(err, "gone.test"));
	params(a, 1, kw, val, okw, oval);
	assert_string_equal(get(okw, oval, "hostaddr"), "127.0.0.2");
	pgaddr_free(a);
}

/* Lists libpq cannot pair are refused, as libpq refuses them. */
static void
test_mismatched_lists(void **state)
{
	const char *kw[] = {"host", "port", NULL};
	const char *val[] = {"a,b", "1,2,3", NULL};
	const char *kw2[] = {"host", "hostaddr", NULL};
	const char *val2[] = {"a,b,c", "10.0.0.1,10.0.0.2", NULL};
	struct pgaddr *a = NULL;
	char err[256];

	(void)state;
	assert_int_equal(pgaddr_new(kw, val, &a, err, sizeof(err)), -EINVAL);
	assert_null(a);
	assert_non_null(strstr(err, "port"));
	assert_int_equal(pgaddr_new(kw2, val2, &a, err, sizeof(err)),
	                 -EINVAL);
}

/* No host: the environment's, else libpq's default, untouched; a
 * service file's host is libpq's to find. */
static void
test_defaults_env_and_service(void **state)
{
	const char *kw[] = {"dbname", NULL};
	const char *val[] = {"d", NULL};
	const char *skw[] = {"service", "port", NULL};
	const char *sval[] = {"evd", "7000", NULL};
	const char *okw[16], *oval[16];
	struct pgaddr *a;

	(void)state;
	unsetenv("PGHOST");
	unsetenv("PGHOSTADDR");
	unsetenv("PGPORT");
	a = make(kw, val);
	assert_int_equal(pgaddr_count(a), 1);
	params(a, 0, kw, val, okw, oval);
	assert_null(get(okw, oval, "host"));
	assert_null(get(okw, oval, "hostaddr"));
	assert_string_equal(get(okw, oval, "dbname"), "d");
	pgaddr_free(a);

	setenv("PGHOST", "db2.test", 1);
	a = make(kw, val);
	params(a, 0, kw, val, okw, oval);
	assert_string_equal(get(okw, oval, "host"), "db2.test");
	assert_string_equal(get(okw, oval, "hostaddr"), "127.0.0.2");
	pgaddr_free(a);
	unsetenv("PGHOST");

	a = make(skw, sval);
	assert_int_equal(pgaddr_count(a), 1);
	params(a, 0, skw, sval, okw, oval);
	assert_string_equal(get(okw, oval, "service"), "evd");
	assert_string_equal(get(okw, oval, "port"), "7000");
	assert_null(get(okw, oval, "hostaddr"));
	pgaddr_free(a);
}

static void
test_timeout(void **state)
{
	const char *kw[] = {"host", "connect_timeout", NULL};
	const char *v1[] = {"/s", "1", NULL}, *v10[] = {"/s", "10", NULL};
	const char *v0[] = {"/s", "0", NULL}, *none[] = {"/s", NULL};
	struct pgaddr *a;

	(void)state;
	unsetenv("PGCONNECT_TIMEOUT");
	a = make(kw, v1);
	assert_int_equal(pgaddr_timeout_ms(a), 2000); /* libpq's minimum */
	pgaddr_free(a);
	a = make(kw, v10);
	assert_int_equal(pgaddr_timeout_ms(a), 10000);
	pgaddr_free(a);
	a = make(kw, v0);
	assert_int_equal(pgaddr_timeout_ms(a), 0);
	pgaddr_free(a);
	a = make(kw, none);
	assert_int_equal(pgaddr_timeout_ms(a), 0);
	pgaddr_free(a);
}

/* Polls pgaddr_count until target 0's address is want (5 s at most). */
static bool
await_addr(struct pgaddr *a, const char *const *kw, const char *const *val,
           const char *want)
{
	const char *okw[16], *oval[16];

	for (int i = 0; i < 500; i++) {
		struct timespec ts = {0, 10000000};

		pgaddr_count(a);
		params(a, 0, kw, val, okw, oval);
		if (strcmp(get(okw, oval, "hostaddr"), want) == 0)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

/* A refresh returns at once while the lookup hangs; the old answer
 * serves meanwhile, the new one once it came. */
static void
test_refresh_never_waits(void **state)
{
	const char *kw[] = {"host", NULL};
	const char *val[] = {"slow.test", NULL};
	const char *okw[16], *oval[16];
	struct pgaddr *a;
	int before;

	(void)state;
	a = make(kw, val);
	params(a, 0, kw, val, okw, oval);
	assert_string_equal(get(okw, oval, "hostaddr"), "127.0.0.9");

	pthread_mutex_lock(&lk);
	gate_closed = true;
	snprintf(slow_answer, sizeof(slow_answer), "127.0.0.10");
	before = lookups;
	pthread_mutex_unlock(&lk);
	assert_int_equal(pgaddr_refresh(a), 0); /* with the gate closed */
	/* A second refresh while one runs starts nothing. */
	assert_int_equal(pgaddr_refresh(a), 0);
	assert_int_equal(pgaddr_count(a), 1);
	params(a, 0, kw, val, okw, oval);
	assert_string_equal(get(okw, oval, "hostaddr"), "127.0.0.9");

	pthread_mutex_lock(&lk);
	gate_closed = false;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&lk);
	assert_true(await_addr(a, kw, val, "127.0.0.10"));
	pthread_mutex_lock(&lk);
	assert_int_equal(lookups - before, 1);
	pthread_mutex_unlock(&lk);
	pgaddr_free(a);
}

/* A lookup that fails keeps the addresses the name had, while the
 * names that resolve take their new ones from the same answer. */
static void
test_failed_refresh_keeps_addresses(void **state)
{
	const char *kw[] = {"host", NULL};
	const char *val[] = {"flaky.test,db2.test", NULL};
	const char *okw[16], *oval[16];
	struct pgaddr *a;
	bool moved = false;

	(void)state;
	a = make(kw, val);
	pthread_mutex_lock(&lk);
	flaky_answer[0] = '\0'; /* fails from now on */
	snprintf(db2_answer, sizeof(db2_answer), "127.0.0.22");
	pthread_mutex_unlock(&lk);
	assert_int_equal(pgaddr_refresh(a), 0);
	/* The answer is taken once db2.test's new address shows. */
	for (int i = 0; i < 500 && !moved; i++) {
		struct timespec ts = {0, 10000000};

		assert_int_equal(pgaddr_count(a), 2);
		params(a, 1, kw, val, okw, oval);
		moved = strcmp(get(okw, oval, "hostaddr"), "127.0.0.22") == 0;
		if (!moved)
			nanosleep(&ts, NULL);
	}
	assert_true(moved);
	params(a, 0, kw, val, okw, oval);
	assert_string_equal(get(okw, oval, "host"), "flaky.test");
	assert_string_equal(get(okw, oval, "hostaddr"), "127.0.0.5");
	pgaddr_free(a);
	pthread_mutex_lock(&lk);
	snprintf(flaky_answer, sizeof(flaky_answer), "127.0.0.5");
	snprintf(db2_answer, sizeof(db2_answer), "127.0.0.2");
	pthread_mutex_unlock(&lk);
}

/* The target libpq connected to by itself (start-up) is found. */
static void
test_find(void **state)
{
	const char *kw[] = {"host", "port", NULL};
	const char *val[] = {"/run/pg,db1.test", "5432,6000", NULL};
	struct pgaddr *a;

	(void)state;
	a = make(kw, val);
	assert_int_equal(pgaddr_count(a), 3);
	assert_int_equal(pgaddr_find(a, "db1.test", "::1", "6000"), 2);
	assert_int_equal(pgaddr_find(a, "db1.test", "127.0.0.1", "6000"), 1);
	assert_int_equal(pgaddr_find(a, "/run/pg", "", "5432"), 0);
	assert_int_equal(pgaddr_find(a, "db1.test", "127.0.0.1", "7"), 0);
	pgaddr_free(a);
}

/* Freed while its lookup hangs: the lookup ends on its own. */
static void
test_free_during_refresh(void **state)
{
	const char *kw[] = {"host", NULL};
	const char *val[] = {"slow.test", NULL};
	struct pgaddr *a;

	(void)state;
	a = make(kw, val);
	pthread_mutex_lock(&lk);
	gate_closed = true;
	pthread_mutex_unlock(&lk);
	assert_int_equal(pgaddr_refresh(a), 0);
	pgaddr_free(a);
	pthread_mutex_lock(&lk);
	gate_closed = false;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&lk);
	/* The thread ends on its own (ASan and valgrind see a leak or a
	 * use after free if it does not end cleanly). */
	for (int i = 0; i < 1000 && pgaddr_resolvers() > 0; i++) {
		struct timespec ts = {0, 10000000};

		nanosleep(&ts, NULL);
	}
	assert_int_equal(pgaddr_resolvers(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names_and_sockets),
	    cmocka_unit_test(test_hostaddr_and_one_port),
	    cmocka_unit_test(test_unresolved_name),
	    cmocka_unit_test(test_mismatched_lists),
	    cmocka_unit_test(test_defaults_env_and_service),
	    cmocka_unit_test(test_timeout),
	    cmocka_unit_test(test_refresh_never_waits),
	    cmocka_unit_test(test_failed_refresh_keeps_addresses),
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_free_during_refresh),
	};

	pgaddr_set_resolver(fake_gai);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
