/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dkms verbs: argument checks, the tree lock, then the steps. */
#include <sys/stat.h>

#include "internal.h"

static int check_names(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	const char *what[] = { "module name", "module version", "kernel version", "arch" };
	const char *val[] = { m, v, k, a };
	for (size_t i = 0; i < ARRAY_SIZE(val); i++) {
		if (i < 2 && !val[i]) {
			dk_error(ctx, "Arguments <module> and <module-version> are not specified.\nUsage: <action> "
				 "<module>/<module-version> or\n       <action> -m <module>/<module-version> or\n       "
				 "<action> -m <module> -v <module-version>");
			return REKMOD_E_GENERIC;
		}
		if (val[i] && !name_is_valid(val[i])) {
			dk_error(ctx, "invalid %s \"%s\": it must be one path component (no '/', not '.' or '..', at "
				 "most 200 characters); pass a plain name",
				 what[i], val[i]);
			return REKMOD_E_GENERIC;
		}
	}
	return 0;
}

static const char *arch_or_default(const struct rekmod_ctx *ctx, const char *a)
{
	return a && *a ? a : ctx->arch;
}

static int add_locked(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	if (tree_is_added(ctx, m, v)) {
		dk_error(ctx, "DKMS tree already contains: %s-%s\nYou cannot add the same module/version combo more than "
			 "once.",
			 m, v);
		return REKMOD_E_EXISTS;
	}
	_cleanup_free_ char *src = xasprintf("%s/%s-%s", ctx->source_tree_path, m, v);
	if (!is_dir(src)) {
		dk_error(ctx, "Could not find module source directory.\nDirectory: %s does not exist.", src);
		return REKMOD_E_NOSOURCE;
	}
	_cleanup_free_ char *confpath = xasprintf("%s/dkms.conf", src);
	struct dkms_conf *c = NULL;
	struct conf_req req = { .module = m, .version = v, .kernel = k, .arch = a, .strict = true,
				.path = ctx->conf ? ctx->conf : confpath };
	int r = conf_read(ctx, &req, &c);
	if (r)
		return r;
	_cleanup_free_ char *d = mv_dir(ctx, m, v);
	_cleanup_free_ char *link = xasprintf("%s/source", d);
	_cleanup_free_ char *target = xasprintf("%s/%s-%s", ctx->source_tree, m, v);
	say(ctx, "Creating symlink %s -> %s", link, target);
	r = mkdir_p(d, 0755);
	if (r == 0)
		r = symlink_atomic(target, link);
	if (r < 0) {
		dk_error(ctx, "No write access to DKMS tree at %s (%s)", ctx->dkms_tree_path, strerror(-r));
		dkms_conf_free(c);
		return REKMOD_E_GENERIC;
	}
	/* as dkms: the module stays added, add exits with the script's status */
	r = run_script(ctx, m, "post_add", c->post_add, src);
	dkms_conf_free(c);
	return r;
}

_public_ int rekmod_add(struct rekmod_ctx *ctx, const char *m, const char *v)
{
	int r = check_names(ctx, m, v, NULL, NULL);
	if (r)
		return r;
	r = tree_lock(ctx);
	if (r)
		return r;
	r = add_locked(ctx, m, v, ctx->current_kernel, ctx->arch);
	tree_unlock(ctx);
	return r;
}

