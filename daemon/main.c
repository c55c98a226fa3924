/*
 * main: options, start-up and shutdown of evd.
 *
 * evd always runs in the foreground: systemd (or the terminal) supervises
 * it; it never forks itself. Start-up order: options, state directory,
 * store, socket, then READY=1, so that anyone waiting for readiness can
 * connect at once. The only place that exits the process. "evd migrate"
 * runs instead of all that (main_migrate, migrate.h): it copies one
 * store into another and exits.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "batch.h"
#include "channel.h"
#include "cluster.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "exec.h"
#include "hashkey.h"
#include "hook.h"
#include "frame.h"
#include "log.h"
#include "loop.h"
#include "metrics_http.h"
#include "migrate.h"
#include "notify.h"
#include "owners.h"
#include "peer.h"
#include "quota.h"
#include "sched.h"
#include "server.h"
#include "shard.h"
#include "spawner.h"
#include "exec_backend.h"
#include "store.h"
#include "wait.h"

/* How often STATUS= is refreshed under systemd ("every few seconds"). */
/* How long SIGTERM waits for clients to take what they are owed. */
#define MAIN_DRAIN_MS 2000
#define MAIN_STATUS_INTERVAL_S 2
/* Exit statuses (evd(8)): 1 run-time or start-up failure, 2 bad command
 * line, 6 bad configuration (systemd shows it as NOTCONFIGURED). */
#define MAIN_EXIT_USAGE 2
#define MAIN_EXIT_CONFIG 6
/* A settings error: a reason plus up to two paths. */
#define MAIN_ERR_MAX (2 * PATH_MAX + 512)

/* Where the settings come from; the process's only instance. */
static struct {
	char config_path[PATH_MAX];
	bool config_given;   /* --config: a missing file is an error */
	bool check_config;   /* --check-config: validate, start nothing */
	bool init_schema;    /* --init-schema: set up the pg store, exit */
	struct config cmd;   /* the command line: wins over the file */
	struct config eff;   /* in force: defaults < file < command line */
	char listen_path[PATH_MAX]; /* what we listen on, for messages */
	bool activated;      /* the socket came from systemd */
} opts;

/* Fire rate for STATUS=: fired_total at the previous refresh. */
static struct {
	uint64_t fired;
	int64_t at_ms;
	char last[256];
} status_state;

static volatile int stopping;

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: evd [options]\n"
	        "       evd migrate --from SPEC --to SPEC (evd migrate "
	        "--help)\n"
	        "\n"
	        "The evd timer daemon: call_soon / call_later / call_at as a "
	        "system service.\n"
	        "Runs in the foreground; stop it with SIGTERM or SIGINT, "
	        "reload with SIGHUP.\n"
	        "Options override the configuration file (evd.conf(5)).\n"
	        "\n"
	        "  --config FILE       configuration file (default: "
	        "/etc/evd/evd.conf as root,\n"
	        "                      $XDG_CONFIG_HOME/evd/evd.conf "
	        "otherwise; a missing\n"
	        "                      default file is fine)\n"
	        "  --socket PATH       listen on PATH (default: $EVD_SOCKET, "
	        "else /run/evd/evd.sock\n"
	        "                      as root, $XDG_RUNTIME_DIR/evd.sock "
	        "otherwise); ignored\n"
	        "                      when systemd passes the socket\n"
	        "  --state-dir DIR     durable state (default: /var/lib/evd "
	        "as root,\n"
	        "                      $XDG_STATE_HOME/evd otherwise)\n"
	        "  --store KIND        sqlite (durable, the default) or memory "
	        "(timers live\n"
	        "                      until evd stops), or pg:CONNINFO "
	        "(PostgreSQL, one\n"
	        "                      evd per database; see evd(8))\n"
	        "  --init-schema       with --store pg:...: create or migrate "
	        "the schema evd,\n"
	        "                      then exit\n"
	        "  --cluster           with --store pg:...: one node of "
	        "several on the\n"
	        "                      database (see evd(8), CLUSTER MODE)\n"
	        "  --cluster-death-ms MS  a node silent this long is dead "
	        "(default 10000)\n"
	        "  --cluster-heartbeat-ms MS  heartbeat interval (default: "
	        "a fifth of that)\n"
	        "  --sync MODE         full (fsync every commit, the default) "
	        "or normal\n"
	        "                      (a power loss may lose the last "
	        "commits)\n"
	        "  --history N         run records kept per timer (default "
	        "20)\n"
	        "  --finished-max N    finished and cancelled timers kept in "
	        "memory per uid\n"
	        "                      (caller timers; all with --store "
	        "memory; default %u)\n"
	        "  --max-frame BYTES   largest request accepted (default "
	        "%u)\n"
	        "  --log-level LEVEL   err, warning, notice, info (default) "
	        "or debug\n"
	        "  --metrics HOST:PORT serve Prometheus metrics over HTTP at "
	        "/metrics (default:\n"
	        "                      off; 'off' turns off one set in the "
	        "file); no\n"
	        "                      authentication: keep it on loopback, "
	        "e.g. 127.0.0.1:9464\n"
	        "  --threads N         event loops, one thread each (default "
	        "1, at most %u):\n"
	        "                      connections are spread over them; "
	        "see evd(8)\n"
	        "  --check-config      check the configuration file (and these "
	        "options) as evd\n"
	        "                      would use them, print every error, "
	        "and exit: 0 ok,\n"
	        "                      1 not; starts nothing\n"
	        "  -h, --help          this text\n"
	        "  -V, --version       print the version\n",
	        CONFIG_DEFAULT_FINISHED_MAX, FRAME_DEFAULT_MAX,
	        CONFIG_THREADS_MAX);
}

