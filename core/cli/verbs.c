/* SPDX-License-Identifier: GPL-2.0-or-later */
/* One handler per verb. prepare() (main.c) has checked the arguments as the
 * verb's table entry says: the module is set where required, the kernels
 * are resolved (-k, the running kernel, --all) and counted. Each handler is
 * the library call, once per kernel where the library takes one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "output.h"

const char *arch_of(const struct args *a, size_t i)
{
	if (a->n_arches == 0)
		return NULL;
	return a->n_arches == 1 ? a->arches[0] : a->arches[i];
}

/* One request for all the kernels: one plan, one depmod per kernel. With
 * --all the library reads the kernels again under the tree lock. */
static int run_verb(struct rekmod_ctx *ctx, const struct args *a, enum rekmod_verb verb)
{
	struct rekmod_request req = {
		.verb = verb,
		.module = a->module,
		.version = a->version,
		.kernels = a->kernels,
		.arches = a->kernel_arches,
		.all = a->all,
		.template_kernel = a->template_kernel,
	};
	return rekmod_run(ctx, &req);
}

int cmd_add(struct rekmod_ctx *ctx, struct args *a)
{
	/* dkms 3.x: an add of an added module/version, by directory too, is an error (3) */
	return rekmod_add(ctx, a->module, a->version);
}

/* build/install --all: every kernel is tried, a failure is the result */
int cmd_build(struct rekmod_ctx *ctx, struct args *a)
{
	return run_verb(ctx, a, REKMOD_VERB_BUILD);
}

int cmd_install(struct rekmod_ctx *ctx, struct args *a)
{
	return run_verb(ctx, a, REKMOD_VERB_INSTALL);
}

int cmd_uninstall(struct rekmod_ctx *ctx, struct args *a)
{
	return run_verb(ctx, a, REKMOD_VERB_UNINSTALL);
}

int cmd_unbuild(struct rekmod_ctx *ctx, struct args *a)
{
	return run_verb(ctx, a, REKMOD_VERB_UNBUILD);
}

int cmd_remove(struct rekmod_ctx *ctx, struct args *a)
{
	return run_verb(ctx, a, REKMOD_VERB_REMOVE);
}

int cmd_status(struct rekmod_ctx *ctx, struct args *a)
{
	bool first = true;
	if (a->json)
		out_json_begin(&first);
	size_t nk = a->n_kernels ? a->n_kernels : 1;
	for (size_t i = 0; i < nk; i++) {
		struct rekmod_status *s = NULL;
		size_t n = 0;
		rekmod_status_list(ctx, a->module, a->version, a->n_kernels ? a->kernels[i] : NULL, arch_of(a, i), &s,
				   &n);
		if (a->json)
			out_status_json(ctx, s, n, &first);
		else
			out_status(ctx, s, n, a->quiet, a->o.verbose);
		rekmod_status_free(s, n);
	}
	if (a->json)
		out_json_end(first);
	struct rekmod_signing sg;
	if (a->o.verbose && !a->json && !a->quiet && rekmod_signing_info(ctx, &sg) == 0) {
		out_signing(stdout, &sg);
		rekmod_signing_done(&sg);
	}
	return 0;
}

/* autoinstall and kernel_postinst */
int cmd_autoinstall(struct rekmod_ctx *ctx, struct args *a)
{
	return run_verb(ctx, a, REKMOD_VERB_AUTOINSTALL);
}

int cmd_kernel_postinst(struct rekmod_ctx *ctx, struct args *a)
{
	return run_verb(ctx, a, REKMOD_VERB_KERNEL_POSTINST);
}

int cmd_match(struct rekmod_ctx *ctx, struct args *a)
{
	return run_verb(ctx, a, REKMOD_VERB_MATCH);
}

/* mktarball (dkms: -k or the running kernel, --all: every built kernel),
 * mkdeb and mkrpm (no -k: every built kernel) */
