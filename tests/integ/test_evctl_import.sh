#!/usr/bin/env bash
# test_evctl_import: `evctl import` against the real evd. A sample
# crontab (CRON_TZ, TZ, MAILTO, SHELL, HOME, environment lines, '%'
# stdin, @reboot, a bad line) and a sample .timer/.service pair
# (two OnCalendar=, OnBootSec= with OnUnitActiveSec=, Persistent=,
# RandomizedDelaySec=, AccuracySec=, ExecStart= with quoting, '-' and
# variables, Environment=, WorkingDirectory=, Nice=): the --dry-run text
# exactly (the crontab keys' hashes, which hold the user name, are
# checked apart), the notes and skips on stderr with their lines, the
# import, a second import that schedules nothing (0 new), and
# `evctl list --json` showing the commands, expressions and zones.
# Also: a crontab from stdin and from `crontab -l`, refusals (User= of
# someone else, ExecStart=+, a system crontab), --json; control bytes
# and invalid UTF-8 from the file escaped in the dry run and the notes.
# usage: test_evctl_import.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
dir=$(mktemp -d /tmp/evd-import.XXXXXX)
chmod 755 "$dir"
sock=$dir/evd.sock
. "$(dirname "$0")/lib.sh"

if [ ! -e /usr/share/zoneinfo/Europe/Berlin ]; then
	echo "SKIP: no zone database (apt-get install tzdata)"
	exit 77
fi
export TZ=UTC
start_evd "$sock" --state-dir "$dir/state"
ctl() { "$EVCTL" --socket "$sock" "$@"; }
after='2027-01-04 00:00 UTC' # a Monday

cat >"$dir/crontab" <<'CRON'
# m h dom mon dow command
MAILTO=ops@example.com
GREETING = "hello world"

*/15 * * * Mon-Fri  /bin/echo "$GREETING" >/dev/null
@reboot /bin/echo booted
CRON_TZ=Europe/Berlin
30 2 * * *	/bin/echo backup
0 9 1 * * /bin/cat >/dev/null%Dear root,%the report.%
0 25 * * * /bin/echo bad hour
SHELL=/bin/bash
HOME=/tmp
@daily echo 100\% done
CRON
cat >"$dir/backup.timer" <<'UNIT'
[Unit]
Description=Nightly backup

[Timer]
OnCalendar=Mon..Fri *-*-* 02:30:00
OnCalendar=Sat 04:00 Europe/Paris
Persistent=true
RandomizedDelaySec=5min
AccuracySec=1s
OnBootSec=15min
OnUnitActiveSec=1h
WakeSystem=true

[Install]
WantedBy=timers.target
UNIT
cat >"$dir/backup.service" <<UNIT
[Unit]
Description=Backup

[Service]
Type=oneshot
Environment="DEST=/tmp" "OPTS=-a -v"
WorkingDirectory=$dir
ExecStart=-/bin/echo backing up \$OPTS "to \${DEST}/x" \\
    'quoted arg' \$\$HOME
Nice=10
RuntimeMaxSec=1h
Restart=no
UNIT

# ---- crontab, dry run ----
ctl import crontab "$dir/crontab" --dry-run --after "$after" \
	>"$dir/out" 2>"$dir/err"
check "crontab dry run: exit 1 (entries skipped)" test $? -eq 1
# The keys hash the user name too: the same for the same entry, apart.
keys=$(grep -o 'import:crontab:[0-9a-f]\{16\}' "$dir/out")
check "crontab dry run: four distinct keys" \
	test "$(sort -u <<<"$keys" | wc -l)" -eq 4
sed 's/import:crontab:[0-9a-f]\{16\}/import:crontab:HASH/' "$dir/out" \
	>"$dir/out.n"
