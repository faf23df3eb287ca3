#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# tests/host-snapshot.sh, which `make check` runs around every test to prove
# the host's /lib/modules, /var/lib/dkms, /etc and /usr/src unchanged: here on
# a scratch directory (HOST_SNAPSHOT_ROOTS), each kind of change is reported
# as that path and that field, an untouched tree passes, excluded paths are
# ignored. Under a second on an idle machine.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

W=$(realpath "$(mktemp -d /tmp/rekmod-snap.XXXXXX)")
trap '[[ -n ${KEEP:-} ]] || rm -rf "$W"' EXIT
SNAP=$SRCDIR/tests/host-snapshot.sh
R=$W/etc
export HOST_SNAPSHOT_ROOTS="$R $W/nonexistent" HOST_SNAPSHOT_EXCLUDE="$R/volatile"

fresh() {
	rm -rf "$R" && mkdir -p "$R/d" && echo one >"$R/d/f" && echo two >"$R/g" && ln -s d "$R/l" &&
		echo v >"$R/volatile" && printf 'x\n' >"$R/new
line" && touch -d '2020-01-01 00:00' "$R/d/f" "$R/g" "$R/d" "$R" &&
		bash "$SNAP" record "$W/m" >/dev/null
}

# expect LINE CHANGE...: after CHANGE, compare fails and says LINE
expect() {
	local want=$1 out
	shift
	fresh || return 1
	"$@" || return 1
	if out=$(bash "$SNAP" compare "$W/m"); then
		echo "compare passed after: $*"
		return 1
	fi
	grep -qxF "host-snapshot: $want" <<<"$out" || { printf 'wanted: %s\ngot:\n%s\n' "$want" "$out"; return 1; }
}

same_size_same_mtime() { echo ONE >"$R/d/f" && touch -d '2020-01-01 00:00' "$R/d/f"; }
only_mtime() { touch "$R/g"; }
chmod_it() { chmod 0600 "$R/g"; }
retarget() { local t; t=$(stat -c %y "$R/l") && ln -sfn g "$R/l" && touch -h -d "$t" "$R/l"; }
add_file() { touch "$R/d/added"; }
remove_file() { rm "$R/g"; }

check "an untouched tree passes" bash -c "$(declare -f fresh); SNAP=$SNAP R=$R W=$W; fresh && bash $SNAP compare $W/m"
check "new content of the same size and mtime: content" expect "changed: $R/d/f (content)" same_size_same_mtime
check "only the mtime" expect "changed: $R/g (mtime)" only_mtime
check "the mode" expect "changed: $R/g (mode)" chmod_it
check "a symlink's target" expect "changed: $R/l (link)" retarget
check "an added file" expect "added:   $R/d/added" add_file
check "a removed file" expect "removed: $R/g" remove_file
check "an excluded path is ignored" bash -c "$(declare -f fresh); SNAP=$SNAP R=$R W=$W; fresh && echo w >$R/volatile && bash $SNAP compare $W/m"
check "a name with a newline is one manifest line" bash -c "grep -c '^$R/new\\\\nline' $W/m | grep -qx 1"
summary
