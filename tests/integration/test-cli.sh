#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The command line itself: VERB --help, the global --help against the verbs
# and options the parser accepts, a mistyped verb, no verb (dkms's message),
# `add` of a directory that does not exist, and sync's live display on a
# 40-column pty (script(1)): every line fits, none is left behind when the
# builds end, and the final table is as wide as the longest names.
# Output: "ok N - ..." / "not ok N - ..." then "P passed, F failed".
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

W=$(mktemp -d /tmp/rekmod-cli.XXXXXX)
trap '[[ -n ${KEEP:-} ]] || rm -rf --one-file-system "$W"' EXIT
R=$W/root
new_root "$R"
rk() { "$REKMOD" --root "$R" "$@"; }

VERBS=(add build install uninstall unbuild remove status sync autoinstall match mktarball ldtarball
	mkdeb mkrpm generate_mok kernel_preinst kernel_postinst kernel_prerm)
# every option dkms 3.0.10 documents, and rekmod's own
OPTIONS=(-m --module -v -k --kernelver -a --arch -c -q --quiet --force --force-version-override --all
	--root --dkmstree --sourcetree --installtree --config --kernelsourcedir --directive --no-depmod -j
	--verbose --archive --source-only --binaries-only --templatekernel -V --version -h --help --kernel
	--removed --hook --retry --json --no-initrd --no-clean-kernel --no-prepare-kernel --rpm_safe_upgrade
	--symlink-modules --modprobe-on-install --debug)

# run ARGS...: stdout, stderr and the exit code in $W/out, $W/err, $RC
run() {
	RC=0
	rk "$@" >"$W/out" 2>"$W/err" || RC=$?
}
show() { echo "exit $RC"; sed 's/^/stdout: /' "$W/out"; sed 's/^/stderr: /' "$W/err"; }

# ---- VERB --help ----
verb_help() { # verb_help VERB ARGS...: rekmod ARGS prints VERB's usage, exit 0
	local verb=$1
	shift
	run "$@"
	[[ $RC -eq 0 && ! -s $W/err ]] && head -n 1 "$W/out" | grep -q "^Usage: rekmod $verb\( \|$\)" &&
		[[ $(wc -l <"$W/out") -le 8 ]] || { show; return 1; }
}
for v in add build status sync remove kernel_prerm mktarball; do
	check "$v --help prints the usage of $v and exits 0" verb_help "$v" "$v" --help
done
check "-h works as --help: remove -h" verb_help remove remove -h
check "--help before the verb: --help install" verb_help install --help install
check "VERB --help with other arguments: build hello/0.1 -k K --help" verb_help build build hello/0.1 -k "$K1" --help
help_says_all() {
	run build --help
	grep -q -- "--all: every kernel in the install tree that has headers" "$W/out" || { show; return 1; }
	run remove --help
	grep -q -- "--all: every kernel the module is built for" "$W/out" || { show; return 1; }
	run autoinstall --help
	grep -q -- "--all: refused" "$W/out" && grep -q -- "-k: one; none: the running kernel" "$W/out" || { show; return 1; }
}
check "VERB --help says what -k and --all mean for the verb" help_says_all

