/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dkms verbs: argument checks, the tree lock, a plan, the one executor. */
#include <sys/stat.h>

#include "plan.h"

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
			dk_error(ctx, "invalid %s \"%s\": it may hold only letters, digits and . _ + ~ : - (at most "
				 "200, not starting with - or .); pass the real name",
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

/* <m>/<v> appears with its source link in it (a temporary directory
 * renamed): a crash never leaves an empty version directory, which is a
 * broken module (its link deleted), as dkms 3.x says */
static int add_version_dir(struct rekmod_ctx *ctx, const char *m, const char *v, const char *target)
{
	_cleanup_free_ char *md = xasprintf("%s/%s", ctx->dkms_tree_path, m);
	_cleanup_free_ char *tmp = xasprintf("%s/.%s.rekmod-tmp.XXXXXX", md, v);
	int r = mkdir_p(md, 0755);
	if (r == 0 && !mkdtemp(tmp))
		r = -errno;
	if (r < 0)
		return r;
	_cleanup_free_ char *link = xasprintf("%s/source", tmp);
	_cleanup_free_ char *d = xasprintf("%s/%s", md, v);
	if (chmod(tmp, 0755) < 0 || symlink(target, link) < 0 || rename(tmp, d) < 0) {
		r = -errno;
		rm_rf(tmp);
		return r;
	}
	return fsync_dir_of(d);
}

int add_locked(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	if (tree_is_added(ctx, m, v)) {
		dk_error(ctx, "DKMS tree already contains: %s/%s\nYou cannot add the same module/version combo more than "
			 "once.",
			 m, v);
		return REKMOD_E_EXISTS;
	}
	_cleanup_free_ char *src = xasprintf("%s/%s-%s", ctx->source_tree_path, m, v);
	if (!is_dir(src)) {
		dk_error(ctx, "Could not find module source directory.\nDirectory: %s does not exist.", src);
		return REKMOD_E_NOSOURCE;
	}
	int r = check_source_trust(ctx, src);
	if (r)
		return r;
	_cleanup_free_ char *confpath = xasprintf("%s/dkms.conf", src);
	struct dkms_conf *c = NULL;
	struct conf_req req = { .module = m, .version = v, .kernel = k, .arch = a, .strict = true,
				.path = ctx->conf ? ctx->conf : confpath };
	r = conf_read(ctx, &req, &c);
	if (r)
		return r;
	_cleanup_free_ char *d = mv_dir(ctx, m, v);
	_cleanup_free_ char *link = xasprintf("%s/source", d);
	_cleanup_free_ char *target = xasprintf("%s/%s-%s", ctx->source_tree, m, v);
	say(ctx, "Creating symlink %s -> %s", link, target);
	r = is_dir(d) ? symlink_atomic(target, link) : add_version_dir(ctx, m, v, target);
	if (r < 0) {
		dk_error(ctx, "No write access to DKMS tree at %s (%s)", ctx->dkms_tree_path, strerror(-r));
		dkms_conf_free(c);
		return REKMOD_E_GENERIC;
	}
	/* as dkms: the module stays added, add exits with the script's status */
	_cleanup_free_ char *sdir = script_dir(ctx, m, v);
	r = run_script(ctx, m, "post_add", c->post_add, sdir);
	dkms_conf_free(c);
	return r;
}

_public_ int rekmod_add(struct rekmod_ctx *ctx, const char *m, const char *v)
{
	int r = require_os_release(ctx);
	if (r)
		return r;
	r = check_names(ctx, m, v, NULL, NULL);
	if (r)
		return r;
	r = tree_lock(ctx);
	if (r)
		return r;
	r = add_locked(ctx, m, v, ctx->current_kernel, ctx->arch);
	tree_unlock(ctx);
	return r;
}

/* from into dst under the tree lock: copied into a unique directory beside
 * dst, then renamed, so two adds at once never mix; a copy a crash left
 * without its dkms.conf is replaced. */
static int copy_source_locked(struct rekmod_ctx *ctx, const char *from, const char *dst, bool force)
{
	_cleanup_free_ char *realdst = realpath(dst, NULL);
	if (realdst && streq(realdst, from))
		return 0;
	_cleanup_free_ char *dstconf = xasprintf("%s/dkms.conf", dst);
	if (!force && is_dir(dst) && !path_exists(dstconf))
		dk_warn(ctx, "%s has no dkms.conf (a copy that was cut short); replacing it with %s", dst, from);
	if (force || (is_dir(dst) && !path_exists(dstconf)))
		rm_rf(dst);
	if (is_dir(dst))
		return 0;
	int r = mkdir_p(ctx->source_tree_path, 0755);
	_cleanup_free_ char *base = strrchr(dst, '/') ? xstrdup(strrchr(dst, '/') + 1) : xstrdup(dst);
	_cleanup_free_ char *tmp = xasprintf("%s/.%s.rekmod-XXXXXX", ctx->source_tree_path, base);
	if (r == 0 && !mkdtemp(tmp))
		r = -errno;
	_cleanup_free_ char *inner = xasprintf("%s/src", tmp);
	if (r == 0)
		r = copy_tree(from, inner);
	if (r == 0 && rename(inner, dst) < 0)
		r = -errno;
	rm_rf(tmp);
	if (r < 0) {
		dk_error(ctx, "could not copy %s to %s: %s", from, dst, strerror(-r));
		return REKMOD_E_GENERIC;
	}
	fsync_dir_of(dst);
	return 0;
}

/* `dkms add <dir>`: read PACKAGE_NAME/VERSION, copy the tree to <source_tree>/<m>-<v>. */
int add_path(struct rekmod_ctx *ctx, const char *dir, bool force, char **ret_module, char **ret_version)
{
	int r = require_os_release(ctx);
	if (r)
		return r;
	_cleanup_free_ char *from = realpath(dir, NULL);
	_cleanup_free_ char *conf = from ? xasprintf("%s/dkms.conf", from) : NULL;
	if (!conf || !path_exists(conf)) {
		dk_error(ctx, "%s must contain a dkms.conf file!", dir);
		return REKMOD_E_NOPERM;
	}
	r = check_source_trust(ctx, from);
	if (r)
		return r;
	struct dkms_conf *c = NULL;
	struct conf_req req = { .kernel = ctx->current_kernel, .arch = ctx->arch, .path = conf };
	if ((r = conf_read(ctx, &req, &c))) /* dkms 3.x: the conf's own errors and exit code (8) */
		return r;
	_cleanup_free_ char *m = xstrdup(c->package_name), *v = xstrdup(c->package_version);
	dkms_conf_free(c);
	r = check_names(ctx, m, v, NULL, NULL);
	if (r)
		return r;
	_cleanup_free_ char *dst = xasprintf("%s/%s-%s", ctx->source_tree_path, m, v);
	if ((r = tree_lock(ctx)))
		return r;
	r = copy_source_locked(ctx, from, dst, force);
	tree_unlock(ctx);
	if (r)
		return r;
	*ret_module = TAKE_PTR(m);
	*ret_version = TAKE_PTR(v);
	return 0;
}

_public_ int rekmod_add_path(struct rekmod_ctx *ctx, const char *dir, char **ret_module, char **ret_version)
{
	return add_path(ctx, dir, ctx->force, ret_module, ret_version);
}

/* ---- one entry point: each verb is a planner, a policy and a result ---- */

static int not_in_tree(struct rekmod_ctx *ctx, const char *m, const char *v)
{
	dk_error(ctx, "The module/version combo: %s-%s is not located in the DKMS tree.", m, v);
	return REKMOD_E_EXISTS;
}

/* The request's kernels and arches as two parallel strv. */
static int request_kernels(struct rekmod_ctx *ctx, const struct rekmod_request *req, char ***ret_k, char ***ret_a)
{
	char **ks = NULL, **as = NULL;
	if (req->all && (req->verb == REKMOD_VERB_BUILD || req->verb == REKMOD_VERB_INSTALL)) {
		/* rekmod: every kernel with headers (dkms 3.0.10 refuses --all here, exit 5) */
		ks = kernels_in_tree(ctx, true);
		if (!ks[0])
			dk_warn(ctx, "no kernel in %s has headers: nothing to %s.", ctx->install_tree_path,
				req->verb == REKMOD_VERB_BUILD ? "build" : "install");
	} else if (req->all) {
		rekmod_built_kernels(ctx, req->module, req->version, &ks, &as);
	} else {
		for (size_t i = 0; req->kernels && req->kernels[i]; i++)
			strv_push(&ks, xstrdup(req->kernels[i]));
	}
	if (!as)
		for (size_t i = 0; ks && ks[i]; i++)
			strv_push(&as, xstrdup(arch_or_default(ctx, req->arches ? req->arches[i] : NULL)));
	for (size_t i = 0; ks && ks[i]; i++) {
		int r = check_names(ctx, req->module ? req->module : "m", req->version ? req->version : "v", ks[i],
				    as[i]);
		if (r) {
			strv_free(ks);
			strv_free(as);
			return r;
		}
	}
	*ret_k = ks ? ks : xcalloc(1, sizeof(char *));
	*ret_a = as ? as : xcalloc(1, sizeof(char *));
	return 0;
}

struct verb {
	int (*plan)(struct rekmod_ctx *ctx, const struct rekmod_request *req, char **ks, char **as, struct plan *p);
	int (*result)(const struct plan *p);
	struct policy pol;
	enum job_kind kind; /* the job of each kernel, for plan_targets */
	bool needs_mv, must_be_added, one_kernel;
};

/* one job of the verb's kind per kernel (remove: and the unregistering last) */
static const struct verb *verb_of(enum rekmod_verb v);

static int plan_targets(struct rekmod_ctx *ctx, const struct rekmod_request *req, char **ks, char **as,
			struct plan *p)
{
	enum job_kind kind = verb_of(req->verb)->kind;
	for (size_t i = 0; ks[i]; i++)
		plan_add(p, kind, req->module, req->version, ks[i], as[i]);
	if (req->verb == REKMOD_VERB_REMOVE)
		plan_add(p, JOB_UNREGISTER, req->module, req->version, NULL, NULL);
	return 0;
}

/* ---- autoinstall, kernel_postinst ---- */

static void autoinstall_started(struct rekmod_ctx *ctx, struct plan *p, struct job *j)
{
	if (j->kind == JOB_AUTO && !j->built_already) { /* dkms 3.x: the signing prologue first, once */
		struct sign_plan sp;
		sign_prologue(ctx, j->k, j->a, &sp);
		sign_plan_done(&sp);
	}
	say(ctx, "Autoinstall of module %s/%s for kernel %s (%s)", j->m, j->v, j->k, j->a);
	if (j->kind == JOB_REUSE)
		say(ctx, "Reusing its build for kernel %s (%s kernels): no compile.", j->from, j->how);
	(void)p;
}

enum { SUM_SUCCEEDED, SUM_SKIPPED, SUM_FAILED };

static bool unrun(const struct job *j)
{
	return j->result == REKMOD_E_DEPENDS && !j->start.tv_sec && !j->start.tv_nsec;
}

static bool planned_module(const struct plan *p, const char *m)
{
	for (size_t i = 0; i < p->n; i++)
		if (streq(p->jobs[i].m, m))
			return true;
	return false;
}

/* dkms 3.x: the succeeded list starts with the modules installed there already */
static void installed_already(struct rekmod_ctx *ctx, const struct plan *p, struct strbuf *b)
{
	_cleanup_strv_free_ char **added = tree_list_added(ctx, NULL);
	const char *last = "";
	for (size_t i = 0; added[i]; i++) {
		*strchr(added[i], '/') = '\0';
		if (streq(added[i], last) || planned_module(p, added[i]))
			continue;
		last = added[i];
		_cleanup_free_ char *iv = tree_installed_version(ctx, added[i], p->ks[0].k, ctx->arch);
		if (iv)
			sb_printf(b, " %s", added[i]);
	}
}

static int cmp_start(const void *x, const void *y)
{
	const struct job *a = *(const struct job *const *)x, *b = *(const struct job *const *)y;
	if (a->start.tv_sec != b->start.tv_sec)
		return a->start.tv_sec < b->start.tv_sec ? -1 : 1;
	if (a->start.tv_nsec != b->start.tv_nsec)
		return a->start.tv_nsec < b->start.tv_nsec ? -1 : 1;
	return a < b ? -1 : a > b;
}

/* dkms 3.x lists the modules in the order it tried them */
static const struct job **jobs_by_start(const struct plan *p)
{
	const struct job **v = xcalloc(p->n + 1, sizeof(*v));
	for (size_t i = 0; i < p->n; i++)
		v[i] = &p->jobs[i];
	qsort(v, p->n, sizeof(*v), cmp_start);
	return v;
}

static void summary(struct rekmod_ctx *ctx, const struct plan *p, int which, const char *what)
{
	struct strbuf b = { 0 };
	if (which == SUM_SUCCEEDED)
		installed_already(ctx, p, &b);
	_cleanup_free_ const struct job **by_start = jobs_by_start(p);
	for (size_t i = 0; i < p->n; i++) {
		const struct job *j = by_start[i];
		int r = j->result;
		if ((which == SUM_SUCCEEDED && r == 0) || (which == SUM_SKIPPED && r == REKMOD_E_SKIPPED))
			sb_printf(&b, " %s", j->m);
		else if (which == SUM_FAILED && r && r != REKMOD_E_SKIPPED && !unrun(j))
			sb_printf(&b, " %s(%d)", j->m, r);
	}
	if (b.len)
		say(ctx, "Autoinstall on %s %s for module(s)%s.", p->ks[0].k, what, b.s);
	sb_free(&b);
}

/* dkms's words for a job that never ran: its dependencies that are not installed */
static void missing_line(struct rekmod_ctx *ctx, const struct plan *p, const struct job *j)
{
	struct strbuf b = { 0 };
	for (size_t d = 0; j->missing && j->missing[d]; d++)
		sb_printf(&b, "%s%s", b.len ? " " : "", j->missing[d]);
	for (size_t d = 0; j->deps && j->deps[d]; d++) {
		_cleanup_free_ char *iv = tree_installed_version(ctx, j->deps[d], j->k, j->a);
		if (!iv)
			sb_printf(&b, "%s%s", b.len ? " " : "", j->deps[d]);
	}
	say(ctx, "%s/%s autoinstall failed due to missing dependencies: %s.", j->m, j->v, b.len ? b.s : "");
	sb_free(&b);
	(void)p;
}

/* dkms 3.x: a module whose BUILD_DEPENDS the tree does not know waits for a later trigger */
static void deferred_lines(struct rekmod_ctx *ctx, const struct plan *p)
{
	struct strbuf b = { 0 };
	for (size_t i = 0; p->deferred && p->deferred[i]; i++) {
		const char *sp = strchr(p->deferred[i], ' ');
		_cleanup_free_ char *mv = xstrndup(p->deferred[i], (size_t)(sp - p->deferred[i]));
		say(ctx, "%s autoinstall deferred: BUILD_DEPENDS not registered with DKMS:%s.", mv, sp);
		sb_printf(&b, "%s%s", b.len ? " " : "", mv);
	}
	if (b.len)
		say(ctx, "Autoinstall on %s deferred module(s) %s due to BUILD_DEPENDS not yet registered with DKMS.\n"
			 "These may be provided externally or by a package not yet configured; autoinstall will retry on "
			 "the next trigger.",
		    p->ks[0].k, b.s);
	sb_free(&b);
}

/* dkms 3.x: "Running depmod... done." after each module it installed, then
 * a blank line after each module it tried. rekmod runs depmod once, when
 * the kernel's last job is done (job_done, right after this): the line is
 * said here, where dkms says it, and the run's depmod is silent. */
static void autoinstall_finished(struct rekmod_ctx *ctx, struct plan *p, struct job *j)
{
	if (unrun(j))
		return;
	if (j->installed && depmod_would_run(ctx, j->k))
		say(ctx, "Running depmod... done.");
	say(ctx, "%s", "");
	(void)p;
}

static void autoinstall_done(struct rekmod_ctx *ctx, struct plan *p)
{
	if (!p->nk)
		return;
	if (!p->n && !(p->broken && p->broken[0])) { /* dkms 3.x: nothing to install, nothing said */
		deferred_lines(ctx, p);
		return;
	}
	summary(ctx, p, SUM_SUCCEEDED, "succeeded");
	summary(ctx, p, SUM_SKIPPED, "was skipped");
	summary(ctx, p, SUM_FAILED, "failed");
	for (size_t i = 0; p->broken && p->broken[i]; i++)
		dk_error(ctx, "%s: its dkms.conf could not be read; it was not autoinstalled", p->broken[i]);
	for (size_t i = 0; i < p->n; i++)
		if (unrun(&p->jobs[i]))
			missing_line(ctx, p, &p->jobs[i]);
	deferred_lines(ctx, p);
	if (plan_failed(p))
		dk_error(ctx, "One or more modules failed to install during autoinstall.\nRefer to previous errors for "
			 "more information.");
}

static const struct job_report autoinstall_report = { .started = autoinstall_started,
						       .finished = autoinstall_finished,
						       .done = autoinstall_done };

static bool is_broken(const struct rekmod_ctx *ctx, const char *m, const char *v);

/* dkms 3.x: autoinstall first names each broken module (no source link), then goes on */
static void say_broken(struct rekmod_ctx *ctx)
{
	_cleanup_strv_free_ char **mods = list_dir(ctx->dkms_tree_path);
	for (size_t i = 0; mods && mods[i]; i++) {
		_cleanup_free_ char *md = xasprintf("%s/%s", ctx->dkms_tree_path, mods[i]);
		_cleanup_strv_free_ char **vers = mods[i][0] != '.' && name_is_valid(mods[i]) ? list_dir(md) : NULL;
		for (size_t j = 0; vers && vers[j]; j++) {
			_cleanup_free_ char *vd = xasprintf("%s/%s", md, vers[j]);
			if (vers[j][0] == '.' || !name_is_valid(vers[j]) || is_symlink(vd) ||
			    streq(vers[j], "original_module"))
				continue; /* kernel-<K>-<A> links, archived originals */
			if (is_broken(ctx, mods[i], vers[j]))
				dk_error(ctx, "%s/%s is broken! Missing the source directory or the symbolic link pointing "
					 "to it.\nManual intervention is required!",
					 mods[i], vers[j]);
		}
	}
}

static int plan_autoinstall_verb(struct rekmod_ctx *ctx, const struct rekmod_request *req, char **ks, char **as,
				 struct plan *p)
{
	_cleanup_free_ char *noauto = root_path(ctx, "/etc/dkms/no-autoinstall");
	if (path_exists(noauto)) {
		say(ctx, "Automatic installation of modules has been disabled.");
		return 0;
	}
	say_broken(ctx);
	_cleanup_strv_free_ char **added = tree_list_added(ctx, NULL);
	if (!added[0]) /* dkms 3.x: nothing to autoinstall, headers or not */
		return 0;
	if (!kernel_has_headers(ctx, ks[0]) && !ctx->kernel_source_dir) {
		dk_error(ctx, "Your kernel headers for kernel %s cannot be found at %s/%s/build or %s/%s/source.\n"
			 "Please install your distribution's kernel headers package matching %s, or use the "
			 "--kernelsourcedir option to tell DKMS where it's located.", /* dkms 3.x's words */
			 ks[0], ctx->install_tree_path, ks[0], ctx->install_tree_path, ks[0], ks[0]);
		return REKMOD_E_NOHEADERS;
	}
	struct kern *kn = plan_kernel(p, ctx, ks[0]);
	kn->headers = true;
	(void)req;
	(void)as;
	plan_autoinstall(ctx, p, NULL);
	return 0;
}

static int autoinstall_result(const struct plan *p)
{
	return plan_failed(p) ? REKMOD_E_AUTOINSTALL : 0;
}

/* ---- kernel_preinst, kernel_prerm ---- */

static void prerm_started(struct rekmod_ctx *ctx, struct plan *p, struct job *j)
{
	rk_err(log_of(ctx), "dkms: removing module %s/%s for kernel %s (%s)", j->m, j->v, j->k, j->a);
	(void)p;
}

/* empty directories left under the kernel's tree (updates/dkms, ...) */
static void prerm_done(struct rekmod_ctx *ctx, struct plan *p)
{
	if (!p->n)
		return;
	static const char *const sub[] = { "updates/dkms", "updates", "extra" };
	for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
		_cleanup_free_ char *d = xasprintf("%s/%s/%s", ctx->install_tree_path, p->ks[0].k, sub[i]);
		rmdir(d);
	}
}

