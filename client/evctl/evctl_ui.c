/*
 * evctl_ui: `evctl ui`, a local web dashboard served by evctl-ui (evctl
 * with this verb and libevent; evctl runs it: evctl_ui_exec.c) as the
 * invoking user. It talks to evd through the same libevclient connection
 * as every other verb, with the caller's own credentials, so it shows
 * exactly what that user may see (root: everything) and can do exactly
 * what that user may do. No privilege is added: the HTTP side only
 * relays.
 *
 * Who may talk to it. The listener is on loopback only (127.0.0.0/8 or
 * ::1; anything else is refused at start-up), and every other local user
 * can reach loopback, so every /api/ request must carry a token: 128
 * bits from getrandom(2), shown once in the URL evctl prints, in its
 * fragment (http://HOST:PORT/#token=...), which no browser sends to any
 * server. The page (/, ui.js, ui.css: no data in them) is served without
 * it; its script keeps the token in sessionStorage (scoped to the exact
 * origin, port included) and sends it as an X-Evd-Token header, the only
 * way it is accepted. No cookie: browsers send a cookie to every port of
 * 127.0.0.1 and SameSite counts other ports as the same site, so any
 * local user's server on another port would get it. No ?token= either
 * (it ends up in command lines and histories). A page of another origin
 * cannot add a custom header without a CORS preflight, and OPTIONS is
 * not an allowed method here, so no preflight is ever approved. Without
 * the header: 403. The Host header must name the listen address (a
 * DNS-rebinding page has the attacker's name there); an /api/ request
 * whose Origin is another origin or whose Sec-Fetch-Site is neither
 * same-origin nor none (a typed URL) is refused: a page on another port
 * of 127.0.0.1 is "same-site", so same-site is not enough. The page
 * itself may come from anywhere (the opener's file is another site). And
 * state-changing actions are POST only and need an Origin that is the
 * listen address (browsers always send one on POST; a curl user adds it
 * by hand).
 *
 * What it serves. Three assets compiled in (ui_assets.c, generated from
 * client/evctl/ui/ by ui/embed.cmake: nothing depends on install paths,
 * nothing is fetched from the network) and JSON (see the routes in
 * ui_route). Every response carries Content-Security-Policy
 * default-src 'self', nosniff, no-store and no-referrer. Requests are
 * bounded (headers 8 KiB, body 1 KiB, 10 s) and so is every answer:
 * at most UI_TIMERS_MAX timers and UI_CHANNELS_MAX channels are read.
 *
 * How. One libevent loop (evhttp); each request is answered at once with
 * blocking libevclient calls bounded by the request timeout: one user,
 * loopback, a page polling every 2 s. A broken connection to evd is
 * dropped and made again on the next request, so the dashboard outlives
 * an evd restart. SIGINT and SIGTERM end the loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "escape.h"
#include "evctl.h"
#include "ui_assets.h"

/* Bounds on what one answer reads from evd. */
#define UI_TIMERS_MAX 2000
#define UI_CHANNELS_MAX 500
#define UI_DEAD_PER_CHANNEL 20
/* /api/runs: the timers that ran last, read with their output tails. */
#define UI_RUNS_TIMERS 15
#define UI_RUNS_MAX 60
/* Upcoming fires per timer on the 24-hour timeline. */
#define UI_UPCOMING_MAX 96
#define UI_TIMELINE_NS (24 * 3600 * INT64_C(1000000000))

#define UI_TOKEN_BYTES 16
#define UI_HEADERS_MAX 8192
#define UI_BODY_MAX 1024
#define UI_REQUEST_TIMEOUT_S 10

/* The state of one `evctl ui`. Owner: verb_ui (on its stack). */
struct ui {
	struct ctl *x;
	struct event_base *base;
	struct evhttp *http;
	char token[2 * UI_TOKEN_BYTES + 1];
	/* What Host may say, and what Origin must say ("http://" host). */
	char host[96];
	char alt_host[96]; /* "localhost:PORT" for 127.0.0.1, else "" */
	char url[192];
	char redirect_dir[128]; /* the opener's file, removed at exit */
	char user[64];
};

/* ---- listening ---- */

/* "HOST:PORT" with HOST a loopback IPv4 address, [::1] or localhost,
 * PORT 0..65535 (0: any free one). Into host (what evhttp binds; brackets
 * removed) and *ret_port. */
static int
ui_parse_listen(const char *s, char *host, size_t size, uint16_t *ret_port)
{
	const char *colon = strrchr(s, ':');
	struct in6_addr a6;
	struct in_addr a4;
	uint64_t port;
	size_t n;

	if (colon == NULL || !parse_u64(colon + 1, &port) || port > 65535)
		return -EINVAL;
	n = (size_t)(colon - s);
	if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n == 0 || n >= size)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = '\0';
	if (strcasecmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	if (inet_pton(AF_INET, host, &a4) == 1) {
		if ((ntohl(a4.s_addr) >> 24) != 127)
			return -EPERM;
	} else if (inet_pton(AF_INET6, host, &a6) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&a6))
			return -EPERM;
	} else {
		return -EINVAL;
	}
	*ret_port = (uint16_t)port;
	return 0;
}

static int
ui_make_token(char *buf)
{
	uint8_t raw[UI_TOKEN_BYTES];
	ssize_t n;
	size_t i;

	do
		n = getrandom(raw, sizeof(raw), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(raw))
		return -EIO;
	for (i = 0; i < sizeof(raw); i++)
		sprintf(buf + 2 * i, "%02x", raw[i]);
	return 0;
}

/* ---- checking a request ---- */

