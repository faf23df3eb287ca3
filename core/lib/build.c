/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One build: fresh copy of the source, patches, PRE_BUILD, make, collect and
 * strip the modules into a staging directory renamed into place. */
#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"

static int check_headers(struct rekmod_ctx *ctx, const char *k)
{
	_cleanup_free_ char *ksd = kernel_source_dir(ctx, k);
	if (kernel_headers_in(ksd))
		return 0;
	dk_error(ctx,
		 "Your kernel headers for kernel %s cannot be found at %s/%s/build or %s/%s/source.\n"
		 "Please install your distribution's kernel headers package matching %s, or use the "
		 "--kernelsourcedir option to tell DKMS where it's located.", /* dkms 3.x's words */
		 k, ctx->install_tree_path, k, ctx->install_tree_path, k, k);
	return REKMOD_E_NOHEADERS;
}

/* dkms 3.x's words and exit code (13), or its warning under --force */
static int check_depends(struct rekmod_ctx *ctx, const struct dkms_conf *c, const char *k, const char *a)
{
	struct strbuf missing = { 0 };
	for (size_t i = 0; c->build_depends && c->build_depends[i]; i++) {
		const char *dep = c->build_depends[i];
		if (!name_is_valid(dep))
			continue;
		_cleanup_free_ char *iv = tree_installed_version(ctx, dep, k, a);
		if (!iv)
			sb_printf(&missing, " %s", dep);
	}
	int r = 0;
	if (missing.len && ctx->force)
		dk_warn(ctx, "Trying to build module %s/%s for kernel %s (%s) despite of missing BUILD_DEPENDS:%s.",
			c->package_name, c->package_version, k, a, missing.s);
	else if (missing.len) {
		dk_error(ctx, "Aborting build of module %s/%s for kernel %s (%s) due to missing BUILD_DEPENDS:%s.\n"
			 "You may override by specifying --force.",
			 c->package_name, c->package_version, k, a, missing.s);
		r = REKMOD_E_DEPENDS;
	}
	sb_free(&missing);
	return r;
}

static int source_entries(const char *dir)
{
	_cleanup_strv_free_ char **e = list_dir(dir);
	return e ? (int)strv_len(e) : 0;
}

/* ---- trust: a source tree another user can change is not run as root ---- */

/* why path (lstat'ed as st) is untrusted, or NULL: owned by another user,
 * or writable by others (group writable unless the group is root) */
static char *untrusted_why(const char *path, const struct stat *st)
{
	uid_t me = geteuid();
	if (st->st_uid != 0 && st->st_uid != me)
		return xasprintf("%s is owned by uid %u, not root", path, (unsigned)st->st_uid);
	if (S_ISLNK(st->st_mode))
		return NULL;
	if ((st->st_mode & S_IWOTH) || ((st->st_mode & S_IWGRP) && st->st_gid != 0 && st->st_gid != getegid()))
		return xasprintf("%s is writable by other users (mode %04o)", path, (unsigned)(st->st_mode & 07777));
	return NULL;
}

static char *untrusted_in(int dfd, const char *path, int depth)
{
	DIR *d = depth < 32 ? fdopendir(dfd) : NULL;
	if (!d) {
		close(dfd);
		return NULL;
	}
	char *why = NULL;
	for (struct dirent *de; !why && (de = readdir(d));) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", path, de->d_name);
		why = untrusted_why(p, &st);
		if (!why && S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				why = untrusted_in(sub, p, depth + 1);
		}
	}
	closedir(d);
	return why;
}

/* dir and everything in it belong to root (or the caller) and only they can
 * write there, else its dkms.conf and make would run as root code another
 * user wrote: one error line, unless --force. 0 or REKMOD_E_NOPERM. */
int check_source_trust(struct rekmod_ctx *ctx, const char *dir)
{
	struct stat st;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return 0; /* a missing source is reported where it is read */
	}
	_cleanup_free_ char *why = untrusted_why(dir, &st);
	if (why)
		close(fd);
	else
		why = untrusted_in(fd, dir, 0);
	if (!why)
		return 0;
	if (ctx->force) {
		dk_warn(ctx, "%s; going on (--force)", why);
		return 0;
	}
	dk_error(ctx, "%s: rekmod will not run its dkms.conf and make as root; fix it with chown -R root:root %s "
		 "and chmod -R go-w %s (or pass --force)", why, dir, dir);
	return REKMOD_E_NOPERM;
}

