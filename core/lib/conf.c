/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dkms.conf of a registered module, for one kernel: the files dkms sources,
 * the variables it defines, then defaults and validation. */
#include "internal.h"

static char **override_files(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k,
			     const char *a)
{
	char **f = NULL;
	strv_push(&f, xasprintf("%s/etc/dkms/%s.conf", ctx->root, m));
	strv_push(&f, xasprintf("%s/etc/dkms/%s-%s.conf", ctx->root, m, v));
	strv_push(&f, xasprintf("%s/etc/dkms/%s-%s-%s.conf", ctx->root, m, v, k));
	strv_push(&f, xasprintf("%s/etc/dkms/%s-%s-%s-%s.conf", ctx->root, m, v, k, a));
	strv_push(&f, xasprintf("%s/etc/dkms/%s--%s.conf", ctx->root, m, k));
	strv_push(&f, xasprintf("%s/etc/dkms/%s--%s-%s.conf", ctx->root, m, k, a));
	return f;
}

/* --directive NAME=value: a scalar set after every file is read */
static void apply_directives(struct rekmod_ctx *ctx, struct conf_vars *vars)
{
	for (size_t i = 0; ctx->directives && ctx->directives[i]; i++) {
		const char *d = ctx->directives[i];
		const char *eq = strchr(d, '=');
		if (!eq)
			continue;
		_cleanup_free_ char *name = xstrndup(d, (size_t)(eq - d));
		rk_notice(log_of(ctx), "DIRECTIVE: %s=\"%s\"", name, eq + 1);
		if (!strv_contains((char *const *)conf_whitelist, name))
			continue;
		struct conf_var *var = NULL;
		for (size_t j = 0; j < vars->n_vars; j++)
			if (streq(vars->vars[j].name, name))
				var = &vars->vars[j];
		if (!var) {
			vars->vars = xrealloc(vars->vars, (vars->n_vars + 1) * sizeof(*vars->vars));
			size_t pos = vars->n_vars;
			while (pos > 0 && strcmp(vars->vars[pos - 1].name, name) > 0) {
				vars->vars[pos] = vars->vars[pos - 1];
				pos--;
			}
			var = &vars->vars[pos];
			var->name = xstrdup(name);
			var->elems = NULL;
			var->n_elems = 0;
			vars->n_vars++;
		}
		if (var->n_elems && var->elems[0].index == 0) {
			free(var->elems[0].value);
			var->elems[0].value = xstrdup(eq + 1);
		} else {
			var->elems = xrealloc(var->elems, (var->n_elems + 1) * sizeof(*var->elems));
			memmove(var->elems + 1, var->elems, var->n_elems * sizeof(*var->elems));
			var->elems[0].index = 0;
			var->elems[0].value = xstrdup(eq + 1);
			var->n_elems++;
		}
	}
}

/* the dkms.conf to read: the request's, -c, else the registered source's */
static char *conf_path(const struct rekmod_ctx *ctx, const struct conf_req *req)
{
	if (req->path)
		return xstrdup(req->path);
	if (ctx->conf)
		return xstrdup(ctx->conf);
	_cleanup_free_ char *src = source_dir(ctx, req->module, req->version);
	return xasprintf("%s/dkms.conf", src);
}

/* dkms.conf, then the /etc/dkms overrides of a registered module */
static char **conf_files(const struct rekmod_ctx *ctx, const struct conf_req *req, const char *path)
{
	char **files = NULL;
	strv_push(&files, xstrdup(path));
	if (req->module && req->version) {
		_cleanup_strv_free_ char **ov = override_files(ctx, req->module, req->version, req->kernel, req->arch);
		for (size_t i = 0; ov[i]; i++)
			strv_push(&files, TAKE_PTR(ov[i]));
	}
	return files;
}

/* dkms names the file it sourced: the tree's source link for a registered module */
static void warn_deprecated(struct rekmod_ctx *ctx, const struct conf_req *req, const char *path,
			    const struct dkms_conf *c)
{
	if (ctx->log.max_priority < LOG_WARNING)
		return; /* a quiet read (conf_read_quiet) says nothing, so nothing is said yet */
	_cleanup_free_ char *shown = req->path || ctx->conf || !req->module || !req->version
					     ? xstrdup(path)
					     : xasprintf("%s/%s/%s/source/dkms.conf", ctx->dkms_tree_path,
							 req->module, req->version);
	if (ctx->deprecated_said && streq(ctx->deprecated_said, shown))
		return; /* dkms 3.x: once per run and file */
	for (size_t i = 0; c->deprecated && c->deprecated[i]; i++)
		rk_warn(log_of(ctx), "Deprecated feature: %s (%s)%s", c->deprecated[i], shown,
			streq(c->deprecated[i], "OBSOLETE_BY") ? ": use BUILD_EXCLUSIVE_KERNEL_MAX instead" : "");
	if (c->deprecated && c->deprecated[0]) {
		free(ctx->deprecated_said);
		ctx->deprecated_said = TAKE_PTR(shown);
	}
}

