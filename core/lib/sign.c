/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Module signing: the kernel's sign-file with the MOK key and certificate
 * (framework.conf's, else Ubuntu's enrolled shim-signed MOK, else
 * <dkms_tree>/mok.key and mok.pub, generated on first use with OpenSSL's
 * library). What it says, and when it does not sign, is dkms 3.x's
 * prepare_signing: try_sign_modules, the chroot, the kernel's signing
 * facility, "Sign command:", "Signing key:", "Public certificate (MOK):". */
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define MOK_CN "DKMS module signing key"
#define MOK_BITS 2048
#define MOK_DAYS 36500

/* $kernelver and ${kernelver} replaced by kernel */
static char *expand_kernelver(const char *s, const char *kernel)
{
	struct strbuf b = { 0 };
	while (*s) {
		if (startswith(s, "${kernelver}")) {
			sb_puts(&b, kernel);
			s += strlen("${kernelver}");
		} else if (startswith(s, "$kernelver")) {
			sb_puts(&b, kernel);
			s += strlen("$kernelver");
		} else {
			sb_putc(&b, *s++);
		}
	}
	return sb_steal(&b);
}

static bool is_exec(const char *p)
{
	return access(p, X_OK) == 0 && !is_dir(p);
}

/* framework.conf's sign_file as is; else Debian's linux-kbuild one in the
 * root (dkms 3.x's first candidate on Debian), else the kernel's
 * scripts/sign-file, else the linux-kbuild one on the host. */
static char *find_sign_file(struct rekmod_ctx *ctx, const char *kernel)
{
	if (ctx->sign_file)
		return expand_kernelver(ctx->sign_file, kernel);
	_cleanup_free_ char *majmin = xstrdup(kernel);
	char *dot = strrchr(majmin, '.');
	if (dot)
		*dot = '\0';
	_cleanup_free_ char *deb = xasprintf("/usr/lib/linux-kbuild-%s/scripts/sign-file", majmin);
	char *p = root_path(ctx, deb);
	if (is_exec(p))
		return p;
	free(p);
	_cleanup_free_ char *ksd = kernel_source_dir(ctx, kernel);
	p = xasprintf("%s/scripts/sign-file", ksd);
	if (is_exec(p))
		return p;
	free(p);
	static const char *const dirs[] = { "/usr/bin", "/usr/sbin", "/bin" };
	for (size_t i = 0; i < 2; i++) {
		p = i == 0 ? root_path(ctx, deb) : xstrdup(deb);
		if (is_exec(p))
			return p;
		free(p);
	}
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) { /* Ubuntu's kmodsign: same arguments */
		p = xasprintf("%s/kmodsign", dirs[i]);
		if (is_exec(p))
			return p;
		free(p);
	}
	/* none: named as dkms 3.x names its last candidate in "Binary ... not found" */
	return xasprintf("%s/%s/build/scripts/sign-file", ctx->install_tree_path, kernel);
}

static char *key_path(struct rekmod_ctx *ctx, const char *conf, const char *def, const char *kernel)
{
	if (!conf)
		return xasprintf("%s/%s", ctx->dkms_tree_path, def);
	_cleanup_free_ char *e = expand_kernelver(conf, kernel);
	return startswith(e, "pkcs11:") ? TAKE_PTR(e) : root_path(ctx, e);
}

#define SHIM_KEY "/var/lib/shim-signed/mok/MOK.priv"
#define SHIM_CERT "/var/lib/shim-signed/mok/MOK.der"

/* The key and certificate that sign, in dkms's order: framework.conf's
 * mok_signing_key/mok_certificate; else the distribution's enrolled MOK
 * (Ubuntu's shim-signed pair, when both files exist: never a new key
 * beside it); else <dkms_tree>/mok.key and mok.pub, generated on first use.
 * The paths as this process reaches them (the root prefixed). */
static enum rekmod_key_source mok_choose(struct rekmod_ctx *ctx, const char *kernel, char **ret_key, char **ret_cert)
{
	if (!ctx->mok_signing_key && !ctx->mok_certificate) {
		_cleanup_free_ char *key = root_path(ctx, SHIM_KEY), *cert = root_path(ctx, SHIM_CERT);
		if (path_exists(key) && path_exists(cert)) {
			*ret_key = TAKE_PTR(key);
			*ret_cert = TAKE_PTR(cert);
			return REKMOD_KEY_SHIM;
		}
	}
	*ret_key = key_path(ctx, ctx->mok_signing_key, "mok.key", kernel);
	*ret_cert = key_path(ctx, ctx->mok_certificate, "mok.pub", kernel);
	return ctx->mok_signing_key || ctx->mok_certificate ? REKMOD_KEY_CONFIGURED : REKMOD_KEY_GENERATED;
}

