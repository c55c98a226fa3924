/*
 * evctl_help: the help text: the general help (--help, help), whose
 * verb list comes from the verb table, the topics (help calendar, help
 * duration; help on and help time add them to the verb's) and each
 * verb's help (help VERB, VERB --help): its synopsis from the table, its
 * description and examples from verb_docs below. Text only: what evctl
 * does is elsewhere; test_evctl_help.sh checks that every verb of the
 * table is listed, test_evctl_examples.sh that each has examples that
 * parse and that evctl.1 shows.
 */
#include <stdio.h>
#include <string.h>

#include "evctl.h"

static const char help_on[] =
    "evctl on 'EXPR' schedules a calendar timer: it fires at every "
    "occurrence of\n"
    "EXPR on the wall clock, in a time zone, until it is cancelled (or "
    "after\n"
    "--count N fires). 'evctl next EXPR' lists the next occurrences and\n"
    "'evctl parse EXPR' shows how EXPR was read, without scheduling "
    "anything.\n"
    "\n"
    "cron syntax (crontab(5)): five fields, minute hour day-of-month "
    "month\n"
    "day-of-week.\n"
    "  '*/15 9-17 * * Mon-Fri'   every 15 minutes, 09:00 to 17:45, on "
    "weekdays\n"
    "  '0 9 * * 1-5'             09:00 on weekdays\n"
    "  '30 2 1 * *'              02:30 on the first of each month\n"
    "  '0 0 1,15 * *'            midnight on the 1st and the 15th\n"
    "  @hourly @daily @midnight @weekly @monthly @yearly @annually\n"
    "  Each field: '*', lists a,b, ranges a-b, steps */n or a-b/n; month "
    "and\n"
    "  weekday names (Jan, Mon; 0 and 7 are Sunday). When day-of-month and\n"
    "  day-of-week are both restricted, a day matching either matches.\n"
    "\n"
    "systemd OnCalendar= syntax (systemd.time(7)):\n"
    "  [WEEKDAYS] [[YEAR-]MONTH-DAY] [HH:MM[:SS]] [ZONE]\n"
    "  'Mon..Fri *-*-* 09:00:00'   09:00 on weekdays\n"
    "  'Sat,Sun 10:00'             10:00 at weekends\n"
    "  '*:0/15'                    every 15 minutes\n"
    "  '*:*:0/10'                  every 10 seconds\n"
    "  '2026-*-01 00:00:00'        midnight on the first of each month "
    "of 2026\n"
    "  '*-*~1 18:00'               18:00 on the last day of each month\n"
    "  'Mon *-*-* 09:00 Europe/Berlin'   a zone in EXPR wins over --tz\n"
    "  minutely hourly daily weekly monthly yearly annually quarterly\n"
    "  semiannually; ranges a..b, lists a,b, repetitions start/step, '~' "
    "for\n"
    "  days from the end of the month, fractions of a second.\n"
    "\n"
    "Time zone: --tz ZONE, an IANA name (Europe/Berlin, America/New_York, "
    "UTC);\n"
    "default: yours ($TZ or the system's, as next and parse use), "
    "stored\n"
    "with the timer. Each occurrence is computed in the zone when it "
    "is\n"
    "due, so changes of the zone's rules, of the system zone and of the "
    "wall\n"
    "clock (NTP steps, manual changes) are followed: 09:00 stays 09:00.\n"
    "\n"
    "Daylight saving time, per timer, stored with it:\n"
    "  --dst-gap shift|skip|utc\n"
    "      a local time the clock jumps over (spring forward: 02:30 on the "
    "last\n"
    "      Sunday of March in Europe). shift (default): at the first "
    "instant\n"
    "      after the gap (03:00); skip: not that day; utc: with the offset "
    "in\n"
    "      force before the gap (03:30).\n"
    "  --dst-overlap first|second|both\n"
    "      a local time that occurs twice (fall back): the first (default), "
    "the\n"
    "      second, or both.\n"
    "  Interval timers (--every) run on elapsed time: DST never moves "
    "them.\n"
    "\n"
    "Also for on (and soon/later/at with --every):\n"
    "  --count N                  end after N fires (default: until "
    "cancelled)\n"
    "  --randomized-delay DURATION  move each fire later by a random "
    "amount\n"
    "                             below DURATION (spreads load, as "
    "systemd's\n"
    "                             RandomizedDelaySec=)\n"
    "  --accuracy DURATION        evd may fire up to DURATION late, never "
    "early,\n"
    "                             to serve several timers in one wake-up\n"
    "  --overlap skip|queue-one|allow|terminate-previous\n"
    "                             a hook whose previous run still runs: "
    "do not\n"
    "                             start (default; the skip is recorded), "
    "start\n"
    "                             when it ends, start anyway, or stop it "
    "first\n"
    "\n"
    "pause ID stops a timer from firing until resume ID; trigger ID fires "
    "it\n"
    "once now without changing its schedule. get ID shows the next "
    "occurrence\n"
    "(due), the expression, zone, policies and the recent runs.\n"
    "\n"
    "Examples:\n"
    "  evctl on '0 9 * * Mon-Fri' --tz Europe/Berlin --shell "
    "'~/bin/report'\n"
    "  evctl on 'Mon..Fri *-*-* 09:00:00' --channel standup --payload "
    "standup\n"
    "  evctl on '*:0/15' --channel poll --randomized-delay 30s\n"
    "  evctl on daily --count 7 --exec -- /usr/bin/logger daily\n"
    "  evctl next '*-*~1 18:00' --tz America/New_York -n 3\n";

