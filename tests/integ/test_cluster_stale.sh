#!/usr/bin/env bash
# test_cluster_stale: a cluster node's fires are pipelined and answered
# at their batch's commit (issue 19); a fire whose claim is no longer
# the node's, found only there, rolls its whole batch back, and the
# node rebuilds from the database and fires again what is still its
# own: every timer fires exactly once at the database, the loss is
# counted, and the node goes on taking requests (a lost claim is not a
# store failure: writes are not refused).
#
# Under with_pg (EVD_TEST_PG names a fresh database). One node; M
# channel timers due together; just before they are due, one of them
# has its fence bumped behind the node's back (as an adoption or a
# peer's claim would), so its retire matches no row.
# usage: with_pg test_cluster_stale.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
M=200
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/cluster_lib.sh"
cluster_require test_cluster_stale
sock=$(sock 1)

mkdir -p "$dir/s1"
start_evd "$sock" --store "pg:$EVD_TEST_PG" --cluster \
	--cluster-death-ms 2000 --state-dir "$dir/s1" --log-level info

due=$(($(date +%s) + 3))
seq "$M" | sed "s/.*/at @$due --channel stale/" >"$dir/batch"
ctl 1 batch <"$dir/batch" >"$dir/ids"
check "$M timers scheduled" test "$(grep -c '^[0-9]' "$dir/ids")" -eq "$M"
victim=$(sed -n '100p' "$dir/ids")
check "the victim's fence bumped before it was due" \
	test "$(sql "UPDATE evd.timers SET fence = fence + 1 WHERE
		id = $victim AND state = 'C' RETURNING 1")" = 1
now=$(date +%s)
check "...in time" test "$now" -lt "$due"

fired=0
for _ in $(seq 1 300); do
	fired=$(sql "SELECT count(*) FROM evd.timers WHERE state = 'F'
		AND channel LIKE '%stale'")
	[ "${fired:-0}" -ge "$M" ] && break
	sleep 0.1
done
js=$(ctl 1 --json stats)
losses=$(jnum fence_losses <<<"$js")
lapses=$(jnum lease_lapses <<<"$js")
echo "# retired=$fired fence losses=${losses:-?} lease lapses=${lapses:-?}"
check "every timer retired" test "${fired:-0}" -eq "$M"
check "one message per timer, the victim's included" \
	test "$(sql "SELECT count(*), count(DISTINCT timer_id),
		count(*) FILTER (WHERE timer_id = $victim) FROM evd.messages
		WHERE channel LIKE '%stale'")" = "$M|$M|1"
check "the lost claim is counted" test "${losses:-0}" -eq 1
check "its batch was rolled back" \
	grep -q "claims were lost\|the claim was lost" "$dir/evd.log"
check "the store was not refused" \
	sh -c "! grep -q 'durable requests are refused' '$dir/evd.log'"
check "the node takes requests" \
	sh -c "'$EVCTL' --socket '$sock' later 1h --channel after | grep -q '^[0-9]'"
summary
