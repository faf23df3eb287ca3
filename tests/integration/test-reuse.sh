#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Reuse of builds across kernels with Debian's real headers in a scratch root:
# a module built for 6.1.0-56 is installed for 6.1.0-57 (equivalent headers)
# without compiling (a `make` first on PATH records every call), status says
# installed-weak, the journal says from which kernel; removing 6.1.0-56 keeps
# 6.1.0-57's module; the 6.12 kernel, NO_REUSE=yes, reuse_kernels="no" and
# sync --rebuild compile; removing the module removes every reuse; with
# reuse_compatible_kernels="yes" a symbol-compatible kernel (a copy of 57's
# headers with one more header) reuses, unless NO_WEAK_MODULES=yes; a write
# failing anywhere in a reusing sync never leaves a copy without its record.
# About 65 s on a 2-core machine (14 compiles of a one-file module, 11
# fault-injected syncs; 27 s of CPU), 4 min while other builds load both cores.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

K56=6.1.0-56-amd64 K57=6.1.0-57-amd64 K612=6.12.117+deb12-amd64
for k in $K56 $K57 $K612; do
	if [[ ! -d /usr/src/linux-headers-$k ]]; then
		echo "SKIP: /usr/src/linux-headers-$k is not installed"
		exit 77
	fi
done

W=$(realpath "$(mktemp -d /tmp/rekmod-reuse.XXXXXX)")
trap '[[ -n ${KEEP:-} ]] || rm -rf "$W"' EXIT
R=$W/root
mkdir -p "$R/etc" "$R/usr/src"
cp /etc/os-release "$R/etc/os-release"
for k in $K56 $K57 $K612; do
	mkdir -p "$R/lib/modules/$k"
	ln -s "/usr/src/linux-headers-$k" "$R/lib/modules/$k/build"
done

# a make on PATH that records each call, then runs the real one
mkdir -p "$W/bin"
# shellcheck disable=SC2016  # expanded by the wrapper
printf '#!/bin/bash\necho "$PWD $*" >>%q\nexec /usr/bin/make "$@"\n' "$W/make.calls" >"$W/bin/make"
chmod +x "$W/bin/make"
rk() { PATH="$W/bin:$PATH" "$REKMOD" --root "$R" "$@"; }
calls() { [[ -f $W/make.calls ]] && wc -l <"$W/make.calls" || echo 0; }
no_compile() { local c; c=$(calls); [[ $c == 0 ]] || { cat "$W/make.calls"; return 1; }; }
compiled() { local c; c=$(calls); [[ $c != 0 ]] || { echo "make was not called"; return 1; }; }

# add_module NAME: a hello-like module NAME/1.0
add_module() {
	local d=$R/usr/src/$1-1.0
	mkdir -p "$d"
	sed "s/hello/$1/g" "$SRCDIR/examples/hello/hello.c" >"$d/$1.c"
	sed "s/hello/$1/g" "$SRCDIR/examples/hello/Makefile" >"$d/Makefile"
	sed "s/hello/$1/g; s/0\.1/1.0/" "$SRCDIR/examples/hello/dkms.conf" >"$d/dkms.conf"
	"$REKMOD" --root "$R" add "$1/1.0" >/dev/null
}
add_module alpha
add_module beta
mkdir -p "$R/etc/dkms"
echo 'NO_REUSE="yes"' >"$R/etc/dkms/beta.conf"

check "alpha and beta build and install for $K56" rk sync -q --kernel $K56
check "sync built them with make" compiled
rm -f "$W/make.calls"

syncout=$(rk sync --kernel $K57 2>&1)
has() { grep -qF -- "$1" <<<"$syncout" || { echo "no \"$1\" in:"; echo "$syncout"; return 1; }; }
check "sync for $K57 says alpha reused the build for $K56" has "alpha/1.0, $K57, $ARCH: installed (reused the build for $K56: equivalent kernels)"
check "beta (NO_REUSE=yes in /etc/dkms/beta.conf) is compiled for $K57" has "beta/1.0, $K57, $ARCH: installed (built in"
calls_beta_only() { ! grep -q alpha "$W/make.calls" && grep -q beta "$W/make.calls"; }
check "make ran only for beta" calls_beta_only
rm -f "$W/make.calls"
ko57=$R/lib/modules/$K57/updates/dkms/alpha.ko
check "alpha.ko is installed for $K57" test -f "$ko57"
check "status: installed-weak from $K56" bash -c "'$REKMOD' --root '$R' status alpha | grep -qxF 'alpha/1.0, $K57, $ARCH: installed-weak from $K56'"
check "status --json: reused_from" bash -c "'$REKMOD' --root '$R' status --json alpha | grep -F '\"kernel\": \"$K57\"' | grep -qF '\"reused_from\": \"$K56\"'"
check "status --json: beta has reused_from null" bash -c "'$REKMOD' --root '$R' status --json beta | grep -F '\"kernel\": \"$K57\"' | grep -qF '\"reused_from\": null'"
check "rekmod log: alpha reused from $K56" bash -c "'$REKMOD' --root '$R' log | grep -F 'alpha/1.0 $K57' | grep -qF 'reused+installed in' "
check "rekmod log --json: reused_from" bash -c "'$REKMOD' --root '$R' log --json | grep -qF '\"reused_from\": \"$K56\"'"
# the kernel ignores the release in vermagic when the module has CRCs (CONFIG_MODVERSIONS)
vm_and_crcs() {
	modinfo -F vermagic "$ko57" | grep -q "^$K56 SMP preempt mod_unload modversions" &&
		[[ $(modprobe --dump-modversions "$ko57" | wc -l) -gt 0 ]]
}
check "the reused module keeps $K56's vermagic and its symbol CRCs" vm_and_crcs
same_module() { cmp "$R/var/lib/dkms/alpha/1.0/$K56/$ARCH/module/alpha.ko" "$R/var/lib/dkms/alpha/1.0/$K57/$ARCH/module/alpha.ko"; }
check "the build for $K57 is its own copy of $K56's (signed alike)" same_module
check "the header hashes are cached in the dkms tree" test -s "$R/var/lib/dkms/.rekmod-kernels/$K57"

