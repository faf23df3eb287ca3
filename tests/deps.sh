#!/bin/bash
# Installs what rekmod's build, demo and tests need from Debian's archive.
#
#   build  what `make` and `make demo` need: compilers and libraries (every
#          hook: apt, rpm, alpm), the headers of the current 6.1 kernel, the
#          6.12 headers with the 6.12 image and qemu, busybox and cpio (the
#          demo boots the module in qemu);            (`make deps-build`)
#   test   what `make check` needs on top: cmocka, Debian's dkms, a second
#          6.1 ABI's headers, rpm, pacman, debootstrap, lintian, man-db,
#          bash-completion, zsh..., and the third-party DKMS source packages
#          of tests/compat/dkms-diff.sh cached in build/test-cache/debs/, and
#          every *-dkms package of Debian's main, contrib and non-free (for
#          tests/compat/conf-diff.sh, build-parity.sh, bench/dkms-archive.sh)
#          in build/test-cache/debs-all/, from a private apt configuration in
#          build/test-cache/apt/ naming the machine's own Debian mirror (the
#          machine's sources are never changed);      (`make deps-test`)
#   (none) both                                       (`make deps`)
#
# Idempotent: when every package is installed and the .debs are cached it only
# runs a few dpkg-query/apt-cache look-ups.  Must run as root (apt-get).
#
# Usage: bash tests/deps.sh [build|test]
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEB_CACHE="$REPO_ROOT/build/test-cache/debs"
LISTS_DIR=/var/lib/apt/lists
export DEBIAN_FRONTEND=noninteractive

BUILD_PACKAGES=(
	build-essential pkg-config make bc bash coreutils kmod g++ libkmod-dev liblzma-dev
	libzstd-dev zlib1g-dev libssl-dev libapt-pkg-dev librpm-dev libalpm-dev linux-headers-amd64
	qemu-system-x86 busybox-static cpio
)
TEST_PACKAGES=(
	libcmocka-dev diffutils findutils dkms hyperfine systemd procps xz-utils zstd openssl
	python3 jq debootstrap rpm pacman-package-manager makepkg libarchive-tools libarchive-dev
	fakeroot lintian man-db bash-completion zsh reprepro createrepo-c distcc ccache gnupg clang libclang-rt-14-dev
)
# Kernel headers of the 6.12 series (bookworm's newer kernel), beside two 6.1 ABIs.
HEADERS_612=linux-headers-6.12-amd64
CACHED_DEBS=(v4l2loopback-dkms acpi-call-dkms xtables-addons-dkms evdi-dkms)
ALL_CACHE="$REPO_ROOT/build/test-cache/debs-all"
APT_PRIV="$REPO_ROOT/build/test-cache/apt"
ALL_COMPONENTS="main contrib non-free non-free-firmware"

step() { printf 'deps: %s\n' "$*"; }
die() {
	printf 'deps: ERROR: %s\n' "$*" >&2
	exit 1
}

# True when the package lists exist and were refreshed within the last day.
lists_fresh() {
	local f
	f=$(find "$LISTS_DIR" -maxdepth 1 -name '*_Packages*' -mtime -1 -print -quit 2>/dev/null || true)
	[[ -n $f ]]
}

apt_update_if_stale() {
	if lists_fresh; then
		step "apt package lists are fresh (less than a day old), skipping apt-get update"
		return
	fi
	step "apt package lists missing or older than a day: running apt-get update"
	apt-get update -qq || die "apt-get update failed"
}

# True when the package is installed (status "install ok installed").
is_installed() {
	local status
	status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)
	[[ $status == "install ok installed" ]]
}

# True when apt knows a candidate version for the package.
has_candidate() {
	local cand
	cand=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')
	[[ -n $cand && $cand != "(none)" ]]
}

# Prints the linux-headers-<abi>-amd64 package that linux-headers-amd64
# depends on (e.g. linux-headers-6.1.0-56-amd64).
meta_headers_target() {
	apt-cache depends linux-headers-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-headers-[0-9.]+-[0-9]+-amd64$/ {print $2; exit}'
}

# Prints linux-headers-<base>-N-amd64 with the highest N lower than the ABI
# number of $1, among the packages apt has a candidate for.
previous_headers() {
	local target=$1 prefix cur name n
	[[ $target =~ ^(linux-headers-[0-9.]+-)([0-9]+)-amd64$ ]] || return 1
	prefix=${BASH_REMATCH[1]}
	cur=${BASH_REMATCH[2]}
	while read -r n; do
		((n < cur)) || continue
		name="${prefix}${n}-amd64"
		if has_candidate "$name"; then
			printf '%s\n' "$name"
			return 0
		fi
	done < <(apt-cache pkgnames "$prefix" 2>/dev/null |
		sed -n "s/^${prefix//./\\.}\([0-9][0-9]*\)-amd64\$/\1/p" | sort -rn)
	return 1
}

