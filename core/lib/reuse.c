/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reuse of a build for another kernel: which kernels are equivalent (a hash
 * of their normalized headers, cached per kernel) or symbol-compatible, and
 * the copy of a build for the new kernel. What is hashed and set aside is
 * described in reuse.h. */
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "reuse.h"

#if OPENSSL_VERSION_MAJOR != 3
#error "OpenSSL is loaded as libcrypto.so.3"
#endif

DL_PROTO(EVP_MD_CTX_new);
DL_PROTO(EVP_MD_CTX_free);
DL_PROTO(EVP_DigestInit_ex);
DL_PROTO(EVP_DigestUpdate);
DL_PROTO(EVP_DigestFinal_ex);
DL_PROTO(EVP_sha256);

static struct dl_lib libcrypto = {
	.soname = "libcrypto.so.3",
	.package = "libssl3",
	.syms = (const struct dl_sym[]){ DL_SYM(EVP_MD_CTX_new), DL_SYM(EVP_MD_CTX_free), DL_SYM(EVP_DigestInit_ex),
					 DL_SYM(EVP_DigestUpdate), DL_SYM(EVP_DigestFinal_ex), DL_SYM(EVP_sha256),
					 { 0 } },
};

/* bump when what is hashed changes: every cached hash is then recomputed */
#define HASH_SCHEME "rekmod-headers-1"

/* ---- the hash of a kernel's normalized headers ---- */

struct hasher {
	EVP_MD_CTX *md;
	const char *root;
	const char *release;
	char *common; /* the tree the build directory's Makefile includes, as written there */
	char **walked; /* real paths of the trees hashed (one reached twice is hashed once) */
};

static void feed(struct hasher *h, const void *p, size_t n)
{
	sym_EVP_DigestUpdate(h->md, p, n);
}

static void feed_str(struct hasher *h, const char *s)
{
	feed(h, s, strlen(s) + 1);
}

/* files of the build directory that carry the release and the build salt */
static bool versioned_file(const char *rel)
{
	return !strchr(rel, '/') || startswith(rel, "include/generated/") || startswith(rel, "include/config/");
}

/* the build's date and the package revision: what no module is built from */
static bool set_aside_file(const char *rel)
{
	static const char *const aside[] = { "include/generated/utsversion.h", "include/generated/package.h",
					     "include/generated/compile.h", NULL };
	return strv_contains((char *const *)aside, rel);
}

/* text without CONFIG_BUILD_SALT lines, the release and the included tree's path as placeholders */
static void feed_normalized(struct hasher *h, const char *text, size_t n)
{
	struct strbuf b = { 0 };
	size_t rl = strlen(h->release), cl = h->common ? strlen(h->common) : 0;
	for (size_t at = 0; at < n;) {
		const char *nl = memchr(text + at, '\n', n - at);
		size_t end = nl ? (size_t)(nl - text) + 1 : n;
		if (memmem(text + at, end - at, "CONFIG_BUILD_SALT", 17)) {
			at = end;
			continue;
		}
		for (size_t i = at; i < end;) {
			if (cl && end - i >= cl && !memcmp(text + i, h->common, cl)) {
				sb_puts(&b, "@COMMON@");
				i += cl;
			} else if (rl && end - i >= rl && !memcmp(text + i, h->release, rl)) {
				sb_puts(&b, "@RELEASE@");
				i += rl;
			} else {
				sb_putc(&b, text[i++]);
			}
		}
		at = end;
	}
	feed(h, b.s ? b.s : "", b.len);
	sb_free(&b);
}

static int feed_file(struct hasher *h, const char *path, const char *rel, bool own)
{
	_cleanup_free_ char *text = NULL;
	size_t n = 0;
	if (own && set_aside_file(rel)) {
		feed_str(h, "set-aside");
		return 0;
	}
	int r = read_file(path, &text, &n);
	if (r < 0)
		return r;
	uint64_t len = n;
	if (own && versioned_file(rel)) {
		feed_normalized(h, text, n);
	} else {
		feed(h, &len, sizeof(len));
		feed(h, text, n);
	}
	return 0;
}

static int walk_tree(struct hasher *h, const char *label, const char *dir, const char *prefix, int depth,
		     bool own);

