/* Reproducible layers: a directory tree in, a gzip'd tar blob in the store out.
 *
 * Entries are written in bytewise-sorted path order (parents first), as pax-restricted tar
 * with numeric owner 0:0 unless a rule says otherwise, empty uname/gname, mtime fixed to
 * the given epoch (SOURCE_DATE_EPOCH), no atime/ctime, hardlinks as link entries, gzip with
 * no timestamp and a fixed level. Both digests are computed while writing: diff_id over the
 * uncompressed tar, digest over the blob as stored. */
#ifndef LBOX_LAYER_H
#define LBOX_LAYER_H

#include <stdint.h>

#include "../common/error.h"
#include "store.h"

struct lbox_layer {
    char digest[72];   /* sha256:<hex> of the .tar.gz blob */
    char diff_id[72];  /* sha256:<hex> of the uncompressed tar */
    uint64_t size;     /* blob size in bytes */
};

/* Writes the tree under `dir` as a layer. Paths in the tar are relative to dir ("var/task/x").
 * Ownership: everything 0:0 except entries under tmp/ (993:990, Lambda's sandbox user). */
int lbox_layer_write_dir(struct lbox_store *st, const char *dir, int64_t epoch,
                         struct lbox_layer *out, struct lbox_error *err);

#endif
