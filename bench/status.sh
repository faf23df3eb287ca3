#!/bin/bash
# Benchmark: `rekmod status` against its own start-up (`rekmod --version`)
# and against Debian's `dkms status`, on one tree (issue 14).
#
# Goals reported:
#   median(rekmod status) <= 2 x median(rekmod --version)   (same machine)
#   median(dkms status)   >= 300 x median(rekmod status)
#
# The tree, in a scratch world (mktemp -d, removed on exit):
#   50 registered modules hello01..hello50 (copies of examples/hello,
#   renamed: hello.c -> helloNN.c, obj-m, PACKAGE_NAME, BUILT_MODULE_NAME),
#   all added with `rekmod add`; hello01..hello03 are also built and
#   installed for real by rekmod (add, build, install --no-depmod) on 2
#   kernels, the two newest with headers in /usr/src/linux-headers-6.1*-amd64
#   (with one header tree the second kernel is a fake one whose build/
#   points at the same headers). Status then prints 6 "installed" lines and
#   47 "added" lines.
#
# Both tools read the same tree. Their status lines are compared
# (differences are printed, not fatal). dkms status is checked to write
# nothing: a listing of the scratch world (paths, sizes, mtimes, modes) is
# taken before and after it, and its temporary files must be gone from
# TMPDIR. Then ONE hyperfine run (-N, no shell) times the three commands
# `rekmod --version`, `rekmod ... status` and `dkms ... status`, and the
# ratios of the medians are printed.
#
# Nothing outside the scratch world is written: every command gets
# --dkmstree/--sourcetree/--installtree into it (and --no-depmod where it
# applies), TMPDIR points into it, and sign_file/mok_* point at missing or
# scratch paths so dkms never creates /var/lib/dkms/mok.key.
#
# Environment:
#   REKMOD     tool under test (default: build/rekmod in the repo root)
#   DKMS       reference tool (default: /usr/sbin/dkms)
#   MIN_RUNS   hyperfine --min-runs (default 10; the fast commands get
#              more runs, hyperfine runs each for at least 3 s)
#   WARMUP     hyperfine --warmup (default 3)
#   KEEP=1     keep the scratch directory (its path is printed)
#
# Exit status: 0 unless a tool or a setup step fails (a goal being missed
# or the status lines differing is reported, not an error).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REKMOD=${REKMOD:-$REPO_ROOT/build/rekmod}
DKMS=${DKMS:-/usr/sbin/dkms}
MIN_RUNS=${MIN_RUNS:-10}
WARMUP=${WARMUP:-3}
NMOD=50
NINST=3
GOAL_DKMS=300
GOAL_VERSION=2
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
# setup TOOL ARGS...: run, output to the setup log, fatal on failure.
setup() {
	run "$@" >>"$SCRATCH/setup.log" 2>&1 || { cat "$SCRATCH/setup.log"; die "$* failed"; }
}

# Every file and directory of the scratch world with size, mtime and mode;
# TMPDIR itself without its mtime (dkms makes and removes temporary files
# there: they must be gone, which the listing of its contents shows).
world_listing() {
	find "$W" -path "$W/tmp" -printf '%p %y\n' -o -printf '%p %y %s %T@ %m %l\n' | sort
}

# dkms status must leave the scratch world as it was (its mktemp files in
# TMPDIR included); and nothing new in the host's trees.
check_dkms_writes_nothing() {
	local before after
	before=$(world_listing)
	run "$DKMS" status >/dev/null 2>&1 || true
	after=$(world_listing)
	if [[ $before == "$after" ]]; then
		log "dkms status wrote nothing in the scratch world (listing of $(wc -l <<<"$before") entries unchanged)"
	else
		log "WARNING: dkms status changed the scratch world:"
		diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") | sed 's/^/#   /' || true
	fi
}

# The state: all NMOD added, the first NINST built and installed for real.
make_tree() {
	local i m k kargs=()
	for k in "${KERNELS[@]}"; do kargs+=(-k "$k"); done
	for ((i = 1; i <= NMOD; i++)); do
		m=$(printf 'hello%02d' "$i")
		hello_source "$W/src/$m-$V" "$m" "$V"
		setup "$REKMOD" add -m "$m" -v "$V"
	done
	local t0=$SECONDS
	for ((i = 1; i <= NINST; i++)); do
		m=$(printf 'hello%02d' "$i")
		setup "$REKMOD" build -m "$m" -v "$V" "${kargs[@]}"
		setup "$REKMOD" --no-depmod install -m "$m" -v "$V" "${kargs[@]}"
	done
	log "$NMOD added; hello01..hello0$NINST built and installed for real on ${KERNELS[*]} in $((SECONDS - t0))s"
}