/* a path as a person types it on the system of the root (the root taken off) */
static const char *shown_path(const struct rekmod_ctx *ctx, const char *p)
{
	size_t n = strlen(ctx->root);
	return n && strncmp(p, ctx->root, n) == 0 && p[n] == '/' ? p + n : p;
}

void sign_plan_done(struct sign_plan *plan)
{
	free(plan->sign_file);
	free(plan->hash);
	free(plan->key);
	free(plan->cert);
	*plan = (struct sign_plan){ 0 };
}

/* dkms 3.x's lines of prepare_signing, at the level the caller asked for
 * (build says them, a reuse of another kernel's build logs them) */
#define sign_say(ctx, level, ...) rk_logf(log_of(ctx), (level), __VA_ARGS__)

/* Generates the key and certificate when missing (never in a directory that
 * is missing: dkms 3.x's openssl does not make one). 0, or a failure already
 * reported: dkms's line, rekmod's reason with --verbose, an error when the
 * kernel requires signatures. */
static int ensure_mok(struct rekmod_ctx *ctx, const struct sign_plan *plan, int level)
{
	bool pkcs11 = startswith(plan->key, "pkcs11:");
	if (path_exists(plan->cert) && (pkcs11 || path_exists(plan->key)))
		return 0;
	_cleanup_free_ char *err = NULL;
	if (!pkcs11) {
		sign_say(ctx, level, "Certificate or key are missing, generating self signed certificate for MOK...");
		if (mok_generate(plan->key, plan->cert, &err) == 0)
			return 0;
		rk_info(log_of(ctx), "cannot create the module signing key %s and certificate %s: %s", plan->key,
			plan->cert, err);
	}
	bool no_key = !pkcs11 && !path_exists(plan->key);
	sign_say(ctx, level, "%s file %s not found and can't be generated, modules won't be signed",
		 no_key ? "Key" : "Certificate", no_key ? plan->key : plan->cert);
	if (plan->enforce)
		dk_error(ctx, "cannot create the module signing %s %s%s%s; the kernel requires signed modules",
			 no_key ? "key" : "certificate", no_key ? plan->key : plan->cert, err ? ": " : "", err ? err : "");
	return -1;
}

/* Secure Boot state from the EFI variable's data (4 attribute bytes, then the value). */
bool secure_boot_from_efivar(const char *data, size_t n)
{
	return n >= 5 && data[4] == 1;
}

/* the EFI variable, else `mokutil --sb-state` where present: 1 on, 0 off, -1 unknown */
static int secure_boot_state(void)
{
	_cleanup_free_ char *data = NULL, *out = NULL;
	size_t n = 0;
	if (read_file("/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c", &data, &n) == 0)
		return secure_boot_from_efivar(data, n);
	const char *argv[] = { "mokutil", "--sb-state", NULL };
	struct rk_spawn sp = { .argv = argv, .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1 };
	int st = 0;
	if (rk_run_capture(&sp, &out, NULL, &st) < 0 || !out)
		return -1;
	return strstr(out, "SecureBoot enabled") ? 1 : strstr(out, "SecureBoot disabled") ? 0 : -1;
}

/* `mokutil --test-key CERT`: is the certificate (this process's path) enrolled? */
static enum rekmod_enrolment cert_enrolment(const char *cert)
{
	if (startswith(cert, "pkcs11:") || !path_exists(cert))
		return REKMOD_ENROL_UNKNOWN;
	const char *argv[] = { "mokutil", "--test-key", cert, NULL };
	struct rk_spawn sp = { .argv = argv, .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1 };
	_cleanup_free_ char *out = NULL;
	int st = 0;
	if (rk_run_capture(&sp, &out, NULL, &st) < 0 || !out)
		return REKMOD_ENROL_UNKNOWN;
	if (strstr(out, "already enrolled"))
		return REKMOD_ENROL_YES;
	if (strstr(out, "enrollment request"))
		return REKMOD_ENROL_PENDING;
	return strstr(out, "not enrolled") ? REKMOD_ENROL_NO : REKMOD_ENROL_UNKNOWN;
}

