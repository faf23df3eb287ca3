/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The context: root, configuration (framework.conf, os-release), log sink. */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>

#include "internal.h"

_public_ const char *rekmod_version(void)
{
	return REKMOD_VERSION;
}

char *root_path(const struct rekmod_ctx *ctx, const char *path)
{
	/* "<root>[/]<path>" without format parsing: status asks for many */
	size_t lr = strlen(ctx->root), lp = strlen(path), slash = path[0] != '/';
	char *s = xmalloc(lr + slash + lp + 1);
	memcpy(s, ctx->root, lr);
	s[lr] = '/';
	memcpy(s + lr + slash, path, lp + 1);
	return s;
}

char *resolve_link(const struct rekmod_ctx *ctx, const char *link, bool host_fallback)
{
	char target[PATH_MAX];
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return xstrdup(link);
	target[n] = '\0';
	if (target[0] != '/') {
		_cleanup_free_ char *dir = xstrdup(link);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		return xasprintf("%s/%s", dir, target);
	}
	if (!ctx->root[0])
		return xstrdup(target);
	char *in_root = root_path(ctx, target);
	if (!host_fallback || path_exists(in_root))
		return in_root;
	free(in_root);
	return xstrdup(target);
}

/* ---- framework.conf: plain NAME=value lines; anything else is reported and skipped ---- */

static const char *const framework_keys[] = {
	"source_tree", "dkms_tree", "install_tree", "tmp_location", "verbose", "symlink_modules",
	"autoinstall_all_kernels", "modprobe_on_install", "parallel_jobs", "compress_gzip_opts",
	"compress_xz_opts", "compress_zstd_opts", "build_environment", "post_transaction", "sign_file",
	"mok_signing_key", "mok_certificate", "try_sign_modules", "lock_timeout_seconds", "conf_timeout_seconds",
	"make_timeout_seconds", "script_timeout_seconds", "build_environment_allow", "reuse_kernels",
	"reuse_compatible_kernels",
	/* rekmod publish and distributed builds: README, Fleets */
	"headers_cache", "publish_gpg_key", "distributed_compiler", "distributed_jobs", "build_user", NULL,
};

static char *unquote(const char *s)
{
	struct strbuf b = { 0 };
	char q = 0;
	for (; *s; s++) {
		if (q) {
			if (*s == q)
				q = 0;
			else
				sb_putc(&b, *s);
		} else if (*s == '"' || *s == '\'') {
			q = *s;
		} else if (*s == '#' && (b.len == 0 || isspace((unsigned char)s[-1]))) {
			break;
		} else {
			sb_putc(&b, *s);
		}
	}
	while (b.len && isspace((unsigned char)b.s[b.len - 1]))
		b.s[--b.len] = '\0';
	return sb_steal(&b);
}

static char **signing_slot(struct rekmod_ctx *ctx, const char *key)
{
	if (streq(key, "sign_file"))
		return &ctx->sign_file;
	if (streq(key, "mok_signing_key"))
		return &ctx->mok_signing_key;
	if (streq(key, "mok_certificate"))
		return &ctx->mok_certificate;
	if (streq(key, "try_sign_modules"))
		return &ctx->try_sign_modules;
	return NULL;
}

/* As in dkms, the signing variables also come in from the environment;
 * framework.conf wins. */
static void signing_from_env(struct rekmod_ctx *ctx)
{
	static const char *const keys[] = { "sign_file", "mok_signing_key", "mok_certificate", "try_sign_modules" };
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		char **slot = signing_slot(ctx, keys[i]);
		const char *e = getenv(keys[i]);
		if (!*slot && e && *e)
			*slot = xstrdup(e);
	}
}

/* The *_timeout_seconds keys: 1 to 604800 seconds; 0 (off) where that is
 * allowed. true when key is one of them. */
