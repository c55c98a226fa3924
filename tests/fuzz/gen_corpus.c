/*
 * gen_corpus: writes the seed corpus of fuzz_request: for every Request
 * type of proto/evd.proto, a file holding a stream of framed, valid
 * requests that exercise it (with what it needs first: a timer to
 * cancel, a channel to grant on), plus one file with every type.
 *
 * Usage: gen_corpus DIR (tests/fuzz/corpus/request). Its output is
 * committed; run it again when the protocol changes. The harness sends a
 * Hello before each input, so the streams need none, but hello.bin tests
 * a second one. Timer ids and fire ids start at 1 in the harness's fresh
 * daemon, so the requests can name them. Exec timers are set far in the
 * future or (exec_past) in the past: the harness never spawns anything.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evd.pb-c.h"
#include "frame.h"

/* The stream being built. */
static struct {
	uint8_t buf[65536];
	size_t len;
	uint64_t next_id; /* request ids 1, 2, ... */
	const char *dir;
	int failed;
} gen;

#define SEC INT64_C(1000000000)
/* 2100-01-01T00:00:00Z and 1970-01-01T00:00:01Z. */
#define FAR_RT_NS (INT64_C(4102444800) * SEC)
#define PAST_RT_NS (1 * SEC)

static void
emit(Evd__Request *rq)
{
	size_t n;

	rq->has_request_id = true;
	rq->request_id = ++gen.next_id;
	n = evd__request__get_packed_size(rq);
	if (gen.len + FRAME_HEADER_LEN + n > sizeof gen.buf ||
	    frame_put_header(gen.buf + gen.len, n) < 0) {
		fprintf(stderr, "gen_corpus: stream too large\n");
		exit(1);
	}
	evd__request__pack(rq, gen.buf + gen.len + FRAME_HEADER_LEN);
	gen.len += FRAME_HEADER_LEN + n;
}

/* Makes the 0x7f bytes of marked, where it last occurs in the stream, NUL
 * bytes: protobuf-c packs a char * only up to its first NUL. */
static void
nul_patch(const char *marked)
{
	size_t mlen = strlen(marked), i;
	uint8_t *p, *last = NULL;

	for (p = gen.buf; p + mlen <= gen.buf + gen.len; p++)
		if (memcmp(p, marked, mlen) == 0)
			last = p;
	if (last == NULL) {
		fprintf(stderr, "gen_corpus: %s not in the stream\n", marked);
		exit(1);
	}
	for (i = 0; i < mlen; i++)
		if (last[i] == 0x7f)
			last[i] = 0;
}

static void
save(const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", gen.dir, name);
	if ((f = fopen(path, "wb")) == NULL ||
	    fwrite(gen.buf, 1, gen.len, f) != gen.len || fclose(f) != 0) {
		fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
		gen.failed = 1;
	}
	gen.len = 0;
	gen.next_id = 0;
}

static void
hello(uint32_t version)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Hello h = EVD__HELLO__INIT;

	h.has_protocol_version = true;
	h.protocol_version = version;
	h.client_name = "gen_corpus";
	rq.body_case = EVD__REQUEST__BODY_HELLO;
	rq.hello = &h;
	emit(&rq);
}

/* A callback: to the caller (channel and argv NULL), a channel or exec. */
static void
callback(Evd__Callback *cb, Evd__Exec *x, const char *channel,
         const char *const *argv, size_t argc, const char *payload)
{
	evd__callback__init(cb);
	if (channel != NULL) {
		cb->target_case = EVD__CALLBACK__TARGET_CHANNEL;
		cb->channel = (char *)channel;
	} else if (argv != NULL) {
		evd__exec__init(x);
		x->n_argv = argc;
		x->argv = (char **)argv;
		cb->target_case = EVD__CALLBACK__TARGET_EXEC;
		cb->exec = x;
	}
	if (payload != NULL) {
		cb->has_payload = true;
		cb->payload.data = (uint8_t *)payload;
		cb->payload.len = strlen(payload);
	}
}

static void
call_soon(const char *channel, const char *key, const Evd__TimerOptions *o)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallSoon m = EVD__CALL_SOON__INIT;
	Evd__Callback cb;
	Evd__Exec x;

	callback(&cb, &x, channel, NULL, 0, "soon");
	m.callback = &cb;
	m.key = (char *)key;
	m.options = (Evd__TimerOptions *)o;
	rq.body_case = EVD__REQUEST__BODY_CALL_SOON;
	rq.call_soon = &m;
	emit(&rq);
}

