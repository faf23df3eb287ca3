# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Shared by tests/compat/conf-diff.sh, tests/compat/build-parity.sh and
# bench/dkms-archive.sh: the *-dkms packages cached by tests/deps.sh in
# build/test-cache/debs-all, the test kernels, and scratch worlds in which
# Debian's dkms and rekmod build and install a package.
#
# A world is src/ dkms/ modules/<K>/ (build -> the real headers) etc/dkms/
# tmp/ keys/.  Every tool runs with --dkmstree/--sourcetree/--installtree into
# the world and --no-depmod, inside a private mount namespace (unshare
# --mount --propagation private) where the world's modules/ and etc/dkms/ are
# bind-mounted over /lib/modules and /etc/dkms: dkms 3.0.10 reads
# /etc/dkms/<m>.conf and /lib/modules/<K>/modules.dep from fixed paths, and
# runs `depmod -a K` on the real /lib/modules/K unless --no-depmod is given;
# inside the namespace even that would only reach the world.  The caller sets
# REPO_ROOT.

ARCHIVE_CACHE=${ARCHIVE_CACHE:-$REPO_ROOT/build/test-cache/debs-all}

# The newest .deb of each package in the cache, one path a line, sorted by
# package name.  The package list is apt's (written by tests/deps.sh).
archive_debs() {
	local p f
	[[ -f $ARCHIVE_CACHE/packages.list ]] || return 1
	while read -r p; do
		f=$(find "$ARCHIVE_CACHE" -maxdepth 1 -name "${p}_*.deb" -print | sort -V | tail -n 1)
		[[ -n $f ]] && printf '%s\n' "$f"
	done <"$ARCHIVE_CACHE/packages.list"
}

# deb_name DEB: the package name of a .deb file name
deb_name() {
	local b=${1##*/}
	printf '%s\n' "${b%%_*}"
}

# extract_pkg DEB DEST: unpacks DEB (dpkg-deb -x, nothing installed) into DEST
# and prints "dir<TAB>module<TAB>version" of each /usr/src/<m>-<v>/dkms.conf
# tree; nothing when the package ships none.  The directory is <m>-<v>: m is
# the literal PACKAGE_NAME when the name starts with it (versions may hold a
# "-"), else the part before the last "-".
extract_pkg() {
	local deb=$1 dest=$2 d base m
	mkdir -p "$dest"
	dpkg-deb -x "$deb" "$dest" || return 1
	for d in "$dest"/usr/src/*/; do
		d=${d%/}
		[[ -f $d/dkms.conf ]] || continue
		base=${d##*/}
		m=$(sed -n "s/^PACKAGE_NAME=[\"']\{0,1\}\([^\"'\$]*\)[\"']\{0,1\}[[:space:]]*\$/\1/p" "$d/dkms.conf" | head -n 1)
		[[ -n $m && $base == "$m"-?* ]] || m=${base%-*}
		printf '%s\t%s\t%s\n' "$d" "$m" "${base#"$m"-}"
	done
}

