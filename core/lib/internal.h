/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "dkmsconf.h"
#include "rekmod.h"
#include "util.h"

struct rekmod_ctx {
	struct rk_log log;
	char *root;         /* "" for the real root, else an absolute path without trailing '/' */
	char *dkms_tree;    /* as configured (inside the root) */
	char *source_tree;
	char *install_tree;
	char *dkms_tree_path; /* root + dkms_tree: the path this process uses */
	char *source_tree_path;
	char *install_tree_path;
	char *kernel_source_dir; /* --kernelsourcedir, or NULL */
	char *kernel_config;     /* --config, or NULL */
	char *conf;              /* -c, or NULL */
	char **directives;
	char *distro;            /* running_distribution: NULL until ctx_distro() reads it */
	char *addon_modules_dir;
	char *arch;              /* uname -m */
	char *current_kernel;    /* uname -r */
	char *post_transaction;
	char *sign_file, *mok_signing_key, *mok_certificate, *try_sign_modules; /* framework.conf or environment */
	bool mok_hint_done; /* the Secure Boot enrollment hint is given once per run */
	char *prologue_said; /* "<kernel>/<arch>" whose signing prologue was said (build.c: once per run) */
	bool no_os_release; /* neither /etc/os-release nor /usr/lib/os-release (require_os_release) */
	char *deprecated_said; /* the dkms.conf whose deprecated features were said (conf.c: once per run) */
	int jobs;
	bool force, force_version_override, no_depmod, verbose;
	bool reuse_kernels;    /* framework.conf reuse_kernels (default yes): builds of equivalent kernels are reused */
	bool reuse_compatible; /* framework.conf reuse_compatible_kernels="yes": and of symbol-compatible ones */
	char *jobserver; /* "R,W": builds share this make jobserver (sync) */
	char *headers_cache;        /* framework.conf: where archive.c keeps downloaded headers */
	char *publish_gpg_key;      /* framework.conf: the GnuPG key that signs a published repository */
	char *distributed_compiler; /* framework.conf: distcc or icecc, put before the kernel's CC */
	int distributed_jobs;       /* framework.conf: jobserver slots when builds are distributed */
	int lock_fd;
	unsigned lock_depth;
	int lock_timeout; /* framework.conf's lock_timeout_seconds; 0: 1800 */
	int conf_timeout;   /* conf_timeout_seconds: bash evaluating dkms.conf; set in ctx_new */
	int make_timeout;   /* make_timeout_seconds: each MAKE; 0: none (dkms has none) */
	int script_timeout; /* script_timeout_seconds: each PRE_BUILD ... POST_REMOVE; 0: none */
	char **build_env_allow; /* build_environment_allow: more names MAKE and the scripts get */
	char *build_user; /* framework.conf's build_user: NULL or "" builds as root (sandbox.c) */
};

#define log_of(ctx) (&(ctx)->log)

/* ctx.c: REKMOD_E_NOCONF (4) and dkms 3.x's error when the root has no os-release */
int require_os_release(struct rekmod_ctx *ctx);

/* default conf_timeout_seconds: dkms.conf is read in milliseconds */
#define CONF_TIMEOUT_SECONDS 60

/* root + path */
char *root_path(const struct rekmod_ctx *ctx, const char *path);
const char *ctx_distro(const struct rekmod_ctx *ctx); /* os-release ID, read on first use; "unknown" */
/* Resolve a symlink the way a program inside the root would see it. With
 * host_fallback, an absolute target missing in the root is taken from the
 * host: only for kernel `build` links (headers of a scratch root). */
char *resolve_link(const struct rekmod_ctx *ctx, const char *link, bool host_fallback);

/* tree.c: the dkms tree, and every record rekmod keeps in it */
/* Exclusive lock of the dkms tree (reentrant within the process). */
int tree_lock(struct rekmod_ctx *ctx);
void tree_unlock(struct rekmod_ctx *ctx);
/* In a process forked while the lock is held (a build worker): it and its
 * children die with the lock holder, so none outlives it holding the lock. */