static int
copy_path(char *dst, size_t size, const char *a, const char *b)
{
	int n = snprintf(dst, size, "%s%s", a, b);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/*
 * A user's evd without XDG_RUNTIME_DIR (su, cron, a container) listens
 * in /tmp/evd-UID/, as tmux does in /tmp/tmux-UID/: a 0700 directory of
 * its own, made here, where libevclient looks too. One that someone else
 * made first (or a symlink, or one others may enter) is refused: it
 * could hand the user's clients to another program. -EPERM then.
 */
static int
user_tmp_socket(char *dst, size_t size)
{
	char dir[64];
	struct stat st;

	snprintf(dir, sizeof dir, "/tmp/evd-%u", (unsigned)geteuid());
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 077) != 0)
		return -EPERM;
	return copy_path(dst, size, dir, "/evd.sock");
}

static int
default_socket(char *dst, size_t size)
{
	const char *s = getenv("EVD_SOCKET");

	if (s != NULL && s[0] != '\0')
		return copy_path(dst, size, s, "");
	if (geteuid() == 0)
		return copy_path(dst, size, "/run/evd/evd.sock", "");
	if ((s = getenv("XDG_RUNTIME_DIR")) != NULL && s[0] != '\0')
		return copy_path(dst, size, s, "/evd.sock");
	return user_tmp_socket(dst, size);
}

static int
default_state_dir(char *dst, size_t size)
{
	const char *s;

	if (geteuid() == 0)
		return copy_path(dst, size, "/var/lib/evd", "");
	if ((s = getenv("XDG_STATE_HOME")) != NULL && s[0] != '\0')
		return copy_path(dst, size, s, "/evd");
	if ((s = getenv("HOME")) != NULL && s[0] != '\0')
		return copy_path(dst, size, s, "/.local/state/evd");
	return -ENOENT;
}

static int
default_config(char *dst, size_t size)
{
	const char *s;

	if (geteuid() == 0)
		return copy_path(dst, size, "/etc/evd/evd.conf", "");
	if ((s = getenv("XDG_CONFIG_HOME")) != NULL && s[0] != '\0')
		return copy_path(dst, size, s, "/evd/evd.conf");
	if ((s = getenv("HOME")) != NULL && s[0] != '\0')
		return copy_path(dst, size, s, "/.config/evd/evd.conf");
	return -ENOENT;
}

