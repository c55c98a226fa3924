/*
 * Unit tests of the configuration parser (daemon/config.c).
 *
 * Every rejected input must name its line and a reason an operator can
 * act on; a failed parse must leave the caller's struct alone (a SIGHUP
 * with a broken file keeps the running settings). Merging follows
 * defaults < file < command line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "frame.h"
#include "log.h"

static int
parse(const char *text, struct config *c, char *err, size_t errsize)
{
	return config_parse("evd.conf", text, strlen(text), c, err, errsize);
}

static void
test_full_file(void **state)
{
	const char *text =
		"# evd configuration\n"
		"\n"
		"socket = /run/evd/evd.sock\n"
		"  state_dir=/var/lib/evd   \n"
		"store = memory\r\n"
		"sync = normal\n"
		"\t# indented comment\n"
		"history = 0\n"
		"max_frame = 65536\n"
		"frame_timeout_ms = 1500\n"
		"threads = 2\n"
		"quota_timers = 100\n"
		"quota_messages = 0\n"
		"quota_bytes = 4611686018427387904\n"
		"exec_max_running = 1\n"
		"exec_max_queued = 0\n"
		"exec_max_per_uid = 0\n"
		"max_connections_per_uid = 7\n"
		"min_repeat_interval_ms = 0\n"
		"max_fires_per_uid = 50\n"
		"hooks = spawner\n"
		"finished_keep_s = 3600\n"
		"finished_max = 0\n"
		"cluster = yes\n"
		"cluster_death_ms = 2000\n"
		"cluster_heartbeat_ms = 300\n"
		"metrics = 127.0.0.1:9464\n"
		"log_level = debug";
	struct config c;
	char err[256];

	config_init(&c);
	assert_int_equal(parse(text, &c, err, sizeof err), 0);
	assert_int_equal(c.set, (1u << CONFIG_NKEYS) - 1);
	assert_string_equal(c.socket, "/run/evd/evd.sock");
	assert_string_equal(c.state_dir, "/var/lib/evd");
	assert_string_equal(c.store, "memory");
	assert_false(c.sync_full);
	assert_int_equal(c.history, 0);
	assert_int_equal(c.max_frame, 65536);
	assert_int_equal(c.frame_timeout_ms, 1500);
	assert_int_equal(c.threads, 2);
	assert_int_equal(c.finished_keep_s, 3600);
	assert_int_equal(c.finished_max, 0);
	assert_true(c.cluster);
	assert_int_equal(c.cluster_death_ms, 2000);
	assert_int_equal(c.cluster_heartbeat_ms, 300);
	assert_int_equal(c.log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(c.quota_timers, 100);
	assert_int_equal(c.quota_messages, 0);
	assert_true(c.quota_bytes == UINT64_C(1) << 62);
	assert_int_equal(c.exec_max_running, 1);
	assert_int_equal(c.exec_max_queued, 0);
	assert_int_equal(c.exec_max_per_uid, 0);
	assert_int_equal(c.max_conn_per_uid, 7);
	assert_int_equal(c.min_repeat_ms, 0);
	assert_int_equal(c.max_fires_per_uid, 50);
	assert_string_equal(c.metrics, "127.0.0.1:9464");
}

/* metrics: off by default; "off" turns off one set in a lower layer. */
static void
test_metrics_key(void **state)
{
	struct config eff, file, cmd;
	char err[256], buf[64];

	config_init(&eff);
	config_fill_defaults(&eff);
	assert_string_equal(eff.metrics, "");
	config_format(&eff, CONFIG_METRICS, buf, sizeof buf);
	assert_string_equal(buf, "off");

	assert_int_equal(parse("metrics = [::1]:9464\n", &file, err,
	                       sizeof err),
	                 0);
	config_format(&file, CONFIG_METRICS, buf, sizeof buf);
	assert_string_equal(buf, "[::1]:9464");
	config_init(&cmd);
	assert_int_equal(config_set(&cmd, CONFIG_METRICS, "off", err,
	                            sizeof err),
	                 0);
	config_init(&eff);
	config_merge(&eff, &file);
	assert_string_equal(eff.metrics, "[::1]:9464");
	assert_true(config_diff(&eff, &cmd) & CONFIG_BIT(CONFIG_METRICS));
	config_merge(&eff, &cmd);
	assert_string_equal(eff.metrics, "");
	/* A new address needs a restart. */
	assert_false(config_key_reloadable(CONFIG_METRICS));
}

