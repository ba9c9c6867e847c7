/* The local image store: an OCI image layout under $XDG_DATA_HOME/lbox/store.
 *
 *   store/oci-layout, store/index.json (one manifest descriptor per tag, tag in the
 *   "org.opencontainers.image.ref.name" annotation, and the normalised name in
 *   "io.containerd.image.name"), store/blobs/sha256/<hex>.
 *
 * Every write goes to a temporary name and is renamed into place; index.json updates are
 * serialised with a lock file, so two builds of the same tag at once cannot corrupt it
 * (the second waits or fails with LBOX_E_BUSY). Two lock files:
 *   store/index.lock  exclusive flock around every read-modify-write of index.json;
 *   store/gc.lock     shared flock held by every handle that wrote or relies on blobs
 *                     (from its first blob write, or lbox_store_hold, until close);
 *                     garbage collection runs only when it can take it exclusively, so it
 *                     never deletes the blobs of a build that is still running. */
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

/* How long index.json updates wait for another lbox before LBOX_E_BUSY (default 30000). */
void lbox_store_set_lock_timeout(struct lbox_store *st, unsigned ms);

/* Protects blobs this handle is about to reuse (e.g. a cached layer found by has_blob) from a
 * concurrent `lbox rm`'s garbage collection, until lbox_store_close or lbox_store_release.
 * Writes and lbox_store_resolve do it implicitly. */
int lbox_store_hold(struct lbox_store *st, struct lbox_error *err);

/* Gives up that protection early: for a reader done with the blobs (an invoke once its rootfs
 * is unpacked and held), so that a long run does not put off every other lbox's collection. */
void lbox_store_release(struct lbox_store *st);

/* Path of a blob ("sha256:<hex>") in the store (whether present or not). malloc'd. */
char *lbox_store_blob_path(const struct lbox_store *st, const char *digest);
bool lbox_store_has_blob(const struct lbox_store *st, const char *digest);

/* Moves (rename) or copies a finished file into blobs/ under its digest. */
int lbox_store_put_blob_file(struct lbox_store *st, const char *path, const char *digest,
                             bool move, struct lbox_error *err);
/* Writes a small blob (JSON) and returns its digest in out (72 bytes: "sha256:" + hex). */
int lbox_store_put_blob(struct lbox_store *st, const void *data, size_t len, char *digest_out,
                        struct lbox_error *err);

/* For writers that hash while writing: creates blobs/sha256/.tmp-XXXXXX (fd open for
 * writing), then commit renames it to its digest without hashing it again. On failure the
 * caller unlinks tmp_path. */
int lbox_store_blob_tmp(struct lbox_store *st, char **tmp_path, int *fd, struct lbox_error *err);
int lbox_store_blob_commit(struct lbox_store *st, const char *tmp_path, const char *digest,
                           struct lbox_error *err);

/* A blob found corrupt (its content does not hash to its name) is removed, so that the
 * next build writes it again instead of reusing it, when the file at its path is still the
 * one that was read (fd; -1: whatever is there): a good copy that a concurrent build just
 * renamed there stays. Returns the advice to end the error message with. */
const char *lbox_store_drop_corrupt_blob(struct lbox_store *st, const char *digest, int fd);

/* Reads a whole blob (at most `limit` bytes, 0 = no limit), verifying its digest (a corrupt
 * one is dropped: lbox_store_drop_corrupt_blob). */
int lbox_store_read_blob(struct lbox_store *st, const char *digest, size_t limit, char **data,
                         size_t *len, struct lbox_error *err);

/* Normalises a tag: "name" -> "name:latest"; rejects what is not a valid image reference
 * (lowercase name components of [a-z0-9._-] separated by '/', optional registry host[:port],
 * tag [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}). malloc'd. */
char *lbox_ref_normalize(const char *ref, struct lbox_error *err);
/* The fully qualified form engines use ("hello:latest" -> "docker.io/library/hello:latest"). */
char *lbox_ref_qualified(const char *normalized_ref);

/* Points `ref` ("name:tag"; ":latest" added when missing) at a manifest. */
int lbox_store_tag(struct lbox_store *st, const char *ref, const char *manifest_digest,
                   uint64_t manifest_size, struct lbox_error *err);

/* Resolves a ref, a full digest, or a unique digest prefix (>= 4 hex digits, with or
 * without "sha256:") to a manifest digest, and holds the store (lbox_store_hold) so that
 * the image stays whole even if its tag moves meanwhile: a caller that reads several parts
 * of one image passes the digest to each, not the tag. */
int lbox_store_resolve(struct lbox_store *st, const char *ref, char *manifest_digest_out,
                       struct lbox_error *err);

/* The manifest JSON of a ref (malloc'd, NUL-terminated) and its digest (72 bytes). */
int lbox_store_manifest(struct lbox_store *st, const char *ref, char **manifest_json,
                        char *manifest_digest_out, struct lbox_error *err);

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

/* Removes a tag (or, given a digest or unique prefix, every tag of that manifest); blobs no
 * longer referenced by any tag are deleted when no other lbox holds the store (see gc.lock;
 * otherwise a later remove or lbox_store_gc collects them). Returns 0; -1 when nothing was
 * removed (err says why); 1 when the tag is gone but collecting what it left failed (err
 * says why: a warning; a later remove or build collects it). */
int lbox_store_remove(struct lbox_store *st, const char *ref, struct lbox_error *err);

/* Deletes unreferenced blobs and stale temp files. *removed (if non-NULL) = blobs deleted;
 * returns 0 without collecting (and *removed = 0) when another lbox holds the store. */
int lbox_store_gc(struct lbox_store *st, size_t *removed, struct lbox_error *err);

/* Unpacks the image's layers (in order, whiteouts honoured) into a cached directory
 * $XDG_CACHE_HOME/lbox/rootfs/<manifest hex>/ (built under a temp name, renamed when done)
 * and returns its path. Reused when present.
 * Extraction refuses absolute paths, ".." and writes through symlinks, verifies each layer's
 * digest, and restores permissions. Owners and device nodes are restored only as root; as
 * any other user directories get u+rwx and files u+r (so later layers and rm -rf work) and
 * device nodes are skipped (the sandbox provides /dev). */
int lbox_store_rootfs(struct lbox_store *st, const char *ref, char **rootfs_dir,
                      struct lbox_error *err);

/* The same extraction into `dest`, an existing empty directory. */
int lbox_store_unpack(struct lbox_store *st, const char *manifest_digest, const char *dest,
                      struct lbox_error *err);

#endif
