/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* status: what the dkms tree says is added, built, installed or failed, in
 * dkms's order and with dkms's notes.
 *
 * Scripts and hooks call status in loops, so it reads the tree with one open
 * directory per level and asks below it with fstatat/readlinkat, takes an
 * entry's type from the directory listing instead of a stat, and compares
 * an installed module with its build only when either inode changed after
 * install wrote its record. It reads no dkms.conf. The walk allocates
 * little and parses no formats: a listing of a few entries lives on the
 * stack, paths are joined in buffers, an entry's names share one block. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
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
	char *names; /* every name, NUL-terminated, one after the other: v[i].name points in here */
	/* most directories status lists hold a few entries: then v and names
	 * are these, and a listing allocates nothing (a dents is filled in
	 * place and not moved) */
	struct dent small_v[6];
	char small_names[192];
};

static int dent_cmp(const void *x, const void *y)
{
	return strcmp(((const struct dent *)x)->name, ((const struct dent *)y)->name);
}

/* v sorted by name with strcmp, as qsort with dent_cmp sorts it (names
 * are unique); a merge sort calling strcmp directly: the top level of a
 * tree has a name per module */
static void dents_merge(struct dent *v, struct dent *tmp, size_t n)
{
	if (n < 2)
		return;
	size_t h = n / 2, i = 0, j = h, o = 0;
	dents_merge(v, tmp, h);
	dents_merge(v + h, tmp, n - h);
	if (strcmp(v[h - 1].name, v[h].name) < 0)
		return; /* already in order */
	while (i < h && j < n)
		tmp[o++] = strcmp(v[i].name, v[j].name) <= 0 ? v[i++] : v[j++];
	while (i < h)
		tmp[o++] = v[i++];
	memcpy(v, tmp, o * sizeof(*v)); /* v[j..n) is in place */
}

static void dents_sort(struct dent *v, size_t n)
{
	if (n < 2)
		return;
	struct dent small[64], *tmp = n <= ARRAY_SIZE(small) ? small : xmalloc(n * sizeof(*tmp));
	dents_merge(v, tmp, n);
	if (tmp != small)
		free(tmp);
}

/* Room for want more bytes of names (want > 0) */
static void dents_names_grow(struct dents *d, size_t len, size_t *room, size_t want)
{
	size_t cap = 2 * (len + want) + 256;
	if (d->names == d->small_names)
		d->names = memcpy(xmalloc(cap), d->small_names, len);
	else
		d->names = xrealloc(d->names, cap);
	*room = cap;
}

static void dents_push(struct dents *d, size_t *cap, size_t off, unsigned char type)
{
	if (d->n == *cap) {
		size_t c = 2 * *cap;
		d->v = d->v == d->small_v ? memcpy(xmalloc(c * sizeof(*d->v)), d->small_v, d->n * sizeof(*d->v))
					  : xrealloc(d->v, c * sizeof(*d->v));
		*cap = c;
	}
	/* the offset for now: names may move while it grows */
	d->v[d->n++] = (struct dent){ (char *)(uintptr_t)off, type };
}

/* The entries of the directory open at fd but . and .., sorted as list_dir
 * sorts, into *d (which then stays where it is). */
