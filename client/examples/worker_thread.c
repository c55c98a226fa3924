/*
 * worker_thread: a program whose main thread is busy elsewhere (think of
 * a web framework that owns it) runs its evd client on a background
 * thread. The client thread consumes the channel's messages and acks
 * them; any thread may schedule work, here the main thread and a
 * "request handler" thread.
 *
 *   evc_example_worker_thread [SOCKET] [JOBS]
 *
 * Exits 0 once every job scheduled was received and acked.
 */
#include <evclient.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHANNEL "example-jobs"

struct worker {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int jobs, received, failed;
};

/* Runs on the client thread, one message at a time. */
static int
on_job(struct evc *c, const struct evc_fired *ev, void *arg)
{
	struct worker *w = arg;

	/* The work itself would go here; ev->payload says what to do. */
	if (evc_ack_async(c, ev->fire_id, NULL, NULL) < 0)
		fprintf(stderr, "worker: ack: %s\n", evc_errmsg(c));
	pthread_mutex_lock(&w->lock);
	w->received++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static void
on_scheduled(struct evc *c, const struct evc_result *res, void *arg)
{
	struct worker *w = arg;

	if (res->status == 0)
		return;
	fprintf(stderr, "worker: scheduling failed: %s\n", res->errmsg);
	pthread_mutex_lock(&w->lock);
	w->failed++;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

struct producer {
	struct evc *c;
	struct worker *w;
	int first, count;
};

/* A thread of the program that is not the client thread. */
static void *
produce(void *arg)
{
	struct producer *p = arg;
	char payload[32];
	int i;

	for (i = p->first; i < p->first + p->count; i++) {
		struct evc_callback cb = {.channel = CHANNEL,
					  .payload = payload};

		cb.payload_len = (size_t)snprintf(payload, sizeof(payload),
						  "job %d", i);
		if (evc_call_later_async(p->c, (i % 10) * 1000000LL,
					 EVC_CLOCK_MONOTONIC, &cb,
					 on_scheduled, p->w) < 0)
			fprintf(stderr, "worker: %s\n", evc_errmsg(p->c));
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct worker w = {.jobs = argc > 2 ? atoi(argv[2]) : 1000};
	struct producer half[2];
	pthread_t t;
	struct evc *c;
	char err[256];
	int r, ok;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	r = evc_connect(argc > 1 && argv[1][0] != '\0' ? argv[1] : NULL,
			"worker", 5000, &c, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "worker: %s\n", err);
		return 1;
	}
	/* Survive an evd restart: channels are subscribed again, retried
	 * schedules carry generated idempotency keys. */
	evc_set_reconnect(c, 100, 5000);
	evc_set_fired_cb(c, on_job, &w);
	if (evc_subscribe(c, CHANNEL, 5000) < 0 || evc_start_thread(c) < 0) {
		fprintf(stderr, "worker: %s\n", evc_errmsg(c));
		evc_close(c);
		return 1;
	}

	half[0] = (struct producer){c, &w, 0, w.jobs / 2};
	half[1] = (struct producer){c, &w, w.jobs / 2, w.jobs - w.jobs / 2};
	pthread_create(&t, NULL, produce, &half[0]);
	produce(&half[1]);
	pthread_join(t, NULL);

	/* The main thread waits for its own reasons; the client thread
	 * works meanwhile. */
	pthread_mutex_lock(&w.lock);
	while (w.received + w.failed < w.jobs)
		pthread_cond_wait(&w.cond, &w.lock);
	ok = w.failed == 0;
	pthread_mutex_unlock(&w.lock);

	/* Wait for the last acks, then stop the thread and close. */
	evc_drain(c, 5000);
	evc_stop_thread(c);
	evc_close(c);
	printf("worker: %d jobs received and acked\n", w.received);
	return ok ? 0 : 1;
}
