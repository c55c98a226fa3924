/*
 * exec_systemd: the exec backend that runs each hook as a transient
 * service unit of the service manager evd runs under (see exec_backend.h),
 * started over sd-bus the way systemd-run --pipe --wait does.
 *
 * Bus: the system bus when evd is root (hooks run with User=<uid>, in
 * evd-hooks-u<uid>.slice), else the user bus (the user manager's default
 * slice, the user's own identity). The bus fd is driven by one libevent
 * event (sd_bus_get_events/get_timeout, re-armed after every
 * sd_bus_process round and after every call queued): after init, which
 * may wait for the manager once before evd serves anything, nothing here
 * waits on systemd.
 *
 * A run, by job id (owner: this file, from ->start until it is
 * forgotten):
 *   STARTING  matches on the unit's PropertiesChanged and on JobRemoved
 *             for the unit are installed, then StartTransientUnit is sent
 *             (the bus keeps the order, so no signal is missed). When the
 *             start job is removed, one GetAll reads the unit: job "done"
 *             (Type=exec: the program was exec'd) reports started, any
 *             other result reports failed with the unit's reason -- but
 *             for a main process with an exit status of its own or a
 *             signal: it ran and ended before systemd saw its exec, so
 *             it is started and, once down, exited.
 *   RUNNING   each change of the Unit interface triggers a GetAll (one at
 *             a time: a signal that arrives while one is in flight was
 *             emitted before its reply was); ActiveState inactive/failed
 *             reports exited from ExecMainCode/ExecMainStatus/Result,
 *             then UnrefUnit lets CollectMode=inactive-or-failed collect
 *             it (AddRef=yes kept it until then).
 *   ENDED     kept only to journal output lines still arriving from the
 *             runner; forgotten when both streams reached EOF or after
 *             SDRUN_LINGER_S.
 * Reports always come from the bus event's callback, never from ->start
 * or ->kill. The runner may call back into this file from a report: a run
 * is never touched after a report that could have forgotten it.
 *
 * Journal: output lines are sent as native journal datagrams on a
 * non-blocking socket (sd_journal_sendv would block the loop when
 * journald is slow); a line journald cannot take now is dropped and
 * counted, the runner's tail still has it.
 *
 * Known limits: a lost bus (dbus restarted) ends every run as far as evd
 * can tell, and starts fail with -ENOTCONN until it is reopened, after
 * 500 ms and backing off to a minute; a unit of a previous evd
 * still being collected makes a start with the same name fail ("already
 * loaded"); the user instance needs the user bus (dbus-user-session),
 * else hooks = auto uses the spawner; the name check costs a sh and an
 * id process per run.
 */
#include "exec_backend.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "exec_sdprops.h"
#include "idmap.h"
#include "jobprop.h"
#include "log.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define SD_UNIT_IFACE "org.freedesktop.systemd1.Unit"
#define SD_UNIT_PREFIX "/org/freedesktop/systemd1/unit"
#define JOURNAL_SOCKET "/run/systemd/journal/socket"

/* Longest journal line; longer ones are split (journald's LineMax). */
#define SDRUN_LINE_MAX (48 * 1024)
/* How long an ended run waits for its output streams to reach EOF. */
#define SDRUN_LINGER_S 30
/* Bound on a bus method call; only init's own calls wait for it. */
#define SDRUN_CALL_USEC (UINT64_C(25) * 1000000)
/* Method calls awaiting a reply at once. dbus-daemon refuses more than
 * max_replies_per_connection (128 on the system bus); further calls wait
 * in evd, in order. */
#define SDRUN_INFLIGHT_MAX 64
/* RuntimeMaxSec= backstop beyond the runner's timeout and grace. */
#define SDRUN_BACKSTOP_USEC (UINT64_C(5) * 1000000)

enum sdrun_state { SDRUN_STARTING, SDRUN_RUNNING, SDRUN_ENDED };

struct sdrun_line {
	char *buf; /* a partial line, SDRUN_LINE_MAX bytes when allocated */
	size_t len;
	bool eof;
};

/* Owner: the runs map, from ->start until sdrun_forget. */
struct sdrun {
	uint64_t job_id;
	uint64_t timer_id;
	uint64_t fire_id;
	enum sdrun_state state;
	char unit[96];
	char ident[64];	  /* SYSLOG_IDENTIFIER: argv[0]'s basename */
	char *unit_path;  /* the unit's object path */
	char *job_path;	  /* the start job, once StartTransientUnit replied */
	char *job_result; /* JobRemoved's result, once the job is gone */
	bool check_user;  /* an ExecStartPre= checks the owner's name */
	bool killed;	  /* ->kill signalled it: Result=timeout is then
			   * the stop's, not RuntimeMaxSec='s */
	int pending_sig;  /* ->kill before it started: sent once it has */
	char user[64];	  /* that name, for the reason of a failed check */
	uid_t uid;
	sd_bus_slot *props_slot;   /* PropertiesChanged of unit_path */
	sd_bus_slot *call_slot;	   /* StartTransientUnit in flight */
	sd_bus_slot *get_slot;	   /* GetAll in flight */
	sd_bus_message *start_msg; /* StartTransientUnit waiting its turn */
	bool read_wanted;	   /* a GetAll waiting its turn */
	bool waiting;		   /* on sd.waiting */
	TAILQ_ENTRY(sdrun) wait_link;
	struct sdrun_line line[2]; /* stdout, stderr */
	struct event *linger;
};

static struct {
	sd_bus *bus;
	struct event_base *base;
	struct event *ev;
	struct idmap *runs;	  /* job id -> struct sdrun */
	sd_bus_slot *job_removed; /* the JobRemoved match */
	bool system;	   /* the system instance: User=, per-uid slices */
	unsigned inflight; /* calls sent whose reply has not come */
	TAILQ_HEAD(, sdrun) waiting; /* runs with a call waiting its turn */
	int journal_fd;		     /* -1 until the first line */
	uint64_t journal_dropped;
	struct event *ev_reconnect;
	int64_t connected_ms;	     /* when the bus was (re)opened */
	int64_t backoff_ms;	     /* before the next reconnect */
} sd = {.journal_fd = -1, .waiting = TAILQ_HEAD_INITIALIZER(sd.waiting)};

/* A lost bus is opened again after this, doubling up to the maximum
 * while new ones keep being lost young (dbus restarting in a loop). */
#define SDRUN_RECONNECT_MS 500
#define SDRUN_RECONNECT_MAX_MS 60000

static void sdrun_bus_rearm(void);

static int64_t
sdrun_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A reply came or will be ignored: one more call may go. */
static void
sdrun_slot_done(sd_bus_slot **slot)
{
	if (*slot == NULL)
		return;
	*slot = sd_bus_slot_unref(*slot);
	sd.inflight--;
}

/* ---- the runs ---- */

