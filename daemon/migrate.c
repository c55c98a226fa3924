/*
 * migrate: copies one store's durable state into another (see migrate.h).
 *
 * Owns the two open stores of one run and the ids of the timers it
 * copied (for their run records). Must not reach anything of the daemon
 * but store.h: no loop, no scheduler, no socket; evd migrate runs before
 * any of them exists.
 *
 * Invariants:
 *	the source is only read (claim with no horizon, load_messages,
 *	load_channels, runs, list_ended, meta_get), all inside one
 *	begin() that is rolled back, never committed; the
 *	destination only written through begin ... commit batches of at
 *	most batch_rows rows, each flushed when the destination flushes;
 *	a destination row is looked up or refused before it is written,
 *	so a second run writes nothing the first one wrote (timers: by
 *	id, then the owner's pending key; messages: by fire id; runs: a
 *	timer's are copied only where it has none, all in one batch);
 *	a write that fails for its row (STORE_ROW_ERROR) skips the row and
 *	fails the run at the end; any other failure rolls the batch back
 *	and stops at once.
 * Callbacks of the source's claim() run while a thread of the source may
 * read on: they write only to the destination, never call the source.
 */
#include "migrate.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* What sqlite's open would create if the source directory had none: an
 * empty store, a write to the source and a migration of nothing. */
#define MIGRATE_SQLITE_DB "evd.db"
/* Rows of finished timers counted per list_ended() call. */
#define MIGRATE_ENDED_PAGE 1000

/* The meta keys evd keeps (sched.c, sched_clock.c): ids go on above
 * the larger counter, the last-seen clock is the later one. The
 * backends' own keys (sqlite's prune cursor) and batch.c's write probe
 * belong to one store and are not copied. */
static const char *const migrate_meta_keys[] = {
    "next_timer_id",
    "next_fire_id",
    "last_seen_rt_ns",
};

/* One run's state; on migrate_run's stack. */
struct migrate {
	const struct migrate_options *o;
	const struct store_backend *sb, *db; /* source, destination */
	struct store *src, *dst;
	char src_name[MIGRATE_ARG_MAX + 16], dst_name[MIGRATE_ARG_MAX + 16];
	FILE *out, *err;
	size_t batch_rows, in_batch;
	bool in_txn;	/* a destination batch is open */
	bool src_txn;	/* the source's read transaction is open */
	int lost;	/* the first failure that stopped the run */
	size_t refused; /* rows skipped for a row error */
	/* Pending timers of the source that the destination holds under
	 * their ids (copied now or before), for their runs. */
	uint64_t *ids;
	size_t n_ids, cap_ids;
	struct {
		size_t copied, present, by_key, refused, ended;
	} timers;
	struct {
		size_t copied, present, dead, refused;
	} msgs;
	size_t runs, channels, channels_refused;
	char meta[256]; /* the summary's meta line, once written */
};

/* A run record copied out of a source callback (its strings are
 * borrowed only during the call). */
struct migrate_runs {
	struct store_run *v;
	size_t n, cap;
	int failed;
};

int
migrate_spec_parse(const char *text, const char *default_dir,
		   struct migrate_spec *ret, char *err, size_t errsize)
{
	const char *colon = strchr(text, ':');
	size_t name_len = colon != NULL ? (size_t)(colon - text) : strlen(text);
	const struct store_backend *be;
	const char *arg;
	char name[32];

