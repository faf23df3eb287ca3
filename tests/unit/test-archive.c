/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* archive.c's path logic (headers from the package archive, for rekmod
 * publish): symlink targets kept inside the unpacked tree, the Makefile
 * include of Debian's -common tree, apt-cache depends output, the header
 * directory of a Debian and of an rpm (kernel-devel) tree; which packages
 * an rpm repository directory holds for publish --rpm. No network. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "internal.h"

static void test_relative_target(void **state)
{
	(void)state;
	char *t = archive_relative_target("lib/modules/6.1.0-55-amd64/build", "/usr/src/linux-headers-6.1.0-55-amd64");
	assert_string_equal(t, "../../../usr/src/linux-headers-6.1.0-55-amd64");
	free(t);
	t = archive_relative_target("build", "/usr/src/kernels/6.5.6-300.fc39.x86_64");
	assert_string_equal(t, "usr/src/kernels/6.5.6-300.fc39.x86_64");
	free(t);
	/* relative targets stay as they are */
	t = archive_relative_target("usr/src/linux-headers-6.1.0-55-amd64/scripts", "../../lib/linux-kbuild-6.1/scripts");
	assert_string_equal(t, "../../lib/linux-kbuild-6.1/scripts");
	free(t);
	t = archive_relative_target("usr/lib/x", "/");
	assert_string_equal(t, "../../.");
	free(t);
}

static void test_fix_includes(void **state)
{
	(void)state;
	char *t = archive_fix_includes("include /usr/src/linux-headers-6.1.0-55-common/Makefile\n", "/c/K");
	assert_string_equal(t, "include /c/K/usr/src/linux-headers-6.1.0-55-common/Makefile\n");
	free(t);
	t = archive_fix_includes("A = 1\n\t-include /usr/lib/linux-kbuild-6.1/x.mk\nB = /usr/src\n", "/c");
	assert_string_equal(t, "A = 1\n\t-include /c/usr/lib/linux-kbuild-6.1/x.mk\nB = /usr/src\n");
	free(t);
	/* nothing absolute, or already moved: NULL (the file stays) */
	assert_null(archive_fix_includes("include $(srctree)/Makefile\nincludes /x\n", "/c"));
	assert_null(archive_fix_includes("include /c/usr/src/x/Makefile", "/c"));
	t = archive_fix_includes("include /usr/src/x/Makefile", "/c");
	assert_string_equal(t, "include /c/usr/src/x/Makefile");
	free(t);
}

static void test_parse_depends(void **state)
{
	(void)state;
	const char *out = "linux-headers-6.1.0-55-amd64\n"
			  "  Depends: linux-headers-6.1.0-55-common\n"
			  "  Depends: linux-kbuild-6.1\n"
			  "  Depends: linux-compiler-gcc-12-x86\n"
			  " |Depends: <linux-kbuild-6.1>\n"
			  "  Depends: linux-kbuild-6.1;rm\n";
	char **v = archive_parse_depends("linux-headers-6.1.0-55-amd64", out);
	assert_int_equal(strv_len(v), 3);
	assert_string_equal(v[0], "linux-headers-6.1.0-55-amd64");
	assert_string_equal(v[1], "linux-headers-6.1.0-55-common");
	assert_string_equal(v[2], "linux-kbuild-6.1");
	strv_free(v);
	v = archive_parse_depends("p", "");
	assert_int_equal(strv_len(v), 1);
	strv_free(v);
}

static void test_header_subdir(void **state)
{
	(void)state;
	char *d = make_tmpdir("rekmod-archive-test");
	assert_non_null(d);
	assert_null(archive_header_subdir(d, "6.5.6-300.fc39.x86_64"));
	char *inc = xasprintf("%s/usr/src/kernels/6.5.6-300.fc39.x86_64/include", d);
	assert_int_equal(mkdir_p(inc, 0755), 0);
	char *s = archive_header_subdir(d, "6.5.6-300.fc39.x86_64");
	assert_string_equal(s, "usr/src/kernels/6.5.6-300.fc39.x86_64");
	free(s);
	free(inc);
	inc = xasprintf("%s/usr/src/linux-headers-6.1.0-55-amd64/include", d);
	assert_int_equal(mkdir_p(inc, 0755), 0);
	s = archive_header_subdir(d, "6.1.0-55-amd64");
	assert_string_equal(s, "usr/src/linux-headers-6.1.0-55-amd64");
	free(s);
	free(inc);
	rm_rf(d);
	free(d);
}

