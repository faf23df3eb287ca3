#!/bin/bash
# Benchmark: overhead of `rekmod build` beyond the raw make of the module.
#
# Goal reported: rekmod's overhead under 30 ms.
#
# Two commands are timed with hyperfine on the newest kernel K that has
# headers in /usr/src/linux-headers-6.1*-amd64:
#   (a) raw:    a fresh copy of examples/hello (made by --prepare), then the
#               exact make command rekmod runs (taken from the "# command:"
#               line of rekmod's make.log), then `strip -g hello.ko`;
#   (b) rekmod: `rekmod --root R build hello/0.1 -k K` on a scratch root R
#               (R/usr/src/hello-0.1, R/lib/modules/K/build -> the headers,
#               R/etc/os-release, module added once); --prepare removes
#               R/var/lib/dkms/hello/0.1/K so that every run builds.
# Both go through the same shell, so hyperfine's shell correction applies
# equally.  Compile time varies by tens of ms from run to run, so the runs
# are split into ROUNDS short hyperfine invocations of RUNS runs of each
# command (the order alternates: a b, b a, a b, ...) so that slow drift
# (other load on the machine) hits both commands alike; one warmup run of
# each in the first round only.
#
# Output: mean, stddev and median of each (all rounds pooled), the
# difference of the means with its standard error (sqrt(sa^2/na + sb^2/nb))
# and the per-run spread (sqrt(sa^2 + sb^2)), the difference of the medians,
# the paired estimate (mean over rounds of the in-round difference, with its
# standard error, which removes drift between rounds), the same paired
# estimate on CPU time (user+sys of the command and its children, which is
# less disturbed by other processes than wall time), and the verdict, on
# the difference of the means.
#
# Nothing outside the scratch directory (mktemp -d, removed on exit) is
# written; sign_file/mok_* point at missing or scratch paths.
#
# Environment:
#   REKMOD     tool under test (default: build/rekmod in the repo root)
#   RUNS       timed runs per command in each round (default 2)
#   ROUNDS     rounds (default 30; runs per command = RUNS * ROUNDS)
#   INRUN      runs of the in-run measurement (default 20): rekmod's wall time
#              minus the elapsed time of its make, from make.log
#   KEEP=1     keep the scratch directory (its path is printed)
#
# Exit status: 0 unless a tool or a setup step fails (a missed goal is
# reported, not an error).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REKMOD=${REKMOD:-$REPO_ROOT/build/rekmod}
RUNS=${RUNS:-2}
ROUNDS=${ROUNDS:-30}
INRUN=${INRUN:-20}
GOAL_MS=30

export LC_ALL=C