/* `dkms add <dir>`: read PACKAGE_NAME/VERSION, copy the tree to <source_tree>/<m>-<v>. */
_public_ int rekmod_add_path(struct rekmod_ctx *ctx, const char *dir, char **ret_module, char **ret_version)
{
	_cleanup_free_ char *from = realpath(dir, NULL);
	_cleanup_free_ char *conf = from ? xasprintf("%s/dkms.conf", from) : NULL;
	if (!conf || !path_exists(conf)) {
		dk_error(ctx, "%s must contain a dkms.conf file!", dir);
		return 9;
	}
	struct dkms_conf *c = NULL;
	struct conf_req req = { .kernel = ctx->current_kernel, .arch = ctx->arch, .path = conf };
	if (conf_read(ctx, &req, &c)) {
		dk_error(ctx, "Malformed dkms.conf file. Cannot load source tree.");
		return REKMOD_E_BUILD;
	}
	_cleanup_free_ char *m = xstrdup(c->package_name), *v = xstrdup(c->package_version);
	dkms_conf_free(c);
	int r = check_names(ctx, m, v, NULL, NULL);
	if (r)
		return r;
	_cleanup_free_ char *dst = xasprintf("%s/%s-%s", ctx->source_tree_path, m, v);
	_cleanup_free_ char *realdst = realpath(dst, NULL);
	if (!realdst || !streq(realdst, from)) {
		if (ctx->force)
			rm_rf(dst);
		if (!is_dir(dst)) {
			_cleanup_free_ char *tmp = xasprintf("%s.rekmod-tmp", dst);
			rm_rf(tmp);
			r = mkdir_p(ctx->source_tree_path, 0755);
			if (r == 0)
				r = copy_tree(from, tmp);
			if (r == 0 && rename(tmp, dst) < 0)
				r = -errno;
			if (r < 0) {
				rm_rf(tmp);
				dk_error(ctx, "could not copy %s to %s: %s", from, dst, strerror(-r));
				return REKMOD_E_GENERIC;
			}
		}
	}
	*ret_module = TAKE_PTR(m);
	*ret_version = TAKE_PTR(v);
	return 0;
}

static int build_locked(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	if (!tree_is_added(ctx, m, v)) {
		int r = add_locked(ctx, m, v, k, a);
		if (r)
			return r;
	}
	if (tree_is_built(ctx, m, v, k, a)) {
		if (!ctx->force) {
			say(ctx, "Module %s/%s already built for kernel %s (%s), skip. You may override by specifying "
				 "--force.",
			    m, v, k, a);
			return 0;
		}
		if (tree_is_installed(ctx, m, v, k, a))
			do_uninstall(ctx, m, v, k, a, true);
		do_unbuild(ctx, m, v, k, a);
	}
	return do_build(ctx, m, v, k, a);
}

_public_ int rekmod_build(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	a = arch_or_default(ctx, a);
	int r = check_names(ctx, m, v, k, a);
	if (r || (r = tree_lock(ctx)))
		return r;
	r = build_locked(ctx, m, v, k, a);
	tree_unlock(ctx);
	return r;
}

static int install_locked(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a,
			  bool depmod)
{
	if (tree_is_installed(ctx, m, v, k, a)) {
		if (!ctx->force) {
			say(ctx, "Module %s/%s already installed on kernel %s (%s), skip. You may override by "
				 "specifying --force.",
			    m, v, k, a);
			return 0;
		}
		do_uninstall(ctx, m, v, k, a, false);
	}
	if (!tree_is_built(ctx, m, v, k, a)) {
		int r = build_locked(ctx, m, v, k, a);
		if (r)
			return r;
	}
	return do_install(ctx, m, v, k, a, depmod);
}

_public_ int rekmod_install(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	a = arch_or_default(ctx, a);
	int r = check_names(ctx, m, v, k, a);
	if (r || (r = tree_lock(ctx)))
		return r;
	r = install_locked(ctx, m, v, k, a, true);
	tree_unlock(ctx);
	return r;
}

static int not_in_tree(struct rekmod_ctx *ctx, const char *m, const char *v)
{
	dk_error(ctx, "The module/version combo: %s-%s is not located in the DKMS tree.", m, v);
	return REKMOD_E_EXISTS;
}

static void uninstall_or_skip(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	if (tree_is_installed(ctx, m, v, k, a))
		do_uninstall(ctx, m, v, k, a, true);
	else
		say(ctx, "Module %s/%s is not installed for kernel %s (%s). Skipping...", m, v, k, a);
}

static void unbuild_or_skip(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	if (tree_is_built(ctx, m, v, k, a))
		do_unbuild(ctx, m, v, k, a);
	else
		say(ctx, "Module %s/%s is not built for kernel %s (%s). Skipping...", m, v, k, a);
}

_public_ int rekmod_uninstall(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	a = arch_or_default(ctx, a);
	int r = check_names(ctx, m, v, k, a);
	if (r)
		return r;
	if (!tree_is_added(ctx, m, v))
		return not_in_tree(ctx, m, v);
	if ((r = tree_lock(ctx)))
		return r;
	uninstall_or_skip(ctx, m, v, k, a);
	tree_unlock(ctx);
	return 0;
}

