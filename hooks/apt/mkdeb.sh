#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# mkdeb.sh VERSION OUT.deb: the rekmod binary package, from `make install`
# into a staging tree plus the Debian hooks of this folder. No network, no
# debhelper: dpkg-deb only.
set -euo pipefail
version=$1
out=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT

make -s -C "$top" install DESTDIR="$stage" PREFIX=/usr >/dev/null
for d in postinst.d header_postinst.d prerm.d postrm.d; do
	install -D -m 0755 "$here/kernel-hook" "$stage/etc/kernel/$d/50rekmod"
done
install -D -m 0644 "$here/apt.conf" "$stage/etc/apt/apt.conf.d/50rekmod"
install -D -m 0755 "$here/apt-pre-install" "$stage/usr/lib/rekmod/apt-pre-install"
install -D -m 0755 "$here/common.postinst" "$stage/usr/lib/dkms/common.postinst"

mkdir -p "$stage/DEBIAN"
install -m 0755 "$here/postinst" "$stage/DEBIAN/postinst"
install -m 0644 "$here/triggers" "$stage/DEBIAN/triggers"
(cd "$stage" && find etc -type f | sed 's|^|/|' | sort) >"$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: rekmod
Version: $version
Architecture: $arch
Maintainer: rekmod developers <rekmod@localhost>
Installed-Size: $size
Depends: libc6 (>= 2.34), libkmod2, libapt-pkg6.0, liblzma5, libzstd1, zlib1g, libssl3, bash, make, kmod, gcc | c-compiler
Provides: dkms (= 3.4.3+rekmod$version)
Conflicts: dkms
Replaces: dkms
Section: kernel
Priority: optional
Description: keeps out-of-tree kernel modules built for every kernel (dkms drop-in)
 rekmod rebuilds and installs registered out-of-tree kernel modules (GPU,
 Wi-Fi, filesystem, VPN drivers) for every kernel with headers. It reads
 dkms.conf files, keeps the /var/lib/dkms tree and answers to the dkms
 command line, so existing *-dkms packages work unchanged.
CONTROL
dpkg-deb --root-owner-group -Zxz -b "$stage" "$out" >/dev/null
echo "$out"
