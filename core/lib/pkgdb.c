/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Questions only a package database can answer ("which package gives the
 * headers of kernel K?") go to a backend loaded with dlopen when present:
 * librekmod-apt.so (hooks/apt) on Debian, librekmod-rpm.so (hooks/rpm),
 * librekmod-alpm.so (hooks/pacman). Without one, the core falls back
 * to the distribution's usual name. The core never links a package manager. */
#include <dlfcn.h>

#include "internal.h"

#ifndef REKMOD_BACKEND_DIR
#define REKMOD_BACKEND_DIR "/usr/lib/rekmod"
#endif

typedef int (*headers_fn)(const char *root, const char *kver, char **ret_name);

/* The backend a distribution package ships: librekmod-apt.so (Debian),
 * librekmod-rpm.so (Fedora/RHEL/SUSE), librekmod-alpm.so (Arch); each exports
 * rekmod_pkgdb_headers_package (the apt one also under its older name).
 * REKMOD_PKGDB_BACKEND names one explicitly (tests, other layouts). */
static headers_fn backend_headers(const struct rekmod_ctx *ctx)
{
	static const char *const libs[] = { "librekmod-apt.so", "librekmod-rpm.so", "librekmod-alpm.so" };
	const char *env = getenv("REKMOD_PKGDB_BACKEND");
	for (size_t i = 0; i < ARRAY_SIZE(libs); i++) {
		_cleanup_free_ char *path = env && *env ? xstrdup(env) : xasprintf("%s/%s", REKMOD_BACKEND_DIR, libs[i]);
		if (path_exists(path)) {
			void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
			if (!h) {
				rk_debug(log_of(ctx), "package database backend %s: %s", path, dlerror());
			} else {
				/* kept loaded for the life of the process: libapt keeps global state */
				void *fn = dlsym(h, "rekmod_pkgdb_headers_package");
				if (!fn)
					fn = dlsym(h, "rekmod_apt_headers_package");
				if (fn)
					return (headers_fn)fn;
			}
		}
		if (env && *env)
			break;
	}
	return NULL;
}

/* The distribution's usual name when no package database answers. */
static char *usual_name(const struct rekmod_ctx *ctx, const char *kernel)
{
	const char *d = ctx->distro ? ctx->distro : "";
	if (startswith(d, "fedora") || startswith(d, "rhel") || startswith(d, "centos") || startswith(d, "ovm"))
		return xasprintf("kernel-devel-%s", kernel);
	if (startswith(d, "sles") || startswith(d, "suse") || startswith(d, "opensuse"))
		return xasprintf("kernel-default-devel (the version of kernel %s)", kernel);
	if (startswith(d, "arch"))
		return xasprintf("the headers package of the kernel package that ships %s (linux-headers for linux)",
				 kernel);
	return xasprintf("linux-headers-%s", kernel);
}

char *headers_package_hint(const struct rekmod_ctx *ctx, const char *kernel)
{
	headers_fn fn = backend_headers(ctx);
	char *name = NULL;
	if (fn) {
		int r = fn(ctx->root, kernel, &name);
		if (r == 0)
			return name;
		if (r == -ENOENT) {
			_cleanup_free_ char *u = usual_name(ctx, kernel);
			return xasprintf("%s (not in the package database: check your package sources)", u);
		}
	}
	return usual_name(ctx, kernel);
}
