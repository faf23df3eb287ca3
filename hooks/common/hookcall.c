/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "hookcall.h"
#include "process.h"
#include "strutil.h"

void hook_parse_args(struct hookcall *h, int argc, char **argv, const char **mode)
{
	*mode = NULL;
	if (!h->rekmod)
		h->rekmod = REKMOD_SBIN;
	for (int i = 1; i < argc; i++) {
		if (streq(argv[i], "--root") && i + 1 < argc)
			h->root = streq(argv[++i], "/") ? NULL : argv[i];
		else if (streq(argv[i], "--rekmod") && i + 1 < argc)
			h->rekmod = argv[++i];
		else if (streq(argv[i], "--print"))
			h->print = true;
		else if (!*mode && argv[i][0] != '-')
			*mode = argv[i];
		else
			*mode = "";
	}
}

char *hook_in_root(const struct hookcall *h, const char *path)
{
	return h->root ? xasprintf("%s%s", h->root, path) : xstrdup(path);
}

/* Follows the symlinks of the last component inside the root. */
static char *resolve_in_root(const struct hookcall *h, const char *path)
{
	char *cur = xstrdup(path);
	for (int i = 0; i < 16; i++) {
		_cleanup_free_ char *full = hook_in_root(h, cur);
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

bool hook_has_headers(const struct hookcall *h, const char *modules_dir, const char *k)
{
	_cleanup_free_ char *link = xasprintf("%s/%s/build", modules_dir, k);
	_cleanup_free_ char *dir = resolve_in_root(h, link);
	_cleanup_free_ char *inc = xasprintf("%s/include", dir);
	_cleanup_free_ char *p = hook_in_root(h, inc);
	return is_dir(p);
}

bool hook_any_registered(const struct hookcall *h)
{
	_cleanup_free_ char *tree = hook_in_root(h, HOOK_DKMS_TREE);
	_cleanup_strv_free_ char **e = list_dir(tree);
	return e && e[0];
}

char *hook_registered_as(const struct hookcall *h, const char *dir)
{
	for (const char *d = strrchr(dir, '-'); d && d > dir; d = memrchr(dir, '-', (size_t)(d - dir))) {
		_cleanup_free_ char *m = xstrndup(dir, (size_t)(d - dir));
		_cleanup_free_ char *src = xasprintf(HOOK_DKMS_TREE "/%s/%s/source", m, d + 1);
		_cleanup_free_ char *p = hook_in_root(h, src);
		struct stat st;
		if (d[1] && lstat(p, &st) == 0)
			return xasprintf("%s/%s", m, d + 1);
	}
	return NULL;
}

char **hook_split_lines(const char *buf, size_t len)
{
	char **v = xcalloc(1, sizeof(char *));
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (buf + i)) : len - i;
		/* a line is its text up to a NUL byte, as C strings are */
		if (n > 0)
			strv_push(&v, xstrndup(buf + i, n));
		i += n + (nl ? 1 : 0);
	}
	return v;
}

char **hook_read_lines(void)
{
	struct strbuf b = { 0 };
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		sb_putn(&b, chunk, n);
	char **v = hook_split_lines(b.s ? b.s : "", b.len);
	sb_free(&b);
	return v;
}

static char **rekmod_argv(const struct hookcall *h)
{
	char **argv = xcalloc(1, sizeof(char *));
	strv_push(&argv, xstrdup(h->rekmod));
	if (h->root) {
		strv_push(&argv, xstrdup("--root"));
		strv_push(&argv, xstrdup(h->root));
	}
	return argv;
}

static void print_argv(char *const *argv)
{
	for (size_t i = 0; argv[i]; i++)
		printf("%s%s", i ? " " : "", argv[i]);
	putchar('\n');
	fflush(stdout);
}

static void set_caller(const struct hookcall *h)
{
	if (h->caller)
		setenv("REKMOD_CALLER", h->caller, 1);
}

void hook_run(const struct hookcall *h, const char *const *words)
{
	set_caller(h);
	_cleanup_strv_free_ char **argv = rekmod_argv(h);
	for (size_t i = 0; words[i]; i++)
		strv_push(&argv, xstrdup(words[i]));
	if (h->print) {
		print_argv(argv);
		return;
	}
	int st = 0;
	int r = rk_run(&(struct rk_spawn){ .argv = (const char *const *)argv, .stdout_fd = 2, .stderr_fd = 2,
					   .stdin_fd = -1 },
		       &st);
	if (r < 0)
		fprintf(stderr, "%s: cannot run %s: %s\n", h->prog, h->rekmod, strerror(-r));
}

static void push_opts(char ***argv, const char *opt, char *const *each)
{
	for (size_t i = 0; each && each[i]; i++) {
		strv_push(argv, xstrdup(opt));
		strv_push(argv, xstrdup(each[i]));
	}
}

void hook_exec_sync(const struct hookcall *h, char *const *kernels, char *const *removed, char *const *mods)
{
	_cleanup_strv_free_ char **argv = rekmod_argv(h);
	strv_push(&argv, xstrdup("sync"));
	strv_push(&argv, xstrdup("--hook"));
	push_opts(&argv, "--kernel", kernels);
	push_opts(&argv, "--removed", removed);
	push_opts(&argv, "-m", mods);
	if (h->print) {
		print_argv(argv);
		return;
	}
	fflush(NULL);
	set_caller(h);
	execv(argv[0], argv);
	fprintf(stderr, "%s: cannot run %s: %s; run `rekmod sync` by hand\n", h->prog, argv[0], strerror(errno));
}
