/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rekmod: the dkms command line on top of the library. The verb table says
 * what each verb needs; parsing (parse.c, driven by the option table) fills a
 * struct args, prepare() checks and completes it as the verb's entry says,
 * and the verb's handler (verbs.c) makes the library calls. */
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <syslog.h>

#include "cli.h"
#include "strutil.h"
#include "output.h"

#define MV "MODULE/VERSION"
#define KS "[-k KERNEL[/ARCH]]..."

const struct verb verbs[] = {
	{ "add", cmd_add, MOD_REQUIRED, true, false, KERN_UNUSED, ALL_REFUSED, true, MV " | DIR | TARBALL",
	  "register a module: its source directory, or a dkms tarball" },
	{ "build", cmd_build, MOD_REQUIRED, true, false, KERN_RUNNING, ALL_HEADERS, true, MV " | DIR " KS " [--all]",
	  "compile a module for kernels" },
	{ "install", cmd_install, MOD_REQUIRED, true, false, KERN_RUNNING, ALL_HEADERS, true,
	  MV " | DIR " KS " [--all]", "build if needed, then install a module for kernels" },
	{ "uninstall", cmd_uninstall, MOD_REQUIRED, false, true, KERN_RUNNING, ALL_BUILT, true, MV " " KS " [--all]",
	  "remove a module from kernels; its builds stay" },
	{ "unbuild", cmd_unbuild, MOD_REQUIRED, false, true, KERN_RUNNING, ALL_BUILT, true, MV " " KS " [--all]",
	  "uninstall, then delete a module's builds for kernels" },
	{ "remove", cmd_remove, MOD_REQUIRED, false, true, KERN_RUNNING, ALL_BUILT, true, MV " " KS " [--all]",
	  "unbuild, then unregister the module if no build is left" },
	{ "status", cmd_status, MOD_OPTIONAL, false, false, KERN_ANY, ALL_IGNORED, true,
	  "[MODULE[/VERSION]] " KS " [--json] [--verbose]", "show what is added, built and installed" },
	{ "sync", cmd_sync, MOD_OPTIONAL, false, false, KERN_ANY, ALL_IGNORED, true,
	  "[--kernel K]... [--removed K]... [-m MODULE[/VERSION]]... [--hook] [--retry] [--rebuild]",
	  "install every AUTOINSTALL module on every kernel with headers" },
	{ "log", cmd_log, MOD_UNUSED, false, false, KERN_UNUSED, ALL_IGNORED, true, "[-n N] [--json]",
	  "the last transactions: what each hook and verb changed or failed" },
	{ "doctor", cmd_doctor, MOD_UNUSED, false, false, KERN_UNUSED, ALL_IGNORED, true, "[--json] [--verbose]",
	  "what needs action (headers, failed builds, Secure Boot) and the fix; exit 0: nothing" },
	{ "autoinstall", cmd_autoinstall, MOD_UNUSED, false, false, KERN_RUNNING, ALL_REFUSED, false, "[-k KERNEL[/ARCH]]",
	  "build and install every AUTOINSTALL module for one kernel" },
	{ "match", cmd_match, MOD_OPTIONAL, false, false, KERN_RUNNING, ALL_IGNORED, false,
	  "--templatekernel T [-k KERNEL[/ARCH]] [MODULE]", "install on a kernel what is installed on another" },
	{ "mktarball", cmd_mktarball, MOD_REQUIRED, false, false, KERN_RUNNING, ALL_BUILT, true,
	  MV " " KS " [--all] [--archive FILE] [--source-only | --binaries-only]",
	  "write a dkms tarball of a module's source and builds" },
	{ "ldtarball", cmd_ldtarball, MOD_UNUSED, false, false, KERN_UNUSED, ALL_IGNORED, true, "TARBALL [--force]",
	  "load a dkms tarball: its source and prebuilt modules" },
	{ "mkdeb", cmd_mkdeb, MOD_REQUIRED, false, false, KERN_ANY, ALL_BUILT, true,
	  MV " " KS " [--archive DIR] [--source-only | --binaries-only]", "write a Debian package of a module" },
	{ "mkrpm", cmd_mkrpm, MOD_REQUIRED, false, false, KERN_ANY, ALL_BUILT, true,
	  MV " " KS " [--archive DIR] [--source-only | --binaries-only]", "write an rpm package of a module" },
	{ "publish", cmd_publish, MOD_REQUIRED, false, true, KERN_GIVEN, ALL_IGNORED, true,
	  MV " | -m M/V... -k KERNEL... | --kernels-file FILE | --all-kernels-of FILE --repo DIR [--suite S] [--rpm]",
	  "build a module for a fleet's kernels and publish the packages in a repository" },
	{ "generate_mok", cmd_generate_mok, MOD_UNUSED, false, false, KERN_UNUSED, ALL_IGNORED, true, "",
	  "create the module signing key and certificate if missing" },
	{ "kernel_preinst", cmd_kernel_preinst, MOD_UNUSED, false, false, KERN_GIVEN, ALL_IGNORED, false, "-k KERNEL",
	  "before a kernel is installed: unbuild its AUTOINSTALL modules" },
	{ "kernel_postinst", cmd_kernel_postinst, MOD_UNUSED, false, false, KERN_GIVEN, ALL_REFUSED, false,
	  "-k KERNEL[/ARCH]", "after a kernel is installed: autoinstall for it" },
	{ "kernel_prerm", cmd_kernel_prerm, MOD_UNUSED, false, false, KERN_GIVEN, ALL_IGNORED, false, "-k KERNEL",
	  "before a kernel is removed: unbuild every module built for it" },
	{ NULL },
};

