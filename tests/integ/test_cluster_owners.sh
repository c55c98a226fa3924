#!/usr/bin/env bash
# test_cluster_owners: cluster nodes share one uid space, and a node
# checks it (owners.h). Under with_pg (EVD_TEST_PG), as root (the
# clients run as other uids through setpriv).
#   - the first node that sees a uid records its user name in
#     evd.owners; that uid's requests are served;
#   - a uid the table records under another name (a node on another
#     machine where it is someone else) is refused, naming both, and
#     nothing of it reaches the store; a uid with no user here that the
#     table names is refused too;
#   - a uid with no user here and none in the table is served and
#     records nothing; root is never checked.
# usage: with_pg test_cluster_owners.sh EVD_BIN EVCTL_BIN
set -u
EVD=$1
EVCTL=$2

if [ -z "${EVD_TEST_PG:-}" ]; then
	echo "test_cluster_owners: needs EVD_TEST_PG (run it under with_pg)"
	exit 77
fi
for d in /usr/lib/postgresql/*/bin; do PATH=$PATH:$d; done
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null ||
	! command -v psql >/dev/null || ! id -u nobody >/dev/null 2>&1 ||
	! id -u daemon >/dev/null 2>&1; then
	echo "test_cluster_owners: needs root, setpriv, psql and the users nobody and daemon; skipped"
	exit 77
fi
NOBODY=$(id -u nobody)
DAEMON=$(id -u daemon)
# uids with no passwd entry here.
GHOST=4242
LOST=4243
if getent passwd $GHOST >/dev/null || getent passwd $LOST >/dev/null; then
	echo "test_cluster_owners: uid $GHOST or $LOST has a user here; skipped"
	exit 77
fi

dir=$(mktemp -d /tmp/evd-test.XXXXXX)
chmod 0755 "$dir"
. "$(dirname "$0")/copybin.sh"
copy_binaries_for_others || exit 1
. "$(dirname "$0")/lib.sh"
export TZ=UTC LC_ALL=C

fail=0
check() { # what command...
	local what=$1
	shift
	if "$@"; then
		echo "ok: $what"
	else
		echo "FAIL: $what"
		fail=1
	fi
}
sql() { psql -X -q -t -A -d "$EVD_TEST_PG" -c "$1"; }
sock=$dir/evd.sock
as() { # uid evctl-args...
	local u=$1
	shift
	(cd / && setpriv --reuid="$u" --regid="$u" --clear-groups \
		env HOME=/ "$EVCTL" --socket "$sock" "$@")
}

mkdir -p "$dir/state"
start_evd "$sock" --store "pg:$EVD_TEST_PG" --cluster \
	--cluster-death-ms 2000 --state-dir "$dir/state"

# Another machine's node saw these uids first, as other people.
sql "INSERT INTO evd.owners (uid, name, first_node)
     VALUES ($NOBODY, 'mallory', 'elsewhere'), ($LOST, 'ghost', 'elsewhere')"
before=$(sql "SELECT count(*) FROM evd.timers")

as "$NOBODY" later 1h --channel c >"$dir/out" 2>&1
rc=$?
check "a uid named otherwise on another node is refused" test "$rc" -ne 0
check "  with both names in the reason" \
	grep -q "uid $NOBODY is nobody here but mallory on another node" "$dir/out"
as "$LOST" later 1h --channel c >"$dir/out2" 2>&1
rc=$?
check "a uid with no user here that the cluster names is refused" \
	test "$rc" -ne 0
check "  saying so" grep -q "uid $LOST is no user here but ghost" "$dir/out2"
check "nothing of theirs reached the store" \
	test "$(sql "SELECT count(*) FROM evd.timers")" = "$before"

id1=$(as "$DAEMON" later 1h --channel c 2>"$dir/err3")
check "a uid the cluster has not seen is served" test -n "$id1"
check "  and its name is recorded" \
	test "$(sql "SELECT name FROM evd.owners WHERE uid = $DAEMON")" = daemon
id2=$(as "$GHOST" later 1h --channel c 2>"$dir/err4")
check "a uid with no user anywhere is served" test -n "$id2"
check "  and records nothing" \
	test "$(sql "SELECT count(*) FROM evd.owners WHERE uid = $GHOST")" = 0
id3=$("$EVCTL" --socket "$sock" later 1h --channel c)
check "root is served" test -n "$id3"
check "  and never recorded" \
	test "$(sql "SELECT count(*) FROM evd.owners WHERE uid = 0")" = 0
check "  and again on its next connection" \
	bash -c "! (cd / && setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups env HOME=/ '$EVCTL' --socket '$sock' list) >/dev/null 2>&1"

# Two nodes meeting a new uid at the same moment agree on one name: a
# node whose check runs while another's insert of that uid is not yet
# committed waits for it, and refuses (before, it saw no row and let the
# uid through as itself).
SYS=$(id -u sys 2>/dev/null || echo 3)
psql -X -q -d "$EVD_TEST_PG" -c "BEGIN;
  INSERT INTO evd.owners (uid, name, first_node)
  VALUES ($SYS, 'trudy', 'elsewhere');
  SELECT pg_sleep(1.5); COMMIT;" >/dev/null 2>&1 &
racer=$!
# Its insert is in (and not committed) once it sleeps.
for _ in $(seq 1 100); do
	[ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'
	     AND query LIKE '%pg_sleep(1.5)%' AND pid <> pg_backend_pid()")" = 1 ] &&
		break
	sleep 0.05
done
as "$SYS" later 1h --channel c >"$dir/out5" 2>&1
rc=$?
wait "$racer"
check "a uid another node records at the same moment is refused" \
	test "$rc" -ne 0
check "  naming that node's name" grep -q "but trudy on another node" \
	"$dir/out5"

# The check cannot run (its table gone): the uid is refused for now,
# never let through unchecked; once it can run again, it is served.
BIN=$(id -u bin 2>/dev/null || echo 2)
sql "ALTER TABLE evd.owners RENAME TO owners_away"
as "$BIN" later 1h --channel c >"$dir/out6" 2>&1
rc=$?
sql "ALTER TABLE evd.owners_away RENAME TO owners"
check "a uid that cannot be checked is refused" test "$rc" -ne 0
check "  as unavailable, to try again" grep -q "UNAVAILABLE\|cannot check who uid $BIN" \
	"$dir/out6"
id4=$(as "$BIN" later 1h --channel c 2>"$dir/err7")
check "  and served once the check runs" test -n "$id4"

if [ "$fail" -ne 0 ]; then
	echo "--- evctl said:"; cat "$dir/out" "$dir/out2" "$dir/err3" "$dir/err4" \
		"$dir/out5" "$dir/out6" "$dir/err7"
	echo "--- evd.log:"; tail -20 "$dir/evd.log"
fi
[ "$fail" -eq 0 ] && echo "test_cluster_owners: all checks passed"
exit "$fail"
