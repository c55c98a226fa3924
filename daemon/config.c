/*
 * config: the configuration file parser and value checks (see config.h).
 * Never logs: every failure is a -errno and a reason for the caller.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "frame.h"
#include "log.h"
#include "metrics.h"
#include "quota.h"
#include "store.h"
#include "suggest.h"

static const char *const key_names[CONFIG_NKEYS] = {
	[CONFIG_SOCKET] = "socket",       [CONFIG_STATE_DIR] = "state_dir",
	[CONFIG_STORE] = "store",         [CONFIG_SYNC] = "sync",
	[CONFIG_HISTORY] = "history",     [CONFIG_MAX_FRAME] = "max_frame",
	[CONFIG_LOG_LEVEL] = "log_level",
	[CONFIG_METRICS] = "metrics",
	[CONFIG_FRAME_TIMEOUT_MS] = "frame_timeout_ms",
	[CONFIG_THREADS] = "threads",
	[CONFIG_QUOTA_TIMERS] = "quota_timers",
	[CONFIG_QUOTA_MESSAGES] = "quota_messages",
	[CONFIG_QUOTA_BYTES] = "quota_bytes",
	[CONFIG_EXEC_MAX_RUNNING] = "exec_max_running",
	[CONFIG_EXEC_MAX_QUEUED] = "exec_max_queued",
	[CONFIG_EXEC_MAX_PER_UID] = "exec_max_per_uid",
	[CONFIG_MAX_CONN_PER_UID] = "max_connections_per_uid",
	[CONFIG_MIN_REPEAT_MS] = "min_repeat_interval_ms",
	[CONFIG_MAX_FIRES_PER_UID] = "max_fires_per_uid",
	[CONFIG_HOOKS] = "hooks",
	[CONFIG_FINISHED_KEEP_S] = "finished_keep_s",
	[CONFIG_FINISHED_MAX] = "finished_max",
	[CONFIG_CLUSTER] = "cluster",
	[CONFIG_CLUSTER_DEATH_MS] = "cluster_death_ms",
	[CONFIG_CLUSTER_HEARTBEAT_MS] = "cluster_heartbeat_ms",
};

void
config_init(struct config *c)
{
	memset(c, 0, sizeof *c);
}

int
config_key_find(const char *name)
{
	int k;

	for (k = 0; k < CONFIG_NKEYS; k++)
		if (strcmp(name, key_names[k]) == 0)
			return k;
	return -ENOENT;
}

const char *
config_key_name(int key)
{
	return key >= 0 && key < CONFIG_NKEYS ? key_names[key] : "?";
}

bool
config_key_reloadable(int key)
{
	switch (key) {
	case CONFIG_LOG_LEVEL:
	case CONFIG_QUOTA_TIMERS:
	case CONFIG_QUOTA_MESSAGES:
	case CONFIG_QUOTA_BYTES:
	case CONFIG_EXEC_MAX_RUNNING:
	case CONFIG_EXEC_MAX_QUEUED:
	case CONFIG_EXEC_MAX_PER_UID:
	case CONFIG_MAX_CONN_PER_UID:
	case CONFIG_MIN_REPEAT_MS:
	case CONFIG_MAX_FIRES_PER_UID:
		return true;
	default:
		return false;
	}
}

/* The numeric limits (quotas, exec concurrency): their range. False for
 * the other keys. */
static bool
limit_range(int key, uint64_t *ret_min, uint64_t *ret_max)
{
	*ret_min = 0;
	switch (key) {
	case CONFIG_QUOTA_TIMERS:
	case CONFIG_QUOTA_MESSAGES:
	case CONFIG_QUOTA_BYTES:
		*ret_max = CONFIG_QUOTA_MAX;
		return true;
	case CONFIG_EXEC_MAX_RUNNING:
		*ret_min = 1;
		*ret_max = CONFIG_EXEC_RUNNING_MAX;
		return true;
	case CONFIG_EXEC_MAX_QUEUED:
		*ret_max = CONFIG_EXEC_QUEUED_MAX;
		return true;
	case CONFIG_EXEC_MAX_PER_UID:
		*ret_max = CONFIG_EXEC_RUNNING_MAX;
		return true;
	case CONFIG_MAX_CONN_PER_UID:
		*ret_max = CONFIG_CONN_PER_UID_MAX;
		return true;
	case CONFIG_MIN_REPEAT_MS:
		*ret_max = CONFIG_MIN_REPEAT_MS_MAX;
		return true;
	case CONFIG_MAX_FIRES_PER_UID:
		*ret_max = CONFIG_FIRES_PER_UID_MAX;
		return true;
	default:
		return false;
	}
}

