#!/bin/sh
# sdunit-checks.sh DRIVE: checks of the systemd exec backend against a
# real service manager. Runs INSIDE a container booted with systemd as
# PID 1 (see /work/shared/reference/systemd-in-ci.md), as root, with DRIVE
# the built tests/integ/sdunit_drive (the backend without the runner).
# Creates users evdu1 (in group evdextra) and evdu2 if missing.
#
# Prints PASS/FAIL/SKIP per check; exits 1 if any failed, 77 if systemd
# is not PID 1 here, else 0.
set -u
DRIVE=${1:?usage: sdunit-checks.sh /path/to/sdunit_drive}
fails=0
T=$(( $(date +%s) % 100000 * 100 )) # timer ids unique across reruns

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1"; shift; for l in "$@"; do echo "    $l"; done; fails=$((fails + 1)); }
skip() { echo "SKIP: $1"; }
tid() { T=$((T + 1)); t=$T; }
# drive TIMER ARGS...: runs one hook, output in $out
drive() { t=$1; shift; out=$(timeout 60 "$DRIVE" -T "$t" -F 1 "$@" 2>&1); }
has() { printf '%s\n' "$out" | grep -q -- "$1"; }

if [ "$(cat /proc/1/comm 2>/dev/null)" != systemd ] ||
   ! systemctl is-system-running --wait >/dev/null 2>&1; then
	case "$(systemctl is-system-running 2>/dev/null)" in
	running|degraded) ;;
	*) echo "SKIP: systemd is not PID 1 here"; exit 77 ;;
	esac
fi
getent group evdextra >/dev/null || groupadd evdextra
id evdu1 >/dev/null 2>&1 || useradd -m -G evdextra evdu1
id evdu2 >/dev/null 2>&1 || useradd -m evdu2
U1=$(id -u evdu1); U2=$(id -u evdu2)

# 1. identity: exactly the owner's uid, gid and groups, at fire time
tid; drive "$t" -u "$U1" -U evdu1 -- /usr/bin/id
want=$(id evdu1)
if has "stdout: $want" && has "exited job=1 signaled=0 code=0"; then
	pass "identity evdu1 ($want)"
else fail "identity evdu1" "want: $want" "$out"; fi
tid; drive "$t" -u "$U2" -U evdu2 -- /usr/bin/id
want=$(id evdu2)
if has "stdout: $want"; then pass "identity evdu2"; else fail "identity evdu2" "$out"; fi
# groups are resolved at start, not frozen: add evdu2 to evdextra now
usermod -aG evdextra evdu2
tid; drive "$t" -u "$U2" -U evdu2 -- /usr/bin/id -Gn
if has "stdout: .*evdextra"; then pass "groups resolved at start"; else fail "groups resolved at start" "$out"; fi
gpasswd -d evdu2 evdextra >/dev/null

# 2. a transient unit in the owner's slice, collected after the run
tid; drive "$t" -u "$U1" -U evdu1 -- /bin/cat /proc/self/cgroup
if has "evd-hooks-u$U1.slice/evd-hook-$t-1-1.service"; then
	pass "unit evd-hook-$t-1-1.service in evd-hooks-u$U1.slice"
else fail "unit and slice" "$out"; fi
sleep 1
if [ -z "$(systemctl list-units --all --no-legend "evd-hook-$t-*")" ]; then
	pass "unit garbage-collected"
else fail "unit garbage-collected" "$(systemctl list-units --all --no-legend "evd-hook-$t-*")"; fi

# 3. $HOME writable, cwd = home, environment
tid; drive "$t" -u "$U1" -U evdu1 -e FOO=bar -- /bin/sh -c \
	'echo w > "$HOME/evd-w" && cat "$HOME/evd-w"; pwd; echo "$FOO $USER $PATH"'
if has "stdout: w" && has "stdout: /home/evdu1" &&
   has "stdout: bar evdu1 /usr/local/bin:/usr/bin:/bin"; then
	pass "HOME writable, cwd, environment"
else fail "HOME writable, cwd, environment" "$out"; fi
# no $VAR expansion by systemd in argv
tid; drive "$t" -u "$U1" -- /bin/echo '$HOME ${FOO}'
if has 'stdout: \$HOME \${FOO}'; then pass "argv not expanded"; else fail "argv not expanded" "$out"; fi

# 4. loopback TCP (evd.service's IPAddressDeny= must not reach hooks)
PORT=$((20000 + $$ % 20000))
systemd-socket-activate -l "127.0.0.1:$PORT" --inetd -a /bin/echo tcp-ok \
	>/dev/null 2>&1 &
SA=$!
sleep 0.5
tid; drive "$t" -u "$U1" -- /bin/bash -c \
	"exec 3<>/dev/tcp/127.0.0.1/$PORT && cat <&3"
kill "$SA" 2>/dev/null
if has "stdout: tcp-ok"; then pass "loopback TCP"; else fail "loopback TCP" "$out"; fi