/* a path dkms.conf gives relative to a tree: no ".." component */
bool conf_path_inside(const char *p)
{
	for (const char *c = p; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return false;
		c += n;
		c += *c == '/';
	}
	return true;
}

static bool module_paths_ok(const struct rekmod_ctx *ctx, const struct rk_log *log, const struct dkms_conf *c,
			    size_t i, bool dest)
{
	const struct dkms_module *mod = &c->modules[i];
	const char *bad = NULL, *what = NULL, *fix = NULL;
	if (!name_is_valid(mod->built_name))
		bad = "BUILT_MODULE_NAME", what = mod->built_name, fix = "set it to the module's file name without .ko";
	else if (!name_is_valid(mod->dest_name))
		bad = "DEST_MODULE_NAME", what = mod->dest_name, fix = "set it to the module's file name without .ko";
	else if (!conf_path_inside(mod->built_location))
		bad = "BUILT_MODULE_LOCATION", what = mod->built_location,
		fix = "set it to a directory of the source, without \"..\"";
	else if (dest && !conf_path_inside(mod->dest_location))
		bad = "DEST_MODULE_LOCATION", what = mod->dest_location,
		fix = "set it to \"/updates\" or another path under the kernel's module directory, without \"..\"";
	if (!bad)
		return true;
	if (streq(bad, "DEST_MODULE_LOCATION") && ctx->addon_modules_dir && *ctx->addon_modules_dir)
		rk_err(log, "Error! %s: ADDON_MODULES_DIR=\"%s\" (framework.conf) leaves the install tree; set it to "
		       "a directory under the kernel's module directory, without \"..\"", c->path,
		       ctx->addon_modules_dir);
	else
		rk_err(log, "Error! %s: %s[%zu]=\"%s\" leaves its tree; %s", c->path, bad, i, what, fix);
	return false;
}

/* Every path dkms.conf names stays inside its tree: the built module in the
 * build directory, its name one file name, and (dest) its install location
 * under the kernel's module directory. */
bool conf_paths_ok(const struct rekmod_ctx *ctx, const struct rk_log *log, const struct dkms_conf *c, bool dest)
{
	for (size_t i = 0; i < c->n_modules; i++)
		if (!module_paths_ok(ctx, log, c, i, dest))
			return false;
	return true;
}

/* s as one bash word: as is when it holds only characters bash gives no
 * meaning, else in single quotes */
static void sb_shell_word(struct strbuf *b, const char *s)
{
	if (*s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:+,=@%-") == strlen(s)) {
		sb_puts(b, s);
		return;
	}
	sb_putc(b, '\'');
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			sb_puts(b, "'\\''");
		else
			sb_putc(b, *p);
	}
	sb_putc(b, '\'');
}

/* dkms's default: make -C <kernel_source_dir> M=<dkms_tree>/<m>/<v>/build,
 * composed here with each path quoted (a root with a space in it) */
static void default_make_args(struct strbuf *b, const struct rekmod_ctx *ctx, const char *m, const char *v,
			      const char *k)
{
	_cleanup_free_ char *ksd = kernel_source_dir(ctx, k);
	_cleanup_free_ char *dir = xasprintf("M=%s/%s/%s/build", ctx->dkms_tree_path, m, v);
	/* dkms writes -C /lib/modules/<k>/build: the link itself where it leads there */
	_cleanup_free_ char *link = xasprintf("%s/%s/build", ctx->install_tree_path, k);
	_cleanup_free_ char *rl = realpath(link, NULL), *rk = realpath(ksd, NULL);
	if (!ctx->kernel_source_dir && rl && rk && streq(rl, rk)) {
		free(ksd);
		ksd = TAKE_PTR(link);
	}
	sb_puts(b, " -C ");
	sb_shell_word(b, ksd);
	sb_putc(b, ' ');
	sb_shell_word(b, dir);
}

/* framework.conf distributed_compiler (distcc, icecc): kbuild's CC on the
 * make command line, the engine in front of the kernel's own compiler */
static bool is_make_distributed(const struct rekmod_ctx *ctx, bool is_make)
{
	return is_make && ctx->distributed_compiler && *ctx->distributed_compiler;
}

