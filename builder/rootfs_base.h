/* Bases: the lower layers of images, unpacked once into the rootfs cache
 * ($XDG_CACHE_HOME/lbox/rootfs/base-<key>/) and shared by hard links between the root
 * filesystems of every image built on them. See rootfs_base.c. */
#ifndef LBOX_ROOTFS_BASE_H
#define LBOX_ROOTFS_BASE_H

#include <jansson.h>

#include "../common/error.h"
#include "store.h"

/* The key of the image's base: the sha256 hex (65 bytes with the NUL) of its layer digests
 * but the top one. 0: written; 1: the image has one layer and so no base. */
int lbox_rootfs_base_key(json_t *manifest, char key[65]);

/* Fills the empty folder `dst` with the image's rootfs: a hard-link copy of its base (made
 * first when the cache has none) with the top layer unpacked over it. 0: done; 1: no base
 * can serve (one layer, or the copy failed: the caller empties dst and unpacks every
 * layer); -1: error (a corrupt layer, a full disk). */
int lbox_rootfs_base_unpack(struct lbox_store *st, json_t *manifest, const char *dst,
                            struct lbox_error *err);

#endif