cat >"$dir/want" <<WANT
evctl on '*/15 * * * Mon-Fri' --tz UTC --misfire skip --overlap allow --key import:crontab:HASH --env 'GREETING=hello world' --shell '/bin/echo "\$GREETING" >/dev/null'  # $dir/crontab:5, next: Mon 2027-01-04 00:15:00 UTC (in 15m)
evctl on '30 2 * * *' --tz Europe/Berlin --misfire skip --overlap allow --key import:crontab:HASH --env 'GREETING=hello world' --shell '/bin/echo backup'  # $dir/crontab:8, next: Mon 2027-01-04 02:30:00 CET (in 1h 30m)
evctl on '0 9 1 * *' --tz Europe/Berlin --misfire skip --overlap allow --key import:crontab:HASH --env 'GREETING=hello world' --payload 'Dear root,
the report.
' --shell '/bin/cat >/dev/null'  # $dir/crontab:9, next: Mon 2027-02-01 09:00:00 CET (in 28d 8h)
evctl on @daily --tz Europe/Berlin --misfire skip --overlap allow --key import:crontab:HASH --cwd /tmp --env 'GREETING=hello world' --env SHELL=/bin/bash --env HOME=/tmp --exec -- /bin/bash -c 'echo 100% done'  # $dir/crontab:13, next: Tue 2027-01-05 00:00:00 CET (in 23h)
# 4 timers to schedule, 2 entries skipped
WANT
check "crontab dry run: the command lines" cmp "$dir/want" "$dir/out.n"
cat >"$dir/want" <<WANT
evctl: $dir/crontab:2: MAILTO ignored: evd mails nothing; a run's output and exit status are in 'evctl runs ID' (or use --on-failure CHANNEL)
evctl: $dir/crontab:6: skipped: @reboot: evd has no boot event
evctl: $dir/crontab:10: skipped: time fields '0 25 * * *': hour 25 is out of range 0-23
WANT
check "crontab dry run: notes and skips with their lines" \
	cmp "$dir/want" "$dir/err"
check "crontab dry run: nothing scheduled" \
	test "$(ctl list --json | wc -l)" -eq 0

# ---- systemd timer, dry run ----
ctl import systemd-timer "$dir/backup.timer" --dry-run --after "$after" \
	>"$dir/out" 2>"$dir/err"
check "timer dry run: exit 0" test $? -eq 0
hook="--cwd $dir --env DEST=/tmp --env 'OPTS=-a -v' -p Nice=10 --exec-timeout 1h --exec -- /bin/echo backing up -a -v 'to /tmp/x' 'quoted arg' '\$HOME'"
cat >"$dir/want" <<WANT
evctl on 'Mon..Fri *-*-* 02:30:00' --tz UTC --randomized-delay 5m --accuracy 1s --key import:systemd:backup.timer:1 $hook  # $dir/backup.timer:5, next: Mon 2027-01-04 02:30:00 UTC (in 2h 30m)
evctl on 'Sat 04:00 Europe/Paris' --randomized-delay 5m --accuracy 1s --key import:systemd:backup.timer:2 $hook  # $dir/backup.timer:6, next: Sat 2027-01-09 04:00:00 CET (in 5d 3h)
evctl at 15m --clock monotonic --every 1h --randomized-delay 5m --accuracy 1s --key import:systemd:backup.timer:monotonic $hook  # $dir/backup.timer, first: 15m after boot
# 3 timers to schedule, 0 entries skipped
WANT
check "timer dry run: the command lines" cmp "$dir/want" "$dir/out"
cat >"$dir/want" <<WANT
evctl: $dir/backup.timer:12: WakeSystem= not mapped; ignored
evctl: $dir/backup.timer:15: [Install] not needed: an evd timer is active once scheduled
evctl: $dir/backup.service:12: Restart= not mapped; ignored
evctl: $dir/backup.service:8: ExecStart=-: evd still records a non-zero exit as a failed run
WANT
check "timer dry run: notes with their lines" cmp "$dir/want" "$dir/err"

# ---- import, then again ----
ctl import crontab "$dir/crontab" >"$dir/out" 2>/dev/null
check "crontab import: exit 1 (entries skipped)" test $? -eq 1
sed 's/  next: .*//' "$dir/out" >"$dir/out.n"
printf '%s\n' "1 new $dir/crontab:5" "2 new $dir/crontab:8" \
	"3 new $dir/crontab:9" "4 new $dir/crontab:13" \
	"4 timers: 4 new, 0 already there; 2 entries skipped" >"$dir/want"
check "crontab import: four new timers" cmp "$dir/want" "$dir/out.n"
check "crontab import: next fire in its zone" \
	grep -q '^2 new .*  next: ... 20..-..-.. 02:30:00 CET (in ' "$dir/out"
