/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Children: their environment, their output into the log, dkms's scripts. */
#include <fcntl.h>
#include <sys/stat.h>

#include "internal.h"

extern char **environ;

/* Output of a child, line by line, into the log at LOG_INFO. */
int run_logged(struct rekmod_ctx *ctx, const char *const *argv, const char *cwd, int *ret_status)
{
	struct strbuf cmd = { 0 };
	for (size_t i = 0; argv[i]; i++)
		sb_printf(&cmd, "%s%s", i ? " " : "", argv[i]);
	rk_debug(log_of(ctx), "%s", cmd.s);
	sb_free(&cmd);
	struct rk_spawn s = { .argv = argv, .cwd = cwd, .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1 };
	_cleanup_free_ char *out = NULL;
	int r = rk_run_capture(&s, &out, NULL, ret_status);
	if (r < 0)
		return r;
	for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		rk_info(log_of(ctx), "%s", l);
	return 0;
}

/* run_logged in the build directory dir, as the build user (sandbox.c) */
static int run_logged_build(struct rekmod_ctx *ctx, const char *const *argv, const char *dir, int *ret_status)
{
	struct rk_spawn s = { .argv = argv, .cwd = dir, .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1 };
	_cleanup_free_ char *out = NULL;
	int r = sandbox_run_capture(ctx, &s, dir, &out, ret_status);
	if (r < 0)
		return r;
	for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		rk_info(log_of(ctx), "%s", l);
	return 0;
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
static char *kernel_cc(const struct rekmod_ctx *ctx, const char *kernel)
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

/* environ without CC CXX CFLAGS CXXFLAGS LDFLAGS (dkms unsets them), plus CC from the kernel */
char **build_env(const struct rekmod_ctx *ctx, const char *kernel)
{
	static const char *const drop[] = { "CC=", "CXX=", "CFLAGS=", "CXXFLAGS=", "LDFLAGS=" };
	char **env = NULL;
	for (char **e = environ; e && *e; e++) {
		bool skip = false;
		for (size_t i = 0; i < ARRAY_SIZE(drop); i++)
			skip |= startswith(*e, drop[i]);
		if (!skip)
			strv_push(&env, xstrdup(*e));
	}
	if (kernel) {
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

/* PRE_BUILD, POST_BUILD (run in the build dir) and POST_ADD, PRE_INSTALL,
 * POST_INSTALL, POST_REMOVE (run in the source dir), as dkms does: the
 * script path relative to that dir, words split, output shown. */
int run_script(struct rekmod_ctx *ctx, const char *m, const char *kind, const char *script, const char *dir)
{
	_cleanup_strv_free_ char **words = script_argv(ctx, m, kind, script, dir);
	if (!words)
		return 0;
	say(ctx, "%s", "");
	say(ctx, "Running the %s script:", kind);
	int st;
	/* POST_BUILD runs in the build directory, as the build user like make */
	int r = streq(kind, "post_build") ? run_logged_build(ctx, (const char *const *)words, dir, &st)
					  : run_logged(ctx, (const char *const *)words, dir, &st);
	if (r < 0) {
		dk_error(ctx, "could not run the %s script %s: %s", kind, words[0], strerror(-r));
		return 1;
	}
	return st;
}

/* PRE_BUILD: as run_script, its output also in the build's make.log; a
 * failure is said as dkms 3.x says it (the status, the command, the log)
 * and is the build's exit status. */
int run_pre_build(struct rekmod_ctx *ctx, const char *m, const char *script, const char *dir, int logfd,
		  const char *logpath)
{
	_cleanup_strv_free_ char **words = script_argv(ctx, m, "pre_build", script, dir);
	if (!words)
		return 0;
	say(ctx, "%s", "");
	say(ctx, "Running the pre_build script:");
	struct strbuf cmd = { 0 };
	for (size_t i = 0; words[i]; i++)
		sb_printf(&cmd, "%s%s", i ? " " : "", words[i]);
	dprintf(logfd, "\nRunning the pre_build script\n# command: cd %s/ && %s\n", dir, cmd.s);
	struct rk_spawn s = { .argv = (const char *const *)words, .cwd = dir, .stdout_fd = -1, .stderr_fd = -1,
			      .stdin_fd = -1 };
	_cleanup_free_ char *out = NULL;
	int st = 0;
	int r = sandbox_run_capture(ctx, &s, dir, &out, &st);
	if (r < 0)
		st = 127;
	if (out && *out)
		dprintf(logfd, "%s%s", out, endswith(out, "\n") ? "" : "\n");
	dprintf(logfd, "\n# exit code: %d\n", st);
	for (char *save = NULL, *l = out ? strtok_r(out, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save))
		rk_info(log_of(ctx), "%s", l);
	if (st != 0)
		rk_err(log_of(ctx), "Running the pre_build script...(bad exit status: %d)\nFailed command:\ncd %s/ && "
		       "%s\nConsult %s for more information.",
		       st, dir, cmd.s, logpath);
	sb_free(&cmd);
	return st;
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
