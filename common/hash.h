/* Hashing through OpenSSL's EVP interface. Digests are written as "sha256:<hex>" (OCI style)
 * or compared against npm integrity strings ("sha512-<base64>"). */
#ifndef LBOX_HASH_H
#define LBOX_HASH_H

#include <stddef.h>

#include "error.h"

struct lbox_hash; /* opaque streaming hasher */

/* alg: "sha256" or "sha512". */
struct lbox_hash *lbox_hash_new(const char *alg);
void lbox_hash_update(struct lbox_hash *h, const void *data, size_t len);
/* Writes lowercase hex (NUL-terminated) into out (>= 129 bytes) and frees h. */
void lbox_hash_final_hex(struct lbox_hash *h, char *out);
/* Writes raw bytes (<= 64) into out, returns their count, frees h. */
size_t lbox_hash_final_raw(struct lbox_hash *h, unsigned char *out);
void lbox_hash_free(struct lbox_hash *h);

/* sha256 hex of a buffer / a file. out must hold 65 bytes. */
void lbox_sha256_hex(const void *data, size_t len, char *out);
int lbox_sha256_file(const char *path, char *out, struct lbox_error *err);

/* A pinned digest: "sha256:<64 hex>", "sha512:<128 hex>" or npm "sha512-<base64>" / "sha256-<base64>".
 * Parsed into algorithm + lowercase hex. Returns -1 on a malformed string. */
struct lbox_digest {
    char alg[8];
    char hex[129];
};
int lbox_digest_parse(const char *s, struct lbox_digest *d, struct lbox_error *err);

/* Hashes the file with d->alg and compares; on mismatch fills err (LBOX_E_DIGEST) naming
 * `what`, the expected and the actual digest. */
int lbox_digest_verify_file(const char *path, const struct lbox_digest *d, const char *what,
                            struct lbox_error *err);

#endif
