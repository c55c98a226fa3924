/*
 * test_client_exec: the EVCLIENT_1.3 API of libevclient against the real
 * evd: channel grants (evc_channel_grant, evc_get_channel, blocking and
 * asynchronous), and exec hooks through the library (struct evc_exec,
 * evc_wait, evc_wait_async): exit status and output tails, payload on
 * stdin, EVD_TIMER_ID, a hook killed at its timeout, a wait on a
 * cancelled timer, a wait on a timer that already finished, the
 * argument checks of the library; and of EVCLIENT_1.5 the exec options
 * (user filled in, properties, retries, on-failure) and evc_retry.
 *
 * The exec cases need a daemon with exec hooks: setup schedules one and,
 * if evd refuses it as an unknown callback target, prints "SKIP: daemon
 * without exec hooks" and each exec case skips (cmocka skip()). Waits
 * are bounded; nothing sleeps.
 */
#include <errno.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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
#define HOUR (3600000LL * MS)
/* A uid and a gid that need not exist: grants name ids, not accounts. */
#define GRANTEE_UID 61002u
#define GRANTEE_GID 61003u

static struct evd_proc evd;
static const char *const evd_args[] = {"--store", "sqlite", NULL};
static bool exec_supported;

static struct evc *
client(const char *name)
{
	char err[256];
	struct evc *c = NULL;

	if (evc_connect(evd.sock, name, 5000, &c, err, sizeof err) < 0)
		fail_msg("evc_connect: %s", err);
	return c;
}

/* Does this evd run exec hooks? Asks with a harmless far-away timer. */
static bool
probe_exec(void)
{
	static const char *const argv[] = {"/bin/true"};
	struct evc_exec ex = {.argv = argv, .argc = 1};
	struct evc_callback cb = {.exec = &ex};
	struct evc_scheduled s;
	struct evc *c = client("probe");
	bool ok;
	int r;

	r = evc_call_later(c, HOUR, EVC_CLOCK_MONOTONIC, &cb, 5000, &s);
	if (r == -EVC_E_INVALID_ARGUMENT &&
	    strstr(evc_errmsg(c), "unknown callback target") != NULL) {
		ok = false;
	} else {
		if (r < 0)
			fail_msg("probe exec timer: %s", evc_errmsg(c));
		assert_int_equal(evc_cancel(c, s.timer_id, 5000), 0);
		ok = true;
	}
	evc_close(c);
	return ok;
}

static int
setup(void **state)
{
	if (evd_start(&evd, evd_args) < 0)
		return -1;
	exec_supported = probe_exec();
	if (!exec_supported)
		printf("SKIP: daemon without exec hooks\n");
	return 0;
}

static int
teardown(void **state)
{
	return evd_stop(&evd) == 0 ? 0 : -1;
}

/* ---- channel grants ---- */

/* Makes the caller the owner of channel: a timer into it creates it. */
static void
make_channel(struct evc *c, const char *channel)
{
	struct evc_callback cb = {.channel = channel};
	struct evc_scheduled s;

	assert_int_equal(
	    evc_call_later(c, HOUR, EVC_CLOCK_MONOTONIC, &cb, 5000, &s), 0);
}

static const struct evc_channel_grant *
find_grant(const struct evc_channel_info *ci, bool is_gid, uint32_t id)
{
	size_t i;

	for (i = 0; i < ci->grant_count; i++)
		if (ci->grants[i].is_gid == is_gid && ci->grants[i].id == id)
			return &ci->grants[i];
	return NULL;
}