/* Once per run: the mokutil command that enrolls the certificate, when
 * Secure Boot is on and mokutil says it is not enrolled. Under --root the
 * certificate is named as on that system, where the command is typed. */
static void mok_hint(struct rekmod_ctx *ctx, const char *cert)
{
	if (ctx->mok_hint_done || secure_boot_state() != 1)
		return;
	ctx->mok_hint_done = true;
	if (cert_enrolment(cert) != REKMOD_ENROL_NO)
		return;
	const char *shown = shown_path(ctx, cert);
	dk_warn(ctx, "Secure Boot is enabled and the module signing certificate %s is not enrolled, so the kernel "
		"will refuse these modules; enroll it with: mokutil --import %s (then reboot and confirm in MokManager)",
		shown, shown);
}

/* "MAJOR:MINOR ROOT" of the mount at "/" in a mountinfo table (the last
 * one: mounts stack), or NULL when "/" is not in it (the root is a directory
 * below it: a chroot) */
static char *root_mount(const char *table)
{
	char *found = NULL;
	for (const char *l = table; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		char dev[32], root[PATH_MAX], point[PATH_MAX];
		/* ID PARENT MAJOR:MINOR ROOT MOUNT-POINT ... */
		if (sscanf(l, "%*s %*s %31s %4095s %4095s", dev, root, point) == 3 && streq(point, "/")) {
			free(found);
			found = xasprintf("%s %s", dev, root);
		}
	}
	return found;
}

/* Debian's ischroot, as dkms 3.x's running_in_chroot asks it: under
 * fakechroot; as root, when / is not pid 1's root (device and inode); else
 * when the mount at / is not pid 1's. dkms takes any difference of the two
 * mount tables for a chroot, so a private mount namespace over the same root
 * (a sandboxed systemd service, unshare --mount) is one to it; rekmod
 * compares the root's mount only. */
static bool running_in_chroot(void)
{
	const char *fc = getenv("FAKECHROOT"), *pre = getenv("LD_PRELOAD");
	if (fc && streq(fc, "true") && getenv("FAKECHROOT_BASE") && pre && strstr(pre, "libfakechroot.so"))
		return true;
	struct stat init_root, our_root;
	if (geteuid() == 0 && stat("/proc/1/root", &init_root) == 0 && stat("/", &our_root) == 0)
		return init_root.st_dev != our_root.st_dev || init_root.st_ino != our_root.st_ino;
	_cleanup_free_ char *init_table = NULL, *our_table = NULL;
	if (read_file("/proc/1/mountinfo", &init_table, NULL) < 0 || read_file("/proc/self/mountinfo", &our_table, NULL) < 0)
		return false;
	_cleanup_free_ char *init_mount = root_mount(init_table), *our_mount = root_mount(our_table);
	return init_mount && (!our_mount || !streq(init_mount, our_mount));
}

void sign_kernel_facts(struct rekmod_ctx *ctx, const char *kernel, struct sign_kernel *ret)
{
	*ret = (struct sign_kernel){ 0 };
	const char *policy = ctx->try_sign_modules ? ctx->try_sign_modules : "";
	/* anything but "true" is "not_in_chroot" in a chroot, as in dkms 3.x */
	ret->in_chroot = !streq(policy, "false") && !streq(policy, "true") && running_in_chroot();
	ret->disabled = streq(policy, "false") || ret->in_chroot;
	ret->config = kernel_config_path(ctx, kernel);
	_cleanup_free_ char *cfg = NULL;
	ret->config_found = read_file(ret->config, &cfg, NULL) == 0;
	/* dkms 3.x: a kernel signs when its config sets CONFIG_MODULE_SIG_HASH */
	ret->hash = ret->config_found ? text_value(cfg, "CONFIG_MODULE_SIG_HASH") : NULL;
	if (!ret->hash)
		return;
	ret->verifies = true;
	ret->enforce = text_yes(cfg, "CONFIG_MODULE_SIG_FORCE");
	if (!*ret->hash) {
		free(ret->hash);
		ret->hash = xstrdup("sha512");
	}
	ret->sign_file = find_sign_file(ctx, kernel);
	ret->sign_file_found = is_exec(ret->sign_file);
}

