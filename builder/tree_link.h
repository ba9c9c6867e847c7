/* A copy of a directory tree that shares its files with the original through hard links:
 * how an image's root filesystem starts from the unpacked lower layers it shares with other
 * images (see rootfs_base.c). */
#ifndef LBOX_BUILDER_TREE_LINK_H
#define LBOX_BUILDER_TREE_LINK_H

#include "../common/error.h"

/* Fills the empty directory `dst` with the tree under `src`: every directory made anew with
 * the original's mode, times and (as root) owner; every other entry (file, symlink, device,
 * fifo) a hard link to the original, or a copy of a regular file the file system will not
 * link again (EMLINK). The two trees then share those inodes, so whoever writes into `dst`
 * must replace a file (unlink, create), never write it in place. */
int lbox_tree_link(const char *src, const char *dst, struct lbox_error *err);

#endif
