/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * rekmod — keeps out-of-tree kernel modules built and installed for every
 * kernel, in DKMS's tree layout and with DKMS's semantics.
 *
 * One opaque context carries the root directory, the configuration
 * (framework.conf and the options below) and a log sink. The library never
 * prints: everything a person may see goes through the log callback, with
 * syslog priorities (LOG_ERR: an error, LOG_WARNING: a warning, LOG_NOTICE:
 * normal progress output, LOG_INFO: verbose detail, LOG_DEBUG: commands run).
 *
 * Every verb returns 0 or one of DKMS's exit codes (enum rekmod_exit), so
 * the `rekmod`/`dkms` command can exit with the value as is.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

enum rekmod_exit {
	REKMOD_OK = 0,
	REKMOD_E_GENERIC = 1,      /* bad arguments, no write access, bad names */
	REKMOD_E_NOSOURCE = 2,     /* source directory missing; unknown option */
	REKMOD_E_EXISTS = 3,       /* already added; not in tree */
	REKMOD_E_NOCONF = 4,       /* no dkms.conf; more than one action */
	REKMOD_E_INSTALLED = 5,    /* --all banned; patch missing */
	REKMOD_E_INSTALL = 6,      /* install aborted, no kernel dir, depmod failed */
	REKMOD_E_PATCH = 6,        /* a patch did not apply */
	REKMOD_E_NOKO = 7,         /* make succeeded but a .ko is missing */
	REKMOD_E_BADTARBALL = 7,   /* ldtarball: no valid dkms.conf in the tarball */
	REKMOD_E_BADCONF = 8,      /* invalid dkms.conf, empty source */
	REKMOD_E_NOPERM = 9,       /* no write permission; add <dir> without a dkms.conf */
	REKMOD_E_BUILD = 10,       /* make failed */
	REKMOD_E_AUTOINSTALL = 11, /* autoinstall: a module failed */
	REKMOD_E_DEPENDS = 13,     /* BUILD_DEPENDS not installed */
	REKMOD_E_UNBUILD = 14,     /* kernel_preinst/prerm: a module could not be removed */
	REKMOD_E_NOHEADERS = 21,   /* kernel headers not found */
	REKMOD_E_SKIPPED = 77,     /* BUILD_EXCLUSIVE does not match */
	REKMOD_E_PREINSTALL = 101, /* PRE_INSTALL script failed */
};

struct rekmod_ctx;

typedef void (*rekmod_log_fn)(void *userdata, int priority, const char *msg);

struct rekmod_options {
	const char *root;        /* every path resolves under it; NULL or "/" = real root */
	const char *dkms_tree;   /* NULL: framework.conf, then /var/lib/dkms */
	const char *source_tree; /* NULL: framework.conf, then /usr/src */
	const char *install_tree;      /* NULL: framework.conf, then /lib/modules */
	const char *kernel_source_dir; /* --kernelsourcedir */
	const char *kernel_config;     /* --config */
	const char *conf;              /* -c: alternate dkms.conf */
	const char *const *directives; /* --directive NAME=value, NULL-terminated */
	int jobs;                      /* -j; 0: framework.conf parallel_jobs, then CPUs */
	bool force;
	bool force_version_override;
	bool no_depmod;
	bool verbose;
	rekmod_log_fn log_fn;
	void *log_userdata;
	int log_priority; /* highest priority delivered; 0 means LOG_NOTICE (LOG_INFO with verbose) */
};

/* Creates a context: reads the root's os-release and framework.conf. Returns
 * 0 or -errno (bad root). */
int rekmod_new(const struct rekmod_options *opts, struct rekmod_ctx **ret);
/* Frees it; NULL is fine. Returns NULL. */
struct rekmod_ctx *rekmod_unref(struct rekmod_ctx *ctx);

/* The effective trees (root prefix included) and default arch. */
const char *rekmod_dkms_tree(const struct rekmod_ctx *ctx);
const char *rekmod_source_tree(const struct rekmod_ctx *ctx);
const char *rekmod_install_tree(const struct rekmod_ctx *ctx);
const char *rekmod_default_arch(const struct rekmod_ctx *ctx);

