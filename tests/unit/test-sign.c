/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* MOK generation (key mode 0600, DER certificate with the dkms CN and
 * codeSigning, an existing key never overwritten, no directory made) and the
 * Secure Boot variable. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include "internal.h"

static X509 *read_cert(const char *path)
{
	_cleanup_free_ char *der = NULL;
	size_t n = 0;
	assert_int_equal(read_file(path, &der, &n), 0);
	const unsigned char *p = (const unsigned char *)der;
	X509 *x = d2i_X509(NULL, &p, (long)n);
	assert_non_null(x);
	return x;
}

static void test_generate(void **state)
{
	(void)state;
	char dir[] = "/tmp/rekmod-test-sign.XXXXXX";
	assert_non_null(mkdtemp(dir));
	_cleanup_free_ char *key = xasprintf("%s/sub/mok.key", dir);
	_cleanup_free_ char *cert = xasprintf("%s/mok.pub", dir);
	char *err = NULL;
	/* the key's directory missing: nothing generated, nothing made (dkms 3.x's openssl) */
	assert_true(mok_generate(key, cert, &err) < 0);
	assert_non_null(err);
	free(err);
	err = NULL;
	assert_false(path_exists(cert));
	_cleanup_free_ char *sub = xasprintf("%s/sub", dir);
	assert_false(path_exists(sub));
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(mok_generate(key, cert, &err), 0);
	assert_null(err);
	struct stat st;
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	X509 *x = read_cert(cert);
	char cn[128] = "";
	X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "DKMS module signing key");
	assert_true(X509_get_extended_key_usage(x) & XKU_CODE_SIGN);
	EVP_PKEY *pub = X509_get0_pubkey(x);
	assert_true(EVP_PKEY_get_bits(pub) >= 2048);
	assert_int_equal(X509_verify(x, pub), 1);
	X509_free(x);

	/* the certificate alone missing: made again from the same key */
	_cleanup_free_ char *k1 = NULL;
	assert_int_equal(read_file(key, &k1, NULL), 0);
	assert_int_equal(unlink(cert), 0);
	assert_int_equal(mok_generate(key, cert, &err), 0);
	_cleanup_free_ char *k2 = NULL;
	assert_int_equal(read_file(key, &k2, NULL), 0);
	assert_string_equal(k1, k2);
	x = read_cert(cert);
	X509_free(x);

	/* the certificate's directory missing: the key is written, the certificate is not */
	_cleanup_free_ char *key2 = xasprintf("%s/sub/other.key", dir);
	_cleanup_free_ char *cert2 = xasprintf("%s/no/such.crt", dir);
	assert_true(mok_generate(key2, cert2, &err) < 0);
	free(err);
	err = NULL;
	assert_true(path_exists(key2));
	assert_false(path_exists(cert2));

	/* a garbage key is reported, never replaced */
	assert_int_equal(write_file_atomic(key, "garbage\n", 8, 0600), 0);
	assert_int_equal(unlink(cert), 0);
	assert_true(mok_generate(key, cert, &err) < 0);
	assert_non_null(err);
	free(err);
	_cleanup_free_ char *k3 = NULL;
	assert_int_equal(read_file(key, &k3, NULL), 0);
	assert_string_equal(k3, "garbage\n");
	rm_rf(dir);
}

static void test_secure_boot_var(void **state)
{
	(void)state;
	assert_true(secure_boot_from_efivar("\x06\0\0\0\x01", 5));
	assert_false(secure_boot_from_efivar("\x06\0\0\0\x00", 5));
	assert_false(secure_boot_from_efivar("\x06\0\0", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_secure_boot_var),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
