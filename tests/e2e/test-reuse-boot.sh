#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Zero-compile kernel upgrades, end to end (issue 20). In a Debian 12 chroot
# made from the cached base (tests/integration/buildroot.sh), with the real
# apt, dpkg and Debian's kernel packages, and no manual rekmod command:
#   1. apt installs the rekmod .deb, the real acpi-call-dkms and examples/hello
#      packaged by `rekmod mkdeb`, then linux-image-6.1.0-56-amd64 with its
#      headers: Debian's hooks (rekmod's /etc/kernel/*.d scripts and dpkg
#      triggers) compile and install both modules for 6.1.0-56;
#   2. apt installs linux-image-6.1.0-57-amd64 with its headers (equivalent to
#      6.1.0-56's): rekmod installs the 6.1.0-56 builds for 6.1.0-57 and make
#      never runs (/usr/bin/make is diverted to a wrapper that logs each call);
#   3. qemu (TCG) boots the chroot's /boot/vmlinuz-6.1.0-57-amd64 with a tiny
#      initramfs (static busybox, the chroot's kmod, the two modules and their
#      dependencies from the chroot's /lib/modules/6.1.0-57-amd64 with
#      depmod's indexes): `modprobe` loads both by name (hello logs "Hello
#      world."; acpi_call's /proc/acpi/call evaluates \_SB.PCI0._ADR of
#      qemu's ACPI tables);
#   4. apt removes the 6.1.0-56 kernel and headers: 6.1.0-57's modules and
#      records are untouched, 6.1.0-56's are gone; 6.1.0-57 boots and loads
#      both again;
#   5. the 6.12 headers arrive alone (dpkg -i --force-depends: their package
#      depends on the image, the build needs only the headers); they are not
#      equivalent to 6.1's: both modules are compiled for 6.12.
# The kernel packages come from a local file: apt repository of .debs
# downloaded once into build/test-cache/e2e-debs (by apt inside the chroot,
# from the machine's Debian sources); the initramfs tool is tiny-initramfs
# (Provides: linux-initramfs-tool), whose real kernel hook runs in seconds.
# Runs in a private mount namespace; nothing is written outside a mktemp -d
# and the cache. One line per step with its time, then the total.
# KEEP=1 keeps the work directory.
set -u
SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export LC_ALL=C
REKMOD=${REKMOD:-$SRCDIR/build/rekmod}

