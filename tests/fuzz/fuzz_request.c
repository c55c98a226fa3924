/*
 * fuzz_request: the daemon's request path, from the bytes a client writes
 * to the replies it reads: conn (framing, back pressure, close), dispatch
 * (unpack, greeting, routing) and every req_*.c handler, over the memory
 * store, with the timer, channel, wait and hook modules live.
 *
 * The least invasive harness: no code of the daemon changes for it. Each
 * input gets a fresh daemon core, set up and torn down in main.c's order,
 * and one real connection: one end of a socketpair adopted by conn_new(),
 * the other written by the harness. The input is sent after a valid Hello
 * (so requests get past the greeting), one frame every other loop turn so
 * that timers made due and deliveries happen between requests; a few
 * turns later the write side is shut, as a client that hangs up. The loop
 * is run as loop.c's (one non-blocking iteration, loop_commit,
 * conn_flush_all) until the daemon closes the connection. Nothing listens
 * on a path and no process is spawned: the exec runner is never
 * initialised, so an exec timer that fires is a failed run (exec_submit
 * answers -EINVAL), the path a real failure takes.
 * A fresh core per input keeps runs independent and lets LeakSanitizer
 * check that shutdown frees everything an input made.
 *
 * Checked beyond the sanitizers: every frame the daemon writes is a whole,
 * non-empty, decodable Reply with a body, and the replies that carry a
 * request id answer, in order, exactly the requests that carried one, up
 * to the first frame the daemon must refuse.
 *
 * EVD_FUZZ_VERBOSE=1 in the environment prints every reply (to see what
 * a corpus file exercises).
 *
 * The connection is the fuzzer's own uid (root when run as root): the
 * peer credentials of a socketpair cannot be chosen.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "batch.h"
#include "channel.h"
#include "config.h"
#include "conn.h"
#include "dispatch.h"
#include "evd.pb-c.h"
#include "frame.h"
#include "hook.h"
#include "log.h"
#include "loop.h"
#include "quota.h"
#include "sched.h"
#include "shard.h"
#include "store.h"
#include "wait.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The request id of the Hello the harness sends first. */
#define FUZZ_HELLO_ID UINT64_C(0xfeedface)

#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "fuzz_request: %s:%d: %s\n", __FILE__, \
			        __LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* The daemon's defaults (evd.conf(5)). */
#define FUZZ_MAX_FRAME FRAME_DEFAULT_MAX
#define FUZZ_FRAME_TIMEOUT_MS CONFIG_DEFAULT_FRAME_TIMEOUT_MS
/* Loop iterations per input: enough for every frame and the close; an
 * input that needs more is reported as a hang. */
#define FUZZ_TURNS_BASE 256
/* Idle turns after the last frame before the client hangs up: time for
 * the timers it made due to fire and their deliveries to go out. */
#define FUZZ_SETTLE_TURNS 6

/* Owner: the harness; one input at a time. */
static struct {
	struct event_base *base;
	int peer;               /* the client's end of the socketpair */
	uint8_t hello[64];      /* a framed Hello, built once */
	size_t hello_len;
	uint8_t *out;           /* replies read back, not yet decoded */
	size_t out_len, out_cap;
	uint64_t *want_ids;     /* request ids of the input's requests */
	size_t nwant, want_cap;
	size_t ngot;            /* replies with a request id so far */
	size_t frame_end;       /* end of the input frame being sent */
	bool peer_gone;         /* the daemon closed its end */
	bool verbose;
	bool shard_ready;       /* shard_setup ran (once per process) */
} fz;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	Evd__Request rq = EVD__REQUEST__INIT;
	Evd__Hello h = EVD__HELLO__INIT;
	size_t n;

	fz.verbose = getenv("EVD_FUZZ_VERBOSE") != NULL;
	log_set_level(LOG_LEVEL_ERR);
	/* Writes to a peer that is gone fail with EPIPE, as in main. */
	signal(SIGPIPE, SIG_IGN);
	h.has_protocol_version = true;
	h.protocol_version = 1;
	h.client_name = "fuzz_request";
	rq.has_request_id = true;
	rq.request_id = FUZZ_HELLO_ID;
	rq.body_case = EVD__REQUEST__BODY_HELLO;
	rq.hello = &h;
	n = evd__request__get_packed_size(&rq);
	FUZZ_CHECK(n + FRAME_HEADER_LEN <= sizeof fz.hello);
	FUZZ_CHECK(frame_put_header(fz.hello, n) == 0);
	evd__request__pack(&rq, fz.hello + FRAME_HEADER_LEN);
	fz.hello_len = n + FRAME_HEADER_LEN;
	return 0;
}

