/*
 * hook: exec timers' fires and their outcomes (see hook.h).
 *
 * Owns one struct hook_job per running hook, from hook_fire until its
 * exec_done callback. Logs one line per finished hook (a boundary module:
 * the operator learns how every hook ended): warning for a failure (a
 * non-zero exit, a signal, a timeout, a failed start), info for exit 0.
 *
 * A failed run with attempts left (Exec.retry) is run again through
 * sched_retry; one that failed for good sends its on-failure message
 * (Exec.on_failure) through sched_publish_failure. The run's record says
 * which attempt it was and what followed it. Once the run is recorded,
 * sched_fire_done is the one report of its end to the scheduler. The
 * retry and the failure message stay calls of their own: each decides,
 * before the run is recorded, what the record says followed it. The
 * waiters hear of the end through deliver_run_ended, which builds the
 * Run they are sent (deliver builds every Run and Fired event).
 */
#include "hook.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "batch.h"
#include "channel.h"
#include "clock.h"
#include "cluster.h"
#include "deliver.h"
#include "evd.pb-c.h"
#include "exec.h"
#include "idmap.h"
#include "jobprop.h"
#include "log.h"
#include "sched.h"
#include "metrics.h"
#include "quota.h"
#include "store.h"
#include "wirestr.h"

/* Retries wait retry_delay_ns * 2^(n-1), at most this long. */
#define HOOK_RETRY_DELAY_MAX_NS (INT64_C(3600) * 1000000000)
#define HOOK_RETRY_DELAY_DEFAULT_NS (INT64_C(1) * 1000000000)
/* The output an on-failure message carries: the last bytes of stderr,
 * then of stdout, this many in all. */
#define HOOK_FAILURE_TAIL 4096