static const char help_time[] =
    "TIME (at, watch --reschedule-at, --after, parse):\n"
    "  2026-12-01T09:00:00Z, 2026-12-01T09:00:00+01:00\n"
    "                        ISO 8601 with an offset: exactly that "
    "instant\n"
    "  '2026-12-01 09:00', 2026-12-01T09:00, 2026-12-01\n"
    "                        local time (a date alone: its midnight)\n"
    "  '2026-12-01 09:00 Europe/Paris'\n"
    "                        local time in that zone (any form below may "
    "end\n"
    "                        with a zone: 'tomorrow 10:00 UTC')\n"
    "  @1796115600           Unix seconds\n"
    "  now, +5m, -1h, 'now + 2 hours', 'in 5 minutes', 'in 1 hour and 30 "
    "minutes'\n"
    "                        from now\n"
    "  today, tomorrow, yesterday, 'tomorrow 10:00', 'today 18:00', "
    "'tomorrow noon'\n"
    "                        that day (at 00:00 without a time), even if "
    "past\n"
    "  noon, midnight, 10:00, 6:30pm, 9am\n"
    "                        the next such time: today, or tomorrow if "
    "past\n"
    "  monday, 'mon 09:00', 'next friday 17:00'\n"
    "                        the next such day whose time is ahead (today "
    "if\n"
    "                        it still is)\n"
    "  Local times are in --tz ZONE if given, else $TZ or the system's "
    "zone.\n"
    "  One that does not exist (DST gap) is the first instant after the "
    "gap;\n"
    "  one that occurs twice (DST overlap) is the first.\n"
    "\n"
    "DURATION (later, --every, --timeout, ...):\n"
    "  250ms, 5s, 90 (seconds), 1.5h, 1h30m, 2d, 1w (units ns us ms s m "
    "h d w)\n"
    "  later, --every, --randomized-delay, --accuracy and --reschedule-in "
    "also\n"
    "  take words: '5 minutes', '1 hour 30 minutes', 'an hour', 'in 10 "
    "seconds'.\n"
    "\n"
    "CALENDAR (on, next): see 'evctl help on'.\n"
    "\n"
    "Check how evctl reads any of them, without scheduling: evctl parse "
    "'TEXT'\n";

/*
 * Each verb's description and examples, for `evctl help VERB` and
 * `evctl VERB --help` (after its synopsis from the verb table), and
 * summary, one line, for the shell completions. Every verb of the table
 * has a row (test_evctl_examples.sh checks it, runs each example through
 * the parser and finds it in evctl.1). Examples are real command lines:
 * a '#' line says what the next one does.
 */
struct verb_doc {
	const char *name;
	const char *summary;
	const char *about;
	const char *examples;
};