static void
sdrun_forget(struct sdrun *r)
{
	idmap_del(sd.runs, r->job_id);
	sd_bus_slot_unref(r->props_slot);
	sdrun_slot_done(&r->call_slot);
	sdrun_slot_done(&r->get_slot);
	sd_bus_message_unref(r->start_msg);
	if (r->waiting)
		TAILQ_REMOVE(&sd.waiting, r, wait_link);
	if (r->linger != NULL)
		event_free(r->linger);
	for (int i = 0; i < 2; i++)
		free(r->line[i].buf);
	free(r->unit_path);
	free(r->job_path);
	free(r->job_result);
	free(r);
}

/* Fire and forget: a call whose answer changes nothing (UnrefUnit,
 * KillUnit). A NULL callback makes sd-bus send it without a reply. */
static void
sdrun_call_quiet(const char *method, const char *types, ...)
{
	sd_bus_message *m = NULL;
	va_list ap;
	int r;

	if (sd.bus == NULL)
		return;
	r = sd_bus_message_new_method_call(sd.bus, &m, SD_DEST, SD_PATH,
					   SD_MANAGER, method);
	if (r >= 0) {
		va_start(ap, types);
		r = sd_bus_message_appendv(m, types, ap);
		va_end(ap);
	}
	if (r >= 0)
		r = sd_bus_message_set_expect_reply(m, false);
	if (r >= 0)
		r = sd_bus_send(sd.bus, m, NULL);
	if (r < 0)
		log_debug("systemd: %s: %s", method, strerror(-r));
	sd_bus_message_unref(m);
}

static void sdrun_journal_flush(struct sdrun *r, int i);

static void
sdrun_linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sdrun *r = arg;

	for (int i = 0; i < 2; i++)
		sdrun_journal_flush(r, i);
	sdrun_forget(r);
}

/* The run ended (reported): the unit may go, the run waits for output. */
static void
sdrun_end(struct sdrun *r)
{
	struct timeval tv = {SDRUN_LINGER_S, 0};

	r->state = SDRUN_ENDED;
	r->props_slot = sd_bus_slot_unref(r->props_slot);
	sdrun_slot_done(&r->call_slot);
	sdrun_slot_done(&r->get_slot);
	r->start_msg = sd_bus_message_unref(r->start_msg);
	r->read_wanted = false;
	if (r->waiting)
		TAILQ_REMOVE(&sd.waiting, r, wait_link);
	r->waiting = false;
	sdrun_call_quiet("UnrefUnit", "s", r->unit);
	sdrun_bus_rearm();
	if (r->line[0].eof && r->line[1].eof) {
		sdrun_forget(r);
		return;
	}
	r->linger = evtimer_new(sd.base, sdrun_linger_cb, r);
	if (r->linger == NULL || evtimer_add(r->linger, &tv) < 0)
		sdrun_linger_cb(-1, 0, r);
}

/* ---- reading the unit ---- */

struct sdunit_state {
	char active[32];
	char result[32];
	uint32_t main_pid;
	uint32_t exec_main_pid;
	int32_t exec_main_code;
	int32_t exec_main_status;
	uint64_t exec_main_start_usec;
	int32_t pre_code; /* the last ExecStartPre='s, 0 if it did not run */
	int32_t pre_status;
};

static int
sdunit_read_string(sd_bus_message *m, char *buf, size_t size)
{
	const char *s;
	int r;

	if ((r = sd_bus_message_read(m, "v", "s", &s)) < 0)
		return r;
	snprintf(buf, size, "%s", s);
	return 0;
}

/* ExecStartPre: a(sasbttttuii), path argv ignore start_rt start_mono
 * exit_rt exit_mono pid code status. */
