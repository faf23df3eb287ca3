/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The executor: runs any plan. Jobs start when the jobs they depend on are
 * done; a JOB_AUTO build of a parallel plan runs in a silent worker process
 * holding a token of the one make jobserver, everything else runs here, one
 * job at a time; each kernel gets one depmod once its last job is done;
 * post_transaction runs once at the end. */
#include <ctype.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "plan.h"
#include "reuse.h"

/* ---- jobserver ---- */

struct jobserver {
	int rfd, wfd; /* the pipe every make sees */
	int token_fd; /* our own non-blocking description of the read end */
	bool own;     /* we created it (else inherited from a parent make) */
	int implicit; /* tokens we hold without reading (1 when inherited) */
};

static int inherited_jobserver(struct jobserver *js)
{
	const char *mf = getenv("MAKEFLAGS");
	const char *p = mf ? strstr(mf, "--jobserver-auth=") : NULL;
	int r, w;
	if (!p || sscanf(p + strlen("--jobserver-auth="), "%d,%d", &r, &w) != 2)
		return -ENOENT;
	if (fcntl(r, F_GETFD) < 0 || fcntl(w, F_GETFD) < 0)
		return -EBADF;
	*js = (struct jobserver){ .rfd = r, .wfd = w, .token_fd = -1, .own = false, .implicit = 1 };
	return 0;
}

