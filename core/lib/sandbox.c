/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Builds without root: with framework.conf's build_user set, make and the
 * build-time dkms.conf scripts (PRE_BUILD, POST_BUILD) run as that user, in
 * a private mount namespace where every mount is read-only but the build
 * directory and a private /tmp, without network (a new network namespace)
 * where the kernel allows it, with no way back to root (no_new_privs).
 * Installing stays root. Without namespaces (a container that forbids
 * them) this is said once and the child runs as the plain user. */
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "internal.h"

enum ns_level { NS_UNKNOWN, NS_NONE, NS_MOUNT, NS_MOUNT_NET };

/* What this kernel lets a child unshare: probed once per process. */
static enum ns_level ns_probe(void)
{
	static enum ns_level level = NS_UNKNOWN;
	if (level != NS_UNKNOWN)
		return level;
	pid_t pid = fork();
	if (pid == 0)
		_exit(unshare(CLONE_NEWNS | CLONE_NEWNET) == 0 ? 0 : unshare(CLONE_NEWNS) == 0 ? 1 : 2);
	int st = 0;
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return level = NS_NONE;
	level = WEXITSTATUS(st) == 0 ? NS_MOUNT_NET : WEXITSTATUS(st) == 1 ? NS_MOUNT : NS_NONE;
	return level;
}

struct sandbox {
	uid_t uid;
	gid_t gid;
	enum ns_level ns;
	const char *writable; /* the build directory */
};

/* nftw has no user pointer: the owner to give, for one walk at a time */
static uid_t chown_uid;
static gid_t chown_gid;

/* A file with a second name (a hard link the build user made) may be
 * another's file: never given to the build user, never taken for root
 * (build.c refuses such a module). */
static int chown_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag, (void)ftw;
	if (!S_ISDIR(st->st_mode) && st->st_nlink > 1)
		return 0;
	return lchown(p, chown_uid, chown_gid) < 0 ? -errno : 0;
}

static int chown_tree(const char *dir, uid_t uid, gid_t gid)
{
	chown_uid = uid;
	chown_gid = gid;
	int r = nftw(dir, chown_entry, 32, FTW_PHYS | FTW_MOUNT);
	return r < 0 ? -errno : r;
}

static _Noreturn void child_fail(const char *what)
{
	dprintf(2, "rekmod: cannot set up the unprivileged build (%s: %s)\n", what, strerror(errno));
	_exit(126);
}

/* In the child: everything read-only but the build directory, /tmp private.
 * A build directory below /tmp (a scratch root) is mounted again over the
 * private /tmp, at the same path. */
static void child_mounts(const struct sandbox *sb)
{
	struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY }, rw = { .attr_clr = MOUNT_ATTR_RDONLY };
	if (unshare(CLONE_NEWNS | (sb->ns == NS_MOUNT_NET ? CLONE_NEWNET : 0)) < 0)
		child_fail("unshare");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail("mount --make-rprivate /");
	int fd = open(sb->writable, O_PATH | O_DIRECTORY | O_CLOEXEC);
	struct stat before, now;
	if (fd < 0 || fstat(fd, &before) < 0)
		child_fail(sb->writable);
	if (mount_setattr(AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof(ro)) < 0)
		child_fail("read-only /");
	if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
		child_fail("private /tmp");
	char from[64];
	snprintf(from, sizeof(from), "/proc/self/fd/%d", fd);
	bool hidden = stat(sb->writable, &now) < 0 || now.st_ino != before.st_ino || now.st_dev != before.st_dev;
	if (hidden && mkdir_p(sb->writable, 0755) < 0)
		child_fail("the build directory in the private /tmp");
	if (mount(from, sb->writable, NULL, MS_BIND | MS_REC, NULL) < 0)
		child_fail("mount --bind of the build directory");
	if (mount_setattr(AT_FDCWD, sb->writable, AT_RECURSIVE, &rw, sizeof(rw)) < 0)
		child_fail("writable build directory");
	close(fd);
}