static void
parse_options(int argc, char **argv)
{
	enum { OPT_SOCKET = 256, OPT_STATE, OPT_STORE, OPT_LOG, OPT_FRAME,
	       OPT_SYNC, OPT_HISTORY, OPT_METRICS, OPT_THREADS, OPT_CONFIG,
	       OPT_HOOKS, OPT_FINISHED_MAX, OPT_CHECK_CONFIG,
	       OPT_INIT_SCHEMA, OPT_CLUSTER, OPT_CLUSTER_DEATH,
	       OPT_CLUSTER_HEARTBEAT };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "socket", required_argument, NULL, OPT_SOCKET },
		{ "state-dir", required_argument, NULL, OPT_STATE },
		{ "store", required_argument, NULL, OPT_STORE },
		{ "log-level", required_argument, NULL, OPT_LOG },
		{ "max-frame", required_argument, NULL, OPT_FRAME },
		{ "sync", required_argument, NULL, OPT_SYNC },
		{ "history", required_argument, NULL, OPT_HISTORY },
		{ "metrics", required_argument, NULL, OPT_METRICS },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "hooks", required_argument, NULL, OPT_HOOKS },
		{ "finished-max", required_argument, NULL, OPT_FINISHED_MAX },
		{ "check-config", no_argument, NULL, OPT_CHECK_CONFIG },
		{ "init-schema", no_argument, NULL, OPT_INIT_SCHEMA },
		{ "cluster", no_argument, NULL, OPT_CLUSTER },
		{ "cluster-death-ms", required_argument, NULL,
		  OPT_CLUSTER_DEATH },
		{ "cluster-heartbeat-ms", required_argument, NULL,
		  OPT_CLUSTER_HEARTBEAT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	/* getopt code → config key; -1 for the others. */
	static const int keys[] = {
		[OPT_SOCKET - OPT_SOCKET] = CONFIG_SOCKET,
		[OPT_STATE - OPT_SOCKET] = CONFIG_STATE_DIR,
		[OPT_STORE - OPT_SOCKET] = CONFIG_STORE,
		[OPT_LOG - OPT_SOCKET] = CONFIG_LOG_LEVEL,
		[OPT_FRAME - OPT_SOCKET] = CONFIG_MAX_FRAME,
		[OPT_SYNC - OPT_SOCKET] = CONFIG_SYNC,
		[OPT_HISTORY - OPT_SOCKET] = CONFIG_HISTORY,
		[OPT_METRICS - OPT_SOCKET] = CONFIG_METRICS,
		[OPT_THREADS - OPT_SOCKET] = CONFIG_THREADS,
		[OPT_CONFIG - OPT_SOCKET] = -1,
		[OPT_HOOKS - OPT_SOCKET] = CONFIG_HOOKS,
		[OPT_FINISHED_MAX - OPT_SOCKET] = CONFIG_FINISHED_MAX,
		[OPT_CHECK_CONFIG - OPT_SOCKET] = -1,
		[OPT_INIT_SCHEMA - OPT_SOCKET] = -1,
		[OPT_CLUSTER - OPT_SOCKET] = CONFIG_CLUSTER,
		[OPT_CLUSTER_DEATH - OPT_SOCKET] = CONFIG_CLUSTER_DEATH_MS,
		[OPT_CLUSTER_HEARTBEAT - OPT_SOCKET] =
		    CONFIG_CLUSTER_HEARTBEAT_MS,
	};
	char why[256];
	int ch, idx;

	config_init(&opts.cmd);
	while ((ch = getopt_long(argc, argv, "hV", longopts, &idx)) != -1) {
		switch (ch) {
		case OPT_CONFIG:
			if (copy_path(opts.config_path,
			              sizeof opts.config_path, optarg, "") < 0) {
				fprintf(stderr, "evd: --config: path too "
				        "long\n");
				exit(MAIN_EXIT_USAGE);
			}
			opts.config_given = true;
			break;
		case OPT_CHECK_CONFIG:
			opts.check_config = true;
			break;
		case OPT_INIT_SCHEMA:
			opts.init_schema = true;
			break;
		case OPT_SOCKET:
		case OPT_STATE:
		case OPT_STORE:
		case OPT_LOG:
		case OPT_FRAME:
		case OPT_SYNC:
		case OPT_HISTORY:
		case OPT_METRICS:
		case OPT_THREADS:
		case OPT_HOOKS:
		case OPT_FINISHED_MAX:
		case OPT_CLUSTER:
		case OPT_CLUSTER_DEATH:
		case OPT_CLUSTER_HEARTBEAT:
			if (config_set(&opts.cmd, keys[ch - OPT_SOCKET],
			               ch == OPT_CLUSTER ? "yes" : optarg,
			               why, sizeof why) < 0) {
				fprintf(stderr, "evd: --%s: %s\n",
				        longopts[idx].name, why);
				exit(MAIN_EXIT_USAGE);
			}
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("evd %s\n", EVD_VERSION);
			exit(0);
		default:
			usage(stderr);
			exit(MAIN_EXIT_USAGE);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "evd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		exit(MAIN_EXIT_USAGE);
	}
	if (!opts.config_given &&
	    default_config(opts.config_path, sizeof opts.config_path) < 0)
		opts.config_path[0] = '\0'; /* no HOME: no file */
}

/*
 * The file's settings (file) under the command line, then the defaults,
 * the paths' included. Returns 0, or -errno with why in err. ret is
 * untouched on failure.
 */
static int
settings_resolve(const struct config *file, struct config *ret, char *err,
                 size_t errsize)
{
	struct config c;
	int r;

	config_init(&c);
	config_merge(&c, file);
	config_merge(&c, &opts.cmd);
	config_fill_defaults(&c);
	if (!(c.set & CONFIG_BIT(CONFIG_SOCKET))) {
		if ((r = default_socket(c.socket, sizeof c.socket)) < 0) {
			snprintf(err, errsize, "no socket path: %s; pass "
			         "--socket PATH, set EVD_SOCKET or 'socket' in "
			         "%s", r == -ENAMETOOLONG ? "the default one is "
			         "too long" : r == -EPERM ? "XDG_RUNTIME_DIR is "
			         "not set and /tmp/evd-UID is not your own "
			         "0700 directory" : "XDG_RUNTIME_DIR is not set "
			         "and /tmp/evd-UID cannot be made",
			         opts.config_path);
			return r;
		}
		c.set |= CONFIG_BIT(CONFIG_SOCKET);
	}
	if (!(c.set & CONFIG_BIT(CONFIG_STATE_DIR))) {
		if (default_state_dir(c.state_dir, sizeof c.state_dir) < 0) {
			snprintf(err, errsize, "no state directory: pass "
			         "--state-dir DIR or set 'state_dir' in %s",
			         opts.config_path);
			return -ENOENT;
		}
		c.set |= CONFIG_BIT(CONFIG_STATE_DIR);
	}
	*ret = c;
	return 0;
}

/*
 * The settings in force if evd started now: the file (re-read) under the
 * command line, then the defaults. Returns 0, or -errno with why in err.
 * ret is untouched on failure.
 */
static int
settings_load(struct config *ret, char *err, size_t errsize)
{
	struct config file;
	int r;

	config_init(&file);
	if (opts.config_path[0] != '\0') {
		r = config_load(opts.config_path, &file, err, errsize);
		/* The default file is optional; one named by --config is
		 * not. */
		if (r == -ENOENT && !opts.config_given)
			config_init(&file);
		else if (r < 0)
			return r;
	}
	return settings_resolve(&file, ret, err, errsize);
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

/* ---- evd --check-config ---- */

/*
 * Whether evd could use directory dir, as it would: an existing
 * directory it may write in, or one it could make (the first missing
 * level of it, or every missing level with all: make_dirs). Returns 0,
 * or -errno with the path at fault in bad.
 */
static int
check_dir(const char *dir, bool all, char *bad, size_t size)
{
	char buf[PATH_MAX];
	struct stat st;
	char *slash;
	bool made = false;

	snprintf(buf, sizeof buf, "%s", dir);
	for (;;) {
		snprintf(bad, size, "%s", buf[0] != '\0' ? buf : "/");
		if (stat(buf[0] != '\0' ? buf : "/", &st) == 0)
			break;
		/* ENOTDIR: go up to the file in the way, to name it. */
		if (errno != ENOTDIR && (errno != ENOENT || (made && !all)))
			return -errno;
		/* Missing: its parent must let evd make it. */
		if ((slash = strrchr(buf, '/')) == NULL)
			return -ENOENT;
		*slash = '\0';
		made = true;
	}
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (access(buf[0] != '\0' ? buf : "/", W_OK | X_OK) < 0)
		return -errno;
	return 0;
}

static void
check_report_cb(void *arg, const char *msg)
{
	int *bad = arg;

	fprintf(stderr, "evd: %s\n", msg);
	(*bad)++;
}

/*
 * evd --check-config, as nginx -t: the file through the real parser
 * (every bad line, not only the first), the command line over it, then
 * what evd would do with the result before its first request: the
 * socket's and the state directory's paths. Binds, opens and starts
 * nothing. Returns the exit status: 0 ok, 1 not.
 */
static int
check_config(void)
{
	const char *path = opts.config_path;
	char err[MAIN_ERR_MAX], at[PATH_MAX], dir[PATH_MAX], name[16];
	struct config file, c;
	bool nofile = false;
	struct stat st;
	char *slash;
	int bad = 0, r;

	config_init(&file);
	if (path[0] == '\0') {
		printf("evd: no configuration file (no HOME); the built-in "
		       "defaults apply\n");
		nofile = true;
	} else {
		r = config_check(path, &file, err, sizeof err,
		                 check_report_cb, &bad);
		if (r == -ENOENT && !opts.config_given) {
			printf("evd: no configuration file %s; the built-in "
			       "defaults apply\n", path);
			nofile = true;
		} else if (r < 0) {
			check_report_cb(&bad, err);
		}
	}
	if (bad > 0)
		goto out;
	if (settings_resolve(&file, &c, err, sizeof err) < 0) {
		check_report_cb(&bad, err);
		goto out;
	}
	/* The socket: one that exists must be a socket (a live evd's is
	 * fine); else evd makes its directory, one level (server.c). */
	if (lstat(c.socket, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "evd: socket %s: exists and is not a "
			        "socket\n", c.socket);
			bad++;
		}
	} else {
		snprintf(dir, sizeof dir, "%s", c.socket);
		if ((slash = strrchr(dir, '/')) != NULL)
			*(slash == dir ? slash + 1 : slash) = '\0';
		if ((r = check_dir(dir, false, at, sizeof at)) < 0) {
			fprintf(stderr, "evd: socket %s: cannot listen there: "
			        "%s: %s\n", c.socket, at, strerror(-r));
			bad++;
		}
	}
	/* The state directory, where a store that keeps files keeps them
	 * (a database's store has a connection string instead; its spec is
	 * not printed: it may hold a password). */
	config_store_name(&c, name, sizeof name);
	if (store_backend_find(name)->durable && config_store_arg(&c) == NULL &&
	    (r = check_dir(c.state_dir, true, at, sizeof at)) < 0) {
		fprintf(stderr, "evd: state_dir %s: cannot keep the %s store "
		        "there: %s: %s\n", c.state_dir, name, at,
		        strerror(-r));
		bad++;
	}
out:
	if (bad > 0 && nofile)
		fprintf(stderr, "evd: configuration test failed\n");
	else if (bad > 0)
		fprintf(stderr, "evd: configuration file %s test failed\n",
		        path);
	else if (nofile)
		printf("evd: configuration (built-in defaults and options) is "
		       "ok\n");
	else
		printf("evd: configuration file %s is ok\n", path);
	return bad > 0 ? 1 : 0;
}

/* What the store's engine reports on its own (SQLite: a WAL recovered
 * after a crash, a corrupt page): escaped, since it quotes file names
 * and SQL. */
static void
store_log_cb(enum store_log_level level, const char *msg)
{
	char esc[1024];

	log_escape(esc, sizeof esc, msg, strlen(msg));
	switch (level) {
	case STORE_LOG_WARNING:
		log_warnx("store: %s", esc);
		break;
	case STORE_LOG_NOTICE:
		log_notice("store: %s", esc);
		break;
	case STORE_LOG_INFO:
		log_info("store: %s", esc);
		break;
	default:
		log_debug("store: %s", esc);
		break;
	}
}

/* What a store keeps of finished timers: the same for the configured
 * store and for each loop's keeper of caller timers (sched_init). */
static void
store_config_of(const struct config *c, struct store_config *ret)
{
	memset(ret, 0, sizeof *ret);
	ret->state_dir = c->state_dir;
	ret->conninfo = config_store_arg(c);
	ret->sync_full = c->sync_full;
	ret->history_per_timer = c->history;
	ret->finished_keep_ns = (int64_t)c->finished_keep_s * 1000000000;
	ret->finished_max = c->finished_max;
}

/* The configured store's backend (config_set checked the name). */
static const struct store_backend *
store_backend_of(const struct config *c)
{
	char name[16];

	config_store_name(c, name, sizeof name);
	return store_backend_find(name);
}

/*
 * --init-schema: creates or migrates the pg store's schema (open does)
 * and exits, for operators who set the database up ahead of time as
 * another role than evd's.
 */
static void
init_schema(const struct config *c)
{
	const struct store_backend *be = store_backend_of(c);
	struct store_config cfg;
	struct store *s;

	if (strcmp(be->name, "pg") != 0) {
		log_errx("--init-schema needs --store pg:CONNINFO (the store "
		         "is %s)", be->name);
		exit(MAIN_EXIT_USAGE);
	}
	store_config_of(c, &cfg);
	cfg.sync_full = false; /* no flush connection to set up */
	if (be->open(&cfg, &s) < 0)
		fatalx("cannot set up the pg store: %s", be->errmsg(NULL));
	be->close(s);
	log_notice("the pg store's schema evd is ready");
	exit(0);
}

/* Opens the store and loads what it holds into memory. */
static void
open_store(struct event_base *base, const struct config *c)
{
	const struct store_backend *be = store_backend_of(c);
	struct store_config cfg;
	struct store *s;
	char why[1024];
	int r;

	store_config_of(c, &cfg);
	cfg.log = store_log_cb;
	if (c->cluster) {
		if (strcmp(be->name, "pg") != 0)
			fatalx("cluster mode needs --store pg:CONNINFO (the "
			       "store is %s)", be->name);
		if (shard_count() > 1)
			fatalx("cluster mode runs one event loop (threads = "
			       "1)");
		if (cluster_open(cfg.conninfo,
		                 (int64_t)c->cluster_death_ms * 1000000,
		                 (int64_t)c->cluster_heartbeat_ms * 1000000, why,
		                 sizeof why) < 0)
			fatalx("cannot join the cluster: %s", why);
		cfg.cluster_node = cluster_node_id();
		cfg.claim_ns = cluster_claim_ns();
		if (owners_open(cfg.conninfo, cluster_node_id()) < 0)
			fatalx("out of memory at start-up");
		peer_set_check(owners_check);
	}
	if (be->durable && (r = make_dirs(c->state_dir, 0700)) < 0) {
		errno = -r;
		fatal("cannot create the state directory %s", c->state_dir);
	}
	if ((r = be->open(&cfg, &s)) < 0) {
		/* The backend says why (no handle to ask when open fails). */
		snprintf(why, sizeof why, "%s", be->errmsg(NULL));
		fatalx("cannot open the %s store in %s: %s", be->name,
		       cfg.conninfo != NULL ? "PostgreSQL" : c->state_dir,
		       why[0] != '\0' ? why : strerror(-r));
	}
	/* From here on through batch, which may wrap it (storeq.h). */
	batch_init(base, be, s);
	be = batch_backend();
	s = batch_store_ro();
	if (c->cluster && (r = cluster_start(base)) < 0)
		fatalx(r == -ENOTSUP ? "cluster mode: this store cannot claim "
		                       "channel messages"
		                     : "out of memory at start-up");
	if ((r = sched_reload_durable(be, s)) < 0 ||
	    (r = channel_reload(be, s)) < 0)
		fatalx("cannot load the %s store in %s: %s", be->name,
		       c->state_dir, be->errmsg(s));
	if (!loop_commit())
		log_warnx("%s", batch_errmsg());
}

/* Takes the socket from systemd, or binds the configured path. */
static void
open_socket(struct event_base *base, const struct config *c)
{
	mode_t mode;
	int r;

	r = server_listen_activated(base, opts.listen_path,
	                            sizeof opts.listen_path);
	if (r == -E2BIG)
		fatalx("systemd passed more than one socket; evd.socket must "
		       "have exactly one ListenStream=");
	if (r == -ENOTSOCK)
		fatalx("the socket systemd passed is not a listening AF_UNIX "
		       "stream socket (ListenStream=/path in evd.socket)");
	if (r < 0) {
		errno = -r;
		fatal("cannot take the socket systemd passed");
	}
	if (r > 0) {
		opts.activated = true;
		if ((opts.cmd.set & CONFIG_BIT(CONFIG_SOCKET)) &&
		    strcmp(c->socket, opts.listen_path) != 0)
			log_notice("socket %s not used: systemd passed %s",
			           c->socket, opts.listen_path);
		return;
	}

	snprintf(opts.listen_path, sizeof opts.listen_path, "%s", c->socket);
	/* The system instance serves every local user (each sees only its
	 * own timers); a user instance serves its own user only. */
	mode = geteuid() == 0 ? 0666 : 0600;
	r = server_listen(base, c->socket, mode);
	if (r == -EADDRINUSE)
		fatalx("another evd is already listening on %s; stop it "
		       "first or choose another --socket", c->socket);
	if (r == -EEXIST)
		fatalx("%s exists and is not a socket; refusing to replace "
		       "it", c->socket);
	if (r == -ENAMETOOLONG)
		fatalx("socket path too long: %s", c->socket);
	if (r < 0) {
		errno = -r;
		fatal("cannot listen on %s", c->socket);
	}
}

/* The metrics endpoint, if configured: before READY=1 like the socket,
 * so a bad address stops the start instead of going unnoticed. */
static void
open_metrics(struct event_base *base, const struct config *c)
{
	int r;

	if (c->metrics[0] == '\0')
		return;
	if ((r = metrics_http_start(base, c->metrics)) < 0) {
		server_stop();
		if (r == -EADDRINUSE)
			fatalx("metrics: %s is in use; choose another "
			       "--metrics port", c->metrics);
		if (r == -EADDRNOTAVAIL)
			fatalx("metrics: %s is not an address of this host",
			       c->metrics);
		/* The shipped units allow AF_UNIX only (evd(8), METRICS). */
		if (r == -EAFNOSUPPORT || r == -EPERM)
			fatalx("metrics: cannot listen on %s: %s (under "
			       "systemd, RestrictAddressFamilies= must allow "
			       "AF_INET/AF_INET6; see evd(8))",
			       c->metrics, strerror(-r));
		errno = -r;
		fatal("metrics: cannot listen on %s", c->metrics);
	}
	log_notice("metrics: serving http://%s/metrics", c->metrics);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* STATUS= for systemctl status: what a glance should tell an operator. */
static void
status_refresh_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sched_stats st;
	struct shard_counters others;
	char line[sizeof status_state.last];
	int64_t now = now_ms();
	double rate = 0;

	sched_get_stats(&st);
	shard_sum_others(&others);
	st.pending += others.pending;
	st.fired_total += others.fired_total;
	if (status_state.at_ms != 0 && now > status_state.at_ms)
		rate = (double)(st.fired_total - status_state.fired) * 1000.0 /
		       (double)(now - status_state.at_ms);
	status_state.fired = st.fired_total;
	status_state.at_ms = now;
	snprintf(line, sizeof line,
	         "%" PRIu64 " timers pending, %zu connections, %.1f fires/s",
	         st.pending, conn_count() + (size_t)others.connections, rate);
	/* An idle daemon says nothing new: no message. */
	if (strcmp(line, status_state.last) == 0)
		return;
	memcpy(status_state.last, line, sizeof line);
	notify_status("%s", line);
}

static void
status_ready(void)
{
	char line[PATH_MAX + 64];

	snprintf(line, sizeof line, "listening on %s", opts.listen_path);
	notify_ready(line);
	/* The next refresh must say something again. */
	status_state.last[0] = '\0';
}

/* The settings that apply at run time, beyond the log level. */
static void
apply_limits(const struct config *c)
{
	struct quota_limits q = {
		.timers = c->quota_timers,
		.messages = c->quota_messages,
		.bytes = c->quota_bytes,
	};

	quota_set_limits(&q);
	exec_set_limits(c->exec_max_running, c->exec_max_queued);
	exec_set_uid_limit(c->exec_max_per_uid);
	sched_set_fire_rate(c->max_fires_per_uid);
	conn_set_uid_limit(c->max_conn_per_uid);
	req_set_min_repeat(c->min_repeat_ms);
}

/*
 * A shell or systemd starts evd with a soft limit of 1,024 descriptors
 * and a far higher hard one: each client costs one, so use what is
 * allowed (before the spawner forks, which inherits it; hooks get at
 * most 1,024 again, for select()). The old limit has nowhere to be
 * logged yet; the new one is in /proc/PID/limits.
 */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
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

/*
 * SIGHUP: re-reads the file. What can change at run time changes; every
 * other difference is reported as needing a restart, and the running
 * value stays. A broken file changes nothing.
 */
static void
signal_hup_cb(evutil_socket_t sig, short what, void *arg)
{
	char err[MAIN_ERR_MAX], was[PATH_MAX], now[PATH_MAX];
	struct config next;
	unsigned diff;
	int k, loudest;

	notify_reloading();
	if (settings_load(&next, err, sizeof err) < 0) {
		log_warnx("SIGHUP: %s; keeping the running configuration", err);
		goto out;
	}
	diff = config_diff(&opts.eff, &next);
	/* A change of verbosity is reported at the louder of the two
	 * levels, so it shows in both directions. */
	loudest = opts.eff.log_level > next.log_level ? opts.eff.log_level
	                                              : next.log_level;
	log_set_level(loudest);
	if (diff == 0)
		log_notice("SIGHUP: reloaded %s: nothing changed",
		           opts.config_path[0] != '\0' ? opts.config_path
		                                       : "(no file)");
	for (k = 0; k < CONFIG_NKEYS; k++) {
		if (!(diff & CONFIG_BIT(k)))
			continue;
		config_format(&opts.eff, k, was, sizeof was);
		config_format(&next, k, now, sizeof now);
		if (config_key_reloadable(k))
			log_notice("SIGHUP: %s changed from %s to %s",
			           config_key_name(k), was, now);
		else
			log_warnx("SIGHUP: %s changed from %s to %s: needs a "
			          "restart (still using %s)", config_key_name(k),
			          was, now, was);
	}
	/* Take over every run-time key; the others keep their running
	 * values. */
	for (k = 0; k < CONFIG_NKEYS; k++) {
		struct config one;

		if (!config_key_reloadable(k))
			continue;
		one = next;
		one.set = CONFIG_BIT(k);
		config_merge(&opts.eff, &one);
	}
	log_set_level(opts.eff.log_level);
	apply_limits(&opts.eff);
out:
	status_ready();
}

/*
 * The exec hook backend (hooks = auto|systemd|spawner). auto takes
 * systemd units when a service manager started evd ($INVOCATION_ID) and
 * its backend comes up, else the spawner; systemd refuses to start
 * without it.
 */
static int
hooks_init(struct event_base *base, const struct config *c)
{
	bool want_systemd = strcmp(c->hooks, "systemd") == 0 ||
	                    (strcmp(c->hooks, "auto") == 0 &&
	                     getenv("INVOCATION_ID") != NULL);
	int r;

	if (want_systemd) {
		exec_set_backend(&exec_backend_systemd);
		r = exec_init(base, c->exec_max_running, c->exec_max_queued);
		if (r >= 0 || strcmp(c->hooks, "systemd") == 0) {
			if (r < 0)
				fatalx("hooks = systemd: cannot start hooks as "
				       "systemd units: %s", strerror(-r));
			return r;
		}
		log_notice("hooks: systemd units unavailable (%s); starting "
		           "hooks through the spawner", strerror(-r));
	}
	exec_set_backend(&exec_backend_spawner);
	return exec_init(base, c->exec_max_running, c->exec_max_queued);
}

static void
main_migrate_usage(FILE *f)
{
	fprintf(f,
	        "usage: evd migrate --from SPEC --to SPEC [options]\n"
	        "\n"
	        "Copies one store's pending timers (with their runs), queued "
	        "and dead channel\n"
	        "messages, channel grants and id counters into another; "
	        "safe to run again\n"
	        "(what is there already is skipped). No evd may be running "
	        "on either store.\n"
	        "\n"
	        "SPEC is NAME[:ARG]: sqlite[:DIR] (DIR: a state directory; "
	        "default: the\n"
	        "configured one), or another --store kind with its "
	        "connection string as ARG\n"
	        "(pg:CONNINFO).\n"
	        "\n"
	        "  --from SPEC         the store to copy from (only read)\n"
	        "  --to SPEC           the store to copy into\n"
	        "  --batch N           rows per commit (default %d)\n"
	        "  --config FILE       configuration file (evd(8)); its "
	        "state_dir, sync and\n"
	        "                      history apply\n"
	        "  --state-dir DIR     the default DIR of sqlite\n"
	        "  -h, --help          this text\n"
	        "\n"
	        "Exit status: 0 all copied, 1 a row refused or a store "
	        "failed, 2 bad usage.\n",
	        MIGRATE_DEFAULT_BATCH);
}

/*
 * evd migrate: before anything of the daemon starts (no socket, no
 * loop, no spawner). The settings are the file's under --state-dir, as
 * evd would open its store; the socket is not looked at.
 */
static int
main_migrate(int argc, char **argv)
{
	enum { OPT_FROM = 256, OPT_TO, OPT_BATCH, OPT_CONFIG, OPT_STATE };
	static const struct option longopts[] = {
		{ "from", required_argument, NULL, OPT_FROM },
		{ "to", required_argument, NULL, OPT_TO },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "state-dir", required_argument, NULL, OPT_STATE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct migrate_options mo;
	const char *from = NULL, *to = NULL;
	char err[MAIN_ERR_MAX], *end;
	struct config file, c;
	unsigned long n;
	int ch, r;

	config_init(&opts.cmd);
	/* getopt's messages start with it. */
	argv[0] = (char *)"evd migrate";
	optind = 1;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case OPT_FROM:
			from = optarg;
			break;
		case OPT_TO:
			to = optarg;
			break;
		case OPT_BATCH:
			errno = 0;
			n = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] == '-' ||
			    n == 0 || n > 1000000) {
				fprintf(stderr, "evd migrate: --batch: a "
				        "number from 1 to 1000000\n");
				return MAIN_EXIT_USAGE;
			}
			mo.batch_rows = n;
			break;
		case OPT_CONFIG:
			if (copy_path(opts.config_path,
			              sizeof opts.config_path, optarg, "") < 0) {
				fprintf(stderr, "evd migrate: --config: path "
				        "too long\n");
				return MAIN_EXIT_USAGE;
			}
			opts.config_given = true;
			break;
		case OPT_STATE:
			if (config_set(&opts.cmd, CONFIG_STATE_DIR, optarg,
			               err, sizeof err) < 0) {
				fprintf(stderr, "evd migrate: --state-dir: "
				        "%s\n", err);
				return MAIN_EXIT_USAGE;
			}
			break;
		case 'h':
			main_migrate_usage(stdout);
			return 0;
		default:
			main_migrate_usage(stderr);
			return MAIN_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "evd migrate: unexpected argument '%s'\n",
		        argv[optind]);
		return MAIN_EXIT_USAGE;
	}
	if (from == NULL || to == NULL) {
		fprintf(stderr, "evd migrate: --from and --to are required\n");
		main_migrate_usage(stderr);
		return MAIN_EXIT_USAGE;
	}
	if (!opts.config_given &&
	    default_config(opts.config_path, sizeof opts.config_path) < 0)
		opts.config_path[0] = '\0';
	config_init(&file);
	if (opts.config_path[0] != '\0') {
		r = config_load(opts.config_path, &file, err, sizeof err);
		if (r < 0 && !(r == -ENOENT && !opts.config_given)) {
			fprintf(stderr, "evd migrate: %s\n", err);
			return MAIN_EXIT_CONFIG;
		}
		if (r < 0)
			config_init(&file);
	}
	config_init(&c);
	config_merge(&c, &file);
	config_merge(&c, &opts.cmd);
	config_fill_defaults(&c);
	if (!(c.set & CONFIG_BIT(CONFIG_STATE_DIR)) &&
	    default_state_dir(c.state_dir, sizeof c.state_dir) < 0)
		c.state_dir[0] = '\0';
	if (migrate_spec_parse(from, c.state_dir, &mo.from, err,
	                       sizeof err) < 0) {
		fprintf(stderr, "evd migrate: --from: %s\n", err);
		return MAIN_EXIT_USAGE;
	}
	if (migrate_spec_parse(to, c.state_dir, &mo.to, err, sizeof err) < 0) {
		fprintf(stderr, "evd migrate: --to: %s\n", err);
		return MAIN_EXIT_USAGE;
	}
	store_config_of(&c, &mo.cfg);
	/* As evd makes its state directory (open_store), parents too. */
	if (strcmp(mo.to.be->name, "sqlite") == 0 &&
	    (r = make_dirs(mo.to.arg, 0700)) < 0) {
		fprintf(stderr, "evd migrate: cannot create %s: %s\n",
		        mo.to.arg, strerror(-r));
		return 1;
	}
	/* A file size limit must fail a write, not kill the copy; a
	 * database connection that drops must not either. */
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	r = migrate_run(&mo, stdout, stderr);
	if (fflush(stdout) != 0 && r == 0)
		r = -EIO;
	return r < 0 ? 1 : 0;
}

