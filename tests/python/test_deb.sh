#!/bin/sh
# test_deb.sh MAKE_DEB PKGDIR README PYTHON: builds python3-evd with
# client/python/make-deb.sh into a temporary directory, checks its control
# fields and contents, and imports evd from the unpacked tree (nothing is
# installed). 77 without dpkg-deb or python3-protobuf.
set -eu
make_deb=$1 pkg=$2 readme=$3 python=$4
command -v dpkg-deb >/dev/null || { echo "SKIP (exit 77): dpkg-deb not found" >&2; exit 77; }
"$python" -c 'import google.protobuf' 2>/dev/null ||
	{ echo "SKIP (exit 77): python3-protobuf not installed" >&2; exit 77; }
tmp=$(mktemp -d /tmp/evd-pydeb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
deb=$tmp/python3-evd_9.9_all.deb
sh "$make_deb" "$pkg" "$deb" 9.9 "t <t@example.org>" https://example.org "$readme" 2>/dev/null
fail() { echo "test_deb: FAIL: $*" >&2; exit 1; }
[ "$(dpkg-deb -f "$deb" Package)" = python3-evd ] || fail "Package"
[ "$(dpkg-deb -f "$deb" Architecture)" = all ] || fail "Architecture"
dpkg-deb -f "$deb" Depends | grep -q 'python3-protobuf' || fail "Depends lacks python3-protobuf"
dpkg-deb -c "$deb" > "$tmp/list"
for f in __init__.py _client.py _pipeline.py evd_pb2.py worker.py sync.py py.typed; do
	grep -q "usr/lib/python3/dist-packages/evd/$f\$" "$tmp/list" || fail "no evd/$f"
done
for f in copyright changelog.Debian.gz README.md.gz; do
	grep -q "usr/share/doc/python3-evd/$f\$" "$tmp/list" || fail "no /usr/share/doc/python3-evd/$f"
done
head -n1 "$tmp/list" | grep -q '^drwxr-xr-x root/root' || fail "root dir not 0755 root:root"
dpkg-deb -x "$deb" "$tmp/root"
PYTHONPATH=$tmp/root/usr/lib/python3/dist-packages "$python" -c '
import evd, evd.worker, evd.sync, evd.evd_pb2
assert evd.__file__.startswith("'"$tmp"'"), evd.__file__
assert issubclass(evd.NotFound, evd.Error)
' || fail "cannot import evd from the package"
echo "test_deb: ok"
