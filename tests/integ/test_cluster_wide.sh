#!/usr/bin/env bash
# test_cluster_wide: requests that select many timers, or act on one,
# reach every node's rows in cluster mode, not only what the receiving
# node holds. Three evd nodes (--cluster) on one PostgreSQL (under
# with_pg: EVD_TEST_PG).
#   - cancel --channel on node 2 cancels the channel's timers held by
#     nodes 1 and 3 and those nobody holds; the count is what was
#     cancelled; the holders, told, drop them (their hooks never run);
#     other channels' timers stay;
#   - a cancel of more than 16,384 timers takes two calls, the first
#     saying more wait;
#   - cancel --all on node 3 cancels the caller's timers of every node;
#     another uid's --all (through setpriv, when root) cancels none of
#     them;
#   - a row another node's batch holds locked is not waited for: the
#     answer is UNAVAILABLE, and a second try cancels it;
#   - pause, resume and trigger through a node that does not hold the
#     timer (held by another node, or by none) act on it: it becomes
#     that node's claim, and its former holder, told, drops it; another
#     uid cannot;
#   - a channel's queued and dead counts, and peek, on any node, are
#     every node's; purge on any node deletes the messages no node
#     holds;
#   - a remote Wait sees a queued run that another run followed within
#     one poll.
# usage: with_pg test_cluster_wide.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2

. "$(dirname "$0")/cluster_lib.sh"
cluster_require test_cluster_wide
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
chmod 0755 "$dir"
as_others=0
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null &&
	id -u nobody >/dev/null 2>&1; then
	. "$(dirname "$0")/copybin.sh"
	copy_binaries_for_others || exit 1
	as_others=1
fi
. "$(dirname "$0")/lib.sh"
runs=$dir/runs
: >"$runs"
chmod 666 "$runs"

as() { # uid node evctl-args...
	local u=$1 n=$2
	shift 2
	(cd / && setpriv --reuid="$u" --regid="$u" --clear-groups \
		env HOME=/ "$EVCTL" --socket "$(sock "$n")" "$@")
}
state_of() { sql "SELECT state::text FROM evd.timers WHERE id = $1"; }
await_eq() { # WANT CMD...: until CMD prints WANT, up to 10 s
	local want=$1 _
	shift
	for _ in $(seq 1 200); do
		[ "$("$@")" = "$want" ] && return 0
		sleep 0.05
	done
	return 1
}
states_of() { # ids (one a line) in FILE -> "X X C" in id order
	sql "SELECT string_agg(state::text, ' ' ORDER BY id) FROM evd.timers
		WHERE id IN ($(paste -sd, "$1"))"
}

for n in 1 2 3; do
	mkdir -p "$dir/s$n"
	start_evd "$(sock "$n")" --store "pg:$EVD_TEST_PG" --cluster \
		--cluster-death-ms 2000 --state-dir "$dir/s$n" \
		--log-level info
done
printf '#!/bin/sh\necho "$EVD_TIMER_ID" >> %s\n' "$runs" >"$dir/hook.sh"
chmod 755 "$dir/hook.sh"

# --- cancel --channel: 4 timers into "wide" on node 1 (2 of them due
# in 3 s, whose messages must never be queued), 3 on node 3, of which
# one is handed back to no node; 2 into "other" on node 1.
printf 'later %s --channel wide\n' 3600s 3600s 3s 3s | ctl 1 batch >"$dir/w1"
printf 'later 3600s --channel wide\n%.0s' 1 2 3 | ctl 3 batch >"$dir/w3"
printf 'later 3600s --channel other\n%.0s' 1 2 | ctl 1 batch >"$dir/o1"
cat "$dir/w1" "$dir/w3" >"$dir/wide"
check "9 timers scheduled" \
	test "$(cat "$dir/wide" "$dir/o1" | grep -c '^[0-9][0-9]*$')" -eq 9
free=$(tail -1 "$dir/w3")
sql "UPDATE evd.timers SET state = 'P', claim_node = NULL,
	fence = fence + 1 WHERE id = $free" >/dev/null