static int jobserver_open(struct rekmod_ctx *ctx, struct jobserver *js)
{
	if (inherited_jobserver(js) < 0) {
		int fds[2];
		if (pipe2(fds, O_CLOEXEC) < 0)
			return -errno;
		*js = (struct jobserver){ .rfd = fds[0], .wfd = fds[1], .token_fd = -1, .own = true };
		for (int i = 0; i < ctx->jobs; i++)
			if (write(js->wfd, "+", 1) != 1)
				return -errno;
	}
	rk_debug(log_of(ctx), "make jobserver: %s (fds %d,%d)",
		 js->own ? "rekmod's own" : "inherited from the parent make", js->rfd, js->wfd);
	_cleanup_free_ char *self = xasprintf("/proc/self/fd/%d", js->rfd);
	js->token_fd = open(self, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (js->token_fd < 0)
		return -errno;
	ctx->jobserver = xasprintf("%d,%d", js->rfd, js->wfd);
	return 0;
}

static void jobserver_close(struct rekmod_ctx *ctx, struct jobserver *js)
{
	if (js->token_fd >= 0)
		close(js->token_fd);
	if (js->own) {
		close(js->rfd);
		close(js->wfd);
	}
	free(ctx->jobserver);
	ctx->jobserver = NULL;
}

/* 0: got a token; -EAGAIN: none free now */
static int token_get(struct jobserver *js, char *tok)
{
	if (js->implicit > 0) {
		js->implicit--;
		*tok = 0;
		return 0;
	}
	return read(js->token_fd, tok, 1) == 1 ? 0 : -EAGAIN;
}

static void token_put(struct jobserver *js, char tok)
{
	ssize_t n = -1;
	if (tok != 0)
		do
			n = write(js->wfd, &tok, 1);
		while (n < 0 && errno == EINTR);
	/* A token that cannot go back into the pipe stays ours, so the run
	 * keeps its parallelism; a kernel upgrade never aborts over it. */
	if (n != 1)
		js->implicit++;
}

/* ---- one job's steps ---- */

static struct step step_of(struct rekmod_ctx *ctx, const struct plan *p, int log_max)
{
	struct step st = { .ctx = ctx, .log = ctx->log, .force = p->pol->force,
			   .force_version_override = ctx->force_version_override };
	if (log_max < st.log.max_priority)
		st.log.max_priority = log_max;
	return st;
}

static void touch(struct plan *p, const struct rekmod_ctx *ctx, const char *k)
{
	plan_kernel(p, ctx, k)->touched = true;
}

/* dkms 3.x says nothing of a module that is not installed when its
 * dkms.conf has BUILD_EXCLUSIVE directives (not installing is expected) */
static bool has_exclusive(struct rekmod_ctx *ctx, const struct job *j)
{
	struct dkms_conf *c = NULL;
	struct conf_req req = { .module = j->m, .version = j->v, .kernel = j->k, .arch = j->a };
	bool yes = conf_read_quiet(ctx, &req, &c) == 0 && c->has_exclusive;
	dkms_conf_free(c);
	return yes;
}

static void uninstall_job(struct rekmod_ctx *ctx, struct plan *p, struct job *j, struct step *st)
{
	if (install_recover(st, j->m, j->v, j->k, j->a)) /* a crashed install first */
		touch(p, ctx, j->k);
	if (tree_is_installed(ctx, j->m, j->v, j->k, j->a)) {
		do_uninstall(st, j->m, j->v, j->k, j->a);
		j->uninstalled = true;
		p->res.removed++;
		touch(p, ctx, j->k);
	} else if (p->pol->say_skips && !has_exclusive(ctx, j)) {
		say(ctx, "Module %s/%s is not installed for kernel %s (%s). Skipping...", j->m, j->v, j->k, j->a);
	}
}

static int unbuild_job(struct rekmod_ctx *ctx, struct plan *p, struct job *j, struct step *st)
{
	int r = 0;
	uninstall_job(ctx, p, j, st);
	if (tree_is_built(ctx, j->m, j->v, j->k, j->a)) {
		r = do_unbuild(ctx, j->m, j->v, j->k, j->a);
		j->unbuilt = r == 0;
	} else if (p->pol->say_skips)
		say(ctx, "Module %s/%s is not built for kernel %s (%s). Skipping...", j->m, j->v, j->k, j->a);
	tree_record_clear(ctx, j->m, j->v, j->k, j->a);
	return r;
}

/* dkms build: an existing build is kept, or (forced) replaced */
static int build_job(struct rekmod_ctx *ctx, struct plan *p, struct job *j, struct step *st)
{
	if (!tree_is_added(ctx, j->m, j->v)) {
		int r = add_locked(ctx, j->m, j->v, j->k, j->a);
		if (r)
			return r;
		say(ctx, "%s", ""); /* dkms 3.x: a blank line after the add */
	}
	if (tree_is_built(ctx, j->m, j->v, j->k, j->a)) {
		if (!p->pol->force) {
			say(ctx, "Module %s/%s already built for kernel %s (%s), skip. You may override by specifying "
				 "--force.",
			    j->m, j->v, j->k, j->a);
			j->built_already = true;
			return 0;
		}
		/* dkms 3.x: the installed files stay; the old build until the new one is there */
		int r = tree_build_aside(ctx, j->m, j->v, j->k, j->a);
		if (r)
			return r;
		r = do_build(ctx, j->m, j->v, j->k, j->a);
		tree_build_aside_done(ctx, j->m, j->v, j->k, j->a, r == 0);
		return r;
	}
	(void)st;
	return do_build(ctx, j->m, j->v, j->k, j->a);
}

static int install_job(struct rekmod_ctx *ctx, struct plan *p, struct job *j, struct step *st)
{
	if (install_recover(st, j->m, j->v, j->k, j->a)) /* a crashed install first */
		touch(p, ctx, j->k);
	if (tree_is_installed(ctx, j->m, j->v, j->k, j->a)) {
		if (!p->pol->force) {
			say(ctx, "Module %s/%s already installed on kernel %s (%s), skip. You may override by "
				 "specifying --force.",
			    j->m, j->v, j->k, j->a);
			return 0;
		}
		do_uninstall(st, j->m, j->v, j->k, j->a);
		bool ran = false; /* dkms 3.x: depmod after the uninstall, then a blank line */
		if (run_depmod(ctx, j->k, &ran) == 0 && ran)
			say(ctx, "Running depmod... done.");
		say(ctx, "%s", "");
	}
	if (!tree_is_built(ctx, j->m, j->v, j->k, j->a)) {
		int r = build_job(ctx, p, j, st);
		if (r)
			return r;
	}
	int r = do_install(st, j->m, j->v, j->k, j->a);
	j->installed = r == 0;
	return r;
}

/* JOB_AUTO after its build (or with the build already there) */
static int auto_install(struct rekmod_ctx *ctx, struct plan *p, struct job *j, int built)
{
	if (built || p->pol->build_only)
		return built;
	struct step st = step_of(ctx, p, p->pol->parallel ? LOG_WARNING : LOG_DEBUG);
	int r = do_install(&st, j->m, j->v, j->k, j->a);
	j->installed = r == 0;
	return r;
}

/* JOB_REUSE: the build for j->from copied for j->k, then installed; a copy
 * that cannot be made (modules to be signed and compressed otherwise) is
 * compiled instead */
static int reuse_job(struct rekmod_ctx *ctx, struct plan *p, struct job *j)
{
	int r = do_reuse(ctx, j->m, j->v, j->k, j->a, j->from, j->how);
	j->reused = r == 0;
	if (r) {
		rk_info(log_of(ctx), "%s/%s for %s: the build for %s cannot be reused (%s), compiling", j->m, j->v, j->k,
			j->from, r < 0 ? strerror(-r) : "see above");
		r = do_build(ctx, j->m, j->v, j->k, j->a);
	}
	return auto_install(ctx, p, j, r);
}

static int unregister_job(struct rekmod_ctx *ctx, struct job *j, bool after_kernels);

/* Runs a job here, to its end. */
static int run_here(struct rekmod_ctx *ctx, struct plan *p, struct job *j)
{
	struct step st = step_of(ctx, p, LOG_DEBUG);
	switch (j->kind) {
	case JOB_BUILD:
		return build_job(ctx, p, j, &st);
	case JOB_INSTALL:
		return install_job(ctx, p, j, &st);
	case JOB_AUTO:
		return auto_install(ctx, p, j, j->built_already ? 0 : do_build(ctx, j->m, j->v, j->k, j->a));
	case JOB_UNINSTALL:
		uninstall_job(ctx, p, j, &st);
		return 0;
	case JOB_UNBUILD:
		return unbuild_job(ctx, p, j, &st);
	case JOB_UNREGISTER:
		return unregister_job(ctx, j, p->n > 1);
	case JOB_REUSE:
		return reuse_job(ctx, p, j);
	}
	return REKMOD_E_GENERIC;
}

/* Does <m>/<v> still hold a kernel directory (anything but dkms's own subdirs)? */
static bool has_kernel_dirs(const struct rekmod_ctx *ctx, const char *m, const char *v)
{
	static const char *const own[] = { "build", "tarball", "driver_disk", "rpm", "deb", "source", "log", NULL };
	_cleanup_free_ char *d = mv_dir(ctx, m, v);
	_cleanup_strv_free_ char **e = list_dir(d);
	for (size_t i = 0; e && e[i]; i++) {
		_cleanup_free_ char *path = xasprintf("%s/%s", d, e[i]);
		if (e[i][0] != '.' && !strv_contains((char *const *)own, e[i]) && is_dir(path) && !is_symlink(path))
			return true;
	}
	return false;
}

/* <m>/<v>/<K>/<A> that is neither built nor installed (no module left in it):
 * what a crash during unbuild left; removed (the lock is held) */
static void drop_partial_builds(const struct rekmod_ctx *ctx, const char *m, const char *v)
{
	static const char *const own[] = { "build", "tarball", "driver_disk", "rpm", "deb", "source", "log", NULL };
	_cleanup_free_ char *d = mv_dir(ctx, m, v);
	_cleanup_strv_free_ char **ks = list_dir(d);
	for (size_t i = 0; ks && ks[i]; i++) {
		_cleanup_free_ char *kd = xasprintf("%s/%s", d, ks[i]);
		if (ks[i][0] == '.' || strv_contains((char *const *)own, ks[i]) || !is_dir(kd) || is_symlink(kd) ||
		    !name_is_valid(ks[i]))
			continue;
		_cleanup_strv_free_ char **as = list_dir(kd);
		for (size_t l = 0; as && as[l]; l++) {
			_cleanup_free_ char *base = xasprintf("%s/%s", kd, as[l]);
			if (as[l][0] != '.' && name_is_valid(as[l]) && is_dir(base) && !is_symlink(base) &&
			    !tree_is_built(ctx, m, v, ks[i], as[l]) && !tree_is_installed(ctx, m, v, ks[i], as[l]) &&
			    !tree_intent_exists(ctx, m, v, ks[i], as[l]))
				rm_rf(base);
		}
		rmdir(kd);
	}
}

static int unregister_job(struct rekmod_ctx *ctx, struct job *j, bool after_kernels)
{
	drop_partial_builds(ctx, j->m, j->v);
	if (has_kernel_dirs(ctx, j->m, j->v))
		return 0;
	if (after_kernels) /* dkms 3.x: a blank line after the kernels' lines */
		say(ctx, "%s", "");
	say(ctx, "Deleting module %s/%s completely from the DKMS tree.", j->m, j->v);
	_cleanup_free_ char *d = mv_dir(ctx, j->m, j->v);
	_cleanup_free_ char *md = xasprintf("%s/%s", ctx->dkms_tree_path, j->m);
	/* renamed out of the way first: a crash leaves a temporary the next
	 * run drops (tree.c), never a half-removed module */
	_cleanup_free_ char *gone = xasprintf("%s/.%s.rekmod-tmp.rm", md, j->v);
	rm_rf(gone);
	int r = rename(d, gone) < 0 ? -errno : rm_rf(gone);
	_cleanup_strv_free_ char **left = tree_list_added(ctx, j->m);
	if (!left[0]) /* a module gone from the tree takes the user's opt-outs along */
		tree_optouts_forget(ctx, j->m);
	rmdir(md);
	fsync_dir_of(d);
	if (r < 0) {
		dk_error(ctx, "could not delete %s: %s", d, strerror(-r));
		return REKMOD_E_GENERIC;
	}
	return 0;
}

/* ---- progress, results ---- */

static double elapsed(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void progress(const struct plan *p, enum rekmod_job_event ev, const struct job *j)
{
	if (!p->progress)
		return;
	if (!j) {
		p->progress(p->progress_userdata, ev, NULL);
		return;
	}
	struct rekmod_job_info info = { .module = j->m, .version = j->v, .kernel = j->k, .arch = j->a,
					.result = j->result, .seconds = elapsed(&j->start) };
	p->progress(p->progress_userdata, ev, &info);
}

static void depmod_kernel(struct rekmod_ctx *ctx, struct plan *p, struct kern *kn);

static bool kernel_jobs_done(const struct plan *p, const char *k)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->jobs[i].k && streq(p->jobs[i].k, k) && p->jobs[i].state != J_DONE)
			return false;
	return true;
}