/* add: registers m/v, whose source is <source_tree>/<m>-<v>. */
int rekmod_add(struct rekmod_ctx *ctx, const char *module, const char *version);
/* add from a directory holding a dkms.conf (copied to the source tree) */
int rekmod_add_path(struct rekmod_ctx *ctx, const char *dir, char **ret_module, char **ret_version);

/* ---- the verbs that change builds and installs: one entry point ----
 * Each request becomes one plan of jobs run by one executor: builds under
 * one make jobserver, installs in BUILD_DEPENDS order, one depmod per
 * kernel touched, post_transaction once (autoinstall). */
enum rekmod_verb {
	REKMOD_VERB_BUILD,
	REKMOD_VERB_INSTALL,
	REKMOD_VERB_UNINSTALL,
	REKMOD_VERB_UNBUILD,
	REKMOD_VERB_REMOVE,
	REKMOD_VERB_AUTOINSTALL,     /* every AUTOINSTALL module, newest version, for the one kernel */
	REKMOD_VERB_KERNEL_POSTINST, /* autoinstall, as dkms 3.x does it */
	REKMOD_VERB_KERNEL_PREINST,  /* unbuild the AUTOINSTALL modules built for the one kernel */
	REKMOD_VERB_KERNEL_PRERM,    /* unbuild every module built for the one kernel */
	REKMOD_VERB_MATCH,           /* install on the one kernel what is installed on template_kernel */
	REKMOD_VERB_PUBLISH,         /* build m/v for every kernel in parallel (jobserver), install nothing:
				      * the builds of rekmod_publish */
};

struct rekmod_request {
	enum rekmod_verb verb;
	const char *module, *version; /* m/v; match: module optional; autoinstall and kernel_*: unused */
	const char *const *kernels;   /* NULL-terminated; autoinstall, match, kernel_*: exactly one */
	const char *const *arches;    /* parallel to kernels, or NULL: the default arch */
	bool all; /* build, install: every kernel with headers; uninstall, unbuild, remove: every
		   * kernel m/v is built for (kernels is then ignored) */
	const char *template_kernel; /* match */
};

/* Returns 0 or a dkms exit code: the failed step's (build, install, match),
 * REKMOD_E_AUTOINSTALL (autoinstall, kernel_postinst), REKMOD_E_UNBUILD (kernel_preinst/prerm). */
int rekmod_run(struct rekmod_ctx *ctx, const struct rekmod_request *req);

/* One (module, version, kernel, arch) at a time: rekmod_run with one kernel.
 * arch NULL means the default arch. */
int rekmod_build(struct rekmod_ctx *ctx, const char *module, const char *version, const char *kernel,
		 const char *arch);
int rekmod_install(struct rekmod_ctx *ctx, const char *module, const char *version, const char *kernel,
		   const char *arch);
int rekmod_uninstall(struct rekmod_ctx *ctx, const char *module, const char *version, const char *kernel,
		     const char *arch);
int rekmod_unbuild(struct rekmod_ctx *ctx, const char *module, const char *version, const char *kernel,
		   const char *arch);
/* uninstall + unbuild for each of the kernels (NULL-terminated, arches
 * parallel or NULL), then unregister m/v when no build is left. */
int rekmod_remove(struct rekmod_ctx *ctx, const char *module, const char *version, const char *const *kernels,
		  const char *const *arches);
/* Every AUTOINSTALL module, newest version, BUILD_DEPENDS order. */
int rekmod_autoinstall(struct rekmod_ctx *ctx, const char *kernel, const char *arch);
/* match --templatekernel T -k K [module]: installs on K what is installed on T. */
int rekmod_match(struct rekmod_ctx *ctx, const char *template_kernel, const char *kernel, const char *arch,
		 const char *module);
/* kernel_preinst (only_autoinstall) / kernel_prerm: unbuilds what is built for
 * kernel, one depmod. Returns 0, or REKMOD_E_UNBUILD. */
int rekmod_kernel_unbuild_all(struct rekmod_ctx *ctx, const char *kernel, bool only_autoinstall);

/* Is m/v registered? */
bool rekmod_is_added(struct rekmod_ctx *ctx, const char *module, const char *version);
/* The kernels/arches m/v is built for, sorted as `sort -V` does (for --all). */
int rekmod_built_kernels(struct rekmod_ctx *ctx, const char *module, const char *version, char ***ret_kernels,
			 char ***ret_arches);

