#!/usr/bin/env bash
# test_evctl: the CLI against the real evd: the README's demo (later with
# a channel, then watch), waiting for a caller fire, cancel, get, list,
# time, stats, --json, channel show/grant/revoke, exec hooks and wait
# (skipped, saying so, on an evd without them), repeating and calendar
# timers, pause/resume/trigger, the trampoline (watch --reschedule-in),
# exec hook options (--property, --retry, --on-failure, --pass-env, retry),
# human times, parse/help, and the exit codes.
# usage: test_evctl.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
sock=$dir/evd.sock
pass=0
fail=0
evd_pid=

cleanup() {
	if [ -n "$evd_pid" ] && kill -0 "$evd_pid" 2>/dev/null; then
		kill -TERM "$evd_pid"
		wait "$evd_pid"
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "[       OK ] $1"; }
bad() { fail=$((fail + 1)); echo "[  FAILED  ] $1: $2"; }
check() { # name, condition command...
	local name=$1; shift
	if "$@"; then ok "$name"; else bad "$name" "$*"; fi
}

# Start evd and wait until its socket answers (bounded: 10 s).
"$EVD" --socket "$sock" --state-dir "$dir/state" 2>"$dir/evd.log" &
evd_pid=$!
for _ in $(seq 1 200); do
	"$EVCTL" --socket "$sock" time >/dev/null 2>&1 && break
	sleep 0.05
done
ctl() { "$EVCTL" --socket "$sock" "$@"; }
# The new timer's id, whatever the text output looks like.
tid() { ctl --json "$@" | sed -n 's/.*"timer_id":\([0-9]*\).*/\1/p' | head -1; }

# The README demo: a channel fire with a payload, then watch prints it.
# Scheduling prints the id and when it fires (issue 17); --quiet the id.
out=$(TZ=UTC ctl later 1s --channel demo --payload hi)
id=${out%% *}
check "later prints an id" test -n "$id"
check "the id is a number" bash -c "[[ '$id' =~ ^[0-9]+$ ]]"
check "later prints when it fires" bash -c "[[ '$out' =~ \
^$id\ \ next:\ (Mon|Tue|Wed|Thu|Fri|Sat|Sun)\ [0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9:]{8}\ UTC\ \((in\ [0-9]+ms|now)\)$ ]]"
out=$(ctl later --quiet 1h --channel demo-q)
check "--quiet prints the id alone" bash -c "[[ '$out' =~ ^[0-9]+$ ]]"
ctl cancel "$out" >/dev/null
out=$(ctl watch demo --count 1 --timeout 10s)
rc=$?
check "watch exits 0 after --count" test $rc -eq 0
check "watch prints the payload" bash -c "grep -q 'payload=hi' <<<'$out'"
check "watch prints the timer id" bash -c "grep -q 'timer=$id ' <<<'$out'"

# Without --channel, evctl waits and prints the fire itself.
out=$(ctl later 100ms --payload self)
rc=$?
check "later waits for its own fire" test $rc -eq 0
check "own fire has the payload" bash -c "grep -q 'payload=self' <<<'$out'"
check "id then fire line" test "$(wc -l <<<"$out")" -eq 2

out=$(ctl soon --payload now)
check "soon fires" bash -c "grep -q 'payload=now' <<<'$out'"

# at: an ISO time in the past fires at once, with its lateness, when
# asked for with --allow-past; without it, it is refused as at(1) does.
out=$(ctl at 2020-01-01T00:00:00Z --payload past --allow-past)
check "at in the past fires" bash -c "grep -q 'payload=past' <<<'$out'"
ctl at '2020-01-01 09:00' --channel pastc >/dev/null 2>"$dir/err"
check "at in the past without --allow-past is usage (2)" test $? -eq 2
check "and says it is in the past" grep -q "is in the past.*--allow-past" "$dir/err"
check "and schedules nothing" test -z "$(ctl --json list --channel pastc)"

# Durations: '10mins' as '10min' and '10 mins'; 'later 10 min' unquoted.
out=$(ctl parse 10mins)
check "parse 10mins is 10m" bash -c "grep -q '^normalized: *10m$' <<<'$out'"
id=$(tid later 10 min --channel durc)
check "later 10 min (two operands) schedules" bash -c "[[ '$id' =~ ^[0-9]+$ ]]"
due=$(ctl --json get "$id" | grep -o '"due_realtime_ns":[0-9]*' | cut -d: -f2)
now=$(date +%s%N)
check "later 10 min is ten minutes out" \
	test $(( (due - now) / 1000000000 )) -ge 590 -a $(( (due - now) / 1000000000 )) -le 600
ctl cancel "$id" >/dev/null

# One zone rule: on without --tz uses the caller's zone, as next does.
id=$(TZ=Europe/Berlin tid on '0 9 * * *' --channel tzc)
check "on stores the caller's zone" \
	bash -c "TZ=Europe/Berlin '$EVCTL' --socket '$sock' get '$id' | grep -q '^tz: *Europe/Berlin$'"
next_ns=$(TZ=Europe/Berlin ctl --json next '0 9 * * *' -n 1 | grep -o '"realtime_ns":[0-9]*' | cut -d: -f2)
due_ns=$(ctl --json get "$id" | grep -o '"due_realtime_ns":[0-9]*' | cut -d: -f2)
check "on fires when next says" test "$next_ns" = "$due_ns"
out=$(TZ=Europe/Berlin ctl parse 'tomorrow 10:00')
check "parse names the zone it used" \
	bash -c "grep -q '^zone: *Europe/Berlin (yours)$' <<<'$out'"
ctl cancel "$id" >/dev/null

