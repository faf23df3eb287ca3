/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dkms tree on disk: what is added, built, installed; status; and the
 * only reader and writer of every record rekmod keeps in it: the install
 * lists (.rekmod-installed), failure and skip records (.rekmod-failed-K-A,
 * .rekmod-skipped-K-A), the .dep_<d> records of BUILD_DEPENDS_REBUILD and
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
	for (size_t i = 0; e && e[i]; i++)
		if (strstr(e[i], ".ko"))
			return true;
	return false;
}

char *tree_installed_version(const struct rekmod_ctx *ctx, const char *m, const char *k, const char *a)
{
	_cleanup_free_ char *link = kernel_link(ctx, m, k, a);
	char target[PATH_MAX];
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return NULL;
	target[n] = '\0';
	/* "<v>/<k>/<a>" (dkms writes it relative) */
	_cleanup_free_ char *suffix = xasprintf("/%s/%s", k, a);
	if (!endswith(target, suffix))
		return NULL;
	target[strlen(target) - strlen(suffix)] = '\0';
	const char *v = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
	return xstrdup(v);
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

/* ---- status ---- */

static bool files_differ(const char *a, const char *b)
{
	_cleanup_free_ char *x = NULL, *y = NULL;
	size_t nx, ny;
	if (read_file(a, &x, &nx) < 0 || read_file(b, &y, &ny) < 0)
		return true;
	return nx != ny || memcmp(x, y, nx) != 0;
}

/* The record of what install put where: lines "<built file>\t<installed path>". */
static unsigned installed_notes(const struct rekmod_ctx *ctx, const char *base)
{
	_cleanup_free_ char *rec = xasprintf("%s/.rekmod-installed", base);
	_cleanup_free_ char *text = NULL;
	if (read_file(rec, &text, NULL) < 0)
		return 0;
	unsigned notes = 0;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(l, '\t');
		if (!tab)
			continue;
		*tab = '\0';
		_cleanup_free_ char *built = xasprintf("%s/module/%s", base, l);
		_cleanup_free_ char *inst = root_path(ctx, tab + 1);
		if (!path_exists(inst))
			notes |= REKMOD_NOTE_NOT_INSTALLED;
		else if (files_differ(built, inst))
			notes |= REKMOD_NOTE_DIFFERS;
	}
	return notes;
}

static void status_push(struct rekmod_status **list, size_t *n, const char *m, const char *v, const char *k,
			const char *a, enum rekmod_state st, unsigned notes)
{
	*list = xrealloc(*list, (*n + 1) * sizeof(**list));
	struct rekmod_status *s = &(*list)[(*n)++];
	s->module = xstrdup(m);
	s->version = xstrdup(v);
	s->kernel = k ? xstrdup(k) : NULL;
	s->arch = a ? xstrdup(a) : NULL;
	s->state = st;
	s->notes = notes;
	s->detail = NULL;
}

static bool is_broken(const struct rekmod_ctx *ctx, const char *m, const char *v)
{
	_cleanup_free_ char *d = mv_dir(ctx, m, v);
	_cleanup_free_ char *src = xasprintf("%s/source", d);
	if (!is_dir(d) || streq(m, "original_module"))
		return false;
	if (is_symlink(src)) {
		_cleanup_free_ char *t = resolve_link(ctx, src, false);
		return !is_dir(t);
	}
	if (is_dir(src))
		return false;
	_cleanup_free_ char *usr = xasprintf("%s/%s-%s", ctx->source_tree_path, m, v);
	return is_dir(usr);
}

