#!/usr/bin/env bash
# test_cluster_anynode: any node answers for every durable timer of the
# cluster (Get, List, Cancel), whichever node holds it. Three evd nodes
# (--cluster) on one PostgreSQL (under with_pg: EVD_TEST_PG).
#   - a timer scheduled through node 1 (held there) is seen by Get and
#     List on nodes 2 and 3 as node 1 sees it;
#   - cancelled through node 2, it is cancelled in the database and node
#     1, told at once, drops it: its hook never runs, and node 1 counts
#     no fence loss (it never tried to fire it);
#   - another uid can neither get, list nor cancel it from any node; the
#     owner of the channel it publishes into may cancel it (as root,
#     through setpriv; skipped otherwise);
#   - Wait on a node that does not hold the timer ends with its run
#     (a hook's end, a message queued, a cancel through another node);
#   - a cancel racing the holder's fire: exec timers due now on node 1,
#     cancelled through node 2: no timer is both answered cancelled and
#     run, each one either cancelled (state X) or run once (state F).
# usage: with_pg test_cluster_anynode.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2

. "$(dirname "$0")/cluster_lib.sh"
cluster_require test_cluster_anynode
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
chmod 0755 "$dir"
as_others=0
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null &&
	id -u nobody >/dev/null 2>&1 && id -u daemon >/dev/null 2>&1; then
	. "$(dirname "$0")/copybin.sh"
	copy_binaries_for_others || exit 1
	as_others=1
fi
. "$(dirname "$0")/lib.sh"
death_ms=2000
runs=$dir/runs
: >"$runs"
chmod 666 "$runs"

as() { # uid node evctl-args...
	local u=$1 n=$2
	shift 2
	(cd / && setpriv --reuid="$u" --regid="$u" --clear-groups \
		env HOME=/ "$EVCTL" --socket "$(sock "$n")" "$@")
}
await_long() { # as await, for up to 30 s (hooks queue per uid)
	local _
	for _ in $(seq 1 600); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}
show_failure() {
	echo "--- runs:"; cat "$runs"
	echo "--- timers:"; sql "SELECT id, state, claim_node, fence FROM evd.timers ORDER BY id" | head -40
	echo "--- evd.log:"; tail -40 "$dir/evd.log"
}

for n in 1 2 3; do
	mkdir -p "$dir/s$n"
	start_evd "$(sock "$n")" --store "pg:$EVD_TEST_PG" --cluster \
		--cluster-death-ms $death_ms --state-dir "$dir/s$n" \
		--log-level info
done
printf '#!/bin/sh\necho "$EVD_TIMER_ID" >> %s\n' "$runs" >"$dir/hook.sh"
chmod 755 "$dir/hook.sh"
node1=$(ctl 1 --json stats | sed -n 's/.*"node":{"id":"\([^"]*\)".*/\1/p')

# Held by node 1, seen from every node.
far=$(echo "later 3600s --channel far --payload p --key k1" | ctl 1 batch)
check "a channel timer scheduled on node 1" test -n "$far"
check "held by node 1" \
	test "$(sql "SELECT state::text || claim_node FROM evd.timers WHERE id = $far")" = "C$node1"
for n in 2 3; do
	ctl "$n" --json get "$far" >"$dir/get$n" 2>&1
	check "node $n: get shows it" grep -q "\"timer_id\":$far,\"state\":\"pending\"" "$dir/get$n"
	check "node $n: with its channel, payload and key" \
		grep -q '"channel":"far".*"key":"k1".*"payload":"p"' "$dir/get$n"
	ctl "$n" list --json >"$dir/list$n" 2>&1
	check "node $n: list shows it" grep -q "\"timer_id\":$far,\"state\":\"pending\"" "$dir/list$n"
done
ctl 1 list --json >"$dir/list1" 2>&1
check "node 1 lists it once" test "$(grep -c "\"timer_id\":$far," "$dir/list1")" -eq 1
# Held on another machine (another boot): its monotonic deadline is
# shown on this machine's clock, from its due instant.
sql "UPDATE evd.timers SET boot_id = 'elsewhere', deadline_ns = 12345
	WHERE id = $far" >/dev/null