/* main.c's start-up, minus options, exec, listener and signals. */
static void
fuzz_up(void)
{
	const struct store_backend *be = store_backend_find("memory");
	struct store_config cfg = { .history_per_timer = 20,
		                    .finished_max = 100 };
	struct event_config *ecfg;
	struct loop_config lc;
	struct store *s;
	int sv[2];

	FUZZ_CHECK(be != NULL);
	FUZZ_CHECK((ecfg = event_config_new()) != NULL);
	event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	fz.base = event_base_new_with_config(ecfg);
	event_config_free(ecfg);
	FUZZ_CHECK(fz.base != NULL);
	dispatch_init("memory");
	/* One loop, as evd without --threads: its inbox once per process. */
	if (!fz.shard_ready) {
		FUZZ_CHECK(shard_setup(1) == 0);
		fz.shard_ready = true;
	}
	memset(&lc, 0, sizeof lc);
	lc.max_frame = FUZZ_MAX_FRAME;
	lc.frame_timeout_ms = FUZZ_FRAME_TIMEOUT_MS;
	lc.keep = cfg;
	loop_configure(&lc);
	FUZZ_CHECK(quota_init() == 0);
	FUZZ_CHECK(loop_init(fz.base) == 0);
	FUZZ_CHECK(be->open(&cfg, &s) == 0);
	batch_init(fz.base, be, s);
	FUZZ_CHECK(sched_reload_durable(be, s) == 0);
	FUZZ_CHECK(channel_reload(be, s) == 0);
	FUZZ_CHECK(loop_commit());
	FUZZ_CHECK(socketpair(AF_UNIX,
	                      SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	                      sv) == 0);
	FUZZ_CHECK(conn_new(sv[0], false) == 0);
	fz.peer = sv[1];
}

/* main.c's shutdown, from the last commit on. */
static void
fuzz_down(void)
{
	loop_commit();
	loop_shutdown();
	quota_shutdown();
	event_base_free(fz.base);
	fz.base = NULL;
	close(fz.peer);
	fz.peer = -1;
}

/*
 * The request ids the daemon must answer, in order: the Hello's, then
 * those of the requests before the first frame it refuses (bad length,
 * undecodable, no request_id: a PROTOCOL error), which closes the
 * connection.
 */
static void
fuzz_want(uint64_t id)
{
	if (fz.nwant == fz.want_cap) {
		size_t ncap = 2 * fz.want_cap + 64;
		uint64_t *p = reallocarray(fz.want_ids, ncap, sizeof *p);

		FUZZ_CHECK(p != NULL);
		fz.want_ids = p;
		fz.want_cap = ncap;
	}
	fz.want_ids[fz.nwant++] = id;
}

static void
fuzz_expect(const uint8_t *data, size_t size)
{
	size_t off = 0;

	fz.nwant = 0;
	fuzz_want(FUZZ_HELLO_ID);
	while (off < size) {
		const uint8_t *body;
		size_t blen;
		Evd__Request *rq;
		long r;

		r = frame_decode(data + off, size - off, FUZZ_MAX_FRAME, &body,
		                 &blen);
		if (r <= 0)
			return;
		if ((rq = evd__request__unpack(NULL, blen, body)) == NULL)
			return;
		if (!rq->has_request_id) {
			evd__request__free_unpacked(rq, NULL);
			return;
		}
		fuzz_want(rq->request_id);
		evd__request__free_unpacked(rq, NULL);
		off += (size_t)r;
	}
}

static void
fuzz_print_reply(const Evd__Reply *rp)
{
	const ProtobufCFieldDescriptor *f;

	f = protobuf_c_message_descriptor_get_field(&evd__reply__descriptor,
	                                            rp->body_case);

	if (rp->has_request_id)
		fprintf(stderr, "reply %" PRIu64 ": ", rp->request_id);
	else
		fprintf(stderr, "event: ");
	fprintf(stderr, "%s", f != NULL ? f->name : "?");
	if (rp->body_case == EVD__REPLY__BODY_ERROR)
		fprintf(stderr, " %d %s", rp->error->code,
		        rp->error->message != NULL ? rp->error->message : "");
	fprintf(stderr, "\n");
}

