/*
 * test_security: identity and authorisation against the real evd (run as
 * root, the system instance). Clients run as two unprivileged uids in
 * forked children (setgroups/setgid/setuid; numeric ids, so the test
 * needs no accounts on the machine): others' timers do not exist for
 * them; a channel lives in its owner's namespace ("NAME" is the caller's
 * own, "UID:NAME" anyone's), and others need its owner's grant (by uid
 * or by group) to subscribe or publish; grants survive a
 * crash; root sees everything. Needs root; otherwise exits 77.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

#include "harness.h"

#define MS 1000000LL
#define UID_A 61001
#define UID_B 61002
#define GID_A 61001
#define GID_B 61002
#define GID_TEAM 61500 /* B's supplementary group */
#define SEC 1000000000LL
/* A's channel NAME, as anyone else writes it. */
#define A_CHAN(name) "61001:" name

/* Shared between the test and its forked clients. */
struct shared {
	uint64_t timer_a; /* A's channel timer */
	uint64_t ended_a[2]; /* A's fired caller timer, cancelled channel one */
	int codes[32];    /* per-step error code, 0 = success */
};

static struct evd_proc evd;
static struct shared *sh;
static uint64_t rid = 1;

static int
code_of(Evd__Reply *r)
{
	int c;

	if (r == NULL)
		return -1;
	c = r->body_case == EVD__REPLY__BODY_ERROR ? (int)r->error->code : 0;
	evd__reply__free_unpacked(r, NULL);
	return c;
}

static Evd__Reply *
call(int fd, Evd__Request *rq)
{
	rq->has_request_id = 1;
	rq->request_id = rid++;
	return raw_call(fd, rq, 10000);
}

static int
greet(void)
{
	int fd = raw_connect(evd.sock);

	if (fd < 0 || raw_hello(fd, rid++) < 0)
		return -1;
	return fd;
}

/* CallLater of delay_ns into channel (NULL: a caller timer), with key
 * (NULL: none) and, with every_ns > 0, repeating. */
static Evd__Reply *
later_full(int fd, const char *channel, const char *key, int64_t delay_ns,
           int64_t every_ns)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__TimerOptions o = EVD__TIMER_OPTIONS__INIT;
	Evd__Repeat rp = EVD__REPEAT__INIT;

	cl.has_delay_ns = 1;
	cl.delay_ns = delay_ns;
	if (channel != NULL) {
		cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb.channel = (char *)channel;
	}
	cl.callback = &cb;
	cl.key = (char *)key;
	if (every_ns > 0) {
		rp.has_every_ns = 1;
		rp.every_ns = every_ns;
		o.repeat = &rp;
		cl.options = &o;
	}
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	return call(fd, &rq);
}

static Evd__Reply *
later(int fd, const char *channel)
{
	return later_full(fd, channel, NULL, 3600 * SEC, 0);
}

/* A caller timer due at once. */
static Evd__Reply *
soon(int fd)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallSoon cs = EVD__CALL_SOON__INIT;

	rq.body_case = EVD__REQUEST__BODY_CALL_SOON;
	rq.call_soon = &cs;
	return call(fd, &rq);
}

static int
get_code(int fd, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Get g = EVD__GET__INIT;

	g.has_timer_id = 1;
	g.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_GET;
	rq.get = &g;
	return code_of(call(fd, &rq));
}

static int
cancel_code(int fd, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Cancel c = EVD__CANCEL__INIT;

	c.has_timer_id = 1;
	c.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_CANCEL;
	rq.cancel = &c;
	return code_of(call(fd, &rq));
}

static int
subscribe_code(int fd, const char *channel)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Subscribe s = EVD__SUBSCRIBE__INIT;

	s.channel = (char *)channel;
	rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &s;
	return code_of(call(fd, &rq));
}

static int
grant_code(int fd, const char *channel, bool gid, uint32_t id, bool sub,
           bool pub, bool revoke)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__ChannelGrant g = EVD__CHANNEL_GRANT__INIT;

	g.channel = (char *)channel;
	if (gid) {
		g.who_case = EVD__CHANNEL_GRANT__WHO_GID;
		g.gid = id;
	} else {
		g.who_case = EVD__CHANNEL_GRANT__WHO_UID;
		g.uid = id;
	}
	g.has_subscribe = g.has_publish = g.has_revoke = 1;
	g.subscribe = sub;
	g.publish = pub;
	g.revoke = revoke;
	rq.body_case = EVD__REQUEST__BODY_CHANNEL_GRANT;
	rq.channel_grant = &g;
	return code_of(call(fd, &rq));
}

/* How many timers List shows this caller. */
static int
list_count(int fd)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__List l = EVD__LIST__INIT;
	Evd__Reply *r;
	int n;

	rq.body_case = EVD__REQUEST__BODY_LIST;
	rq.list = &l;
	r = call(fd, &rq);
	if (r == NULL || r->body_case != EVD__REPLY__BODY_TIMER_LIST)
		return -1;
	n = (int)r->timer_list->n_timers;
	evd__reply__free_unpacked(r, NULL);
	return n;
}

/* Runs fn as uid/gid (with B's team group for UID_B) in a child; returns
 * its exit status. */
static int
as_user(uid_t uid, gid_t gid, int (*fn)(void))
{
	gid_t team = GID_TEAM;

	return run_as(uid, gid, &team, uid == UID_B ? 1 : 0, fn);
}

/* A schedules a channel timer into its new channel, which it then owns. */
static int
user_a_schedule(void)
{
	Evd__Reply *r;
	int fd = greet();

	if (fd < 0)
		return 1;
	r = later(fd, "a-chan");
	if (r == NULL || r->body_case != EVD__REPLY__BODY_SCHEDULED)
		return 2;
	sh->timer_a = r->scheduled->timer_id;
	evd__reply__free_unpacked(r, NULL);
	return list_count(fd) == 1 ? 0 : 3;
}

/* B cannot see, cancel, subscribe to or publish into A's things. */
static int
user_b_isolated(void)
{
	int fd = greet();

	if (fd < 0)
		return 1;
	sh->codes[0] = get_code(fd, sh->timer_a);
	sh->codes[1] = cancel_code(fd, sh->timer_a);
	sh->codes[2] = list_count(fd);
	sh->codes[3] = subscribe_code(fd, A_CHAN("a-chan"));
	sh->codes[4] = code_of(later(fd, A_CHAN("a-chan")));
	sh->codes[5] = grant_code(fd, A_CHAN("a-chan"), false, UID_B, true, true,
	                          false);
	/* B's own channel works. */
	sh->codes[6] = code_of(later(fd, "b-chan"));
	{
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__Wait w = EVD__WAIT__INIT;

		w.has_timer_id = 1;
		w.timer_id = sh->timer_a;
		rq.body_case = EVD__REQUEST__BODY_WAIT;
		rq.wait = &w;
		sh->codes[7] = code_of(call(fd, &rq));
	}
	return 0;
}