/* a top-level symbolic link to a directory outside (scripts -> linux-kbuild): that tree too */
static int walk_link(struct hasher *h, const char *name, const char *path, int depth, bool own)
{
	char target[PATH_MAX];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	if (own)
		feed_normalized(h, target, (size_t)n + 1);
	else
		feed_str(h, target);
	if (depth != 0 || !is_dir(path))
		return 0;
	return walk_tree(h, name, path, "", 1, false);
}

static int walk_entry(struct hasher *h, const char *dir, const char *prefix, const char *name, int depth, bool own)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
	_cleanup_free_ char *rel = xasprintf("%s%s", prefix, name);
	struct stat st;
	if (lstat(path, &st) < 0)
		return -errno;
	char type = S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : S_ISREG(st.st_mode) ? 'f' : 'o';
	char head[2] = { type, 0 };
	feed(h, head, 2);
	feed_str(h, rel);
	if (type == 'd') {
		_cleanup_free_ char *sub = xasprintf("%s/", rel);
		return walk_tree(h, NULL, path, sub, depth + 1, own);
	}
	if (type == 'l')
		return walk_link(h, rel, path, depth, own);
	return type == 'f' ? feed_file(h, path, rel, own) : 0;
}

/* a tree, entries sorted by name; label names a tree's root (NULL below it) */
static int walk_tree(struct hasher *h, const char *label, const char *dir, const char *prefix, int depth, bool own)
{
	if (depth > 64)
		return -ELOOP;
	if (label) {
		_cleanup_free_ char *real = realpath(dir, NULL);
		if (!real)
			return -errno;
		if (strv_contains(h->walked, real))
			return 0;
		strv_push(&h->walked, TAKE_PTR(real));
		feed_str(h, label);
	}
	_cleanup_strv_free_ char **e = list_dir(dir);
	if (!e)
		return -errno;
	for (size_t i = 0; e[i]; i++) {
		int r = walk_entry(h, dir, prefix, e[i], label ? 0 : depth, own);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Debian's build directory: "include /usr/src/linux-headers-K-common/Makefile" */
static char *included_tree(const char *build_dir)
{
	_cleanup_free_ char *mk = xasprintf("%s/Makefile", build_dir), *text = NULL;
	if (read_file(mk, &text, NULL) < 0)
		return NULL;
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!startswith(l, "include /") || !endswith(l, "/Makefile"))
			continue;
		const char *p = l + strlen("include ");
		return xstrndup(p, strlen(p) - strlen("/Makefile"));
	}
	return NULL;
}

static char *hex_of(const unsigned char *md, unsigned n)
{
	struct strbuf b = { 0 };
	sb_puts(&b, "sha256:");
	for (unsigned i = 0; i < n; i++)
		sb_printf(&b, "%02x", md[i]);
	return sb_steal(&b);
}

static int hash_trees(struct hasher *h, const char *build_dir)
{
	feed_str(h, HASH_SCHEME);
	int r = walk_tree(h, "build", build_dir, "", 0, true);
	if (r < 0 || !h->common)
		return r;
	_cleanup_free_ char *in_root = xasprintf("%s%s", h->root, h->common);
	return walk_tree(h, "common", is_dir(in_root) ? in_root : h->common, "", 0, false);
}

int reuse_hash_tree(const char *root, const char *build_dir, const char *release, char **ret_hash)
{
	int r = dl_load(&libcrypto, NULL);
	if (r < 0)
		return r;
	struct hasher h = { .md = sym_EVP_MD_CTX_new(), .root = root, .release = release,
			    .common = included_tree(build_dir) };
	if (!h.md || !sym_EVP_DigestInit_ex(h.md, sym_EVP_sha256(), NULL))
		r = -ENOMEM;
	else
		r = hash_trees(&h, build_dir);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	if (r == 0 && !sym_EVP_DigestFinal_ex(h.md, md, &n))
		r = -EIO;
	if (r == 0)
		*ret_hash = hex_of(md, n);
	sym_EVP_MD_CTX_free(h.md);
	free(h.common);
	strv_free(h.walked);
	return r;
}

/* ---- the cache: the hash is kept while the headers' identity is unchanged ---- */