if [[ ${1:-} != --inside ]]; then
	[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (chroot, mounts)"; exit 77; }
	for t in unshare chroot qemu-system-x86_64 cpio dpkg-scanpackages jq; do
		command -v "$t" >/dev/null || { echo "SKIP: $t is not installed (tests/deps.sh)"; exit 77; }
	done
	busybox --list 2>/dev/null | grep -qx sh || { echo "SKIP: busybox-static is not installed"; exit 77; }
	compgen -G "$SRCDIR/build/test-cache/bookworm-build*.tar" >/dev/null || command -v debootstrap >/dev/null ||
		{ echo "SKIP: no cached Debian base and no debootstrap"; exit 77; }
	exec unshare --mount --propagation private bash "${BASH_SOURCE[0]}" --inside
fi
T_START=$(date +%s.%N)
source "$SRCDIR/tests/integration/buildroot.sh"

K0=6.1.0-56-amd64 K=6.1.0-57-amd64 KX=6.12.117+deb12-amd64
KX_DEBS=("linux-headers-$KX" "linux-headers-${KX%-amd64}-common" "linux-kbuild-${KX%-amd64}")
ACPI_DEB=$(ls "$SRCDIR"/build/test-cache/debs/acpi-call-dkms_*.deb 2>/dev/null | head -n 1)
[[ -n $ACPI_DEB ]] || { echo "not ok - acpi-call-dkms is not cached in build/test-cache/debs (tests/deps.sh test)"; exit 1; }
REPO=$BUILDROOT_CACHE/e2e-debs
W=$(realpath "$(mktemp -d /tmp/rekmod-e2e.XXXXXX)")
C=$W/chroot
# The chroot grows to about 2 GB (two kernel images): on a tmpfs (this mount
# namespace's own) when memory allows and KEEP is unset, so that dpkg's
# fsyncs and the final rm cost nothing; on /tmp's disk otherwise.
TMPFS=''
if [[ -z ${KEEP:-} ]] && (($(awk '/^MemAvailable:/ { print int($2 / 1048576) }' /proc/meminfo) >= 6)); then
	mount -t tmpfs -o size=4g,mode=0700 rekmod-e2e "$W" && TMPFS=1
fi
cleanup() {
	umount "$C/srv/repo" 2>/dev/null
	buildroot_release "$C"
	[[ -z $TMPFS ]] || umount -l "$W"
	[[ -n ${KEEP:-} ]] || rm -rf --one-file-system "$W"
}
trap cleanup EXIT
host_state() { find /lib/modules /var/lib/dkms /usr/src /boot -maxdepth 3 -printf '%p %T@\n' 2>/dev/null | sort; }
HOST_BEFORE=$(host_state)

in_chroot() { chroot "$C" env DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
apt_get() { in_chroot apt-get -y -q --no-install-recommends "$@"; }

T_STEP=$(date +%s.%N) N=0 FAILED=0
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
# step DESCRIPTION COMMAND...: one line with the step's time, the output on failure
step() {
	local desc=$1 out rc=0
	shift
	N=$((N + 1))
	out=$("$@" 2>&1) || rc=1
	if ((rc == 0)); then
		echo "ok $N - $desc ($(elapsed "$T_STEP") s)"
	else
		echo "not ok $N - $desc ($(elapsed "$T_STEP") s)"
		sed 's/^/#   /' <<<"$out"
		FAILED=$((FAILED + 1))
	fi
	T_STEP=$(date +%s.%N)
	return $rc
}
finish() {
	local t
	t=$(date +%s.%N)
	cleanup
	trap - EXIT
	echo "cleanup ($(elapsed "$t") s${TMPFS:+, tmpfs})"
	echo "total $(elapsed "$T_START") s: $((N - FAILED)) passed, $FAILED failed"
	exit $((FAILED > 0))
}

# ---- setup: the chroot, the packages, the local apt repository ----
setup_chroot() {
	make -s -C "$SRCDIR" deb >"$W/deb.log" 2>&1 || { cat "$W/deb.log"; return 1; }
	buildroot_new "$C" || return 1
	cp "$(ls "$SRCDIR"/build/rekmod_*.deb | head -n 1)" "$C/tmp/rekmod.deb"
	cp "$ACPI_DEB" "$C/tmp/acpi-call-dkms.deb"
	# examples/hello, packaged by rekmod mkdeb in a scratch root (source only)
	local r=$W/pkgroot
	mkdir -p "$r/etc" "$r/usr/src"
	cp /etc/os-release "$r/etc/"
	cp -a "$SRCDIR/examples/hello" "$r/usr/src/hello-0.1"
	"$REKMOD" --root "$r" add hello/0.1 >"$W/mkdeb.log" 2>&1 &&
		"$REKMOD" --root "$r" mkdeb hello/0.1 >>"$W/mkdeb.log" 2>&1 || { cat "$W/mkdeb.log"; return 1; }
	cp "$r/var/lib/dkms/hello/0.1/deb/hello-dkms_0.1_all.deb" "$C/tmp/hello-dkms.deb" || return 1
	# every make run in the chroot is logged (kbuild's sub-makes too)
	in_chroot dpkg-divert --quiet --local --rename --divert /usr/bin/make.distrib --add /usr/bin/make || return 1
	printf '#!/bin/sh\necho "make $*" >>/var/log/make-calls\nexec /usr/bin/make.distrib "$@"\n' >"$C/usr/bin/make"
	chmod 0755 "$C/usr/bin/make"
}

# What the test installs from the archive; the cache is refetched when this
# list or the rekmod package's dependencies change.
ARCHIVE_PKGS=("linux-image-$K0" "linux-headers-$K0" "linux-image-$K" "linux-headers-$K" tiny-initramfs)
repo_key() {
	{ printf '%s\n' 2 "${ARCHIVE_PKGS[@]}" "${KX_DEBS[@]}"; dpkg-deb -f "$C/tmp/rekmod.deb" Depends; } | sha256sum | cut -c1-16
}

# Downloads the packages with the chroot's apt (the machine's Debian
# sources), with every dependency the base lacks, into $REPO.
fetch_repo() {
	local t=$REPO.tmp
	local f
	# the machine's Debian entries only (a third-party source's key is not in the chroot)
	rm -f "$C/etc/apt/sources.list"
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] && grep -qE '^URIs:.*/debian(-security)?/?( |$)' "$f" && cp "$f" "$C/etc/apt/sources.list.d/"
	done
	grep -hE '^deb .*/debian(-security)?/? ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null >"$C/etc/apt/sources.list"
	apt_get update >"$W/fetch.log" 2>&1 &&
		apt_get install --download-only /tmp/rekmod.deb /tmp/acpi-call-dkms.deb /tmp/hello-dkms.deb \
			"${ARCHIVE_PKGS[@]}" >>"$W/fetch.log" 2>&1 || { tail -30 "$W/fetch.log"; return 1; }
	rm -rf "$t" && mkdir -p "$t" && mv "$C"/var/cache/apt/archives/*.deb "$t/" || return 1
	rm -f "$t"/acpi-call-dkms_*.deb # installed from build/test-cache/debs
	in_chroot sh -c 'cd /tmp && apt-get download -q -o APT::Sandbox::User=root "$@"' sh "${KX_DEBS[@]}" \
		>>"$W/fetch.log" 2>&1 || { tail -30 "$W/fetch.log"; return 1; }
	mv "$C"/tmp/linux-*.deb "$t/" || return 1
	rm -rf "$C"/var/lib/apt/lists/* "$C"/etc/apt/sources.list.d/* "$C/etc/apt/sources.list"
	(cd "$t" && dpkg-scanpackages -m . /dev/null >Packages 2>/dev/null) || return 1
	repo_key >"$t/key" && rm -rf "$REPO" && mv "$t" "$REPO"
}

local_repo() {
	(
		flock 9
		[[ $(cat "$REPO/key" 2>/dev/null) == "$(repo_key)" ]] || fetch_repo
	) 9>"$BUILDROOT_CACHE/.e2e-debs.lock" || return 1
	mkdir -p "$C/srv/repo" && mount --bind -o ro "$REPO" "$C/srv/repo" || return 1
	rm -f "$C/etc/apt/sources.list" "$C"/etc/apt/sources.list.d/*
	echo 'deb [trusted=yes] file:/srv/repo ./' >"$C/etc/apt/sources.list"
	apt_get update >"$W/update.log" 2>&1 || { cat "$W/update.log"; return 1; }
}

step "setup: Debian 12 chroot, the rekmod .deb, hello-dkms by mkdeb, a local apt repository ($(basename "$REPO"))" \
	eval 'setup_chroot && local_repo' || finish

# ---- checks shared by the steps ----
KOS=(hello acpi_call)
# ko K M: the installed module file (compressed as K's .config asks: 6.12's are .ko.xz)
ko() {
	local f
	for f in "$C/lib/modules/$1/updates/dkms/$2".ko{,.xz,.zst,.gz}; do
		[[ -f $f ]] && break
	done
	echo "$f"
}
installed_for() {
	local m
	for m in "${KOS[@]}"; do
		[[ -f $(ko "$1" "$m") ]] || { echo "no $C/lib/modules/$1/updates/dkms/$m.ko*"; return 1; }
		# depmod runs for a kernel whose image is installed (not for headers alone)
		[[ ! -e $C/boot/vmlinuz-$1 ]] || grep -q "^updates/dkms/$m.ko[.a-z]*:" "$C/lib/modules/$1/modules.dep" ||
			{ echo "modules.dep of $1 lacks $m"; return 1; }
	done
	in_chroot rekmod status >"$W/status" 2>&1
	for m in hello/0.1 acpi-call/; do
		grep -q "^$m.*, $1, [^:]*: installed" "$W/status" || { echo "status has no installed $m for $1"; cat "$W/status"; return 1; }
	done
}
compiled_for() {
	local m
	grep -q "$1" "$C/var/log/make-calls" || { echo "make never ran for $1"; cat "$C/var/log/make-calls"; return 1; }
	for m in "${KOS[@]}"; do
		[[ $(modinfo -F vermagic "$(ko "$1" "$m")") == "$1 "* ]] || { echo "$m for $1: vermagic $(modinfo -F vermagic "$(ko "$1" "$m")")"; return 1; }
	done
}

# ---- 1. the first kernel: compiled by Debian's hooks ----
step1() {
	apt_get install /tmp/rekmod.deb /tmp/acpi-call-dkms.deb /tmp/hello-dkms.deb >"$W/1a.log" 2>&1 ||
		{ tail -30 "$W/1a.log"; return 1; }
	: >"$C/var/log/make-calls"
	apt_get install "linux-image-$K0" "linux-headers-$K0" >"$W/1b.log" 2>&1 || { tail -40 "$W/1b.log"; return 1; }
	! in_chroot dpkg -l dkms 2>/dev/null | grep -q '^ii' || { echo "Debian's dkms is installed"; return 1; }
	installed_for "$K0" && compiled_for "$K0" || { tail -40 "$W/1b.log"; return 1; }
}
step "1. apt: rekmod, acpi-call-dkms, hello-dkms, then linux-image/headers-$K0: both modules compiled and installed" step1 || finish

# ---- 2. the equivalent kernel: the builds are reused ----
reused_from() { in_chroot rekmod status --json | jq -r --arg k "$1" '.[] | select(.kernel == $k) | .reused_from'; }
step2() {
	: >"$C/var/log/make-calls"
	apt_get install "linux-image-$K" "linux-headers-$K" >"$W/2.log" 2>&1 || { tail -40 "$W/2.log"; return 1; }
	installed_for "$K" || { tail -40 "$W/2.log"; return 1; }
	[[ ! -s $C/var/log/make-calls ]] || { echo "make ran:"; cat "$C/var/log/make-calls"; tail -20 "$W/2.log"; return 1; }
	grep -q "installed-weak from $K0" "$W/status" || { echo "status does not say the build of $K0 is reused:"; cat "$W/status"; return 1; }
	reused_from "$K" | sort -u | grep -qx "$K0" && [[ $(reused_from "$K" | wc -l) == 2 ]] ||
		{ echo "status --json: reused_from of $K is not $K0 for both:"; in_chroot rekmod status --json; return 1; }
	# and the modules are those built for K0 (a compile for K would write K's vermagic)
	for m in "${KOS[@]}"; do
		[[ $(modinfo -F vermagic "$(ko "$K" "$m")") == "$K0 "* ]] || { echo "$m for $K: vermagic $(modinfo -F vermagic "$(ko "$K" "$m")")"; return 1; }
	done
}
step "2. apt: linux-image/headers-$K: both builds of $K0 reused (make never ran) and installed for $K" step2

# ---- 3. and 4. boots: the initramfs holds the two modules, their
# dependencies and depmod's indexes from the chroot's /lib/modules/$K ----
make_initramfs() {
	local i=$W/initramfs m f d=$C/lib/modules/$K
	rm -rf "$i" && mkdir -p "$i"/{bin,sbin,proc,sys,dev,lib/modules/$K}
	cp /bin/busybox "$i/bin/busybox"
	for f in sh mount cat grep sed echo printf tr poweroff uname; do ln -s busybox "$i/bin/$f"; done
	cp "$C/usr/bin/kmod" "$i/bin/kmod" && ln -s ../bin/kmod "$i/sbin/modprobe"
	for f in $(in_chroot ldd /usr/bin/kmod | grep -o '/[^ ]*'); do
		mkdir -p "$i$(dirname "$f")" && cp -L "$C$f" "$i$f"
	done
	find "$d" -maxdepth 1 -type f -name 'modules.*' -exec cp {} "$i/lib/modules/$K/" \;
	for m in "${KOS[@]}"; do
		modprobe -d "$C" -S "$K" --show-depends "$m" >"$W/deps" || return 1
		while read -r _ f _; do
			mkdir -p "$i${f#"$C"}" && rmdir "$i${f#"$C"}" && cp "$f" "$i${f#"$C"}"
		done <"$W/deps"
	done
	cat >"$i/init" <<-'INIT'
		#!/bin/sh
		mount -t proc proc /proc
		mount -t sysfs sys /sys
		echo "E2E: booted $(uname -r)"
		for m in hello acpi_call; do
			if modprobe $m; then echo "E2E: modprobe $m: exit 0"; else echo "E2E: modprobe $m: failed"; fi
			grep "^$m " /proc/modules | sed 's/^/E2E: \/proc\/modules: /'
		done
		echo "E2E: /proc/acpi/call: $(cat /proc/acpi/call)"
		printf '%s' '\_SB.PCI0._ADR' >/proc/acpi/call
		echo "E2E: acpi_call \_SB.PCI0._ADR: $(cat /proc/acpi/call | tr -d '\0')"
		poweroff -f
	INIT
	chmod 0755 "$i/init"
	(cd "$i" && find . | cpio -o -H newc --quiet) >"$W/initramfs.cpio"
}
boot_loads() {
	local con=$W/console-$1
	make_initramfs || return 1
	timeout 300 qemu-system-x86_64 -machine accel=tcg -m 512 -smp 1 -nographic -no-reboot \
		-kernel "$C/boot/vmlinuz-$K" -initrd "$W/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 loglevel=7" </dev/null 2>&1 | tr -d '\r' >"$con"
	grep -q "^E2E: booted $K$" "$con" &&
		grep -q '^E2E: modprobe hello: exit 0' "$con" && grep -q '^E2E: /proc/modules: hello ' "$con" &&
		grep -q '^\[ *[0-9.]*\] Hello world\.$' "$con" &&
		grep -q '^E2E: modprobe acpi_call: exit 0' "$con" && grep -q '^E2E: /proc/modules: acpi_call ' "$con" &&
		grep -q '^E2E: /proc/acpi/call: not called' "$con" &&
		grep -qF 'E2E: acpi_call \_SB.PCI0._ADR: 0x0' "$con" ||
		{ grep -a 'E2E:\|acpi_call' "$con"; tail -30 "$con"; return 1; }
	grep -a 'E2E:\|Hello world\|acpi_call' "$con" >"$W/boot-$1.txt"
}
step "3. qemu boots /boot/vmlinuz-$K: modprobe loads hello (\"Hello world.\") and acpi_call (/proc/acpi/call)" boot_loads 1

# ---- 4. the first kernel leaves ----
snapshot() {
	(cd "$C" && find "lib/modules/$1/updates" "var/lib/dkms" -path "*$1*" \( -type f -o -type l \) -print0 2>/dev/null |
		sort -z | xargs -0r sha256sum)
	in_chroot rekmod status 2>&1 | grep -F ", $1,"
}
step4() {
	snapshot "$K" >"$W/before"
	apt_get remove "linux-image-$K0" "linux-headers-$K0" >"$W/4.log" 2>&1 || { tail -30 "$W/4.log"; return 1; }
	snapshot "$K" >"$W/after"
	diff "$W/before" "$W/after" || { echo "$K's modules or records changed"; return 1; }
	grep -q . "$W/after" || return 1
	installed_for "$K" || return 1
	! grep -F ", $K0," "$W/status" || { echo "status still lists $K0"; return 1; }
	! find "$C/lib/modules/$K0" -name '*.ko*' 2>/dev/null | grep . || { echo "$K0 modules left"; return 1; }
	! compgen -G "$C/var/lib/dkms/*/*/$K0" || { echo "$K0 records left:"; compgen -G "$C/var/lib/dkms/*/*/$K0"; return 1; }
	boot_loads 2
}
step "4. apt removes linux-image/headers-$K0: $K untouched, $K0's modules gone; $K boots and loads both again" step4

# ---- 5. a kernel whose headers are not equivalent: compiled ----
step5() {
	: >"$C/var/log/make-calls"
	local d
	for d in "${KX_DEBS[@]}"; do cp "$REPO/${d}_"*.deb "$C/tmp/"; done
	# headers alone (their package depends on the image; the build needs only them)
	in_chroot sh -c 'dpkg -i --force-depends /tmp/linux-kbuild-*.deb /tmp/linux-headers-*.deb' >"$W/5.log" 2>&1 ||
		{ tail -30 "$W/5.log"; return 1; }
	installed_for "$KX" && compiled_for "$KX" || { tail -30 "$W/5.log"; return 1; }
	! grep -F ", $KX," "$W/status" | grep -q weak && [[ $(reused_from "$KX" | sort -u) == null ]] ||
		{ cat "$W/status"; in_chroot rekmod status --json; return 1; }
}
step "5. dpkg: linux-headers-$KX (not equivalent): both modules compiled for $KX" step5

step "the host's /lib/modules, /var/lib/dkms, /usr/src and /boot are unchanged" test "$HOST_BEFORE" == "$(host_state)"
finish
