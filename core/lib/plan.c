/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plans: desired state - actual state = jobs. The verbs build theirs from
 * these pieces; jobs.c runs them. */
#include "plan.h"
#include "reuse.h"

struct job *plan_add(struct plan *p, enum job_kind kind, const char *m, const char *v, const char *k, const char *a)
{
	p->jobs = xrealloc(p->jobs, (p->n + 1) * sizeof(*p->jobs));
	struct job *j = &p->jobs[p->n++];
	*j = (struct job){ .kind = kind, .m = xstrdup(m), .v = xstrdup(v), .k = k ? xstrdup(k) : NULL,
			   .a = a ? xstrdup(a) : NULL, .state = J_WAIT, .pid = -1, .msgfd = -1 };
	return j;
}

struct kern *plan_kernel(struct plan *p, const struct rekmod_ctx *ctx, const char *k)
{
	for (size_t i = 0; i < p->nk; i++)
		if (streq(p->ks[i].k, k))
			return &p->ks[i];
	p->ks = xrealloc(p->ks, (p->nk + 1) * sizeof(*p->ks));
	p->ks[p->nk] = (struct kern){ .k = xstrdup(k), .headers = kernel_has_headers(ctx, k),
				      .image = kernel_has_image(ctx, k) };
	return &p->ks[p->nk++];
}

bool module_wanted(const char *const *filters, const char *m, const char *v)
{
	if (!filters || !filters[0])
		return true;
	for (size_t i = 0; filters[i]; i++) {
		const char *f = filters[i];
		size_t n = strcspn(f, "/");
		if (strlen(m) == n && strncmp(f, m, n) == 0 && (!f[n] || streq(f + n + 1, v)))
			return true;
	}
	return false;
}

/* registered modules the filters want: "m/v", the newest version of each m */
static char **newest_versions(const struct rekmod_ctx *ctx, const char *const *filters)
{
	_cleanup_strv_free_ char **added = tree_list_added(ctx, NULL);
	char **out = NULL;
	for (size_t i = 0; added[i]; i++) {
		char *slash = strchr(added[i], '/');
		*slash = '\0';
		if (!module_wanted(filters, added[i], slash + 1))
			continue;
		size_t n = strv_len(out), len = strlen(added[i]);
		if (n && !strncmp(out[n - 1], added[i], len) && out[n - 1][len] == '/') {
			if (version_compare(slash + 1, out[n - 1] + len + 1) > 0) {
				free(out[n - 1]);
				out[n - 1] = xasprintf("%s/%s", added[i], slash + 1);
			}
			continue;
		}
		strv_push(&out, xasprintf("%s/%s", added[i], slash + 1));
	}
	return out;
}

/* Does m/v on kn need a job? Counts what it skips. */
static bool needs_job(struct rekmod_ctx *ctx, struct plan *p, struct kern *kn, const char *m, const char *v)
{
	const char *a = ctx->arch;
	if (p->pol->honour_optouts && tree_optout(ctx, m, kn->k, a)) {
		rk_info(log_of(ctx), "%s/%s stays off %s: the user removed it (rekmod install %s/%s -k %s brings it back)",
			m, v, kn->k, m, v, kn->k);
		return false;
	}
	_cleanup_free_ char *iv = tree_installed_version(ctx, m, kn->k, a);
	if (iv && p->pol->any_version)
		return false;
	if (p->pol->rebuild)
		return true;
	if (iv && streq(iv, v) && tree_is_built(ctx, m, v, kn->k, a) && !tree_intent_exists(ctx, m, v, kn->k, a))
		return false; /* the common case: nothing to read, nothing to do (no install a crash cut short) */
	if (p->pol->honour_skips && tree_record_matches(ctx, RECORD_SKIPPED, m, v, kn->k, a)) {
		p->res.skipped++;
		return false;
	}
	if (p->pol->honour_failures && tree_record_matches(ctx, RECORD_FAILED, m, v, kn->k, a)) {
		p->res.failed++;
		return false;
	}
	return true;
}

static void wait_for_headers(struct rekmod_ctx *ctx, struct plan *p, struct kern *kn, const char *m, const char *v)
{
	strv_push(&p->waiting, xasprintf("%s/%s", m, v));
	p->res.waiting++;
	if (!kn->headers_pkg)
		kn->headers_pkg = headers_package_hint(ctx, kn->k);
	/* a warning: sync -q (hooks) still says it */
	rk_warn(log_of(ctx), "%s/%s waits for kernel headers of %s: install %s", m, v, kn->k, kn->headers_pkg);
}

