# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by the benchmark scripts: messages, the scratch directory's cleanup,
# absolute paths. The caller sets SCRATCH (and KEEP=1 keeps it).

log() { printf '# %s\n' "$*"; }

die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# shellcheck disable=SC2317  # invoked from the EXIT trap
cleanup() {
	if [[ -n $SCRATCH && -d $SCRATCH ]]; then
		if [[ ${KEEP:-0} == 1 ]]; then
			log "scratch kept in $SCRATCH"
		else
			rm -rf -- "$SCRATCH"
		fi
	fi
}

abspath() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$PWD" "$1" ;;
	esac
}

# hello_source DIR NAME VERSION: a copy of examples/hello renamed to NAME
hello_source() {
	local d=$1 m=$2 v=$3
	mkdir -p "$d"
	cp "$REPO_ROOT/examples/hello/hello.c" "$d/$m.c"
	sed "s/^obj-m := hello\.o/obj-m := $m.o/" "$REPO_ROOT/examples/hello/Makefile" >"$d/Makefile"
	sed -e "s/^PACKAGE_NAME=.*/PACKAGE_NAME=\"$m\"/" \
		-e "s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"$v\"/" \
		-e "s/^BUILT_MODULE_NAME\[0\]=.*/BUILT_MODULE_NAME[0]=\"$m\"/" \
		"$REPO_ROOT/examples/hello/dkms.conf" >"$d/dkms.conf"
	grep -q "^obj-m := $m\.o" "$d/Makefile" || die "could not rename obj-m in $d/Makefile"
	grep -q "^BUILT_MODULE_NAME\[0\]=\"$m\"" "$d/dkms.conf" || die "could not rename in $d/dkms.conf"
}

# warn_if_real_trees_changed STAMP: the hard rule, checked (reported, not fatal)
warn_if_real_trees_changed() {
	local leaked line
	leaked=$(find /var/lib/dkms /lib/modules -newer "$1" 2>/dev/null | sort || true)
	if [[ -n $leaked ]]; then
		log "WARNING: changed in the real /var/lib/dkms or /lib/modules during the run:"
		while IFS= read -r line; do printf '#   %s\n' "$line"; done <<<"$leaked"
	fi
}
