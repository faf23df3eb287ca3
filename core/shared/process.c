/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
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

static volatile sig_atomic_t timed_group;

int rk_spawn_timed_group(void)
{
	return timed_group;
}

static void child_fd(int fd, int target, int flags)
{
	if (fd < 0)
		fd = open("/dev/null", flags | O_CLOEXEC);
	if (fd < 0 || (fd != target && dup2(fd, target) < 0))
		_exit(127);
	if (fd == target)
		fcntl(fd, F_SETFD, 0);
	else
		close(fd);
}

/* the forked child of a timed spawn: own group, dies with its parent, then exec */
static _noreturn_ void timed_child(const struct rk_spawn *s, int out, int err, pid_t parent)
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	int in = s->stdin_fd, o = out >= 0 ? dup(out) : -1, e = err >= 0 ? dup(err) : -1;
	child_fd(in >= 0 ? dup(in) : -1, 0, O_RDONLY);
	child_fd(o, 1, O_WRONLY);
	child_fd(e, 2, O_WRONLY);
	if (s->cwd && chdir(s->cwd) < 0)
		_exit(127);
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvpe(s->argv[0], (char *const *)s->argv, s->envp ? (char *const *)s->envp : environ);
	_exit(127);
}

static int spawn_timed(const struct rk_spawn *s, int capture_fd, pid_t *ret_pid)
{
	int out = capture_fd >= 0 ? capture_fd : s->stdout_fd;
	int err = s->stderr_fd >= 0 ? s->stderr_fd : out;
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		timed_child(s, out, err, parent);
	setpgid(pid, pid); /* no race with a kill before the child's own setpgid */
	timed_group = pid;
	*ret_pid = pid;
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int kill_timed(pid_t pid)
{
	kill(-pid, SIGKILL);
	kill(pid, SIGKILL);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
	}
	timed_group = 0;
	return -ETIME;
}

/* fd (when >= 0) read to EOF into b, then pid reaped, both by the deadline */
static int collect_timed(pid_t pid, int fd, struct strbuf *b, long long deadline, int *ret_status)
{
	while (fd >= 0) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return kill_timed(pid);
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (poll(&pf, 1, left > 1000 ? 1000 : (int)left) <= 0)
			continue;
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		sb_putn(b, buf, (size_t)n);
	}
	for (;;) {
		int st;
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid) {
			timed_group = 0;
			*ret_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			return 0;
		}
		if (w < 0 && errno != EINTR)
			return -errno;
		if (now_ms() >= deadline)
			return kill_timed(pid);
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
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

int rk_wait_timed(pid_t pid, int timeout_seconds, int *ret_status)
{
	if (timeout_seconds <= 0)
		return wait_status(pid, ret_status);
	setpgid(pid, pid); /* as spawn_timed: no race with the child's own setpgid */
	timed_group = pid;
	return collect_timed(pid, -1, NULL, now_ms() + 1000LL * timeout_seconds, ret_status);
}

int rk_run(const struct rk_spawn *s, int *ret_status)
{
	pid_t pid;
	if (s->timeout_seconds > 0) {
		long long deadline = now_ms() + 1000LL * s->timeout_seconds;
		int r = spawn_timed(s, -1, &pid);
		return r < 0 ? r : collect_timed(pid, -1, NULL, deadline, ret_status);
	}
	int r = spawn(s, -1, &pid);
	if (r < 0)
		return r;
	return wait_status(pid, ret_status);
}

static int run_capture_timed(const struct rk_spawn *s, char **ret_out, size_t *ret_len, int *ret_status)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	long long deadline = now_ms() + 1000LL * s->timeout_seconds;
	pid_t pid;
	int r = spawn_timed(s, p[1], &pid);
	close(p[1]);
	struct strbuf b = { 0 };
	if (r == 0)
		r = collect_timed(pid, p[0], &b, deadline, ret_status);
	close(p[0]);
	if (r < 0) {
		sb_free(&b);
		return r;
	}
	if (ret_len)
		*ret_len = b.len;
	*ret_out = sb_steal(&b);
	return 0;
}

int rk_run_capture(const struct rk_spawn *s, char **ret_out, size_t *ret_len, int *ret_status)
{
	if (s->timeout_seconds > 0)
		return run_capture_timed(s, ret_out, ret_len, ret_status);
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
