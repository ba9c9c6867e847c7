#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"

struct lbox_hash {
    EVP_MD_CTX *ctx;
};

struct lbox_hash *lbox_hash_new(const char *alg)
{
    const EVP_MD *md = strcmp(alg, "sha512") == 0 ? EVP_sha512() : EVP_sha256();
    struct lbox_hash *h = malloc(sizeof *h);
    if (!h)
        abort();
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, md, NULL) != 1)
        abort();
    return h;
}

void lbox_hash_update(struct lbox_hash *h, const void *data, size_t len)
{
    EVP_DigestUpdate(h->ctx, data, len);
}

size_t lbox_hash_final_raw(struct lbox_hash *h, unsigned char *out)
{
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->ctx, out, &n);
    lbox_hash_free(h);
    return n;
}

void lbox_hash_final_hex(struct lbox_hash *h, char *out)
{
    unsigned char raw[EVP_MAX_MD_SIZE];
    size_t n = lbox_hash_final_raw(h, raw);
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", raw[i]);
    out[2 * n] = '\0';
}

void lbox_hash_free(struct lbox_hash *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void lbox_sha256_hex(const void *data, size_t len, char *out)
{
    struct lbox_hash *h = lbox_hash_new("sha256");
    lbox_hash_update(h, data, len);
    lbox_hash_final_hex(h, out);
}

static int hash_file(const char *path, const char *alg, char *out, struct lbox_error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lbox_err_errno(err, errno, "cannot open %s", path);
    struct lbox_hash *h = lbox_hash_new(alg);
    char buf[1 << 16];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            lbox_hash_free(h);
            return lbox_err_errno(err, errno, "cannot read %s", path);
        }
        if (r == 0)
            break;
        lbox_hash_update(h, buf, (size_t)r);
    }
    lbox_hash_final_hex(h, out);
    return 0;
}

int lbox_sha256_file(const char *path, char *out, struct lbox_error *err)
{
    return hash_file(path, "sha256", out, err);
}

static int is_hex(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

int lbox_digest_parse(const char *s, struct lbox_digest *d, struct lbox_error *err)
{
    memset(d, 0, sizeof *d);
    const char *alg = NULL;
    size_t hexlen = 0;
    if (strncmp(s, "sha256", 6) == 0) {
        alg = "sha256";
        hexlen = 64;
    } else if (strncmp(s, "sha512", 6) == 0) {
        alg = "sha512";
        hexlen = 128;
    }
    if (!alg || (s[6] != ':' && s[6] != '-'))
        return lbox_err(err, LBOX_E_INVAL, "malformed digest '%s' (want sha256:<hex> or an npm integrity sha512-<base64>)", s);
    strcpy(d->alg, alg);
    const char *v = s + 7;
    if (s[6] == ':') {
        if (!is_hex(v, hexlen))
            return lbox_err(err, LBOX_E_INVAL, "malformed digest '%s'", s);
        strcpy(d->hex, v);
        return 0;
    }
    /* npm integrity: base64 of the raw digest. */
    unsigned char raw[96];
    int n = EVP_DecodeBlock(raw, (const unsigned char *)v, (int)strlen(v));
    size_t want = hexlen / 2;
    if (n < (int)want)
        return lbox_err(err, LBOX_E_INVAL, "malformed integrity '%s'", s);
    for (size_t i = 0; i < want; i++)
        sprintf(d->hex + 2 * i, "%02x", raw[i]);
    return 0;
}

int lbox_digest_verify_file(const char *path, const struct lbox_digest *d, const char *what,
                            struct lbox_error *err)
{
    char actual[129];
    if (hash_file(path, d->alg, actual, err) < 0)
        return -1;
    if (strcmp(actual, d->hex) != 0)
        return lbox_err(err, LBOX_E_DIGEST,
                        "%s does not match its pinned digest: expected %s:%s, got %s:%s",
                        what, d->alg, d->hex, d->alg, actual);
    return 0;
}
