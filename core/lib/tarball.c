/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mktarball / ldtarball in dkms's tarball layout, so that tarballs move
 * between dkms and rekmod in both directions:
 *
 *   ./dkms_main_tree/<K>/<A>/{module,log}/...   builds, as in the dkms tree
 *   ./dkms_source_tree/...                      the source (with dkms.conf)
 *   ./dkms_binaries_only/{PACKAGE_NAME,PACKAGE_VERSION,dkms.conf}
 *
 * tar runs with an explicit argv; its compression follows the file name
 * (-a), as dkms's does. Loading checks what dkms does not: a prebuilt module
 * is only put in the tree for a kernel whose release (and, when the kernel's
 * own modules are present, vermagic) it was built for. */
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include "internal.h"

/* ---- mktarball ---- */

/* The kernels to carry: those given, or every kernel m/v is built for. */
void pack_kernels(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, char ***ret_k, char ***ret_a)
{
	char **ks = NULL, **as = NULL;
	if (o->kernels) {
		for (size_t i = 0; o->kernels[i]; i++) {
			strv_push(&ks, xstrdup(o->kernels[i]));
			strv_push(&as, xstrdup(o->arches && o->arches[i] ? o->arches[i] : ctx->arch));
		}
	} else {
		rekmod_built_kernels(ctx, o->module, o->version, &ks, &as);
	}
	*ret_k = ks;
	*ret_a = as;
}


static int add_build(struct rekmod_ctx *ctx, const struct rk_log *log, const char *m, const char *v, const char *k,
		     const char *a, const char *tmp, struct strbuf *names)
{
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	if (!is_dir(base)) {
		dk_error(ctx, "No modules built for %s (%s).\nModules must already be in the built state before using "
			 "mktarball.",
			 k, a);
		return REKMOD_E_INSTALL;
	}
	rk_notice(log, "Marking modules for %s (%s) for archiving...", k, a);
	sb_printf(names, "%skernel%s-%s", names->len ? "-" : "", k, a);
	_cleanup_free_ char *kd = xasprintf("%s/dkms_main_tree/%s", tmp, k);
	_cleanup_free_ char *dst = xasprintf("%s/%s", kd, a);
	int r = mkdir_p(kd, 0755);
	if (r == 0)
		r = copy_tree(base, dst);
	if (r < 0) {
		dk_error(ctx, "could not copy %s: %s", base, strerror(-r));
		return REKMOD_E_INSTALL;
	}
	return 0;
}

static int add_source(struct rekmod_ctx *ctx, const struct rk_log *log, const char *m, const char *v,
		      bool binaries_only, const char *tmp)
{
	_cleanup_free_ char *src = source_dir(ctx, m, v);
	int r;
	rk_notice(log, "%s", "");
	if (binaries_only) {
		rk_notice(log, "Creating tarball structure to specifically accomodate binaries.");
		_cleanup_free_ char *d = xasprintf("%s/dkms_binaries_only", tmp);
		_cleanup_free_ char *pn = xasprintf("%s/PACKAGE_NAME", d);
		_cleanup_free_ char *pv = xasprintf("%s/PACKAGE_VERSION", d);
		_cleanup_free_ char *nl_m = xasprintf("%s\n", m), *nl_v = xasprintf("%s\n", v);
		_cleanup_free_ char *conf = ctx->conf ? xstrdup(ctx->conf) : xasprintf("%s/dkms.conf", src);
		_cleanup_free_ char *cdst = xasprintf("%s/dkms.conf", d);
		r = mkdir_p(d, 0755);
		if (r == 0)
			r = write_file_atomic(pn, nl_m, strlen(nl_m), 0644);
		if (r == 0)
			r = write_file_atomic(pv, nl_v, strlen(nl_v), 0644);
		if (r == 0 && path_exists(conf))
			r = copy_file_atomic(conf, cdst, 0644);
	} else {
		rk_notice(log, "Marking %s for archiving...", src);
		_cleanup_free_ char *d = xasprintf("%s/dkms_source_tree", tmp);
		r = is_dir(src) ? copy_tree(src, d) : -ENOENT;
	}
	if (r < 0) {
		dk_error(ctx, "could not copy the source of %s/%s (%s): %s", m, v, src, strerror(-r));
		return REKMOD_E_INSTALL;
	}
	return 0;
}