static void stat_id(struct strbuf *b, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		sb_puts(b, " -");
	else
		sb_printf(b, " %llu:%lld:%lld.%09ld", (unsigned long long)st.st_ino, (long long)st.st_size,
			  (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

/* the build directory's path and the stat of the files a new headers package rewrites */
static char *headers_identity(const struct rekmod_ctx *ctx, const char *build_dir)
{
	static const char *const files[] = { ".config", "Module.symvers", "Makefile" };
	struct strbuf b = { 0 };
	sb_printf(&b, "%s %s", HASH_SCHEME, build_dir);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", build_dir, files[i]);
		stat_id(&b, p);
	}
	_cleanup_free_ char *common = included_tree(build_dir);
	if (common) {
		_cleanup_free_ char *in_root = xasprintf("%s%s/Makefile", ctx->root, common);
		_cleanup_free_ char *host = xasprintf("%s/Makefile", common);
		stat_id(&b, path_exists(in_root) ? in_root : host);
	}
	return sb_steal(&b);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

int reuse_kernel_hash(struct rekmod_ctx *ctx, const char *k, char **ret_hash)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	_cleanup_free_ char *bd = kernel_build_dir(ctx, k);
	_cleanup_free_ char *real = realpath(bd, NULL);
	if (!real || !kernel_headers_in(real))
		return -ENOENT;
	_cleanup_free_ char *key = headers_identity(ctx, real);
	char *hash = tree_kernel_hash_read(ctx, k, key);
	if (hash) {
		rk_debug(log_of(ctx), "headers of %s: %s (cached, %.2f ms)", k, hash, ms_since(&t0));
		*ret_hash = hash;
		return 0;
	}
	int r = reuse_hash_tree(ctx->root, real, k, &hash);
	if (r < 0)
		return r;
	rk_debug(log_of(ctx), "headers of %s: %s (hashed %s in %.1f ms)", k, hash, real, ms_since(&t0));
	if ((r = tree_kernel_hash_write(ctx, k, key, hash)) < 0)
		rk_debug(log_of(ctx), "could not cache the header hash of %s: %s", k, strerror(-r));
	*ret_hash = hash;
	return 0;
}

/* ---- symbol-compatible kernels ---- */

void reuse_versions_free(struct modversion *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
}

/* the section header named name, or NULL */
static const Elf64_Shdr *elf_section(const unsigned char *elf, size_t n, const char *name)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)elf;
	if (n < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    eh->e_shoff > n || (n - eh->e_shoff) / sizeof(Elf64_Shdr) < eh->e_shnum || eh->e_shstrndx >= eh->e_shnum)
		return NULL;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(elf + eh->e_shoff);
	const Elf64_Shdr *strs = &sh[eh->e_shstrndx];
	if (strs->sh_offset > n || strs->sh_size > n - strs->sh_offset)
		return NULL;
	for (size_t i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_name >= strs->sh_size)
			continue;
		const char *s = (const char *)elf + strs->sh_offset + sh[i].sh_name;
		size_t max = strs->sh_size - sh[i].sh_name;
		if (strnlen(s, max) < max && streq(s, name))
			return sh[i].sh_offset <= n && sh[i].sh_size <= n - sh[i].sh_offset ? &sh[i] : NULL;
	}
	return NULL;
}

/* struct modversion_info: an unsigned long CRC, then the name (64 bytes in all) */
#define MODVERSION_SIZE 64

int reuse_parse_versions(const void *elf, size_t n, struct modversion **ret, size_t *ret_n)
{
	if (n < SELFMAG || memcmp(elf, ELFMAG, SELFMAG))
		return -EINVAL;
	const Elf64_Shdr *sh = elf_section(elf, n, "__versions");
	*ret = NULL;
	*ret_n = 0;
	if (elf_section(elf, n, "__version_ext_names"))
		return -EOPNOTSUPP; /* CONFIG_EXTENDED_MODVERSIONS (6.15): not read here, so never compatible */
	if (!sh)
		return 0;
	size_t count = sh->sh_size / MODVERSION_SIZE;
	struct modversion *v = xcalloc(count + 1, sizeof(*v));
	for (size_t i = 0; i < count; i++) {
		const unsigned char *e = (const unsigned char *)elf + sh->sh_offset + i * MODVERSION_SIZE;
		memcpy(&v[i].crc, e, sizeof(uint64_t));
		v[i].name = xstrndup((const char *)e + 8, MODVERSION_SIZE - 8);
	}
	*ret = v;
	*ret_n = count;
	return 0;
}

