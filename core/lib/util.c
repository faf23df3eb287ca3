/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "util.h"

/* ---- log ---- */

void rk_vlogf(const struct rk_log *log, int priority, const char *fmt, va_list ap)
{
	if (!log || !log->fn || priority > log->max_priority)
		return;
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		return;
	log->fn(log->userdata, priority, msg);
	free(msg);
}

void rk_logf(const struct rk_log *log, int priority, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rk_vlogf(log, priority, fmt, ap);
	va_end(ap);
}

/* ---- memory ---- */

static _noreturn_ void oom(void)
{
	static const char m[] = "rekmod: out of memory\n";
	if (write(STDERR_FILENO, m, sizeof(m) - 1) < 0) {
	}
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *r = strdup(s ? s : "");
	if (!r)
		oom();
	return r;
}

char *xstrndup(const char *s, size_t n)
{
	char *r = strndup(s, n);
	if (!r)
		oom();
	return r;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *r;
	va_start(ap, fmt);
	if (vasprintf(&r, fmt, ap) < 0)
		oom();
	va_end(ap);
	return r;
}

bool endswith(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool name_is_valid(const char *s)
{
	if (!s || !*s || streq(s, ".") || streq(s, ".."))
		return false;
	size_t n = 0;
	for (const char *p = s; *p; p++, n++) {
		unsigned char c = (unsigned char)*p;
		if (c == '/' || c < 0x20 || c == 0x7f)
			return false;
	}
	return n <= 200;
}

/* ---- strbuf ---- */

static void sb_grow(struct strbuf *b, size_t add)
{
	if (b->len + add + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap * 2 : 64;
	while (cap < b->len + add + 1)
		cap *= 2;
	b->s = xrealloc(b->s, cap);
	b->cap = cap;
}

void sb_putn(struct strbuf *b, const char *s, size_t n)
{
	sb_grow(b, n);
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void sb_putc(struct strbuf *b, char c)
{
	sb_putn(b, &c, 1);
}

void sb_puts(struct strbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

void sb_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sb_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

char *sb_steal(struct strbuf *b)
{
	char *s = b->s ? b->s : xstrdup("");
	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

void sb_free(struct strbuf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

/* ---- strv ---- */

size_t strv_len(char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

void strv_push(char ***v, char *s)
{
	size_t n = strv_len(*v);
	*v = xrealloc(*v, (n + 2) * sizeof(char *));
	(*v)[n] = s;
	(*v)[n + 1] = NULL;
}

void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

bool strv_contains(char *const *v, const char *s)
{
	for (size_t i = 0; v && v[i]; i++)
		if (streq(v[i], s))
			return true;
	return false;
}

/* ---- NAME=value texts ---- */

char *text_value(const char *text, const char *name)
{
	_cleanup_free_ char *pat = xasprintf("\n%s=", name);
	const char *p;
	if (startswith(text, pat + 1))
		p = text + strlen(pat) - 1; /* on the first line: no newline before it */
	else if ((p = strstr(text, pat)))
		p += strlen(pat);
	else
		return NULL;
	size_t n = strcspn(p, "\n");
	if (n >= 2 && p[0] == '"' && p[n - 1] == '"')
		return xstrndup(p + 1, n - 2);
	return xstrndup(p, n);
}

bool text_yes(const char *text, const char *name)
{
	_cleanup_free_ char *v = text_value(text, name);
	return v && streq(v, "y");
}

/* ---- versions ---- */

int version_compare(const char *a, const char *b)
{
	while (*a || *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			while (*a == '0')
				a++;
			while (*b == '0')
				b++;
			size_t la = 0, lb = 0;
			while (isdigit((unsigned char)a[la]))
				la++;
			while (isdigit((unsigned char)b[lb]))
				lb++;
			if (la != lb)
				return la < lb ? -1 : 1;
			int c = memcmp(a, b, la);
			if (c)
				return c;
			a += la;
			b += lb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return 0;
}

/* ---- files ---- */

int read_file(const char *path, char **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
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
		close(fd);
		unlink(tmp);
		free(tmp);
		return r;
	}
	*ret_tmp = tmp;
	return fd;
}

static int commit_tmp(int fd, char *tmp, const char *path)
{
	int r = 0;
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
	int r = write_all(fd, buf, len);
	if (r < 0) {
		close(fd);
		unlink(tmp);
		free(tmp);
		return r;
	}
	return commit_tmp(fd, tmp, path);
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

int copy_file_atomic(const char *src, const char *dst, mode_t mode)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	char *tmp;
	int fd = open_tmp_beside(dst, &tmp, mode);
	if (fd < 0)
		return fd;
	int r = copy_fd(in, fd);
	if (r < 0) {
		close(fd);
		unlink(tmp);
		free(tmp);
		return r;
	}
	return commit_tmp(fd, tmp, dst);
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

static int rm_rf_at(int dfd, const char *name)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(dfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
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
	int sfd = openat(sdfd, sname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || sfd < 0) {
		if (sfd >= 0)
			close(sfd);
		return -errno;
	}
	DIR *d = fdopendir(sfd);
	if (!d) {
		close(sfd);
		return -errno;
	}
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
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
	struct dirent *de;
	while ((de = readdir(d))) {
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		v = xrealloc(v, (n + 2) * sizeof(char *));
		v[n++] = xstrdup(de->d_name);
		v[n] = NULL;
	}
	closedir(d);
	qsort(v, n, sizeof(char *), cmp_str);
	return v;
}

/* ---- processes ---- */

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
	struct strbuf b = { 0 };
	char buf[65536];
	for (;;) {
		ssize_t n = read(p[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		sb_putn(&b, buf, (size_t)n);
	}
	close(p[0]);
	r = wait_status(pid, ret_status);
	if (r < 0) {
		sb_free(&b);
		return r;
	}
	if (ret_len)
		*ret_len = b.len;
	*ret_out = sb_steal(&b);
	return 0;
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
