#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Fault injection (issue 15): build/rekmod-faults dies at step N of a verb
# (every write, rename, unlink, mkdir and spawn is a step, tests/faults/inject.c),
# or its N-th write fails with ENOSPC. For add, build, install, uninstall,
# remove and sync of a module with two .ko files and an archived original
# (the kernel's own fxa.ko), at every step: the verb is rerun (or `remove`),
# then every installed file must be the old or the new one byte for byte and
# tracked, the original restored or archived, the bystander module's
# registration intact, no *.rekmod-tmp.* file left, `status` agreeing with
# the files and modules.dep with what is installed. The modules are compiled
# once; the module's MAKE copies them (no compile per crash point).
# Output: "ok N - ..." lines, the crash points per verb, "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"
FAULTY=$SRCDIR/build/rekmod-faults
make -s -C "$SRCDIR" build/rekmod-faults >/dev/null || exit 1
command -v depmod >/dev/null || { echo "SKIP: no depmod"; exit 77; }

W=$(realpath "$(mktemp -d /tmp/rekmod-faults.XXXXXX)")
trap '[[ -n ${KEEP:-} ]] || rm -rf "$W"' EXIT
K=$K1
LIB=lib/modules/$K

# ---- the modules, compiled once: fxa and fxb of 1.0 and 2.0, and the kernel's own fxa ----
mkdir -p "$W/kbuild"
for n in fxa1 fxb1 fxa2 fxb2 fxo; do
	sed "s/Hello world/$n says hello/; s/Goodbye world/$n says goodbye/" "$SRCDIR/examples/hello/hello.c" >"$W/kbuild/$n.c"
done
echo 'obj-m := fxa1.o fxb1.o fxa2.o fxb2.o fxo.o' >"$W/kbuild/Makefile"
make -s -C "/usr/src/linux-headers-$K" M="$W/kbuild" modules >"$W/kbuild.log" 2>&1 || {
	cat "$W/kbuild.log"
	exit 1
}

# fx-V source: MAKE copies the prebuilt fxa.ko and fxb.ko
mk_fx() { # DIR VERSION
	local d=$1 v=$2
	mkdir -p "$d/prebuilt"
	cp "$W/kbuild/fxa${v%%.*}.ko" "$d/prebuilt/fxa.ko"
	cp "$W/kbuild/fxb${v%%.*}.ko" "$d/prebuilt/fxb.ko"
	cat >"$d/dkms.conf" <<-EOF
		PACKAGE_NAME="fx"
		PACKAGE_VERSION="$v"
		MAKE[0]="cp prebuilt/fxa.ko prebuilt/fxb.ko ."
		CLEAN="true"
		BUILT_MODULE_NAME[0]="fxa"
		BUILT_MODULE_NAME[1]="fxb"
		DEST_MODULE_LOCATION[0]="/updates/dkms"
		DEST_MODULE_LOCATION[1]="/updates/dkms"
		AUTOINSTALL="yes"
	EOF
}

# the pristine root: fx 1.0 and 2.0 sources, the kernel's own fxa.ko, and a
# bystander module (other) installed
T=$W/template
new_root "$T"
rm -rf "$T/lib/modules/$K2"
mk_fx "$T/usr/src/fx-1.0" 1.0
mk_fx "$T/usr/src/fx-2.0" 2.0
mkdir -p "$T/$LIB/kernel/drivers/misc"
cp "$W/kbuild/fxo.ko" "$T/$LIB/kernel/drivers/misc/fxa.ko"
mk_fx "$T/usr/src/other-1.0" 1.0
sed -i 's/PACKAGE_NAME="fx"/PACKAGE_NAME="other"/; s/"fxa"/"ota"/; s/"fxb"/"otb"/; s/fxa.ko/ota.ko/g; s/fxb.ko/otb.ko/g' \
	"$T/usr/src/other-1.0/dkms.conf"
mv "$T/usr/src/other-1.0/prebuilt/fxa.ko" "$T/usr/src/other-1.0/prebuilt/ota.ko"
mv "$T/usr/src/other-1.0/prebuilt/fxb.ko" "$T/usr/src/other-1.0/prebuilt/otb.ko"
mkdir -p "$T/var/lib/dkms"
# keys made once, not per crash point
"$REKMOD" --root "$T" install other/1.0 -k "$K" >"$W/setup.log" 2>&1 || { cat "$W/setup.log"; exit 1; }
touch "$T/$LIB/modules.order" "$T/$LIB/modules.builtin" "$T/$LIB/modules.builtin.modinfo"
depmod -b "$T" -a "$K"
ORIG_SUM=$(sha256sum <"$T/$LIB/kernel/drivers/misc/fxa.ko")
sum_of() { sha256sum <"$1"; }

