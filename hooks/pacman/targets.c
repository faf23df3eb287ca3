/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The target lines alpm hands a NeedsTargets hook, parsed and validated
 * before any of them becomes a path. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rekmod-alpm.h"

/* One path component: not empty, not "." or "..", no control bytes, bounded. */
static bool component_ok(const char *s, size_t n)
{
	if (n == 0 || n > 200 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* Any ".." component in the path? */
static bool has_dotdot(const char *p)
{
	for (const char *s = p; (s = strstr(s, "..")); s += 2)
		if ((s == p || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
			return true;
	return false;
}

static int take(const char *s, size_t n, enum alpm_target_kind kind, enum alpm_target_kind *ret_kind,
		char **ret_name)
{
	char *name = strndup(s, n);
	if (!name)
		return -ENOMEM;
	*ret_kind = kind;
	*ret_name = name;
	return 0;
}

int alpm_target_parse(const char *line, enum alpm_target_kind *ret_kind, char **ret_name)
{
	static const char *const modroots[] = { "usr/lib/modules/", "lib/modules/" };
	const char *p = line;
	while (*p == '/')
		p++;
	if (has_dotdot(p))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(modroots) / sizeof(modroots[0]); i++) {
		size_t l = strlen(modroots[i]);
		if (strncmp(p, modroots[i], l) != 0)
			continue;
		const char *k = p + l, *slash = strchr(k, '/');
		size_t n = slash ? (size_t)(slash - k) : strlen(k);
		if (!component_ok(k, n))
			return -EINVAL;
		if (!slash || !slash[1]) /* the kernel's directory itself */
			return take(k, n, ALPM_TARGET_KERNEL, ret_kind, ret_name);
		bool headers = strncmp(slash + 1, "build", 5) == 0 && (slash[6] == '\0' || slash[6] == '/');
		return take(k, n, headers ? ALPM_TARGET_HEADERS : ALPM_TARGET_KERNEL, ret_kind, ret_name);
	}
	size_t pl = strlen(p);
	if (strncmp(p, "usr/src/", 8) == 0 && pl > 18 && strcmp(p + pl - 10, "/dkms.conf") == 0) {
		const char *d = p + 8, *slash = strchr(d, '/');
		if (strcmp(slash, "/dkms.conf") != 0) /* the glob's '*' matched a '/' */
			return -EINVAL;
		{
			size_t n = (size_t)(slash - d);
			const char *dash = memchr(d, '-', n);
			if (!component_ok(d, n) || !dash || dash == d || dash == d + n - 1)
				return -EINVAL;
			return take(d, n, ALPM_TARGET_SOURCE, ret_kind, ret_name);
		}
	}
	*ret_kind = ALPM_TARGET_OTHER;
	*ret_name = NULL;
	return 0;
}
