/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dkms's argument syntax, driven by the option table: options anywhere,
 * "--opt value" or "--opt=value", long names matched by prefix where dkms
 * does; positionals are the verb, a directory or dkms.conf, a tarball, or
 * MODULE[/VERSION]. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "output.h"

int push(const char **v, size_t *n, const char *s)
{
	if (*n >= MAX_ARGS) {
		err("too many arguments of one kind (at most %s)", "256");
		return -1;
	}
	v[(*n)++] = s;
	v[*n] = NULL;
	return 0;
}

static void set_module(struct args *a, const char *mv)
{
	const char *slash = strchr(mv, '/');
	free(a->module);
	if (slash) {
		a->module = strndup(mv, (size_t)(slash - mv));
		free(a->version);
		a->version = strdup(slash + 1);
	} else {
		a->module = strdup(mv);
	}
}

int opt_module(struct args *a, const char *spelling, const char *value)
{
	set_module(a, value);
	return push(a->mods, &a->n_mods, value) < 0 ? 1 : -1;
}

int opt_version(struct args *a, const char *spelling, const char *value)
{
	free(a->version);
	a->version = strdup(value);
	return -1;
}

/* -k K or -k K/ARCH */
int opt_kernel(struct args *a, const char *spelling, const char *value)
{
	const char *slash = strchr(value, '/');
	if (!slash)
		return push(a->kernels, &a->n_kernels, value) < 0 ? 1 : -1;
	char *k = strndup(value, (size_t)(slash - value));
	if (push(a->kernels, &a->n_kernels, k) < 0 || push(a->arches, &a->n_arches, slash + 1) < 0)
		return 1;
	return -1;
}

int opt_jobs(struct args *a, const char *spelling, const char *value)
{
	char *end = NULL;
	long n = strtol(value, &end, 10);
	bool ok = *value && *end == '\0' && n >= 0 && n < 100000;
	a->o.jobs = ok ? (int)n : 0;
	a->bad_jobs = ok ? NULL : value;
	return -1;
}

int opt_count(struct args *a, const char *spelling, const char *value)
{
	char *end = NULL;
	long n = strtol(value, &end, 10);
	/* checked by the verb that reads it (log) */
	a->count = *value && !*end && n > 0 ? n : -1;
	return -1;
}

int opt_print_version(struct args *a, const char *spelling, const char *value)
{
	printf("rekmod-%s\n", rekmod_version());
	return 0;
}

/* the verb's help when a verb came before; parse() looks after it too */
int opt_help(struct args *a, const char *spelling, const char *value)
{
	const struct verb *v = a->action ? verb_find(a->action) : NULL;
	if (v)
		verb_usage(stdout, v);
	else
		usage(stdout);
	return 0;
}

int opt_deprecated(struct args *a, const char *spelling, const char *value)
{
	fprintf(stderr, "Deprecated feature: %s\n", spelling);
	return -1;
}

int opt_unsupported(struct args *a, const char *spelling, const char *value)
{
	fprintf(stderr, "Warning: %s is not supported by rekmod and is ignored.\n", spelling);
	return -1;
}

/* dkms accepts "--opt value", "--opt=value" and, for most options, any
 * name that starts with the long name ("--module*"). */
static bool opt_matches(const struct cli_option *o, const char *arg)
{
	if (o->shrt && strcmp(arg, o->shrt) == 0)
		return true;
	if (!o->lng)
		return false;
	size_t n = strlen(o->lng);
	if (strncmp(arg, o->lng, n) != 0)
		return false;
	return o->prefix || arg[n] == '\0' || (o->value && arg[n] == '=');
}

static const char *opt_value(int argc, char **argv, int *i)
{
	const char *eq = strchr(argv[*i], '=');
	if (eq && argv[*i][0] == '-' && argv[*i][1] == '-')
		return eq + 1;
	if (*i + 1 >= argc)
		return "";
	return argv[++*i];
}

static void *field(struct args *a, size_t offset)
{
	return (char *)a + offset;
}