static int mktarball_check(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, char ***ret_k,
			   char ***ret_a)
{
	const char *m = o->module, *v = o->version;
	if (!m || !v || !name_is_valid(m) || !name_is_valid(v)) {
		dk_error(ctx, "Arguments <module> and <module-version> are not specified.\nUsage: mktarball "
			 "<module>/<module-version> or\n       mktarball -m <module>/<module-version> or\n       "
			 "mktarball -m <module> -v <module-version>");
		return REKMOD_E_GENERIC;
	}
	if (!tree_is_added(ctx, m, v)) {
		dk_error(ctx, "The module/version combo: %s-%s is not located in the DKMS tree.", m, v);
		return REKMOD_E_EXISTS;
	}
	pack_kernels(ctx, o, ret_k, ret_a);
	for (size_t i = 0; *ret_k && (*ret_k)[i]; i++)
		if (!name_is_valid((*ret_k)[i]) || !name_is_valid((*ret_a)[i])) {
			dk_error(ctx, "invalid kernel \"%s\" or arch \"%s\": each must be one path component",
				 (*ret_k)[i], (*ret_a)[i]);
			return REKMOD_E_GENERIC;
		}
	return 0;
}

/* The builds and the source in tmp; *ret_list names the kernels for the file name. */
static int stage_tarball(struct rekmod_ctx *ctx, const struct rk_log *log, const struct rekmod_pack_options *o,
			 char *const *ks, char *const *as, const char *tmp, char **ret_list)
{
	struct strbuf names = { 0 };
	int r = 0;
	_cleanup_free_ char *main_tree = xasprintf("%s/dkms_main_tree", tmp);
	mkdir_p(main_tree, 0755);
	if (o->source_only) {
		sb_puts(&names, "source-only");
	} else {
		for (size_t i = 0; !r && ks && ks[i]; i++)
			r = add_build(ctx, log, o->module, o->version, ks[i], as[i], tmp, &names);
		if (!r && !names.len) {
			dk_error(ctx, "No modules built for %s/%s.\nModules must already be in the built state before "
				 "using mktarball.",
				 o->module, o->version);
			r = REKMOD_E_INSTALL;
		}
	}
	if (!r)
		r = add_source(ctx, log, o->module, o->version, o->binaries_only, tmp);
	*ret_list = sb_steal(&names);
	return r;
}

/* tar's output under a temporary name with the same suffix (tar -a picks
 * the compression from it), fsync'd, then renamed */
static int write_tarball(struct rekmod_ctx *ctx, const char *tmp, const char *dest, const char *name)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dest, name);
	_cleanup_free_ char *part = xasprintf("%s/.rekmod-tmp-%d-%s", dest, (int)getpid(), name);
	const char *argv[] = { "tar", "-C", tmp, "-caf", part, ".", NULL };
	int r = run_tool(ctx, argv, NULL) ? -EIO : 0;
	if (r == 0) {
		int fd = open(part, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) < 0 || rename(part, path) < 0)
			r = -errno;
		if (fd >= 0)
			close(fd);
		if (r == 0)
			fsync_dir_of(path);
	}
	if (r < 0) {
		unlink(part);
		dk_error(ctx, "Failed to make tarball.");
		return REKMOD_E_INSTALL;
	}
	return 0;
}

/* Where the tarball goes: --archive, else <m>/<v>/tarball/ with dkms's name. */
static void tarball_place(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, const char *list,
			  char **ret_dest, char **ret_name)
{
	_cleanup_free_ char *mvd = mv_dir(ctx, o->module, o->version);
	*ret_name = xasprintf("%s-%s-%s.dkms.tar.gz", o->module, o->version, strlen(list) + 1 > 200 ? "manykernels" : list);
	*ret_dest = xasprintf("%s/tarball/", mvd);
	const char *slash = o->archive ? strrchr(o->archive, '/') : NULL;
	if (o->archive) {
		free(*ret_name);
		*ret_name = xstrdup(slash ? slash + 1 : o->archive);
	}
	if (slash) {
		free(*ret_dest);
		*ret_dest = slash == o->archive ? xstrdup("/") : xstrndup(o->archive, (size_t)(slash - o->archive));
	}
}

