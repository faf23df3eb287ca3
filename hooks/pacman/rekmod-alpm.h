/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hooks/pacman: the target lines of the alpm hooks (targets.c). The hook
 * program links librekmod-alpm.so's code (alpmdb.c, the interface of
 * core/shared/pkgdb-backend.h) directly: pacman's hooks run where libalpm is. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#define ALPM_HOOK_PROG "rekmod-alpm-hook"

/* What one target line of an alpm hook names. */
enum alpm_target_kind {
	ALPM_TARGET_OTHER,   /* a path no rekmod hook targets: ignored */
	ALPM_TARGET_HEADERS, /* usr/lib/modules/<K>/build/... */
	ALPM_TARGET_KERNEL,  /* usr/lib/modules/<K>/<anything else> (modules.order, vmlinuz) */
	ALPM_TARGET_SOURCE,  /* usr/src/<m>-<v>/dkms.conf */
};

/* Parses one target line (relative to the root, a leading '/' allowed).
 * Returns 0 and the kind, with the kernel release or the source directory
 * name in *ret_name (malloc'd; NULL for OTHER); -EINVAL when the path is
 * malformed: a kernel release or source directory that is not one path
 * component, or a ".." anywhere. */
int alpm_target_parse(const char *line, enum alpm_target_kind *ret_kind, char **ret_name);

/* The target lines of a hook's stdin: each kernel release (headers or image)
 * and each module source directory, once, appended to *kernels and *sources
 * (NULL-terminated vectors); a malformed line is reported on err, skipped. */
void alpm_targets_read(char *const *lines, char ***kernels, char ***sources, FILE *err);