static void
test_isolation(void **state)
{
	assert_int_equal(as_user(UID_A, GID_A, user_a_schedule), 0);
	assert_true(sh->timer_a > 0);
	assert_int_equal(as_user(UID_B, GID_B, user_b_isolated), 0);
	assert_int_equal(sh->codes[0], EVD__ERROR_CODE__NOT_FOUND);
	assert_int_equal(sh->codes[1], EVD__ERROR_CODE__NOT_FOUND);
	assert_int_equal(sh->codes[2], 0); /* lists none */
	assert_int_equal(sh->codes[3], EVD__ERROR_CODE__PERMISSION_DENIED);
	assert_int_equal(sh->codes[4], EVD__ERROR_CODE__PERMISSION_DENIED);
	assert_int_equal(sh->codes[5], EVD__ERROR_CODE__PERMISSION_DENIED);
	assert_int_equal(sh->codes[6], 0);
	assert_int_equal(sh->codes[7], EVD__ERROR_CODE__NOT_FOUND); /* wait */
	/* Root sees A's timer. */
	{
		int fd = greet();

		assert_true(fd >= 0);
		assert_int_equal(get_code(fd, sh->timer_a), 0);
		close(fd);
	}
}

/* A ends two timers: one fires, one is cancelled. */
static int
user_a_ends(void)
{
	Evd__Reply *r;
	int fd = greet();

	if (fd < 0)
		return 1;
	if ((r = soon(fd)) == NULL ||
	    r->body_case != EVD__REPLY__BODY_SCHEDULED)
		return 2;
	sh->ended_a[0] = r->scheduled->timer_id;
	evd__reply__free_unpacked(r, NULL);
	if ((r = raw_next_fired(fd, 5000)) == NULL)
		return 3;
	evd__reply__free_unpacked(r, NULL);
	if ((r = later(fd, "a-chan")) == NULL ||
	    r->body_case != EVD__REPLY__BODY_SCHEDULED)
		return 4;
	sh->ended_a[1] = r->scheduled->timer_id;
	evd__reply__free_unpacked(r, NULL);
	if (cancel_code(fd, sh->ended_a[1]) != 0)
		return 5;
	/* The owner sees both. */
	return get_code(fd, sh->ended_a[0]) == 0 &&
	               get_code(fd, sh->ended_a[1]) == 0
	           ? 0
	           : 6;
}

/* B cannot see, wait on or cancel them. */
static int
user_b_ended(void)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Wait w = EVD__WAIT__INIT;
	int fd = greet(), i;

	if (fd < 0)
		return 1;
	for (i = 0; i < 2; i++) {
		sh->codes[3 * i] = get_code(fd, sh->ended_a[i]);
		sh->codes[3 * i + 1] = cancel_code(fd, sh->ended_a[i]);
		w.has_timer_id = 1;
		w.timer_id = sh->ended_a[i];
		rq.body_case = EVD__REQUEST__BODY_WAIT;
		rq.wait = &w;
		sh->codes[3 * i + 2] = code_of(call(fd, &rq));
	}
	return 0;
}

/* Finished and cancelled timers are kept (issues 12 and 13), and stay
 * their owner's: another user gets NOT_FOUND, root sees them. */
static void
test_ended_isolation(void **state)
{
	int fd, i;

	assert_int_equal(as_user(UID_A, GID_A, user_a_ends), 0);
	assert_int_equal(as_user(UID_B, GID_B, user_b_ended), 0);
	for (i = 0; i < 6; i++)
		assert_int_equal(sh->codes[i], EVD__ERROR_CODE__NOT_FOUND);
	fd = greet();
	assert_true(fd >= 0);
	assert_int_equal(get_code(fd, sh->ended_a[0]), 0);
	assert_int_equal(get_code(fd, sh->ended_a[1]), 0);
	close(fd);
}

static int
user_a_grants(void)
{
	int fd = greet();

	if (fd < 0)
		return 1;
	/* B may subscribe by uid; B's team may publish by gid. */
	sh->codes[0] = grant_code(fd, "a-chan", false, UID_B, true, false,
	                          false);
	sh->codes[1] = grant_code(fd, "a-chan", true, GID_TEAM, false, true,
	                          false);
	return 0;
}

static int
user_b_granted(void)
{
	int fd = greet();

	if (fd < 0)
		return 1;
	sh->codes[2] = subscribe_code(fd, A_CHAN("a-chan"));
	sh->codes[3] = code_of(later(fd, A_CHAN("a-chan")));
	/* Still not the owner: B cannot grant, nor see A's timers. */
	sh->codes[4] = grant_code(fd, A_CHAN("a-chan"), false, UID_B, true, true,
	                          false);
	sh->codes[5] = get_code(fd, sh->timer_a);
	return 0;
}

static int
user_a_revokes(void)
{
	int fd = greet();

	if (fd < 0)
		return 1;
	sh->codes[6] = grant_code(fd, "a-chan", false, UID_B, true, false,
	                          true);
	return 0;
}

static int
user_b_revoked(void)
{
	int fd = greet();

	if (fd < 0)
		return 1;
	sh->codes[7] = subscribe_code(fd, A_CHAN("a-chan"));
	sh->codes[8] = code_of(later(fd, A_CHAN("a-chan"))); /* gid grant stays */
	return 0;
}

static void
test_grants(void **state)
{
	assert_int_equal(as_user(UID_A, GID_A, user_a_grants), 0);
	assert_int_equal(sh->codes[0], 0);
	assert_int_equal(sh->codes[1], 0);
	assert_int_equal(as_user(UID_B, GID_B, user_b_granted), 0);
	assert_int_equal(sh->codes[2], 0);
	assert_int_equal(sh->codes[3], 0);
	assert_int_equal(sh->codes[4], EVD__ERROR_CODE__PERMISSION_DENIED);
	assert_int_equal(sh->codes[5], EVD__ERROR_CODE__NOT_FOUND);

	/* Grants are durable: they survive a crash. */
	evd_kill9(&evd);
	assert_int_equal(evd_start_in(&evd, NULL), 0);
	assert_int_equal(as_user(UID_B, GID_B, user_b_granted), 0);
	assert_int_equal(sh->codes[2], 0);
	assert_int_equal(sh->codes[3], 0);

	assert_int_equal(as_user(UID_A, GID_A, user_a_revokes), 0);
	assert_int_equal(sh->codes[6], 0);
	assert_int_equal(as_user(UID_B, GID_B, user_b_revoked), 0);
	assert_int_equal(sh->codes[7], EVD__ERROR_CODE__PERMISSION_DENIED);
	assert_int_equal(sh->codes[8], 0);
}

