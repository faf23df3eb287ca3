/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dkms.conf evaluation (native vs bash, over tests/conf-corpus) and dkms's
 * defaults / validation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dkmsconf.h"
#include "util.h"

/* ---- log capture ---- */

static struct strbuf logbuf;

static void log_fn(void *userdata, int priority, const char *msg)
{
	const char *tag = priority <= LOG_ERR ? "E" : priority == LOG_WARNING ? "W" : "I";
	sb_printf(&logbuf, "%s: %s\n", tag, msg);
}

static const struct rk_log test_log = { .fn = log_fn, .max_priority = LOG_DEBUG };

static const char *log_text(void)
{
	return logbuf.s ? logbuf.s : "";
}

static void log_reset(void)
{
	sb_free(&logbuf);
	logbuf = (struct strbuf){ 0 };
}

/* ---- temp dir ---- */

static char tmpdir[64];

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/rekmod-dkmsconf-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	log_reset();
	return 0;
}

static int teardown(void **state)
{
	log_reset();
	return rm_rf(tmpdir) < 0 ? -1 : 0;
}

static char *write_tmp(const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", tmpdir, name);
	_cleanup_free_ char *dir = xstrdup(p);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(mkdir_p(dir, 0755), 0);
	FILE *f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

static const struct conf_env std_env = {
	.kernelver = "6.1.0-56-amd64",
	.arch = "x86_64",
	.kernel_source_dir = "/lib/modules/6.1.0-56-amd64/build",
	.dkms_tree = "/var/lib/dkms",
	.module = "foo",
	.module_version = "1.0",
};

static struct conf_finish_opts std_opts(void)
{
	return (struct conf_finish_opts){
		.kernelver = "6.1.0-56-amd64",
		.arch = "x86_64",
		.kernel_source_dir = "/lib/modules/6.1.0-56-amd64/build",
		.kernel_config = "/nonexistent/.config",
		.dkms_tree = "/var/lib/dkms",
		.module = "foo",
		.module_version = "1.0",
		.distro = "alpine",
	};
}

/* evaluate `text` as <tmp>/dkms.conf (native must agree with bash when it
 * answers), then finish; returns finish's result, *ret_path the conf path */
static int eval_finish(const char *text, const struct conf_finish_opts *o, struct dkms_conf **ret, char **ret_path)
{
	char *path = write_tmp("dkms.conf", text);
	const char *files[] = { path };
	struct conf_vars *vb = NULL, *vn = NULL;
	assert_int_equal(conf_eval_bash(files, 1, &std_env, &test_log, &vb), 0);
	int r = conf_eval_native(files, 1, &std_env, &test_log, &vn);
	if (r == 0) {
		assert_true(conf_vars_equal(vb, vn));
		conf_vars_free(vn);
	} else {
		assert_int_equal(r, -ENOTSUP);
	}
	*ret = NULL;
	r = dkms_conf_finish(vb, path, o, &test_log, ret);
	conf_vars_free(vb);
	if (ret_path)
		*ret_path = path;
	else
		free(path);
	return r;
}

#define MIN_CONF "PACKAGE_NAME=foo\nPACKAGE_VERSION=1.0\n"

/* ---- util ---- */

static void test_version_compare(void **state)
{
	assert_true(version_compare("1.10", "1.9") > 0);
	assert_true(version_compare("6.1.0-56", "6.12.1") < 0);
	assert_true(version_compare("6.1.0", "6.1.0") == 0);
	assert_true(version_compare("5.10", "5.4") > 0);
	assert_true(version_compare("6.1.0-56-amd64", "6.1") > 0);
	assert_true(version_compare("007", "7") == 0);
}

static void test_os_release_distro(void **state)
{
	static const struct {
		const char *text, *want;
	} t[] = {
		{ "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n", "debian" },
		{ "NAME=\"Ubuntu\"\nID=ubuntu\nID_LIKE=debian\n", "ubuntu" },
		{ "ID=linuxmint\nID_LIKE=\"ubuntu debian\"\n", "ubuntu debian" },
		{ "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n", "rhel centos fedora" },
		{ "ID=\"opensuse-tumbleweed\"\nID_LIKE=\"opensuse suse\"\n", "opensuse suse" },
		{ "ID=alpine\nVERSION_ID=3.19.1\n", "alpine" },
		{ "ID='arch'\n", "arch" },
		{ "NAME=x\n", NULL },
		/* found by tests/fuzz/fuzz-osrelease: in double quotes a backslash
		 * escapes only $ ` " \, so "\<tab>" is a backslash and a blank */
		{ "ID=\"a\\\tb\"\n", "a\\ b" },
		{ "ID=\"a\\\"b\\$c\"\n", "a\"b$c" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		_cleanup_free_ char *d = os_release_distro(t[i].text);
		if (t[i].want)
			assert_string_equal(d, t[i].want);
		else
			assert_null(d);
	}
	assert_null(os_release_distro(NULL));
}

static void test_dest_location_override(void **state)
{
	assert_string_equal(dest_location_override("debian", NULL, "/kernel/x"), "/updates/dkms");
	assert_string_equal(dest_location_override("ubuntu", NULL, "/extra"), "/updates/dkms");
	assert_string_equal(dest_location_override("ubuntu debian", "", "/extra"), "/updates/dkms");
	assert_string_equal(dest_location_override("arch", NULL, "/extra"), "/updates/dkms");
	assert_string_equal(dest_location_override("fedora", NULL, "/updates"), "/extra");
	assert_string_equal(dest_location_override("rhel centos fedora", NULL, "/updates"), "/extra");
	assert_string_equal(dest_location_override("opensuse suse", NULL, "/extra"), "/updates");
	assert_string_equal(dest_location_override("sles", NULL, "/extra"), "/updates");
	assert_string_equal(dest_location_override("alpine", NULL, "/kernel/drivers/x"), "/kernel/drivers/x");
	assert_string_equal(dest_location_override(NULL, NULL, "/extra"), "/extra");
	assert_string_equal(dest_location_override("debian", "weak-updates", "/extra"), "/weak-updates");
}

/* ---- defaults and validation ---- */

static void test_defaults(void **state)
{
	struct conf_finish_opts o = std_opts();
	o.distro = "debian";
	struct dkms_conf *c;
	assert_int_equal(eval_finish(MIN_CONF "BUILT_MODULE_LOCATION=src\nDEST_MODULE_LOCATION=/kernel/drivers/misc\n",
				     &o, &c, NULL), 0);
	assert_string_equal(log_text(), "");
	assert_string_equal(c->package_name, "foo");
	assert_string_equal(c->package_version, "1.0");
	assert_int_equal(c->n_modules, 1);
	assert_string_equal(c->modules[0].built_name, "foo");
	assert_string_equal(c->modules[0].dest_name, "foo");
	assert_string_equal(c->modules[0].built_location, "src/");
	assert_string_equal(c->modules[0].dest_location, "/updates/dkms");
	assert_string_equal(c->modules[0].dest_location_conf, "/kernel/drivers/misc");
	assert_true(c->modules[0].strip);
	assert_false(c->modules[0].excluded);
	assert_string_equal(c->make_command,
			    "make -C /lib/modules/6.1.0-56-amd64/build M=/var/lib/dkms/foo/1.0/build");
	assert_true(c->make_is_default);
	assert_string_equal(c->clean, "make clean");
	assert_false(c->autoinstall);
	assert_false(c->build_exclude);
	assert_null(c->build_depends[0]);
	assert_null(c->patches[0]);
	assert_null(c->deprecated[0]);
	assert_null(c->pre_build);
	dkms_conf_free(c);

	/* distro overrides, addon dir wins */
	static const struct {
		const char *distro, *addon, *want;
	} t[] = {
		{ "ubuntu", NULL, "/updates/dkms" }, { "fedora", NULL, "/extra" },
		{ "opensuse suse", NULL, "/updates" }, { "alpine", NULL, "/kernel/drivers/misc" },
		{ "debian", "addon", "/addon" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		o.distro = t[i].distro;
		o.addon_modules_dir = t[i].addon;
		assert_int_equal(eval_finish(MIN_CONF "DEST_MODULE_LOCATION=/kernel/drivers/misc\n", &o, &c, NULL), 0);
		assert_string_equal(c->modules[0].dest_location, t[i].want);
		dkms_conf_free(c);
	}
}

static void test_directives(void **state)
{
	struct conf_finish_opts o = std_opts();
	struct dkms_conf *c;
	assert_int_equal(eval_finish(MIN_CONF "BUILT_MODULE_NAME[0]=a\nDEST_MODULE_NAME[0]=a_dest\n"
					      "DEST_MODULE_LOCATION[0]=/extra\n"
					      "BUILD_DEPENDS=\"x  y\"\nBUILD_DEPENDS[1]=z\nBUILD_DEPENDS_REBUILD=yes\n"
					      "PRE_BUILD=pre\nPOST_REMOVE=rm\nOBSOLETE_BY=6.2\nNO_WEAK_MODULES=YES\n"
					      "CLEAN=\"make distclean\"\nREMAKE_INITRD=yes\nMODULES_CONF[0]=x\n",
				     &o, &c, NULL),
			 0);
	assert_string_equal(c->modules[0].dest_name, "a_dest");
	assert_string_equal(c->modules[0].dest_location, "/extra");
	assert_int_equal(strv_len(c->build_depends), 3);
	assert_string_equal(c->build_depends[0], "x");
	assert_string_equal(c->build_depends[2], "z");
	assert_true(c->build_depends_rebuild);
	assert_true(c->no_weak_modules);
	assert_string_equal(c->pre_build, "pre");
	assert_string_equal(c->post_remove, "rm");
	assert_string_equal(c->obsolete_by, "6.2");
	assert_string_equal(c->clean, "make distclean");
	assert_int_equal(strv_len(c->deprecated), 3); /* dkms 3.x: OBSOLETE_BY too */
	assert_string_equal(c->deprecated[0], "REMAKE_INITRD");
	assert_string_equal(c->deprecated[1], "MODULES_CONF");
	assert_string_equal(c->deprecated[2], "OBSOLETE_BY");
	dkms_conf_free(c);
}

static void test_validation_errors(void **state)
{
	struct conf_finish_opts o = std_opts();
	struct dkms_conf *c = NULL;
	_cleanup_free_ char *p = NULL;
	int r = eval_finish("PACKAGE_NAME=foo\n"
			    "PACKAGE_VERSION=1.0\n"
			    "BUILT_MODULE_NAME[0]=foo.ko\n"
			    "DEST_MODULE_LOCATION[0]=/lib/foo\n"
			    "BUILT_MODULE_NAME[1]=bar\n"
			    "DEST_MODULE_NAME[1]=bar.o\n"
			    "\n"
			    "DEST_MODULE_LOCATION[2]=/extra\n"
			    "AUTOINSTALL=maybe\n"
			    "DEST_MODULE_LOCATION[3]=\n"
			    "BUILT_MODULE_NAME[3]=three\n",
			    &o, &c, &p);
	assert_int_equal(r, -EINVAL);
	assert_null(c);
	_cleanup_free_ char *want = xasprintf(
		/* dkms 3.x's lines, each followed by rekmod's (--verbose) */
		"E: dkms.conf: Error! 'BUILT_MODULE_NAME' directive ends in '.o' or '.ko' in record #0.\n"
		"I: %1$s:3: BUILT_MODULE_NAME[0]=\"foo.ko\" must not end in .o or .ko; set it to \"foo\"\n"
		"E: dkms.conf: Error! Directive 'DEST_MODULE_LOCATION' does not begin with\n"
		"E: '/kernel', '/updates', or '/extra' in record #0.\n"
		"I: %1$s:4: DEST_MODULE_LOCATION[0]=\"/lib/foo\" must begin with /kernel, /updates or /extra; set it to \"/updates\"\n"
		"E: dkms.conf: Error! 'DEST_MODULE_NAME' directive ends in '.o' or '.ko' in record #1.\n"
		"I: %1$s:6: DEST_MODULE_NAME[1]=\"bar.o\" must not end in .o or .ko; set it to \"bar\"\n"
		"E: dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #1.\n"
		"I: %1$s: no DEST_MODULE_LOCATION[1] directive for module #1; add DEST_MODULE_LOCATION[1]=\"/updates\"\n"
		"E: dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #2.\n"
		"I: %1$s: no BUILT_MODULE_NAME[2] directive for module #2 (only a single module defaults to PACKAGE_NAME); add BUILT_MODULE_NAME[2]=\"<module name without .ko>\"\n"
		"E: dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #3.\n"
		"I: %1$s:10: DEST_MODULE_LOCATION[3] is empty; set it to \"/updates\"\n"
		"E: dkms.conf: Error! Unsupported AUTOINSTALL value 'maybe'\n"
		"I: %1$s:9: AUTOINSTALL=\"maybe\" must be yes, no or empty; set AUTOINSTALL=\"yes\"\n",
		p);
	assert_string_equal(log_text(), want);
}

static void test_missing_directives(void **state)
{
	struct conf_finish_opts o = std_opts();
	struct dkms_conf *c = NULL;
	_cleanup_free_ char *p = NULL;
	assert_int_equal(eval_finish("# nothing useful\nPACKAGE_VERSION=\n", &o, &c, &p), -EINVAL);
	_cleanup_free_ char *want = xasprintf(
		"E: dkms.conf: Error! No 'PACKAGE_NAME' directive specified.\n"
		"I: %1$s: no PACKAGE_NAME directive; add PACKAGE_NAME=\"<name>\"\n"
		"E: dkms.conf: Error! No 'PACKAGE_VERSION' directive specified.\n"
		"I: %1$s:2: PACKAGE_VERSION is empty; set PACKAGE_VERSION=\"<version>\"\n",
		p);
	assert_string_equal(log_text(), want);
}

static void test_strict(void **state)
{
	struct conf_finish_opts o = std_opts();
	o.strict = true;
	struct dkms_conf *c = NULL;
	_cleanup_free_ char *p = NULL;
	assert_int_equal(eval_finish(MIN_CONF "BUILT_MODULE_NAME[0]=a\nBUILT_MODULE_NAME[1]=a\n"
					      "BUILT_MODULE_LOCATION[1]=sub\nBUILT_MODULE_NAME[2]=a\n"
					      "DEST_MODULE_NAME[2]=b\nDEST_MODULE_LOCATION[0]=/extra\n"
					      "DEST_MODULE_LOCATION[1]=/extra\nDEST_MODULE_LOCATION[2]=/extra\n",
				     &o, &c, &p),
			 -EINVAL);
	_cleanup_free_ char *want = xasprintf(
		"E: dkms.conf: Error! Duplicate module 'a' in 'DEST_MODULE_NAME[1]'.\n"
		"I: %1$s:4: DEST_MODULE_NAME[1]=\"a\" duplicates module #0; give each module a distinct DEST_MODULE_NAME\n"
		"E: dkms.conf: Error! Duplicate module 'a' in 'BUILT_MODULE_NAME[2]'.\n"
		"I: %1$s:6: module #2 (BUILT_MODULE_LOCATION[2]=\"\" BUILT_MODULE_NAME[2]=\"a\") duplicates module #0; give each module a distinct name or location\n",
		p);
	assert_string_equal(log_text(), want);
	free(p);
	p = NULL;
	log_reset();

	/* non-strict: duplicates are fine */
	o.strict = false;
	assert_int_equal(eval_finish(MIN_CONF "BUILT_MODULE_NAME[0]=a\nBUILT_MODULE_NAME[1]=a\n"
					      "DEST_MODULE_LOCATION[0]=/extra\nDEST_MODULE_LOCATION[1]=/extra\n",
				     &o, &c, NULL),
			 0);
	dkms_conf_free(c);

	/* zero modules: accepted with dkms 3.x's warning, an empty build */
	log_reset();
	o.strict = true;
	assert_int_equal(eval_finish(MIN_CONF, &o, &c, NULL), 0);
	assert_int_equal(c->n_modules, 0);
	dkms_conf_free(c);
	assert_string_equal(log_text(), "W: dkms.conf: Warning! Zero modules specified.\n");
}

static void test_make_match(void **state)
{
	struct conf_finish_opts o = std_opts();
	struct dkms_conf *c;
	const char *conf = MIN_CONF "DEST_MODULE_LOCATION=/extra\n"
				    "MAKE[0]=\"make zero\"\n"
				    "MAKE[1]=\"make six\"\nMAKE_MATCH[1]='^6\\.'\n"
				    "MAKE[2]=\"make six-one\"\nMAKE_MATCH[2]='^6\\.1\\.'\n"
				    "MAKE[3]=\"make five\"\nMAKE_MATCH[3]='^5'\n"
				    "PATCH[0]=a.patch\nPATCH[1]=b.patch\nPATCH_MATCH[1]='^5'\n"
				    "PATCH[2]=c.patch\nPATCH_MATCH[2]='-amd64$'\n";
	assert_int_equal(eval_finish(conf, &o, &c, NULL), 0);
	assert_string_equal(c->make_command, "make six-one");
	assert_false(c->make_is_default);
	assert_int_equal(strv_len(c->patches), 2);
	assert_string_equal(c->patches[0], "a.patch");
	assert_string_equal(c->patches[1], "c.patch");
	dkms_conf_free(c);

	o.kernelver = "5.10.0-20-arm64";
	assert_int_equal(eval_finish(conf, &o, &c, NULL), 0);
	assert_string_equal(c->make_command, "make five");
	assert_int_equal(strv_len(c->patches), 2);
	assert_string_equal(c->patches[1], "b.patch");
	dkms_conf_free(c);

	o.kernelver = "4.19.0";
	assert_int_equal(eval_finish(conf, &o, &c, NULL), 0);
	assert_string_equal(c->make_command, "make zero");
	dkms_conf_free(c);

	/* MAKE_MATCH[0] set and not matching: no default MAKE[0] → generic make */
	assert_int_equal(eval_finish(MIN_CONF "DEST_MODULE_LOCATION=/extra\nMAKE=\"make x\"\nMAKE_MATCH=^9\n", &o, &c,
				     NULL),
			 0);
	assert_true(c->make_is_default);
	assert_string_equal(c->make_command,
			    "make -C /lib/modules/6.1.0-56-amd64/build M=/var/lib/dkms/foo/1.0/build");
	dkms_conf_free(c);
	assert_string_equal(log_text(), "");
}

static void test_strip(void **state)
{
	struct conf_finish_opts o = std_opts();
	struct dkms_conf *c;
	const char *base = MIN_CONF "BUILT_MODULE_NAME[0]=a\nBUILT_MODULE_NAME[1]=b\nBUILT_MODULE_NAME[2]=c\n"
				    "DEST_MODULE_LOCATION[0]=/extra\nDEST_MODULE_LOCATION[1]=/extra\n"
				    "DEST_MODULE_LOCATION[2]=/extra\n";
	static const struct {
		const char *strip;
		bool want[3];
	} t[] = {
		{ "", { true, true, true } },
		{ "STRIP[0]=no\n", { false, false, false } },
		{ "STRIP[0]=No\nSTRIP[1]=yes\n", { false, true, false } },
		{ "STRIP[1]=n\n", { true, false, true } },
		{ "STRIP[0]=Y\nSTRIP[2]=nope\n", { true, true, false } },
		{ "STRIP[0]=0\nSTRIP[1]=N\n", { true, false, true } },
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		_cleanup_free_ char *conf = xasprintf("%s%s", base, t[i].strip);
		assert_int_equal(eval_finish(conf, &o, &c, NULL), 0);
		for (int k = 0; k < 3; k++)
			assert_int_equal(c->modules[k].strip, t[i].want[k]);
		dkms_conf_free(c);
	}
}

static void test_autoinstall(void **state)
{
	struct conf_finish_opts o = std_opts();
	static const struct {
		const char *val;
		int r;
		bool want;
	} t[] = {
		{ "yes", 0, true }, { "YES", 0, true }, { "Yes", 0, true }, { "no", 0, false },
		{ "NO", 0, false }, { "", 0, false }, { "y", -EINVAL, false }, { "true", -EINVAL, false },
	};
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		struct dkms_conf *c = NULL;
		_cleanup_free_ char *conf = xasprintf(MIN_CONF "DEST_MODULE_LOCATION=/extra\nAUTOINSTALL=\"%s\"\n",
						      t[i].val);
		_cleanup_free_ char *p = NULL;
		log_reset();
		assert_int_equal(eval_finish(conf, &o, &c, &p), t[i].r);
		if (t[i].r == 0) {
			assert_int_equal(c->autoinstall, t[i].want);
			dkms_conf_free(c);
		} else {
			_cleanup_free_ char *want = xasprintf(
				"E: dkms.conf: Error! Unsupported AUTOINSTALL value '%2$s'\n"
				"I: %1$s:4: AUTOINSTALL=\"%2$s\" must be yes, no or empty; set AUTOINSTALL=\"yes\"\n", p,
				t[i].val);
			assert_string_equal(log_text(), want);
		}
	}
}

static bool excluded(const char *extra, const struct conf_finish_opts *o, bool *ret_mod1)
{
	struct dkms_conf *c;
	_cleanup_free_ char *conf = xasprintf(MIN_CONF "BUILT_MODULE_NAME[0]=a\nBUILT_MODULE_NAME[1]=b\n"
						       "DEST_MODULE_LOCATION[0]=/extra\nDEST_MODULE_LOCATION[1]=/extra\n%s",
					      extra);
	assert_int_equal(eval_finish(conf, o, &c, NULL), 0);
	bool r = c->build_exclude;
	if (ret_mod1)
		*ret_mod1 = c->modules[1].excluded;
	if (!ret_mod1) /* a global exclusion excludes every module (dkms 3.x) */
		assert_int_equal(c->modules[0].excluded, r);
	dkms_conf_free(c);
	return r;
}

static void test_build_exclusive(void **state)
{
	struct conf_finish_opts o = std_opts();
	_cleanup_free_ char *kconf = write_tmp("build/.config", "# CONFIG_FOO is not set\nCONFIG_PCI=y\n"
								 "CONFIG_USB=m\nCONFIG_NOPE=n\n");
	o.kernel_config = kconf;
	assert_false(excluded("", &o, NULL));
	assert_false(excluded("BUILD_EXCLUSIVE_KERNEL='^6\\.1\\.'\n", &o, NULL));
	assert_true(excluded("BUILD_EXCLUSIVE_KERNEL='^5\\.'\n", &o, NULL));
	assert_false(excluded("BUILD_EXCLUSIVE_ARCH='x86_64|i.86'\n", &o, NULL));
	assert_true(excluded("BUILD_EXCLUSIVE_ARCH=aarch64\n", &o, NULL));
	assert_false(excluded("BUILD_EXCLUSIVE_CONFIG=\"CONFIG_PCI CONFIG_USB !CONFIG_FOO !CONFIG_NOPE\"\n", &o, NULL));
	assert_true(excluded("BUILD_EXCLUSIVE_CONFIG=\"CONFIG_PCI CONFIG_FOO\"\n", &o, NULL));
	assert_true(excluded("BUILD_EXCLUSIVE_CONFIG=\"!CONFIG_USB\"\n", &o, NULL));
	assert_false(excluded("BUILD_EXCLUSIVE_KERNEL_MIN=6.1\nBUILD_EXCLUSIVE_KERNEL_MAX=6.1.0-56-amd64\n", &o, NULL));
	assert_true(excluded("BUILD_EXCLUSIVE_KERNEL_MIN=6.12\n", &o, NULL));
	assert_true(excluded("BUILD_EXCLUSIVE_KERNEL_MAX=6.1.0-9\n", &o, NULL));
	assert_false(excluded("BUILD_EXCLUSIVE_KERNEL_MAX=6.1.0-100\n", &o, NULL));

	/* no config file: BUILD_EXCLUSIVE_CONFIG ignored */
	o.kernel_config = "/nonexistent/.config";
	assert_false(excluded("BUILD_EXCLUSIVE_CONFIG=\"CONFIG_NOT_THERE\"\n", &o, NULL));
	o.kernel_config = kconf;

	/* per-module */
	bool m1;
	assert_false(excluded("BUILD_EXCLUSIVE_ARCH[1]=aarch64\n", &o, &m1));
	assert_true(m1);
	assert_false(excluded("BUILD_EXCLUSIVE_CONFIG[1]=CONFIG_PCI\nBUILD_EXCLUSIVE_KERNEL_MIN[1]=5\n", &o, &m1));
	assert_false(m1);
	assert_false(excluded("BUILD_EXCLUSIVE_CONFIG[1]=CONFIG_FOO\n", &o, &m1));
	assert_true(m1);

	struct dkms_conf *c;
	assert_int_equal(eval_finish(MIN_CONF "BUILT_MODULE_NAME[0]=a\nBUILT_MODULE_NAME[1]=b\n"
					      "DEST_MODULE_LOCATION[0]=/extra\nDEST_MODULE_LOCATION[1]=/extra\n"
					      "BUILD_EXCLUSIVE_KERNEL[0]='^6'\nBUILD_EXCLUSIVE_KERNEL[1]='^5'\n",
				     &o, &c, NULL),
			 0);
	assert_false(c->build_exclude);
	assert_false(c->modules[0].excluded);
	assert_true(c->modules[1].excluded);
	assert_true(c->has_exclusive);
	dkms_conf_free(c);
	/* dkms 3.x: [0] is the plain scalar bash reads as $NAME: every module's;
	 * none left to build excludes the build */
	assert_int_equal(eval_finish(MIN_CONF "BUILT_MODULE_NAME[0]=a\nBUILT_MODULE_NAME[1]=b\n"
					      "DEST_MODULE_LOCATION[0]=/extra\nDEST_MODULE_LOCATION[1]=/extra\n"
					      "BUILD_EXCLUSIVE_KERNEL[0]='^5'\nBUILD_EXCLUSIVE_KERNEL[1]='^6'\n",
				     &o, &c, NULL),
			 0);
	assert_true(c->build_exclude);
	assert_true(c->modules[0].excluded && c->modules[1].excluded);
	dkms_conf_free(c);
}

static void test_crlf(void **state)
{
	struct conf_finish_opts o = std_opts();
	struct dkms_conf *c;
	assert_int_equal(eval_finish("PACKAGE_NAME=\"foo\"\r\nPACKAGE_VERSION=1.0\r\n# c\r\n\r\n"
				     "MAKE[0]='make x' # c\r\nDEST_MODULE_LOCATION[0]=/extra\r\nAUTOINSTALL=yes\r\n",
				     &o, &c, NULL),
			 0);
	assert_string_equal(c->package_name, "foo");
	assert_string_equal(c->package_version, "1.0");
	assert_string_equal(c->make_command, "make x");
	assert_string_equal(c->modules[0].dest_location, "/extra");
	assert_true(c->autoinstall);
	dkms_conf_free(c);

	char *path = write_tmp("crlf.conf", "PACKAGE_NAME=a\r\nPACKAGE_VERSION=\"1\"\r\nMAKE=x\\\r\r\n");
	const char *files[] = { path };
	struct conf_vars *v = NULL;
	assert_int_equal(conf_eval_native(files, 1, &std_env, &test_log, &v), 0);
	assert_string_equal(conf_vars_elem(v, "PACKAGE_NAME", 0), "a");
	assert_string_equal(conf_vars_elem(v, "PACKAGE_VERSION", 0), "1");
	assert_string_equal(conf_vars_elem(v, "MAKE", 0), "x\r"); /* escaped \r kept, one stripped */
	conf_vars_free(v);
	assert_int_equal(conf_eval_bash(files, 1, &std_env, &test_log, &v), 0);
	assert_string_equal(conf_vars_elem(v, "MAKE", 0), "x\r");
	conf_vars_free(v);
	free(path);
}

/* ---- native reader ---- */

static void test_native_refuses(void **state)
{
	static const char *const t[] = {
		"A=$(echo x)\n", "A=`echo x`\n", "A=\"`x`\"\n", "A=${kernelver%%-*}\n", "A=${#kernelver}\n",
		"A=${kernelver:-x}\n", "A=$1\n", "A=$@\n", "A=$?\n", "A=$$\n", "A=\"$*\"\n",
		"A=$UNKNOWN_VAR\n", "A=\"${HOME}\"\n", "MAKE+=x\n", "MAKE=(a b)\n", "export A=1\n",
		"declare A=1\n", "if true; then A=1; fi\n", "A=1; B=2\n", "A=1 && B=2\n", "A=1 | cat\n",
		"A=1 >x\n", "A=~/x\n", "A=~\n", "A=\"abc\n", "A='abc\n", "A=\"a\nb\"\n", "A=a\\\nb\n",
		"echo hi\n", "A= cmd\n", "A=1 B=2\n", "A[010]=x\n", "A[1+1]=x\n", "A=$'x'\n", "A=$\"x\"\n",
		"A=\"x$\"\n", "RANDOM=4\n", "PATH=/x\n", "IFS=x\n", "_rk_n=x\n", "A=(\n", "f() { :; }\n",
		"case x in esac\n", "A=x)\n", "A=a<b\n", "[[ x ]]\n", "A=${MAKE[01]}\n",
		"source /etc/x\n", ". /etc/x\n",
	};
	char *path = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		free(path);
		path = write_tmp("refuse.conf", t[i]);
		const char *files[] = { path };
		struct conf_vars *v = NULL;
		int r = conf_eval_native(files, 1, &std_env, &test_log, &v);
		if (r != -ENOTSUP)
			fail_msg("native reader accepted: %s", t[i]);
		assert_null(v);
	}
	free(path);
	assert_string_equal(log_text(), "");
}

static void test_native_values(void **state)
{
	/* dkms's second expansion: blanks collapse, single-quoted $names expand */
	char *path = write_tmp("v.conf", "#!/bin/bash\n\n  X=1\nA=\"$X\"'$X'$X\\$X${X}\nB=${kernelver}-$arch\n"
					 "MAKE[2]=\"m   $module/$module_version $kernel_config\"\n"
					 "PACKAGE_NAME=$PACKAGE_VERSION-${MAKE[2]}\nPATCH=a#b # c\n"
					 "BUILT_MODULE_NAME=\"$B\"\nNOT_KEPT=x\nDEST_MODULE_NAME='${kernelver}  \\.\\$x'\n"
					 "CLEAN='  lead and trail  '\nPOST_ADD='$ end$'\n");
	const char *files[] = { path };
	struct conf_vars *v = NULL, *vb = NULL;
	assert_int_equal(conf_eval_native(files, 1, &std_env, &test_log, &v), 0);
	_cleanup_free_ char *d = conf_vars_dump(v);
	assert_string_equal(d, "BUILT_MODULE_NAME[0]=6.1.0-56-amd64-x86_64\n"
			       "CLEAN[0]= lead and trail \n"
			       "DEST_MODULE_NAME[0]=6.1.0-56-amd64 \\\\.$x\n"
			       "MAKE[2]=m foo/1.0 \n"
			       "PACKAGE_NAME[0]=-m foo/1.0 \n"
			       "PATCH[0]=a#b\n"
			       "POST_ADD[0]=$ end$\n");
	assert_int_equal(conf_eval_bash(files, 1, &std_env, &test_log, &vb), 0);
	assert_true(conf_vars_equal(v, vb));
	conf_vars_free(vb);
	assert_int_equal(conf_vars_count(v, "MAKE"), 3);
	assert_int_equal(conf_vars_count(v, "CLEAN"), 1);
	assert_null(conf_vars_elem(v, "MAKE", 0));
	assert_null(conf_vars_get(v, "NOT_KEPT"));
	conf_vars_free(v);

	/* conf_eval picks native here, bash for $(...) */
	bool used_bash = true;
	assert_int_equal(conf_eval(files, 1, &std_env, &test_log, &v, &used_bash), 0);
	assert_false(used_bash);
	conf_vars_free(v);
	free(path);
	path = write_tmp("b.conf", "PACKAGE_NAME=$(echo x)\n");
	files[0] = path;
	assert_int_equal(conf_eval(files, 1, &std_env, &test_log, &v, &used_bash), 0);
	assert_true(used_bash);
	assert_string_equal(conf_vars_elem(v, "PACKAGE_NAME", 0), "x");
	conf_vars_free(v);
	free(path);
	assert_string_equal(log_text(), "");
}

static void test_scoping(void **state)
{
	char *a = write_tmp("a.conf", "PACKAGE_NAME=p\nLOCAL=l\nkernelver=changed\nMAKE=\"$kernelver\"\n");
	char *b = write_tmp("etc/b.conf", "CLEAN=\"[$PACKAGE_NAME][$kernelver]\"\n");
	char *c = write_tmp("etc/c.conf", "POST_ADD=\"[$LOCAL]\"\n");
	const char *files[] = { a, "/nonexistent/x.conf", b };
	struct conf_vars *vn = NULL, *vb = NULL;
	assert_int_equal(conf_eval_native(files, 3, &std_env, &test_log, &vn), 0);
	assert_int_equal(conf_eval_bash(files, 3, &std_env, &test_log, &vb), 0);
	assert_true(conf_vars_equal(vn, vb));
	assert_string_equal(conf_vars_elem(vb, "MAKE", 0), "changed");
	assert_string_equal(conf_vars_elem(vb, "CLEAN", 0), "[p][6.1.0-56-amd64]");
	conf_vars_free(vn);
	conf_vars_free(vb);

	/* a non-whitelisted variable of an earlier file: native defers, bash sees it empty */
	const char *files2[] = { a, c };
	assert_int_equal(conf_eval_native(files2, 2, &std_env, &test_log, &vn), -ENOTSUP);
	assert_int_equal(conf_eval_bash(files2, 2, &std_env, &test_log, &vb), 0);
	assert_string_equal(conf_vars_elem(vb, "POST_ADD", 0), "[]");
	conf_vars_free(vb);
	free(a);
	free(b);
	free(c);
	assert_string_equal(log_text(), "");
}

static void test_bash_errors(void **state)
{
	char *p = write_tmp("syn.conf", "PACKAGE_NAME=x\nif then\n");
	const char *files[] = { p };
	struct conf_vars *v = NULL;
	assert_int_equal(conf_eval_bash(files, 1, &std_env, &test_log, &v), -EINVAL);
	assert_null(v);
	_cleanup_free_ char *want = xasprintf("E: %s: bash syntax error (see the messages above); fix the shell syntax\n", p);
	assert_non_null(strstr(log_text(), want));
	assert_non_null(strstr(log_text(), "W: "));
	free(p);

	log_reset();
	p = write_tmp("exit.conf", "PACKAGE_NAME=x\nexit 3\n");
	files[0] = p;
	assert_int_equal(conf_eval_bash(files, 1, &std_env, &test_log, &v), -EINVAL);
	_cleanup_free_ char *want2 = xasprintf(
		"E: %s: exited with status 3 while being sourced; remove the exit/failing command\n", p);
	assert_string_equal(log_text(), want2);
	free(p);

	/* stderr is forwarded as warnings, one per line, prefixed by the file */
	log_reset();
	p = write_tmp("warn.conf", "echo one >&2\necho two >&2\necho out\nPACKAGE_NAME=x\n");
	files[0] = p;
	assert_int_equal(conf_eval_bash(files, 1, &std_env, &test_log, &v), 0);
	_cleanup_free_ char *want3 = xasprintf("W: %1$s: one\nW: %1$s: two\n", p);
	assert_string_equal(log_text(), want3);
	assert_string_equal(conf_vars_elem(v, "PACKAGE_NAME", 0), "x");
	conf_vars_free(v);
	free(p);

	/* cwd is the conf's directory */
	log_reset();
	p = write_tmp("env.conf", "PACKAGE_NAME=\"$kernelver\"\nPACKAGE_VERSION=\"$(pwd)\"\n");
	files[0] = p;
	assert_int_equal(conf_eval_bash(files, 1, &std_env, &test_log, &v), 0);
	assert_string_equal(conf_vars_elem(v, "PACKAGE_NAME", 0), std_env.kernelver);
	assert_string_equal(conf_vars_elem(v, "PACKAGE_VERSION", 0), tmpdir);
	conf_vars_free(v);
	assert_string_equal(log_text(), "");

	/* dkms would expand a variable's value a second time: such values are refused */
	struct conf_env env = std_env;
	_cleanup_free_ char *marker = xasprintf("%s/pwned", tmpdir);
	_cleanup_free_ char *evil = xasprintf("$(touch %s)", marker);
	env.kernelver = evil;
	v = NULL;
	assert_int_equal(conf_eval_bash(files, 1, &env, &test_log, &v), -EINVAL);
	assert_int_equal(conf_eval_native(files, 1, &env, &test_log, &v), -EINVAL);
	assert_null(v);
	assert_false(path_exists(marker));
	_cleanup_free_ char *want4 = xasprintf("E: kernelver=\"%s\" holds a quote, $, ` or \\, which dkms would expand again while reading dkms.conf; use a name without them\n", evil);
	_cleanup_free_ char *want5 = xasprintf("%s%s", want4, want4);
	assert_string_equal(log_text(), want5);
	free(p);
}

/* Issue 15: the bash path used to read the subshell's status through
 * `wait $!` of a process substitution, which bash 5.2 sometimes answers with
 * -1. The status now comes from a command substitution. Up to 2000
 * evaluations (stopping after 25 s on a slow machine, at least 200), each
 * with the same result and no error. */
static void test_bash_deterministic(void **state)
{
	char *a = write_tmp("det.conf", "PACKAGE_NAME=det\nPACKAGE_VERSION=\"$(echo 1.0)\"\n"
					"PRE_BUILD=\"configure\n  --with-linux=$kernel_source_dir\n\"\n"
					"BUILT_MODULE_NAME[0]=det\nDEST_MODULE_LOCATION[0]=/updates\n");
	char *b = write_tmp("etc/det.conf", "MAKE[0]='make KVER=$kernelver'\n");
	const char *files[] = { a, b };
	struct conf_vars *first = NULL;
	assert_int_equal(conf_eval_bash(files, 2, &std_env, &test_log, &first), 0);
	_cleanup_free_ char *want = conf_vars_dump(first);
	assert_string_equal(want, "BUILT_MODULE_NAME[0]=det\nDEST_MODULE_LOCATION[0]=/updates\n"
				  "MAKE[0]=make KVER=6.1.0-56-amd64\nPACKAGE_NAME[0]=det\nPACKAGE_VERSION[0]=1.0\n"
				  "PRE_BUILD[0]=configure --with-linux=/lib/modules/6.1.0-56-amd64/build \n");
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int n = 0;
	for (; n < 2000; n++) {
		struct conf_vars *v = NULL;
		int r = conf_eval_bash(files, 2, &std_env, &test_log, &v);
		if (r != 0)
			fail_msg("run %d: conf_eval_bash returned %d\n%s", n, r, log_text());
		if (!conf_vars_equal(first, v))
			fail_msg("run %d: a different result", n);
		conf_vars_free(v);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= 25)
			break;
	}
	print_message("bash evaluator: %d identical runs in %lds\n", n, (long)(t.tv_sec - t0.tv_sec));
	assert_true(n >= 200);
	conf_vars_free(first);
	free(a);
	free(b);
	assert_string_equal(log_text(), "");
}