# states: a root after the given commands
STATES=$W/states
mk_state() { # NAME COMMAND...: a copy of the template after the commands (each "verb args")
	local name=$1 c
	shift
	cp -a "$T" "$STATES/$name"
	for c in "$@"; do
		# shellcheck disable=SC2086  # the verb's words
		"$REKMOD" --root "$STATES/$name" $c >>"$W/setup.log" 2>&1 || { echo "setup: $c failed"; tail "$W/setup.log"; exit 1; }
	done
}
mkdir -p "$STATES"
mk_state fresh
mk_state added "add fx/1.0"
mk_state built "add fx/1.0" "build fx/1.0 -k $K"
mk_state installed "add fx/1.0" "install fx/1.0 -k $K"
mk_state upgrade "add fx/1.0" "install fx/1.0 -k $K" "add fx/2.0" "build fx/2.0 -k $K"
# the modules as built (signed with the root's key: the same bytes every time)
MODS=var/lib/dkms/fx/2.0/$K/$ARCH/module
V2A=$(sum_of "$STATES/upgrade/$MODS/fxa.ko") V2B=$(sum_of "$STATES/upgrade/$MODS/fxb.ko")
V1A=$(sum_of "$STATES/upgrade/${MODS/2.0/1.0}/fxa.ko") V1B=$(sum_of "$STATES/upgrade/${MODS/2.0/1.0}/fxb.ko")
OTHER_SUM=$(sum_of "$T/var/lib/dkms/other/1.0/$K/$ARCH/module/ota.ko")

# ---- the checks of a root after the crash and the rerun ----
# consistent R EXPECT: EXPECT is what the verb leads to (none, added, built,
# installed-1.0, installed-2.0); the state must be that one.
consistent() {
	local r=$1 want=$2 st
	local a=$r/$LIB/updates/dkms/fxa.ko b=$r/$LIB/updates/dkms/fxb.ko
	local tmps
	tmps=$(find "$r" -name '*.rekmod-tmp.*' -o -name '*.rekmod-old' -o -name '.rekmod-installing' | head -3)
	[[ -z $tmps ]] || { echo "temporary files left: $tmps"; return 1; }
	[[ -L $r/var/lib/dkms/other/1.0/source && -L $r/var/lib/dkms/other/kernel-$K-$ARCH ]] ||
		{ echo "the bystander's registration is gone"; return 1; }
	[[ $(sum_of "$r/$LIB/updates/dkms/ota.ko") == "$OTHER_SUM" ]] ||
		{ echo "the bystander's module changed"; return 1; }
	st=$("$REKMOD" --root "$r" status fx 2>&1)
	case $want in
	installed-*)
		local v=${want#installed-} sa sb
		[[ $v == 1.0 ]] && sa=$V1A sb=$V1B || sa=$V2A sb=$V2B
		[[ -f $a && -f $b && $(sum_of "$a") == "$sa" && $(sum_of "$b") == "$sb" ]] ||
			{ echo "installed files are not fx $v's"; return 1; }
		grep -q "^fx/$v, $K, $ARCH: installed" <<<"$st" || { echo "status: $st"; return 1; }
		local rec=$r/var/lib/dkms/fx/$v/$K/$ARCH/.rekmod-installed
		if ! grep -qxF "fxa.ko	/$LIB/updates/dkms/fxa.ko" "$rec" || ! grep -qxF "fxb.ko	/$LIB/updates/dkms/fxb.ko" "$rec"; then
			echo "not tracked: $(cat "$rec" 2>&1)"
			return 1
		fi
		[[ ! -e $r/$LIB/kernel/drivers/misc/fxa.ko ]] || { echo "the original is not archived"; return 1; }
		[[ $(sum_of "$r/var/lib/dkms/fx/original_module/$K/$ARCH/fxa.ko") == "$ORIG_SUM" ]] ||
			{ echo "the archived original is not the kernel's"; return 1; }
		if ! grep -q "^updates/dkms/fxa.ko:" "$r/$LIB/modules.dep" || ! grep -q "^updates/dkms/fxb.ko:" "$r/$LIB/modules.dep"; then
			echo "modules.dep does not list them"
			return 1
		fi
		;;
	*)
		[[ ! -e $a && ! -e $b ]] || { echo "fx files installed though $want"; return 1; }
		[[ -f $r/$LIB/kernel/drivers/misc/fxa.ko && $(sum_of "$r/$LIB/kernel/drivers/misc/fxa.ko") == "$ORIG_SUM" ]] ||
			{ echo "the original is not restored"; return 1; }
		! grep -q "^updates/dkms/fx[ab].ko:" "$r/$LIB/modules.dep" || { echo "modules.dep lists fx"; return 1; }
		grep -q "^kernel/drivers/misc/fxa.ko:" "$r/$LIB/modules.dep" || { echo "modules.dep lost the original"; return 1; }
		case $want in
		none)
			# a crash between emptying fx/1.0 and removing the empty directories
			# leaves them to the next command that takes the lock (a rerun of
			# remove finds nothing registered to remove)
			[[ -d $r/var/lib/dkms/fx && -z $(find "$r/var/lib/dkms/fx" -mindepth 1 ! -type d) ]] &&
				"$REKMOD" --root "$r" build other/1.0 -k "$K" >/dev/null 2>&1
			[[ ! -e $r/var/lib/dkms/fx ]] || { echo "fx still registered: $(cd "$r/var/lib/dkms" && find fx | head -3)"; return 1; } ;;
		added) grep -q "^fx/1.0: added" <<<"$st" || { echo "status: $st"; return 1; } ;;
		built) grep -q "^fx/1.0, $K, $ARCH: built" <<<"$st" || { echo "status: $st"; return 1; } ;;
		not-installed) ! grep -q "installed" <<<"$st" || { echo "status: $st"; return 1; } ;;
		esac
		;;
	esac
}