/* The user's decisions: an uninstall or remove keeps m off K, a build or
 * install brings it back and clears a stale failure. */
static void user_records(struct rekmod_ctx *ctx, const struct plan *p, const struct job *j)
{
	if (j->result || !j->k)
		return;
	if ((j->kind == JOB_UNINSTALL || j->kind == JOB_UNBUILD) && p->pol->record_optouts) {
		/* an old version removed while another is installed is no opt-out */
		_cleanup_free_ char *iv = tree_installed_version(ctx, j->m, j->k, j->a);
		if (!iv)
			tree_optout_write(ctx, j->m, j->v, j->k, j->a);
	}
	if (j->kind == JOB_BUILD || j->kind == JOB_INSTALL || j->kind == JOB_AUTO || j->kind == JOB_REUSE)
		tree_optout_clear(ctx, j->m, j->k, j->a);
	if (j->kind == JOB_BUILD || j->kind == JOB_INSTALL)
		tree_record_clear(ctx, j->m, j->v, j->k, j->a);
}

/* The bookkeeping of a finished job: counts, records, the kernel's depmod. */
static void job_done(struct rekmod_ctx *ctx, struct plan *p, struct job *j, int result)
{
	j->state = J_DONE;
	j->result = result;
	if (j->aside)
		tree_build_aside_done(ctx, j->m, j->v, j->k, j->a, result == 0);
	user_records(ctx, p, j);
	if (j->kind == JOB_AUTO || j->kind == JOB_REUSE) {
		if (result == 0) {
			p->res.built += !j->built_already && !j->reused;
			p->res.installed += !p->pol->build_only;
			tree_record_clear(ctx, j->m, j->v, j->k, j->a);
		} else if (result == REKMOD_E_SKIPPED) {
			p->res.skipped++;
			if (p->pol->keep_records)
				free(tree_record_write(ctx, RECORD_SKIPPED, j->m, j->v, j->k, j->a, result));
		} else {
			p->res.failed++;
			/* a dependency's failure is not this module's: nothing to record */
			if (p->pol->keep_records && result != REKMOD_E_DEPENDS)
				j->log = tree_record_write(ctx, RECORD_FAILED, j->m, j->v, j->k, j->a, result);
		}
	} else if (result && result != REKMOD_E_SKIPPED) {
		p->res.failed++;
	}
	if (j->installed)
		touch(p, ctx, j->k);
	if (p->pol->report && p->pol->report->finished)
		p->pol->report->finished(ctx, p, j);
	struct kern *kn = j->k ? plan_kernel(p, ctx, j->k) : NULL;
	if (kn && (kn->touched || tree_depmod_pending(ctx, kn->k)) && !kn->depmod_done && kernel_jobs_done(p, j->k))
		depmod_kernel(ctx, p, kn);
}