/* ---- corpus ---- */

static char *case_get(const char *envtext, const char *key, const char *def)
{
	size_t kl = strlen(key);
	for (const char *l = envtext; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t ll = nl ? (size_t)(nl - l) : strlen(l);
		if (ll > kl && strncmp(l, key, kl) == 0 && l[kl] == '=')
			return xstrndup(l + kl + 1, ll - kl - 1);
		l = nl ? nl + 1 : NULL;
	}
	return def ? xstrdup(def) : NULL;
}

static void check_expect(const char *dir, const struct conf_vars *v)
{
	_cleanup_free_ char *path = xasprintf("%s/expect", dir);
	_cleanup_free_ char *text = NULL;
	if (read_file(path, &text, NULL) < 0)
		return;
	for (char *l = text; l && *l;) {
		char *nl = strchr(l, '\n');
		if (nl)
			*nl = '\0';
		if (l[0] == '!') {
			if (conf_vars_get(v, l + 1))
				fail_msg("%s: %s should be unset", dir, l + 1);
		} else {
			char *br = strchr(l, '['), *eq = strstr(l, "]=");
			assert_non_null(br);
			assert_non_null(eq);
			*br = '\0';
			const char *got = conf_vars_elem(v, l, strtoul(br + 1, NULL, 10));
			if (!got || !streq(got, eq + 2))
				fail_msg("%s: %s[%lu]: want \"%s\", got \"%s\"", dir, l, strtoul(br + 1, NULL, 10),
					 eq + 2, got ? got : "(unset)");
		}
		l = nl ? nl + 1 : NULL;
	}
}

