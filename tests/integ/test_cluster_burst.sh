#!/usr/bin/env bash
# test_cluster_burst: a burst of due timers on one cluster node does not
# starve its heartbeat (issue 19). N channel timers come due at one
# wall-clock instant on a single node (death threshold D = 2 s); the
# node fires them all, each exactly once at the database, and its lease
# never lapses meanwhile. When every fire waited for its own round trips
# on the loop, a burst of 20,000 held the loop for seconds between two
# heartbeats and the lease lapsed several times (nothing was lost, but
# the node stopped firing and adopted its claims anew each time).
# Asserts on the node's counters, not on time.
# usage: with_pg test_cluster_burst.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
N=${N:-20000}
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/cluster_lib.sh"
cluster_require test_cluster_burst
sock=$(sock 1)

mkdir -p "$dir/s1"
start_evd "$sock" --store "pg:$EVD_TEST_PG" --cluster \
	--cluster-death-ms 2000 --state-dir "$dir/s1" --log-level info

# Due far enough out for the whole batch to be scheduled first.
t0=$(date +%s)
due=$((t0 + 4))
seq "$N" | sed "s/.*/at @$due --channel burst/" >"$dir/batch"
ctl 1 batch <"$dir/batch" >"$dir/ids"
check "$N timers scheduled" test "$(grep -c '^[0-9]' "$dir/ids")" -eq "$N"
# Those that missed the instant (a slow machine) are due soon after: a
# burst all the same.
now=$(date +%s)
check "scheduled before they were due" test "$now" -lt "$due"

fired=0
for _ in $(seq 1 1200); do
	fired=$(ctl 1 --json stats | jnum fired_total)
	[ "${fired:-0}" -ge "$N" ] && break
	sleep 0.1
done
js=$(ctl 1 --json stats)
lapses=$(jnum lease_lapses <<<"$js")
gaps=$(jnum lease_gaps <<<"$js")
losses=$(jnum fence_losses <<<"$js")
echo "# fired=$fired lease lapses=${lapses:-?} gaps=${gaps:-?}" \
	"fence losses=${losses:-?}"
check "every timer fired" test "${fired:-0}" -ge "$N"
check "the node's lease never lapsed during the burst" \
	test "${lapses:-1}" -eq 0
check "no fence loss" test "${losses:-1}" -eq 0
check "one message per timer in the database" \
	test "$(sql "SELECT count(*), count(DISTINCT timer_id) FROM
		evd.messages WHERE channel LIKE '%burst'")" = "$N|$N"
check "every timer retired" \
	test "$(sql "SELECT count(*) FROM evd.timers WHERE state = 'F'")" \
	-eq "$N"
grep -q "lease lapsed" "$dir/evd.log" && sed -n '/lease lapsed/p' \
	"$dir/evd.log" | head -3
summary
