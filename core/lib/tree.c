/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dkms tree on disk: what is added, built, installed; and the
 * only reader and writer of every record rekmod keeps in it: the install
 * lists (.rekmod-installed), failure and skip records (.rekmod-failed-K-A,
 * .rekmod-skipped-K-A; a failure's make.log in <m>/<v>/log/), the .dep_<d> records of BUILD_DEPENDS_REBUILD,
 * reuse's header hashes (.rekmod-kernels/<K>) and reused builds (.rekmod-reused) and
 * the tree lock (.rekmod.lock). */
#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
	/* an empty module/ is the build of a dkms.conf with zero modules (dkms 3.x) */
	if (e && !e[0])
		return true;
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

bool tree_is_registered(const struct rekmod_ctx *ctx, const char *m)
{
	if (!name_is_valid(m))
		return false;
	_cleanup_strv_free_ char **vs = tree_list_added(ctx, m);
	return vs[0] != NULL;
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

/* ---- lock: one flock on <dkms_tree>/.rekmod.lock, bounded wait naming the holder ---- */

#define LOCK_WAIT_SECONDS 1800

static bool pid_alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* The live process holding the flock on fd: /proc/locks names the one that
 * took it, else the pid the holder wrote in the file; 0 when neither lives
 * (the last holder's pid is stale). */
static long lock_holder(int fd)
{
	struct stat st;
	_cleanup_free_ char *locks = NULL;
	if (fstat(fd, &st) == 0 && read_file("/proc/locks", &locks, NULL) == 0) {
		for (char *save = NULL, *l = strtok_r(locks, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			unsigned maj, min;
			unsigned long ino;
			long pid;
			char kind[16];
			if (strstr(l, "->") || sscanf(l, "%*d: %15s %*s %*s %ld %x:%x:%lu", kind, &pid, &maj, &min, &ino) != 5)
				continue;
			if (streq(kind, "FLOCK") && ino == st.st_ino && maj == major(st.st_dev) && min == minor(st.st_dev) &&
			    pid_alive(pid))
				return pid;
		}
	}
	char text[32] = "";
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	text[n > 0 ? n : 0] = '\0';
	long pid = strtol(text, NULL, 10);
	return pid_alive(pid) ? pid : 0;
}

static char *holder_words(int fd)
{
	long pid = lock_holder(fd);
	return pid ? xasprintf(" held by pid %ld", pid) : xstrdup("");
}

/* waits up to lock_timeout_seconds; the waiting line goes out at once (stderr) */
static int lock_wait(struct rekmod_ctx *ctx, int fd, const char *p)
{
	int limit = ctx->lock_timeout > 0 ? ctx->lock_timeout : LOCK_WAIT_SECONDS;
	_cleanup_free_ char *held = holder_words(fd);
	rk_warn(log_of(ctx), "Waiting for the DKMS tree lock %s%s...", p, held);
	time_t end = time(NULL) + limit;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (time(NULL) >= end) {
			free(held);
			held = holder_words(fd);
			dk_error(ctx, "Timed out after %ds waiting for %s%s; wait for it to finish, or raise "
				 "lock_timeout_seconds in framework.conf", limit, p, held);
			return REKMOD_E_GENERIC;
		}
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

void tree_drop_temporaries(const char *dir, const char *prefix);

/* the subdirectories of dir, not hidden, as paths */
static char **subdirs(const char *dir)
{
	char **out = xcalloc(1, sizeof(char *));
	_cleanup_strv_free_ char **names = list_dir(dir);
	for (size_t i = 0; names && names[i]; i++) {
		char *d = xasprintf("%s/%s", dir, names[i]);
		if (names[i][0] != '.' && is_dir(d) && !is_symlink(d))
			strv_push(&out, d);
		else
			free(d);
	}
	return out;
}

/* <m>/<v>/<K>/.tmp_<A>_*: a build's staging directory a crash left */
static void drop_stale_staging(const char *kdir)
{
	_cleanup_strv_free_ char **names = list_dir(kdir);
	for (size_t i = 0; names && names[i]; i++) {
		_cleanup_free_ char *d = xasprintf("%s/%s", kdir, names[i]);
		if (startswith(names[i], ".tmp_"))
			rm_rf(d);
	}
}

/* With the lock taken no other rekmod writes: a *.rekmod-tmp.* file in the
 * tree, a module's or a version's directory (records, links), a build's
 * staging directory, or an empty module or version directory, is a crash's. */
static void drop_crash_temporaries(const struct rekmod_ctx *ctx)
{
	tree_drop_temporaries(ctx->dkms_tree_path, NULL);
	_cleanup_strv_free_ char **mods = subdirs(ctx->dkms_tree_path);
	for (size_t i = 0; mods[i]; i++) {
		tree_drop_temporaries(mods[i], NULL);
		_cleanup_strv_free_ char **vers = subdirs(mods[i]);
		for (size_t j = 0; vers[j]; j++) {
			tree_drop_temporaries(vers[j], NULL);
			_cleanup_strv_free_ char **ks = subdirs(vers[j]);
			for (size_t l = 0; ks[l]; l++)
				drop_stale_staging(ks[l]);
			/* an empty one is a broken module (its source link deleted):
			 * add and remove never leave one (verbs.c, jobs.c) */
		}
		rmdir(mods[i]);
	}
}

int tree_lock(struct rekmod_ctx *ctx)
{
	if (ctx->lock_depth++ > 0)
		return 0;
	int r = mkdir_p(ctx->dkms_tree_path, 0755);
	if (r < 0) {
		dk_error(ctx, "No write access to DKMS tree at %s (%s)", ctx->dkms_tree_path, strerror(-r));
		ctx->lock_depth = 0;
		return REKMOD_E_GENERIC;
	}
	_cleanup_free_ char *p = xasprintf("%s/.rekmod.lock", ctx->dkms_tree_path);
	int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		dk_error(ctx, "No write access to DKMS tree at %s (%s)", ctx->dkms_tree_path, strerror(errno));
		ctx->lock_depth = 0;
		return REKMOD_E_GENERIC;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 && (r = lock_wait(ctx, fd, p))) {
		close(fd);
		ctx->lock_depth = 0;
		return r;
	}
	drop_crash_temporaries(ctx);
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) < 0) {
	}
	ctx->lock_fd = fd;
	return 0;
}

static void kill_my_group(int sig)
{
	int timed = rk_spawn_timed_group(); /* a timed make or script leads a group of its own */
	if (timed > 0)
		kill(-timed, SIGKILL);
	kill(0, sig); /* SA_RESETHAND: this process too, by the default action */
}

void tree_lock_child(struct rekmod_ctx *ctx)
{
	char text[32] = "";
	ssize_t n = ctx->lock_fd >= 0 ? pread(ctx->lock_fd, text, sizeof(text) - 1, 0) : 0;
	text[n > 0 ? n : 0] = '\0';
	pid_t parent = (pid_t)strtol(text, NULL, 10);
	setpgid(0, 0); /* make, bash and the compilers in one group, killed together */
	struct sigaction sa = { .sa_handler = kill_my_group, .sa_flags = SA_RESETHAND };
	sigaction(SIGTERM, &sa, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (parent > 0 && getppid() != parent)
		kill_my_group(SIGTERM); /* it died before prctl */
}

void tree_unlock(struct rekmod_ctx *ctx)
{
	if (ctx->lock_depth == 0 || --ctx->lock_depth > 0)
		return;
	if (ctx->lock_fd >= 0) {
		if (ftruncate(ctx->lock_fd, 0) < 0) { /* no stale pid for the next waiter */
		}
		close(ctx->lock_fd);
		ctx->lock_fd = -1;
	}
}

/* ---- the install record: "<file in module/>\t<installed path inside the root>" lines ---- */

char *tree_install_record(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	return xasprintf("%s/.rekmod-installed", base);
}

/* ---- the install intent: what an install is about to change, written before it changes anything ---- */

static char *intent_path(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	return xasprintf("%s/.rekmod-installing", base);
}

int tree_intent_write(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a,
		      const char *text)
{
	_cleanup_free_ char *p = intent_path(ctx, m, v, k, a);
	return write_file_atomic(p, text, strlen(text), 0644);
}

char *tree_intent_read(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	_cleanup_free_ char *p = intent_path(ctx, m, v, k, a);
	char *text = NULL;
	return read_file(p, &text, NULL) == 0 ? text : NULL;
}

bool tree_intent_exists(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	_cleanup_free_ char *p = intent_path(ctx, m, v, k, a);
	return path_exists(p);
}

int tree_intent_clear(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	_cleanup_free_ char *p = intent_path(ctx, m, v, k, a);
	if (unlink(p) < 0 && errno != ENOENT)
		return -errno;
	return fsync_dir_of(p);
}

/* <dkms_tree>/.rekmod-depmod-<K>: set before an install or uninstall changes
 * K's modules, cleared when depmod has run for K; a command that finds it
 * runs depmod for K even when it changes nothing (a crash came between). */
static char *depmod_mark(const struct rekmod_ctx *ctx, const char *k)
{
	return xasprintf("%s/.rekmod-depmod-%s", ctx->dkms_tree_path, k);
}

int tree_depmod_pending_set(const struct rekmod_ctx *ctx, const char *k)
{
	_cleanup_free_ char *p = depmod_mark(ctx, k);
	if (path_exists(p))
		return 0;
	int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644); /* empty: no temporary needed */
	if (fd < 0)
		return -errno;
	close(fd);
	return fsync_dir_of(p);
}

bool tree_depmod_pending(const struct rekmod_ctx *ctx, const char *k)
{
	_cleanup_free_ char *p = depmod_mark(ctx, k);
	return path_exists(p);
}

void tree_depmod_pending_clear(const struct rekmod_ctx *ctx, const char *k)
{
	_cleanup_free_ char *p = depmod_mark(ctx, k);
	if (unlink(p) == 0)
		fsync_dir_of(p);
}

/* Removes the <name>.rekmod-tmp.* files a crash left in dir (prefix NULL: all). */
void tree_drop_temporaries(const char *dir, const char *prefix)
{
	_cleanup_strv_free_ char **names = list_dir(dir);
	for (size_t i = 0; names && names[i]; i++) {
		const char *t = strstr(names[i], ".rekmod-tmp.");
		if (!t || (prefix && ((size_t)(t - names[i]) != strlen(prefix) || strncmp(names[i], prefix, strlen(prefix)))))
			continue;
		_cleanup_free_ char *f = xasprintf("%s/%s", dir, names[i]);
		if (unlink(f) < 0 && errno == EISDIR)
			rm_rf(f); /* a version directory an add or a remove left */
	}
}

/* ---- BUILD_DEPENDS_REBUILD: <base>/.dep_<d> names the build of d this one was built against ---- */

/* .dep_<d> holds the version as dkms 3.x writes it; .rekmod-dep_<d> the
 * whole identity (a rebuild of the same version differs too) */
int tree_write_dep(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a,
		   const char *d, const char *identity)
{
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	_cleanup_free_ char *p = xasprintf("%s/.rekmod-dep_%s", base, d);
	_cleanup_free_ char *dkms = xasprintf("%s/.dep_%s", base, d);
	_cleanup_free_ char *version = xasprintf("%.*s\n", (int)strcspn(identity, " \n"), identity);
	int r = write_file_atomic(p, identity, strlen(identity), 0644);
	return r < 0 ? r : write_file_atomic(dkms, version, strlen(version), 0644);
}

/* the identity, else (a tree dkms made) the version in .dep_<d> */
char *tree_read_dep(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a,
		    const char *d)
{
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	_cleanup_free_ char *p = xasprintf("%s/.rekmod-dep_%s", base, d);
	_cleanup_free_ char *dkms = xasprintf("%s/.dep_%s", base, d);
	char *text = NULL;
	if (read_file(p, &text, NULL) == 0)
		return text;
	return read_file(dkms, &text, NULL) < 0 ? NULL : text;
}

/* ---- records of failed and skipped builds, with the inputs that produced them ---- */

static const char *const record_kinds[] = { [RECORD_FAILED] = "failed", [RECORD_SKIPPED] = "skipped" };

static char *record_file(const struct rekmod_ctx *ctx, enum record_kind kind, const char *m, const char *v,
			 const char *k, const char *a)
{
	return xasprintf("%s/%s/%s/.rekmod-%s-%s-%s", ctx->dkms_tree_path, m, v, record_kinds[kind], k, a);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static uint64_t hash_stat(uint64_t h, const char *path)
{
	struct stat st;
	h = fnv(h, path, strlen(path));
	if (stat(path, &st) == 0) {
		h = fnv(h, &st.st_size, sizeof(st.st_size));
		h = fnv(h, &st.st_mtim, sizeof(st.st_mtim));
		h = fnv(h, &st.st_ino, sizeof(st.st_ino));
	}
	return h;
}

static uint64_t hash_tree(uint64_t h, const char *dir, int depth)
{
	_cleanup_strv_free_ char **e = list_dir(dir);
	for (size_t i = 0; e && e[i] && depth < 8; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, e[i]);
		h = hash_stat(h, p);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			h = hash_tree(h, p, depth + 1);
	}
	return h;
}

/* What a build depends on: the source, the /etc/dkms overrides, the headers. */
static char *build_inputs(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k,
			  const char *a)
{
	uint64_t h = 1469598103934665603ULL;
	const char *ids[] = { m, v, k, a };
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
		h = fnv(h, ids[i], strlen(ids[i]) + 1);
	_cleanup_free_ char *src = source_dir(ctx, m, v);
	h = hash_tree(h, src, 0);
	_cleanup_free_ char *etc = root_path(ctx, "/etc/dkms");
	h = hash_tree(h, etc, 6);
	_cleanup_free_ char *ksd = kernel_source_dir(ctx, k);
	static const char *const hdr[] = { ".config", "Module.symvers", "Makefile", "include/config/kernel.release" };
	for (size_t i = 0; i < ARRAY_SIZE(hdr); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", ksd, hdr[i]);
		h = hash_stat(h, p);
	}
	return xasprintf("%016llx", (unsigned long long)h);
}

bool tree_record_matches(const struct rekmod_ctx *ctx, enum record_kind kind, const char *m, const char *v,
			 const char *k, const char *a)
{
	_cleanup_free_ char *p = record_file(ctx, kind, m, v, k, a);
	_cleanup_free_ char *text = NULL;
	if (read_file(p, &text, NULL) < 0)
		return false;
	_cleanup_free_ char *had = text_value(text, "inputs");
	_cleanup_free_ char *now = build_inputs(ctx, m, v, k, a);
	return had && streq(had, now);
}

/* A failed build's make.log, where a person finds it: <m>/<v>/log/make-<K>-<A>.log
 * (dkms's own status ignores the directory: its kernels start with a digit) */
char *tree_failure_log(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	return xasprintf("%s/%s/%s/log/make-%s-%s.log", ctx->dkms_tree_path, m, v, k, a);
}

char *log_first_error(const char *log)
{
	_cleanup_free_ char *text = NULL;
	if (!log || read_file(log, &text, NULL) < 0)
		return NULL;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!strstr(l, "error:") && !strstr(l, "Error:"))
			continue;
		while (*l == ' ' || *l == '\t')
			l++;
		return xstrndup(l, 300);
	}
	return NULL;
}

