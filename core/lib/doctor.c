/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* doctor: what needs action on this machine, one finding per problem with
 * the command that fixes it. It only observes, through the same code as
 * the rest: kernel discovery and the headers package of sync's "waiting
 * for headers" line, status's view of the tree (failures, opt-outs, changed
 * installs), the signing code's key choice and per-kernel facts, and the
 * compression choice of the build. It takes no lock and writes nothing.
 * Notes (class 0, never in the exit status) say what is so without being a
 * problem: a build reused from another kernel. */
#include <limits.h>
#include <unistd.h>

#include "internal.h"

struct doc {
	struct rekmod_ctx *ctx;
	struct rekmod_doctor_report *r;
	size_t cap;
};

static struct rekmod_finding *finding(struct doc *d, unsigned cls, const char *kind, const struct rekmod_status *s)
{
	struct rekmod_doctor_report *r = d->r;
	if (r->n_findings == d->cap)
		r->findings = xrealloc(r->findings, (d->cap = d->cap ? 2 * d->cap : 8) * sizeof(*r->findings));
	struct rekmod_finding *f = &r->findings[r->n_findings++];
	*f = (struct rekmod_finding){
		.cls = cls,
		.kind = kind,
		.module = s && s->module ? xstrdup(s->module) : NULL,
		.version = s && s->version ? xstrdup(s->version) : NULL,
		.kernel = s && s->kernel ? xstrdup(s->kernel) : NULL,
		.arch = s && s->arch ? xstrdup(s->arch) : NULL,
	};
	r->classes |= cls;
	return f;
}

static const struct rekmod_kernel_facts *facts_of(const struct doc *d, const char *kernel)
{
	for (size_t i = 0; kernel && i < d->r->n_kernels; i++)
		if (streq(d->r->kernels[i].kernel, kernel))
			return &d->r->kernels[i];
	return NULL;
}

/* ---- kernels ---- */

static void kernel_facts(struct doc *d, const char *k, struct rekmod_kernel_facts *kf)
{
	struct rekmod_ctx *ctx = d->ctx;
	*kf = (struct rekmod_kernel_facts){
		.kernel = xstrdup(k),
		.headers = kernel_has_headers(ctx, k),
		.image = kernel_has_image(ctx, k),
	};
	if (!kf->headers)
		kf->headers_package = headers_package_hint(ctx, k);
	_cleanup_free_ char *cfg = kernel_config_path(ctx, k);
	_cleanup_free_ char *dep = xasprintf("%s/%s/modules.dep", ctx->install_tree_path, k);
	const char *why = NULL;
	kf->compression = compress_name(compress_choose_from(cfg, dep, &why));
	kf->compression_from = why;
	struct sign_kernel sk;
	sign_kernel_facts(ctx, k, &sk);
	kf->verifies_signatures = sk.verifies && !sk.disabled;
	kf->requires_signatures = sk.enforce;
	kf->sig_hash = TAKE_PTR(sk.hash);
	kf->sign_file = sk.sign_file_found ? TAKE_PTR(sk.sign_file) : NULL;
	sign_kernel_done(&sk);
}

/* headers missing (only a concern when something is registered); no
 * signing tool where signatures are required or Secure Boot is on */
static void kernel_findings(struct doc *d, const struct rekmod_kernel_facts *kf, bool registered)
{
	struct rekmod_status s = { .kernel = kf->kernel };
	if (!kf->headers && kf->image && registered) {
		struct rekmod_finding *f = finding(d, REKMOD_DOCTOR_KERNELS, "no-headers", &s);
		f->problem = xasprintf("kernel %s: no headers in %s/%s/build, so no module can be built for it",
				       kf->kernel, d->ctx->install_tree_path, kf->kernel);
		f->fix = xasprintf("install %s, then rekmod sync --kernel %s", kf->headers_package, kf->kernel);
	}
	bool needs = kf->requires_signatures || (kf->verifies_signatures && d->r->signing.secure_boot == 1);
	if (kf->headers && needs && !kf->sign_file && registered) {
		struct rekmod_finding *f = finding(d, REKMOD_DOCTOR_KERNELS, "no-sign-tool", &s);
		f->problem = xasprintf("kernel %s: its modules must be signed, and no sign-file was found for it",
				       kf->kernel);
		f->fix = xstrdup("set sign_file in /etc/dkms/framework.conf (or install the kernel's kbuild package)");
	}
}

static void scan_kernels(struct doc *d, bool registered)
{
	_cleanup_strv_free_ char **ks = kernels_in_tree(d->ctx, false);
	d->r->kernels = xcalloc(strv_len(ks) + 1, sizeof(*d->r->kernels));
	for (size_t i = 0; ks[i]; i++)
		kernel_facts(d, ks[i], &d->r->kernels[d->r->n_kernels++]);
	for (size_t i = 0; i < d->r->n_kernels; i++)
		kernel_findings(d, &d->r->kernels[i], registered);
}

