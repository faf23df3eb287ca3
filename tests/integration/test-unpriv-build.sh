#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Builds without root (core/lib/sandbox.c): with build_user in framework.conf,
# make runs as that user in a private mount namespace where only the build
# directory and a private /tmp are writable, without network. A Makefile that
# writes outside its build directory (a world-writable directory, /tmp) and
# opens a socket to a listener of this test fails at both, while the module
# still builds and installs (as root). The same Makefile built as root (no
# build_user) succeeds at both: the checks can fail. An unknown build_user is
# one error and no build. A Makefile that swaps its .ko for a symbolic or a hard
# link to a root file outside fails the build, the file unchanged. About 40 s on
# an idle machine (three compiled builds).
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

unshare --mount --net true 2>/dev/null || { echo "SKIP: no mount or network namespaces here"; exit 77; }
id nobody >/dev/null 2>&1 || { echo "SKIP: no user nobody"; exit 77; }
W=$(realpath "$(mktemp -d /tmp/rekmod-unpriv.XXXXXX)")
LISTENER=
# world-writable, outside every build directory and outside /tmp (private in the build)
mkdir -p "$SRCDIR/build"
SHARED=$(mktemp -d "$SRCDIR/build/rekmod-unpriv-shared.XXXXXX")
chmod 1777 "$SHARED"
trap '[[ -n $LISTENER ]] && kill "$LISTENER" 2>/dev/null; [[ -n ${KEEP:-} ]] || rm -rf "$W" "$SHARED"' EXIT
chmod 0755 "$W"
TMPMARK=rekmod-unpriv-$$-$RANDOM

# a TCP listener on 127.0.0.1 that writes "connected" for each connection
PORTFILE=$W/port
python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
open(sys.argv[1], "w").write(str(s.getsockname()[1]))
while True:
    c, _ = s.accept(); open(sys.argv[2], "a").write("connected\n"); c.close()
' "$PORTFILE" "$W/connections" &
LISTENER=$!
for _ in $(seq 50); do [[ -s $PORTFILE ]] && break; sleep 0.1; done
PORT=$(cat "$PORTFILE")

# root R with module snoop-1.0 whose Makefile probes, then builds
make_root() {
	local r=$1 user=$2 d
	new_root "$r"
	chmod 0755 "$r"
	mkdir -p "$r/etc/dkms"
	printf 'build_user="%s"\n' "$user" >"$r/etc/dkms/framework.conf"
	d=$r/usr/src/snoop-1.0
	mkdir -p "$d"
	sed 's/hello/snoop/g' "$SRCDIR/examples/hello/hello.c" >"$d/snoop.c"
	sed 's/hello/snoop/g; s/0\.1/1.0/' "$SRCDIR/examples/hello/dkms.conf" >"$d/dkms.conf"
	echo 'PRE_BUILD="prebuild.sh"' >>"$d/dkms.conf"
	printf '#!/bin/sh\necho "RESULT prebuild_uid=$(id -u)"\n' >"$d/prebuild.sh"
	chmod 0755 "$d/prebuild.sh"
	cat >"$d/Makefile" <<MK
obj-m := snoop.o
KDIR ?= /lib/modules/\$(KVERSION)/build
all:
	echo "RESULT uid=\$\$(id -u)"
	echo x >$SHARED/outside-\$\$\$\$ && echo RESULT outside=written || echo RESULT outside=refused
	echo x >/tmp/$TMPMARK && echo RESULT tmp=written || echo RESULT tmp=refused
	python3 -c 'import socket; socket.create_connection(("127.0.0.1", $PORT), 3)' \\
		&& echo RESULT net=connected || echo RESULT net=refused
	\$(MAKE) -C \$(KDIR) M=\$(CURDIR) modules
MK
	"$REKMOD" --root "$r" add snoop/1.0 >/dev/null
}

# what the Makefile said (RESULT name=value in the build's make.log)
result() {
	local v
	v=$(sed -n "s/^RESULT $2=//p" "$1/var/lib/dkms/snoop/1.0/$K1/$ARCH/log/make.log" 2>/dev/null)
	echo "${v:-missing}"
}
installed() { [[ -n $(find "$1/lib/modules/$K1" -name snoop.ko) ]]; }
is() { [[ $($1) == "$2" ]] || { echo "got '$($1)', wanted '$2'"; return 1; }; }

U=$W/unpriv
make_root "$U" nobody
check "build and install as build_user nobody" "$REKMOD" --root "$U" install snoop/1.0 -k "$K1"
check "the module is built and installed" installed "$U"
check "make ran as nobody" is "result $U uid" "$(id -u nobody)"
check "the PRE_BUILD script ran as nobody" is "result $U prebuild_uid" "$(id -u nobody)"
check "writing outside the build directory failed" is "result $U outside" refused
check "nothing was written in the world-writable directory" bash -c "! ls $SHARED | grep -q outside"
check "/tmp was private: written there" is "result $U tmp" written
check "... and not on the host" test ! -e "/tmp/$TMPMARK"
check "the network connection failed" is "result $U net" refused
check "the listener saw no connection" bash -c "[[ ! -s $W/connections ]]"
check "the build directory is root's again" bash -c "[[ -z \$(find $U/var/lib/dkms/snoop/1.0 ! -uid 0 | head -1) ]]"

