#!/usr/bin/env bash
# `make demo`: register examples/hello in a scratch root, build and install
# it for every kernel that has headers on this machine, print status.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
REKMOD=${REKMOD:-$here/build/rekmod}
root=${DEMO_ROOT:-$here/build/demo-root}
rm -rf "$root"
mkdir -p "$root/etc" "$root/usr/src"
cp /etc/os-release "$root/etc/os-release"
cp -r "$here/examples/hello" "$root/usr/src/hello-0.1"
kernels=()
for build in /lib/modules/*/build; do
	[ -d "$build/include" ] || continue
	k=$(basename "$(dirname "$build")")
	mkdir -p "$root/lib/modules/$k"
	ln -s "$(readlink -f "$build")" "$root/lib/modules/$k/build"
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