/* the CRC of sym in Module.symvers ("0x<crc>\t<sym>\t<module>\t<export>[\t<ns>]" lines) */
static bool symvers_crc(const char *symvers, const char *sym, uint64_t *ret)
{
	_cleanup_free_ char *pat = xasprintf("\t%s\t", sym);
	for (const char *p = symvers; (p = strstr(p, pat));) {
		const char *bol = p;
		while (bol > symvers && bol[-1] != '\n')
			bol--;
		/* the symbol's own field (the second): a module or namespace field of that name is another line's */
		if (bol + strcspn(bol, "\t\n") == p && startswith(bol, "0x")) {
			*ret = strtoull(bol, NULL, 16);
			return true;
		}
		p += strlen(pat);
	}
	return false;
}

bool reuse_symbols_match(const struct modversion *v, size_t n, const char *symvers, char **ret_why)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t crc = 0;
		if (!symvers_crc(symvers, v[i].name, &crc)) {
			*ret_why = xasprintf("%s is not in Module.symvers", v[i].name);
			return false;
		}
		if ((crc & 0xffffffffu) != (v[i].crc & 0xffffffffu)) {
			*ret_why = xasprintf("the CRC of %s differs (0x%08llx, was 0x%08llx)", v[i].name,
					     (unsigned long long)crc, (unsigned long long)v[i].crc);
			return false;
		}
	}
	return true;
}

static int str_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* the .config's lines outside version strings, the release as a placeholder, sorted */
static char **config_lines(const char *cfg, const char *release)
{
	static const char *const versions[] = { "CONFIG_BUILD_SALT=", "CONFIG_LOCALVERSION=",
						"CONFIG_VERSION_SIGNATURE=", NULL };
	char **out = NULL;
	_cleanup_free_ char *text = xstrdup(cfg);
	for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		bool skip = *l == '#' && !strstr(l, " is not set");
		for (size_t i = 0; !skip && versions[i]; i++)
			skip = startswith(l, versions[i]);
		if (skip)
			continue;
		struct strbuf b = { 0 };
		for (const char *p = l; *p;) {
			if (*release && startswith(p, release)) {
				sb_puts(&b, "@RELEASE@");
				p += strlen(release);
			} else {
				sb_putc(&b, *p++);
			}
		}
		strv_push(&out, sb_steal(&b));
	}
	size_t n = strv_len(out);
	if (n)
		qsort(out, n, sizeof(char *), str_cmp);
	return out ? out : xcalloc(1, sizeof(char *));
}

/* "CONFIG_X" of a .config line ("CONFIG_X=..." or "# CONFIG_X is not set") */
static char *option_of(const char *l)
{
	const char *p = startswith(l, "# ") ? l + 2 : l;
	return xstrndup(p, strcspn(p, "= "));
}

bool reuse_configs_match(const char *cfg0, const char *rel0, const char *cfg1, const char *rel1, char **ret_why)
{
	_cleanup_strv_free_ char **a = config_lines(cfg0, rel0), **b = config_lines(cfg1, rel1);
	size_t i = 0, j = 0;
	while (a[i] || b[j]) {
		int c = !a[i] ? 1 : !b[j] ? -1 : strcmp(a[i], b[j]);
		if (c == 0) {
			i++, j++;
			continue;
		}
		_cleanup_free_ char *opt = option_of(c < 0 ? a[i] : b[j]);
		*ret_why = xasprintf("the .config differs in %s", opt);
		return false;
	}
	return true;
}

bool reuse_vermagic_flags_match(const char *vm0, const char *vm1)
{
	return vm0 && vm1 && streq(vm0 + strcspn(vm0, " "), vm1 + strcspn(vm1, " "));
}

/* ---- which kernel's build kernel k can reuse ---- */

static char *config_text(const struct rekmod_ctx *ctx, const char *k)
{
	_cleanup_free_ char *p = kernel_config_path(ctx, k);
	char *text = NULL;
	return read_file(p, &text, NULL) < 0 ? NULL : text;
}