R=$W/asroot
make_root "$R" ""
check "the same Makefile as root (no build_user)" "$REKMOD" --root "$R" install snoop/1.0 -k "$K1"
check "as root, make ran as uid 0" is "result $R uid" 0
check "as root, the PRE_BUILD script ran as uid 0" is "result $R prebuild_uid" 0
check "as root, the write outside succeeds (the check can fail)" is "result $R outside" written
check "as root, the connection succeeds (the check can fail)" is "result $R net" connected
rm -f "/tmp/$TMPMARK"

# ---- the build user swaps the built .ko for a link to a file outside ----
# Root then copies and strips only a regular file of one name inside the
# build directory, and strips the copy: a symbolic link (in the namespace)
# or a hard link (without namespaces, as in a container: rekmod without
# CAP_SYS_ADMIN) to a root file outside fails the build with one line naming
# the path, and the outside file keeps its bytes and owner. No compile: the
# Makefile only makes the link (or, the control, a copy).
mkdir -p "$W/outside"
printf 'int f(void) { return 1; }\n' >"$W/f.c"
gcc -g -c "$W/f.c" -o "$W/outside/target.ko"
chmod 0666 "$W/outside/target.ko" # root's, but nobody may hard-link it (fs.protected_hardlinks)
SUM=$(sha256sum <"$W/outside/target.ko")
swap_root() { # ROOT MAKE-RECIPE
	local r=$1 d=$1/usr/src/swap-1.0
	new_root "$r"
	chmod 0755 "$r"
	mkdir -p "$r/etc/dkms" "$d"
	echo 'build_user="nobody"' >"$r/etc/dkms/framework.conf"
	printf 'PACKAGE_NAME="swap"\nPACKAGE_VERSION="1.0"\nMAKE[0]="make"\nCLEAN="true"\nBUILT_MODULE_NAME[0]="swap"\nDEST_MODULE_LOCATION[0]="/updates"\n' >"$d/dkms.conf"
	printf 'all:\n\t%s\n' "$2" >"$d/Makefile"
	"$REKMOD" --root "$r" add swap/1.0 >/dev/null
}
outside_intact() {
	[[ $(sha256sum <"$W/outside/target.ko") == "$SUM" && $(stat -c %u "$W/outside/target.ko") == 0 ]] ||
		{ stat "$W/outside/target.ko"; return 1; }
}
nocap() { setpriv --bounding-set -sys_admin "$@"; }

S=$W/symlink
swap_root "$S" "ln -s $W/outside/target.ko swap.ko"
"$REKMOD" --root "$S" install swap/1.0 -k "$K1" >"$W/symlink.out" 2>&1
check "make (as nobody) leaves swap.ko a symbolic link outside: install fails" test $? -ne 0
check "... with one line naming the path" \
	grep -Fq "Error! $S/var/lib/dkms/swap/1.0/build/swap.ko: a symbolic link; nothing of it is installed" "$W/symlink.out"
check "... the file outside is unchanged" outside_intact
check "... and nothing is installed" test -z "$(find "$S/lib/modules" -name 'swap.ko*')"

H=$W/hardlink
swap_root "$H" "ln -f $W/outside/target.ko swap.ko"
nocap "$REKMOD" --root "$H" install swap/1.0 -k "$K1" >"$W/hardlink.out" 2>&1
check "without namespaces, make leaves swap.ko a hard link to a root file: install fails" test $? -ne 0
check "... said once: no mount namespaces" grep -q "no mount namespaces here: builds run as nobody" "$W/hardlink.out"
check "... with one line naming the path and the hard links" \
	grep -Fq "Error! $H/var/lib/dkms/swap/1.0/build/swap.ko has 2 hard links: another file's content; nothing" "$W/hardlink.out"
check "... the file outside keeps its bytes (not stripped) and its owner" outside_intact
check "... and nothing is installed" test -z "$(find "$H/lib/modules" -name 'swap.ko*')"

C=$W/copy
swap_root "$C" "cp $W/outside/target.ko swap.ko"
check "the control: make copies it (no link): the build succeeds" nocap "$REKMOD" --root "$C" build swap/1.0 -k "$K1"
check "... the stored module is stripped (its copy, not the build directory's file)" \
	test "$(stat -c %s "$C/var/lib/dkms/swap/1.0/$K1/$ARCH/module/swap.ko")" -lt "$(stat -c %s "$W/outside/target.ko")"
check "... and the file outside is unchanged" outside_intact

B=$W/baduser
make_root "$B" no-such-user-rekmod
out=$("$REKMOD" --root "$B" build snoop/1.0 -k "$K1" 2>&1)
check "an unknown build_user fails the build" test $? -ne 0
check "... with one error naming build_user and the fix" bash -c "grep -q 'build_user=\"no-such-user-rekmod\" (framework.conf) is not a user of this system; create' <<<'$out'"
summary
