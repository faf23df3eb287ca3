/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Files for every part of rekmod: whole-file reads, atomic and durable
 * writes (temp file beside the target, fsync, rename, fsync of the
 * directory), directory trees. 0 or -errno unless said otherwise. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* all of a file, or what fd gives until its end, NUL-terminated */
int read_file(const char *path, char **ret, size_t *ret_len);
int read_fd(int fd, char **ret, size_t *ret_len);
/* temp file in the same directory, write, fsync, rename, fsync directory */
int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode);
int copy_file_atomic(const char *src, const char *dst, mode_t mode);
/* what the open file in gives (from its start offset), into dst as above */
int copy_fd_atomic(int in, const char *dst, mode_t mode);
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
