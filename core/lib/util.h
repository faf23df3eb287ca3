/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internal helpers shared by every part of the engine: logging sink, strings,
 * string vectors, files (atomic writes, copies, trees) and child processes. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/types.h>
#include <syslog.h>

#include "macro.h"

/* ---- log sink: the library never prints, it calls this ---- */
struct rk_log {
	void (*fn)(void *userdata, int priority, const char *msg);
	void *userdata;
	int max_priority; /* messages above this priority are dropped */
};

void rk_logf(const struct rk_log *log, int priority, const char *fmt, ...) _printf_(3, 4);
void rk_vlogf(const struct rk_log *log, int priority, const char *fmt, va_list ap) _printf_(3, 0);
#define rk_err(l, ...) rk_logf((l), LOG_ERR, __VA_ARGS__)
#define rk_warn(l, ...) rk_logf((l), LOG_WARNING, __VA_ARGS__)
#define rk_notice(l, ...) rk_logf((l), LOG_NOTICE, __VA_ARGS__)
#define rk_info(l, ...) rk_logf((l), LOG_INFO, __VA_ARGS__)
#define rk_debug(l, ...) rk_logf((l), LOG_DEBUG, __VA_ARGS__)

/* ---- memory and strings (abort on out-of-memory, like git's xmalloc) ---- */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) _printf_(1, 2);
bool endswith(const char *s, const char *suffix);
/* A kernel release, module name or version usable as one path component. */
bool name_is_valid(const char *s);

/* Growable string. */
struct strbuf {
	char *s;
	size_t len, cap;
};
void sb_putc(struct strbuf *b, char c);
void sb_puts(struct strbuf *b, const char *s);
void sb_putn(struct strbuf *b, const char *s, size_t n);
void sb_printf(struct strbuf *b, const char *fmt, ...) _printf_(2, 3);
char *sb_steal(struct strbuf *b); /* never NULL */
void sb_free(struct strbuf *b);

/* NULL-terminated string vectors. */
size_t strv_len(char *const *v);
void strv_push(char ***v, char *s); /* takes ownership of s */
void strv_free(char **v);
bool strv_contains(char *const *v, const char *s);
static inline void strv_freep(char ***v)
{
	strv_free(*v);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)

/* The value of the first NAME=value line of a text (a kernel .config, one of
 * rekmod's records), surrounding double quotes removed; NULL when absent. */
char *text_value(const char *text, const char *name);
/* NAME=y? */
bool text_yes(const char *text, const char *name);

/* Compare versions the way dkms's VER() does: digit runs compared as
 * numbers, other characters as bytes. <0, 0, >0. */
int version_compare(const char *a, const char *b);

/* ---- files ---- */
int read_file(const char *path, char **ret, size_t *ret_len);
/* temp file in the same directory, write, fsync, rename, fsync directory */
int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode);
int copy_file_atomic(const char *src, const char *dst, mode_t mode);
/* replace (or create) a symlink atomically */
int symlink_atomic(const char *target, const char *linkpath);
int mkdir_p(const char *path, mode_t mode);
/* a new directory $TMPDIR/<prefix>.XXXXXX (mode 0700), or NULL with errno */
char *make_tmpdir(const char *prefix);
int rm_rf(const char *path);
/* copy a directory tree (files, dirs, symlinks), like cp -a without owners */
int copy_tree(const char *src, const char *dst);
int fsync_dir_of(const char *path);
bool path_exists(const char *path);
bool is_dir(const char *path);
bool is_symlink(const char *path);
/* remove empty directories from path upward, stopping at stop (not removed) */
void rmdir_parents(const char *path, const char *stop);
/* sorted (C collation) entries of a directory, without . and ..; NULL if unreadable */
char **list_dir(const char *path);

/* ---- processes: explicit argv and envp, never a shell ---- */
struct rk_spawn {
	const char *const *argv;
	const char *const *envp; /* NULL: inherit */
	const char *cwd;         /* NULL: inherit */
	int stdout_fd;           /* -1: /dev/null */
	int stderr_fd;           /* -1: same as stdout (or the capture pipe) */
	int stdin_fd;            /* -1: /dev/null */
};
/* Runs to completion. Returns 0 and the exit code (128+signal if killed) in
 * *ret_status, or -errno when the process could not be started. */
int rk_run(const struct rk_spawn *s, int *ret_status);
/* Runs and captures stdout into *ret_out (NUL-terminated). */
int rk_run_capture(const struct rk_spawn *s, char **ret_out, size_t *ret_len, int *ret_status);