static void
call_later(int64_t delay_ns, int clock, const char *channel,
           const char *const *argv, size_t argc, const char *key)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallLater m = EVD__CALL_LATER__INIT;
	Evd__Callback cb;
	Evd__Exec x;

	callback(&cb, &x, channel, argv, argc, "later");
	m.has_delay_ns = true;
	m.delay_ns = delay_ns;
	if (clock >= 0) {
		m.has_clock = true;
		m.clock = clock;
	}
	m.callback = &cb;
	m.key = (char *)key;
	rq.body_case = EVD__REQUEST__BODY_CALL_LATER;
	rq.call_later = &m;
	emit(&rq);
}

static void
call_at(int64_t when_ns, int clock, const char *channel,
        const char *const *argv, size_t argc, const Evd__TimerOptions *o)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CallAt m = EVD__CALL_AT__INIT;
	Evd__Callback cb;
	Evd__Exec x;

	callback(&cb, &x, channel, argv, argc, "at");
	m.has_when_ns = true;
	m.when_ns = when_ns;
	if (clock >= 0) {
		m.has_clock = true;
		m.clock = clock;
	}
	m.callback = &cb;
	m.options = (Evd__TimerOptions *)o;
	rq.body_case = EVD__REQUEST__BODY_CALL_AT;
	rq.call_at = &m;
	emit(&rq);
}

/* The requests that name one id: Cancel, Get, Wait, Ack, Retry. */
static void
by_id(int body, uint64_t id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Cancel c = EVD__CANCEL__INIT;
	Evd__Get g = EVD__GET__INIT;
	Evd__Wait w = EVD__WAIT__INIT;
	Evd__Ack a = EVD__ACK__INIT;
	Evd__Retry rt = EVD__RETRY__INIT;

	rq.body_case = body;
	switch (body) {
	case EVD__REQUEST__BODY_CANCEL:
		c.has_timer_id = true;
		c.timer_id = id;
		rq.cancel = &c;
		break;
	case EVD__REQUEST__BODY_GET:
		g.has_timer_id = true;
		g.timer_id = id;
		rq.get = &g;
		break;
	case EVD__REQUEST__BODY_WAIT:
		w.has_timer_id = true;
		w.timer_id = id;
		rq.wait = &w;
		break;
	case EVD__REQUEST__BODY_ACK:
		a.has_fire_id = true;
		a.fire_id = id;
		rq.ack = &a;
		break;
	case EVD__REQUEST__BODY_RETRY:
		rt.has_timer_id = true;
		rt.timer_id = id;
		rq.retry = &rt;
		break;
	}
	emit(&rq);
}

static void
list(const char *channel, uint64_t after_id, uint32_t limit)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__List m = EVD__LIST__INIT;

	m.channel = (char *)channel;
	m.has_after_id = after_id != 0;
	m.after_id = after_id;
	m.has_limit = limit != 0;
	m.limit = limit;
	rq.body_case = EVD__REQUEST__BODY_LIST;
	rq.list = &m;
	emit(&rq);
}

/* List with ended timers and runs (issue 17). */
static void
list_finished(const char *channel, uint64_t after_id, uint32_t limit,
              uint32_t runs)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__List m = EVD__LIST__INIT;

	m.channel = (char *)channel;
	m.has_after_id = after_id != 0;
	m.after_id = after_id;
	m.has_limit = limit != 0;
	m.limit = limit;
	m.has_finished = 1;
	m.finished = 1;
	m.has_runs = runs != 0;
	m.runs = runs;
	rq.body_case = EVD__REQUEST__BODY_LIST;
	rq.list = &m;
	emit(&rq);
}

static void
time_stats(void)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Time t = EVD__TIME__INIT;
	Evd__Stats s = EVD__STATS__INIT;

	rq.body_case = EVD__REQUEST__BODY_TIME;
	rq.time = &t;
	emit(&rq);
	rq.body_case = EVD__REQUEST__BODY_STATS;
	rq.stats = &s;
	emit(&rq);
}

static void
subscribe(const char *channel, int64_t visibility_ns)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Subscribe m = EVD__SUBSCRIBE__INIT;

	m.channel = (char *)channel;
	m.has_visibility_timeout_ns = visibility_ns != 0;
	m.visibility_timeout_ns = visibility_ns;
	rq.body_case = EVD__REQUEST__BODY_SUBSCRIBE;
	rq.subscribe = &m;
	emit(&rq);
}

static void
list_dead(const char *channel, uint64_t after, uint32_t limit)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__ListDead m = EVD__LIST_DEAD__INIT;

	m.channel = (char *)channel;
	m.has_after_fire_id = after != 0;
	m.after_fire_id = after;
	m.has_limit = limit != 0;
	m.limit = limit;
	rq.body_case = EVD__REQUEST__BODY_LIST_DEAD;
	rq.list_dead = &m;
	emit(&rq);
}