install_packages() {
	local missing=() p
	for p in "$@"; do
		is_installed "$p" || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		step "all ${#} packages already installed"
		return
	fi
	step "installing: ${missing[*]}"
	apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
		die "apt-get install failed for: ${missing[*]}"
	for p in "${missing[@]}"; do
		is_installed "$p" || die "package $p is still not installed after apt-get install"
	done
}

# Fetches the .deb of each package into $DEB_CACHE unless one is cached.
fetch_debs() {
	local p tmp f
	mkdir -p "$DEB_CACHE" || die "cannot create $DEB_CACHE"
	for p in "$@"; do
		f=$(find "$DEB_CACHE" -maxdepth 1 -name "${p}_*.deb" -print -quit)
		if [[ -n $f ]]; then
			step "cached: ${f#"$REPO_ROOT"/}"
			continue
		fi
		tmp=$(mktemp -d "$DEB_CACHE/.download.XXXXXX")
		step "downloading $p with apt-get download"
		if ! (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$p"); then
			rm -rf "$tmp"
			die "apt-get download $p failed"
		fi
		f=$(find "$tmp" -maxdepth 1 -name "${p}_*.deb" -print -quit)
		if [[ -z $f ]] || ! dpkg-deb --info "$f" >/dev/null 2>&1; then
			rm -rf "$tmp"
			die "apt-get download $p produced no valid .deb"
		fi
		mv "$f" "$DEB_CACHE/"
		rm -rf "$tmp"
		step "cached: ${DEB_CACHE#"$REPO_ROOT"/}/$(basename "$f")"
	done
}

# The Debian entries (suite = this release's codename or codename-*) of the
# machine's apt sources, one "URI SUITE SIGNED-BY" line each, from both the
# one-line (.list) and the deb822 (.sources) formats.
debian_sources() {
	local codename f
	codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
	[[ -n $codename ]] || die "no VERSION_CODENAME in /etc/os-release"
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] || continue
		awk -v c="$codename" '$1 == "deb" {
			sb = "-"; line = $0; sub(/^deb[ \t]+/, "", line)
			if (line ~ /^\[/) {
				opts = substr(line, 2, index(line, "]") - 2); line = substr(line, index(line, "]") + 1)
				if (match(opts, /signed-by=[^ \t]+/)) sb = substr(opts, RSTART + 10, RLENGTH - 10)
			}
			n = split(line, w, /[ \t]+/); i = (w[1] == "" ? 2 : 1)
			if (w[i + 1] == c || index(w[i + 1], c "-") == 1) print w[i], w[i + 1], sb }' "$f"
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] || continue
		awk -v c="$codename" '
			function flush(  n, i, s, u) {
				if (types ~ /(^| )deb( |$)/ && enabled != "no") {
					n = split(suites, s, " ")
					split(uris, u, " ")
					for (i = 1; i <= n; i++) if (s[i] == c || index(s[i], c "-") == 1) print u[1], s[i], (sb == "" ? "-" : sb)
				}
				types = uris = suites = sb = enabled = ""
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			{ k = tolower($1); v = $0; sub(/^[^:]*:[ \t]*/, "", v)
			  if (k == "types:") types = v; else if (k == "uris:") uris = v
			  else if (k == "suites:") suites = v; else if (k == "signed-by:") sb = v
			  else if (k == "enabled:") enabled = tolower(v) }
			END { flush() }' "$f"
	done
}

# apt options that point apt-get/apt-cache at the private configuration.
apt_priv_opts() {
	printf '%s\n' -o "Dir::State::Lists=$APT_PRIV/lists" -o "Dir::State::status=$APT_PRIV/status" \
		-o "Dir::Cache=$APT_PRIV/cache" -o "Dir::Etc::SourceList=$APT_PRIV/sources.list" \
		-o "Dir::Etc::SourceParts=$APT_PRIV/sources.list.d" -o "Dir::Etc::Preferences=$APT_PRIV/preferences" \
		-o "Dir::Etc::PreferencesParts=$APT_PRIV/preferences.d" -o APT::Sandbox::User=root
}