static void prerm_finished(struct rekmod_ctx *ctx, struct plan *p, struct job *j)
{
	say(ctx, "%s", ""); /* dkms 3.x: a blank line after each module */
	(void)p;
	(void)j;
}

static const struct job_report prerm_report = { .started = prerm_started, .finished = prerm_finished,
						 .done = prerm_done };

static bool is_autoinstall(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	struct dkms_conf *c = NULL;
	struct conf_req req = { .module = m, .version = v, .kernel = k, .arch = a };
	bool yes = conf_read(ctx, &req, &c) == 0 && c->autoinstall;
	dkms_conf_free(c);
	return yes;
}

static int plan_kernel_unbuild(struct rekmod_ctx *ctx, const struct rekmod_request *req, char **ks, char **as,
			       struct plan *p)
{
	const char *k = ks[0];
	_cleanup_strv_free_ char **added = tree_list_added(ctx, NULL);
	plan_kernel(p, ctx, k);
	for (size_t i = 0; added[i]; i++) {
		char *slash = strchr(added[i], '/');
		*slash = '\0';
		const char *m = added[i], *v = slash + 1;
		_cleanup_free_ char *kd = xasprintf("%s/%s/%s/%s", ctx->dkms_tree_path, m, v, k);
		_cleanup_strv_free_ char **arches = is_dir(kd) ? list_dir(kd) : NULL;
		for (size_t j = 0; arches && arches[j]; j++) {
			if (!tree_is_built(ctx, m, v, k, arches[j]))
				continue;
			if (req->verb == REKMOD_VERB_KERNEL_PREINST && !is_autoinstall(ctx, m, v, k, arches[j]))
				continue;
			plan_add(p, JOB_UNBUILD, m, v, k, arches[j]);
		}
	}
	(void)as;
	return 0;
}

