/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rekmod-rpm-trigger: the body of rekmod's rpm file triggers. It reads the
 * paths rpm passes on stdin, validates them, takes the kernel releases (or
 * module sources) they name and execs one `rekmod sync --hook ...` with an
 * explicit argv. It never fails the rpm transaction: the exit status is 0
 * whatever happens, errors are one line on stderr.
 *
 *   rekmod-rpm-trigger [--root DIR] [--rekmod PATH] [--print] MODE
 *
 * kernels-in      %transfiletriggerin -> rekmod sync --hook --kernel K...
 *                 (plus --removed K for noted kernels left with neither
 *                 image nor headers)
 * kernels-un      %transfiletriggerun -> rekmod sync --hook --removed K...
 *                 for the kernels left with neither image nor headers once
 *                 the erased paths are gone (the core's rule). When
 *                 rekmod itself is being updated (mark left by its
 *                 %pretrans) rpm lists every kernel: they are only noted in
 *                 /run/rekmod/rpm-noted-kernels for kernels-in to check.
 * kernels-postun  %transfiletriggerpostun (no paths): the same check of
 *                 the noted kernels, when rpm runs it
 * sources-in      %filetriggerin /usr/src -> rekmod add /usr/src/<m>-<v>,
 *                 then rekmod sync --hook -m <m>/<v>...
 * --root and --print (show the argv instead of exec) are for tests. */
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "fileio.h"
#include "hookcall.h"
#include "pkgdb-backend.h"
#include "rekmod-rpm.h"
#include "strutil.h"

#define STATE_DIR "/run/rekmod"
#define NOTED_FILE STATE_DIR "/rpm-noted-kernels"
#define SELF_MARK STATE_DIR "/rpm-self-update"

static const char *prog = RPMHOOK_PROG;

static bool present(const char *path, void *ud)
{
	_cleanup_free_ char *p = hook_in_root(ud, path);
	struct stat st;
	return lstat(p, &st) == 0;
}

/* The package to install, from librekmod-rpm.so when it loads. */
static char *headers_package(const struct hookcall *t, const char *k)
{
	static const char *const backends[] = { PKGDB_BACKEND_RPM, NULL };
	pkgdb_headers_fn fn = NULL;
	char *name = NULL;
	if (pkgdb_backend_load(backends, &fn, NULL) == 0 && fn(t->root, k, &name) == 0)
		return name;
	return xasprintf("'kernel-devel-uname-r = %s'", k);
}

static void say_missing_headers(const struct hookcall *t, const char *k)
{
	_cleanup_free_ char *pkg = headers_package(t, k);
	fprintf(stderr, "rekmod: kernel %s has no headers (/lib/modules/%s/build): install %s (dnf install %s)\n", k,
		k, pkg, pkg);
}

/* The kernels noted by kernels-un whose image is now gone (the note is
 * consumed). */
static char **noted_kernels_gone(const struct hookcall *t)
{
	char **gone = xcalloc(1, sizeof(char *));
	_cleanup_free_ char *file = hook_in_root(t, NOTED_FILE);
	_cleanup_free_ char *text = NULL;
	if (read_file(file, &text, NULL) < 0)
		return gone;
	if (!t->print)
		unlink(file);
	char *const none[] = { NULL };
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
		if (name_is_valid(line) && !strv_contains(gone, line) &&
		    !rpmhook_kernel_stays(line, none, present, (void *)t))
			strv_push(&gone, xstrdup(line));
	return gone;
}

static void kernels_in(const struct hookcall *t, char *const *paths)
{
	_cleanup_strv_free_ char **ks = rpmhook_kernels(paths, stderr);
	_cleanup_strv_free_ char **gone = noted_kernels_gone(t);
	if (!ks[0] && !gone[0])
		return;
	bool modules = hook_any_registered(t);
	for (size_t i = 0; modules && ks[i]; i++)
		if (!hook_has_headers(t, "/lib/modules", ks[i]))
			say_missing_headers(t, ks[i]);
	hook_exec_sync(t, ks, gone, NULL);
}

/* Is rekmod itself being installed or upgraded in this transaction? Its
 * %pretrans leaves a mark: then rpm lists every kernel file to
 * %transfiletriggerun although no kernel is going away. */
static bool self_update(const struct hookcall *t)
{
	_cleanup_free_ char *p = hook_in_root(t, SELF_MARK);
	struct stat st;
	return stat(p, &st) == 0 && st.st_mtime > time(NULL) - 86400;
}

/* Notes kernels for kernels-in / kernels-postun, which check after the
 * transaction whether their image is gone. */
static void note_kernels(const struct hookcall *t, char *const *ks)
{
	_cleanup_free_ char *file = hook_in_root(t, NOTED_FILE);
	_cleanup_free_ char *old = NULL;
	struct strbuf b = { 0 };
	if (read_file(file, &old, NULL) == 0)
		sb_puts(&b, old);
	for (size_t i = 0; ks[i]; i++)
		sb_printf(&b, "%s\n", ks[i]);
	_cleanup_free_ char *dir = hook_in_root(t, STATE_DIR);
	if (mkdir_p(dir, 0755) < 0 || write_file_atomic(file, b.s, b.len, 0644) < 0)
		fprintf(stderr, "%s: cannot write %s: %s; run `rekmod sync` after the transaction\n", prog, file,
			strerror(errno));
	sb_free(&b);
}

/* Before the transaction, while the files still exist: kernels whose image
 * is among the erased files (or that have none) lose what rekmod installed.
 * During an update of rekmod itself, only note them. */
static void kernels_un(const struct hookcall *t, char *const *paths)
{
	_cleanup_strv_free_ char **ks = rpmhook_kernels(paths, stderr);
	if (!ks[0])
		return;
	if (self_update(t)) {
		if (!t->print)
			note_kernels(t, ks);
		return;
	}
	_cleanup_strv_free_ char **erased = xcalloc(1, sizeof(char *));
	_cleanup_strv_free_ char **gone = xcalloc(1, sizeof(char *));
	for (size_t i = 0; paths[i]; i++)
		strv_push(&erased, rpmhook_canonical(paths[i]));
	for (size_t i = 0; ks[i]; i++)
		if (!rpmhook_kernel_stays(ks[i], erased, present, (void *)t))
			strv_push(&gone, xstrdup(ks[i]));
	if (gone[0])
		hook_exec_sync(t, NULL, gone, NULL);
}

/* After the transaction (rpm gives no file list here): noted kernels whose
 * image is gone. */
static void kernels_postun(const struct hookcall *t)
{
	_cleanup_strv_free_ char **gone = noted_kernels_gone(t);
	if (gone[0])
		hook_exec_sync(t, NULL, gone, NULL);
}

static void sources_in(const struct hookcall *t, char *const *paths)
{
	_cleanup_strv_free_ char **mods = xcalloc(1, sizeof(char *));
	for (size_t i = 0; paths[i]; i++) {
		_cleanup_free_ char *d = NULL;
		if (rpmhook_path_source(paths[i], &d) < 0) {
			fprintf(stderr, "%s: %s: the source directory must be /usr/src/<module>-<version>; ignored\n",
				prog, paths[i]);
			continue;
		}
		if (!d)
			continue;
		_cleanup_free_ char *src = xasprintf("/usr/src/%s", d);
		/* "already added" is fine: the tree says what is registered */
		hook_run(t, (const char *const[]){ "add", src, NULL });
		_cleanup_free_ char *mv = hook_registered_as(t, d);
		if (mv)
			strv_push_unique(&mods, mv);
		else if (!t->print)
			fprintf(stderr, "%s: /usr/src/%s/dkms.conf: not registered; run `rekmod add /usr/src/%s`\n",
				prog, d, d);
	}
	if (mods[0])
		hook_exec_sync(t, NULL, NULL, mods);
}

int main(int argc, char **argv)
{
	struct hookcall t = { .prog = prog, .caller = "rpm-trigger" };
	const char *mode;
	hook_parse_args(&t, argc, argv, &mode);
	_cleanup_strv_free_ char **lines = hook_read_lines();
	_cleanup_strv_free_ char **paths = rpmhook_paths(lines, stderr);
	if (mode && streq(mode, "kernels-in"))
		kernels_in(&t, paths);
	else if (mode && streq(mode, "kernels-un"))
		kernels_un(&t, paths);
	else if (mode && streq(mode, "kernels-postun"))
		kernels_postun(&t);
	else if (mode && streq(mode, "sources-in"))
		sources_in(&t, paths);
	else
		fprintf(stderr,
			"usage: %s [--root DIR] [--rekmod PATH] [--print] kernels-in|kernels-un|kernels-postun|sources-in "
			"(paths on stdin)\n",
			prog);
	return 0;
}