/* publish --rpm: what the repository directory holds at which version */
static void test_rpm_listed(void **state)
{
	(void)state;
	char *files[] = { (char *)"hello-modules-6.1.0-57-amd64-0.1.1-1.x86_64.rpm",
			  (char *)"hello-modules-6.1.0-57-amd64-2.0_rc1-1.x86_64.rpm", (char *)"repodata", NULL };
	assert_true(publish_rpm_listed(files, "hello-modules-6.1.0-57-amd64", "0.1.1"));
	assert_false(publish_rpm_listed(files, "hello-modules-6.1.0-57-amd64", "0.1")); /* 0.1.1 is not 0.1 */
	assert_true(publish_rpm_listed(files, "hello-modules-6.1.0-57-amd64", "2.0-rc1")); /* as mkrpm names it */
	assert_false(publish_rpm_listed(files, "hello-modules-6.1.0-5", "7-amd64-0.1.1"));
	assert_false(publish_rpm_listed(NULL, "hello-modules-6.1.0-57-amd64", "0.1.1"));
}

/* links: absolute ones made relative; one leading outside the tree refused */
static int links_in(const char *const *spec, char **ret_bad, char **ret_dir)
{
	char *d = make_tmpdir("rekmod-archive-links");
	assert_non_null(d);
	for (size_t i = 0; spec[i]; i += 2) {
		char *p = xasprintf("%s/%s", d, spec[i]);
		char *dir = xstrdup(p);
		*strrchr(dir, '/') = '\0';
		assert_int_equal(mkdir_p(dir, 0755), 0);
		if (spec[i + 1])
			assert_int_equal(symlink(spec[i + 1], p), 0);
		else
			assert_int_equal(mkdir_p(p, 0755), 0);
		free(dir);
		free(p);
	}
	*ret_bad = NULL;
	*ret_dir = d;
	return archive_fix_links(d, ret_bad);
}

static void test_fix_links(void **state)
{
	(void)state;
	const char *const good[] = { "usr/lib/kb/scripts", NULL, "usr/src/h/scripts", "../../lib/kb/scripts",
				     "lib/modules/K/build", "/usr/src/h", "usr/src/h/dangling", "../../../usr/none",
				     NULL };
	char *bad = NULL, *d = NULL;
	assert_int_equal(links_in(good, &bad, &d), 0);
	char *p = xasprintf("%s/lib/modules/K/build", d), t[256];
	ssize_t n = readlink(p, t, sizeof(t) - 1);
	assert_true(n > 0);
	t[n] = '\0';
	assert_string_equal(t, "../../../usr/src/h");
	free(p);
	rm_rf(d);
	free(d);
	const char *const escapes[][5] = {
		{ "usr/src/h/evil", "../../../../etc", NULL },         /* relative, dangling lexically out */
		{ "usr/src/h/evil", "/../../../../../../../etc/passwd", NULL }, /* absolute with ".." */
		{ "d/x", "..", "d/y", "x/../..", NULL },             /* out only through the other link */
	};
	for (size_t i = 0; i < ARRAY_SIZE(escapes); i++) {
		assert_int_equal(links_in(escapes[i], &bad, &d), -EXDEV);
		assert_non_null(bad);
		assert_non_null(strstr(bad, i == 2 ? "d/y -> x/../.." : "usr/src/h/evil -> "));
		free(bad);
		rm_rf(d);
		free(d);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relative_target),
		cmocka_unit_test(test_fix_includes),
		cmocka_unit_test(test_parse_depends),
		cmocka_unit_test(test_header_subdir),
		cmocka_unit_test(test_rpm_listed),
		cmocka_unit_test(test_fix_links),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
