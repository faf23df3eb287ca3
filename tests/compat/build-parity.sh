#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build parity with Debian's dkms for the heavy packages of the archive:
# zfs-dkms (contrib; a multi-line PRE_BUILD `configure` with $(...) pieces)
# and nvidia-kernel-dkms (non-free), from the .debs tests/deps.sh caches in
# build/test-cache/debs-all (unpacked with dpkg-deb -x, never installed).
#
# For each package and kernel, a fresh world (tests/compat/archive-lib.sh:
# private mount namespace, --no-depmod, nothing of the host written) where
# /usr/sbin/dkms runs add, build -k K, install -k K (not after a failed
# build, which install would only repeat), status; then a new
# fresh world at the same path where rekmod runs the same steps.  Compared:
# each step's exit code, the status lines (world path and kernel
# normalized), the installed module files, and that every installed
# module's vermagic names K.
#
# Compile cache: when ccache is installed, both sides compile through it
# (/usr/lib/ccache first in PATH; the cache is the run's own, in the scratch
# directory, which is also both sides' HOME).  dkms's side runs first and
# fills it; a compile of rekmod's side is then taken from it only when it is
# the same compiler command on the same inputs (the same path: hence one
# world path for both), which is what the test asserts; any difference
# compiles anew.  That makes rekmod's side of zfs cost a fraction of
# dkms's, so the whole fits in CI's budget; the "from the cache" count of
# each line says how much.  The two tools' times are not comparable here:
# bench/dkms-archive.sh measures them, with no cache.  PARITY_CCACHE=0
# compiles everything.
#
# Kernels: the newest 6.1.0-*-amd64 and the newest 6.12.*-amd64
# (PARITY_KERNELS="61 612", the default; "61" or "612" for one of them).
# Environment: REKMOD, DKMS, ONLY (package names), KEEP=1, TIMEOUT (s/step),
# PARITY_CCACHE.  Output: ok/not ok lines and "N passed, M failed"; exit 0, 1,
# 77 (SKIP).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/compat/archive-lib.sh
. "$REPO_ROOT/tests/compat/archive-lib.sh"
REKMOD=${REKMOD:-$REPO_ROOT/build/rekmod}
DKMS=${DKMS:-/usr/sbin/dkms}
TIMEOUT=${TIMEOUT:-1800}
PACKAGES=${ONLY:-zfs-dkms nvidia-kernel-dkms}
export LC_ALL=C

PASSED=0
FAILED=0
CHECK_NO=0
SCRATCH=''

# the kernels of PARITY_KERNELS
parity_kernels() {
	local want=" ${PARITY_KERNELS:-61 612} " k
	while read -r k; do
		case $k in
		6.1.*) [[ $want == *" 61 "* ]] && printf '%s\n' "$k" ;;
		6.12.*) [[ $want == *" 612 "* ]] && printf '%s\n' "$k" ;;
		esac
	done < <(test_kernels)
	return 0
}

# compare_files WHAT A B
compare_files() {
	if cmp -s "$2" "$3"; then
		report 0 "$1 ($(wc -l <"$2") lines)"
	else
		report 1 "$1"
		diff -u --label dkms --label rekmod "$2" "$3" | sed 's/^/    /' || true
	fi
}

# recorded_difference PKG K STEP RC_DKMS RC_REKMOD REKMOD_ERR: the
# differences the README's "Differences" section lists.  zfs-dkms 2.1.11 on
# 6.12: its PRE_BUILD `configure` fails (kernels up to 6.2); rekmod stops
# there with the script's exit code 1, as dkms 3.x does; dkms 3.0.10 ignores
# the failure, runs `make` without a Makefile and exits 10.
recorded_difference() {
	case "$1 $2 $3 $4 $5" in
	"zfs-dkms 6.12."*" build 10 1")
		grep -q 'pre_build script.*bad exit status: 1' "$6" ;;
	*) return 1 ;;
	esac
}

# ccache_counts: "hits misses" of the run's compile cache since its last
# zeroing (nothing when there is no cache)
ccache_counts() {
	[[ -n ${CCACHE_DIR:-} ]] || return 0
	ccache --print-stats 2>/dev/null | awk -F'\t' '
		$1 == "direct_cache_hit" || $1 == "preprocessed_cache_hit" { h += $2 }
		$1 == "cache_miss" { m += $2 }
		END { printf "%d %d\n", h, m }'
}

