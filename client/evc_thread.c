/*
 * evc_thread: the background thread of a handle (evc_start_thread).
 *
 * The thread is the only one that does I/O on the handle while it runs,
 * and the only one that runs callbacks. Other threads queue requests
 * under the lock (evc_conn_submit) and wake it through an eventfd — at
 * most once per sleep: evc_conn_wake writes only when the thread is in
 * poll() and has not been woken yet — and blocking callers sleep on
 * c->cond until the thread has put their reply in their waiter.
 *
 * The thread blocks every signal, so that the program's handlers run on
 * its own threads, as they would without the library. It never calls
 * exit(); it ends when evc_stop_thread() or evc_close() asks, or frees
 * the handle itself when evc_close() was called from one of its
 * callbacks (it is then detached, as nobody will join it).
 */
#include "evc_private.h"

#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void *
thread_main(void *arg)
{
	struct evc *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->thread_stop) {
		/* Failures are the requests' (already completed) or a full
		 * event queue, which waits for evc_next_event(). */
		(void)evc_conn_io(c);
		evc_deliver(c, true);
		if (c->close_pending) {
			c->thread_running = false;
			pthread_detach(pthread_self());
			pthread_mutex_unlock(&c->lock);
			evc_free_handle(c);
			return NULL;
		}
		if (c->thread_stop)
			break;
		(void)evc_conn_wait(c, EVC_FOREVER);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

EVC_EXPORT int
evc_start_thread(struct evc *c)
{
	sigset_t all, old;
	int r;

	if (c == NULL)
		return -EVC_E_USAGE;
	pthread_mutex_lock(&c->lock);
	if (c->thread_running || c->watch_cb != NULL || c->dispatching) {
		r = evc_conn_fail(c, EVC_E_USAGE,
				  c->thread_running
				      ? "the background thread already runs"
				  : c->watch_cb != NULL
				      ? "a watch callback is installed: the "
					"handle is driven by a loop already"
				      : "evc_start_thread called from a "
					"callback");
		goto out;
	}
	c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->wake_fd < 0) {
		r = evc_conn_fail(c, EVC_E_IO, "eventfd failed");
		goto out;
	}
	c->thread_stop = false;
	c->sleeping = c->woken = false;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&c->thread, NULL, thread_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		close(c->wake_fd);
		c->wake_fd = -1;
		r = evc_conn_fail(c, EVC_E_NOMEM,
				  "cannot create the background thread");
		goto out;
	}
	c->thread_running = true;
	r = 0;
out:
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* Stops and joins the thread; called with the lock held from another
 * thread, returns with it held. */
void
evc_thread_stop_locked(struct evc *c)
{
	pthread_t t = c->thread;
	uint64_t one = 1;

	c->thread_stop = true;
	/* Wake it whether or not it sleeps right now. */
	c->woken = true;
	if (write(c->wake_fd, &one, sizeof(one)) < 0) {
	}
	pthread_mutex_unlock(&c->lock);
	pthread_join(t, NULL);
	pthread_mutex_lock(&c->lock);
	c->thread_running = false;
	c->thread_stop = false;
	close(c->wake_fd);
	c->wake_fd = -1;
	c->sleeping = c->woken = false;
	/* Blocking callers that were waiting on the thread now drive the
	 * connection themselves. */
	pthread_cond_broadcast(&c->cond);
}

EVC_EXPORT int
evc_stop_thread(struct evc *c)
{
	int r = 0;

	if (c == NULL)
		return -EVC_E_USAGE;
	pthread_mutex_lock(&c->lock);
	if (!c->thread_running || evc_on_thread(c))
		r = evc_conn_fail(c, EVC_E_USAGE,
				  !c->thread_running
				      ? "no background thread runs"
				      : "evc_stop_thread called from the "
					"client thread");
	else
		evc_thread_stop_locked(c);
	pthread_mutex_unlock(&c->lock);
	return r;
}

EVC_EXPORT bool
evc_in_thread(const struct evc *c)
{
	struct evc *m = (struct evc *)c;
	bool r;

	if (c == NULL)
		return false;
	pthread_mutex_lock(&m->lock);
	r = evc_on_thread(c);
	pthread_mutex_unlock(&m->lock);
	return r;
}