/* returns true when the native reader handled the case */
static bool corpus_case(const char *dir, const char *name)
{
	_cleanup_free_ char *envpath = xasprintf("%s/case.env", dir);
	_cleanup_free_ char *envtext = NULL;
	if (read_file(envpath, &envtext, NULL) < 0)
		envtext = xstrdup("");
	_cleanup_free_ char *kver = case_get(envtext, "kernelver", "6.1.0-56-amd64");
	_cleanup_free_ char *arch = case_get(envtext, "arch", "x86_64");
	_cleanup_free_ char *mod = case_get(envtext, "module", "mod");
	_cleanup_free_ char *ver = case_get(envtext, "version", "1.0");
	_cleanup_free_ char *valid = case_get(envtext, "valid", "yes");
	_cleanup_free_ char *native = case_get(envtext, "native", NULL);
	_cleanup_free_ char *ksd = xasprintf("/lib/modules/%s/build", kver);
	_cleanup_free_ char *kcfg = xasprintf("%s/.config", ksd);

	_cleanup_strv_free_ char **files = NULL;
	strv_push(&files, xasprintf("%s/dkms.conf", dir));
	strv_push(&files, xasprintf("%s/etc/dkms/%s.conf", dir, mod));
	strv_push(&files, xasprintf("%s/etc/dkms/%s-%s.conf", dir, mod, ver));
	strv_push(&files, xasprintf("%s/etc/dkms/%s-%s-%s.conf", dir, mod, ver, kver));
	strv_push(&files, xasprintf("%s/etc/dkms/%s-%s-%s-%s.conf", dir, mod, ver, kver, arch));

	struct conf_env env = {
		.kernelver = kver, .arch = arch, .kernel_source_dir = ksd, .kernel_config = kcfg,
		.dkms_tree = "/var/lib/dkms", .source_tree = "/usr/src", .install_tree = "/lib/modules",
		.module = mod, .module_version = ver, .parallel_jobs = "4", .current_kernel = kver,
		.running_distribution = "debian", .tmp_location = "/tmp",
	};
	struct conf_vars *vb = NULL, *vn = NULL;
	const char *const *f = (const char *const *)files;
	int r = conf_eval_bash(f, 5, &env, &test_log, &vb);
	if (r != 0)
		fail_msg("%s: bash evaluation failed: %d\n%s", name, r, log_text());
	if (vb->n_vars == 0)
		fail_msg("%s: bash result is empty", name);
	check_expect(dir, vb);

	r = conf_eval_native(f, 5, &env, &test_log, &vn);
	bool handled = r == 0;
	if (r == 0 && !conf_vars_equal(vb, vn)) {
		_cleanup_free_ char *db = conf_vars_dump(vb), *dn = conf_vars_dump(vn);
		print_error("%s: native and bash disagree\n--- bash\n%s--- native\n%s", name, db, dn);
		conf_vars_free(vn);
		conf_vars_free(vb);
		fail();
	}
	if (r != 0 && r != -ENOTSUP)
		fail_msg("%s: native failed: %d", name, r);
	if (native && streq(native, "yes") != handled)
		fail_msg("%s: native reader %s but case.env says native=%s", name,
			 handled ? "handled it" : "refused", native);
	conf_vars_free(vn);

	if (streq(valid, "yes")) {
		if (!conf_vars_elem(vb, "PACKAGE_NAME", 0))
			fail_msg("%s: PACKAGE_NAME not set", name);
		struct conf_finish_opts o = {
			.kernelver = kver, .arch = arch, .kernel_source_dir = ksd, .kernel_config = kcfg,
			.dkms_tree = "/var/lib/dkms", .module = mod, .module_version = ver, .distro = "debian",
		};
		struct dkms_conf *c = NULL;
		r = dkms_conf_finish(vb, files[0], &o, &test_log, &c);
		if (r != 0)
			fail_msg("%s: dkms_conf_finish failed\n%s", name, log_text());
		assert_true(c->n_modules > 0);
		dkms_conf_free(c);
	}
	conf_vars_free(vb);
	return handled;
}

static void test_corpus(void **state)
{
	const char *src = getenv("REKMOD_TEST_SRCDIR");
	_cleanup_free_ char *root = xasprintf("%s/tests/conf-corpus", src && *src ? src : ".");
	_cleanup_strv_free_ char **cases = list_dir(root);
	assert_non_null(cases);
	size_t n = 0, native = 0;
	for (char **c = cases; *c; c++) {
		_cleanup_free_ char *dir = xasprintf("%s/%s", root, *c);
		if (!is_dir(dir))
			continue;
		n++;
		native += corpus_case(dir, *c);
	}
	print_message("conf-corpus: %zu cases, %zu native-handled, %zu bash-only\n", n, native, n - native);
	assert_true(n >= 32);
	assert_true(native >= 14);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_compare),
		cmocka_unit_test(test_os_release_distro),
		cmocka_unit_test(test_dest_location_override),
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directives, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validation_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_directives, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strict, setup, teardown),
		cmocka_unit_test_setup_teardown(test_make_match, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_autoinstall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_exclusive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crlf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_native_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_native_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scoping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bash_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bash_deterministic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corpus, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