static void dents_read(int fd, struct dents *d)
{
	d->v = d->small_v;
	d->n = 0;
	d->names = d->small_names;
	size_t cap = ARRAY_SIZE(d->small_v), len = 0, room = sizeof(d->small_names);
	char buf[4096] __attribute__((aligned(8)));
	ssize_t got;
	while ((got = getdents64(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < got;) {
			const struct dirent64 *de = (const struct dirent64 *)(buf + off);
			off += de->d_reclen;
			if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
				continue;
			size_t l = strlen(de->d_name) + 1;
			if (len + l > room)
				dents_names_grow(d, len, &room, l);
			memcpy(d->names + len, de->d_name, l);
			dents_push(d, &cap, len, de->d_type);
			len += l;
		}
	}
	for (size_t i = 0; i < d->n; i++)
		d->v[i].name = d->names + (uintptr_t)d->v[i].name;
	dents_sort(d->v, d->n);
}

static void dents_free(struct dents *d)
{
	if (d->names != d->small_names)
		free(d->names);
	if (d->v != d->small_v)
		free(d->v);
	d->names = d->small_names;
	d->v = d->small_v;
	d->n = 0;
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

/* "a/b" in buf, or NULL when it does not fit (no format parsing: status
 * joins a few names per module) */
static const char *join(char *buf, size_t size, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la + 1 + lb >= size)
		return NULL;
	memcpy(buf, a, la);
	buf[la] = '/';
	memcpy(buf + la + 1, b, lb + 1);
	return buf;
}

/* "a/b/c" in buf, or NULL when it does not fit */
static const char *join3(char *buf, size_t size, const char *a, const char *b, const char *c)
{
	size_t la = strlen(a);
	if (la + 1 >= size)
		return NULL;
	memcpy(buf, a, la);
	buf[la] = '/';
	return join(buf + la + 1, size - la - 1, b, c) ? buf : NULL;
}

/* The whole file name below dirfd, and its stat. A regular file is read
 * in one read of its size (the records are written to a temporary file and
 * renamed, so the inode open here does not change); EOF is only read for
 * when the size says nothing (0) or the file grew after fstat. */
static int read_at(int dirfd, const char *name, char **ret, struct stat *ret_st)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, ret_st) < 0)
		return -errno;
	size_t want = S_ISREG(ret_st->st_mode) && ret_st->st_size > 0 && ret_st->st_size < (1 << 20)
			      ? (size_t)ret_st->st_size
			      : 0;
	size_t cap = want ? want + 1 : 4096, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len + 1 == cap)
			buf = xrealloc(buf, cap *= 2);
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			free(buf);
			return r;
		}
		len += (size_t)n;
		if (n == 0 || (want && len == want))
			break;
	}
	buf[len] = '\0';
	*ret = buf;
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
 * compared, size first. *built_seen is set when the built file exists. */
static unsigned installed_file_note(int dirfd, const char *built, const char *inst, const struct timespec *recorded,
				    bool *built_seen)
{
	struct stat si, sb;
	if (stat(inst, &si) < 0)
		return access(inst, F_OK) == 0 ? REKMOD_NOTE_DIFFERS : REKMOD_NOTE_NOT_INSTALLED;
	if (fstatat(dirfd, built, &sb, 0) < 0)
		return REKMOD_NOTE_DIFFERS;
	*built_seen = true;
	if (si.st_size != sb.st_size)
		return REKMOD_NOTE_DIFFERS;
	if (si.st_dev == sb.st_dev && si.st_ino == sb.st_ino)
		return 0;
	if (before(&si.st_ctim, recorded) && before(&sb.st_ctim, recorded))
		return 0;
	return same_bytes(dirfd, built, inst) ? 0 : REKMOD_NOTE_DIFFERS;
}

/* The record of what install put where (<a>/.rekmod-installed below the
 * kernel directory kfd): lines "<built file>\t<installed path>". *built_ko
 * is set when one of them, a *.ko* name in <a>/module/, exists: what
 * built_at() would list module/ for. */
