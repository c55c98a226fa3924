#!/usr/bin/env bash
# test_cluster_deliver_stale: a cluster node whose claim on a channel
# message was lost before it delivered it does not send it (issue 19,
# review item M7). Deliveries are written (attempts, fenced) with the
# loop turn's others and judged at its commit; only those whose claim
# held there are sent. Here the first message's hook takes the second
# message's claim away behind the node's back (as a peer's claim after
# a lapse would: fence bumped, a 2 s lease elsewhere) while the node
# still holds it; the node's delivery of it must find the claim gone,
# send nothing, and forget it; once that other lease lapses the node
# claims it again and delivers it, as its first attempt. At-most-once
# messages are sent once their fenced delete committed.
# usage: with_pg test_cluster_deliver_stale.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2
dir=$(mktemp -d /tmp/evd-test.XXXXXX)
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/cluster_lib.sh"
cluster_require test_cluster_deliver_stale

mkdir -p "$dir/s1"
start_evd "$(sock 1)" --store "pg:$EVD_TEST_PG" --cluster \
	--cluster-death-ms 2000 --state-dir "$dir/s1" --log-level info

cat >"$dir/steal.sh" <<SH
#!/bin/sh
'$(command -v psql)' -X -q -d '$EVD_TEST_PG' -c "UPDATE evd.messages SET
	consumer = 'elsewhere', vis_at = now() + interval '2 s',
	fence = fence + 1 WHERE channel LIKE '%:sd'
	AND fire_id <> \$EVD_FIRE_ID"
SH
chmod 755 "$dir/steal.sh"
# Both wait unclaimed (no subscriber yet); the watch (one at a time)
# makes the node claim both, and delivers the first.
echo "soon --channel sd --payload d1" | ctl 1 batch >/dev/null
sleep 0.3
echo "soon --channel sd --payload d2" | ctl 1 batch >/dev/null
await test "$(sql "SELECT count(*) FROM evd.messages WHERE channel LIKE '%:sd'")" = 2
ctl 1 watch sd --count 2 --timeout 20s --concurrency 1 -- "$dir/steal.sh" \
	>"$dir/w" 2>&1
echo "# $(tr '\n' ' ' <"$dir/w")"
check "both messages were delivered and acked, each once" \
	test "$(grep -o "fire [0-9]* of timer [0-9]* (attempt [0-9]*): acked" \
		"$dir/w" | cut -d' ' -f2 | sort -u | wc -l)" -eq 2 -a \
	"$(grep -c "): acked" "$dir/w")" -eq 2
check "each as its first attempt (the stale delivery not counted)" \
	test "$(grep -c "(attempt 1): acked" "$dir/w")" -eq 2
check "the node found its claim lost at the delivery's commit" \
	grep -q "not delivered: this node's claim on it was lost" \
	"$dir/evd.log"
await test "$(sql "SELECT count(*) FROM evd.messages WHERE channel LIKE '%:sd'")" = 0
check "both acked" \
	test "$(sql "SELECT count(*) FROM evd.messages WHERE channel LIKE '%:sd'")" = 0

# At most once: a message is sent only once its fenced delete committed
# (a batch lost after an earlier send would have put the row back for a
# second delivery); each comes once, and no row is left.
echo "soon --channel am --delivery at-most-once --payload a1" | ctl 1 batch >/dev/null
echo "soon --channel am --delivery at-most-once --payload a2" | ctl 1 batch >/dev/null
await test "$(sql "SELECT count(*) FROM evd.messages WHERE channel LIKE '%:am'")" = 2
ctl 1 --json watch am --count 2 --timeout 20s >"$dir/wa" 2>"$dir/wa.err"
check "both at-most-once messages were delivered, each once" \
	test "$(grep -o '"fire_id":[0-9]*' "$dir/wa" | sort -u | wc -l)" -eq 2 -a \
	"$(grep -c '"fire_id"' "$dir/wa")" -eq 2
check "no at-most-once row is left" \
	test "$(sql "SELECT count(*) FROM evd.messages WHERE channel LIKE '%:am'")" = 0
summary
