#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The dkms verbs beyond add/build/install: mktarball and ldtarball (in both
# directions with Debian's dkms 3.0.10), prebuilt modules refused for a
# kernel they were not built for, match, kernel_preinst/kernel_prerm,
# build/install --all, /usr/share/dkms/modules_to_force_install, and the
# headers-package hint of a Fedora root. Real headers, real make.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DKMS=/usr/sbin/dkms
W=$(mktemp -d /tmp/rekmod-verbs.XXXXXX)
trap 'rm -rf --one-file-system "$W"' EXIT
R=$W/root
new_root "$R"
cp -a "$SRCDIR/examples/hello" "$R/usr/src/hello-0.1"
rk() { "$REKMOD" --root "$R" "$@"; }
# Debian's dkms in a scratch world; sign_file/mok paths keep it out of /var/lib/dkms
dk() {
	env sign_file=/nonexistent/sign-file mok_signing_key="$W/d/mok.key" mok_certificate="$W/d/mok.pub" \
		"$DKMS" --dkmstree "$W/d/dkms" --sourcetree "$W/d/src" --installtree "$W/d/modules" --no-depmod "$@"
}
mkdir -p "$W/d/dkms" "$W/d/src"
for k in "$K1" "$K2"; do
	mkdir -p "$W/d/modules/$k"
	ln -s "/usr/src/linux-headers-$k" "$W/d/modules/$k/build"
done
vermagic() { modinfo -F vermagic "$1" | cut -d' ' -f1; }

rk add hello/0.1 >/dev/null && rk build hello/0.1 -k "$K1" -k "$K2" >"$W/build.log" 2>&1 || { cat "$W/build.log"; exit 1; }

mktarball_layout() {
	rk mktarball hello/0.1 -k "$K1" -k "$K2" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	local t=$R/var/lib/dkms/hello/0.1/tarball/hello-0.1-kernel$K1-$ARCH-kernel$K2-$ARCH.dkms.tar.gz
	[[ -s $t ]] || { cat "$W/out"; ls -R "$R/var/lib/dkms/hello/0.1"; return 1; }
	tar tzf "$t" | sort >"$W/list"
	grep -qx "./dkms_main_tree/$K1/$ARCH/module/hello.ko" "$W/list" &&
		grep -qx "./dkms_main_tree/$K2/$ARCH/module/hello.ko" "$W/list" &&
		grep -qx "./dkms_source_tree/dkms.conf" "$W/list" &&
		grep -q "^Tarball location: .*/tarball//hello-0.1-kernel$K1" "$W/out" || { cat "$W/list" "$W/out"; return 1; }
	cp "$t" "$W/rk.tar.gz"
}
check "mktarball writes dkms's layout and name under <tree>/hello/0.1/tarball/" mktarball_layout

dkms_loads_ours() {
	# dkms 3.0.10 loads only the first kernel of a tarball (a `local -r` in its
	# loop), so the check is on a one-kernel tarball
	rk mktarball hello/0.1 -k "$K1" --archive "$W/rk1.tar.gz" >/dev/null || return 1
	dk ldtarball "$W/rk1.tar.gz" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	dk status | grep -qx "hello/0.1, $K1, $ARCH: built" || { dk status; cat "$W/out"; return 1; }
	dk install hello/0.1 -k "$K1" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	! grep -q "Building module" "$W/out" && [[ $(vermagic "$W/d/modules/$K1/updates/dkms/hello.ko") == "$K1" ]] ||
		{ cat "$W/out"; return 1; }
}
check "Debian's dkms loads a rekmod tarball and installs the prebuilt module without building" dkms_loads_ours

we_load_dkms() {
	dk build hello/0.1 -k "$K2" >/dev/null 2>&1 || return 1
	dk mktarball hello/0.1 -k "$K2" --archive "$W/dk.tar.gz" >/dev/null 2>&1 || return 1
	local R2=$W/r2
	new_root "$R2"
	"$REKMOD" --root "$R2" ldtarball "$W/dk.tar.gz" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	"$REKMOD" --root "$R2" status | grep -qx "hello/0.1, $K2, $ARCH: built" || return 1
	[[ -f $R2/usr/src/hello-0.1/dkms.conf ]] || return 1
	"$REKMOD" --root "$R2" install hello/0.1 -k "$K2" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	[[ ! -e $R2/var/lib/dkms/hello/0.1/build/hello.o ]] &&
		[[ $(vermagic "$R2/lib/modules/$K2/updates/dkms/hello.ko") == "$K2" ]] || { cat "$W/out"; return 1; }
}
check "rekmod loads a tarball made by Debian's dkms and installs its prebuilt module without building" we_load_dkms

