/*
 * evctl_channel: channel names as users type them (channel_arg) and the
 * verbs on channels: watch (subscribe, print and ack each fire; with a
 * command, evctl_worker.c runs it per fire instead), dead
 * (dead letters: list, requeue, purge) and channel (show, grant,
 * revoke). A fire is acked only once printed, so a crash in between
 * means a redelivery, never a lost fire.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evctl.h"
#include "suggest.h"

/*
 * A channel as the daemon takes it. NAME (your own) and UID:NAME pass as
 * they are; USER:NAME becomes UID:NAME here, because the daemon looks no
 * names up (NSS on its loop could stall every client). slot picks one of
 * a few buffers, one per option that names a channel. NULL, after saying
 * why, for a user that does not exist.
 */
const char *
channel_arg(const char *arg, unsigned slot)
{
	static char buf[3][LOGIN_NAME_MAX + 2 + 256];
	const char *colon = strchr(arg, ':');
	char user[LOGIN_NAME_MAX + 1];
	struct passwd *pw;
	size_t n;

	if (colon == NULL || colon == arg ||
	    strspn(arg, "0123456789") == (size_t)(colon - arg))
		return arg;
	if ((n = (size_t)(colon - arg)) >= sizeof(user)) {
		usage_error("channel '%s': no user by that name", arg);
		return NULL;
	}
	memcpy(user, arg, n);
	user[n] = '\0';
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		usage_error("channel '%s': no user '%s'%s%s", arg, user,
			    errno != 0 ? ": " : "",
			    errno != 0 ? strerror(errno) : "");
		return NULL;
	}
	snprintf(buf[slot], sizeof(buf[slot]), "%u:%s", (unsigned)pw->pw_uid,
		 colon + 1);
	return buf[slot];
}

/*
 * watch's ack of one fire; with --reschedule-in/--reschedule-at the
 * trampoline: the timer is scheduled again in the same commit as the
 * ack (a relative --reschedule-at is read again now, at each fire).
 * Returns 0, a negative code of the library, or an exit status when the
 * time cannot be read any more (then nothing is acked: the fire comes
 * again, rather than being acked without its reschedule).
 */
int
watch_ack(struct ctl *x, const struct evc_fired *ev)
{
	struct timefmt_when w;

	if (x->reschedule_in)
		return evc_ack_reschedule(x->c, ev->fire_id, false,
					  x->reschedule_ns, x->request_ms,
					  NULL);
	if (x->reschedule_at != NULL) {
		/* Read once already (set_option); only the clock moved,
		 * so this fails only at the end of int64 time. */
		if (parse_when(x, x->reschedule_at, &w) < 0) {
			ctl_warnx("cannot read --reschedule-at '%s' now; fire "
				  "%" PRIu64 " is not acked",
				  x->reschedule_at, ev->fire_id);
			return EXIT_USAGE;
		}
		return evc_ack_reschedule(x->c, ev->fire_id, true, w.ns,
					  x->request_ms, NULL);
	}
	return evc_ack(x->c, ev->fire_id, x->request_ms);
}

int
verb_watch(struct ctl *x)
{
	int64_t deadline_ns = mono_now_ns() + x->timeout_ns;
	const char *channel = channel_arg(x->args[0], 0);
	char d[TIMEFMT_DURATION_MAX], what[64];
	struct evc_fired ev;
	uint64_t seen = 0;
	int r;

	if (channel == NULL)
		return EXIT_USAGE;
	if (x->exec_at > 0)
		return watch_worker(x, channel);
	if (x->opts_seen & OPT_VISIBILITY)
		r = evc_subscribe_opts(x->c, channel, x->visibility_ns,
				       x->request_ms);
	else
		r = evc_subscribe(x->c, channel, x->request_ms);
	if (r < 0)
		return lib_failure(x, r, "watch");
	while (x->count == 0 || seen < x->count) {
		r = evc_next_event(x->c, ms_until(x->has_timeout, deadline_ns),
				   &ev);
		if (r == -EVC_E_TIMEOUT) {
			if (x->count > 0)
				ctl_warnx(
				    "timed out after %s waiting for fires on "
				    "%s (%" PRIu64 " of %" PRIu64 " received)",
				    dur(x->timeout_ns, d, sizeof(d)), channel,
				    seen, x->count);
			else
				ctl_warnx(
				    "timed out after %s waiting for fires on "
				    "%s (%" PRIu64 " received)",
				    dur(x->timeout_ns, d, sizeof(d)), channel,
				    seen);
			return EXIT_REFUSED;
		}
		if (r < 0)
			return lost_connection(x);
		print_fired(x, &ev);
		r = check_stdout();
		if (r != 0) {
			evc_fired_free(&ev);
			return r;
		}
		/* Acked only once printed: a crash in between means a
		 * redelivery, never a lost fire. */
		r = watch_ack(x, &ev);
		if (r > 0) {
			evc_fired_free(&ev);
			return r;
		}
		if (r < 0) {
			snprintf(what, sizeof(what), "ack of fire %" PRIu64,
				 ev.fire_id);
			r = lib_failure(x, r, what);
			if (!exit_is_refusal(r)) {
				evc_fired_free(&ev);
				return r;
			}
		}
		evc_fired_free(&ev);
		seen++;
	}
	return 0;
}

