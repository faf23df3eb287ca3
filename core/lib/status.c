/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* status: what the dkms tree says is added, built, installed or failed, in
 * dkms's order and with dkms's notes.
 *
 * Scripts and hooks call status in loops, so it reads the tree with one open
 * directory per level and asks below it with fstatat/readlinkat, takes an
 * entry's type from the directory listing instead of a stat, and compares
 * an installed module with its build only when either inode changed after
 * install wrote its record. It reads no dkms.conf. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "internal.h"

/* ---- directory listings with entry types ---- */

struct dent {
	char *name;
	unsigned char type; /* DT_* from the listing; DT_UNKNOWN when the file system gives none */
};

struct dents {
	struct dent *v;
	size_t n;
};

static int dent_cmp(const void *x, const void *y)
{
	return strcmp(((const struct dent *)x)->name, ((const struct dent *)y)->name);
}

/* The entries of the directory open at fd but . and .., sorted as list_dir sorts. */
static struct dents dents_read(int fd)
{
	struct dents d = { 0 };
	size_t cap = 0;
	char buf[4096] __attribute__((aligned(8)));
	ssize_t len;
	while ((len = getdents64(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < len;) {
			const struct dirent64 *de = (const struct dirent64 *)(buf + off);
			off += de->d_reclen;
			if (streq(de->d_name, ".") || streq(de->d_name, ".."))
				continue;
			if (d.n == cap)
				d.v = xrealloc(d.v, (cap = cap ? 2 * cap : 8) * sizeof(*d.v));
			d.v[d.n++] = (struct dent){ xstrdup(de->d_name), de->d_type };
		}
	}
	if (d.n > 1)
		qsort(d.v, d.n, sizeof(*d.v), dent_cmp);
	return d;
}

static void dents_free(struct dents *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
}

static const struct dent *dents_find(const struct dents *d, const char *name)
{
	struct dent key = { (char *)name, 0 };
	return d->n ? bsearch(&key, d->v, d->n, sizeof(*d->v), dent_cmp) : NULL;
}

/* Is entry name of dirfd a directory, symbolic links followed? */
static bool dent_is_dir(int dirfd, const char *name, unsigned char type)
{
	if (type == DT_DIR)
		return true;
	if (type != DT_LNK && type != DT_UNKNOWN)
		return false;
	struct stat st;
	return fstatat(dirfd, name, &st, 0) == 0 && S_ISDIR(st.st_mode);
}

static int open_dir_at(int dirfd, const char *name)
{
	return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* The whole file name below dirfd, and its stat. */
static int read_at(int dirfd, const char *name, char **ret, struct stat *ret_st)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, ret_st) < 0)
		return -errno;
	struct strbuf b = { 0 };
	char buf[4096];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			sb_free(&b);
			return r;
		}
		sb_putn(&b, buf, (size_t)n);
	}
	*ret = sb_steal(&b);
	return 0;
}

