#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dkms.conf behaviour of dkms 3.x that Debian's dkms 3.0.10 lacks, so the
# differential test (tests/compat) cannot compare it: patches and scripts
# overridden from /etc/dkms/<module>/, BUILD_DEPENDS_REBUILD; and add's exit
# status after a failing POST_ADD. Real headers, real make, real patch.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

W=$(mktemp -d /tmp/rekmod-directives.XXXXXX)
trap 'rm -rf --one-file-system "$W"' EXIT
R=$W/root
new_root "$R"
rk() { "$REKMOD" --root "$R" "$@"; }

# module <name> <version> [dkms.conf lines...]: a copy of examples/hello
# named <name> (MODULE_VERSION "0.1"), with a dkms.conf of its own
module() {
	local name=$1 ver=$2 d
	shift 2
	d=$R/usr/src/$name-$ver
	mkdir -p "$d"
	sed "s/hello/$name/g" "$SRCDIR/examples/hello/hello.c" >"$d/$name.c"
	echo "obj-m := $name.o" >"$d/Kbuild"
	{
		echo "PACKAGE_NAME=$name"
		echo "PACKAGE_VERSION=$ver"
		echo "BUILT_MODULE_NAME[0]=$name"
		echo "DEST_MODULE_LOCATION[0]=/updates/dkms"
		echo "MAKE[0]=\"make -C \${kernel_source_dir} M=\${dkms_tree}/$name/$ver/build modules\""
		echo "AUTOINSTALL=yes"
		printf '%s\n' "$@"
	} >"$d/dkms.conf"
}
# patch_to <name> <ver> <file>: a -p1 patch of <name>.c setting MODULE_VERSION to <ver>
patch_to() {
	local name=$1 ver=$2 out=$3 t=$W/p.$$
	rm -rf "$t" && mkdir -p "$t/a" "$t/b"
	sed "s/hello/$name/g" "$SRCDIR/examples/hello/hello.c" >"$t/a/$name.c"
	sed "s/MODULE_VERSION(\"0.1\")/MODULE_VERSION(\"$ver\")/" "$t/a/$name.c" >"$t/b/$name.c"
	(cd "$t" && diff -u "a/$name.c" "b/$name.c") >"$out"
	rm -rf "$t"
}
version_of() { modinfo -F version "$R/lib/modules/$K1/updates/dkms/$1.ko"* 2>/dev/null; }

module pt 1.0 'PATCH[0]="01-version.patch"' 'POST_INSTALL="post-install.sh"'
mkdir -p "$R/usr/src/pt-1.0/patches"
patch_to pt 0.2 "$R/usr/src/pt-1.0/patches/01-version.patch"
printf '#!/bin/sh\necho package >"%s/ran"\n' "$W" >"$R/usr/src/pt-1.0/post-install.sh"
chmod +x "$R/usr/src/pt-1.0/post-install.sh"

package_patch() {
	rk install pt/1.0 -k "$K1" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	[[ $(version_of pt) == 0.2 && $(cat "$W/ran") == package ]] || { cat "$W/out"; version_of pt; return 1; }
}
check "PATCH[] from the source's patches/ and the package's POST_INSTALL script" package_patch

local_overrides() {
	mkdir -p "$R/etc/dkms/pt/patches"
	patch_to pt 0.3 "$R/etc/dkms/pt/patches/01-version.patch"
	printf '#!/bin/sh\necho local >"%s/ran"\n' "$W" >"$R/etc/dkms/pt/post-install.sh"
	chmod +x "$R/etc/dkms/pt/post-install.sh"
	rk build pt/1.0 -k "$K1" --force >"$W/out" 2>&1 && rk install pt/1.0 -k "$K1" --force >>"$W/out" 2>&1 ||
		{ cat "$W/out"; return 1; }
	[[ $(version_of pt) == 0.3 && $(cat "$W/ran") == local ]] || { cat "$W/out"; version_of pt; return 1; }
	# the package's copy is untouched
	grep -q '"0.2"' "$R/usr/src/pt-1.0/patches/01-version.patch"
}
check "/etc/dkms/pt/patches/ overlays the package's patch of the same name; /etc/dkms/pt/<script> replaces the script" local_overrides

dotdot_patch() {
	module pd 1.0 'PATCH[0]="../escape.patch"'
	rk add pd/1.0 >/dev/null || return 1
	rk build pd/1.0 -k "$K1" >"$W/out" 2>&1
	local rc=$?
	[[ $rc == 5 ]] && grep -q "Patch ../escape.patch as specified in dkms.conf contains '..' path component." "$W/out" ||
		{ echo "rc=$rc"; cat "$W/out"; return 1; }
}
check "a PATCH[] path with '..' is refused (exit 5, dkms's message)" dotdot_patch

module dbase 1.0
module duser 1.0 'BUILD_DEPENDS[0]=dbase' 'BUILD_DEPENDS_REBUILD=yes'
build_id() { stat -c %i "$R/var/lib/dkms/$1/1.0/$K1/$ARCH"; }

depends_rebuild() {
	rk install dbase/1.0 -k "$K1" >/dev/null && rk install duser/1.0 -k "$K1" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	[[ -f $R/var/lib/dkms/duser/1.0/$K1/$ARCH/.dep_dbase ]] || { ls -a "$R/var/lib/dkms/duser/1.0/$K1/$ARCH"; return 1; }
	local before
	before=$(build_id duser)
	# the same build of dbase installed again: nothing to rebuild
	rk install dbase/1.0 -k "$K1" --force >"$W/out" 2>&1
	! grep -q "Rebuilding module" "$W/out" && [[ $(build_id duser) == "$before" ]] || { cat "$W/out"; return 1; }
	# a new build of dbase installed (build --force keeps the install, as dkms 3.x: install --force):
	# duser is rebuilt and reinstalled
	rk build dbase/1.0 -k "$K1" --force >"$W/out" 2>&1 && rk install dbase/1.0 -k "$K1" --force >"$W/out" 2>&1 ||
		{ cat "$W/out"; return 1; }
	grep -q "Rebuilding module duser/1.0 due to updated dependencies" "$W/out" &&
		[[ $(build_id duser) != "$before" ]] &&
		rk status | grep -qx "duser/1.0, $K1, $ARCH: installed" || { cat "$W/out"; rk status; return 1; }
}
check "BUILD_DEPENDS_REBUILD: a new build of the dependency rebuilds and reinstalls the dependent, not an unchanged one" depends_rebuild

post_add_status() {
	module pa 1.0 'POST_ADD="fail.sh"'
	printf '#!/bin/sh\nexit 5\n' >"$R/usr/src/pa-1.0/fail.sh"
	chmod +x "$R/usr/src/pa-1.0/fail.sh"
	rk add pa/1.0 >"$W/out" 2>&1
	local rc=$?
	[[ $rc == 5 ]] && rk status | grep -qx "pa/1.0: added" || { echo "rc=$rc"; cat "$W/out"; return 1; }
}
check "a POST_ADD exiting 5: add exits 5 and the module stays added (as dkms)" post_add_status

summary
