/*
 * oneshot: the blocking API in a dozen lines. Asks evd to call back in
 * 100 ms with a payload, waits for the fire, prints it.
 *
 *   evc_example_oneshot [SOCKET]     (default: $EVD_SOCKET, then the
 *                                      system or user instance)
 */
#include <evclient.h>
#include <stdio.h>

int
main(int argc, char **argv)
{
	struct evc_callback cb = {.payload = "hello", .payload_len = 5};
	struct evc_scheduled s;
	struct evc_fired ev;
	struct evc *c;
	char err[256];
	int r;

	r = evc_connect(argc > 1 ? argv[1] : NULL, "oneshot", 5000, &c, err,
			sizeof(err));
	if (r < 0) {
		fprintf(stderr, "oneshot: %s\n", err);
		return 1;
	}
	r = evc_call_later(c, 100 * 1000000LL, EVC_CLOCK_MONOTONIC, &cb, 5000,
			   &s);
	if (r == 0)
		r = evc_next_event(c, 5000, &ev);
	if (r < 0) {
		fprintf(stderr, "oneshot: %s\n", evc_errmsg(c));
		evc_close(c);
		return 1;
	}
	printf("timer %llu fired %.3f ms late: %s\n",
	       (unsigned long long)ev.timer_id, ev.lateness_ns / 1e6,
	       (const char *)ev.payload);
	evc_fired_free(&ev);
	evc_close(c);
	return 0;
}
