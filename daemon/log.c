/*
 * log: records to the journal or to stderr (see log.h).
 */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

static int log_level = LOG_LEVEL_INFO;

static const char *const level_names[] = {
	[LOG_LEVEL_ERR] = "err",     [LOG_LEVEL_WARNING] = "warning",
	[LOG_LEVEL_NOTICE] = "notice", [LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

int
log_parse_level(const char *s)
{
	int i;

	for (i = LOG_LEVEL_ERR; i <= LOG_LEVEL_DEBUG; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	if (strcasecmp(s, "error") == 0)
		return LOG_LEVEL_ERR;
	if (strcasecmp(s, "warn") == 0)
		return LOG_LEVEL_WARNING;
	if (s[0] >= '3' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	return -EINVAL;
}

void
log_set_level(int level)
{
	log_level = level;
}

int
log_get_level(void)
{
	return log_level;
}

const char *
log_level_name(int level)
{
	if (level < LOG_LEVEL_ERR || level > LOG_LEVEL_DEBUG)
		return "?";
	return level_names[level];
}

/*
 * Where records go, decided once: journald's native protocol when stderr
 * is the journal stream systemd gave us ($JOURNAL_STREAM names its device
 * and inode), so records carry fields (PRIORITY=, EVD_TIMER_ID=, ...);
 * otherwise one line per record on stderr, with a UTC timestamp (a file
 * or a terminal has none of its own).
 */
static int log_journal = -1; /* -1: not decided yet */

static bool
log_stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (e == NULL || sscanf(e, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

void
log_init(void)
{
	log_journal = log_stderr_is_journal();
}

/*
 * The boundary every record crosses: whatever a caller formatted, and
 * whatever a client chose inside it, control bytes (a "\n<0>" that would
 * forge a record at emergency priority), DEL, C1 controls and invalid
 * UTF-8 become \xNN. Callers need not remember; log_escape, which also
 * doubles '\\', stays for values quoted on purpose. Returns the length.
 */
static size_t
log_sanitize(char *out, size_t size, const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, o = 0, n;

	while (i < len) {
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			n = 1;
		} else if (s[i] >= 0x80 && (n = log_utf8_len(s + i, len - i)) > 0) {
			;
		} else {
			if (o + 5 > size)
				break;
			snprintf(out + o, 5, "\\x%02x", s[i]);
			o += 4;
			i++;
			continue;
		}
		if (o + n + 1 > size)
			break;
		memcpy(out + o, s + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return o;
}

/* One record into the journal, with the fields of about; false if the
 * journal would not take it (stderr then). */
static bool
log_journal_send(int level, const struct log_about *about, const char *msg)
{
	char prio[16], timer[40], fire[40], uid[32], chan[4 * 256 + 16];
	struct iovec iov[7];
	int n = 0;

	snprintf(prio, sizeof prio, "PRIORITY=%d", level);
	iov[n++] = (struct iovec){prio, strlen(prio)};
	iov[n++] = (struct iovec){"SYSLOG_IDENTIFIER=evd", 21};
	iov[n].iov_base = (void *)msg;
	iov[n++].iov_len = strlen(msg);
	if (about != NULL && about->timer_id != 0) {
		snprintf(timer, sizeof timer, "EVD_TIMER_ID=%" PRIu64,
		         about->timer_id);
		iov[n++] = (struct iovec){timer, strlen(timer)};
	}
	if (about != NULL && about->fire_id != 0) {
		snprintf(fire, sizeof fire, "EVD_FIRE_ID=%" PRIu64,
		         about->fire_id);
		iov[n++] = (struct iovec){fire, strlen(fire)};
	}
	if (about != NULL && about->has_uid) {
		snprintf(uid, sizeof uid, "EVD_UID=%u", (unsigned)about->uid);
		iov[n++] = (struct iovec){uid, strlen(uid)};
	}
	if (about != NULL && about->channel != NULL) {
		memcpy(chan, "EVD_CHANNEL=", 12);
		log_sanitize(chan + 12, sizeof chan - 12, about->channel,
		             strnlen(about->channel, 256));
		iov[n++] = (struct iovec){chan, strlen(chan)};
	}
	return sd_journal_sendv(iov, n) >= 0;
}

/*
 * Floods: one kind of record (one format string) at most log_burst (10)
 * times per log_window_s (10 s); the rest are counted and reported as one
 * record when the window ends. 75,000 "skipped" lines a second would trip journald's
 * own rate limit and hide every other record. Errors always go out.
 */
#define LOG_KINDS 64
static unsigned log_burst = 10, log_window_s = 10;

struct log_kind {
	const char *fmt;
	int level;
	int64_t start;       /* CLOCK_MONOTONIC s of the window */
	unsigned n;          /* records of the window */
	unsigned suppressed;
};

static struct {
	pthread_mutex_t lock;
	struct log_kind k[LOG_KINDS];
} flood = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void log_vemit(int, int, const struct log_about *, const char *,
                      va_list);

static void
log_emitf(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, 0, NULL, fmt, ap);
	va_end(ap);
}

void
log_set_flood(unsigned burst, unsigned window_s)
{
	pthread_mutex_lock(&flood.lock);
	log_burst = burst;
	log_window_s = window_s;
	pthread_mutex_unlock(&flood.lock);
}

/* Reports kinds whose window ended with records held back. Called
 * without the lock. */
static void
log_flood_report(int64_t now)
{
	struct log_kind done[LOG_KINDS];
	int i, n = 0;

	pthread_mutex_lock(&flood.lock);
	for (i = 0; i < LOG_KINDS; i++) {
		struct log_kind *k = &flood.k[i];

		if (k->fmt != NULL && k->suppressed > 0 &&
		    now - k->start >= (int64_t)log_window_s) {
			done[n++] = *k;
			k->suppressed = 0;
			k->n = 0;
			k->start = now;
		}
	}
	pthread_mutex_unlock(&flood.lock);
	for (i = 0; i < n; i++)
		log_emitf(done[i].level,
		          "%u more records like \"%.60s\" in the last %d s "
		          "were not logged",
		          done[i].suppressed, done[i].fmt, (int)log_window_s);
}

/* Whether a record of fmt at level may go out now. */
static bool
log_flood_ok(int level, const char *fmt)
{
	struct timespec ts;
	struct log_kind *k;
	bool ok = true;
	int64_t now;

	if (level <= LOG_LEVEL_ERR || fmt == NULL)
		return true;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = ts.tv_sec;
	log_flood_report(now);
	pthread_mutex_lock(&flood.lock);
	k = &flood.k[((uintptr_t)fmt >> 3) % LOG_KINDS];
	if (k->fmt != fmt) {
		/* A collision takes the slot over; a flood that keeps
		 * colliding is rate limited only half as well. */
		if (k->fmt != NULL && k->suppressed > 0) {
			pthread_mutex_unlock(&flood.lock);
			return true;
		}
		memset(k, 0, sizeof *k);
		k->fmt = fmt;
		k->start = now;
	}
	k->level = level;
	if (now - k->start >= (int64_t)log_window_s) {
		k->start = now;
		k->n = 0;
	}
	if (++k->n > log_burst) {
		k->suppressed++;
		ok = false;
	}
	pthread_mutex_unlock(&flood.lock);
	return ok;
}

static void
log_vemit(int level, int errnum, const struct log_about *about,
          const char *fmt, va_list ap)
{
	char raw[1024], msg[8 + 4 * sizeof raw], line[64 + sizeof msg];
	struct timespec ts;
	struct tm tm;
	size_t len;
	int m, n;

	if (level > log_level || !log_flood_ok(level, fmt))
		return;
	m = vsnprintf(raw, sizeof raw, fmt, ap);
	if (m < 0)
		return;
	len = (size_t)m < sizeof raw ? (size_t)m : sizeof raw - 1;
	if (errnum != 0) {
		m = snprintf(raw + len, sizeof raw - len, ": %s",
		             strerror(errnum));
		if (m > 0)
			len = len + (size_t)m < sizeof raw ? len + (size_t)m
			                                   : sizeof raw - 1;
	}
	memcpy(msg, "MESSAGE=", 8);
	log_sanitize(msg + 8, sizeof msg - 8, raw, len);
	if (log_journal < 0)
		log_init();
	if (log_journal && log_journal_send(level, about, msg))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* The "<N>" prefix keeps the priority for anything that parses it
	 * (systemd-cat, a journal stream without $JOURNAL_STREAM). */
	n = snprintf(line, sizeof line,
	             "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ <%d>%s\n",
	             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level,
	             msg + 8);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line) {
		n = (int)sizeof line - 1;
		line[n - 1] = '\n';
	}
	/* One write per record: lines never interleave. A failed log
	 * write has nowhere to be reported. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

void
log_about(int level, const struct log_about *about, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vemit(level, 0, about, fmt, ap);
	va_end(ap);
	errno = saved;
}

#define LOG_FN(name, level, use_errno)                                         \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		int saved = errno;                                             \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_vemit(level, use_errno ? saved : 0, NULL, fmt, ap);              \
		va_end(ap);                                                    \
		errno = saved;                                                 \
	}

LOG_FN(log_errx, LOG_LEVEL_ERR, 0)
LOG_FN(log_warn, LOG_LEVEL_WARNING, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARNING, 0)
LOG_FN(log_notice, LOG_LEVEL_NOTICE, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_ERR, saved, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_ERR, 0, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

/* C1 controls count as invalid: some terminals obey them. */
size_t
log_utf8_len(const void *data, size_t len)
{
	const unsigned char *s = data;
	size_t n, i;
	uint32_t cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff ||
	    (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return n;
}

const char *
log_escape(char *out, size_t size, const void *data, size_t len)
{
	const unsigned char *s = data;
	size_t i = 0, o = 0, n;
	char esc[5];

	if (size == 0)
		return "";
	while (i < len) {
		const char *piece;
		size_t plen;

		if (s[i] == '\\') {
			piece = "\\\\", plen = 2, n = 1;
		} else if (s[i] >= 0x20 && s[i] < 0x7f) {
			piece = (const char *)s + i, plen = 1, n = 1;
		} else if (s[i] >= 0x80 && (n = log_utf8_len(s + i, len - i)) > 0) {
			piece = (const char *)s + i, plen = n;
		} else {
			snprintf(esc, sizeof esc, "\\x%02x", s[i]);
			piece = esc, plen = 4, n = 1;
		}
		/* Room for the piece, and for "..." should more follow. */
		if (o + plen + (i + n < len ? 3 : 0) >= size) {
			if (o + 3 < size) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, piece, plen);
		o += plen;
		i += n;
	}
	out[o] = '\0';
	return out;
}
