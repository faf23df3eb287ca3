/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hooks/common against a scratch root: which registration a /usr/src/<m>-<v>
 * directory name is (the split both the rpm trigger and the alpm hook use),
 * the hook arguments, and the headers check through the root's links. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <unistd.h>

#include "../../hooks/common/hookcall.c"

static char *root;

static void registered(const char *m, const char *v)
{
	_cleanup_free_ char *dir = xasprintf("%s" HOOK_DKMS_TREE "/%s/%s", root, m, v);
	_cleanup_free_ char *src = xasprintf("%s/source", dir);
	assert_int_equal(mkdir_p(dir, 0755), 0);
	_cleanup_free_ char *target = xasprintf("/usr/src/%s-%s", m, v);
	assert_int_equal(symlink(target, src), 0); /* dangling in the root, as dkms leaves it */
}

static int setup(void **state)
{
	(void)state;
	root = make_tmpdir("rekmod-test-hookcall");
	if (!root)
		return -1;
	registered("acpi-call", "1.2.2");
	registered("foo", "1.0-3");
	registered("hello", "0.1");
	registered("two-part", "1");
	registered("two", "part-1");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	int r = rm_rf(root);
	free(root);
	return r;
}

static void assert_split(const char *dir, const char *want)
{
	struct hookcall h = { .prog = "test", .root = root };
	_cleanup_free_ char *mv = hook_registered_as(&h, dir);
	if (want)
		assert_string_equal(mv, want);
	else
		assert_null(mv);
}

static void test_registered_as(void **state)
{
	(void)state;
	assert_split("acpi-call-1.2.2", "acpi-call/1.2.2"); /* a '-' in the name */
	assert_split("foo-1.0-3", "foo/1.0-3");             /* a '-' in the version */
	assert_split("hello-0.1", "hello/0.1");
	assert_split("two-part-1", "two-part/1"); /* both registered: the rightmost '-' wins */
	assert_split("bar-2", NULL);
	assert_split("nodash", NULL);
	assert_split("-x", NULL);
	assert_split("hello-", NULL);
	struct hookcall elsewhere = { .prog = "test", .root = "/nonexistent-rekmod-root" };
	assert_null(hook_registered_as(&elsewhere, "hello-0.1"));
	assert_true(hook_any_registered(&(struct hookcall){ .root = root }));
	assert_false(hook_any_registered(&elsewhere));
}

static void test_parse_args(void **state)
{
	(void)state;
	struct hookcall h = { .prog = "test" };
	const char *mode;
	char *argv[] = { "hook", "--root", "/", "--rekmod", "/x/rekmod", "--print", "install", NULL };
	hook_parse_args(&h, 7, argv, &mode);
	assert_string_equal(mode, "install");
	assert_null(h.root); /* "/" is the real root */
	assert_string_equal(h.rekmod, "/x/rekmod");
	assert_true(h.print);
	char *two[] = { "hook", "install", "remove", NULL };
	hook_parse_args(&h, 3, two, &mode);
	assert_string_equal(mode, ""); /* malformed */
}

/* <root>/lib/modules/K/build -> /usr/src/linux-headers-K, resolved inside
 * the root, not on the host. */
static void test_has_headers(void **state)
{
	(void)state;
	struct hookcall h = { .prog = "test", .root = root };
	_cleanup_free_ char *mods = xasprintf("%s/lib/modules/9.9.9-test", root);
	_cleanup_free_ char *inc = xasprintf("%s/usr/src/linux-headers-9.9.9-test/include", root);
	_cleanup_free_ char *link = xasprintf("%s/build", mods);
	assert_int_equal(mkdir_p(mods, 0755), 0);
	assert_false(hook_has_headers(&h, "/lib/modules", "9.9.9-test"));
	assert_int_equal(symlink("/usr/src/linux-headers-9.9.9-test", link), 0);
	assert_false(hook_has_headers(&h, "/lib/modules", "9.9.9-test"));
	assert_int_equal(mkdir_p(inc, 0755), 0);
	assert_true(hook_has_headers(&h, "/lib/modules", "9.9.9-test"));
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_registered_as), cmocka_unit_test(test_parse_args),
					    cmocka_unit_test(test_has_headers) };
	return cmocka_run_group_tests(tests, setup, teardown);
}
