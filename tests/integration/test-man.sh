#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The man pages: each renders with man-db without a warning; rekmod(8) has a
# tagged paragraph for every action and option `rekmod --help` lists;
# dkms.conf(5) names every directive of core/lib/dkmsconf.c's table;
# framework.conf(5) and the shipped template name every key of
# core/lib/ctx.c's table. Then `make install` into a scratch DESTDIR: pages,
# completions and template installed, the dkms names only with DKMS=1 and
# never over a file that is not rekmod's; `make uninstall` removes only
# what install put there.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/helplists.sh"
command -v man >/dev/null || { echo "SKIP: man is not installed (tests/deps.sh installs man-db)"; exit 77; }
[[ -x $REKMOD ]] || { echo "rekmod binary $REKMOD is missing (make)"; exit 1; }

M=$SRCDIR/man
PAGES=(rekmod.8 dkms.conf.5 framework.conf.5 rekmod-hooks.7)
W=$(mktemp -d /tmp/rekmod-man.XXXXXX)
trap 'rm -rf "$W"' EXIT

render() { MANWIDTH=80 LC_ALL=C man --warnings -l "$M/$1" 2>"$W/$1.err"; }

renders_clean() {
	render "$1" >"$W/$1.txt" || return 1
	[[ ! -s $W/$1.err ]] || { cat "$W/$1.err"; return 1; }
	[[ $(wc -l <"$W/$1.txt") -gt 20 ]] || { echo "$1 renders to almost nothing"; return 1; }
}
for p in "${PAGES[@]}"; do
	check "$p renders with man --warnings and no warning" renders_clean "$p"
done

# section TEXT HEADING: the rendered lines of one section
section() { awk -v h="$2" '/^[A-Z]/ { on = ($0 == h); next } on' "$1"; }

# tags FILE: the words of the tagged-paragraph lines (7-space indent),
# split at spaces, commas, brackets and bars
tags() { grep -E '^ {7}[^ ]' "$1" | tr ' ,|[]()' '\n\n\n\n\n\n\n' | sed -E 's/=.*//' | grep -v '^$' | sort -u; }

lists_parsed() {
	help_actions >"$W/actions" && help_options >"$W/options"
	(($(wc -l <"$W/actions") >= 15 && $(wc -l <"$W/options") >= 20)) ||
		{ echo "could not read the actions and options of '$REKMOD --help':"; "$REKMOD" --help; return 1; }
}
check "the actions and options are read from rekmod --help" lists_parsed

every_in() { # LIST-FILE TAGS-FILE WHAT
	local missing
	missing=$(comm -23 "$1" "$2")
	[[ -z $missing ]] || { echo "$3 missing:" $missing; return 1; }
}
actions_documented() {
	section "$W/rekmod.8.txt" ACTIONS >"$W/sec" && tags "$W/sec" >"$W/tags"
	every_in "$W/actions" "$W/tags" "actions with no paragraph in rekmod(8) ACTIONS"
}
check "rekmod(8) ACTIONS has a paragraph for every action of --help" actions_documented
options_documented() {
	section "$W/rekmod.8.txt" OPTIONS >"$W/sec" && tags "$W/sec" >"$W/tags"
	every_in "$W/options" "$W/tags" "options with no paragraph in rekmod(8) OPTIONS"
}
check "rekmod(8) OPTIONS has a paragraph for every option of --help" options_documented

exit_codes_documented() {
	local c missing=
	section "$W/rekmod.8.txt" "EXIT STATUS" >"$W/sec"
	for c in $(grep -oE 'REKMOD_E_[A-Z]+ = [0-9]+' "$SRCDIR/core/include/rekmod.h" | awk '{print $3}') 9; do
		grep -qE "^ {7}$c( |\$)" "$W/sec" || missing+=" $c"
	done
	[[ -z $missing ]] || { echo "exit codes not in rekmod(8) EXIT STATUS:$missing"; return 1; }
}
check "rekmod(8) EXIT STATUS lists every exit code of rekmod.h (and 9)" exit_codes_documented

for s in ENVIRONMENT FILES EXAMPLES; do
	check "rekmod(8) has a $s section" grep -qx "$s" "$W/rekmod.8.txt"
done

# the names of a C string table: between "NAME[] = {" and "};"
c_table() { awk -v t="$2" 'index($0, t "[] = {") { on = 1; next } on && /^};/ { exit } on' "$1" |
	grep -oE '"[A-Za-z_]+"' | tr -d '"' | sort -u; }

words_of() { tr -c 'A-Za-z0-9_\n' '\n' <"$1" | grep -v '^$' | sort -u; }

directives_documented() {
	c_table "$SRCDIR/core/lib/dkmsconf.c" conf_whitelist >"$W/directives"
	(($(wc -l <"$W/directives") >= 30)) || { echo "conf_whitelist not found in dkmsconf.c"; return 1; }
	section "$W/dkms.conf.5.txt" DIRECTIVES >"$W/sec" && words_of "$W/sec" >"$W/words"
	every_in "$W/directives" "$W/words" "dkms.conf directives not in dkms.conf(5) DIRECTIVES"
}
check "dkms.conf(5) DIRECTIVES names every directive of dkmsconf.c's conf_whitelist" directives_documented

