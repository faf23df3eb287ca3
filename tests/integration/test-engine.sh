#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# One engine under every verb: `autoinstall -k K` and `sync --kernel K` reach
# the same tree from the same start (same installs, same failure records, so
# `status` shows a failed autoinstall build as failed), a BUILD_DEPENDS cycle
# is reported in dkms's words while the rest builds, post_transaction runs
# once after a successful autoinstall, and every multi-kernel form (install
# -k K1 -k K2, --all, kernel_prerm, sync, autoinstall) runs depmod exactly
# once per kernel it touched (a depmod wrapper on PATH counts the runs).
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

W=$(realpath "$(mktemp -d /tmp/rekmod-engine.XXXXXX)")
trap '[[ -n ${KEEP:-} ]] || rm -rf "$W"' EXIT

# depmod on PATH: logs "<kernel>" per run, then runs the real one
mkdir -p "$W/bin"
REAL_DEPMOD=$(command -v depmod || echo /usr/sbin/depmod)
cat >"$W/bin/depmod" <<EOF
#!/bin/bash
printf '%s\n' "\${@: -1}" >>"\$DEPMOD_LOG"
exec "$REAL_DEPMOD" "\$@"
EOF
chmod +x "$W/bin/depmod"
export PATH="$W/bin:$PATH"

# add_module ROOT NAME [DEPENDS...]: a hello-like module NAME/1.0
add_module() {
	local r=$1 name=$2 d
	shift 2
	d=$r/usr/src/$name-1.0
	mkdir -p "$d"
	sed "s/hello/$name/g" "$SRCDIR/examples/hello/hello.c" >"$d/$name.c"
	printf 'obj-m := %s.o\n' "$name" >"$d/Makefile"
	{
		printf 'PACKAGE_NAME="%s"\nPACKAGE_VERSION="1.0"\nBUILT_MODULE_NAME[0]="%s"\n' "$name" "$name"
		printf 'DEST_MODULE_LOCATION[0]="/updates/dkms"\nAUTOINSTALL="yes"\n'
		printf 'MAKE[0]="make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build"\n'
		local i=0 dep
		for dep in "$@"; do
			printf 'BUILD_DEPENDS[%d]="%s"\n' "$i" "$dep"
			i=$((i + 1))
		done
	} >"$d/dkms.conf"
	"$REKMOD" --root "$r" add "$name/1.0" >/dev/null
}

# a root with an installed kernel image (modules.dep) for K1 and K2
image_root() {
	local r=$1 k
	new_root "$r"
	for k in "$K1" "$K2"; do
		: >"$r/lib/modules/$k/modules.dep"
		: >"$r/lib/modules/$k/modules.order"
	done
}

# the tree's state, without times and scratch paths
tree_state() {
	local r=$1
	(cd "$r" && find lib/modules var/lib/dkms \( -name '*.ko*' -o -name '.rekmod-failed-*' -o -name 'kernel-*' \) \
		! -name '*.make.log' -printf '%p\n' | sort)
	"$REKMOD" --root "$r" status | sed "s|$r||g"
}

depmods() { # the kernels depmod ran for, sorted, one line each
	sort "$DEPMOD_LOG" 2>/dev/null | uniq -c | awk '{print $2 " x" $1}'
}

fill_root() {
	local r=$1
	image_root "$r"
	add_module "$r" alpha
	add_module "$r" beta alpha
	add_module "$r" broken
	echo '#error deliberately broken' >>"$r/usr/src/broken-1.0/broken.c"
	add_module "$r" cyc1 cyc2
	add_module "$r" cyc2 cyc1
}

# ---- 1. autoinstall -k K == sync --kernel K ----
A=$W/auto S=$W/sync
fill_root "$A"
fill_root "$S"
echo 'post_transaction="echo ran >>'"$A"'/post.log"' >"$W/framework.conf"
mkdir -p "$A/etc/dkms" "$S/etc/dkms"
cp "$W/framework.conf" "$A/etc/dkms/framework.conf"
sed "s|$A|$S|" "$W/framework.conf" >"$S/etc/dkms/framework.conf"

export DEPMOD_LOG=$W/depmod.auto
"$REKMOD" --root "$A" autoinstall -k "$K1" >"$W/auto.out" 2>"$W/auto.err"
echo $? >"$W/auto.rc"
check "autoinstall with a failing module and a cycle exits 11" test "$(cat "$W/auto.rc")" = 11
check "autoinstall ran depmod once, for K1" test "$(depmods)" = "$K1 x1"
check "autoinstall ran post_transaction once" test "$(cat "$A/post.log" 2>&1)" = ran
check "the cycle is reported in dkms's words" \
	grep -Fxq "cyc1/1.0 autoinstall failed due to missing dependencies: cyc2." "$W/auto.out"
check "the other cycle member too" \
	grep -Fxq "cyc2/1.0 autoinstall failed due to missing dependencies: cyc1." "$W/auto.out"
check "the rest still built: success summary" \
	grep -Fxq "Autoinstall on $K1 succeeded for module(s) alpha beta." "$W/auto.out"
check "the failure summary names broken" grep -Fxq "Autoinstall on $K1 failed for module(s) broken(10)." "$W/auto.out"
failed_line() { "$REKMOD" --root "$A" status broken | grep -q "^broken/1.0, $K1, $ARCH: failed (exit 10, see "; }
check "status shows the failed autoinstall build as failed" failed_line

export DEPMOD_LOG=$W/depmod.sync
"$REKMOD" --root "$S" sync --kernel "$K1" >"$W/sync.out" 2>&1
check "sync --kernel K1 exits 11 on the same tree" test $? = 11
check "sync ran depmod once, for K1" test "$(depmods)" = "$K1 x1"
same_outcome() { diff <(tree_state "$A") <(tree_state "$S"); }
check "autoinstall and sync leave the same tree and status" same_outcome

# ---- 2. one depmod per touched kernel, whatever the verb ----
R=$W/multi
image_root "$R"
add_module "$R" gamma
add_module "$R" delta
export DEPMOD_LOG=$W/depmod.install
"$REKMOD" --root "$R" install gamma/1.0 -k "$K1" -k "$K2" >/dev/null 2>&1
check "install -k K1 -k K2: one depmod for each kernel" test "$(depmods)" = "$(printf '%s x1\n' "$K2" "$K1" | sort)"
export DEPMOD_LOG=$W/depmod.all
"$REKMOD" --root "$R" install delta/1.0 --all >/dev/null 2>&1
check "install --all: one depmod for each kernel" test "$(depmods)" = "$(printf '%s x1\n' "$K2" "$K1" | sort)"
export DEPMOD_LOG=$W/depmod.prerm
"$REKMOD" --root "$R" kernel_prerm -k "$K2" >/dev/null 2>&1
check "kernel_prerm of two modules: one depmod" test "$(depmods)" = "$K2 x1"
gone() { ! find "$R/lib/modules/$K2" -name '*.ko' | grep -q .; }
check "kernel_prerm removed both modules from K2" gone
export DEPMOD_LOG=$W/depmod.sync2
"$REKMOD" --root "$R" sync -q >/dev/null 2>&1
check "sync reinstalling two modules on K2: one depmod" test "$(depmods)" = "$K2 x1"
export DEPMOD_LOG=$W/depmod.remove
"$REKMOD" --root "$R" remove gamma/1.0 --all >/dev/null 2>&1
check "remove --all: one depmod for each kernel" test "$(depmods)" = "$(printf '%s x1\n' "$K2" "$K1" | sort)"
check "remove --all unregistered gamma" test ! -e "$R/var/lib/dkms/gamma"

summary