static const struct verb_doc verb_docs[] = {
    {"soon", "fire as soon as possible",
     "Schedules a timer that fires at once, after everything already due:\n"
     "a durable job for a channel's consumers or a hook to run now, in "
     "the\n"
     "background. Without --channel or a hook, evctl waits for the fire "
     "and\n"
     "prints it.\n",
     "  # hand a job to the consumers of channel jobs\n"
     "  evctl soon --channel jobs --payload '{\"id\": 42}'\n"
     "  # restart a service now, as a hook, and keep its output\n"
     "  evctl soon --shell 'systemctl restart myapp'\n"
     "  # once per key: a second call returns the same timer\n"
     "  evctl soon --channel mail --key welcome-1001 --payload 1001\n"},
    {"later", "fire after a duration",
     "Schedules a timer that fires DURATION from now (5m, 1h30m, '2 "
     "hours'),\n"
     "on the monotonic clock (it stops while the machine sleeps) or with\n"
     "--clock boottime on one that does not. It fires into a channel "
     "(--channel),\n"
     "runs a hook (--exec, --shell), or comes back to evctl, which waits "
     "and\n"
     "prints it. --every repeats it; prints the id and when it fires.\n",
     "  # remind every terminal in ten minutes\n"
     "  evctl later 10m --shell 'echo tea is ready | wall'\n"
     "  # a job in an hour, then every hour, 24 times\n"
     "  evctl later 1h --every 1h --count 24 --channel poll\n"
     "  # block here for 30 seconds, then print the fire\n"
     "  evctl later 30s\n"
     "  # only the id, for scripts\n"
     "  evctl later -q 5m --exec -- /usr/bin/logger -t evd five minutes\n"},
    {"at", "fire at a time",
     "Schedules a timer that fires at TIME on the wall clock: "
     "'tomorrow 09:00',\n"
     "'friday 17:00', '2026-12-24 18:00 Europe/Paris', +5m, @1796115600 "
     "('evctl\n"
     "help time' lists the forms). A local time is in --tz ZONE, else "
     "yours;\n"
     "a wall time in the past is refused unless --allow-past.\n",
     "  # a reminder tomorrow morning, in your zone\n"
     "  evctl at 'tomorrow 09:00' --channel remind --payload standup\n"
     "  # 17:00 next Friday in New York, whatever your zone\n"
     "  evctl at 'friday 17:00' --tz America/New_York --shell "
     "'~/bin/weekly-report'\n"
     "  # at noon, then every day\n"
     "  evctl at noon --every 1d --channel lunch\n"},
    {"on", "fire on a calendar (cron or OnCalendar=)",
     "Schedules a calendar timer: it fires at every occurrence of EXPR, "
     "in\n"
     "cron syntax ('30 2 * * *', @daily) or systemd OnCalendar= syntax\n"
     "('Mon..Fri 09:00', '*:0/15'), in --tz ZONE (default: yours, stored "
     "with\n"
     "the timer), until cancelled or --count fires. --dst-gap and "
     "--dst-overlap\n"
     "say what a local time that DST skips or repeats does.\n",
     "  # a backup at 02:30 every night, Berlin time\n"
     "  evctl on '30 2 * * *' --tz Europe/Berlin --exec -- /usr/bin/logger "
     "backup\n"
     "  # a stand-up message on weekdays at nine\n"
     "  evctl on 'Mon..Fri *-*-* 09:00:00' --channel standup --payload "
     "standup\n"
     "  # every 15 minutes, spread over 30 seconds, a week long\n"
     "  evctl on '*:0/15' --channel poll --randomized-delay 30s --count "
     "672\n"},
    {"cancel", "cancel timers, by id, channel or owner",
     "Cancels timers: each ID, or in one request and one commit every "
     "pending\n"
     "timer that fires into a channel (--channel) or all of yours (--all);\n"
     "as a channel's owner or root, --uid picks one user's. Cancelling a\n"
     "timer that already ended succeeds with a note; prints how many for\n"
     "--channel and --all.\n",
     "  evctl cancel 65541\n"
     "  evctl cancel 65541 65542 65543\n"
     "  # everything that would fire into channel jobs\n"
     "  evctl cancel --channel jobs\n"
     "  # every timer of yours\n"
     "  evctl cancel --all\n"},
    {"pause", "keep timers from firing",
     "Keeps timers from firing until 'evctl resume'; a deadline passed "
     "while\n"
     "paused fires on resume as its misfire policy says. Prints 'ID STATE "
     "DUE'\n"
     "for each.\n",
     "  evctl pause 65541\n"
     "  evctl pause 65541 65542\n"},
    {"resume", "let paused timers fire again",
     "Lets paused timers fire again, on their schedule. Prints 'ID STATE "
     "DUE'\n"
     "for each.\n",
     "  evctl resume 65541\n"
     "  evctl resume 65541 65542\n"},
    {"trigger", "fire timers once now",
     "Fires timers once now, as if due: their schedule stays (a calendar\n"
     "timer still fires at its next occurrence). Prints 'ID STATE DUE'.\n",
     "  # run tonight's backup now, as a test\n"
     "  evctl trigger 65541\n"
     "  evctl trigger 65541 65542\n"},
    {"retry", "run an exec timer's command again",
     "Runs an exec timer's command once more, now, even when the timer\n"
     "finished (a one-shot that failed): it comes back for this run, its\n"
     "--retry count anew. Prints 'ID STATE DUE'.\n",
     "  # the backup failed: run it again and watch how it goes\n"
     "  evctl retry 65545\n"
     "  evctl retry 65545 && evctl wait 65545\n"},
    {"get", "show a timer",
     "Shows a timer, pending or ended: its state, next fire (due), how it\n"
     "repeats, its options and hook, one 'run:' line per record of its\n"
     "history, newest first, and the output of its newest hook run.\n",
     "  evctl get 65541\n"
     "  # the next fire, for a script\n"
     "  evctl get 65541 --json | jq -r .due\n"},
    {"wait", "wait for a timer's fire and print how it went",
     "Waits until the timer's next fire is done (its hook ended, its "
     "message\n"
     "was queued) and prints the run: outcome, exit status, duration, "
     "then\n"
     "the hook's output. Exits with the hook's status (124: killed at its\n"
     "--exec-timeout), so a script can wait for a job it scheduled.\n",
     "  evctl wait 65541\n"
     "  # at most an hour\n"
     "  evctl wait 65541 --timeout 1h\n"
     "  evctl wait 65541 || echo \"the job failed: $?\"\n"},
    {"channel", "list channels; show one; grant or revoke rights",
     "channel list prints the channels you may see with their queued, "
     "in-flight\n"
     "and dead messages and subscribers. channel show prints one's owner,\n"
     "counters and grants. channel grant and revoke (its owner, or root) "
     "give\n"
     "or take a uid's or gid's right to subscribe or publish.\n",
     "  evctl channel list\n"
     "  evctl channel show jobs\n"
     "  # let uid 1001 consume jobs\n"
     "  evctl channel grant jobs --uid 1001 --subscribe\n"
     "  evctl channel revoke jobs --gid 100\n"},
    {"list", "what runs when, and how it went",
     "Lists your timers (root: everyone's) as systemctl list-timers does: "
     "ID,\n"
     "NEXT in local time, LEFT, LAST, RESULT, REPEAT, OWNER and WHAT, "
     "sorted by\n"
     "next fire, in 100 columns (--wide: full values). --all adds the "
     "finished\n"
     "timers the daemon keeps; --failed shows only those whose last run "
     "failed.\n",
     "  evctl list\n"
     "  # what failed recently\n"
     "  evctl list --failed\n"
     "  evctl list --channel jobs --wide\n"
     "  evctl list --all --json\n"},
    {"runs", "each run of a timer with its output",
     "Prints each run of a timer the daemon keeps, oldest first: when it\n"
     "fired, its result, how long it took and how late it was, then its\n"
     "output, stdout after '    | ', stderr after '    ! '.\n",
     "  evctl runs 65545\n"
     "  evctl runs 65545 --json | jq 'select(.failed)'\n"},
    {"logs", "each run of a timer with its output (as runs)",
     "The same as runs: each run of a timer, with its result and output.\n",
     "  evctl logs 65545\n"
     "  evctl logs 65545 | less\n"},
    {"time", "the daemon's clocks",
     "Prints the daemon's clocks: monotonic (asyncio's loop.time()), "
     "realtime\n"
     "and boottime, in seconds, as 'at --clock monotonic' takes them.\n",
     "  evctl time\n"
     "  evctl time --json\n"},
    {"stats", "the daemon's counters",
     "Prints the daemon's counters: pending timers, connections, fires,\n"
     "channel messages queued, in flight and dead, clock steps and zone\n"
     "changes it saw, its version and store.\n",
     "  evctl stats\n"
     "  evctl stats --json | jq .pending_timers\n"},
    {"watch", "consume a channel: print its fires, or run a command each",
     "Subscribes to a channel and prints each fire, acknowledging it once\n"
     "printed; --count N stops after N. With '-- CMD', a worker: runs CMD "
     "per\n"
     "message (payload on stdin, the fire in EVD_* variables), acks on "
     "exit 0\n"
     "and rejects otherwise with the reason; --concurrency N at once.\n",
     "  evctl watch jobs\n"
     "  # wait for one message, then exit\n"
     "  evctl watch jobs --count 1 --timeout 1m\n"
     "  # four workers\n"
     "  evctl watch jobs --concurrency 4 -- /usr/local/bin/process-job\n"
     "  # ack each fire and schedule its timer again an hour later\n"
     "  evctl watch poll --reschedule-in 1h\n"},
    {"batch", "schedule many timers from stdin, pipelined",
     "Reads one request a line from stdin (evctl's own words, or a JSON "
     "array\n"
     "of them): soon, later, at and on with --channel or a hook, and "
     "cancel.\n"
     "Sends them all on one connection without waiting for each answer, "
     "then\n"
     "prints one result a line in input order: the id, or '-' (why on "
     "stderr).\n",
     "  # ten thousand reminders, each with its own key\n"
     "  seq 10000 | sed 's/.*/later 1h --channel remind --key r&/' | evctl "
     "batch\n"
     "  printf '%s\\n' 'soon --channel jobs --payload a' 'cancel 65541' | "
     "evctl batch\n"
     "  evctl batch --json < requests.txt\n"},
    {"import", "schedule a crontab or systemd timers in evd",
     "Turns each entry of a crontab (yours, through crontab -l, without "
     "FILE;\n"
     "'-' for stdin) or each .timer unit with its service into the evctl\n"
     "command line it is equivalent to, and schedules them, pipelined as "
     "batch\n"
     "does. --dry-run prints those lines and the next fire instead. Keys "
     "make a\n"
     "second import schedule nothing again; what does not map is named on\n"
     "stderr with its line.\n",
     "  # what your crontab would become, without scheduling it\n"
     "  evctl import crontab --dry-run\n"
     "  echo '0 3 * * * /usr/local/bin/backup' | evctl import crontab - "
     "--dry-run\n"
     "  evctl import systemd-timer /lib/systemd/system/apt-daily.timer "
     "--dry-run\n"},
    {"dead", "a channel's dead letters: list, requeue, purge",
     "Lists a channel's dead letters (messages that ran out of delivery\n"
     "attempts or that a consumer rejected for good) with the reason; "
     "--requeue\n"
     "puts one (FIRE_ID) or all back in the queue, --purge deletes them; "
     "both\n"
     "print how many.\n",
     "  evctl dead jobs\n"
     "  # the consumer is fixed: deliver them again\n"
     "  evctl dead jobs --requeue\n"
     "  evctl dead jobs --purge 65600\n"},
    {"purge", "delete the messages waiting in a channel",
     "Deletes the messages waiting in a channel's queue (not those a\n"
     "subscriber holds, nor dead letters) and prints how many: as its "
     "owner\n"
     "or root everyone's, or --uid's; anyone else only their own.\n",
     "  evctl purge jobs\n"
     "  # only what uid 1001 sent\n"
     "  evctl purge jobs --uid 1001\n"},
    {"peek", "show the messages waiting in a channel",
     "Prints the messages waiting in a channel's queue, in delivery order, "
     "as\n"
     "watch prints fires, without taking them: the first 100, or --count "
     "N.\n",
     "  evctl peek jobs\n"
     "  evctl peek jobs --count 10 --json\n"},
    {"next", "when a calendar expression fires",
     "Prints the next occurrences of a calendar expression, without the "
     "daemon,\n"
     "as systemd-analyze calendar does: the weekday and local time, UTC, "
     "and\n"
     "the time left. Check an expression before 'evctl on' uses it.\n",
     "  evctl next '0 9 * * Mon-Fri' --tz Europe/Berlin -n 3\n"
     "  # the spring-forward day\n"
     "  evctl next '30 2 * * *' --tz Europe/Berlin --after '2027-03-27 "
     "12:00' -n 2\n"
     "  evctl next '*-*~1 18:00' -n 12\n"},
    {"parse", "how evctl reads a time, duration or calendar expression",
     "Prints how TEXT is read, without the daemon: as a time (normalised, "
     "UTC,\n"
     "local), as a duration, and as a calendar expression with its next\n"
     "occurrences; each reading that succeeds is one block.\n",
     "  evctl parse 'tomorrow 10:00'\n"
     "  evctl parse '1h30m'\n"
     "  evctl parse 'Mon..Fri 09:00' --tz America/New_York -n 3\n"},
    {"ui", "a web dashboard of your timers, runs and channels",
     "Serves a dashboard of what you may see through evd (root: "
     "everyone's) on\n"
     "loopback until Ctrl-C: timers by next fire, a 24-hour timeline, "
     "recent\n"
     "runs with their output, channels and dead letters, with cancel, "
     "pause,\n"
     "resume, trigger, retry and requeue. Prints its URL, which carries a\n"
     "random token in its fragment (#token=..., never sent to a server);\n"
     "the page sends it as an X-Evd-Token header, which every /api/ "
     "request\n"
     "needs. No cookie is used.\n",
     "  evctl ui\n"
     "  evctl ui --no-open --listen 127.0.0.1:8478\n"},
    {"help", "this help, a topic's, or a verb's",
     "Prints the summary of every verb; with a verb, its synopsis, "
     "description\n"
     "and examples (as 'evctl VERB --help'); 'evctl help on' (or "
     "calendar) the\n"
     "calendar syntax, 'evctl help time' the forms of times and "
     "durations.\n",
     "  evctl help later\n"
     "  evctl help on\n"
     "  evctl watch --help\n"},
    {"completion", "print a shell completion script",
     "Prints the completion script for bash, zsh or fish, made from "
     "evctl's own\n"
     "verbs and options: verbs, options, their fixed values, timer ids, "
     "channels\n"
     "and time zones. The package installs them where each shell looks; by hand:\n",
     "  source <(evctl completion bash)\n"
     "  evctl completion zsh > ~/.zfunc/_evctl\n"
     "  evctl completion fish | source\n"},
};

