#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# dkms 3.x behaviours rekmod reproduces, one check per behaviour, each with
# the output dkms 3.x prints (as upstream's run_test.sh specifies it) written
# below: examples/hello built with real headers in scratch roots.
# Signing (dkms 3.x's prepare_signing and sign step):
#   sign_file missing; a key or certificate that cannot be generated (and the
#   default pair left as it was); a failing sign_file; ${kernelver} in the
#   key paths; CONFIG_MODULE_SIG_HASH from --config; a kernel without signing;
#   a missing kernel config; try_sign_modules=false; a chroot with
#   try_sign_modules unset, not_in_chroot and true (as root: a private mount
#   namespace and chroot over bind mounts of the host's /usr); generate_mok.
# In the expected output the scratch root is written R and kernel K1 as K.
# About 40 s on an idle machine (14 builds of hello; 75 s with the machine loaded).
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
# as root, in a private mount namespace (the chroot's bind mounts; rekmod
# must not take the namespace itself for a chroot, as dkms 3.x would)
if [[ ${1:-} != --inside && $(id -u) -eq 0 ]] && unshare --mount true 2>/dev/null; then
	exec unshare --mount --propagation private bash "${BASH_SOURCE[0]}" --inside
fi
source "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

W=$(realpath "$(mktemp -d /tmp/rekmod-dkms3.XXXXXX)")
cleanup() {
	umount -R "$W/c" 2>/dev/null
	# the chroot's bind mounts are the host's /usr...: never delete through one
	if grep -q " $W/" /proc/self/mountinfo; then
		echo "# $W still has mounts; left in place"
	elif [[ -n ${KEEP:-} ]]; then
		echo "kept $W"
	else
		rm -rf --one-file-system "$W"
	fi
}
trap cleanup EXIT
HELLO=$SRCDIR/examples/hello
R=$W/root
new_root "$R"
mkdir -p "$R/etc/dkms"
cp -a "$HELLO" "$R/usr/src/hello-0.1"
KCONFIG=/usr/src/linux-headers-$K1/.config
# the sign-file rekmod finds for K1 in a scratch root (the headers' own; the
# root has no /usr/lib/linux-kbuild-*)
SF=/usr/src/linux-headers-K/scripts/sign-file
B=R/var/lib/dkms/hello/0.1/build/hello.ko

# framework LINE...: the root's framework.conf
framework() { printf '%s\n' "$@" >"$R/etc/dkms/framework.conf"; }

# expect DESCRIPTION RC COMMAND...: the command's stdout and stderr (in
# order), the root ($SHOWN_ROOT) written R and K1 written K, must be stdin
# exactly, and its exit code RC
SHOWN_ROOT=$R
expect() {
	local desc=$1 want_rc=$2
	shift 2
	cat >"$W/want"
	local rc=0
	"$@" >"$W/got.raw" 2>&1 || rc=$?
	sed -e "s|$SHOWN_ROOT/|R/|g" -e "s|$K1|K|g" "$W/got.raw" >"$W/got"
	check "$desc" bash -c '[[ $3 == "$4" ]] || { echo "exit code $3, not $4"; exit 1; }; diff -u "$1" "$2"' _ \
		"$W/want" "$W/got" "$rc" "$want_rc"
}
build() { "$REKMOD" --root "$R" build hello/0.1 -k "$K1" --force "$@"; }
ko() { echo "$R/var/lib/dkms/hello/0.1/$K1/$ARCH/module/hello.ko"; }
signer_key() { modinfo -F sig_key "$(ko)"; }
serial() { openssl x509 -inform DER -in "$1" -noout -serial | sed 's/^serial=//; s/../&:/g; s/:$//'; }

"$REKMOD" --root "$R" add hello/0.1 >/dev/null || { echo "not ok - add hello/0.1"; exit 1; }

framework 'sign_file="/no/such/file"'
expect "sign_file missing: Sign command, then Binary ... not found" 0 build <<EOF
Sign command: /no/such/file
Binary /no/such/file not found, modules won't be signed

Building module(s)... done.
EOF

