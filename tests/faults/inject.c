/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fault injection for build/rekmod-faults only (never the release binary):
 * linked with -Wl,--wrap=<call> for every call that changes the file system
 * or starts a process. Each such call is one step, counted across the
 * command and its forked workers (a shared counter).
 *   REKMOD_FAULT_CRASH_AT=N   at step N the command dies (_exit(99); a worker
 *                             kills the command first), before the call
 *   REKMOD_FAULT_ENOSPC_AT=N  the N-th write (write, pwrite, sendfile) fails
 *                             with ENOSPC
 *   REKMOD_FAULT_COUNT=FILE   at exit, "<steps> <writes>" is written to FILE
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

struct counters {
	long steps, writes;
	pid_t top;
};
static struct counters *cnt;
static long crash_at = -1, enospc_at = -1;
static const char *count_file;

ssize_t __real_write(int fd, const void *buf, size_t n);

static void report(void)
{
	if (!count_file || !cnt || getpid() != cnt->top)
		return;
	char line[64];
	int len = snprintf(line, sizeof(line), "%ld %ld\n", cnt->steps, cnt->writes);
	int fd = open(count_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (__real_write(fd, line, (size_t)len) < 0) {
		}
		close(fd);
	}
}

static void init(void)
{
	if (cnt)
		return;
	cnt = mmap(NULL, sizeof(*cnt), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (cnt == MAP_FAILED)
		abort();
	cnt->top = getpid();
	const char *s = getenv("REKMOD_FAULT_CRASH_AT");
	crash_at = s && *s ? atol(s) : -1;
	s = getenv("REKMOD_FAULT_ENOSPC_AT");
	enospc_at = s && *s ? atol(s) : -1;
	count_file = getenv("REKMOD_FAULT_COUNT");
	atexit(report);
}

/* one step; -1 (errno ENOSPC) when this write is the one that fails */
static int step(int is_write)
{
	init();
	long n = __atomic_add_fetch(&cnt->steps, 1, __ATOMIC_SEQ_CST);
	if (n == crash_at) {
		if (getpid() != cnt->top)
			kill(cnt->top, SIGKILL);
		_exit(99);
	}
	if (is_write && __atomic_add_fetch(&cnt->writes, 1, __ATOMIC_SEQ_CST) == enospc_at) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}

#define WRAP(ret, name, params, args, is_write)      \
	ret __real_##name params;                    \
	ret __wrap_##name params;                    \
	ret __wrap_##name params                     \
	{                                            \
		if (step(is_write) < 0)              \
			return -1;                   \
		return __real_##name args;           \
	}

WRAP(ssize_t, write, (int fd, const void *buf, size_t n), (fd, buf, n), 1)
WRAP(ssize_t, pwrite, (int fd, const void *buf, size_t n, off_t off), (fd, buf, n, off), 1)
WRAP(ssize_t, sendfile, (int out, int in, off_t *off, size_t n), (out, in, off, n), 1)
WRAP(int, rename, (const char *a, const char *b), (a, b), 0)
WRAP(int, renameat, (int fa, const char *a, int fb, const char *b), (fa, a, fb, b), 0)
WRAP(int, unlink, (const char *p), (p), 0)
WRAP(int, unlinkat, (int fd, const char *p, int flags), (fd, p, flags), 0)
WRAP(int, rmdir, (const char *p), (p), 0)
WRAP(int, mkdir, (const char *p, mode_t m), (p, m), 0)
WRAP(int, mkdirat, (int fd, const char *p, mode_t m), (fd, p, m), 0)
WRAP(int, symlink, (const char *t, const char *p), (t, p), 0)
WRAP(int, symlinkat, (const char *t, int fd, const char *p), (t, fd, p), 0)
WRAP(int, link, (const char *a, const char *b), (a, b), 0)
WRAP(int, ftruncate, (int fd, off_t len), (fd, len), 0)

pid_t __real_fork(void);
pid_t __wrap_fork(void);
pid_t __wrap_fork(void)
{
	if (step(0) < 0)
		return -1;
	return __real_fork();
}

int __real_posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			const posix_spawnattr_t *attr, char *const argv[], char *const envp[]);
int __wrap_posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			const posix_spawnattr_t *attr, char *const argv[], char *const envp[]);
int __wrap_posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	step(0);
	return __real_posix_spawnp(pid, file, fa, attr, argv, envp);
}