SCRATCH=''
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
main() {
	command -v hyperfine >/dev/null || die "hyperfine is not installed"
	command -v python3 >/dev/null || die "python3 is not installed"
	command -v jq >/dev/null || die "jq is not installed"
	REKMOD=$(abspath "$REKMOD")
	[[ -x $REKMOD ]] || die "tool under test $REKMOD is not executable (run make first)"

	local d K
	K=$(for d in /usr/src/linux-headers-6.1*-amd64; do
		[[ -d $d/include ]] && printf '%s\n' "${d#/usr/src/linux-headers-}"
	done | sort -V -r | head -n 1)
	[[ -n $K ]] || die "no /usr/src/linux-headers-6.1*-amd64 headers found"

	SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/rekmod-bench-build.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	local stamp="$SCRATCH/start-stamp"
	touch "$stamp"
	mkdir -p "$SCRATCH/tmp" "$SCRATCH/keys"
	# Snapshot of the binary: build/rekmod may be relinked while we run.
	cp "$REKMOD" "$SCRATCH/rekmod"
	log "under test: $REKMOD (copied to $SCRATCH/rekmod)"
	REKMOD="$SCRATCH/rekmod"
	export TMPDIR="$SCRATCH/tmp" sign_file=/nonexistent/sign-file \
		mok_signing_key="$SCRATCH/keys/mok.key" mok_certificate="$SCRATCH/keys/mok.pub"

	# Scratch root R.
	local R="$SCRATCH/root"
	mkdir -p "$R/usr/src" "$R/lib/modules/$K" "$R/etc"
	cp -a "$REPO_ROOT/examples/hello" "$R/usr/src/hello-0.1"
	ln -s "/usr/src/linux-headers-$K" "$R/lib/modules/$K/build"
	cp /etc/os-release "$R/etc/os-release"
	"$REKMOD" --root "$R" add hello/0.1 >"$SCRATCH/setup.log" 2>&1 ||
		{ cat "$SCRATCH/setup.log"; die "rekmod add failed"; }
	# One build to check it works and to learn the exact make command.
	"$REKMOD" --root "$R" build hello/0.1 -k "$K" >>"$SCRATCH/setup.log" 2>&1 ||
		{ cat "$SCRATCH/setup.log"; die "rekmod build failed"; }
	local arch mlog makecmd
	arch=$(uname -m)
	mlog="$R/var/lib/dkms/hello/0.1/$K/$arch/log/make.log"
	makecmd=$(sed -n 's/^# command: //p' "$mlog" 2>/dev/null | head -n 1)
	if [[ $makecmd != make\ * ]]; then
		makecmd="make -j$(nproc) KERNELRELEASE=$K all KVERSION=$K KDIR=/lib/modules/$K/build"
		log "no '# command:' line in rekmod's make.log; using the documented command"
	fi

	local raw="$SCRATCH/raw"
	local prep_a="rm -rf $raw && cp -a $REPO_ROOT/examples/hello $raw"
	local cmd_a="cd $raw && $makecmd && strip -g hello.ko"
	local prep_b="rm -rf $R/var/lib/dkms/hello/0.1/$K $R/var/lib/dkms/hello/0.1/build"
	local cmd_b="$REKMOD --root $R build hello/0.1 -k $K"

	# The raw command must work too.
	(eval "$prep_a" && eval "$cmd_a") >"$SCRATCH/raw.log" 2>&1 ||
		{ cat "$SCRATCH/raw.log"; die "raw build failed"; }
	[[ -f $raw/hello.ko ]] || die "raw build did not produce hello.ko"

	log "kernel $K, $(nproc) CPUs, $RUNS runs x $ROUNDS rounds per command"
	log "(a) prepare: $prep_a"
	log "(a) command: $cmd_a"
	log "(b) prepare: $prep_b"
	log "(b) command: $cmd_b"

	local r warmup
	local args_a=(-n "raw make" --prepare "$prep_a" "$cmd_a")
	local args_b=(-n "rekmod build" --prepare "$prep_b" "$cmd_b")
	for ((r = 1; r <= ROUNDS; r++)); do
		warmup=0
		((r > 1)) || warmup=1
		# Alternate which command goes first.
		if ((r % 2)); then
			set -- "${args_a[@]}" "${args_b[@]}"
		else
			set -- "${args_b[@]}" "${args_a[@]}"
		fi
		hyperfine --style none --warmup "$warmup" --runs "$RUNS" \
			--export-json "$SCRATCH/round$r.json" "$@" >/dev/null
		jq -r --arg r "$r" '"# round \($r): " + ([.results[] |
			"\(.command) \(.mean * 1000 | floor) ms"] | join(", "))' "$SCRATCH/round$r.json"
	done

	# In-run overhead: wall time of `rekmod build` minus the wall time of the
	# make it ran, which rekmod writes to make.log ("# elapsed time:"). The
	# compile is inside both, so its noise cancels; strip, the copy of the
	# source, dkms.conf evaluation and the install into the tree are counted.
	local i t0 t1 made
	: >"$SCRATCH/inrun.txt"
	for ((i = 1; i <= INRUN; i++)); do
		eval "$prep_b"
		t0=$(date +%s%N)
		$cmd_b >/dev/null 2>&1 || die "rekmod build failed"
		t1=$(date +%s%N)
		made=$(sed -n 's/^# elapsed time: \([0-9.]*\)s$/\1/p' "$mlog" | tail -n 1)
		echo "$(((t1 - t0) / 1000)) $made" >>"$SCRATCH/inrun.txt"
	done

	# HARD RULE guard (reported, not fatal): nothing new in the real trees.
	warn_if_real_trees_changed "$stamp"

	echo
	echo "== build benchmark: hello/0.1 for $K =="
	python3 - "$GOAL_MS" "$SCRATCH/inrun.txt" <<'EOF'
