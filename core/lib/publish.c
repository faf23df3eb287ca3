/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* rekmod publish: one module built for a fleet's kernels and published in a
 * package repository with the distribution's own tools.
 *
 *   1. the repository says which <m>-modules-<K> it has at this version
 *      (reprepro list; the rpm files of the directory): those are skipped;
 *   2. a kernel without headers here gets them from the archive (archive.c);
 *   3. the builds are one plan (REKMOD_VERB_PUBLISH: JOB_AUTO without the
 *      install, in parallel under the jobserver), the modules signed with
 *      the configured MOK as every build is;
 *   4. one binaries-only package per kernel (mkdeb/mkrpm), added with
 *      `reprepro includedeb` (conf/distributions written when missing, with
 *      SignWith: publish_gpg_key) or copied and indexed by `createrepo_c`. */
#include <sys/stat.h>

#include "internal.h"

static int tool(struct rekmod_ctx *ctx, const char *const *argv, const char *what)
{
	int st = 0;
	int r = run_logged(ctx, argv, NULL, &st);
	if (r < 0 || st != 0) {
		_cleanup_free_ char *how = r < 0 ? xstrdup(strerror(-r)) : xasprintf("exited %d", st);
		dk_error(ctx, "%s: %s %s (run with --verbose for its output)", what, argv[0], how);
		return REKMOD_E_GENERIC;
	}
	return 0;
}

static char *suite_of(const struct rekmod_ctx *ctx, const char *suite)
{
	if (suite)
		return xstrdup(suite);
	_cleanup_free_ char *osr = root_path(ctx, "/etc/os-release"), *text = NULL;
	char *c = read_file(osr, &text, NULL) == 0 ? text_value(text, "VERSION_CODENAME") : NULL;
	if (c && *c)
		return c;
	free(c);
	return xstrdup("stable");
}

/* conf/distributions of a new apt repository (an existing one is the user's). */
static int apt_repo_init(struct rekmod_ctx *ctx, const char *repo, const char *suite)
{
	_cleanup_free_ char *conf = xasprintf("%s/conf", repo);
	_cleanup_free_ char *dist = xasprintf("%s/distributions", conf);
	if (path_exists(dist))
		return 0;
	int r = mkdir_p(conf, 0755);
	struct strbuf b = { 0 };
	sb_printf(&b,
		  "Origin: rekmod\nLabel: rekmod\nCodename: %s\nArchitectures: amd64 arm64 i386 armhf ppc64el s390x "
		  "riscv64\nComponents: main\nDescription: kernel modules prebuilt by rekmod publish\n",
		  suite);
	if (ctx->publish_gpg_key && *ctx->publish_gpg_key)
		sb_printf(&b, "SignWith: %s\n", ctx->publish_gpg_key);
	_cleanup_free_ char *text = sb_steal(&b);
	if (r == 0)
		r = write_file_atomic(dist, text, strlen(text), 0644);
	if (r < 0) {
		dk_error(ctx, "could not write %s: %s", dist, strerror(-r));
		return REKMOD_E_NOPERM;
	}
	return 0;
}

/* "name version" of every package of suite (reprepro list). */
static char **apt_repo_list(struct rekmod_ctx *ctx, const char *repo, const char *suite)
{
	const char *argv[] = { "reprepro", "-b", repo, "--list-format", "${package} ${version}\\n", "list", suite,
			       NULL };
	struct rk_spawn sp = { .argv = argv, .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1 };
	_cleanup_free_ char *out = NULL;
	int st = 0;
	char **v = xcalloc(1, sizeof(char *));
	if (rk_run_capture(&sp, &out, NULL, &st) < 0 || st != 0)
		return v;
	for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		strv_push(&v, xstrdup(l));
	return v;
}

/* Does the repository hold <m>-modules-<k> at version v? */
static bool repo_has(const struct rekmod_publish_options *o, char *const *listed, const char *m, const char *v,
		     const char *k)
{
	_cleanup_free_ char *pkg = pack_binary_name(m, k);
	if (!o->rpm) {
		_cleanup_free_ char *want = xasprintf("%s %s", pkg, v);
		return strv_contains(listed, want);
	}
	return publish_rpm_listed(listed, pkg, v);
}

