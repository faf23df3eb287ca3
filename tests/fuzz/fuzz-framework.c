/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* framework.conf (core/lib/ctx.c, read by rekmod_new from <root>/etc/dkms/
 * framework.conf and framework.conf.d/NAME.conf) and os-release beside it. The
 * input is split at the first line "%%": before it framework.conf, after it
 * a drop-in, then at a second "%%" the root's os-release. Findings:
 * sanitizer reports, leaks, a log message of more than one line, a context
 * whose trees are not under the root or whose numbers are out of range. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "internal.h"

static char *root, *main_conf, *dropin, *os_release;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	root = fuzz_path("root");
	char *etc = fuzz_path("root/etc"), *d = fuzz_path("root/etc/dkms"),
	     *dd = fuzz_path("root/etc/dkms/framework.conf.d");
	if (mkdir(root, 0755) || mkdir(etc, 0755) || mkdir(d, 0755) || mkdir(dd, 0755))
		abort();
	free(etc), free(d), free(dd);
	main_conf = fuzz_path("root/etc/dkms/framework.conf");
	dropin = fuzz_path("root/etc/dkms/framework.conf.d/50-fuzz.conf");
	os_release = fuzz_path("root/etc/os-release");
	/* the signing names also come from the environment: keep it out */
	unsetenv("sign_file"), unsetenv("mok_signing_key"), unsetenv("mok_certificate");
	unsetenv("try_sign_modules"), unsetenv("REKMOD_ROOT"), unsetenv("ADDON_MODULES_DIR");
	return 0;
}

/* the part of [*p, end) up to the next "\n%%\n" line (or the end) */
static void next_part(const uint8_t **p, const uint8_t *end, const char *path)
{
	static const char sep[] = "\n%%\n";
	const uint8_t *s = memmem(*p, (size_t)(end - *p), sep, sizeof(sep) - 1);
	size_t n = s ? (size_t)(s - *p) : (size_t)(end - *p);
	fuzz_write(path, *p, n);
	*p = s ? s + sizeof(sep) - 1 : end;
}

static void check(const struct rekmod_ctx *ctx, const uint8_t *data, size_t size)
{
	const char *trees[] = { ctx->dkms_tree_path, ctx->source_tree_path, ctx->install_tree_path };
	for (size_t i = 0; i < 3; i++)
		if (strncmp(trees[i], root, strlen(root)) != 0)
			fuzz_fail("a tree of the context is not under its root", data, size);
	if (ctx->jobs <= 0 || ctx->lock_timeout < 0 || ctx->lock_timeout > 7 * 86400)
		fuzz_fail("parallel_jobs or lock_timeout_seconds out of range", data, size);
	const char *distro = ctx_distro(ctx); /* read on first use */
	if (!distro || !*distro)
		fuzz_fail("no running_distribution", data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;
	next_part(&p, end, main_conf);
	next_part(&p, end, dropin);
	next_part(&p, end, os_release);
	struct rekmod_options o = { .root = root, .log_fn = fuzz_log, .log_priority = 7 };
	struct rekmod_ctx *ctx = NULL;
	if (rekmod_new(&o, &ctx) != 0)
		fuzz_fail("rekmod_new failed on a readable root", data, size);
	check(ctx, data, size);
	rekmod_unref(ctx);
	return 0;
}