void tree_lock_child(struct rekmod_ctx *ctx);
char *mv_dir(const struct rekmod_ctx *ctx, const char *m, const char *v);
char *build_base(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a);
char *kernel_link(const struct rekmod_ctx *ctx, const char *m, const char *k, const char *a);
/* the registered source directory, as this process reaches it */
char *source_dir(const struct rekmod_ctx *ctx, const char *m, const char *v);
bool tree_is_added(const struct rekmod_ctx *ctx, const char *m, const char *v);
bool tree_is_built(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a);
bool tree_is_installed(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a);
/* the version whose build is installed for k/a (kernel-K-A link), or NULL */
char *tree_installed_version(const struct rekmod_ctx *ctx, const char *m, const char *k, const char *a);
char *kernel_link_version(const char *target, const char *k, const char *a);
/* registered versions of m, sorted; all modules when m is NULL ("m/v" strings) */
char **tree_list_added(const struct rekmod_ctx *ctx, const char *m);
/* is any version of module m registered? */
bool tree_is_registered(const struct rekmod_ctx *ctx, const char *m);
/* <base>/.rekmod-installed: what an install put where */
char *tree_install_record(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a);
/* <base>/.rekmod-installing: an install's intent ("file\t<dst>" and
 * "orig\t<origin>\t<archived>" lines, paths inside the root), written before
 * the install changes anything and cleared when it is recorded or undone */
int tree_intent_write(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a,
		      const char *text);
char *tree_intent_read(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a);
bool tree_intent_exists(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a);
int tree_intent_clear(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a);
/* depmod owed to kernel k: set before its modules change, cleared after depmod */
int tree_depmod_pending_set(const struct rekmod_ctx *ctx, const char *k);
bool tree_depmod_pending(const struct rekmod_ctx *ctx, const char *k);
void tree_depmod_pending_clear(const struct rekmod_ctx *ctx, const char *k);
/* unlinks <prefix>.rekmod-tmp.* in dir (prefix NULL: every *.rekmod-tmp.*) */
void tree_drop_temporaries(const char *dir, const char *prefix);
/* <base>/.dep_<d>: the build of dependency d this build was made against */
int tree_write_dep(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a,
		   const char *d, const char *identity);
char *tree_read_dep(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a,
		    const char *d);
/* failure and skip records, with a hash of the inputs (source, /etc/dkms, headers) */
enum record_kind { RECORD_FAILED, RECORD_SKIPPED };
/* is there a record of this kind whose inputs are still the current ones? */
bool tree_record_matches(const struct rekmod_ctx *ctx, enum record_kind kind, const char *m, const char *v,
			 const char *k, const char *a);
/* writes the record (a failure keeps the build's make.log beside it); returns
 * that log's path or NULL */
char *tree_record_write(struct rekmod_ctx *ctx, enum record_kind kind, const char *m, const char *v,
			const char *k, const char *a, int code);
void tree_record_clear(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a);
/* a failure record read back: its file name, and its fields (NULL when absent) */
struct failure_record {
	char *kernel, *arch, *exit, *log;
};
bool tree_is_failure_record(const char *file_name);
void tree_parse_failure(const char *text, struct failure_record *ret);
void failure_record_done(struct failure_record *r);
/* <m>/<v>/log/make-<K>-<A>.log: a failed build's make.log, kept with its record */
char *tree_failure_log(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a);
/* the first compiler "error:" line of a make.log (trimmed), or NULL */
char *log_first_error(const char *log);
/* <m>/.rekmod-optout-<K>-<A>: the user removed m from K; sync leaves it off */
bool tree_optout(const struct rekmod_ctx *ctx, const char *m, const char *k, const char *a);
void tree_optout_write(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a);
void tree_optout_clear(const struct rekmod_ctx *ctx, const char *m, const char *k, const char *a);
void tree_optouts_forget(const struct rekmod_ctx *ctx, const char *m);
/* an opt-out record read back: its file name, its fields (NULL when absent) */
bool tree_is_optout_record(const char *file_name);
void tree_parse_optout(const char *text, char **ret_version, char **ret_kernel, char **ret_arch);
/* <dkms_tree>/.rekmod-journal: appends one record (rotated past 256 KiB) */
void tree_journal_append(struct rekmod_ctx *ctx, const char *record);
/* a rebuild: the build set aside, then kept (keep: the new one stays) or put back */
int tree_build_aside(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a);
void tree_build_aside_done(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a,
			   bool keep);