check "one of them held by no node" test "$(state_of "$free")" = P
ctl 2 cancel --channel wide >"$dir/cw" 2>&1
check "node 2 cancels the channel's 7 timers of every node" \
	test "$(cat "$dir/cw")" = 7
check "each is cancelled in the database" \
	test "$(states_of "$dir/wide")" = "X X X X X X X"
check "the other channel's stay" test "$(states_of "$dir/o1")" = "C C"
for id in $(sed -n 3,4p "$dir/w1"); do
	check "node 1 drops held timer $id when told" \
		await grep -q "timer $id (uid [0-9]*): cancelled through another node" "$dir/evd.log"
done
check "node 3 drops its held ones when told" \
	await grep -q "timer $(head -1 "$dir/w3") (uid [0-9]*): cancelled through another node" "$dir/evd.log"
ctl 1 list --json >"$dir/l1" 2>&1
check "node 1 lists none of them" \
	bash -c "! grep -qE '\"timer_id\":($(paste -sd'|' "$dir/wide")),' '$dir/l1'"
ctl 2 cancel --channel wide >"$dir/cw2" 2>&1
check "a second cancel --channel finds none" test "$(cat "$dir/cw2")" = 0
# (Node 3 still has it in memory until its renewal finds the claim
# gone: asked on node 2.)
ctl 2 --json get "$free" >"$dir/gfree" 2>&1
check "the unheld one is cancelled, as Get says" \
	grep -q '"state":"cancelled"' "$dir/gfree"
ctl 1 --json wait "$(sed -n 3p "$dir/w1")" --timeout 5s >"$dir/wc" 2>&1
check "its last run is the cancel" grep -q '"outcome":"cancelled"' "$dir/wc"

# --- cancel --all: the caller's timers of every node (the "other"
# ones on node 1, two exec hooks due in 4 s on node 2, which must never
# run, two more on node 3).
printf 'later 4s --exec -- %s\n' "$dir/hook.sh" "$dir/hook.sh" | ctl 2 batch >"$dir/a2"
printf 'later 3600s --channel third\n%.0s' 1 2 | ctl 3 batch >"$dir/a3"
cat "$dir/o1" "$dir/a2" "$dir/a3" >"$dir/all"
check "6 more timers scheduled" \
	test "$(grep -c '^[0-9][0-9]*$' "$dir/all")" -eq 6
if [ "$as_others" = 1 ]; then
	NOBODY=$(id -u nobody)
	as "$NOBODY" 2 cancel --all >"$dir/ca_other" 2>&1
	check "another uid's cancel --all cancels none of them" \
		test "$(cat "$dir/ca_other")" = 0
	check "they wait still" test "$(states_of "$dir/all")" = "C C C C C C"
	as "$NOBODY" 2 cancel --channel third >"$dir/cc_other" 2>&1
	check "nor does its cancel --channel" \
		test "$(states_of "$dir/all")" = "C C C C C C"
else
	echo "# not root (or no setpriv, nobody): other uids not checked"
fi
# A row locked by another batch: not waited for (UNAVAILABLE), then
# cancelled once the lock is gone.
locked=$(head -1 "$dir/o1")
sql "BEGIN; SELECT id FROM evd.timers WHERE id = $locked FOR UPDATE;
	SELECT pg_sleep(3); COMMIT" >/dev/null &
lockpid=$!
sleep 0.7
t0=$(now_ms)
ctl 3 cancel --all >"$dir/ca_locked" 2>&1
t1=$(now_ms)
echo "# cancel --all beside a locked row took $((t1 - t0)) ms"
check "a row another batch writes is not waited for: UNAVAILABLE" \
	grep -q "more were being written by another node" "$dir/ca_locked"
xcount() { sql "SELECT count(*) FROM evd.timers WHERE id IN ($(paste -sd, "$dir/all")) AND state = 'X'"; }
check "and the others are cancelled" await_eq 5 xcount
check "the locked one waits still" test "$(state_of "$locked")" = C
wait "$lockpid"
ctl 3 cancel --all >"$dir/ca" 2>&1
check "a second cancel --all on node 3 cancels the last one" \
	test "$(cat "$dir/ca")" = 1