static int unbuild_all_result(const struct plan *p)
{
	return plan_failed(p) ? REKMOD_E_UNBUILD : 0;
}

/* ---- match ---- */

static void match_started(struct rekmod_ctx *ctx, struct plan *p, struct job *j)
{
	say(ctx, "Module:  %s", j->m);
	say(ctx, "Version: %s", j->v);
	(void)p;
}

static const struct job_report match_report = { .started = match_started };

static int plan_match(struct rekmod_ctx *ctx, const struct rekmod_request *req, char **ks, char **as,
		      struct plan *p)
{
	const char *t = req->template_kernel, *k = ks[0], *a = as[0];
	if (!t) {
		dk_error(ctx, "Invalid number of parameters passed.\nUsage: match --templatekernel=<kernel-version> -k "
			 "<kernel-version>\n   or: match --templatekernel=<kernel-version> -k <kernel-version> <module>");
		return REKMOD_E_GENERIC;
	}
	int r = check_names(ctx, "m", "v", t, a);
	if (r)
		return r;
	if (streq(t, k)) {
		dk_error(ctx, "The templatekernel and the specified kernel version are the same.");
		return REKMOD_E_NOSOURCE;
	}
	if (req->module) {
		_cleanup_free_ char *md = xasprintf("%s/%s", ctx->dkms_tree_path, req->module);
		if (!name_is_valid(req->module) || !is_dir(md)) {
			dk_error(ctx, "The module: %s is not located in the DKMS tree.", req->module);
			return REKMOD_E_EXISTS;
		}
	}
	say(ctx, "%s", "");
	say(ctx, "Matching modules in kernel: %s (%s)", k, a);
	say(ctx, "to the configuration of kernel: %s (%s)", t, a);
	_cleanup_strv_free_ char **added = tree_list_added(ctx, req->module);
	for (size_t i = 0; added[i]; i++) {
		char *slash = strchr(added[i], '/');
		*slash = '\0';
		if (tree_is_installed(ctx, added[i], slash + 1, t, a))
			plan_add(p, JOB_INSTALL, added[i], slash + 1, k, a);
	}
	if (!p->n) {
		say(ctx, "%s", "");
		say(ctx, "There is nothing to be done for this match.");
	}
	return 0;
}