import math, statistics as st, sys
goal = float(sys.argv[1])
over = []
for line in open(sys.argv[2]):
    wall_us, make_s = line.split()
    over.append(int(wall_us) / 1000 - float(make_s) * 1000)
if over:
    se = st.stdev(over) / math.sqrt(len(over)) if len(over) > 1 else 0.0
    print(f"in-run overhead (rekmod wall - its make's wall, {len(over)} runs): mean {st.mean(over):.1f} ms "
          f"+- {se:.1f} ms (standard error), median {st.median(over):.1f} ms, min {min(over):.1f} ms")
    print(f"goal < {goal:.0f} ms (in-run): {'met' if st.mean(over) < goal else 'not met'}")
EOF
	python3 - "$GOAL_MS" "$SCRATCH"/round*.json <<'EOF'
import json, math, statistics as st, sys

goal = float(sys.argv[1])
times = {}
paired = []
cpu = []
for path in sys.argv[2:]:
    with open(path) as f:
        rnd = {r["command"]: [t * 1000 for t in r["times"]] for r in json.load(f)["results"]}
    for cmd, ts in rnd.items():
        times.setdefault(cmd, []).extend(ts)
    paired.append(st.mean(rnd["rekmod build"]) - st.mean(rnd["raw make"]))
    with open(path) as f:
        c = {r["command"]: (r["user"] + r["system"]) * 1000 for r in json.load(f)["results"]}
    cpu.append(c["rekmod build"] - c["raw make"])
a, b = times["raw make"], times["rekmod build"]
ma, mb = st.mean(a), st.mean(b)
sd = lambda xs: st.stdev(xs) if len(xs) > 1 else 0.0
sa, sb = sd(a), sd(b)
da, db = st.median(a), st.median(b)
diff = mb - ma
se = math.sqrt(sa**2 / len(a) + sb**2 / len(b))
spread = math.sqrt(sa**2 + sb**2)
print(f"(a) raw make + strip: mean {ma:7.1f} ms +- {sa:5.1f} ms (stddev), median {da:7.1f} ms, {len(a)} runs")
print(f"(b) rekmod build:     mean {mb:7.1f} ms +- {sb:5.1f} ms (stddev), median {db:7.1f} ms, {len(b)} runs")
print(f"overhead (b - a), means:   {diff:+7.1f} ms +- {se:.1f} ms (standard error; per-run spread +- {spread:.1f} ms)")
print(f"overhead (b - a), medians: {db - da:+7.1f} ms")
if len(paired) > 1:
    pse = st.stdev(paired) / math.sqrt(len(paired))
    print(f"overhead (b - a), paired by round: {st.mean(paired):+7.1f} ms +- {pse:.1f} ms (standard error, {len(paired)} rounds)")
    cse = st.stdev(cpu) / math.sqrt(len(cpu))
    print(f"CPU time (user+sys) overhead, paired by round: {st.mean(cpu):+7.1f} ms +- {cse:.1f} ms (less sensitive to other load)")
verdict = "met" if diff < goal else "not met"
note = ""
if abs(diff - goal) < 2 * se:
    note = f" (within 2 standard errors of {goal:.0f} ms: not conclusive, raise RUNS/ROUNDS)"
print(f"goal < {goal:.0f} ms: {verdict}{note}")
EOF
}

main "$@"
