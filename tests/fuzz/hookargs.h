/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The hook harnesses: the first input line, split at blanks, is the hook's
 * argv (hook_parse_args, hooks/common/hookcall.c); the mode it finds must be
 * NULL, "" or one of the words that does not start with '-'. */
#pragma once

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "hookcall.h"

static inline void fuzz_hook_args(const char *line, const uint8_t *data, size_t size)
{
	char *copy = strdup(line), *argv[10] = { "hook" }, *save = NULL;
	int argc = 1;
	for (char *w = strtok_r(copy, " \t", &save); w && argc < 9; w = strtok_r(NULL, " \t", &save))
		argv[argc++] = w;
	struct hookcall h = { .prog = "fuzz" };
	const char *mode;
	hook_parse_args(&h, argc, argv, &mode);
	bool word = false;
	for (int i = 1; mode && i < argc; i++)
		word = word || (mode == argv[i] && argv[i][0] != '-');
	if (mode && *mode && !word)
		fuzz_fail("hook_parse_args gave a mode that is not one of the words", data, size);
	if (!h.rekmod)
		fuzz_fail("hook_parse_args left no rekmod path", data, size);
	free(copy);
}
