/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* autoinstall -k K: every AUTOINSTALL module at its newest version, in
 * BUILD_DEPENDS order; one broken registration never stops the others;
 * depmod once at the end. */
#include "internal.h"

struct job {
	char *m, *v;
	char **deps; /* BUILD_DEPENDS not installed yet */
	int result;  /* -1: not run yet */
};

static void jobs_free(struct job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(jobs[i].m);
		free(jobs[i].v);
		strv_free(jobs[i].deps);
	}
	free(jobs);
}

/* The newest AUTOINSTALL version of every module not installed for k/a yet.
 * installed: modules already installed (any version). */
static struct job *plan(struct rekmod_ctx *ctx, const char *k, const char *a, size_t *ret_n, char ***installed,
			char ***broken)
{
	_cleanup_strv_free_ char **added = tree_list_added(ctx, NULL);
	struct job *jobs = NULL;
	size_t n = 0;
	for (size_t i = 0; added[i]; i++) {
		char *slash = strchr(added[i], '/');
		*slash = '\0';
		const char *m = added[i], *v = slash + 1;
		_cleanup_free_ char *iv = tree_installed_version(ctx, m, k, a);
		if (iv) {
			if (!strv_contains(*installed, m))
				strv_push(installed, xstrdup(m));
			continue;
		}
		struct dkms_conf *c = NULL;
		struct conf_req req = { .module = m, .version = v, .kernel = k, .arch = a };
		if (conf_read(ctx, &req, &c)) {
			strv_push(broken, xasprintf("%s/%s", m, v));
			continue;
		}
		if (!c->autoinstall) {
			dkms_conf_free(c);
			continue;
		}
		struct job *j = NULL;
		for (size_t x = 0; x < n; x++)
			if (streq(jobs[x].m, m))
				j = &jobs[x];
		if (j && version_compare(v, j->v) <= 0) {
			dkms_conf_free(c);
			continue;
		}
		if (!j) {
			jobs = xrealloc(jobs, (n + 1) * sizeof(*jobs));
			j = &jobs[n++];
			j->m = xstrdup(m);
		} else {
			free(j->v);
			strv_free(j->deps);
		}
		j->v = xstrdup(v);
		j->deps = NULL;
		j->result = -1;
		for (size_t d = 0; c->build_depends && c->build_depends[d]; d++)
			strv_push(&j->deps, xstrdup(c->build_depends[d]));
		dkms_conf_free(c);
	}
	/* a module installed in another version needs nothing */
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (strv_contains(*installed, jobs[i].m)) {
			free(jobs[i].m);
			free(jobs[i].v);
			strv_free(jobs[i].deps);
			continue;
		}
		jobs[w++] = jobs[i];
	}
	*ret_n = w;
	return jobs;
}

static bool deps_met(const struct job *j, char *const *installed)
{
	for (size_t d = 0; j->deps && j->deps[d]; d++)
		if (!strv_contains(installed, j->deps[d]))
			return false;
	return true;
}

static void summary(struct rekmod_ctx *ctx, const char *k, const struct job *jobs, size_t n, int want,
		    const char *what)
{
	struct strbuf b = { 0 };
	for (size_t i = 0; i < n; i++) {
		bool match = want == -2 ? (jobs[i].result > 0 && jobs[i].result != REKMOD_E_SKIPPED)
					: jobs[i].result == want;
		if (!match)
			continue;
		sb_printf(&b, " %s", jobs[i].m);
		if (want == -2)
			sb_printf(&b, "(%d)", jobs[i].result);
	}
	if (b.len)
		say(ctx, "Autoinstall on %s %s for module(s)%s.", k, what, b.s);
	sb_free(&b);
}

_public_ int rekmod_autoinstall(struct rekmod_ctx *ctx, const char *k, const char *a)
{
	a = a && *a ? a : ctx->arch;
	if (!name_is_valid(k) || !name_is_valid(a)) {
		dk_error(ctx, "invalid kernel version \"%s\" or arch \"%s\"; pass one path component", k ? k : "",
			 a);
		return REKMOD_E_GENERIC;
	}
	_cleanup_free_ char *noauto = root_path(ctx, "/etc/dkms/no-autoinstall");
	if (path_exists(noauto)) {
		say(ctx, "Automatic installation of modules has been disabled.");
		return 0;
	}
	int r = tree_lock(ctx);
	if (r)
		return r;
	_cleanup_strv_free_ char **installed = NULL, **broken = NULL;
	size_t n = 0;
	struct job *jobs = plan(ctx, k, a, &n, &installed, &broken);
	bool progress = true, any = false;
	while (progress) {
		progress = false;
		for (size_t i = 0; i < n; i++) {
			struct job *j = &jobs[i];
			if (j->result != -1 || !deps_met(j, installed))
				continue;
			say(ctx, "Autoinstall of module %s/%s for kernel %s (%s)", j->m, j->v, k, a);
			j->result = 0;
			if (!tree_is_installed(ctx, j->m, j->v, k, a)) {
				if (!tree_is_built(ctx, j->m, j->v, k, a))
					j->result = do_build(ctx, j->m, j->v, k, a);
				if (j->result == 0)
					j->result = do_install(ctx, j->m, j->v, k, a, false);
			}
			if (j->result == 0) {
				strv_push(&installed, xstrdup(j->m));
				any = true;
			}
			progress = true;
		}
	}
	if (any) {
		int d = run_depmod(ctx, k);
		if (d < 0)
			dk_warn(ctx, "depmod failed for kernel %s", k);
		else if (d == 0)
			say(ctx, "Running depmod... done.");
	}
	summary(ctx, k, jobs, n, 0, "succeeded");
	summary(ctx, k, jobs, n, REKMOD_E_SKIPPED, "was skipped");
	summary(ctx, k, jobs, n, -2, "failed");
	bool failed = broken && broken[0];
	for (size_t i = 0; broken && broken[i]; i++)
		dk_error(ctx, "%s: its dkms.conf could not be read; it was not autoinstalled", broken[i]);
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].result == -1) {
			_cleanup_free_ char *d = NULL;
			struct strbuf b = { 0 };
			for (size_t x = 0; jobs[i].deps && jobs[i].deps[x]; x++)
				if (!strv_contains(installed, jobs[i].deps[x]))
					sb_printf(&b, "%s%s", b.len ? " " : "", jobs[i].deps[x]);
			d = sb_steal(&b);
			say(ctx, "%s/%s autoinstall failed due to missing dependencies: %s", jobs[i].m, jobs[i].v, d);
			failed = true;
		} else if (jobs[i].result > 0 && jobs[i].result != REKMOD_E_SKIPPED) {
			failed = true;
		}
	}
	jobs_free(jobs, n);
	tree_unlock(ctx);
	if (failed) {
		dk_error(ctx, "One or more modules failed to install during autoinstall.\nRefer to previous errors for "
			 "more information.");
		return REKMOD_E_AUTOINSTALL;
	}
	return 0;
}
