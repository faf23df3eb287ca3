/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Module compression the target kernel reads: the method from the headers'
 * .config, else from the suffix in modules.dep; done in-process with zlib,
 * liblzma (CRC32 check, 1 MiB dictionary, as kbuild) and libzstd, each
 * loaded when first needed. */
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "internal.h"

#if LZMA_VERSION_MAJOR != 5
#error "liblzma is loaded as liblzma.so.5"
#endif

DL_PROTO(deflateInit2_);
DL_PROTO(deflateBound);
DL_PROTO(deflate);
DL_PROTO(deflateEnd);
DL_PROTO(lzma_lzma_preset);
DL_PROTO(lzma_stream_buffer_bound);
DL_PROTO(lzma_stream_buffer_encode);
DL_PROTO(ZSTD_createCCtx);
DL_PROTO(ZSTD_compressBound);
DL_PROTO(ZSTD_CCtx_setParameter);
DL_PROTO(ZSTD_compress2);
DL_PROTO(ZSTD_freeCCtx);
DL_PROTO(ZSTD_isError);

/* indexed by enum rk_compress */
static struct dl_lib compressors[] = {
	[RK_COMPRESS_GZIP] = { .soname = "libz.so.1", .package = "zlib1g",
			       .syms = (const struct dl_sym[]){ DL_SYM(deflateInit2_), DL_SYM(deflateBound), DL_SYM(deflate),
							DL_SYM(deflateEnd), { 0 } } },
	[RK_COMPRESS_XZ] = { .soname = "liblzma.so.5", .package = "liblzma5",
			     .syms = (const struct dl_sym[]){ DL_SYM(lzma_lzma_preset), DL_SYM(lzma_stream_buffer_bound),
						      DL_SYM(lzma_stream_buffer_encode), { 0 } } },
	[RK_COMPRESS_ZSTD] = { .soname = "libzstd.so.1", .package = "libzstd1",
			       .syms = (const struct dl_sym[]){ DL_SYM(ZSTD_createCCtx), DL_SYM(ZSTD_compressBound),
							DL_SYM(ZSTD_CCtx_setParameter), DL_SYM(ZSTD_compress2),
							DL_SYM(ZSTD_freeCCtx), DL_SYM(ZSTD_isError), { 0 } } },
};

const char *compress_suffix(enum rk_compress c)
{
	static const char *const s[] = { "", ".gz", ".xz", ".zst" };
	return (unsigned)c < ARRAY_SIZE(s) ? s[c] : "";
}

static const char *const compress_names[] = { "none", "gzip", "xz", "zstd" };

const char *compress_name(enum rk_compress c)
{
	return (unsigned)c < ARRAY_SIZE(compress_names) ? compress_names[c] : "none";
}

/* From a .config text: the method, or -1 when it names none (COMPRESS_NONE or absent). */
static int compress_from_config(const char *text)
{
	static const char *const keys[] = { "CONFIG_MODULE_COMPRESS_GZIP", "CONFIG_MODULE_COMPRESS_XZ",
					    "CONFIG_MODULE_COMPRESS_ZSTD" };
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (text_yes(text, keys[i]))
			return (int)i + 1;
	return -1;
}

/* From modules.dep: the compressed suffix its entries use (zst > xz > gz, as dkms). */
static int compress_from_modules_dep(const char *text)
{
	if (strstr(text, ".ko.zst:"))
		return RK_COMPRESS_ZSTD;
	if (strstr(text, ".ko.xz:"))
		return RK_COMPRESS_XZ;
	if (strstr(text, ".ko.gz:"))
		return RK_COMPRESS_GZIP;
	return -1;
}

enum rk_compress compress_choose_from(const char *config_path, const char *modules_dep_path, const char **why)
{
	_cleanup_free_ char *cfg = NULL, *dep = NULL;
	int c = -1;
	if (config_path && read_file(config_path, &cfg, NULL) == 0 && (c = compress_from_config(cfg)) >= 0) {
		*why = "kernel config";
		return (enum rk_compress)c;
	}
	if (modules_dep_path && read_file(modules_dep_path, &dep, NULL) == 0 &&
	    (c = compress_from_modules_dep(dep)) >= 0) {
		*why = "modules.dep";
		return (enum rk_compress)c;
	}
	*why = "default";
	return RK_COMPRESS_NONE;
}

