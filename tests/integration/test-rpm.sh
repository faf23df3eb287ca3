#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# hooks/rpm with the real rpm in a scratch root (the cached Debian 12 build
# root: rpm runs the scriptlets chrooted into it): the rekmod rpm from
# `make rpm` installs; a home-made module-source rpm (/usr/src/hello-0.1)
# registers examples/hello; a home-made kernel-devel rpm (/usr/src/kernels/K1
# and /usr/lib/modules/K1/build linked to the real headers) builds and
# installs it under /extra (os-release says Fedora) through
# %transfiletriggerin; a module whose build fails leaves rpm's exit status 0
# and is recorded; upgrading rekmod leaves the module alone; a kernel-core
# without devel gets the exact kernel-devel package named by librpm; erasing
# kernel-devel removes the module (%transfiletriggerun); erasing rekmod
# removes what it installed. Runs in a private mount namespace.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} != --inside ]]; then
	[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (chroot, mounts)"; exit 77; }
	for t in rpm rpmbuild pkg-config; do
		command -v $t >/dev/null || { echo "SKIP: $t is not installed (run tests/deps.sh)"; exit 77; }
	done
	pkg-config --exists rpm || { echo "SKIP: librpm-dev is not installed (run tests/deps.sh)"; exit 77; }
	exec unshare --mount --propagation private bash "${BASH_SOURCE[0]}" --inside
fi
source "$SRCDIR/tests/integration/buildroot.sh"

W=$(realpath "$(mktemp -d /tmp/rekmod-rpm.XXXXXX)")
R=$W/root
cleanup() {
	buildroot_release "$R"
	[[ -n ${KEEP:-} ]] || rm -rf --one-file-system "$W"
}
trap cleanup EXIT

RPM() { rpm --root "$R" --dbpath /var/lib/rpm "$@"; }
in_root() { chroot "$R" env LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
BUILT=$SRCDIR/build
K2V=${K2%%-*} K2R=${K2#*-}
K2R=${K2R//-/.}

make -s -C "$SRCDIR" rpm >"$W/make.log" 2>&1 || { cat "$W/make.log"; exit 1; }
RPMFILE=$(ls "$BUILT"/rekmod-*-1."$(rpm --eval '%{_arch}')".rpm | head -n 1)

buildroot_new "$R" "$K1" >"$W/root.log" 2>&1 || { cat "$W/root.log"; exit 1; }
rm -f "$R/etc/os-release"
printf 'NAME="Fedora Linux"\nID=fedora\nVERSION_ID=39\n' >"$R/etc/os-release"
# librpm and its configuration for librekmod-rpm.so inside the root, as on
# any rpm system (the root's other libraries come from Debian, not from rpms)
mkdir -p "$R/usr/lib/rpm"
cp -a /usr/lib/rpm/rpmrc /usr/lib/rpm/macros /usr/lib/rpm/platform "$R/usr/lib/rpm/"
for lib in $(ldd "$BUILT/librekmod-rpm.so" | awk '$3 ~ /^\// { print $3 }'); do
	[[ -e $R$lib ]] || cp -L "$lib" "$R$lib"
done

# mkpkg NAME VERSION RELEASE STAGE FILES [SPEC HEADER LINES]: a noarch rpm of STAGE
mkpkg() {
	local name=$1 ver=$2 rel=$3 stage=$4 files=$5 extra=${6:-}
	mkdir -p "$W/specs"
	cat >"$W/specs/$name.spec" <<SPEC
Name: $name
Version: $ver
Release: $rel
Summary: rekmod test package $name
License: GPL-2.0-or-later
BuildArch: noarch
$extra
%global __os_install_post %{nil}
%description
rekmod test package $name
%install
cp -a $stage/. %{buildroot}/
%files
$files
SPEC
	rpmbuild --quiet -bb --define "_topdir $W/rpmbuild" --define "_dbpath $W/rpmdb-build" \
		"$W/specs/$name.spec" >"$W/rpmbuild-$name.log" 2>&1 || { cat "$W/rpmbuild-$name.log"; return 1; }
	ls "$W/rpmbuild/RPMS/noarch/$name-$ver-$rel.noarch.rpm"
}

# module source packages: examples/hello, and one whose build fails
S=$W/stage
mkdir -p "$S/hello/usr/src" "$S/broken/usr/src/broken-0.1"
cp -a "$SRCDIR/examples/hello" "$S/hello/usr/src/hello-0.1"
sed -e 's/hello/broken/g' "$SRCDIR/examples/hello/dkms.conf" >"$S/broken/usr/src/broken-0.1/dkms.conf"
sed -e 's/hello/broken/g' "$SRCDIR/examples/hello/Makefile" >"$S/broken/usr/src/broken-0.1/Makefile"
printf '#error this module fails to build on purpose\n' >"$S/broken/usr/src/broken-0.1/broken.c"
# kernel-devel for K1: links to the real headers copied into the root
mkdir -p "$S/devel/usr/src/kernels" "$S/devel/usr/lib/modules/$K1"
ln -s "/usr/src/linux-headers-$K1" "$S/devel/usr/src/kernels/$K1"
ln -s "/usr/src/kernels/$K1" "$S/devel/usr/lib/modules/$K1/build"
# kernel-core for K2, without devel
mkdir -p "$S/core/usr/lib/modules/$K2"
: >"$S/core/usr/lib/modules/$K2/vmlinuz"
: >"$S/core/usr/lib/modules/$K2/modules.order"
: >"$S/core/usr/lib/modules/$K2/modules.builtin"
# a Fedora-style kernel-devel that only provides kernel-devel-uname-r
FK=6.5.6-300.fc39.x86_64
mkdir -p "$S/rt/usr/src/kernels/$FK"

{
	HELLO_RPM=$(mkpkg hello-dkms 0.1 1 "$S/hello" "/usr/src/hello-0.1") &&
		BROKEN_RPM=$(mkpkg broken-dkms 0.1 1 "$S/broken" "/usr/src/broken-0.1") &&
		DEVEL_RPM=$(mkpkg kernel-devel "${K1%%-*}" "$(tr - . <<<"${K1#*-}")" "$S/devel" \
			"/usr/src/kernels/$K1
/usr/lib/modules/$K1/build") &&
		CORE_RPM=$(mkpkg kernel-core "$K2V" "$K2R" "$S/core" "%dir /usr/lib/modules/$K2
/usr/lib/modules/$K2/vmlinuz
/usr/lib/modules/$K2/modules.order
/usr/lib/modules/$K2/modules.builtin") &&
		RT_RPM=$(mkpkg kernel-rt-devel 6.5.6 300.fc39 "$S/rt" "%dir /usr/src/kernels/$FK" \
			"Provides: kernel-devel-uname-r = $FK")
} || exit 1

hello_ko() { ls "$R/lib/modules/$K1/extra/"hello.ko* 2>/dev/null | head -n 1; }
rpm_ok() { # rpm ARGS..., output in $W/out, exit status must be 0
	RPM "$@" >"$W/out" 2>&1 || { echo "rpm $* exited $?"; cat "$W/out"; return 1; }
}

rekmod_rpm() {
	[[ -s $RPMFILE ]] || { echo "make rpm made no $RPMFILE"; return 1; }
	rpm -qp --filetriggers "$RPMFILE" | grep -q '^transfiletriggerin.* -- /lib/modules, /usr/lib/modules, /usr/src/kernels' &&
		rpm -qp --filetriggers "$RPMFILE" | grep -q '^transfiletriggerun.* -- /lib/modules, /usr/lib/modules, /usr/src/kernels' &&
		rpm -qp --filetriggers "$RPMFILE" | grep -q '^transfiletriggerpostun.* -- /lib/modules, /usr/lib/modules, /usr/src/kernels' &&
		rpm -qp --filetriggers "$RPMFILE" | grep -q '^filetriggerin.* -- /usr/src$' &&
		! rpm -qpl "$RPMFILE" | grep -q librekmod-apt || { rpm -qp --filetriggers -l "$RPMFILE"; return 1; }
	RPM --initdb && rpm_ok -i --nodeps "$RPMFILE" &&
		[[ -x $R/usr/sbin/rekmod && -x $R/usr/lib/rekmod/rekmod-rpm-trigger && -L $R/usr/sbin/dkms ]] &&
		RPM -q rekmod >/dev/null
}
check "make rpm builds $(basename "$RPMFILE") with its file triggers; it installs in a scratch root" rekmod_rpm

source_registers() {
	rpm_ok -i "$HELLO_RPM" || return 1
	in_root rekmod status | grep -q '^hello/0.1: added' || { cat "$W/out"; in_root rekmod status; return 1; }
}
check "installing a /usr/src/hello-0.1 rpm registers hello/0.1 (%filetriggerin /usr/src)" source_registers

devel_builds() {
	rpm_ok -i "$DEVEL_RPM" || return 1
	local ko
	ko=$(hello_ko)
	[[ -n $ko ]] || { cat "$W/out"; find "$R/lib/modules/$K1"; return 1; }
	[[ $(modinfo -F vermagic "$ko") == "$K1 "* ]] || { modinfo "$ko"; return 1; }
}
check "installing kernel-devel for $K1 builds hello and installs it under /extra with vermagic $K1" devel_builds

status_installed() {
	in_root rekmod status | grep -q "^hello/0.1, $K1, $ARCH: installed" || { in_root rekmod status; return 1; }
}
check "rekmod status in the root shows hello/0.1 installed for $K1" status_installed

failing_build() {
	rpm_ok -i "$BROKEN_RPM" || return 1
	in_root rekmod status | grep -q "^broken/0.1, $K1, $ARCH: failed" &&
		[[ -e $R/var/lib/dkms/broken/0.1/.rekmod-failed-$K1-$ARCH && -n $(hello_ko) ]] ||
		{ cat "$W/out"; in_root rekmod status; return 1; }
}
check "a module whose build fails leaves rpm's exit status 0 and is recorded as failed" failing_build

rekmod_upgrade() {
	local ko before
	ko=$(hello_ko)
	before=$(stat -c '%i %Y' "$ko")
	bash "$SRCDIR/hooks/rpm/mkrpm.sh" 99.0 "$W/rekmod-99.0.rpm" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	rpm_ok -U --nodeps "$W/rekmod-99.0.rpm" || return 1
	[[ $(RPM -q rekmod) == rekmod-99.0-1.* && -e $ko && $(stat -c '%i %Y' "$ko") == "$before" ]] &&
		! grep -q "Building hello" "$W/out" || { cat "$W/out"; return 1; }
}
check "upgrading the rekmod rpm neither removes nor rebuilds hello" rekmod_upgrade

missing_devel() {
	rpm_ok -i "$CORE_RPM" || return 1
	grep -q "^rekmod: kernel $K2 has no headers .*install kernel-devel-$K2V-$K2R " "$W/out" || { cat "$W/out"; return 1; }
	# the core asks the same library (core/lib/pkgdb.c) for its "waits for headers" lines
	if grep -q rekmod_pkgdb_headers_package "$SRCDIR/core/lib/pkgdb.c"; then
		grep -q "waits for kernel headers of $K2: install kernel-devel-$K2V-$K2R$" "$W/out" || { cat "$W/out"; return 1; }
	fi
}
check "kernel-core $K2 without devel: the trigger names kernel-devel-$K2V-$K2R (librpm, in the root)" missing_devel

helper_from_host() {
	local out
	out=$(echo "/usr/lib/modules/$K2/vmlinuz" | REKMOD_PKGDB_BACKEND=$BUILT/librekmod-rpm.so \
		"$BUILT/rekmod-rpm-trigger" --root "$R" --rekmod "$REKMOD" --print kernels-in 2>&1)
	grep -q "install kernel-devel-$K2V-$K2R " <<<"$out" &&
		grep -qx "$REKMOD --root $R sync --hook --kernel $K2" <<<"$out" || { echo "$out"; return 1; }
	# the kernel-devel-uname-r provider, when one is installed
	rpm_ok -i "$RT_RPM" || return 1
	out=$(echo "/usr/src/kernels/$FK" | REKMOD_PKGDB_BACKEND=$BUILT/librekmod-rpm.so \
		"$BUILT/rekmod-rpm-trigger" --root "$R" --rekmod "$REKMOD" --print kernels-in 2>&1)
	grep -q "install kernel-rt-devel-6.5.6-300.fc39 " <<<"$out" || { echo "$out"; return 1; }
	if grep -q rekmod_pkgdb_headers_package "$SRCDIR/core/lib/pkgdb.c"; then
		out=$(REKMOD_PKGDB_BACKEND=$BUILT/librekmod-rpm.so "$REKMOD" --root "$R" sync --kernel "$K2" 2>&1)
		grep -q "kernel-devel-$K2V-$K2R" <<<"$out" || { echo "$out"; return 1; }
	fi
}
check "librekmod-rpm.so names kernel-devel-$K2V-$K2R (owner of /lib/modules/$K2) and the kernel-devel-uname-r provider" helper_from_host

bad_paths() {
	local out
	out=$(printf '%s\n' "/lib/modules/../../etc/passwd" "/usr/lib/modules//x" "/usr/lib/modules/$K1/build" |
		"$BUILT/rekmod-rpm-trigger" --root "$R" --rekmod "$REKMOD" --print kernels-in 2>&1) || return 1
	grep -q '^rekmod-rpm-trigger: /lib/modules/\.\./\.\./etc/passwd: .*one path component' <<<"$out" &&
		grep -q '^rekmod-rpm-trigger: /usr/lib/modules//x: ' <<<"$out" &&
		[[ $(grep -c "sync --hook" <<<"$out") == 1 ]] &&
		grep -qx "$REKMOD --root $R sync --hook --kernel $K1" <<<"$out" || { echo "$out"; return 1; }
}
check "the trigger rejects kernel releases that are not one path component, one line each" bad_paths

devel_erased() {
	rpm_ok -e kernel-devel || return 1
	[[ -z $(hello_ko) ]] || { cat "$W/out"; find "$R/lib/modules/$K1"; return 1; }
	! in_root rekmod status | grep -q "^hello/0.1, $K1" || { in_root rekmod status; return 1; }
	in_root rekmod status | grep -q '^hello/0.1: added'
}
check "erasing kernel-devel removes hello from $K1 (%transfiletriggerun), keeps it registered" devel_erased

rekmod_erased() {
	rpm_ok -i "$DEVEL_RPM" && [[ -n $(hello_ko) ]] || { echo "hello was not rebuilt for $K1"; cat "$W/out"; return 1; }
	rpm_ok -e rekmod || return 1
	[[ -z $(hello_ko) && ! -e $R/usr/sbin/rekmod && -L $R/var/lib/dkms/hello/0.1/source ]] ||
		{ cat "$W/out"; find "$R/lib/modules/$K1"; return 1; }
}
check "erasing the rekmod rpm removes the modules it installed, keeps the registrations" rekmod_erased

summary
