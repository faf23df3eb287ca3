#!/bin/bash
# The libFuzzer harnesses of tests/fuzz (fuzz-*.c): builds them (`make fuzz`,
# clang from Debian: tests/deps.sh installs clang and libclang-rt-14-dev),
# then runs each for FUZZ_SECONDS (default 14) from a copy of its seed corpus
# (tests/fuzz/corpus/<harness>/, never grown by this run). Fails on any
# finding: a sanitizer report, a leak, a timeout, an abort by a harness's own
# check; the input is kept in the printed directory. Exit 77 when clang or
# libFuzzer is missing. About 2 minutes on an idle 2-core machine (build
# included when build/fuzz is fresh: about 15 s a harness).
#
# The harnesses that run a shell on their input (confdiff: bash sources the
# dkms.conf; apthook: the APT hooks) run as nobody without network, so that
# whatever an input makes a shell do stays in the scratch directory.
#
# Environment: FUZZ_SECONDS, FUZZ_ONLY="dkmsconf rpmhook" (a subset),
# FUZZ_KEEP=1 (keep the scratch directory), FUZZ_OUT=DIR (logs and corpora
# there, e.g. the long runs of the closing note).
set -uo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECONDS_EACH=${FUZZ_SECONDS:-14}
HARNESSES=(${FUZZ_ONLY:-dkmsconf confdiff framework osrelease rpmhook alpmhook apthook})
SANDBOXED=" confdiff apthook "

say() { printf 'fuzz: %s\n' "$*"; }

if ! command -v clang >/dev/null || ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' |
	clang -x c -fsanitize=fuzzer,address,undefined -o /dev/null - 2>/dev/null; then
	say "SKIP: clang with libFuzzer is missing (apt-get install clang libclang-rt-14-dev; see tests/deps.sh)"
	exit 77
fi
say "building the harnesses (make fuzz)"
nice -n 10 make -s -C "$SRC" fuzz >/dev/null || { say "FAIL: make fuzz"; exit 1; }

OUT=${FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/rekmod-fuzz-run.XXXXXX")}
mkdir -p "$OUT"
chmod 0755 "$OUT"
[[ -n ${FUZZ_OUT:-} || -n ${FUZZ_KEEP:-} ]] || trap 'rm -rf "$OUT"' EXIT

# runs harness $1 on its corpus copy; the harness's stderr in $OUT/$1.log
run_one() {
	local h=$1 bin="$SRC/build/fuzz/fuzz-$1" dir="$OUT/$1"
	local args=(-max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1
		-artifact_prefix="$dir/finding-" "$dir/corpus")
	rm -rf "$dir" && mkdir -p "$dir" && cp -r "$SRC/tests/fuzz/corpus/$h" "$dir/corpus"
	if [[ $SANDBOXED == *" $h "* && $(id -u) == 0 ]]; then
		chown -R nobody:nogroup "$dir"
		(cd "$dir" && TMPDIR="$dir" FUZZ_SRCDIR="$SRC" nice -n "${FUZZ_NICE:-10}" unshare --net \
			setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$bin" "${args[@]}") >"$OUT/$h.log" 2>&1
	else
		(cd "$dir" && TMPDIR="$dir" FUZZ_SRCDIR="$SRC" nice -n "${FUZZ_NICE:-10}" "$bin" "${args[@]}") \
			>"$OUT/$h.log" 2>&1
	fi
}

# "runs, cov, ft" of a finished log
figures() {
	local runs cov
	runs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$1" | grep -o '[0-9]*$')
	cov=$(grep -a -E '^#[0-9]+' "$1" | tail -1 | grep -o -E 'cov: [0-9]+ ft: [0-9]+')
	printf '%s executions, %s' "${runs:-?}" "${cov:-cov: ? ft: ?}"
}

failed=()
for h in "${HARNESSES[@]}"; do
	[[ -x $SRC/build/fuzz/fuzz-$h ]] || { say "FAIL: no harness build/fuzz/fuzz-$h"; exit 1; }
	rc=0
	run_one "$h" || rc=$?
	if ((rc != 0)) || grep -a -q -E '^(FINDING|==[0-9]+==ERROR|SUMMARY: )' "$OUT/$h.log"; then
		say "FAIL: $h (exit $rc): $(grep -a -m1 -E '^(FINDING|==[0-9]+==ERROR|SUMMARY)' "$OUT/$h.log")"
		say "      input and log in $OUT/$h/ and $OUT/$h.log"
		grep -a -A3 -E '^(FINDING|==[0-9]+==ERROR)' "$OUT/$h.log" | head -20 | sed 's/^/      /'
		failed+=("$h")
		trap - EXIT
	else
		say "ok   $h: $(figures "$OUT/$h.log") in ${SECONDS_EACH} s"
	fi
done
if ((${#failed[@]})); then
	say "FAIL: findings in ${failed[*]} (kept in $OUT)"
	exit 1
fi
say "PASS: ${#HARNESSES[@]} harnesses, no finding"