static void
limit_store(struct config *c, int key, uint64_t v)
{
	switch (key) {
	case CONFIG_QUOTA_TIMERS:
		c->quota_timers = v;
		break;
	case CONFIG_QUOTA_MESSAGES:
		c->quota_messages = v;
		break;
	case CONFIG_QUOTA_BYTES:
		c->quota_bytes = v;
		break;
	case CONFIG_EXEC_MAX_RUNNING:
		c->exec_max_running = (uint32_t)v;
		break;
	case CONFIG_EXEC_MAX_QUEUED:
		c->exec_max_queued = (uint32_t)v;
		break;
	case CONFIG_EXEC_MAX_PER_UID:
		c->exec_max_per_uid = (uint32_t)v;
		break;
	case CONFIG_MAX_CONN_PER_UID:
		c->max_conn_per_uid = (uint32_t)v;
		break;
	case CONFIG_MIN_REPEAT_MS:
		c->min_repeat_ms = (uint32_t)v;
		break;
	case CONFIG_MAX_FIRES_PER_UID:
		c->max_fires_per_uid = (uint32_t)v;
		break;
	}
}

/* Decimal in [min, max], nothing else (no sign, no suffix, no blanks). */
static int
parse_uint(const char *s, unsigned long long min, unsigned long long max,
           unsigned long long *ret)
{
	unsigned long long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int
set_path(char *dst, size_t size, const char *value, char *err,
         size_t errsize)
{
	if (strlen(value) >= size) {
		snprintf(err, errsize, "path too long (at most %zu bytes)",
		         size - 1);
		return -EINVAL;
	}
	strcpy(dst, value);
	return 0;
}

int
config_set(struct config *c, int key, const char *value, char *err,
           size_t errsize)
{
	unsigned long long v;
	uint64_t min, max;
	int level;

	if (value[0] == '\0') {
		snprintf(err, errsize, "empty value");
		return -EINVAL;
	}
	if (limit_range(key, &min, &max)) {
		if (parse_uint(value, min, max, &v) < 0) {
			snprintf(err, errsize, "expected %" PRIu64 "..%" PRIu64
			         ", not '%.64s'", min, max, value);
			return -EINVAL;
		}
		limit_store(c, key, v);
		c->set |= CONFIG_BIT(key);
		return 0;
	}
	switch (key) {
	case CONFIG_SOCKET:
		if (set_path(c->socket, sizeof c->socket, value, err,
		             errsize) < 0)
			return -EINVAL;
		break;
	case CONFIG_STATE_DIR:
		if (set_path(c->state_dir, sizeof c->state_dir, value, err,
		             errsize) < 0)
			return -EINVAL;
		break;
	case CONFIG_HOOKS:
		if (strcmp(value, "auto") != 0 &&
		    strcmp(value, "systemd") != 0 &&
		    strcmp(value, "spawner") != 0) {
			snprintf(err, errsize, "expected auto, systemd or "
			         "spawner, not '%.64s'", value);
			return -EINVAL;
		}
		strcpy(c->hooks, value);
		break;
	case CONFIG_STORE:
	{
		size_t n = strcspn(value, ":");
		char name[16];

		if (strlen(value) >= sizeof c->store) {
			snprintf(err, errsize, "the store setting is %zu bytes "
			         "long, more than the %u it may have",
			         strlen(value), CONFIG_STORE_MAX - 1);
			return -EINVAL;
		}
		snprintf(name, sizeof name, "%.*s", (int)n, value);
		if (n >= sizeof name || store_backend_find(name) == NULL) {
			/* The name only: what follows a ':' may be a
			 * conninfo with a password. */
			snprintf(err, errsize, "unknown store '%.*s' (sqlite, "
			         "memory or pg:CONNINFO)",
			         (int)(n < 64 ? n : 64), value);
			return -EINVAL;
		}
		if (value[n] == ':' && strcmp(name, "pg") != 0) {
			snprintf(err, errsize, "store %s takes no ':' part "
			         "(only pg:CONNINFO does)", name);
			return -EINVAL;
		}
		strcpy(c->store, value);
		break;
	}
	case CONFIG_SYNC:
		if (strcmp(value, "full") == 0)
			c->sync_full = true;
		else if (strcmp(value, "normal") == 0)
			c->sync_full = false;
		else {
			snprintf(err, errsize, "expected full or normal, not "
			         "'%.64s'", value);
			return -EINVAL;
		}
		break;
	case CONFIG_HISTORY:
		if (parse_uint(value, 0, CONFIG_HISTORY_MAX, &v) < 0) {
			snprintf(err, errsize, "expected 0..%u, not '%.64s'",
			         CONFIG_HISTORY_MAX, value);
			return -EINVAL;
		}
		c->history = (uint32_t)v;
		break;
	case CONFIG_FINISHED_KEEP_S:
		if (parse_uint(value, 1, CONFIG_FINISHED_KEEP_MAX_S, &v) < 0) {
			snprintf(err, errsize, "expected 1..%u seconds, not "
			         "'%.64s'", CONFIG_FINISHED_KEEP_MAX_S, value);
			return -EINVAL;
		}
		c->finished_keep_s = (uint32_t)v;
		break;
	case CONFIG_FINISHED_MAX:
		if (parse_uint(value, 0, CONFIG_FINISHED_MAX_MAX, &v) < 0) {
			snprintf(err, errsize, "expected 0..%u, not '%.64s'",
			         CONFIG_FINISHED_MAX_MAX, value);
			return -EINVAL;
		}
		c->finished_max = (uint32_t)v;
		break;
	case CONFIG_CLUSTER:
		if (strcmp(value, "yes") == 0)
			c->cluster = true;
		else if (strcmp(value, "no") == 0)
			c->cluster = false;
		else {
			snprintf(err, errsize, "expected yes or no, not "
			         "'%.64s'", value);
			return -EINVAL;
		}
		break;
	case CONFIG_CLUSTER_DEATH_MS:
		if (parse_uint(value, CONFIG_CLUSTER_DEATH_MIN,
		               CONFIG_CLUSTER_DEATH_MAX, &v) < 0) {
			snprintf(err, errsize, "expected %u..%u ms, not "
			         "'%.64s'", CONFIG_CLUSTER_DEATH_MIN,
			         CONFIG_CLUSTER_DEATH_MAX, value);
			return -EINVAL;
		}
		c->cluster_death_ms = (uint32_t)v;
		break;
	case CONFIG_CLUSTER_HEARTBEAT_MS:
		if (parse_uint(value, 0, CONFIG_CLUSTER_DEATH_MAX / 2, &v) < 0) {
			snprintf(err, errsize, "expected 0..%u ms, not "
			         "'%.64s'", CONFIG_CLUSTER_DEATH_MAX / 2, value);
			return -EINVAL;
		}
		c->cluster_heartbeat_ms = (uint32_t)v;
		break;
	case CONFIG_THREADS:
		if (parse_uint(value, 1, CONFIG_THREADS_MAX, &v) < 0) {
			snprintf(err, errsize, "expected 1..%u, not '%.64s'",
			         CONFIG_THREADS_MAX, value);
			return -EINVAL;
		}
		c->threads = (uint32_t)v;
		break;
	case CONFIG_FRAME_TIMEOUT_MS:
		if (parse_uint(value, CONFIG_FRAME_TIMEOUT_MIN,
		               CONFIG_FRAME_TIMEOUT_MAX, &v) < 0) {
			snprintf(err, errsize, "expected %u..%u milliseconds, "
			         "not '%.64s'", CONFIG_FRAME_TIMEOUT_MIN,
			         CONFIG_FRAME_TIMEOUT_MAX, value);
			return -EINVAL;
		}
		c->frame_timeout_ms = (uint32_t)v;
		break;
	case CONFIG_MAX_FRAME:
		if (parse_uint(value, CONFIG_MAX_FRAME_MIN,
		               CONFIG_MAX_FRAME_MAX, &v) < 0) {
			snprintf(err, errsize, "expected %u..%u bytes, not "
			         "'%.64s'", CONFIG_MAX_FRAME_MIN,
			         CONFIG_MAX_FRAME_MAX, value);
			return -EINVAL;
		}
		c->max_frame = (uint32_t)v;
		break;
	case CONFIG_LOG_LEVEL:
		if ((level = log_parse_level(value)) < 0) {
			snprintf(err, errsize, "unknown level '%.64s' (err, "
			         "warning, notice, info or debug)", value);
			return -EINVAL;
		}
		c->log_level = level;
		break;
	case CONFIG_METRICS:
		if (strcmp(value, "off") == 0)
			c->metrics[0] = '\0';
		else {
			struct sockaddr_storage ss;
			socklen_t len;

			if (strlen(value) >= sizeof c->metrics ||
			    metrics_parse_addr(value, &ss, &len) < 0) {
				snprintf(err, errsize, "expected off or "
				         "HOST:PORT (an IPv4 address, [IPv6] "
				         "or localhost; port 1..65535), not "
				         "'%.64s'", value);
				return -EINVAL;
			}
			strcpy(c->metrics, value);
		}
		break;
	default:
		snprintf(err, errsize, "no such key");
		return -EINVAL;
	}
	c->set |= CONFIG_BIT(key);
	return 0;
}

static bool
is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r';
}

