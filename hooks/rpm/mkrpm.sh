#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# mkrpm.sh VERSION OUT.rpm: the rekmod binary package. `make install` and
# `make install-rpm-hooks` into a staging tree, rekmod.spec.in filled in,
# rpmbuild -bb with a temporary _topdir and rpm database. No network.
set -euo pipefail
version=$1
out=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
stage=$work/stage
mkdir -p "$stage" "$work/top/SPECS" "$work/db"

# DKMS=1: the package provides dkms, with its command, man page and completion names
make -s -C "$top" install install-rpm-hooks DESTDIR="$stage" PREFIX=/usr DKMS=1 \
	ZSHCOMPDIR=/usr/share/zsh/site-functions >"$work/make.log" 2>&1 ||
	{ cat "$work/make.log"; exit 1; }
rm -f "$stage/usr/lib/rekmod/librekmod-apt.so" # Debian's libapt-pkg: not for rpm systems
sed -e "s|@VERSION@|$version|g" "$here/rekmod.spec.in" >"$work/top/SPECS/rekmod.spec"
rpmbuild --quiet -bb \
	--define "_topdir $work/top" --define "_dbpath $work/db" --define "stage $stage" \
	"$work/top/SPECS/rekmod.spec" >"$work/rpmbuild.log" 2>&1 || { cat "$work/rpmbuild.log"; exit 1; }
rpmfile=$(find "$work/top/RPMS" -name "rekmod-$version-1.*.rpm" | head -n 1)
[[ -n $rpmfile ]] || { echo "mkrpm.sh: rpmbuild made no rekmod-$version-1.*.rpm (log: see above)"; cat "$work/rpmbuild.log"; exit 1; }
mkdir -p "$(dirname "$out")"
cp "$rpmfile" "$out"
