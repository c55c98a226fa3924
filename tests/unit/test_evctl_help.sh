#!/usr/bin/env bash
# test_evctl_help: every verb of evctl's verb table (the one place a verb
# is declared, client/evctl/evctl.c) is listed by `evctl --help`, has a
# synopsis under `evctl help VERB`, and is documented in evctl.1; and the
# help lists no verb the table lacks. Adding a verb without its help or
# man page fails here. Needs no daemon.
# usage: test_evctl_help.sh EVCTL_BIN EVCTL_C EVCTL_1
set -u
EVCTL=${1:?usage: test_evctl_help.sh EVCTL_BIN EVCTL_C EVCTL_1}
SRC=${2:?usage: test_evctl_help.sh EVCTL_BIN EVCTL_C EVCTL_1}
MAN=${3:?usage: test_evctl_help.sh EVCTL_BIN EVCTL_C EVCTL_1}
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "[       OK ] $1"; }
bad() { fail=$((fail + 1)); echo "[  FAILED  ] $1${2:+: $2}"; }

# The table's rows open with {"name", verb_...: the names, in order.
table=$(sed -n 's/^[[:space:]]*{"\([a-z][a-z0-9-]*\)", verb_.*/\1/p' "$SRC")
if [ "$(wc -w <<<"$table")" -lt 10 ]; then
	bad "the verb table is found in $SRC" "got: $table"
	exit 1
fi

# The "Verbs:" section of --help: up to the first blank line; each
# synopsis starts with two spaces and the verb (continuation lines are
# indented further).
help=$("$EVCTL" --help) || bad "evctl --help exits 0"
listed=$(awk '/^Verbs:$/ { on = 1; next } on && /^$/ { exit }
	on && /^  [a-z]/ { print $1 }' <<<"$help" | uniq)
# The man page: the first word after .B/.BI on the line after each .TP.
man=$(awk 'tp { sub(/^\.BI? +"?/, ""); split($0, w, /[ "\\]/); print w[1] }
	{ tp = /^\.TP/ }' "$MAN" | sort -u)

for v in $table; do
	if grep -qx -- "$v" <<<"$listed"; then
		ok "--help lists $v"
	else
		bad "--help lists $v"
	fi
	out=$("$EVCTL" help "$v" 2>&1)
	rc=$?
	case $v in
	on | next | time | parse)
		# Also a help topic (calendar syntax, times), which wins.
		if [ $rc -eq 0 ] && [ -n "$out" ]; then
			ok "help $v prints its topic"
		else
			bad "help $v prints its topic" "status $rc: $out"
		fi
		;;
	*)
		if [ $rc -eq 0 ] && [[ "$out" == "usage: evctl $v"* ]]; then
			ok "help $v prints its synopsis"
		else
			bad "help $v prints its synopsis" "status $rc: $out"
		fi
		;;
	esac
	if grep -qx -- "$v" <<<"$man"; then
		ok "evctl.1 documents $v"
	else
		bad "evctl.1 documents $v" "no .TP entry starting with $v"
	fi
done
for v in $listed; do
	grep -qx -- "$v" <<<"$table" ||
		bad "--help lists only verbs of the table" "$v is not in it"
done
# The table's order is the help's order.
if [ "$(uniq <<<"$table")" = "$listed" ]; then
	ok "--help lists the verbs in the table's order"
else
	bad "--help lists the verbs in the table's order"
fi

echo "[==========] $((pass + fail)) test(s) run."
echo "[  PASSED  ] $pass test(s)."
if [ $fail -ne 0 ]; then
	echo "[  FAILED  ] $fail test(s)."
	exit 1
fi
