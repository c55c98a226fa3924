/*
 * test_unsubscribe: Unsubscribe (EVCLIENT_1.8) against the real evd, with
 * one loop and with three: the connection stays open and gets no more of
 * the channel's messages; what it held unacked goes back to the queue at
 * once (another subscriber gets it long before its 10-minute visibility
 * timeout), and its ack is then NOT_FOUND; the request is idempotent; a
 * bad name is refused. Waits are bounded (evc_next_event's timeout).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "evclient.h"
#include "harness.h"

#define MS 1000000LL
#define SEC (1000 * MS)

static struct evd_proc evd;

static int
setup_one(void **state)
{
	static const char *const args[] = {"--store", "sqlite", NULL};

	return evd_start(&evd, args) == 0 ? 0 : -1;
}

static int
setup_three(void **state)
{
	static const char *const args[] = {"--store", "sqlite", "--threads",
					   "3", NULL};

	return evd_start(&evd, args) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	return evd_stop(&evd) == 0 ? 0 : -1;
}

static struct evc *
client(const char *name)
{
	char err[256];
	struct evc *c = NULL;

	if (evc_connect(evd.sock, name, 5000, &c, err, sizeof err) < 0)
		fail_msg("evc_connect: %s", err);
	return c;
}

static uint64_t
publish(struct evc *c, const char *channel, const char *payload)
{
	struct evc_callback cb = {.channel = channel,
				  .payload = payload,
				  .payload_len = strlen(payload)};
	struct evc_scheduled sc;

	assert_int_equal(evc_call_soon(c, &cb, 5000, &sc), 0);
	return sc.timer_id;
}

static uint32_t
subscribers(struct evc *c, const char *channel)
{
	struct evc_channel_info ci;
	uint32_t n;

	assert_int_equal(evc_get_channel(c, channel, 5000, &ci), 0);
	n = ci.subscribers;
	evc_channel_info_free(&ci);
	return n;
}

/* The held message goes to the other subscriber at once; later ones
 * too; the unsubscribed connection keeps working and hears nothing. */
static void
test_unsubscribe_gives_back(void **state)
{
	struct evc *a = client("us-a"), *b = client("us-b");
	struct evc_fired ev, ev2;
	uint64_t id, id2;

	assert_int_equal(evc_subscribe_opts(a, "us-jobs", 600 * SEC, 5000), 0);
	id = publish(a, "us-jobs", "first");
	assert_int_equal(evc_next_event(a, 10000, &ev), 0);
	assert_int_equal(ev.timer_id, id);
	assert_int_equal(ev.attempt, 1);
	assert_int_equal(evc_subscribe(b, "us-jobs", 5000), 0);
	assert_int_equal(subscribers(a, "us-jobs"), 2);

	assert_int_equal(evc_unsubscribe(a, "us-jobs", 5000), 0);
	assert_int_equal(subscribers(a, "us-jobs"), 1);
	/* Back in the queue now, not after 600 s: b gets it. */
	assert_int_equal(evc_next_event(b, 10000, &ev2), 0);
	assert_int_equal(ev2.fire_id, ev.fire_id);
	assert_int_equal(ev2.attempt, 2);
	/* a no longer holds it. */
	assert_int_equal(evc_ack(a, ev.fire_id, 5000), -EVC_E_NOT_FOUND);
	assert_int_equal(evc_ack(b, ev2.fire_id, 5000), 0);
	evc_fired_free(&ev);
	evc_fired_free(&ev2);

	/* a stays connected; new messages go to b only. */
	id2 = publish(a, "us-jobs", "second");
	assert_int_equal(evc_next_event(b, 10000, &ev2), 0);
	assert_int_equal(ev2.timer_id, id2);
	assert_int_equal(evc_ack(b, ev2.fire_id, 5000), 0);
	evc_fired_free(&ev2);
	assert_int_equal(evc_next_event(a, 300, &ev), -EVC_E_TIMEOUT);

	/* Subscribing again works as before. */
	assert_int_equal(evc_unsubscribe(b, "us-jobs", 5000), 0);
	assert_int_equal(evc_subscribe(a, "us-jobs", 5000), 0);
	id2 = publish(b, "us-jobs", "third");
	assert_int_equal(evc_next_event(a, 10000, &ev), 0);
	assert_int_equal(ev.timer_id, id2);
	assert_int_equal(evc_ack(a, ev.fire_id, 5000), 0);
	evc_fired_free(&ev);
	evc_close(a);
	evc_close(b);
}

/* Leaving a channel one is not on, twice, or one that does not exist is
 * answered; a bad name is not. */
static void
test_unsubscribe_idempotent(void **state)
{
	struct evc *a = client("us-idem");

	assert_int_equal(evc_unsubscribe(a, "us-never", 5000), 0);
	assert_int_equal(evc_subscribe(a, "us-twice", 5000), 0);
	assert_int_equal(evc_unsubscribe(a, "us-twice", 5000), 0);
	assert_int_equal(evc_unsubscribe(a, "us-twice", 5000), 0);
	assert_int_equal(subscribers(a, "us-twice"), 0);
	assert_int_equal(evc_unsubscribe(a, "bad name", 5000),
			 -EVC_E_INVALID_ARGUMENT);
	assert_int_equal(evc_unsubscribe(a, NULL, 5000), -EVC_E_USAGE);
	evc_close(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unsubscribe_gives_back),
	    cmocka_unit_test(test_unsubscribe_idempotent),
	};
	int r;

	if ((r = cmocka_run_group_tests_name("one loop", tests, setup_one,
					     teardown)) != 0)
		return r;
	return cmocka_run_group_tests_name("three loops", tests, setup_three,
					   teardown);
}
