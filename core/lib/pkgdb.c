/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Questions only a package database can answer ("which package gives the
 * headers of kernel K?") go to a backend loaded with dlopen when present:
 * librekmod-apt.so (hooks/apt) on Debian. Without one, the core falls back
 * to the distribution's usual name. The core never links a package manager. */
#include <dlfcn.h>

#include "internal.h"

#ifndef REKMOD_BACKEND_DIR
#define REKMOD_BACKEND_DIR "/usr/lib/rekmod"
#endif

typedef int (*headers_fn)(const char *root, const char *kver, char **ret_name);

static headers_fn backend_headers(const struct rekmod_ctx *ctx)
{
	const char *env = getenv("REKMOD_PKGDB_BACKEND");
	_cleanup_free_ char *path = env && *env ? xstrdup(env) : xasprintf("%s/librekmod-apt.so", REKMOD_BACKEND_DIR);
	if (!path_exists(path))
		return NULL;
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		rk_debug(log_of(ctx), "package database backend %s: %s", path, dlerror());
		return NULL;
	}
	/* kept loaded for the life of the process: libapt keeps global state */
	return (headers_fn)dlsym(h, "rekmod_apt_headers_package");
}

char *headers_package_hint(const struct rekmod_ctx *ctx, const char *kernel)
{
	headers_fn fn = backend_headers(ctx);
	char *name = NULL;
	if (fn) {
		int r = fn(ctx->root, kernel, &name);
		if (r == 0)
			return name;
		if (r == -ENOENT)
			return xasprintf("linux-headers-%s (not in the package database: check your package sources)",
					 kernel);
	}
	return xasprintf("linux-headers-%s", kernel);
}