	if (name_len == 0) {
		snprintf(err, errsize,
			 "'%s': no store name (NAME[:ARG], e.g. "
			 "sqlite:/var/lib/evd)",
			 text);
		return -EINVAL;
	}
	if (name_len >= sizeof name) {
		snprintf(err, errsize, "unknown store '%.*s'", (int)name_len,
			 text);
		return -EINVAL;
	}
	memcpy(name, text, name_len);
	name[name_len] = '\0';
	if ((be = store_backend_find(name)) == NULL) {
		snprintf(err, errsize,
			 "unknown store '%s' (NAME[:ARG], NAME "
			 "one of evd's --store kinds)",
			 name);
		return -EINVAL;
	}
	if (!be->durable) {
		snprintf(err, errsize,
			 "the %s store keeps nothing once evd "
			 "stops: there is nothing to migrate from or to",
			 name);
		return -EINVAL;
	}
	if (colon != NULL && colon[1] == '\0') {
		snprintf(err, errsize,
			 "'%s': empty ARG after ':' (leave out "
			 "the ':' for the default)",
			 text);
		return -EINVAL;
	}
	arg = colon != NULL ? colon + 1 : "";
	if (colon == NULL && strcmp(name, "sqlite") == 0) {
		if (default_dir == NULL || default_dir[0] == '\0') {
			snprintf(err, errsize,
				 "'%s': no state directory "
				 "configured; say sqlite:DIR",
				 text);
			return -EINVAL;
		}
		arg = default_dir;
	}
	if (strlen(arg) >= sizeof ret->arg) {
		snprintf(err, errsize, "'%s': ARG longer than %d bytes", name,
			 MIGRATE_ARG_MAX - 1);
		return -ENAMETOOLONG;
	}
	ret->be = be;
	snprintf(ret->arg, sizeof ret->arg, "%s", arg);
	return 0;
}

static bool
migrate_is_sqlite(const struct migrate_spec *sp)
{
	return strcmp(sp->be->name, "sqlite") == 0;
}

/* How a store is named in messages: a conninfo may carry a password, so
 * only a state directory is shown. */
static void
migrate_name(const struct migrate_spec *sp, char *buf, size_t size)
{
	if (migrate_is_sqlite(sp))
		snprintf(buf, size, "sqlite:%s", sp->arg);
	else
		snprintf(buf, size, "%s", sp->be->name);
}

/* Client bytes (keys, channel names) printed on a terminal: anything
 * unprintable becomes '?'. */
static const char *
migrate_printable(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < size; i++)
		buf[i] = isprint((unsigned char)s[i]) ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/* Drops the open batch, if any (after a failure). */
static void
migrate_abandon(struct migrate *m)
{
	if (m->in_txn)
		m->db->rollback(m->dst);
	m->in_txn = false;
	m->in_batch = 0;
}

/* Stops the run on a failure that is not one row's: the batch in
 * progress is rolled back, earlier ones stay. Returns r. */
static int
migrate_lose(struct migrate *m, int r, const char *what)
{
	if (m->lost != 0)
		return m->lost;
	fprintf(m->err,
		"evd migrate: %s: %s: %s; the batch in progress was rolled "
		"back (what earlier batches wrote stays: run evd migrate "
		"again once this is fixed)\n",
		m->dst_name, what,
		r != -ENOMEM && m->db->errmsg(m->dst)[0] != '\0'
		    ? m->db->errmsg(m->dst)
		    : strerror(-r));
	m->lost = r;
	migrate_abandon(m);
	return r;
}

/* Commits the batch and makes it durable as the destination does. */
static int
migrate_commit(struct migrate *m)
{
	int r;

	if ((r = m->db->commit(m->dst)) < 0)
		return migrate_lose(m, r, "commit");
	m->in_txn = false;
	m->in_batch = 0;
	if (m->db->flush != NULL && m->db->flushes != NULL &&
	    m->db->flushes(m->dst) && (r = m->db->flush(m->dst)) < 0) {
		/* Committed, maybe not on disk: no rollback left to do. */
		fprintf(m->err,
			"evd migrate: %s: cannot make the last batch durable: "
			"%s\n",
			m->dst_name, strerror(-r));
		m->lost = r;
		return r;
	}
	return 0;
}

static int
migrate_begin(struct migrate *m)
{
	int r;

	if ((r = m->db->begin(m->dst)) < 0)
		return migrate_lose(m, r, "begin");
	m->in_txn = true;
	return 0;
}

/* Commits and opens the next batch once this one is full. */
static int
migrate_batch_check(struct migrate *m)
{
	int r;

	if (m->in_batch < m->batch_rows)
		return 0;
	if ((r = migrate_commit(m)) < 0)
		return r;
	return migrate_begin(m);
}

/* One more row in the batch. */
static int
migrate_row_done(struct migrate *m)
{
	m->in_batch++;
	return migrate_batch_check(m);
}

static int
migrate_found_cb(const struct store_timer *t, void *arg)
{
	(void)t;
	*(bool *)arg = true;
	return 0;
}

