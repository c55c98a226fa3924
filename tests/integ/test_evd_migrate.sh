#!/usr/bin/env bash
# test_evd_migrate: evd migrate between two stores with the real evd (issue
# 19, "evd migrate ... copies pending timers, queued messages, keys and
# grants and is safe to re-run").
#
# evd runs on state directory A and gets durable timers of every kind
# (channel timers with keys, one on the monotonic clock, a repeating one
# that fired once, a calendar one, a paused one, an exec hook), queued
# channel messages, a dead letter with its reason and a channel grant.
# Migrating while it runs is refused. Once it stopped, evd migrate copies
# A into the destination twice: the second run copies nothing new. evd
# on the destination then shows the same timers (ids, keys, next fires,
# runs), messages, dead letters and grants, and a request scheduled again
# with an old key gets the old id back.
#
# The destination is $EVD_TEST_MIGRATE_TO (default sqlite:<tmp>/b), e.g.
# pg:CONNINFO for a PostgreSQL backend: it must be empty, and evd is then
# started on it with --store SPEC.
# usage: test_evd_migrate.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
. "$(dirname "$0")/lib.sh"

export TZ=UTC LC_ALL=C
# with_pg (test_evd_migrate_pg) names a fresh PostgreSQL database.
if [ -z "${EVD_TEST_MIGRATE_TO:-}" ] && [ -n "${EVD_TEST_PG:-}" ]; then
	EVD_TEST_MIGRATE_TO="pg:$EVD_TEST_PG"
fi
to=${EVD_TEST_MIGRATE_TO:-sqlite:$dir/b}
case $to in
sqlite:*) to_args=(--state-dir "${to#sqlite:}") ;;
*) to_args=(--store "$to" --state-dir "$dir/b") ;;
esac

sock=$dir/evd.sock
start_evd "$sock" --state-dir "$dir/a"
ctl() { "$EVCTL" --socket "$sock" "$@"; }
count_of() { ctl channel show "$1" | sed -n "s/^$2: *//p"; }
has_count() { test "$(count_of "$1" "$2")" = "$3"; }

# ---- state A ----
k1=$(ctl at -q '2031-02-03 04:05:06' --channel jobs --key job-1 --payload x)
k2=$(ctl later -q 5h --channel jobs --key job-2 --payload y)
cal=$(ctl on -q 'Mon *-*-* 09:00' --channel cal --key cal-1)
paused=$(ctl at -q '2032-01-01' --channel later --max-attempts 7)
ctl pause "$paused" >/dev/null
hook=$(ctl at -q '2031-06-01 12:00' --exec -- /bin/echo hi there)
# Fires once now (a queued message, a run), then every hour.
tick=$(ctl soon -q --every 1h --channel tick --payload t)
ctl soon -q --channel q --payload m1 >/dev/null
ctl soon -q --channel q --payload m2 >/dev/null
ctl soon -q --channel bad --payload p --max-attempts 1 >/dev/null
ctl watch bad --count 1 --timeout 20s -- \
	sh -c 'echo "kaput: disk on fire" >&2; exit 4' 2>/dev/null
ctl channel grant jobs --uid 4242 --subscribe >/dev/null
check "A: two messages queued in q" await has_count q queued_messages 2
check "A: the tick fired" await has_count tick queued_messages 1
check "A: one dead letter" await has_count bad dead_messages 1

# A monotonic timer's "due" is its deadline_ns projected on the wall
# clock now, which moves by nanoseconds between two calls: its
# deadline_ns is what is stored and compared.
unproject() {
	sed -E '/"clock":"monotonic"/s/"due":"[^"]*","due_realtime_ns":[0-9]+,"due_realtime_ns_str":"[0-9]+",//'
}
snapshot() { # file: what must survive the move
	{
		ctl --json list
		ctl --json get "$tick"
		ctl --json get "$cal"
		ctl --json peek q
		ctl --json peek tick
		ctl --json dead bad
		ctl --json channel show jobs
	} | unproject >"$1"
}
snapshot "$dir/before"
check "A: the snapshot has the six pending timers" \
	test "$(ctl --json list | grep -c '"timer_id"')" -eq 6