/* the build's make.log, linked out of <m>/<v>/build (which the next build
 * replaces; dkms's "Consult .../build/make.log" stays true until then) */
static char *keep_failure_log(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k,
			      const char *a)
{
	_cleanup_free_ char *made = xasprintf("%s/%s/%s/build/make.log", ctx->dkms_tree_path, m, v);
	_cleanup_free_ char *dir = xasprintf("%s/%s/%s/log", ctx->dkms_tree_path, m, v);
	char *log = tree_failure_log(ctx, m, v, k, a);
	(void)mkdir(dir, 0755);
	unlink(log);
	if (link(made, log) < 0 && copy_file_atomic(made, log, 0644) < 0)
		unlink(log);
	if (!path_exists(log)) {
		free(log);
		return NULL;
	}
	fsync_dir_of(log);
	return log;
}

static bool version_has_failure_record(const struct rekmod_ctx *ctx, const char *m, const char *v)
{
	_cleanup_free_ char *vdir = xasprintf("%s/%s/%s", ctx->dkms_tree_path, m, v);
	_cleanup_strv_free_ char **e = list_dir(vdir);
	for (size_t i = 0; e && e[i]; i++)
		if (tree_is_failure_record(e[i]))
			return true;
	return false;
}

char *tree_record_write(struct rekmod_ctx *ctx, enum record_kind kind, const char *m, const char *v,
			const char *k, const char *a, int code)
{
	_cleanup_free_ char *p = record_file(ctx, kind, m, v, k, a);
	_cleanup_free_ char *log = kind == RECORD_FAILED ? keep_failure_log(ctx, m, v, k, a) : NULL;
	_cleanup_free_ char *first = log_first_error(log);
	_cleanup_free_ char *in = build_inputs(ctx, m, v, k, a);
	_cleanup_free_ char *text = xasprintf("kernel=%s\narch=%s\ninputs=%s\nexit=%d\nlog=%s\nerror=%s\n", k, a, in,
					      code, log ? log : "", first ? first : "");
	if (write_file_atomic(p, text, strlen(text), 0644) < 0)
		dk_warn(ctx, "could not record the %s build in %s: %s", record_kinds[kind], p, strerror(errno));
	return TAKE_PTR(log);
}

