/* The Lambda execution environment's layout on top of a base userland: what AWS's images
 * have that Debian's packages alone do not (their maintainer scripts never run). */
#ifndef LBOX_LAYOUT_H
#define LBOX_LAYOUT_H

#include "../common/error.h"

/* In <root>: /etc/passwd and /etc/group with sbx_user1051 (993:990), /bin/sh -> bash (as
 * on Amazon Linux 2), the CA bundle at Debian's and AL2's paths
 * (/etc/ssl/certs/ca-certificates.crt, /etc/pki/tls/certs/ca-bundle.crt; Lambda's
 * /var/runtime/ca-cert.pem depends on the node version and is made with the runtime layer), /etc/localtime (UTC), /etc/hosts, /etc/nsswitch.conf,
 * /lambda-entrypoint.sh, and the empty /var/task, /opt, /tmp, /var/lang, /var/runtime. */
int lbox_layout_base(const char *root, struct lbox_error *err);

/* Copies the runtime client folder into <root>/var/runtime (its index.js, nodejs14.x's
 * entry, only for that runtime) and records the runtime name in /var/runtime/runtime-id
 * (read by the bootstrap without forking). */
int lbox_layout_runtime(const char *root, const char *client_dir, const char *runtime,
                        struct lbox_error *err);

/* cp -a of a trusted tree (base-images data), preserving modes and symlinks. */
int lbox_copy_tree(const char *src, const char *dst, struct lbox_error *err);

#endif
