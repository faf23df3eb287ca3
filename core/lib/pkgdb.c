/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Questions only a package database can answer ("which package gives the
 * headers of kernel K?") go to a backend (core/shared/pkgdb-backend.h)
 * loaded with dlopen when present. Without one, the core falls back to the
 * distribution's usual name. The core never links a package manager. */
#include "internal.h"
#include "pkgdb-backend.h"

/* Any backend a distribution package ships, or $REKMOD_PKGDB_BACKEND. */
static pkgdb_headers_fn backend_headers(const struct rekmod_ctx *ctx)
{
	static const char *const backends[] = { PKGDB_BACKEND_APT, PKGDB_BACKEND_RPM, PKGDB_BACKEND_ALPM, NULL };
	pkgdb_headers_fn fn = NULL;
	_cleanup_free_ char *why = NULL;
	if (pkgdb_backend_load(backends, &fn, &why) < 0 && why)
		rk_debug(log_of(ctx), "package database backend %s", why);
	return fn;
}

/* The distribution's usual name when no package database answers. */
static char *usual_name(const struct rekmod_ctx *ctx, const char *kernel)
{
	const char *d = ctx_distro(ctx);
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
	pkgdb_headers_fn fn = backend_headers(ctx);
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
