#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# hooks/apt with the real dpkg in a scratch root (chrootless: DPKG_ROOT is
# honoured by every hook): the rekmod .deb installs; a dh-dkms-shaped module
# package builds through /usr/lib/dkms/common.postinst for every kernel with
# headers; a headers package arriving fires the file trigger and the
# /etc/kernel hook, and its removal cleans up; a failing module never fails
# dpkg; the APT pre-install hook warns about an image without headers.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
command -v dpkg-deb >/dev/null || { echo "SKIP: dpkg-deb is not installed"; exit 77; }
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

W=$(realpath "$(mktemp -d /tmp/rekmod-apt.XXXXXX)")
trap '[[ -n ${KEEP:-} ]] || rm -rf "$W"' EXIT
before=$(find /lib/modules /var/lib/dkms /etc/kernel /usr/src -maxdepth 3 -printf '%p %T@\n' 2>/dev/null | sort)

make -s -C "$SRCDIR" deb >"$W/deb.log" 2>&1 || { cat "$W/deb.log"; exit 1; }
DEB=$(ls "$SRCDIR"/build/rekmod_*.deb | head -n 1)

R=$W/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates" "$R/var/lib/dpkg/triggers" "$R/var/log" "$R/etc"
: >"$R/var/lib/dpkg/status"
: >"$R/var/lib/dpkg/available"
cp /etc/os-release "$R/etc/os-release"
dpkg_r() {
	dpkg --root="$R" --force-script-chrootless --force-not-root \
		--log="$R/var/log/dpkg.log" "$@"
}

# pkg NAME VERSION DIR [DEPENDS]: build DIR (with DEBIAN/ control scripts) into W/NAME.deb
pkg() {
	local name=$1 version=$2 dir=$3 depends=${4:-}
	mkdir -p "$dir/DEBIAN"
	printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: t <t@localhost>\nDescription: test\n' \
		"$name" "$version" >"$dir/DEBIAN/control"
	[[ -z $depends ]] || echo "Depends: $depends" >>"$dir/DEBIAN/control"
	dpkg-deb --root-owner-group -b "$dir" "$W/$name.deb" >/dev/null
}

# The scratch root's dpkg database has none of rekmod's dependencies: stand-ins
# (empty packages of those names) let dpkg configure it and process triggers.
for dep in libc6 libkmod2 libapt-pkg6.0 liblzma5 libzstd1 zlib1g libssl3 bash make kmod patch gcc; do
	pkg "$dep" 99 "$W/stub-$dep"
	dpkg_r -i "$W/$dep.deb" >"$W/stubs.log" 2>&1 || { cat "$W/stubs.log"; exit 1; }
done

# A linux-headers-K package as Debian ships it: the build link, and a postinst
# that runs /etc/kernel/header_postinst.d with the release (as the real one does).
headers_pkg() {
	local k=$1
	local d=$W/hdr-$k
	mkdir -p "$d/lib/modules/$k" "$d/DEBIAN"
	ln -s "/usr/src/linux-headers-$k" "$d/lib/modules/$k/build"
	cat >"$d/DEBIAN/postinst" <<EOF
#!/bin/sh
run-parts --report --exit-on-error --arg=$k "\$DPKG_ROOT/etc/kernel/header_postinst.d"
EOF
	chmod 0755 "$d/DEBIAN/postinst"
	pkg "linux-headers-$k" 1 "$d"
}

# A module package shaped like what dh-dkms generates.
module_pkg() {
	local name=$1
	local d=$W/mod-$name
	mkdir -p "$d/usr/src/$name-1.0" "$d/DEBIAN"
	sed "s/hello/$name/g; s/MODULE_VERSION(\"0.1\")/MODULE_VERSION(\"1.0\")/" \
		"$SRCDIR/examples/hello/hello.c" >"$d/usr/src/$name-1.0/$name.c"
	sed "s/hello/$name/g" "$SRCDIR/examples/hello/Makefile" >"$d/usr/src/$name-1.0/Makefile"
	sed "s/hello/$name/g; s/0\.1/1.0/" "$SRCDIR/examples/hello/dkms.conf" >"$d/usr/src/$name-1.0/dkms.conf"
	[[ ${2:-} == broken ]] && echo '#error deliberately broken' >>"$d/usr/src/$name-1.0/$name.c"
	printf '#!/bin/sh\nset -e\n"$DPKG_ROOT/usr/lib/dkms/common.postinst" %s 1.0 /usr/share/%s-dkms "" "$2"\n' \
		"$name" "$name" >"$d/DEBIAN/postinst"
	printf '#!/bin/sh\nREKMOD_ROOT="$DPKG_ROOT" "$DPKG_ROOT/usr/sbin/dkms" remove -m %s -v 1.0 --all -q || true\n' \
		"$name" >"$d/DEBIAN/prerm"
	chmod 0755 "$d/DEBIAN/postinst" "$d/DEBIAN/prerm"
	# as acpi-call-dkms does: a versioned dependency that rekmod's Provides must meet
	pkg "$name-dkms" 1.0 "$d" "dkms (>= 3.0.3-4~)"
}