static int
migrate_note_id(struct migrate *m, uint64_t id)
{
	uint64_t *v;
	size_t cap;

	if (m->n_ids == m->cap_ids) {
		cap = m->cap_ids != 0 ? 2 * m->cap_ids : 1024;
		if ((v = realloc(m->ids, cap * sizeof *v)) == NULL)
			return -ENOMEM;
		m->ids = v;
		m->cap_ids = cap;
	}
	m->ids[m->n_ids++] = id;
	return 0;
}

static int
migrate_timer_cb(const struct store_timer *t, void *arg)
{
	struct migrate *m = arg;
	struct store_timer c = *t;
	char key[128];
	bool found = false;
	int r;

	r = m->db->get_timer(m->dst, t->id, migrate_found_cb, &found);
	if (r < 0 && r != -ENOENT)
		return migrate_lose(m, r, "looking up a timer");
	if (found) {
		m->timers.present++;
		if ((r = migrate_note_id(m, t->id)) < 0)
			return migrate_lose(m, r, "out of memory");
		return 0;
	}
	/* A fence is the source's claim; the destination has its own. */
	c.fence = 0;
	r = m->db->schedule(m->dst, &c);
	if (r == -EEXIST) {
		/* Its id is free, so its owner's key is taken: the
		 * timer is there under another id (an earlier copy, or
		 * scheduled again through a destination evd). */
		m->timers.present++;
		m->timers.by_key++;
		return 0;
	}
	if (STORE_ROW_ERROR(r)) {
		fprintf(
		    m->err,
		    "evd migrate: timer %" PRIu64 " (uid %u%s%s%s):"
		    " refused by %s: %s\n",
		    t->id, (unsigned)t->uid, t->key != NULL ? ", key '" : "",
		    t->key != NULL ? migrate_printable(t->key, key, sizeof key)
				   : "",
		    t->key != NULL ? "'" : "", m->dst_name,
		    m->db->errmsg(m->dst));
		m->timers.refused++;
		m->refused++;
		return 0;
	}
	if (r < 0)
		return migrate_lose(m, r, "schedule");
	if ((r = migrate_note_id(m, t->id)) < 0)
		return migrate_lose(m, r, "out of memory");
	m->timers.copied++;
	return migrate_row_done(m);
}

static void
migrate_runs_clear(struct migrate_runs *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++) {
		free((char *)rs->v[i].detail);
		free((uint8_t *)rs->v[i].out);
		free((uint8_t *)rs->v[i].err);
	}
	rs->n = 0;
	rs->failed = 0;
}

static void *
migrate_memdup(const void *p, size_t len, bool *failed)
{
	void *q;

	if (p == NULL)
		return NULL;
	if ((q = malloc(len != 0 ? len : 1)) == NULL) {
		*failed = true;
		return NULL;
	}
	memcpy(q, p, len);
	return q;
}

static int
migrate_run_cb(const struct store_run *r, void *arg)
{
	struct migrate_runs *rs = arg;
	struct store_run *c, *v;
	bool failed = false;
	size_t cap;

	if (rs->n == rs->cap) {
		cap = rs->cap != 0 ? 2 * rs->cap : 32;
		if ((v = realloc(rs->v, cap * sizeof *v)) == NULL)
			return rs->failed = -ENOMEM;
		rs->v = v;
		rs->cap = cap;
	}
	c = &rs->v[rs->n];
	*c = *r;
	c->detail =
	    r->detail != NULL
		? migrate_memdup(r->detail, strlen(r->detail) + 1, &failed)
		: NULL;
	c->out = migrate_memdup(r->out, r->out_len, &failed);
	c->err = migrate_memdup(r->err, r->err_len, &failed);
	rs->n++; /* freed by migrate_runs_clear even when a copy failed */
	if (failed)
		return rs->failed = -ENOMEM;
	return 0;
}

static int
migrate_any_run_cb(const struct store_run *r, void *arg)
{
	(void)r;
	*(bool *)arg = true;
	return -ECANCELED; /* one is enough */
}

