#!/bin/bash
# Benchmark: `rekmod status` against Debian's `dkms status` on one tree.
#
# Goal reported: rekmod's status at least 300x faster than dkms's.
#
# A scratch world (mktemp -d, removed on exit) gets 50 registered modules
# hello01..hello50 (copies of examples/hello, renamed: hello.c -> helloNN.c,
# obj-m, PACKAGE_NAME and BUILT_MODULE_NAME) and 3 kernels: the two newest
# kernels with headers in /usr/src/linux-headers-6.1*-amd64 and a fake
# 6.1.0-99-amd64 whose build/ points at real headers.  hello01 is added,
# built and installed for real by rekmod on the real kernels; for the other
# modules the dkms tree state (source symlink, module/<m>.ko, log/make.log,
# kernel-<K>-<arch> symlink, installed copy under updates/dkms) is written
# directly, as a mix of added-only, built and installed-on-1..3-kernels.
#
# Both tools then read the same tree (status does not write): their status
# lines are compared (differences are printed, not fatal), and hyperfine
# times them (dkms: --runs 3; rekmod: --runs 30 --warmup 3).
#
# Nothing outside the scratch world is written: every command gets
# --dkmstree/--sourcetree/--installtree into it (and --no-depmod where it
# applies), TMPDIR points into it, and sign_file/mok_* point at missing or
# scratch paths so dkms never creates /var/lib/dkms/mok.key.
#
# Environment:
#   REKMOD       tool under test (default: build/rekmod in the repo root)
#   DKMS         reference tool (default: /usr/sbin/dkms)
#   DKMS_RUNS    hyperfine runs for dkms (default 3)
#   REKMOD_RUNS  hyperfine runs for rekmod (default 30)
#   KEEP=1       keep the scratch directory (its path is printed)
#
# Exit status: 0 unless a tool or a setup step fails (the goal being missed
# or the status lines differing is reported, not an error).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REKMOD=${REKMOD:-$REPO_ROOT/build/rekmod}
DKMS=${DKMS:-/usr/sbin/dkms}
DKMS_RUNS=${DKMS_RUNS:-3}
REKMOD_RUNS=${REKMOD_RUNS:-30}
NMOD=50
GOAL=300
FAKE_K=6.1.0-99-amd64
V=0.1

export LC_ALL=C

SCRATCH=''
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Kernels with headers in /usr/src, newest first.
find_kernels() {
	local d
	for d in /usr/src/linux-headers-6.1*-amd64; do
		[[ -d $d/include ]] || continue
		printf '%s\n' "${d#/usr/src/linux-headers-}"
	done | sort -V -r
}

# The safety environment for every tool run: temporary files, signing
# tool and MOK key paths all inside the scratch world.
export_safety_env() {
	export TMPDIR="$W/tmp" sign_file=/nonexistent/sign-file \
		mok_signing_key="$W/keys/mok.key" mok_certificate="$W/keys/mok.pub"
}
tree_args() {
	printf '%s ' --dkmstree "$W/dkms" --sourcetree "$W/src" --installtree "$W/modules"
}
# run TOOL ARGS...: one run on the scratch world.
run() {
	local tool=$1
	shift
	# shellcheck disable=SC2046  # paths come from mktemp: no spaces
	(cd "$W" && export_safety_env && exec "$tool" $(tree_args) "$@") </dev/null
}

# Module source tree for hello$1 in $W/src.
make_source() {
	hello_source "$W/src/$1-$V" "$1" "$V"
}

# State written directly, in dkms's layout.
fake_added() {
	local m=$1
	mkdir -p "$W/dkms/$m/$V"
	ln -s "$W/src/$m-$V" "$W/dkms/$m/$V/source"
}
fake_built() {
	local m=$1 k=$2 d="$W/dkms/$1/$V/$2/$ARCH"
	mkdir -p "$d/module" "$d/log"
	cp "$KO" "$d/module/$m$KO_SUFFIX"
	printf 'DKMS make.log for %s-%s for kernel %s (%s)\n(written by bench/status.sh)\n' \
		"$m" "$V" "$k" "$ARCH" >"$d/log/make.log"
}
fake_installed() {
	local m=$1 k=$2
	fake_built "$m" "$k"
	ln -s "$V/$k/$ARCH" "$W/dkms/$m/kernel-$k-$ARCH"
	mkdir -p "$W/modules/$k/updates/dkms"
	cp "$KO" "$W/modules/$k/updates/dkms/$m$KO_SUFFIX"
}

