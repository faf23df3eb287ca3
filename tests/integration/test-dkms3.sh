#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dkms 3.x behaviour as upstream's own run_test.sh specifies it (see
# tests/compat/upstream-suite.sh), one check per behaviour, the expected
# output written here: a dkms.conf with zero modules is added, built and
# installed empty; add of an added module exits 3, of a directory without
# dkms.conf 1, of an invalid dkms.conf by path 8; the make.log sections; the
# lines of install --force, remove and kernel_prerm; autoinstall with nothing
# added, a deferred BUILD_DEPENDS; kernel_postinst without -k; a broken module;
# dkms.conf's "dkms.conf: Error!" lines; BUILD_DEPENDS and PATCH '..' words;
# POST_ADD's output; OBSOLETE_BY deprecated; BUILD_EXCLUSIVE_*[0] for every
# module and remove's lines then; no os-release (4); post_transaction after
# install; built modules deleted (uninstall, status, install 6). Scratch root,
# real headers (K1), two builds of examples/hello. About 15 s.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

W=$(mktemp -d /tmp/rekmod-dkms3.XXXXXX)
trap 'rm -rf --one-file-system "$W"' EXIT
R=$W/root
new_root "$R"
# an installed kernel image (modules.order) and its depmod index (modules.dep): depmod runs (and is said)
: >"$R/lib/modules/$K1/modules.order"
: >"$R/lib/modules/$K1/modules.dep"
cp -a "$SRCDIR/examples/hello" "$R/usr/src/hello-0.1"
mkdir -p "$W/zero" "$W/noconf" "$W/empty"
printf 'PACKAGE_NAME="zero"\nPACKAGE_VERSION="1.0"\nAUTOINSTALL="yes"\n' >"$W/zero/dkms.conf"
: >"$W/empty/dkms.conf"
printf '# no modules\n' >"$W/zero/Makefile"
rk() { parallel_jobs=1 "$REKMOD" --root "$R" "$@"; }
L=/lib/modules/$K1/updates/dkms/hello.ko

# expect RC CMD...: exit code RC and, on stdout and stderr together, exactly the lines on stdin
expect() {
	local want=$1 rc=0
	shift
	cat >"$W/want"
	rk "$@" >"$W/got" 2>&1 || rc=$?
	sed -i "s|$R||g" "$W/got"
	# NOPROLOGUE=1: without the signing prologue's paths (they are the headers')
	[[ -z ${NOPROLOGUE:-} ]] || sed -i '/^Sign command: /d;/^Signing key: /d;/^Public certificate (MOK): /d' "$W/got"
	((rc == want)) || { echo "exit $rc, expected $want"; cat "$W/got"; return 1; }
	diff -u "$W/want" "$W/got"
}

# a source tree under $R/usr/src: NAME VERSION then dkms.conf lines
mksrc() {
	local d=$R/usr/src/$1-$2
	mkdir -p "$d"
	printf 'PACKAGE_NAME="%s"\nPACKAGE_VERSION="%s"\n' "$1" "$2" >"$d/dkms.conf"
	shift 2
	printf '%s\n' "$@" >>"$d/dkms.conf"
	: >"$d/x.c"
}

no_modules() {
	expect 0 autoinstall -k "$K1-noheaders" </dev/null || return 1
	expect 4 kernel_postinst <<-EOF
	
	Error! The action kernel_postinst requires exactly one kernel version parameter on the command line.
	EOF
}
check "autoinstall with no module added: exit 0, silent, even without headers; kernel_postinst needs -k (4)" no_modules

zero_modules() {
	expect 0 add "$W/zero" <<-EOF || return 1
	dkms.conf: Warning! Zero modules specified.
	Creating symlink /var/lib/dkms/zero/1.0/source -> /usr/src/zero-1.0
	EOF
	rk install zero/1.0 -k "$K1" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	rk status zero | grep -qx "zero/1.0, $K1, $ARCH: installed" || { rk status; return 1; }
	expect 0 remove --all zero/1.0 <<-EOF
	Module zero/1.0 for kernel $K1 ($ARCH):
	Before uninstall, this module version was ACTIVE on this kernel.
	Running depmod... done.

	Deleting module zero/1.0 completely from the DKMS tree.
	EOF
}
check "a dkms.conf with zero modules: dkms's warning, added, built and installed empty, removed" zero_modules