static bool timeout_set(struct rekmod_ctx *ctx, const char *key, const char *val)
{
	static const struct {
		const char *key;
		size_t off;
		int dflt; /* 0: off by default, and 0 turns it off */
	} keys[] = {
		{ "lock_timeout_seconds", offsetof(struct rekmod_ctx, lock_timeout), 1800 },
		{ "conf_timeout_seconds", offsetof(struct rekmod_ctx, conf_timeout), CONF_TIMEOUT_SECONDS },
		{ "make_timeout_seconds", offsetof(struct rekmod_ctx, make_timeout), 0 },
		{ "script_timeout_seconds", offsetof(struct rekmod_ctx, script_timeout), 0 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (!streq(key, keys[i].key))
			continue;
		char *end;
		long t = strtol(val, &end, 10);
		if (*val && !*end && t >= (keys[i].dflt ? 1 : 0) && t <= 86400 * 7)
			*(int *)((char *)ctx + keys[i].off) = (int)t;
		else if (keys[i].dflt)
			rk_warn(log_of(ctx), "framework.conf: %s=\"%s\" is not a number of seconds (1 to 604800), the "
				"default %d is used; write e.g. %s=600", key, val, keys[i].dflt, key);
		else
			rk_warn(log_of(ctx), "framework.conf: %s=\"%s\" is not a number of seconds (1 to 604800, "
				"0 for none), none is used; write e.g. %s=3600", key, val, key);
		return true;
	}
	return false;
}

/* build_environment_allow="NAME PREFIX* ...": names of the caller's
 * environment that MAKE and the scripts get too (a later file's list replaces
 * an earlier one) */
static void env_allow_set(struct rekmod_ctx *ctx, const char *val)
{
	strv_free(ctx->build_env_allow);
	ctx->build_env_allow = NULL;
	_cleanup_free_ char *copy = xstrdup(val);
	for (char *save = NULL, *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		size_t n = strlen(w) - (endswith(w, "*") ? 1 : 0);
		bool ok = n > 0 && (isalpha((unsigned char)w[0]) || w[0] == '_');
		for (size_t i = 1; ok && i < n; i++)
			ok = isalnum((unsigned char)w[i]) || w[i] == '_';
		if (ok)
			strv_push(&ctx->build_env_allow, xstrdup(w));
		else
			rk_warn(log_of(ctx), "framework.conf: build_environment_allow: \"%s\" is not a variable name "
				"(letters, digits, _; a trailing * for a prefix), skipped; write e.g. "
				"build_environment_allow=\"http_proxy DEB_*\"", w);
	}
}

/* reuse_kernels (default yes), reuse_compatible_kernels (default no): yes or no */
static void framework_reuse(struct rekmod_ctx *ctx, const char *key, const char *val)
{
	bool yes = streq(val, "yes"), *slot = streq(key, "reuse_kernels") ? &ctx->reuse_kernels : &ctx->reuse_compatible;
	if (!yes && !streq(val, "no")) {
		rk_warn(log_of(ctx), "framework.conf: %s=\"%s\" is neither yes nor no, the default (%s) is used; write "
			"%s=\"yes\" or \"no\"", key, val, *slot ? "yes" : "no", key);
		return;
	}
	*slot = yes;
}

static char **fleet_slot(struct rekmod_ctx *ctx, const char *key)
{
	if (streq(key, "headers_cache"))
		return &ctx->headers_cache;
	if (streq(key, "publish_gpg_key"))
		return &ctx->publish_gpg_key;
	if (streq(key, "distributed_compiler"))
		return &ctx->distributed_compiler;
	return NULL;
}

static void framework_set(struct rekmod_ctx *ctx, const char *key, char *val)
{
	if (streq(key, "dkms_tree") && !ctx->dkms_tree)
		ctx->dkms_tree = TAKE_PTR(val);
	else if (streq(key, "source_tree") && !ctx->source_tree)
		ctx->source_tree = TAKE_PTR(val);
	else if (streq(key, "install_tree") && !ctx->install_tree)
		ctx->install_tree = TAKE_PTR(val);
	else if (streq(key, "parallel_jobs") && ctx->jobs == 0)
		ctx->jobs = atoi(val);
	else if (timeout_set(ctx, key, val))
		;
	else if (streq(key, "build_environment_allow"))
		env_allow_set(ctx, val);
	else if (streq(key, "reuse_kernels") || streq(key, "reuse_compatible_kernels"))
		framework_reuse(ctx, key, val);
	else if (fleet_slot(ctx, key)) {
		char **slot = fleet_slot(ctx, key);
		free(*slot);
		*slot = TAKE_PTR(val);
	} else if (streq(key, "distributed_jobs"))
		ctx->distributed_jobs = atoi(val);
	else if (streq(key, "build_user")) {
		free(ctx->build_user);
		ctx->build_user = TAKE_PTR(val);
	} else if (streq(key, "post_transaction")) {
		free(ctx->post_transaction);
		ctx->post_transaction = TAKE_PTR(val);
	} else {
		char **slot = signing_slot(ctx, key);
		if (slot) {
			free(*slot);
			*slot = TAKE_PTR(val);
		}
	}
	free(val);
}

/* "name() {", "function name {": a shell function dkms would define when it
 * sources the file; rekmod never runs it (said at --verbose only) */
static bool shell_function_start(const char *l)
{
	if (startswith(l, "function "))
		return true;
	size_t n = strspn(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
	while (l[n] == ' ' || l[n] == '\t')
		n++;
	return n && startswith(l + n, "()");
}

static void framework_read_file(struct rekmod_ctx *ctx, const char *path)
{
	int in_function = 0; /* lines of a shell function's body left to its "}" */
	_cleanup_free_ char *text = NULL;
	if (read_file(path, &text, NULL) < 0)
		return;
	unsigned line = 0;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		line++;
		while (isspace((unsigned char)*l))
			l++;
		size_t len = strlen(l);
		if (len && l[len - 1] == '\r')
			l[--len] = '\0';
		if (!*l || *l == '#')
			continue;
		if (in_function || shell_function_start(l)) {
			in_function = !(streq(l, "}") || (strchr(l, '{') && endswith(l, "}")));
			rk_info(log_of(ctx), "%s:%u: a shell function, which rekmod does not run; ignored", path, line);
			continue;
		}
		char *eq = strchr(l, '=');
		if (!eq) {
			rk_warn(log_of(ctx), "%s:%u: not a NAME=value line, ignored; write it as name=\"value\"", path,
				line);
			continue;
		}
		*eq = '\0';
		if (!strv_contains((char *const *)framework_keys, l))
			continue; /* unknown keys are ignored, as dkms does */
		if (strpbrk(eq + 1, "$`")) {
			/* $kernelver in signing paths is expanded later by the signing code */
			if (!startswith(l, "mok_") && !streq(l, "sign_file") && !streq(l, "post_transaction"))
				rk_warn(log_of(ctx), "%s:%u: %s uses shell expansion, which rekmod does not evaluate "
						     "here; write a literal value",
					path, line, l);
		}
		framework_set(ctx, l, unquote(eq + 1));
	}
}

/* Trees given on the command line are already set and win over the files. */
static void framework_read(struct rekmod_ctx *ctx)
{
	_cleanup_free_ char *main_conf = root_path(ctx, "/etc/dkms/framework.conf");
	_cleanup_free_ char *dropin = root_path(ctx, "/etc/dkms/framework.conf.d");
	framework_read_file(ctx, main_conf);
	_cleanup_strv_free_ char **names = list_dir(dropin);
	for (size_t i = 0; names && names[i]; i++) {
		if (!endswith(names[i], ".conf"))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", dropin, names[i]);
		framework_read_file(ctx, p);
	}
}

/* The running distribution (os-release's ID), read when first asked for:
 * status and the other read-only verbs never ask. */
const char *ctx_distro(const struct rekmod_ctx *cctx)
{
	static const char *const paths[] = { "/etc/os-release", "/usr/lib/os-release" };
	struct rekmod_ctx *ctx = (struct rekmod_ctx *)cctx; /* a cache: allocated non-const in rekmod_new */
	if (ctx->distro)
		return ctx->distro;
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
		_cleanup_free_ char *p = root_path(ctx, paths[i]);
		_cleanup_free_ char *text = NULL;
		if (read_file(p, &text, NULL) < 0)
			continue;
		ctx->distro = os_release_distro(text);
		break;
	}
	ctx->no_os_release = !ctx->distro;
	if (!ctx->distro)
		ctx->distro = xstrdup("unknown");
	return ctx->distro;
}