/* reuse: <dkms_tree>/.rekmod-kernels/<K> caches the hash of K's normalized
 * headers (reuse.c) while key (the headers' identity) is unchanged */
char *tree_kernel_hash_read(const struct rekmod_ctx *ctx, const char *k, const char *key);
int tree_kernel_hash_write(const struct rekmod_ctx *ctx, const char *k, const char *key, const char *hash);
/* <base>/.rekmod-reused: this build is a copy of kernel k0's build (how:
 * "equivalent" or "compatible"), written into the build's staging directory
 * dir before it becomes <base>; read back: k0 (NULL: a build of its own) */
#define TREE_REUSED_RECORD ".rekmod-reused"
int tree_reused_write(const char *dir, const char *k0, const char *how);
char *tree_reused_from(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a,
		       char **ret_how);
char *tree_parse_reused(const char *text, char **ret_how);

/* kernel.c: kernel discovery */
bool kernel_dir_name_ok(const char *name);
/* the kernels of the install tree (valid names), sorted by version; with_headers: only those with headers */
char **kernels_in_tree(const struct rekmod_ctx *ctx, bool with_headers);
bool kernel_has_image(const struct rekmod_ctx *ctx, const char *kernel);
/* <install_tree>/<kernel>/build, resolved (headers of a scratch root may be the host's) */
char *kernel_build_dir(const struct rekmod_ctx *ctx, const char *kernel);
/* does dir hold kernel headers (an include/ directory)? */
bool kernel_headers_in(const char *dir);
/* does kernel_build_dir() hold headers? */
bool kernel_has_headers(const struct rekmod_ctx *ctx, const char *kernel);
/* --kernelsourcedir, else kernel_build_dir() */
char *kernel_source_dir(const struct rekmod_ctx *ctx, const char *kernel);
char *kernel_config_path(const struct rekmod_ctx *ctx, const char *kernel);

/* archive.c: headers of a kernel not installed here, from the package archive */
/* framework.conf's headers_cache, default <dkms_tree>/.headers */
char *archive_cache_dir(const struct rekmod_ctx *ctx);
/* the cached header tree of kernel (<cache>/<K>/build resolved), or NULL */
char *archive_build_dir(const struct rekmod_ctx *ctx, const char *kernel);
/* downloads and unpacks it unless cached: 0 or REKMOD_E_NOHEADERS/GENERIC */
int archive_fetch_headers(struct rekmod_ctx *ctx, const char *kernel);
/* pure helpers, unit-tested */
char *archive_relative_target(const char *rel, const char *target);
/* every absolute link under dir made relative; then -EXDEV and *ret_bad
 * ("rel -> target") if a link leads outside dir */
int archive_fix_links(const char *dir, char **ret_bad);
char *archive_fix_includes(const char *text, const char *root);
char **archive_parse_depends(const char *pkg, const char *out);
char *archive_header_subdir(const char *tmp, const char *kernel);

/* exec.c: the compiler the kernel was built with (gcc-12), when on PATH, or NULL */
char *kernel_cc(const struct rekmod_ctx *ctx, const char *kernel);

/* verbs.c: publish's builds, (m[i], v[i], k[i]) NULL-terminated, one parallel plan */
int run_publish_builds(struct rekmod_ctx *ctx, char *const *m, char *const *v, char *const *k);

