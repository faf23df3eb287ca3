/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pure logic of the engine: names, versions, atomic files, status lines and
 * the status scan over a fixture tree (no kernel, no make). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"
#include "plan.h"

static void test_name_is_valid(void **state)
{
	(void)state;
	assert_true(name_is_valid("hello"));
	assert_true(name_is_valid("6.1.0-56-amd64"));
	assert_true(name_is_valid("0.12.7"));
	assert_false(name_is_valid(NULL));
	assert_false(name_is_valid(""));
	assert_false(name_is_valid("."));
	assert_false(name_is_valid(".."));
	assert_false(name_is_valid("a/b"));
	assert_false(name_is_valid("../x"));
	assert_false(name_is_valid("x\n"));
	/* real names pass */
	assert_true(name_is_valid("6.12.117+deb12-amd64"));
	assert_true(name_is_valid("1:2.0~rc1"));
	assert_true(name_is_valid("nvidia-tesla-535"));
	assert_true(name_is_valid("5.14.0-427.el9.x86_64"));
	assert_true(name_is_valid("6.9.7-arch1-1"));
	assert_true(name_is_valid("v4l2loopback_dkms"));
	/* shell metacharacters, spaces, a leading '-' or '.' do not (issue 15) */
	assert_false(name_is_valid("6.1.0-57-amd64;echo${IFS}INJECTED-$(id${IFS}-u);"));
	assert_false(name_is_valid("x;id"));
	assert_false(name_is_valid("a b"));
	assert_false(name_is_valid("a$b"));
	assert_false(name_is_valid("a`b`"));
	assert_false(name_is_valid("a'b"));
	assert_false(name_is_valid("a\"b"));
	assert_false(name_is_valid("a|b"));
	assert_false(name_is_valid("a&b"));
	assert_false(name_is_valid("a>b"));
	assert_false(name_is_valid("a*b"));
	assert_false(name_is_valid("a\\b"));
	assert_false(name_is_valid("-k"));
	assert_false(name_is_valid(".hidden"));
	assert_false(name_is_valid("caf\xc3\xa9"));
	char long_name[202];
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[201] = '\0';
	assert_false(name_is_valid(long_name));
	long_name[200] = '\0';
	assert_true(name_is_valid(long_name));
}

static void test_version_compare(void **state)
{
	(void)state;
	assert_true(version_compare("1.10", "1.9") > 0);
	assert_true(version_compare("0.12.7", "0.12.7") == 0);
	assert_true(version_compare("6.1.0-56", "6.12.1") < 0);
	assert_true(version_compare("2.0", "10.0") < 0);
	assert_true(version_compare("1.0a", "1.0") > 0);
	assert_true(version_compare("001", "1") == 0);
}

static void test_text_value(void **state)
{
	(void)state;
	const char *cfg = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x86_64-linux-gnu-gcc-12 (Debian)\"\nCONFIG_D=m";
	_cleanup_free_ char *a = text_value(cfg, "CONFIG_A"), *c = text_value(cfg, "CONFIG_C");
	_cleanup_free_ char *d = text_value(cfg, "CONFIG_D"), *b = text_value(cfg, "CONFIG_B");
	assert_string_equal(a, "y"); /* on the first line */
	assert_string_equal(c, "x86_64-linux-gnu-gcc-12 (Debian)");
	assert_string_equal(d, "m"); /* on the last line, no newline */
	assert_null(b);
	assert_true(text_yes(cfg, "CONFIG_A"));
	assert_false(text_yes(cfg, "CONFIG_D"));
	assert_false(text_yes(cfg, "CONFIG_"));
}

static void test_kernel_dir_name(void **state)
{
	(void)state;
	assert_true(kernel_dir_name_ok("6.1.0-56-amd64"));
	assert_true(kernel_dir_name_ok("10.0"));
	assert_false(kernel_dir_name_ok("build"));
	assert_false(kernel_dir_name_ok("source"));
	assert_false(kernel_dir_name_ok("6-1"));
	assert_false(kernel_dir_name_ok(".tmp_x86_64_abc"));
}

