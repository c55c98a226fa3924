#!/usr/bin/env bash
# checks.sh: the checks of the real-systemd container test, run INSIDE the
# booted Debian 12 container as root (tests/container/run.sh enters it with
# nsenter and runs this from the read-only bind mount /evd-test). The evd
# package is in /debs.
#
# Prints one "PASS: ...", "FAIL: ..." or "SKIP: ..." line per check and a
# summary; exits 1 when any check failed, else 0. A check SKIPs only where
# this container cannot do what it needs (it says why: e.g. no cgroup
# memory controller for MemoryMax=); none passes without running. Hooks
# are checked end to end through the installed evd: under systemd they
# run as transient units (the systemd backend; evd logs "hooks systemd"),
# the per-user evd's through its user manager when the user bus is there
# (dbus-user-session), else through the spawner. Every wait is bounded.
set -uo pipefail
export LANG=C.UTF-8 SYSTEMD_PAGER= SYSTEMD_COLORS=0 DEBIAN_FRONTEND=noninteractive
PATH=/usr/sbin:/usr/bin:/sbin:/bin

npass=0 nfail=0 nskip=0
pass() { echo "PASS: $1"; npass=$((npass + 1)); }
fail() { echo "FAIL: $1${2:+ -- $2}"; nfail=$((nfail + 1)); }
skip() { echo "SKIP: $1 -- $2"; nskip=$((nskip + 1)); }
note() { echo "      $*"; }
summary() {
	echo "container checks: $npass passed, $nfail failed, $nskip skipped"
	[ "$nfail" -eq 0 ]
}
# A step whose failure makes every later check meaningless.
fatal() { fail "$1" "${2:-}"; summary; exit 1; }

# ---- acting as a user ----
U1=evdu1 U2=evdu2 GRP=evdextra
uid_of() { id -u "$1"; }
# as USER CMD...: the user's identity (uid, primary gid, its groups) and a
# clean environment, as a login would give; 60 s at most.
as() {
	local u=$1
	shift
	timeout 60 setpriv --reuid="$u" --regid="$u" --init-groups \
		env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="/home/$u" \
		USER="$u" LOGNAME="$u" LANG=C.UTF-8 "$@"
}
# as_rt USER CMD...: as above, with the user's runtime directory and
# session bus (systemctl --user, the per-user evd).
as_rt() {
	local u=$1 id
	shift
	id=$(uid_of "$u")
	as "$u" XDG_RUNTIME_DIR="/run/user/$id" \
		DBUS_SESSION_BUS_ADDRESS="unix:path=/run/user/$id/bus" "$@"
}
# json FIELD: a top-level field of the JSON object on stdin ("" for null).
json() {
	python3 -c 'import json, sys
v = json.load(sys.stdin).get(sys.argv[1])
print("" if v is None else v)' "$1"
}
# until_true SECONDS CMD...: retries CMD every 0.2 s; 1 when time runs out.
until_true() {
	local end=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.2
	done
}
main_pid() { systemctl show evd.service -p MainPID --value; }
nrestarts() { systemctl show evd.service -p NRestarts --value; }

# hook USER EVCTL-ARGS...: schedules a hook 100 ms from now as USER, waits
# for its run (30 s at most) and leaves `evctl wait --json`'s object in
# $run and the timer id in $tid. 1 when it could not be scheduled.
run= tid=
hook() {
	local u=$1
	shift
	run= tid=
	tid=$(as "$u" evctl later -q 100ms "$@") || {
		run="schedule failed: $tid"
		return 1
	}
	run=$(as "$u" evctl wait "$tid" --json --timeout 30s)
	return 0
}
field() { json "$1" <<<"$run"; }
# runs_with USER ID CODE: how many runs in timer ID's history exited CODE.
runs_with() {
	as "$1" evctl get "$2" --json 2>/dev/null | python3 -c 'import json, sys
print(sum(1 for r in json.load(sys.stdin).get("history", []) if r.get("exit_code") == int(sys.argv[1])))' "$3" 2>/dev/null || echo 0
}
runs_are() { [ "$(runs_with "$1" "$2" "$3")" = "$4" ]; }

