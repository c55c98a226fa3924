/*
 * evctl_batch: `evctl batch`, many requests from standard input on one
 * connection. Each line is one request in evctl's own words ("later 5m
 * --channel jobs --payload x", quoted as a shell would) or, starting
 * with '[', a JSON array of those words (["later","5m","--channel",
 * "jobs"]); blank lines and lines starting with '#' are skipped. The
 * requests are pipelined with the asynchronous API (written in large
 * batches, up to BATCH_WINDOW in flight) and the results printed in
 * input order, one line per request: the timer id, or "-" when it
 * failed (why goes to stderr); with --json one object per request with
 * its line number. On a terminal, stderr shows progress.
 *
 * Owns the ring of results not printed yet and the line buffer; the
 * connection is the ctl's. Only durable requests make sense here (a
 * timer firing to this connection would die with it): soon, later, at
 * and on with --channel or a hook, and cancel.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "escape.h"
#include "evctl.h"

/* Requests in flight (and results waiting to be printed) at most. */
#define BATCH_WINDOW 8192
#define BATCH_LINE_MAX (256 * 1024)
#define BATCH_WORDS_MAX 4096

struct batch;

/* One request's result, in the ring until printed. */
struct bres {
	struct batch *b;
	uint64_t line;
	uint64_t id;  /* cancel: the timer */
	bool done;
	int status;   /* 0, or the exit status it counts for */
	char *out;    /* the stdout line, owned */
};

struct batch {
	struct ctl *x;
	struct bres ring[BATCH_WINDOW];
	uint64_t head, tail; /* print from head; next slot at tail */
	uint64_t sent, ok, failed;
	int status;
	bool tty;
	int64_t last_progress_ns;
	/* batch_submit: results go here (by line - 1), nothing printed. */
	struct batch_req *collect;
};

/* The stdout line of a failed request: "-", or a JSON error with the
 * daemon's (or the parser's) words. */
static char *
failed_out(const struct batch *b, uint64_t line, const char *code,
           const char *msg)
{
	char esc[1024 * ESCAPE_MAX_EXPANSION + 1], *out = NULL;
	size_t n = strlen(msg);

	if (!b->x->json)
		return strdup("-");
	escape_json(esc, sizeof esc, msg, n < 1024 ? n : 1024);
	if (asprintf(&out,
		     "{\"line\":%" PRIu64 ",\"error\":\"%s\",\"message\":"
		     "\"%s\"}",
		     line, code, esc) < 0)
		return NULL;
	return out;
}

static void
progress(struct batch *b, bool last)
{
	int64_t now;

	if (!b->tty)
		return;
	now = mono_now_ns();
	if (!last && now - b->last_progress_ns < 100000000)
		return;
	b->last_progress_ns = now;
	fprintf(stderr,
		"\rbatch: %" PRIu64 " sent, %" PRIu64 " done, %" PRIu64
		" failed%s",
		b->sent, b->ok + b->failed, b->failed, last ? "\n" : "");
}

/* Prints the finished results at the head of the ring, in order. */
static void
flush_ring(struct batch *b)
{
	while (b->head < b->tail) {
		struct bres *r = &b->ring[b->head % BATCH_WINDOW];

		if (!r->done)
			break;
		/* Out of memory costs the line, not the order. */
		if (b->collect == NULL)
			puts(r->out != NULL ? r->out : "-");
		free(r->out);
		r->out = NULL;
		if (r->status > b->status)
			b->status = r->status;
		b->head++;
	}
	progress(b, false);
}

static struct bres *
slot_new(struct batch *b, uint64_t line)
{
	struct bres *r = &b->ring[b->tail % BATCH_WINDOW];

	memset(r, 0, sizeof *r);
	r->b = b;
	r->line = line;
	b->tail++;
	return r;
}

/* A formatted string, or NULL out of memory. */
static char *
xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *
xprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

