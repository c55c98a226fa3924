/*
 * test_batch: the group commit of one loop iteration, alone (batch.h):
 * what batch_end says it did for each way a batch can go, that a failed
 * commit makes the store refuse writes until a probe commits, that the
 * probe tells the loop through the resume callback, and that a row error
 * fails one request but not the batch. The store is the memory backend
 * behind a wrapper that fails its calls on demand, so nothing here
 * depends on a disk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <event2/event.h>

#include "batch.h"
#include "store.h"

/* The wrapper: the memory backend, with failures injected. */
static struct {
	const struct store_backend *mem;
	int fail_check, fail_begin, fail_commit, fail_meta;
	int begins, commits, rollbacks;
} fk;

static int
fk_check(struct store *s)
{
	return fk.fail_check != 0 ? fk.fail_check : fk.mem->check(s);
}

static int
fk_begin(struct store *s)
{
	fk.begins++;
	return fk.fail_begin != 0 ? fk.fail_begin : fk.mem->begin(s);
}

static int
fk_commit(struct store *s)
{
	fk.commits++;
	return fk.fail_commit != 0 ? fk.fail_commit : fk.mem->commit(s);
}

static void
fk_rollback(struct store *s)
{
	fk.rollbacks++;
	fk.mem->rollback(s);
}

static int
fk_meta_put(struct store *s, const char *key, int64_t v)
{
	return fk.fail_meta != 0 ? fk.fail_meta : fk.mem->meta_put(s, key, v);
}

static struct store_backend fk_backend;
static struct event_base *base;
static struct store *st;
static int resumed;

static void
on_resume(void)
{
	resumed++;
}

static int
setup(void **state)
{
	struct store_config cfg = { .history_per_timer = 5 };

	(void)state;
	memset(&fk, 0, sizeof fk);
	fk.mem = store_backend_find("memory");
	assert_non_null(fk.mem);
	fk_backend = *fk.mem;
	fk_backend.check = fk_check;
	fk_backend.begin = fk_begin;
	fk_backend.commit = fk_commit;
	fk_backend.rollback = fk_rollback;
	fk_backend.meta_put = fk_meta_put;
	assert_non_null(base = event_base_new());
	assert_int_equal(fk.mem->open(&cfg, &st), 0);
	resumed = 0;
	batch_on_resume(on_resume);
	batch_init(base, &fk_backend, st);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	batch_shutdown(); /* closes the store */
	event_base_free(base);
	return 0;
}

/* A write in the batch: a meta row, the cheapest the backend has. */
static int
write_one(int64_t v)
{
	struct store *s = batch_store();

	if (s == NULL)
		return -EAGAIN;
	return fk_backend.meta_put(s, "test", v);
}

static void
test_nothing_to_commit(void **state)
{
	(void)state;
	assert_int_equal(batch_end(), BATCH_COMMITTED);
	assert_int_equal(fk.begins, 0);
	assert_int_equal(fk.commits, 0);
}

static void
test_commits_once(void **state)
{
	int64_t v = 0;

	(void)state;
	assert_int_equal(write_one(1), 0);
	assert_int_equal(write_one(2), 0);
	assert_int_equal(batch_end(), BATCH_COMMITTED);
	assert_int_equal(fk.begins, 1);
	assert_int_equal(fk.commits, 1);
	assert_int_equal(fk.mem->meta_get(st, "test", &v), 0);
	assert_int_equal(v, 2);
	assert_string_equal(batch_errmsg(), "");
}

/* A commit that fails loses what memory did (LOST), and writes are
 * refused, with a reason, until a probe commits. */
static void
test_failed_commit_is_lost_then_probed(void **state)
{
	(void)state;
	fk.fail_commit = -ENOSPC;
	assert_int_equal(write_one(1), 0);
	assert_int_equal(batch_end(), BATCH_LOST);
	assert_int_equal(fk.rollbacks >= 1, 1);
	assert_non_null(strstr(batch_errmsg(), "cannot write"));
	assert_null(batch_store());
	assert_non_null(batch_store_ro()); /* reads go on */
	/* Nothing begun while refusing: nothing to undo. */
	assert_int_equal(batch_end(), BATCH_COMMITTED);

	/* The probe (every second) fails while the disk is full... */
	fk.fail_meta = -ENOSPC;
	event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(resumed, 0);
	assert_null(batch_store());
	/* ...and once it commits, writes resume and the loop hears it. */
	fk.fail_meta = 0;
	fk.fail_commit = 0;
	event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(resumed, 1);
	assert_string_equal(batch_errmsg(), "");
	assert_int_equal(write_one(3), 0);
	assert_int_equal(batch_end(), BATCH_COMMITTED);
}

/* The store refusing before anything was written: REFUSED, memory has
 * nothing to undo. */
static void
test_refused_before_writing(void **state)
{
	(void)state;
	fk.fail_check = -ENOENT; /* the file was deleted under evd */
	assert_int_equal(write_one(1), -EAGAIN);
	assert_int_equal(batch_end(), BATCH_REFUSED);
	assert_int_equal(fk.begins, 0);
	assert_null(batch_store());
}

/* A write failing inside the batch loses the batch: later writes of the
 * iteration are refused, and the end is LOST. */
static void
test_failed_write_loses_batch(void **state)
{
	(void)state;
	assert_int_equal(write_one(1), 0);
	assert_int_equal(batch_write_failed(-EIO), -EIO);
	assert_null(batch_store());
	assert_int_equal(batch_end(), BATCH_LOST);
	assert_int_equal(fk.commits, 0);
}

/* A row error belongs to the request that wrote the row: the batch goes
 * on and commits. */
static void
test_row_error_keeps_batch(void **state)
{
	(void)state;
	assert_int_equal(write_one(1), 0);
	assert_int_equal(batch_write_failed(-EEXIST), -EEXIST);
	assert_non_null(batch_store());
	assert_int_equal(write_one(2), 0);
	assert_int_equal(batch_end(), BATCH_COMMITTED);
	assert_int_equal(fk.commits, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_nothing_to_commit),
	    T(test_commits_once),
	    T(test_failed_commit_is_lost_then_probed),
	    T(test_refused_before_writing),
	    T(test_failed_write_loses_batch),
	    T(test_row_error_keeps_batch),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