/* Checks every whole reply frame read so far and drops it. */
static void
fuzz_check_replies(void)
{
	size_t off = 0;

	for (;;) {
		const uint8_t *body;
		size_t blen;
		Evd__Reply *rp;
		long r;

		r = frame_decode(fz.out + off, fz.out_len - off, UINT32_MAX,
		                 &body, &blen);
		FUZZ_CHECK(r >= 0); /* never a zero length */
		if (r == 0)
			break;
		rp = evd__reply__unpack(NULL, blen, body);
		FUZZ_CHECK(rp != NULL);
		FUZZ_CHECK(rp->body_case != EVD__REPLY__BODY__NOT_SET);
		if (fz.verbose)
			fuzz_print_reply(rp);
		if (rp->has_request_id) {
			FUZZ_CHECK(fz.ngot < fz.nwant);
			FUZZ_CHECK(rp->request_id == fz.want_ids[fz.ngot]);
			fz.ngot++;
		}
		evd__reply__free_unpacked(rp, NULL);
		off += (size_t)r;
	}
	memmove(fz.out, fz.out + off, fz.out_len - off);
	fz.out_len -= off;
}

/* Reads what the daemon wrote. Returns false once it closed its end. */
static bool
fuzz_read_replies(void)
{
	ssize_t n;

	for (;;) {
		if (fz.out_cap - fz.out_len < 65536) {
			size_t ncap = fz.out_cap ? 2 * fz.out_cap : 262144;
			uint8_t *p = realloc(fz.out, ncap);

			FUZZ_CHECK(p != NULL);
			fz.out = p;
			fz.out_cap = ncap;
		}
		n = read(fz.peer, fz.out + fz.out_len, fz.out_cap - fz.out_len);
		if (n > 0) {
			fz.out_len += (size_t)n;
			fuzz_check_replies();
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		return false; /* EOF (or ECONNRESET): the daemon closed */
	}
}

/* Writes what the socket takes of data[*off..end). */
static void
fuzz_write(const uint8_t *data, size_t end, size_t *off)
{
	ssize_t n;

	while (*off < end && !fz.peer_gone) {
		n = write(fz.peer, data + *off, end - *off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			/* The daemon closed on a bad frame; the rest of the
			 * input is dropped, as by the kernel. */
			fz.peer_gone = true;
			return;
		}
		FUZZ_CHECK(n > 0);
		*off += (size_t)n;
	}
}

/*
 * Sends the Hello, then the input one frame per call (a bad or partial
 * frame: the rest of the input), so that what a request starts (a timer
 * due now, a delivery) can happen before the next one arrives.
 */
static void
fuzz_feed(const uint8_t *data, size_t size, size_t *hello_off, size_t *off)
{
	const uint8_t *body;
	size_t blen, end = size;
	long r;

	if (*hello_off < fz.hello_len) {
		fuzz_write(fz.hello, fz.hello_len, hello_off);
		return;
	}
	if (*off >= size)
		return;
	if (fz.frame_end <= *off) {
		r = frame_decode(data + *off, size - *off, UINT32_MAX, &body,
		                 &blen);
		fz.frame_end = r > 0 ? *off + (size_t)r : size;
	}
	end = fz.frame_end;
	fuzz_write(data, end, off);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t hello_off = 0, off = 0, turn, turns, settled = 0;
	bool shut = false, open = true;

	fuzz_expect(data, size);
	fz.ngot = 0;
	fz.out_len = 0;
	fz.frame_end = 0;
	fz.peer_gone = false;
	fuzz_up();
	/* A frame is at least 5 bytes; two turns each, and a large one
	 * takes a turn per socket buffer. */
	turns = FUZZ_TURNS_BASE + 2 * (size / 5) + size / 4096;
	for (turn = 0; turn < turns && open; turn++) {
		/* Even turns send, odd turns let the daemon act alone. */
		if (turn % 2 == 0)
			fuzz_feed(data, size, &hello_off, &off);
		if (!shut && (off == size || fz.peer_gone) &&
		    ++settled > FUZZ_SETTLE_TURNS) {
			shutdown(fz.peer, SHUT_WR);
			shut = true;
		}
		FUZZ_CHECK(event_base_loop(fz.base, EVLOOP_NONBLOCK) >= 0);
		loop_commit();
		conn_flush_all();
		open = fuzz_read_replies();
	}
	FUZZ_CHECK(!open); /* the daemon answered and closed in time */
	FUZZ_CHECK(fz.out_len == 0); /* no partial reply frame */
	FUZZ_CHECK(fz.ngot == fz.nwant);
	fuzz_down();
	return 0;
}
