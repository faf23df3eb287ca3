#!/bin/bash
# Benchmark: "autoinstall for one new kernel".
#
# `rekmod sync --kernel K -j 2` against Debian's `dkms autoinstall -k K`, on
# two copies of the same pre-registered tree, for a set of real Debian
# *-dkms packages (PKGS below), on a real kernel module tree.
#
# Goals reported:
#   rekmod wall / dkms wall          <= 0.65
#   rekmod wall / limit              <= 1.15
# where limit = build CPU time / cores + one depmod's wall time: what a
# perfect scheduler would need (every core busy compiling, then one depmod).
#
# Setup (untimed):
#   * K = the newest /usr/src/linux-headers-6.1.0-*-amd64.
#   * linux-image-K and the *-dkms packages are taken from
#     build/test-cache/debs (fetched there with `apt-get download` when
#     missing) and unpacked with dpkg-deb -x into the scratch directory:
#     never installed on the host.
#   * A template world T: modules/K holds the unpacked linux-image-K module
#     tree, a build -> /usr/src/linux-headers-K symlink and the output of
#     one depmod; src/ holds the packages' /usr/src/<m>-<v> trees; all
#     modules are registered with `dkms add` into dkms/.
#   * T is copied to A (for dkms) and B (for rekmod); kernel/ (the image's
#     own modules, read by depmod only) is hard-linked, the rest copied.
#
# Isolation.  Debian's dkms 3.0.10 runs `depmod -a K` on /lib/modules and
# reads headers from /lib/modules/K/build, and that depmod is part of the
# work measured, so every tool run happens in a private mount namespace
# (unshare -m, propagation private) where the world is bind-mounted on the
# fixed path $SCRATCH/w and $SCRATCH/w/modules on /lib/modules: both tools
# see the same paths, and both run a real depmod over a real module tree
# without the host's /lib/modules being touched.  The namespace checks a
# marker file before running anything.  Both tools also get
# --dkmstree/--sourcetree into the world, TMPDIR in the world,
# sign_file=/nonexistent/sign-file and scratch mok_signing_key/
# mok_certificate (so dkms never creates /var/lib/dkms/mok.key).  At the end
# the script compares a listing of the real /var/lib/dkms and /lib/modules
# taken before and after the run.
#
# Measured: the wall time of each run (one cold run each, dkms first, with
# the header tree read once beforehand so neither run pays for a cold page
# cache), rekmod's user+sys (via /usr/bin/time, which counts every waited-for
# descendant: the makes and compilers), and the wall and CPU time of one
# `depmod -a K` over B's final tree (median of 3).  build CPU = rekmod's
# user+sys minus one depmod's user+sys.
#
# Checked (reported, not fatal): per module, installed by dkms / by rekmod;
# the list of .ko files outside kernel/ in each final tree; whether each
# tree's modules.dep lists them (depmod ran).
#
# Packages.  The default list is every Debian 12 (main) *-dkms package that
# Debian's dkms 3.0.10 autoinstalls on 6.1.0-56-amd64, except dahdi-dkms.
# Screened with this script (PKGS=<all 23 candidates>, 2026-11-26):
#   dropped, dkms fails to build them on 6.1:
#     iptables-netflow-dkms  its configure wants the iptables headers
#                            ("Can not find iptables version")
#     librem-ec-acpi-dkms    compile error (-Werror, battery hook signature)
#     openrazer-driver-dkms  compile error (hid_report_raw_event arguments)
#     west-chamber-dkms      MAKE hard-codes /usr/src/west-chamber-.../extensions
#   dropped, not autoinstalled: lime-forensics-dkms (no AUTOINSTALL="yes")
#   dropped, too slow for the time box: dahdi-dkms (builds but takes ~170 s
#     of the ~430 s dkms run; add it with PKGS=... to see a long critical path)
#   not in this machine's apt sources (contrib/non-free or not in Debian 12):
#     r8168-dkms, broadcom-sta-dkms, gasket-dkms, xone, sysdig-dkms
#   not tried (known to be slow builds): lttng-modules-dkms,
#     openafs-modules-dkms; also not tried: falcosecurity-scap-dkms,
#     dpdk-kmods-dkms, rtpengine-kernel-dkms, xtrx-dkms, langford-dkms.
#
# Environment:
#   REKMOD  tool under test (default: build/rekmod in the repo root)
#   DKMS    reference tool (default: /usr/sbin/dkms)
#   PKGS    space-separated *-dkms packages (default: the list below)
#   JOBS    -j for rekmod, and parallel_jobs for dkms (default: nproc)
#   KEEP=1  keep the scratch directory (its path is printed)
#
# Exit status: 0 unless a setup step fails.  Goals missed, build failures
# and differences between the two trees are reported, not errors.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REKMOD=${REKMOD:-$REPO_ROOT/build/rekmod}
DKMS=${DKMS:-/usr/sbin/dkms}
DEB_CACHE="$REPO_ROOT/build/test-cache/debs"
NCPU=$(nproc)
JOBS=${JOBS:-$NCPU}
DEFAULT_PKGS="acpi-call-dkms adv-17v35x-dkms apfs-dkms bbswitch-dkms ddcci-dkms digimend-dkms
	dm-writeboost-dkms evdi-dkms gost-crypto-dkms jool-dkms nat-rtsp-dkms openvpn-dco-dkms
	rapiddisk-dkms tp-smapi-dkms v4l2loopback-dkms vpoll-dkms xtables-addons-dkms"