/* The one decision of reuse: a build of m/v for an equivalent kernel is copied, not compiled. */
static void plan_reuse(struct rekmod_ctx *ctx, struct plan *p, struct job *j, const struct dkms_conf *c)
{
	if (!p->pol->reuse || p->pol->force || p->pol->rebuild || tree_is_built(ctx, j->m, j->v, j->k, j->a))
		return;
	const char *how = NULL;
	j->from = reuse_source(ctx, c, j->m, j->v, j->k, j->a, &how);
	if (j->from) {
		j->kind = JOB_REUSE;
		j->how = how;
	}
}

static void plan_module(struct rekmod_ctx *ctx, struct plan *p, struct kern *kn, const char *m, const char *v)
{
	const char *a = ctx->arch;
	if (!needs_job(ctx, p, kn, m, v))
		return;
	struct dkms_conf *c = NULL;
	struct conf_req req = { .module = m, .version = v, .kernel = kn->k, .arch = a };
	if (conf_read(ctx, &req, &c)) {
		strv_push(&p->broken, xasprintf("%s/%s", m, v));
		p->res.failed++;
		return;
	}
	if (!c->autoinstall) {
		dkms_conf_free(c);
		return;
	}
	if (!kn->headers) {
		wait_for_headers(ctx, p, kn, m, v);
	} else if (c->build_exclude && p->pol->honour_skips) {
		/* nothing to build, nothing to say: a record, so the next run reads no dkms.conf */
		free(tree_record_write(ctx, RECORD_SKIPPED, m, v, kn->k, a, REKMOD_E_SKIPPED));
		p->res.skipped++;
	} else {
		struct job *j = plan_add(p, JOB_AUTO, m, v, kn->k, a);
		for (size_t d = 0; c->build_depends && c->build_depends[d]; d++)
			strv_push(&j->deps, xstrdup(c->build_depends[d]));
		plan_reuse(ctx, p, j, c);
	}
	dkms_conf_free(c);
}

static bool planned(const struct plan *p, const char *m, const char *k)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->jobs[i].k && streq(p->jobs[i].k, k) && streq(p->jobs[i].m, m))
			return true;
	return false;
}

/* A dependency planned for the same kernel is waited for; one installed
 * there already is met; one registered but neither is missing; one the tree
 * does not know defers the job (dkms 3.x: not run, said, not a failure).
 * Returns the deferring dependencies, " d1 d2", or NULL. */
static char *resolve_deps(struct rekmod_ctx *ctx, struct plan *p, struct job *j)
{
	char **keep = NULL;
	struct strbuf unknown = { 0 };
	for (size_t d = 0; j->deps && j->deps[d]; d++) {
		const char *dep = j->deps[d];
		_cleanup_free_ char *iv = name_is_valid(dep) ? tree_installed_version(ctx, dep, j->k, j->a) : NULL;
		if (planned(p, dep, j->k))
			strv_push(&keep, xstrdup(dep));
		else if (!iv && tree_is_registered(ctx, dep))
			strv_push(&j->missing, xstrdup(dep));
		else if (!iv)
			sb_printf(&unknown, " %s", dep);
	}
	strv_free(j->deps);
	j->deps = keep;
	return unknown.len ? sb_steal(&unknown) : NULL;
}

static void job_free(struct job *j)
{
	free(j->m);
	free(j->v);
	free(j->k);
	free(j->a);
	strv_free(j->deps);
	strv_free(j->missing);
	free(j->log);
	free(j->why);
	free(j->from);
	if (j->msgfd >= 0)
		close(j->msgfd);
}

/* the jobs from first on, their dependencies resolved; a deferred one leaves the plan */
static void resolve_all(struct rekmod_ctx *ctx, struct plan *p, size_t first)
{
	size_t w = first;
	for (size_t i = first; i < p->n; i++) {
		struct job *j = &p->jobs[i];
		_cleanup_free_ char *unknown = resolve_deps(ctx, p, j);
		if (unknown) {
			strv_push(&p->deferred, xasprintf("%s/%s%s", j->m, j->v, unknown));
			job_free(j);
			continue;
		}
		p->jobs[w++] = *j;
	}
	p->n = w;
}