/* A dependency that failed, or was never planned, fails the job unrun. */
static bool deps_failed(const struct plan *p, const struct job *j)
{
	if (j->missing && j->missing[0])
		return true;
	for (size_t d = 0; j->deps && j->deps[d]; d++)
		for (size_t x = 0; x < p->n; x++)
			if (p->jobs[x].k && streq(p->jobs[x].k, j->k) && streq(p->jobs[x].m, j->deps[d]) &&
			    p->jobs[x].result && p->jobs[x].result != REKMOD_E_SKIPPED) /* dkms 3.x: a skip satisfies */
				return true;
	return false;
}

static bool ready(const struct plan *p, const struct job *j)
{
	for (size_t x = 0; x < p->n; x++) {
		const struct job *o = &p->jobs[x];
		if (o == j || o->state == J_DONE)
			continue;
		if (j->kind == JOB_UNREGISTER)
			return false; /* last */
		for (size_t d = 0; j->deps && j->deps[d]; d++)
			if (o->k && streq(o->k, j->k) && streq(o->m, j->deps[d]))
				return false;
		/* builds of one m/v take turns in $dkms_tree/<m>/<v>/build, which MAKE lines name */
		if (o->state == J_RUN && streq(o->m, j->m) && streq(o->v, j->v))
			return false;
	}
	return true;
}