# The test kernels: the newest 6.1.0-*-amd64 and 6.12.*-amd64 with headers
# (ALL=1: every one), one a line.
test_kernels() {
	local d k glob
	for glob in '6.1.0-*-amd64' '6.12.*-amd64'; do
		for d in /usr/src/linux-headers-$glob; do
			[[ -d $d/include && -f $d/.config ]] || continue
			k=${d#/usr/src/linux-headers-}
			printf '%s\n' "$k"
		done | sort -V | if [[ ${ALL:-0} == 1 ]]; then cat; else tail -n 1; fi
	done
}

# make_world W KERNEL... : an empty world for the kernels
make_world() {
	local w=$1 k
	shift
	mkdir -p "$w/src" "$w/dkms" "$w/tmp" "$w/keys" "$w/etc/dkms"
	if [[ -d /etc/dkms ]]; then
		cp -a /etc/dkms/. "$w/etc/dkms/"
	fi
	for k in "$@"; do
		mkdir -p "$w/modules/$k/kernel"
		ln -sfn "/usr/src/linux-headers-$k" "$w/modules/$k/build"
		# the source link of Debian's 6.1 headers packages (to -common)
		if [[ -L /lib/modules/$k/source ]]; then
			ln -sfn "$(readlink "/lib/modules/$k/source")" "$w/modules/$k/source"
		fi
		# an installed kernel image: one (absent) module in modules.dep, with
		# the suffix of the kernel's compression (dkms 3.0.10 reads it there)
		printf 'kernel/placeholder%s:\n' "$(kernel_suffix "$k")" >"$w/modules/$k/modules.dep"
	done
}

# The module suffix kernel $1 uses, from its headers' .config.
kernel_suffix() {
	local cfg="/usr/src/linux-headers-$1/.config"
	if grep -q '^CONFIG_MODULE_COMPRESS_XZ=y' "$cfg"; then
		echo .ko.xz
	elif grep -q '^CONFIG_MODULE_COMPRESS_GZIP=y' "$cfg"; then
		echo .ko.gz
	elif grep -q '^CONFIG_MODULE_COMPRESS_ZSTD=y' "$cfg"; then
		echo .ko.zst
	else
		echo .ko
	fi
}

# run_in_world W OUTPREFIX TIMEOUT TOOL ARGS...: one tool run in world W;
# writes OUTPREFIX.out/.err/.rc/.time (seconds, one decimal).
run_in_world() {
	local w=$1 out=$2 tmo=$3 tool=$4 rc=0 t0 t1
	shift 4
	t0=$(date +%s.%N)
	(
		cd "$w/tmp"
		# shellcheck disable=SC2016  # expanded by the inner bash
		exec unshare --mount --propagation private bash -c '
			w=$1; shift
			mount --bind "$w/etc/dkms" /etc/dkms || exit 125
			mount --bind "$w/modules" /lib/modules || exit 125
			exec "$@"' bash "$w" \
			env TMPDIR="$w/tmp" sign_file=/nonexistent/sign-file \
			mok_signing_key="$w/keys/mok.key" mok_certificate="$w/keys/mok.pub" \
			timeout "$tmo" "$tool" \
			--dkmstree "$w/dkms" --sourcetree "$w/src" --installtree "$w/modules" \
			--no-depmod "$@"
	) >"$out.out" 2>"$out.err" </dev/null || rc=$?
	t1=$(date +%s.%N)
	printf '%s\n' "$rc" >"$out.rc"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", b - a }' >"$out.time"
}

# The installed module files of kernel K in world W, relative to
# modules/K, with vermagic, sorted.
installed_modules() {
	local w=$1 k=$2 f vm
	(cd "$w/modules/$k" && find . -path ./build -prune -o -type f -name '*.ko*' -print) | sort |
		while IFS= read -r f; do
			vm=$(modinfo -F vermagic "$w/modules/$k/$f" 2>/dev/null | head -n 1) || vm='?'
			printf '%s vermagic=%s\n' "${f#./}" "${vm% }"
		done
}

# add_install W OUT TIMEOUT TOOL SRC M V K: copies SRC into the world, then
# `add` and `install -k K` (which builds).  Prints "rc seconds" of the
# whole (add's rc when add fails).
add_install() {
	local w=$1 out=$2 tmo=$3 tool=$4 src=$5 m=$6 v=$7 k=$8 rc t
	cp -a "$src" "$w/src/"
	run_in_world "$w" "$out.add" "$tmo" "$tool" add -m "$m" -v "$v"
	rc=$(<"$out.add.rc")
	t=$(<"$out.add.time")
	if [[ $rc == 0 ]]; then
		run_in_world "$w" "$out.install" "$tmo" "$tool" install -m "$m" -v "$v" -k "$k"
		rc=$(<"$out.install.rc")
		t=$(awk -v a="$t" -v b="$(<"$out.install.time")" 'BEGIN { printf "%.1f\n", a + b }')
	fi
	printf '%s %s\n' "$rc" "$t"
}

# report STATUS DESCRIPTION...: one TAP line; CHECK_NO, PASSED, FAILED count them
report() {
	local status=$1
	shift
	CHECK_NO=$((CHECK_NO + 1))
	if [[ $status == 0 ]]; then
		PASSED=$((PASSED + 1))
		printf 'ok %d - %s\n' "$CHECK_NO" "$*"
	else
		FAILED=$((FAILED + 1))
		printf 'not ok %d - %s\n' "$CHECK_NO" "$*"
	fi
}

# removes $SCRATCH (KEEP=1 keeps it)
cleanup() {
	if [[ -n $SCRATCH && -d $SCRATCH ]]; then
		if [[ ${KEEP:-0} == 1 ]]; then
			printf '# scratch kept in %s\n' "$SCRATCH"
		else
			rm -rf --one-file-system -- "$SCRATCH"
		fi
	fi
}

