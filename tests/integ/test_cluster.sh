#!/usr/bin/env bash
# test_cluster: three evd nodes (--cluster) on one PostgreSQL database,
# one of them killed mid-stream (issue 19's failover test, first slice).
#
# Under with_pg (EVD_TEST_PG names a fresh database). Three nodes, each
# with its own socket and state directory, death threshold D = 2 s
# (heartbeat 400 ms). 100 timers are scheduled through each, due 2 to
# 8 s later: three in four are exec timers whose hook appends "TIMER_ID
# FIRE_ID NODE_SOCKET" to one file, one in four publishes into a channel
# (a row in evd.messages, nobody subscribed). A tenth is cancelled before
# it is due. Then, with FAULT=kill (the default), node 1 is killed with
# SIGKILL while its timers are firing; with FAULT=stop it is SIGSTOPped
# for 3 D and SIGCONTed. Asserted:
#   - every timer that was not cancelled fired at least once (none lost);
#   - no cancelled timer fired;
#   - each duplicate was fired once by the faulted node and once by a
#     survivor, with the same fire id (its hook ran, its retire did not
#     land); channel messages are never doubled; after SIGSTOP every
#     duplicate is matched by a fence loss the stopped node logged;
#   - a survivor reaped the faulted node, and every fire came within
#     D + heartbeat + 1 s of its due time or of the fault (liveness);
#   - no timer is left claimed or pending in evd.timers;
#   - evctl stats --json of each node still running names its row in
#     evd.nodes, and its reaps and fence losses are what it logged.
# KEEP_LOG=FILE keeps the daemons' log (and FILE.fires) for a look.
# usage: with_pg test_cluster.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_require test_cluster
fault=${FAULT:-kill}
death_ms=2000
per_node=${PER_NODE:-100}
out=$dir/fires
: >"$out"
chmod 666 "$out"

declare -A pid
start_node() { # n
	local n=$1
	mkdir -p "$dir/s$n"
	start_evd "$(sock "$n")" --store "pg:$EVD_TEST_PG" --cluster \
		--cluster-death-ms $death_ms --state-dir "$dir/s$n" \
		--log-level info
	pid[$n]=${evd_pids[-1]}
}
start_node 1
start_node 2
start_node 3

# The hook: one line per fire, appended at once (one short write).
cluster_hook "$out"

# Timers through all three nodes (one batch each), due 2 to 8 s from
# now: every node has timers due before, during and after the fault
# (every tenth cancelled before it is due). Every fourth is a channel timer: its fire is a row in evd.messages,
# which must be there exactly once.
for n in 1 2 3; do
	for i in $(seq 1 "$per_node"); do
		when="later $((2000 + (i * 6000) / per_node))ms"
		if [ $((i % 4)) -eq 2 ]; then
			echo "$when --channel cl$n --payload p$i"
		else
			echo "$when --exec -- $dir/hook.sh"
		fi
	done >"$dir/batch$n"
done
cluster_schedule
total=${#timers[@]}
check "scheduled $((3 * per_node)) timers" test "$total" -eq $((3 * per_node))
# A node claims what it schedules at once: its stats count them held.
held=$(ctl 2 --json stats | sed -n 's/.*"claims_held":\([0-9]*\).*/\1/p')
check "node 2's stats count the claims it holds ($held)" test "${held:-0}" -gt 0

# The fault, in the middle of the stream (5 s in: half have fired).
sleep 4.5
fault_ms=$(date +%s%3N)
case $fault in
kill)
	kill -KILL "${pid[1]}"
	wait "${pid[1]}" 2>/dev/null
	;;
stop)
	kill -STOP "${pid[1]}"
	sleep $((3 * death_ms / 1000))
	kill -CONT "${pid[1]}"
	;;
esac