_public_ int rekmod_unbuild(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	a = arch_or_default(ctx, a);
	int r = check_names(ctx, m, v, k, a);
	if (r)
		return r;
	if (!tree_is_added(ctx, m, v))
		return not_in_tree(ctx, m, v);
	if ((r = tree_lock(ctx)))
		return r;
	uninstall_or_skip(ctx, m, v, k, a);
	unbuild_or_skip(ctx, m, v, k, a);
	tree_unlock(ctx);
	return 0;
}

/* Does <m>/<v> still hold a kernel directory (anything but dkms's own subdirs)? */
static bool has_kernel_dirs(const struct rekmod_ctx *ctx, const char *m, const char *v)
{
	static const char *const own[] = { "build", "tarball", "driver_disk", "rpm", "deb", "source", NULL };
	_cleanup_free_ char *d = mv_dir(ctx, m, v);
	_cleanup_strv_free_ char **e = list_dir(d);
	for (size_t i = 0; e && e[i]; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", d, e[i]);
		struct stat st;
		if (e[i][0] != '.' && !strv_contains((char *const *)own, e[i]) && lstat(p, &st) == 0 &&
		    S_ISDIR(st.st_mode))
			return true;
	}
	return false;
}

_public_ int rekmod_remove(struct rekmod_ctx *ctx, const char *m, const char *v, const char *const *kernels,
			   const char *const *arches)
{
	int r = check_names(ctx, m, v, NULL, NULL);
	if (r)
		return r;
	for (size_t i = 0; kernels && kernels[i]; i++)
		if ((r = check_names(ctx, m, v, kernels[i], arch_or_default(ctx, arches ? arches[i] : NULL))))
			return r;
	if (!tree_is_added(ctx, m, v))
		return not_in_tree(ctx, m, v);
	if ((r = tree_lock(ctx)))
		return r;
	for (size_t i = 0; kernels && kernels[i]; i++) {
		const char *a = arch_or_default(ctx, arches ? arches[i] : NULL);
		uninstall_or_skip(ctx, m, v, kernels[i], a);
		unbuild_or_skip(ctx, m, v, kernels[i], a);
	}
	if (!has_kernel_dirs(ctx, m, v)) {
		say(ctx, "Deleting module %s/%s completely from the DKMS tree.", m, v);
		_cleanup_free_ char *d = mv_dir(ctx, m, v);
		_cleanup_free_ char *md = xasprintf("%s/%s", ctx->dkms_tree_path, m);
		/* the source link goes first: a crash leaves the module "broken", never half-added */
		_cleanup_free_ char *src = xasprintf("%s/source", d);
		unlink(src);
		r = rm_rf(d);
		rmdir(md);
		fsync_dir_of(d);
		if (r < 0) {
			dk_error(ctx, "could not delete %s: %s", d, strerror(-r));
			r = REKMOD_E_GENERIC;
		}
	}
	tree_unlock(ctx);
	return r;
}

/* ---- kernels with headers, match, kernel_preinst / kernel_prerm ---- */

static int kcmp(const void *x, const void *y)
{
	return version_compare(*(char *const *)x, *(char *const *)y);
}

_public_ int rekmod_kernels_with_headers(struct rekmod_ctx *ctx, char ***ret)
{
	_cleanup_strv_free_ char **e = list_dir(ctx->install_tree_path);
	char **out = xcalloc(1, sizeof(char *));
	for (size_t i = 0; e && e[i]; i++) {
		if (kernel_dir_name_ok(e[i]) && name_is_valid(e[i]) && kernel_has_headers(ctx, e[i]))
			strv_push(&out, xstrdup(e[i]));
	}
	qsort(out, strv_len(out), sizeof(char *), kcmp);
	*ret = out;
	return 0;
}