deferred() {
	mkdir -p "$R/usr/src/defer-1.0"
	printf 'PACKAGE_NAME="defer"\nPACKAGE_VERSION="1.0"\nAUTOINSTALL="yes"\nBUILD_DEPENDS="nosuchmod"\nDEST_MODULE_LOCATION[0]="/updates"\n' \
		>"$R/usr/src/defer-1.0/dkms.conf"
	: >"$R/usr/src/defer-1.0/defer.c"
	rk add defer/1.0 >/dev/null || return 1
	expect 0 autoinstall -k "$K1" <<-EOF || return 1
	defer/1.0 autoinstall deferred: BUILD_DEPENDS not registered with DKMS: nosuchmod.
	Autoinstall on $K1 deferred module(s) defer/1.0 due to BUILD_DEPENDS not yet registered with DKMS.
	These may be provided externally or by a package not yet configured; autoinstall will retry on the next trigger.
	EOF
	rk status defer | grep -qx "defer/1.0: added" && rk remove --all defer/1.0 >/dev/null
}
check "autoinstall of a module whose BUILD_DEPENDS the tree does not know: deferred, exit 0" deferred

add_twice() {
	expect 0 add hello/0.1 <<<"Creating symlink /var/lib/dkms/hello/0.1/source -> /usr/src/hello-0.1" || return 1
	expect 3 add "$R/usr/src/hello-0.1" <<-EOF
	
	Error! DKMS tree already contains: hello/0.1
	You cannot add the same module/version combo more than once.
	EOF
}
check "add of an added module by directory: exit 3 and dkms's two lines" add_twice

add_noconf() {
	expect 1 add "$W/noconf" <<-EOF
	
	Error! Arguments <module> and <module-version> are not specified.
	Usage: add <module>/<module-version> or
	       add -m <module>/<module-version> or
	       add -m <module> -v <module-version>
	EOF
}
check "add of a directory without dkms.conf: exit 1, no module given" add_noconf

add_empty_conf() {
	local rc=0
	rk add "$W/empty" >"$W/out" 2>&1 || rc=$?
	((rc == 8)) && grep -qx 'Error! Bad conf file.' "$W/out" && ! grep -q Malformed "$W/out" ||
		{ echo "exit $rc"; cat "$W/out"; return 1; }
}
check "add of an empty dkms.conf by path: exit 8, Bad conf file" add_empty_conf

make_log() {
	rk build hello/0.1 -k "$K1" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	local log=$R/var/lib/dkms/hello/0.1/$K1/$ARCH/log/make.log
	sed -n '1p;3,5p' "$log" | sed 's/ KVERSION=.*//' >"$W/head"
	diff -u - "$W/head" <<-EOF || return 1
	DKMS (rekmod-$("$REKMOD" --version | sed 's/^rekmod-//')) make.log for hello/0.1 for kernel $K1 ($ARCH)

	Building module(s)
	# command: make -j1 KERNELRELEASE=$K1 all
	EOF
	tail -n 3 "$log" | sed 's/[0-9][0-9]:[0-9][0-9]:[0-9][0-9]$/HH:MM:SS/' | diff -u - <(printf '%s\n' \
		'# exit code: 0' '# elapsed time: HH:MM:SS' '----------------------------------------------------------------')
}
check "make.log: the 'Building module(s)' section, -j from parallel_jobs, hh:mm:ss and the rule" make_log

install_force() {
	rk install hello/0.1 -k "$K1" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	expect 0 install --force hello/0.1 -k "$K1" <<-EOF
	Module hello/0.1 for kernel $K1 ($ARCH):
	Before uninstall, this module version was ACTIVE on this kernel.
	Deleting $L
	Running depmod... done.

	Installing $L
	Running depmod... done.
	EOF
}
check "install --force: the uninstall's lines, depmod, a blank line, the install" install_force

kernel_prerm() {
	expect 0 kernel_prerm -k "$K1" <<-EOF
	dkms: removing module hello/0.1 for kernel $K1 ($ARCH)
	Module hello/0.1 for kernel $K1 ($ARCH):
	Before uninstall, this module version was ACTIVE on this kernel.
	Deleting $L

	Running depmod... done.
	EOF
}
check "kernel_prerm: a blank line after each module, then depmod" kernel_prerm

remove_lines() {
	expect 0 remove hello/0.1 -k "$K1" <<-EOF
	Module hello/0.1 is not installed for kernel $K1 ($ARCH). Skipping...
	Module hello/0.1 is not built for kernel $K1 ($ARCH). Skipping...

	Deleting module hello/0.1 completely from the DKMS tree.
	EOF
}
check "remove -k: the kernel's lines, a blank line, the deletion" remove_lines

