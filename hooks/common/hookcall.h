/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What every package-manager hook program does around its one call of the
 * core: find things in the root it runs for, and run `rekmod` with an
 * explicit argv (never a shell). Shared by hooks/rpm and hooks/pacman. */
#pragma once

#include <stdbool.h>

#ifndef REKMOD_SBIN
#define REKMOD_SBIN "/usr/sbin/rekmod"
#endif
#define HOOK_DKMS_TREE "/var/lib/dkms"

struct hookcall {
	const char *prog;   /* for messages */
	const char *root;   /* NULL: "/" (package managers run hooks chrooted) */
	const char *rekmod; /* the rekmod binary */
	bool print;         /* tests: print the commands instead of running them */
	const char *caller; /* REKMOD_CALLER for rekmod's journal (alpm-hook, rpm-trigger) */
};

/* [--root DIR] [--rekmod PATH] [--print] MODE; *mode is "" when malformed. */
void hook_parse_args(struct hookcall *h, int argc, char **argv, const char **mode);
/* path (absolute, inside the root) as this process reaches it */
char *hook_in_root(const struct hookcall *h, const char *path);
/* does <modules_dir>/<k>/build hold headers (include/), symlinks followed inside the root? */
bool hook_has_headers(const struct hookcall *h, const char *modules_dir, const char *k);
/* is any module registered in the dkms tree? */
bool hook_any_registered(const struct hookcall *h);
/* A module source directory name "<m>-<v>" (of /usr/src/<m>-<v>) as it is
 * registered in the dkms tree: malloc'd "m/v", or NULL when no split is.
 * The rightmost '-' is tried first; a module name may hold '-'. */
char *hook_registered_as(const struct hookcall *h, const char *dir);
/* the non-empty lines of stdin (what the package manager passes), without '\n' */
char **hook_read_lines(void);
/* the same of buf[0, len): each line up to its '\n' (or a NUL byte in it),
 * empty ones skipped; NULL-terminated, malloc'd */
char **hook_split_lines(const char *buf, size_t len);
/* rekmod [--root R] words..., run to completion, its stdout on stderr */
void hook_run(const struct hookcall *h, const char *const *words);
/* execs rekmod [--root R] sync --hook [--kernel K]... [--removed K]... [-m M]...;
 * returns only with print, or when the exec failed (said on stderr) */
void hook_exec_sync(const struct hookcall *h, char *const *kernels, char *const *removed, char *const *mods);