/* Parses one line (NUL-terminated, modified in place) into c. */
static int
parse_line(char *line, struct config *c, int *first_line, int lineno,
           char *err, size_t errsize)
{
	char *key, *value, *eq, *end;
	char why[256];
	int k;

	while (is_blank(*line))
		line++;
	if (*line == '\0' || *line == '#')
		return 0;
	if ((eq = strchr(line, '=')) == NULL) {
		snprintf(err, errsize, "expected 'key = value'");
		return -EINVAL;
	}
	key = line;
	for (end = eq; end > key && is_blank(end[-1]); end--)
		;
	*end = '\0';
	value = eq + 1;
	while (is_blank(*value))
		value++;
	for (end = value + strlen(value); end > value && is_blank(end[-1]);
	     end--)
		;
	*end = '\0';

	if (key[0] == '\0') {
		snprintf(err, errsize, "missing key before '='");
		return -EINVAL;
	}
	if ((k = config_key_find(key)) < 0) {
		const char *near = suggest_nearest(key, key_names,
						   CONFIG_NKEYS);

		if (near != NULL)
			snprintf(err, errsize, "unknown key '%.64s' (did you "
			         "mean '%s'?)", key, near);
		else
			snprintf(err, errsize, "unknown key '%.64s'", key);
		return -EINVAL;
	}
	if (c->set & CONFIG_BIT(k)) {
		snprintf(err, errsize, "%s: set twice (first on line %d)",
		         key, first_line[k]);
		return -EINVAL;
	}
	if ((k == CONFIG_SOCKET || k == CONFIG_STATE_DIR) && value[0] != '\0' &&
	    value[0] != '/') {
		snprintf(err, errsize, "%s: must be an absolute path", key);
		return -EINVAL;
	}
	if (config_set(c, k, value, why, sizeof why) < 0) {
		snprintf(err, errsize, "%s: %s", key, why);
		return -EINVAL;
	}
	first_line[k] = lineno;
	return 0;
}