# ---- the package and the units, as installed from the .deb ----
if ! out=$(timeout 300 bash -c 'apt-get update -q && apt-get install -y -q /debs/*.deb' 2>&1); then
	echo "$out" | tail -20
	fatal "apt-get install /debs/*.deb"
fi
pass "the .deb installs with its dependencies from the archive"

# /lib is /usr/lib (merged /usr): compare the files, not the names.
if [ "$(realpath -m "$(systemctl show evd.service -p FragmentPath --value)")" = \
	"$(realpath /usr/lib/systemd/system/evd.service)" ] &&
	grep -qx 'ExecStart=/usr/sbin/evd' /usr/lib/systemd/system/evd.service; then
	pass "systemd loads the packaged evd.service (ExecStart=/usr/sbin/evd)"
else
	fail "packaged evd.service" "$(systemctl status evd.service 2>&1 | head -5)"
fi
units=(/usr/lib/systemd/system/evd.socket /usr/lib/systemd/system/evd.service)
for u in /usr/lib/systemd/system/evd-hooks.slice; do
	[ -e "$u" ] && units+=("$u")
done
if out=$(systemd-analyze verify --man=no "${units[@]}" 2>&1) && [ -z "$out" ]; then
	pass "systemd-analyze verify: ${units[*]##*/}"
else
	fail "systemd-analyze verify" "$out"
fi
note "$(systemd-analyze security evd.service 2>/dev/null | tail -1)"

# ---- socket activation ----
# uids and gids far from the host's: nspawn shares them with the host, so
# a host process of uid 1001 doing kill(-1, SIGKILL) (test_spawner on a
# shared machine) would reach the container's uid 1001 too.
useradd -m -s /bin/bash -u 52001 "$U1" && useradd -m -s /bin/bash -u 52002 "$U2" &&
	groupadd -g 52010 "$GRP" && usermod -aG "$GRP" "$U1" ||
	fatal "create the users $U1 and $U2"
timeout 60 systemctl enable --now evd.socket >/dev/null 2>&1 ||
	fatal "systemctl enable --now evd.socket" "$(systemctl status evd.socket 2>&1 | head)"
if [ "$(systemctl is-active evd.service)" != active ] &&
	[ -S /run/evd/evd.sock ] && as "$U1" evctl time >/dev/null &&
	until_true 10 systemctl is-active --quiet evd.service; then
	pass "socket activation: evd.service starts on the first connection"
else
	fail "socket activation" "$(systemctl status evd.socket evd.service 2>&1 | head -20)"
fi
if [ "$(systemctl show evd.service -p Type --value)" = notify ] &&
	[ "$(systemctl show evd.service -p ActiveState --value)" = active ]; then
	pass "Type=notify: evd reported ready (status: $(systemctl show evd.service -p StatusText --value))"
else
	fail "Type=notify readiness" "$(systemctl show evd.service -p Type -p ActiveState -p SubState)"
fi
if [ "$(stat -c %a:%U /var/lib/evd 2>/dev/null)" = 700:root ] &&
	[ -n "$(ls -A /var/lib/evd 2>/dev/null)" ]; then
	pass "state directory /var/lib/evd (0700) holds the store"
else
	fail "state directory" "$(ls -la /var/lib/evd 2>&1)"
fi
if journalctl -u evd.service -o cat --no-pager 2>/dev/null | grep -q .; then
	pass "evd logs to the journal (journalctl -u evd)"
else
	fail "journald logging" "journalctl -u evd.service is empty"
fi
# The start line names the hook backend (main.c): under the system
# manager, hooks = auto must have taken systemd units.
started=$(journalctl -u evd.service -o cat --no-pager 2>/dev/null | grep 'listening on' | tail -n1)
if grep -q 'hooks systemd' <<<"$started"; then
	pass "evd chose the systemd hook backend and says so ($started)"
else
	fail "hook backend under systemd" "start line: [$started] $(journalctl -u evd.service -o cat --no-pager | grep -i hooks | tail -3)"
fi

