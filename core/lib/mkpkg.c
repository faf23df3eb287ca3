/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mkdeb / mkrpm: a module's source and the modules built so far, as a
 * Debian binary package (dpkg-deb) or an rpm (rpmbuild with a generated
 * spec), in the shape dkms 2.x's mkdeb/mkrpm gave them:
 *
 *   /usr/src/<m>-<v>/                         the source with its dkms.conf
 *   /usr/share/<pkg>/<m>-<v>.dkms.tar.gz      a binaries-only dkms tarball of
 *                                             the prebuilt modules (mktarball)
 *
 * The maintainer scripts hand that directory to
 * `/usr/lib/dkms/common.postinst <m> <v> /usr/share/<pkg> "" "$2"`, which
 * both rekmod and Debian's dkms provide: the tarball is loaded with
 * ldtarball (rekmod keeps a prebuilt build only for a kernel whose release
 * and vermagic it fits), what is built is installed, the rest is compiled.
 * --binaries-only makes one package per kernel, <m>-modules-<kver>, with the
 * tarball and no source.
 *
 * The tools run with an explicit argv (no shell); the package is staged in a
 * temporary directory and copied atomically to <dkms_tree>/<m>/<v>/{deb,rpm}/
 * or the --archive directory. */
#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "internal.h"

/* ---- shared helpers ---- */

static int write_text(struct rekmod_ctx *ctx, const char *path, const char *text, mode_t mode)
{
	_cleanup_free_ char *dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	int r = mkdir_p(dir, 0755);
	if (r == 0)
		r = write_file_atomic(path, text, strlen(text), mode);
	if (r < 0)
		dk_error(ctx, "could not write %s: %s", path, strerror(-r));
	return r < 0 ? REKMOD_E_GENERIC : 0;
}

/* A binaries-only dkms tarball of m/v for the kernels, at path. */
static int put_tarball(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, char *const *ks,
		       char *const *as, const char *path)
{
	_cleanup_free_ char *dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	int r = mkdir_p(dir, 0755);
	if (r < 0) {
		dk_error(ctx, "could not create %s: %s", dir, strerror(-r));
		return REKMOD_E_GENERIC;
	}
	struct rekmod_pack_options t = {
		.module = o->module,
		.version = o->version,
		.kernels = (const char *const *)ks,
		.arches = (const char *const *)as,
		.binaries_only = true,
		.archive = path,
	};
	/* mktarball's progress names the staging directory: one line instead */
	r = mktarball_logged(ctx, &t, LOG_WARNING);
	if (r == 0) {
		struct strbuf b = { 0 };
		for (size_t i = 0; ks[i]; i++)
			sb_printf(&b, "%s%s (%s)", i ? ", " : "", ks[i], as[i]);
		say(ctx, "Prebuilt modules for %s: %s", b.s, strstr(path, "/usr/share/"));
		sb_free(&b);
	}
	return r;
}

static int put_source(struct rekmod_ctx *ctx, const char *m, const char *v, const char *stage)
{
	_cleanup_free_ char *src = source_dir(ctx, m, v);
	_cleanup_free_ char *dst = xasprintf("%s/usr/src/%s-%s", stage, m, v);
	_cleanup_free_ char *conf = xasprintf("%s/dkms.conf", src);
	if (!path_exists(conf)) {
		dk_error(ctx, "%s has no dkms.conf: the source of %s/%s is missing; register it again with `add`, or use "
			 "--binaries-only",
			 src, m, v);
		return REKMOD_E_NOCONF;
	}
	say(ctx, "Copying source tree %s...", src);
	int r = mkdir_p(dst, 0755);
	if (r == 0) {
		rmdir(dst);
		r = copy_tree(src, dst);
	}
	if (r < 0) {
		dk_error(ctx, "could not copy %s to %s: %s", src, dst, strerror(-r));
		return REKMOD_E_GENERIC;
	}
	return 0;
}

/* The output directory: --archive, or <dkms_tree>/<m>/<v>/<kind>. */
static char *out_dir(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, const char *kind)
{
	_cleanup_free_ char *mvd = mv_dir(ctx, o->module, o->version);
	char *d = o->archive ? xstrdup(o->archive) : xasprintf("%s/%s", mvd, kind);
	int r = mkdir_p(d, 0755);
	if (r < 0 || access(d, W_OK) < 0) {
		dk_error(ctx, "Missing write permissions for %s: %s; choose another directory with --archive", d,
			 strerror(r < 0 ? -r : errno));
		free(d);
		return NULL;
	}
	return d;
}

static int deliver(struct rekmod_ctx *ctx, const char *built, const char *dir, const char *name, const char *what)
{
	_cleanup_free_ char *dst = xasprintf("%s/%s", dir, name);
	int r = copy_file_atomic(built, dst, 0644);
	if (r < 0) {
		dk_error(ctx, "could not write %s: %s", dst, strerror(-r));
		return REKMOD_E_GENERIC;
	}
	say(ctx, "%s location: %s", what, dst);
	return 0;
}

/* A package name of lower-case letters, digits and + - . (both dpkg and
 * rpm accept it): "acpi_call" becomes "acpi-call". */
static char *pkg_name(char *s)
{
	for (char *p = s; *p; p++) {
		*p = (char)tolower((unsigned char)*p);
		if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
			*p = '-';
	}
	return s;
}

/* <m>-modules-<kver>: the binaries-only package's name (publish looks for it) */
char *pack_binary_name(const char *m, const char *k)
{
	return pkg_name(xasprintf("%s-modules-%s", m, k));
}

/* ---- mkdeb ---- */

