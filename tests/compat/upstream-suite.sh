#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs upstream dkms 3.x's own test suite (run_test.sh and test/ of
# dkms-project/dkms) against rekmod installed as `dkms` with `make install`
# in a Debian 12 chroot (the cached build root of tests/integration/buildroot.sh)
# for kernel 6.1.0-57-amd64, and counts how many of its checks rekmod passes.
#
#   tests/compat/upstream-suite.sh [UPSTREAM_CHECKOUT] [ONLY]
#   UPSTREAM=/path/to/dkms tests/compat/upstream-suite.sh
#
# ONLY is run_test.sh's own argument (basic, signing, autoinstall, ...).
# The checkout is read, never changed, and never part of rekmod: it is copied
# into the chroot, where run_test.sh is run with four of its check helpers
# redefined (from a file this script writes) so that a failed check is
# counted and the run goes on instead of stopping: exit codes and exact
# output (run_with_expected_error/_output), `status` lines
# (run_status_with_expected_output) and log contents (check_make_log_content,
# counted as make.log or other log). The suite's other checks (files present,
# the tree clean) still stop it; where it stopped is printed.
# Prints the counts, "right/total" per kind, and writes every differing
# check (line in run_test.sh, test title, diff) to $OUT (default
# /tmp/rekmod-upstream-suite.log). KEEP=1 keeps the chroot.
# Exit: 0 when the suite reached its end with every check right, 1 otherwise,
# 77 when no upstream checkout is given (CI has none; not part of make check).
#
# Run against dkms-project/dkms at 0415426: at c100e4e every check passes: exit 318/318, output 318/318, status
# 299/299, make.log 2/2, log 1/1. What rekmod does beyond or apart from dkms
# where the suite does not look:
# - signing (core/lib/sign.c; tests/compat/test-dkms3.sh has a check for
#   each behaviour): a kernel with CONFIG_MODULE_SIG_FORCE=y fails the build when
#   it cannot sign (an Error! after dkms's lines; dkms warns and goes on); a
#   missing certificate is made from the existing key, never a new key over
#   it; the Secure Boot mokutil hint (stderr, once per run; no EFI here); the
#   reason a key cannot be generated, and "<module> is left unsigned: <why>
#   (<tool>)" after dkms's warning, with --verbose only; a private mount
#   namespace over the same root is no chroot (dkms: any mount table change).
# Said as 3.x says them, with rekmod's own detail only at --verbose (a script
# parsing the output sees dkms's lines): dkms.conf validation errors (the
# file, the line and the fix), a framework.conf.d shell function (ignored),
# autoinstall's BUILD_DEPENDS cycle. rekmod runs depmod once per kernel, when
# the run's last job for it is done (issue 14): autoinstall's "Running
# depmod... done." after each installed module, and those before a
# BUILD_DEPENDS_REBUILD rebuild, are said where 3.x says them. 3.x runs
# post_transaction after install, uninstall, unbuild and remove (rekmod also
# after an autoinstall that installed something, which 3.x means to do).

set -u
SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
UPSTREAM=${1:-${UPSTREAM:-}}
ONLY=${2:-${ONLY:-}}
KVER=${KVER:-6.1.0-57-amd64}
OUT=${OUT:-/tmp/rekmod-upstream-suite.log}

if [[ ${UPSTREAM_INSIDE:-} != 1 ]]; then
	[[ -n $UPSTREAM ]] || { echo "SKIP: no upstream dkms checkout given (argument or UPSTREAM=)"; exit 77; }
	[[ -f $UPSTREAM/run_test.sh && -d $UPSTREAM/test ]] ||
		{ echo "upstream-suite: $UPSTREAM has no run_test.sh and test/; give a dkms-project/dkms checkout"; exit 2; }
	[[ $(id -u) -eq 0 ]] || { echo "SKIP: needs root (chroot, mounts)"; exit 77; }
	UPSTREAM=$(realpath "$UPSTREAM")
	export UPSTREAM ONLY KVER OUT UPSTREAM_INSIDE=1
	exec unshare --mount --propagation private bash "${BASH_SOURCE[0]}"
fi

source "$SRCDIR/tests/integration/buildroot.sh"
W=$(realpath "$(mktemp -d /tmp/rekmod-upstream.XXXXXX)")
C=$W/chroot
cleanup() {
	buildroot_release "$C"
	[[ -n ${KEEP:-} ]] && echo "kept $W" || rm -rf --one-file-system "$W"
}
trap cleanup EXIT

