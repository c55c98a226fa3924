#!/usr/bin/env bash
# test_evctl_list: the operator's view (issue 17, section 1) against the
# real evd, comparing evctl's full output with the expected text: what
# scheduling prints (next: ... (in ...)) and --quiet; list with NEXT,
# LEFT, LAST, RESULT, REPEAT, OWNER and WHAT, sorted by next fire, --all
# and --failed with ended timers, the 100-column fit and --wide, --json's
# keys; runs/logs (one run per fire, its output) and get's last output;
# next's weekday and time left; and list --all under --threads 2, where
# every loop answers.
#
# The text is deterministic: TZ=UTC, LC_ALL=C (the ellipsis is "..."),
# timers at fixed instants years ahead. What depends on now (LEFT, LAST,
# how long a hook took, its lateness) is replaced by a placeholder; the
# table's columns are compared as cells (two or more spaces apart), and
# their alignment checked on its own.
# usage: test_evctl_list.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
. "$(dirname "$0")/lib.sh"

# regex, text: a line of text matches the extended regex
has() { grep -qE -- "$1" <<<"$2"; }
# name, expected, actual: equal text, or both shown
same() {
	if [ "$2" == "$3" ]; then
		ok "$1"
	else
		bad "$1" "text differs"
		diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | sed 's/^/    /'
	fi
}

export TZ=UTC LC_ALL=C
unset LANG LC_CTYPE

sock=$dir/evd.sock
start_evd "$sock" --state-dir "$dir/state"
ctl() { "$EVCTL" --socket "$sock" "$@"; }

# The table as cells: "|" between columns, what depends on now replaced.
cells() { sed -E 's/  +/|/g'; }
left_of() { # the LEFT cell (3rd) of each row but the header -> LEFT
	awk -F'|' 'BEGIN { OFS = "|" } NR > 1 && $3 != "-" && $3 != "paused" {
		$3 = "LEFT" } { print }'
}
last_of() { # the LAST cell (4th) of each row but the header -> AGO
	awk -F'|' 'BEGIN { OFS = "|" } NR > 1 && $4 != "-" { $4 = "AGO" }
		{ print }'
}
norm() { cells | left_of | last_of; }
# OWNER shows for root (or when several owners appear).
me=$(id -un)
if [ "$(id -u)" -eq 0 ]; then O="|$me"; OH="|OWNER"; else O=; OH=; fi

# ---- the timers of the listing ----
a=$(ctl at -q '2031-02-03 04:05:06' --channel jobs --payload x)
ctl soon --payload mine >/dev/null
b=$(ctl on -q '2031-06-01 12:00:00' --tz Europe/Berlin --exec -- \
	/bin/echo --full 'a b')
c=$(ctl at -q '2030-01-01 00:00' --every 1h --count 3 --shell 'echo hourly')
d=$(ctl soon -q --shell 'echo out; echo err >&2; exit 3')
ctl wait "$d" >/dev/null 2>&1
e=$(ctl soon -q --exec -- /bin/echo fine)
ctl wait "$e" >/dev/null 2>&1
f=$(ctl at -q '2032-01-01' --channel gone)
ctl cancel "$f" >/dev/null
g=$(ctl at -q '2033-03-03 03:03' --channel later)
ctl pause "$g" >/dev/null
# The caller timer ("soon --payload mine") ended with its connection.
caller=$(ctl list --all --json | grep '"channel":null,' |
	grep '"exec":null' | sed -E 's/^\{"timer_id":([0-9]+).*/\1/')

out=$(ctl list --wide)
same "list: pending timers by next fire, as cells" \
"ID|NEXT|LEFT|LAST|RESULT|REPEAT$OH|WHAT
$c|Tue 2030-01-01 00:00:00 UTC|LEFT|-|-|every 1h x3$O|echo hourly
$a|Mon 2031-02-03 04:05:06 UTC|LEFT|-|-|-$O|channel jobs
$b|Sun 2031-06-01 10:00:00 UTC|LEFT|-|-|2031-06-01 12:00:00 Europe/Berlin$O|/bin/echo --full 'a b'
$g|Thu 2033-03-03 03:03:00 UTC|paused|-|-|-$O|channel later" \
	"$(norm <<<"$out")"
# Columns line up: every cell starts where its header does.
check "list: columns line up under their headers" awk '
	NR == 1 { for (i = 1; i <= length($0); i++)
			if (substr($0, i, 1) != " " &&
			    (i == 1 || substr($0, i - 1, 2) ~ /^  /)) s[++n] = i
		  next }
	{ for (k = 2; k <= n; k++)
		if (substr($0, s[k] - 2, 2) != "  " ||
		    substr($0, s[k], 1) == " ") exit 1 }' <<<"$out"
