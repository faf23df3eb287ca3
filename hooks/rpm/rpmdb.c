/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* librekmod-rpm.so: "which package gives the headers of kernel K?" from the
 * rpm database of a root. Loaded with dlopen by the core (core/lib/pkgdb.c)
 * and by rekmod-rpm-trigger; it never prints (librpm's log is muted while it
 * runs). The database is read only, which rpm allows from inside a
 * scriptlet. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <rpm/header.h>
#include <rpm/rpmdb.h>
#include <rpm/rpmlib.h>
#include <rpm/rpmlog.h>
#include <rpm/rpmmacro.h>
#include <rpm/rpmtd.h>
#include <rpm/rpmts.h>

#include "fileio.h"
#include "pkgdb-backend.h"
#include "strutil.h"

#define DBPATH "/var/lib/rpm"

/* "<name>-<version>-<release>" of a header */
static char *nvr(Header h, const char *name)
{
	return xasprintf("%s-%s-%s", name ? name : headerGetString(h, RPMTAG_NAME),
			  headerGetString(h, RPMTAG_VERSION), headerGetString(h, RPMTAG_RELEASE));
}

/* The installed package that provides kernel-devel-uname-r = kver. */
static int devel_provider(rpmts ts, const char *kver, char **ret)
{
	rpmdbMatchIterator mi = rpmtsInitIterator(ts, RPMDBI_PROVIDENAME, "kernel-devel-uname-r", 0);
	Header h;
	int r = -ENOENT;
	while (r == -ENOENT && mi && (h = rpmdbNextIterator(mi))) {
		struct rpmtd_s names, vers;
		if (!headerGet(h, RPMTAG_PROVIDENAME, &names, HEADERGET_MINMEM))
			continue;
		if (headerGet(h, RPMTAG_PROVIDEVERSION, &vers, HEADERGET_MINMEM)) {
			while (rpmtdNext(&names) >= 0 && rpmtdNext(&vers) >= 0) {
				const char *n = rpmtdGetString(&names), *v = rpmtdGetString(&vers);
				if (n && v && strcmp(n, "kernel-devel-uname-r") == 0 && strcmp(v, kver) == 0) {
					*ret = nvr(h, NULL);
					r = 0;
					break;
				}
			}
			rpmtdFreeData(&vers);
		}
		rpmtdFreeData(&names);
	}
	rpmdbFreeIterator(mi);
	return r;
}

/* kernel-core -> kernel-devel, kernel-rt-core -> kernel-rt-devel,
 * kernel -> kernel-devel, kernel-default (SUSE) -> kernel-default-devel */
static char *devel_name(const char *name)
{
	size_t n = strlen(name);
	if (n > 5 && endswith(name, "-core"))
		n -= 5;
	return xasprintf("%.*s-devel", (int)n, name);
}

static int is_kernel_image_package(const char *name)
{
	if (!startswith(name, "kernel"))
		return 0;
	return !(strlen(name) > 6 && endswith(name, "-devel")) && !strstr(name, "-headers") &&
	       !strstr(name, "-modules");
}

/* The kernel package that owns /lib/modules/<kver>/vmlinuz (or the directory
 * itself), named as its -devel companion at the same version-release. */
static int kernel_owner(rpmts ts, const char *kver, char **ret)
{
	const char *const dirs[] = { "/usr/lib/modules", "/lib/modules" };
	for (size_t i = 0; i < 4; i++) {
		char *path = xasprintf("%s/%s%s", dirs[i % 2], kver, i < 2 ? "/vmlinuz" : "");
		rpmdbMatchIterator mi = rpmtsInitIterator(ts, RPMDBI_INSTFILENAMES, path, 0);
		free(path);
		Header h;
		int r = -ENOENT;
		while (r == -ENOENT && mi && (h = rpmdbNextIterator(mi))) {
			const char *name = headerGetString(h, RPMTAG_NAME);
			if (!name || !is_kernel_image_package(name))
				continue;
			_cleanup_free_ char *dn = devel_name(name);
			*ret = nvr(h, dn);
			r = 0;
		}
		rpmdbFreeIterator(mi);
		if (r != -ENOENT)
			return r;
	}
	return -ENOENT;
}

static bool db_present(const char *root)
{
	_cleanup_free_ char *p = xasprintf("%s%s", root && !streq(root, "/") ? root : "", DBPATH);
	return is_dir(p);
}

_public_ int rekmod_pkgdb_headers_package(const char *root, const char *kver, char **ret_name)
{
	static int configured;
	if (!name_is_valid(kver) || !ret_name)
		return -EINVAL;
	if (!db_present(root))
		return -EOPNOTSUPP;
	int oldmask = rpmlogSetMask(RPMLOG_UPTO(RPMLOG_EMERG));
	if (!configured && rpmReadConfigFiles(NULL, NULL) != 0) {
		rpmlogSetMask(oldmask);
		return -EIO;
	}
	configured = 1;
	/* Debian's rpm defaults to a per-user %_dbpath: the system's is explicit */
	rpmPushMacro(NULL, "_dbpath", NULL, DBPATH, RMIL_CMDLINE);
	rpmts ts = rpmtsCreate();
	int r = ts ? 0 : -ENOMEM;
	if (r == 0 && rpmtsSetRootDir(ts, root && *root ? root : "/") != 0)
		r = -EINVAL;
	if (r == 0 && rpmtsOpenDB(ts, O_RDONLY) != 0)
		r = -EIO;
	char *name = NULL;
	if (r == 0) {
		r = devel_provider(ts, kver, &name);
		if (r == -ENOENT)
			r = kernel_owner(ts, kver, &name);
	}
	rpmtsFree(ts);
	rpmPopMacro(NULL, "_dbpath");
	rpmlogSetMask(oldmask);
	if (r == 0)
		*ret_name = name;
	return r;
}
