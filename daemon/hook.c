/*
 * hook: exec timers' fires and their outcomes (see hook.h).
 *
 * Owns one struct hook_job per running hook, from hook_fire until its
 * exec_done callback. Logs one line per finished hook (a boundary module:
 * the operator learns how every hook ended).
 */
#include "hook.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "batch.h"
#include "evd.pb-c.h"
#include "exec.h"
#include "idmap.h"
#include "jobprop.h"
#include "log.h"
#include "sched.h"
#include "metrics.h"
#include "quota.h"
#include "store.h"
#include "wait.h"

/* Owner: hook, while the hook runs. */
struct hook_job {
	TAILQ_ENTRY(hook_job) link; /* the runs of one timer */
	uint64_t timer_id;
	uint64_t fire_id;
	uid_t uid;
	int64_t due_rt_ns;
	int64_t fired_rt_ns;
	int64_t lateness_ns;
};

TAILQ_HEAD(hook_jobs, hook_job);

/* The runs of one timer: several with overlap "allow". */
struct hook_timer {
	struct hook_jobs jobs;
	uid_t uid;
};

static _Thread_local struct idmap *running; /* timer id -> struct hook_timer */

int
hook_init(void)
{
	return (running = idmap_new()) == NULL ? -ENOMEM : 0;
}

void
hook_shutdown(void)
{
	/* exec_shutdown has delivered every job's end by now. */
	idmap_free(running);
	running = NULL;
}

bool
hook_running(uint64_t timer_id, uid_t *ret_uid)
{
	struct hook_timer *ht = running != NULL ? idmap_get(running, timer_id)
	                                        : NULL;

	if (ht == NULL)
		return false;
	*ret_uid = ht->uid;
	return true;
}

void
hook_terminate(uint64_t timer_id)
{
	struct hook_timer *ht = running != NULL ? idmap_get(running, timer_id)
	                                        : NULL;
	struct hook_job *j;

	if (ht == NULL)
		return;
	TAILQ_FOREACH(j, &ht->jobs, link)
		if (exec_terminate(j->fire_id) == 0)
			log_info("timer %" PRIu64 " (uid %u) fire %" PRIu64
			         ": terminating it (overlap "
			         "terminate-previous)",
			         timer_id, (unsigned)j->uid, j->fire_id);
}

/* Forgets a finished run; the timer's entry goes with its last run. */
static void
hook_forget(struct hook_job *j)
{
	struct hook_timer *ht = idmap_get(running, j->timer_id);

	if (ht == NULL)
		return;
	TAILQ_REMOVE(&ht->jobs, j, link);
	if (TAILQ_EMPTY(&ht->jobs)) {
		idmap_del(running, j->timer_id);
		free(ht);
	}
}

/* Remembers a run; -ENOMEM. */
static int
hook_remember(struct hook_job *j)
{
	struct hook_timer *ht = idmap_get(running, j->timer_id);

	if (ht == NULL) {
		if ((ht = malloc(sizeof *ht)) == NULL)
			return -ENOMEM;
		TAILQ_INIT(&ht->jobs);
		ht->uid = j->uid;
		if (idmap_put(running, j->timer_id, ht) < 0) {
			free(ht);
			return -ENOMEM;
		}
	}
	TAILQ_INSERT_TAIL(&ht->jobs, j, link);
	return 0;
}

/*
 * Kept output counts against the owner's byte quota (the store reports
 * it once committed, batch.c). Output that would pass the quota is not
 * kept, and the run says so; the run itself is always recorded, and the
 * waiters still get the whole tail (it is sent, not kept). Hooks ending
 * in the same loop iteration are judged against the count before any of
 * them: they may pass the quota by one iteration's output.
 */
static void
hook_fit_output(uid_t uid, struct store_run *sr, char *detail,
                size_t detail_size)
{
	char why[160];
	size_t len;

	if (sr->out_len + sr->err_len == 0 ||
	    quota_check(uid, QUOTA_BYTES, sr->out_len + sr->err_len, why,
	                sizeof why) == 0)
		return;
	sr->out = sr->err = NULL;
	sr->out_len = sr->err_len = 0;
	len = strlen(detail);
	snprintf(detail + len, detail_size - len,
	         "; output not kept: byte quota");
}

