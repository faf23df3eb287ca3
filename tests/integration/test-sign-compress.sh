#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Module signing and compression with real headers in scratch roots: the
# generated MOK signs examples/hello (signer and key id checked with modinfo),
# the key is reused, a broken key warns (dkms 3.x's warning) and installs
# unsigned, an enforcing kernel (--config with CONFIG_MODULE_SIG_FORCE=y)
# fails the build; xz from
# the kernel config (CRC32, 1 MiB dictionary), zst from modules.dep.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

W=$(realpath "$(mktemp -d /tmp/rekmod-sign.XXXXXX)")
trap '[[ -n ${KEEP:-} ]] || rm -rf "$W"' EXIT
snapshot() { find /lib/modules /var/lib/dkms /etc/dkms /usr/src -maxdepth 3 -printf '%p %T@\n' 2>/dev/null | sort; }
before=$(snapshot)
HELLO=$SRCDIR/examples/hello
CN="DKMS module signing key"
KCONFIG=/lib/modules/$K1/build/.config
[[ -r $KCONFIG ]] || KCONFIG=/usr/src/linux-headers-$K1/.config

# serial SCRATCHROOT: the MOK certificate's serial as modinfo prints sig_key (AA:BB:...)
serial() {
	openssl x509 -inform DER -in "$1/var/lib/dkms/mok.pub" -noout -serial | sed 's/^serial=//; s/../&:/g; s/:$//'
}
ko() { find "$1/lib/modules/$2" -name "hello.ko*" | head -n 1; }
edit_config() { # edit_config OUT SED-SCRIPT: a copy of the real .config
	sed "$2" "$KCONFIG" >"$1"
}

# ---- 1. signing with a generated key ----
S=$W/sign
new_root "$S"
check "install signs hello with a generated key" "$REKMOD" --root "$S" install "$HELLO" -k "$K1"
check "the key is <root>/var/lib/dkms/mok.key, mode 0600" \
	bash -c '[[ $(stat -c %a "$1/var/lib/dkms/mok.key") == 600 ]]' _ "$S"
cert_cn() { openssl x509 -inform DER -in "$S/var/lib/dkms/mok.pub" -noout -subject | grep -qx "subject=CN = $CN"; }
check "the certificate is DER with CN \"$CN\" and codeSigning" \
	bash -c 'openssl x509 -inform DER -in "$1/var/lib/dkms/mok.pub" -noout -subject -ext extendedKeyUsage | grep -q "Code Signing"' _ "$S"
check "certificate subject" cert_cn
signer_is() { [[ $(modinfo -F signer "$(ko "$S" "$1")") == "$CN" ]]; }
sigkey_is_cert() { [[ $(modinfo -F sig_key "$(ko "$S" "$1")") == "$(serial "$S")" ]]; }
check "modinfo signer is the certificate's CN" signer_is "$K1"
check "modinfo sig_key is the certificate's serial (PKCS#7 issuer+serial)" sigkey_is_cert "$K1"
sum1=$(sha256sum "$S/var/lib/dkms/mok.key" "$S/var/lib/dkms/mok.pub")
check "a second build (other kernel) signs too" "$REKMOD" --root "$S" install hello/0.1 -k "$K2"
key_reused() { [[ $(sha256sum "$S/var/lib/dkms/mok.key" "$S/var/lib/dkms/mok.pub") == "$sum1" ]]; }
check "the second build reuses the key" key_reused
check "the second module has the same signer key" sigkey_is_cert "$K2"
check "generate_mok keeps the existing key" bash -c '"$REKMOD" --root "$1" generate_mok >/dev/null' _ "$S"
check "... unchanged" key_reused
check "status says installed" bash -c '[[ $("$REKMOD" --root "$1" status) == *"$2, x86_64: installed"* ]]' _ "$S" "$K1"
json_signer() { "$REKMOD" --root "$S" status --json | grep -qF "\"signer\": \"$CN\", \"sig_key\": \"$(serial "$S")\""; }
check "status --json shows the signer and key id" json_signer
verbose_signer() {
	local out
	out=$("$REKMOD" --root "$S" status --verbose -k "$K1")
	[[ $out == *"$K1, x86_64: installed"$'\n'"    signed by \"$CN\", key $(serial "$S")"* ]] || { echo "$out"; return 1; }
}
check "status --verbose names the signer and key under the unchanged dkms line" verbose_signer