/* dpkg's name of a kernel arch (uname -m). */
static const char *deb_arch(const char *a)
{
	static const char *const map[][2] = {
		{ "x86_64", "amd64" },	 { "i386", "i386" },	 { "i486", "i386" },	 { "i586", "i386" },
		{ "i686", "i386" },	 { "aarch64", "arm64" }, { "armv7l", "armhf" },	 { "ppc64le", "ppc64el" },
		{ "s390x", "s390x" },	 { "riscv64", "riscv64" }, { "mips64", "mips64el" }, { "loongarch64", "loong64" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (streq(a, map[i][0]))
			return map[i][1];
	return a;
}

/* A Debian version: [epoch:]upstream[-revision], upstream starting with a digit. */
static bool deb_version_ok(const char *v)
{
	if (!isdigit((unsigned char)v[0]))
		return false;
	for (const char *p = v; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".+~-:", *p))
			return false;
	return true;
}

static char *maintainer(void)
{
	const char *full = getenv("DEBFULLNAME"), *mail = getenv("DEBEMAIL");
	if (mail && *mail && strchr(mail, '<'))
		return xstrdup(mail);
	if (mail && *mail)
		return xasprintf("%s <%s>", full && *full ? full : "root", mail);
	/* what dch falls back to: the user at this host */
	const char *email = getenv("EMAIL");
	if (email && *email)
		return xasprintf("%s <%s>", full && *full ? full : "Local administrator", email);
	char host[256] = "localhost";
	gethostname(host, sizeof(host) - 1);
	return xasprintf("%s <root@%s>", full && *full ? full : "Local administrator", host);
}

struct walk {
	struct strbuf md5sums;
	unsigned long long kib;
};

static int md5_file(const char *path, char hex[33])
{
	_cleanup_free_ char *data = NULL;
	size_t n = 0;
	int r = read_file(path, &data, &n);
	if (r < 0)
		return r;
	unsigned char md[16];
	if ((r = digest_md5(data, n, md)) < 0)
		return r;
	for (unsigned int i = 0; i < 16; i++)
		sprintf(hex + 2 * i, "%02x", md[i]);
	return 0;
}

/* DEBIAN/md5sums lines and Installed-Size (KiB per file rounded up, 1 per
 * directory or link, as dpkg-gencontrol counts) of a staged tree. */
static int walk_tree(const char *root, const char *rel, struct walk *w)
{
	_cleanup_free_ char *dir = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
	_cleanup_strv_free_ char **names = list_dir(dir);
	if (!names)
		return -errno;
	for (size_t i = 0; names[i]; i++) {
		if (!*rel && streq(names[i], "DEBIAN"))
			continue;
		_cleanup_free_ char *r = *rel ? xasprintf("%s/%s", rel, names[i]) : xstrdup(names[i]);
		_cleanup_free_ char *p = xasprintf("%s/%s", root, r);
		struct stat st;
		if (lstat(p, &st) < 0)
			return -errno;
		if (S_ISDIR(st.st_mode)) {
			w->kib++;
			int e = walk_tree(root, r, w);
			if (e < 0)
				return e;
		} else if (S_ISREG(st.st_mode)) {
			char hex[33] = { 0 };
			int e = md5_file(p, hex);
			if (e < 0)
				return e;
			sb_printf(&w->md5sums, "%s  %s\n", hex, r);
			w->kib += ((unsigned long long)st.st_size + 1023) / 1024;
		} else {
			w->kib++;
		}
	}
	return 0;
}

static char *rfc2822_now(void)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	time_t t = sde && *sde ? (time_t)strtoll(sde, NULL, 10) : time(NULL);
	struct tm tm;
	char buf[64];
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	gmtime_r(&t, &tm);
	snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
		 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return xstrdup(buf);
}

/* /usr/share/doc/<pkg>/{copyright,changelog[.Debian].gz} */
static int put_doc(struct rekmod_ctx *ctx, const char *stage, const char *pkg, const char *m, const char *v,
		   const char *maint, bool with_source)
{
	_cleanup_free_ char *doc = xasprintf("%s/usr/share/doc/%s", stage, pkg);
	_cleanup_free_ char *cp = xasprintf("%s/copyright", doc);
	_cleanup_free_ char *copyright = NULL;
	copyright = with_source ? xasprintf("This package was generated by rekmod mkdeb from the %s %s kernel module\n"
					    "registered with DKMS (source: /usr/src/%s-%s).\n\n"
					    "The module's own copyright and license apply: see the MODULE_LICENSE\n"
					    "declaration and the headers of its source files.\n",
					    m, v, m, v)
				: xasprintf("This package was generated by rekmod mkdeb from the %s %s kernel module\n"
					    "registered with DKMS.\n\n"
					    "The module's own copyright and license apply: see the MODULE_LICENSE\n"
					    "declaration in its modinfo.\n",
					    m, v);
	int r = write_text(ctx, cp, copyright, 0644);
	if (r)
		return r;
	_cleanup_free_ char *date = rfc2822_now();
	_cleanup_free_ char *log = xasprintf("%s (%s) unstable; urgency=medium\n\n"
					     "  * Generated by rekmod mkdeb from %s/%s.\n\n"
					     " -- %s  %s\n",
					     pkg, v, m, v, maint, date);
	void *gz = NULL;
	size_t gz_n = 0;
	if (compress_buffer(RK_COMPRESS_GZIP, log, strlen(log), &gz, &gz_n) < 0) {
		dk_error(ctx, "could not compress the changelog of %s", pkg);
		return REKMOD_E_GENERIC;
	}
	/* a native version (no Debian revision) has changelog.gz */
	_cleanup_free_ char *cl = xasprintf("%s/%s", doc, strchr(v, '-') ? "changelog.Debian.gz" : "changelog.gz");
	r = write_file_atomic(cl, gz, gz_n, 0644);
	free(gz);
	if (r < 0) {
		dk_error(ctx, "could not write %s: %s", cl, strerror(-r));
		return REKMOD_E_GENERIC;
	}
	return 0;
}