# cancel / get / list
id=$(ctl later -q 1h --channel keep --payload p1 --key k-1)
again=$(ctl later -q 1h --channel keep --payload p1 --key k-1)
check "same key, same timer" test "$id" = "$again"
out=$(ctl get "$id")
check "get shows the channel" bash -c "grep -q 'keep' <<<'$out'"
out=$(ctl list)
check "list shows the timer" bash -c "grep -q '^$id ' <<<'$out'"
out=$(ctl --json get "$id")
check "get --json has timer_id" bash -c "grep -q '\"timer_id\":$id' <<<'$out'"
out=$(ctl --json list --channel keep)
check "list --json one object" test "$(grep -c '"timer_id"' <<<"$out")" -eq 1
check "cancel succeeds" ctl cancel "$id"
# Idempotent in effect (README): cancelling it again succeeds, saying so.
out=$(ctl cancel "$id" 2>"$dir/err")
check "cancel again is exit 0" test $? -eq 0
check "cancel again says it already ended" \
	grep -q "timer $id already ended (cancelled)" "$dir/err"
check "cancel again prints no id" test -z "$out"
out=$(ctl --json cancel "$id")
check "cancel again --json says not cancelled now" \
	test "$out" = "{\"timer_id\":$id,\"cancelled\":false,\"state\":\"cancelled\"}"
ctl cancel 999999999 2>"$dir/err"
check "cancel of an unknown id is still refused" test $? -ne 0
check "and says why" grep -q "999999999" "$dir/err"

# time / stats
check "time" bash -c "'$EVCTL' --socket '$sock' time | grep -q monotonic"
out=$(ctl --json stats)
check "stats --json" bash -c "grep -q '\"pending_timers\"' <<<'$out'"
# A single node (no --cluster): the node is null, and no node line.
check "stats --json: node null outside cluster mode" \
	bash -c "grep -q '\"node\":null}\$' <<<'$out'"
check "stats: no node lines outside cluster mode" \
	bash -c "! '$EVCTL' --socket '$sock' stats | grep -q '^node'"
out=$(ctl --json later 1h --channel j)
check "schedule --json" bash -c "grep -q '\"timer_id\":' <<<'$out'"

# durable channels: state, options, history, dead letters (issue 3)
id=$(ctl later -q 1h --channel c)
out=$(ctl get "$id")
check "later 1h --channel: get shows pending" \
	bash -c "grep -q '^state: *pending$' <<<'$out'"
out=$(ctl later 1h --channel c --misfire skip --delivery at-most-once \
	--max-attempts 3 --downtime paused)
check "scheduling takes the timer options" test -n "$out"
id=$(ctl soon -q --channel opt --payload o --misfire skip --max-attempts 2 \
	--delivery at-least-once --downtime paused)
out=$(ctl watch opt --count 1 --timeout 10s --visibility 200ms)
check "watch --visibility receives" bash -c "grep -q 'payload=o' <<<'$out'"
out=$(ctl get "$id")
check "get shows fired" bash -c "grep -q '^state: *fired$' <<<'$out'"
check "get shows misfire" bash -c "grep -q '^misfire: *skip$' <<<'$out'"
check "get shows max_attempts" bash -c "grep -q '^max_attempts: *2$' <<<'$out'"
check "get shows downtime" bash -c "grep -q '^downtime: *paused$' <<<'$out'"
check "get shows delivery" \
	bash -c "grep -q '^delivery: *at-least-once$' <<<'$out'"
runs=$(grep '^run: ' <<<"$out")
check "history: two runs" test "$(wc -l <<<"$runs")" -eq 2
check "history: newest (acked) first" \
	bash -c "head -1 <<<'$runs' | grep -q 'outcome=acked detail='"
check "history: then queued" \
	bash -c "tail -1 <<<'$runs' | grep -q 'outcome=queued detail='"
check "history: run fields" bash -c "grep -Eq \
	'^run: fire=[0-9]+ due=[^ ]+ fired=[^ ]+ lateness=[^ ]+ outcome=' <<<'$runs'"
out=$(ctl --json get "$id")
check "get --json options" \
	bash -c "grep -q '\"options\":{\"misfire\":\"skip\"' <<<'$out'"
check "get --json history" \
	bash -c "grep -q '\"history\":\[{.*\"outcome\":\"acked\"' <<<'$out'"
