/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hooks/rpm: the pure logic of the file triggers. Paths from rpm's stdin ->
 * kernel releases (one valid path component, or rejected), module source
 * directories, and which erased kernels stay (the <module>-<version> split is
 * hooks/common's, in test-hookcall.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>

#include "../../hooks/rpm/trigger-paths.c"

static void assert_kver(const char *path, int want_r, const char *want)
{
	char *k = (char *)0x1;
	int r = rpmhook_path_kver(path, &k);
	assert_int_equal(r, want_r);
	if (want)
		assert_string_equal(k, want);
	else
		assert_null(k);
	free(k);
}

static void test_kver(void **state)
{
	assert_kver("/usr/lib/modules/6.5.6-300.fc39.x86_64/vmlinuz", 0, "6.5.6-300.fc39.x86_64");
	assert_kver("/lib/modules/6.1.0-56-amd64", 0, "6.1.0-56-amd64");
	assert_kver("/lib/modules/6.1.0-56-amd64/build", 0, "6.1.0-56-amd64");
	assert_kver("/usr/src/kernels/6.5.6-300.fc39.x86_64/Makefile", 0, "6.5.6-300.fc39.x86_64");
	/* the prefixes themselves, and paths outside them: no kernel */
	assert_kver("/usr/lib/modules", 0, NULL);
	assert_kver("/lib/modules/", 0, NULL);
	assert_kver("/usr/src/kernels", 0, NULL);
	assert_kver("/lib/modulesX/6.1", 0, NULL);
	assert_kver("/usr/src/hello-0.1/dkms.conf", 0, NULL);
	/* not one valid path component */
	assert_kver("/lib/modules/../../etc/passwd", -EINVAL, NULL);
	assert_kver("/lib/modules/./x", -EINVAL, NULL);
	assert_kver("/lib/modules//x", -EINVAL, NULL);
	assert_kver("/usr/src/kernels/..", -EINVAL, NULL);
	assert_kver("/lib/modules/a\tb/x", -EINVAL, NULL);
}

static void test_canonical(void **state)
{
	_cleanup_free_ char *a = rpmhook_canonical("/usr/lib/modules/K/vmlinuz");
	_cleanup_free_ char *b = rpmhook_canonical("/lib/modules/K/vmlinuz");
	_cleanup_free_ char *c = rpmhook_canonical("/usr/src/kernels/K");
	assert_string_equal(a, "/lib/modules/K/vmlinuz");
	assert_string_equal(b, "/lib/modules/K/vmlinuz");
	assert_string_equal(c, "/usr/src/kernels/K");
}

static void assert_source(const char *path, int want_r, const char *want)
{
	char *d = (char *)0x1;
	assert_int_equal(rpmhook_path_source(path, &d), want_r);
	if (want)
		assert_string_equal(d, want);
	else
		assert_null(d);
	free(d);
}

static void test_source(void **state)
{
	assert_source("/usr/src/hello-0.1/dkms.conf", 0, "hello-0.1");
	assert_source("/usr/src/hello-0.1", 0, NULL);
	assert_source("/usr/src/hello-0.1/hello.c", 0, NULL);
	assert_source("/usr/src/hello-0.1/sub/dkms.conf", 0, NULL);
	assert_source("/usr/src/dkms.conf", 0, NULL);
	assert_source("/usr/src/kernels/K/dkms.conf", 0, NULL);
	assert_source("/usr/src/../dkms.conf", -EINVAL, NULL);
}

static bool present_fake(const char *path, void *ud)
{
	return strv_contains(ud, path);
}

static void test_stays(void **state)
{
	char *fs[] = { "/lib/modules/K/vmlinuz",    "/lib/modules/K/modules.dep", "/lib/modules/K/build",
		       "/usr/src/kernels/K",	    "/lib/modules/D/modules.dep", "/lib/modules/D/build",
		       "/lib/modules/H/vmlinuz",    "/lib/modules/H/build",	  NULL };
	char *devel_k[] = { "/lib/modules/K/build", "/usr/src/kernels/K", NULL };
	char *all_k[] = { "/lib/modules/K/build", "/usr/src/kernels/K", "/lib/modules/K/vmlinuz", NULL };
	char *devel_d[] = { "/lib/modules/D/build", NULL };
	char *image_h[] = { "/lib/modules/H/vmlinuz", NULL };
	char *none[] = { NULL };
	/* headers erased, image stays: keep the modules */
	assert_true(rpmhook_kernel_stays("K", devel_k, present_fake, fs));
	/* image and headers erased */
	assert_false(rpmhook_kernel_stays("K", all_k, present_fake, fs));
	/* only depmod's files left once the headers go: the kernel goes */
	assert_false(rpmhook_kernel_stays("D", devel_d, present_fake, fs));
	/* image erased, headers stay (the core keeps such a kernel) */
	assert_true(rpmhook_kernel_stays("H", image_h, present_fake, fs));
	/* after the transaction: nothing erased, what is on disk decides */
	assert_true(rpmhook_kernel_stays("D", none, present_fake, fs));
	assert_false(rpmhook_kernel_stays("X", none, present_fake, fs));
}

/* the trigger's stdin: relative lines and bad releases reported, each kernel once */
static void test_input(void **state)
{
	char *lines[] = { "/lib/modules/6.1/vmlinuz", "lib/modules/6.2/x", "/usr/lib/modules/6.1/build",
			  "/lib/modules/../etc", "/usr/src/kernels/6.3/Makefile", NULL };
	FILE *err = tmpfile();
	char **paths = rpmhook_paths(lines, err);
	assert_int_equal(strv_len(paths), 4);
	long after_paths = ftell(err);
	assert_true(after_paths > 0);
	char **ks = rpmhook_kernels(paths, err);
	assert_true(ftell(err) > after_paths);
	assert_int_equal(strv_len(ks), 2);
	assert_string_equal(ks[0], "6.1");
	assert_string_equal(ks[1], "6.3");
	fclose(err);
	strv_free(ks), strv_free(paths);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kver),	 cmocka_unit_test(test_canonical), cmocka_unit_test(test_source),
		cmocka_unit_test(test_stays),	 cmocka_unit_test(test_input),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
