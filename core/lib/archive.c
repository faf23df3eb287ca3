/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Kernel headers from the distribution's archive, for a kernel that is not
 * installed here (rekmod publish): the packages are downloaded into a cache,
 * unpacked there and fixed up so that kbuild runs from the cache:
 *
 *   <cache>/apt/             a private apt configuration's state (lists,
 *                            package cache, an empty dpkg status): the
 *                            machine's own sources, read only
 *   <cache>/debs/, rpms/     the downloaded packages
 *   <cache>/<K>/             the unpacked tree (usr/src/..., usr/lib/...),
 *   <cache>/<K>/build        -> the header directory, kbuild's -C for K
 *
 * <cache> is framework.conf's headers_cache, default <dkms_tree>/.headers.
 * Debian: `apt-cache depends linux-headers-K` names the -common and
 * linux-kbuild-* packages, `apt-get download` fetches the three, `dpkg-deb
 * -x` unpacks them. rpm: `dnf download kernel-devel-K`, `rpm2cpio | cpio`.
 * The machine's package database, /usr/src and /lib/modules are never
 * touched. Every child gets an explicit argv. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"

char *archive_cache_dir(const struct rekmod_ctx *ctx)
{
	if (ctx->headers_cache)
		return root_path(ctx, ctx->headers_cache);
	return xasprintf("%s/.headers", ctx->dkms_tree_path);
}

/* <cache>/<K>/build when it leads to headers, else NULL */
char *archive_build_dir(const struct rekmod_ctx *ctx, const char *kernel)
{
	if (!name_is_valid(kernel))
		return NULL;
	_cleanup_free_ char *cache = archive_cache_dir(ctx);
	_cleanup_free_ char *link = xasprintf("%s/%s/build", cache, kernel);
	char *real = realpath(link, NULL);
	if (real && kernel_headers_in(real))
		return real;
	free(real);
	return NULL;
}

