#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Distributed module builds (issue 17): framework.conf
# distributed_compiler="distcc" puts distcc in front of the kernel's own
# compiler on kbuild's command line (CC="distcc gcc-12") and
# distributed_jobs sizes the jobserver for the remote slots. A real distccd
# on 127.0.0.1 (scratch port, its own log) serves the compile jobs of
# examples/hello built for K1 in a scratch root; its log shows them served.
# About 15 seconds on an idle machine.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
for t in distcc distccd; do
	command -v "$t" >/dev/null || { echo "SKIP: $t is not installed (tests/deps.sh)"; exit 77; }
done

W=$(realpath "$(mktemp -d /tmp/rekmod-distcc.XXXXXX)")
PID=
cleanup() {
	[[ -z $PID ]] || kill "$PID" 2>/dev/null
	[[ -n ${KEEP:-} ]] || rm -rf "$W"
}
trap cleanup EXIT
chmod 755 "$W"
R=$W/root
new_root "$R"
cp -a "$SRCDIR/examples/hello" "$R/usr/src/hello-0.1"
mkdir -p "$R/etc/dkms"
printf 'distributed_compiler="distcc"\ndistributed_jobs=6\n' >"$R/etc/dkms/framework.conf"
rk() { "$REKMOD" --root "$R" "$@"; }

# distccd drops root for its own user: its log in a directory it may write
mkdir -m 1777 "$W/log"
PORT=$((36000 + RANDOM % 2000))
distccd --no-detach --daemon --listen 127.0.0.1 --allow 127.0.0.1 --port "$PORT" --jobs 2 \
	--log-file "$W/log/distccd.log" --log-level info &
PID=$!
for _ in $(seq 50); do
	grep -q 'listening on' "$W/log/distccd.log" 2>/dev/null && break
	sleep 0.1
done
mkdir -p "$W/distcc"
export DISTCC_HOSTS="127.0.0.1:$PORT/6" DISTCC_FALLBACK=0 DISTCC_DIR=$W/distcc

built_with_distcc() {
	{ rk add hello/0.1 && rk build hello/0.1 -k "$K1"; } >"$W/build.log" 2>&1 || { cat "$W/build.log"; return 1; }
	local ko=$R/var/lib/dkms/hello/0.1/$K1/$ARCH/module/hello.ko
	[[ $(modinfo -F vermagic "$ko") == "$K1 "* ]] || return 1
	grep -q "COMPILE_OK.*hello" "$W/log/distccd.log" || { cat "$W/log/distccd.log"; return 1; }
}
check "hello for $K1 is compiled by the loopback distccd (its log: COMPILE_OK ... hello)" built_with_distcc

command_line() {
	local ml=$R/var/lib/dkms/hello/0.1/$K1/$ARCH/log/make.log
	rk build hello/0.1 -k "$K1" --force --verbose >"$W/build2.log" 2>&1 || { cat "$W/build2.log"; return 1; }
	grep -q "make -j6 .*'CC=distcc gcc-12'" "$W/build2.log" "$ml" || { grep -h make "$W/build2.log" "$ml" | head; return 1; }
}
check "kbuild gets CC='distcc gcc-12' (the kernel's compiler) and -j6 from distributed_jobs" command_line

served() { [[ $(grep -c 'COMPILE_OK' "$W/log/distccd.log") -ge 2 ]] || { cat "$W/log/distccd.log"; return 1; }; }
check "distccd served the jobs of both builds" served

summary