enum rk_compress compress_choose(struct rekmod_ctx *ctx, const char *kernel)
{
	_cleanup_free_ char *cfg = kernel_config_path(ctx, kernel);
	_cleanup_free_ char *dep = xasprintf("%s/%s/modules.dep", ctx->install_tree_path, kernel);
	const char *why = NULL;
	enum rk_compress c = compress_choose_from(cfg, dep, &why);
	rk_debug(log_of(ctx), "Module compression for kernel %s: %s (from %s)", kernel, compress_names[c], why);
	return c;
}

static int gzip_buf(const void *in, size_t n, void **out, size_t *out_n)
{
	z_stream z = { 0 };
	if (sym_deflateInit2_(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, (int)sizeof(z)) != Z_OK)
		return -ENOMEM;
	size_t cap = sym_deflateBound(&z, (uLong)n) + 64;
	unsigned char *buf = xmalloc(cap);
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	int zr = sym_deflate(&z, Z_FINISH);
	size_t len = z.total_out;
	sym_deflateEnd(&z);
	if (zr != Z_STREAM_END) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*out_n = len;
	return 0;
}

static int xz_buf(const void *in, size_t n, void **out, size_t *out_n)
{
	lzma_options_lzma opt;
	if (sym_lzma_lzma_preset(&opt, 6))
		return -EINVAL;
	opt.dict_size = 1u << 20; /* --lzma2=dict=1MiB: what the kernel's decompressor accepts */
	lzma_filter filters[] = { { .id = LZMA_FILTER_LZMA2, .options = &opt },
				  { .id = LZMA_VLI_UNKNOWN, .options = NULL } };
	size_t cap = sym_lzma_stream_buffer_bound(n), pos = 0;
	unsigned char *buf = xmalloc(cap);
	if (sym_lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC32, NULL, in, n, buf, &pos, cap) != LZMA_OK) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*out_n = pos;
	return 0;
}

/* zstd as kbuild runs it (`zstd -T0`): default level, content size and checksum. */
static int zstd_buf(const void *in, size_t n, void **out, size_t *out_n)
{
	ZSTD_CCtx *cc = sym_ZSTD_createCCtx();
	if (!cc)
		return -ENOMEM;
	size_t cap = sym_ZSTD_compressBound(n);
	void *buf = xmalloc(cap);
	sym_ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, ZSTD_CLEVEL_DEFAULT);
	sym_ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	size_t len = sym_ZSTD_compress2(cc, buf, cap, in, n);
	sym_ZSTD_freeCCtx(cc);
	if (sym_ZSTD_isError(len)) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*out_n = len;
	return 0;
}

int compress_buffer(enum rk_compress c, const void *in, size_t n, void **out, size_t *out_n)
{
	if (c > RK_COMPRESS_NONE && (size_t)c < ARRAY_SIZE(compressors)) {
		int r = dl_load(&compressors[c], NULL);
		if (r < 0)
			return r;
	}
	switch (c) {
	case RK_COMPRESS_GZIP:
		return gzip_buf(in, n, out, out_n);
	case RK_COMPRESS_XZ:
		return xz_buf(in, n, out, out_n);
	case RK_COMPRESS_ZSTD:
		return zstd_buf(in, n, out, out_n);
	default:
		return -EINVAL;
	}
}

int compress_file(enum rk_compress c, const char *src, const char *dst, mode_t mode)
{
	_cleanup_free_ char *in = NULL;
	size_t n = 0, out_n = 0;
	int r = read_file(src, &in, &n);
	if (r < 0)
		return r;
	_cleanup_free_ void *out = NULL;
	r = compress_buffer(c, in, n, &out, &out_n);
	if (r < 0)
		return r;
	return write_file_atomic(dst, out, out_n, mode);
}