/* sync's failure records: .rekmod-failed-<K>-<A> files holding kernel=, arch=, exit=, log= */
static void failed_entries(const char *d, const char *m, const char *v, const char *fk, const char *fa,
			   struct rekmod_status **list, size_t *n)
{
	_cleanup_strv_free_ char **e = list_dir(d);
	for (size_t i = 0; e && e[i]; i++) {
		if (!startswith(e[i], ".rekmod-failed-"))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", d, e[i]);
		_cleanup_free_ char *text = NULL;
		if (read_file(p, &text, NULL) < 0)
			continue;
		_cleanup_free_ char *k = text_value(text, "kernel"), *a = text_value(text, "arch");
		_cleanup_free_ char *code = text_value(text, "exit"), *log = text_value(text, "log");
		if (!k || !a || (fk && !streq(fk, k)) || (fa && !streq(fa, a)))
			continue;
		status_push(list, n, m, v, k, a, REKMOD_FAILED, 0);
		(*list)[*n - 1].detail = xasprintf("exit %s%s%s", code ? code : "?", log && *log ? ", see " : "",
						   log && *log ? log : "");
	}
}

static void status_one_mv(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *fk,
			  const char *fa, struct rekmod_status **list, size_t *n)
{
	_cleanup_free_ char *d = mv_dir(ctx, m, v);
	_cleanup_strv_free_ char **ks = NULL;
	if (fk)
		strv_push(&ks, xstrdup(fk));
	else
		ks = list_dir(d);
	size_t before = *n;
	for (size_t i = 0; ks && ks[i]; i++) {
		if (!fk && !kernel_dir_name_ok(ks[i]))
			continue;
		if (!name_is_valid(ks[i]))
			continue;
		_cleanup_free_ char *kd = xasprintf("%s/%s", d, ks[i]);
		_cleanup_strv_free_ char **as = NULL;
		if (fa)
			strv_push(&as, xstrdup(fa));
		else
			as = list_dir(kd);
		for (size_t j = 0; as && as[j]; j++) {
			if (as[j][0] == '.' || !name_is_valid(as[j]) || !tree_is_built(ctx, m, v, ks[i], as[j]))
				continue;
			_cleanup_free_ char *base = build_base(ctx, m, v, ks[i], as[j]);
			_cleanup_free_ char *iv = tree_installed_version(ctx, m, ks[i], as[j]);
			bool inst = iv && streq(iv, v);
			unsigned notes = 0;
			if (inst) {
				_cleanup_free_ char *orig = xasprintf("%s/%s/original_module/%s/%s",
								      ctx->dkms_tree_path, m, ks[i], as[j]);
				if (is_dir(orig))
					notes |= REKMOD_NOTE_ORIGINAL;
				notes |= installed_notes(ctx, base);
			}
			status_push(list, n, m, v, ks[i], as[j], inst ? REKMOD_INSTALLED : REKMOD_BUILT, notes);
		}
	}
	if (*n == before)
		status_push(list, n, m, v, NULL, NULL, REKMOD_ADDED, 0);
	failed_entries(d, m, v, fk, fa, list, n);
}

_public_ int rekmod_status_list(struct rekmod_ctx *ctx, const char *module, const char *version,
				const char *kernel, const char *arch, struct rekmod_status **ret, size_t *ret_n)
{
	struct rekmod_status *list = NULL;
	size_t n = 0;
	_cleanup_strv_free_ char **mods = NULL;
	if (module) {
		if (!name_is_valid(module) || (version && !name_is_valid(version)))
			goto out;
		strv_push(&mods, xstrdup(module));
	} else {
		mods = list_dir(ctx->dkms_tree_path);
	}
	for (size_t i = 0; mods && mods[i]; i++) {
		if (mods[i][0] == '.')
			continue;
		_cleanup_free_ char *md = xasprintf("%s/%s", ctx->dkms_tree_path, mods[i]);
		_cleanup_strv_free_ char **vers = NULL;
		if (version)
			strv_push(&vers, xstrdup(version));
		else
			vers = list_dir(md);
		for (size_t j = 0; vers && vers[j]; j++) {
			if (is_broken(ctx, mods[i], vers[j]))
				status_push(&list, &n, mods[i], vers[j], NULL, NULL, REKMOD_BROKEN, 0);
			else if (tree_is_added(ctx, mods[i], vers[j]))
				status_one_mv(ctx, mods[i], vers[j], kernel, arch, &list, &n);
		}
	}
out:
	*ret = list;
	*ret_n = n;
	return 0;
}