void sign_kernel_done(struct sign_kernel *k)
{
	free(k->config);
	free(k->hash);
	free(k->sign_file);
	*k = (struct sign_kernel){ 0 };
}

/* the kernel's facts become the plan (the strings move into it) */
static int sign_plan_fill(struct rekmod_ctx *ctx, const char *kernel, struct sign_kernel *sk, struct sign_plan *plan,
			  int level)
{
	plan->enforce = sk->enforce;
	plan->sign_file = TAKE_PTR(sk->sign_file);
	sign_say(ctx, level, "Sign command: %s", plan->sign_file);
	if (!sk->sign_file_found) {
		sign_say(ctx, level, "Binary %s not found, modules won't be signed", plan->sign_file);
		if (!plan->enforce)
			return 0;
		dk_error(ctx, "kernel %s requires signed modules (CONFIG_MODULE_SIG_FORCE=y) and %s is missing; set "
			 "sign_file in framework.conf", kernel, plan->sign_file);
		return REKMOD_E_BUILD;
	}
	plan->hash = TAKE_PTR(sk->hash);
	mok_choose(ctx, kernel, &plan->key, &plan->cert);
	sign_say(ctx, level, "Signing key: %s", plan->key);
	sign_say(ctx, level, "Public certificate (MOK): %s", plan->cert);
	if (ensure_mok(ctx, plan, level) < 0)
		return plan->enforce ? REKMOD_E_BUILD : 0;
	mok_hint(ctx, plan->cert);
	plan->sign = true;
	return 0;
}

/* dkms 3.x's prepare_signing, its lines at level */
static int sign_prepare_at(struct rekmod_ctx *ctx, const char *kernel, struct sign_plan *plan, int level)
{
	*plan = (struct sign_plan){ 0 };
	struct sign_kernel sk;
	sign_kernel_facts(ctx, kernel, &sk);
	int r = 0;
	if (sk.in_chroot)
		sign_say(ctx, level, "Running in chroot, modules won't be signed");
	else if (sk.disabled)
		sign_say(ctx, level, "Module signing is disabled by policy, modules won't be signed");
	else if (!sk.config_found)
		sign_say(ctx, level, "Kernel config %s not found, modules won't be signed", sk.config);
	else if (!sk.verifies)
		sign_say(ctx, level, "The kernel is built without module signing facility, modules won't be signed");
	else
		r = sign_plan_fill(ctx, kernel, &sk, plan, level);
	sign_kernel_done(&sk);
	if (!plan->sign)
		sign_plan_done(plan);
	return r;
}

int sign_prepare(struct rekmod_ctx *ctx, const char *kernel, struct sign_plan *plan)
{
	return sign_prepare_at(ctx, kernel, plan, LOG_DEBUG);
}

int sign_prepare_say(struct rekmod_ctx *ctx, const char *kernel, struct sign_plan *plan)
{
	return sign_prepare_at(ctx, kernel, plan, LOG_NOTICE);
}

/* a tool's output on one line: its lines joined with "; ", without
 * sign-file's "At main.c:N:" and "- " prefixes */
static char *one_line(const char *out)
{
	struct strbuf b = { 0 };
	_cleanup_free_ char *copy = xstrdup(out ? out : "");
	for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l && b.len < 400; l = strtok_r(NULL, "\n", &save)) {
		l += startswith(l, "- ") ? 2 : 0;
		if (!*l || (startswith(l, "At ") && endswith(l, ":")))
			continue;
		sb_printf(&b, "%s%s", b.len ? "; " : "", l);
	}
	if (!b.len)
		sb_puts(&b, "no message");
	return sb_steal(&b);
}

/* A failure is dkms 3.x's warning (the module named as shown, then the
 * tool's output as it printed it); rekmod's summary of it with --verbose. */
