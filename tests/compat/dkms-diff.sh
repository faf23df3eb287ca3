#!/bin/bash
# Differential test: rekmod against Debian's dkms 3.0.10.
#
# Module sources: examples/hello; the v4l2loopback-dkms, acpi-call-dkms,
# xtables-addons-dkms and evdi-dkms trees from the .debs cached by
# tests/deps.sh; and the fixture packages under tests/compat/fixtures/ (each
# fixture is a directory of <module>-<version>/ source trees, plus an optional
# etc-dkms/ copied into the world's /etc/dkms and an optional in-tree/ built
# for K2 and put into the worlds as the kernel's own modules; see
# fixtures/README.md).
#
# Kernels: K1 = the newest /usr/src/linux-headers-6.12.*-amd64 and K2 = the
# newest /usr/src/linux-headers-6.1.0-*-amd64.
#
# For each source two identical scratch worlds are built: A runs Debian's
# dkms, B runs rekmod.  A world has src/ dkms/ modules/<K>/ (a build link to
# the real headers, and a modules.dep naming one placeholder module with the
# suffix the kernel's CONFIG_MODULE_COMPRESS_* gives, as an installed kernel
# image would), etc/dkms/ and markers/ (fixture scripts append to
# markers/scripts.log through $DKMS_DIFF_MARKERS).  Every command runs in a
# private mount namespace (unshare --mount --propagation private) where the
# world's etc/dkms and modules are bind-mounted over /etc/dkms and
# /lib/modules: dkms 3.0.10 reads /etc/dkms/<m>.conf and
# /lib/modules/<K>/modules.dep from fixed paths, and this points both tools at
# the world.  Only world directories are mounted, over host paths, inside the
# private namespace; nothing of the host is mounted into a world.
#
# The same sequence runs in both worlds; after every step these must be
# identical: the exit code; `status` stdout (status steps); the first stderr
# line (error steps); the files and symlinks under dkms/ and modules/; for
# every module file under modules/ and dkms/: vermagic, version and
# description (modinfo) and the xz integrity check; the marker log.  Kernel
# versions are written K1/K2 and world paths W in what is compared.
#
# A known, intentional difference is recorded in the XDIFF table below: the
# check passes only if the difference is exactly the recorded one (and fails
# if the outputs are equal).
#
# Environment:
#   REKMOD  tool under test (default: build/rekmod in the repo root).
#   DKMS    reference tool (default: /usr/sbin/dkms).
#   KEEP    set to 1 to keep the scratch directory (its path is printed).
#   ONLY    space-separated labels to run (hello v4l2loopback acpi-call
#           xtables-addons evdi, and the fixture directory names); default all.
#
# Output: `ok N - ...` / `not ok N - ...` per check, diffs for failures,
# and a final `N passed, M failed` line.  Exit 0 if all passed, 1 if any
# failed, 77 (with a SKIP line) if the kernels' headers or dkms are missing.
# shellcheck disable=SC2317  # the fx_* sequences and traps are called indirectly
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
REKMOD=${REKMOD:-$REPO_ROOT/build/rekmod}
DKMS=${DKMS:-/usr/sbin/dkms}
DEB_CACHE="$REPO_ROOT/build/test-cache/debs"
FIXTURES="$REPO_ROOT/tests/compat/fixtures"
STEP_TIMEOUT=900

export LC_ALL=C

PASSED=0
FAILED=0
CHECK_NO=0
SCRATCH=''
STAMP=''
K1=''
K2=''
WA=''
WB=''
STEP_NO=1
LAST_RC_A=0
LABEL=''

# ---------------------------------------------------------------------------
# Recorded differences.  Key: "<label>|<step description>|<aspect>", aspect
# one of rc, status, err, tree, modinfo, xz, markers.  Value: for rc
# "<dkms rc> <rekmod rc>"; otherwise the exact difference, one line per
# differing line: "-" + the line only dkms produced, "+" + the line only
# rekmod produced (dkms's lines first, each group in output order).
# XWHY holds the reason, printed with the check.
declare -A XDIFF=() XWHY=()

xdiff() { # xdiff KEY REASON VALUE
	XDIFF[$1]=$3
	XWHY[$1]=$2
}

# Signing differences from dkms 3.0.10 this harness cannot see: both tools
# run with sign_file=/nonexistent/sign-file, and a build's stdout is not
# compared. rekmod follows dkms 3.x in each (tests/compat/test-dkms3.sh and
# the signing section of tests/compat/upstream-suite.sh check them):
# - try_sign_modules (3.x): "false" signs nothing ("Module signing is
#   disabled by policy, modules won't be signed"), and in a chroot anything
#   but "true" signs nothing ("Running in chroot, modules won't be signed");
#   3.0.10 has no such setting and signs in a chroot (with a key it generates
#   there). rekmod asks "chroot?" of the mount at / only, not of the whole
#   mount table as 3.x does, so a private mount namespace over the same root
#   (this harness's unshare, a sandboxed systemd service) still signs.
# - 3.x reads the kernel config first: "Kernel config F not found, ..." and,
#   without CONFIG_MODULE_SIG_HASH, "The kernel is built without module
#   signing facility, ..." sign nothing; 3.0.10 signs there with sha512.
# - a failing sign_file: 3.x warns "Warning: Failed to sign module '<path>'!"
#   then the tool's output, on stderr; 3.0.10 prints only the tool's output.
# - 3.x says "Sign command: ..." and the key lines once per kernel in a run
#   (autoinstall: before the first "Autoinstall of module" that builds);
#   3.0.10 says them before every build.
# - 3.x's generated certificate has extendedKeyUsage=codeSigning; 3.0.10's
#   has none.
# - a key or certificate that cannot be generated (its directory missing):
#   both say "Key file ... / Certificate file ... not found and can't be
#   generated"; rekmod makes no directory, as neither's openssl does, and
#   never overwrites an existing key (a missing certificate is made from it;
#   both dkms versions make a new pair).

XZ_WHY='dkms 3.0.10 compresses with xz(1) defaults, a CRC64 check the kernel cannot verify (dkms#386); rekmod writes CRC32 as dkms 3.4.3 does'

