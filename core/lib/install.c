/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Install and uninstall one build: version sanity check (libkmod), archive
 * and restore of original modules, atomic copies, the kernel-K-A marker. */
#include <fcntl.h>
#include <sys/stat.h>

#include "internal.h"

/* dkms 3.0.10's OBSOLETE_BY test: "<upstream>[-<abi>]" against the kernel's
 * own split at the first '-': the module is obsolete on the same upstream
 * version when the ABI is absent from OBSOLETE_BY or not newer than the
 * kernel's, and on every newer upstream version. */
static bool obsoleted(const char *obsolete_by, const char *k)
{
	if (!obsolete_by || !*obsolete_by)
		return false;
	_cleanup_free_ char *obs = xstrndup(obsolete_by, strcspn(obsolete_by, "-"));
	_cleanup_free_ char *my = xstrndup(k, strcspn(k, "-"));
	const char *obs_abi = obsolete_by + strlen(obs), *my_abi = k + strlen(my);
	_cleanup_free_ char *oa = xstrndup(obs_abi + (*obs_abi == '-'), strcspn(obs_abi + (*obs_abi == '-'), "-"));
	_cleanup_free_ char *ma = xstrndup(my_abi + (*my_abi == '-'), strcspn(my_abi + (*my_abi == '-'), "-"));
	if (!*obs || !*my)
		return false;
	int c = version_compare(obs, my);
	if (c == 0)
		return !*oa || version_compare(ma, oa) >= 0;
	return c < 0;
}

/* Is this module refused (the message given)? */
static bool version_refused(struct step *st, const char *lib, const char *k, const char *built,
			    const char *dest_name, const char *obsolete_by)
{
	if (!st->force && obsoleted(obsolete_by, k)) {
		rk_warn(&st->log, "%s", "");
		rk_warn(&st->log,
			"Module has been obsoleted due to being included\nin kernel %s.  We will avoid installing\nfor "
			"future kernels above %s.\nYou may override by specifying --force.",
			obsolete_by, obsolete_by);
		return true;
	}
	_cleanup_strv_free_ char **found = find_module_files(lib, dest_name);
	if (!found[0] || st->force_version_override)
		return false;
	if (found[1]) {
		rk_warn(&st->log, "Warning: Warning! Cannot do version sanity checking because multiple %s.ko modules were "
			"found in kernel %s.",
			dest_name, k);
		return false;
	}
	_cleanup_free_ char *v1 = NULL, *s1 = NULL, *v2 = NULL, *s2 = NULL;
	if (module_verinfo(found[0], &v1, &s1) < 0 || module_verinfo(built, &v2, &s2) < 0)
		return false;
	if (st->force)
		return false;
	if (streq(v1, v2)) {
		if (!streq(s1, s2) || !*s1)
			return false;
		rk_notice(&st->log, "Module %s already installed at version %s, override by specifying --force", found[0],
		    *v1 ? v1 : "(unversioned module)");
		return true;
	}
	if (!*v1 || !*v2 || version_compare(v1, v2) < 0)
		return false;
	rk_err(&st->log, "Error! Module version %s for %s.ko\nis not newer than what is already found in kernel %s (%s).\nYou "
		 "may override by specifying --force.",
		 v2, dest_name, k, v1);
	return true;
}

static int move_file(const char *from, const char *to)
{
	if (rename(from, to) == 0)
		return fsync_dir_of(to);
	if (errno != EXDEV)
		return -errno;
	int r = copy_file_atomic(from, to, 0644);
	return r < 0 ? r : (unlink(from) < 0 ? -errno : 0);
}

/* lib/<rel>, each directory made where missing and opened without following
 * a symbolic link: an updates/dkms that links elsewhere would take the
 * install out of the tree. On a link, *ret_bad names it. */
