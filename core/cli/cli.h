/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rekmod's command line: the parsed arguments, the verb and option tables
 * (main.c), the parser (parse.c) and the verb handlers (verbs.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "rekmod.h"

#define MAX_ARGS 256

struct args {
	const char *action;
	char *module, *version;
	const char *kernels[MAX_ARGS + 1];
	const char *arches[MAX_ARGS + 1];
	size_t n_kernels, n_arches;
	const char *kernel_arches[MAX_ARGS + 1]; /* arch_of() per kernel, for the list-taking calls */
	const char *directives[MAX_ARGS + 1];
	size_t n_directives;
	const char *mods[MAX_ARGS + 1]; /* every -m value: sync's module filters */
	size_t n_mods;
	const char *sync_kernels[MAX_ARGS + 1], *sync_removed[MAX_ARGS + 1];
	size_t n_sync_kernels, n_sync_removed;
	bool hook, retry, rebuild, json;
	const char *source_dir; /* add <dir> */
	const char *missing_dir; /* a path-like positional that does not exist */
	const char *dir_without_conf; /* a directory positional with no dkms.conf: no module (dkms 3.x) */
	const char *unknown_word; /* the first positional that is no verb, file or directory */
	const char *archive;
	const char *template_kernel;
	const char *repo, *kernels_file, *all_kernels_of, *suite; /* publish */
	bool rpm;
	const char *bad_jobs; /* a -j value that is no number (sync: an error, a warning under --hook) */
	long count;           /* log -n N (0: the default, -1: not a number) */
	bool all, quiet, binaries_only, source_only;
	char **owned_kernels, **owned_arches; /* lists --all got from the library */
	struct rekmod_options o;
};

/* What a verb needs before its handler runs; prepare() in main.c checks it. */
enum verb_module {
	MOD_UNUSED,
	MOD_OPTIONAL, /* a filter */
	MOD_REQUIRED, /* module and version */
};

enum verb_kernels {
	KERN_UNUSED,
	KERN_ANY,     /* any number; none: every kernel */
	KERN_RUNNING, /* none: the running kernel */
	KERN_GIVEN,   /* none: nothing (and one is required when !many_kernels) */
};

enum verb_all {
	ALL_IGNORED,
	ALL_REFUSED, /* exit 5, as dkms */
	ALL_BUILT,   /* every kernel the module is built for */
	ALL_HEADERS, /* every kernel of the install tree with headers */
};

struct verb {
	const char *name;
	int (*run)(struct rekmod_ctx *ctx, struct args *a);
	enum verb_module module;
	bool takes_dir; /* a directory with a dkms.conf names (and adds) the module */
	bool in_tree;   /* module/version must be in the tree already (exit 3) */
	enum verb_kernels kernels;
	enum verb_all all;
	bool many_kernels; /* more than one -k (else exactly one, exit 4) */
	const char *usage; /* the arguments after "rekmod VERB" */
	const char *summary;
};

/* How an option's value (or its presence) is stored. */
enum opt_kind {
	OPT_TRUE,   /* bool at field */
	OPT_STRING, /* const char * at field */
	OPT_APPEND, /* const char *[MAX_ARGS + 1] at field, its size_t count at count */
	OPT_CALL,   /* call() */
};

struct cli_option {
	const char *lng;  /* "--kernelver"; NULL: short only */
	const char *shrt; /* "-k"; NULL: long only */
	bool prefix;      /* dkms accepts any spelling that starts with lng */
	const char *value; /* the value's name in the help; NULL: a flag */
	enum opt_kind kind;
	size_t field, count;
	/* returns -1 to go on, else parsing stops and the command exits with it */
	int (*call)(struct args *a, const char *spelling, const char *value);
	const char *help;
};

extern const struct verb verbs[];
extern const struct cli_option options[];

const struct verb *verb_find(const char *name);
const char *verb_closest(const char *word);
void usage(FILE *f);
void verb_usage(FILE *f, const struct verb *v);

/* parse.c */
int parse(int argc, char **argv, struct args *a);
int check_args(const struct args *a);
int push(const char **v, size_t *n, const char *s);
int opt_module(struct args *a, const char *spelling, const char *value);
int opt_version(struct args *a, const char *spelling, const char *value);
int opt_kernel(struct args *a, const char *spelling, const char *value);
int opt_jobs(struct args *a, const char *spelling, const char *value);
int opt_count(struct args *a, const char *spelling, const char *value);
int opt_print_version(struct args *a, const char *spelling, const char *value);
int opt_help(struct args *a, const char *spelling, const char *value);
int opt_deprecated(struct args *a, const char *spelling, const char *value);
int opt_unsupported(struct args *a, const char *spelling, const char *value);

/* verbs.c: one handler per verb, each one library call (per kernel) */
const char *arch_of(const struct args *a, size_t i);
int cmd_add(struct rekmod_ctx *ctx, struct args *a);
int cmd_build(struct rekmod_ctx *ctx, struct args *a);
int cmd_install(struct rekmod_ctx *ctx, struct args *a);
int cmd_uninstall(struct rekmod_ctx *ctx, struct args *a);
int cmd_unbuild(struct rekmod_ctx *ctx, struct args *a);
int cmd_remove(struct rekmod_ctx *ctx, struct args *a);
int cmd_status(struct rekmod_ctx *ctx, struct args *a);
int cmd_autoinstall(struct rekmod_ctx *ctx, struct args *a);
int cmd_kernel_postinst(struct rekmod_ctx *ctx, struct args *a);
int cmd_match(struct rekmod_ctx *ctx, struct args *a);
int cmd_mktarball(struct rekmod_ctx *ctx, struct args *a);
int cmd_ldtarball(struct rekmod_ctx *ctx, struct args *a);
int cmd_generate_mok(struct rekmod_ctx *ctx, struct args *a);
int cmd_kernel_preinst(struct rekmod_ctx *ctx, struct args *a);
int cmd_kernel_prerm(struct rekmod_ctx *ctx, struct args *a);
int cmd_sync(struct rekmod_ctx *ctx, struct args *a);
int cmd_log(struct rekmod_ctx *ctx, struct args *a);
int cmd_doctor(struct rekmod_ctx *ctx, struct args *a);
int cmd_mkdeb(struct rekmod_ctx *ctx, struct args *a);
int cmd_mkrpm(struct rekmod_ctx *ctx, struct args *a);
int cmd_publish(struct rekmod_ctx *ctx, struct args *a);
/* publish: a kernel release of a package list line (linux-image-K, kernel-core-K), or NULL */
char *kernel_of_package_line(const char *line);
