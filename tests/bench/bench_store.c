/*
 * bench_store: what the SQLite store costs (daemon/store_sqlite.c).
 *
 * Not a ctest test: figures for the issue note, never asserted. Measures
 *	schedule rows/s at 1, 1000 and 10000 rows per transaction (group
 *	commit), synchronous FULL and NORMAL;
 *	restart-to-loaded time: open + claim(INT64_MAX) of 100k and 1M
 *	timers (each row decoded and handed to a callback that touches it);
 *	database bytes per timer after the last connection closes (the WAL
 *	is checkpointed into evd.db then).
 * Each figure is the median of 3 runs, each run in a fresh directory
 * under the directory given (default: /tmp, which should be a real
 * disk: a tmpfs makes fsync free). Rows look like a channel timer of
 * CallLater: a 32-byte payload, channel "jobs", no key.
 *
 * usage: bench_store [-d DIR] [-q]  (-q: 1M loads skipped, quicker)
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "evd.pb-c.h"
#include "store.h"

#define RUNS 3
/* Rows per figure: enough for a steady rate; 1 row/txn at FULL is one
 * fsync per row, so it gets a time budget instead. */
#define SCHEDULE_ROWS 200000
#define SINGLE_BUDGET_NS (INT64_C(2) * 1000000000)

static const struct store_backend *B = &store_sqlite_backend;
static const char *base = "/tmp";

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
fresh_dir(char *dir, size_t size)
{
	snprintf(dir, size, "%s/bench_store.XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		exit(1);
	}
}

static void
drop_dir(const char *dir)
{
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static struct store *
open_or_die(const char *dir, bool sync_full)
{
	struct store_config cfg = {
	    .state_dir = dir,
	    .sync_full = sync_full,
	    .history_per_timer = 10,
	};
	struct store *s;
	int r = B->open(&cfg, &s);

	if (r < 0) {
		fprintf(stderr, "open %s: %s\n", dir, B->errmsg(NULL));
		exit(1);
	}
	return s;
}

static void
check(struct store *s, int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "%s: %s (%d)\n", what, B->errmsg(s), r);
		exit(1);
	}
}

static uint8_t payload[32];