check "every one is cancelled" test "$(states_of "$dir/all")" = "X X X X X X"

# --- pause, resume and trigger through a node that does not hold the
# timer: it becomes that node's, and its former holder drops it.
node_id() { ctl "$1" --json stats | sed -n 's/.*"node":{"id":"\([^"]*\)".*/\1/p'; }
holder_of() { sql "SELECT coalesce(claim_node, '-') FROM evd.timers WHERE id = $1"; }
pr=$(echo "later 3600s --channel ctl" | ctl 1 batch)
check "a timer held by node 1" test "$(holder_of "$pr")" = "$(node_id 1)"
if [ "$as_others" = 1 ]; then
	as "$NOBODY" 2 pause "$pr" >"$dir/p_other" 2>&1
	check "another uid cannot pause it through node 2" \
		test "$(sql "SELECT paused::text || state::text FROM evd.timers WHERE id = $pr")" = falseC
	check "nor take it over" test "$(holder_of "$pr")" = "$(node_id 1)"
fi
ctl 2 pause "$pr" >"$dir/p" 2>&1
check "node 2 pauses it" grep -q "paused" "$dir/p"
check "paused in the database, held by node 2" \
	test "$(sql "SELECT paused::text || claim_node FROM evd.timers WHERE id = $pr")" = "true$(node_id 2)"
check "node 1 drops it when told" \
	await grep -q "timer $pr (uid [0-9]*): taken over by another node" "$dir/evd.log"
ctl 1 --json get "$pr" >"$dir/gp" 2>&1
check "node 1's get says paused" grep -q '"state":"paused"' "$dir/gp"
ctl 3 resume "$pr" >"$dir/r" 2>&1
check "node 3 resumes it" \
	test "$(sql "SELECT paused::text || claim_node FROM evd.timers WHERE id = $pr")" = "false$(node_id 3)"
# A Wait on node 1 for a timer node 1 holds ends when node 2 triggers it:
# the take and the fire commit together, and node 1 watches the runs
# after the newest before the take (the notice says which).
wt=$(echo "later 3600s --channel ctl --payload wt" | ctl 1 batch)
check "a timer held by node 1 to wait on" \
	test "$(holder_of "$wt")" = "$(node_id 1)"
timeout 20 "$EVCTL" --socket "$(sock 1)" wait "$wt" >"$dir/wt" 2>&1 &
wpid=$!
sleep 0.5 # the wait is registered (not visible from outside)
ctl 2 trigger "$wt" >"$dir/twt" 2>&1
check "node 2 triggers it" grep -q "^$wt " "$dir/twt"
wait "$wpid"
check "the wait on node 1 ends with the fire" grep -q "queued" "$dir/wt"
# Held by no node (its holder's claim handed back), triggered through
# another: fired once, there.
tr=$(echo "later 3600s --channel ctl --payload tr" | ctl 2 batch)
sql "UPDATE evd.timers SET state = 'P', claim_node = NULL,
	fence = fence + 1 WHERE id = $tr" >/dev/null
ctl 3 trigger "$tr" >"$dir/t" 2>&1
check "node 3 triggers a timer no node holds" grep -q "^$tr " "$dir/t"
check "it fired" await_eq F state_of "$tr"
check "its one message is queued" \
	test "$(sql "SELECT count(*) FROM evd.messages WHERE timer_id = $tr")" = 1
# An exec timer held by node 1, triggered through node 2: its hook runs
# once.
ex=$(echo "later 3600s --exec -- $dir/hook.sh" | ctl 1 batch)
ctl 2 trigger "$ex" >"$dir/tx" 2>&1
check "node 2 triggers node 1's exec timer: its hook runs" \
	await grep -qx "$ex" "$runs"
sleep 0.5
check "once" test "$(grep -cx "$ex" "$runs")" = 1
grep -vx "$ex" "$runs" >"$dir/runs_rest" || true
cp "$dir/runs_rest" "$runs"