ctl import systemd-timer "$dir/backup.timer" >"$dir/out" 2>/dev/null
check "timer import: exit 0" test $? -eq 0
sed 's/  next: .*//' "$dir/out" >"$dir/out.n"
printf '%s\n' "5 new $dir/backup.timer:5" "6 new $dir/backup.timer:6" \
	"7 new $dir/backup.timer" \
	"3 timers: 3 new, 0 already there; 0 entries skipped" >"$dir/want"
check "timer import: three new timers" cmp "$dir/want" "$dir/out.n"

ctl import crontab "$dir/crontab" >"$dir/out" 2>/dev/null
check "crontab again: exit 1 (the same skips)" test $? -eq 1
check "crontab again: 0 new" test "$(tail -1 "$dir/out")" = \
	"4 timers: 0 new, 4 already there; 2 entries skipped"
check "crontab again: the same ids" \
	test "$(sed 's/ .*//' "$dir/out" | head -4 | tr '\n' ' ')" = "1 2 3 4 "
ctl import systemd-timer "$dir/backup.timer" --json >"$dir/out" 2>/dev/null
check "timer again: exit 0" test $? -eq 0
check "timer again (--json): 0 new" test "$(tail -1 "$dir/out")" = \
	'{"timers":3,"new":0,"existing":3,"skipped":0,"refused":0}'
check "timer again (--json): existing, by key" grep -q \
	'^{"source":"[^"]*/backup.timer","line":5,"command":"on .*","key":"import:systemd:backup.timer:1","user":null,"timer_id":5,"existing":true,"next":"' \
	"$dir/out"
check "seven timers in all" test "$(ctl list --json | wc -l)" -eq 7

# ---- what list --json shows ----
ctl list --json >"$dir/list"
row() { grep -F "\"key\":\"$1" "$dir/list"; }
has() { # name, key, fixed strings...
	local name=$1 key=$2 r
	shift 2
	r=$(row "$key")
	for s in "$@"; do
		if ! grep -qF -- "$s" <<<"$r"; then
			bad "$name" "no $s in: $r"
			return
		fi
	done
	ok "$name"
}
k=($keys)
has "list: a cron entry's expression, zone and shell command" "${k[0]}" \
	'"calendar":"*/15 * * * Mon-Fri","tz":"UTC"' \
	'"argv":["/bin/echo \"$GREETING\" >/dev/null"],"shell":true'
has "list: CRON_TZ" "${k[1]}" '"calendar":"30 2 * * *","tz":"Europe/Berlin"'
has "list: '%' became the payload" "${k[2]}" \
	'"payload":"Dear root,\nthe report.\n"'
has "list: SHELL= runs the command, HOME= is the cwd" "${k[3]}" \
	'"calendar":"@daily","tz":"Europe/Berlin"' \
	'"argv":["/bin/bash","-c","echo 100% done"],"shell":false,"cwd":"/tmp"'
has "list: OnCalendar= with its zone" "import:systemd:backup.timer:2" \
	'"calendar":"Sat 04:00 Europe/Paris"' \
	'"argv":["/bin/echo","backing","up","-a","-v","to /tmp/x","quoted arg","$HOME"]' \
	"\"cwd\":\"$dir\"" '"properties":["Nice=10"]'
has "list: OnBootSec= on the monotonic clock, every hour" \
	"import:systemd:backup.timer:monotonic" '"clock":"monotonic"' \
	'"every":"1h"'
out=$(ctl get 5 --json)
check "get: Persistent=true keeps evd's catch-up (misfire fire)" \
	grep -q '"misfire":"fire"' <<<"$out"
out=$(ctl get 1 --json)
check "get: cron's misfire skip" grep -q '"misfire":"skip"' <<<"$out"

# ---- stdin and crontab -l ----
printf 'CRON_TZ=America/New_York\n0 7 * * * /bin/true\n' >"$dir/c2"
ctl import crontab - --dry-run --after "$after" <"$dir/c2" >"$dir/out" 2>&1
check "stdin: exit 0" test $? -eq 0
check "stdin: named stdin" grep -q \
	"^evctl on '0 7 \* \* \*' --tz America/New_York .* --shell /bin/true  # stdin:2, next: Mon 2027-01-04 07:00:00 EST (in 12h)$" \
	"$dir/out"
