/*
 * test_security: identity and authorisation against the real evd (run as
 * root, the system instance). Clients run as two unprivileged uids in
 * forked children (setgroups/setgid/setuid; numeric ids, so the test
 * needs no accounts on the machine): others' timers do not exist for
 * them; a channel belongs to its first user, and others need its owner's
 * grant (by uid or by group) to subscribe or publish; grants survive a
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

#define UID_A 61001
#define UID_B 61002
#define GID_A 61001
#define GID_B 61002
#define GID_TEAM 61500 /* B's supplementary group */
#define SEC 1000000000LL

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

static Evd__Reply *
later(int fd, const char *channel)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;

	cl.has_delay_ns = 1;
	cl.delay_ns = 3600 * SEC;
	if (channel != NULL) {
		cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb.channel = (char *)channel;
	}
	cl.callback = &cb;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	return call(fd, &rq);
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
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(uid == UID_B ? 1 : 0, &team) < 0 ||
		    setgid(gid) < 0 || setuid(uid) < 0)
			_exit(99);
		_exit(fn());
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
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
	sh->codes[3] = subscribe_code(fd, "a-chan");
	sh->codes[4] = code_of(later(fd, "a-chan"));
	sh->codes[5] = grant_code(fd, "a-chan", false, UID_B, true, true,
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
	sh->codes[2] = subscribe_code(fd, "a-chan");
	sh->codes[3] = code_of(later(fd, "a-chan"));
	/* Still not the owner: B cannot grant, nor see A's timers. */
	sh->codes[4] = grant_code(fd, "a-chan", false, UID_B, true, true,
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
	sh->codes[7] = subscribe_code(fd, "a-chan");
	sh->codes[8] = code_of(later(fd, "a-chan")); /* gid grant stays */
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

	if (fd < 0 || subscribe_code(fd, "rv-chan") != 0)
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
	cb.channel = "rv-chan";
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
		cmocka_unit_test(test_quotas),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
