#!/usr/bin/env bash
# test_evctl_examples: `evctl help VERB` (and `evctl VERB --help`) gives
# every verb of the table a description and 2 to 4 examples (issue 17);
# every example is a real command line: run through bash with evctl
# pointed at a socket where no daemon listens, no evctl in it is a usage
# error (exit 2); and evctl.1 shows every example as the help does. Also
# the full text of one verb's help and of the "did you mean" answers.
# Exits 77 without groff (apt-get install groff-base).
# usage: test_evctl_examples.sh EVCTL_BIN EVCTL_C EVCTL_1
set -u
EVCTL=${1:?usage: test_evctl_examples.sh EVCTL_BIN EVCTL_C EVCTL_1}
SRC=${2:?}
MAN=${3:?}
if ! command -v groff >/dev/null; then
	echo "SKIP: groff not found (apt-get install groff-base)"
	exit 77
fi
EVCTL=$(cd "$(dirname "$EVCTL")" && pwd)/$(basename "$EVCTL")
tmp=$(mktemp -d /tmp/evd-examples.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "[       OK ] $1"; }
bad() { fail=$((fail + 1)); echo "[  FAILED  ] $1${2:+: $2}"; }

table=$(sed -n 's/^[[:space:]]*{"\([a-z][a-z0-9-]*\)", verb_.*/\1/p' "$SRC")
if [ "$(wc -w <<<"$table")" -lt 20 ]; then
	bad "the verb table is found in $SRC" "got: $table"
	exit 1
fi
# The man page as man shows it, in ASCII, without overstriking.
man=$(LC_ALL=C groff -man -Tascii -P-cbou "$MAN" 2>/dev/null)

# What examples may touch: a home and a directory of their own.
mkdir -p "$tmp/home/.zfunc" "$tmp/cwd"
: >"$tmp/cwd/requests.txt"
cat >"$tmp/evctl.sh" <<SH
evctl() {
	"$EVCTL" --socket "$tmp/no-evd.sock" "\$@"
	local rc=\$?
	echo "\$rc" >>"$tmp/rcs"
	return \$rc
}
SH

for v in $table; do
	help=$("$EVCTL" help "$v" 2>&1)
	if [ "$("$EVCTL" "$v" --help 2>&1)" = "$help" ]; then
		ok "$v --help is help $v"
	else
		bad "$v --help is help $v"
	fi
	examples=$(awk '/^Examples:$/ { on = 1; next } on && !/^  / { exit }
		on { sub(/^  /, ""); print }' <<<"$help")
	commands=$(grep -v '^#' <<<"$examples")
	n=$(grep -c . <<<"$commands")
	if [ "$n" -ge 2 ] && [ "$n" -le 4 ] &&
		[ -n "$(sed -n '3,/^Examples:$/p' <<<"$help" | grep -v '^Examples:$')" ]; then
		ok "help $v: a description and $n examples"
	else
		bad "help $v: a description and 2 to 4 examples" "$help"
	fi
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		# In evctl.1, as the help prints it.
		if grep -qF -- "$line" <<<"$man"; then
			ok "evctl.1 shows: $line"
		else
			bad "evctl.1 shows: $line"
		fi
		[[ $line == \#* ]] && continue
		: >"$tmp/rcs"
		(cd "$tmp/cwd" && HOME=$tmp/home timeout 20 bash -c \
			"source '$tmp/evctl.sh'; $line" </dev/null >"$tmp/out" 2>&1)
		rcs=$(tr '\n' ' ' <"$tmp/rcs")
		if [ -z "$rcs" ]; then
			bad "runs evctl: $line" "$(cat "$tmp/out")"
		elif grep -qw 2 <<<"$rcs" ||
			grep -qE 'evctl: (unknown|usage|invalid|option)' "$tmp/out"; then
			bad "parses: $line" "exit $rcs: $(cat "$tmp/out")"
		else
			ok "parses: $line"
		fi
	done <<<"$examples"
done

# The full text of one verb's help.
want="usage: evctl resume ID...

Lets paused timers fire again, on their schedule. Prints 'ID STATE DUE'
for each.

Examples:
  evctl resume 65541
  evctl resume 65541 65542"
if [ "$("$EVCTL" help resume)" = "$want" ]; then
	ok "help resume, in full"
else
	bad "help resume, in full" "$("$EVCTL" help resume)"
fi

# "Did you mean", in full: verbs, options, help topics.
expect() { # name, status, stderr, args...
	local name=$1 want_rc=$2 want=$3 out rc
	shift 3
	out=$("$EVCTL" "$@" 2>&1 >/dev/null)
	rc=$?
	if [ "$rc" -eq "$want_rc" ] && [ "$out" = "$want" ]; then
		ok "$name"
	else
		bad "$name" "status $rc: $out"
	fi
}
expect "a mistyped verb" 2 "evctl: unknown verb 'lsit'; did you mean 'list'?
Try 'evctl --help' for more information." lsit
expect "a mistyped option" 2 "evctl: unknown option '--chanel'; did you mean '--channel'?
Try 'evctl --help' for more information." list --chanel jobs
expect "a mistyped option with =" 2 "evctl: unknown option '--chanel=jobs'; did you mean '--channel'?
Try 'evctl --help' for more information." later 5m --chanel=jobs
expect "a mistyped help topic" 2 "evctl: no help on 'cancle'; did you mean 'cancel'?
Try 'evctl --help' for more information." help cancle
expect "nothing near" 2 "evctl: unknown verb 'frobnicate'
Try 'evctl --help' for more information." frobnicate
expect "as JSON" 2 '{"error":{"code":"USAGE","message":"unknown verb '"'"'lsit'"'"'; did you mean '"'"'list'"'"'?","exit":2}}' --json lsit

echo "[==========] $((pass + fail)) test(s) run."
echo "[  PASSED  ] $pass test(s)."
if [ $fail -ne 0 ]; then
	echo "[  FAILED  ] $fail test(s)."
	exit 1
fi
