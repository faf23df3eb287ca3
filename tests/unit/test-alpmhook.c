/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hooks/pacman: the target lines alpm passes the hooks -> kernel releases
 * (headers or image) and module sources, malformed ones refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>

#include "../../hooks/common/hookcall.c"
#include "../../hooks/pacman/targets.c"

static void assert_target(const char *line, int want_r, enum alpm_target_kind want_kind, const char *want_name)
{
	enum alpm_target_kind kind = ALPM_TARGET_OTHER;
	char *name = (char *)0x1;
	int r = alpm_target_parse(line, &kind, &name);
	assert_int_equal(r, want_r);
	if (r < 0)
		return;
	assert_int_equal(kind, want_kind);
	if (want_name)
		assert_string_equal(name, want_name);
	else
		assert_null(name);
	free(name);
}

static void test_kernels(void **state)
{
	assert_target("usr/lib/modules/6.6.8-arch1-1/build/include/", 0, ALPM_TARGET_HEADERS, "6.6.8-arch1-1");
	assert_target("usr/lib/modules/6.6.8-arch1-1/build", 0, ALPM_TARGET_HEADERS, "6.6.8-arch1-1");
	assert_target("usr/lib/modules/6.6.8-arch1-1/modules.order", 0, ALPM_TARGET_KERNEL, "6.6.8-arch1-1");
	assert_target("/usr/lib/modules/6.1.0-56-amd64/vmlinuz", 0, ALPM_TARGET_KERNEL, "6.1.0-56-amd64");
	assert_target("lib/modules/6.1.0-56-amd64/modules.order", 0, ALPM_TARGET_KERNEL, "6.1.0-56-amd64");
	assert_target("usr/lib/modules/6.6.8-arch1-1/", 0, ALPM_TARGET_KERNEL, "6.6.8-arch1-1");
	assert_target("usr/lib/modules/6.6.8-arch1-1/buildx/include/", 0, ALPM_TARGET_KERNEL, "6.6.8-arch1-1");
}

static void test_sources(void **state)
{
	assert_target("usr/src/hello-0.1/dkms.conf", 0, ALPM_TARGET_SOURCE, "hello-0.1");
	assert_target("usr/src/nvidia-open-550.54/dkms.conf", 0, ALPM_TARGET_SOURCE, "nvidia-open-550.54");
	assert_target("usr/src/hello/dkms.conf", -EINVAL, 0, NULL);       /* no version */
	assert_target("usr/src/a/b-1/dkms.conf", -EINVAL, 0, NULL);       /* '*' matched a '/' */
	/* found by tests/fuzz/fuzz-alpmhook: the hook splits at the last '-' */
	assert_target("usr/src/a-b-/dkms.conf", -EINVAL, 0, NULL);
	assert_target("usr/src/a--1/dkms.conf", 0, ALPM_TARGET_SOURCE, "a--1");
	assert_target("usr/src/hello-0.1/Makefile", 0, ALPM_TARGET_OTHER, NULL);
	assert_target("usr/share/doc/x", 0, ALPM_TARGET_OTHER, NULL);
}

static void test_rejected(void **state)
{
	assert_target("usr/lib/modules/../../etc/modules.order", -EINVAL, 0, NULL);
	assert_target("usr/lib/modules/./modules.order", -EINVAL, 0, NULL);
	assert_target("usr/lib/modules//modules.order", -EINVAL, 0, NULL);
	assert_target("usr/src/../../etc/x-1/dkms.conf", -EINVAL, 0, NULL);
	assert_target("usr/lib/modules/6.1\x01/modules.order", -EINVAL, 0, NULL);
	assert_target("usr/lib/modules/a..b/modules.order", 0, ALPM_TARGET_KERNEL, "a..b");
}

/* the hook's stdin as it splits it, read into kernels and sources */
static void test_targets_read(void **state)
{
	static const char in[] = "usr/lib/modules/6.1/vmlinuz\n\nusr/lib/modules/6.1/build/x\n"
				 "usr/src/a-1/dkms.conf\nusr/lib/modules/../x\n\0junk\nusr/src/a-1/dkms.conf";
	char **lines = hook_split_lines(in, sizeof(in) - 1);
	assert_int_equal(strv_len(lines), 6); /* empty lines skipped; "\0junk" is "" */
	assert_string_equal(lines[4], "");
	char **k = xcalloc(1, sizeof(char *)), **s = xcalloc(1, sizeof(char *));
	FILE *err = tmpfile();
	alpm_targets_read(lines, &k, &s, err);
	assert_int_equal(strv_len(k), 1);
	assert_string_equal(k[0], "6.1");
	assert_int_equal(strv_len(s), 1);
	assert_string_equal(s[0], "a-1");
	assert_true(ftell(err) > 0); /* the ".." line was reported */
	fclose(err);
	strv_free(k), strv_free(s), strv_free(lines);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernels),
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_rejected),
		cmocka_unit_test(test_targets_read),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
