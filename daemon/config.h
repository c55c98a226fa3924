/*
 * config: evd's settings, from the configuration file and the command line.
 *
 * Pure: parses text into a struct config and validates each value; it
 * never logs, exits or touches daemon state. Reading the file is its only
 * I/O. Errors come back as a negative errno plus a one-line reason in the
 * caller's buffer, "FILE:LINE: reason" for the file, so the caller decides
 * whether it is fatal (at start-up) or a warning (on SIGHUP).
 *
 * File format (evd.conf(5)): one "key = value" per line; blank lines and
 * lines whose first non-blank character is '#' are ignored; a '#' after a
 * value is part of the value (paths may contain it). Unknown keys, bad
 * values, empty values and a key given twice are errors.
 *
 * A struct config records which keys were given (the set mask), so that
 * layers merge: built-in defaults < file < command line.
 */
#ifndef EVD_CONFIG_H
#define EVD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum config_key {
	CONFIG_SOCKET,
	CONFIG_STATE_DIR,
	CONFIG_STORE,
	CONFIG_SYNC,
	CONFIG_HISTORY,
	CONFIG_MAX_FRAME,
	CONFIG_LOG_LEVEL,
	CONFIG_METRICS,
	CONFIG_FRAME_TIMEOUT_MS,
	CONFIG_THREADS,
	/* From here on, every key can change on SIGHUP. */
	CONFIG_QUOTA_TIMERS,
	CONFIG_QUOTA_MESSAGES,
	CONFIG_QUOTA_BYTES,
	CONFIG_EXEC_MAX_RUNNING,
	CONFIG_EXEC_MAX_QUEUED,
	CONFIG_EXEC_MAX_PER_UID,
	CONFIG_MAX_CONN_PER_UID,
	CONFIG_MIN_REPEAT_MS,
	CONFIG_MAX_FIRES_PER_UID,
	/* Needs a restart (config_key_reloadable says which). */
	CONFIG_HOOKS,
	CONFIG_FINISHED_KEEP_S,
	CONFIG_FINISHED_MAX,
	CONFIG_CLUSTER,
	CONFIG_CLUSTER_DEATH_MS,
	CONFIG_CLUSTER_HEARTBEAT_MS,
	CONFIG_NKEYS,
};

#define CONFIG_BIT(key) (1u << (key))

/* Limits shared by the file and the command line. */
#define CONFIG_HISTORY_MAX 10000u
#define CONFIG_MAX_FRAME_MIN 64u
#define CONFIG_MAX_FRAME_MAX (64u * 1024u * 1024u)
/* How long a frame may take from its first byte (slow loris). */
#define CONFIG_FRAME_TIMEOUT_MIN 100u
#define CONFIG_FRAME_TIMEOUT_MAX 3600000u
#define CONFIG_DEFAULT_FRAME_TIMEOUT_MS 30000u
#define CONFIG_QUOTA_MAX (UINT64_C(1) << 62)
#define CONFIG_EXEC_RUNNING_MAX 4096u
/* Connections one user may hold: far more than any client library opens,
 * far fewer than evd's descriptors. */
#define CONFIG_DEFAULT_CONN_PER_UID 256u
#define CONFIG_CONN_PER_UID_MAX 1000000u
/* A durable repeating timer fires at most once a second by default (cron:
 * once a minute); a caller timer, held in memory, may repeat every 1 ms. */
#define CONFIG_DEFAULT_MIN_REPEAT_MS 1000u
#define CONFIG_MIN_REPEAT_MS_MAX 86400000u
/* Fires per second one user's timers may cost the daemon: a backlog
 * fires late, at this rate, instead of taking evd from everyone. */
#define CONFIG_DEFAULT_FIRES_PER_UID 1000u
#define CONFIG_FIRES_PER_UID_MAX 100000000u
/* Event loops (threads); SHARD_MAX in shard.h. */
#define CONFIG_THREADS_MAX 16u
#define CONFIG_EXEC_QUEUED_MAX 10000000u
/* Exec hooks running at once, waiting beyond that, and running at once
 * for one (non-root) owner. */
#define CONFIG_DEFAULT_EXEC_RUNNING 64u
#define CONFIG_DEFAULT_EXEC_QUEUED 10000u
#define CONFIG_DEFAULT_EXEC_PER_UID 16u
/* Finished and cancelled timers: kept this long (seconds; a week by
 * default, at most ten years), and at most this many per uid where they
 * are kept in memory (caller timers, and every timer of the memory
 * store). */
#define CONFIG_FINISHED_KEEP_MAX_S 315360000u
#define CONFIG_DEFAULT_FINISHED_KEEP_S 604800u
#define CONFIG_FINISHED_MAX_MAX 1000000u
#define CONFIG_DEFAULT_FINISHED_MAX 1000u
/* Cluster mode: a node silent this long is dead (ms). */
#define CONFIG_DEFAULT_CLUSTER_DEATH_MS 10000u
#define CONFIG_CLUSTER_DEATH_MIN 500u
#define CONFIG_CLUSTER_DEATH_MAX 600000u
/* The store setting's bytes, NUL included (a conninfo lives in it). */
#define CONFIG_STORE_MAX 1024u
/* A configuration file larger than this is refused (it is a few lines). */
#define CONFIG_FILE_MAX (64u * 1024u)