ctl later 1h --channel c --misfire sometimes >/dev/null 2>&1
check "bad --misfire is usage (2)" test $? -eq 2
ctl later 1h --channel c --max-attempts 0 >/dev/null 2>&1
check "bad --max-attempts is usage (2)" test $? -eq 2
ctl later 1h --channel c --delivery maybe >/dev/null 2>&1
check "bad --delivery is usage (2)" test $? -eq 2
ctl later 1h --channel c --downtime never >/dev/null 2>&1
check "bad --downtime is usage (2)" test $? -eq 2
ctl later 1h --channel c --visibility 1s >/dev/null 2>&1
check "--visibility only for watch (2)" test $? -eq 2
ctl watch c --visibility soon >/dev/null 2>&1
check "bad --visibility is usage (2)" test $? -eq 2
out=$(ctl dead nothing)
rc=$?
check "dead on an empty channel exits 0" test $rc -eq 0
check "dead on an empty channel prints nothing" test -z "$out"
out=$(ctl --json dead nothing)
check "dead --json on an empty channel prints nothing" test -z "$out"
# Purging an empty list is done already: 0 purged, success.
out=$(ctl dead nothing --purge 2>"$dir/err")
check "dead --purge of nothing is exit 0" test $? -eq 0
check "dead --purge of nothing prints 0" test "$out" = 0
ctl dead nothing --requeue >/dev/null 2>"$dir/err"
check "dead --requeue of nothing is exit 4 (not found)" test $? -eq 4
check "dead --requeue says no dead messages" grep -q "no dead messages" "$dir/err"
ctl dead nothing --requeue 42 >/dev/null 2>"$dir/err"
check "dead --requeue FIRE_ID unknown is exit 4 (not found)" test $? -eq 4
check "dead --requeue FIRE_ID names it" grep -q "42" "$dir/err"
ctl dead nothing 42 >/dev/null 2>&1
check "dead FIRE_ID without an action is usage (2)" test $? -eq 2
ctl dead nothing --requeue --purge >/dev/null 2>&1
check "dead --requeue --purge is usage (2)" test $? -eq 2
ctl dead nothing --purge x >/dev/null 2>&1
check "dead bad FIRE_ID is usage (2)" test $? -eq 2
ctl dead 'bad name' >/dev/null 2>&1
check "dead on an invalid channel is exit 1" test $? -eq 1
out=$(ctl stats)
check "stats shows dead_messages" bash -c "grep -q '^dead_messages: *0$' <<<'$out'"
out=$(ctl --json stats)
check "stats --json dead_messages" \
	bash -c "grep -q '\"dead_messages\":0' <<<'$out'"
ctl --help >"$dir/help"
for w in --misfire --delivery --max-attempts --downtime --visibility \
	--requeue --purge 'dead CHANNEL'; do
	check "help documents $w" grep -q -- "$w" "$dir/help"
done

# watch timeout
ctl watch nothing-here --count 1 --timeout 200ms >/dev/null 2>&1
rc=$?
check "watch times out non-zero" test $rc -ne 0

# channel show / grant / revoke (the channel exists once a timer uses it)
ctl later 1h --channel granted >/dev/null
out=$(ctl channel show granted)
check "channel show exits 0" test $? -eq 0
check "channel show names the owner" \
	bash -c "grep -q '^owner_uid: *$(id -u)$' <<<'$out'"
check "channel show: no grants yet" bash -c "! grep -q '^grant:' <<<'$out'"
out=$(ctl channel grant granted --uid 61002 --subscribe)
check "channel grant exits 0" test $? -eq 0
check "channel grant prints the grant" \
	bash -c "grep -q '^grant: *uid 61002 subscribe$' <<<'$out'"
out=$(ctl --json channel show granted)
check "channel show --json lists the grant" bash -c \
	"grep -q '\"grants\":\[{\"uid\":61002,\"gid\":null,\"subscribe\":true,\"publish\":false}\]' <<<'$out'"
ctl channel grant granted --gid 61003 --publish >/dev/null
check "channel show lists a gid grant" \
	bash -c "'$EVCTL' --socket '$sock' channel show granted | grep -q '^grant: *gid 61003 publish$'"
out=$(ctl channel revoke granted --uid 61002)
check "channel revoke exits 0" test $? -eq 0
check "channel revoke removes the grant" \
	bash -c "! grep -q 'uid 61002' <<<'$out'"
ctl channel show no-such-channel >/dev/null 2>"$dir/err"
check "channel show unknown is exit 4 (not found)" test $? -eq 4
ctl channel grant granted --subscribe >/dev/null 2>&1
check "channel grant without --uid/--gid is usage (2)" test $? -eq 2
ctl channel grant granted --uid 1 >/dev/null 2>&1
check "channel grant without a right is usage (2)" test $? -eq 2
ctl channel frob granted >/dev/null 2>&1
check "channel frob is usage (2)" test $? -eq 2

# Channel names live in their owner's namespace: USER:NAME is resolved
# here (the daemon looks no names up) to UID:NAME, which is the same
# channel as NAME for its owner, and shown bare to its owner.
me=$(id -un)
out=$(ctl channel show "$me:granted")
check "channel show USER:NAME is one's own NAME" \
	bash -c "grep -q '^channel: *granted$' <<<'$out'"
check "channel show names the owner's login" \
	bash -c "grep -q '^owner: *$me$' <<<'$out'"
out=$(ctl channel show "$(id -u):granted")
check "channel show UID:NAME is one's own NAME" \
	bash -c "grep -q '^channel: *granted$' <<<'$out'"
ctl later 1h --channel "$me:ns-chan" >/dev/null
check "--channel USER:NAME schedules" test $? -eq 0
check "list --channel NAME finds it" \
	bash -c "'$EVCTL' --socket '$sock' --json list --channel ns-chan | grep -q '\"channel\":\"ns-chan\"'"
ctl watch no-such-user-xyz:x --count 1 --timeout 1s >/dev/null 2>"$dir/err"
check "an unknown USER: is usage (2)" test $? -eq 2
check "an unknown USER: says so" grep -q "no user 'no-such-user-xyz'" "$dir/err"
ctl later 1h --channel 'a b:x' >/dev/null 2>&1
check "a bad channel name is refused" test $? -ne 0

# purge: the messages waiting in a channel's queue go, and how many.
for _ in 1 2 3; do ctl soon --channel pq >/dev/null; done
# A soon's reply comes before its fire queues the message: wait (5 s).
for _ in $(seq 1 100); do
	ctl --json channel show pq | grep -q '"queued_messages":3' && break
	sleep 0.05
done
out=$(ctl purge pq)
check "purge exits 0" test $? -eq 0
check "purge prints how many" test "$out" = 3
out=$(ctl --json purge pq --uid 12345)
check "purge --json --uid names the count" \
	bash -c "grep -q '\"from_uid\":12345,\"purged\":0' <<<'$out'"
