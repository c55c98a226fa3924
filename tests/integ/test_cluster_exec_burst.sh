#!/usr/bin/env bash
# test_cluster_exec_burst: a burst of one-shot exec timers due at once on
# one cluster node does not starve its heartbeat (issue 19). N exec
# timers come due at one wall-clock instant on a single node (death
# threshold D = 2 s); each hook runs (at least once, with duplicates
# only as the node's fence losses account for), each timer is retired,
# and the node's lease never lapses meanwhile. When each fire renewed
# its claim in a round trip of its own on the loop, and each hook's end
# retired its claim (and wrote its run) in more, a burst of 3,000 held
# the loop for seconds between two heartbeats and the lease lapsed
# several times. Asserts on the node's counters, not on time.
# usage: with_pg test_cluster_exec_burst.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
N=${N:-3000}
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/cluster_lib.sh"
cluster_require test_cluster_exec_burst
out=$dir/runs
: >"$out"
chmod 666 "$out"
cluster_hook "$out"

mkdir -p "$dir/s1"
start_evd "$(sock 1)" --store "pg:$EVD_TEST_PG" --cluster \
	--cluster-death-ms 2000 --state-dir "$dir/s1" --log-level info

# Due far enough out for the whole batch to be scheduled first.
t0=$(date +%s)
due=$((t0 + 5))
seq "$N" | sed "s|.*|at @$due --exec -- $dir/hook.sh|" >"$dir/batch"
ctl 1 batch <"$dir/batch" >"$dir/ids"
check "$N exec timers scheduled" test "$(grep -c '^[0-9]' "$dir/ids")" -eq "$N"
now=$(date +%s)
check "scheduled before they were due" test "$now" -lt "$due"

# Every hook ran and every claim was retired (the hook ends, then its
# claim goes).
for _ in $(seq 1 1800); do
	ran=$(cut -d' ' -f1 "$out" | sort -u | wc -l)
	left=$(sql "SELECT count(*) FROM evd.timers WHERE state <> 'F'")
	[ "$ran" -ge "$N" ] && [ "${left:-1}" -eq 0 ] && break
	cluster_alive "during the burst"
	sleep 0.1
done
js=$(ctl 1 --json stats)
lapses=$(jnum lease_lapses <<<"$js")
gaps=$(jnum lease_gaps <<<"$js")
losses=$(jnum fence_losses <<<"$js")
runs=$(wc -l <"$out")
ran=$(cut -d' ' -f1 "$out" | sort -u | wc -l)
echo "# hooks run=$runs distinct=$ran lease lapses=${lapses:-?}" \
	"gaps=${gaps:-?} fence losses=${losses:-?}"
check "every hook ran" test "$ran" -eq "$N"
check "only its own timers' hooks ran" \
	test -z "$(cut -d' ' -f1 "$out" | sort -u | comm -23 - <(sort -u "$dir/ids"))"
check "duplicates only as fence losses account" \
	test "$((runs - ran))" -le "${losses:-0}"
check "every timer retired" \
	test "$(sql "SELECT count(*) FROM evd.timers WHERE state = 'F'")" \
	-eq "$N"
check "the node's lease never lapsed during the burst" \
	test "${lapses:-1}" -eq 0
grep -q "lease lapsed" "$dir/evd.log" && sed -n '/lease lapsed/p' \
	"$dir/evd.log" | head -3
summary
