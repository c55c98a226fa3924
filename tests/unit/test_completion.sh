#!/usr/bin/env bash
# test_completion: the shell completions evctl generates from its own
# tables (`evctl completion bash|zsh|fish`, issue 17). For the shell
# given: the script parses (bash -n, zsh -n, fish --no-execute), names
# every verb and every option of the tables (client/evctl/evctl.c,
# evctl_opts.c), and completes: bash through COMP_WORDS/COMP_CWORD as
# readline fills them (plain bash, no bash-completion), fish through
# `complete -C`, zsh with its completion builtins replaced by stubs that
# print what they are given. No daemon: timer ids and channels come out
# empty, quickly and silently. Exits 77 when the shell is not installed
# (apt-get install zsh fish).
# usage: test_completion.sh bash|zsh|fish EVCTL_BIN EVCTL_C EVCTL_OPTS_C
set -u
SHELL_NAME=${1:?usage: test_completion.sh bash|zsh|fish EVCTL EVCTL_C OPTS_C}
EVCTL=${2:?}
SRC=${3:?}
OPTS=${4:?}
if ! command -v "$SHELL_NAME" >/dev/null; then
	echo "SKIP: $SHELL_NAME is not installed (apt-get install $SHELL_NAME)"
	exit 77
fi
tmp=$(mktemp -d /tmp/evd-completion.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "[       OK ] $1"; }
bad() { fail=$((fail + 1)); echo "[  FAILED  ] $1${2:+: $2}"; }
# No daemon here: ids and channels must come back empty.
export EVD_SOCKET=$tmp/no-evd.sock
# `evctl` on PATH is this build's, for the scripts that call it by name.
mkdir "$tmp/bin"
ln -s "$(cd "$(dirname "$EVCTL")" && pwd)/$(basename "$EVCTL")" "$tmp/bin/evctl"
export PATH=$tmp/bin:$PATH

script=$tmp/evctl.$SHELL_NAME
if "$EVCTL" completion "$SHELL_NAME" >"$script" 2>"$tmp/err" &&
	[ ! -s "$tmp/err" ] && [ -s "$script" ]; then
	ok "evctl completion $SHELL_NAME prints a script"
else
	bad "evctl completion $SHELL_NAME prints a script" "$(cat "$tmp/err")"
	exit 1
fi
case $SHELL_NAME in
bash) syntax=(bash -n "$script") ;;
zsh) syntax=(zsh -n "$script") ;;
fish) syntax=(fish --no-execute "$script") ;;
esac
if out=$("${syntax[@]}" 2>&1); then
	ok "the script parses (${syntax[*]:0:2})"
else
	bad "the script parses" "$out"
fi

# Every verb of the table but the hidden ones, and every option.
verbs=$(sed -n 's/^[[:space:]]*{"\([a-z][a-z0-9-]*\)", verb_.*/\1/p' "$SRC")
opts=$(sed -n 's/^[[:space:]]*{"\(-[-a-z0-9]*\)", \(true\|false\), .*/\1/p' "$OPTS")
if [ "$(wc -w <<<"$verbs")" -lt 20 ] || [ "$(wc -w <<<"$opts")" -lt 40 ]; then
	bad "the tables are found" "verbs: $verbs; options: $opts"
	exit 1
fi
missing=
for w in $verbs $opts; do
	# fish names options as complete -l NAME / -s N.
	f=$w
	if [ "$SHELL_NAME" = fish ]; then
		case $w in
		--*) f="-l ${w#--}" ;;
		-?) f="-s ${w#-}" ;;
		esac
	fi
	grep -qwF -- "$f" "$script" || missing="$missing $w"
done
if [ -z "$missing" ]; then
	ok "every verb and option of the tables is in the script"
else
	bad "every verb and option of the tables is in the script" \
		"missing:$missing"
fi
if grep -qw -- __complete <<<"$(sed -n '/_evctl_verbs=(/,/)/p' "$script")"; then
	bad "the hidden __complete is not offered as a verb"
else
	ok "the hidden __complete is not offered as a verb"
fi

# expect NAME WANT GOT
expect() {
	if [ "$3" = "$2" ]; then
		ok "$1"
	else
		bad "$1" "got '$3', want '$2'"
	fi
}