# ---- 2. a broken key: one warning, unsigned install ----
B=$W/badkey
new_root "$B"
mkdir -p "$B/etc/dkms"
echo "not a key" >"$B/etc/dkms/bad.key"
chmod 0000 "$B/etc/dkms/bad.key"
cp "$S/var/lib/dkms/mok.pub" "$B/etc/dkms/mok.pub"
printf 'mok_signing_key="/etc/dkms/bad.key"\nmok_certificate=/etc/dkms/mok.pub\n' >"$B/etc/dkms/framework.conf"
"$REKMOD" --root "$B" --verbose install "$HELLO" -k "$K1" >"$W/bad.out" 2>"$W/bad.err"
bad_rc=$?
check "a broken key still installs (exit 0)" test "$bad_rc" = 0
BKO=$B/var/lib/dkms/hello/0.1/build/hello.ko
# dkms 3.x's warning (the module in the build directory), then sign-file's own lines
one_warning() {
	[[ $(grep -c 'Failed to sign module' "$W/bad.err") == 1 ]] &&
		grep -A1 -Fx "Warning: Failed to sign module '$BKO'!" "$W/bad.err" | tail -n 1 | grep -q . ||
		{ cat "$W/bad.err"; return 1; }
}
check "a broken key gives dkms's one warning naming the module, then sign-file's message" one_warning
check "--verbose adds rekmod's summary: left unsigned, the reason and the tool" \
	grep -q "^$BKO is left unsigned: .*(.*sign-file)$" "$W/bad.out"
unsigned() { [[ -f $(ko "$B" "$K1") && -z $(modinfo -F signer "$(ko "$B" "$K1")") ]]; }
check "the module is installed unsigned" unsigned
check "the broken key is not overwritten" grep -qx "not a key" "$B/etc/dkms/bad.key"
check "status --json shows it unsigned" bash -c '"$REKMOD" --root "$1" status --json | grep -qF "\"signer\": null, \"sig_key\": null"' _ "$B"

# ---- 3. an enforcing kernel with a broken key: the build fails ----
edit_config "$W/force.config" 's/^# CONFIG_MODULE_SIG_FORCE is not set/CONFIG_MODULE_SIG_FORCE=y/'
enforce_fails() {
	local rc=0
	"$REKMOD" --root "$B" --config "$W/force.config" build hello/0.1 -k "$K2" >"$W/force.out" 2>"$W/force.err" || rc=$?
	[[ $rc != 0 ]] && grep -q "^Error! Failed to sign module '.*/hello.ko': .*requires signed modules" "$W/force.err" &&
		[[ ! -e $B/var/lib/dkms/hello/0.1/$K2/x86_64 ]]
}
check "CONFIG_MODULE_SIG_FORCE=y + broken key: build fails with a clear error" enforce_fails

# ---- 4. try_sign_modules=false ----
P=$W/policy
new_root "$P"
mkdir -p "$P/etc/dkms"
echo 'try_sign_modules="false"' >"$P/etc/dkms/framework.conf"
check "try_sign_modules=false installs" "$REKMOD" --root "$P" install "$HELLO" -k "$K1"
no_key() { [[ ! -e $P/var/lib/dkms/mok.key && -z $(modinfo -F signer "$(ko "$P" "$K1")") ]]; }
check "... unsigned, and no key generated" no_key

# ---- 4b. sign_file from the environment, as dkms honours it (the compat test relies on it) ----
E=$W/env
new_root "$E"
env_nosign() {
	sign_file=/nonexistent/sign-file "$REKMOD" --root "$E" install "$HELLO" -k "$K1" >"$W/env.out" 2>&1 &&
		grep -q "^Binary /nonexistent/sign-file not found, modules won't be signed" "$W/env.out" &&
		[[ ! -e $E/var/lib/dkms/mok.key && -z $(modinfo -F signer "$(ko "$E" "$K1")") ]]
}
check "sign_file from the environment: missing binary, unsigned install, no key" env_nosign

