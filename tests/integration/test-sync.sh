#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `rekmod sync` with real headers, make and depmod in scratch roots: parallel
# builds match serial installs, failures are recorded and not retried until an
# input changes, vanished kernels are cleaned up, concurrent syncs serialise,
# --hook never fails, the jobserver bounds the compilers, and --rebuild of an
# unchanged module reinstalls it with a true install record (remove cleans up).
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

W=$(realpath "$(mktemp -d /tmp/rekmod-sync.XXXXXX)")
trap '[[ -n ${KEEP:-} ]] || rm -rf "$W"' EXIT
before=$(find /lib/modules /var/lib/dkms -maxdepth 3 -printf '%p %T@\n' 2>/dev/null | sort)

# add_module ROOT NAME [NFILES]: a hello-like module NAME-1.0 with NFILES objects
add_module() {
	local r=$1 name=$2 nfiles=${3:-1} d i objs=""
	d=$r/usr/src/$name-1.0
	mkdir -p "$d"
	sed "s/hello/$name/g; s/MODULE_VERSION(\"0.1\")/MODULE_VERSION(\"1.0\")/" \
		"$SRCDIR/examples/hello/hello.c" >"$d/main.c"
	objs="main.o"
	for ((i = 1; i < nfiles; i++)); do
		printf 'int %s_f%d(int x);\nint %s_f%d(int x) { return x * %d; }\n' "$name" "$i" "$name" "$i" "$i" >"$d/f$i.c"
		objs+=" f$i.o"
	done
	printf 'obj-m := %s.o\n%s-y := %s\nKDIR ?= /lib/modules/$(KVERSION)/build\nall:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules\n' \
		"$name" "$name" "$objs" >"$d/Makefile"
	sed "s/hello/$name/g; s/0\.1/1.0/" "$SRCDIR/examples/hello/dkms.conf" >"$d/dkms.conf"
	"$REKMOD" --root "$r" add "$name/1.0" >/dev/null
}

installed_list() { # the installed modules with their vermagic and srcversion
	local r=$1 f
	(cd "$r/lib/modules" && find . -name '*.ko*' | sort) | while read -r f; do
		printf '%s %s %s\n' "$f" "$(modinfo -F vermagic "$r/lib/modules/$f" | cut -d' ' -f1)" \
			"$(modinfo -F srcversion "$r/lib/modules/$f")"
	done
}

# ---- 1. parallel sync == serial installs ----
P=$W/parallel S=$W/serial
new_root "$P"
new_root "$S"
for m in alpha beta gamma; do
	add_module "$P" "$m"
	add_module "$S" "$m"
done
# like most real packages, gamma's MAKE names dkms's build directory itself
for r in "$P" "$S"; do
	sed -i 's|^MAKE\[0\]=.*|MAKE[0]="make -C $kernel_source_dir M=$dkms_tree/$PACKAGE_NAME/$PACKAGE_VERSION/build"|' \
		"$r/usr/src/gamma-1.0/dkms.conf"
done
check "sync builds 3 modules x 2 kernels in parallel" "$REKMOD" --root "$P" sync -q
for m in alpha beta gamma; do
	"$REKMOD" --root "$S" install "$m/1.0" -k "$K1" -k "$K2" >/dev/null 2>&1
done
same_tree() { diff <(installed_list "$P") <(installed_list "$S") && [[ $(installed_list "$P" | wc -l) -eq 6 ]]; }
check "parallel sync installs the same modules as serial installs" same_tree
same_status() { diff <("$REKMOD" --root "$P" status) <("$REKMOD" --root "$S" status); }
check "status is identical after parallel and serial runs" same_status
vermagic_ok() {
	[[ $(modinfo -F vermagic "$P/lib/modules/$K1/updates/dkms/alpha.ko") == "$K1 "* ]] &&
		[[ $(modinfo -F vermagic "$P/lib/modules/$K2/updates/dkms/alpha.ko") == "$K2 "* ]]
}
check "each kernel got a module built for itself" vermagic_ok
noop() {
	local out
	out=$("$REKMOD" --root "$P" sync 2>&1) || return 1
	[[ -z $out ]] || { echo "$out"; return 1; }
}
check "a second sync has nothing to do and prints nothing" noop

