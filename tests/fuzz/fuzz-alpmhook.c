/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The alpm hook's input (hooks/pacman): the target lines pacman writes on a
 * NeedsTargets hook's stdin, split into lines as the hook does
 * (hook_split_lines), parsed into kernels and module sources
 * (alpm_targets_read, alpm_target_parse). Findings: sanitizer reports,
 * leaks, a kernel release or source directory that is not one valid name, a
 * source without the '-' between module and version the hook splits at, a
 * name given twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hookargs.h"
#include "hookcall.h"
#include "rekmod-alpm.h"
#include "strutil.h"

static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	devnull = fopen("/dev/null", "w");
	return devnull ? 0 : 1;
}

static void check_names(char *const *v, bool source, const uint8_t *data, size_t size)
{
	for (size_t i = 0; v[i]; i++) {
		if (!name_is_valid(v[i]))
			fuzz_fail("alpm_targets_read gave a name that is not valid", data, size);
		const char *dash = strrchr(v[i], '-');
		if (source && (!dash || dash == v[i] || !dash[1]))
			fuzz_fail("alpm_targets_read gave a source without <module>-<version>", data, size);
		for (size_t j = 0; j < i; j++)
			if (streq(v[i], v[j]))
				fuzz_fail("alpm_targets_read gave a name twice", data, size);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **lines = hook_split_lines((const char *)data, size);
	if (lines[0])
		fuzz_hook_args(lines[0], data, size);
	char **kernels = xcalloc(1, sizeof(char *)), **sources = xcalloc(1, sizeof(char *));
	alpm_targets_read(lines, &kernels, &sources, devnull);
	check_names(kernels, false, data, size);
	check_names(sources, true, data, size);
	strv_free(kernels);
	strv_free(sources);
	strv_free(lines);
	return 0;
}