/* A request's completion: its line of output. */
static void
done_cb(struct evc *c, const struct evc_result *res, void *arg)
{
	struct bres *r = arg;
	struct batch *b = r->b;
	const struct evc_scheduled *s = res->scheduled;
	char t[TIMEFMT_TIME_MAX];

	(void)c;
	r->done = true;
	if (b->collect != NULL) {
		struct batch_req *q = &b->collect[r->line - 1];

		if (res->status < 0) {
			q->status = -res->status < EVC_E_LOCAL
					? EXIT_REFUSED
					: EXIT_UNREACHABLE;
			q->errmsg = strdup(res->errmsg);
			b->failed++;
		} else if (s != NULL) {
			q->status = 0;
			q->timer_id = s->timer_id;
			q->existing = s->existing;
			q->due_realtime_ns = s->due_realtime_ns;
			b->ok++;
		}
		return;
	}
	if (res->status < 0) {
		ctl_warnx("line %" PRIu64 ": %s", r->line, res->errmsg);
		r->status = -res->status < EVC_E_LOCAL ? EXIT_REFUSED
						       : EXIT_UNREACHABLE;
		r->out = failed_out(b, r->line, evc_strerror(-res->status),
				    res->errmsg);
		b->failed++;
		return;
	}
	b->ok++;
	if (s == NULL && b->x->json) /* cancel */
		r->out = xprintf("{\"line\":%" PRIu64 ",\"timer_id\":%" PRIu64
				 ",\"cancelled\":true}",
				 r->line, r->id);
	else if (s == NULL)
		r->out = xprintf("%" PRIu64, r->id);
	else if (b->x->json)
		r->out = xprintf(
		    "{\"line\":%" PRIu64 ",\"timer_id\":%" PRIu64
		    ",\"clock\":\"%s\",\"deadline_ns\":%" PRId64
		    ",\"due\":\"%s\",\"due_realtime_ns\":%" PRId64
		    ",\"existing\":%s}",
		    r->line, s->timer_id, clock_name(s->clock), s->deadline_ns,
		    iso(s->due_realtime_ns, true, t, sizeof t),
		    s->due_realtime_ns, s->existing ? "true" : "false");
	else
		r->out = xprintf("%" PRIu64, s->timer_id);
}

/*
 * Splits a line into words as a shell would (quotes, backslashes; no
 * expansion), in place: words point into line. Returns the count, or
 * -1 with why.
 */
static int
split_words(char *line, char **words, int max, const char **why)
{
	char *r = line, *w = line;
	int n = 0;

	for (;;) {
		while (*r == ' ' || *r == '\t')
			r++;
		if (*r == '\0')
			return n;
		if (n == max) {
			*why = "too many words";
			return -1;
		}
		words[n++] = w;
		while (*r != '\0' && *r != ' ' && *r != '\t') {
			if (*r == '\'') {
				r++;
				while (*r != '\0' && *r != '\'')
					*w++ = *r++;
				if (*r != '\'') {
					*why = "unterminated ' quote";
					return -1;
				}
				r++;
			} else if (*r == '"') {
				r++;
				while (*r != '\0' && *r != '"') {
					if (*r == '\\' &&
					    strchr("\"\\$`", r[1]) != NULL &&
					    r[1] != '\0')
						r++;
					*w++ = *r++;
				}
				if (*r != '"') {
					*why = "unterminated \" quote";
					return -1;
				}
				r++;
			} else if (*r == '\\' && r[1] != '\0') {
				r++;
				*w++ = *r++;
			} else {
				*w++ = *r++;
			}
		}
		if (*r != '\0')
			r++;
		*w++ = '\0';
	}
}

/* Appends code point cp as UTF-8. */
static char *
put_utf8(char *w, uint32_t cp)
{
	if (cp < 0x80) {
		*w++ = (char)cp;
	} else if (cp < 0x800) {
		*w++ = (char)(0xc0 | cp >> 6);
		*w++ = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		*w++ = (char)(0xe0 | cp >> 12);
		*w++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*w++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*w++ = (char)(0xf0 | cp >> 18);
		*w++ = (char)(0x80 | (cp >> 12 & 0x3f));
		*w++ = (char)(0x80 | (cp >> 6 & 0x3f));
		*w++ = (char)(0x80 | (cp & 0x3f));
	}
	return w;
}

static int
hex4(const char *p, uint32_t *ret)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*ret = v;
	return 0;
}