static void distributed_cc(struct strbuf *b, const struct rekmod_ctx *ctx, const char *k, bool clang)
{
	_cleanup_free_ char *cc = kernel_cc(ctx, k);
	_cleanup_free_ char *w = xasprintf("CC=%s %s", ctx->distributed_compiler, cc ? cc : clang ? "clang" : "gcc");
	sb_putc(b, ' ');
	sb_shell_word(b, w);
}

/* dkms: a leading word `make` becomes `make -j<jobs> KERNELRELEASE=<kver>` */
static char *make_command(const struct rekmod_ctx *ctx, const struct dkms_conf *c, const char *m, const char *v,
			  const char *k)
{
	struct strbuf b = { 0 };
	const char *cmd = c->make_command;
	bool is_make = c->make_is_default ||
		       (startswith(cmd, "make") && (cmd[4] == '\0' || cmd[4] == ' ' || cmd[4] == '\t'));
	if (is_make) {
		sb_puts(&b, "make");
		if (!ctx->jobserver) /* else -j comes from the shared jobserver */
			sb_printf(&b, " -j%d", ctx->jobs);
		_cleanup_free_ char *kr = xasprintf("KERNELRELEASE=%s", k);
		sb_putc(&b, ' ');
		sb_shell_word(&b, kr);
		if (c->make_is_default)
			default_make_args(&b, ctx, m, v, k);
		else
			sb_puts(&b, cmd + 4);
	} else {
		sb_puts(&b, cmd);
	}
	_cleanup_free_ char *cfg = kernel_config_path(ctx, k);
	_cleanup_free_ char *text = NULL;
	bool clang = false;
	if (read_file(cfg, &text, NULL) == 0) {
		clang = text_yes(text, "CONFIG_CC_IS_CLANG");
		if (clang && !is_make_distributed(ctx, is_make))
			sb_puts(&b, " CC=clang");
		if (text_yes(text, "CONFIG_LD_IS_LLD"))
			sb_puts(&b, " LD=ld.lld");
	}
	if (is_make_distributed(ctx, is_make))
		distributed_cc(&b, ctx, k, clang);
	return sb_steal(&b);
}

/* /etc/dkms/<m>/patches/ overlays the source's patches/: a local patch of
 * the same name replaces the package's, others are added. */
static int overlay_local_patches(struct rekmod_ctx *ctx, const char *m, const char *build_dir)
{
	_cleanup_free_ char *local = xasprintf("%s/etc/dkms/%s/patches", ctx->root, m);
	_cleanup_strv_free_ char **files = is_dir(local) ? list_dir(local) : NULL;
	_cleanup_free_ char *dst = xasprintf("%s/patches", build_dir);
	for (size_t i = 0; files && files[i]; i++) {
		_cleanup_free_ char *from = xasprintf("%s/%s", local, files[i]);
		_cleanup_free_ char *to = xasprintf("%s/%s", dst, files[i]);
		if (files[i][0] == '.' || is_dir(from))
			continue;
		int r = mkdir_p(dst, 0755);
		if (r == 0)
			r = copy_file_atomic(from, to, 0644);
		if (r < 0) {
			dk_error(ctx, "could not copy the local patch %s to %s: %s", from, dst, strerror(-r));
			return REKMOD_E_BUILD;
		}
	}
	return 0;
}

