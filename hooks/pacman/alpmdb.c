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
 * Only libc and libalpm: the core loads this with dlopen. */
#include <alpm.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rekmod-alpm.h"

#define EXPORT __attribute__((visibility("default")))

static char *join(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = c ? strlen(c) : 0;
	char *s = malloc(la + lb + lc + 1);
	if (s) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb);
		memcpy(s + la + lb, c ? c : "", lc + 1);
	}
	return s;
}

static bool owns(alpm_pkg_t *pkg, const char *kver, const char *rel)
{
	static const char *const roots[] = { "usr/lib/modules/", "lib/modules/" };
	alpm_filelist_t *files = alpm_pkg_get_files(pkg);
	for (size_t i = 0; files && i < 2; i++) {
		char path[512];
		if ((size_t)snprintf(path, sizeof(path), "%s%s/%s", roots[i], kver, rel) >= sizeof(path))
			return false;
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
		for (size_t m = 0; !*ret_kernel && m < sizeof(marks) / sizeof(marks[0]); m++)
			if (owns(pkg, kver, marks[m]))
				*ret_kernel = alpm_pkg_get_name(pkg);
	}
}

/* Arch kernels ship usr/lib/modules/<K>/pkgbase: "linux", "linux-lts"... */
static char *pkgbase_of(const char *root, const char *kver)
{
	char path[4096], buf[256];
	if ((size_t)snprintf(path, sizeof(path), "%s/usr/lib/modules/%s/pkgbase", root, kver) >= sizeof(path))
		return NULL;
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	char *r = fgets(buf, sizeof(buf), f) ? strndup(buf, strcspn(buf, " \t\r\n")) : NULL;
	fclose(f);
	if (r && !*r) {
		free(r);
		r = NULL;
	}
	return r;
}

/* Registers every <dbpath>/sync/<repo>.db (read only, no signature check). */
static void register_syncdbs(alpm_handle_t *h, const char *dbpath)
{
	char *dir = join(dbpath, "/sync", NULL);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n > 3 && strcmp(e->d_name + n - 3, ".db") == 0 && e->d_name[0] != '.') {
			char *repo = strndup(e->d_name, n - 3);
			if (repo)
				alpm_register_syncdb(h, repo, 0);
			free(repo);
		}
	}
	if (d)
		closedir(d);
	free(dir);
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
	size_t n = strlen(kpkg);
	if (n > 8 && strcmp(kpkg + n - 8, "-headers") == 0) /* it ships its own build link */
		return in_some_db(h, local, kpkg) ? strdup(kpkg) : NULL;
	char *name = join(kpkg, "-headers", NULL);
	if (name && (strcmp(kpkg, "linux") == 0 || strcmp(kpkg, "linux-lts") == 0 || in_some_db(h, local, name)))
		return name;
	free(name);
	return NULL;
}

static bool kver_ok(const char *k)
{
	return k && *k && strlen(k) <= 200 && !strchr(k, '/') && strcmp(k, ".") != 0 && strcmp(k, "..") != 0;
}

EXPORT int rekmod_pkgdb_headers_package(const char *root, const char *kver, char **ret_name)
{
	if (!kver_ok(kver) || !ret_name)
		return -EINVAL;
	if (!root || !*root)
		root = "/";
	char *dbpath = join(root, strcmp(root, "/") ? "/var/lib/pacman/" : "var/lib/pacman/", NULL);
	if (!dbpath)
		return -ENOMEM;
	struct stat st;
	if (stat(dbpath, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(dbpath);
		return -ENOENT; /* no pacman database here */
	}
	alpm_errno_t err = 0;
	alpm_handle_t *h = alpm_initialize(root, dbpath, &err);
	if (!h) {
		free(dbpath);
		return err == ALPM_ERR_MEMORY ? -ENOMEM : -EIO;
	}
	register_syncdbs(h, dbpath);
	alpm_db_t *local = alpm_get_localdb(h);
	const char *build = NULL, *kernel = NULL;
	owners(local, kver, &build, &kernel);
	char *name = build ? strdup(build) : headers_of_kernel_pkg(h, local, kernel);
	if (!name && !build && !kernel) {
		char *base = pkgbase_of(root, kver);
		name = headers_of_kernel_pkg(h, local, base);
		free(base);
	}
	alpm_release(h);
	free(dbpath);
	if (!name)
		return -ENOENT;
	*ret_name = name;
	return 0;
}
