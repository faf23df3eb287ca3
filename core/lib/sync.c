/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sync, the entry point of every hook: the desired state of every kernel
 * (each AUTOINSTALL module, newest version, built and installed; kernels
 * that went away cleaned up) as one plan, run in parallel. */
#include "plan.h"

static const char *failure_reason(int code)
{
	switch (code) {
	case REKMOD_E_BUILD:
		return "make failed";
	case REKMOD_E_NOKO:
		return "make did not produce the module";
	case REKMOD_E_NOHEADERS:
		return "kernel headers missing";
	case REKMOD_E_BADCONF:
		return "invalid dkms.conf or empty source";
	case REKMOD_E_DEPENDS:
		return "a BUILD_DEPENDS module is not installed";
	case REKMOD_E_INSTALL:
		return "installation failed";
	default:
		return "see rekmod build for details";
	}
}

/* One line: what failed where, why (the compiler's first error, else the
 * first error the build said), and the log to read. */
static void say_failure(struct rekmod_ctx *ctx, const struct job *j)
{
	_cleanup_free_ char *first = log_first_error(j->log);
	const char *why = first ? first : j->why;
	rk_err(log_of(ctx), "%s/%s, %s, %s: failed with exit %d (%s)%s%s%s%s", j->m, j->v, j->k, j->a, j->result,
	       failure_reason(j->result), why ? ": " : "", why ? why : "", j->log ? "; log: " : "",
	       j->log ? j->log : "");
}

static void sync_started(struct rekmod_ctx *ctx, struct plan *p, struct job *j)
{
	if (j->kind == JOB_REUSE) {
		rk_logf(log_of(ctx), p->progress ? LOG_INFO : LOG_NOTICE, "Reusing the build for %s of %s/%s for %s (%s)...",
			j->from, j->m, j->v, j->k, j->a);
		return;
	}
	if (j->kind != JOB_AUTO)
		return;
	rk_logf(log_of(ctx), p->progress ? LOG_INFO : LOG_NOTICE, "%s %s/%s for %s (%s)...",
		j->built_already ? "Installing the build of" : "Building", j->m, j->v, j->k, j->a);
}

static void sync_finished(struct rekmod_ctx *ctx, struct plan *p, struct job *j)
{
	if (j->kind != JOB_AUTO && j->kind != JOB_REUSE)
		return;
	if (j->result == 0 && j->reused)
		rk_notice(log_of(ctx), "%s/%s, %s, %s: installed (reused the build for %s: %s kernels)", j->m, j->v, j->k,
			  j->a, j->from, j->how);
	else if (j->result == 0 && j->built_already)
		rk_notice(log_of(ctx), "%s/%s, %s, %s: installed (already built)", j->m, j->v, j->k, j->a);
	else if (j->result == 0)
		rk_notice(log_of(ctx), "%s/%s, %s, %s: installed (built in %.1fs)", j->m, j->v, j->k, j->a,
			  j->seconds);
	else if (j->result == REKMOD_E_SKIPPED)
		rk_notice(log_of(ctx), "%s/%s, %s, %s: skipped (BUILD_EXCLUSIVE)", j->m, j->v, j->k, j->a);
	else
		say_failure(ctx, j);
	(void)p;
}

static const struct job_report sync_report = { .started = sync_started, .finished = sync_finished };

/* kernels the tree knows (builds, markers) that have neither image nor headers */
static void vanished_kernels(const struct rekmod_ctx *ctx, char ***out)
{
	_cleanup_strv_free_ char **added = tree_list_added(ctx, NULL);
	for (size_t i = 0; added[i]; i++) {
		_cleanup_free_ char *d = xasprintf("%s/%s", ctx->dkms_tree_path, added[i]);
		_cleanup_strv_free_ char **ks = list_dir(d);
		for (size_t j = 0; ks && ks[j]; j++) {
			if (!kernel_dir_name_ok(ks[j]) || strv_contains(*out, ks[j]))
				continue;
			if (!kernel_has_image(ctx, ks[j]) && !kernel_has_headers(ctx, ks[j]))
				strv_push(out, xstrdup(ks[j]));
		}
	}
}

static int check_kernel_names(struct rekmod_ctx *ctx, const char *const *ks)
{
	for (size_t i = 0; ks && ks[i]; i++) {
		if (!name_is_valid(ks[i])) {
			dk_error(ctx, "invalid kernel version \"%s\": it may hold only letters, digits and . _ + ~ : -; "
				 "pass a kernel release such as 6.1.0-56-amd64",
				 ks[i]);
			return REKMOD_E_GENERIC;
		}
	}
	return 0;
}

