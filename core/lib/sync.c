/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sync: observe (tree, kernels) -> plan (jobs) -> execute (parallel builds
 * under one make jobserver, installs in order) -> depmod once per kernel ->
 * record (failures and skips with the inputs that produced them). */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "internal.h"

/* ---- kernels ---- */

struct kern {
	char *k;
	char *headers_pkg; /* asked of the package database once, when needed */
	bool headers, image, touched;
};

static bool kernel_has_image(const struct rekmod_ctx *ctx, const char *k)
{
	const char *marks[] = { "modules.dep", "modules.order", "kernel" };
	for (size_t i = 0; i < ARRAY_SIZE(marks); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s/%s", ctx->install_tree_path, k, marks[i]);
		if (path_exists(p))
			return true;
	}
	return false;
}

static void kern_add(struct kern **ks, size_t *n, const struct rekmod_ctx *ctx, const char *k)
{
	for (size_t i = 0; i < *n; i++)
		if (streq((*ks)[i].k, k))
			return;
	*ks = xrealloc(*ks, (*n + 1) * sizeof(**ks));
	(*ks)[*n] = (struct kern){ .k = xstrdup(k), .headers = kernel_has_headers(ctx, k),
				   .image = kernel_has_image(ctx, k) };
	(*n)++;
}

/* ---- records of failed and skipped builds ---- */

static char *record_file(const struct rekmod_ctx *ctx, const char *kind, const char *m, const char *v,
			 const char *k, const char *a)
{
	return xasprintf("%s/%s/%s/.rekmod-%s-%s-%s", ctx->dkms_tree_path, m, v, kind, k, a);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static uint64_t hash_stat(uint64_t h, const char *path)
{
	struct stat st;
	h = fnv(h, path, strlen(path));
	if (stat(path, &st) == 0) {
		h = fnv(h, &st.st_size, sizeof(st.st_size));
		h = fnv(h, &st.st_mtim, sizeof(st.st_mtim));
		h = fnv(h, &st.st_ino, sizeof(st.st_ino));
	}
	return h;
}

static uint64_t hash_tree(uint64_t h, const char *dir, int depth)
{
	_cleanup_strv_free_ char **e = list_dir(dir);
	for (size_t i = 0; e && e[i] && depth < 8; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, e[i]);
		h = hash_stat(h, p);
		struct stat st;
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
			h = hash_tree(h, p, depth + 1);
	}
	return h;
}

/* What a build depends on: the source, the /etc/dkms overrides, the headers. */
static char *build_inputs(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k,
			  const char *a)
{
	uint64_t h = 1469598103934665603ULL;
	const char *ids[] = { m, v, k, a };
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
		h = fnv(h, ids[i], strlen(ids[i]) + 1);
	_cleanup_free_ char *src = source_dir(ctx, m, v);
	h = hash_tree(h, src, 0);
	_cleanup_free_ char *etc = root_path(ctx, "/etc/dkms");
	h = hash_tree(h, etc, 6);
	_cleanup_free_ char *ksd = kernel_source_dir(ctx, k);
	const char *hdr[] = { ".config", "Module.symvers", "Makefile", "include/config/kernel.release" };
	for (size_t i = 0; i < ARRAY_SIZE(hdr); i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", ksd, hdr[i]);
		h = hash_stat(h, p);
	}
	return xasprintf("%016llx", (unsigned long long)h);
}

/* Is there a record of this kind whose inputs are still the current ones? */
static bool record_matches(const struct rekmod_ctx *ctx, const char *kind, const char *m, const char *v,
			   const char *k, const char *a)
{
	_cleanup_free_ char *p = record_file(ctx, kind, m, v, k, a);
	_cleanup_free_ char *text = NULL;
	if (read_file(p, &text, NULL) < 0)
		return false;
	_cleanup_free_ char *had = text_value(text, "inputs");
	_cleanup_free_ char *now = build_inputs(ctx, m, v, k, a);
	return had && streq(had, now);
}

static void record_write(struct rekmod_ctx *ctx, const char *kind, const char *m, const char *v, const char *k,
			 const char *a, int code, const char *log)
{
	_cleanup_free_ char *p = record_file(ctx, kind, m, v, k, a);
	_cleanup_free_ char *in = build_inputs(ctx, m, v, k, a);
	_cleanup_free_ char *text = xasprintf("kernel=%s\narch=%s\ninputs=%s\nexit=%d\nlog=%s\n", k, a, in, code,
					      log ? log : "");
	if (write_file_atomic(p, text, strlen(text), 0644) < 0)
		dk_warn(ctx, "could not record the %s build in %s: %s", kind, p, strerror(errno));
}

