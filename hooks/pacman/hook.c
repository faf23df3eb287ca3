/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rekmod-alpm-hook: the body of rekmod's alpm hooks (71-rekmod-install.hook,
 * 50-rekmod-remove.hook). It reads the targets pacman passes on stdin
 * (NeedsTargets), validates them, derives the kernels and module sources
 * they name, and execs one `rekmod sync --hook ...` with an explicit argv.
 * It never fails the transaction: the exit status is 0 whatever happens,
 * every error is one line on stderr.
 *
 *   rekmod-alpm-hook [--root DIR] [--rekmod PATH] [--print] install|remove
 *
 * install  usr/lib/modules/<K>/...    -> rekmod sync --hook --kernel K...
 *          usr/src/<m>-<v>/dkms.conf  -> rekmod add /usr/src/<m>-<v> (unless
 *                                        registered), sync --hook -m m/v...
 *          both                       -> rekmod sync --hook (everything)
 *          a kernel without headers: one line naming its headers package
 *          (libalpm, see alpmdb.c)
 * remove   usr/lib/modules/<K>/...    -> rekmod sync --hook --removed K...
 *          usr/src/<m>-<v>/dkms.conf  -> rekmod remove -m m -v v --all first
 * --root and --print (show the commands instead of running them) are for
 * tests; pacman runs hooks chrooted into its RootDir. */
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rekmod-alpm.h"
#include "util.h"

#ifndef REKMOD_SBIN
#define REKMOD_SBIN "/usr/sbin/rekmod"
#endif
#define DKMS_TREE "/var/lib/dkms"

static const char *prog = "rekmod-alpm-hook";

struct hook {
	const char *root; /* NULL: "/" */
	const char *rekmod;
	bool print;
	char **kernels, **sources; /* from the targets */
};

static char *in_root(const struct hook *t, const char *path)
{
	return t->root ? xasprintf("%s%s", t->root, path) : xstrdup(path);
}

/* Follows the symlinks of the last component inside the root. */
static char *resolve_in_root(const struct hook *t, const char *path)
{
	char *cur = xstrdup(path);
	for (int i = 0; i < 16; i++) {
		_cleanup_free_ char *full = in_root(t, cur);
		char buf[PATH_MAX];
		ssize_t n = readlink(full, buf, sizeof(buf) - 1);
		if (n < 0)
			break;
		buf[n] = '\0';
		char *next = buf[0] == '/' ? xstrdup(buf)
					   : xasprintf("%.*s/%s", (int)(strrchr(cur, '/') - cur), cur, buf);
		free(cur);
		cur = next;
	}
	return cur;
}

static bool has_headers(const struct hook *t, const char *k)
{
	_cleanup_free_ char *link = xasprintf("/usr/lib/modules/%s/build", k);
	_cleanup_free_ char *dir = resolve_in_root(t, link);
	_cleanup_free_ char *inc = xasprintf("%s/include", dir);
	_cleanup_free_ char *p = in_root(t, inc);
	return is_dir(p);
}

static bool any_module_registered(const struct hook *t)
{
	_cleanup_free_ char *tree = in_root(t, DKMS_TREE);
	_cleanup_strv_free_ char **e = list_dir(tree);
	return e && e[0];
}

static void push_unique(char ***v, const char *s)
{
	if (!strv_contains(*v, s))
		strv_push(v, xstrdup(s));
}

/* Reads the targets; a malformed one is reported and skipped. */
static void read_targets(struct hook *t)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] == '\n')
			line[--n] = '\0';
		if (n == 0)
			continue;
		enum alpm_target_kind kind;
		_cleanup_free_ char *name = NULL;
		if (alpm_target_parse(line, &kind, &name) < 0) {
			fprintf(stderr,
				"%s: target \"%s\": a kernel release (usr/lib/modules/<release>/) or module source "
				"(usr/src/<module>-<version>/) must be one path component, without '..'; ignored\n",
				prog, line);
			continue;
		}
		if (kind == ALPM_TARGET_SOURCE)
			push_unique(&t->sources, name);
		else if (kind != ALPM_TARGET_OTHER)
			push_unique(&t->kernels, name);
	}
}

static void say_argv(const char *const *argv)
{
	for (size_t i = 0; argv[i]; i++)
		printf("%s%s", i ? " " : "", argv[i]);
	putchar('\n');
	fflush(stdout);
}

/* rekmod [--root R] <words...>, run to completion (stdout to stderr). */
static void run_rekmod(const struct hook *t, const char *const *words)
{
	const char *argv[16] = { t->rekmod };
	size_t n = 1;
	if (t->root) {
		argv[n++] = "--root";
		argv[n++] = t->root;
	}
	for (size_t i = 0; words[i] && n < 15; i++)
		argv[n++] = words[i];
	argv[n] = NULL;
	if (t->print) {
		say_argv(argv);
		return;
	}
	int st = 0;
	int r = rk_run(&(struct rk_spawn){ .argv = argv, .stdout_fd = 2, .stderr_fd = 2, .stdin_fd = -1 }, &st);
	if (r < 0)
		fprintf(stderr, "%s: cannot run %s: %s\n", prog, t->rekmod, strerror(-r));
}

