# SPDX-License-Identifier: GPL-2.0-or-later
# Sourced by test-man.sh and test-completion.sh: the actions and options that
# `rekmod --help` lists, read tolerantly. Two layouts are understood:
#   - "[action] = { add | remove | ... }" (actions between braces, over
#     several lines) and "[-m module] [--force]" option lists;
#   - a section whose header names actions, verbs or commands, one action
#     per indented line ("  add  ..."), and option lines such as
#     "  -k, --kernelver K   ...".
# Every "-x" or "--long-name" token anywhere in the text is an option.

# help_actions: one action per line, sorted
help_actions() {
	"$REKMOD" --help 2>&1 | awk '
		/\{/ { inb = 1; sub(/.*\{/, "") }
		inb { s = $0; end = sub(/\}.*/, "", s); n = split(s, w, /[ |,]+/)
		      for (i = 1; i <= n; i++) if (w[i] ~ /^[a-z][a-z_]*$/) print w[i]
		      if (end) inb = 0; next }
		/^[^ \t]/ && tolower($0) ~ /(action|verb|command)s?:?[ \t]*$/ { sect = 1; next }
		sect && /^[^[:space:]]/ { sect = 0 }
		sect && /^[[:space:]]*$/ { sect = 0 }
		sect && match($0, /^[[:space:]]+[a-z][a-z_]*([[:space:],|]|$)/) {
			# "  add ...", "  kernel_prerm, kernel_preinst ...", "  a | b ..."
			for (i = 1; i <= NF; i++) {
				t = $i; more = sub(/[,|]$/, "", t)
				if (t == "|") { continue }
				if (t !~ /^[a-z][a-z_]*$/) break
				print t
				if (!more && $(i + 1) != "|") break
			} }
	' | sort -u
}

# help_options: one option spelling per line, sorted
help_options() {
	"$REKMOD" --help 2>&1 | grep -oE '(^|[^A-Za-z0-9_-])--?[A-Za-z][A-Za-z0-9_-]*' |
		sed -E 's/^[^-]*//' | sort -u
}
