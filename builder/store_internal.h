/* Store helpers shared by store*.c, image.c and export.c; jansson types, so not in store.h. */
#ifndef LBOX_STORE_INTERNAL_H
#define LBOX_STORE_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "store.h"

/* The tag ("name:tag") of an index.json descriptor, or NULL. */
const char *lbox_desc_ref(const json_t *desc);

/* index.json as read now (readers need no lock: it is replaced by rename). */
json_t *lbox_store_index_load(struct lbox_store *st, struct lbox_error *err);

/* A JSON object blob, digest verified. */
json_t *lbox_store_load_json(struct lbox_store *st, const char *digest, struct lbox_error *err);

/* A manifest blob, checked to have a config digest and a layers array of digests. */
json_t *lbox_store_load_manifest(struct lbox_store *st, const char *digest,
                                 struct lbox_error *err);

/* Unpacks the layer blob `digest` over the tree at `root` (whiteouts applied, entries checked
 * to stay inside root, the blob's digest verified). over_links: root is a hard-link copy
 * (tree_link.h) whose files other trees share, so none may be written in place. */
int lbox_store_extract_layer(struct lbox_store *st, const char *digest, const char *root,
                             bool over_links, struct lbox_error *err);

/* Keeps fd, a hold on the unpacked rootfs `dir`, open until lbox_store_close releases it. */
void lbox_store_keep_rootfs(struct lbox_store *st, int fd, const char *dir);

#endif
