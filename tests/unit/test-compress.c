/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Module compression: each method round-trips through its library, the xz
 * stream uses CRC32 and a 1 MiB dictionary, the suffix comes from the
 * .config, else from modules.dep. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <lzma.h>
#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

#include "internal.h"

/* a small real file: this test's own source, repeated to ~64 KiB */
static char *sample(size_t *n)
{
	const char *srcdir = getenv("REKMOD_TEST_SRCDIR");
	_cleanup_free_ char *p = xasprintf("%s/tests/unit/test-compress.c", srcdir ? srcdir : ".");
	_cleanup_free_ char *text = NULL;
	size_t len = 0;
	assert_int_equal(read_file(p, &text, &len), 0);
	struct strbuf b = { 0 };
	while (b.len < 65536)
		sb_putn(&b, text, len);
	*n = b.len;
	return sb_steal(&b);
}

static char *tmpdir(void)
{
	char *d = xstrdup("/tmp/rekmod-test-compress.XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static void check_gzip(const unsigned char *c, size_t cn, const char *orig, size_t n)
{
	assert_true(cn > 10 && c[0] == 0x1f && c[1] == 0x8b);
	unsigned char *out = xmalloc(n + 1);
	z_stream z = { 0 };
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (Bytef *)(uintptr_t)c;
	z.avail_in = (uInt)cn;
	z.next_out = out;
	z.avail_out = (uInt)n + 1;
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(z.total_out, n);
	inflateEnd(&z);
	assert_memory_equal(out, orig, n);
	free(out);
}

static void check_xz(const unsigned char *c, size_t cn, const char *orig, size_t n)
{
	/* stream header: magic, then flags 0x00 <check id>; 0x01 is CRC32 */
	assert_true(cn > 24);
	assert_memory_equal(c, "\xfd" "7zXZ\0", 6);
	assert_int_equal(c[6], 0x00);
	assert_int_equal(c[7], 0x01);
	lzma_stream_flags fl;
	assert_int_equal(lzma_stream_header_decode(&fl, c), LZMA_OK);
	assert_int_equal(fl.check, LZMA_CHECK_CRC32);
	/* first block header: the LZMA2 filter's dictionary size */
	lzma_filter filters[LZMA_FILTERS_MAX + 1];
	lzma_block block = { .version = 0, .check = fl.check, .filters = filters };
	block.header_size = lzma_block_header_size_decode(c[12]);
	assert_int_equal(lzma_block_header_decode(&block, NULL, c + 12), LZMA_OK);
	assert_int_equal(filters[0].id, LZMA_FILTER_LZMA2);
	assert_int_equal(((lzma_options_lzma *)filters[0].options)->dict_size, 1u << 20);
	free(filters[0].options);
	unsigned char *out = xmalloc(n);
	uint64_t memlimit = UINT64_MAX;
	size_t in_pos = 0, out_pos = 0;
	assert_int_equal(lzma_stream_buffer_decode(&memlimit, 0, NULL, c, &in_pos, cn, out, &out_pos, n), LZMA_OK);
	assert_int_equal(out_pos, n);
	assert_memory_equal(out, orig, n);
	free(out);
}

static void check_zstd(const unsigned char *c, size_t cn, const char *orig, size_t n)
{
	assert_int_equal(ZSTD_getFrameContentSize(c, cn), n);
	unsigned char *out = xmalloc(n);
	assert_int_equal(ZSTD_decompress(out, n, c, cn), n);
	assert_memory_equal(out, orig, n);
	free(out);
}

static void roundtrip(enum rk_compress m, void (*check)(const unsigned char *, size_t, const char *, size_t))
{
	size_t n = 0, cn = 0;
	_cleanup_free_ char *in = sample(&n);
	_cleanup_free_ char *dir = tmpdir();
	_cleanup_free_ char *src = xasprintf("%s/m.ko", dir);
	_cleanup_free_ char *dst = xasprintf("%s/m.ko%s", dir, compress_suffix(m));
	assert_int_equal(write_file_atomic(src, in, n, 0644), 0);
	assert_int_equal(compress_file(m, src, dst, 0644), 0);
	_cleanup_free_ char *c = NULL;
	assert_int_equal(read_file(dst, &c, &cn), 0);
	assert_true(cn < n / 2);
	check((const unsigned char *)c, cn, in, n);
	rm_rf(dir);
}

static void test_gzip(void **state)
{
	(void)state;
	roundtrip(RK_COMPRESS_GZIP, check_gzip);
}

static void test_xz(void **state)
{
	(void)state;
	roundtrip(RK_COMPRESS_XZ, check_xz);
}

static void test_zstd(void **state)
{
	(void)state;
	roundtrip(RK_COMPRESS_ZSTD, check_zstd);
}

static void test_none_rejected(void **state)
{
	(void)state;
	void *out = NULL;
	size_t n = 0;
	assert_int_equal(compress_buffer(RK_COMPRESS_NONE, "x", 1, &out, &n), -EINVAL);
	assert_string_equal(compress_suffix(RK_COMPRESS_NONE), "");
	assert_string_equal(compress_suffix(RK_COMPRESS_ZSTD), ".zst");
}

static enum rk_compress choose(const char *dir, const char *config, const char *dep)
{
	_cleanup_free_ char *cp = xasprintf("%s/config", dir);
	_cleanup_free_ char *dp = xasprintf("%s/modules.dep", dir);
	unlink(cp);
	unlink(dp);
	if (config)
		assert_int_equal(write_file_atomic(cp, config, strlen(config), 0644), 0);
	if (dep)
		assert_int_equal(write_file_atomic(dp, dep, strlen(dep), 0644), 0);
	const char *why = NULL;
	enum rk_compress c = compress_choose_from(cp, dp, &why);
	assert_non_null(why);
	return c;
}

static void test_choose(void **state)
{
	(void)state;
	_cleanup_free_ char *d = tmpdir();
	const char *none = "CONFIG_MODULE_SIG=y\nCONFIG_MODULE_COMPRESS_NONE=y\n# CONFIG_MODULE_COMPRESS_XZ is not set\n";
	assert_int_equal(choose(d, "CONFIG_X=y\nCONFIG_MODULE_COMPRESS_XZ=y\n", NULL), RK_COMPRESS_XZ);
	assert_int_equal(choose(d, "CONFIG_MODULE_COMPRESS_GZIP=y\n", NULL), RK_COMPRESS_GZIP);
	assert_int_equal(choose(d, "A=1\nCONFIG_MODULE_COMPRESS_ZSTD=y\n", "kernel/x.ko.xz:\n"), RK_COMPRESS_ZSTD);
	assert_int_equal(choose(d, none, NULL), RK_COMPRESS_NONE);
	assert_int_equal(choose(d, none, "kernel/a.ko:\nkernel/x.ko.zst: kernel/y.ko.zst\n"), RK_COMPRESS_ZSTD);
	assert_int_equal(choose(d, none, "kernel/x.ko.xz:\n"), RK_COMPRESS_XZ);
	assert_int_equal(choose(d, NULL, "kernel/x.ko.gz:\n"), RK_COMPRESS_GZIP);
	assert_int_equal(choose(d, none, "kernel/x.ko:\n"), RK_COMPRESS_NONE);
	assert_int_equal(choose(d, NULL, NULL), RK_COMPRESS_NONE);
	rm_rf(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gzip),   cmocka_unit_test(test_xz),     cmocka_unit_test(test_zstd),
		cmocka_unit_test(test_none_rejected), cmocka_unit_test(test_choose),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
