/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Module files: find them in a kernel's tree, read version/srcversion with libkmod. */
#include <dirent.h>
#include <fcntl.h>
#include <libkmod.h>
#include <sys/stat.h>

#include "internal.h"

static const char *const suffixes[] = { ".ko", ".ko.gz", ".ko.xz", ".ko.zst" };

int module_verinfo(const char *path, char **ret_version, char **ret_srcversion)
{
	const char *null_config = NULL;
	struct kmod_ctx *kctx = kmod_new("/nonexistent", &null_config);
	if (!kctx)
		return -ENOMEM;
	struct kmod_module *mod = NULL;
	int r = kmod_module_new_from_path(kctx, path, &mod);
	if (r < 0) {
		kmod_unref(kctx);
		return r;
	}
	struct kmod_list *info = NULL, *l;
	char *version = NULL, *srcversion = NULL;
	r = kmod_module_get_info(mod, &info);
	if (r >= 0) {
		kmod_list_foreach(l, info)
		{
			const char *key = kmod_module_info_get_key(l);
			const char *val = kmod_module_info_get_value(l);
			if (streq(key, "version") && !version && val)
				version = xstrndup(val, strcspn(val, " "));
			else if (streq(key, "srcversion") && !srcversion && val)
				srcversion = xstrdup(val);
		}
		kmod_module_info_free_list(info);
		r = 0;
	}
	kmod_module_unref(mod);
	kmod_unref(kctx);
	if (r < 0) {
		free(version);
		free(srcversion);
		return r;
	}
	*ret_version = version ? version : xstrdup("");
	*ret_srcversion = srcversion ? srcversion : xstrdup("");
	return 0;
}

/* The first value of a modinfo field (vermagic, license, ...), or NULL. */
char *module_info_value(const char *path, const char *key)
{
	const char *null_config = NULL;
	struct kmod_ctx *kctx = kmod_new("/nonexistent", &null_config);
	if (!kctx)
		return NULL;
	struct kmod_module *mod = NULL;
	struct kmod_list *info = NULL, *l;
	char *val = NULL;
	if (kmod_module_new_from_path(kctx, path, &mod) >= 0 && kmod_module_get_info(mod, &info) >= 0) {
		kmod_list_foreach(l, info)
		{
			const char *v = kmod_module_info_get_value(l);
			if (!val && v && streq(kmod_module_info_get_key(l), key))
				val = xstrdup(v);
		}
		kmod_module_info_free_list(info);
	}
	kmod_module_unref(mod);
	kmod_unref(kctx);
	return val;
}

/* <name>.ko[.gz|.xz|.zst]; any module file when name is NULL */
static bool name_matches(const char *file, const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (name && strncmp(file, name, n) != 0)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++)
		if (name ? streq(file + n, suffixes[i]) : endswith(file, suffixes[i]))
			return true;
	return false;
}

bool is_module_file_name(const char *file)
{
	return name_matches(file, NULL);
}

/* first: stop at the first match */
static void walk(int dfd, const char *path, const char *name, bool first, char ***out)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)) && !(first && (*out)[0])) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				_cleanup_free_ char *p = xasprintf("%s/%s", path, de->d_name);
				walk(sub, p, name, first, out);
			}
		} else if (S_ISREG(st.st_mode) && name_matches(de->d_name, name)) {
			strv_push(out, xasprintf("%s/%s", path, de->d_name));
		}
	}
	closedir(d);
}

static char **find_modules(const char *dir, const char *name, bool first)
{
	char **out = xcalloc(1, sizeof(char *));
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		walk(fd, dir, name, first, &out);
	return out;
}

char **find_module_files(const char *dir, const char *name)
{
	return find_modules(dir, name, false);
}

char *find_any_module_file(const char *dir)
{
	_cleanup_strv_free_ char **v = find_modules(dir, NULL, true);
	return v[0] ? xstrdup(v[0]) : NULL;
}

char *module_file_in(const char *dir, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		char *p = xasprintf("%s/%s%s", dir, name, suffixes[i]);
		struct stat st;
		if (lstat(p, &st) == 0 && (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
			return p;
		free(p);
	}
	return NULL;
}