check "list: LEFT is human" has \
	"^$c +Tue 2030-01-01 00:00:00 UTC +[0-9]+d( [0-9]+[hms])? +- " "$out"

out=$(ctl list --all --wide)
same "list --all: then ended timers, the newest first" \
"ID|NEXT|LEFT|LAST|RESULT|REPEAT$OH|WHAT
$c|Tue 2030-01-01 00:00:00 UTC|LEFT|-|-|every 1h x3$O|echo hourly
$a|Mon 2031-02-03 04:05:06 UTC|LEFT|-|-|-$O|channel jobs
$b|Sun 2031-06-01 10:00:00 UTC|LEFT|-|-|2031-06-01 12:00:00 Europe/Berlin$O|/bin/echo --full 'a b'
$g|Thu 2033-03-03 03:03:00 UTC|paused|-|-|-$O|channel later
$f|-|-|-|cancelled|-$O|channel gone
$e|-|-|AGO|ok|-$O|/bin/echo fine
$d|-|-|AGO|exit 3|-$O|echo out; echo err >&2; exit 3
$caller|-|-|AGO|delivered|-$O|(caller)" \
	"$(norm <<<"$out")"
check "list --all: LAST is 'N ago'" has \
	"^$d +- +- +([0-9]+s ago|now) +exit 3 " "$out"

out=$(ctl list --failed)
same "list --failed: the timers whose last run failed" \
"ID|NEXT|LEFT|LAST|RESULT|REPEAT$OH|WHAT
$d|-|-|AGO|exit 3|-$O|echo out; echo err >&2; exit 3" \
	"$(norm <<<"$out")"

out=$(ctl list --channel jobs --all)
same "list --channel with --all" \
"ID|NEXT|LEFT|LAST|RESULT|REPEAT$OH|WHAT
$a|Mon 2031-02-03 04:05:06 UTC|LEFT|-|-|-$O|channel jobs" \
	"$(norm <<<"$out")"

# --json: one object per timer, in the same order, with get's keys and
# owner, result, last_run.
out=$(ctl list --all --json)
same "list --json: the same order" "$c $a $b $g $f $e $d $caller" \
	"$(sed -E 's/^\{"timer_id":([0-9]+).*/\1/' <<<"$out" | tr '\n' ' ' |
	   sed 's/ $//')"
check "list --json: keys of every object" test -z "$(grep -v -E \
'^\{"timer_id":[0-9]+,"state":"[a-z]+",.*,"owner_uid":[0-9]+,.*"repeat":.*,"exec":.*,"owner":"'"$me"'","result":"[^"]+","last_run":(null|\{.*\})\}$' \
	<<<"$out")"
check "list --json: a failed run in last_run" has \
'^\{"timer_id":'"$d"',"state":"fired",.*"exec":\{"argv":\["echo out; echo err >&2; exit 3"\],"shell":true,.*"result":"exit 3","last_run":\{"fire_id":[0-9]+,.*"outcome":"exited",.*"exit_code":3,"signal":null,"duration_ns":[0-9]+,"stdout":null,"stderr":null\}\}$' \
	"$out"
check "list --json: the exec command of a pending timer" has \
	'"exec":\{"argv":\["/bin/echo","--full","a b"\],"shell":false' "$out"
check "list --json: cancelled, its cancel the last run" has \
	'^\{"timer_id":'"$f"',"state":"cancelled",.*"result":"cancelled","last_run":\{"fire_id":null,.*"outcome":"cancelled",' "$out"
check "list --json: a repeating timer's count" has \
	'^\{"timer_id":'"$c"',.*"repeat":\{"every_ns":3600000000000,"every":"1h","count":3,' "$out"

# ---- runs / logs: one run per fire, its output ----
runs_norm() {
	sed -E 's/^fire [0-9]+  [A-Z][a-z]{2} [0-9-]{10} [0-9:]{8} UTC/fire F  WHEN/
		s/took [^ ]+/took T/; s/late [^ ]+/late L/'
}
out=$(ctl runs "$d")
same "runs: the fire, its result and its output" \
"fire F  WHEN  exit 3  took T  late L
    | out
    ! err" "$(runs_norm <<<"$out")"
same "logs is runs" "$out" "$(ctl logs "$d")"
out=$(ctl runs "$e")
same "runs: a successful run" \
"fire F  WHEN  ok  took T  late L
    | fine" "$(runs_norm <<<"$out")"
out=$(ctl runs "$caller")
same "runs: a caller timer's fire" "fire F  WHEN  delivered  late L" \
	"$(runs_norm <<<"$out")"