record_differences() {
	local why l k

	why='dkms 3.0.10 keeps the CR of CRLF lines in the values (MAKE[0] ends in \r and make fails); rekmod strips a trailing CR per element as dkms 3.4.3 does'
	xdiff 'crlf|build -k K2|rc' "$why" '10 0'
	xdiff 'crlf|build -k K2|err' "$why" '-Error! Bad return status for module build on kernel: K2 (x86_64)'
	xdiff 'crlf|build -k K2|tree' "$why" $'-dkms/fxcrlf/1.0/build/make.log\n+dkms/fxcrlf/1.0/K2/x86_64/log/make.log\n+dkms/fxcrlf/1.0/K2/x86_64/module/fxcrlf.ko'
	xdiff 'crlf|status|status' "$why" $'-fxcrlf/1.0: added\n+fxcrlf/1.0, K2, x86_64: built'
	xdiff 'crlf|status|tree' "$why" $'-dkms/fxcrlf/1.0/build/make.log\n+dkms/fxcrlf/1.0/K2/x86_64/log/make.log\n+dkms/fxcrlf/1.0/K2/x86_64/module/fxcrlf.ko'

	why='dkms 3.0.10 uses BUILD_DEPENDS only to order autoinstall; rekmod, like dkms 3.4.3, refuses to build before the dependency is installed for that kernel (exit 13 and 3.x'"'"'s words, --force overrides)'
	k='depends|build fxuser -k K1 before fxbase is installed'
	xdiff "$k|rc" "$why" '0 13'
	xdiff "$k|err" "$why" '+Error! Aborting build of module fxuser/1.0 for kernel K1 (x86_64) due to missing BUILD_DEPENDS: fxbase.'
	xdiff "$k|tree" "$why" $'-dkms/fxuser/1.0/K1/x86_64/log/make.log\n-dkms/fxuser/1.0/K1/x86_64/module/fxuser.ko.xz'

	why='a BUILD_EXCLUSIVE skip is not an error: rekmod, like dkms 3.4.3, prints it as a Warning (same exit code 77); dkms 3.0.10 prints Error!'
	for k in 'excl|build -k K1|fxexcl|K1' 'exclarch|build -k K1|fxexclarch|K1' \
		'exclarch|build -k K2|fxexclarch|K2' 'exclcfg|build -k K2|fxexclcfg|K2'; do
		IFS='|' read -r l s m x <<<"$k"
		xdiff "$l|$s|err" "$why" "-Error! The W/dkms/$m/1.0/$x/x86_64/dkms.conf for module $m includes a BUILD_EXCLUSIVE directive which does not match this kernel/arch/config.
+Warning: The W/dkms/$m/1.0/$x/x86_64/dkms.conf"
	done

	why='BUILD_EXCLUSIVE_KERNEL_MAX (dkms 3.4.3) is unknown to dkms 3.0.10, which builds for K1 (6.12 > 6.5); rekmod skips K1 with exit 77'
	xdiff 'exclmax|build -k K1|rc' "$why" '0 77'
	xdiff 'exclmax|build -k K1|err' "$why" '+Warning: The W/dkms/fxexclmax/1.0/K1/x86_64/dkms.conf'
	for s in 'build -k K1' 'build -k K2' 'status'; do
		xdiff "exclmax|$s|tree" "$why" $'-dkms/fxexclmax/1.0/K1/x86_64/log/make.log\n-dkms/fxexclmax/1.0/K1/x86_64/module/fxexclmax.ko.xz'
	done
	xdiff 'exclmax|status|status' "$why" '-fxexclmax/1.0, K1, x86_64: built'

	why='per-module BUILD_EXCLUSIVE_KERNEL[i] and BUILD_EXCLUSIVE_KERNEL_MIN[i] (dkms >= 3.3.0) are unknown to dkms 3.0.10, which builds every module; rekmod leaves out fxexclmod_b on K1 and fxexclmod_c on K2'
	xdiff 'exclmod|build -k K1|tree' "$why" '-dkms/fxexclmod/1.0/K1/x86_64/module/fxexclmod_b.ko.xz'
	for s in 'build -k K2' 'status'; do
		xdiff "exclmod|$s|tree" "$why" $'-dkms/fxexclmod/1.0/K1/x86_64/module/fxexclmod_b.ko.xz\n-dkms/fxexclmod/1.0/K2/x86_64/module/fxexclmod_c.ko'
	done

	why='rekmod validates as dkms 3.4.3 does: duplicate module names and an AUTOINSTALL other than yes/no/empty are errors (exit 8, 3.x'"'"'s "dkms.conf: Error! ..." line; rekmod'"'"'s file:line and fix at --verbose); dkms 3.0.10 accepts both'
	xdiff 'invalid|add fxdup|rc' "$why" '0 8'
	xdiff 'invalid|add fxdup|err' "$why" "+dkms.conf: Error! Duplicate module 'fxdup' in 'BUILT_MODULE_NAME[1]'."
	xdiff 'invalid|add fxdup|tree' "$why" $'-dkms/fxdup/1.0/source -> W/src/fxdup-1.0\n+dkms/fxzero/1.0/source -> W/src/fxzero-1.0'
	xdiff 'invalid|add fxautoinst|rc' "$why" '0 8'
	xdiff 'invalid|add fxautoinst|err' "$why" "+dkms.conf: Error! Unsupported AUTOINSTALL value 'sometimes'"
	xdiff 'invalid|add fxautoinst|tree' "$why" $'-dkms/fxautoinst/1.0/source -> W/src/fxautoinst-1.0\n-dkms/fxdup/1.0/source -> W/src/fxdup-1.0\n+dkms/fxzero/1.0/source -> W/src/fxzero-1.0'
	xdiff 'invalid|status|status' "$why" $'-fxautoinst/1.0: added\n-fxdup/1.0: added\n+fxzero/1.0: added'
	xdiff 'invalid|status|tree' "$why" $'-dkms/fxautoinst/1.0/source -> W/src/fxautoinst-1.0\n-dkms/fxdup/1.0/source -> W/src/fxdup-1.0\n+dkms/fxzero/1.0/source -> W/src/fxzero-1.0'

	why='dkms 3.x (run_test.sh) accepts a dkms.conf with zero modules ("dkms.conf: Warning! Zero modules specified.") and adds it; dkms 3.0.10 refuses it (no DEST_MODULE_LOCATION, exit 8); the added fxzero stays in the later steps'"'"' trees'
	xdiff 'invalid|add fxzero|rc' "$why" '8 0'
	xdiff 'invalid|add fxzero|err' "$why" $'-dkms.conf: Error! No \'DEST_MODULE_LOCATION\' directive specified.\n+dkms.conf: Warning! Zero modules specified.'
	for s in fxzero fxko fxdestko fxdest fxnoloc; do
		xdiff "invalid|add $s|tree" "$why" '+dkms/fxzero/1.0/source -> W/src/fxzero-1.0'
	done

	why='rekmod says a failing POST_BUILD as dkms 3.x does (Running the post_build script...(bad exit status: N), its output in make.log) and keeps the build; dkms 3.0.10 says nothing'
	xdiff 'scriptfail|build fxscriptfail -k K2 (POST_BUILD exits 4)|err' "$why" '+Running the post_build script...(bad exit status: 4)'

	why='rekmod, like dkms 3.4.3, stops a build whose PRE_BUILD script fails, with the script'"'"'s exit code; dkms 3.0.10 ignores the failure and builds'
	k='scriptfail|build fxprebuild -k K2 (PRE_BUILD exits 3)'
	xdiff "$k|rc" "$why" '0 3'
	xdiff "$k|tree" "$why" $'-dkms/fxprebuild/1.0/K2/x86_64/log/make.log\n-dkms/fxprebuild/1.0/K2/x86_64/module/fxprebuild.ko\n+dkms/fxprebuild/1.0/build/make.log'
	xdiff 'scriptfail|status|status' "$why" $'-fxprebuild/1.0, K2, x86_64: built\n+fxprebuild/1.0: added'
	xdiff 'scriptfail|status|tree' "$why" $'-dkms/fxprebuild/1.0/K2/x86_64/log/make.log\n-dkms/fxprebuild/1.0/K2/x86_64/module/fxprebuild.ko\n+dkms/fxprebuild/1.0/build/make.log'

	why='README Differences: rekmod archives same-named kernel modules on every distribution (original_module/ with .origin, restored on uninstall; dkms 3.0.10 skips this on Debian), and replaces an unversioned kernel module whose binary differs, as dkms 3.4.3 does (dkms 3.0.10 refuses: "Module version  for fxunv.ko exactly matches")'
	xdiff 'original|install -k K2|err' "$why" '-Module version  for fxunv.ko'
	for k in 'install -k K2|tree' 'status|tree'; do
		xdiff "original|$k" "$why" $'-modules/K2/kernel/drivers/misc/fxorig.ko\n-modules/K2/kernel/drivers/misc/fxunv.ko\n+dkms/fxorig/original_module/K2/x86_64/fxorig.ko\n+dkms/fxorig/original_module/K2/x86_64/fxorig.ko.origin\n+dkms/fxorig/original_module/K2/x86_64/fxunv.ko\n+dkms/fxorig/original_module/K2/x86_64/fxunv.ko.origin\n+modules/K2/updates/dkms/fxunv.ko'
	done
	xdiff 'original|status|status' "$why" $'-fxorig/2.0, K2, x86_64: installed (WARNING! Diff between built and installed module!)\n+fxorig/2.0, K2, x86_64: installed (Original modules exist)'

	why='dkms 3.x skips a module its version check (OBSOLETE_BY) refuses and, with none installed, exits 6 ("Installation aborted."), not installed; dkms 3.0.10 counts it installed (exit 0, kernel-K-A link) and its status flags the missing copy'
	xdiff 'obsolete|install -k K1|rc' "$why" '0 6'
	for s in 'install -k K1' status; do
		xdiff "obsolete|$s|tree" "$why" '-dkms/fxobs/kernel-K1-x86_64 -> 1.0/K1/x86_64'
	done
	why='dkms 3.x says OBSOLETE_BY is a deprecated feature (once per run, first); dkms 3.0.10 says nothing of it'
	l='+Deprecated feature: OBSOLETE_BY (W/dkms/fxobs/1.0/source/dkms.conf): use BUILD_EXCLUSIVE_KERNEL_MAX instead'
	xdiff 'obsolete|build -k K1 (newer than OBSOLETE_BY)|err' "$why" "$l"
	xdiff 'obsolete|install -k K1|err' "$why" $'-Module has been obsoleted due to being included\n'"$l"
	why='dkms 3.x skips a module its version check (OBSOLETE_BY) refuses and, with none installed, exits 6 ("Installation aborted."), not installed; dkms 3.0.10 counts it installed (exit 0, kernel-K-A link) and its status flags the missing copy'
	xdiff 'obsolete|status|status' "$why" $'-fxobs/1.0, K1, x86_64: installed (WARNING! Diff between built and installed module!)\n+fxobs/1.0, K1, x86_64: built'
}