bool publish_rpm_listed(char *const *files, const char *pkg, const char *v)
{
	_cleanup_free_ char *ver = pack_rpm_version(v);
	_cleanup_free_ char *prefix = xasprintf("%s-%s-", pkg, ver);
	for (size_t i = 0; files && files[i]; i++)
		if (startswith(files[i], prefix) && endswith(files[i], ".rpm"))
			return true;
	return false;
}

/* The package of m/v for kernel k, built into a fresh directory, then added to the repository. */
static int publish_one(struct rekmod_ctx *ctx, const struct rekmod_publish_options *o, const char *suite,
		       const char *m, const char *v, const char *k)
{
	_cleanup_free_ char *stage = xasprintf("%s/.rekmod-incoming.XXXXXX", o->repo);
	if (!mkdtemp(stage)) {
		dk_error(ctx, "could not create a directory in %s: %s", o->repo, strerror(errno));
		return REKMOD_E_NOPERM;
	}
	const char *ks[] = { k, NULL };
	struct rekmod_pack_options po = { .module = m, .version = v, .kernels = ks, .binaries_only = true,
					  .archive = stage };
	int r = o->rpm ? rekmod_mkrpm(ctx, &po) : rekmod_mkdeb(ctx, &po);
	_cleanup_strv_free_ char **files = r == 0 ? list_dir(stage) : NULL;
	for (size_t i = 0; r == 0 && files && files[i]; i++) {
		_cleanup_free_ char *f = xasprintf("%s/%s", stage, files[i]);
		_cleanup_free_ char *dst = xasprintf("%s/%s", o->repo, files[i]);
		if (!o->rpm && endswith(f, ".deb")) {
			const char *argv[] = { "reprepro", "-b", o->repo, "includedeb", suite, f, NULL };
			r = tool(ctx, argv, "could not add the package to the repository");
		} else if (o->rpm && endswith(f, ".rpm") && rename(f, dst) < 0) {
			dk_error(ctx, "could not move %s into %s: %s", f, o->repo, strerror(errno));
			r = REKMOD_E_GENERIC;
		}
	}
	rm_rf(stage);
	return r;
}

/* The (module, version, kernel) builds still to publish: m[i], v[i], k[i]. */
struct triples {
	char **m, **v, **k;
};

static void triples_free(struct triples *t)
{
	strv_free(t->m);
	strv_free(t->v);
	strv_free(t->k);
}

/* m/v for every kernel the repository lacks it for, with headers here or from the archive */
static int plan_module(struct rekmod_ctx *ctx, const struct rekmod_publish_options *o, char *const *listed,
		       const char *m, const char *v, struct triples *t, struct rekmod_publish_result *res)
{
	int r = 0;
	for (size_t i = 0; o->kernels[i]; i++) {
		const char *k = o->kernels[i];
		if (repo_has(o, listed, m, v, k)) {
			say(ctx, "%s/%s for kernel %s is in %s already, skip.", m, v, k, o->repo);
			res->present++;
			continue;
		}
		int h = kernel_has_headers(ctx, k) ? 0 : archive_fetch_headers(ctx, k);
		if (h) {
			res->failed++;
			r = h;
			continue;
		}
		strv_push(&t->m, xstrdup(m));
		strv_push(&t->v, xstrdup(v));
		strv_push(&t->k, xstrdup(k));
	}
	return r;
}

static int check_module(struct rekmod_ctx *ctx, const char *m, const char *v)
{
	if (!m || !v || !name_is_valid(m) || !name_is_valid(v)) {
		dk_error(ctx, "publish needs modules and versions: rekmod publish m/v [-m m2/v2]... -k K --repo DIR");
		return REKMOD_E_GENERIC;
	}
	if (!tree_is_added(ctx, m, v)) {
		dk_error(ctx, "The module/version combo: %s-%s is not located in the DKMS tree.", m, v);
		return REKMOD_E_EXISTS;
	}
	return 0;
}

static int check_publish(struct rekmod_ctx *ctx, const struct rekmod_publish_options *o)
{
	if (!o->repo || !*o->repo || !o->kernels || !o->kernels[0]) {
		dk_error(ctx, "publish needs m/v, at least one kernel (-k K or --kernels-file FILE) and --repo DIR");
		return REKMOD_E_GENERIC;
	}
	for (size_t i = 0; o->kernels[i]; i++)
		if (!name_is_valid(o->kernels[i])) {
			dk_error(ctx, "invalid kernel version \"%s\": a release holds letters, digits and . _ + ~ : -",
				 o->kernels[i]);
			return REKMOD_E_GENERIC;
		}
	const char *need = o->rpm ? "createrepo_c" : "reprepro";
	const char *argv[] = { need, "--version", NULL };
	struct rk_spawn sp = { .argv = argv, .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1 };
	int st = 0;
	if (rk_run(&sp, &st) < 0 || st == 127) {
		dk_error(ctx, "%s is not installed: install it to publish an %s repository", need, o->rpm ? "rpm" : "apt");
		return REKMOD_E_GENERIC;
	}
	int r = mkdir_p(o->repo, 0755);
	if (r < 0) {
		dk_error(ctx, "could not create the repository directory %s: %s", o->repo, strerror(-r));
		return REKMOD_E_NOPERM;
	}
	return 0;
}

