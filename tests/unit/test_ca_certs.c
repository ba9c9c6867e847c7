/* /var/runtime/ca-cert.pem: the base layer's certificates minus node's built-in roots. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "builder/ca_certs.h"
#include "common/fsutil.h"

static const char *const certs[] = {
    "/usr/share/ca-certificates/mozilla/ISRG_Root_X1.crt",
    "/usr/share/ca-certificates/mozilla/DigiCert_Global_Root_G2.crt",
};

static char dir[] = "/tmp/lbox-test-ca-XXXXXX";

/* A gzip'd tar holding the two certificates where Debian puts them, plus a decoy. */
static void write_layer(const char *path)
{
    struct archive *a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    const char *names[] = {"usr/share/ca-certificates/mozilla/a.crt",
                           "usr/share/ca-certificates/mozilla/b.crt", "etc/not-a-cert.crt"};
    for (int i = 0; i < 3; i++) {
        char *data = NULL;
        size_t len = 0;
        assert_int_equal(lbox_read_file(certs[i < 2 ? i : 0], 0, &data, &len, NULL), 0);
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, names[i]);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)len);
        archive_write_header(a, e);
        archive_write_data(a, data, len);
        archive_entry_free(e);
        free(data);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static int count(const char *text, const char *what)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, what)); p++)
        n++;
    return n;
}

static void test_roots_are_left_out(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    char *layer = lbox_path_join(dir, "layer.tar.gz");
    char *roots = lbox_path_join(dir, "roots.txt");
    char *out = lbox_path_join(dir, "ca-cert.pem");
    write_layer(layer);

    /* No roots list: both certificates under usr/share/ca-certificates, not the decoy. */
    char *pem = NULL;
    assert_int_equal(lbox_ca_extra_certs(layer, NULL, out, NULL), 0);
    assert_int_equal(lbox_read_file(out, 0, &pem, NULL, NULL), 0);
    assert_int_equal(count(pem, "BEGIN CERTIFICATE"), 2);
    free(pem);

    /* ISRG Root X1's SHA-256 fingerprint listed as a node root: only the other one stays. */
    const char *isrg = "96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6\n";
    assert_int_equal(lbox_write_file_atomic(roots, isrg, strlen(isrg), 0644, NULL), 0);
    assert_int_equal(lbox_ca_extra_certs(layer, roots, out, NULL), 0);
    assert_int_equal(lbox_read_file(out, 0, &pem, NULL, NULL), 0);
    assert_int_equal(count(pem, "BEGIN CERTIFICATE"), 1);
    free(pem);

    /* A corrupt layer is an error, not an empty file. */
    assert_int_equal(lbox_write_file_atomic(layer, "junk", 4, 0644, NULL), 0);
    struct lbox_error err = {0};
    assert_int_equal(lbox_ca_extra_certs(layer, roots, out, &err), -1);
    assert_int_equal(err.code, LBOX_E_ARCHIVE);

    lbox_rm_rf(dir, NULL);
    free(layer);
    free(roots);
    free(out);
}

/* A CA file named by configuration hands on its certificates only: a key beside them, or a
 * file that is no PEM at all (/etc/shadow named by a hostile .npmrc), stays behind. */
static void test_only_certificates_are_copied(void **state)
{
    (void)state;
    char tmp[] = "/tmp/lbox-test-cacopy-XXXXXX";
    assert_non_null(mkdtemp(tmp));
    char *cert = NULL;
    size_t clen = 0;
    assert_int_equal(lbox_read_file(certs[0], 0, &cert, &clen, NULL), 0);
    char *mixed = lbox_strdupf("root:$6$secret:19000:0:99999:7:::\n"
                               "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASC\n"
                               "-----END PRIVATE KEY-----\n%s", cert);
    char *in = lbox_strdupf("%s/in.pem", tmp), *out = lbox_strdupf("%s/out.pem", tmp);
    assert_int_equal(lbox_write_file_atomic(in, mixed, strlen(mixed), 0600, NULL), 0);
    unsigned n = 99;
    struct lbox_error err = {0};
    assert_int_equal(lbox_ca_copy_certs(in, out, &n, &err), 0);
    assert_int_equal(n, 1);
    char *got = NULL;
    assert_int_equal(lbox_read_file(out, 0, &got, NULL, NULL), 0);
    assert_int_equal(count(got, "BEGIN CERTIFICATE"), 1);
    assert_null(strstr(got, "PRIVATE KEY"));
    assert_null(strstr(got, "secret"));
    free(got);

    const char shadow[] = "root:$6$secret:19000:0:99999:7:::\ndaemon:*:19000::::::\n";
    assert_int_equal(lbox_write_file_atomic(in, shadow, sizeof shadow - 1, 0600, NULL), 0);
    assert_int_equal(lbox_ca_copy_certs(in, out, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(lbox_read_file(out, 0, &got, NULL, NULL), 0);
    assert_string_equal(got, "");
    free(got);

    lbox_rm_rf(tmp, NULL);
    free(cert);
    free(mixed);
    free(in);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_roots_are_left_out),
                                       cmocka_unit_test(test_only_certificates_are_copied)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
