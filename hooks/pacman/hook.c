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
#include <stdio.h>
#include <unistd.h>

#include "hookcall.h"
#include "pkgdb-backend.h"
#include "rekmod-alpm.h"
#include "strutil.h"

static const char *prog = ALPM_HOOK_PROG;

struct hook {
	struct hookcall h;
	char **kernels, **sources; /* from the targets */
};

/* Reads the targets; a malformed one is reported and skipped. */
static void read_targets(struct hook *t)
{
	_cleanup_strv_free_ char **lines = hook_read_lines();
	alpm_targets_read(lines, &t->kernels, &t->sources, stderr);
}

static void say_missing_headers(const struct hook *t, const char *k)
{
	char *pkg = NULL;
	int r = rekmod_pkgdb_headers_package(t->h.root, k, &pkg);
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
		_cleanup_free_ char *mv = hook_registered_as(&t->h, t->sources[i]);
		if (!mv) {
			_cleanup_free_ char *src = xasprintf("/usr/src/%s", t->sources[i]);
			hook_run(&t->h, (const char *const[]){ "add", src, NULL });
			mv = hook_registered_as(&t->h, t->sources[i]);
			if (!mv && t->h.print) /* nothing was added: show the usual split */
				mv = xasprintf("%.*s/%s", (int)(strrchr(t->sources[i], '-') - t->sources[i]),
					       t->sources[i], strrchr(t->sources[i], '-') + 1);
		}
		if (mv)
			strv_push_unique(&mods, mv);
		else if (!t->h.print)
			fprintf(stderr, "%s: /usr/src/%s/dkms.conf: not registered (see the error above); fix it, "
				"then run `rekmod add /usr/src/%s`\n", prog, t->sources[i], t->sources[i]);
	}
	if (mods[0] || t->kernels[0]) {
		bool modules = mods[0] || hook_any_registered(&t->h);
		for (size_t i = 0; modules && t->kernels[i]; i++)
			if (!hook_has_headers(&t->h, "/usr/lib/modules", t->kernels[i]))
				say_missing_headers(t, t->kernels[i]);
	}
	if (mods[0] && t->kernels[0])
		hook_exec_sync(&t->h, NULL, NULL, NULL); /* a new module and a new kernel: everything */
	else if (mods[0])
		hook_exec_sync(&t->h, NULL, NULL, mods);
	else if (t->kernels[0])
		hook_exec_sync(&t->h, t->kernels, NULL, NULL);
}

static void on_remove(struct hook *t)
{
	for (size_t i = 0; t->sources[i]; i++) {
		_cleanup_free_ char *mv = hook_registered_as(&t->h, t->sources[i]);
		if (!mv)
			continue;
		char *slash = strchr(mv, '/');
		*slash = '\0';
		hook_run(&t->h, (const char *const[]){ "remove", "-m", mv, "-v", slash + 1, "--all", NULL });
	}
	if (t->kernels[0])
		hook_exec_sync(&t->h, NULL, t->kernels, NULL);
}

int main(int argc, char **argv)
{
	struct hook t = { .h = { .prog = prog, .caller = "alpm-hook" } };
	const char *mode;
	hook_parse_args(&t.h, argc, argv, &mode);
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