static void
test_grant_round_trip(void **state)
{
	struct evc *c = client("grants");
	struct evc_channel_info ci = {0};
	const struct evc_channel_grant *g;

	make_channel(c, "granted");
	assert_int_equal(evc_get_channel(c, "granted", 5000, &ci), 0);
	assert_string_equal(ci.channel, "granted");
	assert_int_equal(ci.owner_uid, getuid());
	assert_int_equal(ci.grant_count, 0);
	evc_channel_info_free(&ci);

	/* Grant: the reply is the channel as it now is. */
	assert_int_equal(evc_channel_grant(c, "granted", false, GRANTEE_UID,
					   true, false, false, 5000, &ci),
			 0);
	g = find_grant(&ci, false, GRANTEE_UID);
	assert_non_null(g);
	assert_true(g->subscribe);
	assert_false(g->publish);
	evc_channel_info_free(&ci);
	assert_null(ci.grants);

	/* A gid grant, without asking for the result. */
	assert_int_equal(evc_channel_grant(c, "granted", true, GRANTEE_GID,
					   true, true, false, 5000, NULL),
			 0);
	assert_int_equal(evc_get_channel(c, "granted", 5000, &ci), 0);
	assert_int_equal(ci.grant_count, 2);
	g = find_grant(&ci, false, GRANTEE_UID);
	assert_non_null(g);
	assert_true(g->subscribe);
	g = find_grant(&ci, true, GRANTEE_GID);
	assert_non_null(g);
	assert_true(g->subscribe);
	assert_true(g->publish);
	assert_int_equal(ci.queued_messages, 0);
	evc_channel_info_free(&ci);

	/* Revoke: the uid's only right goes, and the grant with it. */
	assert_int_equal(evc_channel_grant(c, "granted", false, GRANTEE_UID,
					   true, false, true, 5000, &ci),
			 0);
	assert_null(find_grant(&ci, false, GRANTEE_UID));
	assert_non_null(find_grant(&ci, true, GRANTEE_GID));
	evc_channel_info_free(&ci);
	assert_int_equal(evc_get_channel(c, "granted", 5000, &ci), 0);
	assert_null(find_grant(&ci, false, GRANTEE_UID));
	evc_channel_info_free(&ci);

	evc_close(c);
}

static void
test_grant_errors(void **state)
{
	struct evc *c = client("grant-errors");
	struct evc_channel_info ci = {0};

	assert_int_equal(evc_get_channel(c, "no-such-channel", 5000, &ci),
			 -EVC_E_NOT_FOUND);
	assert_null(ci.channel); /* untouched on failure */
	/* A grant on a channel of one's own that nobody used yet makes it:
	 * its name is its owner's, so nobody else could have taken it. */
	assert_int_equal(evc_channel_grant(c, "grant-makes-channel", false,
					   GRANTEE_UID, true, false, false,
					   5000, &ci),
			 0);
	assert_int_equal(ci.grant_count, 1);
	assert_int_equal(ci.owner_uid, getuid());
	evc_channel_info_free(&ci);
	memset(&ci, 0, sizeof(ci));
	make_channel(c, "norights");
	/* Neither right named: for the daemon to refuse. */
	assert_int_equal(evc_channel_grant(c, "norights", false, GRANTEE_UID,
					   false, false, false, 5000, NULL),
			 -EVC_E_INVALID_ARGUMENT);
	assert_int_equal(evc_get_channel(c, NULL, 5000, &ci), -EVC_E_USAGE);
	assert_int_equal(evc_get_channel(c, "norights", 5000, NULL),
			 -EVC_E_USAGE);
	assert_int_equal(evc_channel_grant(c, NULL, false, 1, true, false,
					   false, 5000, NULL),
			 -EVC_E_USAGE);
	assert_int_equal(evc_get_channel(NULL, "x", 5000, &ci), -EVC_E_USAGE);
	evc_channel_info_free(NULL);
	evc_run_free(NULL);
	evc_close(c);
}

struct async_out {
	int calls;
	int status;
	size_t grants;
	uint32_t owner;
	/* evc_wait_async */
	int outcome;
	int exit_code;
	char out[64];
};

static void
channel_done_cb(struct evc *c, const struct evc_result *res, void *arg)
{
	struct async_out *o = arg;

	o->calls++;
	o->status = res->status;
	if (res->status == 0) {
		assert_non_null(res->channel);
		o->grants = res->channel->grant_count;
		o->owner = res->channel->owner_uid;
	} else {
		assert_null(res->channel);
	}
}

