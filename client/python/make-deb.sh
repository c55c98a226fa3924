#!/bin/sh
# make-deb.sh PKGDIR DEB VERSION CONTACT HOMEPAGE README [DEBIAN_DIR]
# Builds python3-evd (Architecture: all) from the package evd the build
# assembled in PKGDIR (sources and the generated evd_pb2.py): the module in
# /usr/lib/python3/dist-packages, Depends on Debian's python3-protobuf.
# Its /usr/share/doc/python3-evd has the README, and the copyright and
# changelog that every package of the evd tree shares (DEBIAN_DIR, by
# default systemd/debian of this tree), all but copyright gzip -9n.
# Run by the CMake target python3_evd_deb and by tests/python/test_deb.sh.
set -eu
pkg=$1 deb=$2 version=$3 contact=$4 homepage=$5 readme=$6
debian=${7:-$(dirname "$0")/../../systemd/debian}
[ -f "$pkg/evd_pb2.py" ] || { echo "make-deb: no $pkg/evd_pb2.py (build evd_python)" >&2; exit 1; }
stage=$(mktemp -d "${deb%.deb}.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
chmod 0755 "$stage"
dest=$stage/usr/lib/python3/dist-packages/evd
doc=$stage/usr/share/doc/python3-evd
mkdir -p "$dest" "$stage/DEBIAN" "$doc"
cp "$pkg"/*.py "$pkg"/py.typed "$dest"/
gzip -9n -c "$readme" >"$doc/README.md.gz"
gzip -9n -c "$debian/changelog" >"$doc/changelog.Debian.gz"
cp "$debian/copyright" "$doc/copyright"
mkdir -p "$stage/usr/share/lintian/overrides"
cp "$debian/lintian-overrides" "$stage/usr/share/lintian/overrides/python3-evd"
size=$(du -sk "$stage/usr" | cut -f1)
cat > "$stage/DEBIAN/control" <<CTL
Package: python3-evd
Version: $version
Architecture: all
Maintainer: $contact
Installed-Size: $size
Source: evd
Depends: python3 (>= 3.11), python3-protobuf (>= 3.20)
Recommends: evd
Suggests: python3-uvloop
Section: python
Priority: optional
Homepage: $homepage
Description: asyncio client of evd, the timer daemon
 evd offers asyncio's call_soon, call_later, call_at, cancel and
 loop.time() as a system service. This package is its pure-Python,
 asyncio-native client (import evd): pipelined requests on one Unix
 socket connection, channel subscriptions, reconnection with idempotent
 resends, a worker (python3 -m evd.worker) and a blocking facade
 (evd.sync). It runs on uvloop as well.
CTL
# Python writes byte code next to the modules when root imports them.
cat > "$stage/DEBIAN/prerm" <<'SH'
#!/bin/sh
set -e
rm -rf /usr/lib/python3/dist-packages/evd/__pycache__
SH
chmod 0755 "$stage/DEBIAN/prerm"
chmod -R u=rwX,go=rX "$stage/usr"
(cd "$stage" && find usr -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum >DEBIAN/md5sums)
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2
