#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# status on trees given with --dkmstree/--sourcetree/--installtree (no
# --root), where it takes its shortcut: a version directory without
# subdirectories is "added" after two fstatat, without being listed. The
# shortcut is right only while every failure record has the log/ directory
# beside it, also when a record kept no make.log and another kernel's record
# is cleared. Real headers, real make.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

W=$(mktemp -d /tmp/rekmod-status-walk.XXXXXX)
trap 'rm -rf --one-file-system "$W"' EXIT
T=$W/tree
mkdir -p "$T/dkms" "$T/src"
for k in "$K1" "$K2"; do
	mkdir -p "$T/modules/$k"
	ln -s "/usr/src/linux-headers-$k" "$T/modules/$k/build"
done
rk() { "$REKMOD" --dkmstree "$T/dkms" --sourcetree "$T/src" --installtree "$T/modules" "$@"; }

# flaky/1.0 fails to build for a kernel K while $W/fail-K exists
mkdir -p "$T/src/flaky-1.0"
cat >"$T/src/flaky-1.0/dkms.conf" <<'EOF'
PACKAGE_NAME="flaky"
PACKAGE_VERSION="1.0"
BUILT_MODULE_NAME[0]="flaky"
DEST_MODULE_LOCATION[0]="/updates"
AUTOINSTALL="yes"
EOF
cat >"$T/src/flaky-1.0/flaky.c" <<'EOF'
#include <linux/module.h>
MODULE_LICENSE("GPL");
EOF
cat >"$T/src/flaky-1.0/Makefile" <<EOF
ifneq (\$(wildcard $W/fail-\$(KERNELRELEASE)),)
\$(error planted failure for \$(KERNELRELEASE))
endif
obj-m := flaky.o
EOF
cp -a "$SRCDIR/examples/hello" "$T/src/hello-0.1"
cp -a "$SRCDIR/examples/hello" "$T/src/gone-0.1"
sed -i 's/^PACKAGE_NAME=.*/PACKAGE_NAME="gone"/' "$T/src/gone-0.1/dkms.conf"
touch "$W/fail-$K1" "$W/fail-$K2"

setup() {
	rk add flaky/1.0 && rk add hello/0.1 && rk add gone/0.1 || return 1
	rk sync -m flaky >"$W/sync.out" 2>&1
	[[ -e $T/dkms/flaky/1.0/.rekmod-failed-$K1-$ARCH && -e $T/dkms/flaky/1.0/.rekmod-failed-$K2-$ARCH ]] ||
		{ cat "$W/sync.out"; ls -la "$T/dkms/flaky/1.0"; return 1; }
}
check "flaky fails on both kernels, hello and gone are only added" setup

added_and_broken() {
	rm -rf "$T/src/gone-0.1"
	rk status >"$W/st" 2>"$W/st.err"
	grep -qx "hello/0.1: added" "$W/st" && grep -qx "gone/0.1: broken" "$W/st" &&
		grep -q "^flaky/1.0, $K1, $ARCH: failed (exit" "$W/st" &&
		grep -q "^flaky/1.0, $K2, $ARCH: failed (exit" "$W/st" || { cat "$W/st" "$W/st.err"; return 1; }
}
check "status: added through the shortcut, a broken source link, both failures" added_and_broken

# K1's record without its make.log; then K2 is fixed and built, which
# clears K2's record: log/ must stay for K1's
record_survives() {
	rm -f "$T/dkms/flaky/1.0/log/make-$K1-$ARCH.log" "$W/fail-$K2"
	rk build flaky/1.0 -k "$K2" >"$W/b.out" 2>&1 || { cat "$W/b.out"; return 1; }
	[[ ! -e $T/dkms/flaky/1.0/.rekmod-failed-$K2-$ARCH && -d $T/dkms/flaky/1.0/log ]] ||
		{ ls -la "$T/dkms/flaky/1.0" "$T/dkms/flaky/1.0/log"; return 1; }
	rk status -m flaky >"$W/st"
	grep -q "^flaky/1.0, $K1, $ARCH: failed (exit 10" "$W/st" && grep -qx "flaky/1.0, $K2, $ARCH: built" "$W/st" ||
		{ cat "$W/st"; return 1; }
}
check "a failure record without make.log stays visible after another kernel's record is cleared" record_survives

last_cleared() {
	rm -f "$W/fail-$K1"
	rk build flaky/1.0 -k "$K1" >"$W/b.out" 2>&1 || { cat "$W/b.out"; return 1; }
	[[ ! -e $T/dkms/flaky/1.0/log ]] || { ls -la "$T/dkms/flaky/1.0/log"; return 1; }
	rk status -m flaky >"$W/st"
	[[ $(grep -c ": built$" "$W/st") == 2 ]] && ! grep -q failed "$W/st" || { cat "$W/st"; return 1; }
}
check "the last cleared record takes log/ with it; status shows two builds" last_cleared

summary