/* dkms: with several -k, the result of the last kernel (one excluded by
 * BUILD_EXCLUSIVE before a built one exits 0) */
/* ---- publish: the builds, in parallel, nothing installed ---- */

static int plan_publish(struct rekmod_ctx *ctx, const struct rekmod_request *req, char **ks, char **as,
			struct plan *p)
{
	for (size_t i = 0; ks[i]; i++)
		plan_add(p, JOB_AUTO, req->module, req->version, ks[i], as[i]);
	(void)ctx;
	return 0;
}

/* publish's builds of several modules: (m[i], v[i], k[i]) in one parallel plan */
int run_publish_builds(struct rekmod_ctx *ctx, char *const *m, char *const *v, char *const *k)
{
	int r = tree_lock(ctx);
	if (r)
		return r;
	struct policy pol = verb_of(REKMOD_VERB_PUBLISH)->pol;
	pol.force = ctx->force;
	struct plan p = { .pol = &pol };
	for (size_t i = 0; m[i]; i++)
		plan_add(&p, JOB_AUTO, m[i], v[i], k[i], ctx->arch);
	r = plan_execute(ctx, &p);
	if (r == 0)
		r = plan_last_failure(&p);
	plan_free(&p);
	tree_unlock(ctx);
	return r;
}

static int last_kernel_result(const struct plan *p)
{
	return p->n ? p->jobs[p->n - 1].result : 0;
}