static void
test_empty_and_comments(void **state)
{
	struct config c;
	char err[256];

	config_init(&c);
	assert_int_equal(parse("", &c, err, sizeof err), 0);
	assert_int_equal(c.set, 0);
	assert_int_equal(parse("# only\n\n   \n#x = y\n", &c, err, sizeof err),
	                 0);
	assert_int_equal(c.set, 0);
}

/* A '#' after a value belongs to it: paths may contain one. */
static void
test_hash_in_value(void **state)
{
	struct config c;
	char err[256];

	assert_int_equal(parse("state_dir = /srv/evd#2\n", &c, err, sizeof err),
	                 0);
	assert_string_equal(c.state_dir, "/srv/evd#2");
}

struct bad_case {
	const char *text;
	const char *expect; /* substring of the error */
};

static void
test_errors_name_line_and_reason(void **state)
{
	static const struct bad_case cases[] = {
		{ "frobnicate = 1\n", "evd.conf:1: unknown key 'frobnicate'" },
		{ "# c\nlog-level = info\n",
		  "evd.conf:2: unknown key 'log-level' (did you mean "
		  "'log_level'?)" },
		{ "\n\nstore = lmdb\n", "evd.conf:3: store: unknown store" },
		{ "sync = sometimes\n", "evd.conf:1: sync: expected full or "
		                        "normal" },
		{ "history = -1\n", "evd.conf:1: history: expected 0..10000" },
		{ "history = 10001\n", "evd.conf:1: history: expected" },
		{ "history = 12abc\n", "evd.conf:1: history: expected" },
		{ "history = 99999999999999999999999\n", "history: expected" },
		{ "max_frame = 63\n", "evd.conf:1: max_frame: expected 64.." },
		{ "max_frame = 67108865\n", "max_frame: expected" },
		{ "log_level = loud\n", "evd.conf:1: log_level: unknown level "
		                        "'loud'" },
		{ "log_level =\n", "evd.conf:1: log_level: empty value" },
		{ "socket = run/evd.sock\n", "socket: must be an absolute path" },
		{ "state_dir = ~/evd\n", "state_dir: must be an absolute path" },
		{ "just words\n", "evd.conf:1: expected 'key = value'" },
		{ " = 3\n", "evd.conf:1: missing key" },
		{ "store = memory\nstore = sqlite\n",
		  "evd.conf:2: store: set twice (first on line 1)" },
		{ "log_level = debug # chatty\n", "unknown level" },
		{ "quota_bytes = 4611686018427387905\n",
		  "quota_bytes: expected 0..4611686018427387904" },
		{ "exec_max_running = 0\n", "exec_max_running: expected 1..4096" },
		{ "exec_max_queued = 1e6\n", "exec_max_queued: expected" },
		{ "metrics = 9464\n",
		  "evd.conf:1: metrics: expected off or HOST:PORT" },
		{ "metrics = 127.0.0.1:0\n", "metrics: expected off or" },
		{ "metrics = example.org:9464\n", "metrics: expected off or" },
		{ "metrics = on\n", "metrics: expected off or HOST:PORT" },
		{ "finished_keep_s = 0\n",
		  "finished_keep_s: expected 1..315360000 seconds" },
		{ "finished_max = 1000001\n", "finished_max: expected 0..1000000" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config c;
		char err[256] = "";

		config_init(&c);
		c.history = 77;
		if (parse(cases[i].text, &c, err, sizeof err) != -EINVAL ||
		    strstr(err, cases[i].expect) == NULL)
			fail_msg("case %zu (%s): got '%s'", i, cases[i].text,
			         err);
		/* Untouched on failure. */
		assert_int_equal(c.set, 0);
		assert_int_equal(c.history, 77);
	}
}

/* "Did you mean": a mistyped key names the nearest (issue 17). */
static void
test_unknown_key_suggests(void **state)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{ "\n\nthreds = 2\n",
		  "evd.conf:3: unknown key 'threds' (did you mean 'threads'?)" },
		{ "sokcet = /run/x.sock\n",
		  "evd.conf:1: unknown key 'sokcet' (did you mean 'socket'?)" },
		{ "log_levl = debug\n",
		  "evd.conf:1: unknown key 'log_levl' (did you mean "
		  "'log_level'?)" },
		{ "Store = memory\n",
		  "evd.conf:1: unknown key 'Store' (did you mean 'store'?)" },
		{ "max-connections-per-uid = 3\n",
		  "evd.conf:1: unknown key 'max-connections-per-uid' (did you "
		  "mean 'max_connections_per_uid'?)" },
		{ "colour = blue\n", "evd.conf:1: unknown key 'colour'" },
	};
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config c;
		char err[256] = "";

		assert_int_equal(parse(cases[i].text, &c, err, sizeof err),
		                 -EINVAL);
		assert_string_equal(err, cases[i].err);
	}
}