static int mkdir_beneath(const char *lib, const char *rel, char **ret_bad)
{
	int fd = open(lib, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	_cleanup_free_ char *copy = xstrdup(rel);
	struct strbuf at = { 0 };
	sb_puts(&at, lib);
	int r = 0;
	for (char *save = NULL, *c = strtok_r(copy, "/", &save); c && r == 0; c = strtok_r(NULL, "/", &save)) {
		sb_printf(&at, "/%s", c);
		if (streq(c, "."))
			continue;
		if (streq(c, "..")) {
			r = -EINVAL;
			break;
		}
		if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			break;
		}
		int next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (next < 0) {
			r = -errno;
			if (lstat(at.s, &st) == 0 && S_ISLNK(st.st_mode))
				*ret_bad = xstrdup(at.s);
		}
		close(fd);
		fd = next;
	}
	if (fd >= 0)
		close(fd);
	sb_free(&at);
	return r;
}

/* Is file in lib's tree: below it, no ".." and no symbolic link on the way? */
static bool beneath(const char *lib, const char *file)
{
	size_t n = strlen(lib);
	if (strncmp(file, lib, n) != 0 || file[n] != '/' || !conf_path_inside(file + n))
		return false;
	_cleanup_free_ char *p = xstrdup(file);
	for (char *slash = strchr(p + n + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		struct stat st;
		bool link = lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
		*slash = '/';
		if (link)
			return false;
	}
	return true;
}

/* The kernel's own module of that name that an install moves aside, or NULL. */
static char *find_original(const char *lib, const struct dkms_module *mod)
{
	const char *const dirs[] = { "/extra", "/updates", mod->dest_location };
	char *orig = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(dirs) && !orig; i++) {
		_cleanup_free_ char *d = xasprintf("%s%s", lib, dirs[i]);
		orig = module_file_in(d, mod->dest_name);
		if (orig && (is_symlink(orig) || !beneath(lib, orig))) {
			free(orig);
			orig = NULL;
		}
	}
	if (!orig) {
		_cleanup_strv_free_ char **found = find_module_files(lib, mod->dest_name);
		if (found[0] && !found[1])
			orig = xstrdup(found[0]);
	}
	return orig;
}

/* Moves the original out of the way into dst (in original_module/K/A) with
 * an .origin file naming where it came from. */
static int archive_original(struct step *st, const char *orig, const char *dst)
{
	struct rekmod_ctx *ctx = st->ctx;
	_cleanup_free_ char *store = xstrdup(dst);
	*strrchr(store, '/') = '\0';
	_cleanup_free_ char *origin = xasprintf("%s.origin", dst);
	const char *inside = orig + strlen(ctx->root);
	int r = mkdir_p(store, 0755);
	if (r == 0)
		r = write_file_atomic(origin, inside, strlen(inside), 0644);
	if (r == 0)
		r = move_file(orig, dst);
	if (r < 0) {
		rk_err(&st->log, "Error! could not archive %s into %s: %s", orig, store, strerror(-r));
		return r;
	}
	rk_notice(&st->log, "Found pre-existing %s, archiving for uninstallation", orig);
	return 0;
}

static bool same_bytes(const char *a, const char *b)
{
	_cleanup_free_ char *x = NULL, *y = NULL;
	size_t lx, ly;
	return read_file(a, &x, &lx) == 0 && read_file(b, &y, &ly) == 0 && lx == ly && memcmp(x, y, lx) == 0;
}

/* One module of an install: where it goes, what it replaces. */
struct inst {
	char *built;    /* <base>/module/<file> */
	char *dst;      /* the installed path */
	char *orig;     /* the kernel's own module moved aside, or NULL */
	char *archived; /* where it goes in original_module/K/A */
};

static void inst_free(struct inst *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(list[i].built);
		free(list[i].dst);
		free(list[i].orig);
		free(list[i].archived);
	}
	free(list);
}

/* archive the original, keep a replaced file as <dst>.rekmod-old, copy */
static int apply_one(struct step *st, const struct inst *in)
{
	int r = in->orig ? archive_original(st, in->orig, in->archived) : 0;
	if (r < 0)
		return r;
	_cleanup_free_ char *old = xasprintf("%s.rekmod-old", in->dst);
	if (path_exists(in->dst) && !same_bytes(in->dst, in->built)) {
		unlink(old);
		if (link(in->dst, old) < 0)
			r = -errno;
	}
	if (r == 0)
		r = copy_file_atomic(in->built, in->dst, 0644);
	if (r < 0)
		rk_err(&st->log, "Error! could not install %s to %s: %s", in->built, in->dst, strerror(-r));
	else
		rk_notice(&st->log, "Installing %s", in->dst);
	return r;
}