static int zero_result(const struct plan *p)
{
	(void)p;
	return 0;
}

/* dkms 3.x runs post_transaction after these when they succeed */
#define POST_TRANSACTION_IF_OK .post_transaction = true, .post_transaction_if_ok = true

static const struct verb verbs[] = {
	[REKMOD_VERB_BUILD] = { plan_targets, last_kernel_result, { .verb = "build", .say_depmod = true }, JOB_BUILD,
				true, false, false },
	[REKMOD_VERB_INSTALL] = { plan_targets, last_kernel_result,
				  { .verb = "install", .say_depmod = true, .depmod_rollback = true, POST_TRANSACTION_IF_OK },
				  JOB_INSTALL, true,
				  false, false },
	[REKMOD_VERB_UNINSTALL] = { plan_targets, zero_result,
				    { .verb = "uninstall", .say_skips = true, .say_depmod = true, .record_optouts = true,
				    POST_TRANSACTION_IF_OK },
				    JOB_UNINSTALL, true, true, false },
	[REKMOD_VERB_UNBUILD] = { plan_targets, zero_result,
				  { .verb = "unbuild", .say_skips = true, .say_depmod = true, .record_optouts = true,
				    POST_TRANSACTION_IF_OK },
				  JOB_UNBUILD, true, true, false },
	[REKMOD_VERB_REMOVE] = { plan_targets, plan_last_failure,
				 { .verb = "remove", .say_skips = true, .say_depmod = true, .record_optouts = true,
				    POST_TRANSACTION_IF_OK },
				 JOB_UNBUILD, true, true, false },
	[REKMOD_VERB_AUTOINSTALL] = { plan_autoinstall_verb, autoinstall_result,
				      { .verb = "autoinstall", .any_version = true, .keep_records = true, .reuse = true,
					.post_transaction = true, .report = &autoinstall_report },
				      JOB_AUTO, false, false, true },
	[REKMOD_VERB_KERNEL_POSTINST] = { plan_autoinstall_verb, autoinstall_result,
					  { .verb = "kernel_postinst", .any_version = true, .keep_records = true, .reuse = true,
					    .post_transaction = true, .report = &autoinstall_report },
					  JOB_AUTO, false, false, true },
	[REKMOD_VERB_KERNEL_PREINST] = { plan_kernel_unbuild, unbuild_all_result,
					 { .verb = "kernel_preinst", .say_skips = true, .say_depmod = true, .report = &prerm_report }, JOB_UNBUILD, false, false,
					 true },
	[REKMOD_VERB_KERNEL_PRERM] = { plan_kernel_unbuild, unbuild_all_result,
				       { .verb = "kernel_prerm", .say_skips = true, .say_depmod = true, .report = &prerm_report }, JOB_UNBUILD, false, false,
				       true },
	[REKMOD_VERB_MATCH] = { plan_match, plan_last_failure,
				{ .verb = "match", .say_depmod = true, .depmod_rollback = true, .report = &match_report },
				JOB_INSTALL, false, false, true },
	[REKMOD_VERB_PUBLISH] = { plan_publish, plan_last_failure,
				  { .verb = "publish", .parallel = true, .build_only = true }, JOB_AUTO, true, true,
				  false },
};