ctl purge no-such-queue-xyz >/dev/null 2>"$dir/err"
check "purge of an unknown channel is exit 4 (not found)" test $? -eq 4
ctl purge >/dev/null 2>&1
check "purge without a channel is usage (2)" test $? -eq 2

# cancel --channel / --all: one request, prints how many; again: 0.
for _ in 1 2 3; do ctl later 1h --channel bulkc >/dev/null; done
ctl later 1h --channel bulkd >/dev/null
out=$(ctl cancel --channel bulkc)
check "cancel --channel exits 0" test $? -eq 0
check "cancel --channel prints how many" test "$out" = 3
out=$(ctl --json cancel --channel bulkc)
check "cancel --channel again: 0, as JSON" \
	test "$out" = '{"channel":"bulkc","uid":null,"cancelled":0}'
check "cancel --channel left the other channel" \
	test "$(ctl --json list --channel bulkd | grep -c timer_id)" -eq 1
out=$(ctl --json list | grep -c timer_id)
all=$(ctl cancel --all)
check "cancel --all cancels every pending timer of the caller" \
	test "$all" = "$out"
check "nothing is left after cancel --all" test -z "$(ctl --json list)"
ctl cancel 1 --all >/dev/null 2>&1
check "cancel with ids and --all is usage (2)" test $? -eq 2
ctl cancel 1 --uid 0 >/dev/null 2>&1
check "cancel ID --uid is usage (2)" test $? -eq 2
ctl cancel --channel 'a b' >/dev/null 2>&1
check "cancel --channel with a bad name is refused" test $? -ne 0

# channel list and peek: counts per channel; queued messages left there.
for p in m1 m2; do ctl soon --channel peekq --payload $p >/dev/null; done
for _ in $(seq 1 100); do
	[ "$(ctl --json channel show peekq | grep -c '"queued_messages":2')" = 1 ] && break
	sleep 0.05
done
out=$(ctl channel list)
check "channel list has a header" bash -c "head -1 <<<'$out' | grep -q '^CHANNEL .*QUEUED.*INFLIGHT.*DEAD'"
check "channel list shows the queue's depth" \
	bash -c "grep -Eq '^peekq +[0-9]+ +2 +0 +0 +0$' <<<'$out'"
out=$(ctl --json channel list | grep '"channel":"peekq"')
check "channel list --json has the counts" \
	bash -c "grep -q '\"queued_messages\":2,\"inflight_messages\":0' <<<'$out'"
out=$(ctl peek peekq)
check "peek prints the waiting messages in order" \
	test "$(grep -o 'payload=m[0-9]' <<<"$out" | tr '\n' ' ')" = "payload=m1 payload=m2 "
out=$(ctl peek peekq --count 1 2>"$dir/err")
check "peek --count 1 prints one" test "$(wc -l <<<"$out")" -eq 1
check "and says more are waiting" grep -q "more messages are waiting" "$dir/err"
check "peek leaves them queued" test "$(ctl purge peekq)" = 2
ctl peek no-such-queue-xyz >/dev/null 2>&1
check "peek of an unknown channel is refused" test $? -ne 0

# exec hooks: evctl prints the id at once; wait exits with the hook's
# status. Skipped, saying so, when evd has no exec hooks.
ctl later 1s --exec >/dev/null 2>&1
check "--exec without a command is usage (2)" test $? -eq 2
ctl later 1s --cwd / >/dev/null 2>&1
check "--cwd without --exec is usage (2)" test $? -eq 2
id=$(ctl later -q 0s --exec -- /bin/sh -c 'echo out; echo err >&2; exit 7' \
	2>"$dir/err")
rc=$?
if [ $rc -ne 0 ] && grep -q "unknown callback target" "$dir/err"; then
	echo "SKIP: daemon without exec hooks (evctl exec cases)"