# one_tool X W TOOL DIR M V K: tool X's side (A = dkms, B = rekmod) in a
# fresh world W: add, build -k K, install -k K, status; writes X.<step>.*
# beside W (see run_in_world), X.status.norm, X.modules, X.seconds and
# X.cache ("hits misses"), then removes W
one_tool() {
	local x=$1 w=$2 tool=$3 dir=$4 m=$5 v=$6 k=$7 o
	o="$(dirname "$w")/$x"
	make_world "$w" "$k"
	cp -a "$dir" "$w/src/"
	[[ -z ${CCACHE_DIR:-} ]] || ccache --zero-stats >/dev/null
	run_in_world "$w" "$o.add" "$TIMEOUT" "$tool" add -m "$m" -v "$v"
	run_in_world "$w" "$o.build" "$TIMEOUT" "$tool" build -m "$m" -v "$v" -k "$k"
	if [[ $(<"$o.build.rc") == 0 ]]; then
		run_in_world "$w" "$o.install" "$TIMEOUT" "$tool" install -m "$m" -v "$v" -k "$k"
	else # install would only run the failed build again (zfs's configure: minutes)
		echo 'not run' >"$o.install.rc"
		echo 0 >"$o.install.time"
		: >"$o.install.out"
		: >"$o.install.err"
	fi
	run_in_world "$w" "$o.status" "$TIMEOUT" "$tool" status
	ccache_counts >"$o.cache"
	cat "$o".{add,build,install}.time | awk '{ s += $1 } END { printf "%.0f\n", s }' >"$o.seconds"
	sed -e "s|$w|W|g" -e "s|$k|K|g" "$o.status.out" >"$o.status.norm"
	installed_modules "$w" "$k" >"$o.modules"
	rm -rf --one-file-system "$w"
}

# "N of M compiles from the cache" of side X, or nothing
cache_note() {
	local h m
	read -r h m <"$1" 2>/dev/null || return 0
	printf ', %s of %s compiles from the cache' "$h" $((h + m))
}

one() { # one PKG DIR M V K
	local p=$1 dir=$2 m=$3 v=$4 k=$5 base="$SCRATCH/$1/$5" s ra rb
	mkdir -p "$base"
	# one after the other, in one world path (see "Compile cache" above);
	# side by side saved nothing measurable: the builds are CPU-bound
	one_tool A "$base/W" "$DKMS" "$dir" "$m" "$v" "$k"
	one_tool B "$base/W" "$REKMOD" "$dir" "$m" "$v" "$k"
	printf '# %s %s on %s: dkms %ss%s; rekmod %ss%s\n' "$m" "$v" "$k" \
		"$(cat "$base/A.seconds" 2>/dev/null)" "$(cache_note "$base/A.cache")" \
		"$(cat "$base/B.seconds" 2>/dev/null)" "$(cache_note "$base/B.cache")"
	for s in add build install status; do
		ra=$(cat "$base/A.$s.rc" 2>/dev/null || echo missing)
		rb=$(cat "$base/B.$s.rc" 2>/dev/null || echo missing)
		if [[ $ra == 124 || $rb == 124 ]]; then # timeout(1): no outcome to compare
			report 1 "$p $k: $s finished within TIMEOUT=${TIMEOUT}s (dkms exit $ra, rekmod exit $rb)"
		elif [[ $s == install && $ra == "not run" && $rb == "not run" ]]; then
			report 0 "$p $k: install not run: the build failed on both sides, and install would repeat it"
		elif [[ $ra == "$rb" && $ra != missing ]]; then
			report 0 "$p $k: $s exit code $ra"
		elif recorded_difference "$p" "$k" "$s" "$ra" "$rb" "$base/B.$s.err"; then
			report 0 "$p $k: $s exit code dkms=$ra rekmod=$rb, as recorded (README, Differences)"
		else
			report 1 "$p $k: $s exit code dkms=$ra rekmod=$rb"
			tail -n 5 "$base/A.$s.err" 2>/dev/null | sed 's/^/    dkms: /'
			tail -n 5 "$base/B.$s.err" 2>/dev/null | sed 's/^/    rekmod: /'
		fi
	done
	ra=$(cat "$base/A.install.rc" 2>/dev/null || echo missing)
	[[ $ra != "not run" ]] || ra="build: $(cat "$base/A.build.rc")"
	[[ $ra == 0 ]] || printf '# note: dkms does not install %s on %s (exit %s)\n' "$p" "$k" "$ra"
	touch "$base/A.status.norm" "$base/B.status.norm" "$base/A.modules" "$base/B.modules"
	compare_files "$p $k: status" "$base/A.status.norm" "$base/B.status.norm"
	compare_files "$p $k: installed modules and vermagic" "$base/A.modules" "$base/B.modules"
	if grep -v " vermagic=$k " "$base/B.modules" | grep -q .; then
		report 1 "$p $k: every module rekmod installed names $k in its vermagic"
		grep -v " vermagic=$k " "$base/B.modules" | sed 's/^/    /'
	elif [[ -s $base/B.modules ]]; then
		report 0 "$p $k: every module rekmod installed names $k in its vermagic ($(wc -l <"$base/B.modules") modules)"
	fi
}

