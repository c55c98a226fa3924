#!/usr/bin/env bash
# test_evctl_worker: `evctl watch CHANNEL -- CMD` against the real evd:
# exit 0 acks, a failure rejects with its reason (shown by `evctl dead`,
# text and --json) and is redelivered while attempts remain, the payload
# reaches stdin byte for byte with the fire's fields in the environment,
# --concurrency bounds the children and what the daemon hands over,
# SIGTERM stops taking messages and lets running ones finish (a second
# one forwards it and leaves the message unacked), a command that cannot
# run is rejected, and the usage errors. Workers wait on files the test
# creates, never on sleeps.
# usage: test_evctl_worker.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
dir=$(mktemp -d /tmp/evd-worker.XXXXXX)
sock=$dir/evd.sock
bg=
. "$(dirname "$0")/lib.sh"
cleanup_extra() { [ -n "$bg" ] && kill -KILL "$bg" 2>/dev/null; }

start_evd "$sock" --state-dir "$dir/state"
ctl() { "$EVCTL" --socket "$sock" "$@"; }
# A channel's counter from `channel show`.
count_of() { ctl channel show "$1" | sed -n "s/^$2: *//p"; }
nfiles() { find "$1" -type f | wc -l; }
# For await, which runs its command again each time.
has_count() { test "$(count_of "$1" "$2")" -eq "$3"; }
has_files() { test "$(nfiles "$1")" -eq "$2"; }
# In the background as evctl itself (not a subshell), so that signals
# reach it.
ctl_bg() { "$EVCTL" --socket "$sock" "$@" & bg=$!; }

# Success acks: nothing left anywhere.
ctl soon --channel ok --payload a >/dev/null
ctl soon --channel ok --payload b >/dev/null
ctl watch ok --count 2 --timeout 20s -- sh -c 'cat >/dev/null' \
	2>"$dir/err"
check "worker: exit 0 is exit 0" test $? -eq 0
check "worker: says acked" test "$(grep -c ': acked after' "$dir/err")" -eq 2
check "worker: nothing queued after acks" test "$(count_of ok queued_messages)" -eq 0
check "worker: nothing in flight after acks" test "$(count_of ok inflight_messages)" -eq 0
check "worker: no dead letters after acks" test "$(count_of ok dead_messages)" -eq 0

# Failure rejects with the reason; with attempts used up it is dead.
id=$(ctl soon -q --channel bad --payload p --max-attempts 1)
ctl watch bad --count 1 --timeout 20s -- \
	sh -c 'echo first line >&2; echo "kaput: disk on fire" >&2; exit 4' \
	2>"$dir/err"
check "worker: a failure is not evctl's failure" test $? -eq 0
check "worker: says rejected, dead-lettered" \
	grep -q 'rejected, dead-lettered after .*: exit status 4: first line' "$dir/err"
check "worker: the child's stderr passes through" grep -q '^kaput: disk on fire$' "$dir/err"
out=$(ctl dead bad)
check "dead: one dead letter" test "$(wc -l <<<"$out")" -eq 1
check "dead: shows the reason" \
	bash -c "grep -q 'timer=$id .*attempt=1 reason=exit status 4: first line\\\\nkaput: disk on fire payload=p\$' <<<'$out'"
out=$(ctl --json dead bad)
check "dead --json: the reason" \
	grep -qF '"reason":"exit status 4: first line\nkaput: disk on fire"' <<<"$out"
ctl dead bad --purge >/dev/null

# While attempts remain a rejected message comes back, attempt 2.
id=$(ctl soon -q --channel again --payload p --max-attempts 3)
ctl watch again --count 2 --timeout 20s -- \
	sh -c '[ "$EVD_ATTEMPT" = 2 ] || { echo "not yet" >&2; exit 1; }' \
	2>"$dir/err"
check "worker: redelivered after a reject" test $? -eq 0
check "worker: the first attempt was rejected" grep -q 'attempt 1): rejected after .*: exit status 1: not yet$' "$dir/err"
check "worker: the second was acked" grep -q 'attempt 2): acked after' "$dir/err"
check "worker: no dead letter when it worked" test "$(count_of again dead_messages)" -eq 0
check "get: the history names the reason" \
	bash -c "ctl() { \"$EVCTL\" --socket \"$sock\" \"\$@\"; }; ctl --json get $id | grep -q 'rejected: exit status 1: not yet'"

# The payload on stdin byte for byte; the fire's fields in the environment.
printf 'line one\n\001\002 \377\376 tab\there\nlast' >"$dir/want"
id=$(ctl soon -q --channel bin --payload "$(cat "$dir/want")")
ctl watch bin --count 1 --timeout 20s -- \
	sh -c 'cat >"$0/got"; env | grep ^EVD_ | sort >"$0/env"' "$dir" \
	2>"$dir/err"
