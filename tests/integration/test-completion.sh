#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The bash and zsh completions (completion/): driven with COMP_WORDS and
# COMP_CWORD as readline fills them (bash), and through the real zsh with the
# completion system's compadd/_describe recording what they are offered,
# against a scratch dkms tree and install tree. Every action and option of
# `rekmod --help` is offered; modules and versions come from the tree named on
# the line (--dkmstree, --dkmstree=, --root, framework.conf's dkms_tree),
# kernels from the install tree (--installtree, --root).
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/helplists.sh"
BASHCOMP=$SRCDIR/completion/rekmod.bash
ZSHCOMP=$SRCDIR/completion/_rekmod
[[ -x $REKMOD ]] || { echo "rekmod binary $REKMOD is missing (make)"; exit 1; }

W=$(mktemp -d /tmp/rekmod-comp.XXXXXX)
trap 'rm -rf "$W"' EXIT

# a dkms tree as dkms and rekmod leave it: <m>/<v>/source, builds, the
# <m>/kernel-K-A link and <m>/original_module, which are not versions
T=$W/tree
mkdir -p "$T/hello/0.1/$K1/$ARCH/module" "$T/hello/0.2" "$T/acpi-call/1.2.2" "$T/hello/original_module/$K1"
ln -s "/usr/src/hello-0.1" "$T/hello/0.1/source"
ln -s "0.1/$K1/$ARCH" "$T/hello/kernel-$K1-$ARCH"
: >"$T/mok.key"
I=$W/modules
mkdir -p "$I/$K1" "$I/$K2" "$I/6.12.9-test"
# a root with its own trees, and one whose framework.conf moves the tree
R=$W/root
mkdir -p "$R/var/lib/dkms/inroot/3.0" "$R/lib/modules/9.9.9-root"
F=$W/froot
mkdir -p "$F/etc/dkms" "$F/srv/dkms/fromconf/1.0"
echo 'dkms_tree="/srv/dkms"' >"$F/etc/dkms/framework.conf"