struct reports {
	char text[1024];
	int n;
};

static void
collect_cb(void *arg, const char *msg)
{
	struct reports *r = arg;
	size_t used = strlen(r->text);

	snprintf(r->text + used, sizeof r->text - used, "%s\n", msg);
	r->n++;
}

/* evd --check-config: every bad line, not only the first. */
static void
test_check_reports_every_error(void **state)
{
	char path[] = "/tmp/evd-test-config.XXXXXX";
	const char *text = "store = memory\n"
	                   "threds = 2\n"
	                   "history = many\n"
	                   "store = sqlite\n"
	                   "log_level = info\n";
	struct reports rep = { "", 0 };
	char err[512], want[1024];
	struct config c;
	int fd;

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	config_init(&c);
	c.history = 77;
	assert_int_equal(config_check(path, &c, err, sizeof err, collect_cb,
	                              &rep),
	                 3);
	snprintf(want, sizeof want,
	         "%s:2: unknown key 'threds' (did you mean 'threads'?)\n"
	         "%s:3: history: expected 0..10000, not 'many'\n"
	         "%s:4: store: set twice (first on line 1)\n",
	         path, path, path);
	assert_string_equal(rep.text, want);
	assert_int_equal(rep.n, 3);
	/* Untouched when anything was wrong. */
	assert_int_equal(c.history, 77);

	/* A good file: no report, ret filled. */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(write(fd, "threads = 2\n", 12), 12);
	assert_int_equal(config_check(path, &c, err, sizeof err, collect_cb,
	                              &rep),
	                 0);
	assert_int_equal(rep.n, 3);
	assert_int_equal(c.threads, 2);
	close(fd);
	unlink(path);

	assert_int_equal(config_check("/nonexistent/evd.conf", &c, err,
	                              sizeof err, collect_cb, &rep),
	                 -ENOENT);
	assert_string_equal(err, "/nonexistent/evd.conf: No such file or "
	                         "directory");
}

static void
test_socket_path_length(void **state)
{
	char text[300], err[256];
	struct config c;

	/* 107 bytes fit sun_path with its NUL; 108 do not. */
	snprintf(text, sizeof text, "socket = /%0106d\n", 0);
	assert_int_equal(parse(text, &c, err, sizeof err), 0);
	assert_int_equal(strlen(c.socket), 107);
	snprintf(text, sizeof text, "socket = /%0107d\n", 0);
	assert_int_equal(parse(text, &c, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "socket: path too long"));
}

