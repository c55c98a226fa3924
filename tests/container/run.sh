#!/usr/bin/env bash
# tests/container/run.sh: evd under a real systemd, as PID 1 of a Debian 12
# container (systemd-nspawn), installed from the .deb with the shipped
# units: socket activation, Type=notify, reload, the watchdog, the state
# directory, journald, a per-user instance with lingering, and exec hooks
# as transient units (identity, network and home, timeouts, the journal,
# properties, failures, --retry, --on-failure; checks.sh).
#
# usage: sudo tests/container/run.sh [--deb FILE]...
#   --deb FILE   install this package instead of building them
#                (.ci/build-deb); repeat it for each package (.ci/run
#                passes evd, libevclient1 and libevclient-event1). A
#                libevclient1 of the same version beside an evd FILE is
#                taken too: evd depends on it.
# EVD_CONTAINER_MIRROR=URL debootstraps from URL instead of the host's
# apt mirror.
#
# Everything lives in the build tree build-container/: the package
# (deb/), the Debian root (rootfs/, made once by debootstrap and reused:
# the container boots it with --volatile=overlay, so it stays pristine;
# delete it to start over; it is made again when the package list
# changes) and the logs. It needs root, systemd-nspawn (systemd-container),
# debootstrap and the Debian archive; it modifies nothing of the host.
# It exits 77 with the reason where the container
# cannot start (not root, no systemd-nspawn or debootstrap, no network for
# debootstrap, nspawn cannot boot here), 1 when a check fails, 0 when
# every check passed or skipped. Every wait is bounded; it takes a few
# minutes (debootstrap, about two, only the first time).
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=$PWD
BUILD=$SRC/build-container
ROOT=$BUILD/rootfs
SUITE=bookworm
# dbus-user-session: the user bus, so a per-user evd runs its hooks as
# units of the user manager.
INCLUDE=systemd,systemd-sysv,dbus,dbus-user-session,libpam-systemd,login,passwd,procps,ca-certificates,python3

say() { printf 'container: %s\n' "$*"; }
skip77() { printf 'container: SKIP (exit 77): %s\n' "$*"; exit 77; }
die() { printf 'container: FAIL: %s\n' "$*" >&2; exit 1; }
t0=$SECONDS
lap() { printf 'container: [%3ds] %s\n' $((SECONDS - t0)) "$*"; }

debs=()
while [ $# -gt 0 ]; do
	case $1 in
	--deb) debs+=("$(realpath "$2")"); shift 2 ;;
	*) echo "usage: $0 [--deb FILE]..." >&2; exit 2 ;;
	esac
done

# ---- can a container start here at all ----
[ "$(id -u)" -eq 0 ] || skip77 "needs root (debootstrap, systemd-nspawn)"
for tool in systemd-nspawn debootstrap nsenter setpriv timeout; do
	command -v "$tool" >/dev/null ||
		skip77 "$tool not found (apt-get install systemd-container debootstrap)"
done

# Removes a (partial) root: whatever debootstrap may have left mounted in
# it first (proc, sys, a bind of /dev), and never across a file system.
remove_tree() {
	local m
	[ -e "$1" ] || return 0
	for m in $(findmnt -rn -o TARGET | awk -v p="$1/" 'index($0, p) == 1' | sort -r); do
		umount -l "$m" || true
	done
	rm -rf --one-file-system "$1"
}

