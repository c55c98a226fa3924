/*
 * store_cases: the store-level test cases every durable backend must
 * pass (store.h's contract), shared by test_store_sqlite and
 * test_store_pg so the cases are written once.
 *
 * A test program sets store_cases_backend, defines store_fx_setup and
 * store_fx_teardown (a fresh, empty store for each case: a new state
 * directory, an emptied database) and runs store_cases[] beside its own.
 * Time is a fake clock (fake_rt_ns), installed by the setup.
 */
#ifndef EVD_TEST_STORE_CASES_H
#define EVD_TEST_STORE_CASES_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>

#include "store.h"

#define B store_cases_backend
#define BOOT "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

extern const struct store_backend *store_cases_backend;

/* One case's store: cfg as open() gets it (dir: sqlite's state dir). */
struct fx {
	char dir[64];
	char conninfo[256];
	struct store_config cfg;
};

extern int64_t fake_rt_ns;
int64_t fake_now(int evd_clock);

int store_fx_setup(void **state);
int store_fx_teardown(void **state);

/* A store_timer with its strings copied out of the callback. */
struct got {
	int n;
	uint64_t ids[16];
	struct store_timer t;
	char channel[32], key[32];
	uint8_t payload[16];
	bool channel_null, key_null, payload_null;
};

struct store *open_ok(struct fx *f);
struct store_timer timer_make(uint64_t id);
int got_cb(const struct store_timer *t, void *arg);
void assert_timer_eq(const struct got *g, const struct store_timer *w);
int claim_all(struct store *s, struct got *g);
int get(struct store *s, uint64_t id, struct got *g);
int schedule1(struct store *s, const struct store_timer *t);

extern const struct CMUnitTest store_cases[];
extern const size_t store_cases_count;

#endif