/* A revoke takes effect at once: B, subscribed through a grant, gets
 * nothing published after its right is revoked. */
static int rv_pipe[2];

static int
rv_a_owns_and_grants(void)
{
	int fd = greet();

	if (fd < 0 || subscribe_code(fd, "rv-chan") != 0)
		return 1;
	close(fd);
	fd = greet();
	return grant_code(fd, "rv-chan", false, UID_B, true, false, false);
}

static int
rv_a_revokes(void)
{
	int fd = greet();

	return grant_code(fd, "rv-chan", false, UID_B, true, false, true);
}

static int
rv_b_listens(void)
{
	Evd__Reply *r;
	int fd = greet();

	if (fd < 0 || subscribe_code(fd, A_CHAN("rv-chan")) != 0)
		return 2;
	if (write(rv_pipe[1], "s", 1) != 1)
		return 3;
	r = raw_next_fired(fd, 3000);
	if (r != NULL) {
		evd__reply__free_unpacked(r, NULL);
		return 1; /* a fire reached a revoked subscriber */
	}
	return 0;
}

static void
test_revoke_is_immediate(void **state)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallSoon cs = EVD__CALL_SOON__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	int status, fd;
	pid_t b;
	char c;

	assert_int_equal(as_user(UID_A, GID_A, rv_a_owns_and_grants), 0);
	assert_int_equal(pipe(rv_pipe), 0);
	b = fork();
	assert_true(b >= 0);
	if (b == 0) {
		gid_t team = GID_TEAM;

		if (setgroups(1, &team) < 0 || setgid(GID_B) < 0 ||
		    setuid(UID_B) < 0)
			_exit(99);
		_exit(rv_b_listens());
	}
	assert_int_equal(read(rv_pipe[0], &c, 1), 1); /* B subscribed */
	assert_int_equal(as_user(UID_A, GID_A, rv_a_revokes), 0);
	/* Root publishes into A's channel. */
	fd = greet();
	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = A_CHAN("rv-chan");
	cs.callback = &cb;
	rq.body_case = EVD__REQUEST__BODY_CALL_SOON;
	rq.call_soon = &cs;
	assert_int_equal(code_of(call(fd, &rq)), 0);
	close(fd);
	assert_int_equal(waitpid(b, &status, 0), b);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(rv_pipe[0]);
	close(rv_pipe[1]);
}

/*
 * A revoke stops timers already scheduled: B, granted publish into A's
 * channel, schedules a repeating timer into it; A revokes; the next fire
 * is skipped and B's history says why. A lists B's timers in its channel
 * and cancels them. Before, B's timer went on publishing into A's
 * channel, which A could neither see nor stop.
 */
static int
rs_a_owns_and_grants(void)
{
	int fd = greet();

	if (fd < 0 || subscribe_code(fd, "rs-chan") != 0)
		return 1;
	close(fd);
	fd = greet();
	return grant_code(fd, "rs-chan", false, UID_B, false, true, false);
}

static int
rs_b_schedules(void)
{
	Evd__Reply *r;
	int fd = greet();

	if (fd < 0)
		return 1;
	r = later_full(fd, A_CHAN("rs-chan"), NULL, 1500 * MS, SEC);
	if (r == NULL || r->body_case != EVD__REPLY__BODY_SCHEDULED)
		return 2;
	sh->timer_a = r->scheduled->timer_id;
	evd__reply__free_unpacked(r, NULL);
	return 0;
}

static int
rs_a_revokes(void)
{
	int fd = greet();

	return grant_code(fd, "rs-chan", false, UID_B, false, true, true);
}

/* B: what its timer's newest run says (Get). */
static int
rs_b_history(void)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Get g = EVD__GET__INIT;
	Evd__Reply *r;
	int fd = greet();

	g.has_timer_id = 1;
	g.timer_id = sh->timer_a;
	rq.body_case = EVD__REQUEST__BODY_GET;
	rq.get = &g;
	r = call(fd, &rq);
	if (r == NULL || r->body_case != EVD__REPLY__BODY_TIMER ||
	    r->timer->n_history == 0)
		return 1;
	sh->codes[0] = r->timer->history[0]->outcome;
	sh->codes[1] = r->timer->history[0]->detail != NULL &&
	               strstr(r->timer->history[0]->detail,
	                      "may no longer publish") != NULL;
	evd__reply__free_unpacked(r, NULL);
	return 0;
}

/* A: how many timers target its channel; then cancels B's. */
static int
rs_a_sees_and_cancels(void)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__List l = EVD__LIST__INIT;
	Evd__Reply *r;
	int fd = greet();

	l.channel = "rs-chan";
	rq.body_case = EVD__REQUEST__BODY_LIST;
	rq.list = &l;
	r = call(fd, &rq);
	if (r == NULL || r->body_case != EVD__REPLY__BODY_TIMER_LIST)
		return 1;
	sh->codes[2] = (int)r->timer_list->n_timers;
	sh->codes[3] = r->timer_list->n_timers == 1 &&
	               r->timer_list->timers[0]->owner_uid == UID_B;
	evd__reply__free_unpacked(r, NULL);
	sh->codes[4] = cancel_code(fd, sh->timer_a);
	r = call(fd, &rq);
	if (r == NULL || r->body_case != EVD__REPLY__BODY_TIMER_LIST)
		return 2;
	sh->codes[5] = (int)r->timer_list->n_timers;
	evd__reply__free_unpacked(r, NULL);
	return 0;
}

static void
test_revoke_stops_scheduled_timers(void **state)
{
	int i;

	assert_int_equal(as_user(UID_A, GID_A, rs_a_owns_and_grants), 0);
	assert_int_equal(as_user(UID_B, GID_B, rs_b_schedules), 0);
	assert_true(sh->timer_a > 0);
	assert_int_equal(as_user(UID_A, GID_A, rs_a_revokes), 0);
	/* The first fire is due 1.5 s after scheduling. */
	for (i = 0; i < 100; i++) {
		sh->codes[0] = 0;
		if (as_user(UID_B, GID_B, rs_b_history) == 0 &&
		    sh->codes[0] != 0)
			break;
		usleep(100 * 1000);
	}
	assert_int_equal(sh->codes[0], EVD__RUN_OUTCOME__RUN_SKIPPED);
	assert_int_equal(sh->codes[1], 1);
	assert_int_equal(as_user(UID_A, GID_A, rs_a_sees_and_cancels), 0);
	assert_int_equal(sh->codes[2], 1);
	assert_int_equal(sh->codes[3], 1);
	assert_int_equal(sh->codes[4], 0);
	assert_int_equal(sh->codes[5], 0);
}