/* ---- the install intent: a crashed or failed install finished or undone ---- */

/* one "file\t<dst>\t<name in module/>" line undone: the replaced file back, else ours deleted */
static void undo_file(struct rekmod_ctx *ctx, const char *base, const char *lib, const char *dst_in,
		      const char *name)
{
	_cleanup_free_ char *dst = root_path(ctx, dst_in);
	if (!beneath(lib, dst) || !name_is_valid(name))
		return;
	_cleanup_free_ char *old = xasprintf("%s.rekmod-old", dst);
	_cleanup_free_ char *built = xasprintf("%s/module/%s", base, name);
	if (path_exists(old))
		rename(old, dst);
	else if (path_exists(dst) && same_bytes(dst, built))
		unlink(dst);
	_cleanup_free_ char *dir = xstrdup(dst);
	*strrchr(dir, '/') = '\0';
	tree_drop_temporaries(dir, strrchr(dst, '/') + 1);
	fsync_dir_of(dst);
	rmdir_parents(dir, lib);
}

/* one "orig\t<origin>\t<archived>" line undone: the original back where it was */
static void undo_orig_line(struct step *st, const char *lib, const char *origin_in, const char *archived_in)
{
	struct rekmod_ctx *ctx = st->ctx;
	_cleanup_free_ char *origin = root_path(ctx, origin_in);
	_cleanup_free_ char *archived = root_path(ctx, archived_in);
	_cleanup_free_ char *of = xasprintf("%s.origin", archived);
	_cleanup_free_ char *store = xstrdup(archived);
	*strrchr(store, '/') = '\0';
	if (!beneath(lib, origin) || !startswith(archived, ctx->dkms_tree_path))
		return;
	if (path_exists(archived) && !path_exists(origin)) {
		_cleanup_free_ char *dir = xstrdup(origin);
		*strrchr(dir, '/') = '\0';
		if (mkdir_p(dir, 0755) < 0 || move_file(archived, origin) < 0) {
			rk_warn(&st->log, "Warning: could not restore %s to %s: %s", archived, origin, strerror(errno));
			return;
		}
		rk_notice(&st->log, "Restoring archived original module %s", origin);
	}
	unlink(of);
	tree_drop_temporaries(store, NULL);
	for (int i = 0; i < 3; i++) { /* <A>, <K>, original_module: each when empty, whichever a crash made */
		rmdir(store);
		*strrchr(store, '/') = '\0';
	}
}
/* Walks the intent's lines: undo (true) puts every file back, else the
 * finished install's leftovers (<dst>.rekmod-old, temporaries) go. */
static void intent_walk(struct step *st, const char *m, const char *v, const char *k, const char *a,
			const char *intent, bool undo)
{
	struct rekmod_ctx *ctx = st->ctx;
	_cleanup_free_ char *lib = xasprintf("%s/%s", ctx->install_tree_path, k);
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	_cleanup_free_ char *text = xstrdup(intent ? intent : "");
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *f[3] = { l, NULL, NULL };
		for (int i = 1; i < 3 && f[i - 1]; i++) {
			f[i] = strchr(f[i - 1], '\t');
			if (f[i])
				*f[i]++ = '\0';
		}
		if (!f[1] || !f[2])
			continue;
		if (streq(f[0], "file") && undo) {
			undo_file(ctx, base, lib, f[1], f[2]);
		} else if (streq(f[0], "file")) {
			_cleanup_free_ char *dst = root_path(ctx, f[1]);
			_cleanup_free_ char *old = xasprintf("%s.rekmod-old", dst);
			if (beneath(lib, dst))
				unlink(old);
		} else if (streq(f[0], "orig") && undo) {
			undo_orig_line(st, lib, f[1], f[2]);
		}
	}
	_cleanup_free_ char *link = kernel_link(ctx, m, k, a);
	_cleanup_free_ char *mdir = xstrdup(link);
	*strrchr(mdir, '/') = '\0';
	tree_drop_temporaries(mdir, strrchr(link, '/') + 1);
	tree_drop_temporaries(base, NULL);
}

