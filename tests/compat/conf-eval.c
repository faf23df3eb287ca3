/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test program for tests/compat/conf-diff.sh: evaluates dkms.conf files with
 * rekmod's library (native reader, bash evaluator, or both as rekmod does)
 * and prints the whitelisted arrays as NAME[i]=value lines (escaped as
 * conf_vars_dump does). Not installed.
 *
 *   conf-eval [-r auto|native|bash] [-e name=value]... FILE...
 *
 * -e sets one of the variables dkms defines while it sources dkms.conf
 * (kernelver, arch, kernel_source_dir, ...). Exit: 0, 1 evaluation error
 * (messages on stderr), 2 usage, 3 the native reader declined (-r native).
 * stderr's last line names the reader used: "reader: native|bash". */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "dkmsconf.h"

static void log_fn(void *userdata, int priority, const char *msg)
{
	(void)userdata;
	fprintf(stderr, "conf-eval: <%d> %s\n", priority, msg);
}

static int set_env(struct conf_env *env, const char *arg)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
#define F(x) { #x, offsetof(struct conf_env, x) }
		F(kernelver), F(arch), F(kernel_source_dir), F(kernel_config), F(dkms_tree),
		F(source_tree), F(install_tree), F(module), F(module_version), F(parallel_jobs),
		F(current_kernel), F(running_distribution), F(tmp_location),
#undef F
	};
	const char *eq = strchr(arg, '=');
	if (!eq)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strlen(fields[i].name) == (size_t)(eq - arg) && !strncmp(fields[i].name, arg, (size_t)(eq - arg))) {
			*(const char **)((char *)env + fields[i].off) = eq + 1;
			return 0;
		}
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct conf_env env = { 0 };
	const char *reader = "auto";
	int c;
	while ((c = getopt(argc, argv, "r:e:")) != -1) {
		if (c == 'r') {
			reader = optarg;
		} else if (c == 'e' && set_env(&env, optarg) == 0) {
			continue;
		} else {
			fprintf(stderr, "usage: conf-eval [-r auto|native|bash] [-e name=value]... FILE...\n");
			return 2;
		}
	}
	const struct rk_log log = { .fn = log_fn, .max_priority = LOG_DEBUG };
	const char *const *files = (const char *const *)argv + optind;
	size_t n = (size_t)(argc - optind);
	struct conf_vars *vars = NULL;
	bool bash = !strcmp(reader, "bash");
	int r;
	if (!strcmp(reader, "native"))
		r = conf_eval_native(files, n, &env, &log, &vars);
	else if (bash)
		r = conf_eval_bash(files, n, &env, &log, &vars);
	else
		r = conf_eval(files, n, &env, &log, &vars, &bash);
	if (r == -ENOTSUP) {
		fprintf(stderr, "reader: native declined\n");
		return 3;
	}
	if (r < 0)
		return 1;
	char *dump = conf_vars_dump(vars);
	fputs(dump, stdout);
	free(dump);
	conf_vars_free(vars);
	fprintf(stderr, "reader: %s\n", bash ? "bash" : "native");
	return 0;
}
