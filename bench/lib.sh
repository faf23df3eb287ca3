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
