/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The shared layer on its own (core/shared, no engine header): names cut out
 * of paths, string vectors, capturing a real child's output, and the one
 * loader of the package-database backends against the real apt shim. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>

#include "fileio.h"
#include "pkgdb-backend.h"
#include "process.h"
#include "strutil.h"

static void test_name_is_valid_n(void **state)
{
	(void)state;
	const char *path = "usr/lib/modules/6.1.0-56-amd64/build";
	assert_true(name_is_valid_n(path + 16, 14));
	assert_false(name_is_valid_n(path + 16, 15)); /* takes the '/' */
	assert_false(name_is_valid_n("..x", 2));
	assert_false(name_is_valid_n("..x", 3)); /* a leading '.' */
	assert_true(name_is_valid_n("x..", 3));
	assert_false(name_is_valid_n("a\0b", 3));
	assert_false(name_is_valid_n("-rf", 3));
	assert_false(name_is_valid_n("x;id", 4));
	assert_true(name_is_valid_n("1:2.0~rc1+b2", 12));
	assert_false(name_is_valid_n(".", 1));
	assert_false(name_is_valid_n("a\tb", 3));
	assert_false(name_is_valid_n("", 0));
}

static void test_strv_push_unique(void **state)
{
	(void)state;
	_cleanup_strv_free_ char **v = NULL;
	strv_push_unique(&v, "a");
	strv_push_unique(&v, "b");
	strv_push_unique(&v, "a");
	assert_int_equal(strv_len(v), 2);
	assert_string_equal(v[0], "a");
	assert_string_equal(v[1], "b");
	assert_null(v[2]);
}

static void test_run_capture(void **state)
{
	(void)state;
	const char *argv[] = { "printf", "%s\\n%s", "one", "two", NULL };
	_cleanup_free_ char *out = NULL;
	size_t len = 0;
	int st = -1;
	assert_int_equal(rk_run_capture(&(struct rk_spawn){ .argv = argv, .stdout_fd = -1, .stderr_fd = -1,
							    .stdin_fd = -1 },
					&out, &len, &st),
			 0);
	assert_int_equal(st, 0);
	assert_string_equal(out, "one\ntwo");
	assert_int_equal(len, 7);
	const char *fail[] = { "sh", "-c", "exit 3", NULL };
	assert_int_equal(rk_run(&(struct rk_spawn){ .argv = fail, .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1 },
				&st),
			 0);
	assert_int_equal(st, 3);
}

/* $REKMOD_PKGDB_BACKEND names the one file tried: the real apt shim loads
 * and answers; a missing file and a file that is no library are refused,
 * each with a line naming the path. */
static void test_backend_load(void **state)
{
	(void)state;
	const char *top = getenv("REKMOD_TEST_SRCDIR");
	_cleanup_free_ char *so = xasprintf("%s/build/librekmod-apt.so", top ? top : ".");
	static const char *const none[] = { "librekmod-test-none.so", NULL };
	pkgdb_headers_fn fn = NULL;
	char *why = NULL;

	setenv(PKGDB_BACKEND_ENV, so, 1);
	assert_int_equal(pkgdb_backend_load(none, &fn, &why), 0);
	assert_non_null(fn);
	assert_null(why);
	char *name = (char *)0x1;
	assert_int_equal(fn(NULL, "../etc", &name), -EINVAL);
	assert_ptr_equal(name, (char *)0x1);

	_cleanup_free_ char *dir = make_tmpdir("rekmod-test-shared");
	assert_non_null(dir);
	_cleanup_free_ char *bad = xasprintf("%s/not-a-library.so", dir);
	assert_int_equal(write_file_atomic(bad, "text\n", 5, 0644), 0);
	setenv(PKGDB_BACKEND_ENV, bad, 1);
	assert_int_equal(pkgdb_backend_load(none, &fn, &why), -ELIBBAD);
	assert_non_null(why);
	assert_non_null(strstr(why, bad));
	free(why);

	_cleanup_free_ char *missing = xasprintf("%s/missing.so", dir);
	setenv(PKGDB_BACKEND_ENV, missing, 1);
	assert_int_equal(pkgdb_backend_load(none, &fn, &why), -ENOENT);
	assert_non_null(why);
	assert_non_null(strstr(why, missing));
	free(why);

	unsetenv(PKGDB_BACKEND_ENV); /* BACKEND_DIR has no librekmod-test-none.so */
	assert_int_equal(pkgdb_backend_load(none, &fn, &why), -ENOENT);
	assert_null(why);
	assert_int_equal(rm_rf(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_name_is_valid_n), cmocka_unit_test(test_strv_push_unique),
					    cmocka_unit_test(test_run_capture), cmocka_unit_test(test_backend_load) };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
