#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Every *-dkms package of Debian's archive (main, contrib, non-free; the
# .debs tests/deps.sh caches in build/test-cache/debs-all) through Debian's
# dkms and rekmod, on the newest 6.1.0-*-amd64 and 6.12.*-amd64 kernels with
# headers: `add`, then `install -k K` (which builds), each in its own scratch
# world (see tests/compat/archive-lib.sh: private mount namespace,
# --no-depmod, nothing of the host written).  Not a CI test: it takes hours
# (openafs and each nvidia package take 10 to 50 minutes of a 2-core machine).
#
# Writes a Markdown table (to stdout and, rows as they finish, to $OUT,
# default build/dkms-archive.md): package, kernel, dkms outcome and time,
# rekmod outcome and time.  An outcome is "ok, N modules" (the install exited
# 0; N module files under the kernel's tree) or "exit N" (add's or install's
# exit code), and "same"/"DIFFERS" says whether the two tools agree (exit code
# and the installed module files).
#
# Environment: REKMOD (default build/rekmod), DKMS (/usr/sbin/dkms), ONLY
# (space-separated package names, run in that order), KEEP=1 keeps the scratch directory,
# TIMEOUT per step (default 3600 s), JOBS (1, the default: one build at a
# time; 2: dkms's and rekmod's build of a package and kernel side by side,
# each then timed while the other runs; 4: also both kernels at once).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$REPO_ROOT/bench/lib.sh"
# shellcheck source=tests/compat/archive-lib.sh
. "$REPO_ROOT/tests/compat/archive-lib.sh"
REKMOD=$(abspath "${REKMOD:-$REPO_ROOT/build/rekmod}")
DKMS=${DKMS:-/usr/sbin/dkms}
OUT=${OUT:-$REPO_ROOT/build/dkms-archive.md}
TIMEOUT=${TIMEOUT:-3600}
JOBS=${JOBS:-1}
export LC_ALL=C

outcome() { # outcome RC WORLD KERNEL
	if [[ $1 == 0 ]]; then
		printf 'ok, %s modules' "$(installed_modules "$2" "$3" | wc -l)"
	else
		printf 'exit %s' "$1"
	fi
}

row() {
	printf '%s\n' "$*" | tee -a "$OUT"
}

# one PKG DIR M V K: both tools on kernel K in two fresh worlds (side by
# side when JOBS >= 2); writes the table row to $SCRATCH/w/PKG/K/row
one() {
	local p=$1 dir=$2 m=$3 v=$4 k=$5 wa wb ra rb ta tb oa ob same pa
	wa="$SCRATCH/w/$p/$k/A" wb="$SCRATCH/w/$p/$k/B"
	make_world "$wa" "$k"
	make_world "$wb" "$k"
	if ((JOBS >= 2)); then
		add_install "$wa" "$wa.log" "$TIMEOUT" "$DKMS" "$dir" "$m" "$v" "$k" >"$wa.result" &
		pa=$!
		add_install "$wb" "$wb.log" "$TIMEOUT" "$SCRATCH/rekmod" "$dir" "$m" "$v" "$k" >"$wb.result"
		wait "$pa" || true
	else
		add_install "$wa" "$wa.log" "$TIMEOUT" "$DKMS" "$dir" "$m" "$v" "$k" >"$wa.result"
		add_install "$wb" "$wb.log" "$TIMEOUT" "$SCRATCH/rekmod" "$dir" "$m" "$v" "$k" >"$wb.result"
	fi
	read -r ra ta <"$wa.result"
	read -r rb tb <"$wb.result"
	oa=$(outcome "$ra" "$wa" "$k")
	ob=$(outcome "$rb" "$wb" "$k")
	same=same
	if [[ $ra != "$rb" ]] || ! cmp -s <(installed_modules "$wa" "$k") <(installed_modules "$wb" "$k"); then
		same=DIFFERS
		mkdir -p "$SCRATCH/differs/$p-$k"
		cp "$wa".log.* "$wb".log.* "$SCRATCH/differs/$p-$k/" 2>/dev/null || true
		cp -r "$SCRATCH/differs/$p-$k" "${OUT%.md}-logs-$p-$k" 2>/dev/null || true
	fi
	printf '| %s %s | %s | %s | %s | %s | %s | %s |\n' "$p" "$v" "$k" "$oa" "$ta" "$ob" "$tb" "$same" \
		>"$SCRATCH/w/$p/$k/row"
	rm -rf --one-file-system "$wa" "$wb"
}

main() {
	[[ -x $REKMOD ]] || die "$REKMOD is not executable (run make)"
	command -v "$DKMS" >/dev/null || die "$DKMS not found (run tests/deps.sh)"
	mapfile -t debs < <(archive_debs) || true
	((${#debs[@]})) || die "no cached *-dkms packages in $ARCHIVE_CACHE (run tests/deps.sh)"
	if [[ -n ${ONLY:-} ]]; then # in ONLY's order
		local all=("${debs[@]}") name d
		debs=()
		for name in $ONLY; do
			for d in "${all[@]}"; do
				[[ $(deb_name "$d") == "$name" ]] && debs+=("$d")
			done
		done
	fi
	mapfile -t kernels < <(test_kernels)
	((${#kernels[@]})) || die "no 6.1.0-*-amd64 or 6.12.*-amd64 headers in /usr/src"
	SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/rekmod-archive.XXXXXX")
	trap cleanup EXIT
	cp "$REKMOD" "$SCRATCH/rekmod"
	local stamp="$SCRATCH/stamp"
	touch "$stamp"
	mkdir -p "${OUT%/*}"
	: >"$OUT"
	log "dkms $("$DKMS" --version 2>/dev/null), rekmod $REKMOD, kernels ${kernels[*]}, ${#debs[@]} packages"
	row "| package | kernel | dkms | dkms s | rekmod | rekmod s | |"
	row "|---|---|---|---|---|---|---|"
	local deb p line dir m v k
	for deb in "${debs[@]}"; do
		p=$(deb_name "$deb")
		[[ -z ${ONLY:-} || " $ONLY " == *" $p "* ]] || continue
		line=$(extract_pkg "$deb" "$SCRATCH/pkg/$p" | head -n 1)
		if [[ -z $line ]]; then
			row "| $p | - | ships no /usr/src/*/dkms.conf | | | | |"
			continue
		fi
		IFS=$'\t' read -r dir m v <<<"$line"
		for k in "${kernels[@]}"; do
			if ((JOBS >= 4)); then
				one "$p" "$dir" "$m" "$v" "$k" &
			else
				one "$p" "$dir" "$m" "$v" "$k"
			fi
		done
		wait
		for k in "${kernels[@]}"; do
			row "$(cat "$SCRATCH/w/$p/$k/row")"
		done
		rm -rf --one-file-system "$SCRATCH/pkg/$p"
	done
	local leaked
	leaked=$(find /var/lib/dkms /lib/modules /etc/dkms -newer "$stamp" 2>/dev/null | head || true)
	[[ -z $leaked ]] || log "WARNING: changed on the host: $leaked"
}

main "$@"