# Everything not cancelled fires: the stream ends 6 s in, the dead
# node's last timers at most D + heartbeat + 1 s after the fault or
# their due time; wait generously (a liveness bound is checked below).
expect=$((total - ${#cancelled[@]}))
# Every fire: the hooks' lines, and a line per message in the database.
fires() {
	cat "$out"
	sql "SELECT timer_id || ' ' || fire_id || ' db' FROM evd.messages"
}
fired_ids() { fires | cut -d' ' -f1 | sort -u | wc -l; }
for _ in $(seq 1 300); do
	[ "$(fired_ids)" -ge "$expect" ] && break
	sleep 0.1
done
sleep 1 # late duplicates, if any, arrive now
fires >"$dir/all"
check "channel timers fired into the database" \
	test "$(grep -c ' db$' "$dir/all")" -gt 0

declare -A seen
dups=0
for id in $(cut -d' ' -f1 "$dir/all"); do
	if [ -n "${seen[$id]:-}" ]; then
		dups=$((dups + 1))
	fi
	seen[$id]=1
done
cluster_fates "$dir/all"
echo "# fault=$fault timers=$total cancelled=${#cancelled[@]}" \
	"fires=$(wc -l <"$dir/all") lost=$lost doubled=$dups"
check "no timer lost" test "$lost" -eq 0
check "no cancelled timer fired" test "$cancelled_fired" -eq 0
check "the database holds no pending or claimed timer" \
	test "$(sql "SELECT count(*) FROM evd.timers WHERE state IN ('P','C')")" -eq 0

# What each node still running says of itself (evctl stats --json's
# "node"): its id is its row in evd.nodes; its reaps add up to what the
# log says; its fence losses are checked against its log at the stop.
live_nodes="2 3"
[ "$fault" = stop ] && live_nodes="1 2 3"
st_losses=0 st_reaped_nodes=0 st_reaped_timers=0 st_lapses1=0 ids=
for n in $live_nodes; do
	js=$(ctl "$n" --json stats)
	id=$(sed -n 's/.*"node":{"id":"\([^"]*\)".*/\1/p' <<<"$js")
	check "node $n: stats names its node" test -n "$id"
	check "node $n: its id ($id) is its row in evd.nodes" \
		test "$(sql "SELECT count(*) FROM evd.nodes WHERE node = '$id'")" = 1
	check "node $n: its lease is live" grep -q '"lease_live":true' <<<"$js"
	check "node $n: a database round trip was measured" \
		test "$(jnum db_rtt_max_ns <<<"$js")" -gt 0
	check "node $n: holds no claim (all fired)" \
		test "$(jnum claims_held <<<"$js")" = 0
	ids="$ids $id"
	st_losses=$((st_losses + $(jnum fence_losses <<<"$js")))
	st_reaped_nodes=$((st_reaped_nodes + $(jnum reaped_nodes <<<"$js")))
	st_reaped_timers=$((st_reaped_timers + $(jnum reaped_timers <<<"$js")))
	[ "$n" = 1 ] && st_lapses1=$(jnum lease_lapses <<<"$js")
done
check "the nodes have distinct ids" \
	test "$(tr ' ' '\n' <<<"$ids" | sed '/^$/d' | sort -u | wc -l)" = \
	"$(wc -w <<<"$live_nodes")"
log_reaped_nodes=$(sed -n 's/.*reaped \([0-9]*\) dead nodes.*/\1/p' \
	"$dir/evd.log" | awk '{s += $1} END {print s + 0}')
log_reaped_timers=$(sed -n 's/.*dead nodes, \([0-9]*\) of their.*/\1/p' \
	"$dir/evd.log" | awk '{s += $1} END {print s + 0}')
echo "# stats: reaped nodes=$st_reaped_nodes timers=$st_reaped_timers" \
	"fence losses=$st_losses"
check "stats count the reap of the faulted node" test "$st_reaped_nodes" -ge 1
check "stats' reaped nodes are the log's" \
	test "$st_reaped_nodes" -eq "$log_reaped_nodes"
check "stats' reaped timers are the log's" \
	test "$st_reaped_timers" -eq "$log_reaped_timers"
[ "$fault" = stop ] &&
	check "node 1's stats count its lease lapse" test "$st_lapses1" -ge 1

# Stop the survivors (and the stopped node): their counters are logged.
stop_evds
losses=$(sed -n 's/.*cluster: node [0-9]*: fence losses \([0-9]*\),.*/\1/p' \
	"$dir/evd.log" | awk '{s += $1} END {print s + 0}')
check "stats' fence losses are the ones logged at the stop" \
	test "$st_losses" -eq "$losses"
lapses=$(grep -c "lease lapsed" "$dir/evd.log")
reaps=$(grep -c "reaped [1-9]" "$dir/evd.log")
echo "# fence losses=$losses lease lapses=$lapses reaps=$reaps"
check "a survivor reaped the faulted node" test "$reaps" -ge 1
# A duplicate is a fire the faulted node made whose retire did not land
# (its hook ran, then the kill; or its claim was reaped while it was
# stopped), fired once more by a survivor, with the same EVD_FIRE_ID.
dup_ok=1
for id in $(cut -d' ' -f1 "$dir/all" | sort | uniq -d); do
	lines=$(grep -c "^$id " "$dir/all")
	by1=$(grep -c "^$id .* n1.sock$" "$dir/all")
	fids=$(grep "^$id " "$dir/all" | cut -d' ' -f2 | sort -u | wc -l)
	if [ "$lines" -ne 2 ] || [ "$by1" -ne 1 ] || [ "$fids" -ne 1 ]; then
		echo "# timer $id: $(grep "^$id " "$dir/all" | tr '\n' ';')"
		dup_ok=0
	fi
done
check "each duplicate: by the faulted node, then a survivor, one fire id" \
	test "$dup_ok" -eq 1
case $fault in
kill)
	# At most the hooks it ran at once (exec_max_running).
	check "duplicates only from the killed node's last hooks" \
		test "$dups" -le 64
	;;
stop)
	check "the stopped node's lease lapsed" test "$lapses" -ge 1
	check "each duplicate is a fence loss" test "$dups" -le "$losses"
	;;
esac

# Liveness: the faulted node's timers fired on a survivor within
# D + heartbeat + 1 s of max(due, fault).
late=$(sql "SELECT count(*) FROM evd.runs r JOIN evd.timers t ON t.id = r.timer_id
	WHERE r.fired_rt_ns > 0 AND r.fired_rt_ns -
	greatest(r.due_rt_ns, $fault_ms::int8 * 1000000) > ($death_ms + $death_ms / 5 + 1000)::int8 * 1000000")
worst=$(sql "SELECT coalesce(max(r.fired_rt_ns - r.due_rt_ns), 0) / 1000000
	FROM evd.runs r WHERE r.fired_rt_ns > 0")
echo "# fires later than D + heartbeat + 1 s: $late (latest: $worst ms after due)"
check "failover within D + heartbeat + 1 s" test "$late" -eq 0

[ -n "${KEEP_LOG:-}" ] && cp "$dir/evd.log" "$KEEP_LOG" && cp "$out" "$KEEP_LOG.fires"
show_failure() {
	echo "--- evd.log"
	tail -n 60 "$dir/evd.log"
}
summary
