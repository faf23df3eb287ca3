#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# mkdeb / mkrpm / mktarball / ldtarball (issue 10). examples/hello is built
# for K1 and K2 in a scratch root and packaged; the packages install with the
# real dpkg and the real rpm in a Debian 12 build root (tests/integration/
# buildroot.sh, rekmod installed there from `make deb`) whose two kernels
# are set up so that one fits the prebuilt module and one does not:
#   - K1's own modules have K1's real vermagic: the prebuilt is installed as
#     it is, and make never runs for K1 (a wrapper around the root's make
#     records every call);
#   - in the .deb run, K2's own modules have another vermagic (K2 built
#     without CONFIG_MODVERSIONS, same release): the prebuilt is refused and
#     hello is compiled; in the .rpm run the package carries no K2 module.
# Removing the package removes the modules. Tarballs cross between rekmod and
# Debian's dkms 3.0.10 in both directions (scratch trees, no signing).
# Runs in a private mount namespace; nothing is written outside a mktemp -d.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} != --inside ]]; then
	[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (chroot, mounts)"; exit 77; }
	for t in dpkg-deb rpmbuild rpm objcopy; do
		command -v "$t" >/dev/null || { echo "SKIP: $t is not installed"; exit 77; }
	done
	exec unshare --mount --propagation private bash "${BASH_SOURCE[0]}" --inside
fi
source "$SRCDIR/tests/integration/buildroot.sh"

W=$(realpath "$(mktemp -d /tmp/rekmod-mkpkg.XXXXXX)")
C=$W/chroot
cleanup() {
	buildroot_release "$C"
	[[ -n ${KEEP:-} ]] || rm -rf --one-file-system "$W"
}
trap cleanup EXIT
before=$(find /lib/modules /var/lib/dkms /usr/src -maxdepth 3 -printf '%p %T@\n' 2>/dev/null | sort)

# ---- the packages, made in a scratch root ----
R=$W/root
new_root "$R"
cp -a "$SRCDIR/examples/hello" "$R/usr/src/hello-0.1"
rk() { "$REKMOD" --root "$R" "$@"; }
{ rk add hello/0.1 && rk build hello/0.1 -k "$K1" -k "$K2"; } >"$W/build.log" 2>&1 || { cat "$W/build.log"; exit 1; }
built_ko() { echo "$R/var/lib/dkms/hello/0.1/$1/$ARCH/module/hello.ko"; }

DEBDIR=$R/var/lib/dkms/hello/0.1/deb
DEB=$DEBDIR/hello-dkms_0.1_all.deb
mkdeb_dkms() {
	rk mkdeb hello/0.1 >"$W/mkdeb.log" 2>&1 || { cat "$W/mkdeb.log"; return 1; }
	dpkg-deb -f "$DEB" Package Version Architecture Depends >"$W/ctl" || return 1
	printf 'Package: hello-dkms\nVersion: 0.1\nArchitecture: all\nDepends: rekmod | dkms\n' | diff - "$W/ctl" || return 1
	dpkg-deb -c "$DEB" >"$W/list" || return 1
	grep -q ' \./usr/src/hello-0\.1/dkms\.conf$' "$W/list" && grep -q ' \./usr/src/hello-0\.1/hello\.c$' "$W/list" &&
		grep -q ' \./usr/share/hello-dkms/hello-0\.1\.dkms\.tar\.gz$' "$W/list" || { cat "$W/list"; return 1; }
	rm -rf "$W/debx" && mkdir -p "$W/debx/t" && dpkg-deb -x "$DEB" "$W/debx" &&
		tar -C "$W/debx/t" -xzf "$W/debx/usr/share/hello-dkms/hello-0.1.dkms.tar.gz" || return 1
	# the carried modules are the ones built here, byte for byte
	cmp "$(built_ko "$K1")" "$W/debx/t/dkms_main_tree/$K1/$ARCH/module/hello.ko" &&
		cmp "$(built_ko "$K2")" "$W/debx/t/dkms_main_tree/$K2/$ARCH/module/hello.ko" &&
		[[ -f $W/debx/t/dkms_binaries_only/dkms.conf ]] || { find "$W/debx/t"; return 1; }
	dpkg-deb --ctrl-tarfile "$DEB" | tar -t | grep -qx './postinst' &&
		dpkg-deb -I "$DEB" postinst | grep -q 'common.postinst" "$NAME" "$VERSION" /usr/share/hello-dkms "" "$2"' &&
		dpkg-deb -I "$DEB" prerm | grep -q 'remove -m "$NAME" -v "$VERSION" --all'
}
check "mkdeb: hello-dkms_0.1_all.deb with the source and the modules built for $K1 and $K2" mkdeb_dkms

BINDEB=$DEBDIR/hello-modules-${K1}_0.1_$(dpkg --print-architecture).deb
mkdeb_binaries() {
	rk mkdeb hello/0.1 -k "$K1" --binaries-only >"$W/mkdeb-bin.log" 2>&1 || { cat "$W/mkdeb-bin.log"; return 1; }
	[[ -f $BINDEB ]] || { ls "$DEBDIR"; return 1; }
	[[ $(dpkg-deb -f "$BINDEB" Depends) == "linux-image-$K1" ]] || return 1
	[[ $(dpkg-deb -f "$BINDEB" Suggests) == "rekmod | dkms" ]] || return 1
	dpkg-deb -c "$BINDEB" >"$W/list" || return 1
	! grep -q '/usr/src/' "$W/list" && grep -q " \./usr/share/hello-modules-$K1/hello-0\.1\.dkms\.tar\.gz$" "$W/list" ||
		{ cat "$W/list"; return 1; }
}
check "mkdeb --binaries-only -k $K1: hello-modules-${K1}_0.1_<arch>.deb, no source, Depends on linux-image-$K1" \
	mkdeb_binaries

# lintian: no error tag. The maintainer comes from DEBFULLNAME/DEBEMAIL as
# for dch; without them it is root@<hostname>, which lintian flags
# (bogus-mail-host, root-in-contact) on a machine without a real domain.
lintian_clean() {
	local out
	out=$(lintian --tag-display-limit 0 "$@" 2>&1 | grep -v 'running with root privileges')
	echo "$out"
	! grep -q '^[EW]: ' <<<"$(grep -v 'copyright-without-copyright-notice' <<<"$out")"
}
if command -v lintian >/dev/null; then
	rm -f "$DEB" "$BINDEB"
	DEBFULLNAME="Module Packager" DEBEMAIL="packager@example.org" rk mkdeb hello/0.1 >/dev/null 2>&1 &&
		DEBFULLNAME="Module Packager" DEBEMAIL="packager@example.org" \
			rk mkdeb hello/0.1 -k "$K1" --binaries-only >/dev/null 2>&1
	check "lintian: no error or warning for either package (except copyright-without-copyright-notice)" lintian_clean "$DEB" "$BINDEB"
fi

RPMDIR=$R/var/lib/dkms/hello/0.1/rpm
RPM=$RPMDIR/hello-dkms-0.1-1.noarch.rpm
mkrpm_k1() {
	rk mkrpm hello/0.1 -k "$K1" >"$W/mkrpm.log" 2>&1 || { cat "$W/mkrpm.log"; return 1; }
	rpm -qpl "$RPM" 2>/dev/null >"$W/list" || { ls "$RPMDIR"; return 1; }
	grep -qx /usr/src/hello-0.1/dkms.conf "$W/list" && grep -qx /usr/share/hello-dkms/hello-0.1.dkms.tar.gz "$W/list" ||
		{ cat "$W/list"; return 1; }
	rpm -qp --scripts "$RPM" 2>/dev/null | grep -q 'dkms ldtarball --archive'
}
check "mkrpm -k $K1: hello-dkms-0.1-1.noarch.rpm with the source and $K1's module" mkrpm_k1
mkrpm_binaries() {
	rk mkrpm hello/0.1 -k "$K1" --binaries-only >"$W/mkrpm-bin.log" 2>&1 || { cat "$W/mkrpm-bin.log"; return 1; }
	local f
	f=$(ls "$RPMDIR"/hello-modules-*.rpm 2>/dev/null | head -n 1)
	[[ -n $f ]] || { ls "$RPMDIR"; return 1; }
	! rpm -qpR "$f" 2>/dev/null | grep -q dkms || { rpm -qpR "$f"; return 1; }
	rpm -qp --scripts "$f" 2>/dev/null | grep -q 'depmod -a'
}
check "mkrpm --binaries-only -k $K1: no dependency on dkms, its scripts can do without it" mkrpm_binaries

# ---- a Debian 12 build root with both kernels' headers and rekmod ----
make -s -C "$SRCDIR" deb >"$W/deb.log" 2>&1 || { cat "$W/deb.log"; exit 1; }
REKMOD_DEB=$(ls "$SRCDIR"/build/rekmod_*.deb | head -n 1)
buildroot_new "$C" "$K1" "$K2" || exit 1
in_chroot() { chroot "$C" env LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
cp "$REKMOD_DEB" "$C/tmp/rekmod.deb"
in_chroot dpkg -i /tmp/rekmod.deb >"$W/rekmod-deb.log" 2>&1 || { cat "$W/rekmod-deb.log"; exit 1; }

# Each kernel's "own" module (kernel/.../rk_intree.ko, what the vermagic check
# reads), made from hello's build for that kernel with the vermagic given.
intree() {
	local k=$1 vermagic=$2 d=$C/lib/modules/$1/kernel/drivers/misc
	mkdir -p "$d"
	ln -sfn "/usr/src/linux-headers-$k" "$C/lib/modules/$k/build"
	objcopy --dump-section .modinfo="$W/mi" "$(built_ko "$k")" "$W/scratch.o" || return 1
	tr '\0' '\n' <"$W/mi" | sed "s/^vermagic=.*/vermagic=$vermagic/" | tr '\n' '\0' >"$W/mi2"
	objcopy --update-section .modinfo="$W/mi2" "$(built_ko "$k")" "$d/rk_intree.ko" || return 1
	[[ $(modinfo -F vermagic "$d/rk_intree.ko") == "$vermagic" ]] && in_chroot depmod -a "$k" 2>/dev/null
}
VM1=$(modinfo -F vermagic "$(built_ko "$K1")")
intree "$K1" "$VM1" || exit 1
intree "$K2" "$K2 SMP preempt mod_unload " || exit 1

# every make run in the root is recorded
mv "$C/usr/bin/make" "$C/usr/bin/make.real"
printf '#!/bin/sh\necho "make $*" >>/var/log/make-calls\nexec /usr/bin/make.real "$@"\n' >"$C/usr/bin/make"
chmod 0755 "$C/usr/bin/make"
made_for() { grep -q -- "$1" "$C/var/log/make-calls" 2>/dev/null; }
installed_ko() { echo "$C/lib/modules/$1/updates/dkms/hello.ko"; }

# ---- the .deb with dpkg ----
cp "$DEB" "$C/tmp/"
deb_installs() {
	in_chroot dpkg -i "/tmp/${DEB##*/}" >"$W/dpkg-i.log" 2>&1 || { cat "$W/dpkg-i.log"; return 1; }
	in_chroot dpkg -l hello-dkms | grep -q '^ii' && [[ -f $C/usr/src/hello-0.1/dkms.conf ]]
}
check "dpkg -i hello-dkms in the build root" deb_installs

prebuilt_used() {
	[[ -f $(installed_ko "$K1") ]] || { cat "$W/dpkg-i.log"; return 1; }
	cmp "$(built_ko "$K1")" "$(installed_ko "$K1")" || return 1
	! made_for "$K1" || { cat "$C/var/log/make-calls"; return 1; }
	in_chroot rekmod status | grep -qx "hello/0.1, $K1, $ARCH: installed"
}
check "$K1 (vermagic matches): the prebuilt module is installed as it is, make never ran for it" prebuilt_used

compiled_other() {
	grep -q "prebuilt modules of hello/0.1 for $K2 .* not loaded" "$W/dpkg-i.log" || { cat "$W/dpkg-i.log"; return 1; }
	made_for "$K2" || { cat "$C/var/log/make-calls" "$W/dpkg-i.log"; return 1; }
	[[ -f $(installed_ko "$K2") ]] && ! cmp -s "$(built_ko "$K2")" "$(installed_ko "$K2")" &&
		[[ $(modinfo -F vermagic "$(installed_ko "$K2")") == "$K2 "* ]] &&
		in_chroot rekmod status | grep -qx "hello/0.1, $K2, $ARCH: installed"
}
check "$K2 (other vermagic): the prebuilt is refused with a warning and hello is compiled for $K2" compiled_other

nothing_left() {
	! find "$C/lib/modules" -name 'hello.ko*' | grep -q . && [[ ! -e $C/var/lib/dkms/hello ]] &&
		[[ ! -e $C/usr/src/hello-0.1 ]] || { find "$C/lib/modules" "$C/var/lib/dkms" "$C/usr/src" -maxdepth 3; return 1; }
}
deb_removes() {
	in_chroot dpkg -r hello-dkms >"$W/dpkg-r.log" 2>&1 || { cat "$W/dpkg-r.log"; return 1; }
	nothing_left
}
check "dpkg -r hello-dkms removes the modules of both kernels and the registration" deb_removes

# ---- the .rpm with rpm (scriptlets run chrooted) ----
: >"$C/var/log/make-calls"
cp "$RPM" "$C/tmp/"
rpm_c() { rpm --root "$C" --dbpath /var/lib/rpm "$@"; }
rpm_installs() {
	rpm_c --initdb && rpm_c -i --nodeps "$C/tmp/${RPM##*/}" >"$W/rpm-i.log" 2>&1 || { cat "$W/rpm-i.log"; return 1; }
	rpm_c -q hello-dkms >/dev/null 2>&1 || return 1
	cmp "$(built_ko "$K1")" "$(installed_ko "$K1")" && ! made_for "$K1" || { cat "$W/rpm-i.log"; return 1; }
	made_for "$K2" && [[ $(modinfo -F vermagic "$(installed_ko "$K2")") == "$K2 "* ]] ||
		{ cat "$W/rpm-i.log"; return 1; }
}
check "rpm -i hello-dkms: $K1's prebuilt installed without make, $K2 (no prebuilt) compiled" rpm_installs

rpm_removes() {
	rpm_c -e hello-dkms >"$W/rpm-e.log" 2>&1 || { cat "$W/rpm-e.log"; return 1; }
	nothing_left
}
check "rpm -e hello-dkms removes the modules and the registration" rpm_removes

# ---- the binaries-only .deb: no source, no compiler needed ----
: >"$C/var/log/make-calls"
cp "$BINDEB" "$C/tmp/"
bin_deb() {
	# the root has no linux-image package: only that dependency is forced
	in_chroot dpkg -i --force-depends "/tmp/${BINDEB##*/}" >"$W/dpkg-bin.log" 2>&1 || { cat "$W/dpkg-bin.log"; return 1; }
	cmp "$(built_ko "$K1")" "$(installed_ko "$K1")" && ! made_for "$K1" && [[ ! -e $(installed_ko "$K2") ]] ||
		{ cat "$W/dpkg-bin.log"; return 1; }
	in_chroot dpkg -r "hello-modules-$K1" >"$W/dpkg-bin-r.log" 2>&1 || { cat "$W/dpkg-bin-r.log"; return 1; }
	nothing_left
}
check "hello-modules-$K1 (binaries only) installs $K1's module without make; dpkg -r removes it" bin_deb

# ---- the binaries-only .rpm: stands alone like the .deb ----
: >"$C/var/log/make-calls"
BINRPM=$(ls "$RPMDIR"/hello-modules-*.rpm 2>/dev/null | head -n 1)
cp "$BINRPM" "$C/tmp/bin.rpm"
bin_rpm_tool() {
	rpm_c -i --nodeps "$C/tmp/bin.rpm" >"$W/rpm-bin.log" 2>&1 || { cat "$W/rpm-bin.log"; return 1; }
	cmp "$(built_ko "$K1")" "$(installed_ko "$K1")" && ! made_for "$K1" &&
		in_chroot rekmod status | grep -qx "hello/0.1, $K1, $ARCH: installed" || { cat "$W/rpm-bin.log"; return 1; }
	rpm_c -e "hello-modules-$K1" >"$W/rpm-bin-e.log" 2>&1 || { cat "$W/rpm-bin-e.log"; return 1; }
	[[ ! -e $(installed_ko "$K1") ]] && ! in_chroot rekmod status | grep -q "$K1"
}
check "hello-modules-$K1 (binaries-only rpm) with rekmod: loaded and installed without make; rpm -e removes it" \
	bin_rpm_tool
bin_rpm_plain() {
	local rc=0
	mv "$C/usr/sbin/rekmod" "$C/usr/sbin/rekmod.away" # the dkms names are links to it: neither tool is there
	: >"$C/lib/modules/$K1/modules.order"
	rpm_c -i --nodeps "$C/tmp/bin.rpm" >"$W/rpm-plain.log" 2>&1 || rc=1
	if ((rc == 0)); then
		cmp "$(built_ko "$K1")" "$(installed_ko "$K1")" && ! made_for "$K1" &&
			grep -q '^updates/dkms/hello.ko:' "$C/lib/modules/$K1/modules.dep" || rc=1
		rpm_c -e "hello-modules-$K1" >>"$W/rpm-plain.log" 2>&1 || rc=1
		[[ ! -e $(installed_ko "$K1") ]] && ! grep -q 'hello.ko:' "$C/lib/modules/$K1/modules.dep" || rc=1
	fi
	mv "$C/usr/sbin/rekmod.away" "$C/usr/sbin/rekmod"
	rm "$C/lib/modules/$K1/modules.order"
	((rc == 0)) || { cat "$W/rpm-plain.log"; return 1; }
}
check "... without rekmod or dkms: put in place as it is, depmod run; rpm -e takes it out again" bin_rpm_plain

# ---- the .deb again, with dpkg's chrootless mode (DPKG_ROOT) from the host ----
dpkg_root() { dpkg --root="$C" --force-script-chrootless --log="$C/var/log/dpkg.log" "$@"; }
chrootless() {
	dpkg_root -i "$DEB" >"$W/dpkg-root.log" 2>&1 || { cat "$W/dpkg-root.log"; return 1; }
	cmp "$(built_ko "$K1")" "$(installed_ko "$K1")" &&
		[[ $(modinfo -F vermagic "$(installed_ko "$K2")") == "$K2 "* ]] || { cat "$W/dpkg-root.log"; return 1; }
	dpkg_root -r hello-dkms >"$W/dpkg-root-r.log" 2>&1 || { cat "$W/dpkg-root-r.log"; return 1; }
	nothing_left
}
check "dpkg --root (DPKG_ROOT, scripts run on the host): same result inside the root, then removed" chrootless

# ---- tarballs between rekmod and Debian's dkms 3.0.10 ----
DKMS=/usr/sbin/dkms
if [[ -x $DKMS ]]; then
	# scratch trees; sign_file points nowhere so dkms never creates /var/lib/dkms/mok.key
	dk() {
		local t=$1
		shift
		env TMPDIR="$W/tmp" sign_file=/nonexistent/sign-file "$DKMS" "$@" --dkmstree "$t/dkms" \
			--sourcetree "$t/src" --installtree "$t/modules"
	}
	mkdir -p "$W/tmp"
	rekmod_to_dkms() {
		local t=$W/dk1
		mkdir -p "$t/dkms" "$t/src" "$t/modules"
		# one kernel: dkms 3.0.10 loads only the first kernel of a tarball (its
		# loop declares `local -r` variables, the second iteration fails)
		rk mktarball hello/0.1 -k "$K1" --archive "$W/rekmod-made.dkms.tar.gz" >"$W/mkt.log" 2>&1 ||
			{ cat "$W/mkt.log"; return 1; }
		dk "$t" ldtarball "$W/rekmod-made.dkms.tar.gz" >"$W/ldt.log" 2>&1 || { cat "$W/ldt.log"; return 1; }
		dk "$t" status >"$W/st" 2>&1
		grep -qx "hello/0.1, $K1, $ARCH: built" "$W/st" &&
			[[ -f $t/src/hello-0.1/dkms.conf ]] && cmp "$(built_ko "$K1")" "$t/dkms/hello/0.1/$K1/$ARCH/module/hello.ko" ||
			{ cat "$W/st" "$W/ldt.log"; return 1; }
	}
	check "a tarball made by rekmod mktarball loads in Debian's dkms (source, $K1 built)" rekmod_to_dkms

	dkms_to_rekmod() {
		local t=$W/dk2 R2=$W/root2
		mkdir -p "$t/dkms" "$t/src" "$t/modules/$K1"
		ln -s "/usr/src/linux-headers-$K1" "$t/modules/$K1/build"
		cp -a "$SRCDIR/examples/hello" "$t/src/hello-0.1"
		{ dk "$t" add -m hello -v 0.1 && dk "$t" build -m hello -v 0.1 -k "$K1" &&
			dk "$t" mktarball -m hello -v 0.1 -k "$K1" --archive "$W/dkms-made.dkms.tar.gz"; } >"$W/dk2.log" 2>&1 ||
			{ cat "$W/dk2.log"; return 1; }
		new_root "$R2"
		"$REKMOD" --root "$R2" ldtarball "$W/dkms-made.dkms.tar.gz" >"$W/ldt2.log" 2>&1 || { cat "$W/ldt2.log"; return 1; }
		"$REKMOD" --root "$R2" status >"$W/st2" 2>&1
		grep -qx "hello/0.1, $K1, $ARCH: built" "$W/st2" && [[ -f $R2/usr/src/hello-0.1/dkms.conf ]] &&
			cmp "$t/dkms/hello/0.1/$K1/$ARCH/module/hello.ko" "$R2/var/lib/dkms/hello/0.1/$K1/$ARCH/module/hello.ko" ||
			{ cat "$W/st2" "$W/ldt2.log"; return 1; }
		"$REKMOD" --root "$R2" install hello/0.1 -k "$K1" >"$W/inst2.log" 2>&1 &&
			cmp "$t/dkms/hello/0.1/$K1/$ARCH/module/hello.ko" "$R2/lib/modules/$K1/updates/dkms/hello.ko" ||
			{ cat "$W/inst2.log"; return 1; }
	}
	check "a tarball made by Debian's dkms mktarball loads in rekmod and installs without a build" dkms_to_rekmod
fi

after=$(find /lib/modules /var/lib/dkms /usr/src -maxdepth 3 -printf '%p %T@\n' 2>/dev/null | sort)
check "nothing changed in the host's /lib/modules, /var/lib/dkms, /usr/src" test "$before" == "$after"

summary