framework_keys_documented() {
	c_table "$SRCDIR/core/lib/ctx.c" framework_keys >"$W/keys"
	(($(wc -l <"$W/keys") >= 10)) || { echo "framework_keys not found in ctx.c"; return 1; }
	section "$W/framework.conf.5.txt" KEYS >"$W/sec" && words_of "$W/sec" >"$W/words"
	every_in "$W/keys" "$W/words" "keys not in framework.conf(5) KEYS" || return 1
	sed -n 's/^#\([a-z_]*\)=.*/\1/p' "$M/framework.conf" | sort -u >"$W/template"
	every_in "$W/keys" "$W/template" "keys not commented out in man/framework.conf" || return 1
	! grep -vE '^(#.*)?$' "$M/framework.conf" || { echo "the template sets a key"; return 1; }
}
check "framework.conf(5) and the template name every key of ctx.c's framework_keys" framework_keys_documented

template_reads_clean() {
	local r=$W/troot out
	mkdir -p "$r/etc/dkms" && cp "$M/framework.conf" "$r/etc/dkms/framework.conf"
	out=$("$REKMOD" --root "$r" status 2>&1) || { echo "$out"; return 1; }
	[[ -z $out ]] || { echo "rekmod said: $out"; return 1; }
}
check "rekmod reads the template without a warning" template_reads_clean

# ---- make install / uninstall into a scratch DESTDIR
D=$W/dest
mk() { make -s -C "$SRCDIR" "$@" DESTDIR="$D" PREFIX=/usr; }
installs_docs() {
	mk install >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	local f
	for f in usr/sbin/rekmod usr/share/man/man8/rekmod.8 usr/share/man/man5/dkms.conf.5 \
		usr/share/man/man5/framework.conf.5 usr/share/man/man7/rekmod-hooks.7 \
		usr/share/bash-completion/completions/rekmod usr/share/zsh/vendor-completions/_rekmod \
		etc/dkms/framework.conf; do
		[[ -f $D/$f ]] || { echo "make install did not install /$f"; return 1; }
	done
	[[ ! -e $D/usr/sbin/dkms && ! -e $D/usr/share/man/man8/dkms.8 ]] ||
		{ echo "make install without DKMS=1 installed a dkms name"; return 1; }
	LC_ALL=C MANPATH=$D/usr/share/man man -w dkms.conf 2>/dev/null | grep -q "$D" ||
		{ echo "man -w dkms.conf does not find the installed page"; return 1; }
}
check "make install: rekmod, 4 man pages, 2 completions, framework.conf; no dkms name" installs_docs

installs_dkms_names() {
	mk install DKMS=1 >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	[[ $(readlink "$D/usr/sbin/dkms") == rekmod && $(readlink "$D/usr/share/man/man8/dkms.8") == rekmod.8 &&
		$(readlink "$D/usr/share/bash-completion/completions/dkms") == rekmod &&
		$(readlink "$D/usr/share/zsh/vendor-completions/_dkms") == _rekmod ]] ||
		{ ls -l "$D/usr/sbin" "$D/usr/share/man/man8"; return 1; }
	mk install DKMS=1 >"$W/out" 2>&1 || { echo "a second install DKMS=1 over rekmod's own links failed:"; cat "$W/out"; return 1; }
}
check "make install DKMS=1 adds the dkms links (command, man page, completions), twice" installs_dkms_names

uninstall_ours() {
	echo '# edited' >>"$D/etc/dkms/framework.conf"
	mk uninstall >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	local left
	left=$(cd "$D" && find . \( -type f -o -type l \) ! -path ./etc/dkms/framework.conf | sort)
	[[ -z $left ]] || { echo "left after uninstall: $left"; return 1; }
	[[ -f $D/etc/dkms/framework.conf ]] && grep -q 'keeping .*framework.conf' "$W/out" ||
		{ echo "the edited framework.conf was not kept with a message"; cat "$W/out"; return 1; }
}
check "make uninstall removes every file install put there, keeps an edited framework.conf" uninstall_ours

refuses_foreign_dkms() {
	rm -rf "$D" && mkdir -p "$D/usr/sbin" && echo '#!/bin/sh' >"$D/usr/sbin/dkms"
	if mk install DKMS=1 >"$W/out" 2>&1; then echo "install DKMS=1 replaced a foreign /usr/sbin/dkms"; return 1; fi
	grep -q "^make install DKMS=1: $D/usr/sbin/dkms exists and is not rekmod's link.*without DKMS=1" "$W/out" ||
		{ echo "no one-line message naming the file and the fix:"; cat "$W/out"; return 1; }
	[[ ! -L $D/usr/sbin/dkms && $(cat "$D/usr/sbin/dkms") == '#!/bin/sh' ]] || return 1
	mk install >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	mk uninstall >"$W/out" 2>&1 || { cat "$W/out"; return 1; }
	[[ -f $D/usr/sbin/dkms ]] || { echo "make uninstall removed a foreign /usr/sbin/dkms"; return 1; }
	grep -q "keeping $D/usr/sbin/dkms" "$W/out" || { cat "$W/out"; return 1; }
}
check "make install DKMS=1 refuses a foreign /usr/sbin/dkms in one line; uninstall keeps it" refuses_foreign_dkms

refuses_foreign_manpage() {
	rm -rf "$D" && mkdir -p "$D/usr/share/man/man8" && echo x | gzip >"$D/usr/share/man/man8/dkms.8.gz"
	if mk install DKMS=1 >"$W/out" 2>&1; then echo "install DKMS=1 went on beside dkms's dkms.8.gz"; return 1; fi
	grep -q "dkms.8.gz exists and is not rekmod's link" "$W/out" || { cat "$W/out"; return 1; }
}
check "make install DKMS=1 refuses when another dkms.8.gz is installed" refuses_foreign_manpage

summary
