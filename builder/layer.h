/* Reproducible layers: a directory tree in, a gzip'd tar blob in the store out.
 *
 * Entries are written in bytewise-sorted path order (parents first), as pax-restricted tar
 * with numeric owner 0:0 unless a rule says otherwise, empty uname/gname, mtime fixed to
 * the given epoch (SOURCE_DATE_EPOCH), no atime/ctime, hardlinks as link entries, gzip with
 * no timestamp and a fixed level. The blob digest is computed while writing; the diff_id by
 * reading the stored blob back through gunzip, so it describes exactly what was stored.
 *
 * What is kept from disk: file type, permission bits (07777), size, content, symlink
 * targets, hardlink identity, device numbers. What is not: owners, times, xattrs, ACLs.
 * Sockets cannot be represented in tar and are an error. */
#ifndef LBOX_LAYER_H
#define LBOX_LAYER_H

#include <stdint.h>

#include "../common/error.h"
#include "store.h"

/* The gzip level of every layer: part of the digest, so it never changes silently. */
#define LBOX_LAYER_GZIP_LEVEL "6"

struct lbox_layer {
    char digest[72];   /* sha256:<hex> of the .tar.gz blob */
    char diff_id[72];  /* sha256:<hex> of the uncompressed tar */
    uint64_t size;     /* blob size in bytes */
};

/* Writes the tree under `dir` as a layer. Paths in the tar are relative to dir ("var/task/x").
 * Ownership: everything 0:0 except entries under tmp/ (993:990, Lambda's sandbox user).
 * On failure nothing is left in the store. */
int lbox_layer_write_dir(struct lbox_store *st, const char *dir, int64_t epoch,
                         struct lbox_layer *out, struct lbox_error *err);

/* The same deterministic tar, uncompressed, written to the file `out` (through
 * lbox_out_open: complete or absent). Used for rootfs tarball exports. */
int lbox_layer_write_tar_file(const char *dir, int64_t epoch, const char *out,
                              struct lbox_error *err);

#endif