# ---- refused while evd runs on A ----
"$EVD" migrate --from "sqlite:$dir/a" --to "$to" >"$dir/out" 2>"$dir/err"
check "migrate: refused while evd runs (exit 1)" test $? -eq 1
check "migrate: says the source is in use" grep -q 'is in use' "$dir/err"
stop_evds

# ---- usage errors ----
"$EVD" migrate --from nosuch:x --to "$to" 2>"$dir/err"
check "migrate: an unknown store is a usage error" test $? -eq 2
check "migrate: names the unknown store" grep -q "unknown store 'nosuch'" "$dir/err"
"$EVD" migrate --from sqlite: --to "$to" 2>"$dir/err"
check "migrate: an empty ARG is a usage error" test $? -eq 2
"$EVD" migrate --help | grep -q 'usage: evd migrate'
check "migrate --help" test $? -eq 0

# ---- an empty pg source: refused, and left empty ----
# Opening a source never writes: without evd's schema there is no store
# to read, and the schema is not made (a second run says the same).
if [[ $to == pg:* ]]; then
	for run in first second; do
		"$EVD" migrate --from "$to" --to "sqlite:$dir/c" >"$dir/out" \
			2>"$dir/err"
		check "an empty pg source, $run run: refused (exit 1)" \
			test $? -eq 1
		cp "$dir/err" "$dir/out"
		check "an empty pg source, $run run: says so" grep -qx \
			"evd migrate: the source pg holds no evd store (the PostgreSQL database has no schema evd)" \
			"$dir/err"
	done
fi

# ---- the copy, twice ----
"$EVD" migrate --from "sqlite:$dir/a" --to "$to" --batch 3 >"$dir/out1" \
	2>"$dir/err1"
check "migrate: exit 0" test $? -eq 0
check "migrate: nothing on stderr" test ! -s "$dir/err1"
# Pending: the six above (k1, k2, cal, paused, hook, tick). Messages: m1, m2, the tick's fire, the dead one.
check "migrate: 6 timers copied" \
	grep -qx 'timers: 6 copied, 0 already present' "$dir/out1"
check "migrate: 4 messages copied" \
	grep -qx 'messages: 4 copied (1 dead letters), 0 already present' \
	"$dir/out1"
check "migrate: the tick's run copied" grep -qx 'runs: [1-9][0-9]* copied.*' "$dir/out1"
check "migrate: counters copied" grep -q '^meta: next_timer_id' "$dir/out1"
"$EVD" migrate --from "sqlite:$dir/a" --to "$to" >"$dir/out2" 2>"$dir/err2"
check "migrate again: exit 0" test $? -eq 0
check "migrate again: no timer copied" \
	grep -qx 'timers: 0 copied, 6 already present' "$dir/out2"
check "migrate again: no message copied" \
	grep -qx 'messages: 0 copied (0 dead letters), 4 already present' \
	"$dir/out2"
check "migrate again: no run copied" grep -q '^runs: 0 copied' "$dir/out2"

# ---- evd on the destination ----
start_evd "$sock" "${to_args[@]}"
snapshot "$dir/after"
if diff "$dir/before" "$dir/after" >"$dir/diff"; then
	ok "B: the same timers, runs, messages, dead letters and grants"
else
	bad "B: the same timers, runs, messages, dead letters and grants" \
		"differs"
	sed 's/^/    /' "$dir/diff"
fi
again=$(ctl at -q '2031-02-03 04:05:06' --channel jobs --key job-1 --payload x)
check "B: the same key returns the old id" test "$again" = "$k1"
again=$(ctl later -q 5h --channel jobs --key job-2 --payload y)
check "B: the same key returns the old id (monotonic)" test "$again" = "$k2"
new=$(ctl soon -q --channel fresh)
check "B: a new timer gets a new id" \
	test "$new" -gt "$tick" -a "$new" -gt "$hook"
out=$(ctl resume "$paused")
check "B: the paused timer resumes" grep -q "^$paused pending" <<<"$out"
summary