static int apply_patches(struct rekmod_ctx *ctx, const struct dkms_conf *c, const char *build_dir, int logfd)
{
	for (size_t i = 0; c->patches && c->patches[i]; i++) {
		const char *p = c->patches[i];
		_cleanup_free_ char *file = xasprintf("%s/patches/%s", build_dir, p);
		if (!conf_path_inside(p)) { /* dkms 3.x's words */
			dk_error(ctx, "Patch %s as specified in dkms.conf contains '..' path component.", p);
			return REKMOD_E_INSTALLED;
		}
		if (!path_exists(file)) {
			dk_error(ctx, "Patch %s as specified in dkms.conf cannot be\nfound in %s/patches/.", p, build_dir);
			return REKMOD_E_INSTALLED;
		}
		_cleanup_close_ int in = open(file, O_RDONLY | O_CLOEXEC);
		const char *argv[] = { "patch", "-p1", NULL };
		struct rk_spawn s = { .argv = argv, .cwd = build_dir, .stdout_fd = logfd, .stderr_fd = -1,
				      .stdin_fd = in };
		int st = 0;
		_cleanup_free_ char *title = xasprintf("Applying patch %s", p);
		_cleanup_free_ char *cmd = xasprintf("patch -p1 < ./patches/%s", p);
		struct timespec t0;
		log_section_begin(logfd, title, cmd, &t0);
		bool ok = in >= 0 && rk_run(&s, &st) == 0 && st == 0;
		log_section_end(logfd, ok ? 0 : st ? st : 1, &t0);
		say(ctx, "%s...%s", title, ok ? " done." : "");
		if (!ok) {
			dk_error(ctx, "Application of patch %s failed.\nCheck %s for more information.", p, build_dir);
			return REKMOD_E_PATCH;
		}
	}
	return 0;
}

static int run_make(struct rekmod_ctx *ctx, const char *cmd, const char *build_dir, const char *k, int logfd,
		    int *ret_status)
{
	_cleanup_strv_free_ char **env = build_env(ctx, k);
	if (ctx->jobserver) {
		size_t w = 0;
		for (size_t i = 0; env && env[i]; i++) {
			if (startswith(env[i], "MAKEFLAGS=") || startswith(env[i], "MFLAGS=") ||
			    startswith(env[i], "MAKELEVEL="))
				free(env[i]);
			else
				env[w++] = env[i];
		}
		if (env)
			env[w] = NULL;
		strv_push(&env, xasprintf("MAKEFLAGS=-j%d --jobserver-auth=%s", ctx->jobs, ctx->jobserver));
	}
	const char *argv[] = { "bash", "-c", cmd, NULL };
	struct rk_spawn s = { .argv = argv, .envp = (const char *const *)env, .cwd = build_dir,
			      .stdout_fd = logfd, .stderr_fd = -1, .stdin_fd = -1, .timeout_seconds = ctx->make_timeout };
	rk_debug(log_of(ctx), "%s", cmd);
	return sandbox_run(ctx, &s, build_dir, ret_status);
}

/* The staged copy of one module: signed, then compressed (the plain .ko removed). */
int build_finish_module(struct rekmod_ctx *ctx, const struct sign_plan *plan, enum rk_compress comp,
			 const char *dst, const char *shown)
{
	int r = plan ? sign_module(ctx, plan, dst, shown) : 0;
	if (r || comp == RK_COMPRESS_NONE)
		return r;
	_cleanup_free_ char *cdst = xasprintf("%s%s", dst, compress_suffix(comp));
	r = compress_file(comp, dst, cdst, 0644);
	if (r < 0) {
		dk_error(ctx, "could not compress %s into %s: %s", dst, cdst, strerror(-r));
		return REKMOD_E_BUILD;
	}
	return unlink(dst) < 0 ? -errno : 0;
}

/* why the open built module fd (opened as src) is not taken, or NULL: make
 * may have run as build_user, who can leave a link to another file there
 * (root would then strip or copy that file). Only a regular file inside the
 * build directory, given back to root (sandbox.c) and, after a build as
 * build_user, with no second name, is. */
static char *built_refused(const struct rekmod_ctx *ctx, int fd, const char *src, const char *build_dir)
{
	struct stat st;
	char self[64], at[PATH_MAX];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(self, at, sizeof(at) - 1);
	_cleanup_free_ char *realdir = realpath(build_dir, NULL);
	if (fstat(fd, &st) < 0 || n < 0 || !realdir)
		return xasprintf("%s cannot be checked: %s", src, strerror(errno));
	at[n] = '\0';
	if (!startswith(at, realdir) || at[strlen(realdir)] != '/')
		return xasprintf("%s is %s, outside the build directory %s", src, at, build_dir);
	if (!S_ISREG(st.st_mode))
		return xasprintf("%s is not a regular file", src);
	if (st.st_uid != geteuid())
		return xasprintf("%s is owned by uid %u, not root", src, (unsigned)st.st_uid);
	if (ctx->build_user && *ctx->build_user && st.st_nlink != 1)
		return xasprintf("%s has %ju hard links: another file's content", src, (uintmax_t)st.st_nlink);
	return NULL;
}

