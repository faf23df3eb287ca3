#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The README's "Install rekmod in place of dkms" and "Switch back to dkms",
# tried as a user would in a Debian 12 chroot with the real apt: Debian's
# dkms and the real acpi-call-dkms are installed and the module is built and
# installed by dkms for a kernel with headers; `apt install ./rekmod.deb`
# removes dkms and installs rekmod, which sees the module as dkms left it and
# provides the dkms command, dkms(8) and the dkms completion; then
# `apt install dkms` removes rekmod, and dkms's status and remove work on the
# tree rekmod kept.
# The chroot is the cached Debian 12 build root of buildroot.sh (apt lists are
# fetched from Debian's archive); the .debs apt downloads are kept in
# build/test-cache/switch-archives. Everything runs in a private mount
# namespace; nothing outside the chroot is touched.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} != --inside ]]; then
	[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (chroot, mounts)"; exit 77; }
	command -v debootstrap >/dev/null || { echo "SKIP: debootstrap is not installed"; exit 77; }
	exec unshare --mount --propagation private bash "${BASH_SOURCE[0]}" --inside
fi
source "$(dirname "${BASH_SOURCE[0]}")/buildroot.sh"

ACPI_DEB=$(find "$SRCDIR/build/test-cache/debs" -maxdepth 1 -name 'acpi-call-dkms_*.deb' -print -quit 2>/dev/null)
[[ -n $ACPI_DEB ]] || { echo "SKIP: acpi-call-dkms is not cached in build/test-cache/debs (tests/deps.sh)"; exit 77; }
ARCHIVES=$SRCDIR/build/test-cache/switch-archives
W=$(realpath "$(mktemp -d /tmp/rekmod-switch.XXXXXX)")
C=$W/chroot
cleanup() {
	buildroot_release "$C"
	[[ -n ${KEEP:-} ]] || rm -rf --one-file-system "$W"
}
trap cleanup EXIT

make -s -C "$SRCDIR" deb >"$W/deb.log" 2>&1 || { cat "$W/deb.log"; exit 1; }
DEB=$(ls "$SRCDIR"/build/rekmod_*.deb | head -n 1)
buildroot_new "$C" "$K1" >"$W/buildroot.log" 2>&1 || { cat "$W/buildroot.log"; exit 1; }
# the headers are there as a linux-headers package leaves them
mkdir -p "$C/lib/modules/$K1"
ln -sfn "/usr/src/linux-headers-$K1" "$C/lib/modules/$K1/build"
# bash's <(...) needs /dev/fd (dkms uses it); the root has its own /proc
ln -sfn /proc/self/fd "$C/dev/fd"
cp "$DEB" "$C/tmp/rekmod.deb"
cp "$ACPI_DEB" "$C/tmp/acpi-call-dkms.deb"
mkdir -p "$ARCHIVES" "$C/var/cache/apt/archives"
cp "$ARCHIVES"/*.deb "$C/var/cache/apt/archives/" 2>/dev/null

in_chroot() { chroot "$C" env DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@" </dev/null; }
apt_install() {
	in_chroot apt-get install -y -q --no-install-recommends "$@" >"$W/out" 2>&1
	local rc=$?
	cp -n "$C"/var/cache/apt/archives/*.deb "$ARCHIVES/" 2>/dev/null
	((rc == 0)) || { tail -30 "$W/out"; return 1; }
}
is_ii() { in_chroot dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
ko=$C/lib/modules/$K1/updates/dkms/acpi_call.ko
ACPI_V=$(dpkg-deb -f "$ACPI_DEB" Version | sed 's/-[^-]*$//')

with_dkms() {
	in_chroot apt-get update -q >"$W/out" 2>&1 || { tail -20 "$W/out"; return 1; }
	apt_install dkms /tmp/acpi-call-dkms.deb || return 1
	is_ii dkms && is_ii acpi-call-dkms && ! is_ii rekmod || return 1
	# built by the package's postinst for the kernels dkms picks, or by hand
	[[ -f $ko ]] || in_chroot dkms install "acpi-call/$ACPI_V" -k "$K1" >"$W/out" 2>&1 ||
		{ tail -30 "$W/out"; return 1; }
	[[ -f $ko ]] && in_chroot dkms status | grep -q "^acpi-call/$ACPI_V, $K1, $ARCH: installed" ||
		{ in_chroot dkms status; return 1; }
}
check "Debian's dkms and acpi-call-dkms: acpi_call built and installed by dkms for $K1" with_dkms
md5_before=$(md5sum <"$ko" 2>/dev/null)

to_rekmod() {
	apt_install /tmp/rekmod.deb || return 1
	is_ii rekmod && ! is_ii dkms && is_ii acpi-call-dkms ||
		{ in_chroot dpkg -l rekmod dkms acpi-call-dkms; return 1; }
	grep -q 'Removing dkms' "$W/out" || { echo "apt did not say it removes dkms"; tail -30 "$W/out"; return 1; }
}
check "apt install ./rekmod_<v>_<arch>.deb removes dkms and installs rekmod" to_rekmod

rekmod_sees_module() {
	local st
	st=$(in_chroot dkms status) || return 1
	[[ $st == "acpi-call/$ACPI_V, $K1, $ARCH: installed" ]] || { echo "dkms status: $st"; return 1; }
	[[ $(in_chroot rekmod status) == "$st" ]] || return 1
	[[ $(md5sum <"$ko") == "$md5_before" ]] || { echo "the module dkms installed was replaced"; return 1; }
}
check "under rekmod, dkms status and rekmod status show the module dkms installed, untouched" rekmod_sees_module

dkms_names() {
	[[ $(readlink "$C/usr/sbin/dkms") == rekmod && -e $C/usr/share/man/man8/dkms.8.gz &&
		$(readlink "$C/usr/share/man/man8/dkms.8.gz") == rekmod.8.gz &&
		-f $C/usr/share/man/man5/dkms.conf.5.gz &&
		$(readlink "$C/usr/share/bash-completion/completions/dkms") == rekmod ]] ||
		{ ls -l "$C/usr/sbin/dkms" "$C/usr/share/man/man8" "$C/usr/share/bash-completion/completions"; return 1; }
	in_chroot dpkg-query -S /etc/dkms/framework.conf | grep -q '^rekmod:' &&
		cmp "$SRCDIR/man/framework.conf" "$C/etc/dkms/framework.conf" ||
		{ echo "/etc/dkms/framework.conf is not rekmod's template"; return 1; }
}
check "rekmod provides /usr/sbin/dkms, dkms(8), dkms.conf(5), the dkms completion; framework.conf is its template" dkms_names

rekmod_works() {
	in_chroot rekmod unbuild "acpi-call/$ACPI_V" -k "$K1" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	[[ ! -f $ko ]] || return 1
	# unbuild -k K1 is the user's decision: sync leaves the module off K1 ...
	in_chroot rekmod sync >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	[[ ! -f $ko ]] || { echo "sync put back a module the user unbuilt"; cat "$W/out"; return 1; }
	# ... until the user builds it for K1 again; sync then installs that build
	in_chroot rekmod build "acpi-call/$ACPI_V" -k "$K1" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	in_chroot rekmod sync >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	[[ -f $ko && $(modinfo -F vermagic "$ko") == "$K1 "* ]] || { cat "$W/out"; return 1; }
	in_chroot rekmod status | grep -q "^acpi-call/$ACPI_V, $K1, $ARCH: installed"
}
check "rekmod unbuilds the module dkms registered, sync keeps it off, a build brings it back (sync installs it)" rekmod_works

back_to_dkms() {
	apt_install dkms || return 1
	is_ii dkms && ! is_ii rekmod && is_ii acpi-call-dkms || { in_chroot dpkg -l rekmod dkms acpi-call-dkms; return 1; }
	[[ -f $C/usr/sbin/dkms && ! -L $C/usr/sbin/dkms ]] || return 1
	in_chroot dpkg-query -S /usr/sbin/dkms | grep -q '^dkms:'
}
check "apt install dkms removes rekmod and brings Debian's dkms back" back_to_dkms

dkms_sees_module() {
	local st
	st=$(in_chroot dkms status 2>&1) || { echo "$st"; return 1; }
	# no warning either: the output is the one line
	[[ $st == "acpi-call/$ACPI_V, $K1, $ARCH: installed" ]] || { echo "dkms status: $st"; return 1; }
}
check "Debian's dkms status lists the module rekmod built and installed" dkms_sees_module

dkms_removes() {
	in_chroot dkms remove "acpi-call/$ACPI_V" --all >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	[[ ! -f $ko && -z $(in_chroot dkms status) && ! -d $C/var/lib/dkms/acpi-call ]] ||
		{ cat "$W/out"; in_chroot dkms status; find "$C/var/lib/dkms"; return 1; }
}
check "Debian's dkms removes it from the tree rekmod kept (remove --all)" dkms_removes

summary