framework
expect "the default key and certificate are generated in the dkms tree" 0 build <<EOF
Sign command: $SF
Signing key: R/var/lib/dkms/mok.key
Public certificate (MOK): R/var/lib/dkms/mok.pub
Certificate or key are missing, generating self signed certificate for MOK...

Building module(s)... done.
Signing module $B
EOF
pair=$(sha256sum "$R/var/lib/dkms/mok.key" "$R/var/lib/dkms/mok.pub")

framework 'mok_signing_key="/no/such/path.key"'
expect "a key in a missing directory: Key file ... not found and can't be generated" 0 build <<EOF
Sign command: $SF
Signing key: R/no/such/path.key
Public certificate (MOK): R/var/lib/dkms/mok.pub
Certificate or key are missing, generating self signed certificate for MOK...
Key file R/no/such/path.key not found and can't be generated, modules won't be signed

Building module(s)... done.
EOF
untouched() { [[ ! -e $R/no && $(sha256sum "$R/var/lib/dkms/mok.key" "$R/var/lib/dkms/mok.pub") == "$pair" ]]; }
check "... no directory made, and the default pair left as it was (no certificate of another key)" untouched

framework
matches() { [[ -n $(signer_key) && $(signer_key) == "$(serial "$R/var/lib/dkms/mok.pub")" ]]; }
expect "the default pair still signs afterwards" 0 build <<EOF
Sign command: $SF
Signing key: R/var/lib/dkms/mok.key
Public certificate (MOK): R/var/lib/dkms/mok.pub

Building module(s)... done.
Signing module $B
EOF
check "... with the certificate's key (sig_key is its serial)" matches

framework 'mok_signing_key="/etc/dkms/test.key"' 'mok_certificate="/no/such/path.crt"'
expect "a certificate in a missing directory: Certificate file ... not found and can't be generated" 0 build <<EOF
Sign command: $SF
Signing key: R/etc/dkms/test.key
Public certificate (MOK): R/no/such/path.crt
Certificate or key are missing, generating self signed certificate for MOK...
Certificate file R/no/such/path.crt not found and can't be generated, modules won't be signed

Building module(s)... done.
EOF

framework 'sign_file="/bin/false"' 'mok_signing_key="/etc/dkms/test.key"' 'mok_certificate="/etc/dkms/test.crt"'
expect "a failing sign_file: Warning: Failed to sign module '<build path>'! and its (empty) output" 0 build <<EOF
Sign command: /bin/false
Signing key: R/etc/dkms/test.key
Public certificate (MOK): R/etc/dkms/test.crt
Certificate or key are missing, generating self signed certificate for MOK...

Building module(s)... done.
Signing module $B
Warning: Failed to sign module '$B'!

EOF
check "... the certificate made from the key that was there" bash -c \
	'[[ $(openssl x509 -inform DER -in "$1" -noout -pubkey) == "$(openssl pkey -in "$2" -pubout)" ]]' _ \
	"$R/etc/dkms/test.crt" "$R/etc/dkms/test.key"

mkdir "$R/etc/dkms/keys_$K1"
# shellcheck disable=SC2016  # ${kernelver} is framework.conf's
framework 'mok_signing_key="/etc/dkms/keys_${kernelver}/key"' 'mok_certificate="/etc/dkms/keys_${kernelver}/cert"'
expect "\${kernelver} in mok_signing_key and mok_certificate" 0 build <<EOF
Sign command: $SF
Signing key: R/etc/dkms/keys_K/key
Public certificate (MOK): R/etc/dkms/keys_K/cert
Certificate or key are missing, generating self signed certificate for MOK...

Building module(s)... done.
Signing module $B
EOF

framework
echo 'CONFIG_MODULE_SIG_HASH="sha256"' >"$W/sha256.config"
expect "--config with CONFIG_MODULE_SIG_HASH alone: signed" 0 build --config "$W/sha256.config" <<EOF
Sign command: $SF
Signing key: R/var/lib/dkms/mok.key
Public certificate (MOK): R/var/lib/dkms/mok.pub

Building module(s)... done.
Signing module $B
EOF
check "... with its hash (sig_hashalgo sha256)" bash -c '[[ $(modinfo -F sig_hashalgo "$1") == sha256 ]]' _ "$(ko)"

