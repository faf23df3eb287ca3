/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Kernel discovery: the releases of the install tree, their headers, image
 * and .config. Everything the engine knows about a kernel comes from here. */
#include <ctype.h>
#include <stdlib.h>

#include "internal.h"

/* dkms globs kernel dirs as +([0-9]).* */
bool kernel_dir_name_ok(const char *name)
{
	const char *p = name;
	while (isdigit((unsigned char)*p))
		p++;
	return p > name && *p == '.';
}

char *kernel_build_dir(const struct rekmod_ctx *ctx, const char *kernel)
{
	_cleanup_free_ char *link = xasprintf("%s/%s/build", ctx->install_tree_path, kernel);
	if (!is_symlink(link)) {
		/* a kernel not installed here: headers fetched from the archive (archive.c) */
		char *cached = path_exists(link) ? NULL : archive_build_dir(ctx, kernel);
		return cached ? cached : TAKE_PTR(link);
	}
	return resolve_link(ctx, link, true);
}

bool kernel_headers_in(const char *dir)
{
	_cleanup_free_ char *inc = xasprintf("%s/include", dir);
	return is_dir(inc);
}

bool kernel_has_headers(const struct rekmod_ctx *ctx, const char *kernel)
{
	_cleanup_free_ char *dir = kernel_build_dir(ctx, kernel);
	return kernel_headers_in(dir);
}

/* An installed kernel image: a file its package owns. Debian's and Ubuntu's
 * linux-image ship modules.order, modules.builtin and /boot/vmlinuz-K;
 * Fedora's kernel-core (and kernel-modules-core) and Arch's linux ship
 * <moddir>/vmlinuz, modules.order and modules.builtin; a `make
 * modules_install` leaves modules.order and modules.builtin. depmod's index
 * (modules.dep and the other modules.*) outlives an `apt remove` of the
 * image, as does kernel/ when a module was installed below it: not a sign. */
bool kernel_has_image(const struct rekmod_ctx *ctx, const char *kernel)
{
	static const char *const marks[] = { "modules.order", "modules.builtin", "vmlinuz" };
	for (size_t i = 0; i < ARRAY_SIZE(marks); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s/%s", ctx->install_tree_path, kernel, marks[i]);
		if (path_exists(p))
			return true;
	}
	_cleanup_free_ char *boot = xasprintf("/boot/vmlinuz-%s", kernel);
	_cleanup_free_ char *img = root_path(ctx, boot);
	return path_exists(img);
}

char *kernel_source_dir(const struct rekmod_ctx *ctx, const char *kernel)
{
	if (ctx->kernel_source_dir)
		return xstrdup(ctx->kernel_source_dir);
	return kernel_build_dir(ctx, kernel);
}

char *kernel_config_path(const struct rekmod_ctx *ctx, const char *kernel)
{
	if (ctx->kernel_config)
		return xstrdup(ctx->kernel_config);
	_cleanup_free_ char *ksd = kernel_source_dir(ctx, kernel);
	return xasprintf("%s/.config", ksd);
}

static int kcmp(const void *x, const void *y)
{
	return version_compare(*(char *const *)x, *(char *const *)y);
}

char **kernels_in_tree(const struct rekmod_ctx *ctx, bool with_headers)
{
	_cleanup_strv_free_ char **e = list_dir(ctx->install_tree_path);
	char **out = xcalloc(1, sizeof(char *));
	for (size_t i = 0; e && e[i]; i++) {
		if (!kernel_dir_name_ok(e[i]))
			continue;
		if (!name_is_valid(e[i])) {
			rk_warn(log_of(ctx), "Warning: skipping %s/%s: a kernel release may hold only letters, digits "
				"and . _ + ~ : -; rename or remove that directory", ctx->install_tree_path, e[i]);
			continue;
		}
		if (!with_headers || kernel_has_headers(ctx, e[i]))
			strv_push(&out, xstrdup(e[i]));
	}
	qsort(out, strv_len(out), sizeof(char *), kcmp);
	return out;
}

_public_ int rekmod_kernels_with_headers(struct rekmod_ctx *ctx, char ***ret)
{
	*ret = kernels_in_tree(ctx, true);
	return 0;
}