/* ---- the notes of an installed entry ---- */

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static ssize_t read_full(int fd, char *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static bool same_bytes(int dirfd, const char *built, const char *inst)
{
	_cleanup_close_ int a = openat(dirfd, built, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_close_ int b = open(inst, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (a < 0 || b < 0)
		return false;
	enum { CHUNK = 16384 };
	_cleanup_free_ char *x = xmalloc(2 * CHUNK);
	for (;;) {
		ssize_t n = read_full(a, x, CHUNK), m = read_full(b, x + CHUNK, CHUNK);
		if (n < 0 || n != m || memcmp(x, x + CHUNK, (size_t)n) != 0)
			return false;
		if (n == 0)
			return true;
	}
}

/* 0, REKMOD_NOTE_NOT_INSTALLED or REKMOD_NOTE_DIFFERS for one line of the
 * install record. built is relative to dirfd; recorded is the record's
 * mtime. Install copies, then writes the record: when neither file's inode
 * changed since (ctime, which no one can set back, strictly older than the
 * record), they are still the copy install made; otherwise they are
 * compared, size first. */
static unsigned installed_file_note(int dirfd, const char *built, const char *inst, const struct timespec *recorded)
{
	struct stat si, sb;
	if (stat(inst, &si) < 0)
		return access(inst, F_OK) == 0 ? REKMOD_NOTE_DIFFERS : REKMOD_NOTE_NOT_INSTALLED;
	if (fstatat(dirfd, built, &sb, 0) < 0 || si.st_size != sb.st_size)
		return REKMOD_NOTE_DIFFERS;
	if (si.st_dev == sb.st_dev && si.st_ino == sb.st_ino)
		return 0;
	if (before(&si.st_ctim, recorded) && before(&sb.st_ctim, recorded))
		return 0;
	return same_bytes(dirfd, built, inst) ? 0 : REKMOD_NOTE_DIFFERS;
}

/* The record of what install put where (<a>/.rekmod-installed below the
 * kernel directory kfd): lines "<built file>\t<installed path>". */
static unsigned installed_notes(const struct rekmod_ctx *ctx, int kfd, const char *a)
{
	_cleanup_free_ char *rec = xasprintf("%s/.rekmod-installed", a);
	_cleanup_free_ char *text = NULL;
	struct stat st;
	if (read_at(kfd, rec, &text, &st) < 0)
		return 0;
	unsigned notes = 0;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(l, '\t');
		if (!tab)
			continue;
		*tab = '\0';
		_cleanup_free_ char *built = xasprintf("%s/module/%s", a, l);
		_cleanup_free_ char *inst = root_path(ctx, tab + 1);
		notes |= installed_file_note(kfd, built, inst, &st.st_mtim);
	}
	return notes;
}

/* ---- walking the tree ---- */

/* One module directory being reported. */
struct walk {
	const struct rekmod_ctx *ctx;
	const char *m;
	int fd;            /* <dkms_tree>/<m> */
	struct dents ents; /* its entries */
	const char *fk, *fa; /* filters, or NULL */
	struct rekmod_status **list;
	size_t *n;
	size_t *cap; /* of *list */
};

static struct rekmod_status *status_push(const struct walk *w, const char *v, const char *k, const char *a,
					 enum rekmod_state st, unsigned notes)
{
	if (*w->n == *w->cap)
		*w->list = xrealloc(*w->list, (*w->cap = *w->cap ? 2 * *w->cap : 16) * sizeof(**w->list));
	struct rekmod_status *s = &(*w->list)[(*w->n)++];
	*s = (struct rekmod_status){
		.module = xstrdup(w->m),
		.version = xstrdup(v),
		.kernel = k ? xstrdup(k) : NULL,
		.arch = a ? xstrdup(a) : NULL,
		.state = st,
		.notes = notes,
		.exit_code = -1,
	};
	return s;
}

/* A build exists when <a>/module below kfd holds a module file, or nothing
 * (*empty). */
static bool built_at(int kfd, const char *a, bool *empty)
{
	_cleanup_free_ char *p = xasprintf("%s/module", a);
	_cleanup_close_ int fd = open_dir_at(kfd, p);
	if (fd < 0)
		return false;
	struct dents e = dents_read(fd);
	bool found = *empty = e.n == 0; /* an empty module/: a dkms.conf with zero modules (dkms 3.x) */
	for (size_t i = 0; i < e.n && !found; i++)
		found = strstr(e.v[i].name, ".ko") != NULL;
	dents_free(&e);
	return found;
}

static bool installed_here(const struct walk *w, const char *v, const char *k, const char *a)
{
	_cleanup_free_ char *link = xasprintf("kernel-%s-%s", k, a);
	char target[PATH_MAX];
	if (!dents_find(&w->ents, link))
		return false;
	ssize_t n = readlinkat(w->fd, link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	_cleanup_free_ char *iv = kernel_link_version(target, k, a);
	return iv && streq(iv, v);
}

/* <a>/.rekmod-reused below kfd: the kernel whose build this is, or NULL */
static char *reused_from(int kfd, const char *a)
{
	_cleanup_free_ char *rec = xasprintf("%s/%s", a, TREE_REUSED_RECORD), *text = NULL;
	struct stat st;
	if (read_at(kfd, rec, &text, &st) < 0)
		return NULL;
	return tree_parse_reused(text, NULL);
}

/* dkms 3.x: a build without the modules its dkms.conf names (its files
 * were deleted) is "built (Built modules are missing ...)". Only an empty
 * module/ is looked at (a zero-module package leaves one too): its
 * dkms.conf is read, quietly. */
static unsigned empty_build_note(const struct walk *w, const char *v, const char *k, const char *a)
{
	struct rekmod_ctx quiet = *w->ctx;
	quiet.log.max_priority = -1;
	struct dkms_conf *c = NULL;
	struct conf_req req = { .module = w->m, .version = v, .kernel = k, .arch = a };
	unsigned note = 0;
	if (conf_read(&quiet, &req, &c) == 0)
		for (size_t i = 0; i < c->n_modules; i++)
			if (!c->modules[i].excluded)
				note = REKMOD_NOTE_NOT_INSTALLED;
	dkms_conf_free(c);
	return note;
}

static void status_arch(const struct walk *w, const char *v, const char *k, int kfd, const char *a)
{
	bool empty = false;
	if (a[0] == '.' || !name_is_valid(a) || !built_at(kfd, a, &empty))
		return;
	if (!installed_here(w, v, k, a)) {
		unsigned notes = empty ? empty_build_note(w, v, k, a) : 0;
		status_push(w, v, k, a, REKMOD_BUILT, notes)->reused_from = reused_from(kfd, a);
		return;
	}
	unsigned notes = 0;
	struct stat st;
	_cleanup_free_ char *orig = xasprintf("original_module/%s/%s", k, a);
	if (dents_find(&w->ents, "original_module") && fstatat(w->fd, orig, &st, 0) == 0 && S_ISDIR(st.st_mode))
		notes |= REKMOD_NOTE_ORIGINAL;
	notes |= installed_notes(w->ctx, kfd, a);
	status_push(w, v, k, a, REKMOD_INSTALLED, notes)->reused_from = reused_from(kfd, a);
}

static void status_kernel(const struct walk *w, const char *v, int vfd, const char *k)
{
	_cleanup_close_ int kfd = open_dir_at(vfd, k);
	if (kfd < 0)
		return;
	if (w->fa) {
		status_arch(w, v, k, kfd, w->fa);
		return;
	}
	struct dents as = dents_read(kfd);
	for (size_t i = 0; i < as.n; i++)
		status_arch(w, v, k, kfd, as.v[i].name);
	dents_free(&as);
}

static int exit_code_of(const char *s)
{
	char *end;
	long c = s ? strtol(s, &end, 10) : -1;
	return s && *s && !*end && c >= 0 && c <= INT_MAX ? (int)c : -1;
}

/* sync's failure records: .rekmod-failed-<K>-<A> files holding kernel=, arch=, exit=, log= */
static void failed_entries(const struct walk *w, const char *v, int vfd, const struct dents *e)
{
	for (size_t i = 0; i < e->n; i++) {
		if (!tree_is_failure_record(e->v[i].name))
			continue;
		_cleanup_free_ char *text = NULL;
		struct stat st;
		if (read_at(vfd, e->v[i].name, &text, &st) < 0)
			continue;
		_cleanup_(failure_record_done) struct failure_record rec = { 0 };
		tree_parse_failure(text, &rec);
		const char *k = rec.kernel, *a = rec.arch, *code = rec.exit, *log = rec.log;
		if (!k || !a || (w->fk && !streq(w->fk, k)) || (w->fa && !streq(w->fa, a)))
			continue;
		struct rekmod_status *s = status_push(w, v, k, a, REKMOD_FAILED, 0);
		s->detail = xasprintf("exit %s%s%s", code ? code : "?", log && *log ? ", see " : "",
				      log && *log ? log : "");
		s->exit_code = exit_code_of(code);
		s->log = log && *log ? xstrdup(log) : NULL;
	}
}

/* An open <m>/<v> directory and its entries. */
struct vdir {
	int fd;         /* -1 when it cannot be opened */
	bool listed;    /* false: opened O_PATH (not readable), no entries */
	struct dents e;
};

static void vdir_open(const struct walk *w, const char *v, struct vdir *d)
{
	*d = (struct vdir){ .fd = open_dir_at(w->fd, v) };
	if (d->fd < 0 && errno == EACCES)
		d->fd = openat(w->fd, v, O_PATH | O_DIRECTORY | O_CLOEXEC);
	else if (d->fd >= 0) {
		d->e = dents_read(d->fd);
		d->listed = true;
	}
}

static void vdir_close(struct vdir *d)
{
	dents_free(&d->e);
	if (d->fd >= 0)
		close(d->fd);
}

/* m/v is added: an entry per build, or "added" when there is none; then the failures. */
static void status_added(const struct walk *w, const char *v, const struct vdir *d)
{
	size_t before_n = *w->n;
	if (w->fk && name_is_valid(w->fk))
		status_kernel(w, v, d->fd, w->fk);
	for (size_t i = 0; !w->fk && i < d->e.n; i++)
		if (kernel_dir_name_ok(d->e.v[i].name) && name_is_valid(d->e.v[i].name))
			status_kernel(w, v, d->fd, d->e.v[i].name);
	if (*w->n == before_n)
		status_push(w, v, NULL, NULL, REKMOD_ADDED, 0);
	failed_entries(w, v, d->fd, &d->e);
}

/* The type of <m>/<v>/source, not followed: DT_LNK, DT_DIR, or 0 (none or another type). */
static unsigned char source_type(const struct vdir *d)
{
	const struct dent *s = dents_find(&d->e, "source");
	unsigned char t = s ? s->type : DT_UNKNOWN;
	struct stat st;
	if ((s || !d->listed) && t == DT_UNKNOWN)
		t = fstatat(d->fd, "source", &st, AT_SYMLINK_NOFOLLOW) == 0 ? IFTODT(st.st_mode) : 0;
	return t == DT_LNK || t == DT_DIR ? t : 0;
}

/* Does <m>/<v>/source, a symbolic link, point at no directory? */
static bool source_link_broken(const struct walk *w, const char *v, const struct vdir *d)
{
	struct stat st;
	if (!w->ctx->root[0])
		return fstatat(d->fd, "source", &st, 0) < 0 || !S_ISDIR(st.st_mode);
	/* an absolute target resolves inside the root */
	_cleanup_free_ char *link = xasprintf("%s/%s/%s/source", w->ctx->dkms_tree_path, w->m, v);
	_cleanup_free_ char *t = resolve_link(w->ctx, link, false);
	return !is_dir(t);
}

/* The common case of a tree with many modules: <m>/<v> has no subdirectory
 * (a link count of 2, on file systems that count them), so no build and no
 * failure record (tree.c keeps a failure's log in <m>/<v>/log/), and its
 * source resolves to a directory: "added", told by two fstatat without
 * opening or listing <m>/<v>. Anything else takes the full walk. */
static bool status_bare_version(const struct walk *w, const char *v)
{
	struct stat st;
	if (w->ctx->root[0] || streq(w->m, "original_module") || fstatat(w->fd, v, &st, 0) < 0 ||
	    !S_ISDIR(st.st_mode) || st.st_nlink != 2)
		return false;
	char src[NAME_MAX + sizeof("/source")];
	if ((size_t)snprintf(src, sizeof(src), "%s/source", v) >= sizeof(src) || fstatat(w->fd, src, &st, 0) < 0 ||
	    !S_ISDIR(st.st_mode))
		return false;
	status_push(w, v, NULL, NULL, REKMOD_ADDED, 0);
	return true;
}

/* One entry of the module directory: broken, added (then its builds) or neither. */
static void status_version(const struct walk *w, const char *v, unsigned char type)
{
	if (type == DT_DIR && status_bare_version(w, v))
		return;
	if (!dent_is_dir(w->fd, v, type))
		return;
	struct vdir d = { .fd = -1 };
	unsigned char src = 0;
	/* a link (kernel-<k>-<a>, to a build) seldom has a source below it: one
	 * fstatat says so without opening and listing what it points at */
	_cleanup_free_ char *below = type == DT_DIR ? NULL : xasprintf("%s/source", v);
	struct stat st;
	if (!below || fstatat(w->fd, below, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		vdir_open(w, v, &d);
		src = d.fd >= 0 ? source_type(&d) : 0;
	}
	bool broken = false;
	if (streq(w->m, "original_module") || src == DT_DIR)
		broken = false;
	else if (src == DT_LNK)
		broken = source_link_broken(w, v, &d);
	else {
		_cleanup_free_ char *usr = xasprintf("%s/%s-%s", w->ctx->source_tree_path, w->m, v);
		broken = is_dir(usr);
	}
	if (broken)
		status_push(w, v, NULL, NULL, REKMOD_BROKEN, 0);
	else if (src)
		status_added(w, v, &d);
	vdir_close(&d);
}

/* the user's opt-outs of w->m (<m>/.rekmod-optout-K-A) */
static void optout_entries(const struct walk *w, const char *fv)
{
	for (size_t i = 0; i < w->ents.n; i++) {
		if (!tree_is_optout_record(w->ents.v[i].name))
			continue;
		_cleanup_free_ char *text = NULL, *v = NULL, *k = NULL, *a = NULL;
		struct stat st;
		if (read_at(w->fd, w->ents.v[i].name, &text, &st) < 0)
			continue;
		tree_parse_optout(text, &v, &k, &a);
		if (!v || !k || !a || (fv && !streq(fv, v)) || (w->fk && !streq(w->fk, k)) || (w->fa && !streq(w->fa, a)))
			continue;
		struct rekmod_status *s = status_push(w, v, k, a, REKMOD_OPTOUT, 0);
		s->detail = xasprintf("removed by the user: sync leaves it off; rekmod install %s/%s -k %s brings it back",
				      w->m, v, k);
	}
}

static void status_module(struct walk *w, int top, const char *version)
{
	w->fd = open_dir_at(top, w->m);
	if (w->fd < 0)
		return;
	w->ents = dents_read(w->fd);
	if (version)
		status_version(w, version, DT_UNKNOWN);
	for (size_t i = 0; !version && i < w->ents.n; i++)
		status_version(w, w->ents.v[i].name, w->ents.v[i].type);
	optout_entries(w, version);
	dents_free(&w->ents);
	close(w->fd);
}

_public_ int rekmod_status_list(struct rekmod_ctx *ctx, const char *module, const char *version,
				const char *kernel, const char *arch, struct rekmod_status **ret, size_t *ret_n)
{
	struct rekmod_status *list = NULL;
	size_t n = 0, cap = 0;
	struct walk w = { .ctx = ctx, .fk = kernel, .fa = arch, .list = &list, .n = &n, .cap = &cap };
	_cleanup_close_ int top = open_dir_at(AT_FDCWD, ctx->dkms_tree_path);
	if (top < 0 || (module && (!name_is_valid(module) || (version && !name_is_valid(version)))))
		goto out;
	if (module) {
		w.m = module;
		if (module[0] != '.')
			status_module(&w, top, version);
		goto out;
	}
	struct dents mods = dents_read(top);
	for (size_t i = 0; i < mods.n; i++) {
		if (mods.v[i].name[0] == '.')
			continue;
		w.m = mods.v[i].name;
		status_module(&w, top, version);
	}
	dents_free(&mods);
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
		free(s[i].log);
		free(s[i].reused_from);
	}
	free(s);
}

/* "m/v, k, a: " (sb_puts: status prints one line per entry, in loops) */
static void format_head(struct strbuf *b, const struct rekmod_status *s)
{
	sb_puts(b, s->module);
	sb_putc(b, '/');
	sb_puts(b, s->version);
	sb_puts(b, ", ");
	sb_puts(b, s->kernel ? s->kernel : "");
	sb_puts(b, ", ");
	sb_puts(b, s->arch ? s->arch : "");
	sb_puts(b, ": ");
}

_public_ char *rekmod_status_format(const struct rekmod_status *s)
{
	struct strbuf b = { 0 };
	switch (s->state) {
	case REKMOD_ADDED:
	case REKMOD_BROKEN:
		sb_puts(&b, s->module);
		sb_putc(&b, '/');
		sb_puts(&b, s->version);
		sb_puts(&b, s->state == REKMOD_ADDED ? ": added" : ": broken");
		break;
	case REKMOD_FAILED:
		format_head(&b, s);
		sb_puts(&b, "failed (");
		sb_puts(&b, s->detail ? s->detail : "build failed");
		sb_putc(&b, ')');
		break;
	case REKMOD_OPTOUT:
		format_head(&b, s);
		sb_puts(&b, s->detail ? s->detail : "removed by the user");
		break;
	case REKMOD_BUILT:
	case REKMOD_INSTALLED:
		format_head(&b, s);
		sb_puts(&b, s->state == REKMOD_BUILT ? "built" : "installed");
		if (s->state == REKMOD_INSTALLED && s->reused_from) {
			/* dkms 3.x's line for a module weak-modules reuses */
			sb_puts(&b, "-weak from ");
			sb_puts(&b, s->reused_from);
		}
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