static void
requeue_dead(const char *channel, uint64_t fire_id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__RequeueDead m = EVD__REQUEUE_DEAD__INIT;

	m.channel = (char *)channel;
	m.has_fire_id = true;
	m.fire_id = fire_id;
	rq.body_case = EVD__REQUEST__BODY_REQUEUE_DEAD;
	rq.requeue_dead = &m;
	emit(&rq);
}

static void
purge_dead(const char *channel, uint64_t fire_id)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__PurgeDead m = EVD__PURGE_DEAD__INIT;

	m.channel = (char *)channel;
	m.has_fire_id = true;
	m.fire_id = fire_id;
	rq.body_case = EVD__REQUEST__BODY_PURGE_DEAD;
	rq.purge_dead = &m;
	emit(&rq);
}

static void
purge(const char *channel, bool has_from, uint32_t from)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Purge m = EVD__PURGE__INIT;

	m.channel = (char *)channel;
	m.has_from_uid = has_from;
	m.from_uid = from;
	rq.body_case = EVD__REQUEST__BODY_PURGE;
	rq.purge = &m;
	emit(&rq);
}

static void
cancel_all(const char *channel, bool has_uid, uint32_t uid)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__CancelAll m = EVD__CANCEL_ALL__INIT;

	m.channel = (char *)channel;
	m.has_uid = has_uid;
	m.uid = uid;
	rq.body_case = EVD__REQUEST__BODY_CANCEL_ALL;
	rq.cancel_all = &m;
	emit(&rq);
}

static void
list_channels(const char *after, uint32_t limit)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__ListChannels m = EVD__LIST_CHANNELS__INIT;

	m.after = (char *)after;
	m.has_limit = limit != 0;
	m.limit = limit;
	rq.body_case = EVD__REQUEST__BODY_LIST_CHANNELS;
	rq.list_channels = &m;
	emit(&rq);
}

static void
peek(const char *channel, uint32_t limit)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Peek m = EVD__PEEK__INIT;

	m.channel = (char *)channel;
	m.has_limit = limit != 0;
	m.limit = limit;
	rq.body_case = EVD__REQUEST__BODY_PEEK;
	rq.peek = &m;
	emit(&rq);
}

static void
reject(uint64_t fire_id, const char *reason, bool dead, const char *channel)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Reject m = EVD__REJECT__INIT;

	m.has_fire_id = true;
	m.fire_id = fire_id;
	m.reason = (char *)reason;
	m.has_dead_letter = dead;
	m.dead_letter = dead;
	m.channel = (char *)channel;
	rq.body_case = EVD__REQUEST__BODY_REJECT;
	rq.reject = &m;
	emit(&rq);
}

static void
unsubscribe(const char *channel)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Unsubscribe m = EVD__UNSUBSCRIBE__INIT;

	m.channel = (char *)channel;
	rq.body_case = EVD__REQUEST__BODY_UNSUBSCRIBE;
	rq.unsubscribe = &m;
	emit(&rq);
}

/* who: 'u' (uid) or 'g' (gid). */
static void
channel_grant(const char *channel, char who, uint32_t id, bool sub,
              bool pub, bool revoke)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__ChannelGrant m = EVD__CHANNEL_GRANT__INIT;

	m.channel = (char *)channel;
	if (who == 'u') {
		m.who_case = EVD__CHANNEL_GRANT__WHO_UID;
		m.uid = id;
	} else {
		m.who_case = EVD__CHANNEL_GRANT__WHO_GID;
		m.gid = id;
	}
	m.has_subscribe = m.has_publish = true;
	m.subscribe = sub;
	m.publish = pub;
	m.has_revoke = revoke;
	m.revoke = revoke;
	rq.body_case = EVD__REQUEST__BODY_CHANNEL_GRANT;
	rq.channel_grant = &m;
	emit(&rq);
}

static void
get_channel(const char *channel)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__GetChannel m = EVD__GET_CHANNEL__INIT;

	m.channel = (char *)channel;
	rq.body_case = EVD__REQUEST__BODY_GET_CHANNEL;
	rq.get_channel = &m;
	emit(&rq);
}