static const struct verb *verb_of(enum rekmod_verb v)
{
	return (size_t)v < ARRAY_SIZE(verbs) ? &verbs[v] : NULL;
}

/* dkms 3.x: <m>/<v> in the tree without its source link (the link is
 * absolute inside --root, so a dangling one is not judged here) */
static bool is_broken(const struct rekmod_ctx *ctx, const char *m, const char *v)
{
	_cleanup_free_ char *d = mv_dir(ctx, m, v);
	_cleanup_free_ char *src = xasprintf("%s/source", d);
	return is_dir(d) && !is_symlink(src) && !is_dir(src);
}

static int check_request(struct rekmod_ctx *ctx, const struct verb *vb, const struct rekmod_request *req)
{
	int r = 0;
	if (vb->needs_mv && (r = check_names(ctx, req->module, req->version, NULL, NULL)))
		return r;
	if (vb->needs_mv && is_broken(ctx, req->module, req->version)) {
		dk_error(ctx, "%s/%s is broken!\nMissing the source directory or the symbolic link pointing to it.\n"
			 "Manual intervention is required!",
			 req->module, req->version);
		return REKMOD_E_NOCONF; /* 4 */
	}
	if (vb->must_be_added && !tree_is_added(ctx, req->module, req->version))
		return not_in_tree(ctx, req->module, req->version);
	size_t n = 0;
	while (req->kernels && req->kernels[n])
		n++;
	if (vb->one_kernel && n != 1) {
		dk_error(ctx, "invalid kernel version \"\": one -k kernel is needed; pass -k <kernel release>");
		return REKMOD_E_GENERIC;
	}
	return 0;
}