static void record_clear(const struct rekmod_ctx *ctx, const char *m, const char *v, const char *k, const char *a)
{
	const char *kinds[] = { "failed", "skipped" };
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
		_cleanup_free_ char *p = record_file(ctx, kinds[i], m, v, k, a);
		_cleanup_free_ char *log = xasprintf("%s.make.log", p);
		unlink(p);
		unlink(log);
	}
}

/* ---- plan ---- */

enum { J_WAIT, J_RUN, J_DONE };

struct job {
	char *m, *v, *k, *a;
	char **deps; /* module names this job waits for (same kernel) */
	int state, result;
	bool built_already; /* a build in the tree (ldtarball, a manual build): install only */
	pid_t pid;
	struct timespec start;
};

struct plan {
	const struct rekmod_sync_options *o;
	struct job *jobs;
	size_t n;
	struct kern *ks;
	size_t nk;
	struct rekmod_sync_result res;
	char **waiting; /* "K: m/v" lines */
};

static bool module_wanted(const struct rekmod_sync_options *o, const char *m, const char *v)
{
	if (!o->modules || !o->modules[0])
		return true;
	for (size_t i = 0; o->modules[i]; i++) {
		const char *f = o->modules[i];
		size_t n = strcspn(f, "/");
		if (strlen(m) == n && strncmp(f, m, n) == 0 && (!f[n] || streq(f + n + 1, v)))
			return true;
	}
	return false;
}

/* registered modules: name -> newest version wanted */
static char **newest_versions(const struct rekmod_ctx *ctx, const struct rekmod_sync_options *o)
{
	_cleanup_strv_free_ char **added = tree_list_added(ctx, NULL);
	char **out = NULL;
	for (size_t i = 0; added[i]; i++) {
		char *slash = strchr(added[i], '/');
		*slash = '\0';
		if (!module_wanted(o, added[i], slash + 1))
			continue;
		size_t n = strv_len(out);
		if (n && !strncmp(out[n - 1], added[i], strlen(added[i])) && out[n - 1][strlen(added[i])] == '/') {
			if (version_compare(slash + 1, strchr(out[n - 1], '/') + 1) > 0) {
				free(out[n - 1]);
				out[n - 1] = xasprintf("%s/%s", added[i], slash + 1);
			}
			continue;
		}
		strv_push(&out, xasprintf("%s/%s", added[i], slash + 1));
	}
	return out;
}

static void plan_kernel(struct rekmod_ctx *ctx, const struct rekmod_sync_options *o, struct plan *p,
			struct kern *kn, char *const *mods)
{
	const char *a = ctx->arch;
	for (size_t i = 0; mods && mods[i]; i++) {
		_cleanup_free_ char *m = xstrndup(mods[i], strcspn(mods[i], "/"));
		const char *v = strchr(mods[i], '/') + 1;
		_cleanup_free_ char *iv = tree_installed_version(ctx, m, kn->k, a);
		if (iv && streq(iv, v) && tree_is_built(ctx, m, v, kn->k, a))
			continue; /* the common case: nothing to read, nothing to do */
		if (record_matches(ctx, "skipped", m, v, kn->k, a)) {
			p->res.skipped++;
			continue;
		}
		if (!o->retry && record_matches(ctx, "failed", m, v, kn->k, a)) {
			p->res.failed++;
			continue;
		}
		struct dkms_conf *c = NULL;
		struct conf_req req = { .module = m, .version = v, .kernel = kn->k, .arch = a };
		if (conf_read(ctx, &req, &c)) {
			p->res.failed++;
			continue;
		}
		if (!c->autoinstall) {
			dkms_conf_free(c);
			continue;
		}
		if (!kn->headers) {
			strv_push(&p->waiting, xasprintf("%s/%s", m, v));
			p->res.waiting++;
			if (!kn->headers_pkg)
				kn->headers_pkg = headers_package_hint(ctx, kn->k);
			rk_notice(log_of(ctx), "%s/%s waits for kernel headers of %s: install %s", m, v, kn->k,
				  kn->headers_pkg);
			dkms_conf_free(c);
			continue;
		}
		if (c->build_exclude) {
			record_write(ctx, "skipped", m, v, kn->k, a, REKMOD_E_SKIPPED, NULL);
			p->res.skipped++;
			dkms_conf_free(c);
			continue;
		}
		p->jobs = xrealloc(p->jobs, (p->n + 1) * sizeof(*p->jobs));
		struct job *j = &p->jobs[p->n++];
		*j = (struct job){ .m = xstrdup(m), .v = xstrdup(v), .k = xstrdup(kn->k), .a = xstrdup(a),
				   .state = J_WAIT, .pid = -1 };
		for (size_t d = 0; c->build_depends && c->build_depends[d]; d++)
			strv_push(&j->deps, xstrdup(c->build_depends[d]));
		dkms_conf_free(c);
	}
}

