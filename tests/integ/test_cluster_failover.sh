#!/usr/bin/env bash
# test_cluster_failover: three evd nodes (--cluster, --sync full) on a
# PostgreSQL primary with a synchronous standby; the primary crashes
# mid-stream and the standby is promoted (issue 19's real failover, the
# HA setup the README's "Running several nodes" describes).
#
# Under with_pg (the primary; SIGUSR1 to EVD_TEST_PG_RUNNER crashes it
# with pg_ctl stop -m immediate). The test makes the standby itself:
# pg_basebackup -R from the primary, started on a second port, named in
# synchronous_standby_names (so a commit is acknowledged only once the
# standby has it). The nodes' conninfo names both servers with
# target_session_attrs=read-write, so libpq finds whichever is primary.
# Death threshold D = 2 s. Through each node, PER_NODE one-shot timers
# due 2 to 10 s later: exec hooks (each appends "TIMER_ID FIRE_ID NODE"
# to one file) and channel timers (a row in evd.messages); a tenth are
# cancelled. The primary crashes 4 s in; the standby is promoted
# PROMOTE_S (1) seconds later. Asserted:
#   - every node survives (with --sync full, a node whose last commit
#     the new primary lacked would stop: none may, the standby was
#     synchronous), is live again on the promoted server and schedules;
#   - every one-shot timer not cancelled fired at least once, no
#     cancelled one fired; one channel message per channel timer;
#   - exec duplicates are matched by the nodes' fence losses;
#   - every fire came within D + heartbeat + 1 s + the failover (crash to
#     promoted) + 6 s (the store connection's reconnect backoff, as in
#     test_cluster_pgrestart) of its due time.
# Prints the failover time: from the crash until the first timer due
# after it fired on the promoted server.
# usage: with_pg test_cluster_failover.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/cluster_lib.sh"
cluster_require test_cluster_failover runner pg_basebackup pg_ctl postgres
death_ms=2000
per_node=${PER_NODE:-40}
promote_s=${PROMOTE_S:-1}
out=$(realpath "$dir")/fires
: >"$out"
chmod 666 "$out"

# The primary's address, from the fixture's conninfo.
ci_get() { sed -n "s/.*$1=\\([^ ]*\\).*/\\1/p" <<<"$EVD_TEST_PG"; }
host=$(ci_get host)
port1=$(ci_get port)
db=$(ci_get dbname)
user=$(ci_get user)
port2=$(/usr/bin/python3 -c 'import socket; s=socket.socket();
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
primary="host=$host port=$port1 user=$user dbname=$db"
standby="host=$host port=$port2 user=$user dbname=$db"
both="host=$host,$host port=$port1,$port2 user=$user dbname=$db"
both="$both target_session_attrs=read-write connect_timeout=2"

sql1() { psql -X -q -t -A -d "$primary" -c "$1"; }
sql2() { psql -X -q -t -A -d "$standby" -c "$1"; }

# The server runs as postgres when we are root (as the fixture's does).
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
	as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups)
fi
sdir=$dir/standby
mkdir -p "$sdir"
[ "$(id -u)" -eq 0 ] && chown postgres: "$dir" "$sdir"
chmod 700 "$sdir"
standby_pid=
cleanup_extra() {
	[ -n "$standby_pid" ] && kill -INT "$standby_pid" 2>/dev/null &&
		for _ in $(seq 1 100); do
			kill -0 "$standby_pid" 2>/dev/null || break
			sleep 0.1
		done
	[ -n "$standby_pid" ] && kill -KILL "$standby_pid" 2>/dev/null
	[ -n "${KEEP_LOG:-}" ] && cp "$dir/evd.log" "$KEEP_LOG" &&
		cp "$out" "$KEEP_LOG.fires" && cp "$dir/standby.log" "$KEEP_LOG.pg"
	return 0
}

if ! "${as_pg[@]}" pg_basebackup -d "$primary" -D "$sdir/data" -R \
	-X stream -c fast >"$dir/basebackup.log" 2>&1; then
	echo "test_cluster_failover: pg_basebackup failed:"
	cat "$dir/basebackup.log"
	exit 1
fi
"${as_pg[@]}" postgres -D "$sdir/data" -p "$port2" -k "$sdir" \
	-c listen_addresses="$host" -c cluster_name=evdstandby \
	>"$dir/standby.log" 2>&1 &
standby_pid=$!
in_recovery() { [ "$(sql2 "SELECT pg_is_in_recovery()" 2>/dev/null)" = t ]; }
check "the standby runs, in recovery" await in_recovery
sql1 "ALTER SYSTEM SET synchronous_standby_names = '*'" >/dev/null
sql1 "SELECT pg_reload_conf()" >/dev/null
is_sync() {
	[ "$(sql1 "SELECT sync_state FROM pg_stat_replication" 2>/dev/null)" = sync ]
}
check "the standby is synchronous" await is_sync

for n in 1 2 3; do
	mkdir -p "$dir/s$n"
	start_evd "$(sock "$n")" --store "pg:$both" --cluster \
		--cluster-death-ms $death_ms --state-dir "$dir/s$n" \
		--sync full --log-level info
done

cluster_hook "$out"
for n in 1 2 3; do
	for i in $(seq 1 "$per_node"); do
		line="later $((2000 + (i * 8000) / per_node))ms"
		if [ $((i % 2)) -eq 0 ]; then
			echo "$line --channel fo$n --payload p$i"
		else
			echo "$line --exec -- $dir/hook.sh"
		fi
	done >"$dir/batch$n"