int sign_module(struct rekmod_ctx *ctx, const struct sign_plan *plan, const char *path, const char *shown)
{
	const char *argv[] = { plan->sign_file, plan->hash, plan->key, plan->cert, path, NULL };
	struct rk_spawn s = { .argv = argv, .stdout_fd = -1, .stderr_fd = -1, .stdin_fd = -1 };
	_cleanup_free_ char *out = NULL;
	int st = 0;
	shown = shown ? shown : path;
	rk_debug(log_of(ctx), "%s %s %s %s %s", plan->sign_file, plan->hash, plan->key, plan->cert, path);
	int r = rk_run_capture(&s, &out, NULL, &st);
	if (r == 0 && st == 0)
		return 0;
	_cleanup_free_ char *msg = r < 0 ? xasprintf("%s: %s", plan->sign_file, strerror(-r)) : one_line(out);
	if (plan->enforce) {
		dk_error(ctx, "Failed to sign module '%s': %s (%s); the kernel requires signed modules", shown, msg,
			 plan->sign_file);
		return REKMOD_E_BUILD;
	}
	_cleanup_free_ char *text = r < 0 ? xstrdup(msg) : xstrdup(out ? out : "");
	size_t n = strlen(text);
	while (n && text[n - 1] == '\n') /* as $(...) gives it */
		text[--n] = '\0';
	dk_warn(ctx, "Failed to sign module '%s'!\n%s", shown, text);
	rk_info(log_of(ctx), "%s is left unsigned: %s (%s)", shown, msg, plan->sign_file);
	return 0;
}

/* Which key signs (for the running kernel's $kernelver), whether it exists,
 * Secure Boot and the certificate's enrolment: status --verbose, doctor. */
_public_ int rekmod_signing_info(struct rekmod_ctx *ctx, struct rekmod_signing *ret)
{
	_cleanup_free_ char *key = NULL, *cert = NULL;
	enum rekmod_key_source src = mok_choose(ctx, ctx->current_kernel, &key, &cert);
	*ret = (struct rekmod_signing){
		.source = src,
		.key = xstrdup(shown_path(ctx, key)),
		.cert = xstrdup(shown_path(ctx, cert)),
		.present = (startswith(key, "pkcs11:") || path_exists(key)) && path_exists(cert),
		.secure_boot = secure_boot_state(),
		.enrolled = cert_enrolment(cert),
	};
	return 0;
}

_public_ void rekmod_signing_done(struct rekmod_signing *s)
{
	free(s->key);
	free(s->cert);
	*s = (struct rekmod_signing){ 0 };
}

/* ---- OpenSSL, loaded on first use (dlopen.c): the MOK, mkdeb's md5sums ---- */

#if OPENSSL_VERSION_MAJOR != 3
#error "OpenSSL is loaded as libcrypto.so.3"
#endif

DL_PROTO(RAND_bytes);
DL_PROTO(BN_bin2bn);
DL_PROTO(BN_to_ASN1_INTEGER);
DL_PROTO(X509_get_serialNumber);
DL_PROTO(BN_free);
DL_PROTO(X509_get_subject_name);
DL_PROTO(X509_set_version);
DL_PROTO(X509_gmtime_adj);
DL_PROTO(X509_getm_notBefore);
DL_PROTO(X509_time_adj_ex);
DL_PROTO(X509_getm_notAfter);
DL_PROTO(X509_set_pubkey);
DL_PROTO(X509_NAME_add_entry_by_txt);
DL_PROTO(X509_set_issuer_name);
DL_PROTO(X509V3_set_ctx);
DL_PROTO(X509V3_EXT_conf_nid);
DL_PROTO(X509_add_ext);
DL_PROTO(X509_EXTENSION_free);
DL_PROTO(X509_sign);
DL_PROTO(EVP_sha256);
DL_PROTO(PEM_read_PrivateKey);
DL_PROTO(BIO_new);
DL_PROTO(BIO_s_mem);
DL_PROTO(PEM_write_bio_PrivateKey);
DL_PROTO(BIO_ctrl);
DL_PROTO(BIO_free);
DL_PROTO(X509_new);
DL_PROTO(i2d_X509);
DL_PROTO(CRYPTO_free);
DL_PROTO(X509_free);
DL_PROTO(ERR_get_error);
DL_PROTO(ERR_error_string_n);
DL_PROTO(ERR_clear_error);
DL_PROTO(EVP_PKEY_Q_keygen);
DL_PROTO(EVP_PKEY_free);
DL_PROTO(EVP_Digest);
DL_PROTO(EVP_md5);