ctl runs "$a" >"$dir/out" 2>"$dir/err"
check "runs: none yet is not an error" test $? -eq 0
check "runs: none yet says so" grep -q "timer $a has no runs yet" "$dir/err"
check "runs: none yet prints nothing" test ! -s "$dir/out"
out=$(ctl runs "$d" --json)
check "runs --json: one object for the two records" test \
	"$(wc -l <<<"$out")" -eq 1
check "runs --json: its keys" has \
'^\{"timer_id":'"$d"',"fire_id":[0-9]+,"due":"[^"]+Z","due_realtime_ns":[0-9]+,"due_realtime_ns_str":"[0-9]+","fired":"[^"]+Z","fired_realtime_ns":[0-9]+,"fired_realtime_ns_str":"[0-9]+","lateness_ns":-?[0-9]+,"outcome":"exited","result":"exit 3","failed":true,"detail":"exited with status 3","exit_code":3,"signal":null,"duration_ns":[0-9]+,"stdout":"out\\n","stderr":"err\\n"\}$' \
	"$out"
ctl runs 99999999 >/dev/null 2>&1
check "runs of an unknown timer is exit 4 (not found)" test $? -eq 4
ctl runs x >/dev/null 2>&1
check "runs x is usage (2)" test $? -eq 2
out=$(ctl get "$d")
same "get: the last run's output" "stdout:            out
stderr:            err" "$(grep -E '^(stdout|stderr):' <<<"$out")"

# ---- next: the weekday and the time left (from --after here, read in
# --tz: 12:00 Berlin) ----
out=$(ctl next '30 2 * * *' --tz Europe/Berlin --after '2027-03-27 12:00' -n 3)
same "next: weekday, local, UTC, time left" \
"Sun 2027-03-28 03:00:00 CEST 2027-03-28 01:00:00 UTC (in 14h)
Mon 2027-03-29 02:30:00 CEST 2027-03-29 00:30:00 UTC (in 1d 13h)
Tue 2027-03-30 02:30:00 CEST 2027-03-30 00:30:00 UTC (in 2d 13h)" "$out"
out=$(ctl next 'Mon..Fri *:0/15' --after '2026-12-05 23:50' -n 2)
same "next: minutes" \
"Mon 2026-12-07 00:00:00 UTC 2026-12-07 00:00:00 UTC (in 1d 10m)
Mon 2026-12-07 00:15:00 UTC 2026-12-07 00:15:00 UTC (in 1d 25m)" "$out"
out=$(ctl next hourly --after '2026-12-05 23:50' -n 1 --json)
same "next --json: weekday and left_ns" \
'{"local":"2026-12-06 00:00:00 UTC","zone":null,"utc":"2026-12-06T00:00:00Z","realtime_ns":1796515200000000000,"realtime_ns_str":"1796515200000000000","weekday":"Sun","left_ns":600000000000}' \
	"$out"

# ---- scheduling prints when it fires; --quiet prints the id alone ----
# (on an evd of its own, with the memory store)
sock3=$dir/evd3.sock
start_evd "$sock3" --store memory
ctl3() { "$EVCTL" --socket "$sock3" "$@"; }
out=$(ctl3 at '2031-02-03 04:05:06' --channel jobs --payload x)
a=${out%% *}
same "at prints: id, next, weekday, zone, time left" \
	"$a  next: Mon 2031-02-03 04:05:06 UTC (in LEFT)" \
	"$(sed -E 's/\(in [0-9]+d( [0-9]+[hms])?\)$/(in LEFT)/' <<<"$out")"
out=$(ctl3 at '2031-02-03 04:05:06' --channel jobs --key k1)
k=${out%% *}
out=$(ctl3 at '2031-02-03 04:05:06' --channel jobs --key k1)
same "an existing key says so" \
	"$k  next: Mon 2031-02-03 04:05:06 UTC (in LEFT) (existing)" \
	"$(sed -E 's/\(in [0-9]+d( [0-9]+[hms])?\)/(in LEFT)/' <<<"$out")"
ctl3 cancel "$k" >/dev/null
# A timer that follows a zone of its own is shown in it, named: the
# caller's local time would hide which wall clock it keeps.
# zone_shown NAME TZ EXPECTED-AFTER-ID evctl-args...
zone_shown() {
	local name=$1 tz=$2 want=$3 out id
	shift 3
	out=$(TZ=$tz ctl3 "$@" --channel jobs)
	id=${out%% *}
	same "$name" "$id  next: $want (in LEFT)" \
		"$(sed -E 's/\(in [0-9]+d( [0-9]+[hms])?\)$/(in LEFT)/' <<<"$out")"
	ctl3 cancel "$id" >/dev/null
}
zone_shown "on --tz prints the next fire in that zone, named" UTC \
	"Mon 2031-02-03 09:00:00 EST America/New_York" \
	on 'Mon 2031-02-03 09:00' --tz America/New_York
