#!/usr/bin/env bash
# test_units: the unit files are valid and stay hardened.
#   systemd-analyze verify   on the system and user units and slices (copies whose
#                            ExecStart= is the built evd: verify checks it
#                            exists); any complaint fails.
#   systemd-analyze security the system unit's exposure stays at most 1.0
#                            (0.8 since hooks run in units of their own).
#   no capability           evd.service's CapabilityBoundingSet= is empty.
# Works without systemd as PID 1 (both run offline). Exits 77 when
# systemd-analyze is missing (apt-get install systemd).
# usage: test_units.sh SYSTEMD_SRC_DIR EVD_BIN
set -u
src=$1
evd=$2
if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze not found (apt-get install systemd)"
	exit 77
fi
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail=0
sbindir=$(cd "$(dirname "$evd")" && pwd)
[ "$(basename "$evd")" = evd ] || { echo "EVD_BIN must be named evd"; exit 1; }

mkdir -p "$dir/system" "$dir/user" "$dir/runtime"
for d in system user; do
	from=$src
	[ $d = user ] && from=$src/user
	sed "s|@EVD_SBINDIR@|$sbindir|g" "$from/evd.service.in" \
		>"$dir/$d/evd.service"
	cp "$from/evd.socket" "$dir/$d/evd.socket"
done
# Slices (evd-hooks.slice) are checked with the units when shipped.
slices=()
for f in "$src"/*.slice; do
	[ -e "$f" ] || continue
	cp "$f" "$dir/system/"
	slices+=("./$(basename "$f")")
done

check() { # name, command...
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && [ -z "$out" ]; then
		echo "[       OK ] $name"
	else
		echo "[  FAILED  ] $name (exit $rc):"
		echo "$out"
		fail=1
	fi
}

# --man=no: the man pages are not installed here (man/ is checked by
# test_man). Relative paths: verify then also finds evd.service for
# evd.socket in the same directory.
cd "$dir/system" &&
	check "verify system units" systemd-analyze verify --man=no \
		./evd.socket ./evd.service "${slices[@]}"
# The user manager wants a runtime directory to resolve %t.
cd "$dir/user" &&
	check "verify user units" env XDG_RUNTIME_DIR="$dir/runtime" \
		systemd-analyze --user verify --man=no ./evd.socket ./evd.service

# evd starts hooks as other users through PID 1 (transient units): it
# needs no capability, and an added one would go unnoticed otherwise.
check "no capability" bash -c \
	"grep -qx 'CapabilityBoundingSet=' '$dir/system/evd.service' &&
	 ! grep -n '^CapabilityBoundingSet=.' '$dir/system/evd.service'"

# A template placeholder left behind would be a broken ExecStart.
check "no placeholders left" bash -c \
	"! grep -n '@[A-Z_]*@' '$dir/system/evd.service' '$dir/user/evd.service'"

# Exposure is printed 0.0 (locked down) .. 10.0; --threshold counts tenths.
cd "$dir/system" &&
	if systemd-analyze security --offline=yes ./evd.service >/dev/null 2>&1
	then
		out=$(systemd-analyze security --offline=yes --threshold=10 \
			./evd.service 2>&1)
		if [ $? -eq 0 ]; then
			echo "[       OK ] security: $(echo "$out" | tail -1)"
		else
			echo "[  FAILED  ] security exposure above 1.0:"
			echo "$out"
			fail=1
		fi
	else
		echo "[     SKIP ] systemd-analyze security --offline (systemd < 250)"
	fi
exit $fail