static struct rekmod_pack_options pack_options(const struct args *a)
{
	return (struct rekmod_pack_options){
		.module = a->module,
		.version = a->version,
		.kernels = a->n_kernels ? a->kernels : NULL,
		.arches = a->n_kernels ? a->kernel_arches : NULL,
		.source_only = a->source_only,
		.binaries_only = a->binaries_only,
		.archive = a->archive,
	};
}

int cmd_mktarball(struct rekmod_ctx *ctx, struct args *a)
{
	struct rekmod_pack_options o = pack_options(a);
	return rekmod_mktarball(ctx, &o);
}

int cmd_mkdeb(struct rekmod_ctx *ctx, struct args *a)
{
	struct rekmod_pack_options o = pack_options(a);
	return rekmod_mkdeb(ctx, &o);
}

int cmd_mkrpm(struct rekmod_ctx *ctx, struct args *a)
{
	struct rekmod_pack_options o = pack_options(a);
	return rekmod_mkrpm(ctx, &o);
}

int cmd_ldtarball(struct rekmod_ctx *ctx, struct args *a)
{
	return rekmod_ldtarball(ctx, a->archive, a->o.force);
}

int cmd_generate_mok(struct rekmod_ctx *ctx, struct args *a)
{
	return rekmod_generate_mok(ctx);
}

int cmd_kernel_preinst(struct rekmod_ctx *ctx, struct args *a)
{
	return run_verb(ctx, a, REKMOD_VERB_KERNEL_PREINST);
}

int cmd_kernel_prerm(struct rekmod_ctx *ctx, struct args *a)
{
	return run_verb(ctx, a, REKMOD_VERB_KERNEL_PRERM);
}

int cmd_sync(struct rekmod_ctx *ctx, struct args *a)
{
	if (a->bad_jobs && !a->hook) {
		err("-j %s is not a number of parallel jobs; pass -j N (a number), or leave -j out", a->bad_jobs);
		return 1;
	}
	if (a->bad_jobs)
		fprintf(stderr, "Warning: -j %s is not a number of parallel jobs; using the default\n", a->bad_jobs);
	struct rekmod_sync_options so = {
		.hook = a->hook,
		.kernels = a->n_sync_kernels ? a->sync_kernels : (a->n_kernels ? a->kernels : NULL),
		.removed = a->n_sync_removed ? a->sync_removed : NULL,
		.modules = a->n_mods ? a->mods : NULL,
		.retry = a->retry,
		.rebuild = a->rebuild,
	};
	struct rekmod_sync_result res = { 0 };
	bool live = !a->quiet && !a->o.verbose && live_start();
	if (live)
		so.progress = live_progress;
	int r = rekmod_sync(ctx, &so, &res);
	if (live)
		live_finish();
	if ((res.built || res.installed || res.failed || res.removed || res.waiting) && (!a->quiet || res.failed))
		out_sync_result(a->hook ? stderr : stdout, &res);
	return a->hook ? 0 : r;
}

/* log: the journal's last transactions */
int cmd_log(struct rekmod_ctx *ctx, struct args *a)
{
	if (a->count < 0) {
		err("-n needs a positive number of transactions; pass -n N, e.g. -n 5");
		return 1;
	}
	char *text = NULL;
	rekmod_journal_read(ctx, &text);
	out_journal(text, a->count ? a->count : 10, a->json);
	free(text);
	return 0;
}

/* doctor: what needs action; exits with the OR of the findings' classes
 * (1 modules, 2 kernels, 4 Secure Boot, 8 opt-outs), 0 and silent when none */
int cmd_doctor(struct rekmod_ctx *ctx, struct args *a)
{
	struct rekmod_doctor_report r;
	int e = rekmod_doctor(ctx, &r);
	if (e < 0) {
		err("doctor: %s", strerror(-e));
		return 1;
	}
	if (a->json)
		out_doctor_json(&r);
	else if (!a->quiet)
		out_doctor(&r, a->o.verbose);
	int code = (int)r.classes;
	rekmod_doctor_free(&r);
	return code;
}