dl=$(ctl 2 --json get "$far" | sed -n 's/.*"deadline_ns":\([0-9-]*\).*/\1/p')
mono=$(ctl 2 --json time | sed -n 's/.*"monotonic_ns":\([0-9]*\).*/\1/p')
echo "# deadline shown $dl, monotonic now $mono"
check "another boot's deadline is shown on this clock" \
	test -n "$dl" -a -n "$mono" -a "${dl:-0}" -gt "${mono:-0}" -a \
	"${dl:-0}" -lt $((${mono:-0} + 3601000000000))
ctl 1 pause "$far" >/dev/null
check "paused on node 1: node 2 says paused" \
	bash -c "'$EVCTL' --socket '$(sock 2)' --json get $far | grep -q '\"state\":\"paused\"'"
ctl 1 resume "$far" >/dev/null

# Cancelled through node 2: node 1 drops it before it is due, its hook
# never runs.
soon=$(echo "later 3s --exec -- $dir/hook.sh" | ctl 1 batch)
check "an exec timer scheduled on node 1, due in 3 s" test -n "$soon"
echo "cancel $soon" | ctl 2 --json batch >"$dir/cancel1" 2>&1
check "node 2 cancels it" grep -q '"cancelled":true' "$dir/cancel1"
check "cancelled in the database, fence bumped" \
	test "$(sql "SELECT state::text || fence FROM evd.timers WHERE id = $soon")" = X1
check "node 1 drops it when told" \
	await grep -q "timer $soon (uid [0-9]*): cancelled through another node" "$dir/evd.log"
check "node 1 lists it no more" \
	bash -c "! '$EVCTL' --socket '$(sock 1)' list --json | grep -q '\"timer_id\":$soon,'"
ctl 3 --json get "$far" >/dev/null
ctl 1 --json get "$soon" >"$dir/get1" 2>&1
check "node 1's get says cancelled" grep -q '"state":"cancelled"' "$dir/get1"
sleep 3.5
check "its hook never ran" bash -c "! grep -qx '$soon' '$runs'"
check "node 1 counted no fence loss" \
	bash -c "'$EVCTL' --socket '$(sock 1)' --json stats | grep -q '\"fence_losses\":0,'"
echo "cancel $soon" | ctl 3 --json batch >"$dir/cancel2" 2>&1
check "cancelled again through node 3: not found" grep -q "\"error\":\"not found\"" "$dir/cancel2"

# Other users, from any node.
if [ "$as_others" = 1 ]; then
	NOBODY=$(id -u nobody)
	DAEMON=$(id -u daemon)
	mine=$(as "$DAEMON" 1 later 3600s --channel "$NOBODY:jobs" 2>"$dir/err_mine" | cut -d' ' -f1)
	if [ -z "$mine" ]; then
		# Publishing into nobody's channel needs its grant.
		as "$NOBODY" 1 channel grant jobs --uid "$DAEMON" --publish >/dev/null 2>&1
		mine=$(as "$DAEMON" 1 later 3600s --channel "$NOBODY:jobs" 2>"$dir/err_mine" | cut -d' ' -f1)
	fi
	own=$(as "$DAEMON" 1 later 3600s --channel own | cut -d' ' -f1)
	check "uid daemon schedules on node 1" test -n "$mine" -a -n "$own"
	for n in 2 3; do
		check "node $n: its owner gets it" as "$DAEMON" "$n" get "$own"
		check "node $n: its owner lists it" \
			bash -c "cd / && setpriv --reuid=$DAEMON --regid=$DAEMON --clear-groups env HOME=/ '$EVCTL' --socket '$(sock "$n")' list --json | grep -q '\"timer_id\":$own,'"
		as "$NOBODY" "$n" get "$own" >"$dir/oget$n" 2>&1
		check "node $n: another uid cannot get it" grep -q 'no timer\|NOT_FOUND\|not found' "$dir/oget$n"
		check "node $n: nor list it" \
			bash -c "! (cd / && setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups env HOME=/ '$EVCTL' --socket '$(sock "$n")' list --json) | grep -q '\"timer_id\":$own,'"
		check "node $n: nor list root's" \
			bash -c "! (cd / && setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups env HOME=/ '$EVCTL' --socket '$(sock "$n")' list --json) | grep -q '\"timer_id\":$far,'"
		echo "cancel $own" | as "$NOBODY" "$n" --json batch >"$dir/ocancel$n" 2>&1
		check "node $n: nor cancel it" grep -q "\"error\":\"not found\"" "$dir/ocancel$n"
	done
	check "still pending" test "$(sql "SELECT state FROM evd.timers WHERE id = $own")" = C
	check "the channel's owner lists what publishes into it, from node 2" \
		bash -c "cd / && setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups env HOME=/ '$EVCTL' --socket '$(sock 2)' list --channel jobs --json | grep -q '\"timer_id\":$mine,'"
	echo "cancel $mine" | as "$NOBODY" 2 --json batch >"$dir/ccancel" 2>&1
	check "and cancels it from node 2" grep -q '"cancelled":true' "$dir/ccancel"
	echo "cancel $own" | as "$DAEMON" 3 --json batch >"$dir/mcancel" 2>&1
	check "its owner cancels it from node 3" grep -q '"cancelled":true' "$dir/mcancel"