# ---- 5. xz from the kernel config ----
X=$W/xz
new_root "$X"
edit_config "$W/xz.config" 's/^CONFIG_MODULE_COMPRESS_NONE=y/# CONFIG_MODULE_COMPRESS_NONE is not set/; s/^# CONFIG_MODULE_COMPRESS_XZ is not set/CONFIG_MODULE_COMPRESS_XZ=y/'
"$REKMOD" --root "$X" --verbose --config "$W/xz.config" install "$HELLO" -k "$K1" >"$W/xz.out" 2>&1
check "install with CONFIG_MODULE_COMPRESS_XZ=y" grep -q "^Installing $X/lib/modules/$K1/updates/dkms/hello.ko.xz" "$W/xz.out"
check "--verbose names the choice" grep -q "^Module compression for kernel $K1: xz (from kernel config)" "$W/xz.out"
XZF=$X/lib/modules/$K1/updates/dkms/hello.ko.xz
only_xz() { [[ -f $XZF && ! -e ${XZF%.xz} && $(find "$X/var/lib/dkms/hello" -name 'hello.ko*' -printf '%f\n') == hello.ko.xz ]]; }
check "the built and installed file is hello.ko.xz (no plain .ko)" only_xz
check "modinfo reads it" bash -c '[[ $(modinfo -F version "$1") == 0.1 ]]' _ "$XZF"
check "it is signed before compression" bash -c '[[ $(modinfo -F signer "$1") == "$2" ]]' _ "$XZF" "$CN"
check "xz -lvv: CRC32 check" bash -c 'xz -lvv "$1" | grep -Eq "^ +Check: +CRC32$"' _ "$XZF"
check "xz -lvv: 1 MiB dictionary" bash -c 'xz -lvv "$1" | grep -q -- "--lzma2=dict=1MiB"' _ "$XZF"
check "the install record names hello.ko.xz" grep -q "^hello.ko.xz	/lib/modules/$K1/updates/dkms/hello.ko.xz$" \
	"$X/var/lib/dkms/hello/0.1/$K1/x86_64/.rekmod-installed"
check "status says installed (not differs)" \
	bash -c '[[ $("$REKMOD" --root "$1" status) == "hello/0.1, $2, x86_64: installed" ]]' _ "$X" "$K1"
check "uninstall" "$REKMOD" --root "$X" uninstall hello/0.1 -k "$K1"
check "uninstall removes hello.ko.xz" test ! -e "$XZF"

edit_config "$W/gz.config" 's/^CONFIG_MODULE_COMPRESS_NONE=y/# CONFIG_MODULE_COMPRESS_NONE is not set/; s/^# CONFIG_MODULE_COMPRESS_GZIP is not set/CONFIG_MODULE_COMPRESS_GZIP=y/'
check "install with CONFIG_MODULE_COMPRESS_GZIP=y" "$REKMOD" --root "$X" --config "$W/gz.config" install hello/0.1 -k "$K2"
GZF=$X/lib/modules/$K2/updates/dkms/hello.ko.gz
# Debian 12's libkmod is built without zlib (kmod --version: -ZLIB): read the unpacked copy
check "gzip -t accepts hello.ko.gz; unpacked, it is the signed module" \
	bash -c 'gzip -t "$1" && zcat "$1" >"$2" && [[ $(modinfo -F version "$2") == 0.1 && $(modinfo -F signer "$2") == "$3" ]]' \
	_ "$GZF" "$W/unpacked.ko" "$CN"

# ---- 6. COMPRESS_NONE, but the kernel's modules.dep uses .ko.zst ----
Z=$W/zst
new_root "$Z"
echo "kernel/x.ko.zst:" >"$Z/lib/modules/$K1/modules.dep"
check "install with a .ko.zst modules.dep" "$REKMOD" --root "$Z" --no-depmod install "$HELLO" -k "$K1"
ZF=$Z/lib/modules/$K1/updates/dkms/hello.ko.zst
check "the installed file is hello.ko.zst" test -f "$ZF"
check "zstd -t accepts it" zstd -q -t "$ZF"
check "modinfo reads it" bash -c '[[ $(modinfo -F version "$1") == 0.1 ]]' _ "$ZF"
check "status says installed" bash -c '[[ $("$REKMOD" --root "$1" status) == "hello/0.1, $2, x86_64: installed" ]]' _ "$Z" "$K1"
cp "$ZF" "$W/kernel-hello.ko.zst"
check "uninstall removes it" bash -c '"$REKMOD" --root "$1" --no-depmod uninstall hello/0.1 -k "$2" >/dev/null && [[ ! -e $3 ]]' _ "$Z" "$K1" "$ZF"
# the kernel ships the same hello.ko.zst: the version check reads it (libkmod)
mkdir -p "$Z/lib/modules/$K1/kernel/misc"
cp "$W/kernel-hello.ko.zst" "$Z/lib/modules/$K1/kernel/misc/hello.ko.zst"
same_version_kept() {
	"$REKMOD" --root "$Z" --no-depmod install hello/0.1 -k "$K1" >"$W/same.out" 2>&1
	grep -q "^Module $Z/lib/modules/$K1/kernel/misc/hello.ko.zst already installed at version 0.1" "$W/same.out" &&
		[[ ! -e $ZF ]]
}
check "the version check reads a compressed kernel module" same_version_kept

after=$(snapshot)
host_untouched() { [[ $before == "$after" ]]; }
check "nothing changed in the host's /lib/modules, /var/lib/dkms, /etc/dkms, /usr/src" host_untouched
summary