mkdir "$dir/bin"
printf '#!/bin/sh\n[ "$1" = -l ] || exit 9\ncat "%s"\n' "$dir/c2" \
	>"$dir/bin/crontab"
chmod 755 "$dir/bin/crontab"
PATH=$dir/bin:$PATH ctl import crontab --dry-run --after "$after" \
	>"$dir/out" 2>&1
check "crontab -l: read" grep -q '  # crontab:2, next: Mon 2027-01-04 07:00:00 EST' \
	"$dir/out"
printf '#!/bin/sh\necho "no crontab for you" >&2\nexit 1\n' \
	>"$dir/bin/crontab"
PATH=$dir/bin:$PATH ctl import crontab >"$dir/out" 2>&1
check "crontab -l fails: exit 1" test $? -eq 1
check "crontab -l fails: said" grep -q \
	"^evctl: 'crontab -l' failed (exit status 1); nothing imported$" \
	"$dir/out"

# An unknown CRON_TZ skips the entries under it; a repeated entry is a
# second timer (cron runs it twice), with its own key.
printf 'CRON_TZ=Mars/Olympus\n0 1 * * * /bin/true\nCRON_TZ=UTC\n0 1 * * * /bin/true\n0 1 * * * /bin/true\n' \
	>"$dir/c3"
ctl import crontab "$dir/c3" --dry-run --after "$after" >"$dir/out" \
	2>"$dir/err"
check "bad CRON_TZ: exit 1" test $? -eq 1
check "bad CRON_TZ: said, and its entry skipped" test "$(cat "$dir/err")" = \
	"evctl: $dir/c3:1: CRON_TZ=Mars/Olympus is not a zone evd knows (see /usr/share/zoneinfo); the entries after it are skipped
evctl: $dir/c3:2: skipped: CRON_TZ=Mars/Olympus (line 1) is not a zone evd knows"
k1=$(sed -n 1p "$dir/out" | grep -o 'import:crontab:[0-9a-f]*')
check "a repeated entry: a second key" \
	grep -q -- "--key $k1:2 --shell /bin/true  # $dir/c3:5, " "$dir/out"
check "a repeated entry: two timers" \
	test "$(tail -1 "$dir/out")" = "# 2 timers to schedule, 1 entry skipped"

# ---- bytes from the file never reach the terminal raw ----
# ESC sequences (a colour, a title change ending in BEL, a screen clear)
# and an invalid UTF-8 byte, in a value, a command, its stdin and a bad
# line: the dry run writes such words $'...' (bash reads them back to
# the same bytes), and the notes escape them as \xNN.
printf 'T=a\033]0;pwned\007b\n0 9 * * * printf "\033[31mred\033[0m" \377%%in\033put\n0 9 * * Mon\033[2J echo bad\n' \
	>"$dir/c-esc"
ctl import crontab "$dir/c-esc" --dry-run --after "$after" >"$dir/out" \
	2>"$dir/err"
check "control bytes: exit 1 (a bad line)" test $? -eq 1
check "control bytes: none on stdout" \
	test "$(LC_ALL=C tr -d '\n -~' <"$dir/out" | wc -c)" -eq 0
check "control bytes: none on stderr" \
	test "$(LC_ALL=C tr -d '\n -~' <"$dir/err" | wc -c)" -eq 0
check "control bytes: the bad line's note escapes them" grep -qF -e \
	"evctl: $dir/c-esc:3: skipped: time fields '0 9 * * Mon\\x1b[2J': " \
	"$dir/err"
check "control bytes: the dry run writes \$'...'" grep -qF -e \
	"--env \$'T=a\\x1b]0;pwned\\x07b' --payload \$'in\\x1bput\\n' --shell \$'printf \"\\x1b[31mred\\x1b[0m\" \\xff'  # $dir/c-esc:2, " \
	"$dir/out"
# bash reads the printed words back to the file's bytes.
evctl() {
	while [ $# -gt 0 ]; do
		case $1 in --env | --payload | --shell) printf '%s\0' "$2" ;; esac
		shift
	done
}
eval "$(head -1 "$dir/out")" >"$dir/words"
unset -f evctl
printf 'T=a\033]0;pwned\007b\0in\033put\n\0printf "\033[31mred\033[0m" \377\0' \
	>"$dir/want"