# ---- crash every step of a verb ----
CRASH_POINTS=0
declare -A POINTS
# crash_all NAME STATE EXPECT VERB...: at each step N of VERB on a copy of
# STATE, crash; rerun VERB; expect EXPECT.
crash_all() {
	local name=$1 state=$2 want=$3 steps n r bad=0 first=""
	shift 3
	[[ -z ${ONLY:-} || $ONLY == "$name" ]] || return 0
	r=$W/run
	rm -rf "$r" && cp -a "$STATES/$state" "$r"
	REKMOD_FAULT_COUNT=$W/count "$FAULTY" --root "$r" "$@" >/dev/null 2>&1
	steps=$(cut -d' ' -f1 "$W/count")
	for ((n = 1; n <= steps; n++)); do
		rm -rf "$r" && cp -a "$STATES/$state" "$r"
		(REKMOD_FAULT_CRASH_AT=$n "$FAULTY" --root "$r" "$@" >"$W/crash.out" 2>&1; :) 2>/dev/null
		"$REKMOD" --root "$r" "$@" >"$W/rerun.out" 2>&1
		if ! out=$(consistent "$r" "$want"); then
			bad=$((bad + 1))
			[[ -n $first ]] || first="step $n: $out"
		fi
	done
	POINTS[$name]=$steps
	CRASH_POINTS=$((CRASH_POINTS + steps))
	check "$name: killed at each of its $steps steps, then rerun: $want, consistent${first:+ ($bad bad; first $first)}" test "$bad" = 0
}

# crash_then_remove NAME STATE VERB...: crash at each step, then remove --all: fx gone, original back
crash_then_remove() {
	local name=$1 state=$2 steps n r bad=0 first=""
	shift 2
	[[ -z ${ONLY:-} || $ONLY == "$name" ]] || return 0
	r=$W/run
	rm -rf "$r" && cp -a "$STATES/$state" "$r"
	REKMOD_FAULT_COUNT=$W/count "$FAULTY" --root "$r" "$@" >/dev/null 2>&1
	steps=$(cut -d' ' -f1 "$W/count")
	for ((n = 1; n <= steps; n++)); do
		rm -rf "$r" && cp -a "$STATES/$state" "$r"
		(REKMOD_FAULT_CRASH_AT=$n "$FAULTY" --root "$r" "$@" >"$W/crash.out" 2>&1; :) 2>/dev/null
		"$REKMOD" --root "$r" remove fx/1.0 --all >"$W/rerun.out" 2>&1
		if ! out=$(consistent "$r" none); then
			bad=$((bad + 1))
			[[ -n $first ]] || first="step $n: $out"
		fi
	done
	POINTS[$name]=$steps
	CRASH_POINTS=$((CRASH_POINTS + steps))
	check "$name: killed at each of its $steps steps, then remove --all: fx gone, original back${first:+ ($bad bad; first $first)}" test "$bad" = 0
}

