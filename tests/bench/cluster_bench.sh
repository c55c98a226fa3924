#!/usr/bin/env bash
# cluster_bench: evd cluster mode (issue 19) against the SQLite single
# node, side by side in one run, on one PostgreSQL from the test fixture:
#   - schedules/s: N durable timers (channel, an hour out) through
#     `evctl batch`, split evenly over the nodes, all batches at once;
#   - fires/s: N channel timers due at one wall-clock instant, split
#     evenly over the nodes (each node claims what it scheduled), from
#     that instant until every node's fired_total says all fired;
#   - failover: three nodes, FAIL_N timers through node 1 due 0.5 s after
#     it is killed with SIGKILL; the time from the kill until the last of
#     them fired on the other two (death threshold D = DEATH_MS).
# Each figure is the median of RUNS runs, with [min..max]. Not a ctest
# test: nothing is asserted, and the figures depend on the machine's
# load. Run it by hand (tests/bench/README.md, "Cluster mode"):
#   ./build/tests/pg/with_pg tests/bench/cluster_bench.sh build/evd \
#       build/client/evctl
# Beside each rate, the CPU time a fire cost during the fires' drain (from
# the due instant until all fired), in us per fire: the evd nodes' (their
# utime + stime from /proc), and PostgreSQL's (the postmaster and every
# process of it, including those that exited meanwhile), which the rates
# on a machine shared with other work are too noisy to show.
# Environment: N (default 20000), RUNS (3), NODES ("1 2 3"), DEATH_MS
# (2000), FAIL_N (2000), FAIL_RUNS (RUNS; 0 skips failover), KEEP=DIR
# keeps the logs, PERF=PREFIX records `perf record -g` of the evd nodes
# and the server's processes during each PostgreSQL drain, to
# PREFIX.K.RUN.data (K the nodes).
set -u
EVD=$(realpath "$1")
EVCTL=$(realpath "$2")
N=${N:-20000}
RUNS=${RUNS:-3}
NODES=${NODES:-"1 2 3"}
DEATH_MS=${DEATH_MS:-2000}
FAIL_N=${FAIL_N:-2000}
FAIL_RUNS=${FAIL_RUNS:-$RUNS}

if [ -z "${EVD_TEST_PG:-}" ]; then
	echo "cluster_bench: needs EVD_TEST_PG (run it under with_pg)" >&2
	exit 77
fi
for d in /usr/lib/postgresql/*/bin; do PATH=$PATH:$d; done
export TZ=UTC LC_ALL=C
dir=$(mktemp -d /tmp/evd-clbench.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	[ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$dir"/*.log "$KEEP"/ 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT

sql() { psql -X -q -t -A -d "$EVD_TEST_PG" -c "$1"; }
now_ns() { date +%s%N; }
sock() { echo "$dir/n$1.sock"; }
ctl() { local n=$1; shift; "$EVCTL" --socket "$(sock "$n")" "$@"; }

# The postmaster's pid: the checkpointer's parent (a process that lives
# as long as the server).
pg_master() {
	local b
	b=$(sql "SELECT pid FROM pg_stat_activity
		WHERE backend_type = 'checkpointer'")
	awk '{sub(/.*\) /, ""); print $2}' "/proc/$b/stat"
}
# Clock ticks of CPU the processes PIDS... have used (utime + stime).
cpu_of() {
	local p
	for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null; done |
		awk '{sub(/.*\) /, ""); t += $12 + $13} END {print t + 0}'
}
# Clock ticks of CPU the PostgreSQL server has used: the postmaster's,
# its live children's, and (cutime + cstime) those it reaped.
cpu_pg() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk -v pm="$PGPM" '{
		pid = $1; sub(/.*\) /, "")
		if (pid == pm) t += $12 + $13 + $14 + $15
		else if ($2 == pm) t += $12 + $13 } END {print t + 0}'
}
# PIDS... and the server's processes, comma-separated.
pg_pids_of() {
	{
		printf '%s\n' "$@" "$PGPM"
		cat /proc/[0-9]*/stat 2>/dev/null |
			awk -v pm="$PGPM" '{pid = $1; sub(/.*\) /, "")
				if ($2 == pm) print pid}'
	} | paste -sd,
}
# us per fire of TICKS ticks over COUNT fires.
per_fire() {
	awk -v t="$1" -v c="$2" -v hz="$HZ" \
		'BEGIN {printf "%.1f", t * 1e6 / hz / c}'
}
HZ=$(getconf CLK_TCK)
PGPM=$(pg_master)