broken() {
	mkdir -p "$R/usr/src/brk-1.0"
	printf 'PACKAGE_NAME="brk"\nPACKAGE_VERSION="1.0"\nBUILT_MODULE_NAME[0]="brk"\nDEST_MODULE_LOCATION[0]="/updates"\n' \
		>"$R/usr/src/brk-1.0/dkms.conf"
	rk add brk/1.0 >/dev/null && rm "$R/var/lib/dkms/brk/1.0/source" || return 1
	mksrc other 1.0 'BUILT_MODULE_NAME[0]="other"' 'DEST_MODULE_LOCATION[0]="/updates"'
	rk add other/1.0 >/dev/null || return 1 # an empty version directory stays broken
	rk status brk | grep -qx "brk/1.0: broken" || { rk status; return 1; }
	local verb
	for verb in unbuild uninstall remove; do
		expect 4 "$verb" brk/1.0 -k "$K1" <<-EOF || return 1
		
		Error! brk/1.0 is broken!
		Missing the source directory or the symbolic link pointing to it.
		Manual intervention is required!
		EOF
	done
	expect 0 autoinstall -k "$K1" <<-EOF
	
	Error! brk/1.0 is broken! Missing the source directory or the symbolic link pointing to it.
	Manual intervention is required!
	EOF
}
check "a module without its source link is broken (after another add too): unbuild, uninstall, remove exit 4; autoinstall names it" broken

conf_lines() {
	mkdir -p "$W/bad"
	printf '%s\n' 'PACKAGE_NAME="bad"' 'PACKAGE_VERSION="1.0"' 'DEST_MODULE_NAME[0]="bar.ko"' \
		'DEST_MODULE_LOCATION="/wrong"' 'BUILT_MODULE_NAME[1]="bar.o"' 'AUTOINSTALL="maybe"' >"$W/bad/dkms.conf"
	expect 8 add "$W/bad" <<-EOF
	dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #0.
	dkms.conf: Error! 'DEST_MODULE_NAME' directive ends in '.o' or '.ko' in record #0.
	dkms.conf: Error! Directive 'DEST_MODULE_LOCATION' does not begin with
	'/kernel', '/updates', or '/extra' in record #0.
	dkms.conf: Error! 'BUILT_MODULE_NAME' directive ends in '.o' or '.ko' in record #1.
	dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #1.
	dkms.conf: Error! Unsupported AUTOINSTALL value 'maybe'
	
	Error! Bad conf file.
	File: $W/bad/dkms.conf does not represent a valid dkms.conf file.
	EOF
}
check "an invalid dkms.conf: dkms 3.x's 'dkms.conf: Error!' lines (rekmod's file:line at --verbose), exit 8" conf_lines

depends_words() {
	mksrc dep 1.0 'BUILT_MODULE_NAME[0]="dep"' 'DEST_MODULE_LOCATION[0]="/updates"' 'BUILD_DEPENDS="nosuch"'
	rk add dep/1.0 >/dev/null || return 1
	NOPROLOGUE=1 expect 13 build dep/1.0 -k "$K1" <<-EOF
	
	
	Error! Aborting build of module dep/1.0 for kernel $K1 ($ARCH) due to missing BUILD_DEPENDS: nosuch.
	You may override by specifying --force.
	EOF
}
check "build with a BUILD_DEPENDS not installed: dkms 3.x's two lines after the signing prologue, exit 13" depends_words

patch_dotdot() {
	mksrc pat 1.0 'BUILT_MODULE_NAME[0]="pat"' 'DEST_MODULE_LOCATION[0]="/updates"' 'PATCH[0]="sub/../x.patch"'
	rk add pat/1.0 >/dev/null || return 1
	NOPROLOGUE=1 expect 5 build pat/1.0 -k "$K1" <<-EOF
	
	
	Error! Patch sub/../x.patch as specified in dkms.conf contains '..' path component.
	EOF
}
check "a PATCH with a '..' component: dkms 3.x's line, exit 5" patch_dotdot