installed() { [[ -f $R/lib/modules/$2/updates/dkms/$1.ko ]]; }
vermagic_is() { [[ $(modinfo -F vermagic "$R/lib/modules/$2/updates/dkms/$1.ko") == "$2 "* ]]; }

install_rekmod() {
	dpkg_r -i "$DEB" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	grep -q "^ii  rekmod" <(dpkg --root="$R" -l rekmod) || { cat "$W/out"; return 1; }
	[[ -x $R/usr/sbin/rekmod && -L $R/usr/sbin/dkms && -x $R/usr/lib/dkms/common.postinst ]] &&
		[[ -x $R/etc/kernel/postinst.d/50rekmod && -x $R/usr/lib/kernel/install.d/40-rekmod.install ]] &&
		grep -q "^/lib/modules rekmod/noawait" "$R/var/lib/dpkg/triggers/File"
}
check "the rekmod .deb installs with dpkg and registers its file triggers" install_rekmod

headers_pkg "$K1"
module_pkg hello
module_pkg failmod broken
module_installs() {
	dpkg_r -i "$W/linux-headers-$K1.deb" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	dpkg_r -i "$W/hello-dkms.deb" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	installed hello "$K1" && vermagic_is hello "$K1" ||
		{ cat "$W/out"; find "$R/lib/modules"; return 1; }
}
check "a dh-dkms-shaped package builds and installs through common.postinst" module_installs

headers_arrive() {
	headers_pkg "$K2"
	dpkg_r -i "$W/linux-headers-$K2.deb" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	# the headers of K1 and K2 are equivalent: K1's build is reused (core/lib/reuse.c), its vermagic kept
	installed hello "$K2" && [[ $(modinfo -F vermagic "$R/lib/modules/$K2/updates/dkms/hello.ko") == "$K1 "* ]] &&
		REKMOD_ROOT=$R "$REKMOD" status -m hello -k "$K2" | grep -qx "hello/1.0, $K2, $ARCH: installed-weak from $K1" ||
		{ cat "$W/out"; REKMOD_ROOT=$R "$REKMOD" status; return 1; }
}
check "a headers package arriving installs the module for its kernel, reusing the equivalent build (trigger and hook)" headers_arrive

failing_module() {
	local rc=0
	dpkg_r -i "$W/failmod-dkms.deb" >"$W/out" 2>&1 || rc=$?
	[[ $rc -eq 0 ]] || { echo "dpkg exited $rc"; cat "$W/out"; return 1; }
	grep -q "^ii  failmod-dkms" <(dpkg --root="$R" -l failmod-dkms 2>/dev/null) || { cat "$W/out"; return 1; }
	REKMOD_ROOT=$R "$REKMOD" status -m failmod | grep -q "failmod/1.0, $K1, .*: failed"
}
check "a module that fails to build leaves dpkg's exit status 0 and the package configured" failing_module

headers_leave() {
	dpkg_r -r "linux-headers-$K2" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	[[ -z $(find "$R/lib/modules/$K2" -name '*.ko' 2>/dev/null) ]] &&
		! ls -d "$R"/var/lib/dkms/hello/1.0/"$K2" 2>/dev/null && installed hello "$K1" ||
		{ cat "$W/out"; find "$R/lib/modules" "$R/var/lib/dkms"; return 1; }
}
check "removing a headers package cleans its kernel up (file trigger)" headers_leave

module_removed() {
	dpkg_r -r hello-dkms >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	! installed hello "$K1" && [[ ! -e $R/var/lib/dkms/hello ]]
}
check "removing the module package removes its modules (prerm: dkms remove --all)" module_removed

pre_install_warns() {
	local out
	out=$(printf 'VERSION 3\nAPT::Architecture=amd64\n\n%s\n%s\n%s\n' \
		"linux-image-9.9.9-test - - none < 9.9.9-1 amd64 none /var/cache/apt/archives/img.deb" \
		"linux-image-$K1 - - none < 1 amd64 none /var/cache/apt/archives/img2.deb" \
		"linux-image-9.9.8-test - - none < 9.9.8-1 amd64 none **CONFIGURE**" |
		DPKG_ROOT=$R "$R/usr/lib/rekmod/apt-pre-install" 2>&1) || return 1
	grep -q "linux-image-9.9.9-test is being installed without linux-headers-9.9.9-test.*add linux-headers-9.9.9-test" <<<"$out" &&
		! grep -q "$K1" <<<"$out" || { echo "$out"; return 1; }
}
check "the APT pre-install hook names the headers package an arriving image lacks" pre_install_warns

after=$(find /lib/modules /var/lib/dkms /etc/kernel /usr/src -maxdepth 3 -printf '%p %T@\n' 2>/dev/null | sort)
host_untouched() { [[ $before == "$after" ]]; }
check "nothing changed in the host's /lib/modules, /var/lib/dkms, /etc/kernel, /usr/src" host_untouched

summary
