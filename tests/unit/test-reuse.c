/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reuse of builds across kernels, on synthetic header trees: the release,
 * the build salt and the build date do not change the headers' hash; a
 * changed CRC, .config option, compiler, header or kbuild script does. The
 * symbol check: __versions read from an ELF image, each CRC against
 * Module.symvers; .config and vermagic compared outside version strings.
 * The per-kernel cache is used while the headers are unchanged. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <elf.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reuse.h"

#define CC "CONFIG_CC_VERSION_TEXT=\"gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0\"\n"
#define SYMVERS "0x12345678\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n0x0badcafe\tkmalloc\tvmlinux\tEXPORT_SYMBOL\t\n"

struct tree_spec {
	const char *release;
	const char *config_extra; /* more .config lines */
	const char *cc;
	const char *symvers;
	const char *header; /* common/include/linux/foo.h */
	const char *script; /* kbuild/scripts/modpost */
};

static void put(const char *dir, const char *rel, const char *text)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", dir, rel);
	_cleanup_free_ char *d = xstrndup(p, (size_t)(strrchr(p, '/') - p));
	assert_int_equal(mkdir_p(d, 0755), 0);
	assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
}

/* <top>/linux-headers-<release> (the build dir), its -common tree and a kbuild
 * tree, laid out as Debian's packages do; returns the build dir */
static char *make_tree(const char *top, const struct tree_spec *s)
{
	_cleanup_free_ char *b = xasprintf("%s/linux-headers-%s", top, s->release);
	_cleanup_free_ char *c = xasprintf("%s/linux-headers-%s-common", top, s->release);
	_cleanup_free_ char *kb = xasprintf("%s/kbuild-%s", top, s->release);
	_cleanup_free_ char *mk = xasprintf("include %s/Makefile\n", c);
	_cleanup_free_ char *cfg = xasprintf("CONFIG_X86_64=y\nCONFIG_MODVERSIONS=y\n%sCONFIG_BUILD_SALT=\"%s\"\n"
					     "# CONFIG_FOO is not set\n%s", s->cc ? s->cc : CC, s->release,
					     s->config_extra ? s->config_extra : "");
	_cleanup_free_ char *uts = xasprintf("#define UTS_RELEASE \"%s\"\n", s->release);
	_cleanup_free_ char *ver = xasprintf("#define UTS_VERSION \"#1 SMP %s\"\n", s->release);
	_cleanup_free_ char *kv = xasprintf("override KERNELRELEASE = %s\n", s->release);
	put(b, "Makefile", mk);
	put(b, ".config", cfg);
	put(b, ".kernelvariables", kv);
	put(b, "include/config/auto.conf", cfg);
	put(b, "include/generated/utsrelease.h", uts);
	put(b, "include/generated/utsversion.h", ver);
	put(b, "Module.symvers", s->symvers ? s->symvers : SYMVERS);
	put(b, "arch/x86/include/generated/asm/foo.h", "#define FOO 1\n");
	put(c, "Makefile", "VERSION = 6\nPATCHLEVEL = 1\n");
	put(c, "include/linux/foo.h", s->header ? s->header : "struct foo { int a; };\n");
	put(kb, "scripts/modpost", s->script ? s->script : "modpost 1\n");
	_cleanup_free_ char *link = xasprintf("%s/scripts", b);
	_cleanup_free_ char *target = xasprintf("%s/scripts", kb);
	assert_int_equal(symlink(target, link), 0);
	return TAKE_PTR(b);
}