/* mkpkg.c: <m>-modules-<kver>, the name of a binaries-only package */
char *pack_binary_name(const char *m, const char *k);
/* mkpkg.c: the rpm Version of dkms version v ('-' and ':' are '_') */
char *pack_rpm_version(const char *v);
/* publish.c: does an rpm repository's file list hold package pkg at dkms
 * version v (<pkg>-<rpm version>-<release>.<arch>.rpm)? */
bool publish_rpm_listed(char *const *files, const char *pkg, const char *v);

/* conf.c: dkms.conf of a registered module for one kernel */
struct conf_req {
	const char *module, *version, *kernel, *arch;
	const char *path; /* NULL: the registered source's dkms.conf (or -c) */
	bool strict;
};
int conf_read(struct rekmod_ctx *ctx, const struct conf_req *req, struct dkms_conf **ret);
int conf_read_quiet(const struct rekmod_ctx *ctx, const struct conf_req *req, struct dkms_conf **ret);

/* exec.c: logging children and scripts */
int run_logged(struct rekmod_ctx *ctx, const char *const *argv, const char *cwd, int *ret_status);
/* a dkms.conf script (POST_ADD, PRE_BUILD, ...) of module m, relative to dir;
 * a same-named executable in /etc/dkms/<m>/ replaces it */
int run_script(struct rekmod_ctx *ctx, const char *m, const char *kind, const char *script, const char *dir);
/* exec.c: the directory POST_ADD ... POST_REMOVE run in (the tree's source link, as dkms 3.x) */
char *script_dir(const struct rekmod_ctx *ctx, const char *m, const char *v);
/* PRE_BUILD with its output in the build's make.log; its exit status */
int run_pre_build(struct rekmod_ctx *ctx, const char *m, const char *k, const char *script, const char *dir,
		  int logfd, const char *logpath);
/* PRE_BUILD or POST_BUILD (kind), as run_pre_build; k: the kernel (NULL: none) */
int run_build_script(struct rekmod_ctx *ctx, const char *m, const char *k, const char *kind, const char *script,
		     const char *dir, int logfd, const char *logpath);
/* a make.log section as dkms 3.x writes it: title, command, ..., exit code, time */
struct timespec;
void log_section_begin(int fd, const char *title, const char *cmd, struct timespec *t0);
void log_section_end(int fd, int status, const struct timespec *t0);
/* the clean environment of MAKE and the scripts (kernel NULL: no one kernel's) */
char **build_env(const struct rekmod_ctx *ctx, const char *kernel);
/* a tool (tar, dpkg-deb, rpmbuild): its output is logged, as errors when it
 * fails; 0 or REKMOD_E_GENERIC */
int run_tool(struct rekmod_ctx *ctx, const char *const *argv, const char *cwd);

/* pkgdb.c: the package that gives kernel headers, from a package-database
 * backend when one is installed (malloc'd) */
char *headers_package_hint(const struct rekmod_ctx *ctx, const char *kernel);

/* depmod.c */
int run_depmod(struct rekmod_ctx *ctx, const char *kernel, bool *ret_ran);
bool depmod_would_run(const struct rekmod_ctx *ctx, const char *kernel);

/* dlopen.c: libraries loaded on first use. In the file that uses a library:
 *   DL_PROTO(kmod_new);
 *   static struct dl_lib libkmod = { .soname = "libkmod.so.2", .package = "libkmod2",
 *                                    .syms = (const struct dl_sym[]){ DL_SYM(kmod_new), { 0 } } };
 * then dl_load(&libkmod, &err) before calling sym_kmod_new(...). */
struct dl_sym {
	const char *name;
	void *slot; /* address of the function pointer to fill */
};
struct dl_lib {
	const char *soname, *package;
	const struct dl_sym *syms; /* ends with { 0 } */
	void *handle;
};
#define DL_PROTO(fn) static __typeof__(&fn) sym_##fn
#define DL_SYM(fn) { #fn, &sym_##fn }
/* 0, or -ELIBACC and (ret_error may be NULL) "cannot load X (why); install P" */
int dl_load(struct dl_lib *lib, char **ret_error);

