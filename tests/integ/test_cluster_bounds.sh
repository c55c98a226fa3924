#!/usr/bin/env bash
# test_cluster_bounds: a channel's bound on queued messages
# (CHANNEL_MAX_QUEUED) and an owner's message quota hold across cluster
# nodes, for messages no node holds (issue 19, review item H3). Under
# with_pg (EVD_TEST_PG names a fresh database); two nodes, both with
# quota_messages = 30. Nobody subscribes to any channel here, so every
# message is inserted unclaimed, held by no node.
#   1. Channel bound: evd.messages is filled (SQL, as another session
#      would) to 99,990 messages of channel 0:full; nodes 1 and 2 each
#      schedule 5 one-shot timers into it (admitted: below the bound),
#      which fire (a one-shot admitted is never dropped), leaving
#      100,000. Then both nodes refuse a new timer into it, as a single
#      node refuses one into a full channel.
#   2. Owner quota (as nobody, via setpriv, when run as root; else as
#      the caller): a repeating timer on node 2 (every 50 ms) into a
#      channel nobody subscribes to stops adding messages at the quota:
#      its fires are skipped and recorded, as a single node's are; 20
#      one-shot timers of the same owner fired through node 1 count too,
#      and then neither node admits another timer into a channel.
#   3. A purge on a node whose claims another node took meanwhile
#      deletes and counts only what nobody holds, none of those.
# Without the database's counts each node sees only what it holds
# (nothing here): every schedule is admitted and the repeating timer
# fills the table.
# usage: with_pg test_cluster_bounds.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
chmod 0755 "$dir"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_require test_cluster_bounds

user=$(id -u)
as() { # node evctl-args...: as the test's user
	local n=$1
	shift
	"$EVCTL" --socket "$(sock "$n")" "$@"
}
if [ "$user" -eq 0 ]; then
	if ! command -v setpriv >/dev/null || ! id -u nobody >/dev/null 2>&1; then
		echo "test_cluster_bounds: as root, needs setpriv and user nobody"
		exit 77
	fi
	. "$(dirname "$0")/copybin.sh"
	copy_binaries_for_others || exit 1
	user=$(id -u nobody)
	as() {
		local n=$1
		shift
		(cd / && setpriv --reuid="$user" --regid="$user" --clear-groups \
			env HOME=/ "$EVCTL" --socket "$(sock "$n")" "$@")
	}
fi
me=$(id -u)
w3=
cleanup_extra() { [ -n "$w3" ] && kill -- -"$w3" 2>/dev/null; }

printf 'quota_messages = 30\nmin_repeat_interval_ms = 50\n' >"$dir/evd.conf"
for n in 1 2; do
	mkdir -p "$dir/s$n"
	start_evd "$(sock "$n")" --config "$dir/evd.conf" \
		--store "pg:$EVD_TEST_PG" --cluster --cluster-death-ms 2000 \
		--state-dir "$dir/s$n" --log-level info
done
count() { sql "SELECT count(*) FROM evd.messages WHERE channel = '$1'"; }

# --- 1. the channel bound, across nodes ---
sql "INSERT INTO evd.messages (fire_id, timer_id, owner, channel, due_rt_ns,
	fired_rt_ns, lateness_ns, attempts, max_attempts, delivery, dead)
	SELECT 9000000000000000 + i, 9000000000000000 + i, 4242, '$me:full',
	0, 0, 0, 0, 10, 0, false FROM generate_series(1, 99990) i" >/dev/null
for n in 1 2; do
	for i in 1 2 3 4 5; do
		echo "later 100ms --channel full --payload n$n.$i"
	done | ctl "$n" batch >"$dir/full$n"
	check "node $n: 5 timers into full admitted below the bound" \
		test "$(grep -c '^[0-9]' "$dir/full$n")" -eq 5
done
await test "$(count "$me:full")" -eq 100000
check "every admitted fire became a message (100,000 in full)" \
	test "$(count "$me:full")" -eq 100000
