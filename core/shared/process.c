/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "process.h"
#include "strutil.h"

extern char **environ;

static int spawn(const struct rk_spawn *s, int capture_fd, pid_t *ret_pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);

	int out = capture_fd >= 0 ? capture_fd : s->stdout_fd;
	int err = s->stderr_fd >= 0 ? s->stderr_fd : out;
	if (s->stdin_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, s->stdin_fd, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (out >= 0)
		posix_spawn_file_actions_adddup2(&fa, out, 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (err >= 0)
		posix_spawn_file_actions_adddup2(&fa, err, 2);
	else
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (s->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, s->cwd);

	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

	char *const *envp = s->envp ? (char *const *)s->envp : environ;
	int r = posix_spawnp(ret_pid, s->argv[0], &fa, &attr, (char *const *)s->argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return -r;
}

static int wait_status(pid_t pid, int *ret_status)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	*ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}

int rk_run(const struct rk_spawn *s, int *ret_status)
{
	pid_t pid;
	int r = spawn(s, -1, &pid);
	if (r < 0)
		return r;
	return wait_status(pid, ret_status);
}

int rk_run_capture(const struct rk_spawn *s, char **ret_out, size_t *ret_len, int *ret_status)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid;
	int r = spawn(s, p[1], &pid);
	close(p[1]);
	if (r < 0) {
		close(p[0]);
		return r;
	}
	_cleanup_free_ char *out = NULL;
	size_t len = 0;
	int k = read_fd(p[0], &out, &len);
	close(p[0]);
	r = wait_status(pid, ret_status);
	if (r < 0 || k < 0)
		return r < 0 ? r : k;
	if (ret_len)
		*ret_len = len;
	*ret_out = TAKE_PTR(out);
	return 0;
}
