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
# as dch does: DEBFULLNAME and DEBEMAIL (or EMAIL)
maintainer="${DEBFULLNAME:-rekmod developers} <${DEBEMAIL:-${EMAIL:-rekmod@example.org}}>"
stage=$(mktemp -d)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT

# DKMS=1: the package replaces dkms, so it carries the dkms names (command,
# dkms(8), completions) as links to rekmod's
make -s -C "$top" install DESTDIR="$stage" PREFIX=/usr DKMS=1 >/dev/null
# Debian policy: stripped binaries, man pages compressed with their links
# pointing at the compressed files, a copyright file and a changelog
find "$stage/usr/sbin" "$stage/usr/lib/rekmod" -type f \( -name '*.so' -o -perm -u+x \) \
	-exec sh -c 'file -b "$1" | grep -q ELF && strip --strip-unneeded --remove-section=.comment \
		--remove-section=.note "$1"' sh {} \;
find "$stage/usr/share/man" -type f -exec gzip -9n {} +
find "$stage/usr/share/man" -type l | while read -r l; do
	ln -sfn "$(readlink "$l").gz" "$l.gz" && rm -f "$l"
done
doc=$stage/usr/share/doc/rekmod
install -d "$doc"
install -m 0644 "$here/copyright" "$doc/copyright"
{
	printf 'rekmod (%s) unstable; urgency=medium\n\n' "$version"
	printf '  * Release %s: see https://example.invalid/rekmod.\n\n' "$version"
	printf ' -- %s  %s\n' "$maintainer" \
		"$(LC_ALL=C date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n >"$doc/changelog.gz"
install -D -m 0644 "$here/lintian-overrides" "$stage/usr/share/lintian/overrides/rekmod"
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
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
	>"$stage/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: rekmod
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $size
Depends: libc6 (>= 2.34), libkmod2, libapt-pkg6.0, liblzma5, libzstd1, zlib1g, libssl3, make, kmod, patch, gcc | c-compiler
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
