/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The native dkms.conf reader and dkms's defaults and validation
 * (core/lib/dkmsconf.c): the input is a dkms.conf. The reader answers or
 * leaves the file to bash (-ENOTSUP); a file it answers is finished for two
 * distributions, strict and not. Findings: any sanitizer report or leak, a
 * log message of more than one line, a refusal without an error line, a
 * result without the fields every caller uses. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dkmsconf.h"
#include "fuzz.h"

static char *conf, *kconfig;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	conf = fuzz_path("dkms.conf");
	kconfig = fuzz_path("kconfig");
	static const char cfg[] = "CONFIG_MODULES=y\nCONFIG_PCI=y\n# CONFIG_USB is not set\nCONFIG_NET=m\n";
	fuzz_write(kconfig, cfg, sizeof(cfg) - 1);
	return 0;
}

static const struct conf_env env = {
	.kernelver = "6.1.0-56-amd64",
	.arch = "x86_64",
	.kernel_source_dir = "/lib/modules/6.1.0-56-amd64/build",
	.dkms_tree = "/var/lib/dkms",
	.source_tree = "/usr/src",
	.install_tree = "/lib/modules",
	.module = "foo",
	.module_version = "1.0",
	.parallel_jobs = "2",
};

static void check_result(const struct dkms_conf *c, const uint8_t *data, size_t size)
{
	/* zero modules is a valid answer: dkms 3.x adds, builds and installs an empty build */
	if (!c->package_name || !c->package_version || !c->make_command)
		fuzz_fail("finish answered 0 without a name, version or make command", data, size);
	for (size_t i = 0; i < c->n_modules; i++) {
		const struct dkms_module *m = &c->modules[i];
		if (!m->built_name || !*m->built_name || !m->dest_name || !m->built_location || !m->dest_location)
			fuzz_fail("finish answered 0 with a module without a name or location", data, size);
	}
}

static void finish(const struct conf_vars *v, const char *distro, bool strict, const uint8_t *data, size_t size)
{
	struct conf_finish_opts o = {
		.kernelver = env.kernelver, .arch = env.arch, .kernel_source_dir = env.kernel_source_dir,
		.kernel_config = kconfig, .dkms_tree = env.dkms_tree, .module = env.module,
		.module_version = env.module_version, .distro = distro, .strict = strict,
	};
	int errors = 0;
	struct rk_log log = { .fn = fuzz_log, .userdata = &errors, .max_priority = 7 };
	struct dkms_conf *c = NULL;
	int r = dkms_conf_finish(v, conf, &o, &log, &c);
	if (r == -EINVAL && errors == 0)
		fuzz_fail("finish refused the file without an error line", data, size);
	if (r != 0 && r != -EINVAL)
		fuzz_fail("finish answered neither 0 nor -EINVAL", data, size);
	if (r == 0) {
		check_result(c, data, size);
		dkms_conf_free(c);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_write(conf, data, size);
	struct rk_log log = { .fn = fuzz_log, .max_priority = 7 };
	struct conf_vars *v = NULL;
	const char *files[] = { conf };
	int r = conf_eval_native(files, 1, &env, &log, &v);
	if (r == -ENOTSUP)
		return 0;
	if (r < 0)
		fuzz_fail("the native reader failed on a readable file", data, size);
	if (!conf_vars_equal(v, v))
		fuzz_fail("conf_vars_equal(v, v) is false", data, size);
	free(conf_vars_dump(v));
	finish(v, "debian", true, data, size);
	finish(v, "alpine", false, data, size);
	conf_vars_free(v);
	return 0;
}