/* A cycle in BUILD_DEPENDS among the planned jobs is an error naming it; the
 * jobs on the cycle fail (REKMOD_E_DEPENDS), the others go on. */
struct dfs {
	struct plan *p;
	struct rekmod_ctx *ctx;
	int *color; /* 0 unvisited, 1 on the stack, 2 done */
	size_t *stack, depth;
};

static void dfs_visit(struct dfs *g, size_t i)
{
	struct plan *p = g->p;
	g->color[i] = 1;
	g->stack[g->depth++] = i;
	for (size_t d = 0; p->jobs[i].deps && p->jobs[i].deps[d]; d++) {
		for (size_t x = 0; x < p->n; x++) {
			if (!streq(p->jobs[x].k, p->jobs[i].k) || !streq(p->jobs[x].m, p->jobs[i].deps[d]))
				continue;
			if (g->color[x] == 0) {
				dfs_visit(g, x);
				continue;
			}
			if (g->color[x] != 1)
				continue;
			struct strbuf path = { 0 };
			size_t from = g->depth;
			while (from > 0 && g->stack[from - 1] != x)
				from--;
			for (size_t y = from - 1; y < g->depth; y++) {
				struct job *j = &p->jobs[g->stack[y]];
				sb_printf(&path, "%s -> ", j->m);
				if (j->state != J_DONE) {
					j->state = J_DONE;
					j->result = REKMOD_E_DEPENDS;
					p->res.failed++;
				}
			}
			sb_puts(&path, p->jobs[x].m);
			dk_error(g->ctx, "BUILD_DEPENDS cycle for kernel %s: %s; remove one of these dependencies",
				 p->jobs[x].k, path.s);
			sb_free(&path);
		}
	}
	g->depth--;
	g->color[i] = 2;
}

static void fail_cycles(struct plan *p, struct rekmod_ctx *ctx)
{
	struct dfs g = { .p = p, .ctx = ctx, .color = xcalloc(p->n, sizeof(int)),
			 .stack = xcalloc(p->n, sizeof(size_t)) };
	for (size_t i = 0; i < p->n; i++)
		if (g.color[i] == 0)
			dfs_visit(&g, i);
	free(g.color);
	free(g.stack);
}

/* ---- jobserver ---- */

struct jobserver {
	int rfd, wfd;   /* the pipe every make sees */
	int token_fd;   /* our own non-blocking description of the read end */
	bool own;       /* we created it (else inherited from a parent make) */
	int implicit;   /* tokens we hold without reading (1 when inherited) */
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
	js->rfd = r;
	js->wfd = w;
	js->own = false;
	js->implicit = 1;
	return 0;
}

