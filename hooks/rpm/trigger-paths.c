/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pure logic of the rpm file triggers: which kernel or which module
 * source a path of the trigger's stdin names. No I/O here but the messages
 * on the stream given (unit-tested in tests/unit/test-rpmhook.c, fuzzed in
 * tests/fuzz/fuzz-rpmhook.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rekmod-rpm.h"
#include "strutil.h"

static const char *const kernel_prefixes[] = { "/usr/lib/modules", "/lib/modules", "/usr/src/kernels" };

/* The component after prefix in path: 1 and its extent, 0 when path is not
 * under prefix or is prefix itself. */
static int component_after(const char *path, const char *prefix, const char **ret_c, size_t *ret_n)
{
	size_t lp = strlen(prefix);
	if (strncmp(path, prefix, lp) != 0 || path[lp] != '/')
		return 0;
	const char *c = path + lp + 1;
	size_t n = strcspn(c, "/");
	if (n == 0 && c[0] == '\0')
		return 0; /* "prefix/" */
	*ret_c = c;
	*ret_n = n;
	return 1;
}

static int valid_component(const char *c, size_t n, char **ret)
{
	if (!name_is_valid_n(c, n))
		return -EINVAL;
	*ret = xstrndup(c, n);
	return 0;
}

int rpmhook_path_kver(const char *path, char **ret_kver)
{
	*ret_kver = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(kernel_prefixes); i++) {
		const char *c;
		size_t n;
		if (component_after(path, kernel_prefixes[i], &c, &n))
			return valid_component(c, n, ret_kver);
	}
	return 0;
}

char *rpmhook_canonical(const char *path)
{
	if (startswith(path, "/usr/lib/modules/"))
		return xstrdup(path + 4);
	return xstrdup(path);
}

int rpmhook_path_source(const char *path, char **ret_dir)
{
	const char *c;
	size_t n;
	*ret_dir = NULL;
	if (!component_after(path, "/usr/src", &c, &n) || !streq(c + n, "/dkms.conf"))
		return 0;
	return valid_component(c, n, ret_dir);
}

bool rpmhook_kernel_stays(const char *kver, char *const *erased, bool (*present)(const char *path, void *ud),
			  void *ud)
{
	/* files of kernel and kernel-devel packages, never written by depmod
	 * or rekmod: a kernel with an image or headers left stays (the core's
	 * rule) */
	const char *const in_modules[] = { "vmlinuz", "modules.order", "modules.builtin", "build" };
	char *paths[ARRAY_SIZE(in_modules) + 3] = { NULL };
	size_t n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(in_modules); i++)
		paths[n++] = xasprintf("/lib/modules/%s/%s", kver, in_modules[i]);
	paths[n++] = xasprintf("/boot/vmlinuz-%s", kver);
	paths[n++] = xasprintf("/usr/src/kernels/%s", kver);
	bool stays = false;
	for (size_t i = 0; i < n; i++)
		stays = stays || (present(paths[i], ud) && !strv_contains(erased, paths[i]));
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	return stays;
}

char **rpmhook_paths(char *const *lines, FILE *err)
{
	char **v = xcalloc(1, sizeof(char *));
	for (size_t i = 0; lines[i]; i++) {
		if (lines[i][0] != '/')
			fprintf(err, "%s: stdin: \"%s\" is not an absolute path; ignored\n", RPMHOOK_PROG, lines[i]);
		else
			strv_push(&v, xstrdup(lines[i]));
	}
	return v;
}

char **rpmhook_kernels(char *const *paths, FILE *err)
{
	char **ks = xcalloc(1, sizeof(char *));
	for (size_t i = 0; paths[i]; i++) {
		char *k = NULL;
		if (rpmhook_path_kver(paths[i], &k) < 0)
			fprintf(err,
				"%s: %s: the kernel release after /lib/modules/ or /usr/src/kernels/ must be one path "
				"component (not empty, '.' or '..'); ignored\n",
				RPMHOOK_PROG, paths[i]);
		else if (k)
			strv_push_unique(&ks, k);
		free(k);
	}
	return ks;
}