static int
sdunit_read_pre(sd_bus_message *m, struct sdunit_state *st)
{
	int r;

	if ((r = sd_bus_message_enter_container(m, 'v', "a(sasbttttuii)")) <
		0 ||
	    (r = sd_bus_message_enter_container(m, 'a', "(sasbttttuii)")) < 0)
		return r;
	for (;;) {
		int32_t code, status;

		r = sd_bus_message_enter_container(m, 'r', "sasbttttuii");
		if (r <= 0)
			break;
		if ((r = sd_bus_message_skip(m, "sasbttttu")) < 0 ||
		    (r = sd_bus_message_read(m, "ii", &code, &status)) < 0 ||
		    (r = sd_bus_message_exit_container(m)) < 0)
			return r;
		if (code != 0) {
			st->pre_code = code;
			st->pre_status = status;
		}
	}
	if (r < 0)
		return r;
	if ((r = sd_bus_message_exit_container(m)) < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

static int
sdunit_parse(sd_bus_message *m, struct sdunit_state *st)
{
	int r;

	memset(st, 0, sizeof *st);
	if ((r = sd_bus_message_enter_container(m, 'a', "{sv}")) < 0)
		return r;
	while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		const char *name;

		if ((r = sd_bus_message_read(m, "s", &name)) < 0)
			return r;
		if (strcmp(name, "ActiveState") == 0)
			r = sdunit_read_string(m, st->active,
					       sizeof st->active);
		else if (strcmp(name, "Result") == 0)
			r = sdunit_read_string(m, st->result,
					       sizeof st->result);
		else if (strcmp(name, "MainPID") == 0)
			r = sd_bus_message_read(m, "v", "u", &st->main_pid);
		else if (strcmp(name, "ExecMainPID") == 0)
			r = sd_bus_message_read(m, "v", "u",
						&st->exec_main_pid);
		else if (strcmp(name, "ExecMainCode") == 0)
			r = sd_bus_message_read(m, "v", "i",
						&st->exec_main_code);
		else if (strcmp(name, "ExecMainStatus") == 0)
			r = sd_bus_message_read(m, "v", "i",
						&st->exec_main_status);
		else if (strcmp(name, "ExecMainStartTimestampMonotonic") == 0)
			r = sd_bus_message_read(m, "v", "t",
						&st->exec_main_start_usec);
		else if (strcmp(name, "ExecStartPre") == 0)
			r = sdunit_read_pre(m, st);
		else
			r = sd_bus_message_skip(m, "v");
		if (r < 0)
			return r;
		if ((r = sd_bus_message_exit_container(m)) < 0)
			return r;
	}
	if (r < 0)
		return r;
	return sd_bus_message_exit_container(m);
}

/* systemd's exit statuses for a child that failed before or at exec
 * (src/shared/exit-status.h), for a readable reason. */
static const char *
sdunit_exit_step(int status)
{
	switch (status) {
	case 200:
		return "chdir";
	case 201:
		return "nice";
	case 203:
		return "execve";
	case 205:
		return "limits";
	case 206:
		return "oom_score_adjust";
	case 208:
		return "setting up stdin/stdout/stderr";
	case 214:
		return "setsid";
	case 216:
		return "setgroups/setgid (group)";
	case 217:
		return "user lookup (User=)";
	case 218:
		return "capabilities";
	case 226:
		return "namespace (sandboxing)";
	case 228:
		return "seccomp";
	case 233:
		return "preparing a cgroup";
	default:
		return NULL;
	}
}

static void
sdrun_report_failed(struct sdrun *r, const struct sdunit_state *st)
{
	char why[256];
	const char *step = NULL;
	uint64_t job_id;
	int err = EIO;

	if (st->pre_code == CLD_EXITED && r->check_user &&
	    st->pre_status == 1) {
		snprintf(why, sizeof why, "user %s no longer has uid %u",
			 r->user, (unsigned)r->uid);
		err = ESRCH;
	} else if (st->pre_code == CLD_EXITED &&
		   (step = sdunit_exit_step(st->pre_status)) != NULL) {
		snprintf(why, sizeof why, "unit %s: %s failed (status %d)",
			 r->unit, step, st->pre_status);
	} else if (st->exec_main_code == CLD_EXITED &&
		   (step = sdunit_exit_step(st->exec_main_status)) != NULL) {
		snprintf(why, sizeof why, "unit %s: %s failed (status %d)",
			 r->unit, step, st->exec_main_status);
		if (st->exec_main_status == 203)
			err = ENOENT;
		else if (st->exec_main_status == 217 ||
			 st->exec_main_status == 216)
			err = ESRCH;
	} else {
		snprintf(why, sizeof why,
			 "unit %s did not start: job %s, result %s", r->unit,
			 r->job_result != NULL ? r->job_result : "?",
			 st->result[0] != '\0' ? st->result : "?");
	}
	job_id = r->job_id;
	sdrun_end(r); /* before the report: the runner may call back */
	exec_backend_failed(job_id, err, why);
}

/* Whether the main program ran although the start job did not end
 * "done": under Type=exec a program that exits (or is killed) before
 * systemd has seen its exec succeed fails the start job, yet it ran. Its
 * own exit status says so; 200..243 are systemd's for a failed step
 * before or at exec (src/basic/exit-status.h), taken as not started. */
static bool
sdunit_main_ran(const struct sdunit_state *st)
{
	if (st->exec_main_code == CLD_KILLED ||
	    st->exec_main_code == CLD_DUMPED)
		return true;
	return st->exec_main_code == CLD_EXITED &&
	       (st->exec_main_status < 200 || st->exec_main_status > 243);
}

static bool
sdunit_is_down(const struct sdunit_state *st)
{
	return strcmp(st->active, "inactive") == 0 ||
	       strcmp(st->active, "failed") == 0;
}

static int
sdrun_getall_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct sdrun *r = userdata;
	struct sdunit_state st;
	uint64_t job_id = r->job_id;
	bool signaled = false, timed_out;
	int code, err;

	sdrun_slot_done(&r->get_slot);
	if (sd_bus_message_is_method_error(m, NULL)) {
		const sd_bus_error *e = sd_bus_message_get_error(m);

		/* Without the unit's state the run's end cannot be known;
		 * say so rather than wait forever. */
		log_warnx("systemd: reading %s: %s", r->unit,
			  e != NULL && e->message != NULL ? e->message : "?");
		memset(&st, 0, sizeof st);
		snprintf(st.active, sizeof st.active, "failed");
		/* Reported as ended: it must not run on unaccounted. */
		sdrun_call_quiet("KillUnit", "ssi", r->unit, "all",
				 (int32_t)SIGKILL);
	} else if ((err = sdunit_parse(m, &st)) < 0) {
		log_warnx("systemd: reading %s: %s", r->unit, strerror(-err));
		memset(&st, 0, sizeof st);
		snprintf(st.active, sizeof st.active, "failed");
	}
	if (r->state == SDRUN_STARTING) {
		if (r->job_result == NULL)
			return 0; /* cannot happen: read only once it is gone */
		if ((strcmp(r->job_result, "done") != 0 &&
		     !sdunit_main_ran(&st)) ||
		    (st.exec_main_start_usec == 0 && st.exec_main_pid == 0 &&
		     st.exec_main_code == 0)) {
			sdrun_report_failed(r, &st);
			return 0;
		}
		r->state = SDRUN_RUNNING;
		exec_backend_started(
		    job_id,
		    (pid_t)(st.main_pid != 0 ? st.main_pid : st.exec_main_pid),
		    r->unit);
		/* The runner may have killed or shut down from that report:
		 * look the run up again. */
		if ((r = idmap_get(sd.runs, job_id)) == NULL ||
		    r->state != SDRUN_RUNNING)
			return 0;
		if (r->pending_sig != 0) {
			sdrun_call_quiet("KillUnit", "ssi", r->unit, "all",
					 (int32_t)r->pending_sig);
			r->pending_sig = 0;
		}
	}
	if (r->state != SDRUN_RUNNING || !sdunit_is_down(&st))
		return 0;
	switch (st.exec_main_code) {
	case CLD_KILLED:
	case CLD_DUMPED:
		signaled = true;
		code = st.exec_main_status;
		break;
	case CLD_EXITED:
		code = st.exec_main_status;
		break;
	default:
		/* Stopped without a main process status (cannot normally
		 * happen once it started): a kill it was not told about. */
		signaled = true;
		code = SIGKILL;
		break;
	}
	timed_out = strcmp(st.result, "timeout") == 0 && !r->killed;
	if (strcmp(st.result, "oom-kill") == 0)
		log_info("systemd: %s: killed by the OOM killer (MemoryMax=?)",
			 r->unit);
	sdrun_end(r);
	exec_backend_exited(job_id, signaled, code, timed_out);
	return 0;
}

static void
sdrun_wait_turn(struct sdrun *r)
{
	if (!r->waiting) {
		TAILQ_INSERT_TAIL(&sd.waiting, r, wait_link);
		r->waiting = true;
	}
}

static int
sdrun_send_read(struct sdrun *r)
{
	int err;

	/* All interfaces (""): ActiveState is the Unit's, Result and
	 * ExecMain* the Service's. */
	err = sd_bus_call_method_async(sd.bus, &r->get_slot, SD_DEST,
				       r->unit_path,
				       "org.freedesktop.DBus.Properties",
				       "GetAll", sdrun_getall_cb, r, "s", "");
	if (err < 0)
		return err;
	sd.inflight++;
	return 0;
}

static void
sdrun_read_unit(struct sdrun *r)
{
	int err;

	if (r->get_slot != NULL || r->read_wanted || sd.bus == NULL)
		return; /* its reply is newer than what triggered this */
	if (sd.inflight >= SDRUN_INFLIGHT_MAX) {
		r->read_wanted = true;
		sdrun_wait_turn(r);
		return;
	}
	if ((err = sdrun_send_read(r)) < 0)
		log_warnx("systemd: reading %s: %s", r->unit, strerror(-err));
	sdrun_bus_rearm();
}

