#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The proof that matters: a module rekmod built and installed loads in the
# kernel it was built for. `rekmod sync` builds examples/hello for a Debian
# kernel whose image is installed (its real headers, real make, the signing
# and compression the kernel's .config asks for, real depmod) in a scratch
# root; that root's /lib/modules/<K> goes into an initramfs with the real
# kmod; qemu boots the real /boot/vmlinuz-<K>; `modprobe hello` must load it
# (found through the modules.dep depmod wrote) and the kernel must log the
# module's "Hello world." (examples/qemu-load.sh, which `make demo` runs too).
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 is not installed (tests/deps.sh)"; exit 77; }
busybox --list 2>/dev/null | grep -qx sh || { echo "SKIP: busybox-static is not installed"; exit 77; }

# the newest kernel with both an image in /boot and headers
KQ=''
for img in $(ls /boot/vmlinuz-* 2>/dev/null | sort -rV); do
	k=${img#/boot/vmlinuz-}
	if [[ -d /usr/src/linux-headers-$k/include && -r $img ]]; then
		KQ=$k
		break
	fi
done
[[ -n $KQ ]] || { echo "SKIP: no /boot/vmlinuz-K with /usr/src/linux-headers-K (tests/deps.sh installs linux-headers-6.12-amd64, which brings its image)"; exit 77; }

W=$(mktemp -d /tmp/rekmod-qemu.XXXXXX)
trap 'rm -rf --one-file-system "$W"' EXIT
R=$W/root
mkdir -p "$R/etc" "$R/usr/src" "$R/lib/modules/$KQ"
cp /etc/os-release "$R/etc/os-release"
ln -s "/usr/src/linux-headers-$KQ" "$R/lib/modules/$KQ/build"
# a kernel image is "installed" (modules.order, a file its package owns) and depmod runs (modules.dep)
: >"$R/lib/modules/$KQ/modules.order"
: >"$R/lib/modules/$KQ/modules.dep"
cp -a "$SRCDIR/examples/hello" "$R/usr/src/hello-0.1"

built() {
	"$REKMOD" --root "$R" add hello/0.1 >"$W/out" 2>&1 &&
		"$REKMOD" --root "$R" sync --kernel "$KQ" >>"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	ls "$R/lib/modules/$KQ/updates/dkms/"hello.ko* >/dev/null && grep -q 'hello.ko' "$R/lib/modules/$KQ/modules.dep" ||
		{ cat "$W/out" "$R/lib/modules/$KQ/modules.dep"; return 1; }
}
check "rekmod sync builds hello for $KQ and depmod lists it" built

boots_and_loads() {
	"$SRCDIR/examples/qemu-load.sh" "$R/lib/modules/$KQ" "$KQ" hello "$W/console" >"$W/out" 2>&1 ||
		{ cat "$W/out"; tail -40 "$W/console"; return 1; }
	grep -q "REKMOD-QEMU: version: 0.1" "$W/out" && grep -q "Hello world\." "$W/console" ||
		{ cat "$W/out"; tail -40 "$W/console"; return 1; }
}
check "qemu boots /boot/vmlinuz-$KQ; modprobe loads rekmod's hello (\"Hello world.\" in the kernel log)" boots_and_loads

summary