int mktarball_logged(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, int log_max)
{
	struct rk_log log = ctx->log;
	if (log_max < log.max_priority)
		log.max_priority = log_max;
	_cleanup_strv_free_ char **ks = NULL, **as = NULL;
	int r = mktarball_check(ctx, o, &ks, &as);
	if (r || (r = tree_lock(ctx)))
		return r;
	_cleanup_free_ char *tmp = make_tmpdir("rekmod");
	_cleanup_free_ char *list = NULL, *dest = NULL, *name = NULL;
	if (!tmp) {
		dk_error(ctx, "could not create a temporary directory: %s (set TMPDIR)", strerror(errno));
		r = REKMOD_E_GENERIC;
	} else if (!(r = stage_tarball(ctx, &log, o, ks, as, tmp, &list))) {
		tarball_place(ctx, o, list, &dest, &name);
		rk_notice(&log, "%s", "");
		rk_notice(&log, "Tarball location: %s/%s", dest, name);
		if (mkdir_p(dest, 0755) < 0 || access(dest, W_OK) < 0) {
			dk_error(ctx, "Missing write permissions for %s.", dest);
			r = REKMOD_E_NOPERM;
		} else {
			r = write_tarball(ctx, tmp, dest, name);
		}
	}
	if (tmp)
		rm_rf(tmp);
	tree_unlock(ctx);
	return r;
}

_public_ int rekmod_mktarball(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o)
{
	return mktarball_logged(ctx, o, LOG_DEBUG);
}

/* ---- ldtarball ---- */

/* The vermagic of one of kernel k's own modules in the install tree, or NULL. */
static char *kernel_vermagic(const struct rekmod_ctx *ctx, const char *k)
{
	_cleanup_free_ char *dir = xasprintf("%s/%s/kernel", ctx->install_tree_path, k);
	_cleanup_free_ char *one = find_any_module_file(dir);
	return one ? module_info_value(one, "vermagic") : NULL;
}

/* Do the modules of a carried build fit kernel k? *why explains a "no". */
static bool prebuilt_fits(const struct rekmod_ctx *ctx, const char *dir, const char *k, char **why)
{
	_cleanup_free_ char *mdir = xasprintf("%s/module", dir);
	_cleanup_strv_free_ char **files = list_dir(mdir);
	_cleanup_free_ char *want = kernel_vermagic(ctx, k);
	size_t n = 0;
	for (size_t i = 0; files && files[i]; i++) {
		if (!is_module_file_name(files[i]))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", mdir, files[i]);
		_cleanup_free_ char *vm = module_info_value(p, "vermagic");
		size_t rl = strlen(k);
		if (!vm || strncmp(vm, k, rl) != 0 || (vm[rl] != ' ' && vm[rl] != '\0')) {
			*why = xasprintf("%s has vermagic \"%s\", not one of kernel %s", files[i], vm ? vm : "(none)", k);
			return false;
		}
		if (want && !streq(vm, want)) {
			*why = xasprintf("%s has vermagic \"%s\", the kernel's modules have \"%s\"", files[i], vm, want);
			return false;
		}
		n++;
	}
	if (n == 0) {
		*why = xasprintf("%s holds no module", mdir);
		return false;
	}
	return true;
}

static int load_builds(struct rekmod_ctx *ctx, const char *m, const char *v, const char *tmp, bool force)
{
	_cleanup_free_ char *mt = xasprintf("%s/dkms_main_tree", tmp);
	_cleanup_strv_free_ char **ks = list_dir(mt);
	for (size_t i = 0; ks && ks[i]; i++) {
		_cleanup_free_ char *kd = xasprintf("%s/%s", mt, ks[i]);
		_cleanup_strv_free_ char **as = is_dir(kd) ? list_dir(kd) : NULL;
		for (size_t j = 0; as && as[j]; j++) {
			_cleanup_free_ char *from = xasprintf("%s/%s", kd, as[j]);
			if (!is_dir(from) || !name_is_valid(ks[i]) || !name_is_valid(as[j]))
				continue;
			_cleanup_free_ char *to = build_base(ctx, m, v, ks[i], as[j]);
			_cleanup_free_ char *why = NULL;
			if (path_exists(to) && !force) {
				dk_warn(ctx, "%s already exists. Skipping...", to);
				continue;
			}
			if (!prebuilt_fits(ctx, from, ks[i], &why)) {
				dk_warn(ctx, "the prebuilt modules of %s/%s for %s (%s) are not loaded: %s; they will be "
					"compiled instead",
					m, v, ks[i], as[j], why);
				continue;
			}
			say(ctx, "Loading %s...", to);
			/* copied beside, then renamed over: the tree holds the old or the new build */
			_cleanup_free_ char *part = xasprintf("%s.rekmod-tmp", to);
			_cleanup_free_ char *old = xasprintf("%s.rekmod-old", to);
			rm_rf(part);
			rm_rf(old);
			int r = mkdir_p(part, 0755);
			if (r == 0) {
				rmdir(part);
				r = copy_tree(from, part);
			}
			if (r == 0 && path_exists(to) && rename(to, old) < 0)
				r = -errno;
			if (r == 0 && rename(part, to) < 0)
				r = -errno;
			rm_rf(old);
			if (r < 0) {
				rm_rf(part);
				dk_error(ctx, "could not load %s: %s", to, strerror(-r));
				return REKMOD_E_INSTALL;
			}
			fsync_dir_of(to);
		}
	}
	return 0;
}

