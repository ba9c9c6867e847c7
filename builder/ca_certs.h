/* /var/runtime/ca-cert.pem, as on Lambda: the system's CA certificates that node does not
 * already carry. The bootstrap points NODE_EXTRA_CA_CERTS at it and node parses it on every
 * start, so the whole system bundle there would cost tens of milliseconds per cold start
 * (seconds under QEMU). */
#ifndef LBOX_CA_CERTS_H
#define LBOX_CA_CERTS_H

#include "../common/error.h"

/* Reads the certificates under usr/share/ca-certificates/ in the gzip'd tar `layer_blob`
 * (the base layer), leaves out those whose SHA-256 (of the DER form) is listed in
 * `roots_file` (one lowercase hex digest per line; NULL: none), and writes the rest as PEM to
 * `out` in the layer's (sorted) order. An empty result is an empty file. */
int lbox_ca_extra_certs(const char *layer_blob, const char *roots_file, const char *out,
                        struct lbox_error *err);

/* A CA file named by the user's configuration (NODE_EXTRA_CA_CERTS, npm's cafile): copies
 * only its certificates, re-encoded as PEM, to `out` (*count of them; none: an empty file).
 * Whatever else the file holds, a private key or a file that is no PEM at all, stays
 * behind, so a setting that names the wrong file hands nothing else on. */
#define LBOX_CA_FILE_LIMIT (16u << 20)
int lbox_ca_copy_certs(const char *src, const char *out, unsigned *count,
                       struct lbox_error *err);

#endif
