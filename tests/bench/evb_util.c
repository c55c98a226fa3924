/*
 * evb_util: what every group of evbench shares (see evb.h).
 */
#include "evb.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

int64_t
evb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

int
evb_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

int
evb_cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int64_t
evb_quantile(const int64_t *sorted, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	/* Nearest rank: the p99.9 of 10,000 samples is the 9,990th. */
	i = (size_t)(p * (double)n + 0.999999);
	if (i > 0)
		i--;
	if (i >= n)
		i = n - 1;
	return sorted[i];
}

/* ---- the registry ---- */

#define MAX_RESULTS 1024
#define MAX_NOTES 64

static struct evb_result results[MAX_RESULTS];
static size_t nresults;
static char *notes[MAX_NOTES];
static size_t nnotes;

void
evb_put(const char *key, enum evb_unit unit, double *v, int n)
{
	struct evb_result *r = NULL;
	size_t i;

	if (n < 1)
		return;
	for (i = 0; i < nresults; i++)
		if (strcmp(results[i].key, key) == 0)
			r = &results[i];
	if (r == NULL) {
		if (nresults == MAX_RESULTS) {
			fprintf(stderr, "evbench: too many results\n");
			return;
		}
		r = &results[nresults++];
	}
	qsort(v, (size_t)n, sizeof(*v), evb_cmp_dbl);
	snprintf(r->key, sizeof(r->key), "%s", key);
	r->unit = unit;
	/* The lower median for an even count: a value that was measured. */
	r->med = v[(n - 1) / 2];
	r->min = v[0];
	r->max = v[n - 1];
	r->n = n;
}

void
evb_put1(const char *key, enum evb_unit unit, double v)
{
	evb_put(key, unit, &v, 1);
}

const struct evb_result *
evb_get(const char *key)
{
	size_t i;

	for (i = 0; i < nresults; i++)
		if (strcmp(results[i].key, key) == 0)
			return &results[i];
	return NULL;
}

size_t
evb_count(void)
{
	return nresults;
}

const struct evb_result *
evb_at(size_t i)
{
	return i < nresults ? &results[i] : NULL;
}

void
evb_note(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (s == NULL)
		return;
	fprintf(stderr, "evbench: %s\n", s);
	if (nnotes < MAX_NOTES)
		notes[nnotes++] = s;
	else
		free(s);
}

size_t
evb_nnotes(void)
{
	return nnotes;
}

const char *
evb_note_at(size_t i)
{
	return i < nnotes ? notes[i] : NULL;
}

const char *
evb_fmt(char *buf, size_t size, enum evb_unit unit, double v)
{
	switch (unit) {
	case EVB_RATE:
		if (v >= 1e6)
			snprintf(buf, size, "%.2f M/s", v / 1e6);
		else if (v >= 1e3)
			snprintf(buf, size, "%.1f k/s", v / 1e3);
		else
			snprintf(buf, size, "%.0f /s", v);
		break;
	case EVB_NS:
		if (v >= 1e6 || v <= -1e6)
			snprintf(buf, size, "%.2f ms", v / 1e6);
		else if (v >= 1e3 || v <= -1e3)
			snprintf(buf, size, "%.1f µs", v / 1e3);
		else
			snprintf(buf, size, "%.0f ns", v);
		break;
	case EVB_BYTES:
		snprintf(buf, size, "%.0f B", v);
		break;
	case EVB_SEC:
		snprintf(buf, size, "%.3f s", v);
		break;
	case EVB_COUNT:
		snprintf(buf, size, "%.0f", v);
		break;
	case EVB_RATIO:
		snprintf(buf, size, "%.2f×", v);
		break;
	}
	return buf;
}

/* ---- processes ---- */

long
evb_rss(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

pid_t
evb_busy_start(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		volatile unsigned long spin = 0;

		/* Pure user-space spinning: the scheduler sees a CPU hog
		 * that never sleeps, as a compile or a batch job would. */
		for (;;)
			spin++;
	}
	if (pid < 0)
		fprintf(stderr, "evbench: fork: %s\n", strerror(errno));
	return pid;
}

void
evb_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	if (kill(pid, SIGKILL) < 0)
		return;
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int
evb_pin(pid_t pid, int cpu)
{
	cpu_set_t set;
	long i, n = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&set);
	if (cpu >= 0)
		CPU_SET(cpu, &set);
	else
		for (i = 0; i < n && i < CPU_SETSIZE; i++)
			CPU_SET((int)i, &set);
	return sched_setaffinity(pid, sizeof(set), &set) < 0 ? -errno : 0;
}

bool
evb_have(const char *prog)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (strchr(prog, '/') != NULL)
		return access(prog, X_OK) == 0;
	if (path == NULL)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
	while (*path != '\0') {
		size_t n = strcspn(path, ":");

		if (snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path,
			     prog) < (int)sizeof(buf) &&
		    access(buf, X_OK) == 0)
			return true;
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

