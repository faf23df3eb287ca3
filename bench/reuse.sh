#!/bin/bash
# Benchmark: "a kernel upgrade whose headers are equivalent" (reuse).
#
# The real Debian *-dkms packages of the sync benchmark (bench/sync.sh,
# PKGS below) are built by rekmod for K0 (6.1.0-56-amd64) in a template
# world (untimed). Then the new kernel K (6.1.0-57-amd64: the same upstream
# release, a new ABI name, equivalent headers) arrives with its full module
# tree (linux-image-K unpacked, one depmod), and three copies of the world
# each get, timed:
#   A  dkms autoinstall -k K          Debian's dkms 3.0.10: compiles everything
#   B  rekmod sync --kernel K -j N    reuse on (the default): copies K0's builds
#   C  rekmod sync --rebuild --kernel K -j N
#                                     reuse off: compiles everything (nothing is
#                                     built for K yet, so --rebuild only turns
#                                     reuse off)
# Goal reported: B wall / C wall <= 0.03.
#
# Isolation as in bench/sync.sh: every tool runs in a private mount
# namespace where the world is bind-mounted on $SCRATCH/w and its modules/ on
# /lib/modules (checked through a marker file); sign_file=/nonexistent/...
# so nothing is signed; the real /var/lib/dkms and /lib/modules are listed
# before and after and compared.
#
# Debs: looked up in build/test-cache/{debs,debs-all,e2e-debs} and
# build/bench-debs, downloaded into build/bench-debs with `apt-get download`
# when missing.
#
# Environment: REKMOD, DKMS, PKGS, JOBS (default nproc), KEEP=1.
# Exit status: 0 unless a setup step fails.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REKMOD=${REKMOD:-$REPO_ROOT/build/rekmod}
DKMS=${DKMS:-/usr/sbin/dkms}
DEB_DIRS=("$REPO_ROOT/build/test-cache/debs" "$REPO_ROOT/build/test-cache/debs-all"
	"$REPO_ROOT/build/test-cache/e2e-debs" "$REPO_ROOT/build/bench-debs")
NCPU=$(nproc)
JOBS=${JOBS:-$NCPU}
# bench/sync.sh's list
DEFAULT_PKGS="acpi-call-dkms adv-17v35x-dkms apfs-dkms bbswitch-dkms ddcci-dkms digimend-dkms
	dm-writeboost-dkms evdi-dkms gost-crypto-dkms jool-dkms nat-rtsp-dkms openvpn-dco-dkms
	rapiddisk-dkms tp-smapi-dkms v4l2loopback-dkms vpoll-dkms xtables-addons-dkms"
PKGS=${PKGS:-$DEFAULT_PKGS}
K0=${K0:-6.1.0-56-amd64}
K=${K:-6.1.0-57-amd64}
GOAL=0.03
MARKER=.rekmod-bench-reuse-scratch
export LC_ALL=C
SCRATCH=''
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
W=''
ARCH=$(uname -m)

cached_deb() {
	local pkg=$1 d deb=''
	for d in "${DEB_DIRS[@]}"; do
		deb=$(find "$d" -maxdepth 1 -name "${pkg}_*.deb" -print 2>/dev/null | sort -V | tail -n 1)
		[[ -n $deb ]] && break
	done
	if [[ -z $deb ]]; then
		mkdir -p "$REPO_ROOT/build/bench-debs"
		(cd "$REPO_ROOT/build/bench-debs" && apt-get download "$pkg") >&2 || return 1
		deb=$(find "$REPO_ROOT/build/bench-debs" -maxdepth 1 -name "${pkg}_*.deb" -print | sort -V | tail -n 1)
	fi
	[[ -n $deb ]] && printf '%s\n' "$deb"
}

