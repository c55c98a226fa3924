/*
 * main: options, start-up and shutdown of evd.
 *
 * evd always runs in the foreground: systemd (or the terminal) supervises
 * it; it never forks itself. Start-up order: options, state directory,
 * store, socket, then READY=1, so that anyone waiting for readiness can
 * connect at once. The only place that exits the process.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "batch.h"
#include "channel.h"
#include "conn.h"
#include "dispatch.h"
#include "exec.h"
#include "hook.h"
#include "frame.h"
#include "log.h"
#include "notify.h"
#include "quota.h"
#include "sched.h"
#include "server.h"
#include "store.h"
#include "wait.h"

struct options {
	char socket_path[PATH_MAX];
	char state_dir[PATH_MAX];
	const char *store;
	bool sync_full;
	uint32_t history;
	size_t max_frame;
};

/* Exec hooks running at once, and waiting beyond that. */
#define MAIN_EXEC_RUNNING 64
#define MAIN_EXEC_QUEUED 10000
/* Hooks of one (non-root) owner running at once. */
#define MAIN_EXEC_PER_UID 16

static volatile int stopping;

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: evd [options]\n"
	        "\n"
	        "The evd timer daemon: call_soon / call_later / call_at as a "
	        "system service.\n"
	        "Runs in the foreground; stop it with SIGTERM or SIGINT.\n"
	        "\n"
	        "  --socket PATH       listen on PATH (default: $EVD_SOCKET, "
	        "else /run/evd/evd.sock\n"
	        "                      as root, $XDG_RUNTIME_DIR/evd.sock "
	        "otherwise)\n"
	        "  --state-dir DIR     durable state (default: /var/lib/evd "
	        "as root,\n"
	        "                      $XDG_STATE_HOME/evd otherwise)\n"
	        "  --store KIND        sqlite (durable, the default) or memory "
	        "(timers live\n"
	        "                      until evd stops)\n"
	        "  --sync MODE         full (fsync every commit, the default) "
	        "or normal\n"
	        "                      (a power loss may lose the last "
	        "commits)\n"
	        "  --history N         run records kept per timer (default "
	        "20)\n"
	        "  --max-frame BYTES   largest request accepted (default "
	        "%u)\n"
	        "  --log-level LEVEL   err, warning, notice, info (default) "
	        "or debug\n"
	        "  -h, --help          this text\n"
	        "  -V, --version       print the version\n",
	        FRAME_DEFAULT_MAX);
}

