# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by the integration suites that source it: kernel discovery, scratch
# roots, and a tiny TAP ("ok N - ..." lines, then "P passed, F failed").
export LC_ALL=C
SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export REKMOD=${REKMOD:-$SRCDIR/build/rekmod}
ARCH=$(uname -m)

# K1, K2: the two newest Debian 6.1 header trees; skip (77) without two
mapfile -t KERNELS < <(find /usr/src -maxdepth 1 -name 'linux-headers-6.1.0-*-amd64' -printf '%f\n' |
	sed 's/^linux-headers-//' | sort -rV | head -n 2)
if ((${#KERNELS[@]} < 2)); then
	echo "SKIP: fewer than two /usr/src/linux-headers-6.1.0-*-amd64 trees"
	exit 77
fi
K1=${KERNELS[0]}
K2=${KERNELS[1]}

# new_root DIR: os-release and headers links for K1 and K2
new_root() {
	local r=$1 k
	mkdir -p "$r/etc" "$r/usr/src"
	cp /etc/os-release "$r/etc/os-release"
	for k in "$K1" "$K2"; do
		mkdir -p "$r/lib/modules/$k"
		ln -s "/usr/src/linux-headers-$k" "$r/lib/modules/$k/build"
	done
}

N=0 PASSED=0 FAILED=0
# check DESCRIPTION COMMAND...: one numbered result, the output shown on failure
check() {
	local desc=$1 out
	shift
	N=$((N + 1))
	if out=$("$@" 2>&1); then
		echo "ok $N - $desc"
		PASSED=$((PASSED + 1))
	else
		echo "not ok $N - $desc"
		sed 's/^/#   /' <<<"$out"
		FAILED=$((FAILED + 1))
	fi
}

# summary: the closing line and the exit status
summary() {
	echo "$PASSED passed, $FAILED failed"
	((FAILED == 0))
}
