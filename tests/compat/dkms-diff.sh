#!/bin/bash
# Differential test: rekmod against Debian's dkms.
#
# For each module source (examples/hello, and the v4l2loopback-dkms and
# acpi-call-dkms trees from the .debs cached by tests/deps.sh) and two kernels
# with headers, two identical scratch worlds are built: A runs Debian's dkms,
# B runs rekmod.  The same sequence of commands runs in both worlds; after
# every step the exit codes, the stdout of `status` steps and the lists of
# files and symlinks under dkms/ and modules/ must be identical.
#
# Nothing outside a mktemp -d scratch directory is written: every command gets
# --dkmstree/--sourcetree/--installtree into the world and --no-depmod, and
# sign_file points at a missing binary so that dkms does not create
# /var/lib/dkms/mok.key.  The script checks at the end that nothing new
# appeared in /var/lib/dkms or /lib/modules.
#
# Environment:
#   REKMOD  tool under test (default: build/rekmod in the repo root).
#           REKMOD=/usr/sbin/dkms checks the harness itself: all must pass.
#   DKMS    reference tool (default: /usr/sbin/dkms).
#   KEEP    set to 1 to keep the scratch directory (its path is printed).
#   ONLY    space-separated subset of: hello v4l2loopback acpi-call
#           (default: all three).
#
# Output: `ok N - ...` / `not ok N - ...` per check, diffs for failures,
# and a final `N passed, M failed` line.  Exit 0 if all passed, 1 if any
# failed, 77 (with a SKIP line) if fewer than two kernels have headers.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
REKMOD=${REKMOD:-$REPO_ROOT/build/rekmod}
DKMS=${DKMS:-/usr/sbin/dkms}
DEB_CACHE="$REPO_ROOT/build/test-cache/debs"
STEP_TIMEOUT=600

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

log() { printf '# %s\n' "$*"; }

# shellcheck disable=SC2317  # invoked from the EXIT trap
cleanup() {
	if [[ -n $SCRATCH && -d $SCRATCH ]]; then
		if [[ ${KEEP:-0} == 1 ]]; then
			log "scratch kept in $SCRATCH"
		else
			rm -rf -- "$SCRATCH"
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

abspath() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$PWD" "$1" ;;
	esac
}