case $SHELL_NAME in
bash)
	# comp WORD...: the replies for the last word, as readline would
	# split the line (COMP_WORDBREAKS: '=' and ':' are words).
	comp() {
		bash -c 'source "$1"; shift
			COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
			_evctl; echo "${COMPREPLY[*]}"' _ "$script" "$@"
	}
	expect "a verb prefix" "list" "$(comp evctl li)"
	expect "a verb prefix with several" "later list logs" "$(comp evctl l)"
	expect "an option prefix" "--wide" "$(comp evctl list --w)"
	expect "only the verb's options" "--channel --clock --count --cwd" \
		"$(comp evctl later 5m --c)"
	expect "global options before the verb" "--json" "$(comp evctl --js)"
	expect "a clock value" "monotonic boottime realtime" \
		"$(comp evctl later 5m --clock '')"
	expect "a clock value after '='" "boottime" \
		"$(comp evctl at noon --clock = b)"
	expect "a policy value" "first second both" \
		"$(comp evctl on daily --dst-overlap '')"
	expect "a misfire value" "skip" "$(comp evctl later 5m --misfire s)"
	expect "a zone" "Europe/Berlin" "$(comp evctl next daily --tz Europe/Berl)"
	expect "channel's sub-verbs" "list show grant revoke" "$(comp evctl channel '')"
	expect "completion's shells" "bash zsh fish" "$(comp evctl completion '')"
	expect "help's verbs" "later" "$(comp evctl help lat)"
	expect "a free value completes nothing" "" "$(comp evctl --timeout '')"
	expect "an option's value is not the verb" "list" \
		"$(comp evctl --socket /tmp/x li)"
	start=$(date +%s)
	expect "timer ids without evd: none" "" "$(comp evctl cancel '')"
	expect "channels without evd: none" "" "$(comp evctl watch '')"
	[ $(($(date +%s) - start)) -lt 5 ] && ok "... answered within 5 s" ||
		bad "... answered within 5 s"
	;;
zsh)
	# The completion builtins as stubs that print their candidates.
	comp() {
		zsh -fc 'compdef() { : }; source "$1"; shift
			compadd() { while [[ $1 == -* && $1 != -- ]]; do shift; done
				[[ $1 == -- ]] && shift; print -rn -- "$* " }
			_describe() { local -a a; a=("${(@P)4}"); print -rn -- "${a[@]%%:*} " }
			compset() { cur=${cur#*=} }
			_files() { print -rn -- "(files) " }
			words=("$@"); CURRENT=$#; _evctl; print' _ "$script" "$@"
	}
	expect "a verb" "soon later at on cancel pause resume trigger retry get wait channel list runs logs time stats watch batch import dead purge peek next parse ui help completion" \
		"$(comp evctl '' | sed 's/ $//')"
	expect "a clock value" "monotonic boottime realtime" \
		"$(comp evctl later 5m --clock '' | sed 's/ $//')"
	expect "channel's sub-verbs" "list show grant revoke" \
		"$(comp evctl channel '' | sed 's/ $//')"
	expect "an option after '--socket PATH'" "(files)" \
		"$(comp evctl --socket '' | sed 's/ $//')"
	;;
fish)
	comp() { fish -c "source '$script'; complete -C '$1'"; }
	expect "a verb prefix, with its summary" \
		"list	what runs when, and how it went" "$(comp 'evctl li')"
	expect "an option prefix" "--wide" "$(comp 'evctl list --w')"
	expect "a clock value" "boottime
monotonic
realtime" "$(comp 'evctl later 5m --clock ')"
	expect "a clock value after '='" "--clock=boottime" \
		"$(comp 'evctl later 5m --clock=b')"
	expect "channel's sub-verbs" "grant
list
revoke
show" "$(comp 'evctl channel ')"
	expect "a zone" "Europe/Berlin" "$(comp 'evctl on daily --tz Europe/Berl')"
	expect "timer ids without evd: none" "" "$(comp 'evctl cancel ')"
	;;
esac

echo "[==========] $((pass + fail)) test(s) run."
echo "[  PASSED  ] $pass test(s)."
if [ $fail -ne 0 ]; then
	echo "[  FAILED  ] $fail test(s)."
	exit 1
fi
