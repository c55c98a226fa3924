/*
 * storeq: the store's operation log (see storeq.h).
 *
 * A batch's writes are copied, strings and bytes included, into chunks
 * that never move, so a logged row's pointers stay valid until the
 * executor has run it; the batch is freed whole once run. The loop fills
 * q->cur alone; a published batch belongs to whoever holds run_lock and
 * takes it from the list. inner_open says the wrapped store has a
 * transaction open, begun by whoever ran the first write of the batch
 * being run: the loop, when a read or a synchronous write needed its
 * batch's writes in the store first, or the executor. Either way it is
 * the batch published next (or the loop's current one), since the loop
 * runs everything published before it touches its own.
 */
#include "storeq.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "metrics.h"
#include "store.h"

#define QCHUNK_SIZE ((size_t)64 << 10)
/* Chunks kept for the next batches (2 MiB): a fresh malloc of each
 * batch's chunks, freed by the executor a moment later, cost the loop a
 * page fault per 4 KiB of log. */
#define QCHUNK_KEEP 32

struct qchunk {
	struct qchunk *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
};

enum qop_kind {
	QOP_SCHEDULE,
	QOP_CANCEL,
	QOP_RETIRE,
	QOP_RESCHEDULE,
	QOP_ENQUEUE,
	QOP_ACK,
	QOP_UPDATE_MSG,
	QOP_CHANNEL_PUT,
	QOP_RUN_APPEND,
	QOP_META_PUT,
};

/* A logged write; allocated without u when its kind has no row (cancel,
 * ack, meta_put, a retire with no next occurrence): most of a cancel's
 * log would be an unused store_timer. */
struct qop {
	struct qop *next;
	enum qop_kind kind;
	uint64_t id, fence;      /* cancel, retire, ack */
	bool has_next;           /* retire: u.t is the next occurrence */
	const char *key;         /* meta_put */
	int64_t value;
	union {
		struct store_timer t;
		struct store_msg m;
		struct store_run r;
		struct store_channel c;
	} u;
};

struct qbatch {
	struct qbatch *next;
	struct store *q;         /* whose chunk cache */
	uint64_t seq;
	struct qop *head, **tail;
	struct qop *unrun;       /* the first write not run yet */
	struct qchunk *chunks;
	size_t bytes;
};

/* The wrapper, as the daemon sees it: a store of its own backend (vt). */
struct store {
	struct store_backend vt;
	const struct store_backend *be;
	struct store *s;

	pthread_mutex_t run_lock;   /* who calls s (flush() aside) */
	bool inner_open;            /* run_lock */
	uint64_t fail_seq;          /* run_lock; 0: the loop's current */
	int fail_err;               /* run_lock */
	const char *step;           /* run_lock: check, begin, write, commit */
	const char *fail_step;      /* run_lock */
	char fail_msg[512];         /* run_lock */
	atomic_bool failed;

	pthread_mutex_t list_lock;
	struct qbatch *pub_head, **pub_tail; /* list_lock */
	size_t pub_bytes;                    /* list_lock */
	/* Batches published and batches run (committed or failed), by
	 * whoever ran them: storeq_wait waits for a count, not for the
	 * executor to be idle, which under steady load it never is. */
	uint64_t npub, ndone;                /* list_lock */
	/* The executor thread runs what is published as soon as it is, so
	 * that one batch's statements overlap the fsync of the one before
	 * (on batch's sync thread, storeq_wait). */
	pthread_t thread;
	pthread_cond_t work_cv;   /* list_lock: published, or quit */
	pthread_cond_t done_cv;   /* list_lock: ndone grew */
	bool quit;                /* list_lock */

	pthread_mutex_t free_lock;
	struct qchunk *free;        /* free_lock: QCHUNK_SIZE chunks */
	unsigned nfree;             /* free_lock */

	/* The loop's. */
	unsigned loop_in;           /* run_lock held, with this depth */
	struct qbatch *cur;
	char err[512];
};

/* ---- the log ---- */