# enospc_all NAME STATE EXPECT_OK EXPECT_FAIL VERB...: the N-th write fails
# with ENOSPC; right after it the root is in one of the two states (all or
# none), and a rerun reaches EXPECT_OK.
enospc_all() {
	local name=$1 state=$2 ok=$3 fail=$4 writes n r bad=0 first="" rc
	shift 4
	[[ -z ${ONLY:-} || $ONLY == "$name-enospc" ]] || return 0
	r=$W/run
	rm -rf "$r" && cp -a "$STATES/$state" "$r"
	REKMOD_FAULT_COUNT=$W/count "$FAULTY" --root "$r" "$@" >/dev/null 2>&1
	writes=$(cut -d' ' -f2 "$W/count")
	for ((n = 1; n <= writes; n++)); do
		rm -rf "$r" && cp -a "$STATES/$state" "$r"
		(REKMOD_FAULT_ENOSPC_AT=$n "$FAULTY" --root "$r" "$@" >"$W/enospc.out" 2>&1) 2>/dev/null
		rc=$?
		if ! out=$(consistent "$r" "$([[ $rc == 0 ]] && echo "$ok" || echo "$fail")"); then
			bad=$((bad + 1))
			[[ -n $first ]] || first="write $n (exit $rc): $out"
		fi
		if [[ -n ${RERUN:-} ]]; then
			# shellcheck disable=SC2086  # the verb's words
			"$REKMOD" --root "$r" $RERUN >"$W/rerun.out" 2>&1
		else
			"$REKMOD" --root "$r" "$@" >"$W/rerun.out" 2>&1
		fi
		if ! out=$(consistent "$r" "$ok"); then
			bad=$((bad + 1))
			[[ -n $first ]] || first="write $n, rerun: $out"
		fi
	done
	POINTS[$name-enospc]=$writes
	check "$name: ENOSPC at each of its $writes writes: all or none, then the rerun${first:+ ($bad bad; first $first)}" \
		test "$bad" = 0
}

SECONDS=0
crash_all add fresh added add fx/1.0
crash_all build added built build fx/1.0 -k "$K"
crash_all install built installed-1.0 install fx/1.0 -k "$K"
crash_then_remove install-then-remove built install fx/1.0 -k "$K"
crash_all upgrade upgrade installed-2.0 install fx/2.0 -k "$K"
crash_all uninstall installed built uninstall fx/1.0 -k "$K"
crash_all remove installed none remove fx/1.0 --all
crash_all sync added installed-1.0 sync --kernel "$K"
enospc_all install built installed-1.0 built install fx/1.0 -k "$K"
enospc_all uninstall installed built installed-1.0 uninstall fx/1.0 -k "$K"
# sync records the failure and does not retry it until its inputs change (by
# design: a hook must not rebuild a failing module at every run); install does
RERUN="install fx/1.0 -k $K" enospc_all sync added installed-1.0 not-installed sync --kernel "$K"

# a real full disk: updates/ of the kernel on a tmpfs that holds fxa.ko but
# not fxb.ko as well (private mount namespace); the release binary's install
# fails with ENOSPC and leaves all or none; with room again the rerun installs
enospc_tmpfs() {
	[[ -z ${ONLY:-} || $ONLY == tmpfs ]] || return 0
	unshare --mount --propagation private true 2>/dev/null || { echo "# tmpfs ENOSPC: no mount namespace, skipped"; return 0; }
	local r=$W/run size
	rm -rf "$r" && cp -a "$STATES/built" "$r"
	# room for the bystander's ota.ko (copied in) and fxa.ko, not for fxb.ko too
	size=$((($(stat -c %s "$r/$LIB/updates/dkms/ota.ko") + 4095) / 4096 * 4096 +
		($(stat -c %s "$r/var/lib/dkms/fx/1.0/$K/$ARCH/module/fxa.ko") + 4095) / 4096 * 4096 + 4096))
	export LIB K ARCH REKMOD V1A V1B V2A V2B OTHER_SUM ORIG_SUM
	export -f consistent sum_of
	# shellcheck disable=SC2016  # expanded by the inner bash
	check "ENOSPC on a real $((size / 1024)) KiB tmpfs: install fails, nothing half installed; with room the rerun installs" \
		unshare --mount --propagation private bash -c '
			r=$1; cp -a "$r/$LIB/updates" "$r/updates.below" &&
				mount -t tmpfs -o size="$2" tmpfs "$r/$LIB/updates" && cp -a "$r/updates.below/." "$r/$LIB/updates/" || exit 1
			if "$REKMOD" --root "$r" install fx/1.0 -k "$K" >"$3" 2>&1; then echo "install succeeded on a full disk"; cat "$3"; exit 1; fi
			grep -q "No space left on device" "$3" || { echo "no ENOSPC said:"; cat "$3"; exit 1; }
			consistent "$r" built || exit 1
			umount "$r/$LIB/updates" && rm -rf "$r/updates.below"
			"$REKMOD" --root "$r" install fx/1.0 -k "$K" >"$3" 2>&1 || { cat "$3"; exit 1; }
			consistent "$r" installed-1.0' _ "$r" "$size" "$W/tmpfs.out"
}
enospc_tmpfs

echo "# crash points: $(for v in "${!POINTS[@]}"; do printf '%s=%s ' "$v" "${POINTS[$v]}"; done)"
echo "# $CRASH_POINTS crash points in all, ${SECONDS}s"
check "at least 300 crash points ($CRASH_POINTS)" test "$CRASH_POINTS" -ge 300
summary