_public_ int rekmod_run(struct rekmod_ctx *ctx, const struct rekmod_request *req)
{
	const struct verb *vb = verb_of(req->verb);
	if (!vb)
		return REKMOD_E_GENERIC;
	_cleanup_strv_free_ char **ks = NULL, **as = NULL;
	int r = require_os_release(ctx);
	if (r || (r = tree_lock(ctx)))
		return r;
	/* under the lock, which drops what a crash left (a remove's renamed version directory) */
	if ((r = check_request(ctx, vb, req))) {
		tree_unlock(ctx);
		return r;
	}
	/* under the lock: a remove --all waiting for an install sees its build */
	struct policy pol = vb->pol;
	pol.force = ctx->force;
	/* the user's decision is a kernel named with -k; --all (a package's
	 * postinst re-adding its version) is none */
	pol.record_optouts &= !req->all;
	struct plan p = { .pol = &pol };
	r = request_kernels(ctx, req, &ks, &as);
	if (r == 0)
		r = vb->plan(ctx, req, ks, as, &p);
	if (r == 0)
		r = plan_execute(ctx, &p);
	if (r == 0)
		/* --all: every kernel is tried, a failure is the result */
		r = req->all && vb->result == last_kernel_result ? plan_last_failure(&p) : vb->result(&p);
	plan_free(&p);
	tree_unlock(ctx);
	return r;
}

