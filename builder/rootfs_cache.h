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

/* Drops a hold taken by lbox_rootfs_hold; true when an eviction marked `dir` meanwhile, so
 * the caller should run lbox_rootfs_evict now that it no longer needs it. */
bool lbox_rootfs_release(const char *dir, int fd);

/* Marks the rootfs `dir` for eviction when its holder lets go (lbox_rootfs_release): for a
 * holder that finds its image no longer in the store once unpacked. */
void lbox_rootfs_mark(const char *dir);

/* Days an unpacked image no store names (as far as the caller's store knows) stays unused
 * before an eviction pass takes it. */
#define LBOX_ROOTFS_UNUSED_DAYS 30

/* Evicts the rootfs of each manifest digest ("sha256:<hex>") in `gone` that nobody holds
 * now; a held one is marked and evicted by a later call. Also retries earlier marks, except
 * on the digests in `kept` (the store names them again: a rebuild made the same image),
 * evicts the images not in `kept` that nobody has held for LBOX_ROOTFS_UNUSED_DAYS (when
 * `kept` is non-NULL: those of a deleted store, or another one long unused),
 * evicts the bases (rootfs_base.h) whose keys are not in `kept_bases` (NULL: the caller
 * does not know them, so every base stays), and takes the leftovers of killed processes
 * (lbox_rootfs_sweep). The deletion runs in a detached process. Best effort: a cache entry
 * that stays only costs disk. */
void lbox_rootfs_evict(const char *const *gone, size_t ngone, const char *const *kept,
                       size_t nkept, const char *const *kept_bases, size_t nkept_bases);

/* Deletes, in a detached process, the half-unpacked images and unfinished deletions that
 * killed lboxes left in the cache (entries nobody holds; see rootfs_cache.c). */
void lbox_rootfs_sweep(void);

#endif