/*
 * A channel's owner sees and purges the dead letters others sent into
 * it: B's message, never acked on A's channel (max_attempts 1), shows in
 * A's ListDead and A's PurgeDead removes it. Before, A saw none of them
 * and could not clean its own channel. Once A revoked B's right to
 * publish, B may not requeue its dead letter (that would publish again).
 */
static int
dl_a_owns_and_grants(void)
{
	int fd = greet();

	if (fd < 0 || subscribe_code(fd, "dl-chan") != 0)
		return 1;
	close(fd);
	fd = greet();
	return grant_code(fd, "dl-chan", false, UID_B, false, true, false);
}

static int
dl_b_sends(void)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallSoon cs = EVD__CALL_SOON__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__TimerOptions o = EVD__TIMER_OPTIONS__INIT;
	int fd = greet();

	if (fd < 0)
		return 1;
	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = A_CHAN("dl-chan");
	cs.callback = &cb;
	o.has_max_attempts = 1;
	o.max_attempts = 1;
	cs.options = &o;
	rq.body_case = EVD__REQUEST__BODY_CALL_SOON;
	rq.call_soon = &cs;
	return code_of(call(fd, &rq)) == 0 ? 0 : 2;
}

/* A lets B's message die unacked, then revokes B's right to publish. */
static int
dl_a_drops(void)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Subscribe sub = EVD__SUBSCRIBE__INIT;
	Evd__ListDead ld = EVD__LIST_DEAD__INIT;
	Evd__Reply *r;
	int fd = greet(), i;

	if (fd < 0)
		return 1;
	sub.channel = "dl-chan";
	sub.has_visibility_timeout_ns = 1;
	sub.visibility_timeout_ns = 200 * MS;
	rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &sub;
	if (code_of(call(fd, &rq)) != 0)
		return 2;
	/* Delivered once, never acked: dead after the visibility. */
	if ((r = raw_next_fired(fd, 5000)) == NULL)
		return 3;
	evd__reply__free_unpacked(r, NULL);
	ld.channel = "dl-chan";
	rq.body_case = EVD__REQUEST__BODY_LIST_DEAD;
	rq.list_dead = &ld;
	for (i = 0; i < 50; i++) {
		usleep(100 * 1000);
		r = call(fd, &rq);
		if (r == NULL || r->body_case != EVD__REPLY__BODY_DEAD_LIST)
			return 4;
		sh->codes[0] = (int)r->dead_list->n_messages;
		evd__reply__free_unpacked(r, NULL);
		if (sh->codes[0] > 0)
			break;
	}
	close(fd);
	fd = greet();
	return grant_code(fd, "dl-chan", false, UID_B, false, true, true) == 0
	               ? 0
	               : 5;
}

/* B, revoked, may not send its dead letter once more. */
static int
dl_b_requeues(void)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__RequeueDead rd = EVD__REQUEUE_DEAD__INIT;
	int fd = greet();

	rd.channel = A_CHAN("dl-chan");
	rq.body_case = EVD__REQUEST__BODY_REQUEUE_DEAD;
	rq.requeue_dead = &rd;
	sh->codes[2] = code_of(call(fd, &rq));
	return 0;
}

static int
dl_a_purges(void)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__PurgeDead pd = EVD__PURGE_DEAD__INIT;
	Evd__Reply *r;
	int fd = greet();

	pd.channel = "dl-chan";
	rq.body_case = EVD__REQUEST__BODY_PURGE_DEAD;
	rq.purge_dead = &pd;
	r = call(fd, &rq);
	if (r == NULL)
		return 5;
	sh->codes[1] = r->body_case == EVD__REPLY__BODY_PURGED
	                       ? (int)r->purged->count
	                       : -(int)r->error->code;
	evd__reply__free_unpacked(r, NULL);
	close(fd);
	return 0;
}

static void
test_owner_sees_dead_letters(void **state)
{
	assert_int_equal(as_user(UID_A, GID_A, dl_a_owns_and_grants), 0);
	assert_int_equal(as_user(UID_B, GID_B, dl_b_sends), 0);
	assert_int_equal(as_user(UID_A, GID_A, dl_a_drops), 0);
	assert_int_equal(sh->codes[0], 1);
	assert_int_equal(as_user(UID_B, GID_B, dl_b_requeues), 0);
	assert_int_equal(sh->codes[2], EVD__ERROR_CODE__PERMISSION_DENIED);
	assert_int_equal(as_user(UID_A, GID_A, dl_a_purges), 0);
	assert_int_equal(sh->codes[1], 1);
}

/* Quotas from the configuration file: A's fourth timer is refused,
 * naming the quota; root is not limited; a cancel makes room again; the
 * daemon goes on serving everyone. */
static struct evd_proc qevd;

static int
quota_user(void)
{
	Evd__Reply *r;
	int fd, i;

	/* Talk to the quota daemon, not the shared one. */
	fd = raw_connect(qevd.sock);
	if (fd < 0 || raw_hello(fd, rid++) < 0)
		return 1;
	for (i = 0; i < 3; i++)
		sh->codes[i] = code_of(later(fd, NULL));
	r = later(fd, NULL);
	sh->codes[3] = r != NULL && r->body_case == EVD__REPLY__BODY_ERROR
	                       ? (int)r->error->code
	                       : 0;
	sh->codes[4] = r != NULL && r->body_case == EVD__REPLY__BODY_ERROR &&
	               strstr(r->error->message, "quota") != NULL;
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	/* A cancel frees a slot. */
	{
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__List l = EVD__LIST__INIT;
		uint64_t first, second;

		rq.body_case = EVD__REQUEST__BODY_LIST;
		rq.list = &l;
		r = call(fd, &rq);
		if (r == NULL || r->timer_list->n_timers != 3)
			return 2;
		first = r->timer_list->timers[0]->timer_id;
		second = r->timer_list->timers[1]->timer_id;
		evd__reply__free_unpacked(r, NULL);
		sh->codes[5] = cancel_code(fd, first);
		sh->codes[6] = code_of(later(fd, NULL)); /* room again */
		/* Kept cancelled and kept fired timers are not pending: they
		 * hold no place (issues 12 and 13). */
		sh->codes[7] = cancel_code(fd, second);
		sh->codes[8] = code_of(soon(fd));
		r = raw_next_fired(fd, 5000);
		sh->codes[9] = r != NULL ? 0 : 1;
		if (r != NULL)
			evd__reply__free_unpacked(r, NULL);
		sh->codes[10] = get_code(fd, first);
		sh->codes[11] = code_of(later(fd, NULL));
		sh->codes[12] = code_of(later(fd, NULL));
	}
	close(fd);
	return 0;
}

/*
 * Channel squatting: names live in their owner's namespace. B takes
 * "backup-status" first and grants A publish on it, yet A's messages to
 * "backup-status" land in A's own channel, never in B's; B can neither
 * subscribe to nor create a channel in A's namespace; names that are
 * not NAME or UID:NAME are refused; replies write a channel as their
 * reader would (bare for one's own) and name its owner.
 */
