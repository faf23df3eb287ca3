#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# What the hooks' `rekmod sync --hook -q` tells a person (issue 18): every
# failure in one stderr line (module, kernel, first compiler error, log), a
# kernel waiting for headers with its package, the Secure Boot hint once;
# user decisions that stick; PRE_BUILD failures as dkms 3.x says them; typos
# on sync's command line; the journal `rekmod log` reads.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

W=$(realpath "$(mktemp -d /tmp/rekmod-hookpath.XXXXXX)")
trap '[[ -n ${KEEP:-} ]] || rm -rf "$W"' EXIT
before=$(find /lib/modules /var/lib/dkms -maxdepth 3 -printf '%p %T@\n' 2>/dev/null | sort)

# add_module ROOT NAME: a hello-like module NAME-1.0
add_module() {
	local r=$1 name=$2 d
	d=$r/usr/src/$name-1.0
	mkdir -p "$d"
	sed "s/hello/$name/g" "$SRCDIR/examples/hello/hello.c" >"$d/$name.c"
	sed "s/hello/$name/g" "$SRCDIR/examples/hello/Makefile" >"$d/Makefile"
	sed "s/hello/$name/g; s/0\.1/1.0/" "$SRCDIR/examples/hello/dkms.conf" >"$d/dkms.conf"
	"$REKMOD" --root "$r" add "$name/1.0" >/dev/null
}

# ---- 1. quiet is not silent ----
R=$W/root
new_root "$R"
add_module "$R" good
add_module "$R" bad
echo '#error deliberately broken' >>"$R/usr/src/bad-1.0/bad.c"
rm "$R/lib/modules/$K2/build"
: >"$R/lib/modules/$K2/modules.order" # the image of K2 is installed, its headers are not
: >"$R/lib/modules/$K2/modules.dep"
rc=0
REKMOD_CALLER=kernel-hook "$REKMOD" --root "$R" sync --hook -q >"$W/out" 2>"$W/err" || rc=$?
check "sync --hook -q exits 0 although a module fails" test "$rc" = 0
check "nothing on stdout" test ! -s "$W/out"
LOG=$R/var/lib/dkms/bad/1.0/log/make-$K1-$ARCH.log
fail_line() {
	[[ $(grep -c "^bad/1.0, $K1, $ARCH: failed" "$W/err") == 1 ]] &&
		grep -q "^bad/1.0, $K1, $ARCH: failed with exit 10 (make failed): .*error: #error deliberately broken; log: $LOG\$" "$W/err"
}
check "the failure is one stderr line: module, kernel, first error: line, log path" fail_line
check "the log named is the build's make.log" grep -q "deliberately broken" "$LOG"
check "a kernel without headers prints the package line" \
	grep -q "^good/1.0 waits for kernel headers of $K2: install linux-headers-$K2\$" "$W/err"
check "the good module is installed on K1" test -f "$R/lib/modules/$K1/updates/dkms/good.ko"
status_bad() { "$REKMOD" --root "$R" status -m bad | grep -q "^bad/1.0, $K1, $ARCH: failed (exit 10, see $LOG)"; }
check "status names the same log" status_bad

# the Secure Boot hint: the real root's paths, given one by one (test-doctor.sh
# checks it under --root), a fake mokutil saying Secure Boot is on and the key unknown
H=$W/sb
new_root "$H"
mkdir -p "$W/bin"
cat >"$W/bin/mokutil" <<'EOF'
#!/bin/sh
case "$1" in
--sb-state) echo "SecureBoot enabled" ;;
--test-key) echo "$2 is not enrolled" ;;
esac
EOF
chmod +x "$W/bin/mokutil"
mkdir -p "$H/usr/src/one-1.0" "$H/usr/src/two-1.0"
for m in one two; do
	sed "s/hello/$m/g" "$SRCDIR/examples/hello/hello.c" >"$H/usr/src/$m-1.0/$m.c"
	sed "s/hello/$m/g" "$SRCDIR/examples/hello/Makefile" >"$H/usr/src/$m-1.0/Makefile"
	sed "s/hello/$m/g; s/0\.1/1.0/" "$SRCDIR/examples/hello/dkms.conf" >"$H/usr/src/$m-1.0/dkms.conf"
done
paths=(--dkmstree "$H/var/lib/dkms" --sourcetree "$H/usr/src" --installtree "$H/lib/modules" --no-depmod)
sbsync() {
	local m
	for m in one two; do
		PATH=$W/bin:$PATH "$REKMOD" "${paths[@]}" add "$m/1.0" >/dev/null || return 1
	done
	PATH=$W/bin:$PATH mok_signing_key=$H/mok.key mok_certificate=$H/mok.pub \
		"$REKMOD" "${paths[@]}" sync --hook -q --kernel "$K1" >"$W/sb.out" 2>"$W/sb.err"
}
check "sync with Secure Boot on and the key not enrolled" sbsync
hint_once() {
	[[ $(grep -c "Secure Boot is enabled and the module signing certificate $H/mok.pub is not enrolled" "$W/sb.err") == 1 ]] &&
		grep -q "mokutil --import $H/mok.pub" "$W/sb.err"
}
check "the enrolment hint is printed once" hint_once
check "both modules installed" test -f "$H/lib/modules/$K1/updates/dkms/one.ko" -a -f "$H/lib/modules/$K1/updates/dkms/two.ko"

