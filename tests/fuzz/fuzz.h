/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the libFuzzer harnesses of tests/fuzz share: the entry point's
 * prototype, a private scratch directory, writing the input to a file, a log
 * sink that checks the one-line rule. Harnesses abort() on a finding, so
 * libFuzzer keeps the input as a crash-* file. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A directory of this process (mkdtemp under $TMPDIR), removed at exit. */
const char *fuzz_dir(void);
/* <fuzz_dir>/name, malloc'd */
char *fuzz_path(const char *name);
/* writes data to path (truncating); aborts when it cannot */
void fuzz_write(const char *path, const void *data, size_t size);
/* prints what went wrong, with the input, and aborts */
_Noreturn void fuzz_fail(const char *what, const uint8_t *data, size_t size);

/* A struct rk_log callback: counts messages at LOG_ERR or worse in *(int *)ud
 * and aborts on a message with a newline (every error is one line). */
void fuzz_log(void *ud, int priority, const char *msg);
