#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Hardening (issue 15): what an attacker or an accident controls (a kernel
# directory's name, -k, a module name, dkms.conf's paths, the owner of a
# source tree, two adds at once, a lock holder that died) cannot run code,
# write outside the trees, or leave the tree broken. Scratch roots, real make
# and headers. Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

W=$(realpath "$(mktemp -d /tmp/rekmod-harden.XXXXXX)")
trap '[[ -n ${KEEP:-} ]] || rm -rf "$W"' EXIT

# mk_src DIR NAME VERSION [dkms.conf lines...]: a hello-like module source in DIR
mk_src() {
	local d=$1 name=$2 ver=$3 line
	shift 3
	mkdir -p "$d"
	sed "s/hello/$name/g" "$SRCDIR/examples/hello/hello.c" >"$d/$name.c"
	printf 'obj-m := %s.o\n' "$name" >"$d/Makefile"
	{
		printf 'PACKAGE_NAME="%s"\nPACKAGE_VERSION="%s"\nBUILT_MODULE_NAME[0]="%s"\n' "$name" "$ver" "$name"
		printf 'DEST_MODULE_LOCATION[0]="/updates/dkms"\nAUTOINSTALL="yes"\n'
		for line in "$@"; do
			printf '%s\n' "$line"
		done
	} >"$d/dkms.conf"
}
KMAKE='MAKE[0]="make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build"'

# ---- 6. names reach bash -c quoted, and only real names are accepted ----
R=$W/names
new_root "$R"
BAD='6.1.0-57-amd64;echo${IFS}INJECTED-$(id${IFS}-u);'
mkdir -p "$R/lib/modules/$BAD"
ln -s "/usr/src/linux-headers-$K1" "$R/lib/modules/$BAD/build"
mk_src "$R/usr/src/inj-1.0" inj 1.0 "$KMAKE"
"$REKMOD" --root "$R" add inj/1.0 >/dev/null 2>&1
"$REKMOD" --root "$R" install inj/1.0 --all >"$W/inj-all.out" 2>&1
no_injection() { ! grep -rqs 'INJECTED-[0-9]' "$W/inj-all.out" "$R"; }
check "install --all with a kernel dir named '$BAD': no code runs" no_injection
check "the bad kernel dir is skipped with a warning naming it" \
	grep -Fq "Warning: skipping $R/lib/modules/$BAD: a kernel release may hold only" "$W/inj-all.out"
check "the good kernels are still built" test -e "$R/lib/modules/$K1/updates/dkms/inj.ko"
"$REKMOD" --root "$R" sync -q >"$W/inj-sync.out" 2>&1
check "sync with that kernel dir: no code runs" bash -c "! grep -rqs 'INJECTED-[0-9]' '$W/inj-sync.out' '$R'"
check "sync built nothing for it" test ! -e "$R/var/lib/dkms/inj/1.0/$BAD"
"$REKMOD" --root "$R" build inj/1.0 -k "$BAD" >"$W/inj-k.out" 2>&1
check "build -k '$BAD' fails" test $? != 0
check "... with one line naming the value" grep -Fq "invalid kernel version \"$BAD\": it may hold only" "$W/inj-k.out"
check "... and runs no code" bash -c "! grep -rqs 'INJECTED-[0-9]' '$W/inj-k.out' '$R'"

mk_src "$W/xid" 'x;id' 1.0
"$REKMOD" --root "$R" add "$W/xid" >"$W/xid.out" 2>&1
check "add of a module named 'x;id' fails" test $? != 0
check "... naming the bad module name" grep -Fq 'invalid module name "x;id"' "$W/xid.out"
check "... and registers nothing" test ! -e "$R/var/lib/dkms/x;id"
"$REKMOD" --root "$R" build 'x;id/1.0' -k "$K1" >"$W/xid-build.out" 2>&1
check "build 'x;id/1.0' is refused before anything runs" grep -Fq 'invalid module name "x;id"' "$W/xid-build.out"