/* One match for every run: JobRemoved of a unit named evd-hook-T-F-J. */
static int
sdrun_job_removed_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	const char *path, *unit, *result, *p;
	struct sdrun *r;
	uint64_t job_id;
	uint32_t id;

	if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0 ||
	    strncmp(unit, "evd-hook-", 9) != 0 ||
	    (p = strrchr(unit, '-')) == NULL ||
	    sscanf(p + 1, "%" SCNu64 ".service", &job_id) != 1 ||
	    (r = idmap_get(sd.runs, job_id)) == NULL ||
	    strcmp(unit, r->unit) != 0 || r->state != SDRUN_STARTING ||
	    r->job_result != NULL)
		return 0;
	/* The reply to StartTransientUnit comes before the job's end; a
	 * job of this unit without it is still ours (nothing else starts
	 * or stops it before it started). */
	if (r->job_path != NULL && strcmp(path, r->job_path) != 0)
		return 0;
	if ((r->job_result = strdup(result)) == NULL)
		return -ENOMEM;
	sdrun_read_unit(r);
	return 0;
}

static int
sdrun_props_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct sdrun *r = userdata;
	const char *iface;

	if (r->state != SDRUN_RUNNING ||
	    sd_bus_message_read(m, "s", &iface) < 0 ||
	    strcmp(iface, SD_UNIT_IFACE) != 0)
		return 0;
	sdrun_read_unit(r);
	return 0;
}

static int
sdrun_start_reply_cb(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
	struct sdrun *r = userdata;
	const char *path;

	sdrun_slot_done(&r->call_slot);
	if (sd_bus_message_is_method_error(m, NULL)) {
		const sd_bus_error *e = sd_bus_message_get_error(m);
		char why[256];
		int err = sd_bus_error_get_errno(e);
		uint64_t job_id = r->job_id;

		snprintf(why, sizeof why, "StartTransientUnit %s: %s", r->unit,
			 e != NULL && e->message != NULL ? e->message
							 : strerror(err));
		/* No unit was made: nothing to unref. */
		r->state = SDRUN_ENDED;
		sdrun_forget(r);
		exec_backend_failed(job_id, err > 0 ? err : EIO, why);
		return 0;
	}
	if (sd_bus_message_read(m, "o", &path) >= 0 && r->job_path == NULL)
		r->job_path = strdup(path); /* NULL: any job of the unit */
	return 0;
}

/* ---- building the unit ---- */

static bool
sdrun_env_has(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp != NULL && *envp != NULL; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return true;
	return false;
}

/* Printable ASCII only: a D-Bus string must be UTF-8, and the
 * description is for humans. */
static void
sdrun_describe(const struct exec_launch *l, char *buf, size_t size)
{
	size_t n;

	n = (size_t)snprintf(buf, size,
			     "evd timer %" PRIu64 " fire %" PRIu64 ":",
			     l->timer_id, l->fire_id);
	for (char *const *a = l->argv; *a != NULL && n + 2 < size; a++) {
		buf[n++] = ' ';
		for (const char *c = *a; *c != '\0' && n + 1 < size; c++)
			buf[n++] = (*c >= 0x20 && *c < 0x7f) ? *c : '?';
	}
	buf[n < size ? n : size - 1] = '\0';
}

static int
sdrun_append_exec(sd_bus_message *m, const char *name, const char *path,
		  char *const *argv)
{
	int r;

	/* ExecStartEx a(sasas): the "no-env-expand" flag keeps systemd from
	 * expanding $VAR in argv, which the spawner never does. */
	if ((r = sd_bus_message_open_container(m, 'r', "sv")) < 0 ||
	    (r = sd_bus_message_append(m, "s", name)) < 0 ||
	    (r = sd_bus_message_open_container(m, 'v', "a(sasas)")) < 0 ||
	    (r = sd_bus_message_open_container(m, 'a', "(sasas)")) < 0 ||
	    (r = sd_bus_message_open_container(m, 'r', "sasas")) < 0 ||
	    (r = sd_bus_message_append(m, "s", path)) < 0 ||
	    (r = sd_bus_message_append_strv(m, (char **)argv)) < 0 ||
	    (r = sd_bus_message_append(m, "as", 1, "no-env-expand")) < 0 ||
	    (r = sd_bus_message_close_container(m)) < 0 ||
	    (r = sd_bus_message_close_container(m)) < 0 ||
	    (r = sd_bus_message_close_container(m)) < 0)
		return r;
	return sd_bus_message_close_container(m);
}

static int
sdrun_append_prop(sd_bus_message *m, const struct exec_sdprop *p)
{
	switch (p->type) {
	case 't':
		return sd_bus_message_append(m, "(sv)", p->name, "t", p->t);
	case 'u':
		return sd_bus_message_append(m, "(sv)", p->name, "u",
					     (uint32_t)p->t);
	case 'i':
		return sd_bus_message_append(m, "(sv)", p->name, "i", p->i);
	case 'b':
		return sd_bus_message_append(m, "(sv)", p->name, "b",
					     (int)p->b);
	case 's':
		return sd_bus_message_append(m, "(sv)", p->name, "s", p->s);
	case 'a': {
		int r;

		if ((r = sd_bus_message_open_container(m, 'r', "sv")) < 0 ||
		    (r = sd_bus_message_append(m, "s", p->name)) < 0 ||
		    (r = sd_bus_message_open_container(m, 'v', "as")) < 0 ||
		    (r = sd_bus_message_append_strv(m, p->paths)) < 0 ||
		    (r = sd_bus_message_close_container(m)) < 0)
			return r;
		return sd_bus_message_close_container(m);
	}
	}
	return -EINVAL;
}

/*
 * Limit*= never goes past evd's own hard limit (jobprop.h: "infinity" is
 * evd's own), as in the spawner, where the kernel and a clamp see to it.
 * Here systemd applies the limit as root, so evd clamps it first; the
 * converted properties are otherwise exactly systemd-run's.
 */
static void
sdrun_clamp_rlimit(struct jobprop *jp)
{
	struct rlimit rl;
	int res;

	switch (jp->key) {
	case JOBPROP_LIMIT_NOFILE:
		res = RLIMIT_NOFILE;
		break;
	case JOBPROP_LIMIT_CORE:
		res = RLIMIT_CORE;
		break;
	case JOBPROP_LIMIT_NPROC:
		res = RLIMIT_NPROC;
		break;
	default:
		return;
	}
	if (getrlimit(res, &rl) < 0 || rl.rlim_max == RLIM_INFINITY)
		return;
	if (jp->value_hard > rl.rlim_max)
		jp->value_hard = rl.rlim_max;
	if (jp->value > jp->value_hard)
		jp->value = jp->value_hard;
}

/* The owner's name check: systemd resolves User=<uid> itself (primary
 * group and supplementary groups at start, NSS in the unit's own child,
 * never in evd); this pre-command, run as the owner inside the unit,
 * refuses to go on when the name stored with the timer maps to another
 * uid now (a deleted user whose uid was given to someone else). */
