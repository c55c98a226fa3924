#!/usr/bin/env bash
# test_man: every man page formats without a single groff warning (-ww:
# all of them), as "man -l PAGE" would render it, and names itself in .TH
# as its file name says. Exits 77 without groff (apt-get install
# groff-base).
# usage: test_man.sh PAGE...
set -u
if ! command -v groff >/dev/null; then
	echo "SKIP: groff not found (apt-get install groff-base)"
	exit 77
fi
fail=0
for page in "$@"; do
	name=$(basename "$page")
	out=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$page" 2>&1)
	# .TH NAME SECTION: evd.conf.5 → EVD.CONF 5
	th=$(sed -n 's/^\.TH \([^ ]*\) \([^ ]*\).*/\1.\2/p' "$page" |
		tr 'A-Z' 'a-z')
	if [ -n "$out" ]; then
		echo "[  FAILED  ] $name:"
		echo "$out"
		fail=1
	elif [ "$th" != "$name" ]; then
		echo "[  FAILED  ] $name: .TH says $th"
		fail=1
	else
		echo "[       OK ] $name"
	fi
done
exit $fail