S="$W/with space"
new_root "$S"
mk_src "$S/usr/src/spaced-1.0" spaced 1.0
# kbuild itself refuses an M= with a space; what rekmod owes is one word per value
"$REKMOD" --root "$S" build spaced/1.0 -k "$K1" >"$W/space.out" 2>&1
one_word() {
	local cmd
	cmd=$(sed -n 's/^# command: //p' "$S/var/lib/dkms/spaced/1.0/build/make.log")
	eval "set -- $cmd"
	local a found=
	for a in "$@"; do
		[[ $a == "M=$S/var/lib/dkms/spaced/1.0/build" ]] && found=1
		[[ $a == space/* ]] && return 1
	done
	[[ -n $found ]]
}
check "the default MAKE in a root whose path has a space passes M= as one word" one_word

# ---- 5. dkms.conf's paths stay inside their trees ----
P=$W/paths
new_root "$P"
printf 'ID=plainos\nNAME="Plain"\n' >"$P/etc/os-release" # no DEST_MODULE_LOCATION override
outside_kos() { find "$W" -name '*.ko' ! -path "$P/lib/modules/*" ! -path "$P/var/lib/dkms/*" ! -path "$R/*" ! -path "$S/*"; }

mk_src "$P/usr/src/dn-1.0" dn 1.0 "$KMAKE" 'DEST_MODULE_NAME[0]="../../../../../../dnout"'
"$REKMOD" --root "$P" add dn/1.0 >/dev/null 2>&1
"$REKMOD" --root "$P" install dn/1.0 -k "$K1" >"$W/dn.out" 2>&1
check "DEST_MODULE_NAME with ../: install fails" test $? != 0
check "... with a line naming the directive and its value" \
	grep -q 'DEST_MODULE_NAME\[0\]="../../../../../../dnout"' "$W/dn.out"
check "... and writes no module outside the trees" test -z "$(outside_kos)"

echo decoy >"$W/dl.ko"
mk_src "$P/usr/src/dl-1.0" dl 1.0 "$KMAKE" 'DEST_MODULE_LOCATION[0]="/updates/../../../../.."'
"$REKMOD" --root "$P" add dl/1.0 >/dev/null 2>&1
"$REKMOD" --root "$P" install dl/1.0 -k "$K1" >"$W/dl.out" 2>&1
check "DEST_MODULE_LOCATION=/updates/../../../../..: install fails" test $? != 0
check "... with a line naming the directive, its value and the fix" \
	grep -q 'DEST_MODULE_LOCATION\[0\]="/updates/../../../../..".*set it to "/updates"' "$W/dl.out"
check "... the module is not installed" bash -c "! '$REKMOD' --root '$P' status dl | grep -q installed"
"$REKMOD" --root "$P" remove dl/1.0 --all >/dev/null 2>&1
check "... and install and remove leave the file there alone" test "$(cat "$W/dl.ko" 2>/dev/null)" = decoy

mkdir -p "$P/outside"
printf 'int f(void) { return 1; }\n' >"$W/f.c"
gcc -g -c "$W/f.c" -o "$P/outside/bl.ko"
SUM=$(sha256sum <"$P/outside/bl.ko")
mk_src "$P/usr/src/bl-1.0" bl 1.0 "$KMAKE" 'BUILT_MODULE_LOCATION[0]="../../../../../../outside/"'
"$REKMOD" --root "$P" add bl/1.0 >/dev/null 2>&1
"$REKMOD" --root "$P" build bl/1.0 -k "$K1" >"$W/bl.out" 2>&1
check "BUILT_MODULE_LOCATION with ../: build fails" test $? != 0
check "... with a line naming the directive" grep -q 'BUILT_MODULE_LOCATION\[0\]="../../../../../../outside/"' "$W/bl.out"
check "... and strip -g leaves the file outside the build directory alone" \
	test "$(sha256sum <"$P/outside/bl.ko")" = "$SUM"

L=$W/link
new_root "$L"
mkdir -p "$L/lib/modules/$K1/updates" "$W/elsewhere"
ln -s "$W/elsewhere" "$L/lib/modules/$K1/updates/dkms"
mk_src "$L/usr/src/ln-1.0" ln 1.0 "$KMAKE"
"$REKMOD" --root "$L" add ln/1.0 >/dev/null 2>&1
"$REKMOD" --root "$L" install ln/1.0 -k "$K1" >"$W/ln.out" 2>&1
check "a symlinked updates/dkms: install fails" test $? != 0
check "... naming the link and the fix" grep -Fq "Error! $L/lib/modules/$K1/updates/dkms is a symbolic link" "$W/ln.out"
check "... and nothing lands where it points" test -z "$(ls -A "$W/elsewhere")"
check "... the module is not installed" bash -c "! '$REKMOD' --root '$L' status ln | grep -q installed"

# ---- 7. a source tree another user can change is not built as root ----
T=$W/trust
new_root "$T"
mk_src "$T/usr/src/owned-1.0" owned 1.0 "$KMAKE" 'POST_ADD="touch-marker.sh"'
printf '#!/bin/sh\ntouch "%s/ran"\n' "$W" >"$T/usr/src/owned-1.0/touch-marker.sh"
chmod 755 "$T/usr/src/owned-1.0/touch-marker.sh"
chown -R nobody: "$T/usr/src/owned-1.0"
"$REKMOD" --root "$T" add owned/1.0 >"$W/owned.out" 2>&1
check "add of a source owned by nobody fails" test $? != 0
check "... in one line naming the path and the fix" \
	grep -Eq "^Error! $T/usr/src/owned-1.0 is owned by uid [0-9]+, not root: .*chown -R root:root $T/usr/src/owned-1.0" \
	"$W/owned.out"
check "... registers nothing and runs nothing" bash -c "test ! -e '$T/var/lib/dkms/owned' && test ! -e '$W/ran'"
"$REKMOD" --root "$T" add owned/1.0 --force >"$W/owned-force.out" 2>&1
check "add --force adds it, with a warning" \
	bash -c "test -L '$T/var/lib/dkms/owned/1.0/source' && grep -q '^Warning: .* is owned by uid' '$W/owned-force.out'"

mk_src "$T/usr/src/ww-1.0" ww 1.0 "$KMAKE"
chmod 0777 "$T/usr/src/ww-1.0"
"$REKMOD" --root "$T" add ww/1.0 >"$W/ww.out" 2>&1
check "add of a world-writable (0777) source directory fails" test $? != 0
check "... naming the mode and chmod go-w" \
	grep -Fq "Error! $T/usr/src/ww-1.0 is writable by other users (mode 0777): rekmod will not run its dkms.conf and make as root; fix it with chown -R root:root $T/usr/src/ww-1.0 and chmod -R go-w" \
	"$W/ww.out"
chmod 0755 "$T/usr/src/ww-1.0"
chmod 0666 "$T/usr/src/ww-1.0/dkms.conf"
"$REKMOD" --root "$T" add "$T/usr/src/ww-1.0" >"$W/ww2.out" 2>&1
check "add DIR with a 0666 dkms.conf fails" \
	bash -c "! test -e '$T/var/lib/dkms/ww' && grep -Fq '$T/usr/src/ww-1.0/dkms.conf is writable by other users (mode 0666)' '$W/ww2.out'"
chmod 0644 "$T/usr/src/ww-1.0/dkms.conf"
"$REKMOD" --root "$T" add ww/1.0 >/dev/null 2>&1
chmod 0666 "$T/usr/src/ww-1.0/Makefile"
"$REKMOD" --root "$T" build ww/1.0 -k "$K1" >"$W/ww3.out" 2>&1
check "build of a source whose Makefile became 0666 fails" test $? != 0
check "... before make runs" bash -c "grep -Fq '$T/usr/src/ww-1.0/Makefile is writable by other users' '$W/ww3.out' && test ! -e '$T/var/lib/dkms/ww/1.0/build/make.log'"
"$REKMOD" --root "$T" build ww/1.0 -k "$K1" --force >/dev/null 2>&1
check "build --force builds it" test -d "$T/var/lib/dkms/ww/1.0/$K1/$ARCH/module"

# ---- 9. add DIR of one module twice at once; a copy a crash cut short ----
A=$W/adds
new_root "$A"
mk_src "$W/big" big 1.0 "$KMAKE"
mkdir -p "$W/big/data"
for i in $(seq 1 3000); do echo "$i" >"$W/big/data/f$i"; done
for i in 1 2 3 4; do "$REKMOD" --root "$A" add "$W/big" >"$W/add$i.out" 2>&1 & done
wait
whole_copy() { diff -r "$W/big" "$A/usr/src/big-1.0" >/dev/null; }
check "four concurrent add DIR: the source copy is whole" whole_copy
check "... big/1.0 is added" test -L "$A/var/lib/dkms/big/1.0/source"
check "... and no temporary copy is left" test -z "$(ls -A "$A/usr/src" | grep -v '^big-1.0$')"
mkdir -p "$A/usr/src/cut-1.0"
echo 'obj-m := cut.o' >"$A/usr/src/cut-1.0/Makefile" # no dkms.conf: a copy cut short
mk_src "$W/cut" cut 1.0 "$KMAKE"
"$REKMOD" --root "$A" add "$W/cut" >"$W/cut.out" 2>&1
check "add DIR over a copy without dkms.conf replaces it" \
	bash -c "'$REKMOD' --root '$A' status cut | grep -q 'cut/1.0: added' && diff -r '$W/cut' '$A/usr/src/cut-1.0'"
check "... saying so" grep -Fq "Warning: $A/usr/src/cut-1.0 has no dkms.conf" "$W/cut.out"

# ---- 11. the tree lock: who holds it, said at once; a bounded, configurable wait; no orphan keeps it ----
Q=$W/lock
new_root "$Q"
LOCK=$Q/var/lib/dkms/.rekmod.lock
slow_make() { # SECONDS: a MAKE[0] that sleeps first
	printf 'MAKE[0]="sleep %s; make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build"' "$1"
}
mk_src "$Q/usr/src/slow-1.0" slow 1.0 "$(slow_make 4)"
mk_src "$Q/usr/src/other-1.0" other 1.0 "$KMAKE"
"$REKMOD" --root "$Q" add slow/1.0 >/dev/null 2>&1
"$REKMOD" --root "$Q" install slow/1.0 -k "$K1" >/dev/null 2>&1 &
HOLDER=$!
sleep 1
"$REKMOD" --root "$Q" add other/1.0 >"$W/wait.out" 2>"$W/wait.err" &
WAITER=$!
sleep 1
check "a waiting command says so on stderr at once, naming the live holder" \
	grep -Fxq "Waiting for the DKMS tree lock $LOCK held by pid $HOLDER..." "$W/wait.err"
wait "$HOLDER" "$WAITER"

mkdir -p "$Q/etc/dkms"
echo 'lock_timeout_seconds=2' >"$Q/etc/dkms/framework.conf"
echo 2147483646 >"$LOCK" # the last holder's pid, long gone
flock "$LOCK" sleep 6 &
FL=$!
sleep 0.5
"$REKMOD" --root "$Q" remove other/1.0 --all >"$W/stale.out" 2>&1 &
RM=$!
SECONDS=0
wait "$RM"
RC=$?
T=$SECONDS
check "the waiting line does not name the stale pid in the lock file" bash -c "! grep -q 2147483646 '$W/stale.out'"
check "lock_timeout_seconds=2: the wait ends in time (exit 1, ${T}s)" test "$RC" = 1 -a "$T" -le 4
check "... with an error naming the timeout and the setting" \
	grep -q "^Error! Timed out after 2s waiting for $LOCK.*lock_timeout_seconds in framework.conf" "$W/stale.out"
wait "$FL"

O=$W/orphan
new_root "$O"
mkdir -p "$O/etc/dkms"
echo 'lock_timeout_seconds=5' >"$O/etc/dkms/framework.conf"
mk_src "$O/usr/src/orph-1.0" orph 1.0 "$(slow_make 12)"
mk_src "$O/usr/src/late-1.0" late 1.0 "$KMAKE"
"$REKMOD" --root "$O" add orph/1.0 >/dev/null 2>&1
"$REKMOD" --root "$O" sync --kernel "$K1" >/dev/null 2>&1 &
SYNC=$!
sleep 2
{
	kill -KILL "$SYNC"
	wait "$SYNC"
} 2>/dev/null # no "Killed" notice
SECONDS=0
timeout 8 "$REKMOD" --root "$O" add late/1.0 >"$W/late.out" 2>&1
T=$SECONDS
check "a killed sync's build worker does not keep the lock (add got it in ${T}s)" \
	test -L "$O/var/lib/dkms/late/1.0/source" -a "$T" -le 3
timeout 20 flock "$O/var/lib/dkms/.rekmod.lock" true # an orphan (unfixed) finishes before the tree goes

# ---- 4. remove --all waiting for an install removes what the install built ----
F=$W/race
new_root "$F"
mk_src "$F/usr/src/race-1.0" race 1.0 "$(slow_make 2)"
"$REKMOD" --root "$F" add race/1.0 >/dev/null 2>&1
"$REKMOD" --root "$F" install race/1.0 -k "$K1" >/dev/null 2>&1 &
INST=$!
sleep 0.2
"$REKMOD" --root "$F" remove race/1.0 --all >"$W/race.out" 2>&1
wait "$INST"
check "install -k K & remove --all: the module is removed from K" test ! -e "$F/lib/modules/$K1/updates/dkms/race.ko"
check "... and unregistered" test ! -e "$F/var/lib/dkms/race"

# ---- 1. a dkms.conf array index is bounded; one bad registration stops nothing ----
B=$W/bounds
new_root "$B"
# bounded: 1 GB of address space and 20 s for what used to want 20 GB
bounded() { (ulimit -v 1000000 && exec timeout 20 "$@"); }
mk_src "$B/usr/src/huge-1.0" huge 1.0 'DEST_MODULE_LOCATION[4000000000]="/updates"'
bounded "$REKMOD" --root "$B" add huge/1.0 >"$W/huge.out" 2>&1
RC=$?
check "add with DEST_MODULE_LOCATION[4000000000]: fails as a bad dkms.conf (exit $RC, not a crash)" test "$RC" = 8
check "... in one line naming the file, the line, the limit and the fix" \
	grep -Fxq "$B/usr/src/huge-1.0/dkms.conf:6: DEST_MODULE_LOCATION[4000000000]: the index is above rekmod's limit of 1023; number the entries from 0 (DEST_MODULE_LOCATION[0], DEST_MODULE_LOCATION[1], ...)" "$W/huge.out"
mk_src "$B/usr/src/many-1.0" many 1.0 'BUILT_MODULE_NAME[5000]="x"'
bounded "$REKMOD" --root "$B" add many/1.0 >"$W/many.out" 2>&1
check "BUILT_MODULE_NAME[5000]: a few lines, not millions ($(wc -l <"$W/many.out"))" \
	bash -c "test \$(wc -l <'$W/many.out') -le 4 && grep -Fq 'dkms.conf:6: BUILT_MODULE_NAME[5000]: the index is above' '$W/many.out'"
mk_src "$B/usr/src/dups-1.0" dups 1.0 \
	'for ((i = 1; i <= 1023; i++)); do BUILT_MODULE_NAME[$i]=dups; DEST_MODULE_LOCATION[$i]=/updates; done'
SECONDS=0
bounded "$REKMOD" --root "$B" add dups/1.0 >"$W/dups.out" 2>&1
T=$SECONDS
# dkms 3.x's lines: one for BUILT_MODULE_NAME and one for DEST_MODULE_NAME
# per duplicate (rekmod's file:line detail comes with --verbose)
check "1024 modules of one name: dkms 3.x's two lines per duplicate, in ${T}s" \
	bash -c "test $T -le 3 && test \$(grep -c \"^dkms.conf: Error! Duplicate module 'dups' in 'BUILT_MODULE_NAME\[\" '$W/dups.out') = 1023 &&
		test \$(grep -c 'Duplicate module' '$W/dups.out') = 2046"

mk_src "$B/usr/src/fine-1.0" fine 1.0 "$KMAKE"
mk_src "$B/usr/src/later-1.0" later 1.0 "$KMAKE"
"$REKMOD" --root "$B" add fine/1.0 >/dev/null 2>&1
sed -i '/4000000000/d' "$B/usr/src/huge-1.0/dkms.conf"
"$REKMOD" --root "$B" add huge/1.0 >/dev/null 2>&1
echo 'DEST_MODULE_LOCATION[4000000000]="/updates"' >>"$B/usr/src/huge-1.0/dkms.conf"
"$REKMOD" --root "$B" add later/1.0 >/dev/null 2>&1
bounded "$REKMOD" --root "$B" sync --hook --kernel "$K1" >"$W/bsync.out" 2>&1
RC=$?
check "sync --hook with that registration exits 0 (exit $RC)" test "$RC" = 0
check "... builds and installs the other modules" \
	test -e "$B/lib/modules/$K1/updates/dkms/fine.ko" -a -e "$B/lib/modules/$K1/updates/dkms/later.ko"
check "... and names the bad file" grep -Fq "huge-1.0/dkms.conf:6: DEST_MODULE_LOCATION[4000000000]: the index is above" "$W/bsync.out"
# the hook programs (a fresh checkout's `make check` has built only rekmod)
make -s -C "$SRCDIR" build/rekmod-rpm-trigger build/rekmod-alpm-hook >"$W/hooks-make.log" 2>&1 || cat "$W/hooks-make.log"
printf '/lib/modules/%s/vmlinuz\n' "$K2" |
	bounded "$SRCDIR/build/rekmod-rpm-trigger" --root "$B" --rekmod "$REKMOD" kernels-in >"$W/brpm.out" 2>&1
RC=$?
check "the rpm trigger with that registration exits 0 (exit $RC) and builds the others" \
	test "$RC" = 0 -a -e "$B/lib/modules/$K2/updates/dkms/fine.ko" -a -e "$B/lib/modules/$K2/updates/dkms/later.ko"
printf 'usr/lib/modules/%s/vmlinuz\n' "$K1" |
	bounded "$SRCDIR/build/rekmod-alpm-hook" --root "$B" --rekmod "$REKMOD" install >"$W/balpm.out" 2>&1
RC=$?
check "the pacman hook with that registration exits 0 (exit $RC)" \
	bash -c "test $RC = 0 && grep -q 'DEST_MODULE_LOCATION\[4000000000\]' '$W/balpm.out'"

# ---- 8. timeouts: a dkms.conf, make or script that never ends is killed with its group, the others go on ----
H=$W/hang
new_root "$H"
mkdir -p "$H/etc/dkms"
printf 'conf_timeout_seconds=2\nmake_timeout_seconds=12\nscript_timeout_seconds=2\n' >"$H/etc/dkms/framework.conf"
mk_src "$H/usr/src/spin-1.0" spin 1.0 "$KMAKE"
mk_src "$H/usr/src/mk-1.0" mk 1.0 \
	'MAKE[0]="sleep 1001 & sleep 1001; make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build"'
mk_src "$H/usr/src/pre-1.0" pre 1.0 "$KMAKE" 'PRE_BUILD="pre.sh"'
printf '#!/bin/sh\nsleep 1002\n' >"$H/usr/src/pre-1.0/pre.sh"
chmod 755 "$H/usr/src/pre-1.0/pre.sh"
mk_src "$H/usr/src/calm-1.0" calm 1.0 "$KMAKE"
for m in spin mk pre calm; do "$REKMOD" --root "$H" add "$m/1.0" >/dev/null 2>&1; done
echo 'while :; do :; done' >>"$H/usr/src/spin-1.0/dkms.conf"
SECONDS=0
timeout 90 "$REKMOD" --root "$H" sync --hook --kernel "$K1" >"$W/hang.out" 2>&1
RC=$? T=$SECONDS
check "sync --hook with an endless dkms.conf, make and PRE_BUILD ends (exit $RC, ${T}s)" test "$RC" = 0 -a "$T" -le 40
check "... the other module is built and installed" test -e "$H/lib/modules/$K1/updates/dkms/calm.ko"
check "... the dkms.conf is named with conf_timeout_seconds" \
	grep -Fq "$H/usr/src/spin-1.0/dkms.conf: still running after 2s of evaluation, killed; remove the endless loop or the command that waits, or raise conf_timeout_seconds in framework.conf" "$W/hang.out"
check "... make is named with make_timeout_seconds" \
	grep -Fq "mk/1.0, $K1, $ARCH: failed with exit 10 (make failed): make for mk/1.0 on kernel $K1 ($ARCH) still ran after 12s and was killed; raise make_timeout_seconds in framework.conf (0: no limit)" "$W/hang.out"
check "... and make.log says so" grep -Fxq "# killed: still running after make_timeout_seconds=12" "$H/var/lib/dkms/mk/1.0/log/make-$K1-$ARCH.log"
check "... the script is named with script_timeout_seconds" \
	grep -q "The pre_build script .*/pre.sh still ran after 2s and was killed; raise script_timeout_seconds in framework.conf" "$W/hang.out"
check "... nothing they started is left running" bash -c "! pgrep -f 'sleep 100[12]'"
check "... and the lock is free" flock -n "$H/var/lib/dkms/.rekmod.lock" true
printf 'conf_timeout_seconds=forever\n' >"$H/etc/dkms/framework.conf"
"$REKMOD" --root "$H" status >"$W/hang-bad.out" 2>&1
check "a bad conf_timeout_seconds is one warning naming the default" \
	grep -Fq 'framework.conf: conf_timeout_seconds="forever" is not a number of seconds (1 to 604800), the default 60 is used' "$W/hang-bad.out"

# ---- 10. MAKE and the scripts get a clean environment, plus what dkms sets and framework.conf allows ----
E=$W/env
new_root "$E"
mkdir -p "$E/etc/dkms"
echo 'build_environment_allow="RK_ALLOWED RK_PFX_*"' >"$E/etc/dkms/framework.conf"
mk_src "$E/usr/src/envy-1.0" envy 1.0 \
	'MAKE[0]="env >../make.env; make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build"' \
	'PRE_BUILD="dump.sh pre"' 'POST_ADD="dump.sh add"'
printf '#!/bin/sh\nenv >"$(dirname "$0")/../$1.env"\n' >"$E/usr/src/envy-1.0/dump.sh"
chmod 755 "$E/usr/src/envy-1.0/dump.sh"
printf 'touch %s/bash-env-sourced\n' "$W" >"$W/bash_env"
run_dirty() {
	env SSH_AUTH_SOCK=/run/agent.sock AWS_SECRET_ACCESS_KEY=hunter2 MAKEFLAGS=-k BASH_ENV="$W/bash_env" \
		ENV="$W/bash_env" CFLAGS=-O0 RK_ALLOWED=yes RK_PFX_ONE=one RK_NOT=no "$REKMOD" --root "$E" "$@"
}
run_dirty add envy/1.0 >/dev/null 2>&1
run_dirty build envy/1.0 -k "$K1" >"$W/envy.out" 2>&1
check "a module whose MAKE and scripts dump their environment builds" test -d "$E/var/lib/dkms/envy/1.0/$K1/$ARCH/module"
ENVS="$E/var/lib/dkms/envy/1.0/make.env $E/var/lib/dkms/envy/1.0/pre.env $E/usr/src/add.env"
no_secret() {
	local f
	for f in $ENVS; do
		[[ -s $f ]] || { echo "missing $f"; return 1; }
		! grep -E '^(SSH_AUTH_SOCK|AWS_SECRET_ACCESS_KEY|MAKEFLAGS|BASH_ENV|ENV|CFLAGS|RK_NOT)=' "$f" || return 1
	done
}
check "... MAKE, PRE_BUILD and POST_ADD get no SSH_AUTH_SOCK, secret, MAKEFLAGS, BASH_ENV, CFLAGS" no_secret
check "... BASH_ENV is not sourced" test ! -e "$W/bash-env-sourced"
allowed() {
	local f
	for f in $ENVS; do
		grep -qx 'RK_ALLOWED=yes' "$f" && grep -qx 'RK_PFX_ONE=one' "$f" && grep -q '^PATH=' "$f" &&
			grep -qx "dkms_tree=$E/var/lib/dkms" "$f" || { echo "$f"; return 1; }
	done
}
check "... they get PATH, dkms_tree and the names build_environment_allow lists" allowed
check "... MAKE gets kernelver, arch and kernel_source_dir" \
	bash -c "grep -qx 'kernelver=$K1' '$E/var/lib/dkms/envy/1.0/make.env' &&
		grep -qx 'arch=$ARCH' '$E/var/lib/dkms/envy/1.0/make.env' &&
		grep -q '^kernel_source_dir=/' '$E/var/lib/dkms/envy/1.0/make.env' &&
		grep -qx 'kernelver=$K1' '$E/var/lib/dkms/envy/1.0/pre.env'"

summary