#define SDRUN_CHECK_SCRIPT                                                     \
	"u=$(id -u -- \"$1\" 2>/dev/null) && [ \"$u\" = \"$2\" ] && exit 0; "  \
	"echo \"evd: user $1 no longer has uid $2: not run\" >&2; exit 1"

static int
sdrun_build(sd_bus_message *m, const struct exec_launch *l,
	    const struct sdrun *run, char *err_buf, size_t err_size)
{
	char desc[256], slice[64], uidstr[16], found[4096];
	const char *prog = l->prog;
	uint64_t runtime_usec = UINT64_MAX, job_runtime_usec = UINT64_MAX;
	int r;

	if ((r = sd_bus_message_append(m, "ss", run->unit, "fail")) < 0 ||
	    (r = sd_bus_message_open_container(m, 'a', "(sv)")) < 0)
		return r;
	sdrun_describe(l, desc, sizeof desc);
	/* A bare name: systemd would search its own PATH; the hook's is
	 * EXEC_PATH, so systemd is told to search that (ExecSearchPath=
	 * needs systemd 250) -- simpler and older-proof: run it through
	 * the absolute path of the first EXEC_PATH entry holding it, which
	 * the unit's own execve checks (203/EXEC when missing). The stat
	 * that finds it runs in evd on EXEC_PATH's root-owned directories,
	 * never on a path the owner controls. */
	if (strchr(prog, '/') == NULL) {
		const char *p = EXEC_PATH;

		found[0] = '\0';
		while (*p != '\0') {
			size_t n = strcspn(p, ":");

			snprintf(found, sizeof found, "%.*s/%s", (int)n, p,
				 prog);
			if (access(found, X_OK) == 0)
				break;
			found[0] = '\0';
			p += n + (p[n] == ':');
		}
		/* Not found: the first entry, so that the unit fails with
		 * 203/EXEC like any missing program. */
		if (found[0] == '\0')
			snprintf(found, sizeof found, "/usr/local/bin/%s",
				 prog);
		prog = found;
	}
	if ((r = sd_bus_message_append(
		 m, "(sv)(sv)(sv)(sv)(sv)(sv)(sv)(sv)", "Description", "s",
		 desc, "Type", "s", "exec", "KillMode", "s", "control-group",
		 "CollectMode", "s", "inactive-or-failed", "AddRef", "b", 1,
		 "IgnoreSIGPIPE", "b", 0, "LimitCORESoft", "t", (uint64_t)0,
		 "TimeoutStopUSec", "t", (uint64_t)(EXEC_GRACE_NS / 1000))) < 0)
		return r;
	if ((r = sdrun_append_exec(m, "ExecStartEx", prog, l->argv)) < 0)
		return r;
	if (sd.system) {
		snprintf(uidstr, sizeof uidstr, "%u", (unsigned)l->uid);
		snprintf(slice, sizeof slice, "evd-hooks-u%u.slice",
			 (unsigned)l->uid);
		if ((r = sd_bus_message_append(m, "(sv)(sv)", "User", "s",
					       uidstr, "Slice", "s", slice)) <
		    0)
			return r;
		if (run->check_user) {
			char *argv[] = {"sh",
					"-c",
					SDRUN_CHECK_SCRIPT,
					"evd-check-user",
					(char *)l->user,
					uidstr,
					NULL};

			if ((r = sdrun_append_exec(m, "ExecStartPreEx",
						   "/bin/sh", argv)) < 0)
				return r;
		}
	}
	/* "-~": the owner's home, or / when it cannot be entered. */
	if ((r = sd_bus_message_append(m, "(sv)", "WorkingDirectory", "s",
				       l->cwd != NULL ? l->cwd : "-~")) < 0)
		return r;
	if ((r = sd_bus_message_open_container(m, 'r', "sv")) < 0 ||
	    (r = sd_bus_message_append(m, "s", "Environment")) < 0 ||
	    (r = sd_bus_message_open_container(m, 'v', "as")) < 0 ||
	    (r = sd_bus_message_open_container(m, 'a', "s")) < 0)
		return r;
	/* HOME, USER, LOGNAME, SHELL: systemd sets them from the passwd
	 * entry at start (User=, or the user manager's own). */
	if (!sdrun_env_has(l->envp, "PATH") &&
	    (r = sd_bus_message_append(m, "s", "PATH=" EXEC_PATH)) < 0)
		return r;
	for (char *const *e = l->envp; e != NULL && *e != NULL; e++)
		if ((r = sd_bus_message_append(m, "s", *e)) < 0)
			return r;
	if ((r = sd_bus_message_close_container(m)) < 0 ||
	    (r = sd_bus_message_close_container(m)) < 0 ||
	    (r = sd_bus_message_close_container(m)) < 0)
		return r;
	/* sd-bus dups the fds into the message. */
	if ((r = sd_bus_message_append(
		 m, "(sv)(sv)(sv)", "StandardInputFileDescriptor", "h",
		 l->stdin_fd, "StandardOutputFileDescriptor", "h", l->stdout_fd,
		 "StandardErrorFileDescriptor", "h", l->stderr_fd)) < 0)
		return r;
	if (l->timeout_ns > 0)
		runtime_usec =
		    (uint64_t)(l->timeout_ns + EXEC_GRACE_NS) / 1000 +
		    SDRUN_BACKSTOP_USEC;
	for (size_t i = 0; i < l->nprops; i++) {
		struct exec_sdprop p[EXEC_SDPROPS_PER_KEY];
		struct jobprop jp;
		int n;

		/* jobprop judged the list at schedule time; parsing it again
		 * here (the one parser) only fails if the owner lost the
		 * right to a value since (Nice < 0 is root's). */
		if ((r = jobprop_parse(l->props[i], l->uid, &jp, err_buf,
				       err_size)) < 0)
			return r;
		sdrun_clamp_rlimit(&jp);
		if ((n = exec_sdprops_convert(&jp, p)) < 0) {
			snprintf(err_buf, err_size, "property %s: %s", jp.name,
				 strerror(-n));
			return n;
		}
		r = 0;
		for (int k = 0; k < n; k++) {
			/* RuntimeMaxUSec: set once, below (the last one
			 * wins, as jobprop_timeout_ns reads it). */
			if (r >= 0 && strcmp(p[k].name, "RuntimeMaxUSec") == 0)
				job_runtime_usec = p[k].t;
			else if (r >= 0)
				r = sdrun_append_prop(m, &p[k]);
			exec_sdprops_clear(&p[k]);
		}
		if (r < 0)
			return r;
	}
	/* The job's own limit, unless the backstop is shorter: only one
	 * may be set. */
	if (job_runtime_usec < runtime_usec)
		runtime_usec = job_runtime_usec;
	if (runtime_usec != UINT64_MAX &&
	    (r = sd_bus_message_append(m, "(sv)", "RuntimeMaxUSec", "t",
				       runtime_usec)) < 0)
		return r;
	if ((r = sd_bus_message_close_container(m)) < 0)
		return r;
	return sd_bus_message_append(m, "a(sa(sv))", 0); /* no aux units */
}

