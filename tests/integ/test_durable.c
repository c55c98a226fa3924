/*
 * test_durable: the SQLite store against the real evd: acknowledged
 * timers, keys and messages survive SIGKILL; acked messages are not
 * redelivered and unacked ones are; misfire policies after downtime; a
 * SIGKILL at random points of a stream of schedules loses nothing
 * acknowledged; a full disk answers UNAVAILABLE while reads keep working,
 * and service resumes when space returns; evd.db or its WAL deleted under
 * the daemon is refused; start-up errors are clear. With
 * EVD_TEST_STORE=pg (ctest's test_durable_pg) the same cases run on the
 * pg store, but for those about SQLite's files, which are skipped.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#define MS 1000000LL
#define SEC 1000000000LL

static uint64_t next_req = 1;

/* The case is about SQLite's files (disk full, evd.db deleted): not
 * one for the pg store (harness.h: EVD_TEST_STORE). */
#define SQLITE_ONLY()                                                          \
	do {                                                                   \
		const char *store_ = getenv("EVD_TEST_STORE");                 \
		if (store_ != NULL && strcmp(store_, "pg") == 0) {             \
			printf("SKIP: about the sqlite store's files\n");      \
			skip();                                                \
		}                                                              \
	} while (0)

static int
greet(struct evd_proc *p)
{
	int fd = raw_connect(p->sock);

	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, next_req++), 0);
	return fd;
}

/* Fresh evd in a fresh directory. */
static void
start(struct evd_proc *p)
{
	assert_int_equal(evd_start(p, NULL), 0);
}

/* Crash and come back in the same directory. */
static void
crash_restart(struct evd_proc *p)
{
	evd_kill9(p);
	assert_int_equal(evd_start_in(p, NULL), 0);
}

static Evd__Reply *
call(int fd, Evd__Request *rq)
{
	Evd__Reply *r;

	rq->has_request_id = 1;
	rq->request_id = next_req++;
	r = raw_call(fd, rq, 10000);
	assert_non_null(r);
	return r;
}

/* CallLater to a channel; returns the Scheduled reply's timer id, or 0
 * and the error code in *err. */
static uint64_t
later(int fd, int64_t delay_ns, const char *channel, const char *payload,
      const char *key, int misfire, int *err, bool *existing)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__TimerOptions o = EVD__TIMER_OPTIONS__INIT;
	Evd__Reply *r;
	uint64_t id = 0;

	cl.has_delay_ns = 1;
	cl.delay_ns = delay_ns;
	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = (char *)channel;
	if (payload != NULL) {
		cb.has_payload = 1;
		cb.payload.data = (uint8_t *)payload;
		cb.payload.len = strlen(payload);
	}
	cl.callback = &cb;
	cl.key = (char *)key;
	if (misfire >= 0) {
		o.has_misfire = 1;
		o.misfire = misfire;
		cl.options = &o;
	}
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	r = call(fd, &rq);
	if (r->body_case == EVD__REPLY__BODY_SCHEDULED) {
		id = r->scheduled->timer_id;
		if (existing != NULL)
			*existing = r->scheduled->existing;
	} else if (err != NULL) {
		assert_int_equal(r->body_case, EVD__REPLY__BODY_ERROR);
		*err = r->error->code;
	}
	evd__reply__free_unpacked(r, NULL);
	return id;
}

/* Get: returns the reply (TIMER or ERROR). */
static Evd__Reply *
get(int fd, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Get g = EVD__GET__INIT;

	g.has_timer_id = 1;
	g.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_GET;
	rq.get = &g;
	return call(fd, &rq);
}

static void
subscribe(int fd, const char *channel, int64_t visibility_ns)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Subscribe s = EVD__SUBSCRIBE__INIT;
	Evd__Reply *r;

	s.channel = (char *)channel;
	if (visibility_ns > 0) {
		s.has_visibility_timeout_ns = 1;
		s.visibility_timeout_ns = visibility_ns;
	}
	rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &s;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SUBSCRIBED);
	evd__reply__free_unpacked(r, NULL);
}

static int
ack(int fd, uint64_t fire_id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Ack a = EVD__ACK__INIT;
	Evd__Reply *r;
	int code;

	a.has_fire_id = 1;
	a.fire_id = fire_id;
	rq.body_case = EVD__REQUEST__BODY_ACK;
	rq.ack = &a;
	r = call(fd, &rq);
	code = r->body_case == EVD__REPLY__BODY_ACKED ? 0 : (int)r->error->code;
	evd__reply__free_unpacked(r, NULL);
	return code;
}