# 5. stdin payload, stdout and stderr, exit status
tid; drive "$t" -u "$U1" -i payload -- /bin/sh -c 'cat; echo; echo oops >&2; exit 3'
if has "stdout: payload" && has "stderr: oops" &&
   has "exited job=1 signaled=0 code=3 timed_out=0"; then
	pass "payload, output, exit code 3"
else fail "payload, output, exit code 3" "$out"; fi

# 6. journal: EVD_TIMER_ID= and -u both find the lines
jt=$t
sleep 1
j1=$(journalctl EVD_TIMER_ID="$jt" -o cat --no-pager 2>&1)
j2=$(journalctl -u "evd-hook-$jt-1-1.service" -o cat --no-pager 2>&1)
if printf '%s\n' "$j1" | grep -qx payload && printf '%s\n' "$j1" | grep -qx oops; then
	pass "journalctl EVD_TIMER_ID=$jt"
else fail "journalctl EVD_TIMER_ID=$jt" "$j1"; fi
if printf '%s\n' "$j2" | grep -qx payload; then
	pass "journalctl -u evd-hook-$jt-1-1.service"
else fail "journalctl -u evd-hook-$jt-1-1.service" "$j2"; fi
if journalctl EVD_TIMER_ID="$jt" -p warning -o cat --no-pager | grep -qx oops &&
   ! journalctl EVD_TIMER_ID="$jt" -p warning -o cat --no-pager | grep -qx payload; then
	pass "stderr at warning, stdout at info"
else fail "stderr at warning, stdout at info"; fi

# 7. failed starts: missing program, unknown uid, renamed/recycled user,
#    missing cwd
tid; drive "$t" -u "$U1" -- no-such-program-evd
if has "failed job=1 err=2 .*execve"; then pass "missing program: failed start"; else fail "missing program" "$out"; fi
tid; drive "$t" -u 64999 -- /bin/true
if has "failed job=1 .*217"; then pass "uid without passwd entry: failed start"; else fail "uid without passwd entry" "$out"; fi
tid; drive "$t" -u "$U1" -U evdu2 -- /bin/true
if has "failed job=1 .*user evdu2 no longer has uid $U1"; then
	pass "name no longer maps to the uid: not run"
else fail "name no longer maps to the uid" "$out"; fi
tid; drive "$t" -u "$U1" -d /nonexistent -- /bin/true
if has "failed job=1 .*chdir"; then pass "missing cwd: failed start"; else fail "missing cwd" "$out"; fi

# 8. kill (the runner's timeout): the whole cgroup, a TERM-ignoring
#    grandchild included
tid; drive "$t" -u "$U1" -k 500:15 -- /bin/sh -c \
	'sh -c "trap \"\" TERM; exec sleep 1000" & sleep 1000'
sleep 1
if has "exited job=1 signaled=1 code=15 timed_out=0" &&
   ! pgrep -u "$U1" -x sleep >/dev/null; then
	pass "kill reaches the grandchild"
else fail "kill reaches the grandchild" "$out" "$(pgrep -a -u "$U1" sleep)"; fi

# a kill before the unit started (start still queued or starting)
tid; drive "$t" -u "$U1" -K 15 -- /bin/sleep 1000
if has "started job=1" && has "exited job=1 signaled=1 code=15 timed_out=0"; then
	pass "kill before the start is applied once started"
else fail "kill before the start" "$out"; fi

# 9. RuntimeMaxSec= (the backend's own timeout)
tid; drive "$t" -u "$U1" -p RuntimeMaxSec=1 -- /bin/sleep 100
if has "exited job=1 signaled=1 code=15 timed_out=1"; then pass "RuntimeMaxSec=1 times out"; else fail "RuntimeMaxSec" "$out"; fi

# 10. properties reach the unit
tid; drive "$t" -u "$U1" -p Nice=7 -p TasksMax=33 -p PrivateTmp=yes \
	-p CPUQuota=50% -p MemoryMax=64M -p ProtectSystem=strict \
	-p ReadWritePaths=/tmp -- /bin/sh -c \
	'nice; u=$(sed -n "s|^0::/||p;s|^1:name=systemd:/||p" /proc/self/cgroup | head -n1); systemctl show -p TasksMax -p CPUQuotaPerSecUSec -p MemoryMax -p PrivateTmp -p ProtectSystem "${u##*/}"; touch /usr/x 2>&1 || echo ro-ok'
if has "stdout: 7" && has "TasksMax=33" && has "CPUQuotaPerSecUSec=500ms" &&
   has "MemoryMax=67108864" && has "PrivateTmp=yes" && has "ProtectSystem=strict" &&
   has "ro-ok"; then
	pass "properties applied"
else fail "properties applied" "$out"; fi