/* A -m or --kernel that names nothing is a typo: an error (a warning from a hook). */
static int check_typos(struct rekmod_ctx *ctx, const struct rekmod_sync_options *o)
{
	int bad = 0;
	for (size_t i = 0; o->modules && o->modules[i]; i++) {
		const char *f = o->modules[i];
		_cleanup_free_ char *m = xstrndup(f, strcspn(f, "/"));
		const char *v = f[strlen(m)] ? f + strlen(m) + 1 : NULL;
		if (tree_is_registered(ctx, m) && (!v || (name_is_valid(v) && tree_is_added(ctx, m, v))))
			continue;
		rk_logf(log_of(ctx), o->hook ? LOG_WARNING : LOG_ERR,
			"%s sync -m %s: no such module%s in %s; rekmod status lists the registered ones",
			o->hook ? "Warning:" : "Error!", f, v ? " version" : "", ctx->dkms_tree_path);
		bad = REKMOD_E_GENERIC;
	}
	for (size_t i = 0; o->kernels && o->kernels[i]; i++) {
		_cleanup_free_ char *d = xasprintf("%s/%s", ctx->install_tree_path, o->kernels[i]);
		if (is_dir(d))
			continue;
		rk_logf(log_of(ctx), o->hook ? LOG_WARNING : LOG_ERR,
			"%s sync --kernel %s: no such kernel in %s; pass the name of one of its directories",
			o->hook ? "Warning:" : "Error!",
			o->kernels[i], ctx->install_tree_path);
		bad = REKMOD_E_GENERIC;
	}
	return o->hook ? 0 : bad;
}

static void plan_sync(struct rekmod_ctx *ctx, struct plan *p, const struct rekmod_sync_options *o)
{
	_cleanup_strv_free_ char **removed = NULL;
	for (size_t i = 0; o->removed && o->removed[i]; i++)
		strv_push(&removed, xstrdup(o->removed[i]));
	vanished_kernels(ctx, &removed);
	for (size_t i = 0; removed && removed[i]; i++)
		plan_kernel_removed(ctx, p, removed[i]);
	size_t first = p->nk;
	if (o->kernels && o->kernels[0]) {
		for (size_t i = 0; o->kernels[i]; i++)
			plan_kernel(p, ctx, o->kernels[i]);
	} else {
		_cleanup_strv_free_ char **ks = kernels_in_tree(ctx, false);
		for (size_t i = 0; ks[i]; i++)
			if (!strv_contains(removed, ks[i]))
				plan_kernel(p, ctx, ks[i]);
	}
	/* removed kernels get no builds: only the kernels after them are planned */
	for (size_t i = 0; i < first; i++)
		p->ks[i].image = p->ks[i].headers = false;
	_cleanup_free_ char *noauto = root_path(ctx, "/etc/dkms/no-autoinstall");
	if (path_exists(noauto))
		/* the cleanup of removed kernels above still happens */
		say(ctx, "Automatic installation of modules has been disabled (%s).", noauto);
	else
		plan_autoinstall(ctx, p, o->modules);
}

_public_ int rekmod_sync(struct rekmod_ctx *ctx, const struct rekmod_sync_options *o,
			 struct rekmod_sync_result *ret)
{
	static const struct rekmod_sync_options none = { 0 };
	if (!o)
		o = &none;
	int r = check_kernel_names(ctx, o->kernels);
	if (r || (r = check_kernel_names(ctx, o->removed)) || (r = check_typos(ctx, o)) || (r = tree_lock(ctx)))
		return r;
	const struct policy pol = {
		.force = ctx->force,
		.parallel = true,
		.honour_skips = true,
		.honour_failures = !o->retry,
		.keep_records = true,
		.post_transaction = true,
		.honour_optouts = true,
		.verb = "sync",
		.rebuild = o->rebuild,
		.reuse = true,
		.report = &sync_report,
	};
	struct plan p = { .pol = &pol, .progress = o->progress, .progress_userdata = o->progress_userdata };
	plan_sync(ctx, &p, o);
	r = plan_execute(ctx, &p);
	if (ret)
		*ret = p.res;
	if (!r && p.res.failed)
		r = REKMOD_E_AUTOINSTALL;
	plan_free(&p);
	tree_unlock(ctx);
	return r;
}