/* A chunk of cap bytes, from the cache when it is the usual size. */
static struct qchunk *
qc_get(struct store *q, size_t cap)
{
	struct qchunk *c = NULL;

	if (cap == QCHUNK_SIZE) {
		pthread_mutex_lock(&q->free_lock);
		if ((c = q->free) != NULL) {
			q->free = c->next;
			q->nfree--;
		}
		pthread_mutex_unlock(&q->free_lock);
	}
	return c != NULL ? c : malloc(sizeof *c + cap);
}

static void
qc_put(struct store *q, struct qchunk *c)
{
	if (c->cap == QCHUNK_SIZE) {
		pthread_mutex_lock(&q->free_lock);
		if (q->nfree < QCHUNK_KEEP) {
			c->next = q->free;
			q->free = c;
			q->nfree++;
			c = NULL;
		}
		pthread_mutex_unlock(&q->free_lock);
	}
	free(c);
}

static void *
qb_alloc(struct qbatch *b, size_t len)
{
	size_t need = (len + alignof(max_align_t) - 1) &
	              ~(alignof(max_align_t) - 1);
	struct qchunk *c = b->chunks;

	if (c == NULL || c->cap - c->used < need) {
		size_t cap = need > QCHUNK_SIZE / 4 ? need : QCHUNK_SIZE;

		if ((c = qc_get(b->q, cap)) == NULL)
			return NULL;
		c->used = 0;
		c->cap = cap;
		/* A big one goes behind the current chunk, which keeps
		 * taking the small ones. */
		if (cap != QCHUNK_SIZE && b->chunks != NULL) {
			c->next = b->chunks->next;
			b->chunks->next = c;
		} else {
			c->next = b->chunks;
			b->chunks = c;
		}
		b->bytes += sizeof *c + cap;
	}
	c->used += need;
	return c->data + c->used - need;
}

