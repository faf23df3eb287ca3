/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dkms.conf typos: an assignment to a name one or two edits from a directive
 * is a warning naming the file, the line and the directive; a package's own
 * variables (KVER, NAME, lower case) are not. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "dkmsconf.h"
#include "util.h"

static struct strbuf logbuf;

static void log_fn(void *userdata, int priority, const char *msg)
{
	sb_printf(&logbuf, "%s%s\n", priority == LOG_WARNING ? "W: " : "?: ", msg);
}

static const struct rk_log test_log = { .fn = log_fn, .max_priority = LOG_DEBUG };

static char *warnings_of(const char *text)
{
	sb_free(&logbuf);
	conf_warn_typos("/src/dkms.conf", text, &test_log);
	return logbuf.s ? sb_steal(&logbuf) : xstrdup("");
}

static void test_typo_names(void **state)
{
	assert_string_equal(conf_directive_typo("AUTOINSTAL"), "AUTOINSTALL");
	assert_string_equal(conf_directive_typo("AUTO_INSTALL"), "AUTOINSTALL");
	assert_string_equal(conf_directive_typo("BUILT_MODULE_NAM"), "BUILT_MODULE_NAME");
	assert_string_equal(conf_directive_typo("BUILD_MODULE_NAME"), "BUILT_MODULE_NAME");
	assert_string_equal(conf_directive_typo("PACKAGE_VERISON"), "PACKAGE_VERSION");
	assert_string_equal(conf_directive_typo("DEST_MODULE_LOCATON"), "DEST_MODULE_LOCATION");
	/* directives, a package's own variables, lower case: no warning */
	static const char *const quiet[] = { "AUTOINSTALL", "BUILT_MODULE_NAME", "MAKE", "KVER", "NAME", "KSRC",
					     "MAKEARGS", "PATCHLEVEL", "SUBLEVEL", "VERSION", "PACKAGE_CONFIG",
					     "autoinstal", "built_module_nam", "AutoInstal", "KCONFIG", NULL };
	for (size_t i = 0; quiet[i]; i++) {
		if (conf_directive_typo(quiet[i]))
			fail_msg("%s taken for %s", quiet[i], conf_directive_typo(quiet[i]));
	}
}

static void test_typo_lines(void **state)
{
	_cleanup_free_ char *w = warnings_of("PACKAGE_NAME=x\n"
					     "AUTOINSTAL=\"yes\"\n"
					     "  BUILT_MODULE_NAM[0]=x\n"
					     "KVER=1\n"
					     "# AUTOINSTAL=yes in a comment\n"
					     "echo AUTOINSTAL=yes\n"
					     "PACKAGE_VERISON+=1\n");
	assert_string_equal(w, "W: Warning: /src/dkms.conf:2: AUTOINSTAL is no dkms.conf directive and is ignored; "
			       "did you mean AUTOINSTALL?\n"
			       "W: Warning: /src/dkms.conf:3: BUILT_MODULE_NAM is no dkms.conf directive and is "
			       "ignored; did you mean BUILT_MODULE_NAME?\n"
			       "W: Warning: /src/dkms.conf:7: PACKAGE_VERISON is no dkms.conf directive and is "
			       "ignored; did you mean PACKAGE_VERSION?\n");
	_cleanup_free_ char *none = warnings_of("AUTOINSTALL=yes\nMAKE=\"make KVER=$kernelver\"\n");
	assert_string_equal(none, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_typo_names),
		cmocka_unit_test(test_typo_lines),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	sb_free(&logbuf);
	return r;
}