script_output() {
	mksrc scr 1.0 'BUILT_MODULE_NAME[0]="scr"' 'DEST_MODULE_LOCATION[0]="/updates"' 'POST_ADD="s.sh post_add"'
	printf '#!/bin/sh\necho "$1: out"\necho "$1: err" >&2\n' >"$R/usr/src/scr-1.0/s.sh"
	chmod +x "$R/usr/src/scr-1.0/s.sh"
	expect 0 add scr/1.0 <<-EOF
	Creating symlink /var/lib/dkms/scr/1.0/source -> /usr/src/scr-1.0
	Running the post_add script:
	post_add: out
	post_add: err
	EOF
}
check "POST_ADD's output (stdout and stderr) is shown, as dkms 3.x shows it" script_output

deprecated_obsolete() {
	mksrc obs 1.0 'BUILT_MODULE_NAME[0]="obs"' 'DEST_MODULE_LOCATION[0]="/updates"' 'OBSOLETE_BY="9.0"'
	expect 0 add obs/1.0 <<-EOF
	Deprecated feature: OBSOLETE_BY (/usr/src/obs-1.0/dkms.conf): use BUILD_EXCLUSIVE_KERNEL_MAX instead
	Creating symlink /var/lib/dkms/obs/1.0/source -> /usr/src/obs-1.0
	EOF
}
check "OBSOLETE_BY is a deprecated feature (dkms 3.x's line)" deprecated_obsolete

exclusive_remove() {
	mksrc exc 1.0 'BUILT_MODULE_NAME[0]="exc"' 'DEST_MODULE_LOCATION[0]="/updates"' \
		'BUILT_MODULE_NAME[1]="exc2"' 'DEST_MODULE_LOCATION[1]="/updates"' \
		"BUILD_EXCLUSIVE_KERNEL[0]='^99\.'" "BUILD_EXCLUSIVE_KERNEL[1]='.*'"
	rk add exc/1.0 >/dev/null || return 1
	expect 77 build exc/1.0 -k "$K1" <<-EOF || return 1
	Warning: The /var/lib/dkms/exc/1.0/$K1/$ARCH/dkms.conf
	for module exc/1.0 includes BUILD_EXCLUSIVE directives
	which do not match this kernel/arch/config for any modules.
	This indicates that it should not be built.
	EOF
	expect 0 remove exc/1.0 -k "$K1" <<-EOF
	Module exc/1.0 is not built for kernel $K1 ($ARCH). Skipping...
	
	Deleting module exc/1.0 completely from the DKMS tree.
	EOF
}
check "BUILD_EXCLUSIVE_KERNEL[0] applies to every module (77); remove says no 'not installed' line" exclusive_remove

no_os_release() {
	mv "$R/etc/os-release" "$W/os-release"
	expect 4 add hello/0.1 <<-EOF
	
	Error! System is missing os-release file.
	EOF
	local rc=$?
	mv "$W/os-release" "$R/etc/os-release"
	return $rc
}
check "no os-release: dkms 3.x's error, exit 4" no_os_release

missing_files() {
	mkdir -p "$R/etc/dkms/framework.conf.d"
	printf 'post_transaction="echo done for $kernelver"\n' >"$R/etc/dkms/framework.conf.d/pt.conf"
	rk install hello/0.1 -k "$K1" >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	tail -n 1 "$W/out" | grep -qx 'Executing post-transaction command... done.' || { cat "$W/out"; return 1; }
	sed -n '2,4p' "$R/var/lib/dkms/post_transaction.log" | diff -u - <(printf '%s\n' \
		'Executing post-transaction command' "# command: echo done for $K1" "done for $K1") || return 1
	rm "$R/etc/dkms/framework.conf.d/pt.conf"
	rm "$R/var/lib/dkms/hello/0.1/$K1/$ARCH/module/hello.ko"* "$R$L"*
	expect 0 uninstall hello/0.1 -k "$K1" <<-EOF || return 1
	Module hello/0.1 for kernel $K1 ($ARCH):
	Before uninstall, this module version was ACTIVE on this kernel.
	Module hello.ko was not found within /lib/modules/$K1/
	Running depmod... done.
	EOF
	rk status hello | grep -qx "hello/0.1, $K1, $ARCH: built (Built modules are missing in the kernel modules folder)" ||
		{ rk status hello; return 1; }
	expect 6 install hello/0.1 -k "$K1" <<-EOF
	
	Error! Missing module hello in /var/lib/dkms/hello/0.1/$K1/$ARCH/module
	EOF
}
check "post_transaction after install (dkms 3.x's log); built modules deleted: uninstall's and status's words, install exit 6 without depmod" missing_files

summary