/* The maintainer scripts pick the tool: rekmod inside DPKG_ROOT (it honours
 * the root), else dkms on the real root; dkms cannot work on another root. */
#define DEB_PICK_TOOL \
	"\tROOT=\"${DPKG_ROOT:-}\"\n" \
	"\tif [ -x \"$ROOT/usr/sbin/rekmod\" ]; then\n" \
	"\t\tDKMS=\"$ROOT/usr/sbin/rekmod\"\n" \
	"\t\texport REKMOD_ROOT=\"$ROOT\"\n" \
	"\telif [ -z \"$ROOT\" ] && command -v dkms >/dev/null 2>&1; then\n" \
	"\t\tDKMS=dkms\n" \
	"\telse\n" \
	"\t\techo \"%s: neither rekmod in $ROOT/usr/sbin nor dkms on the real root: run this package's %s with " \
	"dkms by hand\" >&2\n" \
	"\t\texit 0\n" \
	"\tfi\n"

static char *deb_script_head(const char *pkg, const char *what, const char *m, const char *v)
{
	return xasprintf("#!/bin/sh\n"
			 "# %s of %s, made by rekmod mkdeb. Honours DPKG_ROOT (dpkg's chrootless mode).\n"
			 "set -e\n"
			 "NAME='%s'\n"
			 "VERSION='%s'\n",
			 what, pkg, m, v);
}

static char *deb_postinst(const char *pkg, const char *m, const char *v)
{
	_cleanup_free_ char *head = deb_script_head(pkg, "postinst", m, v);
	return xasprintf("%s"
			 "case \"$1\" in\n"
			 "configure)\n"
			 "\t# rekmod's and dkms's common.postinst load the prebuilt modules of\n"
			 "\t# /usr/share/%s/$NAME-$VERSION.dkms.tar.gz and build the rest\n"
			 "\tif [ -n \"${DPKG_ROOT:-}\" ] && [ ! -x \"$DPKG_ROOT/usr/sbin/rekmod\" ]; then\n"
			 "\t\techo \"%s: no rekmod in $DPKG_ROOT (dkms cannot work on another root): run "
			 "/usr/lib/dkms/common.postinst $NAME $VERSION /usr/share/%s inside it\" >&2\n"
			 "\t\texit 0\n"
			 "\tfi\n"
			 "\t\"${DPKG_ROOT:-}/usr/lib/dkms/common.postinst\" \"$NAME\" \"$VERSION\" /usr/share/%s \"\" "
			 "\"$2\"\n"
			 "\t;;\n"
			 "esac\n"
			 "exit 0\n",
			 head, pkg, pkg, pkg, pkg);
}

static char *deb_prerm(const char *pkg, const char *m, const char *v, const char *k, const char *a)
{
	_cleanup_free_ char *head = deb_script_head(pkg, "prerm", m, v);
	_cleanup_free_ char *pick = xasprintf(DEB_PICK_TOOL, pkg, "prerm");
	_cleanup_free_ char *which = k ? xasprintf("-k '%s' -a '%s'", k, a) : xstrdup("--all");
	return xasprintf("%s"
			 "case \"$1\" in\n"
			 "remove | upgrade | deconfigure)\n"
			 "%s"
			 "\tif [ -n \"$(\"$DKMS\" status -m \"$NAME\" -v \"$VERSION\" 2>/dev/null)\" ]; then\n"
			 "\t\t\"$DKMS\" remove -m \"$NAME\" -v \"$VERSION\" %s || true\n"
			 "\tfi\n"
			 "\t;;\n"
			 "esac\n"
			 "exit 0\n",
			 head, pick, which);
}

/* binaries-only on a machine with neither rekmod nor dkms (a fleet's
 * machines: no compiler, no headers): the tarball's modules are put in
 * /lib/modules/K/updates/dkms as they are and depmod runs; prerm takes them
 * out again. With rekmod or dkms the tree learns of them (ldtarball). */
#define DEB_PLAIN                                                                                   \
	"have_tool() {\n"                                                                            \
	"\t[ -x \"${DPKG_ROOT:-}/usr/sbin/rekmod\" ] || { [ -z \"${DPKG_ROOT:-}\" ] && command -v dkms "  \
	">/dev/null 2>&1; }\n"                                                                        \
	"}\n"                                                                                        \
	"DEST=\"${DPKG_ROOT:-}/lib/modules/$KERNEL/updates/dkms\"\n"                                  \
	"MODS=\"./dkms_main_tree/$KERNEL/$ARCH/module\"\n"                                              \
	"plain_depmod() {\n"                                                                         \
	"\tif [ -e \"${DPKG_ROOT:-}/lib/modules/$KERNEL/modules.order\" ]; then\n"                      \
	"\t\tdepmod -a ${DPKG_ROOT:+-b \"$DPKG_ROOT\"} \"$KERNEL\" || true\n"                           \
	"\tfi\n"                                                                                     \
	"}\n"

static char *deb_plain_install(void)
{
	return xstrdup("\tif ! have_tool; then\n"
		       "\t\tT=$(mktemp -d)\n"
		       "\t\ttar -xzf \"${DPKG_ROOT:-}$TARBALL\" -C \"$T\" \"$MODS\"\n"
		       "\t\tmkdir -p \"$DEST\"\n"
		       "\t\tfor f in \"$T/$MODS\"/*; do cp \"$f\" \"$DEST/\"; done\n"
		       "\t\trm -rf \"$T\"\n"
		       "\t\tplain_depmod\n"
		       "\t\texit 0\n"
		       "\tfi\n");
}