/*
 * The run records of the pending timers, oldest first as the source's
 * evd appended them, for each timer whose id the destination has and
 * which has no run there yet: a timer and its runs may have been copied
 * by two runs of evd migrate, the first one interrupted in between. A
 * timer's runs go into one batch, so none is ever half copied.
 */
static int
migrate_copy_runs(struct migrate *m)
{
	struct migrate_runs rs = {0};
	bool has;
	size_t i, j;
	int r = 0;

	for (i = 0; i < m->n_ids && r == 0; i++) {
		has = false;
		r = m->db->runs(m->dst, m->ids[i], migrate_any_run_cb, &has);
		if (r < 0 && r != -ECANCELED) {
			migrate_lose(m, r, "reading runs");
			break;
		}
		r = 0;
		if (has)
			continue;
		r = m->sb->runs(m->src, m->ids[i], migrate_run_cb, &rs);
		if (r < 0) {
			if (rs.failed == 0)
				fprintf(m->err,
					"evd migrate: %s: reading "
					"the runs of timer %" PRIu64 ": %s\n",
					m->src_name, m->ids[i],
					m->sb->errmsg(m->src));
			else
				migrate_lose(m, r, "reading runs");
			m->lost = r;
			break;
		}
		for (j = rs.n; j-- > 0;) {
			r = m->db->run_append(m->dst, &rs.v[j]);
			if (STORE_ROW_ERROR(r)) {
				fprintf(m->err,
					"evd migrate: a run of timer "
					"%" PRIu64 ": refused by %s: %s\n",
					m->ids[i], m->dst_name,
					m->db->errmsg(m->dst));
				m->refused++;
				r = 0;
				continue;
			}
			if (r < 0) {
				migrate_lose(m, r, "appending a run");
				break;
			}
			m->runs++;
			m->in_batch++;
		}
		migrate_runs_clear(&rs);
		/* Commits between two timers only. */
		if (r == 0)
			r = migrate_batch_check(m);
	}
	free(rs.v);
	return r;
}

static int
migrate_msg_cb(const struct store_msg *msg, void *arg)
{
	struct migrate *m = arg;
	char ch[128];
	int r;

	r = m->db->enqueue(m->dst, msg);
	if (r == -EEXIST) {
		m->msgs.present++;
		return 0;
	}
	/* A backend's enqueue may take a message as new (no attempts, not
	 * dead): update_msg then carries what the source knows. */
	if (r == 0 && (msg->attempts != 0 || msg->dead || msg->reason != NULL))
		r = m->db->update_msg(m->dst, msg);
	if (STORE_ROW_ERROR(r)) {
		fprintf(m->err,
			"evd migrate: message %" PRIu64 " (channel "
			"'%s', timer %" PRIu64 "): refused by %s: %s\n",
			msg->fire_id,
			migrate_printable(msg->channel, ch, sizeof ch),
			msg->timer_id, m->dst_name, m->db->errmsg(m->dst));
		m->msgs.refused++;
		m->refused++;
		return 0;
	}
	if (r < 0)
		return migrate_lose(m, r, "enqueue");
	m->msgs.copied++;
	if (msg->dead)
		m->msgs.dead++;
	return migrate_row_done(m);
}

static int
migrate_channel_cb(const struct store_channel *c, void *arg)
{
	struct migrate *m = arg;
	char name[128];
	int r;

	r = m->db->channel_put(m->dst, c);
	if (STORE_ROW_ERROR(r)) {
		fprintf(m->err,
			"evd migrate: channel '%s': refused by %s: "
			"%s\n",
			migrate_printable(c->name, name, sizeof name),
			m->dst_name, m->db->errmsg(m->dst));
		m->channels_refused++;
		m->refused++;
		return 0;
	}
	if (r < 0)
		return migrate_lose(m, r, "channel_put");
	m->channels++;
	return migrate_row_done(m);
}

/* Counts the source's finished and cancelled timers, which stay there. */
struct migrate_ended {
	uint64_t after;
	size_t n;
};

static int
migrate_ended_cb(const struct store_timer *t, void *arg)
{
	struct migrate_ended *e = arg;

	e->after = t->id;
	e->n++;
	return 0;
}