static int
ns_get_channel(int fd, const char *channel, char *ret_name, size_t size,
               uint32_t *ret_owner, uint64_t *ret_queued)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__GetChannel g = EVD__GET_CHANNEL__INIT;
	Evd__Reply *r;
	int code;

	g.channel = (char *)channel;
	rq.body_case = EVD__REQUEST__BODY_GET_CHANNEL;
	rq.get_channel = &g;
	r = call(fd, &rq);
	if (r != NULL && r->body_case == EVD__REPLY__BODY_CHANNEL_INFO) {
		snprintf(ret_name, size, "%s", r->channel_info->channel);
		*ret_owner = r->channel_info->owner_uid;
		*ret_queued = r->channel_info->queued_messages;
	}
	code = code_of(r);
	return code;
}

static int
ns_b_squats(void)
{
	int fd = greet();

	if (fd < 0 || subscribe_code(fd, "backup-status") != 0)
		return 1;
	sh->codes[0] = grant_code(fd, "backup-status", false, UID_A, false,
	                          true, false);
	/* A's namespace is A's: nothing of it can be taken. */
	sh->codes[1] = subscribe_code(fd, A_CHAN("ns-fresh"));
	sh->codes[2] = grant_code(fd, A_CHAN("ns-fresh"), false, UID_B, true,
	                          true, false);
	sh->codes[3] = code_of(later(fd, A_CHAN("ns-fresh")));
	return 0;
}

static int
ns_a_publishes(void)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallSoon cs = EVD__CALL_SOON__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Subscribe sub = EVD__SUBSCRIBE__INIT;
	Evd__Reply *r;
	char name[64] = "";
	uint32_t owner = 0;
	uint64_t queued = 0;
	int fd = greet();

	if (fd < 0)
		return 1;
	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = "backup-status";
	cb.has_payload = 1;
	cb.payload.data = (uint8_t *)"db password=secret";
	cb.payload.len = strlen("db password=secret");
	cs.callback = &cb;
	rq.body_case = EVD__REQUEST__BODY_CALL_SOON;
	rq.call_soon = &cs;
	sh->codes[4] = code_of(call(fd, &rq));
	/* Nobody took A's name: A's own subscription, shown bare. */
	sub.channel = "ns-fresh";
	rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &sub;
	r = call(fd, &rq);
	sh->codes[5] = r != NULL && r->body_case == EVD__REPLY__BODY_SUBSCRIBED &&
	               strcmp(r->subscribed->channel, "ns-fresh") == 0;
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	/* The explicit form of one's own name is the same channel. */
	sh->codes[6] = ns_get_channel(fd, A_CHAN("ns-fresh"), name,
	                              sizeof name, &owner, &queued);
	sh->codes[7] = strcmp(name, "ns-fresh") == 0 && owner == UID_A;
	/* B's channel, named explicitly: B's, and A may publish there. */
	sh->codes[8] = code_of(later(fd, "61002:backup-status"));
	return 0;
}

static void
test_channel_namespaces(void **state)
{
	static const char *const bad[] = {"abc:x", "061001:x", "4294967295:x",
	                                  ":x", "61001:", "99999999999:x"};
	char name[64];
	uint32_t owner;
	uint64_t queued;
	size_t i;
	int fd;

	assert_int_equal(as_user(UID_B, GID_B, ns_b_squats), 0);
	assert_int_equal(sh->codes[0], 0);
	assert_int_equal(sh->codes[1], EVD__ERROR_CODE__PERMISSION_DENIED);
	assert_int_equal(sh->codes[2], EVD__ERROR_CODE__PERMISSION_DENIED);
	assert_int_equal(sh->codes[3], EVD__ERROR_CODE__PERMISSION_DENIED);
	assert_int_equal(as_user(UID_A, GID_A, ns_a_publishes), 0);
	assert_int_equal(sh->codes[4], 0);
	assert_int_equal(sh->codes[5], 1);
	assert_int_equal(sh->codes[6], 0);
	assert_int_equal(sh->codes[7], 1);
	assert_int_equal(sh->codes[8], 0);

	/* Root sees where A's message went: A's channel, not B's (once the
	 * call_soon fired: its reply comes first). */
	fd = greet();
	assert_true(fd >= 0);
	for (i = 0; i < 500; i++) {
		assert_int_equal(ns_get_channel(fd, A_CHAN("backup-status"),
		                                name, sizeof name, &owner,
		                                &queued),
		                 0);
		if (queued == 1)
			break;
		usleep(10 * 1000);
	}
	assert_string_equal(name, A_CHAN("backup-status"));
	assert_int_equal(owner, UID_A);
	assert_int_equal(queued, 1);
	assert_int_equal(ns_get_channel(fd, "61002:backup-status", name,
	                                sizeof name, &owner, &queued),
	                 0);
	assert_int_equal(owner, UID_B);
	assert_int_equal(queued, 0); /* B's: only A's 1 h timer targets it */
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(subscribe_code(fd, bad[i]),
		                 EVD__ERROR_CODE__INVALID_ARGUMENT);
	close(fd);
}

/*
 * A flood into one's channel can be emptied in one request: B, granted
 * publish on A's channel, queues messages into it; B may purge only its
 * own, A purges B's (from_uid) without touching its own, a message
 * backing off before a redelivery goes too, and the purge survives a
 * crash.
 */
static int
purge_code(int fd, const char *channel, bool has_from, uint32_t from,
           uint64_t *ret_count)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Purge p = EVD__PURGE__INIT;
	Evd__Reply *r;
	int code;

	p.channel = (char *)channel;
	p.has_from_uid = has_from;
	p.from_uid = from;
	rq.body_case = EVD__REQUEST__BODY_PURGE;
	rq.purge = &p;
	r = call(fd, &rq);
	if (r != NULL && r->body_case == EVD__REPLY__BODY_PURGED && ret_count)
		*ret_count = r->purged->count;
	code = code_of(r);
	return code;
}

static int
pu_soon(int fd, const char *channel)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallSoon cs = EVD__CALL_SOON__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;

	cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
	cb.channel = (char *)channel;
	cs.callback = &cb;
	rq.body_case = EVD__REQUEST__BODY_CALL_SOON;
	rq.call_soon = &cs;
	return code_of(call(fd, &rq));
}

/* Waits (bounded) until channel has n messages waiting: a call_soon's
 * reply comes before its fire queues the message. 0, or -1. */
static int
pu_await(int fd, const char *channel, uint64_t n)
{
	char name[64];
	uint32_t owner;
	uint64_t queued = 0;
	int i;

	for (i = 0; i < 500; i++) {
		if (ns_get_channel(fd, channel, name, sizeof name, &owner,
		                   &queued) == 0 &&
		    queued == n)
			return 0;
		usleep(10 * 1000);
	}
	return -1;
}