static void
timer_fill(struct store_timer *t, uint64_t id, int64_t rt)
{
	memset(t, 0, sizeof(*t));
	t->id = id;
	t->uid = 1000;
	t->gid = 1000;
	t->clock = EVD__CLOCK__MONOTONIC;
	t->deadline_ns =
	    3600 * INT64_C(1000000000) + (int64_t)(id * 7919 % 1000003) * 1000;
	t->due_rt_ns = rt + t->deadline_ns;
	strcpy(t->boot_id, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
	t->created_rt_ns = rt;
	t->channel = "jobs";
	t->payload = payload;
	t->payload_len = sizeof(payload);
	t->max_attempts = 5;
}

/* Inserts rows [first, first + n) in transactions of per_txn rows;
 * stops early after budget_ns. Returns the rows written. */
static uint64_t
fill(struct store *s, uint64_t first, uint64_t n, uint64_t per_txn,
     int64_t budget_ns, int64_t *ret_ns)
{
	struct store_timer t;
	int64_t rt = INT64_C(1700000000) * 1000000000;
	int64_t t0 = now_ns();
	uint64_t done = 0, i;

	while (done < n) {
		check(s, B->begin(s), "begin");
		for (i = 0; i < per_txn && done < n; i++, done++) {
			timer_fill(&t, first + done, rt);
			check(s, B->schedule(s, &t), "schedule");
		}
		check(s, B->commit(s), "commit");
		if (budget_ns > 0 && now_ns() - t0 > budget_ns)
			break;
	}
	*ret_ns = now_ns() - t0;
	return done;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double v[RUNS])
{
	qsort(v, RUNS, sizeof(v[0]), cmp_double);
	return v[RUNS / 2];
}

static double
schedule_rate(bool sync_full, uint64_t per_txn, double ret_runs[RUNS])
{
	char dir[256];
	struct store *s;
	uint64_t rows;
	int64_t ns;
	int run;

	for (run = 0; run < RUNS; run++) {
		fresh_dir(dir, sizeof(dir));
		s = open_or_die(dir, sync_full);
		rows = fill(s, 1, SCHEDULE_ROWS, per_txn,
			    per_txn == 1 ? SINGLE_BUDGET_NS : 0, &ns);
		B->close(s);
		drop_dir(dir);
		ret_runs[run] = (double)rows * 1e9 / (double)ns;
	}
	return median(ret_runs);
}

struct load_sink {
	uint64_t n;
	uint64_t sum;
};

static int
load_cb(const struct store_timer *t, void *arg)
{
	struct load_sink *k = arg;

	/* Touch what the daemon would copy. */
	k->n++;
	k->sum += (uint64_t)t->deadline_ns + t->payload_len +
		  (uint64_t)t->channel[0] + (uint64_t)t->boot_id[0];
	return 0;
}

static off_t
file_size(const char *dir, const char *name)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Open + claim of n timers, and the bytes each takes on disk. */
static void
load(uint64_t n, double ret_s[RUNS], double ret_bytes[RUNS])
{
	struct load_sink k;
	char dir[256];
	struct store *s;
	int64_t ns, t0;
	int run;

	for (run = 0; run < RUNS; run++) {
		fresh_dir(dir, sizeof(dir));
		s = open_or_die(dir, false);
		fill(s, 1, n, 10000, 0, &ns);
		B->close(s);
		ret_bytes[run] = (double)(file_size(dir, "evd.db") +
					  file_size(dir, "evd.db-wal")) /
				 (double)n;

		t0 = now_ns();
		s = open_or_die(dir, true);
		memset(&k, 0, sizeof(k));
		check(s, B->claim(s, INT64_MAX, load_cb, &k), "claim");
		ns = now_ns() - t0;
		if (k.n != n) {
			fprintf(stderr, "claim: %llu of %llu rows\n",
				(unsigned long long)k.n, (unsigned long long)n);
			exit(1);
		}
		B->close(s);
		drop_dir(dir);
		ret_s[run] = (double)ns / 1e9;
	}
}

static void
print_runs(const double v[RUNS], const char *fmt, double scale)
{
	int i;

	printf(" [");
	for (i = 0; i < RUNS; i++) {
		printf(fmt, v[i] / scale);
		printf(i + 1 < RUNS ? ", " : "");
	}
	printf("]");
}

int
main(int argc, char **argv)
{
	static const uint64_t per_txn[] = {1, 1000, 10000};
	static const uint64_t loads[] = {100000, 1000000};
	double runs[RUNS], sorted[RUNS], bytes[RUNS], m;
	bool quick = false;
	size_t i;
	int opt, sync;

	while ((opt = getopt(argc, argv, "d:q")) != -1) {
		switch (opt) {
		case 'd':
			base = optarg;
			break;
		case 'q':
			quick = true;
			break;
		default:
			fprintf(stderr, "usage: bench_store [-d DIR] [-q]\n");
			return 2;
		}
	}
	memset(payload, 'x', sizeof(payload));

	printf("| synchronous | rows/txn | schedule rows/s (median of %d) | "
	       "runs |\n|---|---|---|---|\n",
	       RUNS);
	for (sync = 1; sync >= 0; sync--) {
		for (i = 0; i < sizeof(per_txn) / sizeof(per_txn[0]); i++) {
			m = schedule_rate(sync, per_txn[i], runs);
			printf("| %s | %llu | **%.1f k** |",
			       sync ? "FULL" : "NORMAL",
			       (unsigned long long)per_txn[i], m / 1e3);
			print_runs(runs, "%.1f k", 1e3);
			printf(" |\n");
			fflush(stdout);
		}
	}

	printf("\n| timers | open + claim s (median of %d) | runs | "
	       "db bytes/timer |\n|---|---|---|---|\n",
	       RUNS);
	for (i = 0; i < sizeof(loads) / sizeof(loads[0]); i++) {
		if (quick && loads[i] > 100000)
			continue;
		load(loads[i], runs, bytes);
		memcpy(sorted, runs, sizeof(runs));
		printf("| %llu | **%.3f** |", (unsigned long long)loads[i],
		       median(sorted));
		print_runs(runs, "%.3f", 1);
		printf(" | %.1f |\n", median(bytes));
		fflush(stdout);
	}
	return 0;
}
