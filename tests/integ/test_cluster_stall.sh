#!/usr/bin/env bash
# test_cluster_stall: a cluster node whose heartbeat goes to a database
# backend that stops answering without closing the connection (issue
# 19, review item H4).
#
# Under with_pg (EVD_TEST_PG names a fresh database). One node, death
# threshold D = 3 s (heartbeat D/5). The backend of its node connection
# (the one that holds no advisory lock: the store's connection does) is
# SIGSTOPped: a heartbeat sent to it is never answered. The node gives
# the connection up two beats after that send, reconnects without
# blocking its loop, and beats again, so its lease lives on: a channel
# timer due 3 s later fires while the backend is still stopped, the
# daemon answers requests throughout, and the lease never lapsed (the
# last answered beat's lease runs 4/5 D from its send, a beat before the
# stuck one: 3/5 D after that send, 600 ms after the give-up; a give-up
# at the next beat tick instead, up to a beat later, lapsed in most
# runs). Without the bound the heartbeat stays in flight for ever and
# nothing fires. First, a heartbeat interval above D/3 is refused.
# usage: with_pg test_cluster_stall.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/cluster_lib.sh"
cluster_require test_cluster_stall
sock=$dir/n1.sock
ctl() { "$EVCTL" --socket "$sock" "$@"; }

stopped=
cleanup_extra() { [ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null; }

mkdir -p "$dir/s1"
# A heartbeat interval above D/3 cannot keep the lease across one lost
# beat (it lives 4/5 D past a beat's send): refused at start.
timeout 10 "$EVD" --socket "$dir/x.sock" --store "pg:$EVD_TEST_PG" --cluster \
	--cluster-death-ms 1000 --cluster-heartbeat-ms 400 \
	--state-dir "$dir/s1" >"$dir/x.log" 2>&1
rc=$?
check "a heartbeat interval above D/3 is refused" \
	test "$rc" -ne 0 -a "$rc" -ne 124
check "saying why" grep -q "a third of the death threshold" "$dir/x.log"
start_evd "$sock" --store "pg:$EVD_TEST_PG" --cluster \
	--cluster-death-ms 3000 --state-dir "$dir/s1" --log-level info
sleep 0.5
stopped=$(sql "SELECT pid FROM pg_stat_activity WHERE application_name = 'evd'
	AND pid NOT IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory')
	LIMIT 1")
check "found the node connection's backend" test -n "$stopped"
[ -n "$stopped" ] && kill -STOP "$stopped"

id=$(echo "later 3000ms --channel stall --payload p" | ctl batch)
check "a channel timer scheduled" test -n "$id" -a "$id" != -
fired=0
for _ in $(seq 1 100); do
	ctl time >/dev/null 2>&1 || { bad "evd answers" "no answer"; break; }
	if [ "$(sql "SELECT count(*) FROM evd.messages WHERE timer_id = '$id'")" -ge 1 ]; then
		fired=1
		break
	fi
	sleep 0.1
done
check "the timer fired while the backend was stopped" test "$fired" -eq 1
check "the node gave the unanswered connection up" \
	grep -q "did not answer for" "$dir/evd.log"
lapses=$(ctl --json stats | jnum lease_lapses)
check "its lease never lapsed ($lapses lapses)" test "$lapses" = 0
kill -CONT "$stopped"
stopped=
stop_evds
show_failure() {
	echo "--- evd.log"
	tail -n 40 "$dir/evd.log"
}
summary