/* The module make built, copied (never followed through a link, never
 * changed in the build directory) into moddir, where root strips, signs and
 * compresses the copy. */
static int stage_one(struct rekmod_ctx *ctx, const struct dkms_module *mod, const char *build_dir,
		     const char *moddir, const struct sign_plan *plan, enum rk_compress comp)
{
	_cleanup_free_ char *src = xasprintf("%s/%s%s.ko", build_dir, mod->built_location, mod->built_name);
	_cleanup_free_ char *dst = xasprintf("%s/%s.ko", moddir, mod->dest_name);
	_cleanup_close_ int fd = open(src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	_cleanup_free_ char *why = fd < 0 ? xasprintf("%s: %s", src, errno == ELOOP ? "a symbolic link" :
						      strerror(errno)) : built_refused(ctx, fd, src, build_dir);
	if (why) {
		dk_error(ctx, "%s; nothing of it is installed: make BUILT_MODULE_NAME and BUILT_MODULE_LOCATION name "
			 "the module file make built, inside %s", why, build_dir);
		return REKMOD_E_NOKO;
	}
	int r = copy_fd_atomic(fd, dst, 0644);
	if (r < 0)
		return r;
	if (mod->strip) {
		const char *argv[] = { "strip", "-g", dst, NULL };
		int st = 0;
		if (run_logged(ctx, argv, NULL, &st) < 0 || st != 0)
			dk_warn(ctx, "strip -g of %s failed, the module is installed unstripped", src);
	}
	if (plan) /* dkms 3.x names the module in the build directory */
		say(ctx, "Signing module %s", src);
	return build_finish_module(ctx, plan, comp, dst, src);
}

static int stage_modules(struct rekmod_ctx *ctx, const struct dkms_conf *c, const char *build_dir,
			 const char *staging, const char *k, const struct sign_plan *plan)
{
	_cleanup_free_ char *moddir = xasprintf("%s/module", staging);
	if (mkdir(moddir, 0755) < 0)
		return -errno;
	int r = 0;
	enum rk_compress comp = compress_choose(ctx, k);
	for (size_t i = 0; i < c->n_modules && r == 0; i++)
		if (!c->modules[i].excluded)
			r = stage_one(ctx, &c->modules[i], build_dir, moddir, plan->sign ? plan : NULL, comp);
	return r;
}

static void log_header(int fd, const char *m, const char *v, const char *k, const char *a)
{
	char date[64];
	time_t t = time(NULL);
	strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Z %Y", localtime(&t));
	dprintf(fd, "DKMS (rekmod-%s) make.log for %s/%s for kernel %s (%s)\n%s\n", REKMOD_VERSION, m, v, k, a,
		date);
}

static int check_built(struct rekmod_ctx *ctx, const struct dkms_conf *c, const char *build_dir, const char *k,
		       const char *a)
{
	for (size_t i = 0; i < c->n_modules; i++) {
		const struct dkms_module *mod = &c->modules[i];
		_cleanup_free_ char *ko = xasprintf("%s/%s%s.ko", build_dir, mod->built_location, mod->built_name);
		if (mod->excluded || path_exists(ko))
			continue;
		dk_error(ctx,
			 "Build of %s.ko failed for: %s (%s)\nMake sure the name of the generated module is correct "
			 "and at the root of the\nbuild directory, or consult make.log in the build directory\n%s for "
			 "more information.",
			 mod->built_name, k, a, build_dir);
		return REKMOD_E_NOKO;
	}
	return 0;
}

/* dkms 3.x says how it will sign once per kernel and run (its
 * prepare_kernel_and_signing): a later build for k/a says nothing of it
 * (warnings and errors still come). */
int sign_prologue(struct rekmod_ctx *ctx, const char *k, const char *a, struct sign_plan *plan)
{
	_cleanup_free_ char *ka = xasprintf("%s/%s", k, a);
	bool said = ctx->prologue_said && streq(ctx->prologue_said, ka);
	int max = ctx->log.max_priority;
	if (said && max > LOG_WARNING)
		ctx->log.max_priority = LOG_WARNING;
	int r = sign_prepare_say(ctx, k, plan);
	if (r == 0) /* after the prologue or the reason for not signing */
		say(ctx, "%s", "");
	ctx->log.max_priority = max;
	if (r == 0 && !said) {
		free(ctx->prologue_said);
		ctx->prologue_said = TAKE_PTR(ka);
	}
	return r;
}

/* Everything from make to the rename, with the log open. */
static int build_in(struct rekmod_ctx *ctx, const struct dkms_conf *c, const char *m, const char *v,
		    const char *k, const char *a, const char *build_dir)
{
	_cleanup_free_ char *logpath = xasprintf("%s/make.log", build_dir);
	_cleanup_close_ int logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0)
		return -errno;
	log_header(logfd, m, v, k, a);
	int r = apply_patches(ctx, c, build_dir, logfd);
	if (r)
		return r;
	r = run_pre_build(ctx, m, k, c->pre_build, build_dir, logfd, logpath);
	if (r)
		return r;
	_cleanup_free_ char *cmd = make_command(ctx, c, m, v, k);
	struct timespec t0;
	log_section_begin(logfd, "Building module(s)", cmd, &t0);
	int st = 0;
	r = run_make(ctx, cmd, build_dir, k, logfd, &st);
	log_section_end(logfd, r < 0 ? 127 : st, &t0);
	if (r == -ETIME) {
		dprintf(logfd, "# killed: still running after make_timeout_seconds=%d\n", ctx->make_timeout);
		dk_error(ctx, "make for %s/%s on kernel %s (%s) still ran after %ds and was killed; raise "
			 "make_timeout_seconds in framework.conf (0: no limit)\nConsult %s for more information.",
			 m, v, k, a, ctx->make_timeout, logpath);
		return REKMOD_E_BUILD;
	}
	if (r < 0 || st != 0) {
		say(ctx, "Building module(s)...(bad exit status: %d)\nFailed command:\n%s", r < 0 ? 127 : st, cmd);
		dk_error(ctx, "Bad return status for module build on kernel: %s (%s)\nConsult %s for more information.",
			 k, a, logpath);
		return REKMOD_E_BUILD;
	}
	say(ctx, "Building module(s)... done.");
	return check_built(ctx, c, build_dir, k, a);
}