/* ---- depmod, post_transaction ---- */

/* kernels a crashed command owes a depmod that this plan did not touch */
static void depmod_owed(struct rekmod_ctx *ctx)
{
	_cleanup_strv_free_ char **names = list_dir(ctx->dkms_tree_path);
	for (size_t i = 0; names && names[i]; i++) {
		const char *k = names[i] + strlen(".rekmod-depmod-");
		if (!startswith(names[i], ".rekmod-depmod-") || !name_is_valid(k))
			continue;
		bool ran = false;
		if (run_depmod(ctx, k, &ran) == 0)
			tree_depmod_pending_clear(ctx, k);
	}
}

static void depmod_kernel(struct rekmod_ctx *ctx, struct plan *p, struct kern *kn)
{
	kn->depmod_done = true;
	bool ran = false;
	if (run_depmod(ctx, kn->k, &ran) == 0) {
		tree_depmod_pending_clear(ctx, kn->k);
		if (ran && p->pol->say_depmod)
			say(ctx, "Running depmod... done.");
		return;
	}
	if (!p->pol->depmod_rollback) {
		dk_warn(ctx, "depmod failed for kernel %s", kn->k);
		return;
	}
	for (size_t i = 0; i < p->n; i++) {
		struct job *j = &p->jobs[i];
		if (!j->installed || !streq(j->k, kn->k))
			continue;
		dk_error(ctx, "Problems with depmod detected. Automatically uninstalling this module.\nInstall Failed "
			 "(depmod problems). Module rolled back to built state.");
		struct step st = step_of(ctx, p, LOG_DEBUG);
		do_uninstall(&st, j->m, j->v, j->k, j->a);
		j->installed = false;
		j->result = REKMOD_E_INSTALL;
	}
}

/* post_transaction="..." with $kernelver / ${kernelver} as dkms 3.x's
 * sourcing of framework.conf expands them */
static char *post_transaction_cmd(const char *cmd, const char *k)
{
	struct strbuf b = { 0 };
	for (const char *c = cmd; *c;) {
		if (startswith(c, "${kernelver}") || (startswith(c, "$kernelver") && !isalnum((unsigned char)c[10]) &&
						      c[10] != '_')) {
			sb_puts(&b, k);
			c += c[1] == '{' ? strlen("${kernelver}") : strlen("$kernelver");
		} else
			sb_putc(&b, *c++);
	}
	return sb_steal(&b);
}