/* ---- status ---- */
enum rekmod_state {
	REKMOD_ADDED,
	REKMOD_BUILT,
	REKMOD_INSTALLED,
	REKMOD_BROKEN,
	REKMOD_FAILED, /* sync recorded a failed build for kernel/arch (detail: its make.log) */
	REKMOD_OPTOUT, /* the user removed the module from kernel/arch: sync leaves it off
			* (not a dkms state: status shows it with --verbose and --json only) */
};

enum {
	REKMOD_NOTE_ORIGINAL = 1 << 0,    /* original modules archived */
	REKMOD_NOTE_DIFFERS = 1 << 1,     /* installed file differs from the built one */
	REKMOD_NOTE_NOT_INSTALLED = 1 << 2, /* built, marker says installed, files missing */
};

struct rekmod_status {
	char *module, *version, *kernel, *arch; /* kernel/arch NULL for added/broken */
	enum rekmod_state state;
	unsigned notes;
	char *detail; /* REKMOD_FAILED: "exit N, see <make.log>" */
	int exit_code; /* REKMOD_FAILED: the exit code of the failed build; -1 when unknown or not failed */
	char *log;     /* REKMOD_FAILED: the make.log path kept for it; NULL when none or not failed */
	char *reused_from; /* built or installed: the kernel whose build this one reuses (no compile); else NULL */
};

/* Filters may be NULL. Entries in dkms's order. */
int rekmod_status_list(struct rekmod_ctx *ctx, const char *module, const char *version, const char *kernel,
		       const char *arch, struct rekmod_status **ret, size_t *ret_n);
void rekmod_status_free(struct rekmod_status *s, size_t n);
/* Who signed a built or installed entry's modules (libkmod: signer, sig_key),
 * both set to NULL when unsigned. 0, or -ENOENT (not built), or -errno
 * (the out-parameters are then untouched). */
int rekmod_status_signature(struct rekmod_ctx *ctx, const struct rekmod_status *s, char **ret_signer,
			    char **ret_sig_key);
/* One line exactly as `dkms status` prints it (no newline); caller frees. */
char *rekmod_status_format(const struct rekmod_status *s);

/* ---- sync: the one entry point of every hook ---- */
enum rekmod_job_event {
	REKMOD_JOB_STARTED,
	REKMOD_JOB_FINISHED, /* result: 0, or the dkms exit code of the failed step */
	REKMOD_JOB_TICK,     /* about every 200 ms while builds run (job is NULL) */
};

struct rekmod_job_info {
	const char *module, *version, *kernel, *arch;
	int result;
	double seconds; /* since the build started */
};

struct rekmod_sync_options {
	const char *const *kernels; /* NULL-terminated; NULL: every kernel in the install tree */
	const char *const *removed; /* kernels going away: their builds and installs are removed */
	const char *const *modules; /* "m" or "m/v" filters; NULL: every registered module */
	bool retry;                 /* rebuild recorded failures even if no input changed */
	bool hook;                  /* from a hook: a -m or --kernel naming nothing is a warning, not an error */
	bool rebuild;               /* rebuild and reinstall what is there (one transaction: a failed
				     * rebuild keeps the old build and install) */
	/* progress of the builds, for a live display; may be NULL */
	void (*progress)(void *userdata, enum rekmod_job_event ev, const struct rekmod_job_info *job);
	void *progress_userdata;
};

struct rekmod_sync_result {
	unsigned built, installed, skipped, failed, removed, waiting;
};

/* Reconciles the machine with the desired state: every AUTOINSTALL module,
 * newest version, built and installed for every kernel with headers, builds
 * in parallel under one make jobserver, one depmod per kernel. Returns 0, or
 * REKMOD_E_AUTOINSTALL when something failed (recorded in the tree). */
int rekmod_sync(struct rekmod_ctx *ctx, const struct rekmod_sync_options *opts, struct rekmod_sync_result *ret);