static bool equivalent(struct rekmod_ctx *ctx, const char *k0, const char *k)
{
	_cleanup_free_ char *h0 = NULL, *h = NULL;
	if (reuse_kernel_hash(ctx, k0, &h0) < 0 || reuse_kernel_hash(ctx, k, &h) < 0)
		return false;
	return streq(h0, h);
}

/* the vermagic kernel k's own modules carry, or NULL */
static char *kernel_vermagic(const struct rekmod_ctx *ctx, const char *k)
{
	_cleanup_free_ char *dir = xasprintf("%s/%s/kernel", ctx->install_tree_path, k);
	_cleanup_free_ char *ko = is_dir(dir) ? find_any_module_file(dir) : NULL;
	return ko ? module_info_value(ko, "vermagic") : NULL;
}

/* one module file of k0's build against kernel k: its imports, its vermagic */
static bool module_compatible(const struct rekmod_ctx *ctx, const char *path, const char *symvers, const char *k,
			      char **ret_why)
{
	_cleanup_free_ char *elf = NULL;
	size_t n = 0;
	struct modversion *v = NULL;
	size_t nv = 0;
	if (!endswith(path, ".ko") || read_file(path, &elf, &n) < 0 || reuse_parse_versions(elf, n, &v, &nv) < 0) {
		*ret_why = xasprintf("the __versions of %s cannot be read (compressed, or extended modversions)", path);
		return false;
	}
	bool ok = nv > 0 || (*ret_why = xasprintf("%s has no __versions", path), false);
	ok = ok && reuse_symbols_match(v, nv, symvers, ret_why);
	reuse_versions_free(v, nv);
	_cleanup_free_ char *vm = ok ? module_info_value(path, "vermagic") : NULL;
	_cleanup_free_ char *kvm = ok ? kernel_vermagic(ctx, k) : NULL;
	if (ok && kvm && !reuse_vermagic_flags_match(vm, kvm)) {
		*ret_why = xasprintf("its vermagic \"%s\" is not the kernel's \"%s\"", vm ? vm : "", kvm);
		ok = false;
	}
	return ok;
}

static bool compatible(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k0, const char *k,
		       const char *a, char **ret_why)
{
	_cleanup_free_ char *c0 = config_text(ctx, k0), *c1 = config_text(ctx, k);
	if (!c0 || !c1) {
		*ret_why = xasprintf("no .config of %s", c0 ? k : k0);
		return false;
	}
	if (!reuse_configs_match(c0, k0, c1, k, ret_why))
		return false;
	_cleanup_free_ char *bd = kernel_build_dir(ctx, k);
	_cleanup_free_ char *sv = xasprintf("%s/Module.symvers", bd), *symvers = NULL;
	if (read_file(sv, &symvers, NULL) < 0) {
		*ret_why = xasprintf("no %s", sv);
		return false;
	}
	_cleanup_free_ char *base = build_base(ctx, m, v, k0, a);
	_cleanup_free_ char *mods = xasprintf("%s/module", base);
	_cleanup_strv_free_ char **e = list_dir(mods);
	for (size_t i = 0; e && e[i]; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", mods, e[i]);
		if (is_module_file_name(e[i]) && !module_compatible(ctx, p, symvers, k, ret_why))
			return false;
	}
	return true;
}

/* the vermagic of k0's build (its first module file) after the release is
 * that of k's own modules; true when k has none to compare with */
static bool vermagic_fits(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k0, const char *k,
			  const char *a, char **ret_why)
{
	_cleanup_free_ char *kvm = kernel_vermagic(ctx, k);
	if (!kvm)
		return true;
	_cleanup_free_ char *base = build_base(ctx, m, v, k0, a);
	_cleanup_free_ char *mods = xasprintf("%s/module", base);
	_cleanup_free_ char *ko = find_any_module_file(mods);
	_cleanup_free_ char *vm = ko ? module_info_value(ko, "vermagic") : NULL;
	if (reuse_vermagic_flags_match(vm, kvm))
		return true;
	*ret_why = xasprintf("its vermagic \"%s\" is not that of the kernel's own modules (\"%s\")", vm ? vm : "", kvm);
	return false;
}

/* the kernels m/v is built for on arch a, other than k, in reverse name order (C collation, so
 * not always the newest first: any of them serves) */