# ---- 2. failures are recorded, contained and not retried ----
add_module "$P" broken
echo '#error deliberately broken' >>"$P/usr/src/broken-1.0/main.c"
hook_zero() { "$REKMOD" --root "$P" sync --hook -q; }
check "--hook exits 0 although a module fails to build" hook_zero
recorded() {
	local st
	st=$("$REKMOD" --root "$P" status -m broken)
	grep -q "^broken/1.0, $K1, $ARCH: failed (exit 10, see .*/log/make-$K1-$ARCH.log)" <<<"$st" &&
		[[ -s $P/var/lib/dkms/broken/1.0/log/make-$K1-$ARCH.log ]] &&
		grep -q "deliberately broken" "$P/var/lib/dkms/broken/1.0/log/make-$K1-$ARCH.log"
}
check "the failure is recorded with its make.log and shown by status" recorded
failed_json() {
	"$REKMOD" --root "$P" status -m broken --json >"$W/failed.json" || return 1
	python3 - "$W/failed.json" "$K1" "$ARCH" <<'EOF'
import json, sys
st = json.load(open(sys.argv[1]))
k1, arch = sys.argv[2:4]
e = [e for e in st if e["state"] == "failed" and e["kernel"] == k1]
assert len(e) == 1, st
e = e[0]
log = "/var/lib/dkms/broken/1.0/log/make-%s-%s.log" % (k1, arch)
assert e["exit_code"] == 10, e
assert e["log"] is not None and e["log"].endswith(log), e
assert e["detail"] == "exit 10, see " + e["log"], e
EOF
}
check "status --json gives a failure's exit_code and log as fields (detail kept)" failed_json
others_fine() { [[ $(installed_list "$P" | wc -l) -eq 6 ]]; }
check "the failing module did not stop the others" others_fine
log=$P/var/lib/dkms/broken/1.0/log/make-$K1-$ARCH.log
stamp=$(stat -c %Y.%s "$log")
sleep 1.1
not_retried() {
	local rc=0
	"$REKMOD" --root "$P" sync -q >/dev/null 2>&1 || rc=$?
	[[ $rc -eq 11 ]] && [[ $(stat -c %Y.%s "$log") == "$stamp" ]]
}
check "an unchanged failure is not rebuilt (exit 11 without --hook)" not_retried
retried_on_change() {
	sed -i '/deliberately broken/d' "$P/usr/src/broken-1.0/main.c"
	"$REKMOD" --root "$P" sync -q &&
		[[ -f $P/lib/modules/$K1/updates/dkms/broken.ko ]] &&
		! "$REKMOD" --root "$P" status -m broken | grep -q failed
}
check "a source change retries the build, which now succeeds" retried_on_change

# ---- 3. a kernel whose headers (and image) disappear is cleaned up ----
vanish() {
	rm "$P/lib/modules/$K2/build"
	"$REKMOD" --root "$P" sync -q || return 1
	[[ ! -e $P/lib/modules/$K2/updates ]] || { find "$P/lib/modules/$K2"; return 1; }
	! ls -d "$P"/var/lib/dkms/*/1.0/"$K2" 2>/dev/null &&
		! ls "$P"/var/lib/dkms/*/kernel-"$K2"-* 2>/dev/null &&
		[[ -f $P/lib/modules/$K1/updates/dkms/alpha.ko ]]
}
check "a kernel without headers or image is cleaned up, the other kept" vanish
removed_flag() {
	"$REKMOD" --root "$P" sync --removed "$K1" -q &&
		[[ -z $(find "$P/lib/modules/$K1" -name '*.ko') ]] &&
		[[ $("$REKMOD" --root "$P" status | grep -c installed) -eq 0 ]]
}
check "--removed K uninstalls and unbuilds everything for K" removed_flag

# ---- 4. two syncs started together serialise; the second does nothing ----
C=$W/concurrent
new_root "$C"
for m in one two; do add_module "$C" "$m"; done
"$REKMOD" --root "$C" sync >"$W/c1.out" 2>&1 &
p1=$!
sleep 0.2
"$REKMOD" --root "$C" sync >"$W/c2.out" 2>&1 &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
serialised() {
	[[ $r1 -eq 0 && $r2 -eq 0 ]] || return 1
	local builds
	builds=$(cat "$W/c1.out" "$W/c2.out" | grep -c '^Building ')
	[[ $builds -eq 4 ]] || { cat "$W/c1.out" "$W/c2.out"; return 1; }
	grep -q "Waiting for the DKMS tree lock .* held by pid $p1" "$W/c2.out" &&
		! grep -q '^Building ' "$W/c2.out"
}
check "a concurrent second sync waits for the lock, then builds nothing" serialised

