#!/usr/bin/env bash
# test_check_config: evd --check-config (issue 17) validates a
# configuration file as nginx -t does: the real parser, every error with
# its line, the paths evd would use, exit 0 or 1, and it starts nothing
# (no socket, no state directory made). Compares the full output.
# usage: test_check_config.sh EVD_BIN
set -u
EVD=${1:?usage: test_check_config.sh EVD_BIN}
tmp=$(mktemp -d /tmp/evd-check-config.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# expect NAME STATUS OUTPUT ARGS...: stdout and stderr together.
expect() {
	local name=$1 want_rc=$2 want=$3 out rc
	shift 3
	out=$(env -u EVD_SOCKET "$EVD" "$@" 2>&1)
	rc=$?
	if [ "$rc" -eq "$want_rc" ] && [ "$out" = "$want" ]; then
		pass=$((pass + 1))
		echo "[       OK ] $name"
	else
		fail=$((fail + 1))
		echo "[  FAILED  ] $name: status $rc (want $want_rc), output:"
		echo "$out"
		echo "--- wanted:"
		echo "$want"
	fi
}

cat >"$tmp/good.conf" <<CONF
# a good file
socket = $tmp/run/evd.sock
state_dir = $tmp/state/evd
store = sqlite
threads = 2
metrics = 127.0.0.1:9464
quota_timers = 1000
CONF
expect "a good file is ok" 0 \
	"evd: configuration file $tmp/good.conf is ok" \
	--check-config --config "$tmp/good.conf"
if [ -e "$tmp/run" ] || [ -e "$tmp/state" ]; then
	fail=$((fail + 1))
	echo "[  FAILED  ] --check-config made a directory: $(ls "$tmp")"
else
	pass=$((pass + 1))
	echo "[       OK ] it starts nothing and makes nothing"
fi

cat >"$tmp/bad.conf" <<CONF
socket = $tmp/run/evd.sock
store = memory

threds = 2
sync = sometimes
metrics = 127.0.0.1:0
store = sqlite
CONF
expect "every bad line, with a suggestion" 1 \
	"evd: $tmp/bad.conf:4: unknown key 'threds' (did you mean 'threads'?)
evd: $tmp/bad.conf:5: sync: expected full or normal, not 'sometimes'
evd: $tmp/bad.conf:6: metrics: expected off or HOST:PORT (an IPv4 address, [IPv6] or localhost; port 1..65535), not '127.0.0.1:0'
evd: $tmp/bad.conf:7: store: set twice (first on line 2)
evd: configuration file $tmp/bad.conf test failed" \
	--check-config --config "$tmp/bad.conf"

# Paths as evd would use them: a file where a directory must be.
: >"$tmp/afile"
cat >"$tmp/paths.conf" <<CONF
socket = $tmp/afile/evd.sock
state_dir = $tmp/afile/state
CONF
expect "socket and state directory paths are checked" 1 \
	"evd: socket $tmp/afile/evd.sock: cannot listen there: $tmp/afile: Not a directory
evd: state_dir $tmp/afile/state: cannot keep the sqlite store there: $tmp/afile: Not a directory
evd: configuration file $tmp/paths.conf test failed" \
	--check-config --config "$tmp/paths.conf"

# evd makes one missing level of the socket's directory, not two.
cat >"$tmp/deep.conf" <<CONF
socket = $tmp/no/such/evd.sock
state_dir = $tmp/a/b/c
CONF
expect "the socket's directory one level deep" 1 \
	"evd: socket $tmp/no/such/evd.sock: cannot listen there: $tmp/no: No such file or directory
evd: configuration file $tmp/deep.conf test failed" \
	--check-config --config "$tmp/deep.conf"

# A socket path that exists and is no socket is refused at start-up.
expect "a socket path that is a file" 1 \
	"evd: socket $tmp/afile: exists and is not a socket
evd: configuration file $tmp/good.conf test failed" \
	--check-config --config "$tmp/good.conf" --socket "$tmp/afile"

# The memory store needs no state directory.
expect "the command line over the file" 0 \
	"evd: configuration file $tmp/paths.conf is ok" \
	--check-config --config "$tmp/paths.conf" --socket "$tmp/evd.sock" \
	--store memory

expect "a missing --config file" 1 \
	"evd: $tmp/missing.conf: No such file or directory
evd: configuration file $tmp/missing.conf test failed" \
	--check-config --config "$tmp/missing.conf"

echo "[==========] $((pass + fail)) test(s) run."
echo "[  PASSED  ] $pass test(s)."
if [ $fail -ne 0 ]; then
	echo "[  FAILED  ] $fail test(s)."
	exit 1
fi