static int
migrate_count_ended(struct migrate *m)
{
	struct migrate_ended e = {0, 0};
	size_t before;
	int r;

	do {
		before = e.n;
		r = m->sb->list_ended(m->src, 0, true, e.after,
				      MIGRATE_ENDED_PAGE, migrate_ended_cb, &e);
		if (r < 0)
			return r;
	} while (e.n - before == MIGRATE_ENDED_PAGE);
	m->timers.ended = e.n;
	return 0;
}

/* The daemon's counters and clock: the later of the two stores. */
static int
migrate_meta(struct migrate *m)
{
	size_t i, len = 0;
	int64_t sv, dv;
	int r;

	for (i = 0; i < sizeof migrate_meta_keys / sizeof *migrate_meta_keys;
	     i++) {
		r = m->sb->meta_get(m->src, migrate_meta_keys[i], &sv);
		if (r == -ENOENT)
			continue;
		if (r < 0) {
			fprintf(m->err, "evd migrate: %s: reading %s: %s\n",
				m->src_name, migrate_meta_keys[i],
				m->sb->errmsg(m->src));
			m->lost = r;
			return r;
		}
		r = m->db->meta_get(m->dst, migrate_meta_keys[i], &dv);
		if (r < 0 && r != -ENOENT)
			return migrate_lose(m, r, "meta_get");
		if (r == -ENOENT || sv > dv) {
			if ((r = m->db->meta_put(m->dst, migrate_meta_keys[i],
						 sv)) < 0)
				return migrate_lose(m, r, "meta_put");
			dv = sv;
		}
		if (len < sizeof m->meta)
			len += (size_t)snprintf(
			    m->meta + len, sizeof m->meta - len,
			    "%s %s %" PRId64, len != 0 ? "," : "",
			    migrate_meta_keys[i], dv);
	}
	if (len == 0)
		snprintf(m->meta, sizeof m->meta, " none in the source");
	return 0;
}

/* Opens one side; says why it cannot, the lock first. */
static int
migrate_open(struct migrate *m, const struct migrate_spec *sp, bool source,
	     struct store **ret)
{
	struct store_config cfg = m->o->cfg;
	const char *name = source ? m->src_name : m->dst_name;
	const char *why;
	char path[PATH_MAX];
	struct stat st;
	int r;

	cfg.log = NULL;
	cfg.conninfo = NULL;
	/* A source is only read: its open must not make a store where
	 * there is none (pg would create the schema). */
	cfg.read_only = source;
	if (migrate_is_sqlite(sp)) {
		cfg.state_dir = sp->arg;
		if (source &&
		    (snprintf(path, sizeof path, "%s/" MIGRATE_SQLITE_DB,
			      sp->arg) >= (int)sizeof path ||
		     stat(path, &st) < 0)) {
			fprintf(m->err,
				"evd migrate: the source %s holds no "
				"evd store (no %s there)\n",
				name, MIGRATE_SQLITE_DB);
			return -ENOENT;
		}
	} else {
		cfg.conninfo = sp->arg;
	}
	if ((r = sp->be->open(&cfg, ret)) == 0)
		return 0;
	why = sp->be->errmsg(NULL);
	if (why == NULL || why[0] == '\0')
		why = strerror(-r);
	if (r == -ENOENT && source)
		fprintf(m->err,
			"evd migrate: the source %s holds no evd store "
			"(%s)\n",
			name, why);
	else if (r == -EBUSY)
		fprintf(m->err,
			"evd migrate: the %s %s is in use: %s; stop "
			"the evd that runs on it first%s\n",
			source ? "source" : "destination", name, why,
			source ? " (a store is copied while nothing "
				 "changes it)"
			       : "");
	else
		fprintf(m->err, "evd migrate: cannot open the %s %s: %s\n",
			source ? "source" : "destination", name, why);
	return r;
}

/* Whether from and to are one store (a copy onto itself). */
static bool
migrate_same(const struct migrate_spec *a, const struct migrate_spec *b)
{
	struct stat sa, sb;

	if (a->be != b->be)
		return false;
	if (migrate_is_sqlite(a) && stat(a->arg, &sa) == 0 &&
	    stat(b->arg, &sb) == 0)
		return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	return strcmp(a->arg, b->arg) == 0;
}