#define F(field) offsetof(struct args, field)
#define FLAG(l, s, field, help) { l, s, false, NULL, OPT_TRUE, F(field), 0, NULL, help }
#define STR(l, val, field, help) { l, NULL, true, val, OPT_STRING, F(field), 0, NULL, help }
#define LIST(l, s, prefix, val, field, help) \
	{ l, s, prefix, val, OPT_APPEND, F(field), F(n_##field), NULL, help }
#define CALL(l, s, prefix, val, fn, help) { l, s, prefix, val, OPT_CALL, 0, 0, fn, help }

/* In matching order: the first entry that matches an argument takes it. */
const struct cli_option options[] = {
	CALL("--module", "-m", true, "M[/V]", opt_module, "module[/version]; sync: a filter (repeatable)"),
	CALL(NULL, "-v", false, "VERSION", opt_version, "module version"),
	CALL("--kernelver", "-k", true, "K[/ARCH]", opt_kernel, "kernel release (repeatable)"),
	STR("--archive", "PATH", archive, "the tarball; mkdeb, mkrpm: the output directory"),
	LIST("--arch", "-a", true, "ARCH", arches, "architecture: one, or one per -k"),
	{ NULL, "-c", false, "FILE", OPT_STRING, F(o.conf), 0, NULL, "dkms.conf to use instead of the module's" },
	FLAG("--all", NULL, all, "every kernel the verb applies to (VERB --help)"),
	FLAG("--force", NULL, o.force, "redo what is done, replace what is there"),
	FLAG("--force-version-override", NULL, o.force_version_override, "install over a newer kernel module"),
	FLAG("--binaries-only", NULL, binaries_only, "mktarball, mkdeb, mkrpm: without the source"),
	FLAG("--source-only", NULL, source_only, "mktarball, mkdeb, mkrpm: without the builds"),
	STR("--templatekernel", "K", template_kernel, "match: the kernel to copy from"),
	STR("--repo", "DIR", repo, "publish: the package repository"),
	STR("--kernels-file", "FILE", kernels_file, "publish: the kernels, one release a line"),
	STR("--all-kernels-of", "FILE", all_kernels_of, "publish: every kernel a package list of the machines names"),
	STR("--suite", "NAME", suite, "publish: the apt repository's codename (default: this system's)"),
	FLAG("--rpm", NULL, rpm, "publish: an rpm repository (mkrpm, createrepo_c)"),
	STR("--root", "DIR", o.root, "every path under DIR (a scratch root)"),
	STR("--dkmstree", "DIR", o.dkms_tree, "the dkms tree (default /var/lib/dkms)"),
	STR("--sourcetree", "DIR", o.source_tree, "the source tree (default /usr/src)"),
	STR("--installtree", "DIR", o.install_tree, "the kernels' module tree (default /lib/modules)"),
	STR("--config", "FILE", o.kernel_config, "the kernel .config to build against"),
	STR("--kernelsourcedir", "DIR", o.kernel_source_dir, "the kernel headers to build against"),
	LIST("--directive", NULL, true, "NAME=VALUE", directives, "set a dkms.conf directive (repeatable)"),
	FLAG("--no-depmod", NULL, o.no_depmod, "do not run depmod"),
	CALL(NULL, "-j", false, "N", opt_jobs, "parallel make jobs"),
	LIST("--kernel", NULL, false, "K", sync_kernels, "sync: a kernel to sync (repeatable)"),
	LIST("--removed", NULL, true, "K", sync_removed, "sync: a kernel going away (repeatable)"),
	FLAG("--hook", NULL, hook, "sync from a hook: exit 0, summary on stderr"),
	FLAG("--retry", NULL, retry, "sync: rebuild recorded failures"),
	FLAG("--rebuild", NULL, rebuild, "sync: rebuild and reinstall what is there"),
	CALL(NULL, "-n", false, "N", opt_count, "log: the last N transactions (default 10)"),
	FLAG("--json", NULL, json, "status, log, doctor: JSON"),
	FLAG("--verbose", NULL, o.verbose, "more detail (status: signatures)"),
	FLAG("--quiet", "-q", quiet, "errors only"),
	CALL("--version", "-V", false, NULL, opt_print_version, "print the version and exit"),
	CALL("--help", "-h", false, NULL, opt_help, "this help, or with a verb that verb's"),
	CALL("--no-initrd", NULL, false, NULL, opt_deprecated, "deprecated in dkms, ignored"),
	CALL("--no-clean-kernel", NULL, false, NULL, opt_deprecated, "deprecated in dkms, ignored"),
	CALL("--no-prepare-kernel", NULL, false, NULL, opt_deprecated, "deprecated in dkms, ignored"),
	CALL("--rpm_safe_upgrade", NULL, false, NULL, opt_unsupported, "dkms only, ignored with a warning"),
	CALL("--symlink-modules", NULL, false, NULL, opt_unsupported, "dkms only, ignored with a warning"),
	CALL("--modprobe-on-install", NULL, false, NULL, opt_unsupported, "dkms only, ignored with a warning"),
	CALL("--debug", NULL, false, NULL, opt_unsupported, "dkms only, ignored with a warning"),
	{ NULL },
};

const struct verb *verb_find(const char *name)
{
	for (const struct verb *v = verbs; v->name; v++)
		if (strcmp(v->name, name) == 0)
			return v;
	return NULL;
}

/* The verb nearest to a mistyped word, or NULL when none is near enough
 * (about one edit per three letters) to be what was meant. */
const char *verb_closest(const char *word)
{
	const char *best = NULL;
	size_t best_d = (strlen(word) + 2) / 3 + 1;
	for (const struct verb *v = verbs; v->name; v++) {
		size_t dist = edit_distance(word, v->name);
		if (dist < best_d) {
			best_d = dist;
			best = v->name;
		}
	}
	return best;
}

/* "-k, --kernelver K[/ARCH]", "    --all", "-c FILE"; returns its length */
static int option_spelling(char *buf, size_t size, const struct cli_option *o)
{
	const char *val = o->value ? o->value : "";
	const char *sep = o->value ? " " : "";
	if (o->shrt && o->lng)
		return snprintf(buf, size, "%s, %s%s%s", o->shrt, o->lng, sep, val);
	if (o->shrt)
		return snprintf(buf, size, "%s%s%s", o->shrt, sep, val);
	return snprintf(buf, size, "    %s%s%s", o->lng, sep, val);
}

/* The global help, made from the two tables: every verb, every option. */
void usage(FILE *f)
{
	fputs("Usage: rekmod VERB [MODULE/VERSION | DIR | TARBALL] [options]\n"
	      "rekmod is a drop-in for dkms: `dkms` may be a symbolic link to it.\n"
	      "`rekmod VERB --help` shows what a verb takes.\n\nVerbs:\n",
	      f);
	for (const struct verb *v = verbs; v->name; v++)
		fprintf(f, "  %-16s %s\n", v->name, v->summary);
	fputs("\nOptions:\n", f);
	char spelling[64];
	int width = 0;
	for (const struct cli_option *o = options; o->lng || o->shrt; o++) {
		int n = option_spelling(spelling, sizeof(spelling), o);
		width = n > width ? n : width;
	}
	for (const struct cli_option *o = options; o->lng || o->shrt; o++) {
		option_spelling(spelling, sizeof(spelling), o);
		fprintf(f, "  %-*s  %s\n", width, spelling, o->help);
	}
}

static const char *kernels_text(const struct verb *v)
{
	static const char *const many[] = {
		[KERN_ANY] = "-k: any number; none: every kernel",
		[KERN_RUNNING] = "-k: any number; none: the running kernel",
		[KERN_GIVEN] = "-k: any number",
	};
	static const char *const one[] = {
		[KERN_ANY] = "-k: at most one",
		[KERN_RUNNING] = "-k: one; none: the running kernel",
		[KERN_GIVEN] = "-k: exactly one",
	};
	if (v->kernels == KERN_UNUSED)
		return NULL;
	return v->many_kernels ? many[v->kernels] : one[v->kernels];
}

/* `rekmod VERB --help`: the verb's line and what its entry in the table says. */
void verb_usage(FILE *f, const struct verb *v)
{
	static const char *const all[] = {
		[ALL_REFUSED] = "--all: refused",
		[ALL_BUILT] = "--all: every kernel the module is built for",
		[ALL_HEADERS] = "--all: every kernel in the install tree that has headers",
	};
	fprintf(f, "Usage: rekmod %s%s%s\n  %s\n", v->name, v->usage[0] ? " " : "", v->usage, v->summary);
	if (v->module == MOD_REQUIRED)
		fprintf(f, "  %s\n", v->takes_dir ? "the module: MODULE/VERSION, -m MODULE -v VERSION, or a directory "
						   "with a dkms.conf"
						 : "the module: MODULE/VERSION or -m MODULE -v VERSION");
	const char *k = kernels_text(v);
	if (k)
		fprintf(f, "  %s\n", k);
	if (v->all != ALL_IGNORED)
		fprintf(f, "  %s\n", all[v->all]);
	fputs("The options: rekmod --help\n", f);
}

static int need_module(const struct args *a, const char *action)
{
	if (a->module && a->version)
		return 0;
	fprintf(stderr,
		"\nError! Arguments <module> and <module-version> are not specified.\n"
		"Usage: %s <module>/<module-version> or\n"
		"       %s -m <module>/<module-version> or\n"
		"       %s -m <module> -v <module-version>\n",
		action, action, action);
	return 1;
}

/* module and version from a directory argument (add, build, install) */
static int module_from_dir(struct rekmod_ctx *ctx, struct args *a)
{
	if (a->missing_dir) {
		size_t n = strlen(a->missing_dir);
		bool conf = n >= 9 && strcmp(a->missing_dir + n - 9, "dkms.conf") == 0;
		err("%s: no such %s; pass the directory that holds dkms.conf", a->missing_dir, conf ? "file" : "directory");
		return REKMOD_E_GENERIC; /* dkms exits 1 on this argument too */
	}
	if (a->source_dir && !a->module)
		return rekmod_add_path(ctx, a->source_dir, &a->module, &a->version);
	if (a->dir_without_conf && !a->module) /* dkms 3.x: not a source tree, so no module given */
		return need_module(a, a->action);
	return 0;
}

static int push_all(struct args *a, char **ks, char **as)
{
	a->n_kernels = a->n_arches = 0;
	for (size_t i = 0; ks && ks[i]; i++)
		if (push(a->kernels, &a->n_kernels, ks[i]) < 0 || (as && push(a->arches, &a->n_arches, as[i]) < 0))
			return 1;
	return 0;
}

/* what --all means for the verb: every built kernel, or every kernel with headers */
static int kernels_for_all(struct rekmod_ctx *ctx, const struct verb *v, struct args *a)
{
	if (v->all == ALL_BUILT) {
		rekmod_built_kernels(ctx, a->module, a->version, &a->owned_kernels, &a->owned_arches);
		return push_all(a, a->owned_kernels, a->owned_arches);
	}
	int r = rekmod_kernels_with_headers(ctx, &a->owned_kernels);
	if (r)
		return r;
	/* none: the library says so */
	return push_all(a, a->owned_kernels, NULL);
}

static int default_kernel(struct args *a)
{
	static struct utsname u;
	if (a->n_kernels || a->all)
		return 0;
	uname(&u);
	return push(a->kernels, &a->n_kernels, u.release);
}

/* Checks and completes the arguments as the verb's table entry says, in
 * dkms's order: --all, the module, the tree, the kernels. */
static int prepare(struct rekmod_ctx *ctx, const struct verb *v, struct args *a)
{
	int r;
	if (v->all == ALL_REFUSED && a->all) {
		err("The action %s does not support the --all parameter.", v->name);
		return 5;
	}
	if (v->takes_dir && (r = module_from_dir(ctx, a)))
		return r;
	if (v->module == MOD_REQUIRED && (r = need_module(a, v->name)))
		return r;
	/* v->in_tree (uninstall, unbuild, remove): the library says "not located
	 * in the DKMS tree" (3), or "broken" (4) first, as dkms 3.x does */
	if (a->all && (v->all == ALL_BUILT || v->all == ALL_HEADERS))
		r = kernels_for_all(ctx, v, a);
	else
		r = v->kernels == KERN_RUNNING ? default_kernel(a) : 0;
	if (r)
		return r;
	if (v->kernels != KERN_UNUSED && !v->many_kernels && a->n_kernels == 0) { /* dkms 3.x */
		err("The action %s requires exactly one kernel version parameter on the command line.", v->name);
		return 4;
	}
	if (v->kernels != KERN_UNUSED && !v->many_kernels && a->n_kernels != 1) {
		err("The action %s does not support multiple kernel version parameters on the command line.", v->name);
		return 4;
	}
	for (size_t i = 0; i < a->n_kernels; i++)
		a->kernel_arches[i] = arch_of(a, i);
	return 0;
}

static int dispatch(struct rekmod_ctx *ctx, struct args *a)
{
	const struct verb *v = verb_find(a->action);
	/* dkms: `add TARBALL` is ldtarball */
	if (v->run == cmd_add && a->archive && !a->module && !a->source_dir)
		v = verb_find("ldtarball");
	int r = prepare(ctx, v, a);
	return r ? r : v->run(ctx, a);
}

/* No verb: dkms's message and usage, exit 0 as dkms; but a plain word that
 * is no verb (parse.c: no '/', no file) is named, with the verb it is
 * closest to, exit 1. */
static int no_verb(const struct args *a)
{
	if (!a->unknown_word) {
		err("Unknown action specified: \"%s\"", "");
		usage(stderr);
		return 0;
	}
	const char *near = verb_closest(a->unknown_word);
	if (near)
		err("Unknown action: %s (did you mean %s?)", a->unknown_word, near);
	else
		err("Unknown action: %s; rekmod --help lists the verbs", a->unknown_word);
	return 1;
}

static void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	int r = parse(argc, argv, &a);
	if (r < 0)
		r = check_args(&a);
	if (r >= 0)
		goto out;
	if (!a.action) {
		r = no_verb(&a);
		goto out;
	}
	/* quiet: nothing from the library but sync's failures and warnings
	 * (headers missing, signing, Secure Boot): quiet is not silent in a hook */
	struct out_log_filter filter = { .max_priority = !a.quiet			    ? INT_MAX
							 : strcmp(a.action, "sync") == 0 ? LOG_WARNING
											 : -1 };
	a.o.directives = a.directives;
	a.o.log_fn = out_log;
	a.o.log_userdata = &filter;
	struct rekmod_ctx *ctx = NULL;
	if (rekmod_new(&a.o, &ctx) < 0) {
		r = 1;
		goto out;
	}
	r = dispatch(ctx, &a);
	rekmod_unref(ctx);
out:
	fflush(stdout);
	free(a.module);
	free(a.version);
	free_strv(a.owned_kernels);
	free_strv(a.owned_arches);
	return r;
}