sync_installs_prebuilt() {
	local R7=$W/r7
	new_root "$R7"
	"$REKMOD" --root "$R7" ldtarball "$W/rk1.tar.gz" >"$W/out" 2>&1 &&
		"$REKMOD" --root "$R7" sync --kernel "$K1" >>"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	grep -q "Installing the build of hello/0.1 for $K1" "$W/out" && grep -q "0 built, 1 installed" "$W/out" &&
		[[ ! -e $R7/var/lib/dkms/hello/0.1/build/hello.o ]] &&
		"$REKMOD" --root "$R7" status | grep -qx "hello/0.1, $K1, $ARCH: installed" || { cat "$W/out"; return 1; }
}
check "sync installs a loaded prebuilt module without compiling it" sync_installs_prebuilt

binaries_only() {
	rk mktarball hello/0.1 -k "$K2" --binaries-only --archive "$W/bo.tar.xz" >/dev/null || return 1
	tar tJf "$W/bo.tar.xz" | grep -qx './dkms_binaries_only/PACKAGE_NAME' || return 1
	! tar tJf "$W/bo.tar.xz" | grep -q dkms_source_tree || return 1
	local R3=$W/r3
	new_root "$R3"
	"$REKMOD" --root "$R3" ldtarball "$W/bo.tar.xz" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	"$REKMOD" --root "$R3" install hello/0.1 -k "$K2" >>"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	[[ -f $R3/lib/modules/$K2/updates/dkms/hello.ko && ! -e $R3/usr/src/hello-0.1 ]] || { cat "$W/out"; return 1; }
	# no source: another kernel cannot be built, with dkms's message
	! "$REKMOD" --root "$R3" install hello/0.1 -k "$K1" >"$W/out" 2>&1 &&
		grep -q "does not appear to have module source" "$W/out" || { cat "$W/out"; return 1; }
}
check "a --binaries-only tarball installs its module where there is no source, and cannot build others" binaries_only

plain_source_tarball() {
	# not made by mktarball: a tarball of a source tree with its dkms.conf a few levels down
	local x=$W/plain R8=$W/r8
	mkdir -p "$x/pkg/src" && cp -a "$SRCDIR/examples/hello" "$x/pkg/src/hello-0.1" &&
		tar -C "$x" -czf "$W/plain.tar.gz" pkg || return 1
	new_root "$R8"
	"$REKMOD" --root "$R8" ldtarball "$W/plain.tar.gz" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	[[ -f $R8/usr/src/hello-0.1/hello.c ]] && "$REKMOD" --root "$R8" status | grep -qx "hello/0.1: added" ||
		{ cat "$W/out"; return 1; }
}
check "ldtarball of a plain source tarball registers the source found inside" plain_source_tarball

wrong_kernel_refused() {
	# a tarball whose K1 directory holds the module built for K2
	local x=$W/x R4=$W/r4
	mkdir -p "$x" && tar -C "$x" -xzf "$W/rk.tar.gz" || return 1
	rm -rf "$x/dkms_main_tree/$K2"
	cp "$R/var/lib/dkms/hello/0.1/$K2/$ARCH/module/hello.ko" "$x/dkms_main_tree/$K1/$ARCH/module/hello.ko"
	tar -C "$x" -czf "$W/bad.tar.gz" . || return 1
	new_root "$R4"
	"$REKMOD" --root "$R4" ldtarball "$W/bad.tar.gz" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	grep -q "^Warning: the prebuilt modules of hello/0.1 for $K1 ($ARCH) are not loaded: hello.ko has vermagic \"$K2 " "$W/out" ||
		{ cat "$W/out"; return 1; }
	[[ ! -e $R4/var/lib/dkms/hello/0.1/$K1 ]] || return 1
	# the source came with it: install compiles for K1
	"$REKMOD" --root "$R4" install hello/0.1 -k "$K1" >"$W/out" 2>&1 &&
		[[ $(vermagic "$R4/lib/modules/$K1/updates/dkms/hello.ko") == "$K1" ]] || { cat "$W/out"; return 1; }
}
check "ldtarball refuses a prebuilt module whose vermagic names another kernel; install compiles instead" wrong_kernel_refused

ldtarball_twice() {
	rk ldtarball "$W/rk.tar.gz" >"$W/out" 2>&1
	local rc=$?
	dk ldtarball "$W/rk1.tar.gz" >"$W/out2" 2>&1
	local drc=$?
	[[ $rc == 8 && $drc == 8 ]] && grep -q "^Error! hello-0.1 is already added!" "$W/out" ||
		{ echo "rekmod $rc dkms $drc"; cat "$W/out" "$W/out2"; return 1; }
}
check "ldtarball of an added module: exit 8 and dkms's message, as dkms" ldtarball_twice