static int
pu_a_owns_and_grants(void)
{
	int fd = greet(), i;

	if (fd < 0)
		return 1;
	if (grant_code(fd, "pu-chan", false, UID_B, false, true, false) != 0)
		return 2;
	/* Two of A's own, which a purge of B's leaves. */
	for (i = 0; i < 2; i++)
		if (pu_soon(fd, "pu-chan") != 0)
			return 3;
	return pu_await(fd, "pu-chan", 2) == 0 ? 0 : 4;
}

static int
pu_b_floods(void)
{
	uint64_t n = 99;
	int fd = greet(), i;

	if (fd < 0)
		return 1;
	for (i = 0; i < 6; i++)
		if (pu_soon(fd, A_CHAN("pu-chan")) != 0)
			return 2;
	/* A grantee may look at the channel: A's 2 and B's 6 waiting. */
	if (pu_await(fd, A_CHAN("pu-chan"), 8) < 0)
		return 4;
	/* B may not purge A's messages; its own, only its own. */
	sh->codes[0] = purge_code(fd, A_CHAN("pu-chan"), true, UID_A, NULL);
	sh->codes[1] = purge_code(fd, A_CHAN("pu-chan"), true, UID_B, &n);
	sh->codes[8] = (int)n;
	/* Six again, for A to purge. */
	for (i = 0; i < 6; i++)
		if (pu_soon(fd, A_CHAN("pu-chan")) != 0)
			return 3;
	return pu_await(fd, A_CHAN("pu-chan"), 8) == 0 ? 0 : 5;
}

/* A takes one of its own messages and lets its visibility run out, so
 * that it backs off before a redelivery; then purges B's, then its own
 * (the one backing off included). */
static int
pu_a_purges(void)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Subscribe sub = EVD__SUBSCRIBE__INIT;
	Evd__Reply *r;
	uint64_t n = 0;
	int fd = greet(), sfd = greet();

	if (fd < 0 || sfd < 0)
		return 1;
	sh->codes[2] = purge_code(fd, "pu-chan", true, UID_B, &n);
	sh->codes[3] = (int)n; /* B's 6 */
	sub.channel = "pu-chan";
	sub.has_visibility_timeout_ns = 1;
	sub.visibility_timeout_ns = 200 * MS;
	rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &sub;
	if (code_of(call(sfd, &rq)) != 0)
		return 2;
	/* Both of A's are delivered; neither is acked. */
	if ((r = raw_next_fired(sfd, 3000)) == NULL)
		return 3;
	evd__reply__free_unpacked(r, NULL);
	if ((r = raw_next_fired(sfd, 3000)) == NULL)
		return 4;
	evd__reply__free_unpacked(r, NULL);
	/* Past the visibility, before the backoff (>= 0.8 s) ends. */
	usleep(450 * 1000);
	n = 0;
	sh->codes[4] = purge_code(fd, "pu-chan", false, 0, &n);
	sh->codes[5] = (int)n; /* A's 2, backing off */
	/* Gone: nothing is redelivered. */
	r = raw_next_fired(sfd, 2000);
	sh->codes[6] = r == NULL;
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	sh->codes[7] = purge_code(fd, "pu-none", false, 0, NULL);
	close(sfd);
	close(fd);
	return 0;
}

static void
test_owner_purges_queue(void **state)
{
	char name[64];
	uint32_t owner;
	uint64_t queued = 99;
	int fd;

	assert_int_equal(as_user(UID_A, GID_A, pu_a_owns_and_grants), 0);
	assert_int_equal(as_user(UID_B, GID_B, pu_b_floods), 0);
	assert_int_equal(sh->codes[0], EVD__ERROR_CODE__PERMISSION_DENIED);
	assert_int_equal(sh->codes[1], 0);
	assert_int_equal(sh->codes[8], 6);
	assert_int_equal(as_user(UID_A, GID_A, pu_a_purges), 0);
	assert_int_equal(sh->codes[2], 0);
	assert_int_equal(sh->codes[3], 6);
	assert_int_equal(sh->codes[4], 0);
	assert_int_equal(sh->codes[5], 2);
	assert_int_equal(sh->codes[6], 1);
	assert_int_equal(sh->codes[7], EVD__ERROR_CODE__NOT_FOUND);
	/* Durable: after a crash the queue is still empty. */
	evd_kill9(&evd);
	assert_int_equal(evd_start_in(&evd, NULL), 0);
	fd = greet();
	assert_true(fd >= 0);
	assert_int_equal(ns_get_channel(fd, A_CHAN("pu-chan"), name,
	                                sizeof name, &owner, &queued),
	                 0);
	assert_int_equal(queued, 0);
	close(fd);
}


static void
test_quotas(void **state)
{
	char conf[600];
	const char *args[] = { "--config", conf, NULL };
	FILE *f;
	int fd, i;

	assert_true(snprintf(conf, sizeof conf, "%s/quota.conf", evd.dir) <
	            (int)sizeof conf);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "quota_timers = 3\n");
	fclose(f);
	assert_int_equal(evd_start(&qevd, args), 0);
	assert_int_equal(chmod(qevd.dir, 0755), 0);
	assert_int_equal(as_user(UID_A, GID_A, quota_user), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(sh->codes[i], 0);
	assert_int_equal(sh->codes[3], EVD__ERROR_CODE__RESOURCE_EXHAUSTED);
	assert_int_equal(sh->codes[4], 1);
	assert_int_equal(sh->codes[5], 0);
	assert_int_equal(sh->codes[6], 0);
	for (i = 7; i <= 11; i++)
		assert_int_equal(sh->codes[i], 0);
	assert_int_equal(sh->codes[12], EVD__ERROR_CODE__RESOURCE_EXHAUSTED);
	/* Root is counted, not limited; the daemon serves on. */
	fd = raw_connect(qevd.sock);
	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, rid++), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(code_of(later(fd, NULL)), 0);
	close(fd);
	assert_int_equal(evd_stop(&qevd), 0);
}

/*
 * Bytes quota: a timer costs its record (QUOTA_TIMER_OVERHEAD, 256) and
 * its idempotency key, not only its payload. With 2048 bytes, A's four
 * timers with 250-byte keys fit (4 * 506) and a fifth does not; B's
 * eight timers with no key and no payload fit (8 * 256) and a ninth does
 * not. Before, keys and records were free: 60,000 chosen keys or a
 * million empty timers cost their owner no bytes.
 */
static struct evd_proc bevd;

/* A channel timer due in delay_ns: its reply's error code (0: ok). */
static int
later_delay_code(int fd, const char *channel, int64_t delay_ns)
{
	return code_of(later_full(fd, channel, NULL, delay_ns, 0));
}