/* dkms 3.x: post_transaction.log blanked, then one make.log-style section */
static void post_transaction(struct rekmod_ctx *ctx, const struct plan *p)
{
	if (!ctx->post_transaction || !*ctx->post_transaction)
		return;
	_cleanup_free_ char *log = xasprintf("%s/post_transaction.log", ctx->dkms_tree_path);
	_cleanup_close_ int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	_cleanup_free_ char *cmd = post_transaction_cmd(ctx->post_transaction, p->nk ? p->ks[0].k : "");
	const char *argv[] = { "bash", "-c", cmd, NULL };
	struct rk_spawn s = { .argv = argv, .stdout_fd = fd, .stderr_fd = fd, .stdin_fd = -1 };
	struct timespec t0;
	if (fd >= 0)
		log_section_begin(fd, "Executing post-transaction command", cmd, &t0);
	int st = 0;
	int r = rk_run(&s, &st);
	if (fd >= 0)
		log_section_end(fd, r < 0 ? 127 : st, &t0);
	if (r < 0 || st != 0)
		dk_warn(ctx, "post_transaction command failed (exit %d), see %s", st, log);
	else
		say(ctx, "Executing post-transaction command... done.");
}

/* whether a plan changed something post_transaction is told of */
static bool post_transaction_due(const struct plan *p)
{
	if (!p->pol->post_transaction)
		return false;
	if (p->pol->post_transaction_if_ok && plan_failed(p))
		return false;
	bool changed = p->res.installed || p->res.removed;
	for (size_t i = 0; i < p->n; i++)
		changed |= p->jobs[i].installed || p->jobs[i].uninstalled || p->jobs[i].unbuilt;
	return changed;
}

/* ---- the journal: one record per run that changed something or failed ---- */

static const char *outcome(const struct job *j)
{
	if (j->result == REKMOD_E_SKIPPED)
		return "skipped";
	if (j->result)
		return "failed";
	switch (j->kind) {
	case JOB_AUTO:
	case JOB_INSTALL:
		return j->installed ? (j->built_already || j->kind == JOB_INSTALL ? "installed" : "built+installed")
				    : "unchanged";
	case JOB_BUILD:
		return j->built_already ? "unchanged" : "built";
	case JOB_UNINSTALL:
		return j->uninstalled ? "uninstalled" : "unchanged";
	case JOB_UNBUILD:
		return j->uninstalled ? "uninstalled+unbuilt" : j->unbuilt ? "unbuilt" : "unchanged";
	case JOB_UNREGISTER:
		return "removed";
	case JOB_REUSE:
		return !j->installed ? "unchanged" : j->reused ? "reused+installed" : "built+installed";
	}
	return "unchanged";
}

/* REKMOD_CALLER (the hooks set it: dpkg-trigger, kernel-hook, ...), else "manual" */
static const char *caller(void)
{
	const char *c = getenv("REKMOD_CALLER");
	if (!c || !*c || strlen(c) > 40 || strspn(c, "abcdefghijklmnopqrstuvwxyz0123456789-_") != strlen(c))
		return "manual";
	return c;
}

/* "T\t<time>\t<caller>\t<verb>\t<ok|failed>\t<kernels,>\t<removed,>" then one
 * "J\t<m>\t<v>\t<k>\t<a>\t<outcome>\t<exit>\t<seconds>\t<log>\t<reused from>" per job that did something */
static void journal(struct rekmod_ctx *ctx, const struct plan *p)
{
	struct strbuf jobs = { 0 }, ks = { 0 }, rm = { 0 };
	for (size_t i = 0; i < p->n; i++) {
		const struct job *j = &p->jobs[i];
		const char *o = outcome(j);
		if (streq(o, "unchanged"))
			continue;
		sb_printf(&jobs, "J\t%s\t%s\t%s\t%s\t%s\t%d\t%.1f\t%s\t%s\n", j->m, j->v, j->k ? j->k : "-",
			  j->a ? j->a : "-", o, j->result, j->seconds, j->log ? j->log : "-", j->reused ? j->from : "-");
	}
	for (size_t i = 0; p->broken && p->broken[i]; i++)
		sb_printf(&jobs, "J\t%.*s\t%s\t-\t-\tbroken\t%d\t0.0\t-\n", (int)strcspn(p->broken[i], "/"),
			  p->broken[i], strchr(p->broken[i], '/') + 1, REKMOD_E_BADCONF);
	if (jobs.len) {
		for (size_t i = 0; i < p->nk; i++)
			sb_printf(p->ks[i].removed ? &rm : &ks, "%s%s", (p->ks[i].removed ? rm.len : ks.len) ? "," : "",
				  p->ks[i].k);
		char when[32];
		time_t now = time(NULL);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
		_cleanup_free_ char *rec = xasprintf("T\t%s\t%s\t%s\t%s\t%s\t%s\n%s", when, caller(), p->pol->verb,
						     plan_failed(p) ? "failed" : "ok", ks.len ? ks.s : "-",
						     rm.len ? rm.s : "-", jobs.s);
		tree_journal_append(ctx, rec);
	}
	sb_free(&jobs);
	sb_free(&ks);
	sb_free(&rm);
}