# The helpers that replace run_test.sh's: count, never stop. Each check adds
# "KIND ok|bad" to $U_COUNTS; a bad one adds its line and diff to $U_FAILS.
write_counting() {
	cat <<'EOF'
U_COUNTS=/tmp/upstream-counts U_FAILS=/tmp/upstream-fails
: >"$U_COUNTS"; : >"$U_FAILS"
_u_line() { echo "${BASH_LINENO[${#BASH_LINENO[@]}-2]}"; }
_u_count() { # KIND ok|bad [DETAIL-FILE]
	echo "$1 $2" >>"$U_COUNTS"
	[[ $2 == ok ]] && return 0
	{ echo "=== $1 differs, run_test.sh line $(_u_line)"; [[ -z ${3:-} ]] || cat "$3"; } >>"$U_FAILS"
}
run_with_expected_error() {
	local expected=$1 rc=0
	shift
	cat >/tmp/u-expected
	stdbuf -o L -e L "$@" >/tmp/u-output 2>&1 || rc=$?
	if [[ $rc == "$expected" ]]; then _u_count exit ok
	else echo "command '$*' returned $rc instead of $expected" >/tmp/u-detail; _u_count exit bad /tmp/u-detail; fi
	generalize_expected_output /tmp/u-output "${2:-}"
	if diff -U3 /tmp/u-expected /tmp/u-output >/tmp/u-detail; then _u_count output ok
	else sed -i "1i command: $*" /tmp/u-detail; _u_count output bad /tmp/u-detail; fi
	return 0
}
run_status_with_expected_output() {
	cat >/tmp/u-expected
	dkms_status_grep_dkms_module "$1" >/tmp/u-output 2>&1
	if diff -U3 /tmp/u-expected /tmp/u-output >/tmp/u-detail; then _u_count status ok
	else sed -i "1i status of $1" /tmp/u-detail; _u_count status bad /tmp/u-detail; fi
	return 0
}
check_make_log_content() {
	local kind=log
	[[ $1 == */make.log ]] && kind=make.log
	cat >/tmp/u-expected
	cat "$1" >/tmp/u-output 2>&1 || true
	generalize_make_log /tmp/u-output
	if diff -U3 /tmp/u-expected /tmp/u-output >/tmp/u-detail; then _u_count "$kind" ok
	else sed -i "1i log $1" /tmp/u-detail; _u_count "$kind" bad /tmp/u-detail; fi
	return 0
}
_u_exit() { local rc=$?; echo "UPSTREAM-SUITE-EXIT $rc line ${_u_errline:-?}"; tmpdir_cleanup; }
trap _u_exit EXIT
trap '_u_errline=$LINENO' ERR
EOF
}

prepare_chroot() {
	buildroot_new "$C" "$KVER" >"$W/buildroot.log" 2>&1 || { cat "$W/buildroot.log"; return 1; }
	# as an installed kernel image leaves it: depmod runs only where modules.dep is
	mkdir -p "$C/lib/modules/$KVER"
	: >"$C/lib/modules/$KVER/modules.dep"
	ln -sfn "/usr/src/linux-headers-$KVER" "$C/lib/modules/$KVER/build"
	ln -sfn /proc/self/fd "$C/dev/fd"
	# run_test.sh reads certificates with the openssl program (libssl3 is in the
	# root); PATCH_MATCH needs patch (a dependency of the dkms packages)
	cp /usr/bin/openssl /usr/bin/patch "$C/usr/bin/"
	make -s -C "$SRCDIR" >"$W/make.log" 2>&1 &&
		make -s -C "$SRCDIR" install DESTDIR="$C" PREFIX=/usr DKMS=1 >>"$W/make.log" 2>&1 ||
		{ cat "$W/make.log"; return 1; }
	[[ $(chroot "$C" /usr/sbin/dkms --version) == rekmod* ]] ||
		{ echo "upstream-suite: dkms in the chroot is not rekmod"; return 1; }
	mkdir -p "$C/root/dkms-upstream"
	cp -a "$UPSTREAM/run_test.sh" "$UPSTREAM/test" "$C/root/dkms-upstream/"
	write_counting >"$C/root/dkms-upstream/counting.sh"
	# the redefinitions go right after upstream's own helpers
	sed -i "0,/^echo 'Preparing a clean test environment'/s||source ./counting.sh\n&|" \
		"$C/root/dkms-upstream/run_test.sh"
	grep -q '^source ./counting.sh' "$C/root/dkms-upstream/run_test.sh" ||
		{ echo "upstream-suite: run_test.sh has no 'Preparing a clean test environment' line to hook"; return 1; }
}

# Prints right/total per kind from the counts file.
report() {
	local kind counts=$C/tmp/upstream-counts
	for kind in exit output status make.log log; do
		printf '  %-9s %s/%s\n' "$kind" "$(grep -c "^$kind ok" "$counts")" "$(grep -c "^$kind " "$counts")"
	done
}

prepare_chroot || exit 1
echo "upstream-suite: $UPSTREAM ($(git -C "$UPSTREAM" describe --always 2>/dev/null || echo 'not a git checkout')) on kernel $KVER"
# uname -r here is not a Debian kernel: run_test.sh takes KERNEL_VER instead
chroot "$C" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C HOME=/root TERM=dumb KERNEL_VER="$KVER" \
	bash -c 'cd /root/dkms-upstream && exec bash ./run_test.sh "$@"' run_test ${ONLY:+"$ONLY"} \
	</dev/null >"$W/run.log" 2>&1
end=$(grep '^UPSTREAM-SUITE-EXIT' "$W/run.log" | tail -n 1)
{
	echo "# upstream-suite run of $UPSTREAM, kernel $KVER"
	cat "$C/tmp/upstream-fails"
	echo "=== run_test.sh output"
	cat "$W/run.log"
} >"$OUT"
if grep -q '^\*\*\* All tests successful' "$W/run.log"; then
	echo "reached the end of run_test.sh"
	stopped=0
else
	echo "stopped: ${end:-?}; last test: $(grep -v '^UPSTREAM-SUITE-EXIT' "$W/run.log" | grep -E "^[ A-Z*']" | tail -n 1)"
	grep -E '^Error' "$W/run.log" | tail -n 3 | sed 's/^/  /'
	stopped=1
fi
echo "checks right/total:"
report
echo "differing checks and the run's output: $OUT"
((stopped == 0)) && ! grep -q ' bad$' "$C/tmp/upstream-counts"