# ---- 2. user decisions stick ----
KO=$R/lib/modules/$K1/updates/dkms/good.ko
# K2 gets its headers back: good on both kernels, so remove -k K1 keeps it registered
ln -s "/usr/src/linux-headers-$K2" "$R/lib/modules/$K2/build"
"$REKMOD" --root "$R" sync -q -m good >/dev/null 2>&1
uninstalled_stays() {
	"$REKMOD" --root "$R" uninstall good/1.0 -k "$K1" >/dev/null 2>&1 || return 1
	"$REKMOD" --root "$R" sync -q >/dev/null 2>&1
	[[ ! -e $KO && -e $R/lib/modules/$K2/updates/dkms/good.ko ]]
}
check "uninstall m/v -k K, then sync: still uninstalled (the other kernel keeps it)" uninstalled_stays
removed_stays() {
	"$REKMOD" --root "$R" install good/1.0 -k "$K1" >/dev/null 2>&1 || return 1
	"$REKMOD" --root "$R" remove good/1.0 -k "$K1" >/dev/null 2>&1 || return 1
	"$REKMOD" --root "$R" sync -q >/dev/null 2>&1
	[[ ! -e $KO ]]
}
check "remove m/v -k K, then sync: still removed" removed_stays
optout_shown() {
	"$REKMOD" --root "$R" status --verbose -m good | grep -q "^good/1.0, $K1, $ARCH: removed by the user: sync leaves it off" &&
		! "$REKMOD" --root "$R" status -m good | grep -q "removed by the user" &&
		"$REKMOD" --root "$R" status --json -m good | grep -q '"state": "optout"'
}
check "status --verbose and --json show the opt-out; plain status (dkms's) does not" optout_shown
installed_back() {
	"$REKMOD" --root "$R" install good/1.0 -k "$K1" >/dev/null 2>&1 || return 1
	"$REKMOD" --root "$R" sync -q >/dev/null 2>&1
	[[ -e $KO ]] && ! "$REKMOD" --root "$R" status --verbose -m good | grep -q "removed by the user"
}
check "install m/v -k K, then sync: installed, the opt-out gone" installed_back
stale_failure_cleared() {
	sed -i '/deliberately broken/d' "$R/usr/src/bad-1.0/bad.c"
	"$REKMOD" --root "$R" install bad/1.0 -k "$K1" >/dev/null 2>&1 || return 1
	local st
	st=$("$REKMOD" --root "$R" status -m bad)
	grep -q "^bad/1.0, $K1, $ARCH: installed" <<<"$st" && ! grep -q "$K1, $ARCH: failed" <<<"$st" && [[ ! -e $LOG ]]
}
check "a successful install clears the stale failure record" stale_failure_cleared
rebuilt() {
	local t0 out built=$R/var/lib/dkms/good/1.0/$K1/$ARCH/module/good.ko
	t0=$(stat -c %i.%Y "$built")
	out=$("$REKMOD" --root "$R" sync --rebuild -m good --kernel "$K1" 2>&1) || { echo "$out"; return 1; }
	grep -q "good/1.0, $K1, $ARCH: installed (built in" <<<"$out" && [[ -e $KO && $(stat -c %i.%Y "$built") != "$t0" ]] || {
		echo "$out"
		return 1
	}
}
check "sync --rebuild -m m --kernel K rebuilds and reinstalls" rebuilt
failed_rebuild_keeps() {
	echo '#error broken again' >>"$R/usr/src/good-1.0/good.c"
	"$REKMOD" --root "$R" sync --rebuild -m good --kernel "$K1" >/dev/null 2>&1
	sed -i '/broken again/d' "$R/usr/src/good-1.0/good.c"
	[[ -e $KO ]] && "$REKMOD" --root "$R" status -m good | grep -q "^good/1.0, $K1, $ARCH: installed"
}
check "a failed rebuild keeps the old build and install" failed_rebuild_keeps
force_build() {
	"$REKMOD" --root "$R" build good/1.0 -k "$K1" --force >/dev/null 2>&1 || return 1
	[[ -e $KO ]] && "$REKMOD" --root "$R" status -m good | grep -q "^good/1.0, $K1, $ARCH: installed"
}
check "build --force rebuilds without uninstalling; status still says installed" force_build

# ---- 3. a failing PRE_BUILD: dkms 3.x's lines, its exit status ----
P=$W/prebuild
new_root "$P"
add_module "$P" pre
printf '#!/bin/sh\necho "netflow: cannot find iptables headers" >&2\nexit 3\n' >"$P/usr/src/pre-1.0/fail.sh"
chmod +x "$P/usr/src/pre-1.0/fail.sh"
echo 'PRE_BUILD="fail.sh"' >>"$P/usr/src/pre-1.0/dkms.conf"
rc=0
"$REKMOD" --root "$P" build pre/1.0 -k "$K1" >"$W/pre.out" 2>&1 || rc=$?
BLOG=$P/var/lib/dkms/pre/1.0/build/make.log
check "the build exits with the script's status (3)" test "$rc" = 3
check "\"Running the pre_build script...(bad exit status: 3)\"" \
	grep -Fxq "Running the pre_build script...(bad exit status: 3)" "$W/pre.out"
