#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# hooks/kernel-install/40-rekmod.install under the real systemd kernel-install
# (252 on Debian 12), in a scratch root: modules are built before a 50-*
# plugin runs, a failing module lets the later plugins run and kernel-install
# exit 0, remove cleans up, and a concurrent apt-style hook builds nothing twice.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
command -v kernel-install >/dev/null || { echo "SKIP: kernel-install is not installed"; exit 77; }
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PLUGIN=$SRCDIR/hooks/kernel-install/40-rekmod.install

W=$(realpath "$(mktemp -d /tmp/rekmod-ki.XXXXXX)")
trap '[[ -n ${KEEP:-} ]] || rm -rf "$W"' EXIT
R=$W/root
new_root "$R"
mkdir -p "$W/boot" "$W/conf" "$W/plugins"
cp -r "$SRCDIR/examples/hello" "$R/usr/src/hello-0.1"
: >"$W/vmlinuz-$K1"
: >"$W/vmlinuz-$K2"
echo "layout=other" >"$W/conf/install.conf"
"$REKMOD" --root "$R" add hello/0.1 >/dev/null

# A recording plugin in 50-depmod's place: notes what it saw when it ran.
cat >"$W/plugins/50-record.install" <<EOF
#!/bin/sh
if [ -f "$R/lib/modules/\$2/updates/dkms/hello.ko" ]; then seen=present; else seen=absent; fi
echo "50-record \$1 \$2 hello.ko=\$seen" >>"$W/record.log"
exit 0
EOF
chmod +x "$W/plugins/50-record.install"

export REKMOD_ROOT=$R BOOT_ROOT=$W/boot MACHINE_ID=0123456789abcdef0123456789abcdef \
	KERNEL_INSTALL_CONF_ROOT=$W/conf KERNEL_INSTALL_PLUGINS="$PLUGIN $W/plugins/50-record.install"


add_builds_first() {
	kernel-install add "$K1" "$W/vmlinuz-$K1" || return 1
	grep -qx "50-record add $K1 hello.ko=present" "$W/record.log" || { cat "$W/record.log"; return 1; }
	[[ $(modinfo -F vermagic "$R/lib/modules/$K1/updates/dkms/hello.ko") == "$K1 "* ]]
}
check "kernel-install add builds and installs the module before the 50-* plugin runs" add_builds_first

verbose() {
	local out
	out=$(KERNEL_INSTALL_VERBOSE=1 kernel-install --verbose add "$K1" "$W/vmlinuz-$K1" 2>&1) || return 1
	grep -q "40-rekmod.install: .*sync --hook --kernel $K1" <<<"$out" || { echo "$out"; return 1; }
}
check "with KERNEL_INSTALL_VERBOSE=1 the plugin says what it runs (and a rerun is a no-op)" verbose

failing() {
	cp -r "$SRCDIR/examples/hello" "$R/usr/src/bad-1.0"
	sed -i 's/hello/bad/g; s/0\.1/1.0/' "$R/usr/src/bad-1.0/dkms.conf" "$R/usr/src/bad-1.0/Makefile"
	mv "$R/usr/src/bad-1.0/hello.c" "$R/usr/src/bad-1.0/bad.c"
	echo '#error deliberately broken' >>"$R/usr/src/bad-1.0/bad.c"
	"$REKMOD" --root "$R" add bad/1.0 >/dev/null || return 1
	: >"$W/record.log"
	kernel-install add "$K2" "$W/vmlinuz-$K2" || { echo "kernel-install exited $?"; return 1; }
	grep -qx "50-record add $K2 hello.ko=present" "$W/record.log" || { cat "$W/record.log"; return 1; }
	"$REKMOD" --root "$R" status -m bad | grep -q "^bad/1.0, $K2, .*: failed"
}
check "a module that fails to build lets the later plugins run and kernel-install exit 0" failing

removes() {
	: >"$W/record.log"
	kernel-install remove "$K2" || return 1
	grep -qx "50-record remove $K2 hello.ko=absent" "$W/record.log" || { cat "$W/record.log"; return 1; }
	[[ -z $(find "$R/lib/modules/$K2" -name '*.ko') ]] &&
		! ls -d "$R"/var/lib/dkms/hello/0.1/"$K2" 2>/dev/null &&
		[[ -f $R/lib/modules/$K1/updates/dkms/hello.ko ]]
}
check "kernel-install remove cleans the kernel up before the 50-* plugin runs" removes

once() {
	# kernel-install and the Debian /etc/kernel hook (which runs the same
	# `rekmod sync --hook --kernel K`) fire together for K2: one build in all.
	"$REKMOD" --root "$R" remove bad/1.0 --all >/dev/null
	KERNEL_INSTALL_VERBOSE=1 kernel-install add "$K2" "$W/vmlinuz-$K2" >"$W/ki.out" 2>&1 &
	local p=$!
	"$REKMOD" sync --hook --kernel "$K2" >"$W/apt.out" 2>&1
	wait $p || return 1
	local n
	# (K2's headers are equivalent to K1's: the one job reuses K1's build)
	n=$(cat "$W/ki.out" "$W/apt.out" | grep -cE "^(Building|Reusing the build for [^ ]+ of) hello/0.1 for $K2")
	[[ $n -eq 1 ]] || { cat "$W/ki.out" "$W/apt.out"; return 1; }
	[[ -f $R/lib/modules/$K2/updates/dkms/hello.ko ]]
}
check "the plugin and the apt hook fired for the same kernel make one job of it" once

never77() {
	local rc=0
	REKMOD=/nonexistent/rekmod "$PLUGIN" add "$K1" "$W/boot" "$W/vmlinuz-$K1" || rc=$?
	[[ $rc -eq 0 ]] || return 1
	"$PLUGIN" add "$K1" "$W/boot" "$W/vmlinuz-$K1" || rc=$?
	[[ $rc -eq 0 ]] || return 1
	"$PLUGIN" frobnicate "$K1" || rc=$?
	[[ $rc -eq 0 ]]
}
check "the plugin exits 0 with nothing to do, without rekmod, and on unknown commands" never77

summary
