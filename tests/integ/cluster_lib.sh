# cluster_lib.sh: what the cluster shell tests (test_cluster*.sh) share.
# Sourced by bash after lib.sh, with EVD, EVCTL and dir set.
#
#   cluster_require NAME [runner] [CMD...]
#                         exits 77 unless run under with_pg (EVD_TEST_PG;
#                         "runner": EVD_TEST_PG_RUNNER too, for faults)
#                         with psql and each CMD installed (1 instead with
#                         EVD_REQUIRE_PG=1); puts PostgreSQL's bin on PATH,
#                         exports TZ=UTC LC_ALL=C
#   sql SQL               one statement on EVD_TEST_PG, rows unaligned
#   sock N, ctl N ARGS    node N's socket; evctl on it
#   now_ms                wall clock, ms
#   jnum KEY              a number field of the --json on stdin
#   cluster_alive WHEN    every evd started still runs, else the test
#                         fails at once with the log's tail
#   cluster_hook FILE     writes $dir/hook.sh, a hook appending
#                         "TIMER_ID FIRE_ID NODE_SOCKET" to FILE
#   cluster_schedule      sends $dir/batch1..3 (evctl batch lines) through
#                         nodes 1..3 at once, then cancels every tenth id
#                         of each: fills timers[ID]=NODE and cancelled[]
#   cluster_fates FILE    from FILE's lines "TIMER_ID ...": lost (not
#                         cancelled, not in FILE) and cancelled_fired;
#                         prints each lost id as a comment

cluster_require() {
	local name=$1 c
	shift
	if [ -z "${EVD_TEST_PG:-}" ]; then
		echo "$name: needs EVD_TEST_PG (run it under with_pg)"
		exit 77
	fi
	if [ "${1:-}" = runner ]; then
		shift
		if [ -z "${EVD_TEST_PG_RUNNER:-}" ]; then
			echo "$name: needs EVD_TEST_PG_RUNNER (run it under" \
				"with_pg)"
			exit 77
		fi
	fi
	for c in /usr/lib/postgresql/*/bin; do PATH=$PATH:$c; done
	for c in psql "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			echo "$name: $c is not installed"
			[ "${EVD_REQUIRE_PG:-}" = 1 ] && exit 1
			exit 77
		fi
	done
	export TZ=UTC LC_ALL=C
}

sql() { psql -X -q -t -A -d "$EVD_TEST_PG" -c "$1"; }
sock() { echo "$dir/n$1.sock"; }
ctl() {
	local n=$1
	shift
	"$EVCTL" --socket "$(sock "$n")" "$@"
}
now_ms() { date +%s%3N; }
jnum() { sed -n "s/.*\"$1\":\\([0-9]*\\).*/\\1/p"; }

cluster_alive() {
	local p
	for p in "${evd_pids[@]}"; do
		if ! kill -0 "$p" 2>/dev/null; then
			bad "every node survives" "evd $p died $1"
			echo "--- evd.log"
			tail -n 60 "$dir/evd.log"
			exit 1
		fi
	done
}

cluster_hook() {
	printf '#!/bin/sh\necho "$EVD_TIMER_ID $EVD_FIRE_ID ${EVD_SOCKET##*/}" >> %s\n' \
		"$1" >"$dir/hook.sh"
	chmod 755 "$dir/hook.sh"
}

cluster_schedule() {
	local n i id line bpids=()
	declare -gA timers=()
	cancelled=()
	for n in 1 2 3; do
		ctl "$n" batch <"$dir/batch$n" >"$dir/ids$n" &
		bpids+=($!)
	done
	wait "${bpids[@]}"
	for n in 1 2 3; do
		i=0
		while read -r id; do
			i=$((i + 1))
			if [ "$id" = - ] || [ -z "$id" ]; then
				bad "schedule on node $n" "no id"
				continue
			fi
			timers[$id]=$n
			[ $((i % 10)) -eq 0 ] && echo "cancel $id"
		done <"$dir/ids$n" >"$dir/cancel$n"
		while read -r line; do
			cancelled+=("${line#cancel }")
		done <"$dir/cancel$n"
		ctl "$n" batch <"$dir/cancel$n" >"$dir/cancelled$n"
		check "node $n: the cancels were taken" \
			test "$(grep -c -- '^-' "$dir/cancelled$n")" -eq 0
	done
}

cluster_fates() {
	local id c
	declare -A seen=() gone=()
	for id in $(cut -d' ' -f1 "$1"); do seen[$id]=1; done
	for c in "${cancelled[@]}"; do gone[$c]=1; done
	lost=0
	cancelled_fired=0
	for id in "${!timers[@]}"; do
		if [ -n "${gone[$id]:-}" ]; then
			[ -n "${seen[$id]:-}" ] &&
				cancelled_fired=$((cancelled_fired + 1))
		elif [ -z "${seen[$id]:-}" ]; then
			lost=$((lost + 1))
			echo "# lost: $id"
		fi
	done
}