PKGS=${PKGS:-$DEFAULT_PKGS}
GOAL_RATIO=0.65
GOAL_LIMIT=1.15
MARKER=.rekmod-bench-sync-scratch

export LC_ALL=C

SCRATCH=''
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
W=''
K=''
ARCH=$(uname -m)

# The newest kernel with headers.
find_kernel() {
	local d
	for d in /usr/src/linux-headers-6.1.0-*-amd64; do
		[[ -d $d/include ]] || continue
		printf '%s\n' "${d#/usr/src/linux-headers-}"
	done | sort -V -r | head -n 1
}

# Prints the cached .deb of package $1, downloading it first if needed.
cached_deb() {
	local pkg=$1 deb
	deb=$(find "$DEB_CACHE" -maxdepth 1 -name "${pkg}_*.deb" -print 2>/dev/null | sort -V | tail -n 1)
	if [[ -z $deb ]]; then
		mkdir -p "$DEB_CACHE"
		(cd "$DEB_CACHE" && apt-get download "$pkg") >&2 || return 1
		deb=$(find "$DEB_CACHE" -maxdepth 1 -name "${pkg}_*.deb" -print | sort -V | tail -n 1)
	fi
	[[ -n $deb ]] || return 1
	printf '%s\n' "$deb"
}

# The namespace wrapper: sets NS to the argv prefix that runs a command in a
# private mount namespace where world $1 is mounted on $W and $W/modules on
# /lib/modules, with the safety environment.  The wrapper refuses to run the
# command unless /lib/modules then shows the scratch marker.
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
# in_world DIR CMD...
in_world() {
	ns_prefix "$1"
	shift
	"${NS[@]}" "$@" </dev/null
}
# timed_in_world OUT DIR CMD...: same, `wall user sys` written to OUT.
timed_in_world() {
	local out=$1
	ns_prefix "$2"
	shift 2
	/usr/bin/time -f '%e %U %S' -o "$out" "${NS[@]}" "$@" </dev/null
}

# Listing of the real trees, to check that nothing changed.
real_trees_listing() {
	find /var/lib/dkms /lib/modules/ -printf '%p %y %s %T@ %l\n' 2>/dev/null | sort
}

# .ko files outside the image's kernel/ in world $1.
ko_list() {
	(cd "$1/modules/$K" && find . -path ./kernel -prune -o -name '*.ko*' -printf '%P\n') | sort
}

# Modules registered in world $1 (m/v), from its dkms tree.
registered() {
	(cd "$1/dkms" && find . -mindepth 3 -maxdepth 3 -name source -printf '%h\n') | sed 's|^\./||' | sort
}