/* ---- the loop ---- */

struct exec {
	struct rekmod_ctx *ctx;
	struct plan *p;
	struct jobserver js;
	bool js_open;
	size_t done;
	char **said; /* the workers' warnings said so far */
};

/* A worker's messages to the parent: "<priority> <message>\0" records. */
static void to_parent(void *userdata, int priority, const char *msg)
{
	dprintf(*(const int *)userdata, "%d %s%c", priority, msg, 0);
}

/* The worker: one build; its warnings and errors go to the parent, which
 * says the warnings (signing, Secure Boot) and reports the outcome. */
static _noreturn_ void worker(struct exec *e, const struct job *j)
{
	static int msgfd;
	msgfd = j->msgfd;
	fcntl(e->js.rfd, F_SETFD, 0);
	fcntl(e->js.wfd, F_SETFD, 0);
	tree_lock_child(e->ctx); /* dies with the parent, make and all */
	/* this process's own copy of the context */
	e->ctx->log = (struct rk_log){ .fn = to_parent, .userdata = &msgfd,
				       .max_priority = msgfd >= 0 ? LOG_WARNING : -1 };
	int r = do_build(e->ctx, j->m, j->v, j->k, j->a);
	fflush(NULL);
	_exit(r);
}

/* The worker's messages: each warning said once per run (the Secure Boot
 * hint comes from every worker), the first error kept as the job's reason. */
static void relay(struct exec *e, struct job *j)
{
	if (j->msgfd < 0)
		return;
	struct strbuf b = { 0 };
	char buf[4096];
	ssize_t n;
	lseek(j->msgfd, 0, SEEK_SET);
	while ((n = read(j->msgfd, buf, sizeof(buf))) > 0)
		sb_putn(&b, buf, (size_t)n);
	close(j->msgfd);
	j->msgfd = -1;
	for (size_t at = 0; b.s && at < b.len; at += strlen(b.s + at) + 1) {
		char *msg = NULL;
		long prio = strtol(b.s + at, &msg, 10);
		msg += *msg == ' ';
		if (prio == LOG_WARNING && !strv_contains(e->said, msg)) {
			strv_push(&e->said, xstrdup(msg));
			rk_warn(log_of(e->ctx), "%s", msg);
		} else if (prio < LOG_WARNING && !j->why) {
			if (startswith(msg, "Error! "))
				msg += strlen("Error! ");
			j->why = xstrndup(msg, strcspn(msg, "\n"));
		}
	}
	sb_free(&b);
}

static void finish(struct exec *e, struct job *j, int result)
{
	j->seconds = j->start.tv_sec || j->start.tv_nsec ? elapsed(&j->start) : 0;
	job_done(e->ctx, e->p, j, result);
	progress(e->p, REKMOD_JOB_FINISHED, j);
	e->done++;
}

/* Starts a job: 1 started (or finished), 0 waiting for a jobserver token. */
static int start(struct exec *e, struct job *j)
{
	struct plan *p = e->p;
	bool built = j->kind == JOB_AUTO && tree_is_built(e->ctx, j->m, j->v, j->k, j->a);
	j->built_already = built && !p->pol->rebuild;
	bool fork_it = j->kind == JOB_AUTO && p->pol->parallel && !j->built_already;
	if (deps_failed(p, j)) { /* unrun: no start time (verbs.c tells these apart) */
		finish(e, j, REKMOD_E_DEPENDS);
		return 1;
	}
	if (fork_it && token_get(&e->js, &j->token) < 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &j->start);
	if (built && p->pol->rebuild) {
		int r = tree_build_aside(e->ctx, j->m, j->v, j->k, j->a);
		j->aside = r == 0;
		if (r) {
			if (fork_it)
				token_put(&e->js, j->token);
			finish(e, j, r);
			return 1;
		}
	}
	if (p->pol->report && p->pol->report->started)
		p->pol->report->started(e->ctx, p, j);
	fflush(NULL);
	if (fork_it)
		j->msgfd = memfd_create("rekmod-worker", MFD_CLOEXEC);
	pid_t pid = fork_it ? fork() : 0;
	if (fork_it && pid == 0)
		worker(e, j);
	if (!fork_it) {
		if (j->kind == JOB_AUTO || j->kind == JOB_REUSE)
			progress(p, REKMOD_JOB_STARTED, j);
		finish(e, j, run_here(e->ctx, p, j));
		return 1;
	}
	if (pid < 0) {
		token_put(&e->js, j->token);
		finish(e, j, REKMOD_E_BUILD);
		return 1;
	}
	j->pid = pid;
	j->state = J_RUN;
	progress(p, REKMOD_JOB_STARTED, j);
	return 1;
}

