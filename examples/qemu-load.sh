#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# qemu-load.sh MODULES_DIR KVER MODULE [CONSOLE_LOG]
# Proves that MODULE, as installed in MODULES_DIR (a /lib/modules/KVER tree
# with the modules.dep depmod wrote), loads in the real kernel KVER: boots
# /boot/vmlinuz-KVER in qemu with an initramfs holding that tree, static
# busybox and the real kmod, runs `modprobe MODULE`, and checks the kernel
# took it. Prints the REKMOD-QEMU lines of the guest; exit 0 when loaded,
# 1 when not, 77 when qemu, busybox or the kernel image is missing.
set -u
mods=$1 kver=$2 module=$3 console=${4:-}
image=/boot/vmlinuz-$kver
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-load: qemu-system-x86_64 is not installed"; exit 77; }
busybox --list 2>/dev/null | grep -qx sh || { echo "qemu-load: busybox-static is not installed"; exit 77; }
[[ -r $image ]] || { echo "qemu-load: no readable $image"; exit 77; }
[[ -f $mods/modules.dep ]] || { echo "qemu-load: $mods/modules.dep is missing (depmod did not run)"; exit 1; }

w=$(mktemp -d "${TMPDIR:-/tmp}/rekmod-qemu.XXXXXX")
trap 'rm -rf --one-file-system "$w"' EXIT
i=$w/initramfs
mkdir -p "$i"/{bin,sbin,proc,sys,dev,lib/modules}
cp /bin/busybox "$i/bin/busybox"
for l in sh mount cat grep sed echo poweroff uname; do ln -s busybox "$i/bin/$l"; done
cp /usr/bin/kmod "$i/bin/kmod"
ln -s ../bin/kmod "$i/sbin/modprobe"
for f in $(ldd /usr/bin/kmod | grep -o '/[^ ]*'); do
	mkdir -p "$i$(dirname "$f")"
	cp -L "$f" "$i$f"
done
cp -a "$mods" "$i/lib/modules/$kver"
rm -f "$i/lib/modules/$kver/build" "$i/lib/modules/$kver/source"
cat >"$i/init" <<INIT
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
echo "REKMOD-QEMU: booted \$(uname -r)"
if modprobe $module; then echo "REKMOD-QEMU: modprobe $module: exit 0"; else echo "REKMOD-QEMU: modprobe $module: failed"; fi
grep '^$module ' /proc/modules | sed 's/^/REKMOD-QEMU: \/proc\/modules: /'
cat /sys/module/$module/version 2>/dev/null | sed 's/^/REKMOD-QEMU: version: /'
poweroff -f
INIT
chmod 0755 "$i/init"
(cd "$i" && find . | cpio -o -H newc --quiet) >"$w/initramfs.cpio"

# TCG: KVM is not always usable (nested virtualisation hangs this kernel on
# some hosts), and a TCG boot to the init script takes seconds
t0=$(date +%s)
timeout 300 qemu-system-x86_64 -machine accel=tcg -m 512 -smp 1 -nographic -no-reboot \
	-kernel "$image" -initrd "$w/initramfs.cpio" \
	-append "console=ttyS0 panic=-1 loglevel=7" </dev/null >"$w/console" 2>&1
echo "qemu-load: $kver booted and powered off in $(($(date +%s) - t0)) s (qemu, TCG)"
[[ -z $console ]] || cp "$w/console" "$console"
grep -a 'REKMOD-QEMU:' "$w/console" | tr -d '\r'
# what the kernel logged while modprobe ran
tr -d '\r' <"$w/console" | awk '/REKMOD-QEMU: modprobe/ { exit } on && /^\[/ { print "kernel log: " $0 } /REKMOD-QEMU: booted/ { on = 1 }'
grep -aq "REKMOD-QEMU: booted $kver" "$w/console" &&
	grep -aq "REKMOD-QEMU: modprobe $module: exit 0" "$w/console" &&
	grep -aq "REKMOD-QEMU: /proc/modules: $module " "$w/console"