# The recorded differences of a package sequence for module $1 version $2
# (label $LABEL).
package_differences() {
	local m=$1 v=$2
	xdiff "$LABEL|add again (already added)|err" \
		'dkms 3.x (run_test.sh) names the added module m/v; dkms 3.0.10 writes m-v' \
		$'-Error! DKMS tree already contains: '"$m-$v"$'\n+Error! DKMS tree already contains: '"$m/$v"
}

log() { printf '# %s\n' "$*"; }

cleanup() {
	if [[ -n $SCRATCH && -d $SCRATCH ]]; then
		if [[ ${KEEP:-0} == 1 ]]; then
			log "scratch kept in $SCRATCH"
		else
			rm -rf --one-file-system -- "$SCRATCH"
		fi
	fi
}

# ok|not ok line; $1 = 0 for pass, $2.. = description.
report() {
	local status=$1
	shift
	CHECK_NO=$((CHECK_NO + 1))
	if [[ $status == 0 ]]; then
		PASSED=$((PASSED + 1))
		printf 'ok %d - %s\n' "$CHECK_NO" "$*"
	else
		FAILED=$((FAILED + 1))
		printf 'not ok %d - %s\n' "$CHECK_NO" "$*"
	fi
}

# Prints a unified diff of two files, each line prefixed for readability.
show_diff() {
	diff -u --label "A (dkms)" --label "B (rekmod)" "$1" "$2" | sed 's/^/    /' || true
}

# The difference of two files as recorded in XDIFF: dkms-only lines with "-",
# then rekmod-only lines with "+".
diff_lines() {
	diff --unchanged-line-format= --old-line-format='-%L' --new-line-format='' "$1" "$2" || true
	diff --unchanged-line-format= --old-line-format='' --new-line-format='+%L' "$1" "$2" || true
}

abspath() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$PWD" "$1" ;;
	esac
}

# Escapes a string for use as a literal in a sed regex.
sed_quote() {
	printf '%s' "$1" | sed 's/[][\\.*^$|/]/\\&/g'
}