static int
sdrun_start(const struct exec_launch *l)
{
	sd_bus_message *m = NULL;
	struct sdrun *run;
	char err_buf[256] = "";
	const char *base;
	int r;

	if (sd.bus == NULL)
		return -ENOTCONN;
	if (l->job_id == 0 || l->argv == NULL || l->argv[0] == NULL)
		return -EINVAL;
	if (idmap_get(sd.runs, l->job_id) != NULL)
		return -EEXIST;
	if ((run = calloc(1, sizeof *run)) == NULL)
		return -ENOMEM;
	run->job_id = l->job_id;
	run->timer_id = l->timer_id;
	run->fire_id = l->fire_id;
	run->uid = l->uid;
	run->state = SDRUN_STARTING;
	snprintf(run->unit, sizeof run->unit,
		 "evd-hook-%" PRIu64 "-%" PRIu64 "-%" PRIu64 ".service",
		 l->timer_id, l->fire_id, l->job_id);
	base = strrchr(l->argv[0], '/');
	snprintf(run->ident, sizeof run->ident, "%s",
		 base != NULL ? base + 1 : l->argv[0]);
	/* A name longer than the buffer is not checked: no passwd name is
	 * (useradd's bound is 32). */
	if (sd.system && l->set_ids && l->user != NULL && l->user[0] != '\0' &&
	    strlen(l->user) < sizeof run->user) {
		run->check_user = true;
		snprintf(run->user, sizeof run->user, "%s", l->user);
	}
	if ((r = idmap_put(sd.runs, run->job_id, run)) < 0) {
		free(run);
		return r;
	}
	if ((r = sd_bus_path_encode(SD_UNIT_PREFIX, run->unit,
				    &run->unit_path)) < 0)
		goto fail;
	/* The match before the start: the bus keeps the order. */
	if ((r = sd_bus_match_signal_async(
		 sd.bus, &run->props_slot, SD_DEST, run->unit_path,
		 "org.freedesktop.DBus.Properties", "PropertiesChanged",
		 sdrun_props_cb, NULL, run)) < 0)
		goto fail;
	if ((r = sd_bus_message_new_method_call(sd.bus, &m, SD_DEST, SD_PATH,
						SD_MANAGER,
						"StartTransientUnit")) < 0)
		goto fail;
	if ((r = sdrun_build(m, l, run, err_buf, sizeof err_buf)) < 0) {
		if (err_buf[0] != '\0')
			log_debug("systemd: %s: %s", run->unit, err_buf);
		goto fail;
	}
	if (sd.inflight >= SDRUN_INFLIGHT_MAX) {
		/* The message holds its own copies of the fds. */
		run->start_msg = m;
		sdrun_wait_turn(run);
		return 0;
	}
	if ((r = sd_bus_call_async(sd.bus, &run->call_slot, m,
				   sdrun_start_reply_cb, run,
				   SDRUN_CALL_USEC)) < 0)
		goto fail;
	sd.inflight++;
	sd_bus_message_unref(m);
	sdrun_bus_rearm();
	return 0;
fail:
	sd_bus_message_unref(m);
	sdrun_forget(run);
	sdrun_bus_rearm();
	return r;
}

static int
sdrun_kill(uint64_t job_id, int sig)
{
	struct sdrun *r = sd.runs != NULL ? idmap_get(sd.runs, job_id) : NULL;

	if (r == NULL || r->state == SDRUN_ENDED || sd.bus == NULL)
		return -ENOENT;
	r->killed = true;
	if (r->state == SDRUN_STARTING) {
		/* Its start may still wait in evd, or its processes not
		 * exist yet: signal it once started. SIGKILL wins. */
		if (r->pending_sig != SIGKILL)
			r->pending_sig = sig;
		return 0;
	}
	/* "all": the unit's whole cgroup, grandchildren included. */
	sdrun_call_quiet("KillUnit", "ssi", r->unit, "all", (int32_t)sig);
	sdrun_bus_rearm();
	return 0;
}

/* ---- the journal ---- */

static int
sdrun_journal_open(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, sndbuf = 8 * 1024 * 1024;

	if (sd.journal_fd >= 0)
		return sd.journal_fd;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Best effort: a larger buffer absorbs bursts of lines. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	memcpy(sa.sun_path, JOURNAL_SOCKET, sizeof JOURNAL_SOCKET);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return sd.journal_fd = fd;
}

/* One line as a native journal datagram: KEY=value\n fields, MESSAGE in
 * the binary form (KEY\n, 64-bit little-endian length, bytes, \n) so that
 * any byte of the line is carried as is. */
static void
sdrun_journal_send(const struct sdrun *r, int stream, const char *line,
		   size_t len)
{
	char head[512];
	uint8_t le[8];
	struct iovec iov[4];
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 4};
	int fd, n;
	uint64_t l64 = len;

	if ((fd = sdrun_journal_open()) < 0) {
		sd.journal_dropped++;
		return;
	}
	n = snprintf(head, sizeof head,
		     "PRIORITY=%d\nSYSLOG_IDENTIFIER=%s\nEVD_TIMER_ID=%" PRIu64
		     "\nEVD_FIRE_ID=%" PRIu64 "\nEVD_JOB_ID=%" PRIu64
		     "\nEVD_STREAM=%s\n%s=%s\n%s=%s\nMESSAGE\n",
		     stream == 2 ? 4 : 6, r->ident, r->timer_id, r->fire_id,
		     r->job_id, stream == 2 ? "stderr" : "stdout",
		     sd.system ? "UNIT" : "USER_UNIT", r->unit,
		     sd.system ? "OBJECT_SYSTEMD_UNIT"
			       : "OBJECT_SYSTEMD_USER_UNIT",
		     r->unit);
	if (n < 0 || (size_t)n >= sizeof head) {
		sd.journal_dropped++;
		return;
	}
	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(l64 >> (8 * i));
	iov[0] = (struct iovec){head, (size_t)n};
	iov[1] = (struct iovec){le, sizeof le};
	iov[2] = (struct iovec){(void *)line, len};
	iov[3] = (struct iovec){"\n", 1};
	if (sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		sd.journal_dropped++;
}

static void
sdrun_journal_flush(struct sdrun *r, int i)
{
	if (r->line[i].len > 0)
		sdrun_journal_send(r, i + 1, r->line[i].buf, r->line[i].len);
	r->line[i].len = 0;
}