/* Modules and make.log into the staging dir, then one rename makes the build visible. */
static int commit_build(struct rekmod_ctx *ctx, const struct dkms_conf *c, const char *build_dir,
			const char *staging, const char *base, const char *k, const struct sign_plan *plan)
{
	_cleanup_free_ char *logdir = xasprintf("%s/log", staging);
	_cleanup_free_ char *log_src = xasprintf("%s/make.log", build_dir);
	_cleanup_free_ char *log_dst = xasprintf("%s/make.log", logdir);
	int r = stage_modules(ctx, c, build_dir, staging, k, plan);
	if (r == 0 && (mkdir(logdir, 0755) < 0 || rename(log_src, log_dst) < 0))
		r = -errno;
	if (r == 0 && (chmod(staging, 0755) < 0 || rename(staging, base) < 0))
		r = -errno;
	if (r > 0) {
		rm_rf(staging);
		return r;
	}
	if (r < 0) {
		dk_error(ctx, "could not store the build in %s: %s", base, strerror(-r));
		rm_rf(staging);
		return REKMOD_E_BUILD;
	}
	return 0;
}

/* "<version> <build id>" of the build of dependency d installed for k/a: a
 * rebuild of d (a new build directory) or another version changes it. NULL
 * when d is not installed there. */
char *dependency_identity(const struct rekmod_ctx *ctx, const char *d, const char *k, const char *a)
{
	_cleanup_free_ char *dv = tree_installed_version(ctx, d, k, a);
	if (!dv)
		return NULL;
	/* module/ is written once, when the build is made */
	_cleanup_free_ char *db = build_base(ctx, d, dv, k, a);
	_cleanup_free_ char *mods = xasprintf("%s/module", db);
	struct stat st;
	if (stat(mods, &st) < 0)
		return NULL;
	return xasprintf("%s %llu.%lld\n", dv, (unsigned long long)st.st_ino, (long long)st.st_mtime);
}

/* BUILD_DEPENDS_REBUILD: <base>/.dep_<d> names the build of each dependency
 * this one was built against (dkms 3.x); installing another build of d
 * rebuilds this one (install.c). */
