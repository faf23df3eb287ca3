/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dkms.conf: evaluation (native reader for plain assignments, bash for the
 * rest), then dkms's defaults and validation. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* ---- raw evaluation result: whitelisted directive name -> sparse array ---- */
struct conf_elem {
	unsigned long index;
	char *value; /* as dkms's safe_source leaves it (one trailing CR removed, as dkms 3.x) */
};
struct conf_var {
	char *name;
	struct conf_elem *elems; /* sorted by index, unique */
	size_t n_elems;
};
struct conf_vars {
	struct conf_var *vars; /* sorted by name (strcmp), only names set by a file */
	size_t n_vars;
};

/* The variables dkms defines while it sources dkms.conf (all may be NULL,
 * meaning empty). */
struct conf_env {
	const char *kernelver;
	const char *arch;
	const char *kernel_source_dir;
	const char *kernel_config;
	const char *dkms_tree;
	const char *source_tree;
	const char *install_tree;
	const char *module;
	const char *module_version;
	const char *parallel_jobs;
	const char *current_kernel;
	const char *running_distribution;
	const char *tmp_location;
	int timeout_seconds; /* > 0: bash (and all it started) is killed after that long */
};

/* The names dkms keeps from dkms.conf (its dkms_conf_variables plus the
 * BUILD_EXCLUSIVE_* / BUILD_DEPENDS_REBUILD family of dkms 3.x). NULL-terminated. */
extern const char *const conf_whitelist[];

void conf_vars_free(struct conf_vars *v);
const struct conf_var *conf_vars_get(const struct conf_vars *v, const char *name);
/* element `index` of `name`, or NULL when unset */
const char *conf_vars_elem(const struct conf_vars *v, const char *name, unsigned long index);
/* The highest array index rekmod accepts in dkms.conf (and the overrides).
 * dkms reads modules 0..count-1 (count = ${#BUILT_MODULE_NAME[@]} etc., the
 * number of elements), so an index at or above the count is never read
 * there; real files number from 0 (Debian 12's largest, lttng-modules, has
 * 54 modules). A higher index is an error, never an allocation. */
#define CONF_INDEX_MAX 1023UL

/* max index + 1, 0 when unset (bash's ${#A[@]} is the element count; dkms
 * uses the count, see conf_vars_count) */
unsigned long conf_vars_count(const struct conf_vars *v, const char *name);
/* Identical? (used by the differential test of the two evaluators) */
bool conf_vars_equal(const struct conf_vars *a, const struct conf_vars *b);
/* "NAME[i]=value\n" lines, for diffs and debugging */
char *conf_vars_dump(const struct conf_vars *v);

/* Files are sourced in order, later ones override earlier ones; missing files
 * are skipped. Native: returns -ENOTSUP when any file needs bash. */
int conf_eval_native(const char *const *files, size_t n_files, const struct conf_env *env,
		     const struct rk_log *log, struct conf_vars **ret);
int conf_eval_bash(const char *const *files, size_t n_files, const struct conf_env *env,
		   const struct rk_log *log, struct conf_vars **ret);
/* native, falling back to bash; *ret_used_bash tells which (may be NULL) */
int conf_eval(const char *const *files, size_t n_files, const struct conf_env *env,
	      const struct rk_log *log, struct conf_vars **ret, bool *ret_used_bash);

/* ---- typos ----
 * The directive an upper-case name of at least five letters is one edit
 * from (two from nine letters on), when it is none itself; else NULL. */
const char *conf_directive_typo(const char *name);
/* One warning per assignment (NAME=, NAME+=, NAME[i]=, at a line's start) to
 * such a name: "Warning: <path>:<line>: NAME is no dkms.conf directive and is
 * ignored; did you mean X?". The text is scanned, not run: both readers see
 * the same warnings. conf_check_typos reads each file (missing ones skipped). */
void conf_warn_typos(const char *path, const char *text, const struct rk_log *log);
void conf_check_typos(const char *const *files, size_t n_files, const struct rk_log *log);

/* ---- processed configuration ---- */
struct dkms_module {
	char *built_name;         /* BUILT_MODULE_NAME[i] or default */
	char *built_location;     /* "" or ending in '/' */
	char *dest_name;          /* DEST_MODULE_NAME[i] or built_name */
	char *dest_location;      /* after the distro override */
	char *dest_location_conf; /* DEST_MODULE_LOCATION[i] as written */
	bool strip;
	bool excluded; /* per-module BUILD_EXCLUSIVE_*[i] does not match */
};

struct dkms_conf {
	char *path; /* the dkms.conf that was read */
	char *package_name, *package_version;
	char *make_command; /* selected MAKE[] (MAKE_MATCH applied) or the default */
	bool make_is_default;
	char *clean;
	char *pre_build, *post_build, *post_add, *pre_install, *post_install, *post_remove;
	bool autoinstall;
	char **build_depends; /* NULL-terminated */
	bool build_depends_rebuild;
	char **patches;       /* PATCH[] selected for this kernel by PATCH_MATCH[] */
	char *obsolete_by;
	bool no_weak_modules; /* also: no symbol-compatible reuse (reuse.c) */
	bool no_reuse;        /* NO_REUSE=yes: every kernel compiles (reuse.c) */
	bool build_exclude; /* BUILD_EXCLUSIVE_* leave no module to build for kernel/arch/config */
	bool has_exclusive; /* any BUILD_EXCLUSIVE_* directive for one of the modules (dkms 3.x) */
	char **deprecated;  /* names of deprecated directives that were set */
	struct dkms_module *modules;
	size_t n_modules;
};

struct conf_finish_opts {
	const char *kernelver;
	const char *arch;
	const char *kernel_source_dir; /* for the default make command */
	const char *kernel_config;     /* .config path for BUILD_EXCLUSIVE_CONFIG (may not exist) */
	const char *dkms_tree, *module, *module_version; /* default make: M=<dkms_tree>/<m>/<v>/build */
	const char *distro;   /* running_distribution: "debian", "fedora", ... or NULL */
	const char *addon_modules_dir; /* ADDON_MODULES_DIR, overrides distro */
	bool strict;          /* add/build/install: duplicate names etc. are errors */
};

/* Applies dkms's defaults and validation. Each problem is logged at LOG_ERR as
 * one line "<path>:<line>: <what is wrong>; <how to fix it>" (line 0 when the
 * directive is absent). Returns 0, or -EINVAL when the file is invalid. */
int dkms_conf_finish(const struct conf_vars *vars, const char *path, const struct conf_finish_opts *o,
		     const struct rk_log *log, struct dkms_conf **ret);
void dkms_conf_free(struct dkms_conf *c);

/* The distro id dkms uses: ID for ubuntu, else the whole ID_LIKE value if set (matched by prefix, as dkms does),
 * else ID, from the os-release text given. NULL if none. */
char *os_release_distro(const char *os_release_text);
/* DEST_MODULE_LOCATION after the distro override */
const char *dest_location_override(const char *distro, const char *addon_dir, const char *conf_location);