static void
test_grant_async(void **state)
{
	struct evc *c = client("grant-async");
	struct async_out a = {0}, b = {0}, d = {0};

	make_channel(c, "async-granted");
	assert_int_equal(evc_channel_grant_async(c, "async-granted", false,
						 GRANTEE_UID, false, true,
						 false, channel_done_cb, &a),
			 0);
	assert_int_equal(evc_get_channel_async(c, "async-granted",
					       channel_done_cb, &b),
			 0);
	assert_int_equal(
	    evc_get_channel_async(c, "no-such-channel", channel_done_cb, &d),
	    0);
	assert_int_equal(evc_drain(c, 5000), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.grants, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.grants, 1);
	assert_int_equal(b.owner, getuid());
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.status, -EVC_E_NOT_FOUND);
	evc_close(c);
}

/* ---- purging a channel's queue (EVCLIENT_1.6) ---- */

static void
count_done_cb(struct evc *c, const struct evc_result *res, void *arg)
{
	struct async_out *o = arg;

	(void)c;
	o->calls++;
	o->status = res->status;
	o->grants = (size_t)res->count;
}

/* Waits until n messages wait in channel: a call_soon's reply comes
 * before its fire queues the message. */
static void
await_queued(struct evc *c, const char *channel, uint64_t n)
{
	struct evc_channel_info ci;
	int i;

	for (i = 0; i < 500; i++) {
		assert_int_equal(evc_get_channel(c, channel, 5000, &ci), 0);
		if (ci.queued_messages == n) {
			evc_channel_info_free(&ci);
			return;
		}
		evc_channel_info_free(&ci);
		usleep(10 * 1000);
	}
	fail_msg("%s never had %llu messages waiting", channel,
		 (unsigned long long)n);
}

/* Messages waiting with no subscriber go, sync and async; a purge of
 * nothing is 0; another publisher's messages are the owner's to purge;
 * an unknown channel and a NULL name are errors. */
