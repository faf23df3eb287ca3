/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rekmod: the dkms command line on top of the library. Parsing fills a
 * struct; each action is one library call per kernel. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "rekmod.h"

#define MAX_ARGS 256

struct args {
	const char *action;
	char *module, *version;
	const char *kernels[MAX_ARGS + 1];
	const char *arches[MAX_ARGS + 1];
	size_t n_kernels, n_arches;
	const char *directives[MAX_ARGS + 1];
	size_t n_directives;
	const char *mods[MAX_ARGS + 1]; /* every -m value: sync's module filters */
	size_t n_mods;
	const char *sync_kernels[MAX_ARGS + 1], *sync_removed[MAX_ARGS + 1];
	size_t n_sync_kernels, n_sync_removed;
	bool hook, retry, json;
	const char *source_dir; /* add <dir> */
	const char *archive;
	const char *template_kernel;
	bool all, quiet, binaries_only, source_only;
	struct rekmod_options o;
};

static const char *const actions[] = {
	"add", "build", "install", "uninstall", "unbuild", "remove", "status", "autoinstall",
	"match", "mktarball", "ldtarball", "generate_mok", "kernel_preinst", "kernel_postinst",
	"kernel_prerm", "sync", "mkdeb", "mkrpm", NULL,
};

static void usage(FILE *f)
{
	fputs("Usage: rekmod [action] [options]\n"
	      "  [action]  = { add | remove | build | unbuild | install | uninstall | autoinstall |\n"
	      "                status | match | mktarball | ldtarball | generate_mok |\n"
	      "                kernel_preinst | kernel_postinst | kernel_prerm | sync | mkdeb | mkrpm }\n"
	      "  [options] = [-m module] [-v module-version] [-k kernel-version] [-a arch]\n"
	      "              [-c dkms.conf-location] [-q] [--force] [--force-version-override] [--all]\n"
	      "              [--root dir] [--dkmstree path] [--sourcetree path] [--installtree path]\n"
	      "              [--config kernel-.config-location] [--kernelsourcedir source-location]\n"
	      "              [--directive='NAME=value'] [--no-depmod] [-j number] [--verbose]\n"
	      "              [--archive path] [--source-only] [--binaries-only] [--templatekernel K]\n"
	      "              [--version] [--help]\n"
	      "  sync [--kernel K]... [--removed K]... [-m module[/version]]... [--hook] [--retry]\n"
	      "  status [--json]\n"
	      "rekmod is a drop-in for dkms: `dkms` may be a symbolic link to it.\n",
	      f);
}

/* ---- live progress of sync on a terminal: one line per running build ---- */
#define LIVE_MAX 64
struct live_job {
	char name[160];
	struct timespec start;
};
static struct {
	bool on;
	struct live_job run[LIVE_MAX];
	size_t n_run;
	unsigned drawn;
	char *table; /* finished jobs, for the final table */
	size_t table_len;
} live;

static void live_erase(void)
{
	if (live.drawn)
		printf("\033[%uA\033[J", live.drawn);
	live.drawn = 0;
}

static void live_draw(void)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	live_erase();
	for (size_t i = 0; i < live.n_run; i++) {
		double secs = (double)(now.tv_sec - live.run[i].start.tv_sec) +
			      (double)(now.tv_nsec - live.run[i].start.tv_nsec) / 1e9;
		printf("  building %-60s %6.1fs\n", live.run[i].name, secs);
		live.drawn++;
	}
	fflush(stdout);
}

static void live_progress(void *userdata, enum rekmod_job_event ev, const struct rekmod_job_info *j)
{
	(void)userdata;
	char name[160];
	if (j)
		snprintf(name, sizeof(name), "%s/%s for %s (%s)", j->module, j->version, j->kernel, j->arch);
	if (ev == REKMOD_JOB_STARTED && live.n_run < LIVE_MAX) {
		snprintf(live.run[live.n_run].name, sizeof(live.run[0].name), "%s", name);
		clock_gettime(CLOCK_MONOTONIC, &live.run[live.n_run].start);
		live.n_run++;
	} else if (ev == REKMOD_JOB_FINISHED) {
		for (size_t i = 0; i < live.n_run; i++) {
			if (strcmp(live.run[i].name, name) != 0)
				continue;
			live.run[i] = live.run[--live.n_run];
			break;
		}
		char line[256], result[32];
		if (j->result == 0)
			snprintf(result, sizeof(result), "installed");
		else if (j->result == 77)
			snprintf(result, sizeof(result), "skipped");
		else
			snprintf(result, sizeof(result), "failed (%d)", j->result);
		char mv[96];
		snprintf(mv, sizeof(mv), "%s/%s", j->module, j->version);
		int n = snprintf(line, sizeof(line), "%-24s %-28s %-12s %6.1fs\n", mv, j->kernel, result, j->seconds);
		if (n < 0 || (size_t)n >= sizeof(line))
			n = (int)strlen(line);
		live.table = realloc(live.table, live.table_len + (size_t)n + 1);
		if (live.table) {
			memcpy(live.table + live.table_len, line, (size_t)n + 1);
			live.table_len += (size_t)n;
		}
	}
	live_draw();
}