static void
migrate_summary(struct migrate *m)
{
	fprintf(m->out, "channels: %zu copied", m->channels);
	if (m->channels_refused != 0)
		fprintf(m->out, ", %zu refused", m->channels_refused);
	fprintf(m->out, "\ntimers: %zu copied, %zu already present",
		m->timers.copied, m->timers.present);
	if (m->timers.by_key != 0)
		fprintf(m->out, " (%zu by key under another id)",
			m->timers.by_key);
	if (m->timers.refused != 0)
		fprintf(m->out, ", %zu refused", m->timers.refused);
	fprintf(m->out, "\nruns: %zu copied (history of the pending timers)\n",
		m->runs);
	fprintf(m->out,
		"messages: %zu copied (%zu dead letters), %zu already "
		"present",
		m->msgs.copied, m->msgs.dead, m->msgs.present);
	if (m->msgs.refused != 0)
		fprintf(m->out, ", %zu refused", m->msgs.refused);
	fprintf(m->out, "\n");
	if (m->meta[0] != '\0')
		fprintf(m->out, "meta:%s\n", m->meta);
}

int
migrate_run(const struct migrate_options *o, FILE *out, FILE *err)
{
	struct migrate m;
	int r;

	memset(&m, 0, sizeof m);
	m.o = o;
	m.sb = o->from.be;
	m.db = o->to.be;
	m.out = out;
	m.err = err;
	m.batch_rows =
	    o->batch_rows != 0 ? o->batch_rows : MIGRATE_DEFAULT_BATCH;
	migrate_name(&o->from, m.src_name, sizeof m.src_name);
	migrate_name(&o->to, m.dst_name, sizeof m.dst_name);
	if (migrate_same(&o->from, &o->to)) {
		fprintf(err,
			"evd migrate: --from and --to name the same "
			"store (%s)\n",
			m.src_name);
		return -EINVAL;
	}
	if ((r = migrate_open(&m, &o->from, true, &m.src)) < 0)
		return r;
	if ((r = migrate_open(&m, &o->to, false, &m.dst)) < 0)
		goto out;
	/*
	 * Every read of the source in one transaction that is rolled back:
	 * one view of it, and one lock for the lot instead of one per
	 * query (sqlite takes a file lock per read outside a transaction).
	 */
	if ((r = m.sb->begin(m.src)) < 0) {
		fprintf(err, "evd migrate: reading %s: %s\n", m.src_name,
			m.sb->errmsg(m.src));
		goto out;
	}
	m.src_txn = true;
	if ((r = migrate_begin(&m)) < 0)
		goto out;

	/* Channels first: their grants say who may use what follows. */
	r = m.sb->load_channels(m.src, migrate_channel_cb, &m);
	if (r < 0)
		goto read_failed;
	r = m.sb->claim(m.src, INT64_MAX, migrate_timer_cb, &m);
	if (r < 0)
		goto read_failed;
	if ((r = migrate_copy_runs(&m)) < 0)
		goto out;
	r = m.sb->load_messages(m.src, migrate_msg_cb, &m);
	if (r < 0)
		goto read_failed;
	if ((r = migrate_meta(&m)) < 0)
		goto out;
	if ((r = migrate_commit(&m)) < 0)
		goto out;
	if ((r = migrate_count_ended(&m)) < 0)
		goto read_failed;
	r = m.refused != 0 ? -EINVAL : 0;
	goto out;

read_failed:
	/* A callback that stopped the read has said why already. */
	if (m.lost == 0) {
		fprintf(err,
			"evd migrate: reading %s: %s; the batch in "
			"progress was rolled back\n",
			m.src_name, m.sb->errmsg(m.src));
		m.lost = r;
	}
out:
	if (m.dst != NULL) {
		migrate_abandon(&m);
		migrate_summary(&m);
	}
	if (m.lost == 0 && r == 0 && m.timers.ended != 0)
		fprintf(out,
			"finished timers: %zu not copied (they and their "
			"runs stay in the source)\n",
			m.timers.ended);
	if (m.src_txn)
		m.sb->rollback(m.src);
	if (m.dst != NULL)
		m.db->close(m.dst);
	if (m.src != NULL)
		m.sb->close(m.src);
	free(m.ids);
	return r;
}
