/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The rpm file trigger's input (hooks/rpm): the paths rpm writes on the
 * trigger's stdin, split into lines as the hook does (hook_split_lines),
 * the absolute ones kept (rpmhook_paths), the kernels and module sources
 * they name (rpmhook_kernels, rpmhook_path_source), the canonical spelling
 * and the "kernel stays" rule over them. Findings: sanitizer reports, leaks,
 * a kernel release or source directory that is not one valid name, a
 * kernel named twice, a canonical path still spelt /usr/lib/modules/. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hookargs.h"
#include "hookcall.h"
#include "rekmod-rpm.h"
#include "strutil.h"

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	devnull = fopen("/dev/null", "w");
	return devnull ? 0 : 1;
}

/* a deterministic stand-in for lstat in the root: some paths exist */
static bool present(const char *path, void *ud)
{
	(void)ud;
	return strlen(path) % 3 == 0;
}

static void check_kernels(char *const *ks, char *const *erased, const uint8_t *data, size_t size)
{
	for (size_t i = 0; ks[i]; i++) {
		if (!name_is_valid(ks[i]))
			fuzz_fail("rpmhook_kernels gave a kernel release that is not a valid name", data, size);
		for (size_t j = 0; j < i; j++)
			if (streq(ks[i], ks[j]))
				fuzz_fail("rpmhook_kernels named a kernel twice", data, size);
		(void)rpmhook_kernel_stays(ks[i], erased, present, NULL);
	}
}

static void check_path(const char *p, const uint8_t *data, size_t size)
{
	char *c = rpmhook_canonical(p), *d = NULL;
	if (strncmp(c, "/usr/lib/modules/", 17) == 0)
		fuzz_fail("rpmhook_canonical kept /usr/lib/modules/", data, size);
	free(c);
	if (rpmhook_path_source(p, &d) == 0 && d && !name_is_valid(d))
		fuzz_fail("rpmhook_path_source gave a source directory that is not a valid name", data, size);
	free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **lines = hook_split_lines((const char *)data, size);
	if (lines[0])
		fuzz_hook_args(lines[0], data, size);
	char **paths = rpmhook_paths(lines, devnull);
	char **ks = rpmhook_kernels(paths, devnull);
	char **erased = xcalloc(1, sizeof(char *));
	for (size_t i = 0; paths[i]; i++) {
		if (paths[i][0] != '/')
			fuzz_fail("rpmhook_paths kept a relative path", data, size);
		check_path(paths[i], data, size);
		strv_push(&erased, rpmhook_canonical(paths[i]));
	}
	check_kernels(ks, erased, data, size);
	strv_free(erased);
	strv_free(ks);
	strv_free(paths);
	strv_free(lines);
	return 0;
}
