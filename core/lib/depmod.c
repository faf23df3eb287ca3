/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* depmod for one kernel of the install tree, as `depmod -b <base> -a <kver>`. */
#include <stdlib.h>
#include <sys/stat.h>

#include "internal.h"

/* whether run_depmod for kernel would run depmod (not skip it) */
bool depmod_would_run(const struct rekmod_ctx *ctx, const char *kernel)
{
	_cleanup_free_ char *dep = xasprintf("%s/%s/modules.dep", ctx->install_tree_path, kernel);
	return !ctx->no_depmod && path_exists(dep);
}

/* Returns 0 (*ret_ran false when it was skipped: --no-depmod, or no
 * modules.dep, the kernel image is not installed) or -errno.
 * depmod (kmod 30) only knows <base>/lib/modules: for any other install tree,
 * point a temporary base's lib/modules at it. */
int run_depmod(struct rekmod_ctx *ctx, const char *kernel, bool *ret_ran)
{
	*ret_ran = false;
	_cleanup_free_ char *dep = xasprintf("%s/%s/modules.dep", ctx->install_tree_path, kernel);
	if (ctx->no_depmod)
		return 0;
	if (!path_exists(dep)) {
		rk_info(log_of(ctx), "%s does not exist: no kernel image for %s, depmod skipped", dep, kernel);
		return 0;
	}
	_cleanup_free_ char *base = NULL, *tmpbase = NULL;
	if (endswith(ctx->install_tree_path, "/lib/modules")) {
		base = xstrndup(ctx->install_tree_path, strlen(ctx->install_tree_path) - strlen("/lib/modules"));
		if (!*base) {
			free(base);
			base = xstrdup("/");
		}
	} else {
		const char *t = getenv("TMPDIR");
		tmpbase = xasprintf("%s/rekmod-depmod.XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(tmpbase))
			return -errno;
		_cleanup_free_ char *lib = xasprintf("%s/lib", tmpbase);
		_cleanup_free_ char *mods = xasprintf("%s/lib/modules", tmpbase);
		if (mkdir(lib, 0755) < 0 || symlink(ctx->install_tree_path, mods) < 0) {
			int r = -errno;
			rm_rf(tmpbase);
			return r;
		}
		base = xstrdup(tmpbase);
	}
	const char *argv[] = { "depmod", "-b", base, "-a", kernel, NULL };
	int st = 0;
	int r = run_logged(ctx, argv, NULL, &st);
	if (tmpbase)
		rm_rf(tmpbase);
	if (r < 0)
		return r;
	*ret_ran = true;
	return st == 0 ? 0 : -EIO;
}
