#!/bin/sh
# test_symbols: libevclient exports only evc_* symbols — from the shared
# library (nm -D) and from the static archive (nm -g: a program linking
# libevclient.a must not see frame_*, evd__* or our internals) — every
# function the version script lists in EVCLIENT_1.1, EVCLIENT_1.2,
# EVCLIENT_1.3 and EVCLIENT_1.4 carries that version,
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

n11=0
for f in $(sed -n '/^EVCLIENT_1.1 /,/}/p' "$map" | grep -o 'evc_[a-z_]*'); do
	n11=$((n11 + 1))
	objdump -T "$so" | grep -q "EVCLIENT_1.1 *$f\$" ||
		{ echo "$f is not in version node EVCLIENT_1.1"; fail=1; }
done
[ "$n11" -gt 10 ] || { echo "EVCLIENT_1.1 lists only $n11 functions"; fail=1; }
n12=0
for f in $(sed -n '/^EVCLIENT_1.2 /,/}/p' "$map" | grep -o 'evc_[a-z_]*'); do
	n12=$((n12 + 1))
	objdump -T "$so" | grep -q "EVCLIENT_1.2 *$f\$" ||
		{ echo "$f is not in version node EVCLIENT_1.2"; fail=1; }
done
[ "$n12" -ge 9 ] || { echo "EVCLIENT_1.2 lists only $n12 functions"; fail=1; }
n13=0
for f in $(sed -n '/^EVCLIENT_1.3 /,/}/p' "$map" | grep -o 'evc_[a-z_]*'); do
	n13=$((n13 + 1))
	objdump -T "$so" | grep -q "EVCLIENT_1.3 *$f\$" ||
		{ echo "$f is not in version node EVCLIENT_1.3"; fail=1; }
done
[ "$n13" -ge 8 ] || { echo "EVCLIENT_1.3 lists only $n13 functions"; fail=1; }
n14=0
for f in $(sed -n '/^EVCLIENT_1.4 /,/}/p' "$map" | grep -o 'evc_[a-z_]*'); do
	n14=$((n14 + 1))
	objdump -T "$so" | grep -q "EVCLIENT_1.4 *$f\$" ||
		{ echo "$f is not in version node EVCLIENT_1.4"; fail=1; }
done
[ "$n14" -ge 16 ] || { echo "EVCLIENT_1.4 lists only $n14 functions"; fail=1; }
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