/* PACKAGE_NAME and PACKAGE_VERSION of a dkms.conf (evaluated as dkms does). */
static int conf_names(struct rekmod_ctx *ctx, const char *conf, char **m, char **v)
{
	struct dkms_conf *c = NULL;
	struct conf_req req = { .kernel = ctx->current_kernel, .arch = ctx->arch, .path = conf };
	if (conf_read(ctx, &req, &c) || !c->package_name || !c->package_version || !name_is_valid(c->package_name) ||
	    !name_is_valid(c->package_version)) {
		dkms_conf_free(c);
		return -EINVAL;
	}
	*m = xstrdup(c->package_name);
	*v = xstrdup(c->package_version);
	dkms_conf_free(c);
	return 0;
}

/* <dir>/dkms.conf, else the first found depth levels below it */
static char *conf_at_depth(const char *dir, int depth)
{
	if (depth == 0) {
		char *p = xasprintf("%s/dkms.conf", dir);
		if (path_exists(p) && !is_dir(p))
			return p;
		free(p);
		return NULL;
	}
	_cleanup_strv_free_ char **e = list_dir(dir);
	for (size_t i = 0; e && e[i]; i++) {
		_cleanup_free_ char *sub = xasprintf("%s/%s", dir, e[i]);
		char *hit = is_dir(sub) && !is_symlink(sub) ? conf_at_depth(sub, depth - 1) : NULL;
		if (hit)
			return hit;
	}
	return NULL;
}

/* The shallowest dkms.conf under dir (a plain source tarball), or NULL. */
static char *shallowest_conf(const char *dir)
{
	for (int depth = 0; depth < 8; depth++) {
		char *hit = conf_at_depth(dir, depth);
		if (hit)
			return hit;
	}
	return NULL;
}

/* The dkms.conf a mktarball tarball carries: dkms_source_tree/ or
 * dkms_binaries_only/; *ret_loc NULL when neither has a valid one. */
static int tarball_conf(struct rekmod_ctx *ctx, const char *tmp, bool force, char **m, char **v,
			const char **ret_loc)
{
	static const char *const locs[] = { "dkms_source_tree", "dkms_binaries_only" };
	*ret_loc = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(locs) && !*ret_loc; i++) {
		_cleanup_free_ char *conf = xasprintf("%s/%s/dkms.conf", tmp, locs[i]);
		if (!path_exists(conf))
			continue;
		if (conf_names(ctx, conf, m, v) < 0) {
			rk_err(log_of(ctx), "%s", "");
			rk_err(log_of(ctx), "Malformed dkms.conf, refusing to load.");
			continue;
		}
		if (tree_is_added(ctx, *m, *v) && !force) {
			dk_error(ctx, "%s-%s is already added!\nAborting.", *m, *v);
			return REKMOD_E_BADCONF;
		}
		*ret_loc = locs[i];
	}
	return 0;
}

/* not made by mktarball: a plain source tarball with a dkms.conf */
static int load_plain(struct rekmod_ctx *ctx, const char *tmp, bool force)
{
	_cleanup_free_ char *conf = shallowest_conf(tmp);
	_cleanup_free_ char *m = NULL, *v = NULL;
	if (!conf) {
		dk_error(ctx, "Tarball does not appear to be a correctly formed DKMS archive. No dkms.conf found "
			 "within it.");
		return REKMOD_E_EXISTS;
	}
	conf[strlen(conf) - strlen("/dkms.conf")] = '\0';
	int r = add_path(ctx, conf, force, &m, &v);
	if (r == 0 && !tree_is_added(ctx, m, v))
		r = add_locked(ctx, m, v, ctx->current_kernel, ctx->arch);
	return r;
}

