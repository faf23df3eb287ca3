#!/usr/bin/env bash
# `make demo`: register examples/hello in a scratch root, build and install
# it for every kernel that has headers on this machine, print status; then
# boot a kernel whose image is installed in qemu and load the module.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
REKMOD=${REKMOD:-$here/build/rekmod}
root=${DEMO_ROOT:-$here/build/demo-root}
rm -rf "$root"
mkdir -p "$root/etc" "$root/usr/src"
cp /etc/os-release "$root/etc/os-release"
cp -r "$here/examples/hello" "$root/usr/src/hello-0.1"
kernels=()
boot=
for build in /lib/modules/*/build; do
	[ -d "$build/include" ] || continue
	k=$(basename "$(dirname "$build")")
	mkdir -p "$root/lib/modules/$k"
	ln -s "$(readlink -f "$build")" "$root/lib/modules/$k/build"
	# a kernel whose image is installed here gets depmod, and the boot below
	[ -r "/boot/vmlinuz-$k" ] && : >"$root/lib/modules/$k/modules.dep" && boot=$k
	kernels+=(-k "$k")
done
if [ ${#kernels[@]} -eq 0 ]; then
	echo "demo: no kernel headers under /lib/modules/*/build; run 'make deps' first" >&2
	exit 1
fi
echo "== scratch root: $root"
"$REKMOD" --root "$root" add hello/0.1
"$REKMOD" --root "$root" install hello/0.1 "${kernels[@]}"
echo "== rekmod status --verbose (the dkms lines, then who signed the modules)"
"$REKMOD" --root "$root" status --verbose
echo "== installed files"
find "$root/lib/modules" -name '*.ko*' | sort
for ko in $(find "$root/lib/modules" -name 'hello.ko*' | sort); do
	printf '%s: vermagic %s\n' "${ko#"$root"}" "$(modinfo -F vermagic "$ko")"
done
if [ -n "$boot" ]; then
	echo "== the module loads: qemu boots /boot/vmlinuz-$boot with $root/lib/modules/$boot"
	"$here/examples/qemu-load.sh" "$root/lib/modules/$boot" "$boot" hello ||
		{ echo "demo: hello did not load in $boot" >&2; exit 1; }
fi