done
cluster_schedule
check "scheduled $((3 * per_node)) one-shot timers" \
	test "${#timers[@]}" -eq $((3 * per_node))

# The crash, 4 s in; the promotion PROMOTE_S later.
sleep 4
crash_ms=$(now_ms)
crash_ns=$((crash_ms * 1000000))
kill -USR1 "$EVD_TEST_PG_RUNNER"
down() { ! psql -X -q -d "$primary" -c 'SELECT 1' >/dev/null 2>&1; }
check "the primary is down" await down
sleep "$promote_s"
"${as_pg[@]}" pg_ctl promote -D "$sdir/data" -w >>"$dir/standby.log" 2>&1
promoted() { [ "$(sql2 "SELECT pg_is_in_recovery()" 2>/dev/null)" = f ]; }
check "the standby is promoted" await promoted
up_ms=$(now_ms)
failover_ms=$((up_ms - crash_ms))
echo "# failover: $failover_ms ms (crash to the standby promoted)"
cluster_alive "over the failover"
for n in 1 2 3; do
	ok_live=0
	for _ in $(seq 1 200); do
		ctl "$n" --json stats 2>/dev/null | grep -q '"lease_live":true' &&
			{ ok_live=1; break; }
		sleep 0.1
	done
	check "node $n: live again on the promoted server" test "$ok_live" = 1
	id=
	for _ in $(seq 1 100); do
		id=$(ctl "$n" later -q 1s --channel after$n 2>/dev/null) && break
		id=
		sleep 0.2
	done
	check "node $n: schedules again after the failover" test -n "$id"
	[ -n "$id" ] && timers[$id]=$n
done
cluster_alive "after the failover"

total=${#timers[@]}
expect=$((total - ${#cancelled[@]}))
fires() {
	cat "$out"
	sql2 "SELECT timer_id || ' ' || fire_id || ' db' FROM evd.messages"
}
fired_ids() { fires | cut -d' ' -f1 | sort -u | wc -l; }
for _ in $(seq 1 300); do
	[ "$(fired_ids)" -ge "$expect" ] && break
	cluster_alive "while the stream ended"
	sleep 0.1
done
sleep 1 # late duplicates
fires >"$dir/all"

cluster_fates "$dir/all"
exec_dups=$(grep -v ' db$' "$dir/all" | cut -d' ' -f1 | sort | uniq -d | wc -l)
msg_dups=$(sql2 "SELECT count(*) FROM (SELECT timer_id FROM evd.messages
	GROUP BY timer_id HAVING count(*) > 1) d")
echo "# timers=$total cancelled=${#cancelled[@]} fires=$(wc -l <"$dir/all")" \
	"lost=$lost exec duplicates=$exec_dups channel duplicates=$msg_dups"
check "no timer lost over the failover" test "$lost" -eq 0
check "no cancelled timer fired" test "$cancelled_fired" -eq 0
check "one message per channel fire (exactly once at the database)" \
	test "$msg_dups" -eq 0
oneshot_ids=$(IFS=,; echo "${!timers[*]}")
check "no one-shot timer left pending or claimed" \
	test "$(sql2 "SELECT count(*) FROM evd.timers WHERE state IN ('P','C')
		AND id IN ($oneshot_ids)")" -eq 0

# The first fire on the promoted server of a timer due after the crash.
first=$(sql2 "SELECT coalesce(min(fired_rt_ns), 0) FROM (
	SELECT fired_rt_ns FROM evd.runs WHERE due_rt_ns > $crash_ns
		AND fired_rt_ns > 0
	UNION ALL SELECT fired_rt_ns FROM evd.messages
		WHERE due_rt_ns > $crash_ns) x")
[ "$first" -gt 0 ] &&
	echo "# failover: $(((first - crash_ns) / 1000000)) ms from the crash" \
		"to the first fire on the promoted server"
bound_ms=$((death_ms + death_ms / 5 + 1000 + failover_ms + 6000))
late=$(sql2 "SELECT count(*) FROM (
	SELECT fired_rt_ns - due_rt_ns AS l FROM evd.runs WHERE fired_rt_ns > 0
	UNION ALL SELECT fired_rt_ns - due_rt_ns FROM evd.messages) x
	WHERE l > $bound_ms::int8 * 1000000")
worst=$(sql2 "SELECT coalesce(max(l), 0) / 1000000 FROM (
	SELECT fired_rt_ns - due_rt_ns AS l FROM evd.runs WHERE fired_rt_ns > 0
	UNION ALL SELECT fired_rt_ns - due_rt_ns FROM evd.messages) x")
echo "# fires later than $bound_ms ms: $late (latest: $worst ms after due)"
check "every fire within D + heartbeat + 1 s + the failover" test "$late" -eq 0

losses=0
for n in 1 2 3; do
	js=$(ctl "$n" --json stats)
	losses=$((losses + $(jnum fence_losses <<<"$js")))
done
echo "# fence losses=$losses"
check "each exec duplicate is a fence loss" test "$exec_dups" -le "$losses"
cluster_alive "at the end"
show_failure() {
	echo "--- evd.log"
	tail -n 80 "$dir/evd.log"
	echo "--- standby.log"
	tail -n 30 "$dir/standby.log"
}
summary