/* Stores one option; -1 to go on, else an exit code. */
static int opt_apply(const struct cli_option *o, struct args *a, int argc, char **argv, int *i)
{
	const char *spelling = argv[*i];
	const char *value = o->value ? opt_value(argc, argv, i) : NULL;
	switch (o->kind) {
	case OPT_TRUE:
		*(bool *)field(a, o->field) = true;
		return -1;
	case OPT_STRING:
		*(const char **)field(a, o->field) = value;
		return -1;
	case OPT_APPEND:
		return push(field(a, o->field), field(a, o->count), value) < 0 ? 1 : -1;
	case OPT_CALL:
		return o->call(a, spelling, value);
	}
	return -1;
}

/* A word that cannot be MODULE/VERSION (two path components, neither empty
 * nor "." or "..") names a path. */
static bool looks_like_path(const char *s)
{
	const char *slash = strchr(s, '/');
	if (!slash)
		return false;
	size_t mlen = (size_t)(slash - s);
	bool dots = (mlen == 1 && s[0] == '.') || (mlen == 2 && s[0] == '.' && s[1] == '.');
	return mlen == 0 || dots || slash[1] == '\0' || strchr(slash + 1, '/');
}

/* MODULE[/VERSION], a path that does not exist, or a mistyped verb */
static void word(struct args *a, const char *arg)
{
	if (!a->module) {
		set_module(a, arg);
		if (looks_like_path(arg))
			a->missing_dir = arg;
	} else {
		fprintf(stderr, "Warning: I do not know how to handle %s.\n", arg);
	}
	if (!a->unknown_word && !strchr(arg, '/'))
		a->unknown_word = arg;
}

static int positional(struct args *a, const char *arg)
{
	struct stat st;
	if (verb_find(arg)) {
		if (a->action) {
			err("%s", "Cannot specify more than one action.");
			return 4;
		}
		a->action = arg;
	} else if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
		char conf[PATH_MAX];
		snprintf(conf, sizeof(conf), "%s/dkms.conf", arg);
		if (stat(conf, &st) == 0)
			a->source_dir = arg;
		else
			a->dir_without_conf = arg;
	} else if (stat(arg, &st) == 0 && S_ISREG(st.st_mode)) {
		size_t n = strlen(arg);
		if (n >= 9 && strcmp(arg + n - 9, "dkms.conf") == 0) {
			char *dir = strndup(arg, n - 9);
			a->source_dir = dir[0] ? dir : ".";
		} else {
			a->archive = arg;
		}
	} else {
		word(a, arg);
	}
	return 0;
}

/* --help before the verb: the verb's help if one follows */
static void find_verb_for_help(struct args *a, int argc, char **argv, int i)
{
	for (; !a->action && i < argc; i++)
		if (verb_find(argv[i]))
			a->action = argv[i];
}

/* Returns -1 to continue, else an exit code. */
int parse(int argc, char **argv, struct args *a)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		const struct cli_option *o = options;
		while ((o->lng || o->shrt) && !opt_matches(o, s))
			o++;
		if (o->call == opt_help)
			find_verb_for_help(a, argc, argv, i + 1);
		if (o->lng || o->shrt) {
			int r = opt_apply(o, a, argc, argv, &i);
			if (r >= 0)
				return r;
		} else if (s[0] == '-' && s[1]) {
			err("Unknown option: %s", s);
			usage(stderr);
			return 2;
		} else {
			int r = positional(a, s);
			if (r)
				return r;
		}
	}
	return -1;
}

int check_args(const struct args *a)
{
	if (a->binaries_only && a->source_only) {
		err("%s", "You have specified both --binaries-only and --source-only.\nYou cannot do this.");
		return 8;
	}
	if (a->n_arches > 1 && a->n_arches != a->n_kernels) {
		err("%s", "If more than one arch is specified on the command line, then there\nmust be an equal "
			  "number of kernel versions also specified (1:1 relationship).");
		return 1;
	}
	if (a->n_kernels && a->all) {
		err("%s", "You cannot specify a kernel version and also specify\n--all on the command line.");
		return 2;
	}
	if (a->n_arches && a->all) {
		err("%s", "You cannot specify an arch and also specify\n--all on the command line.");
		return 3;
	}
	return -1;
}