NS=()
ns_prefix() {
	# shellcheck disable=SC2016  # expanded by the inner bash
	NS=(unshare -m --propagation private bash -c '
		set -e
		mount --bind "$1" "$2"
		mount --bind "$2/modules" /lib/modules
		[[ -e /lib/modules/'"$MARKER"' ]] || { echo "scratch /lib/modules not mounted" >&2; exit 99; }
		cd "$2"
		export TMPDIR="$2/tmp" sign_file=/nonexistent/sign-file \
			mok_signing_key="$2/keys/mok.key" mok_certificate="$2/keys/mok.pub"
		shift 2
		exec "$@"' in_world "$1" "$W")
}
in_world() {
	ns_prefix "$1"
	shift
	"${NS[@]}" "$@" </dev/null
}
timed_in_world() {
	local out=$1
	ns_prefix "$2"
	shift 2
	/usr/bin/time -f '%e %U %S' -o "$out" "${NS[@]}" "$@" </dev/null
}
real_trees_listing() {
	find /var/lib/dkms /lib/modules/ -printf '%p %y %s %T@ %l\n' 2>/dev/null | sort
}
# modules installed for K in world $1 (kernel-K-ARCH links)
n_installed() {
	find "$1/dkms" -mindepth 2 -maxdepth 2 -name "kernel-$K-$ARCH" | wc -l
}

# the template: packages registered, built for K0; K's module tree
make_template() {
	local T=$1 deb pkg d
	mkdir -p "$T/src" "$T/dkms" "$T/tmp" "$T/keys" "$T/modules/$K0"
	touch "$T/modules/$MARKER"
	ln -sfn "/usr/src/linux-headers-$K0" "$T/modules/$K0/build"
	deb=$(cached_deb "linux-image-$K") || die "cannot get linux-image-$K"
	log "unpacking ${deb##*/}"
	dpkg-deb -x "$deb" "$SCRATCH/img"
	local imgmods
	imgmods=$(find "$SCRATCH/img" -maxdepth 4 -type d -path "*/modules/$K" -print -quit)
	[[ -n $imgmods && -d $imgmods/kernel ]] || die "${deb##*/} has no modules/$K/kernel"
	mv "$imgmods" "$SCRATCH/K-modules"
	rm -rf "$SCRATCH/img"
	for pkg in $PKGS; do
		deb=$(cached_deb "$pkg") || { log "WARNING: $pkg: no .deb, dropped"; continue; }
		rm -rf "$SCRATCH/x"
		mkdir -p "$SCRATCH/x"
		dpkg-deb -x "$deb" "$SCRATCH/x"
		d=$(find "$SCRATCH/x/usr/src" -mindepth 2 -maxdepth 2 -name dkms.conf -printf '%h\n' 2>/dev/null | head -n 1)
		[[ -n $d ]] || { log "WARNING: $pkg: no dkms.conf, dropped"; continue; }
		in_world "$T" "$DKMS" --dkmstree "$W/dkms" --sourcetree "$W/src" add "$d" >"$SCRATCH/add-$pkg.log" 2>&1 ||
			log "WARNING: $pkg: dkms add failed, dropped"
	done
	rm -rf "$SCRATCH/x"
	log "building the packages for $K0 (untimed) ..."
	in_world "$T" "$REKMOD" --dkmstree "$W/dkms" --sourcetree "$W/src" sync --kernel "$K0" -j "$JOBS" \
		>"$SCRATCH/build-k0.log" 2>&1 || true
	grep -E 'installed \(built in|failed with exit|skipped' "$SCRATCH/build-k0.log" | sed 's/^/#   /' || true
	# the new kernel arrives: its image's modules, its headers, one depmod
	mv "$SCRATCH/K-modules" "$T/modules/$K"
	ln -sfn "/usr/src/linux-headers-$K" "$T/modules/$K/build"
	in_world "$T" depmod -a "$K" || die "depmod -a $K on the unpacked image failed"
}

main() {
	command -v "$DKMS" >/dev/null || die "reference dkms ($DKMS) is not installed"
	[[ -x /usr/bin/time ]] || die "/usr/bin/time is not installed (apt-get install time)"
	[[ $(id -u) == 0 ]] || die "needs root (mount namespaces, bind mounts)"
	REKMOD=$(abspath "$REKMOD")
	[[ -x $REKMOD ]] || die "tool under test $REKMOD is not executable (run make first)"
	[[ -d /usr/src/linux-headers-$K0/include && -d /usr/src/linux-headers-$K/include ]] ||
		die "headers of $K0 and $K are needed in /usr/src"
	local t_all=$SECONDS
	SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/rekmod-bench-reuse.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	W=$SCRATCH/w
	mkdir -p "$W"
	real_trees_listing >"$SCRATCH/real-before"
	cp "$REKMOD" "$SCRATCH/rekmod"
	REKMOD=$SCRATCH/rekmod
	log "kernels: $K0 -> $K ($ARCH), $NCPU cores, -j $JOBS; scratch: $SCRATCH"
	make_template "$SCRATCH/T"
	local X n_built
	n_built=$(find "$SCRATCH/T/dkms" -mindepth 2 -maxdepth 2 -name "kernel-$K0-$ARCH" | wc -l)
	log "$n_built packages built for $K0"
	for X in A B C; do
		mkdir -p "$SCRATCH/$X"
		tar -C "$SCRATCH/T" --exclude="./modules/$K/kernel" -cf - . | tar -C "$SCRATCH/$X" -xf -
		cp -al "$SCRATCH/T/modules/$K/kernel" "$SCRATCH/$X/modules/$K/kernel"
	done
	find "/usr/src/linux-headers-$K/" "/usr/src/linux-headers-${K%-amd64}-common/" -type f -print0 2>/dev/null |
		xargs -0 cat >/dev/null 2>&1 || true
	log "setup done in $((SECONDS - t_all))s"

	local rc_a=0 rc_b=0 rc_c=0
	log "A: dkms autoinstall -k $K ..."
	timed_in_world "$SCRATCH/time-A" "$SCRATCH/A" "$DKMS" --dkmstree "$W/dkms" --sourcetree "$W/src" -j "$JOBS" \
		autoinstall -k "$K" >"$SCRATCH/A.log" 2>&1 || rc_a=$?
	log "B: rekmod sync --kernel $K (reuse) ..."
	timed_in_world "$SCRATCH/time-B" "$SCRATCH/B" "$REKMOD" --dkmstree "$W/dkms" --sourcetree "$W/src" \
		sync --kernel "$K" -j "$JOBS" >"$SCRATCH/B.log" 2>&1 || rc_b=$?
	log "C: rekmod sync --rebuild --kernel $K (compile) ..."
	timed_in_world "$SCRATCH/time-C" "$SCRATCH/C" "$REKMOD" --dkmstree "$W/dkms" --sourcetree "$W/src" \
		sync --rebuild --kernel "$K" -j "$JOBS" >"$SCRATCH/C.log" 2>&1 || rc_c=$?
	local wa ua sa wb ub sb wc uc sc
	read -r wa ua sa < <(tail -n 1 "$SCRATCH/time-A")
	read -r wb ub sb < <(tail -n 1 "$SCRATCH/time-B")
	read -r wc uc sc < <(tail -n 1 "$SCRATCH/time-C")
	log "B (reuse):"
	grep -E 'installed \(|failed with exit|skipped' "$SCRATCH/B.log" | sed 's/^/#   /' || true
	local reused weak leaked=no
	reused=$(grep -c 'installed (reused the build for' "$SCRATCH/B.log" || true)
	weak=$(in_world "$SCRATCH/B" "$REKMOD" --dkmstree "$W/dkms" --sourcetree "$W/src" status -k "$K" |
		grep -c "installed-weak from $K0" || true)
	real_trees_listing >"$SCRATCH/real-after"
	cmp -s "$SCRATCH/real-before" "$SCRATCH/real-after" || leaked=yes
	echo
	echo "== reuse benchmark: $n_built packages built for $K0, then the kernel $K, $NCPU cores, -j $JOBS =="
	awk -v wa="$wa" -v ua="$ua" -v sa="$sa" -v wb="$wb" -v ub="$ub" -v sb="$sb" -v wc="$wc" -v uc="$uc" \
		-v sc="$sc" -v na="$(n_installed "$SCRATCH/A")" -v nb="$(n_installed "$SCRATCH/B")" \
		-v nc="$(n_installed "$SCRATCH/C")" -v rca="$rc_a" -v rcb="$rc_b" -v rcc="$rc_c" -v reused="$reused" \
		-v weak="$weak" -v leaked="$leaked" -v goal="$GOAL" 'BEGIN {
		printf "installed for K:    dkms %d (exit %d), rekmod reuse %d (exit %d; %d reused, %d installed-weak), rekmod compile %d (exit %d)\n", na, rca, nb, rcb, reused, weak, nc, rcc
		printf "A dkms autoinstall: %8.2f s wall  (%.2f s user+sys)\n", wa, ua + sa
		printf "B rekmod, reuse:    %8.2f s wall  (%.2f s user+sys)\n", wb, ub + sb
		printf "C rekmod, compile:  %8.2f s wall  (%.2f s user+sys)\n", wc, uc + sc
		r = wb / wc
		printf "ratio B/C:          %8.4f   goal <= %.2f: %s\n", r, goal, (r <= goal ? "met" : "not met")
		printf "ratio B/A:          %8.4f\n", wb / wa
		printf "real /var/lib/dkms, /lib/modules changed: %s\n", leaked
	}'
	log "total script time $((SECONDS - t_all))s"
}

main "$@"
exit 0