static int
copy_path(char *dst, const char *a, const char *b)
{
	int n = snprintf(dst, PATH_MAX, "%s%s", a, b);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

static int
default_socket(char *dst)
{
	const char *s = getenv("EVD_SOCKET");

	if (s != NULL && s[0] != '\0')
		return copy_path(dst, s, "");
	if (geteuid() == 0)
		return copy_path(dst, "/run/evd/evd.sock", "");
	if ((s = getenv("XDG_RUNTIME_DIR")) != NULL && s[0] != '\0')
		return copy_path(dst, s, "/evd.sock");
	return -ENOENT;
}

static int
default_state_dir(char *dst)
{
	const char *s;

	if (geteuid() == 0)
		return copy_path(dst, "/var/lib/evd", "");
	if ((s = getenv("XDG_STATE_HOME")) != NULL && s[0] != '\0')
		return copy_path(dst, s, "/evd");
	if ((s = getenv("HOME")) != NULL && s[0] != '\0')
		return copy_path(dst, s, "/.local/state/evd");
	return -ENOENT;
}

static void
parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_SOCKET = 256, OPT_STATE, OPT_STORE, OPT_LOG, OPT_FRAME,
	       OPT_SYNC, OPT_HISTORY };
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "state-dir", required_argument, NULL, OPT_STATE },
		{ "store", required_argument, NULL, OPT_STORE },
		{ "log-level", required_argument, NULL, OPT_LOG },
		{ "max-frame", required_argument, NULL, OPT_FRAME },
		{ "sync", required_argument, NULL, OPT_SYNC },
		{ "history", required_argument, NULL, OPT_HISTORY },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	unsigned long v;
	int ch, level;

	memset(o, 0, sizeof *o);
	o->store = "sqlite";
	o->sync_full = true;
	o->history = 20;
	o->max_frame = FRAME_DEFAULT_MAX;
	while ((ch = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_SOCKET:
			if (copy_path(o->socket_path, optarg, "") < 0)
				fatalx("--socket: path too long");
			break;
		case OPT_STATE:
			if (copy_path(o->state_dir, optarg, "") < 0)
				fatalx("--state-dir: path too long");
			break;
		case OPT_STORE:
			o->store = optarg;
			break;
		case OPT_LOG:
			if ((level = log_parse_level(optarg)) < 0) {
				fprintf(stderr, "evd: --log-level: unknown "
				        "level '%s'\n", optarg);
				exit(2);
			}
			log_set_level(level);
			break;
		case OPT_FRAME:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v < 64 ||
			    v > 64ul * 1024 * 1024) {
				fprintf(stderr, "evd: --max-frame: expected "
				        "64..67108864 bytes\n");
				exit(2);
			}
			o->max_frame = v;
			break;
		case OPT_SYNC:
			if (strcmp(optarg, "full") == 0)
				o->sync_full = true;
			else if (strcmp(optarg, "normal") == 0)
				o->sync_full = false;
			else {
				fprintf(stderr, "evd: --sync: full or normal\n");
				exit(2);
			}
			break;
		case OPT_HISTORY:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || v > 10000) {
				fprintf(stderr, "evd: --history: expected "
				        "0..10000\n");
				exit(2);
			}
			o->history = (uint32_t)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("evd %s\n", EVD_VERSION);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "evd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		exit(2);
	}
	if (store_backend_find(o->store) == NULL) {
		fprintf(stderr, "evd: --store: unknown store '%s' (memory or "
		        "sqlite)\n", o->store);
		exit(2);
	}
	if (o->socket_path[0] == '\0' && default_socket(o->socket_path) < 0) {
		fprintf(stderr, "evd: no socket path: XDG_RUNTIME_DIR is not "
		        "set; pass --socket PATH or set EVD_SOCKET\n");
		exit(2);
	}
	if (o->state_dir[0] == '\0' && default_state_dir(o->state_dir) < 0) {
		fprintf(stderr, "evd: no state directory: pass --state-dir "
		        "DIR\n");
		exit(2);
	}
}

static void
signal_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	log_notice("%s: shutting down", strsignal((int)sig));
	stopping = 1;
	event_base_loopbreak(base);
}

/* mkdir -p with mode for the last component; parents get 0755. */
static int
make_dirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	char *p;

	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return -ENAMETOOLONG;
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Opens the store and loads what it holds into memory. */
static void
open_store(const struct options *o)
{
	const struct store_backend *be = store_backend_find(o->store);
	struct store_config cfg = {
		.state_dir = o->state_dir,
		.sync_full = o->sync_full,
		.history_per_timer = o->history,
	};
	struct store *s;
	char why[512];
	int r;

	if (be->durable && (r = make_dirs(o->state_dir, 0700)) < 0) {
		errno = -r;
		fatal("cannot create the state directory %s", o->state_dir);
	}
	if ((r = be->open(&cfg, &s)) < 0) {
		/* The backend says why (no handle to ask when open fails). */
		snprintf(why, sizeof why, "%s", be->errmsg(NULL));
		fatalx("cannot open the %s store in %s: %s", be->name,
		       o->state_dir, why[0] != '\0' ? why : strerror(-r));
	}
	batch_init(be, s);
	if ((r = sched_reload_durable(be, s)) < 0 ||
	    (r = channel_reload(be, s)) < 0)
		fatalx("cannot load the %s store in %s: %s", be->name,
		       o->state_dir, be->errmsg(s));
	if (!batch_end())
		log_warnx("%s", batch_errmsg());
}

