/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Children: their environment, their output into the log, dkms's scripts. */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"

extern char **environ;

static int run_said(struct rekmod_ctx *ctx, const char *const *argv, const char *const *envp, const char *cwd,
		    int timeout, int priority, int *ret_status)
{
	struct strbuf cmd = { 0 };
	for (size_t i = 0; argv[i]; i++)
		sb_printf(&cmd, "%s%s", i ? " " : "", argv[i]);
	rk_debug(log_of(ctx), "%s", cmd.s);
	sb_free(&cmd);
	struct rk_spawn s = { .argv = argv, .envp = envp, .cwd = cwd, .stdout_fd = -1, .stderr_fd = -1,
			      .stdin_fd = -1, .timeout_seconds = timeout };
	_cleanup_free_ char *out = NULL;
	int r = rk_run_capture(&s, &out, NULL, ret_status);
	if (r < 0)
		return r;
	for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		rk_logf(log_of(ctx), priority, "%s", l);
	return 0;
}

/* Output of a child (stdout and stderr in order), line by line, into the log at LOG_INFO. */
static int run_logged_timed(struct rekmod_ctx *ctx, const char *const *argv, const char *const *envp,
			    const char *cwd, int timeout, int *ret_status)
{
	return run_said(ctx, argv, envp, cwd, timeout, LOG_INFO, ret_status);
}

/* Output of a child, line by line, into the log at LOG_INFO. */
int run_logged(struct rekmod_ctx *ctx, const char *const *argv, const char *cwd, int *ret_status)
{
	return run_logged_timed(ctx, argv, NULL, cwd, 0, ret_status);
}

/* a script that ran past script_timeout_seconds: one line, and the status of a killed one */
static int script_timed_out(struct rekmod_ctx *ctx, const char *kind, const char *exe)
{
	dk_error(ctx, "The %s script %s still ran after %ds and was killed; raise script_timeout_seconds in "
		 "framework.conf (0: no limit)", kind, exe, ctx->script_timeout);
	return 128 + SIGKILL;
}

/* pattern NAME, or PREFIX* ; against the n-byte name at e */
static bool env_name_matches(const char *pattern, const char *e, size_t n)
{
	size_t l = strlen(pattern);
	if (l && pattern[l - 1] == '*')
		return n >= l - 1 && strncmp(pattern, e, l - 1) == 0;
	return n == l && strncmp(pattern, e, n) == 0;
}

