/* SPDX-License-Identifier: GPL-2.0-or-later */
/* librekmod-alpm.so (and the hook program): which pacman package gives the
 * headers of a kernel release. libalpm reads the local database under the
 * root; the sync databases beside it name packages not installed yet.
 *
 *   1. the package that owns usr/lib/modules/<K>/build (headers installed);
 *   2. the kernel's package P: the owner of usr/lib/modules/<K>/{vmlinuz,
 *      modules.order,pkgbase,kernel/}, else the name in .../pkgbase;
 *      linux -> linux-headers, linux-lts -> linux-lts-headers, else
 *      P-headers when a database (local or sync) has it.
 * Only libc, libalpm and the shared layer: the core loads this with dlopen
 * (core/shared/pkgdb-backend.h). */
#include <alpm.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "pkgdb-backend.h"
#include "strutil.h"

static bool owns(alpm_pkg_t *pkg, const char *kver, const char *rel)
{
	static const char *const roots[] = { "usr/lib/modules/", "lib/modules/" };
	alpm_filelist_t *files = alpm_pkg_get_files(pkg);
	for (size_t i = 0; files && i < ARRAY_SIZE(roots); i++) {
		_cleanup_free_ char *path = xasprintf("%s%s/%s", roots[i], kver, rel);
		if (alpm_filelist_contains(files, path))
			return true;
	}
	return false;
}

/* The owners of the kernel's build link and of its image files. */
static void owners(alpm_db_t *local, const char *kver, const char **ret_build, const char **ret_kernel)
{
	static const char *const marks[] = { "vmlinuz", "modules.order", "pkgbase", "kernel/" };
	for (alpm_list_t *i = alpm_db_get_pkgcache(local); i; i = alpm_list_next(i)) {
		alpm_pkg_t *pkg = i->data;
		if (!*ret_build && (owns(pkg, kver, "build") || owns(pkg, kver, "build/")))
			*ret_build = alpm_pkg_get_name(pkg);
		for (size_t m = 0; !*ret_kernel && m < ARRAY_SIZE(marks); m++)
			if (owns(pkg, kver, marks[m]))
				*ret_kernel = alpm_pkg_get_name(pkg);
	}
}

/* Arch kernels ship usr/lib/modules/<K>/pkgbase: "linux", "linux-lts"... */
static char *pkgbase_of(const char *root, const char *kver)
{
	_cleanup_free_ char *path = xasprintf("%s/usr/lib/modules/%s/pkgbase", root, kver);
	_cleanup_free_ char *text = NULL;
	if (read_file(path, &text, NULL) < 0)
		return NULL;
	size_t n = strcspn(text, " \t\r\n");
	return n ? xstrndup(text, n) : NULL;
}

/* Registers every <dbpath>/sync/<repo>.db (read only, no signature check). */
static void register_syncdbs(alpm_handle_t *h, const char *dbpath)
{
	_cleanup_free_ char *dir = xasprintf("%s/sync", dbpath);
	_cleanup_strv_free_ char **names = list_dir(dir);
	for (size_t i = 0; names && names[i]; i++) {
		size_t n = strlen(names[i]);
		if (n > 3 && endswith(names[i], ".db") && names[i][0] != '.') {
			_cleanup_free_ char *repo = xstrndup(names[i], n - 3);
			alpm_register_syncdb(h, repo, 0);
		}
	}
}

static bool in_some_db(alpm_handle_t *h, alpm_db_t *local, const char *name)
{
	if (alpm_db_get_pkg(local, name))
		return true;
	for (alpm_list_t *i = alpm_get_syncdbs(h); i; i = alpm_list_next(i))
		if (alpm_db_get_pkg(i->data, name))
			return true;
	return false;
}

static char *headers_of_kernel_pkg(alpm_handle_t *h, alpm_db_t *local, const char *kpkg)
{
	if (!kpkg)
		return NULL;
	if (strlen(kpkg) > 8 && endswith(kpkg, "-headers")) /* it ships its own build link */
		return in_some_db(h, local, kpkg) ? xstrdup(kpkg) : NULL;
	char *name = xasprintf("%s-headers", kpkg);
	if (streq(kpkg, "linux") || streq(kpkg, "linux-lts") || in_some_db(h, local, name))
		return name;
	free(name);
	return NULL;
}

_public_ int rekmod_pkgdb_headers_package(const char *root, const char *kver, char **ret_name)
{
	if (!name_is_valid(kver) || !ret_name)
		return -EINVAL;
	if (!root || !*root)
		root = "/";
	_cleanup_free_ char *dbpath = xasprintf("%s%s", root, streq(root, "/") ? "var/lib/pacman/" : "/var/lib/pacman/");
	if (!is_dir(dbpath))
		return -ENOENT; /* no pacman database here */
	alpm_errno_t err = 0;
	alpm_handle_t *h = alpm_initialize(root, dbpath, &err);
	if (!h)
		return err == ALPM_ERR_MEMORY ? -ENOMEM : -EIO;
	register_syncdbs(h, dbpath);
	alpm_db_t *local = alpm_get_localdb(h);
	const char *build = NULL, *kernel = NULL;
	owners(local, kver, &build, &kernel);
	char *name = build ? xstrdup(build) : headers_of_kernel_pkg(h, local, kernel);
	if (!name && !build && !kernel) {
		char *base = pkgbase_of(root, kver);
		name = headers_of_kernel_pkg(h, local, base);
		free(base);
	}
	alpm_release(h);
	if (!name)
		return -ENOENT;
	*ret_name = name;
	return 0;
}