/* Constant time, so the token cannot be guessed byte by byte. */
static bool
ui_token_ok(const struct ui *u, const char *t)
{
	size_t i, n = strlen(u->token);
	unsigned diff = 0;

	if (t == NULL || strlen(t) != n)
		return false;
	for (i = 0; i < n; i++)
		diff |= (unsigned)(t[i] ^ u->token[i]);
	return diff == 0;
}

static bool
ui_host_ok(const struct ui *u, const char *host)
{
	return host != NULL &&
	       (strcasecmp(host, u->host) == 0 ||
		(u->alt_host[0] != '\0' && strcasecmp(host, u->alt_host) == 0));
}

static bool
ui_origin_ok(const struct ui *u, const char *origin)
{
	return origin != NULL && strncmp(origin, "http://", 7) == 0 &&
	       ui_host_ok(u, origin + 7);
}

/* ---- answering ---- */

static void
ui_headers(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", type);
	evhttp_add_header(h, "Content-Security-Policy",
			  "default-src 'self'; base-uri 'none'; "
			  "form-action 'none'; frame-ancestors 'none'");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
	evhttp_add_header(h, "X-Frame-Options", "DENY");
}

static void
ui_send(struct evhttp_request *req, int code, const char *reason,
	const char *type, struct evbuffer *body)
{
	ui_headers(req, type);
	evhttp_send_reply(req, code, reason, body);
}

/* A JSON string, quoted and escaped, of len bytes (any bytes: invalid
 * UTF-8 becomes \u00XX, so the answer is always valid JSON). */
static void
js_bytes(struct evbuffer *b, const void *s, size_t len)
{
	size_t n = len * ESCAPE_MAX_EXPANSION + 1;
	char *e;

	if (s == NULL) {
		evbuffer_add(b, "null", 4);
		return;
	}
	if ((e = malloc(n)) == NULL) {
		evbuffer_add(b, "\"\"", 2);
		return;
	}
	escape_json(e, n, s, len);
	evbuffer_add_printf(b, "\"%s\"", e);
	free(e);
}

static void
js_str(struct evbuffer *b, const char *s)
{
	js_bytes(b, s, s != NULL ? strlen(s) : 0);
}

/* Wall-clock ns as ms (exact in a JavaScript number); 0 is null. */
static void
js_ms(struct evbuffer *b, int64_t ns)
{
	if (ns == 0)
		evbuffer_add(b, "null", 4);
	else
		evbuffer_add_printf(b, "%" PRId64, ns / 1000000);
}

static void
ui_error(struct evhttp_request *req, int code, const char *reason,
	 const char *msg)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add_printf(b, "{\"ok\":false,\"error\":");
	js_str(b, msg);
	evbuffer_add_printf(b, "}\n");
	ui_send(req, code, reason, "application/json", b);
	evbuffer_free(b);
}

/* Answers a libevclient failure; a local one (the connection broke, the
 * daemon went away) also drops the connection, to be made again by the
 * next request. */
static void
ui_lib_error(struct ui *u, struct evhttp_request *req, int r)
{
	int code = -r, status = 502;
	const char *reason = "Bad Gateway";
	char msg[512];

	snprintf(msg, sizeof(msg), "%s",
		 u->x->c != NULL ? evc_errmsg(u->x->c) : evc_strerror(code));
	switch (code) {
	case EVC_E_NOT_FOUND:
		status = 404, reason = "Not Found";
		break;
	case EVC_E_PERMISSION_DENIED:
		status = 403, reason = "Forbidden";
		break;
	case EVC_E_FAILED_PRECONDITION:
		status = 409, reason = "Conflict";
		break;
	case EVC_E_INVALID_ARGUMENT:
	case EVC_E_USAGE:
		status = 400, reason = "Bad Request";
		break;
	default:
		break;
	}
	if (code >= EVC_E_LOCAL && code != EVC_E_USAGE) {
		evc_close(u->x->c);
		u->x->c = NULL;
	}
	ui_error(req, status, reason, msg);
}

/* The connection to evd, made again after it broke. */
static int
ui_conn(struct ui *u)
{
	char err[256];

	if (u->x->c != NULL)
		return 0;
	return evc_connect(u->x->path, "evctl-ui", u->x->request_ms, &u->x->c,
			   err, sizeof(err));
}

/* ---- timers ---- */

static void
js_run(struct evbuffer *b, const struct evc_run *r)
{
	char res[32];

	evbuffer_add_printf(b,
			    "{\"fire_id\":%" PRIu64 ",\"due_ms\":", r->fire_id);
	js_ms(b, r->due_realtime_ns);
	evbuffer_add_printf(b, ",\"fired_ms\":");
	js_ms(b, r->fired_realtime_ns);
	evbuffer_add_printf(
	    b,
	    ",\"lateness_us\":%" PRId64 ",\"outcome\":\"%s\","
	    "\"result\":\"%s\",\"failed\":%s,\"exit_code\":%d,"
	    "\"signal\":%d,\"duration_ms\":%" PRId64 ",\"detail\":",
	    r->lateness_ns / 1000, outcome_name(r->outcome),
	    result_word(r, res, sizeof(res)), run_failed(r) ? "true" : "false",
	    r->exit_code, r->signal, r->duration_ns / 1000000);
	js_str(b, r->detail);
	evbuffer_add_printf(b, ",\"stdout\":");
	js_bytes(b, r->stdout_tail, r->stdout_len);
	evbuffer_add_printf(b, ",\"stderr\":");
	js_bytes(b, r->stderr_tail, r->stderr_len);
	evbuffer_add(b, "}", 1);
}

/* What a timer does, as one line (not escaped: js_str does that). */
static char *
ui_what(const struct evc_timer_info *ti)
{
	char *s;

	if (ti->exec_argv != NULL && ti->exec_shell && ti->exec_argc > 0)
		return strdup(ti->exec_argv[0]);
	if (ti->exec_argv != NULL)
		return shell_words((const char *const *)ti->exec_argv,
				   ti->exec_argc);
	if (ti->channel == NULL)
		return strdup("(caller)");
	if ((s = malloc(strlen(ti->channel) + 9)) != NULL)
		sprintf(s, "channel %s", ti->channel);
	return s;
}

