/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The package-database backend interface, declared once. Questions only a
 * package database can answer ("which package gives the headers of kernel
 * K?") go to a backend that a distribution package ships in BACKEND_DIR
 * ($(LIBDIR)/rekmod): librekmod-apt.so (hooks/apt, libapt-pkg),
 * librekmod-rpm.so (hooks/rpm, librpm), librekmod-alpm.so (hooks/pacman,
 * libalpm). Each exports one function, rekmod_pkgdb_headers_package; the
 * core and the hook programs load it with pkgdb_backend_load, so neither
 * links a package manager. */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

#define PKGDB_BACKEND_APT "librekmod-apt.so"
#define PKGDB_BACKEND_RPM "librekmod-rpm.so"
#define PKGDB_BACKEND_ALPM "librekmod-alpm.so"
/* the exported symbol, and the apt shim's older name for it (still tried) */
#define PKGDB_SYMBOL "rekmod_pkgdb_headers_package"
#define PKGDB_SYMBOL_APT_OLD "rekmod_apt_headers_package"
/* names the one backend file to load instead (tests, other layouts) */
#define PKGDB_BACKEND_ENV "REKMOD_PKGDB_BACKEND"

/* The package that gives the headers of kernel release kver in the package
 * database of root (NULL or "" or "/": the real root). 0 and a malloc'd
 * name in *ret_name; -ENOENT when the database knows no such package;
 * -EINVAL when kver is not one path component; -EOPNOTSUPP when root has
 * no database of this kind; another -errno on error. */
typedef int (*pkgdb_headers_fn)(const char *root, const char *kver, char **ret_name);
/* What each backend defines and exports (visibility "default"). */
int rekmod_pkgdb_headers_package(const char *root, const char *kver, char **ret_name);

/* Loads the first of the backend files names[] (NULL-terminated, in
 * BACKEND_DIR) that exists, loads and exports the function; with
 * $REKMOD_PKGDB_BACKEND set, that path is the only one tried. A loaded
 * backend stays loaded for the life of the process (libapt keeps global
 * state). 0 and the function in *ret_fn; -ENOENT when no backend file
 * exists; -ELIBBAD when none of those that exist loads. ret_why, when not
 * NULL, gets a malloc'd line saying what failed (or NULL). */
int pkgdb_backend_load(const char *const *names, pkgdb_headers_fn *ret_fn, char **ret_why);

#ifdef __cplusplus
}
#endif