static int
later_key_code(int fd, const char *channel, const char *key)
{
	return code_of(later_full(fd, channel, key, 3600 * SEC, 0));
}

static int
bytes_user(int n, bool keyed)
{
	char key[251];
	int fd, i;

	fd = raw_connect(bevd.sock);
	if (fd < 0 || raw_hello(fd, rid++) < 0)
		return 1;
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	for (i = 0; i < n; i++) {
		key[0] = (char)('a' + i);
		/* Each its own channel: channels are first come. */
		sh->codes[i] = later_key_code(fd, keyed ? "bq-a" : "bq-b",
		                              keyed ? key : NULL);
	}
	close(fd);
	return 0;
}

static int
bytes_user_a(void)
{
	return bytes_user(5, true);
}

static int
bytes_user_b(void)
{
	return bytes_user(9, false);
}

static void
test_key_and_record_bytes_count(void **state)
{
	char conf[600];
	const char *args[] = { "--config", conf, NULL };
	FILE *f;
	int i;

	assert_true(snprintf(conf, sizeof conf, "%s/bytes.conf", evd.dir) <
	            (int)sizeof conf);
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "quota_bytes = 2048\n");
	fclose(f);
	assert_int_equal(evd_start(&bevd, args), 0);
	assert_int_equal(chmod(bevd.dir, 0755), 0);
	assert_int_equal(as_user(UID_A, GID_A, bytes_user_a), 0);
	for (i = 0; i < 4; i++)
		assert_int_equal(sh->codes[i], 0);
	assert_int_equal(sh->codes[4], EVD__ERROR_CODE__RESOURCE_EXHAUSTED);
	assert_int_equal(as_user(UID_B, GID_B, bytes_user_b), 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(sh->codes[i], 0);
	assert_int_equal(sh->codes[8], EVD__ERROR_CODE__RESOURCE_EXHAUSTED);
	assert_int_equal(evd_stop(&bevd), 0);
}

/* ---- rates and counts one user may impose on the others ---- */

static struct evd_proc levd; /* started with small per-uid limits */

