/*
 * test_client_reconnect: evd restarted under connected clients.
 *
 *   test_client_reconnect             memory store: a client on its
 *       background thread is told its connection (and its ephemeral
 *       timer) was lost, reconnects to the new evd on the same socket
 *       path, is re-subscribed, and receives the channel's fires; a
 *       blocking call made while evd is down completes once it is back.
 *   test_client_reconnect --durable   sqlite store: thousands of keyed
 *       schedules in flight while evd restarts all complete, and the
 *       daemon holds each exactly once (the retries returned the timers
 *       already committed); a caller's own key survives the restart.
 *       Exits 77 if this evd has no durable store.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "evclient.h"
#include "harness.h"

#define MS 1000000LL
#define HOUR (3600000LL * MS)

static struct evd_proc evd;
static const char *const *evd_args; /* NULL: memory */
static const char *const sqlite_args[] = {"--store", "sqlite", NULL};

static int
setup(void **state)
{
	return evd_start(&evd, evd_args) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	return evd_stop(&evd) == 0 ? 0 : -1;
}

/* Stops evd and starts a new one on the same socket path and state. */
static void
restart_evd(void)
{
	assert_int_equal(evd_terminate(&evd), 0);
	assert_int_equal(evd_start_in(&evd, evd_args), 0);
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

struct mon {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int lost, restored, resub_failed, fires;
	char lost_why[256];
};

static void
on_conn(struct evc *c, enum evc_conn_event ev, int code, const char *why,
	void *arg)
{
	struct mon *m = arg;

	pthread_mutex_lock(&m->lock);
	if (ev == EVC_CONN_LOST) {
		m->lost++;
		snprintf(m->lost_why, sizeof m->lost_why, "%s", why);
	} else if (ev == EVC_CONN_RESTORED) {
		m->restored++;
	} else {
		m->resub_failed++;
	}
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

static int
on_fired(struct evc *c, const struct evc_fired *ev, void *arg)
{
	struct mon *m = arg;

	if (ev->channel != NULL && strcmp(ev->channel, "rc-ch") == 0)
		evc_ack_async(c, ev->fire_id, NULL, NULL);
	pthread_mutex_lock(&m->lock);
	if (ev->channel != NULL && strcmp(ev->channel, "rc-ch") == 0)
		m->fires++;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/* Waits up to 10 s for *v >= want. */
static void
await(struct mon *m, const int *v, int want)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&m->lock);
	while (*v < want)
		if (pthread_cond_timedwait(&m->cond, &m->lock, &ts) != 0)
			break;
	pthread_mutex_unlock(&m->lock);
	assert_true(*v >= want);
}

static void
test_reconnect_resubscribe(void **state)
{
	struct mon m = {.lost = 0};
	struct evc *cons = client("consumer"), *prod;
	struct evc_callback ch = {.channel = "rc-ch", .payload = "x",
				  .payload_len = 1};
	struct evc_scheduled s;
	char boot[128];

	pthread_mutex_init(&m.lock, NULL);
	pthread_cond_init(&m.cond, NULL);
	snprintf(boot, sizeof boot, "%s", evc_server_info(cons)->boot_id);
	assert_int_equal(evc_set_reconnect(cons, 20, 200), 0);
	evc_set_conn_cb(cons, on_conn, &m);
	evc_set_fired_cb(cons, on_fired, &m);
	assert_int_equal(evc_subscribe(cons, "rc-ch", 5000), 0);
	/* An ephemeral timer: it will die with the connection. */
	assert_int_equal(evc_call_later(cons, HOUR, EVC_CLOCK_MONOTONIC, NULL,
					5000, &s),
			 0);
	assert_int_equal(evc_start_thread(cons), 0);

	/* Before: a fire reaches the subscriber. */
	prod = client("producer");
	assert_int_equal(evc_call_soon(prod, &ch, 5000, &s), 0);
	await(&m, &m.fires, 1);
	evc_close(prod);

	restart_evd();
	await(&m, &m.lost, 1);
	await(&m, &m.restored, 1);
	assert_int_equal(m.resub_failed, 0);
	assert_true(strlen(m.lost_why) > 0);

	/* After: the new evd knows the subscription, though no one but the
	 * library said it again. */
	prod = client("producer2");
	assert_int_equal(evc_call_soon(prod, &ch, 5000, &s), 0);
	assert_int_equal(evc_call_later(prod, 10 * MS, EVC_CLOCK_MONOTONIC,
					&ch, 5000, &s),
			 0);
	await(&m, &m.fires, 3);
	evc_close(prod);

	assert_int_equal(evc_stop_thread(cons), 0);
	/* Same boot; the greeting was refreshed all the same. */
	assert_string_equal(evc_server_info(cons)->boot_id, boot);
	/* The old connection's ephemeral timer is gone with it. The fires
	 * counted above may include a redelivery of the first message (its
	 * ack may not have committed before the restart), so the 10 ms
	 * channel timer may still be pending for a moment: poll, bounded. */
	{
		struct evc_timer_list tl;
		size_t count = 1;
		int i;

		for (i = 0; i < 100 && count != 0; i++) {
			assert_int_equal(evc_list(cons, NULL, 0, 0, 5000, &tl),
			                 0);
			count = tl.count;
			evc_timer_list_free(&tl);
			if (count != 0)
				usleep(20000);
		}
		assert_int_equal(count, 0);
	}
	assert_int_equal(m.lost, 1);
	assert_int_equal(m.restored, 1);
	evc_close(cons);
	pthread_cond_destroy(&m.cond);
	pthread_mutex_destroy(&m.lock);
}

static void *
restart_later(void *arg)
{
	usleep(200000);
	assert_int_equal(evd_start_in(&evd, evd_args), 0);
	return NULL;
}

/* Without the thread: a blocking call waits out the restart. */
static void
test_blocking_across_restart(void **state)
{
	struct evc *c = client("blocking");
	struct evc_scheduled s;
	struct evc_time t;
	pthread_t th;

	assert_int_equal(evc_set_reconnect(c, 10, 50), 0);
	assert_int_equal(evd_terminate(&evd), 0);
	pthread_create(&th, NULL, restart_later, NULL);
	/* Never sent before evd was back, so safe even though ephemeral. */
	assert_int_equal(evc_call_later(c, HOUR, EVC_CLOCK_MONOTONIC, NULL,
					10000, &s),
			 0);
	assert_int_equal(evc_time(c, 10000, &t), 0);
	pthread_join(th, NULL);
	assert_true(s.timer_id > 0);
	/* Without reconnection, the same loss is final. */
	assert_int_equal(evc_set_reconnect(c, 0, 0), 0);
	restart_evd();
	assert_int_equal(evc_time(c, 5000, &t), -EVC_E_IO);
	evc_close(c);
}

/* ---- durable ---- */

struct burst {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done, failed, existing;
	char why[256];
};

static void
on_burst(struct evc *c, const struct evc_result *res, void *arg)
{
	struct burst *b = arg;

	pthread_mutex_lock(&b->lock);
	if (res->status < 0 && b->failed++ == 0)
		snprintf(b->why, sizeof b->why, "%s", res->errmsg);
	if (res->status == 0 && res->scheduled->existing)
		b->existing++;
	b->done++;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

#define BURST 20000

static void
test_durable_no_double_schedule(void **state)
{
	struct burst b = {.done = 0};
	struct evc *c = client("durable");
	struct evc_callback ch = {.channel = "durable-ch"};
	struct evc_callback mine = {.channel = "durable-own", .key = "my-key"};
	struct evc_scheduled s1, s2;
	uint64_t after = 0;
	size_t total = 0;
	int i;

	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.cond, NULL);
	assert_int_equal(evc_call_later(c, HOUR, EVC_CLOCK_MONOTONIC, &mine,
					5000, &s1),
			 0);
	assert_int_equal(evc_set_reconnect(c, 10, 100), 0);
	assert_int_equal(evc_start_thread(c), 0);
	for (i = 0; i < BURST; i++)
		assert_int_equal(evc_call_later_async(c, HOUR,
						      EVC_CLOCK_MONOTONIC, &ch,
						      on_burst, &b),
				 0);
	/* Restart while (some of) them are in flight. */
	restart_evd();
	pthread_mutex_lock(&b.lock);
	while (b.done < BURST)
		pthread_cond_wait(&b.cond, &b.lock);
	pthread_mutex_unlock(&b.lock);
	assert_int_equal(evc_stop_thread(c), 0);
	if (b.failed > 0)
		fail_msg("%d schedules failed: %s", b.failed, b.why);
	printf("durable: %d of %d schedules answered 'existing' after the "
	       "restart\n",
	       b.existing, BURST);

	/* Exactly BURST timers in the channel: none lost, none twice. */
	do {
		struct evc_timer_list tl;

		assert_int_equal(evc_list(c, "durable-ch", after, 1000, 5000,
					  &tl),
				 0);
		total += tl.count;
		after = tl.next_after_id;
		evc_timer_list_free(&tl);
	} while (after != 0);
	assert_int_equal(total, BURST);

	/* The caller's own key outlived the restart. */
	assert_int_equal(evc_call_later(c, HOUR, EVC_CLOCK_MONOTONIC, &mine,
					5000, &s2),
			 0);
	assert_true(s2.existing);
	assert_int_equal(s2.timer_id, s1.timer_id);
	evc_close(c);
	pthread_cond_destroy(&b.cond);
	pthread_mutex_destroy(&b.lock);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest memory[] = {
		cmocka_unit_test(test_reconnect_resubscribe),
		cmocka_unit_test(test_blocking_across_restart),
	};
	const struct CMUnitTest durable[] = {
		cmocka_unit_test(test_durable_no_double_schedule),
	};
	struct evd_proc probe;

	if (argc > 1 && strcmp(argv[1], "--durable") == 0) {
		if (evd_start(&probe, sqlite_args) < 0) {
			printf("test_client_reconnect --durable: this evd does "
			       "not start with --store sqlite (not built "
			       "yet?); the durable restart test is skipped\n");
			return 77;
		}
		evd_stop(&probe);
		evd_args = sqlite_args;
		return cmocka_run_group_tests(durable, setup, teardown);
	}
	return cmocka_run_group_tests(memory, setup, teardown);
}
