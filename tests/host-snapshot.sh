#!/bin/bash
# Tests never touch the host: a manifest of the host's /lib/modules,
# /var/lib/dkms, /etc and /usr/src before the tests, compared after them.
# `make check` records one before its tests and fails with the list of
# changed paths when anything differs.
#
#   host-snapshot.sh record FILE    writes the manifest to FILE
#   host-snapshot.sh compare FILE   compares the host with FILE: exit 0 when
#                                   equal, 1 with one line per changed path
#
# One manifest line per path (find -P, not crossing into other file systems
# below the four roots: a bind mount is recorded as the path it is mounted
# on): path, type, mode, owner, size, modification time (ns), link target,
# and the SHA-256 of each regular file's content. Byte for byte, with mtimes.
#
# Excluded, because processes other than the tests rewrite them while the
# tests run, and no test writes them (reading them is what tests do):
#   /etc/resolv.conf /etc/hosts /etc/hostname
#       bind-mounted and rewritten by the container runtime (networking)
#   /etc/ld.so.cache
#       rewritten by ldconfig after any library package is installed on the
#       machine (another user's `make deps`), never by a test
#   /etc/.pwd.lock
#       the lock file of useradd/groupadd (lckpwdf), touched by any tool
#       that takes the password lock
# HOST_SNAPSHOT_EXCLUDE="/etc/a /etc/b" adds more (exact paths or
# directories); HOST_SNAPSHOT_ROOTS replaces the four roots (tests of this
# script use a scratch directory).
set -uo pipefail
export LC_ALL=C

ROOTS=(${HOST_SNAPSHOT_ROOTS:-/lib/modules /var/lib/dkms /etc /usr/src})
EXCLUDE=(/etc/resolv.conf /etc/hosts /etc/hostname /etc/ld.so.cache /etc/.pwd.lock ${HOST_SNAPSHOT_EXCLUDE:-})

die() {
	printf 'host-snapshot: %s\n' "$*" >&2
	exit 2
}

# find's arguments that prune every excluded path
prune_args() {
	local e first=1
	printf '%s\0' '('
	for e in "${EXCLUDE[@]}"; do
		((first)) || printf '%s\0' -o
		printf '%s\0' -path "$e"
		first=0
	done
	printf '%s\0' ')' -prune -o
}

# path<TAB>type mode owner size mtime ->link (NUL-separated records, sorted by path)
metadata() {
	local roots=() r prune=()
	for r in "${ROOTS[@]}"; do
		[[ -e $r || -L $r ]] && roots+=("$r")
	done
	((${#roots[@]})) || return 0
	mapfile -d '' prune < <(prune_args)
	find -P "${roots[@]}" -xdev "${prune[@]}" -printf '%p\t%y %#m %U:%G %s %T@ ->%l\0' | sort -z -t $'\t' -k1,1
}

# path<TAB>sha256 of every regular file (NUL-separated, sorted by path)
hashes() {
	local roots=() r prune=()
	for r in "${ROOTS[@]}"; do
		[[ -e $r ]] && roots+=("$r")
	done
	((${#roots[@]})) || return 0
	mapfile -d '' prune < <(prune_args)
	find -P "${roots[@]}" -xdev "${prune[@]}" -type f -print0 | xargs -0 -r sha256sum -z -- |
		sed -z -E 's/^\\?([0-9a-f]{64})  (.*)$/\2\t\1/' | sort -z -t $'\t' -k1,1
}

# the manifest: one line per path (a newline in a name written as \n), sorted
record() {
	local out=$1 tmp
	tmp=$(mktemp "$out.XXXXXX") || die "cannot write next to $out"
	join -z -t $'\t' -a 1 -e - -o 0,1.2,2.2 <(metadata) <(hashes) | tr '\n\0' '\001\n' |
		sed 's/\x01/\\n/g' | sort >"$tmp" || die "cannot record the manifest"
	[[ -s $tmp ]] || die "empty manifest: none of ${ROOTS[*]} exists"
	mv "$tmp" "$out"
}

# which fields differ between two manifest lines of the same path
what_changed() {
	local ra=${1#*$'\t'} rb=${2#*$'\t'}
	local ma=${ra%$'\t'*} mb=${rb%$'\t'*}
	local -a a b
	read -r -a a <<<"${ma%% ->*}"
	read -r -a b <<<"${mb%% ->*}"
	local names=(type mode owner size mtime) i out=()
	for i in 0 1 2 3 4; do
		[[ ${a[i]:-} == "${b[i]:-}" ]] || out+=("${names[i]}")
	done
	[[ ${ma#* ->} == "${mb#* ->}" ]] || out+=(link)
	[[ ${ra##*$'\t'} == "${rb##*$'\t'}" ]] || out+=(content)
	printf '%s' "${out[*]}"
}

# one line per path added, removed or changed since the manifest `before`
compare() {
	local before=$1 now line path
	[[ -r $before ]] || die "no manifest $before (run: $0 record $before)"
	now=$(mktemp "${TMPDIR:-/tmp}/host-snapshot.XXXXXX") || die "cannot create a temporary file"
	record "$now"
	local -A old new seen
	while IFS= read -r line; do old[${line%%$'\t'*}]=$line; done < <(comm -23 "$before" "$now")
	while IFS= read -r line; do new[${line%%$'\t'*}]=$line; done < <(comm -13 "$before" "$now")
	rm -f "$now"
	for path in "${!old[@]}" "${!new[@]}"; do
		[[ -z ${seen[$path]:-} ]] || continue
		seen[$path]=1
		if [[ -z ${new[$path]:-} ]]; then
			printf 'removed: %s\n' "$path"
		elif [[ -z ${old[$path]:-} ]]; then
			printf 'added:   %s\n' "$path"
		else
			printf 'changed: %s (%s)\n' "$path" "$(what_changed "${old[$path]}" "${new[$path]}")"
		fi
	done | sort -k2
}

main() {
	local cmd=${1:-} file=${2:-}
	[[ -n $file ]] || die "usage: $0 record|compare FILE"
	case $cmd in
	record)
		record "$file"
		printf 'host-snapshot: %s paths of %s recorded in %s\n' "$(wc -l <"$file")" "${ROOTS[*]}" "$file"
		;;
	compare)
		local report
		report=$(compare "$file") || exit 2
		if [[ -n $report ]]; then
			printf 'host-snapshot: %s\n' "${report//$'\n'/$'\n'host-snapshot: }"
			printf 'host-snapshot: FAIL: %s path(s) of %s changed since %s\n' "$(wc -l <<<"$report")" \
				"${ROOTS[*]}" "$file"
			exit 1
		fi
		printf 'host-snapshot: ok, %s unchanged since %s\n' "${ROOTS[*]}" "$file"
		;;
	*) die "usage: $0 record|compare FILE" ;;
	esac
}

main "$@"