static void
test_nul_byte(void **state)
{
	static const char text[] = "store = memory\n\0garbage";
	struct config c;
	char err[256];

	assert_int_equal(config_parse("evd.conf", text, sizeof text - 1, &c,
	                              err, sizeof err),
	                 -EINVAL);
	assert_non_null(strstr(err, "NUL byte"));
}

static void
test_load_file(void **state)
{
	char path[] = "/tmp/evd-test-config.XXXXXX";
	char err[512], big[CONFIG_FILE_MAX + 2];
	struct config c;
	int fd;

	config_init(&c);
	assert_int_equal(config_load("/nonexistent/evd.conf", &c, err,
	                             sizeof err),
	                 -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/evd.conf: "));
	assert_int_equal(config_load("/tmp", &c, err, sizeof err), -EISDIR);
	/* /dev/null is the documented way to run without a file. */
	assert_int_equal(config_load("/dev/null", &c, err, sizeof err), 0);
	assert_int_equal(c.set, 0);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "sync = normal\nbad\n", 18), 18);
	assert_int_equal(config_load(path, &c, err, sizeof err), -EINVAL);
	/* The message starts with the path as given. */
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	assert_non_null(strstr(err, ":2: expected"));

	/* Too large: refused before parsing. */
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	memset(big, '#', sizeof big);
	assert_int_equal(write(fd, big, sizeof big), (ssize_t)sizeof big);
	assert_int_equal(config_load(path, &c, err, sizeof err), -EFBIG);
	close(fd);
	unlink(path);
}

static void
test_merge_and_defaults(void **state)
{
	struct config eff, file, cmd;
	char err[256];

	config_init(&eff);
	assert_int_equal(parse("store = memory\nhistory = 5\nlog_level = "
	                       "debug\n",
	                       &file, err, sizeof err),
	                 0);
	config_init(&cmd);
	assert_int_equal(config_set(&cmd, CONFIG_HISTORY, "7", err, sizeof err),
	                 0);
	config_merge(&eff, &file);
	config_merge(&eff, &cmd);
	config_fill_defaults(&eff);
	assert_string_equal(eff.store, "memory");   /* file */
	assert_int_equal(eff.history, 7);           /* command line wins */
	assert_int_equal(eff.log_level, LOG_LEVEL_DEBUG);
	assert_true(eff.sync_full);                 /* default */
	assert_int_equal(eff.max_frame, FRAME_DEFAULT_MAX);
	/* socket and state_dir stay unset: main decides. */
	assert_false(eff.set & CONFIG_BIT(CONFIG_SOCKET));
	assert_false(eff.set & CONFIG_BIT(CONFIG_STATE_DIR));
}

static void
test_diff(void **state)
{
	struct config a, b;
	char err[256];
	int k;

	config_init(&a);
	config_fill_defaults(&a);
	b = a;
	assert_int_equal(config_diff(&a, &b), 0);
	assert_int_equal(config_set(&b, CONFIG_LOG_LEVEL, "debug", err,
	                            sizeof err),
	                 0);
	assert_int_equal(config_set(&b, CONFIG_SYNC, "normal", err,
	                            sizeof err),
	                 0);
	assert_int_equal(config_diff(&a, &b),
	                 CONFIG_BIT(CONFIG_LOG_LEVEL) | CONFIG_BIT(CONFIG_SYNC));
	/* What the running daemon can take over on SIGHUP: the log level
	 * and the limits; nothing that shapes the store or the socket. */
	for (k = 0; k < CONFIG_NKEYS; k++)
		assert_int_equal(config_key_reloadable(k),
		                 k == CONFIG_LOG_LEVEL ||
		                     (k >= CONFIG_QUOTA_TIMERS &&
		                      k < CONFIG_HOOKS));
}