void plan_autoinstall(struct rekmod_ctx *ctx, struct plan *p, const char *const *filters)
{
	_cleanup_strv_free_ char **mods = newest_versions(ctx, filters);
	size_t first = p->n;
	for (size_t i = 0; i < p->nk; i++) {
		struct kern *kn = &p->ks[i];
		if (!kn->headers && !kn->image)
			continue;
		for (size_t x = 0; mods && mods[x]; x++) {
			_cleanup_free_ char *m = xstrndup(mods[x], strcspn(mods[x], "/"));
			plan_module(ctx, p, kn, m, strchr(mods[x], '/') + 1);
		}
	}
	resolve_all(ctx, p, first);
}

void plan_kernel_removed(struct rekmod_ctx *ctx, struct plan *p, const char *k)
{
	_cleanup_strv_free_ char **added = tree_list_added(ctx, NULL);
	plan_kernel(p, ctx, k)->removed = true;
	for (size_t i = 0; added[i]; i++) {
		char *slash = strchr(added[i], '/');
		*slash = '\0';
		plan_add(p, JOB_UNBUILD, added[i], slash + 1, k, ctx->arch);
	}
}

/* ---- BUILD_DEPENDS cycles ---- */

struct dfs {
	struct plan *p;
	struct rekmod_ctx *ctx;
	int *color; /* 0 unvisited, 1 on the stack, 2 done */
	size_t *stack, depth;
};

static void fail_cycle(struct dfs *g, size_t x)
{
	struct plan *p = g->p;
	struct strbuf path = { 0 };
	size_t from = g->depth;
	while (from > 0 && g->stack[from - 1] != x)
		from--;
	for (size_t y = from - 1; y < g->depth; y++) {
		struct job *j = &p->jobs[g->stack[y]];
		sb_printf(&path, "%s -> ", j->m);
		if (j->state != J_DONE) {
			j->state = J_DONE;
			j->result = REKMOD_E_DEPENDS;
			p->res.failed++;
		}
	}
	sb_puts(&path, p->jobs[x].m);
	/* dkms 3.x's autoinstall says only "... autoinstall failed due to
	 * missing dependencies: ..." (verbs.c): there the cycle is at --verbose */
	const char *verb = p->pol ? p->pol->verb : NULL;
	bool dkms = verb && (streq(verb, "autoinstall") || streq(verb, "kernel_postinst"));
	rk_logf(log_of(g->ctx), dkms ? LOG_INFO : LOG_ERR,
		"%sBUILD_DEPENDS cycle for kernel %s: %s; remove one of these dependencies", dkms ? "" : "Error! ",
		p->jobs[x].k, path.s);
	sb_free(&path);
}

static void dfs_visit(struct dfs *g, size_t i)
{
	struct plan *p = g->p;
	g->color[i] = 1;
	g->stack[g->depth++] = i;
	for (size_t d = 0; p->jobs[i].deps && p->jobs[i].deps[d]; d++) {
		for (size_t x = 0; x < p->n; x++) {
			if (!p->jobs[x].k || !streq(p->jobs[x].k, p->jobs[i].k) ||
			    !streq(p->jobs[x].m, p->jobs[i].deps[d]))
				continue;
			if (g->color[x] == 0)
				dfs_visit(g, x);
			else if (g->color[x] == 1)
				fail_cycle(g, x);
		}
	}
	g->depth--;
	g->color[i] = 2;
}

void plan_fail_cycles(struct rekmod_ctx *ctx, struct plan *p)
{
	struct dfs g = { .p = p, .ctx = ctx, .color = xcalloc(p->n + 1, sizeof(int)),
			 .stack = xcalloc(p->n + 1, sizeof(size_t)) };
	for (size_t i = 0; i < p->n; i++)
		if (g.color[i] == 0 && p->jobs[i].k)
			dfs_visit(&g, i);
	free(g.color);
	free(g.stack);
}

void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		job_free(&p->jobs[i]);
	free(p->jobs);
	for (size_t i = 0; i < p->nk; i++) {
		free(p->ks[i].k);
		free(p->ks[i].headers_pkg);
	}
	free(p->ks);
	strv_free(p->broken);
	strv_free(p->waiting);
	strv_free(p->deferred);
	*p = (struct plan){ 0 };
}