static void
test_timer_survives_kill9(void **state)
{
	struct evd_proc p;
	Evd__Reply *r;
	int64_t deadline;
	uint64_t id;
	int fd;

	start(&p);
	fd = greet(&p);
	id = later(fd, 3600 * SEC, "dur-a", "keep me", NULL, -1, NULL, NULL);
	assert_true(id > 0);
	r = get(fd, id);
	deadline = r->timer->deadline_ns;
	evd__reply__free_unpacked(r, NULL);
	close(fd);

	crash_restart(&p);
	fd = greet(&p);
	r = get(fd, id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__PENDING);
	/* Same boot: the monotonic deadline holds exactly. */
	assert_int_equal(r->timer->deadline_ns, deadline);
	assert_string_equal(r->timer->callback->channel, "dur-a");
	assert_memory_equal(r->timer->callback->payload.data, "keep me", 7);
	evd__reply__free_unpacked(r, NULL);
	/* Ids are never reused after a restart. */
	assert_true(later(fd, 3600 * SEC, "dur-a", NULL, NULL, -1, NULL,
	                  NULL) > id);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

static void
test_key_survives_kill9(void **state)
{
	struct evd_proc p;
	bool existing = true;
	uint64_t id, again;
	int fd;

	start(&p);
	fd = greet(&p);
	id = later(fd, 3600 * SEC, "dur-k", NULL, "backup-2026-11-25", -1, NULL,
	           &existing);
	assert_false(existing);
	close(fd);
	crash_restart(&p);
	fd = greet(&p);
	again = later(fd, 3600 * SEC, "dur-k", NULL, "backup-2026-11-25", -1,
	              NULL, &existing);
	assert_int_equal(again, id);
	assert_true(existing);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* A retry after the timer already fired gets that timer back: it must
 * not fire twice. */
static void
test_key_after_fire(void **state)
{
	struct evd_proc p;
	bool existing = true;
	uint64_t id, again;
	Evd__Reply *r;
	int fd;

	start(&p);
	fd = greet(&p);
	id = later(fd, 1 * MS, "dur-kf", NULL, "once-only", -1, NULL,
	           &existing);
	assert_false(existing);
	usleep(100000);
	r = get(fd, id);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__FIRED);
	evd__reply__free_unpacked(r, NULL);
	again = later(fd, 1 * MS, "dur-kf", NULL, "once-only", -1, NULL,
	              &existing);
	assert_int_equal(again, id);
	assert_true(existing);
	close(fd);
	crash_restart(&p);
	fd = greet(&p);
	again = later(fd, 1 * MS, "dur-kf", NULL, "once-only", -1, NULL,
	              &existing);
	assert_int_equal(again, id);
	assert_true(existing);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

static void
test_messages_survive(void **state)
{
	struct evd_proc p;
	Evd__Reply *r;
	uint64_t tid, fire_acked, fire_unacked;
	int fd, sub;

	start(&p);
	fd = greet(&p);
	/* Two fires with nobody subscribed: both queue durably. */
	tid = later(fd, 1 * MS, "dur-m", "one", NULL, -1, NULL, NULL);
	later(fd, 2 * MS, "dur-m", "two", NULL, -1, NULL, NULL);
	usleep(100000);
	close(fd);
	crash_restart(&p);

	sub = greet(&p);
	subscribe(sub, "dur-m", 0);
	r = raw_next_fired(sub, 5000);
	assert_non_null(r);
	assert_int_equal(r->fired->timer_id, tid);
	assert_memory_equal(r->fired->payload.data, "one", 3);
	fire_acked = r->fired->fire_id;
	evd__reply__free_unpacked(r, NULL);
	r = raw_next_fired(sub, 5000);
	assert_non_null(r);
	assert_memory_equal(r->fired->payload.data, "two", 3);
	fire_unacked = r->fired->fire_id;
	evd__reply__free_unpacked(r, NULL);
	assert_int_equal(ack(sub, fire_acked), 0);
	close(sub);

	/* The acked one is gone for good; the unacked one comes back. */
	crash_restart(&p);
	sub = greet(&p);
	subscribe(sub, "dur-m", 0);
	r = raw_next_fired(sub, 5000);
	assert_non_null(r);
	assert_int_equal(r->fired->fire_id, fire_unacked);
	evd__reply__free_unpacked(r, NULL);
	assert_int_equal(ack(sub, fire_unacked), 0);
	assert_null(raw_next_fired(sub, 300));
	close(sub);

	/* The fired timer is still visible, finished, with its history. */
	fd = greet(&p);
	r = get(fd, tid);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__FIRED);
	assert_true(r->timer->n_history >= 2);
	assert_int_equal(r->timer->history[0]->outcome,
	                 EVD__RUN_OUTCOME__RUN_ACKED);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* Downtime: a skip timer is recorded as skipped, a fire timer fires late. */
static void
test_misfire(void **state)
{
	struct evd_proc p;
	uint64_t skip_id, fire_id;
	Evd__Reply *r;
	int fd, sub;

	start(&p);
	fd = greet(&p);
	/* Far enough out that both are scheduled and evd killed before
	 * either is due, even under valgrind on a busy machine. */
	skip_id = later(fd, 1500 * MS, "dur-mis", "skip", NULL,
	                EVD__MISFIRE__MISFIRE_SKIP, NULL, NULL);
	fire_id = later(fd, 1500 * MS, "dur-mis", "fire", NULL,
	                EVD__MISFIRE__MISFIRE_FIRE, NULL, NULL);
	close(fd);
	evd_kill9(&p);
	usleep(1800000); /* both deadlines pass while evd is down */
	assert_int_equal(evd_start_in(&p, NULL), 0);

	sub = greet(&p);
	subscribe(sub, "dur-mis", 0);
	r = raw_next_fired(sub, 5000);
	assert_non_null(r);
	assert_int_equal(r->fired->timer_id, fire_id);
	assert_true(r->fired->lateness_ns >= 250 * MS);
	assert_int_equal(ack(sub, r->fired->fire_id), 0);
	evd__reply__free_unpacked(r, NULL);
	assert_null(raw_next_fired(sub, 300));

	r = get(sub, skip_id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__FIRED);
	assert_true(r->timer->n_history >= 1);
	assert_int_equal(r->timer->history[0]->outcome,
	                 EVD__RUN_OUTCOME__RUN_SKIPPED);
	assert_non_null(r->timer->history[0]->detail);
	evd__reply__free_unpacked(r, NULL);
	close(sub);
	assert_int_equal(evd_stop(&p), 0);
}

/*
 * A client pipelines schedules while evd is SIGKILLed at a random moment.
 * Every id whose Scheduled reply arrived must be there after a restart.
 */
static void
test_kill9_during_stream(void **state)
{
	struct evd_proc p;
	int round;

	srand((unsigned)time(NULL));
	start(&p);
	for (round = 0; round < 5; round++) {
		uint64_t *acked = calloc(200000, sizeof *acked);
		size_t nacked = 0, i;
		int fd = greet(&p), status;
		pid_t killer;
		Evd__CallLater cl = EVD__CALL_LATER__INIT;
		Evd__Callback cb = EVD__CALLBACK__INIT;
		uint8_t *buf = NULL;
		size_t len = 0, cap = 0;

		assert_non_null(acked);
		cl.has_delay_ns = 1;
		cl.delay_ns = 3600 * SEC;
		cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb.channel = "dur-stream";
		cl.callback = &cb;
		for (i = 0; i < 500; i++) {
			Evd__Request rq = EVD__REQUEST__INIT;

			rq.has_request_id = 1;
			rq.request_id = 1000 + i;
			rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
			rq.call_later = &cl;
			assert_int_equal(raw_append_request(&buf, &len, &cap,
			                                    &rq), 0);
		}
		/* The killer fires 5..80 ms into the stream. */
		killer = fork();
		assert_true(killer >= 0);
		if (killer == 0) {
			usleep(5000 + (useconds_t)(rand() % 75000));
			kill(p.pid, SIGKILL);
			_exit(0);
		}
		for (;;) {
			Evd__Reply *r;
			size_t got = 0;

			if (raw_write(fd, buf, len) < 0)
				break;
			while (got < 500 &&
			       (r = raw_recv_reply(fd, 5000)) != NULL) {
				if (r->body_case == EVD__REPLY__BODY_SCHEDULED &&
				    nacked < 200000)
					acked[nacked++] = r->scheduled->timer_id;
				evd__reply__free_unpacked(r, NULL);
				got++;
			}
			if (got < 500)
				break; /* the daemon died mid-stream */
		}
		free(buf);
		close(fd);
		waitpid(killer, &status, 0);
		evd_kill9(&p); /* reaps it */
		assert_int_equal(evd_start_in(&p, NULL), 0);
		fd = greet(&p);
		for (i = 0; i < nacked; i++) {
			Evd__Reply *r = get(fd, acked[i]);

			if (r->body_case != EVD__REPLY__BODY_TIMER)
				fail_msg("round %d: acknowledged timer %llu "
				         "lost (%zu acknowledged)",
				         round, (unsigned long long)acked[i],
				         nacked);
			evd__reply__free_unpacked(r, NULL);
		}
		printf("round %d: %zu acknowledged before SIGKILL, all present\n",
		       round, nacked);
		close(fd);
		free(acked);
	}
	assert_int_equal(evd_stop(&p), 0);
}

static int
time_ok(int fd)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Time t = EVD__TIME__INIT;
	Evd__Reply *r;
	int ok;

	rq.body_case = EVD__REQUEST__BODY_TIME;
	rq.time = &t;
	r = call(fd, &rq);
	ok = r->body_case == EVD__REPLY__BODY_TIME;
	evd__reply__free_unpacked(r, NULL);
	return ok;
}

/* A full disk (a file size limit on the running daemon): durable writes
 * are refused UNAVAILABLE, reads keep working, nothing crashes, and once
 * space returns writes resume. */
static void
test_disk_full(void **state)
{
	struct rlimit small = { 0, 0 }, big = { RLIM_INFINITY, RLIM_INFINITY };
	static char payload[60000];
	struct evd_proc p;
	uint64_t first, id;
	int fd, err = 0, i;
	Evd__Reply *r;

	SQLITE_ONLY();
	start(&p);
	fd = greet(&p);
	first = later(fd, 3600 * SEC, "dur-full", "before", NULL, -1, NULL,
	              NULL);
	assert_true(first > 0);
	/* Only what the files hold now: the next growth fails. */
	small.rlim_cur = 64 * 1024;
	small.rlim_max = RLIM_INFINITY;
	if (prlimit(p.pid, RLIMIT_FSIZE, &small, NULL) < 0) {
		printf("SKIP: prlimit: %s\n", strerror(errno));
		evd_stop(&p);
		skip();
	}
	memset(payload, 'x', sizeof payload - 1);
	for (i = 0; i < 200 && err == 0; i++)
		later(fd, 3600 * SEC, "dur-full", payload, NULL, -1, &err,
		      NULL);
	assert_int_equal(err, EVD__ERROR_CODE__UNAVAILABLE);
	assert_true(evd_alive(&p));
	/* Reads keep working, and the daemon still serves. */
	assert_true(time_ok(fd));
	r = get(fd, first);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	evd__reply__free_unpacked(r, NULL);
	err = 0;
	later(fd, 3600 * SEC, "dur-full", "refused", NULL, -1, &err, NULL);
	assert_int_equal(err, EVD__ERROR_CODE__UNAVAILABLE);

	/* Space returns: within a few probe intervals writes work again. */
	if (prlimit(p.pid, RLIMIT_FSIZE, &big, NULL) < 0)
		fail_msg("prlimit: %s", strerror(errno));
	for (i = 0, id = 0; i < 50 && id == 0; i++) {
		usleep(100000);
		err = 0;
		id = later(fd, 3600 * SEC, "dur-full", "after", NULL, -1, &err,
		           NULL);
	}
	assert_true(id > 0);
	close(fd);
	/* What was acknowledged before and after is durable. */
	crash_restart(&p);
	fd = greet(&p);
	r = get(fd, first);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	evd__reply__free_unpacked(r, NULL);
	r = get(fd, id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* Whether evd's log holds needle. */
/* Stats.pending_timers. */
static uint64_t
pending_timers(int fd)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Stats st = EVD__STATS__INIT;
	Evd__Reply *r;
	uint64_t n;

	rq.body_case = EVD__REQUEST__BODY_STATS;
	rq.stats = &st;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_STATS);
	n = r->stats->pending_timers;
	evd__reply__free_unpacked(r, NULL);
	return n;
}

/*
 * The disk fills while many pipelined batches are in flight: the store's
 * thread commits some of them and fails on one, which loses it and every
 * batch after it. Each request's answer must say what happened to it:
 * every Scheduled timer survives a crash, and no request answered
 * UNAVAILABLE left a timer behind (a reply rewritten although its batch
 * committed would be a lie that makes a client schedule twice).
 */
static void
disk_full_in_flight(bool keyed)
{
	enum { BURST = 3000 };
	struct rlimit small = { 64 * 1024, RLIM_INFINITY },
		      big = { RLIM_INFINITY, RLIM_INFINITY };
	static char payload[2048];
	static uint64_t ids[BURST];
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	uint64_t rid0 = next_req, nsched = 0, nunavail = 0, nids = 0, id = 0;
	char key[32];
	struct evd_proc p;
	pid_t writer;
	int fd, i, err, status;

	SQLITE_ONLY();
	start(&p);
	fd = greet(&p);
	memset(payload, 'x', sizeof payload - 1);
	for (i = 0; i < BURST; i++) {
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__CallLater cl = EVD__CALL_LATER__INIT;
		Evd__Callback cb = EVD__CALLBACK__INIT;

		cl.has_delay_ns = 1;
		cl.delay_ns = 3600 * SEC;
		cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb.channel = "dur-inflight";
		cb.has_payload = 1;
		cb.payload.data = (uint8_t *)payload;
		cb.payload.len = sizeof payload - 1;
		cl.callback = &cb;
		/* Keyed: each key twice in a row; the second is answered
		 * "existing" from memory, and must be failed with the
		 * first if its batch is lost. */
		if (keyed) {
			snprintf(key, sizeof key, "k%d", i / 2);
			cl.key = key;
		}
		rq.has_request_id = 1;
		rq.request_id = rid0 + (uint64_t)i;
		rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
		rq.call_later = &cl;
		assert_int_equal(raw_append_request(&buf, &len, &cap, &rq), 0);
	}
	next_req += BURST;
	/* Written by a child while the disk fills under evd. */
	writer = fork();
	assert_true(writer >= 0);
	if (writer == 0)
		_exit(raw_write(fd, buf, len) == 0 ? 0 : 1);
	free(buf);
	usleep(20000);
	if (prlimit(p.pid, RLIMIT_FSIZE, &small, NULL) < 0) {
		printf("SKIP: prlimit: %s\n", strerror(errno));
		kill(writer, SIGKILL);
		waitpid(writer, NULL, 0);
		evd_stop(&p);
		skip();
	}
	for (i = 0; i < BURST; i++) {
		Evd__Reply *r = raw_recv_reply(fd, 20000);

		assert_non_null(r);
		assert_int_equal(r->request_id, rid0 + (uint64_t)i);
		if (r->body_case == EVD__REPLY__BODY_SCHEDULED) {
			if (!r->scheduled->existing)
				nids++;
			ids[nsched++] = r->scheduled->timer_id;
		} else {
			assert_int_equal(r->body_case, EVD__REPLY__BODY_ERROR);
			assert_int_equal(r->error->code,
			                 EVD__ERROR_CODE__UNAVAILABLE);
			nunavail++;
		}
		evd__reply__free_unpacked(r, NULL);
	}
	assert_int_equal(waitpid(writer, &status, 0), writer);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("test_disk_full_in_flight%s: %llu scheduled, %llu "
	       "unavailable\n", keyed ? " (keyed)" : "",
	       (unsigned long long)nsched, (unsigned long long)nunavail);
	/* 3000 rows of 2 KB do not fit in what the files had. */
	assert_true(nunavail > 0);
	assert_true(evd_alive(&p));

	if (prlimit(p.pid, RLIMIT_FSIZE, &big, NULL) < 0)
		fail_msg("prlimit: %s", strerror(errno));
	for (i = 0; i < 50 && id == 0; i++) {
		usleep(100000);
		err = 0;
		id = later(fd, 3600 * SEC, "dur-inflight", "after", NULL, -1,
		           &err, NULL);
	}
	assert_true(id > 0);
	close(fd);
	crash_restart(&p);
	fd = greet(&p);
	for (i = 0; i < (int)nsched; i++) {
		Evd__Reply *r = get(fd, ids[i]);

		assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
		evd__reply__free_unpacked(r, NULL);
	}
	/* Exactly those, and the one after: none answered UNAVAILABLE
	 * was stored. */
	assert_int_equal(pending_timers(fd), nids + 1);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

static void
test_disk_full_in_flight(void **state)
{
	disk_full_in_flight(false);
}

/* Lines in path (0 if it does not exist). */
static int
count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int c, n = 0;

	if (f == NULL)
		return 0;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/*
 * An exec timer fires while the disk is full: the store loses the batch
 * of the fire, so the fire never happened; its hook must not run, and the
 * timer, rebuilt from the store, fires again once the disk has room: the
 * hook runs exactly once.
 */
static void
test_hook_of_lost_fire(void **state)
{
	struct rlimit none = { 1, RLIM_INFINITY },
		      big = { RLIM_INFINITY, RLIM_INFINITY };
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Exec x = EVD__EXEC__INIT;
	char out[600], script[700];
	char *argv[] = { "/bin/sh", "-c", script };
	struct evd_proc p;
	Evd__Reply *r;
	int fd, i;

	SQLITE_ONLY();
	start(&p);
	assert_true(snprintf(out, sizeof out, "%s/hook.out", p.state) <
	            (int)sizeof out);
	snprintf(script, sizeof script, "echo ran >> '%s'", out);
	fd = greet(&p);
	x.n_argv = 3;
	x.argv = argv;
	cb.target_case = EVD__CALLBACK__TARGET_EXEC;
	cb.exec = &x;
	cl.has_delay_ns = 1;
	cl.delay_ns = 700 * MS;
	cl.callback = &cb;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
	evd__reply__free_unpacked(r, NULL);
	/* No file of evd's may grow from now on. */
	if (prlimit(p.pid, RLIMIT_FSIZE, &none, NULL) < 0) {
		printf("SKIP: prlimit: %s\n", strerror(errno));
		evd_stop(&p);
		skip();
	}
	usleep(2000000);
	assert_int_equal(count_lines(out), 0);
	if (prlimit(p.pid, RLIMIT_FSIZE, &big, NULL) < 0)
		fail_msg("prlimit: %s", strerror(errno));
	for (i = 0; i < 100 && count_lines(out) == 0; i++)
		usleep(100000);
	assert_int_equal(count_lines(out), 1);
	/* And not again. */
	usleep(1500000);
	assert_int_equal(count_lines(out), 1);
	assert_true(evd_alive(&p));
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* The same with keys: a request answered "existing" is as good as its
 * timer's batch. */
static void
test_disk_full_keyed(void **state)
{
	disk_full_in_flight(true);
}

static bool
log_has(const struct evd_proc *p, const char *needle)
{
	static char buf[65536];
	size_t n;
	FILE *f;

	if ((f = fopen(p->log, "r")) == NULL)
		return false;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strstr(buf, needle) != NULL;
}

/* A durable CallLater that must be refused: returns its error's code,
 * and its message in msg. */
static int
later_refused(int fd, const char *channel, char *msg, size_t size)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Reply *r;
	int code;

	cl.has_delay_ns = 1;
	cl.delay_ns = 3600 * SEC;
	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = (char *)channel;
	cl.callback = &cb;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	r = call(fd, &rq);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_ERROR);
	code = (int)r->error->code;
	snprintf(msg, size, "%s", r->error->message);
	evd__reply__free_unpacked(r, NULL);
	return code;
}

/* The store file deleted under the running daemon: durable writes are
 * refused UNAVAILABLE with the reason (they would land in a file nobody
 * will open again) and an error in the log, reads and memory-only timers
 * keep working, and evd does not crash. */
static void
test_store_deleted(void **state)
{
	struct evd_proc p;
	char db[600], msg[512];
	uint64_t first;
	int fd;
	Evd__Reply *r;

	SQLITE_ONLY();
	start(&p);
	fd = greet(&p);
	first = later(fd, 3600 * SEC, "dur-del", NULL, NULL, -1, NULL, NULL);
	assert_true(first > 0);
	assert_true(snprintf(db, sizeof db, "%s/evd.db", p.state) <
	            (int)sizeof db);
	assert_int_equal(unlink(db), 0);
	assert_int_equal(later_refused(fd, "dur-del", msg, sizeof msg),
	                 EVD__ERROR_CODE__UNAVAILABLE);
	assert_non_null(strstr(msg, "evd.db was deleted"));
	assert_true(log_has(&p, "<3>the store cannot write (check: "));
	assert_true(time_ok(fd));
	r = get(fd, first);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	evd__reply__free_unpacked(r, NULL);
	{
		/* A caller timer needs no store. */
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__CallLater cl = EVD__CALL_LATER__INIT;

		cl.has_delay_ns = 1;
		cl.delay_ns = 3600 * SEC;
		rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
		rq.call_later = &cl;
		r = call(fd, &rq);
		assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
		evd__reply__free_unpacked(r, NULL);
	}
	assert_true(evd_alive(&p));
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* evd.db-wal deleted under the running daemon, as test_store_deleted
 * does with evd.db: what evd commits from then on would be lost with the
 * deleted file, so durable writes are refused UNAVAILABLE with the reason
 * and an error in the log, reads and memory-only timers keep working.
 * What was acknowledged before is still in the deleted WAL evd holds
 * open: a clean stop copies it into evd.db, and the next start has it. */
static void
test_wal_deleted(void **state)
{
	struct evd_proc p;
	char path[600], msg[512];
	uint64_t first;
	int fd;
	Evd__Reply *r;

	SQLITE_ONLY();
	start(&p);
	fd = greet(&p);
	first = later(fd, 3600 * SEC, "dur-wal", NULL, NULL, -1, NULL, NULL);
	assert_true(first > 0);
	assert_true(snprintf(path, sizeof path, "%s/evd.db-wal", p.state) <
	            (int)sizeof path);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(later_refused(fd, "dur-wal", msg, sizeof msg),
	                 EVD__ERROR_CODE__UNAVAILABLE);
	assert_non_null(strstr(msg, "evd.db-wal"));
	assert_true(log_has(&p, "<3>the store cannot write (check: "
	                        "evd.db-wal"));
	/* Refused again, not retried into the lost file. */
	assert_int_equal(later_refused(fd, "dur-wal", msg, sizeof msg),
	                 EVD__ERROR_CODE__UNAVAILABLE);
	assert_true(time_ok(fd));
	r = get(fd, first);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	evd__reply__free_unpacked(r, NULL);
	{
		/* A caller timer needs no store. */
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__CallLater cl = EVD__CALL_LATER__INIT;

		cl.has_delay_ns = 1;
		cl.delay_ns = 3600 * SEC;
		rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
		rq.call_later = &cl;
		r = call(fd, &rq);
		assert_int_equal(r->body_case, EVD__REPLY__BODY_SCHEDULED);
		evd__reply__free_unpacked(r, NULL);
	}
	assert_true(evd_alive(&p));
	close(fd);

	assert_int_equal(evd_terminate(&p), 0);
	assert_int_equal(evd_start_in(&p, NULL), 0);
	fd = greet(&p);
	r = get(fd, first);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	evd__reply__free_unpacked(r, NULL);
	assert_true(later(fd, 3600 * SEC, "dur-wal", NULL, NULL, -1, NULL,
	                  NULL) > first);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* Runs evd with args and returns its exit status; its stderr in err. */
static int
run_evd(const char *const *args, char *err, size_t errsize)
{
	const char *argv[16];
	int pipefd[2], status, n = 0;
	ssize_t k, total = 0;
	pid_t pid;

	argv[n++] = EVD_BIN;
	while (*args != NULL && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		execv(EVD_BIN, (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	while (total < (ssize_t)errsize - 1 &&
	       (k = read(pipefd[0], err + total, errsize - 1 - (size_t)total)) > 0)
		total += k;
	err[total] = '\0';
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_start_errors(void **state)
{
	char dir[] = "/tmp/evd-test.XXXXXX", path[512], sock[512], err[4096];
	struct evd_proc p;
	int fd;

	SQLITE_ONLY();
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/s.sock", dir);

	/* The state dir is a regular file. */
	snprintf(path, sizeof path, "%s/file", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
	{
		const char *args[] = { "--socket", sock, "--state-dir", path,
			               NULL };

		assert_int_equal(run_evd(args, err, sizeof err), 1);
		assert_non_null(strstr(err, path));
	}
	/* A garbage database. */
	snprintf(path, sizeof path, "%s/bad", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	{
		char db[600];
		const char *args[] = { "--socket", sock, "--state-dir", path,
			               NULL };

		snprintf(db, sizeof db, "%s/evd.db", path);
		fd = open(db, O_WRONLY | O_CREAT, 0600);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "this is not a database at all, no",
		                       33), 33);
		close(fd);
		assert_int_equal(run_evd(args, err, sizeof err), 1);
		assert_non_null(strstr(err, "evd.db"));
	}
	/* The store in use by another evd. */
	start(&p);
	{
		const char *args[] = { "--socket", sock, "--state-dir",
			               p.state, NULL };

		assert_int_equal(run_evd(args, err, sizeof err), 1);
		assert_non_null(strstr(err, "another evd"));
	}
	assert_int_equal(evd_stop(&p), 0);
	rm_rf(dir);
}

/*
 * The pg store (EVD_TEST_STORE=pg only): the server drops evd's
 * connections, as a restart or a cut network would. The next durable
 * request is answered UNAVAILABLE (unless the reconnect, tried at once,
 * was done first), reads of what evd holds go on, evd reconnects by itself, and durable requests succeed again with the
 * earlier timer still there.
 */
static void
test_pg_connection_lost(void **state)
{
	const char *store = getenv("EVD_TEST_STORE");
	struct evd_proc p;
	uint64_t first, id = 0;
	int fd, err = 0, i;
	Evd__Reply *r;

	if (store == NULL || strcmp(store, "pg") != 0) {
		printf("SKIP: about the pg store (EVD_TEST_STORE=pg)\n");
		skip();
	}
	start(&p);
	fd = greet(&p);
	first = later(fd, 3600 * SEC, "pg-lost", "one", NULL, -1, NULL, NULL);
	assert_true(first > 0);
	assert_int_equal(harness_pg_sql("SELECT pg_terminate_backend(pid) FROM"
	                                " pg_stat_activity WHERE"
	                                " application_name = 'evd'"),
	                 0);
	/* Until those backends are gone (their goodbye sent), so that
	 * evd's check before the next batch sees the connection closed. */
	for (i = 0; i < 100; i++) {
		struct timespec ts = { 0, 50 * MS };

		if (harness_pg_sql("DO $$ BEGIN IF EXISTS (SELECT 1 FROM"
		                   " pg_stat_activity WHERE application_name"
		                   " = 'evd') THEN RAISE 'up'; END IF; END $$")
		    == 0)
			break;
		nanosleep(&ts, NULL);
	}
	/* UNAVAILABLE, or scheduled when the reconnect was done at once
	 * (its first try is made at once, and loopback answers fast): the
	 * one thing it must not be is another error or a lost timer. */
	if (later(fd, 3600 * SEC, "pg-lost", "two", NULL, -1, &err, NULL) ==
	    0)
		assert_int_equal(err, EVD__ERROR_CODE__UNAVAILABLE);
	r = get(fd, first);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	evd__reply__free_unpacked(r, NULL);
	/* The daemon probes about once a second; 20 s is generous. */
	for (i = 0; i < 200 && id == 0; i++) {
		struct timespec ts = { 0, 100 * MS };

		id = later(fd, 3600 * SEC, "pg-lost", "two", NULL, -1, &err,
		           NULL);
		if (id == 0) {
			assert_int_equal(err, EVD__ERROR_CODE__UNAVAILABLE);
			nanosleep(&ts, NULL);
		}
	}
	assert_true(id > first);
	r = get(fd, first);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__PENDING);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
	/* Both are in the database: a restart finds them. */
	assert_int_equal(evd_terminate(&p), 0);
	assert_int_equal(evd_start_in(&p, NULL), 0);
	fd = greet(&p);
	r = get(fd, first);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	assert_int_equal(r->timer->state, EVD__TIMER_STATE__PENDING);
	evd__reply__free_unpacked(r, NULL);
	r = get(fd, id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_TIMER);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

/* evd --store pg:... --init-schema creates the schema and exits 0
 * (EVD_TEST_STORE=pg only); evd then starts on it. */
static void
test_pg_init_schema(void **state)
{
	const char *store = getenv("EVD_TEST_STORE");
	char spec[320], err[4096];
	struct evd_proc p;

	if (store == NULL || strcmp(store, "pg") != 0) {
		printf("SKIP: about the pg store (EVD_TEST_STORE=pg)\n");
		skip();
	}
	start(&p); /* the server */
	assert_int_equal(evd_stop(&p), 0);
	assert_int_equal(harness_pg_sql_in("evd_init_schema", NULL, spec,
	                                   sizeof spec),
	                 0);
	/* Nothing there yet. */
	assert_int_not_equal(harness_pg_sql_in("evd_init_schema",
	                                       "SELECT 1 FROM evd.meta", spec,
	                                       sizeof spec),
	                     0);
	{
		const char *args[] = { "--store", spec, "--init-schema", NULL };

		assert_int_equal(run_evd(args, err, sizeof err), 0);
	}
	assert_int_equal(harness_pg_sql_in("evd_init_schema",
	                                   "DO $$ BEGIN IF (SELECT v FROM"
	                                   " evd.meta WHERE k ="
	                                   " 'schema_version') <> 5 THEN"
	                                   " RAISE 'version'; END IF; END $$",
	                                   spec, sizeof spec),
	                 0);
	{
		const char *args[] = { "--store", "sqlite", "--init-schema",
			               NULL };

		assert_int_equal(run_evd(args, err, sizeof err), 2);
		assert_non_null(strstr(err, "needs --store pg:"));
	}
}

/* The memory store keeps nothing across a restart, by design. */
static void
test_memory_store(void **state)
{
	const char *mem[] = { "--store", "memory", NULL };
	struct evd_proc p;
	Evd__Reply *r;
	uint64_t id;
	int fd;

	assert_int_equal(evd_start(&p, mem), 0);
	fd = greet(&p);
	id = later(fd, 3600 * SEC, "dur-mem", NULL, NULL, -1, NULL, NULL);
	close(fd);
	evd_kill9(&p);
	assert_int_equal(evd_start_in(&p, mem), 0);
	fd = greet(&p);
	r = get(fd, id);
	assert_int_equal(r->body_case, EVD__REPLY__BODY_ERROR);
	assert_int_equal(r->error->code, EVD__ERROR_CODE__NOT_FOUND);
	evd__reply__free_unpacked(r, NULL);
	close(fd);
	assert_int_equal(evd_stop(&p), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timer_survives_kill9),
		cmocka_unit_test(test_key_survives_kill9),
		cmocka_unit_test(test_key_after_fire),
		cmocka_unit_test(test_messages_survive),
		cmocka_unit_test(test_misfire),
		cmocka_unit_test(test_kill9_during_stream),
		cmocka_unit_test(test_disk_full),
		cmocka_unit_test(test_disk_full_in_flight),
		cmocka_unit_test(test_disk_full_keyed),
		cmocka_unit_test(test_hook_of_lost_fire),
		cmocka_unit_test(test_store_deleted),
		cmocka_unit_test(test_wal_deleted),
		cmocka_unit_test(test_start_errors),
		cmocka_unit_test(test_memory_store),
		cmocka_unit_test(test_pg_connection_lost),
		cmocka_unit_test(test_pg_init_schema),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
