/*
 * evb: the pieces of evbench (tests/bench/evbench.c).
 *
 * evb_util.c	clocks, statistics, the result registry, /proc readers,
 *		child processes (busy loop, echo server), and the
 *		pipelined driver that pushes pre-built frames down N
 *		connections with a window and counts the replies;
 * evb_evd.c	figures of the real evd (started through the integration
 *		harness, tests/integ/harness.c);
 * evb_base.c	the baselines: raw Unix-socket echo and stream, libevent
 *		timers in-process, timerfd lateness, posix_spawn, Redis
 *		sorted sets, at(1);
 * evbench.c	options, the order of the runs, and the report (markdown,
 *		JSON, gnuplot).
 *
 * Every figure goes into one registry by a key such as
 * "evd.schedule.memory.c16"; the report looks keys up, so a skipped
 * measurement is a missing key, printed as "skipped", never a zero.
 */
#ifndef EVB_H
#define EVB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define EVB_MAX_RUNS 15
#define NS_PER_S 1000000000LL

/* What the run was asked to do (evbench.c fills it). */
struct evb_opts {
	int runs;
	bool quick;
	bool full;
	const char *only; /* NULL: every group */
	long ops;	  /* requests per throughput run */
	long ops_durable; /* the same, durable store */
	long pending_max; /* largest "other timers pending" in precision */
	double fire_secs; /* seconds of firing per precision run */
	long mem_max;	  /* largest memory point */
	long restart_n;	  /* durable timers at restart */
	long exec_n;	  /* exec hooks per run */
	long deliver_n;	  /* fires per delivery run */
	long rtt_n;	  /* round trips per run */
	long heap_n;	  /* timers in the in-process libevent baseline */
	double ext_secs;  /* seconds per at(1) submission run */
	const char *plot_dir;
	const char *sd_socket; /* sdexec: a running evd with hooks=systemd */
	const char *sd_user;   /* sdexec: hooks (and systemd-run's) as him */
};

/* ---- clocks and statistics ---- */
int64_t evb_now(void); /* CLOCK_MONOTONIC, ns */
int evb_cmp_i64(const void *a, const void *b);
int evb_cmp_dbl(const void *a, const void *b);
/* The p-quantile (0..1) of n sorted values. */
int64_t evb_quantile(const int64_t *sorted, size_t n, double p);

/* ---- the result registry ---- */
enum evb_unit {
	EVB_RATE,  /* per second */
	EVB_NS,	   /* a duration in ns, printed in µs or ms */
	EVB_BYTES, /* bytes */
	EVB_SEC,   /* seconds */
	EVB_COUNT, /* a plain count */
	EVB_RATIO, /* dimensionless */
};

struct evb_result {
	char key[96];
	enum evb_unit unit;
	double med, min, max;
	int n;
};

/* Stores the median, min and max of v[0..n) under key (n >= 1). */
void evb_put(const char *key, enum evb_unit unit, double *v, int n);
/* One value (med = min = max). */
void evb_put1(const char *key, enum evb_unit unit, double v);
/* NULL when the key was never measured. */
const struct evb_result *evb_get(const char *key);
size_t evb_count(void);
const struct evb_result *evb_at(size_t i);
/* A line saying why something was skipped, kept for the report. */
void evb_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
size_t evb_nnotes(void);
const char *evb_note_at(size_t i);

/* Formats v of unit into buf ("1.23 M/s", "45.6 µs", "98 B"). */
const char *evb_fmt(char *buf, size_t size, enum evb_unit unit, double v);

/* ---- processes ---- */
/* VmRSS of pid in bytes, or -1. */
long evb_rss(pid_t pid);
/* A child spinning on the CPU (the "other core loaded" case); kill it
 * with evb_kill(). */
pid_t evb_busy_start(void);
void evb_kill(pid_t pid);
/* Pins pid (0: this process) to one CPU, or with cpu < 0 to all. */
int evb_pin(pid_t pid, int cpu);
/* Whether a program is on $PATH (or an absolute path that exists). */
bool evb_have(const char *prog);
/* Runs argv with stdin from in (may be NULL), collects stdout+stderr into
 * out (size bytes, NUL-terminated) and returns the exit status, or -1. */
int evb_run(const char *const *argv, const char *in, char *out, size_t size);
/* Makes a fresh temporary directory (mkdtemp) into buf. */
int evb_tmpdir(char *buf, size_t size, const char *tag);
/* Connects to a Unix socket, retrying for up to timeout_ms (servers we
 * just started); the fd or -errno. */
int evb_connect_retry(const char *path, int timeout_ms);
int evb_nonblock(int fd);