/* "<m>-<v>" -> "m/v" as registered in the tree (a name may hold '-'). */
static char *registered_as(const struct hook *t, const char *d)
{
	for (const char *dash = strchr(d, '-'); dash; dash = strchr(dash + 1, '-')) {
		_cleanup_free_ char *m = xstrndup(d, (size_t)(dash - d));
		_cleanup_free_ char *src = xasprintf(DKMS_TREE "/%s/%s/source", m, dash + 1);
		_cleanup_free_ char *p = in_root(t, src);
		struct stat st;
		if (lstat(p, &st) == 0)
			return xasprintf("%s/%s", m, dash + 1);
	}
	return NULL;
}

/* Execs rekmod [--root R] sync --hook [opt each]...; returns only on failure. */
static void exec_sync(const struct hook *t, const char *opt, char *const *each)
{
	_cleanup_strv_free_ char **argv = xcalloc(1, sizeof(char *));
	strv_push(&argv, xstrdup(t->rekmod));
	if (t->root) {
		strv_push(&argv, xstrdup("--root"));
		strv_push(&argv, xstrdup(t->root));
	}
	strv_push(&argv, xstrdup("sync"));
	strv_push(&argv, xstrdup("--hook"));
	for (size_t i = 0; opt && each[i]; i++) {
		strv_push(&argv, xstrdup(opt));
		strv_push(&argv, xstrdup(each[i]));
	}
	if (t->print) {
		say_argv((const char *const *)argv);
		return;
	}
	fflush(NULL);
	execv(argv[0], argv);
	fprintf(stderr, "%s: cannot run %s: %s; run `rekmod sync` by hand\n", prog, argv[0], strerror(errno));
}

static void say_missing_headers(const struct hook *t, const char *k)
{
	char *pkg = NULL;
	int r = rekmod_pkgdb_headers_package(t->root, k, &pkg);
	if (r == 0)
		fprintf(stderr, "%s: kernel %s has no headers (/usr/lib/modules/%s/build): install them with "
			"`pacman -S %s`\n", prog, k, k, pkg);
	else
		fprintf(stderr, "%s: kernel %s has no headers (/usr/lib/modules/%s/build) and no package in the "
			"pacman database gives them: install the headers package of the package that owns "
			"/usr/lib/modules/%s\n", prog, k, k, k);
	free(pkg);
}

static void on_install(struct hook *t)
{
	_cleanup_strv_free_ char **mods = xcalloc(1, sizeof(char *));
	for (size_t i = 0; t->sources[i]; i++) {
		_cleanup_free_ char *mv = registered_as(t, t->sources[i]);
		if (!mv) {
			_cleanup_free_ char *src = xasprintf("/usr/src/%s", t->sources[i]);
			run_rekmod(t, (const char *const[]){ "add", src, NULL });
			mv = registered_as(t, t->sources[i]);
			if (!mv && t->print) /* nothing was added: show the usual split */
				mv = xasprintf("%.*s/%s", (int)(strrchr(t->sources[i], '-') - t->sources[i]),
					       t->sources[i], strrchr(t->sources[i], '-') + 1);
		}
		if (mv)
			push_unique(&mods, mv);
		else if (!t->print)
			fprintf(stderr, "%s: /usr/src/%s/dkms.conf: not registered (see the error above); fix it, "
				"then run `rekmod add /usr/src/%s`\n", prog, t->sources[i], t->sources[i]);
	}
	if (mods[0] || t->kernels[0]) {
		bool modules = mods[0] || any_module_registered(t);
		for (size_t i = 0; modules && t->kernels[i]; i++)
			if (!has_headers(t, t->kernels[i]))
				say_missing_headers(t, t->kernels[i]);
	}
	if (mods[0] && t->kernels[0])
		exec_sync(t, NULL, NULL); /* a new module and a new kernel: everything */
	else if (mods[0])
		exec_sync(t, "-m", mods);
	else if (t->kernels[0])
		exec_sync(t, "--kernel", t->kernels);
}

static void on_remove(struct hook *t)
{
	for (size_t i = 0; t->sources[i]; i++) {
		_cleanup_free_ char *mv = registered_as(t, t->sources[i]);
		if (!mv)
			continue;
		char *slash = strchr(mv, '/');
		*slash = '\0';
		run_rekmod(t, (const char *const[]){ "remove", "-m", mv, "-v", slash + 1, "--all", NULL });
	}
	if (t->kernels[0])
		exec_sync(t, "--removed", t->kernels);
}

int main(int argc, char **argv)
{
	struct hook t = { .rekmod = REKMOD_SBIN };
	const char *mode = NULL;
	for (int i = 1; i < argc; i++) {
		if (streq(argv[i], "--root") && i + 1 < argc)
			t.root = streq(argv[++i], "/") ? NULL : argv[i];
		else if (streq(argv[i], "--rekmod") && i + 1 < argc)
			t.rekmod = argv[++i];
		else if (streq(argv[i], "--print"))
			t.print = true;
		else if (!mode && argv[i][0] != '-')
			mode = argv[i];
		else
			mode = "";
	}
	t.kernels = xcalloc(1, sizeof(char *));
	t.sources = xcalloc(1, sizeof(char *));
	read_targets(&t);
	if (mode && streq(mode, "install"))
		on_install(&t);
	else if (mode && streq(mode, "remove"))
		on_remove(&t);
	else
		fprintf(stderr, "usage: %s [--root DIR] [--rekmod PATH] [--print] install|remove (targets on stdin)\n",
			prog);
	strv_free(t.kernels);
	strv_free(t.sources);
	return 0;
}
