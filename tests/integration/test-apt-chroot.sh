#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# hooks/apt in a debootstrap'd Debian 12 chroot with the real apt and real
# packages from Debian's archive: the rekmod .deb installs with apt in place of
# dkms; the real acpi-call-dkms installs; each real linux-headers package that
# arrives builds and installs the module for its kernel through the real
# Debian hooks; removing a headers package removes its modules.
# The base system is cached in build/test-cache (a tarball, never committed).
# Everything runs in a private mount namespace: no mount outlives the test.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} != --inside ]]; then
	[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (chroot, mounts)"; exit 77; }
	command -v debootstrap >/dev/null || { echo "SKIP: debootstrap is not installed"; exit 77; }
	exec unshare --mount --propagation private bash "${BASH_SOURCE[0]}" --inside
fi

CACHE=$SRCDIR/build/test-cache
BASE=$CACHE/bookworm-minbase.tar
MIRROR=${REKMOD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
W=$(realpath "$(mktemp -d /tmp/rekmod-chroot.XXXXXX)")
C=$W/chroot
# The chroot gets its own /proc and a few device nodes of its own: no bind
# mount of the host's /dev or /sys. Unmount before deleting, and never let rm
# cross into another file system.
cleanup() {
	umount "$C/proc" 2>/dev/null
	[[ -n ${KEEP:-} ]] || rm -rf --one-file-system "$W"
}
trap cleanup EXIT

make -s -C "$SRCDIR" deb >"$W/deb.log" 2>&1 || { cat "$W/deb.log"; exit 1; }
DEB=$(ls "$SRCDIR"/build/rekmod_*.deb | head -n 1)

if [[ ! -s $BASE ]]; then
	mkdir -p "$CACHE"
	debootstrap --variant=minbase bookworm "$W/base" "$MIRROR" >"$W/debootstrap.log" 2>&1 ||
		{ tail -20 "$W/debootstrap.log"; exit 1; }
	tar -C "$W/base" -cf "$BASE.tmp" . && mv "$BASE.tmp" "$BASE"
	rm -rf "$W/base"
fi
mkdir -p "$C"
tar -C "$C" -xf "$BASE"
# the host's apt sources (bookworm, -updates, -security: the newest 6.1 ABI is in -security)
rm -f "$C/etc/apt/sources.list"
cp /etc/apt/sources.list.d/*.sources "$C/etc/apt/sources.list.d/" 2>/dev/null ||
	cp /etc/apt/sources.list "$C/etc/apt/sources.list"
cp /etc/resolv.conf "$C/etc/resolv.conf"
mkdir -p "$C/dev/pts" "$C/dev/shm"
for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
	IFS=: read -r name major minor <<<"$node"
	[[ -e $C/dev/$name ]] || mknod -m 0666 "$C/dev/$name" c "$major" "$minor"
done
mount -t proc proc "$C/proc"
cp "$DEB" "$C/tmp/rekmod.deb"

in_chroot() { chroot "$C" env DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
apt_install() { in_chroot apt-get install -y -q --no-install-recommends "$@"; }

installed_for() { [[ -f $C/lib/modules/$1/updates/dkms/acpi_call.ko ]]; }
vermagic_for() { # its own release, or that of the kernel whose equivalent build was reused (core/lib/reuse.c)
	local vm from
	vm=$(modinfo -F vermagic "$C/lib/modules/$1/updates/dkms/acpi_call.ko")
	from=$(sed -n 's/^from=//p' "$C"/var/lib/dkms/acpi-call/*/"$1"/*/.rekmod-reused 2>/dev/null | head -n 1)
	[[ $vm == "$1 "* || ( -n $from && $vm == "$from "* ) ]]
}

rekmod_by_apt() {
	in_chroot apt-get update -q >"$W/out" 2>&1 || { tail -20 "$W/out"; return 1; }
	apt_install /tmp/rekmod.deb >"$W/out" 2>&1 || { tail -30 "$W/out"; return 1; }
	[[ -x $C/usr/sbin/dkms && -x $C/etc/kernel/header_postinst.d/50rekmod ]]
}
check "apt installs the rekmod .deb (with its dependencies) in a fresh Debian 12" rekmod_by_apt

real_dkms_package() {
	apt_install acpi-call-dkms >"$W/out" 2>&1 || { tail -30 "$W/out"; return 1; }
	in_chroot dpkg -l acpi-call-dkms | grep -q '^ii' && ! in_chroot dpkg -l dkms 2>/dev/null | grep -q '^ii' &&
		in_chroot rekmod status | grep -q '^acpi-call/' || { tail -30 "$W/out"; return 1; }
}
check "the real acpi-call-dkms installs against rekmod (no dkms) and registers" real_dkms_package

headers_build() {
	apt_install "linux-headers-$1" >"$W/out" 2>&1 || { tail -30 "$W/out"; return 1; }
	installed_for "$1" && vermagic_for "$1" || { tail -40 "$W/out"; in_chroot rekmod status; return 1; }
}
check "installing linux-headers-$K1 builds and installs acpi_call for $K1" headers_build "$K1"
check "installing linux-headers-$K2 builds and installs acpi_call for $K2" headers_build "$K2"

status_lines() {
	local st
	st=$(in_chroot rekmod status)
	grep -q "^acpi-call/.*, $K1, x86_64: installed" <<<"$st" &&
		grep -q "^acpi-call/.*, $K2, x86_64: installed" <<<"$st" || { echo "$st"; return 1; }
}
check "status shows acpi-call installed for both kernels" status_lines

headers_removed() {
	in_chroot apt-get remove -y -q "linux-headers-$K2" >"$W/out" 2>&1 || { tail -30 "$W/out"; return 1; }
	! installed_for "$K2" && installed_for "$K1" || { tail -30 "$W/out"; find "$C/lib/modules"; return 1; }
	! in_chroot rekmod status | grep -q "$K2"
}
check "apt-get remove of linux-headers-$K2 removes its modules, keeps $K1's" headers_removed

image_without_headers() {
	# the APT hook runs before dpkg; dpkg is replaced by /bin/true, so the
	# image is only downloaded, nothing is installed
	in_chroot apt-get install -y -q --no-install-recommends -o Dir::Bin::dpkg=/bin/true \
		"linux-image-$K2" >"$W/out" 2>&1 || { tail -30 "$W/out"; return 1; }
	grep -q "rekmod: linux-image-$K2 is being installed without linux-headers-$K2.*add linux-headers-$K2" "$W/out" ||
		{ tail -30 "$W/out"; return 1; }
}
check "the APT pre-install hook warns when linux-image-$K2 comes without its headers" image_without_headers

summary
