# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by the integration tests that need a whole system in a scratch root
# (rpm and pacman run their scriptlets and hooks chrooted; a .deb's maintainer
# scripts too): a Debian 12 minbase with what building a kernel module needs
# (make, gcc-12, kmod) and rekmod's runtime libraries, from Debian's archive.
#
# The base is cached as build/test-cache/bookworm-build-<hash of the package
# list>.tar (never committed);
# the first test of a run creates it under a lock, the others extract it.
# Rules kept here: the root gets its own /proc and its own device nodes, never
# a bind mount of the host's /dev or /sys; callers run in a private mount
# namespace (unshare --mount) and call buildroot_release before deleting.
#
#   buildroot_new DIR [KVER...]  extract the base into DIR, copy the real
#                                headers of each KVER from the host into it
#                                (/usr/src/linux-headers-KVER{,-common...} and
#                                the kbuild tree), mount DIR/proc
#   buildroot_release DIR        unmount DIR/proc; then rm -rf --one-file-system
: "${SRCDIR:?source lib.sh first}"

BUILDROOT_CACHE=$SRCDIR/build/test-cache
BUILDROOT_MINBASE=$BUILDROOT_CACHE/bookworm-minbase.tar
BUILDROOT_MIRROR=${REKMOD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# patch: the rekmod .deb depends on it (PATCH[], as dkms does)
BUILDROOT_PACKAGES=(make gcc gcc-12 libc6-dev kmod libkmod2 liblzma5 libzstd1 zlib1g libssl3 libelf1 dwarves bc patch)
# named after the package list: a changed list makes a new base, an old cache stays valid for old trees
BUILDROOT_TAR=$BUILDROOT_CACHE/bookworm-build-$(printf '%s\n' "${BUILDROOT_PACKAGES[@]}" | sha256sum | cut -c1-12).tar

_buildroot_devnodes() {
	local c=$1 node name major minor
	mkdir -p "$c/dev/pts" "$c/dev/shm"
	for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
		IFS=: read -r name major minor <<<"$node"
		[[ -e $c/dev/$name ]] || mknod -m 0666 "$c/dev/$name" c "$major" "$minor"
	done
}

# Creates $BUILDROOT_TAR (caller holds the lock).
_buildroot_create() {
	local w rc=0
	w=$(mktemp -d "$BUILDROOT_CACHE/.buildroot.XXXXXX") || return 1
	if [[ ! -s $BUILDROOT_MINBASE ]]; then
		debootstrap --variant=minbase bookworm "$w/base" "$BUILDROOT_MIRROR" >"$w/log" 2>&1 ||
			{ tail -20 "$w/log"; rm -rf --one-file-system "$w"; return 1; }
		tar -C "$w/base" -cf "$BUILDROOT_MINBASE.tmp" . && mv "$BUILDROOT_MINBASE.tmp" "$BUILDROOT_MINBASE"
		rm -rf --one-file-system "$w/base"
	fi
	mkdir -p "$w/r"
	tar -C "$w/r" -xf "$BUILDROOT_MINBASE" || rc=1
	rm -f "$w/r/etc/apt/sources.list"
	cp /etc/apt/sources.list.d/*.sources "$w/r/etc/apt/sources.list.d/" 2>/dev/null ||
		cp /etc/apt/sources.list "$w/r/etc/apt/sources.list"
	cp /etc/resolv.conf "$w/r/etc/resolv.conf"
	_buildroot_devnodes "$w/r"
	mount -t proc proc "$w/r/proc" || rc=1
	if ((rc == 0)); then
		chroot "$w/r" env DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			sh -c 'apt-get update -q && apt-get install -y -q --no-install-recommends "$@" && apt-get clean' \
			sh "${BUILDROOT_PACKAGES[@]}" >"$w/log" 2>&1 || { tail -30 "$w/log"; rc=1; }
	fi
	umount "$w/r/proc" 2>/dev/null
	if ((rc == 0)); then
		rm -rf "$w/r/var/lib/apt/lists/"* "$w/r/dev/"*
		tar -C "$w/r" -cf "$BUILDROOT_TAR.tmp" . && mv "$BUILDROOT_TAR.tmp" "$BUILDROOT_TAR" || rc=1
	fi
	rm -rf --one-file-system "$w"
	return $rc
}

# Copies the real headers of kernel $2 from the host into root $1: the
# flavour tree, its -common tree (included by absolute path) and the kbuild
# tree its symlinks point into.
_buildroot_headers() {
	local c=$1 k=$2 d t
	d=/usr/src/linux-headers-$k
	[[ -d $d ]] || { echo "buildroot: $d is missing (run tests/deps.sh)"; return 1; }
	mkdir -p "$c/usr/src" "$c/usr/lib"
	cp -a "$d" "$c/usr/src/"
	t=/usr/src/linux-headers-${k%-*}-common
	[[ ! -d $t || -e $c$t ]] || cp -a "$t" "$c/usr/src/"
	for t in $(find "$d" -maxdepth 1 -type l -printf '%l\n' | grep -o 'linux-kbuild-[^/]*' | sort -u); do
		[[ -e $c/usr/lib/$t ]] || cp -a "/usr/lib/$t" "$c/usr/lib/"
		[[ ! -L /usr/src/$t || -e $c/usr/src/$t ]] || cp -a "/usr/src/$t" "$c/usr/src/"
	done
	return 0
}

buildroot_new() {
	local c=$1 k
	shift
	mkdir -p "$BUILDROOT_CACHE" "$c" || return 1
	(
		flock 9
		[[ -s $BUILDROOT_TAR ]] || _buildroot_create
	) 9>"$BUILDROOT_CACHE/.buildroot.lock" || { echo "buildroot: cannot create $BUILDROOT_TAR"; return 1; }
	tar -C "$c" -xf "$BUILDROOT_TAR" || return 1
	_buildroot_devnodes "$c"
	for k in "$@"; do
		_buildroot_headers "$c" "$k" || return 1
	done
	cp /etc/resolv.conf "$c/etc/resolv.conf" 2>/dev/null
	mount -t proc proc "$c/proc"
}

buildroot_release() {
	umount "$1/proc" 2>/dev/null
	return 0
}