static void
hook_done_cb(const struct exec_result *r, void *arg)
{
	struct hook_job *j = arg;
	Evd__Run run = EVD__RUN__INIT;
	uint64_t timer_id;
	struct store_run sr;
	struct store *s;
	char detail[256] = "";
	int e;

	memset(&sr, 0, sizeof sr);
	metrics_count_exec(r->outcome);
	switch (r->outcome) {
	case EXEC_EXITED:
		sr.outcome = EVD__RUN_OUTCOME__RUN_EXEC_EXITED;
		sr.exit_code = r->code;
		snprintf(detail, sizeof detail, "exited with status %d",
		         r->code);
		break;
	case EXEC_SIGNALED:
		sr.outcome = EVD__RUN_OUTCOME__RUN_EXEC_SIGNALED;
		sr.signal = r->code;
		snprintf(detail, sizeof detail, "killed by signal %d", r->code);
		break;
	case EXEC_TIMED_OUT:
		sr.outcome = EVD__RUN_OUTCOME__RUN_EXEC_TIMED_OUT;
		sr.signal = r->code;
		snprintf(detail, sizeof detail, "timed out; ended by signal %d",
		         r->code);
		break;
	default:
		sr.outcome = EVD__RUN_OUTCOME__RUN_EXEC_FAILED;
		snprintf(detail, sizeof detail, "could not start: %s",
		         r->errmsg != NULL ? r->errmsg : "unknown error");
		break;
	}
	sr.timer_id = j->timer_id;
	sr.fire_id = j->fire_id;
	sr.due_rt_ns = j->due_rt_ns;
	sr.fired_rt_ns = j->fired_rt_ns;
	sr.lateness_ns = j->lateness_ns;
	sr.detail = detail;
	sr.duration_ns = r->duration_ns;
	sr.out = (const uint8_t *)r->out;
	sr.out_len = r->out_len;
	sr.err = (const uint8_t *)r->err;
	sr.err_len = r->err_len;
	/* The end of a hook is history, not an acknowledgement: if the
	 * store refuses it, the log line below still tells. */
	if ((s = batch_store()) != NULL) {
		if (batch_backend()->durable) /* else nothing is kept */
			hook_fit_output(j->uid, &sr, detail, sizeof detail);
		if ((e = batch_backend()->run_append(s, &sr)) < 0)
			batch_fail(e);
	}
	log_info("timer %" PRIu64 " (uid %u) fire %" PRIu64 " exec: %s, "
	         "%" PRId64 " us",
	         j->timer_id, (unsigned)j->uid, j->fire_id, detail,
	         r->duration_ns / 1000);

	run.has_fire_id = true;
	run.fire_id = j->fire_id;
	run.has_due_realtime_ns = run.has_fired_realtime_ns = true;
	run.due_realtime_ns = j->due_rt_ns;
	run.fired_realtime_ns = j->fired_rt_ns;
	run.has_lateness_ns = run.has_outcome = true;
	run.lateness_ns = j->lateness_ns;
	run.outcome = sr.outcome;
	run.detail = detail;
	run.has_exit_code = run.has_signal = run.has_duration_ns = true;
	run.exit_code = sr.exit_code;
	run.signal = sr.signal;
	run.duration_ns = sr.duration_ns;
	run.has_stdout_tail = run.has_stderr_tail = true;
	run.stdout_tail.data = (uint8_t *)r->out;
	run.stdout_tail.len = r->out_len;
	run.stderr_tail.data = (uint8_t *)r->err;
	run.stderr_tail.len = r->err_len;
	wait_notify(j->timer_id, &run);
	timer_id = j->timer_id;
	hook_forget(j);
	free(j);
	/* A run its overlap policy deferred may start now; and a slot in the
	 * hook queue is free: exec timers held back for want of one may
	 * fire. */
	sched_hook_ended(timer_id);
	sched_release_held();
}

int
hook_fire(const struct hook_fire *f, char *why, size_t why_size)
{
	struct exec_spec spec;
	struct hook_job *j;
	Evd__Exec *x;
	int r;

	x = evd__exec__unpack(NULL, f->exec_len, f->exec);
	if (x == NULL) {
		snprintf(why, why_size, "the stored command is unreadable");
		return -EINVAL;
	}
	if ((j = calloc(1, sizeof *j)) == NULL) {
		evd__exec__free_unpacked(x, NULL);
		snprintf(why, why_size, "out of memory");
		return -ENOMEM;
	}
	j->timer_id = f->timer_id;
	j->fire_id = f->fire_id;
	j->uid = f->uid;
	j->due_rt_ns = f->due_rt_ns;
	j->fired_rt_ns = f->fired_rt_ns;
	j->lateness_ns = f->lateness_ns;
	memset(&spec, 0, sizeof spec);
	spec.uid = f->uid;
	spec.gid = f->gid;
	spec.argv = (const char *const *)x->argv;
	spec.argc = x->n_argv;
	spec.shell = x->has_shell && x->shell;
	spec.env = (const char *const *)x->env;
	spec.nenv = x->n_env;
	spec.cwd = x->cwd != NULL && x->cwd[0] != '\0' ? x->cwd : NULL;
	/* RuntimeMaxSec= and timeout_ns: the smaller wins. */
	spec.timeout_ns = jobprop_timeout_ns(
	        (const char *const *)x->properties, x->n_properties,
	        x->has_timeout_ns ? x->timeout_ns : 0);
	spec.stdin_data = f->payload;
	spec.stdin_len = f->payload_len;
	spec.timer_id = f->timer_id;
	spec.fire_id = f->fire_id;
	spec.due_ns = f->due_rt_ns;
	spec.lateness_ns = f->lateness_ns;
	if ((r = hook_remember(j)) == 0 &&
	    (r = exec_submit(&spec, hook_done_cb, j)) < 0)
		hook_forget(j);
	evd__exec__free_unpacked(x, NULL); /* exec_submit copied it */
	if (r < 0) {
		snprintf(why, why_size, "%s",
		         r == -EAGAIN ? "too many hooks queued"
		                      : strerror(-r));
		free(j);
	}
	return r;
}
