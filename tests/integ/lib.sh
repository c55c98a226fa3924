# lib.sh: what the shell integration tests share. Sourced by bash after
# the script set EVD, EVCTL (the binaries) and dir (its temporary
# directory, removed at exit).
#
#   ok NAME / bad NAME WHY / check NAME CMD...   count and print results
#   await CMD...          polls CMD for up to 10 s (no sleeps in tests)
#   start_evd SOCK ARGS   starts evd on SOCK (log: $dir/evd.log) and
#                         returns once it answers; stopped at exit
#   stop_evds             SIGTERM to each evd started, and waits for it
#   summary               the cmocka-style summary; on failures calls
#                         the script's show_failure (if defined), exit 1
#
# A script may define cleanup_extra, run at exit before the evds stop.
pass=0
fail=0
evd_pids=()

ok() { pass=$((pass + 1)); echo "[       OK ] $1"; }
bad() { fail=$((fail + 1)); echo "[  FAILED  ] $1: $2"; }
check() { # name, condition command...
	local name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name" "$*"; fi
}

await() {
	local _
	for _ in $(seq 1 200); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

start_evd() {
	local sock=$1 _
	shift
	"$EVD" --socket "$sock" "$@" 2>>"$dir/evd.log" &
	evd_pids+=($!)
	for _ in $(seq 1 200); do
		"$EVCTL" --socket "$sock" time >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "evd did not start: $(cat "$dir/evd.log")"
	exit 1
}

stop_evds() {
	local p
	for p in "${evd_pids[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p"
			wait "$p"
		fi
	done
	evd_pids=()
}

lib_cleanup() {
	if declare -F cleanup_extra >/dev/null; then cleanup_extra; fi
	stop_evds
	rm -rf "$dir"
}
trap lib_cleanup EXIT

summary() {
	echo "[==========] $((pass + fail)) test(s) run."
	echo "[  PASSED  ] $pass test(s)."
	[ "$fail" -eq 0 ] && return 0
	echo "[  FAILED  ] $fail test(s)."
	if declare -F show_failure >/dev/null; then show_failure; fi
	exit 1
}
