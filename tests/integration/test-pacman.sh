#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# hooks/pacman with the real pacman in a scratch root: `make pkg` builds the
# rekmod package with makepkg as nobody; pacman (own pacman.conf, SigLevel
# Never, no network) installs it into a cached Debian 12 build root that says
# it is Arch, then home-made packages: a module source (examples/hello), a
# headers package for K2 (usr/lib/modules/K2/build -> the real headers),
# its upgrade to K1, a module whose build fails, a kernel without headers.
# The alpm hooks run chrooted and call rekmod; the test checks the .ko files,
# their vermagic, the dkms tree, pacman's exit status and var/log/pacman.log.
# Everything runs in a private mount namespace: no mount outlives the test.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} != --inside ]]; then
	[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (chroot, mounts)"; exit 77; }
	for tool in pacman makepkg repo-add bsdtar fakeroot setpriv; do
		command -v $tool >/dev/null || { echo "SKIP: $tool is not installed (run tests/deps.sh)"; exit 77; }
	done
	exec unshare --mount --propagation private bash "${BASH_SOURCE[0]}" --inside
fi

source "$SRCDIR/tests/integration/buildroot.sh"
W=$(realpath "$(mktemp -d /tmp/rekmod-pacman.XXXXXX)")
R=$W/root
cleanup() {
	buildroot_release "$R"
	[[ -n ${KEEP:-} ]] || rm -rf --one-file-system "$W"
}
trap cleanup EXIT
chmod 0755 "$W"

make -s -C "$SRCDIR" build/rekmod build/rekmod-alpm-hook build/librekmod-alpm.so pkg >"$W/make.log" 2>&1 || { cat "$W/make.log"; exit 1; }
PKG=$(ls -t "$SRCDIR"/build/rekmod-*-1-x86_64.pkg.tar.zst | head -n 1)
buildroot_new "$R" "$K1" "$K2" >"$W/buildroot.log" 2>&1 || { cat "$W/buildroot.log"; exit 1; }
rm -f "$R/etc/os-release" "$R/usr/lib/os-release" # etc/os-release is a link to it
printf 'NAME="Arch Linux"\nID=arch\nPRETTY_NAME="Arch Linux"\n' >"$R/etc/os-release"
# the hook program and rekmod link libalpm (and what it needs): not in a Debian root
for bin in "$SRCDIR/build/rekmod" "$SRCDIR/build/rekmod-alpm-hook" "$SRCDIR/build/librekmod-alpm.so"; do
	for lib in $(ldd "$bin" | grep -o '/[^ ]*\.so[^ ]*'); do
		[[ -e $R$lib ]] || { mkdir -p "$R$(dirname "$lib")" && cp -L "$lib" "$R$lib"; }
	done
done
mkdir -p "$R/var/lib/pacman/sync" "$R/var/cache/pacman/pkg" "$R/var/log" "$R/etc/pacman.d/hooks"
cat >"$W/pacman.conf" <<CONF
[options]
RootDir = $R
DBPath = $R/var/lib/pacman/
CacheDir = $R/var/cache/pacman/pkg/
LogFile = $R/var/log/pacman.log
GPGDir = $R/etc/pacman.d/gnupg/
HookDir = $R/etc/pacman.d/hooks/
Architecture = auto
SigLevel = Never
LocalFileSigLevel = Never
CONF
pac() { pacman --config "$W/pacman.conf" --root "$R" --noconfirm --noprogressbar "$@" >>"$W/pacman.out" 2>&1; }
pac_u() { : >"$W/pacman.out"; pac -U "$@" || { cat "$W/pacman.out"; return 1; }; }

# makepkg_in NAME: build $W/pkgs/NAME/PKGBUILD as nobody; prints the package
# file, moved to $W/out
makepkg_in() {
	local d=$W/pkgs/$1 f
	chown -R nobody: "$d"
	(cd "$d" && setpriv --reuid=nobody --regid=nogroup --clear-groups env -i PATH=/usr/bin:/bin HOME="$d" \
		LC_ALL=C PKGDEST="$d" SRCDEST="$d" BUILDDIR="$d/b" makepkg -f --nodeps --noconfirm --noprogressbar) \
		>"$d/makepkg.log" 2>&1 || { cat "$d/makepkg.log" >&2; return 1; }
	f=$(ls "$d"/*.pkg.tar.* | head -n 1)
	mkdir -p "$W/out" && mv "$f" "$W/out/" && echo "$W/out/${f##*/}"
}
# pkgbuild NAME VERSION BODY: a PKGBUILD whose package() is BODY
pkgbuild() {
	rm -rf "$W/pkgs/$1"
	mkdir -p "$W/pkgs/$1"
	cat >"$W/pkgs/$1/PKGBUILD" <<PB
pkgname=$1
pkgver=$2
pkgrel=1
pkgdesc='rekmod test package'
arch=('any')
license=('GPL')
options=('!strip' '!debug')
package() {
$3
}
PB
}
headers_pkg() { # NAME KVER: usr/lib/modules/KVER/build -> the headers, and modules.order
	pkgbuild "$1" "${2//-/_}" "	mkdir -p \"\$pkgdir/usr/lib/modules/$2\"
	ln -s /usr/src/linux-headers-$2 \"\$pkgdir/usr/lib/modules/$2/build\"
	touch \"\$pkgdir/usr/lib/modules/$2/modules.order\""
	makepkg_in "$1"
}

ko() { ls "$R"/usr/lib/modules/"$2"/updates/dkms/"$1".ko* 2>/dev/null | head -n 1; }
built_for() { # MODULE KVER: installed, and its vermagic names KVER
	local f
	f=$(ko "$1" "$2")
	[[ -n $f ]] || {
		echo "no $1.ko* in $R/usr/lib/modules/$2/updates/dkms; found:" $(find "$R/usr/lib/modules" -name "$1.ko*")
		cat "$W/pacman.out"
		return 1
	}
	local vm from
	vm=$(modinfo -F vermagic "$f")
	# a build reused from an equivalent kernel keeps that kernel's release (core/lib/reuse.c)
	from=$(sed -n 's/^from=//p' "$R"/var/lib/dkms/"$1"/*/"$2"/*/.rekmod-reused 2>/dev/null | head -n 1)
	[[ $vm == "$2 "* || ( -n $from && $vm == "$from "* ) ]] || { echo "$f: vermagic $vm"; return 1; }
}
gone_for() { [[ -z $(ko "$1" "$2") && ! -e $R/var/lib/dkms/$1/0.1/$2 ]] || { ls -R "$R/var/lib/dkms/$1"; return 1; }; }
log_has() { grep -qF -- "$1" "$R/var/log/pacman.log" || { echo "not in pacman.log: $1"; tail -20 "$R/var/log/pacman.log"; return 1; }; }

install_rekmod() {
	pac_u -dd "$PKG" || return 1
	[[ -x $R/usr/bin/rekmod && -x $R/usr/lib/rekmod/rekmod-alpm-hook && -e $R/usr/lib/rekmod/librekmod-alpm.so &&
		-f $R/usr/share/libalpm/hooks/71-rekmod-install.hook && -f $R/usr/share/libalpm/hooks/50-rekmod-remove.hook &&
		! -e $R/usr/lib/rekmod/librekmod-apt.so ]] || { ls -R "$R/usr/lib/rekmod"; return 1; }
	chroot "$R" /usr/bin/rekmod --version >/dev/null
}
check "make pkg builds $(basename "$PKG"); pacman -U installs it (hooks, hook program, no apt .so)" install_rekmod

pkgbuild hello-dkms 0.1 "	mkdir -p \"\$pkgdir/usr/src\"
	cp -r \"\$startdir/hello\" \"\$pkgdir/usr/src/hello-0.1\""
cp -r "$SRCDIR/examples/hello" "$W/pkgs/hello-dkms/hello"
HELLO=$(makepkg_in hello-dkms)
install_source() {
	pac_u "$HELLO" || return 1
	[[ -L $R/var/lib/dkms/hello/0.1/source ]] || { cat "$W/pacman.out"; return 1; }
	log_has "running '71-rekmod-install.hook'"
}
check "a package shipping /usr/src/hello-0.1: the install hook ran and registered hello/0.1" install_source

H2=$(headers_pkg linux-headers "$K2")
install_headers() { pac_u "$H2" && built_for hello "$K2" && log_has "ALPM-SCRIPTLET] Building hello/0.1 for $K2"; }
check "headers package for $K2: hello built and installed for $K2 (vermagic $K2)" install_headers

pkgbuild broken-dkms 0.1 "	mkdir -p \"\$pkgdir/usr/src/broken-0.1\"
	printf '%s\n' 'PACKAGE_NAME=broken' 'PACKAGE_VERSION=0.1' 'BUILT_MODULE_NAME[0]=broken' \\
		'MAKE[0]=\"make KDIR=\$kernel_source_dir\"' 'DEST_MODULE_LOCATION[0]=/updates' 'AUTOINSTALL=yes' \\
		>\"\$pkgdir/usr/src/broken-0.1/dkms.conf\"
	printf 'all:\n\t@echo this module does not build; exit 1\n' >\"\$pkgdir/usr/src/broken-0.1/Makefile\""
BROKEN=$(makepkg_in broken-dkms)
failing_build() {
	: >"$W/pacman.out"
	pac -U "$BROKEN" || { echo "pacman failed: exit $?"; cat "$W/pacman.out"; return 1; }
	[[ -z $(ko broken "$K2") ]] || return 1
	chroot "$R" /usr/bin/rekmod status broken/0.1 | grep -q "failed" || { chroot "$R" /usr/bin/rekmod status; return 1; }
	built_for hello "$K2"
}
check "a module whose build fails: pacman exits 0, status says failed, hello stays" failing_build

H1=$(headers_pkg linux-headers "$K1")
upgrade() {
	pac_u "$H1" || return 1
	built_for hello "$K1" && gone_for hello "$K2" || return 1
	# the remove hook did it, before the transaction removed K2's files
	awk -v k="/lib/modules/$K2/updates/dkms/hello.ko" '
		/running .50-rekmod-remove.hook/ { pre = 1 } /transaction started/ { pre = 0 }
		pre && index($0, "Deleting " k) { found = 1 } END { exit !found }' "$R/var/log/pacman.log" ||
		{ echo "pacman.log: no 'Deleting ...$K2...hello.ko' from 50-rekmod-remove.hook"; tail -30 "$R/var/log/pacman.log"; return 1; }
}
check "upgrading the headers package $K2 -> $K1: built for $K1, $K2 cleaned by the remove hook" upgrade

remove_headers() {
	: >"$W/pacman.out"
	pac -R linux-headers || { cat "$W/pacman.out"; return 1; }
	gone_for hello "$K1" && [[ ! -e $R/usr/lib/modules/$K1/build ]]
}
check "removing the headers package removes hello for $K1" remove_headers

remove_source() {
	: >"$W/pacman.out"
	pac -R broken-dkms || { cat "$W/pacman.out"; return 1; }
	[[ ! -e $R/var/lib/dkms/broken && ! -e $R/usr/src/broken-0.1 && -L $R/var/lib/dkms/hello/0.1/source ]] ||
		{ ls -R "$R/var/lib/dkms"; return 1; }
}
check "removing broken-dkms unregisters broken/0.1 (hello stays registered)" remove_source

# A kernel package without headers: the hook names the headers package, found
# with libalpm in a sync database (repo-add), not installed.
K3=6.1.0-999-rekmodtest
pkgbuild linux-custom 6.1.999 "	mkdir -p \"\$pkgdir/usr/lib/modules/$K3\"
	touch \"\$pkgdir/usr/lib/modules/$K3/modules.order\""
CUSTOM=$(makepkg_in linux-custom)
pkgbuild linux-custom-headers 6.1.999 "	mkdir -p \"\$pkgdir/usr/lib/modules/$K3/build/include\""
CUSTOM_H=$(makepkg_in linux-custom-headers)
repo-add -q "$W/custom.db.tar.gz" "$CUSTOM_H" >"$W/repo-add.log" 2>&1 && cp -L "$W/custom.db.tar.gz" "$R/var/lib/pacman/sync/custom.db"
missing_headers() {
	pac_u -dd "$CUSTOM" || return 1
	grep -q "kernel $K3 has no headers.*pacman -S linux-custom-headers" "$W/pacman.out" ||
		{ cat "$W/pacman.out"; return 1; }
}
check "a kernel package without headers: the hook names linux-custom-headers (libalpm, sync db)" missing_headers
check "the hook program (--root, --print) names linux-custom-headers for $K3 from the root's pacman database" \
	bash -c "printf 'usr/lib/modules/$K3/modules.order\n' | '$SRCDIR/build/rekmod-alpm-hook' --root '$R' --print install 2>&1 |
		grep 'pacman -S linux-custom-headers'"
so_lookup() { # KVER: what librekmod-alpm.so (dlopen, as the core loads it) answers
	python3 - "$SRCDIR/build/librekmod-alpm.so" "$R" "$1" <<'PY'
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1])
f = lib.rekmod_pkgdb_headers_package
f.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
name = ctypes.c_char_p()
r = f(sys.argv[2].encode(), sys.argv[3].encode(), ctypes.byref(name))
print(r, name.value.decode() if r == 0 else "-")
PY
}
check "librekmod-alpm.so: $K3 -> linux-custom-headers, an unknown kernel -> -ENOENT, '..' -> -EINVAL" \
	bash -c "$(declare -f so_lookup); SRCDIR='$SRCDIR' R='$R'
		[[ \$(so_lookup '$K3') == '0 linux-custom-headers' && \$(so_lookup 9.9.9-none) == '-2 -' &&
			\$(so_lookup ..) == '-22 -' ]] || { so_lookup '$K3'; so_lookup 9.9.9-none; so_lookup ..; exit 1; }"
check "a malformed target is refused with one line naming it; the hook exits 0" \
	bash -c "printf 'usr/lib/modules/../../etc/modules.order\n' | '$SRCDIR/build/rekmod-alpm-hook' --root '$R' --print remove 2>&1 |
		grep -q 'target \"usr/lib/modules/../../etc/modules.order\".*ignored'"
summary
