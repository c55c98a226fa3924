#!/usr/bin/env bash
# test_evctl_completion: the completions' values from a real evd (issue
# 17): `evctl __complete ids` and `channels` list what the caller may
# see, one a line with a description after a tab, and the bash
# completion (evctl completion bash, plain bash) offers them for
# `cancel ID`, `watch CHANNEL` and `--channel`, passing --socket on. Run
# by run_with_evd (tests/integ/harness.c starts evd). Also "did you
# mean" for channel's sub-commands, which evctl checks once connected.
# usage: run_with_evd test_evctl_completion.sh EVCTL_BIN @SOCK@
set -u
EVCTL=${1:?usage: run_with_evd test_evctl_completion.sh EVCTL @SOCK@}
SOCK=${2:?}
dir=$(mktemp -d /tmp/evd-completion-integ.XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "[       OK ] $1"; }
bad() { fail=$((fail + 1)); echo "[  FAILED  ] $1${2:+: $2}"; }
expect() { # name, want, got
	if [ "$3" = "$2" ]; then ok "$1"; else bad "$1" "got '$3', want '$2'"; fi
}
ctl() { "$EVCTL" --socket "$SOCK" "$@"; }

a=$(ctl later -q 1h --channel jobs) || exit 1
b=$(ctl later -q 2h --exec -- /bin/echo 'a b') || exit 1
c=$(ctl on -q daily --channel reports) || exit 1
ctl cancel "$c" >/dev/null

tab=$'\t'
expect "__complete ids: the pending timers, with what they do" \
	"$a${tab}channel jobs
$b$tab/bin/echo 'a b'" "$(ctl __complete ids)"
expect "__complete channels: the channels, with owner and depth" \
	"jobs${tab}owner $(id -u), 0 queued
reports${tab}owner $(id -u), 0 queued" "$(ctl __complete channels)"

"$EVCTL" completion bash >"$dir/evctl.bash"
comp() { # WORD...: the replies for the last word
	EVD_SOCKET= bash -c 'source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_evctl; echo "${COMPREPLY[*]}"' _ "$dir/evctl.bash" "$@"
}
expect "bash: cancel completes timer ids" "$a $b" \
	"$(comp "$EVCTL" --socket "$SOCK" cancel '')"
expect "bash: after one id, the others too" "$a $b" \
	"$(comp "$EVCTL" --socket "$SOCK" cancel "$a" '')"
expect "bash: watch completes channels" "jobs" \
	"$(comp "$EVCTL" --socket "$SOCK" watch j)"
expect "bash: --channel VALUE completes channels" "jobs reports" \
	"$(comp "$EVCTL" "--socket=$SOCK" later 5m --channel '')"
expect "bash: --channel=VALUE too" "reports" \
	"$(comp "$EVCTL" --socket "$SOCK" later 5m --channel = r)"
expect "bash: dead's second operand is no channel" "" \
	"$(comp "$EVCTL" --socket "$SOCK" dead jobs '')"

# Channel names are other users' words: one that is shell code must be
# offered quoted and never run by the completing shell (compgen -W
# expanded $(...) in them).
evil='$(touch${IFS}'"$dir"'/pwned)x'
ctl later -q 1h --channel "$evil" >/dev/null || exit 1
got=$(comp "$EVCTL" --socket "$SOCK" watch '$')
if [ -e "$dir/pwned" ]; then
	bad "bash: a channel name that is shell code is not run"
else
	ok "bash: a channel name that is shell code is not run"
fi
expect "bash: ... and is offered quoted" "$(printf %q "$evil")" "$got"

out=$(ctl channel lsit 2>&1)
expect "channel lsit: did you mean 'list'? (exit 2)" "2 evctl: unknown channel command 'lsit'; did you mean 'list'?
Try 'evctl --help' for more information." "$? $out"

echo "[==========] $((pass + fail)) test(s) run."
echo "[  PASSED  ] $pass test(s)."
if [ $fail -ne 0 ]; then
	echo "[  FAILED  ] $fail test(s)."
	exit 1
fi
