#!/usr/bin/env bash
# cluster_msg_bench: channel messages delivered and acked per second by
# one subscriber (prefetch 256, acks pipelined, evd's Python client) on
# one cluster node (issue 19, review item M7), against the SQLite single
# node in the same run. N channel timers fire into a channel nobody
# subscribes to yet; once all fired, the subscriber connects and the
# clock runs from its Subscribe until its last ack is answered. With
# EVD_BASE (another build's evd), its cluster node is measured too,
# alternating within each run. Each figure is the median of RUNS runs,
# with [min..max], and the ratio to SQLite is the median of per-run
# ratios. Not a ctest test (nothing asserted); run it by hand:
#   ./build/tests/pg/with_pg tests/bench/cluster_msg_bench.sh build/evd \
#       build/client/evctl
# Environment: N (default 5000), RUNS (5), DEATH_MS (2000), EVD_BASE,
# PYTHON (/usr/bin/python3).
set -u
EVD=$(realpath "$1")
EVCTL=$(realpath "$2")
N=${N:-5000}
RUNS=${RUNS:-5}
DEATH_MS=${DEATH_MS:-2000}
# The client package as the build generated it (evd_pb2), beside evctl.
PYDIR=${PYDIR:-$(dirname "$EVCTL")/python}
# The system's (python3-protobuf), not one earlier on PATH without it.
PY=${PYTHON:-/usr/bin/python3}

if [ -z "${EVD_TEST_PG:-}" ]; then
	echo "cluster_msg_bench: needs EVD_TEST_PG (run it under with_pg)" >&2
	exit 77
fi
for d in /usr/lib/postgresql/*/bin; do PATH=$PATH:$d; done
export TZ=UTC LC_ALL=C
dir=$(mktemp -d /tmp/evd-msgbench.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
sql() { psql -X -q -t -A -d "$EVD_TEST_PG" -c "$1"; }
ctl() { "$EVCTL" --socket "$dir/n.sock" "$@"; }

cat >"$dir/sub.py" <<'PY'
import asyncio, sys, time
import evd

async def main(path, n):
    async with evd.connect(path) as ev:
        loop = asyncio.get_running_loop()
        fin = loop.create_future()
        acked = 0
        def done(t):
            nonlocal acked
            t.result()
            acked += 1
            if acked == n:
                fin.set_result(time.monotonic())
        got = 0
        t0 = time.monotonic()
        async for msg in ev.subscribe("m", max_inflight=256):
            asyncio.ensure_future(msg.ack()).add_done_callback(done)
            got += 1
            if got == n:
                break
        t1 = await fin
        print(int(n / (t1 - t0)))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
PY

# run_once BIN STORE: prints messages/s.
run_once() {
	local bin=$1 store=$2 f _
	rm -rf "$dir/s"
	mkdir -p "$dir/s"
	if [ "$store" = pg ]; then
		"$bin" --socket "$dir/n.sock" --state-dir "$dir/s" \
			--store "pg:$EVD_TEST_PG" --cluster \
			--cluster-death-ms "$DEATH_MS" --log-level warning \
			2>>"$dir/evd.log" &
	else
		"$bin" --socket "$dir/n.sock" --state-dir "$dir/s" \
			--store sqlite --log-level warning 2>>"$dir/evd.log" &
	fi
	pid=$!
	for _ in $(seq 1 100); do
		ctl time >/dev/null 2>&1 && break
		sleep 0.1
	done
	seq "$N" | sed "s/.*/later 0s --channel m/" | ctl batch >/dev/null
	for _ in $(seq 1 600); do
		f=$(ctl --json stats | sed -n 's/.*"fired_total":\([0-9]*\).*/\1/p')
		[ "${f:-0}" -ge "$N" ] && break
		sleep 0.1
	done
	PYTHONPATH=$PYDIR timeout 300 "$PY" "$dir/sub.py" "$dir/n.sock" "$N" ||
		echo 0
	kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	pid=
	sql "DROP SCHEMA IF EXISTS evd CASCADE" >/dev/null 2>&1
}
stat() {
	sort -g | awk '{v[NR] = $1} END {
		if (NR == 0) { print "-"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%g [%g..%g]", m, v[1], v[NR] }'
}

: >"$dir/sqlite"; : >"$dir/pg"; : >"$dir/base"; : >"$dir/r"; : >"$dir/rb"
for r in $(seq 1 "$RUNS"); do
	sq=$(run_once "$EVD" sqlite)
	if [ -n "${EVD_BASE:-}" ]; then
		b=$(run_once "$(realpath "$EVD_BASE")" pg)
		echo "$b" >>"$dir/base"
		awk -v a="$b" -v s="$sq" 'BEGIN {printf "%.3f\n", a / s}' >>"$dir/rb"
	fi
	p=$(run_once "$EVD" pg)
	echo "$sq" >>"$dir/sqlite"
	echo "$p" >>"$dir/pg"
	awk -v a="$p" -v s="$sq" 'BEGIN {printf "%.3f\n", a / s}' >>"$dir/r"
	echo "# run $r: sqlite $sq/s, pg ${b:-} (base) $p (this) /s" >&2
done
echo "messages delivered+acked/s, N=$N, $RUNS runs, median [min..max]:"
echo "  sqlite 1 node:          $(stat <"$dir/sqlite")"
[ -n "${EVD_BASE:-}" ] &&
	echo "  pg cluster node, base:  $(stat <"$dir/base"), : sqlite $(stat <"$dir/rb")"
echo "  pg cluster node:        $(stat <"$dir/pg"), : sqlite $(stat <"$dir/r")"