main() {
	command -v "$DKMS" >/dev/null || die "reference dkms ($DKMS) is not installed"
	command -v hyperfine >/dev/null || die "hyperfine is not installed"
	command -v jq >/dev/null || die "jq is not installed"
	REKMOD=$(abspath "$REKMOD")
	DKMS=$(abspath "$(command -v "$DKMS")")
	[[ -x $REKMOD ]] || die "tool under test $REKMOD is not executable (run make first)"

	local kernels
	mapfile -t kernels < <(find_kernels)
	((${#kernels[@]} >= 1)) || die "no /usr/src/linux-headers-6.1*-amd64 headers found"
	K1=${kernels[0]}
	# With a single header tree the second kernel is a second fake one.
	K2=${kernels[1]:-6.1.0-98-amd64}
	ARCH=$(uname -m)

	SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/rekmod-bench-status.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	W=$SCRATCH/w
	local stamp="$SCRATCH/start-stamp"
	touch "$stamp"
	mkdir -p "$W/src" "$W/dkms" "$W/tmp" "$W/keys"
	# Snapshot of the binary: build/rekmod may be relinked while we run.
	cp "$REKMOD" "$SCRATCH/rekmod"
	log "under test: $REKMOD (copied to $SCRATCH/rekmod)"
	REKMOD="$SCRATCH/rekmod"
	local k
	for k in "$K1" "$K2" "$FAKE_K"; do
		mkdir -p "$W/modules/$k"
		if [[ -d /usr/src/linux-headers-$k ]]; then
			ln -s "/usr/src/linux-headers-$k" "$W/modules/$k/build"
		else
			ln -s "/usr/src/linux-headers-$K1" "$W/modules/$k/build"
		fi
	done
	log "reference: $DKMS ($("$DKMS" --version 2>/dev/null || echo '?'))"
	log "kernels: $K1 $K2 $FAKE_K (fake), arch $ARCH"

	local i m
	for ((i = 1; i <= NMOD; i++)); do
		make_source "$(printf 'hello%02d' "$i")"
	done

	# hello01: real add/build/install with rekmod on the real kernels.
	local real_k=("$K1")
	[[ -d /usr/src/linux-headers-$K2 ]] && real_k+=("$K2")
	local kargs=()
	for k in "${real_k[@]}"; do kargs+=(-k "$k"); done
	local t0=$SECONDS
	run "$REKMOD" add -m hello01 -v "$V" >"$SCRATCH/setup.log" 2>&1 ||
		{ cat "$SCRATCH/setup.log"; die "rekmod add hello01 failed"; }
	run "$REKMOD" build -m hello01 -v "$V" "${kargs[@]}" >>"$SCRATCH/setup.log" 2>&1 ||
		{ cat "$SCRATCH/setup.log"; die "rekmod build hello01 failed"; }
	run "$REKMOD" --no-depmod install -m hello01 -v "$V" "${kargs[@]}" >>"$SCRATCH/setup.log" 2>&1 ||
		{ cat "$SCRATCH/setup.log"; die "rekmod install hello01 failed"; }
	log "hello01 built and installed for real on ${real_k[*]} in $((SECONDS - t0))s"

	KO=$(find "$W/dkms/hello01/$V/$K1/$ARCH/module" -name 'hello01.ko*' -print -quit)
	[[ -n $KO && -f $KO ]] || die "rekmod did not produce hello01.ko for $K1"
	KO_SUFFIX=${KO##*/hello01}

	# The mix for hello02..hello50 (lines: 1 per added-only module, else
	# 1 per kernel the module is built for):
	#   02-05  added only
	#   06-10  built on K1, not installed
	#   11-20  installed on K1
	#   21-30  installed on K1, built (not installed) on K2
	#   31-40  installed on K1 and K2
	#   41-50  installed on K1, K2 and the fake kernel
	for ((i = 2; i <= NMOD; i++)); do
		m=$(printf 'hello%02d' "$i")
		fake_added "$m"
		if ((i <= 5)); then
			:
		elif ((i <= 10)); then
			fake_built "$m" "$K1"
		elif ((i <= 20)); then
			fake_installed "$m" "$K1"
		elif ((i <= 30)); then
			fake_installed "$m" "$K1"
			fake_built "$m" "$K2"
		elif ((i <= 40)); then
			fake_installed "$m" "$K1"
			fake_installed "$m" "$K2"
		else
			fake_installed "$m" "$K1"
			fake_installed "$m" "$K2"
			fake_installed "$m" "$FAKE_K"
		fi
	done

	# Same output?
	local rc_a=0 rc_b=0
	run "$DKMS" status >"$SCRATCH/dkms.out" 2>"$SCRATCH/dkms.err" || rc_a=$?
	run "$REKMOD" status >"$SCRATCH/rekmod.out" 2>"$SCRATCH/rekmod.err" || rc_b=$?
	((rc_a == 0)) || { cat "$SCRATCH/dkms.err" >&2; die "dkms status exited $rc_a"; }
	((rc_b == 0)) || { cat "$SCRATCH/rekmod.err" >&2; die "rekmod status exited $rc_b"; }
	local lines_a lines_b
	lines_a=$(wc -l <"$SCRATCH/dkms.out")
	lines_b=$(wc -l <"$SCRATCH/rekmod.out")
	local same=yes
	if cmp -s "$SCRATCH/dkms.out" "$SCRATCH/rekmod.out"; then
		log "status output identical: $lines_a lines"
	else
		same=no
		log "WARNING: status output differs (dkms $lines_a lines, rekmod $lines_b lines):"
		diff -u --label "dkms status" --label "rekmod status" \
			"$SCRATCH/dkms.out" "$SCRATCH/rekmod.out" | sed 's/^/#   /' || true
	fi
	if [[ -s $SCRATCH/dkms.err || -s $SCRATCH/rekmod.err ]]; then
		log "stderr: dkms $(wc -l <"$SCRATCH/dkms.err") lines, rekmod $(wc -l <"$SCRATCH/rekmod.err") lines"
		sed 's/^/#   dkms: /' "$SCRATCH/dkms.err" | head -n 5
		sed 's/^/#   rekmod: /' "$SCRATCH/rekmod.err" | head -n 5
	fi

	# Timing.  -N: no intermediate shell, the commands are plain argv;
	# hyperfine passes the safety environment on to them.
	local cmd_a cmd_b
	cmd_a="$DKMS $(tree_args)status"
	cmd_b="$REKMOD $(tree_args)status"
	log "timing dkms status ($DKMS_RUNS runs) ..."
	(cd "$W" && export_safety_env && hyperfine -N --style basic --runs "$DKMS_RUNS" \
		--export-json "$SCRATCH/dkms.json" -n "dkms status" "$cmd_a") |
		sed 's/^/#   /'
	log "timing rekmod status ($REKMOD_RUNS runs, 3 warmup) ..."
	(cd "$W" && export_safety_env && hyperfine -N --style basic --warmup 3 --runs "$REKMOD_RUNS" \
		--export-json "$SCRATCH/rekmod.json" -n "rekmod status" "$cmd_b") |
		sed 's/^/#   /'

	local ma sa mb sb
	read -r ma sa < <(jq -r '.results[0] | "\(.mean) \(.stddev // 0)"' "$SCRATCH/dkms.json")
	read -r mb sb < <(jq -r '.results[0] | "\(.mean) \(.stddev // 0)"' "$SCRATCH/rekmod.json")

	# HARD RULE guard (reported, not fatal): nothing new in the real trees.
	warn_if_real_trees_changed "$stamp"

	echo
	echo "== status benchmark: $NMOD modules, 3 kernels ($K1 $K2 $FAKE_K) =="
	awk -v la="$lines_a" -v lb="$lines_b" -v same="$same" \
		-v ma="$ma" -v sa="$sa" -v mb="$mb" -v sb="$sb" \
		-v na="$DKMS_RUNS" -v nb="$REKMOD_RUNS" -v goal="$GOAL" 'BEGIN {
		printf "status lines:      %d (dkms), %d (rekmod), identical: %s\n", la, lb, same
		printf "dkms status:       %10.2f ms +- %.2f ms  (mean +- stddev, %d runs)\n", ma * 1000, sa * 1000, na
		printf "rekmod status:     %10.3f ms +- %.3f ms  (mean +- stddev, %d runs)\n", mb * 1000, sb * 1000, nb
		r = ma / mb
		# relative errors add in quadrature
		dr = r * sqrt((sa / ma) ^ 2 + (sb / mb) ^ 2)
		printf "ratio dkms/rekmod: %10.0fx +- %.0fx\n", r, dr
		printf "goal >= %dx: %s\n", goal, (r >= goal ? "met" : "not met")
	}'
}

main "$@"