/* kmodinfo.c: version and srcversion of a module file, with libkmod */
int module_verinfo(const char *path, char **ret_version, char **ret_srcversion);
/* the first value of modinfo field key (malloc'd), or NULL */
char *module_info_value(const char *path, const char *key);
/* signer and sig_key of a module file (NULL when unsigned) */
int module_signature(const char *path, char **ret_signer, char **ret_sig_key);
/* find <name>.ko[.gz|.xz|.zst] regular files under dir (not following symlinks) */
char **find_module_files(const char *dir, const char *name);
/* one module file under dir (any name), or NULL */
char *find_any_module_file(const char *dir);
/* does a file name end in .ko[.gz|.xz|.zst]? */
bool is_module_file_name(const char *file);
/* "<dir>/<name>.ko" or a compressed variant that exists, or NULL */
char *module_file_in(const char *dir, const char *name);

/* compress.c: module compression the kernel reads */
enum rk_compress { RK_COMPRESS_NONE, RK_COMPRESS_GZIP, RK_COMPRESS_XZ, RK_COMPRESS_ZSTD };
const char *compress_suffix(enum rk_compress c); /* "", ".gz", ".xz", ".zst" */
const char *compress_name(enum rk_compress c);   /* "none", "gzip", "xz", "zstd" */
/* from the .config's CONFIG_MODULE_COMPRESS_*, else modules.dep's suffix; *why names the source */
enum rk_compress compress_choose_from(const char *config_path, const char *modules_dep_path, const char **why);
enum rk_compress compress_choose(struct rekmod_ctx *ctx, const char *kernel);
int compress_buffer(enum rk_compress c, const void *in, size_t n, void **out, size_t *out_n);
/* compress src into dst (written atomically) */
int compress_file(enum rk_compress c, const char *src, const char *dst, mode_t mode);

/* sign.c: module signing with the kernel's sign-file and the MOK */
struct sign_plan {
	char *sign_file, *hash, *key, *cert;
	bool enforce; /* CONFIG_MODULE_SIG_FORCE=y: a failure is an error */
	bool sign;    /* modules are to be signed for the kernel */
};
/* 0 and a plan (sign set when modules are to be signed), or a dkms exit
 * code (enforcing kernel and no usable key). sign_prepare_say says dkms
 * 3.x's prepare_signing lines ("Sign command: ...", "Signing key: ...",
 * "Public certificate (MOK): ..." or why nothing is signed), in its order;
 * sign_prepare logs them (--debug). Once per kernel, the blank line after
 * them: the caller's (build.c). */
int sign_prepare(struct rekmod_ctx *ctx, const char *kernel, struct sign_plan *plan);
int sign_prepare_say(struct rekmod_ctx *ctx, const char *kernel, struct sign_plan *plan);
/* 0, or REKMOD_E_BUILD when the plan enforces signatures and signing failed;
 * shown names the module in messages (NULL: path) */
int sign_module(struct rekmod_ctx *ctx, const struct sign_plan *plan, const char *path, const char *shown);
void sign_plan_done(struct sign_plan *plan);
/* build.c: sign_prepare and, once per kernel and run, dkms 3.x's "Sign command: ..." lines */
int sign_prologue(struct rekmod_ctx *ctx, const char *k, const char *a, struct sign_plan *plan);
/* What a kernel expects of signatures (its .config) and the tool that signs
 * for it: what sign_prepare starts from, and what doctor reports (no key is
 * touched, nothing is logged). */
struct sign_kernel {
	bool in_chroot;    /* running in a chroot and try_sign_modules is not "true" */
	bool disabled;     /* try_sign_modules=false, or in_chroot */
	char *config;      /* the kernel's .config (or --config) */
	bool config_found;
	bool verifies;     /* the config sets CONFIG_MODULE_SIG_HASH (dkms 3.x's test) */
	bool enforce;      /* CONFIG_MODULE_SIG_FORCE=y */
	char *hash;        /* CONFIG_MODULE_SIG_HASH (sha512 when empty); NULL unless verifies */
	char *sign_file;   /* the tool found, else the last path tried; NULL unless verifies */
	bool sign_file_found;
};
void sign_kernel_facts(struct rekmod_ctx *ctx, const char *kernel, struct sign_kernel *ret);
void sign_kernel_done(struct sign_kernel *k);
bool secure_boot_from_efivar(const char *data, size_t n);
/* creates the key (PEM, 0600) and the DER certificate where missing, in
 * directories that exist; never overwrites a key */