static char **built_kernels(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k,
			    const char *a)
{
	_cleanup_free_ char *d = mv_dir(ctx, m, v);
	_cleanup_strv_free_ char **e = list_dir(d);
	char **out = NULL;
	for (size_t i = e ? strv_len(e) : 0; i-- > 0;)
		if (kernel_dir_name_ok(e[i]) && name_is_valid(e[i]) && !streq(e[i], k) &&
		    tree_is_built(ctx, m, v, e[i], a))
			strv_push(&out, xstrdup(e[i]));
	return out;
}

/* why kernel k compiles whatever is built elsewhere, or NULL */
static const char *reuse_refused(const struct rekmod_ctx *ctx, const struct dkms_conf *conf, const char *k)
{
	if (!ctx->reuse_kernels)
		return "framework.conf has reuse_kernels=\"no\"";
	if (conf->no_reuse)
		return "NO_REUSE=yes in its dkms.conf or /etc/dkms/<module>.conf";
	if (conf->build_depends_rebuild)
		return "BUILD_DEPENDS_REBUILD=yes: its build records the builds of its dependencies";
	if (ctx->kernel_source_dir || ctx->kernel_config)
		return "--kernelsourcedir or --config names other headers";
	_cleanup_free_ char *cfg = config_text(ctx, k);
	if (!cfg || !text_yes(cfg, "CONFIG_MODVERSIONS"))
		return "the kernel has no CONFIG_MODVERSIONS: it would refuse another release's vermagic";
	return NULL;
}

char *reuse_source(struct rekmod_ctx *ctx, const struct dkms_conf *conf, const char *m, const char *v, const char *k,
		   const char *a, const char **ret_how)
{
	const char *no = reuse_refused(ctx, conf, k);
	if (no) {
		rk_debug(log_of(ctx), "%s/%s for %s: no reuse: %s", m, v, k, no);
		return NULL;
	}
	_cleanup_strv_free_ char **ks = built_kernels(ctx, m, v, k, a);
	for (size_t i = 0; ks && ks[i]; i++) {
		if (!kernel_has_headers(ctx, ks[i]))
			continue;
		_cleanup_free_ char *why = NULL;
		if (equivalent(ctx, ks[i], k) && vermagic_fits(ctx, m, v, ks[i], k, a, &why)) {
			*ret_how = "equivalent";
			return xstrdup(ks[i]);
		}
		if (!why && ctx->reuse_compatible && !conf->no_weak_modules && compatible(ctx, m, v, ks[i], k, a, &why)) {
			*ret_how = "compatible";
			return xstrdup(ks[i]);
		}
		rk_debug(log_of(ctx), "%s/%s for %s: the build for %s is not reused: %s", m, v, k, ks[i],
			 why ? why : "the headers are not equivalent");
	}
	return NULL;
}

/* ---- the copy of a build for another kernel ---- */

#define SIG_MAGIC "~Module signature appended~\n"

/* the length of a module image without its appended signature */
static size_t unsigned_length(const char *elf, size_t n)
{
	size_t ml = strlen(SIG_MAGIC);
	/* struct module_signature: five bytes, three of padding, a big-endian length */
	if (n < ml + 12 || memcmp(elf + n - ml, SIG_MAGIC, ml))
		return n;
	const unsigned char *ms = (const unsigned char *)elf + n - ml - 12;
	size_t sig = (size_t)ms[8] << 24 | (size_t)ms[9] << 16 | (size_t)ms[10] << 8 | ms[11];
	size_t extra = sig + ms[3] + ms[4] + 12 + ml;
	return extra <= n ? n - extra : n;
}

static bool same_signing(const struct sign_plan *p0, const struct sign_plan *p)
{
	if (p0->sign != p->sign)
		return false;
	return !p->sign || (streq(p0->key, p->key) && streq(p0->cert, p->cert) && streq(p0->hash, p->hash));
}

struct copy_plan {
	struct sign_plan sign, sign0;
	enum rk_compress comp, comp0;
	bool as_is; /* k signs and compresses as k0 does: signed files are copied as they are */
};

