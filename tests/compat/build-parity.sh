#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build parity with Debian's dkms for the heavy packages of the archive:
# zfs-dkms (contrib; a multi-line PRE_BUILD `configure` with $(...) pieces)
# and nvidia-kernel-dkms (non-free), from the .debs tests/deps.sh caches in
# build/test-cache/debs-all (unpacked with dpkg-deb -x, never installed).
#
# For each package and kernel, two fresh worlds (tests/compat/archive-lib.sh:
# private mount namespace, --no-depmod, nothing of the host written): A runs
# /usr/sbin/dkms, B rekmod, the same steps: add, build -k K, install -k K,
# status.  Compared: each step's exit code, the status lines (world path and
# kernel normalized), the installed module files, and that every installed
# module's vermagic names K.
#
# Kernels: the newest 6.1.0-*-amd64 (PARITY_KERNELS="61 612" adds the newest
# 6.12.*-amd64; CI runs 6.1 only because both packages through both tools on
# 6.12 as well take too long there: bench/dkms-archive.sh covers 6.12).
# Environment: REKMOD, DKMS, ONLY (package names), KEEP=1, TIMEOUT (s/step).
# Output: ok/not ok lines and "N passed, M failed"; exit 0, 1, 77 (SKIP).
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
	local want=" ${PARITY_KERNELS:-61} " k
	while read -r k; do
		case $k in
		6.1.*) [[ $want == *" 61 "* ]] && printf '%s\n' "$k" ;;
		6.12.*) [[ $want == *" 612 "* ]] && printf '%s\n' "$k" ;;
		esac
	done < <(test_kernels)
	return 0
}

# step W OUT TOOL ARGS...: runs one step, prints its exit code
step() {
	local w=$1 out=$2 tool=$3
	shift 3
	run_in_world "$w" "$out" "$TIMEOUT" "$tool" "$@"
	cat "$out.rc"
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

one() { # one PKG DIR M V K
	local p=$1 dir=$2 m=$3 v=$4 k=$5 base="$SCRATCH/$1/$5" x w tool
	local -A rc=() t=()
	mkdir -p "$base"
	for x in A B; do
		w="$base/$x"
		tool=$DKMS
		[[ $x == B ]] && tool=$REKMOD
		make_world "$w" "$k"
		cp -a "$dir" "$w/src/"
		rc[$x.add]=$(step "$w" "$base/$x.add" "$tool" add -m "$m" -v "$v")
		rc[$x.build]=$(step "$w" "$base/$x.build" "$tool" build -m "$m" -v "$v" -k "$k")
		rc[$x.install]=$(step "$w" "$base/$x.install" "$tool" install -m "$m" -v "$v" -k "$k")
		rc[$x.status]=$(step "$w" "$base/$x.status" "$tool" status)
		t[$x]=$(cat "$base/$x".{add,build,install}.time | awk '{ s += $1 } END { printf "%.0f", s }')
		sed -e "s|$w|W|g" -e "s|$k|K|g" "$base/$x.status.out" >"$base/$x.status.norm"
		installed_modules "$w" "$k" >"$base/$x.modules"
	done
	printf '# %s %s on %s: dkms %ss, rekmod %ss\n' "$m" "$v" "$k" "${t[A]}" "${t[B]}"
	local s
	for s in add build install status; do
		if [[ ${rc[A.$s]} == "${rc[B.$s]}" ]]; then
			report 0 "$p $k: $s exit code ${rc[A.$s]}"
		else
			report 1 "$p $k: $s exit code dkms=${rc[A.$s]} rekmod=${rc[B.$s]}"
			tail -n 5 "$base/A.$s.err" | sed 's/^/    dkms: /'
			tail -n 5 "$base/B.$s.err" | sed 's/^/    rekmod: /'
		fi
	done
	[[ ${rc[A.install]} == 0 ]] || printf '# note: dkms does not install %s on %s (exit %s)\n' "$p" "$k" "${rc[A.install]}"
	compare_files "$p $k: status" "$base/A.status.norm" "$base/B.status.norm"
	compare_files "$p $k: installed modules and vermagic" "$base/A.modules" "$base/B.modules"
	if grep -v " vermagic=$k " "$base/B.modules" | grep -q .; then
		report 1 "$p $k: every module rekmod installed names $k in its vermagic"
		grep -v " vermagic=$k " "$base/B.modules" | sed 's/^/    /'
	elif [[ -s $base/B.modules ]]; then
		report 0 "$p $k: every module rekmod installed names $k in its vermagic ($(wc -l <"$base/B.modules") modules)"
	fi
	rm -rf --one-file-system "$base/A" "$base/B"
}

main() {
	command -v "$DKMS" >/dev/null || { echo "SKIP: $DKMS not installed"; exit 77; }
	[[ -x $REKMOD ]] || { echo "Bail out! $REKMOD is not executable (run make)"; echo "0 passed, 1 failed"; exit 1; }
	REKMOD=$(cd "$(dirname "$REKMOD")" && pwd)/${REKMOD##*/}
	unshare --mount --propagation private true 2>/dev/null || { echo "SKIP: unshare --mount does not work here"; exit 77; }
	mapfile -t kernels < <(parity_kernels)
	((${#kernels[@]})) || { echo "SKIP: no kernel headers for PARITY_KERNELS=${PARITY_KERNELS:-61}"; exit 77; }
	SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/rekmod-build-parity.XXXXXX")
	trap cleanup EXIT
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
