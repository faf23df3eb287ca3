/* SPDX-License-Identifier: GPL-2.0-or-later */
/* rekmod publish: the fleet's kernels from -k, --kernels-file (one release a
 * line, # comments) and --all-kernels-of (a package list collected from the
 * machines: `dpkg-query -W` or `dpkg -l` lines naming linux-image-<K>, or
 * `rpm -qa` lines kernel-core-<K>/kernel-<K>), then one library call. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"

/* A kernel release: starts with a digit, then letters, digits and . _ + ~ - */
static bool release_ok(const char *k)
{
	if (!isdigit((unsigned char)k[0]) || strlen(k) > 200)
		return false;
	for (const char *p = k; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._+~-", *p))
			return false;
	return true;
}

char *kernel_of_package_line(const char *line)
{
	static const char *const prefixes[] = { "linux-image-", "kernel-core-", "kernel-default-", "kernel-" };
	char word[256];
	const char *p = line;
	/* `dpkg -l`: "ii  linux-image-6.1.0-55-amd64  6.1.192-1 ..." */
	if ((p[0] == 'i' || p[0] == 'r' || p[0] == 'h') && (p[1] == 'i' || p[1] == 'c' || p[1] == 'U') && p[2] == ' ')
		p += 3;
	p += strspn(p, " \t");
	size_t n = strcspn(p, " \t\n:");
	if (n == 0 || n >= sizeof(word))
		return NULL;
	memcpy(word, p, n);
	word[n] = '\0';
	/* Debian's -dbg packages carry symbols; -unsigned images are the same kernel */
	if (n > 4 && strcmp(word + n - 4, "-dbg") == 0)
		return NULL;
	if (n > 9 && strcmp(word + n - 9, "-unsigned") == 0)
		word[n - 9] = '\0';
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t l = strlen(prefixes[i]);
		if (strncmp(word, prefixes[i], l) == 0 && release_ok(word + l))
			return strdup(word + l);
	}
	return NULL;
}

static int add_kernel(char ***v, size_t *n, const char *k)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*v)[i], k) == 0)
			return 0;
	char **nv = realloc(*v, (*n + 2) * sizeof(char *));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[(*n)++] = strdup(k);
	nv[*n] = NULL;
	return 0;
}

/* lines of path: a release each (packages false), or a package list */
static int read_kernels(const char *path, bool packages, char ***v, size_t *n)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		err("cannot read %s: %s; pass a file with one %s a line", path, strerror(errno),
		    packages ? "installed package" : "kernel release");
		return 1;
	}
	char line[1024];
	unsigned lineno = 0;
	int r = 0;
	while (r == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		char *s = line + strspn(line, " \t");
		s[strcspn(s, "\r\n#")] = '\0';
		if (packages) {
			char *k = kernel_of_package_line(s);
			if (k)
				r = add_kernel(v, n, k);
			free(k);
			continue;
		}
		for (size_t e = strlen(s); e > 0 && (s[e - 1] == ' ' || s[e - 1] == '\t'); e--)
			s[e - 1] = '\0';
		if (!*s)
			continue;
		if (!release_ok(s)) {
			err("%s:%u: \"%s\" is not a kernel release (write one release a line, e.g. 6.1.0-55-amd64)", path,
			    lineno, s);
			r = 1;
		} else {
			r = add_kernel(v, n, s);
		}
	}
	fclose(f);
	return r;
}

static void free_kernels(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

int cmd_publish(struct rekmod_ctx *ctx, struct args *a)
{
	char **ks = NULL;
	size_t n = 0;
	int r = 0;
	for (size_t i = 0; r == 0 && i < a->n_kernels; i++)
		r = add_kernel(&ks, &n, a->kernels[i]);
	if (r == 0 && a->kernels_file)
		r = read_kernels(a->kernels_file, false, &ks, &n);
	if (r == 0 && a->all_kernels_of)
		r = read_kernels(a->all_kernels_of, true, &ks, &n);
	if (r == 0 && n == 0) {
		err("publish: no kernel given; pass -k KERNEL (repeatable), --kernels-file FILE or --all-kernels-of FILE");
		r = 1;
	}
	if (r == 0 && !a->repo) {
		err("publish: no repository given; pass --repo DIR");
		r = 1;
	}
	if (r == 0) {
		struct rekmod_publish_options o = { .module = a->module, .version = a->version,
						    .kernels = (const char *const *)ks, .repo = a->repo,
						    .suite = a->suite, .rpm = a->rpm,
						    .modules = a->n_mods > 1 ? a->mods : NULL };
		r = rekmod_publish(ctx, &o, NULL);
	}
	free_kernels(ks);
	return r;
}