static void
test_key_names_round_trip(void **state)
{
	int k;

	for (k = 0; k < CONFIG_NKEYS; k++)
		assert_int_equal(config_key_find(config_key_name(k)), k);
	assert_int_equal(config_key_find("nope"), -ENOENT);
}

static void
test_format(void **state)
{
	struct config c;
	char buf[64];

	config_init(&c);
	config_fill_defaults(&c);
	config_format(&c, CONFIG_SYNC, buf, sizeof buf);
	assert_string_equal(buf, "full");
	config_format(&c, CONFIG_LOG_LEVEL, buf, sizeof buf);
	assert_string_equal(buf, "info");
	config_format(&c, CONFIG_STORE, buf, sizeof buf);
	assert_string_equal(buf, "sqlite");
	config_format(&c, CONFIG_HOOKS, buf, sizeof buf);
	assert_string_equal(buf, "auto");
	assert_int_equal(config_set(&c, CONFIG_HOOKS, "vfork", buf, sizeof buf),
	                 -EINVAL);
}

/* store = pg:CONNINFO: the spec is kept whole (bounded), split into
 * backend and conninfo, and shown with its passwords masked. */
static void
test_store_spec(void **state)
{
	struct config c;
	char err[256], buf[256], big[1100];

	config_init(&c);
	assert_int_equal(parse("store = pg:host=db dbname=evd "
	                       "password=s3cret user=e\n",
	                       &c, err, sizeof err),
	                 0);
	config_store_name(&c, buf, sizeof buf);
	assert_string_equal(buf, "pg");
	assert_string_equal(config_store_arg(&c),
	                    "host=db dbname=evd password=s3cret user=e");
	/* Shown as libpq parses it, in libpq's keyword order, every
	 * keyword ending in "password" masked. */
	config_format(&c, CONFIG_STORE, buf, sizeof buf);
	assert_string_equal(buf, "pg:user=e password=*** dbname=evd host=db");
	assert_int_equal(config_set(&c, CONFIG_STORE,
	                            "pg:password = 'a b\\' c' host=x", err,
	                            sizeof err),
	                 0);
	config_format(&c, CONFIG_STORE, buf, sizeof buf);
	assert_string_equal(buf, "pg:password=*** host=x");
	assert_int_equal(config_set(&c, CONFIG_STORE,
	                            "pg:postgresql://u:pw@h/db?password=x&"
	                            "application_name=a",
	                            err, sizeof err),
	                 0);
	config_format(&c, CONFIG_STORE, buf, sizeof buf);
	assert_string_equal(buf, "pg:user=u password=*** dbname=db host=h "
	                         "application_name=a");
	/* What the old masking missed: sslpassword, a '?' inside a URI's
	 * password, an unquoted value with a backslash escape. */
	assert_int_equal(config_set(&c, CONFIG_STORE,
	                            "pg:host=x sslpassword=k3y", err,
	                            sizeof err),
	                 0);
	config_format(&c, CONFIG_STORE, buf, sizeof buf);
	assert_null(strstr(buf, "k3y"));
	assert_string_equal(buf, "pg:host=x sslpassword=***");
	assert_int_equal(config_set(&c, CONFIG_STORE,
	                            "pg:postgresql://u:s3?cret@h/db", err,
	                            sizeof err),
	                 0);
	config_format(&c, CONFIG_STORE, buf, sizeof buf);
	assert_null(strstr(buf, "cret"));
	assert_int_equal(config_set(&c, CONFIG_STORE,
	                            "pg:password=a\\ s3cret host=x", err,
	                            sizeof err),
	                 0);
	config_format(&c, CONFIG_STORE, buf, sizeof buf);
	assert_null(strstr(buf, "s3cret"));
	assert_string_equal(buf, "pg:password=*** host=x");
	/* Values that need quotes get them; one libpq cannot parse is not
	 * shown. */
	assert_int_equal(config_set(&c, CONFIG_STORE,
	                            "pg:application_name='a b' host=x", err,
	                            sizeof err),
	                 0);
	config_format(&c, CONFIG_STORE, buf, sizeof buf);
	assert_string_equal(buf, "pg:host=x application_name='a b'");
	assert_int_equal(config_set(&c, CONFIG_STORE,
	                            "pg:host=x password s3cret", err,
	                            sizeof err),
	                 0);
	config_format(&c, CONFIG_STORE, buf, sizeof buf);
	assert_null(strstr(buf, "s3cret"));
	assert_int_equal(config_set(&c, CONFIG_STORE, "pg", err, sizeof err),
	                 0);
	assert_string_equal(config_store_arg(&c), "");
	assert_int_equal(config_set(&c, CONFIG_STORE, "sqlite", err,
	                            sizeof err),
	                 0);
	assert_null(config_store_arg(&c));
	assert_int_equal(config_set(&c, CONFIG_STORE, "sqlite:x", err,
	                            sizeof err),
	                 -EINVAL);
	assert_non_null(strstr(err, "takes no ':' part"));
	assert_int_equal(config_set(&c, CONFIG_STORE,
	                            "postgres:password=s3cret", err,
	                            sizeof err),
	                 -EINVAL);
	assert_non_null(strstr(err, "unknown store 'postgres'"));
	assert_null(strstr(err, "s3cret"));
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, "pg:", 3);
	assert_int_equal(config_set(&c, CONFIG_STORE, big, err, sizeof err),
	                 -EINVAL);
	assert_non_null(strstr(err, "more than the 1023"));
	config_store_name(&c, buf, sizeof buf);
	assert_string_equal(buf, "sqlite"); /* untouched */
}

