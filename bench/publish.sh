#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Benchmark: "publish a fleet's modules" (issue 17).
#
# The real Debian *-dkms packages of bench/sync.sh (PKGS), for the two newest
# kernels with headers here (K1, K2), into an apt repository made by reprepro:
#
#   A  rekmod publish -m m1/v1 -m m2/v2 ... -k K1 -k K2 --repo A/repo
#      (one plan: every build under one jobserver, then the packages)
#   B  one kernel at a time, one module at a time, as by hand before publish:
#      rekmod build m/v -k K; rekmod mkdeb m/v -k K --binaries-only;
#      reprepro includedeb
#
# Both run in their own scratch root (rekmod --root: headers links to the
# host's /usr/src, the packages' sources unpacked from the cached .debs with
# dpkg-deb -x, registered with rekmod add, untimed), with signing on (each
# root's own MOK). Measured: the wall time of each (one run each, B first,
# the header trees read once beforehand), and the packages each repository
# ends with. Nothing outside the scratch directory is written.
#
# Environment: REKMOD (default build/rekmod), PKGS, JOBS (-j, default nproc),
# KEEP=1 keeps the scratch directory.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REKMOD=${REKMOD:-$REPO_ROOT/build/rekmod}
CACHES=("$REPO_ROOT/build/test-cache/debs" "$REPO_ROOT/build/test-cache/debs-all")
JOBS=${JOBS:-$(nproc)}
DEFAULT_PKGS="acpi-call-dkms adv-17v35x-dkms apfs-dkms bbswitch-dkms ddcci-dkms digimend-dkms
	dm-writeboost-dkms evdi-dkms gost-crypto-dkms jool-dkms nat-rtsp-dkms openvpn-dco-dkms
	rapiddisk-dkms tp-smapi-dkms v4l2loopback-dkms vpoll-dkms xtables-addons-dkms"
PKGS=${PKGS:-$DEFAULT_PKGS}
export LC_ALL=C
SCRATCH=''
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cached_deb() {
	find "${CACHES[@]}" -maxdepth 1 -name "${1}_*.deb" -print 2>/dev/null | sort -V | tail -n 1
}

# new_root DIR: os-release, headers links for K1 and K2, the packages' sources, registered
new_root() {
	local r=$1 k p deb src
	mkdir -p "$r/etc" "$r/usr/src" "$r/tmp"
	cp /etc/os-release "$r/etc/os-release"
	for k in "$K1" "$K2"; do
		mkdir -p "$r/lib/modules/$k"
		ln -s "/usr/src/linux-headers-$k" "$r/lib/modules/$k/build"
	done
	for p in $PKGS; do
		deb=$(cached_deb "$p")
		[[ -n $deb ]] || die "no cached .deb of $p (run tests/deps.sh test)"
		dpkg-deb -x "$deb" "$r/x"
	done
	for src in "$r"/x/usr/src/*/; do
		[[ -f $src/dkms.conf ]] || continue
		"$REKMOD" --root "$r" add "${src%/}" >/dev/null 2>&1 || log "add ${src##*/} failed"
	done
	rm -rf "$r/x"
}

mods_of() { "$REKMOD" --root "$1" status | sed -n 's/^\([^/]*\)\/\([^,:]*\)[,:].*/\1\/\2/p' | sort -u; }

run_a() {
	local r=$1 args=() mv
	while read -r mv; do args+=(-m "$mv"); done < <(mods_of "$r")
	TMPDIR=$r/tmp "$REKMOD" --root "$r" -j "$JOBS" publish "${args[@]}" -k "$K1" -k "$K2" --repo "$r/repo" \
		>"$r/publish.log" 2>&1 || true
}

run_b() {
	local r=$1 k mv deb
	mkdir -p "$r/repo/conf" "$r/out"
	printf 'Codename: %s\nArchitectures: amd64\nComponents: main\n' "$CODENAME" >"$r/repo/conf/distributions"
	for k in "$K1" "$K2"; do
		while read -r mv; do
			TMPDIR=$r/tmp "$REKMOD" --root "$r" -j "$JOBS" build "$mv" -k "$k" >>"$r/b.log" 2>&1 || continue
			TMPDIR=$r/tmp "$REKMOD" --root "$r" mkdeb "$mv" -k "$k" --binaries-only --archive "$r/out" \
				>>"$r/b.log" 2>&1 || continue
			for deb in "$r"/out/*.deb; do
				reprepro -b "$r/repo" includedeb "$CODENAME" "$deb" >>"$r/b.log" 2>&1 || true
				rm -f "$deb"
			done
		done < <(mods_of "$r")
	done
}

timed() {
	local t0 t1
	t0=$(date +%s.%N)
	"$@"
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc
}

main() {
	command -v reprepro >/dev/null || die "reprepro is not installed (tests/deps.sh)"
	mapfile -t ks < <(find /usr/src -maxdepth 1 -name 'linux-headers-6.1.0-*-amd64' -printf '%f\n' |
		sed 's/^linux-headers-//' | sort -rV | head -n 2)
	((${#ks[@]} == 2)) || die "two /usr/src/linux-headers-6.1.0-*-amd64 trees are needed"
	K1=${ks[0]} K2=${ks[1]}
	CODENAME=$(. /etc/os-release && echo "${VERSION_CODENAME:-stable}")
	SCRATCH=$(mktemp -d /tmp/rekmod-bench-publish.XXXXXX)
	trap cleanup EXIT
	local stamp=$SCRATCH/stamp
	touch "$stamp"
	log "kernels $K1 $K2; packages: $(wc -w <<<"$PKGS"); -j $JOBS"
	new_root "$SCRATCH/a"
	new_root "$SCRATCH/b"
	log "modules registered: $(mods_of "$SCRATCH/a" | wc -l)"
	cat /usr/src/linux-headers-"$K1"/Makefile /usr/src/linux-headers-"$K2"/Makefile >/dev/null
	local tb ta na nb
	tb=$(timed run_b "$SCRATCH/b")
	ta=$(timed run_a "$SCRATCH/a")
	na=$(find "$SCRATCH/a/repo/pool" -name '*.deb' 2>/dev/null | wc -l)
	nb=$(find "$SCRATCH/b/repo/pool" -name '*.deb' 2>/dev/null | wc -l)
	printf 'build+mkdeb one kernel at a time: %.1f s, %d packages\n' "$tb" "$nb"
	printf 'publish (one plan):               %.1f s, %d packages\n' "$ta" "$na"
	printf 'ratio publish / one at a time:    %.2f\n' "$(echo "$ta / $tb" | bc -l)"
	grep '^publish:' "$SCRATCH/a/publish.log" | sed 's/^/# /' || true
	warn_if_real_trees_changed "$stamp"
}

main "$@"
