/*
 * test_reject: a subscriber's Reject (nack) with a reason, through
 * libevclient (EVCLIENT_1.7) against the real evd on its SQLite store:
 * a rejected message is redelivered after a backoff with the reason in
 * its timer's history; once its attempts are used up (or at once, when
 * asked) it is a dead letter that carries the reason, and the reason
 * survives a crash and restart of evd; a reject of a message this
 * connection does not hold (a wrong fire id, another connection's,
 * another user's, another channel's) is NOT_FOUND and leaves the message
 * where it was. And a subscriber's max_inflight (evc_subscribe_limit),
 * which a worker pool needs so that it takes no more than it runs. Waits are polls with a bound, never bare sleeps.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "evclient.h"
#include "harness.h"

#define MS 1000000LL
#define SEC (1000 * MS)

static struct evd_proc evd;
static const char *const evd_args[] = {"--store", "sqlite", NULL};

static int
setup(void **state)
{
	if (evd_start(&evd, evd_args) != 0)
		return -1;
	/* Another uid's client must reach the socket (root only). */
	return chmod(evd.dir, 0755);
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

/* Schedules one message into channel now; returns its timer id. */
static uint64_t
publish(struct evc *c, const char *channel, const char *payload,
        uint32_t max_attempts)
{
	struct evc_timer_options o = {.max_attempts = max_attempts};
	struct evc_callback cb = {.channel = channel,
	                          .payload = payload,
	                          .payload_len = strlen(payload),
	                          .options = max_attempts ? &o : NULL};
	struct evc_scheduled sc;

	assert_int_equal(evc_call_soon(c, &cb, 5000, &sc), 0);
	return sc.timer_id;
}

static void
receive(struct evc *c, uint64_t timer_id, uint32_t attempt,
        struct evc_fired *ev)
{
	assert_int_equal(evc_next_event(c, 10000, ev), 0);
	assert_int_equal(ev->timer_id, timer_id);
	assert_int_equal(ev->attempt, attempt);
}

/* Polls channel's dead letters until there are want (5 s bound). */
static void
await_dead(struct evc *c, const char *channel, size_t want,
           struct evc_dead_letters *ret)
{
	int i;

	for (i = 0; i < 250; i++) {
		assert_int_equal(
		    evc_list_dead_letters(c, channel, 0, 0, 5000, ret), 0);
		if (ret->count == want)
			return;
		evc_dead_letters_free(ret);
		usleep(20000);
	}
	fail_msg("%s: not %zu dead letter(s) after 5 s", channel, want);
}

/* Whether timer_id's history has a run of outcome with detail (NULL:
 * any). */
static bool
has_run(struct evc *c, uint64_t timer_id, int outcome, const char *detail)
{
	struct evc_timer_info ti;
	bool found = false;
	size_t i;

	assert_int_equal(evc_get(c, timer_id, 5000, &ti), 0);
	for (i = 0; i < ti.history_count; i++)
		if (ti.history[i].outcome == outcome &&
		    (detail == NULL || (ti.history[i].detail != NULL &&
		                        strcmp(ti.history[i].detail, detail) ==
		                            0)))
			found = true;
	evc_timer_info_free(&ti);
	return found;
}

/* A rejected message comes back after a backoff, attempt + 1, and the
 * reason is in its timer's history. */
static void
test_reject_redelivers(void **state)
{
	struct evc *sub = client("rj-sub");
	struct evc_rejected rj = {.dead = true};
	struct evc_fired ev;
	uint64_t id;

	assert_int_equal(evc_subscribe(sub, "rj-again", 5000), 0);
	id = publish(sub, "rj-again", "once more", 0);
	receive(sub, id, 1, &ev);
	assert_int_equal(evc_reject(sub, "rj-again", ev.fire_id,
	                            "exit status 3: disk full", false, 5000,
	                            &rj),
	                 0);
	assert_false(rj.dead);
	/* The first backoff: 1 s, +-20%. */
	assert_true(rj.redeliver_in_ns >= 800 * MS &&
	            rj.redeliver_in_ns <= 1200 * MS);
	evc_fired_free(&ev);
	receive(sub, id, 2, &ev);
	assert_string_equal((const char *)ev.payload, "once more");
	assert_int_equal(evc_ack(sub, ev.fire_id, 5000), 0);
	evc_fired_free(&ev);
	assert_true(has_run(sub, id, EVC_RUN_REDELIVERED,
	                    "rejected: exit status 3: disk full"));
	assert_true(has_run(sub, id, EVC_RUN_ACKED, NULL));
	evc_close(sub);
}

/*
 * With max_attempts 2 the second reject dead-letters the message with
 * its reason; dead_letter does so at the first. The reasons are in the
 * dead-letter list (the async list too) and survive kill -9 and a
 * restart.
 */