static void
ui_repeat(const struct evc_timer_info *ti, char *buf, size_t size)
{
	char d[32];

	buf[0] = '\0';
	if (ti->calendar != NULL)
		snprintf(buf, size, "%s%s%s", ti->calendar,
			 ti->tz != NULL ? " " : "",
			 ti->tz != NULL ? ti->tz : "");
	else if (ti->repeat.every_ns > 0)
		snprintf(buf, size, "every %s",
			 dur_short(ti->repeat.every_ns, d, sizeof(d)));
}

/* The fires of the next 24 hours: the next one, then for an interval
 * timer its multiples, for a calendar timer its occurrences (computed
 * here, as `evctl next` does, in the timer's zone). */
static void
js_upcoming(struct evbuffer *b, const struct evc_timer_info *ti, int64_t now_ns)
{
	int64_t end = now_ns + UI_TIMELINE_NS, t = ti->due_realtime_ns;
	struct calendar *cal = NULL;
	char err[CALENDAR_ERROR_MAX];
	uint64_t left =
	    ti->repeat.count > 0 && ti->repeat.count > ti->fire_count
		? ti->repeat.count - ti->fire_count
		: UINT64_MAX;
	int n = 0;

	evbuffer_add(b, "[", 1);
	if (ti->state != EVC_TIMER_PENDING || t <= 0 || t > end) {
		evbuffer_add(b, "]", 1);
		return;
	}
	if (ti->calendar != NULL &&
	    calendar_parse(ti->calendar, &cal, err, sizeof(err)) < 0)
		cal = NULL;
	while (t <= end && n < UI_UPCOMING_MAX && (uint64_t)n < left) {
		evbuffer_add_printf(b, "%s%" PRId64, n ? "," : "", t / 1000000);
		n++;
		if (cal != NULL) {
			if (calendar_next(
				cal, ti->tz,
				(enum calendar_gap)ti->repeat.dst_gap,
				(enum calendar_overlap)ti->repeat.dst_overlap,
				t, &t) < 0)
				break;
		} else if (ti->repeat.every_ns > 0) {
			t += ti->repeat.every_ns;
		} else {
			break;
		}
	}
	calendar_free(cal);
	evbuffer_add(b, "]", 1);
}

static const char *
ui_owner(uint32_t uid, char *buf, size_t size)
{
	struct passwd *pw = getpwuid(uid);

	if (pw != NULL)
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "%" PRIu32, uid);
	return buf;
}

static void
js_timer(struct evbuffer *b, const struct evc_timer_info *ti, int64_t now_ns)
{
	char rep[512], owner[64];
	char *what = ui_what(ti);
	size_t i;

	ui_repeat(ti, rep, sizeof(rep));
	evbuffer_add_printf(
	    b, "{\"id\":%" PRIu64 ",\"owner_uid\":%" PRIu32 ",\"owner\":",
	    ti->timer_id, ti->owner_uid);
	js_str(b, ui_owner(ti->owner_uid, owner, sizeof(owner)));
	evbuffer_add_printf(b,
			    ",\"state\":\"%s\",\"clock\":\"%s\",\"next_ms\":",
			    state_name(ti->state), clock_name(ti->clock));
	js_ms(b, ti->state == EVC_TIMER_PENDING || ti->state == EVC_TIMER_PAUSED
		     ? ti->due_realtime_ns
		     : 0);
	evbuffer_add_printf(b, ",\"kind\":\"%s\",\"what\":",
			    ti->exec_argv != NULL ? "exec"
			    : ti->channel != NULL ? "channel"
						  : "caller");
	js_str(b, what != NULL ? what : "");
	free(what);
	evbuffer_add_printf(b, ",\"channel\":");
	js_str(b, ti->channel);
	evbuffer_add_printf(b, ",\"payload\":");
	js_bytes(b, ti->payload, ti->payload_len);
	evbuffer_add_printf(b, ",\"key\":");
	js_str(b, ti->key);
	evbuffer_add_printf(b, ",\"repeat\":");
	js_str(b, rep);
	evbuffer_add_printf(b, ",\"fire_count\":%" PRIu64 ",\"last_fired_ms\":",
			    ti->fire_count);
	js_ms(b, ti->last_fired_realtime_ns);
	evbuffer_add_printf(b, ",\"upcoming_ms\":");
	js_upcoming(b, ti, now_ns);
	evbuffer_add_printf(b, ",\"runs\":[");
	for (i = 0; i < ti->history_count; i++) {
		if (i > 0)
			evbuffer_add(b, ",", 1);
		js_run(b, &ti->history[i]);
	}
	evbuffer_add(b, "]}", 2);
}

/* Every timer the caller may see (up to UI_TIMERS_MAX), ended ones
 * included, each with its newest runs: pages of tl, *ret_n of them, and
 * whether more were left out. Release each page. */
struct ui_pages {
	struct evc_timer_list page[UI_TIMERS_MAX / 100 + 2];
	size_t npages;
	size_t count;
	bool truncated;
};

static void
ui_pages_free(struct ui_pages *p)
{
	size_t i;

	for (i = 0; i < p->npages; i++)
		evc_timer_list_free(&p->page[i]);
	p->npages = 0;
}