_public_ int rekmod_match(struct rekmod_ctx *ctx, const char *template, const char *k, const char *a,
			  const char *module)
{
	a = arch_or_default(ctx, a);
	if (!template) {
		dk_error(ctx, "Invalid number of parameters passed.\nUsage: match --templatekernel=<kernel-version> -k "
			 "<kernel-version>\n   or: match --templatekernel=<kernel-version> -k <kernel-version> <module>");
		return REKMOD_E_GENERIC;
	}
	int r = check_names(ctx, "m", "v", k, a);
	if (r || (r = check_names(ctx, "m", "v", template, a)))
		return r;
	if (streq(template, k)) {
		dk_error(ctx, "The templatekernel and the specified kernel version are the same.");
		return REKMOD_E_NOSOURCE;
	}
	if (module) {
		_cleanup_free_ char *md = xasprintf("%s/%s", ctx->dkms_tree_path, module);
		if (!name_is_valid(module) || !is_dir(md)) {
			dk_error(ctx, "The module: %s is not located in the DKMS tree.", module);
			return REKMOD_E_EXISTS;
		}
	}
	if ((r = tree_lock(ctx)))
		return r;
	_cleanup_strv_free_ char **added = tree_list_added(ctx, module);
	_cleanup_strv_free_ char **todo = xcalloc(1, sizeof(char *));
	for (size_t i = 0; added[i]; i++) {
		char *slash = strchr(added[i], '/');
		*slash = '\0';
		if (tree_is_installed(ctx, added[i], slash + 1, template, a))
			strv_push(&todo, xasprintf("%s/%s", added[i], slash + 1));
		*slash = '/';
	}
	say(ctx, "%s", "");
	say(ctx, "Matching modules in kernel: %s (%s)", k, a);
	say(ctx, "to the configuration of kernel: %s (%s)", template, a);
	if (!todo[0]) {
		say(ctx, "%s", "");
		say(ctx, "There is nothing to be done for this match.");
		tree_unlock(ctx);
		return 0;
	}
	for (size_t i = 0; todo[i]; i++) {
		char *slash = strchr(todo[i], '/');
		*slash = '\0';
		say(ctx, "Module:  %s", todo[i]);
		say(ctx, "Version: %s", slash + 1);
		int q = install_locked(ctx, todo[i], slash + 1, k, a, true);
		if (q)
			r = q;
	}
	tree_unlock(ctx);
	return r;
}

/* Debian's linux-image preinst (kernel_preinst: AUTOINSTALL modules) and prerm
 * (kernel_prerm: all modules): what is built for k is unbuilt, depmod once. */
_public_ int rekmod_kernel_unbuild_all(struct rekmod_ctx *ctx, const char *k, bool only_autoinstall)
{
	int r = check_names(ctx, "m", "v", k, NULL);
	if (r || (r = tree_lock(ctx)))
		return r;
	_cleanup_strv_free_ char **added = tree_list_added(ctx, NULL);
	bool failed = false, any = false;
	for (size_t i = 0; added[i]; i++) {
		char *slash = strchr(added[i], '/');
		*slash = '\0';
		const char *m = added[i], *v = slash + 1;
		_cleanup_free_ char *mvd = mv_dir(ctx, m, v);
		_cleanup_free_ char *kd = xasprintf("%s/%s", mvd, k);
		_cleanup_strv_free_ char **as = is_dir(kd) ? list_dir(kd) : NULL;
		for (size_t j = 0; as && as[j]; j++) {
			if (!tree_is_built(ctx, m, v, k, as[j]))
				continue;
			if (only_autoinstall) {
				struct dkms_conf *c = NULL;
				struct conf_req req = { .module = m, .version = v, .kernel = k, .arch = as[j] };
				bool autoinstall = conf_read(ctx, &req, &c) == 0 && c->autoinstall;
				dkms_conf_free(c);
				if (!autoinstall)
					continue;
			}
			rk_err(log_of(ctx), "dkms: removing module %s/%s for kernel %s (%s)", m, v, k, as[j]);
			if (tree_is_installed(ctx, m, v, k, as[j]) && do_uninstall(ctx, m, v, k, as[j], false))
				failed = true;
			if (do_unbuild(ctx, m, v, k, as[j]))
				failed = true;
			any = true;
		}
	}
	if (any) {
		run_depmod(ctx, k);
		_cleanup_free_ char *kdir = xasprintf("%s/%s", ctx->install_tree_path, k);
		/* empty directories left under the kernel's tree (updates/dkms, ...) */
		const char *sub[] = { "updates/dkms", "updates", "extra" };
		for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
			_cleanup_free_ char *p = xasprintf("%s/%s", kdir, sub[i]);
			rmdir(p);
		}
	}
	tree_unlock(ctx);
	return failed ? 14 : 0;
}