zone_shown "on without --tz prints the caller's zone it stored, named" \
	Asia/Tokyo "Mon 2031-02-03 09:00:00 JST Asia/Tokyo" \
	on 'Mon 2031-02-03 09:00'
zone_shown "on: a zone in the expression wins over --tz, and is the one shown" \
	UTC "Mon 2031-02-03 09:00:00 CET Europe/Berlin" \
	on 'Mon 2031-02-03 09:00 Europe/Berlin' --tz Asia/Tokyo
zone_shown "at --tz prints the time in that zone, named" UTC \
	"Mon 2031-02-03 09:00:00 CET Europe/Paris" \
	at '2031-02-03 09:00' --tz Europe/Paris
out=$(TZ=UTC ctl3 --json on 'Mon 2031-02-03 09:00' --tz America/New_York --channel jobs)
check "on --json names the zone" has '"zone":"America/New_York"' "$out"
ctl3 cancel "$(sed -E 's/^\{"timer_id":([0-9]+).*/\1/' <<<"$out")" >/dev/null
out=$(ctl3 later --quiet 1h --channel q)
check "--quiet: the id alone" bash -c "[[ '$out' =~ ^[0-9]+$ ]]"
ctl3 cancel "$out" >/dev/null
out=$(ctl3 later 10s --json --channel q)
check "--json is unchanged by it" has '^\{"timer_id":[0-9]+,"clock":' "$out"
ctl3 cancel "$(sed -E 's/^\{"timer_id":([0-9]+).*/\1/' <<<"$out")" >/dev/null
out=$(ctl3 soon --payload mine)
check "a caller timer: id and next" has \
	'^[0-9]+  next: [A-Z][a-z]{2} [0-9-]{10} [0-9:]{8} UTC \((now|in [0-9]+ms)\)$' \
	"$(head -1 <<<"$out")"
check "a caller timer: then its fire" has '^timer=[0-9]+ fire=' \
	"$(tail -1 <<<"$out")"

# 100 columns: WHAT (then REPEAT) gives way, with an ellipsis; --wide not.
long="echo $(printf 'x%.0s' $(seq 1 150))"
h=$(ctl3 at -q '2034-01-01' --shell "$long")
out=$(ctl3 list)
check "list fits 100 columns" awk 'length($0) > 100 { exit 1 }' <<<"$out"
check "list cuts WHAT with an ellipsis" has "^$h .* echo x+\.\.\.$" "$out"
out=$(ctl3 list --wide)
check "list --wide: the whole command" has "^$h .* $long$" "$out"
check "list --wide: wider than 100" awk 'length($0) > 150 { w = 1 }
	END { exit !w }' <<<"$out"
ctl3 cancel "$h" >/dev/null

out=$(ctl3 list --all)
check "list --all with the memory store: ended timers too" has \
	"^$h +- +- +- +cancelled +- " "$out"

# ---- several loops: every loop's timers, once each ----
sock2=$dir/evd2.sock
start_evd "$sock2" --state-dir "$dir/state2" --threads 2
ctl2() { "$EVCTL" --socket "$sock2" "$@"; }
for i in 1 2 3 4; do ctl2 soon --payload "p$i" >/dev/null; done
ids=()
for i in 1 2 3; do ids+=("$(ctl2 later -q 1h --channel "t$i")"); done
ids+=("$(ctl2 soon -q --shell 'exit 4')")
ctl2 wait "${ids[3]}" >/dev/null 2>&1
out=$(ctl2 list --all --json)
check "--threads 2: every timer once" test \
	"$(sed -E 's/^\{"timer_id":([0-9]+).*/\1/' <<<"$out" | sort -u |
	   wc -l)" -eq 8
check "--threads 2: no duplicates" test "$(wc -l <<<"$out")" -eq 8
check "--threads 2: the four caller timers ended" test \
	"$(grep -c '"state":"fired","clock":"monotonic".*"channel":null.*"exec":null' <<<"$out")" -eq 4
out=$(ctl2 list --failed)
same "--threads 2: --failed" \
"ID|NEXT|LEFT|LAST|RESULT|REPEAT$OH|WHAT
${ids[3]}|-|-|AGO|exit 4|-$O|exit 4" "$(norm <<<"$out")"

summary