static void
signal_hup_cb(evutil_socket_t sig, short what, void *arg)
{
	log_notice("SIGHUP: this version has no configuration to reload");
}

static struct event_base *
make_base(void)
{
	struct event_config *cfg;
	struct event_base *base;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	/* libevent's default coarse clock fires timeouts up to a tick
	 * early; the visibility timeouts and pauses must not. */
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

int
main(int argc, char **argv)
{
	struct event *ev_int, *ev_term, *ev_hup;
	struct event_base *base;
	struct options o;
	mode_t mode;
	int r;

	parse_options(argc, argv, &o);
	/* Writes to a vanished client must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* A file size limit must make the store's writes fail (and the
	 * batch be refused), not kill the daemon. */
	signal(SIGXFSZ, SIG_IGN);

	if ((base = make_base()) == NULL)
		fatalx("cannot create the event loop");
	dispatch_init(o.store);
	if ((r = sched_init(base)) < 0) {
		errno = -r;
		fatal("cannot set up timers");
	}
	if ((r = quota_init()) < 0 || (r = wait_init(base)) < 0 ||
	    (r = hook_init()) < 0 ||
	    (r = exec_init(base, MAIN_EXEC_RUNNING, MAIN_EXEC_QUEUED)) < 0 ||
	    (r = channel_init(base)) < 0 || (r = conn_init(base, o.max_frame)) < 0)
		fatalx("out of memory at start-up");
	exec_set_uid_limit(MAIN_EXEC_PER_UID);
	open_store(&o);

	/* The system instance serves every local user (each sees only its
	 * own timers); a user instance serves its own user only. */
	mode = geteuid() == 0 ? 0666 : 0600;
	r = server_listen(base, o.socket_path, mode);
	if (r == -EADDRINUSE)
		fatalx("another evd is already listening on %s; stop it "
		       "first or choose another --socket", o.socket_path);
	if (r == -EEXIST)
		fatalx("%s exists and is not a socket; refusing to replace "
		       "it", o.socket_path);
	if (r == -ENAMETOOLONG)
		fatalx("socket path too long: %s", o.socket_path);
	if (r < 0) {
		errno = -r;
		fatal("cannot listen on %s", o.socket_path);
	}

	ev_int = evsignal_new(base, SIGINT, signal_stop_cb, base);
	ev_term = evsignal_new(base, SIGTERM, signal_stop_cb, base);
	ev_hup = evsignal_new(base, SIGHUP, signal_hup_cb, base);
	if (ev_int == NULL || ev_term == NULL || ev_hup == NULL ||
	    event_add(ev_int, NULL) < 0 || event_add(ev_term, NULL) < 0 ||
	    event_add(ev_hup, NULL) < 0) {
		server_stop();
		fatalx("cannot install signal handlers");
	}

	log_notice("evd %s listening on %s (store %s, pid %ld)", EVD_VERSION,
	           o.socket_path, o.store, (long)getpid());
	notify_ready(o.socket_path);

	/*
	 * One loop iteration at a time: everything its callbacks did to the
	 * store commits as one batch, and only then do the replies go out
	 * (group commit).
	 */
	while (!stopping) {
		if (event_base_loop(base, EVLOOP_ONCE) < 0) {
			log_warnx("event loop failed");
			break;
		}
		batch_end();
		conn_flush_all();
	}
	/* Running hooks are killed; their ends go into the last batch. */
	exec_shutdown();
	batch_end();
	conn_flush_all();

	notify_stopping();
	server_stop();
	conn_shutdown();
	channel_shutdown();
	sched_shutdown();
	hook_shutdown();
	wait_shutdown();
	quota_shutdown();
	batch_shutdown();
	event_free(ev_int);
	event_free(ev_term);
	event_free(ev_hup);
	event_base_free(base);
	log_notice("stopped");
	return 0;
}