# Writes the private sources.list (the machine's Debian mirror with all
# components) and refreshes its package lists when they are older than a day.
setup_private_apt() {
	local uri suite sb list tmp
	mkdir -p "$APT_PRIV/lists/partial" "$APT_PRIV/cache/archives/partial" "$APT_PRIV/sources.list.d" \
		"$APT_PRIV/preferences.d" || die "cannot create $APT_PRIV"
	: >>"$APT_PRIV/status"
	tmp="$APT_PRIV/sources.list.tmp"
	: >"$tmp"
	while read -r uri suite sb; do
		if [[ $sb == - ]]; then
			printf 'deb %s %s %s\n' "$uri" "$suite" "$ALL_COMPONENTS"
		else
			printf 'deb [signed-by=%s] %s %s %s\n' "$sb" "$uri" "$suite" "$ALL_COMPONENTS"
		fi >>"$tmp"
	done < <(debian_sources)
	[[ -s $tmp ]] || die "no Debian entry for this release in /etc/apt/sources.list*"
	list="$APT_PRIV/sources.list"
	if ! cmp -s "$tmp" "$list"; then
		mv "$tmp" "$list"
		rm -f "$APT_PRIV/lists/"*_Packages* 2>/dev/null || true
	else
		rm -f "$tmp"
	fi
	mapfile -t APT_OPTS < <(apt_priv_opts)
	if [[ -n $(find "$APT_PRIV/lists" -maxdepth 1 -name '*_Packages*' -mtime -1 -print -quit) ]]; then
		step "private apt lists ($APT_PRIV) are fresh, skipping their update"
		return
	fi
	step "updating the private apt lists (main contrib non-free) in $APT_PRIV"
	apt-get "${APT_OPTS[@]}" update -qq || die "apt-get update with the private configuration $APT_PRIV failed"
}

# Every *-dkms binary package the private configuration knows, sorted.
all_dkms_packages() {
	apt-cache "${APT_OPTS[@]}" pkgnames 2>/dev/null | grep -E '^[a-z0-9][a-z0-9.+-]*-dkms$' | sort -u
}

# Downloads the candidate .deb of every *-dkms package into $ALL_CACHE, unless
# that very version is cached; older cached versions are kept.
fetch_all_dkms() {
	local p ver file tmp n=0 got=0
	mkdir -p "$ALL_CACHE" || die "cannot create $ALL_CACHE"
	local pkgs=()
	mapfile -t pkgs < <(all_dkms_packages)
	((${#pkgs[@]} > 0)) || die "apt-cache found no *-dkms package with the private configuration $APT_PRIV"
	while read -r p ver; do
		[[ -n $ver && $ver != "(none)" ]] || continue
		n=$((n + 1))
		file="${p}_${ver//:/%3a}_"
		if compgen -G "$ALL_CACHE/${file}*.deb" >/dev/null; then
			continue
		fi
		tmp=$(mktemp -d "$ALL_CACHE/.download.XXXXXX")
		step "downloading $p $ver (private apt configuration)"
		if ! (cd "$tmp" && apt-get "${APT_OPTS[@]}" download -qq "$p=$ver"); then
			rm -rf "$tmp"
			die "apt-get download $p=$ver failed"
		fi
		for file in "$tmp"/*.deb; do
			dpkg-deb --info "$file" >/dev/null 2>&1 || die "apt-get download $p produced no valid .deb"
			mv "$file" "$ALL_CACHE/"
		done
		rm -rf "$tmp"
		got=$((got + 1))
	done < <(apt-cache "${APT_OPTS[@]}" policy "${pkgs[@]}" 2>/dev/null |
		awk '/^[^ ].*:$/ { p = substr($0, 1, length($0) - 1) } $1 == "Candidate:" { print p, $2 }')
	((n > 0)) || die "apt-cache found no candidate version of any *-dkms package ($APT_PRIV)"
	printf '%s\n' "${pkgs[@]}" >"$ALL_CACHE/packages.list.tmp" && mv "$ALL_CACHE/packages.list.tmp" "$ALL_CACHE/packages.list"
	step "*-dkms packages: $n in the archive, $got downloaded now, cached in ${ALL_CACHE#"$REPO_ROOT"/}"
}

main() {
	local mode=${1:-all}
	[[ $mode == @(build|test|all) ]] || die "unknown argument '$mode'; use build, test or nothing (both)"
	[[ $(id -u) -eq 0 ]] || die "must run as root (uses apt-get install)"
	command -v apt-get >/dev/null || die "apt-get not found: this script needs Debian"

	apt_update_if_stale

	if [[ $mode != test ]]; then
		step "build and demo: compilers, libraries, 6.1 and 6.12 headers, the 6.12 image, qemu"
		install_packages "${BUILD_PACKAGES[@]}" "$HEADERS_612"
	fi
	if [[ $mode != build ]]; then
		local target prev
		target=$(meta_headers_target) ||:
		[[ -n $target ]] || die "cannot find which linux-headers-*-amd64 package linux-headers-amd64 depends on (apt-cache depends linux-headers-amd64)"
		prev=$(previous_headers "$target") ||
			die "no linux-headers package older than $target found with apt-cache"
		step "tests: kernel headers $target (from linux-headers-amd64) and $prev"
		install_packages "${TEST_PACKAGES[@]}" "$target" "$prev"
		fetch_debs "${CACHED_DEBS[@]}"
		setup_private_apt
		fetch_all_dkms
	fi
	step "done"
}

main "$@"