static void
test_reject_dead_letters(void **state)
{
	struct evc *sub = client("rjd-sub");
	struct evc_rejected rj;
	struct evc_dead_letters dl;
	struct evc_fired ev;
	uint64_t a, b;

	assert_int_equal(evc_subscribe(sub, "rj-dead", 5000), 0);
	a = publish(sub, "rj-dead", "a", 2);
	receive(sub, a, 1, &ev);
	assert_int_equal(evc_reject(sub, NULL, ev.fire_id, "first try",
	                            false, 5000, &rj),
	                 0);
	assert_false(rj.dead);
	evc_fired_free(&ev);
	receive(sub, a, 2, &ev);
	assert_int_equal(evc_reject(sub, NULL, ev.fire_id, "second try",
	                            false, 5000, &rj),
	                 0);
	assert_true(rj.dead);
	assert_int_equal(rj.redeliver_in_ns, 0);
	evc_fired_free(&ev);

	b = publish(sub, "rj-dead", "b", 0);
	receive(sub, b, 1, &ev);
	assert_int_equal(evc_reject(sub, "rj-dead", ev.fire_id,
	                            "poison: \xc3\xa9t\xc3\xa9", true, 5000,
	                            &rj),
	                 0);
	assert_true(rj.dead);
	evc_fired_free(&ev);

	await_dead(sub, "rj-dead", 2, &dl);
	assert_int_equal(dl.letters[0].msg.timer_id, a);
	assert_int_equal(dl.letters[0].msg.attempt, 2);
	assert_string_equal(dl.letters[0].reason, "second try");
	assert_int_equal(dl.letters[1].msg.timer_id, b);
	assert_int_equal(dl.letters[1].msg.attempt, 1);
	assert_string_equal(dl.letters[1].reason, "poison: \xc3\xa9t\xc3\xa9");
	evc_dead_letters_free(&dl);
	assert_true(has_run(sub, a, EVC_RUN_DEAD_LETTERED,
	                    "rejected: second try"));
	evc_close(sub);

	/* Committed before the reply: a crash keeps it. */
	evd_kill9(&evd);
	assert_int_equal(evd_start_in(&evd, evd_args), 0);
	sub = client("rjd-after");
	await_dead(sub, "rj-dead", 2, &dl);
	assert_string_equal(dl.letters[0].reason, "second try");
	assert_string_equal(dl.letters[1].reason, "poison: \xc3\xa9t\xc3\xa9");
	evc_dead_letters_free(&dl);
	/* Requeued, it keeps its last reason until it fails again. */
	assert_int_equal(evc_requeue_dead(sub, "rj-dead", 0, 5000, NULL), 0);
	assert_int_equal(evc_purge(sub, "rj-dead", false, 0, 5000, NULL), 0);
	evc_close(sub);
}

/* A message left to its visibility timeout dead-letters with the
 * daemon's reason. */
static void
test_timeout_reason(void **state)
{
	struct evc *sub = client("rjt-sub");
	struct evc_dead_letters dl;
	struct evc_fired ev;
	uint64_t id;

	assert_int_equal(evc_subscribe_opts(sub, "rj-timeout", 100 * MS, 5000),
	                 0);
	id = publish(sub, "rj-timeout", "t", 1);
	receive(sub, id, 1, &ev);
	evc_fired_free(&ev);
	await_dead(sub, "rj-timeout", 1, &dl);
	assert_string_equal(dl.letters[0].reason,
	                    "not acked within the visibility timeout");
	evc_dead_letters_free(&dl);
	evc_close(sub);
}

static uint64_t held_fire; /* for the other user's child */

/* As another uid: rejecting a fire held by someone else's connection. */
static int
other_user_rejects(void)
{
	char err[256];
	struct evc *c = NULL;
	int r;

	if (evc_connect(evd.sock, "rj-other", 5000, &c, err, sizeof err) < 0)
		return 10;
	r = evc_reject(c, NULL, held_fire, "not mine", true, 5000, NULL);
	evc_close(c);
	return r == -EVC_E_NOT_FOUND ? 0 : 11;
}

/* Rejects that must not take the message: it stays in flight at its
 * subscriber, which still acks it. */
static void
test_reject_refused(void **state)
{
	struct evc *sub = client("rjr-sub"), *other = client("rjr-other");
	char long_reason[4098];
	struct evc_fired ev;
	uint64_t id;
	int status;
	pid_t pid;

	assert_int_equal(evc_subscribe(sub, "rj-refused", 5000), 0);
	id = publish(sub, "rj-refused", "keep", 0);
	receive(sub, id, 1, &ev);
	assert_int_equal(evc_reject(sub, NULL, ev.fire_id + 1000, "wrong id",
	                            false, 5000, NULL),
	                 -EVC_E_NOT_FOUND);
	assert_int_equal(evc_reject(other, NULL, ev.fire_id, "not mine",
	                            false, 5000, NULL),
	                 -EVC_E_NOT_FOUND);
	assert_int_equal(evc_reject(sub, "rj-elsewhere", ev.fire_id,
	                            "other channel", false, 5000, NULL),
	                 -EVC_E_NOT_FOUND);
	assert_int_equal(evc_reject(sub, "bad name", ev.fire_id, "x", false,
	                            5000, NULL),
	                 -EVC_E_INVALID_ARGUMENT);
	memset(long_reason, 'x', sizeof long_reason - 1);
	long_reason[sizeof long_reason - 1] = '\0';
	assert_int_equal(evc_reject(sub, NULL, ev.fire_id, long_reason, false,
	                            5000, NULL),
	                 -EVC_E_INVALID_ARGUMENT);
	assert_int_equal(evc_reject(sub, NULL, ev.fire_id, "bad \xff", false,
	                            5000, NULL),
	                 -EVC_E_USAGE);
	if (geteuid() == 0) {
		held_fire = ev.fire_id;
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			/* The parent's handles are not the child's to use
			 * (closing only drops this copy of their fds). */
			evc_fired_free(&ev);
			evc_close(other);
			evc_close(sub);
			_exit(setgid(65534) < 0 || setuid(65534) < 0
			              ? 12
			              : other_user_rejects());
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	} else {
		print_message("not root: another uid's reject is not tried\n");
	}
	assert_int_equal(evc_ack(sub, ev.fire_id, 5000), 0);
	assert_int_equal(evc_reject(sub, NULL, ev.fire_id, "after the ack",
	                            false, 5000, NULL),
	                 -EVC_E_NOT_FOUND);
	evc_fired_free(&ev);
	evc_close(other);
	evc_close(sub);
}