# comp WORD...: the bash completion of the last word (may be ""), or of
# word number $CW when set, sorted
comp() {
	env -i PATH="$PATH" HOME="$W" CW="${CW:-}" bash --norc --noprofile -c '
		source "$1"; shift
		COMP_WORDS=("$@"); COMP_CWORD=${CW:-$((${#COMP_WORDS[@]} - 1))}
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		_rekmod rekmod "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' bash "$BASHCOMP" "$@" | sort -u
}

# expect "WANTED LINES" WORD...: the completion offers exactly these
expect() {
	local want=$1 got
	shift
	got=$(comp "$@")
	[[ $got == "$(printf '%s\n' $want | sort -u)" ]] ||
		{ echo "completing '$*' offered:"; echo "$got"; echo "expected:"; printf '%s\n' $want | sort -u; return 1; }
}

registered() {
	complete -p dkms rekmod 2>/dev/null | grep -q . ||
		source "$BASHCOMP"
	[[ $(complete -p rekmod) == "complete -F _rekmod rekmod" && $(complete -p dkms) == "complete -F _rekmod dkms" ]]
}
check "the bash completion is registered for rekmod and dkms" registered

all_actions() {
	help_actions >"$W/a" && comp rekmod "" >"$W/c"
	(($(wc -l <"$W/a") >= 15)) || { echo "no actions read from --help"; return 1; }
	[[ -z $(comm -23 "$W/a" "$W/c") ]] || { echo "actions not offered:" $(comm -23 "$W/a" "$W/c"); return 1; }
}
check "rekmod <TAB> offers every action of --help" all_actions

all_options() {
	help_options >"$W/o" && comp rekmod status - >"$W/c"
	(($(wc -l <"$W/o") >= 20)) || { echo "no options read from --help"; return 1; }
	[[ -z $(comm -23 "$W/o" "$W/c") ]] || { echo "options not offered:" $(comm -23 "$W/o" "$W/c"); return 1; }
}
check "rekmod status -<TAB> offers every option of --help" all_options

check "rekmod unb<TAB> completes unbuild" expect "unbuild" rekmod unb
check "dkms kernel_p<TAB> offers kernel_postinst and kernel_prerm, kernel_preinst" \
	expect "kernel_postinst kernel_preinst kernel_prerm" dkms kernel_p
check "--dkmstree T install <TAB>: the modules and module/versions of T, no links or original_module" \
	expect "acpi-call acpi-call/1.2.2 hello hello/0.1 hello/0.2" rekmod --dkmstree "$T" install ""
check "--dkmstree=T (split at =) status -m h<TAB>" \
	expect "hello hello/0.1 hello/0.2" rekmod --dkmstree = "$T" status -m h
check "--dkmstree=T (one word) remove -m hello -v <TAB>: its versions" \
	expect "0.1 0.2" rekmod "--dkmstree=$T" remove -m hello -v ""
check "--installtree I build hello/0.1 -k <TAB>: the kernels of I" \
	expect "$K1 $K2 6.12.9-test" rekmod --installtree "$I" build hello/0.1 -k ""
CW=3 check "sync --removed 6.12<TAB> with --installtree after the word" \
	expect "6.12.9-test" rekmod sync --removed 6.12 --installtree "$I"
check "--root R: modules of R/var/lib/dkms" expect "inroot inroot/3.0" rekmod --root "$R" build ""
check "--root R -k <TAB>: kernels of R/lib/modules" expect "9.9.9-root" rekmod --root "$R" install -k ""
check "--root F: framework.conf's dkms_tree" expect "fromconf fromconf/1.0" rekmod --root "$F" remove ""
check "sync <TAB> offers no module names" expect "" rekmod --dkmstree "$T" sync ""
check "an empty tree offers nothing" expect "" rekmod --dkmstree "$W/none" build ""

installed_completion_loads() {
	# the bash-completion package loads completions/<command> on demand
	[[ -r /usr/share/bash-completion/bash_completion ]] || { echo "bash-completion is not installed (tests/deps.sh)"; return 1; }
	local d=$W/dest
	make -s -C "$SRCDIR" install-data DESTDIR="$d" PREFIX=/usr DKMS=1 >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	env -i PATH="$PATH" HOME="$W" BASH_COMPLETION_USER_DIR="$d/usr/share/bash-completion" bash --norc -c '
		source /usr/share/bash-completion/bash_completion
		__load_completion dkms && complete -p dkms' 2>&1 | grep -q '_rekmod dkms'
}
check "bash-completion loads the installed completions/dkms link on demand" installed_completion_loads

# ---- zsh: the real zsh runs the function; compadd and _describe record
if command -v zsh >/dev/null; then
	zcomp() {
		env -i PATH="$PATH" HOME="$W" zsh -f -c '
			compadd() { while [[ $1 == -* ]]; do [[ $1 == -- ]] && { shift; break }; shift; done; print -rl -- "$@" }
			_describe() { local a; for a in ${(P)${@[-1]}}; do print -r -- ${a%%:*}; done }
			_files() { print -r -- "<files>" }
			f=$1; shift
			words=("$@"); CURRENT=$#words
			PREFIX=${words[CURRENT]}
			source $f' zsh "$ZSHCOMP" "$@" | grep -v '^$' | grep "^${*: -1}" | sort -u
	}
	zexpect() {
		local want=$1 got
		shift
		got=$(zcomp "$@")
		[[ $got == "$(printf '%s\n' $want | sort -u)" ]] ||
			{ echo "zsh completing '$*' offered:"; echo "$got"; return 1; }
	}
	check "zsh: the file parses" zsh -n "$ZSHCOMP"
	check "zsh: dkms unb<TAB>" zexpect "unbuild" dkms unb
	check "zsh: --dkmstree T install <TAB>" \
		zexpect "acpi-call acpi-call/1.2.2 hello hello/0.1 hello/0.2" rekmod --dkmstree "$T" install ""
	check "zsh: --dkmstree=T remove -m hello -v <TAB>" zexpect "0.1 0.2" rekmod "--dkmstree=$T" remove -m hello -v ""
	check "zsh: --root R install -k <TAB>" zexpect "9.9.9-root" rekmod --root "$R" install -k ""
	zsh_options() {
		help_options >"$W/o" && zcomp rekmod status - >"$W/c"
		[[ -z $(comm -23 "$W/o" "$W/c") ]] || { echo "options not offered:" $(comm -23 "$W/o" "$W/c"); return 1; }
	}
	check "zsh: status -<TAB> offers every option of --help" zsh_options
else
	echo "# zsh is not installed (tests/deps.sh installs it): zsh cases not run"
	check "zsh is installed" false
fi

summary