/* one module file of k0's build into the staging module/ directory */
static int copy_module(struct rekmod_ctx *ctx, const struct copy_plan *cp, const char *src, const char *moddir,
		       const char *file)
{
	_cleanup_free_ char *dst = xasprintf("%s/%s", moddir, file);
	_cleanup_free_ char *signer = NULL, *key = NULL;
	/* a file k wants signed is copied as it is only when it is signed (the build may predate the key) */
	if (cp->as_is && (!cp->sign.sign || (module_signature(src, &signer, &key) == 0 && signer)))
		return copy_file_atomic(src, dst, 0644);
	if (!endswith(file, ".ko"))
		return -EOPNOTSUPP; /* compressed, to be signed or compressed otherwise: compiled instead */
	_cleanup_free_ char *elf = NULL;
	size_t n = 0;
	int r = read_file(src, &elf, &n);
	if (r < 0)
		return r;
	r = write_file_atomic(dst, elf, unsigned_length(elf, n), 0644);
	if (r < 0)
		return r;
	return build_finish_module(ctx, cp->sign.sign ? &cp->sign : NULL, cp->comp, dst, NULL);
}

static int copy_modules(struct rekmod_ctx *ctx, const char *mods0, const char *staging, const char *k,
			const char *k0)
{
	_cleanup_free_ char *moddir = xasprintf("%s/module", staging);
	if (mkdir(moddir, 0755) < 0)
		return -errno;
	struct copy_plan cp = { 0 };
	int r = sign_prepare(ctx, k, &cp.sign);
	/* k0's key only matters when k signs: a file k does not verify may keep its signature */
	if (r == 0 && cp.sign.sign)
		r = sign_prepare(ctx, k0, &cp.sign0);
	cp.comp = compress_choose(ctx, k);
	cp.comp0 = compress_choose(ctx, k0);
	cp.as_is = cp.comp == cp.comp0 && (!cp.sign.sign || same_signing(&cp.sign0, &cp.sign));
	_cleanup_strv_free_ char **e = r ? NULL : list_dir(mods0);
	for (size_t i = 0; r == 0 && e && e[i]; i++) {
		_cleanup_free_ char *src = xasprintf("%s/%s", mods0, e[i]);
		if (is_module_file_name(e[i]))
			r = copy_module(ctx, &cp, src, moddir, e[i]);
	}
	sign_plan_done(&cp.sign);
	sign_plan_done(&cp.sign0);
	return r;
}

static int write_log(const char *staging, const char *m, const char *v, const char *k, const char *k0,
		     const char *how)
{
	_cleanup_free_ char *dir = xasprintf("%s/log", staging);
	_cleanup_free_ char *log = xasprintf("%s/make.log", dir);
	char date[64];
	time_t t = time(NULL);
	strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Z %Y", localtime(&t));
	_cleanup_free_ char *text = xasprintf("DKMS (rekmod-%s) make.log for %s/%s for kernel %s\n%s\n\n# no compile: "
					      "the build for %s was reused (%s kernels)\n",
					      REKMOD_VERSION, m, v, k, date, k0, how);
	if (mkdir(dir, 0755) < 0)
		return -errno;
	return write_file_atomic(log, text, strlen(text), 0644);
}

int do_reuse(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a, const char *k0,
	     const char *how)
{
	_cleanup_free_ char *base = build_base(ctx, m, v, k, a), *base0 = build_base(ctx, m, v, k0, a);
	_cleanup_free_ char *mods0 = xasprintf("%s/module", base0);
	_cleanup_free_ char *kdir = xasprintf("%s/%s/%s/%s", ctx->dkms_tree_path, m, v, k);
	_cleanup_free_ char *staging = xasprintf("%s/.tmp_%s_XXXXXX", kdir, a);
	if (is_dir(base))
		return -EEXIST;
	if (mkdir_p(kdir, 0755) < 0 || !mkdtemp(staging))
		return -errno;
	int r = copy_modules(ctx, mods0, staging, k, k0);
	if (r == 0)
		r = write_log(staging, m, v, k, k0, how);
	if (r == 0)
		r = tree_reused_write(staging, k0, how); /* the build is in place with its record, or not at all */
	if (r == 0 && (chmod(staging, 0755) < 0 || rename(staging, base) < 0))
		r = -errno;
	if (r) {
		rm_rf(staging);
		rmdir(kdir);
		return r;
	}
	fsync_dir_of(base);
	rk_info(log_of(ctx), "%s/%s for %s: the build for %s is reused (%s kernels): no compile", m, v, k, k0, how);
	return 0;
}
