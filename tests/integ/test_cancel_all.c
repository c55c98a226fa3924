/*
 * test_cancel_all: CancelAll (evc_cancel_all) against the real evd, run
 * as root with clients as two unprivileged uids in forked children (as
 * test_security does): a channel's timers, an owner's timers across
 * every loop of --threads 2 (caller timers of other connections too), a
 * channel owner cancelling one publisher's timers in its channel, root
 * naming a uid, and refusals: a user cannot cancel another's timers,
 * nor reach into a channel it does not own. One request, one commit:
 * the count comes back, and after a kill -9 the cancelled durable
 * timers stay cancelled. Runs with one loop and with two. Needs root;
 * otherwise exits 77.
 */
#include <errno.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "evclient.h"
#include "harness.h"

#define SEC 1000000000LL
#define UID_A 61101
#define UID_B 61102

static struct evd_proc evd;
static const char *loops = "1";

/* What the children report. */
struct shared {
	int rc[16];
	uint64_t n[16];
};
static struct shared *sh;

static struct evc *
client(void)
{
	char err[256];
	struct evc *c = NULL;

	if (evc_connect(evd.sock, "test_cancel_all", 5000, &c, err,
			sizeof err) < 0)
		return NULL;
	return c;
}

static int
later_into(struct evc *c, const char *channel)
{
	struct evc_callback cb = {.channel = channel};
	struct evc_scheduled s;

	return evc_call_later(c, 3600 * SEC, EVC_CLOCK_MONOTONIC,
			      channel != NULL ? &cb : NULL, 5000, &s);
}

/* How many pending timers the caller sees (on channel, if not NULL). */
static long
count(struct evc *c, const char *channel)
{
	struct evc_timer_list l;
	long n;

	if (evc_list(c, channel, 0, 1000, 5000, &l) < 0)
		return -1;
	n = (long)l.count;
	evc_timer_list_free(&l);
	return n;
}

static int
as_user(uid_t uid, int (*fn)(void))
{
	return run_as(uid, uid, NULL, 0, fn);
}

/* A: 3 timers into jobs, 2 into other, a grant for B to publish into
 * jobs, and three caller timers (which die with this child). */
static int
user_a(void)
{
	struct evc *c = client(), *side[3];
	int i;

	if (c == NULL)
		return 1;
	for (i = 0; i < 3; i++)
		if (later_into(c, "jobs") < 0)
			return 2;
	for (i = 0; i < 2; i++)
		if (later_into(c, "other") < 0)
			return 3;
	/* B may publish into A's jobs. */
	if (evc_channel_grant(c, "jobs", false, UID_B, false, true, false,
			      5000, NULL) < 0)
		return 4;
	for (i = 0; i < 3; i++)
		if ((side[i] = client()) == NULL || later_into(side[i], NULL) < 0)
			return 5;
	return count(c, NULL) == 8 ? 0 : 6;
}

/* Runs in B's child: B's refusals and B's own timer in A's channel. */
static int
user_b(void)
{
	struct evc *c = client();
	uint64_t n = 99;

	if (c == NULL)
		return 1;
	/* Another uid's timers: refused, outside a channel B owns. */
	sh->rc[0] = evc_cancel_all(c, NULL, true, UID_A, 5000, &n);
	/* A's channel: B matches only its own there (none yet). */
	sh->rc[1] = evc_cancel_all(c, "61101:jobs", false, 0, 5000, &n);
	sh->n[1] = n;
	sh->rc[2] = evc_cancel_all(c, "61101:jobs", true, UID_A, 5000, &n);
	/* One of B's own into A's jobs, one into B's own channel. */
	sh->rc[3] = later_into(c, "61101:jobs");
	sh->rc[4] = later_into(c, "b-own");
	evc_close(c);
	return 0;
}

/* A's cancels, on a connection of its own while three others hold its
 * caller timers. */
static int
user_a_cancels(void)
{
	struct evc *c = client(), *side[3];
	uint64_t n = 99;
	int i;

	if (c == NULL)
		return 1;
	for (i = 0; i < 3; i++)
		if ((side[i] = client()) == NULL || later_into(side[i], NULL) < 0)
			return 2;
	/* jobs: A's 3 and B's 1 (A owns the channel); only B's first. */
	sh->rc[5] = evc_cancel_all(c, "jobs", true, UID_B, 5000, &n);
	sh->n[5] = n;
	sh->rc[6] = evc_cancel_all(c, "jobs", false, 0, 5000, &n);
	sh->n[6] = n;
	sh->rc[7] = evc_cancel_all(c, "jobs", false, 0, 5000, &n);
	sh->n[7] = n; /* again: nothing left, still success */
	/* Everything else of A's: other's 2 and the 3 caller timers of
	 * the side connections, wherever their loop is. */
	sh->rc[8] = evc_cancel_all(c, NULL, false, 0, 5000, &n);
	sh->n[8] = n;
	sh->n[9] = (uint64_t)count(c, NULL);
	for (i = 0; i < 3; i++)
		evc_close(side[i]);
	evc_close(c);
	return 0;
}