int
evb_run(const char *const *argv, const char *in, char *out, size_t size)
{
	int pin[2], pout[2], status;
	size_t have = 0;
	pid_t pid;

	if (pipe2(pin, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(pout, O_CLOEXEC) < 0) {
		close(pin[0]);
		close(pin[1]);
		return -1;
	}
	if ((pid = fork()) < 0) {
		close(pin[0]);
		close(pin[1]);
		close(pout[0]);
		close(pout[1]);
		return -1;
	}
	if (pid == 0) {
		if (dup2(pin[0], 0) < 0 || dup2(pout[1], 1) < 0 ||
		    dup2(pout[1], 2) < 0)
			_exit(126);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	/* The input is a few bytes: it fits the pipe, no deadlock. (A
	 * pipe, so write(), not raw_write()'s send().) */
	if (in != NULL && write(pin[1], in, strlen(in)) != (ssize_t)strlen(in))
		fprintf(stderr, "evbench: %s: stdin: short write\n", argv[0]);
	close(pin[1]);
	for (;;) {
		char tmp[4096];
		ssize_t n = read(pout[0], tmp, sizeof(tmp));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out != NULL && have + 1 < size) {
			size_t k = (size_t)n < size - 1 - have ? (size_t)n
							       : size - 1 - have;

			memcpy(out + have, tmp, k);
			have += k;
		}
	}
	if (out != NULL && size > 0)
		out[have] = '\0';
	close(pout[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
evb_tmpdir(char *buf, size_t size, const char *tag)
{
	const char *tmp = getenv("TMPDIR");

	if (snprintf(buf, size, "%s/evbench-%s.XXXXXX",
		     tmp != NULL ? tmp : "/tmp", tag) >= (int)size)
		return -ENAMETOOLONG;
	return mkdtemp(buf) == NULL ? -errno : 0;
}

int
evb_connect_retry(const char *path, int timeout_ms)
{
	int64_t end = evb_now() + (int64_t)timeout_ms * 1000000;
	int fd;

	for (;;) {
		fd = raw_connect(path);
		if (fd >= 0 || evb_now() > end)
			return fd;
		usleep(10000);
	}
}

int
evb_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

/* ---- the echo server ---- */

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void
echo_serve(int fd)
{
	static uint8_t buf[1 << 20];
	size_t have = 0, off, len;
	uint64_t count = 0;
	char mode;

	if (read(fd, &mode, 1) != 1)
		_exit(0);
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		have += (size_t)n;
		off = 0;
		while (have - off >= 4) {
			len = get_be32(buf + off);
			if (have - off < 4 + len)
				break;
			off += 4 + len;
			count++;
		}
		/* Echo every complete frame of this read in one write, as
		 * a server that batches its replies does. */
		if (mode == 'e' && off > 0 && raw_write(fd, buf, off) < 0)
			_exit(0);
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	if (mode == 's' && raw_write(fd, &count, sizeof(count)) < 0)
		_exit(1);
	_exit(0);
}

pid_t
evb_echo_start(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int l, fd;
	pid_t pid;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -errno;
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(l, 64) < 0) {
		int r = -errno;

		close(l);
		return r;
	}
	if ((pid = fork()) < 0) {
		close(l);
		return -errno;
	}
	if (pid == 0) {
		signal(SIGCHLD, SIG_IGN); /* children reap themselves */
		for (;;) {
			fd = accept(l, NULL, NULL);
			if (fd < 0) {
				if (errno == EINTR)
					continue;
				_exit(0);
			}
			if (fork() == 0) {
				close(l);
				echo_serve(fd);
			}
			close(fd);
		}
	}
	close(l);
	return pid;
}

/* ---- the pipelined driver ---- */

int
evb_load_add(struct evb_load *l, const void *p, size_t len)
{
	if (l->len + len > l->cap) {
		size_t cap = l->cap == 0 ? 65536 : l->cap;
		uint8_t *b;

		while (cap < l->len + len)
			cap *= 2;
		if ((b = realloc(l->buf, cap)) == NULL)
			return -ENOMEM;
		l->buf = b;
		l->cap = cap;
	}
	if (l->n == l->ncap) {
		size_t ncap = l->ncap == 0 ? 4096 : l->ncap * 2;
		size_t *e = realloc(l->ends, ncap * sizeof(*e));

		if (e == NULL)
			return -ENOMEM;
		l->ends = e;
		l->ncap = ncap;
	}
	memcpy(l->buf + l->len, p, len);
	l->len += len;
	l->ends[l->n++] = l->len;
	return 0;
}

void
evb_load_free(struct evb_load *l)
{
	free(l->buf);
	free(l->ends);
	memset(l, 0, sizeof(*l));
}

#define IN_CAP (1 << 20)

struct pconn {
	size_t off;   /* bytes written */
	long done;    /* replies */
	long errors;
	uint8_t *in;
	size_t have;
};

double
evb_pipeline(const int *fds, struct evb_load *loads, int nconn,
	     size_t window, evb_parse_fn parse, void *arg, int timeout_ms)
{
	struct pconn *pc = calloc((size_t)nconn, sizeof(*pc));
	struct pollfd *pfd = calloc((size_t)nconn, sizeof(*pfd));
	int64_t t0, last = evb_now();
	long total = 0, done = 0, errors = 0;
	double rate = -1;
	int i;

	if (pc == NULL || pfd == NULL)
		goto out;
	for (i = 0; i < nconn; i++) {
		if ((pc[i].in = malloc(IN_CAP)) == NULL ||
		    evb_nonblock(fds[i]) < 0)
			goto out;
		total += (long)loads[i].n;
	}
	t0 = evb_now();
	while (done < total) {
		int np = 0;

		for (i = 0; i < nconn; i++) {
			struct pconn *c = &pc[i];
			struct evb_load *l = &loads[i];
			size_t lim = (size_t)c->done + window, want;

			if (lim > l->n)
				lim = l->n;
			want = lim > 0 ? l->ends[lim - 1] : 0;
			/* Write everything the window allows in one go: a
			 * pipelining client batches its requests. */
			if (c->off < want) {
				ssize_t n = send(fds[i], l->buf + c->off,
						 want - c->off, MSG_NOSIGNAL);

				if (n < 0 && errno != EAGAIN && errno != EINTR)
					goto out;
				if (n > 0)
					c->off += (size_t)n;
			}
			pfd[np].fd = fds[i];
			pfd[np].events = POLLIN;
			if (c->off < want)
				pfd[np].events |= POLLOUT;
			np++;
		}
		if (poll(pfd, (nfds_t)np, 100) < 0 && errno != EINTR)
			goto out;
		for (i = 0; i < nconn; i++) {
			struct pconn *c = &pc[i];
			long r = 0, e = 0;
			size_t used;
			ssize_t n;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(fds[i], c->in + c->have, IN_CAP - c->have);
			if (n == 0 || (n < 0 && errno != EAGAIN &&
				       errno != EINTR)) {
				fprintf(stderr, "evbench: connection %d "
						"closed by the server\n", i);
				goto out;
			}
			if (n < 0)
				continue;
			c->have += (size_t)n;
			used = parse(c->in, c->have, i, arg, &r, &e);
			memmove(c->in, c->in + used, c->have - used);
			c->have -= used;
			c->done += r;
			c->errors += e;
			done += r;
			errors += e;
			if (r > 0)
				last = evb_now();
		}
		if (evb_now() - last > (int64_t)timeout_ms * 1000000) {
			fprintf(stderr, "evbench: no reply for %d ms "
					"(%ld of %ld answered)\n",
				timeout_ms, done, total);
			goto out;
		}
	}
	if (errors > 0)
		fprintf(stderr, "evbench: %ld error replies\n", errors);
	else
		rate = (double)total / ((double)(evb_now() - t0) / 1e9);
out:
	for (i = 0; pc != NULL && i < nconn; i++)
		free(pc[i].in);
	free(pc);
	free(pfd);
	return rate;
}

/* Reads a varint; returns bytes used or 0. */
static size_t
varint(const uint8_t *p, size_t len, uint64_t *ret)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len && i < 10; i++) {
		v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*ret = v;
			return i + 1;
		}
	}
	return 0;
}

