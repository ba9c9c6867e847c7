/* The cache of unpacked root filesystems ($XDG_CACHE_HOME/lbox/rootfs/<manifest hex>/):
 * holding one while it runs, evicting those the store no longer references. See
 * rootfs_cache.c for the locking. */
#ifndef LBOX_ROOTFS_CACHE_H
#define LBOX_ROOTFS_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/error.h"

/* $XDG_CACHE_HOME/lbox/rootfs (malloc'd). */
char *lbox_rootfs_cache_dir(void);

/* Takes a shared lock on the unpacked rootfs `dir`, which stops eviction until *fd is
 * closed. 0: held (*fd open); 1: it is gone or was evicted meanwhile (unpack it again);
 * -1: error. */
int lbox_rootfs_hold(const char *dir, int *fd, struct lbox_error *err);

/* Evicts the rootfs of each manifest digest ("sha256:<hex>") that nobody holds now; a held
 * one is marked and evicted by a later call. Also retries earlier marks and removes an hour
 * old leftovers of killed processes. The deletion runs in a detached process. Best effort:
 * a cache entry that stays only costs disk. */
void lbox_rootfs_evict(const char *const *manifest_digests, size_t n);

#endif