check "control bytes: the words read back exactly" \
	cmp "$dir/want" "$dir/words"

# ---- refusals ----
ctl import crontab /etc/crontab --dry-run >"$dir/out" 2>&1
rc=$?
if [ -e /etc/crontab ]; then
	check "a system crontab: exit 2" test $rc -eq 2
	check "a system crontab: why" grep -q 'has a user column' "$dir/out"
fi
ctl import crontab "$dir/none" --dry-run >"$dir/out" 2>&1
check "a missing file: exit 2" test $? -eq 2
mkdir "$dir/u"
printf '[Timer]\nOnCalendar=daily\n' >"$dir/u/other.timer"
printf '[Service]\nUser=evd-import-nobody\nExecStart=/bin/true\n' \
	>"$dir/u/other.service"
printf '[Timer]\nOnCalendar=daily\nOnStartupSec=5min\n' >"$dir/u/root.timer"
printf '[Service]\nExecStart=+/bin/true\n' >"$dir/u/root.service"
printf '[Timer]\nOnCalendar=daily\nUnit=real.service\n' >"$dir/u/named.timer"
printf '[Service]\nExecStart=/bin/echo $NOPE\n' >"$dir/u/real.service"
ctl import systemd-timer "$dir/u/other.timer" "$dir/u/root.timer" \
	"$dir/u/named.timer" >"$dir/out" 2>"$dir/err"
check "refused units: exit 1" test $? -eq 1
check "refused units: nothing scheduled" test "$(cat "$dir/out")" = \
	"0 timers: 0 new, 0 already there; 3 entries skipped"
if [ "$(id -u)" -eq 0 ]; then
	w="skipped: User=evd-import-nobody: no such user"
else
	w="skipped: User=evd-import-nobody: only root may import for another user"
fi
cat >"$dir/want" <<WANT
evctl: $dir/u/other.service:2: $w
evctl: $dir/u/root.timer:3: OnStartupSec= not mapped (evd has no such reference point); ignored
evctl: $dir/u/root.service:2: skipped: ExecStart=+: evd runs hooks as their owner, never with more privilege
evctl: $dir/u/real.service:2: skipped: ExecStart=: \$NOPE: not set by Environment=
WANT
check "refused units: why, with their lines" cmp "$dir/want" "$dir/err"

# ${NAME} named several times in one word copies its value each time
# (the buffer was sized for each value once: a heap overflow); a word
# that would expand past 64 KiB is refused.
v=$(printf 'x%.0s' $(seq 1 300))
printf '[Timer]\nOnCalendar=daily\n' >"$dir/u/rep.timer"
printf '[Service]\nEnvironment=A=%s\nExecStart=/bin/echo ${A}-${A}-${A}-${A}\n' \
	"$v" >"$dir/u/rep.service"
ctl import systemd-timer "$dir/u/rep.timer" --dry-run --after "$after" \
	>"$dir/out" 2>"$dir/err"
check "\${A} four times in a word: exit 0" test $? -eq 0
check "\${A} four times in a word: each copy whole" \
	grep -qF -- "--exec -- /bin/echo $v-$v-$v-$v  #" "$dir/out"
big=$(printf 'y%.0s' $(seq 1 20000))
printf '[Service]\nEnvironment=B=%s\nExecStart=/bin/echo ${B}${B}${B}${B}\n' \
	"$big" >"$dir/u/rep.service"
ctl import systemd-timer "$dir/u/rep.timer" --dry-run --after "$after" \
	>"$dir/out" 2>"$dir/err"
check "a word expanding past 64 KiB: exit 1" test $? -eq 1
check "a word expanding past 64 KiB: says so" \
	grep -q "expands to more than 65536 bytes" "$dir/err"

# systemd specifiers: "%%" is a '%'; any other (%h, %n...) is not
# known here, so the unit is refused rather than run with a literal %h.
printf '[Service]\nExecStart=/bin/date +%%%%F\n' >"$dir/u/rep.service"
ctl import systemd-timer "$dir/u/rep.timer" --dry-run --after "$after" \
	>"$dir/out" 2>"$dir/err"