static void
test_purge(void **state)
{
	struct evc *c = client("purge");
	struct evc_callback cb = {.channel = "purged-queue"};
	struct evc_scheduled s;
	struct async_out a = {0};
	uint64_t n = 99;
	int i;

	for (i = 0; i < 3; i++)
		assert_int_equal(evc_call_soon(c, &cb, 5000, &s), 0);
	await_queued(c, "purged-queue", 3);
	assert_int_equal(evc_purge(c, "purged-queue", false, 0, 5000, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(evc_purge(c, "purged-queue", false, 0, 5000, &n), 0);
	assert_int_equal(n, 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(evc_call_soon(c, &cb, 5000, &s), 0);
	await_queued(c, "purged-queue", 2);
	/* As the owner: only uid 12345's, of which there are none. */
	assert_int_equal(evc_purge(c, "purged-queue", true, 12345, 5000, &n),
			 0);
	assert_int_equal(n, 0);
	assert_int_equal(evc_purge_async(c, "purged-queue", true, getuid(),
					 count_done_cb, &a),
			 0);
	assert_int_equal(evc_drain(c, 5000), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.grants, 2);
	assert_int_equal(evc_purge(c, "no-such-queue", false, 0, 5000, &n),
			 -EVC_E_NOT_FOUND);
	assert_int_equal(evc_purge(c, NULL, false, 0, 5000, &n), -EVC_E_USAGE);
	evc_close(c);
}

/* ---- exec hooks ---- */

#define NEED_EXEC()                                                            \
	do {                                                                   \
		if (!exec_supported)                                           \
			skip();                                                \
	} while (0)

/* Schedules an exec hook to run now; returns the timer id. */
static uint64_t
exec_soon(struct evc *c, const struct evc_exec *ex, const char *payload)
{
	struct evc_callback cb = {
	    .exec = ex,
	    .payload = payload,
	    .payload_len = payload != NULL ? strlen(payload) : 0,
	};
	struct evc_scheduled s;

	if (evc_call_soon(c, &cb, 5000, &s) < 0)
		fail_msg("evc_call_soon (exec): %s", evc_errmsg(c));
	return s.timer_id;
}

static void
test_exec_exit_and_tails(void **state)
{
	static const char *const argv[] = {
	    "/bin/sh", "-c", "echo out; echo err >&2; exit 3"};
	struct evc_exec ex = {.argv = argv, .argc = 3};
	struct evc_timer_info ti;
	struct evc_run run;
	struct evc *c;
	uint64_t id;

	NEED_EXEC();
	c = client("exec-exit");
	id = exec_soon(c, &ex, NULL);
	if (evc_wait(c, id, 10000, &run) < 0)
		fail_msg("evc_wait: %s", evc_errmsg(c));
	assert_int_equal(run.outcome, EVC_RUN_EXEC_EXITED);
	assert_int_equal(run.exit_code, 3);
	assert_int_equal(run.signal, 0);
	assert_true(run.duration_ns > 0);
	assert_non_null(run.stdout_tail);
	assert_int_equal(run.stdout_len, 4);
	assert_memory_equal(run.stdout_tail, "out\n", 4);
	assert_non_null(run.stderr_tail);
	assert_string_equal((const char *)run.stderr_tail, "err\n");
	evc_run_free(&run);
	assert_null(run.stdout_tail);

	/* evc_get shows the command and the run. */
	assert_int_equal(evc_get(c, id, 5000, &ti), 0);
	assert_int_equal(ti.exec_argc, 3);
	assert_string_equal(ti.exec_argv[0], "/bin/sh");
	assert_string_equal(ti.exec_argv[2], "echo out; echo err >&2; exit 3");
	assert_null(ti.exec_argv[3]);
	assert_false(ti.exec_shell);
	assert_null(ti.channel);
	evc_timer_info_free(&ti);
	evc_close(c);
}

static void
test_exec_payload_stdin(void **state)
{
	static const char *const argv[] = {"cat"};
	struct evc_exec ex = {.argv = argv, .argc = 1};
	struct evc_run run;
	struct evc *c;
	uint64_t id;

	NEED_EXEC();
	c = client("exec-stdin");
	id = exec_soon(c, &ex, "hello hook");
	if (evc_wait(c, id, 10000, &run) < 0)
		fail_msg("evc_wait: %s", evc_errmsg(c));
	assert_int_equal(run.outcome, EVC_RUN_EXEC_EXITED);
	assert_int_equal(run.exit_code, 0);
	assert_string_equal((const char *)run.stdout_tail, "hello hook");
	evc_run_free(&run);
	evc_close(c);
}

static void
test_exec_env_timer_id(void **state)
{
	static const char *const argv[] = {"echo $EVD_TIMER_ID $EXTRA; pwd"};
	static const char *const env[] = {"EXTRA=extra"};
	struct evc_exec ex = {.argv = argv,
			      .argc = 1,
			      .shell = true,
			      .env = env,
			      .nenv = 1,
			      .cwd = "/tmp"};
	struct evc_timer_info ti;
	struct evc_run run;
	struct evc *c;
	char want[64];
	uint64_t id;

	NEED_EXEC();
	c = client("exec-env");
	id = exec_soon(c, &ex, NULL);
	if (evc_wait(c, id, 10000, &run) < 0)
		fail_msg("evc_wait: %s", evc_errmsg(c));
	assert_int_equal(run.outcome, EVC_RUN_EXEC_EXITED);
	snprintf(want, sizeof want, "%llu extra\n/tmp\n",
		 (unsigned long long)id);
	assert_string_equal((const char *)run.stdout_tail, want);
	evc_run_free(&run);

	assert_int_equal(evc_get(c, id, 5000, &ti), 0);
	assert_true(ti.exec_shell);
	assert_int_equal(ti.exec_argc, 1);
	assert_string_equal(ti.exec_cwd, "/tmp");
	evc_timer_info_free(&ti);
	evc_close(c);
}

static void
test_exec_timeout(void **state)
{
	static const char *const argv[] = {"sleep", "100"};
	struct evc_exec ex = {.argv = argv, .argc = 2, .timeout_ns = 200 * MS};
	struct evc_timer_info ti;
	struct evc_run run;
	struct evc *c;
	uint64_t id;

	NEED_EXEC();
	c = client("exec-timeout");
	id = exec_soon(c, &ex, NULL);
	if (evc_wait(c, id, 20000, &run) < 0)
		fail_msg("evc_wait: %s", evc_errmsg(c));
	assert_int_equal(run.outcome, EVC_RUN_EXEC_TIMED_OUT);
	assert_true(run.duration_ns >= 200 * MS);
	evc_run_free(&run);
	assert_int_equal(evc_get(c, id, 5000, &ti), 0);
	assert_int_equal(ti.exec_timeout_ns, 200 * MS);
	evc_timer_info_free(&ti);
	evc_close(c);
}

static void wait_done_cb(struct evc *c, const struct evc_result *res,
                         void *arg);

static void
test_wait_cancelled(void **state)
{
	static const char *const argv[] = {"/bin/true"};
	struct evc_exec ex = {.argv = argv, .argc = 1};
	struct evc_callback cb = {.exec = &ex};
	struct evc_scheduled s;
	struct async_out a = {0};
	struct evc_run run;
	struct evc *c, *c2;

	NEED_EXEC();
	c = client("wait-cancel");
	c2 = client("wait-cancel-2");
	assert_int_equal(
	    evc_call_later(c, HOUR, EVC_CLOCK_MONOTONIC, &cb, 5000, &s), 0);
	/* A wait in progress when the timer is cancelled... */
	assert_int_equal(evc_wait(c, s.timer_id, 200, &run), -EVC_E_TIMEOUT);
	assert_int_equal(evc_cancel(c2, s.timer_id, 5000), 0);
	/* ...is answered: the report came for the wait that gave up and
	 * is kept for the next one. */
	assert_int_equal(evc_wait(c, s.timer_id, 5000, &run), 0);
	assert_int_equal(run.outcome, EVC_RUN_CANCELLED);
	evc_run_free(&run);
	/* A second wait, on the other connection, while the timer is
	 * pending: answered by the cancellation too. */
	assert_int_equal(
	    evc_call_later(c, HOUR, EVC_CLOCK_MONOTONIC, &cb, 5000, &s), 0);
	assert_int_equal(evc_wait_async(c2, s.timer_id, wait_done_cb, &a), 0);
	/* Waiting is answered before the cancel is sent: requests on one
	 * connection are answered in order, and the cancel goes on c. */
	assert_int_equal(evc_drain(c2, 0), -EVC_E_TIMEOUT);
	assert_int_equal(evc_time(c2, 5000, &(struct evc_time){0}), 0);
	assert_int_equal(evc_cancel(c, s.timer_id, 5000), 0);
	assert_int_equal(evc_drain(c2, 5000), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.outcome, EVC_RUN_CANCELLED);
	evc_close(c2);
	evc_close(c);
}

static void
wait_done_cb(struct evc *c, const struct evc_result *res, void *arg)
{
	struct async_out *o = arg;

	o->calls++;
	o->status = res->status;
	if (res->status == 0) {
		assert_non_null(res->run);
		o->outcome = res->run->outcome;
		o->exit_code = res->run->exit_code;
		if (res->run->stdout_tail != NULL)
			snprintf(o->out, sizeof o->out, "%s",
				 (const char *)res->run->stdout_tail);
	} else {
		assert_null(res->run);
	}
}

static void
test_wait_finished_and_async(void **state)
{
	static const char *const argv[] = {"/bin/sh", "-c", "echo done"};
	struct evc_exec ex = {.argv = argv, .argc = 3};
	struct async_out a = {0}, b = {0}, nf = {0};
	struct evc_run run;
	struct evc *c;
	uint64_t id;

	NEED_EXEC();
	c = client("wait-finished");
	id = exec_soon(c, &ex, NULL);
	assert_int_equal(evc_wait(c, id, 10000, &run), 0);
	assert_int_equal(run.outcome, EVC_RUN_EXEC_EXITED);
	evc_run_free(&run);
	/* Already finished: its last run, at once (without the output
	 * tails: evd repeats those in evc_get's history only). */
	assert_int_equal(evc_wait(c, id, 2000, &run), 0);
	assert_int_equal(run.outcome, EVC_RUN_EXEC_EXITED);
	assert_int_equal(run.exit_code, 0);
	evc_run_free(&run);

	/* The asynchronous form: two waits on one timer each get theirs;
	 * an unknown timer fails. They count as pending until answered. */
	assert_int_equal(evc_wait_async(c, id, wait_done_cb, &a), 0);
	assert_int_equal(evc_wait_async(c, id, wait_done_cb, &b), 0);
	assert_int_equal(evc_wait_async(c, 999999999, wait_done_cb, &nf), 0);
	assert_int_equal(evc_pending(c), 3);
	assert_int_equal(evc_drain(c, 10000), 0);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.outcome, EVC_RUN_EXEC_EXITED);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.outcome, EVC_RUN_EXEC_EXITED);
	assert_int_equal(nf.calls, 1);
	assert_int_equal(nf.status, -EVC_E_NOT_FOUND);
	assert_int_equal(evc_pending(c), 0);
	evc_close(c);
}

/* Fired events that arrive during evc_wait stay queued for
 * evc_next_event. */
static void
test_wait_keeps_events(void **state)
{
	static const char *const argv[] = {"sh", "-c", "exit 0"};
	struct evc_exec ex = {.argv = argv, .argc = 3};
	struct evc_scheduled s;
	struct evc_fired ev;
	struct evc_run run;
	struct evc *c;
	uint64_t id;

	NEED_EXEC();
	c = client("wait-events");
	assert_int_equal(evc_call_soon(c, NULL, 5000, &s), 0);
	id = exec_soon(c, &ex, NULL);
	assert_int_equal(evc_wait(c, id, 10000, &run), 0);
	evc_run_free(&run);
	assert_int_equal(evc_next_event(c, 5000, &ev), 0);
	assert_int_equal(ev.timer_id, s.timer_id);
	evc_fired_free(&ev);
	evc_close(c);
}

/*
 * EVCLIENT_1.5: the exec options round-trip through evc_get (the library
 * fills in the caller's login name when user is NULL); evc_retry and
 * evc_retry_async run a finished hook again.
 */
static void
retry_done_cb(struct evc *c, const struct evc_result *res, void *arg)
{
	int *status = arg;

	*status = res->status == 0 && res->timer != NULL ? 1 : -1;
}

static void
test_exec_options_and_retry(void **state)
{
	static const char *const argv[] = {"/bin/true"};
	static const char *const props[] = {"Nice=5"};
	struct evc_exec ex = {.argv = argv,
			      .argc = 1,
			      .properties = props,
			      .nproperties = 1,
			      .retry = 2,
			      .retry_delay_ns = 3 * MS,
			      .on_failure = "client-exec-alerts"};
	struct evc_callback cb = {.exec = &ex};
	struct passwd *pw = getpwuid(geteuid());
	struct evc_timer_info ti;
	struct evc_scheduled s;
	struct evc_run run;
	struct evc *c;
	int status = 0;

	NEED_EXEC();
	c = client("exec-options");
	/* The daemon judges properties by how it runs hooks: one that
	 * cannot honour Nice= says so, and the rest is tested without. */
	if (evc_call_later(c, HOUR, EVC_CLOCK_MONOTONIC, &cb, 5000, &s) ==
	    -EVC_E_INVALID_ARGUMENT) {
		printf("evd refuses Nice=5 (%s): properties not checked\n",
		       evc_errmsg(c));
		ex.nproperties = 0;
		assert_int_equal(evc_call_later(c, HOUR, EVC_CLOCK_MONOTONIC,
						&cb, 5000, &s),
				 0);
	}
	assert_int_equal(evc_get(c, s.timer_id, 5000, &ti), 0);
	if (pw != NULL)
		assert_string_equal(ti.exec_user, pw->pw_name);
	assert_int_equal(ti.exec_nproperties, ex.nproperties);
	if (ex.nproperties > 0)
		assert_string_equal(ti.exec_properties[0], "Nice=5");
	assert_null(ti.exec_properties[ti.exec_nproperties]);
	assert_int_equal(ti.exec_retry, 2);
	assert_int_equal(ti.exec_retry_delay_ns, 3 * MS);
	assert_string_equal(ti.exec_on_failure, "client-exec-alerts");
	assert_int_equal(ti.exec_attempt, 0);
	evc_timer_info_free(&ti);
	assert_int_equal(evc_cancel(c, s.timer_id, 5000), 0);

	/* Retry: a finished one-shot runs again. */
	ex.user = NULL;
	ex.nproperties = 0;
	ex.on_failure = NULL;
	ex.retry = 0;
	s.timer_id = exec_soon(c, &ex, NULL);
	assert_int_equal(evc_wait(c, s.timer_id, 10000, &run), 0);
	evc_run_free(&run);
	assert_int_equal(evc_trigger(c, s.timer_id, 5000, NULL),
			 -EVC_E_NOT_FOUND);
	assert_int_equal(evc_retry(c, s.timer_id, 5000, &ti), 0);
	assert_int_equal(ti.timer_id, s.timer_id);
	evc_timer_info_free(&ti);
	assert_int_equal(evc_retry_async(c, s.timer_id, retry_done_cb,
					 &status),
			 0);
	assert_int_equal(evc_drain(c, 10000), 0);
	assert_int_equal(status, 1);
	assert_int_equal(evc_retry(c, 999999999, 5000, NULL),
			 -EVC_E_NOT_FOUND);
	evc_close(c);
}

/* What the library refuses before asking (no daemon support needed). */
static void
test_exec_usage(void **state)
{
	static const char *const argv[] = {"/bin/true", NULL};
	struct evc_exec ex = {.argv = argv, .argc = 1};
	struct evc_callback cb = {.exec = &ex, .channel = "both"};
	struct evc_scheduled s;
	struct evc_run run;
	struct evc *c = client("exec-usage");

	assert_int_equal(evc_call_soon(c, &cb, 5000, &s), -EVC_E_USAGE);
	assert_non_null(strstr(evc_errmsg(c), "not both"));
	cb.channel = NULL;
	ex.argc = 0;
	assert_int_equal(evc_call_soon(c, &cb, 5000, &s), -EVC_E_USAGE);
	ex.argc = 2; /* argv[1] is NULL */
	assert_int_equal(evc_call_soon(c, &cb, 5000, &s), -EVC_E_USAGE);
	ex.argc = 1;
	ex.nenv = 1; /* env NULL */
	assert_int_equal(evc_call_soon_async(c, &cb, NULL, NULL),
			 -EVC_E_USAGE);
	assert_int_equal(evc_wait(c, 1, 1000, NULL), -EVC_E_USAGE);
	assert_int_equal(evc_wait(NULL, 1, 1000, &run), -EVC_E_USAGE);
	evc_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_grant_round_trip),
	    cmocka_unit_test(test_grant_errors),
	    cmocka_unit_test(test_grant_async),
	    cmocka_unit_test(test_purge),
	    cmocka_unit_test(test_exec_usage),
	    cmocka_unit_test(test_exec_exit_and_tails),
	    cmocka_unit_test(test_exec_payload_stdin),
	    cmocka_unit_test(test_exec_env_timer_id),
	    cmocka_unit_test(test_exec_timeout),
	    cmocka_unit_test(test_wait_cancelled),
	    cmocka_unit_test(test_wait_finished_and_async),
	    cmocka_unit_test(test_wait_keeps_events),
	    cmocka_unit_test(test_exec_options_and_retry),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
