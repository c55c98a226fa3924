/*
 * soak: mixed load against the real evd for a while (default 600 s),
 * sampling the daemon's RSS, open fds and zombie children every second.
 * Each round: a client schedules caller timers (short delays) and cancels
 * half, schedules channel timers that a subscriber acks, schedules exec
 * hooks (/bin/true) and waits for them, and every few rounds the
 * connections are dropped and made again. Prints one line per 10 s and a
 * summary: RSS after warm-up should be flat, fds and zombies constant.
 * Not a test: nothing is asserted. usage: soak [SECONDS]
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MS 1000000LL

static struct evd_proc evd;
static uint64_t rid = 1;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long
rss_kib(void)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)evd.pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static int
count_fds(void)
{
	char path[64];
	struct dirent *d;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof path, "/proc/%ld/fd", (long)evd.pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL)
		if (d->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/* Children of evd in state Z. */
static int
count_zombies(void)
{
	struct dirent *d;
	int n = 0;
	DIR *dir = opendir("/proc");

	if (dir == NULL)
		return -1;
	while ((d = readdir(dir)) != NULL) {
		char path[300], buf[512], *p, st;
		long ppid;
		FILE *f;

		if (d->d_name[0] < '0' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", d->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof buf, f) != NULL &&
		    (p = strrchr(buf, ')')) != NULL &&
		    sscanf(p + 2, "%c %ld", &st, &ppid) == 2 && st == 'Z' &&
		    ppid == (long)evd.pid)
			n++;
		fclose(f);
	}
	closedir(dir);
	return n;
}

static int
greet(void)
{
	int fd = raw_connect(evd.sock);

	if (fd < 0 || raw_hello(fd, rid++) < 0) {
		fprintf(stderr, "soak: cannot talk to evd\n");
		exit(1);
	}
	return fd;
}

static Evd__Reply *
call(int fd, Evd__Request *rq)
{
	rq->has_request_id = 1;
	rq->request_id = rid++;
	return raw_call(fd, rq, 30000);
}

static uint64_t
later(int fd, int64_t delay, const char *channel, const Evd__Exec *x)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater cl = EVD__CALL_LATER__INIT;
	Evd__Callback cb = EVD__CALLBACK__INIT;
	Evd__Reply *r;
	uint64_t id = 0;

	if (channel != NULL) {
		cb.target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb.channel = (char *)channel;
	} else if (x != NULL) {
		cb.target_case = EVD__CALLBACK__TARGET_EXEC;
		cb.exec = (Evd__Exec *)x;
	}
	cb.has_payload = 1;
	cb.payload.data = (uint8_t *)"soak-payload-0123456789";
	cb.payload.len = 23;
	cl.has_delay_ns = 1;
	cl.delay_ns = delay;
	cl.callback = &cb;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &cl;
	if ((r = call(fd, &rq)) != NULL) {
		if (r->body_case == EVD__REPLY__BODY_SCHEDULED)
			id = r->scheduled->timer_id;
		evd__reply__free_unpacked(r, NULL);
	}
	return id;
}

static void
cancel(int fd, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Cancel c = EVD__CANCEL__INIT;
	Evd__Reply *r;

	c.has_timer_id = 1;
	c.timer_id = id;
	rq.body_case = EVD__REQUEST__BODY_CANCEL;
	rq.cancel = &c;
	if ((r = call(fd, &rq)) != NULL)
		evd__reply__free_unpacked(r, NULL);
}

static void
subscribe(int fd)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Subscribe s = EVD__SUBSCRIBE__INIT;
	Evd__Reply *r;

	s.channel = "soak";
	rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &s;
	if ((r = call(fd, &rq)) != NULL)
		evd__reply__free_unpacked(r, NULL);
}