/* Deletes the messages waiting in the channel's queue (the owner's:
 * everyone's, or --uid's) and prints how many. */
int
verb_purge(struct ctl *x)
{
	const char *channel = channel_arg(x->args[0], 0);
	struct jw w;
	uint64_t n = 0;
	int r;

	if (channel == NULL)
		return EXIT_USAGE;
	r = evc_purge(x->c, channel, x->has_uid, x->grant_id, x->request_ms,
		      &n);
	if (r < 0)
		return lib_failure(x, r, "purge");
	if (x->json) {
		jw_begin(&w);
		jw_str(&w, "channel", channel);
		if (x->has_uid)
			jw_u64(&w, "from_uid", x->grant_id);
		else
			jw_str(&w, "from_uid", NULL);
		jw_u64(&w, "purged", n);
		jw_end(&w);
	} else {
		printf("%" PRIu64 "\n", n);
	}
	return check_stdout();
}

/* Lists the channel's dead letters, page by page, as `watch` prints
 * fires (attempt = deliveries made) with the reason of each; with --requeue or --purge acts on
 * them instead and prints how many. */
int
verb_dead(struct ctl *x)
{
	const char *channel = channel_arg(x->args[0], 0);
	bool purge = (x->opts_seen & OPT_PURGE) != 0;
	struct evc_dead_letters dl;
	uint64_t fire_id = 0, after = 0, n;
	struct jw w;
	size_t i;
	int r;

	if (channel == NULL)
		return EXIT_USAGE;
	if ((x->opts_seen & OPT_REQUEUE) && purge)
		return usage_error("--requeue and --purge exclude each other");
	if (x->nargs > 1) {
		if (!(x->opts_seen & (OPT_REQUEUE | OPT_PURGE)))
			return usage_error("a FIRE_ID goes with --requeue or "
					   "--purge");
		if (!parse_u64(x->args[1], &fire_id) || fire_id == 0)
			return usage_error("invalid fire id '%s'", x->args[1]);
	}
	if (x->opts_seen & (OPT_REQUEUE | OPT_PURGE)) {
		r = purge ? evc_purge_dead(x->c, channel, fire_id,
					   x->request_ms, &n)
			  : evc_requeue_dead(x->c, channel, fire_id,
					     x->request_ms, &n);
		/* Purging nothing is done already (idempotent, as
		 * cancel): all of none is 0; one fire id stays an error,
		 * and so does requeueing nothing (a requeue is asked to
		 * publish something). */
		if (r == -EVC_E_NOT_FOUND && fire_id == 0 && purge)
			r = 0, n = 0;
		if (r < 0)
			return lib_failure(x, r, "dead");
		if (x->json) {
			jw_begin(&w);
			jw_str(&w, "channel", channel);
			if (fire_id != 0)
				jw_u64(&w, "fire_id", fire_id);
			else
				jw_str(&w, "fire_id", NULL);
			jw_u64(&w, purge ? "purged" : "requeued", n);
			jw_end(&w);
		} else {
			printf("%" PRIu64 "\n", n);
		}
		return check_stdout();
	}
	for (;;) {
		r = evc_list_dead_letters(x->c, channel, after, 0,
					  x->request_ms, &dl);
		if (r < 0)
			return lib_failure(x, r, "dead");
		for (i = 0; i < dl.count; i++)
			print_dead_letter(x, &dl.letters[i]);
		/* Fire ids only grow: a cursor that does not would loop. */
		if (dl.next_after_fire_id <= after) {
			evc_dead_letters_free(&dl);
			break;
		}
		after = dl.next_after_fire_id;
		evc_dead_letters_free(&dl);
		r = check_stdout();
		if (r != 0)
			return r;
	}
	return check_stdout();
}

/* channel show|grant|revoke CHANNEL: grant and revoke print the channel
 * as it then is. */
/*
 * channel list: the channels the caller may see, page by page, one line
 * each (--json: one object each, as channel show prints without the
 * grants):
 *   CHANNEL              OWNER    QUEUED INFLIGHT     DEAD SUBS
 *   jobs                 1000          3        0        0    1
 */