static void install_undo(struct step *st, const char *m, const char *v, const char *k, const char *a,
			 const char *intent)
{
	intent_walk(st, m, v, k, a, intent, true);
	_cleanup_free_ char *rec = tree_install_record(st->ctx, m, v, k, a);
	unlink(rec);
	tree_intent_clear(st->ctx, m, v, k, a);
}

int install_recover(struct step *st, const char *m, const char *v, const char *k, const char *a)
{
	_cleanup_free_ char *intent = tree_intent_read(st->ctx, m, v, k, a);
	if (!intent)
		return 0;
	tree_depmod_pending_set(st->ctx, k);
	_cleanup_free_ char *active = tree_installed_version(st->ctx, m, k, a);
	_cleanup_free_ char *rec = tree_install_record(st->ctx, m, v, k, a);
	if (active && streq(active, v) && path_exists(rec)) { /* recorded: only the intent was left */
		rk_notice(&st->log, "Completing the interrupted install of %s/%s for kernel %s (%s)", m, v, k, a);
		intent_walk(st, m, v, k, a, intent, false);
		tree_intent_clear(st->ctx, m, v, k, a);
		return 2;
	}
	rk_notice(&st->log, "Undoing the interrupted install of %s/%s for kernel %s (%s)", m, v, k, a);
	install_undo(st, m, v, k, a, intent);
	return 1;
}

/* Checks every module and runs PRE_INSTALL; fills list (n entries) with
 * what the install will do, changing nothing but the directories it needs. */
static int plan_modules(struct step *st, const struct dkms_conf *c, const char *m, const char *v, const char *k,
			const char *a, bool was_active, struct inst *list, size_t *n)
{
	struct rekmod_ctx *ctx = st->ctx;
	_cleanup_free_ char *lib = xasprintf("%s/%s", ctx->install_tree_path, k);
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	_cleanup_free_ char *srcdir = script_dir(ctx, m, v);
	_cleanup_free_ char *moddir = xasprintf("%s/module", base);
	bool any = false, seen_first = false;
	for (size_t i = 0; i < c->n_modules; i++) {
		const struct dkms_module *mod = &c->modules[i];
		if (mod->excluded)
			continue;
		_cleanup_free_ char *built = module_file_in(moddir, mod->dest_name);
		if (!built) {
			rk_err(&st->log, "Error! Missing module %s in %s", mod->dest_name, moddir); /* dkms 3.x's words */
			return REKMOD_E_INSTALL;
		}
		bool first_done = seen_first;
		seen_first = true;
		if (version_refused(st, lib, k, built, mod->dest_name, c->obsolete_by))
			continue; /* dkms 3.x: skipped; none installed is "Installation aborted." (6) */
		any = true;
		if (!first_done) { /* dkms: only with the first module, and not when its check refused it */
			int status = run_script(ctx, m, "pre_install", c->pre_install, srcdir);
			if (status && !st->force) {
				rk_err(&st->log, "Error! pre_install failed, aborting install.\nYou may override by specifying "
					 "--force.");
				return REKMOD_E_PREINSTALL;
			}
		}
		_cleanup_free_ char *link = NULL;
		int r = mkdir_beneath(lib, mod->dest_location, &link);
		if (link) {
			rk_err(&st->log, "Error! %s is a symbolic link: %s.ko would be installed outside %s; make it a "
			       "directory (rm it, rekmod creates it)", link, mod->dest_name, lib);
			return REKMOD_E_INSTALL;
		}
		struct inst *in = &list[(*n)++];
		in->dst = xasprintf("%s%s/%s", lib, mod->dest_location, strrchr(built, '/') + 1);
		in->built = TAKE_PTR(built);
		if (r < 0) {
			rk_err(&st->log, "Error! could not install %s to %s: %s", in->built, in->dst, strerror(-r));
			return REKMOD_E_INSTALL;
		}
		in->orig = was_active ? NULL : find_original(lib, mod);
		if (in->orig)
			in->archived = xasprintf("%s/%s/original_module/%s/%s/%s", ctx->dkms_tree_path, m, k, a,
						 strrchr(in->orig, '/') + 1);
	}
	if (!any && c->n_modules > 0) { /* zero modules: an empty install (dkms 3.x) */
		rk_err(&st->log, "Error! Installation aborted.");
		return REKMOD_E_INSTALL;
	}
	return 0;
}

