/*
 * test_client_thread: the background-thread mode against the real evd,
 * meant to run under ThreadSanitizer too (ctest -L threads): 8 threads
 * schedule through one handle, asynchronously and blocking, while the
 * client thread runs every callback and receives the fires; events read
 * from another thread; a blocking call and evc_close() from inside a
 * callback on the client thread; stopping and restarting the thread.
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
#include <unistd.h>

#include <cmocka.h>

#include "evclient.h"
#include "harness.h"

#define MS 1000000LL
#define THREADS 8
#define PER_THREAD 2000

static struct evd_proc evd;

static int
setup(void **state)
{
	return evd_start(&evd, NULL) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
	return evd_stop(&evd) == 0 ? 0 : -1;
}

static struct evc *
client(void)
{
	char err[256];
	struct evc *c = NULL;

	if (evc_connect(evd.sock, "test_client_thread", 5000, &c, err,
			sizeof err) < 0)
		fail_msg("evc_connect: %s", err);
	return c;
}

struct shared {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct evc *c;
	long scheduled, fired, failed, off_thread, blocking;
};

static void
on_done(struct evc *c, const struct evc_result *res, void *arg)
{
	struct shared *s = arg;

	pthread_mutex_lock(&s->lock);
	if (!evc_in_thread(c))
		s->off_thread++;
	if (res->status == 0)
		s->scheduled++;
	else
		s->failed++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static int
on_fired(struct evc *c, const struct evc_fired *ev, void *arg)
{
	struct shared *s = arg;

	pthread_mutex_lock(&s->lock);
	if (!evc_in_thread(c))
		s->off_thread++;
	s->fired++;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void *
producer(void *arg)
{
	struct shared *s = arg;
	struct evc_scheduled sc;
	struct evc_time t;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		/* Mostly async; every 100th a blocking call from this
		 * thread, which sleeps while the client thread does the
		 * I/O. */
		if (i % 100 == 0) {
			if (evc_call_soon(s->c, NULL, 10000, &sc) == 0 &&
			    evc_time(s->c, 10000, &t) == 0) {
				pthread_mutex_lock(&s->lock);
				s->blocking++;
				pthread_mutex_unlock(&s->lock);
			}
			continue;
		}
		while (evc_call_later_async(s->c, (i % 5) * MS,
					    EVC_CLOCK_MONOTONIC, NULL, on_done,
					    s) == -EVC_E_BUSY)
			usleep(100);
	}
	return NULL;
}

static void
test_eight_threads(void **state)
{
	struct shared s = {.c = client()};
	pthread_t t[THREADS];
	long want_async = THREADS * (PER_THREAD - PER_THREAD / 100);
	long want_fired = THREADS * PER_THREAD;
	int i;

	pthread_mutex_init(&s.lock, NULL);
	pthread_cond_init(&s.cond, NULL);
	evc_set_fired_cb(s.c, on_fired, &s);
	assert_false(evc_in_thread(s.c));
	assert_int_equal(evc_start_thread(s.c), 0);
	assert_int_equal(evc_start_thread(s.c), -EVC_E_USAGE);
	assert_int_equal(evc_process(s.c), -EVC_E_USAGE);
	assert_int_equal(evc_dispatch(s.c, 0), -EVC_E_USAGE);
	for (i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, producer, &s);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);

	pthread_mutex_lock(&s.lock);
	while (s.fired < want_fired || s.scheduled + s.failed < want_async)
		pthread_cond_wait(&s.cond, &s.lock);
	pthread_mutex_unlock(&s.lock);
	assert_int_equal(evc_drain(s.c, 10000), 0);
	assert_int_equal(s.scheduled, want_async);
	assert_int_equal(s.failed, 0);
	assert_int_equal(s.blocking, THREADS * PER_THREAD / 100);
	assert_int_equal(s.fired, want_fired);
	assert_int_equal(s.off_thread, 0);
	assert_int_equal(evc_pending(s.c), 0);
	assert_int_equal(evc_stop_thread(s.c), 0);
	assert_int_equal(evc_stop_thread(s.c), -EVC_E_USAGE);
	evc_close(s.c);
	pthread_cond_destroy(&s.cond);
	pthread_mutex_destroy(&s.lock);
}

/* Without a handler, fires wait for evc_next_event() on any thread. */
static void *
consumer(void *arg)
{
	struct shared *s = arg;
	struct evc_fired ev;
	long n = 0;

	while (n < 50 && evc_next_event(s->c, 10000, &ev) == 0) {
		evc_fired_free(&ev);
		n++;
	}
	pthread_mutex_lock(&s->lock);
	s->fired += n;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static void
test_next_event_from_threads(void **state)
{
	struct shared s = {.c = client()};
	pthread_t t[2];
	int i;

	pthread_mutex_init(&s.lock, NULL);
	assert_int_equal(evc_start_thread(s.c), 0);
	for (i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, consumer, &s);
	for (i = 0; i < 100; i++)
		assert_int_equal(evc_call_soon_async(s.c, NULL, NULL, NULL), 0);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(s.fired, 100);
	/* Stopped, the handle is single-threaded again; then restarted. */
	assert_int_equal(evc_stop_thread(s.c), 0);
	assert_int_equal(evc_call_soon_async(s.c, NULL, NULL, NULL), 0);
	assert_int_equal(evc_drain(s.c, 5000), 0);
	assert_int_equal(evc_start_thread(s.c), 0);
	evc_close(s.c); /* stops the thread first */
	pthread_mutex_destroy(&s.lock);
}

/* On the client thread: a blocking call, then closing the handle. */
struct nested {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int stage;
	int time_status;
};

static void
on_nested(struct evc *c, const struct evc_result *res, void *arg)
{
	struct nested *n = arg;
	struct evc_time t;
	int r;

	assert_true(evc_in_thread(c));
	r = evc_time(c, 5000, &t);
	assert_int_equal(evc_stop_thread(c), -EVC_E_USAGE);
	assert_int_equal(evc_drain(c, 0), -EVC_E_USAGE);
	pthread_mutex_lock(&n->lock);
	n->time_status = r;
	n->stage = 1;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

static void
on_close(struct evc *c, const struct evc_result *res, void *arg)
{
	struct nested *n = arg;

	evc_close(c); /* the thread frees the handle after this */
	pthread_mutex_lock(&n->lock);
	n->stage = 2;
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

static void
test_calls_from_client_thread(void **state)
{
	struct nested n = {.stage = 0};
	struct evc *c = client();

	pthread_mutex_init(&n.lock, NULL);
	pthread_cond_init(&n.cond, NULL);
	assert_int_equal(evc_start_thread(c), 0);
	assert_int_equal(evc_time_async(c, on_nested, &n), 0);
	pthread_mutex_lock(&n.lock);
	while (n.stage < 1)
		pthread_cond_wait(&n.cond, &n.lock);
	pthread_mutex_unlock(&n.lock);
	assert_int_equal(n.time_status, 0);

	assert_int_equal(evc_time_async(c, on_close, &n), 0);
	pthread_mutex_lock(&n.lock);
	while (n.stage < 2)
		pthread_cond_wait(&n.cond, &n.lock);
	pthread_mutex_unlock(&n.lock);
	/* c is gone; the detached thread frees it. Give it a moment so
	 * that leak checkers see the free. */
	usleep(100000);
	pthread_cond_destroy(&n.cond);
	pthread_mutex_destroy(&n.lock);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eight_threads),
		cmocka_unit_test(test_next_event_from_threads),
		cmocka_unit_test(test_calls_from_client_thread),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