static bool on_path(const char *prog)
{
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/bin:/bin";
	_cleanup_free_ char *p = xstrdup(path);
	for (char *save = NULL, *d = strtok_r(p, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		_cleanup_free_ char *f = xasprintf("%s/%s", d, prog);
		if (access(f, X_OK) == 0)
			return true;
	}
	return false;
}

/* The compiler the kernel was built with: CONFIG_CC_VERSION_TEXT="x86_64-linux-gnu-gcc-12 (...)". */
char *kernel_cc(const struct rekmod_ctx *ctx, const char *kernel)
{
	_cleanup_free_ char *cfg = kernel_config_path(ctx, kernel);
	_cleanup_free_ char *text = NULL;
	if (read_file(cfg, &text, NULL) < 0)
		return NULL;
	_cleanup_free_ char *version = text_value(text, "CONFIG_CC_VERSION_TEXT");
	if (!version)
		return NULL;
	_cleanup_free_ char *cc = xstrndup(version, strcspn(version, " "));
	if (!*cc || strchr(cc, '/') || !on_path(cc))
		return NULL;
	return TAKE_PTR(cc);
}

/* What MAKE and the scripts get of the caller's environment: the search
 * path, home, locale, time zone, temporary directory, terminal and the
 * reproducible-build settings, plus the names of framework.conf's
 * build_environment_allow and, when framework.conf names distcc or icecc,
 * its DISTCC_* or ICECC_* settings. Nothing else: no SSH_AUTH_SOCK or other secret,
 * no MAKEFLAGS (only the jobserver's), no BASH_ENV or ENV for bash to source,
 * and, as dkms unsets them, no CC CXX CFLAGS CXXFLAGS LDFLAGS. */
static bool env_allowed(const struct rekmod_ctx *ctx, const char *e)
{
	static const char *const keep[] = { "PATH", "HOME", "LANG", "LANGUAGE", "LC_*", "TZ", "TMPDIR", "TERM",
					    "SOURCE_DATE_EPOCH", "KBUILD_BUILD_TIMESTAMP", "KBUILD_BUILD_USER",
					    "KBUILD_BUILD_HOST", "KBUILD_BUILD_VERSION" };
	const char *eq = strchr(e, '=');
	if (!eq)
		return false;
	size_t n = (size_t)(eq - e);
	for (size_t i = 0; i < ARRAY_SIZE(keep); i++)
		if (env_name_matches(keep[i], e, n))
			return true;
	for (size_t i = 0; ctx->build_env_allow && ctx->build_env_allow[i]; i++)
		if (env_name_matches(ctx->build_env_allow[i], e, n))
			return true;
	/* the distributed compiler framework.conf names keeps its own settings
	 * (DISTCC_HOSTS, ICECC_SCHEDULER_HOST, ...) */
	const char *dc = ctx->distributed_compiler;
	return dc && ((streq(dc, "distcc") && env_name_matches("DISTCC_*", e, n)) ||
		      (streq(dc, "icecc") && env_name_matches("ICECC_*", e, n)));
}

/* The environment of MAKE and the scripts: env_allowed's part of the
 * caller's, the variables dkms has set when it runs them (dkms_tree,
 * source_tree, install_tree; for a kernel kernelver, arch,
 * kernel_source_dir), and CC from the kernel's configuration. */
char **build_env(const struct rekmod_ctx *ctx, const char *kernel)
{
	char **env = NULL;
	bool path = false;
	for (char **e = environ; e && *e; e++) {
		if (!env_allowed(ctx, *e))
			continue;
		path |= startswith(*e, "PATH=");
		strv_push(&env, xstrdup(*e));
	}
	if (!path)
		strv_push(&env, xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
	strv_push(&env, xasprintf("dkms_tree=%s", ctx->dkms_tree_path));
	strv_push(&env, xasprintf("source_tree=%s", ctx->source_tree_path));
	strv_push(&env, xasprintf("install_tree=%s", ctx->install_tree_path));
	if (kernel) {
		_cleanup_free_ char *ksd = kernel_source_dir(ctx, kernel);
		strv_push(&env, xasprintf("kernelver=%s", kernel));
		strv_push(&env, xasprintf("arch=%s", ctx->arch));
		strv_push(&env, xasprintf("kernel_source_dir=%s", ksd));
		_cleanup_free_ char *cc = kernel_cc(ctx, kernel);
		if (cc)
			strv_push(&env, xasprintf("CC=%s", cc));
	}
	return env;
}

/* The script's argv (path relative to dir, or its /etc/dkms/<m>/ override;
 * words split), or NULL: none, or not executable (said). */
static char **script_argv(struct rekmod_ctx *ctx, const char *m, const char *kind, const char *script,
			  const char *dir)
{
	if (!script || !*script)
		return NULL;
	char **words = NULL;
	_cleanup_free_ char *copy = xstrdup(script);
	for (char *save = NULL, *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		strv_push(&words, xstrdup(w));
	if (!words)
		return NULL;
	const char *base = strrchr(words[0], '/') ? strrchr(words[0], '/') + 1 : words[0];
	_cleanup_free_ char *local = xasprintf("%s/etc/dkms/%s/%s", ctx->root, m, base);
	bool overridden = name_is_valid(m) && name_is_valid(base) && access(local, X_OK) == 0;
	_cleanup_free_ char *exe = overridden ? xstrdup(local) : xasprintf("%s/%s", dir, words[0]);
	if (access(exe, X_OK) != 0) {
		say(ctx, "%s", "");
		dk_warn(ctx, "The %s script is not executable.", kind);
		strv_free(words);
		return NULL;
	}
	free(words[0]);
	words[0] = TAKE_PTR(exe);
	return words;
}

/* where POST_ADD ... POST_REMOVE run: dkms 3.x runs them from the tree's
 * source link (its path is in their output); under --root the link's
 * target means something only resolved in the root: the source itself */
char *script_dir(const struct rekmod_ctx *ctx, const char *m, const char *v)
{
	if (ctx->root && *ctx->root)
		return source_dir(ctx, m, v);
	_cleanup_free_ char *d = mv_dir(ctx, m, v);
	return xasprintf("%s/source", d);
}

/* PRE_BUILD, POST_BUILD (run in the build dir) and POST_ADD, PRE_INSTALL,
 * POST_INSTALL, POST_REMOVE (run in the source dir), as dkms does: the
 * script path relative to that dir, words split, output shown. */
int run_script(struct rekmod_ctx *ctx, const char *m, const char *kind, const char *script, const char *dir)
{
	_cleanup_strv_free_ char **words = script_argv(ctx, m, kind, script, dir);
	if (!words)
		return 0;
	say(ctx, "Running the %s script:", kind);
	int st;
	_cleanup_strv_free_ char **env = build_env(ctx, NULL);
	/* dkms 3.x shows these scripts' output */
	int r = run_said(ctx, (const char *const *)words, (const char *const *)env, dir, ctx->script_timeout,
			 LOG_NOTICE, &st);
	if (r == -ETIME)
		return script_timed_out(ctx, kind, words[0]);
	if (r < 0) {
		dk_error(ctx, "could not run the %s script %s: %s", kind, words[0], strerror(-r));
		return 1;
	}
	return st;
}

/* make.log sections as dkms 3.x writes them (invoke_command): a blank line,
 * the title, "# command: ...", the output, "# exit code: N", the elapsed
 * time as hh:mm:ss and a rule. */
void log_section_begin(int fd, const char *title, const char *cmd, struct timespec *t0)
{
	dprintf(fd, "\n%s\n# command: %s\n", title, cmd);
	clock_gettime(CLOCK_MONOTONIC, t0);
}

void log_section_end(int fd, int status, const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long s = (long)(t1.tv_sec - t0->tv_sec);
	dprintf(fd, "\n# exit code: %d\n# elapsed time: %02ld:%02ld:%02ld\n"
		"----------------------------------------------------------------\n",
		status, s / 3600, s / 60 % 60, s % 60);
}

/* PRE_BUILD and POST_BUILD: as run_script, the output in the build's
 * make.log; said as dkms 3.x says it ("Running the pre_build script...
 * done.", or the status, the command, the log) and the build's exit status. */
int run_build_script(struct rekmod_ctx *ctx, const char *m, const char *k, const char *kind, const char *script,
		     const char *dir, int logfd, const char *logpath)
{
	_cleanup_strv_free_ char **words = script_argv(ctx, m, kind, script, dir);
	if (!words)
		return 0;
	struct strbuf cmd = { 0 };
	for (size_t i = 0; words[i]; i++)
		sb_printf(&cmd, "%s%s", i ? " " : "", words[i]);
	_cleanup_free_ char *title = xasprintf("Running the %s script", kind);
	_cleanup_free_ char *line = xasprintf("cd %s/ && %s", dir, cmd.s);
	sb_free(&cmd);
	struct timespec t0;
	log_section_begin(logfd, title, line, &t0);
	_cleanup_strv_free_ char **env = build_env(ctx, k);
	struct rk_spawn s = { .argv = (const char *const *)words, .envp = (const char *const *)env, .cwd = dir,
			      .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1, .timeout_seconds = ctx->script_timeout };
	_cleanup_free_ char *out = NULL;
	int st = 0;
	int r = sandbox_run_capture(ctx, &s, dir, &out, &st);
	if (r == -ETIME) {
		dprintf(logfd, "\n# killed: still running after script_timeout_seconds=%d\n", ctx->script_timeout);
		return script_timed_out(ctx, kind, words[0]);
	}
	if (r < 0)
		st = 127;
	if (out && *out)
		dprintf(logfd, "%s%s", out, endswith(out, "\n") ? "" : "\n");
	log_section_end(logfd, st, &t0);
	for (char *save = NULL, *l = out ? strtok_r(out, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
		rk_info(log_of(ctx), "%s", l);
	if (st != 0)
		rk_err(log_of(ctx), "%s...(bad exit status: %d)\nFailed command:\n%s\nConsult %s for more information.",
		       title, st, line, logpath);
	else
		say(ctx, "%s... done.", title);
	return st;
}

int run_pre_build(struct rekmod_ctx *ctx, const char *m, const char *k, const char *script, const char *dir,
		  int logfd, const char *logpath)
{
	return run_build_script(ctx, m, k, "pre_build", script, dir, logfd, logpath);
}

/* Runs a tool (tar, dpkg-deb, rpmbuild); on failure its output and one error
 * line are logged. 0 or REKMOD_E_GENERIC. */
int run_tool(struct rekmod_ctx *ctx, const char *const *argv, const char *cwd)
{
	static const char *const debian_package[][2] = {
		{ "rpmbuild", "rpm" }, { "dpkg-deb", "dpkg" }, { "tar", "tar" },
	};
	struct strbuf cmd = { 0 };
	for (size_t i = 0; argv[i]; i++)
		sb_printf(&cmd, "%s%s", i ? " " : "", argv[i]);
	rk_debug(log_of(ctx), "%s", cmd.s);
	struct rk_spawn s = { .argv = argv, .cwd = cwd, .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1 };
	_cleanup_free_ char *out = NULL;
	int status = 0;
	int r = rk_run_capture(&s, &out, NULL, &status);
	if (r < 0) {
		const char *pkg = argv[0];
		for (size_t i = 0; i < ARRAY_SIZE(debian_package); i++)
			if (streq(argv[0], debian_package[i][0]))
				pkg = debian_package[i][1];
		dk_error(ctx, "could not run %s: %s; install it (Debian: apt-get install %s)", argv[0], strerror(-r),
			 pkg);
		sb_free(&cmd);
		return REKMOD_E_GENERIC;
	}
	int prio = status ? LOG_ERR : LOG_INFO;
	for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		rk_logf(log_of(ctx), prio, "%s", l);
	if (status)
		dk_error(ctx, "%s failed (exit %d): %s", argv[0], status, cmd.s);
	sb_free(&cmd);
	return status ? REKMOD_E_GENERIC : 0;
}
