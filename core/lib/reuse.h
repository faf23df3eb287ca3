/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reuse of a build for another kernel (reuse.c).
 *
 * Equivalent kernels: the normalized headers hash the same. The hash covers
 * every file kbuild can read for an external module: the kernel's build
 * directory (.config, Makefile, Module.symvers, include/, arch/, ...), the
 * tree its Makefile includes (Debian's -common tree) and the trees its
 * top-level symbolic links point to (scripts/ and tools/ of linux-kbuild),
 * each file by path, type and content. Set aside: in the build directory's
 * own Makefile, .kernelvariables, .config, include/config/ and
 * include/generated/, the kernel release (and the included tree's path) is
 * replaced by a placeholder and CONFIG_BUILD_SALT lines are dropped;
 * include/generated/{utsversion,package,compile}.h (the build's date and
 * package revision) are not read. The compiler (CONFIG_CC_VERSION_TEXT) and
 * Module.symvers are part of what is hashed.
 *
 * Symbol-compatible kernels (framework.conf reuse_compatible_kernels="yes"):
 * every symbol in the module's __versions has the same CRC in the new
 * kernel's Module.symvers, the vermagic after the release is the new
 * kernel's, and the .config is the same outside version strings. */
#pragma once

#include <stdint.h>

#include "internal.h"

/* a classic __versions entry: the CRC of one imported symbol */
struct modversion {
	uint64_t crc;
	char *name;
};

/* The hash of the normalized headers in build_dir for release (root: where
 * an absolute path of the tree, such as the Makefile's include, is looked up
 * first; "" for the host). "sha256:<hex>", or -errno. */
int reuse_hash_tree(const char *root, const char *build_dir, const char *release, char **ret_hash);
/* The hash of kernel k's headers, cached in the dkms tree (tree.c) while
 * .config, Module.symvers and the Makefiles are unchanged. */
int reuse_kernel_hash(struct rekmod_ctx *ctx, const char *k, char **ret_hash);
/* the classic __versions of an ELF64 module image; 0 (none: *ret_n 0), -EINVAL,
 * or -EOPNOTSUPP (extended modversions, which are not read) */
int reuse_parse_versions(const void *elf, size_t n, struct modversion **ret, size_t *ret_n);
void reuse_versions_free(struct modversion *v, size_t n);
/* every symbol of v has its CRC in Module.symvers text; else false and *ret_why */
bool reuse_symbols_match(const struct modversion *v, size_t n, const char *symvers, char **ret_why);
/* .config texts equal outside version strings (CONFIG_BUILD_SALT,
 * CONFIG_LOCALVERSION, CONFIG_VERSION_SIGNATURE, each kernel's release) */
bool reuse_configs_match(const char *cfg0, const char *rel0, const char *cfg1, const char *rel1, char **ret_why);
/* vermagic strings equal after their first word (the release) */
bool reuse_vermagic_flags_match(const char *vm0, const char *vm1);

/* The kernel whose build of m/v kernel k can reuse, or NULL (why logged at
 * debug level). conf: m/v's dkms.conf for k; ret_how: "equivalent" or
 * "compatible". */
char *reuse_source(struct rekmod_ctx *ctx, const struct dkms_conf *conf, const char *m, const char *v, const char *k,
		   const char *a, const char **ret_how);
/* Makes the build of m/v for k from k0's: its module files copied, signed
 * and compressed as k wants, with the record "reused from k0" (the build
 * appears with its record or not at all). 0, or -errno / a dkms exit code
 * (nothing is left behind). */
int do_reuse(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a, const char *k0,
	     const char *how);