static void
sdrun_output(uint64_t job_id, int stream, const char *buf, size_t len)
{
	struct sdrun *r = sd.runs != NULL ? idmap_get(sd.runs, job_id) : NULL;
	struct sdrun_line *ln;

	if (r == NULL || (stream != 1 && stream != 2))
		return;
	ln = &r->line[stream - 1];
	if (len == 0) {
		sdrun_journal_flush(r, stream - 1);
		ln->eof = true;
		if (r->state == SDRUN_ENDED && r->line[0].eof && r->line[1].eof)
			sdrun_forget(r);
		return;
	}
	while (len > 0) {
		const char *nl = memchr(buf, '\n', len);
		size_t seg = nl != NULL ? (size_t)(nl - buf) : len, take;
		bool ends;

		if (ln->len == 0 && nl != NULL && seg <= SDRUN_LINE_MAX) {
			/* A whole line in the chunk: no copy. */
			sdrun_journal_send(r, stream, buf, seg);
			buf += seg + 1;
			len -= seg + 1;
			continue;
		}
		if (ln->buf == NULL &&
		    (ln->buf = malloc(SDRUN_LINE_MAX)) == NULL) {
			sd.journal_dropped++;
			return;
		}
		take = seg < SDRUN_LINE_MAX - ln->len
			   ? seg
			   : SDRUN_LINE_MAX - ln->len;
		memcpy(ln->buf + ln->len, buf, take);
		ln->len += take;
		buf += take;
		len -= take;
		/* A line of exactly SDRUN_LINE_MAX bytes is one entry, not
		 * one plus an empty one. */
		ends = nl != NULL && take == seg;
		if (ends) {
			buf++;
			len--;
		}
		if (ends || ln->len == SDRUN_LINE_MAX)
			sdrun_journal_flush(r, stream - 1);
	}
}

/* ---- the bus on the loop ---- */

static void sdrun_bus_lost(int err);

/* Sends the calls that waited for a free slot, oldest first. From the
 * bus callback only: a start that cannot be sent is reported failed. */
static void
sdrun_pump(void)
{
	struct sdrun *r;
	int err;

	while (sd.bus != NULL && sd.inflight < SDRUN_INFLIGHT_MAX &&
	       (r = TAILQ_FIRST(&sd.waiting)) != NULL) {
		TAILQ_REMOVE(&sd.waiting, r, wait_link);
		r->waiting = false;
		if (r->start_msg != NULL) {
			sd_bus_message *m = r->start_msg;

			r->start_msg = NULL;
			err = sd_bus_call_async(sd.bus, &r->call_slot, m,
						sdrun_start_reply_cb, r,
						SDRUN_CALL_USEC);
			sd_bus_message_unref(m);
			if (err < 0) {
				uint64_t job_id = r->job_id;
				char why[160];

				snprintf(why, sizeof why,
					 "StartTransientUnit %s: %s", r->unit,
					 strerror(-err));
				r->state = SDRUN_ENDED;
				sdrun_forget(r);
				exec_backend_failed(job_id, -err, why);
				continue;
			}
			sd.inflight++;
		} else if (r->read_wanted) {
			r->read_wanted = false;
			if ((err = sdrun_send_read(r)) < 0)
				log_warnx("systemd: reading %s: %s", r->unit,
					  strerror(-err));
		}
	}
}

static void
sdrun_bus_cb(evutil_socket_t fd, short what, void *arg)
{
	int r;

	while (sd.bus != NULL && (r = sd_bus_process(sd.bus, NULL)) != 0) {
		if (r < 0) {
			sdrun_bus_lost(r);
			return;
		}
	}
	sdrun_pump();
	sdrun_bus_rearm();
}

static void
sdrun_bus_rearm(void)
{
	struct timespec now;
	struct timeval tv, *tvp = NULL;
	uint64_t until, now_usec;
	short what = 0;
	int events, fd;

	if (sd.bus == NULL || sd.ev == NULL)
		return;
	if ((events = sd_bus_get_events(sd.bus)) < 0 ||
	    (fd = sd_bus_get_fd(sd.bus)) < 0) {
		/* Closed: let the callback find out and report. */
		event_del(sd.ev);
		event_assign(sd.ev, sd.base, -1, 0, sdrun_bus_cb, NULL);
		event_active(sd.ev, EV_TIMEOUT, 0);
		return;
	}
	if (events & POLLIN)
		what |= EV_READ;
	if (events & POLLOUT)
		what |= EV_WRITE;
	if (sd_bus_get_timeout(sd.bus, &until) >= 0 && until != UINT64_MAX) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		now_usec = (uint64_t)now.tv_sec * 1000000 +
			   (uint64_t)now.tv_nsec / 1000;
		until = until > now_usec ? until - now_usec : 0;
		tv.tv_sec = (time_t)(until / 1000000);
		tv.tv_usec = (suseconds_t)(until % 1000000);
		tvp = &tv;
	}
	event_del(sd.ev);
	event_assign(sd.ev, sd.base, fd, what, sdrun_bus_cb, NULL);
	event_add(sd.ev, tvp);
}

/* The bus is gone (systemd or dbus restarted hard): every run ends now,
 * as far as evd can know. */
static void
sdrun_bus_lost(int err)
{
	struct timeval tv;

	if (sdrun_ms() - sd.connected_ms > SDRUN_RECONNECT_MAX_MS)
		sd.backoff_ms = SDRUN_RECONNECT_MS;
	log_warnx("systemd: lost the bus: %s; hooks still running are left "
		  "to systemd and reported as killed; reconnecting in "
		  "%" PRId64 " ms",
		  strerror(-err), sd.backoff_ms);
	sd.job_removed = sd_bus_slot_unref(sd.job_removed);
	sd.bus = sd_bus_flush_close_unref(sd.bus);
	if (sd.ev != NULL)
		event_del(sd.ev);
	tv.tv_sec = sd.backoff_ms / 1000;
	tv.tv_usec = (sd.backoff_ms % 1000) * 1000;
	if (sd.ev_reconnect != NULL)
		evtimer_add(sd.ev_reconnect, &tv);
	sd.backoff_ms = sd.backoff_ms * 2 > SDRUN_RECONNECT_MAX_MS
				? SDRUN_RECONNECT_MAX_MS
				: sd.backoff_ms * 2;
	for (;;) {
		size_t iter = 0;
		struct sdrun *r;
		uint64_t job_id;

		/* One at a time: a report may change the map. */
		do
			r = idmap_next(sd.runs, &iter, NULL);
		while (r != NULL && r->state == SDRUN_ENDED);
		if (r == NULL)
			break;
		job_id = r->job_id;
		if (r->state == SDRUN_STARTING) {
			sdrun_end(r);
			exec_backend_failed(job_id, ECONNRESET,
					    "lost the connection to systemd");
		} else {
			sdrun_end(r);
			exec_backend_exited(job_id, true, SIGKILL, false);
		}
	}
}