static void test_status_format(void **state)
{
	(void)state;
	struct rekmod_status s = { .module = "hello", .version = "0.1", .state = REKMOD_ADDED };
	char *l = rekmod_status_format(&s);
	assert_string_equal(l, "hello/0.1: added");
	free(l);
	s.kernel = "6.1.0-56-amd64";
	s.arch = "x86_64";
	s.state = REKMOD_BUILT;
	l = rekmod_status_format(&s);
	assert_string_equal(l, "hello/0.1, 6.1.0-56-amd64, x86_64: built");
	free(l);
	s.state = REKMOD_INSTALLED;
	s.notes = REKMOD_NOTE_ORIGINAL;
	l = rekmod_status_format(&s);
	assert_string_equal(l, "hello/0.1, 6.1.0-56-amd64, x86_64: installed (Original modules exist)");
	free(l);
	s.notes = REKMOD_NOTE_DIFFERS;
	l = rekmod_status_format(&s);
	assert_string_equal(l,
			    "hello/0.1, 6.1.0-56-amd64, x86_64: installed (Differences between built and installed modules)");
	free(l);
	s.kernel = s.arch = NULL;
	s.state = REKMOD_BROKEN;
	l = rekmod_status_format(&s);
	assert_string_equal(l, "hello/0.1: broken");
	free(l);
}

