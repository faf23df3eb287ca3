/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Module files: find them in a kernel's tree, read their modinfo with libkmod
 * (loaded on first use). */
#include <dirent.h>
#include <fcntl.h>
#include <libkmod.h>
#include <sys/stat.h>

#include "internal.h"

static const char *const suffixes[] = { ".ko", ".ko.gz", ".ko.xz", ".ko.zst" };

DL_PROTO(kmod_new);
DL_PROTO(kmod_unref);
DL_PROTO(kmod_module_new_from_path);
DL_PROTO(kmod_module_unref);
DL_PROTO(kmod_module_get_info);
DL_PROTO(kmod_module_info_free_list);
DL_PROTO(kmod_module_info_get_key);
DL_PROTO(kmod_module_info_get_value);
DL_PROTO(kmod_list_next);

static struct dl_lib libkmod = {
	.soname = "libkmod.so.2",
	.package = "libkmod2",
	.syms = (const struct dl_sym[]){ DL_SYM(kmod_new), DL_SYM(kmod_unref), DL_SYM(kmod_module_new_from_path),
				 DL_SYM(kmod_module_unref), DL_SYM(kmod_module_get_info),
				 DL_SYM(kmod_module_info_free_list), DL_SYM(kmod_module_info_get_key),
				 DL_SYM(kmod_module_info_get_value), DL_SYM(kmod_list_next), { 0 } },
};

/* Calls fn(userdata, key, value) for each modinfo field of the module file
 * at path (libkmod reads .ko, .ko.gz, .ko.xz, .ko.zst and the signature).
 * 0 or -errno. */
static int modinfo_each(const char *path, void (*fn)(void *userdata, const char *key, const char *value),
			void *userdata)
{
	int r = dl_load(&libkmod, NULL);
	if (r < 0)
		return r;
	const char *null_config = NULL;
	struct kmod_ctx *kctx = sym_kmod_new("/nonexistent", &null_config);
	if (!kctx)
		return -ENOMEM;
	struct kmod_module *mod = NULL;
	struct kmod_list *info = NULL;
	r = sym_kmod_module_new_from_path(kctx, path, &mod);
	if (r >= 0 && (r = sym_kmod_module_get_info(mod, &info)) >= 0) {
		for (struct kmod_list *l = info; l; l = sym_kmod_list_next(info, l))
			fn(userdata, sym_kmod_module_info_get_key(l), sym_kmod_module_info_get_value(l));
		sym_kmod_module_info_free_list(info);
		r = 0;
	}
	sym_kmod_module_unref(mod);
	sym_kmod_unref(kctx);
	return r;
}

/* the first value of each wanted key; want and got are parallel */
struct modinfo_want {
	const char *const *keys;
	char **got;
	bool non_empty; /* skip empty values */
};

static void modinfo_pick(void *userdata, const char *key, const char *value)
{
	struct modinfo_want *w = userdata;
	for (size_t i = 0; w->keys[i]; i++)
		if (!w->got[i] && value && (!w->non_empty || *value) && streq(key, w->keys[i]))
			w->got[i] = xstrdup(value);
}

static int modinfo_get(const char *path, const char *const *keys, char **got, bool non_empty)
{
	struct modinfo_want w = { keys, got, non_empty };
	int r = modinfo_each(path, modinfo_pick, &w);
	if (r < 0)
		for (size_t i = 0; keys[i]; i++) {
			free(got[i]);
			got[i] = NULL;
		}
	return r;
}

int module_verinfo(const char *path, char **ret_version, char **ret_srcversion)
{
	static const char *const keys[] = { "version", "srcversion", NULL };
	char *got[2] = { NULL, NULL };
	int r = modinfo_get(path, keys, got, false);
	if (r < 0)
		return r;
	*ret_version = got[0] ? xstrndup(got[0], strcspn(got[0], " ")) : xstrdup("");
	*ret_srcversion = got[1] ? got[1] : xstrdup("");
	free(got[0]);
	return 0;
}

/* The first value of a modinfo field (vermagic, license, ...), or NULL. */
char *module_info_value(const char *path, const char *key)
{
	const char *const keys[] = { key, NULL };
	char *got[1] = { NULL };
	modinfo_get(path, keys, got, false);
	return got[0];
}

int module_signature(const char *path, char **ret_signer, char **ret_sig_key)
{
	static const char *const keys[] = { "signer", "sig_key", NULL };
	char *got[2] = { NULL, NULL };
	int r = modinfo_get(path, keys, got, true);
	if (r < 0)
		return r;
	*ret_signer = got[0];
	*ret_sig_key = got[1];
	return 0;
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