# Replaces world path $2 with W and the kernel versions with K1/K2 in stdin.
normalize() {
	sed -e "s|$(sed_quote "$1")|W|g" -e "s|$(sed_quote "$K1")|K1|g" -e "s|$(sed_quote "$K2")|K2|g"
}

# Newest kernel whose headers match the glob $1 (a suffix of linux-headers-).
newest_headers() {
	local d k
	for d in /usr/src/linux-headers-$1; do
		[[ -d $d/include && -f $d/.config ]] || continue
		k=${d#/usr/src/linux-headers-}
		printf '%s\n' "$k"
	done | sort -V | tail -n 1
}

# The module suffix an installed kernel $1 uses, from its headers' .config.
kernel_suffix() {
	local cfg="/usr/src/linux-headers-$1/.config"
	if grep -q '^CONFIG_MODULE_COMPRESS_XZ=y' "$cfg"; then
		echo .ko.xz
	elif grep -q '^CONFIG_MODULE_COMPRESS_GZIP=y' "$cfg"; then
		echo .ko.gz
	elif grep -q '^CONFIG_MODULE_COMPRESS_ZSTD=y' "$cfg"; then
		echo .ko.zst
	else
		echo .ko
	fi
}

# Creates world $1 with the <m>-<v> source trees $2... (directories).
make_world() {
	local w=$1 k d
	shift
	mkdir -p "$w/src" "$w/dkms" "$w/tmp" "$w/keys" "$w/markers" "$w/etc/dkms"
	if [[ -d /etc/dkms ]]; then
		cp -a /etc/dkms/. "$w/etc/dkms/"
	fi
	# the fixtures' scripts write through $DKMS_DIFF_MARKERS: rekmod hands
	# MAKE and the scripts only the names framework.conf allows (dkms, which
	# passes its whole environment, skips the unknown name)
	mkdir -p "$w/etc/dkms/framework.conf.d"
	echo 'build_environment_allow="DKMS_DIFF_MARKERS"' >"$w/etc/dkms/framework.conf.d/dkms-diff.conf"
	for d in "$@"; do
		cp -a "$d" "$w/src/"
	done
	for k in "$K1" "$K2"; do
		mkdir -p "$w/modules/$k/kernel/placeholder"
		ln -s "/usr/src/linux-headers-$k" "$w/modules/$k/build"
		# an installed kernel image: one (absent) module in modules.dep
		printf 'kernel/placeholder/placeholder%s:\n' "$(kernel_suffix "$k")" >"$w/modules/$k/modules.dep"
	done
}

# run_tool WORLD TOOL OUTPREFIX ARGS...: runs one step in a world, writing
# OUTPREFIX.out / .err / .rc / .time.
run_tool() {
	local w=$1 tool=$2 out=$3 rc=0 t0 t1
	shift 3
	t0=$(date +%s.%N)
	(
		cd "$w"
		# shellcheck disable=SC2016  # expanded by the inner bash
		exec unshare --mount --propagation private bash -c '
			w=$1; shift
			mount --bind "$w/etc/dkms" /etc/dkms || exit 125
			mount --bind "$w/modules" /lib/modules || exit 125
			exec "$@"' bash "$w" \
			env TMPDIR="$w/tmp" DKMS_DIFF_MARKERS="$w/markers" \
			sign_file=/nonexistent/sign-file \
			mok_signing_key="$w/keys/mok.key" mok_certificate="$w/keys/mok.pub" \
			timeout "$STEP_TIMEOUT" "$tool" \
			--dkmstree "$w/dkms" --sourcetree "$w/src" --installtree "$w/modules" \
			--no-depmod "$@"
	) >"$out.out" 2>"$out.err" </dev/null || rc=$?
	t1=$(date +%s.%N)
	printf '%s\n' "$rc" >"$out.rc"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", b - a }' >"$out.time"
}

# Lists files and symlinks (with their targets) under dkms/ and modules/ of
# world $1; skips the dkms build/ directory except its make.log, log/.config
# (dkms copies the kernel's .config there; rekmod does not), the placeholder
# modules.dep and rekmod's .rekmod* records and the make.log of a failed
# autoinstall it keeps (<m>/<v>/log/make-<K>-<A>.log).
tree_list() {
	local w=$1
	(
		cd "$w"
		find dkms modules \( -type f -o -type l \) -printf '%p\t%y\t%l\n'
	) | awk -F'\t' '
		$1 ~ /^dkms\/[^\/]+\/[^\/]+\/build\/make\.log$/ { print $1; next }
		$1 ~ /^dkms\/[^\/]+\/[^\/]+\/build(\/|$)/ { next }
		$1 ~ /(^|\/)log\/\.config$/ { next }
		$1 ~ /^modules\/[^\/]+\/(build|modules\.dep)$/ { next }
		$1 ~ /(^|\/)\.rekmod[^\/]*$/ { next }
		$1 ~ /^dkms\/[^\/]+\/[^\/]+\/log\/make-[^\/]+\.log$/ { next }
		$2 == "l" { print $1 " -> " $3; next }
		{ print $1 }' | normalize "$w" | sort
}

# The module files (relative paths) under modules/ and dkms/ of world $1.
module_files() {
	(
		cd "$1"
		find modules dkms -type f \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.gz' -o -name '*.ko.zst' \)
	) | LC_ALL=C sort
}

# For each module file (relative path on stdin) of world $1: its vermagic,
# version and description, and whether the vermagic names the kernel of the
# directory it is in.
modinfo_list() {
	local w=$1 f rel vm ver desc k ok
	while IFS= read -r rel; do
		f="$w/$rel"
		vm=$(modinfo -F vermagic "$f" 2>/dev/null | head -n 1) || vm='?'
		ver=$(modinfo -F version "$f" 2>/dev/null | head -n 1) || ver='?'
		desc=$(modinfo -F description "$f" 2>/dev/null | head -n 1) || desc='?'
		ok=no
		for k in "$K1" "$K2"; do
			[[ $rel == */$k/* && $vm == "$k "* ]] && ok=yes
		done
		printf '%s vermagic=%s| version=%s description=%s kernel-matches=%s\n' \
			"$rel" "${vm% }" "$ver" "$desc" "$ok"
	done | normalize "$w"
}

# The xz integrity check of each .ko.xz (relative path on stdin) of world $1.
xz_list() {
	local w=$1 rel
	while IFS= read -r rel; do
		printf '%s %s\n' "$rel" "$(xz --robot --list "$w/$rel" 2>/dev/null | awk -F'\t' '$1 == "file" { print $7 }')"
	done | normalize "$w"
}

# compare ASPECT WHAT FILE_A FILE_B [SUMMARY]: one check, honouring XDIFF.
compare() {
	local aspect=$1 what=$2 fa=$3 fb=$4 summary=${5:-}
	local key="$LABEL|${what#"$LABEL: "}|$aspect"
	if [[ -v XDIFF[$key] ]]; then
		local got
		got=$(diff_lines "$fa" "$fb")
		if [[ $got == "${XDIFF[$key]}" ]]; then
			report 0 "$what: $aspect differ as recorded (${XWHY[$key]})"
		else
			report 1 "$what: $aspect: not the recorded difference"
			printf '    recorded:\n%s\n    got:\n%s\n' "${XDIFF[$key]//$'\n'/$'\n'      }" "${got//$'\n'/$'\n'      }"
		fi
		return
	fi
	if cmp -s "$fa" "$fb"; then
		report 0 "$what: $aspect${summary:+ ($summary)}"
	elif [[ $aspect == xz ]] && xz_expected "$fa" "$fb"; then
		report 0 "$what: $aspect differ as recorded ($XZ_WHY)"
	else
		report 1 "$what: $aspect differ"
		show_diff "$fa" "$fb"
		propose "$key" "$(diff_lines "$fa" "$fb")"
	fi
}

# With RECORD=FILE, writes an xdiff line for an unrecorded difference to
# FILE (to review and copy into record_differences).
propose() {
	[[ -n ${RECORD:-} ]] || return 0
	# shellcheck disable=SC2016  # $why is for the table, not expanded here
	printf 'xdiff %q "$why" %q\n' "$1" "$2" >>"$RECORD"
}

# The recorded xz difference: the same files, dkms's CRC64 where rekmod has
# CRC32, and nothing else.
xz_expected() {
	local a b
	a=$(sed 's/ CRC64$/ CRC32/' "$1")
	b=$(<"$2")
	[[ $a == "$b" ]] && grep -q ' CRC64$' "$1" && ! grep -q ' CRC64$' "$2"
}

# First non-empty line of stderr file $1, world $2 normalized.
first_err() {
	# readelf's complaint about the 6.12 headers' vmlinux is dkms's noise, not a message
	grep -v -e '^[[:space:]]*$' -e '^readelf: Warning: ' "$1" | head -n 1 | normalize "$2" || true
}

# step KINDS DESCRIPTION ARGS...
# KINDS: comma list of plain, status (compare stdout), err (compare the first
# stderr line).
step() {
	local kinds=$1 desc=$2
	shift 2
	local sd="$SCRATCH/$LABEL/steps/$STEP_NO"
	STEP_NO=$((STEP_NO + 1))
	mkdir -p "$sd"
	run_tool "$WA" "$DKMS" "$sd/a" "$@"
	run_tool "$WB" "$REKMOD" "$sd/b" "$@"
	local rca rcb ta tb
	rca=$(<"$sd/a.rc")
	rcb=$(<"$sd/b.rc")
	ta=$(<"$sd/a.time")
	tb=$(<"$sd/b.time")
	local what="$LABEL: $desc" key="$LABEL|$desc|rc"

	if [[ -v XDIFF[$key] ]]; then
		if [[ "$rca $rcb" == "${XDIFF[$key]}" ]]; then
			report 0 "$what: exit code dkms=$rca rekmod=$rcb as recorded (${XWHY[$key]})"
		else
			report 1 "$what: exit code dkms=$rca rekmod=$rcb, recorded ${XDIFF[$key]}"
		fi
	elif [[ $rca == "$rcb" ]]; then
		report 0 "$what: exit code $rca (dkms ${ta}s, rekmod ${tb}s)"
	else
		report 1 "$what: exit code dkms=$rca rekmod=$rcb (dkms ${ta}s, rekmod ${tb}s)"
		propose "$key" "$rca $rcb"
		sed 's/^/    dkms stderr: /' "$sd/a.err" | tail -n 5
		sed 's/^/    rekmod stderr: /' "$sd/b.err" | tail -n 5
	fi
	if [[ $rca == 124 ]]; then
		log "dkms timed out after ${STEP_TIMEOUT}s"
	fi
	if [[ $rca == 125 || $rcb == 125 ]]; then
		log "the private mount namespace could not be set up (unshare/mount --bind)"
	fi

	if [[ ,$kinds, == *,status,* ]]; then
		normalize "$WA" <"$sd/a.out" >"$sd/a.status"
		normalize "$WB" <"$sd/b.out" >"$sd/b.status"
		compare status "$what" "$sd/a.status" "$sd/b.status" "$(wc -l <"$sd/a.status") lines"
	fi
	if [[ ,$kinds, == *,err,* ]]; then
		first_err "$sd/a.err" "$WA" >"$sd/a.err1"
		first_err "$sd/b.err" "$WB" >"$sd/b.err1"
		compare err "$what" "$sd/a.err1" "$sd/b.err1" "first stderr line: $(head -c 70 "$sd/a.err1")"
	fi

	tree_list "$WA" >"$sd/a.tree"
	tree_list "$WB" >"$sd/b.tree"
	compare tree "$what" "$sd/a.tree" "$sd/b.tree" "$(wc -l <"$sd/a.tree") entries"

	# module contents: only the files both worlds have (the tree check covers the rest)
	comm -12 <(module_files "$WA") <(module_files "$WB") >"$sd/common"
	modinfo_list "$WA" <"$sd/common" >"$sd/a.modinfo"
	modinfo_list "$WB" <"$sd/common" >"$sd/b.modinfo"
	if [[ -s $sd/common ]]; then
		compare modinfo "$what" "$sd/a.modinfo" "$sd/b.modinfo" "vermagic of $(wc -l <"$sd/common") module files"
		if grep -q 'kernel-matches=no' "$sd/b.modinfo"; then
			report 1 "$what: rekmod: a module's vermagic does not name its kernel"
			grep 'kernel-matches=no' "$sd/b.modinfo" | sed 's/^/    /'
		fi
	fi
	grep '\.ko\.xz$' "$sd/common" | xz_list "$WA" >"$sd/a.xz" || true
	grep '\.ko\.xz$' "$sd/common" | xz_list "$WB" >"$sd/b.xz" || true
	if [[ -s $sd/a.xz || -s $sd/b.xz ]]; then
		compare xz "$what" "$sd/a.xz" "$sd/b.xz" "$(wc -l <"$sd/a.xz") files"
	fi
	local x w
	for x in a b; do
		w=$WA
		[[ $x == b ]] && w=$WB
		if [[ -f $w/markers/scripts.log ]]; then
			normalize "$w" <"$w/markers/scripts.log" >"$sd/$x.markers"
		else
			: >"$sd/$x.markers"
		fi
	done
	if [[ -s $sd/a.markers || -s $sd/b.markers ]]; then
		compare markers "$what" "$sd/a.markers" "$sd/b.markers" "$(wc -l <"$sd/a.markers") script runs"
	fi
	LAST_RC_A=$rca
}

# Notes (without failing) when the reference dkms did not do what the
# sequence expects, so that a vacuous pass is visible in the output.
expect_ref() {
	local want=$1 what=$2
	if [[ $want == nonzero ]]; then
		[[ $LAST_RC_A != 0 ]] || log "WARNING: reference dkms: $what exited 0, expected failure"
	elif [[ $LAST_RC_A != "$want" ]]; then
		log "WARNING: reference dkms: $what exited $LAST_RC_A, expected $want"
	fi
}

# begin LABEL SRC_DIRS...: fresh worlds A and B for a sequence.
begin() {
	LABEL=$1
	shift
	WA="$SCRATCH/$LABEL/A"
	WB="$SCRATCH/$LABEL/B"
	STEP_NO=1
	make_world "$WA" "$@"
	make_world "$WB" "$@"
}

# The whole sequence for one real package: $1 label, $2 source dir, $3 m, $4 v.
run_package() {
	local label=$1 src=$2 m=$3 v=$4 t0
	t0=$(date +%s)
	local tmp="$SCRATCH/pkgsrc/$label/$m-$v"
	mkdir -p "${tmp%/*}"
	cp -a "$src" "$tmp"
	begin "$label" "$tmp"
	package_differences "$m" "$v"
	log "module $m/$v ($label), kernels K1=$K1 K2=$K2"

	step plain "add" add -m "$m" -v "$v"
	expect_ref 0 "add"
	step err "add again (already added)" add -m "$m" -v "$v"
	expect_ref nonzero "second add"
	step plain "build -k K1" build -m "$m" -v "$v" -k "$K1"
	if [[ $LAST_RC_A == 0 ]]; then
		step plain "build M/V -k K1 again (already built)" build "$m/$v" -k "$K1"
		step plain "install -k K1 -k K2" install -m "$m" -v "$v" -k "$K1" -k "$K2"
	else
		# no second build of what failed (xtables-addons, evdi on 6.12): one build per kernel and tool
		log "$m/$v does not build for K1 with dkms (exit $LAST_RC_A): installing for K2 only"
		step plain "install -k K2" install -m "$m" -v "$v" -k "$K2"
	fi
	step status "status" status
	step status "status -m M" status -m "$m"
	step status "status -k K2" status -k "$K2"
	step plain "uninstall -k K1" uninstall -m "$m" -v "$v" -k "$K1"
	step status "status after uninstall" status
	step plain "unbuild -k K1" unbuild -m "$m" -v "$v" -k "$K1"
	step status "status after unbuild" status
	step plain "remove --all" remove -m "$m" -v "$v" --all
	expect_ref 0 "remove --all"
	step status "status after remove" status
	step err "error: build -m nosuch -v 1 -k K1" build -m nosuch -v 1 -k "$K1"
	expect_ref nonzero "build of a module not added"
	step err "error: remove -k K1 when not added" remove -m "$m" -v "$v" -k "$K1"
	expect_ref nonzero "remove of a module not added"
	step plain "error: install with no module" install
	expect_ref nonzero "install with no module"
	log "$label done in $(($(date +%s) - t0))s"
}

# ---------------------------------------------------------------------------
# Fixture sequences: fx_<fixture directory name>, called by run_fixture.

# The common sequence for fixture package $1 version $2.
fx_common() {
	local m=$1 v=$2
	step err "add" add -m "$m" -v "$v"
	step plain "build -k K1" build -m "$m" -v "$v" -k "$K1"
	step plain "install -k K1 -k K2" install -m "$m" -v "$v" -k "$K1" -k "$K2"
	step status "status" status
	step plain "uninstall -k K1" uninstall -m "$m" -v "$v" -k "$K1"
	step status "status after uninstall" status
	step plain "remove --all" remove -m "$m" -v "$v" --all
	step status "status after remove" status
}

fx_patches() { fx_common fxpatch 1.0; }
fx_scripts() { fx_common fxscripts 1.0; }
fx_multi() { fx_common fxmulti 1.0; }

fx_crlf() {
	step err "add" add fxcrlf/1.0
	step err "build -k K2" build fxcrlf/1.0 -k "$K2"
	step status "status" status
	step plain "remove --all" remove fxcrlf/1.0 --all
	step status "status after remove" status
}

fx_preinst() {
	step err "add (POST_ADD not executable)" add fxpreinst/1.0
	step plain "build -k K1" build fxpreinst/1.0 -k "$K1"
	step err "install -k K1 (PRE_INSTALL fails)" install fxpreinst/1.0 -k "$K1"
	expect_ref 101 "install with a failing PRE_INSTALL"
	step status "status" status
	step plain "install --force -k K1" install fxpreinst/1.0 -k "$K1" --force
	step status "status after --force" status
	step plain "remove --all" remove fxpreinst/1.0 --all
}

# BUILD_EXCLUSIVE_*: build each kernel, install both, status.
fx_exclusive() {
	local m=$1
	step plain "add" add "$m/1.0"
	step err "build -k K1" build "$m/1.0" -k "$K1"
	step err "build -k K2" build "$m/1.0" -k "$K2"
	step plain "install -k K1 -k K2" install "$m/1.0" -k "$K1" -k "$K2"
	step status "status" status
	step plain "remove --all" remove "$m/1.0" --all
	step status "status after remove" status
}
fx_excl() { fx_exclusive fxexcl; }
fx_exclcfg() { fx_exclusive fxexclcfg; }
fx_exclarch() { fx_exclusive fxexclarch; }

# Directives dkms 3.0.10 does not know: builds only, then remove.
fx_exclunknown() {
	local m=$1
	step plain "add" add "$m/1.0"
	step err "build -k K1" build "$m/1.0" -k "$K1"
	step err "build -k K2" build "$m/1.0" -k "$K2"
	step status "status" status
	step plain "remove --all" remove "$m/1.0" --all
	step status "status after remove" status
}
fx_exclmod() { fx_exclunknown fxexclmod; }
fx_exclmax() { fx_exclunknown fxexclmax; }

fx_depends() {
	step plain "add fxbase" add fxbase/1.0
	step plain "add fxuser" add fxuser/1.0
	step err "build fxuser -k K1 before fxbase is installed" build fxuser/1.0 -k "$K1"
	step plain "unbuild fxuser -k K1" unbuild fxuser/1.0 -k "$K1"
	step plain "install fxbase -k K1 -k K2" install fxbase/1.0 -k "$K1" -k "$K2"
	step plain "install fxuser -k K1 -k K2" install fxuser/1.0 -k "$K1" -k "$K2"
	step status "status" status
	step plain "uninstall fxuser -k K2" uninstall fxuser/1.0 -k "$K2"
	step plain "uninstall fxbase -k K2" uninstall fxbase/1.0 -k "$K2"
	step plain "autoinstall -k K2" autoinstall -k "$K2"
	step status "status after autoinstall" status
	step plain "remove fxuser --all" remove fxuser/1.0 --all
	step plain "remove fxbase --all" remove fxbase/1.0 --all
	step status "status after remove" status
}

fx_sparse() {
	step err "add" add fxsparse/1.0
	step err "build -k K2" build fxsparse/1.0 -k "$K2"
	step status "status" status
	step plain "remove --all" remove fxsparse/1.0 --all
}

fx_multiver() {
	step plain "add 1.0" add fxver/1.0
	step plain "add 2.0" add fxver/2.0
	step status "status (two versions added)" status
	step plain "build 1.0 -k K2" build fxver/1.0 -k "$K2"
	step plain "build 2.0 -k K2" build fxver/2.0 -k "$K2"
	step plain "install 1.0 -k K2" install fxver/1.0 -k "$K2"
	step status "status (1.0 installed)" status
	step plain "install 2.0 -k K2" install fxver/2.0 -k "$K2"
	step status "status (2.0 installed)" status
	step status "status -m fxver -v 1.0" status -m fxver -v 1.0
	step plain "uninstall 2.0 -k K2" uninstall fxver/2.0 -k "$K2"
	step status "status after uninstall 2.0" status
	step plain "remove 1.0 --all" remove fxver/1.0 --all
	step plain "remove 2.0 --all" remove fxver/2.0 --all
	step status "status after remove" status
}

fx_fail() {
	step plain "add" add fxfail/1.0
	step err "build -k K2 (compile error)" build fxfail/1.0 -k "$K2"
	expect_ref 10 "failing build"
	step status "status" status
	step err "install -k K2 (compile error again)" install fxfail/1.0 -k "$K2"
	step plain "remove --all" remove fxfail/1.0 --all
	step status "status after remove" status
}

fx_obsolete() {
	step plain "add" add fxobs/1.0
	step plain "build -k K2" build fxobs/1.0 -k "$K2"
	step err "build -k K1 (newer than OBSOLETE_BY)" build fxobs/1.0 -k "$K1"
	step plain "install -k K2" install fxobs/1.0 -k "$K2"
	step err "install -k K1" install fxobs/1.0 -k "$K1"
	step status "status" status
	step plain "remove --all" remove fxobs/1.0 --all
}

# Scripts that exit non-zero: which failures stop the verb.
fx_scriptfail() {
	step err "add fxscriptfail (POST_ADD exits 5)" add fxscriptfail/1.0
	step err "build fxscriptfail -k K2 (POST_BUILD exits 4)" build fxscriptfail/1.0 -k "$K2"
	step plain "install fxscriptfail -k K2 (POST_INSTALL exits 6)" install fxscriptfail/1.0 -k "$K2"
	step plain "remove fxscriptfail --all (POST_REMOVE exits 7)" remove fxscriptfail/1.0 --all
	step plain "add fxprebuild" add fxprebuild/1.0
	step plain "build fxprebuild -k K2 (PRE_BUILD exits 3)" build fxprebuild/1.0 -k "$K2"
	step status "status" status
	step plain "remove fxprebuild --all" remove fxprebuild/1.0 --all
	step status "status after remove" status
}

# Same-named modules in the kernel: an older versioned one, an unversioned one.
fx_original() {
	step plain "add" add fxorig/2.0
	step err "install -k K2" install fxorig/2.0 -k "$K2"
	step status "status" status
	step plain "uninstall -k K2" uninstall fxorig/2.0 -k "$K2"
	step status "status after uninstall" status
	step plain "remove --all" remove fxorig/2.0 --all
}

fx_deprecated() {
	step err "add" add fxdeprec/1.0
	step err "build -k K2" build fxdeprec/1.0 -k "$K2"
	step err "install -k K2" install fxdeprec/1.0 -k "$K2"
	step status "status" status
	step plain "remove --all" remove fxdeprec/1.0 --all
}

fx_invalid() {
	local mv
	for mv in fxnoname-1.0 fxnover-1.0 fxzero-1.0 fxko-1.0 fxdestko-1.0 fxdest-1.0 \
		fxnoloc-1.0 fxdup-1.0 fxautoinst-1.0; do
		step err "add ${mv%-*}" add -m "${mv%-*}" -v "${mv##*-}"
	done
	step status "status" status
}

fx_override() {
	step plain "add" add fxover/1.0
	step plain "build -k K2" build fxover/1.0 -k "$K2"
	step plain "install -k K2 --directive POST_INSTALL=..." install fxover/1.0 -k "$K2" \
		--directive "POST_INSTALL=post-install.sh from-directive"
	step status "status" status
	step plain "remove --all" remove fxover/1.0 --all
}

# Builds the modules of fixture directory $1 for K2 and puts them into both
# worlds as the kernel's own kernel/drivers/misc/*.ko.
in_tree() {
	local b="$SCRATCH/$LABEL/in-tree" ko
	cp -a "$1" "$b"
	if ! make -C "/usr/src/linux-headers-$K2" M="$b" modules >"$b.log" 2>&1; then
		report 1 "$LABEL: build the in-tree modules of $1 for K2"
		tail -n 5 "$b.log" | sed 's/^/    /'
		return 1
	fi
	for ko in "$b"/*.ko; do
		strip -g "$ko"
		install -D -m 0644 "$ko" "$WA/modules/$K2/kernel/drivers/misc/${ko##*/}"
		install -D -m 0644 "$ko" "$WB/modules/$K2/kernel/drivers/misc/${ko##*/}"
	done
}

# Runs fixture directory $1 (tests/compat/fixtures/$1).
run_fixture() {
	local name=$1 dir="$FIXTURES/$1" t0 srcs=() d
	t0=$(date +%s)
	for d in "$dir"/*-*/; do
		[[ -f $d/dkms.conf ]] && srcs+=("${d%/}")
	done
	if ((${#srcs[@]} == 0)); then
		report 1 "$name: fixture $dir has <module>-<version>/dkms.conf trees"
		return
	fi
	begin "$name" "${srcs[@]}"
	if [[ -d $dir/etc-dkms ]]; then
		cp -a "$dir/etc-dkms/." "$WA/etc/dkms/"
		cp -a "$dir/etc-dkms/." "$WB/etc/dkms/"
	fi
	if [[ -d $dir/in-tree ]]; then
		in_tree "$dir/in-tree" || return 0
	fi
	log "fixture $name: ${srcs[*]##*/}"
	"fx_$name"
	log "$name done in $(($(date +%s) - t0))s"
}

# Extracts package $1's cached .deb and prints "dir<TAB>m<TAB>v" of the
# /usr/src/<m>-<v> tree it ships.
extract_deb() {
	local pkg=$1 deb dest d base m v
	deb=$(find "$DEB_CACHE" -maxdepth 1 -name "${pkg}_*.deb" -print 2>/dev/null | sort -V | tail -n 1)
	[[ -n $deb ]] || return 1
	dest="$SCRATCH/debs/$pkg"
	mkdir -p "$dest"
	dpkg-deb -x "$deb" "$dest" || return 1
	for d in "$dest"/usr/src/*/; do
		d=${d%/}
		[[ -f $d/dkms.conf ]] || continue
		base=${d##*/}
		m=${base%-*}
		v=${base##*-}
		printf '%s\t%s\t%s\n' "$d" "$m" "$v"
		return 0
	done
	return 1
}

# Prints the literal value of dkms.conf directive $2 in file $1.
conf_value() {
	sed -n "s/^$2=[\"']\\{0,1\\}\\([^\"']*\\)[\"']\\{0,1\\}[[:space:]]*\$/\\1/p" "$1" | head -n 1
}

# True when label $1 is selected by $ONLY (or ONLY is unset).
selected() {
	[[ -z ${ONLY:-} || " $ONLY " == *" $1 "* ]]
}

main() {
	command -v "$DKMS" >/dev/null || {
		echo "SKIP: reference dkms ($DKMS) is not installed (run tests/deps.sh)"
		exit 77
	}
	REKMOD=$(abspath "$REKMOD")
	DKMS=$(abspath "$(command -v "$DKMS")")
	if [[ ! -x $REKMOD ]]; then
		echo "Bail out! tool under test $REKMOD is not executable (run make first)"
		echo "0 passed, 1 failed"
		exit 1
	fi
	if ! unshare --mount --propagation private true 2>/dev/null; then
		echo "SKIP: unshare --mount does not work here (needs root and mount namespaces)"
		exit 77
	fi

	K1=$(newest_headers '6.12.*-amd64')
	K2=$(newest_headers '6.1.0-*-amd64')
	if [[ -z $K1 || -z $K2 ]]; then
		echo "SKIP: need /usr/src/linux-headers-6.12.*-amd64 and linux-headers-6.1.0-*-amd64 (found '$K1' '$K2'; run tests/deps.sh)"
		exit 77
	fi

	SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/rekmod-dkms-diff.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	STAMP="$SCRATCH/start-stamp"
	touch "$STAMP"
	log "reference: $DKMS ($("$DKMS" --version 2>/dev/null || echo '?'))"
	log "under test: $REKMOD"
	log "kernels: K1=$K1 K2=$K2"
	log "scratch: $SCRATCH"
	record_differences

	local t_all
	t_all=$(date +%s)

	local conf m v
	conf="$REPO_ROOT/examples/hello/dkms.conf"
	m=$(conf_value "$conf" PACKAGE_NAME)
	v=$(conf_value "$conf" PACKAGE_VERSION)
	if selected hello; then
		if [[ $m == hello && $v == 0.1 ]]; then
			run_package hello "$REPO_ROOT/examples/hello" "$m" "$v"
		else
			report 1 "hello: examples/hello/dkms.conf names hello/0.1 (found '$m/$v')"
		fi
	fi

	local pkg line dir
	for pkg in v4l2loopback-dkms acpi-call-dkms xtables-addons-dkms evdi-dkms; do
		selected "${pkg%-dkms}" || continue
		if ! line=$(extract_deb "$pkg"); then
			report 1 "$pkg: cached .deb in build/test-cache/debs with a /usr/src/<m>-<v>/dkms.conf (run tests/deps.sh)"
			continue
		fi
		IFS=$'\t' read -r dir m v <<<"$line"
		if [[ $(conf_value "$dir/dkms.conf" PACKAGE_NAME) != "$m" ||
			$(conf_value "$dir/dkms.conf" PACKAGE_VERSION) != "$v" ]]; then
			report 1 "$pkg: dkms.conf PACKAGE_NAME/PACKAGE_VERSION match ${dir##*/}"
			continue
		fi
		run_package "${pkg%-dkms}" "$dir" "$m" "$v"
	done

	local fx
	for fx in "$FIXTURES"/*/; do
		fx=${fx%/}
		fx=${fx##*/}
		selected "$fx" || continue
		if ! declare -F "fx_$fx" >/dev/null; then
			report 1 "$fx: the harness has a sequence fx_$fx for fixture $fx"
			continue
		fi
		run_fixture "$fx"
	done

	# HARD RULE guard: nothing may appear in the real trees.
	local leaked
	leaked=$(find /var/lib/dkms /lib/modules /etc/dkms -newer "$STAMP" 2>/dev/null | sort || true)
	if [[ -z $leaked ]]; then
		report 0 "nothing new in the real /var/lib/dkms, /lib/modules and /etc/dkms"
	else
		report 1 "nothing new in the real /var/lib/dkms, /lib/modules and /etc/dkms"
		while IFS= read -r line; do
			printf '    changed: %s\n' "$line"
		done <<<"$leaked"
	fi

	log "total time $(($(date +%s) - t_all))s"
	echo "$PASSED passed, $FAILED failed"
	((FAILED == 0)) || exit 1
	exit 0
}

main "$@"
