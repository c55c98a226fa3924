#!/usr/bin/env bash
# test_socket_discovery: where evd listens and evctl looks by default
# (issue 17). A user's evd without XDG_RUNTIME_DIR listens in its own
# 0700 /tmp/evd-UID (and refuses one someone else made); a user's evctl
# with XDG_RUNTIME_DIR set but no evd there falls back to /tmp/evd-UID,
# then to the system instance's /run/evd/evd.sock (in a private mount
# namespace, so the machine's /run is untouched); "cannot connect" names
# the unit to start. Needs root (to act as other uids) and setpriv;
# otherwise exits 77. The /run/evd part needs unshare -m, else it says
# so and is skipped.
# usage: test_socket_discovery.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
U1=61201
U2=61202
pass=0
fail=0
pids=()

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	echo "test_socket_discovery: needs root and setpriv; skipped"
	exit 77
fi
dir=$(mktemp -d /tmp/evd-disc.XXXXXX)
chmod 0755 "$dir"
# The other user runs copies (copybin.sh says why).
. "$(dirname "$0")/copybin.sh"
copy_binaries_for_others || exit 1
cleanup() {
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$dir" "/tmp/evd-$U1" "/tmp/evd-$U2"
}
trap cleanup EXIT
rm -rf "/tmp/evd-$U1" "/tmp/evd-$U2"

ok() { pass=$((pass + 1)); echo "[       OK ] $1"; }
bad() { fail=$((fail + 1)); echo "[  FAILED  ] $1: $2"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name" "$*"; fi; }
as() { # uid, command...: no XDG_RUNTIME_DIR or EVD_SOCKET unless given
	local u=$1; shift
	env -u XDG_RUNTIME_DIR -u EVD_SOCKET HOME="$dir" \
		setpriv --reuid="$u" --regid="$u" --clear-groups "$@"
}
# Waits (10 s bound) until evctl as uid (with env) answers.
answers() { # uid, env...
	local u=$1; shift
	for _ in $(seq 1 200); do
		as "$u" env "$@" "$EVCTL" time >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

mkdir -m 0700 "$dir/emptyrt" && chown "$U1" "$dir/emptyrt"
mkdir -m 0777 "$dir/state"

# A user's evd without XDG_RUNTIME_DIR: /tmp/evd-UID, its own, 0700.
# Not through as(): $! must be evd's own pid.
env -u XDG_RUNTIME_DIR -u EVD_SOCKET HOME="$dir" \
	setpriv --reuid="$U1" --regid="$U1" \
	--clear-groups "$EVD" --store memory --state-dir "$dir/state/u1" \
	>/dev/null 2>"$dir/u1.log" &
pids+=($!)
check "a user's evd without XDG_RUNTIME_DIR starts" answers "$U1"
check "it listens in /tmp/evd-UID" test -S "/tmp/evd-$U1/evd.sock"
check "/tmp/evd-UID is the user's own 0700 directory" \
	test "$(stat -c '%u %a' "/tmp/evd-$U1")" = "$U1 700"
check "evctl with an empty XDG_RUNTIME_DIR falls back to /tmp/evd-UID" \
	answers "$U1" XDG_RUNTIME_DIR="$dir/emptyrt"
as "$U2" "$EVCTL" --socket "/tmp/evd-$U1/evd.sock" time >/dev/null 2>&1
check "another user cannot reach it through the 0700 directory" \
	test $? -eq 3

# /tmp/evd-UID made by someone else first is refused, saying why.
mkdir -m 0755 "/tmp/evd-$U2"
as "$U2" "$EVD" --store memory --state-dir "$dir/state/u2" \
	>"$dir/u2.out" 2>&1
check "evd refuses a /tmp/evd-UID that is not the user's own" test $? -ne 0
check "and says why" grep -q "not your own 0700 directory" "$dir/u2.out"
rm -rf "/tmp/evd-$U2"

# Nothing listening: the hint names the user's unit.
as "$U2" env XDG_RUNTIME_DIR="$dir/emptyrt" "$EVCTL" time 2>"$dir/err"
check "no evd: exit 3" test $? -eq 3
check "the hint names systemctl --user" \
	grep -q "systemctl --user enable --now evd.socket" "$dir/err"

# The system instance, in a mount namespace of its own (a tmpfs on
# /run/evd there; the machine's /run is not touched beyond an empty
# /run/evd mount point, removed again if it was made here).
made_run=
if [ ! -d /run/evd ]; then mkdir /run/evd && made_run=1; fi
if unshare -m true 2>/dev/null; then
	unshare -m --propagation private bash -s "$EVD" "$EVCTL" "$U2" \
		"$dir" >"$dir/sys.out" 2>&1 <<'INNER'
EVD=$1 EVCTL=$2 U=$3 dir=$4
mount -t tmpfs -o mode=0755 tmpfs /run/evd || exit 77
as() { local u=$1; shift; env -u XDG_RUNTIME_DIR -u EVD_SOCKET setpriv --reuid="$u" --regid="$u" --clear-groups "$@"; }
env -u EVD_SOCKET -u XDG_RUNTIME_DIR "$EVCTL" time 2>"$dir/root.err"
grep -q "systemctl enable --now evd.socket" "$dir/root.err" || { echo "root hint"; exit 1; }
"$EVD" --store memory --state-dir "$dir/state/sys" >/dev/null 2>"$dir/sys.log" &
pid=$!
for _ in $(seq 1 200); do
	as "$U" env XDG_RUNTIME_DIR="$dir/emptyrt" "$EVCTL" time >/dev/null 2>&1 && break
	sleep 0.05
done
as "$U" env XDG_RUNTIME_DIR="$dir/emptyrt" "$EVCTL" time >/dev/null 2>&1
rc=$?
kill -TERM $pid; wait $pid
exit $rc
INNER
	rc=$?
	if [ $rc -eq 77 ]; then
		echo "test_socket_discovery: cannot mount in a namespace here; the /run/evd part is skipped"
	else
		check "a user's evctl with XDG_RUNTIME_DIR finds /run/evd/evd.sock" \
			test $rc -eq 0
		[ $rc -eq 0 ] || cat "$dir/sys.out"
	fi
else
	echo "test_socket_discovery: no unshare -m here; the /run/evd part is skipped"
fi
[ -n "$made_run" ] && rmdir /run/evd

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