static void record_dependencies(struct rekmod_ctx *ctx, const struct dkms_conf *c, const char *m, const char *v,
				const char *k, const char *a)
{
	for (size_t i = 0; c->build_depends && c->build_depends[i]; i++) {
		_cleanup_free_ char *id = dependency_identity(ctx, c->build_depends[i], k, a);
		if (id && tree_write_dep(ctx, m, v, k, a, c->build_depends[i], id) < 0)
			dk_warn(ctx, "could not record the build of %s in %s: %s; a rebuild of %s will not rebuild "
				"this module", c->build_depends[i], m, strerror(errno), c->build_depends[i]);
	}
}

/* POST_BUILD, its output appended to the build's kept make.log */
static void post_build(struct rekmod_ctx *ctx, const struct dkms_conf *c, const char *m, const char *base,
		       const char *build_dir)
{
	if (!c->post_build)
		return;
	_cleanup_free_ char *logpath = xasprintf("%s/log/make.log", base);
	_cleanup_close_ int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	run_build_script(ctx, m, NULL, "post_build", c->post_build, build_dir, fd >= 0 ? fd : -1, logpath);
}

int do_build(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	if (is_dir(base)) {
		dk_error(ctx, "This module/version has already been built on: %s\nDirectory %s already exists. Use the "
			 "dkms remove function before trying to build again.",
			 k, base);
		return REKMOD_E_EXISTS;
	}
	_cleanup_free_ char *src = source_dir(ctx, m, v);
	int r = check_source_trust(ctx, src);
	if (r)
		return r;
	struct dkms_conf *c = NULL;
	struct sign_plan plan = { 0 };
	struct conf_req req = { .module = m, .version = v, .kernel = k, .arch = a, .strict = true };
	r = conf_read(ctx, &req, &c);
	if (r)
		return r;
	if (!conf_paths_ok(ctx, log_of(ctx), c, false)) {
		dkms_conf_free(c);
		return REKMOD_E_BADCONF;
	}
	_cleanup_free_ char *mvd = mv_dir(ctx, m, v);
	_cleanup_free_ char *build_dir = xasprintf("%s/build", mvd);
	_cleanup_free_ char *kdir = xasprintf("%s/%s", mvd, k);
	_cleanup_free_ char *staging = xasprintf("%s/.tmp_%s_XXXXXX", kdir, a);
	if (c->build_exclude) {
		dk_warn(ctx, "The %s/dkms.conf\nfor module %s/%s includes BUILD_EXCLUSIVE directives\nwhich do not match "
			"this kernel/arch/config for any modules.\nThis indicates that it should not be built.",
			base, m, v); /* dkms 3.x's words */
		r = REKMOD_E_SKIPPED;
		goto out;
	}
	if (source_entries(src) < 2) {
		dk_error(ctx, "The directory %s/source does not appear to have module source located within it.\n"
			 "Build halted.",
			 mvd); /* dkms 3.x names the tree's link */
		r = REKMOD_E_BADCONF;
		goto out;
	}
	r = check_headers(ctx, k);
	if (!r)
		r = sign_prologue(ctx, k, a, &plan);
	if (!r)
		r = check_depends(ctx, c, k, a);
	if (r)
		goto out;
	rm_rf(build_dir);
	r = copy_tree(src, build_dir);
	if (r < 0) {
		dk_error(ctx, "could not copy %s to %s: %s", src, build_dir, strerror(-r));
		r = REKMOD_E_BUILD;
		goto out;
	}
	if ((r = overlay_local_patches(ctx, m, build_dir)))
		goto out;
	r = build_in(ctx, c, m, v, k, a, build_dir);
	if (r)
		goto out;
	if (mkdir_p(kdir, 0755) < 0 || !mkdtemp(staging)) {
		dk_error(ctx, "could not create %s: %s", staging, strerror(errno));
		r = REKMOD_E_BUILD;
		goto out;
	}
	r = commit_build(ctx, c, build_dir, staging, base, k, &plan);
	if (r)
		goto out;
	fsync_dir_of(base);
	if (c->build_depends_rebuild)
		record_dependencies(ctx, c, m, v, k, a);
	post_build(ctx, c, m, base, build_dir);
	rm_rf(build_dir);
out:
	sign_plan_done(&plan);
	dkms_conf_free(c);
	return r;
}