/* ---- registrations (status's view of the tree) ---- */

static void broken_finding(struct doc *d, const struct rekmod_status *s)
{
	_cleanup_free_ char *link = xasprintf("%s/%s/%s/source", d->ctx->dkms_tree_path, s->module, s->version);
	char target[PATH_MAX];
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	struct rekmod_finding *f = finding(d, REKMOD_DOCTOR_MODULES, "broken-source", s);
	if (n > 0) {
		target[n] = '\0';
		f->problem = xasprintf("%s/%s: broken: its source link %s points to %s, which is missing", s->module,
				       s->version, link, target);
		f->fix = xasprintf("reinstall the package that ships %s, or drop the registration: rm -r %s/%s/%s",
				   target, d->ctx->dkms_tree_path, s->module, s->version);
	} else {
		f->problem = xasprintf("%s/%s: broken: %s is missing", s->module, s->version, link);
		f->fix = xasprintf("rm -r %s/%s/%s, then rekmod add %s/%s", d->ctx->dkms_tree_path, s->module,
				   s->version, s->module, s->version);
	}
}

static void failed_finding(struct doc *d, const struct rekmod_status *s)
{
	const struct rekmod_kernel_facts *kf = facts_of(d, s->kernel);
	if (!kf)
		return; /* the kernel is gone: sync cleans up */
	_cleanup_free_ char *first = log_first_error(s->log);
	struct rekmod_finding *f = finding(d, REKMOD_DOCTOR_MODULES, "failed-build", s);
	f->log = s->log ? xstrdup(s->log) : NULL;
	f->problem = xasprintf("%s/%s, %s, %s: the build failed (%s)%s%s", s->module, s->version, s->kernel, s->arch,
			       s->detail ? s->detail : "exit ?", first ? ": " : "", first ? first : "");
	if (!kf->headers)
		f->fix = xasprintf("install %s, then rekmod sync --kernel %s", kf->headers_package, s->kernel);
	else
		f->fix = xasprintf("fix what the log says, then rekmod sync --retry -m %s --kernel %s", s->module,
				   s->kernel);
}

static void built_finding(struct doc *d, const struct rekmod_status *s)
{
	_cleanup_free_ char *iv = tree_installed_version(d->ctx, s->module, s->kernel, s->arch);
	if (iv || !facts_of(d, s->kernel) || tree_optout(d->ctx, s->module, s->kernel, s->arch))
		return; /* another version is installed, the kernel is gone, or the user said so */
	struct rekmod_finding *f = finding(d, REKMOD_DOCTOR_MODULES, "not-installed", s);
	f->problem = xasprintf("%s/%s, %s, %s: built but not installed", s->module, s->version, s->kernel, s->arch);
	f->fix = xasprintf("rekmod install %s/%s -k %s", s->module, s->version, s->kernel);
}

static void installed_findings(struct doc *d, const struct rekmod_status *s)
{
	if (s->notes & (REKMOD_NOTE_DIFFERS | REKMOD_NOTE_NOT_INSTALLED)) {
		bool differs = s->notes & REKMOD_NOTE_DIFFERS;
		struct rekmod_finding *f = finding(d, REKMOD_DOCTOR_MODULES, differs ? "files-differ" : "files-missing", s);
		f->problem = xasprintf("%s/%s, %s, %s: %s", s->module, s->version, s->kernel, s->arch,
				       differs ? "the installed module files differ from the built ones (changed "
						 "after install)"
					       : "installed, but module files are missing in the kernel's modules folder");
		f->fix = xasprintf("rekmod install %s/%s -k %s --force", s->module, s->version, s->kernel);
	}
	const struct rekmod_kernel_facts *kf = facts_of(d, s->kernel);
	bool needs = kf && (kf->requires_signatures || (kf->verifies_signatures && d->r->signing.secure_boot == 1));
	_cleanup_free_ char *signer = NULL, *sig_key = NULL;
	if (!needs || rekmod_status_signature(d->ctx, s, &signer, &sig_key) < 0 || signer)
		return;
	struct rekmod_finding *f = finding(d, REKMOD_DOCTOR_SECURE_BOOT, "unsigned", s);
	f->problem = xasprintf("%s/%s, %s, %s: installed unsigned, and the kernel %s", s->module, s->version,
			       s->kernel, s->arch,
			       kf->requires_signatures ? "requires signed modules (CONFIG_MODULE_SIG_FORCE=y)"
						       : "refuses unsigned modules under Secure Boot");
	f->fix = xasprintf("make signing work (rekmod status --verbose names the key), then rekmod sync --rebuild -m "
			   "%s --kernel %s", s->module, s->kernel);
}