# 10b. the keys the backend once could not convert (every fire failed),
#      and Limit*= clamped to evd's own hard limit (here: the driver's)
tid; drive "$t" -u "$U1" -p LimitNOFILE=64 -p LimitCORE=0 -p MemoryHigh=1G \
	-p NoNewPrivileges=yes -p ReadOnlyPaths=/srv -- /bin/sh -c \
	'echo "n=$(ulimit -n) h=$(ulimit -Hn) c=$(ulimit -c)"; grep NoNewPrivs /proc/self/status; u=$(sed -n "s|^0::/||p;s|^1:name=systemd:/||p" /proc/self/cgroup | head -n1); systemctl show -p MemoryHigh -p ReadOnlyPaths "${u##*/}"'
if has "stdout: n=64 h=64 c=0" && has "NoNewPrivs:.*1" &&
   has "MemoryHigh=1073741824" && has "ReadOnlyPaths=/srv"; then
	pass "LimitNOFILE=, LimitCORE=, MemoryHigh=, NoNewPrivileges=, ReadOnlyPaths= applied"
else fail "LimitNOFILE=, LimitCORE=, MemoryHigh=, NoNewPrivileges=, ReadOnlyPaths= applied" "$out"; fi
hn=$(ulimit -Hn)
tid; drive "$t" -u "$U1" -p LimitNOFILE=infinity -- /bin/sh -c 'echo "h=$(ulimit -Hn)"'
if has "stdout: h=$hn\$"; then pass "LimitNOFILE=infinity is evd's own hard limit ($hn)"
else fail "LimitNOFILE=infinity clamped to $hn" "$out"; fi

# 11. MemoryMax= kills a memory hog (needs a memory controller systemd
#     can use here: cgroup v2 with memory, or v1 memory hierarchy)
systemd-run -q --unit="evd-memprobe-$T" -p MemoryMax=100M /bin/sleep 5 2>/dev/null
sleep 0.3
mc=$(systemctl show -p MemoryCurrent --value "evd-memprobe-$T" 2>/dev/null)
systemctl stop "evd-memprobe-$T" 2>/dev/null
case "$mc" in
''|*'not set'*|18446744073709551615)
	skip "MemoryMax= (no memory controller for this systemd: MemoryCurrent=$mc)" ;;
*)
	# 200 MB at most even where the limit is not applied
	tid; drive "$t" -u "$U1" -p MemoryMax=30M -- /bin/sh -c \
		'x=$(head -c 200000000 /dev/zero | tr "\0" a); echo survived'
	if has "exited job=1 signaled=1 code=9"; then
		pass "MemoryMax=30M kills the hog (SIGKILL)"
	else fail "MemoryMax=30M kills the hog" "$out"; fi ;;
esac

# 12. many at once (over dbus-daemon's 128 pending replies)
tid; out=$(timeout 120 "$DRIVE" -T "$t" -n 200 -u "$U1" -- /bin/true 2>&1)
if has "runs=200 ok=200"; then
	pass "200 hooks at once ($(printf '%s\n' "$out" | grep -o 'seconds=.*'))"
else fail "200 hooks at once" "$out"; fi

# 13. a user instance (lingering evdu1; the user bus needs dbus-user-session)
loginctl enable-linger evdu1
for i in 1 2 3 4 5 6 7 8 9 10; do
	[ -S "/run/user/$U1/bus" ] && break
	sleep 0.5
done
if [ ! -S "/run/user/$U1/bus" ]; then
	skip "user instance (no /run/user/$U1/bus: install dbus-user-session)"
else
	asu1() {
		(cd / && setpriv --reuid=evdu1 --regid=evdu1 --init-groups \
			env -i PATH=/usr/bin:/bin HOME=/home/evdu1 \
			XDG_RUNTIME_DIR="/run/user/$U1" "$@")
	}
	tid; out=$(asu1 timeout 60 "$DRIVE" -T "$t" -i pl -- /bin/sh -c \
		'id -u; cat; echo; exit 4' 2>&1)
	if has "stdout: $U1" && has "stdout: pl" &&
	   has "started job=1 pid=[1-9][0-9]* unit=evd-hook-$t-1-1.service" &&
	   has "exited job=1 signaled=0 code=4"; then
		pass "user instance: run, payload, exit code"
	else fail "user instance: run, payload, exit code" "$out"; fi
	sleep 1
	j=$(asu1 journalctl --user -u "evd-hook-$t-1-1.service" -o cat --no-pager 2>&1)
	if printf '%s\n' "$j" | grep -qx pl; then
		pass "user instance: journalctl --user -u"
	else fail "user instance: journalctl --user -u" "$j"; fi
	tid; out=$(asu1 timeout 60 "$DRIVE" -T "$t" -k 500:15 -- /bin/sleep 100 2>&1)
	if has "exited job=1 signaled=1 code=15 timed_out=0"; then
		pass "user instance: kill"
	else fail "user instance: kill" "$out"; fi
fi

echo "$fails check(s) failed"
[ "$fails" -eq 0 ]