# --- a channel's queued and dead counts are the database's, of every
# node: 3 fires on node 1 with no subscriber anywhere (claimed by no
# node), one of them made a dead letter.
printf 'later 0s --channel cnt --payload c%s\n' 1 2 3 | ctl 1 batch >"$dir/cnt"
cnt_sql="SELECT count(*) FROM evd.messages WHERE channel LIKE '%:cnt'"
check "3 messages in the database" await_eq 3 sql "$cnt_sql"
sql "UPDATE evd.messages SET dead = true WHERE fire_id = (SELECT min(fire_id)
	FROM evd.messages WHERE channel LIKE '%:cnt')" >/dev/null
for n in 1 2; do
	check "node $n counts them: 2 queued, 1 dead" \
		await bash -c "'$EVCTL' --socket '$(sock $n)' --json channel show cnt 2>/dev/null | grep -q '\"queued_messages\":2,\"inflight_messages\":0,\"dead_messages\":1'"
done
check "node 3 lists them so" \
	await bash -c "'$EVCTL' --socket '$(sock 3)' --json channel list 2>/dev/null | grep -q '\"channel\":\"cnt\",.*\"queued_messages\":2,\"inflight_messages\":0,\"dead_messages\":1'"

ctl 2 --json peek cnt >"$dir/peek" 2>&1
check "node 2 peeks node 1's live messages" \
	test "$(grep -c '"payload":"c[23]"' "$dir/peek")" = 2
check "not the dead one" bash -c "! grep -q '\"payload\":\"c1\"' '$dir/peek'"

if [ "$as_others" = 1 ]; then
	as "$NOBODY" 3 purge "0:cnt" >"$dir/purge_other" 2>&1
	check "another uid's purge deletes none of root's" \
		test "$(sql "$cnt_sql AND NOT dead")" = 2
fi
ctl 3 purge cnt >"$dir/purge" 2>&1
check "node 3 purges the 2 live messages no node holds" \
	test "$(cat "$dir/purge")" = 2
check "gone from the database; the dead letter stays" \
	test "$(sql "SELECT string_agg(dead::text, ' ') FROM evd.messages WHERE channel LIKE '%:cnt'")" = true

# --- Wait through node 2 on a timer node 1 holds, when two runs come
# within one poll (a queued fire, then a skip; written here in one
# statement): the wait ends with the first.
wq=$(echo "later 3600s --channel waitq" | ctl 1 batch)
ctl 2 --json wait "$wq" --timeout 5s >"$dir/wq" 2>&1 &
wpid=$!
sleep 0.5
sql "INSERT INTO evd.runs (timer_id, fire_id, due_rt_ns, fired_rt_ns,
	lateness_ns, outcome, detail) VALUES ($wq, 1, 0, 0, 0, 2, NULL),
	($wq, 0, 0, 0, 0, 6, 'skip')" >/dev/null
wait "$wpid"
check "a remote Wait ends with a queued run a skip followed at once" \
	grep -q '"outcome":"queued"' "$dir/wq"

# --- a cancel of more timers than one call takes (16 pages of 1,024):
# the first says how many it cancelled and that more wait (the loop is
# not held for all of them at once); the second cancels the rest.
seq 17000 | sed 's/.*/later 3600s --channel big/' | ctl 1 batch >/dev/null
check "17,000 timers into big" \
	test "$(sql "SELECT count(*) FROM evd.timers WHERE channel LIKE '%:big' AND state IN ('P', 'C')")" = 17000
ctl 2 cancel --channel big >"$dir/cb1" 2>&1
check "a first cancel --channel big cancels 16,384 and says more wait" \
	grep -q "cancelled 16384 timers; more wait" "$dir/cb1"
ctl 2 cancel --channel big >"$dir/cb2" 2>&1
check "a second cancels the other 616" test "$(cat "$dir/cb2")" = 616
check "none of big waits" \
	test "$(sql "SELECT count(*) FROM evd.timers WHERE channel LIKE '%:big' AND state IN ('P', 'C')")" = 0

sleep 4
check "no cancelled hook ran" test ! -s "$runs"
check "no cancelled channel timer queued a message" \
	test "$(sql "SELECT count(*) FROM evd.messages WHERE timer_id IN ($(paste -sd, "$dir/wide"))")" = 0
cluster_alive "at the end"
summary