nspawn_pid=
cleanup() {
	local rc=$?
	set +e
	if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
		# SIGTERM to nspawn asks the container's systemd to power off;
		# SIGKILL after 20 s ends nspawn and with it the container's
		# PID namespace.
		kill -TERM "$nspawn_pid"
		for _ in $(seq 1 100); do
			kill -0 "$nspawn_pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -0 "$nspawn_pid" 2>/dev/null && kill -KILL "$nspawn_pid"
		wait "$nspawn_pid" 2>/dev/null
	fi
	remove_tree "$BUILD/rootfs.tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$BUILD"

# ---- the packages: evd and the libraries it runs on ----
if [ ${#debs[@]} -eq 0 ]; then
	lap "building the packages (.ci/build-deb, log: $BUILD/build-deb.log)"
	built=$(.ci/build-deb "$BUILD/deb" 2>"$BUILD/build-deb.log") || {
		tail -30 "$BUILD/build-deb.log"
		die "the packages did not build"
	}
	# The runtime ones: the checks compile nothing and import no Python.
	while read -r d; do
		case $(basename "$d") in evd_* | libevclient1_* | libevclient-event1_*) debs+=("$d") ;; esac
	done <<<"$built"
fi
for d in "${debs[@]}"; do
	[ -f "$d" ] || die "no package $d"
	# evd_V_A.deb alone: its libevclient1_V_A.deb beside it goes too.
	if [[ $(basename "$d") == evd_* ]]; then
		lib=$(dirname "$d")/libevclient1_${d##*/evd_}
		[[ " ${debs[*]} " == *" $lib "* ]] || [ ! -f "$lib" ] || debs+=("$lib")
	fi
done
rm -rf "$BUILD/debs" && mkdir -p "$BUILD/debs" && cp "${debs[@]}" "$BUILD/debs/"
lap "packages: $(cd "$BUILD/debs" && echo *.deb)"

# ---- the Debian root, once ----
# The same mirror as the host's apt (one-line or deb822 sources), or
# $EVD_CONTAINER_MIRROR.
mirror=${EVD_CONTAINER_MIRROR:-}
[ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
	sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\(https\{0,1\}:[^ ]*\) .*/\2/p' |
	grep -v security | head -n1 || true)
[ -n "$mirror" ] || mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
	sed -n 's/^URIs: *\(https\{0,1\}:[^ ]*\).*/\1/p' | grep -v security | head -n1 || true)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian
# .evd-complete records the package list: a root made with another list is
# made again.
if [ "$(cat "$ROOT/.evd-complete" 2>/dev/null)" != "$SUITE $INCLUDE" ]; then
	lap "debootstrap $SUITE from $mirror into $ROOT (log: $BUILD/debootstrap.log)"
	remove_tree "$ROOT"
	remove_tree "$BUILD/rootfs.tmp"
	if ! timeout 900 debootstrap --variant=minbase --include="$INCLUDE" \
		"$SUITE" "$BUILD/rootfs.tmp" "$mirror" >"$BUILD/debootstrap.log" 2>&1; then
		tail -15 "$BUILD/debootstrap.log"
		if ! curl -fsS --max-time 20 -o /dev/null "$mirror/dists/$SUITE/Release"; then
			skip77 "debootstrap failed and $mirror is unreachable (no network)"
		fi
		die "debootstrap failed (log: $BUILD/debootstrap.log)"
	fi
	echo "$SUITE $INCLUDE" >"$BUILD/rootfs.tmp/.evd-complete"
	mv "$BUILD/rootfs.tmp" "$ROOT"
	lap "debootstrap done"
else
	lap "reusing $ROOT (delete it to debootstrap again)"
fi

# The benchmark of the systemd path needs evbench, built by ./dev test
# (build-test/) or ./dev run (build/).
EVBENCH=${EVD_EVBENCH:-}
for b in "$SRC/build-test" "$SRC/build"; do
	[ -n "$EVBENCH" ] || [ ! -x "$b/tests/bench/evbench" ] || EVBENCH=$b/tests/bench/evbench
done
[ -x "$EVBENCH" ] || EVBENCH=

# ---- boot ----
machine=evdtest-$$
lap "booting the container ($machine, console: $BUILD/console.log)"
systemd-nspawn -D "$ROOT" -M "$machine" --volatile=overlay --register=no \
	--keep-unit --bind-ro="$BUILD/debs:/debs" \
	--bind-ro="$SRC/tests/container:/evd-test" \
	${EVBENCH:+--bind-ro="$(dirname "$EVBENCH"):/evd-bench"} \
	--console=pipe -b </dev/null >"$BUILD/console.log" 2>&1 &
nspawn_pid=$!
# PID 1 of the container, as seen from the host: nspawn's child, once it
# runs systemd.
pid1=
for _ in $(seq 1 150); do
	kill -0 "$nspawn_pid" 2>/dev/null || break
	for p in $(pgrep -P "$nspawn_pid" || true); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ] && pid1=$p
	done
	[ -n "$pid1" ] && break
	sleep 0.2
done
if [ -z "$pid1" ]; then
	tail -20 "$BUILD/console.log"
	skip77 "systemd-nspawn cannot boot a container here (no systemd as its PID 1 within 30 s)"
fi
inside() { nsenter -t "$pid1" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TERM=dumb "$@"; }
# Until its bus is up, systemctl fails at once ("Failed to connect to
# bus"); then --wait waits for the boot to finish.
boot_end=$((SECONDS + 120))
while :; do
	state=$(timeout 120 nsenter -t "$pid1" -a systemctl is-system-running --wait 2>&1 || true)
	case $state in running | degraded | stopping | offline | maintenance) break ;; esac
	[ "$SECONDS" -lt "$boot_end" ] && kill -0 "$nspawn_pid" 2>/dev/null || break
	sleep 0.5
done
case $state in
running) lap "booted: systemd is running" ;;
degraded)
	lap "booted: systemd is degraded; failed units:"
	inside systemctl --failed --no-legend --plain || true
	;;
*)
	tail -30 "$BUILD/console.log"
	kill -0 "$nspawn_pid" 2>/dev/null ||
		skip77 "systemd-nspawn cannot boot a container here (it exited; see $BUILD/console.log)"
	die "the container's systemd did not come up within 120 s (state: $state)"
	;;
esac

# ---- the checks, inside ----
rc=0
inside timeout 900 bash /evd-test/checks.sh || rc=$?
lap "checks done (exit $rc)"
# ---- the systemd path's speed, inside (figures only, never a failure) ----
# evbench from the host's build tree (its libraries are the package's).
if [ "$rc" -eq 0 ] && [ -x "$EVBENCH" ]; then
	# Hooks of an ordinary user (User=, the name check) and of root.
	inside useradd -M evbench 2>/dev/null || true
	for as in evbench root; do
		inside timeout 300 /evd-bench/evbench --only sdexec --runs 3 \
			--exec-n 200 --systemd-socket /run/evd/evd.sock --as "$as" |
			grep -E '^# evbench|transient units' ||
			say "evbench sdexec --as $as failed (figures only; not a test)"
	done
	lap "benchmark done"
fi
if [ "$rc" -ne 0 ]; then
	echo "--- journal of evd (last 40 lines)"
	inside journalctl -u evd.service -n 40 --no-pager || true
fi
exit "$rc"