_public_ void rekmod_status_free(struct rekmod_status *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(s[i].module);
		free(s[i].version);
		free(s[i].kernel);
		free(s[i].arch);
		free(s[i].detail);
	}
	free(s);
}

_public_ char *rekmod_status_format(const struct rekmod_status *s)
{
	struct strbuf b = { 0 };
	switch (s->state) {
	case REKMOD_ADDED:
		sb_printf(&b, "%s/%s: added", s->module, s->version);
		break;
	case REKMOD_BROKEN:
		sb_printf(&b, "%s/%s: broken", s->module, s->version);
		break;
	case REKMOD_FAILED:
		sb_printf(&b, "%s/%s, %s, %s: failed (%s)", s->module, s->version, s->kernel ? s->kernel : "",
			  s->arch ? s->arch : "", s->detail ? s->detail : "build failed");
		break;
	case REKMOD_BUILT:
	case REKMOD_INSTALLED:
		sb_printf(&b, "%s/%s, %s, %s: %s", s->module, s->version, s->kernel ? s->kernel : "",
			  s->arch ? s->arch : "", s->state == REKMOD_BUILT ? "built" : "installed");
		if (s->notes & REKMOD_NOTE_ORIGINAL)
			sb_puts(&b, " (Original modules exist)");
		if (s->notes & REKMOD_NOTE_DIFFERS)
			sb_puts(&b, " (Differences between built and installed modules)");
		if (s->notes & REKMOD_NOTE_NOT_INSTALLED)
			sb_puts(&b, " (Built modules are missing in the kernel modules folder)");
		break;
	}
	return sb_steal(&b);
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
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) < 0) {
	}
	ctx->lock_fd = fd;
	return 0;
}

static void kill_my_group(int sig)
{
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

/* ---- BUILD_DEPENDS_REBUILD: <base>/.dep_<d> names the build of d this one was built against ---- */

int tree_write_dep(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a,
		   const char *d, const char *identity)
{
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	_cleanup_free_ char *p = xasprintf("%s/.dep_%s", base, d);
	return write_file_atomic(p, identity, strlen(identity), 0644);
}

char *tree_read_dep(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a,
		    const char *d)
{
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	_cleanup_free_ char *p = xasprintf("%s/.dep_%s", base, d);
	char *text = NULL;
	return read_file(p, &text, NULL) < 0 ? NULL : text;
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

char *tree_record_write(struct rekmod_ctx *ctx, enum record_kind kind, const char *m, const char *v,
			const char *k, const char *a, int code)
{
	_cleanup_free_ char *p = record_file(ctx, kind, m, v, k, a);
	_cleanup_free_ char *log = NULL;
	if (kind == RECORD_FAILED) {
		/* the next build of this module reuses <m>/<v>/build: keep its log beside the record */
		_cleanup_free_ char *made = xasprintf("%s/%s/%s/build/make.log", ctx->dkms_tree_path, m, v);
		log = xasprintf("%s.make.log", p);
		if (rename(made, log) < 0)
			unlink(log);
		if (!path_exists(log)) {
			free(log);
			log = NULL;
		}
	}
	_cleanup_free_ char *in = build_inputs(ctx, m, v, k, a);
	_cleanup_free_ char *text = xasprintf("kernel=%s\narch=%s\ninputs=%s\nexit=%d\nlog=%s\n", k, a, in, code,
					      log ? log : "");
	if (write_file_atomic(p, text, strlen(text), 0644) < 0)
		dk_warn(ctx, "could not record the %s build in %s: %s", record_kinds[kind], p, strerror(errno));
	return TAKE_PTR(log);
}

void tree_record_clear(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	for (size_t i = 0; i < ARRAY_SIZE(record_kinds); i++) {
		_cleanup_free_ char *p = record_file(ctx, (enum record_kind)i, m, v, k, a);
		_cleanup_free_ char *log = xasprintf("%s.make.log", p);
		unlink(p);
		unlink(log);
	}
}