static char *deb_plain_remove(void)
{
	return xstrdup("\tif ! have_tool; then\n"
		       "\t\tfor f in $(tar -tzf \"${DPKG_ROOT:-}$TARBALL\" \"$MODS\" 2>/dev/null); do\n"
		       "\t\t\t[ \"${f%/}\" = \"$MODS\" ] || rm -f \"$DEST/${f##*/}\"\n"
		       "\t\tdone\n"
		       "\t\tplain_depmod\n"
		       "\t\texit 0\n"
		       "\tfi\n");
}

/* binaries-only: load this kernel's prebuilt modules and install them */
static char *deb_postinst_binaries(const char *pkg, const char *m, const char *v, const char *k, const char *a)
{
	_cleanup_free_ char *head = deb_script_head(pkg, "postinst", m, v);
	_cleanup_free_ char *pick = xasprintf(DEB_PICK_TOOL, pkg, "postinst");
	_cleanup_free_ char *plain = deb_plain_install();
	return xasprintf("%s"
			 "KERNEL='%s'\n"
			 "ARCH='%s'\n"
			 "TARBALL=/usr/share/%s/$NAME-$VERSION.dkms.tar.gz\n"
			 DEB_PLAIN
			 "case \"$1\" in\n"
			 "configure)\n"
			 "%s"
			 "%s"
			 "\tFORCE=\n"
			 "\t[ -z \"$(\"$DKMS\" status -m \"$NAME\" -v \"$VERSION\" 2>/dev/null)\" ] || FORCE=--force\n"
			 "\t# dkms 3.0 exits 1 after loading a binaries-only tarball without source\n"
			 "\t\"$DKMS\" ldtarball --archive \"$ROOT$TARBALL\" $FORCE || true\n"
			 "\t# --force: a module compiled here before is replaced by the prebuilt one\n"
			 "\tif ! \"$DKMS\" install -m \"$NAME\" -v \"$VERSION\" -k \"$KERNEL\" -a \"$ARCH\" $FORCE; then\n"
			 "\t\techo \"%s: the prebuilt $NAME/$VERSION does not fit kernel $KERNEL ($ARCH) and there is no "
			 "source to build it: install the $NAME DKMS source package\" >&2\n"
			 "\t\texit 1\n"
			 "\tfi\n"
			 "\t;;\n"
			 "esac\n"
			 "exit 0\n",
			 head, k, a, pkg, plain, pick, pkg);
}

/* binaries-only: the modules out again (dkms remove, or the plain files) */
static char *deb_prerm_binaries(const char *pkg, const char *m, const char *v, const char *k, const char *a)
{
	_cleanup_free_ char *head = deb_script_head(pkg, "prerm", m, v);
	_cleanup_free_ char *pick = xasprintf(DEB_PICK_TOOL, pkg, "prerm");
	_cleanup_free_ char *plain = deb_plain_remove();
	return xasprintf("%s"
			 "KERNEL='%s'\n"
			 "ARCH='%s'\n"
			 "TARBALL=/usr/share/%s/$NAME-$VERSION.dkms.tar.gz\n"
			 DEB_PLAIN
			 "case \"$1\" in\n"
			 "remove | upgrade | deconfigure)\n"
			 "%s"
			 "%s"
			 "\tif [ -n \"$(\"$DKMS\" status -m \"$NAME\" -v \"$VERSION\" 2>/dev/null)\" ]; then\n"
			 "\t\t\"$DKMS\" remove -m \"$NAME\" -v \"$VERSION\" -k \"$KERNEL\" -a \"$ARCH\" || true\n"
			 "\tfi\n"
			 "\t;;\n"
			 "esac\n"
			 "exit 0\n",
			 head, k, a, pkg, plain, pick);
}

struct deb_spec {
	const char *pkg, *arch, *depends, *provides, *suggests;
	char *description; /* synopsis + "\n" + long lines */
	char *postinst, *prerm;
	bool with_source;
};

static int deb_build(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, const char *stage,
		     const struct deb_spec *d, const char *outdir)
{
	const char *m = o->module, *v = o->version;
	_cleanup_free_ char *maint = maintainer();
	int r = put_doc(ctx, stage, d->pkg, m, v, maint, d->with_source);
	if (r)
		return r;
	_cleanup_free_ char *deb = xasprintf("%s/DEBIAN", stage);
	_cleanup_free_ char *pi = xasprintf("%s/postinst", deb), *pr = xasprintf("%s/prerm", deb);
	if ((r = write_text(ctx, pi, d->postinst, 0755)) || (r = write_text(ctx, pr, d->prerm, 0755)))
		return r;
	struct walk w = { 0 };
	int e = walk_tree(stage, "", &w);
	if (e < 0) {
		sb_free(&w.md5sums);
		dk_error(ctx, "could not read the staged package %s: %s", stage, strerror(-e));
		return REKMOD_E_GENERIC;
	}
	_cleanup_free_ char *md5 = sb_steal(&w.md5sums);
	_cleanup_free_ char *mp = xasprintf("%s/md5sums", deb);
	if ((r = write_text(ctx, mp, md5, 0644)))
		return r;
	struct strbuf c = { 0 };
	sb_printf(&c, "Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: %s\nInstalled-Size: %llu\n", d->pkg, v,
		  d->arch, maint, w.kib);
	sb_printf(&c, "Depends: %s\n", d->depends);
	if (d->suggests)
		sb_printf(&c, "Suggests: %s\n", d->suggests);
	if (d->provides)
		sb_printf(&c, "Provides: %s\n", d->provides);
	sb_printf(&c, "Section: kernel\nPriority: optional\nDescription: %s", d->description);
	_cleanup_free_ char *control = sb_steal(&c);
	_cleanup_free_ char *cp = xasprintf("%s/control", deb);
	if ((r = write_text(ctx, cp, control, 0644)))
		return r;

	_cleanup_free_ char *name = xasprintf("%s_%s_%s.deb", d->pkg, strchr(v, ':') ? strchr(v, ':') + 1 : v, d->arch);
	_cleanup_free_ char *built = xasprintf("%s.deb", stage);
	say(ctx, "Building binary package %s...", name);
	const char *argv[] = { "dpkg-deb", "--root-owner-group", "-Zxz", "--build", stage, built, NULL };
	r = run_tool(ctx, argv, NULL);
	if (r == 0)
		r = deliver(ctx, built, outdir, name, "Deb package");
	unlink(built);
	return r;
}

