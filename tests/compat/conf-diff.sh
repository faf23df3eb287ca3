#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Differential test of dkms.conf evaluation: rekmod against Debian's dkms.
#
# Cases: every *-dkms package of Debian's archive (main, contrib, non-free)
# that tests/deps.sh cached in build/test-cache/debs-all (the list is apt's,
# so new packages join by themselves), unpacked with dpkg-deb -x; and every
# case of tests/conf-corpus.  Kernels: every /usr/src/linux-headers-6.1.0-*-amd64
# and 6.12.*-amd64 with headers (a corpus case whose case.env names a
# kernelver runs for that one only).
#
# For each case and kernel, dkms's own read_conf runs (dkms-conf-eval.sh:
# the installed /usr/sbin/dkms sourced up to its action dispatch), and
# rekmod's evaluator (conf-eval.c, built here against build/librekmod.a) is
# given the variables dkms defined.  The whitelisted arrays must be equal:
# with rekmod's choice of reader (native where it is exact, else bash), and
# with the bash evaluator alone.  Both run in a private mount namespace with
# the case's etc/dkms (an empty directory for a package) bind-mounted over
# /etc/dkms, since dkms reads /etc/dkms/<module>*.conf from fixed paths.
#
# Two intended differences are allowed, each named in the check's line:
#  - dkms 3.0.10 keeps the CR of a CRLF line in a value; rekmod removes one
#    trailing CR per element, as dkms 3.x does (safe_source's ${VAR%$CR});
#  - rekmod keeps BUILD_EXCLUSIVE_KERNEL_MIN, BUILD_EXCLUSIVE_KERNEL_MAX and
#    BUILD_DEPENDS_REBUILD (dkms 3.x directives), which 3.0.10 drops.
# Anything else that differs fails the check.
#
# Environment: DKMS (default /usr/sbin/dkms), ONLY (labels: package names or
# corpus case names), KEEP=1 keeps the scratch directory.
# Output: ok/not ok lines and "N passed, M failed"; exit 0, 1, or 77 (SKIP).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/compat/archive-lib.sh
. "$REPO_ROOT/tests/compat/archive-lib.sh"
DKMS=${DKMS:-/usr/sbin/dkms}
CORPUS="$REPO_ROOT/tests/conf-corpus"
export LC_ALL=C DKMS

PASSED=0
FAILED=0
CHECK_NO=0
SCRATCH=''
X3_NAMES='BUILD_EXCLUSIVE_KERNEL_MIN|BUILD_EXCLUSIVE_KERNEL_MAX|BUILD_DEPENDS_REBUILD'

# in_ns ETC_DIR CMD...: CMD with ETC_DIR bind-mounted over /etc/dkms
in_ns() {
	local etc=$1
	shift
	# shellcheck disable=SC2016  # expanded by the inner bash
	unshare --mount --propagation private bash -c 'mount --bind "$1" /etc/dkms || exit 125; shift; exec "$@"' \
		bash "$etc" "$@"
}

diff_lines() {
	diff --unchanged-line-format= --old-line-format='-%L' --new-line-format='' "$1" "$2" || true
	diff --unchanged-line-format= --old-line-format='' --new-line-format='+%L' "$1" "$2" || true
}

# compare WHAT FILE_DKMS FILE_REKMOD: equal, or different only as allowed
compare() {
	local what=$1 fa=$2 fb=$3 why=()
	if cmp -s "$fa" "$fb"; then
		report 0 "$what ($(wc -l <"$fa") elements)"
		return
	fi
	sed 's/\\r$//' "$fa" >"$fa.cr"
	grep -Ev "^($X3_NAMES)\[" "$fb" >"$fb.x3" || true
	cmp -s "$fa" "$fa.cr" || why+=("dkms 3.0.10 keeps a trailing CR, rekmod removes it as dkms 3.x does")
	cmp -s "$fb" "$fb.x3" || why+=("rekmod keeps the dkms 3.x directives $(grep -Eo "^($X3_NAMES)" "$fb" | sort -u | paste -sd, -), 3.0.10 drops them")
	if cmp -s "$fa.cr" "$fb.x3"; then
		report 0 "$what: differs as allowed ($(IFS=';'; printf '%s' "${why[*]}"))"
	else
		report 1 "$what"
		diff -u --label dkms --label rekmod "$fa" "$fb" | sed 's/^/    /' || true
	fi
}