static void
limits_start(const char *text)
{
	char conf[600];
	const char *args[] = { "--config", conf, NULL };
	FILE *f;

	assert_true(snprintf(conf, sizeof conf, "%s/limits.conf", evd.dir) <
	            (int)sizeof conf);
	f = fopen(conf, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(evd_start(&levd, args), 0);
	assert_int_equal(chmod(levd.dir, 0755), 0);
}

static int
lgreet(void)
{
	int fd = raw_connect(levd.sock);

	if (fd < 0 || raw_hello(fd, rid++) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Five connections of A's are served, its sixth is told why and closed;
 * once A closes one, it may connect again. Root is not limited. */
static int
conns_user(void)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Hello h = EVD__HELLO__INIT;
	Evd__Reply *r;
	int fds[5], fd, i;

	for (i = 0; i < 5; i++)
		if ((fds[i] = lgreet()) < 0)
			return 1;
	if ((fd = raw_connect(levd.sock)) < 0)
		return 2;
	rq.body_case = EVD__REQUEST__BODY_HELLO;
	rq.hello = &h;
	rq.has_request_id = 1;
	rq.request_id = rid++;
	(void)raw_send_request(fd, &rq);
	r = raw_recv_reply(fd, 5000);
	sh->codes[0] = r != NULL && r->body_case == EVD__REPLY__BODY_ERROR
	                       ? (int)r->error->code
	                       : 0;
	sh->codes[1] = r != NULL && r->body_case == EVD__REPLY__BODY_ERROR &&
	               strstr(r->error->message, "max_connections_per_uid") !=
	                   NULL;
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	sh->codes[2] = raw_wait_eof(fd, 5000);
	close(fd);
	close(fds[0]);
	/* The close is seen on evd's next turn: retry briefly. */
	for (i = 0; i < 50 && (fd = lgreet()) < 0; i++)
		usleep(20000);
	sh->codes[3] = fd >= 0;
	if (fd >= 0)
		close(fd);
	for (i = 1; i < 5; i++)
		close(fds[i]);
	return 0;
}

static void
test_connections_per_uid(void **state)
{
	int fds[8], i;

	limits_start("max_connections_per_uid = 5\n");
	assert_int_equal(as_user(UID_A, GID_A, conns_user), 0);
	assert_int_equal(sh->codes[0], EVD__ERROR_CODE__RESOURCE_EXHAUSTED);
	assert_int_equal(sh->codes[1], 1);
	assert_true(sh->codes[2]);
	assert_int_equal(sh->codes[3], 1);
	for (i = 0; i < 8; i++)
		assert_true((fds[i] = lgreet()) >= 0);
	for (i = 0; i < 8; i++)
		close(fds[i]);
	assert_int_equal(evd_stop(&levd), 0);
}

/* A repeating channel timer every 10 ms from A is refused (each fire is
 * a store write); every second is fine, and so is a caller timer every
 * millisecond, and root's channel timer every 10 ms. */
static int
every_code(int fd, const char *channel, int64_t every_ns)
{
	return code_of(later_full(fd, channel, NULL, 3600 * SEC, every_ns));
}

static int
repeat_user(void)
{
	int fd = lgreet();

	if (fd < 0)
		return 1;
	sh->codes[0] = every_code(fd, "rep-a", 10 * MS);
	sh->codes[1] = every_code(fd, "rep-a", SEC);
	sh->codes[2] = every_code(fd, NULL, 1 * MS);
	close(fd);
	return 0;
}

static void
test_min_repeat_interval(void **state)
{
	int fd;

	limits_start("");
	assert_int_equal(as_user(UID_A, GID_A, repeat_user), 0);
	assert_int_equal(sh->codes[0], EVD__ERROR_CODE__INVALID_ARGUMENT);
	assert_int_equal(sh->codes[1], 0);
	assert_int_equal(sh->codes[2], 0);
	fd = lgreet();
	assert_true(fd >= 0);
	assert_int_equal(every_code(fd, "rep-root", 10 * MS), 0);
	close(fd);
	assert_int_equal(evd_stop(&levd), 0);
}

/* A channel timer in an hour: its id, 0 on failure. */
static uint64_t
later_id(int fd, const char *channel)
{
	Evd__Reply *r = later(fd, channel);
	uint64_t id = 0;

	if (r != NULL && r->body_case == EVD__REPLY__BODY_SCHEDULED)
		id = r->scheduled->timer_id;
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	return id;
}

static int
wait_code(int fd, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Wait w = EVD__WAIT__INIT;

	w.has_timer_id = 1;
	w.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_WAIT;
	rq.wait = &w;
	return code_of(call(fd, &rq));
}

static int
waits_user(void)
{
	uint64_t id[3];
	int fd = lgreet(), i;

	if (fd < 0)
		return 1;
	for (i = 0; i < 3; i++)
		if ((id[i] = later_id(fd, "waits-a")) == 0)
			return 2;
	for (i = 0; i < 3; i++)
		sh->codes[i] = wait_code(fd, id[i]);
	close(fd);
	return 0;
}

/* Waits are memory evd keeps for their owner: counted in its bytes. With
 * room for three timers and two waits, a third wait is refused. */
static void
test_waits_are_counted(void **state)
{
	char text[64];

	snprintf(text, sizeof text, "quota_bytes = %d\n", 3 * 256 + 2 * 64);
	limits_start(text);
	assert_int_equal(as_user(UID_A, GID_A, waits_user), 0);
	assert_int_equal(sh->codes[0], 0);
	assert_int_equal(sh->codes[1], 0);
	assert_int_equal(sh->codes[2], EVD__ERROR_CODE__RESOURCE_EXHAUSTED);
	assert_int_equal(evd_stop(&levd), 0);
}

/* Pending timers of the whole daemon (Stats, as root). */
static uint64_t
pending_now(void)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Stats st = EVD__STATS__INIT;
	Evd__Reply *r;
	uint64_t n = UINT64_MAX;
	int fd = lgreet();

	assert_true(fd >= 0);
	rq.body_case = EVD__REQUEST__BODY_STATS;
	rq.stats = &st;
	r = call(fd, &rq);
	if (r != NULL && r->body_case == EVD__REPLY__BODY_STATS)
		n = r->stats->pending_timers;
	if (r != NULL)
		evd__reply__free_unpacked(r, NULL);
	close(fd);
	return n;
}

static int
burst_user(void)
{
	int fd = lgreet(), i;

	if (fd < 0)
		return 1;
	for (i = 0; i < 200; i++)
		if (later_delay_code(fd, "burst-a", 300 * MS) != 0)
			return 2;
	close(fd);
	return 0;
}

/*
 * max_fires_per_uid = 10: 200 channel timers of A's all due at once fire
 * at about ten a second (a second's worth at once), so half a second
 * after they are due well over a hundred still wait, however slow this
 * machine is (5 s of delay would still leave 135); the same burst of
 * root's is not held back and is gone within seconds.
 */
static void
test_fire_rate_per_uid(void **state)
{
	uint64_t left;
	int fd, i;

	limits_start("max_fires_per_uid = 10\n");
	assert_int_equal(as_user(UID_A, GID_A, burst_user), 0);
	usleep(800 * 1000);
	left = pending_now();
	print_message("A: %llu of 200 still pending 0.5 s after due\n",
	              (unsigned long long)left);
	assert_true(left >= 100 && left <= 200);
	assert_int_equal(evd_stop(&levd), 0);

	limits_start("max_fires_per_uid = 10\n");
	fd = lgreet();
	assert_true(fd >= 0);
	for (i = 0; i < 200; i++)
		assert_int_equal(later_delay_code(fd, "burst-root", 300 * MS),
		                 0);
	close(fd);
	for (i = 0; i < 100 && (left = pending_now()) > 0; i++)
		usleep(100 * 1000);
	assert_int_equal(left, 0);
	assert_int_equal(evd_stop(&levd), 0);
}

/* A user instance (evd run by A) serves A and root, not B. */
static char user_sock[256];

static int
user_hello(void)
{
	int fd = raw_connect(user_sock);

	return fd >= 0 && raw_hello(fd, 1) == 0 ? 0 : 1;
}

static void
test_user_instance(void **state)
{
	char dir[] = "/tmp/evd-test.XXXXXX";
	int i, fd = -1, status;
	pid_t pid;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(chown(dir, UID_A, GID_A), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	snprintf(user_sock, sizeof user_sock, "%s/evd.sock", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDERR_FILENO);
		if (setgroups(0, NULL) < 0 || setgid(GID_A) < 0 ||
		    setuid(UID_A) < 0)
			_exit(99);
		/* A's own environment, not root's. */
		setenv("HOME", dir, 1);
		unsetenv("XDG_CONFIG_HOME");
		unsetenv("XDG_STATE_HOME");
		execl(EVD_BIN, EVD_BIN, "--socket", user_sock, "--store",
		      "memory", (char *)NULL);
		_exit(errno == EACCES ? 126 : 127);
	}
	/* Bounded wait for the socket to answer. */
	for (i = 0; i < 500 && fd < 0; i++) {
		fd = raw_connect(user_sock);
		if (fd >= 0)
			break;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			rm_rf(dir);
			if (WIFEXITED(status) && WEXITSTATUS(status) == 126) {
				/* The build tree is not reachable by another
				 * uid (e.g. under a 0700 directory). */
				printf("SKIP: uid %d cannot execute %s\n", UID_A,
				       EVD_BIN);
				skip();
			}
			fail_msg("evd as uid %d exited (status %d)", UID_A,
			         status);
		}
		usleep(10000);
	}
	assert_true(fd >= 0);
	assert_int_equal(raw_hello(fd, 1), 0); /* root */
	close(fd);
	/* The socket is 0600: B cannot even connect; A can. */
	assert_int_equal(as_user(UID_A, GID_A, user_hello), 0);
	assert_int_equal(as_user(UID_B, GID_B, user_hello), 1);
	/* Even with the mode widened, B is refused by uid. */
	assert_int_equal(chmod(user_sock, 0666), 0);
	assert_int_equal(as_user(UID_B, GID_B, user_hello), 1);
	assert_int_equal(as_user(UID_A, GID_A, user_hello), 0);
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	rm_rf(dir);
}

static int
setup(void **state)
{
	if (geteuid() != 0) {
		printf("SKIP: test_security needs root to act as other uids\n");
		exit(77);
	}
	sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
	          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED || evd_start(&evd, NULL) < 0)
		return -1;
	/* Other uids must reach the socket inside the test directory. */
	return chmod(evd.dir, 0755);
}

static int
teardown(void **state)
{
	return evd_stop(&evd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_isolation),
		cmocka_unit_test(test_ended_isolation),
		cmocka_unit_test(test_grants),
		cmocka_unit_test(test_revoke_is_immediate),
		cmocka_unit_test(test_user_instance),
		cmocka_unit_test(test_revoke_stops_scheduled_timers),
		cmocka_unit_test(test_owner_sees_dead_letters),
		cmocka_unit_test(test_channel_namespaces),
		cmocka_unit_test(test_owner_purges_queue),
		cmocka_unit_test(test_quotas),
		cmocka_unit_test(test_key_and_record_bytes_count),
		cmocka_unit_test(test_connections_per_uid),
		cmocka_unit_test(test_min_repeat_interval),
		cmocka_unit_test(test_fire_rate_per_uid),
		cmocka_unit_test(test_waits_are_counted),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
