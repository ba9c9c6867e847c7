/* The local image store: an OCI image layout under $XDG_DATA_HOME/lbox/store.
 *
 *   store/oci-layout, store/index.json (one manifest descriptor per tag, tag in the
 *   "org.opencontainers.image.ref.name" annotation), store/blobs/sha256/<hex>.
 *
 * Every write goes to a temporary name and is renamed into place; index.json updates are
 * serialised with a lock file, so two builds of the same tag at once cannot corrupt it
 * (the second waits or fails with LBOX_E_BUSY). */
#ifndef LBOX_STORE_H
#define LBOX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/error.h"

struct lbox_store;

int lbox_store_open(const char *dir /* NULL = default */, struct lbox_store **st,
                    struct lbox_error *err);
void lbox_store_close(struct lbox_store *st);
const char *lbox_store_dir(const struct lbox_store *st);

/* Path of a blob ("sha256:<hex>") in the store (whether present or not). malloc'd. */
char *lbox_store_blob_path(const struct lbox_store *st, const char *digest);
bool lbox_store_has_blob(const struct lbox_store *st, const char *digest);

/* Moves (rename) or copies a finished file into blobs/ under its digest. */
int lbox_store_put_blob_file(struct lbox_store *st, const char *path, const char *digest,
                             bool move, struct lbox_error *err);
/* Writes a small blob (JSON) and returns its digest in out (72 bytes: "sha256:" + hex). */
int lbox_store_put_blob(struct lbox_store *st, const void *data, size_t len, char *digest_out,
                        struct lbox_error *err);

/* Points `ref` ("name:tag"; ":latest" added when missing) at a manifest. */
int lbox_store_tag(struct lbox_store *st, const char *ref, const char *manifest_digest,
                   uint64_t manifest_size, struct lbox_error *err);

/* Resolves a ref, a full digest, or a unique digest prefix to a manifest digest. */
int lbox_store_resolve(struct lbox_store *st, const char *ref, char *manifest_digest_out,
                       struct lbox_error *err);

struct lbox_store_image {
    char *ref;                 /* name:tag */
    char manifest_digest[72];
    char *created;             /* RFC 3339 from the config */
    char *runtime;             /* from config labels, e.g. nodejs18.x */
    char *arch;                /* x86_64 | arm64 */
    uint64_t size;             /* sum of layer blob sizes */
};
int lbox_store_list(struct lbox_store *st, struct lbox_store_image **imgs, size_t *n,
                    struct lbox_error *err);
void lbox_store_images_free(struct lbox_store_image *imgs, size_t n);

/* The image config (OCI config JSON) of a ref, as a malloc'd NUL-terminated string. lbox's
 * own facts are labels: "dev.lbox.runtime" (nodejs18.x), "dev.lbox.arch" (x86_64|arm64),
 * "dev.lbox.handler". */
int lbox_store_config(struct lbox_store *st, const char *ref, char **config_json,
                      struct lbox_error *err);

/* Removes a tag; blobs no longer referenced by any tag are deleted. */
int lbox_store_remove(struct lbox_store *st, const char *ref, struct lbox_error *err);

/* Unpacks the image's layers (in order, whiteouts honoured) into a cached directory
 * $XDG_CACHE_HOME/lbox/rootfs/<manifest hex>/ (built under a temp name, renamed when done)
 * and returns its path. Reused when present. */
int lbox_store_rootfs(struct lbox_store *st, const char *ref, char **rootfs_dir,
                      struct lbox_error *err);

#endif