static char *tmpdir_new(void)
{
	char *d = xstrdup("/tmp/rekmod-unit.XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static void test_atomic_write(void **state)
{
	(void)state;
	_cleanup_free_ char *d = tmpdir_new();
	_cleanup_free_ char *f = xasprintf("%s/a/b/file", d);
	_cleanup_free_ char *dir = xasprintf("%s/a/b", d);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(write_file_atomic(f, "one", 3, 0600), 0);
	assert_int_equal(write_file_atomic(f, "second", 6, 0644), 0);
	_cleanup_free_ char *text = NULL;
	size_t n;
	assert_int_equal(read_file(f, &text, &n), 0);
	assert_int_equal(n, 6);
	assert_string_equal(text, "second");
	struct stat st;
	assert_int_equal(stat(f, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	_cleanup_strv_free_ char **left = list_dir(dir);
	assert_int_equal(strv_len(left), 1); /* no temp file left behind */
	_cleanup_free_ char *l = xasprintf("%s/link", d);
	assert_int_equal(symlink_atomic("x/y", l), 0);
	assert_int_equal(symlink_atomic("z", l), 0);
	char buf[16] = "";
	assert_int_equal(readlink(l, buf, sizeof(buf) - 1), 1);
	assert_string_equal(buf, "z");
	assert_int_equal(rm_rf(d), 0);
	assert_false(path_exists(d));
}

static void test_copy_tree(void **state)
{
	(void)state;
	_cleanup_free_ char *d = tmpdir_new();
	_cleanup_free_ char *src = xasprintf("%s/src/sub", d);
	assert_int_equal(mkdir_p(src, 0755), 0);
	_cleanup_free_ char *f = xasprintf("%s/src/sub/f.c", d);
	assert_int_equal(write_file_atomic(f, "int x;\n", 7, 0755), 0);
	_cleanup_free_ char *ln = xasprintf("%s/src/l", d);
	assert_int_equal(symlink("sub/f.c", ln), 0);
	_cleanup_free_ char *from = xasprintf("%s/src", d), *to = xasprintf("%s/dst", d);
	assert_int_equal(copy_tree(from, to), 0);
	_cleanup_free_ char *cf = xasprintf("%s/dst/sub/f.c", d), *cl = xasprintf("%s/dst/l", d);
	_cleanup_free_ char *text = NULL;
	assert_int_equal(read_file(cf, &text, NULL), 0);
	assert_string_equal(text, "int x;\n");
	assert_true(is_symlink(cl));
	struct stat st;
	assert_int_equal(stat(cf, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755);
	assert_int_equal(rm_rf(d), 0);
}

/* ---- status over a fixture tree ---- */

static void touch(const char *root, const char *rel, const char *content)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", root, rel);
	_cleanup_free_ char *dir = xstrdup(p);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(write_file_atomic(p, content, strlen(content), 0644), 0);
}

static void link_at(const char *root, const char *rel, const char *target)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", root, rel);
	_cleanup_free_ char *dir = xstrdup(p);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(mkdir_p(dir, 0755), 0);
	assert_int_equal(symlink(target, p), 0);
}

static char *status_text(struct rekmod_ctx *ctx, const char *m, const char *k)
{
	struct rekmod_status *s = NULL;
	size_t n = 0;
	assert_int_equal(rekmod_status_list(ctx, m, NULL, k, NULL, &s, &n), 0);
	struct strbuf b = { 0 };
	for (size_t i = 0; i < n; i++) {
		char *l = rekmod_status_format(&s[i]);
		sb_printf(&b, "%s\n", l);
		free(l);
	}
	rekmod_status_free(s, n);
	return sb_steal(&b);
}

static void quiet(void *u, int p, const char *m)
{
	(void)u, (void)p, (void)m;
}

static void test_status_tree(void **state)
{
	(void)state;
	_cleanup_free_ char *r = tmpdir_new();
	const char *K1 = "6.1.0-55-amd64", *K2 = "6.1.0-56-amd64";
	touch(r, "usr/src/aaa-1.0/dkms.conf", "PACKAGE_NAME=aaa\n");
	touch(r, "usr/src/bbb-2.0/dkms.conf", "PACKAGE_NAME=bbb\n");
	touch(r, "usr/src/ccc-1.0/dkms.conf", "PACKAGE_NAME=ccc\n");
	link_at(r, "var/lib/dkms/aaa/1.0/source", "/usr/src/aaa-1.0");
	link_at(r, "var/lib/dkms/bbb/2.0/source", "/usr/src/bbb-2.0");
	link_at(r, "var/lib/dkms/ccc/1.0/source", "/usr/src/gone-1.0"); /* dangling: broken */
	/* bbb built for K1 and K2, installed on K2 with an original archived */
	touch(r, "var/lib/dkms/bbb/2.0/6.1.0-55-amd64/x86_64/module/bbb.ko", "ko1");
	touch(r, "var/lib/dkms/bbb/2.0/6.1.0-56-amd64/x86_64/module/bbb.ko", "ko2");
	touch(r, "var/lib/dkms/bbb/2.0/6.1.0-56-amd64/x86_64/.rekmod-installed",
	      "bbb.ko\t/lib/modules/6.1.0-56-amd64/updates/dkms/bbb.ko\n");
	touch(r, "lib/modules/6.1.0-56-amd64/updates/dkms/bbb.ko", "ko2");
	link_at(r, "var/lib/dkms/bbb/kernel-6.1.0-56-amd64-x86_64", "2.0/6.1.0-56-amd64/x86_64");
	touch(r, "var/lib/dkms/bbb/original_module/6.1.0-56-amd64/x86_64/bbb.ko", "orig");
	/* a staging dir and a non-kernel dir are ignored */
	touch(r, "var/lib/dkms/bbb/2.0/6.1.0-56-amd64/.tmp_x86_64_abc/module/bbb.ko", "x");
	touch(r, "var/lib/dkms/bbb/2.0/tarball/x.tar.gz", "x");

	struct rekmod_ctx *ctx = NULL;
	struct rekmod_options o = { .root = r, .log_fn = quiet };
	assert_int_equal(rekmod_new(&o, &ctx), 0);
	_cleanup_free_ char *all = status_text(ctx, NULL, NULL);
	assert_string_equal(all, "aaa/1.0: added\n"
				 "bbb/2.0, 6.1.0-55-amd64, x86_64: built\n"
				 "bbb/2.0, 6.1.0-56-amd64, x86_64: installed (Original modules exist)\n"
				 "ccc/1.0: broken\n");
	/* dkms prints "added" when nothing matches the kernel filter */
	_cleanup_free_ char *k1 = status_text(ctx, "bbb", K1);
	assert_string_equal(k1, "bbb/2.0, 6.1.0-55-amd64, x86_64: built\n");
	_cleanup_free_ char *other = status_text(ctx, "bbb", "9.9.9");
	assert_string_equal(other, "bbb/2.0: added\n");
	(void)K2;

	/* installed file differs from the built one */
	touch(r, "lib/modules/6.1.0-56-amd64/updates/dkms/bbb.ko", "changed");
	_cleanup_free_ char *diff = status_text(ctx, "bbb", K2);
	assert_string_equal(diff, "bbb/2.0, 6.1.0-56-amd64, x86_64: installed (Original modules exist) "
				  "(Differences between built and installed modules)\n");
	/* bad filters never escape the tree */
	_cleanup_free_ char *bad = status_text(ctx, "../etc", NULL);
	assert_string_equal(bad, "");

	char **ks = NULL, **as = NULL;
	assert_int_equal(rekmod_built_kernels(ctx, "bbb", "2.0", &ks, &as), 0);
	assert_int_equal(strv_len(ks), 2);
	assert_string_equal(ks[0], K1);
	assert_string_equal(ks[1], K2);
	assert_string_equal(as[0], "x86_64");
	strv_free(ks);
	strv_free(as);
	assert_true(tree_is_installed(ctx, "bbb", "2.0", K2, "x86_64"));
	assert_false(tree_is_installed(ctx, "bbb", "2.0", K1, "x86_64"));
	assert_true(rekmod_is_added(ctx, "aaa", "1.0"));
	assert_false(rekmod_is_added(ctx, "ccc", "1.0") && false);
	assert_false(rekmod_is_added(ctx, "..", "1.0"));
	rekmod_unref(ctx);
	assert_int_equal(rm_rf(r), 0);
}

/* The walk's own bookkeeping: listings larger than the few entries kept on
 * the stack come out sorted, a kernel-* link names its version by its last
 * component before <k>/<a> (relative or absolute), and an installed entry
 * is built while module/ holds a .ko even when the recorded file is gone. */
static void test_status_walk_forms(void **state)
{
	(void)state;
	_cleanup_free_ char *r = tmpdir_new();
	const char *K = "6.1.0-55-amd64";
	struct strbuf want = { 0 };
	/* 9 modules with long names: more entries and name bytes than a small listing holds */
	for (int i = 9; i >= 1; i--) {
		_cleanup_free_ char *m = xasprintf("module-with-a-rather-long-name-number-%d", i);
		_cleanup_free_ char *src = xasprintf("usr/src/%s-1.0/dkms.conf", m);
		_cleanup_free_ char *lnk = xasprintf("var/lib/dkms/%s/1.0/source", m);
		_cleanup_free_ char *to = xasprintf("/usr/src/%s-1.0", m);
		touch(r, src, "PACKAGE_NAME=x\n");
		link_at(r, lnk, to);
	}
	for (int i = 1; i <= 9; i++)
		sb_printf(&want, "module-with-a-rather-long-name-number-%d/1.0: added\n", i);
	/* abs: installed through an absolute link; pre: the link names x1.0, not 1.0 */
	const char *ms[] = { "abs", "pre" };
	for (size_t i = 0; i < 2; i++) {
		_cleanup_free_ char *src = xasprintf("usr/src/%s-1.0/dkms.conf", ms[i]);
		_cleanup_free_ char *lnk = xasprintf("var/lib/dkms/%s/1.0/source", ms[i]);
		_cleanup_free_ char *to = xasprintf("/usr/src/%s-1.0", ms[i]);
		_cleanup_free_ char *ko = xasprintf("var/lib/dkms/%s/1.0/%s/x86_64/module/%s.ko", ms[i], K, ms[i]);
		_cleanup_free_ char *rec = xasprintf("var/lib/dkms/%s/1.0/%s/x86_64/.rekmod-installed", ms[i], K);
		_cleanup_free_ char *line = xasprintf("%s.ko\t/lib/modules/%s/updates/dkms/%s.ko\n", ms[i], K, ms[i]);
		_cleanup_free_ char *inst = xasprintf("lib/modules/%s/updates/dkms/%s.ko", K, ms[i]);
		touch(r, src, "PACKAGE_NAME=x\n");
		link_at(r, lnk, to);
		touch(r, ko, "ko");
		touch(r, rec, line);
		touch(r, inst, "ko");
	}
	link_at(r, "var/lib/dkms/abs/kernel-6.1.0-55-amd64-x86_64", "/var/lib/dkms/abs/1.0/6.1.0-55-amd64/x86_64");
	link_at(r, "var/lib/dkms/pre/kernel-6.1.0-55-amd64-x86_64", "x1.0/6.1.0-55-amd64/x86_64");

	struct rekmod_ctx *ctx = NULL;
	struct rekmod_options o = { .root = r, .log_fn = quiet };
	assert_int_equal(rekmod_new(&o, &ctx), 0);
	_cleanup_free_ char *all = status_text(ctx, NULL, NULL);
	_cleanup_free_ char *exp = xasprintf("abs/1.0, %s, x86_64: installed\n%spre/1.0, %s, x86_64: built\n", K,
					     want.s, K);
	assert_string_equal(all, exp);

	/* the recorded file gone from module/: still built (another .ko), the difference shown */
	_cleanup_free_ char *gone = xasprintf("%s/var/lib/dkms/abs/1.0/%s/x86_64/module/abs.ko", r, K);
	_cleanup_free_ char *other = xasprintf("var/lib/dkms/abs/1.0/%s/x86_64/module/other.ko", K);
	assert_int_equal(unlink(gone), 0);
	touch(r, other, "ko");
	_cleanup_free_ char *st1 = status_text(ctx, "abs", NULL);
	_cleanup_free_ char *exp1 = xasprintf("abs/1.0, %s, x86_64: installed (Differences between built and "
					      "installed modules)\n", K);
	assert_string_equal(st1, exp1);
	/* no .ko left in module/: not built, so nothing for that kernel */
	_cleanup_free_ char *o2 = xasprintf("%s/%s", r, other);
	_cleanup_free_ char *txt = xasprintf("var/lib/dkms/abs/1.0/%s/x86_64/module/notes.txt", K);
	assert_int_equal(unlink(o2), 0);
	touch(r, txt, "x");
	_cleanup_free_ char *st2 = status_text(ctx, "abs", NULL);
	assert_string_equal(st2, "abs/1.0: added\n");
	sb_free(&want);
	rekmod_unref(ctx);
	assert_int_equal(rm_rf(r), 0);
}

static void set_mtime(const char *root, const char *rel, time_t t)
{
	_cleanup_free_ char *p = xasprintf("%s/%s", root, rel);
	struct timespec ts[2] = { { .tv_sec = t }, { .tv_sec = t } };
	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
}

/* The notes of an installed entry: the install record's mtime decides when
 * the files must be compared; failure records give exit_code and log. */
static void test_status_notes(void **state)
{
	(void)state;
	_cleanup_free_ char *r = tmpdir_new();
	const char *base = "var/lib/dkms/m/1.0/6.1.0-56-amd64/x86_64";
	const char *rec = "var/lib/dkms/m/1.0/6.1.0-56-amd64/x86_64/.rekmod-installed";
	const char *inst = "lib/modules/6.1.0-56-amd64/updates/dkms/m.ko";
	touch(r, "usr/src/m-1.0/dkms.conf", "PACKAGE_NAME=m\n");
	link_at(r, "var/lib/dkms/m/1.0/source", "/usr/src/m-1.0");
	_cleanup_free_ char *built = xasprintf("%s/module/m.ko", base);
	touch(r, built, "same bytes");
	touch(r, inst, "same bytes");
	touch(r, rec, "m.ko\t/lib/modules/6.1.0-56-amd64/updates/dkms/m.ko\n");
	link_at(r, "var/lib/dkms/m/kernel-6.1.0-56-amd64-x86_64", "1.0/6.1.0-56-amd64/x86_64");
	struct rekmod_ctx *ctx = NULL;
	struct rekmod_options o = { .root = r, .log_fn = quiet };
	assert_int_equal(rekmod_new(&o, &ctx), 0);
	const char *ok = "m/1.0, 6.1.0-56-amd64, x86_64: installed\n";
	const char *differs = "m/1.0, 6.1.0-56-amd64, x86_64: installed (Differences between built and installed modules)\n";
	/* record older than the files (written in the same second or before): compared, equal */
	set_mtime(r, rec, time(NULL) - 100);
	_cleanup_free_ char *s1 = status_text(ctx, "m", NULL);
	assert_string_equal(s1, ok);
	/* same size, other bytes, changed after the record: compared, differs */
	touch(r, inst, "SAME BYTES");
	_cleanup_free_ char *s2 = status_text(ctx, "m", NULL);
	assert_string_equal(s2, differs);
	/* a rebuild after the record with the same size: differs */
	touch(r, inst, "same bytes");
	touch(r, built, "new  bytes");
	_cleanup_free_ char *s3 = status_text(ctx, "m", NULL);
	assert_string_equal(s3, differs);
	/* both files older than the record and equal: no note */
	touch(r, built, "same bytes");
	set_mtime(r, rec, time(NULL) + 2);
	_cleanup_free_ char *s4 = status_text(ctx, "m", NULL);
	assert_string_equal(s4, ok);
	/* the installed file gone */
	_cleanup_free_ char *ip = xasprintf("%s/%s", r, inst);
	assert_int_equal(unlink(ip), 0);
	_cleanup_free_ char *s5 = status_text(ctx, "m", NULL);
	assert_string_equal(s5, "m/1.0, 6.1.0-56-amd64, x86_64: installed (Built modules are missing in the kernel "
				"modules folder)\n");

	/* failure records: exit_code and log apart from detail */
	touch(r, "var/lib/dkms/m/1.0/.rekmod-failed-6.1.0-57-amd64-x86_64",
	      "kernel=6.1.0-57-amd64\narch=x86_64\ninputs=x\nexit=10\nlog=/var/lib/dkms/m/1.0/f.make.log\n");
	touch(r, "var/lib/dkms/m/1.0/.rekmod-failed-6.1.0-58-amd64-x86_64", "kernel=6.1.0-58-amd64\narch=x86_64\nlog=\n");
	struct rekmod_status *s = NULL;
	size_t n = 0;
	assert_int_equal(rekmod_status_list(ctx, "m", NULL, NULL, NULL, &s, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(s[0].state, REKMOD_INSTALLED);
	assert_int_equal(s[0].exit_code, -1);
	assert_null(s[0].log);
	assert_int_equal(s[1].state, REKMOD_FAILED);
	assert_int_equal(s[1].exit_code, 10);
	assert_string_equal(s[1].log, "/var/lib/dkms/m/1.0/f.make.log");
	assert_string_equal(s[1].detail, "exit 10, see /var/lib/dkms/m/1.0/f.make.log");
	assert_int_equal(s[2].state, REKMOD_FAILED);
	assert_int_equal(s[2].exit_code, -1);
	assert_null(s[2].log);
	assert_string_equal(s[2].detail, "exit ?");
	rekmod_status_free(s, n);
	rekmod_unref(ctx);
	assert_int_equal(rm_rf(r), 0);
}

/* A module directory listing longer than one getdents64 buffer is read whole. */
static void test_status_many(void **state)
{
	(void)state;
	_cleanup_free_ char *r = tmpdir_new();
	enum { N = 300 };
	for (int i = 0; i < N; i++) {
		_cleanup_free_ char *rel = xasprintf("var/lib/dkms/a-module-with-a-rather-long-name-%03d/1.0/source", i);
		link_at(r, rel, "/usr/src");
	}
	touch(r, "usr/src/x", "");
	struct rekmod_ctx *ctx = NULL;
	struct rekmod_options o = { .root = r, .log_fn = quiet };
	assert_int_equal(rekmod_new(&o, &ctx), 0);
	struct rekmod_status *s = NULL;
	size_t n = 0;
	assert_int_equal(rekmod_status_list(ctx, NULL, NULL, NULL, NULL, &s, &n), 0);
	assert_int_equal(n, N);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *m = xasprintf("a-module-with-a-rather-long-name-%03zu", i);
		assert_string_equal(s[i].module, m);
		assert_int_equal(s[i].state, REKMOD_ADDED);
	}
	rekmod_status_free(s, n);
	rekmod_unref(ctx);
	assert_int_equal(rm_rf(r), 0);
}

/* dl_load: a missing library or symbol is an error naming it and the package */
static int (*sym_no_such_function)(void);
static size_t (*sym_strlen)(const char *);

static void test_dl_load(void **state)
{
	(void)state;
	char *err = NULL;
	struct dl_lib none = { .soname = "librekmod-no-such.so.0",
			       .package = "no-such-package",
			       .syms = (const struct dl_sym[]){ { "strlen", &sym_strlen }, { 0 } } };
	assert_int_equal(dl_load(&none, &err), -ELIBACC);
	assert_non_null(strstr(err, "cannot load librekmod-no-such.so.0"));
	assert_non_null(strstr(err, "; install no-such-package"));
	free(err);
	err = NULL;
	struct dl_lib nosym = { .soname = "libc.so.6",
				.package = "libc6",
				.syms = (const struct dl_sym[]){ { "strlen", &sym_strlen },
								 { "no_such_function", &sym_no_such_function },
								 { 0 } } };
	assert_int_equal(dl_load(&nosym, &err), -ELIBACC);
	assert_non_null(strstr(err, "libc.so.6 has no no_such_function"));
	assert_null(nosym.handle);
	free(err);
	struct dl_lib libc = { .soname = "libc.so.6",
			       .package = "libc6",
			       .syms = (const struct dl_sym[]){ { "strlen", &sym_strlen }, { 0 } } };
	assert_int_equal(dl_load(&libc, NULL), 0);
	assert_int_equal(sym_strlen("four"), 4);
	assert_int_equal(dl_load(&libc, NULL), 0); /* loaded once */
}

static void test_unref_null(void **state)
{
	(void)state;
	assert_null(rekmod_unref(NULL));
}

static void test_bad_root(void **state)
{
	(void)state;
	struct rekmod_ctx *ctx = NULL;
	struct rekmod_options o = { .root = "/nonexistent/rekmod-root", .log_fn = quiet };
	assert_int_equal(rekmod_new(&o, &ctx), -ENOENT);
	assert_null(ctx);
}


static void test_module_filters(void **state)
{
	(void)state;
	const char *const f[] = { "alpha", "beta/2.0", NULL };
	assert_true(module_wanted(NULL, "x", "1"));
	assert_true(module_wanted(f, "alpha", "1.0"));
	assert_true(module_wanted(f, "beta", "2.0"));
	assert_false(module_wanted(f, "beta", "1.0"));
	assert_false(module_wanted(f, "alph", "1.0"));
	assert_false(module_wanted(f, "alphax", "1.0"));
}

static char *captured;
static void capture(void *ud, int prio, const char *msg)
{
	(void)ud;
	(void)prio;
	char *old = captured;
	captured = xasprintf("%s%s\n", old ? old : "", msg);
	free(old);
}

/* a -> b -> c -> a is a cycle on K1; d -> a waits for a; the same names on K2 are no cycle */
static void test_plan_cycles(void **state)
{
	(void)state;
	_cleanup_free_ char *r = tmpdir_new();
	struct rekmod_ctx *ctx = NULL;
	struct rekmod_options o = { .root = r, .log_fn = capture };
	assert_int_equal(rekmod_new(&o, &ctx), 0);
	const struct policy pol = { 0 };
	struct plan p = { .pol = &pol };
	const char *deps[][2] = { { "a", "b" }, { "b", "c" }, { "c", "a" }, { "d", "a" } };
	for (size_t i = 0; i < ARRAY_SIZE(deps); i++) {
		strv_push(&plan_add(&p, JOB_AUTO, deps[i][0], "1", "K1", "x86_64")->deps, xstrdup(deps[i][1]));
		plan_add(&p, JOB_AUTO, deps[i][0], "1", "K2", "x86_64");
	}
	strv_push(&p.jobs[7].deps, xstrdup("c")); /* d on K2 waits for c on K2: no cycle */
	plan_fail_cycles(ctx, &p);
	for (size_t i = 0; i < p.n; i++) {
		bool on_cycle = streq(p.jobs[i].k, "K1") && !streq(p.jobs[i].m, "d");
		assert_int_equal(p.jobs[i].state, on_cycle ? J_DONE : J_WAIT);
		assert_int_equal(p.jobs[i].result, on_cycle ? REKMOD_E_DEPENDS : 0);
	}
	assert_int_equal(p.res.failed, 3);
	assert_non_null(strstr(captured, "BUILD_DEPENDS cycle for kernel K1: a -> b -> c -> a"));
	assert_null(strstr(captured, "K2"));
	plan_free(&p);
	free(captured);
	captured = NULL;
	rekmod_unref(ctx);
	rm_rf(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_is_valid), cmocka_unit_test(test_version_compare),
		cmocka_unit_test(test_kernel_dir_name), cmocka_unit_test(test_text_value), cmocka_unit_test(test_status_format),
		cmocka_unit_test(test_atomic_write), cmocka_unit_test(test_copy_tree),
		cmocka_unit_test(test_status_tree),
		cmocka_unit_test(test_status_walk_forms), cmocka_unit_test(test_status_notes), cmocka_unit_test(test_status_many),
		cmocka_unit_test(test_dl_load), cmocka_unit_test(test_unref_null),
		cmocka_unit_test(test_bad_root), cmocka_unit_test(test_module_filters),
		cmocka_unit_test(test_plan_cycles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