check "worker: binary payload intact" cmp -s "$dir/want" "$dir/got"
check "worker: EVD_CHANNEL" grep -q '^EVD_CHANNEL=bin$' "$dir/env"
check "worker: EVD_TIMER_ID" grep -q "^EVD_TIMER_ID=$id\$" "$dir/env"
check "worker: EVD_FIRE_ID" grep -q '^EVD_FIRE_ID=[1-9][0-9]*$' "$dir/env"
check "worker: EVD_ATTEMPT" grep -q '^EVD_ATTEMPT=1$' "$dir/env"
check "worker: EVD_DUE is RFC 3339" grep -q '^EVD_DUE=20[0-9-]*T[0-9:.]*Z$' "$dir/env"
check "worker: EVD_DUE_NS" grep -q '^EVD_DUE_NS=[1-9][0-9]*$' "$dir/env"
check "worker: EVD_LATENESS_NS" grep -q '^EVD_LATENESS_NS=[0-9]*$' "$dir/env"
check "worker: EVD_PAYLOAD_SIZE" grep -q "^EVD_PAYLOAD_SIZE=$(wc -c <"$dir/want")\$" "$dir/env"
check "worker: EVD_SOCKET" grep -q "^EVD_SOCKET=$sock\$" "$dir/env"

# --concurrency 2: two children at once, two messages handed over, the
# rest waiting in the daemon's queue.
mkdir -p "$dir/run" "$dir/active"
for i in 1 2 3 4 5; do ctl soon --channel par --payload "m$i" >/dev/null; done
ctl_bg watch par --concurrency 2 --count 5 --timeout 30s -- sh -c '
	touch "$0/active/$EVD_FIRE_ID"; ls "$0/active" | wc -l >>"$0/seen"
	touch "$0/run/$EVD_FIRE_ID"
	while [ ! -e "$0/go" ]; do sleep 0.02; done
	rm "$0/active/$EVD_FIRE_ID"' "$dir" 2>"$dir/err"
check "concurrency: two children start" await has_files "$dir/run" 2
check "concurrency: two messages in flight" test "$(count_of par inflight_messages)" -eq 2
check "concurrency: three left in the queue" test "$(count_of par queued_messages)" -eq 3
check "concurrency: no third child" test "$(nfiles "$dir/run")" -eq 2
touch "$dir/go"
wait "$bg"
rc=$?
bg=
check "concurrency: exits 0 after --count" test $rc -eq 0
check "concurrency: all five ran" test "$(nfiles "$dir/run")" -eq 5
check "concurrency: never more than two at once" \
	test "$(sort -n "$dir/seen" | tail -1)" -le 2
check "concurrency: all five acked" test "$(grep -c ': acked after' "$dir/err")" -eq 5
rm -f "$dir/go"

# SIGTERM: no new message, the running one finishes and is acked, the
# next stays queued for someone else.
rm -rf "$dir/run"; mkdir -p "$dir/run"
ctl soon --channel term --payload t1 >/dev/null
ctl soon --channel term --payload t2 >/dev/null
ctl_bg watch term -- sh -c 'touch "$0/run/$EVD_FIRE_ID"
	while [ ! -e "$0/go" ]; do sleep 0.02; done' "$dir" 2>"$dir/err"
check "sigterm: the child started" await has_files "$dir/run" 1
kill -TERM "$bg"
sleep 0.3
check "sigterm: evctl waits for its child" kill -0 "$bg"
touch "$dir/go"
wait "$bg"
rc=$?
bg=
check "sigterm: exits 0 once the child is done" test $rc -eq 0
check "sigterm: the running message was acked" grep -q ': acked after' "$dir/err"
check "sigterm: the next one was not started" test "$(nfiles "$dir/run")" -eq 1
check "sigterm: the next one is back in the queue" \
	await has_count term queued_messages 1
check "sigterm: nothing dead" test "$(count_of term dead_messages)" -eq 0
rm -f "$dir/go"

# A second SIGTERM goes to the children; their messages stay unacked.
rm -rf "$dir/run"; mkdir -p "$dir/run"
ctl_bg watch term -- sh -c 'touch "$0/run/$EVD_FIRE_ID"
	while [ ! -e "$0/go" ]; do sleep 0.02; done' "$dir" 2>"$dir/err"
check "sigterm twice: the child started" await has_files "$dir/run" 1
kill -TERM "$bg"
sleep 0.2
kill -TERM "$bg"
check "sigterm twice: evctl ends" await bash -c "! kill -0 $bg 2>/dev/null"
wait "$bg"
rc=$?
bg=
check "sigterm twice: exits 0" test $rc -eq 0
check "sigterm twice: says left unacked" grep -q 'left unacked' "$dir/err"
check "sigterm twice: the message is queued again" \
	await has_count term queued_messages 1
check "sigterm twice: not dead" test "$(count_of term dead_messages)" -eq 0

# A command that cannot run is a failure like any other.
ctl soon --channel norun --payload x --max-attempts 1 >/dev/null
ctl watch norun --count 1 --timeout 20s -- "$dir/no/such/prog" 2>"$dir/err"
check "no command: evctl exits 0" test $? -eq 0
check "no command: the reason says why" \
	bash -c "\"$EVCTL\" --socket \"$sock\" dead norun | grep -q 'reason=cannot run $dir/no/such/prog: No such file or directory'"

# usage
ctl watch x --concurrency 2 >/dev/null 2>&1
check "--concurrency without a command is usage (2)" test $? -eq 2
ctl watch x -- >/dev/null 2>&1
check "'--' without a command is usage (2)" test $? -eq 2
ctl watch x --concurrency 0 -- true >/dev/null 2>&1
check "--concurrency 0 is usage (2)" test $? -eq 2

stop_evds

show_failure() {
	echo "--- last evctl stderr:"; cat "$dir/err"
	echo "--- evd log:"; tail -50 "$dir/evd.log"
}
summary
