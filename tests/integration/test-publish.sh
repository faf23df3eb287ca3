#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# rekmod publish (issue 17): examples/hello built for two kernels, one of
# them ($KA) with no headers on this machine (downloaded from Debian's
# archive into the scratch dkms tree's header cache, never installed), into
# a fresh apt repository made by the real reprepro and signed with a scratch
# GnuPG key. The machine's dpkg database and /usr/src stay as they were.
# Then a Debian 12 minbase chroot (no compiler, no headers, no rekmod) adds
# the repository as a file: source and apt installs hello-modules-$KA: the
# real linux-image-$KA comes from the archive, the signed module with $KA's
# vermagic lands in updates/dkms and modules.dep lists it. A rerun with a
# third kernel adds only that kernel's package. Publish holds the tree lock
# (it times out before touching anything while another rekmod has it), and a
# header cache whose debs/ cannot be made is one error line.
# About 2-3 minutes on an idle machine (the chroot's apt installs the image).
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ ${1:-} != --inside ]]; then
	[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (chroot, mounts)"; exit 77; }
	for t in reprepro gpg dpkg-deb apt-get; do
		command -v "$t" >/dev/null || { echo "SKIP: $t is not installed (tests/deps.sh)"; exit 77; }
	done
	exec unshare --mount --propagation private bash "${BASH_SOURCE[0]}" --inside
fi
source "$SRCDIR/tests/integration/buildroot.sh"

# the archive kernel: a 6.1 ABI the archive carries whose headers are not here
KA=${FLEET_ARCHIVE_KERNEL:-}
if [[ -z $KA ]]; then
	n=${K2#6.1.0-}
	n=${n%-amd64}
	for ((i = n - 1; i > n - 6 && i > 0; i--)); do
		cand=$(apt-cache policy "linux-headers-6.1.0-$i-amd64" 2>/dev/null | awk '/Candidate:/ {print $2}')
		if [[ -n $cand && $cand != "(none)" && ! -e /usr/src/linux-headers-6.1.0-$i-amd64 ]]; then
			KA=6.1.0-$i-amd64
			break
		fi
	done
fi
[[ -n $KA ]] || { echo "SKIP: no older 6.1 headers package in the archive"; exit 77; }

W=$(realpath "$(mktemp -d /tmp/rekmod-publish.XXXXXX)")
C=$W/client
cleanup() {
	umount "$C/proc" 2>/dev/null
	[[ -n ${KEEP:-} ]] || rm -rf --one-file-system "$W"
}
trap cleanup EXIT

R=$W/root
REPO=$W/repo
new_root "$R"
rm "$R/lib/modules/$K2/build"
rmdir "$R/lib/modules/$K2"
cp -a "$SRCDIR/examples/hello" "$R/usr/src/hello-0.1"
export GNUPGHOME=$W/gnupg
mkdir -m 700 "$GNUPGHOME"
gpg --batch -q --passphrase '' --quick-gen-key 'rekmod fleet test <fleet@example.invalid>' rsa3072 sign never \
	2>"$W/gpg.log" || { cat "$W/gpg.log"; exit 1; }
FPR=$(gpg --batch --with-colons --list-secret-keys 2>/dev/null | awk -F: '$1 == "fpr" {print $10; exit}')
mkdir -p "$R/etc/dkms"
printf 'publish_gpg_key="%s"\n' "$FPR" >"$R/etc/dkms/framework.conf"
rk() { "$REKMOD" --root "$R" "$@"; }
rk add hello/0.1 >"$W/add.log" 2>&1 || { cat "$W/add.log"; exit 1; }

host_state() { dpkg -l; find /usr/src /lib/modules -maxdepth 2 -printf '%p %y %T@\n' | sort; }
host_state >"$W/host-before"

# another rekmod holds the tree lock: publish waits for it (bounded) and
# touches neither the repository nor the header cache before it has it
locked_out() {
	local out rc=0 holder
	printf 'publish_gpg_key="%s"\nlock_timeout_seconds=1\n' "$FPR" >"$R/etc/dkms/framework.conf"
	flock "$R/var/lib/dkms/.rekmod.lock" sleep 3 &
	holder=$!
	sleep 0.5
	out=$(rk publish hello/0.1 -k "$K1" -k "$KA" --repo "$REPO" 2>&1) || rc=$?
	wait "$holder"
	printf 'publish_gpg_key="%s"\n' "$FPR" >"$R/etc/dkms/framework.conf"
	[[ $rc != 0 ]] && grep -q "Timed out after 1s waiting for $R/var/lib/dkms/.rekmod.lock" <<<"$out" &&
		! grep -q Downloading <<<"$out" && [[ ! -e $REPO/conf && ! -e $R/var/lib/dkms/.headers ]] ||
		{ echo "rc=$rc"; echo "$out"; find "$REPO" "$R/var/lib/dkms" -maxdepth 1; return 1; }
}
check "with the tree lock held elsewhere, publish times out before it writes the repository or fetches headers" \
	locked_out

publish_two() {
	rk publish hello/0.1 -k "$K1" -k "$KA" --repo "$REPO" >"$W/publish.log" 2>&1 || { cat "$W/publish.log"; return 1; }
	grep -q "Downloading the headers of kernel $KA from the package archive" "$W/publish.log" &&
		[[ -f $(echo "$REPO"/dists/*/Release) && -f $(echo "$REPO"/dists/*/InRelease) ]] ||
		{ cat "$W/publish.log"; find "$REPO/dists"; return 1; }
	local debs
	debs=$(cd "$REPO/pool" && find . -name '*.deb' -printf '%f\n' | sort)
	[[ $debs == "$(printf 'hello-modules-%s_0.1_amd64.deb\n' "$K1" "$KA" | sort)" ]] || { echo "$debs"; return 1; }
	gpg --batch --verify "$REPO"/dists/*/InRelease 2>&1 | grep -q 'Good signature'
}
check "publish hello/0.1 for $K1 and $KA (headers from the archive): signed dists/*/Release, two packages in pool/" \
	publish_two

cached_headers() {
	local b=$R/var/lib/dkms/.headers/$KA
	[[ -L $b/build && -f $b/build/Makefile && -x $b/build/scripts/sign-file ]] &&
		grep -q "^include $b/usr/src/linux-headers-${KA%-amd64}-common/Makefile" "$b/build/Makefile" &&
		! find "$b" -type l -lname '/*' | grep -q . || { ls -la "$b" "$b/build/"; return 1; }
}
check "$KA's headers are unpacked in the dkms tree's cache with no absolute link left" cached_headers

# the cache's debs/ cannot be made: one error line naming it
no_debs_dir() {
	local c=$R/var/lib/dkms/.headers out rc=0
	mv "$c/debs" "$c/debs.keep" && : >"$c/debs" || return 1
	out=$(rk publish hello/0.1 -k 6.1.0-999-amd64 --repo "$REPO" 2>&1) || rc=$?
	rm "$c/debs" && mv "$c/debs.keep" "$c/debs"
	[[ $rc != 0 ]] && grep -qF "Error! could not create $c/debs: " <<<"$out" || { echo "rc=$rc"; echo "$out"; return 1; }
}
check "a header cache whose debs/ cannot be created: the error names it" no_debs_dir

host_unchanged() {
	host_state >"$W/host-after"
	diff "$W/host-before" "$W/host-after"
}
check "dpkg -l, /usr/src and /lib/modules of this machine are unchanged" host_unchanged

# ---- the client: Debian 12 minbase, no compiler, no headers, no rekmod ----
client_setup() {
	mkdir -p "$C" && tar -C "$C" -xf "$BUILDROOT_MINBASE" || return 1
	_buildroot_devnodes "$C"
	rm -f "$C/etc/apt/sources.list"
	cp /etc/apt/sources.list.d/*.sources "$C/etc/apt/sources.list.d/" 2>/dev/null ||
		cp /etc/apt/sources.list "$C/etc/apt/sources.list"
	cp /etc/resolv.conf "$C/etc/resolv.conf"
	mkdir -p "$C/srv" && cp -a "$REPO" "$C/srv/repo"
	gpg --batch --export "$FPR" >"$C/usr/share/keyrings/rekmod-fleet.gpg"
	echo "deb [signed-by=/usr/share/keyrings/rekmod-fleet.gpg] file:/srv/repo bookworm main" \
		>"$C/etc/apt/sources.list.d/rekmod-fleet.list"
	# no initramfs for a kernel image this chroot never boots (saves a minute)
	in_chroot dpkg-divert --local --divert /usr/sbin/update-initramfs.real --add /usr/sbin/update-initramfs \
		>/dev/null || return 1
	ln -s /bin/true "$C/usr/sbin/update-initramfs"
	mount -t proc proc "$C/proc"
}
in_chroot() { chroot "$C" env DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

client_install() {
	client_setup || return 1
	in_chroot apt-get update -q >"$W/c-update.log" 2>&1 || { tail -20 "$W/c-update.log"; return 1; }
	in_chroot apt-get install -y -q --no-install-recommends "hello-modules-$KA" >"$W/c-install.log" 2>&1 ||
		{ tail -30 "$W/c-install.log"; return 1; }
	local ko=$C/lib/modules/$KA/updates/dkms/hello.ko
	[[ -f $ko ]] || { tail -30 "$W/c-install.log"; find "$C/lib/modules/$KA" -name 'hello*'; return 1; }
	[[ $(modinfo -F vermagic "$ko") == "$KA "* ]] || { modinfo "$ko"; return 1; }
	[[ $(modinfo -F signer "$ko") == "DKMS module signing key" ]] || { modinfo "$ko"; return 1; }
	grep -q '^updates/dkms/hello.ko:' "$C/lib/modules/$KA/modules.dep" || return 1
	# what the client does not have
	! in_chroot sh -c 'command -v gcc || command -v cc || command -v make || command -v rekmod || command -v dkms' &&
		! compgen -G "$C/usr/src/linux-headers-*" >/dev/null || { ls "$C/usr/src"; return 1; }
}
check "a Debian 12 chroot without compiler or headers apt-installs hello-modules-$KA from the file: repository: \
signed, vermagic $KA, in modules.dep" client_install

client_remove() {
	in_chroot apt-get remove -y -q "hello-modules-$KA" >"$W/c-remove.log" 2>&1 || { tail -20 "$W/c-remove.log"; return 1; }
	[[ ! -e $C/lib/modules/$KA/updates/dkms/hello.ko ]] && ! grep -q hello "$C/lib/modules/$KA/modules.dep"
}
check "apt-get remove takes the module out and depmods" client_remove

# a machine with the source package (compiled here) that then gets the
# prebuilt package: the package's own postinst (DPKG_ROOT, rekmod in the
# root) replaces the local build, and a later sync keeps the prebuilt
coexist() {
	local R2=$W/both deb ko
	new_root "$R2"
	mkdir -p "$R2/usr/sbin" && cp "$REKMOD" "$R2/usr/sbin/rekmod"
	cp -a "$SRCDIR/examples/hello" "$R2/usr/src/hello-0.1"
	"$REKMOD" --root "$R2" add hello/0.1 >"$W/both.log" 2>&1 &&
		"$REKMOD" --root "$R2" install hello/0.1 -k "$K1" >>"$W/both.log" 2>&1 || { cat "$W/both.log"; return 1; }
	ko=$R2/lib/modules/$K1/updates/dkms/hello.ko
	deb=$(find "$REPO/pool" -name "hello-modules-${K1}_*.deb")
	dpkg-deb -x "$deb" "$R2" && dpkg-deb -e "$deb" "$W/both-ctl" || return 1
	tar -xzf "$R2/usr/share/hello-modules-$K1/hello-0.1.dkms.tar.gz" -C "$W" "./dkms_main_tree/$K1/$ARCH/module/hello.ko"
	! cmp -s "$ko" "$W/dkms_main_tree/$K1/$ARCH/module/hello.ko" || { echo "the local build is the prebuilt?"; return 1; }
	DPKG_ROOT=$R2 sh "$W/both-ctl/postinst" configure >>"$W/both.log" 2>&1 || { cat "$W/both.log"; return 1; }
	cmp "$ko" "$W/dkms_main_tree/$K1/$ARCH/module/hello.ko" || { cat "$W/both.log"; return 1; }
	"$REKMOD" --root "$R2" sync -m hello/0.1 >>"$W/both.log" 2>&1 || { cat "$W/both.log"; return 1; }
	cmp "$ko" "$W/dkms_main_tree/$K1/$ARCH/module/hello.ko" || { cat "$W/both.log"; return 1; }
}
check "with the source package compiled first, hello-modules-$K1's postinst installs the prebuilt; sync keeps it" coexist

rpm_repo() {
	command -v createrepo_c >/dev/null && command -v rpmbuild >/dev/null || { echo "no createrepo_c/rpmbuild"; return 1; }
	rk publish hello/0.1 -k "$K1" --repo "$W/rpmrepo" --rpm >"$W/rpm.log" 2>&1 || { cat "$W/rpm.log"; return 1; }
	[[ -f $W/rpmrepo/repodata/repomd.xml && -n $(find "$W/rpmrepo" -maxdepth 1 -name "hello-modules-$K1-0.1-*.rpm") ]] ||
		{ cat "$W/rpm.log"; ls -R "$W/rpmrepo"; return 1; }
	zcat "$W"/rpmrepo/repodata/*-primary.xml.gz | grep -q "<name>hello-modules-$K1</name>" || return 1
	rk publish hello/0.1 -k "$K1" --repo "$W/rpmrepo" --rpm >"$W/rpm2.log" 2>&1 &&
		grep -q "publish: 0 package(s) added to $W/rpmrepo, 1 there already" "$W/rpm2.log" || { cat "$W/rpm2.log"; return 1; }
}
check "publish --rpm: mkrpm's hello-modules-$K1 in a createrepo_c repository; a rerun adds nothing" rpm_repo

rerun_third() {
	mkdir -p "$R/lib/modules/$K2"
	ln -s "/usr/src/linux-headers-$K2" "$R/lib/modules/$K2/build"
	# the fleet's package lists (dpkg -l, dpkg-query -W), with a meta package,
	# an -unsigned image and a -dbg package that name no other kernel
	printf 'ii  linux-image-%s  1  amd64  Linux\nii  linux-image-amd64  1  amd64  meta\n' "$K1" >"$W/fleet.list"
	printf 'linux-image-%s-unsigned\t1\nlinux-image-%s\t1\nlinux-image-%s-dbg\t1\nbash\t5\n' "$KA" "$K2" "$K1" \
		>>"$W/fleet.list"
	rk publish hello/0.1 --all-kernels-of "$W/fleet.list" --repo "$REPO" >"$W/publish2.log" 2>&1 ||
		{ cat "$W/publish2.log"; return 1; }
	grep -q "publish: 1 package(s) added to $REPO, 2 there already, 0 failed." "$W/publish2.log" &&
		! grep -q "Downloading" "$W/publish2.log" || { cat "$W/publish2.log"; return 1; }
	[[ $(find "$REPO/pool" -name '*.deb' | wc -l) == 3 && -n $(find "$REPO/pool" -name "hello-modules-${K2}_*") ]]
}
check "a rerun with $K2 added (--all-kernels-of a package list) publishes only $K2's package" rerun_third

summary