/* The journal (<dkms_tree>/.rekmod-journal and its rotated .1): every run
 * that changed something or failed, oldest first, as text: a record is a
 * "T\t<time UTC>\t<caller>\t<verb>\t<ok|failed>\t<kernels,>\t<removed kernels,>"
 * line, then one "J\t<module>\t<version>\t<kernel>\t<arch>\t<outcome>\t<exit>\t
 * <seconds>\t<log>\t<reused from>" line per job ("-": none; the last field, the
 * kernel whose build was reused, is absent in older records). *ret_text is
 * freed by the caller. */
int rekmod_journal_read(struct rekmod_ctx *ctx, char **ret_text);

/* ---- module signing ----
 * The key and certificate, in dkms's order: framework.conf's mok_signing_key
 * and mok_certificate when set; else the distribution's enrolled MOK, Ubuntu's
 * /var/lib/shim-signed/mok/MOK.priv and MOK.der (in the root), when both
 * exist; else <dkms_tree>/mok.key and mok.pub, generated when first needed. */
enum rekmod_key_source {
	REKMOD_KEY_CONFIGURED, /* framework.conf (or the environment) */
	REKMOD_KEY_SHIM,       /* /var/lib/shim-signed/mok/MOK.priv, MOK.der */
	REKMOD_KEY_GENERATED,  /* <dkms_tree>/mok.key, mok.pub */
};

enum rekmod_enrolment {
	REKMOD_ENROL_UNKNOWN, /* no mokutil, no EFI, or no certificate yet */
	REKMOD_ENROL_NO,      /* mokutil --test-key: not enrolled */
	REKMOD_ENROL_PENDING, /* imported, confirmed at the next boot in MokManager */
	REKMOD_ENROL_YES,
};

struct rekmod_signing {
	enum rekmod_key_source source;
	char *key, *cert; /* as on the root's system (without the --root prefix) */
	bool present;     /* both exist (else the first signed build or generate_mok creates them) */
	int secure_boot;  /* 1 enabled, 0 disabled, -1 unknown */
	enum rekmod_enrolment enrolled;
};

/* Which key signs, whether Secure Boot is on and the certificate enrolled
 * (mokutil --test-key); runs mokutil, changes nothing. 0 or -errno. */
int rekmod_signing_info(struct rekmod_ctx *ctx, struct rekmod_signing *ret);
void rekmod_signing_done(struct rekmod_signing *s);

/* Creates the chosen key and certificate when missing (never over a key, and
 * never beside an existing shim-signed MOK). Returns 0 or REKMOD_E_GENERIC. */
int rekmod_generate_mok(struct rekmod_ctx *ctx);

/* ---- doctor: what needs action, and how to fix it (read-only) ---- */
enum rekmod_doctor_class { /* `rekmod doctor` exits with the OR of its findings' classes */
	REKMOD_DOCTOR_NOTE = 0,        /* no problem, a fact (a build reused from another kernel): never in the
					* exit status */
	REKMOD_DOCTOR_MODULES = 1,     /* a registration: broken source, failed build, built but not
					* installed, installed files changed or missing */
	REKMOD_DOCTOR_KERNELS = 2,     /* a kernel: headers missing, no signing tool where signatures are required */
	REKMOD_DOCTOR_SECURE_BOOT = 4, /* modules the kernel would refuse: certificate not enrolled, no key,
					* an unsigned module where signatures are required */
	REKMOD_DOCTOR_DECISIONS = 8,   /* a user's opt-out in effect: sync leaves the module off a kernel */
};

struct rekmod_finding {
	unsigned cls;     /* one enum rekmod_doctor_class */
	const char *kind; /* "no-headers", "no-sign-tool", "broken-source", "failed-build", "not-installed",
			   * "files-differ", "files-missing", "optout", "not-enrolled", "no-key", "unsigned";
			   * notes (class 0): "reused" */
	char *module, *version, *kernel, *arch; /* NULL when the finding is not about one */
	char *problem; /* one line: what is wrong (a note: what is so) */
	char *fix;     /* one line: the command or step that fixes it (a note: what to do if that is not wanted) */
	char *log;     /* failed-build: the make.log kept for it, else NULL */
};

struct rekmod_kernel_facts {
	char *kernel;
	bool headers, image;
	char *headers_package; /* no headers: the package to install (package database, else the usual name) */
	const char *compression, *compression_from; /* "none"|"gzip"|"xz"|"zstd"; "kernel config"|"modules.dep"|"default" */
	bool verifies_signatures, requires_signatures; /* CONFIG_MODULE_SIG, CONFIG_MODULE_SIG_FORCE */
	char *sig_hash;  /* NULL unless it verifies signatures */
	char *sign_file; /* the signing tool found for it, or NULL */
};

