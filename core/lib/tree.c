/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dkms tree on disk: what is added, built, installed. */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "internal.h"

char *mv_dir(const struct rekmod_ctx *ctx, const char *m, const char *v)
{
	return xasprintf("%s/%s/%s", ctx->dkms_tree_path, m, v);
}

char *build_base(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	return xasprintf("%s/%s/%s/%s/%s", ctx->dkms_tree_path, m, v, k, a);
}

char *kernel_link(const struct rekmod_ctx *ctx, const char *m, const char *k, const char *a)
{
	return xasprintf("%s/%s/kernel-%s-%s", ctx->dkms_tree_path, m, k, a);
}

char *source_dir(const struct rekmod_ctx *ctx, const char *m, const char *v)
{
	_cleanup_free_ char *link = xasprintf("%s/%s/%s/source", ctx->dkms_tree_path, m, v);
	return resolve_link(ctx, link, false);
}

bool tree_is_added(const struct rekmod_ctx *ctx, const char *m, const char *v)
{
	_cleanup_free_ char *d = mv_dir(ctx, m, v);
	_cleanup_free_ char *src = xasprintf("%s/source", d);
	return is_dir(d) && (is_symlink(src) || is_dir(src));
}

/* A build exists when <K>/<A>/module holds at least one module file. */
bool tree_is_built(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	_cleanup_free_ char *mod = xasprintf("%s/module", base);
	_cleanup_strv_free_ char **e = list_dir(mod);
	for (size_t i = 0; e && e[i]; i++)
		if (strstr(e[i], ".ko"))
			return true;
	return false;
}

/* The version in the target of a kernel-<k>-<a> link: "<v>/<k>/<a>" (dkms
 * writes it relative), or NULL when it has another form. */
char *kernel_link_version(const char *target, const char *k, const char *a)
{
	_cleanup_free_ char *suffix = xasprintf("/%s/%s", k, a);
	if (!endswith(target, suffix))
		return NULL;
	_cleanup_free_ char *head = xstrndup(target, strlen(target) - strlen(suffix));
	const char *v = strrchr(head, '/') ? strrchr(head, '/') + 1 : head;
	return xstrdup(v);
}

char *tree_installed_version(const struct rekmod_ctx *ctx, const char *m, const char *k, const char *a)
{
	_cleanup_free_ char *link = kernel_link(ctx, m, k, a);
	char target[PATH_MAX];
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return NULL;
	target[n] = '\0';
	return kernel_link_version(target, k, a);
}

bool tree_is_installed(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	if (!tree_is_built(ctx, m, v, k, a))
		return false;
	_cleanup_free_ char *iv = tree_installed_version(ctx, m, k, a);
	return iv && streq(iv, v);
}

/* dkms globs kernel dirs as +([0-9]).* */
bool kernel_dir_name_ok(const char *name)
{
	const char *p = name;
	while (isdigit((unsigned char)*p))
		p++;
	return p > name && *p == '.';
}

char **tree_list_added(const struct rekmod_ctx *ctx, const char *m)
{
	char **out = xcalloc(1, sizeof(char *));
	_cleanup_strv_free_ char **mods = list_dir(ctx->dkms_tree_path);
	for (size_t i = 0; mods && mods[i]; i++) {
		if (m && !streq(mods[i], m))
			continue;
		_cleanup_free_ char *md = xasprintf("%s/%s", ctx->dkms_tree_path, mods[i]);
		_cleanup_strv_free_ char **vers = list_dir(md);
		for (size_t j = 0; vers && vers[j]; j++)
			if (tree_is_added(ctx, mods[i], vers[j]))
				strv_push(&out, xasprintf("%s/%s", mods[i], vers[j]));
	}
	return out;
}

_public_ bool rekmod_is_added(struct rekmod_ctx *ctx, const char *module, const char *version)
{
	return name_is_valid(module) && name_is_valid(version) && tree_is_added(ctx, module, version);
}

struct ka {
	char *k, *a;
};

static int ka_cmp(const void *x, const void *y)
{
	const struct ka *p = x, *q = y;
	int c = version_compare(p->k, q->k);
	return c ? c : strcmp(p->a, q->a);
}

_public_ int rekmod_built_kernels(struct rekmod_ctx *ctx, const char *m, const char *v, char ***ret_kernels,
				  char ***ret_arches)
{
	_cleanup_free_ char *d = mv_dir(ctx, m, v);
	_cleanup_strv_free_ char **ks = list_dir(d);
	struct ka *list = NULL;
	size_t n = 0;
	for (size_t i = 0; ks && ks[i]; i++) {
		if (!kernel_dir_name_ok(ks[i]))
			continue;
		_cleanup_free_ char *kd = xasprintf("%s/%s", d, ks[i]);
		_cleanup_strv_free_ char **as = list_dir(kd);
		for (size_t j = 0; as && as[j]; j++) {
			if (as[j][0] == '.' || !tree_is_built(ctx, m, v, ks[i], as[j]))
				continue;
			list = xrealloc(list, (n + 1) * sizeof(*list));
			list[n].k = xstrdup(ks[i]);
			list[n].a = xstrdup(as[j]);
			n++;
		}
	}
	if (n)
		qsort(list, n, sizeof(*list), ka_cmp);
	char **kv = xcalloc(n + 1, sizeof(char *)), **av = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		kv[i] = list[i].k;
		av[i] = list[i].a;
	}
	free(list);
	*ret_kernels = kv;
	*ret_arches = av;
	return 0;
}