/*
 * systemd/evd.conf, the installed example, lists every key commented out
 * with its default: uncommented, it must parse and change nothing.
 */
static void
test_example_file_is_defaults(void **state)
{
	char text[CONFIG_FILE_MAX], err[512];
	struct config file, defaults;
	size_t len = 0;
	FILE *f;
	char line[512];
	int k;

	f = fopen(EVD_EXAMPLE_CONF, "r");
	assert_non_null(f);
	while (fgets(line, sizeof line, f) != NULL) {
		/* "#key = value" is a setting; "# prose" stays a comment. */
		const char *p = line[0] == '#' && line[1] >= 'a' &&
		                                line[1] <= 'z'
		                        ? line + 1
		                        : line;
		size_t n = strlen(p);

		assert_true(len + n < sizeof text);
		memcpy(text + len, p, n);
		len += n;
	}
	fclose(f);
	if (config_parse(EVD_EXAMPLE_CONF, text, len, &file, err,
	                 sizeof err) < 0)
		fail_msg("%s", err);
	/* Every key is shown. */
	assert_int_equal(file.set, (1u << CONFIG_NKEYS) - 1);
	config_init(&defaults);
	config_fill_defaults(&defaults);
	/* The system instance's defaults (evd as root). */
	strcpy(defaults.socket, "/run/evd/evd.sock");
	strcpy(defaults.state_dir, "/var/lib/evd");
	defaults.set = file.set;
	for (k = 0; k < CONFIG_NKEYS; k++)
		if (config_diff(&file, &defaults) & CONFIG_BIT(k))
			fail_msg("the example's %s is not the default",
			         config_key_name(k));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_metrics_key),
		cmocka_unit_test(test_empty_and_comments),
		cmocka_unit_test(test_hash_in_value),
		cmocka_unit_test(test_errors_name_line_and_reason),
		cmocka_unit_test(test_unknown_key_suggests),
		cmocka_unit_test(test_check_reports_every_error),
		cmocka_unit_test(test_socket_path_length),
		cmocka_unit_test(test_nul_byte),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_merge_and_defaults),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_key_names_round_trip),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_store_spec),
		cmocka_unit_test(test_example_file_is_defaults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