check "the 6.12 kernel is compiled (headers not equivalent)" rk sync -q --kernel $K612
check "make ran for $K612" compiled
check "status for $K612: installed, not weak" bash -c "'$REKMOD' --root '$R' status alpha -k $K612 | grep -qxF 'alpha/1.0, $K612, $ARCH: installed'"
rm -f "$W/make.calls"

# removing K0 keeps K's module
check "remove alpha from $K56" rk remove alpha/1.0 -k $K56
check "alpha.ko is still installed for $K57" test -f "$ko57"
check "status for $K57 still installed-weak" bash -c "'$REKMOD' --root '$R' status alpha -k $K57 | grep -qxF 'alpha/1.0, $K57, $ARCH: installed-weak from $K56'"

# reuse_kernels="no" in framework.conf compiles
check "uninstall and unbuild alpha from $K57" rk unbuild alpha/1.0 -k $K57
rm -f "$R"/var/lib/dkms/alpha/.rekmod-optout-*
check "alpha built for $K56 again" rk sync -q --kernel $K56
rm -f "$W/make.calls"
mkdir -p "$R/etc/dkms"
echo 'reuse_kernels="no"' >"$R/etc/dkms/framework.conf"
check "sync with reuse_kernels=no" rk sync -q --kernel $K57
check "make ran with reuse_kernels=no" compiled
rm -f "$R/etc/dkms/framework.conf" "$W/make.calls"
check "unbuild alpha from $K57 again" rk unbuild alpha/1.0 -k $K57
rm -f "$R"/var/lib/dkms/alpha/.rekmod-optout-*
check "sync reuses again" rk sync -q --kernel $K57
check "no compile" no_compile

# removing the module removes every reuse
check "remove alpha --all" rk remove alpha/1.0 --all
none_left() { ! "$REKMOD" --root "$R" status alpha | grep -q . && [[ ! -e $ko57 ]] && [[ ! -e $R/var/lib/dkms/alpha ]]; }
check "alpha is gone from every kernel" none_left

# symbol-compatible kernels (opt-in): a copy of 6.1.0-57's headers with one
# more generated header is not equivalent, but its .config, Module.symvers
# and every CRC alpha imports are the same
K99=6.1.0-99-amd64
H99=$R/usr/src/linux-headers-$K99
cp -a "/usr/src/linux-headers-$K57" "$H99"
sed -i "s/$K57/$K99/g" "$H99/.config" "$H99/include/config/auto.conf" "$H99/include/generated/autoconf.h" \
	"$H99/include/generated/utsrelease.h"
for l in scripts tools; do ln -sfn "$(readlink -f "/usr/src/linux-headers-$K57/$l")" "$H99/$l"; done
echo '/* a local change */' >"$H99/include/generated/rekmod-test.h"
mkdir -p "$R/lib/modules/$K99"
ln -s "/usr/src/linux-headers-$K99" "$R/lib/modules/$K99/build"
add_module delta
check "delta for $K56" rk sync -q --kernel $K56 -m delta
rm -f "$W/make.calls"
echo 'reuse_compatible_kernels="yes"' >"$R/etc/dkms/framework.conf"
check "reuse_compatible_kernels=yes: delta for $K99" rk sync -q --kernel $K99 -m delta
check "no compile for the symbol-compatible kernel" no_compile
check "status for $K99: installed-weak from $K56" bash -c "'$REKMOD' --root '$R' status delta -k $K99 | grep -qxF 'delta/1.0, $K99, $ARCH: installed-weak from $K56'"
check "the journal says compatible" bash -c "'$REKMOD' --root '$R' log | grep -F 'delta/1.0 $K99' | grep -qF 'reused from $K56'"
check "unbuild delta from $K99" rk unbuild delta/1.0 -k $K99
rm -f "$R"/var/lib/dkms/delta/.rekmod-optout-*
echo 'NO_WEAK_MODULES="yes"' >"$R/etc/dkms/delta.conf"
check "NO_WEAK_MODULES=yes: delta for $K99 again" rk sync -q --kernel $K99 -m delta
check "NO_WEAK_MODULES=yes compiles for a compatible kernel" compiled
rm -f "$R/etc/dkms/framework.conf" "$R/etc/dkms/delta.conf" "$W/make.calls"