# Same output from both tools?
compare_output() {
	local rc_a=0 rc_b=0
	run "$DKMS" status >"$SCRATCH/dkms.out" 2>"$SCRATCH/dkms.err" || rc_a=$?
	run "$REKMOD" status >"$SCRATCH/rekmod.out" 2>"$SCRATCH/rekmod.err" || rc_b=$?
	((rc_a == 0)) || { cat "$SCRATCH/dkms.err" >&2; die "dkms status exited $rc_a"; }
	((rc_b == 0)) || { cat "$SCRATCH/rekmod.err" >&2; die "rekmod status exited $rc_b"; }
	LINES_A=$(wc -l <"$SCRATCH/dkms.out")
	LINES_B=$(wc -l <"$SCRATCH/rekmod.out")
	SAME=yes
	if cmp -s "$SCRATCH/dkms.out" "$SCRATCH/rekmod.out"; then
		log "status output identical: $LINES_A lines ($(grep -c ': installed' "$SCRATCH/dkms.out") installed)"
	else
		SAME=no
		log "WARNING: status output differs (dkms $LINES_A lines, rekmod $LINES_B lines):"
		diff -u --label "dkms status" --label "rekmod status" \
			"$SCRATCH/dkms.out" "$SCRATCH/rekmod.out" | sed 's/^/#   /' || true
	fi
	if [[ -s $SCRATCH/dkms.err || -s $SCRATCH/rekmod.err ]]; then
		log "stderr: dkms $(wc -l <"$SCRATCH/dkms.err") lines, rekmod $(wc -l <"$SCRATCH/rekmod.err") lines"
		sed 's/^/#   dkms: /' "$SCRATCH/dkms.err" | head -n 5
		sed 's/^/#   rekmod: /' "$SCRATCH/rekmod.err" | head -n 5
	fi
}

# One hyperfine run of the three commands; -N: no intermediate shell, the
# commands are plain argv; hyperfine passes the safety environment on.
time_all() {
	local cmd_v cmd_s cmd_d
	cmd_v="$REKMOD --version"
	cmd_s="$REKMOD $(tree_args)status"
	cmd_d="$DKMS $(tree_args)status"
	HF_CMD="hyperfine -N --style basic --warmup $WARMUP --min-runs $MIN_RUNS --export-json J \
-n 'rekmod --version' '$cmd_v' -n 'rekmod status' '$cmd_s' -n 'dkms status' '$cmd_d'"
	log "timing (one hyperfine run): $HF_CMD"
	(cd "$W" && export_safety_env && hyperfine -N --style basic --warmup "$WARMUP" --min-runs "$MIN_RUNS" \
		--export-json "$SCRATCH/times.json" \
		-n "rekmod --version" "$cmd_v" -n "rekmod status" "$cmd_s" -n "dkms status" "$cmd_d") |
		sed 's/^/#   /'
}

report() {
	local j="$SCRATCH/times.json" mv ms md nv ns nd
	read -r mv nv < <(jq -r '.results[0] | "\(.median) \(.times | length)"' "$j")
	read -r ms ns < <(jq -r '.results[1] | "\(.median) \(.times | length)"' "$j")
	read -r md nd < <(jq -r '.results[2] | "\(.median) \(.times | length)"' "$j")
	echo
	echo "== status benchmark: $NMOD modules, $NINST installed on ${KERNELS[*]} =="
	awk -v la="$LINES_A" -v lb="$LINES_B" -v same="$SAME" -v mv="$mv" -v ms="$ms" -v md="$md" \
		-v nv="$nv" -v ns="$ns" -v nd="$nd" -v gv="$GOAL_VERSION" -v gd="$GOAL_DKMS" 'BEGIN {
		printf "status lines:            %d (dkms), %d (rekmod), identical: %s\n", la, lb, same
		printf "rekmod --version:        %10.3f ms  (median, %d runs)\n", mv * 1000, nv
		printf "rekmod status:           %10.3f ms  (median, %d runs)\n", ms * 1000, ns
		printf "dkms status:             %10.1f ms  (median, %d runs)\n", md * 1000, nd
		printf "ratio status/--version:  %10.2f    goal <= %d: %s\n", ms / mv, gv, (ms / mv <= gv ? "met" : "not met")
		printf "ratio dkms/rekmod:       %10.0fx   goal >= %dx: %s\n", md / ms, gd, (md / ms >= gd ? "met" : "not met")
	}'
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
	KERNELS=("${kernels[0]}" "${kernels[1]:-$FAKE_K}")

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
	for k in "${KERNELS[@]}"; do
		mkdir -p "$W/modules/$k"
		if [[ -d /usr/src/linux-headers-$k ]]; then
			ln -s "/usr/src/linux-headers-$k" "$W/modules/$k/build"
		else
			ln -s "/usr/src/linux-headers-${KERNELS[0]}" "$W/modules/$k/build"
		fi
	done
	log "reference: $DKMS ($("$DKMS" --version 2>/dev/null || echo '?'))"
	log "kernels: ${KERNELS[*]}, arch $(uname -m)"

	make_tree
	compare_output
	check_dkms_writes_nothing
	time_all
	# HARD RULE guard (reported, not fatal): nothing new in the real trees.
	warn_if_real_trees_changed "$stamp"
	report
}

main "$@"