/* The builds, one plan; then the packages of what built. */
static int build_and_publish(struct rekmod_ctx *ctx, const struct rekmod_publish_options *o, const char *suite,
			     const struct triples *t, struct rekmod_publish_result *res)
{
	int r = t->m && t->m[0] ? run_publish_builds(ctx, t->m, t->v, t->k) : 0;
	for (size_t i = 0; t->m && t->m[i]; i++) {
		if (!tree_is_built(ctx, t->m[i], t->v[i], t->k[i], ctx->arch)) {
			res->failed++;
			continue;
		}
		int p = publish_one(ctx, o, suite, t->m[i], t->v[i], t->k[i]);
		if (p) {
			res->failed++;
			r = p;
		} else {
			res->published++;
		}
	}
	if (r == 0 && o->rpm && res->published) {
		const char *argv[] = { "createrepo_c", "--update", "-q", o->repo, NULL };
		r = tool(ctx, argv, "could not index the rpm repository");
	}
	return r;
}

/* o->module/o->version, then each "m/v" of o->modules, into ms and vs */
static int publish_modules(struct rekmod_ctx *ctx, const struct rekmod_publish_options *o, char ***ms, char ***vs)
{
	int r = check_module(ctx, o->module, o->version);
	if (r)
		return r;
	strv_push(ms, xstrdup(o->module));
	strv_push(vs, xstrdup(o->version));
	for (size_t i = 0; o->modules && o->modules[i]; i++) {
		const char *slash = strchr(o->modules[i], '/');
		_cleanup_free_ char *m = slash ? xstrndup(o->modules[i], (size_t)(slash - o->modules[i])) : NULL;
		if ((r = check_module(ctx, m, slash ? slash + 1 : NULL)))
			return r;
		if (streq(m, o->module) && streq(slash + 1, o->version))
			continue;
		strv_push(ms, xstrdup(m));
		strv_push(vs, xstrdup(slash + 1));
	}
	return 0;
}

/* The repository, the header cache, the builds and the packages: under the
 * tree lock, so that what was built is what is packaged and no other rekmod
 * fetches into the cache meanwhile. */
static int publish_locked(struct rekmod_ctx *ctx, const struct rekmod_publish_options *o, char *const *ms,
			  char *const *vs, struct rekmod_publish_result *res)
{
	_cleanup_free_ char *suite = suite_of(ctx, o->suite);
	int r = o->rpm ? 0 : apt_repo_init(ctx, o->repo, suite);
	if (r)
		return r;
	_cleanup_strv_free_ char **listed = o->rpm ? list_dir(o->repo) : apt_repo_list(ctx, o->repo, suite);
	struct triples t = { 0 };
	int fr = 0;
	for (size_t i = 0; ms[i]; i++) {
		int x = plan_module(ctx, o, listed, ms[i], vs[i], &t, res);
		fr = x ? x : fr;
	}
	r = build_and_publish(ctx, o, suite, &t, res);
	triples_free(&t);
	say(ctx, "publish: %u package(s) added to %s, %u there already, %u failed.", res->published, o->repo,
	    res->present, res->failed);
	return r ? r : fr;
}

_public_ int rekmod_publish(struct rekmod_ctx *ctx, const struct rekmod_publish_options *o,
			    struct rekmod_publish_result *ret)
{
	struct rekmod_publish_result res = { 0 };
	_cleanup_strv_free_ char **ms = NULL, **vs = NULL;
	int r = check_publish(ctx, o);
	if (r || (r = publish_modules(ctx, o, &ms, &vs)) || (r = tree_lock(ctx)))
		return r;
	r = publish_locked(ctx, o, ms, vs, &res);
	tree_unlock(ctx);
	if (ret)
		*ret = res;
	return r;
}