/* Values; a field means something only if its bit is in set. Owned by
 * whoever declared it; no pointers inside, so plain assignment copies. */
struct config {
	unsigned set;          /* CONFIG_BIT(key) for every key given */
	char socket[108];      /* fits sockaddr_un.sun_path, NUL included */
	char state_dir[PATH_MAX];
	/* The store: a store_backend_find() name, then for pg ":" and a
	 * libpq conninfo ("pg:host=db dbname=evd"); bounded, a longer one
	 * is refused. config_store_name/config_store_arg split it. */
	char store[CONFIG_STORE_MAX];
	bool sync_full;        /* sync = full (true) or normal */
	uint32_t history;      /* run records kept per timer */
	uint32_t max_frame;    /* bytes */
	int log_level;         /* LOG_LEVEL_* */
	char metrics[64];      /* HOST:PORT of the metrics endpoint; "": off */
	uint32_t frame_timeout_ms; /* a frame's deadline from its first byte */
	uint32_t threads;      /* event loops, one thread each */
	uint64_t quota_timers;   /* pending timers per uid */
	uint64_t quota_messages; /* queued channel messages per uid */
	uint64_t quota_bytes;    /* payload bytes per uid */
	uint32_t exec_max_running;
	uint32_t exec_max_queued;
	uint32_t exec_max_per_uid; /* 0: no bound */
	uint32_t max_conn_per_uid; /* connections of one non-root uid; 0: any */
	uint32_t min_repeat_ms;    /* shortest interval of a durable repeating
	                              timer of a non-root uid */
	uint32_t max_fires_per_uid; /* fires per second of one non-root uid;
	                               0: no bound */
	char hooks[16]; /* how hooks start: "auto", "systemd" or "spawner" */
	uint32_t finished_keep_s; /* finished timers are kept this long */
	uint32_t finished_max;    /* per uid, where kept in memory */
	bool cluster;             /* one node of several on a pg store */
	uint32_t cluster_death_ms; /* D: a node silent this long is dead */
	uint32_t cluster_heartbeat_ms; /* 0: D / 5 */
};

/* Nothing set. */
void config_init(struct config *c);

/* The key called name (the file's spelling), or -ENOENT. */
int config_key_find(const char *name);
/* The file's spelling of key ("log_level"). */
const char *config_key_name(int key);
/* True if a running daemon can apply a new value of key on SIGHUP. */
bool config_key_reloadable(int key);

/*
 * Validates value for key and stores it in c (marking it set). Returns 0,
 * or -EINVAL with the reason (without the key's name) in err. c is
 * untouched on failure.
 */
int config_set(struct config *c, int key, const char *value, char *err,
               size_t errsize);

/*
 * Parses len bytes of text named name (for messages) into ret. Returns 0,
 * or -EINVAL with "NAME:LINE: reason" in err; ret is untouched on
 * failure. Paths in a file must be absolute.
 */
int config_parse(const char *name, const char *text, size_t len,
                 struct config *ret, char *err, size_t errsize);

/*
 * Reads and parses the file at path into ret. Returns 0; -ENOENT if it
 * does not exist; -EINVAL for a parse error; another -errno if it cannot
 * be read. err always says why on failure. ret is untouched on failure.
 */
int config_load(const char *path, struct config *ret, char *err,
                size_t errsize);

/* Called by config_check with each error, "FILE:LINE: reason". */
typedef void config_report_fn(void *arg, const char *msg);

/*
 * config_load for evd --check-config: reads the file at path and parses
 * all of it, calling report(arg, msg) for every bad line instead of
 * stopping at the first. Returns the number of bad lines (0: ret is
 * filled), or -errno with err set when the file cannot be read (-ENOENT:
 * it does not exist) or is no text at all. ret is untouched unless 0.
 */
int config_check(const char *path, struct config *ret, char *err,
                 size_t errsize, config_report_fn *report, void *arg);

/* Copies into dst every key set in src (src wins). */
void config_merge(struct config *dst, const struct config *src);

/* Sets every key not yet set to its built-in default, except socket and
 * state_dir, whose defaults depend on the environment (main's business). */
void config_fill_defaults(struct config *c);

/* The mask of keys whose values differ between a and b, among the keys
 * set in both. */
unsigned config_diff(const struct config *a, const struct config *b);

/* Formats key's value in c as the file would spell it (a store's
 * conninfo with its password masked). */
void config_format(const struct config *c, int key, char *buf, size_t size);

/* The backend name of c->store ("pg" of "pg:CONNINFO") into buf. */
void config_store_name(const struct config *c, char *buf, size_t size);

/* What follows the backend name and ":" in c->store (a pg conninfo;
 * "" for "pg" alone: libpq's environment and defaults), or NULL when
 * nothing does. Points into c. */
const char *config_store_arg(const struct config *c);

#endif