/*
 * The parser of config_parse and config_check: without report, stops at
 * the first bad line with "NAME:LINE: reason" in err; with it, reports
 * each bad line so and goes on. Returns the number of bad lines (ret
 * set only when 0), or -errno with err set for a text that is no
 * configuration at all.
 */
static int
parse_text(const char *name, const char *text, size_t len,
           struct config *ret, char *err, size_t errsize,
           config_report_fn *report, void *arg)
{
	int first_line[CONFIG_NKEYS] = { 0 };
	struct config c;
	char why[512];
	char *buf, *line, *nl;
	int lineno = 0, bad = 0;

	config_init(&c);
	if (memchr(text, '\0', len) != NULL) {
		snprintf(err, errsize, "%s: contains a NUL byte (not a text "
		         "file?)", name);
		return -EINVAL;
	}
	if ((buf = malloc(len + 1)) == NULL) {
		snprintf(err, errsize, "%s: out of memory", name);
		return -ENOMEM;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	for (line = buf; line != NULL && *line != '\0'; line = nl) {
		lineno++;
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		if (parse_line(line, &c, first_line, lineno, why,
		               sizeof why) == 0)
			continue;
		bad++;
		snprintf(err, errsize, "%s:%d: %s", name, lineno, why);
		if (report == NULL)
			break;
		report(arg, err);
	}
	if (bad == 0)
		*ret = c;
	free(buf);
	return bad;
}

int
config_parse(const char *name, const char *text, size_t len,
             struct config *ret, char *err, size_t errsize)
{
	int r = parse_text(name, text, len, ret, err, errsize, NULL, NULL);

	return r > 0 ? -EINVAL : r;
}

/* Reads the file at path into *ret_text (malloc'd, not NUL-terminated)
 * and *ret_len; -errno with err set on failure. */
static int
read_file(const char *path, char **ret_text, size_t *ret_len, char *err,
          size_t errsize)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, r = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		r = -errno;
		snprintf(err, errsize, "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errsize, "%s: %s", path, strerror(-r));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		snprintf(err, errsize, "%s: is a directory", path);
		goto out;
	}
	/* One byte more than the cap tells "too large" from "exactly the
	 * cap"; reading (not st_size) also serves /dev/null and pipes. */
	if ((text = malloc(CONFIG_FILE_MAX + 1)) == NULL) {
		r = -ENOMEM;
		snprintf(err, errsize, "%s: out of memory", path);
		goto out;
	}
	while (len <= CONFIG_FILE_MAX &&
	       (n = read(fd, text + len, CONFIG_FILE_MAX + 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			snprintf(err, errsize, "%s: %s", path, strerror(-r));
			goto out;
		}
		len += (size_t)n;
	}
	if (len > CONFIG_FILE_MAX) {
		r = -EFBIG;
		snprintf(err, errsize, "%s: larger than %u bytes", path,
		         CONFIG_FILE_MAX);
		goto out;
	}
out:
	if (r < 0) {
		free(text);
		text = NULL;
	}
	*ret_text = text;
	*ret_len = len;
	close(fd);
	return r;
}

int
config_load(const char *path, struct config *ret, char *err, size_t errsize)
{
	char *text;
	size_t len;
	int r;

	if ((r = read_file(path, &text, &len, err, errsize)) < 0)
		return r;
	r = config_parse(path, text, len, ret, err, errsize);
	free(text);
	return r;
}

int
config_check(const char *path, struct config *ret, char *err,
             size_t errsize, config_report_fn *report, void *arg)
{
	char *text;
	size_t len;
	int r;

	if ((r = read_file(path, &text, &len, err, errsize)) < 0)
		return r;
	r = parse_text(path, text, len, ret, err, errsize, report, arg);
	free(text);
	return r;
}

void
config_merge(struct config *dst, const struct config *src)
{
	if (src->set & CONFIG_BIT(CONFIG_SOCKET))
		memcpy(dst->socket, src->socket, sizeof dst->socket);
	if (src->set & CONFIG_BIT(CONFIG_STATE_DIR))
		memcpy(dst->state_dir, src->state_dir, sizeof dst->state_dir);
	if (src->set & CONFIG_BIT(CONFIG_STORE))
		memcpy(dst->store, src->store, sizeof dst->store);
	if (src->set & CONFIG_BIT(CONFIG_SYNC))
		dst->sync_full = src->sync_full;
	if (src->set & CONFIG_BIT(CONFIG_HISTORY))
		dst->history = src->history;
	if (src->set & CONFIG_BIT(CONFIG_MAX_FRAME))
		dst->max_frame = src->max_frame;
	if (src->set & CONFIG_BIT(CONFIG_FRAME_TIMEOUT_MS))
		dst->frame_timeout_ms = src->frame_timeout_ms;
	if (src->set & CONFIG_BIT(CONFIG_THREADS))
		dst->threads = src->threads;
	if (src->set & CONFIG_BIT(CONFIG_LOG_LEVEL))
		dst->log_level = src->log_level;
	if (src->set & CONFIG_BIT(CONFIG_METRICS))
		memcpy(dst->metrics, src->metrics, sizeof dst->metrics);
	if (src->set & CONFIG_BIT(CONFIG_QUOTA_TIMERS))
		dst->quota_timers = src->quota_timers;
	if (src->set & CONFIG_BIT(CONFIG_QUOTA_MESSAGES))
		dst->quota_messages = src->quota_messages;
	if (src->set & CONFIG_BIT(CONFIG_QUOTA_BYTES))
		dst->quota_bytes = src->quota_bytes;
	if (src->set & CONFIG_BIT(CONFIG_EXEC_MAX_RUNNING))
		dst->exec_max_running = src->exec_max_running;
	if (src->set & CONFIG_BIT(CONFIG_EXEC_MAX_QUEUED))
		dst->exec_max_queued = src->exec_max_queued;
	if (src->set & CONFIG_BIT(CONFIG_EXEC_MAX_PER_UID))
		dst->exec_max_per_uid = src->exec_max_per_uid;
	if (src->set & CONFIG_BIT(CONFIG_MAX_CONN_PER_UID))
		dst->max_conn_per_uid = src->max_conn_per_uid;
	if (src->set & CONFIG_BIT(CONFIG_MIN_REPEAT_MS))
		dst->min_repeat_ms = src->min_repeat_ms;
	if (src->set & CONFIG_BIT(CONFIG_MAX_FIRES_PER_UID))
		dst->max_fires_per_uid = src->max_fires_per_uid;
	if (src->set & CONFIG_BIT(CONFIG_HOOKS))
		memcpy(dst->hooks, src->hooks, sizeof dst->hooks);
	if (src->set & CONFIG_BIT(CONFIG_FINISHED_KEEP_S))
		dst->finished_keep_s = src->finished_keep_s;
	if (src->set & CONFIG_BIT(CONFIG_FINISHED_MAX))
		dst->finished_max = src->finished_max;
	if (src->set & CONFIG_BIT(CONFIG_CLUSTER))
		dst->cluster = src->cluster;
	if (src->set & CONFIG_BIT(CONFIG_CLUSTER_DEATH_MS))
		dst->cluster_death_ms = src->cluster_death_ms;
	if (src->set & CONFIG_BIT(CONFIG_CLUSTER_HEARTBEAT_MS))
		dst->cluster_heartbeat_ms = src->cluster_heartbeat_ms;
	dst->set |= src->set;
}

void
config_fill_defaults(struct config *c)
{
	struct config d;

	config_init(&d);
	strcpy(d.store, "sqlite");
	d.sync_full = true;
	d.history = 20;
	d.max_frame = FRAME_DEFAULT_MAX;
	d.frame_timeout_ms = CONFIG_DEFAULT_FRAME_TIMEOUT_MS;
	d.threads = 1;
	d.log_level = LOG_LEVEL_INFO;
	d.metrics[0] = '\0'; /* off */
	d.quota_timers = QUOTA_DEFAULT_TIMERS;
	d.quota_messages = QUOTA_DEFAULT_MESSAGES;
	d.quota_bytes = QUOTA_DEFAULT_BYTES;
	d.exec_max_running = CONFIG_DEFAULT_EXEC_RUNNING;
	d.exec_max_queued = CONFIG_DEFAULT_EXEC_QUEUED;
	d.exec_max_per_uid = CONFIG_DEFAULT_EXEC_PER_UID;
	d.max_conn_per_uid = CONFIG_DEFAULT_CONN_PER_UID;
	d.min_repeat_ms = CONFIG_DEFAULT_MIN_REPEAT_MS;
	d.max_fires_per_uid = CONFIG_DEFAULT_FIRES_PER_UID;
	strcpy(d.hooks, "auto");
	d.finished_keep_s = CONFIG_DEFAULT_FINISHED_KEEP_S;
	d.finished_max = CONFIG_DEFAULT_FINISHED_MAX;
	d.cluster = false;
	d.cluster_death_ms = CONFIG_DEFAULT_CLUSTER_DEATH_MS;
	d.cluster_heartbeat_ms = 0;
	/* Everything but the environment-dependent paths. */
	d.set = ((1u << CONFIG_NKEYS) - 1) & ~CONFIG_BIT(CONFIG_SOCKET) &
	        ~CONFIG_BIT(CONFIG_STATE_DIR);
	/* Only what c lacks. */
	d.set &= ~c->set;
	config_merge(c, &d);
}

unsigned
config_diff(const struct config *a, const struct config *b)
{
	unsigned both = a->set & b->set, diff = 0;

	if (strcmp(a->socket, b->socket) != 0)
		diff |= CONFIG_BIT(CONFIG_SOCKET);
	if (strcmp(a->state_dir, b->state_dir) != 0)
		diff |= CONFIG_BIT(CONFIG_STATE_DIR);
	if (strcmp(a->store, b->store) != 0)
		diff |= CONFIG_BIT(CONFIG_STORE);
	if (a->sync_full != b->sync_full)
		diff |= CONFIG_BIT(CONFIG_SYNC);
	if (a->history != b->history)
		diff |= CONFIG_BIT(CONFIG_HISTORY);
	if (a->max_frame != b->max_frame)
		diff |= CONFIG_BIT(CONFIG_MAX_FRAME);
	if (a->frame_timeout_ms != b->frame_timeout_ms)
		diff |= CONFIG_BIT(CONFIG_FRAME_TIMEOUT_MS);
	if (a->threads != b->threads)
		diff |= CONFIG_BIT(CONFIG_THREADS);
	if (a->log_level != b->log_level)
		diff |= CONFIG_BIT(CONFIG_LOG_LEVEL);
	if (strcmp(a->metrics, b->metrics) != 0)
		diff |= CONFIG_BIT(CONFIG_METRICS);
	if (a->quota_timers != b->quota_timers)
		diff |= CONFIG_BIT(CONFIG_QUOTA_TIMERS);
	if (a->quota_messages != b->quota_messages)
		diff |= CONFIG_BIT(CONFIG_QUOTA_MESSAGES);
	if (a->quota_bytes != b->quota_bytes)
		diff |= CONFIG_BIT(CONFIG_QUOTA_BYTES);
	if (a->exec_max_running != b->exec_max_running)
		diff |= CONFIG_BIT(CONFIG_EXEC_MAX_RUNNING);
	if (a->exec_max_queued != b->exec_max_queued)
		diff |= CONFIG_BIT(CONFIG_EXEC_MAX_QUEUED);
	if (a->exec_max_per_uid != b->exec_max_per_uid)
		diff |= CONFIG_BIT(CONFIG_EXEC_MAX_PER_UID);
	if (a->max_conn_per_uid != b->max_conn_per_uid)
		diff |= CONFIG_BIT(CONFIG_MAX_CONN_PER_UID);
	if (a->min_repeat_ms != b->min_repeat_ms)
		diff |= CONFIG_BIT(CONFIG_MIN_REPEAT_MS);
	if (a->max_fires_per_uid != b->max_fires_per_uid)
		diff |= CONFIG_BIT(CONFIG_MAX_FIRES_PER_UID);
	if (strcmp(a->hooks, b->hooks) != 0)
		diff |= CONFIG_BIT(CONFIG_HOOKS);
	if (a->finished_keep_s != b->finished_keep_s)
		diff |= CONFIG_BIT(CONFIG_FINISHED_KEEP_S);
	if (a->finished_max != b->finished_max)
		diff |= CONFIG_BIT(CONFIG_FINISHED_MAX);
	if (a->cluster != b->cluster)
		diff |= CONFIG_BIT(CONFIG_CLUSTER);
	if (a->cluster_death_ms != b->cluster_death_ms)
		diff |= CONFIG_BIT(CONFIG_CLUSTER_DEATH_MS);
	if (a->cluster_heartbeat_ms != b->cluster_heartbeat_ms)
		diff |= CONFIG_BIT(CONFIG_CLUSTER_HEARTBEAT_MS);
	return diff & both;
}

/* Appends n bytes of p to buf (size bytes, *off used), truncating. */
static void
config_append(char *buf, size_t size, size_t *off, const char *p, size_t n)
{
	if (*off + 1 >= size)
		return;
	if (n > size - 1 - *off)
		n = size - 1 - *off;
	memcpy(buf + *off, p, n);
	*off += n;
	buf[*off] = '\0';
}

/* Appends v as a conninfo value: bare when it can be, else quoted
 * with ' and \ escaped (libpq's rules). */
static void
config_append_value(char *buf, size_t size, size_t *off, const char *v)
{
	if (v[0] != '\0' && strpbrk(v, " \t\n\r\f\v'\\") == NULL) {
		config_append(buf, size, off, v, strlen(v));
		return;
	}
	config_append(buf, size, off, "'", 1);
	for (; *v != '\0'; v++) {
		if (*v == '\'' || *v == '\\')
			config_append(buf, size, off, "\\", 1);
		config_append(buf, size, off, v, 1);
	}
	config_append(buf, size, off, "'", 1);
}

/*
 * The store spec as shown and logged, without its passwords: a pg
 * conninfo (keyword=value or a URI) is parsed as libpq parses it and
 * shown again as keyword=value pairs, every keyword whose name ends in
 * "password" (password, sslpassword, ...) with the value ***; one
 * libpq cannot parse is not shown at all (where its password is cannot
 * be told). Other stores are shown as they are.
 */
static void
config_format_store(const char *spec, char *buf, size_t size)
{
	const char *colon = strchr(spec, ':');
	PQconninfoOption *opts, *o;
	char *why = NULL;
	size_t off = 0;
	bool first = true;

	buf[0] = '\0';
	if (colon == NULL) {
		config_append(buf, size, &off, spec, strlen(spec));
		return;
	}
	config_append(buf, size, &off, spec, (size_t)(colon + 1 - spec));
	opts = PQconninfoParse(colon + 1, &why);
	if (opts == NULL) {
		PQfreemem(why);
		config_append(buf, size, &off, "(a conninfo libpq cannot parse)",
		              strlen("(a conninfo libpq cannot parse)"));
		return;
	}
	for (o = opts; o->keyword != NULL; o++) {
		size_t kl = strlen(o->keyword);

		if (o->val == NULL)
			continue;
		if (!first)
			config_append(buf, size, &off, " ", 1);
		first = false;
		config_append(buf, size, &off, o->keyword, kl);
		config_append(buf, size, &off, "=", 1);
		if (kl >= 8 && strcmp(o->keyword + kl - 8, "password") == 0)
			config_append(buf, size, &off, "***", 3);
		else
			config_append_value(buf, size, &off, o->val);
	}
	PQconninfoFree(opts);
}

void
config_store_name(const struct config *c, char *buf, size_t size)
{
	snprintf(buf, size, "%.*s", (int)strcspn(c->store, ":"), c->store);
}

const char *
config_store_arg(const struct config *c)
{
	const char *colon = strchr(c->store, ':');

	if (colon != NULL)
		return colon + 1;
	return strcmp(c->store, "pg") == 0 ? "" : NULL;
}

void
config_format(const struct config *c, int key, char *buf, size_t size)
{
	switch (key) {
	case CONFIG_SOCKET:
		snprintf(buf, size, "%s", c->socket);
		break;
	case CONFIG_STATE_DIR:
		snprintf(buf, size, "%s", c->state_dir);
		break;
	case CONFIG_STORE:
		config_format_store(c->store, buf, size);
		break;
	case CONFIG_SYNC:
		snprintf(buf, size, "%s", c->sync_full ? "full" : "normal");
		break;
	case CONFIG_HISTORY:
		snprintf(buf, size, "%u", c->history);
		break;
	case CONFIG_MAX_FRAME:
		snprintf(buf, size, "%u", c->max_frame);
		break;
	case CONFIG_FRAME_TIMEOUT_MS:
		snprintf(buf, size, "%u", c->frame_timeout_ms);
		break;
	case CONFIG_THREADS:
		snprintf(buf, size, "%u", c->threads);
		break;
	case CONFIG_LOG_LEVEL:
		snprintf(buf, size, "%s", log_level_name(c->log_level));
		break;
	case CONFIG_METRICS:
		snprintf(buf, size, "%s", c->metrics[0] != '\0' ? c->metrics
		                                               : "off");
		break;
	case CONFIG_QUOTA_TIMERS:
		snprintf(buf, size, "%" PRIu64, c->quota_timers);
		break;
	case CONFIG_QUOTA_MESSAGES:
		snprintf(buf, size, "%" PRIu64, c->quota_messages);
		break;
	case CONFIG_QUOTA_BYTES:
		snprintf(buf, size, "%" PRIu64, c->quota_bytes);
		break;
	case CONFIG_EXEC_MAX_RUNNING:
		snprintf(buf, size, "%u", c->exec_max_running);
		break;
	case CONFIG_EXEC_MAX_QUEUED:
		snprintf(buf, size, "%u", c->exec_max_queued);
		break;
	case CONFIG_EXEC_MAX_PER_UID:
		snprintf(buf, size, "%u", c->exec_max_per_uid);
		break;
	case CONFIG_MAX_CONN_PER_UID:
		snprintf(buf, size, "%u", c->max_conn_per_uid);
		break;
	case CONFIG_MIN_REPEAT_MS:
		snprintf(buf, size, "%u", c->min_repeat_ms);
		break;
	case CONFIG_MAX_FIRES_PER_UID:
		snprintf(buf, size, "%u", c->max_fires_per_uid);
		break;
	case CONFIG_HOOKS:
		snprintf(buf, size, "%s", c->hooks);
		break;
	case CONFIG_FINISHED_KEEP_S:
		snprintf(buf, size, "%u", c->finished_keep_s);
		break;
	case CONFIG_FINISHED_MAX:
		snprintf(buf, size, "%u", c->finished_max);
		break;
	case CONFIG_CLUSTER:
		snprintf(buf, size, "%s", c->cluster ? "yes" : "no");
		break;
	case CONFIG_CLUSTER_DEATH_MS:
		snprintf(buf, size, "%u", c->cluster_death_ms);
		break;
	case CONFIG_CLUSTER_HEARTBEAT_MS:
		snprintf(buf, size, "%u", c->cluster_heartbeat_ms);
		break;
	default:
		snprintf(buf, size, "?");
	}
}