static char *kernel_lines(char *const *ks, char *const *as)
{
	struct strbuf b = { 0 };
	for (size_t i = 0; ks && ks[i]; i++)
		sb_printf(&b, "  - %s (%s)\n", ks[i], as[i]);
	return sb_steal(&b);
}

/* What a <m>-dkms package carries, under stage: /usr/src/<m>-<v>/ and,
 * unless source only, /usr/share/<pkg>/<m>-<v>.dkms.tar.gz (binaries only). */
static int stage_dkms_payload(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, char *const *ks,
			      char *const *as, const char *stage, const char *pkg, bool *prebuilt)
{
	const char *m = o->module, *v = o->version;
	int r = mkdir_p(stage, 0755);
	if (r < 0) {
		dk_error(ctx, "could not create %s: %s", stage, strerror(-r));
		return REKMOD_E_GENERIC;
	}
	if ((r = put_source(ctx, m, v, stage)))
		return r;
	*prebuilt = !o->source_only && ks && ks[0];
	if (*prebuilt) {
		_cleanup_free_ char *tb = xasprintf("%s/usr/share/%s/%s-%s.dkms.tar.gz", stage, pkg, m, v);
		if ((r = put_tarball(ctx, o, ks, as, tb)))
			return r;
	} else if (!o->source_only) {
		say(ctx, "%s/%s is not built for any kernel: the package carries its source only.", m, v);
	}
	return 0;
}

/* <m>-dkms_<v>_all.deb: source plus the prebuilt modules */
static int mkdeb_dkms(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, char *const *ks, char *const *as,
		      const char *tmp, const char *outdir)
{
	const char *m = o->module, *v = o->version;
	_cleanup_free_ char *pkg = pkg_name(xasprintf("%s-dkms", m));
	_cleanup_free_ char *stage = xasprintf("%s/%s", tmp, pkg);
	bool prebuilt;
	int r = stage_dkms_payload(ctx, o, ks, as, stage, pkg, &prebuilt);
	if (r)
		return r;
	_cleanup_free_ char *list = prebuilt ? kernel_lines(ks, as) : xstrdup("");
	_cleanup_free_ char *postinst = deb_postinst(pkg, m, v);
	_cleanup_free_ char *prerm = deb_prerm(pkg, m, v, NULL, NULL);
	_cleanup_free_ char *desc = xasprintf(
		"%s kernel module %s (DKMS source%s)\n"
		" The source of the %s %s out-of-tree kernel module in /usr/src/%s-%s,\n"
		" registered with DKMS (rekmod or dkms) at installation and built for\n"
		" the installed kernels that have headers.%s\n%s",
		m, v, prebuilt ? " and prebuilt modules" : "", m, v, m, v,
		prebuilt ? "\n .\n It carries modules prebuilt for the kernels below; one is used instead\n"
			   " of compiling when the kernel's release and vermagic match:"
			 : "",
		list);
	struct deb_spec d = { .pkg = pkg,
			      .arch = "all",
			      .depends = "rekmod | dkms",
			      .description = desc,
			      .postinst = postinst,
			      .prerm = prerm,
			      .with_source = true };
	return deb_build(ctx, o, stage, &d, outdir);
}

/* <m>-modules-<kver>_<v>_<arch>.deb: one kernel's prebuilt modules */
static int mkdeb_binaries(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, const char *k,
			  const char *a, const char *tmp, const char *outdir)
{
	const char *m = o->module, *v = o->version;
	_cleanup_free_ char *pkg = pkg_name(xasprintf("%s-modules-%s", m, k));
	_cleanup_free_ char *stage = xasprintf("%s/%s", tmp, pkg);
	_cleanup_free_ char *tb = xasprintf("%s/usr/share/%s/%s-%s.dkms.tar.gz", stage, pkg, m, v);
	char *one_k[] = { (char *)k, NULL }, *one_a[] = { (char *)a, NULL };
	int r = mkdir_p(stage, 0755);
	if (r < 0) {
		dk_error(ctx, "could not create %s: %s", stage, strerror(-r));
		return REKMOD_E_GENERIC;
	}
	if ((r = put_tarball(ctx, o, one_k, one_a, tb)))
		return r;
	_cleanup_free_ char *postinst = deb_postinst_binaries(pkg, m, v, k, a);
	_cleanup_free_ char *prerm = deb_prerm_binaries(pkg, m, v, k, a);
	/* no rekmod or dkms needed: without them the postinst puts the modules in place */
	_cleanup_free_ char *depends = xasprintf("linux-image-%s", k);
	_cleanup_free_ char *provides = pkg_name(xasprintf("%s-modules", m));
	_cleanup_free_ char *desc = xasprintf("%s kernel module %s for Linux %s (prebuilt)\n"
					      " The %s %s out-of-tree kernel module, built for\n"
					      " Linux %s (%s), without compiling: registered with DKMS\n"
					      " (rekmod or dkms) when one is installed, else put in place as is.\n",
					      m, v, k, m, v, k, a);
	struct deb_spec d = { .pkg = pkg,
			      .arch = deb_arch(a),
			      .depends = depends,
			      .provides = provides,
			      .suggests = "rekmod | dkms",
			      .description = desc,
			      .postinst = postinst,
			      .prerm = prerm,
			      .with_source = false };
	return deb_build(ctx, o, stage, &d, outdir);
}