/* A JSON array of strings, in place (escapes only shrink). */
static int
json_words(char *line, char **words, int max, const char **why)
{
	char *r = line + 1, *w = line;
	uint32_t cp, lo;
	int n = 0;

	*why = "not a JSON array of strings";
	for (;;) {
		while (*r == ' ' || *r == '\t')
			r++;
		if (*r == ']' && n == 0) {
			r++;
			break;
		}
		if (*r != '"')
			return -1;
		if (n == max) {
			*why = "too many words";
			return -1;
		}
		words[n++] = w;
		for (r++; *r != '"'; ) {
			if (*r == '\0' || (unsigned char)*r < 0x20)
				return -1;
			if (*r != '\\') {
				*w++ = *r++;
				continue;
			}
			r++;
			switch (*r++) {
			case '"': *w++ = '"'; break;
			case '\\': *w++ = '\\'; break;
			case '/': *w++ = '/'; break;
			case 'b': *w++ = '\b'; break;
			case 'f': *w++ = '\f'; break;
			case 'n': *w++ = '\n'; break;
			case 'r': *w++ = '\r'; break;
			case 't': *w++ = '\t'; break;
			case 'u':
				if (hex4(r, &cp) < 0)
					return -1;
				r += 4;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (r[0] != '\\' || r[1] != 'u' ||
					    hex4(r + 2, &lo) < 0 || lo < 0xdc00 ||
					    lo > 0xdfff)
						return -1;
					r += 6;
					cp = 0x10000 + ((cp - 0xd800) << 10) +
					     (lo - 0xdc00);
				} else if (cp >= 0xdc00 && cp <= 0xdfff) {
					return -1;
				}
				if (cp == 0) {
					*why = "a word holds a NUL";
					return -1;
				}
				w = put_utf8(w, cp);
				break;
			default:
				return -1;
			}
		}
		r++;
		*w++ = '\0';
		while (*r == ' ' || *r == '\t')
			r++;
		if (*r == ',') {
			r++;
			continue;
		}
		if (*r == ']') {
			r++;
			break;
		}
		return -1;
	}
	while (*r == ' ' || *r == '\t' || *r == '\r')
		r++;
	return *r == '\0' ? n : -1;
}

/* Arrays parse_args fills (--env, --property, --pass-env) for one line. */
struct line_args {
	char *argv[BATCH_WORDS_MAX + 2];
	char *operands[BATCH_WORDS_MAX + 2];
	const char *env[BATCH_WORDS_MAX + 2];
	const char *props[BATCH_WORDS_MAX + 2];
	char *passed[BATCH_WORDS_MAX + 2];
};

/*
 * Reads one line's request into lx and sends it. Returns 0 when it was
 * sent (its slot completes later) or a usage error's exit status (its
 * slot is done).
 */
static int batch_send_words(struct batch *b, struct line_args *la, int n,
			    struct bres *slot);

static int
batch_send(struct batch *b, struct line_args *la, char *text, struct bres *slot)
{
	const char *why = NULL;
	int n;

	n = text[0] == '[' ? json_words(text, la->argv + 1, BATCH_WORDS_MAX, &why)
			   : split_words(text, la->argv + 1, BATCH_WORDS_MAX,
					 &why);
	if (n < 0)
		return usage_error("line %" PRIu64 ": %s", slot->line, why);
	return batch_send_words(b, la, n, slot);
}

/* Sends the request whose words are la->argv[1..n]; as batch_send. */
static int
batch_send_words(struct batch *b, struct line_args *la, int n,
		 struct bres *slot)
{
	struct ctl *x = b->x, lx;
	const struct evc_repeat *rep;
	struct evc_callback cb;
	struct evc_exec ex;
	struct timefmt_when w;
	enum evc_clock clock;
	int64_t ns;
	uint64_t id;
	int r;