# a build made unsigned is signed for the new kernel (sign-file on the copy)
add_module eps
echo 'try_sign_modules="false"' >"$R/etc/dkms/framework.conf"
check "eps for $K56, unsigned" rk sync -q --kernel $K56 -m eps
rm -f "$R/etc/dkms/framework.conf" "$W/make.calls"
check "eps reused for $K57" rk sync -q --kernel $K57 -m eps
check "no compile for eps" no_compile
signed_copy() {
	local b=$R/var/lib/dkms/eps/1.0
	[[ -z $(modinfo -F signer "$b/$K56/$ARCH/module/eps.ko") ]] &&
		[[ $(modinfo -F signer "$b/$K57/$ARCH/module/eps.ko") == "DKMS module signing key" ]] &&
		[[ $(modinfo -F signer "$R/lib/modules/$K57/updates/dkms/eps.ko") == "DKMS module signing key" ]]
}
check "the copy for $K57 is signed, the build for $K56 is not" signed_copy

# sync --rebuild compiles what it would reuse
add_module gamma
check "gamma for $K56" rk sync -q --kernel $K56 -m gamma
check "gamma reused for $K57" rk sync -q --kernel $K57 -m gamma
rm -f "$W/make.calls"
check "gamma for $K57 reused" bash -c "'$REKMOD' --root '$R' status gamma -k $K57 | grep -qxF 'gamma/1.0, $K57, $ARCH: installed-weak from $K56'"
check "sync --rebuild for $K57" rk sync -q --rebuild --kernel $K57 -m gamma
check "make ran for the rebuild" compiled
check "status for $K57 after --rebuild: installed" bash -c "'$REKMOD' --root '$R' status gamma -k $K57 | grep -qxF 'gamma/1.0, $K57, $ARCH: installed'"
# a failed write anywhere in a reusing sync (ENOSPC at each write in turn,
# build/rekmod-faults): a build for $K57 that make did not compile is there
# with its "reused" record, or not at all
make -s -C "$SRCDIR" build/rekmod-faults >/dev/null
F0=$W/faults0
mkdir -p "$F0/etc" "$F0/usr/src"
cp /etc/os-release "$F0/etc/os-release"
for k in $K56 $K57; do
	mkdir -p "$F0/lib/modules/$k"
	ln -s "/usr/src/linux-headers-$k" "$F0/lib/modules/$k/build"
done
cp -a "$R/usr/src/alpha-1.0" "$F0/usr/src/eta-1.0"
sed -i 's/alpha/eta/g' "$F0/usr/src/eta-1.0/dkms.conf" "$F0/usr/src/eta-1.0/Makefile"
mv "$F0/usr/src/eta-1.0/alpha.c" "$F0/usr/src/eta-1.0/eta.c"
"$REKMOD" --root "$F0" add eta/1.0 >/dev/null && "$REKMOD" --root "$F0" sync -q --kernel $K56 >/dev/null 2>&1
enospc_each_write() {
	local n writes b=$W/faults/var/lib/dkms/eta/1.0/$K57/$ARCH bad=0
	rm -rf "$W/faults" && cp -a "$F0" "$W/faults"
	REKMOD_FAULT_COUNT=$W/count "$SRCDIR/build/rekmod-faults" --root "$W/faults" sync -q --kernel $K57 >/dev/null 2>&1
	writes=$(cut -d' ' -f2 "$W/count")
	[[ $writes -gt 3 && -f $b/.rekmod-reused ]] || { echo "writes=$writes"; ls -la "$b"; return 1; }
	for ((n = 1; n <= writes; n++)); do
		rm -rf "$W/faults" "$W/make.calls" && cp -a "$F0" "$W/faults"
		PATH="$W/bin:$PATH" REKMOD_FAULT_ENOSPC_AT=$n "$SRCDIR/build/rekmod-faults" --root "$W/faults" \
			sync -q --kernel $K57 >"$W/fault.out" 2>&1
		if [[ -d $b && ! -f $W/make.calls && ! -f $b/.rekmod-reused ]]; then
			echo "write $n failed: a copied build without its record"; cat "$W/fault.out"; bad=1
		fi
	done
	rm -rf "$W/faults"
	return $bad
}
check "ENOSPC at each write of a reusing sync: a copied build always has its reused record" enospc_each_write

summary