static void
count_cb(struct evc *c, const struct evc_result *res, void *arg)
{
	(void)c;
	*(uint64_t *)arg = res->status == 0 ? 1000 + res->count : 0;
}

static void
test_cancel_all(void **state)
{
	struct evc *root;
	uint64_t n = 99;

	(void)state;
	memset(sh, 0, sizeof *sh);
	/* A's durable timers and grant; its caller timers die with the
	 * child, so user_a_cancels makes its own. */
	assert_int_equal(as_user(UID_A, user_a), 0);
	assert_int_equal(as_user(UID_B, user_b), 0);
	assert_int_equal(sh->rc[0], -EVC_E_PERMISSION_DENIED);
	assert_int_equal(sh->rc[1], 0);
	assert_int_equal(sh->n[1], 0);
	assert_int_equal(sh->rc[2], -EVC_E_PERMISSION_DENIED);
	assert_int_equal(sh->rc[3], 0);
	assert_int_equal(sh->rc[4], 0);

	assert_int_equal(as_user(UID_A, user_a_cancels), 0);
	assert_int_equal(sh->rc[5], 0);
	assert_int_equal(sh->n[5], 1);
	assert_int_equal(sh->rc[6], 0);
	assert_int_equal(sh->n[6], 3);
	assert_int_equal(sh->rc[7], 0);
	assert_int_equal(sh->n[7], 0);
	assert_int_equal(sh->rc[8], 0);
	assert_int_equal(sh->n[8], 5);
	assert_int_equal(sh->n[9], 0);

	/* Root: B's remaining timer (b-own) by uid; root's own are none. */
	assert_non_null(root = client());
	assert_int_equal(later_into(root, "root-ch"), 0);
	assert_int_equal(evc_cancel_all(root, NULL, true, UID_B, 5000, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(count(root, NULL), 1); /* root's own is left */
	/* A bad channel name is the daemon's INVALID_ARGUMENT. */
	assert_int_equal(evc_cancel_all(root, "a b", false, 0, 5000, &n),
			 -EVC_E_INVALID_ARGUMENT);
	/* Async: root's own, counted. */
	assert_int_equal(evc_cancel_all_async(root, NULL, false, 0, count_cb,
					      &n),
			 0);
	assert_int_equal(evc_drain(root, 5000), 0);
	assert_int_equal(n, 1001);
	evc_close(root);
}

/* The count is of one commit: after a kill -9 nothing cancelled comes
 * back, and nothing else went. */
static void
test_cancel_all_is_committed(void **state)
{
	static const char *const two[] = {"--store", "sqlite", "--threads",
					  "2", NULL};
	static const char *const one[] = {"--store", "sqlite", NULL};
	struct evc *c;
	uint64_t n = 0;
	int i;

	(void)state;
	assert_non_null(c = client());
	for (i = 0; i < 50; i++)
		assert_int_equal(later_into(c, "bulk"), 0);
	for (i = 0; i < 7; i++)
		assert_int_equal(later_into(c, "stay"), 0);
	assert_int_equal(evc_cancel_all(c, "bulk", false, 0, 5000, &n), 0);
	assert_int_equal(n, 50);
	evc_close(c);
	evd_kill9(&evd);
	assert_int_equal(evd_start_in(&evd, strcmp(loops, "2") == 0 ? two
								   : one),
			 0);
	assert_non_null(c = client());
	assert_int_equal(count(c, "bulk"), 0);
	assert_int_equal(count(c, "stay"), 7);
	assert_int_equal(evc_cancel_all(c, "stay", false, 0, 5000, &n), 0);
	assert_int_equal(n, 7);
	evc_close(c);
}

static int
setup(void **state)
{
	const char *const args[] = {"--store", "sqlite", "--threads", loops,
				    NULL};

	(void)state;
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || evd_start(&evd, args) < 0)
		return -1;
	/* Other uids must reach the socket inside the test directory. */
	return chmod(evd.dir, 0755);
}

static int
teardown(void **state)
{
	(void)state;
	return evd_stop(&evd) == 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cancel_all),
	    cmocka_unit_test(test_cancel_all_is_committed),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_cancel_all: needs root (clients run as "
				"other uids); skipped\n");
		return 77;
	}
	if (argc > 1 && strcmp(argv[1], "--threads2") == 0)
		loops = "2";
	return cmocka_run_group_tests(tests, setup, teardown);
}