# Each node reads the database's counts once a second (with the grants).
sleep 1.5
for n in 1 2; do
	ctl "$n" later 100ms --channel full >"$dir/refused$n" 2>&1
	rc=$?
	check "node $n refuses a timer into the full channel" test "$rc" -ne 0
	check "  saying it is full" grep -q "messages waiting (its limit)" \
		"$dir/refused$n"
done
sleep 0.5
check "the channel holds no more than its bound" \
	test "$(count "$me:full")" -eq 100000

# --- 2. the owner's message quota, across nodes ---
# Part 1's messages gone (as a purge would), and read so by both nodes.
sql "DELETE FROM evd.messages WHERE channel = '$me:full'" >/dev/null
sleep 1.5
for i in $(seq 1 20); do
	echo "later 300ms --channel other --payload $i"
done >"$dir/batch_other"
as 1 batch <"$dir/batch_other" >"$dir/other"
check "20 one-shot timers into other scheduled on node 1" \
	test "$(grep -c '^[0-9]' "$dir/other")" -eq 20
rep=$(as 2 later -q 50ms --every 50ms --channel tick 2>"$dir/rep.err")
check "a repeating timer into tick scheduled on node 2" \
	test -n "$rep"
await test "$(count "$user:other")" -eq 20
check "node 1's one-shot fires all queued (admitted: never dropped)" \
	test "$(count "$user:other")" -eq 20
sleep 2
a=$(count "$user:tick")
sleep 1.5
b=$(count "$user:tick")
echo "# messages of the repeating timer: $a, then $b"
check "the repeating timer adds no message past the quota" test "$a" = "$b"
check "  nor had it gone past the quota" test "$b" -le 30
check "  its fires are skipped, saying why" \
	grep -q "skipped: uid $user has [0-9]* queued messages, its quota" \
	"$dir/evd.log"
check "  and recorded as runs" test "$(sql "SELECT count(*) FROM evd.runs
	WHERE timer_id = $rep AND detail LIKE '%its quota%'")" -ge 1
for n in 1 2; do
	as "$n" later 100ms --channel more >"$dir/q$n" 2>&1
	rc=$?
	check "node $n refuses the owner's next channel timer" test "$rc" -ne 0
	check "  over its message quota" grep -q "queued messages, its quota" \
		"$dir/q$n"
done
as 2 cancel "$rep" >/dev/null 2>&1

# --- 3. a purge counts what it deleted ---
# Node 1's worker holds one message of p and node 1 one more, ready;
# node 2 takes both claims (as a peer's claim would): node 1's purge
# deletes the two messages nobody holds and says 2, not 3 (it counted
# its ready one before).
setsid "$EVCTL" --socket "$(sock 1)" watch p --concurrency 1 -- \
	sleep 600 >/dev/null 2>&1 &
w3=$!
sleep 0.5 # subscribed (a subscription is not visible from outside)
for i in 1 2 3 4; do echo "soon --channel p --payload p$i"; done |
	ctl 1 batch >/dev/null
await test "$(sql "SELECT count(*) FROM evd.messages WHERE channel = '$me:p'
	AND consumer IS NOT NULL")" -eq 2
check "node 1 holds 2 messages of p (one in flight, one ready)" \
	test "$(sql "SELECT count(*) FROM evd.messages WHERE channel = '$me:p'
		AND consumer IS NOT NULL")" -eq 2
n2=$(ctl 2 --json stats | sed -n 's/.*"node":{"id":"\([^"]*\)".*/\1/p')
check "node 2's id" test -n "$n2"
sql "UPDATE evd.messages SET consumer = '$n2', fence = fence + 1,
	vis_at = now() + interval '1 h' WHERE channel = '$me:p'
	AND consumer IS NOT NULL" >/dev/null
# The purge deletes the two nobody holds (cluster-wide), not node 2's.
purged=$(ctl 1 purge p 2>&1)
check "the purge counts only what it deleted ($purged)" \
	test "$purged" = 2
check "  and deleted none of what another node holds" \
	test "$(count "$me:p")" -eq 2
kill -- -"$w3" 2>/dev/null
wait "$w3" 2>/dev/null
w3=
cluster_alive "at the end"
stop_evds
show_failure() {
	echo "--- evd.log"
	tail -n 40 "$dir/evd.log"
}
summary