static void live_finish(void)
{
	live_erase();
	if (live.table_len)
		printf("%-24s %-28s %-12s %7s\n%s", "module/version", "kernel", "result", "time", live.table);
	free(live.table);
	live.table = NULL;
	live.on = false;
}

static void log_to_terminal(void *userdata, int priority, const char *msg)
{
	const struct args *a = userdata;
	if (a->quiet && (a->action == NULL || strcmp(a->action, "sync") != 0 || priority > LOG_ERR))
		return;
	FILE *f = priority <= LOG_WARNING ? stderr : stdout;
	unsigned redraw = live.drawn;
	if (redraw)
		live_erase();
	if (priority <= LOG_WARNING)
		fflush(stdout);
	fprintf(f, "%s\n", msg);
	if (priority <= LOG_WARNING)
		fflush(stderr);
	if (redraw)
		live_draw();
}

__attribute__((format(printf, 1, 2))) static void err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "Error! ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* dkms accepts "--opt value", "--opt=value" and any option name that
 * starts with the long name ("--module*"). */
static bool opt_match(const char *arg, const char *lng, const char *shrt)
{
	if (shrt && strcmp(arg, shrt) == 0)
		return true;
	return lng && strncmp(arg, lng, strlen(lng)) == 0;
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

static int push(const char **v, size_t *n, const char *s)
{
	if (*n >= MAX_ARGS) {
		err("too many arguments of one kind (at most %s)", "256");
		return -1;
	}
	v[(*n)++] = s;
	v[*n] = NULL;
	return 0;
}

static int add_kernel(struct args *a, const char *ka)
{
	const char *slash = strchr(ka, '/');
	if (!slash)
		return push(a->kernels, &a->n_kernels, ka);
	char *k = strndup(ka, (size_t)(slash - ka));
	return push(a->kernels, &a->n_kernels, k) < 0 ? -1 : push(a->arches, &a->n_arches, slash + 1);
}

static bool is_action(const char *s)
{
	for (size_t i = 0; actions[i]; i++)
		if (strcmp(actions[i], s) == 0)
			return true;
	return false;
}

static int positional(struct args *a, const char *arg)
{
	struct stat st;
	if (is_action(arg)) {
		if (a->action) {
			err("%s", "Cannot specify more than one action.");
			return 4;
		}
		a->action = arg;
	} else if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
		a->source_dir = arg;
	} else if (stat(arg, &st) == 0 && S_ISREG(st.st_mode)) {
		size_t n = strlen(arg);
		if (n >= 9 && strcmp(arg + n - 9, "dkms.conf") == 0) {
			char *dir = strndup(arg, n - 9);
			a->source_dir = dir[0] ? dir : ".";
		} else {
			a->archive = arg;
		}
	} else if (!a->module) {
		set_module(a, arg);
	} else {
		fprintf(stderr, "Warning: I do not know how to handle %s.\n", arg);
	}
	return 0;
}

