# SPDX-License-Identifier: GPL-2.0-or-later
# bash completion for rekmod and its dkms name: actions, options, the
# modules and versions registered in the dkms tree (--dkmstree, --root or
# framework.conf's dkms_tree, else /var/lib/dkms) and the kernels of the
# install tree (--installtree, --root, else /lib/modules).

_rekmod_actions="add build install uninstall unbuild remove status autoinstall match mktarball
	ldtarball generate_mok kernel_preinst kernel_postinst kernel_prerm sync log doctor mkdeb mkrpm publish"
_rekmod_options="-m --module -v -k --kernelver -a --arch --all --force --force-version-override
	-j -c --config --kernelsourcedir --dkmstree --sourcetree --installtree --root --directive
	--no-depmod --archive --source-only --binaries-only --templatekernel --verbose -q --quiet
	-V --version -h --help --kernel --removed --hook --retry --rebuild -n --json
	--no-initrd --no-clean-kernel --no-prepare-kernel --rpm_safe_upgrade --symlink-modules
	--modprobe-on-install --debug --repo --kernels-file --all-kernels-of --suite --rpm"

# _rekmod_optval NAME: the value of option NAME on the line (last one), either
# "NAME VALUE", "NAME=VALUE" or, split by COMP_WORDBREAKS, "NAME = VALUE"
_rekmod_optval() {
	local i w v=
	for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do
		((i == COMP_CWORD)) && continue
		w=${COMP_WORDS[i]}
		if [[ $w == "$1" ]]; then
			if [[ ${COMP_WORDS[i + 1]-} == = ]]; then
				v=${COMP_WORDS[i + 2]-}
			else
				v=${COMP_WORDS[i + 1]-}
			fi
		elif [[ $w == "$1"=* ]]; then
			v=${w#*=}
		fi
	done
	printf '%s' "$v"
}

_rekmod_dkmstree() {
	local t root
	t=$(_rekmod_optval --dkmstree)
	root=$(_rekmod_optval --root)
	root=${root:-${REKMOD_ROOT:-}}
	if [[ -z $t ]]; then
		t=$(sed -n 's/^[[:space:]]*dkms_tree=["'\'']\{0,1\}\([^"'\'']*\).*/\1/p' \
			"$root/etc/dkms/framework.conf" 2>/dev/null | tail -n 1)
		t=${t:-/var/lib/dkms}
		t=$root$t
	fi
	printf '%s' "$t"
}

_rekmod_installtree() {
	local t root
	t=$(_rekmod_optval --installtree)
	root=$(_rekmod_optval --root)
	root=${root:-${REKMOD_ROOT:-}}
	printf '%s' "${t:-$root/lib/modules}"
}

# every registered module/version, and every module name
_rekmod_modules() {
	local tree d m
	tree=$(_rekmod_dkmstree)
	for d in "$tree"/*/*/; do
		[[ -d $d ]] || continue
		d=${d%/}
		m=${d%/*}
		m=${m##*/}
		# <m>/kernel-<K>-<A> links and <m>/original_module are not versions
		[[ -L $d || ${d##*/} == original_module ]] && continue
		printf '%s\n%s/%s\n' "$m" "$m" "${d##*/}"
	done | sort -u
}

# the versions of module $1
_rekmod_versions() {
	local tree d
	tree=$(_rekmod_dkmstree)
	[[ -n $1 && $1 != */* ]] || return 0
	for d in "$tree/$1"/*/; do
		d=${d%/}
		[[ -d $d && ! -L $d && ${d##*/} != original_module ]] && printf '%s\n' "${d##*/}"
	done
	return 0
}

_rekmod_kernels() {
	local tree d
	tree=$(_rekmod_installtree)
	for d in "$tree"/*/; do
		[[ -d $d ]] && d=${d%/} && printf '%s\n' "${d##*/}"
	done
	return 0
}

_rekmod() {
	local cur prev i w action= module=
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]-}
	if [[ $cur == = ]]; then
		cur=
	elif [[ $prev == = ]] && ((COMP_CWORD >= 2)); then
		prev=${COMP_WORDS[COMP_CWORD - 2]}
	fi
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		[[ " ${_rekmod_actions//[[:space:]]/ } " == *" $w "* && -z $action ]] && action=$w
		case $w in -m | --module) module=${COMP_WORDS[i + 1]-} ;; --module=*) module=${w#*=} ;; esac
	done

	local IFS=$'\n'
	case $prev in
	-k | --kernelver | --kernel | --removed | --templatekernel)
		COMPREPLY=($(compgen -W "$(_rekmod_kernels)" -- "$cur"))
		return 0
		;;
	-m | --module)
		COMPREPLY=($(compgen -W "$(_rekmod_modules)" -- "$cur"))
		return 0
		;;
	-v)
		COMPREPLY=($(compgen -W "$(_rekmod_versions "$module")" -- "$cur"))
		return 0
		;;
	-a | --arch)
		COMPREPLY=($(compgen -W "$(uname -m)" -- "$cur"))
		return 0
		;;
	-c | --config | --archive | --kernels-file | --all-kernels-of)
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0
		;;
	--repo | --kernelsourcedir | --dkmstree | --sourcetree | --installtree | --root)
		COMPREPLY=($(compgen -d -- "$cur"))
		return 0
		;;
	-j | --directive)
		return 0
		;;
	esac
	IFS=$' \t\n'
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$_rekmod_options" -- "$cur"))
		return 0
	fi
	if [[ -z $action ]]; then
		COMPREPLY=($(compgen -W "$_rekmod_actions" -- "$cur"))
		return 0
	fi
	IFS=$'\n'
	case $action in
	add) COMPREPLY=($(compgen -W "$(_rekmod_modules)" -- "$cur") $(compgen -d -- "$cur")) ;;
	ldtarball) COMPREPLY=($(compgen -f -- "$cur")) ;;
	sync | log | doctor | autoinstall | kernel_* | generate_mok) ;;
	*) COMPREPLY=($(compgen -W "$(_rekmod_modules)" -- "$cur")) ;;
	esac
	return 0
}
complete -F _rekmod rekmod dkms