struct rekmod_doctor_report {
	struct rekmod_finding *findings;
	size_t n_findings;
	struct rekmod_kernel_facts *kernels; /* every kernel of the install tree, by version */
	size_t n_kernels;
	struct rekmod_signing signing;
	unsigned classes; /* OR of the findings' classes: 0 when nothing needs action */
};

/* Looks at every kernel, registration and the signing key; changes nothing.
 * Returns 0 or -errno. */
int rekmod_doctor(struct rekmod_ctx *ctx, struct rekmod_doctor_report *ret);
void rekmod_doctor_free(struct rekmod_doctor_report *r);

/* Every kernel of the install tree whose build link holds headers, sorted by
 * version (a NULL-terminated strv the caller frees). */
int rekmod_kernels_with_headers(struct rekmod_ctx *ctx, char ***ret);

/* Packaging (dkms's mktarball/ldtarball layout; mkdeb/mkrpm). */
struct rekmod_pack_options {
	const char *module, *version;
	const char *const *kernels; /* NULL-terminated; NULL: every kernel the module is built for */
	const char *const *arches;  /* parallel to kernels; NULL: the default arch */
	bool source_only, binaries_only;
	const char *archive; /* output file (mktarball) or directory; NULL: <dkms_tree>/<m>/<v>/{tarball,deb,rpm}/ */
};

/* Writes <m>-<v>-kernel<K>-<A>[...].dkms.tar.gz (or --archive) in dkms's
 * layout: dkms_main_tree/<K>/<A>/{log,module}/, dkms_source_tree/, dkms_binaries_only.
 * Prints the path written. Returns 0 or a dkms exit code. */
int rekmod_mktarball(struct rekmod_ctx *ctx, const struct rekmod_pack_options *opts);

/* Loads a dkms tarball (made by dkms or rekmod): registers its source (unless
 * binaries only) and puts each carried kernel's modules in the tree as built.
 * A kernel whose installed in-tree modules have a different vermagic is
 * skipped with a warning (it will be compiled). force: replace what is there. */
int rekmod_ldtarball(struct rekmod_ctx *ctx, const char *path, bool force);

/* A Debian binary package / an rpm of the module with its source and the
 * modules built so far (see README, "Packaging modules"). */
int rekmod_mkdeb(struct rekmod_ctx *ctx, const struct rekmod_pack_options *opts);
int rekmod_mkrpm(struct rekmod_ctx *ctx, const struct rekmod_pack_options *opts);

/* ---- publish: build once for a fleet's kernels, into a package repository ----
 * For each kernel: headers from the install tree, else downloaded from the
 * distribution's archive into <headers_cache> (never installed); every build
 * in one parallel plan; one <m>-modules-<K> package per kernel (mkdeb or
 * mkrpm --binaries-only), signed modules (the configured MOK); added to repo
 * with reprepro (apt; SignWith framework.conf publish_gpg_key) or
 * createrepo_c (rpm). A package the repository already has is skipped. */
struct rekmod_publish_options {
	const char *module, *version;
	const char *const *kernels; /* NULL-terminated, at least one */
	const char *repo;           /* the repository directory (created when missing) */
	const char *suite;          /* apt: Codename; NULL: os-release VERSION_CODENAME, else "stable" */
	bool rpm;                   /* rpm repository (mkrpm, createrepo_c) instead of apt */
	const char *const *modules; /* NULL, or "m/v" of more modules built in the same plan */
};

struct rekmod_publish_result {
	unsigned published; /* packages added to the repository */
	unsigned present;   /* kernels whose package the repository had already */
	unsigned failed;    /* kernels without headers, or whose build or packaging failed */
};

/* 0, or the dkms exit code of a failed step (the other kernels go on). */
int rekmod_publish(struct rekmod_ctx *ctx, const struct rekmod_publish_options *opts,
		   struct rekmod_publish_result *ret);

const char *rekmod_version(void);

#ifdef __cplusplus
}
#endif