# start STORE K: K nodes on STORE ("sqlite": one node, its own state
# directory; "pg": cluster nodes on the fixture's database).
start() {
	local store=$1 k=$2 n _
	for n in $(seq 1 "$k"); do
		rm -rf "$dir/s$n"
		mkdir -p "$dir/s$n"
		if [ "$store" = pg ]; then
			"$EVD" --socket "$(sock "$n")" --state-dir "$dir/s$n" \
				--store "pg:$EVD_TEST_PG" --cluster \
				--cluster-death-ms "$DEATH_MS" \
				--log-level warning 2>>"$dir/evd.log" &
		else
			"$EVD" --socket "$(sock "$n")" --state-dir "$dir/s$n" \
				--store sqlite --log-level warning 2>>"$dir/evd.log" &
		fi
		pids[$n]=$!
		for _ in $(seq 1 100); do
			ctl "$n" time >/dev/null 2>&1 && break
			sleep 0.1
		done
	done
}
# stop: every node (SIGTERM), and an empty database for the next run.
stop() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	pids=()
	sql "DROP SCHEMA IF EXISTS evd CASCADE" >/dev/null 2>&1
}
fired_total() { # the nodes 1..K
	local n s=0 v
	for n in $(seq 1 "$1"); do
		v=$(ctl "$n" --json stats 2>/dev/null |
			sed -n 's/.*"fired_total":\([0-9]*\).*/\1/p')
		s=$((s + ${v:-0}))
	done
	echo "$s"
}
# rate COUNT NS: per second.
rate() { awk -v c="$1" -v ns="$2" 'BEGIN {printf "%d", c / (ns / 1e9)}'; }
# Median [min..max] of the numbers on stdin.
stat() {
	sort -n | awk '{v[NR] = $1} END {
		if (NR == 0) { print "-"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%d [%d..%d]", m, v[1], v[NR] }'
}

# One run of STORE with K nodes: prints "schedules/s fires/s evd-us/fire
# pg-us/fire".
run_once() {
	local store=$1 k=$2 per t0 t1 n due due_ns sched fire done_ns bp
	local e0 e1 p0 p1 perf_pid
	per=$((N / k))
	start "$store" "$k"
	for n in $(seq 1 "$k"); do
		seq "$per" | sed "s/.*/later 1h --channel b$n/" >"$dir/sched$n"
	done
	bp=()
	t0=$(now_ns)
	for n in $(seq 1 "$k"); do
		ctl "$n" batch <"$dir/sched$n" >"$dir/ids$n" 2>/dev/null &
		bp+=($!)
	done
	wait "${bp[@]}"
	t1=$(now_ns)
	sched=$(rate "$(cat "$dir"/ids* | grep -cv '^-')" $((t1 - t0)))
	# Fires: due at one instant, far enough out for every batch.
	due=$(( (t1 - t0) * 2 / 1000000000 + $(date +%s) + 3 ))
	bp=()
	for n in $(seq 1 "$k"); do
		seq "$per" | sed "s/.*/at @$due --channel f$n/" >"$dir/fire$n"
		ctl "$n" batch <"$dir/fire$n" >"$dir/fids$n" 2>/dev/null &
		bp+=($!)
	done
	wait "${bp[@]}"
	due_ns=$((due * 1000000000))
	while [ "$(now_ns)" -lt $((due_ns - 50000000)) ]; do sleep 0.02; done
	e0=$(cpu_of "${pids[@]}")
	p0=$(cpu_pg)
	perf_pid=
	if [ -n "${PERF:-}" ] && [ "$store" = pg ]; then
		perf record -q -g -o "$PERF.$k.$run.data" -p "$(pg_pids_of \
			"${pids[@]}")" >/dev/null 2>&1 &
		perf_pid=$!
	fi
	while [ "$(now_ns)" -lt "$due_ns" ]; do sleep 0.005; done
	done_ns=
	for _ in $(seq 1 1200); do
		if [ "$(fired_total "$k")" -ge $((per * k)) ]; then
			done_ns=$(now_ns)
			break
		fi
		sleep 0.05
	done
	e1=$(cpu_of "${pids[@]}")
	p1=$(cpu_pg)
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid"
		wait "$perf_pid"
	fi
	if [ -n "$done_ns" ]; then
		fire=$(rate $((per * k)) $((done_ns - due_ns)))
	else
		fire=0 # did not all fire within a minute
	fi
	stop
	echo "$sched $fire $(per_fire $((e1 - e0)) $((per * k)))" \
		"$(per_fire $((p1 - p0)) $((per * k)))"
}

# One failover run: prints the ms from the kill until the last of the
# killed node's due timers fired elsewhere.
failover_once() {
	local kill_ns due done_ns _ base
	start pg 3
	# Due 0.5 s after the kill, which comes at a whole second.
	due=$(( $(date +%s) + 3 ))
	seq "$FAIL_N" | sed "s/.*/at @$due --channel fo/" >"$dir/fo"
	ctl 1 batch <"$dir/fo" >/dev/null 2>&1
	base=$(sql "SELECT count(*) FROM evd.messages WHERE channel LIKE '%fo'")
	while [ "$(now_ns)" -lt $(( due * 1000000000 - 500000000 )) ]; do
		sleep 0.02
	done
	kill -KILL "${pids[1]}"
	kill_ns=$(now_ns)
	wait "${pids[1]}" 2>/dev/null
	unset 'pids[1]'
	done_ns=
	for _ in $(seq 1 600); do
		if [ "$(sql "SELECT count(*) FROM evd.messages
			WHERE channel LIKE '%fo'")" -ge $((base + FAIL_N)) ]; then
			done_ns=$(now_ns)
			break
		fi
		sleep 0.02
	done
	stop
	if [ -n "$done_ns" ]; then
		echo $(( (done_ns - kill_ns) / 1000000 ))
	else
		echo 999999
	fi
}

echo "# cluster_bench: N=$N timers, $RUNS runs, D=${DEATH_MS} ms," \
	"$(nproc) CPUs, $(date -u +%FT%TZ)"
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A S F E P
for run in $(seq 1 "$RUNS"); do
	read -r s f e p < <(run_once sqlite 1)
	S[sqlite]+="$s "
	F[sqlite]+="$f "
	E[sqlite]+="$e "
	for k in $NODES; do
		read -r s f e p < <(run_once pg "$k")
		S[pg$k]+="$s "
		F[pg$k]+="$f "
		E[pg$k]+="$e "
		P[pg$k]+="$p "
	done
	echo "# run $run of $RUNS done ($(cut -d' ' -f1-3 /proc/loadavg))" >&2
done
FO=
for r in $(seq 1 "$FAIL_RUNS"); do
	FO+="$(failover_once) "
done

# The median [min..max] of a list of figures.
med() { tr ' ' '\n' <<<"$1" | sed '/^$/d' | stat; }
# The same of figures with a decimal.
medf() {
	tr ' ' '\n' <<<"$1" | sed '/^$/d' | sort -n | awk '{v[NR] = $1} END {
		if (NR == 0) { print "-"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.1f [%.1f..%.1f]", m, v[1], v[NR] }'
}
printf '\n| setup | schedules/s | fires/s | evd us/fire | PostgreSQL us/fire |\n'
printf '|---|---|---|---|---|\n'
printf '| SQLite, 1 node (baseline) | %s | %s | %s | - |\n' \
	"$(med "${S[sqlite]}")" "$(med "${F[sqlite]}")" \
	"$(medf "${E[sqlite]}")"
for k in $NODES; do
	printf '| PostgreSQL, %d cluster node%s | %s | %s | %s | %s |\n' "$k" \
		"$([ "$k" -gt 1 ] && echo s)" \
		"$(med "${S[pg$k]}")" "$(med "${F[pg$k]}")" \
		"$(medf "${E[pg$k]}")" "$(medf "${P[pg$k]}")"
done
[ "$FAIL_RUNS" -gt 0 ] &&
printf '\n| failover (kill -9 of 1 of 3 nodes, %d timers due 0.5 s after) | ms |\n|---|---|\n' "$FAIL_N"
[ "$FAIL_RUNS" -gt 0 ] &&
printf '| kill to the last of them fired elsewhere | %s |\n' \
	"$(tr ' ' '\n' <<<"$FO" | sed '/^$/d' | stat)"
echo
echo "Medians [min..max] of $RUNS runs; fires/s counts from the due instant"
echo "until every node's fired_total reached N (polled every 50 ms); us/fire"
echo "is the CPU time used over that drain per fire (evd: every node's)."
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