static struct dl_lib libcrypto = {
	.soname = "libcrypto.so.3",
	.package = "libssl3",
	.syms = (const struct dl_sym[]){
		DL_SYM(RAND_bytes), DL_SYM(BN_bin2bn), DL_SYM(BN_to_ASN1_INTEGER),
		DL_SYM(X509_get_serialNumber), DL_SYM(BN_free), DL_SYM(X509_get_subject_name),
		DL_SYM(X509_set_version), DL_SYM(X509_gmtime_adj), DL_SYM(X509_getm_notBefore),
		DL_SYM(X509_time_adj_ex), DL_SYM(X509_getm_notAfter), DL_SYM(X509_set_pubkey),
		DL_SYM(X509_NAME_add_entry_by_txt), DL_SYM(X509_set_issuer_name), DL_SYM(X509V3_set_ctx),
		DL_SYM(X509V3_EXT_conf_nid), DL_SYM(X509_add_ext), DL_SYM(X509_EXTENSION_free),
		DL_SYM(X509_sign), DL_SYM(EVP_sha256), DL_SYM(PEM_read_PrivateKey), DL_SYM(BIO_new),
		DL_SYM(BIO_s_mem), DL_SYM(PEM_write_bio_PrivateKey), DL_SYM(BIO_ctrl), DL_SYM(BIO_free),
		DL_SYM(X509_new), DL_SYM(i2d_X509), DL_SYM(CRYPTO_free), DL_SYM(X509_free),
		DL_SYM(ERR_get_error), DL_SYM(ERR_error_string_n), DL_SYM(ERR_clear_error),
		DL_SYM(EVP_PKEY_Q_keygen), DL_SYM(EVP_PKEY_free), DL_SYM(EVP_Digest), DL_SYM(EVP_md5), { 0 } },
};

int digest_md5(const void *data, size_t n, unsigned char ret[16])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	int r = dl_load(&libcrypto, NULL);
	if (r < 0)
		return r;
	if (!sym_EVP_Digest(data, n, md, &len, sym_EVP_md5(), NULL) || len != 16)
		return -EIO;
	memcpy(ret, md, 16);
	return 0;
}

/* ---- key generation ---- */

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	sym_X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	X509_EXTENSION *ext = sym_X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return -1;
	int ok = sym_X509_add_ext(x, ext, -1);
	sym_X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static int cert_fill(X509 *x, EVP_PKEY *pkey)
{
	unsigned char serial[16];
	if (sym_RAND_bytes(serial, sizeof(serial)) != 1)
		return -1;
	serial[0] &= 0x7f;
	BIGNUM *bn = sym_BN_bin2bn(serial, sizeof(serial), NULL);
	int ok = bn && sym_BN_to_ASN1_INTEGER(bn, sym_X509_get_serialNumber(x));
	sym_BN_free(bn);
	X509_NAME *n = sym_X509_get_subject_name(x);
	ok = ok && sym_X509_set_version(x, 2) && sym_X509_gmtime_adj(sym_X509_getm_notBefore(x), 0) &&
	     sym_X509_time_adj_ex(sym_X509_getm_notAfter(x), MOK_DAYS, 0, NULL) && sym_X509_set_pubkey(x, pkey) &&
	     sym_X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)MOK_CN, -1, -1, 0) &&
	     sym_X509_set_issuer_name(x, n);
	if (!ok || add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(x, NID_key_usage, "digitalSignature") || add_ext(x, NID_ext_key_usage, "codeSigning") ||
	    add_ext(x, NID_subject_key_identifier, "hash") || add_ext(x, NID_authority_key_identifier, "keyid"))
		return -1;
	return sym_X509_sign(x, pkey, sym_EVP_sha256()) > 0 ? 0 : -1;
}

static EVP_PKEY *load_key(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	EVP_PKEY *k = sym_PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	return k;
}

static int write_key(EVP_PKEY *pkey, const char *path)
{
	BIO *b = sym_BIO_new(sym_BIO_s_mem());
	char *data = NULL;
	int r = -EIO;
	if (b && sym_PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL)) {
		long n = sym_BIO_ctrl(b, BIO_CTRL_INFO, 0, (char *)&data); /* BIO_get_mem_data */
		r = write_file_atomic(path, data, (size_t)n, 0600);
	}
	sym_BIO_free(b);
	return r;
}