# ---- 5. the jobserver bounds concurrent compilers ----
J=$W/jobs
new_root "$J"
for m in m1 m2 m3 m4; do add_module "$J" "$m" 8; done
count_cc1() { # highest number of cc1 processes compiling in $J seen at once
	local max=0 n
	while [[ -e $W/sampling ]]; do
		n=$(pgrep -f "cc1 .*$J/" | wc -l)
		((n > max)) && max=$n
		sleep 0.02
	done
	echo "$max" >"$W/cc1.max"
}
touch "$W/sampling"
count_cc1 &
sampler=$!
"$REKMOD" --root "$J" -j 2 sync -q
rc=$?
rm -f "$W/sampling"
wait $sampler
bounded() {
	local max
	max=$(cat "$W/cc1.max")
	echo "max concurrent cc1: $max"
	[[ $rc -eq 0 ]] && ((max >= 1 && max <= 2))
}
check "-j 2: at most 2 compilers at once across 4 parallel builds of 8 files" bounded

# ---- 6. a jobserver inherited from a parent make is used ----
M=$W/make
new_root "$M"
add_module "$M" viamake 4
printf 'all:\n\t+%s --root %s --verbose sync\n' "$REKMOD" "$M" >"$W/Makefile.parent"
inherited() {
	local out
	out=$(make -j2 -f "$W/Makefile.parent" 2>&1) || { echo "$out"; return 1; }
	grep -q "make jobserver: inherited from the parent make" <<<"$out" || { echo "$out"; return 1; }
	! grep -q "jobserver unavailable\|-j.* forced in submake" <<<"$out" || { echo "$out"; return 1; }
	[[ -f $M/lib/modules/$K1/updates/dkms/viamake.ko && -f $M/lib/modules/$K2/updates/dkms/viamake.ko ]]
}
check "under make -j2, sync uses the parent make's jobserver" inherited

# ---- 7. BUILD_DEPENDS order and cycles, BUILD_EXCLUSIVE skips, missing headers, JSON ----
D=$W/deps
new_root "$D"
for m in base top loopa loopb excl; do add_module "$D" "$m"; done
echo 'BUILD_DEPENDS[0]="base"' >>"$D/usr/src/top-1.0/dkms.conf"
echo 'BUILD_DEPENDS[0]="loopb"' >>"$D/usr/src/loopa-1.0/dkms.conf"
echo 'BUILD_DEPENDS[0]="loopa"' >>"$D/usr/src/loopb-1.0/dkms.conf"
echo 'BUILD_EXCLUSIVE_KERNEL="^9\\."' >>"$D/usr/src/excl-1.0/dkms.conf"
"$REKMOD" --root "$D" sync --kernel "$K1" >"$W/deps.out" 2>&1
deps_rc=$?
ordered() {
	[[ $deps_rc -eq 11 ]] || { echo "exit $deps_rc"; cat "$W/deps.out"; return 1; }
	local b t
	b=$(grep -n "^Building base/1.0" "$W/deps.out" | cut -d: -f1)
	t=$(grep -n "^Building top/1.0" "$W/deps.out" | cut -d: -f1)
	[[ -n $b && -n $t ]] && ((b < t)) && grep -q "^top/1.0, $K1, .*: installed" "$W/deps.out" ||
		{ cat "$W/deps.out"; return 1; }
}
check "BUILD_DEPENDS: a dependency is built and installed before its dependent" ordered
cycle() {
	grep -q "BUILD_DEPENDS cycle for kernel $K1: loop[ab] -> loop[ab] -> loop[ab]; remove one" "$W/deps.out" &&
		! grep -q "^Building loop" "$W/deps.out" || { cat "$W/deps.out"; return 1; }
}
check "a BUILD_DEPENDS cycle is an error naming it, and nothing on it is built" cycle
skipped() {
	grep -q "1 skipped" "$W/deps.out" && ! grep -q "^Building excl" "$W/deps.out" &&
		[[ -f $D/var/lib/dkms/excl/1.0/.rekmod-skipped-$K1-$ARCH ]] || { cat "$W/deps.out"; return 1; }
}
check "a BUILD_EXCLUSIVE mismatch is skipped, not failed, and remembered" skipped
waiting() {
	# a kernel with its image but no headers keeps what it has and names the package
	local out
	rm "$D/lib/modules/$K2/build"
	: >"$D/lib/modules/$K2/modules.order"
	: >"$D/lib/modules/$K2/modules.dep"
	out=$("$REKMOD" --root "$D" sync -m base 2>&1) || true
	grep -q "base/1.0 waits for kernel headers of $K2: install linux-headers-$K2" <<<"$out" || { echo "$out"; return 1; }
	[[ -f $D/lib/modules/$K1/updates/dkms/base.ko ]]
}
check "a kernel without headers gets one line naming the headers package" waiting
leftovers() {
	# `apt remove` (not purge) of K2's image: depmod's index stays, no file the image package owns does
	local out rc=0
	rm "$D/lib/modules/$K2/modules.order"
	: >"$D/lib/modules/$K2/modules.alias"
	: >"$D/lib/modules/$K2/modules.dep.bin"
	out=$("$REKMOD" --root "$D" sync -m base 2>&1) || rc=$?
	[[ $rc -eq 0 ]] && ! grep -q "$K2" <<<"$out" || { echo "exit $rc"; echo "$out"; return 1; }
	[[ -f $D/lib/modules/$K1/updates/dkms/base.ko ]]
}
check "a kernel directory with only depmod's leftovers is no kernel: sync says nothing of it" leftovers
json() {
	"$REKMOD" --root "$D" status --json >"$W/status.json" || return 1
	python3 - "$W/status.json" "$K1" <<'EOF'
import json, sys
st = json.load(open(sys.argv[1]))
k1 = sys.argv[2]
by = {(e["module"], e["kernel"]): e for e in st}
assert by[("base", k1)]["state"] == "installed", by
assert by[("base", k1)]["version"] == "1.0"
assert by[("loopa", None)]["state"] == "added"
for e in st:
    assert set(e) == {"module", "version", "kernel", "arch", "state", "original_modules", "differs",
                      "files_missing", "detail", "exit_code", "log", "reused_from", "signer", "sig_key"}, e
    if e["state"] != "failed":
        assert e["exit_code"] is None and e["log"] is None, e
EOF
}
check "status --json is valid JSON with the documented fields" json

