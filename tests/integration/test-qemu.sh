#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The proof that matters: a module rekmod built and installed loads in the
# kernel it was built for. `rekmod sync` builds examples/hello for a Debian
# kernel whose image is installed (its real headers, real make, the signing
# and compression the kernel's .config asks for, real depmod) in a scratch
# root; that root's /lib/modules/<K> goes into an initramfs with the real
# kmod; qemu boots the real /boot/vmlinuz-<K>; `modprobe hello` must load it
# (found through the modules.dep depmod wrote) and the kernel must log the
# module's "Hello world.".
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v qemu-system-x86_64 >/dev/null || { echo "SKIP: qemu-system-x86_64 is not installed (tests/deps.sh)"; exit 77; }
[[ -x /bin/busybox ]] && busybox --list 2>/dev/null | grep -qx sh || { echo "SKIP: busybox-static is not installed"; exit 77; }

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
: >"$R/lib/modules/$KQ/modules.dep" # a kernel image is "installed": depmod runs
cp -a "$SRCDIR/examples/hello" "$R/usr/src/hello-0.1"

built() {
	"$REKMOD" --root "$R" add hello/0.1 >"$W/out" 2>&1 &&
		"$REKMOD" --root "$R" sync --kernel "$KQ" >>"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	ls "$R/lib/modules/$KQ/updates/dkms/"hello.ko* >/dev/null && grep -q 'hello.ko' "$R/lib/modules/$KQ/modules.dep" ||
		{ cat "$W/out" "$R/lib/modules/$KQ/modules.dep"; return 1; }
}
check "rekmod sync builds hello for $KQ and depmod lists it" built

# initramfs: static busybox, the real kmod with its libraries, the root's module tree
make_initramfs() {
	local I=$W/initramfs f l
	mkdir -p "$I"/{bin,sbin,proc,sys,dev,lib/modules} || return 1
	cp /bin/busybox "$I/bin/busybox"
	for l in sh mount cat grep echo poweroff sleep uname; do ln -s busybox "$I/bin/$l"; done
	cp /usr/bin/kmod "$I/bin/kmod"
	ln -s ../bin/kmod "$I/sbin/modprobe"
	for f in $(ldd /usr/bin/kmod | grep -o '/[^ ]*'); do
		mkdir -p "$I$(dirname "$f")"
		cp -L "$f" "$I$f"
	done
	cp -a "$R/lib/modules/$KQ" "$I/lib/modules/$KQ"
	rm -f "$I/lib/modules/$KQ/build"
	cat >"$I/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "REKMOD-QEMU: booted $(uname -r)"
if modprobe hello; then echo "REKMOD-QEMU: modprobe exit 0"; else echo "REKMOD-QEMU: modprobe failed"; fi
grep '^hello ' /proc/modules | sed 's/^/REKMOD-QEMU: proc-modules: /'
cat /sys/module/hello/version 2>/dev/null | sed 's/^/REKMOD-QEMU: version: /'
echo "REKMOD-QEMU: done"
poweroff -f
INIT
	chmod 0755 "$I/init"
	(cd "$I" && find . | cpio -o -H newc --quiet) >"$W/initramfs.cpio"
}
check "an initramfs with busybox, the real kmod and the root's /lib/modules/$KQ" make_initramfs

boots_and_loads() {
	local t0 t1
	# TCG: KVM is not always usable (nested virtualisation hangs this kernel
	# on some hosts) and a TCG boot to the init script takes seconds
	t0=$(date +%s)
	timeout 300 qemu-system-x86_64 -machine accel=tcg -m 512 -smp 1 -nographic -no-reboot \
		-kernel "/boot/vmlinuz-$KQ" -initrd "$W/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 loglevel=7" </dev/null >"$W/console" 2>&1
	t1=$(date +%s)
	echo "# qemu (tcg): $((t1 - t0)) s"
	grep -q "REKMOD-QEMU: booted $KQ" "$W/console" &&
		grep -q "REKMOD-QEMU: modprobe exit 0" "$W/console" &&
		grep -q "REKMOD-QEMU: proc-modules: hello " "$W/console" &&
		grep -q "REKMOD-QEMU: version: 0.1" "$W/console" &&
		grep -q "Hello world\." "$W/console" || { tail -40 "$W/console"; return 1; }
}
check "qemu boots /boot/vmlinuz-$KQ; modprobe loads rekmod's hello (\"Hello world.\" in the kernel log)" boots_and_loads

summary