static unsigned installed_notes(const struct rekmod_ctx *ctx, int kfd, const char *a, bool *built_ko)
{
	char rb[PATH_MAX], bb[PATH_MAX];
	const char *rec = join(rb, sizeof(rb), a, ".rekmod-installed");
	_cleanup_free_ char *text = NULL;
	struct stat st;
	if (!rec || read_at(kfd, rec, &text, &st) < 0)
		return 0;
	unsigned notes = 0;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(l, '\t');
		if (!tab)
			continue;
		*tab = '\0';
		const char *built = join3(bb, sizeof(bb), a, "module", l);
		/* without a root, an absolute path is its own root_path */
		_cleanup_free_ char *inst = ctx->root[0] || tab[1] != '/' ? root_path(ctx, tab + 1) : NULL;
		bool seen = false;
		notes |= built ? installed_file_note(kfd, built, inst ? inst : tab + 1, &st.st_mtim, &seen)
			       : REKMOD_NOTE_DIFFERS;
		if (seen && !strchr(l, '/') && strstr(l, ".ko"))
			*built_ko = true;
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
	/* module, version, kernel and arch in one allocation, owned by
	 * .module (rekmod_status_free): one malloc per entry, not four */
	size_t lm = strlen(w->m) + 1, lv = strlen(v) + 1, lk = k ? strlen(k) + 1 : 0, la = a ? strlen(a) + 1 : 0;
	char *names = xmalloc(lm + lv + lk + la);
	*s = (struct rekmod_status){
		.module = memcpy(names, w->m, lm),
		.version = memcpy(names + lm, v, lv),
		.kernel = k ? memcpy(names + lm + lv, k, lk) : NULL,
		.arch = a ? memcpy(names + lm + lv + lk, a, la) : NULL,
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
	char buf[PATH_MAX];
	const char *p = join(buf, sizeof(buf), a, "module");
	_cleanup_close_ int fd = p ? open_dir_at(kfd, p) : -1;
	if (fd < 0)
		return false;
	struct dents e;
	dents_read(fd, &e);
	bool found = *empty = e.n == 0; /* an empty module/: a dkms.conf with zero modules (dkms 3.x) */
	for (size_t i = 0; i < e.n && !found; i++)
		found = strstr(e.v[i].name, ".ko") != NULL;
	dents_free(&e);
	return found;
}

static bool installed_here(const struct walk *w, const char *v, const char *k, const char *a)
{
	char link[NAME_MAX + 1], target[PATH_MAX];
	size_t lk = strlen(k), la = strlen(a);
	if (sizeof("kernel-") + lk + 1 + la > sizeof(link))
		return false;
	memcpy(link, "kernel-", sizeof("kernel-") - 1);
	memcpy(link + sizeof("kernel-") - 1, k, lk);
	link[sizeof("kernel-") - 1 + lk] = '-';
	memcpy(link + sizeof("kernel-") + lk, a, la + 1);
	if (!dents_find(&w->ents, link))
		return false;
	ssize_t n = readlinkat(w->fd, link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	/* as kernel_link_version(target, k, a) == v, without allocating:
	 * target is "[.../]<v>/<k>/<a>" */
	size_t tail = 1 + lk + 1 + la, lv = strlen(v);
	if ((size_t)n < tail + lv || target[n - tail] != '/' || memcmp(target + n - tail + 1, k, lk) != 0 ||
	    target[n - la - 1] != '/' || memcmp(target + n - la, a, la) != 0)
		return false;
	size_t head = (size_t)n - tail; /* the length of "[.../]<v>" */
	return memcmp(target + head - lv, v, lv) == 0 && (head == lv || target[head - lv - 1] == '/') &&
	       !memchr(target + head - lv, '/', lv);
}

/* <a>/.rekmod-reused below kfd: the kernel whose build this is, or NULL */
static char *reused_from(int kfd, const char *a)
{
	char buf[PATH_MAX];
	const char *rec = join(buf, sizeof(buf), a, TREE_REUSED_RECORD);
	_cleanup_free_ char *text = NULL;
	struct stat st;
	if (!rec || read_at(kfd, rec, &text, &st) < 0)
		return NULL;
	return tree_parse_reused(text, NULL);
}

/* dkms 3.x: a build without the modules its dkms.conf names (its files
 * were deleted) is "built (Built modules are missing ...)". Only an empty
 * module/ is looked at (a zero-module package leaves one too): its
 * dkms.conf is read, quietly. */
static unsigned empty_build_note(const struct walk *w, const char *v, const char *k, const char *a)
{
	struct dkms_conf *c = NULL;
	struct conf_req req = { .module = w->m, .version = v, .kernel = k, .arch = a };
	unsigned note = 0;
	if (conf_read_quiet(w->ctx, &req, &c) == 0)
		for (size_t i = 0; i < c->n_modules; i++)
			if (!c->modules[i].excluded)
				note = REKMOD_NOTE_NOT_INSTALLED;
	dkms_conf_free(c);
	return note;
}

/* An entry for <k>/<a> when it is built (built_at); for an installed one,
 * a module file its install record names already says so, without listing
 * <a>/module. */
static void status_arch(const struct walk *w, const char *v, const char *k, int kfd, const char *a)
{
	bool empty = false;
	if (a[0] == '.' || !name_is_valid(a))
		return;
	if (!installed_here(w, v, k, a)) {
		if (built_at(kfd, a, &empty)) {
			unsigned notes = empty ? empty_build_note(w, v, k, a) : 0;
			status_push(w, v, k, a, REKMOD_BUILT, notes)->reused_from = reused_from(kfd, a);
		}
		return;
	}
	bool built = false;
	unsigned notes = installed_notes(w->ctx, kfd, a, &built);
	if (!built && !built_at(kfd, a, &empty))
		return;
	struct stat st;
	char buf[PATH_MAX];
	const char *orig = join3(buf, sizeof(buf), "original_module", k, a);
	if (orig && dents_find(&w->ents, "original_module") && fstatat(w->fd, orig, &st, 0) == 0 && S_ISDIR(st.st_mode))
		notes |= REKMOD_NOTE_ORIGINAL;
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
	struct dents as;
	dents_read(kfd, &as);
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
		dents_read(d->fd, &d->e);
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
	char buf[NAME_MAX + sizeof("/source")];
	const char *src = join(buf, sizeof(buf), v, "source");
	if (!src || fstatat(w->fd, src, &st, 0) < 0 || !S_ISDIR(st.st_mode))
		return false;
	status_push(w, v, NULL, NULL, REKMOD_ADDED, 0);
	return true;
}

/* One entry of the module directory: broken, added (then its builds) or neither. */
static void status_version(const struct walk *w, const char *v, unsigned char type)
{
	if (type == DT_DIR && status_bare_version(w, v))
		return;
	if (type != DT_DIR && type != DT_LNK && type != DT_UNKNOWN)
		return;
	struct vdir d = { .fd = -1 };
	unsigned char src = 0;
	/* a link (kernel-<k>-<a>, to a build) seldom has a source below it:
	 * one fstatat of <v>/source says so without opening and listing what
	 * it points at; that it resolves also says <v> is a directory */
	char buf[NAME_MAX + sizeof("/source")];
	const char *below = type == DT_DIR ? NULL : join(buf, sizeof(buf), v, "source");
	struct stat st;
	bool dir = type == DT_DIR;
	if (dir || (below && fstatat(w->fd, below, &st, AT_SYMLINK_NOFOLLOW) == 0)) {
		dir = true;
		vdir_open(w, v, &d);
		src = d.fd >= 0 ? source_type(&d) : 0;
	}
	bool broken = false;
	if (streq(w->m, "original_module") || src == DT_DIR)
		broken = false;
	else if (src == DT_LNK)
		broken = source_link_broken(w, v, &d);
	else {
		/* no source: broken when the /usr/src tree exists (then
		 * only, whether <v> is a directory at all) */
		_cleanup_free_ char *usr = xasprintf("%s/%s-%s", w->ctx->source_tree_path, w->m, v);
		broken = is_dir(usr) && (dir || dent_is_dir(w->fd, v, type));
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
	dents_read(w->fd, &w->ents);
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
	struct dents mods;
	dents_read(top, &mods);
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
		free(s[i].module); /* and version, kernel, arch: one allocation (status_push) */
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
	/* room for the usual line at once (sb_puts grows it when longer) */
	struct strbuf b = { .s = xmalloc(192), .cap = 192 };
	b.s[0] = '\0';
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