/* Names that go into maintainer scripts, file names and package fields as they are. */
static bool pack_name_ok(const char *s)
{
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._+~:-", *p))
			return false;
	return name_is_valid(s);
}

static int pack_check(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, const char *verb)
{
	if (!o->module || !o->version || !name_is_valid(o->module) || !name_is_valid(o->version)) {
		dk_error(ctx, "Arguments <module> and <module-version> are not specified.\nUsage: %s "
			 "<module>/<module-version> or %s -m <module> -v <module-version>",
			 verb, verb);
		return REKMOD_E_GENERIC;
	}
	if (!pack_name_ok(o->module) || !pack_name_ok(o->version)) {
		dk_error(ctx, "%s/%s: a packaged module name and version may hold only letters, digits and . _ + ~ : -; "
			 "change PACKAGE_NAME or PACKAGE_VERSION in dkms.conf",
			 o->module, o->version);
		return REKMOD_E_GENERIC;
	}
	if (o->source_only && o->binaries_only) {
		dk_error(ctx, "You have specified both --binaries-only and --source-only.\nYou cannot do this.");
		return REKMOD_E_BADCONF;
	}
	if (!tree_is_added(ctx, o->module, o->version)) {
		dk_error(ctx, "The module/version combo: %s-%s is not located in the DKMS tree.", o->module,
			 o->version);
		return REKMOD_E_EXISTS;
	}
	return 0;
}

typedef int (*pack_one_fn)(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, const char *k,
			   const char *a, const char *tmp, const char *outdir);
typedef int (*pack_all_fn)(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, char *const *ks,
			   char *const *as, const char *tmp, const char *outdir);

/* Checks, lock, temporary directory, then one package or one per kernel. */
static int pack(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, const char *verb, const char *kind,
		pack_all_fn all, pack_one_fn one)
{
	int r = pack_check(ctx, o, verb);
	if (r)
		return r;
	_cleanup_strv_free_ char **ks = NULL, **as = NULL;
	pack_kernels(ctx, o, &ks, &as);
	for (size_t i = 0; ks && ks[i]; i++)
		if (!pack_name_ok(ks[i]) || !pack_name_ok(as[i])) {
			dk_error(ctx, "invalid kernel \"%s\" or arch \"%s\": each may hold only letters, digits and "
				 ". _ + ~ : -", ks[i], as[i]);
			return REKMOD_E_GENERIC;
		}
	if (o->binaries_only && !(ks && ks[0])) {
		dk_error(ctx, "%s/%s is not built for any kernel: build it first (`build -k K`), or leave out "
			 "--binaries-only.",
			 o->module, o->version);
		return REKMOD_E_INSTALL;
	}
	if ((r = tree_lock(ctx)))
		return r;
	_cleanup_free_ char *outdir = out_dir(ctx, o, kind);
	_cleanup_free_ char *tmp = outdir ? make_tmpdir("rekmod-pkg") : NULL;
	if (tmp)
		chmod(tmp, 0755); /* it becomes the package's "./" */
	if (!outdir) {
		r = REKMOD_E_NOPERM;
	} else if (!tmp) {
		dk_error(ctx, "could not create a temporary directory: %s (set TMPDIR)", strerror(errno));
		r = REKMOD_E_GENERIC;
	} else if (o->binaries_only) {
		for (size_t i = 0; ks[i] && r == 0; i++)
			r = one(ctx, o, ks[i], as[i], tmp, outdir);
	} else {
		r = all(ctx, o, ks, as, tmp, outdir);
	}
	if (tmp)
		rm_rf(tmp);
	tree_unlock(ctx);
	if (r == 0)
		say(ctx, "DKMS: %s completed.", verb);
	return r;
}

_public_ int rekmod_mkdeb(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o)
{
	if (o->version && !deb_version_ok(o->version)) {
		dk_error(ctx, "version \"%s\" is not a Debian version (it must start with a digit and hold only "
			 "letters, digits and . + ~ - :): set PACKAGE_VERSION in dkms.conf accordingly, or use mkrpm",
			 o->version);
		return REKMOD_E_GENERIC;
	}
	return pack(ctx, o, "mkdeb", "deb", mkdeb_dkms, mkdeb_binaries);
}

/* ---- mkrpm ---- */

/* rpm versions cannot hold '-' */
char *pack_rpm_version(const char *v)
{
	char *s = xstrdup(v);
	for (char *p = s; *p; p++)
		if (*p == '-' || *p == ':')
			*p = '_';
	return s;
}

#define RPM_SPEC_HEAD \
	"# generated by rekmod mkrpm\n" \
	"%%global debug_package %%{nil}\n" \
	"%%global __os_install_post %%{nil}\n" \
	"%%global _build_id_links none\n" \
	"Name: %s\n" \
	"Version: %s\n" \
	"Release: 1\n" \
	"Summary: %s\n" \
	"License: see the module source\n" \
	"BuildArch: %s\n" \
	"AutoReqProv: no\n" \
	"Requires: %s\n" \
	"\n" \
	"%%description\n" \
	"%s\n" \
	"\n" \
	"%%install\n" \
	"mkdir -p %%{buildroot}\n" \
	"cp -a '%s'/. %%{buildroot}/\n" \
	"\n" \
	"%%files\n" \
	"%%defattr(-,root,root,-)\n" \
	"%s" \
	"\n"

/* %post: the job of common.postinst, with dkms commands (rekmod answers to
 * them): reload m/v, load the prebuilt modules that fit, install on every
 * kernel with headers (dkms install builds what is not built). */
