/*
 * test_channel_list: ListChannels and Peek (evc_list_channels,
 * evc_peek) against the real evd, run as root with clients as two
 * unprivileged uids in forked children: a user lists its own channels
 * and those granted to it, never another's; root lists all; pages
 * follow next_after; Peek shows queued messages in delivery order
 * without taking them (a later subscriber still gets them), only the
 * caller's own in another's channel, and NOT_FOUND for no channel.
 * Needs root; otherwise exits 77.
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

#define UID_A 61301
#define UID_B 61302

static struct evd_proc evd;

struct shared {
	int rc[16];
	long n[16];
	char names[8][64];
};
static struct shared *sh;

static struct evc *
client(void)
{
	char err[256];
	struct evc *c = NULL;

	if (evc_connect(evd.sock, "test_channel_list", 5000, &c, err,
			sizeof err) < 0)
		return NULL;
	return c;
}

static int
soon_into(struct evc *c, const char *channel, const char *payload)
{
	struct evc_callback cb = {.channel = channel,
				  .payload = payload,
				  .payload_len = strlen(payload)};
	struct evc_scheduled s;

	return evc_call_soon(c, &cb, 5000, &s);
}

static int
as_user(uid_t uid, int (*fn)(void))
{
	return run_as(uid, uid, NULL, 0, fn);
}

/* Until the fires are queued (call_soon fires on the next turn). */
static int
wait_queued(struct evc *c, const char *channel, uint64_t n)
{
	struct evc_channel_info ci;
	int i;

	for (i = 0; i < 500; i++) {
		if (evc_get_channel(c, channel, 5000, &ci) < 0)
			return -1;
		if (ci.queued_messages == n) {
			evc_channel_info_free(&ci);
			return 0;
		}
		evc_channel_info_free(&ci);
		usleep(10000);
	}
	return -1;
}

/* A: channels a1, a2 (3 messages), a3 (granted to B). */
static int
user_a(void)
{
	struct evc *c = client();

	if (c == NULL)
		return 1;
	if (soon_into(c, "a1", "x") < 0 || soon_into(c, "a2", "one") < 0 ||
	    soon_into(c, "a2", "two") < 0 || soon_into(c, "a2", "three") < 0)
		return 2;
	if (evc_channel_grant(c, "a3", false, UID_B, true, true, false, 5000,
			      NULL) < 0)
		return 3;
	return wait_queued(c, "a2", 3) == 0 ? 0 : 4;
}

static int
user_b(void)
{
	struct evc_channel_list cl;
	struct evc_dead_list dl;
	struct evc *c = client();
	size_t i;

	if (c == NULL)
		return 1;
	if (soon_into(c, "b1", "mine") < 0 ||
	    soon_into(c, "61301:a3", "to-a") < 0)
		return 2;
	if (wait_queued(c, "b1", 1) < 0)
		return 3;
	sh->rc[0] = evc_list_channels(c, NULL, 0, 5000, &cl);
	if (sh->rc[0] == 0) {
		sh->n[0] = (long)cl.count;
		for (i = 0; i < cl.count && i < 8; i++)
			snprintf(sh->names[i], sizeof sh->names[i], "%s",
				 cl.channels[i].channel);
		evc_channel_list_free(&cl);
	}
	/* A's channel, not granted: B sees none of A's messages. */
	sh->rc[1] = evc_peek(c, "61301:a2", 0, 5000, &dl);
	if (sh->rc[1] == 0) {
		sh->n[1] = (long)dl.count;
		evc_dead_list_free(&dl);
	}
	/* B's own message in A's a3. */
	sh->rc[2] = evc_peek(c, "61301:a3", 0, 5000, &dl);
	if (sh->rc[2] == 0) {
		sh->n[2] = (long)dl.count;
		evc_dead_list_free(&dl);
	}
	return 0;
}

static void
test_list_and_peek(void **state)
{
	struct evc_channel_list cl;
	struct evc_dead_list dl;
	struct evc_fired ev;
	struct evc *root;
	char *after;
	size_t seen = 0;

	(void)state;
	assert_int_equal(as_user(UID_A, user_a), 0);
	assert_int_equal(as_user(UID_B, user_b), 0);
	/* B: its own b1 and A's a3 (granted), in name order; not a1, a2. */
	assert_int_equal(sh->rc[0], 0);
	assert_int_equal(sh->n[0], 2);
	assert_string_equal(sh->names[0], "61301:a3");
	assert_string_equal(sh->names[1], "b1");
	assert_int_equal(sh->rc[1], 0);
	assert_int_equal(sh->n[1], 0);
	assert_int_equal(sh->rc[2], 0);
	assert_int_equal(sh->n[2], 1);

	assert_non_null(root = client());
	/* Root: all four, one page of 3 and then the rest. */
	assert_int_equal(evc_list_channels(root, NULL, 3, 5000, &cl), 0);
	assert_int_equal(cl.count, 3);
	assert_non_null(cl.next_after);
	assert_string_equal(cl.channels[0].channel, "61301:a1");
	assert_string_equal(cl.channels[1].channel, "61301:a2");
	assert_int_equal(cl.channels[1].queued_messages, 3);
	assert_int_equal(cl.channels[1].grant_count, 0);
	after = strdup(cl.next_after);
	seen += cl.count;
	evc_channel_list_free(&cl);
	assert_int_equal(evc_list_channels(root, after, 3, 5000, &cl), 0);
	free(after);
	assert_int_equal(cl.count, 1);
	assert_string_equal(cl.channels[0].channel, "61302:b1");
	assert_null(cl.next_after);
	seen += cl.count;
	evc_channel_list_free(&cl);
	assert_int_equal(seen, 4);

	/* Peek: in delivery order, two of three, nothing taken. */
	assert_int_equal(evc_peek(root, "61301:a2", 2, 5000, &dl), 0);
	assert_int_equal(dl.count, 2);
	assert_memory_equal(dl.messages[0].payload, "one", 3);
	assert_memory_equal(dl.messages[1].payload, "two", 3);
	assert_true(dl.next_after_fire_id != 0);
	evc_dead_list_free(&dl);
	assert_int_equal(evc_peek(root, "61301:a2", 0, 5000, &dl), 0);
	assert_int_equal(dl.count, 3);
	assert_int_equal(dl.next_after_fire_id, 0);
	evc_dead_list_free(&dl);
	assert_int_equal(evc_subscribe(root, "61301:a2", 5000), 0);
	assert_int_equal(evc_next_event(root, 5000, &ev), 0);
	assert_memory_equal(ev.payload, "one", 3);
	evc_fired_free(&ev);
	assert_int_equal(evc_peek(root, "no-such-channel", 0, 5000, &dl),
			 -EVC_E_NOT_FOUND);
	assert_int_equal(evc_peek(root, NULL, 0, 5000, &dl), -EVC_E_USAGE);
	evc_close(root);
}

static int
setup(void **state)
{
	static const char *const args[] = {"--store", "sqlite", NULL};

	(void)state;
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || evd_start(&evd, args) < 0)
		return -1;
	return chmod(evd.dir, 0755);
}

static int
teardown(void **state)
{
	(void)state;
	return evd_stop(&evd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_list_and_peek),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_channel_list: needs root (clients run "
				"as other uids); skipped\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