main() {
	command -v "$DKMS" >/dev/null || { echo "SKIP: $DKMS not installed"; exit 77; }
	[[ -x $REKMOD ]] || { echo "Bail out! $REKMOD is not executable (run make)"; echo "0 passed, 1 failed"; exit 1; }
	REKMOD=$(cd "$(dirname "$REKMOD")" && pwd)/${REKMOD##*/}
	unshare --mount --propagation private true 2>/dev/null || { echo "SKIP: unshare --mount does not work here"; exit 77; }
	mapfile -t kernels < <(parity_kernels)
	((${#kernels[@]})) || { echo "SKIP: no kernel headers for PARITY_KERNELS=${PARITY_KERNELS:-61 612}"; exit 77; }
	SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/rekmod-build-parity.XXXXXX")
	trap cleanup EXIT
	if [[ ${PARITY_CCACHE:-1} != 0 && -d /usr/lib/ccache ]] && command -v ccache >/dev/null; then
		# rekmod passes MAKE no CCACHE_DIR (its build environment keeps
		# PATH and HOME, not the caller's other variables): both sides get
		# a HOME of the run's own, whose default cache directory it is
		export HOME="$SCRATCH/home" PATH="/usr/lib/ccache:$PATH"
		export CCACHE_DIR="$HOME/.cache/ccache"
		mkdir -p "$CCACHE_DIR"
		echo "# compile cache: $CCACHE_DIR (dkms's side fills it, rekmod's side reads it)"
	else
		unset CCACHE_DIR
		echo "# compile cache: none (PARITY_CCACHE=0 or no ccache)"
	fi
	local stamp="$SCRATCH/stamp" t0=$SECONDS p d deb line dir m v k
	touch "$stamp"
	for p in $PACKAGES; do
		deb=''
		while read -r d; do
			if [[ $(deb_name "$d") == "$p" ]]; then deb=$d; fi
		done < <(archive_debs || true)
		line=''
		[[ -n $deb ]] && line=$(extract_pkg "$deb" "$SCRATCH/pkg/$p" | head -n 1)
		if [[ -z $line ]]; then
			report 1 "$p: cached in $ARCHIVE_CACHE with a /usr/src/<m>-<v>/dkms.conf (run tests/deps.sh)"
			continue
		fi
		IFS=$'\t' read -r dir m v <<<"$line"
		for k in "${kernels[@]}"; do
			one "$p" "$dir" "$m" "$v" "$k"
		done
	done
	local leaked
	leaked=$(find /var/lib/dkms /lib/modules /etc/dkms -newer "$stamp" 2>/dev/null | head || true)
	if [[ -z $leaked ]]; then
		report 0 "nothing new in the real /var/lib/dkms, /lib/modules and /etc/dkms"
	else
		report 1 "nothing new in the real /var/lib/dkms, /lib/modules and /etc/dkms: $leaked"
	fi
	printf '# kernels %s, total %ds\n' "${kernels[*]}" $((SECONDS - t0))
	echo "$PASSED passed, $FAILED failed"
	((FAILED == 0))
}

main "$@"