static char *intent_text(const struct rekmod_ctx *ctx, const struct inst *list, size_t n)
{
	struct strbuf b = { 0 };
	size_t rl = strlen(ctx->root);
	for (size_t i = 0; i < n; i++) {
		sb_printf(&b, "file\t%s\t%s\n", list[i].dst + rl, strrchr(list[i].built, '/') + 1);
		if (list[i].orig)
			sb_printf(&b, "orig\t%s\t%s\n", list[i].orig + rl, list[i].archived + rl);
	}
	return sb_steal(&b);
}

/* The install proper: the intent, then every file; all of them or (undone) none. */
static int install_modules(struct step *st, const struct dkms_conf *c, const char *m, const char *v,
			   const char *k, const char *a, bool was_active, struct strbuf *record)
{
	struct rekmod_ctx *ctx = st->ctx;
	if (!conf_paths_ok(ctx, &st->log, c, true))
		return REKMOD_E_INSTALL;
	struct inst *list = xcalloc(c->n_modules + 1, sizeof(*list));
	size_t n = 0;
	int r = plan_modules(st, c, m, v, k, a, was_active, list, &n);
	_cleanup_free_ char *intent = r ? NULL : intent_text(ctx, list, n);
	if (r == 0 && tree_intent_write(ctx, m, v, k, a, intent) < 0) {
		rk_err(&st->log, "Error! could not record the intended install of %s/%s for %s (%s): %s", m, v, k, a,
		       strerror(errno));
		r = REKMOD_E_INSTALL;
	}
	for (size_t i = 0; r == 0 && i < n; i++) {
		if (apply_one(st, &list[i]) < 0) {
			install_undo(st, m, v, k, a, intent);
			r = REKMOD_E_INSTALL;
			break;
		}
		sb_printf(record, "%s\t%s\n", strrchr(list[i].built, '/') + 1, list[i].dst + strlen(ctx->root));
	}
	inst_free(list, n);
	return r;
}

/* /usr/share/dkms/modules_to_force_install/: files a distribution ships that
 * name modules ("m": install as with --force; "m_version-override": as with
 * --force-version-override), e.g. Ubuntu's for its own builds of in-tree drivers. */
static void forced_by_distro(struct step *st, const char *m)
{
	struct rekmod_ctx *ctx = st->ctx;
	_cleanup_free_ char *dir = root_path(ctx, "/usr/share/dkms/modules_to_force_install");
	_cleanup_strv_free_ char **files = list_dir(dir);
	_cleanup_free_ char *override = xasprintf("%s_version-override", m);
	for (size_t i = 0; files && files[i]; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, files[i]), *text = NULL;
		if (read_file(p, &text, NULL) < 0)
			continue;
		for (char *save = NULL, *w = strtok_r(text, " \t\n", &save); w; w = strtok_r(NULL, " \t\n", &save)) {
			if (streq(w, m)) {
				st->force = true;
				rk_notice(&st->log, "Forcing installation of %s", m);
				return;
			}
			if (streq(w, override)) {
				st->force_version_override = true;
				rk_notice(&st->log, "Forcing version override of %s", m);
				return;
			}
		}
	}
}

/* BUILD_DEPENDS_REBUILD: modules built for k/a against another build of m
 * (their .dep_<m> record differs) are rebuilt, and reinstalled if they were
 * installed. */