void tree_record_clear(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	for (size_t i = 0; i < ARRAY_SIZE(record_kinds); i++) {
		_cleanup_free_ char *p = record_file(ctx, (enum record_kind)i, m, v, k, a);
		_cleanup_free_ char *log = xasprintf("%s.make.log", p); /* where older versions kept it */
		unlink(p);
		unlink(log);
	}
	_cleanup_free_ char *log = tree_failure_log(ctx, m, v, k, a);
	_cleanup_free_ char *dir = xasprintf("%s/%s/%s/log", ctx->dkms_tree_path, m, v);
	unlink(log);
	/* status skips listing a version directory without subdirectories: while
	 * any failure record is left, log/ stays, even when it kept no make.log */
	if (!version_has_failure_record(ctx, m, v))
		rmdir(dir);
}

/* ---- the user's opt-outs: <m>/.rekmod-optout-<K>-<A>, written by remove and
 * uninstall -k K, honoured by sync, cleared by a build or install for K ---- */

static char *optout_file(const struct rekmod_ctx *ctx, const char *m, const char *k, const char *a)
{
	return xasprintf("%s/%s/.rekmod-optout-%s-%s", ctx->dkms_tree_path, m, k, a);
}

bool tree_optout(const struct rekmod_ctx *ctx, const char *m, const char *k, const char *a)
{
	_cleanup_free_ char *p = optout_file(ctx, m, k, a);
	return path_exists(p);
}

