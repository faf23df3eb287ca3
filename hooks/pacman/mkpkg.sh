#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# mkpkg.sh VERSION OUT.pkg.tar.zst: the Arch package. The source tarball of
# this tree (without build/ and .git) and hooks/pacman/PKGBUILD go into a
# temporary directory owned by nobody; makepkg runs there as nobody (it
# refuses root), builds from source and packages. No network.
set -euo pipefail
version=$1
out=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
command -v makepkg >/dev/null || { echo "mkpkg.sh: makepkg is not installed (apt-get install makepkg)"; exit 1; }
command -v bsdtar >/dev/null || { echo "mkpkg.sh: makepkg needs bsdtar (apt-get install libarchive-tools)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf --one-file-system "$work"' EXIT
mkdir -p "$work/out"
tar -C "$top" --exclude=./build --exclude=./.git --transform "s|^\.|rekmod-$version|" \
	-czf "$work/rekmod-$version.tar.gz" .
sed -e "s/^pkgver=.*/pkgver=$version/" "$here/PKGBUILD" >"$work/PKGBUILD"
chown -R nobody: "$work"
run=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work" LC_ALL=C PKGDEST="$work/out"
	SRCDEST="$work" BUILDDIR="$work/b" PKGEXT=.pkg.tar.zst MAKEFLAGS=-j"$(nproc)"
	makepkg -f --nodeps --noconfirm --noprogressbar)
if [[ $(id -u) -eq 0 ]]; then
	run=(setpriv --reuid=nobody --regid=nogroup --clear-groups "${run[@]}")
fi
(cd "$work" && "${run[@]}") >"$work/makepkg.log" 2>&1 || {
	cat "$work/makepkg.log"
	echo "mkpkg.sh: makepkg failed in $work (log above)"
	exit 1
}
pkg=$(find "$work/out" -name "rekmod-$version-1-*.pkg.tar.zst" | head -n 1)
[[ -n $pkg ]] || { cat "$work/makepkg.log"; echo "mkpkg.sh: makepkg made no rekmod-$version-1-*.pkg.tar.zst"; exit 1; }
mkdir -p "$(dirname "$out")"
cp "$pkg" "$out"
