/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The target lines alpm hands a NeedsTargets hook, parsed and validated
 * before any of them becomes a path (fuzzed in tests/fuzz/fuzz-alpmhook.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rekmod-alpm.h"
#include "strutil.h"

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
	*ret_kind = kind;
	*ret_name = xstrndup(s, n);
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
	for (size_t i = 0; i < ARRAY_SIZE(modroots); i++) {
		size_t l = strlen(modroots[i]);
		if (!startswith(p, modroots[i]))
			continue;
		const char *k = p + l, *slash = strchr(k, '/');
		size_t n = slash ? (size_t)(slash - k) : strlen(k);
		if (!name_is_valid_n(k, n))
			return -EINVAL;
		if (!slash || !slash[1]) /* the kernel's directory itself */
			return take(k, n, ALPM_TARGET_KERNEL, ret_kind, ret_name);
		bool headers = strncmp(slash + 1, "build", 5) == 0 && (slash[6] == '\0' || slash[6] == '/');
		return take(k, n, headers ? ALPM_TARGET_HEADERS : ALPM_TARGET_KERNEL, ret_kind, ret_name);
	}
	size_t pl = strlen(p);
	if (startswith(p, "usr/src/") && pl > 18 && endswith(p, "/dkms.conf")) {
		const char *d = p + 8, *slash = strchr(d, '/');
		if (strcmp(slash, "/dkms.conf") != 0) /* the glob's '*' matched a '/' */
			return -EINVAL;
		{
			size_t n = (size_t)(slash - d);
			/* the hook splits <module>-<version> at the last '-': a version is never empty */
			const char *dash = memrchr(d, '-', n);
			if (!name_is_valid_n(d, n) || !dash || dash == d || dash == d + n - 1)
				return -EINVAL;
			return take(d, n, ALPM_TARGET_SOURCE, ret_kind, ret_name);
		}
	}
	*ret_kind = ALPM_TARGET_OTHER;
	*ret_name = NULL;
	return 0;
}

void alpm_targets_read(char *const *lines, char ***kernels, char ***sources, FILE *err)
{
	for (size_t i = 0; lines[i]; i++) {
		const char *line = lines[i];
		enum alpm_target_kind kind;
		char *name = NULL;
		if (alpm_target_parse(line, &kind, &name) < 0) {
			fprintf(err,
				"%s: target \"%s\": a kernel release (usr/lib/modules/<release>/) or module source "
				"(usr/src/<module>-<version>/) must be one path component, without '..'; ignored\n",
				ALPM_HOOK_PROG, line);
			continue;
		}
		if (kind == ALPM_TARGET_SOURCE)
			strv_push_unique(sources, name);
		else if (kind != ALPM_TARGET_OTHER)
			strv_push_unique(kernels, name);
		free(name);
	}
}