int
evb_reply_kind(const uint8_t *p, size_t len, bool *ret_has_id)
{
	uint64_t tag, v;
	size_t n;

	*ret_has_id = false;
	/* evd writes request_id (field 1) first, then the body: a full
	 * unpack per reply would cost the client more than the daemon. */
	if ((n = varint(p, len, &tag)) == 0)
		return 0;
	if (tag == (1 << 3 | 0)) {
		*ret_has_id = true;
		p += n;
		len -= n;
		if ((n = varint(p, len, &v)) == 0)
			return 0;
		p += n;
		len -= n;
		if ((n = varint(p, len, &tag)) == 0)
			return 0;
	}
	return (int)(tag >> 3);
}

size_t
evb_parse_evd(const uint8_t *in, size_t len, int conn, void *arg,
	      long *ret_replies, long *ret_errors)
{
	int want = *(const int *)arg;
	size_t off = 0;

	while (len - off >= 4) {
		uint32_t n = get_be32(in + off);
		bool has_id;
		int kind;

		if (len - off - 4 < n)
			break;
		kind = evb_reply_kind(in + off + 4, n, &has_id);
		if (has_id) {
			(*ret_replies)++;
			if (kind != want && (*ret_errors)++ == 0) {
				Evd__Reply *r = evd__reply__unpack(
				    NULL, n, in + off + 4);

				fprintf(stderr, "evbench: reply %d: %s\n",
					kind,
					r != NULL && r->error != NULL &&
						r->error->message != NULL
					    ? r->error->message
					    : "?");
				if (r != NULL)
					evd__reply__free_unpacked(r, NULL);
			}
		}
		off += 4 + n;
	}
	return off;
}

size_t
evb_parse_frames(const uint8_t *in, size_t len, int conn, void *arg,
		 long *ret_replies, long *ret_errors)
{
	size_t off = 0;

	while (len - off >= 4) {
		uint32_t n = get_be32(in + off);

		if (len - off - 4 < n)
			break;
		(*ret_replies)++;
		off += 4 + n;
	}
	return off;
}