# ---- 8. --rebuild of a build whose module has the same version and srcversion ----
# The new alpha.ko is the installed one's equal (same source): it is
# reinstalled, its install record still names it, and remove deletes it.
B=$W/rebuild
new_root "$B"
add_module "$B" alpha
"$REKMOD" --root "$B" sync -q --kernel "$K1" >/dev/null 2>&1
rebuilt() {
	local out rec=$B/var/lib/dkms/alpha/1.0/$K1/$ARCH/.rekmod-installed
	out=$("$REKMOD" --root "$B" sync --rebuild --kernel "$K1" -m alpha 2>&1) || { echo "$out"; return 1; }
	grep -qF "Building alpha/1.0 for $K1" <<<"$out" && ! grep -q "already installed" <<<"$out" ||
		{ echo "$out"; return 1; }
	grep -qxF "alpha.ko	/lib/modules/$K1/updates/dkms/alpha.ko" "$rec" || { echo "$out"; cat "$rec"; return 1; }
	"$REKMOD" --root "$B" status alpha | grep -qxF "alpha/1.0, $K1, $ARCH: installed"
}
check "sync --rebuild of an unchanged module reinstalls it and its install record names alpha.ko" rebuilt
removed_clean() {
	"$REKMOD" --root "$B" uninstall alpha/1.0 -k "$K1" >/dev/null 2>&1 &&
		[[ ! -e $B/lib/modules/$K1/updates/dkms/alpha.ko ]] || { find "$B/lib/modules" -name 'alpha*'; return 1; }
	"$REKMOD" --root "$B" install alpha/1.0 -k "$K1" >/dev/null 2>&1 &&
		"$REKMOD" --root "$B" sync -q --rebuild --kernel "$K1" -m alpha >/dev/null 2>&1 &&
		"$REKMOD" --root "$B" remove alpha/1.0 --all >/dev/null 2>&1 || return 1
	[[ -z $(find "$B/lib/modules" -name 'alpha.ko*') && ! -e $B/var/lib/dkms/alpha ]] ||
		{ find "$B/lib/modules" "$B/var/lib/dkms" -name 'alpha*'; return 1; }
}
check "after the rebuild, uninstall and remove take alpha.ko out of the kernel's tree" removed_clean

after=$(find /lib/modules /var/lib/dkms -maxdepth 3 -printf '%p %T@\n' 2>/dev/null | sort)
host_untouched() { [[ $before == "$after" ]]; }
check "nothing changed in the host's /lib/modules and /var/lib/dkms" host_untouched

summary
