#!/bin/bash
# Benchmark: `rekmod sync` when there is nothing to do (goal: <= 20 ms).
#
# This is what every kernel or package hook pays when all is up to date.
#
# A scratch root R (mktemp -d, removed on exit; rekmod runs with --root R)
# gets 20 registered modules hello01..hello20 (copies of examples/hello,
# renamed: hello.c -> helloNN.c, obj-m, PACKAGE_NAME and BUILT_MODULE_NAME)
# and 3 kernels: the two newest with headers in
# /usr/src/linux-headers-6.1.0-*-amd64, and a fake 6.1.0-99-amd64 whose
# R/lib/modules/6.1.0-99-amd64/build points at the newest real headers (its
# modules carry that kernel's vermagic: fine for timing).  Each kernel
# directory gets an empty modules.order/modules.builtin and a depmod, so it
# looks like an installed image and sync's depmod really runs.
#
# The state is built for real, once, by `rekmod --root R sync` (60 builds),
# which must leave all 20 modules installed on the 3 kernels.  Then:
#   * one more `rekmod --root R sync` is checked to be a no-op (exit 0, the
#     tree listing unchanged, 0 built / 0 installed in its summary);
#   * hyperfine -N --warmup 3 --runs 50 times `rekmod --root R sync` and
#     `rekmod --root R status`;
#   * the tree is checked again to be unchanged by the timed runs.
#
# Nothing outside R is written: TMPDIR points into the scratch directory,
# sign_file at a missing binary, mok_signing_key/mok_certificate into R.
# A listing of the real /var/lib/dkms and /lib/modules is compared before
# and after.  The rekmod binary is copied into the scratch directory first.
#
# Environment:
#   REKMOD  tool under test (default: build/rekmod in the repo root)
#   RUNS    hyperfine runs (default 50)
#   KEEP=1  keep the scratch directory (its path is printed)
#
# Exit status: 0 unless a setup step fails (a missed goal is reported).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REKMOD=${REKMOD:-$REPO_ROOT/build/rekmod}
RUNS=${RUNS:-50}
NMOD=20
FAKE_K=6.1.0-99-amd64
V=0.1
GOAL_MS=20

export LC_ALL=C

SCRATCH=''
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
R=''
find_kernels() {
	local d
	for d in /usr/src/linux-headers-6.1.0-*-amd64; do
		[[ -d $d/include ]] || continue
		printf '%s\n' "${d#/usr/src/linux-headers-}"
	done | sort -V -r | head -n 2
}

safety_env() {
	export TMPDIR="$SCRATCH/tmp" sign_file=/nonexistent/sign-file \
		mok_signing_key="$R/var/lib/dkms/mok.key" mok_certificate="$R/var/lib/dkms/mok.pub"
}

run() {
	(safety_env && exec "$REKMOD" --root "$R" "$@") </dev/null
}

# Source tree for hello$1 in R/usr/src.
make_source() {
	local d="$R/usr/src/$1-$V"
	hello_source "$d" "$1" "$V"
	grep -q '^AUTOINSTALL="yes"' "$d/dkms.conf" || die "$d/dkms.conf is not AUTOINSTALL"
}

# Everything in R with sizes and mtimes, but the lock file (rewritten by
# every run, it holds no state).
tree_listing() {
	(cd "$R" && find . ! -name .rekmod.lock -printf '%p %y %s %T@ %l\n') | sort
}

real_trees_listing() {
	find /var/lib/dkms /lib/modules/ -printf '%p %y %s %T@ %l\n' 2>/dev/null | sort
}