/* Acks every fire that arrived on the subscriber, within wait_ms. */
static int
ack_all(int sub, int want, int wait_ms)
{
	int got = 0;
	Evd__Reply *r;

	while (got < want && (r = raw_next_fired(sub, wait_ms)) != NULL) {
		Evd__Request rq = EVD__REQUEST__INIT;
		Evd__Ack a = EVD__ACK__INIT;

		a.has_fire_id = 1;
		a.fire_id = r->fired->fire_id;
		rq.has_request_id = 1;
		rq.request_id = rid++;
		rq.body_case = EVD__REQUEST__BODY_ACK;
		rq.ack = &a;
		evd__reply__free_unpacked(r, NULL);
		/* Not waited for: a reply wait would drop the fires that
		 * arrive meanwhile; raw_next_fired skips the Acked. */
		if (raw_send_request(sub, &rq) < 0)
			break;
		got++;
	}
	return got;
}

int
main(int argc, char **argv)
{
	const char *args[] = { "--log-level", "warning", NULL };
	const char *hook[] = { "/bin/true" };
	Evd__Exec x = EVD__EXEC__INIT;
	double t0, next_sample, end;
	long rss_first = -1, rss_warm = -1, rss_last = -1, rss_max = 0;
	int fds_first = -1, fds_last = -1, zombies_max = 0, rounds = 0;
	int seconds = argc > 1 ? atoi(argv[1]) : 600;
	uint64_t scheduled = 0, cancelled = 0, acked = 0, hooks = 0;
	int fd, sub;

	signal(SIGPIPE, SIG_IGN);
	x.n_argv = 1;
	x.argv = (char **)hook;
	if (evd_start(&evd, args) < 0)
		return 1;
	fd = greet();
	sub = greet();
	subscribe(sub);
	t0 = now_s();
	end = t0 + seconds;
	next_sample = t0;
	printf("| t (s) | RSS KiB | fds | zombies | scheduled | cancelled | "
	       "acked | hooks |\n|---|---|---|---|---|---|---|---|\n");
	while (now_s() < end) {
		uint64_t ids[200];
		int i;

		for (i = 0; i < 200; i++)
			ids[i] = later(fd, (5 + i % 50) * MS, NULL, NULL);
		for (i = 0; i < 200; i += 2)
			if (ids[i] != 0) {
				cancel(fd, ids[i]);
				cancelled++;
			}
		for (i = 0; i < 50; i++)
			later(fd, 1 * MS, "soak", NULL);
		for (i = 0; i < 4; i++)
			later(fd, 1 * MS, NULL, &x);
		scheduled += 254;
		hooks += 4;
		acked += (uint64_t)ack_all(sub, 50, 2000);
		/* The caller fires of this round arrive on fd: drain them. */
		while (1) {
			Evd__Reply *r = raw_recv_reply(fd, 60);

			if (r == NULL)
				break;
			evd__reply__free_unpacked(r, NULL);
		}
		if (++rounds % 20 == 0) {
			/* Reconnect both: what they held is given back. */
			close(fd);
			close(sub);
			fd = greet();
			sub = greet();
			subscribe(sub);
		}
		if (now_s() >= next_sample) {
			long rss = rss_kib();
			int fds = count_fds(), z = count_zombies();
			double t = now_s() - t0;

			if (rss_first < 0) {
				rss_first = rss;
				fds_first = fds;
			}
			if (rss_warm < 0 && t >= 30)
				rss_warm = rss;
			if (rss > rss_max)
				rss_max = rss;
			if (z > zombies_max)
				zombies_max = z;
			rss_last = rss;
			fds_last = fds;
			if ((int)t % 10 == 0)
				printf("| %.0f | %ld | %d | %d | %llu | %llu | "
				       "%llu | %llu |\n",
				       t, rss, fds, z,
				       (unsigned long long)scheduled,
				       (unsigned long long)cancelled,
				       (unsigned long long)acked,
				       (unsigned long long)hooks);
			fflush(stdout);
			next_sample += 1.0;
		}
	}
	close(fd);
	close(sub);
	printf("\nsummary: %d s, %d rounds; RSS first %ld KiB, after 30 s "
	       "%ld KiB, last %ld KiB, max %ld KiB; fds first %d, last %d; "
	       "zombies max %d\n",
	       seconds, rounds, rss_first, rss_warm, rss_last, rss_max,
	       fds_first, fds_last, zombies_max);
	return evd_stop(&evd) == 0 ? 0 : 1;
}