# Prints the two newest kernels K (sort -V) that have both
# /usr/src/linux-headers-K and a /lib/modules/K/build, newest first.
find_kernels() {
	local d k
	for d in /usr/src/linux-headers-6.1.0-*-amd64; do
		[[ -d $d ]] || continue
		k=${d#/usr/src/linux-headers-}
		[[ -d /lib/modules/$k/build/include ]] || continue
		printf '%s\n' "$k"
	done | sort -V -r | head -n 2
}

# Creates world $1 for module source dir $2 named $3 (m-v).
make_world() {
	local w=$1 src=$2 mv=$3 k
	mkdir -p "$w/src" "$w/dkms" "$w/tmp" "$w/keys"
	cp -a "$src" "$w/src/$mv"
	for k in "$K1" "$K2"; do
		mkdir -p "$w/modules/$k"
		ln -s "/usr/src/linux-headers-$k" "$w/modules/$k/build"
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
		exec env TMPDIR="$w/tmp" \
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
# world $1, with the world path replaced by W; skips dkms build/ staging,
# log/.config and rekmod's .rekmod* files.
tree_list() {
	local w=$1
	(
		cd "$w"
		find dkms modules \( -type f -o -type l \) -printf '%p\t%y\t%l\n'
	) | awk -F'\t' '
		$1 ~ /^dkms\/[^\/]+\/[^\/]+\/build(\/|$)/ { next }
		$1 ~ /(^|\/)log\/\.config$/ { next }
		$1 ~ /(^|\/)\.rekmod[^\/]*$/ { next }
		$2 == "l" { print $1 " -> " $3; next }
		{ print $1 }' | sed "s|$(sed_quote "$w")|W|g" | sort
}

# Escapes a string for use as a literal in a sed regex.
sed_quote() {
	printf '%s' "$1" | sed 's/[][\\.*^$|/]/\\&/g'
}

# Replaces the world path $2 with W in file $1's content.
normalize() {
	sed "s|$(sed_quote "$2")|W|g" "$1"
}

# step MODULE_LABEL KIND DESCRIPTION ARGS...
# KIND: plain (rc + trees), status (rc + stdout + trees).
step() {
	local label=$1 kind=$2 desc=$3
	shift 3
	local sd="$SCRATCH/$label/steps/$STEP_NO"
	STEP_NO=$((STEP_NO + 1))
	mkdir -p "$sd"
	run_tool "$WA" "$DKMS" "$sd/a" "$@"
	run_tool "$WB" "$REKMOD" "$sd/b" "$@"
	local rca rcb ta tb
	rca=$(<"$sd/a.rc")
	rcb=$(<"$sd/b.rc")
	ta=$(<"$sd/a.time")
	tb=$(<"$sd/b.time")
	local what="$label: $desc"

	if [[ $rca == "$rcb" ]]; then
		report 0 "$what: exit code $rca (dkms ${ta}s, rekmod ${tb}s)"
	else
		report 1 "$what: exit code dkms=$rca rekmod=$rcb (dkms ${ta}s, rekmod ${tb}s)"
		sed 's/^/    dkms stderr: /' "$sd/a.err" | tail -n 5
		sed 's/^/    rekmod stderr: /' "$sd/b.err" | tail -n 5
	fi
	if [[ $rca == 124 ]]; then
		log "dkms timed out after ${STEP_TIMEOUT}s"
	fi

	if [[ $kind == status ]]; then
		normalize "$sd/a.out" "$WA" >"$sd/a.status"
		normalize "$sd/b.out" "$WB" >"$sd/b.status"
		if cmp -s "$sd/a.status" "$sd/b.status"; then
			report 0 "$what: status output ($(wc -l <"$sd/a.status") lines)"
		else
			report 1 "$what: status output differs"
			show_diff "$sd/a.status" "$sd/b.status"
		fi
	fi

	tree_list "$WA" >"$sd/a.tree"
	tree_list "$WB" >"$sd/b.tree"
	if cmp -s "$sd/a.tree" "$sd/b.tree"; then
		report 0 "$what: trees ($(wc -l <"$sd/a.tree") entries)"
	else
		report 1 "$what: trees differ"
		show_diff "$sd/a.tree" "$sd/b.tree"
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

# Runs the whole sequence for one module: $1 label, $2 source dir, $3 m, $4 v.
run_module() {
	local label=$1 src=$2 m=$3 v=$4 t0 t1
	WA="$SCRATCH/$label/A"
	WB="$SCRATCH/$label/B"
	STEP_NO=1
	make_world "$WA" "$src" "$m-$v"
	make_world "$WB" "$src" "$m-$v"
	log "module $m/$v ($label), kernels K1=$K1 K2=$K2"
	t0=$(date +%s)

	step "$label" plain "add" add -m "$m" -v "$v"
	expect_ref 0 "add"
	step "$label" plain "add again (already added)" add -m "$m" -v "$v"
	expect_ref nonzero "second add"
	step "$label" plain "build -k K1" build -m "$m" -v "$v" -k "$K1"
	expect_ref 0 "build -k $K1"
	step "$label" plain "build M/V -k K1 again (already built)" build "$m/$v" -k "$K1"
	# dkms 3.0.10 prints "already built ... skip" and exits 0 here.
	expect_ref 0 "second build"
	step "$label" plain "install -k K1 -k K2" install -m "$m" -v "$v" -k "$K1" -k "$K2"
	expect_ref 0 "install -k $K1 -k $K2"
	step "$label" status "status" status
	step "$label" status "status -m M" status -m "$m"
	step "$label" status "status -k K2" status -k "$K2"
	step "$label" plain "uninstall -k K1" uninstall -m "$m" -v "$v" -k "$K1"
	expect_ref 0 "uninstall -k $K1"
	step "$label" status "status after uninstall" status
	step "$label" plain "unbuild -k K1" unbuild -m "$m" -v "$v" -k "$K1"
	expect_ref 0 "unbuild -k $K1"
	step "$label" status "status after unbuild" status
	step "$label" plain "remove --all" remove -m "$m" -v "$v" --all
	expect_ref 0 "remove --all"
	step "$label" status "status after remove" status
	step "$label" plain "error: build -m nosuch -v 1 -k K1" build -m nosuch -v 1 -k "$K1"
	expect_ref nonzero "build of a module not added"
	step "$label" plain "error: remove -k K1 when not added" remove -m "$m" -v "$v" -k "$K1"
	expect_ref nonzero "remove of a module not added"
	step "$label" plain "error: install with no module" install
	expect_ref nonzero "install with no module"

	t1=$(date +%s)
	log "module $m/$v done in $((t1 - t0))s"
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

# True when module label $1 is selected by $ONLY (or ONLY is unset).
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

	local kernels
	mapfile -t kernels < <(find_kernels)
	if ((${#kernels[@]} < 2)); then
		echo "SKIP: need two linux-headers-6.1.0-*-amd64 trees in /usr/src with /lib/modules/K/build, found ${#kernels[@]} (run tests/deps.sh)"
		exit 77
	fi
	K1=${kernels[0]}
	K2=${kernels[1]}

	SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/rekmod-dkms-diff.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	STAMP="$SCRATCH/start-stamp"
	touch "$STAMP"
	log "reference: $DKMS ($("$DKMS" --version 2>/dev/null || echo '?'))"
	log "under test: $REKMOD"
	log "scratch: $SCRATCH"

	local t_all
	t_all=$(date +%s)

	local conf m v
	conf="$REPO_ROOT/examples/hello/dkms.conf"
	m=$(conf_value "$conf" PACKAGE_NAME)
	v=$(conf_value "$conf" PACKAGE_VERSION)
	if ! selected hello; then
		log "hello skipped (ONLY=$ONLY)"
	elif [[ $m == hello && $v == 0.1 ]]; then
		run_module hello "$REPO_ROOT/examples/hello" "$m" "$v"
	else
		report 1 "hello: examples/hello/dkms.conf names hello/0.1 (found '$m/$v')"
	fi

	local pkg line dir
	for pkg in v4l2loopback-dkms acpi-call-dkms; do
		if ! selected "${pkg%-dkms}"; then
			log "${pkg%-dkms} skipped (ONLY=$ONLY)"
			continue
		fi
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
		run_module "${pkg%-dkms}" "$dir" "$m" "$v"
	done

	# HARD RULE guard: nothing may appear in the real trees.
	local leaked
	leaked=$(find /var/lib/dkms /lib/modules -newer "$STAMP" 2>/dev/null | sort || true)
	if [[ -z $leaked ]]; then
		report 0 "nothing new in the real /var/lib/dkms and /lib/modules"
	else
		report 1 "nothing new in the real /var/lib/dkms and /lib/modules"
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