match_verb() {
	rk install hello/0.1 -k "$K1" >/dev/null || return 1
	rk uninstall hello/0.1 -k "$K2" >/dev/null || return 1
	rk match --templatekernel "$K1" -k "$K2" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	rk status | grep -qx "hello/0.1, $K2, $ARCH: installed" || { rk status; cat "$W/out"; return 1; }
	rk match --templatekernel "$K1" -k "$K1" >/dev/null 2>&1
	[[ $? == 2 ]] || return 1
	rk match -k "$K1" >/dev/null 2>&1
	[[ $? == 1 ]]
}
check "match installs on K2 what is installed on K1; same kernel exits 2, no template 1" match_verb

kernel_hooks() {
	rk kernel_prerm -k "$K2" >"$W/out" 2>"$W/err" || { cat "$W/out" "$W/err"; return 1; }
	grep -qx "dkms: removing module hello/0.1 for kernel $K2 ($ARCH)" "$W/err" || { cat "$W/err"; return 1; }
	[[ ! -e $R/lib/modules/$K2/updates/dkms/hello.ko && ! -e $R/var/lib/dkms/hello/0.1/$K2 ]] || return 1
	rk status | grep -q "$K1, $ARCH: installed" || return 1
	rk kernel_preinst -k "$K1" -k "$K2" >/dev/null 2>&1
	[[ $? == 4 ]]
}
check "kernel_prerm unbuilds every module of the kernel (stderr line as dkms), others stay; two -k exit 4" kernel_hooks

all_kernels() {
	rk install hello/0.1 --all >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	rk status | grep -qx "hello/0.1, $K1, $ARCH: installed" &&
		rk status | grep -qx "hello/0.1, $K2, $ARCH: installed" || { rk status; cat "$W/out"; return 1; }
	rk build hello/0.1 -k "$K1" --all >/dev/null 2>&1
	[[ $? == 2 ]]
}
check "install --all installs for every kernel with headers; --all with -k exits 2" all_kernels

forced() {
	# an unversioned in-tree module with the same name: refused by the version
	# check unless the distribution lists it as forced
	local R5=$W/r5 d
	new_root "$R5"
	cp -a "$SRCDIR/examples/hello" "$R5/usr/src/hello-0.1"
	d=$R5/lib/modules/$K1/kernel/drivers/misc
	mkdir -p "$d"
	cp "$R/var/lib/dkms/hello/0.1/$K1/$ARCH/module/hello.ko" "$d/hello.ko"
	local rc=0 # dkms 3.x: the refused module is skipped, none installed is exit 6
	"$REKMOD" --root "$R5" install hello/0.1 -k "$K1" >"$W/out" 2>&1 || rc=$?
	((rc == 6)) && [[ ! -e $R5/lib/modules/$K1/updates/dkms/hello.ko ]] && grep -q "already installed at version" "$W/out" ||
		{ echo "not refused without the list:"; cat "$W/out"; return 1; }
	"$REKMOD" --root "$R5" uninstall hello/0.1 -k "$K1" >/dev/null 2>&1
	mkdir -p "$R5/usr/share/dkms/modules_to_force_install"
	echo "other hello" >"$R5/usr/share/dkms/modules_to_force_install/distro"
	"$REKMOD" --root "$R5" install hello/0.1 -k "$K1" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	grep -qx "Forcing installation of hello" "$W/out" && [[ -f $R5/lib/modules/$K1/updates/dkms/hello.ko ]] ||
		{ cat "$W/out"; return 1; }
}
check "/usr/share/dkms/modules_to_force_install forces the install of a listed module" forced

fedora_hint() {
	local R6=$W/r6
	new_root "$R6"
	printf 'NAME=Fedora\nID=fedora\n' >"$R6/etc/os-release"
	cp -a "$SRCDIR/examples/hello" "$R6/usr/src/hello-0.1"
	mkdir -p "$R6/lib/modules/6.99.0-1.fc99.x86_64/kernel"
	touch "$R6/lib/modules/6.99.0-1.fc99.x86_64/modules.order"
	"$REKMOD" --root "$R6" add hello/0.1 >/dev/null || return 1
	REKMOD_PKGDB_BACKEND=/nonexistent "$REKMOD" --root "$R6" sync --kernel 6.99.0-1.fc99.x86_64 >"$W/out" 2>&1
	grep -q "kernel-devel-6.99.0-1.fc99.x86_64" "$W/out" || { cat "$W/out"; return 1; }
}
check "a Fedora root without a package backend names kernel-devel-<kver> for a kernel without headers" fedora_hint

summary