check "%% in ExecStart=: exit 0" test $? -eq 0
check "%% in ExecStart=: one %" grep -qF -- "--exec -- /bin/date +%F  #" "$dir/out"
printf '[Service]\nExecStart=/bin/echo %%h/bin/job\n' >"$dir/u/rep.service"
ctl import systemd-timer "$dir/u/rep.timer" --dry-run --after "$after" \
	>"$dir/out" 2>"$dir/err"
check "a specifier (%h): exit 1" test $? -eq 1
check "a specifier (%h): refused, saying why" grep -qF \
	"rep.service:2: skipped: %h: import does not expand systemd specifiers" "$dir/err"

# As root, another user's file (or one others may write) is refused:
# root's import would run its commands as root.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	printf '0 3 * * * /bin/true\n' >"$dir/theirs"
	chown nobody "$dir/theirs"
	ctl import crontab "$dir/theirs" --dry-run >"$dir/out" 2>"$dir/err"
	check "root, another user's crontab: usage (2)" test $? -eq 2
	check "root, another user's crontab: says why" grep -qF \
		"$dir/theirs: not root's own file" "$dir/err"
	chown root "$dir/theirs" && chmod 0666 "$dir/theirs"
	ctl import crontab "$dir/theirs" --dry-run >"$dir/out" 2>"$dir/err"
	check "root, a crontab others may write: usage (2)" test $? -eq 2
	chmod 0644 "$dir/theirs"
	ctl import crontab "$dir/theirs" --dry-run >"$dir/out" 2>"$dir/err"
	check "root, its own crontab: exit 0" test $? -eq 0
fi

# A confining setting evd cannot apply refuses the unit: ignored, a
# root import of DynamicUser=yes would run the command as root.
printf '[Service]\nDynamicUser=yes\nExecStart=/bin/true\n' >"$dir/u/rep.service"
ctl import systemd-timer "$dir/u/rep.timer" --dry-run --after "$after" \
	>"$dir/out" 2>"$dir/err"
check "DynamicUser=: exit 1" test $? -eq 1
check "DynamicUser=: refused, saying why" grep -qF \
	"rep.service:2: skipped: DynamicUser=: evd cannot confine the command so" "$dir/err"

# Root imports a unit with User= as that user, who owns its timers (a
# hook runs as its timer's owner).
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	printf '[Timer]\nOnCalendar=weekly\n' >"$dir/u/nb.timer"
	printf '[Service]\nUser=nobody\nExecStart=/bin/true\n' \
		>"$dir/u/nb.service"
	ctl import systemd-timer "$dir/u/nb.timer" --dry-run \
		--after "$after" >"$dir/out" 2>"$dir/err"
	check "User= as root, dry run: exit 0" test $? -eq 0
	printf '%s\n' "runuser -u nobody -- evctl on weekly --tz UTC --misfire skip --key import:systemd:nb.timer:1 --exec -- /bin/true  # $dir/u/nb.timer:2, next: Mon 2027-01-11 00:00:00 UTC (in 7d)" \
		"# 1 timer to schedule, 0 entries skipped" >"$dir/want"
	check "User= as root, dry run: runuser" cmp "$dir/want" "$dir/out"
	ctl import systemd-timer "$dir/u/nb.timer" >"$dir/out" 2>"$dir/err"
	check "User= as root: exit 0" test $? -eq 0
	check "User= as root: scheduled as nobody" \
		grep -q "^8 new $dir/u/nb.timer:2 (as nobody)  next: " "$dir/out"
	ctl import systemd-timer "$dir/u/nb.timer" >"$dir/out" 2>"$dir/err"
	check "User= as root, again: existing (nobody's key)" \
		grep -q "^8 existing $dir/u/nb.timer:2 (as nobody)  next: " \
		"$dir/out"
	out=$(ctl get 8 --json)
	check "User= as root: nobody owns it" grep -q \
		"\"owner_uid\":$(id -u nobody)," <<<"$out"
else
	echo "[  SKIPPED ] User= as root: not root, or no user nobody"
fi

stop_evds

show_failure() {
	echo "--- last output:"
	cat "$dir/out"
	echo "--- last stderr:"
	cat "$dir/err" 2>/dev/null
	echo "--- evd log:"
	tail -20 "$dir/evd.log"
}
summary