static char *rpm_scripts_dkms(const char *pkg, const char *m, const char *v)
{
	return xasprintf("%%post\n"
			 "NAME='%s'\n"
			 "VERSION='%s'\n"
			 "TARBALL=/usr/share/%s/$NAME-$VERSION.dkms.tar.gz\n"
			 "if [ -n \"$(dkms status -m \"$NAME\" -v \"$VERSION\" 2>/dev/null)\" ]; then\n"
			 "\tdkms remove -m \"$NAME\" -v \"$VERSION\" --all >/dev/null 2>&1 || :\n"
			 "fi\n"
			 "if [ -f \"$TARBALL\" ]; then\n"
			 "\tdkms ldtarball --archive \"$TARBALL\" || :\n"
			 "fi\n"
			 "[ -n \"$(dkms status -m \"$NAME\" -v \"$VERSION\" 2>/dev/null)\" ] || "
			 "dkms add -m \"$NAME\" -v \"$VERSION\" || :\n"
			 "for d in /lib/modules/*/build/include; do\n"
			 "\t[ -d \"$d\" ] || continue\n"
			 "\tk=${d#/lib/modules/}\n"
			 "\tk=${k%%/build/include}\n"
			 "\tdkms install -m \"$NAME\" -v \"$VERSION\" -k \"$k\" || :\n"
			 "done\n"
			 "exit 0\n"
			 "\n"
			 "%%preun\n"
			 "if [ \"$1\" = 0 ] && [ -n \"$(dkms status -m '%s' -v '%s' 2>/dev/null)\" ]; then\n"
			 "\tdkms remove -m '%s' -v '%s' --all || :\n"
			 "fi\n"
			 "exit 0\n",
			 m, v, pkg, m, v, m, v);
}

/* binaries-only: with rekmod or dkms (scriptlets run chrooted, so either
 * on PATH is the root's) the tree learns of the modules (ldtarball, install);
 * without them, as the .deb does, the prebuilt modules are put in
 * /lib/modules/K/updates/dkms as they are and depmod runs (when the kernel
 * image is there: modules.order), and %preun takes them out again. */
#define RPM_BIN_VARS                                                              \
	"NAME='%s'\n"                                                              \
	"VERSION='%s'\n"                                                           \
	"KERNEL='%s'\n"                                                            \
	"ARCH='%s'\n"                                                              \
	"TARBALL=/usr/share/%s/$NAME-$VERSION.dkms.tar.gz\n"                       \
	"MODS=\"./dkms_main_tree/$KERNEL/$ARCH/module\"\n"                          \
	"DEST=\"/lib/modules/$KERNEL/updates/dkms\"\n"                               \
	"DKMS=$(command -v rekmod || command -v dkms || :)\n"                        \
	"plain_depmod() {\n"                                                       \
	"\t[ ! -e \"/lib/modules/$KERNEL/modules.order\" ] || depmod -a \"$KERNEL\" || :\n" \
	"}\n"

static char *rpm_scripts_binaries(const char *pkg, const char *m, const char *v, const char *k, const char *a)
{
	return xasprintf("%%post\n"
			 RPM_BIN_VARS
			 "if [ -z \"$DKMS\" ]; then\n"
			 "\tT=$(mktemp -d)\n"
			 "\ttar -xzf \"$TARBALL\" -C \"$T\" \"$MODS\"\n"
			 "\tmkdir -p \"$DEST\"\n"
			 "\tfor f in \"$T/$MODS\"/*; do cp \"$f\" \"$DEST/\"; done\n"
			 "\trm -rf \"$T\"\n"
			 "\tplain_depmod\n"
			 "\texit 0\n"
			 "fi\n"
			 "FORCE=\n"
			 "[ -z \"$(\"$DKMS\" status -m \"$NAME\" -v \"$VERSION\" 2>/dev/null)\" ] || FORCE=--force\n"
			 "\"$DKMS\" ldtarball --archive \"$TARBALL\" $FORCE || :\n"
			 "\"$DKMS\" install -m \"$NAME\" -v \"$VERSION\" -k \"$KERNEL\" -a \"$ARCH\"\n"
			 "\n"
			 "%%preun\n"
			 "[ \"$1\" = 0 ] || exit 0\n"
			 RPM_BIN_VARS
			 "if [ -z \"$DKMS\" ]; then\n"
			 "\tfor f in $(tar -tzf \"$TARBALL\" \"$MODS\" 2>/dev/null); do\n"
			 "\t\t[ \"${f%%/}\" = \"$MODS\" ] || rm -f \"$DEST/${f##*/}\"\n"
			 "\tdone\n"
			 "\tplain_depmod\n"
			 "\texit 0\n"
			 "fi\n"
			 "\"$DKMS\" remove -m \"$NAME\" -v \"$VERSION\" -k \"$KERNEL\" -a \"$ARCH\" || :\n"
			 "exit 0\n",
			 m, v, k, a, pkg, m, v, k, a, pkg);
}