static void rebuild_dependents(struct step *st, const char *m, const char *k, const char *a)
{
	struct rekmod_ctx *ctx = st->ctx;
	_cleanup_free_ char *now = dependency_identity(ctx, m, k, a);
	_cleanup_strv_free_ char **added = tree_list_added(ctx, NULL);
	for (size_t i = 0; now && added[i]; i++) {
		char *slash = strchr(added[i], '/');
		*slash = '\0';
		const char *y = added[i], *vy = slash + 1;
		_cleanup_free_ char *was = streq(y, m) ? NULL : tree_read_dep(ctx, y, vy, k, a, m);
		if (!was || streq(was, now))
			continue;
		/* dkms 3.x's lines: depmod after the install before, and after
		 * the uninstall; rekmod's one depmod comes when the plan's last
		 * job for k is done (jobs.c) and says the last line */
		bool depmod = depmod_would_run(ctx, k);
		if (depmod)
			rk_notice(&st->log, "Running depmod... done.");
		rk_notice(&st->log, "%s", "");
		rk_notice(&st->log, "Rebuilding module %s/%s due to updated dependencies", y, vy);
		rk_notice(&st->log, "%s", "");
		bool installed = tree_is_installed(ctx, y, vy, k, a);
		if (installed)
			do_uninstall(st, y, vy, k, a);
		if (installed && depmod)
			rk_notice(&st->log, "Running depmod... done.");
		do_unbuild(ctx, y, vy, k, a);
		int r = installed ? do_install(st, y, vy, k, a) : do_build(ctx, y, vy, k, a);
		if (r)
			rk_err(&st->log, "Error! %s/%s could not be rebuilt against the new %s for %s (%s): exit %d", y, vy, m, k,
				 a, r);
	}
}

int do_install(struct step *st, const char *m, const char *v, const char *k, const char *a)
{
	struct rekmod_ctx *ctx = st->ctx;
	int r;
	if (!tree_is_built(ctx, m, v, k, a)) {
		r = do_build(ctx, m, v, k, a);
		if (r)
			return r;
	}
	_cleanup_free_ char *lib = xasprintf("%s/%s", ctx->install_tree_path, k);
	if (!path_exists(lib)) {
		rk_err(&st->log, "Error! The directory %s doesn't exist.\nYou cannot install a module onto a non-existent kernel.",
			 lib);
		return REKMOD_E_INSTALL;
	}
	struct dkms_conf *c = NULL;
	struct conf_req req = { .module = m, .version = v, .kernel = k, .arch = a, .strict = true };
	r = conf_read(ctx, &req, &c);
	if (r)
		return r;
	bool owed = tree_depmod_pending(ctx, k);
	tree_depmod_pending_set(ctx, k);
	if (install_recover(st, m, v, k, a) == 2)
		return 0; /* it was recorded: nothing left to do */
	_cleanup_free_ char *active = tree_installed_version(ctx, m, k, a);
	struct strbuf record = { 0 };
	struct step own = *st; /* a distribution's force list applies to this module only */
	forced_by_distro(&own, m);
	if (active && streq(active, v)) /* a rebuild replacing its own install: its copy is no rival */
		own.force_version_override = true;
	r = install_modules(&own, c, m, v, k, a, active != NULL, &record);
	_cleanup_free_ char *rec = tree_install_record(ctx, m, v, k, a);
	_cleanup_free_ char *link = kernel_link(ctx, m, k, a);
	_cleanup_free_ char *target = xasprintf("%s/%s/%s", v, k, a);
	if (r == 0 && (write_file_atomic(rec, record.s ? record.s : "", record.len, 0644) < 0 ||
		       symlink_atomic(target, link) < 0)) {
		rk_err(&st->log, "Error! could not record the installation in %s: %s", link, strerror(errno));
		r = REKMOD_E_INSTALL;
		_cleanup_free_ char *intent = tree_intent_read(ctx, m, v, k, a);
		free(target);
		target = active ? xasprintf("%s/%s/%s", active, k, a) : NULL;
		if (target)
			symlink_atomic(target, link);
		else
			unlink(link);
		install_undo(st, m, v, k, a, intent);
	}
	sb_free(&record);
	if (r && !owed) /* nothing changed (or all undone): no depmod, none said (dkms 3.x) */
		tree_depmod_pending_clear(ctx, k);
	if (r == 0) {
		_cleanup_free_ char *intent = tree_intent_read(ctx, m, v, k, a);
		intent_walk(st, m, v, k, a, intent, false);
		tree_intent_clear(ctx, m, v, k, a);
	}
	if (r == 0) {
		_cleanup_free_ char *srcdir = script_dir(ctx, m, v);
		run_script(ctx, m, "post_install", c->post_install, srcdir);
		rebuild_dependents(st, m, k, a);
	}
	dkms_conf_free(c);
	return r;
}

