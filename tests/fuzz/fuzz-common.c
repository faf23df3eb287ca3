/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "fuzz.h"

static char *dir;

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static void rm_dir(void)
{
	if (dir)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fuzz_dir(void)
{
	if (dir)
		return dir;
	const char *tmp = getenv("TMPDIR");
	if (asprintf(&dir, "%s/rekmod-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0 || !mkdtemp(dir)) {
		perror("fuzz: mkdtemp");
		abort();
	}
	atexit(rm_dir);
	return dir;
}

char *fuzz_path(const char *name)
{
	char *p;
	if (asprintf(&p, "%s/%s", fuzz_dir(), name) < 0)
		abort();
	return p;
}

void fuzz_write(const char *path, const void *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd) < 0) {
		perror(path);
		abort();
	}
}

void fuzz_fail(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "FINDING: %s\ninput (%zu bytes):\n", what, size);
	fwrite(data, 1, size, stderr);
	fputc('\n', stderr);
	abort();
}

void fuzz_log(void *ud, int priority, const char *msg)
{
	if (priority <= LOG_ERR && ud)
		(*(int *)ud)++;
	if (strchr(msg, '\n')) {
		fprintf(stderr, "FINDING: a log message of more than one line:\n%s\n", msg);
		abort();
	}
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "log %d: %s\n", priority, msg);
}