int conf_read(struct rekmod_ctx *ctx, const struct conf_req *req, struct dkms_conf **ret)
{
	const char *k = req->kernel, *a = req->arch;
	_cleanup_free_ char *path = conf_path(ctx, req);
	if (!path_exists(path)) {
		dk_error(ctx, "Could not locate dkms.conf file.\nFile: %s does not exist.", path);
		return REKMOD_E_NOCONF;
	}
	_cleanup_free_ char *ksd = kernel_source_dir(ctx, k);
	_cleanup_free_ char *kconfig = kernel_config_path(ctx, k);
	_cleanup_free_ char *jobs = xasprintf("%d", ctx->jobs);
	/* dkms.conf sees dkms's own $kernel_source_dir: <install_tree>/K/build,
	 * the link itself (zfs's ${kernel_source_dir/%build/source}); under
	 * --root the link's target is only meaningful resolved in the root */
	_cleanup_free_ char *ksd_conf = ctx->kernel_source_dir || (ctx->root && *ctx->root)
						? xstrdup(ksd)
						: xasprintf("%s/%s/build", ctx->install_tree_path, k);
	_cleanup_free_ char *kconfig_conf = ctx->kernel_config ? xstrdup(kconfig) : xasprintf("%s/.config", ksd_conf);
	struct conf_env env = {
		.kernelver = k,
		.arch = a,
		.kernel_source_dir = ksd_conf,
		.kernel_config = kconfig_conf,
		.dkms_tree = ctx->dkms_tree_path,
		.source_tree = ctx->source_tree_path,
		.install_tree = ctx->install_tree_path,
		.module = req->module,
		.module_version = req->version,
		.parallel_jobs = jobs,
		.current_kernel = ctx->current_kernel,
		.running_distribution = ctx_distro(ctx),
		.tmp_location = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
		.timeout_seconds = ctx->conf_timeout,
	};
	_cleanup_strv_free_ char **files = conf_files(ctx, req, path);
	if (req->strict) /* add and build, as the deprecation warnings */
		conf_check_typos((const char *const *)files, strv_len(files), log_of(ctx));
	struct conf_vars *vars = NULL;
	bool bash = false;
	int r = conf_eval((const char *const *)files, strv_len(files), &env, log_of(ctx), &vars, &bash);
	if (r < 0) {
		dk_error(ctx, "Bad conf file.\nFile: %s does not represent a valid dkms.conf file.", path);
		return REKMOD_E_BADCONF;
	}
	rk_debug(log_of(ctx), "read %s with the %s reader", path, bash ? "bash" : "native");
	apply_directives(ctx, vars);
	struct conf_finish_opts fo = {
		.kernelver = k,
		.arch = a,
		.kernel_source_dir = ksd,
		.kernel_config = kconfig,
		.dkms_tree = ctx->dkms_tree_path,
		.module = req->module,
		.module_version = req->version,
		.distro = ctx_distro(ctx),
		.addon_modules_dir = ctx->addon_modules_dir,
		.strict = req->strict,
	};
	r = dkms_conf_finish(vars, path, &fo, log_of(ctx), ret);
	conf_vars_free(vars);
	if (r < 0) {
		dk_error(ctx, "Bad conf file.\nFile: %s does not represent a valid dkms.conf file.", path);
		return REKMOD_E_BADCONF;
	}
	if (req->strict)
		warn_deprecated(ctx, req, path, *ret);
	return 0;
}

/* conf_read with nothing said: a probe (status's notes, dkms's silent
 * skips). The log of ctx itself is silenced for the read, never a copy of
 * ctx: what conf_read keeps in ctx (the distribution read on first use)
 * stays owned by ctx. */
int conf_read_quiet(const struct rekmod_ctx *cctx, const struct conf_req *req, struct dkms_conf **ret)
{
	struct rekmod_ctx *ctx = (struct rekmod_ctx *)cctx; /* allocated non-const in rekmod_new */
	int max = ctx->log.max_priority;
	ctx->log.max_priority = -1;
	int r = conf_read(ctx, req, ret);
	ctx->log.max_priority = max;
	return r;
}