static void optout_finding(struct doc *d, const struct rekmod_status *s)
{
	struct rekmod_finding *f = finding(d, REKMOD_DOCTOR_DECISIONS, "optout", s);
	f->problem = xasprintf("%s/%s, %s, %s: removed by the user, so sync leaves it off", s->module, s->version,
			       s->kernel, s->arch);
	f->fix = xasprintf("rekmod install %s/%s -k %s brings it back (nothing to do if that was meant)",
			   s->module, s->version, s->kernel);
}

/* a build copied from another kernel's (reuse.c): no problem, a note (class 0) */
static void reused_note(struct doc *d, const struct rekmod_status *s)
{
	_cleanup_free_ char *how = NULL;
	_cleanup_free_ char *from = tree_reused_from(d->ctx, s->module, s->version, s->kernel, s->arch, &how);
	const char *k0 = from ? from : s->reused_from;
	struct rekmod_finding *f = finding(d, REKMOD_DOCTOR_NOTE, "reused", s);
	f->problem = xasprintf("%s/%s, %s, %s: %s from %s: its build for %s is reused (%s kernels), not compiled for %s",
			       s->module, s->version, s->kernel, s->arch,
			       s->state == REKMOD_INSTALLED ? "installed-weak" : "built-weak", k0, k0,
			       how ? how : "equivalent", s->kernel);
	f->fix = xasprintf("nothing to do (rekmod sync --rebuild -m %s --kernel %s compiles it for %s)", s->module,
			   s->kernel, s->kernel);
}

static void scan_registrations(struct doc *d, const struct rekmod_status *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i].reused_from && (s[i].state == REKMOD_INSTALLED || s[i].state == REKMOD_BUILT))
			reused_note(d, &s[i]);
		switch (s[i].state) {
		case REKMOD_BROKEN:
			broken_finding(d, &s[i]);
			break;
		case REKMOD_FAILED:
			failed_finding(d, &s[i]);
			break;
		case REKMOD_BUILT:
			built_finding(d, &s[i]);
			break;
		case REKMOD_INSTALLED:
			installed_findings(d, &s[i]);
			break;
		case REKMOD_OPTOUT:
			optout_finding(d, &s[i]);
			break;
		case REKMOD_ADDED:
			break;
		}
	}
}

/* ---- Secure Boot ---- */

static void secure_boot_findings(struct doc *d, bool registered)
{
	const struct rekmod_signing *sg = &d->r->signing;
	bool verifying = false;
	for (size_t i = 0; i < d->r->n_kernels; i++)
		verifying |= d->r->kernels[i].verifies_signatures;
	if (sg->secure_boot != 1 || !registered || !verifying)
		return;
	if (!sg->present) {
		struct rekmod_finding *f = finding(d, REKMOD_DOCTOR_SECURE_BOOT, "no-key", NULL);
		f->problem = xasprintf("Secure Boot is enabled and the module signing key %s does not exist yet", sg->key);
		f->fix = xasprintf("rekmod generate_mok, then mokutil --import %s (reboot, confirm in MokManager)",
				   sg->cert);
	} else if (sg->enrolled == REKMOD_ENROL_NO) {
		struct rekmod_finding *f = finding(d, REKMOD_DOCTOR_SECURE_BOOT, "not-enrolled", NULL);
		f->problem = xasprintf("Secure Boot is enabled and the module signing certificate %s is not enrolled, "
				       "so the kernel refuses the modules it signs", sg->cert);
		f->fix = xasprintf("mokutil --import %s (then reboot and confirm in MokManager)", sg->cert);
	}
}

_public_ int rekmod_doctor(struct rekmod_ctx *ctx, struct rekmod_doctor_report *ret)
{
	*ret = (struct rekmod_doctor_report){ 0 };
	struct doc d = { .ctx = ctx, .r = ret };
	int r = rekmod_signing_info(ctx, &ret->signing);
	if (r < 0)
		return r;
	struct rekmod_status *s = NULL;
	size_t n = 0;
	rekmod_status_list(ctx, NULL, NULL, NULL, NULL, &s, &n);
	_cleanup_strv_free_ char **added = tree_list_added(ctx, NULL);
	bool registered = added && added[0];
	scan_kernels(&d, registered);
	scan_registrations(&d, s, n);
	secure_boot_findings(&d, registered);
	rekmod_status_free(s, n);
	return 0;
}

_public_ void rekmod_doctor_free(struct rekmod_doctor_report *r)
{
	for (size_t i = 0; i < r->n_findings; i++) {
		struct rekmod_finding *f = &r->findings[i];
		free(f->module);
		free(f->version);
		free(f->kernel);
		free(f->arch);
		free(f->problem);
		free(f->fix);
		free(f->log);
	}
	free(r->findings);
	for (size_t i = 0; i < r->n_kernels; i++) {
		free(r->kernels[i].kernel);
		free(r->kernels[i].headers_package);
		free(r->kernels[i].sig_hash);
		free(r->kernels[i].sign_file);
	}
	free(r->kernels);
	rekmod_signing_done(&r->signing);
	*r = (struct rekmod_doctor_report){ 0 };
}