	la->argv[0] = (char *)"evctl";
	la->argv[n + 1] = NULL;
	memset(&lx, 0, sizeof lx);
	lx.exec_at = -1;
	lx.env = la->env;
	lx.props = la->props;
	lx.passed = la->passed;
	r = parse_args(&lx, n + 1, la->argv, la->operands);
	for (size_t i = 0; i < lx.npassed; i++)
		free(lx.passed[i]);
	if (r != 0) {
		if (r > 0)
			ctl_warnx("line %" PRIu64 ": not sent", slot->line);
		return r < 0 ? usage_error("line %" PRIu64 ": --help and "
					   "--version are not requests",
					   slot->line)
			     : r;
	}
	lx.c = x->c;
	lx.request_ms = x->request_ms;
	lx.after_ns = realtime_now_ns();
	if (lx.verb->run == verb_cancel) {
		if (lx.nargs != 1 || !parse_u64(lx.args[0], &id))
			return usage_error("line %" PRIu64 ": cancel takes "
					   "one timer id in a batch",
					   slot->line);
		slot->id = id;
		r = evc_cancel_async(x->c, id, done_cb, slot);
		goto sent;
	}
	if (lx.verb->run != verb_soon && lx.verb->run != verb_later &&
	    lx.verb->run != verb_at && lx.verb->run != verb_on)
		return usage_error("line %" PRIu64 ": batch takes soon, later, "
				   "at, on and cancel, not %s",
				   slot->line, lx.verb->name);
	if (lx.channel == NULL && !has_hook(&lx))
		return usage_error("line %" PRIu64 ": a batch schedules "
				   "durable timers: give --channel, --exec or "
				   "--shell",
				   slot->line);
	if ((r = repeat_of(&lx, &rep)) != 0)
		return r;
	cb = callback_of(&lx, &ex);
	if (lx.verb->run == verb_soon) {
		r = evc_call_soon_opts_async(x->c, &cb, rep, done_cb, slot);
	} else if (lx.verb->run == verb_later) {
		clock = EVC_CLOCK_MONOTONIC;
		if (timefmt_parse_duration_words(lx.args[0], &ns) < 0)
			return usage_error("line %" PRIu64 ": invalid duration "
					   "'%s'",
					   slot->line, lx.args[0]);
		if (lx.clock_name != NULL &&
		    strcmp(lx.clock_name, "boottime") == 0)
			clock = EVC_CLOCK_BOOTTIME;
		r = evc_call_later_opts_async(x->c, ns, clock, &cb, rep,
					      done_cb, slot);
	} else if (lx.verb->run == verb_at && lx.clock_name != NULL &&
		   strcmp(lx.clock_name, "realtime") != 0) {
		/* A reading of the daemon's own clock, as verb_at takes it
		 * (import: systemd's OnBootSec=). */
		clock = strcmp(lx.clock_name, "boottime") == 0
			    ? EVC_CLOCK_BOOTTIME
			    : EVC_CLOCK_MONOTONIC;
		if (timefmt_parse_duration(lx.args[0], &ns) < 0)
			return usage_error("line %" PRIu64 ": invalid time "
					   "'%s' on the %s clock",
					   slot->line, lx.args[0],
					   lx.clock_name);
		r = evc_call_at_opts_async(x->c, ns, clock, &cb, rep, done_cb,
					   slot);
	} else if (lx.verb->run == verb_at) {
		if (parse_when(&lx, lx.args[0], &w) < 0)
			return usage_error("line %" PRIu64 ": invalid time "
					   "'%s'",
					   slot->line, lx.args[0]);
		r = evc_call_at_opts_async(x->c, w.ns, EVC_CLOCK_REALTIME, &cb,
					   rep, done_cb, slot);
	} else {
		r = evc_call_on_async(x->c, lx.args[0], lx.tz, &cb, rep,
				      done_cb, slot);
	}
sent:
	if (r == -EVC_E_USAGE)
		return usage_error("line %" PRIu64 ": %s", slot->line,
				   evc_errmsg(x->c));
	if (r < 0)
		return -1; /* the connection: the caller says so */
	b->sent++;
	return 0;
}

/* Runs the connection until fewer than want requests are in flight. */
static int
batch_wait(struct batch *b, size_t want)
{
	struct pollfd p;
	int r;

	for (;;) {
		if ((r = evc_process(b->x->c)) < 0)
			return r;
		flush_ring(b);
		if (evc_pending(b->x->c) < want)
			return 0;
		p.fd = evc_fd(b->x->c);
		p.events = (short)evc_events_wanted(b->x->c);
		p.revents = 0;
		if (poll(&p, 1, evc_next_timeout_ms(b->x->c)) < 0 &&
		    errno != EINTR)
			return -EVC_E_IO;
	}
}