static int write_cert(EVP_PKEY *pkey, const char *path)
{
	X509 *x = sym_X509_new();
	unsigned char *der = NULL;
	int r = -EIO, n;
	if (x && cert_fill(x, pkey) == 0 && (n = sym_i2d_X509(x, &der)) > 0)
		r = write_file_atomic(path, der, (size_t)n, 0644);
	sym_CRYPTO_free(der, OPENSSL_FILE, OPENSSL_LINE); /* OPENSSL_free */
	sym_X509_free(x);
	return r;
}

static char *ssl_error(const char *what)
{
	unsigned long e = sym_ERR_get_error();
	char buf[256] = "";
	if (e)
		sym_ERR_error_string_n(e, buf, sizeof(buf));
	sym_ERR_clear_error();
	return xasprintf("%s%s%s", what, e ? ": " : "", buf);
}

static char *parent_of(const char *path)
{
	char *d = xstrdup(path);
	char *slash = strrchr(d, '/');
	if (slash && slash != d)
		*slash = '\0';
	else
		strcpy(d, slash ? "/" : ".");
	return d;
}

/* With the key's directory locked (parallel builds of sync): the key unless
 * it exists, then the certificate from it (so a pair never mismatches: a
 * missing key gets a new certificate too). No directory is made: a key or
 * certificate in a missing one is not generated, as with dkms 3.x's openssl. */
static int mok_generate_locked(const char *key_path, const char *cert_path, char **ret_error)
{
	bool have_key = path_exists(key_path);
	if (have_key && path_exists(cert_path))
		return 0;
	/* EVP_RSA_gen(MOK_BITS) */
	EVP_PKEY *pkey = have_key ? load_key(key_path) : sym_EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)MOK_BITS);
	if (!pkey) {
		*ret_error = ssl_error(have_key ? "cannot read the existing key" : "RSA key generation failed");
		return -EINVAL;
	}
	int r = have_key ? 0 : write_key(pkey, key_path);
	if (r == 0)
		r = write_cert(pkey, cert_path);
	if (r < 0)
		*ret_error = r == -EIO ? ssl_error("cannot create the certificate") : xstrdup(strerror(-r));
	sym_EVP_PKEY_free(pkey);
	return r;
}

int mok_generate(const char *key_path, const char *cert_path, char **ret_error)
{
	int r = dl_load(&libcrypto, ret_error);
	if (r < 0)
		return r;
	_cleanup_free_ char *kdir = parent_of(key_path);
	_cleanup_close_ int fd = open(kdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		r = -errno;
		*ret_error = xasprintf("%s: %s", kdir, strerror(-r));
		return r;
	}
	return mok_generate_locked(key_path, cert_path, ret_error);
}

_public_ int rekmod_generate_mok(struct rekmod_ctx *ctx)
{
	_cleanup_free_ char *key = NULL, *cert = NULL;
	mok_choose(ctx, ctx->current_kernel, &key, &cert);
	/* dkms 3.x's prepare_mok */
	say(ctx, "Signing key: %s", key);
	say(ctx, "Public certificate (MOK): %s", cert);
	bool had_key = startswith(key, "pkcs11:") || path_exists(key), had_cert = path_exists(cert);
	struct sign_plan plan = { .key = key, .cert = cert };
	if (ensure_mok(ctx, &plan, LOG_NOTICE) < 0)
		return REKMOD_E_GENERIC;
	if (!had_key) /* rekmod's line after dkms's */
		say(ctx, "Created the module signing key %s (mode 0600) and certificate %s.", key, cert);
	else if (!had_cert)
		say(ctx, "Created the certificate %s from the existing key %s.", cert, key);
	return 0;
}

/* ---- reading signatures (status) ---- */

_public_ int rekmod_status_signature(struct rekmod_ctx *ctx, const struct rekmod_status *s, char **ret_signer,
				     char **ret_sig_key)
{
	if (!s->kernel || !s->arch || (s->state != REKMOD_BUILT && s->state != REKMOD_INSTALLED))
		return -ENOENT;
	_cleanup_free_ char *base = build_base(ctx, s->module, s->version, s->kernel, s->arch);
	_cleanup_free_ char *dir = xasprintf("%s/module", base);
	_cleanup_strv_free_ char **files = list_dir(dir);
	for (size_t i = 0; files && files[i]; i++) {
		if (!strstr(files[i], ".ko"))
			continue;
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, files[i]);
		return module_signature(p, ret_signer, ret_sig_key);
	}
	return -ENOENT;
}