static int
channel_list(struct ctl *x)
{
	struct evc_channel_list cl;
	char *after = NULL;
	bool header = false;
	size_t i;
	int r;

	for (;;) {
		r = evc_list_channels(x->c, after, 0, x->request_ms, &cl);
		free(after);
		after = NULL;
		if (r < 0)
			return lib_failure(x, r, "channel list");
		if (!x->json && !header) {
			printf("%-20s %-8s %8s %8s %8s %4s\n", "CHANNEL",
			       "OWNER", "QUEUED", "INFLIGHT", "DEAD", "SUBS");
			header = true;
		}
		for (i = 0; i < cl.count; i++) {
			const struct evc_channel_info *ci = &cl.channels[i];

			if (x->json) {
				print_channel(x, ci);
				continue;
			}
			printf("%-20s %-8" PRIu32 " %8" PRIu64 " %8" PRIu64
			       " %8" PRIu64 " %4" PRIu32 "\n",
			       ci->channel, ci->owner_uid, ci->queued_messages,
			       ci->inflight_messages, ci->dead_messages,
			       ci->subscribers);
		}
		/* Names only grow: the next page starts after this one. */
		if (cl.next_after != NULL && cl.count > 0)
			after = strdup(cl.next_after);
		evc_channel_list_free(&cl);
		if (after == NULL)
			break;
		if ((r = check_stdout()) != 0) {
			free(after);
			return r;
		}
	}
	return check_stdout();
}

/* peek CHANNEL [--count N]: the messages waiting in its queue, printed
 * as watch prints fires, left in place. */
int
verb_peek(struct ctl *x)
{
	const char *channel = channel_arg(x->args[0], 0);
	struct evc_dead_list dl;
	size_t i;
	int r;

	if (channel == NULL)
		return EXIT_USAGE;
	if (x->count > 1000)
		return usage_error("peek shows at most 1000 messages "
				   "(--count)");
	r = evc_peek(x->c, channel, (uint32_t)x->count, x->request_ms, &dl);
	if (r < 0)
		return lib_failure(x, r, "peek");
	for (i = 0; i < dl.count; i++)
		print_fired(x, &dl.messages[i]);
	if (dl.next_after_fire_id != 0 && !x->json)
		fprintf(stderr, "evctl: more messages are waiting (--count N "
				"shows up to 1000; 'channel show' counts "
				"them)\n");
	evc_dead_list_free(&dl);
	return check_stdout();
}

int
verb_channel(struct ctl *x)
{
	const char *sub = x->args[0], *channel;
	bool sub_r = (x->opts_seen & OPT_SUBSCRIBE) != 0;
	bool pub_r = (x->opts_seen & OPT_PUBLISH) != 0;
	struct evc_channel_info ci;
	bool revoke;
	int r;

	if (strcmp(sub, "list") == 0) {
		if (x->nargs > 1 || (x->opts_seen & OPTS_GRANT))
			return usage_error("usage: evctl channel list");
		return channel_list(x);
	}
	if (strcmp(sub, "show") != 0 && strcmp(sub, "grant") != 0 &&
	    strcmp(sub, "revoke") != 0) {
		static const char *const subs[] = {"list", "show", "grant",
						   "revoke"};
		const char *near = suggest_nearest(sub, subs, 4);

		if (near != NULL)
			return usage_error("unknown channel command '%s'; did "
					   "you mean '%s'?",
					   sub, near);
		return usage_error("unknown channel command '%s' (list, show, "
				   "grant, revoke)",
				   sub);
	}
	if (x->nargs != 2)
		return usage_error("usage: evctl %s", x->verb->synopsis);
	if ((channel = channel_arg(x->args[1], 0)) == NULL)
		return EXIT_USAGE;
	if (strcmp(sub, "show") == 0) {
		if (x->opts_seen & OPTS_GRANT)
			return usage_error("channel show takes no --uid, "
					   "--gid, --subscribe or --publish");
		r = evc_get_channel(x->c, channel, x->request_ms, &ci);
		if (r < 0)
			return lib_failure(x, r, "channel show");
	} else if (strcmp(sub, "grant") == 0 || strcmp(sub, "revoke") == 0) {
		revoke = sub[0] == 'r';
		if (x->has_uid == x->has_gid)
			return usage_error("channel %s needs one of --uid UID "
					   "and --gid GID",
					   sub);
		if (!sub_r && !pub_r) {
			if (!revoke)
				return usage_error("channel grant needs "
						   "--subscribe and/or "
						   "--publish");
			/* Revoke without rights named: all of them. */
			sub_r = pub_r = true;
		}
		r = evc_channel_grant(x->c, channel, x->has_gid, x->grant_id,
				      sub_r, pub_r, revoke, x->request_ms,
				      &ci);
		if (r < 0)
			return lib_failure(x, r,
					   revoke ? "channel revoke"
						  : "channel grant");
	} else {
		return usage_error("unknown channel command '%s' (list, show, "
				   "grant, revoke)",
				   sub);
	}
	print_channel(x, &ci);
	evc_channel_info_free(&ci);
	return check_stdout();
}