int
verb_batch(struct ctl *x)
{
	struct line_args *la = NULL;
	struct batch *b = NULL;
	char *buf = NULL, *nl, *text;
	size_t len = 0, cap = BATCH_LINE_MAX + 1, start;
	uint64_t lineno = 0;
	bool eof = false;
	ssize_t n;
	int r, rc = 0;

	b = calloc(1, sizeof *b);
	la = malloc(sizeof *la);
	buf = malloc(cap);
	if (b == NULL || la == NULL || buf == NULL) {
		ctl_warnx("out of memory");
		rc = EXIT_UNREACHABLE;
		goto out;
	}
	b->x = x;
	b->tty = isatty(2) == 1;
	while (!eof || len > 0) {
		/* A whole line, or more input first; before blocking on
		 * input, what is queued goes out. */
		nl = memchr(buf, '\n', len);
		if (nl == NULL && !eof) {
			if (len == cap - 1) {
				ctl_warnx("line %" PRIu64 ": longer than %d "
					  "bytes",
					  lineno + 1, BATCH_LINE_MAX);
				rc = EXIT_USAGE;
				break;
			}
			if ((r = evc_process(x->c)) < 0) {
				rc = lost_connection(x);
				break;
			}
			flush_ring(b);
			n = read(0, buf + len, cap - 1 - len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				ctl_warnx("reading standard input: %s",
					  strerror(errno));
				rc = EXIT_UNREACHABLE;
				break;
			}
			if (n == 0)
				eof = true;
			len += (size_t)n;
			continue;
		}
		if (nl == NULL)
			nl = buf + len; /* the last line, without newline */
		*nl = '\0';
		text = buf;
		lineno++;
		start = (size_t)(nl - buf) + (nl < buf + len ? 1 : 0);
		while (*text == ' ' || *text == '\t')
			text++;
		if (strlen(text) != (size_t)(nl - text)) {
			/* A NUL inside: no word may hold one. */
			struct bres *s = slot_new(b, lineno);

			usage_error("line %" PRIu64 ": holds a NUL byte", lineno);
			s->done = true;
			s->status = EXIT_USAGE;
			s->out = failed_out(b, lineno, "usage", "NUL byte");
			b->failed++;
		} else if (*text != '\0' && *text != '#') {
			struct bres *s;

			if (b->tail - b->head >= BATCH_WINDOW &&
			    (r = batch_wait(b, BATCH_WINDOW / 2)) < 0) {
				rc = lost_connection(x);
				break;
			}
			while (b->tail - b->head >= BATCH_WINDOW)
				flush_ring(b);
			s = slot_new(b, lineno);
			if (nl > text && nl[-1] == '\r')
				nl[-1] = '\0';
			r = batch_send(b, la, text, s);
			if (r < 0) {
				s->done = true;
				rc = lost_connection(x);
				break;
			}
			if (r > 0) {
				s->done = true;
				s->status = r;
				s->out = failed_out(b, lineno, "usage",
						    "see stderr");
				b->failed++;
			}
		}
		memmove(buf, buf + start, len - start);
		len -= start;
	}
	if (rc == 0 || rc == EXIT_USAGE) {
		r = evc_drain(x->c, -1);
		if (r < 0 && rc == 0)
			rc = lost_connection(x);
	}
	flush_ring(b);
	progress(b, true);
	if (rc == 0)
		rc = b->status;
out:
	/* Results not printed belong to requests a lost connection
	 * failed; their callbacks ran in evc_drain or never will. */
	if (b != NULL)
		for (; b->head < b->tail; b->head++)
			free(b->ring[b->head % BATCH_WINDOW].out);
	free(b);
	free(la);
	free(buf);
	r = check_stdout();
	return rc != 0 ? rc : r;
}

/*
 * batch_submit (import): the requests reqs[0..n) pipelined on x's
 * connection as batch sends its lines, each result in its req instead
 * of on stdout. A request the parser refuses says why on stderr ("line
 * N" is its index + 1) and gets that exit status. Returns 0, or an
 * exit status when the connection was lost (results not in are then
 * EXIT_UNREACHABLE).
 */
int
batch_submit(struct ctl *x, struct batch_req *reqs, size_t n)
{
	struct line_args *la = NULL;
	struct batch *b = NULL;
	size_t i;
	int k, r, rc = 0;

	for (i = 0; i < n; i++) {
		reqs[i].status = EXIT_UNREACHABLE;
		if (reqs[i].nwords > BATCH_WORDS_MAX)
			reqs[i].nwords = BATCH_WORDS_MAX + 1; /* refused */
	}
	b = calloc(1, sizeof *b);
	la = malloc(sizeof *la);
	if (b == NULL || la == NULL) {
		ctl_warnx("out of memory");
		rc = EXIT_UNREACHABLE;
		goto out;
	}
	b->x = x;
	b->collect = reqs;
	for (i = 0; i < n; i++) {
		struct bres *s;

		if (b->tail - b->head >= BATCH_WINDOW &&
		    batch_wait(b, BATCH_WINDOW / 2) < 0) {
			rc = lost_connection(x);
			break;
		}
		while (b->tail - b->head >= BATCH_WINDOW)
			flush_ring(b);
		s = slot_new(b, i + 1);
		if (reqs[i].nwords > BATCH_WORDS_MAX) {
			r = usage_error("line %zu: too many words", i + 1);
		} else {
			for (k = 0; k < reqs[i].nwords; k++)
				la->argv[k + 1] = reqs[i].words[k];
			r = batch_send_words(b, la, reqs[i].nwords, s);
		}
		if (r < 0) {
			s->done = true;
			reqs[i].status = EXIT_UNREACHABLE;
			rc = lost_connection(x);
			break;
		}
		if (r > 0) {
			s->done = true;
			reqs[i].status = r;
		}
	}
	if (rc == 0 && evc_drain(x->c, -1) < 0)
		rc = lost_connection(x);
	flush_ring(b);
out:
	free(b);
	free(la);
	return rc;
}
