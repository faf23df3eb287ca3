#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# rekmod integration tests: real kernel headers, real make, real depmod,
# libkmod's modinfo, everything inside scratch roots (--root / REKMOD_ROOT).
# Output: "ok N - ..." / "not ok N - ..." lines, then "P passed, F failed".
# Exit 0 when everything passed, 1 otherwise, 77 when it cannot run here.
set -u
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRCDIR=$(cd "$HERE/../.." && pwd)
REKMOD=${REKMOD:-$SRCDIR/build/rekmod}
HELLO_SRC=$SRCDIR/examples/hello
ARCH=$(uname -m)

skip() {
	echo "SKIP: $*"
	exit 77
}

[[ -x $REKMOD ]] || skip "no rekmod binary at $REKMOD (run make first or set REKMOD)"
for tool in make depmod modinfo gcc; do
	command -v "$tool" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
	command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
done

# The two newest Debian kernel header trees: K1 newest, K2 second.
mapfile -t KERNELS < <(find /usr/src -maxdepth 1 -name 'linux-headers-6.1.0-*-amd64' -printf '%f\n' |
	sed 's/^linux-headers-//' | sort -rV | head -n 2)
((${#KERNELS[@]} >= 2)) || skip "fewer than two /usr/src/linux-headers-6.1.0-*-amd64 trees"
K1=${KERNELS[0]}
K2=${KERNELS[1]}

# ---- host snapshot: nothing outside the scratch roots may change ----
host_snapshot() {
	local d
	for d in /lib/modules /var/lib/dkms /etc/dkms /usr/src; do
		if [[ -e $d ]]; then
			find "$d" -maxdepth 4 -printf '%p %y %s %T@\n' 2>/dev/null
		else
			echo "$d absent"
		fi
	done
	find /etc /var/lib /usr/src /lib -maxdepth 1 -printf '%p %y\n' 2>/dev/null
}

W=$(mktemp -d /tmp/rekmod-it.XXXXXX)
W=$(realpath "$W")
cleanup() {
	[[ -n ${KEEP:-} ]] && { echo "# kept $W"; return; }
	rm -rf "$W"
}
trap cleanup EXIT
host_snapshot | sort >"$W/host.before"
mkdir "$W/cwd"
cd "$W/cwd" || exit 1

# ---- tiny TAP ----
N=0
PASSED=0
FAILED=0
CMD=""
RC=0
OUT=$W/out
ERR=$W/err
: >"$OUT"
: >"$ERR"

# run ARGS...: runs rekmod, stdout in $OUT, stderr in $ERR, exit code in $RC
run() {
	CMD="rekmod $*"
	"$REKMOD" "$@" >"$OUT" 2>"$ERR"
	RC=$?
}

# run_env VAR=VALUE ARGS...: the same with one environment variable set
run_env() {
	local assign=$1
	shift
	CMD="$assign rekmod $*"
	env "$assign" "$REKMOD" "$@" >"$OUT" 2>"$ERR"
	RC=$?
}

show_last() {
	echo "#   command: $CMD"
	echo "#   exit code: $RC"
	sed 's/^/#   stdout: /' "$OUT"
	sed 's/^/#   stderr: /' "$ERR"
}

# check DESCRIPTION COMMAND...: one numbered result; DETAIL (if set) is shown on failure
DETAIL=""
check() {
	local desc=$1
	shift
	N=$((N + 1))
	if "$@"; then
		PASSED=$((PASSED + 1))
		echo "ok $N - $desc"
	else
		FAILED=$((FAILED + 1))
		echo "not ok $N - $desc"
		[[ -n $DETAIL ]] && printf '%s\n' "$DETAIL" | sed 's/^/#   /'
		show_last
	fi
	DETAIL=""
}

rc_is() { [[ $RC -eq $1 ]]; }
out_has() { grep -qF -- "$1" "$OUT"; }
err_has() { grep -qF -- "$1" "$ERR"; }
all_has() { cat "$OUT" "$ERR" | grep -qF -- "$1"; }
silent() { [[ ! -s $OUT && ! -s $ERR ]]; }
quiet_ok() { [[ $RC -eq 0 ]] && silent; }
lacks_line() { ! grep -q -- "$1" "$2"; }

# same_text EXPECTED_FILE ACTUAL_FILE: equal, the diff in DETAIL otherwise
same_text() {
	local d
	if d=$(diff -u "$1" "$2"); then
		return 0
	fi
	DETAIL=$d
	return 1
}

# vermagic_is FILE KERNEL: modinfo's vermagic starts with "KERNEL "
vermagic_is() {
	local vm
	vm=$(modinfo -F vermagic "$1" 2>&1)
	[[ $vm == "$2 "* ]] && return 0
	DETAIL="modinfo -F vermagic $1: $vm (expected it to start with $2)"
	return 1
}

stamp() { stat -c '%i %s %y' "$1" 2>&1; }

# ---- scratch roots ----
# make_root DIR: os-release, hello source, build links for K1 and K2
make_root() {
	local r=$1 k
	mkdir -p "$r/etc" "$r/usr/src"
	cp /etc/os-release "$r/etc/os-release"
	cp -a "$HELLO_SRC" "$r/usr/src/hello-0.1"
	for k in "$K1" "$K2"; do
		mkdir -p "$r/lib/modules/$k"
		ln -s "/usr/src/linux-headers-$k" "$r/lib/modules/$k/build"
	done
}

# clone_module ROOT NAME VERSION: a copy of hello renamed to NAME-VERSION (module NAME.ko)
clone_module() {
	local d=$1/usr/src/$2-$3
	mkdir -p "$d"
	sed "s/^obj-m := hello.o/obj-m := $2.o/" "$HELLO_SRC/Makefile" >"$d/Makefile"
	cp "$HELLO_SRC/hello.c" "$d/$2.c"
	sed -e "s/^PACKAGE_NAME=.*/PACKAGE_NAME=\"$2\"/" -e "s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"$3\"/" \
		-e "s/^BUILT_MODULE_NAME\\[0\\]=.*/BUILT_MODULE_NAME[0]=\"$2\"/" "$HELLO_SRC/dkms.conf" >"$d/dkms.conf"
	grep -q '^AUTOINSTALL="yes"' "$d/dkms.conf" || echo 'AUTOINSTALL="yes"' >>"$d/dkms.conf"
}

tree_listing() { (cd "$1" && find . -printf '%p %y %s\n' | sort); }

R=$W/root
make_root "$R"
DKMS=$R/var/lib/dkms
UPD1=$R/lib/modules/$K1/updates/dkms
UPD2=$R/lib/modules/$K2/updates/dkms
tree_listing "$R/usr/src/hello-0.1" >"$W/hello-src.before"
(cd "$R/usr/src/hello-0.1" && find . -type f -exec md5sum {} + | sort) >"$W/hello-md5.before"

# modules.dep present for K1 only: depmod runs there
: >"$R/lib/modules/$K1/modules.dep"
: >"$R/lib/modules/$K1/modules.order"
: >"$R/lib/modules/$K1/modules.builtin"

# A different, real hello.ko (MODULE_VERSION 0.0.1) built by hand against K1,
# to play the kernel's own module in the original-module checks.
mkdir -p "$W/orig"
cp "$HELLO_SRC/hello.c" "$W/orig/hello.c"
sed -i 's/MODULE_VERSION("0.1")/MODULE_VERSION("0.0.1")/' "$W/orig/hello.c"
echo 'obj-m := hello.o' >"$W/orig/Makefile"
if ! make -C "/usr/src/linux-headers-$K1" M="$W/orig" modules >"$W/orig.log" 2>&1 ||
	[[ $(modinfo -F version "$W/orig/hello.ko" 2>/dev/null) != 0.0.1 ]]; then
	cat "$W/orig.log"
	echo "Bail out! could not build the 0.0.1 variant of hello against $K1"
	exit 1
fi

echo "# rekmod: $REKMOD"
echo "# K1=$K1 K2=$K2 arch=$ARCH root=$R"
T0=$(date +%s)

# ======== 1. add, install for two kernels at once ========
run --root "$R" add -m hello -v 0.1
check "add hello/0.1 exits 0" rc_is 0
check "add made source -> /usr/src/hello-0.1 (path inside the root)" \
	test "$(readlink "$DKMS/hello/0.1/source" 2>&1)" = /usr/src/hello-0.1

run --root "$R" add hello/0.1
check "adding it again exits 3" rc_is 3
check "adding it again says the tree already contains it" err_has "DKMS tree already contains: hello/0.1"
run --root "$R" add nosuch/1.0
check "add without a source dir exits 2" rc_is 2
check "add without a source dir names $R/usr/src/nosuch-1.0" err_has "$R/usr/src/nosuch-1.0"

run --root "$R" install -m hello -v 0.1 -k "$K1" -k "$K2"
check "install -k K1 -k K2 exits 0" rc_is 0
check "K1 copy at lib/modules/K1/updates/dkms/hello.ko is built for K1" vermagic_is "$UPD1/hello.ko" "$K1"
check "K2 copy at lib/modules/K2/updates/dkms/hello.ko is built for K2" vermagic_is "$UPD2/hello.ko" "$K2"
check "make.log kept in the build dir for K1" test -s "$DKMS/hello/0.1/$K1/$ARCH/log/make.log"
check "kernel-K1-arch link marks the install" \
	test "$(readlink "$DKMS/hello/kernel-$K1-$ARCH" 2>&1)" = "0.1/$K1/$ARCH"

printf 'hello/0.1, %s, %s: installed\n' "$K1" "$ARCH" "$K2" "$ARCH" | LC_ALL=C sort >"$W/status.expected"
run --root "$R" status
cp "$OUT" "$W/status.actual"
check "status prints exactly the two installed lines in C collation order" \
	same_text "$W/status.expected" "$W/status.actual"

# ======== 2. depmod when modules.dep exists ========
check "depmod ran for K1: modules.dep lists updates/dkms/hello.ko" \
	grep -q '^updates/dkms/hello.ko:' "$R/lib/modules/$K1/modules.dep"
check "no depmod for K2 (no modules.dep there)" test ! -e "$R/lib/modules/$K2/modules.dep"

# ======== 3. idempotence ========
before=$(stamp "$UPD1/hello.ko")
run --root "$R" install -m hello -v 0.1 -k "$K1"
check "second install exits 0" rc_is 0
check "second install says already installed" all_has "already installed"
check "second install leaves the installed file alone" test "$(stamp "$UPD1/hello.ko")" = "$before"

# ======== 4. original module archived and restored ========
run --root "$R" uninstall hello/0.1 -k "$K1"
check "uninstall -k K1 (before the original-module checks) exits 0" rc_is 0
ORIG_REL=/lib/modules/$K1/kernel/drivers/misc/hello.ko
ORIG=$R$ORIG_REL
mkdir -p "$(dirname "$ORIG")"
cp "$W/orig/hello.ko" "$ORIG"
md5_orig=$(md5sum <"$ORIG")
ARCHIVE=$DKMS/hello/original_module/$K1/$ARCH

run --root "$R" install hello/0.1 -k "$K1"
check "install over a kernel hello.ko 0.0.1 exits 0" rc_is 0
check "the kernel's hello.ko is moved away" test ! -e "$ORIG"
check "it is archived in original_module/K1/arch" test -f "$ARCHIVE/hello.ko"
check "the archived file is the original (version 0.0.1)" \
	test "$(modinfo -F version "$ARCHIVE/hello.ko" 2>&1)" = 0.0.1
check "hello.ko.origin names its old path" test "$(cat "$ARCHIVE/hello.ko.origin" 2>&1)" = "$ORIG_REL"
check "the dkms copy (0.1) is installed for K1" \
	test "$(modinfo -F version "$UPD1/hello.ko" 2>&1)" = 0.1
check "depmod indexes the dkms copy, not the archived one" \
	grep -q '^updates/dkms/hello.ko:' "$R/lib/modules/$K1/modules.dep"
run --root "$R" status hello/0.1 -k "$K1"
check "status: K1 installed (Original modules exist)" \
	test "$(cat "$OUT")" = "hello/0.1, $K1, $ARCH: installed (Original modules exist)"

run --root "$R" uninstall hello/0.1 -k "$K1"
check "uninstall -k K1 exits 0" rc_is 0
check "the original is back at its old path" test -f "$ORIG"
check "the restored original has identical content" test "$(md5sum <"$ORIG" 2>&1)" = "$md5_orig"
check "the dkms copy is gone from updates/dkms" test ! -e "$UPD1/hello.ko"
check "original_module is emptied" test ! -e "$ARCHIVE/hello.ko" -a ! -e "$ARCHIVE/hello.ko.origin"
check "depmod forgot updates/dkms/hello.ko" \
	lacks_line '^updates/dkms/hello.ko:' "$R/lib/modules/$K1/modules.dep"
run --root "$R" status
printf 'hello/0.1, %s, %s: %s\n' "$K1" "$ARCH" built "$K2" "$ARCH" installed | LC_ALL=C sort >"$W/status.expected"
cp "$OUT" "$W/status.actual"
check "status: K1 built, K2 still installed" same_text "$W/status.expected" "$W/status.actual"

# ======== 5. unbuild, remove --all ========
run --root "$R" unbuild hello/0.1 -k "$K1"
check "unbuild -k K1 exits 0" rc_is 0
check "the K1 build is gone" test ! -e "$DKMS/hello/0.1/$K1"
run --root "$R" remove hello/0.1 --all
check "remove --all exits 0" rc_is 0
check "var/lib/dkms holds no trace of hello (lock file, journal and signing key only)" \
	test "$(cd "$DKMS" 2>/dev/null && find . -mindepth 1 | grep -vxE './(\.rekmod\.lock|\.rekmod-journal|mok\.key|mok\.pub)')" = ""
check "lib/modules/K1/updates is gone" test ! -e "$R/lib/modules/$K1/updates"
check "lib/modules/K2/updates is gone" test ! -e "$R/lib/modules/$K2/updates"
check "the kernel's own hello.ko stays in place" test "$(md5sum <"$ORIG" 2>&1)" = "$md5_orig"
tree_listing "$R/usr/src/hello-0.1" >"$W/hello-src.after"
(cd "$R/usr/src/hello-0.1" && find . -type f -exec md5sum {} + | sort) >"$W/hello-md5.after"
check "usr/src/hello-0.1 listing untouched" same_text "$W/hello-src.before" "$W/hello-src.after"
check "usr/src/hello-0.1 content untouched" same_text "$W/hello-md5.before" "$W/hello-md5.after"
run --root "$R" status
check "status prints nothing" silent

# ======== 6. failing build ========
clone_module "$R" failhello 1.0
printf 'obj-m := failhello.o\n\nall:\n\tfalse\n\nclean:\n\ttrue\n' >"$R/usr/src/failhello-1.0/Makefile"
run --root "$R" add failhello/1.0
check "add failhello/1.0 exits 0" rc_is 0
run --root "$R" build failhello/1.0 -k "$K1"
check "failing make: build exits 10" rc_is 10
LOG_WANT=$DKMS/failhello/1.0/build/make.log
log_named=$(sed -n 's/^Consult \(.*\) for more information\.$/\1/p' "$ERR" | head -n 1)
check "the error names $LOG_WANT" test "$log_named" = "$LOG_WANT"
check "make.log exists where the message says" test -n "$log_named" -a -f "$log_named"
check "make.log holds make's output" \
	grep -q 'Error 1' "$LOG_WANT"
run --root "$R" status failhello
check "status: failhello/1.0: added" test "$(cat "$OUT")" = "failhello/1.0: added"

# ======== 7. missing headers ========
mkdir -p "$R/lib/modules/9.9.9-fake"
run --root "$R" build failhello/1.0 -k 9.9.9-fake
check "no headers: build exits 21" rc_is 21
check "the message names the kernel 9.9.9-fake" err_has "9.9.9-fake"
check "the message names the headers path" err_has "$R/lib/modules/9.9.9-fake/build"
check "nothing built for 9.9.9-fake" test ! -e "$DKMS/failhello/1.0/9.9.9-fake"
# dkms (each kernel in a subshell) reports the failing kernel and goes on with the next
run --root "$R" add hello/0.1
check "add hello/0.1 again exits 0" rc_is 0
run --root "$R" build hello/0.1 -k 9.9.9-fake -k "$K2"
check "build -k 9.9.9-fake -k K2: headers error for 9.9.9-fake" err_has "headers for kernel 9.9.9-fake"
check "build -k 9.9.9-fake -k K2: K2 still gets built" test -f "$DKMS/hello/0.1/$K2/$ARCH/module/hello.ko"
run --root "$R" remove hello/0.1 --all
check "remove hello/0.1 --all exits 0" rc_is 0

# ======== 8. bad names ========
listing_w() { (cd "$W" && find . -path ./out -prune -o -path ./err -prune -o -path './names.*' -prune -o -printf '%p %y\n' | sort); }
listing_w >"$W/names.before"
bad_name() {
	local what=$1
	shift
	run --root "$R" "$@"
	check "$what: exit 1" rc_is 1
	check "$what: one-line error" test "$(cat "$OUT" "$ERR" | grep -c .)" -eq 1 # and dkms 3.x's blank line before it
}
bad_name "build -m ../evil -v 1" build -m ../evil -v 1 -k "$K1"
bad_name "install ../evil/1 (M/V form)" install ../evil/1 -k "$K1"
bad_name "add -m ../evil -v 1" add -m ../evil -v 1
bad_name "build -k ../../x" build -m evil -v 1 -k ../../x
bad_name "build -v a/b" build -m evil -v a/b -k "$K1"
bad_name "add -m .. -v 1" add -m .. -v 1
bad_name "build -a ../x" build -m evil -v 1 -k "$K1" -a ../x
listing_w >"$W/names.after"
check "bad names created nothing, inside or outside the root" same_text "$W/names.before" "$W/names.after"

# ======== 9. bad dkms.conf ========
clone_module "$R" badconf 1.0
sed -i 's|^DEST_MODULE_LOCATION\[0\]=.*|DEST_MODULE_LOCATION[0]="/lib/foo"|' "$R/usr/src/badconf-1.0/dkms.conf"
badline=$(grep -n '^DEST_MODULE_LOCATION' "$R/usr/src/badconf-1.0/dkms.conf" | cut -d: -f1)
run --root "$R" add badconf/1.0
check "DEST_MODULE_LOCATION=/lib/foo: add exits 8" rc_is 8
check "stderr has dkms 3.x's line" err_has "dkms.conf: Error! Directive 'DEST_MODULE_LOCATION' does not begin with"
run --root "$R" --verbose add badconf/1.0
check "with --verbose, rekmod names the file and line ($badline)" all_has "$R/usr/src/badconf-1.0/dkms.conf:$badline"
check "badconf is not registered" test ! -e "$DKMS/badconf"

# ======== 10. autoinstall ========
clone_module "$R" hello2 0.2
clone_module "$R" brokenmod 1.0
for mv in hello/0.1 hello2/0.2 brokenmod/1.0; do
	run --root "$R" add "$mv"
	check "add $mv exits 0" rc_is 0
done
rm -rf "$R/usr/src/brokenmod-1.0"
run --root "$R" status brokenmod
check "status: brokenmod/1.0: broken" test "$(cat "$OUT")" = "brokenmod/1.0: broken"
run --root "$R" autoinstall -k "$K1"
check "autoinstall with a failing module exits 11" rc_is 11
check "hello installed for K1 by autoinstall" vermagic_is "$UPD1/hello.ko" "$K1"
check "hello2 installed for K1 by autoinstall" vermagic_is "$UPD1/hello2.ko" "$K1"
check "summary names the successes" grep -Fxq "Autoinstall on $K1 succeeded for module(s) hello hello2." "$OUT"
check "the kernel's hello.ko was archived again" test -f "$ARCHIVE/hello.ko" -a ! -e "$ORIG"
check "summary names failhello as failed" all_has "failed for module(s) failhello"
check "the broken registration is reported" all_has "brokenmod/1.0"
check "depmod indexed both modules" \
	grep -Eq '^updates/dkms/hello2?\.ko:' "$R/lib/modules/$K1/modules.dep"
run --root "$R" status
{
	printf 'brokenmod/1.0: broken\n'
	printf 'failhello/1.0: added\n'
	printf 'failhello/1.0, %s, %s: failed (exit 10, see %s)\n' "$K1" "$ARCH" \
		"$DKMS/failhello/1.0/log/make-$K1-$ARCH.log"
	printf 'hello/0.1, %s, %s: installed (Original modules exist)\n' "$K1" "$ARCH"
	printf 'hello2/0.2, %s, %s: installed\n' "$K1" "$ARCH"
} >"$W/status.expected"
cp "$OUT" "$W/status.actual"
check "status after autoinstall" same_text "$W/status.expected" "$W/status.actual"
check "status reports the broken registration on stderr" err_has "brokenmod/1.0: Missing the module source directory"

# ======== 11. REKMOD_ROOT ========
R2=$W/root2
make_root "$R2"
run_env "REKMOD_ROOT=$R2" add hello/0.1
check "REKMOD_ROOT: add exits 0" rc_is 0
run_env "REKMOD_ROOT=$R2" install hello/0.1 -k "$K2"
check "REKMOD_ROOT: install exits 0" rc_is 0
check "REKMOD_ROOT: installed inside that root" vermagic_is "$R2/lib/modules/$K2/updates/dkms/hello.ko" "$K2"
run_env "REKMOD_ROOT=$R2" status
cp "$OUT" "$W/status.env"
run --root "$R2" status
cp "$OUT" "$W/status.opt"
check "REKMOD_ROOT status = --root status" same_text "$W/status.opt" "$W/status.env"
check "status shows the install" test "$(cat "$W/status.env")" = "hello/0.1, $K2, $ARCH: installed"

# The source link of a registration points inside the root: when the root's
# source dir is gone the registration is broken, even if the host happens to
# have a directory of that name (/usr/src/linux-headers-K2 here).
mkdir -p "$R2/usr/src/linux-headers-$K2"
cp "$HELLO_SRC/Makefile" "$HELLO_SRC/hello.c" "$R2/usr/src/linux-headers-$K2/"
sed -e 's/^PACKAGE_NAME=.*/PACKAGE_NAME="linux-headers"/' -e "s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"$K2\"/" \
	"$HELLO_SRC/dkms.conf" >"$R2/usr/src/linux-headers-$K2/dkms.conf"
run --root "$R2" add "linux-headers/$K2"
check "add linux-headers/K2 (a name the host also has under /usr/src) exits 0" rc_is 0
rm -rf "$R2/usr/src/linux-headers-$K2"
run --root "$R2" status linux-headers
check "its source gone from the root: status says broken (the host's /usr/src is not looked at)" \
	test "$(cat "$OUT")" = "linux-headers/$K2: broken"
run --root "$R2" remove "linux-headers/$K2" --all
check "remove the broken registration exits 0" rc_is 0
check "the broken registration is gone" test ! -e "$R2/var/lib/dkms/linux-headers"

# install onto a kernel without lib/modules/<K>: exit 6
run --root "$R2" install hello/0.1 -k 6.1.0-999-nolib --kernelsourcedir "/usr/src/linux-headers-$K2"
check "install onto a kernel without lib/modules/K exits 6" rc_is 6
check "the message names the missing directory" err_has "$R2/lib/modules/6.1.0-999-nolib"
check "nothing installed for that kernel" test ! -e "$R2/lib/modules/6.1.0-999-nolib"

# ======== version sanity: the kernel already has a newer hello.ko ========
# dkms 3.x (do_install): a module check_version_sanity refuses is skipped;
# with none installed, "Installation aborted." and exit 6, no kernel-K-A
# link, the kernel's module kept (dkms 3.0.10 counted it installed, exit 0).
R3=$W/root3
make_root "$R3"
NEWER=$R3/lib/modules/$K1/kernel/drivers/misc/hello.ko
mkdir -p "$(dirname "$NEWER")"
mkdir -p "$W/newer"
sed 's/MODULE_VERSION("0.1")/MODULE_VERSION("9.9")/' "$HELLO_SRC/hello.c" >"$W/newer/hello.c"
echo 'obj-m := hello.o' >"$W/newer/Makefile"
if make -C "/usr/src/linux-headers-$K1" M="$W/newer" modules >"$W/newer.log" 2>&1; then
	cp "$W/newer/hello.ko" "$NEWER"
	md5_newer=$(md5sum <"$NEWER")
	run --root "$R3" add hello/0.1
	run --root "$R3" install hello/0.1 -k "$K1"
	check "kernel has hello.ko 9.9: install says 'is not newer than what is already found'" \
		err_has "is not newer than what is already found in kernel $K1"
	check "kernel has hello.ko 9.9: install exits 6 as dkms 3.x does" rc_is 6
	check "kernel has hello.ko 9.9: Installation aborted." err_has "Error! Installation aborted."
	check "kernel has hello.ko 9.9: not marked installed (no kernel-K1-arch link)" \
		test ! -L "$R3/var/lib/dkms/hello/kernel-$K1-$ARCH"
	check "kernel has hello.ko 9.9: the kernel's module is kept" test "$(md5sum <"$NEWER" 2>&1)" = "$md5_newer"
	check "kernel has hello.ko 9.9: nothing copied to updates/dkms" test ! -e "$R3/lib/modules/$K1/updates/dkms/hello.ko"
else
	CMD="make -C /usr/src/linux-headers-$K1 M=$W/newer modules"
	RC=1
	cp "$W/newer.log" "$OUT"
	: >"$ERR"
	check "build the 9.9 variant of hello by hand" false
fi

# ======== 12. -q ========
run --root "$R2" -q uninstall hello/0.1 -k "$K2"
check "-q uninstall: exit 0, no output" quiet_ok
check "-q uninstall removed the module" test ! -e "$R2/lib/modules/$K2/updates/dkms/hello.ko"
run --root "$R2" -q install hello/0.1 -k "$K2"
check "-q install: exit 0, no output" quiet_ok
run --root "$R2" -q remove hello/0.1 --all
check "-q remove --all: exit 0, no output" quiet_ok
run --root "$R2" -q add hello/0.1
check "-q add: exit 0, no output" quiet_ok
run --root "$R2" -q build hello/0.1 -k "$K2"
check "-q build: exit 0, no output" quiet_ok

# ======== host untouched ========
host_snapshot | sort >"$W/host.after"
CMD="(host snapshot)"
RC=0
: >"$OUT"
: >"$ERR"
check "the real /lib/modules, /var/lib/dkms, /etc/dkms, /usr/src are unchanged" \
	same_text "$W/host.before" "$W/host.after"

echo "# elapsed: $(($(date +%s) - T0))s"
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