int
main(int argc, char **argv)
{
	struct event *ev_int, *ev_term, *ev_hup, *ev_status = NULL;
	struct event_base *base;
	char err[MAIN_ERR_MAX];
	int64_t watchdog_usec, stop_ms;
	int r;

	/* A hook spawner started again after the first one died. */
	(void)spawner_helper(argc, argv);
	/* A command of its own: copies a store and exits, the daemon never
	 * starts. */
	if (argc > 1 && strcmp(argv[1], "migrate") == 0)
		return main_migrate(argc - 1, argv + 1);
	raise_nofile();

	log_init();
	parse_options(argc, argv);
	if (opts.check_config)
		exit(check_config());
	if (settings_load(&opts.eff, err, sizeof err) < 0) {
		log_errx("%s", err);
		exit(MAIN_EXIT_CONFIG);
	}
	log_set_level(opts.eff.log_level);
	if (opts.init_schema)
		init_schema(&opts.eff);
	/* Writes to a vanished client must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	/* A file size limit must make the store's writes fail (and the
	 * batch be refused), not kill the daemon. */
	signal(SIGXFSZ, SIG_IGN);
	/* The hook spawner: a fork, so before any thread and before the
	 * store is loaded (spawner.c says why). Started in every hooks
	 * mode. */
	if ((r = spawner_start()) < 0) {
		errno = -r;
		fatal("cannot start the hook spawner");
	}

	/* The secret key of the tables clients pick keys for; after the
	 * spawner's fork, so that process never holds it. */
	if ((r = hashkey_init()) < 0) {
		errno = -r;
		fatal("cannot get random bytes for the hash table key");
	}
	if ((r = shard_setup(opts.eff.threads)) < 0)
		fatalx("cannot set up %u event loops", opts.eff.threads);
	{
		struct loop_config lc;

		memset(&lc, 0, sizeof lc);
		lc.max_frame = opts.eff.max_frame;
		lc.frame_timeout_ms = opts.eff.frame_timeout_ms;
		lc.drain_ms = MAIN_DRAIN_MS;
		store_config_of(&opts.eff, &lc.keep);
		loop_configure(&lc);
	}
	if ((base = loop_base_new()) == NULL)
		fatalx("cannot create the event loop");
	/* A request type without its entry would be misrouted or refused
	 * as unknown: this build is broken, whatever a client sends. */
	if (req_registry_check(err, sizeof err) < 0)
		fatalx("the request registry disagrees with evd.proto: %s",
		       err);
	dispatch_init(store_backend_of(&opts.eff)->name);
	if ((r = peer_init()) < 0) {
		errno = -r;
		fatal("cannot start the user lookup thread");
	}
	if ((r = quota_init()) < 0 || (r = loop_init(base)) < 0 ||
	    (r = hooks_init(base, &opts.eff)) < 0) {
		errno = -r;
		fatal("cannot set up the event loop");
	}
	apply_limits(&opts.eff);
	open_store(base, &opts.eff);
	if (shard_count() > 1 &&
	    shard_start(loop_thread, err, sizeof err) < 0)
		fatalx("%s", err);
	open_socket(base, &opts.eff);
	if (exec_set_socket_path(opts.listen_path) < 0)
		fatalx("out of memory at start-up");
	open_metrics(base, &opts.eff);

	ev_int = evsignal_new(base, SIGINT, signal_stop_cb, base);
	ev_term = evsignal_new(base, SIGTERM, signal_stop_cb, base);
	ev_hup = evsignal_new(base, SIGHUP, signal_hup_cb, base);
	if (ev_int == NULL || ev_term == NULL || ev_hup == NULL ||
	    event_add(ev_int, NULL) < 0 || event_add(ev_term, NULL) < 0 ||
	    event_add(ev_hup, NULL) < 0) {
		server_stop();
		fatalx("cannot install signal handlers");
	}
	if ((watchdog_usec = notify_watchdog_start(base)) < 0)
		fatalx("cannot arm the watchdog timer");
	/* Under systemd only: no periodic wake-up in a terminal. */
	if (getenv("NOTIFY_SOCKET") != NULL) {
		struct timeval tv = { MAIN_STATUS_INTERVAL_S, 0 };

		ev_status = event_new(base, -1, EV_PERSIST, status_refresh_cb,
		                      NULL);
		if (ev_status == NULL || event_add(ev_status, &tv) < 0)
			fatalx("out of memory at start-up");
	}

	log_notice("evd %s listening on %s (%sstore %s, hooks %s, %u loop%s, "
	           "config %s, pid %ld)",
	           EVD_VERSION, opts.listen_path,
	           opts.activated ? "socket activation, " : "",
	           store_backend_of(&opts.eff)->name,
	           exec_backend_name(),
	           shard_count(), shard_count() == 1 ? "" : "s",
	           opts.config_path[0] != '\0' ? opts.config_path : "none",
	           (long)getpid());
	if (watchdog_usec > 0)
		log_info("watchdog: keep-alive every %" PRId64 " ms",
		         watchdog_usec / 2000);
	status_ready();

	/*
	 * One loop iteration at a time: everything its callbacks did to the
	 * store commits as one batch, and only then do the replies go out
	 * (group commit).
	 */
	while (!stopping && loop_iterate(base))
		;

	/*
	 * Shutdown: tell systemd, stop accepting (an activated socket keeps
	 * queueing new connections for the next start), commit what the
	 * last iteration did, send the replies it produced (waiting at most
	 * MAIN_DRAIN_MS for clients that read slowly), then close.
	 */
	stop_ms = now_ms();
	notify_stopping();
	server_stop();
	metrics_http_stop();
	/* Running hooks are killed; their ends go into the last batch. */
	cluster_stopping();
	exec_shutdown();
	loop_commit();
	loop_settle();
	/* Claims go back to the database for peers, after the last batch. */
	cluster_shutdown();
	/* What the other loops are owed from here goes out with their own
	 * drain; then they stop. */
	conn_flush_all();
	shard_stop();
	/* The resolver checks owners until it stops (one stuck in NSS or
	 * the database keeps them, and dies with the process). */
	if (peer_shutdown())
		owners_close();
	/* Replies and events already made are owed: a bounded drain. */
	conn_drain(MAIN_DRAIN_MS);
	notify_watchdog_stop();
	if (ev_status != NULL)
		event_free(ev_status);
	loop_shutdown();
	quota_shutdown();
	event_free(ev_int);
	event_free(ev_term);
	event_free(ev_hup);
	/* Shutdown is under way: a repeated SIGTERM or ^C must not cut it
	 * short now that libevent no longer handles them. */
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	event_base_free(base);
	log_notice("stopped (shutdown took %" PRId64 " ms)", now_ms() - stop_ms);
	return 0;
}