static int
ui_list_all(struct ui *u, struct ui_pages *p)
{
	struct evc_list_options o = {0};
	int r;

	memset(p, 0, sizeof(*p));
	o.finished = true;
	o.runs = 4;
	o.limit = 100;
	for (;;) {
		if (p->npages == sizeof(p->page) / sizeof(p->page[0]) ||
		    p->count >= UI_TIMERS_MAX) {
			p->truncated = true;
			return 0;
		}
		r = evc_list_opts(u->x->c, &o, u->x->request_ms,
				  &p->page[p->npages]);
		if (r < 0) {
			ui_pages_free(p);
			return r;
		}
		p->count += p->page[p->npages].count;
		o.after_id = p->page[p->npages].next_after_id;
		p->npages++;
		if (o.after_id == 0)
			return 0;
	}
}

static void
api_timers(struct ui *u, struct evhttp_request *req)
{
	int64_t now = realtime_now_ns();
	struct ui_pages *p = malloc(sizeof(*p));
	struct evbuffer *b = evbuffer_new();
	bool first = true;
	size_t i, j;
	int r;

	if (p == NULL || b == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		goto out;
	}
	if ((r = ui_list_all(u, p)) < 0) {
		ui_lib_error(u, req, r);
		goto out;
	}
	evbuffer_add_printf(b, "{\"now_ms\":%" PRId64 ",\"uid\":%u,\"user\":",
			    now / 1000000, (unsigned)geteuid());
	js_str(b, u->user);
	evbuffer_add_printf(b, ",\"truncated\":%s,\"timers\":[",
			    p->truncated ? "true" : "false");
	for (i = 0; i < p->npages; i++)
		for (j = 0; j < p->page[i].count; j++) {
			if (!first)
				evbuffer_add(b, ",\n", 2);
			first = false;
			js_timer(b, &p->page[i].timers[j], now);
		}
	evbuffer_add_printf(b, "]}\n");
	ui_send(req, 200, "OK", "application/json", b);
	ui_pages_free(p);
out:
	free(p);
	if (b != NULL)
		evbuffer_free(b);
}

/* Whether run i of ti is superseded by a newer row of the same fire
 * (history is newest first: "started" then "exited" are one run). */
static bool
ui_superseded(const struct evc_timer_info *ti, size_t i)
{
	size_t k;

	if (ti->history[i].fire_id == 0)
		return false;
	for (k = 0; k < i; k++)
		if (ti->history[k].fire_id == ti->history[i].fire_id)
			return true;
	return false;
}

static void
js_timer_runs(struct evbuffer *b, const struct evc_timer_info *ti, bool *first,
	      size_t *n)
{
	char *what = ui_what(ti);
	size_t i;

	for (i = 0; i < ti->history_count && *n < UI_RUNS_MAX; i++) {
		if (ui_superseded(ti, i))
			continue;
		evbuffer_add_printf(b, "%s{\"timer_id\":%" PRIu64 ",\"what\":",
				    *first ? "" : ",\n", ti->timer_id);
		js_str(b, what != NULL ? what : "");
		evbuffer_add_printf(
		    b, ",\"owner_uid\":%" PRIu32 ",\"run\":", ti->owner_uid);
		js_run(b, &ti->history[i]);
		evbuffer_add(b, "}", 1);
		*first = false;
		(*n)++;
	}
	free(what);
}