static bool prog_on_path(const char *prog)
{
	const char *path = getenv("PATH");
	_cleanup_free_ char *p = xstrdup(path && *path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
	for (char *save = NULL, *d = strtok_r(p, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *f = xasprintf("%s/%s", d, prog);
		if (access(f, X_OK) == 0)
			return true;
	}
	return false;
}

/* The target an absolute symlink at rel (relative to the unpacked root)
 * gets so that it stays inside the root: "../" per directory level above
 * the link, then the target without its leading '/'. */
char *archive_relative_target(const char *rel, const char *target)
{
	if (target[0] != '/')
		return xstrdup(target);
	struct strbuf b = { 0 };
	for (const char *p = rel; *p; p++)
		if (*p == '/' && p[1])
			sb_puts(&b, "../");
	while (*target == '/')
		target++;
	sb_puts(&b, *target ? target : ".");
	return sb_steal(&b);
}

/* A Makefile's absolute includes ("include /usr/src/...", Debian's headers
 * including their -common tree) moved under root. NULL: nothing to change. */
char *archive_fix_includes(const char *text, const char *root)
{
	struct strbuf b = { 0 };
	bool changed = false;
	for (const char *l = text; *l;) {
		size_t n = strcspn(l, "\n");
		const char *w = l + strspn(l, " \t");
		const char *kw = startswith(w, "-include ") ? "-include " : startswith(w, "include ") ? "include " : NULL;
		const char *arg = kw ? w + strlen(kw) + strspn(w + strlen(kw), " \t") : NULL;
		if (arg && *arg == '/' && !startswith(arg, root)) {
			sb_putn(&b, l, (size_t)(arg - l));
			sb_puts(&b, root);
			sb_putn(&b, arg, n - (size_t)(arg - l));
			changed = true;
		} else {
			sb_putn(&b, l, n);
		}
		l += n;
		if (*l == '\n') {
			sb_putc(&b, '\n');
			l++;
		}
	}
	if (!changed) {
		sb_free(&b);
		return NULL;
	}
	return sb_steal(&b);
}

/* fn for every symbolic link under dir (rel: its path from the root), with its target */
typedef int (*link_fn)(const char *root, const char *path, const char *rel, const char *target, char **ret_bad);

static int walk_links(const char *root, const char *dir, const char *rel, link_fn fn, char **ret_bad)
{
	_cleanup_strv_free_ char **e = list_dir(dir);
	for (size_t i = 0; e && e[i]; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, e[i]);
		_cleanup_free_ char *r = *rel ? xasprintf("%s/%s", rel, e[i]) : xstrdup(e[i]);
		struct stat st;
		if (lstat(p, &st) < 0)
			return -errno;
		int k = 0;
		if (S_ISDIR(st.st_mode))
			k = walk_links(root, p, r, fn, ret_bad);
		if (!S_ISLNK(st.st_mode)) {
			if (k < 0)
				return k;
			continue;
		}
		char target[4096];
		ssize_t n = readlink(p, target, sizeof(target) - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
		if ((k = fn(root, p, r, target, ret_bad)) < 0)
			return k;
	}
	return 0;
}

/* an absolute link made relative, so that it stays inside the root */
static int relative_link(const char *root, const char *path, const char *rel, const char *target, char **ret_bad)
{
	(void)root, (void)ret_bad;
	if (target[0] != '/')
		return 0;
	_cleanup_free_ char *t = archive_relative_target(rel, target);
	return unlink(path) < 0 || symlink(t, path) < 0 ? -errno : 0;
}

/* a link that resolves leads (through other links) inside root; a dangling
 * one has no more ".." than directories above it */
static int link_inside(const char *root, const char *path, const char *rel, const char *target, char **ret_bad)
{
	_cleanup_free_ char *real = realpath(path, NULL);
	size_t rl = strlen(root);
	bool inside = real && startswith(real, root) && (real[rl] == '\0' || real[rl] == '/');
	if (!real) {
		long depth = 0;
		for (const char *p = rel; *p; p++)
			depth += *p == '/';
		_cleanup_free_ char *t = xstrdup(target);
		inside = target[0] != '/';
		for (char *save = NULL, *c = strtok_r(t, "/", &save); inside && c; c = strtok_r(NULL, "/", &save)) {
			if (streq(c, ".."))
				inside = --depth >= 0;
			else if (!streq(c, "."))
				depth++;
		}
	}
	if (inside)
		return 0;
	*ret_bad = xasprintf("%s -> %s", rel, target);
	return -EXDEV;
}

int archive_fix_links(const char *dir, char **ret_bad)
{
	_cleanup_free_ char *root = realpath(dir, NULL);
	if (!root)
		return -errno;
	int r = walk_links(root, root, "", relative_link, ret_bad);
	return r < 0 ? r : walk_links(root, root, "", link_inside, ret_bad);
}

/* The Makefile at the top of each header directory (usr/src/X/, and
 * usr/src/kernels/X/ for kernel-devel) with its includes moved under final. */
static int fix_makefiles(const char *tmp, const char *final)
{
	static const char *const bases[] = { "usr/src", "usr/src/kernels" };
	for (size_t b = 0; b < ARRAY_SIZE(bases); b++) {
		_cleanup_free_ char *dir = xasprintf("%s/%s", tmp, bases[b]);
		_cleanup_strv_free_ char **e = is_dir(dir) ? list_dir(dir) : NULL;
		for (size_t i = 0; e && e[i]; i++) {
			_cleanup_free_ char *mk = xasprintf("%s/%s/Makefile", dir, e[i]);
			_cleanup_free_ char *text = NULL, *fixed = NULL;
			if (is_symlink(mk) || read_file(mk, &text, NULL) < 0)
				continue;
			if (!(fixed = archive_fix_includes(text, final)))
				continue;
			int r = write_file_atomic(mk, fixed, strlen(fixed), 0644);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* argv of an apt program with the private configuration under apt */
static char **apt_argv(const struct rekmod_ctx *ctx, const char *prog, const char *apt)
{
	char **v = NULL;
	strv_push(&v, xstrdup(prog));
	/* the root's sources; a scratch root without any: the host's (read only) */
	_cleanup_free_ char *etc = root_path(ctx, "/etc/apt");
	_cleanup_free_ char *list = xasprintf("%s/sources.list", is_dir(etc) ? etc : "/etc/apt");
	_cleanup_free_ char *parts = xasprintf("%s/sources.list.d", is_dir(etc) ? etc : "/etc/apt");
	const char *opts[][2] = {
		{ "Dir::State::Lists", "lists" }, { "Dir::State::status", "status" }, { "Dir::Cache", "cache" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
		strv_push(&v, xstrdup("-o"));
		strv_push(&v, xasprintf("%s=%s/%s", opts[i][0], apt, opts[i][1]));
	}
	strv_push(&v, xstrdup("-o"));
	strv_push(&v, xasprintf("Dir::Etc::SourceList=%s", list));
	strv_push(&v, xstrdup("-o"));
	strv_push(&v, xasprintf("Dir::Etc::SourceParts=%s", parts));
	strv_push(&v, xstrdup("-o"));
	strv_push(&v, xstrdup("APT::Sandbox::User=root"));
	strv_push(&v, xstrdup("-q"));
	return v;
}

static int fetch_tool(struct rekmod_ctx *ctx, char **argv, const char *cwd, const char *what)
{
	int st = 0;
	int r = run_logged(ctx, (const char *const *)argv, cwd, &st);
	if (r < 0 || st != 0) {
		_cleanup_free_ char *how = r < 0 ? xstrdup(strerror(-r)) : xasprintf("exited %d", st);
		dk_error(ctx, "%s: %s %s (run with --verbose for its output)", what, argv[0], how);
		return REKMOD_E_NOHEADERS;
	}
	return 0;
}

static bool has_lists(const char *apt)
{
	_cleanup_free_ char *lists = xasprintf("%s/lists", apt);
	_cleanup_strv_free_ char **e = list_dir(lists);
	for (size_t i = 0; e && e[i]; i++)
		if (strstr(e[i], "_Packages"))
			return true;
	return false;
}

/* The private apt state, its package lists refreshed when older than a day. */
static int apt_prepare(struct rekmod_ctx *ctx, const char *apt)
{
	static const char *const dirs[] = { "lists/partial", "cache/archives/partial" };
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		_cleanup_free_ char *d = xasprintf("%s/%s", apt, dirs[i]);
		int r = mkdir_p(d, 0755);
		if (r < 0) {
			dk_error(ctx, "could not create %s: %s", d, strerror(-r));
			return REKMOD_E_GENERIC;
		}
	}
	_cleanup_free_ char *status = xasprintf("%s/status", apt), *stamp = xasprintf("%s/updated", apt);
	int r = path_exists(status) ? 0 : write_file_atomic(status, "", 0, 0644);
	if (r < 0) {
		dk_error(ctx, "could not create %s: %s", status, strerror(-r));
		return REKMOD_E_GENERIC;
	}
	struct stat st;
	if (stat(stamp, &st) == 0 && time(NULL) - st.st_mtime < 86400 && has_lists(apt))
		return 0;
	_cleanup_strv_free_ char **argv = apt_argv(ctx, "apt-get", apt);
	strv_push(&argv, xstrdup("update"));
	r = fetch_tool(ctx, argv, apt, "could not refresh the package lists of the private apt configuration");
	if (r == 0)
		write_file_atomic(stamp, "", 0, 0644);
	return r;
}

/* "  Depends: linux-headers-6.1.0-55-common" lines of `apt-cache depends`:
 * the headers package itself and the -common and linux-kbuild-* ones it needs. */
char **archive_parse_depends(const char *pkg, const char *out)
{
	char **v = NULL;
	strv_push(&v, xstrdup(pkg));
	for (const char *l = out; l && *l;) {
		size_t n = strcspn(l, "\n");
		_cleanup_free_ char *line = xstrndup(l, n);
		l += n + (l[n] == '\n');
		char *w = line + strspn(line, " \t|");
		if (!startswith(w, "Depends:"))
			continue;
		w += strlen("Depends:");
		w += strspn(w, " \t<");
		w[strcspn(w, " \t>")] = '\0';
		if ((startswith(w, "linux-headers-") || startswith(w, "linux-kbuild-")) && name_is_valid(w))
			strv_push_unique(&v, w);
	}
	return v;
}

/* The newest downloaded file of pkg in dir: <pkg>_<version>_<arch><ext>. */
static char *downloaded(const char *dir, const char *pkg, const char *sep, const char *ext)
{
	_cleanup_strv_free_ char **e = list_dir(dir);
	_cleanup_free_ char *prefix = xasprintf("%s%s", pkg, sep);
	char *best = NULL;
	for (size_t i = 0; e && e[i]; i++) {
		if (!startswith(e[i], prefix) || !endswith(e[i], ext))
			continue;
		if (!best || version_compare(e[i] + strlen(prefix), best + strlen(prefix)) > 0) {
			free(best);
			best = xstrdup(e[i]);
		}
	}
	char *r = best ? xasprintf("%s/%s", dir, best) : NULL;
	free(best);
	return r;
}

/* Debian: linux-headers-K and the packages it needs for building, downloaded
 * and unpacked into tmp. */
static int fetch_deb(struct rekmod_ctx *ctx, const char *cache, const char *kernel, const char *tmp)
{
	_cleanup_free_ char *apt = xasprintf("%s/apt", cache), *debs = xasprintf("%s/debs", cache);
	_cleanup_free_ char *pkg = xasprintf("linux-headers-%s", kernel);
	int r = apt_prepare(ctx, apt);
	if (r)
		return r;
	if ((r = mkdir_p(debs, 0755)) < 0) {
		dk_error(ctx, "could not create %s: %s", debs, strerror(-r));
		return REKMOD_E_GENERIC;
	}
	_cleanup_strv_free_ char **q = apt_argv(ctx, "apt-cache", apt);
	strv_push(&q, xstrdup("depends"));
	strv_push(&q, xstrdup(pkg));
	_cleanup_free_ char *out = NULL;
	int st = 0;
	struct rk_spawn sp = { .argv = (const char *const *)q, .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1 };
	if (rk_run_capture(&sp, &out, NULL, &st) < 0 || st != 0 || !strstr(out, "Depends:")) {
		dk_error(ctx, "%s is not in the package archive (apt-cache depends %s found nothing): check the "
			 "kernel release, or install its headers and pass its build directory",
			 pkg, pkg);
		return REKMOD_E_NOHEADERS;
	}
	_cleanup_strv_free_ char **pkgs = archive_parse_depends(pkg, out);
	_cleanup_strv_free_ char **dl = apt_argv(ctx, "apt-get", apt);
	strv_push(&dl, xstrdup("download"));
	for (size_t i = 0; pkgs[i]; i++)
		strv_push(&dl, xstrdup(pkgs[i]));
	struct strbuf nb = { 0 };
	for (size_t i = 0; pkgs[i]; i++)
		sb_printf(&nb, "%s%s", i ? " " : "", pkgs[i]);
	_cleanup_free_ char *names = sb_steal(&nb);
	say(ctx, "Downloading the headers of kernel %s from the package archive: %s", kernel, names);
	if ((r = fetch_tool(ctx, dl, debs, "could not download the kernel headers")))
		return r;
	for (size_t i = 0; pkgs[i]; i++) {
		_cleanup_free_ char *deb = downloaded(debs, pkgs[i], "_", ".deb");
		const char *x[] = { "dpkg-deb", "-x", deb, tmp, NULL };
		if (!deb) {
			dk_error(ctx, "apt-get download %s left no %s_*.deb in %s", pkgs[i], pkgs[i], debs);
			return REKMOD_E_NOHEADERS;
		}
		if ((r = fetch_tool(ctx, (char **)x, NULL, "could not unpack the kernel headers")))
			return r;
	}
	return 0;
}

/* rpm2cpio rpm | cpio -idm, in dir, through a temporary file (no shell) */
static int unpack_rpm(struct rekmod_ctx *ctx, const char *rpm, const char *dir)
{
	_cleanup_free_ char *cpio = xasprintf("%s/.payload.cpio", dir);
	_cleanup_close_ int fd = open(cpio, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		dk_error(ctx, "could not create %s: %s", cpio, strerror(errno));
		return REKMOD_E_GENERIC;
	}
	const char *a1[] = { "rpm2cpio", rpm, NULL };
	const char *a2[] = { "cpio", "-idm", "--quiet", "--no-absolute-filenames", NULL };
	struct rk_spawn s1 = { .argv = a1, .stdout_fd = fd, .stderr_fd = -1, .stdin_fd = -1 };
	int st = 0;
	int r = rk_run(&s1, &st);
	if (r == 0 && st == 0 && lseek(fd, 0, SEEK_SET) == 0) {
		struct rk_spawn s2 = { .argv = a2, .cwd = dir, .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = fd };
		r = rk_run(&s2, &st);
	}
	unlink(cpio);
	if (r < 0 || st != 0) {
		dk_error(ctx, "could not unpack %s with rpm2cpio and cpio (exit %d)", rpm, st);
		return REKMOD_E_NOHEADERS;
	}
	return 0;
}

/* rpm: kernel-devel-K downloaded with dnf (no transaction) and unpacked into tmp. */
static int fetch_rpm(struct rekmod_ctx *ctx, const char *cache, const char *kernel, const char *tmp)
{
	_cleanup_free_ char *rpms = xasprintf("%s/rpms", cache);
	_cleanup_free_ char *pkg = xasprintf("kernel-devel-%s", kernel);
	_cleanup_free_ char *dest = xasprintf("--destdir=%s", rpms);
	int r = mkdir_p(rpms, 0755);
	if (r < 0) {
		dk_error(ctx, "could not create %s: %s", rpms, strerror(-r));
		return REKMOD_E_GENERIC;
	}
	const char *dl[] = { "dnf", "-q", "download", dest, pkg, NULL };
	say(ctx, "Downloading the headers of kernel %s from the package archive: %s", kernel, pkg);
	r = fetch_tool(ctx, (char **)dl, rpms, "could not download the kernel headers");
	if (r)
		return r;
	_cleanup_free_ char *rpm = downloaded(rpms, pkg, ".", ".rpm");
	if (!rpm) {
		dk_error(ctx, "dnf download %s left no %s.*.rpm in %s", pkg, pkg, rpms);
		return REKMOD_E_NOHEADERS;
	}
	return unpack_rpm(ctx, rpm, tmp);
}

/* The header directory of an unpacked tree, relative to it: Debian's
 * usr/src/linux-headers-K, kernel-devel's usr/src/kernels/K. NULL: none. */
char *archive_header_subdir(const char *tmp, const char *kernel)
{
	const char *forms[] = { "usr/src/linux-headers-", "usr/src/kernels/" };
	for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
		_cleanup_free_ char *rel = xasprintf("%s%s", forms[i], kernel);
		_cleanup_free_ char *abs = xasprintf("%s/%s", tmp, rel);
		if (kernel_headers_in(abs))
			return TAKE_PTR(rel);
	}
	return NULL;
}

/* The unpacked tree made self-contained, with its build link. */
static int fix_tree(struct rekmod_ctx *ctx, const char *tmp, const char *final, const char *kernel)
{
	_cleanup_free_ char *bad = NULL;
	int r = archive_fix_links(tmp, &bad);
	if (r == -EXDEV) {
		dk_error(ctx, "the downloaded headers of kernel %s hold a link leading outside %s (%s); they are not used",
			 kernel, tmp, bad);
		return REKMOD_E_NOHEADERS;
	}
	if (r == 0)
		r = fix_makefiles(tmp, final);
	if (r < 0) {
		dk_error(ctx, "could not fix up the unpacked headers in %s: %s", tmp, strerror(-r));
		return REKMOD_E_GENERIC;
	}
	_cleanup_free_ char *sub = archive_header_subdir(tmp, kernel);
	_cleanup_free_ char *link = xasprintf("%s/build", tmp);
	if (!sub) {
		dk_error(ctx, "the downloaded packages hold no headers of kernel %s", kernel);
		return REKMOD_E_NOHEADERS;
	}
	if (symlink(sub, link) < 0) {
		dk_error(ctx, "could not create the link %s: %s", link, strerror(errno));
		return REKMOD_E_GENERIC;
	}
	return 0;
}

/* The headers of kernel in the cache: there already, or downloaded now
 * (publish holds the tree lock). */
int archive_fetch_headers(struct rekmod_ctx *ctx, const char *kernel)
{
	if (!name_is_valid(kernel)) {
		dk_error(ctx, "invalid kernel version \"%s\": a release holds letters, digits and . _ + ~ : -", kernel);
		return REKMOD_E_GENERIC;
	}
	_cleanup_free_ char *have = archive_build_dir(ctx, kernel);
	if (have)
		return 0;
	bool deb = prog_on_path("apt-get") && prog_on_path("dpkg-deb");
	if (!deb && !(prog_on_path("dnf") && prog_on_path("rpm2cpio") && prog_on_path("cpio"))) {
		dk_error(ctx, "cannot fetch the headers of kernel %s: neither apt-get and dpkg-deb nor dnf, rpm2cpio "
			 "and cpio are installed; install the headers and link <install_tree>/%s/build to them",
			 kernel, kernel);
		return REKMOD_E_NOHEADERS;
	}
	_cleanup_free_ char *cache = archive_cache_dir(ctx);
	_cleanup_free_ char *final = xasprintf("%s/%s", cache, kernel);
	_cleanup_free_ char *tmp = xasprintf("%s/.%s.XXXXXX", cache, kernel);
	if (mkdir_p(cache, 0755) < 0 || !mkdtemp(tmp)) {
		dk_error(ctx, "could not create a directory in %s: %s", cache, strerror(errno));
		return REKMOD_E_GENERIC;
	}
	int r = deb ? fetch_deb(ctx, cache, kernel, tmp) : fetch_rpm(ctx, cache, kernel, tmp);
	if (r == 0)
		r = fix_tree(ctx, tmp, final, kernel);
	if (r == 0) {
		rm_rf(final);
		if (rename(tmp, final) < 0) {
			dk_error(ctx, "could not rename %s to %s: %s", tmp, final, strerror(errno));
			r = REKMOD_E_GENERIC;
		}
	}
	if (r)
		rm_rf(tmp);
	return r;
}
