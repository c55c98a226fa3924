#!/usr/bin/env bash
# test_cluster_hooks: one-shot exec hooks that run longer than a claim's
# lease, on two evd nodes (--cluster) sharing one PostgreSQL (issue 19,
# review item C1); first, a cancel of a timer another node took (H2), and
# a schedule of a key another node's open transaction holds (H5).
#
# Under with_pg (EVD_TEST_PG names a fresh database). Death threshold
# D = 1 s, so a claim's lease is T = 3 s. Node 1 fires four exec timers
# whose hooks run 7 s (more than twice T); node 2 claims due timers and
# lapsed claims all the while. The node running the hooks renews their
# claims (fenced), so node 2 never takes one while its hook runs:
# asserted, each hook started exactly once and ended, and no timer is
# left claimed or pending. Without the renewal node 2 takes every claim
# once T ran out and starts each hook a second time.
# usage: with_pg test_cluster_hooks.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/cluster_lib.sh"
cluster_require test_cluster_hooks
death_ms=1000
out=$dir/runs
: >"$out"
chmod 666 "$out"


start_node() { # n
	local n=$1
	mkdir -p "$dir/s$n"
	start_evd "$(sock "$n")" --store "pg:$EVD_TEST_PG" --cluster \
		--cluster-death-ms $death_ms --state-dir "$dir/s$n" \
		--log-level info
}
start_node 1
start_node 2

# H2: a Cancel of a timer whose claim another node took (here by SQL,
# as a claim scan would after its lease lapsed) cancels it where it is
# now: in the database, fence bumped, so that the holder's fenced
# retire cannot fire it any more (the holder is told and drops it).
far=$(echo "later 3600s --channel far --payload p" | ctl 1 batch)
check "a channel timer scheduled on node 1" test -n "$far" -a "$far" != -
me=$(sql "SELECT claim_node FROM evd.timers WHERE id = $far")
peer=$(sql "SELECT node FROM evd.nodes WHERE node <> '$me' LIMIT 1")
sql "UPDATE evd.timers SET claim_node = '$peer', fence = fence + 1
	WHERE id = $far" >/dev/null
ctl 1 cancel "$far" >"$dir/cancel.out" 2>&1
rc=$?
echo "# cancel: rc=$rc $(tr '\n' ' ' <"$dir/cancel.out")"
check "a cancel of a timer another node holds succeeds" test "$rc" -eq 0
check "and cancels it in the database, fence bumped" \
	test "$(sql "SELECT state::text || fence FROM evd.timers WHERE id = $far")" = X2
sql "DELETE FROM evd.timers WHERE id = $far" >/dev/null

# H5: a transaction of another node that holds a key's row lock (an
# uncommitted insert; that node stopped) does not stall node 1's loop:
# its schedule of the same key fails (UNAVAILABLE) within seconds (its
# lock wait ends after D/4), and node 1 answers meanwhile. The holder
# stays 12 s.
psql -X -q -d "$EVD_TEST_PG" >"$dir/psql.out" 2>&1 <<SQL &
BEGIN;
INSERT INTO evd.timers (id, state, uid, gid, clock, deadline_ns, due_rt_ns,
	vis_at, claim_node, created_rt_ns, channel, key, misfire, delivery,
	downtime, max_attempts, fire_count, last_fired_rt_ns)
	VALUES (7, 'C', $(id -u), $(id -g), 0, 0, 0, now() + interval '1 h',
	'$peer', 0, 'far', 'hold5', 0, 0, 0, 1, 0, 0);
SELECT pg_sleep(12);
ROLLBACK;
SQL
holder=$!
sleep 1
t0=$(date +%s%3N)
echo "later 3600s --channel far --payload q --key hold5" | ctl 1 batch \
	>"$dir/hold.out" 2>&1
t1=$(date +%s%3N)
echo "# schedule beside a held key: $((t1 - t0)) ms: $(tr '\n' ' ' <"$dir/hold.out")"
echo "# the holder: $(tr '\n' ' ' <"$dir/psql.out")"
check "a schedule of a key another node's transaction holds is answered within 6 s" \
	test $((t1 - t0)) -lt 6000
check "with an error, not a timer" grep -qv '^[0-9]' "$dir/hold.out"
check "node 1 answers meanwhile" ctl 1 time
wait "$holder"

printf '#!/bin/sh\necho "start $EVD_TIMER_ID ${EVD_SOCKET##*/}" >> %s\nsleep 7\necho "end $EVD_TIMER_ID ${EVD_SOCKET##*/}" >> %s\n' \
	"$out" "$out" >"$dir/hook.sh"
chmod 755 "$dir/hook.sh"

for i in 1 2 3 4; do
	echo "later ${i}00ms --exec -- $dir/hook.sh"
done >"$dir/batch"
ctl 1 batch <"$dir/batch" >"$dir/ids"
check "four exec timers scheduled on node 1" \
	test "$(grep -c '^[0-9]' "$dir/ids")" -eq 4

# Every hook ends 7.5 s in; a second start (node 2 taking a lapsed
# claim, 3 s after the first) would come before that.
for _ in $(seq 1 200); do
	[ "$(grep -c '^end ' "$out")" -ge 4 ] && break
	sleep 0.1
done
sleep 1
echo "# runs: $(tr '\n' ';' <"$out")"
check "every hook ended" test "$(grep -c '^end ' "$out")" -eq 4
dups=0
while read -r id; do
	n=$(grep -c "^start $id " "$out")
	[ "$n" -ne 1 ] && dups=$((dups + 1)) && echo "# timer $id started $n times"
done <"$dir/ids"
check "each hook started exactly once (no second run while it ran)" \
	test "$dups" -eq 0
check "the database holds no pending or claimed timer" \
	test "$(sql "SELECT count(*) FROM evd.timers WHERE state IN ('P','C')")" -eq 0

stop_evds
renewed=$(sed -n 's/.*claims renewed \([0-9]*\),.*/\1/p' "$dir/evd.log" |
	awk '{s += $1} END {print s + 0}')
echo "# claims renewed: $renewed"
check "node 1 renewed its hooks' claims" test "$renewed" -ge 4
show_failure() {
	echo "--- evd.log"
	tail -n 60 "$dir/evd.log"
}
summary
