#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dkms-name.sh check|remove DESTDIR PATH TARGET: the dkms names `make install
# DKMS=1` provides are links (PATH -> TARGET, in the same directory).
#   check   fails, with one line naming the file and the fix, when PATH (or
#           PATH.gz, a packaged man page) exists and is not that link;
#   remove  removes PATH only while it is that link.
set -euo pipefail
op=$1 destdir=$2 path=$3 target=$4
p=$destdir$path

ours() { [[ -L $1 && $(readlink "$1") == "$target" ]]; }

# the package that owns a path of the running system, if any
owner() {
	[[ -z $destdir ]] || return 0
	if command -v dpkg-query >/dev/null; then
		dpkg-query -S "$1" 2>/dev/null | sed -n '1s/:.*//p'
	elif command -v rpm >/dev/null; then
		rpm -qf --qf '%{NAME}\n' "$1" 2>/dev/null | grep -v 'not owned' | head -n 1
	fi
}

case $op in
check)
	for f in "$p" "$p.gz"; do
		[[ -e $f || -L $f ]] || continue
		[[ $f == "$p" ]] && ours "$f" && continue
		pkg=$(owner "${f#"$destdir"}")
		echo "make install DKMS=1: $f exists and is not rekmod's link${pkg:+ (package $pkg owns it)};" \
			"remove ${pkg:+package $pkg (apt remove $pkg) or }that file first, or run make install without DKMS=1" >&2
		exit 1
	done
	;;
remove)
	if ours "$p"; then
		rm -f "$p"
	elif [[ -e $p || -L $p ]]; then
		echo "make uninstall: keeping $p (not rekmod's link to $target)"
	fi
	;;
*)
	echo "dkms-name.sh: unknown operation $op; use check or remove" >&2
	exit 1
	;;
esac
