#!/usr/bin/env bash
# test_cluster_gate: a hook that waits in a node's hook queue does not
# start once the node's lease may have lapsed (issue 19, review item
# H6): by then a peer may have reaped its claim and run it.
#
# Under with_pg (EVD_TEST_PG names a fresh database). Two nodes, death
# threshold D = 1 s; node 1 runs one hook at a time (exec_max_running =
# 1). Three exec timers on node 1 come due together: the first hook runs
# 3 s, the other two wait in node 1's queue. Node 1 is SIGSTOPped for
# 4 s: node 2 reaps it and runs all three. When node 1 resumes, its
# first hook has ended and the queue would start the next: the gate
# refuses (the lease is not live, or a renewal found the claim gone), so
# node 1 starts no hook after the SIGCONT, and counts them. Without the gate it starts the two queued hooks,
# which node 2 already ran.
# usage: with_pg test_cluster_gate.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/cluster_lib.sh"
cluster_require test_cluster_gate
out=$dir/runs
: >"$out"
chmod 666 "$out"

stopped=
cleanup_extra() { [ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null; }

printf 'exec_max_running = 1\n' >"$dir/one.conf"
declare -A pid
for n in 1 2; do
	mkdir -p "$dir/s$n"
	conf=()
	[ "$n" = 1 ] && conf=(--config "$dir/one.conf")
	start_evd "$(sock "$n")" "${conf[@]}" --store "pg:$EVD_TEST_PG" \
		--cluster --cluster-death-ms 1000 --state-dir "$dir/s$n" \
		--log-level info
	pid[$n]=${evd_pids[-1]}
done

printf '#!/bin/sh\necho "start $EVD_TIMER_ID ${EVD_SOCKET##*/} $(date +%%s%%3N)" >> %s\nsleep 3\n' \
	"$out" >"$dir/hook.sh"
chmod 755 "$dir/hook.sh"
for i in 1 2 3; do
	echo "later 500ms --exec -- $dir/hook.sh"
done >"$dir/batch"
ctl 1 batch <"$dir/batch" >"$dir/ids"
check "three exec timers scheduled on node 1" \
	test "$(grep -c '^[0-9]' "$dir/ids")" -eq 3

# The first hook runs, the others wait in node 1's queue.
for _ in $(seq 1 50); do
	grep -q 'n1.sock' "$out" && break
	sleep 0.1
done
stopped=${pid[1]}
kill -STOP "$stopped"
sleep 4
cont_ms=$(date +%s%3N)
kill -CONT "$stopped"
stopped=
sleep 4
echo "# runs: $(tr '\n' ';' <"$out")"
late=$(awk -v t="$cont_ms" '$3 == "n1.sock" && $4 >= t' "$out" | wc -l)
check "node 1 started no hook after it resumed" test "$late" -eq 0
while read -r id; do
	check "timer $id ran" grep -q "^start $id " "$out"
done <"$dir/ids"
stop_evds
unstarted=$(sed -n 's/.*hooks not started \([0-9]*\).*/\1/p' "$dir/evd.log" |
	awk '{s += $1} END {print s + 0}')
echo "# hooks not started: $unstarted"
check "node 1 counted the hooks it did not start" test "$unstarted" -ge 1
show_failure() {
	echo "--- evd.log"
	tail -n 60 "$dir/evd.log"
}
summary