static int jobserver_open(struct rekmod_ctx *ctx, struct jobserver *js)
{
	if (inherited_jobserver(js) < 0) {
		int fds[2];
		if (pipe2(fds, O_CLOEXEC) < 0)
			return -errno;
		js->rfd = fds[0];
		js->wfd = fds[1];
		js->own = true;
		js->implicit = 0;
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
	ssize_t n = read(js->token_fd, tok, 1);
	return n == 1 ? 0 : -EAGAIN;
}

static void token_put(struct jobserver *js, char tok)
{
	if (tok == 0) {
		js->implicit++;
		return;
	}
	if (write(js->wfd, &tok, 1) != 1) {
	}
}

/* ---- execute ---- */

/* Real dkms.conf files name $dkms_tree/<m>/<v>/build in their MAKE lines, so
 * builds of one module/version (for several kernels) take turns in that dir. */
static bool build_dir_busy(const struct plan *p, const struct job *j)
{
	for (size_t x = 0; x < p->n; x++)
		if (p->jobs[x].state == J_RUN && streq(p->jobs[x].m, j->m) && streq(p->jobs[x].v, j->v))
			return true;
	return false;
}

static bool deps_done(const struct plan *p, const struct job *j, const struct rekmod_ctx *ctx)
{
	for (size_t d = 0; j->deps && j->deps[d]; d++) {
		for (size_t x = 0; x < p->n; x++)
			if (streq(p->jobs[x].k, j->k) && streq(p->jobs[x].m, j->deps[d]) && p->jobs[x].state != J_DONE)
				return false;
	}
	(void)ctx;
	return true;
}

/* The child: one build, silent; the parent reports its outcome in one line. */
static _noreturn_ void child_build(struct rekmod_ctx *ctx, struct jobserver *js, const struct job *j)
{
	fcntl(js->rfd, F_SETFD, 0);
	fcntl(js->wfd, F_SETFD, 0);
	ctx->log.max_priority = -1;
	/* built already (ldtarball's prebuilt modules, a manual build): install only */
	int r = j->built_already ? 0 : do_build(ctx, j->m, j->v, j->k, j->a);
	fflush(NULL);
	_exit(r);
}

static double elapsed(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void progress(const struct plan *p, enum rekmod_job_event ev, const struct job *j)
{
	if (!p->o->progress)
		return;
	if (!j) {
		p->o->progress(p->o->progress_userdata, ev, NULL);
		return;
	}
	struct rekmod_job_info info = { .module = j->m, .version = j->v, .kernel = j->k, .arch = j->a,
					.result = j->result, .seconds = elapsed(&j->start) };
	p->o->progress(p->o->progress_userdata, ev, &info);
}

static int start_job(struct rekmod_ctx *ctx, struct plan *p, struct jobserver *js, struct job *j)
{
	j->built_already = tree_is_built(ctx, j->m, j->v, j->k, j->a);
	rk_logf(log_of(ctx), p->o->progress ? LOG_INFO : LOG_NOTICE, "%s %s/%s for %s (%s)...",
		j->built_already ? "Installing the build of" : "Building", j->m, j->v, j->k, j->a);
	fflush(NULL);
	clock_gettime(CLOCK_MONOTONIC, &j->start);
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		child_build(ctx, js, j);
	j->pid = pid;
	j->state = J_RUN;
	progress(p, REKMOD_JOB_STARTED, j);
	return 0;
}

static struct kern *kern_of(struct plan *p, const char *k)
{
	for (size_t i = 0; i < p->nk; i++)
		if (streq(p->ks[i].k, k))
			return &p->ks[i];
	return NULL;
}

static const char *failure_reason(int code)
{
	switch (code) {
	case REKMOD_E_BUILD:
		return "make failed";
	case REKMOD_E_NOKO:
		return "make did not produce the module";
	case REKMOD_E_NOHEADERS:
		return "kernel headers missing";
	case REKMOD_E_BADCONF:
		return "invalid dkms.conf or empty source";
	case REKMOD_E_DEPENDS:
		return "a BUILD_DEPENDS module is not installed";
	case REKMOD_E_INSTALL:
		return "installation failed";
	default:
		return "see rekmod build for details";
	}
}

static void finish_job(struct rekmod_ctx *ctx, struct plan *p, struct job *j, int status)
{
	double secs = elapsed(&j->start);
	j->state = J_DONE;
	j->result = status;
	if (status == 0) {
		p->res.built += !j->built_already;
		int prio = ctx->log.max_priority;
		ctx->log.max_priority = LOG_WARNING < prio ? LOG_WARNING : prio; /* one summary line instead */
		j->result = do_install(ctx, j->m, j->v, j->k, j->a, false);
		ctx->log.max_priority = prio;
		if (j->result == 0) {
			p->res.installed++;
			record_clear(ctx, j->m, j->v, j->k, j->a);
			kern_of(p, j->k)->touched = true;
			if (j->built_already)
				rk_notice(log_of(ctx), "%s/%s, %s, %s: installed (already built)", j->m, j->v, j->k, j->a);
			else
				rk_notice(log_of(ctx), "%s/%s, %s, %s: installed (built in %.1fs)", j->m, j->v, j->k,
					  j->a, secs);
			return;
		}
	}
	if (j->result == REKMOD_E_SKIPPED) {
		p->res.skipped++;
		record_write(ctx, "skipped", j->m, j->v, j->k, j->a, j->result, NULL);
		rk_notice(log_of(ctx), "%s/%s, %s, %s: skipped (BUILD_EXCLUSIVE)", j->m, j->v, j->k, j->a);
		return;
	}
	p->res.failed++;
	/* the next build of this module reuses <m>/<v>/build: keep the log beside the record */
	_cleanup_free_ char *made = xasprintf("%s/%s/%s/build/make.log", ctx->dkms_tree_path, j->m, j->v);
	_cleanup_free_ char *rec = record_file(ctx, "failed", j->m, j->v, j->k, j->a);
	_cleanup_free_ char *log = xasprintf("%s.make.log", rec);
	if (rename(made, log) < 0)
		unlink(log);
	record_write(ctx, "failed", j->m, j->v, j->k, j->a, j->result, path_exists(log) ? log : NULL);
	rk_err(log_of(ctx), "%s/%s, %s, %s: failed with exit %d (%s)%s%s", j->m, j->v, j->k, j->a, j->result,
	       failure_reason(j->result), path_exists(log) ? ", see " : "", path_exists(log) ? log : "");
}

static int execute(struct rekmod_ctx *ctx, struct plan *p)
{
	if (p->n == 0)
		return 0;
	struct jobserver js = { .token_fd = -1 };
	int r = jobserver_open(ctx, &js);
	if (r < 0) {
		dk_error(ctx, "could not set up the make jobserver: %s", strerror(-r));
		return REKMOD_E_GENERIC;
	}
	char *tokens = xcalloc(p->n, 1);
	size_t done = 0;
	for (size_t i = 0; i < p->n; i++)
		done += p->jobs[i].state == J_DONE; /* failed before they ran: BUILD_DEPENDS cycles */
	struct timespec last_tick;
	clock_gettime(CLOCK_MONOTONIC, &last_tick);
	while (done < p->n) {
		bool started = false, want_token = false;
		for (size_t i = 0; i < p->n; i++) {
			struct job *j = &p->jobs[i];
			if (j->state != J_WAIT || !deps_done(p, j, ctx) || build_dir_busy(p, j))
				continue;
			if (token_get(&js, &tokens[i]) < 0) {
				want_token = true;
				break;
			}
			if (start_job(ctx, p, &js, j) < 0) {
				token_put(&js, tokens[i]);
				j->state = J_DONE;
				j->result = REKMOD_E_BUILD;
				p->res.failed++;
				done++;
				continue;
			}
			started = true;
		}
		int st;
		pid_t pid = waitpid(-1, &st, WNOHANG);
		if (pid <= 0) {
			/* nothing finished: wait a little for a child or a free token */
			struct pollfd pf = { .fd = want_token ? js.token_fd : -1, .events = POLLIN };
			poll(&pf, 1, started ? 0 : 20);
			if (elapsed(&last_tick) >= 0.2) {
				progress(p, REKMOD_JOB_TICK, NULL);
				clock_gettime(CLOCK_MONOTONIC, &last_tick);
			}
			continue;
		}
		for (size_t i = 0; i < p->n; i++) {
			struct job *j = &p->jobs[i];
			if (j->state != J_RUN || j->pid != pid)
				continue;
			token_put(&js, tokens[i]);
			finish_job(ctx, p, j, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
			progress(p, REKMOD_JOB_FINISHED, j);
			done++;
		}
	}
	free(tokens);
	jobserver_close(ctx, &js);
	return 0;
}

/* ---- removed kernels ---- */

static void remove_kernel(struct rekmod_ctx *ctx, struct plan *p, const char *k)
{
	_cleanup_strv_free_ char **added = tree_list_added(ctx, NULL);
	const char *a = ctx->arch;
	for (size_t i = 0; added[i]; i++) {
		char *slash = strchr(added[i], '/');
		*slash = '\0';
		const char *m = added[i], *v = slash + 1;
		if (tree_is_installed(ctx, m, v, k, a)) {
			do_uninstall(ctx, m, v, k, a, false);
			p->res.removed++;
		}
		if (tree_is_built(ctx, m, v, k, a))
			do_unbuild(ctx, m, v, k, a);
		record_clear(ctx, m, v, k, a);
	}
}

/* kernels the tree knows (builds, markers) that have neither image nor headers */
static void vanished_kernels(const struct rekmod_ctx *ctx, char ***out)
{
	_cleanup_strv_free_ char **added = tree_list_added(ctx, NULL);
	for (size_t i = 0; added[i]; i++) {
		_cleanup_free_ char *d = xasprintf("%s/%s", ctx->dkms_tree_path, added[i]);
		_cleanup_strv_free_ char **ks = list_dir(d);
		for (size_t j = 0; ks && ks[j]; j++) {
			if (!kernel_dir_name_ok(ks[j]) || strv_contains(*out, ks[j]))
				continue;
			if (!kernel_has_image(ctx, ks[j]) && !kernel_has_headers(ctx, ks[j]))
				strv_push(out, xstrdup(ks[j]));
		}
	}
}

static void post_transaction(struct rekmod_ctx *ctx)
{
	if (!ctx->post_transaction || !*ctx->post_transaction)
		return;
	_cleanup_free_ char *log = xasprintf("%s/post_transaction.log", ctx->dkms_tree_path);
	_cleanup_close_ int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	const char *argv[] = { "bash", "-c", ctx->post_transaction, NULL };
	struct rk_spawn s = { .argv = argv, .stdout_fd = fd, .stderr_fd = -1, .stdin_fd = -1 };
	int st = 0;
	if (rk_run(&s, &st) < 0 || st != 0)
		dk_warn(ctx, "post_transaction command failed (exit %d), see %s", st, log);
	else
		say(ctx, "Executing post-transaction command... done.");
}

static void plan_free(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		struct job *j = &p->jobs[i];
		free(j->m);
		free(j->v);
		free(j->k);
		free(j->a);
		strv_free(j->deps);
	}
	free(p->jobs);
	for (size_t i = 0; i < p->nk; i++) {
		free(p->ks[i].k);
		free(p->ks[i].headers_pkg);
	}
	free(p->ks);
	strv_free(p->waiting);
}

static int check_kernel_names(struct rekmod_ctx *ctx, const char *const *ks)
{
	for (size_t i = 0; ks && ks[i]; i++) {
		if (!name_is_valid(ks[i])) {
			dk_error(ctx, "invalid kernel version \"%s\": it must be one path component; pass a kernel "
				 "release such as 6.1.0-56-amd64",
				 ks[i]);
			return REKMOD_E_GENERIC;
		}
	}
	return 0;
}

_public_ int rekmod_sync(struct rekmod_ctx *ctx, const struct rekmod_sync_options *o,
			 struct rekmod_sync_result *ret)
{
	static const struct rekmod_sync_options none = { 0 };
	if (!o)
		o = &none;
	int r = check_kernel_names(ctx, o->kernels);
	if (r || (r = check_kernel_names(ctx, o->removed)) || (r = tree_lock(ctx)))
		return r;
	struct plan p = { .o = o };
	_cleanup_strv_free_ char **removed = NULL;
	for (size_t i = 0; o->removed && o->removed[i]; i++)
		strv_push(&removed, xstrdup(o->removed[i]));
	vanished_kernels(ctx, &removed);
	for (size_t i = 0; removed && removed[i]; i++)
		remove_kernel(ctx, &p, removed[i]);

	if (o->kernels && o->kernels[0]) {
		for (size_t i = 0; o->kernels[i]; i++)
			kern_add(&p.ks, &p.nk, ctx, o->kernels[i]);
	} else {
		_cleanup_strv_free_ char **ks = list_dir(ctx->install_tree_path);
		for (size_t i = 0; ks && ks[i]; i++)
			if (kernel_dir_name_ok(ks[i]) && name_is_valid(ks[i]) && !strv_contains(removed, ks[i]))
				kern_add(&p.ks, &p.nk, ctx, ks[i]);
	}
	_cleanup_strv_free_ char **mods = newest_versions(ctx, o);
	_cleanup_free_ char *noauto = root_path(ctx, "/etc/dkms/no-autoinstall");
	if (path_exists(noauto)) {
		/* cleanup of removed kernels above still happens */
		say(ctx, "Automatic installation of modules has been disabled (%s).", noauto);
		strv_free(mods);
		mods = NULL;
	}
	for (size_t i = 0; i < p.nk; i++)
		if (p.ks[i].headers || p.ks[i].image)
			plan_kernel(ctx, o, &p, &p.ks[i], mods);
	fail_cycles(&p, ctx);
	r = execute(ctx, &p);
	for (size_t i = 0; i < p.nk; i++) {
		if (!p.ks[i].touched)
			continue;
		int d = run_depmod(ctx, p.ks[i].k);
		if (d < 0)
			dk_warn(ctx, "depmod failed for kernel %s", p.ks[i].k);
	}
	if (p.res.installed || p.res.removed)
		post_transaction(ctx);
	if (ret)
		*ret = p.res;
	if (!r && p.res.failed)
		r = REKMOD_E_AUTOINSTALL;
	plan_free(&p);
	tree_unlock(ctx);
	return r;
}