/* The installed copies of this build: from the record, else (a tree made by
 * dkms) from dkms.conf's locations, where the file matches the built one. */
static char **installed_files(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	char **out = xcalloc(1, sizeof(char *));
	_cleanup_free_ char *lib = xasprintf("%s/%s", ctx->install_tree_path, k);
	_cleanup_free_ char *rec = tree_install_record(ctx, m, v, k, a);
	_cleanup_free_ char *text = NULL;
	if (read_file(rec, &text, NULL) == 0) {
		for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			char *tab = strchr(l, '\t');
			_cleanup_free_ char *f = tab ? root_path(ctx, tab + 1) : NULL;
			if (f && beneath(lib, f))
				strv_push(&out, TAKE_PTR(f));
			else if (f)
				rk_warn(log_of(ctx), "Warning: %s names %s, outside %s or through a symbolic link; it is "
					"left alone", rec, f, lib);
		}
		return out;
	}
	struct dkms_conf *c = NULL;
	struct conf_req req = { .module = m, .version = v, .kernel = k, .arch = a };
	if (conf_read(ctx, &req, &c))
		return out;
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	_cleanup_free_ char *moddir = xasprintf("%s/module", base);
	for (size_t i = 0; i < c->n_modules; i++) {
		const struct dkms_module *mod = &c->modules[i];
		_cleanup_free_ char *built = module_file_in(moddir, mod->dest_name);
		const char *locs[] = { mod->dest_location, mod->dest_location_conf };
		for (size_t j = 0; built && j < ARRAY_SIZE(locs); j++) {
			_cleanup_free_ char *dir = xasprintf("%s%s", lib, locs[j]);
			_cleanup_free_ char *inst = name_is_valid(mod->dest_name) ? module_file_in(dir, mod->dest_name) : NULL;
			if (inst && !beneath(lib, inst))
				continue;
			_cleanup_free_ char *v1 = NULL, *s1 = NULL, *v2 = NULL, *s2 = NULL;
			if (!inst || module_verinfo(inst, &v1, &s1) < 0 || module_verinfo(built, &v2, &s2) < 0)
				continue;
			if (streq(v1, v2) && streq(s1, s2)) {
				strv_push(&out, TAKE_PTR(inst));
				break;
			}
		}
	}
	dkms_conf_free(c);
	return out;
}

/* an .origin whose module is gone: a crash came between restoring it and this */
static void drop_stray_origins(const char *store)
{
	_cleanup_strv_free_ char **files = list_dir(store);
	for (size_t i = 0; files && files[i]; i++) {
		if (!endswith(files[i], ".origin"))
			continue;
		_cleanup_free_ char *of = xasprintf("%s/%s", store, files[i]);
		_cleanup_free_ char *f = xstrndup(of, strlen(of) - strlen(".origin"));
		if (!path_exists(f))
			unlink(of);
	}
}