/* GET /api/timers/ID/runs: one timer's runs with their output tails. */
static void
api_timer_runs(struct ui *u, struct evhttp_request *req, uint64_t id)
{
	struct evc_timer_info ti;
	struct evbuffer *b;
	bool first = true;
	size_t n = 0;
	int r;

	if ((r = evc_get(u->x->c, id, u->x->request_ms, &ti)) < 0) {
		ui_lib_error(u, req, r);
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		evc_timer_info_free(&ti);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add_printf(b, "{\"timer\":");
	js_timer(b, &ti, realtime_now_ns());
	evbuffer_add_printf(b, ",\"runs\":[");
	js_timer_runs(b, &ti, &first, &n);
	evbuffer_add_printf(b, "]}\n");
	ui_send(req, 200, "OK", "application/json", b);
	evbuffer_free(b);
	evc_timer_info_free(&ti);
}

static int
last_fired_cmp(const void *a, const void *b)
{
	int64_t p =
	    (*(const struct evc_timer_info *const *)a)->last_fired_realtime_ns;
	int64_t q =
	    (*(const struct evc_timer_info *const *)b)->last_fired_realtime_ns;

	return p < q ? 1 : p > q ? -1 : 0;
}

/* GET /api/runs: the recent runs of the timers that ran last, newest
 * timer first, with output tails (evc_get of each). */
static void
api_runs(struct ui *u, struct evhttp_request *req)
{
	const struct evc_timer_info **fired = NULL;
	struct ui_pages *p = malloc(sizeof(*p));
	struct evbuffer *b = evbuffer_new();
	struct evc_timer_info ti;
	size_t i, j, nf = 0, n = 0;
	bool first = true;
	int r;

	if (p == NULL || b == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		goto out;
	}
	if ((r = ui_list_all(u, p)) < 0) {
		ui_lib_error(u, req, r);
		goto out;
	}
	if ((fired = calloc(p->count + 1, sizeof(*fired))) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		goto out_pages;
	}
	for (i = 0; i < p->npages; i++)
		for (j = 0; j < p->page[i].count; j++)
			if (p->page[i].timers[j].history_count > 0)
				fired[nf++] = &p->page[i].timers[j];
	qsort(fired, nf, sizeof(*fired), last_fired_cmp);
	evbuffer_add_printf(b, "{\"runs\":[");
	for (i = 0; i < nf && i < UI_RUNS_TIMERS; i++) {
		/* A timer cancelled or forgotten meanwhile is left out. */
		r = evc_get(u->x->c, fired[i]->timer_id, u->x->request_ms, &ti);
		if (r == -EVC_E_NOT_FOUND)
			continue;
		if (r < 0) {
			ui_lib_error(u, req, r);
			goto out_pages;
		}
		js_timer_runs(b, &ti, &first, &n);
		evc_timer_info_free(&ti);
	}
	evbuffer_add_printf(b, "]}\n");
	ui_send(req, 200, "OK", "application/json", b);
out_pages:
	ui_pages_free(p);
out:
	free(fired);
	free(p);
	if (b != NULL)
		evbuffer_free(b);
}

/* ---- channels ---- */

static void
js_channel(struct ui *u, struct evbuffer *b, const struct evc_channel_info *ci)
{
	struct evc_dead_letters dl;
	char owner[64];
	size_t i;

	evbuffer_add_printf(b, "{\"name\":");
	js_str(b, ci->channel);
	evbuffer_add_printf(
	    b, ",\"owner_uid\":%" PRIu32 ",\"owner\":", ci->owner_uid);
	js_str(b, ui_owner(ci->owner_uid, owner, sizeof(owner)));
	evbuffer_add_printf(b,
			    ",\"queued\":%" PRIu64 ",\"inflight\":%" PRIu64
			    ",\"dead\":%" PRIu64 ",\"subscribers\":%" PRIu32
			    ",\"dead_letters\":[",
			    ci->queued_messages, ci->inflight_messages,
			    ci->dead_messages, ci->subscribers);
	/* Those the caller may see; a failure leaves the list empty (the
	 * counts still say how many there are). */
	if (ci->dead_messages > 0 &&
	    evc_list_dead_letters(u->x->c, ci->channel, 0, UI_DEAD_PER_CHANNEL,
				  u->x->request_ms, &dl) == 0) {
		for (i = 0; i < dl.count; i++) {
			const struct evc_fired *m = &dl.letters[i].msg;

			evbuffer_add_printf(
			    b,
			    "%s{\"fire_id\":%" PRIu64 ",\"timer_id\":%" PRIu64
			    ",\"attempt\":%" PRIu32 ",\"fired_ms\":",
			    i ? "," : "", m->fire_id, m->timer_id, m->attempt);
			js_ms(b, m->fired_realtime_ns);
			evbuffer_add_printf(b, ",\"payload\":");
			js_bytes(b, m->payload, m->payload_len);
			evbuffer_add_printf(b, ",\"reason\":");
			js_str(b, dl.letters[i].reason);
			evbuffer_add(b, "}", 1);
		}
		evc_dead_letters_free(&dl);
	}
	evbuffer_add(b, "]}", 2);
}

static void
api_channels(struct ui *u, struct evhttp_request *req)
{
	struct evc_channel_list cl = {0};
	struct evbuffer *b = evbuffer_new();
	char *after = NULL;
	size_t i, n = 0;
	int r;

	if (b == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add_printf(b, "{\"channels\":[");
	do {
		r = evc_list_channels(u->x->c, after, 100, u->x->request_ms,
				      &cl);
		free(after);
		after = NULL;
		if (r < 0) {
			ui_lib_error(u, req, r);
			goto out;
		}
		for (i = 0; i < cl.count && n < UI_CHANNELS_MAX; i++, n++) {
			if (n > 0)
				evbuffer_add(b, ",\n", 2);
			js_channel(u, b, &cl.channels[i]);
		}
		if (cl.next_after != NULL && n < UI_CHANNELS_MAX &&
		    (after = strdup(cl.next_after)) == NULL) {
			evc_channel_list_free(&cl);
			evhttp_send_error(req, HTTP_INTERNAL, NULL);
			goto out;
		}
		evc_channel_list_free(&cl);
	} while (after != NULL);
	evbuffer_add_printf(b, "],\"truncated\":%s}\n",
			    n >= UI_CHANNELS_MAX ? "true" : "false");
	ui_send(req, 200, "OK", "application/json", b);
out:
	evbuffer_free(b);
}

/* ---- stats ---- */

/* The buckets of evd's evd_fire_lateness_seconds, in microseconds, so
 * that the dashboard and a Grafana panel read alike. */
static const int64_t lateness_le_us[] = {50,	100,	250,	 500,
					 1000,	2500,	5000,	 10000,
					 50000, 100000, 1000000, 10000000};
#define NLATENESS (sizeof(lateness_le_us) / sizeof(lateness_le_us[0]))

/* GET /api/stats: the daemon's counters, and the lateness histogram of
 * the runs the caller may see (each timer's newest four): evd's own
 * histogram covers every user, this one only what the page shows. */
static void
api_stats(struct ui *u, struct evhttp_request *req)
{
	uint64_t counts[NLATENESS + 1] = {0}, total = 0;
	struct ui_pages *p = malloc(sizeof(*p));
	struct evbuffer *b = evbuffer_new();
	struct evc_cluster_stats cs = {0};
	struct evc_stats st;
	size_t i, j, k, h;
	int r;

	if (p == NULL || b == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		goto out;
	}
	if ((r = evc_stats(u->x->c, u->x->request_ms, &st)) < 0) {
		ui_lib_error(u, req, r);
		goto out;
	}
	if ((r = evc_cluster_stats(u->x->c, u->x->request_ms, &cs)) < 0 ||
	    (r = ui_list_all(u, p)) < 0) {
		evc_stats_free(&st);
		evc_cluster_stats_free(&cs);
		ui_lib_error(u, req, r);
		goto out;
	}
	for (i = 0; i < p->npages; i++)
		for (j = 0; j < p->page[i].count; j++) {
			const struct evc_timer_info *ti = &p->page[i].timers[j];

			for (h = 0; h < ti->history_count; h++) {
				const struct evc_run *run = &ti->history[h];

				if (run->fired_realtime_ns == 0 ||
				    ui_superseded(ti, h))
					continue;
				for (k = 0;
				     k < NLATENESS && run->lateness_ns / 1000 >
							  lateness_le_us[k];
				     k++)
					;
				counts[k]++;
				total++;
			}
		}
	evbuffer_add_printf(
	    b,
	    "{\"pending_timers\":%" PRIu64 ",\"connections\":%" PRIu64
	    ",\"scheduled_total\":%" PRIu64 ",\"fired_total\":%" PRIu64
	    ",\"cancelled_total\":%" PRIu64 ",\"channels\":%" PRIu64
	    ",\"queued_messages\":%" PRIu64 ",\"inflight_messages\":%" PRIu64
	    ",\"dead_messages\":%" PRIu64 ",\"redelivered_total\":%" PRIu64
	    ",\"uptime_s\":%" PRId64 ",\"server_version\":",
	    st.pending_timers, st.connections, st.scheduled_total,
	    st.fired_total, st.cancelled_total, st.channels, st.queued_messages,
	    st.inflight_messages, st.dead_messages, st.redelivered_total,
	    st.uptime_ns / 1000000000);
	js_str(b, st.server_version);
	evbuffer_add_printf(b, ",\"store\":");
	js_str(b, st.store);
	/* Cluster mode: this node (evctl stats' "node"); null otherwise. */
	evbuffer_add_printf(b, ",\"node\":");
	if (cs.node == NULL)
		evbuffer_add_printf(b, "null");
	else {
		evbuffer_add_printf(b, "{\"id\":");
		js_str(b, cs.node);
		evbuffer_add_printf(
		    b,
		    ",\"lease_live\":%s,\"claims_held\":%" PRIu64
		    ",\"claimed_total\":%" PRIu64 ",\"fence_losses\":%" PRIu64
		    ",\"reaped_nodes\":%" PRIu64 ",\"reaped_timers\":%" PRIu64
		    ",\"lease_lapses\":%" PRIu64 ",\"lease_gaps\":%" PRIu64
		    ",\"db_rtt_last_us\":%" PRId64 ",\"db_rtt_p99_us\":%" PRId64
		    ",\"db_rtt_max_us\":%" PRId64 ",\"db_unanswered_us\":%" PRId64
		    "}",
		    cs.lease_live ? "true" : "false", cs.claims_held,
		    cs.claimed_total, cs.fence_losses, cs.reaped_nodes,
		    cs.reaped_timers, cs.lease_lapses, cs.lease_gaps,
		    cs.db_rtt_last_ns / 1000, cs.db_rtt_p99_ns / 1000,
		    cs.db_rtt_max_ns / 1000, cs.db_unanswered_ns / 1000);
	}
	evbuffer_add_printf(
	    b, ",\"lateness\":{\"runs\":%" PRIu64 ",\"buckets\":[", total);
	for (k = 0; k <= NLATENESS; k++) {
		if (k < NLATENESS)
			evbuffer_add_printf(b, "%s{\"le_us\":%" PRId64,
					    k ? "," : "", lateness_le_us[k]);
		else
			evbuffer_add_printf(b, ",{\"le_us\":null");
		evbuffer_add_printf(b, ",\"count\":%" PRIu64 "}", counts[k]);
	}
	evbuffer_add_printf(b, "]}}\n");
	ui_send(req, 200, "OK", "application/json", b);
	evc_stats_free(&st);
	evc_cluster_stats_free(&cs);
	ui_pages_free(p);
out:
	free(p);
	if (b != NULL)
		evbuffer_free(b);
}

/* ---- actions ---- */

static void
ui_ok(struct evhttp_request *req, uint64_t count)
{
	struct evbuffer *b = evbuffer_new();

	if (b == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add_printf(b, "{\"ok\":true,\"count\":%" PRIu64 "}\n", count);
	ui_send(req, 200, "OK", "application/json", b);
	evbuffer_free(b);
}

/* POST /api/timers/ID/ACTION */
static void
api_timer_action(struct ui *u, struct evhttp_request *req, uint64_t id,
		 const char *action)
{
	static const struct {
		const char *name;
		int (*fn)(struct evc *, uint64_t, int, struct evc_timer_info *);
	} acts[] = {
	    {"pause", evc_pause},
	    {"resume", evc_resume},
	    {"trigger", evc_trigger},
	    {"retry", evc_retry},
	};
	size_t i;
	int r;

	if (strcmp(action, "cancel") == 0) {
		r = evc_cancel(u->x->c, id, u->x->request_ms);
		if (r < 0)
			ui_lib_error(u, req, r);
		else
			ui_ok(req, 1);
		return;
	}
	for (i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
		if (strcmp(action, acts[i].name) == 0) {
			r = acts[i].fn(u->x->c, id, u->x->request_ms, NULL);
			if (r < 0)
				ui_lib_error(u, req, r);
			else
				ui_ok(req, 1);
			return;
		}
	ui_error(req, 404, "Not Found", "no such action");
}

/* POST /api/dead/requeue?channel=NAME[&fire=ID] (no fire: all). */
static void
api_requeue(struct ui *u, struct evhttp_request *req, const struct evkeyvalq *q)
{
	const char *ch = evhttp_find_header(q, "channel");
	const char *fire = evhttp_find_header(q, "fire");
	uint64_t fire_id = 0, n = 0;
	int r;

	if (ch == NULL || ch[0] == '\0' ||
	    (fire != NULL && !parse_u64(fire, &fire_id))) {
		ui_error(req, 400, "Bad Request",
			 "requeue takes channel=NAME and optionally fire=ID");
		return;
	}
	r = evc_requeue_dead(u->x->c, ch, fire_id, u->x->request_ms, &n);
	if (r < 0)
		ui_lib_error(u, req, r);
	else
		ui_ok(req, n);
}

/* ---- routing ---- */

static void
ui_asset(struct evhttp_request *req, const char *path)
{
	const struct ui_asset *a;
	struct evbuffer *b;

	for (a = ui_assets; a->path != NULL; a++)
		if (strcmp(a->path, path) == 0)
			break;
	if (a->path == NULL) {
		ui_error(req, 404, "Not Found", "not found");
		return;
	}
	if ((b = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add_reference(b, a->data, a->size, NULL, NULL);
	ui_send(req, 200, "OK", a->type, b);
	evbuffer_free(b);
}

/* "/api/timers/ID/REST": ID and REST ("runs", an action). */
static bool
ui_timer_path(const char *path, uint64_t *ret_id, const char **ret_rest)
{
	const char *p = path + strlen("/api/timers/"), *slash;
	char num[24];
	size_t n;

	if ((slash = strchr(p, '/')) == NULL)
		return false;
	n = (size_t)(slash - p);
	if (n == 0 || n >= sizeof(num))
		return false;
	memcpy(num, p, n);
	num[n] = '\0';
	if (!parse_u64(num, ret_id) || *ret_id == 0 ||
	    strchr(slash + 1, '/') != NULL)
		return false;
	*ret_rest = slash + 1;
	return true;
}

/* The page and its two files: no data in them, so no token needed. */
static bool
ui_is_asset(const char *path)
{
	return strcmp(path, "/") == 0 || strcmp(path, "/ui.js") == 0 ||
	       strcmp(path, "/ui.css") == 0;
}

static void
ui_route(struct ui *u, struct evhttp_request *req, const char *path,
	 const struct evkeyvalq *q, bool post)
{
	const char *rest;
	uint64_t id;
	int r;

	if (!post && ui_is_asset(path)) {
		ui_asset(req, strcmp(path, "/") == 0 ? "/index.html" : path);
		return;
	}
	if (strncmp(path, "/api/", 5) != 0) {
		ui_error(req, 404, "Not Found", "not found");
		return;
	}
	if ((r = ui_conn(u)) < 0) {
		ui_lib_error(u, req, r);
		return;
	}
	if (!post && strcmp(path, "/api/timers") == 0)
		api_timers(u, req);
	else if (!post && strcmp(path, "/api/runs") == 0)
		api_runs(u, req);
	else if (!post && strcmp(path, "/api/channels") == 0)
		api_channels(u, req);
	else if (!post && strcmp(path, "/api/stats") == 0)
		api_stats(u, req);
	else if (post && strcmp(path, "/api/dead/requeue") == 0)
		api_requeue(u, req, q);
	else if (strncmp(path, "/api/timers/", 12) == 0 &&
		 ui_timer_path(path, &id, &rest)) {
		if (strcmp(rest, "runs") == 0 && !post)
			api_timer_runs(u, req, id);
		else if (strcmp(rest, "runs") != 0 && post)
			api_timer_action(u, req, id, rest);
		else
			ui_error(req, 405, "Method Not Allowed",
				 "actions are POST, views are GET");
	} else {
		ui_error(req, 404, "Not Found", "not found");
	}
}

static void
ui_request_cb(struct evhttp_request *req, void *arg)
{
	struct ui *u = arg;
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *origin = evhttp_find_header(in, "Origin");
	const char *site = evhttp_find_header(in, "Sec-Fetch-Site");
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	struct evkeyvalq q;
	bool post = cmd == EVHTTP_REQ_POST, asset;

	TAILQ_INIT(&q);
	if (path == NULL || path[0] == '\0')
		path = "/";
	asset = !post && ui_is_asset(path);
	if (query != NULL && evhttp_parse_query_str(query, &q) < 0) {
		ui_error(req, 400, "Bad Request", "bad query");
		return;
	}
	/* The name the browser used must be ours: a page that rebound its
	 * own name to 127.0.0.1 sends that name. */
	if (!ui_host_ok(u, evhttp_find_header(in, "Host"))) {
		ui_error(req, 403, "Forbidden", "wrong Host");
		goto out;
	}
	/* The page itself may be reached from anywhere (the opener's file
	 * is another site): it holds no data, and the token it then reads
	 * from its fragment never reaches a server. */
	if (!asset &&
	    ((origin != NULL && !ui_origin_ok(u, origin)) ||
	     (site != NULL && strcmp(site, "same-origin") != 0 &&
	      strcmp(site, "none") != 0))) {
		ui_error(req, 403, "Forbidden", "cross-origin request refused");
		goto out;
	}
	if (post && origin == NULL) {
		ui_error(req, 403, "Forbidden",
			 "actions need an Origin header naming this address");
		goto out;
	}
	/* The header only: no cookie (a browser sends it to every port of
	 * the host) and no ?token= (it would end up in command lines and
	 * histories); a page of another origin cannot add a header without
	 * a CORS preflight, and OPTIONS is not even an allowed method. */
	if (!asset && !ui_token_ok(u, evhttp_find_header(in, "X-Evd-Token"))) {
		ui_error(req, 403, "Forbidden",
			 "a token is needed: open the URL evctl ui printed");
		goto out;
	}
	ui_route(u, req, path, &q, post);
out:
	evhttp_clear_headers(&q);
}

/* ---- the opener ---- */

/*
 * Opens the dashboard in the user's browser, unless --no-open or there
 * is no display. The token must not appear in a command line (other
 * users read /proc/PID/cmdline), so the browser gets a file, private
 * to the caller, that redirects to the tokened URL, as Jupyter does.
 */
static void
ui_open(struct ui *u)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	char file[192];
	pid_t pid;
	FILE *f;
	int fd;

	if ((getenv("DISPLAY") == NULL && getenv("WAYLAND_DISPLAY") == NULL))
		return;
	snprintf(u->redirect_dir, sizeof(u->redirect_dir), "%s/evctl-ui-XXXXXX",
		 rt != NULL && rt[0] == '/' ? rt : "/tmp");
	if (mkdtemp(u->redirect_dir) == NULL) {
		u->redirect_dir[0] = '\0';
		return;
	}
	snprintf(file, sizeof(file), "%s/open.html", u->redirect_dir);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	fprintf(f,
		"<!DOCTYPE html><meta http-equiv=\"refresh\" "
		"content=\"0;url=%s\"><a href=\"%s\">evd</a>\n",
		u->url, u->url);
	fclose(f);
	/* Twice forked: the opener is not ours to reap. */
	if ((pid = fork()) == 0) {
		if (fork() == 0) {
			int null = open("/dev/null", O_RDWR);

			if (null >= 0) {
				dup2(null, 1);
				dup2(null, 2);
			}
			execlp("xdg-open", "xdg-open", file, (char *)NULL);
			_exit(127);
		}
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static void
ui_open_cleanup(struct ui *u)
{
	char file[192];

	if (u->redirect_dir[0] == '\0')
		return;
	snprintf(file, sizeof(file), "%s/open.html", u->redirect_dir);
	unlink(file);
	rmdir(u->redirect_dir);
}

static void
ui_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct ui *u = arg;

	(void)sig;
	(void)what;
	event_base_loopexit(u->base, NULL);
}

int
verb_ui(struct ctl *x)
{
	struct evhttp_bound_socket *bound;
	struct event *sigint = NULL, *sigterm = NULL;
	struct sockaddr_storage ss;
	socklen_t slen = sizeof(ss);
	char host[64], owner[64];
	struct ui u = {0};
	uint16_t port = 0;
	int r, status = EXIT_UNREACHABLE;

	u.x = x;
	/* Set by evctl's handover (evctl_ui_exec.c); not for the opener. */
	unsetenv("EVCTL_UI_EXEC");
	/* A local verb in evctl's table (evctl does not connect before it
	 * hands over); the dashboard needs evd from the start. */
	if ((r = ctl_connect(x)) != 0)
		return r;
	r = ui_parse_listen(x->listen != NULL ? x->listen : "127.0.0.1:0", host,
			    sizeof(host), &port);
	if (r == -EPERM)
		return usage_error("--listen %s is not a loopback address: "
				   "the dashboard listens on 127.0.0.1 or "
				   "[::1] only",
				   x->listen);
	if (r < 0)
		return usage_error("--listen takes 127.0.0.1:PORT, "
				   "[::1]:PORT or localhost:PORT, not '%s'",
				   x->listen);
	if (ui_make_token(u.token) < 0) {
		ctl_warnx("ui: cannot read random bytes for the token: %s",
			  strerror(errno));
		return EXIT_UNREACHABLE;
	}
	snprintf(u.user, sizeof(u.user), "%s",
		 ui_owner((uint32_t)geteuid(), owner, sizeof(owner)));
	/* Writing to a browser that went away must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if ((u.base = event_base_new()) == NULL ||
	    (u.http = evhttp_new(u.base)) == NULL) {
		ctl_warnx("ui: out of memory");
		goto out;
	}
	evhttp_set_max_headers_size(u.http, UI_HEADERS_MAX);
	evhttp_set_max_body_size(u.http, UI_BODY_MAX);
	evhttp_set_timeout(u.http, UI_REQUEST_TIMEOUT_S);
	evhttp_set_allowed_methods(u.http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
					       EVHTTP_REQ_POST);
	evhttp_set_gencb(u.http, ui_request_cb, &u);
	bound = evhttp_bind_socket_with_handle(u.http, host, port);
	if (bound == NULL || getsockname(evhttp_bound_socket_get_fd(bound),
					 (struct sockaddr *)&ss, &slen) < 0) {
		ctl_warnx("ui: cannot listen on %s port %u: %s", host,
			  (unsigned)port, strerror(errno));
		status = EXIT_REFUSED;
		goto out;
	}
	port = ntohs(ss.ss_family == AF_INET6
			 ? ((struct sockaddr_in6 *)&ss)->sin6_port
			 : ((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6) {
		snprintf(u.host, sizeof(u.host), "[%s]:%u", host,
			 (unsigned)port);
	} else {
		snprintf(u.host, sizeof(u.host), "%s:%u", host, (unsigned)port);
		if (strcmp(host, "127.0.0.1") == 0)
			snprintf(u.alt_host, sizeof(u.alt_host), "localhost:%u",
				 (unsigned)port);
	}
	/* In the fragment, which a browser sends to no server. */
	snprintf(u.url, sizeof(u.url), "http://%s/#token=%s", u.host, u.token);
	sigint = evsignal_new(u.base, SIGINT, ui_signal_cb, &u);
	sigterm = evsignal_new(u.base, SIGTERM, ui_signal_cb, &u);
	if (sigint == NULL || sigterm == NULL || evsignal_add(sigint, NULL) ||
	    evsignal_add(sigterm, NULL)) {
		ctl_warnx("ui: cannot catch signals");
		goto out;
	}
	if (x->json) {
		struct jw w;

		jw_begin(&w);
		jw_str(&w, "url", u.url);
		jw_u64(&w, "port", port);
		jw_end(&w);
	} else {
		printf("evd dashboard for %s: %s\n(Ctrl-C stops it)\n", u.user,
		       u.url);
	}
	if ((status = check_stdout()) != 0)
		goto out;
	if (!(x->opts_seen & OPT_NO_OPEN))
		ui_open(&u);
	event_base_dispatch(u.base);
	status = 0;
out:
	ui_open_cleanup(&u);
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	if (u.http != NULL)
		evhttp_free(u.http);
	if (u.base != NULL)
		event_base_free(u.base);
	return status;
}