check "the failed command is named" grep -Fxq "cd $P/var/lib/dkms/pre/1.0/build/ && $P/var/lib/dkms/pre/1.0/build/fail.sh" "$W/pre.out"
check "\"Consult <make.log> for more information.\"" grep -Fxq "Consult $BLOG for more information." "$W/pre.out"
check "the make.log holds the script's output" grep -q "cannot find iptables headers" "$BLOG"

# ---- 4. typos on sync's command line ----
typo() { # EXPECTED-RC PATTERN ARGS...: exit status and one line naming the value
	local want=$1 pat=$2 rc=0 out
	shift 2
	out=$("$REKMOD" --root "$R" sync -q "$@" 2>&1) || rc=$?
	[[ $rc == "$want" && $(grep -c -- "$pat" <<<"$out") == 1 ]] || { echo "rc=$rc"; echo "$out"; return 1; }
}
check "sync -m <typo> is an error naming it" typo 1 "^Error! sync -m godo: no such module" -m godo
check "sync -m m/<typo version> is an error" typo 1 "^Error! sync -m good/9.9: no such module version" -m good/9.9
check "sync --kernel <typo> is an error naming it" typo 1 "^Error! sync --kernel 6.1.0-99-amd64: no such kernel" --kernel 6.1.0-99-amd64
check "sync -j abc is an error naming it" typo 1 "^Error! -j abc is not a number" -j abc
check "under --hook a -m typo is a warning, exit 0" typo 0 "^Warning: sync -m godo: no such module" -m godo --hook
check "under --hook a --kernel typo is a warning, exit 0" typo 0 "^Warning: sync --kernel 6.1.0-99-amd64" --kernel 6.1.0-99-amd64 --hook
check "under --hook -j abc is a warning, exit 0" typo 0 "^Warning: -j abc is not a number" -j abc --hook

# ---- 5. the journal: rekmod log ----
first_hook_run() {
	local out
	out=$("$REKMOD" --root "$R" log -n 1000) || return 1
	grep -Eq "^[0-9T:-]+Z kernel-hook: sync failed; kernels ($K1,$K2|$K2,$K1); removed -\$" <<<"$out" &&
		grep -q "^  bad/1.0 $K1 $ARCH: failed (exit 10) in [0-9.]*s; log: $LOG\$" <<<"$out" &&
		grep -q "^  good/1.0 $K1 $ARCH: built+installed in [0-9.]*s\$" <<<"$out" || { echo "$out"; return 1; }
}
check "rekmod log shows the hook's transaction: caller, kernels, each job's outcome and log" first_hook_run
last_runs() {
	local out
	out=$("$REKMOD" --root "$R" log -n 2) || return 1
	[[ $(grep -c '^[0-9]' <<<"$out") == 2 ]] && grep -q "manual: build ok" <<<"$out" &&
		grep -q "^  good/1.0 $K1 $ARCH: built in" <<<"$out" || { echo "$out"; return 1; }
}
check "log -n 2: the last two transactions, the build --force last" last_runs
noop_not_journaled() {
	local n0 n1
	"$REKMOD" --root "$R" sync -q >/dev/null 2>&1 # bad, fixed, now builds for K2 too
	n0=$(grep -c '^T' "$R/var/lib/dkms/.rekmod-journal")
	"$REKMOD" --root "$R" sync -q >/dev/null 2>&1
	n1=$(grep -c '^T' "$R/var/lib/dkms/.rekmod-journal")
	[[ $n0 == "$n1" ]]
}
check "a sync with nothing to do adds no record" noop_not_journaled
log_json() {
	"$REKMOD" --root "$R" log --json -n 3 >"$W/log.json" || return 1
	python3 - "$W/log.json" <<'EOF'
import json, sys
recs = json.load(open(sys.argv[1]))
assert len(recs) == 3, recs
for r in recs:
    assert set(r) == {"time", "caller", "verb", "result", "kernels", "removed", "jobs"}, r
    for j in r["jobs"]:
        assert set(j) == {"module", "version", "kernel", "arch", "outcome", "exit", "seconds", "log", "reused_from"}, j
# the fixed module, built for one kernel already, is reused for the other (equivalent headers)
j = recs[-1]["jobs"][0]
assert recs[-1]["verb"] == "sync" and (j["outcome"], j["reused_from"] is None) in {("built+installed", True), ("reused+installed", False)}, recs[-1]
assert any(r["verb"] == "build" and r["jobs"][0]["outcome"] == "built" for r in recs), recs
EOF
}
check "log --json is valid JSON with the documented fields" log_json

after=$(find /lib/modules /var/lib/dkms -maxdepth 3 -printf '%p %T@\n' 2>/dev/null | sort)
host_untouched() { [[ $before == "$after" ]]; }
check "nothing changed in the host's /lib/modules and /var/lib/dkms" host_untouched

summary
