#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Debian's dkms's own evaluation of a dkms.conf, for tests/compat/conf-diff.sh.
#
#   dkms-conf-eval.sh DKMS_CONF MODULE VERSION KERNEL ARCH
#
# Sources the installed dkms ($DKMS, default /usr/sbin/dkms) up to its action
# dispatch: its functions, its initialisation and its own option parsing
# (of "-m MODULE -v VERSION -k KERNEL -a ARCH status") run, no action does.
# Then calls dkms's read_conf KERNEL ARCH DKMS_CONF from the dkms.conf's
# directory (rekmod's evaluators work there too: pathname expansion in
# safe_source's `eval echo` sees it).  safe_source is wrapped, not replaced:
# after each call the whitelisted arrays are noted, so what is printed is their
# state after the last file dkms sourced, before read_conf's post-processing.
#
# Output: NAME[i]=value lines (sorted as rekmod's conf_vars_dump sorts them,
# escaped the same way), then "#read_conf RC" and "#env NAME=value" lines
# with the variables dkms defined (for rekmod's conf-eval -e).
# no set -u or pipefail: dkms runs without them
# shellcheck disable=SC1087,SC2016,SC2086,SC2154  # eval of dkms's arrays; dkms's own variables
export LC_ALL=C

_ce_dkms=${DKMS:-/usr/sbin/dkms}
_ce_conf=$(realpath -s -- "$1") _ce_m=$2 _ce_v=$3 _ce_k=$4 _ce_a=$5
_ce_n=$(grep -n '^setup_kernels_arches "\$action"$' "$_ce_dkms" | cut -d: -f1)
if [[ -z $_ce_n ]]; then
	echo "dkms-conf-eval: $_ce_dkms has no 'setup_kernels_arches \"\$action\"' line to stop before" >&2
	exit 2
fi
# the names dkms 3.x added to the whitelist (rekmod keeps them; 3.0.10 drops them)
_ce_extra="BUILD_EXCLUSIVE_KERNEL_MIN BUILD_EXCLUSIVE_KERNEL_MAX BUILD_DEPENDS_REBUILD"

set -- -m "$_ce_m" -v "$_ce_v" -k "$_ce_k" -a "$_ce_a" status
# shellcheck disable=SC1090
source <(head -n "$((_ce_n - 1))" "$_ce_dkms")

_ce_esc() {
	local s=$1 out='' i ch
	s=${s//\\/\\\\}
	s=${s//$'\n'/\\n}
	s=${s//$'\r'/\\r}
	s=${s//$'\t'/\\t}
	if [[ $s == *[$'\001'-$'\037'$'\177']* ]]; then
		for ((i = 0; i < ${#s}; i++)); do
			ch=${s:i:1}
			if [[ $ch == [$'\001'-$'\037'$'\177'] ]]; then
				printf -v ch '\\x%02x' "'$ch"
			fi
			out+=$ch
		done
		s=$out
	fi
	printf '%s' "$s"
}

_ce_snapshot() {
	local n i v
	_CE_SNAP=''
	for n in $(printf '%s\n' $dkms_conf_variables $_ce_extra | sort -u); do
		eval "_ce_ix=(\"\${!$n[@]}\")"
		for i in "${_ce_ix[@]}"; do
			[[ $i == +([0-9]) ]] || continue
			eval "v=\${$n[\$i]}"
			_CE_SNAP+="$n[$i]=$(_ce_esc "$v")"$'\n'
		done
	done
}

eval "_ce_safe_source_dkms() $(declare -f safe_source | tail -n +2)"
safe_source() {
	_ce_safe_source_dkms "$@"
	_ce_snapshot
}

_CE_SNAP=''
cd "$(dirname "$_ce_conf")" || exit 2
read_conf "$_ce_k" "$_ce_a" "$_ce_conf"
_ce_rc=$?
printf '%s' "$_CE_SNAP"
printf '#read_conf %s\n' "$_ce_rc"
for _ce_x in kernel_source_dir kernel_config dkms_tree source_tree install_tree module module_version \
	parallel_jobs current_kernel running_distribution tmp_location; do
	printf '#env %s=%s\n' "$_ce_x" "${!_ce_x}"
done