static void
done_cb(struct evc *c, const struct evc_result *res, void *arg)
{
	struct evc_result *out = arg;

	*out = *res;
	out->errmsg = NULL;
	if (res->rejected != NULL) {
		static struct evc_rejected copy;

		copy = *res->rejected;
		out->rejected = &copy;
	}
	if (res->dead_letters != NULL) {
		static char reason[64];

		snprintf(reason, sizeof reason, "%zu:%s",
		         res->dead_letters->count,
		         res->dead_letters->count > 0 &&
		                 res->dead_letters->letters[0].reason != NULL
		             ? res->dead_letters->letters[0].reason
		             : "");
		out->errmsg = reason; /* borrowed slot for the check */
	}
}

/* The asynchronous forms: evc_reject_async's res->rejected, and
 * evc_list_dead_async's res->dead_letters. */
static void
test_async(void **state)
{
	struct evc *sub = client("rja-sub");
	struct evc_result res;
	struct evc_fired ev;
	uint64_t id;

	assert_int_equal(evc_subscribe(sub, "rj-async", 5000), 0);
	id = publish(sub, "rj-async", "x", 0);
	receive(sub, id, 1, &ev);
	memset(&res, 0, sizeof res);
	res.status = 1;
	assert_int_equal(evc_reject_async(sub, "rj-async", ev.fire_id,
	                                  "async no", true, done_cb, &res),
	                 0);
	assert_int_equal(evc_drain(sub, 5000), 0);
	assert_int_equal(res.status, 0);
	assert_non_null(res.rejected);
	assert_true(res.rejected->dead);
	evc_fired_free(&ev);
	memset(&res, 0, sizeof res);
	res.status = 1;
	assert_int_equal(evc_list_dead_async(sub, "rj-async", 0, 0, done_cb,
	                                     &res),
	                 0);
	assert_int_equal(evc_drain(sub, 5000), 0);
	assert_int_equal(res.status, 0);
	assert_non_null(res.dead_list);
	assert_string_equal(res.errmsg, "1:async no");
	evc_close(sub);
}

/* evc_subscribe_limit: the daemon hands this subscriber at most
 * max_inflight messages at once; the rest wait in the queue until one
 * is acked or rejected. */
static void
test_max_inflight(void **state)
{
	struct evc *sub = client("rjm-sub");
	struct evc_channel_info ci;
	struct evc_fired ev[3];
	uint64_t ids[4];
	int i;

	assert_int_equal(evc_subscribe_limit(sub, "rj-max", 30 * SEC, 2, 5000),
	                 0);
	for (i = 0; i < 4; i++)
		ids[i] = publish(sub, "rj-max", "m", 0);
	receive(sub, ids[0], 1, &ev[0]);
	receive(sub, ids[1], 1, &ev[1]);
	/* Once all four fired: two held here, two waiting. */
	for (i = 0; i < 250; i++) {
		assert_int_equal(evc_get_channel(sub, "rj-max", 5000, &ci), 0);
		if (ci.queued_messages + ci.inflight_messages == 4)
			break;
		evc_channel_info_free(&ci);
		usleep(20000);
	}
	assert_true(i < 250);
	assert_int_equal(ci.inflight_messages, 2);
	assert_int_equal(ci.queued_messages, 2);
	evc_channel_info_free(&ci);
	/* A reject makes room as an ack does. */
	assert_int_equal(evc_reject(sub, NULL, ev[0].fire_id, "later", false,
	                            5000, NULL),
	                 0);
	receive(sub, ids[2], 1, &ev[2]);
	for (i = 0; i < 3; i++)
		evc_fired_free(&ev[i]);
	evc_close(sub);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reject_redelivers),
	    cmocka_unit_test(test_reject_dead_letters),
	    cmocka_unit_test(test_timeout_reason),
	    cmocka_unit_test(test_reject_refused),
	    cmocka_unit_test(test_async),
	    cmocka_unit_test(test_max_inflight),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