void tree_optout_write(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	_cleanup_free_ char *p = optout_file(ctx, m, k, a);
	_cleanup_free_ char *text = xasprintf("version=%s\nkernel=%s\narch=%s\n", v, k, a);
	if (write_file_atomic(p, text, strlen(text), 0644) < 0)
		dk_warn(ctx, "could not record in %s that %s stays off kernel %s: %s; sync will install it again", p,
			m, k, strerror(errno));
}

void tree_optout_clear(const struct rekmod_ctx *ctx, const char *m, const char *k, const char *a)
{
	_cleanup_free_ char *p = optout_file(ctx, m, k, a);
	if (unlink(p) == 0)
		fsync_dir_of(p);
}

bool tree_is_optout_record(const char *file_name)
{
	return startswith(file_name, ".rekmod-optout-");
}

void tree_parse_optout(const char *text, char **ret_version, char **ret_kernel, char **ret_arch)
{
	*ret_version = text_value(text, "version");
	*ret_kernel = text_value(text, "kernel");
	*ret_arch = text_value(text, "arch");
}

void tree_optouts_forget(const struct rekmod_ctx *ctx, const char *m)
{
	_cleanup_free_ char *md = xasprintf("%s/%s", ctx->dkms_tree_path, m);
	_cleanup_strv_free_ char **e = list_dir(md);
	for (size_t i = 0; e && e[i]; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", md, e[i]);
		if (tree_is_optout_record(e[i]))
			unlink(p);
	}
}