int
main(int argc, char **argv)
{
	static const char *const true_argv[] = { "/bin/true" };
	static const char *const sh_argv[] = { "echo hi" };
	Evd__TimerOptions o = EVD__TIMER_OPTIONS__INIT;
	const int64_t hour = 3600 * SEC;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}
	gen.dir = argv[1];
	o.has_misfire = o.has_delivery = o.has_max_attempts = true;
	o.has_downtime = true;
	o.misfire = EVD__MISFIRE__MISFIRE_SKIP;
	o.delivery = EVD__DELIVERY__AT_MOST_ONCE;
	o.max_attempts = 1;
	o.downtime = EVD__DOWNTIME__DOWNTIME_PAUSED;

	hello(1);
	hello(2); /* unsupported: an error, the connection stays */
	save("hello.bin");

	call_soon(NULL, NULL, NULL);
	call_soon("soon", "k1", NULL);
	call_soon("soon", "k1", NULL); /* the key matches: existing */
	call_soon("soon", NULL, &o);
	save("call_soon.bin");

	call_later(hour, -1, NULL, NULL, 0, NULL);
	call_later(hour, EVD__CLOCK__BOOTTIME, "later", NULL, 0, "k2");
	call_later(0, EVD__CLOCK__MONOTONIC, "later", NULL, 0, NULL);
	call_later(hour, -1, NULL, true_argv, 1, NULL);
	save("call_later.bin");

	call_at(FAR_RT_NS, -1, NULL, NULL, 0, NULL);
	call_at(FAR_RT_NS, EVD__CLOCK__REALTIME, "at", NULL, 0, &o);
	call_at(PAST_RT_NS, EVD__CLOCK__REALTIME, "at", NULL, 0, NULL);
	call_at(SEC, EVD__CLOCK__MONOTONIC, NULL, NULL, 0, NULL);
	call_at(FAR_RT_NS, -1, NULL, sh_argv, 1, NULL);
	save("call_at.bin");

	/* An exec timer already due: it fires and fails (no runner). */
	call_at(PAST_RT_NS, -1, NULL, true_argv, 1, NULL);
	by_id(EVD__REQUEST__BODY_WAIT, 1);
	time_stats();
	save("exec_past.bin");

	/* Retry: an exec timer already due (it fails: no runner), a
	 * channel timer (not exec), an unknown id. */
	call_at(PAST_RT_NS, -1, NULL, true_argv, 1, NULL);
	call_later(hour, -1, "r", NULL, 0, NULL);
	by_id(EVD__REQUEST__BODY_WAIT, 1);
	by_id(EVD__REQUEST__BODY_RETRY, 1);
	by_id(EVD__REQUEST__BODY_RETRY, 2);
	by_id(EVD__REQUEST__BODY_RETRY, 99);
	save("retry.bin");

	call_later(hour, -1, "c", NULL, 0, NULL);
	by_id(EVD__REQUEST__BODY_CANCEL, 1);
	by_id(EVD__REQUEST__BODY_CANCEL, 1);
	by_id(EVD__REQUEST__BODY_CANCEL, 99);
	save("cancel.bin");

	call_later(hour, -1, NULL, NULL, 0, NULL);
	call_soon("g", NULL, NULL);
	by_id(EVD__REQUEST__BODY_GET, 1);
	by_id(EVD__REQUEST__BODY_GET, 2);
	by_id(EVD__REQUEST__BODY_GET, 99);
	save("get.bin");

	call_later(hour, -1, NULL, NULL, 0, NULL);
	call_later(hour, -1, "l", NULL, 0, NULL);
	call_later(2 * hour, -1, "l", NULL, 0, NULL);
	list(NULL, 0, 0);
	list("l", 0, 0);
	list(NULL, 1, 1);
	by_id(EVD__REQUEST__BODY_CANCEL, 2);
	list_finished(NULL, 0, 0, 1);
	list_finished("l", 0, 1, 9);
	list_finished(NULL, 2, 2, 0);
	save("list.bin");

	time_stats();
	save("time_stats.bin");

	subscribe("s", 0);
	subscribe("s2", 5 * SEC);
	call_soon("s", NULL, NULL);
	save("subscribe.bin");

	subscribe("a", 0);
	call_soon("a", NULL, NULL);
	by_id(EVD__REQUEST__BODY_ACK, 1);
	by_id(EVD__REQUEST__BODY_ACK, 99);
	save("ack.bin");

	subscribe("d", 0);
	call_soon("d", NULL, &o);
	list_dead("d", 0, 0);
	list_dead("d", 1, 10);
	save("list_dead.bin");

	call_soon("d", NULL, NULL);
	requeue_dead("d", 0);
	requeue_dead("d", 1);
	save("requeue_dead.bin");

	call_soon("d", NULL, NULL);
	purge_dead("d", 1);
	purge_dead("d", 0);
	save("purge_dead.bin");

	call_soon("q", NULL, NULL);
	call_soon("q", NULL, NULL);
	purge("q", true, 12345);
	purge("q", false, 0);
	purge("0:q", false, 0);
	purge("nope", false, 0);
	save("purge.bin");

	call_soon("ca", NULL, NULL);
	call_soon(NULL, NULL, NULL);
	cancel_all("ca", false, 0);
	cancel_all("0:ca", true, 12345);
	cancel_all(NULL, true, 12345);
	cancel_all(NULL, false, 0);
	cancel_all("a b", false, 0);
	save("cancel_all.bin");

	call_soon("lc", NULL, NULL);
	list_channels(NULL, 0);
	list_channels("0:lc", 1);
	list_channels("", 100000);
	save("list_channels.bin");

	call_soon("pk", NULL, NULL);
	call_soon("pk", NULL, NULL);
	peek("pk", 0);
	peek("pk", 1);
	peek("0:pk", 5000);
	peek("nope", 0);
	peek(NULL, 0);
	save("peek.bin");

	subscribe("rj", 0);
	call_soon("rj", NULL, NULL);
	call_soon("rj", NULL, NULL);
	reject(1, "boom: exit status 1", false, NULL);
	reject(2, "", true, "rj");
	reject(1, NULL, false, "other");
	reject(99, "nobody holds it", false, NULL);
	reject(1, "bad\xff", false, NULL);
	save("reject.bin");

	subscribe("us", 0);
	call_soon("us", NULL, NULL);
	unsubscribe("us");
	unsubscribe("us");
	by_id(EVD__REQUEST__BODY_ACK, 1);
	unsubscribe("never");
	unsubscribe("0:us");
	unsubscribe(NULL);
	unsubscribe("bad name");
	save("unsubscribe.bin");

	subscribe("gr", 0); /* a channel exists once used */
	channel_grant("gr", 'u', 1000, true, false, false);
	channel_grant("gr", 'g', 100, true, true, false);
	channel_grant("gr", 'u', 1000, true, false, true);
	get_channel("gr");
	save("channel_grant.bin");

	call_soon("gc", NULL, NULL);
	get_channel("gc");
	get_channel("nosuch");
	save("get_channel.bin");

	call_later(hour, -1, "w", NULL, 0, NULL);
	by_id(EVD__REQUEST__BODY_WAIT, 1);
	by_id(EVD__REQUEST__BODY_CANCEL, 1);
	call_soon("w", NULL, NULL);
	by_id(EVD__REQUEST__BODY_WAIT, 2);
	by_id(EVD__REQUEST__BODY_WAIT, 99);
	save("wait.bin");

	/* Strings with a NUL or not UTF-8 (INVALID_ARGUMENT naming the
	 * field; the connection stays), then one that is. */
	{
		static const char *const bad_argv[] = { "/bin/true",
			                                "\xc0\xaf" };

		call_later(hour, -1, NULL, NULL, 0, "job\x7f" "A");
		nul_patch("job\x7f" "A");
		call_later(hour, -1, NULL, NULL, 0, "job\x7f" "B");
		nul_patch("job\x7f" "B");
		call_later(hour, -1, "name\x7f" "evil", NULL, 0, NULL);
		nul_patch("name\x7f" "evil");
		call_later(hour, -1, "\xff\xfe", NULL, 0, NULL);
		call_later(hour, -1, NULL, bad_argv, 2, NULL);
		list("\xed\xa0\x80", 0, 0);
		call_later(hour, -1, NULL, NULL, 0, "job");
		save("strings.bin");
	}

	/* Every type in one stream. */
	hello(1);
	call_soon(NULL, NULL, NULL);
	call_later(hour, -1, "all", NULL, 0, "key");
	call_at(FAR_RT_NS, -1, "all", NULL, 0, &o);
	by_id(EVD__REQUEST__BODY_GET, 2);
	by_id(EVD__REQUEST__BODY_RETRY, 2);
	list(NULL, 0, 0);
	time_stats();
	subscribe("all", 0);
	by_id(EVD__REQUEST__BODY_ACK, 1);
	list_dead("all", 0, 0);
	requeue_dead("all", 0);
	purge_dead("all", 0);
	purge("all", false, 0);
	cancel_all("all", false, 0);
	list_channels(NULL, 0);
	peek("all", 0);
	reject(1, "why", false, "all");
	channel_grant("all", 'u', 1000, true, true, false);
	get_channel("all");
	by_id(EVD__REQUEST__BODY_WAIT, 2);
	by_id(EVD__REQUEST__BODY_CANCEL, 2);
	save("all.bin");
	return gen.failed;
}