else
	check "later --exec exits 0 at once" test $rc -eq 0
	check "later --exec prints an id" bash -c "[[ '$id' =~ ^[0-9]+$ ]]"
	ctl wait "$id" >"$dir/out" 2>"$dir/err"
	rc=$?
	check "wait exits with the hook's status (7)" test $rc -eq 7
	check "wait prints the outcome" grep -q '^outcome: *exited$' "$dir/out"
	check "wait prints the exit code" grep -q '^exit_code: *7$' "$dir/out"
	check "wait prints the hook's stdout" grep -q '^out$' "$dir/out"
	check "wait prints the hook's stderr" grep -q '^err$' "$dir/err"
	out=$(ctl get "$id")
	printf '%s\n' "$out" >"$dir/get"
	check "get shows the command" grep -qF \
		"exec:              /bin/sh -c 'echo out; echo err >&2; exit 7'" \
		"$dir/get"
	check "get shows the run's exit" grep -q 'outcome=exited exit=7 ' "$dir/get"
	id=$(ctl soon -q --shell 'kill -TERM $$')
	ctl wait "$id" >/dev/null 2>&1
	check "wait: killed by SIGTERM is 128+15" test $? -eq 143
	id=$(ctl soon -q --exec-timeout 200ms --exec -- sleep 100)
	ctl wait --timeout 20s "$id" >/dev/null 2>&1
	check "wait: a hook at its timeout is 124" test $? -eq 124
	id=$(ctl soon -q --payload stdin-payload --env K=V --exec -- \
		/bin/sh -c 'cat; echo " $K $EVD_TIMER_ID"')
	out=$(ctl wait "$id")
	check "the hook gets the payload, env and its id" \
		bash -c "grep -q '^stdin-payload V $id$' <<<'$out'"
	id=$(ctl later -q 1h --shell 'true')
	ctl wait --timeout 200ms "$id" >/dev/null 2>"$dir/err"
	check "wait --timeout is exit 1" test $? -eq 1
	check "wait --timeout says timed out" grep -q 'timed out' "$dir/err"
	ctl cancel "$id" >/dev/null
	ctl wait "$id" >/dev/null 2>&1
	check "wait on a cancelled timer is exit 1" test $? -eq 1
	id=$(ctl --json later 0s --exec -- true | sed 's/.*"timer_id":\([0-9]*\).*/\1/')
	out=$(ctl --json wait "$id")
	check "wait --json" bash -c "grep -q '\"outcome\":\"exited\",.*\"exit_code\":0' <<<'$out'"

	# list --json shows an exec timer's command as get does (issue 17).
	id=$(tid later 1h --exec -- /bin/echo a 'b c')
	sid=$(tid later 1h --shell 'echo hi')
	lj=$(ctl --json list | grep "\"timer_id\":$id,")
	gj=$(ctl --json get "$id")
	check "list --json has the exec argv" \
		bash -c "grep -qF '\"argv\":[\"/bin/echo\",\"a\",\"b c\"],\"shell\":false' <<<'$lj'"
	check "list --json exec is get's" test \
		"$(grep -o '"exec":{[^}]*}' <<<"$lj")" = "$(grep -o '"exec":{[^}]*}' <<<"$gj")"
	lj=$(ctl --json list | grep "\"timer_id\":$sid,")
	check "list --json has the shell flag" \
		bash -c "grep -qF '\"argv\":[\"echo hi\"],\"shell\":true' <<<'$lj'"
	ctl cancel "$id" "$sid" >/dev/null

	# --exec's program and --cwd are checked when scheduling.
	ctl later 1h --exec -- /nonexistent/prog >/dev/null 2>"$dir/err"
	check "--exec of a missing program is usage (2)" test $? -eq 2
	check "and names it" grep -q "/nonexistent/prog: no such file" "$dir/err"
	ctl later 1h --exec -- no-such-program-xyz >/dev/null 2>"$dir/err"
	check "--exec of a program not in PATH is usage (2)" test $? -eq 2
	check "and says PATH" grep -q "not found in PATH" "$dir/err"
	echo 'echo hi' >"$dir/noexec" && chmod 0644 "$dir/noexec"
	ctl later 1h --exec -- "$dir/noexec" >/dev/null 2>&1
	check "--exec of a file that is not executable is usage (2)" test $? -eq 2
	ctl later 1h --cwd /nonexistent-dir --shell true >/dev/null 2>"$dir/err"
	check "--cwd of a missing directory is usage (2)" test $? -eq 2
	check "and says why" grep -q "/nonexistent-dir: No such file" "$dir/err"
	id=$(tid later 1h --cwd / --exec -- sh -c true)
	check "--exec resolved through PATH schedules" \
		bash -c "[[ '$id' =~ ^[0-9]+$ ]]"
	# ... and stores the program it found, as an absolute path: evd's
	# PATH is not the caller's (a program in ~/bin would not be found
	# at the fire) and the hook's directory is not evctl's.
	shp=$(command -v sh)
	ctl --json get "$id" >"$dir/get"
	check "--exec through PATH stores the absolute path" \
		grep -qF "\"argv\":[\"$shp\",\"-c\",\"true\"]" "$dir/get"
	ctl cancel "$id" >/dev/null
	mkdir -p "$dir/mybin" && printf '#!/bin/sh\necho mine\n' >"$dir/mybin/myhook" &&
		chmod 0755 "$dir/mybin/myhook"
	id=$(PATH="$dir/mybin:$PATH" tid later 1h --exec -- myhook)
	ctl --json get "$id" >"$dir/get"
	check "--exec of a program in the caller's own PATH stores its path" \
		grep -qF "\"argv\":[\"$dir/mybin/myhook\"]" "$dir/get"
	ctl cancel "$id" >/dev/null
	id=$(cd "$dir" && tid later 1h --exec -- ./mybin/myhook)
	ctl --json get "$id" >"$dir/get"
	check "--exec of a relative path stores it absolute" \
		grep -qF "\"argv\":[\"$dir/./mybin/myhook\"]" "$dir/get"
	ctl cancel "$id" >/dev/null

	# Exec hook options (issue 14): properties, retries, on-failure,
	# pass-env; get shows them; retry re-runs a finished hook.
	ctl later 1s --retry 2 >/dev/null 2>&1
	check "--retry without --exec is usage (2)" test $? -eq 2
	ctl later 1s --retry-delay 1s --shell true >/dev/null 2>&1
	check "--retry-delay without --retry is usage (2)" test $? -eq 2
	ctl later 1s --property NoEquals --shell true >/dev/null 2>&1
	check "--property without = is usage (2)" test $? -eq 2
	env -u EVCTL_TEST_UNSET "$EVCTL" --socket "$sock" soon \
		--pass-env EVCTL_TEST_UNSET --shell true >/dev/null 2>"$dir/err"
	check "--pass-env of a missing variable is usage (2)" test $? -eq 2
	check "--pass-env names the missing variable" \
		grep -q EVCTL_TEST_UNSET "$dir/err"
	id=$(EVCTL_TEST_PASSED='carried over' "$EVCTL" --socket "$sock" soon -q \
		--pass-env EVCTL_TEST_PASSED --exec -- \
		/bin/sh -c 'echo "[$EVCTL_TEST_PASSED]"')
	out=$(ctl wait "$id")
	check "--pass-env carries the variable to the hook" \
		bash -c "grep -qF '[carried over]' <<<'$out'"
	# The daemon judges properties by how it runs hooks: one that
	# cannot honour Nice= says so, and the rest is checked without.
	props=(-p Nice=5)
	ctl later -q 1h "${props[@]}" --shell true >"$dir/out" 2>"$dir/err" || {
		echo "evd refuses Nice= ($(cat "$dir/err")): properties not checked"
		props=()
	}
	[ -s "$dir/out" ] && ctl cancel "$(cat "$dir/out")" >/dev/null
	id=$(ctl later -q 1h --retry 3 --retry-delay 2s --on-failure evctl-alerts \
		"${props[@]}" --shell 'exit 1')
	ctl get "$id" >"$dir/get"
	check "get shows the user" \
		grep -q "^exec_user: *$(id -un)$" "$dir/get"
	if [ ${#props[@]} -gt 0 ]; then
		check "get shows the properties" \
			grep -q '^exec_properties: *Nice=5$' "$dir/get"
		out=$(ctl --json get "$id")
		check "get --json shows the properties" bash -c "grep -q '\"properties\":\\[\"Nice=5\"\\]' <<<'$out'"
	fi
	check "get shows the retries" grep -q '^exec_retry: *3$' "$dir/get"
	check "get shows the retry delay" \
		grep -q '^exec_retry_delay: *2s$' "$dir/get"
	check "get shows the on-failure channel" \
		grep -q '^exec_on_failure: *evctl-alerts$' "$dir/get"
	out=$(ctl --json get "$id")
	check "get --json shows the options" bash -c "grep -q '\"retry\":3,\"retry_delay_ns\":2000000000,\"on_failure\":\"evctl-alerts\"' <<<'$out'"
	ctl cancel "$id" >/dev/null
	# A failing hook runs 1 + 2 times.
	id=$(ctl soon -q --retry 2 --retry-delay 50ms \
		--shell "echo run >> $dir/retried; exit 1")
	for _ in $(seq 1 200); do
		[ "$(wc -l <"$dir/retried" 2>/dev/null)" = 3 ] && break
		sleep 0.05
	done
	check "--retry 2 runs a failing hook three times" \
		test "$(wc -l <"$dir/retried")" = 3
	# retry: a finished one-shot runs again (trigger cannot).
	id=$(ctl soon -q --shell "echo run >> $dir/again")
	ctl wait "$id" >/dev/null
	ctl trigger "$id" >/dev/null 2>&1
	check "trigger of a finished hook is exit 4 (not found)" test $? -eq 4
	ctl retry "$id" >"$dir/out"
	check "retry of a finished hook is exit 0" test $? -eq 0
	check "retry prints the timer" grep -q "^$id " "$dir/out"
	for _ in $(seq 1 200); do
		[ "$(wc -l <"$dir/again")" = 2 ] && break
		sleep 0.05
	done
	check "retry ran the hook again" test "$(wc -l <"$dir/again")" = 2
	ctl retry 987654321 >/dev/null 2>&1
	check "retry of an unknown id is exit 4 (not found)" test $? -eq 4
fi

# repeating and calendar timers, pause/resume/trigger, the trampoline
# (issue 5).
ctl on '*:0/15' --channel probe-on >"$dir/out" 2>"$dir/err"
rc=$?
{
	check "on schedules a calendar timer" test $rc -eq 0
	ctl cancel "$(cat "$dir/out")" >/dev/null
	# interval: first fire after 0.2 s, then every 0.2 s, 3 in all
	out=$(ctl later 0.2s --every 0.2s --count 3 --payload rep --timeout 10s)
	check "later --every --count 3: evctl prints 3 fires" \
		test "$(grep -c 'payload=rep' <<<"$out")" -eq 3
	id=$(ctl later -q 0.2s --every 0.2s --count 3 --channel rep)
	out=$(ctl --json watch rep --count 3 --timeout 10s)
	check "watch receives 3 interval fires" \
		test "$(grep -c "\"timer_id\":$id," <<<"$out")" -eq 3
	out=$(ctl get "$id")
	printf '%s\n' "$out" >"$dir/get"
	check "interval: fire_count 3" grep -q '^fire_count: *3$' "$dir/get"
	check "interval: fired after its count" grep -q '^state: *fired$' "$dir/get"
	id=$(ctl later -q 1h --every 30m --count 3 --channel rep)
	ctl get "$id" >"$dir/get"
	check "interval: get shows every" grep -q '^every: *30m$' "$dir/get"
	check "interval: get shows the count" grep -q '^repeat_count: *3$' "$dir/get"
	out=$(ctl --json get "$id")
	check "interval: get --json repeat" \
		bash -c "grep -q '\"repeat\":{\"every_ns\":1800000000000,\"every\":\"30m\",\"count\":3,' <<<'$out'"
	# wait on a repeating timer whose next fire is an hour away refuses
	# without --next (a script would hang silently), and with it says
	# which fire it waits for.
	ctl wait --timeout 100ms "$id" >/dev/null 2>"$dir/err"
	check "wait on a far repeating fire without --next is usage (2)" test $? -eq 2
	check "wait without --next says why and what to add" \
		grep -Eq "timer $id repeats and its next fire \(1\) is due [^ ]+ in (59m|1h).*; add --next to wait for it" "$dir/err"
	ctl wait --next --timeout 100ms "$id" >/dev/null 2>"$dir/err"
	check "wait --next on a repeating timer names the fire it waits for" \
		grep -Eq "waiting for fire 1 of timer $id, due [^ ]+ \(in (59m|1h)" "$dir/err"
	ctl pause "$id" >/dev/null
	ctl wait --timeout 100ms "$id" >/dev/null 2>"$dir/err"
	check "wait on a paused repeating timer without --next is usage (2)" test $? -eq 2
	check "wait on a paused repeating timer says it is paused" \
		grep -q "timer $id repeats and its next fire (1) is paused; add --next" "$dir/err"
	ctl cancel "$id" >/dev/null
	ctl later 1h --count 2 >/dev/null 2>&1
	check "--count without --every is usage (2)" test $? -eq 2
	ctl later 1h --every 0s >/dev/null 2>&1
	check "--every 0s is usage (2)" test $? -eq 2
	# calendar: each second, on whole seconds
	out=$(ctl --json on '*:*:0/1' --count 2 --payload tick --timeout 10s)
	check "on '*:*:0/1' --count 2 prints 2 fires" \
		test "$(grep -c '"payload":"tick"' <<<"$out")" -eq 2
	first=$(grep -o '"deadline_ns":[0-9]*' <<<"$out" | head -1 | cut -d: -f2)
	check "on '*:*:0/1': the first deadline is a whole second" \
		test "$((first % 1000000000))" -eq 0
	id=$(ctl on -q 'Mon..Fri *-*-* 09:00:00' --tz Europe/Berlin --channel cal \
		--dst-gap skip --dst-overlap both --count 5)
	out=$(ctl get "$id")
	printf '%s\n' "$out" >"$dir/get"
	check "on: get shows the calendar" \
		grep -q '^calendar: *Mon..Fri \*-\*-\* 09:00:00$' "$dir/get"
	check "on: get shows the zone" grep -q '^tz: *Europe/Berlin$' "$dir/get"
	check "on: get shows dst_gap" grep -q '^dst_gap: *skip$' "$dir/get"
	check "on: get shows dst_overlap" grep -q '^dst_overlap: *both$' "$dir/get"
	check "on: get shows the count" grep -q '^repeat_count: *5$' "$dir/get"
	want=$(ctl --json next 'Mon..Fri *-*-* 09:00:00' --tz Europe/Berlin -n 1 |
		grep -o '"realtime_ns":[0-9]*' | cut -d: -f2)
	got=$(ctl --json get "$id" | grep -o '"due_realtime_ns":[0-9]*' | head -1 |
		cut -d: -f2)
	check "on: due is the next occurrence, as next computes it" \
		test "$got" = "$want"
	ctl cancel "$id" >/dev/null
	ctl on 'not a calendar' --channel cal >/dev/null 2>"$dir/err"
	check "on: a bad expression is usage (2)" test $? -eq 2
	check "on: the error names the problem" grep -q 'invalid calendar' "$dir/err"
	# pause / resume / trigger
	id=$(ctl later -q 1h --every 1h --channel pr)
	due=$(ctl --json get "$id" | grep -o '"deadline_ns":[0-9]*')
	out=$(ctl pause "$id")
	check "pause prints the paused timer" bash -c "grep -q '^$id paused ' <<<'$out'"
	check "get shows paused" \
		bash -c "'$EVCTL' --socket '$sock' get $id | grep -q '^state: *paused$'"
	out=$(ctl resume "$id")
	check "resume prints it pending" bash -c "grep -q '^$id pending ' <<<'$out'"
	check "trigger exits 0" ctl trigger "$id"
	out=$(ctl --json watch pr --count 1 --timeout 10s)
	check "trigger fires now" bash -c "grep -q '\"timer_id\":$id,' <<<'$out'"
	out=$(ctl --json get "$id")
	check "trigger keeps the schedule" bash -c "grep -q '$due' <<<'$out'"
	check "trigger's fire is in the history" \
		bash -c "grep -q '\"history\":\[{\"fire_id\":[0-9]*,.*\"outcome\":\"acked\"' <<<'$out'"
	ctl cancel "$id" >/dev/null
	ctl pause 999999999 >/dev/null 2>&1
	check "pause of an unknown id is exit 4 (not found)" test $? -eq 4
	ctl pause x >/dev/null 2>&1
	check "pause of a bad id is usage (2)" test $? -eq 2
	# the trampoline: watch acks each fire with a reschedule
	id=$(ctl soon -q --channel tramp --payload t)
	out=$(ctl watch tramp --count 3 --reschedule-in 0.1s --timeout 10s)
	check "watch --reschedule-in: the one-shot fires again and again" \
		test "$(grep -c "timer=$id " <<<"$out")" -eq 3
	# The last ack moved it 0.1 s out: it is pending again, or (on a slow
	# machine, before this get) has already fired a fourth time.
	check "watch --reschedule-in: pending again after the last ack" \
		bash -c "'$EVCTL' --socket '$sock' get $id | grep -Eq '^(state: *pending|fire_count: *([4-9]|[1-9][0-9]+))$'"
	ctl cancel "$id" >/dev/null
	ctl watch tramp --reschedule-in 1s --reschedule-at +1m >/dev/null 2>&1
	check "--reschedule-in with --reschedule-at is usage (2)" test $? -eq 2
	# human times; at computes the instant as parse does
	for t in '+5m' 'now + 2 hours' 'tomorrow 10:00' 'in 5 minutes' \
		'2030-12-01 09:00 Europe/Paris'; do
		id=$(ctl at -q "$t" --channel human)
		check "at '$t'" bash -c "[[ '$id' =~ ^[0-9]+$ ]]"
		ctl cancel "$id" >/dev/null
	done
	id=$(ctl at -q 'tomorrow 10:00' --tz Asia/Tokyo --channel human)
	want=$(ctl --json parse 'tomorrow 10:00' --tz Asia/Tokyo |
		grep -o '"realtime_ns":[0-9]*' | cut -d: -f2)
	got=$(ctl --json get "$id" | grep -o '"due_realtime_ns":[0-9]*' | head -1 |
		cut -d: -f2)
	check "at 'tomorrow 10:00' --tz: the instant parse prints" \
		test "$got" = "$want"
	ctl cancel "$id" >/dev/null
	out=$(ctl --json stats)
	check "stats --json has clock_steps" bash -c "grep -q '\"clock_steps\":' <<<'$out'"
	check "stats shows tz_changes" \
		bash -c "'$EVCTL' --socket '$sock' stats | grep -q '^tz_changes:'"
}
ctl at 'next blursday' >/dev/null 2>&1
check "at with an unknown word is usage (2)" test $? -eq 2

# parse, next and help need no daemon
nod() { "$EVCTL" --socket "$dir/nope.sock" "$@"; }
out=$(TZ=UTC nod parse '2026-12-01 09:00 Europe/Paris')
check "parse: a time in a named zone, in UTC" \
	bash -c "grep -q '^utc: *2026-12-01T08:00:00Z$' <<<'$out'"
check "parse: normalised with the zone's offset" \
	bash -c "grep -q '^normalized: *2026-12-01T09:00:00+01:00$' <<<'$out'"
out=$(nod parse 'now + 2 hours')
check "parse: relative" bash -c "grep -q '^normalized: *now + 2h$' <<<'$out'"
out=$(nod parse '5 minutes')
check "parse: a duration" bash -c "grep -q '^ns: *300000000000$' <<<'$out'"
out=$(TZ=UTC nod parse '*/15 9-17 * * Mon-Fri' -n 2 --after 2026-03-30T08:00:00Z)
check "parse: cron normalised" \
	bash -c "grep -q '^normalized: *\*/15 9-17 \* \* 1-5$' <<<'$out'"
check "parse: cron next occurrences" \
	bash -c "grep -q '^next: *2026-03-30 09:00:00 UTC 2026-03-30 09:00:00 UTC$' <<<'$out'"
check "parse: -n 2" test "$(grep -c '^next:' <<<"$out")" -eq 2
nod parse 'frobnicate' >/dev/null 2>&1
check "parse of nonsense is usage (2)" test $? -eq 2
check "help on explains the DST policies" \
	bash -c "'$EVCTL' help on | grep -q -- '--dst-gap shift|skip|utc'"
check "help time explains human times" \
	bash -c "'$EVCTL' help time | grep -q 'tomorrow 10:00'"

# exit codes
ctl later 1x >/dev/null 2>&1
check "bad duration is usage (2)" test $? -eq 2
ctl frobnicate >/dev/null 2>&1
check "unknown verb is usage (2)" test $? -eq 2
ctl get 999999999 >/dev/null 2>&1
check "unknown id is exit 4 (not found)" test $? -eq 4
"$EVCTL" --socket "$dir/nope.sock" time 2>"$dir/err"
rc=$?
check "no daemon is exit 3" test $rc -eq 3
check "no daemon names the socket" grep -q "$dir/nope.sock" "$dir/err"
check "no daemon says how to start" grep -q "evd --socket" "$dir/err"

# --json: errors are JSON objects on stderr, with the protocol's code.
ctl --json get 999999999 >"$dir/out" 2>"$dir/err"
check "--json not found is exit 4" test $? -eq 4
check "--json error is one JSON object with the code" \
	grep -q '^{"error":{"code":"NOT_FOUND","message":"get: no timer 999999999","exit":4}}$' "$dir/err"
check "--json error leaves stdout empty" test ! -s "$dir/out"
ctl --json later 1x >/dev/null 2>"$dir/err"
check "--json usage error is exit 2" test $? -eq 2
check "--json usage error is JSON" \
	grep -q '^{"error":{"code":"USAGE","message":"invalid duration .*","exit":2}}$' "$dir/err"
"$EVCTL" --socket "$dir/nope.sock" --json time 2>"$dir/err"
check "--json no daemon is exit 3" test $? -eq 3
check "--json no daemon is JSON" grep -q '^{"error":{"code":"UNREACHABLE",.*"exit":3}}$' "$dir/err"
ctl --json later 1h --channel 'a b' >/dev/null 2>"$dir/err"
check "--json invalid argument is exit 1" test $? -eq 1
check "--json invalid argument names its code" grep -q '"code":"INVALID_ARGUMENT"' "$dir/err"

# ns integers beyond 2^53 come with an exact string as well.
id=$(tid later 1h --channel bigns)
out=$(ctl --json get "$id")
n=$(grep -o '"due_realtime_ns":[0-9]*' <<<"$out" | cut -d: -f2)
check "a wall-clock ns has its _str companion" \
	bash -c "grep -qF '\"due_realtime_ns\":$n,\"due_realtime_ns_str\":\"$n\"' <<<'$out'"
check "a small ns has none" bash -c "! grep -q 'lateness_ns_str\|timeout_ns_str' <<<'$out'"
ctl cancel "$id" >/dev/null

# the daemon kept serving throughout and stops cleanly on SIGTERM
check "daemon alive" kill -0 "$evd_pid"
kill -TERM "$evd_pid"
wait "$evd_pid"
rc=$?
evd_pid=
check "SIGTERM exits 0" test $rc -eq 0
check "socket removed" test ! -e "$sock"

echo "[==========] $((pass + fail)) test(s) run."
echo "[  PASSED  ] $pass test(s)."
if [ $fail -ne 0 ]; then
	echo "[  FAILED  ] $fail test(s)."
	echo "--- evd log:"; cat "$dir/evd.log"
	exit 1
fi