/* A copy of len bytes at p in b, or NULL for NULL. -ENOMEM in *err. */
static const void *
qb_dup(struct qbatch *b, const void *p, size_t len, int *err)
{
	void *d;

	if (p == NULL)
		return NULL;
	if ((d = qb_alloc(b, len == 0 ? 1 : len)) == NULL) {
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(d, p, len);
	return d;
}

static const char *
qb_str(struct qbatch *b, const char *s, int *err)
{
	return s == NULL ? NULL : qb_dup(b, s, strlen(s) + 1, err);
}

static void
qb_free(struct qbatch *b)
{
	struct qchunk *c, *next;

	if (b == NULL)
		return;
	for (c = b->chunks; c != NULL; c = next) {
		next = c->next;
		qc_put(b->q, c);
	}
	free(b);
}

/* The loop's current batch, begun on its first write. */
static struct qbatch *
q_cur(struct store *q)
{
	struct qbatch *b = q->cur;

	if (b == NULL && (b = calloc(1, sizeof *b)) != NULL) {
		b->q = q;
		b->tail = &b->head;
		q->cur = b;
	}
	return b;
}

/* A new write of kind, appended to the current batch, with room for its
 * row (u) when row; NULL: no memory. */
static struct qop *
q_op(struct store *q, enum qop_kind kind, bool row)
{
	size_t size = row ? sizeof(struct qop) : offsetof(struct qop, u);
	struct qbatch *b = q_cur(q);
	struct qop *op;

	if (b == NULL || (op = qb_alloc(b, size)) == NULL)
		return NULL;
	memset(op, 0, size);
	op->kind = kind;
	*b->tail = op;
	b->tail = &op->next;
	if (b->unrun == NULL)
		b->unrun = op;
	return op;
}

static int
q_copy_timer(struct qbatch *b, struct store_timer *d,
             const struct store_timer *t)
{
	int err = 0;

	*d = *t;
	d->channel = qb_str(b, t->channel, &err);
	d->key = qb_str(b, t->key, &err);
	d->payload = qb_dup(b, t->payload, t->payload_len, &err);
	d->exec = qb_dup(b, t->exec, t->exec_len, &err);
	d->sched = qb_dup(b, t->sched, t->sched_len, &err);
	return err;
}

/* ---- running it ---- */

static void
q_fail(struct store *q, uint64_t seq, int err)
{
	const char *why = q->be->errmsg(q->s);

	if (q->inner_open) {
		q->be->rollback(q->s);
		q->inner_open = false;
	}
	q->fail_seq = seq;
	q->fail_err = err;
	q->fail_step = q->step;
	snprintf(q->fail_msg, sizeof q->fail_msg, "%s",
	         why != NULL && why[0] != '\0' ? why : strerror(-err));
	atomic_store(&q->failed, true);
}

static int
q_exec(struct store *q, const struct qop *op)
{
	const struct store_backend *be = q->be;
	struct store *s = q->s;
	int r;

	switch (op->kind) {
	case QOP_SCHEDULE:
		return be->schedule(s, &op->u.t);
	case QOP_CANCEL:
		r = be->cancel(s, op->id);
		return r == -ENOENT ? 0 : r;
	case QOP_RETIRE:
		return be->retire(s, op->id, op->fence,
		                  op->has_next ? &op->u.t : NULL);
	case QOP_RESCHEDULE:
		return be->reschedule(s, &op->u.t);
	case QOP_ENQUEUE:
		return be->enqueue(s, &op->u.m);
	case QOP_ACK:
		r = be->ack(s, op->id);
		return r == -ENOENT ? 0 : r;
	case QOP_UPDATE_MSG:
		return be->update_msg(s, &op->u.m);
	case QOP_CHANNEL_PUT:
		return be->channel_put(s, &op->u.c);
	case QOP_RUN_APPEND:
		return be->run_append(s, &op->u.r);
	case QOP_META_PUT:
		return be->meta_put(s, op->key, op->value);
	}
	return -EINVAL;
}

/* Opens the wrapped store's transaction if it is not. */
static int
q_begin(struct store *q)
{
	int r;

	if (q->inner_open)
		return 0;
	q->step = "check";
	if ((r = q->be->check(q->s)) < 0)
		return r;
	q->step = "begin";
	if ((r = q->be->begin(q->s)) < 0)
		return r;
	q->inner_open = true;
	return 0;
}

/* Runs b's writes not run yet, then, if commit, its commit. */
static int
q_run_batch(struct store *q, struct qbatch *b, bool commit)
{
	int64_t start_ns;
	int r;

	if (b->unrun != NULL || commit) {
		if ((r = q_begin(q)) < 0)
			return r;
	}
	q->step = "write";
	/* Nobody waits for these answers: the commit (or the next read)
	 * collects them. */
	if (b->unrun != NULL && q->be->pipeline != NULL)
		q->be->pipeline(q->s, true);
	for (r = 0; b->unrun != NULL; b->unrun = b->unrun->next)
		if ((r = q_exec(q, b->unrun)) < 0)
			break;
	if (q->be->pipeline != NULL)
		q->be->pipeline(q->s, false);
	if (r < 0 || !commit)
		return r;
	q->step = "commit";
	start_ns = clock_now_ns(EVD_CLOCK_MONOTONIC);
	r = q->be->commit(q->s);
	metrics_observe_commit(clock_now_ns(EVD_CLOCK_MONOTONIC) - start_ns);
	q->inner_open = false;
	return r;
}

/* Takes what was published. */
static struct qbatch *
q_take(struct store *q)
{
	struct qbatch *list;

	pthread_mutex_lock(&q->list_lock);
	list = q->pub_head;
	q->pub_head = NULL;
	q->pub_tail = &q->pub_head;
	q->pub_bytes = 0;
	pthread_mutex_unlock(&q->list_lock);
	return list;
}

/*
 * Runs and frees a published list, run_lock held, as one transaction:
 * the batches that queued while the last commit ran are committed
 * together. A SQLite commit writes every page its transaction dirtied,
 * so N small batches of scattered deletes (cancels, acks) wrote the same
 * index pages N times; one commit writes them once, and the store keeps
 * the pace of the loop instead of falling further behind the more it
 * lags. The transaction is all or nothing, so a failure names its first
 * batch: everything from it on is lost, nothing before it. After a
 * failure the rest is dropped.
 */
static bool
q_run_list(struct store *q, struct qbatch *list)
{
	bool committed = false;
	uint64_t first = 0;
	struct qbatch *b;
	int r;

	uint64_t n = 0;

	while ((b = list) != NULL) {
		list = b->next;
		if (!atomic_load(&q->failed)) {
			if (first == 0)
				first = b->seq;
			if ((r = q_run_batch(q, b, list == NULL)) < 0)
				q_fail(q, first, r);
			else if (list == NULL)
				committed = true;
		}
		qb_free(b);
		n++;
	}
	if (n > 0) {
		pthread_mutex_lock(&q->list_lock);
		q->ndone += n;
		pthread_cond_broadcast(&q->done_cv);
		pthread_mutex_unlock(&q->list_lock);
	}
	return committed;
}

bool
storeq_execute(struct store *q)
{
	bool committed;

	pthread_mutex_lock(&q->run_lock);
	committed = q_run_list(q, q_take(q));
	pthread_mutex_unlock(&q->run_lock);
	return committed;
}

static void *
q_executor_main(void *arg)
{
	struct store *q = arg;

	pthread_mutex_lock(&q->list_lock);
	for (;;) {
		while (q->pub_head == NULL && !q->quit)
			pthread_cond_wait(&q->work_cv, &q->list_lock);
		if (q->pub_head == NULL)
			break;
		pthread_mutex_unlock(&q->list_lock);
		(void)storeq_execute(q);
		pthread_mutex_lock(&q->list_lock);
	}
	pthread_mutex_unlock(&q->list_lock);
	return NULL;
}

void
storeq_wait(struct store *q)
{
	uint64_t target;

	/* Every batch published so far has run once ndone reaches it,
	 * whoever ran it (the executor, or the loop for a read or at the
	 * bound): counted after its commit, so the flush after this call
	 * covers it. Batches published meanwhile are not waited for. */
	pthread_mutex_lock(&q->list_lock);
	target = q->npub;
	while (q->ndone < target)
		pthread_cond_wait(&q->done_cv, &q->list_lock);
	pthread_mutex_unlock(&q->list_lock);
}

/* The loop takes the wrapped store (nested calls keep it). */
static void
q_enter(struct store *q)
{
	if (q->loop_in++ == 0)
		pthread_mutex_lock(&q->run_lock);
}

static void
q_leave(struct store *q)
{
	if (--q->loop_in == 0)
		pthread_mutex_unlock(&q->run_lock);
}

/* The loop, run_lock held: everything logged so far reaches the store. */
static void
q_catch_up(struct store *q)
{
	int r;

	(void)q_run_list(q, q_take(q));
	if (q->cur == NULL)
		return;
	if (atomic_load(&q->failed)) {
		q->cur->unrun = NULL; /* dropped with the batch */
		return;
	}
	if ((r = q_run_batch(q, q->cur, false)) < 0)
		q_fail(q, 0, r);
}

/* After a call of the loop's: its reason, kept for errmsg(). */
static void
q_note(struct store *q, int r)
{
	const char *why;

	if (r >= 0)
		return;
	if (atomic_load(&q->failed))
		why = q->fail_msg;
	else
		why = q->be->errmsg(q->s);
	snprintf(q->err, sizeof q->err, "%s", why != NULL ? why : "");
}

void
storeq_publish(struct store *q, uint64_t seq)
{
	struct qbatch *b = q->cur;
	bool over;

	q->cur = NULL;
	if (b == NULL)
		return;
	if (atomic_load(&q->failed)) {
		qb_free(b);
		return;
	}
	b->seq = seq;
	pthread_mutex_lock(&q->list_lock);
	*q->pub_tail = b;
	q->pub_tail = &b->next;
	q->npub++;
	q->pub_bytes += b->bytes;
	over = q->pub_bytes > STOREQ_MAX_BYTES;
	pthread_cond_signal(&q->work_cv);
	pthread_mutex_unlock(&q->list_lock);
	if (over) {
		q_enter(q);
		q_catch_up(q);
		q_leave(q);
	}
}

bool
storeq_failed(struct store *q, uint64_t *ret_seq, int *ret_err,
              const char **ret_step)
{
	if (!atomic_load(&q->failed))
		return false;
	q_enter(q);
	*ret_seq = q->fail_seq;
	*ret_err = q->fail_err;
	*ret_step = q->fail_step != NULL ? q->fail_step : "write";
	snprintf(q->err, sizeof q->err, "%s", q->fail_msg);
	q_leave(q);
	return true;
}

void
storeq_resume(struct store *q)
{
	q_enter(q);
	atomic_store(&q->failed, false);
	q_leave(q);
}

struct store *
storeq_direct(struct store *q, const struct store_backend **be)
{
	q_enter(q);
	q_catch_up(q);
	*be = q->be;
	return q->s;
}

void
storeq_direct_end(struct store *q)
{
	q_leave(q);
}

/* ---- the wrapper's backend ---- */

static const char *
q_errmsg(const struct store *q)
{
	return q != NULL ? q->err : "";
}

static void
q_close(struct store *q)
{
	struct qbatch *b;

	if (q == NULL)
		return;
	pthread_mutex_lock(&q->list_lock);
	q->quit = true;
	pthread_cond_signal(&q->work_cv);
	pthread_mutex_unlock(&q->list_lock);
	pthread_join(q->thread, NULL);
	q_enter(q);
	q_catch_up(q);
	if (q->inner_open) {
		q->be->rollback(q->s);
		q->inner_open = false;
	}
	q_leave(q);
	while ((b = q_take(q)) != NULL) {
		/* Published while closing: none, but never leaked. */
		while (b != NULL) {
			struct qbatch *next = b->next;

			qb_free(b);
			b = next;
		}
	}
	qb_free(q->cur);
	q->be->close(q->s);
	pthread_cond_destroy(&q->done_cv);
	pthread_cond_destroy(&q->work_cv);
	pthread_mutex_destroy(&q->list_lock);
	pthread_mutex_destroy(&q->run_lock);
	while (q->free != NULL) {
		struct qchunk *c = q->free;

		q->free = c->next;
		free(c);
	}
	pthread_mutex_destroy(&q->free_lock);
	free(q);
}

static int
q_check(struct store *q)
{
	const char *step;
	uint64_t seq;
	int err, r = 0;

	if (storeq_failed(q, &seq, &err, &step))
		return err;
	/* The wrapped store's own check() also runs where the executor
	 * begins a batch; here too when it is idle, so that a store known
	 * to be gone (a server unreachable) is refused before memory
	 * changes, not found lost after (when its rebuild could not read
	 * it either). */
	if (q->loop_in == 0 && pthread_mutex_trylock(&q->run_lock) != 0)
		return 0;
	q->loop_in++;
	if (!q->inner_open && (r = q->be->check(q->s)) < 0)
		q_note(q, r);
	q_leave(q);
	return r;
}

static int
q_begin_cb(struct store *q)
{
	(void)q;
	return 0;
}

static int
q_commit_cb(struct store *q)
{
	/* batch publishes through storeq_publish, with its number. */
	(void)q;
	return -ENOTSUP;
}

static bool
q_flushes(const struct store *q)
{
	(void)q;
	return false;
}

static void
q_rollback(struct store *q)
{
	q_enter(q);
	if (q->cur != NULL)
		q->cur->unrun = NULL;
	if (q->inner_open) {
		q->be->rollback(q->s);
		q->inner_open = false;
	}
	q_leave(q);
	qb_free(q->cur);
	q->cur = NULL;
}

/* A write the loop needs the answer of: run in order, now. */
#define Q_SYNC(q, call)                                                  \
	do {                                                             \
		int r_;                                                  \
		q_enter(q);                                              \
		q_catch_up(q);                                           \
		if (atomic_load(&(q)->failed))                           \
			r_ = -EIO;                                       \
		else if (q_cur(q) == NULL)                               \
			r_ = -ENOMEM;                                    \
		else if ((r_ = q_begin(q)) == 0)                         \
			r_ = (call);                                     \
		q_note(q, r_);                                           \
		q_leave(q);                                              \
		return r_;                                               \
	} while (0)

/* A read: after everything logged before it. */
#define Q_READ(q, call)                                                  \
	do {                                                             \
		int r_;                                                  \
		q_enter(q);                                              \
		q_catch_up(q);                                           \
		r_ = (call);                                             \
		q_note(q, r_);                                           \
		q_leave(q);                                              \
		return r_;                                               \
	} while (0)

static int
q_schedule(struct store *q, const struct store_timer *t)
{
	struct qop *op;

	if (atomic_load(&q->failed))
		return 0;
	if (t->key != NULL)
		Q_SYNC(q, q->be->schedule(q->s, t));
	if ((op = q_op(q, QOP_SCHEDULE, true)) == NULL ||
	    q_copy_timer(q->cur, &op->u.t, t) < 0)
		return -ENOMEM;
	return 0;
}

static int
q_cancel(struct store *q, uint64_t id)
{
	struct qop *op;

	if (atomic_load(&q->failed))
		return 0;
	if ((op = q_op(q, QOP_CANCEL, false)) == NULL)
		return -ENOMEM;
	op->id = id;
	return 0;
}

static int
q_remember(struct store *q, const struct store_timer *t)
{
	Q_SYNC(q, q->be->remember(q->s, t));
}

static int
q_claim(struct store *q, int64_t horizon_rt_ns, store_timer_cb cb, void *arg)
{
	Q_READ(q, q->be->claim(q->s, horizon_rt_ns, cb, arg));
}

static int
q_retire(struct store *q, uint64_t id, uint64_t fence,
         const struct store_timer *next)
{
	struct qop *op;

	if (atomic_load(&q->failed))
		return 0;
	if ((op = q_op(q, QOP_RETIRE, next != NULL)) == NULL)
		return -ENOMEM;
	op->id = id;
	op->fence = fence;
	if (next != NULL) {
		op->has_next = true;
		if (q_copy_timer(q->cur, &op->u.t, next) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int
q_reschedule(struct store *q, const struct store_timer *t)
{
	struct qop *op;

	if (atomic_load(&q->failed))
		return 0;
	if ((op = q_op(q, QOP_RESCHEDULE, true)) == NULL ||
	    q_copy_timer(q->cur, &op->u.t, t) < 0)
		return -ENOMEM;
	return 0;
}

static int
q_revive(struct store *q, const struct store_timer *t)
{
	Q_SYNC(q, q->be->revive(q->s, t));
}

static int
q_get_timer(struct store *q, uint64_t id, store_timer_cb cb, void *arg)
{
	Q_READ(q, q->be->get_timer(q->s, id, cb, arg));
}

static int
q_list_ended(struct store *q, uid_t uid, bool all, uint64_t after_id,
             size_t limit, store_timer_cb cb, void *arg)
{
	Q_READ(q, q->be->list_ended(q->s, uid, all, after_id, limit, cb, arg));
}

static int
q_find_key(struct store *q, uid_t uid, const char *key, store_timer_cb cb,
           void *arg)
{
	Q_READ(q, q->be->find_key(q->s, uid, key, cb, arg));
}

/* Its answer decides the reply: run at once, in the batch. */
static int
q_cancel_any(struct store *q, uint64_t id, store_timer_cb may, void *arg,
             char *holder, size_t holder_size)
{
	Q_SYNC(q, q->be->cancel_any(q->s, id, may, arg, holder, holder_size));
}

/* As cancel_any: the request acts on the timer once it is here. */
static int
q_take_any(struct store *q, uint64_t id, store_timer_cb may, void *may_arg,
           store_timer_cb cb, void *arg, char *holder, size_t holder_size)
{
	Q_SYNC(q, q->be->take_any(q->s, id, may, may_arg, cb, arg, holder,
	                          holder_size));
}

/* As cancel_any: its count is the reply's. */
static int
q_cancel_matching(struct store *q, uid_t uid, bool all, const char *channel,
                  uint64_t after_id, uint32_t limit, store_timer_cb cb,
                  void *arg, uint64_t *ret_last, uint64_t *ret_skipped)
{
	Q_SYNC(q, q->be->cancel_matching(q->s, uid, all, channel, after_id,
	                                 limit, cb, arg, ret_last,
	                                 ret_skipped));
}

static int
q_runs_since(struct store *q, const uint64_t *ids, const int64_t *bases,
             size_t n, uint32_t per, store_newest_cb cb, void *arg)
{
	Q_READ(q, q->be->runs_since(q->s, ids, bases, n, per, cb, arg));
}

static int
q_msg_list(struct store *q, const char *channel, bool dead, uid_t owner,
           bool all, uint64_t after, uint32_t limit, store_msg_cb cb,
           void *arg)
{
	Q_READ(q, q->be->msg_list(q->s, channel, dead, owner, all, after, limit,
	                          cb, arg));
}

/* Its count is the reply's: run at once, in the batch. */
static int
q_msg_purge_unheld(struct store *q, const char *channel, uid_t owner,
                   bool all)
{
	Q_SYNC(q, q->be->msg_purge_unheld(q->s, channel, owner, all));
}

static int
q_msg_channel_counts(struct store *q, const char *const *channels, size_t n,
             uint64_t *queued, uint64_t *dead)
{
	Q_READ(q, q->be->msg_channel_counts(q->s, channels, n, queued, dead));
}

static int
q_runs_newest(struct store *q, const uint64_t *ids, size_t n,
              store_newest_cb cb, void *arg)
{
	Q_READ(q, q->be->runs_newest(q->s, ids, n, cb, arg));
}

static int
q_list_held(struct store *q, uid_t uid, bool all, const char *channel,
            uint64_t after_id, size_t limit, store_timer_cb cb, void *arg)
{
	Q_READ(q, q->be->list_held(q->s, uid, all, channel, after_id, limit,
	                           cb, arg));
}

static int
q_copy_msg(struct qbatch *b, struct store_msg *d, const struct store_msg *m)
{
	int err = 0;

	*d = *m;
	d->channel = qb_str(b, m->channel, &err);
	d->payload = qb_dup(b, m->payload, m->payload_len, &err);
	d->reason = qb_str(b, m->reason, &err);
	return err;
}

static int
q_enqueue(struct store *q, const struct store_msg *m)
{
	struct qop *op;

	if (atomic_load(&q->failed))
		return 0;
	if ((op = q_op(q, QOP_ENQUEUE, true)) == NULL ||
	    q_copy_msg(q->cur, &op->u.m, m) < 0)
		return -ENOMEM;
	return 0;
}

static int
q_ack(struct store *q, uint64_t fire_id)
{
	struct qop *op;

	if (atomic_load(&q->failed))
		return 0;
	if ((op = q_op(q, QOP_ACK, false)) == NULL)
		return -ENOMEM;
	op->id = fire_id;
	return 0;
}

static int
q_update_msg(struct store *q, const struct store_msg *m)
{
	struct qop *op;

	if (atomic_load(&q->failed))
		return 0;
	if ((op = q_op(q, QOP_UPDATE_MSG, true)) == NULL ||
	    q_copy_msg(q->cur, &op->u.m, m) < 0)
		return -ENOMEM;
	return 0;
}

static int
q_load_messages(struct store *q, store_msg_cb cb, void *arg)
{
	Q_READ(q, q->be->load_messages(q->s, cb, arg));
}

static int
q_channel_put(struct store *q, const struct store_channel *c)
{
	struct qop *op;
	int err = 0;

	if (atomic_load(&q->failed))
		return 0;
	if ((op = q_op(q, QOP_CHANNEL_PUT, true)) == NULL)
		return -ENOMEM;
	op->u.c = *c;
	op->u.c.name = qb_str(q->cur, c->name, &err);
	op->u.c.grants = qb_dup(q->cur, c->grants, c->grants_len, &err);
	return err;
}

static int
q_load_channels(struct store *q, store_channel_cb cb, void *arg)
{
	Q_READ(q, q->be->load_channels(q->s, cb, arg));
}

static int
q_run_append(struct store *q, const struct store_run *r)
{
	struct qop *op;
	int err = 0;

	if (atomic_load(&q->failed))
		return 0;
	if ((op = q_op(q, QOP_RUN_APPEND, true)) == NULL)
		return -ENOMEM;
	op->u.r = *r;
	op->u.r.detail = qb_str(q->cur, r->detail, &err);
	op->u.r.out = qb_dup(q->cur, r->out, r->out_len, &err);
	op->u.r.err = qb_dup(q->cur, r->err, r->err_len, &err);
	return err;
}

static int
q_runs(struct store *q, uint64_t timer_id, store_run_cb cb, void *arg)
{
	Q_READ(q, q->be->runs(q->s, timer_id, cb, arg));
}

/* What the executor's commits changed; later if it is busy now (the
 * tally waits in the wrapped store). */
static int
q_output_changes(struct store *q, store_output_cb cb, void *arg)
{
	int r;

	if (q->loop_in == 0 && pthread_mutex_trylock(&q->run_lock) != 0)
		return 0;
	q->loop_in++;
	r = q->be->output_changes(q->s, cb, arg);
	q_leave(q);
	return r;
}

static int
q_max_ids(struct store *q, uint64_t *ret_timer_id, uint64_t *ret_fire_id)
{
	Q_READ(q, q->be->max_ids(q->s, ret_timer_id, ret_fire_id));
}

static int
q_meta_get(struct store *q, const char *key, int64_t *ret)
{
	Q_READ(q, q->be->meta_get(q->s, key, ret));
}

static int
q_meta_put(struct store *q, const char *key, int64_t value)
{
	struct qop *op;
	int err = 0;

	if (atomic_load(&q->failed))
		return 0;
	if ((op = q_op(q, QOP_META_PUT, false)) == NULL)
		return -ENOMEM;
	op->key = qb_str(q->cur, key, &err);
	op->value = value;
	return err;
}

int
storeq_wrap(const struct store_backend *be, struct store *s,
            const struct store_backend **ret_be, struct store **ret_s)
{
	struct store *q = calloc(1, sizeof *q);
	sigset_t all, old;
	int r;

	if (q == NULL)
		return -ENOMEM;
	q->be = be;
	q->s = s;
	pthread_mutex_init(&q->run_lock, NULL);
	pthread_mutex_init(&q->list_lock, NULL);
	pthread_mutex_init(&q->free_lock, NULL);
	pthread_cond_init(&q->work_cv, NULL);
	pthread_cond_init(&q->done_cv, NULL);
	atomic_init(&q->failed, false);
	q->pub_tail = &q->pub_head;
	/* Signals are the loop's (libevent's signal events). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&q->thread, NULL, q_executor_main, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r != 0) {
		pthread_cond_destroy(&q->done_cv);
		pthread_cond_destroy(&q->work_cv);
		pthread_mutex_destroy(&q->free_lock);
		pthread_mutex_destroy(&q->list_lock);
		pthread_mutex_destroy(&q->run_lock);
		free(q);
		return -r;
	}
	q->vt = (struct store_backend){
		.name = be->name,
		.durable = be->durable,
		.errmsg = q_errmsg,
		.close = q_close,
		.check = q_check,
		.begin = q_begin_cb,
		.commit = q_commit_cb,
		.flushes = q_flushes,
		.rollback = q_rollback,
		.schedule = q_schedule,
		.cancel = q_cancel,
		.remember = be->remember != NULL ? q_remember : NULL,
		.claim = q_claim,
		.retire = q_retire,
		.reschedule = q_reschedule,
		.revive = q_revive,
		.get_timer = q_get_timer,
		.list_ended = q_list_ended,
		.find_key = q_find_key,
		.enqueue = q_enqueue,
		.ack = q_ack,
		.update_msg = q_update_msg,
		.load_messages = q_load_messages,
		.channel_put = q_channel_put,
		.load_channels = q_load_channels,
		.run_append = q_run_append,
		.runs = q_runs,
		.output_changes = q_output_changes,
		.max_ids = q_max_ids,
		.meta_get = q_meta_get,
		.meta_put = q_meta_put,
		.cancel_any = be->cancel_any != NULL ? q_cancel_any : NULL,
		.take_any = be->take_any != NULL ? q_take_any : NULL,
		.cancel_matching = be->cancel_matching != NULL
		                           ? q_cancel_matching
		                           : NULL,
		.list_held = be->list_held != NULL ? q_list_held : NULL,
		.runs_newest = be->runs_newest != NULL ? q_runs_newest : NULL,
		.runs_since = be->runs_since != NULL ? q_runs_since : NULL,
		.msg_channel_counts = be->msg_channel_counts != NULL ? q_msg_channel_counts : NULL,
		.msg_list = be->msg_list != NULL ? q_msg_list : NULL,
		.msg_purge_unheld = be->msg_purge_unheld != NULL
		                            ? q_msg_purge_unheld
		                            : NULL,
	};
	*ret_be = &q->vt;
	*ret_s = q;
	return 0;
}