/* ---- a rebuild keeps the old build aside (<K>/.<A>.rekmod-old) until the new one is there ---- */

static char *aside_dir(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	return xasprintf("%s/%s/%s/%s/.%s.rekmod-old", ctx->dkms_tree_path, m, v, k, a);
}

int tree_build_aside(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	_cleanup_free_ char *old = aside_dir(ctx, m, v, k, a);
	rm_rf(old);
	if (rename(base, old) < 0) {
		dk_error(ctx, "could not set the build %s aside for the rebuild: %s", base, strerror(errno));
		return REKMOD_E_GENERIC;
	}
	fsync_dir_of(old);
	return 0;
}

/* keep: the new build stays (and the old one's install record moves into it
 * unless the new build has its own); else the old build comes back */
void tree_build_aside_done(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a,
			   bool keep)
{
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	_cleanup_free_ char *old = aside_dir(ctx, m, v, k, a);
	if (!is_dir(old))
		return;
	if (keep) {
		_cleanup_free_ char *rec_old = xasprintf("%s/.rekmod-installed", old);
		_cleanup_free_ char *rec_new = tree_install_record(ctx, m, v, k, a);
		if (!path_exists(rec_new))
			(void)rename(rec_old, rec_new);
	} else {
		rm_rf(base);
		if (rename(old, base) < 0)
			dk_warn(ctx, "could not put the old build %s back: %s", base, strerror(errno));
	}
	rm_rf(old);
	fsync_dir_of(base);
}

/* ---- the journal: <dkms_tree>/.rekmod-journal, one record per run (jobs.c
 * writes them), append-only under the tree lock, each record one write(2);
 * past JOURNAL_MAX bytes the file becomes .rekmod-journal.1 (the one before
 * is dropped) ---- */