/* dkms 3.x refuses to run without os-release (exit 4) */
int require_os_release(struct rekmod_ctx *ctx)
{
	(void)ctx_distro(ctx); /* read when first asked for */
	if (!ctx->no_os_release)
		return 0;
	dk_error(ctx, "System is missing os-release file.");
	rk_info(log_of(ctx), "neither %s/etc/os-release nor %s/usr/lib/os-release exists; restore the distribution's "
		"os-release file", ctx->root, ctx->root);
	return REKMOD_E_NOCONF;
}

/* As nproc(1), which dkms runs: the CPUs this process may use (one system
 * call; sysconf reads /sys for the online ones). */
static int nproc(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

static void default_log(void *userdata, int priority, const char *msg)
{
	(void)userdata;
	fprintf(priority <= LOG_WARNING ? stderr : stdout, "%s\n", msg);
}

static char *strip_slash(const char *p)
{
	char *s = xstrdup(p);
	size_t n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
	return s;
}

_public_ int rekmod_new(const struct rekmod_options *o, struct rekmod_ctx **ret)
{
	static const struct rekmod_options none = { 0 };
	if (!o)
		o = &none;
	struct rekmod_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->lock_fd = -1;
	ctx->conf_timeout = CONF_TIMEOUT_SECONDS;
	ctx->reuse_kernels = true;
	ctx->log.fn = o->log_fn ? o->log_fn : default_log;
	ctx->log.userdata = o->log_userdata;
	ctx->log.max_priority = o->log_priority ? o->log_priority : (o->verbose ? LOG_DEBUG : LOG_NOTICE);

	const char *root = o->root ? o->root : getenv("REKMOD_ROOT");
	if (root && *root && !streq(root, "/")) {
		_cleanup_free_ char *real = realpath(root, NULL);
		if (!real || !is_dir(real)) {
			dk_error(ctx, "root directory %s does not exist; create it or fix --root", root);
			rekmod_unref(ctx);
			return -ENOENT;
		}
		ctx->root = strip_slash(real);
	} else {
		ctx->root = xstrdup("");
	}

	if (o->dkms_tree)
		ctx->dkms_tree = strip_slash(o->dkms_tree);
	if (o->source_tree)
		ctx->source_tree = strip_slash(o->source_tree);
	if (o->install_tree)
		ctx->install_tree = strip_slash(o->install_tree);
	ctx->jobs = o->jobs;
	framework_read(ctx);
	signing_from_env(ctx);
	if (!ctx->dkms_tree)
		ctx->dkms_tree = xstrdup("/var/lib/dkms");
	if (!ctx->source_tree)
		ctx->source_tree = xstrdup("/usr/src");
	if (!ctx->install_tree)
		ctx->install_tree = xstrdup("/lib/modules");
	ctx->dkms_tree_path = root_path(ctx, ctx->dkms_tree);
	ctx->source_tree_path = root_path(ctx, ctx->source_tree);
	ctx->install_tree_path = root_path(ctx, ctx->install_tree);
	const char *pj = getenv("parallel_jobs"); /* dkms: an exported parallel_jobs, framework.conf wins */
	if (ctx->jobs <= 0 && pj && atoi(pj) > 0)
		ctx->jobs = atoi(pj);
	if (ctx->jobs <= 0 && ctx->distributed_compiler && *ctx->distributed_compiler && ctx->distributed_jobs > 0)
		ctx->jobs = ctx->distributed_jobs; /* the remote slots size the jobserver */
	if (ctx->jobs <= 0)
		ctx->jobs = nproc();

	if (o->kernel_source_dir)
		ctx->kernel_source_dir = strip_slash(o->kernel_source_dir);
	if (o->kernel_config)
		ctx->kernel_config = xstrdup(o->kernel_config);
	if (o->conf)
		ctx->conf = xstrdup(o->conf);
	for (size_t i = 0; o->directives && o->directives[i]; i++)
		strv_push(&ctx->directives, xstrdup(o->directives[i]));
	ctx->force = o->force;
	ctx->force_version_override = o->force_version_override;
	ctx->no_depmod = o->no_depmod;
	ctx->verbose = o->verbose;

	struct utsname u;
	uname(&u);
	ctx->arch = xstrdup(u.machine);
	ctx->current_kernel = xstrdup(u.release);
	const char *addon = getenv("ADDON_MODULES_DIR");
	if (addon && *addon)
		ctx->addon_modules_dir = xstrdup(addon);
	*ret = ctx;
	return 0;
}

_public_ struct rekmod_ctx *rekmod_unref(struct rekmod_ctx *ctx)
{
	if (!ctx)
		return NULL;
	if (ctx->lock_fd >= 0)
		close(ctx->lock_fd);
	free(ctx->root);
	free(ctx->dkms_tree);
	free(ctx->source_tree);
	free(ctx->install_tree);
	free(ctx->dkms_tree_path);
	free(ctx->source_tree_path);
	free(ctx->install_tree_path);
	free(ctx->kernel_source_dir);
	free(ctx->kernel_config);
	free(ctx->conf);
	strv_free(ctx->directives);
	strv_free(ctx->build_env_allow);
	free(ctx->distro);
	free(ctx->addon_modules_dir);
	free(ctx->arch);
	free(ctx->current_kernel);
	free(ctx->post_transaction);
	free(ctx->build_user);
	free(ctx->sign_file);
	free(ctx->mok_signing_key);
	free(ctx->mok_certificate);
	free(ctx->try_sign_modules);
	free(ctx->prologue_said);
	free(ctx->deprecated_said);
	free(ctx->jobserver);
	free(ctx->headers_cache);
	free(ctx->publish_gpg_key);
	free(ctx->distributed_compiler);
	free(ctx);
	return NULL;
}

_public_ const char *rekmod_dkms_tree(const struct rekmod_ctx *ctx)
{
	return ctx->dkms_tree_path;
}

_public_ const char *rekmod_source_tree(const struct rekmod_ctx *ctx)
{
	return ctx->source_tree_path;
}

_public_ const char *rekmod_install_tree(const struct rekmod_ctx *ctx)
{
	return ctx->install_tree_path;
}

_public_ const char *rekmod_default_arch(const struct rekmod_ctx *ctx)
{
	return ctx->arch;
}