static int rpm_build(struct rekmod_ctx *ctx, const char *stage, const char *spec_text,
		     const char *target, const char *outdir)
{
	_cleanup_free_ char *top = xasprintf("%s.rpmbuild", stage);
	_cleanup_free_ char *spec = xasprintf("%s/SPECS/package.spec", top);
	_cleanup_free_ char *rpms = xasprintf("%s/RPMS", top);
	int r = write_text(ctx, spec, spec_text, 0644);
	if (r)
		return r;
	_cleanup_free_ char *d_top = xasprintf("_topdir %s", top);
	_cleanup_free_ char *d_tmp = xasprintf("_tmppath %s/tmp", top);
	mkdir_p(rpms, 0755);
	_cleanup_free_ char *tmpdir = xasprintf("%s/tmp", top);
	mkdir_p(tmpdir, 0755);
	const char *argv[10] = { "rpmbuild", "-bb", "--define", d_top, "--define", d_tmp };
	size_t n_arg = 6;
	if (target) {
		argv[n_arg++] = "--target";
		argv[n_arg++] = target;
	}
	argv[n_arg] = spec;
	say(ctx, "Building binary package with rpmbuild...");
	if ((r = run_tool(ctx, argv, stage)))
		return r;
	_cleanup_strv_free_ char **archs = list_dir(rpms);
	size_t n = 0;
	for (size_t i = 0; archs && archs[i]; i++) {
		_cleanup_free_ char *ad = xasprintf("%s/%s", rpms, archs[i]);
		_cleanup_strv_free_ char **files = list_dir(ad);
		for (size_t j = 0; files && files[j]; j++) {
			if (!endswith(files[j], ".rpm"))
				continue;
			_cleanup_free_ char *f = xasprintf("%s/%s", ad, files[j]);
			if ((r = deliver(ctx, f, outdir, files[j], "RPM package")))
				return r;
			n++;
		}
	}
	if (n == 0) {
		dk_error(ctx, "rpmbuild made no package under %s", rpms);
		return REKMOD_E_GENERIC;
	}
	return 0;
}

static int mkrpm_dkms(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, char *const *ks, char *const *as,
		      const char *tmp, const char *outdir)
{
	const char *m = o->module, *v = o->version;
	_cleanup_free_ char *pkg = pkg_name(xasprintf("%s-dkms", m));
	_cleanup_free_ char *stage = xasprintf("%s/stage-%s", tmp, pkg);
	bool prebuilt;
	int r = stage_dkms_payload(ctx, o, ks, as, stage, pkg, &prebuilt);
	if (r)
		return r;
	_cleanup_free_ char *list = prebuilt ? kernel_lines(ks, as) : xstrdup("");
	_cleanup_free_ char *ver = pack_rpm_version(v);
	_cleanup_free_ char *summary = xasprintf("%s %s kernel module, DKMS source%s", m, v,
						 prebuilt ? " and prebuilt modules" : "");
	_cleanup_free_ char *desc = xasprintf("The source of the %s %s out-of-tree kernel module in /usr/src/%s-%s,\n"
					      "registered with DKMS at installation and built for the installed\n"
					      "kernels that have headers.%s\n%s",
					      m, v, m, v,
					      prebuilt ? " Modules prebuilt for these kernels are used instead\n"
							 "of compiling when the kernel's release and vermagic match:"
						       : "",
					      list);
	_cleanup_free_ char *files = prebuilt ? xasprintf("/usr/src/%s-%s\n/usr/share/%s\n", m, v, pkg)
					      : xasprintf("/usr/src/%s-%s\n", m, v);
	_cleanup_free_ char *head = xasprintf(RPM_SPEC_HEAD, pkg, ver, summary, "noarch", "dkms", desc, stage, files);
	_cleanup_free_ char *scripts = rpm_scripts_dkms(pkg, m, v);
	_cleanup_free_ char *spec = xasprintf("%s%s", head, scripts);
	return rpm_build(ctx, stage, spec, NULL, outdir);
}

static int mkrpm_binaries(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o, const char *k,
			  const char *a, const char *tmp, const char *outdir)
{
	const char *m = o->module, *v = o->version;
	_cleanup_free_ char *pkg = pkg_name(xasprintf("%s-modules-%s", m, k));
	_cleanup_free_ char *stage = xasprintf("%s/stage-%s", tmp, pkg);
	_cleanup_free_ char *tb = xasprintf("%s/usr/share/%s/%s-%s.dkms.tar.gz", stage, pkg, m, v);
	char *one_k[] = { (char *)k, NULL }, *one_a[] = { (char *)a, NULL };
	int r = mkdir_p(stage, 0755);
	if (r < 0) {
		dk_error(ctx, "could not create %s: %s", stage, strerror(-r));
		return REKMOD_E_GENERIC;
	}
	if ((r = put_tarball(ctx, o, one_k, one_a, tb)))
		return r;
	_cleanup_free_ char *ver = pack_rpm_version(v);
	_cleanup_free_ char *summary = xasprintf("%s %s kernel module for Linux %s (prebuilt)", m, v, k);
	_cleanup_free_ char *desc = xasprintf("The %s %s out-of-tree kernel module built for Linux %s (%s),\n"
					      "installed without compiling: with rekmod or DKMS when one is installed\n"
					      "(it then tracks them), else put in place as they are.",
					      m, v, k, a);
	_cleanup_free_ char *files = xasprintf("/usr/share/%s\n", pkg);
	/* the kernel package's Provides (Fedora: kernel-uname-r = 6.5.6-300.fc39.x86_64); a
	 * release with more than one '-' (Debian's) cannot be an rpm version */
	const char *dash = strchr(k, '-');
	_cleanup_free_ char *requires = dash && strchr(dash + 1, '-') ? xstrdup("kmod, tar, gzip")
								     : xasprintf("kmod, tar, gzip, kernel-uname-r = %s", k);
	_cleanup_free_ char *head = xasprintf(RPM_SPEC_HEAD, pkg, ver, summary, a, requires, desc, stage, files);
	_cleanup_free_ char *scripts = rpm_scripts_binaries(pkg, m, v, k, a);
	_cleanup_free_ char *spec = xasprintf("%s%s", head, scripts);
	return rpm_build(ctx, stage, spec, a, outdir);
}

_public_ int rekmod_mkrpm(struct rekmod_ctx *ctx, const struct rekmod_pack_options *o)
{
	return pack(ctx, o, "mkrpm", "rpm", mkrpm_dkms, mkrpm_binaries);
}