main() {
	command -v "$DKMS" >/dev/null || die "reference dkms ($DKMS) is not installed"
	[[ -x /usr/bin/time ]] || die "/usr/bin/time is not installed (apt-get install time)"
	command -v unshare >/dev/null || die "unshare (util-linux) is not installed"
	[[ $(id -u) == 0 ]] || die "needs root (mount namespaces, bind mounts)"
	REKMOD=$(abspath "$REKMOD")
	DKMS=$(abspath "$(command -v "$DKMS")")
	[[ -x $REKMOD ]] || die "tool under test $REKMOD is not executable (run make first)"
	K=$(find_kernel)
	[[ -n $K ]] || die "no /usr/src/linux-headers-6.1.0-*-amd64 headers found"

	local t_all=$SECONDS
	SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/rekmod-bench-sync.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	W=$SCRATCH/w
	mkdir -p "$W"
	real_trees_listing >"$SCRATCH/real-before"
	touch "$SCRATCH/start-stamp"
	cp "$REKMOD" "$SCRATCH/rekmod"
	log "under test: $REKMOD (copied to $SCRATCH/rekmod)"
	REKMOD="$SCRATCH/rekmod"
	log "reference: $DKMS ($("$DKMS" --version 2>/dev/null || echo '?'))"
	log "kernel: $K ($ARCH), $NCPU cores, -j $JOBS; scratch: $SCRATCH"

	# --- template world ---
	local T=$SCRATCH/T deb
	mkdir -p "$T/src" "$T/dkms" "$T/tmp" "$T/keys" "$T/modules"
	touch "$T/modules/$MARKER"
	deb=$(cached_deb "linux-image-$K") || die "cannot get linux-image-$K"
	log "unpacking ${deb##*/}"
	dpkg-deb -x "$deb" "$SCRATCH/img"
	local imgmods
	imgmods=$(find "$SCRATCH/img" -maxdepth 4 -type d -path "*/modules/$K" -print -quit)
	[[ -n $imgmods && -d $imgmods/kernel ]] || die "${deb##*/} has no modules/$K/kernel"
	mv "$imgmods" "$T/modules/$K"
	rm -rf "$SCRATCH/img"
	ln -sfn "/usr/src/linux-headers-$K" "$T/modules/$K/build"
	local common=/usr/src/linux-headers-${K%-amd64}-common
	[[ -d $common ]] && ln -sfn "$common" "$T/modules/$K/source"

	local pkg d m v registered_ok=() dropped=()
	for pkg in $PKGS; do
		if ! deb=$(cached_deb "$pkg"); then
			log "WARNING: $pkg: no .deb (apt-get download failed), dropped"
			dropped+=("$pkg")
			continue
		fi
		rm -rf "$SCRATCH/x"
		mkdir -p "$SCRATCH/x"
		dpkg-deb -x "$deb" "$SCRATCH/x"
		d=$(find "$SCRATCH/x/usr/src" -mindepth 2 -maxdepth 2 -name dkms.conf -printf '%h\n' 2>/dev/null | head -n 1)
		if [[ -z $d ]]; then
			log "WARNING: $pkg: no /usr/src/<m>-<v>/dkms.conf, dropped"
			dropped+=("$pkg")
			continue
		fi
		# `dkms add DIR` copies DIR to the source tree under the name its
		# dkms.conf gives (PACKAGE_NAME-PACKAGE_VERSION).
		mkdir -p "$SCRATCH/x-reg"
		find "$T/dkms" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort >"$SCRATCH/x-reg/before"
		if in_world "$T" "$DKMS" --dkmstree "$W/dkms" --sourcetree "$W/src" \
			add "$d" >"$SCRATCH/add-$pkg.log" 2>&1; then
			m=$(find "$T/dkms" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort |
				comm -13 "$SCRATCH/x-reg/before" - | head -n 1)
			v=$(find "$T/dkms/$m" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | head -n 1)
			registered_ok+=("$pkg=$m/$v")
		else
			log "WARNING: $pkg: dkms add ${d#"$SCRATCH"/x} failed, dropped:"
			sed 's/^/#   /' "$SCRATCH/add-$pkg.log" | tail -n 5
			dropped+=("$pkg")
		fi
	done
	rm -rf "$SCRATCH/x"
	((${#registered_ok[@]} > 0)) || die "no package could be registered"
	log "registered ${#registered_ok[@]} packages: ${registered_ok[*]}"

	# One depmod on the image, as after installing linux-image-K.
	in_world "$T" depmod -a "$K" || die "depmod -a $K on the unpacked image failed"
	[[ -s $T/modules/$K/modules.dep ]] || die "depmod produced no modules.dep"

	# The two copies: kernel/ hard-linked (nobody writes it), the rest copied.
	local X
	for X in A B; do
		mkdir -p "$SCRATCH/$X"
		tar -C "$T" --exclude="./modules/$K/kernel" -cf - . | tar -C "$SCRATCH/$X" -xf -
		cp -al "$T/modules/$K/kernel" "$SCRATCH/$X/modules/$K/kernel"
	done
	# The header tree into the page cache, so that neither run pays for it.
	find "/usr/src/linux-headers-$K/" "$common/" -type f -print0 2>/dev/null |
		xargs -0 cat >/dev/null 2>&1 || true
	cat "$T/modules/$K/modules".* >/dev/null 2>&1 || true
	log "setup done in $((SECONDS - t_all))s"

	# --- timed runs ---
	local rc_a=0 rc_b=0
	log "dkms autoinstall -k $K (parallel_jobs=$JOBS) ..."
	timed_in_world "$SCRATCH/time-dkms" "$SCRATCH/A" "$DKMS" --dkmstree "$W/dkms" --sourcetree "$W/src" -j "$JOBS" \
		autoinstall -k "$K" >"$SCRATCH/dkms.log" 2>&1 || rc_a=$?
	log "rekmod sync --kernel $K -j $JOBS ..."
	timed_in_world "$SCRATCH/time-rekmod" "$SCRATCH/B" "$REKMOD" --dkmstree "$W/dkms" --sourcetree "$W/src" \
		sync --kernel "$K" -j "$JOBS" >"$SCRATCH/rekmod.log" 2>&1 || rc_b=$?
	local wall_a usr_a sys_a wall_b usr_b sys_b
	read -r wall_a usr_a sys_a < <(tail -n 1 "$SCRATCH/time-dkms")
	read -r wall_b usr_b sys_b < <(tail -n 1 "$SCRATCH/time-rekmod")

	# One depmod over the final tree: median of 3 (wall, user+sys).
	local i depmod_wall depmod_cpu
	for i in 1 2 3; do
		timed_in_world "$SCRATCH/time-depmod-$i" "$SCRATCH/B" depmod -a "$K"
		tail -n 1 "$SCRATCH/time-depmod-$i"
	done | sort -n -k1,1 | sed -n 2p >"$SCRATCH/time-depmod"
	read -r depmod_wall depmod_cpu < <(awk '{ print $1, $2 + $3 }' "$SCRATCH/time-depmod")

	# --- results ---
	log "dkms exit $rc_a, rekmod exit $rc_b"
	if ((rc_a != 0)); then
		log "dkms log (errors):"
		grep -iE 'error|fail|bad exit' "$SCRATCH/dkms.log" | head -n 20 | sed 's/^/#   /' || true
	fi
	if ((rc_b != 0)); then
		log "rekmod log (errors):"
		grep -iE 'error|fail' "$SCRATCH/rekmod.log" | head -n 20 | sed 's/^/#   /' || true
	fi
	log "rekmod per-build times:"
	grep -E 'installed \(built in|failed with exit|skipped' "$SCRATCH/rekmod.log" | sed 's/^/#   /' || true

	# Per module: installed (kernel-K-ARCH symlink) in A and B.
	local mv in_a in_b n_mod=0 n_a=0 n_b=0 mismatch=0
	printf '# %-28s %-8s %-8s\n' "module/version" dkms rekmod
	while IFS= read -r mv; do
		m=${mv%%/*}
		n_mod=$((n_mod + 1))
		in_a=no
		in_b=no
		[[ -L $SCRATCH/A/dkms/$m/kernel-$K-$ARCH ]] && in_a=yes && n_a=$((n_a + 1))
		[[ -L $SCRATCH/B/dkms/$m/kernel-$K-$ARCH ]] && in_b=yes && n_b=$((n_b + 1))
		[[ $in_a == "$in_b" ]] || mismatch=$((mismatch + 1))
		printf '# %-28s %-8s %-8s\n' "$mv" "$in_a" "$in_b"
	done < <(registered "$SCRATCH/T")

	ko_list "$SCRATCH/A" >"$SCRATCH/ko-dkms"
	ko_list "$SCRATCH/B" >"$SCRATCH/ko-rekmod"
	local ko_same=yes
	if ! cmp -s "$SCRATCH/ko-dkms" "$SCRATCH/ko-rekmod"; then
		ko_same=no
		log "WARNING: the installed .ko files differ:"
		diff -u --label "dkms" --label "rekmod" "$SCRATCH/ko-dkms" "$SCRATCH/ko-rekmod" |
			sed 's/^/#   /' || true
	fi
	# Did depmod see them?  modules.dep keys are paths relative to modules/K.
	local X depok=()
	for X in A B; do
		local listed=0 total=0 ko
		while IFS= read -r ko; do
			total=$((total + 1))
			grep -q "^$ko:" "$SCRATCH/$X/modules/$K/modules.dep" && listed=$((listed + 1))
		done <"$SCRATCH/ko-$([[ $X == A ]] && echo dkms || echo rekmod)"
		depok+=("$listed/$total")
	done

	local leaked=''
	real_trees_listing >"$SCRATCH/real-after"
	if ! cmp -s "$SCRATCH/real-before" "$SCRATCH/real-after"; then
		leaked=yes
		log "WARNING: the real /var/lib/dkms or /lib/modules changed during the run:"
		diff "$SCRATCH/real-before" "$SCRATCH/real-after" | sed 's/^/#   /' | head -n 20 || true
	fi

	echo
	echo "== sync benchmark: autoinstall of $n_mod modules for one new kernel ($K), $NCPU cores, -j $JOBS =="
	awk -v wa="$wall_a" -v ua="$usr_a" -v sa="$sys_a" -v wb="$wall_b" -v ub="$usr_b" -v sb="$sys_b" \
		-v dw="$depmod_wall" -v dc="$depmod_cpu" -v ncpu="$NCPU" -v rca="$rc_a" -v rcb="$rc_b" \
		-v na="$n_a" -v nb="$n_b" -v nm="$n_mod" -v mism="$mismatch" -v kosame="$ko_same" \
		-v koa="$(wc -l <"$SCRATCH/ko-dkms")" -v kob="$(wc -l <"$SCRATCH/ko-rekmod")" \
		-v depa="${depok[0]}" -v depb="${depok[1]}" -v leaked="${leaked:-no}" \
		-v gr="$GOAL_RATIO" -v gl="$GOAL_LIMIT" 'BEGIN {
		printf "modules installed:  dkms %d/%d (exit %d), rekmod %d/%d (exit %d), per-module mismatches: %d\n", na, nm, rca, nb, nm, rcb, mism
		printf ".ko files:          dkms %d, rekmod %d, same list: %s; in modules.dep: dkms %s, rekmod %s\n", koa, kob, kosame, depa, depb
		printf "dkms autoinstall:   %8.2f s wall  (%.2f s user+sys)\n", wa, ua + sa
		printf "rekmod sync:        %8.2f s wall  (%.2f s user+sys)\n", wb, ub + sb
		printf "one depmod:         %8.2f s wall  (%.2f s user+sys, median of 3)\n", dw, dc
		build = ub + sb - dc; if (build < 0) build = 0
		limit = build / ncpu + dw
		printf "build CPU:          %8.2f s (rekmod user+sys - one depmod)\n", build
		printf "limit:              %8.2f s = %.2f s / %d cores + %.2f s depmod\n", limit, build, ncpu, dw
		r = wb / wa; l = limit / wa; rl = wb / limit
		printf "ratio rekmod/dkms:  %8.3f   goal <= %.2f: %s\n", r, gr, (r <= gr ? "met" : "not met")
		printf "ratio limit/dkms:   %8.3f\n", l
		printf "ratio rekmod/limit: %8.3f   goal <= %.2f: %s\n", rl, gl, (rl <= gl ? "met" : "not met")
		printf "real /var/lib/dkms, /lib/modules changed: %s\n", leaked
		if (na != nb || mism || kosame != "yes")
			printf "WARNING: the two tools did not do the same work: the ratios compare unequal work\n"
	}'
	log "total script time $((SECONDS - t_all))s"
}

main "$@"
exit 0