static const struct verb_doc *
verb_doc_of(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(verb_docs) / sizeof(verb_docs[0]); i++)
		if (strcmp(verb_docs[i].name, name) == 0)
			return &verb_docs[i];
	return NULL;
}

const char *
verb_summary(const char *name)
{
	const struct verb_doc *d = verb_doc_of(name);

	return d != NULL ? d->summary : NULL;
}

void
help_verb(const struct verb *v)
{
	const struct verb_doc *d = verb_doc_of(v->name);

	printf("usage: evctl %s\n", v->synopsis);
	if (d == NULL)
		return;
	printf("\n%s\nExamples:\n%s", d->about, d->examples);
	/* The verbs that are also topics (help on, help time), and those
	 * whose operand has a syntax of its own. */
	if (strcmp(v->name, "on") == 0)
		printf("\n%s", help_on);
	else if (strcmp(v->name, "time") == 0)
		printf("\n%s", help_time);
	else if (strcmp(v->name, "next") == 0)
		printf("\nThe calendar syntax: evctl help calendar.\n");
	else if (strcmp(v->name, "at") == 0 || strcmp(v->name, "parse") == 0)
		printf("\nThe forms of TIME and DURATION: evctl help "
		       "time.\n");
}

/* help [TOPIC]: the general help, a topic, or a verb's help. */
int
verb_help(struct ctl *x)
{
	const char *topic = x->nargs > 0 ? x->args[0] : NULL;
	const char *near;
	size_t i;

	if (topic == NULL) {
		help();
		printf("\nHelp topics: evctl help on (calendar syntax), evctl "
		       "help time (times\nand durations), evctl help VERB.\n");
	} else if (strcmp(topic, "calendar") == 0) {
		fputs(help_on, stdout);
	} else if (strcmp(topic, "duration") == 0) {
		fputs(help_time, stdout);
	} else {
		for (i = 0; i < nverbs; i++)
			if (strcmp(verbs[i].name, topic) == 0 &&
			    !(verbs[i].flags & VERB_HIDDEN))
				break;
		if (i == nverbs) {
			near = verb_suggest(topic);
			if (near != NULL)
				return usage_error("no help on '%s'; did you "
						   "mean '%s'?",
						   topic, near);
			return usage_error("no help on '%s' (topics: on, time, "
					   "or a verb)",
					   topic);
		}
		help_verb(&verbs[i]);
	}
	return check_stdout();
}

