/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hooks/rpm: the pure logic of the file triggers (trigger-paths.c: paths on
 * stdin -> kernel releases, module sources). librekmod-rpm.so (rpmdb.c)
 * answers from the rpm database through the interface of
 * core/shared/pkgdb-backend.h; the core and the trigger program load it. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#define RPMHOOK_PROG "rekmod-rpm-trigger"

/* ---- trigger-paths.c ---- */

/* The kernel release in a path from a kernel file trigger:
 * /usr/lib/modules/K[/...], /lib/modules/K[/...], /usr/src/kernels/K[/...].
 * 0 and *ret_kver = malloc'd K; 0 and NULL for a prefix itself or a path
 * outside them; -EINVAL when K is not one valid path component ("..", ".",
 * empty, control characters). */
int rpmhook_path_kver(const char *path, char **ret_kver);

/* The same path in the /lib/modules spelling (/usr/lib/modules/... is the
 * same directory on merged-/usr systems), malloc'd. */
char *rpmhook_canonical(const char *path);

/* The source directory name D of /usr/src/D/dkms.conf: 0 and malloc'd D;
 * 0 and NULL for any other path; -EINVAL when D is not a valid component. */
int rpmhook_path_source(const char *path, char **ret_dir);

/* Does kernel kver keep an image (vmlinuz, modules.order or modules.builtin
 * under /lib/modules/kver, /boot/vmlinuz-kver) or headers (/lib/modules/
 * kver/build, /usr/src/kernels/kver) once the files in erased[] (canonical
 * spellings) are gone? present(path) tells which exist. */
bool rpmhook_kernel_stays(const char *kver, char *const *erased, bool (*present)(const char *path, void *ud),
			  void *ud);

/* The trigger's input: the absolute paths among the lines of stdin (the
 * others are reported on err and skipped), malloc'd and NULL-terminated. */
char **rpmhook_paths(char *const *lines, FILE *err);
/* The kernel releases the paths name, each once, in order; a path whose
 * release is not one valid component is reported on err and skipped. */
char **rpmhook_kernels(char *const *paths, FILE *err);
