#!/bin/sh
# test_symbols: libevclient exports only evc_* symbols — from the shared
# library (nm -D) and from the static archive (nm -g: a program linking
# libevclient.a must not see frame_*, evd__* or our internals) — every
# function the version script lists in a node EVCLIENT_1.N carries that
# version,
# and libevclient-event exports evc_attach/evc_detach only.
#   test_symbols.sh LIBEVCLIENT.so LIBEVCLIENT.a LIBEVCLIENT-EVENT.so MAP
set -u
so=$1 ar=$2 ev=$3 map=$4
command -v nm >/dev/null && command -v objdump >/dev/null ||
	{ echo "test_symbols: nm/objdump (binutils) missing"; exit 77; }
fail=0

bad=$(nm -D --defined-only "$so" | awk '$2 != "A" && $3 !~ /^evc_/')
[ -z "$bad" ] || { echo "libevclient.so exports non-evc_ symbols:"; echo "$bad"; fail=1; }

bad=$(nm -g --defined-only "$ar" | awk 'NF == 3 && $3 !~ /^evc_/')
[ -z "$bad" ] || { echo "libevclient.a exports non-evc_ symbols:"; echo "$bad"; fail=1; }
# Internal evc_ names (evc_conn_*, evc_conv_*, ...) must stay inside too:
# whatever is global in the archive is global in the .so.
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
nm -g --defined-only "$ar" | awk 'NF == 3 {print $3}' | sort >"$tmp/ar"
nm -D --defined-only "$so" | awk '$2 != "A" {print $3}' | sed 's/@.*//' | sort >"$tmp/so"
extra=$(comm -23 "$tmp/ar" "$tmp/so")
[ -z "$extra" ] || { echo "libevclient.a exports internal symbols:"; echo "$extra"; fail=1; }

# Every node the version script has, not a list of them kept here: a
# node added later is checked too. Each function carries its node's
# version, and no node is empty.
nodes=$(grep -o '^EVCLIENT_1\.[0-9]*' "$map")
[ -n "$nodes" ] || { echo "no EVCLIENT_1.x node in $map"; fail=1; }
for node in $nodes; do
	n=0
	for f in $(sed -n "/^$node /,/}/p" "$map" | grep -o 'evc_[a-z_]*'); do
		n=$((n + 1))
		objdump -T "$so" | grep -q "$node *$f\$" ||
			{ echo "$f is not in version node $node"; fail=1; }
	done
	[ "$n" -ge 2 ] || { echo "$node lists only $n functions"; fail=1; }
done
objdump -T "$so" | grep -q "EVCLIENT_1 *evc_call_later\$" ||
	{ echo "evc_call_later lost its EVCLIENT_1 version"; fail=1; }
objdump -p "$so" | grep -q "SONAME *libevclient.so.1\$" ||
	{ echo "soname is not libevclient.so.1"; fail=1; }

bad=$(nm -D --defined-only "$ev" | awk '$2 != "A" { sub(/@.*/, "", $3); if ($3 != "evc_attach" && $3 != "evc_detach") print }')
[ -z "$bad" ] || { echo "libevclient-event exports:"; echo "$bad"; fail=1; }
objdump -p "$ev" | grep -q "SONAME *libevclient-event.so.1\$" ||
	{ echo "soname is not libevclient-event.so.1"; fail=1; }

[ $fail -eq 0 ] && echo "test_symbols: ok"
exit $fail