# ---- two users, each sees its own timers ----
t1=$(as "$U1" evctl later -q 1h --channel c1 --payload one 2>&1)
t2=$(as "$U2" evctl later -q 1h --channel c2 --payload two 2>&1)
l1=$(as "$U1" evctl list 2>&1)
l2=$(as "$U2" evctl list 2>&1)
if [[ "$t1" =~ ^[0-9]+$ && "$t2" =~ ^[0-9]+$ ]] &&
	grep -qw "$t1" <<<"$l1" && ! grep -qw "$t2" <<<"$l1" &&
	grep -qw "$t2" <<<"$l2" && ! grep -qw "$t1" <<<"$l2" &&
	! as "$U2" evctl get "$t1" >/dev/null 2>&1; then
	pass "$U1 and $U2 schedule timers; each lists and gets only its own"
else
	fail "per-user timers" "t1=$t1 t2=$t2 list1=[$l1] list2=[$l2]"
fi
out=$(as "$U1" bash -c 'evctl later 200ms --channel soon --payload hi >/dev/null &&
	evctl watch soon --count 1 --timeout 10s' 2>&1)
if grep -q 'payload=hi$' <<<"$out"; then
	pass "a timer of $U1 fires and its channel delivers the payload"
else
	fail "fire and watch" "$out"
fi

# ---- reload (SIGHUP) ----
pid=$(main_pid)
if timeout 30 systemctl reload evd.service &&
	[ "$(main_pid)" = "$pid" ] && [ "$(systemctl is-active evd.service)" = active ] &&
	as "$U1" evctl list 2>/dev/null | grep -qw "$t1"; then
	pass "systemctl reload evd: same process, still serving"
else
	fail "reload" "$(systemctl status evd.service 2>&1 | head -15)"
fi

# ---- the watchdog ----
wd=$(systemctl show evd.service -p WatchdogUSec --value)
if [ "$wd" = 30s ]; then
	pass "WatchdogSec of the shipped unit is in force (WatchdogUSec=$wd)"
else
	fail "WatchdogUSec" "got '$wd', expected 30s"
fi
# A short watchdog (runtime drop-in) so the test need not wait 30 s: evd
# must keep pinging past several periods, and a stopped evd is restarted.
mkdir -p /run/systemd/system/evd.service.d
printf '[Service]\nWatchdogSec=2s\n' >/run/systemd/system/evd.service.d/50-test-watchdog.conf
systemctl daemon-reload && timeout 60 systemctl restart evd.service
pid=$(main_pid) n0=$(nrestarts)
sleep 5
if [ "$(main_pid)" = "$pid" ] && [ "$(nrestarts)" = "$n0" ] &&
	[ "$(systemctl is-active evd.service)" = active ]; then
	pass "evd keeps the watchdog fed (WatchdogSec=2s, alive after 5 s)"
else
	fail "watchdog keep-alive" "$(journalctl -u evd.service -n 20 --no-pager 2>&1)"
fi
kill -STOP "$pid"
if until_true 30 bash -c "[ \"\$(systemctl show evd.service -p MainPID --value)\" != $pid ] &&
		[ \"\$(systemctl is-active evd.service)\" = active ]" &&
	[ "$(nrestarts)" -gt "$n0" ] &&
	journalctl -u evd.service --no-pager 2>/dev/null | grep -qi watchdog &&
	as "$U1" evctl list 2>/dev/null | grep -qw "$t1"; then
	pass "a stopped evd is killed by the watchdog and restarted; its timers survive"
else
	kill -CONT "$pid" 2>/dev/null
	fail "watchdog restart" "$(journalctl -u evd.service -n 20 --no-pager 2>&1)"
fi
rm -f /run/systemd/system/evd.service.d/50-test-watchdog.conf
systemctl daemon-reload && timeout 60 systemctl restart evd.service

# ---- a user instance, with lingering ----
uid2=$(uid_of "$U2")
state=
# The manager, then (dbus-user-session) its bus: as_rt points
# DBUS_SESSION_BUS_ADDRESS at it.
if loginctl enable-linger "$U2" &&
	until_true 60 systemctl is-active --quiet "user@$uid2.service" &&
	until_true 30 test -S "/run/user/$uid2/systemd/private" &&
	{ [ ! -e /usr/lib/systemd/user/dbus.socket ] || until_true 30 test -S "/run/user/$uid2/bus"; }; then
	state=$(as_rt "$U2" timeout 60 systemctl --user is-system-running --wait 2>&1)
fi
if [ "$state" != running ] && [ "$state" != degraded ]; then
	fail "user manager of $U2 (loginctl enable-linger)" "state=$state $(systemctl status "user@$uid2.service" 2>&1 | head -3) $(journalctl -u "user@$uid2.service" -n 15 --no-pager 2>&1)
--- the journal, last 40 lines:
$(journalctl -n 40 --no-pager 2>&1)"
elif ! as_rt "$U2" systemctl --user enable --now evd.socket >/dev/null 2>&1; then
	fail "systemctl --user enable --now evd.socket" "$(as_rt "$U2" systemctl --user status evd.socket 2>&1 | head)"
else
	tu=$(as_rt "$U2" evctl later -q 1h --channel u --payload user 2>&1)
	if [[ "$tu" =~ ^[0-9]+$ ]] && [ -S "/run/user/$uid2/evd.sock" ] &&
		[ "$(as_rt "$U2" systemctl --user is-active evd.service)" = active ] &&
		[ -n "$(as_rt "$U2" evctl list | awk -v id="$tu" '$1 == id && / channel u$/')" ] &&
		[ -z "$(as "$U2" evctl list | awk '/ channel u$/')" ]; then
		pass "a per-user evd (systemctl --user, lingering) serves $U2 on /run/user/$uid2/evd.sock"
	else
		fail "per-user evd" "tu=$tu $(as_rt "$U2" systemctl --user status evd.service 2>&1 | head)"
	fi
	# What the README's user-instance section tells the user to run: the
	# linger flag as loginctl shows it, and evd's log as the user reads it.
	# The user's own journal file needs a persistent journal.
	if [ "$(loginctl show-user "$U2" -p Linger --value 2>&1)" = yes ]; then
		pass "loginctl show-user $U2 -p Linger says yes"
	else
		fail "loginctl show-user $U2 -p Linger" "$(loginctl show-user "$U2" 2>&1 | head -5)"
	fi
	ujl=$(as_rt "$U2" journalctl --user -u evd.service -o cat --no-pager 2>&1)
	if grep -q 'listening on' <<<"$ujl"; then
		pass "journalctl --user -u evd shows $U2's evd"
	elif [ ! -d /var/log/journal ]; then
		skip "journalctl --user -u evd" "no persistent journal (/var/log/journal), so no per-user journal file to read"
	else
		fail "journalctl --user -u evd" "$(tail -5 <<<"$ujl")"
	fi
	# Its hooks: units of the user manager when the user bus is there
	# (dbus-user-session), else the spawner. Which one evd took is in
	# its start line; the hook runs either way, as the user.
	ustart=$(journalctl _SYSTEMD_USER_UNIT=evd.service _UID="$uid2" -o cat --no-pager 2>/dev/null |
		grep 'listening on' | tail -n1)
	ubackend=$(sed -n 's/.*hooks \([a-z]*\).*/\1/p' <<<"$ustart")
	ubus=no
	[ -S "/run/user/$uid2/bus" ] && ubus=yes
	tu=$(as_rt "$U2" evctl later -q 100ms --exec -- /bin/sh -c 'id -u; cat /proc/self/cgroup' 2>&1)
	urun=$(as_rt "$U2" evctl wait "$tu" --json --timeout 30s 2>&1)
	uout=$(json stdout <<<"$urun" 2>/dev/null)
	ucg=$(sed -n 's/^0:://p; s/^[0-9]*:name=systemd://p' <<<"$uout" | head -n1)
	if [ "$(head -n1 <<<"$uout")" != "$uid2" ] || [ "$(json exit_code <<<"$urun" 2>/dev/null)" != 0 ]; then
		fail "a hook of the per-user evd runs (backend: ${ubackend:-?})" "start: [$ustart] run: $urun"
	elif [ "$ubackend" = systemd ] && [ "$ubus" = yes ] &&
		[[ "$ucg" == */user@"$uid2".service/*evd-hook-*.service ]]; then
		pass "the per-user evd runs hooks as user-manager transient units ($ucg)"
	elif [ "$ubackend" = spawner ] && [ "$ubus" = no ] &&
		[[ "$ucg" == */user@"$uid2".service/*evd.service* ]]; then
		pass "the per-user evd runs hooks through the spawner (no user bus here; $ucg)"
	else
		fail "the per-user evd's hook backend" "logged: ${ubackend:-nothing}; user bus: $ubus; hook cgroup: $ucg"
	fi
fi

# ---- exec hooks, as transient units of PID 1 ----
# A hook's own cgroup names its unit: evd-hook-<timer>-<fire>-<job>.service
# in its owner's slice, evd-hooks.slice/evd-hooks-u<UID>.slice.
hookcg() { field stdout 2>/dev/null | sed -n 's/^0:://p; s/^[0-9]*:name=systemd://p' | head -n1; }
hook "$U1" --exec -- /bin/cat /proc/self/cgroup
cg=$(hookcg)
hookunit=${cg##*/}
if [[ "$cg" == */evd-hooks.slice/evd-hooks-u"$(id -u "$U1")".slice/evd-hook-"$tid"-*.service ]] &&
	[ "$(field exit_code 2>/dev/null)" = 0 ]; then
	pass "a hook runs as a transient unit $hookunit in evd-hooks-u$(id -u "$U1").slice"
else
	fail "a hook runs as a transient unit in evd-hooks-u$(id -u "$U1").slice" "cgroup: $cg run: $run"
fi
units_of() { systemctl list-units --all --no-legend "evd-hook-$1-*"; }
units_gone() { [ -z "$(units_of "$1")" ]; }
if until_true 10 units_gone "$tid"; then
	pass "the hook's unit is collected after its run"
else
	fail "hook unit collected" "$(units_of "$tid")"
fi

hook "$U1" --exec -- /bin/sh -c 'id -u; id -g; id -G'
want=$(printf '%s\n%s\n%s' "$(id -u "$U1")" "$(id -g "$U1")" "$(id -G "$U1")")
got=$(field stdout 2>/dev/null)
if [ "$(field outcome 2>/dev/null)" = exited ] &&
	[ "$(sort <<<"$got")" = "$(sort <<<"$want")" ]; then
	pass "a hook of $U1 runs with exactly its uid, gid and groups ($(tr '\n' ' ' <<<"$got"))"
else
	fail "hook identity" "want [$want] got [$got] run=$run"
fi
hook "$U2" --exec -- /usr/bin/id -u
if [ "$(field stdout 2>/dev/null)" = "$(id -u "$U2")" ]; then
	pass "a hook of $U2 runs as $U2"
else
	fail "hook identity of $U2" "$run"
fi
# Groups are the owner's when the hook starts, not when it was scheduled.
tg=$(as "$U2" evctl later -q 3s --exec -- /usr/bin/id -Gn 2>&1)
usermod -aG "$GRP" "$U2"
run=$(as "$U2" evctl wait "$tg" --json --timeout 30s 2>&1)
gpasswd -d "$U2" "$GRP" >/dev/null
if grep -qw "$GRP" <<<"$(field stdout 2>/dev/null)"; then
	pass "a hook gets its owner's groups as they are when it starts"
else
	fail "groups at start" "timer [$tg] run [$run]"
fi
# systemd expands $VAR in ExecStart=; evd's hook argv must not be.
hook "$U1" --exec -- /bin/echo '$HOME ${USER}' '%h'
if [ "$(field stdout 2>/dev/null)" = '$HOME ${USER} %h' ]; then
	pass "a hook's argv reaches it unexpanded (\$VAR, %h)"
else
	fail "argv unexpanded" "$run"
fi

# (one line: evd refuses a newline in argv)
hook "$U1" --exec -- python3 -c 'import os, socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); socket.create_connection(s.getsockname(), timeout=5).close(); open(os.path.expanduser("~/hook-wrote"), "w").write("x"); print("ok")'
if [ "$(field stdout 2>/dev/null)" = ok ] && [ -f "/home/$U1/hook-wrote" ] &&
	[ "$(stat -c %U "/home/$U1/hook-wrote")" = "$U1" ]; then
	pass "a hook opens a loopback TCP connection and writes its \$HOME"
else
	fail "hook network and home" "$run"
fi

marker=987.$RANDOM
# The grandchild leaves the hook's session and process group: only a
# kill of the whole unit (cgroup) reaches it.
hook "$U1" --exec-timeout 2s --exec -- /bin/sh -c \
	"setsid -f sleep $marker </dev/null >/dev/null 2>&1; exec sleep 600"
# (^sleep: not this shell's own pgrep, whose command line names it too)
if [ "$(field outcome 2>/dev/null)" = timed-out ] &&
	until_true 10 bash -c "! pgrep -f '^sleep $marker'"; then
	pass "a timeout kills the hook's grandchild too"
else
	fail "timeout kills the grandchild" "outcome=$(field outcome 2>/dev/null); left: $(pgrep -af "^sleep $marker")"
fi
pkill -KILL -f "^sleep $marker" 2>/dev/null

marker=hook-out-$RANDOM
hook "$U1" --exec -- /bin/sh -c "echo $marker; cat /proc/self/cgroup"
unit=$(hookcg)
unit=${unit##*/}
if until_true 10 bash -c "journalctl EVD_TIMER_ID=$tid -o cat --no-pager | grep -qx $marker"; then
	pass "hook output is in journalctl EVD_TIMER_ID=$tid"
else
	fail "hook output in the journal" "journalctl EVD_TIMER_ID=$tid: $(journalctl EVD_TIMER_ID="$tid" -o cat --no-pager 2>&1 | head -5)"
fi
if [[ "$unit" == evd-hook-*.service ]] &&
	until_true 10 bash -c "journalctl -u $unit -o cat --no-pager | grep -qx $marker"; then
	pass "hook output is in journalctl -u $unit"
else
	fail "hook output in journalctl -u <unit>" "unit=$unit: $(journalctl -u "$unit" -o cat --no-pager 2>&1 | head -5)"
fi
hook "$U1" --exec -- /bin/sh -c "echo out-$marker; echo err-$marker >&2"
if until_true 10 bash -c "journalctl EVD_TIMER_ID=$tid -p warning -o cat --no-pager | grep -qx err-$marker" &&
	! journalctl EVD_TIMER_ID="$tid" -p warning -o cat --no-pager | grep -qx "out-$marker"; then
	pass "a hook's stderr is journaled at warning, its stdout at info"
else
	fail "stderr at warning" "$(journalctl EVD_TIMER_ID="$tid" -o verbose --no-pager 2>&1 | grep -e PRIORITY -e MESSAGE)"
fi

out=$(as "$U1" evctl later 1h -p User=root --exec -- /bin/true 2>&1)
if [ $? -ne 0 ] && grep -q User <<<"$out"; then
	pass "-p User=root is refused, naming the key ($out)"
else
	fail "-p User=root" "$out"
fi
# Allowed properties reach the hook's unit.
hook "$U1" -p Nice=7 -p TasksMax=33 -p PrivateTmp=yes -p ProtectSystem=strict --exec -- \
	/bin/sh -c 'nice; u=$(sed -n "s|^0::/||p;s|^1:name=systemd:/||p" /proc/self/cgroup | head -n1); systemctl show -p TasksMax -p PrivateTmp -p ProtectSystem "${u##*/}"'
got=$(field stdout 2>/dev/null | tr '\n' ' ' | sed 's/ *$//')
if [ "$got" = "7 TasksMax=33 PrivateTmp=yes ProtectSystem=strict" ]; then
	pass "-p Nice= TasksMax= PrivateTmp= ProtectSystem= reach the hook's unit ($got)"
else
	fail "properties reach the unit" "got [$got] run=$run"
fi
# Can this container enforce MemoryMax= at all? Not on a host with
# the hybrid cgroup hierarchy: the memory controller stays on the
# host's v1 tree and nspawn gives the container none of it.
hog='b = bytearray(400 << 20); print("survived")'
if [ "$(timeout 60 systemd-run --quiet --wait --pipe -p MemoryMax=50M \
	python3 -c "$hog" 2>/dev/null)" = survived ]; then
	skip "--property MemoryMax= kills a memory hog" "this container cannot enforce MemoryMax= (systemd-run -p MemoryMax=50M does not stop a 400 MB hog: no cgroup memory controller here)"
else
	hook "$U1" -p MemoryMax=50M --exec -- python3 -c "$hog"
	# The kernel's OOM kill is SIGKILL; evd logs that the unit's
	# result was oom-kill.
	if [ "$(field outcome 2>/dev/null)" = signaled ] && [ "$(field signal 2>/dev/null)" = 9 ] &&
		journalctl -u evd.service -o cat --no-pager | grep -q "evd-hook-$tid-.*OOM"; then
		pass "-p MemoryMax=50M kills a memory hog and the run says so ($(field outcome) $(field detail))"
	else
		fail "MemoryMax" "$run"
	fi
fi

# ---- failures: metrics, warning, --retry, --on-failure ----
# The metrics endpoint under the documented drop-in (evd(8), METRICS).
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cp /etc/evd/evd.conf /run/evd.conf.orig
printf '\nmetrics = 127.0.0.1:%s\n' "$port" >>/etc/evd/evd.conf
printf '[Service]\nPrivateNetwork=no\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\nIPAddressAllow=localhost\n' \
	>/run/systemd/system/evd.service.d/50-test-metrics.conf
systemctl daemon-reload && timeout 60 systemctl restart evd.service
metrics() {
	python3 -c 'import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode())' "$port"
}
if until_true 10 metrics && metrics | grep -q '^evd_exec_total{'; then
	pass "the metrics endpoint answers under the documented drop-in (127.0.0.1:$port)"
	have_metrics=1
else
	fail "metrics endpoint" "$(journalctl -u evd.service -n 10 --no-pager 2>&1)"
	have_metrics=0
fi

before=$( [ "$have_metrics" = 1 ] && metrics | grep '^evd_exec_total{' )
since=$(date '+%Y-%m-%d %H:%M:%S')
hook "$U1" --exec -- /bin/sh -c 'echo failing; exit 3'
sleep 1
after=$( [ "$have_metrics" = 1 ] && metrics | grep '^evd_exec_total{' )
# The counter that moved: one outcome label, and not a success one.
moved=$(diff <(echo "$before") <(echo "$after") | sed -n 's/^> evd_exec_total{outcome="\([^"]*\)"}.*/\1/p')
warn=$(journalctl -u evd.service -p warning --since "$since" -o cat --no-pager 2>/dev/null)
if [ "$(field exit_code 2>/dev/null)" = 3 ] && [ "$moved" = failure ] &&
	grep -q "timer $tid\b.*status 3" <<<"$warn"; then
	pass "a failing hook counts as outcome=\"failure\" in metrics and logs at warning"
else
	fail "failing hook: metrics and warning" "moved=[$moved] warning=[$warn] run=$run"
fi
# evd's own record of it carries fields journald indexes.
rec=$(journalctl _SYSTEMD_UNIT=evd.service EVD_TIMER_ID="$tid" EVD_UID="$(id -u "$U1")" \
	-p warning -o cat --no-pager 2>/dev/null)
if grep -q "timer $tid\b.*status 3" <<<"$rec"; then
	pass "journalctl EVD_TIMER_ID=$tid EVD_UID=... finds evd's warning about the hook"
else
	fail "structured journal fields" "[$rec]; $(journalctl -u evd.service -n 5 -o verbose --no-pager 2>&1 | grep EVD_ | head -5)"
fi
ftid=$tid
# A program that cannot be run: the start fails, and says so. (One that
# is not there at all is refused by evctl when scheduling; this one is
# there, but its interpreter is not.)
printf '#!/nonexistent/evd-no-such-interpreter\n' >/usr/local/bin/evd-bad-interp
chmod 0755 /usr/local/bin/evd-bad-interp
before=$(metrics | grep '^evd_exec_total{outcome="failed_start"}')
hook "$U1" --exec -- /usr/local/bin/evd-bad-interp
after=$(metrics | grep '^evd_exec_total{outcome="failed_start"}')
if [ "$(field outcome 2>/dev/null)" = failed ] && [ "$before" != "$after" ]; then
	pass "a hook that cannot start is 'failed' ($(field detail)) and counts as failed_start"
else
	fail "failed start" "metrics [$before] -> [$after] run=$run"
fi
# Hooks that fail at once: each ran and exited 1, none is a failed start
# (under Type=exec a main process that exits before systemd saw its exec
# fails the start job, yet it ran).
ids=()
for _ in $(seq 1 30); do
	ids+=("$(as "$U1" evctl later -q 200ms --exec -- /bin/false 2>&1)")
done
bad=
for i in "${ids[@]}"; do
	r=$(as "$U1" evctl wait "$i" --json --timeout 30s 2>/dev/null)
	o=$(json outcome <<<"$r" 2>/dev/null):$(json exit_code <<<"$r" 2>/dev/null)
	[ "$o" = exited:1 ] || bad+=" $i=$o($(json detail <<<"$r" 2>/dev/null))"
done
if [ -z "$bad" ]; then
	pass "30 hooks that exit 1 at once are each reported as exited 1"
else
	fail "hooks that exit at once" "$bad"
fi
# The retry verb: the finished, failed one-shot runs once more.
out=$(as "$U1" evctl retry "$ftid" 2>&1)
if until_true 20 runs_are "$U1" "$ftid" 3 2; then
	pass "evctl retry $ftid runs the failed hook once more"
else
	fail "evctl retry" "retry said [$out]; $(as "$U1" evctl get "$ftid" 2>&1 | tail -5)"
fi

tid=$(as "$U1" evctl later -q 100ms --retry 2 --retry-delay 1s --exec -- /bin/sh -c 'exit 5' 2>&1)
until_true 30 runs_are "$U1" "$tid" 5 3
runs=$(runs_with "$U1" "$tid" 5)
# and no fourth
sleep 2
[ "$(runs_with "$U1" "$tid" 5)" = 3 ] || runs="$runs, then $(runs_with "$U1" "$tid" 5)"
if [ "$runs" = 3 ]; then
	pass "--retry 2 runs a failing hook three times in all"
else
	fail "--retry" "$runs runs with exit 5 in: $(as "$U1" evctl get "$tid" 2>&1)"
fi
ch=alerts-$RANDOM
as "$U1" evctl watch "$ch" --json --count 1 --timeout 30s >/run/evd-onfail.out 2>&1 &
w=$!
sleep 1
tid=$(as "$U1" evctl later -q 100ms --on-failure "$ch" --exec -- /bin/sh -c 'echo oops; exit 4' 2>&1)
wait "$w"
out=$(cat /run/evd-onfail.out)
# The message: JSON with timer_id, outcome, exit_code, the output tail.
msg=$(python3 -c 'import json, sys
m = json.loads(json.loads(sys.stdin.readline())["payload"])
print(m["timer_id"], m["outcome"], m.get("exit_code"), m["stdout_tail"].strip())' <<<"$out" 2>&1)
if [ "$msg" = "$tid failure 4 oops" ]; then
	pass "--on-failure $ch delivers the failed run to a watcher (timer $tid, failure, exit 4, output tail)"
else
	fail "--on-failure" "tid=$tid got [$msg] watch: $out"
fi

# The bus goes away under evd (dbus restarted): evd reopens it, and the
# next hook runs as a transient unit again, without an evd restart.
pid_before=$(main_pid)
timeout 60 systemctl restart dbus.service >/dev/null 2>&1 || true
ok=
for _ in 1 2 3 4 5 6 7 8 9 10; do
	sleep 1
	hook "$U1" --exec -- /bin/cat /proc/self/cgroup
	case $(field stdout 2>/dev/null) in *evd-hook-*) ok=1; break ;; esac
done
if [ -n "$ok" ] && [ "$(main_pid)" = "$pid_before" ] &&
	journalctl -u evd.service --no-pager 2>/dev/null | grep -q "reconnected to the system bus"; then
	pass "after dbus restarts, evd reconnects and hooks run as units again (same pid)"
else
	fail "bus reconnect" "pid $pid_before -> $(main_pid); run=$run; $(journalctl -u evd.service -n 8 --no-pager 2>&1)"
fi

# Back to the shipped unit and configuration.
cp /run/evd.conf.orig /etc/evd/evd.conf
rm -f /run/systemd/system/evd.service.d/50-test-metrics.conf
systemctl daemon-reload && timeout 60 systemctl restart evd.service
if [ "$(systemctl is-active evd.service)" = active ] &&
	as "$U1" evctl list 2>/dev/null | grep -qw "$t1" &&
	[ -z "$(systemctl --failed --plain --no-legend 2>/dev/null | grep evd)" ]; then
	pass "evd restarts cleanly under the shipped unit; timers persist"
else
	fail "final restart" "$(systemctl status evd.service 2>&1 | head -15)"
fi

summary
