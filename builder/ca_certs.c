#include "ca_certs.h"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../common/cleanup.h"
#include "../common/fsutil.h"

#define CERT_FILE_LIMIT (1 << 20)

static bool is_cert_entry(const char *name)
{
    while (name[0] == '.' && name[1] == '/')
        name += 2;
    size_t n = strlen(name);
    return !strncmp(name, "usr/share/ca-certificates/", 26) && n > 4 &&
           !strcmp(name + n - 4, ".crt");
}

/* Appends every certificate of one PEM file that is not a node root (roots NULL: every
 * certificate) to `out`; returns how many. */
static unsigned add_missing(const char *pem, size_t len, const char *roots, BIO *out)
{
    BIO *in = BIO_new_mem_buf(pem, (int)len);
    unsigned n = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL))) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        char hex[2 * EVP_MAX_MD_SIZE + 2];
        X509_digest(x, EVP_sha256(), md, &mdlen);
        for (unsigned i = 0; i < mdlen; i++)
            sprintf(hex + 2 * i, "%02x", md[i]);
        hex[2 * mdlen] = '\n';
        hex[2 * mdlen + 1] = '\0';
        /* roots is "\n<hex>\n<hex>\n...": a whole-line match */
        char needle[sizeof hex + 1] = "\n";
        strcat(needle, hex);
        if (!roots || !strstr(roots, needle))
            n += PEM_write_bio_X509(out, x) == 1;
        X509_free(x);
    }
    BIO_free(in);
    ERR_clear_error(); /* the end of the text reads as a PEM error */
    return n;
}

int lbox_ca_copy_certs(const char *src, const char *out, unsigned *count,
                       struct lbox_error *err)
{
    *count = 0;
    char *text = NULL;
    size_t len = 0;
    if (lbox_read_file(src, LBOX_CA_FILE_LIMIT, &text, &len, err) < 0)
        return -1;
    BIO *pem = BIO_new(BIO_s_mem());
    *count = add_missing(text, len, NULL, pem);
    free(text);
    char *data;
    long n = BIO_get_mem_data(pem, &data);
    int rc = lbox_write_file_atomic(out, data, n > 0 ? (size_t)n : 0, 0644, err);
    BIO_free(pem);
    return rc;
}

int lbox_ca_extra_certs(const char *layer_blob, const char *roots_file, const char *out,
                        struct lbox_error *err)
{
    _cleanup_free_ char *roots = NULL;
    if (roots_file) {
        char *text = NULL;
        if (lbox_read_file(roots_file, 1 << 20, &text, NULL, err) < 0)
            return lbox_err_prefix(err, "node's root certificate list");
        roots = lbox_strdupf("\n%s", text);
        free(text);
    }
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    BIO *pem_out = BIO_new(BIO_s_mem());
    int rc = -1;
    if (archive_read_open_filename(a, layer_blob, 1 << 16) != ARCHIVE_OK) {
        lbox_err(err, LBOX_E_ARCHIVE, "cannot open layer %s: %s", layer_blob, archive_error_string(a));
        goto out;
    }
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
        if (archive_entry_filetype(e) != AE_IFREG || !is_cert_entry(archive_entry_pathname(e)))
            continue;
        la_int64_t size = archive_entry_size(e);
        if (size <= 0 || size > CERT_FILE_LIMIT)
            continue;
        char *buf = lbox_xmalloc((size_t)size);
        la_ssize_t got = archive_read_data(a, buf, (size_t)size);
        if (got == size)
            add_missing(buf, (size_t)size, roots, pem_out);
        free(buf);
        if (got != size) {
            lbox_err(err, LBOX_E_ARCHIVE, "layer %s is corrupt at %s", layer_blob,
                     archive_entry_pathname(e));
            goto out;
        }
    }
    if (r != ARCHIVE_EOF) {
        lbox_err(err, LBOX_E_ARCHIVE, "layer %s is corrupt: %s", layer_blob, archive_error_string(a));
        goto out;
    }
    char *data = NULL;
    long len = BIO_get_mem_data(pem_out, &data);
    rc = lbox_write_file_atomic(out, data, (size_t)len, 0644, err);
out:
    BIO_free(pem_out);
    archive_read_free(a);
    return rc;
}