int mok_generate(const char *key_path, const char *cert_path, char **ret_error);
/* the MD5 digest of data (mkdeb's md5sums); 0 or -errno */
int digest_md5(const void *data, size_t n, unsigned char ret[16]);

/* tarball.c: the kernels (and arches) a tarball or package carries: those
 * given, or every kernel the module is built for */
void pack_kernels(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, char ***ret_k, char ***ret_a);

/* build.c / install.c: the steps a job runs. A step's messages go to its own
 * copy of the context's log sink (the executor may lower its limit) and its
 * force flags come from the verb's policy, so no step changes the context. */
struct step {
	struct rekmod_ctx *ctx;
	struct rk_log log;
	bool force, force_version_override;
};
/* the source tree dir is root's (or the caller's) and nobody else can write
 * in it, else one error line and REKMOD_E_NOPERM (--force: a warning, 0) */
int check_source_trust(struct rekmod_ctx *ctx, const char *dir);
/* a path dkms.conf gives relative to a tree has no ".." component */
bool conf_path_inside(const char *p);
/* the paths of every module stay inside their trees (dest: the install
 * location too); else one error line naming the directive, its value, the fix */
bool conf_paths_ok(const struct rekmod_ctx *ctx, const struct rk_log *log, const struct dkms_conf *c, bool dest);
char *dependency_identity(const struct rekmod_ctx *ctx, const char *d, const char *k, const char *a);
int do_build(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a);
/* a module file staged at dst: signed (plan may be NULL), then compressed
 * (the plain .ko removed); shown names it in a signing failure (NULL: dst) */
int build_finish_module(struct rekmod_ctx *ctx, const struct sign_plan *plan, enum rk_compress comp,
			const char *dst, const char *shown);
/* builds first when not built; depmod is the executor's */
int do_install(struct step *st, const char *m, const char *v, const char *k, const char *a);
/* An install a crash interrupted (its intent record is there): finished when
 * it was recorded (2), else undone (1: files removed or put back, originals
 * restored, temporaries dropped); 0 when there was none. */
int install_recover(struct step *st, const char *m, const char *v, const char *k, const char *a);
int do_uninstall(struct step *st, const char *m, const char *v, const char *k, const char *a);
int do_unbuild(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a);

/* tarball.c: mktarball with its progress lines at most at log_max */
int mktarball_logged(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, int log_max);
/* add <dir>: copies a source tree into the source tree (force: replace it) */
int add_path(struct rekmod_ctx *ctx, const char *dir, bool force, char **ret_module, char **ret_version);
/* registers m/v (the tree lock held) */
int add_locked(struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a);

/* Messages carry dkms's own prefixes, so a sink can print them as they are. */
#define say(ctx, ...) rk_notice(log_of(ctx), __VA_ARGS__)
#define dk_error(ctx, fmt, ...) rk_err(log_of(ctx), "Error! " fmt, ##__VA_ARGS__)
#define dk_warn(ctx, fmt, ...) rk_warn(log_of(ctx), "Warning: " fmt, ##__VA_ARGS__)

/* sandbox.c: make and the build-time scripts as framework.conf's build_user,
 * only `writable` (the build directory) and a private /tmp writable, no
 * network where the kernel allows; plain rk_run / rk_run_capture without
 * build_user. 0 and the exit status, or -errno (said). */
int sandbox_run(struct rekmod_ctx *ctx, const struct rk_spawn *s, const char *writable, int *ret_status);
int sandbox_run_capture(struct rekmod_ctx *ctx, const struct rk_spawn *s, const char *writable, char **ret_out,
			int *ret_status);