/* Returns -1 to continue, else an exit code. */
static int parse(int argc, char **argv, struct args *a)
{
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--kernel") == 0 || strncmp(s, "--kernel=", 9) == 0) {
			if (push(a->sync_kernels, &a->n_sync_kernels, opt_value(argc, argv, &i)) < 0)
				return 1;
		} else if (opt_match(s, "--removed", NULL)) {
			if (push(a->sync_removed, &a->n_sync_removed, opt_value(argc, argv, &i)) < 0)
				return 1;
		} else if (strcmp(s, "--hook") == 0) {
			a->hook = true;
		} else if (strcmp(s, "--retry") == 0) {
			a->retry = true;
		} else if (strcmp(s, "--json") == 0) {
			a->json = true;
		} else if (opt_match(s, "--module", "-m")) {
			const char *mv = opt_value(argc, argv, &i);
			set_module(a, mv);
			if (push(a->mods, &a->n_mods, mv) < 0)
				return 1;
		} else if (strcmp(s, "-v") == 0) {
			free(a->version);
			a->version = strdup(opt_value(argc, argv, &i));
		} else if (opt_match(s, "--kernelver", "-k")) {
			if (add_kernel(a, opt_value(argc, argv, &i)) < 0)
				return 1;
		} else if (opt_match(s, "--archive", NULL)) { /* before --arch*, as in dkms */
			a->archive = opt_value(argc, argv, &i);
		} else if (opt_match(s, "--arch", "-a")) {
			if (push(a->arches, &a->n_arches, opt_value(argc, argv, &i)) < 0)
				return 1;
		} else if (strcmp(s, "-c") == 0) {
			a->o.conf = opt_value(argc, argv, &i);
		} else if (strcmp(s, "-q") == 0 || strcmp(s, "--quiet") == 0) {
			a->quiet = true;
		} else if (strcmp(s, "-V") == 0 || strcmp(s, "--version") == 0) {
			printf("rekmod-%s\n", rekmod_version());
			return 0;
		} else if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (!strcmp(s, "--no-initrd") || !strcmp(s, "--no-clean-kernel") ||
			   !strcmp(s, "--no-prepare-kernel")) {
			fprintf(stderr, "Deprecated feature: %s\n", s);
		} else if (strcmp(s, "--binaries-only") == 0) {
			a->binaries_only = true;
		} else if (strcmp(s, "--source-only") == 0) {
			a->source_only = true;
		} else if (strcmp(s, "--force") == 0) {
			a->o.force = true;
		} else if (strcmp(s, "--force-version-override") == 0) {
			a->o.force_version_override = true;
		} else if (strcmp(s, "--all") == 0) {
			a->all = true;
		} else if (strcmp(s, "--verbose") == 0) {
			a->o.verbose = true;
		} else if (!strcmp(s, "--rpm_safe_upgrade") || !strcmp(s, "--symlink-modules") ||
			   !strcmp(s, "--modprobe-on-install") || !strcmp(s, "--debug")) {
			fprintf(stderr, "Warning: %s is not supported by rekmod and is ignored.\n", s);
		} else if (opt_match(s, "--dkmstree", NULL)) {
			a->o.dkms_tree = opt_value(argc, argv, &i);
		} else if (opt_match(s, "--sourcetree", NULL)) {
			a->o.source_tree = opt_value(argc, argv, &i);
		} else if (opt_match(s, "--installtree", NULL)) {
			a->o.install_tree = opt_value(argc, argv, &i);
		} else if (opt_match(s, "--root", NULL)) {
			a->o.root = opt_value(argc, argv, &i);
		} else if (opt_match(s, "--config", NULL)) {
			a->o.kernel_config = opt_value(argc, argv, &i);
		} else if (opt_match(s, "--kernelsourcedir", NULL)) {
			a->o.kernel_source_dir = opt_value(argc, argv, &i);
		} else if (opt_match(s, "--templatekernel", NULL)) {
			a->template_kernel = opt_value(argc, argv, &i);
		} else if (opt_match(s, "--directive", NULL)) {
			if (push(a->directives, &a->n_directives, opt_value(argc, argv, &i)) < 0)
				return 1;
		} else if (strcmp(s, "--no-depmod") == 0) {
			a->o.no_depmod = true;
		} else if (strcmp(s, "-j") == 0) {
			a->o.jobs = atoi(opt_value(argc, argv, &i));
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

static int check_args(struct args *a)
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

static const char *arch_of(const struct args *a, size_t i)
{
	if (a->n_arches == 0)
		return NULL;
	return a->n_arches == 1 ? a->arches[0] : a->arches[i];
}

static int default_kernel(struct args *a)
{
	static struct utsname u;
	if (a->n_kernels || a->all)
		return 0;
	uname(&u);
	return push(a->kernels, &a->n_kernels, u.release);
}

static int need_module(const struct args *a, const char *action)
{
	if (a->module && a->version)
		return 0;
	fprintf(stderr,
		"Error! Arguments <module> and <module-version> are not specified.\n"
		"Usage: %s <module>/<module-version> or\n"
		"       %s -m <module>/<module-version> or\n"
		"       %s -m <module> -v <module-version>\n",
		action, action, action);
	return 1;
}

static int no_all(const struct args *a, const char *action)
{
	if (!a->all)
		return 0;
	err("The action %s does not support the --all parameter.", action);
	return 5;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static const char *state_name(enum rekmod_state st)
{
	static const char *const names[] = { "added", "built", "installed", "broken", "failed" };
	return names[st];
}

static void json_str_or_null(const char *s)
{
	if (s)
		json_str(s);
	else
		printf("null");
}

/* ", "signer": ..., "sig_key": ..." of a built or installed entry */
static void json_signature(struct rekmod_ctx *ctx, const struct rekmod_status *s)
{
	char *signer = NULL, *sig_key = NULL;
	rekmod_status_signature(ctx, s, &signer, &sig_key);
	printf(", \"signer\": ");
	json_str_or_null(signer);
	printf(", \"sig_key\": ");
	json_str_or_null(sig_key);
	free(signer);
	free(sig_key);
}

/* status --json: one array; fields documented in the README */
static void status_json(struct rekmod_ctx *ctx, struct rekmod_status *s, size_t n, bool *first)
{
	for (size_t j = 0; j < n; j++) {
		printf("%s\n  {\"module\": ", *first ? "" : ",");
		*first = false;
		json_str(s[j].module);
		printf(", \"version\": ");
		json_str(s[j].version);
		printf(", \"kernel\": ");
		if (s[j].kernel)
			json_str(s[j].kernel);
		else
			printf("null");
		printf(", \"arch\": ");
		if (s[j].arch)
			json_str(s[j].arch);
		else
			printf("null");
		printf(", \"state\": \"%s\", \"original_modules\": %s, \"differs\": %s, \"files_missing\": %s, "
		       "\"detail\": ",
		       state_name(s[j].state), s[j].notes & REKMOD_NOTE_ORIGINAL ? "true" : "false",
		       s[j].notes & REKMOD_NOTE_DIFFERS ? "true" : "false",
		       s[j].notes & REKMOD_NOTE_NOT_INSTALLED ? "true" : "false");
		if (s[j].detail)
			json_str(s[j].detail);
		else
			printf("null");
		if (s[j].exit_code >= 0)
			printf(", \"exit_code\": %d, \"log\": ", s[j].exit_code);
		else
			printf(", \"exit_code\": null, \"log\": ");
		json_str_or_null(s[j].log);
		json_signature(ctx, &s[j]);
		printf("}");
	}
}

static int do_status(struct rekmod_ctx *ctx, struct args *a)
{
	bool first = true;
	if (a->json)
		printf("[");
	size_t nk = a->n_kernels ? a->n_kernels : 1;
	for (size_t i = 0; i < nk; i++) {
		struct rekmod_status *s = NULL;
		size_t n = 0;
		rekmod_status_list(ctx, a->module, a->version, a->n_kernels ? a->kernels[i] : NULL, arch_of(a, i), &s,
				   &n);
		if (a->json) {
			status_json(ctx, s, n, &first);
			rekmod_status_free(s, n);
			continue;
		}
		for (size_t j = 0; j < n; j++) {
			char *line = rekmod_status_format(&s[j]);
			if (!a->quiet)
				printf("%s\n", line);
			free(line);
			/* the dkms line stays byte-exact for parsers; --verbose adds the signature */
			char *signer = NULL, *sig_key = NULL;
			if (a->o.verbose && !a->quiet && (s[j].state == REKMOD_BUILT || s[j].state == REKMOD_INSTALLED) &&
			    rekmod_status_signature(ctx, &s[j], &signer, &sig_key) == 0) {
				if (signer)
					printf("    signed by \"%s\", key %s\n", signer, sig_key ? sig_key : "?");
				else
					printf("    not signed\n");
			}
			free(signer);
			free(sig_key);
			if (s[j].state == REKMOD_BROKEN && !a->quiet) {
				fflush(stdout);
				fprintf(stderr,
					"\nError! %s/%s: Missing the module source directory or the symbolic link "
					"pointing to it.\nManual intervention is required!\n",
					s[j].module, s[j].version);
			}
		}
		rekmod_status_free(s, n);
	}
	if (a->json)
		printf("%s]\n", first ? "" : "\n");
	return 0;
}

static int do_sync(struct rekmod_ctx *ctx, struct args *a)
{
	struct rekmod_sync_options so = {
		.kernels = a->n_sync_kernels ? a->sync_kernels : (a->n_kernels ? a->kernels : NULL),
		.removed = a->n_sync_removed ? a->sync_removed : NULL,
		.modules = a->n_mods ? a->mods : NULL,
		.retry = a->retry,
	};
	struct rekmod_sync_result res = { 0 };
	live.on = !a->quiet && !a->o.verbose && isatty(STDOUT_FILENO);
	if (live.on)
		so.progress = live_progress;
	int r = rekmod_sync(ctx, &so, &res);
	if (live.on)
		live_finish();
	if ((res.built || res.installed || res.failed || res.removed || res.waiting) && (!a->quiet || res.failed))
		fprintf(a->hook ? stderr : stdout,
			"rekmod sync: %u built, %u installed, %u failed, %u skipped, %u removed, %u waiting for "
			"headers\n",
			res.built, res.installed, res.failed, res.skipped, res.removed, res.waiting);
	return a->hook ? 0 : r;
}

static int fill_all(struct rekmod_ctx *ctx, struct args *a, char ***ks, char ***as)
{
	if (!a->all)
		return 0;
	rekmod_built_kernels(ctx, a->module, a->version, ks, as);
	a->n_kernels = a->n_arches = 0;
	for (size_t i = 0; (*ks)[i]; i++)
		if (push(a->kernels, &a->n_kernels, (*ks)[i]) < 0 || push(a->arches, &a->n_arches, (*as)[i]) < 0)
			return 1;
	return 0;
}

static void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static int per_kernel(struct rekmod_ctx *ctx, struct args *a,
		      int (*fn)(struct rekmod_ctx *, const char *, const char *, const char *, const char *))
{
	int r = 0;
	for (size_t i = 0; i < a->n_kernels; i++)
		r = fn(ctx, a->module, a->version, a->kernels[i], arch_of(a, i));
	return r;
}

/* mktarball (dkms: -k or the running kernel, --all: every built kernel),
 * mkdeb and mkrpm (no -k: every built kernel) */
static int do_pack(struct rekmod_ctx *ctx, struct args *a)
{
	char **ks = NULL, **as = NULL;
	int r = need_module(a, a->action);
	if (r)
		return r;
	/* the library says when m/v is not in the tree (exit 3) */
	bool tarball = !strcmp(a->action, "mktarball");
	if (tarball && (r = default_kernel(a)))
		return r;
	if ((r = fill_all(ctx, a, &ks, &as)))
		goto out;
	const char *arches[MAX_ARGS + 1] = { 0 };
	for (size_t i = 0; i < a->n_kernels; i++)
		arches[i] = arch_of(a, i);
	struct rekmod_pack_options o = {
		.module = a->module,
		.version = a->version,
		.kernels = a->n_kernels ? a->kernels : NULL,
		.arches = a->n_kernels ? arches : NULL,
		.source_only = a->source_only,
		.binaries_only = a->binaries_only,
		.archive = a->archive,
	};
	if (tarball)
		r = rekmod_mktarball(ctx, &o);
	else if (!strcmp(a->action, "mkdeb"))
		r = rekmod_mkdeb(ctx, &o);
	else
		r = rekmod_mkrpm(ctx, &o);
out:
	free_strv(ks);
	free_strv(as);
	return r;
}

static int dispatch(struct rekmod_ctx *ctx, struct args *a)
{
	const char *act = a->action;
	char **ks = NULL, **as = NULL;
	int r = 0;
	if (!strcmp(act, "status"))
		return do_status(ctx, a);
	if (!strcmp(act, "sync"))
		return do_sync(ctx, a);
	if (!strcmp(act, "generate_mok"))
		return rekmod_generate_mok(ctx);
	if (!strcmp(act, "ldtarball") || (!strcmp(act, "add") && a->archive && !a->module && !a->source_dir))
		return rekmod_ldtarball(ctx, a->archive, a->o.force);
	if (!strcmp(act, "mktarball") || !strcmp(act, "mkdeb") || !strcmp(act, "mkrpm"))
		return do_pack(ctx, a);
	if (!strcmp(act, "match")) {
		if ((r = default_kernel(a)))
			return r;
		if (a->n_kernels != 1) {
			err("The action %s does not support multiple kernel version parameters on the command line.",
			    act);
			return 4;
		}
		return rekmod_match(ctx, a->template_kernel, a->kernels[0], arch_of(a, 0), a->module);
	}
	if (!strcmp(act, "kernel_preinst") || !strcmp(act, "kernel_prerm")) {
		if (a->n_kernels != 1) {
			err("The action %s does not support multiple kernel version parameters on the command line.",
			    act);
			return 4;
		}
		return rekmod_kernel_unbuild_all(ctx, a->kernels[0], !strcmp(act, "kernel_preinst"));
	}
	if ((!strcmp(act, "build") || !strcmp(act, "install")) && a->all) {
		/* rekmod: every kernel with headers (dkms 3.0.10 refuses --all here, exit 5) */
		if (a->source_dir && !a->module && (r = rekmod_add_path(ctx, a->source_dir, &a->module, &a->version)))
			return r;
		if ((r = need_module(a, act)))
			return r;
		if ((r = rekmod_kernels_with_headers(ctx, &ks)))
			return r;
		a->n_kernels = a->n_arches = 0;
		for (size_t i = 0; ks[i]; i++)
			if (push(a->kernels, &a->n_kernels, ks[i]) < 0) {
				r = 1;
				goto out;
			}
		if (!a->n_kernels)
			fprintf(stderr, "Warning: no kernel in %s has headers: nothing to %s.\n",
				rekmod_install_tree(ctx), act);
		r = 0;
		for (size_t i = 0; i < a->n_kernels; i++) {
			int q = (!strcmp(act, "build") ? rekmod_build : rekmod_install)(ctx, a->module, a->version,
											a->kernels[i], NULL);
			if (q)
				r = q;
		}
		goto out;
	}
	if (!strcmp(act, "add") || !strcmp(act, "build") || !strcmp(act, "install")) {
		if ((r = no_all(a, act)))
			return r;
		if (a->source_dir && !a->module) {
			r = rekmod_add_path(ctx, a->source_dir, &a->module, &a->version);
			if (r)
				return r;
		}
		if ((r = need_module(a, act)) || (r = default_kernel(a)))
			return r;
		if (!strcmp(act, "add")) {
			if (rekmod_is_added(ctx, a->module, a->version) && a->source_dir) {
				printf("Module %s/%s already added.\n", a->module, a->version);
				return 0;
			}
			return rekmod_add(ctx, a->module, a->version);
		}
		return per_kernel(ctx, a, !strcmp(act, "build") ? rekmod_build : rekmod_install);
	}
	if (!strcmp(act, "remove") || !strcmp(act, "unbuild") || !strcmp(act, "uninstall")) {
		if ((r = need_module(a, act)))
			return r;
		if (!rekmod_is_added(ctx, a->module, a->version)) {
			fprintf(stderr, "Error! The module/version combo: %s-%s is not located in the DKMS tree.\n",
				a->module, a->version);
			return 3;
		}
		if ((r = fill_all(ctx, a, &ks, &as)) || (r = default_kernel(a)))
			goto out;
		if (!strcmp(act, "remove")) {
			const char *arches[MAX_ARGS + 1] = { 0 };
			for (size_t i = 0; i < a->n_kernels; i++)
				arches[i] = arch_of(a, i);
			r = rekmod_remove(ctx, a->module, a->version, a->kernels, arches);
		} else {
			r = per_kernel(ctx, a, !strcmp(act, "unbuild") ? rekmod_unbuild : rekmod_uninstall);
		}
		goto out;
	}
	if (!strcmp(act, "autoinstall") || !strcmp(act, "kernel_postinst")) {
		if ((r = no_all(a, act)) || (r = default_kernel(a)))
			return r;
		if (a->n_kernels != 1) {
			err("The action %s does not support multiple kernel version parameters on the command line.",
			    act);
			return 4;
		}
		return rekmod_autoinstall(ctx, a->kernels[0], arch_of(a, 0));
	}
	err("Unknown action specified: \"%s\"", act);
	return 1;
out:
	free_strv(ks);
	free_strv(as);
	return r;
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
		err("Unknown action specified: \"%s\"", "");
		usage(stderr);
		r = 0;
		goto out;
	}
	a.o.directives = a.directives;
	a.o.log_fn = log_to_terminal;
	a.o.log_userdata = &a;
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
	return r;
}
