/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The C surface of rekmod's libapt-pkg shim (librekmod-apt.so). No C++ type
 * or exception crosses it; every call returns 0 or a negative errno. The
 * package database of a root is read read-only; inside dpkg maintainer
 * scripts its view can be stale, so callers use it for suggestions only. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/* Calls cb for every installed package whose name starts with prefix, in
 * the cache's order. A non-zero return from cb stops the walk and is
 * returned. root NULL or "" means the real root. */
int rekmod_apt_list_installed(const char *root, const char *prefix,
			      int (*cb)(const char *name, const char *version, void *userdata), void *userdata);

/* The shim's rekmod_pkgdb_headers_package (core/shared/pkgdb-backend.h):
 * linux-headers-<kver> when the cache knows it (installed or installable).
 * *ret_name is malloc'd. -ENOENT when the cache has no such package. The
 * shim exports it under this older name too. */
int rekmod_apt_headers_package(const char *root, const char *kver, char **ret_name);

#ifdef __cplusplus
}
#endif