grep -v '^CONFIG_MODULE_SIG' "$KCONFIG" >"$W/nosig.config"
expect "a kernel config without CONFIG_MODULE_SIG_HASH: not signed" 0 build --config "$W/nosig.config" <<EOF
The kernel is built without module signing facility, modules won't be signed

Building module(s)... done.
EOF

expect "a kernel config that is missing: not signed" 0 build --config "$W/no.config" <<EOF
Kernel config $W/no.config not found, modules won't be signed

Building module(s)... done.
EOF

framework 'try_sign_modules=false'
expect "try_sign_modules=false" 0 build <<EOF
Module signing is disabled by policy, modules won't be signed

Building module(s)... done.
EOF

# ---- a chroot: the host's /usr (compiler, headers) bind-mounted, the scratch root at /r ----
chroot_up() {
	local c=$W/c d
	mkdir "$c" && mount -t tmpfs -o size=64m rekmod-dkms3 "$c" || return 1
	mkdir -p "$c/r" "$c/proc" "$c/tmp" "$c/dev" "$c/rekmod"
	for d in usr lib lib64 bin sbin etc; do
		if [[ -L /$d ]]; then
			ln -s "$(readlink "/$d")" "$c/$d"
		elif [[ -d /$d ]]; then # read-only: nothing in the chroot writes through to the host
			mkdir "$c/$d" && mount --bind "/$d" "$c/$d" && mount -o remount,bind,ro "$c/$d" || return 1
		fi
	done
	mount --bind "$R" "$c/r" && mount --bind /dev "$c/dev" && mount -t proc proc "$c/proc" &&
		cp "$REKMOD" "$c/rekmod/rekmod"
}
chroot_build() { chroot "$W/c" /rekmod/rekmod --root /r build hello/0.1 -k "$K1" --force; }
if [[ ${1:-} == --inside ]] && chroot_up; then
	SHOWN_ROOT=/r
	framework
	expect "in a chroot, try_sign_modules unset: Running in chroot, modules won't be signed" 0 chroot_build <<EOF
Running in chroot, modules won't be signed

Building module(s)... done.
EOF
	framework 'try_sign_modules=not_in_chroot'
	expect "in a chroot, try_sign_modules=not_in_chroot: the same" 0 chroot_build <<EOF
Running in chroot, modules won't be signed

Building module(s)... done.
EOF
	framework 'try_sign_modules=true'
	expect "in a chroot, try_sign_modules=true: signed" 0 chroot_build <<EOF
Sign command: $SF
Signing key: R/var/lib/dkms/mok.key
Public certificate (MOK): R/var/lib/dkms/mok.pub

Building module(s)... done.
Signing module $B
EOF
	SHOWN_ROOT=$R
else
	echo "# SKIP the chroot checks: they need root and mount namespaces"
fi

# ---- generate_mok: dkms 3.x's prepare_mok lines, then rekmod's ----
framework
rm "$R/var/lib/dkms/mok.key" "$R/var/lib/dkms/mok.pub"
expect "generate_mok without a key: generated" 0 "$REKMOD" --root "$R" generate_mok <<EOF
Signing key: R/var/lib/dkms/mok.key
Public certificate (MOK): R/var/lib/dkms/mok.pub
Certificate or key are missing, generating self signed certificate for MOK...
Created the module signing key R/var/lib/dkms/mok.key (mode 0600) and certificate R/var/lib/dkms/mok.pub.
EOF
expect "generate_mok with the pair there: the two lines" 0 "$REKMOD" --root "$R" generate_mok <<EOF
Signing key: R/var/lib/dkms/mok.key
Public certificate (MOK): R/var/lib/dkms/mok.pub
EOF
framework 'mok_signing_key="/no/such/path.key"'
expect "generate_mok with a key that cannot be made: exit 1" 1 "$REKMOD" --root "$R" generate_mok <<EOF
Signing key: R/no/such/path.key
Public certificate (MOK): R/var/lib/dkms/mok.pub
Certificate or key are missing, generating self signed certificate for MOK...
Key file R/no/such/path.key not found and can't be generated, modules won't be signed
EOF
summary