main() {
	command -v hyperfine >/dev/null || die "hyperfine is not installed"
	command -v jq >/dev/null || die "jq is not installed"
	command -v depmod >/dev/null || die "depmod (kmod) is not installed"
	REKMOD=$(abspath "$REKMOD")
	[[ -x $REKMOD ]] || die "tool under test $REKMOD is not executable (run make first)"
	local kernels
	mapfile -t kernels < <(find_kernels)
	((${#kernels[@]} >= 1)) || die "no /usr/src/linux-headers-6.1.0-*-amd64 headers found"
	local K1=${kernels[0]} K2=${kernels[1]:-6.1.0-98-amd64}

	local t_all=$SECONDS
	SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/rekmod-bench-sync-noop.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	R=$SCRATCH/root
	real_trees_listing >"$SCRATCH/real-before"
	mkdir -p "$SCRATCH/tmp" "$R/var/lib/dkms" "$R/usr/src" "$R/lib/modules" "$R/etc/dkms"
	cp "$REKMOD" "$SCRATCH/rekmod"
	log "under test: $REKMOD (copied to $SCRATCH/rekmod)"
	REKMOD="$SCRATCH/rekmod"

	local k hdr
	for k in "$K1" "$K2" "$FAKE_K"; do
		hdr=/usr/src/linux-headers-$k
		[[ -d $hdr ]] || hdr=/usr/src/linux-headers-$K1
		mkdir -p "$R/lib/modules/$k"
		ln -s "$hdr" "$R/lib/modules/$k/build"
		: >"$R/lib/modules/$k/modules.order"
		: >"$R/lib/modules/$k/modules.builtin"
		depmod -b "$R" -a "$k" 2>/dev/null || die "depmod -b $R -a $k failed"
	done
	log "kernels: $K1 $K2 (real headers) $FAKE_K (fake: build -> /usr/src/linux-headers-$K1)"
	[[ $K2 == 6.1.0-98-amd64 ]] && log "only one real header tree: $K2 is fake too"

	local i m
	for ((i = 1; i <= NMOD; i++)); do
		m=$(printf 'hello%02d' "$i")
		make_source "$m"
		run add -m "$m" -v "$V" >>"$SCRATCH/setup.log" 2>&1 ||
			{ tail -n 20 "$SCRATCH/setup.log"; die "rekmod add $m failed"; }
	done

	local t0=$SECONDS rc=0
	run sync >>"$SCRATCH/setup.log" 2>&1 || rc=$?
	if ((rc != 0)); then
		tail -n 20 "$SCRATCH/setup.log"
		die "the initial rekmod sync (the real builds) exited $rc"
	fi
	log "initial sync: $((NMOD * 3)) builds and installs in $((SECONDS - t0))s"
	local n_inst=0
	for ((i = 1; i <= NMOD; i++)); do
		m=$(printf 'hello%02d' "$i")
		for k in "$K1" "$K2" "$FAKE_K"; do
			[[ -L $R/var/lib/dkms/$m/kernel-$k-$(uname -m) && -n $(find "$R/lib/modules/$k" -name "$m.ko*" -print -quit) ]] &&
				n_inst=$((n_inst + 1))
		done
	done
	((n_inst == NMOD * 3)) || die "after the initial sync only $n_inst of $((NMOD * 3)) module/kernel pairs are installed"
	local status_lines
	status_lines=$(run status | grep -c ': installed$' || true)
	log "installed: $n_inst module/kernel pairs; rekmod status: $status_lines 'installed' lines"

	# The no-op, checked once by hand.
	tree_listing >"$SCRATCH/tree-before"
	rc=0
	run sync >"$SCRATCH/noop.out" 2>&1 || rc=$?
	((rc == 0)) || { cat "$SCRATCH/noop.out"; die "no-op sync exited $rc"; }
	tree_listing >"$SCRATCH/tree-after"
	if ! cmp -s "$SCRATCH/tree-before" "$SCRATCH/tree-after"; then
		log "WARNING: the no-op sync changed the tree:"
		diff "$SCRATCH/tree-before" "$SCRATCH/tree-after" | head -n 20 | sed 's/^/#   /' || true
	fi
	log "no-op sync output: $(if [[ -s $SCRATCH/noop.out ]]; then tr '\n' ' ' <"$SCRATCH/noop.out"; else echo '(none)'; fi)"
	cp "$SCRATCH/tree-after" "$SCRATCH/tree-before"

	# Timing (-N: plain argv, no shell).
	log "timing ($RUNS runs, 3 warmup) ..."
	(safety_env && hyperfine -N --style basic --warmup 3 --runs "$RUNS" \
		--export-json "$SCRATCH/times.json" \
		-n "rekmod sync (no-op)" "$REKMOD --root $R sync" \
		-n "rekmod status" "$REKMOD --root $R status") </dev/null | sed 's/^/#   /'

	tree_listing >"$SCRATCH/tree-after"
	local changed=no
	if ! cmp -s "$SCRATCH/tree-before" "$SCRATCH/tree-after"; then
		changed=yes
		log "WARNING: the timed runs changed the tree:"
		diff "$SCRATCH/tree-before" "$SCRATCH/tree-after" | head -n 20 | sed 's/^/#   /' || true
	fi
	local leaked=no
	real_trees_listing >"$SCRATCH/real-after"
	if ! cmp -s "$SCRATCH/real-before" "$SCRATCH/real-after"; then
		leaked=yes
		log "WARNING: the real /var/lib/dkms or /lib/modules changed during the run:"
		diff "$SCRATCH/real-before" "$SCRATCH/real-after" | head -n 20 | sed 's/^/#   /' || true
	fi

	echo
	echo "== no-op sync benchmark: $NMOD modules x 3 kernels ($K1 $K2 $FAKE_K), all installed =="
	jq -r --argjson goal "$GOAL_MS" '.results[] |
		"\(.command | . + ":" + (" " * (22 - length)))mean \(.mean * 1000 * 100 | round / 100) ms +- \(.stddev * 1000 * 100 | round / 100) ms, median \(.median * 1000 * 100 | round / 100) ms, min \(.min * 1000 * 100 | round / 100) ms (\(.times | length) runs)"' \
		"$SCRATCH/times.json"
	jq -r --argjson goal "$GOAL_MS" '.results[0] |
		"goal: no-op sync <= \($goal) ms (mean): " + (if .mean * 1000 <= $goal then "met" else "not met" end)' \
		"$SCRATCH/times.json"
	echo "tree changed by the timed runs: $changed; real /var/lib/dkms, /lib/modules changed: $leaked"
	log "total script time $((SECONDS - t_all))s"
}

main "$@"
exit 0