/* The source: copied to the source tree, or (binaries only, no source
 * there) the dkms.conf alone as <m>/<v>/source. */
static int load_source(struct rekmod_ctx *ctx, const char *tmp, const char *loc, const char *m, const char *v,
		       bool force)
{
	_cleanup_free_ char *srcdir = xasprintf("%s/%s-%s", ctx->source_tree_path, m, v);
	if (streq(loc, "dkms_source_tree")) {
		_cleanup_free_ char *from = xasprintf("%s/dkms_source_tree", tmp);
		_cleanup_free_ char *gm = NULL, *gv = NULL;
		if (force && is_dir(srcdir)) {
			rk_err(log_of(ctx), "%s", "");
			say(ctx, "Forcing install of %s-%s", m, v);
		}
		return add_path(ctx, from, force, &gm, &gv);
	}
	if (is_dir(srcdir))
		return 0;
	_cleanup_free_ char *mvd = mv_dir(ctx, m, v);
	_cleanup_free_ char *sd = xasprintf("%s/source", mvd);
	_cleanup_free_ char *from = xasprintf("%s/dkms_binaries_only/dkms.conf", tmp);
	_cleanup_free_ char *to = xasprintf("%s/dkms.conf", sd);
	say(ctx, "Creating %s", sd);
	say(ctx, "Copying dkms.conf to %s ...", sd);
	if (is_symlink(sd))
		unlink(sd);
	int r = mkdir_p(sd, 0755);
	if (r == 0)
		r = copy_file_atomic(from, to, 0644);
	if (r < 0) {
		dk_error(ctx, "could not create %s: %s", sd, strerror(-r));
		return REKMOD_E_GENERIC;
	}
	return 0;
}

static int load_unpacked(struct rekmod_ctx *ctx, const char *path, const char *tmp, bool force)
{
	_cleanup_free_ char *m = NULL, *v = NULL;
	const char *loc = NULL;
	int r = tarball_conf(ctx, tmp, force, &m, &v, &loc);
	if (r)
		return r;
	_cleanup_free_ char *mt = xasprintf("%s/dkms_main_tree", tmp);
	if (!loc && !is_dir(mt))
		return load_plain(ctx, tmp, force);
	if (!loc) {
		dk_error(ctx, "No valid dkms.conf in dkms_source_tree or dkms_binaries_only.\n%s is not a valid DKMS "
			 "tarball.",
			 path);
		return REKMOD_E_BADTARBALL;
	}
	say(ctx, "%s", "");
	say(ctx, "Loading tarball for %s-%s", m, v);
	if ((r = load_source(ctx, tmp, loc, m, v, force)) || (r = load_builds(ctx, m, v, tmp, force)))
		return r;
	/* dkms then adds the module (its add fails, exit 3, when --force reloaded
	 * an added one; rekmod keeps the registration) */
	_cleanup_free_ char *srcdir = xasprintf("%s/%s-%s", ctx->source_tree_path, m, v);
	if ((streq(loc, "dkms_source_tree") || is_dir(srcdir)) && !tree_is_added(ctx, m, v))
		r = add_locked(ctx, m, v, ctx->current_kernel, ctx->arch);
	return r;
}

_public_ int rekmod_ldtarball(struct rekmod_ctx *ctx, const char *path, bool force)
{
	if (!path || !path_exists(path)) {
		dk_error(ctx, "%s does not exist.", path ? path : "(no tarball given)");
		return REKMOD_E_NOSOURCE;
	}
	force = force || ctx->force;
	int r = tree_lock(ctx);
	if (r)
		return r;
	_cleanup_free_ char *tmp = make_tmpdir("rekmod");
	const char *argv[] = { "tar", "--no-same-owner", "-xaf", path, "-C", tmp, NULL };
	if (!tmp) {
		dk_error(ctx, "could not create a temporary directory: %s (set TMPDIR)", strerror(errno));
		r = REKMOD_E_GENERIC;
	} else if (run_tool(ctx, argv, NULL)) {
		dk_error(ctx, "%s could not be unpacked with tar: is it a tarball?", path);
		r = REKMOD_E_EXISTS;
	} else {
		r = load_unpacked(ctx, path, tmp, force);
	}
	if (tmp)
		rm_rf(tmp);
	tree_unlock(ctx);
	return r;
}
