#!/usr/bin/env bash
# test_metrics: the metrics endpoint (evd --metrics HOST:PORT) scraped with
# a real HTTP client (curl): after timers fired (to a caller, into a
# channel, as an exec hook) and one was cancelled, the counters, gauges,
# the lateness histogram and the commit histogram agree with what was done;
# other paths are 404, other methods 405; a request fed a byte at a time
# is closed 10 s after it began, and idle connections take at most 16 of
# evd's fds; bad addresses stop evd at
# start-up with exit 2 (option) or 6 (file); a port in use is exit 1.
# usage: test_metrics.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
if ! command -v curl >/dev/null 2>&1; then
	echo "SKIP: curl is not installed (apt-get install curl)"
	exit 77
fi
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
sock=$dir/evd.sock
pass=0
fail=0
evd_pid=

cleanup() {
	if [ -n "$evd_pid" ] && kill -0 "$evd_pid" 2>/dev/null; then
		kill -TERM "$evd_pid"
		wait "$evd_pid"
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); echo "[       OK ] $1"; }
bad() { fail=$((fail + 1)); echo "[  FAILED  ] $1: $2"; }
check() { # name, condition command...
	local name=$1; shift
	if "$@"; then ok "$name"; else bad "$name" "$*"; fi
}
ctl() { "$EVCTL" --socket "$sock" "$@"; }
# Polls CMD for up to 10 s.
await() {
	local _
	for _ in $(seq 1 200); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

# Starts evd with the metrics endpoint on a free port: a random one, again
# if it is taken (evd then exits 1 saying so). Waits until the socket
# answers (bounded: 10 s). Sets port and evd_pid.
start_evd() {
	local try
	for try in $(seq 1 20); do
		port=$((20000 + RANDOM % 40000))
		"$EVD" --socket "$sock" --state-dir "$dir/state" \
			--metrics "127.0.0.1:$port" 2>"$dir/evd.log" &
		evd_pid=$!
		for _ in $(seq 1 200); do
			ctl time >/dev/null 2>&1 && return 0
			kill -0 "$evd_pid" 2>/dev/null || break
			sleep 0.05
		done
		wait "$evd_pid"
		evd_pid=
		grep -q "in use" "$dir/evd.log" || break
	done
	echo "evd did not start:"; cat "$dir/evd.log"
	exit 1
}

start_evd
url=http://127.0.0.1:$port/metrics
# The value of a series ("name" or "name{labels}") in the last scrape.
value() { awk -v s="$1" '$1 == s { print $2 }' "$dir/metrics"; }
scrape() { curl -sf "$url" >"$dir/metrics"; }

check "the start-up line names the endpoint" \
	grep -q "metrics: serving http://127.0.0.1:$port/metrics" "$dir/evd.log"
check "scrape of a fresh evd succeeds" scrape
check "fresh: nothing fired" test "$(value evd_fired_total)" = 0
check "fresh: empty lateness histogram" \
	test "$(value evd_fire_lateness_seconds_count)" = 0

# What the scrape must account for: two caller fires (evctl waits for
# them), one channel fire (watch receives it), one cancelled timer, one
# still pending, and an exec hook if this evd has them.
scheduled=0 fired=0
ctl soon --payload a >/dev/null && scheduled=$((scheduled + 1)) fired=$((fired + 1))
ctl later 100ms --payload b >/dev/null &&
	scheduled=$((scheduled + 1)) fired=$((fired + 1))
ctl later 50ms --channel m --payload c >/dev/null &&
	scheduled=$((scheduled + 1)) fired=$((fired + 1))
out=$(ctl watch m --count 1 --timeout 10s)
check "the channel timer fired" bash -c "grep -q 'payload=c' <<<'$out'"
id=$(ctl later -q 1h --channel keep) && scheduled=$((scheduled + 1))
check "cancel succeeds" ctl cancel "$id"
ctl later 1h --channel keep >/dev/null && scheduled=$((scheduled + 1))
exec_ok=0
id=$(ctl soon -q --exec -- /bin/sh -c 'exit 3' 2>"$dir/err")
if [ $? -ne 0 ] && grep -q "unknown callback target" "$dir/err"; then
	echo "SKIP: daemon without exec hooks (exec outcome cases)"
else
	scheduled=$((scheduled + 1)) fired=$((fired + 1)) exec_ok=1
	ctl wait "$id" >/dev/null 2>&1
	check "the hook exited 3" test $? -eq 3
fi

check "scrape succeeds" scrape
check "evd_scheduled_total is $scheduled" \
	test "$(value evd_scheduled_total)" = "$scheduled"
check "evd_fired_total is $fired" test "$(value evd_fired_total)" = "$fired"
check "evd_cancelled_total is 1" test "$(value evd_cancelled_total)" = 1
check "evd_pending_timers is 1" test "$(value evd_pending_timers)" = 1
check "evd_connections is a number" \
	bash -c "[[ '$(value evd_connections)' =~ ^[0-9]+$ ]]"
check "evd_channels counts m and keep" test "$(value evd_channels)" -ge 2
check "evd_channel_messages_queued is 0 (watch took it)" \
	test "$(value evd_channel_messages_queued)" = 0
check "evd_channel_messages_dead is 0" \
	test "$(value evd_channel_messages_dead)" = 0
check "evd_channel_redelivered_total is 0" \
	test "$(value evd_channel_redelivered_total)" = 0
check "evd_exec_running is 0" test "$(value evd_exec_running)" = 0
check "no cluster series outside cluster mode" \
	bash -c "! grep -q '^evd_cluster_' '$dir/metrics'"
check "lateness _count is the fires ($fired)" \
	test "$(value evd_fire_lateness_seconds_count)" = "$fired"
check "lateness +Inf bucket is the count" \
	test "$(value 'evd_fire_lateness_seconds_bucket{le="+Inf"}')" = "$fired"
check "lateness buckets are cumulative" awk '
	/^evd_fire_lateness_seconds_bucket/ { if ($2 < prev) bad = 1; prev = $2; n++ }
	END { exit bad || n != 13 }' "$dir/metrics"
check "lateness _sum is a number of seconds" \
	bash -c "[[ '$(value evd_fire_lateness_seconds_sum)' =~ ^[0-9]+\.[0-9]{9}$ ]]"
check "the store committed (commit histogram)" \
	test "$(value evd_store_commit_seconds_count)" -ge 1
# --sync full (the default) makes commits durable on the sync thread.
check "the store flushed off the loop (flush histogram)" \
	test "$(value evd_store_flush_seconds_count)" -ge 1
check "flush +Inf bucket is its count" test \
	"$(value 'evd_store_flush_seconds_bucket{le="+Inf"}')" = \
	"$(value evd_store_flush_seconds_count)"
check "histograms are typed" \
	grep -q '^# TYPE evd_fire_lateness_seconds histogram$' "$dir/metrics"
if [ $exec_ok -eq 1 ]; then
	# Exit 3 is a failure, not a success (issue 14).
	check "evd_exec_total failure is 1 (exit 3)" \
		test "$(value 'evd_exec_total{outcome="failure"}')" = 1
	check "evd_exec_total success is 0" \
		test "$(value 'evd_exec_total{outcome="success"}')" = 0
	check "evd_exec_total timeout is 0" \
		test "$(value 'evd_exec_total{outcome="timeout"}')" = 0
	check "evd_exec_total failed_start is 0" \
		test "$(value 'evd_exec_total{outcome="failed_start"}')" = 0
fi

# The last-success gauge (issue 17): one series per repeating or calendar
# exec timer whose hook exited 0, gone with the timer; not for one-shots
# or failures.
if [ $exec_ok -eq 1 ]; then
	me=$(id -u)
	series() { echo "evd_timer_last_success_timestamp_seconds{id=\"$1\",owner=\"$me\"}"; }
	has_series() { scrape && [ -n "$(value "$(series "$1")")" ]; }
	rep=$(ctl later -q 10ms --every 1h --exec -- /bin/true)
	cal=$(ctl on -q '*:*:*' --exec -- /bin/true)
	bad=$(ctl later -q 10ms --every 1h --exec -- /bin/false)
	one=$(ctl soon -q --exec -- /bin/true)
	ctl wait "$one" >/dev/null 2>&1
	check "an interval timer's success is a series" await has_series "$rep"
	check "a calendar timer's success is a series" await has_series "$cal"
	now=$(date +%s)
	v=$(value "$(series "$rep")")
	check "its value is the time of the success ($v, now $now)" \
		awk -v v="$v" -v n="$now" 'BEGIN { exit !(v > n - 60 && v <= n + 1) }'
	check "a one-shot's success is not" bash -c "! grep -q 'id=\"$one\"' '$dir/metrics'"
	ran_bad() { ctl runs "$bad" | grep -q 'exit 1'; }
	check "the failing repeating hook ran" await ran_bad
	scrape
	check "a failure is not a success" bash -c "! grep -q 'id=\"$bad\"' '$dir/metrics'"
	check "the gauge is typed" \
		grep -q '^# TYPE evd_timer_last_success_timestamp_seconds gauge$' "$dir/metrics"
	check "nothing dropped" \
		test "$(value evd_timer_last_success_dropped_total)" = 0
	ctl cancel "$rep" "$cal" "$bad" >/dev/null
	scrape
	check "a cancelled timer's series is gone" \
		bash -c "! grep -q 'id=\"\($rep\|$cal\)\"' '$dir/metrics'"
fi

# docs/grafana-dashboard.json: valid JSON, and every metric it queries is
# one this evd exports (a renamed metric would leave a panel empty).
dash=$(dirname "$0")/../../docs/grafana-dashboard.json
if command -v python3 >/dev/null; then
	check "the Grafana dashboard is valid JSON" \
		python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$dash"
fi
scrape
for m in $(grep -o 'evd_[a-z_]*' "$dash" | sed 's/_\(bucket\|sum\|count\)$//' | sort -u); do
	check "the dashboard's $m is exported" \
		grep -q "^# TYPE $m " "$dir/metrics"
done

# HTTP: content type, HEAD, 404, 405.
check "Content-Type is Prometheus text 0.0.4" bash -c \
	"curl -s -D - -o /dev/null '$url' | grep -qi '^content-type: text/plain; version=0.0.4'"
check "HEAD /metrics is 200" \
	test "$(curl -s -I -o /dev/null -w '%{http_code}' "$url")" = 200
check "another path is 404" test "$(curl -s -o /dev/null -w '%{http_code}' \
	"http://127.0.0.1:$port/")" = 404
check "a path below /metrics is 404" test "$(curl -s -o /dev/null \
	-w '%{http_code}' "$url/x")" = 404
check "POST /metrics is 405" test "$(curl -s -o /dev/null -w '%{http_code}' \
	-X POST -d x "$url")" = 405
check "a query string is fine" curl -sf -o /dev/null "$url?x=1"

# Slow-loris: a request line, then a header byte every 2 s. evhttp's own
# timeout is one of silence, so each byte used to keep the connection for
# ever; the request now has 10 s in all, and scrapes go on meanwhile.
# drip prints the seconds until evd closed the connection, or "open".
drip() {
	local start=$SECONDS i rc line fd
	trap '' PIPE
	exec {fd}<>"/dev/tcp/127.0.0.1/$port" || { echo error; return; }
	printf 'GET /metrics HTTP/1.1\r\nHost: x\r\n' >&"$fd"
	for i in $(seq 1 15); do
		# read -t: 0 with a line, >128 on timeout, else EOF.
		read -r -t 2 -u "$fd" line
		rc=$?
		if [ $rc -ne 0 ] && [ $rc -le 128 ]; then
			break
		fi
		printf 'X' >&"$fd" 2>/dev/null || break
	done
	exec {fd}<&-
	if [ "$i" -eq 15 ]; then echo open; else echo $((SECONDS - start)); fi
}
drip >"$dir/drip" &
drip_pid=$!
sleep 1
check "scrapes go on during a drip-fed request" curl -sf -m 5 -o /dev/null "$url"
wait "$drip_pid"
t=$(cat "$dir/drip")
check "a drip-fed request is closed at 10 s (took: $t)" \
	bash -c "[ '$t' != open ] && [ '$t' != error ] && [ '$t' -ge 9 ] && [ '$t' -le 13 ]"

# At most 16 connections at once: 40 idle ones hold 16 of evd's fds, the
# rest wait in the backlog; once they go, scrapes are served again.
fds_now() { ls "/proc/$evd_pid/fd" | wc -l; }
before=$(fds_now)
idle=()
for i in $(seq 1 40); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$port" && idle+=("$fd")
done
sleep 0.5
during=$(fds_now)
check "40 idle connections hold at most 16 fds ($before -> $during)" \
	test $((during - before)) -le 16
for fd in "${idle[@]}"; do exec {fd}<&-; done
check "served again once they are gone" curl -sf -m 5 -o /dev/null "$url"

# Start-up errors: a second evd on the same port, bad addresses.
"$EVD" --socket "$dir/two.sock" --state-dir "$dir/two" --store memory \
	--metrics "127.0.0.1:$port" 2>"$dir/err"
check "a port in use is exit 1" test $? -eq 1
check "a port in use says so" grep -q "127.0.0.1:$port is in use" "$dir/err"
check "the failed start left no socket" test ! -e "$dir/two.sock"
"$EVD" --socket "$dir/two.sock" --store memory --metrics 9464 2>"$dir/err"
check "a bad --metrics is exit 2" test $? -eq 2
check "a bad --metrics says why" \
	grep -q -- "--metrics: expected off or HOST:PORT" "$dir/err"
printf 'metrics = example.org:9464\n' >"$dir/bad.conf"
"$EVD" --config "$dir/bad.conf" --socket "$dir/two.sock" --store memory \
	2>"$dir/err"
check "a bad metrics key is exit 6" test $? -eq 6
check "a bad metrics key names file and line" \
	grep -q "$dir/bad.conf:1: metrics: expected off or HOST:PORT" "$dir/err"
"$EVD" --help >"$dir/help"
check "--help lists --metrics" grep -q -- "--metrics HOST:PORT" "$dir/help"

# The endpoint goes away with evd.
check "daemon alive" kill -0 "$evd_pid"
kill -TERM "$evd_pid"
wait "$evd_pid"
rc=$?
evd_pid=
check "SIGTERM exits 0" test $rc -eq 0
curl -s -o /dev/null "$url"
check "no endpoint after SIGTERM (curl: connection refused)" test $? -eq 7

echo "[==========] $((pass + fail)) test(s) run."
echo "[  PASSED  ] $pass test(s)."
if [ $fail -ne 0 ]; then
	echo "[  FAILED  ] $fail test(s)."
	echo "--- last scrape:"; cat "$dir/metrics"
	echo "--- evd log:"; cat "$dir/evd.log"
	exit 1
fi