static _Noreturn void child_exec(const struct sandbox *sb, const struct rk_spawn *s, int out_fd)
{
	int in = s->stdin_fd >= 0 ? s->stdin_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
	int out = out_fd >= 0 ? out_fd : open("/dev/null", O_WRONLY | O_CLOEXEC);
	int err = s->stderr_fd >= 0 ? s->stderr_fd : out;
	if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (s->timeout_seconds > 0 && setpgid(0, 0) < 0) /* a timeout kills the whole group */
		_exit(126);
	if (sb->ns != NS_NONE)
		child_mounts(sb);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setgid(sb->gid) < 0 ||
	    setuid(sb->uid) < 0)
		child_fail("dropping root");
	/* after setuid, which clears it: the build dies with the rekmod that waits for it */
	if (s->timeout_seconds > 0 && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		child_fail("PR_SET_PDEATHSIG");
	if (s->cwd && chdir(s->cwd) < 0)
		child_fail(s->cwd);
	extern char **environ;
	execvpe(s->argv[0], (char *const *)s->argv, s->envp ? (char *const *)s->envp : environ);
	dprintf(2, "rekmod: cannot run %s: %s\n", s->argv[0], strerror(errno));
	_exit(127);
}

/* The user and what this kernel allows, or -errno (said). */
static int sandbox_get(struct rekmod_ctx *ctx, const char *writable, struct sandbox *ret)
{
	static bool said;
	char buf[4096];
	struct passwd pw, *p = NULL;
	if (getpwnam_r(ctx->build_user, &pw, buf, sizeof(buf), &p) != 0 || !p || p->pw_uid == 0) {
		dk_error(ctx, "build_user=\"%s\" (framework.conf) is %s; create that system user (useradd --system "
			 "rekmod-build) or set build_user= empty to build as root", ctx->build_user,
			 p ? "root" : "not a user of this system");
		return -ESRCH;
	}
	*ret = (struct sandbox){ .uid = p->pw_uid, .gid = p->pw_gid, .ns = ns_probe(), .writable = writable };
	if (ret->ns != NS_MOUNT_NET && !said) {
		said = true;
		dk_warn(ctx, "%s: builds run as %s %s", ret->ns == NS_NONE ? "no mount namespaces here" :
			"no network namespaces here", ctx->build_user, ret->ns == NS_NONE ?
			"without a private file system view or network isolation" : "with network access");
	}
	return 0;
}

/* Runs s as build_user (see above), the build directory `writable` given to
 * that user for the run and back to root after it; with out_fd >= 0 its
 * stdout goes there. Without build_user: rk_run, as root. */
int sandbox_run(struct rekmod_ctx *ctx, const struct rk_spawn *s, const char *writable, int *ret_status)
{
	if (!ctx->build_user || !*ctx->build_user)
		return rk_run(s, ret_status);
	struct sandbox sb;
	int r = sandbox_get(ctx, writable, &sb);
	if (r < 0)
		return r;
	if ((r = chown_tree(writable, sb.uid, sb.gid)) < 0) {
		dk_error(ctx, "cannot give %s to build_user %s: %s", writable, ctx->build_user, strerror(-r));
		return r;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		r = -errno;
	else if (pid == 0)
		child_exec(&sb, s, s->stdout_fd);
	if (pid > 0)
		r = rk_wait_timed(pid, s->timeout_seconds, ret_status);
	int back = chown_tree(writable, geteuid(), getegid());
	if (back < 0)
		rk_warn(log_of(ctx), "cannot give %s back to root: %s", writable, strerror(-back));
	return r;
}

/* As sandbox_run, stdout (and stderr) captured into *ret_out. */
int sandbox_run_capture(struct rekmod_ctx *ctx, const struct rk_spawn *s, const char *writable, char **ret_out,
			int *ret_status)
{
	if (!ctx->build_user || !*ctx->build_user)
		return rk_run_capture(s, ret_out, NULL, ret_status);
	_cleanup_close_ int fd = memfd_create("rekmod-build-out", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct rk_spawn c = *s;
	c.stdout_fd = fd;
	int r = sandbox_run(ctx, &c, writable, ret_status);
	if (r < 0)
		return r;
	lseek(fd, 0, SEEK_SET);
	return read_fd(fd, ret_out, NULL);
}