static char *tmpdir(void)
{
	char *d = xstrdup("/tmp/rekmod-test-reuse.XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static char *hash_of(const char *top, const struct tree_spec *s)
{
	_cleanup_free_ char *b = make_tree(top, s);
	char *h = NULL;
	assert_int_equal(reuse_hash_tree("", b, s->release, &h), 0);
	assert_true(startswith(h, "sha256:"));
	return h;
}

/* does a tree like the base one but for spec s hash as the base does? */
static bool same_as_base(const struct tree_spec *s)
{
	_cleanup_free_ char *top = tmpdir();
	struct tree_spec base = { .release = "6.1.0-56-amd64" };
	_cleanup_free_ char *h0 = hash_of(top, &base);
	_cleanup_free_ char *h1 = hash_of(top, s);
	rm_rf(top);
	return streq(h0, h1);
}

static void test_release_and_salt_set_aside(void **state)
{
	(void)state;
	/* another release: other salt, date, common tree path, kbuild path, same content */
	assert_true(same_as_base(&(struct tree_spec){ .release = "6.1.0-57-amd64" }));
}

static void test_crc_changes_hash(void **state)
{
	(void)state;
	assert_false(same_as_base(&(struct tree_spec){
		.release = "6.1.0-57-amd64",
		.symvers = "0x12345679\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n0x0badcafe\tkmalloc\tvmlinux\tEXPORT_SYMBOL\t\n" }));
}

static void test_config_changes_hash(void **state)
{
	(void)state;
	assert_false(same_as_base(&(struct tree_spec){ .release = "6.1.0-57-amd64", .config_extra = "CONFIG_FOO_2=y\n" }));
}

static void test_compiler_changes_hash(void **state)
{
	(void)state;
	assert_false(same_as_base(&(struct tree_spec){
		.release = "6.1.0-57-amd64", .cc = "CONFIG_CC_VERSION_TEXT=\"gcc-12 (Debian 12.2.0-14+deb12u2) 12.2.0\"\n" }));
}

static void test_header_and_script_change_hash(void **state)
{
	(void)state;
	assert_false(same_as_base(&(struct tree_spec){ .release = "6.1.0-57-amd64", .header = "struct foo { long a; };\n" }));
	assert_false(same_as_base(&(struct tree_spec){ .release = "6.1.0-57-amd64", .script = "modpost 2\n" }));
}

/* an ELF64 image with a __versions section of the given entries */
static char *fake_module(const char *const *names, const uint64_t *crcs, size_t n, size_t *ret_n)
{
	static const char shstr[] = "\0__versions\0.shstrtab";
	size_t data = sizeof(Elf64_Ehdr), vsize = 64 * n, stroff = data + vsize;
	size_t shoff = (stroff + sizeof(shstr) + 7) & ~(size_t)7, total = shoff + 3 * sizeof(Elf64_Shdr);
	unsigned char *img = xcalloc(1, total);
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_shoff = shoff;
	eh->e_shentsize = sizeof(Elf64_Shdr);
	eh->e_shnum = 3;
	eh->e_shstrndx = 2;
	for (size_t i = 0; i < n; i++) {
		memcpy(img + data + 64 * i, &crcs[i], 8);
		strncpy((char *)img + data + 64 * i + 8, names[i], 55);
	}
	memcpy(img + stroff, shstr, sizeof(shstr));
	Elf64_Shdr *sh = (Elf64_Shdr *)(img + shoff);
	sh[1] = (Elf64_Shdr){ .sh_name = 1, .sh_type = SHT_PROGBITS, .sh_offset = data, .sh_size = vsize };
	sh[2] = (Elf64_Shdr){ .sh_name = 12, .sh_type = SHT_STRTAB, .sh_offset = stroff, .sh_size = sizeof(shstr) };
	*ret_n = total;
	return (char *)img;
}

static bool symbols_ok(uint64_t printk_crc, const char *extra_sym, char **why)
{
	const char *names[] = { "printk", "kmalloc", extra_sym };
	uint64_t crcs[] = { printk_crc, 0x0badcafe, 0x1 };
	size_t n = 0, nv = 0;
	_cleanup_free_ char *img = fake_module(names, crcs, extra_sym ? 3 : 2, &n);
	struct modversion *v = NULL;
	assert_int_equal(reuse_parse_versions(img, n, &v, &nv), 0);
	assert_int_equal(nv, extra_sym ? 3 : 2);
	assert_string_equal(v[0].name, "printk");
	bool ok = reuse_symbols_match(v, nv, SYMVERS, why);
	reuse_versions_free(v, nv);
	return ok;
}

static void test_symbols(void **state)
{
	(void)state;
	char *why = NULL;
	assert_true(symbols_ok(0x12345678, NULL, &why));
	assert_null(why);
	assert_false(symbols_ok(0x12345679, NULL, &why));
	assert_non_null(strstr(why, "CRC of printk differs"));
	free(why);
	why = NULL;
	assert_false(symbols_ok(0x12345678, "other_module_sym", &why));
	assert_non_null(strstr(why, "other_module_sym is not in Module.symvers"));
	free(why);
	size_t nv = 1;
	struct modversion *v = NULL;
	assert_int_equal(reuse_parse_versions("not an elf", 10, &v, &nv), -EINVAL);
	why = NULL;
	/* a module field named like the symbol (an external module's Module.symvers) is not its line */
	const char *sv = "0x11111111\tsym_a\tfoo\tEXPORT_SYMBOL\t\n0x22222222\tfoo\tvmlinux\tEXPORT_SYMBOL\t\n";
	struct modversion foo = { .crc = 0x22222222, .name = (char *)"foo" };
	assert_true(reuse_symbols_match(&foo, 1, sv, &why));
	assert_null(why);
	foo.crc = 0x11111111;
	assert_false(reuse_symbols_match(&foo, 1, sv, &why));
	assert_non_null(strstr(why, "CRC of foo differs (0x22222222"));
	free(why);
	why = NULL;
	struct modversion ns = { .crc = 0x33333333, .name = (char *)"NS" };
	assert_false(reuse_symbols_match(&ns, 1, "0x33333333\tbar\tNS\tEXPORT_SYMBOL_GPL\tNS\n", &why));
	assert_non_null(strstr(why, "NS is not in Module.symvers"));
	free(why);
}

static void test_configs(void **state)
{
	(void)state;
	char *why = NULL;
	const char *c0 = "CONFIG_A=y\nCONFIG_BUILD_SALT=\"6.1.0-56-amd64\"\nCONFIG_LOCALVERSION=\"\"\n" CC
			 "CONFIG_X=\"/lib/modules/6.1.0-56-amd64/x\"\n# CONFIG_B is not set\n";
	const char *c1 = "CONFIG_A=y\nCONFIG_BUILD_SALT=\"6.1.0-57-amd64\"\nCONFIG_LOCALVERSION=\"-x\"\n" CC
			 "CONFIG_X=\"/lib/modules/6.1.0-57-amd64/x\"\n# CONFIG_B is not set\n";
	assert_true(reuse_configs_match(c0, "6.1.0-56-amd64", c1, "6.1.0-57-amd64", &why));
	const char *c2 = "CONFIG_A=y\nCONFIG_B=y\n" CC "CONFIG_X=\"/lib/modules/6.1.0-57-amd64/x\"\n";
	assert_false(reuse_configs_match(c0, "6.1.0-56-amd64", c2, "6.1.0-57-amd64", &why));
	assert_string_equal(why, "the .config differs in CONFIG_B");
	free(why);
	const char *c3 = "CONFIG_A=y\nCONFIG_CC_VERSION_TEXT=\"gcc-13\"\nCONFIG_X=\"/lib/modules/6.1.0-57-amd64/x\"\n"
			 "# CONFIG_B is not set\n";
	assert_false(reuse_configs_match(c0, "6.1.0-56-amd64", c3, "6.1.0-57-amd64", &why));
	assert_string_equal(why, "the .config differs in CONFIG_CC_VERSION_TEXT");
	free(why);
}

static void test_vermagic(void **state)
{
	(void)state;
	assert_true(reuse_vermagic_flags_match("6.1.0-56-amd64 SMP preempt mod_unload modversions ",
					       "6.1.0-57-amd64 SMP preempt mod_unload modversions "));
	assert_false(reuse_vermagic_flags_match("6.1.0-56-amd64 SMP preempt mod_unload modversions ",
						"6.1.0-57-amd64 SMP mod_unload modversions "));
	assert_false(reuse_vermagic_flags_match(NULL, "6.1.0-57-amd64 SMP"));
}

static void quiet(void *userdata, int priority, const char *msg)
{
	(void)userdata, (void)priority, (void)msg;
}

/* the cache: kept while .config is unchanged, recomputed when it changes */
static void test_cache(void **state)
{
	(void)state;
	_cleanup_free_ char *top = tmpdir();
	_cleanup_free_ char *b = make_tree(top, &(struct tree_spec){ .release = "6.1.0-56-amd64" });
	_cleanup_free_ char *mods = xasprintf("%s/lib/modules/6.1.0-56-amd64", top);
	_cleanup_free_ char *link = xasprintf("%s/build", mods);
	assert_int_equal(mkdir_p(mods, 0755), 0);
	assert_int_equal(symlink(b, link), 0);
	struct rekmod_ctx *ctx = NULL;
	struct rekmod_options o = { .root = top, .log_fn = quiet };
	assert_int_equal(rekmod_new(&o, &ctx), 0);
	_cleanup_free_ char *h0 = NULL, *h1 = NULL, *h2 = NULL;
	assert_int_equal(reuse_kernel_hash(ctx, "6.1.0-56-amd64", &h0), 0);
	_cleanup_free_ char *rec = xasprintf("%s/var/lib/dkms/.rekmod-kernels/6.1.0-56-amd64", top), *text = NULL;
	assert_int_equal(read_file(rec, &text, NULL), 0);
	assert_non_null(strstr(text, h0));
	/* a planted hash under the current key is what the cache answers */
	_cleanup_free_ char *key = text_value(text, "key");
	assert_int_equal(tree_kernel_hash_write(ctx, "6.1.0-56-amd64", key, "sha256:planted"), 0);
	assert_int_equal(reuse_kernel_hash(ctx, "6.1.0-56-amd64", &h1), 0);
	assert_string_equal(h1, "sha256:planted");
	/* a changed .config changes the key: hashed again */
	put(b, ".config", "CONFIG_MODVERSIONS=y\n");
	assert_int_equal(reuse_kernel_hash(ctx, "6.1.0-56-amd64", &h2), 0);
	assert_string_not_equal(h2, "sha256:planted");
	assert_string_not_equal(h2, h0);
	rekmod_unref(ctx);
	rm_rf(top);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_release_and_salt_set_aside),
		cmocka_unit_test(test_crc_changes_hash),
		cmocka_unit_test(test_config_changes_hash),
		cmocka_unit_test(test_compiler_changes_hash),
		cmocka_unit_test(test_header_and_script_change_hash),
		cmocka_unit_test(test_symbols),
		cmocka_unit_test(test_configs),
		cmocka_unit_test(test_vermagic),
		cmocka_unit_test(test_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