/* ---- one kernel at a time ---- */

static int run_one(struct rekmod_ctx *ctx, enum rekmod_verb verb, const char *m, const char *v, const char *k,
		   const char *a)
{
	const char *ks[] = { k, NULL }, *as[] = { a, NULL };
	struct rekmod_request req = { .verb = verb, .module = m, .version = v, .kernels = k ? ks : NULL,
				      .arches = as };
	return rekmod_run(ctx, &req);
}

_public_ int rekmod_build(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	return run_one(ctx, REKMOD_VERB_BUILD, m, v, k, a);
}

_public_ int rekmod_install(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	return run_one(ctx, REKMOD_VERB_INSTALL, m, v, k, a);
}

_public_ int rekmod_uninstall(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	return run_one(ctx, REKMOD_VERB_UNINSTALL, m, v, k, a);
}

_public_ int rekmod_unbuild(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	return run_one(ctx, REKMOD_VERB_UNBUILD, m, v, k, a);
}

_public_ int rekmod_remove(struct rekmod_ctx *ctx, const char *m, const char *v, const char *const *kernels,
			   const char *const *arches)
{
	struct rekmod_request req = { .verb = REKMOD_VERB_REMOVE, .module = m, .version = v, .kernels = kernels,
				      .arches = arches };
	return rekmod_run(ctx, &req);
}

_public_ int rekmod_autoinstall(struct rekmod_ctx *ctx, const char *k, const char *a)
{
	return run_one(ctx, REKMOD_VERB_AUTOINSTALL, NULL, NULL, k, a);
}

_public_ int rekmod_match(struct rekmod_ctx *ctx, const char *template, const char *k, const char *a,
			  const char *module)
{
	const char *ks[] = { k, NULL }, *as[] = { a, NULL };
	struct rekmod_request req = { .verb = REKMOD_VERB_MATCH, .module = module, .kernels = k ? ks : NULL,
				      .arches = as, .template_kernel = template };
	return rekmod_run(ctx, &req);
}

_public_ int rekmod_kernel_unbuild_all(struct rekmod_ctx *ctx, const char *k, bool only_autoinstall)
{
	return run_one(ctx, only_autoinstall ? REKMOD_VERB_KERNEL_PREINST : REKMOD_VERB_KERNEL_PRERM, NULL, NULL, k,
		       NULL);
}
