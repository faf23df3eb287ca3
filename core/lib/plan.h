/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one flow. Every verb that changes the tree observes it and the kernels
 * and builds a plan of jobs (plan.c); the executor (jobs.c) runs any plan the
 * same way: builds in parallel under one make jobserver, or one after the
 * other where dkms shows a build's own output, installs in dependency order,
 * one depmod per touched kernel, post_transaction once, records written by
 * tree.c. A verb differs from another only by the plan it builds and by the
 * policy it hands down; nothing is switched on the context. */
#pragma once

#include <sys/types.h>
#include <time.h>

#include "internal.h"

enum job_kind {
	JOB_BUILD,      /* dkms build: registered first if needed; a build is kept unless forced */
	JOB_INSTALL,    /* dkms install: built first if needed; an install is kept unless forced */
	JOB_AUTO,       /* autoinstall and sync: built (by a worker when parallel), then installed */
	JOB_UNINSTALL,  /* uninstalled when installed */
	JOB_UNBUILD,    /* uninstalled, then the build and its records deleted */
	JOB_UNREGISTER, /* remove: m/v leaves the tree when no build is left; runs last */
	JOB_REUSE,      /* JOB_AUTO whose build is a copy of the build for an equivalent kernel (reuse.c) */
};

enum job_state { J_WAIT, J_RUN, J_DONE };

struct job {
	enum job_kind kind;
	char *m, *v, *k, *a; /* k and a NULL for JOB_UNREGISTER */
	char **deps;         /* BUILD_DEPENDS planned for the same kernel: wait for them */
	char **missing;      /* BUILD_DEPENDS registered but neither planned nor installed */
	enum job_state state;
	int result; /* 0, or the dkms exit code of the step that failed */
	bool built_already, installed, uninstalled;
	bool aside;   /* a rebuild set the old build aside (tree_build_aside) */
	bool unbuilt; /* JOB_UNBUILD deleted a build */
	char *from;      /* JOB_REUSE: the kernel whose build is reused */
	const char *how; /* JOB_REUSE: "equivalent" or "compatible" kernels */
	bool reused;     /* JOB_REUSE: the build was copied (else it was compiled after all) */
	char *log; /* a recorded failure's make.log */
	char *why; /* the first error a worker said (its first line) */
	int msgfd; /* a worker's messages (a memfd), or -1 */
	pid_t pid;
	char token;
	struct timespec start;
	double seconds; /* from start to done */
};

struct kern {
	char *k;
	char *headers_pkg; /* asked of the package database once, when needed */
	bool headers, image, touched, depmod_done;
	bool removed; /* a kernel going away (plan_kernel_removed) */
};

struct plan;

/* What a verb says around its jobs: dkms's lines come from these events. */
struct job_report {
	void (*started)(struct rekmod_ctx *ctx, struct plan *p, struct job *j);
	void (*finished)(struct rekmod_ctx *ctx, struct plan *p, struct job *j);
	void (*done)(struct rekmod_ctx *ctx, struct plan *p);
};

struct policy {
	bool force;           /* rebuild and reinstall what is there */
	bool parallel;        /* JOB_AUTO builds run in silent workers under the jobserver */
	bool any_version;     /* a module installed in any version needs nothing (autoinstall) */
	bool honour_skips;    /* a recorded BUILD_EXCLUSIVE skip whose inputs are unchanged is not retried */
	bool honour_failures; /* nor a recorded failure (sync without --retry) */
	bool keep_records;    /* JOB_AUTO failures and skips are recorded in the tree */
	bool say_skips;       /* "... is not installed for kernel ... Skipping..." */
	bool say_depmod;      /* "Running depmod... done." */
	bool depmod_rollback; /* a failed depmod uninstalls this plan's installs on that kernel */
	bool post_transaction;
	bool post_transaction_if_ok; /* dkms 3.x: install, uninstall, unbuild, remove run it when they succeed */
	bool record_optouts;  /* uninstall, unbuild, remove -k K: the user wants m off K (tree_optout_write) */
	bool honour_optouts;  /* sync leaves a module off a kernel the user removed it from */
	bool rebuild;         /* sync --rebuild: JOB_AUTO rebuilds and reinstalls what is there */
	bool reuse;           /* a JOB_AUTO for an equivalent kernel reuses its build (JOB_REUSE), unless forced */
	bool build_only;      /* publish: JOB_AUTO builds (in parallel) and installs nothing */
	const char *verb;     /* the run's name in the journal (tree_journal_append); NULL: none kept */
	const struct job_report *report; /* may be NULL */
};

struct plan {
	const struct policy *pol;
	struct job *jobs;
	size_t n;
	struct kern *ks;
	size_t nk;
	struct rekmod_sync_result res;
	char **broken;  /* m/v whose dkms.conf could not be read while planning */
	char **waiting; /* m/v waiting for headers */
	char **deferred; /* "m/v d1 d2": not planned, BUILD_DEPENDS the tree does not know (dkms 3.x) */
	void (*progress)(void *userdata, enum rekmod_job_event ev, const struct rekmod_job_info *job);
	void *progress_userdata;
};

/* plan.c */
struct job *plan_add(struct plan *p, enum job_kind kind, const char *m, const char *v, const char *k, const char *a);
/* the kernel's entry (added on first use, with its headers and image looked up) */
struct kern *plan_kernel(struct plan *p, const struct rekmod_ctx *ctx, const char *k);
/* "m" or "m/v" filters (NULL: all) */
bool module_wanted(const char *const *filters, const char *m, const char *v);
/* Desired state for every kernel of the plan: each registered AUTOINSTALL
 * module, newest version, as JOB_AUTO jobs ordered by BUILD_DEPENDS. */
void plan_autoinstall(struct rekmod_ctx *ctx, struct plan *p, const char *const *filters);
/* JOB_UNBUILD of every registered build and install on kernel k */
void plan_kernel_removed(struct rekmod_ctx *ctx, struct plan *p, const char *k);
/* A BUILD_DEPENDS cycle among the planned jobs is an error naming it; the
 * jobs on it fail (REKMOD_E_DEPENDS) and the others go on. */
void plan_fail_cycles(struct rekmod_ctx *ctx, struct plan *p);
void plan_free(struct plan *p);

/* jobs.c: runs the plan; 0, or REKMOD_E_GENERIC when it could not run at all */
int plan_execute(struct rekmod_ctx *ctx, struct plan *p);
/* did any job fail (a failure, not a BUILD_EXCLUSIVE skip)? */
bool plan_failed(const struct plan *p);
/* the result of the last job that failed, or 0 */
int plan_last_failure(const struct plan *p);