# ---- the global help ----
help_lists_verbs() {
	local v
	run --help
	[[ $RC -eq 0 ]] || { show; return 1; }
	for v in "${VERBS[@]}"; do
		grep -qE "^  $v +[a-z]" "$W/out" || { echo "verb $v not listed"; show; return 1; }
	done
}
check "--help lists every verb, one per line" help_lists_verbs
help_lists_options() {
	local o
	run --help
	for o in "${OPTIONS[@]}"; do
		grep -qE -- "^  (-[a-zA-Z], )?( {4})?$o( |,|$)" "$W/out" || { echo "option $o not listed"; return 1; }
	done
}
check "--help lists every option the parser accepts, one per line" help_lists_options
# the other way round: each option line of --help names an option the parser takes
listed_options_parse() {
	local line spell val n=0
	run --help
	while IFS= read -r line; do
		[[ $line =~ ^\ \ (-[a-zA-Z])?(,\ )?\ *(--[a-z_-]+)?(\ ([A-Z][^ ]*))?\ \  ]] || continue
		val=${BASH_REMATCH[5]}
		for spell in ${BASH_REMATCH[1]} ${BASH_REMATCH[3]}; do
			n=$((n + 1))
			if [[ -n $val ]]; then
				rk "$spell" x status --help >"$W/o2" 2>&1
			else
				rk "$spell" status --help >"$W/o2" 2>&1
			fi || { echo "$spell: exit $?"; cat "$W/o2"; return 1; }
			! grep -q "Unknown option" "$W/o2" || { echo "$spell"; cat "$W/o2"; return 1; }
		done
	done <"$W/out"
	((n >= ${#OPTIONS[@]})) || { echo "only $n option spellings found in --help"; return 1; }
}
check "every option --help lists is accepted by the parser" listed_options_parse

# ---- mistakes ----
unknown_verb() { # unknown_verb WORD EXPECTED-STDERR
	run "$1"
	# dkms 3.x: a blank line before every "Error!"
	[[ $RC -eq 1 && ! -s $W/out && $(cat "$W/err") == $'\n'"$2" ]] || { show; return 1; }
}
check "a mistyped verb is named with the closest one (exit 1)" \
	unknown_verb stauts 'Error! Unknown action: stauts (did you mean status?)'
check "biuld: did you mean build?" unknown_verb biuld 'Error! Unknown action: biuld (did you mean build?)'
check "a word near no verb is named without a guess" \
	unknown_verb xyzzy 'Error! Unknown action: xyzzy; rekmod --help lists the verbs'
no_verb() {
	run "$@"
	[[ $RC -eq 0 ]] && [[ $(sed -n 2p "$W/err") == 'Error! Unknown action specified: ""' ]] &&
		grep -q "^Usage: rekmod" "$W/err" || { show; return 1; }
}
check "no verb at all: dkms's message and usage on stderr, exit 0 as dkms" no_verb
check "no verb, only options: dkms's message, exit 0" no_verb -k "$K1"
missing_dir() {
	run add "$W/no/such/dir"
	[[ $RC -ne 0 && ! -s $W/out ]] &&
		[[ $(cat "$W/err") == $'\n'"Error! $W/no/such/dir: no such directory; pass the directory that holds dkms.conf" ]] &&
		[[ -z $(ls -A "$R/var/lib/dkms" 2>/dev/null) ]] || { show; return 1; }
}
check "add /no/such/dir names the directory (not a module called \"\")" missing_dir
missing_rel() {
	run build ./no-such-dir/x
	[[ $RC -ne 0 ]] && grep -q "^Error! ./no-such-dir/x: no such directory" "$W/err" || { show; return 1; }
}
check "build ./no-such-dir/x names the directory" missing_rel
mv_still_module() {
	run add nosuch/1.0
	[[ $RC -ne 0 ]] && ! grep -q "no such directory" "$W/err" || { show; return 1; }
}
check "add nosuch/1.0 is still a module/version, not a directory" mv_still_module

# ---- the live display of sync on a 40-column terminal ----
# a module with dkms.conf name NAME/VERSION whose kernel module is "hello"
add_long() {
	local r=$1 name=$2 ver=$3 d
	d=$r/usr/src/$name-$ver
	mkdir -p "$d"
	cp "$SRCDIR/examples/hello/hello.c" "$SRCDIR/examples/hello/Makefile" "$d/"
	# its own DEST_MODULE_NAME: two packages installing one hello.ko, the second is refused (dkms 3.x)
	sed "s/^PACKAGE_NAME=.*/PACKAGE_NAME=\"$name\"/; s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"$ver\"/" \
		"$SRCDIR/examples/hello/dkms.conf" >"$d/dkms.conf"
	echo "DEST_MODULE_NAME[0]=\"${name//-/_}\"" >>"$d/dkms.conf"
	"$REKMOD" --root "$r" add "$name/$ver" >/dev/null
}
# screen TYPESCRIPT COLS: replays the typescript on a COLS-wide terminal (cursor
# up, erase below, CR, LF, wrap) and prints the final screen, wrapped lines
# joined again; fails when a "building" line would wrap
screen() {
	python3 - "$1" "$2" <<'EOF'
import re, sys
data = open(sys.argv[1], 'rb').read().decode('utf-8', 'replace')
cols = int(sys.argv[2])
data = data.split('\n', 1)[1]                   # script's "Script started" line
data = data[:data.rfind('\nScript done')]
rows, cont = [''], [False]                      # cont: the row continues a wrapped one
row, col, bad, i = 0, 0, [], 0
def grow():
    while len(rows) <= row:
        rows.append('')
        cont.append(False)
while i < len(data):
    m = re.match(r'\x1b\[(\d*)([A-Za-z])', data[i:])
    if m:
        n = int(m.group(1) or 1)
        if m.group(2) == 'A':
            row = max(0, row - n)
        elif m.group(2) == 'J':
            del rows[row + 1:], cont[row + 1:]
            rows[row] = rows[row][:col]
        else:
            sys.exit('unexpected escape sequence %r' % m.group(0))
        i += len(m.group(0))
        continue
    c = data[i]
    i += 1
    if c == '\r':
        col = 0
    elif c == '\n':
        row += 1
        grow()
    else:
        if col >= cols:                          # the terminal wraps
            if 'building' in rows[row]:
                bad.append(rows[row])
            row, col = row + 1, 0
            grow()
            rows[row], cont[row] = '', True
        line = rows[row].ljust(col)
        rows[row] = line[:col] + c + line[col + 1:]
        col += 1
out = []
for r, c in zip(rows, cont):
    if c and out:
        out[-1] += r
    else:
        out.append(r)
print('\n'.join(out))
if bad:
    sys.exit('%d wrapped lines, the first: %r' % (len(bad), bad[0]))
EOF
}
L=$W/live
new_root "$L"
add_long "$L" nvidia-tesla-535 535.216.03
add_long "$L" hello 0.1
live_display() { # live_display ROOT SETUP: sync on a pty, SETUP run first
	local r=$1 setup=$2 ts=$W/typescript
	rm -f "$ts"
	script -qfec "$setup; exec '$REKMOD' --root '$r' sync" "$ts" >/dev/null 2>&1 </dev/null ||
		{ cat -A "$ts" | tail -n 12; return 1; }
	grep -q "building" "$ts" || { echo "no live display"; cat -A "$ts" | head -n 12; return 1; }
	screen "$ts" 40 >"$W/screen" || { cat -A "$ts" | head -n 12; return 1; }
	! grep -q "building" "$W/screen" || { echo "stale lines:"; cat "$W/screen"; return 1; }
	# the table: columns as wide as nvidia-tesla-535/535.216.03 and the kernel names
	local mvw=${#K1} hdr
	((${#K2} > mvw)) && mvw=${#K2}
	hdr=$(printf '%-27s %-*s %-9s %7s' module/version "$mvw" kernel result time)
	grep -qx -- "$hdr" "$W/screen" &&
		grep -qE "^nvidia-tesla-535/535\.216\.03 ($K1|$K2) +installed +[0-9.]+s$" "$W/screen" &&
		grep -qE "^hello/0\.1 {19}($K1|$K2) +installed" "$W/screen" || { cat "$W/screen"; return 1; }
}
check "sync on a 40-column tty (stty): lines cut to fit, none left behind, table sized to the names" \
	live_display "$L" "stty cols 40 rows 20; unset COLUMNS"
L2=$W/live2
new_root "$L2"
add_long "$L2" nvidia-tesla-535 535.216.03
add_long "$L2" hello 0.1
check "sync with COLUMNS=40 on a wider tty: COLUMNS wins" \
	live_display "$L2" "stty cols 120 rows 20; export COLUMNS=40"

summary
