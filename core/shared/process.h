/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Child processes with an explicit argv and envp, never a shell: signals
 * reset in the child, stdin and unset outputs on /dev/null. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

struct rk_spawn {
	const char *const *argv;
	const char *const *envp; /* NULL: inherit */
	const char *cwd;         /* NULL: inherit */
	int stdout_fd;           /* -1: /dev/null */
	int stderr_fd;           /* -1: same as stdout (or the capture pipe) */
	int stdin_fd;            /* -1: /dev/null */
	int timeout_seconds;     /* > 0: in its own process group, killed with it after that long */
};
/* With a timeout, the child leads a process group of its own and dies
 * (SIGKILL) with the process that spawned it; when the time is up the whole
 * group is killed with SIGKILL, the child is reaped, and rk_run and
 * rk_run_capture return -ETIME (what it printed until then is lost). */
/* Runs to completion. Returns 0 and the exit code (128+signal if killed) in
 * *ret_status, or -errno when the process could not be started. */
int rk_run(const struct rk_spawn *s, int *ret_status);
/* Reaps pid, a child forked by the caller that leads its own process group
 * when timeout_seconds > 0: then as rk_run's timed children (the group
 * killed at the deadline: -ETIME; rk_spawn_timed_group names it meanwhile). */
int rk_wait_timed(pid_t pid, int timeout_seconds, int *ret_status);
/* Runs and captures stdout into *ret_out (NUL-terminated). */
int rk_run_capture(const struct rk_spawn *s, char **ret_out, size_t *ret_len, int *ret_status);
/* The process group of the timed child running now, 0 when none (for a
 * signal handler that kills its own group: the timed child's is another). */
int rk_spawn_timed_group(void);
