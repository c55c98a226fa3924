#!/usr/bin/env bash
# test_evctl_batch: `evctl batch` against the real evd: 10,000 requests
# from stdin (evctl's words and JSON arrays of them) become 10,000
# durable timers, one result line each in input order (--json carries
# the line numbers; a second run with the same keys returns the same
# ids line by line), a bad line is reported in its place while the
# others go through, cancel works in a batch, and progress shows only on
# a terminal.
# usage: test_evctl_batch.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
dir=$(mktemp -d /tmp/evd-batch.XXXXXX)
sock=$dir/evd.sock
N=10000
. "$(dirname "$0")/lib.sh"

start_evd "$sock" --state-dir "$dir/state"
ctl() { "$EVCTL" --socket "$sock" "$@"; }

# N requests: every third a JSON array, payloads with spaces and quotes.
awk -v n=$N 'BEGIN {
	for (i = 1; i <= n; i++)
		if (i % 3 == 0)
			printf "[\"later\",\"1h\",\"--channel\",\"b\",\"--key\",\"k%d\",\"--payload\",\"j \\\"%d\\\"\"]\n", i, i
		else
			printf "later 1h --channel b --key k%d --payload '\''p %d'\''\n", i, i
}' >"$dir/in"
ctl --json batch <"$dir/in" >"$dir/out1" 2>"$dir/err"
check "batch: exit 0" test $? -eq 0
check "batch: one result per line" test "$(wc -l <"$dir/out1")" -eq $N
check "batch: results in input order" \
	cmp -s <(seq 1 $N) <(grep -o '"line":[0-9]*' "$dir/out1" | cut -d: -f2)
check "batch: every one scheduled" test "$(grep -c '"existing":false' "$dir/out1")" -eq $N
check "batch: no progress off a terminal" test ! -s "$dir/err"
out=$(ctl --json stats)
check "batch: $N timers pending" grep -q "\"pending_timers\":$N[,}]" <<<"$out"
pay=$(ctl --json get "$(sed -n 3p "$dir/out1" | grep -o '"timer_id":[0-9]*' | cut -d: -f2)")
check "batch: a JSON line's payload" grep -qF '"payload":"j \"3\""' <<<"$pay"
pay=$(ctl --json get "$(sed -n 4p "$dir/out1" | grep -o '"timer_id":[0-9]*' | cut -d: -f2)")
check "batch: a quoted word" grep -qF '"payload":"p 4"' <<<"$pay"

# The same keys again: the same timers, line by line.
ctl batch <"$dir/in" >"$dir/out2" 2>"$dir/err"
check "batch again: exit 0" test $? -eq 0
check "batch again: the same ids in the same order" \
	cmp -s "$dir/out2" <(grep -o '"timer_id":[0-9]*' "$dir/out1" | cut -d: -f2)

# A bad line in the middle: reported in its place, the rest sent.
printf 'later 1h --channel m\nlater 1x --channel m\n# a comment\n\nlater 2h --channel m\ncancel %s\nlist\n' \
	"$(head -1 "$dir/out2")" | ctl batch >"$dir/out3" 2>"$dir/err"
rc=$?
check "bad line: exit 2" test $rc -eq 2
check "bad line: a result per request" test "$(wc -l <"$dir/out3")" -eq 5
check "bad line: '-' in its place" test "$(sed -n 2p "$dir/out3")" = "-"
check "bad line: the next one went through" grep -q '^[0-9][0-9]*$' <(sed -n 3p "$dir/out3")
check "bad line: cancel prints the id" test "$(sed -n 4p "$dir/out3")" = "$(head -1 "$dir/out2")"
check "bad line: says which line" grep -q "line 2: invalid duration '1x'" "$dir/err"
check "bad line: list is not a batch request" grep -q 'line 7: batch takes soon' "$dir/err"
check "cancel in a batch cancelled it" \
	bash -c "\"$EVCTL\" --socket \"$sock\" get $(head -1 "$dir/out2") | grep -q cancelled"
echo 'cancel 999999999' | ctl --json batch >"$dir/out4" 2>/dev/null
check "a refused request: exit 1" test $? -eq 1
check "a refused request: a JSON error in its place" \
	grep -q '^{"line":1,"error":"not found","message":"[^"]*999999999' "$dir/out4"

# Progress on a terminal (script(1) gives one), on stderr only.
if command -v script >/dev/null; then
	head -100 "$dir/in" >"$dir/in100"
	script -qec "\"$EVCTL\" --socket \"$sock\" batch <\"$dir/in100\" >\"$dir/out5\"" \
		/dev/null >"$dir/tty" 2>&1
	check "progress: on a terminal" grep -q 'batch: 100 sent, 100 done, 0 failed' "$dir/tty"
	check "progress: not in the results" test "$(grep -c batch "$dir/out5")" -eq 0
else
	echo "[  SKIPPED ] progress on a terminal: no script(1) (bsdutils)"
fi

stop_evds

show_failure() {
	echo "--- stderr:"; head -20 "$dir/err"
	echo "--- evd log:"; tail -20 "$dir/evd.log"
}
summary