static void restore_originals(struct step *st, const char *m, const char *k, const char *a)
{
	struct rekmod_ctx *ctx = st->ctx;
	_cleanup_free_ char *kdir = xasprintf("%s/%s/original_module/%s", ctx->dkms_tree_path, m, k);
	_cleanup_free_ char *store = xasprintf("%s/%s", kdir, a);
	_cleanup_strv_free_ char **files = list_dir(store);
	for (size_t i = 0; files && files[i]; i++) {
		if (endswith(files[i], ".origin") || streq(files[i], "collisions"))
			continue;
		_cleanup_free_ char *f = xasprintf("%s/%s", store, files[i]);
		_cleanup_free_ char *of = xasprintf("%s.origin", f);
		_cleanup_free_ char *origin = NULL;
		if (read_file(of, &origin, NULL) < 0 || origin[0] != '/') {
			rk_warn(&st->log, "Warning: %s has no readable .origin file; it stays archived in %s", f, store);
			continue;
		}
		origin[strcspn(origin, "\n")] = '\0';
		_cleanup_free_ char *to = root_path(ctx, origin);
		_cleanup_free_ char *lib = xasprintf("%s/%s", ctx->install_tree_path, k);
		if (!beneath(lib, to)) {
			rk_warn(&st->log, "Warning: %s names %s, outside %s; it stays archived in %s", of, to, lib, store);
			continue;
		}
		_cleanup_free_ char *dir = xstrdup(to);
		*strrchr(dir, '/') = '\0';
		if (mkdir_p(dir, 0755) < 0 || move_file(f, to) < 0) {
			rk_warn(&st->log, "Warning: could not restore %s to %s: %s", f, to, strerror(errno));
			continue;
		}
		unlink(of);
		rk_notice(&st->log, "Restoring archived original module %s", to);
	}
	drop_stray_origins(store);
	/* each only when empty, and also when a crash removed the one below already */
	rmdir(store);
	rmdir(kdir);
	_cleanup_free_ char *om = xasprintf("%s/%s/original_module", ctx->dkms_tree_path, m);
	rmdir(om);
}

int do_uninstall(struct step *st, const char *m, const char *v, const char *k, const char *a)
{
	struct rekmod_ctx *ctx = st->ctx;
	rk_notice(&st->log, "Module %s/%s for kernel %s (%s):", m, v, k, a);
	_cleanup_free_ char *active = tree_installed_version(ctx, m, k, a);
	_cleanup_free_ char *lib = xasprintf("%s/%s", ctx->install_tree_path, k);
	if (active && streq(active, v)) {
		tree_depmod_pending_set(ctx, k);
		rk_notice(&st->log, "Before uninstall, this module version was ACTIVE on this kernel.");
		_cleanup_strv_free_ char **files = installed_files(ctx, m, v, k, a);
		_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
		for (size_t i = 0; files[i]; i++) {
			_cleanup_free_ char *built = xasprintf("%s/module/%s", base, strrchr(files[i], '/') + 1);
			if (path_exists(files[i]) && path_exists(built) && !same_bytes(files[i], built)) {
				rk_warn(&st->log, "Warning: %s is not the module rekmod installed there; it is left alone",
					files[i]);
				continue;
			}
			if (unlink(files[i]) < 0) {
				if (errno == ENOENT) /* dkms 3.x's words */
					rk_notice(&st->log, "Module %s was not found within %s/%s/",
						  strrchr(files[i], '/') + 1, ctx->install_tree, k);
				else
					rk_warn(&st->log, "Warning: could not delete %s: %s", files[i], strerror(errno));
				continue;
			}
			rk_notice(&st->log, "Deleting %s", files[i]);
			_cleanup_free_ char *dir = xstrdup(files[i]);
			*strrchr(dir, '/') = '\0';
			rmdir_parents(dir, lib);
		}
		restore_originals(st, m, k, a);
		_cleanup_free_ char *link = kernel_link(ctx, m, k, a);
		_cleanup_free_ char *rec = tree_install_record(ctx, m, v, k, a);
		unlink(link);
		unlink(rec);
		fsync_dir_of(link);
	} else {
		rk_notice(&st->log, "This module version was INACTIVE for this kernel.");
	}
	struct dkms_conf *c = NULL;
	struct conf_req req = { .module = m, .version = v, .kernel = k, .arch = a };
	if (conf_read(ctx, &req, &c) == 0) {
		_cleanup_free_ char *srcdir = script_dir(ctx, m, v);
		run_script(ctx, m, "post_remove", c->post_remove, srcdir);
		dkms_conf_free(c);
	}
	return 0;
}

int do_unbuild(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a);
	int r = rm_rf(base);
	if (r < 0) {
		dk_error(ctx, "could not delete %s: %s", base, strerror(-r));
		return REKMOD_E_GENERIC;
	}
	_cleanup_free_ char *kdir = xasprintf("%s/%s/%s/%s", ctx->dkms_tree_path, m, v, k);
	rmdir(kdir);
	fsync_dir_of(kdir);
	return 0;
}