static void reap(struct exec *e, pid_t pid, int status)
{
	for (size_t i = 0; i < e->p->n; i++) {
		struct job *j = &e->p->jobs[i];
		if (j->state != J_RUN || j->pid != pid)
			continue;
		token_put(&e->js, j->token);
		int built = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		relay(e, j);
		finish(e, j, auto_install(e->ctx, e->p, j, built));
	}
}

/* One pass: start what can start, then reap or wait a little. */
static void step_loop(struct exec *e, struct timespec *last_tick)
{
	bool started = false, want_token = false;
	for (size_t i = 0; i < e->p->n; i++) {
		struct job *j = &e->p->jobs[i];
		if (j->state != J_WAIT || !ready(e->p, j))
			continue;
		if (!start(e, j)) {
			want_token = true;
			break;
		}
		started = true;
	}
	int st;
	pid_t pid = waitpid(-1, &st, WNOHANG);
	if (pid > 0) {
		reap(e, pid, st);
		return;
	}
	struct pollfd pf = { .fd = want_token ? e->js.token_fd : -1, .events = POLLIN };
	poll(&pf, 1, started ? 0 : 20);
	if (elapsed(last_tick) >= 0.2) {
		progress(e->p, REKMOD_JOB_TICK, NULL);
		clock_gettime(CLOCK_MONOTONIC, last_tick);
	}
}

static bool needs_workers(const struct plan *p)
{
	for (size_t i = 0; p->pol->parallel && i < p->n; i++)
		if (p->jobs[i].kind == JOB_AUTO && p->jobs[i].state == J_WAIT)
			return true;
	return false;
}

int plan_execute(struct rekmod_ctx *ctx, struct plan *p)
{
	struct exec e = { .ctx = ctx, .p = p, .js = { .token_fd = -1 } };
	plan_fail_cycles(ctx, p);
	if (needs_workers(p)) {
		int r = jobserver_open(ctx, &e.js);
		if (r < 0) {
			dk_error(ctx, "could not set up the make jobserver: %s", strerror(-r));
			return REKMOD_E_GENERIC;
		}
		e.js_open = true;
	}
	for (size_t i = 0; i < p->n; i++)
		e.done += p->jobs[i].state == J_DONE; /* failed before they ran: BUILD_DEPENDS cycles */
	struct timespec last_tick;
	clock_gettime(CLOCK_MONOTONIC, &last_tick);
	while (e.done < p->n)
		step_loop(&e, &last_tick);
	if (e.js_open)
		jobserver_close(ctx, &e.js);
	strv_free(e.said);
	for (size_t i = 0; i < p->nk; i++)
		if ((p->ks[i].touched || tree_depmod_pending(ctx, p->ks[i].k)) && !p->ks[i].depmod_done)
			depmod_kernel(ctx, p, &p->ks[i]);
	depmod_owed(ctx);
	if (post_transaction_due(p))
		post_transaction(ctx, p);
	if (p->pol->report && p->pol->report->done)
		p->pol->report->done(ctx, p);
	if (p->pol->verb)
		journal(ctx, p);
	return 0;
}

bool plan_failed(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->jobs[i].result && p->jobs[i].result != REKMOD_E_SKIPPED)
			return true;
	return p->broken && p->broken[0];
}

int plan_last_failure(const struct plan *p)
{
	int r = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->jobs[i].result)
			r = p->jobs[i].result;
	return r;
}
