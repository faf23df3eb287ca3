/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The libapt-pkg shim (librekmod-apt.so, loaded as the core loads it) against
 * scratch dpkg status files, and the core's use of it for the headers hint. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dlfcn.h>

#include "internal.h"
#include "rekmod-apt.h"

static int (*list_installed)(const char *, const char *, int (*)(const char *, const char *, void *), void *);
static int (*headers_package)(const char *, const char *, char **);
static char *so_path;

static const char status_text[] =
	"Package: linux-headers-6.1.0-99-amd64\nStatus: install ok installed\nArchitecture: amd64\n"
	"Version: 6.1.999-1\nMaintainer: t <t@localhost>\nDescription: headers\n\n"
	"Package: linux-image-6.1.0-99-amd64\nStatus: install ok installed\nArchitecture: amd64\n"
	"Version: 6.1.999-1\nMaintainer: t <t@localhost>\nDescription: image\n\n"
	"Package: linux-headers-6.1.0-98-amd64\nStatus: install ok unpacked\nArchitecture: amd64\n"
	"Version: 6.1.998-1\nMaintainer: t <t@localhost>\nDescription: half-installed headers\n\n"
	"Package: hello-dkms\nStatus: install ok installed\nArchitecture: all\n"
	"Version: 0.1-1\nMaintainer: t <t@localhost>\nDescription: module\n";

static char *scratch_root(void)
{
	char *d = xstrdup("/tmp/rekmod-aptshim.XXXXXX");
	assert_non_null(mkdtemp(d));
	_cleanup_free_ char *dpkg = xasprintf("%s/var/lib/dpkg", d);
	_cleanup_free_ char *st = xasprintf("%s/status", dpkg);
	assert_int_equal(mkdir_p(dpkg, 0755), 0);
	assert_int_equal(write_file_atomic(st, status_text, strlen(status_text), 0644), 0);
	return d;
}

static int setup(void **state)
{
	(void)state;
	const char *top = getenv("REKMOD_TEST_SRCDIR");
	so_path = xasprintf("%s/build/librekmod-apt.so", top ? top : ".");
	void *h = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		print_error("cannot load %s: %s\n", so_path, dlerror());
		return -1;
	}
	*(void **)&list_installed = dlsym(h, "rekmod_apt_list_installed");
	*(void **)&headers_package = dlsym(h, "rekmod_apt_headers_package");
	return list_installed && headers_package ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	free(so_path);
	return 0;
}

static int collect(const char *name, const char *version, void *userdata)
{
	sb_printf(userdata, "%s %s\n", name, version);
	return 0;
}

static int stop_at_first(const char *name, const char *version, void *userdata)
{
	(void)name, (void)version, (void)userdata;
	return 42;
}

static void test_list_installed(void **state)
{
	(void)state;
	_cleanup_free_ char *r = scratch_root();
	struct strbuf b = { 0 };
	assert_int_equal(list_installed(r, "linux-", collect, &b), 0);
	/* only fully installed packages, only the prefix, in any order */
	assert_non_null(strstr(b.s, "linux-headers-6.1.0-99-amd64 6.1.999-1\n"));
	assert_non_null(strstr(b.s, "linux-image-6.1.0-99-amd64 6.1.999-1\n"));
	assert_null(strstr(b.s, "6.1.0-98"));
	assert_null(strstr(b.s, "hello-dkms"));
	sb_free(&b);
	assert_int_equal(list_installed(r, "", stop_at_first, NULL), 42);
	rm_rf(r);
}

static void test_headers_package(void **state)
{
	(void)state;
	_cleanup_free_ char *r = scratch_root();
	char *name = NULL;
	assert_int_equal(headers_package(r, "6.1.0-99-amd64", &name), 0);
	assert_string_equal(name, "linux-headers-6.1.0-99-amd64");
	free(name);
	name = NULL;
	assert_int_equal(headers_package(r, "6.1.0-12345-amd64", &name), -ENOENT);
	assert_null(name);
	assert_int_equal(headers_package(r, "../x", &name), -EINVAL);
	rm_rf(r);
}

static void quiet(void *u, int p, const char *m)
{
	(void)u, (void)p, (void)m;
}

/* The core asks the backend named by REKMOD_PKGDB_BACKEND. */
static void test_core_hint(void **state)
{
	(void)state;
	_cleanup_free_ char *r = scratch_root();
	struct rekmod_ctx *ctx = NULL;
	struct rekmod_options o = { .root = r, .log_fn = quiet };
	assert_int_equal(rekmod_new(&o, &ctx), 0);
	setenv("REKMOD_PKGDB_BACKEND", so_path, 1);
	_cleanup_free_ char *known = headers_package_hint(ctx, "6.1.0-99-amd64");
	_cleanup_free_ char *unknown = headers_package_hint(ctx, "6.1.0-12345-amd64");
	setenv("REKMOD_PKGDB_BACKEND", "/nonexistent/librekmod-apt.so", 1);
	_cleanup_free_ char *fallback = headers_package_hint(ctx, "6.1.0-99-amd64");
	unsetenv("REKMOD_PKGDB_BACKEND");
	assert_string_equal(known, "linux-headers-6.1.0-99-amd64");
	assert_string_equal(unknown,
			    "linux-headers-6.1.0-12345-amd64 (not in the package database: check your package sources)");
	assert_string_equal(fallback, "linux-headers-6.1.0-99-amd64");
	rekmod_unref(ctx);
	rm_rf(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_installed),
		cmocka_unit_test(test_headers_package),
		cmocka_unit_test(test_core_hint),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