/* Owner: hook, while the hook runs. */
struct hook_job {
	TAILQ_ENTRY(hook_job) link; /* the runs of one timer */
	uint64_t timer_id;
	uint64_t fire_id;
	uid_t uid;
	gid_t gid;
	int64_t due_rt_ns;
	int64_t fired_rt_ns;
	int64_t lateness_ns;
	/* What the end needs of the command, not the command itself (a
	 * queue of thousands of hooks must not hold two copies of each):
	 * the argv escaped for the log, the retry policy and on-failure
	 * channel; and, only for a hook with retries, the packed command
	 * and payload (a memory store keeps no finished timer to revive the
	 * retry from). */
	char *cmd;
	uint32_t attempt; /* 1: the first run */
	bool repeating;   /* its successes feed a metric (metrics.h) */
	uint32_t retry;
	int64_t retry_delay_ns;
	char *on_failure; /* NULL: none */
	uint8_t *exec;
	size_t exec_len;
	uint8_t *payload;
	size_t payload_len;
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
			log_about(LOG_LEVEL_INFO,
				  LOG_FIRE(timer_id, j->uid, j->fire_id),
				  "timer %" PRIu64 " (uid %u) fire %" PRIu64
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
hook_job_free(struct hook_job *j)
{
	free(j->cmd);
	free(j->on_failure);
	free(j->exec);
	free(j->payload);
	free(j);
}

/* The command for the log, malloc'd: argv escaped (log_escape) and
 * joined by spaces, at most HOOK_CMD_MAX bytes; a client chose every
 * byte of it. NULL if out of memory. */
#define HOOK_CMD_MAX 512
static char *
hook_command(const Evd__Exec *x)
{
	char arg[256], *out;
	size_t i, o = 0;
	int n;

	if ((out = malloc(HOOK_CMD_MAX)) == NULL)
		return NULL;
	out[0] = '\0';
	for (i = 0; i < x->n_argv && o + 1 < HOOK_CMD_MAX; i++) {
		log_escape(arg, sizeof arg, x->argv[i], strlen(x->argv[i]));
		n = snprintf(out + o, HOOK_CMD_MAX - o, "%s%s",
		             i > 0 ? " " : "", arg);
		if (n < 0)
			break;
		o += (size_t)n;
	}
	return out;
}

/* The wait before attempt (2 and up) of j: its retry delay doubled per
 * retry already made, capped. */
static int64_t
hook_retry_delay(const struct hook_job *j, uint32_t attempt)
{
	int64_t d = j->retry_delay_ns > 0 ? j->retry_delay_ns
	                                  : HOOK_RETRY_DELAY_DEFAULT_NS;
	uint32_t i;

	for (i = 2; i < attempt && d < HOOK_RETRY_DELAY_MAX_NS; i++)
		d *= 2;
	return d < HOOK_RETRY_DELAY_MAX_NS ? d : HOOK_RETRY_DELAY_MAX_NS;
}

/* Appends len bytes as the inside of a JSON string: valid UTF-8 as is,
 * controls and other bytes as \u00XX. out has room for 6 * len. */
static size_t
hook_json(char *out, const void *data, size_t len)
{
	const unsigned char *s = data;
	size_t i = 0, o = 0, n;

	while (i < len) {
		if (s[i] == '"' || s[i] == '\\') {
			out[o++] = '\\';
			out[o++] = (char)s[i++];
		} else if (s[i] >= 0x20 && s[i] < 0x7f) {
			out[o++] = (char)s[i++];
		} else if (s[i] == '\n' || s[i] == '\t') {
			out[o++] = '\\';
			out[o++] = s[i++] == '\n' ? 'n' : 't';
		} else if (s[i] >= 0x80 && (n = log_utf8_len(s + i, len - i)) > 0) {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		} else {
			o += (size_t)sprintf(out + o, "\\u%04x", s[i++]);
		}
	}
	return o;
}

/* The on-failure message of a run that failed for good: JSON with the
 * timer and fire ids, the outcome, the exit status or signal, the
 * attempts made, the run's detail and the tail of its output. Returns a
 * malloc'd buffer (*ret_len bytes) or NULL. */
static char *
hook_failure_payload(const struct hook_job *j, const struct exec_result *r,
                     const char *outcome, const char *detail,
                     size_t *ret_len)
{
	size_t elen = r->err_len < HOOK_FAILURE_TAIL ? r->err_len
	                                             : HOOK_FAILURE_TAIL;
	size_t olen = r->out_len < HOOK_FAILURE_TAIL - elen
	                      ? r->out_len
	                      : HOOK_FAILURE_TAIL - elen;
	size_t cap = 512 + 6 * (strlen(detail) + elen + olen), o;
	char *p;

	if ((p = malloc(cap)) == NULL)
		return NULL;
	o = (size_t)sprintf(p, "{\"timer_id\":%" PRIu64 ",\"fire_id\":%" PRIu64
	                       ",\"uid\":%u,\"outcome\":\"%s\",\"attempts\":%u",
	                    j->timer_id, j->fire_id, (unsigned)j->uid, outcome,
	                    j->attempt);
	if (r->outcome == EXEC_EXITED)
		o += (size_t)sprintf(p + o, ",\"exit_code\":%d", r->code);
	else if (r->outcome != EXEC_FAILED)
		o += (size_t)sprintf(p + o, ",\"signal\":%d", r->code);
	o += (size_t)sprintf(p + o, ",\"detail\":\"");
	o += hook_json(p + o, detail, strlen(detail));
	o += (size_t)sprintf(p + o, "\",\"stderr_tail\":\"");
	if (elen > 0)
		o += hook_json(p + o, r->err + r->err_len - elen, elen);
	o += (size_t)sprintf(p + o, "\",\"stdout_tail\":\"");
	if (olen > 0)
		o += hook_json(p + o, r->out + r->out_len - olen, olen);
	o += (size_t)sprintf(p + o, "\"}");
	*ret_len = o;
	return p;
}

/*
 * What follows a failed run: a retry if x has attempts left, else the
 * on-failure message. Says what in detail (appended). Returns true if a
 * retry is on its way.
 */
static bool
hook_after_failure(struct hook_job *j, const struct exec_result *r,
                   const char *outcome, char *detail, size_t size)
{
	uint32_t total = 1 + j->retry;
	size_t len = strlen(detail);
	char why[160];
	int e;

	if (j->attempt < total) {
		struct sched_retry rr;
		uint8_t *packed = NULL;
		Evd__Exec *x;

		/* The command again, with the next attempt's number. */
		memset(&rr, 0, sizeof rr);
		if ((x = evd__exec__unpack(NULL, j->exec_len, j->exec)) !=
		    NULL) {
			x->has_attempt = true;
			x->attempt = j->attempt + 1;
			rr.exec_len = evd__exec__get_packed_size(x);
			if ((packed = malloc(rr.exec_len + 1)) != NULL)
				evd__exec__pack(x, packed);
			evd__exec__free_unpacked(x, NULL);
		}
		if (packed == NULL) {
			e = -ENOMEM;
		} else {
			rr.timer_id = j->timer_id;
			rr.uid = j->uid;
			rr.gid = j->gid;
			rr.exec = packed;
			rr.payload = j->payload;
			rr.payload_len = j->payload_len;
			rr.attempt = j->attempt + 1;
			rr.delay_ns = hook_retry_delay(j, rr.attempt);
			e = sched_retry(&rr);
			free(packed);
		}
		if (e == 0) {
			snprintf(detail + len, size - len,
			         "; attempt %u in %" PRId64 " ms", rr.attempt,
			         rr.delay_ns / 1000000);
			return true;
		}
		/* Not retried: this failure is for good, and reported. */
		snprintf(detail + len, size - len, "; not retried: %s",
		         e == -EEXIST ? "another pending timer of the owner "
		                        "has its key"
		                      : strerror(-e));
		len = strlen(detail);
	}
	if (j->on_failure != NULL) {
		struct sched_failure_msg m;
		char *payload;
		size_t plen = 0;

		payload = hook_failure_payload(j, r, outcome, detail, &plen);
		memset(&m, 0, sizeof m);
		m.timer_id = j->timer_id;
		m.uid = j->uid;
		m.gid = j->gid;
		m.channel = j->on_failure;
		m.payload = (const uint8_t *)payload;
		m.payload_len = plen;
		if (payload == NULL) {
			e = -ENOMEM;
			snprintf(why, sizeof why, "out of memory");
		} else
			e = sched_publish_failure(&m, why, sizeof why);
		free(payload);
		/* The record is the owner's to read. */
		if (e == 0) {
			snprintf(detail + len, size - len,
			         "; reported to channel %s",
			         channel_display(j->on_failure, j->uid));
		} else {
			snprintf(detail + len, size - len,
			         "; not reported to channel %s: %s",
			         channel_display(j->on_failure, j->uid), why);
			log_about(LOG_LEVEL_WARNING,
				  LOG_FIRE(j->timer_id, j->uid, j->fire_id),
				  "timer %" PRIu64 " (uid %u) fire %" PRIu64
				  ": failure not reported to channel %s: %s",
				  j->timer_id, (unsigned)j->uid, j->fire_id,
				  j->on_failure, why);
		}
	}
	return false;
}

static void
hook_done_cb(const struct exec_result *r, void *arg)
{
	struct hook_job *j = arg;
	uint64_t timer_id;
	struct store_run sr;
	struct store *s;
	char detail[768] = "", edetail[1024];
	const char *outcome, *cmd = j->cmd != NULL ? j->cmd : "?";
	uint32_t total = 1 + j->retry;
	size_t len = 0;
	bool failed = !(r->outcome == EXEC_EXITED && r->code == 0);
	bool retrying = false;
	int e;

	if (r->outcome == EXEC_LOST) {
		/* Its fire was lost with its batch and fires again, or
		 * (cluster mode) its claim may have lapsed before it could
		 * start: this run never was. */
		timer_id = j->timer_id;
		hook_forget(j);
		hook_job_free(j);
		sched_fire_unrun(timer_id);
		return;
	}
	memset(&sr, 0, sizeof sr);
	metrics_count_exec(r->outcome, r->code);
	/* Only while the timer lives: its last fire's success must not
	 * bring back the series its end removed. */
	if (!failed && j->repeating && sched_lookup(j->timer_id, 0) != NULL)
		metrics_timer_success(j->timer_id, (uint32_t)j->uid,
		                      clock_now_ns(EVD_CLOCK_REALTIME));
	/* Each run of a hook with retries says which it was. */
	if (total > 1 || j->attempt > 1)
		len = (size_t)snprintf(detail, sizeof detail,
		                       "attempt %u of %u: ", j->attempt,
		                       total > j->attempt ? total : j->attempt);
	switch (r->outcome) {
	case EXEC_EXITED:
		sr.outcome = EVD_RUN_EXEC_EXITED;
		sr.exit_code = r->code;
		outcome = r->code == 0 ? "success" : "failure";
		snprintf(detail + len, sizeof detail - len,
		         "exited with status %d", r->code);
		break;
	case EXEC_SIGNALED:
		sr.outcome = EVD_RUN_EXEC_SIGNALED;
		sr.signal = r->code;
		outcome = "failure";
		snprintf(detail + len, sizeof detail - len,
		         "killed by signal %d", r->code);
		break;
	case EXEC_TIMED_OUT:
		sr.outcome = EVD_RUN_EXEC_TIMED_OUT;
		sr.signal = r->code;
		outcome = "timeout";
		snprintf(detail + len, sizeof detail - len,
		         "timed out; ended by signal %d", r->code);
		break;
	default:
		sr.outcome = EVD_RUN_EXEC_FAILED;
		outcome = "failed_start";
		snprintf(detail + len, sizeof detail - len,
		         "could not start: %s",
		         r->errmsg != NULL ? r->errmsg : "unknown error");
		break;
	}
	/* Retry or report first: the run's record says which happened. */
	if (failed)
		retrying = hook_after_failure(j, r, outcome, detail,
		                              sizeof detail);
	sr.timer_id = j->timer_id;
	sr.fire_id = j->fire_id;
	sr.due_rt_ns = j->due_rt_ns;
	sr.fired_rt_ns = j->fired_rt_ns;
	sr.lateness_ns = j->lateness_ns;
	/* Cut to fit, it may end inside a UTF-8 sequence of a quoted path:
	 * replies carry it as a string, which must be UTF-8. */
	detail[wirestr_valid_prefix(detail, strlen(detail))] = '\0';
	sr.detail = detail;
	sr.duration_ns = r->duration_ns;
	sr.out = (const uint8_t *)r->out;
	sr.out_len = r->out_len;
	sr.err = (const uint8_t *)r->err;
	sr.err_len = r->err_len;
	/* The end of a hook is history, not an acknowledgement: if the
	 * store refuses it, the log line below still tells. */
	if ((s = batch_store()) != NULL) {
		/* Kept by every store (the memory one too, bounded). */
		hook_fit_output(j->uid, &sr, detail, sizeof detail);
		/* Cluster mode: pipelined, answered at the commit (a burst
		 * of ended hooks waits for no round trip each). */
		if (cluster_enabled() && batch_backend()->pipeline != NULL)
			batch_backend()->pipeline(s, true);
		if ((e = batch_backend()->run_append(s, &sr)) < 0)
			batch_fail(e);
		if (cluster_enabled() && batch_backend()->pipeline != NULL)
			batch_backend()->pipeline(s, false);
	}
	/* A failure is the operator's business (warning); a success is
	 * routine (info). The command is the client's bytes: escaped. */
	/* The detail quotes the runner's error, which may quote argv. */
	log_escape(edetail, sizeof edetail, detail, strlen(detail));
	if (failed)
		log_about(LOG_LEVEL_WARNING,
			  LOG_FIRE(j->timer_id, j->uid, j->fire_id),
			  "timer %" PRIu64 " (uid %u) fire %" PRIu64 " exec "
			  "failed (%s): %s; command: %s; %" PRId64 " us",
			  j->timer_id, (unsigned)j->uid, j->fire_id, outcome,
			  edetail, cmd, r->duration_ns / 1000);
	else
		log_about(LOG_LEVEL_INFO,
			  LOG_FIRE(j->timer_id, j->uid, j->fire_id),
			  "timer %" PRIu64 " (uid %u) fire %" PRIu64 " exec: "
			  "%s; command: %s; %" PRId64 " us",
			  j->timer_id, (unsigned)j->uid, j->fire_id, edetail,
			  cmd, r->duration_ns / 1000);

	/* A waiter wants the outcome: a run that will be retried is not
	 * one yet (its waiters stay for the last attempt, or a cancel).
	 * Waiters see the output whole, even if the store kept none. */
	if (!retrying) {
		sr.out = (const uint8_t *)r->out;
		sr.out_len = r->out_len;
		sr.err = (const uint8_t *)r->err;
		sr.err_len = r->err_len;
		deliver_run_ended(&sr);
	}
	timer_id = j->timer_id;
	hook_forget(j);
	hook_job_free(j);
	/* A run its overlap policy deferred may start now; and a slot in the
	 * hook queue is free: exec timers held back for want of one may
	 * fire. */
	sched_fire_done(timer_id);
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
	j->gid = f->gid;
	j->attempt = f->attempt > 0 ? f->attempt
	             : x->has_attempt && x->attempt > 0 ? x->attempt
	                                                : 1;
	j->retry = x->has_retry ? x->retry : 0;
	j->retry_delay_ns = x->has_retry_delay_ns ? x->retry_delay_ns : 0;
	j->cmd = hook_command(x);
	if (x->on_failure != NULL && x->on_failure[0] != '\0' &&
	    (j->on_failure = strdup(x->on_failure)) == NULL) {
		free(j->cmd); /* out of memory: reported below */
		j->cmd = NULL;
	}
	if (j->retry > 0) {
		if ((j->exec = malloc(f->exec_len + 1)) != NULL) {
			memcpy(j->exec, f->exec, f->exec_len);
			j->exec_len = f->exec_len;
		}
		if (f->payload_len > 0 &&
		    (j->payload = malloc(f->payload_len)) != NULL) {
			memcpy(j->payload, f->payload, f->payload_len);
			j->payload_len = f->payload_len;
		}
	}
	if (j->cmd == NULL || (j->retry > 0 && j->exec == NULL) ||
	    (f->payload_len > 0 && j->retry > 0 && j->payload == NULL)) {
		evd__exec__free_unpacked(x, NULL);
		hook_job_free(j);
		snprintf(why, why_size, "out of memory");
		return -ENOMEM;
	}
	j->due_rt_ns = f->due_rt_ns;
	j->fired_rt_ns = f->fired_rt_ns;
	j->lateness_ns = f->lateness_ns;
	j->repeating = f->repeating;
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
	spec.user = x->user != NULL && x->user[0] != '\0' ? x->user : NULL;
	spec.props = (const char *const *)x->properties;
	spec.nprops = x->n_properties;
	if ((r = hook_remember(j)) == 0 &&
	    (r = exec_submit(&spec, hook_done_cb, j)) < 0)
		hook_forget(j);
	evd__exec__free_unpacked(x, NULL); /* exec_submit copied it */
	if (r < 0) {
		snprintf(why, why_size, "%s",
		         r == -EAGAIN ? "too many hooks queued"
		                      : strerror(-r));
		hook_job_free(j);
	}
	return r;
}
