/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Differential: the native dkms.conf reader against the bash evaluator
 * (core/lib/dkmsconf.c), which sources the file as dkms does. Whenever the
 * native reader answers, bash must answer the same variables; when it
 * refuses (other than "needs bash"), bash must refuse too. Slow: each input
 * whose native answer is checked runs bash. test-fuzz.sh runs it as an
 * unprivileged user without network, since bash runs what the file says. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "dkmsconf.h"
#include "fuzz.h"

static char *conf;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	conf = fuzz_path("dkms.conf");
	return 0;
}

static const struct conf_env env = {
	.kernelver = "6.1.0-56-amd64",
	.arch = "x86_64",
	.kernel_source_dir = "/lib/modules/6.1.0-56-amd64/build",
	.kernel_config = "/lib/modules/6.1.0-56-amd64/build/.config",
	.dkms_tree = "/var/lib/dkms",
	.source_tree = "/usr/src",
	.install_tree = "/lib/modules",
	.module = "foo",
	.module_version = "1.0",
	.parallel_jobs = "2",
	.current_kernel = "6.1.0-56-amd64",
	.running_distribution = "debian",
	.tmp_location = "/tmp",
};

static _Noreturn void differ(const struct conf_vars *n, const struct conf_vars *b, const uint8_t *data,
			     size_t size)
{
	char *dn = n ? conf_vars_dump(n) : NULL, *db = b ? conf_vars_dump(b) : NULL;
	fprintf(stderr, "native:\n%s\nbash:\n%s\n", dn ? dn : "(refused)", db ? db : "(refused)");
	free(dn), free(db);
	fuzz_fail("the native reader and bash disagree", data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_write(conf, data, size);
	struct rk_log log = { .fn = fuzz_log, .max_priority = 0 };
	const char *files[] = { conf };
	struct conf_vars *n = NULL, *b = NULL;
	int rn = conf_eval_native(files, 1, &env, &log, &n);
	if (rn == -ENOTSUP)
		return 0;
	int rb = conf_eval_bash(files, 1, &env, &log, &b);
	if ((rn == 0) != (rb == 0) || (rn == 0 && !conf_vars_equal(n, b)))
		differ(n, b, data, size);
	conf_vars_free(n);
	conf_vars_free(b);
	return 0;
}