#define JOURNAL_MAX (256 * 1024)

static char *journal_path(const struct rekmod_ctx *ctx, bool old)
{
	return xasprintf("%s/.rekmod-journal%s", ctx->dkms_tree_path, old ? ".1" : "");
}

void tree_journal_append(struct rekmod_ctx *ctx, const char *record)
{
	_cleanup_free_ char *p = journal_path(ctx, false), *old = journal_path(ctx, true);
	struct stat st;
	if (stat(p, &st) == 0 && st.st_size + (off_t)strlen(record) > JOURNAL_MAX && rename(p, old) == 0)
		fsync_dir_of(p);
	_cleanup_close_ int fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	size_t n = strlen(record);
	if (fd < 0 || write(fd, record, n) != (ssize_t)n || fsync(fd) < 0)
		dk_warn(ctx, "could not append this run to the journal %s: %s", p, strerror(errno));
}

_public_ int rekmod_journal_read(struct rekmod_ctx *ctx, char **ret_text)
{
	_cleanup_free_ char *p = journal_path(ctx, false), *old = journal_path(ctx, true);
	_cleanup_free_ char *a = NULL, *b = NULL;
	(void)read_file(old, &a, NULL);
	(void)read_file(p, &b, NULL);
	*ret_text = xasprintf("%s%s", a ? a : "", b ? b : "");
	return 0;
}

bool tree_is_failure_record(const char *file_name)
{
	return startswith(file_name, ".rekmod-failed-") && !endswith(file_name, ".make.log");
}

void tree_parse_failure(const char *text, struct failure_record *ret)
{
	*ret = (struct failure_record){ .kernel = text_value(text, "kernel"), .arch = text_value(text, "arch"),
					.exit = text_value(text, "exit"), .log = text_value(text, "log") };
}

void failure_record_done(struct failure_record *r)
{
	free(r->kernel);
	free(r->arch);
	free(r->exit);
	free(r->log);
}

/* ---- reuse (reuse.c): a kernel's header hash, and the builds copied from another kernel's ---- */

/* <dkms_tree>/.rekmod-kernels/<K>: "key=<identity of the headers>\nhash=<hash>\n" */
static char *kernel_hash_file(const struct rekmod_ctx *ctx, const char *k)
{
	return xasprintf("%s/.rekmod-kernels/%s", ctx->dkms_tree_path, k);
}

char *tree_kernel_hash_read(const struct rekmod_ctx *ctx, const char *k, const char *key)
{
	_cleanup_free_ char *p = kernel_hash_file(ctx, k), *text = NULL;
	if (!name_is_valid(k) || read_file(p, &text, NULL) < 0)
		return NULL;
	_cleanup_free_ char *got = text_value(text, "key");
	if (!got || !streq(got, key))
		return NULL;
	return text_value(text, "hash");
}

int tree_kernel_hash_write(const struct rekmod_ctx *ctx, const char *k, const char *key, const char *hash)
{
	if (!name_is_valid(k))
		return -EINVAL;
	_cleanup_free_ char *p = kernel_hash_file(ctx, k);
	_cleanup_free_ char *dir = xasprintf("%s/.rekmod-kernels", ctx->dkms_tree_path);
	_cleanup_free_ char *text = xasprintf("key=%s\nhash=%s\n", key, hash);
	int r = mkdir_p(dir, 0755);
	return r < 0 ? r : write_file_atomic(p, text, strlen(text), 0644);
}

/* <dir>/.rekmod-reused: "from=<K0>\nhow=<equivalent|compatible>\n" */
int tree_reused_write(const char *dir, const char *k0, const char *how)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, TREE_REUSED_RECORD);
	_cleanup_free_ char *text = xasprintf("from=%s\nhow=%s\n", k0, how);
	return write_file_atomic(p, text, strlen(text), 0644);
}

char *tree_parse_reused(const char *text, char **ret_how)
{
	char *from = text_value(text, "from");
	if (from && !name_is_valid(from)) {
		free(from);
		from = NULL;
	}
	if (ret_how)
		*ret_how = from ? text_value(text, "how") : NULL;
	return from;
}

char *tree_reused_from(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a,
		       char **ret_how)
{
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	_cleanup_free_ char *p = xasprintf("%s/%s", base, TREE_REUSED_RECORD), *text = NULL;
	if (read_file(p, &text, NULL) < 0) {
		if (ret_how)
			*ret_how = NULL;
		return NULL;
	}
	return tree_parse_reused(text, ret_how);
}
