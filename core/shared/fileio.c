/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "strutil.h"

int read_fd(int fd, char **ret, size_t *ret_len)
{
	struct strbuf b = { 0 };
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int r = -errno;
			sb_free(&b);
			return r;
		}
		if (n == 0)
			break;
		sb_putn(&b, buf, (size_t)n);
	}
	if (ret_len)
		*ret_len = b.len;
	*ret = sb_steal(&b);
	return 0;
}

int read_file(const char *path, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return read_fd(fd, ret, ret_len);
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fsync_dir_of(const char *path)
{
	_cleanup_free_ char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return fsync(fd) < 0 ? -errno : 0;
}

/* Gives up a temp file: the target keeps its old content. */
static void drop_tmp(int fd, char *tmp)
{
	close(fd);
	unlink(tmp);
	free(tmp);
}

static int open_tmp_beside(const char *path, char **ret_tmp, mode_t mode)
{
	char *tmp = xasprintf("%s.rekmod-tmp.XXXXXX", path);
	int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;
		free(tmp);
		return r;
	}
	if (fchmod(fd, mode) < 0) {
		int r = -errno;
		drop_tmp(fd, tmp);
		return r;
	}
	*ret_tmp = tmp;
	return fd;
}

/* r is how filling the temp file went: on success it is made durable and
 * renamed over path, else dropped. */
static int finish_tmp(int fd, char *tmp, const char *path, int r)
{
	if (r < 0) {
		drop_tmp(fd, tmp);
		return r;
	}
	if (fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	free(tmp);
	if (r == 0)
		r = fsync_dir_of(path);
	return r;
}

int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
	char *tmp;
	int fd = open_tmp_beside(path, &tmp, mode);
	if (fd < 0)
		return fd;
	return finish_tmp(fd, tmp, path, write_all(fd, buf, len));
}

static int copy_fd(int in, int out)
{
	struct stat st;
	if (fstat(in, &st) < 0)
		return -errno;
	off_t left = st.st_size;
	while (left > 0) {
		ssize_t n = sendfile(out, in, NULL, (size_t)(left > (1 << 30) ? (1 << 30) : left));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		left -= n;
	}
	return 0;
}

int copy_fd_atomic(int in, const char *dst, mode_t mode)
{
	char *tmp;
	int fd = open_tmp_beside(dst, &tmp, mode);
	if (fd < 0)
		return fd;
	return finish_tmp(fd, tmp, dst, copy_fd(in, fd));
}

int copy_file_atomic(const char *src, const char *dst, mode_t mode)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	return copy_fd_atomic(in, dst, mode);
}

int symlink_atomic(const char *target, const char *linkpath)
{
	for (int i = 0; i < 100; i++) {
		_cleanup_free_ char *tmp = xasprintf("%s.rekmod-tmp.%d.%d", linkpath, (int)getpid(), i);
		if (symlink(target, tmp) < 0) {
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		if (rename(tmp, linkpath) < 0) {
			int r = -errno;
			unlink(tmp);
			return r;
		}
		return fsync_dir_of(linkpath);
	}
	return -EEXIST;
}

int mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return is_dir(p) ? 0 : -ENOTDIR;
}

/* name in dfd opened for reading its entries; NULL with errno. */
static DIR *opendir_at(int dfd, const char *name, int flags)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
	if (fd < 0)
		return NULL;
	DIR *d = fdopendir(fd);
	if (!d)
		closep(&fd);
	return d;
}

/* The next entry of d other than . and ..; NULL at the end. */
static struct dirent *next_entry(DIR *d)
{
	struct dirent *de;
	while ((de = readdir(d)) && (streq(de->d_name, ".") || streq(de->d_name, "..")))
		;
	return de;
}

static int rm_rf_at(int dfd, const char *name)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	DIR *d = opendir_at(dfd, name, O_NOFOLLOW);
	if (!d)
		return -errno;
	int r = 0;
	for (struct dirent *de; (de = next_entry(d));) {
		int k = rm_rf_at(dirfd(d), de->d_name);
		if (k < 0 && r == 0)
			r = k;
	}
	closedir(d);
	if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
		r = -errno;
	return r;
}

int rm_rf(const char *path)
{
	return rm_rf_at(AT_FDCWD, path);
}

static int copy_tree_at(int sdfd, const char *sname, int ddfd, const char *dname)
{
	struct stat st;
	if (fstatat(sdfd, sname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(sdfd, sname, target, sizeof(target) - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
		return symlinkat(target, ddfd, dname) < 0 ? -errno : 0;
	}
	if (S_ISREG(st.st_mode)) {
		_cleanup_close_ int in = openat(sdfd, sname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (in < 0)
			return -errno;
		_cleanup_close_ int out =
			openat(ddfd, dname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777);
		if (out < 0)
			return -errno;
		int r = copy_fd(in, out);
		if (r < 0)
			return r;
		struct timespec ts[2] = { st.st_atim, st.st_mtim };
		futimens(out, ts);
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return 0; /* devices, fifos, sockets: not part of a module source */
	if (mkdirat(ddfd, dname, (st.st_mode & 07777) | 0700) < 0)
		return -errno;
	_cleanup_close_ int dfd = openat(ddfd, dname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	DIR *d = opendir_at(sdfd, sname, 0);
	if (!d)
		return -errno;
	int r = 0;
	for (struct dirent *de; (de = next_entry(d));) {
		r = copy_tree_at(dirfd(d), de->d_name, dfd, de->d_name);
		if (r < 0)
			break;
	}
	closedir(d);
	struct timespec ts[2] = { st.st_atim, st.st_mtim };
	futimens(dfd, ts);
	return r;
}

int copy_tree(const char *src, const char *dst)
{
	/* follow a symlink at the top (the dkms "source" link) */
	_cleanup_free_ char *real = realpath(src, NULL);
	if (!real)
		return -errno;
	return copy_tree_at(AT_FDCWD, real, AT_FDCWD, dst);
}

bool path_exists(const char *path)
{
	return access(path, F_OK) == 0;
}

bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_symlink(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISLNK(st.st_mode);
}

void rmdir_parents(const char *path, const char *stop)
{
	_cleanup_free_ char *p = xstrdup(path);
	size_t stoplen = strlen(stop);
	while (strlen(p) > stoplen && startswith(p, stop)) {
		if (rmdir(p) < 0)
			return;
		char *slash = strrchr(p, '/');
		if (!slash)
			return;
		*slash = '\0';
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **list_dir(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return NULL;
	char **v = xcalloc(1, sizeof(char *));
	size_t n = 0;
	for (struct dirent *de; (de = next_entry(d));) {
		v = xrealloc(v, (n + 2) * sizeof(char *));
		v[n++] = xstrdup(de->d_name);
		v[n] = NULL;
	}
	closedir(d);
	qsort(v, n, sizeof(char *), cmp_str);
	return v;
}

char *make_tmpdir(const char *prefix)
{
	const char *t = getenv("TMPDIR");
	char *d = xasprintf("%s/%s.XXXXXX", t && *t ? t : "/tmp", prefix);
	if (!mkdtemp(d)) {
		free(d);
		return NULL;
	}
	return d;
}