else
	echo "# not root (or no setpriv, nobody, daemon): other uids not checked"
fi

# Wait, on a node that does not hold the timer: its hook's end, its
# message queued, its cancel (through a third node).
w1=$(echo "later 1500ms --exec -- $dir/hook.sh" | ctl 1 batch)
w2=$(echo "later 1500ms --channel waited --payload w" | ctl 1 batch)
w3=$(echo "later 3600s --channel waited" | ctl 1 batch)
ctl 2 --json wait "$w1" --timeout 20s >"$dir/wait1" 2>&1 &
p1=$!
ctl 3 --json wait "$w2" --timeout 20s >"$dir/wait2" 2>&1 &
p2=$!
ctl 2 --json wait "$w3" --timeout 20s >"$dir/wait3" 2>&1 &
p3=$!
# Each waits before the cancel.
sleep 0.5
echo "cancel $w3" | ctl 3 batch >/dev/null
wait "$p1"
check "node 2 waits for node 1's hook to end" \
	grep -q '"outcome":"exited"' "$dir/wait1"
wait "$p2"
check "node 3 waits for node 1's channel fire" \
	grep -q '"outcome":"queued"' "$dir/wait2"
wait "$p3"
check "node 2 waits for a cancel through node 3" \
	grep -q '"outcome":"cancelled"' "$dir/wait3"

# The race: exec timers due over the next second on node 1, cancelled
# through node 2 while they fire. Their hooks run a second: those that
# started are running when the cancels come (not cancelled: NOT_FOUND).
printf '#!/bin/sh\necho "$EVD_TIMER_ID" >> %s\nsleep 1\n' "$runs" >"$dir/slow.sh"
chmod 755 "$dir/slow.sh"
n=80
for i in $(seq 1 $n); do
	echo "later $((800 + i * 10))ms --exec -- $dir/slow.sh"
done >"$dir/batch"
ctl 1 batch <"$dir/batch" >"$dir/ids"
check "$n exec timers scheduled on node 1" test "$(grep -c '^[0-9]' "$dir/ids")" -eq $n
sleep 1.2
sed 's/^/cancel /' "$dir/ids" | ctl 2 --json batch >"$dir/cancels" 2>&1
grep -o '"timer_id":[0-9]*,"cancelled":true' "$dir/cancels" |
	sed 's/[^0-9]*\([0-9]*\).*/\1/' | sort >"$dir/cancelled"
echo "# cancelled $(wc -l <"$dir/cancelled") of $n"
ended() {
	[ "$(sql "SELECT count(*) FROM evd.timers WHERE id IN ($(paste -sd, "$dir/ids")) AND state IN ('P', 'C')")" = 0 ]
}
check "every one ended (fired or cancelled)" await_long ended
sql "SELECT id FROM evd.timers WHERE id IN ($(paste -sd, "$dir/ids")) AND state = 'F'" | sort >"$dir/fired"
check "each has run once" await_long bash -c "[ \$(grep -cxFf '$dir/fired' '$runs') -ge $(wc -l <"$dir/fired") ]"
sleep 0.5
sort "$runs" >"$dir/ran"
check "no timer both cancelled and run" test -z "$(comm -12 "$dir/cancelled" "$dir/ran")"
check "no timer run twice" test -z "$(uniq -d "$dir/ran")"
sql "SELECT id FROM evd.timers WHERE id IN ($(paste -sd, "$dir/ids")) AND state = 'X'" | sort >"$dir/xs"
check "cancelled exactly those answered cancelled" cmp -s "$dir/xs" "$dir/cancelled"
check "the others ran" test "$(sort "$dir/ids" | comm -23 - "$dir/cancelled" | comm -23 - "$dir/ran" | wc -l)" -eq 0
summary