/* ---- the raw echo server (same 4-byte framing as evd) ---- */
/* Listens on path in a child; each connection is served by a child of
 * its own and starts with one byte from the client naming its mode.
 * 'e': echo every complete frame back, all frames of one read() in one
 * write() (a well-batched server); 's': a sink that counts frames until
 * EOF, then writes the 8-byte count. */
pid_t evb_echo_start(const char *path);

/* ---- the pipelined driver ---- */
struct evb_conn;
/*
 * Parses replies from in[0..len): returns the bytes consumed (complete
 * replies only), adds the replies to *ret_replies and the failed ones to
 * *ret_errors. arg is the driver's arg; conn is the connection's index.
 */
typedef size_t (*evb_parse_fn)(const uint8_t *in, size_t len, int conn,
			       void *arg, long *ret_replies, long *ret_errors);

struct evb_load {
	uint8_t *buf;  /* frames, back to back */
	size_t len;
	size_t cap;
	size_t *ends;  /* frame i ends at ends[i] */
	size_t n;
	size_t ncap;
};
/* Appends len bytes as one frame (a whole request, header included). */
int evb_load_add(struct evb_load *l, const void *p, size_t len);
void evb_load_free(struct evb_load *l);

/*
 * Sends loads[i] on fds[i] (non-blocking), keeping at most window
 * requests unanswered per connection, and reads and parses replies
 * until every request is answered. Returns requests per second from the
 * first write to the last reply, or -1 on an error, an error reply, or
 * after timeout_ms without progress.
 */
double evb_pipeline(const int *fds, struct evb_load *loads, int nconn,
		    size_t window, evb_parse_fn parse, void *arg,
		    int timeout_ms);

/* evd framing helpers. */
/* The body field number of a framed Reply (0 when undecodable), and
 * whether it carried a request_id (false: an event). */
int evb_reply_kind(const uint8_t *p, size_t len, bool *ret_has_id);
/* Parse function for evd: counts replies whose body is field *(int *)arg
 * (others are errors); events are skipped. */
size_t evb_parse_evd(const uint8_t *in, size_t len, int conn, void *arg,
		     long *ret_replies, long *ret_errors);
/* Parse function for the echo: every frame is a reply. */
size_t evb_parse_frames(const uint8_t *in, size_t len, int conn, void *arg,
			long *ret_replies, long *ret_errors);

/* ---- the groups of measurements ---- */
/* evd (evb_evd.c) */
void evb_evd_schedule(const struct evb_opts *o);
void evb_evd_scale(const struct evb_opts *o);
void evb_evd_cancel(const struct evb_opts *o);
void evb_evd_precision(const struct evb_opts *o);
void evb_evd_memory(const struct evb_opts *o);
void evb_evd_restart(const struct evb_opts *o);
void evb_evd_exec(const struct evb_opts *o);
/* Hooks/s of the evd at o->sd_socket (transient units): evd.exec.systemd. */
void evb_evd_exec_systemd(const struct evb_opts *o);
void evb_evd_rtt(const struct evb_opts *o);
void evb_evd_delivery(const struct evb_opts *o);
void evb_evd_cli(const struct evb_opts *o);
/* Bytes of an ephemeral call_later frame, header included: the echo
 * baselines send frames of the same size. */
size_t evb_call_later_frame(void);
/* Lateness samples (ns) of the plotted precision case, for the CDF. */
extern int64_t *evb_cdf_client, *evb_cdf_daemon, *evb_cdf_timerfd;
extern size_t evb_cdf_nclient, evb_cdf_ndaemon, evb_cdf_ntimerfd;

/* baselines (evb_base.c) */
void evb_base_ipc(const struct evb_opts *o);
void evb_base_heap(const struct evb_opts *o);
/* Lateness of bare timerfd deadlines at rate/s for secs; busy: with a
 * spinning child. Stores timerfd.<rate>.<idle|busy>.* keys. */
void evb_base_timerfd(const struct evb_opts *o, long rate, bool busy);
/* What arming a timer costs on this machine: timerfd_settime to 50 µs
 * ahead (the CPU's timer is programmed again; in a VM that is an exit to
 * the hypervisor) against 1 h ahead (it is not). Stores
 * machine.timer_arm.near and .far. */
void evb_base_timer_arm(const struct evb_opts *o);
void evb_base_spawn(const struct evb_opts *o);
/* `systemd-run --no-block` of /bin/true, one after another:
 * base.systemd_run. Needs a running system manager. */
void evb_base_systemd_run(const struct evb_opts *o);
void evb_base_redis(const struct evb_opts *o);
void evb_base_at(const struct evb_opts *o);

#endif
