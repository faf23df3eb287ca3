/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one loader of the package-database backends (pkgdb-backend.h), for
 * the core (core/lib/pkgdb.c) and the hook programs. */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>

#include "fileio.h"
#include "pkgdb-backend.h"
#include "strutil.h"

#ifndef REKMOD_BACKEND_DIR
#define REKMOD_BACKEND_DIR "/usr/lib/rekmod"
#endif

/* Adds "path: why" to the failures said so far. */
static void note_failure(struct strbuf *why, const char *path, const char *what)
{
	sb_printf(why, "%s%s: %s", why->len ? "; " : "", path, what);
}

static int load_one(const char *path, pkgdb_headers_fn *ret_fn, struct strbuf *why)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *e = dlerror();
		note_failure(why, path, e ? e : "cannot be loaded");
		return -ELIBBAD;
	}
	void *fn = dlsym(h, PKGDB_SYMBOL);
	if (!fn)
		fn = dlsym(h, PKGDB_SYMBOL_APT_OLD);
	if (!fn) {
		note_failure(why, path, "exports no " PKGDB_SYMBOL);
		dlclose(h);
		return -ELIBBAD;
	}
	*(void **)ret_fn = fn; /* POSIX: a function pointer fits a void * */
	return 0;
}

/* -ENOENT when path does not exist (said by the caller when it matters). */
static int try_path(const char *path, pkgdb_headers_fn *ret_fn, struct strbuf *why)
{
	return path_exists(path) ? load_one(path, ret_fn, why) : -ENOENT;
}

int pkgdb_backend_load(const char *const *names, pkgdb_headers_fn *ret_fn, char **ret_why)
{
	const char *env = getenv(PKGDB_BACKEND_ENV);
	struct strbuf why = { 0 };
	int r = -ENOENT;
	if (env && *env) {
		r = try_path(env, ret_fn, &why);
		if (r == -ENOENT)
			note_failure(&why, env, "no such file (" PKGDB_BACKEND_ENV ")");
	}
	for (size_t i = 0; !(env && *env) && names[i] && r != 0; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", REKMOD_BACKEND_DIR, names[i]);
		int k = try_path(path, ret_fn, &why);
		if (k == 0 || r == -ENOENT)
			r = k;
	}
	if (ret_why)
		*ret_why = r == 0 || !why.len ? NULL : sb_steal(&why);
	sb_free(&why);
	return r;
}