void
help(void)
{
	size_t i;

	printf("Usage: evctl [OPTIONS] VERB [ARGS...]\n"
	       "\n"
	       "Ask evd, the timer daemon, to call back later, and manage "
	       "its timers.\n"
	       "\n"
	       "Verbs:\n");
	for (i = 0; i < nverbs; i++)
		if (!(verbs[i].flags & VERB_HIDDEN))
			printf("  %s\n", verbs[i].synopsis);
	printf(
	    "\n"
	    "Options (anywhere on the line):\n"
	    "  --socket PATH      the daemon's socket (default: $EVD_SOCKET, "
	    "else\n"
	    "                     $XDG_RUNTIME_DIR/evd.sock, or "
	    "/run/evd/evd.sock as root)\n"
	    "  --json             one JSON object per output line\n"
	    "  --timeout DURATION watch, wait, and soon/later/at without "
	    "--channel or a\n"
	    "                     hook: how long to wait (default: forever); "
	    "other verbs:\n"
	    "                     bound on each request (default: 30s). "
	    "Never the hook's\n"
	    "                     own time limit: that is --exec-timeout\n"
	    "  --channel NAME     fire into this channel (durable); without "
	    "it the fire\n"
	    "                     comes back to evctl, which waits for it and "
	    "prints it\n"
	    "  --payload TEXT     bytes delivered with the fire\n"
	    "  --key KEY          idempotency key: the same key returns the "
	    "same timer\n"
	    "  --clock CLOCK      monotonic (later's default), boottime, "
	    "realtime (at's\n"
	    "                     default); 'at' on monotonic/boottime takes "
	    "seconds as\n"
	    "                     'evctl time' prints them\n"
	    "  --count N          watch: exit after N fires; soon/later/at "
	    "--every and on:\n"
	    "                     the timer ends after N fires\n"
	    "  --visibility DURATION\n"
	    "                     watch: how long a fire may stay unacked "
	    "before it is\n"
	    "                     redelivered (default: the daemon's, 30s)\n"
	    "  --reschedule-in DURATION, --reschedule-at TIME\n"
	    "                     watch: ack each fire and, in the same "
	    "commit, schedule\n"
	    "                     its timer again (the trampoline: never lost "
	    "or doubled)\n"
	    "  --tz ZONE          at, parse: the zone of a local TIME; on, "
	    "next: the\n"
	    "                     calendar's zone (default: $TZ, else the "
	    "system's; for\n"
	    "                     on, evd's)\n"
	    "  --requeue          dead: put the dead message FIRE_ID (all "
	    "without it)\n"
	    "                     back in the channel's queue; prints how "
	    "many\n"
	    "  --purge            dead: delete the dead message FIRE_ID (all "
	    "without it)\n"
	    "                     for good; prints how many\n"
	    "  --uid UID, --gid GID\n"
	    "                     channel grant/revoke: whose rights\n"
	    "  --subscribe, --publish\n"
	    "                     channel grant/revoke: which rights "
	    "(revoke without\n"
	    "                     either: both)\n"
	    "  -q, --quiet        soon/later/at/on: print the new timer's id "
	    "alone\n"
	    "                     (else 'ID  next: Sun 2026-12-06 02:30:00 "
	    "CET (in 5h)')\n"
	    "  --all, --failed    list: finished timers too; only those whose "
	    "last run\n"
	    "                     failed\n"
	    "  --wide             list: full values, not cut to 100 columns\n"
	    "  --dry-run          import: print what would be scheduled, "
	    "schedule nothing\n"
	    "  -h, --help         this help\n"
	    "  --version          the version\n"
	    "\n"
	    "TIMER OPTIONS (soon, later, at):\n"
	    "  --misfire fire|skip|all\n"
	    "                     a deadline missed while evd was down: fire "
	    "once, late\n"
	    "                     (default), do not fire, or fire every missed "
	    "occurrence\n"
	    "  --delivery at-least-once|at-most-once\n"
	    "                     channel fires: redelivered until acked "
	    "(default), or\n"
	    "                     removed when delivered\n"
	    "  --max-attempts N   channel fires: deliveries without an ack "
	    "before the\n"
	    "                     message goes to the dead-letter list "
	    "(default: evd's)\n"
	    "  --downtime counts|paused\n"
	    "                     a relative deadline across a reboot: keep "
	    "its wall-clock\n"
	    "                     instant (default), or do not count the "
	    "time down\n"
	    "\n"
	    "REPEAT (soon, later, at; on takes all but --every):\n"
	    "  --every DURATION   fire again every DURATION after the first "
	    "fire, each\n"
	    "                     deadline the previous one plus DURATION (no "
	    "drift)\n"
	    "  --count N          end after N fires (default: until "
	    "cancelled)\n"
	    "  --randomized-delay DURATION\n"
	    "                     move each deadline later by a random amount "
	    "below it\n"
	    "  --accuracy DURATION\n"
	    "                     evd may fire up to this late (never early) "
	    "to batch\n"
	    "                     wake-ups\n"
	    "  --overlap skip|queue-one|allow|terminate-previous\n"
	    "                     a repeating hook whose previous run still "
	    "runs\n"
	    "  Without --channel or a hook, evctl prints each fire until "
	    "--count.\n"
	    "\n"
	    "HOOK (soon, later, at, on): run a command as you when the timer "
	    "fires; such\n"
	    "timers are durable, so evctl prints the id and exits at once:\n"
	    "  --exec -- PROG [ARGS...]\n"
	    "                     everything after '--' is the command, run "
	    "without a\n"
	    "                     shell (PROG: a path, or looked up in "
	    "/usr/local/bin:\n"
	    "                     /usr/bin:/bin)\n"
	    "  --shell 'CMD'      run /bin/sh -c CMD instead\n"
	    "  --cwd DIR          its working directory (default: your "
	    "home)\n"
	    "  --env KEY=VALUE    add to its environment (repeatable); it "
	    "also gets\n"
	    "                     EVD_TIMER_ID, EVD_FIRE_ID, EVD_DUE_NS, "
	    "EVD_LATENESS_NS\n"
	    "  --exec-timeout DURATION\n"
	    "                     kill it (SIGTERM, then SIGKILL) after this "
	    "long\n"
	    "                     (default: no limit)\n"
	    "  --property KEY=VALUE, -p KEY=VALUE\n"
	    "                     a job setting as systemd-run -p takes it "
	    "(repeatable;\n"
	    "                     the daemon refuses keys outside its "
	    "whitelist)\n"
	    "  --retry N          run a failed hook again up to N more times\n"
	    "  --retry-delay DURATION\n"
	    "                     before the first retry (default 1s; "
	    "doubled for each\n"
	    "                     next one, at most 1h)\n"
	    "  --on-failure CHANNEL\n"
	    "                     when it fails for good, a message (JSON: "
	    "ids, outcome,\n"
	    "                     exit code, output tail) goes to CHANNEL\n"
	    "  --pass-env NAME    copy NAME=value from evctl's environment "
	    "(repeatable)\n"
	    "  The payload (--payload) is its standard input.\n"
	    "\n"
	    "wait ID waits until the timer's fire is done and prints how it "
	    "went\n"
	    "(outcome, exit_code or signal, duration), then the hook's last "
	    "output:\n"
	    "its stdout on stdout, its stderr on stderr. Its exit status is "
	    "the hook's;\n"
	    "128+N if signal N killed it; 124 if it was killed at its "
	    "timeout; 1 if it\n"
	    "could not start, the timer was cancelled, the daemon refused, or "
	    "--timeout\n"
	    "ran out; 0 for a timer without a hook once its fire is done.\n"
	    "A repeating timer's wait is for its next fire: when that is more "
	    "than 15\n"
	    "minutes away, or the timer is paused, wait refuses unless --next "
	    "says\n"
	    "so.\n"
	    "\n"
	    "channel list prints the channels you may see with their "
	    "queued,\n"
	    "in-flight and dead messages; peek CHANNEL prints the waiting "
	    "messages\n"
	    "(--count N of them) without taking them.\n"
	    "channel show CHANNEL prints a channel's owner, counters and "
	    "grants (its\n"
	    "owner, root and grantees may look); channel grant/revoke, for "
	    "its owner\n"
	    "or root, change a uid's or gid's rights and print the result.\n"
	    "\n"
	    "watch CHANNEL -- CMD [ARGS...] is a worker: it runs CMD once per "
	    "message,\n"
	    "the payload on its stdin and EVD_CHANNEL, EVD_FIRE_ID, "
	    "EVD_TIMER_ID,\n"
	    "EVD_ATTEMPT, EVD_DUE (RFC 3339), EVD_DUE_NS, EVD_FIRED_NS, "
	    "EVD_LATENESS_NS,\n"
	    "EVD_PAYLOAD_SIZE and EVD_SOCKET in its environment. Exit 0 acks "
	    "the message;\n"
	    "anything else rejects it with the exit status and the tail of "
	    "its stderr\n"
	    "as the reason (redelivered after a backoff, or dead after "
	    "max-attempts).\n"
	    "  --concurrency N    N commands at once (default 1); the daemon "
	    "hands over\n"
	    "                     no more messages than that\n"
	    "  --visibility D     also the command's time limit (default 1h): "
	    "it is\n"
	    "                     killed and its message rejected just before\n"
	    "  SIGTERM or SIGINT: take no more, let running commands finish; "
	    "a second\n"
	    "  one passes SIGTERM to them and leaves their messages unacked.\n"
	    "\n"
	    "batch reads one request a line from stdin, evctl's own words "
	    "('later 5m\n"
	    "--channel jobs --payload x', quoted as in a shell) or a JSON "
	    "array of them\n"
	    "(['later','5m','--channel','jobs'] with double quotes); soon, "
	    "later, at and\n"
	    "on with --channel or a hook, and cancel. It sends them all on "
	    "one connection\n"
	    "without waiting for each answer, then prints one result a "
	    "request in input\n"
	    "order: the timer id, or '-' when it failed (why on stderr); with "
	    "--json an\n"
	    "object with its \"line\". Blank and '#' lines are skipped. "
	    "Progress shows on\n"
	    "stderr when it is a terminal. Exit 2 if a line was not a "
	    "request, else 1 if\n"
	    "the daemon refused one.\n"
	    "\n"
	    "import crontab [FILE|-] schedules a crontab's entries (FILE, "
	    "stdin, or\n"
	    "without FILE yours, read with 'crontab -l') as 'on' timers "
	    "running each\n"
	    "command with /bin/sh -c (or SHELL=), in CRON_TZ= (else TZ=, else "
	    "your\n"
	    "zone), with the NAME=value lines as --env and the text after '%%' "
	    "on stdin;\n"
	    "cron's --misfire skip --overlap allow. MAILTO= is ignored, "
	    "@reboot skipped.\n"
	    "import systemd-timer UNIT.timer... schedules a timer unit with "
	    "its service:\n"
	    "OnCalendar= as 'on' (--misfire skip unless Persistent=true), "
	    "OnBootSec= as\n"
	    "'at SECONDS --clock monotonic', OnActiveSec= as 'later', "
	    "OnUnitActiveSec=\n"
	    "as --every, RandomizedDelaySec=/AccuracySec= as "
	    "--randomized-delay/--accuracy;\n"
	    "ExecStart=, Environment=, WorkingDirectory=, RuntimeMaxSec= and "
	    "the job\n"
	    "settings evd takes as the hook; User= of someone else only for "
	    "root, who\n"
	    "imports it as that user. --dry-run prints the equivalent "
	    "evctl command\n"
	    "lines with their next fire (after --after TIME) and schedules "
	    "nothing. Keys\n"
	    "(import:crontab:HASH, import:systemd:UNIT:N) make a second import "
	    "schedule\n"
	    "nothing twice. What cannot be expressed is said with its FILE:LINE "
	    "and\n"
	    "skipped (exit 1); 'man evctl' has the mapping tables.\n"
	    "\n"
	    "dead CHANNEL lists the channel's dead letters (messages that "
	    "reached\n"
	    "max-attempts), one line each as watch prints fires, with "
	    "reason=: why\n"
	    "the last delivery failed. get ID shows "
	    "the\n"
	    "timer's state, options, hook and history, one 'run:' line per "
	    "fire,\n"
	    "newest first (hooks: with exit=, signal=, duration=), then the "
	    "newest\n"
	    "hook run's output as 'stdout:' and 'stderr:' lines.\n"
	    "list shows what runs when and how it went, as systemctl "
	    "list-timers:\n"
	    "NEXT (local time), LEFT, LAST, RESULT, REPEAT, OWNER (root), "
	    "WHAT, by\n"
	    "next fire. runs ID (or logs ID) shows each run of a timer with "
	    "its\n"
	    "result and output ('    | ' stdout, '    ! ' stderr).\n"
	    "purge CHANNEL deletes the messages waiting in a channel's queue "
	    "(its\n"
	    "owner: everyone's, or --uid's; others: their own) and prints how "
	    "many.\n"
	    "\n"
	    "ui serves a dashboard of what you may see (root: everything) "
	    "on loopback:\n"
	    "timers by next fire with countdowns, the next 24 hours, recent "
	    "runs with\n"
	    "their output, channels with dead letters, the lateness of your "
	    "runs. It\n"
	    "prints its URL with a random token in its fragment (#token=...), "
	    "which the page\n"
	    "sends as the X-Evd-Token header every /api/ request needs (no "
	    "cookie: a\n"
	    "browser would send one to every local port); actions\n"
	    "(cancel, pause, resume, trigger, retry, requeue) are POST from "
	    "the page's\n"
	    "own origin only. Ctrl-C stops it.\n"
	    "  --listen ADDR:PORT 127.0.0.1:PORT, [::1]:PORT or "
	    "localhost:PORT (default\n"
	    "                     127.0.0.1 and a free port); other addresses "
	    "are refused\n"
	    "  --no-open          do not open a browser (default: xdg-open, "
	    "with a display)\n"
	    "\n"
	    "on EXPR schedules a calendar timer (cron or OnCalendar= syntax; "
	    "'evctl help on').\n"
	    "pause ID stops a timer until resume ID; trigger ID fires it once "
	    "now, its\n"
	    "schedule unchanged; retry ID runs an exec timer's command once "
	    "more, now,\n"
	    "even when it finished; each prints 'ID STATE DUE'.\n"
	    "parse TEXT prints how a time, duration or calendar expression is "
	    "read\n"
	    "(normalised, in UTC and local time, next occurrences), without "
	    "the daemon.\n"
	    "\n"
	    "next prints when a calendar expression elapses, without the "
	    "daemon: cron\n"
	    "('*/15 9-17 * * Mon-Fri', '@daily') or systemd OnCalendar= "
	    "syntax\n"
	    "('Mon..Fri *-*-* 09:00:00', 'daily', '*:0/15', "
	    "'*-*~1 18:00 Europe/Berlin').\n"
	    "  --tz ZONE          the zone when the expression names none "
	    "(default: $TZ,\n"
	    "                     else the system's)\n"
	    "  -n N               how many occurrences (default: 5)\n"
	    "  --after TIME       from this instant on (default: now)\n"
	    "  --dst-gap shift|skip|utc\n"
	    "                     a local time the clock skips: at the end "
	    "of the gap\n"
	    "                     (default), not that day, or with the "
	    "offset before it\n"
	    "  --dst-overlap first|second|both\n"
	    "                     a local time that occurs twice: the first "
	    "(default),\n"
	    "                     the second, or both\n"
	    "\n"
	    "DURATION: 250ms, 5s, 90, 1.5h, 1h30m, 2d (units ns us ms s m h "
	    "d w);\n"
	    "      later and --every also '5 minutes', '1 hour 30 minutes'.\n"
	    "TIME: 2026-12-01T09:00:00Z, 2026-12-01T09:00:00+01:00, "
	    "'2026-12-01 09:00'\n"
	    "      (local time), '2026-12-01 09:00 Europe/Paris', @1796115600 "
	    "(Unix\n"
	    "      seconds), now, +5m, 'now + 2 hours', 'in 5 minutes', "
	    "'tomorrow 10:00',\n"
	    "      noon, midnight, 'monday 09:00' ('evctl help time').\n"
	    "\n"
	    "Exit status: 0 success, 1 the daemon refused or a wait timed "
	    "out,\n"
	    "2 usage error, 3 the daemon cannot be reached (wait: see "
	    "above).\n");
}
