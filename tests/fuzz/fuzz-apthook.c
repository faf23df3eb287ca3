/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The APT hooks' input (hooks/apt, shell scripts run by /bin/sh as apt and
 * run-parts run them): the first input line is the kernel release
 * kernel-hook gets in $1 (as /etc/kernel/postinst.d/50rekmod), the rest is
 * the DPkg::Pre-Install-Pkgs version 3 stream apt-pre-install reads on
 * stdin. Both run in a scratch DPKG_ROOT whose usr/sbin/rekmod is a stub
 * that records its argv. Findings: a hook exiting non-zero or writing to
 * stdout; kernel-hook calling rekmod with another argv than
 * `sync --hook -q --kernel <$1>` (word splitting, globbing); apt-pre-install
 * saying anything but its one warning line about a linux-image-K that the
 * stream names. Slow: two shells per input. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "fileio.h"
#include "process.h"
#include "strutil.h"

#ifndef FUZZ_SRCDIR
#define FUZZ_SRCDIR "."
#endif

static char *root, *hookdir, *kernel_hook, *pre_install, *argv_out, *stream, *err_out, *out_out;

static void install_file(const char *from, const char *to, const char *text)
{
	_cleanup_free_ char *t = NULL;
	if (from && read_file(from, &t, NULL) < 0) {
		fprintf(stderr, "fuzz-apthook: cannot read %s (set FUZZ_SRCDIR)\n", from);
		abort();
	}
	fuzz_write(to, from ? t : text, strlen(from ? t : text));
	chmod(to, 0755);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	const char *src = getenv("FUZZ_SRCDIR") ? getenv("FUZZ_SRCDIR") : FUZZ_SRCDIR;
	root = fuzz_path("root");
	hookdir = fuzz_path("postinst.d");
	_cleanup_free_ char *sbin = fuzz_path("root/usr/sbin"), *dpkg = fuzz_path("root/var/lib/dpkg");
	if (mkdir_p(sbin, 0755) < 0 || mkdir_p(dpkg, 0755) < 0 || mkdir(hookdir, 0755) < 0)
		abort();
	argv_out = fuzz_path("rekmod-argv");
	stream = fuzz_path("stream");
	err_out = fuzz_path("stderr");
	out_out = fuzz_path("stdout");
	kernel_hook = fuzz_path("postinst.d/50rekmod");
	pre_install = xasprintf("%s/hooks/apt/apt-pre-install", src);
	_cleanup_free_ char *kh = xasprintf("%s/hooks/apt/kernel-hook", src);
	install_file(kh, kernel_hook, NULL);
	_cleanup_free_ char *stub = xasprintf("#!/bin/sh\n{ printf '%%s\\n' \"$REKMOD_ROOT\"; for a; do printf '%%s\\n' "
					      "\"$a\"; done; } > %s\n", argv_out);
	_cleanup_free_ char *rk = fuzz_path("root/usr/sbin/rekmod"), *status = fuzz_path("root/var/lib/dpkg/status");
	install_file(NULL, rk, stub);
	fuzz_write(status, "", 0);
	return 0;
}

/* runs /bin/sh script [arg] with DPKG_ROOT, stdin from `in`; its stdout and stderr in files */
static int run_sh(const char *script, const char *arg, const char *in)
{
	_cleanup_free_ char *droot = xasprintf("DPKG_ROOT=%s", root);
	const char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", droot, NULL };
	const char *argv[] = { "sh", script, arg, NULL };
	int ifd = open(in ? in : "/dev/null", O_RDONLY | O_CLOEXEC);
	int efd = open(err_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int ofd = open(out_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int st = -1;
	if (ifd < 0 || efd < 0 || ofd < 0 ||
	    rk_run(&(struct rk_spawn){ .argv = argv, .envp = envp, .stdin_fd = ifd, .stdout_fd = ofd, .stderr_fd = efd },
		   &st) < 0)
		abort();
	close(ifd), close(efd), close(ofd);
	return st;
}

static char *slurp(const char *p)
{
	char *t = NULL;
	if (read_file(p, &t, NULL) < 0)
		t = xstrdup("");
	return t;
}

static void kernel_hook_case(const char *k, const uint8_t *data, size_t size)
{
	unlink(argv_out);
	if (run_sh(kernel_hook, k, NULL) != 0)
		fuzz_fail("kernel-hook exited non-zero", data, size);
	_cleanup_free_ char *got = slurp(argv_out), *out = slurp(out_out);
	_cleanup_free_ char *want = *k ? xasprintf("%s\nsync\n--hook\n-q\n--kernel\n%s\n", root, k) : xstrdup("");
	if (!streq(got, want) || *out) {
		fprintf(stderr, "rekmod got:\n%s\nwanted:\n%s\n", got, want);
		fuzz_fail("kernel-hook called rekmod with another argv than sync --hook -q --kernel $1", data, size);
	}
}

/* every stderr line is the hook's warning about a linux-image-K the stream names */
static void pre_install_case(const char *text, const uint8_t *data, size_t size)
{
	if (run_sh(pre_install, NULL, stream) != 0)
		fuzz_fail("apt-pre-install exited non-zero", data, size);
	_cleanup_free_ char *err = slurp(err_out), *out = slurp(out_out);
	if (*out)
		fuzz_fail("apt-pre-install wrote to stdout", data, size);
	static const char head[] = "rekmod: linux-image-", mid[] = " is being installed without linux-headers-";
	for (char *save = NULL, *l = strtok_r(err, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		const char *m = strstr(l, mid);
		_cleanup_free_ char *k = m && startswith(l, head) ? xstrndup(l + strlen(head), (size_t)(m - l) - strlen(head))
								  : NULL;
		_cleanup_free_ char *pkg = k ? xasprintf("linux-image-%s", k) : NULL;
		if (!k || !*k || !strstr(text, pkg)) {
			fprintf(stderr, "stderr line: %s\n", l);
			fuzz_fail("apt-pre-install said something else than its warning about a streamed image", data, size);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (memchr(data, '\0', size))
		return 0; /* neither argv nor apt's text stream hold NUL bytes */
	const uint8_t *nl = memchr(data, '\n', size);
	size_t kl = nl ? (size_t)(nl - data) : size;
	_cleanup_free_ char *k = xstrndup((const char *)data, kl);
	kernel_hook_case(k, data, size);
	size_t rest = nl ? size - kl - 1 : 0;
	fuzz_write(stream, nl ? nl + 1 : data, rest);
	_cleanup_free_ char *text = xstrndup(nl ? (const char *)nl + 1 : "", rest);
	pre_install_case(text, data, size);
	return 0;
}