# one_case LABEL CONF M V K ETC_DIR
one_case() {
	local label=$1 conf=$2 m=$3 v=$4 k=$5 etc=$6 a=x86_64
	local d="$SCRATCH/out/$label/$k" rc=0
	mkdir -p "$d"
	in_ns "$etc" bash "$REPO_ROOT/tests/compat/dkms-conf-eval.sh" "$conf" "$m" "$v" "$k" "$a" \
		>"$d/dkms.all" 2>"$d/dkms.err" </dev/null || rc=$?
	if [[ $rc != 0 ]] || ! grep -q '^#read_conf ' "$d/dkms.all"; then
		report 1 "$label $k: dkms's read_conf ran (exit $rc)"
		tail -n 3 "$d/dkms.err" | sed 's/^/    /'
		return
	fi
	grep -v '^#' "$d/dkms.all" >"$d/dkms" || true
	local args=(-e "kernelver=$k" -e "arch=$a") line
	while IFS= read -r line; do
		args+=(-e "${line#\#env }")
	done < <(grep '^#env ' "$d/dkms.all")
	local files=("$conf" "/etc/dkms/$m.conf" "/etc/dkms/$m-$v.conf" "/etc/dkms/$m-$v-$k.conf" \
		"/etc/dkms/$m-$v-$k-$a.conf")
	local r reader
	for r in auto bash; do
		rc=0
		in_ns "$etc" "$CONF_EVAL" -r "$r" "${args[@]}" "${files[@]}" >"$d/rekmod.$r" 2>"$d/rekmod.$r.err" \
			</dev/null || rc=$?
		reader=$(sed -n 's/^reader: //p' "$d/rekmod.$r.err" | tail -n 1)
		if [[ $rc != 0 ]]; then
			report 1 "$label $k: rekmod's evaluator ($r) exit $rc"
			grep -v '^reader:' "$d/rekmod.$r.err" | tail -n 3 | sed 's/^/    /'
			continue
		fi
		if [[ $r == auto ]]; then
			READERS[$reader]=$((${READERS[$reader]:-0} + 1))
			reader_auto=$reader
		elif [[ $reader_auto == bash ]]; then
			continue # the same evaluation as auto's
		fi
		compare "$label $k: rekmod ($reader reader) = dkms" "$d/dkms" "$d/rekmod.$r"
	done
}

declare -A READERS=()
reader_auto=''

build_conf_eval() {
	CONF_EVAL="$SCRATCH/conf-eval"
	local lib="$REPO_ROOT/build/librekmod.a" shared="$REPO_ROOT/build/libshared.a"
	[[ -f $lib && -f $shared ]] || return 1
	# shellcheck disable=SC2046  # pkg-config prints several words
	cc -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -I"$REPO_ROOT/core/include" -I"$REPO_ROOT/core/lib" \
		-I"$REPO_ROOT/core/shared" -o "$CONF_EVAL" "$REPO_ROOT/tests/compat/conf-eval.c" "$lib" "$shared" \
		$(pkg-config --libs libkmod liblzma libzstd zlib libcrypto 2>/dev/null || echo -lkmod -llzma -lzstd -lz -lcrypto)
}

selected() {
	[[ -z ${ONLY:-} || " $ONLY " == *" $1 "* ]]
}

case_get() { # case_get FILE KEY DEFAULT
	local v
	v=$(sed -n "s/^$2=//p" "$1" 2>/dev/null | tail -n 1)
	printf '%s\n' "${v:-$3}"
}

main() {
	command -v "$DKMS" >/dev/null || { echo "SKIP: $DKMS not installed"; exit 77; }
	if ! unshare --mount --propagation private true 2>/dev/null; then
		echo "SKIP: unshare --mount does not work here (needs root)"
		exit 77
	fi
	mapfile -t KERNELS < <(ALL=1 test_kernels)
	((${#KERNELS[@]})) || { echo "SKIP: no 6.1.0-*-amd64 / 6.12.*-amd64 headers in /usr/src"; exit 77; }
	SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/rekmod-conf-diff.XXXXXX")
	trap cleanup EXIT
	if ! build_conf_eval; then
		echo "Bail out! cannot build tests/compat/conf-eval.c against build/librekmod.a (run make)"
		echo "0 passed, 1 failed"
		exit 1
	fi
	local t0=$SECONDS k
	mkdir -p "$SCRATCH/empty-etc"
	printf '# kernels: %s\n' "${KERNELS[*]}"

	local debs=() deb p line dir m v n_pkg=0
	mapfile -t debs < <(archive_debs) || true
	if ((${#debs[@]} == 0)); then
		report 1 "cached *-dkms packages in $ARCHIVE_CACHE (run tests/deps.sh)"
	fi
	for deb in "${debs[@]}"; do
		p=$(deb_name "$deb")
		selected "$p" || continue
		line=$(extract_pkg "$deb" "$SCRATCH/pkg/$p" | head -n 1)
		if [[ -z $line ]]; then
			printf '# %s: ships no /usr/src/*/dkms.conf (not a DKMS module package)\n' "$p"
			continue
		fi
		n_pkg=$((n_pkg + 1))
		IFS=$'\t' read -r dir m v <<<"$line"
		for k in "${KERNELS[@]}"; do
			one_case "$p" "$dir/dkms.conf" "$m" "$v" "$k" "$SCRATCH/empty-etc"
		done
	done

	local c name etc ks
	for c in "$CORPUS"/*/; do
		c=${c%/}
		name=${c##*/}
		selected "$name" || continue
		m=$(case_get "$c/case.env" module mod)
		v=$(case_get "$c/case.env" version 1.0)
		etc="$c/etc/dkms"
		[[ -d $etc ]] || etc="$SCRATCH/empty-etc"
		ks=$(case_get "$c/case.env" kernelver '')
		if [[ -n $ks ]]; then
			one_case "$name" "$c/dkms.conf" "$m" "$v" "$ks" "$etc"
		else
			for k in "${KERNELS[@]}"; do
				one_case "$name" "$c/dkms.conf" "$m" "$v" "$k" "$etc"
			done
		fi
	done
	printf '# %d packages, readers used: native %d, bash %d; %ds\n' "$n_pkg" "${READERS[native]:-0}" \
		"${READERS[bash]:-0}" $((SECONDS - t0))
	echo "$PASSED passed, $FAILED failed"
	((FAILED == 0))
}

main "$@"
