/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hooks/pacman: the alpm hook program and librekmod-alpm.so share this. */
#pragma once

#include <stdbool.h>

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

/* librekmod-alpm.so: the package that gives the headers of kernel kver,
 * from the local pacman database under root (NULL: "/") and the sync
 * databases beside it. 0 and a malloc'd name; -ENOENT when unknown; another
 * -errno on error. */
int rekmod_pkgdb_headers_package(const char *root, const char *kver, char **ret_name);