/*
 * Opens the bus again after a loss, without waiting on it: connect and
 * authentication go on in sd_bus_process, the subscription and the
 * JobRemoved match are sent asynchronously. A bus that fails again is
 * lost again, and retried later.
 */
static void
sdrun_reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
	sd_bus *bus = NULL;
	struct timeval tv;
	int r;

	r = sd.system ? sd_bus_open_system(&bus) : sd_bus_open_user(&bus);
	if (r >= 0)
		r = sd_bus_call_method_async(bus, NULL, SD_DEST, SD_PATH,
					     SD_MANAGER, "Subscribe", NULL,
					     NULL, NULL);
	if (r >= 0)
		r = sd_bus_match_signal_async(bus, &sd.job_removed, SD_DEST,
					      SD_PATH, SD_MANAGER,
					      "JobRemoved",
					      sdrun_job_removed_cb, NULL, NULL);
	if (r < 0) {
		log_warnx("systemd: cannot reopen the bus: %s; again in "
			  "%" PRId64 " ms",
			  strerror(-r), sd.backoff_ms);
		sd.job_removed = sd_bus_slot_unref(sd.job_removed);
		sd_bus_flush_close_unref(bus);
		tv.tv_sec = sd.backoff_ms / 1000;
		tv.tv_usec = (sd.backoff_ms % 1000) * 1000;
		evtimer_add(sd.ev_reconnect, &tv);
		sd.backoff_ms = sd.backoff_ms * 2 > SDRUN_RECONNECT_MAX_MS
					? SDRUN_RECONNECT_MAX_MS
					: sd.backoff_ms * 2;
		return;
	}
	(void)sd_bus_set_method_call_timeout(bus, SDRUN_CALL_USEC);
	sd.bus = bus;
	sd.inflight = 0; /* every call of the old bus was settled */
	sd.connected_ms = sdrun_ms();
	log_notice("systemd: reconnected to the %s bus",
		   sd.system ? "system" : "user");
	sdrun_bus_rearm();
	event_active(sd.ev, EV_TIMEOUT, 0);
}

static int
sdrun_init(struct event_base *base)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char *version = NULL;
	int r;

	if (sd.bus != NULL)
		return -EALREADY;
	sd.system = geteuid() == 0;
	/* Root without systemd as PID 1 (a container's init, a shell):
	 * there is no system manager to talk to. */
	if (sd.system && sd_booted() <= 0)
		return -ENOMEDIUM;
	r = sd.system ? sd_bus_open_system(&sd.bus) : sd_bus_open_user(&sd.bus);
	if (r < 0)
		goto fail;
	/* Start-up only, before evd serves anything: the manager answers. */
	(void)sd_bus_set_method_call_timeout(sd.bus, 5 * 1000000);
	r = sd_bus_get_property_string(sd.bus, SD_DEST, SD_PATH, SD_MANAGER,
				       "Version", &e, &version);
	if (r < 0)
		goto fail;
	/* Without a subscriber the manager does not emit JobRemoved. */
	r = sd_bus_call_method(sd.bus, SD_DEST, SD_PATH, SD_MANAGER,
			       "Subscribe", &e, NULL, NULL);
	if (r < 0)
		goto fail;
	r = sd_bus_match_signal_async(sd.bus, &sd.job_removed, SD_DEST, SD_PATH,
				      SD_MANAGER, "JobRemoved",
				      sdrun_job_removed_cb, NULL, NULL);
	if (r < 0)
		goto fail;
	if ((sd.runs = idmap_new()) == NULL ||
	    (sd.ev = event_new(base, -1, 0, sdrun_bus_cb, NULL)) == NULL ||
	    (sd.ev_reconnect = evtimer_new(base, sdrun_reconnect_cb,
					   NULL)) == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	(void)sd_bus_set_method_call_timeout(sd.bus, SDRUN_CALL_USEC);
	sd.base = base;
	sd.connected_ms = sdrun_ms();
	sd.backoff_ms = SDRUN_RECONNECT_MS;
	log_info("hooks: transient units of the %s manager (systemd %s)",
		 sd.system ? "system" : "user", version);
	free(version);
	sdrun_bus_rearm();
	event_active(sd.ev, EV_TIMEOUT, 0); /* anything read while waiting */
	return 0;
fail:
	log_debug("systemd: not usable for hooks: %s",
		  sd_bus_error_is_set(&e) && e.message != NULL ? e.message
							       : strerror(-r));
	sd_bus_error_free(&e);
	free(version);
	if (sd.ev != NULL)
		event_free(sd.ev);
	sd.ev = NULL;
	if (sd.ev_reconnect != NULL)
		event_free(sd.ev_reconnect);
	sd.ev_reconnect = NULL;
	idmap_free(sd.runs);
	sd.runs = NULL;
	sd.job_removed = sd_bus_slot_unref(sd.job_removed);
	sd.bus = sd_bus_flush_close_unref(sd.bus);
	return r;
}

static void
sdrun_shutdown(void)
{
	size_t iter = 0;
	struct sdrun *r;

	if (sd.runs != NULL) {
		/* Kill first (non-blocking sends), then forget. */
		while ((r = idmap_next(sd.runs, &iter, NULL)) != NULL)
			if (r->state != SDRUN_ENDED) {
				sdrun_call_quiet("KillUnit", "ssi", r->unit,
						 "all", (int32_t)SIGKILL);
				sdrun_call_quiet("UnrefUnit", "s", r->unit);
			}
		while ((r = idmap_next(sd.runs, &(size_t){0}, NULL)) != NULL)
			sdrun_forget(r);
		idmap_free(sd.runs);
		sd.runs = NULL;
	}
	if (sd.ev != NULL)
		event_free(sd.ev);
	sd.ev = NULL;
	if (sd.ev_reconnect != NULL)
		event_free(sd.ev_reconnect);
	sd.ev_reconnect = NULL;
	sd.job_removed = sd_bus_slot_unref(sd.job_removed);
	/* Closing drops the AddRef references too. */
	if (sd.bus != NULL) {
		sd_bus_close(sd.bus);
		sd.bus = sd_bus_unref(sd.bus);
	}
	if (sd.journal_fd >= 0)
		close(sd.journal_fd);
	sd.journal_fd = -1;
	if (sd.journal_dropped > 0)
		log_info("systemd: %" PRIu64 " hook output lines were not "
			 "journaled (journald busy)",
			 sd.journal_dropped);
	sd.journal_dropped = 0;
	sd.base = NULL;
}

static unsigned
sdrun_honours(void)
{
	return EXEC_HONOURS_NICE | EXEC_HONOURS_CGROUP | EXEC_HONOURS_SANDBOX;
}

const struct exec_backend exec_backend_systemd = {
    .name = "systemd",
    .honours = sdrun_honours,
    .init = sdrun_init,
    .start = sdrun_start,
    .kill = sdrun_kill,
    .shutdown = sdrun_shutdown,
    .output = sdrun_output,
};
